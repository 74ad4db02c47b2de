"""Every rule x optimizer against the exact optimum: one sorted table.

For one start point, :func:`compare` runs each (rule, optimizer) pair and
measures it against ground truth: the nearest exact minimiser (from
``loss.critical_points()`` where it can, else a high-precision reference solve)
and, step by step, the line-search oracle's alpha for the direction taken.

>>> import sympy, taylorlr as tl
>>> x, y = sympy.symbols("x y", real=True)
>>> table = tl.compare(tl.Loss((x - 1)**2 + 4*y**2), [0.0, 1.0], rules=("exact", "fixed"),
...                    optimizers=("gd",), steps=60, reference="solve")
>>> [(row.rule, row.iterations_to_tol is not None) for row in table.rows]
[('exact', True), ('fixed', False)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from taylorlr._json import json_ready
from taylorlr.alpha.engine import Run, run
from taylorlr.compile.backends import to_numpy
from taylorlr.errors import OptionError, PointError

DEFAULT_RULES = ("exact", "retsinas", "value-gradient", "three-point", "lagged", "fixed", "line-search")
DEFAULT_OPTIMIZERS = ("gd", "momentum", "adam")
REFERENCES = ("auto", "critical-points", "solve")


@dataclass(frozen=True)
class ComparisonRow:
    """One (rule, optimizer) run, measured against the exact optimum.

    Attributes:
        rule, optimizer: the labels.
        status: the run's :class:`~taylorlr.Status` value ("converged", ...).
        steps_taken: the index of the last valid point.
        iterations_to_tol: first t with ||theta_t - x*|| <= tol_x (None: never).
        minimiser_index: which reference minimiser is nearest to the final point.
        final_gap: f(theta_final) - f(x*).
        distance: ||theta_final - x*||.
        alpha_error_mean, alpha_error_worst: |alpha_t - alpha*_t| / |alpha*_t| over the
            steps taken, alpha*_t the line-search oracle for step t's direction (None
            when the oracle had no minimiser at any step).
        evaluations: values, gradients, HVPs and line searches spent.
        safeguard_firings: how often each safeguard fired.
    """

    rule: str
    optimizer: str
    status: str
    steps_taken: int
    iterations_to_tol: int | None
    minimiser_index: int
    final_gap: float
    distance: float
    alpha_error_mean: float | None
    alpha_error_worst: float | None
    evaluations: dict[str, int]
    safeguard_firings: dict[str, int]

    def sort_key(self) -> tuple[Any, ...]:
        reached = self.iterations_to_tol is not None
        gap = self.final_gap if math.isfinite(self.final_gap) else math.inf
        return (not reached, self.iterations_to_tol or 0, gap, sum(self.evaluations.values()))

    def to_dict(self) -> dict[str, Any]:
        return {name: json_ready(getattr(self, name)) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class Comparison:
    """The table of :func:`compare`: rows sorted best first, and the reference used.

    Attributes:
        rows: :class:`ComparisonRow` s, sorted: runs that reached ``tol_x`` first (fewest
            iterations), then by final gap, then by evaluations spent.
        minimisers: the reference minimisers x* (floats).
        f_star: f at each of them.
        reference: where they came from: "critical points (exact)", "critical points
            (numeric)" or "reference solve (Newton from the final points)".
        tol_x: the distance tolerance for ``iterations_to_tol``.
        runs: the full :class:`~taylorlr.Run` of each pair, in the order they ran
            (for plots and further study; not part of ``to_dict()``).
    """

    rows: tuple[ComparisonRow, ...]
    minimisers: tuple[tuple[float, ...], ...]
    f_star: tuple[float, ...]
    reference: str
    tol_x: float
    runs: tuple[Run, ...] = field(default=(), repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "tol_x": self.tol_x,
            "minimisers": [list(m) for m in self.minimisers],
            "f_star": [json_ready(f) for f in self.f_star],
            "rows": [row.to_dict() for row in self.rows],
        }


def compare(
    loss: Any,
    at: Any,
    rules: Sequence[Any] = DEFAULT_RULES,
    optimizers: Sequence[Any] = DEFAULT_OPTIMIZERS,
    *,
    tol_x: float = 1e-6,
    reference: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    **run_options: Any,
) -> Comparison:
    """Run every rule x optimizer from ``at`` and measure each against the exact optimum.

    Args:
        loss: a :class:`~taylorlr.Loss` without data symbols.
        at: one start point.
        rules, optimizers: names (or objects) accepted by :func:`~taylorlr.run`; a rule
            may be given as ``(name, options)``, e.g. ``("three-point", {"numerator": "values"})``.
        tol_x: distance to the nearest minimiser that counts as reached.
        reference: "auto" (critical points when they can be had, else a solve),
            "critical-points" or "solve".
        progress: called as ``progress(done, total)`` after each run (e.g. to advance a bar).
        **run_options: passed to :func:`~taylorlr.run` (steps, alpha0, gamma, safeguards, ...).

    Returns:
        A :class:`Comparison`.

    Raises:
        OptionError: an unknown reference, or no minimiser could be found.
        PointError: ``at`` is a batch rather than one point.
    """
    if reference not in REFERENCES:
        raise OptionError(f"reference must be one of {REFERENCES}, got {reference!r}")
    if "oracle" in run_options:
        raise OptionError("compare always records the oracle; do not pass oracle=")
    pairs = [(rule, optimizer) for rule in rules for optimizer in optimizers]
    runs = []
    for rule, optimizer in pairs:
        runs.append(_run_one(loss, at, rule, optimizer, run_options))
        if progress is not None:
            progress(len(runs), len(pairs))
    if runs[0].points.ndim != 2:
        raise PointError("compare takes one start point; loop over start points for a batch")
    finals = [r.points[-1] for r in runs]
    minimisers, source = _reference_minimisers(loss, finals, reference)
    compiled = loss.compile()
    f_star = tuple(float(v) for v in to_numpy(compiled.value(_array(minimisers))))
    rows = [_row(r, minimisers, f_star, compiled, tol_x) for r in runs]
    ordered = tuple(sorted(rows, key=ComparisonRow.sort_key))
    return Comparison(ordered, minimisers, f_star, source, tol_x, tuple(runs))


def _run_one(loss: Any, at: Any, rule: Any, optimizer: Any, options: dict[str, Any]) -> Run:
    if isinstance(rule, tuple):
        name, rule_options = rule
        return run(loss, at, optimizer, name, rule_options=rule_options, **options)
    return run(loss, at, optimizer, rule, **options)


def _array(points: Sequence[Sequence[float]]) -> Any:
    import numpy

    return numpy.asarray(points, dtype=float)


def _reference_minimisers(
    loss: Any, finals: list[Any], reference: str
) -> tuple[tuple[tuple[float, ...], ...], str]:
    if reference in ("auto", "critical-points"):
        found = _critical_minimisers(loss)
        if found is not None:
            return found
        if reference == "critical-points":
            raise OptionError("loss.critical_points() found no minimum here; use reference='solve'")
    return _solve_minimisers(loss, finals), "reference solve (Newton from the final points)"


def _critical_minimisers(loss: Any) -> tuple[tuple[tuple[float, ...], ...], str] | None:
    try:
        points = loss.critical_points()
    except (ImportError, NotImplementedError, ArithmeticError, ValueError):
        return None
    minima = tuple(tuple(float(c) for c in p.point) for p in points if p.kind == "minimum")
    if not minima:
        return None
    exact = all(p.exact for p in points if p.kind == "minimum")
    return minima, f"critical points ({'exact' if exact else 'numeric'})"


def _solve_minimisers(loss: Any, finals: list[Any]) -> tuple[tuple[float, ...], ...]:
    """Newton iterations (exact Hessian, float64) from each finite final point; keep the minima."""
    import numpy

    compiled = loss.compile()
    starts = numpy.asarray([f for f in finals if numpy.all(numpy.isfinite(f))])
    if starts.size == 0:
        raise OptionError("no run ended at a finite point, so there is nothing to polish: lower alpha0")
    points = starts.copy()
    with numpy.errstate(all="ignore"):
        for _ in range(50):
            hess, grad = compiled.hess(points), compiled.grad(points)
            try:
                points = points - numpy.linalg.solve(hess, grad[..., None])[..., 0]
            except numpy.linalg.LinAlgError:
                break
        grad_norm = numpy.linalg.norm(compiled.grad(points), axis=-1)
        lowest = numpy.linalg.eigvalsh(compiled.hess(points))[:, 0]
    good = numpy.isfinite(grad_norm) & (grad_norm < 1e-9) & (lowest > 0)
    if not good.any():
        raise OptionError("the reference solve found no minimum near the runs' final points: raise steps")
    unique: list[tuple[float, ...]] = []
    for p in points[good]:
        if all(numpy.linalg.norm(p - numpy.asarray(q)) > 1e-8 for q in unique):
            unique.append(tuple(float(c) for c in p))
    return tuple(unique)


def _row(r: Run, minimisers: Any, f_star: tuple[float, ...], compiled: Any, tol_x: float) -> ComparisonRow:
    import numpy

    refs = numpy.asarray(minimisers)
    final = r.points[-1]
    distances_final = numpy.linalg.norm(final[None, :] - refs, axis=-1)
    nearest = int(numpy.nanargmin(distances_final)) if numpy.isfinite(distances_final).any() else 0
    path = numpy.linalg.norm(r.points - refs[nearest], axis=-1)
    hits = numpy.nonzero(path <= tol_x)[0]
    taken = int(r.stopped_at)
    oracle = r.oracle_alphas[:taken]
    used = r.alphas[:taken]
    with numpy.errstate(all="ignore"):
        errors = numpy.abs(used - oracle) / numpy.abs(oracle)
    errors = errors[numpy.isfinite(errors)]
    final_value = float(to_numpy(compiled.value(final)))
    return ComparisonRow(
        rule=r.rule,
        optimizer=r.optimizer,
        status=r.status.item().value,
        steps_taken=taken,
        iterations_to_tol=int(hits[0]) if hits.size else None,
        minimiser_index=nearest,
        final_gap=final_value - f_star[nearest],
        distance=float(distances_final[nearest]),
        alpha_error_mean=float(errors.mean()) if errors.size else None,
        alpha_error_worst=float(errors.max()) if errors.size else None,
        evaluations=r.counts.totals(),
        safeguard_firings=r.safeguard_counts.totals(),
    )
