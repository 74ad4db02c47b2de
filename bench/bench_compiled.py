"""Benchmark: Compiled's code generators, throughput and build time, as ratios within one run.

Run by hand (not part of the test suite):

    python bench/bench_compiled.py
    python bench/bench_compiled.py --tiers   # the SIMD kernels' level 0 against level 3, per call

(a) Throughput: value + grad + hess + hvp (four calls, as the generic alpha engine and the
Newton methods make them) of 2-D Rosenbrock and of a 10-D quadratic, at 10^3, 10^5 and
10^6 points, on:

* ``xp``: the generated NumPy code;
* ``lambdify``: SymEngine's LLVM ``Lambdify`` (one scalar function per row), the third
  generator that ``Compiled`` used for batches of 4096 points or more until it was retired;
  rebuilt here from the same derivatives, as ``Compiled`` called it;
* ``simd``: the llvmlite SIMD loop generator (:mod:`taylorlr.compile.simd_codegen`).

"before" is what ``generator="auto"`` ran before (xp under 4096 points, lambdify from 4096),
"after" what it runs now (simd at every size).

(b) Build: a small loss's four output groups, from a fresh ``Loss`` to the first values; for
simd both cold (its cache of compiled loops emptied first) and warm (the same expressions
compiled before, as when a test suite or a sweep builds the same loss again).

Every figure is the median of several repeats; ratios compare numbers taken in the same run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import symengine as se

import taylorlr as tl

PROBLEMS = {
    "rosenbrock 2-D": "100*(y - x**2)**2 + (1 - x)**2",
    "quadratic 10-D": " + ".join(
        [f"{i + 1}*x{i}**2" for i in range(10)] + [f"x{i}*x{i + 1}/2" for i in range(9)]
    ),
}
SIZES = (10**3, 10**5, 10**6)
OLD_LLVM_BATCH = 4096


def median_time(function: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def four_calls(f: Any) -> Callable[[Any, Any], Any]:
    return lambda W, V: (f.value(W), f.grad(W), f.hess(W), f.hvp(W, V))


def loops_built(f: Any) -> None:
    """Build the SIMD loops of ``f``'s kernels that run their first calls on NumPy (compile/lazy_simd.py)."""
    for function in f._functions.values():
        getattr(function.kernel, "loop_kernel", lambda: None)()


def lambdify_four_calls(loss: tl.Loss) -> Callable[[Any, Any], Any]:
    """The retired tier: one SymEngine LLVM Lambdify per output group, called on (B, k) rows."""
    d, n = loss.derivatives, loss.n
    w = [se.sympify(s) for s in loss.variables]
    v = [se.Symbol(f"_bench_v{i}") for i in range(n)]  # Lambdify refuses Dummies
    hessian = [se.sympify(e) for row in d.hessian_rows() for e in row]
    hvp = [se.sympify(e) for e in d.hvp(v)]

    def build(args: list[Any], exprs: list[Any]) -> Any:
        return se.Lambdify(args, exprs, cse=True, backend="llvm", real=True)

    value, grad = build(w, [se.sympify(d.value)]), build(w, [se.sympify(g) for g in d.gradient])
    hess, product = build(w, hessian), build(w + v, hvp)

    def call(W: Any, V: Any) -> Any:
        joined = np.ascontiguousarray(np.concatenate([W, V], axis=-1))
        return value(W)[..., 0], grad(W), hess(W).reshape(-1, n, n), product(joined)

    return call


def section_throughput() -> None:
    print("## Throughput: value + grad + hess + hvp (seconds, median)\n")
    print("| problem | points | xp | lambdify | simd | before / after | lambdify / simd | xp / simd |")
    print("|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for name, text in PROBLEMS.items():
        loss = tl.Loss(text)
        simd = loss.compile(generator="simd")
        calls = {
            "xp": four_calls(loss.compile(generator="xp")),
            "lambdify": lambdify_four_calls(loss),
            "simd": four_calls(simd),
        }
        for size in SIZES:
            W, V = rng.uniform(-2, 2, size=(size, loss.n)), rng.normal(size=(size, loss.n))
            repeats = 9 if size <= 10**5 else 5
            t = {}
            for generator, call in calls.items():
                call(W[:8], V[:8])  # builds every kernel outside the timing
                loops_built(simd)  # the SIMD loops themselves, not the NumPy first calls (lazy_simd.py)
                t[generator] = median_time(lambda call=call, W=W, V=V: call(W, V), repeats)
            before = t["xp"] if size < OLD_LLVM_BATCH else t["lambdify"]
            ratios = (before / t["simd"], t["lambdify"] / t["simd"], t["xp"] / t["simd"])
            print(
                f"| {name} | {size:.0e} | {t['xp']:.5f} | {t['lambdify']:.5f} | {t['simd']:.5f} | "
                + " | ".join(f"{r:.2f}x" for r in ratios)
                + " |",
                flush=True,
            )


def build_time(text: str, generator: str, cold: bool = True) -> float:
    from taylorlr.compile import simd_codegen

    expr = tl.Loss(text).expr  # parse once, outside the timing
    point, direction = np.array([0.5, -0.25]), np.array([1.0, 2.0])

    def build() -> None:
        if cold:
            simd_codegen._cached_kernel.cache_clear()
        f = tl.Loss(expr).compile(generator=generator)
        f.value(point), f.grad(point), f.hess(point), f.hvp(point, direction)

    return median_time(build, 9)


def section_build() -> None:
    print("\n## Build: a small loss's value, grad, hess and hvp kernels (seconds, median of 9)\n")
    print("| loss | xp | simd (cold) | simd (warm) | cold / xp | warm / xp |")
    print("|---|---|---|---|---|---|")
    for text in ("x**2 + 3*x*y**2", "100*(y - x**2)**2 + (1 - x)**2", "sin(x*y) + exp(x - y**2)"):
        xp, cold, warm = (
            build_time(text, "xp"),
            build_time(text, "simd"),
            build_time(text, "simd", cold=False),
        )
        print(
            f"| `{text}` | {xp:.4f} | {cold:.4f} | {warm:.4f} | {cold / xp:.1f}x | {warm / xp:.1f}x |",
            flush=True,
        )


def section_tiers() -> None:
    """The SIMD kernels' two code generation levels, per call: level 0 (how a small kernel starts)
    against level 3 (what it tiers up to after ``TIER_POINTS`` points, and what main ran always)."""
    from taylorlr.compile import simd_codegen

    print("\n## Tiers: value + grad + hess + hvp at level 0 and level 3 (CPU seconds, median)\n")
    print("| problem | points | level 0 | level 3 | level 0 / level 3 |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    tier = simd_codegen.TIER_POINTS
    for name, text in PROBLEMS.items():
        n = tl.Loss(text).n
        calls = {}
        for level, points in ((0, 1 << 62), (3, 0)):
            simd_codegen.TIER_POINTS = points  # never tier up; tier up at the first call
            simd_codegen._cached_kernel.cache_clear()
            f = tl.Loss(text).compile(generator="simd")
            calls[level] = four_calls(f)
            calls[level](np.ones((8, n)), np.ones((8, n)))
            loops_built(f)  # the loops, then their first call (tiered up at once when TIER_POINTS is 0)
            calls[level](np.ones((8, n)), np.ones((8, n)))
        simd_codegen.TIER_POINTS = tier
        for size in SIZES:
            W, V = rng.uniform(-2, 2, size=(size, n)), rng.normal(size=(size, n))
            repeats = 15 if size <= 10**5 else 5
            t: dict[int, list[float]] = {level: [] for level in calls}
            for _ in range(repeats):  # interleaved: load affects both alike
                for level, call in calls.items():
                    start = time.process_time()
                    call(W, V)
                    t[level].append(time.process_time() - start)
            zero, three = statistics.median(t[0]), statistics.median(t[3])
            print(f"| {name} | {size:.0e} | {zero:.5f} | {three:.5f} | {zero / three:.2f}x |", flush=True)


def main() -> None:
    print(f"taylorlr {tl.__version__}, numpy {np.__version__}, symengine {se.__version__}\n")
    build_time("x*y", "simd")  # warm up imports and the JIT once
    import sys

    if "--tiers" in sys.argv:
        section_tiers()
        return
    if "--build" not in sys.argv:
        section_throughput()
    section_build()


if __name__ == "__main__":
    main()
