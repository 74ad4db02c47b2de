"""Critical points: exact for polynomial losses, numeric (and labelled) otherwise.

The numeric answer comes first, the exact one within the budget. For a polynomial loss the
critical equations grad f = 0 are solved exactly
(:mod:`~taylorlr.analysis._exact`: a Groebner basis in shape position and real-root
isolation), and every point is classified by exact signs (:mod:`~taylorlr.analysis._classify`:
the Hessian's inertia, then the splitting lemma at a degenerate point). Otherwise a numeric
search (:mod:`~taylorlr.analysis._numeric`) returns the points where the gradient is zero
within rounding; for a polynomial it runs while the exact solve works in a child process
(:mod:`~taylorlr.analysis._worker`; with ``wait=False`` the worker starts once the numeric
answer is in), which is stopped at the deadline: the exact refinement
either finishes within ``budget_s`` or the numeric points come back with the reason
(``refinement``). Bounded below is probed along lines (:mod:`~taylorlr.analysis._bounded`).
The records are in :mod:`~taylorlr.analysis.result`.

>>> import taylorlr as tl
>>> [(p.point, str(p.kind), p.degenerate) for p in tl.Loss("x**2 + 3*x*y**2").critical_points()]
[((0, 0), 'saddle', True)]
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import sympy

from taylorlr._budget import Budget, validated_seconds
from taylorlr.analysis._bounded import bounded_below
from taylorlr.analysis._classify import classify
from taylorlr.analysis._exact import real_solutions
from taylorlr.analysis._numeric import numeric_points
from taylorlr.analysis._worker import ExactWorker, Outcome
from taylorlr.analysis.result import (
    KINDS,
    BoundedBelow,
    Boundedness,
    CriticalPoint,
    CriticalPoints,
    Refinement,
    SearchStatus,
)
from taylorlr.errors import BudgetExceededError, LossDefinitionError, OptionError
from taylorlr.symbolic.degree import degree_bound

if TYPE_CHECKING:
    from taylorlr.loss import Loss

__all__ = [
    "KINDS",
    "METHODS",
    "BoundedBelow",
    "Boundedness",
    "CriticalPoint",
    "CriticalPoints",
    "Refinement",
    "SearchStatus",
    "critical_points",
]

METHODS = ("auto", "exact", "numeric")
_SAMPLES = 12  # numeric samples shown from a curve or surface of critical points
#: the most complex solutions (Bezout bound prod_i deg(df/dx_i)) the exact solve is attempted for
MAX_SOLUTIONS = 1000
#: how long the exact solve is given alone before the numeric search starts beside it (seconds):
#: small systems are solved exactly within it, with no numeric search (and no NumPy)
EXACT_FIRST_S = 0.25
#: the numeric answer and the bounded-below probe always get this many seconds, even when
#: budget_s is shorter (the first answer is never withheld)
ANSWER_FLOOR_S = 1.0
_NUMERIC_NOTE = "numeric multi-start search: evidence, not proof"
_PENDING_NOTE = "numeric points; the exact solve runs on: call .refined()"
_STOPPED = {"out-of-memory": Refinement.OUT_OF_MEMORY, "cancelled": Refinement.CANCELLED}


def critical_points(
    loss: Loss,
    *,
    budget_s: float = 30.0,
    method: str = "auto",
    box: float = 5.0,
    seeds: int = 512,
    probes: int = 24,
    max_solutions: int = MAX_SOLUTIONS,
    wait: bool = True,
) -> CriticalPoints:
    """All real critical points of ``loss``, exact where algebra allows.

    Args:
        loss: the :class:`~taylorlr.Loss` (without data symbols).
        budget_s: seconds for the whole analysis. The exact solve is stopped when they run
            out, and the numeric points come back (status "budget-exceeded"); the numeric
            search and the bounded-below probe get at least ``ANSWER_FLOOR_S`` (1 s).
        method: "auto" (numeric points, then the exact solve for polynomials with rational
            coefficients), "exact" (raise if it cannot be done) or "numeric".
        box: the numeric search starts from ``seeds`` points in [-box, box]^n.
        seeds: the number of numeric start points.
        probes: the number of lines probed for the bounded-below evidence.
        max_solutions: the exact solve is not attempted when the Bezout bound on the number
            of complex critical points exceeds this (status "budget-exceeded", refinement
            "too large"): it would not end, or not fit in memory.
        wait: False returns the numeric points at once (status and refinement "pending")
            and starts the exact solve, which goes on; ``result.refined()`` waits for it.

    Returns:
        A :class:`CriticalPoints` record (a sequence of :class:`CriticalPoint`).

    Raises:
        BudgetExceededError: method="exact" and the budget (or max_solutions) ran out; or the
            numeric search itself ran past max(budget_s, 1 s).
        OptionError: an unknown method, or method="exact" on a loss that is not a
            polynomial with rational coefficients.

    >>> import taylorlr as tl
    >>> result = tl.Loss("x**4 - 2*x**2").critical_points()
    >>> [(p.point, str(p.kind)) for p in result], str(result.status), str(result.refinement)
    ([((-1,), 'minimum'), ((0,), 'maximum'), ((1,), 'minimum')], 'complete', 'done')
    """
    started = time.perf_counter()
    budget_s = validated_seconds(budget_s)
    _check_options(loss, method, max_solutions)
    answer = Budget(
        stage="critical points (numeric search)", seconds=max(budget_s, ANSWER_FLOOR_S), hint="lower seeds"
    )
    deadline = answer.started + budget_s
    with answer.active():
        if not wait and method != "exact":
            return _first_answer(loss, method, max_solutions, deadline, box, seeds, probes, started)
        worker, refinement = _start_exact(loss, method, max_solutions, deadline)
        try:
            if method == "exact":
                return _exact_answer(loss, worker, deadline, budget_s, probes, started)
            outcome = None
            if worker is not None and worker.ready(min(EXACT_FIRST_S, budget_s)):
                outcome = worker.outcome(deadline)  # a small system: no numeric search needed
            numeric: list[CriticalPoint] = []
            rejected = 0
            if outcome is None or outcome.kind != "done" or outcome.value[0] is None:
                numeric, rejected = numeric_points(loss, box, seeds)
            if worker is not None and outcome is None:
                outcome = worker.outcome(deadline)
        finally:
            if worker is not None:
                worker.stop()
        return _assemble(loss, outcome, refinement, numeric, rejected, probes, started)


def _first_answer(
    loss: Loss,
    method: str,
    max_solutions: int,
    deadline: float,
    box: float,
    seeds: int,
    probes: int,
    started: float,
) -> CriticalPoints:
    """wait=False: the numeric points first, then the exact solve forked (when it applies) to run on.

    The worker starts after the numeric answer, not beside it: a forked child slows its parent
    (copy-on-write page faults, a core taken from the search) by more than the exact solve gains.
    """
    refinement = _exact_plan(loss, method, max_solutions)
    numeric, rejected = numeric_points(loss, box, seeds)
    if refinement != Refinement.DONE:
        return _assemble(loss, None, refinement, numeric, rejected, probes, started)
    result = _record(
        loss, numeric, SearchStatus.PENDING, _PENDING_NOTE + _rejected_note(rejected), rejected,
        Refinement.PENDING, probes, started,
    )  # fmt: skip
    return _pending(loss, result, _fork_exact(loss, deadline), deadline, numeric, rejected, probes, started)


def _start_exact(
    loss: Loss, method: str, max_solutions: int, deadline: float
) -> tuple[ExactWorker | None, Refinement]:
    """The exact solve, started in a worker when it applies and is small enough."""
    refinement = _exact_plan(loss, method, max_solutions)
    return (_fork_exact(loss, deadline) if refinement == Refinement.DONE else None), refinement


def _fork_exact(loss: Loss, deadline: float) -> ExactWorker:
    loss.gradient, loss.hessian  # noqa: B018 - computed once here, inherited (or pickled) by the worker
    lifetime = max(0.0, deadline - time.monotonic()) + 1.0
    return ExactWorker(functools.partial(_exact_points, loss), lifetime=lifetime)


def _exact_plan(loss: Loss, method: str, max_solutions: int) -> Refinement:
    """DONE when the exact solve applies and is small enough (it is to be run), else why not."""
    if method == "numeric":
        return Refinement.NOT_APPLICABLE
    if not _maybe_rational_polynomial(loss):
        return _not_exact(loss, method)
    bound = bezout_bound(loss)
    if bound > max_solutions:
        if method == "exact":
            raise BudgetExceededError(
                f"the exact critical-point solve would have up to {bound:,} complex solutions (Bezout "
                f"bound, limit max_solutions={max_solutions:,}): raise max_solutions, or use method='auto'",
                stage="critical points", option="max_solutions",
            )  # fmt: skip
        return Refinement.TOO_LARGE
    if sympy.Poly(loss.expr, *loss.variables).domain not in (sympy.ZZ, sympy.QQ):
        return _not_exact(loss, method)
    return Refinement.DONE


def _not_exact(loss: Loss, method: str) -> Refinement:
    if method == "exact":
        raise OptionError(
            f"method='exact' needs a polynomial with rational coefficients, got {loss.expr}; "
            "use method='auto'"
        )
    return Refinement.NOT_APPLICABLE


def bezout_bound(loss: Loss) -> int:
    """prod_i deg(df/dx_i), from the expression trees without expanding them: bounds the complex solutions.

    >>> import taylorlr as tl
    >>> bezout_bound(tl.Loss("x**4 + y**3 + x*y"))   # 4x^3 + y and 3y^2 + x
    6
    """
    variables = frozenset(loss.variables)
    bound = 1
    for g in loss.gradient:
        bound *= max(1, degree_bound(g, variables))
    return bound


def _exact_answer(
    loss: Loss, worker: ExactWorker | None, deadline: float, budget_s: float, probes: int, started: float
) -> CriticalPoints:
    """method="exact": the exact points or BudgetExceededError."""
    assert worker is not None
    outcome = worker.outcome(deadline)
    if outcome.kind == "error":
        raise outcome.value
    if outcome.kind != "done":
        elapsed = time.perf_counter() - started
        reason = "the limit is budget_s=" + f"{budget_s:g} s; raise budget_s"
        if outcome.kind != "budget-exceeded":
            reason = f"{outcome.message or outcome.kind}"
        raise BudgetExceededError(
            f"budget exceeded after {elapsed:.1f} s in stage 'critical points' (the exact solve): {reason},"
            " or use method='auto' for numeric points",
            stage="critical points", option="budget_s", elapsed_s=elapsed,
        )  # fmt: skip
    points, status, note = outcome.value
    if points is None:
        raise OptionError(f"the critical points of {loss.expr} form a curve or surface: use method='auto'")
    return _record(loss, points, status, note, 0, Refinement.DONE, probes, started)


def _pending(
    loss: Loss,
    result: CriticalPoints,
    worker: ExactWorker,
    deadline: float,
    numeric: list[CriticalPoint],
    rejected: int,
    probes: int,
    started: float,
) -> CriticalPoints:
    """The numeric answer ``result`` now, the exact one on ``.refined()``."""
    import dataclasses

    def refine() -> CriticalPoints:
        outcome = worker.outcome(deadline)
        return _assemble(loss, outcome, Refinement.DONE, numeric, rejected, probes, started)

    return dataclasses.replace(result, pending=_Pending(refine, worker.cancel))


class _Pending:
    """A background exact solve: call it to wait for the refined record, or ``cancel()`` it."""

    def __init__(self, refine: Callable[[], CriticalPoints], cancel: Callable[[], None]) -> None:
        self.refine, self.cancel = refine, cancel

    def __call__(self) -> CriticalPoints:
        return self.refine()


def _assemble(
    loss: Loss,
    outcome: Outcome | None,
    refinement: Refinement,
    numeric: list[CriticalPoint],
    rejected: int,
    probes: int,
    started: float,
) -> CriticalPoints:
    """The exact points where the solve finished, else the numeric ones with the reason."""
    points, status, note = numeric, SearchStatus.NUMERIC, _NUMERIC_NOTE
    if outcome is None and refinement == Refinement.TOO_LARGE:
        status = SearchStatus.BUDGET_EXCEEDED
        note = "the exact solve was not attempted (Bezout bound above max_solutions); numeric points"
    elif outcome is not None and outcome.kind == "error":
        raise outcome.value
    elif outcome is not None and outcome.kind != "done":
        refinement = _STOPPED.get(outcome.kind, Refinement.BUDGET_EXCEEDED)
        status, note = (
            SearchStatus.BUDGET_EXCEEDED,
            f"the exact solve was stopped ({refinement}); numeric points",
        )
    elif outcome is not None:
        exact, status, note = outcome.value
        if exact is not None:
            return _record(loss, exact, status, note, 0, refinement, probes, started)
        points = numeric[:: max(1, len(numeric) // _SAMPLES)][:_SAMPLES]  # samples of a curve or surface
    return _record(
        loss, points, status, note + _rejected_note(rejected), rejected, refinement, probes, started
    )


def _record(
    loss: Loss,
    points: list[CriticalPoint],
    status: SearchStatus,
    note: str,
    rejected: int,
    refinement: Refinement,
    probes: int,
    started: float,
) -> CriticalPoints:
    bounded = bounded_below(loss, points, probes, complete=status == SearchStatus.COMPLETE)
    return CriticalPoints(
        points=tuple(_sorted(points)), status=status, bounded_below=bounded,
        elapsed_s=time.perf_counter() - started, note=note, rejected=rejected, refinement=refinement,
    )  # fmt: skip


def _rejected_note(rejected: int) -> str:
    if not rejected:
        return ""
    return (
        f"; {rejected} stalled point(s) rejected: a small gradient that is provably not zero "
        "(a plateau or an asymptote, not a critical point)"
    )


def _check_options(loss: Loss, method: str, max_solutions: int) -> None:
    if method not in METHODS:
        raise OptionError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(max_solutions, bool) or not isinstance(max_solutions, int) or max_solutions < 1:
        raise OptionError(f"max_solutions must be a positive integer, got {max_solutions!r}")
    if loss.data:
        raise LossDefinitionError(
            f"critical points need fixed data, but {loss.names_of(loss.data)} are data symbols: "
            "substitute numbers for them first"
        )


def _maybe_rational_polynomial(loss: Loss) -> bool:
    """A polynomial without floats or named constants (checked without expanding it)."""
    return bool(loss.is_polynomial) and not loss.expr.atoms(sympy.Float, sympy.NumberSymbol)


def _sorted(points: list[CriticalPoint]) -> list[CriticalPoint]:
    return sorted(points, key=lambda p: p.floats)


def _exact_points(loss: Loss) -> tuple[list[CriticalPoint] | None, SearchStatus, str]:
    gradient = [sympy.expand(g) for g in loss.gradient]
    basis = sympy.groebner(gradient, *loss.variables, order="grevlex")
    if basis.exprs == [1]:
        return [], SearchStatus.COMPLETE, "exact: no real or complex critical point"
    if not basis.is_zero_dimensional:
        note = "the critical points form a curve or surface; numeric samples"
        return None, SearchStatus.POSITIVE_DIMENSIONAL, note
    points = [classify(loss, p) for p in real_solutions(basis, loss.variables)]
    return points, SearchStatus.COMPLETE, "exact: Groebner basis and real-root isolation"
