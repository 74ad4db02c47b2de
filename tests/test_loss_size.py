"""Issue 15: every check of Loss() is one pass over the expression, budgeted, and never recursive.

Large SymPy losses (a 1000-variable sum of squares, sums of 10^4 terms) go through the
gradient, the Hessian-vector product and compile() with the closed-form answers; the checks
stop at their budget with a typed error naming the stage and the option; a SymPy expression
too deep for SymPy's own recursive walks is refused, not a RecursionError. The times before
and after are measured by ``bench/bench_loss_size.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

import taylorlr as tl
from taylorlr.errors import BudgetExceededError, LossDefinitionError, OptionError
from taylorlr.loss import MAX_LOSS_DEPTH, _real_symbols
from taylorlr.symbolic.walk import constant_parts, distinct, survey
from tests.strategies import SYMBOLS, X, Y, Z, smooth_expressions


def _sum_of_squares(n: int, real: bool | None = None) -> tuple[sympy.Expr, list[sympy.Symbol]]:
    xs = [sympy.Symbol(f"x{i}", real=real) for i in range(n)]
    return sympy.Add(*[(i % 7 + 1) * x**2 for i, x in enumerate(xs)]), xs


def test_a_1000_variable_sum_of_squares_through_gradient_hvp_and_compile() -> None:
    expr, _ = _sum_of_squares(1000)  # plain symbols: made real by Loss()
    loss = tl.Loss(expr)
    weights = np.array([i % 7 + 1 for i in range(1000)], dtype=float)
    assert loss.n == 1000 and all(v.is_real for v in loss.variables)
    assert list(loss.gradient[:3]) == [2 * loss.variables[0], 4 * loss.variables[1], 6 * loss.variables[2]]
    v = loss.vector_symbols()
    assert loss.hvp()[999] == 2 * (999 % 7 + 1) * v[999]
    rng = np.random.default_rng(0)
    w, u = rng.normal(size=(2, 1000))
    compiled = loss.compile()
    assert compiled.value(w) == pytest.approx(float(weights @ w**2), rel=1e-13)
    np.testing.assert_allclose(compiled.grad(w), 2 * weights * w, rtol=1e-15)
    np.testing.assert_allclose(compiled.hvp(w, u), 2 * weights * u, rtol=1e-15)


def test_a_4000_term_sum_through_gradient_and_hvp() -> None:
    rng = np.random.default_rng(1)
    c = rng.uniform(0.5, 2.0, 4000)
    xs = [sympy.Symbol(f"x{i}") for i in range(4000)]
    loss = tl.Loss(sympy.Add(*[sympy.Float(ci) * x**2 for ci, x in zip(c, xs, strict=True)]))
    assert loss.n == 4000
    gradient, v = loss.gradient, loss.vector_symbols()
    hvp = loss.hvp()  # each was a quadratic walk (at 10^4 terms: 45 s and 90 s)
    for i in (0, 1234, 3999):
        assert gradient[i] == 2 * sympy.Float(c[i]) * loss.variables[i]
        assert hvp[i] == 2 * sympy.Float(c[i]) * v[i]


def test_the_checks_stop_at_their_budget_naming_the_stage_and_the_option() -> None:
    expr, _ = _sum_of_squares(3000, real=True)
    with pytest.raises(BudgetExceededError) as caught:
        tl.Loss(expr, budget_s=1e-9)
    assert caught.value.stage == "loss definition" and caught.value.option == "budget_s"
    assert "budget_s" in str(caught.value)


@pytest.mark.parametrize("budget_s", [0, -1.0, float("nan"), float("inf"), "10", True])
def test_a_bad_budget_is_an_option_error(budget_s: object) -> None:
    with pytest.raises(OptionError, match="budget_s"):
        tl.Loss("x**2", budget_s=budget_s)  # type: ignore[arg-type]


def _chain(levels: int) -> tuple[sympy.Expr, list[sympy.Symbol]]:
    """x0**2 + x1**2 + ... added one at a time, unevaluated: a sum as deep as it is long."""
    xs = [sympy.Symbol(f"x{i}", real=True) for i in range(levels)]
    expr = xs[0] ** 2
    with sympy.evaluate(False):
        for x in xs[1:]:
            expr = sympy.Add(expr, x**2)
    return expr, xs


def test_an_expression_too_deep_for_sympy_is_refused_with_the_fix() -> None:
    expr, _ = _chain(MAX_LOSS_DEPTH + 350)  # was a raw RecursionError inside free_symbols
    with pytest.raises(LossDefinitionError, match=r"nested more than 250 levels.*sympy.Add\(\*terms\)"):
        tl.Loss(expr)


def test_an_expression_at_the_depth_limit_is_a_loss_with_its_gradient() -> None:
    expr, xs = _chain(MAX_LOSS_DEPTH - 2)
    loss = tl.Loss(expr)
    assert loss.n == len(xs) and loss.gradient[5] == 2 * xs[5]
    assert loss.compile().value(np.ones(loss.n)) == pytest.approx(loss.n)


def test_every_power_is_checked_not_only_the_first() -> None:
    a, x = sympy.symbols("a x", real=True)
    # the check once remembered Pow as "checked" after a**2 and let (-3)**x through
    with pytest.raises(LossDefinitionError, match=r"\(-3\)\*\*x"):
        tl.Loss(a**2 * (x + sympy.Pow(-3, x)))
    with pytest.raises(LossDefinitionError, match=r"0\*\*x"):
        tl.Loss(a**2 * (x + sympy.Pow(0, x, evaluate=False)))


_PLAIN = {s: sympy.Symbol(s.name) for s in SYMBOLS}


@given(smooth_expressions(), st.booleans())
def test_plain_symbols_become_the_expression_sympy_builds_on_real_ones(
    real_expr: sympy.Expr, wrap_abs: bool
) -> None:
    if wrap_abs:
        real_expr = sympy.Abs(real_expr) ** 2 + sympy.sqrt(real_expr**2)
    plain_expr = real_expr.xreplace(_PLAIN)  # the same expression, built on symbols not known real
    assert _real_symbols(plain_expr) == real_expr.xreplace({})


def test_constants_are_the_largest_parts_sympy_calls_numbers_and_every_number() -> None:
    x = sympy.Symbol("x", real=True)
    expr = sympy.exp(1000) * x + 3 * sympy.sin(x + sympy.pi / 7) + sympy.Rational(1, 3) ** (x + sympy.E)
    nodes = list(sympy.preorder_traversal(expr))
    parents = {arg: node for node in nodes for arg in node.args}
    expected = {n for n in nodes if isinstance(n, sympy.Number)}
    expected |= {n for n in nodes if n.is_number and not parents[n].is_number}
    assert set(constant_parts(expr)) == expected
    assert {sympy.exp(1000), sympy.pi / 7, sympy.E} <= expected


def test_two_symbols_of_one_name_are_refused_by_that_name() -> None:
    plain, positive = sympy.Symbol("x"), sympy.Symbol("x", positive=True)
    with pytest.raises(LossDefinitionError, match="two different symbols share the name 'x'"):
        tl.Loss(plain**2 + positive + sympy.Symbol("y"))


def _levels(expr: sympy.Basic) -> int:
    return 1 + max((_levels(arg) for arg in expr.args), default=0)


_EXTRA = st.sampled_from(
    [sympy.Integer(1), X**Y, sympy.Integer(2) ** X, sympy.pi * X, sympy.sqrt(3) * Y, sympy.Abs(Z - 1)]
)


@given(smooth_expressions(), _EXTRA)
def test_one_survey_finds_what_sympys_own_walks_find(expr: sympy.Expr, extra: sympy.Expr) -> None:
    expr = expr + extra
    nodes = list(sympy.preorder_traversal(expr))
    found = survey(expr)
    assert found.levels == _levels(expr)
    assert set(found.symbols) == expr.free_symbols and len(found.symbols) == len(expr.free_symbols)
    assert list(found.symbols) == [n for n in distinct(expr) if isinstance(n, sympy.Symbol)]
    assert found.types == {type(n) for n in nodes}
    parents = {arg: node for node in nodes for arg in node.args}
    constants = {n for n in nodes if isinstance(n, sympy.Number)}
    constants |= {n for n in nodes if n.is_number and (n == expr or not parents[n].is_number)}
    assert set(found.constants) == constants and len(found.constants) == len(constants)
    unsettled = {
        n
        for n in nodes
        if isinstance(n, sympy.Pow) and (n.exp.free_symbols or (n.base.is_number and not n.exp.is_Integer))
    }
    assert set(found.powers) == unsettled


_BIG = sympy.Add(*[(i + 1) * (SYMBOLS[i % 3] - i) ** 2 for i in range(60)])


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (sympy.I * X, "non-real constant"),
        (sympy.zoo * X, "infinities and nan"),
        (sympy.Function("f")(X), "unsupported 'f'"),
        (sympy.Integral(X, X), "unsupported 'Integral'"),
        (sympy.EulerGamma * X, "constant EulerGamma is not supported"),
        (sympy.Pow(0, X, evaluate=False), r"0\*\*x is 0 only where"),
        (sympy.Pow(-3, X), r"negative number to a non-integer power"),
        (sympy.exp(sympy.Integer(10) ** 6) * X, "far beyond float64's range"),
        (sympy.Float("1e400") * X, "does not fit in float64"),
        (sympy.Float("1e-400") * X, "below float64's smallest normal"),
    ],
)
def test_a_refused_node_inside_a_large_loss_is_named_as_alone(bad: sympy.Expr, match: str) -> None:
    # the checks run as one pass first; what it flags is named by the checks as they always ran
    for expr in (bad + Y, _BIG + sympy.sin(Y) * (Z + bad)):
        with pytest.raises(LossDefinitionError, match=match):
            tl.Loss(expr)
