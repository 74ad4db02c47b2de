"""The numeric answer first, the exact refinement within the budget: every status it can end in."""

from __future__ import annotations

import time

import pytest
import sympy

import taylorlr as tl
import taylorlr.analysis.critical_points as module
from taylorlr import _budget
from taylorlr.analysis.critical_points import bezout_bound, critical_points


def test_wait_false_answers_numeric_points_then_refined_gives_the_exact_ones():
    result = critical_points(tl.Loss("x**4 - 2*x**2"), wait=False)
    assert result.status == "pending" and result.refinement == "pending" and ".refined()" in result.note
    assert [p.exact for p in result] == [False] * 3
    assert [p.floats[0] for p in result] == pytest.approx([-1.0, 0.0, 1.0], abs=1e-12)
    refined = result.refined()
    assert refined.status == "complete" and refined.refinement == "done"
    assert [p.point for p in refined] == [(-1,), (0,), (1,)] and all(p.exact for p in refined)
    assert refined.refined() is refined


def test_a_cancelled_refinement_keeps_the_numeric_points_and_says_so():
    result = critical_points(tl.Loss("x**2 + 3*x*y**2"), wait=False)
    result.cancel()
    refined = result.refined()
    assert refined.refinement == "cancelled" and refined.status == "budget-exceeded"
    assert not any(p.exact for p in refined)


def test_a_solve_beyond_max_solutions_is_not_attempted_and_says_which_option_to_raise():
    loss = tl.Loss("x**1000 + y**2")
    assert bezout_bound(loss) == 999
    result = critical_points(loss, max_solutions=100)
    assert result.status == "budget-exceeded" and result.refinement == "too large"
    assert "raise max_solutions" in result.refinement.message
    with pytest.raises(tl.BudgetExceededError, match="raise max_solutions") as error:
        critical_points(loss, method="exact", max_solutions=100)
    assert error.value.option == "max_solutions"


def test_an_exact_solve_that_runs_out_of_memory_is_stopped_and_the_numeric_points_stay(monkeypatch):
    monkeypatch.setattr(module, "_exact_points", lambda loss: bytearray(8 * 1024**3))
    # the patch reaches a forked child only (a lambda does not pickle for the fork server)
    monkeypatch.setattr("taylorlr.analysis._worker.multithreaded", lambda: False)
    result = critical_points(tl.Loss("x**4 - 2*x**2"))
    assert result.refinement == "out of memory" and "out of memory" in result.note
    assert [p.floats[0] for p in result] == pytest.approx([-1.0, 0.0, 1.0], abs=1e-12)


def test_a_numeric_search_past_its_budget_names_its_stage_and_the_options(monkeypatch):
    def slow(loss, box, seeds):
        time.sleep(1.2)  # past the 1 s the numeric answer always gets
        _budget.check()

    monkeypatch.setattr(module, "numeric_points", slow)
    with pytest.raises(tl.BudgetExceededError) as error:
        critical_points(tl.Loss("exp(x) + x**2"), budget_s=0.1)
    assert error.value.stage == "critical points (numeric search)"
    assert "raise budget_s, or lower seeds" in str(error.value)


def test_unbounded_below_with_a_tiny_leading_coefficient_finds_its_witness_exactly():
    loss = tl.Loss("x**2 - x**3/10**100")
    bounded = critical_points(loss, method="numeric").bounded_below
    assert bounded.verdict == "unbounded" and bounded.proof and bounded.direction == (1.0,)
    (x,) = loss.variables
    witness = sympy.Rational(bounded.point[0])
    assert loss.expr.subs(x, witness) < -1  # below the lowest critical value f(0) = 0, minus one
    assert witness == 2**333  # the first power of two past 10**100, where f(t) < -1 begins
