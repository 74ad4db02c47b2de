"""taylorlr.optax against the exact engine: the same alphas and iterates as tl.run, jitted, in float64.

The twin of test_torch.py: the losses of training_problems.py written with jax.numpy, 50
jitted steps, 1e-10 against tl.run. In the transformation the inner optimizer only gives
omega (its updates at learning rate 1, read by one ravel) and the rule only reads omega, so
the cases run a diagonal: every rule once and every optimizer of the convention mapping
(docs/training.md) once, each pair in its own run; test_torch.py runs the full product.
(Each case is one XLA compilation, about 0.3-0.5 s.) float64 is switched on for this
module only and restored after it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")

import jax.numpy as jnp  # noqa: E402
from training_problems import CASES, SPD, agrees, discrepancy, engine  # noqa: E402

import taylorlr as tl  # noqa: E402
from taylorlr._training import ClosureError, ParameterError, extra_passes  # noqa: E402
from taylorlr.optax import taylor_lr  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def float64():
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


#: taylorlr optimizer -> (the optax transformation at learning rate 1, the taylorlr optimizer)
OPTAX = {
    "gd": (lambda: optax.sgd(1.0), "gd"),
    "momentum": (lambda: optax.sgd(1.0, momentum=0.9), "momentum"),
    "nesterov": (lambda: optax.sgd(1.0, momentum=0.9, nesterov=True), "nesterov"),
    "rmsprop": (lambda: optax.rmsprop(1.0, decay=0.9, eps=1e-8, eps_in_sqrt=False), "rmsprop"),
    # optax: g / sqrt(s + eps) (0 where s = 0); taylorlr: g / (sqrt(s) + eps): equal only at eps -> 0
    "adagrad": (
        lambda: optax.adagrad(1.0, initial_accumulator_value=0.0, eps=0.0),
        tl.optimizers.adagrad(eps=1e-300),
    ),
    "adam": (lambda: optax.adam(1.0), "adam"),
    "adamw": (lambda: optax.adamw(1.0, weight_decay=1e-4), "adamw"),
}

#: every rule once, every optimizer once (gd twice: the pure Newton rule with gamma 1)
DIAGONAL = [
    ("gd", "exact"),
    ("gd", "line-search"),
    ("momentum", "lagged"),
    ("nesterov", "three-point"),
    ("rmsprop", "value-gradient"),
    ("adagrad", "retsinas"),
    ("adam", "exact"),
    ("adamw", "fixed"),
]
CASES_OPTAX = {**CASES, ("gd", "line-search"): (SPD, 1.0)}


def train(problem, inner, rule, *, steps=50, alpha0=1e-3, **options):
    """The jitted optax run: (final state, alphas of each move, points)."""
    f = lambda w: problem.function(jnp, w)  # noqa: E731
    opt = taylor_lr(inner, rule, alpha0=alpha0, **options)

    @jax.jit
    def step(w, state):
        value, grad = jax.value_and_grad(f)(w)
        updates, state = opt.update(grad, state, w, value=value, value_fn=f)
        return optax.apply_updates(w, updates), state

    w = jnp.asarray(problem.start)
    state = opt.init(w)
    points, alphas = [np.asarray(w)], []
    for _ in range(steps):
        w, state = step(w, state)
        points.append(np.asarray(w))
        alphas.append(float(state.step_alpha))
    return state, np.array(alphas), np.array(points)


@pytest.mark.parametrize(("optimizer", "rule"), DIAGONAL)
def test_the_transformation_takes_the_engines_steps(optimizer, rule):
    problem, gamma = CASES_OPTAX[optimizer, rule]
    make, mine = OPTAX[optimizer]
    run = engine(problem, mine, rule, gamma=gamma)
    state, alphas, points = train(problem, make(), rule, gamma=gamma)
    da, dp = discrepancy(run, alphas, points, lagged=rule == "lagged")
    assert agrees(problem, mine, rule, da, dp, gamma=gamma), (problem.name, da, dp)
    if int(run.stopped_at) == 50 and (rule != "lagged" or run.safeguard_counts.totals()["rising_loss"] == 0):
        fired = dict(zip(tl.alpha.safeguards.FIRINGS, np.asarray(state.firings).tolist(), strict=True))
        assert fired == run.safeguard_counts.totals()
    per_step = extra_passes(tl.rules.resolve_rule(rule))
    if per_step is not None:  # every update evaluates what the rule needs, rejected or not
        assert np.asarray(state.passes).tolist() == [50 * per_step[k] for k in ("forward", "backward", "hvp")]


@pytest.mark.parametrize("rule", ["exact", "retsinas", "value-gradient", "three-point"])
def test_on_quadratics_alpha_next_is_the_exact_line_search(rule):
    """gamma 1, safeguards off, momentum: alpha_{t+1} = <g_t, omega_t> / omega_t^T A omega_t."""
    f = lambda w: SPD.function(jnp, w)  # noqa: E731
    hessian = np.asarray(jax.hessian(f)(jnp.asarray(SPD.start)))
    opt = taylor_lr(optax.sgd(1.0, momentum=0.9), rule, alpha0=1e-2, safeguards="none")

    @jax.jit
    def step(w, state):
        value, grad = jax.value_and_grad(f)(w)
        updates, state = opt.update(grad, state, w, value=value, value_fn=f)
        return optax.apply_updates(w, updates), state, grad

    w = jnp.asarray(SPD.start)
    state = opt.init(w)
    for _ in range(8):
        w, state, grad = step(w, state)
        omega = np.asarray(state.omega)
        expected = np.asarray(grad) @ omega / (omega @ hessian @ omega)
        assert math.isclose(float(state.alpha), expected, rel_tol=1e-9)


def test_extra_arguments_reach_value_fn_and_a_batch_is_the_same_at_theta_and_theta_plus():
    """The batch goes through extra_args, as optax's line searches take it."""
    X = jnp.asarray(np.random.default_rng(0).normal(size=(16, 3)))
    y = X @ jnp.asarray([1.0, -2.0, 0.5])

    def loss(w, batch):
        xb, yb = batch
        return jnp.mean((xb @ w - yb) ** 2)

    opt = taylor_lr(optax.sgd(1.0), "exact", alpha0=1e-2, safeguards="none")

    @jax.jit
    def step(w, state, batch):
        value, grad = jax.value_and_grad(loss)(w, batch)
        updates, state = opt.update(grad, state, w, value=value, value_fn=loss, batch=batch)
        return optax.apply_updates(w, updates), state, grad

    w = jnp.zeros(3)
    state = opt.init(w)
    for k in range(4):
        batch = (X[4 * k : 4 * k + 4], y[4 * k : 4 * k + 4])
        w, state, grad = step(w, state, batch)
        # exact rule, gradient descent, quadratic batch loss: alpha_{t+1} is that batch's line search
        A = 2 * batch[0].T @ batch[0] / 4
        assert math.isclose(float(state.alpha), float(grad @ grad / (grad @ A @ grad)), rel_tol=1e-9)


def test_a_nan_loss_is_a_counted_skip_and_nothing_moves():
    f = lambda w: jnp.sum(w**2) * jnp.nan  # noqa: E731
    opt = taylor_lr(optax.adam(1.0), "retsinas")
    w = jnp.ones(2)
    state = opt.init(w)
    value, grad = jax.value_and_grad(f)(w)
    updates, state = jax.jit(lambda g, s, w, v: opt.update(g, s, w, value=v, value_fn=f))(
        grad, state, w, value
    )
    assert np.all(np.asarray(updates) == 0) and int(state.nonfinite) == 1 and int(state.count) == 0


def test_a_nan_loss_at_theta_plus_is_a_counted_rejection():
    f = lambda w: jnp.where(w[0] < 0.5, jnp.nan, jnp.sum(w**2))  # noqa: E731
    opt = taylor_lr(optax.sgd(1.0), "exact", alpha0=0.4)
    w = jnp.asarray([1.0, 2.0])
    state = opt.init(w)
    value, grad = jax.value_and_grad(f)(w)
    updates, state = jax.jit(lambda g, s, w, v: opt.update(g, s, w, value=v, value_fn=f))(
        grad, state, w, value
    )
    assert np.all(np.asarray(updates) == 0) and int(state.rejected) == 1 and bool(state.retry)
    assert math.isclose(float(state.alpha), 0.04)


def test_missing_or_non_scalar_losses_are_refused():
    opt = taylor_lr(optax.sgd(1.0), "exact")
    w = jnp.ones(2)
    state = opt.init(w)
    with pytest.raises(ClosureError, match=r"value=f\(params\), value_fn=f"):
        opt.update(w, state, w)
    with pytest.raises(ClosureError, match=r"shape \(2,\).*\.mean\(\)"):
        opt.update(w, state, w, value=jnp.sum(w), value_fn=lambda v: v**2)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "int32"])
def test_half_precision_and_integer_parameters_are_refused(dtype):
    with pytest.raises(ParameterError, match="float32 or float64 parameters"):
        taylor_lr(optax.sgd(1.0)).init(jnp.ones(2, dtype=dtype))
