"""`taylorlr run`: the statuses it prints are true, and --strict exits 3 unless 'converged'."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from taylorlr.cli import EXIT_MATH_FAILURE, cli


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["run", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["--at", "x=0,y=0", "--", "-x**2-y**2"], "maximum"),
        (["--at", "x=0,y=0", "--", "x**2-y**2"], "saddle"),
        (["x**2+3*x*y**2", "--at", "x=1,y=2"], "unbounded"),
        (["x**2+3*x*y**2", "--at", "x=1,y=2", "--optimizer", "adam", "--rule", "retsinas"], "unbounded"),
        (["(x-1)**2+4*y**2", "--at", "x=0,y=1", "--optimizer", "momentum", "--steps", "300"], "rose"),
        (["(x-1)**2+4*y**2", "--at", "x=0,y=1", "--steps", "2"], "max_steps"),
    ],
)
def test_strict_exits_3_with_the_true_status_unless_converged(args, status):
    code, output = run_cli(*args)
    assert code == 0 and f"status     {status} at step" in output
    strict_code, strict_output = run_cli("--strict", *args)
    assert strict_code == EXIT_MATH_FAILURE == 3
    assert f"did not end 'converged' (--strict): {status} at step" in strict_output


def test_an_unbounded_run_says_what_was_observed_and_claims_no_proof():
    code, output = run_cli("x**2+3*x*y**2", "--at", "x=1,y=2", "--json")
    final = json.loads(output)["final"]
    assert code == 0 and final["status"] == "unbounded" and final["loss"] < 13 - 1e8 * 14
    assert "evidence, not a proof" in final["message"] and "taylorlr solve" in final["message"]
    assert "lower alpha0" not in final["message"]


def test_strict_passes_a_run_that_converged_to_a_minimum():
    code, output = run_cli("--strict", "(x-1)**2+4*y**2", "--at", "x=0,y=1")
    assert code == 0 and "status     converged at step" in output
