"""The records of the critical-point analysis: points, their kinds, and bounded-below evidence.

>>> SearchStatus.COMPLETE == "complete", "proved" in Boundedness.UNBOUNDED.message
(True, True)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy

from taylorlr._display import Card, fmt, folded, vector
from taylorlr.kinds import Kind, Verdict

KINDS = tuple(k.value for k in Kind)
#: the columns of a critical point's row (text and notebook)
POINT_COLUMNS = ("#", "point", "kind", "eigenvalues", "f", "found")
DIGITS = 30
#: the longest exact number a one-line summary shows as it is (longer ones by their decimals)
SHORT_EXACT = 24


class SearchStatus(Verdict):
    """How the critical points were found, and how far the list can be trusted.

    >>> import taylorlr as tl
    >>> exact, numeric = tl.Loss("x**2 + y**2"), tl.Loss("exp(x) - 2*x")
    >>> str(exact.critical_points().status), str(numeric.critical_points().status)
    ('complete', 'numeric')
    """

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
    """What became of the exact solve (the refinement of the numeric points).

    >>> import taylorlr as tl
    >>> tl.Loss("x**2 + y**2").critical_points().refinement
    <Refinement.DONE: 'done'>
    """

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
    """Whether f is bounded below: proved either way where a proof is found, else the probes' evidence.

    >>> import taylorlr as tl
    >>> str(tl.Loss("x**3 + y**2").critical_points().bounded_below.verdict)
    'unbounded'
    >>> str(tl.Loss("(x - 1)**2 + y**2").critical_points().bounded_below.verdict)
    'bounded below (proved)'
    """

    BOUNDED = (
        "bounded below (proved)",
        "f >= bound everywhere: proved from the form of f (a constant plus terms proved non-negative), "
        "or from every critical point of a coercive polynomial (the lowest is min f)",
    )
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

    >>> import taylorlr as tl
    >>> point = tl.Loss("x**2 + 3*x*y**2").critical_points()[0]
    >>> point.point, point.kind, point.degenerate, point.reason[:18]
    ((0, 0), <Kind.SADDLE: 'saddle'>, True, 'along the curve x ')
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

    # notebook display ------------------------------------------------------------------------------

    def cells(self) -> tuple[str, ...]:
        """The point as text cells: point (exact forms folded), kind, eigenvalues, f, how it was found."""
        exact = [str(c) for c in self.point] if self.exact else [None] * len(self.point)
        point = vector([folded(v, e) for v, e in zip(self.floats, exact, strict=True)])
        exact_value = str(self.value) if self.exact else None
        value = None if self.value is None else folded(float(self.value), exact_value)
        how = ("exact" if self.exact else "numeric") + (", degenerate" if self.degenerate else "")
        return point, str(self.kind), ", ".join(fmt(e) for e in self.eigenvalues), value or "n/a", how

    def __repr__(self) -> str:
        """One line, exact values folded (a ``CRootOf`` shown as its decimal and polynomial).

        >>> import taylorlr as tl
        >>> tl.Loss("x**3 - 3*x").critical_points()[0]
        CriticalPoint(-1: maximum, eigenvalues -6, f = 2, exact)
        """
        point, kind, eigenvalues, value, how = self.cells()
        return f"CriticalPoint({point}: {kind}, eigenvalues {eigenvalues}, f = {value}, {how})"


@dataclass(frozen=True, kw_only=True)
class BoundedBelow:
    """Whether f is bounded below, with the proof or the evidence.

    Attributes:
        verdict: a :class:`Boundedness`: "bounded below (proved)" (f >= ``bound`` everywhere),
            "unbounded" (proved: f -> -inf along ``direction``) or "no evidence of unboundedness
            (probed lines only)" (every probed line was bounded below: evidence, not proof).
        proof: True when the verdict is proved.
        point: with "bounded below (proved)", a global minimiser when ``attained``, else the lowest
            critical point known (or the lowest probed point when none is); otherwise the lowest
            probed point. ``value`` is f there.
        direction: the line's direction (for "unbounded").
        probes: how many lines were probed (0 when a proof of boundedness made probing needless).
        bound: with "bounded below (proved)", the proved lower bound: f >= bound everywhere
            (a float: rounded to nearest; ``bound_exact`` is the exact number).
        bound_exact: the exact bound, as SymPy writes it (e.g. "-1/3"), or None.
        point_exact: ``point``'s exact coordinates (SymPy's text) when it is an exact critical point.
        attained: whether ``point`` attains ``bound`` exactly: then ``bound`` is min f and ``point``
            a global minimiser (proved).
        reason: the proof of "bounded below (proved)", in a sentence.

    >>> import taylorlr as tl
    >>> evidence = tl.Loss("x**3 + y**2").critical_points().bounded_below
    >>> evidence.proof, evidence.direction
    (True, (-1.0, 0.0))
    >>> bounded = tl.Loss("100*(y - x**2)**2 + (1 - x)**2").critical_points().bounded_below
    >>> bounded.bound, bounded.attained, bounded.point
    (0.0, True, (1.0, 1.0))
    """

    verdict: Boundedness
    proof: bool
    point: tuple[float, ...]
    value: float
    direction: tuple[float, ...] | None
    probes: int
    bound: float | None = None
    bound_exact: str | None = None
    point_exact: tuple[str, ...] | None = None
    attained: bool = False
    reason: str = ""

    @property
    def summary(self) -> str:
        """The verdict in a phrase, with the bound where one is proved.

        >>> import taylorlr as tl
        >>> tl.Loss("(x - 1)**2 + y**2 - 1/2").critical_points().bounded_below.summary
        'min f = -1/2 (proved)'
        >>> tl.Loss("(x*y - 1)**2").critical_points().bounded_below.summary
        'f >= 0 (proved)'
        >>> tl.Loss("x**4 - 3*x**2 + x").critical_points().bounded_below.summary
        'min f = -3.51391 (algebraic) (proved)'
        """
        if self.verdict != Boundedness.BOUNDED:
            return str(self.verdict)
        exact = self.bound_exact or ""
        # a long algebraic number is shown by its decimals (``bound_exact`` keeps it whole)
        bound = exact if len(exact) <= SHORT_EXACT else f"{self.bound:.6g} (algebraic)"
        return f"{'min f =' if self.attained else 'f >='} {bound} (proved)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": str(self.verdict),
            "proof": self.proof,
            "point": list(self.point),
            "value": self.value,
            "direction": None if self.direction is None else list(self.direction),
            "probes": self.probes,
            "bound": self.bound,
            "bound_exact": self.bound_exact,
            "point_exact": None if self.point_exact is None else list(self.point_exact),
            "attained": self.attained,
            "reason": self.reason,
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

    >>> import taylorlr as tl
    >>> points = tl.Loss("x**4 - 2*x**2 + y**2").critical_points()
    >>> len(points), points.status, points.counts()
    (3, <SearchStatus.COMPLETE: 'complete'>, {'minimum': 2, 'saddle': 1})
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

    # notebook display ------------------------------------------------------------------------------

    def __repr__(self) -> str:
        """One line: how many points of each kind, and how they were found.

        >>> import taylorlr as tl
        >>> tl.Loss("x**4 - 2*x**2").critical_points()
        CriticalPoints(3 points: minimum 2, maximum 1; complete)
        """
        counts = ", ".join(f"{kind} {count}" for kind, count in self.counts().items())
        points = f"{len(self)} point{'' if len(self) == 1 else 's'}"
        return f"CriticalPoints({points}{': ' + counts if counts else ''}; {self.status.value})"

    def _card(self) -> Card:
        fields = [("status", f"{self.status.value}: {self.note or self.status.message}")]
        if self.bounded_below is not None:
            fields.append(("bounded below", str(self.bounded_below.verdict)))
        rows = [(str(i), *p.cells()) for i, p in enumerate(self.points)]
        return Card(title=f"Critical points ({len(self)})", fields=fields, header=POINT_COLUMNS, rows=rows)

    def _repr_html_(self) -> str:
        return self._card().html()

    def _repr_markdown_(self) -> str:
        return self._card().markdown()

    def _repr_latex_(self) -> str:
        """The points in LaTeX math, one per line, each with its kind (exact where known).

        >>> import taylorlr as tl
        >>> print(tl.Loss("x**2 - y**2").critical_points()._repr_latex_())
        $\\begin{array}{ll}\\left(0, 0\\right) & \\text{saddle}\\end{array}$
        """
        lines = [f"{point_latex(p.point)} & \\text{{{p.kind}}}" for p in self]
        return "$\\begin{array}{ll}" + r" \\ ".join(lines) + r"\end{array}$"

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


def point_latex(point: Sequence[Any]) -> str:
    r"""A point's coordinates in LaTeX: one bare, several as ``\left(a, b\right)``.

    >>> point_latex((sympy.Rational(1, 2),)), point_latex((0, sympy.sqrt(2)))
    ('\\frac{1}{2}', '\\left(0, \\sqrt{2}\\right)')
    """
    shown = [sympy.latex(sympy.sympify(c)) for c in point]
    return shown[0] if len(shown) == 1 else r"\left(" + ", ".join(shown) + r"\right)"


def _decimal(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(sympy.N(value, 20))
