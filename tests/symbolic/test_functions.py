"""The function catalogue: every entry parses, differentiates, compiles on both generators
and matches SymPy's own evaluation; every table keyed by it agrees with it."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

import taylorlr as tl
from taylorlr.compile import simd_codegen, xp_codegen
from taylorlr.symbolic.functions import FUNCTIONS, SPELLINGS, require_lowering
from taylorlr.symbolic.parse import ALLOWED_FUNCTIONS, FUNCTION_ARITIES, parse

X, Y, Z = sympy.symbols("x y z", real=True)
GENERATORS = ["xp"] + (["simd"] if simd_codegen.available() else [])


def catalogue_loss(name: str) -> tuple[sympy.Expr, tuple[sympy.Symbol, ...], int]:
    """f(x) (1 + y^2), or f(x, y) (1 + z^2) for two-argument functions: every first and
    second derivative of f appears in the gradient or the Hessian; and how many arguments f takes."""
    function = FUNCTIONS[name]
    if function.arity[0] == 2:
        return function.sympy_class(X, Y) * (1 + Z**2), (X, Y, Z), 2
    return function.sympy_class(X) * (1 + Y**2), (X, Y), 1


def exact(expr: sympy.Expr, symbols, point) -> float:
    subs = {s: sympy.Rational(repr(float(p))) for s, p in zip(symbols, point, strict=True)}
    return float(sympy.N(expr.xreplace(subs), 30))


def random_points(name: str, count: int, seed: int) -> np.ndarray:
    _, symbols, arguments = catalogue_loss(name)
    rng = np.random.default_rng(seed)
    low, high = FUNCTIONS[name].domain
    inside = rng.uniform(low, high, size=(count, arguments))
    others = rng.uniform(-1.0, 1.0, size=(count, len(symbols) - arguments))
    return np.concatenate([inside, others], axis=1)


@pytest.mark.parametrize("generator", GENERATORS)
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_catalogue_function_parses_differentiates_compiles_and_matches_sympy(name, generator):
    expr, symbols, _ = catalogue_loss(name)
    if FUNCTIONS[name].typed:  # what the user types reads back as the same expression
        assert parse(str(expr)) == expr
    loss = tl.Loss(str(expr) if FUNCTIONS[name].typed else expr, variables=[s.name for s in symbols])
    f = loss.compile(generator=generator)
    assert f.generator_used == generator
    W = random_points(name, 5, seed=len(name))
    V = np.random.default_rng(1).normal(size=W.shape)
    value, grad, hess, hvp = f.value(W), f.grad(W), f.hess(W), f.hvp(W, V)
    n = len(symbols)
    for k, point in enumerate(W):
        want_value = exact(expr, symbols, point)
        want_grad = [exact(sympy.diff(expr, s), symbols, point) for s in symbols]
        want_hess = np.array(
            [[exact(sympy.diff(expr, a, b), symbols, point) for b in symbols] for a in symbols]
        )
        np.testing.assert_allclose(value[k], want_value, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(grad[k], want_grad, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(hess[k], want_hess, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(hvp[k], want_hess @ V[k], rtol=1e-11, atol=1e-13 * n)


@pytest.mark.parametrize("generator", GENERATORS)
@pytest.mark.parametrize("text", sorted(SPELLINGS))
def test_every_spelling_builds_catalogue_functions_that_compile(text, generator):
    spelling = SPELLINGS[text]
    arguments = ("x", "y") if spelling.arity[0] == 2 else ("x",)
    expr = parse(f"{text}({', '.join(arguments)}) + y**2")
    classes = {
        type(node).__name__ for node in sympy.preorder_traversal(expr) if isinstance(node, sympy.Function)
    }
    assert classes <= set(FUNCTIONS), classes
    built = spelling.build(*(sympy.Symbol(a, real=True) for a in arguments))
    low, high = FUNCTIONS[type(built).__name__].domain if type(built).__name__ in FUNCTIONS else (0.2, 2.0)
    loss = tl.Loss(expr, variables=["x", "y"])
    W = np.array([[low + (high - low) / 3, 0.4], [low + 2 * (high - low) / 3, -0.3]])
    f = loss.compile(generator=generator)
    for k, point in enumerate(W):
        np.testing.assert_allclose(f.value(W)[k], exact(expr, loss.variables, point), rtol=1e-12)
        want = [exact(sympy.diff(expr, s), loss.variables, point) for s in loss.variables]
        np.testing.assert_allclose(f.grad(W)[k], want, rtol=1e-12, atol=1e-14)


def test_the_parser_the_loss_check_and_both_generators_read_the_catalogue():
    assert set(ALLOWED_FUNCTIONS) == set(FUNCTION_ARITIES) == set(SPELLINGS)
    assert set(FUNCTIONS) == tl.loss.ALLOWED_FUNCTION_NAMES
    assert set(xp_codegen._LOWERING) == set(FUNCTIONS)
    assert set(simd_codegen._LOWERING) == set(FUNCTIONS)
    typed = {name for name, f in FUNCTIONS.items() if f.typed}
    assert typed <= set(SPELLINGS)  # every class a user may type has its own spelling
    for name, function in FUNCTIONS.items():
        assert function.sympy_class.__name__ == name


def test_a_generator_missing_a_catalogue_function_fails_at_import():
    partial = {name: None for name in FUNCTIONS if name != "acot"}
    with pytest.raises(RuntimeError, match="acot"):
        require_lowering("test", partial)
    with pytest.raises(RuntimeError, match="coth"):
        require_lowering("test", {**dict.fromkeys(FUNCTIONS), "coth": None})


def test_growth_reaches_the_parser_size_limits():
    # exp of a huge value is refused before SymPy builds it; sin of the same is fine
    with pytest.raises(tl.ParseError):
        parse("exp(exp(exp(10)))")
    assert parse("sin(sin(sin(10)))") is not None
