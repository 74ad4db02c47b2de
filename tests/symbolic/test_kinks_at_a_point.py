"""A point is said to lie on a kink exactly when an abs, sign, max or min of f switches there, and the
Newton report says so beside numbers that then follow the kink convention (sign(0) = 0, a step 1/2)."""

from __future__ import annotations

import json

import sympy
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from taylorlr.cli import cli
from taylorlr.symbolic.kinks import switches_at

X, Y = sympy.symbols("x y", real=True)
SMALL = st.fractions(min_value=-3, max_value=3, max_denominator=4)


@settings(max_examples=60)
@given(a=SMALL, b=SMALL, c=SMALL, x=SMALL, y=SMALL)
def test_abs_switches_where_its_argument_is_zero(a, b, c, x, y):
    u = sympy.Rational(a.numerator, a.denominator) * X + sympy.Rational(b.numerator, b.denominator) * Y
    u = u + sympy.Rational(c.numerator, c.denominator)
    on = a * x + b * y + c == 0  # Fractions: an independent exact evaluation
    point = {X: sympy.Rational(x.numerator, x.denominator), Y: sympy.Rational(y.numerator, y.denominator)}
    assert bool(switches_at(sympy.Abs(u) + X**2, point)) == (on and u.free_symbols != set())


@settings(max_examples=60)
@given(
    coefficients=st.lists(st.tuples(SMALL, SMALL), min_size=2, max_size=4),
    x=SMALL,
    lattice=st.sampled_from([sympy.Max, sympy.Min]),
)
def test_max_and_min_switch_where_two_arguments_tie_at_the_extreme(coefficients, x, lattice):
    arguments = [sympy.Rational(k.numerator, k.denominator) * X + sympy.Rational(c.numerator, c.denominator)
                 for k, c in coefficients]  # fmt: skip
    values = [k * x + c for k, c in coefficients]
    extreme = max(values) if lattice is sympy.Max else min(values)
    expr = lattice(*arguments)
    if not isinstance(expr, lattice):  # SymPy folded it (equal or dominated arguments): no switch left
        return
    kept = [k * x + c for k, c in ((a.coeff(X), a.subs(X, 0)) for a in expr.args)]
    extreme = max(kept) if lattice is sympy.Max else min(kept)
    ties = sum(1 for v in kept if v == extreme)
    point = {X: sympy.Rational(x.numerator, x.denominator)}
    assert bool(switches_at(expr, point)) == (ties >= 2), (expr, x)
    del values


def _newton_json(text: str, at: str) -> dict:
    result = CliRunner().invoke(cli, ["newton", text, "--at", at, "--steps", "1", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["steps"][0]


def test_on_a_kink_the_report_says_so_and_its_numbers_follow_the_convention():
    step = _newton_json("max(1, x**3)", "x=1")  # 3x**2 and 6x times Heaviside(0) = 1/2
    assert step["kinks"] == ["max(1, x**3)"]
    assert step["gradient"] == [1.5] and step["eigenvalues"] == [3.0]
    assert "(a descent direction)" not in step["heads_for"] and "convention" in step["heads_for"]
    text = CliRunner().invoke(cli, ["newton", "max(1, x**3)", "--at", "x=1", "--steps", "1"]).output
    assert "on a kink      max(1, x**3) switches here" in text


def test_off_a_kink_nothing_is_said():
    step = _newton_json("max(1, x**3)", "x=2")
    assert step["kinks"] == [] and step["heads_for"].endswith("(a descent direction)")
    assert step["gradient"] == [12.0]


def test_a_convention_that_is_not_the_derivative_is_not_called_one():
    """max(0, x)**2 is once differentiable at 0 with one-sided second derivatives 0 and 2: the
    convention gives 2 Heaviside(0)**2 = 1/2, neither of them nor their mean; the report claims only
    that the numbers follow the convention."""
    step = _newton_json("max(0, x)**2 + x**2", "x=0")
    assert step["kinks"] == ["max(0, x)"] and step["eigenvalues"] == [2.5]
    assert "need not be f's derivatives" in step["heads_for"]


def test_a_float_point_on_a_kink_in_floating_point_is_named_too():
    """The float 0.1 is not 1/10, but x - 1/10 is 0 at it in floating point, where the compiled
    numbers were computed (sign(0) = 0 in the gradient): the report names the kink."""
    step = _newton_json("abs(x - 0.1) + x**2", "x=0.1")
    assert step["kinks"] == ["abs(x - 1/10)"] and step["gradient"] == [0.2]  # 2x + sign(0)


def test_a_start_outside_the_real_domain_of_a_kink_is_reported_not_an_internal_error():
    """max(sqrt(x), y) at x = -4: SymPy refuses Heaviside(2*I - 1) in the exact gradient (it raised
    an internal error in `solve --at`); the step is "nonfinite", the step size says why, no kink is
    claimed where the arguments are not real."""
    result = CliRunner().invoke(cli, ["solve", "abs(x) + max(sqrt(x), y)", "--at", "x=-4,y=1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["newton"]["curvature"] == "nonfinite" and data["newton"]["kinks"] == []
    assert switches_at(sympy.Max(sympy.sqrt(X), Y), {X: -4, Y: 1}) == ()
