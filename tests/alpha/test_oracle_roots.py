"""The compiled root loop's arithmetic without the C library: cubics of known roots, random cubics
against exact roots, the cube root bounded by square roots (against NumPy's cbrt)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from taylorlr.alpha import _line_roots
from taylorlr.alpha.oracle import _NumPyMath

simd = pytest.importorskip("taylorlr.compile.simd_codegen")
pytestmark = pytest.mark.skipif(not simd.available(), reason="no llvmlite")


def exact_choice(p: np.ndarray, roots: list[float]) -> float | None:
    """The minimiser of G = integral of p (ascending coefficients; ``roots`` its real roots) that the
    loop must pick: of the roots where p rises, the lowest G among the positive ones, else the
    negative one nearest 0; NaN where there is none, None when two positive minima have G within
    1e-6 (either is right to rounding)."""
    poly = np.polynomial.polynomial
    minima = [r for r in roots if poly.polyval(r, poly.polyder(p)) > 0]
    positive = sorted((poly.polyval(r, poly.polyint(p)), r) for r in minima if r > 0)
    if len(positive) > 1 and positive[1][0] - positive[0][0] <= 1e-6 * (1 + abs(positive[0][0])):
        return None
    if positive:
        return positive[0][1]
    return max(minima) if minima else float("nan")


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    st.floats(0.05, 20.0) | st.floats(-20.0, -0.05),
    st.lists(st.floats(-4.0, 4.0), min_size=1, max_size=3),
    st.none() | st.tuples(st.floats(-4.0, 4.0), st.floats(0.05, 4.0)),
)
@example(1.0, [-1.0, 0.5, 2.0], None)  # three real roots: the smallest and the largest minimise G
@example(-3.0, [-1.0, 0.5, 2.0], None)  # a falling cubic: the middle root only
@example(2.0, [0.7], (0.1, 1.5))  # one real root, the pair's real part left of it
@example(1.0, [-0.1, 0.0, 0.1], None)  # three close roots: the cubic term rules the start
@example(-1.0, [0.5], (0.0, 1.0))  # a falling cubic with one real root: no minimiser (NaN)
def test_the_root_loop_picks_the_minimiser_of_a_polynomial_of_known_roots(leading, roots, pair):
    # p = leading (t - r_1) ... (t - r_k) [(t - a)^2 + b^2], of degree 1 to 3, from its values at
    # the Chebyshev nodes as the oracle gives them
    complex_pair = [complex(*pair), complex(pair[0], -pair[1])] if pair is not None else []
    roots = roots[:1] if pair is not None else roots
    ordered = sorted(roots)
    if any(b - a <= 0.05 for a, b in itertools.pairwise(ordered)):
        return  # well separated: a double root is located to about eps^(1/2) only
    p = leading * np.poly(roots + complex_pair).real[::-1]  # ascending
    nodes = np.cos(np.pi * (np.arange(len(p)) + 0.5) / len(p))
    values = np.polynomial.polynomial.polyval(nodes, p)[None, :]
    t_star = _line_roots.roots_kernel(nodes).stacked(np, [values], (1,), None)[0, 0]
    expected = exact_choice(p, roots)
    if expected is None:
        assert t_star in roots or any(t_star == pytest.approx(r, rel=1e-9, abs=1e-11) for r in roots)
    elif np.isnan(expected):
        assert np.isnan(t_star)
    else:
        assert t_star == pytest.approx(expected, rel=1e-9, abs=1e-11)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.floats(1e-300, 1e300))
@example(1.0)
@example(1e-300)
@example(1e300)
def test_the_cube_root_from_square_roots_bounds_it_from_above_within_its_factor(x):
    bound = float(_line_roots.cube_root_above(_NumPyMath, np.float64(x)))
    root = float(np.cbrt(x))
    assert bound >= root * (1 - 1e-15)
    assert bound <= root * max(x ** (1 / 24), x ** (-1 / 48)) * (1 + 1e-12)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    st.lists(st.integers(-5, 5), min_size=6, max_size=6),
    st.lists(st.integers(-4, 4), min_size=4, max_size=4),
)
def test_the_line_slopes_coefficients_are_sympys_expansion(c, point):
    # p(alpha) = d/d alpha f(theta - alpha omega), its coefficients by Taylor mode against SymPy's
    # expansion of the same line, exactly (integer theta and omega: no rounding)
    sympy = pytest.importorskip("sympy")
    symengine = pytest.importorskip("symengine")
    x, y, a = sympy.symbols("x y a", real=True)
    f = c[0] * (x - c[1] * y**2) ** 2 + c[2] * x**3 * y + c[3] * (x + y + c[4]) ** 3 + c[5] * sympy.pi * x
    theta, omega = symengine.symbols("w0:2"), symengine.symbols("u0:2")
    got = _line_roots.slope_coefficients(symengine.sympify(f), [x, y], theta, omega, 4)
    at = {theta[0]: point[0], theta[1]: point[1], omega[0]: point[2], omega[1]: point[3]}
    slope = sympy.diff(f.xreplace({x: point[0] - a * point[2], y: point[1] - a * point[3]}), a)
    expected = sympy.Poly(sympy.expand(slope), a).all_coeffs()[::-1]
    expected += [0] * (4 - len(expected))
    differences = [sympy.simplify(sympy.sympify(g.subs(at)) - e) for g, e in zip(got, expected, strict=True)]
    assert differences == [0] * 4


def test_the_line_slopes_coefficients_are_none_past_a_polynomial():
    symengine = pytest.importorskip("symengine")
    x, w, u = symengine.symbols("x w u")
    assert _line_roots.slope_coefficients(symengine.exp(x) + x**2, [x], [w], [u], 2) is None
    assert _line_roots.slope_coefficients(x**-1 + x**2, [x], [w], [u], 2) is None
