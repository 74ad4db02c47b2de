"""The stochastic (minibatch) form of the alpha rules on least squares, against the exact solution.

L(w) = ||Phi^T w - y||^2 / N, written per sample with data symbols: the features
p1, p2, p3 and the target y are declared as data, so the compiled loss takes them
as arrays and a new minibatch needs no recompilation. Step t of the stochastic
form evaluates theta_t and theta+ on the same minibatch L_t (source 003), and the
runs are measured against numpy.linalg.lstsq on all the data. Run:

    python examples/minibatch_least_squares.py
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

import taylorlr as tl

SAMPLES, BATCH, STEPS = 4096, 64, 400
TRUE_W = np.array([1.0, -2.0, 0.5])


def make_data(rng: np.random.Generator) -> dict[str, np.ndarray]:
    phi = rng.normal(size=(3, SAMPLES)) * np.array([[1.0], [2.0], [0.5]])  # Phi: one column per sample
    y = TRUE_W @ phi + 0.1 * rng.normal(size=SAMPLES)
    return {"p1": phi[0], "p2": phi[1], "p3": phi[2], "y": y}


def minibatches(data: dict[str, np.ndarray], rng: np.random.Generator) -> Iterator[dict[str, np.ndarray]]:
    """STEPS + 1 minibatches: one per step, and one for the last point."""
    for _ in range(STEPS + 1):
        pick = rng.choice(SAMPLES, size=BATCH, replace=False)
        yield {name: column[pick] for name, column in data.items()}


def main() -> None:
    rng = np.random.default_rng(0)
    data = make_data(rng)
    loss = tl.Loss("(p1*w1 + p2*w2 + p3*w3 - y)**2", variables=("w1", "w2", "w3"), data=("p1", "p2", "p3", "y"))
    phi = np.stack([data["p1"], data["p2"], data["p3"]])
    w_exact = np.linalg.lstsq(phi.T, data["y"], rcond=None)[0]
    full = loss.compile()
    f_exact = float(full.value(w_exact, **data))
    print(f"exact least squares (numpy.linalg.lstsq): w* = {np.round(w_exact, 6).tolist()}, L(w*) = {f_exact:.6g}")
    print()
    print("| form | rule | gamma | steps | status | abs(w - w*) | L(w) - L(w*) on all data |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    cases = [
        ("full batch", "exact", 1.0, data),
        ("full batch", "retsinas", 1.0, data),
        (f"minibatch {BATCH}", "retsinas", 0.1, None),
        (f"minibatch {BATCH}", "value-gradient", 0.1, None),
        (f"minibatch {BATCH}", "fixed", 1.0, None),
    ]
    for form, rule, gamma, fixed_data in cases:
        feed = fixed_data if fixed_data is not None else minibatches(data, np.random.default_rng(1))
        result = tl.run(loss, [0.0, 0.0, 0.0], "gd", rule, alpha0=0.05, gamma=gamma, steps=STEPS, data=feed)
        w = result.points[-1]
        gap = float(full.value(w, **data)) - f_exact
        distance = float(np.linalg.norm(w - w_exact))
        print(f"| {form} | {rule} | {gamma} | {int(result.stopped_at)} | {result.status.item().value} "
              f"| {distance:.3g} | {gap:.3g} |")  # fmt: skip


if __name__ == "__main__":
    main()
