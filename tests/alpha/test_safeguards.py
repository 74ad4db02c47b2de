"""The safeguards written once: the precision guard, and both paths counting alike."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import taylorlr as tl
from taylorlr.alpha.optimizers import adam
from taylorlr.alpha.rules import Probe, dot, three_point, value_gradient
from taylorlr.alpha.safeguards import FIRINGS, Safeguards, next_alpha

ROSENBROCK = tl.Loss("(1 - x)**2 + 100*(y - x**2)**2")
#: the issue's run: alpha falls 9.8e-3 -> 9.8e-9 through factor_min, where the three-point
#: curvature is exactly 0 and the true one 13.19
ISSUE_RUN = {"optimizer": "adam", "rule": "three-point", "alpha0": 1e-3, "gamma": 0.1, "steps": 13}


def test_firings_and_the_record_name_the_same_guards():
    from taylorlr.alpha.result import SafeguardCounts

    assert tuple(SafeguardCounts.__dataclass_fields__) == FIRINGS
    assert Safeguards().precision == 16.0 and Safeguards.none().precision is None


def replayed_probe(run: tl.Run, step: int) -> Probe:
    """What the rule read at ``step``: Adam's direction replayed over the recorded points."""
    f = ROSENBROCK.compile()
    optimizer = adam()
    state = optimizer.init(run.points[0])
    for t in range(step + 1):
        omega, state = optimizer.direction(f.grad(run.points[t]), state, run.points[t])
    return Probe.along(f, run.points[step], omega, np.array([run.alphas[step]]))


@pytest.mark.parametrize("path", ["generic", "fused"])
def test_a_curvature_of_pure_rounding_is_a_precision_firing_not_a_number(path):
    run = tl.run(ROSENBROCK, [-1.2, 1.0], path=path, **ISSUE_RUN)
    assert run.stopped_at == 13 and run.alphas[12] == pytest.approx(9.807945782819e-09, rel=1e-9)
    probe = replayed_probe(run, 12)
    assert three_point().curvature(probe)[0] == 0.0  # the formula's number: pure rounding
    assert float(dot(probe.omega, probe.hvp_plus[0])) == pytest.approx(13.19, abs=0.01)  # the truth
    counts = run.safeguard_counts
    assert (int(counts.factor_min), int(counts.precision), int(counts.curvature)) == (3, 1, 0)
    assert run.alphas[13] == 2 * run.alphas[12]  # handled as the curvature policy ("grow") says
    without = tl.run(ROSENBROCK, [-1.2, 1.0], path=path, safeguards=Safeguards(precision=None), **ISSUE_RUN)
    # without the guard the zero is taken for a curvature that is not positive
    assert (int(without.safeguard_counts.precision), int(without.safeguard_counts.curvature)) == (0, 1)


@settings(max_examples=200)
@given(
    a=st.floats(1e-3, 1e3),
    m=st.floats(-10, 10),
    offset=st.floats(0, 1e6),
    theta=st.floats(-10, 10),
    omega=st.floats(0.1, 10),
    log_alpha=st.floats(-12, 0),
    rule=st.sampled_from([three_point, value_gradient]),
)
def test_a_curvature_the_precision_guard_lets_through_has_significant_digits(
    a, m, offset, theta, omega, log_alpha, rule
):
    # f = a (x - m)^2 + offset: both estimates are exact in exact arithmetic (c = 2 a omega^2),
    # so their error is rounding alone
    def value(x):
        return a * (x - m) ** 2 + offset

    def grad(x):
        return 2 * a * (x - m)

    alpha = 10.0**log_alpha
    plus, mirror = theta - alpha * omega, theta + alpha * omega
    probe = Probe(
        alpha=np.array([alpha]),
        omega=np.array([[omega]]),
        value=np.array([value(theta)]),
        grad=np.array([[grad(theta)]]),
        value_plus=np.array([value(plus)]),
        grad_plus=np.array([[grad(plus)]]),
        value_mirror=np.array([value(mirror)]),
    )
    with np.errstate(all="ignore"):  # a zero curvature divides by zero: the guard's business
        update = next_alpha(
            rule(), probe, 1.0, Safeguards(), loss_start=probe.value, loss_next=probe.value_plus
        )
    estimate, truth = float(rule().curvature(probe)[0]), 2 * a * omega**2
    if not update.fired["precision"][0]:
        assert abs(estimate - truth) <= 0.25 * truth
    if abs(estimate - truth) > truth:  # no significant digit: always caught
        assert update.fired["precision"][0]


def test_the_precision_guard_is_off_in_the_pure_formula():
    run = tl.run(ROSENBROCK, [-1.2, 1.0], safeguards="none", **ISSUE_RUN)
    assert int(run.safeguard_counts.precision) == 0
    assert run.settings["safeguards"]["precision"] is None


@pytest.mark.parametrize("rule", ["exact", "retsinas", "lagged", "fixed"])
def test_rules_that_difference_no_values_have_no_precision_guard(rule):
    run = tl.run(
        ROSENBROCK, [-1.2, 1.0], "gd", rule, alpha0=1e-10, steps=5, safeguards=Safeguards(alpha_min=None)
    )
    assert int(run.safeguard_counts.precision) == 0


class CountingCompiled:
    """A Compiled whose every call counts the members it evaluates (an independent count)."""

    def __init__(self, compiled):
        self._compiled = compiled
        self.spent = {"values": 0, "gradients": 0, "hvps": 0}

    def __getattr__(self, name):
        return getattr(self._compiled, name)

    def _count(self, W, *names):
        for name in names:
            self.spent[name] += int(np.prod(W.shape[:-1]))

    def value(self, W, **data):
        self._count(W, "values")
        return self._compiled.value(W, **data)

    def grad(self, W, **data):
        self._count(W, "gradients")
        return self._compiled.grad(W, **data)

    def value_and_grad(self, W, **data):
        self._count(W, "values", "gradients")
        return self._compiled.value_and_grad(W, **data)

    def hvp(self, W, V, **data):
        self._count(W, "hvps")
        return self._compiled.hvp(W, V, **data)


class CountingLoss:
    def __init__(self, loss):
        self._loss, self.compiled = loss, None

    def __getattr__(self, name):
        return getattr(self._loss, name)

    def compile(self, *args, **kwargs):
        self.compiled = CountingCompiled(self._loss.compile(*args, **kwargs))
        return self.compiled


@pytest.mark.parametrize("rule", ["exact", "retsinas", "value-gradient", "three-point", "lagged", "fixed"])
def test_counts_are_the_evaluations_made_on_both_paths(rule):
    # no member stops (tol = 0, no guard rejects): every call evaluates every member
    loss = CountingLoss(tl.Loss("x**4/4 + x**2 + x*y + 2*y**2 - y"))
    starts = np.random.default_rng(0).uniform(-1, 1, (6, 2))
    options = {"rule": rule, "steps": 7, "tol": 0.0, "alpha0": 0.05, "oracle": False}
    generic = tl.run(loss, starts, path="generic", **options)
    assert generic.counts.totals() == {**loss.compiled.spent, "line_searches": 0}
    fused = tl.run(loss, starts, path="fused", **options)
    assert fused.counts.to_dict() == generic.counts.to_dict()


SCALARS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-320, 1e308, -1e308]),
)


@settings(max_examples=300)
@given(
    rule=st.sampled_from(["exact", "retsinas", "value-gradient", "three-point", "lagged"]),
    guards=st.sampled_from([Safeguards(), Safeguards.none(), Safeguards(curvature="shrink")]),
    alpha=st.floats(1e-12, 1e3),
    omega=st.lists(SCALARS, min_size=2, max_size=2),
    other=st.lists(SCALARS, min_size=2, max_size=2),
    values=st.lists(SCALARS, min_size=4, max_size=4),
    gamma=st.floats(1e-3, 1.0),
)
def test_the_scalar_ops_of_the_wrappers_decide_as_the_arrays_do(
    rule, guards, alpha, omega, other, values, gamma
):
    """ScalarOps (taylorlr.torch's next_alpha on one group's float64 scalars) gives the alpha and the
    firings that ArrayOps gives on one-member arrays, bit for bit, NaN, inf, 0 and overflow included;
    so does the wrappers' bound update (TrainingOptions.scalar: ops, gamma and guards built once, the
    probe's float64 scalars taken as they are, as taylorlr.torch's fast path hands them over)."""
    from taylorlr._training import TrainingOptions
    from taylorlr.alpha._step import ScalarOps
    from taylorlr.alpha.rules import resolve_rule

    value, value_plus, value_mirror, loss_next = values
    fields = {"grad": other, "grad_plus": other, "hvp_plus": other, "omega_next": other}

    def probe(wrap, wrap_vector):
        return Probe(
            alpha=wrap(alpha), omega=wrap_vector(omega), value=wrap(value), value_plus=wrap(value_plus),
            value_mirror=wrap(value_mirror), **{k: wrap_vector(v) for k, v in fields.items()},
        )  # fmt: skip

    chosen = resolve_rule(rule)
    with np.errstate(all="ignore"):
        arrays = next_alpha(
            chosen, probe(lambda v: np.array([v]), lambda v: np.array([v])), gamma, guards,
            loss_start=np.array([1.0]), loss_next=np.array([loss_next]),
        )  # fmt: skip
        scalars = next_alpha(
            chosen, probe(np.float64, np.array), np.float64(gamma), guards,
            loss_start=np.float64(1.0), loss_next=np.float64(loss_next), ops=ScalarOps(2.0**-52),
        )  # fmt: skip
    expected = arrays.alpha[0]
    assert np.float64(scalars.alpha).tobytes() == expected.tobytes() or (
        np.isnan(expected) and np.isnan(scalars.alpha)
    )
    assert {k: bool(v) for k, v in scalars.fired.items()} == {k: bool(v[0]) for k, v in arrays.fired.items()}
    bound = TrainingOptions.build(rule, gamma=gamma, safeguards=guards).scalar(2.0**-52)
    alpha_bound, fired_bound = bound(probe(np.float64, np.array), loss_start=1.0, loss_next=loss_next)
    assert np.float64(alpha_bound).tobytes() == expected.tobytes() or (
        np.isnan(expected) and np.isnan(alpha_bound)
    )
    assert fired_bound == {k: bool(v[0]) for k, v in arrays.fired.items()}
