"""A member's run does not depend on the batch around it: bit for bit, on both paths.

The batch sizes sit on both sides of every size the code ever cared about: the SIMD
loop's LANES = 4 members per vector (1 ... 9) and the former 4096-member switch to the
fused step (4095, 4096, 4097). The member is put at every kind of position among
random other members, and compared with its run alone: points, alphas, oracle alphas,
losses, gradient norms, stopping step, status, counts and safeguard firings, with
``np.array_equal`` (NaN equal to NaN).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import taylorlr as tl

ROSENBROCK = "(1 - x)**2 + 100*(y - x**2)**2"
#: the issue's starts: uniform in [-2, 2]^2, seed 3 (members 0 ... 5 of them)
STARTS = np.random.default_rng(3).uniform(-2.0, 2.0, size=(4097, 2))
RUNS = {  # (optimizer, rule): what each path runs
    "gd-exact": ("gd", "exact"),
    "adam-three-point": ("adam", "three-point"),
}
PER_STEP = ("points", "alphas", "oracle_alphas", "losses", "grad_norms")


@functools.cache
def loss_of(text: str) -> tl.Loss:
    return tl.Loss(text)


def options(run: str, path: str, oracle: bool = True, steps: int = 40) -> dict:
    optimizer, rule = RUNS[run]
    return {
        "optimizer": optimizer,
        "rule": rule,
        "alpha0": 1e-3,
        "steps": steps,
        "path": path,
        "oracle": oracle,
    }


@functools.cache
def alone(text: str, member: int, run: str, path: str, oracle: bool = True, steps: int = 40) -> tl.Run:
    return tl.run(loss_of(text), STARTS[member], **options(run, path, oracle, steps))


def assert_member_equal(batched: tl.Run, k: int, single: tl.Run) -> None:
    for name in PER_STEP:
        mine = getattr(batched, name)[:, k]
        assert np.array_equal(mine, getattr(single, name), equal_nan=True), name
    assert batched.status[k] == single.status.item()
    assert batched.stopped_at[k] == single.stopped_at
    for record in ("counts", "safeguard_counts"):
        for field, value in getattr(single, record).to_dict().items():
            assert getattr(batched, record).to_dict()[field][k] == value, (record, field)


@pytest.mark.parametrize("path", ["auto", "generic"])
@pytest.mark.parametrize("run", sorted(RUNS))
@settings(max_examples=12)
@given(
    size=st.sampled_from([1, 2, 3, 4, 5, 7, 8, 9]),
    member=st.integers(0, 5),
    position=st.integers(0, 8),
    seed=st.integers(0, 2**16),
)
def test_a_member_runs_the_same_alone_and_in_any_batch(run, path, size, member, position, seed):
    position = min(position, size - 1)
    starts = np.random.default_rng(seed).uniform(-2.0, 2.0, size=(size, 2))
    starts[position] = STARTS[member]
    batched = tl.run(loss_of(ROSENBROCK), starts, **options(run, path))
    assert batched.settings["path"] == ("fused" if path == "auto" else "generic")
    assert_member_equal(batched, position, alone(ROSENBROCK, member, run, path))


@pytest.mark.parametrize(
    ("text", "path", "taken"),
    [
        (ROSENBROCK, "auto", "fused"),
        # the generic step on a smooth loss: its evaluations no longer change generator at 4096
        (ROSENBROCK, "generic", "generic"),
        # a loss the fused loop does not compile: auto takes the generic step at every size
        (ROSENBROCK + " + abs(x*y)/100", "auto", "generic"),
    ],
)
def test_no_batch_size_switches_the_numbers(text, path, taken):
    for size in (4095, 4096, 4097):
        batched = tl.run(loss_of(text), STARTS[:size], **options("gd-exact", path, oracle=False, steps=30))
        assert batched.settings["path"] == taken
        for member in (0, 3, 4094):
            assert_member_equal(batched, member, alone(text, member, "gd-exact", path, False, 30))


def test_a_hyperparameter_grid_member_runs_as_it_does_alone():
    alpha0 = np.array([[1e-3], [3e-2], [0.5]])
    grid = tl.run(loss_of(ROSENBROCK), STARTS[:5], "gd", "retsinas", alpha0=alpha0, steps=30)
    single = tl.run(loss_of(ROSENBROCK), STARTS[2], "gd", "retsinas", alpha0=3e-2, steps=30)
    for name in PER_STEP:
        assert np.array_equal(getattr(grid, name)[:, 1, 2], getattr(single, name), equal_nan=True)
    assert grid.safeguard_counts.to_dict()["factor_max"][1][2] == single.safeguard_counts.factor_max


def test_the_paths_agree_after_one_step_and_drift_apart_on_a_chaotic_problem():
    # what docs/rules.md says: 1e-13 relative after one step; over 60 steps on Rosenbrock the
    # ulps between the paths grow like any perturbation of the start
    loss = loss_of(ROSENBROCK)

    def both(steps):
        return [
            tl.run(loss, STARTS[:256], **options("gd-exact", p, False, steps)) for p in ("generic", "fused")
        ]

    generic, fused = both(1)
    # points relative to the member's own scale (a coordinate near 0 has no relative accuracy)
    scale = np.abs(generic.points).max(axis=-1, keepdims=True)
    assert (np.abs(fused.points - generic.points) <= 1e-13 * scale).all()
    for name in ("alphas", "losses", "grad_norms"):
        np.testing.assert_allclose(getattr(fused, name), getattr(generic, name), rtol=1e-13, atol=0)
    generic, fused = both(60)
    apart = np.abs(fused.points[-1] - generic.points[-1]).max(axis=-1) > 1e-6
    assert apart.sum() >= 10
