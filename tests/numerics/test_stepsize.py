"""Source 001's step-size theory: every bound checked at every step of gradient descent."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from zoo import make_loss

import taylorlr as tl
from taylorlr.numerics.stepsize import descent_limit, guarantees, smoothness


@st.composite
def spd_quadratics(draw):
    n = draw(st.integers(1, 6))
    M = sympy.Matrix(n, n, draw(st.lists(st.integers(-3, 3), min_size=n * n, max_size=n * n)))
    A = M.T * M + sympy.eye(n)
    w = sympy.Matrix(sympy.symbols(f"w1:{n + 1}", real=True))
    start = draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n))
    return A, tl.Loss(sympy.expand((w.T * A * w)[0] / 2), variables=tuple(w)), np.array(start, dtype=float)


@settings(deadline=None, derandomize=True, max_examples=20)
@given(spd_quadratics())
def test_gradient_descent_with_eps_one_over_L_meets_every_bound(problem):
    A, loss, w = problem
    bound = smoothness(loss, box=10.0)
    exact_L = float(max(sympy.Matrix(A).eigenvals(multiple=True), key=float)) if A.shape[0] <= 2 else None
    if exact_L is not None:
        assert pytest.approx(exact_L, rel=1e-12) == bound.L
    assert bound.certified and bound.method.startswith("exact")
    g_of = loss.compile()
    info = guarantees(loss, w, bound, f_star=0.0)
    smallest = np.inf
    for t in range(1, 30):
        g = g_of.grad(w)
        f_before = float(g_of.value(w))
        w = w - info.eps * g
        assert f_before - float(g_of.value(w)) >= info.decrease(float(g @ g)) * (1 - 1e-12) - 1e-12
        smallest = min(smallest, float(g @ g))
        assert smallest <= info.min_gradient_bound(t) * (1 + 1e-12) + 1e-12


def test_descent_limit_closed_form_and_batch():
    loss = make_loss("x**2 + 10*y**2")
    W = np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    limit = descent_limit(loss, W)
    g = np.array([[2.0, 20.0], [2.0, 0.0], [0.0, 0.0]])
    H = np.diag([2.0, 20.0])
    expected = [2 * (g[0] @ g[0]) / (g[0] @ H @ g[0]), 1.0, np.inf]
    np.testing.assert_allclose(limit.eps_max, expected)
    for i, w in enumerate(W):
        assert float(descent_limit(loss, w).eps_max) == pytest.approx(expected[i])


def test_descent_limit_is_infinite_with_negative_curvature():
    assert float(descent_limit(make_loss("-x**2 - y**2"), [1.0, 2.0]).eps_max) == np.inf


def test_the_model_descends_below_eps_max_and_not_above():
    loss = make_loss("x**2 + 10*y**2")  # a quadratic: the model is the loss
    f = loss.compile()
    w = np.array([1.0, 1.0])
    eps = float(descent_limit(loss, w).eps_max)
    g = f.grad(w)
    assert f.value(w - 0.99 * eps * g) < f.value(w) < f.value(w - 1.01 * eps * g)


def test_certified_interval_bound_dominates_sampled_eigenvalues():
    loss = make_loss("(1 - x)**2 + 100*(y - x**2)**2")
    bound = smoothness(loss, box=1.0)
    assert bound.certified and bound.method == "interval Gershgorin"
    W = np.random.default_rng(0).uniform(-1, 1, size=(20000, 2))
    assert np.linalg.eigvalsh(loss.compile().hess(W))[:, -1].max() <= bound.L
    # closed form of the Gershgorin bound: (2 + 400 + 1200) + 400
    assert pytest.approx(2002.0) == bound.L


def test_unsupported_functions_give_a_labelled_sampled_estimate():
    bound = smoothness(make_loss("abs(x)**3 + y**2"), box=1.0)
    assert not bound.certified and bound.method == "sampled estimate"
    assert pytest.approx(6.0) == bound.L


def test_iterations_for_a_gradient_tolerance():
    info = guarantees(make_loss("x**2"), [3.0], 2.0, f_star=0.0)
    assert info.iterations_for(1e-2) == 3600  # 2 * 2 * 9 / 0.01
    assert info.min_gradient_bound(36) == pytest.approx(1.0)
    with pytest.raises(tl.OptionError):
        info.iterations_for(0.0)


# the step eps = 1/L from one point: "guaranteed" only when proved ------------------------------

from strategies import X, Y, polynomials, small_rationals, smooth_expressions  # noqa: E402

from taylorlr.numerics.intervals import Unbounded, enclosure, hessian_bound  # noqa: E402
from taylorlr.numerics.stepsize import Certainty, step_bound, step_size  # noqa: E402

#: fractions of 2/L at which "every eps in (0, 2/L) gives f(w+) < f(w)" is checked
FRACTIONS = [sympy.Rational(k, 8) for k in range(1, 8)] + [1 - sympy.Rational(1, 2**20)]


def exact_sign(value: sympy.Expr) -> int:
    """The sign of an exact number (rational exactly; otherwise from 60 digits, which suffice here)."""
    value = sympy.nsimplify(value) if value.is_Float else value
    if value.is_Rational:
        return int(sympy.sign(value))
    approximate = sympy.N(value, 60)
    return 0 if abs(approximate) < sympy.Float(10) ** -50 else int(sympy.sign(approximate))


def assert_guarantee_holds(loss, point):
    """Whenever step_bound says "guaranteed", every inequality it states holds in exact arithmetic at w+."""
    bound = step_bound(loss, point)
    if not bound.guaranteed:
        assert bound.decrease is None and bound.reason
        return bound
    w = [sympy.nsimplify(c) if isinstance(c, float) else sympy.sympify(c) for c in point]
    env = dict(zip(loss.variables, w, strict=True))
    g = [gi.xreplace(env) for gi in loss.gradient]
    gTg = sum(c**2 for c in g)
    L = sympy.Rational(bound.smoothness.L)
    f = loss.value_at(w)

    def f_after(eps):
        return loss.value_at([a - eps * b for a, b in zip(w, g, strict=True)])

    # the box where L is proved holds the whole segment [w, w - (2/L) g]
    for (lo, hi), a, b in zip(bound.smoothness.box, w, g, strict=True):
        ends = (a, a - 2 * b / L)
        assert sympy.Rational(lo) <= min(ends) and max(ends) <= sympy.Rational(hi)
    # the printed guarantee at eps = 1/L, with the printed (rounded-down) decrease
    assert exact_sign(f - sympy.Rational(bound.decrease) - f_after(1 / L)) >= 0
    assert sympy.Rational(bound.decrease) <= gTg / (2 * L)
    # every eps in (0, 2/L) decreases f when g != 0, as Taylor's theorem with lambda_max <= L says
    for fraction in FRACTIONS:
        eps = fraction * 2 / L
        assert exact_sign(f - eps * (1 - eps * L / 2) * gTg - f_after(eps)) >= 0
        assert exact_sign(f - f_after(eps)) == (1 if gTg != 0 else 0)
    return bound


@settings(max_examples=60)
@given(polynomials(variables=(X, Y), max_degree=4), small_rationals, small_rationals)
def test_a_stated_guarantee_holds_exactly_on_random_polynomials(expr, a, b):
    loss = tl.Loss(expr)
    point = {"x": a, "y": b}
    assert_guarantee_holds(loss, [point[name] for name in loss.names])


@settings(max_examples=30)
@given(smooth_expressions(depth=3), small_rationals, small_rationals)
def test_a_stated_guarantee_holds_on_random_smooth_expressions(expr, a, b):
    expr = expr.xreplace({sympy.Symbol("z", real=True): X * Y}) + X**2 + Y**2  # x and y, some curvature
    assert_guarantee_holds(tl.Loss(expr), [a, b])


def test_the_quartic_reproducer_grows_the_box_to_hold_the_step():
    # issue 10: L = 12 "certified on [-1, 1]" promised f(w+) <= f(w) - 66.67, while the step
    # eps = 1/12 lands at -3.33 (outside the box) where f = -9.88
    loss = make_loss("40*x + x**4")
    bound = assert_guarantee_holds(loss, [0])
    assert bound.guaranteed and bound.smoothness.L > 12
    lo, hi = bound.smoothness.box[0]
    assert lo <= -40 * bound.eps_limit and hi >= 0
    assert float(loss.value_at([sympy.Rational(-40, 12)])) > 0 - 66.67  # the old claim was false


def test_the_kink_reproducer_is_an_estimate_with_its_reason():
    # issue 10: a sampled L = 2 promised f(w+) <= f(w) - 0.25 from (0.1, 0), while f(w+) = 0.4
    loss = make_loss("abs(x) + y**2")
    bound = assert_guarantee_holds(loss, ["1/10", 0])
    assert bound.certainty is Certainty.ESTIMATE and bound.certainty == "estimate"
    assert bound.decrease is None and "kink" in bound.reason and bound.eps == pytest.approx(0.5)
    assert loss.value_at([sympy.Rational(1, 10) - sympy.Rational(bound.eps), 0]) == sympy.Rational(2, 5)
    at_kink = step_bound(loss, [0, 0])
    assert at_kink.certainty == "estimate" and at_kink.smoothness.method == "sampled estimate"
    assert "sampled" in at_kink.reason


def test_a_concave_box_has_no_step_one_over_L():
    bound = step_bound(make_loss("-x**2 - y**2"), [1, 1])
    assert bound.certainty == "estimate" and bound.eps is None and bound.smoothness.L == -2.0


def test_a_pole_shrinks_the_box_until_the_bound_exists():
    loss = make_loss("x - log(x)")  # H = 1/x**2: no bound on [-0.5, 1.5]
    bound = assert_guarantee_holds(loss, ["1/2"])
    assert bound.guaranteed and bound.smoothness.box[0][0] > 0


def test_at_a_critical_point_the_guarantee_is_no_decrease():
    bound = assert_guarantee_holds(make_loss("x**2 + y**2"), [0, 0])
    assert bound.guaranteed and bound.decrease == 0.0


def test_a_constant_hessian_gives_the_exact_lambda_max_rounded_up():
    bound = smoothness(make_loss("x**2 + x*y + y**2"), box=1.0)  # eigenvalues 1 and 3
    assert bound.method == "exact (constant Hessian)" and bound.L == 3.0
    other = smoothness(make_loss("x**2 + x*y + 2*y**2"), box=1.0)  # H = [[2, 1], [1, 4]]
    assert sympy.Rational(other.L) >= 3 + sympy.sqrt(2)
    assert pytest.approx(float(3 + sympy.sqrt(2)), rel=1e-15) == other.L


# the other sentences of the step-size report ------------------------------------------------


@settings(max_examples=40)
@given(polynomials(variables=(X, Y), max_degree=3), small_rationals, small_rationals)
def test_the_model_descends_exactly_below_eps_max(expr, a, b):
    """Source 001: the second-order model m(eps) = f - eps g'g + eps^2/2 g'Hg is below f iff eps < eps_max."""
    loss = tl.Loss(expr)
    point = {"x": a, "y": b}
    w = [point[name] for name in loss.names]
    env = dict(zip(loss.variables, w, strict=True))
    g = loss.gradient.xreplace(env)
    gTg, gHg = (g.T * g)[0], (g.T * loss.hessian.xreplace(env) * g)[0]

    def model_drop(eps):
        return -eps * gTg + eps**2 / 2 * gHg

    limit = descent_limit(loss, [float(c) for c in w])
    eps_max = float(limit.eps_max)
    if gTg == 0:  # "g = 0: no step along -g changes the model"
        assert model_drop(sympy.Rational(1, 3)) == 0
    elif gHg <= 0:  # "the model descends for every eps > 0"
        assert eps_max == np.inf and all(model_drop(sympy.Integer(e)) < 0 for e in (1, 10, 10**6))
    else:  # "descends for 0 < eps < eps_max", and not beyond
        exact = 2 * gTg / gHg
        assert eps_max == pytest.approx(float(exact), rel=1e-12)
        assert model_drop(exact * sympy.Rational(99, 100)) < 0 < model_drop(exact * sympy.Rational(101, 100))
        assert model_drop(exact) == 0


def test_the_curvature_line_is_the_exact_largest_eigenvalue():
    bounds = step_size(make_loss("x**2 + 3*x*y**2"), [1, 2])  # H = [[2, 12], [12, 6]]
    assert bounds.lambda_max == pytest.approx(float(4 + sympy.sqrt(148)), rel=1e-14)
    assert bounds.to_dict()["inverse_lambda_max"] == pytest.approx(1 / float(4 + sympy.sqrt(148)))


@settings(max_examples=40)
@given(polynomials(variables=(X, Y), max_degree=4), small_rationals, small_rationals)
def test_a_certified_L_bounds_the_exact_eigenvalues_on_its_box(expr, a, b):
    loss = tl.Loss(expr)
    bound = smoothness(loss, box=[(float(a) - 0.5, float(a) + 0.5)] * loss.n)
    assert bound.certified
    lo, hi = (sympy.Rational(e) for e in bound.box[0])
    for t in (0, sympy.Rational(1, 3), sympy.Rational(1, 2), 1):
        xi = [lo + t * (hi - lo)] * loss.n
        H = loss.hessian.xreplace(dict(zip(loss.variables, xi, strict=True)))
        assert (sympy.Rational(bound.L) * sympy.eye(loss.n) - H).is_positive_semidefinite


@settings(max_examples=40)
@given(smooth_expressions(depth=3))
def test_an_enclosure_contains_every_sampled_value(expr):
    box = {X: (-0.75, 0.5), Y: (0.25, 1.0), sympy.Symbol("z", real=True): (-1.0, 1.0)}
    lo, hi = enclosure(expr, box)
    rng = np.random.default_rng(0)
    for _ in range(8):
        env = {s: sympy.Rational(float(rng.uniform(*box[s]))) for s in box}
        value = sympy.N(expr.xreplace(env), 30)
        assert lo <= value <= hi


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("abs(x)", "kink"),
        ("max(x, 1 - x)", "kink"),
        ("log(x)", "<= 0"),
        ("1/x", "not bounded"),
        ("sqrt(x)", "<= 0"),
    ],
)
def test_a_kink_or_pole_in_the_box_is_refused_with_its_reason(text, reason):
    loss = make_loss(text)
    with pytest.raises(Unbounded, match=reason):
        enclosure(loss.expr, {loss.variables[0]: (-1.0, 1.0)})
    assert enclosure(loss.expr, {loss.variables[0]: (0.25, 0.375)})[0] > -10  # smooth on a box beside it


def test_the_gershgorin_bound_of_rosenbrock_in_closed_form():
    loss = make_loss("(1 - x)**2 + 100*(y - x**2)**2")
    env = dict(zip(loss.variables, [(-1.0, 1.0)] * 2, strict=True))
    assert hessian_bound(loss.hessian, env) == 2002.0
