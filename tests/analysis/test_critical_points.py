"""Critical points: every zoo problem against its published critical points, kinds and counts."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import sympy
from zoo import GOLDSTEIN_PRICE, POWELL, SOURCE_001, ZOO, make_loss

import taylorlr as tl
from taylorlr.analysis.critical_points import CriticalPoint, CriticalPoints, critical_points

_RESULTS: dict[str, CriticalPoints] = {}


def solved(problem) -> CriticalPoints:
    if problem.name not in _RESULTS:
        _RESULTS[problem.name] = make_loss(problem.text).critical_points(budget_s=60)
    return _RESULTS[problem.name]


@pytest.mark.parametrize("problem", ZOO, ids=[p.name for p in ZOO])
def test_zoo_counts_and_published_points(problem):
    result = solved(problem)
    assert result.status == "complete"
    assert result.counts() == problem.counts
    for coordinates, kind in problem.known:
        nearest = min(result, key=lambda p: np.abs(np.subtract(p.floats, coordinates)).max())
        assert np.abs(np.subtract(nearest.floats, coordinates)).max() < 1e-4, (coordinates, nearest.floats)
        assert nearest.kind == kind
    for minimiser in problem.minimizers:
        assert any(np.allclose(p.floats, minimiser, atol=1e-4) and p.kind == "minimum" for p in result)
    if problem.f_min is not None:
        lowest = min(float(p.value) for p in result if p.kind == "minimum")
        assert lowest == pytest.approx(problem.f_min, abs=1e-4)


@pytest.mark.parametrize("problem", ZOO, ids=[p.name for p in ZOO])
def test_every_exact_point_is_a_zero_of_the_gradient(problem):
    loss = make_loss(problem.text)
    for p in solved(problem):
        assert p.exact and p.residual == 0.0
        gradient = [
            sympy.N(g.xreplace(dict(zip(loss.variables, p.point, strict=True))), 40) for g in loss.gradient
        ]
        assert all(abs(g) < 1e-30 for g in gradient), (p.point, gradient)


@pytest.mark.parametrize("problem", [p for p in ZOO if p.name in ("himmelblau", "six-hump camel", "beale")],
                         ids=lambda p: p.name)  # fmt: skip
def test_no_critical_point_is_missing_against_an_independent_root_search(problem):
    """scipy's root finder from a grid of starts finds nothing the exact solve lacks."""
    from scipy.optimize import root

    loss = make_loss(problem.text)
    f = loss.compile()
    exact = np.array([p.floats for p in solved(problem)])
    for start in np.stack(np.meshgrid(np.linspace(-4, 4, 9), np.linspace(-4, 4, 9)), -1).reshape(-1, 2):
        found = root(f.grad, start, jac=f.hess, tol=1e-12)
        if found.success and np.linalg.norm(f.grad(found.x)) < 1e-9 and np.abs(found.x).max() < 50:
            assert np.abs(exact - found.x).max(axis=1).min() < 1e-6, found.x


def test_reference_case_is_one_degenerate_saddle_and_unbounded_below():
    result = make_loss(SOURCE_001.text).critical_points()
    (point,) = result
    assert point.point == (0, 0) and point.exact and point.degenerate
    assert point.eigenvalues == (0.0, 2.0)
    assert point.kind == "saddle"
    assert "x = -3*t**2/2, y = t" in point.reason and "-9*t**4/4" in point.reason
    x, y, t = sympy.symbols("x y t", real=True)
    f = x**2 + 3 * x * y**2  # the curve in the reason really descends
    assert sympy.expand(f.subs({x: -3 * t**2 / 2, y: t})) == -sympy.Rational(9, 4) * t**4
    bounded = result.bounded_below
    assert bounded.verdict == "unbounded" and bounded.proof
    assert float(make_loss(SOURCE_001.text).value_at(bounded.point)) == pytest.approx(bounded.value)
    assert bounded.value < 0


def test_powell_minimum_is_degenerate_and_settled_by_a_higher_order_argument():
    (point,) = make_loss(POWELL.text).critical_points()
    assert point.point == (0, 0, 0, 0) and point.kind == "minimum" and point.degenerate
    assert point.eigenvalues[:2] == (0.0, 0.0)
    assert "definite" in point.reason


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("x**4 + y**4", "minimum"),
        ("-x**4 - y**2", "maximum"),
        ("x**3 + y**2", "saddle"),  # odd first term along the null direction
        ("x**3 - 3*x*y**2", "saddle"),  # the monkey saddle: Hessian 0
        ("x**2 + y**4 - 3*x*y**2", "saddle"),  # f(3t^2/2, t) = -5t^4/4
        ("x**2 + y**4 - x*y**2", "minimum"),  # reduced function 3y^4/4
        ("x**2 - y**4", "saddle"),
    ],
)
def test_degenerate_points_classified_by_higher_order_terms(text, kind):
    (point,) = [p for p in make_loss(text).critical_points() if p.point == (0, 0)]
    assert point.degenerate and point.kind == kind, point.reason


def test_a_curve_of_critical_points_is_reported_not_guessed():
    result = make_loss("(x - y)**2").critical_points()
    assert result.status == "positive-dimensional"
    assert 0 < len(result) <= 12
    assert all(not p.exact and abs(p.floats[0] - p.floats[1]) < 1e-6 for p in result)


def test_one_dimensional_kinds_and_exact_closed_forms():
    result = make_loss("x**4/4 - x**2").critical_points()
    assert [(p.point, p.kind) for p in result] == [
        ((-sympy.sqrt(2),), "minimum"), ((0,), "maximum"), ((sympy.sqrt(2),), "minimum")
    ]  # fmt: skip
    assert result[0].decimals == ("-1.4142135623730950488",)
    (inflection,) = make_loss("x**3").critical_points()
    assert inflection.kind == "saddle" and inflection.degenerate


def test_non_polynomial_losses_fall_back_to_labelled_numeric_points():
    result = make_loss("exp(x) - 2*x + y**2").critical_points()
    assert result.status == "numeric"
    (point,) = result
    assert not point.exact and point.residual < 1e-10 and point.kind == "minimum"
    assert point.floats == pytest.approx((np.log(2), 0.0), abs=1e-10)


def _slow_exact_solve(monkeypatch):
    """An exact solve that would take a minute (the forked worker inherits the patch: a forked one
    whatever threads run, since a lambda does not pickle for the fork server)."""
    import taylorlr.analysis._worker as worker
    import taylorlr.analysis.critical_points as module

    monkeypatch.setattr(module, "_exact_points", lambda loss: time.sleep(60))
    monkeypatch.setattr(worker, "multithreaded", lambda: False)


def test_budget_runs_out_with_a_clear_status_and_numeric_points(monkeypatch):
    _slow_exact_solve(monkeypatch)
    loss = make_loss(GOLDSTEIN_PRICE.text)
    # the numeric search runs under the same budget and takes ~1.6 s of CPU here: 3 s failed at load 19
    result = critical_points(loss, budget_s=8)
    assert result.status == "budget-exceeded" and "budget exceeded" in result.note
    assert result.refinement == "budget exceeded" and "raise budget_s" in result.refinement.message
    assert result.counts() == GOLDSTEIN_PRICE.counts
    assert all(not p.exact for p in result)
    with pytest.raises(tl.BudgetExceededError, match="raise budget_s") as error:
        critical_points(loss, budget_s=0.05, method="exact")
    assert error.value.stage == "critical points" and error.value.option == "budget_s"


def test_options_and_records():
    with pytest.raises(tl.OptionError):
        make_loss("x**2").critical_points(method="guess")
    with pytest.raises(tl.OptionError, match="polynomial"):
        make_loss("exp(x)").critical_points(method="exact")
    result = make_loss("x**2 + y**2 - 2*x").critical_points()
    data = json.loads(json.dumps(result.to_dict()))
    assert data["critical_points"][0]["point_exact"] == ["1", "0"]
    assert data["critical_points"][0]["kind"] == "minimum"
    assert data["bounded_below"]["proof"] is True and data["bounded_below"]["bound_exact"] == "-1"
    assert isinstance(result[0], CriticalPoint) and len(result) == 1


def test_kinds_statuses_and_verdicts_are_str_enums_with_advice():
    from taylorlr.analysis.critical_points import Boundedness, SearchStatus
    from taylorlr.kinds import Kind

    result = make_loss(SOURCE_001.text).critical_points()
    (point,) = result
    assert point.kind is Kind.SADDLE and point.kind == "saddle" and f"{point.kind}" == "saddle"
    assert result.status is SearchStatus.COMPLETE and "exact" in result.status.message
    assert (
        result.bounded_below.verdict is Boundedness.UNBOUNDED
        and "proved" in result.bounded_below.verdict.message
    )
    data = json.loads(json.dumps(result.to_dict()))
    assert data["status"] == "complete" and data["critical_points"][0]["kind"] == "saddle"
    assert data["bounded_below"]["verdict"] == "unbounded" and data["rejected"] == 0
    with pytest.raises(TypeError):  # records are keyword-only
        CriticalPoint((0,), Kind.MINIMUM, (1.0,), True, False)


@pytest.mark.parametrize("problem", ZOO, ids=[p.name for p in ZOO])
def test_the_rounding_test_accepts_every_exact_point_rounded_to_floats_and_rejects_a_nudge(problem):
    """The numeric search's criticality test against the exact points: no false rejection, and a
    nondegenerate point moved by 1e-6 (relative) is no longer critical."""
    from taylorlr.analysis._numeric import within_rounding

    loss = make_loss(problem.text)
    points = solved(problem)
    W = np.array([p.floats for p in points])
    accepted, _ = within_rounding(loss, loss.compile(), W)
    assert accepted.all(), [p.floats for p, ok in zip(points, accepted, strict=True) if not ok]
    regular = np.array([not p.degenerate for p in points])
    nudged = W[regular] * (1 + 1e-6) + 1e-6
    accepted, _ = within_rounding(loss, loss.compile(), nudged)
    assert not accepted.any()
