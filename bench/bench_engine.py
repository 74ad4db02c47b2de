"""Throughput of ``tl.run`` against the cost of its evaluations alone (by hand, not a test).

    python bench/bench_engine.py [--batch 100000] [--steps 20] [--repeats 5]

For each rule, on 2-D Rosenbrock and 10-D extended Rosenbrock, at a batch of start
points: the run's throughput in (start points x steps) / s, and the engine's
overhead = 1 - (time of value + gradient + HVP called alone on the same batch, once
per step) / (time of the run), each the fastest of ``--repeats`` timings taken in turn
(a run, then the evaluations, and again), so that both see the same load on a shared
machine. The oracle is off (it is a measurement, not the method).

To show where the overhead goes, the table also times the fused step kernel alone
(:mod:`taylorlr.alpha.fused`: f, grad f and the HVP at theta+, the rule, the safeguards and
the status and the record of the step, one vectorised loop over the batch) on the same
batch, once per step; the rest of the run is setup, the first touch of the history's
memory and the results.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import taylorlr as tl
from taylorlr.alpha import fused, optimizers, rules, safeguards
from taylorlr.compile import simd_codegen as llvm_loop
from taylorlr.compile.simd_codegen import LoopArray

RULES = ("exact", "retsinas", "value-gradient", "three-point", "lagged", "fixed")
PROBLEMS = {
    "rosenbrock 2-D": "(1 - x1)**2 + 100*(x2 - x1**2)**2",
    "ext. rosenbrock 10-D": " + ".join(
        f"100*(x{2 * i + 2} - x{2 * i + 1}**2)**2 + (1 - x{2 * i + 1})**2" for i in range(5)
    ),
}


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def evaluations_alone(f: tl.Compiled, points: np.ndarray, steps: int) -> None:
    """value + gradient + HVP at the batch, ``steps`` times: the reference cost of the issue."""
    direction = np.ones_like(points)
    for _ in range(steps):
        f.value(points)
        f.grad(points)
        f.hvp(points, direction)


def vectorised_evaluations(f: tl.Compiled, points: np.ndarray, steps: int) -> float:
    """The same three evaluations as three loops of :mod:`taylorlr.compile.simd_codegen` (the code
    generator of the fused step), on points stored by rows: a stricter reference, since
    ``Compiled`` still evaluates with SymEngine's scalar per-row kernels."""
    import symengine as se

    d = f.derivatives
    x = [se.sympify(v) for v in d.variables]
    v = [se.Symbol(f"__direction_{i}") for i in range(d.n)]
    hvp = tuple(se.sympify(row) for row in d.hvp(v))
    grad = tuple(se.sympify(g) for g in d.gradient)
    value = llvm_loop.compile_loop(
        [LoopArray("rows", reads=tuple(x)), LoopArray("rows", writes=(se.sympify(d.value),))]
    )
    gradient = llvm_loop.compile_loop([LoopArray("rows", reads=tuple(x)), LoopArray("rows", writes=grad)])
    product = llvm_loop.compile_loop([LoopArray("rows", reads=(*x, *v)), LoopArray("rows", writes=hvp)])
    at = np.ascontiguousarray(points.T)
    both = np.ascontiguousarray(np.concatenate([points, np.ones_like(points)], axis=1).T)

    def evaluate() -> None:
        for _ in range(steps):  # fresh outputs each time, as Compiled's functions return
            value([at, np.empty((1, len(points)))])
            gradient([at, np.empty_like(at)])
            product([both, np.empty_like(at)])

    return min(timed(evaluate) for _ in range(3))


def kernel_alone(loss: tl.Loss, f: tl.Compiled, rule: str, points: np.ndarray, steps: int) -> float:
    """The fused step kernel advancing the batch ``steps`` times (internal API, a diagnostic)."""
    kernel = fused.prepare(
        f,
        rules.resolve_rule(rule),
        safeguards.resolve_safeguards("default"),
        optimizers.gd(),
        stochastic=False,
        tol=0.0,
        divergence=1e8,  # run()'s default
    )
    if isinstance(kernel, str):
        return float("nan")
    value, grad = f.value_and_grad(points)
    state = fused.TiledState(kernel.layout, len(points), frozen=1.0)
    starting = {"theta": points, "omega": grad, "value": value, "start": value, "alpha": 1e-4, "gamma": 1.0}
    for name, values in starting.items():
        state.set(name, values)
    record = np.empty((kernel.layout.recorded, state.padded))
    times = []
    for _ in range(3):
        tiles = state.array.copy()  # every repetition starts from the same state
        start = time.perf_counter()
        for _ in range(steps):
            kernel(tiles, record)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5, help="timings per figure (the fastest is shown)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"batch {args.batch}, {args.steps} steps, optimizer gd, oracle off")
    print(
        "| problem | rule | run (s) | evaluations alone (s) | step kernel alone (s) "
        "| points x steps / s | engine overhead | evaluations as SIMD loops (s) | overhead vs those |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, text in PROBLEMS.items():
        loss = tl.Loss(text)
        f = loss.compile()
        starts = rng.uniform(-2.0, 2.0, size=(args.batch, loss.n))
        simd = vectorised_evaluations(f, starts, args.steps)
        for rule in RULES:
            tl.run(loss, starts[:10], "gd", rule, steps=2, oracle=False)  # compile the kernels
            runs, references = [], []
            for _ in range(args.repeats):  # interleaved, so that both see the same machine load
                references.append(timed(lambda f=f, starts=starts: evaluations_alone(f, starts, args.steps)))
                runs.append(
                    timed(
                        lambda rule=rule, loss=loss, starts=starts: tl.run(
                            loss,
                            starts,
                            "gd",
                            rule,
                            steps=args.steps,
                            tol=0.0,
                            alpha0=1e-4,
                            oracle=False,
                            path="fused",
                        )
                    )
                )
            elapsed, alone = min(runs), min(references)
            kernel = kernel_alone(loss, f, rule, starts, args.steps)
            rate = args.batch * args.steps / elapsed
            print(
                f"| {name} | {rule} | {elapsed:.3f} | {alone:.3f} | {kernel:.3f} | {rate:.3g} "
                f"| {1 - alone / elapsed:.0%} | {simd:.3f} | {1 - simd / elapsed:.0%} |"
            )


if __name__ == "__main__":
    main()
