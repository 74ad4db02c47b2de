"""Exports: ``--csv`` and ``--json`` of run and compare read back to the record's own numbers, and a
file that cannot be written ends with exit 2 and the reason, leaving nothing half-written."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import taylorlr as tl
import taylorlr.cli
from taylorlr.cli import cli

LOSS = "x**2 + 10*y**2"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def number(cell: str) -> float | None:
    return None if cell == "" else float(cell)


def test_run_csv_reads_back_to_the_runs_arrays_bit_for_bit(tmp_path):
    target = tmp_path / "run.csv"
    args = ("run", LOSS, "--at", "x=1,y=1", "--rule", "retsinas", "--steps", "12")
    result = invoke(*args, "--csv", str(target))
    assert result.exit_code == 0, result.output
    assert f"table written to {target}" in result.stderr
    run = tl.run(LOSS, [1.0, 1.0], rule="retsinas", steps=12)
    rows = read_csv(target)
    history = run.history()
    assert len(rows) == int(run.stopped_at) + 1
    assert [float(r["x"]) for r in rows] == history["points"][:, 0].tolist()
    assert [float(r["y"]) for r in rows] == history["points"][:, 1].tolist()
    assert [float(r["loss"]) for r in rows] == history["losses"].tolist()
    assert [float(r["alpha"]) for r in rows] == history["alphas"].tolist()
    oracle = [float(r["oracle_alpha"]) for r in rows]
    assert oracle[:-1] == history["oracle_alphas"].tolist() and math.isnan(oracle[-1])
    assert {r["status"] for r in rows} == {str(run.status)}


def test_run_json_carries_every_alpha_and_oracle_alpha():
    result = invoke("run", LOSS, "--at", "x=1,y=1", "--rule", "retsinas", "--steps", "12", "--json")
    data = json.loads(result.stdout)
    run = tl.run(LOSS, [1.0, 1.0], rule="retsinas", steps=12)
    assert data["alphas"] == run.alphas.tolist()
    assert np.array_equal(np.array(data["oracle_alphas"], dtype=float), run.oracle_alphas, equal_nan=True)
    assert data["final"]["alpha"] == float(run.alphas[int(run.stopped_at)])


def test_compare_csv_is_the_ranked_table(tmp_path):
    target = tmp_path / "table.csv"
    args = ("compare", LOSS, "--at", "x=1,y=1", "--rules", "exact,fixed", "--optimizers", "gd,adam")
    result = invoke(*args, "--steps", "40", "--csv", str(target), "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    rows = read_csv(target)
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4]
    pairs = [(r["rule"], r["optimizer"]) for r in payload["rows"]]
    assert [(r["rule"], r["optimizer"]) for r in rows] == pairs
    assert [float(r["final_value"]) for r in rows] == [r["final_value"] for r in payload["rows"]]
    reached = [number(r["iterations_to_tol"]) for r in rows]
    assert reached == [r["iterations_to_tol"] for r in payload["rows"]]


# files that cannot be written ---------------------------------------------------------------------------


def test_csv_to_a_directory_or_a_device_is_refused_before_any_work(tmp_path):
    for target in (str(tmp_path), "/dev/full"):
        result = invoke("run", LOSS, "--at", "x=1,y=1", "--csv", target)
        assert result.exit_code == 2 and "exists and is not a regular file" in result.stderr
        assert result.stdout == ""


def test_plot_to_a_directory_named_like_a_figure_is_refused(tmp_path):
    folder = tmp_path / "f.png"
    folder.mkdir()
    result = invoke("run", LOSS, "--at", "x=1,y=1", "--plot", str(folder))
    assert result.exit_code == 2 and "exists and is not a regular file" in result.stderr
    assert result.stdout == "" and list(folder.iterdir()) == []


@pytest.mark.parametrize("option", ["--csv", "--plot"])
def test_a_write_that_fails_midway_leaves_the_old_file_whole_and_no_scratch(tmp_path, monkeypatch, option):
    target = tmp_path / ("old.csv" if option == "--csv" else "old.png")
    target.write_bytes(b"the old content")

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(taylorlr.cli.os, "replace", full)
    result = invoke("run", LOSS, "--at", "x=1,y=1", "--steps", "3", option, str(target))
    assert result.exit_code == 2, result.output
    assert f"cannot write {target}: No space left on device" in result.stderr
    assert target.read_bytes() == b"the old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old" + target.suffix]


def test_a_new_file_gets_the_usual_permissions(tmp_path):
    target = tmp_path / "new.csv"
    assert invoke("run", LOSS, "--at", "x=1,y=1", "--steps", "2", "--csv", str(target)).exit_code == 0
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
