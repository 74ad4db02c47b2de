"""CPU seconds of ``Loss()``, its gradient and its Hessian-vector product for SymPy sums of n terms.

Issue 15: a SymPy sum of 10^5 terms took minutes in ``Loss()`` and 10^4 terms took 45 s for the
gradient and 90 s for the HVP (each walked all n symbols once per entry). Every check of
``Loss()`` is now one pass over the distinct nodes. The ratio column is the seconds per term
relative to the smallest n of the same stage, measured in the same run: about 1 when the stage
is linear in n, about n / n_0 when it is quadratic. Run it from the repository root (with
``PYTHONPATH`` set to another checkout, it measures that one)::

    python bench/bench_loss_size.py                  # n = 10^3, 10^4, 10^5
    python bench/bench_loss_size.py --sizes 1000 10000
"""

from __future__ import annotations

import argparse
import inspect
import random
import time
from collections.abc import Callable

import sympy

import taylorlr as tl


def float_sum(n: int) -> sympy.Expr:
    """sum c_i x_i**2 with float coefficients and symbols not declared real (the issue's case)."""
    rng = random.Random(0)
    return sympy.Add(*[sympy.Float(rng.uniform(0.5, 2.0)) * sympy.Symbol(f"x{i}") ** 2 for i in range(n)])


def new_loss(expr: sympy.Expr) -> tl.Loss:
    """``Loss(expr)`` with a budget that does not end it (a tree from before ``budget_s``: without)."""
    if "budget_s" in inspect.signature(tl.Loss).parameters:
        return tl.Loss(expr, budget_s=1e6)
    return tl.Loss(expr)


def timed(work: Callable[[], object]) -> float:
    """The CPU seconds of ``work()`` (this process's: on a shared machine, wall time measures the load)."""
    started = time.process_time()
    work()
    return time.process_time() - started


def seconds(n: int, derivatives: bool) -> dict[str, float]:
    """The seconds of each stage for the sum of n terms."""
    expr = float_sum(n)
    loss: list[tl.Loss] = []
    result = {"Loss()": timed(lambda: loss.append(new_loss(expr)))}
    if derivatives:
        result["gradient"] = timed(lambda: loss[0].gradient)
        result["hvp"] = timed(lambda: loss[0].hvp())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument(
        "--derivatives-up-to", type=int, default=10_000, help="the largest n for gradient/HVP"
    )
    args = parser.parse_args()
    first: dict[str, float] = {}
    print("| stage | n | CPU seconds | seconds per term / smallest n's |")
    print("| --- | --- | --- | --- |")
    for n in args.sizes:
        for stage, spent in seconds(n, n <= args.derivatives_up_to).items():
            first.setdefault(stage, spent / n)
            print(f"| {stage} | {n:,} | {spent:.2f} | {spent / n / first[stage]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
