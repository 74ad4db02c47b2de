"""Fast sparse differentiation: gradient and Hessian triangle, term by term.

SymPy is the face that users see, but ``sympy.hessian`` differentiates the whole
expression n^2 times, which is cubic in n for sums like the extended Rosenbrock
function. Here a sum is split into its terms and each term is differentiated
only with respect to the variables it contains; the Hessian is the upper
triangle of the non-zero entries only (a dict), mirrored when a dense matrix is
asked for. The work is done by SymEngine (SymPy's C++ sibling) when it is
installed, else by SymPy itself; both give the same expressions.

Two consumers, two choices. What users read (``Loss.gradient``, ``Loss.hessian``, the exact
analysis) is differentiated by :func:`sparse_derivatives` with ``engine="auto"``: SymPy for
small expressions, whose printed form users and tests know. What the code generators compile
is differentiated on SymEngine for every smooth expression (:func:`compiled_on_symengine`), about
100x faster than SymPy on a cold cache (10-variable Rosenbrock: 1 ms against 65-145 ms), and
SymPy's printed form is never built unless it is read; so is an expression whose only kinks are
``abs`` and ``sign``, their pending derivatives written in (:mod:`._abs_derivatives`; the Gulf
research problem: 0.3 s against SymPy's 18-24 s).

>>> import sympy
>>> x, y = sympy.symbols("x y")
>>> d = sparse_derivatives(x**2 + 3*x*y**2, (x, y))
>>> [str(g) for g in d.to_sympy_gradient()]
['2*x + 3*y**2', '6*x*y']
>>> sorted(d.hessian_upper)
[(0, 0), (0, 1), (1, 1)]
"""

from __future__ import annotations

import functools
import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sympy

from taylorlr import _budget
from taylorlr.errors import LossDefinitionError
from taylorlr.symbolic import _abs_derivatives
from taylorlr.symbolic.depth import depth, distinct_nodes, to_sympy_iteratively


@functools.cache
def symengine_module() -> Any:
    """SymEngine if it is installed, else None (imported on first use: it costs ~70 ms)."""
    try:
        import symengine
    except ImportError:  # pragma: no cover - the fallback is tested by forcing engine="sympy"
        return None
    return symengine


# below this size SymPy differentiates as fast as the SymEngine round trip costs
_SMALL_NODES = 400
# ... and below this depth: SymPy's chain rule walks the tree again at every level of a
# composition (sin(sin(...)) 50 deep: seconds, where SymEngine takes a millisecond)
_SHALLOW_LEVELS = 12
# deeper or larger than this, an engine expression is rebuilt in SymPy without recursion, node
# by node with the budget checked between nodes (depth.py)
_DEEP_LEVELS = 40
_LARGE_NODES = 20_000
# SymPy alone differentiates through kinks; its chain rule costs about the cube of the depth
# (sin(abs(...)) 41 levels deep: ~2 s, 99 levels: ~50 s) and cannot be interrupted: deeper
# expressions are refused, shallower ones reserve their estimated time from the budget
_SYMPY_LEVELS = 48
_SYMPY_SECONDS_AT_41_LEVELS = 2.0

# SymEngine leaves these derivatives unevaluated (or drops DiracDelta): SymPy handles them
_NON_SMOOTH = (sympy.Abs, sympy.sign, sympy.Max, sympy.Min, sympy.Heaviside)


@dataclass(frozen=True)
class Engine:
    """The symbolic library that differentiates: ``"symengine"`` or ``"sympy"``.

    ``through_kinks``: SymEngine with its pending derivatives of ``abs`` and ``sign`` written in,
    point masses dropped (:mod:`taylorlr.symbolic._abs_derivatives`): for what is compiled only.
    """

    name: str
    through_kinks: bool = False

    @property
    def module(self) -> Any:
        return symengine_module() if self.name == "symengine" else sympy

    def convert(self, expr: Any) -> Any:
        return self.module.sympify(expr) if self.name == "symengine" else expr

    def diff(self, expr: Any, symbol: Any) -> Any:
        if self.through_kinks:
            return _abs_derivatives.diff_through_kinks(expr, symbol)
        return self.module.diff(expr, symbol)

    def add(self, parts: list[Any]) -> Any:
        return self.module.Add(*parts)

    def terms(self, expr: Any) -> tuple[Any, ...]:
        return tuple(expr.args) if isinstance(expr, self.module.Add) else (expr,)


def choose_engine(expr: sympy.Expr, preferred: str = "auto", types: NodeTypes = None) -> Engine:
    """SymEngine when installed and able to differentiate ``expr``, else SymPy (``types``: see
    :func:`is_smooth`).

    >>> import sympy
    >>> choose_engine(sympy.Abs(sympy.Symbol("x"))).name
    'sympy'
    """
    if preferred not in ("auto", "symengine", "sympy"):
        raise ValueError(f"engine must be 'auto', 'symengine' or 'sympy', got {preferred!r}")
    if preferred == "sympy" or not is_smooth(expr, types):
        return Engine("sympy")
    if preferred == "auto" and _is_small(expr):
        return Engine("sympy")
    return Engine("symengine") if symengine_module() is not None else Engine("sympy")


def is_smooth(expr: sympy.Expr, types: NodeTypes = None) -> bool:
    """False when ``expr`` has a kink SymEngine cannot differentiate (abs, max, sign, ...).

    ``types``: the types of ``expr``'s nodes when the caller has them (``Loss`` does: its checks
    list them), so that no walk of ``expr`` is needed.

    >>> x = sympy.Symbol("x")
    >>> is_smooth(x**2), is_smooth(sympy.Abs(x) + 1), is_smooth(x**2, frozenset({sympy.Abs}))
    (True, False, False)
    """
    return not _holds(expr, _NON_SMOOTH, types)


#: the types of an expression's nodes, when known (else None: the expression is walked)
NodeTypes = frozenset[type] | None


def _holds(expr: sympy.Expr, kinds: tuple[type, ...], types: NodeTypes) -> bool:
    """Whether a node of ``expr`` is an instance of one of ``kinds`` (``types``: see is_smooth)."""
    if types is None:
        return bool(expr.has(*kinds))
    return any(issubclass(kind, kinds) for kind in types)


def _check_sympy_depth(expr: sympy.Expr) -> None:
    """Refuse an expression too deep for SymPy's derivatives; reserve their time from the budget."""
    levels = depth(expr, _SYMPY_LEVELS)
    if levels > _SYMPY_LEVELS:
        raise LossDefinitionError(
            f"the loss is nested more than {_SYMPY_LEVELS} levels deep around abs, sign, min, max or"
            f" heaviside; derivatives through kinks nested this deep are not computed (they cost about"
            f" the cube of the depth): write the loss with fewer nested levels"
        )
    _budget.reserve(_SYMPY_SECONDS_AT_41_LEVELS * (levels / 41) ** 3, "SymPy's derivatives")


def _is_small(expr: sympy.Expr) -> bool:
    nodes = itertools.islice(sympy.preorder_traversal(expr), _SMALL_NODES)
    return sum(1 for _ in nodes) < _SMALL_NODES and depth(expr, _SHALLOW_LEVELS) <= _SHALLOW_LEVELS


class RealPart(sympy.Function):
    """``u`` itself, declared real: what a loss's kinks are taken of (every loss is real where defined).

    SymPy differentiates ``Abs(u)`` and ``sign(u)`` through ``re``/``im`` (which no generator
    lowers) unless it can prove ``u`` real, and it cannot for ``y**x`` or ``log(x)``. So the
    arguments of kinks are wrapped in ``RealPart`` while SymPy differentiates, then unwrapped.

    >>> x, y = sympy.symbols("x y", real=True)
    >>> unwrap_real(sympy.diff(wrap_kink_arguments(sympy.Abs(y**x)), y))
    x*y**x*sign(y**x)/y
    """

    @classmethod
    def eval(cls, arg: sympy.Expr) -> sympy.Expr | None:
        return arg if arg.is_extended_real else None

    def _eval_is_extended_real(self) -> bool:
        return True

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return sympy.S.One


def wrap_kink_arguments(expr: sympy.Expr) -> sympy.Expr:
    """Wrap in :class:`RealPart` every argument of a kink (abs, sign, max, ...) SymPy cannot prove real."""
    kinks = [node for node in sympy.preorder_traversal(expr) if isinstance(node, _NON_SMOOTH)]
    if all(arg.is_extended_real for node in kinks for arg in node.args):
        return expr
    return _wrapped(expr)


def _wrapped(expr: sympy.Expr) -> sympy.Expr:
    if not expr.args or isinstance(expr, RealPart):
        return expr
    args = [_wrapped(arg) for arg in expr.args]
    if isinstance(expr, _NON_SMOOTH):
        args = [arg if arg.is_extended_real else RealPart(arg) for arg in args]
    return expr.func(*args)


def unwrap_real(expr: sympy.Expr) -> sympy.Expr:
    """Remove the :class:`RealPart` wrappers of :func:`wrap_kink_arguments`."""
    if not isinstance(expr, sympy.Basic) or not expr.has(RealPart):
        return expr
    return expr.replace(lambda node: isinstance(node, RealPart), lambda node: node.args[0])


def to_sympy(expr: Any, symbols: Sequence[sympy.Symbol] | SymbolsByKey = ()) -> sympy.Expr:
    """Convert an engine expression to SymPy, restoring the given ``symbols``.

    SymEngine keeps no assumptions, so a real symbol comes back plain; the
    symbols are put back by name (a Dummy by its index: never by a user's name).
    Converting many expressions, pass :func:`symbols_by_key` of the symbols, built once
    (built per expression, n gradient entries of n symbols cost n^2).
    """
    if isinstance(expr, sympy.Basic):
        return expr
    by_key = symbols if isinstance(symbols, dict) else symbols_by_key(symbols)
    if depth(expr, _DEEP_LEVELS) > _DEEP_LEVELS or distinct_nodes(expr, _LARGE_NODES) > _LARGE_NODES:
        return to_sympy_iteratively(
            expr, lambda node: by_key.get(_key(node), node) if node.is_Symbol else node
        )
    converted = sympy.sympify(expr)
    return converted.xreplace({s: by_key[_key(s)] for s in converted.free_symbols if _key(s) in by_key})


def _key(symbol: Any) -> tuple[str, int | None]:
    return symbol.name, getattr(symbol, "dummy_index", None)


#: symbols by their name and Dummy index, as :func:`to_sympy` restores them
SymbolsByKey = dict[tuple[str, int | None], sympy.Symbol]


def symbols_by_key(symbols: Sequence[sympy.Symbol]) -> SymbolsByKey:
    """The map :func:`to_sympy` restores symbols from (build it once for many conversions)."""
    return {_key(s): s for s in symbols}


@dataclass(frozen=True)
class SparseDerivatives:
    """Engine expressions of f, its gradient and the non-zero Hessian upper triangle.

    Attributes:
        value: f as an engine expression.
        variables: the variables as engine symbols, in order.
        gradient: tuple of n engine expressions.
        hessian_upper: {(i, j): expression} for i <= j and non-zero entries only.
        smooth: False when f has kinks (abs, max, ...): only the "xp" generator handles those.
    """

    engine: Engine
    value: Any
    variables: tuple[Any, ...]
    gradient: tuple[Any, ...]
    hessian_upper: dict[tuple[int, int], Any]
    smooth: bool = True

    @property
    def n(self) -> int:
        return len(self.variables)

    def hessian_entry(self, i: int, j: int) -> Any:
        """Entry (i, j) of the Hessian, mirrored from the triangle; 0 when absent."""
        key = (i, j) if i <= j else (j, i)
        return self.hessian_upper.get(key, 0)

    def hessian_rows(self) -> list[list[Any]]:
        """The dense Hessian as a list of rows of engine expressions (or 0)."""
        zero = self.engine.convert(sympy.Integer(0))
        return [
            [self.hessian_upper.get((min(i, j), max(i, j)), zero) for j in range(self.n)]
            for i in range(self.n)
        ]

    def hvp(self, vector: Sequence[Any]) -> list[Any]:
        """H v as n expressions in the variables and ``vector``, from the non-zeros only."""
        rows: list[list[Any]] = [[] for _ in range(self.n)]
        for (i, j), entry in self.hessian_upper.items():
            rows[i].append(entry * vector[j])
            if i != j:
                rows[j].append(entry * vector[i])
        return [self.engine.add(parts) for parts in rows]

    def to_sympy_gradient(self, symbols: Sequence[sympy.Symbol] = ()) -> sympy.Matrix:
        """The gradient as an n x 1 SymPy Matrix (``symbols`` restores assumptions)."""
        by_key = symbols_by_key(symbols)
        return sympy.Matrix([to_sympy(g, by_key) for g in self.gradient])

    def to_sympy_hessian(self, symbols: Sequence[sympy.Symbol] = ()) -> sympy.Matrix:
        """The Hessian as a symmetric n x n SymPy Matrix, mirrored from the triangle."""
        n = self.n
        by_key = symbols_by_key(symbols)
        entries = {key: to_sympy(v, by_key) for key, v in self.hessian_upper.items()}
        return sympy.Matrix(n, n, lambda i, j: entries.get((min(i, j), max(i, j)), sympy.Integer(0)))


def compiled_on_symengine(expr: sympy.Expr, types: NodeTypes = None) -> bool:
    """Whether the derivatives to compile are SymEngine's: for every ``expr`` that is smooth or
    whose only kinks are ``abs`` and ``sign``, whatever its size.

    What users read (``Loss.gradient``, the exact analysis) keeps :func:`choose_engine`'s
    choice (SymPy below 400 nodes, and for every kink); what the generators compile is
    SymEngine's whenever it can differentiate ``expr``: on a cold cache it is ~100x faster than
    SymPy, and through ``abs`` thousands of times (:mod:`taylorlr.symbolic._abs_derivatives`:
    the same derivatives once the point masses the compiled functions drop are dropped).

    >>> import sympy
    >>> x, y = sympy.symbols("x y")
    >>> compiled_on_symengine(x**2 + 3*x*y**2), compiled_on_symengine(sympy.Abs(x) + y)
    (True, True)
    >>> compiled_on_symengine(sympy.Max(x, y))
    False
    """
    if symengine_module() is None:
        return False
    if types is None:
        return _abs_derivatives.completes(expr, _NON_SMOOTH)
    other = tuple(kind for kind in _NON_SMOOTH if kind not in _abs_derivatives.COMPLETED_KINKS)
    return not _holds(expr, other, types)


def _compiled_engine(expr: sympy.Expr, types: NodeTypes) -> Engine | None:
    """SymEngine through ``abs`` and ``sign`` for a kinked ``expr`` it completes, else None."""
    if is_smooth(expr, types) or not compiled_on_symengine(expr, types):
        return None
    return Engine("symengine", through_kinks=True)


def sparse_derivatives(
    expr: sympy.Expr, variables: Sequence[sympy.Symbol], engine: str = "auto", *, types: NodeTypes = None
) -> SparseDerivatives:
    """Differentiate ``expr`` term by term: gradient and Hessian non-zero triangle.

    ``engine="symengine"`` on an ``expr`` whose kinks are ``abs`` and ``sign`` only differentiates
    them on SymEngine (:func:`compiled_on_symengine`), point masses dropped; other kinks on SymPy.
    ``types``: the types of ``expr``'s nodes when the caller has them (no walk of ``expr`` then).
    """
    kinked = _compiled_engine(expr, types) if engine == "symengine" else None
    if kinked is not None:
        try:
            return _sparse(kinked, expr, variables, types)
        except _abs_derivatives.PendingDerivative:
            pass  # a derivative SymEngine leaves pending that is not abs's or sign's: SymPy's
    eng = choose_engine(expr, engine, types)
    if eng.name == "sympy":
        _check_sympy_depth(expr)
    original = expr
    if eng.name == "sympy" and not is_smooth(expr, types):
        expr = wrap_kink_arguments(expr)
    derivatives = _sparse(eng, expr, variables, types if expr is original else None)
    if expr is original:
        return derivatives
    return SparseDerivatives(
        eng,
        original,
        derivatives.variables,
        tuple(unwrap_real(g) for g in derivatives.gradient),
        {key: unwrap_real(h) for key, h in derivatives.hessian_upper.items()},
        derivatives.smooth,
    )


def _sparse(
    eng: Engine, expr: sympy.Expr, variables: Sequence[sympy.Symbol], types: NodeTypes = None
) -> SparseDerivatives:
    value = _converted(eng, expr)
    engine_vars = tuple(eng.convert(v) for v in variables)
    index = {v: i for i, v in enumerate(engine_vars)}
    parts: dict[int, list[Any]] = defaultdict(list)
    for term in eng.terms(value):
        _budget.check()
        for symbol in term.free_symbols:
            if symbol in index:
                parts[index[symbol]].append(eng.diff(term, symbol))
    gradient = tuple(eng.add(parts[i]) for i in range(len(engine_vars)))
    hessian: dict[tuple[int, int], Any] = {}
    for i, entry in enumerate(gradient):
        _budget.check()
        for symbol in entry.free_symbols:
            j = index.get(symbol)
            if j is not None and j >= i:
                second = eng.diff(entry, symbol)
                if second != 0:
                    hessian[(i, j)] = second
    return SparseDerivatives(eng, value, engine_vars, gradient, hessian, is_smooth(expr, types))


def _converted(eng: Engine, expr: sympy.Expr) -> Any:
    """``expr`` in the engine; a sum term by term, checking the budget (one conversion of a
    10^5-term sum is seconds that could not be interrupted)."""
    if eng.name != "symengine" or not isinstance(expr, sympy.Add):
        return eng.convert(expr)
    terms = []
    for k, term in enumerate(expr.args):
        if k % 1000 == 999:
            _budget.check()
        terms.append(eng.convert(term))
    return eng.add(terms)
