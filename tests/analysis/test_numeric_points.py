"""The numeric critical-point search: a point is critical only when rounding explains its gradient.

Ground truth: the Gaussian problem of Moré, Garbow and Hillstrom (#9) with its published
minimum, and gradients evaluated independently with mpmath at 50 digits.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy

import taylorlr as tl
from taylorlr.analysis._numeric import within_rounding

GAUSSIAN_Y = (0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989, 0.3521, 0.2420, 0.1295,
              0.0540, 0.0175, 0.0044, 0.0009)  # fmt: skip
GAUSSIAN_F_STAR = 1.12793e-8  # published (MGH 1981, problem 9)


def gaussian() -> tl.Loss:
    """f = sum_i (x1 exp(-x2 (t_i - x3)^2 / 2) - y_i)^2, t_i = (8 - i)/2, i = 1..15 (exact data)."""
    x1, x2, x3 = sympy.symbols("x1 x2 x3", real=True)
    terms = (
        (x1 * sympy.exp(-x2 * (sympy.Rational(8 - i, 2) - x3) ** 2 / 2) - sympy.Rational(str(y))) ** 2
        for i, y in enumerate(GAUSSIAN_Y, start=1)
    )
    return tl.Loss(sympy.Add(*terms), variables=(x1, x2, x3))


def mp_gradient(loss: tl.Loss, point) -> list[mpmath.mpf]:
    """The gradient at the float point, with mpmath at 50 digits (independent of taylorlr's kernels)."""
    with mpmath.workdps(50):
        at = {v: sympy.Float(float(c), 60) for v, c in zip(loss.variables, point, strict=True)}
        return [mpmath.mpf(str(sympy.N(g.xreplace(at), 50))) for g in loss.gradient]


@pytest.fixture(scope="module")
def gaussian_points():
    loss = gaussian()
    return loss, loss.critical_points()


def test_gaussian_search_finds_the_published_minimum_and_no_plateau_point(gaussian_points):
    loss, result = gaussian_points
    assert result.status == "numeric"
    (point,) = result  # before: 48 "critical points", all on the plateau f = sum y_i^2 = 0.56422337
    assert point.kind == "minimum" and not point.exact
    assert float(f"{point.value:.5e}") == GAUSSIAN_F_STAR
    np.testing.assert_allclose(point.floats, (0.3989561, 1.0000191, 0.0), atol=5e-8)
    assert result.rejected > 0 and "provably not zero" in result.note
    # the returned point is critical within rounding by an independent evaluation
    g = mp_gradient(loss, point.floats)
    assert max(abs(float(v)) for v in g) <= point.tolerance


def test_a_plateau_point_has_a_provably_nonzero_gradient_and_is_rejected(gaussian_points):
    loss, _ = gaussian_points
    plateau = (-0.8107766201793004, 5.037418603555086, -6.639797637798262)  # returned before the fix
    assert float(loss.value_at(plateau)) == pytest.approx(sum(y * y for y in GAUSSIAN_Y), abs=1e-12)
    g = mp_gradient(loss, plateau)
    H = np.array(
        loss.hessian.xreplace(dict(zip(loss.variables, plateau, strict=True))).evalf(30).tolist(), float
    )
    one_ulp = np.abs(H) @ np.spacing(np.abs(plateau))
    assert abs(float(g[0])) > 1e6 * one_ulp[0]  # no point within an ulp has a zero gradient
    ok, _ = within_rounding(loss, loss.compile(), np.array([plateau]))
    assert not ok[0]


def test_an_underflow_plateau_is_not_a_set_of_critical_points():
    # exp(-100 x^2) underflows for |x| > 2.7: its gradient is 0.0 in floats, and not 0 in truth
    result = tl.Loss("exp(-100*x**2) + (y - 1)**2").critical_points()
    (point,) = result  # before: 386 points on the plateau, labelled "inconclusive"
    assert point.floats == (0.0, 1.0) and point.kind == "saddle"
    assert result.rejected > 0
    x = 4.0
    with mpmath.workdps(30):
        assert mpmath.diff(lambda s: mpmath.exp(-100 * s**2), x) != 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("exp(x) - 2*x + y**2", [((np.log(2), 0.0), "minimum")]),
        ("exp(x) + y**2", []),  # no critical point: exp(x) -> 0 as x -> -inf is an asymptote
        # f' = x (2/(1 + x^2) - 1/5): zero at 0 (f'' = 9/5) and at +-3 (f'' = -16/100 - 1/5)
        ("log(1 + x**2) - x**2/10", [((-3.0,), "maximum"), ((0.0,), "minimum"), ((3.0,), "maximum")]),
    ],
)
def test_non_polynomial_critical_points_against_closed_forms(text, expected):
    result = tl.Loss(text).critical_points(box=4.0)
    found = [(p.floats, str(p.kind)) for p in result]
    assert [kind for _, kind in found] == [kind for _, kind in expected]
    for (point, _), (truth, _) in zip(found, expected, strict=True):
        np.testing.assert_allclose(point, truth, atol=1e-12)


def test_periodic_critical_points_are_all_true_and_the_nearest_are_found():
    """cos(x) + y^2: critical exactly at (k pi, 0); a saddle for even k, a minimum for odd k."""
    result = tl.Loss("cos(x) + y**2").critical_points(box=4.0)
    ks = []
    for p in result:
        k = round(p.floats[0] / np.pi)
        assert p.floats == pytest.approx((k * np.pi, 0.0), abs=1e-12)
        assert p.kind == ("saddle" if k % 2 == 0 else "minimum")
        ks.append(k)
    assert {-1, 0, 1} <= set(ks) and len(ks) == len(set(ks))
