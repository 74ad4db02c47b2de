"""Deep expressions without recursion: their nesting depth, and their conversion from SymEngine to SymPy.

A composition nested n levels deep (``sin(sin(...sin(x)...))``, a tower ``x**x**...**x``)
has derivatives with O(n) distinct subexpressions but O(n^2) nodes as a tree, nested up to
3n levels. Both SymPy's differentiation (its chain rule walks the tree again at every level)
and SymEngine's own ``_sympy_`` conversion (one Python recursion per level, and SymPy's
``factor_terms`` inside) degrade on them or exhaust Python's stack. Here the depth is measured
over an explicit stack, and a SymEngine expression is rebuilt in SymPy node by node, each
distinct subexpression once, with the budget checked between nodes.

>>> import sympy
>>> x = sympy.Symbol("x")
>>> depth(sympy.sin(sympy.sin(x)) + 1)  # Add, sin, sin, x
4
>>> import symengine
>>> s = symengine.Symbol("x")
>>> to_sympy_iteratively(symengine.sin(symengine.exp(s)) * 2)
2*sin(exp(x))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sympy

from taylorlr import _budget

__all__ = ["depth", "distinct_nodes", "to_sympy_iteratively"]


def depth(expr: Any, limit: int | None = None) -> int:
    """The number of levels of ``expr`` (a SymPy or SymEngine expression; a leaf is 1).

    Each distinct subexpression is visited once, so a deep but shared tree costs its distinct
    nodes only; the active budget is checked every 1,024 of them. With ``limit``, the walk stops
    as soon as a path longer than ``limit`` is seen and returns that path's length (more than
    ``limit``).
    """
    levels: dict[Any, int] = {}
    stack: list[tuple[Any, int]] = [(expr, 1)]  # (node, the length of the path from the root to it)
    deepest = 0
    while stack:
        node, level = stack.pop()
        if levels.get(node, 0) >= level:
            continue
        levels[node] = level
        if len(levels) % 1024 == 0:
            _budget.check()
        deepest = max(deepest, level)
        if limit is not None and deepest > limit:
            return deepest
        stack.extend((arg, level + 1) for arg in node.args)
    return deepest


def distinct_nodes(expr: Any, limit: int) -> int:
    """The number of distinct subexpressions of ``expr``, counted up to ``limit`` (then ``limit + 1``)."""
    seen: set[Any] = set()
    stack = [expr]
    while stack and len(seen) <= limit:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(node.args)
    return len(seen)


def to_sympy_iteratively(expr: Any, leaf: Callable[[sympy.Basic], sympy.Expr] = lambda s: s) -> sympy.Expr:
    """A SymEngine expression rebuilt in SymPy node by node (``leaf`` maps each converted leaf).

    Sums and products are built unevaluated (SymEngine has already flattened and combined
    them; their arguments keep SymEngine's order, not SymPy's canonical one). Every other node
    is converted shallowly, its arguments stood in for by placeholder symbols, which are then
    replaced by the converted arguments (so SymPy evaluates it once, as ``sympify`` would).
    Raises :class:`~taylorlr.errors.BudgetExceededError` when the active budget runs out
    between nodes.
    """
    done: dict[Any, sympy.Expr] = {}
    stack: list[tuple[Any, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in done:
            continue
        if not node.args:
            done[node] = leaf(sympy.sympify(node))
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((arg, False) for arg in node.args if arg not in done)
            continue
        _budget.check()
        done[node] = _node(node, [done[arg] for arg in node.args])
    return done[expr]


def _node(node: Any, args: list[sympy.Expr]) -> sympy.Expr:
    import symengine

    if isinstance(node, (symengine.Add, symengine.Mul)):
        # already flat and combined by SymEngine: SymPy's canonical sort would compare deep
        # arguments pairwise (seconds for a Hessian 100 levels deep)
        return (sympy.Add if isinstance(node, symengine.Add) else sympy.Mul)(*args, evaluate=False)
    holders = [symengine.Symbol(f"_taylorlr_arg{i}") for i in range(len(args))]
    shallow = sympy.sympify(node.func(*holders))
    return shallow.xreplace({sympy.Symbol(h.name): arg for h, arg in zip(holders, args, strict=True)})
