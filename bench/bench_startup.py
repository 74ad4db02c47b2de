"""Benchmark: the CLI's start, against the floor of importing SymPy.

Run by hand (not part of the test suite):

    python bench/bench_startup.py              # 5 runs of each, medians and their ratio
    python bench/bench_startup.py --runs 11

It times, as separate processes, ``python -m taylorlr solve "x**2+3*x*y**2"``
(the README's first command: derivatives, exact critical points and the
bounded-below proof) and ``python -c "import sympy"``, alternating the two so
that both see the same machine load (``--baseline PATH`` adds the same command run on
another checkout of taylorlr, e.g. main, alternated too). Each figure is the median, over
the runs, of the process's CPU time (user + system, from ``resource``: what machine load
does not inflate; on an idle machine it is close to the wall time, printed beside it).
The target is a ratio of at most 1.5.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "taylorlr solve": [sys.executable, "-m", "taylorlr", "solve", "x**2+3*x*y**2"],
    "import sympy": [sys.executable, "-c", "import sympy"],
}
TARGET = 1.5


def timed(command: list[str], pythonpath: str | None = None) -> tuple[float, float]:
    """CPU seconds (user + system) and wall seconds of one process (its output discarded)."""
    environment = dict(os.environ)
    if pythonpath is not None:
        environment["PYTHONPATH"] = pythonpath
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=environment)
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
    for name in result:
        if name != "import sympy":
            ratio = result[name][0] / result["import sympy"][0]
            verdict = "within" if ratio <= TARGET else "OVER"
            print(f"{name:<16} / import sympy: {ratio:.2f}x CPU  ({verdict} the {TARGET}x budget)")


if __name__ == "__main__":
    main()
