"""Whether this process runs threads that ``fork`` would leave behind holding their locks.

``os.fork()`` copies only the calling thread. A lock that another thread holds at that instant
(JAX/XLA's pools, PyTorch's intra-op pool, a user's thread, a Dask worker's event loop) stays held
forever in the child, which then hangs on it. Native threads are invisible to :mod:`threading`, so
on Linux the test is the number of entries of ``/proc/self/task``; elsewhere it is
``threading.active_count()``, and a runtime known to run native threads (:data:`NATIVE_THREADED`:
JAX) counts as soon as it is imported.

One kind of thread is left out of the count: the pool of an OpenBLAS built on pthreads (NumPy's and
SciPy's wheels), which OpenBLAS itself stops before every fork (its ``pthread_atfork`` handler joins
the pool, which restarts at the next BLAS call). Its size is read from the library's own counters
(``blas_server_avail``, ``blas_num_threads``); a library that does not say it runs on pthreads is
not left out (an OpenMP pool is not stopped at fork). Without that, importing NumPy alone would make
every process count as multithreaded. It is also what Python 3.12+ does: its DeprecationWarning on a
fork of a multithreaded process counts the threads once the fork has happened, OpenBLAS's pool gone.

>>> import threading
>>> release = threading.Event()
>>> thread = threading.Thread(target=release.wait, daemon=True)
>>> thread.start()
>>> multithreaded()
True
>>> release.set(); thread.join()
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ctypes

#: runtimes whose native threads a fork would leave behind, named by the module whose import
#: loads them, with why: where ``/proc`` is missing (native threads are invisible there), counted
#: as running threads once imported. With ``/proc`` their threads are counted, not their import (a
#: process that imported JAX without using it, or a child forked from one that used it, runs none)
NATIVE_THREADED = {
    "jaxlib": "JAX/XLA runs its own thread pools; JAX warns on every fork: 'os.fork() was called."
    " os.fork() is incompatible with multithreaded code, and JAX is multithreaded, so this will"
    " likely lead to a deadlock.'",
}
#: the names under which OpenBLAS builds export ``openblas_get_parallel`` (1: a pthreads pool)
_PARALLEL_NAMES = (
    "openblas_get_parallel",
    "openblas_get_parallel64_",
    "scipy_openblas_get_parallel",
    "scipy_openblas_get_parallel64_",
)
_PTHREADS = 1


def multithreaded() -> bool:
    """Whether a thread besides the caller runs in this process (OpenBLAS's own pool left out); where
    ``/proc`` is missing, whether Python runs another thread or a runtime of :data:`NATIVE_THREADED`
    is loaded."""
    try:
        if _threads() == 1:
            return False
        paths = _openblas_paths()
        before = forked_away(paths)
        threads = _threads()
    except OSError:  # no /proc: the threads Python started, and the runtimes known to start their own
        return threading.active_count() > 1 or any(name in sys.modules for name in NATIVE_THREADED)
    if forked_away(paths) != before:  # a pool started or stopped meanwhile: count it as a thread that runs
        return True
    return threads - before > 1


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def forked_away(paths: list[str] | None = None) -> int:
    """The threads of the OpenBLAS pools loaded in this process (or at ``paths``), which OpenBLAS
    stops before a fork."""
    return sum(_pool_size(path) for path in (_openblas_paths() if paths is None else paths))


def _openblas_paths() -> list[str]:
    with open("/proc/self/maps") as maps:
        lines = [line for line in maps.read().splitlines() if "openblas" in line.lower()]
    paths = {line.split(maxsplit=5)[-1] for line in lines if "/" in line}
    return sorted(path for path in paths if "openblas" in os.path.basename(path).lower())


#: each OpenBLAS library's handle, where it runs a pthreads pool (None: it does not, or cannot say)
_LIBRARIES: dict[str, ctypes.CDLL | None] = {}


def _pool_size(path: str) -> int:
    """The worker threads running in OpenBLAS's pthreads pool in the library at ``path`` (0 if unknown)."""
    import ctypes  # only where an OpenBLAS is loaded: the CLI's start-up does not pay for it

    if path not in _LIBRARIES:
        _LIBRARIES[path] = _pthreads_library(path)
    library = _LIBRARIES[path]
    if library is None or not ctypes.c_int.in_dll(library, "blas_server_avail").value:
        return 0
    return max(0, ctypes.c_int.in_dll(library, "blas_num_threads").value - 1)


def _pthreads_library(path: str) -> ctypes.CDLL | None:
    """The loaded library at ``path`` if it is an OpenBLAS running a pthreads pool, else None."""
    import ctypes

    try:
        library = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)  # the copy already loaded
        ctypes.c_int.in_dll(library, "blas_server_avail"), ctypes.c_int.in_dll(library, "blas_num_threads")
    except (OSError, ValueError):  # not loadable, or a counter missing: nothing is left out
        return None
    return library if _parallel(library) == _PTHREADS else None


def _parallel(library: ctypes.CDLL) -> int | None:
    import ctypes

    for name in _PARALLEL_NAMES:
        function = getattr(library, name, None)
        if function is not None:
            function.restype = ctypes.c_int
            return int(function())
    return None
