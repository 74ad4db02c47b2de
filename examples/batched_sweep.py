"""A batched sweep: 10^5 start points on Himmelblau's function, each routine called once.

Newton's method heads for the nearest stationary point of any kind (source 000:
the eigenvalues tell whether that is a minimum); an alpha rule around gradient
descent only goes down. Both run over all start points in one call, batched on
the leading axis, and the final points are sorted by the exact critical point
they reached. Run:

    python examples/batched_sweep.py [POINTS]
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

import taylorlr as tl

POINTS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
LOSS = "(x**2 + y - 11)**2 + (x + y**2 - 7)**2"
T = TypeVar("T")


def reached(finals: np.ndarray, critical: Sequence[tl.CriticalPoint]) -> Counter[str]:
    """How many final points lie within 1e-6 of each critical point (by kind and place)."""
    where = np.array([p.floats for p in critical])
    distance = np.linalg.norm(finals[:, None, :] - where[None, :, :], axis=-1)
    nearest, hit = distance.argmin(axis=1), distance.min(axis=1) <= 1e-6
    labels = [f"{p.kind} ({p.floats[0]:.3f}, {p.floats[1]:.3f})" for p in critical]
    counts = Counter(labels[i] for i in nearest[hit])
    counts["elsewhere (not converged)"] = int((~hit).sum())
    return counts


def timed(label: str, call: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = call()
    print(f"{label}: {time.perf_counter() - started:.2f} s for {POINTS:,} start points")
    return result


def main() -> None:
    loss = tl.Loss(LOSS)
    critical = loss.critical_points()
    starts = np.random.default_rng(0).uniform(-5.0, 5.0, size=(POINTS, 2))
    loss.compile()  # compile once, outside the timings
    step = timed("one Newton step", lambda: tl.newton_step(loss, starts))
    print("  Hessian at the start:", dict(Counter(str(c) for c in np.asarray(step.curvature).ravel())))
    newton = timed("Newton, up to 20 steps", lambda: tl.newton(loss, starts, steps=20))
    descent = timed(
        "gd + retsinas rule, up to 200 steps",
        lambda: tl.run(loss, starts, "gd", "retsinas", alpha0=1e-3, steps=200, oracle=False),
    )
    print()
    print("| reached | Newton | gd + retsinas |")
    print("| --- | --- | --- |")
    by_newton = reached(np.asarray(newton.point), critical)
    by_descent = reached(descent.points[-1], critical)
    for label in sorted(set(by_newton) | set(by_descent)):
        print(f"| {label} | {by_newton[label]} | {by_descent[label]} |")


if __name__ == "__main__":
    main()
