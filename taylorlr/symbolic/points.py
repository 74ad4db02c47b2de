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
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import sympy

from taylorlr.errors import PointError


def _names(variables: Sequence[sympy.Symbol]) -> list[str]:
    return [v.name for v in variables]


def ordered_values(at: Any, variables: Sequence[sympy.Symbol]) -> list[Any]:
    """The coordinates of a single point in variable order (not converted)."""
    names = _names(variables)
    if isinstance(at, Mapping):
        keys = [k.name if isinstance(k, sympy.Symbol) else str(k) for k in at]
        unknown = sorted(set(keys) - set(names))
        missing = [n for n in names if n not in keys]
        if unknown or missing:
            raise PointError(
                f"point names {sorted(keys)} do not match the variables {names}"
                + (f" (unknown: {unknown})" if unknown else "")
                + (f" (missing: {missing})" if missing else "")
            )
        by_name = dict(zip(keys, at.values(), strict=True))
        return [by_name[n] for n in names]
    if isinstance(at, (str, bytes)):
        raise PointError(f"a point must be a mapping or a sequence of numbers, got the string {at!r}")
    values = list(at) if isinstance(at, Sequence) else _array_values(at)
    if len(values) != len(names):
        raise PointError(
            f"the point has {len(values)} coordinates but the loss has {len(names)} variables {names}"
        )
    return values


def _array_values(at: Any) -> list[Any]:
    shape = getattr(at, "shape", None)
    if shape is None:
        raise PointError(f"cannot read {type(at).__name__} as a point")
    if len(shape) != 1:
        raise PointError(f"expected a single point of shape (n,), got shape {tuple(shape)}")
    return [float(v) for v in at]


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


def as_batch(at: Any, variables: Sequence[sympy.Symbol], xp: Any, dtype: Any) -> Any:
    """A point or batch of points as an array of shape (..., n) in namespace ``xp``."""
    if isinstance(at, Mapping) or (isinstance(at, Sequence) and not _is_nested(at)):
        values = [
            float(exact_number(v)) if isinstance(v, (str, sympy.Expr)) else v
            for v in ordered_values(at, variables)
        ]
        return xp.asarray(values, dtype=dtype)
    try:
        array = xp.asarray(at, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise PointError(f"cannot read the points as a float array: {error}") from error
    n = len(variables)
    if array.ndim == 0 or array.shape[-1] != n:
        raise PointError(
            f"expected points of shape (..., {n}) for variables {_names(variables)}, got {tuple(array.shape)}"
        )
    return array


def _is_nested(values: Sequence[Any]) -> bool:
    return any(isinstance(v, (Sequence, Mapping)) and not isinstance(v, str) for v in values)
