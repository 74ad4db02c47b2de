"""The exact worker never forks a process in which other threads run: it starts from the fork server.

A fork copies only the calling thread, so a lock another thread holds stays held in the child (JAX
warns on every fork for that reason). With a thread running, the worker starts from
multiprocessing's fork server, the task pickled; alone, it forks as before. Either way the child's
answer, its kill at the deadline and its memory cap are the same.
"""

from __future__ import annotations

import functools
import importlib.util
import operator
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import sympy

import taylorlr as tl
from taylorlr._budget import Budget
from taylorlr.analysis._worker import ExactWorker, Outcome, start_method
from taylorlr.errors import BudgetExceededError


@pytest.fixture
def thread_running():
    """A Python thread blocked on an Event for the test's duration."""
    release = threading.Event()
    thread = threading.Thread(target=release.wait, daemon=True)
    thread.start()
    yield thread
    release.set()
    thread.join()


def test_with_a_thread_running_the_worker_starts_from_the_fork_server(thread_running):
    worker = ExactWorker(functools.partial(operator.mul, 6, 7))
    assert worker.start_method == "forkserver"
    assert worker.outcome(deadline=time.monotonic() + 60) == Outcome("done", 42)


def test_a_task_past_its_deadline_is_killed(thread_running):
    worker = ExactWorker(functools.partial(time.sleep, 600))
    assert worker.start_method == "forkserver"
    assert worker.outcome(deadline=time.monotonic() + 0.5).kind == "budget-exceeded"
    assert not worker.process.is_alive()
    assert worker.process.exitcode == -signal.SIGKILL


def test_memory_past_the_cap_is_out_of_memory(thread_running):
    worker = ExactWorker(functools.partial(bytearray, 2 * 1024**3), memory=64 * 1024**2)
    assert worker.start_method == "forkserver"
    outcome = worker.outcome(deadline=time.monotonic() + 60)
    assert outcome.kind == "out-of-memory"
    assert "0.0625 GiB" in outcome.message


def test_an_error_of_the_task_comes_back_typed(thread_running):
    outcome = ExactWorker(functools.partial(int, "seven")).outcome(deadline=time.monotonic() + 60)
    assert outcome.kind == "error" and isinstance(outcome.value, ValueError)


def test_the_budget_crosses_to_the_child_with_its_deadline(thread_running):
    """The child's remaining time lies between the parent's before the start and after the answer."""
    budget = Budget(stage="taylor", seconds=60)
    before = budget.remaining
    worker = ExactWorker(functools.partial(operator.attrgetter("remaining"), budget))
    remaining = worker.outcome(deadline=time.monotonic() + 60).value
    assert budget.remaining <= remaining <= before


def test_a_reservation_past_the_deadline_is_refused_in_the_child(thread_running):
    budget = Budget(stage="taylor", seconds=30)
    refused = ExactWorker(functools.partial(budget.reserve, 60.0, "reading the result back"))
    outcome = refused.outcome(deadline=time.monotonic() + 60)
    assert outcome.kind == "error" and isinstance(outcome.value, BudgetExceededError)
    assert "reading the result back would need about 60.0 s more" in str(outcome.value)
    allowed = ExactWorker(functools.partial(budget.reserve, 1.0, "reading the result back"))
    assert allowed.outcome(deadline=time.monotonic() + 60) == Outcome("done", None)


def test_taylor_and_critical_points_through_the_fork_server(thread_running):
    assert start_method() == "forkserver"
    x = sympy.Symbol("x", real=True)
    series = sympy.series(sympy.exp(sympy.sin(x)), x, 0, 6).removeO()
    assert sympy.expand(tl.Loss("exp(sin(x))").taylor({"x": 0}, order=5) - series) == 0
    with pytest.raises(tl.errors.PointError, match="not differentiable"):
        tl.Loss("sqrt(x)").taylor({"x": 0}, order=2)
    points = tl.Loss("x**2 + 3*x*y**2").critical_points(method="exact")
    assert [(p.point, str(p.kind), p.degenerate) for p in points] == [((0, 0), "saddle", True)]


def test_a_worker_stopped_while_it_starts_is_killed_once_started(thread_running):
    worker = ExactWorker(functools.partial(time.sleep, 600))
    worker.cancel()
    worker.launcher.join(60)
    assert worker.process.pid is not None and not worker.process.is_alive()
    assert worker.outcome(deadline=time.monotonic() + 60) == Outcome("cancelled")


def test_a_task_that_does_not_pickle_is_reported_not_raised(thread_running):
    outcome = ExactWorker(lambda: 6 * 7).outcome(deadline=time.monotonic() + 60)
    assert outcome.kind == "crashed" and "could not start" in outcome.message


def test_a_pending_solve_from_the_fork_server_refines_and_cancels(thread_running):
    pending = tl.Loss("x**2 + 3*x*y**2").critical_points(wait=False)
    assert str(pending.refinement) == "pending"
    refined = pending.refined()
    assert str(refined.refinement) == "done"
    assert [(p.point, p.exact) for p in refined] == [((0, 0), True)]
    cancelled = tl.Loss("x**4 + y**4 - x*y").critical_points(wait=False)
    cancelled.cancel()
    assert str(cancelled.refined().refinement) == "cancelled"


def test_without_the_fork_server_a_threaded_process_solves_in_process(thread_running, monkeypatch):
    import multiprocessing

    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["fork", "spawn"])
    worker = ExactWorker(lambda: 6 * 7)
    assert worker.start_method == "in-process" and worker.process is None
    assert worker.outcome(deadline=time.monotonic() + 60) == Outcome("done", 42)


# whole processes: the warnings that a fork of a threaded process raises are errors there ---------

_SOLVE = """
import multiprocessing.forkserver as server
import taylorlr as tl
from taylorlr.analysis._worker import start_method
method = start_method()
points = [(p.point, str(p.kind), p.exact) for p in tl.solve("x**2+3*x*y**2").critical_points]
print(method, points, server._forkserver._forkserver_pid is not None)
"""
_THREAD = "import threading; threading.Thread(target=threading.Event().wait, daemon=True).start()\n"
_SADDLE = "[((0, 0), 'saddle', True)]"


def _run(prelude: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-W", "error::RuntimeWarning", "-W", "error::DeprecationWarning"]
    return subprocess.run([*command, "-c", prelude + _SOLVE], capture_output=True, text=True, timeout=120)


def test_a_threaded_process_solves_exactly_without_a_fork_warning():
    done = _run(_THREAD)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == f"forkserver {_SADDLE} True"
    assert done.stderr == ""


def test_a_process_running_jax_solves_exactly_without_jax_s_fork_warning():
    if importlib.util.find_spec("jax") is None:  # not imported here: JAX in this process counts as threads
        pytest.skip("jax is not installed")
    done = _run("import jax.numpy as jnp\njnp.ones(3) + 1\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == f"forkserver {_SADDLE} True"
    assert "fork" not in done.stderr


def test_the_callers_script_is_not_run_again_in_the_worker(tmp_path):
    """multiprocessing would run an unguarded main script again in each child of the fork server."""
    script = tmp_path / "unguarded.py"
    script.write_text(_THREAD + "print('the script ran')\n" + _SOLVE)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["the script ran", f"forkserver {_SADDLE} True"]
    assert done.stdout.count("the script ran") == 1 and done.stderr == ""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="the thread count comes from /proc")
def test_a_single_threaded_process_still_forks_with_numpy_s_blas_pool_up():
    """OpenBLAS's pool (up after a product) is stopped by OpenBLAS at each fork: it does not count,
    where its size can be read. Where it cannot (NumPy 2.5's OpenBLAS exports no pool counters),
    its threads count as threads: the fork server, the safe side."""
    pool = "import os, numpy\nnumpy.ones((64, 64)) @ numpy.ones((64, 64))\n"
    probe = pool + "from taylorlr.analysis._threads import forked_away\n"
    probe += "print(forked_away() == len(os.listdir('/proc/self/task')) - 1)\n"
    readable = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert readable.returncode == 0, readable.stderr
    done = _run(pool)
    assert done.returncode == 0, done.stderr
    if readable.stdout.strip() == "True":  # the only other threads are the pool that a fork stops
        assert done.stdout.split("\n")[0] == f"fork {_SADDLE} False"
    else:
        assert done.stdout.split("\n")[0] == f"forkserver {_SADDLE} True"
    assert done.stderr == ""
