"""The tutorial of docs/tutorial.md, from one loss to a full comparison; it prints what the page shows.

Run:

    python examples/tutorial.py                      # the printout
    python examples/tutorial.py --figures docs/img   # and the page's figures (needs matplotlib)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import taylorlr as tl
from taylorlr.analysis.onestep import one_step_demo

HIMMELBLAU = "(x**2 + y - 11)**2 + (x + y**2 - 7)**2"
START = [0.5, 0.5]
RULES = ("exact", "retsinas", "value-gradient", "three-point", "line-search")


def section(title: str) -> None:
    print(f"\n== {title}")


def symbolic(loss: tl.Loss) -> None:
    section("1. the loss and its exact derivatives")
    print("variables:", loss.variables)
    print("gradient: ", list(loss.gradient))
    print("Hessian:  ", loss.hessian.tolist())
    print("Taylor polynomial of order 2 at (3, 2):", loss.taylor([3, 2], order=2))


def critical(loss: tl.Loss) -> None:
    section("2. every critical point, exact")
    points = loss.critical_points()
    print(f"status: {points.status} ({points.note}); counts: {points.counts()}")
    for p in points:
        coordinates = ", ".join(f"{c:9.6f}" for c in p.floats)
        eigenvalues = ", ".join(f"{e:.4g}" for e in p.eigenvalues)
        print(f"  ({coordinates})  {p.kind:8}  f = {float(p.value):8.4f}  eigenvalues {eigenvalues}")
    assert points.bounded_below is not None
    print("bounded below:", points.bounded_below.summary)


def newton(loss: tl.Loss) -> None:
    section("3. one Newton step from (0.5, 0.5)")
    step = tl.newton_step(loss, START)
    print(f"eigenvalues of H: {np.round(step.eigenvalues, 4).tolist()} -> curvature: {step.curvature}")
    print(f"new point: {np.round(step.point, 6).tolist()} (Newton heads for the nearest stationary point)")
    iterated = tl.newton(loss, START)
    print(f"iterated Newton: {np.round(iterated.point, 6).tolist()}, {iterated.status}")


def batched(loss: tl.Loss) -> None:
    section("4. compiled and batched")
    f = loss.compile()
    W = np.random.default_rng(0).uniform(-5, 5, size=(100_000, 2))
    print("value", f.value(W).shape, " grad", f.grad(W).shape, " hess", f.hess(W).shape)


def one_run(loss: tl.Loss) -> tl.Run:
    section("5. one run: gradient descent with the retsinas alpha rule")
    result = tl.run(loss, START, "gd", "retsinas", alpha0=1e-3, steps=300)
    last = int(result.stopped_at)
    print(f"status: {result.status.item().value} at step {last}; final point {result.points[last].tolist()}")
    # alpha_{t+1} is the rule's estimate of the exact line search along step t's direction
    print("rule's alpha_{t+1}, t = 0..5:", np.round(result.alphas[1:7], 4).tolist())
    print("oracle's alpha*_t,  t = 0..5:", np.round(result.oracle_alphas[0:6], 4).tolist())
    print("evaluations:", result.counts.totals())
    print("safeguards fired:", {k: v for k, v in result.safeguard_counts.totals().items() if v})
    return result


def comparison(loss: tl.Loss) -> None:
    section("6. a full comparison against the exact minimisers")
    table = tl.compare(loss, START, RULES, ("gd", "adam"), steps=300, alpha0=1e-3)
    print(f"reference: {table.reference}, {len(table.minimisers)} minimisers")
    print("| rule | optimizer | status | steps to 1e-6 | f - f* | mean alpha error | gradients |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in table.rows:
        reached = "-" if row.iterations_to_tol is None else row.iterations_to_tol
        error = "-" if row.alpha_error_mean is None else f"{row.alpha_error_mean:.3g}"
        print(
            f"| {row.rule} | {row.optimizer} | {row.status} | {reached} | {row.final_gap:.3g} "
            f"| {error} | {row.evaluations['gradients']} |"
        )


def figures(loss: tl.Loss, result: tl.Run, folder: Path) -> None:
    from taylorlr.report.plots import plot_contour, plot_onestep, plot_run

    section(f"figures in {folder}")
    runs = {rule: tl.run(loss, START, "gd", rule, alpha0=1e-3, steps=300) for rule in RULES[:4]}
    written = [folder / name for name in ("onestep.png", "himmelblau_contour.png", "himmelblau_run.png")]
    plot_onestep([one_step_demo(), one_step_demo(d="0.1")], written[0])  # each returns its Figure
    plot_contour(loss, written[1], loss.critical_points(), runs)
    plot_run(result, written[2])
    for path in written:
        print(f"  {path} ({path.stat().st_size // 1024} KiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", type=Path, help="also draw the page's figures into this folder")
    folder = parser.parse_args().figures
    loss = tl.Loss(HIMMELBLAU)
    symbolic(loss)
    critical(loss)
    newton(loss)
    batched(loss)
    result = one_run(loss)
    comparison(loss)
    if folder is not None:
        figures(loss, result, folder)


if __name__ == "__main__":
    main()
