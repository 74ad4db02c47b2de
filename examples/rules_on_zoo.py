"""The four alpha rules of source 003 on Rosenbrock, Beale and Himmelblau: one table.

Each rule wraps gradient descent from the problem's classic start (alpha0 = 1e-3,
gamma = 1, the default safeguards), and
:func:`taylorlr.compare` measures every run against the exact minimisers (from
``loss.critical_points()``) and against the line-search oracle's alpha at every
step. Run:

    python examples/rules_on_zoo.py
"""

from __future__ import annotations

import time

import taylorlr as tl

RULES = ("exact", "retsinas", "value-gradient", "three-point")
OPTIMIZERS = ("gd",)
PROBLEMS = {
    "rosenbrock": ("(1 - x)**2 + 100*(y - x**2)**2", (-1.2, 1.0)),
    "beale": ("(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2", (1.0, 1.0)),
    "himmelblau": ("(x**2 + y - 11)**2 + (x + y**2 - 7)**2", (0.5, 0.5)),
}
STEPS = 500


def main() -> None:
    started = time.perf_counter()
    print("| problem | rule | optimizer | status | steps to 1e-6 | f - f* | mean alpha error | evaluations |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, (text, start) in PROBLEMS.items():
        table = tl.compare(tl.Loss(text), start, RULES, OPTIMIZERS, steps=STEPS, alpha0=1e-3)
        for row in table.rows:
            reached = "-" if row.iterations_to_tol is None else str(row.iterations_to_tol)
            error = "-" if row.alpha_error_mean is None else f"{row.alpha_error_mean:.3g}"
            spent = ", ".join(f"{n} {k}" for k, n in row.evaluations.items() if n)
            print(
                f"| {name} | {row.rule} | {row.optimizer} | {row.status} | {reached} "
                f"| {row.final_gap:.3g} | {error} | {spent} |"
            )
    seconds = time.perf_counter() - started
    print(f"{len(PROBLEMS)} problems x {len(RULES)} rules x gd, {STEPS} steps at most")
    print(f"in {seconds:.1f} s (the line-search oracle is recorded at every step, for the alpha error)")


if __name__ == "__main__":
    main()
