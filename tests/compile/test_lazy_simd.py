"""An arithmetic kernel's first calls run on NumPy, operation for operation as its SIMD loop: the same
bits before and after the loop is built, so a point's numbers never depend on when or in which batch
it was evaluated (the reproducibility rule), and a small loss's first values need no LLVM build."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import SYMBOLS, small_rationals

import taylorlr as tl
from taylorlr.compile import lazy_simd, simd_codegen

pytestmark = pytest.mark.skipif(not simd_codegen.available(), reason="llvmlite is not installed")

#: zeros of both signs, overflow, underflow, NaN and inf: where an operation order would show
SPECIAL = np.array(
    [
        [0.0, -0.0, 1.0],
        [1e200, -1e155, 3.0],
        [1e-200, 2e-160, -1e-170],
        [np.nan, 1.0, 2.0],
        [np.inf, -np.inf, 0.5],
        [-1.5, 0.25, 1e16],
    ]
)


@st.composite
def arithmetic(draw: st.DrawFn, depth: int = 3) -> sympy.Expr:
    """Numbers (pi included), +, *, integer powers (negative too), division, square roots."""
    if depth == 0 or draw(st.booleans()):
        return draw(st.one_of(st.sampled_from(SYMBOLS), small_rationals, st.just(sympy.pi / 3)))
    kind = draw(st.sampled_from(("add", "mul", "pow", "div", "sqrt")))
    left = draw(arithmetic(depth=depth - 1))
    if kind == "pow":
        return left ** draw(st.integers(-3, 7))
    if kind == "sqrt":
        return sympy.sqrt(1 + left**2)
    right = draw(arithmetic(depth=depth - 1))
    if kind == "div":
        return left / (1 + right**2)
    return left + right if kind == "add" else left * right


def evaluations(f: tl.Compiled, W: np.ndarray, V: np.ndarray) -> list[np.ndarray]:
    return [f.value(W), f.grad(W), f.hess(W), f.hvp(W, V), *f.value_and_grad(W), *f.grad_and_hess(W)]


def kernels(f: tl.Compiled) -> list[object]:
    return [function.kernel for function in f._functions.values()]


def assert_same_bits(a: np.ndarray, b: np.ndarray) -> None:
    """Equal to the bit (-0.0 is not 0.0), NaN where NaN (a NaN's sign and payload are no value: with
    two NaN operands they depend on the order in which a compiler feeds them to the instruction)."""
    nan = np.isnan(a)
    assert a.shape == b.shape and np.array_equal(nan, np.isnan(b))
    assert np.array_equal(np.where(nan, 0.0, a).view(np.uint64), np.where(nan, 0.0, b).view(np.uint64))


@given(expr=arithmetic(), seed=st.integers(0, 2**16))
@settings(max_examples=15)
def test_numpy_first_gives_the_loops_bits(expr: sympy.Expr, seed: int) -> None:
    f = tl.Loss(expr, variables=SYMBOLS).compile()
    rng = np.random.default_rng(seed)
    W = np.concatenate([rng.uniform(-3, 3, (5, 3)), SPECIAL])
    V = rng.normal(size=W.shape)
    first = evaluations(f, W, V)
    lazy = [k for k in kernels(f) if isinstance(k, lazy_simd.LazySimdKernel)]
    assert lazy and not any(k.built for k in lazy)  # every group arithmetic: no loop built yet
    for kernel in lazy:
        kernel.loop_kernel()
    assert all(k.built for k in lazy)
    for before, after in zip(first, evaluations(f, W, V), strict=True):
        assert_same_bits(before, after)


def _rosenbrock(n: int) -> tuple[sympy.Expr, tuple[sympy.Symbol, ...]]:
    x = sympy.symbols(f"x1:{n + 1}", real=True)
    return sympy.Add(*[100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(n - 1)]), x


def test_a_point_alone_and_in_a_batch_that_builds_the_loop_gets_the_same_bits() -> None:
    expr, x = _rosenbrock(10)
    f = tl.Loss(expr, variables=x).compile()
    w = np.linspace(-1.2, 1.3, 10)
    alone = (f.value(w), f.grad(w), f.hess(w))  # a cold build's first calls: no LLVM loop
    assert not any(k.built for k in kernels(f))
    W = np.random.default_rng(3).uniform(-2, 2, (10**5, 10))
    W[12345] = w
    batched = (f.value(W), f.grad(W), f.hess(W))  # 10^5 points: the loops are built first
    assert all(k.built for k in kernels(f))
    for single, many in zip(alone, batched, strict=True):
        assert_same_bits(single, many[12345])
    exact = sympy.lambdify(x, [expr, sympy.Matrix([expr]).jacobian(x), sympy.hessian(expr, x)], "numpy")(*w)
    for ours, theirs in zip(alone, exact, strict=True):
        np.testing.assert_allclose(ours, np.array(theirs, dtype=float).reshape(ours.shape), rtol=1e-14)


def test_the_loop_is_built_before_the_call_that_brings_the_use_to_the_threshold() -> None:
    f = tl.Loss("(1 - x)**2 + 100*(y - x**2)**2").compile()
    point = np.array([0.3, -0.7])
    first = f.grad(point)
    kernel = f._functions["grad"].kernel
    calls_before = int(lazy_simd.BUILD_UNITS / (1 + 1 / lazy_simd.POINTS_PER_UNIT))  # 63
    for _ in range(calls_before - 1):
        f.grad(point)
    assert not kernel.built
    assert_same_bits(f.grad(point), first)  # the call that reaches BUILD_UNITS runs on the loop
    assert kernel.built and "built, the same bits" in kernel.source
    g = tl.Loss("(1 - x)**2 + 100*(y - x**2)**2").compile()
    big = (lazy_simd.BUILD_UNITS - 1) * lazy_simd.POINTS_PER_UNIT  # one call this large builds it
    g.grad(np.zeros((big, 2)))
    assert g._functions["grad"].kernel.built


def test_a_loop_the_budget_cannot_pay_for_leaves_the_kernel_on_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    from taylorlr import _budget

    simd_codegen._cached_kernel.cache_clear()  # no loop of this loss built by another test
    f = tl.Loss("(1 - x)**2 + 100*(y - x**2)**2").compile()
    W = np.random.default_rng(5).uniform(-2, 2, (20_000, 2))
    expected = np.stack([-2 * (1 - W[:, 0]) - 400 * W[:, 0] * (W[:, 1] - W[:, 0] ** 2)], axis=-1)
    monkeypatch.setattr(simd_codegen, "JIT_SECONDS_PER_INSTRUCTION", 1.0)  # LLVM estimated at minutes
    with _budget.Budget(stage="run", seconds=5).active():
        first = f.grad(W)  # 20,000 points would build the loop: the budget refuses it, no error
    kernel = f._functions["grad"].kernel
    assert not kernel.built
    np.testing.assert_allclose(first[:, :1], expected, rtol=1e-13)
    monkeypatch.undo()
    f.grad(W)  # outside the budget, its use doubled: built now, the same bits
    assert kernel.built
    assert_same_bits(f.grad(W), first)


def test_other_groups_build_their_loop_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    f = tl.Loss("x**2 + sin(y)").compile()
    f.value(np.ones(2))
    assert isinstance(f._functions["value"].kernel, simd_codegen.SimdKernel)  # sin: a libm call
    monkeypatch.setattr(lazy_simd, "MAX_OPERATIONS", 5)
    g = tl.Loss("x**4*y + 3*x*y**3 + x*y").compile()
    assert isinstance(g._function("value").kernel, simd_codegen.SimdKernel)  # larger than 5 operations
    assert g.value(np.array([2.0, 1.0])) == 16 + 6 + 2


def test_a_tape_follows_the_loops_operations() -> None:
    import symengine as se

    x, y = se.symbols("a0_0 a0_1")  # the renamed arguments
    tape = lazy_simd.arithmetic_tape([x**5 / y], [2])
    assert tape is not None
    # x**5 by repeated squaring (x*x, its square, times x), 1/y, then the product: five operations
    assert tape.operations == 5
    assert tape.evaluate(np, np.array([[2.0, 4.0]])).tolist() == [[8.0]]
    assert lazy_simd.arithmetic_tape([x**17], [2]) is None  # pow() in the loop
    assert lazy_simd.arithmetic_tape([se.exp(x) + y], [2]) is None
    assert lazy_simd.arithmetic_tape([x * se.Symbol("stray")], [2]) is None
    deep = se.Integer(1)
    for k in range(400):  # Horner's form 800 levels deep: deeper than Python's recursion
        deep = deep * x + se.Rational(1, k + 2)
    assert lazy_simd.arithmetic_tape([deep], [2]) is None  # the loop is built at once instead


X, Y, Z = SYMBOLS
#: one expression per rule of the loop (sums and products folded left, repeated squaring, 1/x**k,
#: square roots and their reciprocals, constants), each where the rounding of another order shows
RULES = [
    X**-3 + Y**-2 * Z,
    X**7 * Y**16 - Z**5 + X**-16,
    sympy.sqrt(X**2 + Y**2) + 1 / sympy.sqrt(1 + Z**2),
    sympy.pi * X / 3 + sympy.E * Y * Z / 7 + X * Y * Z / (X - Y),
    (X + Y / 3 + Z / 7 + 1) ** 3 / (X * Y * Z + sympy.Rational(1, 10)),
]


@pytest.mark.parametrize("expr", RULES, ids=str)
def test_each_rule_of_the_loop_gives_its_bits_on_numpy(expr: sympy.Expr) -> None:
    W = np.concatenate([np.random.default_rng(4).uniform(-3, 3, (4000, 3)), SPECIAL])
    exprs = [expr, expr * X]
    lazy = lazy_simd.build_kernel(exprs, [SYMBOLS])
    assert isinstance(lazy, lazy_simd.LazySimdKernel)
    on_numpy = lazy.tape.evaluate(np, W)
    on_loop = simd_codegen.build_kernel(exprs, [SYMBOLS]).stacked(np, [W], (len(W),), None)
    assert_same_bits(on_numpy, on_loop)


@given(st.lists(arithmetic(), min_size=1, max_size=6))
@settings(max_examples=25)
def test_symengines_renaming_together_gives_sympys_renaming_one_by_one(exprs: list[sympy.Expr]) -> None:
    import symengine as se

    from taylorlr.compile.xp_codegen import rename_arguments

    repeated = [*exprs, *exprs[:2]]  # repeated entries, as a mirrored Hessian's
    groups = [SYMBOLS[:2], (SYMBOLS[2],)]
    together, names = rename_arguments(
        [se.sympify(e) for e in repeated], [tuple(map(se.sympify, g)) for g in groups]
    )
    one_by_one, sympy_names = rename_arguments(repeated, groups)  # SymPy's branch: each on its own
    assert names == sympy_names == ["a0_0", "a0_1", "a1_0"]
    plain = {sympy.Symbol(name, real=True): sympy.Symbol(name) for name in names}  # SymEngine's have none
    assert [sympy.sympify(e) for e in together] == [e.xreplace(plain) for e in one_by_one]


def test_a_symbol_no_group_holds_is_refused_when_renaming_together() -> None:
    import symengine as se

    from taylorlr.compile.xp_codegen import rename_arguments

    x, y = se.symbols("x y")
    with pytest.raises(ValueError, match=r"free symbols \['y'\] that are no argument"):
        rename_arguments([x + y, x], [(x,)])


@settings(max_examples=60)
@given(st.lists(arithmetic(), min_size=1, max_size=6))
def test_where_no_arguments_are_shared_the_cse_that_is_skipped_would_save_no_operation(
    exprs: list[sympy.Expr],
) -> None:
    # the claim of _cse.shares_arguments: where it says False, SymEngine's cse saves no operation
    import symengine as se

    from taylorlr.compile import _cse

    columns = {se.sympify(s): se.Symbol(f"a0_{k}") for k, s in enumerate(SYMBOLS)}
    renamed = [se.sympify(e).xreplace(columns) for e in exprs]
    skipped = lazy_simd.arithmetic_tape(renamed, (len(SYMBOLS),))
    with mock.patch.object(_cse, "shares_arguments", return_value=True):  # SymEngine's cse, always
        with_cse = lazy_simd.arithmetic_tape(renamed, (len(SYMBOLS),))
    assert (skipped is None) == (with_cse is None)
    if skipped is not None and not _cse.shares_arguments(renamed):
        assert skipped.operations <= with_cse.operations
