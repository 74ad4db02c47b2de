"""Benchmark: the first complete answer of ``critical_points`` against a SciPy root grid.

Run by hand (not part of the test suite):

    python bench/bench_critical.py            # every case, median of 3 runs each
    python bench/bench_critical.py --runs 5 --only himmelblau

For each loss it times, in the same run and alternating, both from the same parsed ``Loss``:

- *first answer*: ``critical_points(loss, wait=False)`` (derivatives, compile and kernels, the
  numeric search, the labels and the bounded-below probe; the exact solve, where it applies,
  keeps running in its worker and is not waited for);
- *SciPy grid*: the loss's compiled gradient and Hessian (compile and kernels inside the clock, as
  for taylorlr), then ``scipy.optimize.root`` (hybr, with the exact Jacobian, i.e. the Hessian)
  from every point of a grid of starts in [-box, box]^n, the roots deduplicated and labelled by
  their Hessian's eigenvalue signs (the rule taylorlr's numeric points use).

The "kernels given" columns time both again with the kernels each one calls built before the
clock (taylorlr: value, gradient with Hessian; the grid: gradient, Hessian). Until this bench
was made fair, the grid was given its kernels and taylorlr was not, and the grid did not label.
It prints the ratio first-answer / grid (target: at most 2) and whether taylorlr's numeric points
include every point the grid found, with the grid's label. With ``--exact`` it also times the exact refinement
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


def first_answer(text: str, kernels: bool) -> tuple[float, object]:
    """Seconds to the numeric answer (``wait=False``) from a parsed Loss; with ``kernels``, the
    kernels the search calls (value, gradient with Hessian) built before the clock."""
    loss = tl.Loss(text)
    if kernels:
        compiled = loss.compile()
        compiled.value(numpy.zeros(loss.n))
        compiled.grad_and_hess(numpy.zeros(loss.n))
    started = time.perf_counter()
    result = critical_points(loss, wait=False)
    seconds = time.perf_counter() - started
    result.cancel()  # the background exact solve is not measured here
    return seconds, result


def scipy_grid(text: str, kernels: bool) -> tuple[float, numpy.ndarray, list[str]]:
    """Seconds to the grid's labelled roots from a parsed Loss (its gradient and Hessian kernels
    built inside the clock unless ``kernels``), the roots, and their labels by eigenvalue signs."""
    from scipy.optimize import root

    loss = tl.Loss(text)
    if kernels:
        compiled = loss.compile()
        compiled.grad(numpy.zeros(loss.n))
        compiled.hess(numpy.zeros(loss.n))
    started = time.perf_counter()
    compiled = loss.compile()
    axis = numpy.linspace(-BOX, BOX, GRID[loss.n])
    found = []
    for start in itertools.product(axis, repeat=loss.n):
        solution = root(compiled.grad, numpy.asarray(start), jac=compiled.hess, tol=1e-12)
        if solution.success and numpy.abs(compiled.grad(solution.x)).max() < 1e-8:
            found.append(solution.x)
    roots = _distinct(numpy.asarray(found).reshape(-1, loss.n))
    labels = [_label(numpy.linalg.eigvalsh(compiled.hess(r))) for r in roots]
    return time.perf_counter() - started, roots, labels


def _label(eigenvalues: numpy.ndarray) -> str:
    """The label taylorlr's numeric points carry, by the same rule (a nearly singular H: inconclusive)."""
    if numpy.abs(eigenvalues).min() <= 1e-8 * max(1.0, float(numpy.abs(eigenvalues).max())):
        return "inconclusive"
    return "minimum" if eigenvalues[0] > 0 else "maximum" if eigenvalues[-1] < 0 else "saddle"


def _distinct(points: numpy.ndarray) -> numpy.ndarray:
    kept: list[numpy.ndarray] = []
    for p in points:
        if all(numpy.abs(p - q).max() > 1e-6 * (1 + numpy.abs(q).max()) for q in kept):
            kept.append(p)
    return numpy.asarray(kept).reshape(-1, points.shape[-1])


def covers(result: object, roots: numpy.ndarray, labels: list[str]) -> bool:
    """Whether taylorlr's numeric points include every grid root, with the grid's label."""
    ours = numpy.asarray([p.floats for p in result]).reshape(-1, roots.shape[-1])
    kinds = [str(p.kind) for p in result]
    for r, label in zip(roots, labels, strict=True):
        if not len(ours):
            return False
        gaps = numpy.abs(ours - r).max(axis=1)
        nearest = int(gaps.argmin())
        if gaps[nearest] >= 1e-6 * (1 + numpy.abs(r).max()) or kinds[nearest] != label:
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--exact", action="store_true", help="also time the exact refinement")
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--only", default="", help="the cases whose name contains this text")
    args = parser.parse_args()
    print(
        "| case | first answer (s) | SciPy grid (s) | ratio | kernels given: first answer (s) | grid (s) |"
        " ratio | grid roots | all found, same labels |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, text in CASES.items():
        if args.only.lower() not in name.lower():
            continue
        times: dict[str, list[float]] = {"fresh": [], "grid": [], "warm": [], "warm grid": []}
        for _ in range(args.runs):
            times["fresh"].append(first_answer(text, kernels=False)[0])
            times["grid"].append(scipy_grid(text, kernels=False)[0])
            seconds, result = first_answer(text, kernels=True)
            times["warm"].append(seconds)
            grid_seconds, roots, labels = scipy_grid(text, kernels=True)
            times["warm grid"].append(grid_seconds)
        a, b, w, c = (statistics.median(times[k]) for k in ("fresh", "grid", "warm", "warm grid"))
        print(
            f"| {name} | {a:.3f} | {b:.3f} | {a / b:.2f}x | {w:.3f} | {c:.3f} | {w / c:.2f}x |"
            f" {len(roots)} | {covers(result, roots, labels)} |"
        )
        if args.exact:
            started = time.perf_counter()
            exact = critical_points(tl.Loss(text), budget_s=args.budget)
            seconds = time.perf_counter() - started
            print(f"| exact refinement | {seconds:.2f} | {exact.refinement} | {exact.counts()} | | | | | |")


if __name__ == "__main__":
    main()
