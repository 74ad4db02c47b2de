"""taylorlr.torch against the exact engine: the same alphas and iterates as tl.run, and its bad input.

The losses are written twice (tests/integrations/training_problems.py): as taylorlr text,
which tl.run differentiates symbolically, and as torch code, which autograd differentiates.
Every rule x optimizer present in both runs once, on a problem where the run is not
chaotic, and must match tl.run to 1e-10 over 50 steps (alphas: relative; iterates: relative
in norm), up to the engine's convergence (past ||grad f|| = 1e-6 both are rounding noise).
"""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from training_problems import CASES, PROBLEMS, agrees, discrepancy, engine, loss_of  # noqa: E402

import taylorlr as tl  # noqa: E402
from taylorlr._training import ClosureError, NonFiniteLossError, ParameterError, TrainingOptions  # noqa: E402
from taylorlr.alpha import optimizers as tlo  # noqa: E402
from taylorlr.alpha.rules import Probe  # noqa: E402
from taylorlr.torch import TaylorLR, _Gram  # noqa: E402

LS, LOGISTIC, ROSEN2, ROSEN10, SPD = PROBLEMS
F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: threads only add contention on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


#: taylorlr optimizer name -> the torch optimizer with the same direction (docs/training.md's mapping)
TORCH = {
    "gd": lambda ps, lr: torch.optim.SGD(ps, lr=lr),
    "momentum": lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.9),
    "nesterov": lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True),
    "rmsprop": lambda ps, lr: torch.optim.RMSprop(ps, lr=lr, alpha=0.9, eps=1e-8),
    "adagrad": lambda ps, lr: torch.optim.Adagrad(ps, lr=lr, eps=1e-8),
    "adam": lambda ps, lr: torch.optim.Adam(ps, lr=lr, betas=(0.9, 0.999), eps=1e-8),
    "adamw": lambda ps, lr: torch.optim.AdamW(ps, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4),
}


def train(problem, optimizer, rule, *, steps=50, alpha0=1e-3, device="cpu", **options):
    """The wrapped torch run: (alphas, points), points[0] the start."""
    w = torch.nn.Parameter(torch.tensor(problem.start, dtype=F64, device=device))
    opt = TaylorLR(
        optimizer([w], alpha0) if callable(optimizer) else TORCH[optimizer]([w], alpha0), rule, **options
    )
    points = [w.detach().cpu().clone().numpy()]
    for _ in range(steps):
        opt.step(lambda: problem.function(torch, w))
        points.append(w.detach().cpu().clone().numpy())
    return opt, np.array([a[0] for a in opt.history.alphas]), np.array(points)


@pytest.mark.parametrize(("optimizer", "rule"), sorted(CASES))
def test_the_wrapper_takes_the_engines_steps(optimizer, rule):
    problem, gamma = CASES[optimizer, rule]
    run = engine(problem, optimizer, rule, gamma=gamma)
    opt, alphas, points = train(problem, optimizer, rule, gamma=gamma)
    da, dp = discrepancy(run, alphas, points, lagged=rule == "lagged")
    assert agrees(problem, optimizer, rule, da, dp, gamma=gamma), (problem.name, da, dp)
    # lagged does not count a rejected step's estimates (it has no omega_{t+1} there)
    if int(run.stopped_at) == 50 and (rule != "lagged" or run.safeguard_counts.totals()["rising_loss"] == 0):
        assert opt.history.firings[0] == run.safeguard_counts.totals()


def test_chaotic_runs_agree_as_closely_as_the_engine_with_itself():
    """gd + exact, gamma 1 on Rosenbrock from (-1.2, 1) amplifies every ulp (11 rejected steps).

    There the engine disagrees with itself too: a start moved by one ulp moves alpha_t by up to
    1e-2 relative by step 45 and by a factor 11 at the end. At every step the wrapper (torch's
    autograd: other rounding) is no further from the engine than that (the running maxima of the
    relative differences of alpha_t), and it takes the same safeguard decisions.
    """
    run = engine(ROSEN2, "gd", "exact")
    opt, alphas, _ = train(ROSEN2, "gd", "exact")
    k = int(run.stopped_at)
    start = np.asarray(ROSEN2.start, dtype=float)
    moved = [engine(dataclasses.replace(ROSEN2, start=tuple(start * (1 + s * 2.0**-52))), "gd", "exact")
             for s in (1, -1)]  # fmt: skip

    def drift(other: np.ndarray) -> np.ndarray:
        return np.maximum.accumulate(np.abs(other[:k] - run.alphas[:k]) / np.abs(run.alphas[:k]))

    one_ulp = np.maximum(*(drift(m.alphas) for m in moved))
    assert one_ulp[-1] > 1.0  # chaotic: a one-ulp start ends with alphas off by more than 100%
    assert np.all(drift(alphas) <= one_ulp)
    assert opt.history.firings[0] == run.safeguard_counts.totals()


@pytest.mark.parametrize("rule", ["exact", "retsinas", "value-gradient", "three-point"])
@pytest.mark.parametrize(("problem", "optimizer"), [(SPD, "gd"), (LS, "momentum")])
def test_on_quadratics_alpha_next_is_the_exact_line_search(problem, optimizer, rule):
    """gamma 1, safeguards off: alpha_{t+1} = <g_t, omega_t> / omega_t^T A omega_t (closed form)."""
    w = torch.nn.Parameter(torch.tensor(problem.start, dtype=F64))
    opt = TaylorLR(TORCH[optimizer]([w], 1e-2), rule, safeguards="none")
    hessian = torch.autograd.functional.hessian(lambda v: problem.function(torch, v), w.detach()).numpy()
    for _ in range(8):
        theta = w.detach().clone()
        gradient = torch.autograd.grad(problem.function(torch, theta.requires_grad_()), theta)[0].numpy()
        alpha = opt.alphas[0]
        opt.step(lambda: problem.function(torch, w))
        omega = (theta.detach().numpy() - w.detach().numpy()) / alpha
        expected = gradient @ omega / (omega @ hessian @ omega)
        assert math.isclose(opt.alphas[0], expected, rel_tol=1e-9)


@pytest.mark.parametrize(("problem", "rtol"), [(LS, 1e-10), (SPD, 1e-10), (ROSEN10, 1e-10)])
def test_the_minibatch_line_search_is_the_engines_oracle(problem, rtol):
    """The engine's oracle finds the roots of the line polynomial; the wrapper brackets the slope
    on the batch and refines it with Brent's method: the same minimiser (the only one on these lines)."""
    run = tl.run(
        loss_of(problem), list(problem.start), "adam", "line-search", steps=10, tol=1e-6, path="generic"
    )
    opt, alphas, points = train(problem, "adam", "line-search", steps=10)
    k = int(run.stopped_at)
    np.testing.assert_allclose(alphas[:k], run.alphas[:k], rtol=rtol)
    np.testing.assert_allclose(points[: k + 1], run.points[: k + 1], rtol=rtol, atol=rtol)
    assert opt.extra_passes_per_step is None and opt.history.passes["forward"] >= 2 * k


# ---------------------------------------------------------------------- conventions


def _dampened_momentum(beta: float, dampening: float) -> tlo.Optimizer:
    """torch's SGD momentum with dampening: b_1 = g_1, then b_t = beta b + (1 - dampening) g_t."""

    def init(params):
        return tlo.AdamState(np.zeros(params.shape[:-1]), np.zeros_like(params), np.zeros_like(params))

    def direction(g, state, params):
        first = state.count == 0
        m = np.where(first[..., None], g, beta * state.mu + (1 - dampening) * g)
        return m, tlo.AdamState(state.count + 1, m, state.nu)

    return tlo.custom(init, direction, name="dampened momentum")


CONVENTIONS = {
    # torch optimizer -> the taylorlr optimizer with the same direction
    "SGD(weight_decay) = chain(add_decayed_weights, momentum)": (
        lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.5, weight_decay=0.1),
        tlo.chain(tlo.add_decayed_weights(0.1), tlo.momentum(0.5)),
    ),
    "SGD(nesterov, weight_decay) = chain(add_decayed_weights, nesterov)": (
        lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.5, nesterov=True, weight_decay=0.1),
        tlo.chain(tlo.add_decayed_weights(0.1), tlo.nesterov(0.5)),
    ),
    "SGD(dampening) = a custom optimizer (b_1 = g_1)": (
        lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.5, dampening=0.5),
        _dampened_momentum(0.5, 0.5),
    ),
    "Adam(weight_decay) = chain(add_decayed_weights, adam)": (
        lambda ps, lr: torch.optim.Adam(ps, lr=lr, weight_decay=0.1),
        tlo.chain(tlo.add_decayed_weights(0.1), tlo.adam()),
    ),
    "AdamW(weight_decay) = adamw": (
        lambda ps, lr: torch.optim.AdamW(ps, lr=lr, weight_decay=0.1),
        tlo.adamw(weight_decay=0.1),
    ),
    "RMSprop(alpha, eps, weight_decay) = chain(add_decayed_weights, rmsprop(decay, eps))": (
        lambda ps, lr: torch.optim.RMSprop(ps, lr=lr, alpha=0.99, eps=1e-6, weight_decay=0.1),
        tlo.chain(tlo.add_decayed_weights(0.1), tlo.rmsprop(decay=0.99, eps=1e-6)),
    ),
    "Adagrad(initial_accumulator_value, eps) = adagrad(eps, initial)": (
        lambda ps, lr: torch.optim.Adagrad(ps, lr=lr, initial_accumulator_value=0.5, eps=1e-6),
        tlo.adagrad(eps=1e-6, initial=0.5),
    ),
}


@pytest.mark.parametrize("rule", ["retsinas", "lagged"])  # lagged: the "fast" mode folds the decay itself
@pytest.mark.parametrize("name", sorted(CONVENTIONS))
def test_torch_conventions_map_to_taylorlr_optimizers(name, rule):
    make, optimizer = CONVENTIONS[name]
    run = engine(SPD, optimizer, rule, steps=30, gamma=0.1)
    _, alphas, points = train(SPD, make, rule, steps=30, gamma=0.1)
    da, dp = discrepancy(run, alphas, points, lagged=rule == "lagged")
    assert da <= 1e-10 and dp <= 1e-10


def test_the_difference_direction_serves_any_optimizer_to_rounding():
    """direction="difference" reads omega from (theta_t - theta_after) / lr: exact up to theta's rounding."""
    _, a_zero, p_zero = train(ROSEN10, "adam", "exact", steps=20, gamma=0.1)
    _, a_diff, p_diff = train(ROSEN10, "adam", "exact", steps=20, gamma=0.1, direction="difference")
    np.testing.assert_allclose(a_diff, a_zero, rtol=1e-6)
    np.testing.assert_allclose(p_diff, p_zero, rtol=1e-8)


FAST = sorted(case for case in CASES if case[1] in ("lagged", "fixed"))


@pytest.mark.parametrize(("optimizer", "rule"), FAST)
def test_fast_and_exact_modes_agree(optimizer, rule):
    """The "fast" mode (auto's choice for lagged and fixed; lagged: <omega_t - omega_{t+1}, omega_t> as
    |omega_t|^2 - <omega_{t+1}, omega_t>, both inner products from one matrix-vector product, one
    fused multiply-add per move, the reverse move for an undo; fixed: the optimizer's own step)
    against "zero" (the engine's own arithmetic): both match tl.run to 1e-10 (or within 10x the
    engine's own rounding noise, as every wrapper mode: measured fast 6.8e-11 at most, adagrad +
    lagged; zero 1.2e-10 on gd + lagged), and their iterates each other to 1e-10."""
    problem, gamma = CASES[optimizer, rule]
    run = engine(problem, optimizer, rule, gamma=gamma)
    exact, a_exact, p_exact = train(problem, optimizer, rule, gamma=gamma, direction="zero")
    fast, a_fast, p_fast = train(problem, optimizer, rule, gamma=gamma, direction="fast")
    assert exact.direction == "zero" and fast.direction == "fast"
    assert agrees(problem, optimizer, rule, *discrepancy(run, a_exact, p_exact, lagged=True), gamma=gamma)
    assert agrees(problem, optimizer, rule, *discrepancy(run, a_fast, p_fast, lagged=True), gamma=gamma)
    k = int(run.stopped_at)  # past the engine's stop both are rounding noise
    gap = np.linalg.norm(p_fast[: k + 1] - p_exact[: k + 1], axis=-1)
    assert np.max(gap / np.linalg.norm(p_exact[: k + 1], axis=-1)) <= 1e-10
    assert fast.history.rejected == exact.history.rejected


def _foreach(name):
    """TORCH[name] with torch's multi-tensor ("foreach") implementation, the default on CUDA."""

    def build(ps, lr):
        optimizer = TORCH[name](ps, lr)
        for group in optimizer.param_groups:
            group["foreach"] = True
        return optimizer

    return build


@pytest.mark.parametrize(("optimizer", "rule"), sorted(CASES))
def test_the_foreach_optimizers_take_the_engines_steps_too(optimizer, rule):
    """torch's foreach SGD with Nesterov adds the momentum into p.grad in place; the wrapper read that
    changed gradient as grad f(theta_t) until a copy was handed over (found on the first CUDA run, where
    foreach is the default: nesterov + retsinas was 17x off)."""
    problem, gamma = CASES[optimizer, rule]
    run = engine(problem, optimizer, rule, gamma=gamma)
    _, alphas, points = train(problem, _foreach(optimizer), rule, gamma=gamma)
    da, dp = discrepancy(run, alphas, points, lagged=rule == "lagged")
    assert agrees(problem, optimizer, rule, da, dp, gamma=gamma), (problem.name, da, dp)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible to torch")
@pytest.mark.parametrize("direction", ["zero", "fast"])
@pytest.mark.parametrize(("optimizer", "rule"), sorted(CASES))
def test_on_cuda_the_wrapper_takes_the_engines_steps(optimizer, rule, direction):
    """The same proof with the parameters on a CUDA device (runs where one is lent: docs/performance.md
    says where it last ran); "fast" swaps the parameters' storage for a flat buffer on the device."""
    if direction == "fast" and (optimizer, rule) not in FAST:
        pytest.skip("the fast mode serves lagged and fixed only")
    problem, gamma = CASES[optimizer, rule]
    run = engine(problem, optimizer, rule, gamma=gamma)
    opt, alphas, points = train(problem, optimizer, rule, gamma=gamma, device="cuda", direction=direction)
    assert opt.param_groups[0]["params"][0].is_cuda
    da, dp = discrepancy(run, alphas, points, lagged=rule == "lagged")
    assert agrees(problem, optimizer, rule, da, dp, gamma=gamma), (problem.name, da, dp)


def test_the_fast_mode_undoes_a_rising_step_and_retries():
    """f = w0^2 + 4 w1^2 by SGD at lr 3 from (1, 2): theta_1 = (-5, -46), the loss rises from 17 to
    8489 (by more than 10 x (17 + 17)); the next call undoes the move (in "fast" by the reverse move,
    to theta's rounding) and retries from theta_0 at 0.3 = shrink x 3: theta_0 - 0.3 (2, 16)."""
    runs = {}
    for direction in ("fast", "zero"):
        w = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=F64))
        opt = TaylorLR(torch.optim.SGD([w], lr=3.0), "lagged", direction=direction)
        closure = lambda w=w: w[0] ** 2 + 4 * w[1] ** 2  # noqa: E731
        opt.step(closure)
        assert w.tolist() == [-5.0, -46.0]
        opt.step(closure)
        np.testing.assert_allclose(w.tolist(), [0.4, -2.8], rtol=1e-15)
        assert opt.history.rejected == 1 and opt.history.firings[0]["rising_loss"] == 1
        assert opt.history.alphas == ((3.0,), (0.30000000000000004,)) and opt.history.losses == (17.0, 17.0)
        for _ in range(5):
            opt.step(closure)
        runs[direction] = (w.detach().clone(), opt.history)
    (w_fast, fast), (w_zero, zero) = runs["fast"], runs["zero"]
    assert float((w_fast - w_zero).norm() / w_zero.norm()) <= 1e-12
    assert fast.firings == zero.firings and fast.rejected == zero.rejected
    np.testing.assert_allclose(fast.alphas, zero.alphas, rtol=1e-12)


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.sampled_from([None, 1e-3, 10.0]))
def test_the_wrappers_rising_test_is_the_guards(loss_start, value, loss_next, bound):
    """lagged asks options.rises before it reads omega_{t+1}: it must fire exactly where next_alpha does."""
    options = TrainingOptions.build("lagged", gamma=1.0, safeguards=tl.Safeguards(rising_loss=bound))
    probe = Probe(alpha=0.1, value=value, omega=np.ones(1), omega_next=np.ones(1))
    _, fired = options.update(probe, loss_start=loss_start, loss_next=loss_next, eps=1.0)
    assert options.rises(loss_start=loss_start, value=value, loss_next=loss_next) == fired["rising_loss"]


VECTOR = st.lists(st.floats(-1e3, 1e3), min_size=5, max_size=5)


@given(VECTOR, VECTOR, st.floats(1e-6, 1e2))
def test_the_fast_modes_inner_products_give_lagged_its_estimates(omega, omega_next, alpha):
    """The fast mode hands the core's lagged rule omega_t and omega_{t+1} as their inner products
    (|omega_t|^2, <omega_{t+1}, omega_t>, |omega_{t+1}|^2), float64 scalars: its slope is
    <omega_{t+1}, omega_t> itself and its curvature <omega_t - omega_{t+1}, omega_t> / alpha as on the
    vectors, to the rounding of |omega_t|^2 - <omega_{t+1}, omega_t> (the rule run on the arrays)."""
    from taylorlr.alpha.rules import dot, lagged

    w, n = np.array(omega), np.array(omega_next)
    gram = _Gram([dot(w, w)], [dot(n, w)], [dot(n, n)]).probe(0, alpha, 1.0)
    on_arrays = Probe(alpha=np.float64(alpha), value=np.float64(1.0), omega=w, omega_next=n)
    rule = lagged()
    slope, curvature = rule.slope(gram), rule.curvature(gram)
    assert type(slope) is np.float64 and type(curvature) is np.float64
    assert slope == rule.slope(on_arrays)
    scale = float(np.sum(np.abs(w) * (np.abs(w) + np.abs(n)))) / alpha
    assert abs(curvature - rule.curvature(on_arrays)) <= 8 * np.finfo(np.float64).eps * scale


@pytest.mark.parametrize("direction", ["fast", "zero"])
def test_a_lagged_zero_curvature_without_guards_is_an_error_and_alpha_stays(direction):
    """f = w0 + w1: omega_{t+1} = omega_t, so <omega_t - omega_{t+1}, omega_t> = 0 and the pure
    formula divides by zero: a NonFiniteLossError, and the learning rate in use stays 0.1."""
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=F64))
    opt = TaylorLR(torch.optim.SGD([w], lr=0.1), "lagged", safeguards="none", direction=direction)
    opt.step(lambda: w.sum())
    with pytest.raises(NonFiniteLossError, match=r"next learning rates are \[inf\].*safeguards='default'"):
        opt.step(lambda: w.sum())
    assert opt.alphas == [0.1] and opt.param_groups[0]["lr"] == 0.1


def test_auto_picks_fast_for_lagged_where_it_serves_and_fast_elsewhere_is_refused():
    w = torch.nn.Parameter(torch.ones(2, dtype=F64))
    v = torch.nn.Parameter(torch.ones(2, dtype=torch.float32))
    assert TaylorLR(torch.optim.Adam([w]), "lagged").direction == "fast"
    assert TaylorLR(torch.optim.SGD([w], lr=0.1), "fixed").direction == "fast"
    assert TaylorLR(torch.optim.Adam([w]), "retsinas").direction == "zero"
    assert TaylorLR(torch.optim.Adam([w, v]), "lagged").direction == "zero"  # one group, two dtypes
    with pytest.raises(tl.OptionError, match=r'direction="fast" cannot serve.*not \'exact\''):
        TaylorLR(torch.optim.Adam([w]), "exact", direction="fast")
    with pytest.raises(tl.OptionError, match="ZERO_SAFE from theta = 0, and Dampened is not one"):
        TaylorLR(Dampened([w]), "lagged", direction="fast")
    with pytest.raises(tl.OptionError, match="mixes dtypes"):
        TaylorLR(torch.optim.Adam([w, v]), "lagged", direction="fast")


class Dampened(torch.optim.SGD):
    """A user's optimizer (a name taylorlr does not know): read with direction="difference"."""


# ---------------------------------------------------------------------- the record


@pytest.mark.parametrize("rule", ["exact", "retsinas", "value-gradient", "three-point", "lagged", "fixed"])
def test_extra_passes_are_counted_as_documented(rule):
    opt, _, _ = train(LS, "adam", rule, steps=7, gamma=0.1, safeguards="none")
    per_step = opt.extra_passes_per_step
    assert opt.history.passes == {name: 7 * n for name, n in per_step.items()}
    assert opt.history.steps == 7 and len(opt.history.losses) == 7


@pytest.mark.parametrize("direction", ["fast", "zero"])
def test_state_dict_round_trips(direction):
    def fresh():
        w = torch.nn.Parameter(torch.tensor(ROSEN2.start, dtype=F64))
        return w, TaylorLR(torch.optim.Adam([w], lr=1e-3), "lagged", gamma=0.1, direction=direction)

    w, opt = fresh()
    closure = lambda: ROSEN2.function(torch, w)  # noqa: E731
    for _ in range(5):
        opt.step(closure)
    state, saved = copy.deepcopy(opt.state_dict()), w.detach().clone()  # as torch.save would
    for _ in range(5):
        opt.step(closure)
    w2, opt2 = fresh()
    with torch.no_grad():
        w2.copy_(saved)
    opt2.load_state_dict(state)
    for _ in range(5):
        opt2.step(lambda: ROSEN2.function(torch, w2))
    assert torch.equal(w, w2) and opt.history == opt2.history and opt.alphas == opt2.alphas
    with pytest.raises(tl.OptionError, match="saved with rule 'lagged'"):
        TaylorLR(torch.optim.Adam([w], lr=1e-3), "exact").load_state_dict(state)
    other = "zero" if direction == "fast" else "fast"
    with pytest.raises(tl.OptionError, match=f"saved with direction='{direction}'.*direction='{direction}'"):
        TaylorLR(torch.optim.Adam([w], lr=1e-3), "lagged", direction=other).load_state_dict(state)


def test_each_group_has_its_own_alpha():
    """f(x, y) = f1(x) + f2(y), x and y in two groups of different sizes: each group's alphas
    are those of tl.run on its own part (the rules are block-wise)."""
    x = torch.nn.Parameter(torch.tensor(SPD.start, dtype=F64))
    y = torch.nn.Parameter(torch.tensor(ROSEN2.start, dtype=F64))
    opt = TaylorLR(torch.optim.Adam([{"params": [x], "lr": 1e-3}, {"params": [y], "lr": 2e-3}]), "exact",
                   gamma=0.1, safeguards=tl.Safeguards(rising_loss=None))  # fmt: skip
    for _ in range(30):
        opt.step(lambda: SPD.function(torch, x) + ROSEN2.function(torch, y))
    for group, (problem, alpha0) in enumerate([(SPD, 1e-3), (ROSEN2, 2e-3)]):
        run = engine(problem, "adam", "exact", steps=30, alpha0=alpha0, gamma=0.1,
                     safeguards=tl.Safeguards(rising_loss=None))  # fmt: skip
        mine = np.array([a[group] for a in opt.history.alphas])
        k = int(run.stopped_at)
        np.testing.assert_allclose(mine[:k], run.alphas[:k], rtol=1e-10)
        assert opt.history.firings[group] == run.safeguard_counts.totals()
    assert opt.history.passes["hvp"] == 2 * 30  # one per group and step
    assert [g["lr"] for g in opt.param_groups] == opt.alphas


def test_lagged_and_fixed_run_without_a_closure():
    w = torch.nn.Parameter(torch.tensor(LS.start, dtype=F64))
    opt = TaylorLR(torch.optim.SGD([w], lr=1e-3), "lagged")
    for _ in range(20):
        opt.zero_grad()
        LS.function(torch, w).backward()
        opt.step()
    options = {"steps": 20, "safeguards": tl.Safeguards(rising_loss=None)}
    run = engine(LS, "gd", "lagged", **options)
    k = int(run.stopped_at)
    da = np.max(np.abs(np.array(opt.history.alphas)[:k, 0] - run.alphas[:k]) / run.alphas[:k])
    assert agrees(LS, "gd", "lagged", da, 0.0, **options), da


# ---------------------------------------------------------------------- bad input


def _one(rule="exact", dtype=F64, optimizer=torch.optim.SGD, **options):
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=dtype))
    return w, TaylorLR(optimizer([w], lr=0.1), rule, **options)


def test_a_closure_returning_a_non_scalar_is_refused():
    w, opt = _one()
    with pytest.raises(ClosureError, match=r"shape \(2,\).*\.mean\(\)"):
        opt.step(lambda: w**2)
    with pytest.raises(ClosureError, match=r"not a tensor.*not loss.item\(\)"):
        opt.step(lambda: (w**2).sum().item())
    assert torch.equal(w.detach(), torch.tensor([1.0, 2.0], dtype=F64))


def test_a_closure_that_calls_backward_is_refused():
    w, opt = _one()

    def closure():
        loss = (w**2).sum()
        loss.backward()
        return loss

    with pytest.raises(ClosureError, match="called backward"):
        opt.step(closure)


def test_a_nan_loss_at_theta_t_is_an_error_and_nothing_moves():
    w, opt = _one()
    with pytest.raises(NonFiniteLossError, match="nothing moved"):
        opt.step(lambda: (w**2).sum() * float("nan"))
    assert torch.equal(w.detach(), torch.tensor([1.0, 2.0], dtype=F64))


def test_a_finite_gradient_whose_sum_overflows_is_finite():
    """3e38 twice is finite in float32 though its sum is not: the step is taken, no false NaN error."""
    w = torch.tensor([1e-30, 1e-30], requires_grad=True)
    opt = TaylorLR(torch.optim.SGD([w], lr=1e-70), "lagged")
    scale = torch.tensor([3e38, 3e38])
    opt.step(lambda: (w * scale).sum())
    assert w.detach().tolist() != [1e-30, 1e-30] and torch.isfinite(w).all()


def _nan_below_half(w):
    """(w**2).sum(), but NaN once w[0] < 0.5: the step from w = (1, 2) at lr 0.4 lands there."""
    return lambda: torch.where(w[0] < 0.5, torch.tensor(float("nan"), dtype=F64), (w**2).sum())


def test_a_nan_loss_at_theta_plus_is_a_counted_rejection():
    w, opt = _one(optimizer=lambda ps, lr: torch.optim.SGD(ps, lr=0.4))
    opt.step(_nan_below_half(w))
    assert opt.history.rejected == 1 and opt.history.firings[0]["rising_loss"] == 1
    assert torch.equal(w.detach(), torch.tensor([1.0, 2.0], dtype=F64))  # the move was undone
    assert math.isclose(opt.alphas[0], 0.04)  # shrink (0.1) x 0.4
    w, off = _one(optimizer=lambda ps, lr: torch.optim.SGD(ps, lr=0.4), safeguards="none")
    with pytest.raises(NonFiniteLossError, match="rising-loss guard is off"):
        off.step(_nan_below_half(w))
    assert torch.equal(w.detach(), torch.tensor([1.0, 2.0], dtype=F64))


def test_a_parameter_without_grad_is_refused_and_an_unused_one_left_alone():
    frozen = torch.nn.Parameter(torch.ones(3), requires_grad=False)
    with pytest.raises(ParameterError, match=r"does not require grad.*requires_grad_"):
        TaylorLR(torch.optim.SGD([frozen], lr=0.1))
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=F64))
    unused = torch.nn.Parameter(torch.tensor([5.0], dtype=F64))
    opt = TaylorLR(torch.optim.Adam([w, unused], lr=0.1), "retsinas")
    for _ in range(3):
        opt.step(lambda: (w**2).sum())
    assert unused.item() == 5.0 and w.abs().max() < 2.0


@pytest.mark.parametrize("rule", ["exact", "retsinas", "value-gradient", "three-point", "line-search"])
def test_a_rule_that_evaluates_the_loss_needs_a_closure(rule):
    w, opt = _one(rule)
    (w**2).sum().backward()
    with pytest.raises(ClosureError, match=r"needs a closure.*only 'fixed' and 'lagged'"):
        opt.step()


def test_a_sparse_gradient_is_refused():
    embedding = torch.nn.Embedding(10, 3, sparse=True).double()
    opt = TaylorLR(torch.optim.SGD(embedding.parameters(), lr=0.1), "retsinas")
    with pytest.raises(ParameterError, match=r"sparse gradient.*sparse=False"):
        opt.step(lambda: embedding(torch.tensor([1, 2])).pow(2).sum())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_parameters_are_refused(dtype):
    with pytest.raises(ParameterError, match=r"float32 parameters.*autocast"):
        _one(dtype=dtype)


def test_several_groups_with_a_one_line_rule_are_refused():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(5))
    with pytest.raises(tl.OptionError, match=r"one alpha for all.*2 param groups.*'exact', 'retsinas'"):
        TaylorLR(torch.optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1), "three-point")


@pytest.mark.parametrize("rule", ["lagged", "exact", "fixed"])
def test_a_group_added_after_wrapping_is_refused_before_anything_moves(rule):
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(3))
    inner = torch.optim.SGD([a], lr=0.1)
    opt = TaylorLR(inner, rule)
    inner.add_param_group({"params": [b], "lr": 0.1})
    with pytest.raises(
        ParameterError, match=r"param groups changed after it was wrapped.*wrap the optimizer again"
    ):
        opt.step(lambda: (a.sum() + b.sum()) ** 2)
    assert torch.equal(a.detach(), torch.ones(2)) and torch.equal(b.detach(), torch.ones(3))


def test_a_parameter_swapped_in_a_group_after_wrapping_is_refused():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    inner = torch.optim.SGD([a], lr=0.1)
    opt = TaylorLR(inner, "lagged")
    inner.param_groups[0]["params"] = [b]  # the same count, another tensor
    with pytest.raises(ParameterError, match=r"param groups changed after it was wrapped"):
        opt.step(lambda: (b**2).sum())
    assert torch.equal(b.detach(), torch.ones(2))


@pytest.mark.parametrize(("make", "match"), [
    (lambda w: torch.optim.LBFGS([w]), "LBFGS: it runs its own line search"),
    (lambda w: torch.optim.Rprop([w]), "Rprop"),
    (lambda w: "sgd", "wraps a torch.optim.Optimizer"),
])  # fmt: skip
def test_optimizers_without_a_learning_rate_factor_are_refused(make, match):
    w = torch.nn.Parameter(torch.ones(2))
    with pytest.raises(tl.OptionError, match=match):
        TaylorLR(make(w))


def test_float32_parameters_train_with_float32_precision_guards():
    w, opt = _one("three-point", dtype=torch.float32)
    for _ in range(5):
        opt.step(lambda: ((w - 3) ** 2).sum())
    assert all(math.isfinite(a) for (a,) in opt.history.alphas) and w.dtype == torch.float32
