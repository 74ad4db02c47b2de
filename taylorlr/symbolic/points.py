"""Points: names, sequences or arrays -> exact SymPy values or float batches.

A point ``at`` is a mapping of variable names to numbers, a sequence in
variable order, or an array of shape (..., n) for a batch of points.

>>> import sympy
>>> x, y = sympy.symbols("x y")
>>> exact_point({"y": "1/3", "x": 0.5}, (x, y))
(1/2, 1/3)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import sympy

from taylorlr._coordinates import ordered_values
from taylorlr.errors import PointError


def exact_number(value: Any) -> sympy.Expr:
    """A coordinate as an exact SymPy number (a float by its shortest decimal repr)."""
    if isinstance(value, sympy.Expr) and value.is_number:
        result = value
    elif isinstance(value, bool):
        raise PointError(f"a coordinate must be a number, got {value!r}")
    elif isinstance(value, int):
        result = sympy.Integer(value)
    elif isinstance(value, Fraction):
        result = sympy.Rational(value.numerator, value.denominator)
    elif isinstance(value, float) or hasattr(value, "dtype"):
        number = float(value)
        if not math.isfinite(number):
            raise PointError(f"a coordinate is not finite: {number}")
        result = sympy.Rational(repr(number))
    elif isinstance(value, str):
        from taylorlr.symbolic.parse import parse

        result = parse(value)
        if result.free_symbols:
            raise PointError(f"a coordinate must be a number, got the expression {value!r}")
    else:
        raise PointError(f"a coordinate must be a number, got {type(value).__name__} {value!r}")
    if result.is_real is False or result.has(sympy.zoo, sympy.oo, sympy.nan, -sympy.oo):
        raise PointError(f"a coordinate must be a finite real number, got {result}")
    return result


def exact_point(at: Any, variables: Sequence[sympy.Symbol]) -> tuple[sympy.Expr, ...]:
    """A single point as exact SymPy numbers, in variable order."""
    return tuple(exact_number(v) for v in ordered_values(at, variables))


def value_at(expr: Any, variables: Sequence[sympy.Symbol], point: Sequence[Any]) -> Any:
    """``expr`` (an expression or a matrix) at an exact point, or None where SymPy refuses a value:
    a kink's step of a number that is not real (``Heaviside(2*I - 1)``, from ``max(sqrt(x), y)`` at
    x = -4) is outside f's real domain.

    >>> x = sympy.Symbol("x", real=True)
    >>> step = sympy.Heaviside(sympy.sqrt(x) - 1)
    >>> value_at(step, [x], [4]), value_at(step, [x], [-4])
    (1, None)
    """
    try:
        return expr.xreplace(dict(zip(variables, point, strict=True)))
    except (ValueError, TypeError):
        return None
