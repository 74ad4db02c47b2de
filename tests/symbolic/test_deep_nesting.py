"""Deeply nested compositions (50-level sin chains, power towers): derivatives that are right, and bounded.

The derivative of an n-fold composition has O(n) distinct subexpressions: SymPy's chain rule
took seconds to minutes on them (and its conversion from SymEngine exhausted the stack on a
100-level tower). Values are checked against an independent second-order forward-mode (jet)
evaluation in mpmath; the budget contract (a value or a TaylorLRError, within budget + 1 s) is
checked in a forked child.
"""

from __future__ import annotations

import time

import mpmath
import numpy as np
import pytest
import sympy
from forked import in_fork

import taylorlr as tl
from taylorlr._budget import Budget
from taylorlr.errors import BudgetExceededError, LossDefinitionError, TaylorLRError
from taylorlr.symbolic.depth import depth, to_sympy_iteratively

mpmath.mp.dps = 40


def nest(template: str, n: int) -> str:
    """``template`` with ``@`` replaced n times around ``x``; "tower" is x**x**...**x (n x's)."""
    if template == "tower":
        return "**".join(["x"] * n)
    text = "x"
    for _ in range(n):
        text = template.replace("@", text)
    return text


# second-order jets (value, first, second derivative): an independent chain rule
def jet_sin(u):
    v, d1, d2 = u
    return mpmath.sin(v), mpmath.cos(v) * d1, -mpmath.sin(v) * d1**2 + mpmath.cos(v) * d2


def jet_exp(u):
    e = mpmath.exp(u[0])
    return e, e * u[1], e * (u[1] ** 2 + u[2])


def jet_mul(u, w):
    return u[0] * w[0], u[1] * w[0] + u[0] * w[1], u[2] * w[0] + 2 * u[1] * w[1] + u[0] * w[2]


def expected(template: str, n: int, x: mpmath.mpf) -> tuple:
    u = (x, mpmath.mpf(1), mpmath.mpf(0))
    if template == "sin(@)":
        for _ in range(n):
            u = jet_sin(u)
        return u
    log_x = (mpmath.log(x), 1 / x, -1 / x**2)
    for _ in range(n - 1):  # x**T = exp(T log x), from the top of the tower down
        u = jet_exp(jet_mul(u, log_x))
    return u


def at(expr: sympy.Expr, x: sympy.Symbol, value: str) -> mpmath.mpf:
    return mpmath.mpf(str(expr.xreplace({x: sympy.Float(value, 40)})))


@pytest.mark.parametrize("template", ["sin(@)", "tower"])
def test_the_gradient_and_hessian_of_50_levels_match_an_independent_chain_rule(template):
    loss = tl.Loss(nest(template, 50))
    x = loss.variables[0]
    _, first, second = expected(template, 50, mpmath.mpf("0.3"))
    assert at(loss.gradient[0], x, "0.3") == pytest.approx(first, rel=1e-25)
    if template != "tower":  # the tower's Hessian is right too, but seconds to evaluate in SymPy
        assert at(loss.hessian[0, 0], x, "0.3") == pytest.approx(second, rel=1e-25)


def test_a_100_level_tower_converts_to_sympy_without_exhausting_the_stack():
    loss = tl.Loss(nest("tower", 100))
    (gradient,) = loss.gradient
    assert depth(gradient) > 100  # deeper than SymPy's recursive conversion could rebuild
    assert gradient.free_symbols == {loss.variables[0]}  # the user's real symbol, restored


def test_the_iterative_conversion_equals_sympys_on_a_shallow_expression():
    import symengine

    x, y = symengine.symbols("x y")
    expr = symengine.exp(symengine.sin(x * y)) * 3 + x**y / (1 + y**2)
    assert sympy.simplify(to_sympy_iteratively(expr) - sympy.sympify(expr)) == 0


def test_kinks_nested_too_deep_for_sympy_are_refused_before_the_work():
    with pytest.raises(LossDefinitionError, match="nested more than 48 levels deep around abs"):
        tl.Loss(nest("sin(abs(@))", 40)).gradient


def test_kinks_that_need_more_time_than_is_left_are_refused_at_once():
    loss = tl.Loss(nest("sin(abs(@))", 23))  # about 3 s of SymPy's uninterruptible chain rule
    with Budget(stage="derivatives", seconds=0.5).active(), pytest.raises(BudgetExceededError) as caught:
        loss.gradient
    assert caught.value.stage == "derivatives" and "would need about" in str(caught.value)


def _outcome(work, text: str, budget_s: float, limit_s: float = 60.0) -> tuple[str, float, object]:
    """``work(Loss(text), budget_s)`` in a forked child: ("value" or the TaylorLRError's name or
    "untyped ...", the seconds ``work`` took, what it returned); a child still working after
    ``limit_s`` is killed and reported as "hang" (a regression fails, it does not stall CI)."""

    def timed() -> tuple[str, float, object]:
        loss = tl.Loss(text)  # parsing is not a budgeted stage: off the clock
        started = time.monotonic()
        result = None
        try:
            result = work(loss, budget_s)
            outcome = "value"
        except TaylorLRError as error:
            outcome = type(error).__name__
        except BaseException as error:
            outcome = f"untyped {type(error).__name__}: {error}"
        return outcome, time.monotonic() - started, result

    status, answer = in_fork(timed, limit_s)
    if status == "done":
        return answer  # type: ignore[return-value]
    return status, limit_s if status == "hang" else 0.0, None


def _gradient_and_hessian(loss: tl.Loss, budget_s: float) -> None:
    with Budget(stage="derivatives", seconds=budget_s).active():
        loss.gradient
        loss.hessian


def _compiled(loss: tl.Loss, budget_s: float) -> None:
    loss.compile(budget_s=budget_s).grad(np.array([0.3]))


def _taylor(loss: tl.Loss, budget_s: float) -> None:
    loss.taylor({"x": sympy.Rational(3, 10)}, order=4, budget_s=budget_s)


NESTS = [nest("sin(@)", 99), nest("tower", 100), nest("tanh(@)", 99), nest("sin(abs(@))", 24)]


_NAMES = ["sin99", "tower100", "tanh99", "sin-abs24"]
_STAGES = [(_gradient_and_hessian, name, text) for name, text in zip(_NAMES, NESTS, strict=True)]
_STAGES += [
    (stage, name, text)
    for stage in (_compiled, _taylor)
    for name, text in zip(_NAMES[:2], NESTS[:2], strict=True)
]


@pytest.mark.parametrize(
    ("stage", "text"),
    [pytest.param(stage, text, id=f"{stage.__name__[1:]}-{name}") for stage, name, text in _STAGES],
)
def test_deep_nests_end_in_a_value_or_a_typed_error_within_their_budget(stage, text):
    budget_s = 1.5
    outcome, seconds, _ = _outcome(stage, text, budget_s)
    assert outcome in ("value", "BudgetExceededError", "LossDefinitionError", "PointError"), outcome
    assert seconds < budget_s + 1.0 + 2.0  # the contract is budget + 1 s; 2 s more for a loaded CI runner


@pytest.mark.parametrize("template", ["sin(@)", "tower"])
def test_the_simd_generator_compiles_100_levels_without_recursion(template):
    # the loop's translator walks the tree over an explicit stack: no RecursionError, the jets' numbers
    n = 100 if template == "tower" else 99
    compiled = tl.Loss(nest(template, n)).compile(generator="simd")
    _, first, second = expected(template, n, mpmath.mpf("0.3"))
    assert compiled.grad(np.array([0.3]))[0] == pytest.approx(float(first), rel=1e-12)
    assert compiled.hess(np.array([0.3]))[0, 0] == pytest.approx(float(second), rel=1e-12)
