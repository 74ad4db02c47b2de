"""The compiled derivatives through abs and sign on SymEngine (symbolic/_abs_derivatives.py) are
SymPy's own derivatives once the point masses the compiled functions drop are dropped: compared
in 30-digit arithmetic at points on both sides of every kink, and on the kinks themselves."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import mpmath
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import taylorlr as tl
from taylorlr.compile._kinks import without_point_masses
from taylorlr.symbolic import _abs_derivatives
from taylorlr.symbolic.derivatives import compiled_on_symengine, sparse_derivatives

pytest.importorskip("symengine")

X, Y, Z = sympy.symbols("x y z", real=True)
# every kink of these switches inside the sampled box (x, y in [-2, 2], z in [2.25, 4])
LOSSES = [
    sympy.Abs(X - Y**2) + X * Y,
    sympy.exp(-(sympy.Abs(Y - X) ** Z) / (1 + X**2)),  # the Gulf research problem's residual
    sympy.Abs(sympy.Abs(X) - Y) * X,  # nested
    sympy.sign(X - Y) * X**2 + sympy.Abs(X * Y - 1) ** 3,
    sympy.log(1 + sympy.Abs(sympy.sin(X) - Y)) + Z * Y,
    (sympy.Abs(X + Y) ** Z - sympy.Rational(1, 3)) ** 2,
    sympy.Abs(X) ** Z * sympy.sign(Y) + sympy.Abs(X + 5 * sympy.log(3) - 3 * Y),
]
VARIABLES = (X, Y, Z)


def _both(expr: sympy.Expr) -> tuple[sympy.Matrix, sympy.Matrix, sympy.Matrix, sympy.Matrix]:
    """(gradient, Hessian) by SymEngine through the kinks and by SymPy, point masses dropped."""
    fast = sparse_derivatives(expr, VARIABLES, engine="symengine")
    assert fast.engine.name == "symengine" and fast.engine.through_kinks and not fast.smooth
    exact = sparse_derivatives(expr, VARIABLES, engine="sympy")
    assert exact.engine.name == "sympy"
    drop = without_point_masses
    return (
        fast.to_sympy_gradient(VARIABLES),
        fast.to_sympy_hessian(VARIABLES),
        exact.to_sympy_gradient(VARIABLES).applyfunc(drop),
        exact.to_sympy_hessian(VARIABLES).applyfunc(drop),
    )


DERIVATIVES = {k: _both(expr) for k, expr in enumerate(LOSSES)}


def _at(expr: sympy.Expr, at: dict[sympy.Symbol, Any]) -> Any:
    """expr at ``at`` in 100-digit mpmath (sign(0) = 0, as SymPy's); NaN where it is not finite."""
    try:
        value = sympy.lambdify(VARIABLES, expr, "mpmath")(*(mpmath.mpf(at[s]) for s in VARIABLES))
    except (ZeroDivisionError, ValueError):
        return mpmath.nan
    return value if mpmath.isfinite(value) and not isinstance(value, mpmath.mpc) else mpmath.nan


#: a direction across the kinks (no kink set of LOSSES is tangent to it) and a step along it (the
#: Hessians of abs(u)^(9/4) reach their limit like STEP^(1/4)); evaluated at 100 digits
ACROSS, STEP = (1, mpmath.sqrt(2) / 3, 0), mpmath.mpf(10) ** -80
DIGITS = 100


def _close(a: sympy.Expr, b: sympy.Expr, at: dict[sympy.Symbol, Any]) -> bool:
    u, v = _at(a, at), _at(b, at)
    if mpmath.isnan(v) and not mpmath.isnan(u):
        # SymPy's form is 0/0 on the kink (z |u|^z sign(u) / |u| for d|u|^z/dx), SymEngine's is not
        # (z |u|^(z - 1) sign(u)): it must be the derivative's limit there, the mean of both sides
        sides = [{s: at[s] + h * d for s, d in zip(VARIABLES, ACROSS, strict=True)} for h in (STEP, -STEP)]
        mean = (_at(b, sides[0]) + _at(b, sides[1])) / 2
        return bool(abs(u - mean) <= mpmath.mpf("1e-15") * (1 + abs(mean)))
    if mpmath.isnan(u) or mpmath.isnan(v):
        return bool(mpmath.isnan(u) and mpmath.isnan(v))
    return bool(abs(u - v) <= mpmath.mpf("1e-60") * (1 + abs(v)))


def _assert_same(k: int, at: dict[sympy.Symbol, sympy.Expr]) -> None:
    gradient, hessian, gradient_sympy, hessian_sympy = DERIVATIVES[k]
    with mpmath.workdps(DIGITS):
        for a, b in [*zip(gradient, gradient_sympy, strict=True), *zip(hessian, hessian_sympy, strict=True)]:
            assert _close(a, b, at), (LOSSES[k], at, a, b)


fractions = st.fractions(Fraction(-2), Fraction(2), max_denominator=64)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.integers(0, len(LOSSES) - 1), fractions, fractions, st.fractions(Fraction(9, 4), Fraction(4)))
def test_symengine_derivatives_through_abs_and_sign_are_sympys(k: int, x: Fraction, y: Fraction, z: Fraction):
    _assert_same(k, {X: mpmath.mpf(x.numerator) / x.denominator, Y: mpmath.mpf(y.numerator) / y.denominator,
                     Z: mpmath.mpf(z.numerator) / z.denominator})  # fmt: skip


@pytest.mark.parametrize(
    ("k", "point"),
    [
        (0, (1, 1, 3)),  # x = y^2: abs's argument is 0
        (1, (0.5, 0.5, 3)),  # y = x
        (2, (1, 1, 3)),  # abs(x) - y = 0 (the outer kink)
        (2, (0, 1, 3)),  # x = 0 (the inner kink)
        (3, (1, 1, 3)),  # x = y and x y = 1: both kinks at once
        (4, (0, 0, 3)),  # sin(x) = y
        (6, (0, 0, 3)),  # abs(x) and sign(y) at 0
    ],
)
def test_on_the_kink_both_follow_the_same_convention(k: int, point: tuple[int, ...]):
    # sign(0) = 0 in both (the point mass dropped), so the gradient there is the mean of the two
    # sides; where SymPy's form is 0/0, SymEngine's is the derivative's limit
    _assert_same(k, dict(zip(VARIABLES, map(mpmath.mpf, point), strict=True)))


def test_on_the_kink_the_gradient_is_the_mean_of_the_one_sided_slopes():
    gradient, *_ = _both(sympy.Abs(X - 1) + 3 * X)
    assert gradient[0].subs(X, 1) == 3  # (2 + 4) / 2
    assert gradient[0].subs(X, 2) == 4 and gradient[0].subs(X, 0) == 2


def test_max_min_and_heaviside_stay_with_sympy():
    for expr in (sympy.Max(X, Y**2), sympy.Abs(X) + sympy.Min(X, Y), sympy.Heaviside(X) * Y):
        assert not compiled_on_symengine(expr)
        assert sparse_derivatives(expr, (X, Y), engine="symengine").engine.name == "sympy"
    import symengine

    x, y = symengine.symbols("x y")
    with pytest.raises(_abs_derivatives.PendingDerivative, match="max"):
        _abs_derivatives.diff_through_kinks(symengine.Max(x, x * y), x)


def test_a_derivative_left_pending_sends_the_loss_to_sympy(monkeypatch: pytest.MonkeyPatch):
    def pending(expr: Any, symbol: Any) -> Any:
        raise _abs_derivatives.PendingDerivative("Derivative(f(x), x)")

    monkeypatch.setattr(_abs_derivatives, "diff_through_kinks", pending)
    derivatives = sparse_derivatives(sympy.Abs(X - 1) + Y**2, (X, Y), engine="symengine")
    assert derivatives.engine.name == "sympy"
    assert derivatives.to_sympy_gradient((X, Y))[1] == 2 * Y


def test_the_gulf_problem_compiles_derivatives_that_sympy_confirms():
    loss = tl.problems.get("gulf", m=3).loss
    assert loss.compiled_derivatives.engine.through_kinks
    compiled = loss.compile()
    exact_gradient = [without_point_masses(g) for g in loss.gradient]
    exact_hessian = loss.hessian.applyfunc(without_point_masses)
    for point in ([5.0, 2.5, 0.15], [50.0, 25.0, 1.5], [3.0, 40.0, 2.0]):  # y_i - x2 changes sign at x2 = 25
        at = dict(zip(loss.variables, map(sympy.Rational, point), strict=True))
        want = [float(sympy.N(g.subs(at), 30)) for g in exact_gradient]
        assert compiled.grad(point).tolist() == pytest.approx(want, rel=1e-10, abs=1e-12)
        want_hessian = [[float(sympy.N(h.subs(at), 30)) for h in row] for row in exact_hessian.tolist()]
        assert compiled.hess(point).tolist() == [pytest.approx(r, rel=1e-9, abs=1e-12) for r in want_hessian]
