"""Batched one-step Newton against its floor (by hand, not a test).

    python bench/bench_newton.py [--batch 100000] [--repeats 5]

The floor is what any batched Newton step must do: the gradient and Hessian from one
compiled kernel call (``Compiled.grad_and_hess``, the SIMD loop) and one stacked
``numpy.linalg.solve``. ``tl.newton_step`` also checks f, g and H for finiteness, labels
each member (curvature, conditioning, singular) and checks the solve's backward error; its
eigenvalues are computed only when read. So each line prints, measured in the same run, the
verdict alone against the floor (goal 1.5x), and the verdict with ``step.eigenvalues`` against
the floor plus ``numpy.linalg.eigvalsh`` (goal 1.2x): asked for up front
(``newton_step(..., eigenvalues=True)``), and read later from a step that was not told; and for
how many members the verdict needed ``eigvalsh`` (the certificates settled the others).
Fastest of ``--repeats``, taken in turn.

``--keep-heap`` first asks glibc's malloc (``mallopt``) to keep freed memory instead of
returning it to the system: then no call pays page faults for the temporaries of the one
before, which shows how much of the overhead over the floor is the allocator's (on Linux only).
``--parts`` also times, for n >= 3, what each part of the step with eigenvalues adds (the call
less the call with that part stubbed out). ``--cpu`` times this process's CPU
(``time.process_time``) instead of the wall clock: on a machine shared with other work it does not
count the time spent waiting for a core.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

import taylorlr as tl
from taylorlr.numerics import newton

LOSSES = {
    "rosenbrock 2-D": ("(1 - x1)**2 + 100*(x2 - x1**2)**2", 2),
    "quadratic 10-D": (" + ".join(f"{i + 1}*x{i}**2" for i in range(10)) + " + x0*x1 - x9", 10),
    # H = 2 I + (grad q)(grad q)^T / 5 + q H_q / 5 varies with the point and is dense: no member is
    # near-diagonal (the verdict's certificate settles none), and eigvalsh costs 4x the solve
    "dense 10-D": (
        " + ".join(f"x{i}**2" for i in range(10))
        + " + ("
        + " + ".join(f"{k % 3 + 1}*x{k}*x{(k + 1) % 10}" for k in range(10))
        + ")**2/10",
        10,
    ),
}


def floor(compiled: tl.Compiled, W: np.ndarray) -> None:
    """g and H from one kernel call, and one stacked solve."""
    g, H = compiled.grad_and_hess(W)
    np.linalg.solve(H, g[..., None])


def floor_and_eigenvalues(compiled: tl.Compiled, W: np.ndarray) -> None:
    g, H = compiled.grad_and_hess(W)
    np.linalg.solve(H, g[..., None])
    np.linalg.eigvalsh(H)


def verdict(loss: tl.Loss, W: np.ndarray) -> None:
    """The step and its labels (curvature, conditioning), eigenvalues not read."""
    assert tl.newton_step(loss, W).curvature is not None


def with_eigenvalues(loss: tl.Loss, W: np.ndarray) -> None:
    """The step, its labels and its eigenvalues, asked for up front (``eigenvalues=True``)."""
    assert tl.newton_step(loss, W, eigenvalues=True).eigenvalues is not None


def read_later(loss: tl.Loss, W: np.ndarray) -> None:
    """The step and its labels, then ``step.eigenvalues`` read afterwards (not asked for up front)."""
    assert tl.newton_step(loss, W).eigenvalues is not None


def fastest(loss: tl.Loss, W: np.ndarray, repeats: int, clock: Any = time.perf_counter) -> dict[str, float]:
    """The fastest of ``repeats`` timings of each candidate, taken in turn (the same load for all)."""
    compiled = loss.compile()
    candidates = {
        "floor": (floor, compiled),
        "floor + eigvalsh": (floor_and_eigenvalues, compiled),
        "verdict": (verdict, loss),
        "with eigenvalues": (with_eigenvalues, loss),
        "read later": (read_later, loss),
    }
    best = dict.fromkeys(candidates, float("inf"))
    for _ in range(repeats):
        for name, (action, first) in candidates.items():
            start = clock()
            action(first, W)
            best[name] = min(best[name], clock() - start)
    return best


def parts(loss: tl.Loss, W: np.ndarray, repeats: int, clock: Any) -> dict[str, float]:
    """What each part of the step with eigenvalues (n >= 3) costs: the call's fastest time less its
    fastest time with that part replaced by a stub (internal API; the results are then wrong, the
    time is what counts), candidates in turn."""
    from taylorlr.numerics import _solve, _spectrum

    size = W.shape[0]
    stubs = {
        "||H s - g||, ||g||, ||s||": [
            (_solve, "sums", lambda xp, H, g, s: (np.zeros(len(H)), np.ones(len(H)), np.ones(len(H))))
        ],
        "||H||_F": [(newton, "squares", lambda xp, a: np.ones(a.shape[0]))],
        "eigenvalue rule": [
            (_spectrum, "eigenvalue_rule", lambda xp, v, tol, dtype: (np.zeros(v.shape[0], bool),) * 4)
        ],
        "labels": [(newton, "_labels", lambda *masks: np.empty(size, dtype=object))],
    }
    best = dict.fromkeys(["whole call", *stubs], float("inf"))
    for _ in range(repeats):
        for name in best:
            patches = stubs.get(name, [])
            kept = [getattr(module, attribute) for module, attribute, _ in patches]
            for module, attribute, stub in patches:
                setattr(module, attribute, stub)
            try:
                start = clock()
                with_eigenvalues(loss, W)
                best[name] = min(best[name], clock() - start)
            finally:
                for (module, attribute, _), value in zip(patches, kept, strict=True):
                    setattr(module, attribute, value)
    return {name: best["whole call"] - t if name in stubs else t for name, t in best.items()}


def keep_heap() -> bool:
    """glibc: never trim the heap, and serve every block below 32 MiB from it (M_TRIM_THRESHOLD,
    M_MMAP_THRESHOLD): freed temporaries are reused by the next call, without page faults."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    trim, mmap = -1, -3
    return bool(libc.mallopt(trim, 2**30)) and bool(libc.mallopt(mmap, 2**25))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep-heap", action="store_true", help="keep freed memory (glibc mallopt)")
    parser.add_argument("--cpu", action="store_true", help="time this process's CPU, not the wall clock")
    parser.add_argument(
        "--parts", action="store_true", help="also time each part of the step with eigenvalues (n >= 3)"
    )
    options = parser.parse_args()
    heap = " (heap kept)" if options.keep_heap and keep_heap() else ""
    clock = time.process_time if options.cpu else time.perf_counter
    print(
        f"{options.batch} points, fastest of {options.repeats}{heap}, {'CPU' if options.cpu else 'wall'} time"
    )
    for name, (text, n) in LOSSES.items():
        loss = tl.Loss(text)
        W = np.random.default_rng(0).uniform(-2.0, 2.0, (options.batch, n))
        tl.newton_step(loss, W[:8])
        t = fastest(loss, W, options.repeats, clock)
        checked = tl.newton_step(loss, W).spectrum.checked.size
        print(
            f"{name:>15}: floor {t['floor']:.4f} s, newton_step verdict {t['verdict']:.4f} s = "
            f"{t['verdict'] / t['floor']:.2f}x (goal 1.5); floor + eigvalsh {t['floor + eigvalsh']:.4f} s, "
            f"with eigenvalues {t['with eigenvalues']:.4f} s = "
            f"{t['with eigenvalues'] / t['floor + eigvalsh']:.2f}x (goal 1.2), read later "
            f"{t['read later']:.4f} s = {t['read later'] / t['floor + eigvalsh']:.2f}x; "
            f"the verdict asked eigvalsh for {checked} of {options.batch} members"
        )
        if options.parts and n >= 3:
            cost = parts(loss, W, options.repeats, clock)
            print(
                f"{'':>15}  parts of the {cost.pop('whole call'):.4f} s with eigenvalues: "
                + ", ".join(f"{name} {seconds * 1e3:.1f} ms" for name, seconds in cost.items())
            )


if __name__ == "__main__":
    main()
