"""A point's compiled numbers do not depend on the batch it is evaluated in (issue 10's
reproducibility rule): the same bits at every batch size, on both sides of every lane and
former tier threshold (SIMD lanes of 4, the old LLVM tier at 4096 points), at every position."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from strategies import points, smooth_expressions

import taylorlr as tl
from taylorlr.compile.simd_codegen import LANES
from taylorlr.compile.simd_codegen import available as simd_available

GENERATORS = ["xp"] + (["simd"] if simd_available() else [])
SIZES = (1, 3, 4, 5, 4095, 4096, 4097)


def evaluations(f, W, V):
    value_and_grad, grad_and_hess = f.value_and_grad(W), f.grad_and_hess(W)
    return (f.value(W), f.grad(W), f.hess(W), f.hvp(W, V), *value_and_grad, *grad_and_hess)


@pytest.mark.parametrize("generator", GENERATORS)
@given(expr=smooth_expressions(), point=points(3), direction=points(3))
@settings(max_examples=12)
def test_a_points_numbers_are_the_same_bits_at_every_batch_size_and_position(
    generator, expr, point, direction
):
    assert LANES == 4  # the sizes above straddle one vector, and 4096
    f = tl.Loss(expr, variables=["x", "y", "z"]).compile(generator=generator)
    assert f.generator_used == generator
    w, v = np.array(point), np.array(direction)
    alone = evaluations(f, w, v)  # shape (3,): no batch at all
    rng = np.random.default_rng(0)
    others_w, others_v = rng.uniform(-2, 2, size=(max(SIZES), 3)), rng.normal(size=(max(SIZES), 3))
    for size in SIZES:
        for position in sorted({0, size // 2, size - 1}):
            W, V = others_w[:size].copy(), others_v[:size].copy()
            W[position], V[position] = w, v
            for single, batched in zip(alone, evaluations(f, W, V), strict=True):
                assert np.array_equal(single, batched[position], equal_nan=True), (size, position)


@pytest.mark.parametrize("generator", GENERATORS)
def test_a_broadcast_direction_gives_the_same_bits_as_a_full_one(generator):
    f = tl.Loss("sin(x*y) + exp(x - y**2)").compile(generator=generator)
    W = np.random.default_rng(2).uniform(-1, 1, size=(7, 2))
    v = np.array([0.3, -1.7])
    assert np.array_equal(f.hvp(W, v), f.hvp(W, np.tile(v, (7, 1))))
    assert np.array_equal(f.hvp(W[:, None, :], v).reshape(7, 2), f.hvp(W, v))


def test_auto_picks_one_generator_per_loss_whatever_the_batch():
    loss = tl.Loss("x**2 + 3*x*y**2")
    f = loss.compile()
    expected = "simd" if simd_available() else "xp"
    for size in (1, 4095, 4096, 10**5):
        f.value(np.zeros((size, 2)))
        assert f.generator_used == expected
    assert loss.compile(dtype="float32").generator_used == "xp"
    assert tl.Loss("a*x**2", data=["a"]).compile().generator_used == "xp"
