"""The demo's computations in a child process with a time budget per request.

A loss that the parser accepts can still cost minutes (the exact line search along
``(x + y + 1)**200`` finds the roots of a polynomial of degree 199). The server hands each
request to one child process and waits at most ``budget`` seconds: past it, the child is
stopped, the answer is a JSON error saying so, and the next request starts a fresh child.
The server itself never blocks longer than the budget.

The child is ``python -m taylorlr.demo.worker`` (a plain subprocess, not ``multiprocessing``,
whose ``spawn`` would re-run the caller's main script), kept between requests so that the
losses it has compiled stay cached. It reads one JSON line per request on stdin
(``{"panel": ..., "body": ...}``) and writes one JSON line per answer
(``{"status": ..., "answer": ...}``).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from http import HTTPStatus
from pathlib import Path
from typing import Any

_STOPPED = object()


class Worker:
    """One child process that answers panel requests, each within ``budget`` seconds.

    >>> worker = Worker(budget=60.0)
    >>> status, answer = worker.call("onestep", b"{}")
    >>> int(status), answer["eta"], answer["w1"]
    (200, -0.5, -1.0)
    >>> worker.close()
    """

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self._process: subprocess.Popen[str] | None = None
        self._answers: queue.Queue[Any] = queue.Queue()
        self._swap = threading.Lock()  # close() may run in the server's thread and a request's at once
        self._ended = False

    def start(self) -> None:
        """Start the child now (it imports SymPy and NumPy while the page loads).

        Raises:
            OSError: the worker was ended (:meth:`close` with ``final``).
        """
        if self._ended:
            raise OSError("the demo's worker was ended with its server")
        if self._process is not None and self._process.poll() is None:
            return
        package_root = str(Path(__file__).resolve().parents[2])  # the same taylorlr in the child
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")])}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "taylorlr.demo.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            env=env,
        )
        self._answers = queue.Queue()
        threading.Thread(target=_read_answers, args=(self._process, self._answers), daemon=True).start()

    def call(self, name: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) of one request, or a budget error after ``budget`` seconds."""
        try:
            self.start()
            process, answers = self._process, self._answers  # close() may clear them meanwhile
            assert process is not None and process.stdin is not None
            process.stdin.write(json.dumps({"panel": name, "body": body.decode("latin-1")}) + "\n")
            process.stdin.flush()
            line = answers.get(timeout=self.budget)
        except queue.Empty:
            self.close()
            return HTTPStatus.UNPROCESSABLE_ENTITY, {
                "error": (
                    f"this took longer than the demo's budget of {self.budget:g} s and was stopped: try a "
                    "smaller loss, fewer steps or a coarser grid (the library itself has no such limit)"
                ),
                "type": "BudgetExceededError",
            }
        except (OSError, ValueError):  # the child's pipe broken, or closed by close() meanwhile
            line = _STOPPED
        if line is _STOPPED:  # the child died (out of memory, killed), or the server is closing
            self.close()
            then = "the server is closing" if self._ended else "the next request starts a new one"
            return HTTPStatus.INTERNAL_SERVER_ERROR, {
                "error": f"internal error: the demo's worker process ended; {then}",
                "type": "InternalError",
            }
        record = json.loads(line)
        return record["status"], record["answer"]

    def close(self, *, final: bool = False) -> None:
        """Stop the child (a later :meth:`call` starts a new one, unless ``final``).

        Safe to call from two threads at once (the server closing while a request past its
        budget stops the child): each takes the process from the worker before it stops it.
        """
        with self._swap:
            process, self._process = self._process, None
            self._ended = self._ended or final
        if process is not None:
            process.kill()
            process.wait(timeout=10)
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()


def _read_answers(process: subprocess.Popen[str], answers: queue.Queue[Any]) -> None:
    """The parent's reader: each line the child writes, then _STOPPED when it ends."""
    assert process.stdout is not None
    try:
        for line in process.stdout:
            answers.put(line)
    except (OSError, ValueError):  # closed under us by close()
        pass
    answers.put(_STOPPED)


def serve() -> None:
    """The child's loop: a request line in, an answer line out, until stdin closes.

    The answers go to the original stdout; anything else that writes to stdout (a stray print)
    goes to stderr, so that it cannot break a line.
    """
    from taylorlr.demo.panels import PANELS, SCHEMAS
    from taylorlr.demo.server import answer_request

    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    for line in sys.stdin:
        request = json.loads(line)
        name, body = request["panel"], request["body"].encode("latin-1")
        status, answer = answer_request(name, body, PANELS[name], SCHEMAS[name])
        answers.write(json.dumps({"status": int(status), "answer": answer}) + "\n")
        answers.flush()


if __name__ == "__main__":
    serve()
