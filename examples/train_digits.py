"""Training a small network on scikit-learn's bundled digits with taylorlr's rules (PyTorch, CPU).

A 64-32-10 tanh network, cross-entropy, minibatches of 64 from the 1,437 training images
(the 8x8 digits that ship inside scikit-learn: nothing is downloaded), Adam as the base
optimizer. Each run starts from the same weights and sees the same batches:

* Adam at a constant learning rate (the bare optimizer);
* Adam with each adaptive rule setting its learning rate (gamma 0.1, from alpha0 = 1e-3);
* the minibatch line-search oracle (the exact minimiser of each batch's loss along Adam's step).

Prints the table of docs/training.md (final full-batch training loss, test accuracy, extra
passes per step) and draws the loss and alpha curves into docs/img/training_digits.png.

    python examples/train_digits.py [steps] [--no-plot]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from taylorlr.torch import TaylorLR

torch.set_num_threads(1)  # a network this small only loses time to threads

RULES = ("fixed", "exact", "retsinas", "value-gradient", "three-point", "lagged", "line-search")
LABELS = {"fixed": "constant lr 1e-3 (bare Adam)", "line-search": "line-search oracle"}
FIGURE = Path(__file__).resolve().parents[1] / "docs" / "img" / "training_digits.png"


def data() -> tuple[torch.Tensor, ...]:
    digits = load_digits()
    x = digits.data / 16.0
    x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.2, random_state=0)
    as_x = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return as_x(x_train), torch.tensor(y_train), as_x(x_test), torch.tensor(y_test)


def network() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))


def train(rule: str, steps: int, batch: int = 64) -> dict[str, object]:
    x, y, x_test, y_test = data()
    model = network()
    opt = TaylorLR(torch.optim.Adam(model.parameters(), lr=1e-3), rule, gamma=0.1)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(1))
    loss_fn = torch.nn.functional.cross_entropy
    full, start = [], time.perf_counter()
    for t in range(steps):
        idx = order[(t * batch) % len(x) :][:batch]
        if len(idx) < batch:
            idx = torch.cat([idx, order[: batch - len(idx)]])
        xb, yb = x[idx], y[idx]
        opt.step(lambda xb=xb, yb=yb: loss_fn(model(xb), yb))
        if t % 10 == 9 or t == steps - 1:
            with torch.no_grad():
                full.append((t + 1, float(loss_fn(model(x), y))))
    seconds = time.perf_counter() - start
    with torch.no_grad():
        accuracy = float((model(x_test).argmax(1) == y_test).float().mean())
    history = opt.history
    return {
        "rule": rule,
        "full": full,
        "alphas": [a[0] for a in history.alphas],
        "accuracy": accuracy,
        "passes": {k: v / steps for k, v in history.passes.items()},
        "rejected": history.rejected,
        "seconds": seconds,
    }


def table(results: list[dict[str, object]]) -> str:
    lines = [
        "| rule | final training loss | lowest (at step) | test accuracy | extra forward / backward / HVP "
        "per step | rejected steps | seconds |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        p = r["passes"]
        step, lowest = min(r["full"], key=lambda sl: sl[1])
        lines.append(
            f"| {LABELS.get(r['rule'], r['rule'])} | {r['full'][-1][1]:.4g} | {lowest:.4f} ({step}) | "
            f"{r['accuracy']:.3f} | {p['forward']:.1f} / {p['backward']:.1f} / {p['hvp']:.1f} | "
            f"{r['rejected']} | {r['seconds']:.1f} |"
        )
    return "\n".join(lines)


def plot(results: list[dict[str, object]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for r in results:
        label = LABELS.get(r["rule"], r["rule"])
        steps, losses = zip(*r["full"], strict=True)
        left.plot(steps, losses, label=label)
        right.plot(range(1, len(r["alphas"]) + 1), r["alphas"], label=label, lw=1)
    left.set(xlabel="step", ylabel="training loss (all 1,437 images)", yscale="log", title="loss")
    right.set(xlabel="step", ylabel="learning rate alpha_t", yscale="log", title="alpha")
    left.legend(fontsize=8)
    fig.suptitle("digits, 64-32-10 tanh network, Adam, minibatches of 64: taylorlr's rules (gamma 0.1)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str]) -> None:
    steps = int(next((a for a in argv if a.isdigit()), "600"))
    results = [train(rule, steps) for rule in RULES]
    print(f"digits, {steps} steps of minibatches of 64, Adam base optimizer, gamma 0.1, alpha0 1e-3")
    print(table(results))
    if "--no-plot" not in argv:
        plot(results, FIGURE)
        print(f"figure: {FIGURE.relative_to(FIGURE.parents[2])}")


if __name__ == "__main__":
    main(sys.argv[1:])
