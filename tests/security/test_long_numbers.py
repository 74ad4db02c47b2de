"""Printed expressions read back: numbers of up to 3,011 digits (every exact number the parser builds).

docs/cli.md promises that the JSON's expression strings are read back by the parser; a
loss's exact numbers can have thousands of digits (a decimal literal with many digits, its
square in a gradient), so the parser reads literals up to :data:`MAX_LITERAL_DIGITS`, the
length of the largest number it builds (:data:`MAX_NUMBER_BITS` bits).
"""

from __future__ import annotations

import json
import sys

import pytest
import sympy
from hypothesis import example, given, settings
from hypothesis import strategies as st

import taylorlr as tl
from taylorlr.symbolic.parse import MAX_LITERAL_DIGITS, MAX_NUMBER_BITS, parse

x, y = sympy.symbols("x y", real=True)


def test_the_literal_limit_is_the_length_of_the_largest_number_built():
    assert MAX_LITERAL_DIGITS == len(str(2**MAX_NUMBER_BITS)) == 3011
    assert sys.get_int_max_str_digits() > MAX_LITERAL_DIGITS  # Python reads and prints them


@settings(max_examples=15, deadline=None, derandomize=True)
@given(st.integers(10**1000, 10**1500), st.integers(1, 10**1400))
@example(q=10**1500, k=10**1500 - 1)
def test_a_loss_with_huge_rationals_prints_to_text_that_reads_back(q, k):
    a = sympy.Rational(q + k, q)  # in (1, 2]: a float64 holds it, its digits are many
    b = sympy.Rational(q - k // 2, 3 * q + 1)
    expr = a * x**2 + b * x * y + y**4  # its printed text stays under MAX_LENGTH characters
    loss = tl.Loss(expr, variables=[x, y])
    text = json.loads(json.dumps(str(loss.expr)))  # the JSON's expression string
    assert max(len(d) for d in text.replace("/", " ").replace("*", " ").split() if d.isdigit()) > 1000
    assert parse(text) == loss.expr
    assert tl.Loss(text).expr == loss.expr
    for g in loss.gradient:
        assert parse(str(g)) == g
    for h in loss.hessian:
        assert parse(str(h)) == h


def test_the_solution_of_a_loss_with_long_numbers_reads_back():
    q = 10**1200 + 7
    a = sympy.Rational(q + 1, q)
    loss = tl.Loss(a * x**2 - 2 * x)
    solution = tl.solve(loss)
    text = json.dumps(solution.to_dict())
    exact = sympy.Rational(q, q + 1)  # the minimiser 1/a
    assert solution.critical_points.points[0].point == (exact,)
    assert str(exact) in text and parse(str(exact)) == exact
    (entry,) = solution.to_dict()["gradient"]
    assert len(entry) > 2400 and parse(entry) == loss.gradient[0]


@pytest.mark.parametrize(
    ("digits", "message"),
    [(3012, "more than 3011 digits"), (3011, "number too large")],  # 10**3010 > 2**10000 bits
)
def test_longer_literals_are_refused_with_the_limit_named(digits, message):
    with pytest.raises(tl.ParseError, match=message):
        parse("9" * digits + "*x")


def test_a_decimal_written_out_is_bounded_like_its_exponent():
    assert parse("0." + "0" * 999 + "1") == sympy.Rational(1, 10**1000)  # 1e-1000, the limit
    with pytest.raises(tl.ParseError, match="out of range"):
        parse("0." + "0" * 1000 + "1")  # 1e-1001, as 1e-1001 is
    with pytest.raises(tl.ParseError, match="exponent too large"):
        parse("1e-1001")
