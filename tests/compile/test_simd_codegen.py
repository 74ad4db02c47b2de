"""The LLVM column loop: elementary functions, NaN-aware comparisons, layouts, errors."""

from __future__ import annotations

import gc
import math

import numpy as np
import pytest
import scipy.special
import symengine as se
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from taylorlr.compile import simd_codegen as llvm_loop
from taylorlr.compile.simd_codegen import LANES, LoopArray, UnsupportedExpression, compile_loop

pytestmark = pytest.mark.skipif(not llvm_loop.available(), reason="llvmlite is not importable")

x, y, z = se.symbols("x y z")
#: more than one tile, and a multiple of LANES
COUNT = 10 * LANES


def evaluate(expressions, *columns):
    """The loop's values of ``expressions`` at the points whose coordinates are ``columns`` (x, y, z)."""
    points = np.ascontiguousarray(np.array(columns, dtype=np.float64))
    out = np.full((len(expressions), points.shape[1]), -123.0)
    loop = compile_loop(
        [LoopArray("rows", reads=(x, y, z)[: len(columns)]), LoopArray("rows", writes=tuple(expressions))]
    )
    loop([points, out])
    return out


def to_tiles(rows):
    """(width, B) -> (B / LANES, width, LANES), C-contiguous."""
    width, count = rows.shape
    return np.ascontiguousarray(rows.reshape(width, count // LANES, LANES).transpose(1, 0, 2))


def from_tiles(tiles):
    tiles_count, width, lanes = tiles.shape
    return tiles.transpose(1, 0, 2).reshape(width, tiles_count * lanes)


def grid(lo, hi):
    return np.linspace(lo, hi, COUNT)


def two_sided(lo, hi):
    """Points in [-hi, -lo] and [lo, hi] (avoiding a pole or branch point at 0)."""
    half = np.linspace(lo, hi, COUNT // 2)
    return np.concatenate([-half[::-1], half])


UNARY = {
    "sin": (se.sin, np.sin, grid(-7, 7)),
    "cos": (se.cos, np.cos, grid(-7, 7)),
    "tan": (se.tan, np.tan, grid(-1.5, 1.5)),
    "exp": (se.exp, np.exp, grid(-30, 30)),
    "log": (se.log, np.log, grid(1e-3, 1e3)),
    "sqrt": (se.sqrt, np.sqrt, grid(0, 50)),
    "Abs": (se.Abs, np.abs, grid(-3, 3)),
    "floor": (se.floor, np.floor, grid(-3.7, 3.7)),
    "ceiling": (se.ceiling, np.ceil, grid(-3.7, 3.7)),
    "asin": (se.asin, np.arcsin, grid(-1, 1)),
    "acos": (se.acos, np.arccos, grid(-1, 1)),
    "atan": (se.atan, np.arctan, grid(-20, 20)),
    "sinh": (se.sinh, np.sinh, grid(-5, 5)),
    "cosh": (se.cosh, np.cosh, grid(-5, 5)),
    "tanh": (se.tanh, np.tanh, grid(-5, 5)),
    "asinh": (se.asinh, np.arcsinh, grid(-20, 20)),
    "acosh": (se.acosh, np.arccosh, grid(1, 20)),
    "atanh": (se.atanh, np.arctanh, grid(-0.99, 0.99)),
    "erf": (se.erf, scipy.special.erf, grid(-4, 4)),
    "erfc": (se.erfc, scipy.special.erfc, grid(-3, 5)),
    "cot": (se.cot, lambda v: np.cos(v) / np.sin(v), two_sided(0.1, 1.4)),
    "sec": (se.sec, lambda v: 1 / np.cos(v), grid(-1.4, 1.4)),
    "csc": (se.csc, lambda v: 1 / np.sin(v), two_sided(0.1, 3.0)),
    "acot": (se.acot, lambda v: np.arctan(1 / v), two_sided(0.05, 20)),
    "x**2": (lambda v: v**2, lambda v: v * v, grid(-3, 3)),
    "x**3": (lambda v: v**3, lambda v: v * v * v, grid(-3, 3)),
    "x**-2": (lambda v: v**-2, lambda v: 1 / (v * v), two_sided(0.1, 3)),
    "x**20": (lambda v: v**20, lambda v: np.power(v, 20.0), two_sided(0.1, 3)),
    "x**-20": (lambda v: v**-20, lambda v: np.power(v, -20.0), two_sided(0.5, 3)),
    "x**0.5": (lambda v: v**0.5, np.sqrt, grid(0, 9)),
    "x**-0.5": (lambda v: v**-0.5, lambda v: 1 / np.sqrt(v), grid(0.01, 9)),
    "x**2.5": (lambda v: v**2.5, lambda v: np.power(v, 2.5), grid(0, 9)),
    "x**(1/3)": (lambda v: v ** se.Rational(1, 3), np.cbrt, grid(0, 27)),
    "E**x": (lambda v: se.E**v, np.exp, grid(-30, 30)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_elementary_function_matches_numpy(name):
    build, reference, points = UNARY[name]
    assert points.size == COUNT
    (values,) = evaluate([build(x)], points)
    np.testing.assert_allclose(values, reference(points), rtol=1e-13, atol=1e-300)


def test_symengine_keeps_the_node_each_case_is_meant_to_exercise():
    kinds = {name: type(build(x)).__name__ for name, (build, _, _) in UNARY.items()}
    assert kinds["cot"] == "cot" and kinds["acot"] == "acot" and kinds["erfc"] == "erfc"
    assert kinds["x**20"] == kinds["x**0.5"] == kinds["E**x"] == "Pow"
    assert type((x**0.5).args[1]).__name__ == "RealDouble"
    assert type((x ** se.Rational(1, 3)).args[1]).__name__ == "Rational"


@pytest.mark.parametrize(
    ("build", "reference"),
    [
        (lambda a, b: se.Max(a, b, 0.5), lambda a, b: np.maximum(np.maximum(a, b), 0.5)),
        (lambda a, b: se.Min(a, b), np.minimum),
        (lambda a, b: se.sign(a) + b, lambda a, b: np.sign(a) + b),
    ],
    ids=["Max", "Min", "sign"],
)
def test_kinks_follow_numpy_nan_semantics(build, reference):
    a = np.array([-1.0, 0.0, 2.0, np.nan, 1.0, np.nan, -0.5, 3.0])
    b = np.array([0.0, 0.0, -1.0, 1.0, np.nan, np.nan, 0.7, 3.0])
    (values,) = evaluate([build(x, y)], a, b)
    np.testing.assert_array_equal(values, reference(a, b))


def test_atan2_matches_numpy_in_every_quadrant():
    angles = np.linspace(-3.1, 3.1, COUNT)
    radii = np.linspace(0.1, 10, COUNT)
    ys, xs = radii * np.sin(angles), radii * np.cos(angles)
    (values,) = evaluate([se.atan2(y, x)], xs, ys)
    np.testing.assert_allclose(values, np.arctan2(ys, xs), rtol=1e-13)
    assert (values < 0).any() and (values > math.pi / 2).any()


def test_a_compound_expression_matches_numpy():
    xs, ys = grid(0.1, 2), grid(-1, 1)[::-1]
    expression = se.exp(-(x**2)) * se.sin(x * y) / (1 + y**2) + se.log(x) * se.sqrt(x + 1)
    (values,) = evaluate([expression], xs, ys)
    reference = np.exp(-(xs**2)) * np.sin(xs * ys) / (1 + ys**2) + np.log(xs) * np.sqrt(xs + 1)
    np.testing.assert_allclose(values, reference, rtol=1e-13, atol=1e-15)


def test_nonfinite_values_propagate():
    xs = np.array([np.nan, np.inf, -np.inf, -1.0] * 2)
    values = evaluate([x + 1, se.exp(x), se.log(x), se.sqrt(x)], xs)
    with np.errstate(invalid="ignore"):
        reference = np.array([xs + 1, np.exp(xs), np.log(xs), np.sqrt(xs)])
    np.testing.assert_array_equal(values, reference)


NAN = np.nan
# every pairing of NaN, equal, smaller and larger values
PAIRS = [(NAN, 1.0), (1.0, NAN), (NAN, NAN), (1.0, 1.0), (0.5, 2.0), (2.0, 0.5), (-0.0, 0.0), (3.0, 3.0)]
XS, YS = (np.array(v) for v in zip(*PAIRS, strict=True))


@pytest.mark.parametrize(
    ("condition", "reference"),
    [
        (x < y, XS < YS),
        (x <= y, XS <= YS),
        (x > y, XS > YS),
        (x >= y, XS >= YS),
        (se.Eq(x, y), XS == YS),
        (se.Ne(x, y), XS != YS),
        (se.And(x < y, y < 1.5), (XS < YS) & (YS < 1.5)),
        (se.Or(x < 0.75, se.Eq(y, 1)), (XS < 0.75) | (YS == 1)),
    ],
    ids=["lt", "le", "gt", "ge", "eq", "ne", "and", "or"],
)
def test_comparisons_follow_numpy_nan_semantics(condition, reference):
    as_value, as_branch = evaluate([condition, se.Piecewise((x + 10, condition), (y - 10, True))], XS, YS)
    np.testing.assert_array_equal(as_value, reference.astype(float))
    np.testing.assert_array_equal(as_branch, np.where(reference, XS + 10, YS - 10))


def test_a_condition_used_as_a_number():
    (values,) = evaluate([se.Piecewise((1, x < y), (0, True)) + 2 * (x <= y)], XS, YS)
    np.testing.assert_array_equal(values, (XS < YS) + 2.0 * (XS <= YS))


def test_piecewise_takes_the_first_true_branch():
    xs = np.array([-1.0, 0.0, 0.5, 1.0, 2.0, NAN, -np.inf, np.inf])
    expression = se.Piecewise((x - 100, x < 0), (x * 10, x < 1), (se.sin(x), se.Eq(x, 1)), (x, True))
    (values,) = evaluate([expression], xs)
    with np.errstate(invalid="ignore"):
        reference = np.select([xs < 0, xs < 1, xs == 1], [xs - 100, xs * 10, np.sin(xs)], xs)
    np.testing.assert_array_equal(values, reference)


def test_constants_pi_and_e():
    xs = grid(-2, 2)
    values = evaluate([se.pi * x, x + se.E, se.pi + 0 * x, se.E], xs)
    np.testing.assert_array_equal(values[0], math.pi * xs)
    np.testing.assert_array_equal(values[1], xs + math.e)
    np.testing.assert_array_equal(values[2], np.full(COUNT, math.pi))
    np.testing.assert_array_equal(values[3], np.full(COUNT, math.e))


def test_a_loop_with_only_constant_outputs_ignores_its_inputs():
    out = np.zeros((2, COUNT))
    compile_loop([LoopArray("rows", writes=(se.Integer(3), se.Rational(-1, 4)))])([out])
    np.testing.assert_array_equal(out, [[3.0] * COUNT, [-0.25] * COUNT])


def layout_data(width=3):
    rng = np.random.default_rng(7)
    return rng.uniform(-2, 2, size=(width, COUNT))


def test_tiles_in_place_with_an_untouched_column_equals_numpy_and_the_rows_layout():
    rows = layout_data()
    rows[1, 5] = 1e300  # a distinctive value, kept bit for bit
    a, b, c = rows
    writes = (x + y * z, None, se.sin(x) * y)
    tiles = to_tiles(rows)
    compile_loop([LoopArray("tiles", reads=(x, y, z), writes=writes)])([tiles])
    result = from_tiles(tiles)
    np.testing.assert_allclose(result[0], a + b * c, rtol=1e-14)
    np.testing.assert_array_equal(result[1], rows[1])
    np.testing.assert_allclose(result[2], np.sin(a) * b, rtol=1e-14)
    assert result[1, 5] == 1e300

    in_rows = rows.copy()
    compile_loop([LoopArray("rows", reads=(x, y, z), writes=writes)])([in_rows])
    np.testing.assert_array_equal(result, in_rows)
    np.testing.assert_array_equal(in_rows[1], rows[1])


def test_in_place_every_column_is_read_before_any_is_written():
    rows = layout_data()
    tiles = to_tiles(rows)
    compile_loop([LoopArray("tiles", reads=(x, y, z), writes=(y, z, x))])([tiles])
    np.testing.assert_array_equal(from_tiles(tiles), rows[[1, 2, 0]])


def test_reading_tiles_and_writing_rows():
    rows = layout_data(2)
    a, b = rows
    out = np.full((3, COUNT), np.nan)
    loop = compile_loop(
        [LoopArray("tiles", reads=(x, y)), LoopArray("rows", writes=(x * y, x - y, se.cos(y)))]
    )
    loop([to_tiles(rows), out])
    np.testing.assert_array_equal(out[0], a * b)
    np.testing.assert_array_equal(out[1], a - b)
    np.testing.assert_allclose(out[2], np.cos(b), rtol=1e-14)


def test_reading_rows_and_writing_tiles():
    rows = layout_data(2)
    a, b = rows
    out = np.zeros((COUNT // LANES, 2, LANES))
    compile_loop([LoopArray("rows", reads=(x, y)), LoopArray("tiles", writes=(x + y, x / y))])([rows, out])
    # symengine holds x / y as x * y**-1, so the quotient is a product with a reciprocal
    np.testing.assert_array_equal(from_tiles(out), [a + b, a * (1 / b)])


@pytest.mark.parametrize("interleave", [2, 4])
@pytest.mark.parametrize("tiles", [1, 2, 3, 5, 8])
def test_an_interleaved_loop_gives_one_tile_a_passs_bits_for_any_number_of_tiles(interleave, tiles):
    # an odd end is run twice: the same bits stored twice, in place too, and nothing past the end
    rows = np.random.default_rng(tiles).uniform(-2, 2, size=(3, tiles * LANES))
    rows[0, 0], rows[1, -1] = np.nan, 0.0  # NaN and a division by zero through the same lanes
    writes = (x + y * z, se.Piecewise((se.sqrt(x), x > y), (z / y, True)), se.sin(x) * se.exp(y))

    def run(layout, k):
        data = to_tiles(rows) if layout == "tiles" else rows.copy()
        padded = np.concatenate([data, np.full((1, *data.shape[1:]), 7.0)])  # a guard past the end
        compile_loop([LoopArray(layout, reads=(x, y, z), writes=writes)], interleave=k)([padded[:-1]])
        assert np.all(padded[-1] == 7.0)
        return from_tiles(padded[:-1]) if layout == "tiles" else padded[:-1]

    for layout in ("tiles", "rows"):
        np.testing.assert_array_equal(run(layout, interleave), run(layout, 1))
    a, b, c = rows
    with np.errstate(all="ignore"):
        expected = [a + b * c, np.where(a > b, np.sqrt(a), c / b), np.sin(a) * np.exp(b)]
    np.testing.assert_allclose(run("tiles", interleave), expected, rtol=1e-14)


def test_an_interleaved_loop_refuses_points_and_a_count_not_a_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        compile_loop([LoopArray("rows", reads=(x,), writes=(x,))], interleave=3)
    with pytest.raises(ValueError, match="layouts only"):
        compile_loop([LoopArray("points", reads=(x,), writes=(x,))], interleave=2)


def test_an_integer_output_truncates_toward_zero():
    xs = np.array([2.9, -2.9, 3.0, -3.0, 0.5, -0.5, 0.0, 7.999999, -7.999999, 2.0**53, -(2.0**52), 1e15])
    out = np.full((2, xs.size), -1, dtype=np.int64)
    loop = compile_loop(
        [LoopArray("tiles", reads=(x,)), LoopArray("rows", writes=(x, 2 * x + 1), integers=True)]
    )
    loop([to_tiles(xs[None, :]), out])
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out[0], [2, -2, 3, -3, 0, 0, 0, 7, -7, 2**53, -(2**52), 10**15])
    np.testing.assert_array_equal(out[1], np.trunc(2 * xs + 1).astype(np.int64))


def test_read_only_inputs_are_accepted():
    points = layout_data(1)
    points.flags.writeable = False
    out = np.empty((1, COUNT))
    compile_loop([LoopArray("rows", reads=(x,)), LoopArray("rows", writes=(3 * x,))])([points, out])
    np.testing.assert_array_equal(out, 3 * points)


@pytest.fixture(scope="module")
def two_rows_loop():
    """Reads x, y from a (2, B) array and writes x*y to a (1, B) array."""
    return compile_loop([LoopArray("rows", reads=(x, y)), LoopArray("rows", writes=(x * y,))])


def test_call_rejects_a_wrong_shape(two_rows_loop):
    with pytest.raises(ValueError, match=r"shape \(1, 8\)"):
        two_rows_loop([np.zeros((2, 8)), np.zeros((2, 8))])
    with pytest.raises(ValueError, match="shape"):
        two_rows_loop([np.zeros((3, 8)), np.zeros((1, 8))])


def test_call_rejects_a_wrong_dtype(two_rows_loop):
    with pytest.raises(ValueError, match="float64"):
        two_rows_loop([np.zeros((2, 8), dtype=np.float32), np.zeros((1, 8))])
    integers = LoopArray("rows", writes=(x,), integers=True)
    integer_loop = compile_loop([LoopArray("rows", reads=(x,)), integers])
    with pytest.raises(ValueError, match="int64"):
        integer_loop([np.zeros((1, 8)), np.zeros((1, 8))])


def test_call_rejects_a_non_contiguous_array(two_rows_loop):
    with pytest.raises(ValueError, match="C-contiguous"):
        two_rows_loop([np.asfortranarray(np.zeros((2, 8))), np.zeros((1, 8))])
    strided = np.zeros((2, 16))[:, ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        two_rows_loop([strided, np.zeros((1, 8))])


def test_call_rejects_a_read_only_output(two_rows_loop):
    out = np.zeros((1, 8))
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        two_rows_loop([np.ones((2, 8)), out])
    np.testing.assert_array_equal(out, 0.0)


def test_call_rejects_a_count_not_a_multiple_of_lanes(two_rows_loop):
    count = 2 * LANES + 1
    with pytest.raises(ValueError, match=f"multiple of {LANES}"):
        two_rows_loop([np.zeros((2, count)), np.zeros((1, count))])


def test_call_rejects_a_wrong_number_of_arrays(two_rows_loop):
    with pytest.raises(ValueError, match="expected 2 arrays, got 1"):
        two_rows_loop([np.zeros((2, 8))])
    with pytest.raises(ValueError, match="expected 2 arrays, got 3"):
        two_rows_loop([np.zeros((2, 8)), np.zeros((1, 8)), np.zeros((1, 8))])


def test_a_rejected_call_after_a_good_one_leaves_the_loop_usable(two_rows_loop):
    out = np.zeros((1, 8))
    with pytest.raises(ValueError):
        two_rows_loop([np.zeros((2, 8), dtype=np.float32), out])
    points = np.arange(16.0).reshape(2, 8)
    two_rows_loop([points, out])
    np.testing.assert_array_equal(out[0], points[0] * points[1])


def test_loop_array_rejects_a_bad_layout():
    with pytest.raises(ValueError, match="layout must be one of"):
        LoopArray("columns", reads=(x,))


def test_loop_array_rejects_reads_and_writes_of_different_lengths():
    with pytest.raises(ValueError, match="one expression"):
        LoopArray("tiles", reads=(x, y), writes=(x,))


def test_loop_array_rejects_an_integer_array_that_is_read():
    with pytest.raises(ValueError, match="write-only"):
        LoopArray("rows", reads=(x,), integers=True)


@pytest.mark.parametrize(
    "expression",
    [se.gamma(x), se.Piecewise((x, x < y)), x + z, x + se.I],
    ids=["gamma", "piecewise-without-true", "unread-symbol", "imaginary"],
)
def test_unsupported_nodes_raise_at_compile_time(expression):
    assert issubclass(UnsupportedExpression, NotImplementedError)  # callers fall back on it
    with pytest.raises(UnsupportedExpression):
        compile_loop([LoopArray("rows", reads=(x, y)), LoopArray("rows", writes=(expression,))])


def test_an_exponent_beyond_32_bits_is_not_wrapped():
    # powi takes an i32 exponent: 2**31 must not turn into -2**31
    out = evaluate([x ** (2**31), x ** (-(2**31) - 2)], [0.5, 1.0, 2.0, 0.9])
    np.testing.assert_array_equal(out, [[0.0, 1.0, np.inf, 0.0], [np.inf, 1.0, 0.0, np.inf]])


def test_a_math_function_the_jit_cannot_find_is_refused_not_fatal(monkeypatch):
    import llvmlite.binding

    real = llvmlite.binding.address_of_symbol
    monkeypatch.setattr(
        llvmlite.binding, "address_of_symbol", lambda name: None if name == "erf" else real(name)
    )
    with pytest.raises(UnsupportedExpression, match="erf"):
        compile_loop([LoopArray("rows", reads=(x,)), LoopArray("rows", writes=(se.erf(x) + se.sin(x),))])
    np.testing.assert_allclose(evaluate([se.sin(x)], [0.5, 1.0, 2.0, 3.0])[0], np.sin([0.5, 1.0, 2.0, 3.0]))


def test_infinities_and_nan_as_constants():
    out = evaluate([x + se.oo, x - se.oo, x * 0 + se.nan], [1.0, -2.0, 0.0, 5.0])
    assert (out[0] == np.inf).all() and (out[1] == -np.inf).all() and np.isnan(out[2]).all()


def test_a_loop_still_works_after_another_is_collected():
    first = compile_loop([LoopArray("rows", reads=(x,)), LoopArray("rows", writes=(se.sin(x),))])
    second = compile_loop([LoopArray("rows", reads=(x,)), LoopArray("rows", writes=(se.exp(x) + x**3,))])
    del first
    gc.collect()
    xs = grid(-2, 2)[None, :]
    out = np.empty((1, COUNT))
    second([xs, out])
    np.testing.assert_allclose(out[0], np.exp(xs[0]) + xs[0] ** 3, rtol=1e-14)
    third = compile_loop([LoopArray("rows", reads=(x,)), LoopArray("rows", writes=(se.cos(x),))])
    del second
    gc.collect()
    third([xs, out])
    np.testing.assert_allclose(out[0], np.cos(xs[0]), rtol=1e-14)


def test_available_is_true_when_llvmlite_imports():
    pytest.importorskip("llvmlite")
    assert llvm_loop.available() is True


SX, SY = sympy.symbols("x y")
terms = st.lists(st.tuples(st.integers(-5, 5), st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=5)
points = st.integers(1, 3).flatmap(
    lambda tiles: hnp.arrays(
        np.float64, (2, tiles * LANES), elements=st.floats(-2, 2, allow_nan=False, allow_infinity=False)
    )
)


@settings(max_examples=25)
@given(terms, points)
def test_random_polynomials_match_sympy_lambdify(polynomial_terms, coordinates):
    polynomial = sympy.Add(*(c * SX**i * SY**j for c, i, j in polynomial_terms))
    xs, ys = coordinates
    (values,) = evaluate([se.sympify(polynomial)], xs, ys)
    reference = np.broadcast_to(sympy.lambdify((SX, SY), polynomial, "numpy")(xs, ys), xs.shape)
    scale = sum(abs(c) * np.abs(xs) ** i * np.abs(ys) ** j for c, i, j in polynomial_terms)
    np.testing.assert_allclose(values, reference, rtol=1e-12, atol=1e-12 * scale.max())


@pytest.mark.parametrize("width", [1, 3, 4, 5, 9])
def test_the_points_layout_equals_the_rows_layout_bit_for_bit(width):
    symbols = se.symbols(f"c0:{width}")
    outputs = tuple(se.sin(s) * symbols[0] + s**2 / 3 for s in symbols) + (sum(symbols, se.Integer(0)),)
    rng = np.random.default_rng(width)
    rows = rng.normal(size=(width, 3 * LANES))
    by_rows = np.empty((len(outputs), 3 * LANES))
    compile_loop([LoopArray("rows", reads=symbols), LoopArray("rows", writes=outputs)])([rows, by_rows])
    by_points = np.empty((3 * LANES, len(outputs)))
    points_loop = compile_loop([LoopArray("points", reads=symbols), LoopArray("points", writes=outputs)])
    points_loop([np.ascontiguousarray(rows.T), by_points])
    assert np.array_equal(by_points, by_rows.T)


def test_an_integer_array_cannot_take_the_points_layout():
    with pytest.raises(ValueError, match="tiles or rows"):
        LoopArray("points", writes=(x,), integers=True)


def test_kernels_of_equal_expressions_in_other_names_share_one_loop():
    from taylorlr.compile.simd_codegen import build_kernel

    a, b = se.symbols("a b")
    first, second = build_kernel([x * y + se.sin(x)], [(x, y)]), build_kernel([a * b + se.sin(a)], [(a, b)])
    assert first is second
    assert build_kernel([x * y + se.cos(x)], [(x, y)]) is not first


def bit_nodes_loop():
    x, k = se.symbols("x k")
    return compile_loop(
        [
            LoopArray("rows", reads=(x, k)),
            LoopArray("rows", writes=(llvm_loop.binary_exponent(x), llvm_loop.power_of_two(k))),
        ]
    )


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=LANES, max_size=LANES),
    st.lists(st.integers(-1100, 1100) | st.sampled_from([math.nan]), min_size=LANES, max_size=LANES),
)
def test_the_bit_nodes_are_the_exponent_and_the_power_of_two_that_math_gives(xs, ks):
    # against Python's math: frexp's exponent (x = m 2^e, 1/2 <= |m| < 1) less 1, -1023 for 0 and the
    # subnormals, 1024 for inf and NaN; ldexp(1, k) within [-1022, 1023], 0 below, inf above, NaN for NaN
    out = np.empty((2, LANES))
    bit_nodes_loop()([np.array([xs, ks], dtype=float), out])
    for x, k, exponent, power in zip(xs, ks, *out, strict=True):
        if not math.isfinite(x):
            assert exponent == 1024
        elif abs(x) < 2.0**-1022:
            assert exponent == -1023
        else:
            assert exponent == math.frexp(x)[1] - 1
        if math.isnan(k):
            assert math.isnan(power)
        else:
            assert power == (0.0 if k < -1022 else math.inf if k > 1023 else math.ldexp(1.0, int(k)))
