"""Rigorous interval bounds of SymPy expressions over a box, for the certified smoothness constant.

Every bound comes from mpmath's interval context ``iv`` (outward rounded, so the true range is
always inside), and every node must be analytic on the whole box: a kink (``Abs``, ``sign``,
``Max`` ... whose argument can reach the switch point), a pole, or a logarithm or root of a
value that can be <= 0 raises :class:`Unbounded` with the reason. So a finite bound also proves
that the expression is smooth there, which is what Taylor's theorem needs.

>>> import sympy
>>> x, y = sympy.symbols("x y", real=True)
>>> enclosure(x**2 - 2*y, {x: (-1.0, 2.0), y: (0.0, 1.0)})
(-2.0, 4.0)
>>> hessian_bound(sympy.hessian(x**4 + y**2, (x, y)), {x: (-1.0, 1.0), y: (0.0, 1.0)})
12.0
>>> enclosure(abs(x), {x: (-1.0, 1.0)})
Traceback (most recent call last):
...
taylorlr.numerics.intervals.Unbounded: Abs(x) has a kink inside the box (its argument can be 0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: most distinct sub-expressions one bound may evaluate (larger losses get no certificate)
NODE_BUDGET = 50_000


class Unbounded(Exception):
    """An expression that interval arithmetic cannot bound, or that is not smooth, on the box.

    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> enclosure(1 / x, {x: (-1.0, 1.0)})
    Traceback (most recent call last):
    ...
    taylorlr.numerics.intervals.Unbounded: 1/x is not bounded on the box (a pole, or an overflow)
    """


class TooLarge(Unbounded):
    """An expression with more sub-expressions than :data:`NODE_BUDGET` (on any box).

    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> enclosure(sympy.Add(*[x**k for k in range(2, NODE_BUDGET + 3)], evaluate=False), {x: (0.0, 1.0)})
    Traceback (most recent call last):
    ...
    taylorlr.numerics.intervals.TooLarge: the expression is too large to bound (over 50000 sub-expressions)
    """


def enclosure(expr: Any, box: Mapping[Any, tuple[float, float]]) -> tuple[float, float]:
    """Floats (lo, hi) with lo <= expr(w) <= hi for every w in the box (symbol -> (lo, hi)).

    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> enclosure(sympy.sin(x), {x: (0.0, 1.0)})
    (0.0, 0.8414709848078966)
    >>> enclosure(x**2 - x, {x: (0.0, 2.0)})  # term by term: wider than the range [-1/4, 2]
    (-2.0, 4.0)
    """
    value = _Evaluator(box).bound(expr)
    lo, hi = _float(value.a, down=True), _float(value.b)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise Unbounded(f"{expr} is not bounded on the box (a pole, or an overflow)")
    return lo, hi


def check_smooth(expr: Any, box: Mapping[Any, tuple[float, float]]) -> None:
    """Raise :class:`Unbounded` unless every node of expr is analytic on the box (no float range needed).

    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> check_smooth(sympy.log(x), {x: (0.5, 1.0)})  # None: smooth
    >>> check_smooth(sympy.Abs(x), {x: (-1.0, 1.0)})
    Traceback (most recent call last):
    ...
    taylorlr.numerics.intervals.Unbounded: Abs(x) has a kink inside the box (its argument can be 0)
    """
    import mpmath

    value = _Evaluator(box).bound(expr)
    if not (mpmath.isfinite(_exact(value.a)) and mpmath.isfinite(_exact(value.b))):
        raise Unbounded(f"{expr} is not finite on the box (a pole)")


def hessian_bound(hessian: Any, box: Mapping[Any, tuple[float, float]]) -> float:
    """Gershgorin's bound max_i (sup H_ii + sum_{j != i} sup |H_ij|) >= lambda_max(H(w)) on the box.

    >>> import sympy
    >>> x, y = sympy.symbols("x y", real=True)
    >>> H = sympy.hessian(x**2 + 3*x*y**2, (x, y))  # [[2, 6y], [6y, 6x]]
    >>> hessian_bound(H, {x: (-1.0, 1.0), y: (-1.0, 1.0)})  # rows: 2 + 6 and 6 + 6
    12.0
    """
    from mpmath import iv

    evaluator = _Evaluator(box)
    n = hessian.shape[0]
    rows = []
    for i in range(n):
        total = iv.mpf(evaluator.bound(hessian[i, i]).b)
        for j in range(n):
            if j != i:
                total += abs(evaluator.bound(hessian[i, j])).b
        rows.append(_float(total.b))
    bound = max(rows)
    if not math.isfinite(bound):
        raise Unbounded("the Hessian is not bounded on the box (a pole, or an overflow)")
    return bound


def _float(point: Any, *, down: bool = False) -> float:
    """An interval end as a float, rounded outward (exact for 53-bit ends in the float range)."""
    exact = _exact(point)
    value = float(exact)
    if down and value > exact:
        return math.nextafter(value, -math.inf)
    if not down and value < exact:
        return math.nextafter(value, math.inf)
    return value


class _Evaluator:
    """The natural interval extension of an expression tree, memoised per sub-expression."""

    def __init__(self, box: Mapping[Any, tuple[float, float]]) -> None:
        from mpmath import iv

        self.iv = iv
        self.memo: dict[Any, Any] = {s: iv.mpf([float(lo), float(hi)]) for s, (lo, hi) in box.items()}

    def bound(self, expr: Any) -> Any:
        if expr not in self.memo:
            if len(self.memo) > NODE_BUDGET:
                raise TooLarge(f"the expression is too large to bound (over {NODE_BUDGET} sub-expressions)")
            self.memo[expr] = self._node(expr)
        return self.memo[expr]

    def _node(self, expr: Any) -> Any:
        import sympy

        iv = self.iv
        if expr.is_Symbol:
            raise Unbounded(f"the symbol {expr} has no range on the box")
        if expr.is_Integer:
            return iv.mpf(int(expr))
        if expr.is_Rational:
            return iv.mpf(int(expr.p)) / iv.mpf(int(expr.q))
        if expr.is_Atom:
            return _number(iv, expr)
        args = [self.bound(a) for a in expr.args]
        if isinstance(expr, sympy.Add):
            return sum(args[1:], args[0])
        if isinstance(expr, sympy.Mul):
            result = args[0]
            for other in args[1:]:
                result = result * other
            return result
        if isinstance(expr, sympy.Pow):
            return self._power(expr, *args)
        rule = _rule(type(expr))
        if rule is None:
            raise Unbounded(f"no interval rule for {type(expr).__name__} (in {expr})")
        return rule(iv, expr, args)

    def _power(self, expr: Any, base: Any, exponent: Any) -> Any:
        if expr.exp.is_Integer:
            return base ** int(expr.exp)
        if not base.a > 0:
            raise Unbounded(f"{expr} is not smooth where its base can be <= 0")
        return self.iv.exp(exponent * self.iv.log(base))


def _number(iv: Any, expr: Any) -> Any:
    import sympy

    if expr is sympy.pi:
        return iv.pi
    if expr is sympy.E:
        return iv.e
    value = sympy.N(expr, 40)
    if not value.is_real or not value.is_finite:
        raise Unbounded(f"the constant {expr} is not a finite real number")
    centre = iv.mpf(str(value))
    return centre + iv.mpf([-1, 1]) * (abs(centre).b * iv.mpf(10) ** -30)


# the rules for functions ------------------------------------------------------------------------


def _rule(cls: Any) -> Any:
    import sympy

    rules = {
        sympy.exp: lambda iv, e, a: iv.exp(a[0]),
        sympy.log: _log,
        sympy.sin: lambda iv, e, a: iv.sin(a[0]),
        sympy.cos: lambda iv, e, a: iv.cos(a[0]),
        sympy.tan: lambda iv, e, a: _finite(e, iv.tan(a[0])),
        sympy.cot: lambda iv, e, a: _finite(e, iv.cos(a[0]) / iv.sin(a[0])),
        sympy.sec: lambda iv, e, a: _finite(e, 1 / iv.cos(a[0])),
        sympy.csc: lambda iv, e, a: _finite(e, 1 / iv.sin(a[0])),
        sympy.Abs: _abs,
        sympy.sign: lambda iv, e, a: iv.mpf(_side(e, a[0])),
        sympy.Heaviside: lambda iv, e, a: iv.mpf(max(_side(e, a[0]), 0)),
        sympy.DiracDelta: lambda iv, e, a: iv.mpf(_side(e, a[0]) * 0),
        sympy.Max: lambda iv, e, a: _dominant(e, a, largest=True),
        sympy.Min: lambda iv, e, a: _dominant(e, a, largest=False),
        sympy.cosh: _cosh,
    }
    monotone = {
        sympy.atan: ("atan", 1, None),
        sympy.sinh: ("sinh", 1, None),
        sympy.tanh: ("tanh", 1, None),
        sympy.asinh: ("asinh", 1, None),
        sympy.erf: ("erf", 1, None),
        sympy.erfc: ("erfc", -1, None),
        sympy.atanh: ("atanh", 1, (-1, 1)),
        sympy.asin: ("asin", 1, (-1, 1)),
        sympy.acos: ("acos", -1, (-1, 1)),
        sympy.acosh: ("acosh", 1, (1, math.inf)),
    }
    if cls in monotone:
        name, direction, domain = monotone[cls]
        return lambda iv, e, a: _monotone(iv, e, a[0], name, direction, domain)
    return rules.get(cls)


def _finite(expr: Any, value: Any) -> Any:
    if not (math.isfinite(_float(value.a, down=True)) and math.isfinite(_float(value.b))):
        raise Unbounded(f"{expr} has a pole inside the box")
    return value


def _log(iv: Any, expr: Any, args: list[Any]) -> Any:
    if len(args) != 1 or not args[0].a > 0:
        raise Unbounded(f"{expr} is not smooth where its argument can be <= 0")
    return iv.log(args[0])


def _side(expr: Any, value: Any) -> int:
    """+1 or -1 when the argument keeps one strict sign on the box; else the kink is inside."""
    if value.a > 0:
        return 1
    if value.b < 0:
        return -1
    raise Unbounded(f"{expr} has a kink inside the box (its argument can be 0)")


def _abs(iv: Any, expr: Any, args: list[Any]) -> Any:
    return args[0] * _side(expr, args[0])


def _dominant(expr: Any, args: list[Any], *, largest: bool) -> Any:
    """Max (Min) of arguments one of which is strictly above (below) all others on the box."""
    for k, candidate in enumerate(args):
        others = [a for j, a in enumerate(args) if j != k]
        if all((candidate.a > o.b) if largest else (candidate.b < o.a) for o in others):
            return candidate
    raise Unbounded(f"{expr} has a kink inside the box (its arguments can cross)")


def _cosh(iv: Any, expr: Any, args: list[Any]) -> Any:
    value = args[0]
    top = _monotone(iv, expr, abs(value), "cosh", 1, None)
    return top if not (value.a < 0 < value.b) else iv.mpf([1, top.b])


def _monotone(iv: Any, expr: Any, value: Any, name: str, direction: int, domain: Any) -> Any:
    """A monotone function's range: its values at the ends, computed at 80 bits and widened."""
    import mpmath

    lo, hi = value.a, value.b
    if domain is not None and not (domain[0] < lo and hi < domain[1]):
        raise Unbounded(f"{expr} is not smooth on the box (its argument leaves {domain})")
    with mpmath.workprec(80):
        f = getattr(mpmath, name)
        ends = [f(mpmath.mpf(_exact(lo))), f(mpmath.mpf(_exact(hi)))]
        a, b = ends if direction > 0 else ends[::-1]
        slack = (abs(a) + abs(b)) * mpmath.mpf(2) ** -50 + mpmath.mpf(2) ** -1000
        return iv.mpf([a - slack, b + slack])


def _exact(point: Any) -> Any:
    from mpmath import mpf

    return mpf(point.a if hasattr(point, "a") else point)
