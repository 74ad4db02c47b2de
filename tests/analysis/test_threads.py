"""multithreaded(): the threads a fork would leave behind are counted, OpenBLAS's own pool is not.

The pool is left out because OpenBLAS stops it before every fork; the subprocess test checks that
claim where it holds: right after a fork, the parent's pool threads are gone.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import types
from collections.abc import Iterator

import pytest

from taylorlr.analysis import _threads
from taylorlr.analysis._threads import multithreaded

_PROC = os.path.isdir("/proc/self/task")


@contextlib.contextmanager
def _a_thread_running() -> Iterator[None]:
    """A Python thread blocked on an event for the duration of the block."""
    release = threading.Event()
    thread = threading.Thread(target=release.wait, daemon=True)
    thread.start()
    try:
        yield
    finally:
        release.set()
        thread.join()


def test_a_python_thread_makes_the_process_multithreaded():
    with _a_thread_running():
        assert multithreaded()


@pytest.fixture
def without_proc(monkeypatch):
    """No /proc (as on macOS), and JAX not imported."""

    def no_proc(path: str) -> list[str]:
        raise FileNotFoundError(path)

    monkeypatch.setattr(os, "listdir", no_proc)
    monkeypatch.delitem(sys.modules, "jaxlib", raising=False)


def test_without_proc_the_python_threads_are_counted(without_proc):
    assert multithreaded() == (threading.active_count() > 1)
    with _a_thread_running():
        assert multithreaded()


def test_without_proc_an_imported_native_threaded_runtime_counts(without_proc, monkeypatch):
    monkeypatch.setitem(sys.modules, "jaxlib", types.ModuleType("jaxlib"))
    assert multithreaded()


def test_with_proc_an_import_alone_does_not_count(monkeypatch):
    """A child forked from a JAX process has JAX imported and one thread: it may fork."""
    monkeypatch.setattr(_threads, "_threads", lambda: 1)  # the OS shows this thread only
    monkeypatch.setitem(sys.modules, "jaxlib", types.ModuleType("jaxlib"))
    assert not multithreaded()


_POOL = """
import os
import numpy
from taylorlr.analysis._threads import forked_away, multithreaded
numpy.ones((64, 64)) @ numpy.ones((64, 64))  # the pool is up
pool, threads = forked_away(), len(os.listdir("/proc/self/task"))
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print(pool, threads, multithreaded(), len(os.listdir("/proc/self/task")))
"""


@pytest.mark.skipif(not _PROC, reason="the thread count comes from /proc")
def test_openblas_pool_is_the_threads_that_a_fork_ends():
    done = subprocess.run([sys.executable, "-c", _POOL], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pool, threads, threaded, after_fork = done.stdout.split()
    if pool == "0":
        pytest.skip("no OpenBLAS pthreads pool in this NumPy (one core, or another BLAS)")
    assert int(threads) == 1 + int(pool)  # the main thread and the pool, nothing else
    assert threaded == "False"
    assert after_fork == "1"  # OpenBLAS joined its pool before the fork
