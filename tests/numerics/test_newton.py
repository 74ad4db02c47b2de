"""One-step and iterated Newton: exact answers on random rational quadratics, batching, fallbacks."""

from __future__ import annotations

import json
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from zoo import make_loss

import taylorlr as tl
from taylorlr.compile.backends import to_numpy
from taylorlr.errors import NotConvergedError
from taylorlr.kinds import Kind
from taylorlr.numerics.newton import Curvature, NewtonStatus, newton_step

CI = settings(deadline=None, derandomize=True, max_examples=25)


def quadratic_loss(A: sympy.Matrix, b: sympy.Matrix) -> tl.Loss:
    """f(w) = w^T A w / 2 - b^T w: gradient A w - b, Hessian A, stationary point A^-1 b."""
    w = sympy.Matrix(sympy.symbols(f"w1:{A.shape[0] + 1}", real=True))
    expr = sympy.expand((w.T * A * w)[0] / 2 - (b.T * w)[0])
    return tl.Loss(expr, variables=tuple(w))


@st.composite
def spd_problems(draw, min_n: int = 1, max_n: int = 8):
    """An exact rational SPD matrix A = M^T M + I, a right-hand side b and a start point."""
    n = draw(st.integers(min_n, max_n))
    entries = st.integers(-4, 4)
    M = sympy.Matrix(n, n, draw(st.lists(entries, min_size=n * n, max_size=n * n)))
    A = M.T * M + sympy.eye(n)
    b = sympy.Matrix(draw(st.lists(entries, min_size=n, max_size=n)))
    start = draw(st.lists(st.floats(-10, 10, allow_nan=False), min_size=n, max_size=n))
    return A, b, start


@CI
@given(spd_problems())
def test_one_step_lands_on_the_exact_minimiser_of_an_spd_quadratic(problem):
    A, b, start = problem
    step = tl.newton_step(quadratic_loss(A, b), start)
    exact = np.array([float(v) for v in A.solve(b)])
    condition = float(np.linalg.cond(np.array(A.tolist(), dtype=float)))
    scale = 1.0 + np.abs(exact).max() + np.abs(start).max()
    assert np.abs(step.point - exact).max() <= 1e-13 * condition * scale
    assert step.curvature == "minimum"
    A_float = np.array(A.tolist(), dtype=float)
    np.testing.assert_allclose(step.eigenvalues, np.linalg.eigvalsh(A_float), rtol=1e-12)


@CI
@given(st.fractions(min_value=Fraction(1, 10), max_value=10), st.fractions(-10, 10), st.floats(-5, 5))
def test_eta_is_one_over_f_second_derivative_in_1d(a, b, w0):
    x = sympy.Symbol("x", real=True)
    step = tl.newton_step(tl.Loss(sympy.Rational(a) * x**2 + sympy.Rational(b) * x), [w0])
    assert float(step.eta) == pytest.approx(1 / (2 * float(a)), rel=1e-12)
    assert float(step.point[0]) == pytest.approx(-float(b) / (2 * float(a)), abs=1e-9)


def test_eta_is_the_inverse_hessian_in_n_d():
    step = tl.newton_step(make_loss("2*x**2 + x*y + y**2"), [1.0, 1.0])
    np.testing.assert_allclose(step.eta, np.linalg.inv([[4.0, 1.0], [1.0, 2.0]]))
    np.testing.assert_allclose(step.eta @ step.gradient, step.step)


@CI
@given(spd_problems(max_n=5))
def test_negative_definite_quadratic_step_lands_on_the_maximum(problem):
    A, b, start = problem
    step = tl.newton_step(quadratic_loss(-A, b), start)
    np.testing.assert_allclose(step.point, [float(v) for v in (-A).solve(b)], atol=1e-8)
    assert step.curvature == "maximum"


def test_indefinite_quadratic_step_lands_on_the_saddle_and_says_so():
    step = tl.newton_step(make_loss("x**2 - 3*y**2 + 2*x*y - 4*x"), [5.0, -7.0])
    x, y = sympy.symbols("x y")
    exact = sympy.solve([2 * x + 2 * y - 4, -6 * y + 2 * x], [x, y])
    np.testing.assert_allclose(step.point, [float(exact[x]), float(exact[y])], atol=1e-12)
    assert step.curvature == "saddle"
    assert step.condition == pytest.approx(abs(step.eigenvalues).max() / abs(step.eigenvalues).min())


def test_singular_hessian_raises_with_the_fallbacks_named():
    with pytest.raises(tl.SingularHessianError, match=r"fallback='pinv'.*fallback='damped'"):
        tl.newton_step(make_loss("(x + y)**2 + x + y"), [1.0, 2.0])


@pytest.mark.parametrize("fallback", ["pinv", "damped"])
def test_singular_quadratic_fallbacks_give_finite_steps(fallback):
    # f = (x + y)^2 + x + y: H = [[2, 2], [2, 2]], the minimisers form the line x + y = -1/2
    step = tl.newton_step(make_loss("(x + y)**2 + x + y"), [1.0, 2.0], fallback=fallback)
    assert np.all(np.isfinite(step.point)) and np.all(np.isfinite(step.eta))
    assert step.curvature == "singular"
    if fallback == "pinv":  # the minimum-norm step lands on the line of minimisers
        assert float(step.point.sum()) == pytest.approx(-0.5)
        assert float(step.shift) == 0.0
    else:
        assert float(step.shift) > 0
        np.testing.assert_allclose(
            step.step, np.linalg.solve(step.hessian + step.shift * np.eye(2), step.gradient)
        )


def test_batch_keeps_singular_members_and_moves_the_rest():
    loss = make_loss("x**2 + 3*x*y**2")
    W = np.array([[0.0, 0.0], [1.0, 2.0], [1.0, 0.0]])
    batch = tl.newton_step(loss, W)
    assert batch.curvature.tolist() == ["singular", "saddle", "minimum"]
    np.testing.assert_array_equal(batch.point[0], W[0])
    assert np.all(np.isfinite(batch.eta)) and batch.condition[0] == np.inf


@pytest.mark.parametrize("fallback", [None, "pinv", "damped"])
@pytest.mark.parametrize("method", ["newton", "halley", "chebyshev"])
def test_batched_step_equals_a_loop_over_single_points(fallback, method):
    loss = make_loss("x**4 + x*y + (1 + y)**2 + x**2*y")
    W = np.random.default_rng(1).uniform(-2, 2, size=(6, 2))
    batch = newton_step(loss, W, fallback=fallback, method=method)
    for i, w in enumerate(W):
        single = newton_step(loss, w, fallback=fallback, method=method)
        np.testing.assert_allclose(batch.point[i], single.point, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(batch.eta[i], single.eta, rtol=1e-12)
        assert batch.curvature[i] == single.curvature


def test_array_api_strict_gives_the_numpy_answer():
    xps = pytest.importorskip("array_api_strict")
    loss = make_loss("x**2 + 3*x*y**2")
    W = [[0.0, 0.0], [1.0, 2.0], [0.0, 1.0]]
    strict = tl.newton_step(loss, xps.asarray(W), fallback="pinv", backend="array-api-strict")
    plain = tl.newton_step(loss, np.array(W), fallback="pinv")
    np.testing.assert_allclose(to_numpy(strict.point), plain.point)
    np.testing.assert_allclose(to_numpy(strict.eta), plain.eta)
    assert np.array_equal(strict.curvature, plain.curvature)
    run = tl.newton(loss, xps.asarray(W), steps=5, backend="array-api-strict", method="chebyshev")
    assert len(run.status) == 3


def test_iterated_newton_converges_quadratically_on_rosenbrock():
    run = tl.newton(make_loss("(1 - x)**2 + 100*(y - x**2)**2"), [-1.2, 1.0], steps=50, tol=1e-10)
    assert run.status == "converged" and run.iterations <= 10
    np.testing.assert_allclose(run.point, [1.0, 1.0], atol=1e-12)
    assert run.points.shape == (run.iterations + 1, 2)


def test_iterated_newton_reports_singular_as_a_status():
    run = tl.newton(make_loss("x**3 + y**2"), np.array([[0.0, 1.0], [1.0, 1.0]]), steps=100, tol=1e-12)
    assert run.status[1] == "converged"  # x -> x/2 each step, linear but convergent
    run = tl.newton(make_loss("x**3 + x*y**2 + y"), [0.0, 0.0], steps=3)
    assert run.status == "singular" and run.iterations == 1


@pytest.mark.parametrize("method", ["halley", "chebyshev"])
def test_third_order_steps_are_exact_formulas_in_1d(method):
    # f = exp(x) - 2x: f' = e^x - 2, f'' = f''' = e^x
    x0 = 1.3
    step = tl.newton_step(make_loss("exp(x) - 2*x"), [x0], method=method)
    g, h = np.exp(x0) - 2, np.exp(x0)
    newton = g / h
    expected = 2 * g * h / (2 * h * h - g * h) if method == "halley" else newton * (1 + g * h / (2 * h * h))
    assert float(step.step[0]) == pytest.approx(expected, rel=1e-13)


def test_third_order_methods_take_fewer_steps_than_newton():
    loss = make_loss("exp(x) - 2*x + y**4/4 + y**2")
    counts = {
        m: tl.newton(loss, [3.0, 1.5], method=m, tol=1e-12).iterations
        for m in ("newton", "halley", "chebyshev")
    }
    assert counts["halley"] < counts["newton"] and counts["chebyshev"] < counts["newton"]


def test_options_are_checked():
    loss = make_loss("x**2")
    with pytest.raises(tl.OptionError, match="fallback"):
        tl.newton_step(loss, [1.0], fallback="lstsq")
    with pytest.raises(tl.OptionError, match="method"):
        tl.newton_step(loss, [1.0], method="householder")
    with pytest.raises(tl.OptionError, match="steps"):
        tl.newton(loss, [1.0], steps=0)


def test_to_dict_is_json_ready():
    step = tl.newton_step(make_loss("x**2 - y**2"), np.array([[1.0, 2.0], [3.0, 4.0]]))
    data = json.loads(json.dumps(step.to_dict()))
    assert data["curvature"] == ["saddle", "saddle"] and data["point"] == [[0.0, 0.0], [0.0, 0.0]]
    run = tl.newton(make_loss("x**2"), [1.0])
    assert json.loads(json.dumps(run.to_dict()))["status"] == "converged"


def test_a_point_outside_the_domain_is_a_point_error_not_a_silent_nan():
    with pytest.raises(tl.PointError, match="outside f's domain"):
        tl.newton_step(tl.Loss("log(x) + x**2"), [-1.0])  # f = nan there, though f' and f'' are finite
    with pytest.raises(tl.PointError, match="not finite"):
        tl.newton_step(tl.Loss("x**2 + y**2"), [float("nan"), 1.0])
    with pytest.raises(tl.PointError, match="overflow"):
        tl.newton_step(tl.Loss("exp(x)"), [1000.0])


def test_nonfinite_batch_members_take_no_step_and_say_so():
    loss = tl.Loss("x**2 + 3*x*y**2")
    W = np.array([[np.inf, 1.0], [1.0, 2.0]])
    step = tl.newton_step(loss, W)
    assert step.curvature.tolist() == ["nonfinite", "saddle"]
    np.testing.assert_array_equal(step.step[0], [0.0, 0.0])
    np.testing.assert_allclose(step.point[1], [6 / 11, 10 / 11])  # the others proceed
    run = tl.newton(tl.Loss("log(x) + x**2"), np.array([[0.5], [-1.0]]), steps=20)
    assert run.status.tolist() == ["nonfinite", "nonfinite"]  # no critical point: it leaves x > 0


# singular against ill-conditioned (Moré, Garbow and Hillstrom's problem 10, Meyer) ------------------

MEYER_Y = (34780, 28610, 23650, 19630, 16370, 13720, 11540, 9744, 8261, 7030, 6005, 5147, 4427, 3820,
           3307, 2872)  # fmt: skip


def meyer() -> tuple[tl.Loss, sympy.Matrix, sympy.Matrix]:
    """f = sum_i (x1 exp(x2 / (t_i + x3)) - y_i)^2, t_i = 45 + 5 i; exact H and g at (0.02, 4000, 250)."""
    x1, x2, x3 = sympy.symbols("x1 x2 x3", real=True)
    f = sum((x1 * sympy.exp(x2 / (45 + 5 * i + x3)) - y) ** 2 for i, y in enumerate(MEYER_Y, start=1))
    at = {x1: sympy.Rational(1, 50), x2: 4000, x3: 250}
    H = sympy.hessian(f, (x1, x2, x3)).xreplace(at).evalf(60)
    g = sympy.Matrix([f.diff(v) for v in (x1, x2, x3)]).xreplace(at).evalf(60)
    return tl.Loss(f, variables=(x1, x2, x3)), H, g


def test_meyer_start_is_ill_conditioned_not_singular_and_the_step_is_taken():
    loss, H, g = meyer()
    with mpmath.workdps(60):
        exact_eigenvalues = sorted(
            float(e) for e in mpmath.eigsy(mpmath.matrix(H.tolist()), eigvals_only=True)
        )
    exact_step = np.array([float(s) for s in H.LUsolve(g)])
    step = tl.newton_step(loss, [0.02, 4000.0, 250.0])  # no SingularHessianError
    np.testing.assert_allclose(step.eigenvalues, exact_eigenvalues, rtol=1e-9)  # -3.27e6, 81.2, 2.26e12
    assert step.condition == pytest.approx(max(map(abs, exact_eigenvalues)) / 81.24342, rel=1e-5)
    assert step.curvature == "saddle" and not step.singular
    assert step.conditioning == "ill-conditioned" and "taken" in step.conditioning.item().message
    assert step.backward_error <= 64 * 3 * 2.0**-52
    np.testing.assert_allclose(step.step, exact_step, rtol=1e-9)
    np.testing.assert_allclose(step.eta @ step.gradient, exact_step, rtol=1e-6)


@st.composite
def singular_problems(draw, max_n: int = 6):
    """An exact rational symmetric matrix A = M M^T of rank < n (M is n x (n - 1)), b and a start."""
    n = draw(st.integers(2, max_n))
    entries = st.integers(-9, 9)
    M = sympy.Matrix(n, n - 1, draw(st.lists(entries, min_size=n * (n - 1), max_size=n * (n - 1))))
    b = sympy.Matrix(draw(st.lists(entries, min_size=n, max_size=n)))
    start = draw(st.lists(st.floats(-10, 10, allow_nan=False), min_size=n, max_size=n))
    return M * M.T, b, start


@CI
@given(singular_problems())
def test_exactly_singular_hessians_are_singular_and_take_no_step(problem):
    A, b, start = problem
    assert A.det() == 0
    loss = quadratic_loss(A, b)
    with pytest.raises(tl.SingularHessianError, match="no Newton step exists"):
        tl.newton_step(loss, start)
    step = tl.newton_step(loss, np.array([start, start]))
    assert step.curvature.tolist() == ["singular", "singular"]
    assert step.conditioning.tolist() == ["singular", "singular"] and step.singular.all()
    np.testing.assert_array_equal(step.point, [start, start])
    assert np.all(step.condition == np.inf)


@CI
@given(st.integers(8, 14), st.floats(-3, 3), st.floats(-3, 3))
def test_a_regular_hessian_with_a_tiny_eigenvalue_still_gets_its_exact_step(digits, a, b):
    # f = (x + y)^2 + 10^-digits (x - y)^2 / 2 - x: H = [[2 + d, 2 - d], [2 - d, 2 + d]], condition ~ 4/d
    d = sympy.Rational(1, 10**digits)
    x, y = sympy.symbols("x y", real=True)
    loss = tl.Loss((x + y) ** 2 + d * (x - y) ** 2 / 2 - x, variables=(x, y))
    H = sympy.hessian(loss.expr, (x, y))
    g = sympy.Matrix([loss.expr.diff(v) for v in (x, y)]).xreplace(
        {x: sympy.Rational(a), y: sympy.Rational(b)}
    )
    step = tl.newton_step(loss, [a, b])
    assert step.curvature == "minimum" and step.conditioning == "ill-conditioned"
    exact = np.array([float(s) for s in H.LUsolve(g)])
    np.testing.assert_allclose(step.step, exact, rtol=float(step.condition) * 1e-15)


def test_labels_are_enums_whose_type_does_not_change_with_the_rank():
    loss = make_loss("x**2 - y**2")
    single = tl.newton_step(loss, [1.0, 2.0])
    batch = tl.newton_step(loss, np.array([[1.0, 2.0]]))
    assert isinstance(single.curvature, np.ndarray) and single.curvature.shape == ()
    assert isinstance(batch.curvature, np.ndarray) and batch.curvature.shape == (1,)
    assert single.curvature.item() is Curvature.SADDLE and batch.curvature[0] is Curvature.SADDLE
    assert Curvature.SADDLE.kind is Kind.SADDLE and Curvature.SINGULAR.kind is None
    assert "both signs" in Curvature.SADDLE.message
    run = tl.newton(loss, [1.0, 2.0])
    assert run.status.shape == () and run.status.item() is NewtonStatus.CONVERGED
    assert tl.newton(loss, np.array([[1.0, 2.0]])).status.shape == (1,)


def test_newton_run_answers_in_scipy_words():
    run = tl.newton(
        make_loss("x**4 - 2*x**2 + y**2"), np.array([[2.0, 1.0], [0.0, 0.0], [1.5, 0.0]]), steps=40
    )
    assert run.status.tolist() == ["converged", "converged", "converged"]
    np.testing.assert_allclose(run.x, [[1.0, 0.0], [0.0, 0.0], [1.0, 0.0]], atol=1e-10)
    np.testing.assert_allclose(run.fun, [-1.0, 0.0, -1.0], atol=1e-15)
    assert run.success.tolist() == [True, True, True]
    assert run.nit[1] == 0 and run.nit[0] > 2  # (0, 0) is a critical point: no step
    assert (run.njev == run.nit + 1).all() and (run.nhev == run.njev).all()
    assert run.message[0].startswith("converged: the gradient norm fell")


def test_throw_turns_a_failed_status_into_its_typed_error():
    with pytest.raises(tl.SingularHessianError):
        tl.newton(make_loss("x**3 + x*y**2 + y"), [0.0, 0.0], steps=3, throw=True)
    with pytest.raises(NotConvergedError, match="max_steps"):
        tl.newton(make_loss("(1 - x)**2 + 100*(y - x**2)**2"), [-1.2, 1.0], steps=2, throw=True)
    with pytest.raises(tl.PointError):
        tl.newton(tl.Loss("log(x) + x**2"), [[0.5]], steps=20, throw=True)
    with pytest.raises(tl.SingularHessianError):  # a batch raises too when asked
        tl.newton_step(make_loss("x**2 + 3*x*y**2"), np.array([[0.0, 0.0], [1.0, 2.0]]), throw=True)
    quiet = tl.newton_step(make_loss("x**2 + 3*x*y**2"), [0.0, 0.0], throw=False)
    assert quiet.curvature == "singular" and quiet.singular


def test_third_order_steps_do_not_mix_a_variable_named_like_the_direction():
    steps = [
        tl.newton_step(tl.Loss(text), [1.3, 0.7], method=method).step
        for method in ("halley", "chebyshev")
        for text in ("exp(v0) - 2*v0 + v1**4/4 + v1**2", "exp(a) - 2*a + b**4/4 + b**2")
    ]
    np.testing.assert_array_equal(steps[0], steps[1])
    np.testing.assert_array_equal(steps[2], steps[3])
