"""A point's coordinates in variable order, from a mapping of names, a sequence or a 1-D array.

Pure Python (no SymPy, no NumPy), shared by the exact side (:mod:`taylorlr.symbolic.points`) and
the array side (:func:`taylorlr.compile.backends.as_batch`).

>>> from types import SimpleNamespace as Var
>>> ordered_values({"y": 2, "x": 1}, (Var(name="x"), Var(name="y")))
[1, 2]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from taylorlr.errors import PointError


def variable_names(variables: Sequence[Any]) -> list[str]:
    return [v.name for v in variables]


def _listed(names: Sequence[str], limit: int = 10) -> str:
    """Names for a message, at most ``limit`` of them: a point may carry thousands.

    >>> _listed([f"x{i}" for i in range(10_000)], limit=2)
    "['x0', 'x1'] and 9,998 more"
    """
    shown = str(list(names[:limit]))
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit:,} more"


def ordered_values(at: Any, variables: Sequence[Any]) -> list[Any]:
    """The coordinates of a single point in variable order (not converted)."""
    names = variable_names(variables)
    if isinstance(at, Mapping):
        keys = [getattr(k, "name", None) or str(k) for k in at]
        unknown = sorted(set(keys) - set(names))
        missing = [n for n in names if n not in keys]
        if unknown or missing:
            raise PointError(
                f"point names {_listed(sorted(keys))} do not match the variables {_listed(names)}"
                + (f" (unknown: {_listed(unknown)})" if unknown else "")
                + (f" (missing: {_listed(missing)})" if missing else "")
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
