"""``tl.solve``: everything ``taylorlr solve`` prints, as one record.

The derivatives, the critical points (with the arguments that settled the degenerate ones),
whether f is bounded below, and at a point ``at``: one Newton step, exact where g and H are
rational there and in floats, f before and after, and the second-order step-size bounds, whose
sentences say "guaranteed" only for what is proved (:mod:`taylorlr.numerics.stepsize`).

>>> import taylorlr as tl
>>> solution = tl.solve("x**2 + 3*x*y**2", at={"x": 1, "y": 2})
>>> [(p.point, str(p.kind), p.degenerate) for p in solution.critical_points]
[((0, 0), 'saddle', True)]
>>> solution.bounded_below.proof, solution.newton.exact.point
(True, (6/11, 10/11))
>>> solution.step_size.bound.certainty.value, solution.step_size.bound.smoothness.L
('guaranteed', 30.0)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sympy

from taylorlr._budget import Budget
from taylorlr._display import Card, fmt, vector
from taylorlr.errors import BudgetExceededError, OptionError
from taylorlr.symbolic.points import value_at

if TYPE_CHECKING:
    from taylorlr.analysis.critical_points import BoundedBelow, CriticalPoint, CriticalPoints
    from taylorlr.loss import Loss
    from taylorlr.numerics.newton import NewtonStep
    from taylorlr.numerics.stepsize import StepSize

#: half-width of the box around ``at`` where the step-size bound starts looking for a proved L
STEP_SIZE_BOX = 1.0
#: the most variables for which the exact Newton step is formed
EXACT_STEP_LIMIT = 12
#: the exact Newton step's own budget (seconds), and the most bits its g and H may hold
EXACT_STEP_BUDGET_S = 30.0
EXACT_STEP_BITS = 1_000_000

CURVATURE_VERDICTS = {
    "minimum": "H is positive definite: the step heads for a minimum of the quadratic model "
    "(a descent direction)",
    "maximum": "H is negative definite: the step heads for a maximum of the quadratic model "
    "(f rises along it)",
    "saddle": "H has eigenvalues of both signs: the step heads for a saddle point of the quadratic "
    "model, not a minimum",
    "singular": "H is singular: no Newton step exists here (try --fallback pinv or --fallback damped)",
    "nonfinite": "the point, gradient or Hessian is not finite: no step taken",
}
#: the verdict where H is singular and a fallback took the step anyway
FALLBACK_VERDICTS = {
    "pinv": "H is singular: the pseudo-inverse step was taken (no move along H's null space)",
    "damped": "H is singular: the damped step solved (H + mu I) s = g, mu in 'shift'",
}


def curvature_verdict(curvature: str, fallback: str | None) -> str:
    """What H's eigenvalues say about where the Newton step heads.

    >>> curvature_verdict("minimum", None)[:26]
    'H is positive definite: th'
    """
    key = str(getattr(curvature, "value", curvature))
    if key == "singular" and fallback is not None:
        return FALLBACK_VERDICTS[fallback]
    return CURVATURE_VERDICTS[key]


def symbolic_summary(loss: Loss) -> dict[str, Any]:
    """The loss, its variables, gradient and Hessian as JSON-ready strings.

    >>> import taylorlr as tl
    >>> symbolic_summary(tl.Loss("x*y"))["hessian"]
    [['0', '1'], ['1', '0']]
    """
    return {
        "expression": str(loss.expr),
        "variables": list(loss.names),
        "data": list(loss.names_of(loss.data)),
        "gradient": [str(g) for g in loss.gradient],
        "hessian": [[str(loss.hessian[i, j]) for j in range(loss.n)] for i in range(loss.n)],
    }


# the Newton step ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ExactNewtonStep:
    """The Newton step w+ = w - H^-1 g in exact arithmetic (where g and H are rational at w).

    Attributes:
        start, step, point: w, H^-1 g and w+ (SymPy numbers).
        eta: 1/f'' in 1-D, the matrix H^-1 in n-D.
        f_before, f_after: f(w) and f(w+), exact.

    >>> import taylorlr as tl
    >>> step = exact_newton_step(tl.Loss("x**2 + 3*x*y**2"), (1, 2))
    >>> step.point, step.f_after
    ((6/11, 10/11), 2196/1331)
    """

    start: tuple[sympy.Expr, ...]
    step: tuple[sympy.Expr, ...]
    point: tuple[sympy.Expr, ...]
    eta: Any
    f_before: sympy.Expr
    f_after: sympy.Expr

    def to_dict(self) -> dict[str, Any]:
        """Strings, as ``solve --json`` prints them under ``newton.exact``."""
        eta = self.eta
        if isinstance(eta, sympy.MatrixBase):
            eta = [[str(e) for e in row] for row in eta.tolist()]
        return {
            "start": [str(a) for a in self.start],
            "step": [str(s) for s in self.step],
            "point": [str(p) for p in self.point],
            "eta": eta if isinstance(eta, list) else str(eta),
            "f_before": str(self.f_before),
            "f_after": str(self.f_after),
        }


def exact_newton_step(
    loss: Loss,
    at: Sequence[sympy.Expr],
    limit: int = EXACT_STEP_LIMIT,
    *,
    budget_s: float = EXACT_STEP_BUDGET_S,
) -> ExactNewtonStep | None:
    """The Newton step in exact arithmetic, when g and H are rational at ``at``.

    Returns None when an entry is irrational, H is singular, or n > ``limit``. Runs within
    ``budget_s`` seconds and refuses g and H of more than ``EXACT_STEP_BITS`` bits in all:
    :class:`~taylorlr.errors.BudgetExceededError` (stage "exact Newton step").

    >>> import taylorlr as tl
    >>> exact_newton_step(tl.Loss("x**2 + 3*x*y**2"), [sympy.Integer(1), sympy.Integer(2)]).point
    (6/11, 10/11)
    """
    if loss.n > limit:
        return None
    with Budget(stage="exact Newton step", seconds=budget_s, max_terms=EXACT_STEP_BITS).active() as budget:
        H, g = (value_at(e, loss.variables, at) for e in (loss.hessian, loss.gradient))
        if H is None or g is None or not all(e.is_Rational for e in (*H, *g)):
            return None
        budget.size(sum(_bits(e) for e in (*H, *g)), "bits of the exact gradient and Hessian")
        if H.det() == 0:
            return None
        budget.check()
        step = tuple(H.LUsolve(g))
        point = tuple(a - s for a, s in zip(at, step, strict=True))
        budget.check()
        inverse = H.inv()
        budget.check()
        f_after = loss.value_at(point)
    return ExactNewtonStep(
        start=tuple(at), step=step, point=point, eta=inverse[0, 0] if loss.n == 1 else inverse,
        f_before=loss.value_at(at), f_after=f_after,
    )  # fmt: skip


def _bits(number: sympy.Rational) -> int:
    return int(number.p).bit_length() + int(number.q).bit_length()


@dataclass(frozen=True, kw_only=True)
class NewtonReport:
    """One Newton step as ``solve`` and ``newton`` report it: the float step, f around it, the exact step.

    Attributes:
        step: the :class:`~taylorlr.NewtonStep` at one point.
        f_before, f_after: f at its start and at its new point (floats).
        exact: the :class:`ExactNewtonStep`, or None where it is not formed.
        exact_note: why the exact step is missing when its budget ran out ("" otherwise).
        kinks: the abs, sign, max and min of f that switch at the start (at the exact start, or at the
            float start in floating point): there the gradient and Hessian follow the kink convention
            (sign(0) = 0, a step's value 1/2: docs/analysis.md) and need not be f's derivatives, and
            the verdict is about the model built on them.

    >>> import taylorlr as tl
    >>> loss = tl.Loss("(x - 3)**2 + y**4")
    >>> report = newton_report(loss, tl.newton_step(loss, [0.0, 3.0]), exact_newton_step(loss, [0, 3]))
    >>> report.f_before, report.f_after, report.exact.point  # (0, 3) -> (3, 2): 9 + 81, then 16
    (90.0, 16.0, (3, 2))
    >>> report.heads_for.split(":")[0]
    'H is positive definite'
    """

    step: NewtonStep
    f_before: float
    f_after: float
    exact: ExactNewtonStep | None = None
    exact_note: str = ""
    kinks: tuple[str, ...] = ()

    @property
    def heads_for(self) -> str:
        """What H's eigenvalues say about where the step heads (a sentence)."""
        verdict = curvature_verdict(self.step.curvature, self.step.fallback)
        if not self.kinks:
            return verdict
        return (
            f"{verdict.split(' (a descent direction)')[0]}; a kink switches here ({', '.join(self.kinks)}), "
            "so that model's numbers follow the kink convention and need not be f's derivatives"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.step.to_dict(),
            "f_before": self.f_before,
            "f_after": self.f_after,
            "heads_for": self.heads_for,
            "exact": None if self.exact is None else self.exact.to_dict(),
            **({"exact_note": self.exact_note} if self.exact_note else {}),
            "kinks": list(self.kinks),
        }


def newton_report(
    loss: Loss,
    step: NewtonStep,
    exact: ExactNewtonStep | None,
    backend: Any = "numpy",
    dtype: str = "float64",
    exact_note: str = "",
) -> NewtonReport:
    """A step's report, with f evaluated before and after it on the step's backend.

    >>> import taylorlr as tl
    >>> loss = tl.Loss("x**2 - y**2")
    >>> report = newton_report(loss, tl.newton_step(loss, [1.0, 2.0]), None, dtype="float32")
    >>> report.f_before, report.f_after, report.exact is None  # 1 - 4, then the saddle point
    (-3.0, 0.0, True)
    """
    from taylorlr.compile.backends import to_numpy

    value = loss.compile(backend, dtype).value
    f_before, f_after = (float(to_numpy(value(w))) for w in (step.start, step.point))
    return NewtonReport(
        step=step, f_before=f_before, f_after=f_after, exact=exact, exact_note=exact_note,
        kinks=_kinks_at(loss, to_numpy(step.start), exact),
    )  # fmt: skip


def _kinks_at(loss: Loss, start: Any, exact: ExactNewtonStep | None) -> tuple[str, ...]:
    """The kinks of f that switch at the start: at the exact start (where the exact step has one), or
    at the float start in floating point (where the compiled numbers were computed)."""
    import numpy

    from taylorlr.symbolic.derivatives import is_smooth

    if is_smooth(loss.expr):
        return ()
    switches, kernel = _switch_arguments(loss.expr, loss.variables)
    exact_point = None if exact is None else dict(zip(loss.variables, exact.start, strict=True))
    floats = start.reshape(-1)
    values = None
    if not loss.data and all(math.isfinite(float(v)) for v in floats):
        values = iter(kernel.stacked(numpy, [floats.reshape(1, -1)], (1,), None)[0].tolist())
    found = []
    for switch in switches:
        on_floats = values is not None and switch.switched([next(values) for _ in switch.arguments])
        on_exact = exact_point is not None and switch.switched(
            [sympy.sympify(a).xreplace(exact_point) for a in switch.arguments]
        )
        if on_exact or on_floats:
            found.append(switch.name)
    return tuple(found)


@functools.lru_cache(maxsize=16)
def _switch_arguments(expr: sympy.Expr, variables: tuple[sympy.Symbol, ...]) -> tuple[Any, Any]:
    """f's kinks, and one kernel (float64 NumPy) of all their arguments, built once per loss."""
    from taylorlr.compile.xp_codegen import build_kernel
    from taylorlr.symbolic.kinks import switches

    found = switches(expr)
    return found, build_kernel([sympy.sympify(a) for s in found for a in s.arguments], [variables])


# the solution ---------------------------------------------------------------------------------


def _shorter(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 4] + " ..."


@dataclass(frozen=True, kw_only=True)
class Solution:
    """Everything ``taylorlr solve`` reports about a loss, and with ``at`` about one point.

    Attributes:
        loss: the :class:`~taylorlr.Loss` (its ``gradient`` and ``hessian`` are the symbolic summary).
        critical_points: the :class:`~taylorlr.analysis.critical_points.CriticalPoints` record
            (kinds, eigenvalues, exactness, the reasons for degenerate points, bounded below),
            or None for a loss with data symbols.
        skipped: why the critical points were not sought ("" when they were).
        at: the point, exact (None without ``at``).
        newton: the :class:`NewtonReport` of one Newton step from ``at``.
        step_size: the :class:`~taylorlr.numerics.stepsize.StepSize` bounds at ``at``.

    >>> import taylorlr as tl
    >>> solution = tl.solve("x**4 - 2*x**2", at=[2])
    >>> solution.at, solution.newton.exact.point, solution.bounded_below.summary
    ((2,), (16/11,), 'min f = -1 (proved)')
    """

    loss: Loss
    critical_points: CriticalPoints | None
    skipped: str = ""
    at: tuple[sympy.Expr, ...] | None = None
    newton: NewtonReport | None = None
    step_size: StepSize | None = None

    @property
    def gradient(self) -> sympy.Matrix:
        return self.loss.gradient

    @property
    def hessian(self) -> sympy.Matrix:
        return self.loss.hessian

    @property
    def degenerate(self) -> tuple[CriticalPoint, ...]:
        """The degenerate critical points (singular Hessian), each with the ``reason`` that settled it."""
        return tuple(p for p in self.critical_points or () if p.degenerate)

    @property
    def bounded_below(self) -> BoundedBelow | None:
        return None if self.critical_points is None else self.critical_points.bounded_below

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``taylorlr solve --json`` (without ``schema`` and ``latex``; see docs/cli.md)."""
        data = {**symbolic_summary(self.loss), **self._analysis()}
        if self.newton is not None and self.step_size is not None:
            data["newton"] = self.newton.to_dict()
            data["step_size"] = self.step_size.to_dict()
        return data

    # notebook display ------------------------------------------------------------------------------

    def __repr__(self) -> str:
        """One line: f, the critical points by kind, bounded below, and the point ``at``.

        >>> import taylorlr as tl
        >>> tl.solve("x**2 + 3*x*y**2", at={"x": 1, "y": 2})  # doctest: +NORMALIZE_WHITESPACE
        Solution(f = x**2 + 3*x*y**2, critical points: saddle 1 (complete),
                 bounded below: unbounded, at (1, 2))
        """
        at = "" if self.at is None else f", at {vector([str(c) for c in self.at])}"
        bounded = "not examined" if self.bounded_below is None else self.bounded_below.verdict.value
        return (
            f"Solution(f = {_shorter(str(self.loss.expr))}, critical points: {self._points_text()}, "
            f"bounded below: {bounded}{at})"
        )

    def _points_text(self) -> str:
        if self.critical_points is None:
            return f"skipped ({self.skipped})"
        counts = ", ".join(f"{kind} {count}" for kind, count in self.critical_points.counts().items())
        return f"{counts or 'none'} ({self.critical_points.status.value})"

    def _card(self) -> Card:
        from taylorlr.analysis.result import POINT_COLUMNS

        fields = [("f", _shorter(str(self.loss.expr), 400)), ("variables", ", ".join(self.loss.names)),
                  ("critical points", self._points_text())]  # fmt: skip
        if self.bounded_below is not None:
            fields.append(("bounded below", self.bounded_below.summary))
        if self.newton is not None:
            step = self.newton.step.to_dict()
            fields += [
                ("Newton step from", vector([str(c) for c in self.at or ()])),
                ("new point", vector(step["point"])),
                ("f before, after", f"{fmt(self.newton.f_before)}, {fmt(self.newton.f_after)}"),
                ("heads for", curvature_verdict(str(step["curvature"]), step["fallback"])),
            ]
        rows = [(str(i), *p.cells()) for i, p in enumerate(self.critical_points or ())]
        return Card(title="Solution", fields=fields, header=POINT_COLUMNS if rows else (), rows=rows)

    def _repr_html_(self) -> str:
        return self._card().html()

    def _repr_markdown_(self) -> str:
        return self._card().markdown()

    def _analysis(self) -> dict[str, Any]:
        if self.critical_points is None:
            return {
                "analysis": {"status": "skipped", "note": self.skipped, "elapsed_s": 0.0, "counts": {}},
                "critical_points": [],
                "bounded_below": None,
            }
        data = self.critical_points.to_dict()
        points, bounded = data.pop("critical_points"), data.pop("bounded_below")
        return {"analysis": data, "critical_points": points, "bounded_below": bounded}


def solve(
    loss: Loss | str,
    at: Any = None,
    *,
    budget: float = 10.0,
    fallback: str | None = None,
    backend: Any = "numpy",
    dtype: str = "float64",
) -> Solution:
    """Analyse a loss: critical points and boundedness; with ``at``, a Newton step and step sizes there.

    Args:
        loss: a :class:`~taylorlr.Loss` or its text.
        at: a point (mapping of names, or a sequence in variable order; exact numbers allowed).
        budget: seconds allowed for the critical points (the exact solve is stopped when they
            run out: numeric points) and, separately, for the exact Newton step at ``at``.
        fallback: None, "pinv" or "damped": how the Newton step treats a singular Hessian.
        backend, dtype: where the float Newton step is computed.

    Raises:
        OptionError: ``at`` given for a loss with data symbols.

    >>> import taylorlr as tl
    >>> s = tl.solve("x**4 - 2*x**2", at=[2])
    >>> [str(p.kind) for p in s.critical_points], s.newton.exact.point, s.newton.exact.f_after
    (['minimum', 'maximum', 'minimum'], (16/11,), 3584/14641)
    """
    from taylorlr.loss import Loss

    loss = loss if isinstance(loss, Loss) else Loss(loss)
    points, skipped = _critical_points(loss, budget)
    if at is None:
        return Solution(loss=loss, critical_points=points, skipped=skipped)
    if loss.data:
        raise OptionError("--at needs numbers for every symbol: drop --data, or substitute the data")
    local = _local(loss, at, fallback, backend, dtype, budget)
    return Solution(loss=loss, critical_points=points, skipped=skipped, **local)


def _critical_points(loss: Loss, budget: float) -> tuple[CriticalPoints | None, str]:
    """The critical points of a loss without data symbols; for one with data, None and why."""
    from taylorlr.analysis.critical_points import critical_points

    if loss.data:
        names = ", ".join(loss.names_of(loss.data))
        return None, f"data symbols {names}: critical points need numbers for them"
    return critical_points(loss, budget_s=budget), ""


def _local(
    loss: Loss, at: Any, fallback: str | None, backend: Any, dtype: str, budget: float
) -> dict[str, Any]:
    """One Newton step from ``at`` (float and exact: within ``budget`` s) and the step-size bounds there."""
    from taylorlr.numerics.newton import newton
    from taylorlr.numerics.stepsize import step_size
    from taylorlr.symbolic.points import exact_point

    start = exact_point(at, loss.variables)
    step = newton(loss, at, steps=1, fallback=fallback, backend=backend, dtype=dtype).steps[0]
    try:
        exact, note = exact_newton_step(loss, start, budget_s=budget), ""
    except BudgetExceededError as error:
        exact, note = None, str(error)
    return {
        "at": start,
        "newton": newton_report(loss, step, exact, backend, dtype, exact_note=note),
        "step_size": step_size(loss, start, radius=STEP_SIZE_BOX, backend=backend, dtype=dtype),
    }
