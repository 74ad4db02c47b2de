"""The Loss: variables, validation, exact derivatives, HVP, line and Taylor polynomials."""

from __future__ import annotations

import math

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import SYMBOLS, X, Y, polynomials, small_rationals

import taylorlr as tl

x, y = sympy.symbols("x y", real=True)


def test_reference_loss_gradient_and_hessian():
    loss = tl.Loss("x**2 + 3*x*y**2")
    assert loss.variables == (x, y) and loss.n == 2
    assert loss.gradient == sympy.Matrix([2 * x + 3 * y**2, 6 * x * y])
    assert loss.hessian == sympy.Matrix([[2, 6 * y], [6 * y, 6 * x]])


def test_natural_order_of_names_and_given_order():
    assert tl.Loss("x10 + x2**2 + x1*y").names == ("x1", "x2", "x10", "y")
    assert tl.Loss("x10 + x2**2", variables=("x10", "x2")).names == ("x10", "x2")


def test_sympy_input_keeps_the_users_names_as_real_symbols():
    # issue 15: plain symbols become real symbols of the same name (Abs(x) had a complex derivative)
    a, b = sympy.symbols("a b")
    ra, rb = sympy.symbols("a b", real=True)
    loss = tl.Loss(a**2 * b, variables=(b, a))
    assert loss.variables == (rb, ra)
    assert loss.gradient == sympy.Matrix([ra**2, 2 * ra * rb])


@pytest.mark.parametrize(
    ("expr", "match"),
    [
        ("3 + 4", "no variable"),
        (sympy.Integer(3), "no variable"),
        (sympy.I * x + x**2, "non-real"),
        (x + sympy.zoo, "infinit"),
        (sympy.Function("f")(x), "unsupported"),
        (sympy.Integral(x, x), "unsupported"),
        (3.5, "constant"),
    ],
)
def test_ill_defined_losses_are_refused(expr, match):
    with pytest.raises(tl.LossDefinitionError, match=match):
        tl.Loss(expr)


def test_undeclared_symbols_are_refused_and_data_accepted():
    with pytest.raises(tl.LossDefinitionError, match=r"neither variables nor data.*data="):
        tl.Loss("(w*x - y)**2", variables=("w",))
    loss = tl.Loss("(w*x - y)**2", variables=("w",), data=("x", "y"))
    assert loss.names == ("w",) and loss.names_of(loss.data) == ("x", "y")
    with pytest.raises(tl.LossDefinitionError, match="both as variables and as data"):
        tl.Loss("w*x", variables=("w", "x"), data=("x",))


def test_everything_is_cached():
    loss = tl.Loss("sin(x)*y")
    assert loss.gradient is loss.gradient and loss.hessian is loss.hessian
    assert loss.compile() is loss.compile()


@given(poly=polynomials())
@settings(max_examples=40)
def test_hessian_is_symmetric_and_equals_sympy_hessian(poly):
    loss = tl.Loss(poly, variables=SYMBOLS)
    assert loss.hessian == loss.hessian.T
    assert (loss.hessian - sympy.hessian(poly, SYMBOLS)).applyfunc(sympy.expand) == sympy.zeros(3, 3)
    v = loss.vector_symbols()
    assert (loss.hvp() - sympy.hessian(poly, SYMBOLS) * sympy.Matrix(v)).applyfunc(
        sympy.expand
    ) == sympy.zeros(3, 1)


@given(
    poly=polynomials(max_degree=3),
    a=st.tuples(small_rationals, small_rationals, small_rationals),
    extra=st.integers(0, 1),
)
@settings(max_examples=20)
def test_taylor_of_polynomial_at_order_at_least_degree_is_exact(poly, a, extra):
    loss = tl.Loss(poly, variables=SYMBOLS)
    degree = sympy.Poly(poly, *SYMBOLS).total_degree()
    assert (
        sympy.expand(loss.taylor(dict(zip(("x", "y", "z"), a, strict=True)), order=degree + extra) - poly)
        == 0
    )


@given(poly=polynomials(max_degree=3), a=st.tuples(small_rationals, small_rationals, small_rationals))
@settings(max_examples=30)
def test_taylor_below_degree_drops_exactly_the_high_terms(poly, a):
    loss = tl.Loss(poly, variables=SYMBOLS)
    h = sympy.symbols("h0:3")
    shifted = sympy.Poly(
        sympy.expand(poly.xreplace({s: ai + hi for s, ai, hi in zip(SYMBOLS, a, h, strict=True)})), *h
    )
    low = sum(
        c * sympy.Mul(*(hi**m for hi, m in zip(h, mon, strict=True)))
        for mon, c in shifted.terms()
        if sum(mon) <= 1
    )
    expected = low.xreplace({hi: s - ai for hi, s, ai in zip(h, SYMBOLS, a, strict=True)})
    assert sympy.expand(loss.taylor(list(a), order=1) - expected) == 0


@pytest.mark.parametrize("order", [1, 2, 3])
def test_taylor_error_of_smooth_function_shrinks_at_the_right_order(order):
    loss = tl.Loss("exp(x)*sin(y) + cos(x*y)")
    poly = loss.taylor({"x": "1/2", "y": "1/3"}, order=order)
    errors = []
    for h in (sympy.Rational(1, 100), sympy.Rational(1, 200)):
        point = {x: sympy.Rational(1, 2) + h, y: sympy.Rational(1, 3) - h}
        errors.append(abs(float(sympy.N((loss.expr - poly).xreplace(point), 40))))
    assert math.isclose(math.log2(errors[0] / errors[1]), order + 1, abs_tol=0.15)


def test_taylor_of_reference_loss_at_1_2_order_3():
    loss = tl.Loss("x**2 + 3*x*y**2")
    assert sympy.expand(loss.taylor({"x": 1, "y": 2}, order=3) - loss.expr) == 0
    quadratic = loss.taylor({"x": 1, "y": 2}, order=2)
    # f(1 + h, 2 + k) = 13 + 14h + 12k + h^2 + 12hk + 3k^2 + 3hk^2: the cubic term is dropped
    h, k = x - 1, y - 2
    assert sympy.expand(quadratic - (13 + 14 * h + 12 * k + h**2 + 12 * h * k + 3 * k**2)) == 0


def test_line_derivatives_are_directional_derivatives():
    loss = tl.Loss("x**2*y + y**3")
    u = loss.vector_symbols("u")
    g0, g1, g2 = loss.line_derivatives(2)
    assert g0 == loss.expr
    assert sympy.expand(g1 + (loss.gradient.T * sympy.Matrix(u))[0]) == 0
    assert sympy.expand(g2 - (sympy.Matrix(u).T * loss.hessian * sympy.Matrix(u))[0]) == 0
    alpha, g = loss.line()
    coefficients = loss.line_polynomial()
    assert sympy.expand(sum(c * alpha**k for k, c in enumerate(coefficients)) - g) == 0


def test_line_polynomial_refuses_non_polynomials():
    with pytest.raises(tl.LossDefinitionError, match="not a polynomial"):
        tl.Loss("exp(x)").line_polynomial()


def test_value_at_is_exact():
    assert tl.Loss("x**2 + 3*x*y**2").value_at({"x": 0.1, "y": "1/3"}) == sympy.Rational(
        1, 100
    ) + sympy.Rational(1, 30)


@pytest.mark.parametrize("at", [{"x": 1}, {"x": 1, "y": 2, "z": 3}, [1], [1, 2, 3], "12", [float("nan"), 1]])
def test_bad_points_are_point_errors(at):
    with pytest.raises(tl.PointError):
        tl.Loss("x*y").taylor(at, order=1)


@pytest.mark.parametrize("order", [-1, 1.5, 51, True])
def test_bad_orders_are_option_errors(order):
    with pytest.raises(tl.OptionError, match="order"):
        tl.Loss("x*y").taylor([0, 0], order=order)


def test_sympy_engine_fallback_gives_the_same_derivatives():
    from taylorlr.symbolic.derivatives import sparse_derivatives

    expr = sum((X + i * Y) ** 3 * sympy.sin(Y) for i in range(30))
    fast = sparse_derivatives(expr, (X, Y), engine="symengine")
    slow = sparse_derivatives(expr, (X, Y), engine="sympy")
    assert fast.engine.name == "symengine" and slow.engine.name == "sympy"
    difference = fast.to_sympy_hessian((X, Y)) - slow.to_sympy_hessian((X, Y))
    assert difference.applyfunc(sympy.expand) == sympy.zeros(2, 2)


@pytest.mark.parametrize(
    "text",
    ["x**2 + 3*x*y**2", "abs(x - 1) + y**2", "sign(x)*y + x**2", "max(x, y) + x**2", "relu(x - y) + y**4"],
)
def test_the_derivatives_engines_chosen_from_the_checks_are_those_a_walk_of_the_loss_chooses(text):
    # Loss hands the node types its checks found to the derivatives, instead of their own walks
    from taylorlr.symbolic.derivatives import sparse_derivatives

    loss = tl.Loss(text)
    walked = sparse_derivatives(loss.expr, loss.variables)
    assert loss.derivatives.engine == walked.engine and loss.derivatives.gradient == walked.gradient
    compiled = sparse_derivatives(loss.expr, loss.variables, engine="symengine")
    assert loss.compiled_derivatives.engine == compiled.engine
    assert (
        loss.compiled_derivatives.smooth
        == compiled.smooth
        == ("abs" not in text and "max" not in text and "sign" not in text and "relu" not in text)
    )


def test_a_replaced_expression_is_walked_again_for_its_kinks():
    loss = tl.Loss("x**2 + y**2")
    loss.expr = sympy.Abs(X - 1) + Y**2  # the node types found by the checks were the old expression's
    assert not loss.derivatives.smooth and loss.derivatives.engine.name == "sympy"
