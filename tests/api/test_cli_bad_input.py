"""The taylorlr command under hostile input (issue 15): every option checked before any work, one JSON
object under --json whatever happens, exactly the documented exit codes, no "internal error"."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import taylorlr.cli
from taylorlr.cli import cli

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
SADDLE = "x**2+3*x*y**2"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def refused(*args: str, says: str, code: int = 2) -> Result:
    """A command that must end with ``code`` before printing any report, its message containing ``says``."""
    result = invoke(*args)
    assert result.exit_code == code, result.output
    assert says in result.stderr, result.stderr
    assert result.stdout == "", result.stdout
    assert "internal error" not in result.output and "Traceback" not in result.output
    return result


def json_error(*args: str, code: int = 2) -> dict[str, Any]:
    """The one JSON object a failing command prints under --json."""
    result = invoke(*args, "--json")
    assert result.exit_code == code, result.output
    record = json.loads(result.stdout)  # exactly one JSON document, nothing before or after it
    assert record["exit_code"] == code and record["error"], record
    return record


def closed_stdout_run(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Run the CLI with stdout a pipe whose reader has already gone (``| head`` that has finished)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "taylorlr", *args], stdout=write_end, stderr=subprocess.PIPE, timeout=120
        )
    finally:
        os.close(write_end)


# a closed pipe ------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [(), ("--json",)])
def test_a_closed_stdout_ends_quietly_with_the_sigpipe_code(extra):
    done = closed_stdout_run("solve", SADDLE, *extra)
    assert done.stderr == b""
    assert done.returncode == taylorlr.cli.EXIT_CLOSED_PIPE == 141


def test_a_reader_that_stops_after_a_few_bytes_gets_no_error_text():
    process = subprocess.Popen(
        [sys.executable, "-m", "taylorlr", "newton", "x**4 - 2*x**2", "--at", "x=2", "--steps", "8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert len(process.stdout.read(5)) == 5
    process.stdout.close()
    errors = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=120) in (0, 141)  # 0 when every byte was in the pipe before it closed
    assert errors == b""


# --plot -------------------------------------------------------------------------------------------


def test_plot_to_a_place_that_cannot_be_written_is_refused_before_any_work():
    target = "/sys/taylorlr-plot.png"
    if os.access("/sys", os.W_OK) and not Path("/sys").is_mount():
        pytest.skip("/sys is writable here")
    refused("solve", "x**2 + y**2", "--plot", target, says=f"cannot write {target}")
    assert not Path(target).exists()


def test_plot_into_a_missing_folder_prints_only_the_error_object_under_json(tmp_path):
    target = tmp_path / "missing" / "f.png"
    record = json_error("solve", "x**2 + y**2", "--plot", str(target))
    assert "does not exist" in record["error"] and record["schema"] == "taylorlr.error/1"
    assert "critical_points" not in record  # no report before the error


def test_an_empty_plot_name_is_refused():
    refused("solve", "x**2 + y**2", "--plot", "", says="the file name is empty")


@pytest.mark.parametrize("name", ["noext", "p.txt"])
def test_a_plot_name_without_a_writable_format_is_refused_with_the_formats(tmp_path, name):
    result = refused("onestep", "--plot", str(tmp_path / name), says="which matplotlib cannot write")
    assert "png" in result.stderr and "svg" in result.stderr and "pdf" in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written, not even noext.png


def test_plot_to_a_device_without_an_extension_is_refused():
    refused("onestep", "--plot", "/dev/full", says="'/dev/full' has no extension")


@pytest.mark.parametrize(("extension", "magic"), [("svg", b"<?xml"), ("pdf", b"%PDF"), ("png", b"\x89PNG")])
def test_the_plot_is_written_to_exactly_the_path_named(tmp_path, extension, magic):
    target = tmp_path / f"step.{extension}"
    result = invoke("onestep", "--plot", str(target))
    assert result.exit_code == 0, result.output
    assert f"plot written to {target}\n" in result.stderr
    assert target.read_bytes().startswith(magic)
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_a_figure_that_cannot_be_drawn_is_refused_before_the_report(tmp_path):
    # 1-D and n-D losses are drawn (tests/report/test_figures.py); data symbols have no numbers to draw
    says = "a figure of f cannot show data symbols (a, b)"
    refused(
        "solve", "(w*a - b)**2", "--vars", "w", "--data", "a,b", "--plot", str(tmp_path / "c.png"), says=says
    )
    assert list(tmp_path.iterdir()) == []


# one JSON object, documented exit codes -------------------------------------------------------------


def documented_exit_codes() -> set[int]:
    text = DOCS.read_text()
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(code) for code in re.findall(r"^\| (\d+) \|", section, flags=re.MULTILINE)}


def _interrupt(*args: Any, **kwargs: Any) -> Any:
    raise KeyboardInterrupt


def _bug(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("a deliberate bug")


def test_the_documented_exit_codes_are_the_ones_the_code_uses():
    assert documented_exit_codes() == {0, 1, 2, 3, 130, 141}
    cli_module = taylorlr.cli
    codes = (
        cli_module.EXIT_INTERNAL, cli_module.EXIT_BAD_INPUT, cli_module.EXIT_MATH_FAILURE,
        cli_module.EXIT_INTERRUPTED, cli_module.EXIT_CLOSED_PIPE,
    )  # fmt: skip
    assert {0, *codes} == documented_exit_codes()


@pytest.mark.parametrize(
    ("code", "args", "patch"),
    [
        (2, ("solve", "x + )"), None),
        (2, ("newton", "x**2", "--at", "x=1", "--tol", "nan"), None),
        (2, ("run", "x**2", "--at", "x=1", "--optimizer", "nope"), None),
        (1, ("solve", "x**2"), _bug),
        (130, ("solve", "x**2"), _interrupt),
    ],
)
def test_every_error_under_json_is_one_object_with_its_exit_code(monkeypatch, code, args, patch):
    if patch is not None:
        monkeypatch.setattr(taylorlr.cli, "make_loss", patch)
    record = json_error(*args, code=code)
    assert record["schema"] == "taylorlr.error/1"
    if code == 1:
        assert "internal error: RuntimeError: a deliberate bug" in record["error"]


def test_exit_0_prints_the_result_alone():
    result = invoke("solve", "x**2", "--json")
    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert record["schema"] == "taylorlr.solve/1" and "error" not in record


def test_a_strict_failure_under_json_is_the_result_with_the_error_in_one_object():
    result = invoke("newton", "x**2 + y**4", "--at", "x=0,y=0", "--strict", "--json")
    assert result.exit_code == 3
    record = json.loads(result.stdout)  # one object: the steps and the error
    assert record["schema"] == "taylorlr.newton/1" and record["exit_code"] == 3
    assert "singular" in record["error"] and record["steps"][0]["curvature"] == "singular"


def test_the_closed_pipe_code_is_the_documented_one():
    assert closed_stdout_run("onestep").returncode in documented_exit_codes()


# newton outside the domain ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "at"), [("log(x)", "x=-1"), ("1/x", "x=0"), ("sqrt(x) + y**2", "x=-1,y=0")]
)
def test_newton_from_a_point_outside_the_domain_is_bad_input(expression, at):
    result = refused("newton", expression, "--at", at, says="is not finite at")
    assert "outside f's domain" in result.stderr and "KeyError" not in result.stderr


# numbers at the boundary ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("solve", "x**2", "--budget", "inf"), "'inf' is not a finite number: give one in (0, 1e+06]"),
        (("solve", "x**2", "--budget", "1e300"), "'1e300' is out of range: give a number in (0, 1e+06]"),
        (("solve", "x**2", "--budget", "0"), "is out of range"),
        (
            ("newton", "x**2", "--at", "x=1", "--tol", "nan"),
            "'nan' is not a finite number: give one in [0, inf)",
        ),
        (("newton", "x**2", "--at", "x=1", "--tol", "-1"), "'-1' is out of range: give a number in [0, inf)"),
        (("run", "x**2", "--at", "x=1", "--tol", "inf"), "is not a finite number"),
        (("run", "x**2", "--at", "x=1", "--alpha0", "0"), "give a number in (0, inf)"),
        (("run", "x**2", "--at", "x=1", "--gamma", "1.5"), "give a number in (0, 1]"),
        (("run", "x**2", "--at", "x=1", "--gamma", "abc"), "'abc' is not a number"),
        (("compare", "x**2", "--at", "x=1", "--tol-x", "nan"), "is not a finite number"),
        (("onestep", "--w0", "1e999"), "'1e999' is not a finite real number"),
        (("onestep", "--a", "-1e400"), "is not a finite real number"),
        (("newton", "x**2", "--at", "x=1e999"), "'1e999' is not a finite real number"),
        (("newton", "x**2", "--at", "y=1,x=-10**400"), "is not a finite real number"),
    ],
)
def test_numeric_options_out_of_range_are_usage_errors_naming_the_range(args, says):
    result = refused(*args, says=says)
    assert "Invalid value for" in result.stderr


def test_onestep_with_a_huge_start_prints_no_nulls():
    record = json_error("onestep", "--w0", "1e999")
    assert "w0" in record["error"]


# no warning text ----------------------------------------------------------------------------------


def test_numpy_warnings_never_reach_stderr(monkeypatch):
    import numpy as np

    from taylorlr.loss import Loss

    def noisy_loss(expression: str, variables: Any, data: Any = None) -> Loss:
        np.log(np.array([-1.0]))  # RuntimeWarning: invalid value encountered in log
        return Loss(expression)

    monkeypatch.setattr(taylorlr.cli, "make_loss", noisy_loss)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the CLI must silence it, not pytest
        result = invoke("run", "log(x)", "--at", "x=0.1")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


@pytest.mark.parametrize(
    "args",
    [
        ("run", "log(x)", "--at", "x=0.1", "--alpha0", "10", "--safeguards", "none"),
        ("solve", "sqrt(x)", "--at", "x=0"),
    ],
)
def test_steps_outside_the_domain_print_no_warning(args):
    done = subprocess.run([sys.executable, "-m", "taylorlr", *args], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == ""


# long lists in messages ---------------------------------------------------------------------------


def test_a_point_with_ten_thousand_names_is_listed_briefly():
    at = ",".join(f"y{i}=1" for i in range(10_000))
    result = invoke("newton", "x**2", "--at", at)
    assert result.exit_code == 2
    assert "and 9,990 more" in result.stderr and len(result.stderr) < 1_000, result.stderr[:2000]


# names --------------------------------------------------------------------------------------------


def test_registry_names_are_read_without_regard_to_case():
    record = json.loads(invoke("run", "x**2", "--at", "x=1", "--optimizer", "Adam", "--rule", "EXACT",
                               "--steps", "3", "--json").stdout)  # fmt: skip
    assert (record["optimizer"], record["rule"]) == ("adam", "exact")
    result = invoke("compare", "x**2", "--at", "x=1", "--rules", "Exact, RETSINAS", "--optimizers", "GD",
                    "--steps", "3", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["settings"]["rules"] == ["exact", "retsinas"]


@pytest.mark.parametrize(
    ("args", "nearest"),
    [
        (("run", "x**2", "--at", "x=1", "--optimizer", "adma"), "(did you mean 'adam'?)"),
        (("run", "x**2", "--at", "x=1", "--rule", "retsina"), "(did you mean 'retsinas'?)"),
        (("solve", "sinn(x)"), "(did you mean 'sin'?)"),
        (("solve", "x + expp(x)"), "(did you mean 'exp'?)"),
    ],
)
def test_mistyped_names_get_the_nearest_suggestion(args, nearest):
    refused(*args, says=nearest)


def test_a_repeated_at_is_refused():
    refused("solve", "x**2", "--at", "x=1", "--at", "x=2", says="given 2 times")
    refused("newton", "x**2", "--at", "x=1", "--at", "x=2", says="give every coordinate in one --at")


# the public names ---------------------------------------------------------------------------------


def test_tl_parse_stays_the_function_after_a_loss_is_built():
    import sympy

    import taylorlr as tl

    tl.Loss("x")
    assert tl.parse("x+1") == sympy.Symbol("x", real=True) + 1


def test_no_public_name_is_shadowed_by_a_submodule():
    script = """
import importlib, pkgutil, types, taylorlr
for info in pkgutil.walk_packages(taylorlr.__path__, "taylorlr."):
    if info.name != "taylorlr.__main__":
        importlib.import_module(info.name)
modules = sorted(n for n in taylorlr.__all__ if isinstance(getattr(taylorlr, n), types.ModuleType))
print(",".join(modules))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "optimizers,problems,rules"


def test_a_warning_for_the_user_is_one_plain_line_on_stderr():
    done = subprocess.run(
        [sys.executable, "-m", "taylorlr", "solve", "x**2 + S"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0
    lines = done.stderr.strip().splitlines()
    assert lines and all(line.startswith("warning: ") for line in lines), done.stderr
    assert "'S' is read as a real variable" in done.stderr and ".py:" not in done.stderr
