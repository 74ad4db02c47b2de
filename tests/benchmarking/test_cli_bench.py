"""taylorlr bench: selection, outputs (CSV, JSON, Parquet, figure), bad names, no progress bar off a TTY."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from taylorlr.cli import cli

SMALL = ["bench", "--problems", "booth,mgh5", "--rules", "exact", "--optimizers", "gd", "--steps", "60"]


def invoke(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args))
    assert "internal error" not in result.output, result.output
    assert result.exit_code == code, result.output
    return result


def test_bench_writes_the_table_the_figure_and_json(tmp_path):
    out = invoke(*SMALL, "--csv", str(tmp_path / "t.csv"), "--profile", str(tmp_path / "p.png"), "--json")
    payload = json.loads(out.stdout)
    assert payload["schema"] == "taylorlr.bench/1"
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert [(r["problem"], r["solver"]) for r in rows] == [
        (r["problem"], r["solver"]) for r in payload["rows"]
    ]
    assert {r["problem"] for r in rows} == {"booth", "beale"} and len(rows) == 2 * 4
    assert [s["solver"] for s in payload["summary"]] == ["exact/gd", "bfgs", "trust-exact", "constant"]
    assert (tmp_path / "p.png").stat().st_size > 0
    assert "\u2501" not in out.stderr  # no progress bar when stderr is not a terminal


def test_bench_text_names_the_winners_and_parquet_holds_the_rows(tmp_path):
    pytest.importorskip("pyarrow")
    out = invoke(*SMALL, "--baselines", "bfgs", "--parquet", str(tmp_path / "t.parquet"), "--quiet")
    assert "solvers (solved: f <= f* + 0.001 (f0 - f*))" in out.stdout
    assert "evals to solve from x0 (-: unsolved)" in out.stdout and "beale" in out.stdout
    import pyarrow.parquet

    assert pyarrow.parquet.read_table(tmp_path / "t.parquet").num_rows == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--problems", "rosenbrok"], "did you mean 'rosenbrock'"),
        (["--rules", "retsina"], "did you mean 'retsinas'"),
        (["--baselines", "bgfs"], "did you mean 'bfgs'"),
        (["--profile", "p.nope"], "which matplotlib cannot write"),
        (["--csv", "no/such/folder/t.csv"], "its folder does not exist"),
    ],
)
def test_bench_bad_input_is_exit_2_with_the_nearest_name(args, message):
    out = invoke("bench", *args, code=2)
    assert message in out.output
