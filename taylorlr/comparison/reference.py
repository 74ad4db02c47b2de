"""The reference optimum of :func:`~taylorlr.compare`: which minimisers, and what is proved about them.

The reference is taken only from points known to be minima: the exact critical points
that :meth:`~taylorlr.Loss.critical_points` classifies as "minimum", or, where the
analysis is numeric, points that Newton's method (each start polished on its own)
confirms as strict local minima. Beside them, a :class:`Verdict` says what is proved
about the global picture:

- "global minimum (proved)": f attains its minimum at the reference minimisers, proved
  either because f is a coercive polynomial whose critical points are all known (the
  lowest one is the global minimiser), or because f >= c is proved from its form (a
  constant plus terms SymPy proves non-negative, e.g. a sum of squares) and a reference
  point attains c (exactly, or to within the rounding of f);
- "no minimum: unbounded below (proved)": f -> -inf along a line (exact, for polynomials);
- "no minimum: the infimum is not attained (proved)": f has no local minimum at all;
- "local minima, not proved global" and "no minimum found" when nothing is proved.

>>> import taylorlr as tl
>>> ref = reference_optimum(tl.Loss("(x - 1)**2 + 4*y**2"), [])
>>> ref.minimisers, ref.verdict == "global minimum (proved)"
(((1.0, 0.0),), True)
>>> reference_optimum(tl.Loss("x**2 + 3*x*y**2"), []).verdict.value
'no minimum: unbounded below (proved)'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from taylorlr.kinds import Verdict as Labelled

#: |f - f*| <= F_ROUNDING * (1 + |f*|) counts as equal (the rounding of f in float64, with room)
F_ROUNDING = 1e-9
#: f(x) - c <= F_ATTAINED * (1 + |c|) counts as attaining a proved lower bound c (tighter than
#: F_ROUNDING: a point that close in f is within about 3e-8 / sqrt(curvature) of the minimisers)
F_ATTAINED = 1e-15
#: Newton iterations at most when polishing one point
POLISH_STEPS = 200
#: a polished point is critical when its Newton step is at most this, relative to 1 + ||x||
CRITICAL_STEP = 1e-8
MODES = ("auto", "critical-points", "solve")


class Verdict(Labelled):
    """What is proved about min f; ``.message`` says what it means for the table.

    >>> Verdict.GLOBAL == "global minimum (proved)", Verdict.GLOBAL.message
    (True, 'the gaps are measured from min f itself')
    """

    GLOBAL = (
        "global minimum (proved)",
        "the gaps are measured from min f itself",
    )
    UNBOUNDED = (
        "no minimum: unbounded below (proved)",
        (
            "f has no minimum; gaps, where shown, are to the nearest local minimum, and a run "
            "below every critical value is heading to -inf"
        ),
    )
    NOT_ATTAINED = (
        "no minimum: the infimum is not attained (proved)",
        "f has no minimum; rows are ranked by their status and final value",
    )
    LOCAL = (
        "local minima, not proved global",
        (
            "gaps are to the nearest local minimum at or below the run's final value; a lower "
            "minimum may exist"
        ),
    )
    NONE_FOUND = (
        "no minimum found",
        (
            "no point was confirmed as a minimum (evidence, not proof); gaps are measured from "
            "the best point found, an upper bound on inf f"
        ),
    )
    CONTRADICTED = (
        "the reference is wrong: a run ended below it",
        (
            "a run ended below every reference minimum, so they are not the global minimum; "
            "gaps are measured from the best point found, an upper bound on min f"
        ),
    )


@dataclass(frozen=True, kw_only=True)
class Reference:
    """The optimum the runs are measured against.

    Attributes:
        minimisers: the reference minimisers x* (floats); with ``verdict`` GLOBAL, the
            global minimisers only.
        f_star: f at each of them.
        source: where they came from, e.g. "critical points (exact)".
        verdict: what is proved about min f (:class:`Verdict`).
        reason: the proof or the evidence, in a sentence.
        lowest_critical: min f over all critical points when they are all known (exact
            analysis; +inf when there are none), else None. A descending run that ends
            below it is heading to -inf or to an infimum that is not attained.
        best_point, upper_bound: with NONE_FOUND and CONTRADICTED, the lowest final point
            of the runs and f there (an upper bound on inf f); else None.

    >>> import taylorlr as tl
    >>> ref = reference_optimum(tl.Loss("x**4 - 2*x**2"), [])
    >>> ref.minimisers, ref.f_star, ref.source, ref.lowest_critical
    (((-1.0,), (1.0,)), (-1.0, -1.0), 'critical points (exact)', -1.0)
    """

    minimisers: tuple[tuple[float, ...], ...]
    f_star: tuple[float, ...]
    source: str
    verdict: Verdict
    reason: str
    lowest_critical: float | None = None
    best_point: tuple[float, ...] | None = None
    upper_bound: float | None = None

    def measured_from_best(self, point: Sequence[float], value: float, reason: str) -> Reference:
        """The same reference, its minimisers dropped and the best point found taken as upper bound."""
        verdict = Verdict.CONTRADICTED if self.minimisers else Verdict.NONE_FOUND
        return replace(self, minimisers=(), f_star=(), verdict=verdict, reason=reason,
                       best_point=tuple(float(c) for c in point), upper_bound=float(value))  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        from taylorlr._json import json_ready

        return {
            "reference": self.source,
            "verdict": self.verdict.value,
            "verdict_reason": self.reason,
            "verdict_message": self.verdict.message,
            "minimisers": [list(m) for m in self.minimisers],
            "f_star": [json_ready(f) for f in self.f_star],
            "best_point": None if self.best_point is None else list(self.best_point),
            "upper_bound": json_ready(self.upper_bound),
        }


def f_tolerance(f_star: float) -> float:
    """How far below f* a value may lie and still be f* (rounding).

    >>> f_tolerance(0.0), f_tolerance(100.0)
    (1e-09, 1.01e-07)
    """
    return F_ROUNDING * (1.0 + abs(f_star))


def reference_optimum(
    loss: Any, finals: Sequence[Any], mode: str = "auto", *, budget_s: float = 30.0
) -> Reference:
    """The reference minimisers of ``loss`` and the verdict on min f.

    Args:
        loss: a :class:`~taylorlr.Loss`.
        finals: the runs' final points; where the critical points are not all known,
            each finite one is polished by Newton's method on its own, and the strict
            local minima it reaches join the reference.
        mode: "auto" (the critical points; Newton from ``finals`` unless they are all
            known), "critical-points" (those only) or "solve" (Newton from ``finals`` only).
        budget_s: seconds for the critical points (``Loss.critical_points(budget_s=...)``).

    Returns:
        A :class:`Reference` (never raises for a loss without a minimum: that is a verdict).

    >>> import taylorlr as tl
    >>> ref = reference_optimum(tl.Loss("x**4 - 2*x**2"), [])
    >>> str(ref.verdict), ref.reason.split(":")[0]
    ('global minimum (proved)', 'f is a coercive polynomial and its critical points are all known')
    """
    points = None if mode == "solve" else _critical_points(loss, budget_s)
    from taylorlr.analysis._bounded import lower_bound  # SymPy's side: loaded when a reference is made

    bound = lower_bound(loss)
    if points is not None and points.status == "complete":
        return _from_complete(loss, points, bound)
    return _from_numeric(loss, points, finals if mode != "critical-points" else [], bound)


def _critical_points(loss: Any, budget_s: float) -> Any:
    try:
        return loss.critical_points(budget_s=budget_s)
    except (ImportError, NotImplementedError, ArithmeticError, ValueError):
        return None


# what is proved -------------------------------------------------------------------------------


def _unbounded(points: Any) -> str | None:
    bounded = None if points is None else points.bounded_below
    if bounded is None or bounded.verdict != "unbounded" or not bounded.proof:
        return None
    return (
        f"f -> -inf on the line through the lowest critical point (or 0) along {_vector(bounded.direction)}"
    )


def _no_critical_point(loss: Any) -> tuple[Verdict, str] | None:
    """For a loss of one variable: a proof that f' has no real root (so f is monotone and has
    no minimum), and inf f from the limits at both ends (UNBOUNDED when one is -oo)."""
    import sympy

    if loss.n != 1 or sympy.count_ops(loss.expr) > 40:
        return None
    (x,) = loss.variables
    try:
        if sympy.solveset(sympy.diff(loss.expr, x), x, sympy.S.Reals) is not sympy.S.EmptySet:
            return None
        ends = [sympy.limit(loss.expr, x, end) for end in (-sympy.oo, sympy.oo)]
    except (NotImplementedError, ValueError, TypeError):
        return None
    why = "f' has no real root (proved), so f is monotone"
    if sympy.S.NegativeInfinity in ends:
        side = "-oo" if ends[0] == sympy.S.NegativeInfinity else "oo"
        return Verdict.UNBOUNDED, f"{why}, and f -> -oo as {x} -> {side}"
    finite = [(float(v), side) for v, side in zip(ends, ("-oo", "oo"), strict=True) if v.is_real]
    if not finite:
        return Verdict.NOT_ATTAINED, why
    value, side = min(finite)
    return Verdict.NOT_ATTAINED, f"{why}; inf f = {value:g}, the limit as {x} -> {side}"


# the two sources of minimisers -----------------------------------------------------------------


def _from_complete(loss: Any, points: Any, bound: tuple[Any, str] | None) -> Reference:
    """Every critical point is known, exactly."""
    source = "critical points (exact)"
    values = [p.value for p in points]
    lowest = min((float(v) for v in values), default=math.inf)
    minima = [p for p in points if p.kind == "minimum"]
    unbounded = _unbounded(points)
    common: dict[str, Any] = {"source": source, "lowest_critical": lowest}
    if unbounded is not None:
        return Reference(**_floats(minima), verdict=Verdict.UNBOUNDED, reason=unbounded, **common)
    proof = _global_proof(loss, points, bound)
    if proof is not None:
        from taylorlr.analysis._bounded import exactly_equal

        lowest_points = [p for p in points if exactly_equal(p.value, min(values, key=float))]
        return Reference(**_floats(lowest_points), verdict=Verdict.GLOBAL, reason=proof, **common)
    if not minima and all(p.kind not in ("minimum", "inconclusive") for p in points):
        reason = "no critical point is a minimum, and they are all known (exact)"
        return Reference(minimisers=(), f_star=(), verdict=Verdict.NOT_ATTAINED, reason=reason, **common)
    reason = "exact local minima; no proof that f attains its minimum"
    return Reference(**_floats(minima), verdict=Verdict.LOCAL, reason=reason, **common)


def _global_proof(loss: Any, points: Any, bound: tuple[Any, str] | None) -> str | None:
    from taylorlr.analysis._bounded import coercive, exactly_equal

    if not len(points):
        return None
    lowest = min((p.value for p in points), key=float)
    if coercive(loss):
        return "f is a coercive polynomial and its critical points are all known: the lowest is min f"
    if bound is not None and exactly_equal(lowest, bound[0]):
        return f"{bound[1]}, attained exactly"
    return None


def _from_numeric(loss: Any, points: Any, finals: Sequence[Any], bound: tuple[Any, str] | None) -> Reference:
    """Critical points known only numerically (or not at all): confirm minima by Newton."""
    compiled = loss.compile()
    minimisers, sources = _candidates(loss, compiled, points, finals, bound)
    values = _values(compiled, minimisers)
    source = " and ".join(sources) or _SOLVE
    unbounded = _unbounded(points)
    if unbounded is not None:
        return Reference(minimisers=minimisers, f_star=values, source=source, verdict=Verdict.UNBOUNDED,
                         reason=unbounded)  # fmt: skip
    attained = [i for i, v in enumerate(values) if bound is not None and _attains(v, bound)]
    if bound is not None and attained:
        reason = f"{bound[1]}, attained to within {max(values[i] for i in attained) - float(bound[0]):.3g}"
        return Reference(minimisers=tuple(minimisers[i] for i in attained),
                         f_star=tuple(values[i] for i in attained), source=source, verdict=Verdict.GLOBAL,
                         reason=reason)  # fmt: skip
    if minimisers:
        reason = "local minima confirmed numerically (Newton): evidence, not proof"
        return Reference(
            minimisers=minimisers, f_star=values, source=source, verdict=Verdict.LOCAL, reason=reason
        )
    no_critical = _no_critical_point(loss)
    if no_critical is not None:
        verdict, reason = no_critical
        return Reference(minimisers=(), f_star=(), source=source, verdict=verdict, reason=reason,
                         lowest_critical=math.inf)  # fmt: skip
    return Reference(minimisers=(), f_star=(), source=source, verdict=Verdict.NONE_FOUND,
                     reason="no point was confirmed as a strict local minimum")  # fmt: skip


_SOLVE = "reference solve (Newton from the runs' final points)"


def _candidates(
    loss: Any, compiled: Any, points: Any, finals: Sequence[Any], bound: tuple[Any, str] | None
) -> tuple[tuple[tuple[float, ...], ...], list[str]]:
    """The points known to be minima, and where they came from: Newton from each final point on
    its own, the numeric critical minima Newton confirms, and any point at a proved lower bound."""
    polished = [p for p in (_confirmed(compiled, f) for f in finals) if p is not None]
    sources = [_SOLVE] if polished else []
    found = []
    if points is not None:
        sources.insert(0, f"critical points ({points.status})")
        found += [_confirmed(compiled, p.floats) for p in points if p.kind == "minimum"]
    if bound is not None and loss.is_polynomial:  # a point at the proved lower bound is a global
        # minimiser (a curve of them); not for other losses, whose f may underflow to the bound (exp(x))
        ends = [tuple(float(c) for c in f) for f in finals]
        found += [p.floats for p in points or () if _attains(float(p.value), bound)]
        at_bound = [p for p, v in zip(ends, _values(compiled, ends), strict=True) if _attains(v, bound)]
        found += at_bound
        if at_bound and not polished:
            sources.append("the runs' final points at the lower bound")
    return _unique([*polished, *(p for p in found if p is not None)]), sources


# Newton, one point at a time -------------------------------------------------------------------


def polish(compiled: Any, start: Sequence[float]) -> Any:
    """Damped Newton (exact Hessian, float64) from one point; None if it fails or leaves the reals.

    Each Newton step is halved until f does not rise (beyond rounding), at most 40 times; where
    no fraction of it helps, the point is returned as it is (for :func:`_confirmed` to judge).

    >>> import taylorlr as tl
    >>> polish(tl.Loss("(x - 1)**2 + 2*(y + 0.5)**2").compile(), [0.0, 0.0]).tolist()
    [1.0, -0.5]
    """
    import numpy

    x = numpy.asarray(start, dtype=float)
    here = _value(compiled, x)
    if not math.isfinite(here):
        return None
    for _ in range(POLISH_STEPS):
        step = _newton_step(compiled, x)
        if step is None:
            return None
        for _ in range(40):
            value = _value(compiled, x - step)
            if value <= here + f_tolerance(here):
                break
            step = step / 2
        else:
            return x
        x, here = x - step, value
        if numpy.linalg.norm(step) <= 1e-15 * (1.0 + numpy.linalg.norm(x)):
            break
    return x


def _value(compiled: Any, x: Any) -> float:
    import numpy

    with numpy.errstate(all="ignore"):
        return float(numpy.asarray(compiled.value(x[None, :]), dtype=float)[0])


def _confirmed(compiled: Any, start: Sequence[float]) -> tuple[float, ...] | None:
    """The strict local minimum Newton reaches from ``start``, or None.

    A minimum when: the Newton step there is at most CRITICAL_STEP (1 + ||x||) (a critical
    point to working accuracy), the Hessian's eigenvalues lambda_i are positive, and f is no
    lower (beyond rounding, tol) at x +- r_i v_i along each eigenvector v_i, with r_i =
    10 sqrt(2 tol / lambda_i): where the quadratic model would rise by 100 tol. The probes
    refuse the degenerate points Newton creeps towards (the inflection of sin(x) - x, whose
    tiny curvature sends them far out) and anything that only looks like a minimum at rounding level.
    """
    import numpy

    x = polish(compiled, start)
    if x is None:
        return None
    step = _newton_step(compiled, x)
    if step is None or numpy.linalg.norm(step) > CRITICAL_STEP * (1.0 + numpy.linalg.norm(x)):
        return None
    with numpy.errstate(all="ignore"):
        here = float(numpy.asarray(compiled.value(x[None, :]))[0])
        curvatures, vectors = numpy.linalg.eigh(compiled.hess(x[None, :])[0])
        if not (math.isfinite(here) and curvatures[0] > 0):
            return None
        tol = f_tolerance(here)
        offsets = (10.0 * numpy.sqrt(2.0 * tol / curvatures))[None, :] * vectors
        probes = x[None, :] + numpy.concatenate([offsets.T, -offsets.T])
        around = numpy.asarray(compiled.value(probes), dtype=float)
    if not numpy.all(around >= here - tol):
        return None
    return tuple(float(c) for c in x)


def _newton_step(compiled: Any, x: Any) -> Any:
    import numpy

    with numpy.errstate(all="ignore"):
        grad, hess = compiled.grad(x[None, :])[0], compiled.hess(x[None, :])[0]
        if not (numpy.all(numpy.isfinite(grad)) and numpy.all(numpy.isfinite(hess))):
            return None
        try:
            step = numpy.linalg.solve(hess, grad)
        except numpy.linalg.LinAlgError:
            return None
    return step if numpy.all(numpy.isfinite(step)) else None


# small helpers ---------------------------------------------------------------------------------


def _unique(points: list[tuple[float, ...]]) -> tuple[tuple[float, ...], ...]:
    import numpy

    kept: list[tuple[float, ...]] = []
    for p in points:
        scale = 1e-8 * (1.0 + numpy.linalg.norm(p))
        if all(numpy.linalg.norm(numpy.subtract(p, q)) > scale for q in kept):
            kept.append(p)
    return tuple(kept)


def _attains(value: float, bound: tuple[Any, str]) -> bool:
    return math.isfinite(value) and value - float(bound[0]) <= F_ATTAINED * (1.0 + abs(float(bound[0])))


def _values(compiled: Any, points: Sequence[Sequence[float]]) -> tuple[float, ...]:
    import numpy

    if not points:
        return ()
    return tuple(float(v) for v in numpy.asarray(compiled.value(numpy.asarray(points, dtype=float))))


def _floats(points: Sequence[Any]) -> dict[str, Any]:
    return {"minimisers": tuple(p.floats for p in points), "f_star": tuple(float(p.value) for p in points)}


def _vector(values: Sequence[float] | None) -> str:
    if values is None:
        return "?"
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"
