"""The run engine: convergence, honest statuses, batching, counts, the stochastic form, backends."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import zoo

import taylorlr as tl
from taylorlr.alpha.optimizers import OPTIMIZERS
from taylorlr.alpha.rules import RULES, resolve_rule

RULE_NAMES = (*RULES, "three-point(values)")
PROBLEMS = {p.name: p for p in (zoo.ROSENBROCK, zoo.BEALE, zoo.HIMMELBLAU)}
_LOSSES: dict[str, tl.Loss] = {}


def loss_of(text: str) -> tl.Loss:
    """One Loss per text, so kernels compile once per test session."""
    if text not in _LOSSES:
        _LOSSES[text] = tl.Loss(text)
    return _LOSSES[text]


def rule_args(name: str) -> dict:
    if name == "three-point(values)":
        return {"rule": "three-point", "rule_options": {"numerator": "values"}}
    return {"rule": name}


def test_gd_with_the_exact_rule_reaches_the_minimiser_of_a_strongly_convex_quadratic():
    loss = loss_of("3*x**2 + 2*x*y + 2*y**2 - 4*x + y + z**2/2 - z*y/3")
    a = np.array([[6, 2, 0], [2, 4, -1 / 3], [0, -1 / 3, 1]])
    minimiser = np.linalg.solve(a, [4, -1, 0])
    result = tl.run(loss, [[2.0, -1.0, 3.0], [-5.0, 4.0, 0.5]], "gd", "exact", steps=200, tol=1e-10)
    assert all(s is tl.Status.CONVERGED for s in result.status)
    np.testing.assert_allclose(result.points[-1], np.broadcast_to(minimiser, (2, 3)), atol=1e-9)


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("rule", RULE_NAMES)
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_status_matches_what_happened(problem, rule, optimizer):
    p = PROBLEMS[problem]
    loss, tol, steps = loss_of(p.text), 1e-6, 60
    starts = np.array([p.start, (0.5, -0.5)])
    result = tl.run(
        loss, starts, optimizer, steps=steps, tol=tol, alpha0=1e-3, oracle=False, **rule_args(rule)
    )
    grads = np.linalg.norm(loss.compile().grad(result.points[-1]), axis=-1)
    last = int(result.stopped_at.max())  # the history ends at the batch's last valid step
    assert result.points.shape == (last + 1, 2, 2) and result.oracle_alphas.shape == (last, 2)
    for k, status in enumerate(result.status):
        stop = int(result.stopped_at[k])
        assert np.isfinite(result.points[: stop + 1, k]).all()
        np.testing.assert_array_equal(
            result.points[stop:, k], np.broadcast_to(result.points[stop, k], (last + 1 - stop, 2))
        )
        if status is tl.Status.CONVERGED:
            assert grads[k] <= tol
        elif status is tl.Status.MAX_STEPS:
            assert stop <= steps and grads[k] > tol
        elif status is tl.Status.ROSE:  # these losses are bounded below: no UNBOUNDED
            assert stop == steps and result.losses[stop, k] > result.losses[0, k]
        else:
            assert stop < steps


@pytest.mark.parametrize("rule", ["exact", "three-point", "lagged", "line-search"])
@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_a_batched_run_equals_the_loop_over_single_runs(rule, optimizer):
    loss = loss_of(zoo.BEALE.text)
    starts = np.array([[1.0, 1.0], [2.0, 0.2], [-1.0, 1.5]])
    alpha0 = np.array([[1e-3], [1e-2]])
    batched = tl.run(loss, starts, optimizer, rule, alpha0=alpha0, steps=25, tol=1e-7)
    for i in range(2):
        for j in range(3):
            single = tl.run(loss, starts[j], optimizer, rule, alpha0=float(alpha0[i, 0]), steps=25, tol=1e-7)
            for name in ("points", "alphas", "oracle_alphas", "losses"):
                np.testing.assert_array_equal(
                    getattr(batched, name)[:, i, j], getattr(single, name), err_msg=name
                )
            assert batched.status[i, j] is single.status.item()
            assert batched.stopped_at[i, j] == single.stopped_at
            assert batched.counts.values[i, j] == single.counts.values


@pytest.mark.parametrize("rule", RULE_NAMES)
def test_evaluation_counts_equal_the_rules_stated_cost(rule):
    loss = loss_of("x**2 + 3*y**2 + x*y")
    result = tl.run(
        loss,
        [[1.0, 2.0], [0.0, 0.0], [3.0, -1.0]],
        "gd",
        steps=30,
        tol=1e-9,
        safeguards="none",
        gamma=0.5,
        **rule_args(rule),
    )
    args = rule_args(rule)
    cost = resolve_rule(args["rule"], **args.get("rule_options", {})).cost()
    steps_taken = result.stopped_at
    assert result.status[1] is tl.Status.CONVERGED and steps_taken[1] == 0  # started at the minimum
    for name, per_step in cost.items():
        start = (
            1
            if name in ("values", "gradients")
            else (1 if name == "line_searches" and rule == "line-search" else 0)
        )
        np.testing.assert_array_equal(
            getattr(result.counts, name), start + per_step * steps_taken, err_msg=name
        )


def least_squares_minibatches(count: int, size: int = 8, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(count):
        a, b = rng.normal(size=size), rng.normal(size=size)
        batches.append({"a": a, "b": b, "y": 2 * a - b})  # noiseless: every L_t has its minimum at (2, -1)
    return batches


def test_stochastic_form_uses_one_proxy_loss_for_theta_and_theta_plus():
    loss = tl.Loss("(w1*a + w2*b - y)**2", variables=("w1", "w2"), data=("a", "b", "y"))
    steps = 12
    result = tl.run(
        loss,
        [0.0, 0.0],
        "gd",
        "exact",
        gamma=1.0,
        steps=steps,
        tol=1e-12,
        safeguards="none",
        data=least_squares_minibatches(steps + 1),
    )
    taken = int(result.stopped_at)
    # alpha_{t+1} is the exact line search of L_t along step t's direction: both used L_t
    np.testing.assert_allclose(result.alphas[1 : taken + 1], result.oracle_alphas[:taken], rtol=1e-10)
    np.testing.assert_allclose(result.points[taken], [2.0, -1.0], atol=1e-5)
    cost = resolve_rule("exact").cost(stochastic=True)
    assert int(result.counts.gradients) == 1 + cost["gradients"] * taken
    assert int(result.counts.hvps) == cost["hvps"] * taken


def test_one_repeated_minibatch_is_the_deterministic_run():
    loss = tl.Loss("(w1*a + w2*b - y)**2", variables=("w1", "w2"), data=("a", "b", "y"))
    batch = least_squares_minibatches(1)[0]
    fixed = tl.run(loss, [0.0, 0.0], "adam", "retsinas", steps=10, data=batch)
    repeated = tl.run(loss, [0.0, 0.0], "adam", "retsinas", steps=10, data=lambda t: batch)
    np.testing.assert_allclose(repeated.alphas, fixed.alphas, rtol=1e-13)
    assert int(repeated.counts.gradients) > int(fixed.counts.gradients)  # theta+ is evaluated twice


def test_too_few_minibatches_is_an_error():
    loss = tl.Loss("(w*a - y)**2", variables=("w",), data=("a", "y"))
    with pytest.raises(tl.OptionError, match="needs 6"):
        tl.run(loss, [0.0], rule="fixed", steps=5, data=[{"a": np.ones(2), "y": np.ones(2)}] * 3)


def test_blow_up_and_overflow_become_statuses_without_warnings():
    loss = loss_of("x**4 + y**2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = tl.run(
            loss,
            [[3.0, 1.0], [0.1, 0.1]],
            "gd",
            "fixed",
            alpha0=np.array([[1.0], [1e-3]]),
            steps=40,
            tol=1e-6,
        )
    assert result.status[0, 0] in (tl.Status.DIVERGED, tl.Status.NONFINITE)
    assert result.stopped_at[0, 0] < 40 and np.isfinite(result.points[:, 0, 0]).all()
    assert result.status[1, 1] is tl.Status.MAX_STEPS
    assert "lower alpha0" in result.status[0, 0].message


def test_the_rising_loss_guard_rejects_the_step_and_shrinks_alpha():
    loss = loss_of("x**2 + y**2")
    result = tl.run(loss, [1.0, 1.0], "gd", "exact", alpha0=1e3, steps=3)
    assert result.safeguard_counts.rising_loss >= 1
    np.testing.assert_array_equal(result.points[1], result.points[0])
    assert result.alphas[1] == pytest.approx(1e2)


def test_the_curvature_guard_fires_on_negative_curvature_only():
    concave = tl.run(loss_of("-(x**2) - y**2 + x**4 + y**4"), [0.1, 0.1], "gd", "exact", steps=3)
    assert int(concave.safeguard_counts.curvature) == 3
    convex = tl.run(loss_of("x**2 + y**2"), [0.1, 0.1], "gd", "exact", steps=3)
    assert int(convex.safeguard_counts.curvature) == 0


@pytest.mark.parametrize("rule", ["exact", "three-point", "line-search"])
def test_array_api_strict_gives_the_numpy_numbers(rule):
    pytest.importorskip("array_api_strict")
    loss = loss_of(zoo.BEALE.text)
    strict = tl.run(loss, [[1.0, 1.0], [2.0, 0.5]], "adam", rule, steps=20, backend="array-api-strict")
    plain = tl.run(loss, [[1.0, 1.0], [2.0, 0.5]], "adam", rule, steps=20)
    # NumPy float64 compiles with the SIMD generator, array-api-strict with xp: they round
    # differently in the last bit, which the golden-section search magnifies to ~1e-7
    np.testing.assert_allclose(strict.alphas, plain.alphas, rtol=1e-6 if rule == "line-search" else 1e-9)
    np.testing.assert_allclose(strict.points, plain.points, rtol=1e-9, atol=1e-12)
    assert strict.counts.totals() == plain.counts.totals()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"gamma": 1.5}, "gamma"),
        ({"gamma": 0.0}, "gamma"),
        ({"alpha0": -1.0}, "alpha0"),
        ({"steps": -1}, "steps"),
        ({"rule": "newton"}, "unknown rule"),
        ({"optimizer": "sgd"}, "unknown optimizer"),
        ({"safeguards": "off"}, "safeguards"),
        ({"tol": -1.0}, "tol"),
    ],
)
def test_bad_options_are_option_errors(options, match):
    with pytest.raises(tl.OptionError, match=match):
        tl.run(loss_of("x**2 + y**2"), [1.0, 1.0], **options)


def test_run_record_shapes_and_json():
    result = tl.run(
        loss_of("x**2 + y**2"),
        np.ones((4, 2)),
        "momentum",
        "retsinas",
        alpha0=[0.1, 0.2, 0.3, 0.4],
        gamma=np.array([0.5, 1.0, 0.5, 1.0]),
        steps=7,
    )
    assert result.points.shape == (8, 4, 2) and result.alphas.shape == (8, 4)
    assert result.oracle_alphas.shape == (7, 4) and result.losses.shape == (8, 4)
    np.testing.assert_array_equal(result.alphas[0], [0.1, 0.2, 0.3, 0.4])
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["rule"] == "retsinas" and len(data["status"]) == 4
    assert len(result.messages()) == 4


# ---------------------------------------------------------------------------- the fused step

FUSED_RULES = ("exact", "retsinas", "value-gradient", "three-point", "lagged", "fixed")
NUMERATORS = ("gradient", "values", "values-as-published")


def both_paths(monkeypatch: pytest.MonkeyPatch, loss: tl.Loss, at: object, **options: object):
    """The same run through the generic NumPy step and through the fused kernel."""
    generic = tl.run(loss, at, path="generic", **options)
    if options.get("rule") == "lagged" and options.get("optimizer", "gd") != "gd":
        # omega_{t+1} comes from the optimizer in NumPy: the fused step does not apply
        with pytest.raises(tl.OptionError, match="omega_next"):
            tl.run(loss, at, path="fused", **options)
        return generic, tl.run(loss, at, **options)
    fused = tl.run(loss, at, path="fused", **options)
    assert (generic.settings["path"], fused.settings["path"]) == ("generic", "fused")
    return generic, fused


def assert_same_run(generic: tl.Run, fused: tl.Run, rtol: float = 1e-12) -> None:
    for name in ("points", "alphas", "losses", "grad_norms", "oracle_alphas"):
        np.testing.assert_allclose(getattr(fused, name), getattr(generic, name), rtol=rtol, atol=1e-300)
    assert (fused.status == generic.status).all()
    np.testing.assert_array_equal(fused.stopped_at, generic.stopped_at)
    assert fused.counts.to_dict() == generic.counts.to_dict()
    assert fused.safeguard_counts.to_dict() == generic.safeguard_counts.to_dict()


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
@pytest.mark.parametrize("rule", FUSED_RULES)
@pytest.mark.parametrize("safeguards", ["default", "none"])
def test_the_fused_step_equals_the_generic_step_to_rounding(monkeypatch, rule, optimizer, safeguards):
    loss = loss_of("x**4/4 + x**2 + x*y + 2*y**2 - y")
    starts = np.random.default_rng(1).uniform(-1.0, 1.0, size=(16, 2))
    options = {"optimizer": optimizer, "rule": rule, "safeguards": safeguards, "gamma": 0.5}
    generic, fused = both_paths(monkeypatch, loss, starts, steps=8, alpha0=0.05, **options)
    # curvature from values cancels f(theta_t) - f(theta+) ~ alpha: a few ulps of f grow by 1/alpha
    assert_same_run(generic, fused, rtol=1e-8 if rule in ("value-gradient", "three-point") else 1e-11)


@pytest.mark.parametrize("rule", FUSED_RULES)
def test_one_fused_step_equals_one_generic_step_to_a_few_ulps(monkeypatch, rule):
    loss = loss_of("x**4/4 + x**2 + x*y + 2*y**2 - y")
    starts = np.random.default_rng(5).uniform(-1.0, 1.0, size=(64, 2))
    generic, fused = both_paths(monkeypatch, loss, starts, rule=rule, steps=1, alpha0=0.05)
    # relative to each member's own scale: a coordinate that cancels to ~1e-4 keeps the
    # absolute rounding of the O(1) numbers it came from
    for name in ("points", "alphas", "losses", "grad_norms", "oracle_alphas"):
        a, b = getattr(generic, name), getattr(fused, name)
        axes = (0, -1) if name == "points" else (0,)
        scale = np.nanmax(np.abs(a), axis=axes, keepdims=True)
        assert np.all(np.nan_to_num(np.abs(a - b)) <= 1e-13 * scale), name
    assert_same_run(generic, fused, rtol=1e-12)


@pytest.mark.parametrize("numerator", NUMERATORS)
def test_the_fused_three_point_rule_takes_each_numerator(monkeypatch, numerator):
    loss = loss_of("x**4/4 + x**2 + x*y + 2*y**2 - y")
    starts = np.random.default_rng(2).uniform(-1.0, 1.0, size=(8, 2))
    options = {"rule": "three-point", "rule_options": {"numerator": numerator}, "gamma": 0.5}
    assert_same_run(*both_paths(monkeypatch, loss, starts, steps=6, alpha0=0.05, **options), rtol=1e-8)


def test_the_fused_step_stops_and_freezes_members_as_the_generic_step_does(monkeypatch):
    # converged (a start at the minimiser), NaN from the start, blow-ups and rejected steps
    loss = loss_of("(1 - x)**2 + 100*(y - x**2)**2")
    starts = np.concatenate(
        [[[1.0, 1.0], [np.nan, 0.0], [40.0, -40.0]], np.random.default_rng(3).uniform(-2, 2, (29, 2))]
    )
    for safeguards in ("default", "none"):
        generic, fused = both_paths(
            monkeypatch,
            loss,
            starts,
            rule="exact",
            safeguards=safeguards,
            steps=6,
            alpha0=1e-3,
            divergence=1e3,
        )
        assert {s.value for s in generic.status} >= {"converged", "nonfinite"}
        assert_same_run(generic, fused, rtol=1e-10)


def test_the_fused_step_keeps_the_batch_shape_of_a_hyperparameter_grid(monkeypatch):
    loss = loss_of("x**4/4 + x**2 + x*y + 2*y**2 - y")
    options = {"rule": "retsinas", "alpha0": np.array([[0.01], [0.1], [0.3]]), "gamma": np.array([0.2, 1.0])}
    generic, fused = both_paths(monkeypatch, loss, [0.5, -0.5], steps=5, **options)
    assert fused.points.shape == (6, 3, 2, 2) and fused.status.shape == (3, 2)
    assert_same_run(generic, fused, rtol=1e-11)


def test_the_fused_firing_counters_survive_more_steps_than_a_digit_holds(monkeypatch):
    # alpha_max fires at every one of 300 steps: more than the 255 a base-256 digit holds
    loss = loss_of("x**2 + y**2")
    guards = tl.Safeguards(alpha_max=1e-3)
    generic, fused = both_paths(
        monkeypatch, loss, [[1.0, 2.0]], rule="exact", steps=300, tol=0.0, safeguards=guards
    )
    assert fused.safeguard_counts.alpha_max.tolist() == [300]
    assert_same_run(generic, fused, rtol=1e-11)


def test_the_fused_step_counts_the_rules_stated_cost(monkeypatch):
    loss = loss_of("x**4/4 + x**2 + x*y + 2*y**2 - y")
    for rule in FUSED_RULES:
        generic, fused = both_paths(monkeypatch, loss, [[0.5, -0.5]], rule=rule, steps=7, tol=0.0)
        assert fused.counts.to_dict() == generic.counts.to_dict()
        cost = resolve_rule(rule).cost()
        for name in ("values", "gradients", "hvps"):
            assert getattr(fused.counts, name).tolist() == [
                1 + 7 * cost[name] if name != "hvps" else 7 * cost[name]
            ]


def test_without_llvmlite_a_run_takes_the_generic_step(monkeypatch):
    from taylorlr.alpha import fused as fused_module
    from taylorlr.compile import simd_codegen as llvm_loop

    loss = loss_of("x**4/4 + x**2 + x*y + 2*y**2 - y")
    starts = np.random.default_rng(4).uniform(-1.0, 1.0, size=(8, 2))
    fused = tl.run(loss, starts, rule="exact", steps=5, alpha0=0.05, path="fused")
    monkeypatch.setattr(fused_module, "_KERNELS", {})  # forget the kernels built so far
    monkeypatch.setattr(llvm_loop, "available", lambda: False)
    auto = tl.run(loss, starts, rule="exact", steps=5, alpha0=0.05)
    assert auto.settings["path"] == "generic"
    assert_same_run(auto, fused, rtol=1e-11)
    with pytest.raises(tl.OptionError, match="llvmlite"):
        tl.run(loss, starts, rule="exact", steps=5, alpha0=0.05, path="fused")


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ({"dtype": "float32"}, "float32"),
        ({"backend": "array-api-strict"}, "not NumPy"),
        ({"rule": "line-search"}, "line-search"),
        ({"loss": "abs(x) + y**2"}, "not smooth"),
        ({"data": [{}] * 4}, "stochastic"),
        ({"rule": "lagged", "optimizer": "adam"}, "cannot be compiled"),  # omega_{t+1} is NumPy's
    ],
)
def test_path_fused_where_it_does_not_apply_says_why(case, reason):
    options = {"loss": "x**4/4 + x**2 + x*y + 2*y**2 - y", "rule": "exact", **case}
    loss = loss_of(options.pop("loss"))
    with pytest.raises(tl.OptionError, match=reason):
        tl.run(loss, [0.5, -0.5], steps=3, path="fused", **options)
    assert tl.run(loss, [0.5, -0.5], steps=3, **options).settings["path"] == "generic"


def test_path_fused_refuses_a_loss_with_data_symbols():
    loss = tl.Loss("(w*a - y)**2", variables=("w",), data=("a", "y"))
    with pytest.raises(tl.OptionError, match="data symbols"):
        tl.run(loss, [0.0], steps=3, data={"a": np.ones(2), "y": np.ones(2)}, path="fused")


def test_the_fused_step_applies_where_it_is_exact_and_auto_takes_it():
    smooth = loss_of("x**4/4 + x**2 + x*y + 2*y**2 - y")
    for optimizer in ("gd", "adam"):
        for rule in FUSED_RULES:
            if rule == "lagged" and optimizer == "adam":
                continue
            assert tl.run(smooth, [0.5, -0.5], optimizer, rule, steps=2).settings["path"] == "fused"
    strange = tl.rules.Rule(
        "odd", "adaptive", frozenset({"grad_plus"}), lambda p: np.tanh(p.alpha), lambda p: 1.0
    )
    assert tl.run(smooth, [0.5, -0.5], rule=strange, steps=2).settings["path"] == "generic"
    with pytest.raises(tl.OptionError, match="cannot be compiled"):
        tl.run(smooth, [0.5, -0.5], rule=strange, steps=2, path="fused")


def test_path_must_be_a_known_name():
    with pytest.raises(tl.OptionError, match="path"):
        tl.run(loss_of("x**2 + y**2"), [1.0, 1.0], path="fast")


def assert_same_stops(generic: tl.Run, fused: tl.Run) -> None:
    """Same records to rounding near zero (the run converges to a minimiser at 0), same stops."""
    for name in ("points", "alphas", "losses", "grad_norms", "oracle_alphas"):
        np.testing.assert_allclose(getattr(fused, name), getattr(generic, name), rtol=1e-9, atol=1e-12)
    assert (fused.status == generic.status).all()
    np.testing.assert_array_equal(fused.stopped_at, generic.stopped_at)
    assert fused.counts.to_dict() == generic.counts.to_dict()
    assert fused.safeguard_counts.to_dict() == generic.safeguard_counts.to_dict()


@pytest.mark.parametrize("steps", [1, 2, 5, 9])
def test_the_fused_loop_stops_at_the_right_step_though_it_asks_every_few_steps(monkeypatch, steps):
    # everyone converges within a few steps; "anyone running?" is asked every _RUNNING_CHECK steps
    loss = loss_of("x**2 + 4*y**2")
    starts = np.random.default_rng(7).uniform(-1.0, 1.0, size=(12, 2))
    options = {"rule": "exact", "oracle": False, "tol": 1e-3, "alpha0": 0.125}
    generic, fused = both_paths(monkeypatch, loss, starts, steps=steps, **options)
    assert_same_stops(generic, fused)
    if steps == 9:
        assert {s.value for s in fused.status} == {"converged"} and fused.stopped_at.max() < 8
    # runs do not leak into each other: a run of another shape, then this one again
    assert_same_stops(*both_paths(monkeypatch, loss, starts[:5], steps=steps + 1, **options))
    assert_same_stops(generic, both_paths(monkeypatch, loss, starts, steps=steps, **options)[1])
