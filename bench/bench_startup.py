"""Benchmark: the CLI's start, against the floor of importing SymPy.

Run by hand (not part of the test suite):

    python bench/bench_startup.py              # 5 runs of each, medians and their ratios
    python bench/bench_startup.py --runs 11

It times, as separate processes, ``python -m taylorlr solve "x**2+3*x*y**2"``
(the README's first command: derivatives, exact critical points and the
bounded-below proof) and ``python -c "import sympy"``, alternating them so
that all see the same machine load (``--baseline PATH`` adds the same command run on
another checkout of taylorlr, e.g. main, alternated too). Each figure is the median, over
the runs, of the process's CPU time (user + system, from ``resource``, the exact solve's
forked worker included: what machine load does not inflate; on an idle machine it is close
to the wall time, printed beside it). The target is a ratio below 1 (faster than ``import sympy``).

Two more rows split the solve's time, run under the CLI's own process settings (its garbage
collector threshold, and ``gc.freeze()`` before exit: see ``taylorlr.cli.main``): "SymPy in use"
(``import sympy`` and the modules SymPy imports the first time an expression is built: ``Add``
loads ``sympy.tensor`` and ``sympy.combinatorics``, which no command that builds an expression
avoids) and "imports" (that, plus every taylorlr module ``solve`` loads, click included). What
the solve adds to "imports" is its work: parsing, derivatives, the exact solve (in a forked
worker) and the report.

Every process runs from bytecode caches, as an installed package does (pip compiles them at
install): the environment's ``PYTHONDONTWRITEBYTECODE`` is dropped and the caches go to a
temporary ``PYTHONPYCACHEPREFIX`` (filled by a warm-up run of each command; no checkout is
written to). Without it, a shell that sets ``PYTHONDONTWRITEBYTECODE=1`` recompiles taylorlr's
sources on every run while SymPy's come compiled from site-packages: about 0.1 s against
taylorlr that no user pays.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

SOLVE_IMPORTS = "taylorlr.cli, taylorlr.report.text, taylorlr.loss, taylorlr.analysis.critical_points"
#: the CLI's process settings (taylorlr.cli.main): the split rows run under them too
CLI_GC = "import gc; gc.set_threshold(50_000, *gc.get_threshold()[1:]); "
FIRST_USE = "sympy.Symbol('x') + 1; gc.freeze()"
COMMANDS = {
    "taylorlr solve": [sys.executable, "-m", "taylorlr", "solve", "x**2+3*x*y**2"],
    "import sympy": [sys.executable, "-c", "import sympy"],
    "SymPy in use": [sys.executable, "-c", f"{CLI_GC}import sympy; {FIRST_USE}"],
    "imports": [sys.executable, "-c", f"{CLI_GC}import sympy, {SOLVE_IMPORTS}; {FIRST_USE}"],
}
TARGET = 1.0
CACHE = tempfile.mkdtemp(prefix="taylorlr-bench-pycache-")


def timed(command: list[str], pythonpath: str | None = None) -> tuple[float, float]:
    """CPU seconds (user + system) and wall seconds of one process (its output discarded)."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    environment["PYTHONPYCACHEPREFIX"] = CACHE
    if pythonpath is not None:
        environment["PYTHONPATH"] = pythonpath
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # run from the checkout: ``-m`` and ``-c`` put the working directory first on sys.path
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=environment, cwd=pythonpath)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, wall


def medians(runs: int, baseline: str | None = None) -> dict[str, tuple[float, float]]:
    """Median CPU and wall times of each command over ``runs`` alternating runs (after one warm-up each)."""
    commands = {name: (command, None) for name, command in COMMANDS.items()}
    if baseline is not None:
        commands["baseline solve"] = (COMMANDS["taylorlr solve"], baseline)
    for command, path in commands.values():
        timed(command, path)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (command, path) in commands.items():
            times[name].append(timed(command, path))
    return {
        name: (statistics.median(c for c, _ in values), statistics.median(w for _, w in values))
        for name, values in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", help="another taylorlr checkout (its root), timed alternately")
    args = parser.parse_args()
    result = medians(args.runs, args.baseline)
    for name, (cpu, wall) in result.items():
        print(f"{name:<16} median of {args.runs}: {cpu:.3f} s CPU ({wall:.3f} s wall)")
    floor = result["import sympy"][0]
    for name in ("taylorlr solve", "baseline solve"):
        if name in result:
            ratio = result[name][0] / floor
            verdict = "faster than" if ratio < TARGET else "SLOWER than"
            print(f"{name:<16} / import sympy: {ratio:.2f}x CPU  ({verdict} import sympy)")
    solve = result["taylorlr solve"][0]
    sympy_part, imports = result["SymPy in use"][0], result["imports"][0]
    print(
        f"of the solve's CPU time: SymPy's own import and first use {sympy_part / solve:.0%}, "
        f"taylorlr's and click's imports {(imports - sympy_part) / solve:.0%}, "
        f"the work {(solve - imports) / solve:.0%}"
    )


if __name__ == "__main__":
    main()
