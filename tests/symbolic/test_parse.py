"""Acceptance tests of taylorlr.symbolic.parse: exact results, precedence, names, limits and error columns.

Expected values are built with SymPy's constructors directly, never from text.
"""

from __future__ import annotations

import ast
import re

import pytest
import sympy
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import taylorlr.symbolic.parse as parse_module
from taylorlr.errors import ParseError
from taylorlr.symbolic.parse import (
    ALLOWED_FUNCTIONS,
    CONSTANTS,
    FUNCTION_ARITIES,
    MAX_DECIMAL_EXPONENT,
    MAX_DEGREE,
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_LITERAL_DIGITS,
    MAX_MAGNITUDE_BITS,
    MAX_MIN_MAX_ARGUMENTS,
    MAX_MIN_MAX_CALLS,
    MAX_NAME_LENGTH,
    MAX_NUMBER_BITS,
    MAX_ROOT_BITS,
    parse,
)
from tests.strategies import polynomials, smooth_expressions

X, Y, Z = sympy.symbols("x y z", real=True)
R = sympy.Rational
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def real(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, real=True)


def parse_error(text: str) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse(text)
    return caught.value


def rebuilt(expr: sympy.Basic) -> sympy.Basic:
    """The expression rebuilt from its parts with SymPy's own constructors."""
    if not expr.args:
        return expr
    return expr.func(*(rebuilt(argument) for argument in expr.args))


# --------------------------------------------------------------------------
# What is accepted, exactly
# --------------------------------------------------------------------------

ACCEPTED = [
    ("x", X),
    ("x^2 + 0.1*y", X**2 + R(1, 10) * Y),
    ("x**2 + 3*x*y**2", X**2 + 3 * X * Y**2),
    ("2^3^2", sympy.Integer(512)),
    ("2**3**2", sympy.Integer(512)),
    ("(2^3)^2", sympy.Integer(64)),
    ("-x^2", -(X**2)),
    ("(-x)^2", X**2),
    ("-2^2", sympy.Integer(-4)),
    ("x^-1", 1 / X),
    ("2^-1", R(1, 2)),
    ("x^2^-1", sympy.sqrt(X)),
    ("x^2+1", X**2 + 1),
    ("x ^ 2 * y", X**2 * Y),
    ("x^(1/2)", sympy.sqrt(X)),
    ("+x", X),
    ("--x", X),
    ("- -x", X),
    ("x - y - z", X - Y - Z),
    ("x - (y - z)", X - Y + Z),
    ("x/y/z", X / (Y * Z)),
    ("x/y*z", X * Z / Y),
    ("x*(y/z)", X * Y / Z),
    ("2*(x+1)", 2 * X + 2),
    ("(x + y)*(x - y)", (X + Y) * (X - Y)),
    ("0.1", R(1, 10)),
    ("1e-3", R(1, 1000)),
    ("2.5e3", sympy.Integer(2500)),
    ("1/3", R(1, 3)),
    ("1_000", sympy.Integer(1000)),
    (".5", R(1, 2)),
    ("5.", sympy.Integer(5)),
    ("1E3", sympy.Integer(1000)),
    ("0.1e1", sympy.Integer(1)),
    ("00.25", R(1, 4)),
    ("3.14159", R(314159, 100000)),
    ("1e-1000", R(1, 10**1000)),
    ("0.30000000000000004", R(30000000000000004, 10**17)),
    ("beta*gamma + theta + lambda_", real("beta") * real("gamma") + real("theta") + real("lambda_")),
    ("w_1 + y2 + Alpha", real("w_1") + real("y2") + real("Alpha")),
    ("pi", sympy.pi),
    ("E", sympy.E),
    ("e", real("e")),
    ("2*pi*x", 2 * sympy.pi * X),
    ("E^x", sympy.exp(X)),
    ("(x +\n y)", X + Y),
    ("  x", X),
    ("\tx * y\n", X * Y),
    ("x +\n  y", X + Y),
    ("sin (x)", sympy.sin(X)),
    ("sqrt(8)", 2 * sympy.sqrt(2)),
    ("log(8, 2)", sympy.Integer(3)),
    ("exp(log(x))", X),
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED, ids=[text for text, _ in ACCEPTED])
def test_accepted_text_gives_the_exact_expression(text, expected):
    assert parse(text) == expected


FUNCTION_CALLS = [
    ("sin(x)", sympy.sin(X)),
    ("cos(x)", sympy.cos(X)),
    ("tan(x)", sympy.tan(X)),
    ("cot(x)", sympy.cot(X)),
    ("sec(x)", sympy.sec(X)),
    ("csc(x)", sympy.csc(X)),
    ("asin(x)", sympy.asin(X)),
    ("acos(x)", sympy.acos(X)),
    ("atan(x)", sympy.atan(X)),
    ("acot(x)", sympy.acot(X)),
    ("atan2(y, x)", sympy.atan2(Y, X)),
    ("sinh(x)", sympy.sinh(X)),
    ("cosh(x)", sympy.cosh(X)),
    ("tanh(x)", sympy.tanh(X)),
    ("asinh(x)", sympy.asinh(X)),
    ("acosh(x)", sympy.acosh(X)),
    ("atanh(x)", sympy.atanh(X)),
    ("exp(x)", sympy.exp(X)),
    ("log(x)", sympy.log(X)),
    ("log(x, 10)", sympy.log(X) / sympy.log(10)),
    ("ln(x)", sympy.log(X)),
    ("sqrt(x)", sympy.sqrt(X)),
    ("cbrt(x)", sympy.cbrt(X)),
    ("abs(x)", sympy.Abs(X)),
    ("Abs(x)", sympy.Abs(X)),
    ("sign(x)", sympy.sign(X)),
    ("erf(x)", sympy.erf(X)),
    ("erfc(x)", sympy.erfc(X)),
    ("sigmoid(x)", 1 / (1 + sympy.exp(-X))),
    ("softplus(x)", sympy.log(1 + sympy.exp(X))),
    ("relu(x)", sympy.Max(0, X)),
    ("min(x, y)", sympy.Min(X, Y)),
    ("max(x, y, z)", sympy.Max(X, Y, Z)),
    ("Min(x, y)", sympy.Min(X, Y)),
    ("Max(x, y)", sympy.Max(X, Y)),
]


@pytest.mark.parametrize(("text", "expected"), FUNCTION_CALLS, ids=[text for text, _ in FUNCTION_CALLS])
def test_whitelisted_function_calls(text, expected):
    assert parse(text) == expected


def test_every_whitelisted_function_is_tested_and_callable_with_its_arities():
    tested = {text.split("(")[0] for text, _ in FUNCTION_CALLS}
    assert tested == set(ALLOWED_FUNCTIONS) == set(FUNCTION_ARITIES)
    arguments = (X, Y, Z, *sympy.symbols("a0:8", real=True))
    for name, (fewest, most) in FUNCTION_ARITIES.items():
        for count in {fewest, most}:
            text = f"{name}({', '.join(str(argument) for argument in arguments[:count])})"
            assert isinstance(parse(text), sympy.Expr), text


def test_caret_is_power_with_the_precedence_of_double_star():
    for text in ["x^2+1", "2^3^2", "-x^2", "x^-y", "a*b^c/d", "(a^b)^c", "a^b^c^d", "2^-3^2"]:
        assert parse(text) == parse(text.replace("^", "**")), text


def test_names_are_real_symbols_not_sympy_functions():
    for name in ["beta", "gamma", "theta", "lambda_", "zeta", "Symbol", "I", "oo", "N", "S", "Q"]:
        result = parse(name)
        assert isinstance(result, sympy.Symbol), name
        assert result == real(name)
        assert result.is_real is True


def test_constants_are_sympy_constants():
    assert dict(CONSTANTS) == {"pi": sympy.pi, "E": sympy.E}
    assert parse("pi") is sympy.pi
    assert parse("E") is sympy.E
    assert parse("pi + E").free_symbols == set()


def test_numbers_are_exact_never_float():
    result = parse("0.1*x + 1e-3*y + 2.5e3 + 1/3 + 0.333")
    assert result == R(1, 10) * X + R(1, 1000) * Y + 2500 + R(1, 3) + R(333, 1000)
    assert not result.atoms(sympy.Float)
    assert "Float" not in sympy.srepr(result)


def test_huge_decimal_exponent_is_an_error_not_zero():
    error = parse_error("1e-999999999")
    assert "exponent too large" in error.reason
    assert error.column == 0


@pytest.mark.parametrize(
    "text",
    ["x^2 + 0.1*y", "sin(theta)^2 - 3/7*exp(-x)", "sigmoid(w*x + b)", "log(x, 2)", "max(x, relu(y))"],
)
def test_results_are_built_with_sympy_constructors(text):
    result = parse(text)
    assert rebuilt(result) == result
    assert sympy.srepr(rebuilt(result)) == sympy.srepr(result)


# --------------------------------------------------------------------------
# Errors: reason, column in the ORIGINAL text, caret rendering
# --------------------------------------------------------------------------

REFUSED = [
    ("x + $", 4, "unexpected character"),
    ("x^2 + foo(x)", 6, "unknown function 'foo'"),
    ("x^2^2 + foo(x)", 8, "unknown function"),
    ("x ^ 2 ^ foo(1)", 8, "unknown function"),
    ("(x\n + foo(y))", 6, "unknown function"),
    ("x\n+ $", 4, "unexpected character"),
    ("lambda + 1", 0, "'lambda' is a Python keyword"),
    ("x + lambda", 4, "rename it, e.g. 'lambda_'"),
    ("1j", 0, "complex numbers are not supported"),
    ("x + 2j", 4, "complex numbers are not supported"),
    ("", 0, "empty expression"),
    ("   \n\t", 0, "empty expression"),
    ("(x", 0, "never closed"),
    ("x^2 + (y", 6, "never closed"),
    ("x)", 1, "unmatched ')'"),
    ("x +", 3, "syntax error"),
    ("x y", 2, "missing operator"),
    ("x.real", 1, "attribute access"),
    ("sin(x, y)", 0, "sin() takes 1 argument, got 2"),
    ("atan2(x)", 0, "atan2() takes 2 arguments, got 1"),
    ("log(x, 2, 3)", 0, "log() takes 1 to 2 arguments, got 3"),
    ("max(x)", 0, "max() takes 2 to"),
    ("2x", 1, "missing operator between '2' and 'x'"),
    ("(x + 1) y", 8, "missing operator"),
    ("sin", 0, "'sin' is a function"),
    ("x + sin", 4, "'sin' is a function"),
    ("(sin)(x)", 1, "only a function name can be called"),
    ("sin(x)(y)", 0, "only a function name can be called"),
    ("2(x)", 0, "only a function name can be called"),
    ("1/0", 2, "division by zero"),
    ("x^2 + 1/(x-x)", 9, "division by zero"),
    ("0^-1", 0, "division by zero"),
    ("sqrt(-1)", 0, "complex numbers are not supported"),
    ("sqrt(1 - sqrt(2))", 0, "not real"),
    ("log(0)", 0, "undefined"),
    ("x + atanh(1)", 4, "undefined"),
    ("cbrt(-8)", 0, "complex numbers are not supported"),
    ("log(-2)", 0, "not real"),
    ("asin(2)", 0, "not real"),
    ("(-8)^(1/3)", 0, "complex numbers are not supported"),
    ("x^100000", 0, "exponent too large"),
    ("2^100000", 0, "number too large"),
    ("9^9^9^9", 2, "number too large"),
    ("9**9**9**9", 3, "number too large"),
    ("1e-999999999", 0, "exponent too large"),
    ("x*1e1001", 2, "exponent too large"),
    ("1" * (MAX_LITERAL_DIGITS + 1), 0, "digits"),
    ("0x1F", 0, "only decimal numbers"),
    ("ｘ + 1", 0, "non-ASCII"),
    ("x + ｘ", 4, "non-ASCII"),
    ("x\x00", 1, "control character U+0000"),
    ("x\r\n", 1, "control character U+000D"),
    ("x # comment", 2, "comments are not allowed"),
    ("'x'", 0, "strings are not allowed"),
    ("x + \\\n y", 4, "backslashes"),
    ("_x", 0, "may not start with '_'"),
    ("a__b", 0, "may not contain '__'"),
    ("a" * (MAX_NAME_LENGTH + 1), 0, "name longer than"),
    ("sin(x=1)", 5, "'='"),
    ("x // y", 2, "floor division"),
    ("x % y", 2, "modulo"),
    ("x < y", 2, "comparisons"),
    ("x & y", 2, "bitwise"),
    ("x[0]", 1, "square brackets"),
    ("x, y", 0, "tuples are not allowed"),
    ("()", 0, "tuples are not allowed"),
    ("x; y", 1, "';'"),
    ("x**2 + __import__('os')", 7, "may not start with '_'"),
]


@pytest.mark.parametrize(
    ("text", "column", "reason"), REFUSED, ids=[repr(text)[:40] for text, _, _ in REFUSED]
)
def test_refused_text_reports_reason_and_column_in_the_original_text(text, column, reason):
    error = parse_error(text)
    assert reason in error.reason
    assert error.column == column
    assert error.text == text


def test_parse_error_is_a_value_error_with_a_caret_under_the_fault():
    error = parse_error("x + $")
    assert isinstance(error, ValueError)
    assert str(error) == "unexpected character '$' at column 4\n  x + $\n      ^"


def test_caret_points_at_the_unknown_function_despite_the_caret_rewrite():
    lines = str(parse_error("x^2 + foo(x)")).splitlines()
    assert lines[1] == "  x^2 + foo(x)"
    assert lines[2].index("^") == lines[1].index("foo")


def test_text_that_is_not_a_string_is_a_type_error():
    for value in [b"x", None, 3, ["x"]]:
        with pytest.raises(TypeError):
            parse(value)  # type: ignore[arg-type]


def test_leftmost_fault_is_reported():
    assert parse_error("x.y + 'z'").column == 1
    assert parse_error("'z' + x.y").column == 0
    assert parse_error("foo(x) + bar(y)").column == 0


# --------------------------------------------------------------------------
# Limits: the boundary value passes, one more fails
# --------------------------------------------------------------------------


def test_limits_are_named_integers():
    limits = [
        MAX_LENGTH,
        MAX_DEPTH,
        MAX_NAME_LENGTH,
        MAX_LITERAL_DIGITS,
        MAX_DECIMAL_EXPONENT,
        MAX_NUMBER_BITS,
        MAX_MAGNITUDE_BITS,
        MAX_DEGREE,
        MAX_ROOT_BITS,
        MAX_MIN_MAX_CALLS,
        MAX_MIN_MAX_ARGUMENTS,
    ]
    assert all(isinstance(limit, int) and limit > 0 for limit in limits)


def test_length_limit():
    longest = "x" + " " * (MAX_LENGTH - 1)
    assert parse(longest) == X
    error = parse_error(longest + " ")
    assert "too long" in error.reason
    assert error.column == MAX_LENGTH


def test_parenthesis_depth_limit():
    assert parse("(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH) == X
    error = parse_error("(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1))
    assert "nested too deeply" in error.reason
    assert error.column == MAX_DEPTH


def test_depth_limit_counts_calls_signs_and_powers_but_not_chains():
    assert parse("-" * (MAX_DEPTH - 1) + "x") == (X if MAX_DEPTH % 2 else -X)
    assert "nested too deeply" in parse_error("-" * MAX_DEPTH + "x").reason
    assert "nested too deeply" in parse_error("sin(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH).reason
    assert "nested too deeply" in parse_error("x^" * MAX_DEPTH + "x").reason
    long_sum = "+".join(f"a{i}" for i in range(2 * MAX_DEPTH))
    assert len(parse(long_sum).args) == 2 * MAX_DEPTH


def test_name_length_limit():
    assert parse("a" * MAX_NAME_LENGTH) == real("a" * MAX_NAME_LENGTH)
    assert "name longer" in parse_error("a" * (MAX_NAME_LENGTH + 1)).reason


def test_literal_digit_and_exponent_limits():
    # the longest literal is read exactly (all nines would exceed MAX_NUMBER_BITS at 3,011 digits)
    assert parse("1" + "0" * (MAX_LITERAL_DIGITS - 1)) == sympy.Integer(10 ** (MAX_LITERAL_DIGITS - 1))
    assert parse(f"1e{MAX_DECIMAL_EXPONENT}") == sympy.Integer(10**MAX_DECIMAL_EXPONENT)
    assert parse(f"1e-{MAX_DECIMAL_EXPONENT}") == R(1, 10**MAX_DECIMAL_EXPONENT)
    assert "exponent too large" in parse_error(f"1e{MAX_DECIMAL_EXPONENT + 1}").reason
    assert "exponent too large" in parse_error("1e" + "9" * 5000).reason


def test_number_size_limit():
    assert parse(f"2^{MAX_NUMBER_BITS - 1}") == sympy.Integer(2) ** (MAX_NUMBER_BITS - 1)
    assert "number too large" in parse_error(f"2^{MAX_NUMBER_BITS + 1}").reason
    assert "number too large" in parse_error("10^3000 * 10^3000 * x").reason
    assert "number too large" in parse_error("(2*x)^20000").reason


def test_degree_limit_also_bounds_nested_powers():
    assert parse(f"x^{MAX_DEGREE}") == X**MAX_DEGREE
    assert parse(f"x^-{MAX_DEGREE}") == X**-MAX_DEGREE
    assert "exponent too large" in parse_error(f"x^{MAX_DEGREE + 1}").reason
    assert "exponent too large" in parse_error("((x^100)^100)^100").reason
    assert "exponent too large" in parse_error("sqrt(x)^100000").reason
    assert parse("x^y") == X**Y
    assert parse("x^pi") == X**sympy.pi


def test_magnitude_limit_stops_exponential_towers_before_sympy_evaluates_them():
    assert parse("exp(6900)") == sympy.exp(6900)
    assert parse("exp(exp(8))") == sympy.exp(sympy.exp(8))
    assert parse("sigmoid(-6000)") == 1 / (1 + sympy.exp(6000))
    for text in ["exp(exp(9))", "x^(-exp(exp(exp(10))))", "sinh(10^999)", "sigmoid(10^999)", "exp(7000)"]:
        assert "value too large or too small" in parse_error(text).reason, text
    assert "value too large or too small" in parse_error("exp(6931)*exp(6931)").reason


def test_root_size_limit():
    assert parse("sqrt(2^511 + 1)").is_Pow
    error = parse_error(f"sqrt({2 ** (MAX_ROOT_BITS + 1)} + 1)")
    assert "fractional powers" in error.reason
    products = "*".join(f"sqrt({p})" for p in sympy.primerange(10**6, 10**6 + 2000))
    assert "fractional powers" in parse_error(products).reason


def test_min_max_limits():
    assert parse("max(" + ", ".join(f"a{i}" for i in range(MAX_MIN_MAX_ARGUMENTS)) + ")").is_Function
    too_many = "max(" + ", ".join(f"a{i}" for i in range(MAX_MIN_MAX_ARGUMENTS + 1)) + ")"
    assert "takes 2 to" in parse_error(too_many).reason
    merged = "max(max(a, b, c, d), max(e, f, g, h), i)"
    assert "once nested calls are merged" in parse_error(merged).reason
    assert parse(" + ".join(["relu(x)"] * MAX_MIN_MAX_CALLS)) == MAX_MIN_MAX_CALLS * sympy.Max(0, X)
    calls = " + ".join(["relu(x)"] * (MAX_MIN_MAX_CALLS + 1))
    assert "too many min/max/relu calls" in parse_error(calls).reason


def test_very_long_chains_are_read_or_refused_cleanly():
    # Python 3.11's parser gives up on chains of about 3000 operands; 3.10's does not.
    count = MAX_LENGTH // 2
    try:
        assert parse("x+" * (count - 1) + "x") == count * X
    except ParseError as error:
        assert "too long or too deeply nested" in error.reason


# --------------------------------------------------------------------------
# The syntax-tree gate refuses on its own, even if a token slipped through
# --------------------------------------------------------------------------

TREE_ONLY = [
    ("x.real", "attribute access"),
    ("x[0]", "subscripts"),
    ("x if y else z", "conditional"),
    ("x < y", "comparisons"),
    ("x and y", "boolean"),
    ("not x", "unary Not"),
    ("~x", "unary Invert"),
    ("[x]", "lists"),
    ("{x}", "sets"),
    ("{x: y}", "dicts"),
    ("(x, y)", "tuples"),
    ("f'{x}'", "strings"),
    ("'s'", "the constant 's'"),
    ("b's'", "the constant b's'"),
    ("None", "the constant None"),
    ("True", "the constant True"),
    ("...", "the constant Ellipsis"),
    ("lambda: 1", "lambda"),
    ("[c for c in x]", "comprehensions"),
    ("(c for c in x)", "generator"),
    ("(y := 1)", "assignment expressions"),
    ("x // y", "floor division"),
    ("x % y", "modulo"),
    ("x @ y", "matrix product"),
    ("x ^ y", "bitwise"),
    ("x << y", "bitwise"),
    ("sin(*x)", "starred"),
    ("sin(x=1)", "keyword arguments"),
    ("__import__('os')", "names may not start with '_'"),
    ("x.__class__", "attribute access"),
    ("eval(x)", "unknown function 'eval'"),
    ("1j", "complex numbers"),
]


@pytest.mark.parametrize(("text", "reason"), TREE_ONLY, ids=[text for text, _ in TREE_ONLY])
def test_syntax_tree_gate_refuses_without_the_token_gate(text, reason):
    source = parse_module._rewrite(text, frozenset())
    tree = ast.parse(source.rewritten, mode="eval")
    with pytest.raises(ParseError) as caught:
        parse_module._Builder(source).build_root(tree)
    assert reason in caught.value.reason


# --------------------------------------------------------------------------
# Round trip: SymPy's printed form reads back to the same expression
# --------------------------------------------------------------------------

_LEAVES = st.one_of(
    st.sampled_from([X, Y, Z]),
    st.integers(-9, 9).map(sympy.Integer),
    st.builds(sympy.Rational, st.integers(-9, 9), st.integers(1, 9)),
)
_FUNCTIONS = st.sampled_from([sympy.sin, sympy.cos, sympy.exp, sympy.atan, sympy.Abs, sympy.tanh])


def _nonzero_quotient(pair: tuple[sympy.Expr, sympy.Expr]) -> sympy.Expr:
    numerator, denominator = pair
    assume(denominator != 0)
    return sympy.Mul(numerator, sympy.Pow(denominator, -1))


def _extend(children: st.SearchStrategy[sympy.Expr]) -> st.SearchStrategy[sympy.Expr]:
    pairs = st.tuples(children, children)
    return st.one_of(
        pairs.map(lambda pair: sympy.Add(*pair)),
        pairs.map(lambda pair: sympy.Add(pair[0], sympy.Mul(-1, pair[1]))),
        pairs.map(lambda pair: sympy.Mul(*pair)),
        pairs.map(_nonzero_quotient),
        st.builds(sympy.Pow, children, st.integers(0, 4)),
        st.builds(lambda function, argument: function(argument), _FUNCTIONS, children),
    )


expressions = st.recursive(_LEAVES, _extend, max_leaves=10)


@settings(deadline=None, derandomize=True, max_examples=200)
@given(expressions)
def test_printed_expression_reads_back_exactly(expr):
    assume(not expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo))
    assume(all(abs(number.p) < 2**200 and number.q < 2**200 for number in expr.atoms(sympy.Rational)))
    assert parse(str(expr)) == expr


@settings(deadline=None, derandomize=True, max_examples=100)
@given(expressions)
def test_created_names_are_always_safe_identifiers(expr):
    assume(not expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo))
    assume(all(abs(number.p) < 2**200 and number.q < 2**200 for number in expr.atoms(sympy.Rational)))
    result = parse(str(expr))
    assert all(NAME.match(symbol.name) and "__" not in symbol.name for symbol in result.free_symbols)
    assert not result.atoms(sympy.Float)


@given(st.one_of(smooth_expressions(), polynomials()))
def test_a_minus_sign_builds_what_sympys_product_by_minus_one_builds(expr: sympy.Expr) -> None:
    # the parser negates with SymPy's own negation (no second flattening): the same expression
    expected = sympy.Mul(sympy.S.NegativeOne, expr)
    assert parse(f"-({expr})") == expected
    assert str(parse(f"-({expr})")) == str(expected)
    assert parse(f"1 - ({expr})") == sympy.Add(1, expected)
