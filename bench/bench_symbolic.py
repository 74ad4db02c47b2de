"""Benchmark: symbolic build time and compiled throughput, as ratios within one run.

Run by hand (not part of the test suite):

    python bench/bench_symbolic.py            # n = 10, 50, 100 (+ 200 for taylorlr and CasADi)
    python bench/bench_symbolic.py --full     # also the naive SymPy route at n = 200 (about 2 minutes)

(a) Build: gradient + Hessian + compiled functions for the extended Rosenbrock
function and a dense quartic in 10 variables, for taylorlr, the naive SymPy
route (``sympy.hessian`` + ``lambdify``) and CasADi (``pip install casadi``).
(b) Throughput: gradient + Hessian at 10^6 points for n = 2 and n = 10, against
SymPy's lambdify (with cse) and against the memory floor: copying as many
bytes as the inputs and outputs hold.

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


def dense_quartic_text(n: int) -> str:
    linear = " + ".join(f"{i + 1}*x{i + 1}" for i in range(n))
    return f"({linear})**4 + " + " + ".join(f"x{i + 1}**2" for i in range(n))


def median_time(function: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def build_taylorlr(text: str, generator: str) -> Callable[[], Any]:
    expr = tl.Loss(text).expr  # parse once, outside the timing

    def build() -> Any:
        loss = tl.Loss(expr)
        f = loss.compile(generator=generator)
        point = np.ones(loss.n)
        return f.grad(point), f.hess(point)  # forces both kernels to be generated

    return build


def build_naive(text: str) -> Callable[[], Any]:
    expr = tl.Loss(text).expr
    symbols = sorted(expr.free_symbols, key=lambda s: tl.loss.natural_key(s.name))

    def build() -> Any:
        gradient = [sympy.diff(expr, s) for s in symbols]
        hessian = sympy.hessian(expr, symbols)
        return sympy.lambdify(symbols, gradient), sympy.lambdify(symbols, hessian)

    return build


def build_casadi(kind: str, n: int) -> Callable[[], Any] | None:
    try:
        import casadi
    except ImportError:
        return None

    def build() -> Any:
        x = casadi.SX.sym("x", n)
        if kind == "rosenbrock":
            f = sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(n - 1))
        else:
            f = sum((i + 1) * x[i] for i in range(n)) ** 4 + sum(x[i] ** 2 for i in range(n))
        hessian, gradient = casadi.hessian(f, x)
        return casadi.Function("f", [x], [gradient, hessian])

    return build


def section_build(full: bool) -> None:
    build_taylorlr("x*y + y**2", "simd")()  # warm up imports and the JIT once
    print("## Build: gradient + Hessian + compile (seconds, median)\n")
    print("| case | taylorlr (xp) | taylorlr (simd) | naive SymPy | CasADi | naive / xp | xp / CasADi |")
    print("|---|---|---|---|---|---|---|")
    cases = [("rosenbrock", n) for n in (10, 50, 100, 200)] + [("quartic", 10)]
    for kind, n in cases:
        text = rosenbrock_text(n) if kind == "rosenbrock" else dense_quartic_text(n)
        xp_time = median_time(build_taylorlr(text, "xp"), 5)
        simd_time = median_time(build_taylorlr(text, "simd"), 3)
        naive_time = median_time(build_naive(text), 1) if (n <= 100 or full) else float("nan")
        casadi_build = build_casadi(kind, n)
        casadi_time = median_time(casadi_build, 5) if casadi_build else float("nan")
        print(
            f"| {kind} n={n} | {xp_time:.4f} | {simd_time:.4f} | {naive_time:.3f} | {casadi_time:.4f} "
            f"| {naive_time / xp_time:.0f}x | {xp_time / casadi_time:.1f}x |"
        )
        sys.stdout.flush()


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
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true", help="also time the naive route at n = 200")
    parser.add_argument("--only", choices=("build", "throughput"))
    args = parser.parse_args()
    print(f"taylorlr {tl.__version__}, sympy {sympy.__version__}, numpy {np.__version__}\n")
    if args.only != "throughput":
        section_build(args.full)
    if args.only != "build":
        section_throughput()


if __name__ == "__main__":
    main()
