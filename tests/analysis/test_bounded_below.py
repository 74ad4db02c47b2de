"""Bounded below: whenever the analysis says "bounded below (proved)", f >= bound holds; whenever it
says the bound is attained, the point is a critical point with f = bound exactly.

Checked against exact arithmetic (SymPy's evaluation at rational points) and against an
independent answer for one variable (the smallest critical value of an even-degree polynomial with
a positive leading coefficient, from SymPy's real roots of f').
"""

from __future__ import annotations

import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import taylorlr as tl
from taylorlr import _budget
from taylorlr.analysis._bounded import lower_bound
from taylorlr.analysis.result import BoundedBelow
from taylorlr.report.text import solve_lines

X, Y = sympy.symbols("x y", real=True)
SMALL = st.integers(-3, 3)
FRACTIONS = st.fractions(-5, 5, max_denominator=7)
RATIONAL_POINTS = st.lists(st.tuples(FRACTIONS, FRACTIONS), min_size=8, max_size=8)


@st.composite
def polynomials_2d(draw, degree: int = 3) -> sympy.Expr:
    """A polynomial in x, y with small integer coefficients, of total degree at most ``degree``."""
    monomials = [X**i * Y**j for i in range(degree + 1) for j in range(degree + 1 - i)]
    return sympy.Add(*(draw(SMALL) * m for m in monomials))


@st.composite
def sums_of_squares(draw) -> tuple[sympy.Expr, bool]:
    """(c + sum a_k p_k^2, common): a constant plus squares of polynomials of degree <= 2, a_k > 0;
    when ``common``, every p_k vanishes at one rational point, so min f = c is attained there."""
    common = draw(st.booleans())
    at = {X: X - draw(st.integers(-2, 2)), Y: Y - draw(st.integers(-2, 2))}
    terms = []
    for _ in range(draw(st.integers(1, 3))):
        p = draw(polynomials_2d(degree=2))
        if common:
            p = (p - p.subs({X: 0, Y: 0})).xreplace(at)  # no constant term, then shifted to the point
        terms.append(draw(st.integers(1, 5)) * p**2)
    return sympy.Add(draw(st.fractions(-10, 10, max_denominator=5)), *terms, evaluate=False), common


def _assert_holds(expr: sympy.Expr, bounded: BoundedBelow, points: list[tuple]) -> None:
    """The claim "f >= bound" at exact rational points, and an attained bound at its point."""
    assert bounded.proof and bounded.bound_exact is not None
    bound = sympy.sympify(bounded.bound_exact)
    for p in points:
        assert expr.subs({X: sympy.Rational(p[0]), Y: sympy.Rational(p[1])}) >= bound
    if bounded.attained:
        at = dict(zip((X, Y), map(sympy.sympify, bounded.point_exact), strict=False))
        assert _equal(expr.subs(at), bound)
        assert all(_equal(sympy.diff(expr, v).subs(at), 0) for v in at)


def _equal(a: sympy.Expr, b: sympy.Expr) -> bool:
    """Two exact (algebraic) numbers equal to 50 digits (``simplify`` takes seconds on root objects)."""
    return bool(a == b or abs(sympy.N(a - b, 60)) < sympy.Float("1e-50"))


@settings(max_examples=16)
@given(sums_of_squares(), RATIONAL_POINTS)
def test_a_constant_plus_squares_is_proved_bounded_by_its_constant(case, points):
    expr, common = case
    loss = tl.Loss(expr, variables=[X, Y])
    constant, _ = lower_bound(loss)
    assert constant == expr.as_coeff_Add()[0]
    result = loss.critical_points(budget_s=20)
    bounded = result.bounded_below
    assert bounded.verdict == "bounded below (proved)"
    _assert_holds(loss.expr, bounded, points)
    # squares with a common zero attain the constant there: said whenever every critical point is
    # known exactly (not when they form a curve, whose numeric samples prove nothing)
    assert bounded.attained or not common or result.status != "complete"
    if result.status == "complete" and common:
        assert bounded.bound_exact == str(expr.as_coeff_Add()[0])


@settings(max_examples=25)
@given(polynomials_2d(degree=4), RATIONAL_POINTS)
def test_whenever_a_polynomial_is_said_bounded_below_the_bound_holds(expr, points):
    loss = tl.Loss(expr, variables=[X, Y])
    bounded = loss.critical_points(budget_s=20).bounded_below
    if bounded.verdict == "bounded below (proved)":
        _assert_holds(loss.expr, bounded, points)
    else:
        assert bounded.bound is None and not bounded.attained


@settings(max_examples=15)
@given(st.lists(SMALL, min_size=2, max_size=4), st.integers(1, 4))
def test_an_even_degree_polynomial_in_one_variable_has_its_minimum_proved(coefficients, lead):
    expr = lead * X ** (2 * len(coefficients)) + sympy.Add(*(c * X**k for k, c in enumerate(coefficients)))
    bounded = tl.Loss(expr, variables=[X]).critical_points(budget_s=20).bounded_below
    assert bounded.verdict == "bounded below (proved)" and bounded.attained
    critical = sympy.real_roots(sympy.Poly(sympy.diff(expr, X), X))  # independent of the solve
    lowest = min(expr.subs(X, r) for r in critical)
    assert _equal(sympy.sympify(bounded.bound_exact), lowest)


def test_the_text_report_says_min_f_only_where_it_is_attained_exactly():
    rosenbrock = solve_lines(tl.solve("100*(y - x**2)**2 + (1 - x)**2").to_dict())
    (line,) = [s for s in rosenbrock if s.startswith("bounded below")]
    assert (
        line
        == "bounded below  YES (proved): min f = 0, attained exactly at (x, y) = (1, 1): a global minimiser"
    )
    # attained on a curve, whose numeric samples prove nothing: the bound only
    curve = tl.solve("(x*y - 1)**2 - 1/3")
    text = "\n".join(solve_lines(curve.to_dict()))
    assert "bounded below  YES (proved): f >= -1/3 ≈ -0.333333" in text
    assert "not proved to attain the bound" in text and "min f" not in text
    assert (
        curve.bounded_below.summary == "f >= -1/3 (proved)" and "f &gt;= -1/3 (proved)" in curve._repr_html_()
    )


def test_a_bound_past_the_budget_leaves_the_evidence_of_the_probes(monkeypatch):
    import taylorlr.analysis._bounded as bounded_module

    monkeypatch.setattr(bounded_module, "TERMS_PER_CHECK", 1)
    loss = tl.Loss("(x - 1)**2 + (y - 2)**2 + (x - y)**2")
    with _budget.ensure("test", 1e-9):
        assert lower_bound(loss) is None
