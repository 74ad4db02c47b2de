"""Readable text: fitted to the terminal (80 columns included) without losing a digit or an exponent,
long exact forms folded behind their decimals unless --exact, and --latex that parses as LaTeX."""

from __future__ import annotations

import json
import re

import pytest
import sympy
from click.testing import CliRunner

import taylorlr as tl
from taylorlr._display import fmt
from taylorlr.cli import cli

QUADRATIC = "(x - 1)**2 + 4*y**2"
ALGEBRAIC = "x**10/10 - x**3 + x*y + y**2"  # critical points in roots of 512 x^8 + 12 x - 1


def invoke(*args: str, columns: int | None = None):
    env = {"COLUMNS": str(columns)} if columns else {"COLUMNS": ""}
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def compared():
    args = ("compare", QUADRATIC, "--at", "x=0,y=1", "--steps", "60")
    return json.loads(invoke(*args, "--json").stdout), invoke(*args, columns=80).stdout


def test_compare_at_80_columns_keeps_every_digit_and_exponent(compared):
    payload, text = compared
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in text and "..." not in text
    cells = set(re.findall(r"[^\s│┃]+", text))
    for row in payload["rows"]:
        for key in ("final_value", "final_gap", "distance"):
            assert fmt(row[key]) in cells, (key, fmt(row[key]))
    assert any("e-1" in fmt(row["final_value"]) for row in payload["rows"])  # an exponent was at stake


def test_compare_wide_is_one_table_and_narrow_is_two_that_repeat_the_rank(compared):
    _, narrow = compared
    wide = invoke("compare", QUADRATIC, "--at", "x=0,y=1", "--steps", "60", columns=200).stdout
    assert wide.count("best first") == 1 and narrow.count("(continued)") == 1
    ranks = [int(m) for m in re.findall(r"^│ +(\d+) │", narrow, flags=re.M)]
    assert ranks == list(range(1, 22)) * 2


def test_text_lines_wrap_between_words_under_their_label(compared):
    payload, text = compared
    verdict = text[text.index("verdict") :].splitlines()
    assert verdict[1].startswith(" " * 11) and not verdict[1].startswith(" " * 12)
    joined = " ".join(line.strip() for line in verdict[:2])
    assert payload["verdict_reason"] in joined


def test_run_table_at_40_columns_splits_and_keeps_numbers():
    payload = json.loads(invoke("run", QUADRATIC, "--at", "x=0,y=1", "--rule", "retsinas", "--json").stdout)
    text = invoke("run", QUADRATIC, "--at", "x=0,y=1", "--rule", "retsinas", columns=40).stdout
    table = text[: text.index("status ")]
    assert max(len(line) for line in table.splitlines()) <= 40
    for t in range(payload["final"]["step"] + 1):
        assert fmt(payload["losses"][t]) in table and fmt(payload["alphas"][t]) in table


@pytest.fixture(scope="module")
def algebraic():
    return json.loads(invoke("solve", ALGEBRAIC, "--json").stdout)


def test_long_exact_forms_are_folded_behind_their_decimals(algebraic):
    text = invoke("solve", ALGEBRAIC).stdout
    points = [line for line in text.splitlines() if line.startswith("  (x, y) = ")]
    assert len(points) == 3 and "CRootOf" not in text
    assert max(len(line) for line in points) < 160
    for point in algebraic["critical_points"]:
        shown = f"({fmt(point['point'][0])}, {fmt(point['point'][1])})"
        assert any(line.startswith(f"  (x, y) = {shown}") for line in points)
    assert "in roots of 512*x**8 + 12*x - 1" in text
    assert "--exact prints them" in text


def test_exact_prints_the_whole_forms(algebraic):
    text = invoke("solve", ALGEBRAIC, "--exact").stdout
    for point in algebraic["critical_points"]:
        for exact in point["point_exact"]:
            assert exact in text
    assert "--exact prints them" not in text


def test_a_folded_root_names_its_polynomial_and_an_interval_that_holds_it():
    # f' = x^4 - x - 1: two real roots, each a CRootOf
    text = invoke("solve", "x**5/5 - x**2/2 - x").stdout
    x = sympy.Symbol("x")
    roots = sympy.Poly(x**4 - x - 1, x).real_roots()
    found = re.findall(r"root of x\*\*4 - x - 1 in \[(\S+), (\S+)\]", text)
    assert len(found) == 2
    for root, (low, high) in zip(roots, found, strict=True):
        assert sympy.Rational(low) <= root <= sympy.Rational(high)


# --latex -------------------------------------------------------------------------------------------

KNOWN = {"left", "right", "begin", "end", "frac", "sqrt", "cdot", "log", "exp", "sin", "cos", "tan", "pi",
         "operatorname", "displaystyle", "text", "atan", "sinh", "cosh", "tanh", "max", "min"}  # fmt: skip


def check_latex(formula: str) -> None:
    """Structural check (braces, \\left/\\right, environments, known commands, no Python list or
    doubled escapes), then matplotlib's mathtext parser on what it supports (no environments)."""
    assert not formula.startswith("[") and "'" not in formula, formula
    depth = 0
    for character in re.sub(r"\\[{}]", "", formula):
        depth += {"{": 1, "}": -1}.get(character, 0)
        assert depth >= 0, formula
    assert depth == 0, formula
    assert formula.count(r"\left") == formula.count(r"\right"), formula
    assert re.findall(r"\\begin\{(\w+)\}", formula) == re.findall(r"\\end\{(\w+)\}", formula), formula
    outside = re.sub(r"\\begin\{(\w+)\}.*?\\end\{\1\}", "", formula)
    assert "\\\\" not in outside, formula  # a row break only inside a matrix
    commands = set(re.findall(r"\\([a-zA-Z]+)", re.sub(r"\\\\", " ", formula)))
    assert commands <= KNOWN, commands - KNOWN
    if "\\begin" not in formula:
        from matplotlib.mathtext import MathTextParser

        MathTextParser("path").parse(f"${formula}$")


def latex_block(text: str) -> list[str]:
    block = text[text.index("\nLaTeX\n") + 7 :].splitlines()
    return [
        line.split(": ", 1)[1] if ": " in line else line.strip() for line in block if not line.endswith(":")
    ]


@pytest.mark.parametrize(
    "args",
    [
        ("solve", "x**4 - 2*x**2 + y**2 - x*y", "--latex"),
        ("solve", "x**2 + 3*x*y**2", "--latex"),
        ("solve", "x**3 - 3*x", "--latex"),
        ("taylor", "exp(x)*cos(y)", "--at", "x=0,y=0", "--order", "3", "--latex"),
        ("onestep", "--d", "1/10", "--latex"),
    ],
)
def test_latex_output_is_valid_latex(args):
    pytest.importorskip("matplotlib")
    formulas = latex_block(invoke(*args).stdout)
    assert formulas
    for formula in formulas:
        check_latex(formula)


def test_latex_json_holds_one_formula_per_point():
    payload = json.loads(invoke("solve", "x**3 - 3*x", "--latex", "--json").stdout)
    assert payload["latex"]["critical_points"] == ["-1", "1"]


def test_notebook_latex_is_valid_too():
    pytest.importorskip("matplotlib")
    check_latex(tl.Loss("x**2 + 3*x*y**2")._repr_latex_().strip("$").replace(r"\displaystyle ", ""))
    check_latex(tl.Loss("x**2 - y**2").critical_points()._repr_latex_().strip("$"))
