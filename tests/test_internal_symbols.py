"""No silently wrong number from a name: a loss whose variables are named like any internal
symbol (the HVP direction, the vector symbols, CSE temporaries, generated argument names,
printed constants) gives the same gradient, Hessian and HVP as the same loss with other names,
on both code generators and on the SymEngine path of large losses."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import SYMBOLS, points, smooth_expressions

import taylorlr as tl
from taylorlr.compile.simd_codegen import available as simd_available

GENERATORS = ["xp"] + (["simd"] if simd_available() else [])
#: names taylorlr uses (or used) inside: the HVP direction v0.., vector symbols v_x / u_x, the
#: line symbol alpha, Taylor's t, CSE temporaries x0.., generated arguments a0_0..,
#: Dummies as printed (_v_x), the kernel's own name and the names of its globals
INTERNAL_NAMES = (
    "v0", "v1", "v2", "v_x", "v_y", "u_x", "u_y", "alpha", "t", "t_", "s_", "x0", "x1", "x2",
    "a0_0", "a0_1", "a1_0", "a1_1", "_v_x", "_Dummy_7", "kernel", "xp", "sin", "sqrt", "pi", "E",
)  # fmt: skip
PLAIN_NAMES = ("p", "q", "r")


def renamed(expr: sympy.Expr, names: tuple[str, ...]) -> tuple[sympy.Expr, tuple[sympy.Symbol, ...]]:
    symbols = tuple(sympy.Symbol(name, real=True) for name in names)
    return expr.xreplace(dict(zip(SYMBOLS, symbols, strict=True))), symbols


def compiled_numbers(expr, names, generator, W, V):
    loss = tl.Loss(expr, variables=list(names))
    f = loss.compile(generator=generator)
    return f.grad(W), f.hess(W), f.hvp(W, V)


@pytest.mark.parametrize("generator", GENERATORS)
@given(
    expr=smooth_expressions(),
    names=st.lists(st.sampled_from(INTERNAL_NAMES), min_size=3, max_size=3, unique=True),
    point=points(3),
    direction=points(3),
)
@settings(max_examples=30)
def test_internal_names_as_variables_change_no_number(generator, expr, names, point, direction):
    W, V = np.array([point, [0.1, -0.2, 0.3]]), np.array([direction, [1.0, 2.0, -1.0]])
    internal, _ = renamed(expr, tuple(names))
    plain, _ = renamed(expr, PLAIN_NAMES)
    got = compiled_numbers(internal, names, generator, W, V)
    want = compiled_numbers(plain, PLAIN_NAMES, generator, W, V)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * (1 + np.nanmax(np.abs(b), initial=0)))


def large_loss(first: str, second: str) -> sympy.Expr:
    """sum_k sin(k a + b)^2 (59 terms): over 400 nodes, so SymEngine differentiates it."""
    a, b = sympy.Symbol(first, real=True), sympy.Symbol(second, real=True)
    return sympy.Add(*(sympy.sin(k * a + b) ** 2 for k in range(1, 60)))


def exact_hessian_at(loss: tl.Loss, point) -> np.ndarray:
    subs = dict(zip(loss.variables, map(sympy.Float, point), strict=True))
    return np.array(loss.hessian.xreplace(subs).evalf(30).tolist(), dtype=float)


@pytest.mark.parametrize("generator", GENERATORS)
@pytest.mark.parametrize("names", [("v0", "x"), ("v1", "v0"), ("v_x", "x"), ("a0_0", "a1_0"), ("x0", "u_x")])
def test_the_large_loss_of_issue_10_gives_the_true_hvp_whatever_its_names(generator, names):
    loss = tl.Loss(large_loss(*names), variables=list(names))
    assert loss.derivatives.engine.name == "symengine"
    w, v = np.array([0.3, -0.7]), np.array([1.0, 2.0])
    H = exact_hessian_at(loss, w)
    f = loss.compile(generator=generator)
    np.testing.assert_allclose(f.hess(w), H, rtol=1e-10)
    np.testing.assert_allclose(f.hvp(w, v), H @ v, rtol=1e-10)  # was [-4261.12, -66.76] for v0
    plain = tl.Loss(large_loss("p", "q")).compile(generator=generator)
    np.testing.assert_allclose(f.hvp(w, v), plain.hvp(w, v), rtol=1e-12)


@pytest.mark.parametrize("text", ["x**2*v_x", "v_x**3 + x*v_y + v_y**2*x", "u_x*x**2 + alpha*x"])
def test_the_symbolic_hvp_never_mixes_a_variable_with_the_direction(text):
    loss = tl.Loss(text)
    v = loss.vector_symbols()
    assert not set(v) & set(loss.variables)
    assert sympy.simplify(loss.hvp() - loss.hessian * sympy.Matrix(v)) == sympy.zeros(loss.n, 1)


@pytest.mark.parametrize("names", [("v_x", "x"), ("v0", "x")])
def test_the_symbolic_hvp_of_a_large_loss_keeps_variables_and_direction_apart(names):
    loss = tl.Loss(large_loss(*names), variables=list(names))
    assert loss.derivatives.engine.name == "symengine"
    v = loss.vector_symbols()
    point = dict(zip(loss.variables, (sympy.Rational(3, 10), sympy.Rational(-7, 10)), strict=True))
    direction = dict(zip(v, (sympy.Integer(1), sympy.Integer(2)), strict=True))
    got = np.array(loss.hvp().xreplace({**point, **direction}).evalf(30).tolist(), dtype=float)[:, 0]
    H = exact_hessian_at(loss, (0.3, -0.7))
    np.testing.assert_allclose(got, H @ np.array([1.0, 2.0]), rtol=1e-12)


@pytest.mark.parametrize("method", ["halley", "chebyshev"])
def test_third_order_steps_with_a_variable_named_like_the_direction(method):
    # the third-order steps build a Loss in the variables and vector_symbols("v")
    start = np.array([1.0, 0.5])
    internal = tl.Loss("x**4 + v_x**2 + x*v_x + v_x**3/10", variables=["x", "v_x"])
    plain = tl.Loss("x**4 + p**2 + x*p + p**3/10", variables=["x", "p"])
    got = tl.newton(internal, start, steps=3, method=method).points
    want = tl.newton(plain, start, steps=3, method=method).points
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_a_loss_may_hold_an_internal_dummy_beside_a_variable_of_its_name():
    loss = tl.Loss("x**2*v_x")
    v = loss.vector_symbols()
    both = tl.Loss(loss.expr + v[1] * loss.variables[1], variables=[*loss.variables, v[1]])
    assert both.n == 3 and len(set(both.variables)) == 3
    with pytest.raises(tl.LossDefinitionError, match="neither variables nor data"):
        tl.Loss(loss.expr + v[1], variables=loss.variables)
