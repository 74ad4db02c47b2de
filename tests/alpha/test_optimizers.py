"""Base optimizers: reference formulas, batching, validation, and array-api-strict parity."""

from __future__ import annotations

import numpy as np
import pytest

import taylorlr as tl
from taylorlr.alpha import optimizers as opt


def reference_directions(name: str, grads: list[np.ndarray], params: np.ndarray) -> list[np.ndarray]:
    """The textbook formulas, written out step by step for one parameter vector."""
    m = np.zeros_like(params)
    v = np.zeros_like(params)
    out = []
    for t, g in enumerate(grads, start=1):
        if name == "gd":
            w = g
        elif name in ("momentum", "nesterov"):
            m = 0.9 * m + g
            w = m if name == "momentum" else g + 0.9 * m
        elif name == "rmsprop":
            v = 0.9 * v + 0.1 * g**2
            w = g / (np.sqrt(v) + 1e-8)
        elif name == "adagrad":
            v = v + g**2
            w = g / (np.sqrt(v) + 1e-8)
        else:
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g**2
            w = (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
            if name == "adamw":
                w = w + 1e-4 * params
        out.append(w)
    return out


NAMES = tuple(opt.OPTIMIZERS)


def drive(optimizer: opt.Optimizer, grads: list, params):
    state = optimizer.init(params)
    out = []
    for g in grads:
        w, state = optimizer.direction(g, state, params)
        out.append(w)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_directions_match_the_reference_formulas(name):
    rng = np.random.default_rng(0)
    params = rng.normal(size=3)
    grads = [rng.normal(size=3) for _ in range(5)]
    got = drive(opt.resolve_optimizer(name), grads, params)
    for a, b in zip(got, reference_directions(name, grads, params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_batched_over_leading_axes_equals_the_loop(name):
    rng = np.random.default_rng(1)
    params = rng.normal(size=(2, 3, 4))
    grads = [rng.normal(size=(2, 3, 4)) for _ in range(4)]
    batched = drive(opt.resolve_optimizer(name), grads, params)
    for i in range(2):
        for j in range(3):
            single = drive(opt.resolve_optimizer(name), [g[i, j] for g in grads], params[i, j])
            for a, b in zip(batched, single, strict=True):
                np.testing.assert_array_equal(a[i, j], b)


@pytest.mark.parametrize("name", NAMES)
def test_array_api_strict_gives_the_same_numbers(name):
    xp = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(2)
    params = rng.normal(size=(3, 2))
    grads = [rng.normal(size=(3, 2)) for _ in range(4)]
    numpy_out = drive(opt.resolve_optimizer(name), grads, params)
    strict_out = drive(opt.resolve_optimizer(name), [xp.asarray(g) for g in grads], xp.asarray(params))
    for a, b in zip(numpy_out, strict_out, strict=True):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-14)


def test_adamw_is_adam_chained_with_decoupled_weight_decay():
    rng = np.random.default_rng(3)
    params = rng.normal(size=2)
    grads = [rng.normal(size=2) for _ in range(3)]
    decay = 0.3
    plain = drive(opt.adam(), grads, params)
    decayed = drive(opt.adamw(weight_decay=decay), grads, params)
    for a, b in zip(plain, decayed, strict=True):
        np.testing.assert_allclose(b, a + decay * params, rtol=1e-14)
    assert isinstance(opt.adamw().init(params), opt.ChainState)


def test_states_are_frozen_records():
    state = opt.adam().init(np.zeros(2))
    with pytest.raises(AttributeError):
        state.mu = None  # type: ignore[misc]


@pytest.mark.parametrize(
    ("factory", "options", "bad"),
    [
        (opt.momentum, {"beta": 1.0}, "1.0"),
        (opt.nesterov, {"beta": -0.1}, "-0.1"),
        (opt.rmsprop, {"decay": 1.5}, "1.5"),
        (opt.rmsprop, {"eps": 0.0}, "0.0"),
        (opt.adagrad, {"eps": -1.0}, "-1.0"),
        (opt.adam, {"b1": 2}, "2"),
        (opt.adam, {"b2": float("nan")}, "nan"),
        (opt.adamw, {"weight_decay": -1e-3}, "-0.001"),
    ],
)
def test_bad_hyperparameters_fail_at_construction_naming_the_value(factory, options, bad):
    with pytest.raises(tl.OptionError, match=bad):
        factory(**options)


def test_registry_and_custom_pairs():
    with pytest.raises(tl.OptionError, match="unknown optimizer 'sgd'"):
        opt.resolve_optimizer("sgd")
    with pytest.raises(tl.OptionError, match="bad options"):
        opt.resolve_optimizer("gd", beta=0.9)
    pair = (lambda p: opt.EmptyState(), lambda g, s, p: (2 * g, s))
    custom = opt.resolve_optimizer(pair)
    assert custom.direction(np.ones(1), opt.EmptyState(), None)[0].tolist() == [2.0]
    with pytest.raises(tl.OptionError, match="two callables"):
        opt.custom(1, 2)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arguments", "sentence"),
    [
        (("", opt.gd().init, opt.gd().direction), "an optimizer needs a name"),
        (("sign", opt.gd().init, None), "optimizer 'sign': an optimizer needs two callables"),
        (
            ("sign", opt.gd().init, opt.gd().direction, {"beta": "0.9"}),
            "hyperparameter 'beta' is '0.9', not a number",
        ),
    ],
)
def test_a_bad_optimizer_is_refused_with_a_sentence(arguments, sentence):
    with pytest.raises(tl.OptionError, match=sentence):
        opt.Optimizer(*arguments)


@pytest.mark.parametrize(("name", "nearest"), [("adma", "adam"), ("sgd", "gd"), ("nesterow", "nesterov")])
def test_a_mistyped_optimizer_name_gets_the_nearest_one(name, nearest):
    with pytest.raises(tl.OptionError, match=rf"unknown optimizer '{name}' \(did you mean '{nearest}'\?\)"):
        tl.run("x**2", [1.0], optimizer=name)
