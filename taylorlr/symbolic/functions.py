"""The function catalogue: every function a loss may contain, and every way to spell one in text.

Two tables, one source of truth for the parser, :class:`~taylorlr.Loss`'s check and both
code generators (``compile/xp_codegen.py`` and ``compile/simd_codegen.py`` key their
lowering tables by :data:`FUNCTIONS` and fail at import when one is missing):

* :data:`FUNCTIONS`: the SymPy function classes that can appear in a loss, by class name
  (``"Abs"``, ``"Max"``), with their arity, how fast they grow (for the parser's size
  limits), whether SymEngine differentiates them, and an open real interval where they are
  defined and differentiable (the catalogue test samples it). ``Heaviside`` and
  ``DiracDelta`` are never typed: differentiating ``Max`` and ``sign`` produces them.
* :data:`SPELLINGS`: the names a text may call (``abs``, ``ln``, ``relu``, ``sigmoid``...),
  with the SymPy expression each one builds and its arity in text.

>>> FUNCTIONS["acot"].arity, FUNCTIONS["exp"].growth.value
((1, 1), 'exponential')
>>> SPELLINGS["relu"].build(sympy.Symbol("x"))
Max(0, x)
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import sympy

#: Most arguments of one ``min``/``max`` once nested ones are flattened (a parser limit).
MAX_MIN_MAX_ARGUMENTS = 8


class Growth(str, enum.Enum):
    """How fast a function's value can grow with its argument's (for the parser's size bounds).

    >>> [growth.value for growth in Growth]
    ['preserving', 'exponential', 'logarithmic']
    >>> GROWTH_OF_CLASS[sympy.exp] is Growth.EXPONENTIAL, Growth.LOGARITHMIC == "logarithmic"
    (True, True)
    """

    PRESERVING = "preserving"  # |log|f(v)|| is about |log|v|| at most (sin, abs, max, ...)
    EXPONENTIAL = "exponential"  # |log|f(v)|| is about |v| (exp, sinh, cosh)
    LOGARITHMIC = "logarithmic"  # |f(v)| is about |log|v|| (log, asinh, ...)


@dataclass(frozen=True, kw_only=True)
class Function:
    """A SymPy function class a loss may contain.

    Attributes:
        name: the class name (what ``type(node).__name__`` says, in SymPy and SymEngine).
        sympy_class: the class itself.
        arity: fewest and most arguments of a node (``None``: any number).
        growth: for the parser's size estimates.
        smooth: False when SymEngine cannot differentiate it (SymPy does then).
        domain: an open interval of real arguments where it is defined and differentiable.
        typed: False for classes only differentiation produces (never in parsed text).

    >>> log = FUNCTIONS["log"]
    >>> log.sympy_class is sympy.log, log.arity, log.growth.value, log.domain
    (True, (1, 1), 'logarithmic', (0.2, 3.0))
    >>> FUNCTIONS["Max"].arity, FUNCTIONS["Abs"].smooth, FUNCTIONS["Heaviside"].typed
    ((2, None), False, False)
    """

    name: str
    sympy_class: type
    arity: tuple[int, int | None] = (1, 1)
    growth: Growth = Growth.PRESERVING
    smooth: bool = True
    domain: tuple[float, float] = (-2.0, 2.0)
    typed: bool = True


def _function(sympy_class: type, **fields: object) -> tuple[str, Function]:
    name = sympy_class.__name__
    return name, Function(name=name, sympy_class=sympy_class, **fields)  # type: ignore[arg-type]


_EXPONENTIAL, _LOGARITHMIC = Growth.EXPONENTIAL, Growth.LOGARITHMIC

FUNCTIONS: Mapping[str, Function] = MappingProxyType(
    dict(
        [
            _function(sympy.sin),
            _function(sympy.cos),
            _function(sympy.tan, domain=(-1.2, 1.2)),
            _function(sympy.cot, domain=(0.2, 2.5)),
            _function(sympy.sec, domain=(-1.2, 1.2)),
            _function(sympy.csc, domain=(0.2, 2.5)),
            _function(sympy.asin, domain=(-0.9, 0.9)),
            _function(sympy.acos, domain=(-0.9, 0.9)),
            _function(sympy.atan, domain=(-3.0, 3.0)),
            _function(sympy.acot, domain=(0.2, 3.0)),
            _function(sympy.atan2, arity=(2, 2), domain=(0.2, 2.0)),
            _function(sympy.sinh, growth=_EXPONENTIAL),
            _function(sympy.cosh, growth=_EXPONENTIAL),
            _function(sympy.tanh),
            _function(sympy.asinh, growth=_LOGARITHMIC, domain=(-3.0, 3.0)),
            _function(sympy.acosh, growth=_LOGARITHMIC, domain=(1.2, 3.0)),
            _function(sympy.atanh, growth=_LOGARITHMIC, domain=(-0.9, 0.9)),
            _function(sympy.exp, growth=_EXPONENTIAL),
            _function(sympy.log, growth=_LOGARITHMIC, domain=(0.2, 3.0)),
            _function(sympy.erf),
            _function(sympy.erfc),
            _function(sympy.Abs, smooth=False, domain=(-2.0, -0.2)),
            _function(sympy.sign, smooth=False, domain=(0.2, 2.0)),
            _function(sympy.Max, arity=(2, None), smooth=False),
            _function(sympy.Min, arity=(2, None), smooth=False),
            _function(sympy.Heaviside, arity=(1, 2), smooth=False, domain=(0.2, 2.0), typed=False),
            _function(sympy.DiracDelta, arity=(1, 2), smooth=False, domain=(0.2, 2.0), typed=False),
        ]
    )
)
"""Every function class a loss may contain, by class name."""

GROWTH_OF_CLASS: Mapping[type, Growth] = MappingProxyType(
    {f.sympy_class: f.growth for f in FUNCTIONS.values()}
)
"""Growth by SymPy class (for estimating the size of an expression already built)."""


@dataclass(frozen=True, kw_only=True)
class Spelling:
    """A function name a text may call and what it builds.

    Attributes:
        text: the name as typed.
        build: SymPy constructor or composition (``sigmoid(x)`` is ``1/(1 + exp(-x))``).
        arity: fewest and most positional arguments in text.
        growth: for the parser's size estimates.
        root: the power a root applies (SymPy computes it at once; the parser checks it first).
        lattice: a min/max (counted and flattened against the parser's limits).

    >>> sigmoid = SPELLINGS["sigmoid"]
    >>> sigmoid.build(sympy.Symbol("x")), sigmoid.growth.value
    (1/(1 + exp(-x)), 'exponential')
    >>> SPELLINGS["sqrt"].root, SPELLINGS["max"].lattice
    (1/2, True)
    """

    text: str
    build: Callable[..., sympy.Expr]
    arity: tuple[int, int] = (1, 1)
    growth: Growth = Growth.PRESERVING
    root: sympy.Rational | None = None
    lattice: bool = False


def _sigmoid(x: sympy.Expr) -> sympy.Expr:
    return sympy.Pow(sympy.Add(sympy.S.One, sympy.exp(sympy.Mul(sympy.S.NegativeOne, x))), -1)


def _softplus(x: sympy.Expr) -> sympy.Expr:
    return sympy.log(sympy.Add(sympy.S.One, sympy.exp(x)))


def _relu(x: sympy.Expr) -> sympy.Expr:
    return sympy.Max(sympy.S.Zero, x)


def _class_spelling(text: str, name: str, **fields: object) -> tuple[str, Spelling]:
    """``text`` calls the catalogue's class ``name`` directly, with its arity and growth."""
    function = FUNCTIONS[name]
    lattice = name in ("Max", "Min")
    most = MAX_MIN_MAX_ARGUMENTS if function.arity[1] is None else function.arity[1]
    spelling = Spelling(
        text=text,
        build=function.sympy_class,
        arity=(function.arity[0], most),
        growth=function.growth,
        lattice=lattice,
    )
    return text, Spelling(**{**spelling.__dict__, **fields})  # type: ignore[arg-type]


SPELLINGS: Mapping[str, Spelling] = MappingProxyType(
    dict(
        [
            *(_class_spelling(f.name, f.name) for f in FUNCTIONS.values() if f.typed),
            # replaces the entry above: log(x, b): the base-b logarithm, which SymPy builds as log(x)/log(b)
            _class_spelling("log", "log", arity=(1, 2)),
            _class_spelling("ln", "log"),
            _class_spelling("abs", "Abs"),
            _class_spelling("min", "Min"),
            _class_spelling("max", "Max"),
            ("sqrt", Spelling(text="sqrt", build=sympy.sqrt, root=sympy.Rational(1, 2))),
            # the principal cube root x**(1/3), as SymPy defines it: real for x >= 0
            ("cbrt", Spelling(text="cbrt", build=sympy.cbrt, root=sympy.Rational(1, 3))),
            ("sigmoid", Spelling(text="sigmoid", build=_sigmoid, growth=Growth.EXPONENTIAL)),
            ("softplus", Spelling(text="softplus", build=_softplus, growth=Growth.EXPONENTIAL)),
            ("relu", Spelling(text="relu", build=_relu, lattice=True)),
        ]
    )
)
"""Every function name a text may call, by name."""


def require_lowering(generator: str, table: Mapping[str, object]) -> None:
    """Refuse a generator whose lowering table is not exactly the catalogue (checked at import).

    >>> require_lowering("demo", {name: None for name in FUNCTIONS if name != "acot"})
    Traceback (most recent call last):
    ...
    RuntimeError: the demo generator lowers no ['acot'] of the function catalogue
    """
    missing = [name for name in FUNCTIONS if name not in table]
    if missing:
        raise RuntimeError(f"the {generator} generator lowers no {missing} of the function catalogue")
    extra = sorted(set(table) - set(FUNCTIONS))
    if extra:
        raise RuntimeError(f"the {generator} generator lowers {extra}, which the catalogue does not list")
