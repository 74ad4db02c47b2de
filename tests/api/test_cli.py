"""The taylorlr command: every command's output, JSON, LaTeX, plots, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import sympy
from click.testing import CliRunner, Result

from taylorlr.cli import cli, parse_point
from taylorlr.errors import ParseError
from taylorlr.report.text import critical_point_lines

SADDLE = "x**2+3*x*y**2"


def invoke(*args: str, code: int = 0) -> Result:
    """Run the CLI in-process; no internal error may hide behind any exit code."""
    result = CliRunner().invoke(cli, list(args))
    assert "internal error:" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code == code, result.output
    return result


def _no_constants(name: str) -> Any:
    raise AssertionError(f"{name} in JSON output: not valid JSON")


def json_of(*args: str, code: int = 0) -> dict[str, Any]:
    """The --json output of a command, parsed strictly (NaN and Infinity are refused)."""
    return json.loads(invoke(*args, "--json", code=code).stdout, parse_constant=_no_constants)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taylorlr", *args], capture_output=True, text=True)


# solve -----------------------------------------------------------------------------------------


def test_solve_prints_variables_gradient_and_hessian():
    output = invoke("solve", SADDLE).output
    assert "variables  x, y" in output
    assert "df/dx = 2*x + 3*y**2" in output and "df/dy = 6*x*y" in output
    assert "[  2  6*y ]" in output and "[ 6*y 6*x ]" in output


def test_solve_json_has_the_documented_keys():
    payload = json_of("solve", "x^2 + 3*x*y^2")
    assert payload["variables"] == ["x", "y"]
    assert payload["gradient"] == ["2*x + 3*y**2", "6*x*y"]
    assert payload["hessian"] == [["2", "6*y"], ["6*y", "6*x"]]
    assert {"analysis", "critical_points", "bounded_below"} <= payload.keys()
    assert payload["schema"] == "taylorlr.solve/1"
    assert "newton" not in payload


def test_solve_finds_the_one_degenerate_saddle_and_proves_unboundedness():
    payload = json_of("solve", SADDLE)
    (point,) = payload["critical_points"]
    assert point["point"] == [0.0, 0.0] and point["point_exact"] == ["0", "0"]
    assert point["kind"] == "saddle" and point["degenerate"] and point["exact"]
    assert point["eigenvalues"] == [0.0, 2.0] and "along the curve" in point["reason"]
    assert payload["analysis"]["status"] == "complete" and payload["analysis"]["counts"] == {"saddle": 1}
    bounded = payload["bounded_below"]
    assert bounded["verdict"] == "unbounded" and bounded["proof"] is True
    x, y = bounded["point"]
    assert x**2 + 3 * x * y**2 == pytest.approx(bounded["value"]) and bounded["value"] < 0


def test_solve_text_reports_each_part_in_order():
    output = invoke("solve", SADDLE, "--at", "x=1,y=2").output
    headings = [
        "variables", "gradient", "Hessian", "critical points", "degenerate points", "bounded below",
        "Newton step", "step-size bounds",
    ]  # fmt: skip
    positions = [output.index(h) for h in headings]
    assert positions == sorted(positions)
    assert "(x, y) = (0, 0): saddle" in output and "exact, degenerate" in output
    assert "NO: f is unbounded below (proved)" in output


def closed_form_newton_step(text: str, at: dict[str, int]) -> tuple[list[sympy.Expr], sympy.Expr, sympy.Expr]:
    """The Newton point w - H^-1 g, f before and f after, straight from SymPy (independent of taylorlr)."""
    x, y = sympy.symbols("x y")
    f = sympy.sympify(text)
    start = {x: at["x"], y: at["y"]}
    H = sympy.hessian(f, (x, y)).subs(start)
    g = sympy.Matrix([f.diff(x), f.diff(y)]).subs(start)
    assert H.tolist() == [[2, 12], [12, 6]] and list(g) == [14, 12]
    point = [start[v] - s for s, v in zip(H.LUsolve(g), (x, y), strict=True)]
    return point, f.subs(start), f.subs(dict(zip((x, y), point, strict=True)))


def test_solve_at_takes_the_closed_form_newton_step():
    newton = json_of("solve", SADDLE, "--at", "x=1,y=2")["newton"]
    point, f_before, f_after = closed_form_newton_step(SADDLE, {"x": 1, "y": 2})
    assert newton["exact"]["point"] == [str(p) for p in point] == ["6/11", "10/11"]
    assert newton["point"] == pytest.approx([float(p) for p in point], rel=1e-12)
    assert newton["exact"]["f_before"] == str(f_before) == "13"
    assert newton["f_after"] == pytest.approx(float(f_after)) and newton["exact"]["f_after"] == str(f_after)
    assert newton["gradient"] == [14.0, 12.0] and newton["curvature"] == "saddle"
    assert newton["eigenvalues"][0] < 0 < newton["eigenvalues"][1]
    assert newton["exact"]["eta"] == [["-1/22", "1/11"], ["1/11", "-1/66"]]


def test_solve_at_reports_the_second_order_step_size_bounds():
    bounds = json_of("solve", SADDLE, "--at", "x=1,y=2")["step_size"]
    g, H = [14, 12], [[2, 12], [12, 6]]
    gHg = sum(g[i] * H[i][j] * g[j] for i in range(2) for j in range(2))
    assert bounds["descent_limit"]["eps_max"] == pytest.approx(2 * (14**2 + 12**2) / gHg)
    assert bounds["smoothness"]["certified"] and bounds["smoothness"]["box"] == [[0.0, 2.0], [1.0, 3.0]]
    assert bounds["smoothness"]["eps"] == pytest.approx(1 / bounds["smoothness"]["L"])
    assert all(is_number(bounds[k]) for k in ("lambda_max", "inverse_lambda_max"))


def test_solve_strict_exits_3_on_a_singular_hessian_at_the_point():
    invoke("solve", "x**2 + y**4", "--at", "x=0,y=0", "--strict", code=3)
    assert json_of("solve", "x**2 + y**4", "--at", "x=0,y=0")["newton"]["curvature"] == "singular"
    pinv = json_of("solve", "x**2 + y**4", "--at", "x=1,y=0", "--fallback", "pinv", "--strict")["newton"]
    assert pinv["point"] == [0.0, 0.0] and "pseudo-inverse" in pinv["heads_for"]


def test_solve_latex():
    output = invoke("solve", "x**2*y", "--latex").output
    assert "\\left[\\begin{matrix}" in output


def test_solve_with_data_symbols_skips_the_critical_points():
    payload = json_of("solve", "(w*x - y)**2", "--vars", "w", "--data", "x,y")
    assert payload["gradient"] == ["2*x*(w*x - y)"]
    assert payload["analysis"]["status"] == "skipped" and payload["critical_points"] == []
    invoke("solve", "(w*x - y)**2", "--vars", "w", "--data", "x,y", "--at", "w=1", code=2)


def test_solve_without_critical_points_and_bounded_below():
    payload = json_of("solve", "x**2 + y**2 + 1 + 2*x")
    (point,) = payload["critical_points"]
    assert point["kind"] == "minimum" and point["point_exact"] == ["-1", "0"] and point["value_exact"] == "0"
    # a coercive polynomial whose critical points are all known: its lowest critical value is min f
    bounded = payload["bounded_below"]
    assert bounded["verdict"] == "bounded below (proved)" and bounded["proof"] is True
    assert bounded["bound_exact"] == "0" and bounded["attained"] and bounded["point_exact"] == ["-1", "0"]
    # exp(x) - 2x is not a polynomial and has no constant-plus-squares form: evidence only
    evidence = json_of("solve", "exp(x) - 2*x")["bounded_below"]
    assert evidence["verdict"].startswith("no evidence of unboundedness") and evidence["proof"] is False


def test_solve_float32_and_exact_at_values():
    payload = json_of("solve", "x**2 - 4*x", "--at", "x=1/3", "--dtype", "float32")
    assert payload["newton"]["point"] == pytest.approx([2.0], rel=1e-6)
    assert payload["newton"]["exact"]["start"] == ["1/3"]


# newton, taylor, onestep ------------------------------------------------------------------------


def test_newton_one_step_matches_the_closed_form():
    payload = json_of("newton", SADDLE, "--at", "x=1,y=2")
    (step,) = payload["steps"]
    assert step["exact"]["point"] == ["6/11", "10/11"] and payload["iterations"] == 1
    assert "saddle point" in invoke("newton", SADDLE, "--at", "x=1,y=2").output


def test_newton_iterates_to_the_minimum():
    payload = json_of("newton", "x**4 - 2*x**2", "--at", "x=2", "--steps", "20")
    assert payload["status"] == "converged" and payload["point"] == pytest.approx([1.0])
    assert payload["iterations"] < 10 and all(is_number(s["f_before"]) for s in payload["steps"])
    assert "Newton iterations" in invoke("newton", "x**4 - 2*x**2", "--at", "x=2", "--steps", "20").output


def test_newton_strict_exits_3_on_a_singular_hessian():
    invoke("newton", "x**2 + y**4", "--at", "x=0,y=0", "--strict", code=3)
    step = json_of("newton", "x**2 + y**4", "--at", "x=0,y=0")["steps"][0]
    assert step["curvature"] == "singular" and step["condition"] is None
    invoke("newton", "x**2 + y**4", "--at", "x=0,y=0", "--strict", "--fallback", "pinv")


def test_newton_halley_is_reported_without_the_exact_newton_step():
    payload = json_of("newton", "x**3 + x**2", "--at", "x=1", "--method", "halley")
    assert payload["method"] == "halley" and payload["steps"][0]["exact"] is None


def test_taylor_order_2_is_the_known_polynomial():
    payload = json_of("taylor", SADDLE, "--at", "x=1,y=2", "--order", "2")
    x, y = sympy.symbols("x y")
    expected = 13 + 14 * (x - 1) + 12 * (y - 2) + (x - 1) ** 2 + 12 * (x - 1) * (y - 2) + 3 * (y - 2) ** 2
    assert sympy.expand(sympy.sympify(payload["taylor"]) - expected) == 0
    terms = {tuple(t["powers"]): t["coefficient"] for t in payload["terms"]}
    assert terms[(1, 1)] == 12.0 and terms[(0, 0)] == 12.0 and payload["at_exact"] == ["1", "2"]
    assert "T2(x, y) = " in invoke("taylor", SADDLE, "--at", "x=1,y=2").output
    assert "x^{2}" in invoke("taylor", SADDLE, "--at", "x=1,y=2", "--latex").output


def test_onestep_defaults_reproduce_source_000():
    output = invoke("onestep").output
    assert "eta = 1/f''(w0) = -1/2" in output and "w1 = -1, f(w1) = -2" in output
    assert "f(w0) = -11" in output and "f'(w0) = 6" in output and "(maximum)" in output
    payload = json_of("onestep")
    assert (payload["eta"], payload["w1"], payload["f_w0"], payload["df_w0"]) == (-0.5, -1.0, -11.0, 6.0)
    assert payload["kind"] == "maximum" and payload["exact"]["eta"] == "-1/2"


def test_onestep_with_a_cubic_term_misses_the_extremum():
    payload = json_of("onestep", "--d", "1/10")
    assert payload["exact"]["w1"] == "-17/11" and payload["miss"] > 0.5
    assert "w^{3}" in invoke("onestep", "--d", "0.1", "--latex").output


# run and compare -------------------------------------------------------------------------------

RUN_KEYS = {
    "schema", "expression", "variables", "rule", "optimizer", "oracle_method", "settings", "points", "alphas",
    "oracle_alphas", "losses", "grad_norms", "status", "stopped_at", "counts", "safeguard_counts", "final",
    "timings",
}  # fmt: skip


def test_run_json_has_the_documented_keys():
    payload = json_of("run", "x**2 + 10*y**2", "--at", "x=1,y=1", "--optimizer", "adam", "--rule", "retsinas")
    assert payload.keys() == RUN_KEYS
    assert (payload["rule"], payload["optimizer"]) == ("retsinas", "adam")
    final = payload["final"]
    assert final.keys() == {"status", "message", "step", "point", "loss", "grad_norm", "alpha"}
    assert all(is_number(v) for v in (final["loss"], final["grad_norm"], *final["point"], *payload["losses"]))
    assert len(payload["points"]) == payload["settings"]["steps"] + 1


def test_run_text_shows_the_table_and_the_status():
    output = invoke("run", "x**2 + 10*y**2", "--at", "x=1,y=1", "--rule", "exact", "--steps", "50").output
    assert "oracle alpha" in output and "status     converged" in output


def test_run_strict_exits_3_unless_converged():
    invoke("run", "x**2 + 10*y**2", "--at", "x=1,y=1", "--steps", "3", "--strict", code=3)
    invoke("run", "x**2 + 10*y**2", "--at", "x=1,y=1", "--steps", "100", "--strict")


# input, errors, help --------------------------------------------------------------------------


def test_parse_point_reads_exact_values_and_commas_inside_calls():
    point = parse_point("x=1/3, y=atan2(1, 1)")
    assert point == {"x": sympy.Rational(1, 3), "y": sympy.pi / 4}


@pytest.mark.parametrize(
    ("text", "column"), [("x=foo", 2), ("x", 0), ("x=1,x=2", 4), ("x=1, y=(2", 7), ("x=1,,", 4)]
)
def test_parse_point_errors_point_into_the_whole_text(text, column):
    with pytest.raises(ParseError) as caught:
        parse_point(text)
    assert caught.value.column == column and caught.value.text == text


@pytest.mark.parametrize(
    "args",
    [
        ("solve", "x**2", "--at", "x=foo"),
        ("solve", "x**2 + y", "--at", "x=1,z=2"),
        ("newton", "x**2"),
        ("run", "x**2", "--at", "x=1", "--rule", "nope"),
        ("compare", "x**2", "--at", "x=1", "--optimizers", "gd,nope"),
        ("onestep", "--a", "0"),
        ("taylor", "x", "--at", "x=1", "--order", "99"),
        ("run", "x**2", "--at", "x=1", "--gamma", "2"),
    ],
)
def test_bad_input_exits_2(args):
    invoke(*args, code=2)


def test_an_expression_starting_with_minus_gets_a_hint_and_works_after_double_dash():
    assert '"--"' in invoke("solve", "-x**2", code=2).output
    payload = json.loads(invoke("solve", "--json", "--", "-x**2").stdout)
    assert payload["critical_points"][0]["kind"] == "maximum"


def test_solve_text_lists_at_most_a_dozen_points():
    point = {"point": [1.0], "kind": "inconclusive", "eigenvalues": [0.0], "exact": False, "degenerate": True,
             "value": 0.0, "reason": "numeric"}  # fmt: skip
    payload = {
        "variables": ["x"],
        "analysis": {"status": "numeric", "note": "numeric", "elapsed_s": 0.1},
        "critical_points": [point] * 15,
    }
    lines = critical_point_lines(payload)
    assert len(lines) == 1 + 12 + 1 and lines[-1] == "  ... and 3 more (all of them in --json)"


def test_internal_errors_exit_1_with_a_message_and_no_traceback(monkeypatch):
    import taylorlr.report.text

    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(taylorlr.report.text, "solve_lines", broken)
    result = CliRunner().invoke(cli, ["solve", "x**2"])
    assert result.exit_code == 1 and "internal error: RuntimeError: boom" in result.output
    assert "please report" in result.output and "Traceback" not in result.output


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
    ("args", "code"),
    [
        (("solve", "x", "--no-such-option"), 2),
        (("no-such-command",), 2),
        (("solve", "3 + 4"), 2),
        (("solve", "x**2", "--at", "x=foo"), 2),
        (("newton", "x**2 + y**4", "--at", "x=0,y=0", "--strict"), 3),
        (("--version",), 0),
    ],
)
def test_exit_codes_of_the_real_command_without_traceback(args, code):
    done = run_cli(*args)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and "internal error:" not in done.stderr


def test_at_caret_points_at_the_bad_value():
    done = run_cli("solve", "x**2", "--at", "x=foo")
    text_line, caret_line = done.stderr.splitlines()[-2:]
    assert text_line.strip() == "x=foo" and caret_line.index("^") == text_line.index("f")


def test_help_shows_a_worked_example():
    assert 'taylorlr solve "x**2 + 3*x*y**2"' in invoke("--help").output


@pytest.mark.parametrize("command", ["solve", "newton", "taylor", "run", "compare", "onestep"])
def test_every_command_has_a_worked_example_and_the_common_options(command):
    output = invoke(command, "--help").output
    assert "Example:" in output and f"taylorlr {command}" in output
    assert all(option in output for option in ("--json", "--backend", "--dtype"))


# plots -----------------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args",
    [
        ("onestep", "--d", "0.1"),
        ("solve", SADDLE),
        ("run", "x**2 + 10*y**2", "--at", "x=1,y=1", "--steps", "30"),
        ("compare", "(x - 1)**2 + 4*y**2", "--at", "x=0,y=1", "--rules", "exact,fixed", "--optimizers", "gd"),
    ],
)
def test_plot_writes_a_non_trivial_png(args, tmp_path):
    path = tmp_path / "figure.png"
    invoke(*args, "--plot", str(path))
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000


def test_a_mistyped_rule_or_optimizer_name_gets_the_nearest_one():
    result = invoke("run", "x**2", "--at", "x=1", "--rule", "retsina", code=2)
    assert "unknown 'retsina' (did you mean 'retsinas'?)" in result.output
    result = invoke("compare", "x**2", "--at", "x=1", "--optimizers", "gd,adma", code=2)
    assert "unknown 'adma' (did you mean 'adam'?)" in result.output
