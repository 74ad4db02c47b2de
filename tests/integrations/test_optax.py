"""taylorlr.optax against the exact engine: the same alphas and iterates as tl.run, jitted, in float64.

The twin of test_torch.py: the losses of training_problems.py written with jax.numpy, 50
jitted steps, 1e-10 against tl.run (or 10x the engine's own disagreement, as there), for
every rule taylor_lr runs x every optax optimizer of the convention mapping
(docs/training.md): the 42 pairs of test_torch.py on the same problems, and the line
search. XLA compilation is the cost, not the steps: the 50 steps are one lax.scan, and the
rules of one optimizer and problem are branches of one program (lax.switch), compiled once
(:func:`program`). float64 is switched on for this module only and restored after it.
"""

from __future__ import annotations

import functools
import inspect
import math

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")

import jax.numpy as jnp  # noqa: E402
from training_problems import CASES, LS, ROSEN2, SPD, agrees, discrepancy, engine  # noqa: E402

import taylorlr as tl  # noqa: E402
from taylorlr._training import ClosureError, ParameterError, extra_passes  # noqa: E402
from taylorlr.alpha.safeguards import FIRINGS  # noqa: E402
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

#: (optimizer, rule) -> (problem, gamma): every rule taylor_lr runs x every optimizer of OPTAX (49 pairs):
#: test_torch.py's 42 pairs on the same problems, and the line search on the SPD quadratic (the one
#: problem whose every line has one minimiser, which is what both searches find)
PAIRS = {**CASES, **{(name, "line-search"): (SPD, 1.0) for name in OPTAX}}


def scanned(problem, opt, *, steps=50):
    """w0 -> (points, states, gradients) of ``steps`` updates of ``opt`` on ``problem``, one lax.scan.

    points[k], states[k]: after step k + 1; gradients[k]: at the point step k + 1 started from.
    """
    f = lambda w: problem.function(jnp, w)  # noqa: E731

    def body(carry, _):
        w, state = carry
        value, grad = jax.value_and_grad(f)(w)
        updates, state = opt.update(grad, state, w, value=value, value_fn=f)
        w = optax.apply_updates(w, updates)
        return (w, state), (w, state, grad)

    return lambda w0: jax.lax.scan(body, (w0, opt.init(w0)), length=steps)[1]


@functools.cache
def program(optimizer, problem_name):
    """One jitted program for all the rules PAIRS runs with ``optimizer`` on that problem:
    lax.switch on the rule's index, each branch the 50 steps as one lax.scan.

    Compiling is the cost (about 0.25 s per rule and 0.2 s per program on one core; the 50
    steps themselves take milliseconds), so the rules of one optimizer and problem share it.
    """
    pairs = {
        rule: pg for (name, rule), pg in PAIRS.items() if name == optimizer and pg[0].name == problem_name
    }
    rules = sorted(pairs)
    make = OPTAX[optimizer][0]
    branches = [
        scanned(pairs[rule][0], taylor_lr(make(), rule, alpha0=1e-3, gamma=pairs[rule][1])) for rule in rules
    ]
    return rules, jax.jit(lambda w0, index: jax.lax.switch(index, branches, w0))


def train(problem, optimizer, rule):
    """The jitted optax run of PAIRS: (final state, alphas of each move, points, the start first)."""
    rules, run = program(optimizer, problem.name)
    w0 = jnp.asarray(problem.start)
    points, states, _ = run(w0, rules.index(rule))
    final = jax.tree.map(lambda leaf: leaf[-1], states)
    return final, np.asarray(states.step_alpha), np.concatenate([np.asarray(w0)[None], np.asarray(points)])


@pytest.mark.parametrize(("optimizer", "rule"), sorted(PAIRS))
def test_the_transformation_takes_the_engines_steps(optimizer, rule):
    problem, gamma = PAIRS[optimizer, rule]
    mine = OPTAX[optimizer][1]
    run = engine(problem, mine, rule, gamma=gamma)
    state, alphas, points = train(problem, optimizer, rule)
    da, dp = discrepancy(run, alphas, points, lagged=rule == "lagged")
    assert agrees(problem, mine, rule, da, dp, gamma=gamma), (problem.name, da, dp)
    if int(run.stopped_at) == 50 and (rule != "lagged" or run.safeguard_counts.totals()["rising_loss"] == 0):
        fired = dict(zip(tl.alpha.safeguards.FIRINGS, np.asarray(state.firings).tolist(), strict=True))
        assert fired == run.safeguard_counts.totals()
    per_step = extra_passes(tl.rules.resolve_rule(rule))
    if per_step is not None:  # every update evaluates what the rule needs, rejected or not
        assert np.asarray(state.passes).tolist() == [50 * per_step[k] for k in ("forward", "backward", "hvp")]


LINE_RULES = ("exact", "retsinas", "value-gradient", "three-point")


@functools.cache
def line_search_program(problem_name, optimizer):
    """The four rules' 8 steps on that quadratic, gamma 1, safeguards off: one program (lax.switch)."""
    problem = {p.name: p for p in (SPD, LS)}[problem_name]
    make = OPTAX[optimizer][0]
    branches = [
        scanned(problem, taylor_lr(make(), rule, alpha0=1e-2, safeguards="none"), steps=8)
        for rule in LINE_RULES
    ]
    return jax.jit(lambda w0, index: jax.lax.switch(index, branches, w0))


@pytest.mark.parametrize("rule", LINE_RULES)
@pytest.mark.parametrize(("problem", "optimizer"), [(SPD, "gd"), (LS, "momentum")])
def test_on_quadratics_alpha_next_is_the_exact_line_search(problem, optimizer, rule):
    """gamma 1, safeguards off: alpha_{t+1} = <g_t, omega_t> / omega_t^T A omega_t (closed form)."""
    f = lambda w: problem.function(jnp, w)  # noqa: E731
    hessian = np.asarray(jax.hessian(f)(jnp.asarray(problem.start)))
    run = line_search_program(problem.name, optimizer)
    _, states, grads = run(jnp.asarray(problem.start), LINE_RULES.index(rule))
    omegas, grads = np.asarray(states.omega), np.asarray(grads)
    expected = np.einsum("ki,ki->k", grads, omegas) / np.einsum("ki,ij,kj->k", omegas, hessian, omegas)
    np.testing.assert_allclose(np.asarray(states.alpha), expected, rtol=1e-9)


#: the convention mapping of docs/training.md with settings that are no one's default
CONVENTIONS = {
    "sgd momentum": (lambda: optax.sgd(1.0, momentum=0.5), tl.optimizers.momentum(0.5)),
    "sgd nesterov": (lambda: optax.sgd(1.0, momentum=0.5, nesterov=True), tl.optimizers.nesterov(0.5)),
    "rmsprop": (
        lambda: optax.rmsprop(1.0, decay=0.7, eps=1e-6, eps_in_sqrt=False),
        tl.optimizers.rmsprop(decay=0.7, eps=1e-6),
    ),
    "adagrad": (
        lambda: optax.adagrad(1.0, initial_accumulator_value=0.5, eps=0.0),
        tl.optimizers.adagrad(eps=1e-300, initial=0.5),
    ),
    "adam": (lambda: optax.adam(1.0, b1=0.8, b2=0.99, eps=1e-6), tl.optimizers.adam(0.8, 0.99, 1e-6)),
    "adamw": (
        lambda: optax.adamw(1.0, b1=0.8, b2=0.99, eps=1e-6, weight_decay=1e-2),
        tl.optimizers.adamw(0.8, 0.99, 1e-6, weight_decay=1e-2),
    ),
}


@functools.cache
def conventions_program():
    """All the mappings' runs in one jitted program (one compilation): name -> (points, states, grads)."""
    runs = {
        name: scanned(SPD, taylor_lr(make(), "retsinas", alpha0=1e-3, gamma=0.1), steps=30)
        for name, (make, _) in CONVENTIONS.items()
    }
    return jax.jit(lambda w0: {name: run(w0) for name, run in runs.items()})


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
def test_optax_conventions_map_to_taylorlr_optimizers(name):
    mine = CONVENTIONS[name][1]
    run = engine(SPD, mine, "retsinas", steps=30, gamma=0.1)
    points, states, _ = conventions_program()(jnp.asarray(SPD.start))[name]
    points = np.concatenate([np.asarray(SPD.start)[None], np.asarray(points)])
    da, dp = discrepancy(run, np.asarray(states.step_alpha), points)
    assert da <= 1e-10 and dp <= 1e-10, (da, dp)


@pytest.mark.parametrize(
    ("make", "mine"),
    [
        (lambda: optax.rmsprop(1.0, decay=0.9, eps=1e-2), tl.optimizers.rmsprop(0.9, 1e-2)),
        (
            lambda: optax.adagrad(1.0, initial_accumulator_value=0.0, eps=1e-2),
            tl.optimizers.adagrad(eps=1e-2),
        ),
    ],
    ids=["rmsprop", "adagrad"],
)
def test_optax_eps_inside_the_root_is_another_direction(make, mine):
    """optax's default rmsprop (eps_in_sqrt=True) and its adagrad take g / sqrt(v + eps):
    not taylorlr's g / (sqrt(v) + eps)."""
    grad = jnp.asarray([0.3, -0.02, 1.5, 0.001])
    omega = -np.asarray(make().update(grad, make().init(grad))[0])
    expected = np.asarray(mine.direction(np.asarray(grad), mine.init(np.asarray(grad)), None)[0])
    assert np.max(np.abs(omega - expected) / np.abs(expected)) > 1e-2


def test_optax_adamw_has_taylorlrs_default_weight_decay():
    default = inspect.signature(optax.adamw).parameters["weight_decay"].default
    assert default == tl.optimizers.adamw().hyperparameters["weight_decay"] == 1e-4


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


def one_step(f, rule, w, *, safeguards="default", alpha0=0.4, steps=1, jit=False):
    """``steps`` updates of gradient descent: (w, state). Op by op (jax.disable_jit) unless ``jit``:
    cheaper than compiling for a step or two, but not for the line search's 64 doublings."""
    opt = taylor_lr(optax.sgd(1.0), rule, alpha0=alpha0, safeguards=safeguards)
    w = jnp.asarray(w)
    state = opt.init(w)
    with jax.disable_jit(not jit):
        for _ in range(steps):
            value, grad = jax.value_and_grad(f)(w)
            updates, state = opt.update(grad, state, w, value=value, value_fn=f)
            w = optax.apply_updates(w, updates)
    return np.asarray(w), state


def nan_below(w):
    """|w|^2, NaN where w_0 < 0.5: from (1, 2), gradient descent at alpha 0.4 lands at (0.2, 0.4)."""
    return jnp.where(w[0] < 0.5, jnp.nan, jnp.sum(w**2))


@pytest.mark.parametrize("rule", ["exact", "retsinas", "value-gradient", "three-point"])
def test_with_the_guards_off_a_nan_at_theta_plus_undoes_the_move_and_keeps_alpha(rule):
    """Where torch raises NonFiniteLossError (nothing can raise inside jit): no NaN alpha, counted."""
    w, state = one_step(nan_below, rule, [1.0, 2.0], safeguards="none")
    assert w.tolist() == [1.0, 2.0] and float(state.alpha) == 0.4 and bool(state.retry)
    assert int(state.nonfinite) == 1 and int(state.rejected) == 0


@pytest.mark.parametrize(
    ("safeguards", "alpha", "rejected", "nonfinite"), [("default", 0.04, 1, 0), ("none", 0.4, 0, 1)]
)
def test_a_lagged_move_onto_a_nan_is_undone_at_the_next_step(safeguards, alpha, rejected, nonfinite):
    """lagged learns of the NaN at the next call: it undoes the move there (the rising-loss guard
    shrinking alpha, or, with the guards off, alpha kept) and retries along the same direction."""
    w, state = one_step(nan_below, "lagged", [1.0, 2.0], safeguards=safeguards, steps=2)
    np.testing.assert_allclose(w, np.array([1.0, 2.0]) - alpha * np.array([2.0, 4.0]), rtol=1e-15)
    assert math.isclose(float(state.step_alpha), alpha) and np.asarray(state.omega).tolist() == [2.0, 4.0]
    assert (int(state.count), int(state.rejected), int(state.nonfinite)) == (2, rejected, nonfinite)


@pytest.mark.parametrize(("safeguards", "alpha"), [("none", 0.4), ("default", 0.8)])
@pytest.mark.parametrize("rule", ["line-search", "exact"])
def test_a_line_without_a_minimum_keeps_alpha_with_the_guards_off(rule, safeguards, alpha):
    """f = w_0 + w_1 falls all along every line: the search finds no minimiser, and the exact rule's
    formula divides by a zero curvature; with the guards off no step, with them the curvature
    policy (grow: 2 alpha), as in tl.run."""
    w, state = one_step(jnp.sum, rule, [1.0, 2.0], safeguards=safeguards, jit=rule == "line-search")
    assert float(state.alpha) == alpha
    if safeguards == "none":
        assert w.tolist() == [1.0, 2.0] and int(state.nonfinite) == 1
    else:
        assert int(state.nonfinite) == 0 and int(np.asarray(state.firings)[FIRINGS.index("curvature")]) == 1


@jax.custom_jvp
def nan_gradient_below(w):
    """|w|^2, finite everywhere, with a NaN gradient where w_0 < 0.5."""
    return jnp.sum(w**2)


@nan_gradient_below.defjvp
def _nan_gradient_below_jvp(primals, tangents):
    (w,), (t,) = primals, tangents
    return jnp.sum(w**2), jnp.sum(jnp.where(w[0] < 0.5, jnp.nan, 2.0) * w * t)


@pytest.mark.parametrize("safeguards", ["default", "none"])
@pytest.mark.parametrize("rule", ["exact", "retsinas"])
def test_a_nan_gradient_at_theta_plus_undoes_the_move(rule, safeguards):
    """The loss at theta+ is finite, so the rising-loss guard does not fire; the next step could
    not start there: the move is undone, alpha kept, counted."""
    w, state = one_step(nan_gradient_below, rule, [1.0, 2.0], safeguards=safeguards)
    assert w.tolist() == [1.0, 2.0] and float(state.alpha) == 0.4 and bool(state.retry)
    assert int(state.nonfinite) == 1 and int(state.rejected) == 0


def test_value_and_value_fn_are_needed_by_every_rule_under_jit_too():
    w = jnp.ones(2)
    for rule in ("fixed", "lagged"):
        opt = taylor_lr(optax.sgd(1.0), rule)
        with pytest.raises(ClosureError, match="value_fn=f"):
            jax.jit(lambda g, s: opt.update(g, s, w))(w, opt.init(w))  # noqa: B023


def test_one_alpha_for_a_pytree_of_any_leaves_and_an_unused_leaf_stays():
    """A dict of a 1-vector, a 2x2 matrix and a leaf the loss does not read: the same steps as the
    flat vector, and the unused leaf never moves."""
    flat = lambda w: SPD.function(jnp, w[:4])  # noqa: E731
    tree = lambda p: SPD.function(jnp, jnp.concatenate([p["a"], p["b"].ravel()[:3]]))  # noqa: E731
    w, flat_state = one_step(flat, "exact", list(SPD.start) + [0.0], steps=3, alpha0=1e-2)
    start = {"a": jnp.asarray(SPD.start[:1]), "b": jnp.asarray([*SPD.start[1:], 0.0]).reshape(2, 2),
             "unused": jnp.asarray([5.0, -5.0])}  # fmt: skip
    opt = taylor_lr(optax.sgd(1.0), "exact", alpha0=1e-2)
    params, state = start, opt.init(start)
    with jax.disable_jit():
        for _ in range(3):
            value, grad = jax.value_and_grad(tree)(params)
            updates, state = opt.update(grad, state, params, value=value, value_fn=tree)
            params = optax.apply_updates(params, updates)
    np.testing.assert_allclose(np.asarray(params["a"]), w[:1], rtol=1e-14)
    np.testing.assert_allclose(np.asarray(params["b"]).ravel()[:3], w[1:4], rtol=1e-14)
    assert np.asarray(params["unused"]).tolist() == [5.0, -5.0]
    assert math.isclose(float(state.alpha), float(flat_state.alpha), rel_tol=1e-14)


def test_a_non_scalar_value_is_refused():
    opt = taylor_lr(optax.sgd(1.0), "exact")
    w = jnp.ones(2)
    with pytest.raises(ClosureError, match=r"value must be the scalar loss at params, got shape \(2,\)"):
        opt.update(w, opt.init(w), w, value=w, value_fn=lambda v: jnp.sum(v**2))


def test_a_step_written_for_optax_line_searches_runs_unchanged():
    """The call optax's zoom line search (here inside optax.lbfgs) takes, value, grad and value_fn
    as extra arguments, drives taylor_lr too."""
    f = lambda w: SPD.function(jnp, w)  # noqa: E731
    start = jnp.asarray(SPD.start)
    for opt in (optax.lbfgs(), taylor_lr(optax.sgd(1.0), "exact", alpha0=1e-2)):

        @jax.jit
        def step(w, state, opt=opt):
            value, grad = jax.value_and_grad(f)(w)
            updates, state = opt.update(grad, state, w, value=value, grad=grad, value_fn=f)
            return optax.apply_updates(w, updates)

        assert float(f(step(start, opt.init(start)))) < float(f(start))


def test_value_fn_gets_the_extra_arguments_its_signature_names():
    seen = {}

    def plain(w):
        return jnp.sum(w**2)

    def keywords(w, **kwargs):
        seen.update(kwargs)
        return jnp.sum(w**2)

    w = jnp.ones(2)
    for f in (plain, keywords):
        opt = taylor_lr(optax.sgd(1.0), "retsinas", alpha0=0.1)
        with jax.disable_jit():
            opt.update(2 * w, opt.init(w), w, value=f(w), value_fn=f, batch=3, other="x")
    assert seen == {"batch": 3, "other": "x"}


def test_the_line_search_takes_the_first_minimiser_along_the_ray():
    """Why the line-search pairs run on the SPD quadratic: on 2-D Rosenbrock from (-1.2, 1) the
    first line, along -grad, is a quartic with two minimisers; the wrapper brackets the slope from
    alpha = 0 and finds the first, where tl.run's oracle takes the lowest root of the line's
    polynomial (the other one here)."""
    f = lambda w: ROSEN2.function(jnp, w)  # noqa: E731
    start = jnp.asarray(ROSEN2.start)
    _, state = one_step(f, "line-search", list(ROSEN2.start), alpha0=1e-3, jit=True)
    mine = float(state.step_alpha)
    grad = np.asarray(jax.grad(f)(start))
    nodes = np.linspace(0.0, 0.02, 5)  # the quartic through 5 points, exactly up to rounding
    quartic = np.polynomial.Polynomial.fit(
        nodes, [float(f(start - a * grad)) for a in nodes], 4, domain=[0, 0.02], window=[0, 0.02]
    )
    stationary = sorted(r.real for r in quartic.deriv().roots() if abs(r.imag) < 1e-12)
    minimisers = [r for r in stationary if quartic.deriv(2)(r) > 0]
    assert len(minimisers) == 2 and math.isclose(mine, minimisers[0], rel_tol=1e-9)
    assert quartic(minimisers[1]) < quartic(minimisers[0])  # the other one is lower
