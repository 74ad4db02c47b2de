"""The line-search oracle's price: a run with it against the same run without (by hand, not a test).

    python bench/bench_oracle.py [--batch 100000] [--steps 20] [--repeats 3] [--symbolic] [--profile]
                                 [--parts] [--floor]

For polynomial losses (2-D Rosenbrock, a 10-D quadratic, 10-D extended Rosenbrock) it times
``tl.run(loss, starts, steps=...)`` with ``oracle=True`` and ``oracle=False`` in turn (the
fastest of ``--repeats`` each, taken in turn, so both see the same load) and prints the ratio of
the fastest, the median of each repeat's own ratio, and the oracle's own part of the run as the
run records it (``Run.oracle_seconds``: the oracle's calls, timed where they are made); the goal is
at most 2. The load average is printed first (the ratios are what to compare on a shared machine).
It also times the oracle's build on the costly losses of the issue (Watson n = 6,
Brown and Dennis): ``build_line_oracle`` (the degree; the root loop, compiled once
per process) and, with ``--symbolic``, the symbolic ``loss.line_polynomial()`` the oracle
derived before (28-32 s on Watson, 377 s on Brown and Dennis when measured for issue 14).
With ``--profile`` it also prints where the oracle's time goes on the run's own states (each step's
state as the fused path hands it to the oracle, one chunk for the whole batch): the first round's
loop and the later rounds, in CPU ns a member and step (the fastest of 5 calls each), and the share
of the members that look again (and of those the first round's common path defers to the whole
loop). With ``--parts`` (the quartic losses) it prints what each part of the first round's loop
adds: the loop (its common path, ``first_round_loop(lean=True)``) built again with that part left
out, on the same states, the loop with the whole choice instead, and the loop with two and with
four tiles a pass (the interleave that the gradient's size picks: ``SMALL_GRADIENT_OPS``). With
``--floor`` it prints what a cubic's minimiser costs at the least, in the same loop compiler (wall
ns a member, the fastest of 300 calls on 8,192 members' coefficients held in cache, two and four
tiles of 4 members a pass): its bare largest root (the reciprocal of b3, the depressed form, one
square root, the start from the binary exponents, the Halley steps: no guard, no other path), with
the polish on p and p' at the root, and the whole choice that the loop makes (every degree's path,
the guards, Fujiwara's bound).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import taylorlr as tl
from taylorlr.alpha import oracle
from taylorlr.problems import get

LOSSES = {
    "rosenbrock 2-D": ("(1 - x1)**2 + 100*(x2 - x1**2)**2", 2),
    "quadratic 10-D": (" + ".join(f"{i + 1}*x{i}**2" for i in range(10)) + " + x0*x1 - x9", 10),
    "ext. rosenbrock 10-D": (
        " + ".join(f"100*(x{2 * i + 2} - x{2 * i + 1}**2)**2 + (1 - x{2 * i + 1})**2" for i in range(5)),
        10,
    ),
}


def run_ratio(text: str, n: int, batch: int, steps: int, repeats: int) -> tuple[float, ...]:
    """(fastest run with the oracle, fastest without, the oracle's part of the fastest run with it:
    ``Run.oracle_seconds``) in seconds, the median of each repeat's ratio on / off, and the first
    run's seconds (8 starts, 2 steps: the loss compiled and the oracle built, as a user meets them)."""
    loss = tl.Loss(text)
    starts = np.random.default_rng(0).uniform(-2.0, 2.0, (batch, n))
    start = time.perf_counter()
    tl.run(loss, starts[:8], steps=2)  # compile (and build the oracle) outside the timings
    first = time.perf_counter() - start
    best = {True: float("inf"), False: float("inf")}
    spent = 0.0
    ratios = []
    for _ in range(repeats):
        elapsed = {}
        for with_oracle in (True, False):
            start = time.perf_counter()
            run = tl.run(loss, starts, steps=steps, tol=0.0, oracle=with_oracle)
            elapsed[with_oracle] = time.perf_counter() - start
            if elapsed[with_oracle] < best[with_oracle]:
                best[with_oracle] = elapsed[with_oracle]
                spent = run.oracle_seconds if with_oracle else spent
        ratios.append(elapsed[True] / elapsed[False])
    return best[True], best[False], spent, float(np.median(ratios)), first


def run_states(text: str, n: int, batch: int, steps: int) -> tuple[tl.Loss, list[np.ndarray]]:
    """The loss and each step's state as the fused path hands it to the oracle (one chunk)."""
    from taylorlr.alpha import _fused_run

    states = []
    chunk_oracle = _fused_run.ChunkOracle.__call__

    def keep(self: object, t: int, chunk: np.ndarray, members: slice) -> None:
        states.append(chunk.copy())
        chunk_oracle(self, t, chunk, members)

    loss = tl.Loss(text)
    starts = np.random.default_rng(0).uniform(-2.0, 2.0, (batch, n))
    block_bytes, _fused_run.BLOCK_BYTES = _fused_run.BLOCK_BYTES, 2**62
    _fused_run.ChunkOracle.__call__ = keep  # type: ignore[method-assign]
    try:
        tl.run(loss, starts, steps=steps, tol=0.0)
    finally:
        _fused_run.BLOCK_BYTES = block_bytes
        _fused_run.ChunkOracle.__call__ = chunk_oracle  # type: ignore[method-assign]
    return loss, states


def profile(text: str, n: int, batch: int, steps: int) -> str:
    """The oracle's first round and later rounds on the run's states (see the module's docs)."""
    from taylorlr.alpha import _tiles

    loss, states = run_states(text, n, batch, steps)
    line = oracle.build_line_oracle(loss, loss.compile())
    tiled = line.in_tiles(_tiles.tile_columns(_tiles.Layout(n, separate_grad=False)))
    first = later = 0.0
    again = deferred = 0
    for state in states:
        fastest = [float("inf"), float("inf")]
        for _ in range(5):
            start = time.process_time()
            alpha, rows, theta, omega, scale = tiled.first(state, batch)
            middle = time.process_time()
            if rows.size:
                tiled.later(theta, omega, rows, scale, alpha)
            fastest = [min(fastest[0], middle - start), min(fastest[1], time.process_time() - middle)]
        first, later, again = first + fastest[0], later + fastest[1], again + rows.size
        deferred += 0 if scale is None else int((scale < 0).sum())
    count = batch * len(states)
    return (
        f"first round {first / count * 1e9:5.1f} ns, later rounds {later / count * 1e9:5.1f} ns a member "
        f"and step; {(again - deferred) / count:.2%} look again, {deferred / count:.2%} deferred by the "
        "common path"
    )


def parts(text: str, n: int, batch: int, steps: int) -> str:
    """The first round's loop on the run's states with a part left out, each built afresh: what
    each part adds (CPU ns a member and step, the fastest of 5 calls a state). Leaving a part out
    shortens the loop's chain of dependent operations as much as it saves work, so the parts'
    figures need not add up to the whole."""
    import symengine as se

    from taylorlr.alpha import _line_roots as roots
    from taylorlr.alpha import _tiles

    loss, states = run_states(text, n, batch, steps)
    disowned = oracle.DISOWNED
    columns = _tiles.tile_columns(_tiles.Layout(n, separate_grad=False))
    nodes = np.cos(np.pi * (np.arange(4) + 0.5) / 4)
    d = loss.derivatives

    def timed(lean: bool = True, **patches: object) -> float:
        saved = {name: getattr(roots, name) for name in patches}
        for name, value in patches.items():
            setattr(roots, name, value)
        roots._first_round_loop.cache_clear()
        try:
            loop = roots.first_round_loop(
                d.gradient, d.variables, nodes, columns, 1e3, disowned, d.value, lean=lean
            )
        finally:
            for name, value in saved.items():
                setattr(roots, name, value)
            roots._first_round_loop.cache_clear()
        total = 0.0
        for state in states:
            found, scale = np.empty((1, len(state) * 4)), np.empty((1, len(state) * 4))
            fastest = float("inf")
            for _ in range(5):
                start = time.process_time()
                loop([state, found, scale])
                fastest = min(fastest, time.process_time() - start)
            total += fastest
        return total / (batch * len(states)) * 1e9

    def no_slope(gradient: object, variables: object, theta: object, omega: object) -> object:
        return lambda alpha: se.Integer(0) * alpha  # g' at alpha* taken as 0: no Newton step on it

    def unpolished(se_: object, b: list, best: object, floor: float) -> tuple:
        return best, b[1] + best * (2 * b[2] + best * 3 * b[3])

    def linear(b: list, floor: float) -> tuple:
        return -b[0] / b[1], b[1], se.Integer(1)

    common = timed()
    base = timed(rising_cubic_choice=linear)
    figures = {
        "the Halley steps": common - timed(RISE_STEPS=0),
        "the polish on p": common - timed(_polished=unpolished),
        "the true g' at alpha* and its Newton step": common - timed(_slope=no_slope),
    }
    shares = ", ".join(f"{name} {ns:4.1f}" for name, ns in figures.items())
    two, four = timed(SMALL_GRADIENT_OPS=-1), timed(SMALL_GRADIENT_OPS=10**9)  # every gradient small or not
    return (
        f"first round's loop {common:5.1f} ns (with the whole choice {timed(lean=False):5.1f}); its "
        f"coefficients and tail with a linear root {base:5.1f} ns; without a part, the common path less: "
        f"{shares}; two tiles a pass {two:5.1f} ns, four {four:5.1f} ns"
    )


def floor_figures() -> str:
    """The floor of a cubic's minimiser against the whole choice (see the module's docs)."""
    import symengine as se

    from taylorlr.alpha import _line_roots as roots
    from taylorlr.compile import simd_codegen as simd

    b = list(se.symbols("b0:4"))
    flags = roots._Flags(se)

    def bare(b: list) -> list:
        inverse = 1 / b[3]
        constant, linear, a = (roots._held(se, c * inverse, b[3]) for c in b[:3])
        p = linear - a * a / 3
        q = (2 * a * a * a - 9 * a * linear) / 27 + constant
        h = se.Piecewise((se.sqrt(-p / 3), se.Lt(p, 0)), (se.Integer(0), True))
        k = se.Max(p, se.Integer(0))
        gap = 2 * h * h * h - q
        d = roots._rise(se, flags, gap, h, k, roots._rise_start(se, flags, gap, h, k))
        return [-a / 3 + h + d]

    def polished(b: list) -> list:
        (t,) = bare(b)
        t = t - (b[0] + t * (b[1] + t * (b[2] + t * b[3]))) / (b[1] + t * (2 * b[2] + t * 3 * b[3]))
        return [t, b[1] + t * (2 * b[2] + t * 3 * b[3])]

    rows = np.random.default_rng(0).normal(size=(4, 8192)) * 10 ** np.random.default_rng(1).uniform(
        -2, 2, (4, 8192)
    )
    figures = []
    for name, outputs in (
        ("bare largest root", bare(b)),
        ("with the polish and p'", polished(b)),
        ("the whole choice", roots.roots_of_coefficients(b, 1 / roots.BELOW_REACH)),
    ):
        times = []
        for interleave in (2, 4):
            loop = simd.compile_loop(
                [simd.LoopArray("rows", reads=tuple(b)), simd.LoopArray("rows", writes=tuple(outputs))],
                interleave=interleave,
            )
            out = np.empty((len(outputs), rows.shape[1]))
            fastest = float("inf")
            for _ in range(300):
                start = time.perf_counter()
                loop([rows, out])
                fastest = min(fastest, time.perf_counter() - start)
            times.append(f"{fastest / rows.shape[1] * 1e9:5.2f}")
        figures.append(f"{name} {' / '.join(times)}")
    return "a cubic's minimiser, ns a member (two / four tiles a pass): " + "; ".join(figures)


def build_times(symbolic: bool) -> None:
    for name in ("watson", "brown_dennis"):
        problem = get(name, n=6) if name == "watson" else get(name)
        loss = problem.loss
        compiled = loss.compile()
        start = time.perf_counter()
        built = oracle.build_line_oracle(loss, compiled)
        print(
            f"{problem.title:>22}: oracle build {time.perf_counter() - start:8.3f} s ({built.method})", end=""
        )
        starts = np.asarray(problem.x0, dtype=float)[None, :]
        start = time.perf_counter()
        tl.run(loss, starts, steps=1)
        print(f"; a one-step run {time.perf_counter() - start:6.3f} s", end="")
        if symbolic:
            start = time.perf_counter()
            loss.line_polynomial()
            print(f"; symbolic line_polynomial() {time.perf_counter() - start:8.1f} s", end="")
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--symbolic", action="store_true", help="also time the old symbolic derivation")
    parser.add_argument("--profile", action="store_true", help="where the oracle's time goes")
    parser.add_argument("--parts", action="store_true", help="what each part of the first round's loop adds")
    parser.add_argument("--floor", action="store_true", help="what a cubic's minimiser costs at the least")
    options = parser.parse_args()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{options.batch} starts x {options.steps} steps, rule 'exact', gd; load average {load}")
    for name, (text, n) in LOSSES.items():
        on, off, spent, median, first = run_ratio(text, n, options.batch, options.steps, options.repeats)
        print(
            f"{name:>22}: oracle on {on:7.3f} s (the oracle {spent:6.3f} s of it), off {off:7.3f} s, "
            f"ratio {on / off:5.2f} (repeats' median {median:5.2f}; goal <= 2); first run {first:.2f} s"
        )
        if options.profile:
            print(f"{'':>24}{profile(text, n, options.batch, options.steps)}")
        if options.parts and n <= 10 and "rosenbrock" in name:
            print(f"{'':>24}{parts(text, n, options.batch, options.steps)}")
    if options.floor:
        print(floor_figures())
    build_times(options.symbolic)


if __name__ == "__main__":
    main()
