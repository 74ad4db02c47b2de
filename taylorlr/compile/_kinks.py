"""The derivatives of kinks, made safe to compile: point masses dropped, steps kept out of SymPy.

Differentiating ``abs``, ``sign``, ``max`` and ``min`` gives SymPy's ``Heaviside`` and
``DiracDelta``. Two things go wrong if they are compiled as they are:

* ``DiracDelta(u)`` is 0 wherever ``u != 0``, so a product with a ``DiracDelta`` factor is 0
  there whatever its other factors are; evaluated factor by factor it is not: the Hessian of
  ``max(1, x**943)`` holds ``889249*x**1884*DiracDelta(x**943 - 1)``, and at x = 2 the factor
  ``x**1884`` overflows and ``0 * inf`` is NaN, where the true Hessian is finite (about 1.65e289).
  :func:`without_point_masses` drops those terms before either generator sees them. At the
  kink itself (``u = 0``) the point mass has no finite value: the compiled functions leave it
  out there too and give finite numbers by a fixed rule, ``Heaviside(0) = 1/2`` and
  ``sign(0) = 0`` (for one ``max``, ``min`` or ``abs``, the mean of the two one-sided
  derivatives), never NaN for it (docs/analysis.md, "Kinks in compiled functions").
* ``Heaviside`` is a SymPy class that SymEngine does not know: it holds it as a ``PyFunction``
  and rebuilds it through SymPy whenever its argument changes (when the SIMD generator renames
  the variables or shares subexpressions). SymPy then checks the new argument is real, and for
  ``a**943 - 1`` with a symbol of no assumptions it expands ``(re + i*im)**943``: minutes.
  :func:`engine_form` hands the SIMD generator a SymEngine function symbol of the same name,
  which SymEngine rebuilds itself, and never calls SymPy again.

>>> import sympy
>>> x = sympy.Symbol("x", real=True)
>>> hessian = sympy.diff(sympy.Max(1, x**3), x, 2)
>>> without_point_masses(hessian)
6*x*Heaviside(x**3 - 1)
>>> engine_form(without_point_masses(hessian)).args[-1].get_name()
'Heaviside'
"""

from __future__ import annotations

from typing import Any

import sympy

#: the step, as a function SymEngine keeps by name (what the SIMD generator lowers as Heaviside)
_STEP = sympy.Function("Heaviside")


def without_point_masses(expr: Any) -> Any:
    """``expr`` with every ``DiracDelta`` replaced by 0 (its products vanish; a SymPy expression).

    Anything else (a SymEngine expression: SymEngine drops ``DiracDelta`` itself) is returned as is.
    """
    if not isinstance(expr, sympy.Basic):
        return expr
    masses = expr.atoms(sympy.DiracDelta)
    return expr.xreplace(dict.fromkeys(masses, sympy.S.Zero)) if masses else expr


def engine_form(expr: Any) -> Any:
    """``expr`` in SymEngine, each ``Heaviside`` a SymEngine function symbol (no SymPy call left in it)."""
    import symengine

    if isinstance(expr, sympy.Basic):
        steps = expr.atoms(sympy.Heaviside)
        if steps:
            expr = expr.xreplace({step: _STEP(*step.args) for step in steps})
    return symengine.sympify(expr)
