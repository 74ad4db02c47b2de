"""Where a SIMD loop's build goes: each stage of ``simd_codegen.compile_loop`` timed on its own.

Run by hand (not part of the test suite):

    python bench/bench_loop_stages.py [--runs 3] [--cases osborne2 rosenbrock-1000 quartic-20]
    python bench/bench_loop_stages.py --baseline /work/main --runs 3

Each case runs in a fresh process: ``osborne2`` is a first ``tl.run`` of the catalogue problem with
the oracle off (its fused step's three loops and the derivatives' kernels), ``rosenbrock-1000`` and
``quartic-20`` the loss built and called as ``bench_build.py`` builds it, then every lazy kernel's
loop built ("later"). Every ``compile_loop`` call of the process is timed with ``time.perf_counter``
(no profiler: the Python stages are not inflated) and split into: the bounded CSE, the IR (its
construction and its text for LLVM, together: the two are one stage once the text is written
directly), LLVM's parsing and verification, its IR passes (optimised loops only), and its machine
code. The table sums every loop of the process; ``instr.`` is the IR instructions (the largest
loop's in brackets). Wall-clock seconds, median over ``--runs``. With ``--baseline PATH`` the
taylorlr at PATH runs too, alternated, on the same instrumentation (it patches the module's
functions, so any version whose ``compile_loop`` calls ``bounded_cse`` and ``_jit`` will do).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

CASES = ("osborne2", "rosenbrock-1000", "quartic-20")
STAGES = ("cse", "ir", "of which text", "parse", "passes", "codegen", "total")


def instrument() -> list[dict[str, float]]:
    """Patch ``simd_codegen`` so that each ``compile_loop`` call appends its stages' seconds."""
    from taylorlr.compile import simd_codegen as sc

    records: list[dict[str, float]] = []
    current: dict[str, float] = {}
    cse, compile_loop = sc.bounded_cse, sc.compile_loop

    def timed_cse(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return cse(*args, **kwargs)
        finally:
            current["cse"] = current.get("cse", 0.0) + time.perf_counter() - start

    def timed_jit(llvm: Any, source: str, optimise: bool = True, level: int = 3) -> tuple[Any, int]:
        start = time.perf_counter()
        machine = sc._target_machine(level)
        module = llvm.parse_assembly(source)
        module.verify()
        parsed = time.perf_counter()
        if optimise:
            tuning = llvm.create_pipeline_tuning_options(speed_level=3)
            tuning.loop_vectorization = tuning.slp_vectorization = True
            builder = llvm.create_pass_builder(machine, tuning)
            builder.getModulePassManager().run(module, builder)
        passed = time.perf_counter()
        engine = llvm.create_mcjit_compiler(module, machine)
        engine.finalize_object()
        done = time.perf_counter()
        current.update(parse=parsed - start, passes=passed - parsed, codegen=done - passed)
        current["instructions"] = source.count("\n  ")
        return engine, engine.get_function_address("loop")

    def timed_loop(*args: Any, **kwargs: Any) -> Any:
        current.clear()
        start = time.perf_counter()
        try:
            return compile_loop(*args, **kwargs)
        finally:
            total = time.perf_counter() - start
            if "codegen" in current:  # built (not refused)
                record = dict(current, total=total)
                record["ir"] = total - sum(record.get(k, 0.0) for k in ("cse", "parse", "passes", "codegen"))
                records.append(record)

    sc.bounded_cse, sc._jit, sc.compile_loop = timed_cse, timed_jit, timed_loop
    import llvmlite.ir as ir

    printed = ir.Module.__str__

    def timed_text(module: Any) -> str:  # llvmlite's printing of an IR module (the baseline's text)
        start = time.perf_counter()
        try:
            return printed(module)
        finally:
            current["of which text"] = time.perf_counter() - start

    ir.Module.__str__ = timed_text  # type: ignore[method-assign]
    for name in ("taylorlr.alpha.fused", "taylorlr.alpha._line_roots", "taylorlr.alpha.oracle"):
        module = sys.modules.get(name)
        llvm_loop = getattr(module, "llvm_loop", None)
        if llvm_loop is not None and llvm_loop is not sc:
            llvm_loop.compile_loop = timed_loop
    return records


def child(case: str) -> None:
    import numpy as np
    import sympy

    import taylorlr as tl
    import taylorlr.alpha.fused  # imported before the patch, which reaches it

    sys.path.insert(0, os.path.dirname(__file__))
    from bench_build import quartic, rosenbrock, sympy_sum

    warm = tl.Loss("a*b + sin(b)**2 + exp(a)").compile()  # lazy imports, the JIT
    warm.grad(np.ones(2)), warm.hess(np.ones(2))
    records = instrument()
    start = time.perf_counter()
    if case == "osborne2":
        problem = tl.problems.get("osborne2")
        tl.run(problem.loss, problem.x0, oracle=False)
    else:
        kind, size = case.rsplit("-", 1)
        n = int(size)
        x = sympy.symbols(f"x1:{n + 1}", real=True)
        loss = tl.Loss((rosenbrock if kind == "rosenbrock" else quartic)(x, n, sympy_sum), variables=x)
        f = loss.compile()
        f.grad(np.full(n, 0.5)), f.hess(np.full(n, 0.5))
        for function in f._functions.values():
            getattr(function.kernel, "loop_kernel", lambda: None)()
    wall = time.perf_counter() - start
    sums = {k: sum(r.get(k, 0.0) for r in records) for k in STAGES}
    instructions = [int(r["instructions"]) for r in records]
    print(json.dumps(sums | {"loops": len(records), "instr": sum(instructions), "largest": max(instructions),
                             "wall": wall}))  # fmt: skip


def measure(case: str, path: str | None) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", case]
    environment = os.environ | {"PYTHONPATH": path or os.getcwd()}
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=environment).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--baseline", help="another taylorlr checkout, alternated with this one")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    print(f"compile_loop's stages, every loop of the process summed (wall s), median of {args.runs}")
    print("| case | version | loops | instr. (largest) | " + " | ".join(STAGES) + " | process wall |")
    print("| --- | --- | --- | --- |" + " --- |" * (len(STAGES) + 1))
    versions = [("this", None)] + ([("baseline", args.baseline)] if args.baseline else [])
    for case in args.cases:
        rows: dict[str, list[dict[str, float]]] = {name: [] for name, _ in versions}
        for _ in range(args.runs):
            for name, path in versions:
                rows[name].append(measure(case, path))
        for name, _ in versions:
            mine = rows[name]
            cells = [f"{statistics.median(r[k] for r in mine):.3f}" for k in (*STAGES, "wall")]
            size = f"{int(mine[0]['instr']):,} ({int(mine[0]['largest']):,})"
            row = f"| {case} | {name} | {int(mine[0]['loops'])} | {size} | " + " | ".join(cells) + " |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
