"""The ``xp`` code generator: engine expressions -> one batched Python function over ``xp``.

A kernel evaluates a group of expressions (say the n gradient entries) over
arrays, sharing common subexpressions (CSE) between them: CSE, then Python source
that calls only the array namespace ``xp`` given at run time, so one kernel serves
NumPy, CuPy and any array-API library. Like ``sympy.lambdify`` it runs ``exec`` on
*generated* source, but every argument symbol is renamed to ``a0_0, a0_1, ...``
before printing (a free symbol that is not an argument is refused) and the globals
hold only the lowering of the function catalogue
(:data:`taylorlr.symbolic.functions.FUNCTIONS`), so no name, string or attribute
from the user's expression ever reaches the generated code (sympy issue 24990).
The other generator, for float64 NumPy, is :mod:`taylorlr.compile.simd_codegen`.

>>> import sympy
>>> x, y = sympy.symbols("x y")
>>> k = build_kernel([x * y, sympy.Integer(3)], [(x, y)])
>>> import numpy as np
>>> [np.asarray(out).tolist() for out in k.call(np, [[np.array([2.0]), np.array([5.0])]])]
[[10.0], 3]
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy

from taylorlr import _budget
from taylorlr.compile._cse import bounded_cse
from taylorlr.compile._estimate import Stopwatch
from taylorlr.errors import LossDefinitionError
from taylorlr.symbolic.derivatives import symengine_module
from taylorlr.symbolic.functions import require_lowering


def _scalar_or(xp_name: str, scalar: Callable[..., float]) -> Callable[..., Callable[..., Any]]:
    """A function that uses ``math`` for Python numbers and ``xp`` for arrays.

    Constant subexpressions such as ``sqrt(2)`` arrive as Python numbers, which
    strict array libraries (and CuPy) refuse in their elementwise functions.
    """

    def bind(xp: Any) -> Callable[..., Any]:
        array_fn = getattr(xp, xp_name)

        def apply(*args: Any) -> Any:
            if all(type(a) in (int, float) for a in args):  # not numpy.float64: keep inf on overflow
                return scalar(*args)
            return array_fn(*args)

        return apply

    return bind


def _erf(xp: Any) -> Callable[[Any], Any]:
    def erf(a: Any) -> Any:
        if _is_number(a):
            return math.erf(a)
        if xp.__name__.startswith("cupy"):
            import cupyx.scipy.special as special
        else:
            import scipy.special as special
        return special.erf(a)

    return erf


def _heaviside(xp: Any) -> Callable[..., Any]:
    def heaviside(a: Any, at_zero: float = 0.5) -> Any:
        if _is_number(a):
            return 1.0 if a > 0 else (at_zero if a == 0 else 0.0)
        one, zero = xp.ones_like(a), xp.zeros_like(a)
        return xp.where(a > 0, one, xp.where(a == 0, at_zero * one, zero))

    return heaviside


def _folded(xp_name: str, scalar: Callable[[Any, Any], Any]) -> Callable[[Any], Callable[..., Any]]:
    """Max(a, b, c, ...) and Min(...) as pairwise folds, scalar-aware like :func:`_scalar_or`."""

    def bind(xp: Any) -> Callable[..., Any]:
        array_fn = getattr(xp, xp_name)

        def fold(*args: Any) -> Any:
            result = args[0]
            for other in args[1:]:
                if _is_number(result) and _is_number(other):
                    result = scalar(result, other)
                else:
                    result = array_fn(_like(xp, result, other), _like(xp, other, result))
            return result

        return fold

    return bind


def _like(xp: Any, value: Any, array: Any) -> Any:
    """``value`` as an array of ``array``'s dtype when it is a Python number (strict libraries
    refuse to mix an integer array with a float one)."""
    return xp.asarray(value, dtype=array.dtype) if _is_number(value) and not _is_number(array) else value


def _is_number(a: Any) -> bool:
    return type(a) in (int, float)


def _sign(xp: Any) -> Callable[[Any], Any]:
    def sign(a: Any) -> Any:
        if _is_number(a):
            return float((a > 0) - (a < 0))
        return xp.sign(a)

    return sign


def _dirac(xp: Any) -> Callable[..., Any]:
    # d|x|/dx = sign(x) differentiates to 2*DiracDelta(x): zero away from the kink
    def dirac(a: Any, *_: Any) -> Any:
        return 0.0 if _is_number(a) else xp.zeros_like(a)

    return dirac


def _reciprocal_of(name: str) -> Callable[[Any], Callable[..., Any]]:
    """f(a) = 1 / g(a) for the lowered function ``name`` (cot, sec, csc)."""
    return lambda xp: lambda a: 1 / _LOWERING[name](xp)(a)


def _erfc(xp: Any) -> Callable[[Any], Any]:
    return lambda a: 1 - _erf(xp)(a)


def _acot(xp: Any) -> Callable[[Any], Any]:
    return lambda a: _LOWERING["atan"](xp)(1 / a)  # SymPy's branch: acot(x) = atan(1/x)


#: the lowering of every catalogue function: name -> (xp -> elementwise function)
_LOWERING: dict[str, Callable[[Any], Callable[..., Any]]] = {
    "sin": _scalar_or("sin", math.sin),
    "cos": _scalar_or("cos", math.cos),
    "tan": _scalar_or("tan", math.tan),
    "cot": _reciprocal_of("tan"),
    "sec": _reciprocal_of("cos"),
    "csc": _reciprocal_of("sin"),
    "asin": _scalar_or("asin", math.asin),
    "acos": _scalar_or("acos", math.acos),
    "atan": _scalar_or("atan", math.atan),
    "acot": _acot,
    "atan2": _scalar_or("atan2", math.atan2),
    "sinh": _scalar_or("sinh", math.sinh),
    "cosh": _scalar_or("cosh", math.cosh),
    "tanh": _scalar_or("tanh", math.tanh),
    "asinh": _scalar_or("asinh", math.asinh),
    "acosh": _scalar_or("acosh", math.acosh),
    "atanh": _scalar_or("atanh", math.atanh),
    "exp": _scalar_or("exp", math.exp),
    "log": _scalar_or("log", math.log),
    "erf": _erf,
    "erfc": _erfc,
    "Abs": _scalar_or("abs", abs),
    "sign": _sign,
    "Max": _folded("maximum", max),
    "Min": _folded("minimum", min),
    "Heaviside": _heaviside,
    "DiracDelta": _dirac,
}
require_lowering("xp", _LOWERING)
#: names the printers use beside the class names: sqrt(x) for x**(1/2); SymEngine's abs, max, min
_PRINTED = {"sqrt": _scalar_or("sqrt", math.sqrt), "abs": _LOWERING["Abs"]}
_PRINTED |= {"max": _LOWERING["Max"], "min": _LOWERING["Min"]}


def namespace_globals(xp: Any) -> dict[str, Any]:
    """The only names that generated code can see: whitelisted functions and constants.

    Of the builtins only ``__import__`` is there, and not for the generated code (its
    source names no builtin): C extensions that import a module while they run (CuPy's
    ufuncs do, on their first call for a dtype) look ``__import__`` up in the builtins of
    the calling frame, which is the kernel's. With no builtins at all every CuPy kernel
    failed with ``KeyError: '__import__'`` (found on the first GPU run).

    >>> import numpy as np
    >>> sorted(namespace_globals(np)["__builtins__"])
    ['__import__']
    """
    table: dict[str, Any] = {name: bind(xp) for name, bind in (_LOWERING | _PRINTED).items()}
    table.update({"pi": math.pi, "E": math.e, "__builtins__": {"__import__": builtins.__import__}})
    return table


@dataclass
class XpKernel:
    """A group of expressions as generated ``xp`` code (a :class:`~taylorlr.compile.kernel.Kernel`).

    ``call(xp, groups)`` takes, for each argument group (e.g. the point w and the
    vector v), a list of component arrays, and returns one array or Python number
    per expression (the caller broadcasts); :meth:`stacked` broadcasts and stacks.
    ``source`` is the generated code, for inspection.
    """

    source: str
    n_outputs: int
    #: the source compiled by Python (at build time, under the build's budget); bound per namespace
    code: Any = field(default=None, repr=False)
    _bound: dict[int, Callable[..., Any]] = field(default_factory=dict, repr=False)

    def call(self, xp: Any, groups: Sequence[Any]) -> tuple[Any, ...]:
        function = self._bound.get(id(xp))
        if function is None:
            if self.code is None:
                self.code = compile_source(self.source)
            function = _bind(self.code, xp)
            self._bound[id(xp)] = function
        flat = [component for group in groups for component in group]
        return function(*flat)  # type: ignore[no-any-return]

    def stacked(self, xp: Any, arrays: Sequence[Any], batch: tuple[int, ...], samples: Any) -> Any:
        """See :meth:`taylorlr.compile.kernel.Kernel.stacked`."""
        dtype = arrays[0].dtype
        sample_axis = samples is not None
        groups = [_components(xp, a, sample_axis) for a in arrays] + ([samples] if sample_axis else [])
        outputs = self.call(xp, groups)
        shape = batch + ((_sample_count(samples, batch),) if sample_axis else ())
        full = [xp.broadcast_to(xp.asarray(o, dtype=dtype), shape) for o in outputs]
        return xp.stack(full, axis=-1) if full else xp.zeros(shape + (0,), dtype=dtype)


def _components(xp: Any, array: Any, sample_axis: bool) -> list[Any]:
    parts = [array[..., i] for i in range(array.shape[-1])]
    return [xp.expand_dims(p, axis=-1) for p in parts] if sample_axis else parts


def _sample_count(samples: Sequence[Any], batch: tuple[int, ...]) -> int:
    import numpy

    shapes = [tuple(s.shape) for s in samples]
    return int(numpy.broadcast_shapes(batch + (1,), *shapes)[-1])


#: Python's ``compile`` of generated source, one call no budget check can stop: about 0.2-0.4 us of
#: CPU per character (measured: 959,187 characters, the value of a 20,000-term sum, 0.36 s),
#: estimated at 1 us and started only when that fits in the budget
COMPILE_SECONDS_PER_CHARACTER = 1e-6


def compile_source(source: str, watch: Stopwatch | None = None) -> Any:
    """The kernel's source compiled by Python, once its estimated time fits in the active budget."""
    (watch or Stopwatch()).reserve(COMPILE_SECONDS_PER_CHARACTER * len(source), "Python's compiler")
    try:
        return compile(source, "<taylorlr kernel>", "exec")
    except (RecursionError, MemoryError) as error:
        raise LossDefinitionError(
            "the loss's expressions are too deeply nested or too long on one line for Python's compiler"
            " (the 'xp' generator): use generator='simd' (float64 NumPy) or split the loss"
        ) from error


def _bind(code: Any, xp: Any) -> Callable[..., Any]:
    scope = namespace_globals(xp)
    exec(code, scope)  # noqa: S102 - generated source, see module docstring
    return scope["kernel"]  # type: ignore[no-any-return]


def build_kernel(
    exprs: Sequence[Any], arg_groups: Sequence[Sequence[Any]], *, generator: str = "xp"
) -> XpKernel:
    """Compile ``exprs`` (SymPy or SymEngine) as functions of ``arg_groups``.

    Args:
        exprs: the expressions of one output group.
        arg_groups: tuples of symbols; the kernel takes one list of component
            arrays per group, in this order. Every free symbol of ``exprs`` must be one.
        generator: ``"xp"`` only (kept for callers that name it; the SIMD kernels are
            :func:`taylorlr.compile.simd_codegen.build_kernel`).

    Raises:
        ValueError: an expression has a free symbol that no group holds, or another generator.
    """
    if generator != "xp":
        raise ValueError(f"this module builds 'xp' kernels, not {generator!r}")
    watch = Stopwatch()
    renamed, names = rename_arguments(exprs, arg_groups)
    replacements, reduced = _cse(renamed, watch)
    lines = [f"def kernel({', '.join(names)}):"]
    hoisted = _LongSums(lines)
    for k, (symbol, expr) in enumerate(replacements):
        if k % 1000 == 999:
            _budget.check()
        lines += _assignment(str(symbol), hoisted(expr))
    reduced = [hoisted(expr) for expr in reduced]
    outputs = []
    for k, expr in enumerate(reduced):
        if k % 1000 == 999:
            _budget.check()
        if _is_long_sum(expr):
            lines += _assignment(f"_out{k}", expr)
            outputs.append(f"_out{k}")
        else:
            outputs.append(str(expr))
    lines.append(f"    return ({''.join(f'{e}, ' for e in outputs)})")
    source = "\n".join(lines) + "\n"
    return XpKernel(source, len(exprs), compile_source(source, watch))


#: Terms per line of a long sum: Python's compiler recurses once per ``+`` of a line, and a
#: 10**4-term sum on one line exhausts its stack (RecursionError during compilation).
_TERMS_PER_LINE = 200


def _is_long_sum(expr: Any) -> bool:
    return len(expr.args) > _TERMS_PER_LINE and type(expr).__name__ == "Add"


class _LongSums:
    """Every long sum *inside* an expression (a product's factor, a function's argument) assigned to
    a name first, a chunk of terms per line, innermost first: printed in place it would be one line
    that Python's compiler recurses through once per ``+`` (the HVP of a 10**4-term sum is a vector
    component times that sum)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines, self.count = lines, 0

    def __call__(self, expr: Any) -> Any:
        add = _module_of(expr).Add
        while True:
            inner = [a for a in expr.atoms(add) if a != expr and _is_long_sum(a)]
            if not inner:
                return expr
            innermost = next(a for a in inner if not any(b != a and _is_long_sum(b) for b in a.atoms(add)))
            name = _module_of(expr).Symbol(f"_sum{self.count}")
            self.count += 1
            self.lines += _assignment(str(name), innermost)
            expr = expr.subs({innermost: name})


def _module_of(expr: Any) -> Any:
    if _is_symengine(expr):
        return symengine_module()
    import sympy

    return sympy


def _assignment(target: str, expr: Any) -> list[str]:
    """``target = expr`` as lines; a long sum is added up a chunk of terms per line, left to right."""
    if not _is_long_sum(expr):
        return [f"    {target} = {expr}"]
    terms = expr.args
    lines = []
    for start in range(0, len(terms), _TERMS_PER_LINE):
        _budget.check()
        chunk = " + ".join(f"({term})" for term in terms[start : start + _TERMS_PER_LINE])
        lines.append(f"    {target} = {chunk}" if start == 0 else f"    {target} = {target} + {chunk}")
    return lines


def rename_arguments(
    exprs: Sequence[Any], arg_groups: Sequence[Sequence[Any]]
) -> tuple[list[Any], list[str]]:
    """``exprs`` with argument k of group g renamed ``a<g>_<k>`` (never a user's name), and the names.

    The renaming is simultaneous and covers every free symbol, so no user name, and no
    internal symbol that happens to share one (a Dummy printed as ``_v``), survives.

    >>> import sympy
    >>> a0_1, x = sympy.symbols("a0_1 x")
    >>> rename_arguments([a0_1 + 2 * x], [(a0_1, x)])
    ([a0_0 + 2*a0_1], ['a0_0', 'a0_1'])
    """
    engine = symengine_module() if any(_is_symengine(e) for e in exprs) else None
    module = engine if engine is not None else sympy
    mapping: dict[Any, Any] = {}
    names: list[str] = []
    for g, group in enumerate(arg_groups):
        for i, symbol in enumerate(group):
            names.append(f"a{g}_{i}")
            mapping[module.sympify(symbol)] = _renamed(module, names[-1], symbol)
    distinct = list(dict.fromkeys(module.sympify(e) for e in exprs))  # mirrored Hessian entries once
    renamed = (
        _renamed_together(engine, distinct, mapping)
        if engine is not None
        else _renamed_each(distinct, mapping)
    )
    return [renamed[module.sympify(e)] for e in exprs], names


def _renamed_together(engine: Any, distinct: list[Any], mapping: dict[Any, Any]) -> dict[Any, Any]:
    """SymEngine expressions renamed in one ``xreplace`` of them all, held as the arguments of one
    function: each subexpression they share is rebuilt once, where renaming them one by one rebuilt
    it in each (the dense quartic's Hessian, n = 20: 4 ms against 0.3 ms), and the table is
    converted once (a table per expression made renaming quadratic in n)."""
    held = engine.Function("_taylorlr_outputs")(*distinct)
    _refuse_stray(held.free_symbols, mapping)
    return dict(zip(distinct, held.xreplace(mapping).args, strict=True))


def _renamed_each(distinct: list[Any], mapping: dict[Any, Any]) -> dict[Any, Any]:
    """SymPy expressions renamed one by one, each with a table of its own symbols."""
    done = {}
    for k, expr in enumerate(distinct):
        if k % 1000 == 999:
            _budget.check()
        own = expr.free_symbols
        _refuse_stray(own, mapping)
        done[expr] = expr.xreplace({s: mapping[s] for s in own})
    return done


def _refuse_stray(symbols: Any, mapping: dict[Any, Any]) -> None:
    stray = set(symbols) - set(mapping)
    if stray:
        raise ValueError(f"the expressions have free symbols {sorted(map(str, stray))} that are no argument")


def _renamed(module: Any, name: str, symbol: Any) -> Any:
    """The argument's new symbol, with the old one's assumptions in SymPy: a real x renamed to a
    symbol that may be complex made SymPy rewrite ``Heaviside(x**943 - 1)`` through the real and
    imaginary parts of ``(re + i im)**943`` (minutes, for ``max(1, x**943)``)."""
    if module is sympy:
        return sympy.Symbol(name, **sympy.sympify(symbol).assumptions0)
    return module.Symbol(name)


def _is_symengine(expr: Any) -> bool:
    engine = symengine_module() if type(expr).__module__.startswith("symengine") else None
    return engine is not None and isinstance(expr, engine.Basic)


def _cse(exprs: Sequence[Any], watch: Stopwatch) -> tuple[list[tuple[Any, Any]], list[Any]]:
    if exprs and any(_is_symengine(e) for e in exprs):
        return bounded_cse(exprs, watch)
    replacements, reduced = sympy.cse(list(exprs), order="none")
    return list(replacements), list(reduced)
