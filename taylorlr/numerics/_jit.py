"""Machine code from LLVM IR through llvmlite, for the numerics' small compiled loops.

>>> import ctypes
>>> source = 'define i64 @twice(i64 %x) {\\n  %y = add i64 %x, %x\\n  ret i64 %y\\n}'
>>> loop = build(source, "twice", ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64))
>>> loop.function(21)
42
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Loop:
    """A compiled function's entry point, and the engine that owns its machine code (kept alive with it)."""

    function: Any
    engine: Any


def build(source: str, name: str, prototype: Any, *, optimise: bool = False) -> Loop | None:
    """Compile ``source`` for this CPU and return its function ``name`` called through the ctypes
    ``prototype``; None where LLVM is not here or fails (the caller then takes its NumPy route).
    By default code generation at opt level 1 and no IR pass pipeline (straight-line arithmetic
    gains little from one, and builds several times faster); ``optimise``: LLVM's O3 pipeline and
    code generation at level 3 (for selects and branches that it simplifies). IEEE arithmetic: no
    fast-math, and no fused multiply-add unless the IR asks for one."""
    try:
        import llvmlite.binding as llvm

        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        machine = llvm.Target.from_default_triple().create_target_machine(
            cpu=llvm.get_host_cpu_name(),
            features=llvm.get_host_cpu_features().flatten(),
            opt=3 if optimise else 1,
        )
        module = llvm.parse_assembly(source)
        module.verify()
        if optimise:
            passes = llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options(speed_level=3))
            passes.getModulePassManager().run(module, passes)
        engine = llvm.create_mcjit_compiler(module, machine)
        engine.finalize_object()
    except Exception:
        return None
    return Loop(function=prototype(engine.get_function_address(name)), engine=engine)


class CountedLoop:
    """The frame of ``for member in range(count)`` in a ``void`` function's IR: an entry block
    (code placed with :attr:`builder` before :meth:`start` runs once), the body, and the return.

    >>> import llvmlite.ir as ir
    >>> index = ir.IntType(64)
    >>> module = ir.Module()
    >>> function = ir.Function(module, ir.FunctionType(ir.VoidType(), [index.as_pointer(), index]), "count")
    >>> out, count = function.args
    >>> loop = CountedLoop(function, count)
    >>> member = loop.start()
    >>> loop.builder.store(member, loop.builder.gep(out, [member]))  # doctest: +ELLIPSIS
    <...>
    >>> loop.close()
    >>> import ctypes, numpy
    >>> compiled = build(str(module), "count", ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64))
    >>> seen = numpy.zeros(3, dtype=numpy.int64); compiled.function(seen.ctypes.data, 3); seen.tolist()
    [0, 1, 2]
    """

    def __init__(self, function: Any, count: Any) -> None:
        import llvmlite.ir as ir

        self._ir, self._count = ir, count
        blocks = (function.append_basic_block(name) for name in ("entry", "body", "done"))
        self._entry, self._body, self._done = blocks
        self.builder = ir.IRBuilder(self._entry)
        self._member: Any = None

    def start(self) -> Any:
        """Close the entry block and open the body: the member's index (an i64 value) from here on."""
        b, zero = self.builder, self._ir.Constant(self._count.type, 0)
        b.cbranch(b.icmp_signed(">", self._count, zero), self._body, self._done)
        b.position_at_end(self._body)
        self._member = b.phi(self._count.type)
        self._member.add_incoming(zero, self._entry)
        return self._member

    def close(self) -> None:
        """The next member, back to the body while any is left, then return."""
        b = self.builder
        following = b.add(self._member, self._ir.Constant(self._count.type, 1))
        self._member.add_incoming(following, b.block)
        b.cbranch(b.icmp_signed("<", following, self._count), self._body, self._done)
        b.position_at_end(self._done)
        b.ret_void()


def addressable(*arrays: Any) -> bool:
    """Whether a compiled loop may read these arrays through a base address and strides counted in
    items: NumPy arrays, aligned, every stride a non-negative multiple of the item size (a field
    of a packed record array, or a reversed view, is not).

    >>> import numpy
    >>> packed = numpy.zeros(4, dtype=[("h", "f8"), ("flag", "i1")])
    >>> addressable(numpy.zeros((2, 3))), addressable(packed["h"]), addressable(numpy.zeros(3)[::-1])
    (True, False, False)
    """
    import numpy

    return all(
        isinstance(a, numpy.ndarray)
        and a.flags.aligned
        and all(stride >= 0 and stride % a.itemsize == 0 for stride in a.strides)
        for a in arrays
    )
