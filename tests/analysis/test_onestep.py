"""Source 000's demo: its printed values, its slip, and the cubic-term miss."""

from __future__ import annotations

import json

import pytest
import sympy

from taylorlr import SingularHessianError
from taylorlr.analysis.onestep import miss_table, one_step_demo
from taylorlr.kinds import Kind


def test_source_defaults_reproduce_the_demo_with_the_right_f_w0():
    demo = one_step_demo()  # a=-1, b=-2, c=-3, w0=-4
    assert (demo.eta, demo.w1, demo.f_w1, demo.w_star, demo.f_star) == (-sympy.Rational(1, 2), -1, -2, -1, -2)
    assert demo.kind == "maximum" and demo.miss == 0
    assert (demo.f_w0, demo.df_w0) == (-11, 6)
    # the source printed f(w0) = -27, f'(w0) = -10: exactly the values at w = +4
    w = sympy.Symbol("w", real=True)
    assert (demo.f.subs(w, 4), demo.df.subs(w, 4)) == (-27, -10)


def test_lines_and_dict():
    demo = one_step_demo()
    assert "f(w0) = -11" in "\n".join(demo.lines())
    data = json.loads(json.dumps(demo.to_dict()))
    assert data["eta"] == -0.5 and data["exact"]["eta"] == "-1/2"


@pytest.mark.parametrize(("a", "b", "w0"), [(1, 3, 7), (-2, 5, 0), ("0.5", "-0.25", -3)])
def test_quadratic_step_lands_on_the_vertex(a, b, w0):
    demo = one_step_demo(a=a, b=b, c=1, w0=w0)
    assert demo.w1 == demo.w_star == -sympy.Rational(b) / (2 * sympy.Rational(a))
    assert demo.miss == 0


def test_cubic_miss_matches_the_closed_form_and_grows_with_d():
    # f = d w^3 - w^2 - 2w - 3 from w0 = -4: f' = 3d w^2 - 2w - 2, f'' = 6d w - 2
    rows = miss_table(["0.01", "0.05", "0.1", "0.2"])
    for row in rows:
        d = row.d
        w1 = -4 - (48 * d + 6) / (-24 * d - 2)
        roots = sympy.solve(3 * d * sympy.Symbol("w") ** 2 - 2 * sympy.Symbol("w") - 2)
        nearest = min(roots, key=lambda r: abs(float(r) - float(w1)))
        assert row.w1 == w1 and float(row.miss) == pytest.approx(abs(float(w1 - nearest)), rel=1e-12)
    misses = [float(r.miss) for r in rows]
    assert misses == sorted(misses) and misses[0] > 0


def test_no_real_extremum_and_zero_curvature():
    assert one_step_demo(a=0, b=1, c=0, w0=1, d=1).w_star is None  # f' = 3w^2 + 1 > 0
    with pytest.raises(SingularHessianError, match="f''"):
        one_step_demo(a=0, b=1, c=0, w0=0, d=1)


def test_a_stationary_inflection_is_a_saddle_of_the_shared_kind():
    # f = w^3 - 3 w^2 + 3 w = (w - 1)^3 + 1: f'(1) = f''(1) = 0, f''' = 6
    demo = one_step_demo(a=-3, b=3, c=0, w0=3, d=1)
    assert demo.w_star == 1 and demo.kind is Kind.SADDLE
    assert "stationary inflection" in demo.lines()[-1] and demo.to_dict()["kind"] == "saddle"
    none = one_step_demo(a=0, b=1, c=0, w0=1, d=1)  # f' = 3 w^2 + 1 > 0: no stationary point
    assert none.kind is None and none.to_dict()["kind"] == "none"


@pytest.mark.parametrize("w0", [-2.8, sympy.Rational(2017, 970), "2017/970"])
def test_an_exact_w1_is_the_rational_it_equals_not_a_nearby_surd(w0):
    # f = -0.47 w^3 - 5.5 w^2 - 4.6 w: eta = -125/388 and w1 = 2017/970 from w0 = -2.8;
    # nsimplify once turned 2017/970 into 7*2**(489/593)*... (off in the 18th digit)
    demo = one_step_demo(a=-5.5, b=-4.6, c=0, w0=-2.8, d=-0.47)
    assert demo.w1 == sympy.Rational(2017, 970) and demo.eta == sympy.Rational(-125, 388)
    assert one_step_demo(w0=w0).w0 == sympy.Rational(str(w0) if not isinstance(w0, float) else repr(w0))
