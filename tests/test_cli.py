"""The taylorlr command: solve's output, JSON, LaTeX, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from taylorlr.cli import cli


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_solve_prints_variables_gradient_and_hessian():
    result = invoke("solve", "x**2+3*x*y**2")
    assert result.exit_code == 0, result.output
    assert "variables  x, y" in result.output
    assert "df/dx = 2*x + 3*y**2" in result.output and "df/dy = 6*x*y" in result.output
    assert "[  2  6*y ]" in result.output and "[ 6*y 6*x ]" in result.output


def test_solve_json_has_the_documented_keys():
    result = invoke("solve", "x^2 + 3*x*y^2", "--json")
    payload = json.loads(result.output)
    assert payload["variables"] == ["x", "y"]
    assert payload["gradient"] == ["2*x + 3*y**2", "6*x*y"]
    assert payload["hessian"] == [["2", "6*y"], ["6*y", "6*x"]]


def test_solve_latex():
    result = invoke("solve", "x**2*y", "--latex")
    assert "\\left[\\begin{matrix}" in result.output


def test_solve_with_data_symbols():
    result = invoke("solve", "(w*x - y)**2", "--vars", "w", "--data", "x,y", "--json")
    assert json.loads(result.output)["gradient"] == ["2*x*(w*x - y)"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taylorlr", *args], capture_output=True, text=True)


@pytest.mark.parametrize(
    ("text", "caret_column"),
    [("x + )", 4), ("x**2 + __import__('os')", 7), ("x.real", 1)],
)
def test_parse_error_prints_caret_and_exits_2_without_traceback(text, caret_column):
    done = run_cli("solve", text)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    caret_line = next(line for line in lines if line.strip() == "^")
    assert caret_line.index("^") - 2 <= caret_column <= caret_line.index("^")


@pytest.mark.parametrize(
    "args", [("solve", "x", "--no-such-option"), ("no-such-command",), ("solve", "3 + 4")]
)
def test_bad_usage_exits_2_without_traceback(args):
    done = run_cli(*args)
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_help_shows_a_worked_example():
    assert 'taylorlr solve "x**2 + 3*x*y**2"' in invoke("--help").output
    assert "Example" in invoke("solve", "--help").output
