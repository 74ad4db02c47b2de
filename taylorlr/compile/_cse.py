"""Common subexpressions of a kernel's outputs, found within a bounded time.

SymEngine's ``cse`` is one C++ call that cannot be interrupted, and its cost grows about
quadratically with the size of what it is given when many sums share terms (a sum of 2,000
terms ``sin(k*x + y)/k``: 16,000 nodes, 0.73 s; 8,000 nodes, 0.23 s). So the outputs are
given to it in chunks of at most :data:`CSE_NODES` nodes, an output larger than a chunk is a
chunk of its own, one larger than :data:`ALONE_NODES` is left as it is (no subexpression is
shared with or inside it), and each call starts only when its estimate (:func:`cse_seconds`)
fits in what is left of the active budget (:mod:`taylorlr._budget`). A split changes no value
beyond rounding: CSE may regroup a sum around a shared part (``a + b`` taken out of
``a + b + c``), so a kernel split into chunks can differ from an unsplit one in the last bits;
either is the same for every point in every batch.

For a generator that translates each distinct node once (``nodes_once``), a group in which no two
sums (or products) share two arguments is left as it is (:func:`shares_arguments`): a repeated
subtree is computed once there anyway.

>>> import symengine as se
>>> x, y, z, w = se.symbols("x y z w")
>>> replacements, reduced = bounded_cse([2 * x * y * z, x * y * w], nodes_once=True)
>>> replacements, [str(e) for e in reduced]
([(x0, x*y)], ['2*z*x0', 'w*x0'])
>>> bounded_cse([se.sin(x + y) * 2, se.sin(x + y) + 1], nodes_once=True)
([], [2*sin(x + y), 1 + sin(x + y)])
>>> len(bounded_cse([se.sin(x + y) * 2, se.sin(x + y) + 1])[0])  # named once, for printed source
1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from taylorlr import _budget
from taylorlr.compile._estimate import Stopwatch

#: the most distinct expression nodes given to one ``cse`` call: about 0.03 s in the worst case
#: measured (sums sharing terms: 0.23 s at 8,000 nodes, 0.024 s at 2,400); smaller chunks also
#: build faster (the cost grows with the chunk) and lost little sharing where measured (n = 1000
#: Rosenbrock, xp: build 0.50 s at 40,000 nodes, 0.30 s at 2,500, the same time per call)
CSE_NODES = 3_000
#: an output larger than a chunk gets a ``cse`` call of its own up to this many nodes (about 1 s at
#: worst), and none above
ALONE_NODES = 20_000
#: a sum or product with more arguments than this is not paired up (its pairs grow as the square):
#: :func:`shares_arguments` says True, and ``cse`` runs
PAIRED_ARGUMENTS = 32
#: ``cse`` costs about the square of the nodes it is given: at most this many CPU seconds times
#: nodes**2 (the worst case measured, sums sharing terms: 0.73 s at 16,000 nodes, 0.23 s at 8,000,
#: is 2.9e-9 and 3.6e-9); a call starts only when its estimate fits in the budget
CSE_SECONDS_PER_SQUARED_NODE = 4e-9


def cse_seconds(nodes: int) -> float:
    """An upper estimate (CPU seconds, idle machine) of one ``cse`` call on ``nodes`` distinct nodes.

    >>> round(cse_seconds(CSE_NODES), 3), round(cse_seconds(ALONE_NODES), 1)
    (0.036, 1.6)
    """
    return CSE_SECONDS_PER_SQUARED_NODE * nodes**2


def node_count(expr: Any, cap: int, seen: set[Any] | None = None) -> int:
    """The distinct nodes of ``expr`` not already in ``seen`` (which it extends), stopping past ``cap``.

    >>> import symengine as se
    >>> x, y = se.symbols("x y")
    >>> node_count(se.sin(x) * y + 1, 100), node_count(se.sin(x) * y + 1, 2)
    (6, 3)
    >>> seen = set()
    >>> node_count(se.sin(x) * y, 100, seen), node_count(se.sin(x) + 1, 100, seen)
    (4, 2)
    """
    seen = set() if seen is None else seen
    count, stack = 0, [expr]
    while stack and count <= cap:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            count += 1
            stack.extend(node.args)
    return count


def shares_arguments(exprs: Sequence[Any]) -> bool:
    """Whether two distinct sums (or two distinct products) among the nodes of ``exprs`` have two
    arguments in common, a sum or product has more than :data:`PAIRED_ARGUMENTS` arguments, or a
    power has a negative exponent.

    SymEngine's ``cse`` finds two things: subtrees that occur more than once, which every
    generator's translation already computes once (it translates each distinct node once), and
    arguments that several sums or products have in common (``a + b`` out of ``a + b + c`` and
    ``a + b + d``), which needs two such nodes sharing two arguments, or that a power ``x**-k`` shares
    ``x**k`` with the rest (it writes it as ``1/x**k``). Where this says False, ``cse``
    can save no operation, and it is skipped: a third to a half of an arithmetic kernel's build
    (the n = 1000 Rosenbrock gradient: 0.13 s). Checked pair by pair of each node's arguments;
    a node with more arguments than :data:`PAIRED_ARGUMENTS` answers True without looking.

    >>> import symengine as se
    >>> a, b, c, d = se.symbols("a b c d")
    >>> shares_arguments([a + b + c, a + b + d]), shares_arguments([a * b + c, a * c + b])
    (True, False)
    """
    seen: set[Any] = set()
    pairs: dict[tuple[str, frozenset[Any]], Any] = {}
    stack = list(exprs)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if len(seen) % 4096 == 0:  # a walk of every node: the active budget is checked as it goes
            _budget.check()
        args = node.args
        stack.extend(args)
        kind = type(node).__name__
        if kind == "Pow" and args[1].is_Number and args[1] < 0:
            return True  # cse writes x**-k as 1/x**k, sharing x**k with the rest
        if kind not in ("Add", "Mul"):
            continue
        if len(args) > PAIRED_ARGUMENTS:
            return True
        for i, first in enumerate(args):
            for second in args[i + 1 :]:
                owner = pairs.setdefault((kind, frozenset((first, second))), node)
                if owner is not node:
                    return True
    return False


def bounded_cse(
    exprs: Sequence[Any], watch: Stopwatch | None = None, *, nodes_once: bool = False
) -> tuple[list[tuple[Any, Any]], list[Any]]:
    """SymEngine's ``cse`` over chunks of at most :data:`CSE_NODES` distinct nodes: (replacements, reduced).

    The replacement symbols of each chunk are ``x0, x1, ...`` continued across chunks (never
    one of the kernel's arguments, which are renamed ``a<g>_<k>`` before). Each call starts only
    when its estimate (:func:`cse_seconds`, scaled by ``watch``'s slowdown) fits in the budget.
    ``nodes_once``: the caller translates each distinct node once (the SIMD loop and its NumPy tape;
    the ``xp`` generator's printed source does not, and needs the repeated subtrees named). Then,
    where :func:`shares_arguments` says no argument is shared, nothing is called: no replacements,
    the expressions as they are.
    """
    import symengine as se

    if nodes_once and not shares_arguments(exprs):
        return [], list(exprs)
    watch = watch or Stopwatch()
    replacements: list[tuple[Any, Any]] = []
    reduced: list[Any] = []
    chunk: list[Any] = []
    seen: set[Any] = set()

    def flush(nodes: int) -> None:
        nonlocal chunk
        if chunk:
            _budget.check()
            watch.reserve(cse_seconds(nodes), "SymEngine's common subexpressions")
            found, outputs = se.cse(chunk)
            if replacements:  # continue the numbering: x0, x1, ... are the first chunk's
                rename = {old: se.Symbol(f"x{len(replacements) + k}") for k, (old, _) in enumerate(found)}
                found = [(rename[old], _renamed(value, rename)) for old, value in found]
                outputs = [_renamed(e, rename) for e in outputs]
            replacements.extend(found)
            reduced.extend(outputs)
        chunk = []
        seen.clear()

    for expr in exprs:
        room = CSE_NODES - len(seen)
        if node_count(expr, room, seen) > room and chunk:
            flush(CSE_NODES)  # a fresh chunk for it
            node_count(expr, CSE_NODES, seen)
        if len(seen) > CSE_NODES:  # larger than a chunk: alone, or left as it is when too large
            seen.clear()
            nodes = node_count(expr, ALONE_NODES)
            if nodes <= ALONE_NODES:
                chunk.append(expr)
                flush(nodes)
            else:
                reduced.append(expr)
            continue
        chunk.append(expr)
    flush(len(seen))
    return replacements, reduced


def _renamed(expr: Any, rename: dict[Any, Any]) -> Any:
    """``expr`` with its own symbols renamed (a dict of only those: linear in the kernel's size)."""
    own = {s: rename[s] for s in expr.free_symbols if s in rename}
    return expr.xreplace(own) if own else expr
