"""The compiled root loop's arithmetic without the C library: cubics of known roots, random cubics
against exact roots, the cube root bounded by square roots (against NumPy's cbrt); the first
round's common path (a rising cubic) against the same exact roots, or deferred."""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=1)
def power_above_loop():
    """rows (w) -> rows (power_above(w)), the loop's nodes."""
    symengine = pytest.importorskip("symengine")
    w = symengine.Symbol("w")
    outputs = (_line_roots.power_above(_line_roots.LoopMath, w),)
    return simd.compile_loop([simd.LoopArray("rows", reads=(w,)), simd.LoopArray("rows", writes=outputs)])


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(st.floats(-1100.0, 1100.0) | st.integers(-1100, 1100), min_size=4, max_size=4))
@example([0, 1 / 3, 2 / 3, 1])
@example([-1022, -1022.5, 1023, 1023.5])  # at the ends of the doubles: 2^-1022 kept, past 2^1023 inf
def test_a_power_of_two_is_bounded_from_above_within_the_chords_factor(ws):
    # 2^w against mpmath's to 30 digits: at or above it (to the sum's rounding), within 1.0615 (the
    # chord of 2^x on [0, 1] against the curve, at x = 1/ln 2 - 1); 0 below 2^-1022, inf past
    # 2^1023; the loop's nodes and NumPy's the same bits
    mpmath = pytest.importorskip("mpmath")
    ws = [float(w) for w in ws]
    out = np.empty((1, simd.LANES))
    power_above_loop()([np.array([ws]), out])
    assert out[0].tolist() == _line_roots.power_above(_NumPyMath, np.array(ws)).tolist()
    for w, got in zip(ws, out[0], strict=True):
        with mpmath.workdps(30):
            exact = mpmath.mpf(2) ** mpmath.mpf(w)
            if w >= 1024:
                assert got == np.inf
            elif w < -1022:
                assert got == 0.0
            elif exact > 2**1023 * (2 - 2.0**-52):
                assert got == np.inf
            else:
                assert exact * (1 - 2.0**-53) <= got <= exact * mpmath.mpf("1.0615")  # 1 + (w - j) rounded


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


@functools.lru_cache(maxsize=1)
def coefficient_loop():
    """The first round's roots from p's coefficients (ascending, as Taylor mode gives them): rows
    (b0 .. b3) -> rows (t*, p'(t*), bound)."""
    symengine = pytest.importorskip("symengine")
    b = symengine.symbols("b0:4")
    outputs = _line_roots.roots_of_coefficients(list(b), 1 / _line_roots.BELOW_REACH)
    return simd.compile_loop([simd.LoopArray("rows", reads=b), simd.LoopArray("rows", writes=tuple(outputs))])


def loop_minimiser(coefficients) -> float:
    rows = np.zeros((4, simd.LANES))
    rows[:, 0] = coefficients
    out = np.empty((3, simd.LANES))
    coefficient_loop()([rows, out])
    return float(out[0, 0])


@functools.lru_cache(maxsize=1)
def common_path_loop():
    """The first round's common path (a rising cubic): rows (b0 .. b3) -> rows (t*, p'(t*), rising)."""
    symengine = pytest.importorskip("symengine")
    b = symengine.symbols("b0:4")
    outputs = _line_roots.rising_cubic_choice(list(b), 1 / _line_roots.BELOW_REACH)
    return simd.compile_loop([simd.LoopArray("rows", reads=b), simd.LoopArray("rows", writes=tuple(outputs))])


def common_path(coefficients) -> float | None:
    """The common path's t*, or None where the first round defers the member to the whole loop (not
    a rising cubic, or a double-root guard near, or no finite root found)."""
    rows = np.zeros((4, simd.LANES))
    rows[:, 0] = coefficients
    out = np.empty((3, simd.LANES))
    common_path_loop()([rows, out])
    t, _, rising = out[:, 0]
    return float(t) if rising == 1.0 and np.isfinite(t) else None


def minimisers(coefficients) -> list[float]:
    """t* of the whole loop, and of the oracle's first round: the common path's where it answers,
    else the whole loop's (the member deferred to it)."""
    whole = loop_minimiser(coefficients)
    first = common_path(coefficients)
    return [whole, whole if first is None else first]


def exact_minimiser(coefficients) -> tuple[float, list[float]]:
    """The rule's minimiser of G = integral of p, from the roots of the exact polynomial that the
    floats ``coefficients`` (ascending) are, to 60 digits (mpmath), its degree that of the highest
    coefficient above 1e-13 of the largest (the oracle's rule): the lowest G among the positive
    local minimisers, else the negative one nearest 0, else NaN; and the real roots of p."""
    mpmath = pytest.importorskip("mpmath")
    largest = max(abs(c) for c in coefficients)
    kept = list(coefficients)
    while kept and abs(kept[-1]) <= _line_roots.NEGLIGIBLE * largest:
        kept.pop()
    if len(kept) < 2:
        return float("nan"), []
    with mpmath.workdps(60):
        p = [mpmath.mpf(c) / mpmath.mpf(kept[-1]) for c in kept]  # monic: the same roots and G order
        roots = mpmath.polyroots(p[::-1], maxsteps=400, extraprec=400)
        real = sorted(mpmath.re(r) for r in roots if abs(mpmath.im(r)) <= mpmath.mpf(10) ** -40)
        slope = [k * c for k, c in enumerate(p)][1:]
        area = [mpmath.mpf(0)] + [c / (k + 1) for k, c in enumerate(p)]
        sign = 1 if kept[-1] > 0 else -1  # p's sign against the monic one's

        def at(q, x):
            return sign * mpmath.polyval(q[::-1], x)

        minima = [r for r in real if at(slope, r) > 0]
        positive = [r for r in minima if r > 0]
        fallback = max(minima) if minima else mpmath.nan
        best = min(positive, key=lambda r: at(area, r)) if positive else fallback
        return float(best), [float(r) for r in real]


rationals = st.fractions(-4, 4, max_denominator=16)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.sampled_from([1, -1]),
    st.lists(rationals, min_size=0, max_size=3, unique=True),
    st.integers(-140, 140),
    st.sampled_from([None, (0, 1), (1, 3)]),
)
@example(1, [-1, 0.5, 2], 120, None)  # three real roots, coefficients near 1e120
@example(-1, [-1, 0.5, 2], -120, None)  # a falling cubic, coefficients near 1e-120
@example(1, [0.25, 0.75, 3], 0, None)  # all three positive: the sign of Q picks the lower G
@example(1, [0.25, 2.25, 3], 0, None)
@example(1, [], 0, (1, 3))  # a constant p: no minimiser
def test_the_loop_is_the_exact_minimiser_on_cubics_of_any_size(sign, roots, exponent, pair):
    # p = sign 10^exponent prod (t - r) [(t - a)^2 + b^2 if a pair], degree 0 to 3 (a dropped degree
    # included: p's top coefficient exactly 0), the roots at least 1/16 apart
    sympy = pytest.importorskip("sympy")
    t = sympy.Symbol("t")
    p = sign * sympy.prod([t - sympy.Rational(r) for r in roots])
    if pair is not None and len(roots) <= 1:
        p *= (t - pair[0]) ** 2 + pair[1] ** 2
    coefficients = [float(c) * 10.0**exponent for c in reversed(sympy.Poly(p, t).all_coeffs())]
    coefficients += [0.0] * (4 - len(coefficients))
    expected, exact_roots = exact_minimiser(coefficients)
    if sign > 0 and len(roots) + 2 * (pair is not None and len(roots) <= 1) == 3:
        assert common_path(coefficients) is not None  # a rising cubic, roots apart: the common path's
    for got in minimisers(coefficients):
        if np.isnan(expected):
            assert np.isnan(got)
        elif len(roots) == 3 and sign > 0 and min(roots) > 0 and sum(roots) == 3 * sorted(roots)[1]:
            assert any(got == pytest.approx(r, rel=1e-12, abs=1e-14) for r in exact_roots)  # equal G
        else:
            assert got == pytest.approx(expected, rel=1e-12, abs=1e-14)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.sampled_from([1.0, -1.0]),
    st.floats(-3.0, 3.0),
    st.integers(2, 6),
    st.floats(-3.0, 3.0),
    st.integers(-100, 100),
)
@example(1.0, 0.5, 6, 2.0, 0)  # a close pair left of a rising cubic's largest root
@example(-1.0, 0.5, 5, -2.0, 0)  # a falling cubic's middle root, one of a close pair
def test_a_close_pair_of_roots_is_located_to_its_conditioning(sign, r, digits, other, exponent):
    # roots r and r + 10^-digits (apart by more than the double-root tolerance, 1e-7 of their size),
    # a third one; located to its conditioning, eps (sum of |b_k r^k|) / |p'(r)| ~ 1e-13 / separation
    # for roots up to 3, against the exact roots
    separation = 10.0**-digits * max(1.0, abs(r))
    if abs(other - r) < 0.1 or min(abs(r), abs(other)) < 0.1:
        return  # apart; and no root near 0, where the rule (the lowest positive one) turns on its sign
    coefficients = sign * 10.0**exponent * np.poly([r, r + separation, other])[::-1]
    expected, _ = exact_minimiser(list(coefficients))
    for got in minimisers(coefficients):
        if np.isnan(expected):
            assert np.isnan(got)
        else:
            assert got == pytest.approx(expected, rel=1e-13 / separation, abs=1e-13 / separation)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.floats(-3.0, 3.0), st.floats(-1e-9, 1e-9), st.integers(-100, 100))
@example(1.0, 0.0, 0)  # an exact triple root: no strict minimiser of the rule's (p' = 0 there)
@example(0.0, 0.0, 0)
@example(1.7630942692404101, 0.0, 0)  # P rounds to 2e-15, Q to 0: p'(r) = 0, the Newton step infinite
@example(1.26, 0.0, -7)  # P and Q 0: p(r) / p'(r) rounds to 1, a jump the polish must not take
def test_near_a_triple_root_the_loop_finds_it_to_eps_to_the_third_or_says_none(r, shift, exponent):
    # p = 10^exponent ((t - r)^3 + shift): one real root within |shift|^(1/3) of r; rounding the
    # coefficients moves it by about eps^(1/3) (1 + |r|)
    coefficients = 10.0**exponent * (np.poly([r, r, r])[::-1] + np.array([shift, 0.0, 0.0, 0.0]))
    root = r - np.cbrt(shift)
    for got in minimisers(coefficients):
        assert np.isnan(got) or abs(got - root) <= 1e-4 * (1 + abs(r))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    st.lists(st.floats(-10.0, 10.0), min_size=4, max_size=4),
    st.sampled_from([0.0, 1e-15, -1e-15]),
    st.sampled_from([0.0, 1e-15]),
)
@example([1.0, -2.0, 0.0, 0.0], 0.0, 0.0)  # linear, rising: 2
@example([1.0, 2.0, 0.0, 0.0], 0.0, 0.0)  # linear, falling: no minimiser
@example([3.0, 0.0, 0.0, 0.0], 0.0, 0.0)  # constant
@example([1.0, 1.8e-90, 0.0, 0.0], 0.0, 0.0)  # a linear coefficient that counts as 0: constant
@example([1e-82, 0.0, 1.0, 1.0], 0.0, 0.0)  # t^2 (t + 1) + 1e-82: a complex pair 1e-41 from 0, not a root
@example([0.0, 1e-12, 6.0, 0.0], 0.0, 0.0)  # roots 0 and -1.7e-13: one double root by the rule
@example([-2.0, 1.0, 1.0, 0.0], 1e-15, 0.0)  # a quadratic with a top coefficient that counts as 0
def test_a_line_of_lower_degree_gets_the_lower_degrees_minimiser(coefficients, top, second):
    # the cubic's (and maybe the quadratic's) coefficient 0 or below 1e-13 of the largest: the
    # degree drops, and the loop finds the exact minimiser of the polynomial that is left, polished
    # on the whole p (to the root of p next to it: within 1e-9 when a dropped coefficient is not 0)
    coefficients = list(coefficients)
    largest = max(abs(c) for c in coefficients)
    coefficients[3] = top * largest
    if second:
        coefficients[2] = second * largest
    expected, roots = exact_minimiser(coefficients)
    if any(b - a <= 1e-6 * max(1.0, abs(a)) for a, b in itertools.pairwise(roots)):
        return  # two roots the oracle's rule counts as one double root (apart by 1e-7 of their size)
    if abs(expected) > 1e3 and (top or second):
        return  # beyond the round's reach (1e3 scales), where a dropped term may not be negligible
    got, first = minimisers(coefficients)
    assert first == got or (np.isnan(first) and np.isnan(got))  # the common path defers a lower degree
    if np.isnan(expected):
        assert np.isnan(got)
        return
    assert got == pytest.approx(expected, rel=1e-12 if top == second == 0 else 1e-6, abs=1e-14)
    if top or second:  # polished on the whole p: its root next to the lower degree's
        mpmath = pytest.importorskip("mpmath")
        whole = list(coefficients)
        while not whole[-1]:
            whole.pop()
        with mpmath.workdps(60):
            roots = mpmath.polyroots([mpmath.mpf(c) for c in reversed(whole)], maxsteps=400, extraprec=400)
        nearest = min((complex(r) for r in roots), key=lambda r: abs(r - expected))
        assert got == pytest.approx(nearest.real, rel=1e-12, abs=1e-14)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.lists(st.floats(-10.0, 10.0, allow_subnormal=False), min_size=4, max_size=4), st.integers(-100, 100)
)
@example([0.0, 1.0, 0.0, 1.0], 0)  # t + t^3: roots 0, +-i (the complex ones set the bound)
@example([-8.0, 0.0, 0.0, 1.0], 0)  # t^3 - 8
@example([1.0, 0.0, 1.0, 1e-20], 0)  # 1 + t^2 + 1e-20 t^3: +-i, and a root near -1e20
@example([0.488, 1.75e-15, -4.77e-26, 0.0], 0)  # the degree drops to 0: the roots near 3e12 bound it still
def test_the_loops_bound_holds_for_every_root_complex_ones_too(coefficients, exponent):
    # the next scale of a member that saw no root: at least |r| for every root r of p, of the
    # coefficients that count as zero too (NumPy's companion roots, complex included)
    coefficients = [c * 10.0**exponent for c in coefficients]
    if not coefficients[3]:
        return  # Fujiwara's bound divides by the top coefficient, however small, but not by 0
    rows = np.zeros((4, simd.LANES))
    rows[:, 0] = coefficients
    out = np.empty((3, simd.LANES))
    coefficient_loop()([rows, out])
    roots = np.roots(coefficients[::-1])
    assert np.all(np.abs(roots) <= out[2, 0] * (1 + 1e-9))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    st.lists(st.floats(-10.0, 10.0, allow_subnormal=False), min_size=3, max_size=7), st.integers(-100, 100)
)
@example([1.0, 0.0, 0.0, 0.0, 0.0, 1e-30], 0)  # 1 + 1e-30 t^5: roots near 1e6
def test_the_numpy_bound_holds_for_every_root_at_any_degree(coefficients, exponent):
    # the generic oracle's bound (NumPy, the companion matrices' degrees too): at least |r| for every
    # root of p, complex ones too (NumPy's roots); the loop's bits at degree 3
    coefficients = [c * 10.0**exponent for c in coefficients]
    if not coefficients[-1]:
        return
    bound = float(_line_roots.root_bound(_NumPyMath, [np.array([c]) for c in coefficients])[0])
    assert np.all(np.abs(np.roots(coefficients[::-1])) <= bound * (1 + 1e-9))
    if len(coefficients) == 4:
        rows = np.zeros((4, simd.LANES))
        rows[:, 0] = coefficients
        out = np.empty((3, simd.LANES))
        coefficient_loop()([rows, out])
        assert out[2, 0] == bound
