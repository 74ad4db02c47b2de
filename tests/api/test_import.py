"""Fast start: importing taylorlr (and loading a Loss) imports nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = [
    "numpy",
    "scipy",
    "sympy",
    "symengine",
    "llvmlite",
    "click",
    "rich",
    "matplotlib",
    "cupy",
    "array_api_strict",
    "dask",
    "distributed",
    "pandas",
    "pyarrow",
    "IPython",
    "torch",
    "jax",
    "optax",
]


def loaded_after(code: str) -> set[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_taylorlr_loads_no_heavy_library():
    assert loaded_after("import taylorlr") == set()


def test_symbolic_work_loads_neither_scipy_nor_plotting_nor_gpu():
    loaded = loaded_after("import taylorlr as tl; tl.Loss('x**2 + 3*x*y**2').hessian")
    assert "sympy" in loaded
    assert not loaded & {"scipy", "matplotlib", "cupy", "click", "rich", "numpy"}


def test_compiling_loads_numpy_but_not_scipy():
    loaded = loaded_after("import taylorlr as tl, numpy; tl.Loss('x*y').compile().grad(numpy.ones(2))")
    # llvmlite is the SIMD generator that float64 NumPy losses compile with
    assert "numpy" in loaded and not loaded & {"scipy", "matplotlib", "cupy"}


def test_the_demo_server_loads_nothing_heavy_until_a_request_needs_it():
    assert loaded_after("import taylorlr.demo.server, taylorlr.demo.fields, taylorlr.demo.panels") == set()


ARRAY_ONLY = [
    "taylorlr.numerics",
    "taylorlr.numerics.newton",
    "taylorlr.numerics.stepsize",
    "taylorlr.numerics.direction",
    "taylorlr.alpha",
    "taylorlr.alpha.result",
    "taylorlr.alpha.rules",
    "taylorlr.alpha.optimizers",
    "taylorlr.alpha.oracle",
    "taylorlr.alpha.safeguards",
    "taylorlr.alpha._step",
    "taylorlr.alpha._record",
    "taylorlr.alpha.engine",
    "taylorlr._training",
    "taylorlr._budget",
]


@pytest.mark.parametrize("module", ARRAY_ONLY)
def test_the_array_side_loads_no_symbolic_library(module):
    assert not loaded_after(f"import {module}") & {"sympy", "symengine", "llvmlite", "scipy"}


@pytest.mark.parametrize("module", ["taylorlr.benchmarking", "taylorlr.scaleout"])
def test_the_benchmark_and_scale_out_load_their_heavy_libraries_only_when_used(module):
    loaded = loaded_after(f"import {module}")
    assert not loaded & {"numpy", "sympy", "scipy", "matplotlib", "dask", "distributed", "pandas", "pyarrow"}


@pytest.mark.parametrize("name", ["newton_step", "newton", "compare"])
def test_a_loss_given_as_text_is_built_or_named_as_the_fix(name):
    import taylorlr as tl

    function = getattr(tl, name)
    if name == "compare":
        assert function("(x - 1)**2", [0.0], rules=("exact",), optimizers=("gd",)).rows
        return
    with pytest.raises(tl.OptionError, match=r"takes a tl.Loss, got str 'x\*\*2': build it with tl.Loss"):
        function("x**2", [1.0])


def test_the_solve_command_loads_no_numerics_engine_or_comparison_and_ends_frozen():
    """``taylorlr solve`` on a small polynomial: SymPy and click only (no NumPy, no alpha engine,
    no comparison); its process collects less often and freezes its objects before exit."""
    probe = (
        "import gc, io, json, sys, contextlib\nimport taylorlr.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        taylorlr.cli.main(['solve', 'x**2 + 3*x*y**2'])\n"
        "    except SystemExit:\n        pass\n"
        "names = ('numpy', 'taylorlr.alpha', 'taylorlr.comparison', 'multiprocessing', 'sympy', 'click')\n"
        "print(json.dumps([sorted(n for n in names if n in sys.modules), gc.get_threshold()[0],"
        " gc.get_freeze_count() > 0]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded, threshold, frozen = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == ["click", "multiprocessing", "sympy"]  # the exact solve's worker is forked
    assert threshold == 50_000 and frozen
