"""Hypothesis strategies: random polynomials, smooth expressions, SPD quadratics and points."""

from __future__ import annotations

import sympy
from hypothesis import strategies as st

X, Y, Z = sympy.symbols("x y z", real=True)
SYMBOLS = (X, Y, Z)

small_rationals = st.builds(sympy.Rational, st.integers(-9, 9), st.integers(1, 5))
coordinates = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)


@st.composite
def polynomials(
    draw: st.DrawFn, variables: tuple[sympy.Symbol, ...] = SYMBOLS, max_degree: int = 4
) -> sympy.Expr:
    """A random polynomial with rational coefficients in ``variables`` (at least one present)."""
    n_terms = draw(st.integers(1, 6))
    terms = []
    for _ in range(n_terms):
        coefficient = draw(small_rationals.filter(lambda c: c != 0))
        powers = [draw(st.integers(0, max_degree)) for _ in variables]
        terms.append(coefficient * sympy.Mul(*(v**p for v, p in zip(variables, powers, strict=True))))
    linear = draw(st.sampled_from(variables))  # make sure a variable appears
    return sympy.Add(*terms) + linear


_UNARY = (sympy.sin, sympy.cos, sympy.exp, sympy.tanh, sympy.atan)


@st.composite
def smooth_expressions(draw: st.DrawFn, depth: int = 3) -> sympy.Expr:
    """A random smooth expression tree in x, y, z (defined everywhere on the reals)."""
    if depth == 0 or draw(st.booleans()):
        return draw(st.one_of(st.sampled_from(SYMBOLS), small_rationals))
    kind = draw(st.sampled_from(("add", "mul", "pow", "fn")))
    left = draw(smooth_expressions(depth=depth - 1))
    if kind == "fn":
        return draw(st.sampled_from(_UNARY))(left)
    if kind == "pow":
        return left ** draw(st.integers(0, 3))
    right = draw(smooth_expressions(depth=depth - 1))
    return left + right if kind == "add" else left * right


def points(n: int) -> st.SearchStrategy[tuple[float, ...]]:
    return st.tuples(*([coordinates] * n))
