"""Benchmark: how far past ``budget_s`` compile() and each kernel's first build end, on large losses.

Run by hand (not part of the test suite):

    python bench/bench_compile_budget.py                       # every case
    python bench/bench_compile_budget.py --cases shared-3000:1 sum-20000:3
    python bench/bench_compile_budget.py --baseline /work/main # also another checkout, alternated

Each row is one fresh Python process: the loss is built (not timed), then ``compile(budget_s=b)``
(the derivatives) and the build of each output group (value, grad, hess) are timed on the wall
clock, as the budget counts, and printed as seconds beyond ``b`` with the outcome (built, or the
``BudgetExceededError``'s message). The goal (issue 15): no row ends more than 1 s past its budget.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import Any

CASES = ("shared-3000:3", "shared-3000:1", "sum-20000:12", "sum-20000:3", "rosenbrock-2000:1")


def loss_of(kind: str, n: int) -> Any:
    import sympy

    import taylorlr as tl

    xs = sympy.symbols(f"x0:{n}", real=True)
    if kind == "sum":  # n terms (i + 1) x_i^2 + sin(x_i): n outputs per derivative
        return tl.Loss(sympy.Add(*[(i + 1) * v**2 + sympy.sin(v) for i, v in enumerate(xs)]))
    if kind == "rosenbrock":
        terms = [100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2 for i in range(n - 1)]
        return tl.Loss(sympy.Add(*terms))
    x, y = sympy.symbols("x y", real=True)  # shared: every derivative is one sum of n terms
    return tl.Loss(sympy.Add(*[sympy.sin(k * x + y) / k for k in range(1, n)]))


def child(case: str) -> None:
    from taylorlr.errors import TaylorLRError

    name, budget_text = case.split(":")
    kind, n = name.rsplit("-", 1)
    budget = float(budget_text)
    loss = loss_of(kind, int(n))
    compiled: list[Any] = []
    steps = [("compile()", lambda: compiled.append(loss.compile(budget_s=budget)))]
    for group in ("value", "grad", "hess"):
        steps.append((group, lambda group=group: compiled[0]._function(group)))
    for label, step in steps:
        started = time.monotonic()
        try:
            step()
            outcome = "built"
        except TaylorLRError as error:
            outcome = str(error)[:100]
        seconds = time.monotonic() - started
        print(f"| {case} | {label} | {seconds:.2f} | {seconds - budget:+.2f} | {outcome} |", flush=True)
        if not compiled:
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), help="KIND-N:BUDGET_S")
    parser.add_argument("--baseline", help="another taylorlr checkout (its root), run after each case")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    roots = [os.getcwd()] + ([args.baseline] if args.baseline else [])
    print("| case (budget_s) | step | seconds | beyond the budget | outcome |\n|---|---|---|---|---|")
    for case in args.cases:
        for root in roots:
            if len(roots) > 1:
                print(f"| {root} | | | | |", flush=True)
            environment = dict(os.environ, PYTHONPATH=root)
            subprocess.run([sys.executable, __file__, "--child", case], env=environment, check=False)


if __name__ == "__main__":
    main()
