"""Benchmark: compiled throughput, as ratios within one run.

Run by hand (not part of the test suite):

    python bench/bench_symbolic.py

Throughput: gradient + Hessian at 10^6 points for n = 2 and n = 10, against
SymPy's lambdify (with cse) and against the memory floor: copying as many
bytes as the inputs and outputs hold. The build (gradient + Hessian + compile),
measured cold in fresh processes against CasADi and the naive SymPy route, is
``bench/bench_build.py``: this script used to time it warm (the same expressions
rebuilt in one process, SymPy's cache full), which is not how a user meets it.

Every figure is the median of several repeats; the ratios compare numbers taken
in the same run, since these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy

import taylorlr as tl


def rosenbrock_text(n: int) -> str:
    return " + ".join(f"100*(x{i + 1} - x{i}**2)**2 + (1 - x{i})**2" for i in range(1, n))


def median_time(function: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def throughput_row(n: int, rng: np.random.Generator) -> dict[str, float]:
    """Median times of gradient + Hessian at 10^6 points of extended Rosenbrock in n variables."""
    loss = tl.Loss(rosenbrock_text(n))
    points = rng.uniform(-2, 2, size=(10**6, n))
    timings = {}
    for generator in ("simd", "xp"):
        f = loss.compile(generator=generator)
        f.grad_and_hess(points[:2])
        timings[generator] = median_time(lambda f=f: f.grad_and_hess(points), 5)
    lam_g = sympy.lambdify(loss.variables, list(loss.gradient), "numpy", cse=True)
    lam_h = sympy.lambdify(loss.variables, loss.hessian.tolist(), "numpy", cse=True)
    columns = [points[:, i] for i in range(n)]
    timings["lambdify"] = median_time(lambda: (lam_g(*columns), lam_h(*columns)), 5)
    # the floor: write as many bytes as the inputs plus the outputs hold (64 MB at n = 2)
    target = np.empty(points.size + points.shape[0] * (n + n * n))
    timings["floor"] = median_time(lambda: target.fill(1.0), 5)
    return timings


def section_throughput() -> None:
    print("\n## Throughput: gradient + Hessian at 10^6 points (seconds, median of 5)\n")
    print("| n | simd | xp | SymPy lambdify | memory floor | lambdify / best | best / floor |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for n in (2, 10):
        t = throughput_row(n, rng)
        best = min(t["simd"], t["xp"])
        print(
            f"| {n} | {t['simd']:.4f} | {t['xp']:.4f} | {t['lambdify']:.4f} "
            f"| {t['floor']:.4f} | {t['lambdify'] / best:.2f}x | {best / t['floor']:.2f}x |"
        )
        sys.stdout.flush()


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    argparse.ArgumentParser(description=__doc__, formatter_class=formatter).parse_args()
    print(f"taylorlr {tl.__version__}, sympy {sympy.__version__}, numpy {np.__version__}\n")
    section_throughput()


if __name__ == "__main__":
    main()
