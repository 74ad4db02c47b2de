"""Every stage that can grow ends within its budget: the reproducers of the hangs issue, each in a
subprocess with a hard timeout (its budget plus a margin for the interpreter's start), each with
its typed outcome: a value, a status saying what is missing, or a BudgetExceededError naming the
stage and the option to raise."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import sympy

import taylorlr as tl
from taylorlr import _budget
from taylorlr.solution import exact_newton_step

#: seconds a subprocess may take beyond its budget before it counts as a hang (start-up included)
MARGIN_S = 25

_RUN = """
import json, time, taylorlr as tl
started = time.monotonic()
try:
    value = {call}
    outcome = {{"kind": "value", "text": str(value)[:300]}}
    for name in ("status", "refinement"):
        if hasattr(value, name):
            outcome[name] = str(getattr(value, name))
except tl.TaylorLRError as error:
    outcome = {{"kind": type(error).__name__, "text": str(error), "stage": getattr(error, "stage", None),
               "option": getattr(error, "option", None)}}
print(json.dumps(outcome))
"""


def outcome_of(call: str, budget_s: float) -> dict:
    """Run ``call`` in a fresh interpreter; fail on a hang (no answer within budget + MARGIN_S)."""
    code = textwrap.dedent(_RUN).format(call=call)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=budget_s + MARGIN_S, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


TAYLOR_HANGS = [
    'tl.Loss("exp(sin(x*y))").taylor({"x": "1/3", "y": "1/7"}, order=20, budget_s=1)',
    'tl.Loss("exp(sin(x*y))").taylor({"x": "1/3", "y": "1/7"}, order=50, budget_s=1)',
    'tl.Loss("(x+y+z)**200").taylor({"x": 1, "y": 1, "z": 1}, order=50, budget_s=1)',
]


@pytest.mark.parametrize("call", TAYLOR_HANGS)
def test_a_taylor_polynomial_past_its_budget_is_a_typed_error_naming_the_stage(call):
    outcome = outcome_of(call, 1)
    assert outcome["kind"] == "BudgetExceededError", outcome
    assert outcome["stage"] == "taylor" and outcome["option"] in ("budget_s", "max_terms")
    assert "budget exceeded" in outcome["text"] and "in stage 'taylor'" in outcome["text"]
    assert f"raise {outcome['option']}" in outcome["text"]


CRITICAL_HANGS = [
    'tl.Loss("x**1000 + y**1000").critical_points(budget_s=1)',
    'tl.Loss("x**1000 + y**2").critical_points(budget_s=1)',
    'tl.Loss("(x+y+z)**200").critical_points(budget_s=1)',
    'tl.Loss(" + ".join(f"(x{i}**2 - 1)**2 + x{i}*x{(i + 1) % 12}" for i in range(12)))'
    ".critical_points(budget_s=2)",
]


@pytest.mark.parametrize("call", CRITICAL_HANGS)
def test_critical_points_too_large_for_the_exact_solve_come_back_numeric_with_the_reason(call):
    outcome = outcome_of(call, 2)
    if outcome["kind"] == "BudgetExceededError":  # a machine too slow for even the numeric search
        assert outcome["stage"] == "critical points (numeric search)" and "raise budget_s" in outcome["text"]
        return
    assert outcome["kind"] == "value", outcome
    if outcome["refinement"] == "done":  # a machine fast enough for the exact solve within the budget
        assert outcome["status"] == "complete"
        return
    # too large for an exact solve (Bezout bound), or stopped at the budget (x**1000 + y**2: 999)
    assert outcome["status"] == "budget-exceeded" and outcome["refinement"] in (
        "too large",
        "budget exceeded",
    )


def test_a_loss_with_a_constant_below_float64_is_refused_before_any_stage():
    outcome = outcome_of('tl.solve("x**2 - 1e-310*x**3", budget=1)', 1)
    assert outcome["kind"] == "LossDefinitionError" and "smallest normal" in outcome["text"]


def test_taylor_at_the_origin_of_exp_sin_xy_to_order_50_is_the_univariate_series_in_xy():
    from sympy.polys.ring_series import rs_exp, rs_sin

    _, u = sympy.polys.rings.ring("u", sympy.QQ)
    series = rs_exp(rs_sin(u, u, 26), u, 26)  # SymPy's own ring series: exp(sin(u)) up to u**25
    x, y = sympy.symbols("x y", real=True)
    expected = sympy.expand(series.as_expr().subs(sympy.Symbol("u"), x * y))
    assert tl.Loss("exp(sin(x*y))").taylor({"x": 0, "y": 0}, order=50, budget_s=60) == expected


def test_a_size_limit_names_max_terms_and_the_order():
    with pytest.raises(tl.BudgetExceededError, match="raise max_terms, or lower the order") as error:
        tl.Loss("(x + y + z + 1)**12").taylor({"x": 0, "y": 0, "z": 0}, order=12, max_terms=50)
    assert error.value.stage == "taylor" and error.value.option == "max_terms"


def test_budget_options_are_validated():
    with pytest.raises(tl.OptionError, match="budget_s must be a number of seconds"):
        tl.Loss("x**2").taylor({"x": 0}, budget_s=float("inf"))
    with pytest.raises(tl.OptionError, match="budget_s"):
        tl.Loss("x**2").critical_points(budget_s=0)
    with pytest.raises(tl.OptionError, match="max_solutions"):
        tl.Loss("x**2").critical_points(max_solutions=0)


def test_an_expired_budget_stops_the_derivatives_with_the_stage_that_asked():
    loss = tl.Loss("x**2 + y**2")
    budget = _budget.Budget(stage="critical points", seconds=1e-9)
    with pytest.raises(tl.BudgetExceededError, match="in stage 'critical points'"), budget.active():
        loss.gradient


def test_the_exact_newton_step_refuses_numbers_beyond_its_bits():
    loss = tl.Loss("x**4 + x*y + y**2")
    at = [sympy.Rational(1, 3**130_000), sympy.Integer(1)]
    with pytest.raises(tl.BudgetExceededError, match="bits of the exact gradient and Hessian") as error:
        exact_newton_step(loss, at)
    assert error.value.stage == "exact Newton step"
    assert exact_newton_step(loss, [sympy.Integer(1), sympy.Integer(1)]).point == _newton_by_hand(loss)


def _newton_by_hand(loss):
    x, y = loss.variables
    H = sympy.hessian(loss.expr, (x, y)).subs({x: 1, y: 1})
    g = sympy.Matrix([loss.expr.diff(v) for v in (x, y)]).subs({x: 1, y: 1})
    return tuple(sympy.Matrix([1, 1]) - H.inv() * g)


def test_the_cli_names_its_budget_option_and_exits_2():
    from click.testing import CliRunner

    from taylorlr.cli import cli

    result = CliRunner().invoke(
        cli, ["taylor", "exp(sin(x*y))", "--at", "x=1/3,y=1/7", "--order", "20", "--budget", "0.2"]
    )
    assert result.exit_code == 2
    assert (
        "in stage 'taylor': the limit is --budget=0.2 s; raise --budget, or lower the order" in result.output
    )
    assert _budget.current() is None and "raise budget_s" in str(_budget.Budget(stage="s").exceeded())


def test_solve_keeps_the_float_newton_step_and_says_why_the_exact_one_is_missing():
    at = {"x": sympy.Rational(1, 3**130_000), "y": 1}
    newton = tl.solve("x**4 + y**2", at=at).newton.to_dict()
    assert newton["exact"] is None and "stage 'exact Newton step'" in newton["exact_note"]
    assert (
        newton["start"] == pytest.approx([0.0, 1.0]) and newton["curvature"] == "singular"
    )  # float: 3^-130000 is 0
