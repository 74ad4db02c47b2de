"""A test's work in a forked child with a wall limit: a regression that hangs fails, it does not stall CI."""

from __future__ import annotations

import os
import pickle
import select
import signal
from collections.abc import Callable


def in_fork(work: Callable[[], object], limit_s: float) -> tuple[str, object]:
    """("done", what ``work()`` returned) from a forked child; ("hang", None) when the child still ran
    after ``limit_s`` seconds (it is killed); ("crashed", None) when it ended without an answer.
    ``work`` must return something picklable and catch what it wants reported."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write_end, pickle.dumps(work()))
        os._exit(0)
    os.close(write_end)
    if not select.select([read_end], [], [], limit_s)[0]:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read_end)
        return "hang", None
    with os.fdopen(read_end, "rb") as source:
        data = source.read()
    os.waitpid(pid, 0)
    return ("done", pickle.loads(data)) if data else ("crashed", None)
