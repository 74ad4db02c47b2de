"""compare: every rule x optimizer against the true optimum, ranked by a documented key."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import sympy
import zoo
from hypothesis import given
from hypothesis import strategies as st

import taylorlr as tl
from taylorlr.analysis._bounded import coercive
from taylorlr.comparison import ComparisonRow, Standing
from taylorlr.comparison.reference import Verdict, reference_optimum


@pytest.fixture(scope="module")
def himmelblau_table():
    return tl.compare(
        tl.Loss(zoo.HIMMELBLAU.text),
        zoo.HIMMELBLAU.start,
        rules=("exact", "fixed", "line-search"),
        optimizers=("gd", "adam"),
        steps=120,
        alpha0=1e-3,
    )


# the ranking, as properties of hand-made rows ----------------------------------------------------

STATUSES = (
    "converged",
    "max_steps",
    "diverged",
    "nonfinite",
    "unbounded",
    "rose",
    "saddle",
    "maximum",
    "odd",
)
FLOATS = st.one_of(st.floats(0, 1e6), st.just(math.nan), st.just(math.inf))


@st.composite
def rows(draw):
    reached = draw(st.one_of(st.none(), st.integers(0, 50)))
    return ComparisonRow(
        rule=draw(st.sampled_from(("exact", "fixed"))), optimizer="gd",
        status=draw(st.sampled_from(STATUSES)),
        steps_taken=50, iterations_to_tol=reached, minimiser_index=None if reached is None else 0,
        final_value=draw(st.one_of(st.floats(-1e30, 1e6), st.just(math.nan), st.just(-math.inf))),
        final_gap=draw(FLOATS), distance=draw(FLOATS), escaped=draw(st.booleans()),
        evaluations={"values": draw(st.integers(0, 500))},
    )  # fmt: skip


def falling(row):
    return row.status == "unbounded" or row.escaped


def reached(row):
    return row.iterations_to_tol is not None and not falling(row)


def ranked(table):
    return sorted(table, key=ComparisonRow.sort_key)


@given(st.lists(rows(), min_size=2, max_size=12))
def test_a_run_that_reached_the_minimiser_ranks_above_every_run_that_did_not(table):
    order = ranked(table)
    last_reached = max((i for i, r in enumerate(order) if reached(r)), default=-1)
    assert all(reached(r) for r in order[: last_reached + 1])


@given(st.lists(rows(), min_size=2, max_size=12))
def test_a_run_heading_to_minus_infinity_never_ranks_above_a_converged_one(table):
    order = ranked(table)
    for i, row in enumerate(order):
        if falling(row):
            assert not any(r.status == "converged" and not falling(r) for r in order[i + 1 :])


@given(st.lists(rows(), min_size=2, max_size=12))
def test_other_and_unknown_statuses_rank_after_the_converged_ones(table):
    order = ranked(table)
    for i, row in enumerate(order):
        if row.status not in ("converged",) and not reached(row):
            assert not any(
                r.status == "converged" and not reached(r) and not falling(r) for r in order[i + 1 :]
            )


@given(st.lists(rows(), min_size=2, max_size=12))
def test_reached_runs_rank_by_steps_then_gap(table):
    order = [r for r in ranked(table) if reached(r)]
    for a, b in itertools.pairwise(order):
        assert a.iterations_to_tol <= b.iterations_to_tol
        if a.iterations_to_tol == b.iterations_to_tol and math.isfinite(b.final_gap):
            assert a.final_gap <= b.final_gap


@given(st.lists(rows(), min_size=2, max_size=12))
def test_among_stopped_runs_a_smaller_gap_ranks_first(table):
    stopped = [r for r in ranked(table) if r.standing == Standing.STOPPED]
    gaps = [r.final_gap for r in stopped if math.isfinite(r.final_gap)]
    assert gaps == sorted(gaps)


def test_status_is_a_str_enum_with_a_message_and_unknown_statuses_stay_strings():
    row = ComparisonRow(rule="exact", optimizer="gd", status="converged", steps_taken=3, iterations_to_tol=2,
                        minimiser_index=0, final_value=0.0, final_gap=0.0, distance=0.0)  # fmt: skip
    assert row.status == "converged" and "gradient" in row.message
    assert isinstance(row.status, str) and (
        row.status is tl.Status.CONVERGED or not isinstance(tl.Status.CONVERGED, str)
    )
    odd = ComparisonRow(rule="exact", optimizer="gd", status="odd", steps_taken=3, iterations_to_tol=None,
                        minimiser_index=None, final_value=1.0, final_gap=1.0, distance=1.0)  # fmt: skip
    assert odd.status == "odd" and odd.standing == Standing.STOPPED and "odd" in odd.message
    assert json.loads(json.dumps(row.to_dict()))["status"] == "converged"


# the ranking on real runs --------------------------------------------------------------------


def test_on_a_cubic_the_runs_heading_to_minus_infinity_rank_below_every_run_near_the_minimum():
    # f = x**3 - 3x: the only minimum is x = 1 (f = -2); f -> -inf as x -> -inf (the case)
    table = tl.compare(tl.Loss("x**3 - 3*x"), [0.5], steps=200)
    assert table.minimisers == ((1.0,),) and table.f_star == (-2.0,)
    assert table.verdict == "no minimum: unbounded below (proved)"
    runs = {(r.rule, r.optimizer): r for r in table.runs}
    finals = [float(runs[row.rule, row.optimizer].points[-1][0]) for row in table.rows]
    near = [i for i, x in enumerate(finals) if abs(x - 1) < 1e-4]
    below = [i for i, x in enumerate(finals) if not math.isfinite(x) or x**3 - 3 * x < -2 - 1e-9]
    assert near and below and max(near) < min(below)
    assert all(table.rows[i].standing == Standing.FALLING for i in below)
    assert all(not (row.final_gap < 0) for row in table.rows)


def test_one_sorted_row_per_rule_and_optimizer(himmelblau_table):
    rows = himmelblau_table.rows
    assert {(r.rule, r.optimizer) for r in rows} == {
        (a, b) for a in ("exact", "fixed", "line-search") for b in ("gd", "adam")
    }
    known = np.array(zoo.HIMMELBLAU.minimizers)
    finals = {(r.rule, r.optimizer): r.points[-1] for r in himmelblau_table.runs}
    ended_at_a_minimum = [float(np.min(np.linalg.norm(known - finals[r.rule, r.optimizer], axis=1))) <= 1e-6
                          for r in rows]  # fmt: skip
    assert ended_at_a_minimum == sorted(ended_at_a_minimum, reverse=True)  # those that got there first
    assert [r.iterations_to_tol is not None for r in rows] == ended_at_a_minimum


def test_rows_are_measured_against_the_nearest_exact_minimiser(himmelblau_table):
    table = himmelblau_table
    assert table.reference.startswith(("critical points", "reference solve"))
    assert table.verdict == Verdict.GLOBAL  # a coercive polynomial, all critical points known
    known = np.array(zoo.HIMMELBLAU.minimizers)
    for m in table.minimisers:
        assert np.min(np.linalg.norm(known - np.array(m), axis=1)) < 1e-5
    best = table.rows[0]
    assert best.iterations_to_tol is not None and best.final_gap < 1e-10
    line_search = [r for r in table.rows if r.rule == "line-search"]
    assert all(r.alpha_error_worst == 0.0 for r in line_search)  # the oracle against itself
    fixed = [r for r in table.rows if r.rule == "fixed"]
    assert all(r.safeguard_firings == dict.fromkeys(r.safeguard_firings, 0) for r in fixed)


def test_reference_solve_when_asked():
    table = tl.compare(
        tl.Loss("(x - 1)**2 + 2*(y + 0.5)**2"),
        [0.0, 0.0],
        rules=("exact",),
        optimizers=("gd",),
        steps=50,
        reference="solve",
    )
    assert table.reference.startswith("reference solve")
    np.testing.assert_allclose(table.minimisers[0], [1.0, -0.5], atol=1e-12)
    assert table.rows[0].evaluations["hvps"] == table.rows[0].steps_taken


def test_json_ready(himmelblau_table):
    data = json.loads(json.dumps(himmelblau_table.to_dict(), allow_nan=False))
    assert len(data["rows"]) == 6 and "alpha_error_mean" in data["rows"][0]
    assert data["verdict"] == "global minimum (proved)" and data["rows"][0]["standing"] == "reached"


def test_bad_reference_is_an_option_error():
    with pytest.raises(tl.OptionError, match="reference"):
        tl.compare(tl.Loss("x**2"), [1.0], reference="guess")


def test_compare_reports_progress_and_keeps_the_runs():
    ticks: list[tuple[int, int]] = []
    table = tl.compare(
        tl.Loss("(x - 1)**2 + 4*y**2"), [0.0, 1.0], rules=("exact", "fixed"), optimizers=("gd", "adam"),
        steps=30, reference="solve", progress=lambda done, total: ticks.append((done, total)),
    )  # fmt: skip
    assert ticks == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [(r.rule, r.optimizer) for r in table.runs] == [
        ("exact", "gd"), ("exact", "adam"), ("fixed", "gd"), ("fixed", "adam")
    ]  # fmt: skip
    # each run's history ends at its last valid step (30 at most)
    assert all(r.points.shape == (int(r.stopped_at) + 1, 2) and r.stopped_at <= 30 for r in table.runs)


# losses without a minimum: a verdict, never an invented optimum ------------------------------


@pytest.mark.parametrize("text, start", [("x**2 + 3*x*y**2", [1.0, 2.0]), ("x**2 - y**2", [1.0, 1.0])])
def test_a_loss_unbounded_below_gets_its_table_and_a_proved_verdict(text, start):
    loss = tl.Loss(text)
    table = tl.compare(loss, start, rules=("exact", "fixed"), optimizers=("gd", "adam"), steps=40)
    assert len(table.rows) == 4 and table.minimisers == ()
    assert table.verdict == "no minimum: unbounded below (proved)"
    t = sympy.Symbol("t", positive=True)
    direction = table.optimum.reason.rsplit("along ", 1)[1].strip("()").split(",")
    base = [float(v) for v in direction]  # the line through the lowest critical point, (0, 0) here
    line = loss.expr.subs(dict(zip(loss.variables, [t * d for d in base], strict=True)))
    assert sympy.limit(line, t, sympy.oo) == -sympy.oo  # the printed direction really goes to -inf


def test_exp_has_no_minimum_and_compare_invents_none():
    table = tl.compare(
        tl.Loss("exp(x)"), [1.0], rules=("exact", "line-search"), optimizers=("gd",), steps=200
    )
    assert table.minimisers == () and table.verdict == Verdict.NOT_ATTAINED
    assert "inf f = 0" in table.optimum.reason  # lim exp(x) as x -> -oo, never attained
    assert all(math.isnan(row.final_gap) and row.iterations_to_tol is None for row in table.rows)


def test_a_monotone_loss_falling_to_minus_infinity_is_proved_unbounded():
    # f = x + exp(x): f' = 1 + exp(x) > 0, and f -> -oo as x -> -oo
    ref = reference_optimum(tl.Loss("x + exp(x)"), [np.array([-30.0])])
    assert ref.minimisers == () and ref.verdict == Verdict.UNBOUNDED and "-oo" in ref.reason


def test_the_inflection_of_x_cubed_is_not_taken_as_a_minimum():
    table = tl.compare(tl.Loss("x**3"), [1.0], rules=("exact",), optimizers=("gd",), steps=100)
    assert table.minimisers == () and table.verdict == Verdict.UNBOUNDED


@pytest.mark.parametrize("text", ["sin(x) - x", "exp(x)"])
def test_newton_from_the_final_points_refuses_degenerate_points_and_plateaus(text):
    # sin(x) - x has an inflection at 0 (no minimum); exp(x) has no critical point at all
    ref = reference_optimum(tl.Loss(text), [np.array([0.5]), np.array([-0.5])], mode="solve")
    assert ref.minimisers == ()


@pytest.mark.parametrize(
    "text, expected",
    [("x**4 + y**2 - x*y", True), ("x**2 + 4*y**2 - 3*x*y", False), ("x**2 + 4*y**2 - x*y", True),
     ("x**4 + y**4 - 4*x**2*y**2", False), ("x**4 + y**4 - x**2*y**2", True), ("x**3 + y**2", False),
     ("x**2 + y**2", True), ("x**2*y**2 + x**2 + y**2", True), ("x**4 - y**2", False)],
)  # fmt: skip
def test_the_coercivity_test_is_sufficient(text, expected):
    # x**2 + 4y**2 - 3xy is indefinite (det 4 - 9/4 ... 1*4 - 2.25 > 0: definite, but the AM-GM
    # test is only sufficient: it needs 1 - 3/2 > 0); x**4 + y**4 - 4x**2y**2 < 0 on x = y
    assert coercive(tl.Loss(text)) is expected
    if expected:  # large on a ring far out, every direction
        angles = np.linspace(0, 2 * np.pi, 64)
        f = sympy.lambdify(sympy.symbols("x y", real=True), tl.Loss(text, variables=["x", "y"]).expr)
        assert min(f(1e3 * np.cos(a), 1e3 * np.sin(a)) for a in angles) > 1e5


# the Moré-Garbow-Hillstrom problems from their standard starts ---------------------------------

POWELL = "(1e4*x*y - 1)**2 + (exp(-x) + exp(-y) - 1.0001)**2"  # MGH 3: f* = 0 at (1.098e-5, 9.106)
T = [45 + 5 * i for i in range(1, 17)]
Y = [34780, 28610, 23650, 19630, 16370, 13720, 11540, 9744, 8261, 7030, 6005, 5147, 4427, 3820, 3307, 2872]
MEYER = " + ".join(f"(x*exp(y/({t} + z)) - {y})**2" for t, y in zip(T, Y, strict=True))  # MGH 10
JENNRICH_SAMPSON = " + ".join(f"({2 + 2 * i} - exp({i}*x) - exp({i}*y))**2" for i in range(1, 11))  # MGH 6
BIGGS = " + ".join(  # MGH 18, f* = 0 at (1, 10, 1, 5, 4, 3)
    f"(x3*exp(-{t}*x1) - x4*exp(-{t}*x2) + x6*exp(-{t}*x5) - (exp(-{t}) - 5*exp(-10*{t}) + 3*exp(-4*{t})))**2"
    for t in [f"{i}/10" for i in range(1, 14)]
)


def test_powell_badly_scaled_is_measured_against_its_global_minimum_not_a_local_one():
    table = tl.compare(
        tl.Loss(POWELL), [0.0, 1.0], rules=("exact", "line-search"), optimizers=("gd",), steps=40
    )
    assert table.verdict == Verdict.GLOBAL  # f >= 0 (sum of squares), attained
    (minimiser,) = table.minimisers
    np.testing.assert_allclose(minimiser, [1.098159e-5, 9.106146], rtol=1e-6)
    assert table.f_star[0] < 1e-20
    assert all(row.final_gap >= 0 and row.final_value >= table.f_star[0] for row in table.rows)


def test_a_run_below_a_numeric_reference_says_the_reference_is_wrong():
    # the numeric critical points of Powell's problem (box [-5, 5]^2) hold only the local minimum
    # f = 1.04 at (-0.00995, -0.00995); the runs end far below it
    table = tl.compare(tl.Loss(POWELL), [0.0, 1.0], rules=("exact", "line-search"), optimizers=("gd",),
                       steps=40, reference="critical-points")  # fmt: skip
    finals = [float(tl.Loss(POWELL).compile().value(r.points[-1])) for r in table.runs]
    assert min(finals) < 1.0
    assert table.verdict == Verdict.CONTRADICTED and "below every reference minimum" in table.optimum.reason
    assert table.optimum.upper_bound == min(finals) and table.minimisers == ()
    assert all(row.final_gap >= 0 and row.iterations_to_tol is None for row in table.rows)


def test_meyer_from_its_standard_start_survives_bad_runs():
    table = tl.compare(tl.Loss(MEYER), [0.02, 4000.0, 250.0], rules=("exact", "fixed"), optimizers=("gd",),
                       steps=3)  # fmt: skip
    assert len(table.rows) == 2 and all(not (row.final_gap < 0) for row in table.rows)


def test_one_bad_final_point_does_not_discard_a_good_one():
    near = np.array([0.0056, 6180.0, 345.0])  # next to Meyer's minimiser
    bad = [np.array([np.nan, 1.0, 1.0]), np.array([1e300, 1e300, 1e300]), np.array([0.02, 4000.0, 250.0])]
    ref = reference_optimum(tl.Loss(MEYER), [*bad, near], mode="solve")
    (minimiser,) = ref.minimisers
    np.testing.assert_allclose(minimiser, [0.0056096, 6181.346, 345.2236], rtol=1e-5)
    assert ref.f_star[0] == pytest.approx(87.9458, abs=1e-4)


def test_jennrich_sampson_plateau_does_not_discard_the_minimiser():
    plateau = np.array([-936.0, -936.0])  # where runs "converge": exp(k x) underflows
    ref = reference_optimum(tl.Loss(JENNRICH_SAMPSON), [plateau, np.array([0.26, 0.26])], mode="solve")
    (minimiser,) = ref.minimisers
    np.testing.assert_allclose(minimiser, [0.2578252, 0.2578252], rtol=1e-6)
    assert ref.f_star[0] == pytest.approx(124.362, abs=1e-3)


def test_biggs_exp6_reference_from_a_run_next_to_the_minimiser():
    loss = tl.Loss(BIGGS, variables=["x1", "x2", "x3", "x4", "x5", "x6"])
    start = np.array([1.0, 2.0, 1.0, 1.0, 1.0, 1.0])
    near = np.array([1.0, 10.0, 1.0, 5.0, 4.0, 3.0]) * (1 + 1e-4)
    ref = reference_optimum(loss, [start, np.array([np.inf] * 6), near], mode="solve")
    assert ref.verdict == Verdict.GLOBAL  # f >= 0, attained
    assert any(np.allclose(m, [1, 10, 1, 5, 4, 3], rtol=1e-6) for m in ref.minimisers)


def test_the_budget_reaches_the_critical_points_behind_the_reference(monkeypatch):
    seen = []
    original = tl.Loss.critical_points

    def spy(self, **options):
        seen.append(options.get("budget_s"))
        return original(self, **options)

    monkeypatch.setattr(tl.Loss, "critical_points", spy)
    table = tl.compare("x**4 + y**2 - x*y", [1.0, 1.0], rules=("exact",), optimizers=("gd",), budget_s=7.5)
    assert seen == [7.5] and table.optimum.verdict == Verdict.GLOBAL


def test_compare_takes_a_budget_and_refuses_a_bad_one():
    from click.testing import CliRunner

    from taylorlr.cli import cli

    runner = CliRunner()
    ok = runner.invoke(cli, ["compare", "x**4 + y**2 - x*y", "--at", "x=1,y=1", "--rules", "exact",
                             "--optimizers", "gd", "--budget", "5", "--json"])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["rows"][0]["standing"] == "reached"
    bad = runner.invoke(cli, ["compare", "x**2", "--at", "x=1", "--budget", "0"])
    assert bad.exit_code == 2 and "--budget" in bad.output
