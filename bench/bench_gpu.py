"""Benchmark: the CuPy backend against the GPU's memory-bandwidth roofline (issue 14, item 8).

Run by hand on a machine with CuPy and a GPU (not part of the test suite):

    python bench/bench_gpu.py                      # 10^6 and 10^7 points
    python bench/bench_gpu.py --backend numpy --sizes 10000   # a dry run of the script on a CPU

The anchor is measured in the same run: a device-to-device copy of a 2 GiB array (read + write),
the bandwidth any elementwise kernel can at best reach. Each figure is then

    fraction of roofline = (least bytes the call must move / its time) / copy bandwidth

where "least bytes" counts only the inputs read once and the outputs written once (W: B x n,
f: B, g: B x n, H: B x n x n in the dtype), never the temporaries of the generated code. A
fraction of 0.5 means the call takes twice the time that moving its own inputs and outputs
once would take. For the alpha engine (``tl.run``, 20 steps, oracle off, record="final"),
the least traffic per step is reading and writing theta and reading and writing one
gradient (4 B n words): a floor no implementation can go under, not a model of the engine.

Times come from CUDA events around each call after a warm-up call; the median of five.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import taylorlr as tl

LOSSES = {
    "rosenbrock-2": "(1 - x)**2 + 100*(y - x**2)**2",
    "quadratic-10": " + ".join(f"{k + 1}*x{k}**2" for k in range(10))
    + " + "
    + " + ".join(f"x{k}*x{k + 1}" for k in range(9)),
}
REPEATS = 5


class Clock:
    """Median wall time of a call, synchronised with the device when there is one."""

    def __init__(self, xp: Any) -> None:
        self.xp = xp
        self.gpu = xp.__name__ == "cupy"

    def median(self, call: Callable[[], Any], repeats: int = REPEATS) -> float:
        call()
        times = []
        for _ in range(repeats):
            if self.gpu:
                start, stop = self.xp.cuda.Event(), self.xp.cuda.Event()
                start.record()
                call()
                stop.record()
                stop.synchronize()
                times.append(self.xp.cuda.get_elapsed_time(start, stop) / 1e3)
            else:
                t0 = time.perf_counter()
                call()
                times.append(time.perf_counter() - t0)
        return statistics.median(times)


def copy_bandwidth(xp: Any, clock: Clock, nbytes: int) -> float:
    a = xp.ones(nbytes // 8, dtype=xp.float64)
    b = xp.empty_like(a)

    def copy() -> None:
        b[...] = a

    return 2 * a.nbytes / clock.median(copy)


def evaluation(xp: Any, clock: Clock, backend: str, dtype: str, sizes: list[int], bandwidth: float) -> None:
    word = np.dtype(dtype).itemsize
    for name, text in LOSSES.items():
        loss = tl.Loss(text)
        n = len(loss.variables)
        compiled = loss.compile(backend, dtype=dtype)
        for size in sizes:
            W = xp.asarray(np.random.default_rng(0).uniform(-2, 2, (size, n)), dtype=dtype)
            for call, outputs in (("value", 1), ("grad", n), ("hess", n * n)):
                seconds = clock.median(lambda c=call, k=compiled, W=W: getattr(k, c)(W))
                least = size * (n + outputs) * word
                print(
                    f"{name:13s} {dtype:8s} B={size:>9,d} {call:5s} {seconds * 1e3:9.3f} ms  "
                    f"{least / seconds / 1e9:8.1f} GB/s  {least / seconds / bandwidth:6.1%} of copy"
                )


def engine(xp: Any, clock: Clock, backend: str, sizes: list[int], bandwidth: float) -> None:
    steps = 20
    for name, text in LOSSES.items():
        loss = tl.Loss(text)
        n = len(loss.variables)
        for size in sizes:
            W = xp.asarray(np.random.default_rng(1).uniform(-2, 2, (size, n)))

            def run(W: Any = W, loss: Any = loss) -> Any:
                return tl.run(loss, W, optimizer="gd", rule="retsinas", steps=steps, backend=backend,
                              oracle=False, record="final")  # fmt: skip

            seconds = clock.median(run, repeats=3)
            least = steps * 4 * size * n * 8
            print(
                f"{name:13s} engine   B={size:>9,d} {steps} steps {seconds * 1e3:9.1f} ms  "
                f"{size * steps / seconds / 1e9:6.3f} G point-steps/s  "
                f"{least / seconds / bandwidth:6.1%} of copy"
            )
            if backend == "cupy" and size <= 10**6:  # the same run on this machine's CPU (fused SIMD path)
                starts = np.random.default_rng(1).uniform(-2, 2, (size, n))
                cpu = Clock(np).median(
                    lambda loss=loss, starts=starts: tl.run(
                        loss,
                        starts,
                        optimizer="gd",
                        rule="retsinas",
                        steps=steps,
                        oracle=False,
                        record="final",
                    ),
                    repeats=3,
                )
                print(
                    f"{name:13s} engine   B={size:>9,d} on the CPU (NumPy) {cpu * 1e3:9.1f} ms: "
                    f"GPU {cpu / seconds:.1f}x"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="cupy", choices=("cupy", "numpy"))
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--copy-gib", type=float, default=2.0)
    args = parser.parse_args()
    if args.backend == "cupy":
        import cupy as xp

        props = xp.cuda.runtime.getDeviceProperties(0)
        print(f"device: {props['name'].decode()}, CuPy {xp.__version__}")
    else:
        xp = np
        print("device: the CPU (NumPy), a dry run of the script")
    clock = Clock(xp)
    sizes = [int(s) for s in args.sizes]
    bandwidth = copy_bandwidth(xp, clock, int(args.copy_gib * 2**30))
    print(f"anchor: device copy {bandwidth / 1e9:.1f} GB/s (read + write of {args.copy_gib} GiB)")
    for dtype in ("float64", "float32"):
        evaluation(xp, clock, args.backend, dtype, sizes, bandwidth)
    engine(xp, clock, args.backend, sizes, bandwidth)


if __name__ == "__main__":
    main()
