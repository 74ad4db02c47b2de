"""SymEngine's derivatives through ``abs`` and ``sign``, completed as the compiled functions take them.

SymEngine differentiates everything around a kink but leaves the kink itself pending:
``Derivative(abs(u), x)`` for ``abs`` and ``Subs(Derivative(sign(xi), xi), xi, u)`` for ``sign``.
(``Derivative(sign(x), x)`` when ``u`` is a variable).
For a real ``u`` (every loss's variables are real, and SymPy's own route proves or assumes the
arguments of kinks real, :class:`~taylorlr.symbolic.derivatives.RealPart`) SymPy's derivatives
are ``d abs(u)/dx = sign(u) du/dx`` and ``d sign(u)/dx = 2 DiracDelta(u) du/dx``. The compiled
functions drop point masses (``taylorlr.compile._kinks.without_point_masses``: 0 wherever
``u != 0``, left out at ``u = 0``), so for them the second is 0. This module writes both in:
the result is, term by term, what SymPy's derivative is once its point masses are dropped
(``sign(0) = 0`` at the kink, the convention of docs/analysis.md, "Kinks in compiled functions"),
in about a thousandth of SymPy's time on sums of many kinked terms (the Gulf research problem:
3 ms against 18-23 s).

Only ``abs`` and ``sign`` are completed here; ``max``, ``min`` and ``heaviside`` stay with SymPy.

>>> import symengine
>>> x, y = symengine.symbols("x y")
>>> diff_through_kinks(abs(x**2 - y) + x*symengine.sign(y - x), x)
-2*x*sign(y - x**2) + sign(-x + y)
"""

from __future__ import annotations

from typing import Any

import sympy

from taylorlr import _budget


class PendingDerivative(Exception):
    """SymEngine left a derivative pending that is not one of ``abs`` or ``sign``."""


#: the kinks whose derivatives are completed here (every other one stays with SymPy)
COMPLETED_KINKS = (sympy.Abs, sympy.sign)


def completes(expr: sympy.Expr, kinks: tuple[type, ...]) -> bool:
    """Whether every kink of ``expr`` (of the types ``kinks``) is an ``abs`` or a ``sign``.

    >>> x = sympy.Symbol("x", real=True)
    >>> completes(sympy.Abs(x) + sympy.sign(x), (sympy.Abs, sympy.Max))
    True
    >>> completes(sympy.Max(x, 1), (sympy.Max,))
    False
    """
    other = tuple(kind for kind in kinks if kind not in COMPLETED_KINKS)
    return not other or not expr.has(*other)


def diff_through_kinks(expr: Any, symbol: Any) -> Any:
    """d expr / d symbol in SymEngine, with the pending derivatives of ``abs`` and ``sign`` written in.

    Raises:
        PendingDerivative: another derivative stays pending (the caller differentiates with SymPy).
    """
    import symengine

    return _completed(symengine, symengine.diff(expr, symbol))


def _completed(se: Any, derivative: Any) -> Any:
    pending = derivative.atoms(se.Derivative, se.Subs)  # one walk of the expression
    if not pending:
        return derivative
    _budget.check()  # one level of a nest of kinks at a time (SymEngine's own steps are milliseconds)
    replacements = {node: _written_in(se, node) for node in pending}
    return derivative.xreplace(replacements)  # a Subs is replaced whole, with what it holds


def _written_in(se: Any, node: Any) -> Any:
    """A pending derivative of ``abs`` or ``sign`` written in (see the module's docstring)."""
    if isinstance(node, se.Subs):
        inner = node.args[0]
        if isinstance(inner, se.Derivative) and isinstance(inner.expr, se.sign):
            return se.Integer(0)  # 2 DiracDelta(u) du/dx: a point mass, dropped
    elif isinstance(node.expr, se.sign):  # sign(x)'s own (or inside the Subs above): a point mass
        return se.Integer(0)
    elif isinstance(node.expr, se.Abs) and len(node.variables) == 1:
        (u,) = node.expr.args
        return se.sign(u) * _completed(se, se.diff(u, node.variables[0]))
    raise PendingDerivative(str(node))
