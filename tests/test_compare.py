"""compare: every rule x optimizer against the exact optimum."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zoo

import taylorlr as tl


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


def test_one_sorted_row_per_rule_and_optimizer(himmelblau_table):
    rows = himmelblau_table.rows
    assert {(r.rule, r.optimizer) for r in rows} == {
        (a, b) for a in ("exact", "fixed", "line-search") for b in ("gd", "adam")
    }
    assert [r.sort_key() for r in rows] == sorted(r.sort_key() for r in rows)


def test_rows_are_measured_against_the_nearest_exact_minimiser(himmelblau_table):
    table = himmelblau_table
    assert table.reference.startswith(("critical points", "reference solve"))
    known = np.array(zoo.HIMMELBLAU.minimizers)
    for m in table.minimisers:
        assert np.min(np.linalg.norm(known - np.array(m), axis=1)) < 1e-5
    best = table.rows[0]
    assert best.iterations_to_tol is not None and best.final_gap < 1e-10
    line_search = [r for r in table.rows if r.rule == "line-search"]
    assert all(r.alpha_error_worst == 0.0 for r in line_search)  # the oracle against itself
    fixed = [r for r in table.rows if r.rule == "fixed"]
    assert all(r.safeguard_firings == dict.fromkeys(r.safeguard_firings, 0) for r in fixed)


def test_reference_solve_when_asked(himmelblau_table):
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


def test_bad_reference_is_an_option_error():
    with pytest.raises(tl.OptionError, match="reference"):
        tl.compare(tl.Loss("x**2"), [1.0], reference="guess")


def test_compare_reports_progress_and_keeps_the_runs():
    import taylorlr as tl

    ticks: list[tuple[int, int]] = []
    table = tl.compare(
        tl.Loss("(x - 1)**2 + 4*y**2"), [0.0, 1.0], rules=("exact", "fixed"), optimizers=("gd", "adam"),
        steps=30, reference="solve", progress=lambda done, total: ticks.append((done, total)),
    )  # fmt: skip
    assert ticks == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [(r.rule, r.optimizer) for r in table.runs] == [
        ("exact", "gd"), ("exact", "adam"), ("fixed", "gd"), ("fixed", "adam")
    ]  # fmt: skip
    assert all(r.points.shape == (31, 2) for r in table.runs)
