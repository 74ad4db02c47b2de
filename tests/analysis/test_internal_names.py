"""No internal symbol is reachable from user input: variables named like any of them change nothing."""

from __future__ import annotations

import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import taylorlr as tl

#: names the analysis used (or might use) for its own symbols, and other tempting ones
INTERNAL = (
    "t_",
    "s_",
    "lambda_",
    "a_0",
    "a_1",
    "t",
    "s",
    "u",
    "w",
    "alpha",
    "v0",
    "v_x",
    "u_x",
    "lambda",
    "z0",
)
#: one loss per path of the exact solver: degenerate saddle on a curve (t, a_0), a grid that needs a
#: separating form (s_), a degenerate minimum (the reduced function), the monkey saddle (two null
#: directions and a binary form), and a point that is not rational (closed forms in t_)
TEMPLATES = (
    lambda x, y: x**2 + 3 * x * y**2,
    lambda x, y: (x**2 - 1) ** 2 + (y**2 - 1) ** 2,
    lambda x, y: x**2 + y**4 - x * y**2,
    lambda x, y: x**3 - 3 * x * y**2,
    lambda x, y: x**4 / 4 - x**2 + (y - x) ** 2,
)
_REFERENCE: dict[int, list[tuple]] = {}


def summary(result) -> list[tuple]:
    return [(p.point, str(p.kind), p.eigenvalues, p.degenerate) for p in result] + [
        (str(result.status), str(result.bounded_below.verdict))
    ]


def reference(index: int) -> list[tuple]:
    if index not in _REFERENCE:
        p, q = sympy.symbols("p q", real=True)
        _REFERENCE[index] = summary(tl.Loss(TEMPLATES[index](p, q), variables=(p, q)).critical_points())
    return _REFERENCE[index]


@settings(deadline=None, derandomize=True, max_examples=30)
@given(
    st.integers(0, len(TEMPLATES) - 1),
    st.lists(st.sampled_from(INTERNAL), min_size=2, max_size=2, unique=True),
)
def test_variables_named_like_internal_symbols_give_the_same_critical_points(index, names):
    x, y = (sympy.Symbol(name, real=True) for name in names)
    result = tl.Loss(TEMPLATES[index](x, y), variables=(x, y)).critical_points()
    assert summary(result) == reference(index)
    for p in result:  # the reasons name the curve parameter with a letter that is not a variable
        assert "_t" not in p.reason and "Dummy" not in p.reason


def test_a_variable_named_t_does_not_take_the_curve_parameters_name():
    t, y = sympy.symbols("t y", real=True)
    (point,) = tl.Loss(t**2 + 3 * t * y**2, variables=(t, y)).critical_points()
    assert point.kind == "saddle"
    assert "along the curve t = -3*t'**2/2, y = t': f - f(p) = -9*t'**4/4 + O(t'^5)" in point.reason
