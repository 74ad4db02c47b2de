"""The demo's computations in a child process with a time budget per request.

A loss that the parser accepts can still cost minutes (the exact line search along
``(x + y + 1)**200`` finds the roots of a polynomial of degree 199). The server hands each
request to one child process and waits at most ``budget`` seconds: past it, the child is
stopped, the answer is a JSON error saying so, and the next request starts a fresh child.
The server itself never blocks longer than the budget.

The child is started with ``spawn`` (the server has threads, which ``fork`` would copy in an
undefined state) and kept between requests, so that the losses it has compiled stay cached.
"""

from __future__ import annotations

import multiprocessing
from http import HTTPStatus
from typing import Any


def _serve(connection: Any) -> None:
    """The child's loop: (panel name, request body) in, (HTTP status, JSON answer) out."""
    from taylorlr.demo.panels import PANELS, SCHEMAS
    from taylorlr.demo.server import answer_request

    while True:
        try:
            name, body = connection.recv()
        except (EOFError, OSError):  # the server went away
            return
        connection.send(answer_request(name, body, PANELS[name], SCHEMAS[name]))


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
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._connection: Any = None

    def start(self) -> None:
        """Start the child now (it imports SymPy and NumPy while the page loads)."""
        if self._process is not None and self._process.is_alive():
            return
        parent, child = self._context.Pipe()
        self._process = self._context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        child.close()
        self._connection = parent

    def call(self, name: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) of one request, or a budget error after ``budget`` seconds."""
        self.start()
        try:
            self._connection.send((name, body))
            if self._connection.poll(self.budget):
                return self._connection.recv()  # type: ignore[no-any-return]
        except (EOFError, OSError):  # the child died (out of memory, killed)
            self.close()
            return HTTPStatus.INTERNAL_SERVER_ERROR, {
                "error": "internal error: the demo's worker process ended; the next request starts a new one",
                "type": "InternalError",
            }
        self.close()
        return HTTPStatus.UNPROCESSABLE_ENTITY, {
            "error": (
                f"this took longer than the demo's budget of {self.budget:g} s and was stopped: try a "
                "smaller loss, fewer steps or a coarser grid (the library itself has no such limit)"
            ),
            "type": "BudgetExceededError",
        }

    def close(self) -> None:
        """Stop the child (a later :meth:`call` starts a new one)."""
        if self._process is not None:
            self._process.kill()
            self._process.join(timeout=5)
            self._connection.close()
        self._process = self._connection = None
