"""Performance and data profiles against hand-computed values on tiny tables (exact fractions)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import taylorlr as tl
from taylorlr.benchmarking.profiles import (
    data_profile,
    meets_test,
    performance_profile,
    performance_ratios,
    plot_profiles,
    profile_costs,
)

INF = math.inf
# 4 problems x 3 solvers: a tie (problem 1), a failure (solver 2 on problem 0), a problem nobody solved (2)
COSTS = np.array(
    [
        [1.0, 2.0, INF],
        [4.0, 4.0, 8.0],
        [INF, INF, INF],
        [3.0, 1.0, 6.0],
    ]
)
DIMENSIONS = [2, 3, 1, 1]


def test_performance_ratios_by_hand():
    expected = [[1, 2, INF], [1, 1, 2], [INF, INF, INF], [3, 1, 6]]
    assert performance_ratios(COSTS).tolist() == expected


def test_performance_profile_by_hand_ties_failures_and_an_unsolved_problem():
    rho = performance_profile(COSTS, [1.0, 2.0, 3.0, 6.0, 1e9])
    # rho_s(a) = #{p : r[p, s] <= a} / 4; the unsolved problem counts in the denominator
    assert rho.tolist() == [
        [2 / 4, 2 / 4, 3 / 4, 3 / 4, 3 / 4],  # solver 0: ratio 1, 1 (a tie wins for both), 3
        [2 / 4, 3 / 4, 3 / 4, 3 / 4, 3 / 4],  # solver 1: ratios 2, 1, 1
        [0 / 4, 1 / 4, 1 / 4, 2 / 4, 2 / 4],  # solver 2: ratios 2, 6 (and a failure: never)
    ]


def test_data_profile_by_hand():
    # t / (n + 1): [[1/3, 2/3, inf], [1, 1, 2], [inf]*3, [3/2, 1/2, 3]]
    d = data_profile(COSTS, DIMENSIONS, [0.5, 1.0, 2.0, 3.0])
    assert d.tolist() == [
        [1 / 4, 2 / 4, 3 / 4, 3 / 4],
        [1 / 4, 3 / 4, 3 / 4, 3 / 4],
        [0 / 4, 0 / 4, 1 / 4, 2 / 4],
    ]


def test_the_more_wild_test_counts_ties_and_refuses_nan():
    f = [10.0, 5.0, 1.0, 0.5, math.nan]
    assert meets_test(f, 10.0, 0.0, 0.1).tolist() == [False, False, True, True, False]
    # a minimum that is not zero: f <= 2 + 0.5 (12 - 2) = 7
    assert meets_test([7.0, 7.000001], 12.0, 2.0, 0.5).tolist() == [True, False]


@pytest.mark.parametrize("bad", [[[0.0, 1.0]], [[math.nan, 1.0]], [1.0, 2.0]])
def test_bad_cost_matrices_are_refused(bad):
    with pytest.raises(ValueError, match="costs must be"):
        performance_ratios(bad)


def test_a_benchmark_gives_its_costs_and_a_figure_with_the_baselines(tmp_path):
    table = tl.benchmark(["booth", "beale"], rules=("exact",), optimizers=("gd",), steps=60)
    costs, dims, solvers = profile_costs(table, 1e-3)
    assert solvers == ("exact/gd", "bfgs", "trust-exact", "constant") and dims.tolist() == [2, 2]
    rows = {(r["problem"], r["solver"]): r["evals_to_1e-03"] for r in table.rows()}
    assert costs[1].tolist() == [rows["beale", s] for s in solvers]
    figure = plot_profiles(table, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 0
    left, _ = figure.axes
    assert [line.get_label() for line in left.get_lines()] == list(solvers)
    assert {line.get_linestyle() for line in left.get_lines()[1:]} <= {"--", ":", "-."}
    with pytest.raises(ValueError, match="tau must be one of"):
        profile_costs(table, 0.5)


costs_matrix = st.integers(1, 5).flatmap(
    lambda solvers: st.lists(
        st.lists(st.one_of(st.integers(1, 50).map(float), st.just(INF)), min_size=solvers, max_size=solvers),
        min_size=1,
        max_size=6,
    )
)


@given(costs_matrix, st.lists(st.floats(1.0, 60.0), min_size=1, max_size=5))
def test_profiles_equal_a_plain_python_count(costs, alphas):
    """Against an independent loop over the definitions (Dolan-More 2002, More-Wild 2009)."""
    dims = [1 + k % 3 for k in range(len(costs))]
    rho = performance_profile(costs, alphas)
    d = data_profile(costs, dims, alphas)
    for s in range(len(costs[0])):
        for k, a in enumerate(alphas):
            solved_within = 0
            for row in costs:
                best = min(row)
                solved_within += best < INF and row[s] < INF and row[s] / best <= a
            assert rho[s, k] == solved_within / len(costs)
            within = sum(row[s] < INF and row[s] / (n + 1) <= a for row, n in zip(costs, dims, strict=True))
            assert d[s, k] == within / len(costs)
