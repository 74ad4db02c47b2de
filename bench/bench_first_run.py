"""The first default run of a catalogue problem, in a fresh process: the fused step built as
``tl.run`` builds it now (a large loop unoptimised for a small run, ``fused.OPTIMISE_WORK``)
against the step always optimised (the behaviour before), alternated; or, with ``--baseline
PATH``, this checkout against the taylorlr package found at PATH (another checkout), alternated.

    python bench/bench_first_run.py [--runs 2] [--problems osborne2 gulf ...] [--starts 1]
    python bench/bench_first_run.py --baseline /work/main [--runs 3] [--problems gulf osborne2]
    python bench/bench_first_run.py --baseline /work/main --split [--problems osborne2]
    python bench/bench_first_run.py --stages [--problems gulf]

Each figure is the wall time of ``tl.run(problem.loss, problem.x0)`` (200 steps, the oracle on:
everything a user waits for, the derivatives and the kernels' builds included; imports and the
loss's parsing excluded) in a fresh process, the median over ``--runs``; the ratio is now / the
other. Against always optimised the results are the same bits (checked). Against a baseline the
table gives the largest difference of the final points and of the oracle's alphas, relative to
their size (the derivatives or the oracle may be computed another way: the same numbers to
rounding, or to the oracle's precision). ``--split`` times, in each fresh process, the first run
with ``oracle=False`` (the builds) and then a run with the oracle on (the oracle's own cost);
``--stages`` times this checkout's compiled derivatives and each kernel's build, then the run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PROBLEMS = ("osborne2", "gulf", "watson", "biggs_exp6", "extended_rosenbrock", "rosenbrock")


def child(name: str, mode: str, starts: int) -> None:
    import numpy as np

    import taylorlr as tl
    from taylorlr.alpha import fused

    if mode == "optimised":
        fused.OPTIMISE_WORK = 0
    problem = tl.problems.get(name)
    loss = problem.loss
    x0 = np.repeat(np.asarray(problem.x0, dtype=float)[None, :], starts, axis=0)
    if mode == "stages":  # the builds one by one, then the run on the built loss
        seconds: dict[str, float] = {}
        start = time.perf_counter()
        assert loss.compiled_derivatives is not None
        seconds["derivatives"] = time.perf_counter() - start
        compiled = loss.compile()
        for group in ("value", "value_and_grad", "grad", "hvp", "hess"):
            start = time.perf_counter()
            compiled._function(group)
            seconds[group] = time.perf_counter() - start
        start = time.perf_counter()
        tl.run(loss, x0[0] if starts == 1 else x0)
        seconds["run"] = time.perf_counter() - start
        print(json.dumps(seconds))
        return
    if mode == "split":  # the first run without the oracle, then the oracle's run on the built loss
        start = time.perf_counter()
        tl.run(loss, x0[0] if starts == 1 else x0, oracle=False)
        middle = time.perf_counter()
        tl.run(loss, x0[0] if starts == 1 else x0)
        print(json.dumps({"off": middle - start, "on": time.perf_counter() - middle}))
        return
    start = time.perf_counter()
    run = tl.run(loss, x0[0] if starts == 1 else x0)
    seconds = time.perf_counter() - start
    kernels = fused._KERNELS.get(id(loss.compile()), {}).values()
    levels = sorted({k.step.level for k in kernels if isinstance(k, fused.StepKernel)})
    digest = float(np.nansum(run.points)), float(np.nansum(run.alphas))
    final = np.asarray(run.x, dtype=float).reshape(-1).tolist()
    oracle = np.asarray(run.oracle_alphas, dtype=float).reshape(-1).tolist()
    record = {"seconds": seconds, "path": run.settings["path"], "levels": levels, "digest": digest}
    print(json.dumps(record | {"final": final, "oracle": oracle, "status": str(run.status)}))


def measure(name: str, mode: str, starts: int, path: str | None = None) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", name, mode, str(starts)]
    environment = None if path is None else os.environ | {"PYTHONPATH": path}
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=environment).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def relative_difference(a: list[float], b: list[float]) -> float:
    """max |a - b| / max(|a|, |b|, tiny) over the entries, NaN in both counted equal; inf if the
    shapes or the NaNs differ."""
    import numpy as np

    x, y = np.asarray(a), np.asarray(b)
    if x.shape != y.shape or not np.array_equal(np.isnan(x), np.isnan(y)):
        return float("inf")
    both = ~np.isnan(x)
    if not both.any():
        return 0.0
    x, y = x[both], y[both]
    return float(np.max(np.abs(x - y) / np.maximum(np.maximum(np.abs(x), np.abs(y)), 1e-300)))


def stages(args: argparse.Namespace) -> None:
    print(f"The builds one by one (s), then the run on the built loss, fresh process, median of {args.runs}")
    rows = [measure(name, "stages", args.starts) for name in args.problems for _ in range(args.runs)]
    keys = list(rows[0])
    print("| problem | " + " | ".join(keys) + " |")
    print("| --- |" + " --- |" * len(keys))
    for k, name in enumerate(args.problems):
        mine = rows[k * args.runs : (k + 1) * args.runs]
        cells = [f"{statistics.median(float(r[key]) for r in mine):.2f}" for key in keys]  # type: ignore[arg-type]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def alternated(name: str, mode: str, args: argparse.Namespace) -> tuple[list[dict[str, object]], ...]:
    """``args.runs`` fresh runs of this checkout and of the baseline, in turn: (this, baseline)."""
    now, before = [], []
    for _ in range(args.runs):
        now.append(measure(name, mode, args.starts, os.getcwd()))
        before.append(measure(name, mode, args.starts, args.baseline))
    return now, before


def split(args: argparse.Namespace) -> None:
    print(f"First run with oracle=False, then oracle on (kernels built), {args.starts} start(s), ", end="")
    print(f"fresh process, median of {args.runs}: this checkout against {args.baseline}")
    print("| problem | oracle off, first run (s): now / baseline | then oracle on (s): now / baseline |")
    print("| --- | --- | --- |")
    for name in args.problems:
        now, before = alternated(name, "split", args)
        off = [statistics.median(float(r["off"]) for r in rows) for rows in (now, before)]  # type: ignore[arg-type]
        on = [statistics.median(float(r["on"]) for r in rows) for rows in (now, before)]  # type: ignore[arg-type]
        print(f"| {name} | {off[0]:.2f} / {off[1]:.2f} | {on[0]:.2f} / {on[1]:.2f} |", flush=True)


def against_baseline(args: argparse.Namespace) -> None:
    print(f"First default run (200 steps, oracle on), {args.starts} start(s), fresh process, ", end="")
    print(f"median of {args.runs}: this checkout against {args.baseline}")
    print("| problem | path | now (s) | baseline (s) | ratio | final point rel. diff | oracle rel. diff |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.problems:
        now, before = alternated(name, "by-size", args)
        a = statistics.median(float(r["seconds"]) for r in now)  # type: ignore[arg-type]
        b = statistics.median(float(r["seconds"]) for r in before)  # type: ignore[arg-type]
        points = relative_difference(now[0]["final"], before[0]["final"])  # type: ignore[arg-type]
        oracle = relative_difference(now[0]["oracle"], before[0]["oracle"])  # type: ignore[arg-type]
        times = (f"{a:.2f}", f"{b:.2f}", f"{a / b:.2f}")
        cells = (name, now[0]["path"], *times, f"{points:.1e}", f"{oracle:.1e}")
        print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS))
    parser.add_argument("--starts", type=int, default=1)
    parser.add_argument("--baseline", help="a checkout whose taylorlr is the baseline (PYTHONPATH)")
    parser.add_argument("--split", action="store_true", help="with --baseline: oracle off, then on")
    parser.add_argument("--stages", action="store_true", help="this checkout's builds one by one")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    if args.stages:
        stages(args)
        return
    if args.baseline:
        (split if args.split else against_baseline)(args)
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
