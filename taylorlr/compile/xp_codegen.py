"""Code generation: engine expressions -> one batched Python function over ``xp``.

A kernel evaluates a group of expressions (say the n gradient entries) over
arrays, sharing common subexpressions (CSE) between them. Two generators:

* ``"xp"``: CSE, then Python source that calls only the array namespace
  ``xp`` given at run time, so one kernel serves NumPy, CuPy and any array-API
  library. Like ``sympy.lambdify`` it runs ``exec`` on *generated* source, but
  every user symbol is renamed to ``w_0, w_1, ...`` before printing and the
  globals hold only a whitelist of functions, so no name, string or attribute
  from the user's expression ever reaches the generated code (sympy issue 24990).
* ``"llvm"``: SymEngine's LLVM JIT (``symengine.Lambdify``), fused and compiled,
  for float64 NumPy arrays. Much faster per point; slower to build.

>>> import sympy
>>> x, y = sympy.symbols("x y")
>>> k = build_kernel([x * y, sympy.Integer(3)], [(x, y)], generator="xp")
>>> import numpy as np
>>> [np.asarray(out).tolist() for out in k.call(np, [[np.array([2.0]), np.array([5.0])]])]
[[10.0], 3]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy

from taylorlr.symbolic.derivatives import symengine_module

GENERATORS = ("xp", "llvm")


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


_FUNCTIONS: dict[str, Callable[[Any], Callable[..., Any]]] = {
    "sin": _scalar_or("sin", math.sin),
    "cos": _scalar_or("cos", math.cos),
    "tan": _scalar_or("tan", math.tan),
    "asin": _scalar_or("asin", math.asin),
    "acos": _scalar_or("acos", math.acos),
    "atan": _scalar_or("atan", math.atan),
    "atan2": _scalar_or("atan2", math.atan2),
    "sinh": _scalar_or("sinh", math.sinh),
    "cosh": _scalar_or("cosh", math.cosh),
    "tanh": _scalar_or("tanh", math.tanh),
    "asinh": _scalar_or("asinh", math.asinh),
    "acosh": _scalar_or("acosh", math.acosh),
    "atanh": _scalar_or("atanh", math.atanh),
    "exp": _scalar_or("exp", math.exp),
    "log": _scalar_or("log", math.log),
    "sqrt": _scalar_or("sqrt", math.sqrt),
    "abs": _scalar_or("abs", abs),
    "Abs": _scalar_or("abs", abs),
    "sign": _sign,
    "erf": _erf,
    "max": _folded("maximum", max),
    "Max": _folded("maximum", max),
    "min": _folded("minimum", min),
    "Min": _folded("minimum", min),
    "Heaviside": _heaviside,
    "DiracDelta": _dirac,
}
_EXTRA = {
    "cot": lambda xp: lambda a: 1 / _FUNCTIONS["tan"](xp)(a),
    "sec": lambda xp: lambda a: 1 / _FUNCTIONS["cos"](xp)(a),
    "csc": lambda xp: lambda a: 1 / _FUNCTIONS["sin"](xp)(a),
    "erfc": lambda xp: lambda a: 1 - _erf(xp)(a),
}
_FUNCTIONS.update(_EXTRA)
SUPPORTED_FUNCTIONS = frozenset(_FUNCTIONS)


def namespace_globals(xp: Any) -> dict[str, Any]:
    """The only names that generated code can see: whitelisted functions and constants."""
    table: dict[str, Any] = {name: bind(xp) for name, bind in _FUNCTIONS.items()}
    table.update({"pi": math.pi, "E": math.e, "__builtins__": {}})
    return table


@dataclass
class Kernel:
    """A compiled group of expressions, callable on groups of component arrays.

    ``call(xp, groups)`` takes, for each argument group (e.g. the point w and
    the vector v), a list of component arrays, and returns one array or Python
    number per expression (the caller broadcasts). ``source`` is the generated
    code, for inspection.
    """

    source: str
    generator: str
    n_outputs: int
    _function: Callable[..., Any]
    _bound: dict[int, Callable[..., Any]] = field(default_factory=dict, repr=False)

    def call(self, xp: Any, groups: Sequence[Any]) -> tuple[Any, ...]:
        if self.generator == "llvm":
            return self._function(*groups)  # type: ignore[no-any-return]
        function = self._bound.get(id(xp))
        if function is None:
            function = _bind(self.source, xp)
            self._bound[id(xp)] = function
        flat = [component for group in groups for component in group]
        return function(*flat)  # type: ignore[no-any-return]


def _bind(source: str, xp: Any) -> Callable[..., Any]:
    scope = namespace_globals(xp)
    exec(compile(source, "<taylorlr kernel>", "exec"), scope)  # noqa: S102 - generated source, see module docstring
    return scope["kernel"]  # type: ignore[no-any-return]


def build_kernel(
    exprs: Sequence[Any],
    arg_groups: Sequence[Sequence[Any]],
    *,
    generator: str = "xp",
) -> Kernel:
    """Compile ``exprs`` (SymPy or SymEngine) as functions of ``arg_groups``.

    Args:
        exprs: the expressions of one output group.
        arg_groups: tuples of symbols; the kernel takes one list of component
            arrays per group, in this order.
        generator: ``"xp"`` (any array namespace) or ``"llvm"`` (SymEngine JIT,
            float64 NumPy only; takes one (..., k) array per group instead).
    """
    if generator == "llvm" and exprs:  # SymEngine's Lambdify fails on an empty group
        return _llvm_kernel(exprs, arg_groups)
    if generator != "xp":
        raise ValueError(f"generator must be one of {GENERATORS}, got {generator!r}")
    return _xp_kernel(exprs, arg_groups)


def _safe_names(arg_groups: Sequence[Sequence[Any]]) -> tuple[dict[Any, Any], list[str]]:
    """Rename every argument symbol to ``a<group>_<index>`` (never the user's name)."""
    mapping: dict[Any, Any] = {}
    names: list[str] = []
    for g, group in enumerate(arg_groups):
        for i, symbol in enumerate(group):
            name = f"a{g}_{i}"
            mapping[symbol] = (
                type(symbol)(name) if not isinstance(symbol, sympy.Symbol) else sympy.Symbol(name)
            )
            names.append(name)
    return mapping, names


def _is_symengine(expr: Any) -> bool:
    engine = symengine_module() if type(expr).__module__.startswith("symengine") else None
    return engine is not None and isinstance(expr, engine.Basic)


def _cse(exprs: Sequence[Any]) -> tuple[list[tuple[Any, Any]], list[Any]]:
    if exprs and any(_is_symengine(e) for e in exprs):
        engine = symengine_module()
        converted = [engine.sympify(e) for e in exprs]
        replacements, reduced = engine.cse(converted)
        return list(replacements), list(reduced)
    replacements, reduced = sympy.cse(list(exprs), order="none")
    return list(replacements), list(reduced)


def _xp_kernel(exprs: Sequence[Any], arg_groups: Sequence[Sequence[Any]]) -> Kernel:
    mapping, names = _safe_names(arg_groups)
    renamed = _rename_all(exprs, mapping)
    replacements, reduced = _cse(renamed)
    lines = [f"def kernel({', '.join(names)}):"]
    lines += [f"    {symbol} = {expr}" for symbol, expr in replacements]
    lines.append(f"    return ({''.join(f'{e}, ' for e in reduced)})")
    source = "\n".join(lines) + "\n"
    return Kernel(source, "xp", len(exprs), _function=lambda *a: None)


def _rename_all(exprs: Sequence[Any], mapping: dict[Any, Any]) -> list[Any]:
    if any(_is_symengine(e) for e in exprs):
        engine = symengine_module()
        # a DictBasic is converted once; a dict would be converted per expression
        converted = engine.DictBasic({engine.sympify(k): engine.sympify(v) for k, v in mapping.items()})
        return [engine.sympify(e).xreplace(converted) for e in exprs]
    return [sympy.sympify(e).xreplace(mapping) for e in exprs]


def llvm_available() -> bool:
    """Whether SymEngine with its LLVM JIT is installed."""
    engine = symengine_module()
    return engine is not None and bool(getattr(engine, "have_llvm", False))


def _llvm_kernel(exprs: Sequence[Any], arg_groups: Sequence[Sequence[Any]]) -> Kernel:
    if not llvm_available():
        raise ValueError("the 'llvm' generator needs SymEngine built with LLVM")
    engine = symengine_module()
    args = [engine.sympify(s) for group in arg_groups for s in group]
    values = [engine.sympify(e) for e in exprs]
    function = engine.Lambdify(args, values, cse=True, backend="llvm", real=True)
    return Kernel("<symengine llvm>", "llvm", len(exprs), _function=function)
