"""The compile stage keeps its budget: kernels build under budget_s, the CSE is bounded by size."""

from __future__ import annotations

import time

import numpy as np
import pytest
import symengine as se
import sympy

import taylorlr as tl
from taylorlr._budget import Budget
from taylorlr.compile import _cse, simd_codegen, xp_codegen
from taylorlr.errors import BudgetExceededError


@pytest.fixture(scope="module")
def large_sum() -> tl.Loss:
    xs = sympy.symbols("x0:600", real=True)
    loss = tl.Loss(sympy.Add(*[sympy.sin(v) * (i + 1) for i, v in enumerate(xs)]))
    loss.compiled_derivatives  # taken first: the budgets below are the kernels' alone
    return loss


@pytest.mark.parametrize("generator", ["xp", "simd"])
def test_a_kernel_build_checks_the_budget_inside(large_sum: tl.Loss, generator: str) -> None:
    compiled = large_sum.compile(generator=generator)
    with Budget(stage="compile", seconds=1e-9).active(), pytest.raises(BudgetExceededError) as caught:
        compiled.value(np.ones(600))  # its deadline passed before the first check
    assert caught.value.stage == "compile"
    assert "value" not in compiled._functions  # nothing half-built is kept


def test_llvm_code_generation_starts_only_when_its_estimate_fits(
    large_sum: tl.Loss, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the uninterruptible step is bounded by size: at 1 s per IR instruction (an estimate far
    # beyond the 5 s budget) the loop is refused before LLVM starts, not after
    monkeypatch.setattr(simd_codegen, "JIT_SECONDS_PER_INSTRUCTION", 1.0)  # estimates of hours
    simd_codegen._cached_kernel.cache_clear()
    compiled = large_sum.compile(generator="simd", budget_s=5)
    with pytest.raises(BudgetExceededError, match="LLVM's machine code would need about") as caught:
        compiled.grad(np.ones(600))
    assert caught.value.option == "budget_s"


def test_a_kernel_within_its_budget_is_built_and_right() -> None:
    compiled = tl.Loss("x**2 + 3*x*y**2").compile(budget_s=30)
    assert compiled.grad(np.array([1.0, 2.0])).tolist() == [14.0, 12.0]


def test_an_invalid_compile_budget_is_refused() -> None:
    with pytest.raises(tl.OptionError, match="budget_s must be a number of seconds"):
        tl.Loss("x**2 + y").compile(generator="xp", budget_s=-1)


def test_the_bounded_cse_splits_large_inputs_and_keeps_every_value(monkeypatch: pytest.MonkeyPatch) -> None:
    # chunks of at most 12 nodes: the outputs are split, the largest left whole, and the values agree
    monkeypatch.setattr(_cse, "CSE_NODES", 12)
    monkeypatch.setattr(_cse, "ALONE_NODES", 20)
    x, y = se.symbols("x y")
    exprs = [
        se.sin(x + y) * 2,
        se.sin(x + y) + 1,
        se.cos(x * y) ** 2 + se.cos(x * y),
        se.Add(*[x**k for k in range(1, 12)]),
    ]
    replacements, reduced = _cse.bounded_cse(exprs)
    assert len(reduced) == len(exprs) and reduced[3] == exprs[3]  # 22 nodes: no CSE of its own
    names = [str(symbol) for symbol, _ in replacements]
    assert names == [f"x{k}" for k in range(len(names))] and len(names) >= 2
    values = {x: se.Rational(1, 3), y: se.Rational(2, 7)}
    definitions: dict = {}
    for symbol, value in replacements:
        definitions[symbol] = value.xreplace(values).xreplace(definitions)
    for original, short in zip(exprs, reduced, strict=True):
        got = short.xreplace(values).xreplace(definitions)
        assert abs(float(got) - float(original.xreplace(values))) < 1e-15


def test_a_loss_compiled_with_a_split_cse_agrees_with_sympy(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y, z = sympy.symbols("x y z", real=True)
    f = 100 * (y - x**2) ** 2 + (1 - x) ** 2 + sympy.sin(x * y) * sympy.exp(z - x)
    W = np.random.default_rng(3).normal(size=(7, 3))
    exact = sympy.lambdify((x, y, z), sympy.hessian(f, (x, y, z)))
    expected = np.array([exact(*w) for w in W])
    monkeypatch.setattr(_cse, "CSE_NODES", 8)
    for generator in ("xp", "simd"):
        split = tl.Loss(f).compile(generator=generator)
        assert np.allclose(split.hess(W), expected, rtol=1e-13, atol=1e-12)


def test_a_sum_converted_term_by_term_is_the_engines_own_conversion() -> None:
    from taylorlr.symbolic.derivatives import sparse_derivatives

    x, y = sympy.symbols("x y", real=True)
    expr = sympy.Add(*[k * x**2 * y**k for k in range(1, 1200)]) + sympy.sin(x)  # over 1000 terms
    d = sparse_derivatives(expr, (x, y), engine="symengine")
    assert d.value == se.sympify(expr)
    assert d.gradient[0] == se.sympify(expr).diff(se.Symbol("x"))


def test_a_loop_above_the_largest_kernel_falls_back_to_xp_under_auto(
    large_sum: tl.Loss, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(simd_codegen, "MAX_KERNEL_INSTRUCTIONS", 100)
    simd_codegen._cached_kernel.cache_clear()
    W = np.linspace(-1, 1, 600)
    auto = tl.Loss(large_sum.expr).compile()
    assert auto._function("grad").kernel.source.startswith("def kernel(")  # the xp kernel
    expected = (np.arange(1, 601) * np.cos(W)).tolist()  # d/dx_i of (i + 1) sin(x_i)
    assert np.allclose(auto.grad(W), expected, rtol=1e-15, atol=0)
    with pytest.raises(tl.OptionError, match=r"a loop of .* instructions"):
        tl.Loss(large_sum.expr).compile(generator="simd").grad(W)


@pytest.fixture(scope="module")
def shared_sum() -> tl.Loss:
    """1,000 terms sin(k x + y) / k: every derivative is one large sum (kernels of 10^4 nodes)."""
    x, y = sympy.symbols("x y", real=True)
    loss = tl.Loss(sympy.Add(*[sympy.sin(k * x + y) / k for k in range(1, 1001)]))
    loss.compiled_derivatives
    return loss


@pytest.mark.parametrize("generator", ["auto", "xp"])
@pytest.mark.parametrize("budget_s", [0.3, 1.0])
def test_a_large_kernel_ends_within_its_budget_plus_one_second(
    shared_sum: tl.Loss, generator: str, budget_s: float
) -> None:
    # each output group's build is a value or a BudgetExceededError, never later than budget + 1 s
    # (wall clock, as the budget; 2 s more for a loaded CI runner); a value is SymPy's, to rounding
    compiled = shared_sum.compile(generator=generator, budget_s=budget_s)
    W = np.array([0.3, -0.2])
    k = np.arange(1, 1001)
    cosines = np.cos(k * 0.3 - 0.2)  # d/dx sin(k x + y)/k = cos(k x + y), d/dy = cos(k x + y)/k
    expected = {"value": np.sum(np.sin(k * 0.3 - 0.2) / k), "grad": [np.sum(cosines), np.sum(cosines / k)]}
    for group in ("value", "grad"):
        started = time.monotonic()
        try:
            got = getattr(compiled, group)(W)
        except BudgetExceededError as error:
            assert error.stage == "compile" and error.option == "budget_s"
        else:
            assert np.allclose(got, expected[group], rtol=1e-12, atol=1e-12)
        assert time.monotonic() - started < budget_s + 1.0 + 2.0


@pytest.mark.parametrize(
    ("module", "constant", "generator", "step"),
    [
        (xp_codegen, "COMPILE_SECONDS_PER_CHARACTER", "xp", "Python's compiler"),
        (_cse, "CSE_SECONDS_PER_SQUARED_NODE", "xp", "SymEngine's common subexpressions"),
        (_cse, "CSE_SECONDS_PER_SQUARED_NODE", "simd", "SymEngine's common subexpressions"),
    ],
)
def test_each_uninterruptible_call_starts_only_when_its_estimate_fits(
    large_sum: tl.Loss, monkeypatch: pytest.MonkeyPatch, module, constant: str, generator: str, step: str
) -> None:
    monkeypatch.setattr(module, constant, 1.0)  # estimates of hours for any kernel
    simd_codegen._cached_kernel.cache_clear()
    compiled = large_sum.compile(generator=generator, budget_s=5)
    started = time.monotonic()
    with pytest.raises(BudgetExceededError, match=f"{step} would need about") as caught:
        compiled.value(np.ones(600))
    assert caught.value.stage == "compile" and time.monotonic() - started < 5  # refused, not run


def test_a_loop_over_its_size_is_refused_while_its_ir_is_built() -> None:
    # the size is checked with the budget, every CHECK_EVERY nodes: refused at once, not once built
    xs = se.symbols("x0:400")
    terms = se.Add(*[se.sin(v * (k + 1)) for k, v in enumerate(xs)])
    arrays = [simd_codegen.LoopArray("rows", reads=xs), simd_codegen.LoopArray("rows", writes=(terms,))]
    with pytest.raises(simd_codegen.UnsupportedExpression, match=r"a loop of over [\d,]+ instructions"):
        simd_codegen.compile_loop(arrays, max_instructions=500)


def test_the_estimates_are_scaled_by_the_builds_slowdown() -> None:
    from taylorlr.compile._estimate import Stopwatch

    watch = Stopwatch()
    time.sleep(0.1)  # wall-clock time without CPU: the process got a small share of it
    assert watch.slowdown() > 2  # 0.1 s of wall clock for well under 0.05 s of CPU
    with Budget(stage="compile", seconds=10).active():
        watch.reserve(0.1, "a step")  # 0.1 s of CPU at a slowdown of at most 10 fits in 10 s
        with pytest.raises(BudgetExceededError, match="a step would need about"):
            watch.reserve(5.0, "a step")  # 5 s of CPU at a slowdown above 2 does not


def test_a_long_sum_inside_a_product_compiles_on_the_xp_generator():
    """The HVP of a 3000-term sum of one variable is v times a 3000-term sum: printed on one line,
    Python's compiler recursed through it (RecursionError, reported as "nested too deeply"); the sum
    is now assigned first, a chunk of terms per line. Its values are the closed forms."""
    x = sympy.Symbol("x", real=True)
    k = np.arange(1, 3001)
    compiled = tl.Loss(sympy.Add(*[sympy.cos(int(j) * x) / int(j) for j in k])).compile(generator="xp")
    w = np.array([0.3])
    np.testing.assert_allclose(compiled.grad(w), [-np.sum(np.sin(k * 0.3))], rtol=1e-9)
    np.testing.assert_allclose(
        compiled.hvp(w, np.array([2.0])), [-2.0 * np.sum(k * np.cos(k * 0.3))], rtol=1e-9
    )


def test_source_python_cannot_compile_is_a_typed_error_naming_both_causes():
    """A 5000-term sum on one line is flat, not nested: the error says "too long on one line" too."""
    from taylorlr.compile.xp_codegen import compile_source

    with pytest.raises(tl.LossDefinitionError, match="too deeply nested or too long on one line"):
        compile_source("def kernel(x):\n    return " + " + ".join(["x"] * 5000) + "\n")
