"""An upper bound on a polynomial's total degree, read from its expression tree without expanding it."""

from __future__ import annotations

import time

import sympy

from taylorlr.errors import BudgetExceededError, LossDefinitionError


def degree_bound(
    expr: sympy.Expr, variables: frozenset[sympy.Symbol], *, deadline: float | None = None
) -> int:
    """An upper bound on the total degree of ``expr`` in ``variables``: sums take the largest,
    products add, non-negative integer powers multiply; symbols outside ``variables`` are constants.

    Iterative over an explicit stack (each shared subtree once), so no depth of nesting exhausts
    Python's stack; ``deadline`` (a ``time.monotonic()`` instant) bounds the walk.

    Raises:
        LossDefinitionError: ``expr`` is not a polynomial in ``variables``.
        BudgetExceededError: the walk passed ``deadline``.

    >>> x, y = sympy.symbols("x y")
    >>> degree_bound((x - y**2) ** 2 + 3 * x * y + 1, frozenset({x, y}))
    4
    """
    degrees: dict[sympy.Basic, int] = {}
    stack: list[tuple[sympy.Basic, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in degrees:
            continue
        if deadline is not None and time.monotonic() > deadline:
            raise BudgetExceededError(
                "the polynomial's degree was not found within its budget", stage="degree", option="budget_s"
            )
        if not ready and node.args and not isinstance(node, sympy.Symbol):
            stack.append((node, True))
            stack.extend((arg, False) for arg in node.args if arg not in degrees)
            continue
        degrees[node] = _node_degree(node, variables, degrees)
    return degrees[expr]


def _node_degree(
    node: sympy.Basic, variables: frozenset[sympy.Symbol], degrees: dict[sympy.Basic, int]
) -> int:
    """A node's degree bound from its arguments' (``degrees``)."""
    if node in variables:
        return 1
    if not any(degrees.get(a, 0) for a in node.args):
        return 0  # a constant, or any function of symbols outside ``variables``
    if isinstance(node, sympy.Add):
        return max(degrees[a] for a in node.args)
    if isinstance(node, sympy.Mul):
        return sum(degrees[a] for a in node.args)
    if isinstance(node, sympy.Pow) and node.exp.is_Integer and node.exp >= 0:
        return degrees[node.base] * int(node.exp)
    raise LossDefinitionError(f"{node} is not a polynomial in {sorted(map(str, variables))}")
