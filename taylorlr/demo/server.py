"""The demo's local server: one static page and a JSON endpoint per panel, on 127.0.0.1 only.

Built on the standard library's ``http.server`` (no dependency for a page that one
person opens on their own machine). Every request is checked before any work:

- the server listens on 127.0.0.1 and nowhere else (:class:`DemoServer` refuses any other
  address), and answers only requests whose ``Host`` names it (127.0.0.1 or localhost with
  its port: a web page elsewhere cannot reach it by DNS rebinding) and, for a POST, whose
  ``Origin`` (when sent) is the page itself and whose body is ``application/json``;
- the body is read by :func:`taylorlr.demo.fields.read_request` (size, types, ranges,
  unknown fields), the loss text by taylorlr's parser;
- every answer is JSON or one of the three static files; an error is
  ``{"error": message, "type": name, ...}`` with status 400 (bad input: a ParseError adds
  ``reason`` and ``column``), 403 (another origin), 404, 411, 413, 415, 501 (a method other than GET
  and POST) or 422 (well-formed input on which the math has no answer, f''(w0) = 0, or that ran
  past the time budget), and 500 ("internal error", never a traceback).

>>> server = make_server(0)
>>> server.server_address[0], server.url.startswith("http://127.0.0.1:")
('127.0.0.1', True)
>>> server.server_close()
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from taylorlr.demo.fields import MAX_BODY, RequestError, read_request
from taylorlr.demo.worker import Worker
from taylorlr.errors import OptionError, ParseError, SingularHessianError, TaylorLRError

#: the only address the demo listens on
HOST = "127.0.0.1"
#: the seconds one request may compute before it is stopped (see :mod:`taylorlr.demo.worker`)
BUDGET = 10.0
#: path -> (file in ``static/``, content type)
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/demo.js": ("demo.js", "text/javascript; charset=utf-8"),
    "/demo.css": ("demo.css", "text/css; charset=utf-8"),
}
#: no script, style or image from anywhere but the page's own server; no framing
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class DemoServer(ThreadingHTTPServer):
    """An HTTP server for the demo page, bound to 127.0.0.1 only.

    Requests are computed one at a time (``lock``): the demo serves one person, and the
    caches of a loss are not shared between threads. With a ``budget`` (seconds) they are
    computed in a child process that is stopped past it (:class:`~taylorlr.demo.worker.Worker`);
    ``budget=None`` computes in this process, without a limit (for tests that patch the panels).

    Raises:
        OptionError: an address other than 127.0.0.1, or a port that cannot be listened on.
    """

    daemon_threads = True

    def __init__(self, address: tuple[str, int], *, budget: float | None = BUDGET) -> None:
        host, port = address
        if host != HOST:
            raise OptionError(f"the demo server listens on {HOST} only, got {host!r}")
        self.lock = threading.Lock()
        self.worker = None if budget is None else Worker(budget)
        try:
            super().__init__((HOST, port), DemoHandler)
        except OSError as error:
            raise OptionError(
                f"cannot listen on {HOST}:{port}: {error.strerror or error}; "
                "pick another --port, or --port 0 for a free one"
            ) from None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def allowed_hosts(self) -> set[str]:
        return {f"{HOST}:{self.port}", f"localhost:{self.port}"}

    def compute(self, name: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) of one panel request, one at a time, within the budget."""
        from taylorlr.demo.panels import PANELS, SCHEMAS

        with self.lock:
            if self.worker is not None:
                return self.worker.call(name, body)
            return answer_request(name, body, PANELS[name], SCHEMAS[name])

    def server_close(self) -> None:
        super().server_close()
        if self.worker is not None:  # a request still computing gets the "worker ended" error
            self.worker.close(final=True)


def make_server(port: int = 0, *, budget: float | None = BUDGET) -> DemoServer:
    """The demo server on 127.0.0.1:``port`` (0: a free port), listening; :meth:`serve_forever` serves.

    Its worker process starts at once, so that it has loaded SymPy when the page's first
    request comes. ``budget``: the seconds a request may compute (None: no limit, in-process).

    Raises:
        OptionError: the port is out of range or taken, or the budget is not positive.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise OptionError(f"port must be a whole number in [0, 65535], got {port!r}")
    if budget is not None and not 0 < budget < float("inf"):
        raise OptionError(f"budget must be a positive number of seconds, got {budget!r}")
    server = DemoServer((HOST, port), budget=budget)
    if server.worker is not None:
        server.worker.start()
    return server


class DemoHandler(BaseHTTPRequestHandler):
    """Answers GET for the page and ``/api/options``, POST ``/api/<panel>`` with JSON."""

    server: DemoServer
    server_version = "taylorlr-demo"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the terminal shows the URL and nothing per request."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors that http.server raises itself (a bad request line, an unknown method) as JSON too."""
        self._send_json(code, {"error": message or HTTPStatus(code).phrase, "type": "HTTPError"})

    def do_GET(self) -> None:
        if not self._host_allowed():
            return
        path = self.path.split("?", 1)[0]
        if path in STATIC:
            name, content_type = STATIC[path]
            body = resources.files("taylorlr.demo").joinpath("static").joinpath(name).read_bytes()
            self._send(HTTPStatus.OK, body, content_type)
        elif path == "/api/options":
            self._send_json(HTTPStatus.OK, options())
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no page {path!r}", "type": "NotFound"})

    def do_POST(self) -> None:
        if not self._host_allowed() or not self._origin_allowed():
            return
        from taylorlr.demo.panels import PANELS

        name = self.path.split("?", 1)[0].removeprefix("/api/")
        if name not in PANELS:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no endpoint {self.path!r}", "type": "NotFound"})
            return
        body = self._body()
        if body is None:
            return
        self._send_json(*self.server.compute(name, body))

    def _reject(self, status: HTTPStatus, message: str) -> None:
        self._send_json(status, {"error": message, "type": "RequestError"})

    def _host_allowed(self) -> bool:
        host = self.headers.get("Host", "")
        if host not in self.server.allowed_hosts():
            self._reject(HTTPStatus.BAD_REQUEST, f"the demo answers requests to {self.server.url} only")
            return False
        return True

    def _origin_allowed(self) -> bool:
        origin = self.headers.get("Origin")
        allowed = {f"http://{host}" for host in self.server.allowed_hosts()}
        if origin is not None and origin not in allowed:
            self._reject(HTTPStatus.FORBIDDEN, "the demo answers its own page only")
            return False
        return True

    def _body(self) -> bytes | None:
        content_type = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            self._reject(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "the body must be application/json")
            return None
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            self._reject(HTTPStatus.LENGTH_REQUIRED, "the request needs a Content-Length")
            return None
        if int(length) > MAX_BODY:
            self.close_connection = True
            self._reject(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the request body is {int(length)} bytes; the demo reads at most {MAX_BODY}",
            )
            return None
        return self.rfile.read(int(length))

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        try:
            body = json.dumps(payload, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as error:  # a value JSON cannot hold: a bug, said as such
            status, body = (
                HTTPStatus.INTERNAL_SERVER_ERROR,
                json.dumps(
                    {
                        "error": f"internal error: the answer is not JSON ({error}), please report",
                        "type": "InternalError",
                    }
                ).encode("utf-8"),
            )
        self._send(status, body, "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for header, value in SECURITY_HEADERS.items():
            self.send_header(header, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def answer_request(name: str, body: bytes, panel: Any, schema: Any) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON answer) of one panel's request: its data, or an error, never a traceback."""
    try:
        return HTTPStatus.OK, {"panel": name, **panel(read_request(body, schema))}
    except ParseError as error:
        return HTTPStatus.BAD_REQUEST, {
            **error_record(error), "field": "loss", "reason": error.reason, "column": error.column
        }  # fmt: skip
    except SingularHessianError as error:
        return HTTPStatus.UNPROCESSABLE_ENTITY, error_record(error)
    except (TaylorLRError, RecursionError) as error:
        record = error_record(error)
        if isinstance(error, RequestError) and error.field is not None:
            record["field"] = error.field
        return HTTPStatus.BAD_REQUEST, record
    except Exception as error:  # a bug: said, not shown as a traceback
        return HTTPStatus.INTERNAL_SERVER_ERROR, {
            "error": f"internal error: {type(error).__name__}: {error}, please report",
            "type": "InternalError",
        }


def error_record(error: BaseException) -> dict[str, Any]:
    message = "the loss is too deeply nested" if isinstance(error, RecursionError) else str(error)
    return {"error": message, "type": type(error).__name__}


def options() -> dict[str, Any]:
    """What the page's pickers and sliders offer: each panel's fields with their ranges and defaults."""
    from taylorlr.demo.panels import SCHEMAS

    def describe(field: Any) -> dict[str, Any]:
        out = {"default": list(field.default) if isinstance(field.default, tuple) else field.default}
        for attribute in ("low", "high", "max_length", "min_length"):
            if hasattr(field, attribute):
                out[attribute] = getattr(field, attribute)
        if hasattr(field, "choices"):
            out["choices"] = list(field.choices())
        return out

    return {
        panel: {name: describe(field) for name, field in schema.items()} for panel, schema in SCHEMAS.items()
    }
