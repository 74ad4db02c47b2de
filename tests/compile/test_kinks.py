"""Kinks compiled on the default (SIMD) generator: no SymPy round trip, no 0 * inf at a point mass.

``max(1, x**943)`` took minutes to compile on the SIMD generator (SymEngine rebuilt SymPy's
``Heaviside`` with a symbol of no assumptions and SymPy expanded ``(re + i*im)**943``), and its
Hessian at x = 2 was NaN on both generators (``DiracDelta(x**943 - 1) = 0`` times
``x**1884 = inf``). Values are checked against SymPy's exact evaluation of the derivatives at
rational points; each compile runs in a forked child killed after :data:`LIMIT_S`, so a
regression fails instead of hanging CI.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
import sympy
from forked import in_fork
from hypothesis import given, settings
from hypothesis import strategies as st

import taylorlr as tl
from taylorlr.compile import simd_codegen
from taylorlr.compile._kinks import engine_form, without_point_masses

pytestmark = [
    pytest.mark.skipif(not simd_codegen.available(), reason="llvmlite is not importable"),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
]

#: seconds a child may take (each compile below takes well under 1 s on an idle machine)
LIMIT_S = 60.0


def in_child(work: Callable[[], object]) -> object:
    """``work()`` in a forked child, its result (the exception it raised, re-raised here as an
    ``AssertionError``); an ``AssertionError`` when the child is still working after :data:`LIMIT_S`."""

    def answered() -> tuple[str, object]:
        try:
            return ("value", work())
        except BaseException as error:
            return ("error", f"{type(error).__name__}: {error}")

    status, answer = in_fork(answered, LIMIT_S)
    assert status == "done", f"the child {status} (limit {LIMIT_S} s)"
    kind, value = answer  # type: ignore[misc]
    assert kind == "value", value
    return value


def compiled_values(text: str, points: list[list[float]], generator: str = "auto") -> dict:
    """Compile ``text`` in a child and evaluate value, gradient and Hessian at ``points``."""

    def work() -> dict:
        compiled = tl.Loss(text).compile(generator=generator)
        W = np.array(points, dtype=float)
        return {
            "generator": compiled.generator_used,
            "source": compiled.kernel_source("hess"),
            "value": compiled.value(W),
            "grad": compiled.grad(W),
            "hess": compiled.hess(W),
        }

    return in_child(work)  # type: ignore[return-value]


def exact(text: str, point: list[Fraction]) -> tuple[float, list[float], list[float]]:
    """SymPy's value, gradient and Hessian (flat) of ``text`` at a rational point (off every kink)."""
    loss = tl.Loss(text)
    at = {v: sympy.Rational(c.numerator, c.denominator) for v, c in zip(loss.variables, point, strict=True)}
    expr = loss.expr
    gradient = [sympy.diff(expr, v) for v in loss.variables]
    hessian = [[sympy.diff(g, v) for v in loss.variables] for g in gradient]
    number = lambda e: float(e.xreplace(at))  # noqa: E731 - DiracDelta of a non-zero number is 0
    return number(expr), [number(g) for g in gradient], [number(h) for row in hessian for h in row]


def assert_matches(text: str, got: dict, points: list[list[Fraction]]) -> None:
    for k, point in enumerate(points):
        value, gradient, hessian = exact(text, point)
        assert got["value"][k] == pytest.approx(value, rel=1e-13, abs=1e-300)
        assert got["grad"][k].tolist() == pytest.approx(gradient, rel=1e-13, abs=1e-300)
        assert np.asarray(got["hess"][k]).ravel().tolist() == pytest.approx(hessian, rel=1e-13, abs=1e-300)


POWER = [[Fraction(1, 2)], [Fraction(101, 100)], [Fraction(2)], [Fraction(-3, 2)]]


@pytest.mark.parametrize("generator", ["auto", "xp"])
def test_max_1_x943_compiles_at_once_and_its_derivatives_are_sympys(generator: str) -> None:
    got = compiled_values("max(1, x**943)", [[float(c) for c in p] for p in POWER], generator)
    assert got["generator"] == ("simd" if generator == "auto" else "xp")  # the SIMD loop, not xp
    assert np.isfinite(got["hess"]).all()  # at x = 2: 943 * 942 * 2**941, about 1.7e289, not NaN
    assert_matches("max(1, x**943)", got, POWER)


F = Fraction
RELU_LIKE = {
    "max(0, x)**2 + max(0, x*y - 1)": [[F(3, 2), F(1)], [F(-1, 3), F(2)]],
    "abs(x - y) + max(x, y)**2 + min(x, 2*y)": [[F(1, 3), F(7, 5)], [F(2), F(-1)]],
    "max(0, 1 - x*y)**3 + sign(x)*y**2 + relu(y - 1)*x": [[F(1, 2), F(3)], [F(-2), F(1, 4)]],
    "max(1, x**3, y**2)*exp(-x**2)": [[F(3, 2), F(1, 2)], [F(1, 5), F(-3)]],
}


@pytest.mark.parametrize("text", list(RELU_LIKE))
def test_relu_like_losses_on_the_default_generator_are_sympys(text: str) -> None:
    points = RELU_LIKE[text]
    got = compiled_values(text, [[float(c) for c in p] for p in points])
    assert got["generator"] == "simd" and got["source"].startswith("<SIMD loop")
    assert_matches(text, got, points)


@pytest.mark.parametrize("generator", ["simd", "xp"])
def test_at_a_kink_the_compiled_derivatives_follow_the_documented_rule(generator: str) -> None:
    # what taylorlr does at a kink (docs/analysis.md): sign(0) = 0, Heaviside(0) = 1/2 and the point
    # mass is left out: finite numbers, for one max or abs the mean of the two one-sided derivatives
    got = compiled_values("max(1, x**943)", [[1.0]], generator)
    assert got["grad"][0].tolist() == [943 / 2]  # (0 + 943) / 2
    assert got["hess"][0].tolist() == [[943 * 942 / 2]]  # (0 + 943 * 942) / 2
    at_zero = compiled_values("abs(x) + max(0, y)**2", [[0.0, 0.0]], generator)
    assert at_zero["grad"][0].tolist() == [0.0, 0.0]  # sign(0) = 0; 2 max(0, 0) Heaviside(0) = 0
    # d2/dy2 max(0, y)**2 = 2 Heaviside(y)**2: 1/2 at 0, between the one-sided 0 and 2, not their mean
    assert at_zero["hess"][0].tolist() == [[0.0, 0.0], [0.0, 0.5]]


@settings(max_examples=25)
@given(
    st.fractions(min_value=-3, max_value=3, max_denominator=50),
    st.fractions(min_value=-3, max_value=3, max_denominator=50),
)
def test_both_generators_agree_with_sympy_off_the_kinks(a: Fraction, b: Fraction) -> None:
    text = "max(0, x*y - 1)**2 + abs(x - y)**3 + max(1, x**20)"
    loss = tl.Loss(text)
    x, y = loss.variables
    kinks = [x * y - 1, x - y, x**20 - 1]
    at = {x: sympy.Rational(a.numerator, a.denominator), y: sympy.Rational(b.numerator, b.denominator)}
    if any(k.xreplace(at) == 0 for k in kinks):
        return  # on a kink: the test above says what happens there
    for generator in ("simd", "xp"):
        compiled = loss.compile(generator=generator)
        W = np.array([float(a), float(b)])
        value, gradient, hessian = exact(text, [a, b])
        assert compiled.value(W) == pytest.approx(value, rel=1e-12, abs=1e-12)
        assert compiled.grad(W).tolist() == pytest.approx(gradient, rel=1e-12, abs=1e-12)
        assert compiled.hess(W).ravel().tolist() == pytest.approx(hessian, rel=1e-12, abs=1e-12)


def test_point_masses_are_dropped_and_steps_leave_sympy() -> None:
    x = sympy.Symbol("x", real=True)
    hessian = sympy.diff(sympy.Max(1, x**943), x, 2)
    assert hessian.has(sympy.DiracDelta)
    kept = without_point_masses(hessian)
    assert kept == 888306 * x**941 * sympy.Heaviside(x**943 - 1)  # the product with DiracDelta is gone
    engine = engine_form(kept)
    assert "PyFunction" not in {type(node).__name__ for node in _nodes(engine)}  # no SymPy object left
    assert without_point_masses(x**2) == x**2


def _nodes(expr):
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.args)
