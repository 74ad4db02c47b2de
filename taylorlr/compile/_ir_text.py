"""LLVM IR written directly as text: the instructions of one function, one line each.

:mod:`taylorlr.compile.simd_codegen` built its loops with ``llvmlite.ir``, a Python object per
instruction, operand and type, then printed the module (``str(module)``) for LLVM to parse: at
120,000 instructions (a large fused step) 2.6 s, twice what LLVM then spends generating machine
code at level 0. Here each instruction is one f-string appended to a list, and a value is its name
and its type. The methods carry the names, the operands and the text of ``llvmlite.ir.IRBuilder``'s
(``fadd``, ``fcmp_ordered``, ``select``, ``gep``, ``shuffle_vector`` ...), so a loop's instructions,
in the same order, are those llvmlite wrote; only the values' names differ (``%v12`` for
``%".12"``), which do not reach the machine code.

>>> f = Function("loop", [DOUBLE.pointer(), I64])
>>> f.label("entry")
>>> x = f.load(f.args[0], align=8)
>>> f.call("llvm.sqrt.f64", DOUBLE, [f.fmul(x, constant(DOUBLE, 2.0))])
<Value %v2: double>
>>> f.ret_void()
>>> print(f.module("x86_64-unknown-linux-gnu"))  # doctest: +NORMALIZE_WHITESPACE
; ModuleID = "taylorlr_loop"
target triple = "x86_64-unknown-linux-gnu"
target datalayout = ""
<BLANKLINE>
define void @"loop"(double* %a0, i64 %a1)
{
entry:
  %v0 = load double, double* %a0, align 8
  %v1 = fmul double %v0, 0x4000000000000000
  %v2 = call double @"llvm.sqrt.f64"(double %v1)
  ret void
}
<BLANKLINE>
declare double @"llvm.sqrt.f64"(double)
<BLANKLINE>
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from typing import Any

#: llvmlite's comparison operators, as ``IRBuilder`` maps them
_COMPARISONS = {">": "gt", "<": "lt", "==": "eq", "!=": "ne", ">=": "ge", "<=": "le"}


class Type:
    """An IR type: its text, and for a vector its element and number of lanes (``count``), for an
    integer its ``width``. Each type is made once (:func:`vector`, :meth:`pointer`): types compare
    by identity."""

    __slots__ = ("count", "element", "text", "width")

    def __init__(self, text: str, *, count: int = 0, width: int = 0, element: Type | None = None) -> None:
        self.text, self.count, self.width, self.element = text, count, width, element

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<Type {self.text}>"

    def pointer(self) -> Type:
        """A pointer to this type (typed, as llvmlite writes it)."""
        return _pointer(self)


@functools.cache
def _pointer(target: Type) -> Type:
    return Type(f"{target.text}*", element=target)


@functools.cache
def vector(element: Type, count: int) -> Type:
    """The type ``<count x element>``.

    >>> vector(DOUBLE, 4), vector(DOUBLE, 4) is vector(DOUBLE, 4)
    (<Type <4 x double>>, True)
    """
    return Type(f"<{count} x {element.text}>", count=count, width=element.width, element=element)


VOID = Type("void")
DOUBLE = Type("double")
I1, I32, I64 = (Type(f"i{width}", width=width) for width in (1, 32, 64))


class Value:
    """An operand: its text (a name such as ``%v12``, or a constant) and its type."""

    __slots__ = ("ref", "type")

    def __init__(self, ref: str, type_: Type) -> None:
        self.ref, self.type = ref, type_

    def __repr__(self) -> str:
        return f"<Value {self.ref}: {self.type.text}>"


def double_text(value: float) -> str:
    """A double as LLVM reads it exactly: the hexadecimal of its bits (NaN's payload included).

    >>> double_text(1.0), double_text(-0.0)
    ('0x3ff0000000000000', '0x8000000000000000')
    """
    return f"0x{struct.unpack('<Q', struct.pack('<d', value))[0]:016x}"


def constant(type_: Type, value: Any) -> Value:
    """A constant of ``type_``: a number, or one per lane (a sequence) for a vector; ``None`` is undef.

    >>> constant(vector(I32, 2), [0, 1]).ref, constant(I64, 3).ref, constant(vector(DOUBLE, 2), None).ref
    ('<i32 0, i32 1>', '3', 'undef')
    """
    if value is None:
        return Value("undef", type_)
    if type_.count:
        element = type_.element
        assert element is not None
        return Value("<" + ", ".join(f"{element.text} {_scalar(element, v)}" for v in value) + ">", type_)
    return Value(_scalar(type_, value), type_)


def _scalar(type_: Type, value: Any) -> str:
    return double_text(float(value)) if type_ is DOUBLE else str(int(value))


def _predicate(prefix: str, operator: str) -> str:
    return prefix + _COMPARISONS[operator] if operator in _COMPARISONS else operator


def _booleans(type_: Type) -> Type:
    """The type of a comparison of two values of ``type_``: i1, or a vector of them."""
    return vector(I1, type_.count) if type_.count else I1


class Function:
    """One function's body as text (``define void @name(...)``), built an instruction at a time.

    ``args`` are the arguments (``%a0``, ``%a1``, ...); ``count`` is the instructions so far (the
    terminators and stores included, as llvmlite counts a block's); ``declarations`` the functions
    called, by name (return type, argument types), declared after the body in the order of first call.
    """

    def __init__(self, name: str, arguments: Sequence[Type], noalias: Sequence[bool] = ()) -> None:
        self.name = name
        self.args = [Value(f"%a{k}", t) for k, t in enumerate(arguments)]
        flags = list(noalias) + [False] * (len(arguments) - len(noalias))
        self._signature = ", ".join(
            f"{t.text} noalias %a{k}" if alias else f"{t.text} %a{k}"
            for k, (t, alias) in enumerate(zip(arguments, flags, strict=True))
        )
        self.lines: list[str] = []
        self.count = 0
        self.declarations: dict[str, tuple[Type, tuple[Type, ...]]] = {}
        self._phis: dict[str, tuple[int, Type, list[str]]] = {}

    def label(self, name: str) -> None:
        """Start the basic block ``name``."""
        self.lines.append(f"{name}:")

    def _value(self, type_: Type, text: str) -> Value:
        name = f"%v{self.count}"
        self.count += 1
        self.lines.append(f"  {name} = {text}")
        return Value(name, type_)

    def _effect(self, text: str) -> None:
        self.count += 1
        self.lines.append(f"  {text}")

    def _binary(self, operator: str, a: Value, b: Value) -> Value:
        return self._value(a.type, f"{operator} {a.type.text} {a.ref}, {b.ref}")

    def add(self, a: Value, b: Value) -> Value:
        return self._binary("add", a, b)

    def sub(self, a: Value, b: Value) -> Value:
        return self._binary("sub", a, b)

    def mul(self, a: Value, b: Value) -> Value:
        return self._binary("mul", a, b)

    def fadd(self, a: Value, b: Value) -> Value:
        return self._binary("fadd", a, b)

    def fsub(self, a: Value, b: Value) -> Value:
        return self._binary("fsub", a, b)

    def fmul(self, a: Value, b: Value) -> Value:
        return self._binary("fmul", a, b)

    def fdiv(self, a: Value, b: Value) -> Value:
        return self._binary("fdiv", a, b)

    def and_(self, a: Value, b: Value) -> Value:
        return self._binary("and", a, b)

    def or_(self, a: Value, b: Value) -> Value:
        return self._binary("or", a, b)

    def not_(self, a: Value) -> Value:
        """The bitwise complement, as llvmlite's: ``xor`` with -1 (every bit set)."""
        ones = constant(a.type, [-1] * a.type.count) if a.type.count else constant(a.type, -1)
        return self._binary("xor", a, ones)

    def lshr(self, a: Value, b: Value) -> Value:
        return self._binary("lshr", a, b)

    def shl(self, a: Value, b: Value) -> Value:
        return self._binary("shl", a, b)

    def icmp_signed(self, operator: str, a: Value, b: Value) -> Value:
        prefix = "" if operator in ("==", "!=") else "s"
        return self._compare("icmp", prefix + _COMPARISONS[operator], a, b)

    def icmp_unsigned(self, operator: str, a: Value, b: Value) -> Value:
        prefix = "" if operator in ("==", "!=") else "u"
        return self._compare("icmp", prefix + _COMPARISONS[operator], a, b)

    def fcmp_ordered(self, operator: str, a: Value, b: Value) -> Value:
        """``fcmp`` false where either is NaN (``"<"`` is ``olt``); an LLVM predicate (``"uno"``) as it is."""
        return self._compare("fcmp", _predicate("o", operator), a, b)

    def fcmp_unordered(self, operator: str, a: Value, b: Value) -> Value:
        """``fcmp`` true where either is NaN (``"!="`` is ``une``)."""
        return self._compare("fcmp", _predicate("u", operator), a, b)

    def _compare(self, instruction: str, operator: str, a: Value, b: Value) -> Value:
        return self._value(_booleans(a.type), f"{instruction} {operator} {a.type.text} {a.ref}, {b.ref}")

    def select(self, condition: Value, a: Value, b: Value) -> Value:
        text = f"select {condition.type.text} {condition.ref}, {a.type.text} {a.ref}, {b.type.text} {b.ref}"
        return self._value(a.type, text)

    def _cast(self, operator: str, a: Value, to: Type) -> Value:
        """``a`` converted to ``to``: ``a`` itself, no instruction, when it has that type (as llvmlite)."""
        if a.type is to:
            return a
        return self._value(to, f"{operator} {a.type.text} {a.ref} to {to.text}")

    def fptosi(self, a: Value, to: Type) -> Value:
        return self._cast("fptosi", a, to)

    def sitofp(self, a: Value, to: Type) -> Value:
        return self._cast("sitofp", a, to)

    def uitofp(self, a: Value, to: Type) -> Value:
        return self._cast("uitofp", a, to)

    def bitcast(self, a: Value, to: Type) -> Value:
        return self._cast("bitcast", a, to)

    def gep(self, pointer: Value, indices: Sequence[Value]) -> Value:
        """``getelementptr`` of one index (llvmlite's ``gep(pointer, [index])``, not in bounds)."""
        (index,) = indices
        target = pointer.type.element
        assert target is not None
        text = f"getelementptr {target.text}, {pointer.type.text} {pointer.ref}, "
        return self._value(pointer.type, text + f"{index.type.text} {index.ref}")

    def load(self, pointer: Value, align: int) -> Value:
        target = pointer.type.element
        assert target is not None
        return self._value(target, f"load {target.text}, {pointer.type.text} {pointer.ref}, align {align}")

    def store(self, value: Value, pointer: Value, align: int) -> None:
        self._effect(f"store {value.type.text} {value.ref}, {pointer.type.text} {pointer.ref}, align {align}")

    def insert_element(self, vector_: Value, scalar: Value, index: Value) -> Value:
        text = f"insertelement {vector_.type.text} {vector_.ref}, {scalar.type.text} {scalar.ref}, "
        return self._value(vector_.type, text + f"{index.type.text} {index.ref}")

    def extract_element(self, vector_: Value, index: Value) -> Value:
        element = vector_.type.element
        assert element is not None
        text = f"extractelement {vector_.type.text} {vector_.ref}, {index.type.text} {index.ref}"
        return self._value(element, text)

    def shuffle_vector(self, a: Value, b: Value, mask: Value) -> Value:
        element = a.type.element
        assert element is not None
        text = f"shufflevector {a.type.text} {a.ref}, {b.type.text} {b.ref}, {mask.type.text} {mask.ref}"
        return self._value(vector(element, mask.type.count), text)

    def call(self, name: str, returns: Type, arguments: Sequence[Value]) -> Value:
        """A call of ``name`` (declared at its first call, with these argument types)."""
        self.declarations.setdefault(name, (returns, tuple(a.type for a in arguments)))
        listed = ", ".join(f"{a.type.text} {a.ref}" for a in arguments)
        return self._value(returns, f'call {returns.text} @"{name}"({listed})')

    def phi(self, type_: Type) -> Value:
        """A ``phi`` whose incoming values are given later (:meth:`add_incoming`)."""
        name = f"%v{self.count}"
        self._phis[name] = (len(self.lines), type_, [])
        self._effect("")  # written by :meth:`text`, once every incoming value is known
        return Value(name, type_)

    def add_incoming(self, phi: Value, value: Value, label: str) -> None:
        self._phis[phi.ref][2].append(f"[{value.ref}, %{label}]")

    def cbranch(self, condition: Value, if_true: str, if_false: str) -> None:
        self._effect(f"br {condition.type.text} {condition.ref}, label %{if_true}, label %{if_false}")

    def ret_void(self) -> None:
        self._effect("ret void")

    def text(self) -> str:
        """The function's definition and the declarations of what it calls."""
        for name, (line, type_, incoming) in self._phis.items():
            self.lines[line] = f"  {name} = phi {type_.text} " + ", ".join(incoming)
        declared = [
            f'declare {returns.text} @"{name}"(' + ", ".join(t.text for t in arguments) + ")\n"
            for name, (returns, arguments) in self.declarations.items()
        ]
        body = "\n".join(self.lines)
        return "\n".join([f'define void @"{self.name}"({self._signature})', "{", body, "}", "", *declared])

    def module(self, triple: str) -> str:
        """A module of this function alone, for ``llvmlite.binding.parse_assembly``."""
        header = f'; ModuleID = "taylorlr_loop"\ntarget triple = "{triple}"\ntarget datalayout = ""\n\n'
        return header + self.text()
