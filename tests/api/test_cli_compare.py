"""The compare command: the ranked table, its JSON and the verdict on min f, with and without a minimum."""

from __future__ import annotations

import math
import re

import sympy
from test_cli import invoke, is_number, json_of

import taylorlr as tl

COMPARE = ("compare", "(x - 1)**2 + 4*y**2", "--at", "x=0,y=1", "--rules", "exact,fixed,retsinas",
           "--optimizers", "gd,adam", "--steps", "60")  # fmt: skip
STANDINGS = ("reached", "converged", "stopped short", "failed", "falling")


def test_compare_json_has_the_documented_keys_and_the_proved_optimum():
    payload = json_of(*COMPARE)
    assert {
        "expression", "variables", "settings", "reference", "verdict", "verdict_reason", "verdict_message",
        "tol_x", "minimisers", "f_star", "best_point", "upper_bound", "rows",
    } <= set(payload)  # fmt: skip
    assert payload["minimisers"] == [[1.0, 0.0]] and payload["reference"] == "critical points (exact)"
    assert payload["verdict"] == "global minimum (proved)"  # (x - 1)**2 + 4y**2 >= 0 = f(1, 0)
    rows = payload["rows"]
    assert len(rows) == 6 and rows[0]["status"] == "converged" and is_number(rows[0]["final_gap"])


def test_compare_json_rows_keep_the_documented_ranking():
    rows = json_of(*COMPARE)["rows"]
    loss = tl.Loss("(x - 1)**2 + 4*y**2")
    for row in rows:  # every measure against the exact answer x* = (1, 0), f* = 0
        assert row["final_gap"] == row["final_value"] >= 0
        assert math.isclose(
            row["final_value"], float(loss.compile().value(_final(row))), rel_tol=0, abs_tol=0
        )
    ended_there = [r["distance"] <= 1e-6 for r in rows]
    assert ended_there == sorted(ended_there, reverse=True)  # runs that got there rank first
    assert [r["iterations_to_tol"] is not None for r in rows] == ended_there
    standings = [STANDINGS.index(r["standing"]) for r in rows]
    assert standings == sorted(standings)


def _final(row):
    # a row does not hold its final point: re-run the pair (the runs are deterministic)
    run = tl.run(tl.Loss("(x - 1)**2 + 4*y**2"), [0.0, 1.0], row["optimizer"], row["rule"], steps=60)
    return run.points[-1]


def test_compare_table_lists_the_rows_in_the_json_order():
    rows = json_of(*COMPARE)["rows"]
    output = invoke(*COMPARE).output
    table = [
        re.split(r"\s*│\s*", line.strip("│ ")) for line in output.splitlines() if re.match(r"│\s*\d", line)
    ]
    assert [(cells[1], cells[2]) for cells in table] == [(r["rule"], r["optimizer"]) for r in rows]
    assert "optimum    (1, 0)" in output and "verdict    global minimum (proved)" in output


def test_compare_on_the_readme_loss_prints_its_table_and_the_proved_verdict():
    args = (
        "compare",
        "x**2+3*x*y**2",
        "--at",
        "x=1,y=2",
        "--rules",
        "exact,fixed",
        "--optimizers",
        "gd,adam",
    )
    output = invoke(*args).output  # exit 0
    assert "no minimum: unbounded below (proved)" in output and "raise steps" not in output
    assert len([line for line in output.splitlines() if re.match(r"│\s*\d", line)]) == 4
    payload = json_of(*args)
    assert payload["minimisers"] == [] and payload["verdict"] == "no minimum: unbounded below (proved)"
    x, y, t = sympy.symbols("x y t", real=True)
    assert sympy.limit((x**2 + 3 * x * y**2).subs({x: -t, y: -t}), t, sympy.oo) == -sympy.oo


def test_compare_on_a_saddle_without_minimum_likewise():
    output = invoke(
        "compare", "x**2 - y**2", "--at", "x=1,y=1", "--rules", "exact", "--optimizers", "gd"
    ).output
    assert "no minimum: unbounded below (proved)" in output and "optimum    none" in output


def test_compare_exp_says_the_infimum_is_not_attained_and_invents_no_minimiser():
    payload = json_of("compare", "exp(x)", "--at", "x=1", "--rules", "exact", "--optimizers", "gd,adam")
    assert (
        payload["minimisers"] == []
        and payload["verdict"] == "no minimum: the infimum is not attained (proved)"
    )
    assert all(row["final_gap"] is None and row["iterations_to_tol"] is None for row in payload["rows"])


def test_compare_cubic_ranks_the_falling_runs_last():
    payload = json_of("compare", "x**3 - 3*x", "--at", "x=0.5", "--optimizers", "gd,momentum")
    rows = payload["rows"]
    below = [i for i, r in enumerate(rows) if r["final_value"] is None or r["final_value"] < -2 - 1e-9]
    near = [i for i, r in enumerate(rows) if r["distance"] is not None and r["distance"] < 1e-4]
    assert below and near and max(near) < min(below)
    assert all(rows[i]["standing"] == "falling" for i in below)
    assert (
        "falling    rows"
        in invoke("compare", "x**3 - 3*x", "--at", "x=0.5", "--optimizers", "gd,momentum").output
    )
