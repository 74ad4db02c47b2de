"""The CLI starts fast: the plain commands import no optional or heavy library they do not need.

Timings are not asserted here (machines are shared and noisy); they are measured
by ``bench/bench_startup.py``. What is asserted is the cause of a slow start: which
modules a command leaves in ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: run the CLI as ``python -m taylorlr`` does, then print the loaded top-level modules
WRAPPER = """
import json, runpy, sys
sys.argv = ["taylorlr", *json.loads(sys.argv[1])]
try:
    runpy.run_module("taylorlr", run_name="__main__")
except SystemExit as done:
    assert done.code in (0, None), done.code
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})), file=sys.stderr)
"""

NEVER_ON_SOLVE = ("scipy", "matplotlib", "rich", "cupy")


def loaded_modules(*args: str) -> set[str]:
    """The top-level modules loaded by ``taylorlr ARGS`` (run in a fresh interpreter)."""
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, json.dumps(args)], capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def solve_modules() -> set[str]:
    return loaded_modules("solve", "x**2+3*x*y**2")


@pytest.mark.parametrize("module", NEVER_ON_SOLVE)
def test_plain_solve_does_not_import(solve_modules, module):
    assert module not in solve_modules


def test_plain_solve_does_not_import_numpy(solve_modules):
    assert "numpy" not in solve_modules


def test_solve_at_a_point_imports_no_table_or_plot_library():
    modules = loaded_modules("solve", "x**2+3*x*y**2", "--at", "x=1,y=2")
    assert not modules & {"rich", "matplotlib", "cupy"}


def test_help_imports_neither_sympy_nor_numpy():
    modules = loaded_modules("--help")
    assert not modules & {"sympy", "numpy", "rich", "scipy"}
