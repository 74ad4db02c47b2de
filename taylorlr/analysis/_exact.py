"""Exact real solutions of grad f = 0 for a polynomial loss: Groebner basis, shape form, root isolation.

A Groebner basis (grevlex, converted to lex by FGLM) of the radical ideal in shape position,
x_i = p_i(t) and q(t) = 0 for a separating linear form t, then real-root isolation of each
irreducible factor h of q. Every internal symbol is a :class:`sympy.Dummy`, so no variable
name a user can type collides with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sympy

from taylorlr.analysis.result import DIGITS as _DIGITS

#: the separating coordinate t of the shape form (a Dummy: no user variable can be it)
T = sympy.Dummy("t", real=True)
_T = T


# exact solutions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AlgebraicPoint:
    """Coordinates x_i = reps[i](r) at a real root r of the irreducible polynomial ``h`` in _T."""

    h: sympy.Poly
    reps: tuple[sympy.Poly, ...]
    root: sympy.Expr
    variables: tuple[sympy.Symbol, ...] = field(repr=False)

    def reduce(self, expr: sympy.Expr) -> sympy.Poly:
        """expr (a polynomial in the variables and _T) at the point: a polynomial in _T of degree < deg h."""
        poly = sympy.Poly(expr, *self.variables, _T)
        total = sympy.Poly(0, _T)
        for monom, coefficient in poly.terms():
            term = sympy.Poly(coefficient * _T ** monom[-1], _T)
            for rep, e in zip(self.reps, monom[:-1], strict=False):
                term = (term * rep**e).rem(self.h) if e else term
            total += term
        return total.rem(self.h)

    def evaluate(self, reduced: sympy.Poly) -> sympy.Expr:
        """The exact value of a reduced polynomial at the root (closed form up to degree 2)."""
        if reduced.is_zero:
            return sympy.Integer(0)
        if self.h.degree() == 1:
            return reduced.eval(self.root)
        value = reduced.as_expr().xreplace({_T: self.root})
        return sympy.radsimp(sympy.expand(value)) if self.h.degree() == 2 else value

    def sign(self, expr: sympy.Expr) -> int:
        """The exact sign of expr at the point (zero exactly when h divides it)."""
        reduced = self.reduce(expr)
        if reduced.is_zero:
            return 0
        if self.h.degree() == 1:
            return int(sympy.sign(reduced.eval(self.root)))
        digits = 2 * _DIGITS
        while True:  # reduced(root) != 0 because h is irreducible: refine until the sign shows
            value = sympy.Poly(reduced, _T).eval(sympy.Float(self.root.evalf(digits), digits))
            if abs(value) > sympy.Float(10) ** (8 - digits) or digits > 2000:
                return 1 if value > 0 else -1
            digits *= 2

    def approximate(self, digits: int = _DIGITS) -> tuple[sympy.Float, ...]:
        """The coordinates to ``digits`` significant digits (from the refined root)."""
        root = sympy.Float(self.root.evalf(digits + 10), digits + 10)
        return tuple(
            sympy.Float(r.eval(root), digits) if not r.is_zero else sympy.Float(0) for r in self.reps
        )

    @property
    def coordinates(self) -> tuple[sympy.Expr, ...]:
        return tuple(self.evaluate(r) for r in self.reps)


def real_solutions(basis: Any, variables: tuple[sympy.Symbol, ...]) -> list[AlgebraicPoint]:
    shape = _shape_form(basis, variables, variables[-1])
    if shape is None:
        radical = _radical(basis, variables)
        shape = _separated_shape(radical, variables)
    reps, q = shape
    result = []
    for factor, _ in sympy.factor_list(q.as_expr(), _T)[1]:
        h = sympy.Poly(factor, _T)
        reduced = tuple(r.rem(h) for r in reps)
        for root in h.real_roots(radicals=True):
            result.append(AlgebraicPoint(h, reduced, root, variables))
    return result


def _shape_form(
    basis: Any, variables: tuple[sympy.Symbol, ...], last: sympy.Symbol
) -> tuple[tuple[sympy.Poly, ...], sympy.Poly] | None:
    """x_i = p_i(last), q(last) = 0 from a lex basis, or None when not in shape position."""
    lex = basis.fglm("lex").exprs
    others = [v for v in variables if v != last]
    if len(lex) != len(others) + 1:
        return None
    reps: dict[sympy.Symbol, sympy.Expr] = {}
    for poly, var in zip(lex[:-1], others, strict=True):
        p = sympy.Poly(poly, var)
        if p.degree() != 1 or not p.LC().is_number or p.LC().free_symbols:
            return None
        reps[var] = -p.nth(0) / p.LC()
    reps[last] = last
    as_t = {last: _T}
    polys = tuple(sympy.Poly(sympy.expand(reps[v]).xreplace(as_t), _T) for v in variables)
    if any(set(p.free_symbols) - {_T} for p in polys):
        return None
    return polys, sympy.Poly(lex[-1].xreplace(as_t), _T)


def _radical(basis: Any, variables: tuple[sympy.Symbol, ...]) -> Any:
    """Seidenberg: I + <squarefree part of the eliminant of each variable> is radical."""
    extra = []
    for var in variables:
        order = [v for v in variables if v != var] + [var]
        eliminant = sympy.groebner(basis.exprs, *order, order="grevlex").fglm("lex").exprs[-1]
        extra.append(sympy.sqf_part(eliminant))
    return sympy.groebner(list(basis.exprs) + extra, *variables, order="grevlex")


def _separated_shape(
    radical: Any, variables: tuple[sympy.Symbol, ...]
) -> tuple[tuple[sympy.Poly, ...], sympy.Poly]:
    """The shape form for t = sum c_i x_i, trying small integer c until t separates the points."""
    for c in _separating_candidates(len(variables)):
        s = sympy.Dummy("s", real=True)
        form = s - sum(ci * v for ci, v in zip(c, variables, strict=True))
        basis = sympy.groebner([*radical.exprs, form], *variables, s, order="grevlex")
        shape = _shape_form(basis, (*variables, s), s)
        if shape is not None:
            return shape[0][:-1], shape[1]
    raise ArithmeticError("no separating linear form found among small integer forms")


def _separating_candidates(n: int) -> Iterator[tuple[int, ...]]:
    for k in range(1, 8):
        yield tuple(k**i for i in range(n))
