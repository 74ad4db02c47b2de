"""Rendering of symbolic results: plain text, JSON-ready data and LaTeX.

One place decides how an expression, a vector or a matrix is shown, so the
CLI's text, ``--json`` and ``--latex`` outputs agree with each other.

>>> import taylorlr as tl
>>> data = symbolic_summary(tl.Loss("x**2 + 3*x*y**2"))
>>> data["gradient"], data["hessian"]
(['2*x + 3*y**2', '6*x*y'], [['2', '6*y'], ['6*y', '6*x']])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sympy

if TYPE_CHECKING:
    from .loss import Loss


def exact_number(value: sympy.Expr) -> dict[str, Any]:
    """A number as JSON: its float value and, when exact, its exact text."""
    number = sympy.sympify(value)
    return {"value": float(sympy.N(number, 17)), "exact": str(number)}


def symbolic_summary(loss: Loss) -> dict[str, Any]:
    """The loss, its variables, gradient and Hessian as JSON-ready strings."""
    return {
        "expression": str(loss.expr),
        "variables": list(loss.names),
        "data": list(loss.names_of(loss.data)),
        "gradient": [str(g) for g in loss.gradient],
        "hessian": [[str(loss.hessian[i, j]) for j in range(loss.n)] for i in range(loss.n)],
    }


def symbolic_latex(loss: Loss) -> dict[str, str]:
    """LaTeX of f, its gradient (column vector) and Hessian."""
    return {
        "expression": sympy.latex(loss.expr),
        "gradient": sympy.latex(loss.gradient),
        "hessian": sympy.latex(loss.hessian),
    }


def matrix_lines(rows: list[list[str]], indent: str = "  ") -> list[str]:
    """A matrix of strings as aligned bracketed rows.

    >>> print("\\n".join(matrix_lines([["2", "6*y"], ["6*y", "6*x"]])))
      [  2  6*y ]
      [ 6*y 6*x ]
    """
    widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))] if rows else []
    return [
        indent + "[ " + " ".join(cell.center(w) for cell, w in zip(row, widths, strict=True)) + " ]"
        for row in rows
    ]


def symbolic_text(loss: Loss) -> list[str]:
    """The loss, variables, gradient and Hessian as lines of plain text."""
    summary = symbolic_summary(loss)
    lines = [f"loss       f = {summary['expression']}", f"variables  {', '.join(summary['variables'])}"]
    if summary["data"]:
        lines.append(f"data       {', '.join(summary['data'])}")
    lines.append("gradient")
    lines += [
        f"  df/d{name} = {g}" for name, g in zip(summary["variables"], summary["gradient"], strict=True)
    ]
    lines.append("Hessian")
    lines += matrix_lines(summary["hessian"])
    return lines
