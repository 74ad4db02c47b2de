"""Bounded below? A proof either way where one is found, else evidence from probed lines.

*Bounded, proved from the form of f* (:func:`lower_bound`): f is a constant c plus terms that
SymPy proves non-negative (a sum of squares with positive coefficients, even powers, products of
them), so f >= c. *Bounded, proved from the critical points*: a polynomial that tends to +inf in
every direction (:func:`coercive`) attains its minimum at a critical point, so when every
critical point is known exactly, the lowest critical value is min f. Where a critical point
attains the proved bound exactly, it is a global minimiser.

*Unbounded, proved along a line*: along a line through the origin, f(t d) is a univariate
polynomial in t (an expansion of degree at most deg f, whatever the number of variables): when it
has odd degree, or even degree with a negative leading coefficient, f -> -inf along +d or -d. The
witness point is found by doubling an exact integer t until f(t d) is below the lowest critical
value minus one (exact arithmetic: a float t would double to inf). Every probe checks the budget;
when it runs out, the numeric probe answers (evidence, not proof).

>>> import taylorlr as tl
>>> lower_bound(tl.Loss("100*(y - x**2)**2 + (1 - x)**2 - 3"))[0]
-3
>>> coercive(tl.Loss("x**4 - 2*x**2")), coercive(tl.Loss("x**4 - 4*x**2*y**2 + y**4"))
(True, False)
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

#: terms of a sum proved non-negative between two checks of the budget (about 65 ms)
TERMS_PER_CHECK = 1024
#: the most doublings of t searched for a witness point (t up to 2**MAX_DOUBLINGS)
MAX_DOUBLINGS = 4096


def bounded_below(
    loss: Loss, points: list[CriticalPoint], probes: int, *, complete: bool = False
) -> BoundedBelow:
    """A proof that f is bounded below (from its form, or from ``complete``: every critical point
    known exactly), else one that it is not (along lines through the origin, for polynomials), else
    evidence from lines through the lowest point."""
    lowest = min(points, key=lambda p: float(p.value)) if points else None
    base = lowest.floats if lowest is not None else (0.0,) * loss.n
    directions = probe_directions(loss.n, limit=probes)
    bounded = _bounded(loss, lowest, complete, lambda: _lowest_probe(loss, base, directions))
    if bounded is not None:
        return bounded
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


def _bounded(
    loss: Loss, lowest: CriticalPoint | None, complete: bool, probe: Callable[[], BoundedBelow]
) -> BoundedBelow | None:
    """f >= bound, proved; the lowest known point beside it: a critical point that attains the bound
    (a global minimiser), else the lowest critical point, else the lowest value the probe saw."""
    exact = lowest is not None and lowest.exact
    if complete and lowest is not None and exact and coercive(loss):
        reason = "f is a coercive polynomial and its critical points are all known: the lowest is min f"
        return _proved(lowest.value, reason, lowest.point, lowest.value)
    proved = lower_bound(loss)
    if proved is None:
        return None
    bound, reason = proved
    if lowest is not None:
        return _proved(bound, reason, lowest.point, lowest.value if exact else float(lowest.value))
    seen = probe()
    return _proved(bound, reason, seen.point, seen.value)


def _proved(bound: Any, reason: str, point: Any, value: Any) -> BoundedBelow:
    """A proved bound; attained when ``value`` (exact) equals it exactly."""
    exactly = not isinstance(value, float)  # an exact critical point (floats: a numeric one, or a probe)
    exact = sympy.sympify(bound)
    return BoundedBelow(
        verdict=Boundedness.BOUNDED, proof=True, point=tuple(float(c) for c in point),
        value=_float(sympy.sympify(value)), direction=None, probes=0, bound=_float(exact),
        bound_exact=str(exact), point_exact=tuple(str(c) for c in point) if exactly else None,
        attained=exactly and exactly_equal(value, bound), reason=reason,
    )  # fmt: skip


def lower_bound(loss: Loss) -> tuple[sympy.Expr, str] | None:
    """(c, why) with f >= c proved from the form of f: a constant plus terms each of which SymPy
    proves non-negative (None when it cannot: SymPy's assumptions are sound, so True is a proof).

    Term by term (a sum of non-negative terms is non-negative): SymPy's own question on the whole
    sum costs about the square of its terms (4.8 s at 999 terms; term by term 0.07 s). The budget
    is checked every :data:`TERMS_PER_CHECK` terms, so a small loss gets its proof even when the
    critical points spent the budget; a large one past it gets none (the probes answer).
    """
    try:
        constant, rest = loss.expr.as_coeff_Add()
        if not constant.is_finite:
            return None
        for k, term in enumerate(sympy.Add.make_args(rest)):
            if k % TERMS_PER_CHECK == TERMS_PER_CHECK - 1:
                _budget.check()
            if not _nonnegative(term):
                return None
    except (TypeError, ValueError, RecursionError, BudgetExceededError):
        return None
    return constant, f"f >= {constant} (its terms beyond the constant are proved non-negative)"


def _nonnegative(term: sympy.Expr) -> bool:
    """Whether ``term`` >= 0 is proved: a product of non-negative factors or an even power of a real,
    settled from the tree first (SymPy's question on an even power asks whether its base can be zero,
    which costs milliseconds for a base such as ``y - x**2``), else by SymPy's assumptions (sound)."""
    factors = sympy.Mul.make_args(term)
    if all(_even_power(f) or (f.is_Number and f >= 0) for f in factors):
        return True
    return term.is_nonnegative is True


def _even_power(node: sympy.Expr) -> bool:
    even = node.is_Pow and node.exp.is_Integer and node.exp > 0 and node.exp % 2 == 0
    return bool(even and node.base.is_extended_real)


def coercive(loss: Loss) -> bool:
    """A polynomial that tends to +inf in every direction, by a sufficient test on its monomials.

    Each variable x_i needs a pure power x_i^D_i of even degree D_i with a positive coefficient
    a_i, the highest pure power of x_i. Every other monomial c x^alpha that can be negative has
    weight w = sum alpha_i / D_i: w < 1 is dominated at infinity; w = 1 is bounded by weighted
    AM-GM, |x^alpha| <= sum (alpha_i / D_i) |x_i|^D_i, and takes |c| alpha_i / D_i of a_i; w > 1
    fails. Coercive when every a_i keeps a positive remainder. It expands f: call it on a
    polynomial whose exact critical points were found (the expansion was affordable then).
    """
    if not loss.is_polynomial:
        return False
    terms = sympy.Poly(loss.expr, *loss.variables).terms()
    degree, lead = [0] * loss.n, [sympy.Integer(0)] * loss.n
    for monomial, coefficient in terms:
        used = [i for i, e in enumerate(monomial) if e]
        if len(used) == 1 and monomial[used[0]] > degree[used[0]]:
            degree[used[0]], lead[used[0]] = monomial[used[0]], coefficient
    if any(d == 0 or d % 2 or a <= 0 for d, a in zip(degree, lead, strict=True)):
        return False
    budget = list(lead)
    for monomial, coefficient in terms:
        used = [i for i, e in enumerate(monomial) if e]
        if len(used) == 1 and monomial[used[0]] == degree[used[0]]:
            continue
        if coefficient > 0 and all(e % 2 == 0 for e in monomial):
            continue  # never negative
        weight = sum(sympy.Rational(e, d) for e, d in zip(monomial, degree, strict=True))
        if weight > 1:
            return False
        if weight == 1:
            for i in used:
                budget[i] -= abs(coefficient) * sympy.Rational(monomial[i], degree[i])
    return all(b > 0 for b in budget)


def exactly_equal(a: Any, b: Any) -> bool:
    """Whether two exact numbers are equal, proved (SymPy's ``equals`` settles algebraic forms)."""
    difference = sympy.sympify(a) - sympy.sympify(b)
    return bool(difference == 0 or difference.equals(0) is True)


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
