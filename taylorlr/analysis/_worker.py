"""Run the exact solve where it can be stopped: a child process, killed at its deadline.

SymPy's Groebner bases, FGLM and real-root isolation have no cancellation hook, and a single
call into them (or into a big-integer product) cannot be interrupted from inside. So the exact
solve runs in a child process, with an address-space limit; the parent waits for its answer
until the deadline, then kills it. The child's answer comes back pickled through a pipe. While it
works, the parent runs the numeric search on the other core.

How the child starts is decided at each start (``ExactWorker.start_method``):

- "fork": this process runs no other thread (:func:`~taylorlr.analysis._threads.multithreaded`).
  The child is forked from this one and inherits the task (nothing is pickled on the way in).
- "forkserver": other threads run (JAX, PyTorch, a user's thread, a Dask event loop). A fork would
  copy only this thread, and a lock another thread holds would stay held in the child forever, so
  the child is forked instead from multiprocessing's fork server: a fresh single-threaded
  interpreter, started once (it imports :data:`PRELOAD` then), from which every later child forks
  warm. The task is pickled: a top-level function and picklable arguments.
- "in-process": neither exists; the solve runs in this process under a SIGALRM timer (main thread
  only), as before.

>>> import functools, operator
>>> worker = ExactWorker(functools.partial(operator.mul, 6, 7))
>>> worker.outcome(deadline=time.monotonic() + 30)
Outcome(kind='done', value=42, message='')
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from taylorlr.analysis._threads import multithreaded
from taylorlr.errors import BudgetExceededError

#: the memory the exact solve may add to this process's address space (bytes)
EXACT_MEMORY = 2 * 1024**3


@dataclass(frozen=True)
class Outcome:
    """How the exact solve ended: "done" (``value``), "error" (``value`` is the exception),
    "budget-exceeded", "out-of-memory", "cancelled" or "crashed" (``message`` says more)."""

    kind: str
    value: Any = None
    message: str = ""


#: the modules the fork server imports when it starts, so that its children start warm: the task
#: (a loss and the exact solve, or a Taylor expansion) unpickles without importing anything
PRELOAD = ("sympy", "taylorlr.loss", "taylorlr.analysis.critical_points")


def start_method() -> str:
    """How a worker started now would start: "fork", "forkserver" or "in-process" (see the module)."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    if "fork" not in methods:
        return "in-process"
    if not multithreaded():
        return "fork"
    return "forkserver" if "forkserver" in methods else "in-process"


class ExactWorker:
    """``solve()`` running in a child process (or, without one, deferred to :meth:`outcome`).

    ``solve`` must pickle (a top-level function, or a :func:`functools.partial` of one, with
    picklable arguments) whenever threads run in this process: the child then starts from the fork
    server, from a thread of its own, so that the server's first start (a few tenths of a second)
    does not hold up the caller (``critical_points(wait=False)`` returns its numeric points at
    once). :meth:`ready` counts its wait from the child's start, so a small system is still solved
    exactly with no numeric search. ``start_method`` says how it started.
    """

    def __init__(self, solve: Callable[[], Any], memory: int = EXACT_MEMORY, lifetime: float = 1e6) -> None:
        self.solve = solve
        self.process: Any = None
        self.launcher: threading.Thread | None = None
        self.failure: Exception | None = None
        self.lock = threading.Lock()
        self.launched = self.stopped = False
        self.start_by = time.monotonic() + lifetime
        self.start_method = start_method()
        if self.start_method != "in-process":
            self._start(memory, lifetime)

    def _start(self, memory: int, lifetime: float) -> None:
        import multiprocessing

        context: Any = multiprocessing.get_context(self.start_method)
        self.receive, send = context.Pipe(duplex=False)
        arguments = (self.solve, send, memory, lifetime)
        if self.start_method == "fork":
            self.process = context.Process(target=_child, args=arguments, daemon=True)
            self._launch(send)
            return
        from taylorlr.analysis._server import ServerProcess

        context.set_forkserver_preload(list(PRELOAD))
        self.process = ServerProcess(target=_child, args=arguments, daemon=True)
        self.launcher = threading.Thread(target=self._launch, args=(send,), name="taylorlr-exact-start")
        self.launcher.daemon = True
        self.launcher.start()

    def _launch(self, send: Any) -> None:
        try:
            self.process.start()
        except Exception as error:  # the task does not pickle, or the fork server did not start
            self.failure = error
        finally:
            send.close()
        with self.lock:
            self.launched = True
            stopped = self.stopped
        if stopped:  # stopped while it started: the kill was left to this thread
            self._kill()

    def _started(self, timeout: float) -> bool:
        """Whether the start is over (done or failed), waiting ``timeout`` s at most for it."""
        if self.launcher is not None:
            self.launcher.join(max(0.0, timeout))
            return not self.launcher.is_alive()
        return True

    cancelled = False

    def ready(self, timeout: float) -> bool:
        """Whether the outcome can be had at once, waiting ``timeout`` s at most once the child runs
        (a start from the fork server is waited for first, within the child's lifetime; without a
        child: True)."""
        if self.process is None or self.cancelled:
            return True
        if not self._started(self.start_by - time.monotonic()):
            return False
        try:
            return self.failure is not None or bool(self.receive.poll(max(0.0, timeout)))
        except (EOFError, OSError):
            return True

    def outcome(self, deadline: float) -> Outcome:
        """The solve's outcome, waiting until ``deadline`` (``time.monotonic``) at most."""
        if self.cancelled:
            return Outcome("cancelled")
        if self.process is None:
            return _in_process(self.solve, deadline)
        try:
            if not self._started(deadline - time.monotonic()):
                return Outcome("budget-exceeded")
            if self.failure is not None:
                return Outcome("crashed", message=f"the exact worker could not start: {self.failure}")
            if not self.receive.poll(max(0.0, deadline - time.monotonic())):
                return Outcome("budget-exceeded")
            kind, value, message = self.receive.recv()
        except (EOFError, OSError):
            return Outcome("crashed", message=f"the exact worker ended with code {self.process.exitcode}")
        finally:
            self.stop()
        return Outcome(kind, value, message)

    def cancel(self) -> None:
        """Stop the solve for good: its outcome is "cancelled"."""
        self.cancelled = True
        self.stop()

    def stop(self) -> None:
        """Kill the child if it still runs (idempotent; a child still starting is killed once started)."""
        with self.lock:
            self.stopped = True
            launched = self.launched
        if launched:
            self._kill()

    def _kill(self) -> None:
        process = self.process
        if process is not None and process.pid is not None:
            if process.is_alive():
                process.kill()
            process.join(1.0)
        with contextlib.suppress(OSError, AttributeError):
            self.receive.close()


def _child(solve: Callable[[], Any], send: Any, memory: int, lifetime: float) -> None:
    _limit_memory(memory)
    if hasattr(signal, "setitimer"):  # ends itself past its deadline, even if nobody waits for it
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.setitimer(signal.ITIMER_REAL, lifetime)
    try:
        result: tuple[str, Any, str] = ("done", solve(), "")
    except MemoryError:
        result = (
            "out-of-memory",
            None,
            f"the exact solve needed more than {memory / 1024**3:g} GiB more memory",
        )
    except BaseException as error:
        result = ("error", error, f"{type(error).__name__}: {error}")
    try:
        send.send(result)
    except Exception as error:  # the value or the error does not pickle
        send.send(("crashed", None, f"the exact result could not be sent back: {error}"))
    send.close()


def _limit_memory(extra: int) -> None:
    """Cap the child's address space at its current size plus ``extra`` (where the OS allows)."""
    try:
        import resource

        with open(f"/proc/{os.getpid()}/statm") as statm:
            pages = int(statm.read().split()[0])
        limit = pages * os.sysconf("SC_PAGE_SIZE") + extra
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or limit < hard:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, ValueError):  # no /proc or no rlimits: unlimited, as before
        return


def _in_process(solve: Callable[[], Any], deadline: float) -> Outcome:
    try:
        with alarm(max(1e-3, deadline - time.monotonic())):
            return Outcome("done", solve())
    except BudgetExceededError:
        return Outcome("budget-exceeded")
    except MemoryError:
        return Outcome("out-of-memory", message="the exact solve ran out of memory")


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """Raise BudgetExceededError inside the block after ``seconds`` (SIGALRM, main thread only).

    Off the main thread (or without SIGALRM) the block runs to the end.
    """
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise BudgetExceededError(
            f"the exact critical-point solve ran past its budget of {seconds:.3g} s",
            stage="critical points",
        )

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
