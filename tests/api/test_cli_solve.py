"""``taylorlr solve``: parse -> tl.solve -> render; every step-size sentence it prints is true."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sympy
from click.testing import CliRunner

import taylorlr as tl
from taylorlr.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def output_of(*args: str) -> str:
    result = CliRunner().invoke(cli, ["solve", *args])
    assert result.exit_code == 0 and "internal error" not in result.output, result.output
    return result.output


def json_of(*args: str) -> dict:
    return json.loads(output_of(*args, "--json"))


def without_timing(text: str) -> str:
    return re.sub(r", \d+\.\d\d s\]", ", _ s]", text)


def test_the_cli_prints_exactly_the_solution_record():
    payload = json_of("x**2+3*x*y**2", "--at", "x=1,y=2")
    data = json.loads(json.dumps(tl.solve("x**2+3*x*y**2", at={"x": 1, "y": 2}).to_dict()))
    assert payload.pop("schema") == "taylorlr.solve/1"
    payload["analysis"].pop("elapsed_s"), data["analysis"].pop("elapsed_s")
    assert payload == data


def test_the_quartic_no_longer_promises_a_decrease_its_step_cannot_give():
    # issue 10: "L = 12 certified on [-1, 1] guarantees f(w+) <= f(w) - 66.67", while eps = 1/12
    # lands at -3.33, outside the box, where f = -9.88
    text = output_of("40*x + x**4", "--at", "x=0")
    assert "66.6667" not in text and "on [-1, 1]" not in text and "guarantees" in text
    smooth = json_of("40*x + x**4", "--at", "x=0")["step_size"]["smoothness"]
    assert smooth["status"] == "guaranteed" and smooth["box"][0][0] <= -40 * smooth["eps_limit"]


def test_the_kink_says_estimate_and_why():
    # issue 10: a sampled L promised f(w+) <= -0.15 from (0.1, 0), while f(w+) = 0.4
    text = output_of("abs(x) + y**2", "--at", "x=0.1,y=0")
    assert "guarantees" not in text and "is an estimate: no decrease is guaranteed" in text and "kink" in text
    smooth = json_of("abs(x) + y**2", "--at", "x=0.1,y=0")["step_size"]["smoothness"]
    assert smooth["status"] == "estimate" and smooth["guaranteed_decrease"] is None


@pytest.mark.parametrize(
    ("expression", "at"),
    [
        ("x**2+3*x*y**2", "x=1,y=2"),
        ("40*x + x**4", "x=0"),
        ("x - log(x)", "x=1/2"),
        ("exp(x)*cos(y)", "x=1,y=2"),
        ("(1 - x)**2 + 100*(y - x**2)**2", "x=-6/5,y=1"),
        ("x**2 + 10*y**2", "x=1,y=1"),
    ],
)
def test_every_printed_guarantee_holds_in_exact_arithmetic(expression, at):
    text = output_of(expression, "--at", at)
    stated = re.search(
        r"eps = 1/L = \S+ guarantees f\(w\+\) <= f\(w\) - \|\|g\|\|\^2/\(2L\) = f\(w\) - (\S+)", text
    )
    limit = re.search(r"every eps in \(0, 2/L\) = \(0, (\S+)\) gives f\(w\+\) < f\(w\)", text)
    assert stated and limit, text
    L = sympy.Rational(json_of(expression, "--at", at)["step_size"]["smoothness"]["L"])
    loss = tl.Loss(expression)
    w = [sympy.sympify(v.split("=")[1]) for v in at.split(",")]
    g = [gi.subs(dict(zip(loss.variables, w, strict=True))) for gi in loss.gradient]

    def f_after(eps):
        return loss.value_at([a - eps * b for a, b in zip(w, g, strict=True)])

    assert sympy.N(loss.value_at(w) - sympy.Rational(stated.group(1)) - f_after(1 / L), 50) >= 0
    printed_limit = sympy.Rational(limit.group(1))
    assert printed_limit <= 2 / L
    for eps in (printed_limit / 3, printed_limit / 2, printed_limit):
        assert sympy.N(loss.value_at(w) - f_after(eps), 50) > 0


def test_at_a_critical_point_the_sentences_say_nothing_moves():
    text = output_of("x**2 + y**2", "--at", "x=0,y=0")
    assert "g = 0: w is a critical point, and no step along -g changes the model" in text
    assert "f(w) - 0" in text and "every eps in (0, 2/L)" not in text


def test_a_concave_box_prints_no_step():
    text = output_of("--at", "x=1,y=1", "--", "-x**2 - y**2")
    assert "no step 1/L: lambda_max(H) <= L = -2 <= 0 on the box" in text and "guarantees" not in text


def console_block(path: Path, command: str) -> tuple[str, str]:
    """The output under ``$ command`` in a ```console block, and what the command prints now."""
    text = path.read_text()
    match = re.search(r"```console\n\$ " + re.escape(command) + r"\n(.*?)```", text, re.S)
    assert match, f"{path.name} has no console block for {command}"
    args = re.findall(r'"[^"]*"|\S+', command)[2:]
    return without_timing(match.group(1)), without_timing(output_of(*[a.strip('"') for a in args]))


@pytest.mark.parametrize(
    ("document", "command"),
    [
        ("README.md", 'taylorlr solve "x**2+3*x*y**2"'),
        ("docs/cli.md", 'taylorlr solve "x**2+3*x*y**2" --at x=1,y=2'),
    ],
)
def test_the_documented_solve_output_is_what_solve_prints(document, command):
    documented, printed = console_block(ROOT / document, command)
    assert documented == printed


@pytest.mark.parametrize(
    ("expression", "at", "reason"),
    [
        ("1/x", "x=0", "not finite and real: f is not differentiable there"),
        ("sqrt(x)", "x=0", "not finite and real: f is not differentiable there"),
        ("exp(100*x)", "x=10", "overflows floating point"),
        ("log(x)", "x=-1", "log(x) is not smooth where its argument can be <= 0"),
    ],
)
def test_points_where_f_is_not_smooth_or_overflows_get_no_guarantee(expression, at, reason):
    text = output_of(expression, "--at", at)
    assert "guarantees" not in text and reason in text


def test_an_overflowing_decrease_is_stated_as_the_largest_float_below_it():
    smooth = json_of("x**2", "--at", "x=1e300")["step_size"]["smoothness"]
    assert smooth["status"] == "guaranteed" and smooth["guaranteed_decrease"] == 1.7976931348623157e308
    assert sympy.Rational(smooth["guaranteed_decrease"]) <= sympy.Integer(10) ** 600  # ||g||^2 / (2L)
