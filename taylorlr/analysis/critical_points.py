"""Critical points: exact for polynomial losses, numeric (and labelled) otherwise.

For a polynomial loss the critical equations grad f = 0 are solved exactly
(:mod:`~taylorlr.analysis._exact`: a Groebner basis in shape position and real-root
isolation), and every point is classified by exact signs (:mod:`~taylorlr.analysis._classify`:
the Hessian's inertia, then the splitting lemma at a degenerate point). Otherwise a numeric
search (:mod:`~taylorlr.analysis._numeric`) returns the points where the gradient is zero
within rounding. Bounded below is probed along lines (:mod:`~taylorlr.analysis._bounded`).
The records are in :mod:`~taylorlr.analysis.result`.

>>> import taylorlr as tl
>>> [(p.point, str(p.kind), p.degenerate) for p in tl.Loss("x**2 + 3*x*y**2").critical_points()]
[((0, 0), 'saddle', True)]
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import sympy

from taylorlr.analysis._bounded import bounded_below
from taylorlr.analysis._classify import classify
from taylorlr.analysis._exact import deadline, real_solutions
from taylorlr.analysis._numeric import numeric_points
from taylorlr.analysis.result import (
    KINDS,
    BoundedBelow,
    Boundedness,
    CriticalPoint,
    CriticalPoints,
    SearchStatus,
)
from taylorlr.errors import BudgetExceededError, LossDefinitionError, OptionError

if TYPE_CHECKING:
    from taylorlr.loss import Loss

__all__ = [
    "KINDS",
    "METHODS",
    "BoundedBelow",
    "Boundedness",
    "CriticalPoint",
    "CriticalPoints",
    "SearchStatus",
    "critical_points",
]

METHODS = ("auto", "exact", "numeric")
_SAMPLES = 12  # numeric samples shown from a curve or surface of critical points


def critical_points(
    loss: Loss,
    *,
    budget_s: float = 30.0,
    method: str = "auto",
    box: float = 5.0,
    seeds: int = 512,
    probes: int = 24,
) -> CriticalPoints:
    """All real critical points of ``loss``, exact where algebra allows.

    Args:
        loss: the :class:`~taylorlr.Loss` (without data symbols).
        budget_s: time allowed for the exact solve; when it runs out the numeric
            search takes over and the status says "budget-exceeded".
        method: "auto" (exact for polynomials with rational coefficients, else
            numeric), "exact" (raise if it cannot be done) or "numeric".
        box: the numeric search starts from ``seeds`` points in [-box, box]^n.
        seeds: the number of numeric start points.
        probes: the number of lines probed for the bounded-below evidence.

    Returns:
        A :class:`CriticalPoints` record (a sequence of :class:`CriticalPoint`).

    Raises:
        BudgetExceededError: method="exact" and the budget ran out.
        OptionError: an unknown method, or method="exact" on a loss that is not a
            polynomial with rational coefficients.

    >>> import taylorlr as tl
    >>> result = tl.Loss("x**4 - 2*x**2").critical_points()
    >>> [(p.point, str(p.kind)) for p in result], str(result.status)
    ([((-1,), 'minimum'), ((0,), 'maximum'), ((1,), 'minimum')], 'complete')
    """
    started = time.perf_counter()
    _check_options(loss, method, budget_s)
    exact_ok = _has_rational_polynomial(loss)
    if method == "exact" and not exact_ok:
        raise OptionError(
            f"method='exact' needs a polynomial with rational coefficients, got {loss.expr}; "
            "use method='auto'"
        )
    points, status, note = None, SearchStatus.NUMERIC, "numeric multi-start search: evidence, not proof"
    if exact_ok and method != "numeric":
        try:
            with deadline(budget_s):
                points, status, note = _exact_points(loss)
        except BudgetExceededError:
            if method == "exact":
                raise
            status = SearchStatus.BUDGET_EXCEEDED
            note = f"the exact solve ran past budget_s={budget_s}; numeric points"
    rejected = 0
    if points is None:
        points, rejected = numeric_points(loss, box, seeds)
        if status == SearchStatus.POSITIVE_DIMENSIONAL:
            points = points[:: max(1, len(points) // _SAMPLES)][:_SAMPLES]
        note += _rejected_note(rejected)
    bounded = bounded_below(loss, points, probes)
    return CriticalPoints(
        points=tuple(_sorted(points)), status=status, bounded_below=bounded,
        elapsed_s=time.perf_counter() - started, note=note, rejected=rejected,
    )  # fmt: skip


def _rejected_note(rejected: int) -> str:
    if not rejected:
        return ""
    return (
        f"; {rejected} stalled point(s) rejected: a small gradient that is provably not zero "
        "(a plateau or an asymptote, not a critical point)"
    )


def _check_options(loss: Loss, method: str, budget_s: float) -> None:
    if method not in METHODS:
        raise OptionError(f"method must be one of {METHODS}, got {method!r}")
    if not budget_s > 0:
        raise OptionError(f"budget_s must be positive, got {budget_s!r}")
    if loss.data:
        raise LossDefinitionError(
            f"critical points need fixed data, but {loss.names_of(loss.data)} are data symbols: "
            "substitute numbers for them first"
        )


def _has_rational_polynomial(loss: Loss) -> bool:
    if not loss.is_polynomial:
        return False
    return sympy.Poly(loss.expr, *loss.variables).domain in (sympy.ZZ, sympy.QQ)


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
