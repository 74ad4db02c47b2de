"""The Problem record: a test problem with its loss, standard start and published minimum."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taylorlr.loss import Loss

MGH_CITATION = (
    "J. J. More, B. S. Garbow and K. E. Hillstrom, Testing unconstrained optimization software, "
    "ACM Trans. Math. Software 7(1) (1981) 17-41, doi:10.1145/355934.355936"
)


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A test problem: its loss as text, its standard start and its published minimum.

    Attributes:
        name: the registry name (``tl.problems.get(name)``).
        title: the name in the literature.
        number: the problem's number in More, Garbow and Hillstrom (1981); None for the 2-D zoo.
        expression: the loss as text, ``sum f_i**2`` for a least-squares problem (``.loss``
            parses it residual by residual, so large sizes stay within the parser's limits).
        residuals: the residuals f_i as text (empty when the loss is not a sum of squares).
        variables: the variable names, in order.
        x0: the standard starting point.
        f_star: the minimum value (exact where ``f_star_text`` is exact).
        f_star_text: the minimum as published (its printed digits) or exact.
        x_star: minimisers as text, exact (``"pi"``, ``"1/7"``) or to the printed digits; all
            the global minimisers where there are finitely many, else representatives (see notes).
        n: the number of variables.
        m: the number of residuals (None for a loss that is not a sum of squares).
        citation: where the problem and its minimum are published.
        notes: discrepancies, local minima and where x_star comes from.

    >>> import taylorlr as tl
    >>> p = tl.problems.get("beale")
    >>> p.number, p.n, p.m, p.x0, p.f_star, p.x_star
    (5, 2, 3, (1.0, 1.0), 0.0, (('3', '1/2'),))
    >>> p.loss.value_at(p.x0)
    909/64
    """

    name: str
    title: str
    number: int | None = None
    expression: str
    residuals: tuple[str, ...] = ()
    variables: tuple[str, ...]
    x0: tuple[float, ...]
    f_star: float
    f_star_text: str
    x_star: tuple[tuple[str, ...], ...] = ()
    n: int
    m: int | None = None
    citation: str = MGH_CITATION
    notes: str = ""

    @cached_property
    def loss(self) -> Loss:
        """The loss, a :class:`taylorlr.Loss` over ``variables`` (built once per record)."""
        import sympy

        from taylorlr.loss import Loss
        from taylorlr.symbolic.parse import parse

        if not self.residuals:
            return Loss(self.expression, variables=self.variables)
        # residual by residual: a large problem's whole text is past the parser's length limit
        return Loss(sympy.Add(*(parse(r) ** 2 for r in self.residuals)), variables=self.variables)

    @property
    def minimizers(self) -> tuple[tuple[float, ...], ...]:
        """``x_star`` as floats."""
        from taylorlr.symbolic.points import exact_number

        return tuple(tuple(float(exact_number(c)) for c in point) for point in self.x_star)

    def at(self, point: Any) -> dict[str, Any]:
        """A point as a mapping of variable names (what ``tl.run`` and ``Loss.value_at`` take)."""
        values = tuple(point)
        return dict(zip(self.variables, values, strict=True))

    def __repr__(self) -> str:
        number = f" #{self.number}" if self.number is not None else ""
        size = f"n={self.n}" + (f", m={self.m}" if self.m is not None else "")
        return f"Problem({self.name!r}{number}, {size}, f*={self.f_star_text})"


def sum_of_squares(residuals: tuple[str, ...]) -> str:
    """The loss text ``(f_1)**2 + (f_2)**2 + ...`` of a least-squares problem."""
    return " + ".join(f"({r})**2" for r in residuals)
