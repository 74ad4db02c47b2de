"""Issue 15: whatever the parser accepts ends in a value or a TaylorLRError, never another exception.

A hypothesis generator writes expression TEXT from the function catalogue's spellings, numbers
(huge and tiny decimals, big integers, zero, negatives), powers, min/max and abs; every text the
parser accepts goes through Loss(), the gradient, the Hessian, compile(), an evaluation, a Newton
step at a random point, a short run and the Taylor polynomial there. Sizes are bounded (few
leaves, few steps) so no example can hang. The hand list of the issue follows, each input with
the outcome decided for it.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import taylorlr as tl
from taylorlr.errors import LossDefinitionError, ParseError, PointError, TaylorLRError
from taylorlr.symbolic.functions import SPELLINGS
from taylorlr.symbolic.parse import SymPyNameWarning

# --------------------------------------------------------------------------
# The property: generated text through every stage
# --------------------------------------------------------------------------

_NUMBERS = (
    "0", "0.0", "1", "2", "-2", "0.5", "3.25", "1e-3", "1e300", "1e-300", "1e400", "1e-320",
    "1.7976931348623157e+308", "2.2e-308", "123456789012345678901234567890", "2**9999", "2**-1100",
    "exp(1000)", "exp(-800)", "pi", "E",
)  # fmt: skip
_VARIABLES = ("x", "y")


def _call(name: str, arguments: list[str]) -> str:
    return f"{name}({', '.join(arguments)})"


@st.composite
def _texts(draw: st.DrawFn, depth: int = 3) -> str:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.one_of(st.sampled_from(_VARIABLES), st.sampled_from(_NUMBERS)))
    kind = draw(st.sampled_from(("call", "call", "binary", "binary", "power", "lattice")))
    if kind == "call":
        name = draw(st.sampled_from(sorted(SPELLINGS)))
        fewest = SPELLINGS[name].arity[0]
        return _call(name, [draw(_texts(depth - 1)) for _ in range(fewest)])
    if kind == "lattice":
        name = draw(st.sampled_from(("min", "max", "abs")))
        count = 1 if name == "abs" else draw(st.integers(2, 3))
        return _call(name, [draw(_texts(depth - 1)) for _ in range(count)])
    left, right = draw(_texts(depth - 1)), draw(_texts(depth - 1))
    if kind == "power":
        right = draw(st.sampled_from(("2", "3", "-1", "0.5", "x", "y", right)))
        return f"({left})**({right})"
    return f"({left}) {draw(st.sampled_from('+-*/'))} ({right})"


def _stages(loss: tl.Loss, point: list[float]) -> list:
    compiled = lambda: loss.compile()  # noqa: E731 - one stage each, in order
    W = np.asarray(point)
    return [
        lambda: loss.gradient,
        lambda: loss.hessian,
        compiled,
        lambda: compiled().value(W),
        lambda: compiled().grad(W),
        lambda: compiled().hess(W),
        lambda: tl.newton_step(loss, point, throw=False),
        lambda: tl.run(loss, point, steps=3),
        lambda: loss.taylor(point, 2),
    ]


def _outcome(text: str, point: list[float]) -> str:
    """'refused' (a ParseError), 'typed' (a TaylorLRError at some stage) or 'value'; anything else raises.

    Each stage runs even when an earlier one raised a typed error (compiling needs no gradient).
    """
    try:
        loss = tl.Loss(text)
    except ParseError:
        return "refused"
    except TaylorLRError:
        return "typed"
    outcome = "value"
    for stage in _stages(loss, point[: loss.n] + [0.5] * (loss.n - len(point))):
        try:
            stage()
        except TaylorLRError:
            outcome = "typed"
    return outcome


@settings(max_examples=150)
@given(_texts(), st.lists(st.floats(-3, 3, allow_nan=False), min_size=2, max_size=2))
def test_every_accepted_text_ends_in_a_value_or_a_typed_error(text: str, point: list[float]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert _outcome(text, point) in ("refused", "typed", "value"), text


# --------------------------------------------------------------------------
# The hand list: one decided outcome each
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("1e400*x**2", r"constant 1\.00E\+400 .*does not fit in float64 \(max 1\.8e308\)"),
        ("2**9999*x", r"an integer of 3010 digits\) does not fit in float64"),
        ("exp(1000)*x", r"the constant exp\(1000\) does not fit in float64"),
        ("1e-320*x", r"1\.00E-320 is below float64's smallest normal number"),
        ("x**2 - 1e-310*x**3", r"-1\.00E-310 is below float64's smallest normal number"),
        ("0.0**x + x", r"0\*\*x is 0 only where its exponent is positive"),
        ("(-2)**x", r"a negative number to a non-integer power is not real"),
    ],
)
def test_a_constant_float64_cannot_hold_or_a_complex_power_is_refused_at_loss(text: str, match: str) -> None:
    with pytest.raises(LossDefinitionError, match=match):
        tl.Loss(text)


def test_constants_at_float64_s_edges_are_kept() -> None:
    loss = tl.Loss("1e308*x**2 + 2.3e-308*x")
    assert loss.compile().value(np.array([1.0])) == pytest.approx(1e308)


@pytest.mark.parametrize("text", ["erfc(1e300)*x", "erfc(1.7976931348623157e+308)*x"])
def test_erfc_of_a_huge_number_is_a_parse_error_whatever_the_hash_seed(text: str) -> None:
    child = (
        "import sys, taylorlr as tl\n"
        "try:\n    tl.Loss(sys.argv[1])\nexcept tl.TaylorLRError as e:\n    print(type(e).__name__)\n"
    )
    outcomes = set()
    for seed in ("1", "4"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", child, text], capture_output=True, text=True, timeout=60, env=env
        )
        assert done.returncode == 0, done.stderr
        outcomes.add(done.stdout.strip())
    assert outcomes == {"ParseError"}


def test_several_sympy_names_are_named_in_one_warning() -> None:
    with pytest.warns(SymPyNameWarning, match="'I', 'nan', 'oo' are read as real variables") as record:
        tl.parse("I*oo + nan + x")
    assert len(record) == 1


def test_acot_is_computed() -> None:
    compiled = tl.Loss("acot(x)").compile()
    assert compiled.value(np.array([2.0])) == pytest.approx(math.atan(0.5), rel=1e-15)
    assert compiled.grad(np.array([2.0]))[0] == pytest.approx(-1 / 5, rel=1e-15)


def test_abs_of_min_with_a_variable_power_is_differentiated_as_real() -> None:
    # at (x, y) = (0.5, 2): min(-x, y**x) = -x, so the loss is x near there: gradient (1, 0), Hessian 0
    loss = tl.Loss("abs(min(-x, y**x))")
    compiled = loss.compile()
    W = np.array([0.5, 2.0])
    assert compiled.value(W) == pytest.approx(0.5)
    assert compiled.grad(W).tolist() == [1.0, 0.0]
    assert compiled.hess(W).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    with pytest.raises(TaylorLRError):  # H = 0: singular, a typed error for a single point
        tl.newton_step(loss, [0.5, 2.0])
    assert tl.run(loss, [0.5, 2.0], steps=3).points.shape == (4, 2)


def test_taylor_of_abs_at_a_smooth_point_is_the_polynomial() -> None:
    x = sympy.Symbol("x", real=True)
    # (2y)**y at 1/2: f = 1, f' = f (log(2y) + 1) = 1, f'' = f (log(2y) + 1)**2 + f/y = 3
    y0 = sympy.Symbol("y", real=True)
    expected = 1 + (y0 - sympy.S.Half) + sympy.Rational(3, 2) * (y0 - sympy.S.Half) ** 2
    assert tl.Loss("(2*y)**y").taylor({"y": 0.5}, 2) == sympy.expand(expected)
    assert tl.Loss("abs(x)").taylor({"x": 1}, 2) == x
    assert tl.Loss("abs(x)").taylor({"x": -2}, 3) == -x
    y = sympy.Symbol("y", real=True)
    # |x - y| + max(x, y)**2 near (1, 3): y - x + y**2
    assert tl.Loss("abs(x - y) + max(x, y)**2").taylor({"x": 1, "y": 3}, 2) == y**2 + y - x


@pytest.mark.parametrize(
    ("text", "at", "match"),
    [
        ("sqrt(x)", {"x": 0}, r"sqrt\(x\) is not differentiable at \{'x': 0\}: its order-1 term is nan"),
        ("1/x", {"x": 0}, r"1/x is not defined \(finite and real\) at \{'x': 0\}"),
        ("log(x)", {"x": -1}, r"log\(x\) is not defined \(finite and real\) at \{'x': -1\}"),
        ("abs(x)", {"x": 0}, r"Abs\(x\) has a kink at \{'x': 0\} \(Abs of 0 there\)"),
        ("max(x, y)", {"x": 1, "y": 1}, r"has a kink at \{'x': 1, 'y': 1\} \(Max of 1, 1 there\)"),
        ("min(x, erf(acosh(x)))", {"x": -0.5}, r"is not defined \(real\) at \{'x': -1/2\}"),
        ("(2*y)**y", {"y": 0.1234}, r"exponent of \(2\*y\)\*\*y is 617/5000, .* a root of degree 5000"),
    ],
)
def test_taylor_where_the_loss_is_not_differentiable_is_a_point_error(text: str, at: dict, match: str):
    with pytest.raises(PointError, match=match):
        tl.Loss(text).taylor(at, 2)


def test_re_and_im_of_a_plain_symbol_are_those_of_a_real_one() -> None:
    x = sympy.Symbol("x")
    loss = tl.Loss(sympy.re(x) + sympy.im(x) + x**2)
    assert loss.compile().value(np.array([2.0])) == 6.0


def test_plain_sympy_symbols_become_real_and_abs_compiles() -> None:
    x = sympy.Symbol("x")  # no real=True
    loss = tl.Loss(sympy.Abs(x - 1) + x**2)
    assert loss.variables[0].is_real is True and loss.names == ("x",)
    assert loss.compile().grad(np.array([3.0])).tolist() == [7.0]  # sign(2) + 2*3
    assert loss.compile().grad(np.array([-3.0])).tolist() == [-7.0]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda x: sympy.EulerGamma * x, "the constant EulerGamma is not supported"),
        (lambda x: sympy.Catalan * x**2, "the constant Catalan is not supported"),
        (lambda x: sympy.GoldenRatio + x, "the constant GoldenRatio is not supported"),
        (lambda x: sympy.Function("sin")(x), "unsupported 'sin' in the loss"),
        (lambda x: sympy.acosh(sympy.Rational(1, 2)) * x, "non-real constant"),
        (lambda x: sympy.log(-1, evaluate=False) * x, r"the constant log\(-1\) is not a real number"),
        (lambda x: sympy.Float("1e400") * x, r"the constant 1\.00e\+400 does not fit in float64"),
        (lambda x: sympy.Piecewise((x, x > 0), (x**2, True)), "unsupported 'Piecewise'"),
    ],
)
def test_sympy_constants_and_impostor_functions_are_refused_at_loss(make, match: str) -> None:
    with pytest.raises(LossDefinitionError, match=match):
        tl.Loss(make(sympy.Symbol("x", real=True)))


@pytest.mark.parametrize(
    "make",
    [
        lambda x: sympy.exp(sympy.exp(sympy.exp(100))) * x,  # evaluating it would not finish
        lambda x: sympy.Integer(2) ** (10**6) * x,  # more digits than Python prints
        lambda x: sympy.sin(sympy.Integer(10) ** (10**5)) * x,
        lambda x: sympy.Rational(1, 2 ** (10**5)) * x,
    ],
)
def test_a_sympy_constant_far_beyond_float64_is_refused_before_it_is_evaluated(make) -> None:
    with pytest.raises(
        LossDefinitionError, match=r"far beyond float64's range \(estimated beyond 2\*\*±10000\)"
    ):
        tl.Loss(make(sympy.Symbol("x", real=True)))


@pytest.mark.parametrize("name", ["Integral", "Symbol", "S", "I", "oo"])
def test_a_sympy_name_in_text_is_a_variable_with_a_warning(name: str) -> None:
    with pytest.warns(SymPyNameWarning, match=f"'{name}' is read as a real variable, not as SymPy's"):
        loss = tl.Loss(f"x + {name}**2")
    assert name in loss.names
    W = np.array([2.0 if n == name else 1.0 for n in loss.names])  # x = 1, the name = 2
    assert loss.compile().value(W) == 5.0


def test_a_ten_thousand_term_sum_compiles_without_recursion() -> None:
    # the 'xp' generator used to print it on one line: RecursionError in Python's compiler
    xs = sympy.symbols("x0:10000", real=True)
    loss = tl.Loss(sympy.Add(*[(i + 1) * v**2 for i, v in enumerate(xs)]))
    compiled = loss.compile(generator="xp")
    assert compiled.value(np.ones(10_000)) == 10_000 * 10_001 / 2
    assert compiled.grad(np.ones(10_000))[[0, 1, 9_999]].tolist() == [2.0, 4.0, 20_000.0]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"divergence": float("nan")}, "divergence must be a finite number > 0, got nan"),
        ({"divergence": float("inf")}, "divergence must be a finite number > 0, got inf"),
        ({"divergence": 0.0}, "divergence must be a finite number > 0"),
        ({"tol": float("inf")}, "tol must be a finite number >= 0, got inf"),
        ({"tol": float("nan")}, "tol must be a finite number >= 0, got nan"),
    ],
)
def test_run_options_that_are_not_finite_are_refused(options: dict, match: str) -> None:
    with pytest.raises(tl.OptionError, match=match):
        tl.run(tl.Loss("x**2"), [1.0], steps=2, **options)
