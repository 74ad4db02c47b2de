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

SAMPLES, STEPS = 4096, 400
TRUE_W = np.array([1.0, -2.0, 0.5])


def make_data(rng: np.random.Generator) -> dict[str, np.ndarray]:
    phi = rng.normal(size=(3, SAMPLES)) * np.array([[1.0], [2.0], [0.5]])  # Phi: one column per sample
    y = TRUE_W @ phi + 0.1 * rng.normal(size=SAMPLES)
    return {"p1": phi[0], "p2": phi[1], "p3": phi[2], "y": y}


def minibatches(data: dict[str, np.ndarray], size: int) -> Iterator[dict[str, np.ndarray]]:
    """STEPS + 1 minibatches of ``size`` samples: one per step, and one for the last point."""
    rng = np.random.default_rng(1)
    for _ in range(STEPS + 1):
        pick = rng.choice(SAMPLES, size=size, replace=False)
        yield {name: column[pick] for name, column in data.items()}


def main() -> None:
    rng = np.random.default_rng(0)
    data = make_data(rng)
    loss = tl.Loss(
        "(p1*w1 + p2*w2 + p3*w3 - y)**2", variables=("w1", "w2", "w3"), data=("p1", "p2", "p3", "y")
    )
    phi = np.stack([data["p1"], data["p2"], data["p3"]])
    w_exact = np.linalg.lstsq(phi.T, data["y"], rcond=None)[0]
    full = loss.compile()
    f_exact = float(full.value(w_exact, **data))
    print(f"numpy.linalg.lstsq on all {SAMPLES} samples: w* = {np.round(w_exact, 6).tolist()}")
    print(f"L(w*) = {f_exact:.6g}")
    print()
    print("| data | rule | gamma | steps | status | last alpha | abs(w - w*) | L(w) - L(w*) on all data |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    cases = [  # batch size (None: all data, the deterministic form), rule, gamma
        (None, "exact", 1.0),
        (None, "retsinas", 1.0),
        (64, "retsinas", 1.0),
        (64, "retsinas", 0.1),
        (64, "value-gradient", 0.1),
        (64, "fixed", 1.0),
        (1024, "retsinas", 0.1),
    ]
    for size, rule, gamma in cases:
        feed = data if size is None else minibatches(data, size)
        result = tl.run(loss, [0.0, 0.0, 0.0], "gd", rule, alpha0=0.05, gamma=gamma, steps=STEPS, data=feed)
        w = result.points[-1]
        gap = float(full.value(w, **data)) - f_exact
        distance = float(np.linalg.norm(w - w_exact))
        form = "all" if size is None else f"minibatches of {size}"
        print(f"| {form} | {rule} | {gamma} | {int(result.stopped_at)} | {result.status.item().value} "
              f"| {float(result.alphas[-1]):.3g} | {distance:.3g} | {gap:.3g} |")  # fmt: skip
    print()
    print("On all data the rules reach the lstsq solution; on minibatches each step aims at its own")
    print("minibatch's minimum, so the runs stop at a noise floor that falls as the batches grow.")


if __name__ == "__main__":
    main()
