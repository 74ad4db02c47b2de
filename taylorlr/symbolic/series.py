"""Taylor polynomials by Taylor-mode propagation: truncated series along the ray, order by order.

f(a + t (x - a)) is expanded in t, node by node of the expression tree, as a list of parts
p_0..p_N (p_k is the coefficient of t^k: a polynomial in x with (x - a)'s degree k), and the
polynomial is their sum at t = 1. Sums and products
combine parts; exp, sin, cos, sinh, cosh, log and powers follow their ODE recurrences (exp:
e_k = (1/k) sum j u_j e_{k-j}; powers: J.C.P. Miller's), every other function composes its
univariate derivatives at the point. Constants that are not rational (sin(1/21), sqrt(2), ...)
are generators of the polynomial ring, put back at the end. The cost is polynomial in the order
(about N^4/24 coefficient products for two variables), where differentiating f(a + t h) N
times grows the expression at every order; the budget is checked between parts.

Anything this path does not cover (an exponent that is not a rational number, a point where a
function is not analytic, a function of two arguments) raises :class:`Unsupported`, and the
caller takes the plain derivative route, which gives the typed error where there is one.

>>> x, y = sympy.symbols("x y", real=True)
>>> taylor_series(sympy.exp(x*y), (x, y), (0, 0), 4)
x**2*y**2/2 + x*y + 1
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import sympy
from sympy.polys.rings import PolyElement, ring

from taylorlr import _budget

__all__ = ["Unsupported", "taylor_series"]


class Unsupported(Exception):
    """This expression (or this point) needs the plain derivative route."""


_NOT_A_VALUE = (
    sympy.zoo, sympy.nan, sympy.oo, -sympy.oo, sympy.I, sympy.DiracDelta, sympy.Derivative, sympy.Subs
)  # fmt: skip


def taylor_series(
    expr: sympy.Expr, variables: Sequence[sympy.Symbol], a: Sequence[sympy.Expr], order: int
) -> sympy.Expr:
    """The expanded Taylor polynomial of ``expr`` of degree ``order`` at ``a``, or :class:`Unsupported`."""
    constants = _Constants()
    values = _values(expr, {v: sympy.sympify(c) for v, c in zip(variables, a, strict=True)}, constants, order)
    names = tuple(sympy.Dummy(v.name) for v in variables)  # the ring's copies of the variables
    R, *gens = ring([*names, *constants.symbols], sympy.QQ)
    propagate = _Propagation(R, order, values, constants, dict(zip(variables, gens, strict=False)))
    parts = propagate(expr)
    total = R(0)
    for part in parts:
        total += part
    return _as_expr(total, (*variables, *constants.values().values()))


def _as_expr(polynomial: PolyElement, atoms: Sequence[sympy.Expr]) -> sympy.Expr:
    """The ring element as an expanded SymPy sum, term by term (no ``expand`` of the whole)."""
    _budget.check_size(len(polynomial), "terms of the Taylor polynomial")
    started = time.monotonic()
    terms = []
    for count, (monom, coefficient) in enumerate(polynomial.terms()):
        if count % 256 == 0:
            _budget.check()
        factors = [atom**e for atom, e in zip(atoms, monom, strict=True) if e]
        terms.append(sympy.Mul(sympy.Rational(coefficient.numerator, coefficient.denominator), *factors))
    # SymPy's Add of all the terms cannot be interrupted: it costs about a third of building them
    _budget.reserve((time.monotonic() - started) / 2, "summing the terms")
    return sympy.Add(*terms)


class _Constants:
    """Non-rational constants as ring generators: sin(1/21) -> a Dummy, 1/cos(1/21) -> another."""

    def __init__(self) -> None:
        self.atoms: dict[sympy.Expr, sympy.Dummy] = {}

    @property
    def symbols(self) -> list[sympy.Dummy]:
        return list(self.atoms.values())

    def values(self) -> dict[sympy.Dummy, sympy.Expr]:
        return {d: c for c, d in self.atoms.items()}

    def polynomial(self, value: sympy.Expr) -> sympy.Expr:
        """``value`` as a polynomial with rational coefficients in generator Dummies."""
        if value.is_Rational:
            return value
        if not value.is_number or value.has(*_NOT_A_VALUE):
            raise Unsupported(f"the constant {value} is not a finite real number")
        if isinstance(value, (sympy.Add, sympy.Mul)):
            return value.func(*(self.polynomial(arg) for arg in value.args))
        if isinstance(value, sympy.Pow) and value.exp.is_Integer and value.exp > 0:
            return self.polynomial(value.base) ** value.exp
        if value.is_extended_real is False:
            raise Unsupported(f"the constant {value} is not real")
        if value not in self.atoms:
            self.atoms[value] = sympy.Dummy("c")
        return self.atoms[value]


def _values(expr: sympy.Expr, at: dict, constants: _Constants, order: int) -> dict[sympy.Expr, Any]:
    """Each node's value at the point, and the constants its rule needs, registered as generators."""
    table: dict[sympy.Expr, Any] = {}

    def visit(node: sympy.Expr) -> sympy.Expr:
        if node in table:
            return table[node][0]
        _budget.check()
        value = node.xreplace(at) if not node.args else node.func(*(visit(arg) for arg in node.args))
        rule = _rule_constants(node, [table[arg][0] for arg in node.args], constants, order)
        if node in at:
            rule = constants.polynomial(value)
        table[node] = (value, rule)
        return value

    visit(expr)
    return table


def _rule_constants(node: sympy.Expr, args: list[sympy.Expr], constants: _Constants, order: int) -> Any:
    """The constants (as generator polynomials) that the rule of ``node`` uses."""
    if not node.args:
        return None if isinstance(node, sympy.Symbol) else constants.polynomial(node)
    if isinstance(node, (sympy.Add, sympy.Mul)):
        return None
    if isinstance(node, sympy.Pow):
        base, exponent = args
        if node.exp.free_symbols or not node.exp.is_Rational:
            raise Unsupported("a variable or irrational exponent")
        if node.exp.is_Integer and node.exp >= 0 and base == 0:
            return None  # binary powering (Miller's recurrence divides by the base's value)
        if base == 0:
            raise Unsupported("a fractional or negative power at its base's zero")
        return constants.polynomial(base**exponent), constants.polynomial(1 / base)
    if len(args) != 1:
        raise Unsupported(f"{type(node).__name__} of several arguments")
    (u0,) = args
    if isinstance(node, sympy.log):
        if u0 == 0 or u0.is_extended_negative:
            raise Unsupported("log at or below 0")
        return constants.polynomial(sympy.log(u0)), constants.polynomial(1 / u0)
    if isinstance(node, (sympy.sin, sympy.cos)):
        return constants.polynomial(sympy.sin(u0)), constants.polynomial(sympy.cos(u0))
    if isinstance(node, (sympy.sinh, sympy.cosh)):
        return constants.polynomial(sympy.sinh(u0)), constants.polynomial(sympy.cosh(u0))
    if isinstance(node, sympy.exp):
        return (constants.polynomial(sympy.exp(u0)),)
    if isinstance(node, sympy.Abs):
        return (constants.polynomial(_sign(u0)),)
    z = sympy.Dummy("z", real=True)
    derivative, result = node.func(z), []
    for k in range(order + 1):
        _budget.check()
        result.append(constants.polynomial(derivative.xreplace({z: u0}) / sympy.factorial(k)))
        derivative = sympy.diff(derivative, z)
    return tuple(result)


def _sign(u0: sympy.Expr) -> sympy.Expr:
    sign = sympy.sign(u0)
    if sign not in (1, -1):
        raise Unsupported("abs at its kink")
    return sign


class _Propagation:
    """The parts p_0..p_N of every node (memoised), in the ring."""

    def __init__(self, R: Any, order: int, values: dict, constants: _Constants, variables: dict) -> None:
        self.R, self.N, self.values, self.variables = R, order, values, variables
        self.memo: dict[sympy.Expr, list[PolyElement]] = {}

    def constant(self, polynomial: sympy.Expr) -> PolyElement:
        return self.R(polynomial)

    def __call__(self, node: sympy.Expr) -> list[PolyElement]:
        if node not in self.memo:
            parts = self._parts(node)
            _budget.check_size(sum(len(p) for p in parts), "terms of a subexpression's Taylor polynomial")
            self.memo[node] = parts
        return self.memo[node]

    def _parts(self, node: sympy.Expr) -> list[PolyElement]:
        R, N = self.R, self.N
        zero = [R(0)] * (N + 1)
        if node in self.variables:
            value = self.constant(self.values[node][1])
            return [value, self.variables[node] - value, *zero[2:]][: N + 1]
        if not node.args:
            return [self.constant(self.values[node][1]), *zero[1:]]
        if isinstance(node, sympy.Add):
            return self._fold(node.args, lambda p, q: [x + y for x, y in zip(p, q, strict=True)])
        if isinstance(node, sympy.Mul):
            return self._fold(node.args, self.multiply)
        constants = self.values[node][1]
        if isinstance(node, sympy.Pow):
            base = self(node.base)
            if constants is None:
                return self.power(base, int(node.exp)) if node.exp <= N else zero
            return self.miller(base, sympy.Rational(node.exp), *map(self.constant, constants))
        u = self(node.args[0])
        if isinstance(node, (sympy.sin, sympy.cos, sympy.sinh, sympy.cosh)):
            hyperbolic = isinstance(node, (sympy.sinh, sympy.cosh))
            s, c = self.trig(u, *map(self.constant, constants), hyperbolic=hyperbolic)
            return s if isinstance(node, (sympy.sin, sympy.sinh)) else c
        if isinstance(node, sympy.exp):
            return self.exponential(u, self.constant(constants[0]))
        if isinstance(node, sympy.log):
            return self.logarithm(u, *map(self.constant, constants))
        if isinstance(node, sympy.Abs):
            sign = self.constant(constants[0])
            return [sign * p for p in u]
        return self.compose(u, [self.constant(c) for c in constants])

    def _fold(self, args: Sequence[sympy.Expr], combine: Callable[[Any, Any], Any]) -> list[PolyElement]:
        result = self(args[0])
        for arg in args[1:]:
            _budget.check()
            result = combine(result, self(arg))
        return result

    def multiply(self, p: list[PolyElement], q: list[PolyElement]) -> list[PolyElement]:
        result = []
        for k in range(self.N + 1):
            _budget.check()
            total = self.R(0)
            for j in range(k + 1):
                if p[j] and q[k - j]:
                    _budget.check()
                    total += p[j] * q[k - j]
            result.append(total)
        return result

    def power(self, p: list[PolyElement], n: int) -> list[PolyElement]:
        result = [self.R(1)] + [self.R(0)] * self.N
        while n:
            if n & 1:
                result = self.multiply(result, p)
            n >>= 1
            if n:
                p = self.multiply(p, p)
        return result

    def miller(
        self, u: list[PolyElement], r: sympy.Rational, value: PolyElement, inverse: PolyElement
    ) -> list[PolyElement]:
        """p = u^r: u_0 k p_k = sum_{j=1..k} ((r + 1) j - k) u_j p_{k-j}."""
        p = [value]
        for k in range(1, self.N + 1):
            _budget.check()
            total = self.R(0)
            for j in range(1, k + 1):
                factor = (r + 1) * j - k
                if factor and u[j] and p[k - j]:
                    total += u[j] * p[k - j] * self.R(factor)
            p.append(total * inverse * self.R(sympy.Rational(1, k)))
        return p

    def exponential(self, u: list[PolyElement], value: PolyElement) -> list[PolyElement]:
        e = [value]
        for k in range(1, self.N + 1):
            _budget.check()
            total = self.R(0)
            for j in range(1, k + 1):
                if u[j] and e[k - j]:
                    _budget.check()
                    total += u[j] * e[k - j] * j
            e.append(total * self.R(sympy.Rational(1, k)))
        return e

    def trig(
        self, u: list[PolyElement], s0: PolyElement, c0: PolyElement, *, hyperbolic: bool
    ) -> tuple[list[PolyElement], list[PolyElement]]:
        """sin/cos (or sinh/cosh): s' = u' c, c' = -u' s (c' = u' s when hyperbolic)."""
        s, c = [s0], [c0]
        sign = 1 if hyperbolic else -1
        for k in range(1, self.N + 1):
            _budget.check()
            ds, dc = self.R(0), self.R(0)
            for j in range(1, k + 1):
                if u[j]:
                    _budget.check()
                    ds += u[j] * c[k - j] * j
                    dc += u[j] * s[k - j] * j
            s.append(ds * self.R(sympy.Rational(1, k)))
            c.append(dc * self.R(sympy.Rational(sign, k)))
        return s, c

    def logarithm(self, u: list[PolyElement], value: PolyElement, inverse: PolyElement) -> list[PolyElement]:
        """l = log u: u_0 k l_k = k u_k - sum_{j=1..k-1} j l_j u_{k-j}."""
        log = [value]
        for k in range(1, self.N + 1):
            _budget.check()
            total = u[k] * k
            for j in range(1, k):
                if log[j] and u[k - j]:
                    total -= log[j] * u[k - j] * j
            log.append(total * inverse * self.R(sympy.Rational(1, k)))
        return log

    def compose(self, u: list[PolyElement], coefficients: list[PolyElement]) -> list[PolyElement]:
        """phi(u) = sum_k phi^(k)(u_0)/k! (u - u_0)^k, by Horner's rule on the truncated series."""
        shifted = [self.R(0), *u[1:]]
        result = [coefficients[-1]] + [self.R(0)] * self.N
        for coefficient in reversed(coefficients[:-1]):
            result = self.multiply(result, shifted)
            result[0] += coefficient
        return result
