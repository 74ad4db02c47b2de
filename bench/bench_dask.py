"""Throughput of ``taylorlr.scaleout.run`` on a Dask LocalCluster, as ratios against a local run
in the same process (by hand, not a test).

    python bench/bench_dask.py [--sizes 100000 1000000] [--steps 20] [--chunk 50000] [--workers 1 2]

For each size B: the local run (the same chunks, one after another in this process, the
reference whose bits the cluster reproduces) and the run on a cluster of 1 and 2 worker
processes (one thread each); printed: runs x steps per second, the cluster's time over the
local time (its overhead, or speed-up below 1), and the projected wall time of a 10^9-run
sweep at the measured throughput. The problem is 2-D Rosenbrock with the retsinas rule and
gd, the oracle off. Each cluster is started, and each of its workers compiles its kernels on a
warm-up run, before the timings (that start-up is printed apart).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

LOSS = "(1 - x)**2 + 100*(y - x**2)**2"


def timed(action):
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def main() -> None:
    import dask.array as da
    from distributed import Client, LocalCluster

    from taylorlr import scaleout

    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    options = {"steps": args.steps}
    scaleout.run(LOSS, np.zeros((8, 2)), "gd", "retsinas", **options)  # compile here once
    rows = []
    for size in args.sizes:
        # lazy: each chunk is drawn where it runs (the same numbers for the same chunks)
        starts = da.random.default_rng(0).uniform(-2.0, 2.0, (size, 2), chunks=(args.chunk, 2))
        local_time, local = timed(lambda s=starts: scaleout.run(LOSS, s, "gd", "retsinas", **options))
        rows.append((size, "local (this process)", local_time, 1.0, None))
        for workers in args.workers:
            began = time.perf_counter()
            with (
                LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
                ) as c,
                Client(c) as client,
            ):
                scaleout.run(
                    LOSS, da.zeros((16, 2), chunks=(1, 2)), "gd", "retsinas", client=client, **options
                )
                startup = time.perf_counter() - began  # the cluster, and each worker's first compile
                spread_time, spread = timed(
                    lambda s=starts, cl=client: scaleout.run(LOSS, s, "gd", "retsinas", client=cl, **options)
                )
            assert spread == local, "the cluster's result differs from the local run"
            rows.append((size, f"{workers} worker(s)", spread_time, spread_time / local_time, startup))
    print(f"{'starts':>9}  {'where':<22}{'seconds':>9}{'runs*steps/s':>14}{'vs local':>10}{'startup s':>11}"
          f"{'10^9 runs (h)':>15}")  # fmt: skip
    for size, where, seconds, ratio, startup in rows:
        throughput = size * args.steps / seconds
        projected = 1e9 / (size / seconds) / 3600
        start_text = "" if startup is None else f"{startup:.1f}"
        print(f"{size:>9}  {where:<22}{seconds:>9.2f}{throughput:>14.3g}{ratio:>10.2f}{start_text:>11}"
              f"{projected:>15.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
