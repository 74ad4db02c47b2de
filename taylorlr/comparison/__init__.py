"""Every rule x optimizer against the true optimum: one table, ranked by a documented key.

For one start point, :func:`compare` runs each (rule, optimizer) pair and measures
it against the reference optimum (:mod:`taylorlr.comparison.reference`: only points
known to be minima, and a verdict on what is proved about min f) and, step by step,
against the line-search oracle's alpha for the direction taken.

The ranking (:meth:`ComparisonRow.sort_key`) puts each row in a :class:`Standing`, in
this order, and within one by the steps it took to reach the minimiser, the final
gap f - f*, the distance to x*, the final value f, and the evaluations spent:

1. "reached": the run ended within ``tol_x`` of a reference minimiser and stayed there
   from ``iterations_to_tol`` on;
2. "converged": the run's status is "converged", elsewhere;
3. "stopped short": any other status with a finite final value ("max_steps", "rose",
   "saddle", "maximum", and any status this module does not know);
4. "failed": "diverged", "nonfinite", or a final value that is not finite;
5. "falling": status "unbounded", or the run ended below every critical value of a loss
   whose critical points are all known (it is heading to -inf, or to an infimum that is
   not attained).

So a run that reached the minimiser ranks above every run that did not, and a run
heading to -inf never ranks above a converged one.

>>> import sympy, taylorlr as tl
>>> x, y = sympy.symbols("x y", real=True)
>>> table = tl.compare(tl.Loss((x - 1)**2 + 4*y**2), [0.0, 1.0], rules=("exact", "fixed"),
...                    optimizers=("gd",), steps=60, reference="solve")
>>> [(row.rule, row.standing.value) for row in table.rows]
[('exact', 'reached'), ('fixed', 'stopped short')]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from taylorlr._display import Card, fmt, vector
from taylorlr._json import json_ready
from taylorlr.alpha.engine import Run, as_loss, run
from taylorlr.alpha.result import Status
from taylorlr.comparison.reference import MODES, Reference, Verdict, f_tolerance, reference_optimum
from taylorlr.compile.backends import to_numpy
from taylorlr.errors import OptionError, PointError
from taylorlr.kinds import Verdict as Labelled

__all__ = [
    "DEFAULT_OPTIMIZERS",
    "DEFAULT_RULES",
    "REFERENCES",
    "Comparison",
    "ComparisonRow",
    "Reference",
    "Standing",
    "Verdict",
    "compare",
]

DEFAULT_RULES = ("exact", "retsinas", "value-gradient", "three-point", "lagged", "fixed", "line-search")
DEFAULT_OPTIMIZERS = ("gd", "momentum", "adam")
REFERENCES = MODES


class Standing(Labelled):
    """Where a row ranks, best first (see the module's ranking); ``.message`` says why.

    >>> [standing.value for standing in Standing]
    ['reached', 'converged', 'stopped short', 'failed', 'falling']
    """

    REACHED = (
        "reached",
        "ended within tol_x of a reference minimiser",
    )
    CONVERGED = (
        "converged",
        "the gradient vanished, but not within tol_x of a reference minimiser",
    )
    STOPPED = (
        "stopped short",
        "stopped without converging, at a finite value",
    )
    FAILED = (
        "failed",
        "the run blew up or met a non-finite value",
    )
    FALLING = (
        "falling",
        "heading to -inf (or to an infimum that is not attained)",
    )


_ORDER = {standing: rank for rank, standing in enumerate(Standing)}
_FALLING_STATUSES = ("unbounded",)
_FAILED_STATUSES = ("diverged", "nonfinite")


@dataclass(frozen=True, kw_only=True)
class ComparisonRow:
    """One (rule, optimizer) run, measured against the reference optimum.

    Attributes:
        rule, optimizer: the labels.
        status: the run's :class:`~taylorlr.Status` (a str-valued enum: ``== "converged"``
            works); a value it does not know stays a plain string.
        steps_taken: the index of the last valid point.
        iterations_to_tol: the step from which the run stayed within tol_x of its minimiser
            to the end (None: it did not end there).
        minimiser_index: the reference minimiser the row is measured against: the nearest
            one whose f* is not above the final value (None: no such minimiser).
        final_value: f at the last valid point.
        final_gap: f(theta_final) - f* (or minus the upper bound when the reference is the
            best point found); never negative: a value within rounding of f* counts as 0,
            and NaN where there is nothing to measure from.
        distance: ||theta_final - x*|| (NaN where there is no x*).
        escaped: the run ended below every critical value of a loss whose critical points
            are all known.
        alpha_error_mean, alpha_error_worst: |alpha_t - alpha*_t| / |alpha*_t| over the
            steps taken, alpha*_t the line-search oracle for step t's direction (None
            when the oracle had no minimiser at any step).
        evaluations: values, gradients, HVPs and line searches spent.
        safeguard_firings: how often each safeguard fired.

    >>> import taylorlr as tl
    >>> table = tl.compare("(x - 1)**2 + 4*y**2", [0.0, 1.0], rules=("exact",), optimizers=("gd",), steps=50)
    >>> row = table.rows[0]
    >>> row.status, row.iterations_to_tol, row.final_gap < 1e-12, row.evaluations["hvps"]
    (<Status.CONVERGED: 'converged'>, 9, True, 9)
    """

    rule: str
    optimizer: str
    status: Status | str
    steps_taken: int
    iterations_to_tol: int | None
    minimiser_index: int | None
    final_value: float
    final_gap: float
    distance: float
    escaped: bool = False
    alpha_error_mean: float | None = None
    alpha_error_worst: float | None = None
    evaluations: dict[str, int] = field(default_factory=dict)
    safeguard_firings: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", _status(self.status))

    @property
    def message(self) -> str:
        """The status's advice."""
        value = getattr(self.status, "value", self.status)
        known = {s.value: s for s in Status}
        return known[value].message if value in known else f"status {value!r}, which compare does not know"

    @property
    def standing(self) -> Standing:
        """Where the row ranks (see the module's ranking)."""
        status = getattr(self.status, "value", self.status)
        if status in _FALLING_STATUSES or self.escaped:
            return Standing.FALLING
        if self.iterations_to_tol is not None:
            return Standing.REACHED
        if status == "converged":
            return Standing.CONVERGED
        if status in _FAILED_STATUSES or not math.isfinite(self.final_value):
            return Standing.FAILED
        return Standing.STOPPED

    def sort_key(self) -> tuple[Any, ...]:
        """The ranking key: standing, steps to tol_x, gap, distance, final value, evaluations."""
        measures = (_or_inf(self.final_gap), _or_inf(self.distance), _or_inf(self.final_value))
        return (_ORDER[self.standing], self.iterations_to_tol or 0, *measures, sum(self.evaluations.values()))

    def cells(self) -> tuple[str, ...]:
        """The row as the text cells of :data:`ROW_COLUMNS` (the CLI's table and the notebook's)."""
        reached = "never" if self.iterations_to_tol is None else str(self.iterations_to_tol)
        return (
            self.rule, self.optimizer, str(getattr(self.status, "value", self.status)), reached,
            fmt(self.final_value), _measured(self.final_gap), _measured(self.distance),
            fmt(self.alpha_error_mean), str(sum(self.evaluations.values())),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        data = {name: json_ready(getattr(self, name)) for name in self.__dataclass_fields__}
        status = getattr(self.status, "value", self.status)
        return {**data, "status": status, "message": self.message, "standing": self.standing.value}


def _status(status: Any) -> Any:
    """The :class:`~taylorlr.Status` member of that value where Status is str-valued (so that it
    equals its string), else the plain string; an unknown value stays a string."""
    value = getattr(status, "value", status)
    known = {s.value: s for s in Status}
    return known[value] if value in known and isinstance(known[value], str) else value


def _measured(value: float) -> str:
    """A measure for a table: "-" where there was nothing to measure from (NaN)."""
    return "-" if value is None or math.isnan(value) else fmt(value)


def _or_inf(value: float) -> float:
    return value if math.isfinite(value) else math.inf


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """The table of :func:`compare`: rows ranked best first, and the reference used.

    Attributes:
        rows: :class:`ComparisonRow` s, sorted by :meth:`ComparisonRow.sort_key`.
        minimisers: the reference minimisers x* (floats).
        f_star: f at each of them.
        reference: where they came from: "critical points (exact)", "critical points
            (numeric)", "Newton from the runs' final points", ...
        verdict: what is proved about min f (:class:`~taylorlr.comparison.reference.Verdict`).
        optimum: the full :class:`~taylorlr.comparison.reference.Reference`.
        tol_x: the distance tolerance for ``iterations_to_tol``.
        runs: the full :class:`~taylorlr.Run` of each pair, in the order they ran
            (for plots and further study; not part of ``to_dict()``).

    >>> import taylorlr as tl
    >>> table = tl.compare("(x - 1)**2 + 4*y**2", [0.0, 1.0], rules=("exact",), optimizers=("gd",), steps=50)
    >>> table.minimisers, table.verdict.value, table.rows[0].standing.value
    (((1.0, 0.0),), 'global minimum (proved)', 'reached')
    """

    rows: tuple[ComparisonRow, ...]
    optimum: Reference
    tol_x: float
    runs: tuple[Run, ...] = field(default=(), repr=False, compare=False)

    @property
    def minimisers(self) -> tuple[tuple[float, ...], ...]:
        return self.optimum.minimisers

    @property
    def f_star(self) -> tuple[float, ...]:
        return self.optimum.f_star

    @property
    def reference(self) -> str:
        return self.optimum.source

    @property
    def verdict(self) -> Verdict:
        return self.optimum.verdict

    def to_dict(self) -> dict[str, Any]:
        return {**self.optimum.to_dict(), "tol_x": self.tol_x, "rows": [row.to_dict() for row in self.rows]}

    # notebook display and exports ------------------------------------------------------------------

    def __repr__(self) -> str:
        """One line: how many runs, the verdict on min f, and the best row.

        >>> import taylorlr as tl
        >>> tl.compare("(x - 1)**2 + 4*y**2", [0.0, 1.0], rules=("exact", "fixed"), optimizers=("gd",),
        ...            steps=60)
        Comparison(2 runs, global minimum (proved), best: exact with gd, reached at step 9)
        """
        best = self.rows[0] if self.rows else None
        said = "none" if best is None else f"{best.rule} with {best.optimizer}, {_standing_text(best)}"
        return f"Comparison({len(self.rows)} runs, {self.verdict.value}, best: {said})"

    def _card(self) -> Card:
        minimisers = "; ".join(f"{vector(m)} (f* = {fmt(f)})" for m, f in zip(self.minimisers, self.f_star,
                                                                            strict=True))  # fmt: skip
        fields = (
            ("optimum", f"{minimisers or 'none'} [{self.reference}]"),
            ("verdict", f"{self.verdict.value}: {self.optimum.reason}"),
            ("reached", f"within tol_x = {fmt(self.tol_x)} of a reference minimiser, and stayed"),
        )
        rows = [(str(rank), *row.cells()) for rank, row in enumerate(self.rows, start=1)]
        return Card(title="Comparison: every rule x optimizer, best first", fields=fields,
                    header=("#", *ROW_COLUMNS), rows=rows)  # fmt: skip

    def _repr_html_(self) -> str:
        return self._card().html()

    def _repr_markdown_(self) -> str:
        return self._card().markdown()

    def records(self) -> dict[str, list[Any]]:
        """The rows as plain columns, best first (no pandas needed; what ``compare --csv`` writes).

        Columns: ``rank``, ``rule``, ``optimizer``, ``status``, ``standing``, ``steps_taken``,
        ``iterations_to_tol`` (None: not reached), ``final_value``, ``final_gap``, ``distance``,
        ``alpha_error_mean``, ``alpha_error_worst`` and one ``evaluations_<kind>`` per counted kind.

        >>> import taylorlr as tl
        >>> table = tl.compare("x**2", [1.0], rules=("exact",), optimizers=("gd", "adam"), steps=20)
        >>> table.records()["optimizer"], table.records()["rank"]
        (['gd', 'adam'], [1, 2])
        """
        columns: dict[str, list[Any]] = {name: [] for name in _RECORD_COLUMNS}
        kinds = sorted({kind for row in self.rows for kind in row.evaluations})
        columns.update({f"evaluations_{kind}": [] for kind in kinds})
        for rank, row in enumerate(self.rows, start=1):
            columns["rank"].append(rank)
            for name in _RECORD_COLUMNS[1:]:
                value = getattr(row, name)
                columns[name].append(getattr(value, "value", value))
            for kind in kinds:
                columns[f"evaluations_{kind}"].append(row.evaluations.get(kind, 0))
        return columns

    def to_frame(self) -> Any:
        """The rows as a pandas DataFrame, best first (the columns of :meth:`records`).

        Raises:
            MissingDependencyError: pandas is not installed (``pip install pandas``).

        >>> import taylorlr as tl
        >>> table = tl.compare("x**2", [1.0], rules=("exact", "fixed"), optimizers=("gd",), steps=20)
        >>> table.to_frame()[["rule", "standing"]].values.tolist()
        [['exact', 'reached'], ['fixed', 'stopped short']]
        """
        from taylorlr._frame import frame_of

        return frame_of(self.records())


#: the columns of a comparison's table (text, notebook)
ROW_COLUMNS = (
    "rule", "optimizer", "status", "steps to tol", "final f", "final gap", "distance", "alpha error",
    "evaluations",
)  # fmt: skip
_RECORD_COLUMNS = (
    "rank", "rule", "optimizer", "status", "standing", "steps_taken", "iterations_to_tol", "final_value",
    "final_gap", "distance", "alpha_error_mean", "alpha_error_worst",
)  # fmt: skip


def _standing_text(row: ComparisonRow) -> str:
    if row.standing == Standing.REACHED:
        return f"reached at step {row.iterations_to_tol}"
    return f"{row.standing.value} ({getattr(row.status, 'value', row.status)})"


def compare(
    loss: Any,
    at: Any,
    rules: Sequence[Any] = DEFAULT_RULES,
    optimizers: Sequence[Any] = DEFAULT_OPTIMIZERS,
    *,
    tol_x: float = 1e-6,
    reference: str = "auto",
    budget_s: float = 30.0,
    progress: Callable[[int, int], None] | None = None,
    **run_options: Any,
) -> Comparison:
    """Run every rule x optimizer from ``at`` and measure each against the true optimum.

    A loss without a minimum is a verdict, not an error: the table is still made. A run
    that ends below every reference minimum proves the reference is not the global
    minimum (unless that is proved): the verdict then says so and the gaps are measured
    from the best point found.

    Args:
        loss: a :class:`~taylorlr.Loss` without data symbols.
        at: one start point.
        rules, optimizers: names (or objects) accepted by :func:`~taylorlr.run`; a rule
            may be given as ``(name, options)``, e.g. ``("three-point", {"numerator": "values"})``.
        tol_x: distance to the nearest minimiser that counts as reached.
        reference: "auto" (the critical points, and Newton from the runs' final points
            unless the critical points are all known), "critical-points" or "solve"
            (Newton from the final points only).
        budget_s: seconds for the critical points behind the reference: past them the exact
            solve stops and the reference rests on the numeric points (its verdict says what is
            proved).
        progress: called as ``progress(done, total)`` after each run (e.g. to advance a bar).
        **run_options: passed to :func:`~taylorlr.run` (steps, alpha0, gamma, safeguards, ...).

    Returns:
        A :class:`Comparison`.

    Raises:
        OptionError: an unknown reference.
        PointError: ``at`` is a batch rather than one point.

    >>> import taylorlr as tl
    >>> table = tl.compare("x**4 + y**2 - x*y", [1.0, 1.0], rules=("exact", "fixed"), optimizers=("gd",))
    >>> [(row.rule, row.standing.value) for row in table.rows], len(table.runs)
    ([('exact', 'reached'), ('fixed', 'stopped short')], 2)
    """
    loss = as_loss(loss)
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
    compiled = loss.compile()
    finals = [(r.points[-1], float(to_numpy(compiled.value(r.points[-1])))) for r in runs]
    optimum = _checked(
        reference_optimum(loss, [p for p, _ in finals], reference, budget_s=budget_s), runs, finals
    )
    rows = [_row(r, value, optimum, tol_x) for r, (_, value) in zip(runs, finals, strict=True)]
    ordered = tuple(sorted(rows, key=ComparisonRow.sort_key))
    return Comparison(rows=ordered, optimum=optimum, tol_x=tol_x, runs=tuple(runs))


def _run_one(loss: Any, at: Any, rule: Any, optimizer: Any, options: dict[str, Any]) -> Run:
    if isinstance(rule, tuple):
        name, rule_options = rule
        return run(loss, at, optimizer, name, rule_options=rule_options, **options)
    return run(loss, at, optimizer, rule, **options)


def _checked(optimum: Reference, runs: list[Run], finals: list[tuple[Any, float]]) -> Reference:
    """The reference, or the best point found when a run ended below every reference minimum
    that is not proved global and whose critical points are not all known, or when there is no
    minimiser and nothing proved."""
    finite = [(value, i) for i, (_, value) in enumerate(finals) if math.isfinite(value)]
    proved = optimum.verdict in (Verdict.GLOBAL, Verdict.UNBOUNDED, Verdict.NOT_ATTAINED)
    if not finite or proved or optimum.lowest_critical is not None:
        return optimum  # a run below every minimum of a complete set of critical points is falling
    value, best = min(finite)
    label = f"{runs[best].rule} with {runs[best].optimizer}"
    if not optimum.minimisers:
        reason = f"{optimum.reason}; best point found by {label}"
        return optimum.measured_from_best(finals[best][0], value, reason)
    lowest = min(optimum.f_star)
    if value >= lowest - f_tolerance(lowest):
        return optimum
    reason = (
        f"{label} ended at f = {value:.6g}, below every reference minimum (lowest f* = {lowest:.6g}, "
        f"{optimum.source}): they are not the global minimum"
    )
    return optimum.measured_from_best(finals[best][0], value, reason)


def _row(r: Run, value: float, optimum: Reference, tol_x: float) -> ComparisonRow:
    import numpy

    final = r.points[-1]
    escaped = optimum.lowest_critical is not None and value < optimum.lowest_critical - f_tolerance(
        optimum.lowest_critical if math.isfinite(optimum.lowest_critical) else 0.0
    )
    index, target, f_ref = _measured_from(final, value, optimum)
    gap = distance = math.nan
    reached = None
    if target is not None and math.isfinite(value):
        gap = max(value - f_ref, 0.0)  # f_ref <= value + rounding (_measured_from)
        distance = float(numpy.linalg.norm(final - target))
        if index is not None and not escaped:
            reached = _stayed_within(r, target, tol_x)
    taken = int(r.stopped_at)
    return ComparisonRow(
        rule=r.rule,
        optimizer=r.optimizer,
        status=r.status.item(),
        steps_taken=taken,
        iterations_to_tol=reached,
        minimiser_index=index,
        final_value=value,
        final_gap=gap,
        distance=distance,
        escaped=bool(escaped),
        **_alpha_errors(r, taken),
        evaluations=r.counts.totals(),
        safeguard_firings=r.safeguard_counts.totals(),
    )


def _measured_from(final: Any, value: float, optimum: Reference) -> tuple[int | None, Any, float]:
    """(index, x*, f*): the nearest minimiser with f* at most the final value (rounding allowed),
    else the best point found; (None, None, nan) when there is neither."""
    import numpy

    admissible = [i for i, f in enumerate(optimum.f_star) if f <= value + f_tolerance(f)]
    if admissible and numpy.all(numpy.isfinite(final)):
        refs = numpy.asarray(optimum.minimisers)
        index = min(admissible, key=lambda i: float(numpy.linalg.norm(final - refs[i])))
        return index, refs[index], optimum.f_star[index]
    if optimum.best_point is not None and optimum.upper_bound is not None:
        return None, numpy.asarray(optimum.best_point), optimum.upper_bound
    return None, None, math.nan


def _stayed_within(r: Run, target: Any, tol_x: float) -> int | None:
    """The first step t from which every point up to the last valid one is within tol_x."""
    import numpy

    taken = int(r.stopped_at)
    outside = numpy.nonzero(numpy.linalg.norm(r.points[: taken + 1] - target, axis=-1) > tol_x)[0]
    if outside.size == 0:
        return 0
    last = int(outside[-1])
    return last + 1 if last < taken else None


def _alpha_errors(r: Run, taken: int) -> dict[str, float | None]:
    import numpy

    oracle = r.oracle_alphas[:taken]
    used = r.alphas[:taken]
    with numpy.errstate(all="ignore"):
        errors = numpy.abs(used - oracle) / numpy.abs(oracle)
    errors = errors[numpy.isfinite(errors)]
    if not errors.size:
        return {"alpha_error_mean": None, "alpha_error_worst": None}
    return {"alpha_error_mean": float(errors.mean()), "alpha_error_worst": float(errors.max())}
