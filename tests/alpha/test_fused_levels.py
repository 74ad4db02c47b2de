"""The fused step of a large loss is built unoptimised for a small run and optimised for a large
one (``fused.OPTIMISE_WORK``): the level is a matter of time only, never of a member's numbers.

The Rosenbrock step is a small loop; here every loop counts as large
(``simd_codegen.LARGE_LOOP_INSTRUCTIONS`` = 1) and the work that asks for optimisation is 2,000
member-steps, so that both builds happen on a cheap loss.
"""

from __future__ import annotations

import numpy as np
import pytest

import taylorlr as tl
from taylorlr.alpha import fused
from taylorlr.compile import simd_codegen

ROSENBROCK = "(1 - x)**2 + 100*(y - x**2)**2"
STARTS = np.random.default_rng(3).uniform(-2.0, 2.0, size=(40, 2))
FIELDS = ("points", "alphas", "losses", "grad_norms", "status", "stopped_at")


def step_level(loss: tl.Loss) -> int:
    (kernel,) = fused._KERNELS[id(loss.compile())].values()
    assert isinstance(kernel, fused.StepKernel)
    return kernel.step.level


def a_run(loss: tl.Loss, starts: np.ndarray, steps: int) -> tl.Run:
    return tl.run(loss, starts, "gd", "three-point", alpha0=1e-3, steps=steps, oracle=False, path="fused")


@pytest.fixture
def large_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simd_codegen, "LARGE_LOOP_INSTRUCTIONS", 1)
    monkeypatch.setattr(fused, "OPTIMISE_WORK", 2000)


def first_members(run: tl.Run, name: str, like: np.ndarray) -> np.ndarray:
    """The first members' ``name`` in a larger batch, over the rows of ``like`` (time comes first)."""
    array = getattr(run, name)
    return array[: len(like), : like.shape[1]] if array.ndim >= 2 else array[: like.shape[0]]


@pytest.mark.usefixtures("large_loops")
def test_a_small_run_builds_a_large_step_unoptimised_and_a_large_run_optimises_it_with_the_same_bits():
    loss = tl.Loss(ROSENBROCK)
    small = a_run(loss, STARTS[:4], 50)  # 200 member-steps
    assert step_level(loss) == 0
    large = a_run(loss, STARTS, 50)  # 2,000 member-steps: optimised, once
    assert step_level(loss) == 3
    again = a_run(loss, STARTS[:4], 50)  # the optimised step serves the small run too
    assert step_level(loss) == 3
    for name in FIELDS:
        first, second = getattr(small, name), getattr(again, name)
        assert np.array_equal(first, second, equal_nan=name != "status"), name
        assert np.array_equal(first_members(large, name, first), first, equal_nan=name != "status"), name


def test_a_small_loop_is_optimised_whatever_the_run():
    loss = tl.Loss(ROSENBROCK)
    a_run(loss, STARTS[:4], 5)
    assert step_level(loss) == 3
