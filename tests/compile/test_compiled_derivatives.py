"""What compile() differentiates: SymEngine's derivatives for every smooth loss, SymPy's for kinks.

The SymPy form users read (``loss.gradient``) is not taken to compile, and the compiled values
equal SymPy's own derivatives evaluated exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy

import taylorlr as tl

SMOOTH = [
    "100*(y - x**2)**2 + (1 - x)**2",
    "sin(x*y) + exp(x - y**2)",
    "log(1 + x**2) * cos(y) + sqrt(2 + y**2)",
    "(x + 2*y)**4 + x**2 + y**2",
]
POINTS = np.array([[0.3, -1.2], [1.5, 0.25], [-0.7, 2.0]])


@pytest.mark.parametrize("text", SMOOTH)
def test_a_small_smooth_loss_compiles_symengine_derivatives_without_the_sympy_form(text: str) -> None:
    loss = tl.Loss(text)
    f = loss.compile()
    f.grad(POINTS)
    assert f.derivatives.engine.name == "symengine"
    assert "derivatives" not in loss.__dict__  # the SymPy form was never taken


@pytest.mark.parametrize("generator", ["simd", "xp"])
@pytest.mark.parametrize("text", SMOOTH)
def test_compiled_values_equal_sympys_derivatives(text: str, generator: str) -> None:
    loss = tl.Loss(text)
    f = loss.compile(generator=generator)
    x = loss.variables
    for point in POINTS:
        at = dict(zip(x, (sympy.Rational(str(v)) for v in point), strict=True))
        gradient = [float(sympy.diff(loss.expr, v).xreplace(at).evalf(30)) for v in x]
        hessian = [[float(sympy.diff(loss.expr, a, b).xreplace(at).evalf(30)) for b in x] for a in x]
        np.testing.assert_allclose(f.grad(point), gradient, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(f.hess(point), hessian, rtol=1e-13, atol=1e-12)


def test_a_loss_with_a_kink_compiles_sympys_checked_derivatives() -> None:
    # max, min and heaviside: SymPy's derivatives (abs and sign: SymEngine's, completed, below)
    loss = tl.Loss("max(x - 1, 0) + y**2")
    f = loss.compile()
    assert f.derivatives is loss.derivatives
    assert f.derivatives.engine.name == "sympy"
    np.testing.assert_allclose(f.grad(np.array([3.0, 2.0])), [1.0, 4.0])


def test_a_loss_whose_kinks_are_abs_compiles_symengines_derivatives_through_them() -> None:
    loss = tl.Loss("abs(x - 1) + y**2")
    f = loss.compile()
    assert f.derivatives.engine.name == "symengine" and f.derivatives.engine.through_kinks
    np.testing.assert_allclose(f.grad(np.array([[3.0, 2.0], [0.0, 1.0]])), [[1.0, 4.0], [-1.0, 2.0]])


def test_derivatives_taken_on_symengine_are_reused() -> None:
    terms = " + ".join(f"(x{i} - x{i + 1}**2)**2" for i in range(1, 80))  # over SymPy's size limit
    loss = tl.Loss(terms)
    assert loss.derivatives.engine.name == "symengine"
    assert loss.compile().derivatives is loss.derivatives
