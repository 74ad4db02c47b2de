"""Benchmark: the cold build of a loss, as a user meets it, against CasADi, counted alike.

Run by hand (not part of the test suite):

    python bench/bench_build.py                    # every case, 3 fresh processes per tool
    python bench/bench_build.py --runs 5 --cases rosenbrock-10 quartic-20
    python bench/bench_build.py --baseline /work/main   # also another checkout of taylorlr, alternated
    python bench/bench_build.py --stages --runs 5       # where taylorlr's time goes, stage by stage

Each measurement is one fresh Python process. It imports its libraries (not timed), warms up
their lazy imports on a different small function, clears SymPy's cache, and then times, with
one clock, everything a user waits for before the first numbers:

* taylorlr: the expression built in Python (SymPy symbols and arithmetic; ``text`` cases
  parse the loss from text instead), ``tl.Loss``, ``compile()`` with the generator it picks
  (``auto``; ``xp`` as a second column), and the first ``grad`` and ``hess`` calls at one point.
  An arithmetic kernel's SIMD loop is built only once it has been used enough
  (:mod:`taylorlr.compile.lazy_simd`; its first calls run on NumPy, the same bits): the last
  column, "later", is the time its loops take to build when that happens, not in the total;
* CasADi: the expression built in Python (``SX`` symbols and arithmetic), ``casadi.hessian``,
  a ``casadi.Function`` of gradient and Hessian, and its first call at the same point;
* with ``--naive``, the naive SymPy route up to n = 100: the same SymPy expression,
  ``sympy.diff`` per variable, ``sympy.hessian``, ``lambdify`` of both and their first calls.

With ``--stages``, each fresh process times taylorlr's stages one by one instead (wall clock,
``time.perf_counter``), in milliseconds: the expression (SymPy symbols and arithmetic, or the parser
on the ``text`` case), ``tl.Loss`` on it (its checks), the derivatives that ``compile()`` compiles,
``compile()`` itself, and the first ``grad`` and ``hess`` calls (each builds its kernel and evaluates
it at one point); medians and ranges over the processes.

Figures are medians over the fresh processes of the CPU seconds the process spent in that
span (``time.process_time``: every thread; the build is single-threaded, so on an idle machine
this is the wall time, and on the shared, loaded machines of this project it is the figure that
load does not inflate; every child runs with ``OPENBLAS_NUM_THREADS=1``, so that no idle BLAS thread's
spinning is counted); the tools alternate; ratios are taylorlr over CasADi ("run by run": the
range of the ratio of each run's "auto" to the CasADi run beside it). The last column is the floor
of that ratio for a loss built in SymPy: the user's SymPy expression alone (symbols and arithmetic,
before ``tl.Loss``) over CasADi's whole build; no code after the expression can bring the ratio
below it ("-" for the text case, whose parser is taylorlr's own).
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

CASES = {
    "rosenbrock-10-text": ("rosenbrock", 10, True),
    "rosenbrock-10": ("rosenbrock", 10, False),
    "rosenbrock-100": ("rosenbrock", 100, False),
    "rosenbrock-1000": ("rosenbrock", 1000, False),
    "quartic-10": ("quartic", 10, False),
    "quartic-20": ("quartic", 20, False),
}
DEFAULT_CASES = tuple(CASES)
#: the naive route's largest n (at n = 100 it takes seconds; it grows about as n^3)
NAIVE_LIMIT = 100


def rosenbrock(x: Any, n: int, total: Any = sum) -> Any:
    return total([100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(n - 1)])


def quartic(x: Any, n: int, total: Any = sum) -> Any:
    """The dense quartic (sum_i (i + 1) x_i)^4 + sum_i x_i^2: every Hessian entry is non-zero."""
    return total([(i + 1) * x[i] for i in range(n)]) ** 4 + total([x[i] ** 2 for i in range(n)])


def sympy_sum(terms: list[Any]) -> Any:
    """A sum as SymPy users write it: ``sympy.Add(*terms)`` (Python's ``sum`` is quadratic in SymPy)."""
    import sympy

    return sympy.Add(*terms)


def rosenbrock_text(n: int) -> str:
    return " + ".join(f"100*(x{i + 2} - x{i + 1}**2)**2 + (1 - x{i + 1})**2" for i in range(n - 1))


def child_taylorlr(kind: str, n: int, text: bool, generator: str) -> dict[str, float]:
    import numpy as np
    import sympy

    import taylorlr as tl
    from taylorlr.compile import simd_codegen

    simd_codegen.available()
    warm = tl.Loss("a*b + sin(b)**2 + exp(a)").compile(generator=generator)  # lazy imports, the JIT
    warm.grad(np.ones(2)), warm.hess(np.ones(2))
    sympy.core.cache.clear_cache()
    build = rosenbrock if kind == "rosenbrock" else quartic
    point = np.full(n, 0.5)
    start = time.process_time()
    if text:
        built = start  # the parser is taylorlr's own: counted in "loss", not as the user's expression
        loss = tl.Loss(rosenbrock_text(n))
    else:
        x = sympy.symbols(f"x1:{n + 1}", real=True)
        expr = build(x, n, sympy_sum)
        built = time.process_time()
        loss = tl.Loss(expr, variables=x)
    made = time.process_time()
    f = loss.compile(generator=generator)
    f.grad(point)
    graded = time.process_time()
    f.hess(point)
    end = time.process_time()
    for function in f._functions.values():  # the loops a lazy kernel builds later (lazy_simd.py)
        getattr(function.kernel, "loop_kernel", lambda: None)()
    later = time.process_time() - end
    return {
        "total": end - start,
        "expression": built - start if not text else float("nan"),
        "loss": made - start,
        "grad": graded - made,
        "hess": end - graded,
        "later": later,
    }


STAGES = ("expression", "Loss", "derivatives", "compile", "grad", "hess")


def child_stages(kind: str, n: int, text: bool) -> dict[str, float]:
    """Wall seconds of each of taylorlr's stages, timed one by one (see the module's docs)."""
    import numpy as np
    import sympy

    import taylorlr as tl
    from taylorlr.compile import simd_codegen
    from taylorlr.symbolic.parse import parse

    simd_codegen.available()
    warm = tl.Loss("a*b + sin(b)**2 + exp(a)").compile()
    warm.grad(np.ones(2)), warm.hess(np.ones(2))
    sympy.core.cache.clear_cache()
    build = rosenbrock if kind == "rosenbrock" else quartic
    point = np.full(n, 0.5)
    times: dict[str, float] = {}
    clock = time.perf_counter
    start = clock()
    if text:
        expr, x = parse(rosenbrock_text(n)), None
    else:
        x = sympy.symbols(f"x1:{n + 1}", real=True)
        expr = build(x, n, sympy_sum)
    times["expression"] = clock() - start
    stages = (
        ("Loss", lambda: tl.Loss(expr, variables=x)),
        ("derivatives", lambda: loss.compiled_derivatives),
        ("compile", lambda: loss.compile()),
        ("grad", lambda: f.grad(point)),
        ("hess", lambda: f.hess(point)),
    )
    for name, stage in stages:
        start = clock()
        result = stage()
        times[name] = clock() - start
        if name == "Loss":
            loss = result
        elif name == "compile":
            f = result
    return times


def print_stages(cases: list[str], runs: int, pythonpath: str | None, title: str) -> None:
    print(f"{title}: taylorlr's stages in a fresh process, wall milliseconds: median [min-max]\n")
    print(f"| case | {' | '.join(STAGES)} | total |")
    print("|---" * (len(STAGES) + 2) + "|")
    for case in cases:
        measured = [run_child("stages", case, pythonpath) for _ in range(runs)]
        for times in measured:
            times["total"] = sum(times[name] for name in STAGES)
        cells = []
        for name in (*STAGES, "total"):
            values = sorted(1000 * t[name] for t in measured)
            cells.append(f"{statistics.median(values):.2f} [{values[0]:.2f}-{values[-1]:.2f}]")
        print(f"| {case} | {' | '.join(cells)} |")
        sys.stdout.flush()
    print()


def child_naive(kind: str, n: int) -> dict[str, float]:
    import numpy as np
    import sympy

    a, b = sympy.symbols("a b", real=True)
    w = a * b + sympy.sin(b) ** 2
    sympy.lambdify((a, b), sympy.hessian(w, (a, b)))(1.0, 1.0)
    sympy.core.cache.clear_cache()
    build = rosenbrock if kind == "rosenbrock" else quartic
    point = np.full(n, 0.5)
    start = time.process_time()
    x = sympy.symbols(f"x1:{n + 1}", real=True)
    expr = build(x, n, sympy_sum)
    gradient = sympy.lambdify(x, [sympy.diff(expr, v) for v in x])
    hessian = sympy.lambdify(x, sympy.hessian(expr, x))
    gradient(*point), hessian(*point)
    return {"total": time.process_time() - start}


def child_casadi(kind: str, n: int) -> dict[str, float]:
    import casadi
    import numpy as np

    y = casadi.SX.sym("y", 2)
    h, g = casadi.hessian(y[0] * y[1] + casadi.sin(y[1]) ** 2, y)
    casadi.Function("w", [y], [g, h])(np.ones(2))
    build = rosenbrock if kind == "rosenbrock" else quartic
    point = np.full(n, 0.5)
    start = time.process_time()
    x = casadi.SX.sym("x", n)
    hessian, gradient = casadi.hessian(build(x, n), x)
    casadi.Function("f", [x], [gradient, hessian])(point)
    return {"total": time.process_time() - start}


#: every child runs without a BLAS thread pool: the builds are single-threaded, and ``import numpy``
#: otherwise starts OpenBLAS's pool, whose threads' CPU time (measured: 4 ms of spinning inside a 1.5 ms
#: CasADi build, in some processes and not others) ``time.process_time`` would count
SINGLE_THREADED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_child(tool: str, case: str, pythonpath: str | None) -> dict[str, float]:
    environment = dict(os.environ) | SINGLE_THREADED
    if pythonpath is not None:
        environment["PYTHONPATH"] = pythonpath
    command = [sys.executable, __file__, "--child", tool, case]
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=environment).stdout
    return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cases", nargs="+", choices=tuple(CASES), default=list(DEFAULT_CASES))
    parser.add_argument("--baseline", help="another taylorlr checkout (its root), timed alternately")
    parser.add_argument("--naive", action="store_true", help="also the naive SymPy route (n <= 100)")
    parser.add_argument("--stages", action="store_true", help="time taylorlr's stages one by one")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tool, case = args.child
        kind, n, text = CASES[case]
        if tool == "stages":
            print(json.dumps(child_stages(kind, n, text)))
        elif tool == "casadi":
            print(json.dumps(child_casadi(kind, n)))
        elif tool == "naive":
            print(json.dumps(child_naive(kind, n)))
        else:
            print(json.dumps(child_taylorlr(kind, n, text, tool.split(":")[1])))
        return
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if args.stages:
        print_stages(args.cases, args.runs, here, "this checkout")
        if args.baseline:
            print_stages(args.cases, args.runs, args.baseline, f"baseline {args.baseline}")
        return
    tools = {"taylorlr (auto)": ("taylorlr:auto", here), "taylorlr (xp)": ("taylorlr:xp", here)}
    if args.baseline:
        tools["baseline (auto)"] = ("taylorlr:auto", args.baseline)
        tools["baseline (xp)"] = ("taylorlr:xp", args.baseline)
    if args.naive:
        tools["naive SymPy"] = ("naive", here)
    tools["CasADi"] = ("casadi", here)
    print("Cold build in a fresh process, median CPU seconds; ratio = over CasADi\n")
    header = " | ".join(f"{name} | ratio" if name != "CasADi" else name for name in tools)
    print(
        f"| case | {header} | auto: loss / grad / hess | auto: later | auto / CasADi, run by run"
        " | SymPy expression alone / CasADi |"
    )
    print("|---" * (2 * len(tools)) + "|---|---|---|---|")
    for case in args.cases:
        times: dict[str, list[dict[str, float]]] = {name: [] for name in tools}
        for _ in range(args.runs):
            for name, (tool, path) in tools.items():
                if tool == "naive" and CASES[case][1] > NAIVE_LIMIT:
                    times[name].append({"total": float("nan")})
                    continue
                times[name].append(run_child(tool, case, path))
        median = {name: statistics.median(t["total"] for t in runs) for name, runs in times.items()}
        auto = times["taylorlr (auto)"]
        parts = [
            f"{statistics.median(t[key] for t in auto):.4f}" for key in ("loss", "grad", "hess", "later")
        ]
        cells = [
            f"{median[name]:.4f}" + ("" if name == "CasADi" else f" | {median[name] / median['CasADi']:.1f}x")
            for name in tools
        ]
        paired = sorted(a["total"] / c["total"] for a, c in zip(auto, times["CasADi"], strict=True))
        spread = f"{paired[0]:.1f}-{paired[-1]:.1f}x"
        floor = statistics.median(t["expression"] for t in auto) / median["CasADi"]
        floor_cell = "-" if floor != floor else f"{floor:.1f}x"  # NaN: the text case has no user expression
        row = [case, *cells, " / ".join(parts[:3]), parts[3], spread, floor_cell]
        print(f"| {' | '.join(row)} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
