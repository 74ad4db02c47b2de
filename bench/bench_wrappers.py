"""Time per step of each taylorlr.torch rule against the bare optimizer (Adam), as ratios.

Two networks, float32, one CPU thread: the digits network of examples/train_digits.py
(64-32-10, minibatches of 64) and a 784-1024-256-10 MLP (1.07e6 parameters, batches of
128 random images). The bare step is torch's own loop (zero_grad, forward, backward,
Adam.step); each rule's step is TaylorLR.step(closure). Timings alternate bare and wrapped
runs, and the ratio is the median of the per-round ratios, so a slow moment of a shared
machine hits both alike.

    PYTHONPATH=. python bench/bench_wrappers.py [rounds]
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

from taylorlr.torch import TaylorLR

torch.set_num_threads(1)
RULES = ("fixed", "lagged", "retsinas", "value-gradient", "three-point", "exact", "line-search")


def digits_net() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))
    return model, torch.rand(64, 64), torch.randint(0, 10, (64,))


def big_mlp() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )  # fmt: skip
    return model, torch.rand(128, 784), torch.randint(0, 10, (128,))


def per_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, rule: str | None, steps: int) -> float:
    loss_fn = torch.nn.functional.cross_entropy
    adam = torch.optim.Adam(model.parameters(), lr=1e-4)
    closure = lambda: loss_fn(model(x), y)  # noqa: E731
    if rule is None:

        def step() -> None:
            adam.zero_grad()
            closure().backward()
            adam.step()
    else:
        wrapped = TaylorLR(adam, rule, gamma=0.1)

        def step() -> None:
            wrapped.step(closure)

    step()  # warm up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main(rounds: int) -> None:
    for name, make, steps in (
        ("digits 64-32-10 (2.4e3 params)", digits_net, 200),
        ("MLP 1.07e6 params", big_mlp, 10),
    ):
        model, x, y = make()
        n = sum(p.numel() for p in model.parameters())
        print(f"\n{name}: {n} parameters, batch {len(x)}, {rounds} rounds")
        print("| rule | bare Adam (ms/step) | wrapped (ms/step) | ratio (median) |")
        print("| --- | --- | --- | --- |")
        for rule in RULES:
            count = max(2, steps // 10) if rule == "line-search" else steps
            bare, wrapped, ratios = [], [], []
            for _ in range(rounds):
                b = per_step(make()[0], x, y, None, count)
                w = per_step(make()[0], x, y, rule, count)
                bare.append(b)
                wrapped.append(w)
                ratios.append(w / b)
            times = f"{1e3 * statistics.median(bare):.2f} | {1e3 * statistics.median(wrapped):.2f}"
            print(f"| {rule} | {times} | {statistics.median(ratios):.3f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
