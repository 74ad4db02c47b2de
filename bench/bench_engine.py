"""Throughput of ``tl.run`` against the cost of its evaluations alone (by hand, not a test).

    python bench/bench_engine.py [--batch 100000] [--steps 20] [--repeats 5]
    python bench/bench_engine.py --ends [--steps 20] [--repeats 5] [--largest 1000000]

``--ends``: the engine at both ends of the batch size, against a hand-written NumPy loop of the
same method (gradient descent, the ``exact`` rule, hand-derived gradient and Hessian-vector
product of (extended) Rosenbrock, f every step, no safeguards, no history), at B = 10^2 ... 10^6
start points: each time the fastest of ``--repeats`` runs taken in turn with the hand loop's,
and the ratio run / hand (below 1: the engine is faster). Then the memory: the peak resident
set of a fresh process that makes the start points and runs (the engine with ``record="all"``
and with ``record="final"``, kernels built; or the hand loop: both processes import this module,
so the same libraries), at the largest B, as ratios against the hand loop's.

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
import resource
import subprocess
import sys
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


def hand_loop(starts: np.ndarray, steps: int, alpha0: float = 1e-4, gamma: float = 1.0) -> np.ndarray:
    """Gradient descent with the exact rule on (extended) Rosenbrock, written by hand in NumPy:
    alpha_{t+1} = alpha_t + gamma <grad f(theta+), g> / <g, H(theta+) g>, f evaluated every step."""

    def parts(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return theta[:, 0::2], theta[:, 1::2]

    def grad(theta: np.ndarray) -> np.ndarray:
        x, y = parts(theta)
        r = y - x * x
        out = np.empty_like(theta)
        out[:, 0::2] = -400.0 * x * r - 2.0 * (1.0 - x)
        out[:, 1::2] = 200.0 * r
        return out

    def hvp(theta: np.ndarray, v: np.ndarray) -> np.ndarray:
        (x, y), (vx, vy) = parts(theta), parts(v)
        out = np.empty_like(theta)
        out[:, 0::2] = (1200.0 * x * x - 400.0 * y + 2.0) * vx - 400.0 * x * vy
        out[:, 1::2] = 200.0 * vy - 400.0 * x * vx
        return out

    def value(theta: np.ndarray) -> np.ndarray:
        x, y = parts(theta)
        return (100.0 * (y - x * x) ** 2 + (1.0 - x) ** 2).sum(axis=1)

    theta = starts.copy()
    alpha = np.full(len(theta), alpha0)
    g = grad(theta)
    losses = [value(theta)]
    with np.errstate(all="ignore"):
        for _ in range(steps):
            plus = theta - alpha[:, None] * g
            g_plus = grad(plus)
            slope = np.einsum("ij,ij->i", g_plus, g)
            curvature = np.einsum("ij,ij->i", g, hvp(plus, g))
            alpha = alpha + gamma * slope / curvature
            theta, g = plus, g_plus
            losses[0] = value(plus)  # f at the new point, as the engine records it
    return theta


def engine_run(loss: tl.Loss, starts: np.ndarray, steps: int, record: object = "all") -> tl.Run | None:
    """The engine's run of the hand loop's method (None: this tree has no ``record=``, as before it)."""
    options = {} if record == "all" else {"record": record}
    try:
        return tl.run(loss, starts, "gd", "exact", steps=steps, tol=0.0, alpha0=1e-4, oracle=False, **options)
    except TypeError:
        return None


def peak_memory(kind: str, text: str, batch: int, steps: int) -> float:
    """Peak resident memory (MiB) of a fresh process that makes the start points and runs ``kind``."""
    child = [sys.executable, __file__, "--memory-child", kind, "--problem", text, "--batch", str(batch),
             "--steps", str(steps)]  # fmt: skip
    return float(subprocess.run(child, capture_output=True, text=True, check=True).stdout.split()[-1])


def memory_child(kind: str, text: str, batch: int, steps: int) -> None:
    n = 2 * text.count("(1 - x")  # one (1 - x_i) term per pair of variables
    starts = np.random.default_rng(0).uniform(-2.0, 2.0, size=(batch, n))
    if kind == "hand":
        hand_loop(starts, steps)
    else:
        loss = tl.Loss(text)
        engine_run(loss, starts[:4], 1, kind)  # build the kernels as the timed runs do
        if engine_run(loss, starts, steps, kind) is None:
            print("nan")
            return
    print(_peak_resident())


def _peak_resident() -> float:
    """This process's peak resident memory in MiB (VmHWM: ru_maxrss would carry the parent's over exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ends(args: argparse.Namespace) -> None:
    """The engine against the hand loop from 10^2 to ``--largest`` start points, and the memory."""
    rng = np.random.default_rng(0)
    sizes = [10**k for k in range(2, 7) if 10**k <= args.largest]
    print(f"gd + exact, {args.steps} steps, tol 0, oracle off; fastest of {args.repeats}, taken in turn")
    print("| problem | start points | hand loop (s) | run (s) | run, record='final' (s) | run / hand "
          "| final / hand |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, text in PROBLEMS.items():
        loss = tl.Loss(text)
        for size in sizes:
            starts = rng.uniform(-2.0, 2.0, size=(size, loss.n))
            engine_run(loss, starts[:4], 1)
            thinned = engine_run(loss, starts[:4], 1, "final") is not None  # a tree with record=
            times: dict[str, list[float]] = {
                "hand": [],
                "all": [],
                "final": [] if thinned else [float("nan")],
            }
            repeats = args.repeats if size < 10**6 else max(2, args.repeats // 2)
            for _ in range(repeats):
                times["hand"].append(timed(lambda starts=starts: hand_loop(starts, args.steps)))
                for record in ("all", "final") if thinned else ("all",):
                    times[record].append(
                        timed(lambda r=record, s=starts, f=loss: engine_run(f, s, args.steps, r))
                    )
            hand, full, final = (min(times[k]) for k in ("hand", "all", "final"))
            print(f"| {name} | {size:.0e} | {hand:.4f} | {full:.4f} | {final:.4f} | {full / hand:.2f} "
                  f"| {final / hand:.2f} |")  # fmt: skip
    print(f"\npeak resident memory of a fresh process at {args.largest:.0e} start points (MiB)")
    print("| problem | hand loop | run | run, record='final' | run / hand | final / hand |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, text in PROBLEMS.items():
        peaks = {kind: peak_memory(kind, text, args.largest, args.steps) for kind in ("hand", "all", "final")}
        hand, full, final = peaks["hand"], peaks["all"], peaks["final"]
        print(f"| {name} | {hand:.0f} | {full:.0f} | {final:.0f} | {full / hand:.2f} | {final / hand:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5, help="timings per figure (the fastest is shown)")
    parser.add_argument("--ends", action="store_true", help="the engine against a hand loop, 10^2 ... 10^6")
    parser.add_argument("--largest", type=int, default=1_000_000, help="--ends: the largest batch")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--problem", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child, args.problem, args.batch, args.steps)
    if args.ends:
        return ends(args)
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
