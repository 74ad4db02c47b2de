"""Throughput of ``tl.run`` against the cost of its evaluations alone (by hand, not a test).

    python bench/bench_engine.py [--batch 100000] [--steps 20]

For each rule, on 2-D Rosenbrock and 10-D extended Rosenbrock, at a batch of start
points: the run's throughput in (start points x steps) / s, and the engine's
overhead = 1 - (time of value + gradient + HVP called alone on the same batch, once
per step) / (time of the run). The oracle is off (it is a measurement, not the method).

To show where the overhead goes, the table also times the fused step kernel alone
(:mod:`taylorlr.fused`: f, grad f and the HVP at theta+, the rule, the safeguards and
the status, one LLVM function per row) on the same batch, once per step; the rest of
the run is recording the history (points, losses, alphas, gradient norms) and setup.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import taylorlr as tl
from taylorlr import engine, rules

RULES = ("exact", "retsinas", "value-gradient", "three-point", "lagged", "fixed")
PROBLEMS = {
    "rosenbrock 2-D": "(1 - x1)**2 + 100*(x2 - x1**2)**2",
    "ext. rosenbrock 10-D": " + ".join(
        f"100*(x{2 * i + 2} - x{2 * i + 1}**2)**2 + (1 - x{2 * i + 1})**2" for i in range(5)
    ),
}


def best_of(repeats: int, action) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def evaluations_alone(f: tl.Compiled, points: np.ndarray, steps: int) -> float:
    """value + gradient + HVP at the batch, ``steps`` times: the reference cost of the issue."""
    direction = np.ones_like(points)

    def evaluate() -> None:
        for _ in range(steps):
            f.value(points)
            f.grad(points)
            f.hvp(points, direction)

    return best_of(3, evaluate)


def kernel_alone(loss: tl.Loss, f: tl.Compiled, rule: str, points: np.ndarray, steps: int) -> float:
    """The fused step kernel on a running batch, ``steps`` times (internal API, a diagnostic)."""
    kernel = engine._cached_step_kernel(
        f,
        rules.resolve_rule(rule),
        rules.resolve_safeguards("default"),
        True,
        0.0,
        1e8,  # run()'s default divergence
    )
    if kernel is None:
        return float("nan")
    layout, column = kernel.layout, kernel.layout.column
    value, grad = f.value_and_grad(points)
    state = np.zeros((len(points), layout.width))
    state[:, layout.block("theta")], state[:, layout.block("omega")] = points, grad
    state[:, column("value")] = state[:, column("start")] = value
    state[:, column("alpha")], state[:, column("gamma")] = 1e-4, 1.0
    spare = np.empty_like(state)

    def step() -> None:
        for _ in range(steps):
            kernel(state, spare)  # the same input each time: every member keeps running

    return best_of(3, step)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"batch {args.batch}, {args.steps} steps, optimizer gd, oracle off")
    print(
        "| problem | rule | run (s) | evaluations alone (s) | step kernel alone (s) "
        "| points x steps / s | engine overhead |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, text in PROBLEMS.items():
        loss = tl.Loss(text)
        f = loss.compile()
        starts = rng.uniform(-2.0, 2.0, size=(args.batch, loss.n))
        for rule in RULES:
            tl.run(loss, starts[:10], "gd", rule, steps=2, oracle=False)  # compile the kernels
            elapsed = best_of(
                3,
                lambda rule=rule, loss=loss, starts=starts: tl.run(
                    loss, starts, "gd", rule, steps=args.steps, tol=0.0, alpha0=1e-4, oracle=False
                ),
            )
            alone = evaluations_alone(f, starts, args.steps)
            kernel = kernel_alone(loss, f, rule, starts, args.steps)
            rate = args.batch * args.steps / elapsed
            print(
                f"| {name} | {rule} | {elapsed:.3f} | {alone:.3f} | {kernel:.3f} | {rate:.3g} "
                f"| {1 - alone / elapsed:.0%} |"
            )


if __name__ == "__main__":
    main()
