"""The first default run of a catalogue problem, in a fresh process: the fused step built as
``tl.run`` builds it now (a large loop unoptimised for a small run, ``fused.OPTIMISE_WORK``)
against the step always optimised (the behaviour before), alternated.

    python bench/bench_first_run.py [--runs 2] [--problems osborne2 watson ...] [--starts 1]

Each figure is the wall time of ``tl.run(problem.loss, problem.x0)`` (200 steps, the oracle on:
everything a user waits for, the kernels' builds included; imports and the loss excluded) in a
fresh process, the median over ``--runs``; the ratio is now / always optimised. The results
of both are the same bits (checked).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

PROBLEMS = ("osborne2", "watson", "biggs_exp6", "extended_rosenbrock", "rosenbrock")


def child(name: str, mode: str, starts: int) -> None:
    import numpy as np

    import taylorlr as tl
    from taylorlr.alpha import fused

    if mode == "optimised":
        fused.OPTIMISE_WORK = 0
    problem = tl.problems.get(name)
    loss = problem.loss
    x0 = np.repeat(np.asarray(problem.x0, dtype=float)[None, :], starts, axis=0)
    start = time.perf_counter()
    run = tl.run(loss, x0[0] if starts == 1 else x0)
    seconds = time.perf_counter() - start
    kernels = fused._KERNELS.get(id(loss.compile()), {}).values()
    levels = sorted({k.step.level for k in kernels if isinstance(k, fused.StepKernel)})
    digest = float(np.nansum(run.points)), float(np.nansum(run.alphas))
    print(json.dumps({"seconds": seconds, "path": run.settings["path"], "levels": levels, "digest": digest}))


def measure(name: str, mode: str, starts: int) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", name, mode, str(starts)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS))
    parser.add_argument("--starts", type=int, default=1)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    print(f"First default run (200 steps, oracle on), {args.starts} start(s), fresh process, ", end="")
    print(f"median of {args.runs}")
    print("| problem | path | step level now | now (s) | always optimised (s) | ratio | same numbers |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.problems:
        now, before = [], []
        for _ in range(args.runs):
            now.append(measure(name, "by-size", args.starts))
            before.append(measure(name, "optimised", args.starts))
        a = statistics.median(float(r["seconds"]) for r in now)  # type: ignore[arg-type]
        b = statistics.median(float(r["seconds"]) for r in before)  # type: ignore[arg-type]
        same = all(r["digest"] == before[0]["digest"] for r in now + before)
        cells = (name, now[0]["path"], now[0]["levels"], f"{a:.2f}", f"{b:.2f}", f"{a / b:.2f}", same)
        print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)


if __name__ == "__main__":
    main()
