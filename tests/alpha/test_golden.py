"""The golden-section oracle (f not a polynomial): its alpha against the true minimiser of the same
bracket found in 40-digit mpmath from f's exact expression, the calls it makes, and a member's
alpha independent of its batch on both paths."""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np
import pytest
import sympy

import taylorlr as tl
from taylorlr.alpha import oracle

LOSSES = [
    "log(1 + x**2) + exp(y/3) + y**2/2 + x*y/4",
    "exp(x) - 2*x + cosh(y - 1)",
    "(exp(-x) - y)**2 + sin(x)**2/10",
    "sqrt(1 + (x - 3)**2) + log(cosh(y))",
]


def _true_minimiser(loss: tl.Loss, theta: Any, omega: Any, guess: float) -> float:
    """The minimiser of g(a) = f(theta - a s omega) (s = +-1: the side along which f falls) in the
    bracket of the grid guess * 2^k around its lowest point, in 40 digits; NaN at the grid's ends."""
    a = sympy.Symbol("a")
    with mpmath.workdps(40):
        slope0 = sum(float(d) * w for d, w in zip(loss.compile().grad(theta), omega, strict=True))
        side = 1 if slope0 >= 0 else -1
        pairs = zip(loss.variables, theta, omega, strict=True)
        g = loss.expr.xreplace({v: sympy.Float(t, 40) - side * a * sympy.Float(w, 40) for v, t, w in pairs})
        value = sympy.lambdify(a, g, "mpmath")
        slope = sympy.lambdify(a, sympy.diff(g, a), "mpmath")
        grid = [mpmath.mpf(0)] + [guess * mpmath.mpf(2) ** k for k in range(-40, 41)]
        k = min(range(len(grid)), key=lambda i: value(grid[i]))
        if k in (0, len(grid) - 1):
            return float("nan")
        low, high = grid[k - 1], grid[k + 1]
        assert slope(low) < 0 < slope(high)  # a minimiser inside the bracket
        return side * float(mpmath.findroot(slope, (low, high), solver="anderson"))


@pytest.mark.parametrize("text", LOSSES)
def test_the_golden_alpha_is_the_true_minimiser_of_its_bracket(text: str):
    loss = tl.Loss(text)
    compiled = loss.compile()
    line = oracle.build_line_oracle(loss, compiled)
    assert line.method == oracle.OracleMethod.GOLDEN
    rng = np.random.default_rng(7)
    theta = rng.normal(size=(6, 2))
    omega = np.concatenate([compiled.grad(theta[:3]), rng.normal(size=(3, 2))])  # some not descent
    got = line.minimise(theta, omega, np.full(6, 0.1), {})
    for k in range(6):
        want = _true_minimiser(loss, theta[k], omega[k], 0.1)
        if np.isnan(want):
            assert np.isnan(got[k])
        else:  # about sqrt(eps) relative: what values of f can tell apart (docs/rules.md)
            assert got[k] == pytest.approx(want, rel=1e-6)


def test_where_the_line_minimum_is_zero_the_golden_alpha_is_found_to_rounding():
    # g = (x e^y - 1)^2 >= 0 touches 0: values near the minimiser are exact enough to compare
    loss = tl.Loss("(x*exp(y) - 1)**2")
    theta = np.array([[0.5, 0.25], [2.0, -0.5], [0.3, 1.0]])
    omega = np.array([[-1.0, 0.0], [1.0, 0.0], [-0.5, 0.0]])  # along x: the root of x e^y = 1
    got = oracle.build_line_oracle(loss, loss.compile()).minimise(theta, omega, np.full(3, 0.1), {})
    for k in range(3):
        want = _true_minimiser(loss, theta[k], omega[k], 0.1)
        assert got[k] == pytest.approx(want, rel=1e-13)


def test_a_line_with_no_minimum_on_the_grid_gets_nan():
    loss = tl.Loss("atan(x) + y**2")  # along -x, f falls for ever (and distinctly, to 2^40 alpha)
    got = oracle.build_line_oracle(loss, loss.compile()).minimise(
        np.array([0.0, 0.0]), np.array([1.0, 0.0]), np.array(0.1), {}
    )
    assert np.isnan(got)


class _Counting:
    """A compiled loss that counts its value calls and the points asked."""

    def __init__(self, compiled: Any) -> None:
        self.compiled, self.calls, self.points = compiled, 0, 0

    def grad(self, W: Any, **data: Any) -> Any:
        return self.compiled.grad(W, **data)

    def value(self, W: Any, **data: Any) -> Any:
        self.calls += 1
        self.points += int(np.prod(W.shape[:-1]))
        return self.compiled.value(W, **data)


@pytest.mark.parametrize("members", [1, 40, 5000])
def test_the_grid_takes_batched_calls_and_every_golden_step_one(members: int):
    loss = tl.Loss(LOSSES[0])
    counting = _Counting(loss.compile())
    minimise = oracle._golden_minimiser(counting)
    theta = np.tile([1.5, -0.5], (members, 1))
    minimise(theta, counting.compiled.grad(theta), np.full(members, 0.1), {})
    grid = 2 * oracle.GRID_HALF_WIDTH + 2  # 0 and 2^-40 ... 2^40
    per_call = max(1, oracle.GRID_POINTS_PER_CALL // members)
    grid_calls = -(-grid // per_call)
    assert grid_calls == (1 if members <= 49 else grid)
    assert counting.calls == grid_calls + oracle.golden_iterations()  # the first step evaluates 2 points
    assert counting.points == members * (grid + oracle.golden_iterations() + 1)


def test_a_members_golden_alpha_is_the_same_alone_and_in_any_batch():
    loss = tl.Loss(LOSSES[1])
    compiled = loss.compile()
    minimise = oracle.build_line_oracle(loss, compiled).minimise
    rng = np.random.default_rng(3)
    theta = rng.normal(size=(5, 2))
    omega = compiled.grad(theta)
    guess = np.array([0.1, 1.0, 1e-3, 0.1, 5.0])
    batch = minimise(theta, omega, guess, {})
    many = minimise(np.repeat(theta, 30, axis=0), np.repeat(omega, 30, axis=0), np.repeat(guess, 30), {})
    for k in range(5):
        alone = minimise(theta[k], omega[k], guess[k], {})
        assert alone == batch[k] and (many[30 * k : 30 * k + 30] == alone).all()


@pytest.mark.parametrize("path", ["fused", "generic"])
def test_a_runs_oracle_alphas_do_not_depend_on_its_batch(path: str):
    loss = tl.Loss(LOSSES[0])
    starts = [[1.5, -0.5], [0.3, 2.0], [-1.0, 1.0]]
    together = tl.run(loss, starts, steps=4, path=path, tol=0.0)
    assert together.oracle_method == "golden section (local)" and together.settings["path"] == path
    for k, start in enumerate(starts):
        alone = tl.run(loss, start, steps=4, path=path, tol=0.0)
        np.testing.assert_array_equal(alone.oracle_alphas, together.oracle_alphas[:, k])


def test_array_api_strict_finds_the_same_minimiser():
    pytest.importorskip("array_api_strict")
    loss = tl.Loss(LOSSES[0])
    run = tl.run(loss, [1.5, -0.5], steps=3, tol=0.0, backend="array-api-strict")
    reference = tl.run(loss, [1.5, -0.5], steps=3, tol=0.0)
    np.testing.assert_allclose(np.asarray(run.oracle_alphas, dtype=float), reference.oracle_alphas, rtol=1e-6)
