"""One pass over an expression's distinct nodes, without recursion, under the active budget.

SymPy's own walks (``preorder_traversal``, ``free_symbols``, ``xreplace``, ``is_number``) recurse
once per level and some repeat below every node, so a loss built in SymPy with 10^5 terms, or
nested a few hundred levels deep, costs them minutes or exhausts Python's stack. Here each
distinct subexpression is visited once, over an explicit stack, and the active budget
(:mod:`taylorlr._budget`) is checked every :data:`CHECK_EVERY` nodes: every check that
:class:`~taylorlr.loss.Loss` makes is linear in the size of the expression.

>>> import sympy
>>> x, y = sympy.symbols("x y")
>>> e = 3*x**2 + sympy.exp(2)*y + sympy.pi
>>> sorted(map(str, constant_parts(e)))
['2', '3', 'exp(2)', 'pi']
>>> renamed = rebuilt(e, {x: sympy.Symbol("x", real=True)})
>>> renamed == e, [s.is_real for s in sorted(renamed.free_symbols, key=str)]
(False, [True, None])
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import sympy

from taylorlr import _budget

__all__ = ["CHECK_EVERY", "Survey", "constant_parts", "distinct", "rebuilt", "survey"]

#: the budget is checked once per this many nodes
CHECK_EVERY = 1024


def distinct(expr: sympy.Basic) -> Iterator[sympy.Basic]:
    """Each distinct subexpression of ``expr`` once, parents before their arguments."""
    seen: set[sympy.Basic] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if len(seen) % CHECK_EVERY == 0:
            _budget.check()
        yield node
        stack.extend(node.args)


def _postorder(expr: sympy.Basic) -> Iterator[sympy.Basic]:
    """The distinct subexpressions, every one after all of its arguments (the budget checked
    between them, so that the caller's work on each is inside the checks)."""
    done: set[sympy.Basic] = set()
    stack: list[tuple[sympy.Basic, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in done:
            continue
        if ready or not node.args:
            done.add(node)
            if len(done) % CHECK_EVERY == 0:
                _budget.check()
            yield node
            continue
        stack.append((node, True))
        stack.extend((arg, False) for arg in node.args if arg not in done)


def constant_parts(expr: sympy.Basic) -> list[sympy.Expr]:
    """The largest subexpressions without symbols (``exp(1000)`` in ``exp(1000)*x``), and every number
    (each distinct one once).

    A node is constant when it is a number or a named constant (pi, E), or when all its
    arguments are constant; computed bottom-up in one pass (SymPy's ``is_number`` walks the
    whole subtree again at every node).
    """
    constant: dict[sympy.Basic, bool] = {}
    for node in _postorder(expr):
        if node.args:
            constant[node] = isinstance(node, sympy.Expr) and all(constant[arg] for arg in node.args)
        else:
            constant[node] = isinstance(node, (sympy.Number, sympy.NumberSymbol))
    return _constant_parts(expr, constant)


@dataclass(frozen=True, kw_only=True)
class Survey:
    """What one pass over an expression's distinct nodes finds (:func:`survey`).

    Attributes:
        levels: the number of levels (a leaf is 1), as :func:`taylorlr.symbolic.depth.depth`.
        symbols: every distinct ``Symbol`` (Dummies included), in the order :func:`distinct` meets them.
        types: the type of every node.
        constants: :func:`constant_parts`, each once.
        powers: every power that its structure does not settle: its exponent has a symbol, or its
            base has none and its exponent is not an integer (``x**2`` and ``(x - y)**3`` are not listed).
    """

    levels: int
    symbols: tuple[sympy.Symbol, ...]
    types: frozenset[type]
    constants: tuple[sympy.Expr, ...]
    powers: tuple[sympy.Pow, ...]


def survey(expr: sympy.Basic) -> Survey:
    """One pass over the distinct nodes of ``expr``, each after its arguments: what
    :class:`~taylorlr.loss.Loss` checks (the five walks it made before cost 0.13 s of a
    1,000-variable Rosenbrock function's build, about 4x this one).

    >>> x, y = sympy.symbols("x y")
    >>> s = survey(x**2 + sympy.sin(2)**y)
    >>> s.levels, sorted(map(str, s.symbols)), sorted(map(str, s.constants)), [str(p) for p in s.powers]
    (4, ['x', 'y'], ['2', 'sin(2)'], ['sin(2)**y'])
    """
    # per node: (levels, constant); a constant node is a number or a named constant, or all its
    # arguments are constant (computed bottom-up: SymPy's is_number walks the subtree at every node)
    known: dict[sympy.Basic, tuple[int, bool]] = {}
    symbols: list[sympy.Symbol] = []
    types: set[type] = set()
    powers: list[sympy.Pow] = []
    stack: list[tuple[sympy.Basic, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in known:
            continue
        args = node.args
        if args and not ready:
            stack.append((node, True))
            stack.extend((arg, False) for arg in args if arg not in known)
            continue
        if len(known) % CHECK_EVERY == CHECK_EVERY - 1:
            _budget.check()
        kind = type(node)
        types.add(kind)
        if not args:
            known[node] = (1, isinstance(node, (sympy.Number, sympy.NumberSymbol)))
            if isinstance(node, sympy.Symbol):
                symbols.append(node)
            continue
        below = [known[arg] for arg in args]
        constant = isinstance(node, sympy.Expr) and all(b[1] for b in below)
        known[node] = (1 + max(b[0] for b in below), constant)
        if isinstance(node, sympy.Pow):
            (_, base_constant), (_, exponent_constant) = below
            if not exponent_constant or (base_constant and not isinstance(args[1], sympy.Integer)):
                powers.append(node)  # type: ignore[arg-type]
    return Survey(
        levels=known[expr][0],
        symbols=tuple(symbols),
        types=frozenset(types),
        constants=tuple(_constant_parts(expr, {node: c for node, (_, c) in known.items()})),
        powers=tuple(powers),
    )


def _constant_parts(expr: sympy.Basic, constant: Mapping[sympy.Basic, bool]) -> list[sympy.Expr]:
    """The largest subexpressions without symbols, and every number, from each node's constancy."""
    found = {expr} if constant[expr] else set()
    for node, is_constant in constant.items():
        if isinstance(node, sympy.Number):
            found.add(node)
        elif not is_constant:
            found.update(arg for arg in node.args if constant[arg] and isinstance(arg, sympy.Expr))
    return list(found)


def rebuilt(expr: sympy.Expr, leaves: Mapping[sympy.Basic, sympy.Expr]) -> sympy.Expr:
    """``expr`` with the given leaves (symbols) replaced, rebuilt bottom-up without recursion.

    Every node but sums and products is built by SymPy again, so that what the new symbols'
    assumptions simplify is simplified (``Abs(x)**2`` of a real x is ``x**2``). A sum or product
    whose arguments only had symbols renamed keeps them as they are, flat and in order (SymPy's
    re-evaluation of 10^5 products costs a minute); one with a simplified argument is built by
    SymPy again too (its terms may now combine).
    """
    new: dict[sympy.Basic, sympy.Basic] = {}
    renamed_only: dict[sympy.Basic, bool] = {}  # the new node is the old one with leaves renamed
    for node in _postorder(expr):
        if not node.args:
            new[node], renamed_only[node] = leaves.get(node, node), True
            continue
        args = [new[arg] for arg in node.args]
        plain = all(renamed_only[arg] for arg in node.args)
        if all(a is b for a, b in zip(args, node.args, strict=True)):
            built = node
        elif plain and isinstance(node, (sympy.Add, sympy.Mul)):
            built = node.func._from_args(args)
        elif plain and isinstance(node, sympy.Pow) and args[0].is_Symbol and args[1].is_Integer:
            built = sympy.Pow(*args, evaluate=False)  # x**n: nothing to simplify
        else:
            built = node.func(*args)
            plain = plain and built.func is node.func and built.args == tuple(args)
        new[node], renamed_only[node] = built, plain
    return new[expr]  # type: ignore[return-value]
