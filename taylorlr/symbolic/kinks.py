"""Whether a point lies on a kink of f: where an ``abs``, ``sign``, ``max`` or ``min`` switches.

There the compiled derivatives (and SymPy's) follow a convention, ``sign(0) = 0`` and
``Heaviside(0) = 1/2`` (docs/analysis.md, "Kinks in compiled functions"), which need not give f's
derivatives: a Newton step from such a point is built on that convention. This
module decides, in exact arithmetic, whether a point is on a switch, so that a report can say so.
A switch is ``u = 0`` for ``abs(u)``, ``sign(u)`` and ``Heaviside(u)``, and a tie of two or more
arguments at the top of a ``max`` (the bottom of a ``min``). Only what SymPy proves counts: a point
is said to be on a kink when it is, never the other way round (an undecided switch counts as off).

>>> import sympy
>>> x, y = sympy.symbols("x y", real=True)
>>> f = sympy.Max(1, x**3) + sympy.Abs(y)
>>> switches_at(f, {x: 1, y: 2}), switches_at(f, {x: 2, y: 0}), switches_at(f, {x: 2, y: 1})
(('max(1, x**3)',), ('abs(y)',), ())
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sympy

#: the functions whose argument(s) switch at a kink
_ZERO_AT_SWITCH = (sympy.Abs, sympy.sign, sympy.Heaviside)
_LATTICE = (sympy.Max, sympy.Min)


@dataclass(frozen=True)
class Switch:
    """One kink of f: its printed name, and the arguments whose values decide whether it switches."""

    name: str
    node: Any

    @property
    def arguments(self) -> tuple[Any, ...]:
        return tuple(self.node.args[:1] if isinstance(self.node, _ZERO_AT_SWITCH) else self.node.args)

    def switched(self, values: Sequence[Any]) -> bool:
        """Whether it switches where its arguments take ``values`` (all exact, or all floats); never
        where a value is not a real number (outside f's domain)."""
        if not _floats(values) and not all(sympy.sympify(v).is_extended_real for v in values):
            return False
        if isinstance(self.node, _ZERO_AT_SWITCH):
            return _same(values[0], 0)
        pick = max if isinstance(self.node, sympy.Max) else min
        extreme = pick(values) if _floats(values) else (sympy.Max if pick is max else sympy.Min)(*values)
        return sum(1 for v in values if _same(v, extreme)) >= 2


def switches(expr: sympy.Expr) -> tuple[Switch, ...]:
    """Every abs, sign, heaviside, max and min of ``expr``, in a fixed order."""
    nodes = sorted(expr.atoms(*_ZERO_AT_SWITCH, *_LATTICE), key=sympy.default_sort_key)
    return tuple(Switch(_name(node), node) for node in nodes)


def switches_at(expr: sympy.Expr, point: Mapping[sympy.Symbol, Any]) -> tuple[str, ...]:
    """The kinks of ``expr`` that switch at ``point`` (exact values), as printed names; () for none."""
    point = {symbol: sympy.sympify(value) for symbol, value in point.items()}
    found = []
    for switch in switches(expr):
        if switch.switched([sympy.sympify(a).xreplace(point) for a in switch.arguments]):
            found.append(switch.name)
    return tuple(found)


def _floats(values: Sequence[Any]) -> bool:
    return all(isinstance(v, float) for v in values)


def _same(a: Any, b: Any) -> bool:
    """Equal: as floats where both are floats, else proved equal by SymPy (undecided: not equal)."""
    if isinstance(a, float) and isinstance(b, (float, int)):
        return a == b
    return (sympy.sympify(a) - sympy.sympify(b)).is_zero is True


def _name(node: sympy.Expr) -> str:
    """As the parser reads it: abs(x), sign(x), heaviside(x), max(0, x)."""
    arguments = _ordered(node) if isinstance(node, _LATTICE) else node.args
    return f"{type(node).__name__.lower()}({', '.join(str(a) for a in arguments)})"


def _ordered(node: sympy.Expr) -> list[Any]:
    """A lattice's arguments, numbers first (as they are usually written: max(0, x))."""
    return sorted(node.args, key=lambda a: (not a.is_Number, sympy.default_sort_key(a)))
