"""Time per step of each taylorlr.torch rule against the bare optimizer (Adam), as ratios.

Two networks, float32, one CPU thread: the digits network of examples/train_digits.py
(64-32-10, minibatches of 64) and a 784-1024-256-10 MLP (1.07e6 parameters, batches of
128 random images). The bare step is torch's own loop (zero_grad, forward, backward,
Adam.step); each rule's step is TaylorLR.step(closure). Times are the process's CPU time
(one thread: on an idle machine the wall time; on a shared one it leaves out the time other
jobs hold the core). For each rule a bare and a wrapped run step in turn (the order swapped
every step), so a slow moment of a shared machine hits both alike; the ratio is the median
wrapped step over the median bare step of that same run.
``lagged`` runs in its default ("fast") mode and, for comparison, in its exact "zero" mode
(docs/training.md). Last, where lagged's time goes: each part of its step timed inside real
steps, and the passes it adds timed one by one in isolation.

    PYTHONPATH=. python bench/bench_wrappers.py [steps-per-rule on the MLP]

``lagged [runs] [steps]``: only lagged against the bare step, ``runs`` compares in a row on each
network (default 5 of 60 steps on the MLP, 20x as many on the digits net), with the load average
before and after, then lagged's parts: a shared machine swings from run to run, so the spread of
several runs is the figure to quote.

    PYTHONPATH=. python bench/bench_wrappers.py lagged 5 60
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from taylorlr.torch import TaylorLR, _all_finite, _pair_like

torch.set_num_threads(1)
#: (label, rule, options) of each row
ROWS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("fixed", "fixed", {}),
    ("lagged", "lagged", {}),
    ('lagged, direction="zero"', "lagged", {"direction": "zero"}),
    ("retsinas", "retsinas", {}),
    ("value-gradient", "value-gradient", {}),
    ("three-point", "three-point", {}),
    ("exact", "exact", {}),
    ("line-search", "line-search", {}),
)
GOAL = 1.05  # lagged: under 5% more than the bare step (issue 11)


def digits_net() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))
    return model, torch.rand(64, 64), torch.randint(0, 10, (64,))


def big_mlp(batch: int = 128) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )  # fmt: skip
    return model, torch.rand(batch, 784), torch.randint(0, 10, (batch,))


Network = Callable[[], tuple[torch.nn.Module, torch.Tensor, torch.Tensor]]


def stepper(make: Network, rule: str | None, options: dict[str, str]) -> Callable[[], None]:
    """One training step of a fresh network: bare Adam (rule None) or Adam wrapped by the rule."""
    model, x, y = make()
    adam = torch.optim.Adam(model.parameters(), lr=1e-4)
    closure = lambda: torch.nn.functional.cross_entropy(model(x), y)  # noqa: E731
    if rule is None:

        def step() -> None:
            adam.zero_grad()
            closure().backward()
            adam.step()

        return step
    wrapped = TaylorLR(adam, rule, gamma=0.1, **options)  # type: ignore[arg-type]

    def wrapped_step() -> None:
        wrapped.step(closure)

    return wrapped_step


def compare(make: Network, rule: str, options: dict[str, str], steps: int) -> tuple[float, float]:
    """Median seconds per step of the bare and the wrapped run, stepped in turn."""
    runs = (stepper(make, None, {}), stepper(make, rule, options))
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(steps + 2):
        for which in (0, 1) if i % 2 else (1, 0):
            start = time.process_time()
            runs[which]()
            if i >= 2:  # two warm-up steps each
                times[which].append(time.process_time() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def best(run: Callable[[], object], repeats: int = 50) -> float:
    """The fastest of ``repeats`` calls, in seconds."""
    run()
    fastest = math.inf
    for _ in range(repeats):
        start = time.process_time()
        run()
        fastest = min(fastest, time.process_time() - start)
    return fastest


def lagged_parts(steps: int) -> None:
    """Each part of lagged's fast step on the MLP inside real steps (median CPU ms), and the bare loop."""
    spent: dict[str, list[float]] = {}
    patched: list[tuple[Any, str, Any]] = []

    def timed(owner: Any, name: str, label: str) -> None:
        inner = getattr(owner, name)
        patched.append((owner, name, inner))

        def run(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                spent.setdefault(label, []).append(time.process_time() - start)

        setattr(owner, name, run)

    model, x, y = big_mlp()
    adam = torch.optim.Adam(model.parameters(), lr=1e-4)
    wrapped = TaylorLR(adam, "lagged", gamma=0.1)
    parts = {
        "the closure: forward, backward": (wrapped, "_evaluate"),
        "finiteness check of the gradient (1 read)": (wrapped, "_check_finite"),
        "the probe, Adam's step included": (wrapped, "_fast_probe"),
        "Adam's step (in the probe)": (adam, "step"),
        "both inner products (2 reads), clearing the spent buffer (1 write)": (wrapped._fast, "settle"),
        "  of which the matrix-vector product (torch.mv)": (torch, "mv"),
        "the move (2 reads, 1 write)": (wrapped._fast, "move"),
        "the core's next_alpha (Python, float64 scalars)": (wrapped, "_update"),
        "the rising-loss test": (wrapped, "_lagged_rejects"),
    }
    for label, (owner, name) in parts.items():
        spent[label] = []  # printed in this order
        timed(owner, name, label)
    closure = lambda: torch.nn.functional.cross_entropy(model(x), y)  # noqa: E731
    for _ in range(steps + 2):
        timed_step = time.process_time()
        wrapped.step(closure)
        spent.setdefault("the whole step", []).append(time.process_time() - timed_step)
    for owner, name, inner in patched:
        setattr(owner, name, inner)
    model, x, y = big_mlp()
    adam = torch.optim.Adam(model.parameters(), lr=1e-4)
    bare: dict[str, list[float]] = {"forward, backward": [], "Adam's step": []}
    for _ in range(steps + 2):
        start = time.process_time()
        adam.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        middle = time.process_time()
        adam.step()
        bare["forward, backward"].append(middle - start)
        bare["Adam's step"].append(time.process_time() - middle)
    print(f"\nlagged's step on the MLP, part by part (median CPU ms over {steps} steps):")
    for label, times in spent.items():
        print(f"  {label}: {1e3 * statistics.median(times[2:]):.3f} ms")
    print("the bare loop, for comparison: " + ", ".join(
        f"{label} {1e3 * statistics.median(times[2:]):.3f} ms" for label, times in bare.items()
    ))  # fmt: skip


def lagged_passes() -> None:
    """What lagged's fast mode adds to the bare step on the MLP, pass by pass (fastest of 50)."""
    params = [p.detach().clone() for p in big_mlp()[0].parameters()]
    n = sum(p.numel() for p in params)
    pair = _pair_like(params).uniform_()  # the fast mode's two rows, as it allocates them
    views, k = [], 0
    for p in params:
        views.append(pair[1, k : k + p.numel()].view(p.shape))
        k += p.numel()
    check = lambda: _all_finite(params)  # noqa: E731
    parts = {
        "finiteness check of the gradient (1 read)": check,
        "zeroing the probe buffer (1 write)": pair[1].zero_,
        "<omega_{t+1}, omega_t> and <omega_{t+1}, omega_{t+1}> (one product, 2 reads)": lambda: torch.mv(
            pair, pair[1]
        ).tolist(),
        "the move theta += alpha (-omega) (2 reads, 1 write)": lambda: torch._foreach_add_(
            params, views, alpha=0.0
        ),
    }
    print(f"\nlagged's fast mode, its passes over the {n} parameters in isolation (fastest of 50 calls):")
    for label, run in parts.items():
        print(f"  {label}: {1e3 * best(run):.3f} ms")
    small = [stepper(digits_net, rule, {}) for rule in (None, "lagged")]
    python = best(small[1], 300) - best(small[0], 300)
    print(f"  the wrapper's Python (lagged - bare step on the digits net): {1e3 * python:.3f} ms")


def lagged_by_batch(steps: int) -> None:
    """lagged against the bare step on the MLP at several batch sizes: its passes cost the same
    at every batch, the forward and backward grow with it."""
    print("\nlagged on the MLP by batch size (the ratio as above, one compare per batch):")
    print("| batch | bare Adam (ms/step) | lagged (ms/step) | lagged - bare (ms) | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for batch in (32, 64, 128, 256, 512):
        bare, wrapped = compare(lambda b=batch: big_mlp(b), "lagged", {}, steps)  # type: ignore[misc]
        cells = (
            f"{1e3 * bare:.2f}",
            f"{1e3 * wrapped:.2f}",
            f"{1e3 * (wrapped - bare):.2f}",
            f"{wrapped / bare:.3f}",
        )
        print(f"| {batch} | " + " | ".join(cells) + " |")


def main(steps: int) -> None:
    for name, make, count in (
        ("digits 64-32-10 (2.4e3 params)", digits_net, 20 * steps),
        ("MLP 1.07e6 params", big_mlp, steps),
    ):
        model, x, _ = make()
        n = sum(p.numel() for p in model.parameters())
        print(f"\n{name}: {n} parameters, batch {len(x)}, {count} steps per rule (line-search: a tenth)")
        print("| rule | bare Adam (ms/step) | wrapped (ms/step) | ratio |")
        print("| --- | --- | --- | --- |")
        lagged = None
        for label, rule, options in ROWS:
            n_steps = max(4, count // 10) if rule == "line-search" else count
            bare, wrapped = compare(make, rule, options, n_steps)
            print(f"| {label} | {1e3 * bare:.2f} | {1e3 * wrapped:.2f} | {wrapped / bare:.3f} |")
            lagged = wrapped / bare if label == "lagged" else lagged
    assert lagged is not None
    verdict = "met" if lagged < GOAL else "NOT met"
    print(f"\nlagged on the MLP: {lagged:.3f} x the bare step of the same run (goal < {GOAL}: {verdict})")
    lagged_by_batch(count)
    lagged_parts(count)
    lagged_passes()


def lagged_runs(runs: int, steps: int) -> None:
    """lagged (fast mode) against the bare step, ``runs`` compares on each network, and its parts."""
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, make, count in (
        ("digits 64-32-10", digits_net, 20 * steps),
        ("MLP 1.07e6 params", big_mlp, steps),
    ):
        ratios = []
        print(f"\n{name}, {count} steps per compare: bare Adam, lagged (ms/step), ratio")
        for _ in range(runs):
            bare, wrapped = compare(make, "lagged", {}, count)
            ratios.append(wrapped / bare)
            cells = f"{1e3 * bare:.3f} {1e3 * wrapped:.3f} {1e3 * (wrapped - bare):+.3f} ms"
            print(f"  {cells}  {wrapped / bare:.3f}")
        print(f"  ratio: median {statistics.median(ratios):.3f}, range {min(ratios):.3f}-{max(ratios):.3f}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    lagged_parts(steps)
    lagged_passes()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "lagged":
        lagged_runs(*(int(a) for a in sys.argv[2:4]) if len(sys.argv) > 2 else (5, 60))  # type: ignore[call-arg]
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 60)
