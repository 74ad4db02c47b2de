"""The records of the critical-point analysis: points, their kinds, and bounded-below evidence.

>>> SearchStatus.COMPLETE == "complete", "proved" in Boundedness.UNBOUNDED.message
(True, True)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy

from taylorlr.kinds import Kind, Verdict

KINDS = tuple(k.value for k in Kind)
DIGITS = 30


class SearchStatus(Verdict):
    """How the critical points were found, and how far the list can be trusted."""

    COMPLETE = ("complete", "exact: every real critical point, each an exact algebraic number")
    BUDGET_EXCEEDED = (
        "budget-exceeded",
        "the exact solve ran past budget_s; the points are numeric (evidence, not proof): raise budget_s",
    )
    NUMERIC = (
        "numeric",
        "a multi-start numeric search (the loss is not a polynomial with rational coefficients, or "
        "method='numeric'): each point is critical within rounding, but points may be missing",
    )
    PENDING = (
        "pending",
        "numeric points (evidence, not proof) while the exact solve runs on (wait=False): call .refined()",
    )
    POSITIVE_DIMENSIONAL = (
        "positive-dimensional",
        "the critical points form a curve or surface: a few numeric samples of it",
    )


class Refinement(Verdict):
    """What became of the exact solve (the refinement of the numeric points)."""

    DONE = ("done", "the exact solve finished: the points are exact algebraic numbers")
    PENDING = (
        "pending",
        "the exact solve still runs in the background (wait=False): call .refined() for its answer",
    )
    BUDGET_EXCEEDED = (
        "budget exceeded",
        "the exact solve ran past budget_s and was stopped; the points are numeric: raise budget_s",
    )
    TOO_LARGE = (
        "too large",
        "the exact solve was not attempted: its Bezout bound exceeds max_solutions; the points are "
        "numeric: raise max_solutions",
    )
    OUT_OF_MEMORY = (
        "out of memory",
        "the exact solve needed more memory than it is allowed and was stopped; the points are numeric",
    )
    CANCELLED = (
        "cancelled",
        "the background exact solve was stopped by cancel(); the points are numeric",
    )
    NOT_APPLICABLE = (
        "not applicable",
        "no exact solve: the loss is not a polynomial with rational coefficients, or method='numeric'",
    )


class Boundedness(Verdict):
    """Whether f is bounded below, as far as the probes can tell."""

    UNBOUNDED = ("unbounded", "f -> -inf along a line: proved (f is an exact polynomial along it)")
    NO_EVIDENCE = (
        "no evidence of unboundedness (probed lines only)",
        "f stayed bounded below along every probed line: evidence, not proof",
    )


@dataclass(frozen=True, kw_only=True)
class CriticalPoint:
    """A point where the gradient vanishes, and what kind of point it is.

    Attributes:
        point: the coordinates, exact SymPy numbers (``exact``) or floats.
        kind: a :class:`~taylorlr.kinds.Kind`: "minimum", "maximum", "saddle" or "inconclusive".
        eigenvalues: the Hessian's eigenvalues there, ascending (floats; an
            eigenvalue that is exactly zero is 0.0).
        exact: whether ``point`` is an exact algebraic solution.
        degenerate: whether the Hessian is singular there.
        residual: ||grad f|| at the point (0.0 for exact points).
        reason: what settled the kind (always said for degenerate points).
        value: f at the point (exact, or a float).
        tolerance: for a numeric point, the rounding bound its gradient was tested against:
            each |df/dx_i| is within what evaluating it in floats, or moving the point by one
            ulp, can produce (0.0 for exact points).
    """

    point: tuple[Any, ...]
    kind: Kind
    eigenvalues: tuple[float, ...]
    exact: bool
    degenerate: bool
    residual: float = 0.0
    reason: str = ""
    value: Any = None
    tolerance: float = 0.0

    @property
    def decimals(self) -> tuple[str, ...]:
        """The coordinates as 20-digit decimals."""
        return tuple(_decimal(c) for c in self.point)

    @property
    def floats(self) -> tuple[float, ...]:
        return tuple(float(c) for c in self.point)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: numbers as floats, exact values also as strings."""
        data: dict[str, Any] = {
            "point": list(self.floats),
            "kind": str(self.kind),
            "eigenvalues": list(self.eigenvalues),
            "exact": self.exact,
            "degenerate": self.degenerate,
            "residual": self.residual,
            "tolerance": self.tolerance,
            "reason": self.reason,
            "decimals": list(self.decimals),
            "value": None if self.value is None else float(self.value),
        }
        if self.exact:
            data["point_exact"] = [str(c) for c in self.point]
            data["value_exact"] = str(self.value)
        return data


@dataclass(frozen=True, kw_only=True)
class BoundedBelow:
    """Whether f looked bounded below along probed lines, with the evidence.

    Attributes:
        verdict: a :class:`Boundedness`: "unbounded" (proved: f -> -inf along ``direction``) or
            "no evidence of unboundedness (probed lines only)" (every probed line was bounded
            below: evidence, not proof).
        proof: True when the verdict is proved (an exact polynomial along a line).
        point: the lowest probed point, with ``value`` = f there.
        direction: the line's direction (for "unbounded").
        probes: how many lines were probed.
    """

    verdict: Boundedness
    proof: bool
    point: tuple[float, ...]
    value: float
    direction: tuple[float, ...] | None
    probes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": str(self.verdict),
            "proof": self.proof,
            "point": list(self.point),
            "value": self.value,
            "direction": None if self.direction is None else list(self.direction),
            "probes": self.probes,
        }


@dataclass(frozen=True, kw_only=True)
class CriticalPoints(Sequence[CriticalPoint]):
    """The critical points of a loss (a sequence of :class:`CriticalPoint`) and how they were found.

    Attributes:
        points: the critical points, sorted by coordinates.
        status: a :class:`SearchStatus`: "complete" (exact: all real critical points),
            "budget-exceeded" (the exact solve ran out of time: numeric points), "numeric" (a
            non-polynomial loss or method="numeric") or "positive-dimensional" (infinitely
            many: numeric samples).
        bounded_below: the bounded-below evidence.
        elapsed_s: wall time taken.
        note: what happened, in a sentence.
        rejected: numeric candidates where the search stalled with a small gradient that is
            provably not zero (a plateau or an asymptote): not returned as critical points.
        refinement: a :class:`Refinement`: what became of the exact solve ("done", "pending",
            "budget exceeded", "too large", "out of memory", "cancelled" or "not applicable").
    """

    points: tuple[CriticalPoint, ...]
    status: SearchStatus
    bounded_below: BoundedBelow | None
    elapsed_s: float
    note: str = ""
    rejected: int = 0
    refinement: Refinement = Refinement.NOT_APPLICABLE
    pending: Any = field(default=None, repr=False, compare=False)

    def refined(self) -> CriticalPoints:
        """The exact answer of a result returned with refinement "pending" (``wait=False``).

        Waits for the background solve until the budget's deadline; a result that is not
        pending is returned as it is.
        """
        return self if self.pending is None else self.pending()

    def cancel(self) -> None:
        """Stop the background exact solve of a "pending" result (nothing otherwise)."""
        if self.pending is not None:
            self.pending.cancel()

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, index: Any) -> Any:
        return self.points[index]

    def __iter__(self) -> Iterator[CriticalPoint]:
        return iter(self.points)

    def counts(self) -> dict[str, int]:
        """How many points of each kind."""
        result = dict.fromkeys(KINDS, 0)
        for p in self.points:
            result[str(p.kind)] += 1
        return {k: v for k, v in result.items() if v}

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "refinement": str(self.refinement),
            "note": self.note,
            "elapsed_s": self.elapsed_s,
            "counts": self.counts(),
            "rejected": self.rejected,
            "critical_points": [p.to_dict() for p in self.points],
            "bounded_below": None if self.bounded_below is None else self.bounded_below.to_dict(),
        }


def _decimal(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(sympy.N(value, 20))
