"""Benchmark: the CLI's start, against the floor of importing SymPy.

Run by hand (not part of the test suite):

    python bench/bench_startup.py              # 5 runs of each, medians and their ratio
    python bench/bench_startup.py --runs 11

It times, as separate processes, ``python -m taylorlr solve "x**2+3*x*y**2"``
(the README's first command: derivatives, exact critical points and the
bounded-below proof) and ``python -c "import sympy"``, alternating the two so
that both see the same machine load. The target is a ratio of at most 1.5.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "taylorlr solve": [sys.executable, "-m", "taylorlr", "solve", "x**2+3*x*y**2"],
    "import sympy": [sys.executable, "-c", "import sympy"],
}
TARGET = 1.5


def wall_time(command: list[str]) -> float:
    """Seconds from start to exit of one process (its output discarded)."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def medians(runs: int) -> dict[str, float]:
    """The median wall time of each command over ``runs`` alternating runs (after one warm-up each)."""
    for command in COMMANDS.values():
        wall_time(command)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(runs):
        for name, command in COMMANDS.items():
            times[name].append(wall_time(command))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    result = medians(runs)
    for name, seconds in result.items():
        print(f"{name:<16} median of {runs}: {seconds:.3f} s")
    ratio = result["taylorlr solve"] / result["import sympy"]
    verdict = "within" if ratio <= TARGET else "OVER"
    print(f"ratio            {ratio:.2f}x  ({verdict} the {TARGET}x budget)")


if __name__ == "__main__":
    main()
