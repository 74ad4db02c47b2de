"""Bounded below? Probe f along lines: an exact proof of unboundedness for polynomials, else evidence.

Along a line through the origin, f(t d) is a univariate polynomial in t (an expansion of degree
at most deg f, whatever the number of variables): when it has odd degree, or even degree with a
negative leading coefficient, f -> -inf along +d or -d, a proof. The witness point is found by
doubling an exact integer t until f(t d) is below the lowest critical value minus one (exact
arithmetic: a float t would double to inf). Every probe checks the budget; when it runs out, the
numeric probe answers (evidence, not proof).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sympy

from taylorlr import _budget
from taylorlr.analysis._classify import probe_directions
from taylorlr.analysis.result import BoundedBelow, Boundedness, CriticalPoint
from taylorlr.errors import BudgetExceededError

if TYPE_CHECKING:
    from taylorlr.loss import Loss

#: the most doublings of t searched for a witness point (t up to 2**MAX_DOUBLINGS)
MAX_DOUBLINGS = 4096


def bounded_below(loss: Loss, points: list[CriticalPoint], probes: int) -> BoundedBelow:
    """Probe f along lines through the origin (exact for polynomials), else through the lowest point."""
    lowest = min(points, key=lambda p: float(p.value)) if points else None
    base = lowest.floats if lowest is not None else (0.0,) * loss.n
    directions = probe_directions(loss.n, limit=probes)
    if loss.is_polynomial:
        try:
            for d in directions:
                _budget.check()
                unbounded = _unbounded_along(loss, d, lowest)
                if unbounded is not None:
                    return unbounded
        except BudgetExceededError:
            pass  # the numeric probe below answers: evidence, not proof
    return _lowest_probe(loss, base, directions)


def _unbounded_along(loss: Loss, d: tuple[int, ...], lowest: CriticalPoint | None) -> BoundedBelow | None:
    degree, lead, line = _line(loss, d)
    if degree <= 0 or (degree % 2 == 0 and lead > 0):
        return None
    scale = 1 if lead < 0 else -1
    start = line(sympy.Integer(0))
    target = min(start, sympy.Rational(float(lowest.value)) if lowest is not None else start) - 1
    step = sympy.Integer(1)
    for _ in range(MAX_DOUBLINGS):
        _budget.check()
        value = line(scale * step)
        if value < target:
            return BoundedBelow(
                verdict=Boundedness.UNBOUNDED, proof=True,
                point=tuple(_float(scale * step * di) for di in d), value=_float(value),
                direction=tuple(float(scale * x) for x in d), probes=1,
            )  # fmt: skip
        step *= 2
    return None


def _line(loss: Loss, d: tuple[int, ...]) -> tuple[int, sympy.Expr, Callable[[sympy.Expr], sympy.Expr]]:
    """f(t d): its degree, leading coefficient and values, from the expression tree evaluated in Q[t]."""
    ring, T = _RING
    along = {v: T * di for v, di in zip(loss.variables, d, strict=True)}
    memo: dict[sympy.Expr, Any] = {}

    def value(node: sympy.Expr) -> Any:
        if node not in memo:
            memo[node] = _evaluate(node, along, ring, value)
        return memo[node]

    try:
        p = value(loss.expr)
    except (sympy.CoercionFailed, TypeError):  # floats or constants like pi: SymPy's own expansion
        t = sympy.Dummy("t", real=True)
        poly = sympy.Poly(loss.expr.xreplace({v: di * t for v, di in zip(loss.variables, d, strict=True)}), t)
        return poly.degree(), poly.LC(), poly.eval
    to_sympy = ring.domain.to_sympy
    degree = p.degree() if p else -1
    return degree, to_sympy(p.LC), lambda at: to_sympy(p(int(at)))


#: the ring Q[t] the lines are evaluated in
_RING = sympy.polys.rings.ring([sympy.Dummy("t", real=True)], sympy.QQ)


def _evaluate(node: sympy.Expr, along: dict, ring: Any, value: Any) -> Any:
    if node in along:
        return along[node]
    if isinstance(node, sympy.Add):
        return sum((value(a) for a in node.args), ring(0))
    if isinstance(node, sympy.Mul):
        product = ring(1)
        for a in node.args:
            product *= value(a)
        return product
    if isinstance(node, sympy.Pow) and node.exp.is_Integer and node.exp >= 0:
        return value(node.base) ** int(node.exp)
    if node.is_Rational:
        return ring(node)
    raise TypeError(f"not a rational polynomial node: {node}")


def _float(value: sympy.Expr) -> float:
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def _lowest_probe(loss: Loss, base: tuple[float, ...], directions: list[tuple[int, ...]]) -> BoundedBelow:
    import numpy

    compiled = loss.compile()
    steps = numpy.geomspace(1e-2, 1e4, 25)
    D = numpy.asarray(directions, dtype=float)
    W = numpy.asarray(base)[None, None, :] + steps[None, :, None] * D[:, None, :]
    with numpy.errstate(all="ignore"):
        values = numpy.asarray(compiled.value(W))
    values = numpy.where(numpy.isfinite(values), values, numpy.inf)
    i, j = numpy.unravel_index(int(numpy.argmin(values)), values.shape)
    return BoundedBelow(
        verdict=Boundedness.NO_EVIDENCE, proof=False, point=tuple(float(x) for x in W[i, j]),
        value=float(values[i, j]), direction=None, probes=len(directions),
    )  # fmt: skip
