"""The exact worker's start: fork in a plain process, the fork server where threads run.

Each scenario runs in fresh ``python`` children (so the first call pays what a first call pays),
``--repeat`` times; the table gives the median wall time of ``tl.solve('x**2+3*x*y**2')``, first
and second call, and its ratio to the plain process's in the same run:

- plain: ``import taylorlr`` only (its worker forks);
- thread: a Python thread blocked on an Event (the worker starts from the fork server, which the
  first call starts);
- jax: JAX initialised (``jnp.ones(3) + 1``: its thread pools run), as the thread case.

It also times the first answer of ``critical_points(wait=False)`` (the numeric points; the worker
starts after them, from a thread of its own on the fork server's path) and the exact answer, the
fork server's start alone (a worker computing 6 * 7, first and second, in a
process with a thread and SymPy already imported) and the decision itself (``start_method()``:
/proc and OpenBLAS's counters) in a process with NumPy's BLAS pool up. Run from the repository root::

    python bench/bench_worker_start.py --repeat 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

SCENARIOS = {
    "plain": "",
    "thread": "import threading; threading.Thread(target=threading.Event().wait, daemon=True).start()",
    "jax": "import jax.numpy as jnp; jnp.ones(3) + 1",
}

CHILD = """
import json, time
{prelude}
import taylorlr as tl
from taylorlr.analysis._worker import start_method
method = start_method()
times = []
for _ in range(2):
    started = time.perf_counter()
    tl.solve("x**2+3*x*y**2")
    times.append(time.perf_counter() - started)
print(json.dumps({{"method": method, "first": times[0], "second": times[1]}}))
"""

SERVER = """
import functools, json, operator, threading, time
import sympy, taylorlr.loss
from taylorlr.analysis._worker import ExactWorker
threading.Thread(target=threading.Event().wait, daemon=True).start()
times = []
for _ in range(2):
    started = time.perf_counter()
    ExactWorker(functools.partial(operator.mul, 6, 7)).outcome(time.monotonic() + 60)
    times.append(time.perf_counter() - started)
print(json.dumps({"method": "forkserver", "first": times[0], "second": times[1]}))
"""

PENDING = """
import json, time
{prelude}
import numpy, taylorlr as tl
loss = tl.Loss("x**4 + y**4 - x*y + x**3*y")
loss.gradient, loss.hessian
started = time.perf_counter()
result = loss.critical_points(wait=False)
first = time.perf_counter() - started
result.refined()
print(json.dumps({{"method": "", "first": first, "second": time.perf_counter() - started}}))
"""


def run(prelude: str, child: str = CHILD) -> dict[str, float | str]:
    command = [sys.executable, "-c", child.format(prelude=prelude) if "{prelude}" in child else child]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


DECISION = """
import json, time
import numpy
numpy.ones((64, 64)) @ numpy.ones((64, 64))  # NumPy's BLAS pool up, as in a real process
from taylorlr.analysis._worker import start_method
started = time.perf_counter()
for _ in range(2000):
    method = start_method()
print(json.dumps({"method": method, "first": (time.perf_counter() - started) / 2000, "second": 0.0}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    rows = {}
    for name, prelude in SCENARIOS.items():
        if name == "jax":
            try:
                import jax  # noqa: F401
            except ImportError:
                continue
        runs = [run(prelude) for _ in range(repeat)]
        first = statistics.median(float(r["first"]) for r in runs)
        second = statistics.median(float(r["second"]) for r in runs)
        rows[name] = (str(runs[0]["method"]), first, second)
    _, plain_first, plain_second = rows["plain"]
    print(f"tl.solve('x**2+3*x*y**2'), median of {repeat} fresh processes each")
    print(f"{'process':<8} {'method':<11} {'first (s)':>10} {'ratio':>7} {'second (s)':>11} {'ratio':>7}")
    for name, (method, first, second) in rows.items():
        print(
            f"{name:<8} {method:<11} {first:>10.4f} {first / plain_first:>6.2f}x"
            f" {second:>11.4f} {second / plain_second:>6.2f}x"
        )
    print("loss.critical_points(wait=False) on x**4 + y**4 - x*y + x**3*y, first call of the process")
    print(f"{'process':<8} {'first answer (s)':>17} {'exact (s)':>10}")
    for name in rows:
        runs = [run(SCENARIOS[name], PENDING) for _ in range(repeat)]
        first = statistics.median(float(r["first"]) for r in runs)
        print(f"{name:<8} {first:>17.4f} {statistics.median(float(r['second']) for r in runs):>10.4f}")
    server = [run("", SERVER) for _ in range(repeat)]
    first = statistics.median(float(r["first"]) for r in server)
    second = statistics.median(float(r["second"]) for r in server)
    print(f"fork server alone (6 * 7): first {first:.4f} s (its start), second {second:.4f} s")
    decisions = [run("", DECISION) for _ in range(repeat)]
    method = decisions[0]["method"]
    per_call = statistics.median(float(r["first"]) for r in decisions) * 1e6
    print(f"start_method() with NumPy's BLAS pool up: {method!r}, {per_call:.0f} us per call")


if __name__ == "__main__":
    main()
