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
