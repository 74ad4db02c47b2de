"""The SIMD loops' IR written as text (compile/_ir_text.py) against llvmlite.ir, the reference it replaces.

One program, written once, is run through both builders: every method the loops use, on scalars and
vectors, the special doubles included. LLVM parses both texts and prints them back; the two
printouts, their values renamed in order of appearance, must be the same instructions in the same
order, and so must the instruction counts that choose a loop's code generation level.
"""

from __future__ import annotations

import ctypes
import math
import re
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from taylorlr.compile import _ir_text as tx
from taylorlr.compile import simd_codegen

llvm = pytest.importorskip("llvmlite.binding")
ir = pytest.importorskip("llvmlite.ir")

LABELS = ("entry", "body", "done")
SPECIAL = [0.0, -0.0, 1.5, math.inf, -math.inf, math.nan, 5e-324, -1.7976931348623157e308]


class Reference:
    """llvmlite.ir behind the text builder's interface (blocks by name, calls declared at first use)."""

    def __init__(self, arguments: list[Any]) -> None:
        self.module = ir.Module(name="taylorlr_loop")
        self.function = ir.Function(self.module, ir.FunctionType(ir.VoidType(), arguments), "loop")
        self.args = self.function.args
        self.blocks = {name: self.function.append_basic_block(name) for name in LABELS}
        self.builder: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.builder, name)

    def label(self, name: str) -> None:
        self.builder = ir.IRBuilder(self.blocks[name])

    def call(self, name: str, returns: Any, arguments: list[Any]) -> Any:
        callee = self.module.globals.get(name)
        if callee is None:
            callee = ir.Function(self.module, ir.FunctionType(returns, [a.type for a in arguments]), name)
        return self.builder.call(callee, arguments)

    def add_incoming(self, phi: Any, value: Any, label: str) -> None:
        phi.add_incoming(value, self.blocks[label])

    def cbranch(self, condition: Any, if_true: str, if_false: str) -> None:
        self.builder.cbranch(condition, self.blocks[if_true], self.blocks[if_false])

    @property
    def count(self) -> int:
        return sum(len(block.instructions) for block in self.function.blocks)


def reference_constant(type_: Any, value: Any) -> Any:
    """llvmlite's constant of the text builder's arguments (``None`` is undef)."""
    if value is None:
        return ir.Constant(type_, ir.Undefined)
    return ir.Constant(type_, list(value) if isinstance(value, range) else value)


TEXT_KIT = SimpleNamespace(
    double=tx.DOUBLE, i1=tx.I1, i32=tx.I32, i64=tx.I64, vector=tx.vector,
    pointer=lambda t: t.pointer(), constant=tx.constant,
)  # fmt: skip
REFERENCE_KIT = SimpleNamespace(
    double=ir.DoubleType(), i1=ir.IntType(1), i32=ir.IntType(32), i64=ir.IntType(64), vector=ir.VectorType,
    pointer=lambda t: t.as_pointer(),
    constant=reference_constant,
)  # fmt: skip


def program(k: Any, make: Any) -> Any:
    """A loop body using every method of the builder, through kit ``k`` (types and constants)."""
    v4, i4 = k.vector(k.double, 4), k.vector(k.i64, 4)
    b = make([k.pointer(k.double), k.pointer(k.double), k.i64])
    data, out, tiles = b.args
    b.label("entry")
    b.cbranch(b.icmp_signed("<=", tiles, k.constant(k.i64, 0)), "done", "body")
    b.label("body")
    tile = b.phi(k.i64)
    b.add_incoming(tile, k.constant(k.i64, 0), "entry")
    first = b.mul(b.add(b.mul(tile, k.constant(k.i64, 3)), k.constant(k.i64, 1)), k.constant(k.i64, 4))
    last = b.sub(tiles, k.constant(k.i64, 1))
    clamped = b.select(b.icmp_signed("<", first, last), first, last)
    pointer = b.bitcast(b.gep(data, [clamped]), k.pointer(v4))
    x = b.load(pointer, align=8)
    y = b.load(b.bitcast(b.gep(data, [k.constant(k.i64, 4)]), k.pointer(v4)), align=8)
    scalar = b.load(b.bitcast(b.gep(data, [first]), k.pointer(k.double)), align=8)  # no-op cast
    special = k.constant(v4, SPECIAL[:4])
    z = b.fdiv(b.fsub(b.fmul(x, special), k.constant(v4, SPECIAL[4:])), b.fadd(x, y))
    conditions = [b.fcmp_ordered(op, x, y) for op in ("<", "<=", "==", "!=", ">", ">=")]
    conditions += [b.fcmp_unordered(op, x, z) for op in ("<", "!=", ">", "uno")]
    either = b.and_(conditions[0], b.not_(conditions[-1]))
    both = b.or_(either, b.icmp_unsigned("==", conditions[1], conditions[2]))
    z = b.select(both, b.uitofp(conditions[3], v4), z)
    bits = b.and_(b.lshr(b.bitcast(z, i4), k.constant(i4, [52] * 4)), k.constant(i4, [2047] * 4))
    z = b.bitcast(b.shl(b.add(b.fptosi(z, i4), bits), k.constant(i4, [1] * 4)), v4)
    z = b.fadd(z, b.sitofp(bits, v4))
    z = b.call("llvm.sin.v4f64", v4, [z])
    lane = b.call("tan", k.double, [b.extract_element(z, k.constant(k.i32, 2))])
    z = b.insert_element(k.constant(v4, None), b.fadd(lane, scalar), k.constant(k.i32, 0))
    z = b.call("llvm.pow.v4f64", v4, [z, b.call("llvm.sin.v4f64", v4, [y])])
    wide = b.shuffle_vector(z, x, k.constant(k.vector(k.i32, 8), range(8)))
    z = b.shuffle_vector(wide, wide, k.constant(k.vector(k.i32, 4), range(2, 6)))
    b.store(z, b.bitcast(b.gep(out, [first]), k.pointer(v4)), align=8)
    following = b.add(tile, k.constant(k.i64, 1))
    b.add_incoming(tile, following, "body")
    b.cbranch(b.icmp_signed("<", following, tiles), "body", "done")
    b.label("done")
    b.ret_void()
    return b


def printed(source: str) -> str:
    """LLVM's own printout of ``source``, the values renamed in order of appearance."""
    text = str(llvm.parse_assembly(source))
    text = text.split("define", 1)[1]
    names: dict[str, str] = {}
    return re.sub(r'%(?:"[^"]*"|[\w.]+)', lambda m: names.setdefault(m.group(0), f"%n{len(names)}"), text)


def test_the_text_builder_writes_llvmlites_instructions_in_llvmlites_order() -> None:
    simd_codegen._initialize()
    ours = program(TEXT_KIT, lambda arguments: tx.Function("loop", arguments))
    theirs = program(REFERENCE_KIT, Reference)
    triple = llvm.get_process_triple()
    theirs.module.triple = triple
    assert printed(ours.module(triple)) == printed(str(theirs.module))
    assert ours.count == theirs.count  # the count that picks a loop's code generation level
    assert list(ours.declarations) == ["llvm.sin.v4f64", "tan", "llvm.pow.v4f64"]


def test_a_double_constant_is_stored_with_its_exact_bits() -> None:
    """NaN, both zeros, the infinities, the smallest subnormal and the largest double, through LLVM."""
    f = tx.Function("loop", [tx.DOUBLE.pointer(), tx.I64])
    f.label("entry")
    for k, value in enumerate(SPECIAL):
        f.store(tx.constant(tx.DOUBLE, value), f.gep(f.args[0], [tx.constant(tx.I64, k)]), align=8)
    f.ret_void()
    engine, address = simd_codegen._jit(llvm, f.module(llvm.get_process_triple()), optimise=False, level=0)
    out = np.zeros(len(SPECIAL))
    ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(address)(out.ctypes.data, 0)
    assert out.view(np.uint64).tolist() == np.array(SPECIAL).view(np.uint64).tolist()
    del engine
