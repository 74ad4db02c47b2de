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
