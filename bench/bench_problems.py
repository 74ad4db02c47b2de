"""The benchmark of docs/benchmark.md: the 35 MGH problems, default rules, optimizers and baselines
(by hand, not a test).

    python bench/bench_problems.py [--csv FILE] [--profile FIG] [--time-budget 120] [--steps 1000]

Runs what ``taylorlr bench --problems mgh`` runs (the same defaults), prints the solver table and
the per-problem table as Markdown, the seconds each problem took and the problems whose time
budget ran out, and writes the table and the profile figure.
"""

from __future__ import annotations

import argparse
import math
import time

import taylorlr as tl
from taylorlr.benchmarking import BASELINES


def cell(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:g}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv")
    parser.add_argument("--profile")
    parser.add_argument("--time-budget", type=float, default=120.0)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--tau", type=float, default=1e-3)
    args = parser.parse_args()
    began = time.perf_counter()
    table = tl.benchmark("mgh", steps=args.steps, time_budget=args.time_budget)
    elapsed = time.perf_counter() - began
    if args.csv:
        table.to_csv(args.csv)
    if args.profile:
        table.profiles(args.profile, tau=args.tau)
    print(f"{len(table)} runs in {elapsed:.0f} s; timeouts: {table.timeouts or 'none'}")
    print(f"errors: {table.errors or 'none'}")
    print("\n| solver | solved | converged | failed | wins | median evaluations |\n|---|--:|--:|--:|--:|--:|")
    for s in table.summary(args.tau):
        print(f"| {s['solver']} | {s['solved']} | {s['converged']} | {s['failed']} | {s['wins']} | "
              f"{cell(s['median_evaluations'])} |")  # fmt: skip
    baselines = [s for s in table.solvers if s in BASELINES]
    print(f"\n| # | problem | n | best rule | evaluations | {' | '.join(baselines)} |")
    print("|--:|---|--:|---|--:|" + "--:|" * len(baselines))
    for w in table.winners(args.tau):
        best = w["best"] if math.isfinite(w["best_evaluations"]) else f"({w['best']}: {w['best_status']})"
        others = " | ".join(cell(w[b]) for b in baselines)
        head = f"| {w['number']} | {w['problem']} | {w['n']} | {best}"
        print(f"{head} | {cell(w['best_evaluations'])} | {others} |")
    print("\nseconds per problem:", {k: round(v, 1) for k, v in table.seconds.items()})


if __name__ == "__main__":
    main()
