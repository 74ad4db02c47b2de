"""Compiled value, gradient, Hessian and HVP against SymPy's exact evaluation."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import SYMBOLS, coordinates, points, polynomials, smooth_expressions

import taylorlr as tl
from taylorlr.compile.simd_codegen import available as simd_available

GENERATORS = ["xp"] + (["simd"] if simd_available() else [])


def exact(expr: sympy.Expr, symbols, point) -> tuple[float, float]:
    """The exact value at ``point`` (as 30-digit float) and a rounding scale.

    The scale is the sum of |terms| of the expanded expression: float64 rounding
    error is bounded by a small multiple of eps * scale.
    """
    subs = {s: sympy.Rational(repr(float(p))) for s, p in zip(symbols, point, strict=True)}
    value = float(sympy.N(expr.xreplace(subs), 30))
    terms = sympy.Add.make_args(sympy.expand(expr))
    scale = sum(abs(float(sympy.N(t.xreplace(subs), 30))) for t in terms)
    return value, max(scale, 1.0)


def assert_matches(got: float, expr: sympy.Expr, symbols, point, rtol: float = 1e-12) -> None:
    value, scale = exact(expr, symbols, point)
    assert abs(got - value) <= rtol * scale, (got, value, expr)


@pytest.mark.parametrize("generator", GENERATORS)
@given(poly=polynomials(), point=points(3), direction=points(3))
@settings(max_examples=25)
def test_polynomial_outputs_match_exact_evaluation(generator, poly, point, direction):
    loss = tl.Loss(poly, variables=SYMBOLS)
    f = loss.compile("numpy", generator=generator)
    W, V = np.array(point), np.array(direction)
    assert_matches(float(f.value(W)), poly, SYMBOLS, point)
    grad, hess, hvp = f.grad(W), f.hess(W), f.hvp(W, V)
    for i, xi in enumerate(SYMBOLS):
        assert_matches(grad[i], sympy.diff(poly, xi), SYMBOLS, point)
        hv = sum(
            sympy.diff(poly, xi, xj) * sympy.Rational(repr(d))
            for xj, d in zip(SYMBOLS, direction, strict=True)
        )
        assert_matches(hvp[i], hv, SYMBOLS, point)
        for j, xj in enumerate(SYMBOLS):
            assert_matches(hess[i, j], sympy.diff(poly, xi, xj), SYMBOLS, point)
    np.testing.assert_array_equal(hess, np.swapaxes(hess, -1, -2))


@given(expr=smooth_expressions(), point=points(3))
@settings(max_examples=60)
def test_smooth_expressions_match_exact_evaluation(expr, point):
    if not expr.free_symbols:
        return
    variables = tuple(s for s in SYMBOLS if s in expr.free_symbols)
    coords = [p for s, p in zip(SYMBOLS, point, strict=True) if s in expr.free_symbols]
    f = tl.Loss(expr, variables=variables).compile("numpy")
    W = np.array(coords)
    assert_matches(float(f.value(W)), expr, variables, coords, rtol=1e-11)
    grad, hess = f.grad(W), f.hess(W)
    for i, xi in enumerate(variables):
        assert_matches(grad[i], sympy.diff(expr, xi), variables, coords, rtol=1e-11)
        for j, xj in enumerate(variables):
            assert_matches(hess[i, j], sympy.diff(expr, xi, xj), variables, coords, rtol=1e-11)


@pytest.mark.parametrize("generator", GENERATORS)
@pytest.mark.parametrize("batch", [(), (5,), (3, 4)])
def test_batch_shapes_and_constant_broadcast(generator, batch):
    f = tl.Loss("x**2 + 3*y**2").compile(generator=generator)
    W = np.ones(batch + (2,))
    assert f.value(W).shape == batch
    assert f.grad(W).shape == batch + (2,)
    hess = f.hess(W)  # every entry is constant: must still have the batch shape
    assert hess.shape == batch + (2, 2)
    np.testing.assert_array_equal(hess, np.broadcast_to(np.diag([2.0, 6.0]), batch + (2, 2)))
    assert f.hvp(W, np.ones(2)).shape == batch + (2,)


def test_batched_equals_loop_over_points():
    f = tl.Loss("sin(x)*y**3 + exp(x*y)").compile()
    W = np.random.default_rng(0).normal(size=(7, 2))
    for name in ("value", "grad", "hess"):
        batched = getattr(f, name)(W)
        np.testing.assert_allclose(batched, [getattr(f, name)(w) for w in W], rtol=1e-15)


def test_generators_agree_and_hvp_equals_hessian_times_vector():
    loss = tl.Loss("x**4*y - 2*x*y*z + z**3 + cos(y)")
    rng = np.random.default_rng(1)
    W, V = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    f = loss.compile(generator="xp")
    np.testing.assert_allclose(f.hvp(W, V), np.einsum("...ij,...j->...i", f.hess(W), V), rtol=1e-13)
    if simd_available():
        g = loss.compile(generator="simd")
        for name in ("value", "grad", "hess"):
            np.testing.assert_allclose(getattr(f, name)(W), getattr(g, name)(W), rtol=1e-13)
        np.testing.assert_allclose(f.hvp(W, V), g.hvp(W, V), rtol=1e-13)


def test_float32_on_request():
    f = tl.Loss("x**2 + x*y").compile("numpy", dtype="float32")
    out = f.grad(np.ones((3, 2)))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[3.0, 1.0]] * 3)


def test_array_api_strict_matches_numpy():
    xps = pytest.importorskip("array_api_strict")
    loss = tl.Loss("log(1 + x**2) + sqrt(2)*sin(y)*x + pi*y**2")
    rng = np.random.default_rng(2)
    W, V = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    f_np, f_strict = loss.compile("numpy", generator="xp"), loss.compile(xps)
    Ws, Vs = xps.asarray(W), xps.asarray(V)
    for name, args, strict_args in (
        ("value", (W,), (Ws,)),
        ("grad", (W,), (Ws,)),
        ("hess", (W,), (Ws,)),
        ("hvp", (W, V), (Ws, Vs)),
    ):
        got = getattr(f_strict, name)(*strict_args)
        assert type(got).__module__.startswith("array_api_strict")
        np.testing.assert_allclose(np.asarray(got), getattr(f_np, name)(*args), rtol=1e-14)


def test_data_symbols_are_keyword_arrays_and_mean_reduced():
    loss = tl.Loss("(w*x - y)**2", variables=("w",), data=("x", "y"))
    f = loss.compile()
    X, Y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 7.0])
    W = np.array([[0.0], [2.0], [1.5]])
    expected_value = [np.mean((w * X - Y) ** 2) for w in W[:, 0]]
    expected_grad = [np.mean(2 * (w * X - Y) * X) for w in W[:, 0]]
    np.testing.assert_allclose(f.value(W, x=X, y=Y), expected_value)
    np.testing.assert_allclose(f.grad(W, x=X, y=Y)[:, 0], expected_grad)
    np.testing.assert_allclose(f.hess(W, x=X, y=Y)[:, 0, 0], [2 * np.mean(X**2)] * 3)
    # a new minibatch needs no recompilation
    np.testing.assert_allclose(f.value(W[:1], x=X[:1], y=Y[:1]), [(Y[0]) ** 2])
    with pytest.raises(tl.PointError, match="missing data"):
        f.value(W)
    with pytest.raises(tl.PointError, match="unknown data"):
        f.value(W, x=X, y=Y, z=X)


def test_wrong_point_shape_is_a_point_error():
    f = tl.Loss("x*y").compile()
    with pytest.raises(tl.PointError, match=r"\(\.\.\., 2\)"):
        f.grad(np.ones(3))
    with pytest.raises(tl.PointError):
        f.grad("not numbers")


def test_cupy_missing_names_the_gpu_extra():
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(tl.MissingDependencyError, match=r"taylorlr\[gpu\]"):
            tl.Loss("x**2").compile("cupy")
    else:  # pragma: no cover - GPU machines run tests/test_gpu.py instead
        pytest.skip("CuPy is installed here")


def test_unknown_backend_and_dtype_are_clear_errors():
    with pytest.raises(tl.BackendError, match="unknown backend"):
        tl.Loss("x**2").compile("torch-ish")
    with pytest.raises(tl.BackendError, match="dtype"):
        tl.Loss("x**2").compile("numpy", dtype="float16")


def test_symbol_names_never_reach_generated_code(tmp_path: Path):
    canary = tmp_path / "canary"
    evil = sympy.Symbol(f"x=open({str(canary)!r},'w').write('x') or 1")
    loss = tl.Loss(evil**2 + 3 * evil)
    f = loss.compile(generator="xp")
    np.testing.assert_allclose(f.grad(np.array([2.0])), [7.0])
    assert "open" not in f.kernel_source("grad")
    assert not canary.exists()


@given(x=coordinates)
@settings(max_examples=25)
def test_nonsmooth_abs_uses_sympy_derivative(x):
    f = tl.Loss("abs(x) + x**2").compile()
    assert math.isclose(
        float(f.grad(np.array([x]))[0]), math.copysign(1.0, x) * (x != 0) + 2 * x, abs_tol=1e-15
    )


@given(st.integers(2, 12))
@settings(max_examples=6)
def test_extended_rosenbrock_sparse_hessian(n):
    text = " + ".join(f"100*(x{i + 1} - x{i}**2)**2 + (1 - x{i})**2" for i in range(1, n))
    loss = tl.Loss(text)
    assert len(loss.derivatives.hessian_upper) == 2 * n - 1  # tridiagonal
    f = loss.compile()
    assert np.allclose(f.grad(np.ones(n)), 0) and f.value(np.ones(n)) == 0


@pytest.mark.parametrize(
    "name", sorted(__import__("taylorlr.symbolic.parse", fromlist=["x"]).FUNCTION_ARITIES)
)
def test_every_parser_function_compiles_and_matches_sympy(name):
    from taylorlr.symbolic.parse import FUNCTION_ARITIES

    fewest = FUNCTION_ARITIES[name][0]
    loss = tl.Loss(f"{name}({'x, 2' if fewest == 2 else 'x'}) + y**2")
    # inside each function's real domain
    points = [(1.3, 0.2), (1.7, -0.1)] if name == "acosh" else [(0.3, 0.2), (0.6, -0.1)]
    f = loss.compile(generator="xp")
    grad, hess = f.grad(np.array(points)), f.hess(np.array(points))
    x = loss.variables[0]
    for k, point in enumerate(points):
        assert_matches(grad[k, 0], sympy.diff(loss.expr, x), loss.variables, point, rtol=1e-12)
        assert_matches(hess[k, 0, 0], sympy.diff(loss.expr, x, 2), loss.variables, point, rtol=1e-12)


def test_simd_generator_refuses_what_it_cannot_run_with_advice():
    with pytest.raises(tl.OptionError, match="use 'xp'"):
        tl.Loss("x**2 + y**2").compile(dtype="float32", generator="simd")
    with pytest.raises(tl.OptionError, match="use 'xp'"):
        tl.Loss("a*x**2", data=["a"]).compile(generator="simd")


@pytest.mark.skipif(not simd_available(), reason="needs llvmlite")
def test_kinks_on_the_simd_generator_match_xp():
    loss = tl.Loss("max(0, x) + relu(y) + min(x, y, 1) + abs(x*y) + sign(x - y)*y**3")
    W = np.array([[0.5, -1.0], [2.0, 3.0], [-1.5, 0.25], [0.0, 0.0], [np.nan, 1.0], [1.0, np.nan]])
    f_xp, f_simd = loss.compile(generator="xp"), loss.compile(generator="simd")
    for name in ("value", "grad", "hess"):
        np.testing.assert_allclose(getattr(f_simd, name)(W), getattr(f_xp, name)(W), rtol=1e-15)


def test_kinks_on_array_api_strict_match_numpy():
    xps = pytest.importorskip("array_api_strict")
    loss = tl.Loss("max(0, x) + relu(y) + min(x, y, 1) + abs(x*y)")
    W = np.array([[0.5, -1.0], [2.0, 3.0], [-1.5, 0.25]])
    f_np, f_strict = loss.compile("numpy"), loss.compile(xps)
    for name in ("value", "grad", "hess"):
        got = np.asarray(getattr(f_strict, name)(xps.asarray(W)))
        np.testing.assert_allclose(got, getattr(f_np, name)(W), rtol=1e-15)
    # away from the kinks, the subgradient is the gradient: at (0.5, -1) df/dx = 1 + 0 + sign(xy) y = 2
    np.testing.assert_allclose(f_np.grad(W[0]), [2.0, 0.5])


def test_an_array_library_that_imports_from_c_inside_a_kernel_works():
    """CuPy's ufuncs import a module from C on their first call, which looks ``__import__`` up in the
    calling frame's builtins: the generated kernel's. Its globals once had no builtins at all, and every
    CuPy kernel failed with KeyError '__import__' on the first GPU run. Here a C function that imports
    (``datetime.strptime`` loads ``_strptime``) is the subtraction of a stand-in array type."""
    import datetime
    import functools
    import sys

    import sympy

    from taylorlr.compile.xp_codegen import build_kernel

    class Text(str):
        __sub__ = staticmethod(functools.partial(datetime.datetime.strptime, "2020"))

    x, y = sympy.symbols("x y")
    kernel = build_kernel([x - y], [(x, y)])
    sys.modules.pop("_strptime", None)
    assert kernel.call(np, [[Text("a"), "%Y"]]) == (datetime.datetime(2020, 1, 1),)


def test_a_cupy_array_without_array_namespace_is_cupys(monkeypatch):
    """CuPy 14's arrays have no ``__array_namespace__`` (found on the first GPU run: every tl.run with
    backend="cupy" raised BackendError, and select_state would have left a CuPy state unmasked). A stand-in
    module named cupy, with an array type of that module, shows the rule without a GPU."""
    import types

    from taylorlr.alpha.optimizers import select_state
    from taylorlr.compile.backends import is_array, namespace_of

    fake = types.ModuleType("cupy")
    fake.where = lambda mask, new, old: ("where", mask.tolist(), new.values, old.values)
    fake.reshape = lambda array, shape: np.reshape(array, shape)
    Array = type("ndarray", (), {"__module__": "cupy", "shape": (2, 1), "ndim": 2})
    monkeypatch.setitem(sys.modules, "cupy", fake)
    new, old = Array(), Array()
    new.values, old.values = "new", "old"
    assert namespace_of(new) is fake and is_array(new)
    assert select_state(np.array([True, False]), new, old) == ("where", [[True], [False]], "new", "old")
    with pytest.raises(tl.BackendError, match="not an array-API array"):
        namespace_of(type("ndarray", (), {"__module__": "elsewhere"})())


def test_renaming_keeps_the_real_assumption_so_sympy_does_not_expand_a_huge_power():
    """Renamed to symbols that may be complex, Heaviside(x**943 - 1) (the derivative of max(1, x**943))
    was rewritten by SymPy through (re + i im)**943 for minutes; the xp generator now keeps x real."""
    loss = tl.Loss("max(1, x**943)")
    grad = loss.compile(generator="xp", budget_s=5).grad(np.array([[0.5], [1.0001]]))
    np.testing.assert_allclose(grad[:, 0], [0.0, 943 * 1.0001**942], rtol=1e-12)
