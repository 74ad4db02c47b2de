"""Taylor-mode series against the textbook sum of partial derivatives, and the route it leaves."""

from __future__ import annotations

import itertools
import math

import pytest
import sympy

import taylorlr as tl
from taylorlr.symbolic.points import exact_point
from taylorlr.symbolic.series import Unsupported, taylor_series


def textbook(expr, variables, a, order):
    """sum over |k| <= order of D^k f(a) (x - a)^k / k!, by SymPy's diff (independent of the series)."""
    at = dict(zip(variables, a, strict=True))
    total = sympy.Integer(0)
    for powers in itertools.product(range(order + 1), repeat=len(variables)):
        if sum(powers) > order:
            continue
        derivative = expr
        for v, k in zip(variables, powers, strict=True):
            derivative = sympy.diff(derivative, v, k) if k else derivative
        monomial = sympy.Mul(*((v - at[v]) ** k for v, k in zip(variables, powers, strict=True)))
        total += derivative.xreplace(at) * monomial / math.prod(math.factorial(k) for k in powers)
    return sympy.expand(total)


CASES = [
    ("exp(sin(x*y))", {"x": "1/3", "y": "1/7"}, 4),
    ("sqrt(x)*log(1 + y) + atan(x*y)", {"x": 2, "y": 1}, 3),
    ("abs(x - y) + cos(x)**2/(1 + y**2)", {"x": 1, "y": 3}, 4),
    ("tan(x) + erf(y) + pi*x + sinh(x*y) - cosh(y)", {"x": "1/5", "y": "1/2"}, 4),
    ("(x + 2*y)**(3/2) + x**-2 + tanh(y)", {"x": 1, "y": "1/4"}, 3),
    ("(x + y + z)**20", {"x": 1, "y": -1, "z": 2}, 3),
]


@pytest.mark.parametrize(("text", "at", "order"), CASES)
def test_the_series_is_the_sum_of_partial_derivatives(text, at, order):
    loss = tl.Loss(text)
    a = exact_point(at, loss.variables)
    series = taylor_series(loss.expr, loss.variables, a, order)
    assert sympy.expand(series - textbook(loss.expr, loss.variables, a, order)) == 0
    assert loss.taylor(at, order) == series


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("y**y + x", {"x": 1, "y": "1/2"}),
        ("max(x, y)**2", {"x": 1, "y": 3}),
        ("sqrt(x) + y", {"x": 0, "y": 1}),
    ],
)
def test_what_the_series_does_not_cover_takes_the_derivative_route(text, at):
    loss = tl.Loss(text)
    with pytest.raises(Unsupported):
        taylor_series(loss.expr, loss.variables, exact_point(at, loss.variables), 2)
    if text.startswith("sqrt"):
        with pytest.raises(tl.PointError, match="not differentiable"):
            loss.taylor(at, 2)
        return
    a = exact_point(at, loss.variables)
    assert sympy.expand(loss.taylor(at, 2) - textbook(loss.expr, loss.variables, a, 2)) == 0
