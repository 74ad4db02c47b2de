"""Alpha rules: agreement on quadratics, error orders, safeguards, validation and the registry."""

from __future__ import annotations

import dataclasses
import inspect
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import taylorlr as tl
from taylorlr.alpha import rules, safeguards
from taylorlr.alpha.optimizers import OPTIMIZERS

AGREEING_RULES = (
    ("exact", {}),
    ("retsinas", {}),
    ("value-gradient", {}),
    ("three-point", {"numerator": "gradient"}),
    ("three-point", {"numerator": "values"}),
)


@st.composite
def spd_quadratics(draw):
    """f(w) = (w - c)^T A (w - c) / 2 as text, A = M^T M + I with small integers (exact SPD)."""
    n = draw(st.integers(2, 3))
    m = np.array([[draw(st.integers(-2, 2)) for _ in range(n)] for _ in range(n)])
    a = m.T @ m + np.eye(n, dtype=int)
    c = [draw(st.integers(-2, 2)) for _ in range(n)]
    names = ["x", "y", "z"][:n]
    terms = [
        f"({a[i, j]})*({names[i]} - ({c[i]}))*({names[j]} - ({c[j]}))/2" for i in range(n) for j in range(n)
    ]
    start = [c[i] + draw(st.sampled_from([-1.5, -0.5, 0.75, 1.25])) for i in range(n)]
    return " + ".join(terms), start


@settings(max_examples=6, deadline=None, derandomize=True)
@given(spd_quadratics())
def test_on_quadratics_every_rule_is_the_oracle_of_the_previous_step(problem):
    text, start = problem
    loss = tl.Loss(text)
    for optimizer in OPTIMIZERS:
        runs = [
            tl.run(
                loss,
                start,
                optimizer,
                name,
                rule_options=options,
                gamma=1.0,
                safeguards="none",
                steps=6,
                tol=0.0,
                alpha0=0.05,
            )
            for name, options in AGREEING_RULES
        ]
        reference = runs[0]
        # compare while the gradient is still well above rounding: value-based estimates
        # cancel catastrophically once the run has (nearly) landed on the minimum
        norms = reference.grad_norms
        taken = (
            int(np.argmax(norms[1:] <= 1e-4 * norms[0])) + 1 if (norms[1:] <= 1e-4 * norms[0]).any() else 6
        )
        np.testing.assert_allclose(
            reference.alphas[1 : taken + 1], reference.oracle_alphas[:taken], rtol=1e-9, err_msg=optimizer
        )
        for other in runs[1:]:
            np.testing.assert_allclose(
                other.alphas[: taken + 1],
                reference.alphas[: taken + 1],
                rtol=1e-6,
                err_msg=f"{optimizer} {other.rule}",
            )


def test_the_published_three_point_numerator_is_biased_on_quadratics():
    loss = tl.Loss("2*x**2 + x*y + y**2")
    kwargs = {"gamma": 1.0, "safeguards": "none", "steps": 6, "tol": 0.0, "alpha0": 0.05}
    corrected = tl.run(loss, [1.0, -2.0], "gd", "three-point", rule_options={"numerator": "values"}, **kwargs)
    published = tl.run(
        loss, [1.0, -2.0], "gd", "three-point", rule_options={"numerator": "values-as-published"}, **kwargs
    )
    np.testing.assert_allclose(corrected.alphas[1:], corrected.oracle_alphas, rtol=1e-8)
    bias = np.abs(published.alphas[1:] - published.oracle_alphas) / published.oracle_alphas
    assert bias.max() > 1e-2


# --------------------------------------------------------------------------- error orders

ESTIMATES = {
    "retsinas curvature": (rules.retsinas(), "curvature", 1),
    "value-gradient curvature": (rules.value_gradient(), "curvature", 1),
    "three-point curvature": (rules.three_point(), "curvature", 1),
    "three-point values slope": (rules.three_point("values"), "slope", 2),
    "three-point published slope": (rules.three_point("values-as-published"), "slope", 1),
}
LOSSES = {"cubic": "x**3 + x*y**2 + 2*y**2 - x*y", "quartic": "x**4 + x**2*y**2 + 3*y**4 + x*y"}


def estimate_errors(loss_text: str, estimate: str, rule: rules.Rule, alphas: np.ndarray) -> np.ndarray:
    """|estimate - exact| at theta+ = theta - alpha omega, for each alpha."""
    f = tl.Loss(loss_text).compile()
    theta, omega = np.array([0.7, -0.4]), np.array([0.6, 0.8])
    probe = rules.Probe.along(f, theta, omega, alphas)
    exact = rules.exact()
    truth = (exact.curvature if estimate == "curvature" else exact.slope)(probe)
    approx = (rule.curvature if estimate == "curvature" else rule.slope)(probe)
    return np.abs(approx - truth)


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize("name", sorted(ESTIMATES))
def test_approximations_shrink_at_their_orders(name, loss_name):
    rule, estimate, order = ESTIMATES[name]
    alphas = 2.0 ** -np.arange(4, 11)
    errors = estimate_errors(LOSSES[loss_name], estimate, rule, alphas)
    slope = np.polyfit(np.log(alphas), np.log(errors), 1)[0]
    assert abs(slope - order) < 0.15, (name, loss_name, slope)


# --------------------------------------------------------------------------- safeguards


def probe_of(alpha: float, slope: float, curvature: float, value: float) -> rules.Probe:
    """A probe on which the exact rule's slope and curvature are the given numbers."""
    return rules.Probe(
        alpha=np.array([alpha]),
        omega=np.array([[1.0]]),
        value=np.array([value]),
        grad_plus=np.array([[slope]]),
        hvp_plus=np.array([[curvature]]),
    )


finite = st.floats(-1e3, 1e3, allow_nan=False).map(lambda v: v + 0.0)  # no signed zeros


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    alpha=st.floats(1e-14, 1e7),
    slope=finite,
    curvature=st.one_of(finite, st.just(0.0), st.just(math.nan)),
    value=finite,
    loss_next=st.one_of(finite, st.just(math.inf), st.just(math.nan)),
    gamma=st.floats(0.01, 1.0),
)
def test_each_default_safeguard_fires_exactly_when_its_condition_holds(
    alpha, slope, curvature, value, loss_next, gamma
):
    guards = safeguards.Safeguards()
    with np.errstate(all="ignore"):
        update = safeguards.next_alpha(
            rules.exact(),
            probe_of(alpha, slope, curvature, value),
            gamma,
            guards,
            loss_start=np.array([5.0]),
            loss_next=np.array([loss_next]),
        )
        expected = alpha + gamma * np.float64(slope) / np.float64(curvature)
    fired = {name: bool(flag[0]) for name, flag in update.fired.items()}
    assert fired["curvature"] == (not curvature > 0)
    if fired["curvature"]:
        expected = guards.grow * alpha
    assert fired["rising_loss"] == (not loss_next - value <= guards.rising_loss * (5.0 + abs(value)))
    if fired["rising_loss"]:
        expected = guards.shrink * alpha
    assert fired["factor_min"] == (expected < guards.factor_min * alpha)
    assert fired["factor_max"] == (expected > guards.factor_max * alpha)
    expected = min(max(expected, guards.factor_min * alpha), guards.factor_max * alpha)
    assert fired["alpha_min"] == (expected < guards.alpha_min)
    assert fired["alpha_max"] == (expected > guards.alpha_max)
    result = float(update.alpha[0])
    assert guards.alpha_min <= result <= guards.alpha_max
    assert result == pytest.approx(min(max(expected, guards.alpha_min), guards.alpha_max), rel=1e-12)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(alpha=st.floats(1e-3, 10.0), slope=finite, curvature=finite)
def test_safeguards_none_is_the_pure_formula(alpha, slope, curvature):
    with np.errstate(all="ignore"):
        update = safeguards.next_alpha(
            rules.exact(),
            probe_of(alpha, slope, curvature, 1.0),
            1.0,
            safeguards.Safeguards.none(),
            loss_start=np.ones(1),
            loss_next=np.array([1e300]),
        )
        expected = alpha + np.float64(slope) / np.float64(curvature)
    assert not any(bool(flag[0]) for flag in update.fired.values())
    np.testing.assert_array_equal(update.alpha, [expected])


@pytest.mark.parametrize(
    "options",
    [
        {"alpha_min": -1.0},
        {"alpha_min": 2.0, "alpha_max": 1.0},
        {"factor_min": 0.0},
        {"curvature": "flip"},
        {"rising_loss": math.inf},
        {"shrink": "0.5"},
    ],
)
def test_bad_safeguards_are_rejected(options):
    with pytest.raises(tl.OptionError, match="Safeguards"):
        tl.Safeguards(**options)


def test_safeguard_names_resolve():
    assert safeguards.resolve_safeguards("none") == safeguards.Safeguards.none()
    with pytest.raises(tl.OptionError, match="'off'"):
        safeguards.resolve_safeguards("off")


# --------------------------------------------------------------------------- rules and costs


def test_rule_registry_labels_and_errors():
    assert [rules.resolve_rule(name).name for name in rules.RULES] == list(rules.RULES)
    with pytest.raises(tl.OptionError, match="numerator must be one of"):
        rules.three_point("central")
    with pytest.raises(tl.OptionError, match="unknown rule 'newton'"):
        rules.resolve_rule("newton")


@pytest.mark.parametrize(
    ("rule", "extra"),
    [
        (rules.exact(), {"hvps": 1}),
        (rules.retsinas(), {}),
        (rules.value_gradient(), {}),
        (rules.three_point(), {"values": 1}),
        (rules.three_point("values"), {"values": 1}),
        (rules.lagged(), {}),
        (rules.fixed(), {}),
        (rules.line_search(), {"line_searches": 1}),
    ],
)
def test_stated_cost_per_step(rule, extra):
    base = {"values": 1, "gradients": 1, "hvps": 0, "line_searches": 0}
    assert rule.cost() == {k: v + extra.get(k, 0) for k, v in base.items()}


# --------------------------------------------------------------------------- rules as validated objects


def _slope(p):
    return rules.dot(p.grad_plus, p.omega)


def _curvature(p):
    return rules.dot(p.grad - p.grad_plus, p.omega) / p.alpha


@pytest.mark.parametrize(
    ("arguments", "sentence"),
    [
        (("", "adaptive", {"grad_plus"}, _slope, _curvature), "a rule needs a name"),
        (("mine", "adaptiv", {"grad_plus"}, _slope, _curvature), r"kind must be one of .*'adaptive'\?"),
        (
            ("mine", "adaptive", {"grad_plus", "hvp"}, _slope, _curvature),
            r"\['hvp'\] \(did you mean 'hvp_plus'",
        ),
        (("mine", "adaptive", "grad_plus", _slope, _curvature), "needs must be a set of names"),
        (("mine", "adaptive", {"grad_plus"}, _slope), "curvature estimate is None: pass curvature="),
        (("mine", "adaptive", {"grad_plus"}, _slope, 2.0), "curvature estimate is 2.0: pass curvature="),
        (("mine", "fixed", set(), _slope), "is fixed: it sets alpha without a slope estimate; drop it"),
        (("mine", "fixed", {"value_plus"}), r"is fixed and reads nothing, but needs \['value_plus'\]"),
        (("mine", "line-search", set()), "is a line search but does not need 'line': add it"),
        (("mine", "adaptive", {"grad_plus", "line"}, _slope, _curvature), "adaptive but needs 'line'"),
        (
            ("mine", "adaptive", set(), _slope, _curvature),
            "slope estimate reads 'grad_plus', .*add 'grad_plus'",
        ),
        (
            ("mine", "adaptive", {"grad_plus"}, _slope, lambda p: rules.dot(p.omega, p.hvp_plus)),
            "curvature estimate reads 'hvp_plus', which its needs do not declare: add 'hvp_plus' to needs",
        ),
        (
            ("mine", "adaptive", {"grad_plus"}, _slope, _curvature, {"numerator": "value"}),
            r"numerator must be one of .* \(did you mean 'values'\?\), got 'value'",
        ),
        (
            ("mine", "adaptive", {"grad_plus"}, _slope, _curvature, {"gamma": 0.5}),
            "options are names and strings",
        ),
    ],
)
def test_a_bad_rule_is_refused_with_a_sentence(arguments, sentence):
    with pytest.raises(tl.OptionError, match=sentence):
        rules.Rule(*arguments)


def test_a_rule_of_ones_own_runs_as_declared():
    mine = rules.Rule("mine", "adaptive", ["grad_plus"], _slope, _curvature)
    assert mine.needs == frozenset({"grad_plus"})
    run = tl.run("(x - 3)**2 + 2*y**2", [0.0, 1.0], rule=mine, steps=5, alpha0=0.1, oracle=False)
    reference = tl.run("(x - 3)**2 + 2*y**2", [0.0, 1.0], rule="retsinas", steps=5, alpha0=0.1, oracle=False)
    np.testing.assert_array_equal(run.alphas, reference.alphas)


@pytest.mark.parametrize("name", sorted(rules.RULES))
def test_every_declared_need_is_read(name):
    """The built-in rules declare exactly what their estimates read: dropping any need is refused."""
    rule = rules.resolve_rule(name)
    for need in rule.needs - {"line"}:
        with pytest.raises(tl.OptionError, match=f"reads {need!r}"):
            dataclasses.replace(rule, needs=rule.needs - {need})


@pytest.mark.parametrize(("name", "nearest"), [("retsina", "retsinas"), ("three_point", "three-point")])
def test_a_mistyped_rule_name_gets_the_nearest_one(name, nearest):
    with pytest.raises(tl.OptionError, match=rf"unknown rule '{name}' \(did you mean '{nearest}'\?\)"):
        tl.run("x**2", [1.0], rule=name)


def test_a_far_name_gets_no_suggestion():
    with pytest.raises(tl.OptionError, match=r"unknown rule 'newton': use one of") as error:
        rules.resolve_rule("newton")
    assert "did you mean" not in str(error.value)


def test_rules_and_optimizers_are_documented_factories_at_the_top_level():
    for module, registry in ((tl.rules, tl.rules.RULES), (tl.optimizers, tl.optimizers.OPTIMIZERS)):
        exported = {name: getattr(module, name) for name in module.__all__}
        for name, factory in registry.items():
            assert exported[factory.__name__] is factory, name
            assert ">>>" in (factory.__doc__ or ""), f"{name} has no example"
            assert "Raises" in (factory.__doc__ or "") or not inspect.signature(factory).parameters, name


@pytest.mark.parametrize(
    ("objects", "names"),
    [
        (
            {"rule": tl.rules.three_point(numerator="values"), "optimizer": tl.optimizers.adam(b1=0.8)},
            {
                "rule": "three-point",
                "optimizer": "adam",
                "rule_options": {"numerator": "values"},
                "optimizer_options": {"b1": 0.8},
            },
        ),
        (
            {"rule": tl.rules.retsinas(), "optimizer": tl.optimizers.gd()},
            {"rule": "retsinas", "optimizer": "gd"},
        ),
        (
            {"rule": tl.rules.line_search(), "optimizer": tl.optimizers.momentum(beta=0.5)},
            {"rule": "line-search", "optimizer": "momentum", "optimizer_options": {"beta": 0.5}},
        ),
    ],
)
def test_objects_and_names_run_the_same(objects, names):
    loss = tl.Loss("(1 - x)**2 + 10*(y - x**2)**2")
    starts = [[-1.2, 1.0], [0.5, -0.5], [2.0, 2.0]]
    by_object = tl.run(loss, starts, steps=40, alpha0=1e-3, gamma=0.5, **objects)
    by_name = tl.run(loss, starts, steps=40, alpha0=1e-3, gamma=0.5, **names)
    for field in ("points", "alphas", "oracle_alphas", "losses"):
        assert np.array_equal(getattr(by_object, field), getattr(by_name, field), equal_nan=True), field
    assert (by_object.rule, by_object.optimizer) == (by_name.rule, by_name.optimizer)
