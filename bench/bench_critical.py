"""Benchmark: the first complete answer of ``critical_points`` against a SciPy root grid.

Run by hand (not part of the test suite):

    python bench/bench_critical.py            # every case, median of 3 runs each
    python bench/bench_critical.py --runs 5

For each loss it times, in the same run and alternating:

- *first answer*: ``critical_points(loss, wait=False)`` on a fresh ``Loss`` (derivatives,
  compile, the numeric search and the bounded-below probe; the exact solve, where it applies,
  keeps running in its worker and is not waited for);
- *SciPy grid*: ``scipy.optimize.root`` (hybr, with the exact Jacobian, i.e. the Hessian) from
  every point of a grid of starts in [-box, box]^n, on the loss's compiled gradient and Hessian
  (compiled before the clock starts: the grid is given its functions for free), the roots
  deduplicated.

It prints the ratio first-answer / grid (target: at most 2) and whether taylorlr's numeric points
include every point the grid found. With ``--exact`` it also times the exact refinement
(``.refined()``) within ``--budget`` seconds and says whether it finished.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import numpy

import taylorlr as tl
from taylorlr.analysis.critical_points import critical_points

#: a dense quartic in 3 variables (every monomial of degree <= 4, small integer coefficients) and
#: a dense degree-6 polynomial in 2, both bounded below by their leading sums of even powers
DENSE_QUARTIC_3 = (
    "x**4 + y**4 + z**4 + x**2*y**2 - y**2*z**2 + x*y*z**2 - 2*x**3 + 3*y**3 - z**3 + x*y*z - 4*x**2"
    " - 3*y**2 - 2*z**2 + x*y - y*z + 2*x*z + x - y + z"
)
DEGREE_6_2 = "x**6 + y**6 - 3*x**4*y + 2*x**2*y**3 - 5*x**4 - 4*y**4 + x**3*y + 6*x**2 + 5*y**2 - x*y + x - y"
CASES = {
    "dense quartic, 3 variables": DENSE_QUARTIC_3,
    "degree-6 polynomial, 2 variables": DEGREE_6_2,
    "double well x^4 - 2x^2": "x**4 - 2*x**2",
    "source 001: x^2 + 3xy^2": "x**2 + 3*x*y**2",
    "Himmelblau": "(x**2 + y - 11)**2 + (x + y**2 - 7)**2",
    "Rosenbrock": "(1 - x)**2 + 100*(y - x**2)**2",
    "exp(x) - 2x + y^2 (numeric only)": "exp(x) - 2*x + y**2",
}
BOX = 5.0
GRID = {1: 64, 2: 16, 3: 8}  # starts per axis: 64, 256 and 512 starts


def first_answer(text: str, compiled: bool) -> tuple[float, object]:
    """Seconds to the numeric answer (``wait=False``) on a fresh Loss, compiled first or not."""
    loss = tl.Loss(text)
    if compiled:
        loss.compile()
    started = time.perf_counter()
    result = critical_points(loss, wait=False)
    seconds = time.perf_counter() - started
    result.cancel()  # the background exact solve is not measured here
    return seconds, result


def scipy_grid(text: str) -> tuple[float, numpy.ndarray]:
    from scipy.optimize import root

    loss = tl.Loss(text)
    compiled = loss.compile()
    compiled.grad(numpy.zeros(loss.n))
    compiled.hess(numpy.zeros(loss.n))
    axis = numpy.linspace(-BOX, BOX, GRID[loss.n])
    started = time.perf_counter()
    found = []
    for start in itertools.product(axis, repeat=loss.n):
        solution = root(compiled.grad, numpy.asarray(start), jac=compiled.hess, tol=1e-12)
        if solution.success and numpy.abs(compiled.grad(solution.x)).max() < 1e-8:
            found.append(solution.x)
    roots = _distinct(numpy.asarray(found).reshape(-1, loss.n))
    return time.perf_counter() - started, roots


def _distinct(points: numpy.ndarray) -> numpy.ndarray:
    kept: list[numpy.ndarray] = []
    for p in points:
        if all(numpy.abs(p - q).max() > 1e-6 * (1 + numpy.abs(q).max()) for q in kept):
            kept.append(p)
    return numpy.asarray(kept).reshape(-1, points.shape[-1])


def covers(result: object, roots: numpy.ndarray) -> bool:
    ours = numpy.asarray([p.floats for p in result]).reshape(-1, roots.shape[-1])
    return all(
        len(ours) and numpy.abs(ours - r).max(axis=1).min() < 1e-6 * (1 + numpy.abs(r).max()) for r in roots
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--exact", action="store_true", help="also time the exact refinement")
    parser.add_argument("--budget", type=float, default=30.0)
    args = parser.parse_args()
    print(
        "| case | first answer (s) | compiled first (s) | SciPy grid (s) | ratio | ratio compiled |"
        " grid roots | all found |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, text in CASES.items():
        fresh, warm, grid = [], [], []
        for _ in range(args.runs):
            fresh.append(first_answer(text, compiled=False)[0])
            seconds, result = first_answer(text, compiled=True)
            warm.append(seconds)
            grid_seconds, roots = scipy_grid(text)
            grid.append(grid_seconds)
        a, w, b = (statistics.median(x) for x in (fresh, warm, grid))
        print(
            f"| {name} | {a:.3f} | {w:.3f} | {b:.3f} | {a / b:.2f}x | {w / b:.2f}x | {len(roots)} | "
            f"{covers(result, roots)} |"
        )
        if args.exact:
            started = time.perf_counter()
            exact = critical_points(tl.Loss(text), budget_s=args.budget)
            seconds = time.perf_counter() - started
            print(f"| exact refinement | {seconds:.2f} | {exact.refinement} | {exact.counts()} | | | | |")


if __name__ == "__main__":
    main()
