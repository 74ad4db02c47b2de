"""Every example in examples/ runs to completion and prints its key line.

The examples start together in subprocesses (each takes seconds), then each test
waits for its own. A new example must add its key line to KEY_LINES.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
TIMEOUT_S = 180
# example file -> a regular expression that its output must match
KEY_LINES = {
    "batched_sweep.py": r"one Newton step: [\d.]+ s for 4,000(?s:.*)\| minimum \(3\.000, 2\.000\)",
    "best_direction.py": r"numeric delta\*: +f = ",
    "critical_points_zoo.py": r"\| himmelblau \| complete \| 9 \| 4 minimum, 1 maximum, 4 saddle \|",
    "cupy_example.py": r"skipped: .*(cupy|CuPy|GPU)|equal to NumPy's: True",
    "higher_order_table.py": r"\| `x\*\*4 - 2\*x\*\*2` \|",
    "minibatch_least_squares.py": r"\| all \| exact \| 1\.0 \| \d+ \| converged \|",
    "rule_error_orders.py": r"\| retsinas: ",
    "rules_on_zoo.py": r"\| himmelblau \| retsinas \| gd \| converged \|",
    "source_000_demo.py": r"w1 = -1, f\(w1\) = -2",
    "source_001_slips.py": r"the notes drop the factor 2",
    "tutorial.py": r"\| line-search \| gd \| converged \|",
    "train_digits.py": (
        r"\| line-search oracle \| [\d.e+]+ \| [\d.]+ \(\d+\) \| [\d.]+ \| [\d.]+ / [\d.]+ / 0"
    ),
}

# example file -> documents whose ```text blocks show its output, line for line
DOCUMENTED = {"tutorial.py": ("docs/tutorial.md",)}
# the same code on a smaller problem where an example takes a size
ARGUMENTS = {"batched_sweep.py": ("4000",), "train_digits.py": ("30", "--no-plot")}


@pytest.fixture(scope="module")
def started() -> Iterator[dict[str, subprocess.Popen[str]]]:
    """All examples, started at once (the checkout's taylorlr first on the path)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    processes = {
        path.name: subprocess.Popen(
            [sys.executable, str(path), *ARGUMENTS.get(path.name, ())],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for path in EXAMPLES
    }
    yield processes
    for process in processes.values():
        if process.poll() is None:
            process.kill()


def test_every_example_has_a_key_line() -> None:
    assert sorted(KEY_LINES) == [path.name for path in EXAMPLES]


@pytest.mark.parametrize("name", [path.name for path in EXAMPLES])
def test_example_runs_and_prints_its_key_line(name: str, started: dict[str, subprocess.Popen[str]]) -> None:
    process = started[name]
    try:
        output, _ = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"{name} ran longer than {TIMEOUT_S} s")
    assert process.returncode == 0, output[-3000:]
    assert re.search(KEY_LINES[name], output), output[-3000:]
    for document in DOCUMENTED.get(name, ()):
        printed = {line.rstrip() for line in output.splitlines()}
        for block in re.findall(r"```text\n(.*?)```", (ROOT / document).read_text(), re.S):
            stale = [line for line in block.splitlines() if line.strip() and line.rstrip() not in printed]
            assert not stale, f"{document} shows lines {name} no longer prints: {stale[:3]}"
