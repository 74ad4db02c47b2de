"""A Loss pickles (the exact worker sends it to the fork server): its definition survives, its
compiled kernels are dropped and rebuild, and the rebuilt numbers are SymPy's."""

from __future__ import annotations

import math
import pickle

import numpy as np
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import coordinates, polynomials

import taylorlr as tl


def _round_trip(loss: tl.Loss) -> tl.Loss:
    return pickle.loads(pickle.dumps(loss))


def test_the_definition_survives_the_round_trip():
    loss = tl.Loss("(w*x - y)**2 + exp(w)", variables=["w"], data=["x", "y"], reduction="sum")
    copy = _round_trip(loss)
    assert copy.expr == loss.expr and copy.variables == loss.variables and copy.data == loss.data
    assert copy.reduction == "sum" and repr(copy) == repr(loss)


def test_the_vector_symbols_are_the_same_dummies():
    loss = tl.Loss("x**2*y")
    v, u = loss.vector_symbols(), loss.vector_symbols("u")
    copy = _round_trip(loss)
    assert copy.vector_symbols() == v and copy.vector_symbols("u") == u
    assert copy.hvp() == loss.hvp()


def test_the_exact_derivatives_are_sent_not_recomputed():
    loss = tl.Loss("x**2 + 3*x*y**2")
    gradient, hessian = loss.gradient, loss.hessian
    copy = _round_trip(loss)
    assert copy.__dict__["gradient"] == gradient and copy.__dict__["hessian"] == hessian
    assert "derivatives" not in copy.__dict__


def test_a_compiled_loss_pickles_and_its_copy_compiles_again():
    loss = tl.Loss("x**2 + 3*x*y**2 + sin(x)")
    for backend in ("numpy", "array-api-strict"):
        loss.compile(backend).value(np.array([1.0, 2.0]))  # a kernel is built
        loss.compile(backend, generator="xp").grad(np.array([1.0, 2.0]))
    copy = _round_trip(loss)
    assert copy._compiled == {}
    expected = 1 + 12 + math.sin(1.0)
    assert math.isclose(float(copy.compile().value(np.array([1.0, 2.0]))), expected, rel_tol=1e-15)


@settings(max_examples=25)
@given(polynomials(), st.tuples(coordinates, coordinates, coordinates))
def test_values_after_unpickling_are_sympy_s(expr, point):
    loss = tl.Loss(expr)
    loss.compile().value(np.zeros(loss.n))
    copy = _round_trip(loss)
    w = np.array(point[: copy.n])
    at = {s: sympy.Rational(c) for s, c in zip(copy.variables, w.tolist(), strict=True)}
    exact = float(expr.xreplace(at))
    assert math.isclose(float(copy.compile().value(w)), exact, rel_tol=1e-12, abs_tol=1e-10)
    exact_gradient = [float(sympy.diff(expr, s).xreplace(at)) for s in copy.variables]
    assert np.allclose(copy.compile().grad(w), exact_gradient, rtol=1e-12, atol=1e-10)
