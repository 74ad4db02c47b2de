"""The SIMD kernels' cheaper builds change no value.

Large loops get their machine code at LLVM's level 0 (`codegen_level`), blocks of zero outputs are
not stored (the output is zero-filled), columns are loaded at first use: checked against SymPy's
exact derivatives and, for the code generation level, bit for bit against level 3.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy

import taylorlr as tl
from taylorlr.compile import lazy_simd, simd_codegen


@pytest.fixture(autouse=True)
def loops_built_at_the_first_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests check the SIMD loop itself: an arithmetic kernel's is built at its first call."""
    monkeypatch.setattr(lazy_simd, "BUILD_UNITS", 0)


def _rosenbrock(n: int) -> tuple[sympy.Expr, tuple[sympy.Symbol, ...]]:
    x = sympy.symbols(f"x1:{n + 1}", real=True)
    return sympy.Add(*[100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(n - 1)]), x


def test_a_sparse_hessian_in_the_dense_layout_equals_sympys_zeros_included() -> None:
    expr, x = _rosenbrock(9)
    f = tl.Loss(expr, variables=x).compile(generator="simd")
    points = np.random.default_rng(0).uniform(-2, 2, (7, 9))  # 7: a padded tail too
    exact = sympy.lambdify(x, sympy.hessian(expr, x), "numpy")
    for point, hessian in zip(points, f.hess(points), strict=True):
        np.testing.assert_allclose(hessian, np.array(exact(*point), dtype=float), rtol=1e-14, atol=1e-12)
    assert f._function("hess").kernel.loop.arrays[-1].zeroed  # the zero blocks were skipped


@pytest.fixture
def fresh_kernels():  # type: ignore[no-untyped-def]
    simd_codegen._cached_kernel.cache_clear()
    yield
    simd_codegen._cached_kernel.cache_clear()


def test_machine_code_at_level_0_gives_the_same_bits(
    monkeypatch: pytest.MonkeyPatch, fresh_kernels: None
) -> None:
    x = sympy.symbols("x1:7", real=True)
    terms = [
        sympy.sin(x[i] * x[i + 1]) + sympy.exp(x[i] - x[i + 1] ** 2) / (2 + sympy.cos(x[i])) for i in range(5)
    ]
    expr = sympy.Add(*terms)
    points = np.random.default_rng(1).uniform(-2, 2, (101, 6))
    results = []
    for threshold in (10**9, 0):  # every loop at level 3, then every loop at level 0
        monkeypatch.setattr(simd_codegen, "LARGE_LOOP_INSTRUCTIONS", threshold)
        simd_codegen._cached_kernel.cache_clear()
        f = tl.Loss(expr, variables=x).compile(generator="simd")
        results.append((f.value(points), f.grad(points), f.hess(points)))
    for at_3, at_0 in zip(*results, strict=True):
        assert np.array_equal(at_3, at_0)


def test_codegen_level_depends_on_the_loop_only() -> None:
    assert simd_codegen.codegen_level(simd_codegen.LARGE_LOOP_INSTRUCTIONS - 1) == 3
    assert simd_codegen.codegen_level(simd_codegen.LARGE_LOOP_INSTRUCTIONS) == 0


def test_a_small_kernel_tiers_up_to_level_3_with_the_same_bits(
    monkeypatch: pytest.MonkeyPatch, fresh_kernels: None
) -> None:
    # built at level 0 (half the build); after TIER_POINTS points its machine code is level 3
    monkeypatch.setattr(simd_codegen, "TIER_POINTS", 64)
    x, y = sympy.symbols("x y", real=True)
    expr = sympy.sin(x * y) + sympy.exp(x - y**2) / (2 + sympy.cos(x)) + 100 * (y - x**2) ** 2
    points = np.random.default_rng(2).uniform(-2, 2, (50, 2))
    f = tl.Loss(expr, variables=(x, y)).compile(generator="simd")
    before = f.hess(points)
    kernel = f._function("hess").kernel
    assert kernel.loop.level == 0
    again = f.hess(points)  # 100 points asked for: this call tiers up first, then evaluates
    assert kernel.loop.level == 3 and kernel.loop.ir != ""
    tiered = kernel.loop
    after = f.hess(points)
    # once: every later call runs the same level-3 loop (it was JIT-compiled again at every call,
    # which made the test suite 3x slower)
    assert kernel.loop is tiered
    assert np.array_equal(before, again) and np.array_equal(before, after)
    exact = sympy.lambdify((x, y), sympy.hessian(expr, (x, y)), "numpy")
    np.testing.assert_allclose(after, np.array([exact(*p) for p in points], dtype=float), rtol=1e-13)


def test_a_large_kernel_stays_at_level_0_and_keeps_no_ir(fresh_kernels: None) -> None:
    expr, x = _rosenbrock(200)
    f = tl.Loss(expr, variables=x).compile(generator="simd")
    f.grad(np.ones(200))
    loop = f._function("grad").kernel.loop
    assert loop.level == 0 and loop.ir == ""
