"""tl.solve and the Solution record: every field against an exact answer."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import sympy

import taylorlr as tl
from taylorlr.report.text import to_json
from taylorlr.solution import Solution, exact_newton_step

SADDLE = "x**2 + 3*x*y**2"
x, y = sympy.symbols("x y", real=True)
F = x**2 + 3 * x * y**2


@pytest.fixture(scope="module")
def at_one_two() -> Solution:
    return tl.solve(SADDLE, at={"x": 1, "y": 2})


def test_the_saddle_has_exactly_one_critical_point_a_degenerate_saddle(at_one_two):
    (point,) = at_one_two.critical_points
    assert point.point == (0, 0) and point.kind == "saddle" and point.degenerate and point.exact
    assert sympy.hessian(F, (x, y)).subs({x: 0, y: 0}).det() == 0  # degenerate indeed
    assert at_one_two.degenerate == (point,) and "along the curve" in point.reason
    # the reason's curve x = -3 t^2 / 2, y = t takes f below f(0, 0) = 0
    t = sympy.Symbol("t")
    assert sympy.expand(F.subs({x: -3 * t**2 / 2, y: t})) == -9 * t**4 / 4


def test_unbounded_below_is_proved_with_a_point(at_one_two):
    bounded = at_one_two.bounded_below
    assert bounded.verdict == "unbounded" and bounded.proof
    assert F.subs(dict(zip((x, y), bounded.point, strict=True))) == pytest.approx(bounded.value)
    assert bounded.value < 0


def test_the_newton_step_lands_on_six_elevenths_ten_elevenths(at_one_two):
    H = sympy.hessian(F, (x, y)).subs({x: 1, y: 2})
    g = sympy.Matrix([F.diff(x), F.diff(y)]).subs({x: 1, y: 2})
    exact = at_one_two.newton.exact
    assert exact.point == (sympy.Rational(6, 11), sympy.Rational(10, 11))
    assert list(exact.step) == list(H.LUsolve(g)) and exact.eta == H.inv()
    assert exact.f_before == 13 and exact.f_after == F.subs(
        {x: sympy.Rational(6, 11), y: sympy.Rational(10, 11)}
    )
    newton = at_one_two.newton
    np.testing.assert_allclose(newton.step.point, [6 / 11, 10 / 11], rtol=1e-14)
    assert newton.f_before == 13.0 and newton.f_after == pytest.approx(float(exact.f_after), rel=1e-14)
    assert newton.step.curvature == "saddle" and "saddle point" in newton.heads_for


def test_the_step_size_bounds_at_the_point(at_one_two):
    bounds = at_one_two.step_size
    assert float(bounds.descent.eps_max) == pytest.approx(2 * 340 / 5288)  # 2 g'g / g'Hg, g = (14, 12)
    assert bounds.lambda_max == pytest.approx(float(4 + sympy.sqrt(148)))
    assert bounds.bound.certainty == "guaranteed" and bounds.bound.smoothness.L == 30.0
    # on [0, 2] x [1, 3]: Gershgorin max(2 + 18, 18 + 12) = 30, and f(w - g/30) <= 13 - 340/60
    w_plus = {x: 1 - sympy.Rational(14, 30), y: 2 - sympy.Rational(12, 30)}
    assert F.subs(w_plus) <= 13 - sympy.Rational(340, 60) and bounds.bound.decrease <= 340 / 60
    assert round(float(F.subs(w_plus)), 2) == 4.38  # as docs/cli.md says


def test_to_dict_has_the_design_keys_and_is_what_the_cli_prints(at_one_two):
    data = at_one_two.to_dict()
    assert data["variables"] == ["x", "y"] and data["gradient"] == ["2*x + 3*y**2", "6*x*y"]
    assert data["hessian"] == [["2", "6*y"], ["6*y", "6*x"]]
    (point,) = data["critical_points"]
    assert {"point", "kind", "eigenvalues", "exact", "degenerate"} <= point.keys()
    assert data["newton"]["exact"]["point"] == ["6/11", "10/11"]
    assert data["newton"]["exact"]["eta"] == [["-1/22", "1/11"], ["1/11", "-1/66"]]
    assert data["step_size"]["smoothness"]["status"] == "guaranteed"
    json.loads(to_json(data))  # strict JSON
    assert "newton" not in tl.solve(SADDLE).to_dict()


def test_the_record_is_frozen_and_takes_a_loss_or_text():
    solution = tl.solve(tl.Loss("x**4 - 2*x**2"), at=[2])
    with pytest.raises(dataclasses.FrozenInstanceError):
        solution.at = None  # type: ignore[misc]
    assert [p.point for p in solution.critical_points] == [(-1,), (0,), (1,)]
    assert solution.newton.exact.point == (sympy.Rational(16, 11),)  # 2 - 24/44
    assert solution.at == (2,) and solution.gradient == tl.Loss("x**4 - 2*x**2").gradient


def test_data_symbols_skip_the_critical_points_and_refuse_a_point():
    loss = tl.Loss("(w*x - y)**2", variables=("w",), data=("x", "y"))
    solution = tl.solve(loss)
    assert (
        solution.critical_points is None
        and solution.bounded_below is None
        and "data symbols" in solution.skipped
    )
    assert solution.to_dict()["analysis"]["status"] == "skipped"
    with pytest.raises(tl.OptionError, match="--at needs numbers"):
        tl.solve(loss, at={"w": 1})


def test_the_exact_step_is_not_formed_where_it_is_irrational_or_singular():
    assert exact_newton_step(tl.Loss("exp(x)"), [sympy.Integer(1)]) is None
    assert exact_newton_step(tl.Loss("x**4"), [sympy.Integer(0)]) is None
    singular = tl.solve("x**2 + y**4", at=[0, 0])
    assert singular.newton.step.curvature == "singular" and singular.newton.exact is None
    assert "no Newton step exists" in singular.newton.heads_for
