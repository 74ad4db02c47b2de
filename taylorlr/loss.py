"""The Loss: an analytic loss, its variables and its exact derivatives.

>>> import taylorlr as tl
>>> loss = tl.Loss("x**2 + 3*x*y**2")
>>> loss.variables
(x, y)
>>> loss.gradient
Matrix([
[2*x + 3*y**2],
[       6*x*y]])
>>> loss.hessian
Matrix([
[  2, 6*y],
[6*y, 6*x]])
"""

from __future__ import annotations

import functools
import itertools
import pickle
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import sympy
from sympy.core.parameters import evaluate as sympy_evaluate

from taylorlr._budget import DEFAULT_MAX_TERMS, Budget, validated_seconds
from taylorlr._budget import check as budget_check
from taylorlr._budget import check_size as budget_check_size
from taylorlr._budget import ensure as ensure_budget
from taylorlr._display import Card
from taylorlr.errors import BudgetExceededError, LossDefinitionError, OptionError, PointError, TaylorLRError
from taylorlr.symbolic.degree import degree_bound
from taylorlr.symbolic.derivatives import (
    SparseDerivatives,
    compiled_on_symengine,
    sparse_derivatives,
    symbols_by_key,
    to_sympy,
    unwrap_real,
    wrap_kink_arguments,
)
from taylorlr.symbolic.functions import FUNCTIONS
from taylorlr.symbolic.points import exact_point
from taylorlr.symbolic.series import Unsupported, taylor_series
from taylorlr.symbolic.walk import CHECK_EVERY, Survey, distinct, rebuilt, survey

if TYPE_CHECKING:
    from taylorlr.compile.compiled import Compiled

#: SymPy function classes a loss may contain: the function catalogue (the parser's
#: functions, plus what differentiating them produces).
ALLOWED_FUNCTION_NAMES = frozenset(FUNCTIONS)
_ALLOWED_ATOMS = (sympy.Symbol, sympy.Number)
#: The named constants a loss may contain (the parser's ``pi`` and ``E``); EulerGamma,
#: Catalan, GoldenRatio... are refused: write their value as a number.
_ALLOWED_CONSTANTS = (sympy.pi, sympy.E)
#: float64's largest finite and smallest normal magnitudes: every constant of a loss lies between.
_FLOAT64_MAX = sympy.Float(1.7976931348623157e308)
_FLOAT64_TINY = sympy.Float(2.2250738585072014e-308)
_REDUCTIONS = ("mean", "sum")
#: the longest expression text a notebook card shows whole, and the longest LaTeX it renders
_TEXT_LIMIT = 400
_LATEX_LIMIT = 4000


def _short(text: str) -> str:
    """An expression's text for a card: whole up to _TEXT_LIMIT characters, else cut and said so."""
    return text if len(text) <= _TEXT_LIMIT else f"{text[:_TEXT_LIMIT]} ... ({len(text)} characters)"


#: a Loss's definition: its expression, variables, data symbols, reduction, the types its checks
#: found and its vector symbols (the same Dummy symbols after unpickling)
_DEFINITION = ("expr", "variables", "data", "reduction", "_surveyed", "_vectors")
#: what a pickled :class:`Loss` keeps: its definition and the exact SymPy results, where taken
_PICKLED = frozenset((*_DEFINITION, "gradient", "hessian", "is_polynomial"))
#: the default time budget of the checks of :class:`Loss` (seconds)
LOSS_BUDGET_S = 60.0
#: the deepest SymPy expression a Loss accepts: SymPy's own walks recurse once per level or more,
#: and Python's stack holds about 1000 (a sum built ``x0 + x1 + ...`` unevaluated is as deep as
#: it is long: build it with ``sympy.Add(*terms)``)
MAX_LOSS_DEPTH = 250
#: the default time budget of :meth:`Loss.taylor` (seconds)
TAYLOR_BUDGET_S = 60.0
#: the time budget of the derivatives and of a compile asked for on their own (seconds)
DERIVATIVES_BUDGET_S = 120.0
COMPILE_BUDGET_S = 300.0


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key that puts ``x2`` before ``x10``.

    >>> sorted(["x10", "x2", "y", "x1"], key=natural_key)
    ['x1', 'x2', 'x10', 'y']
    """
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", name) if p)


class Loss:
    """An analytic loss with exact gradient, Hessian, HVP and Taylor polynomials.

    Args:
        expr: the loss as text (parsed safely, never evaluated) or a SymPy expression.
        variables: names or Symbols of the variables, in order; by default every
            free symbol that is not data, in natural order of names.
        data: names or Symbols of data symbols (minibatch inputs). Compiled
            functions take them as keyword arrays, samples on the last axis.
        reduction: how compiled functions combine samples: "mean" or "sum".
        budget_s: seconds for checking the expression (each check is one pass over its
            distinct nodes: about 16 CPU seconds for a SymPy sum of 10^5 terms).

    Raises:
        ParseError: the text could not be read.
        LossDefinitionError: no variable, an undeclared symbol, a non-real
            constant, an infinity, a constant float64 cannot hold (beyond 1.8e308,
            or nonzero below 2.2e-308), an unsupported function or constant, or a SymPy
            expression nested more than ``MAX_LOSS_DEPTH`` levels deep.
        BudgetExceededError: the checks took longer than ``budget_s`` (stage "loss definition").

    A SymPy expression's symbols that are not declared real (``sympy.symbols("x")``)
    are replaced by real symbols of the same name: every loss is a real function.

    >>> import taylorlr as tl
    >>> loss = tl.Loss("(w*x - y)**2", variables=["w"], data=["x", "y"])
    >>> loss.names, loss.gradient
    (('w',), Matrix([[2*x*(w*x - y)]]))
    """

    def __init__(
        self,
        expr: str | sympy.Expr,
        variables: Sequence[str | sympy.Symbol] | None = None,
        data: Sequence[str | sympy.Symbol] = (),
        *,
        reduction: str = "mean",
        budget_s: float = LOSS_BUDGET_S,
    ) -> None:
        seconds = validated_seconds(budget_s, "budget_s")
        with ensure_budget("loss definition", seconds, hint="build a smaller loss"):
            self.expr, found = _checked_expression(expr)
            self.data: tuple[sympy.Symbol, ...] = _resolve_symbols(found.symbols, data, "data")
            self.variables: tuple[sympy.Symbol, ...] = _resolve_variables(
                self.expr, found.symbols, variables, self.data
            )
        #: the expression surveyed, and the types of its nodes (the derivatives' engine is chosen from
        #: them without another walk; for this expression only)
        self._surveyed: tuple[sympy.Expr, frozenset[type]] = (self.expr, found.types)
        if reduction not in _REDUCTIONS:
            raise OptionError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        self._compiled: dict[tuple[Any, ...], Compiled] = {}
        self._vectors: dict[str, tuple[sympy.Symbol, ...]] = {}

    def __getstate__(self) -> dict[str, Any]:
        """The loss's definition, its vector symbols and its exact SymPy derivatives where taken
        (costly to recompute, cheap to send); compiled kernels and the derivatives' engine objects
        are dropped and rebuild lazily.

        >>> import pickle, taylorlr as tl
        >>> loss = tl.Loss("x**2 + 3*x*y**2")
        >>> loss.compile().value([1.0, 2.0])
        array(13.)
        >>> copy = pickle.loads(pickle.dumps(loss))
        >>> copy.expr == loss.expr, copy.variables == loss.variables, copy.compile().value([1.0, 2.0])
        (True, True, array(13.))
        """
        return {key: value for key, value in self.__dict__.items() if key in _PICKLED}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._compiled = {}

    def __repr__(self) -> str:
        data = f", data={self.names_of(self.data)}" if self.data else ""
        return f"Loss({str(self.expr)!r}, variables={self.names}{data})"

    # notebook display ------------------------------------------------------------------------------

    def _card(self) -> Card:
        fields = [("f", _short(str(self.expr))), ("variables", ", ".join(self.names))]
        if self.data:
            fields += [("data", ", ".join(self.names_of(self.data))), ("reduction", self.reduction)]
        return Card(title=f"Loss of {self.n} variable{'s' if self.n > 1 else ''}", fields=fields)

    def _repr_html_(self) -> str:
        return self._card().html()

    def _repr_markdown_(self) -> str:
        return self._card().markdown()

    def _repr_latex_(self) -> str | None:
        """``f(x, y) = ...`` in LaTeX math (None, so HTML shows, when a name would break math mode).

        >>> import taylorlr as tl
        >>> print(tl.Loss("x**2 + 3*x*y**2")._repr_latex_())
        $\\displaystyle f(x, y) = x^{2} + 3 x y^{2}$
        """
        text = sympy.latex(self.expr)
        names = ", ".join(sympy.latex(v) for v in self.variables)
        if "$" in text + names or len(text) > _LATEX_LIMIT:
            return None
        return f"$\\displaystyle f({names}) = {text}$"

    @staticmethod
    def names_of(symbols: Sequence[sympy.Symbol]) -> tuple[str, ...]:
        return tuple(s.name for s in symbols)

    @property
    def names(self) -> tuple[str, ...]:
        """The variable names, in order."""
        return self.names_of(self.variables)

    @property
    def n(self) -> int:
        """The number of variables."""
        return len(self.variables)

    @cached_property
    def derivatives(self) -> SparseDerivatives:
        """Gradient and non-zero Hessian triangle, differentiated term by term.

        Raises:
            LossDefinitionError: a derivative that no code generator computes (re, im, I or an
                unevaluated Derivative), named with its variable.
            BudgetExceededError: differentiating took longer than the budget of the stage that
                asked (or ``DERIVATIVES_BUDGET_S`` on its own).
        """
        with ensure_budget("derivatives", DERIVATIVES_BUDGET_S, hint="simplify the loss"):
            derivatives = sparse_derivatives(self.expr, self.variables, types=self._node_types())
        if derivatives.engine.name == "sympy":
            _check_derivatives(derivatives, self.names)
        return derivatives

    @cached_property
    def compiled_derivatives(self) -> SparseDerivatives:
        """The derivatives that :meth:`compile` compiles: SymEngine's for a smooth loss of any size
        (SymPy's printed form is never built for them) and for one whose only kinks are ``abs`` and
        ``sign`` (point masses dropped, as compiled), else :attr:`derivatives`."""
        taken = self.__dict__.get("derivatives")
        on_symengine = compiled_on_symengine(self.expr, self._node_types())
        if (taken is not None and taken.engine.name == "symengine") or not on_symengine:
            return self.derivatives
        return sparse_derivatives(self.expr, self.variables, engine="symengine", types=self._node_types())

    def _node_types(self) -> frozenset[type] | None:
        """The types of the nodes of :attr:`expr`, as its checks found them (None if it was replaced)."""
        expr, types = self._surveyed
        return types if expr is self.expr else None

    @cached_property
    def gradient(self) -> sympy.Matrix:
        """The gradient, an n x 1 SymPy Matrix (converted under the derivatives' budget)."""
        with ensure_budget("derivatives", DERIVATIVES_BUDGET_S, hint="simplify the loss"):
            return self.derivatives.to_sympy_gradient(self.variables + self.data)

    @cached_property
    def hessian(self) -> sympy.Matrix:
        """The Hessian, a symmetric n x n SymPy Matrix (one triangle, mirrored)."""
        with ensure_budget("derivatives", DERIVATIVES_BUDGET_S, hint="simplify the loss"):
            return self.derivatives.to_sympy_hessian(self.variables + self.data)

    @cached_property
    def is_polynomial(self) -> bool:
        """Whether the loss is a polynomial in its variables (data may appear anywhere)."""
        return bool(self.expr.is_polynomial(*self.variables))

    def vector_symbols(self, prefix: str = "v") -> tuple[sympy.Symbol, ...]:
        """Real symbols ``_v_x, _v_y, ...`` for a vector paired with the variables.

        They are :class:`sympy.Dummy` symbols (printed with a leading underscore, which
        the parser refuses in names), the same ones at every call with this prefix: no
        variable of the loss, whatever its name, is ever one of them.

        >>> import taylorlr as tl
        >>> loss = tl.Loss("x**2*v_x")
        >>> v = loss.vector_symbols()
        >>> v, v == loss.vector_symbols(), set(v) & set(loss.variables)
        ((_v_v_x, _v_x), True, set())
        """
        vectors = self._vectors.get(prefix)
        if vectors is None:
            vectors = tuple(sympy.Dummy(f"{prefix}_{name}", real=True) for name in self.names)
            self._vectors[prefix] = vectors
        return vectors

    def hvp(self, vector: Sequence[sympy.Expr] | None = None) -> sympy.Matrix:
        """H v as n expressions, built from the Hessian's non-zero entries only (H is never formed).

        >>> import taylorlr as tl
        >>> tl.Loss("x**2*y").hvp()
        Matrix([
        [2*_v_x*y + 2*_v_y*x],
        [           2*_v_x*x]])
        """
        v = tuple(vector) if vector is not None else self.vector_symbols()
        if len(v) != self.n:
            raise LossDefinitionError(f"the vector has {len(v)} entries, the loss {self.n} variables")
        d = self.derivatives
        rows = d.hvp([d.engine.convert(sympy.sympify(e)) for e in v])
        symbols = (*self.variables, *self.data, *(e for e in v if isinstance(e, sympy.Symbol)))
        by_key = symbols_by_key(symbols)
        return sympy.Matrix([to_sympy(row, by_key) for row in rows])

    def value_at(self, at: Any) -> sympy.Expr:
        """The exact value of the loss at a point (data symbols stay symbolic)."""
        return self.expr.xreplace(dict(zip(self.variables, exact_point(at, self.variables), strict=True)))

    def line(self, direction: Sequence[sympy.Expr] | None = None) -> tuple[sympy.Dummy, sympy.Expr]:
        """g(alpha) = f(w - alpha u): the loss along a line, with its symbol alpha.

        alpha and the default direction ``_u_x, _u_y, ...`` are :class:`sympy.Dummy`
        symbols, so variables named ``alpha`` or ``u_x`` stay different symbols.

        >>> import taylorlr as tl
        >>> alpha, g = tl.Loss("(alpha - 1)**2").line()
        >>> g.diff(alpha, 2), g.xreplace({alpha: 0})
        (2*_u_alpha**2, (alpha - 1)**2)
        """
        alpha = sympy.Dummy("alpha", real=True)
        u = tuple(direction) if direction is not None else self.vector_symbols("u")
        if len(u) != self.n:
            raise LossDefinitionError(f"the direction has {len(u)} entries, the loss {self.n} variables")
        shifted = {w: w - alpha * ui for w, ui in zip(self.variables, u, strict=True)}
        return alpha, self.expr.xreplace(shifted)

    def line_derivatives(
        self, order: int = 2, direction: Sequence[sympy.Expr] | None = None
    ) -> tuple[sympy.Expr, ...]:
        """g(0), g'(0), ..., g^(order)(0) for g(alpha) = f(w - alpha u).

        g^(k)(0) = (-1)^k D^k f(w)[u, ..., u]; so g'(0) = -<grad f, u> and
        g''(0) = u^T H u.

        >>> import taylorlr as tl
        >>> tl.Loss("x**2 + y**2").line_derivatives(2)
        (x**2 + y**2, -2*_u_x*x - 2*_u_y*y, 2*_u_x**2 + 2*_u_y**2)
        """
        _check_order(order)
        alpha, g = self.line(direction)
        result = []
        for _ in range(order + 1):
            result.append(sympy.expand(g.xreplace({alpha: 0})))
            g = sympy.diff(g, alpha)
        return tuple(result)

    def line_polynomial(self, direction: Sequence[sympy.Expr] | None = None) -> tuple[sympy.Expr, ...]:
        """Coefficients c_0..c_d of g(alpha) = f(w - alpha u) = sum c_k alpha^k (polynomial f only).

        c_k = g^(k)(0) / k!, derived without expanding g (expanding f along a symbolic
        line is what costs: 15 s for Watson's function with six variables, against 3 s
        this way); d bounds the degree of f, so trailing coefficients may be zero.

        >>> import taylorlr as tl
        >>> tl.Loss("x**2 + alpha").line_polynomial()
        (alpha + x**2, -_u_alpha - 2*_u_x*x, _u_x**2)
        """
        if not self.is_polynomial:
            raise LossDefinitionError(f"{self.expr} is not a polynomial in {self.names}")
        alpha, g = self.line(direction)
        coefficients: list[sympy.Expr] = []
        for k in range(degree_bound(self.expr, frozenset(self.variables)) + 1):
            coefficients.append(g.xreplace({alpha: 0}) / sympy.factorial(k))
            g = sympy.diff(g, alpha)
        return tuple(coefficients)

    def line_degree(self, *, deadline: float | None = None) -> int:
        """A bound on the degree of g(alpha) = f(w - alpha u): the total degree of f (polynomial f only).

        Read from the expression tree without expanding it (sums take the largest, products
        add, integer powers multiply), iteratively, so no depth of nesting exhausts the stack.

        Args:
            deadline: a ``time.monotonic()`` instant; past it the walk stops with
                :class:`~taylorlr.errors.BudgetExceededError`.

        >>> import taylorlr as tl
        >>> tl.Loss("(x - y**2)**2 + 3*x*y + 1").line_degree()
        4
        """
        if not self.is_polynomial:
            raise LossDefinitionError(f"{self.expr} is not a polynomial in {self.names}")
        return degree_bound(self.expr, frozenset(self.variables), deadline=deadline)

    def taylor(
        self,
        at: Any,
        order: int = 2,
        *,
        budget_s: float = TAYLOR_BUDGET_S,
        max_terms: int = DEFAULT_MAX_TERMS,
    ) -> sympy.Expr:
        """The Taylor polynomial of the given order at ``at``, expanded in the variables.

        sum over |k| <= order of D^k f(a) (x - a)^k / k!, computed exactly along the ray
        a + t (x - a), order by order (:mod:`taylorlr.symbolic.series`), under a budget.

        Args:
            at: the point (names to numbers, or numbers in variable order; exact numbers allowed).
            order: the degree, 0 to 50.
            budget_s: seconds allowed; checked between the orders and inside each. The
                expansion runs in a worker process (where ``fork`` exists: forked, or started
                from the fork server where other threads run) that is killed at the deadline,
                since one SymPy step cannot be interrupted from inside.
            max_terms: the most terms the polynomial (or a part of it) may have.

        Raises:
            BudgetExceededError: the time or the size ran out (stage "taylor"); its message
                names the option to raise.
            PointError: f is not defined, or not ``order`` times differentiable, at ``at``.

        >>> import taylorlr as tl
        >>> tl.Loss("x**3").taylor({"x": 1}, order=2)
        3*x**2 - 3*x + 1
        """
        _check_order(order)
        a = exact_point(at, self.variables)
        point = dict(zip(self.names, a, strict=True))
        budget = Budget(stage="taylor", seconds=budget_s, max_terms=max_terms, hint="lower the order")
        return _in_worker(functools.partial(_expand, self.expr, self.variables, a, order, point), budget)

    def compile(
        self,
        backend: Any = "numpy",
        dtype: str = "float64",
        *,
        generator: str = "auto",
        budget_s: float = COMPILE_BUDGET_S,
    ) -> Compiled:
        """Compile value, grad, hess and hvp for a backend (cached per backend and dtype).

        Args:
            backend: "numpy", "cupy", "array-api-strict" or an array namespace module.
            dtype: "float64" (default) or "float32".
            generator: "auto" (the SIMD loop generator on float64 NumPy without data
                symbols, else "xp"; chosen per loss, never per batch), "xp" (generated
                array-namespace code) or "simd" ("llvm" is its former name). An arithmetic
                group's SIMD loop is built once the group has been used enough, its first calls
                run on NumPy with the same bits (:mod:`taylorlr.compile.lazy_simd`).
            budget_s: seconds for the derivatives, and again for each output group's kernel,
                built at its first call (value, grad, ...), checked inside each stage; a step
                that cannot be interrupted (a CSE call, LLVM's code generation) is bounded by
                size or started only when its estimate fits (inside a stage with a budget of
                its own, that budget applies).

        Raises:
            BudgetExceededError: the derivatives took the whole budget (stage "compile"); a
                kernel's build raises it at its first call.
        """
        # imported here: the exact side (taylorlr solve) never compiles
        from taylorlr.compile.backends import resolve_backend
        from taylorlr.compile.compiled import compile_loss

        resolved = resolve_backend(backend)
        key = (resolved.name, dtype, generator)
        compiled = self._compiled.get(key)
        if compiled is None:
            with ensure_budget("compile", budget_s) as budget:
                derivatives = self.compiled_derivatives
                budget.check()
                compiled = compile_loss(
                    derivatives,
                    self.names,
                    self.data,
                    backend=resolved,
                    dtype=dtype,
                    generator=generator,
                    reduction=self.reduction,
                    budget_s=budget_s,
                )
            self._compiled[key] = compiled
        return compiled

    def critical_points(self, **options: Any) -> Any:
        """All real critical points, exact where algebra allows (:mod:`taylorlr.analysis.critical_points`)."""
        from taylorlr.analysis.critical_points import critical_points

        return critical_points(self, **options)


def _check_derivatives(derivatives: SparseDerivatives, names: Sequence[str]) -> None:
    entries = [(f"d/d{names[i]}", g) for i, g in enumerate(derivatives.gradient)]
    entries += [(f"d2/d{names[i]}d{names[j]}", h) for (i, j), h in derivatives.hessian_upper.items()]
    for label, entry in entries:
        if isinstance(entry, sympy.Basic) and entry.has(*_NOT_COMPUTABLE):
            raise LossDefinitionError(
                f"the derivative {label} of the loss is {_shown(entry)}, which is not real or cannot be"
                " computed: check that the loss is real where it is used"
            )


#: seconds a stage in the worker may overrun its budget before it is killed: its own check
#: usually ends it first, with the step that was running named
_WORKER_GRACE_S = 0.5
#: reading an expression back (unpickling, unevaluated) takes about this many times writing it
_READ_PER_WRITE = 8.0


def _in_worker(work: Callable[[Budget], sympy.Expr], budget: Budget) -> sympy.Expr:
    """``work(budget)`` in a worker process, killed at the budget's deadline (plus a grace): one SymPy
    call (an ``expand``, a ``diff`` of a deep tree) cannot be interrupted from inside, a process can.

    ``work`` is a top-level function (or a partial of one) with picklable arguments: where threads
    run, the worker starts from the fork server and the task is pickled. The budget goes with it
    (its start is a ``time.monotonic`` instant, the same clock in every process of the machine), so
    the child's deadline is the parent's. The expression comes back pickled and is read unevaluated
    (it is canonical already: the same expression, about five times faster than SymPy's
    constructors); the worker reserves the time reading it back will take, so that a large answer
    at the deadline is refused, not late.
    """
    from taylorlr.analysis._worker import ExactWorker

    task = functools.partial(_pickled, work, budget)
    worker = ExactWorker(task, lifetime=budget.remaining + 2 * _WORKER_GRACE_S)
    outcome = worker.outcome(deadline=time.monotonic() + budget.remaining + _WORKER_GRACE_S)
    if outcome.kind == "done":
        with sympy_evaluate(False):
            return pickle.loads(outcome.value)  # bytes from our own worker
    if outcome.kind == "error":
        raise outcome.value
    if outcome.kind == "budget-exceeded":
        raise budget.exceeded("stopped at its deadline")
    raise BudgetExceededError(  # out of memory, or a worker that died
        f"stage '{budget.stage}' stopped early: {outcome.message or outcome.kind}; lower max_terms"
        f" (now {budget.max_terms:,}) or {budget.hint or 'simplify the loss'}",
        stage=budget.stage,
        option="max_terms",
        elapsed_s=budget.elapsed,
    )


def _pickled(work: Callable[[Budget], sympy.Expr], budget: Budget) -> bytes:
    """In the worker: ``work(budget)``, pickled, with the time to read it back reserved in the budget."""
    result = work(budget)
    started = time.monotonic()
    data = pickle.dumps(result)
    budget.reserve(_READ_PER_WRITE * (time.monotonic() - started), "reading the result back")
    return data


def _expand(
    expr: sympy.Expr,
    variables: Sequence[sympy.Symbol],
    a: Sequence[sympy.Expr],
    order: int,
    point: dict,
    budget: Budget,
) -> sympy.Expr:
    """In the worker: the Taylor polynomial under ``budget``, a point off the domain a PointError."""
    try:
        with budget.active():
            return _taylor(expr, variables, a, order, point)
    except TaylorLRError:
        raise
    except (ValueError, TypeError) as error:  # SymPy cannot compare min/max arguments not real
        raise PointError(f"{expr} is not defined (real) at {point}: {error}") from error


def _taylor(
    expr: sympy.Expr, variables: Sequence[sympy.Symbol], a: Sequence[sympy.Expr], order: int, point: dict
) -> sympy.Expr:
    _check_exact_powers(expr, dict(zip(variables, a, strict=True)), point)
    t = sympy.Dummy("t", real=True)
    ray = {x: ai + t * (x - ai) for x, ai in zip(variables, a, strict=True)}
    g = wrap_kink_arguments(expr.xreplace(ray))
    if order >= 1:
        _check_no_kink_at(g, t, expr, point)
    try:
        return taylor_series(expr, variables, a, order)
    except Unsupported:  # a variable exponent, max/min, a point off the analytic domain: differentiate
        pass
    terms = []
    for k in range(order + 1):
        size = _nodes(g, DEFAULT_MAX_TERMS + 1)
        budget_check_size(size, f"nodes of the order-{k} derivative along the ray")
        term = unwrap_real(g.xreplace({t: 0}))
        if term.has(*_NOT_FINITE, sympy.Derivative, sympy.DiracDelta, sympy.I):
            what = _NOT_SMOOTH_AT.get(k, f"{k} times differentiable")
            raise PointError(f"{expr} is not {what} at {point}: its order-{k} term is {term}")
        terms.append(term / sympy.factorial(k))
        g = sympy.diff(g, t)
    expanded = []
    for term in terms:  # term by term, so that the budget is checked between them
        budget_check()
        expanded.append(sympy.expand(term))
    return sympy.Add(*expanded)


def _nodes(expr: sympy.Expr, limit: int) -> int:
    """The number of nodes of ``expr``, counted up to ``limit``."""
    return sum(1 for _ in itertools.islice(sympy.preorder_traversal(expr), limit))


def _check_exact_powers(expr: sympy.Expr, at: dict, point: dict) -> None:
    """Refuse a variable exponent that is, at the point, a fraction SymPy would take an exact root of.

    ``y**y`` at y = 0.1234 is 617/5000 to the power 617/5000: a root of degree 5000, which SymPy
    computes exactly and for ever (the parser's limit on exponent denominators, at the point).
    """
    from taylorlr.symbolic.parse import MAX_EXPONENT_DENOMINATOR

    for node in sympy.preorder_traversal(expr):
        if not (isinstance(node, sympy.Pow) and node.exp.free_symbols & set(at)):
            continue
        exponent = node.exp.xreplace(at)
        if isinstance(exponent, sympy.Rational) and exponent.q > MAX_EXPONENT_DENOMINATOR:
            raise PointError(
                f"at {point} the exponent of {node} is {exponent}, whose exact power is a root of degree"
                f" {exponent.q} (limit {MAX_EXPONENT_DENOMINATOR}): give the point as fractions with"
                " small denominators (e.g. '1/8')"
            )


_NOT_SMOOTH_AT = {0: "defined (finite and real)", 1: "differentiable"}
_KINKS = (sympy.Abs, sympy.sign, sympy.Heaviside, sympy.Max, sympy.Min)


def _check_no_kink_at(g: sympy.Expr, t: sympy.Symbol, expr: sympy.Expr, point: dict[str, Any]) -> None:
    """Refuse a point where an abs/sign/max/min of the loss sits on its kink (at t = 0 on the ray)."""
    for node in sympy.preorder_traversal(g):
        if not isinstance(node, _KINKS) or t not in node.free_symbols:
            continue
        values = [unwrap_real(arg).xreplace({t: 0}) for arg in node.args]
        if isinstance(node, (sympy.Max, sympy.Min)):
            on_kink = len(set(values)) < len(values)
        else:
            on_kink = values[0] == 0
        if on_kink:
            arguments = ", ".join(map(str, values))
            raise PointError(
                f"{expr} has a kink at {point} ({type(node).__name__} of {arguments} there):"
                " taylor() needs every abs, sign, max and min of the loss smooth at the point"
            )


def _check_order(order: int) -> None:
    if not isinstance(order, int) or isinstance(order, bool) or order < 0:
        raise OptionError(f"order must be a non-negative integer, got {order!r}")
    if order > 50:
        raise OptionError(f"order {order} is too large (at most 50): the expansion would not finish")


def _checked_expression(expr: Any) -> tuple[sympy.Expr, Survey]:
    """The loss's expression (its symbols made real) and its :class:`Survey`, every check passed.

    One pass over the expression (:func:`~taylorlr.symbolic.walk.survey`) settles the common case;
    when it finds something to refuse, the checks that name it run as they always have (each its
    own walk, in the same order), so each input gets the same error as before.
    """
    if isinstance(expr, str):
        from taylorlr.symbolic.parse import parse

        expr = parse(expr)
        found = survey(expr)
    else:
        if isinstance(expr, (int, float)) and not isinstance(expr, bool):
            raise LossDefinitionError(f"the loss {expr!r} is a constant: it has no variable")
        if not isinstance(expr, sympy.Expr):
            raise LossDefinitionError(f"a loss must be text or a SymPy expression, got {type(expr).__name__}")
        found = survey(expr)
        _check_depth(found.levels)
        real = _real_symbols(expr, found.symbols)
        if real is not expr:
            expr, found = real, survey(real)
    if not found.types <= _SUPPORTED_TYPES and not all(map(_supported_type, found.types)):
        _check_supported(expr)  # names the first unsupported node (or passes: none is)
    try:
        for power in found.powers:
            _check_power(power)
    except LossDefinitionError:
        _check_supported(expr)  # the first power refused, in the order the checks always took
        raise
    _check_constants(found.constants)
    return expr, found


def _check_depth(levels: int) -> None:
    """Refuse a SymPy expression deeper than MAX_LOSS_DEPTH levels (measured without recursion)."""
    if levels > MAX_LOSS_DEPTH:
        raise LossDefinitionError(
            f"the expression is nested more than {MAX_LOSS_DEPTH} levels deep (SymPy's own walks"
            " would exhaust Python's stack): build sums and products flat (sympy.Add(*terms),"
            " sympy.Mul(*factors)) and nest functions less deeply"
        )


def _real_symbols(expr: sympy.Expr, symbols: Sequence[sympy.Symbol] | None = None) -> sympy.Expr:
    """Replace each symbol not known to be real by a real symbol of the same name (``symbols``:
    those of ``expr``, each once, when the caller has them).

    >>> x = sympy.Symbol("x")
    >>> _real_symbols(sympy.Abs(x)).free_symbols.pop().is_real
    True
    """
    if symbols is None:
        symbols = [node for node in distinct(expr) if isinstance(node, sympy.Symbol)]
    plain = [s for s in symbols if not isinstance(s, sympy.Dummy) and s.is_real is not True]
    if not plain:
        return expr
    shared = sorted(name for name, count in Counter(s.name for s in symbols).items() if count > 1)
    if shared:
        raise LossDefinitionError(f"two different symbols share the name {shared[0]!r}")
    real = {}
    for k, symbol in enumerate(plain):
        if k % CHECK_EVERY == 0:
            budget_check()
        real[symbol] = sympy.Symbol(symbol.name, real=True)
    return rebuilt(expr, real)


_NOT_FINITE = (
    sympy.core.numbers.Infinity,
    sympy.core.numbers.NegativeInfinity,
    sympy.core.numbers.ComplexInfinity,
    sympy.core.numbers.NaN,
)
_NOT_COMPUTABLE = (sympy.re, sympy.im, sympy.Derivative, sympy.Subs, sympy.I, *_NOT_FINITE)


#: the node types every loss may hold: +, *, powers, symbols, pi, E and the catalogue's functions
_SUPPORTED_TYPES = frozenset(
    {sympy.Add, sympy.Mul, sympy.Pow, sympy.Symbol, sympy.Dummy, type(sympy.pi), type(sympy.E)}
    | {function.sympy_class for function in FUNCTIONS.values()}
)


def _supported_type(kind: type) -> bool:
    """Whether every node of this type passes :func:`_check_node` but for its powers' own checks
    (a type not listed here only makes the checks run node by node)."""
    if kind in _SUPPORTED_TYPES:
        return True
    if issubclass(kind, _NOT_FINITE):
        return False
    return issubclass(kind, (sympy.Number, sympy.Symbol, sympy.Add, sympy.Mul, sympy.Pow))


def _check_supported(expr: sympy.Expr) -> None:
    """Refuse anything but +, *, powers, real numbers, symbols and whitelisted functions."""
    checked: set[type] = set()
    for node in distinct(expr):
        kind = type(node)
        if kind in checked:
            continue
        _check_node(node)
        if not isinstance(node, (sympy.Number, sympy.Pow)):  # numbers and powers: one by one
            checked.add(kind)


def _check_node(node: sympy.Basic) -> None:
    if isinstance(node, _NOT_FINITE):
        raise LossDefinitionError(f"the loss contains {node}: infinities and nan are not losses")
    if node is sympy.I or (isinstance(node, sympy.Number) and not node.is_extended_real):
        raise LossDefinitionError("the loss contains a non-real constant (I): losses must be real")
    if isinstance(node, sympy.Pow):
        _check_power(node)
        return
    if isinstance(node, (sympy.Add, sympy.Mul, *_ALLOWED_ATOMS)) or node in _ALLOWED_CONSTANTS:
        return
    if isinstance(node, sympy.NumberSymbol):
        raise LossDefinitionError(
            f"the constant {node} is not supported (only pi and E are): write its value as a number"
        )
    function = FUNCTIONS.get(type(node).__name__)
    if function is not None and type(node) is function.sympy_class:
        return
    name = getattr(node, "func", type(node)).__name__
    raise LossDefinitionError(
        f"unsupported {name!r} in the loss; supported functions: {', '.join(sorted(ALLOWED_FUNCTION_NAMES))}"
    )


def _check_power(node: sympy.Pow) -> None:
    base, exponent = node.args  # the cheap structural tests first: a base's assumptions cost most
    if exponent.free_symbols and base.is_zero:
        raise LossDefinitionError(f"{node} is 0 only where its exponent is positive, and undefined elsewhere")
    if base.is_number and base.is_extended_negative and exponent.is_integer is not True:
        raise LossDefinitionError(
            f"{node}: a negative number to a non-integer power is not real (a loss must be real)"
        )


def _check_constants(constants: Sequence[sympy.Expr]) -> None:
    """Refuse a constant that float64 cannot hold, naming it: the compiled loss would see inf or 0
    (``constants``: the expression's :func:`~taylorlr.symbolic.walk.constant_parts`)."""
    from taylorlr.symbolic.parse import MAX_MAGNITUDE_BITS, magnitude_bits

    for node in constants:
        budget_check()
        if _clearly_normal(node):
            continue
        if magnitude_bits(node) > MAX_MAGNITUDE_BITS:
            raise LossDefinitionError(
                f"the constant {_shown(node)} is far beyond float64's range (estimated beyond"
                f" 2**±{MAX_MAGNITUDE_BITS}): scale the loss"
            )
        value = _numeric(node)
        if value is None:
            raise LossDefinitionError(f"the constant {_shown(node)} is not a real number float64 can hold")
        magnitude = abs(value)
        if magnitude > _FLOAT64_MAX:
            raise LossDefinitionError(
                f"the constant {_shown(node)} does not fit in float64 (max 1.8e308): scale the loss"
            )
        if 0 < magnitude < _FLOAT64_TINY:
            raise LossDefinitionError(
                f"the constant {_shown(node)} is below float64's smallest normal number (2.2e-308):"
                " it would lose its digits or become 0; scale the loss or drop the term"
            )


def _clearly_normal(node: sympy.Expr) -> bool:
    """A rational or float well inside float64's normal range, or zero (no evaluation needed: most
    numbers).

    >>> [_clearly_normal(sympy.Float(v)) for v in (1.5e300, "1e-400", 0)]
    [True, False, True]
    """
    if node.is_zero:
        return True
    if isinstance(node, sympy.Float):
        _, mantissa, exponent, _ = node._mpf_  # value = mantissa * 2**exponent
        bits = exponent + int(mantissa).bit_length()
    elif isinstance(node, sympy.Rational):
        bits = abs(int(node.p)).bit_length() - int(node.q).bit_length()
    else:
        return False
    return -1000 < bits < 1000


def _numeric(node: sympy.Expr) -> sympy.Float | None:
    if isinstance(node, sympy.Number):
        return sympy.Float(node, 20)
    try:
        value = node.evalf(20)
    except (ArithmeticError, ValueError, TypeError):
        return None
    return sympy.Float(value, 20) if isinstance(value, sympy.Number) else None


def _shown(node: sympy.Expr) -> str:
    """The constant as a person reads it: 2**9999, not its 3010 digits."""
    if isinstance(node, sympy.Float):
        return str(sympy.Float(node, 3))
    if isinstance(node, sympy.Integer) and abs(node) > 10**20:
        if abs(node) < 10**4000:
            return f"{sympy.Float(node, 3)} (an integer of {len(str(abs(node)))} digits)"
        return f"an integer of about {int(abs(node.p).bit_length() * 0.30103)} digits"
    if isinstance(node, sympy.Rational) and not isinstance(node, sympy.Integer) and node.q > 10**20:
        return f"{sympy.Float(node, 3)}"
    try:
        text = str(node)
    except ValueError:  # an integer of more than 4300 digits inside
        return f"a {type(node).__name__} of numbers too large to print"
    return text if len(text) <= 60 else text[:57] + "..."


def _resolve_symbols(
    symbols: Sequence[sympy.Symbol], names: Sequence[str | sympy.Symbol], role: str
) -> tuple[sympy.Symbol, ...]:
    """The symbols of the loss (``symbols``: each once) that ``names`` name, in their order."""
    if isinstance(names, str):
        names = (names,)
    by_name: dict[str, sympy.Symbol] = {}
    for symbol in symbols:
        if isinstance(symbol, sympy.Dummy):  # internal symbols are matched as objects, never by name
            continue
        if symbol.name in by_name:
            raise LossDefinitionError(f"two different symbols share the name {symbol.name!r}")
        by_name[symbol.name] = symbol
    result = []
    for item in names:
        if isinstance(item, sympy.Dummy):
            result.append(item)
            continue
        name = item.name if isinstance(item, sympy.Symbol) else str(item)
        result.append(
            by_name.get(name, item if isinstance(item, sympy.Symbol) else sympy.Symbol(name, real=True))
        )
    if len({_symbol_key(s) for s in result}) != len(result):
        raise LossDefinitionError(f"the {role} names {[s.name for s in result]} repeat")
    return tuple(result)


def _symbol_key(symbol: sympy.Symbol) -> tuple[str, int | None]:
    """A symbol's name, and its index when it is a Dummy (two Dummies may share a name)."""
    return symbol.name, getattr(symbol, "dummy_index", None)


def _resolve_variables(
    expr: sympy.Expr,
    symbols: Sequence[sympy.Symbol],
    variables: Sequence[str | sympy.Symbol] | None,
    data: tuple[sympy.Symbol, ...],
) -> tuple[sympy.Symbol, ...]:
    data_names = {s.name for s in data}
    free = {_symbol_key(s): s for s in symbols}
    if variables is None:
        data_keys = {_symbol_key(d) for d in data}
        unknowns = [s for key, s in free.items() if key not in data_keys]
        chosen = tuple(sorted(unknowns, key=lambda s: natural_key(s.name)))
    else:
        chosen = _resolve_symbols(symbols, variables, "variable")
        clash = sorted(data_names & {s.name for s in chosen})
        if clash:
            raise LossDefinitionError(f"{clash} declared both as variables and as data")
    if not chosen:
        raise LossDefinitionError(f"the loss {expr} has no variable: nothing to optimise")
    declared = {_symbol_key(s) for s in (*data, *chosen)}
    undeclared = sorted((s.name for key, s in free.items() if key not in declared), key=natural_key)
    if undeclared:
        raise LossDefinitionError(
            f"the symbols {undeclared} are neither variables nor data: "
            f"add them to variables=... or declare them with data=(...)"
        )
    return chosen
