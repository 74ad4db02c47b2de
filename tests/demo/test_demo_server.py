"""The demo's server, through HTTP: its numbers against closed forms and tl.newton_step / tl.run,
and every kind of bad request refused with a JSON error (the loss box's with the parser's caret)."""

from __future__ import annotations

import http.client
import inspect
import io
import json
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import taylorlr as tl
from taylorlr.demo import panels
from taylorlr.demo.server import HOST, DemoServer, make_server
from taylorlr.demo.worker import Worker
from taylorlr.symbolic.parse import parse


def serving(budget):
    demo = make_server(0, budget=budget)
    threading.Thread(target=demo.serve_forever, daemon=True).start()
    return demo


@pytest.fixture(scope="module")
def server():
    """The server as `taylorlr demo` runs it: requests computed in its worker process (a generous
    budget, so that a slow CI machine does not turn a test into a budget test)."""
    demo = serving(budget=120.0)
    yield demo
    demo.shutdown()
    demo.server_close()


@pytest.fixture(scope="module")
def inline():
    """A server that computes in this process, so that a test can patch the panels."""
    demo = serving(budget=None)
    yield demo
    demo.shutdown()
    demo.server_close()


def post(server, panel, body, headers=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{server.url}api/{panel}",
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ---------------------------------------------------------------- source 000's panel


def test_the_defaults_are_source_000_with_its_misprint_beside_the_right_values(server):
    status, data = post(server, "onestep", {})
    assert status == 200
    # the source's own right values: eta = -0.5, w1 = w* = -1, f(w1) = -2
    right = (data["eta"], data["w1"], data["f_w1"], data["w_star"], data["kind"])
    assert right == (-0.5, -1, -2, -1, "maximum")
    # at w0 = -4, f = -16 + 8 - 3 = -11 and f' = 8 - 2 = 6; the source printed -27 and -10, f and f' at +4
    assert (data["f_w0"], data["df_w0"]) == (-11, 6)
    assert data["source_printed"] == {"w": 4, "f_w0": -27, "df_w0": -10}
    # the curve: f and its quadratic model at w0 (the same parabola here: f is quadratic)
    curve = data["curve"]
    assert curve["f"] == pytest.approx([-(w**2) - 2 * w - 3 for w in curve["w"]], rel=1e-15, abs=1e-13)
    assert curve["model"] == pytest.approx(curve["f"], rel=1e-15, abs=1e-13)
    assert min(curve["w"]) < -4 and max(curve["w"]) > -1


TENTHS = st.integers(-100, 100).map(lambda k: Fraction(k, 10))
HUNDREDTHS = st.integers(-100, 100).map(lambda k: Fraction(k, 100))


@settings(max_examples=12)
@given(a=TENTHS, b=TENTHS, c=TENTHS, w0=TENTHS, d=HUNDREDTHS)
def test_the_one_step_numbers_are_the_closed_forms_of_the_cubic(server, a, b, c, w0, d):
    body = {name: float(v) for name, v in {"a": a, "b": b, "c": c, "w0": w0, "d": d}.items()}
    status, data = post(server, "onestep", body)
    # f = d w^3 + a w^2 + b w + c: f' = 3 d w^2 + 2 a w + b, f'' = 6 d w + 2 a
    curvature, slope = 6 * d * w0 + 2 * a, 3 * d * w0**2 + 2 * a * w0 + b
    if curvature == 0:
        assert status == 422 and data["type"] == "SingularHessianError"
        return
    assert status == 200
    eta = 1 / curvature
    w1 = w0 - eta * slope
    assert Fraction(data["exact"]["eta"]) == eta and Fraction(data["exact"]["w1"]) == w1
    assert data["eta"] == float(eta) and data["w1"] == float(w1)
    assert data["f_w1"] == pytest.approx(float(d * w1**3 + a * w1**2 + b * w1 + c), rel=1e-12, abs=1e-12)
    # the misprint: f and f' at -w0
    assert Fraction(data["source_printed_exact"]["f_w0"]) == -d * w0**3 + a * w0**2 - b * w0 + c
    assert Fraction(data["source_printed_exact"]["df_w0"]) == 3 * d * w0**2 - 2 * a * w0 + b
    # the dashed curve is the quadratic model at w0, whose vertex is w1
    f0 = d * w0**3 + a * w0**2 + b * w0 + c
    model = [
        float(f0 + slope * (v - w0) + curvature / 2 * (v - w0) ** 2)
        for v in map(Fraction, data["curve"]["w"])
    ]
    assert data["curve"]["model"] == pytest.approx(model, rel=1e-12, abs=1e-9)


@pytest.mark.parametrize(
    ("body", "text"),
    [({"a": 1.5, "b": -0.7, "c": 2.0, "w0": 1.3, "d": 0.0}, "1.5*w**2 - 0.7*w + 2"),
     ({"a": -2.0, "b": 0.4, "c": 0.0, "w0": -3.1, "d": 0.25}, "0.25*w**3 - 2*w**2 + 0.4*w")],
)  # fmt: skip
def test_the_one_step_equals_tl_newton_step(server, body, text):
    status, data = post(server, "onestep", body)
    step = tl.newton_step(tl.Loss(text), [body["w0"]])
    assert status == 200
    assert data["eta"] == pytest.approx(float(step.eta), rel=1e-13)
    assert data["w1"] == pytest.approx(float(step.point[0]), rel=1e-13)


def test_a_zero_curvature_at_w0_is_a_json_error_not_a_traceback(server):
    status, data = post(server, "onestep", {"a": 0.0, "d": 0.0})
    assert status == 422 and data["type"] == "SingularHessianError" and "eta = 1/f''(w0)" in data["error"]


# ---------------------------------------------------------------- the plane


def test_the_plane_equals_tl_newton_step_and_lands_on_a_quadratic_s_stationary_point(server):
    text = "x**2 + x*y + 2*y**2 - x"
    status, data = post(server, "plane", {"loss": text, "at": [1.5, -0.5], "grid": 11})
    step = tl.newton_step(tl.Loss(text), [1.5, -0.5])
    assert status == 200
    # grad = (2x + y - 1, x + 4y) = 0 at (4/7, -1/7); H = [[2, 1], [1, 4]], eigenvalues 3 -+ sqrt(2)
    assert data["point"] == pytest.approx([4 / 7, -1 / 7], abs=1e-14)
    assert data["point"] == pytest.approx(step.point.tolist(), abs=1e-15)
    assert data["hessian"] == [[2, 1], [1, 4]]
    assert data["eigenvalues"] == pytest.approx([3 - 2**0.5, 3 + 2**0.5], rel=1e-14)
    assert data["curvature"] == "minimum" == str(step.curvature)
    for value, vector in zip(data["eigenvalues"], data["eigenvectors"], strict=True):
        assert np.allclose(np.array(data["hessian"]) @ vector, value * np.array(vector), atol=1e-13)
    assert data["f_start"] == 1.5**2 - 0.75 + 0.5 - 1.5


@pytest.mark.parametrize(
    ("text", "verdict"),
    [("x**2 - y**2", "saddle"), ("-x**2 - y**2 + x*y/2", "maximum"), ("x**2 + y**4", "minimum")],
)
def test_the_verdict_is_the_sign_pattern_of_h(server, text, verdict):
    status, data = post(server, "plane", {"loss": text, "at": [0.5, 0.5], "grid": 5})
    assert status == 200 and data["curvature"] == verdict


def test_the_contour_grid_holds_f_at_its_points(server):
    status, data = post(server, "plane", {"loss": "x**2 - 3*x*y", "window": [-1, 3, -2, 2], "grid": 5})
    grid = data["grid"]
    assert status == 200 and grid["x"] == [-1, 0, 1, 2, 3] and grid["y"] == [-2, -1, 0, 1, 2]
    for j, y in enumerate(grid["y"]):
        assert grid["f"][j] == [x**2 - 3 * x * y for x in grid["x"]]
    values = [v for row in grid["f"] for v in row]
    # the levels are quantiles of f on the grid: inside its range, increasing
    assert min(values) < grid["levels"][0] < grid["levels"][-1] < max(values)
    assert grid["levels"] == sorted(set(grid["levels"]))


def test_a_point_outside_the_domain_is_labelled_not_an_error(server):
    status, data = post(server, "plane", {"loss": "log(x) + y**2", "at": [-1.0, 0.0], "grid": 5})
    assert status == 200 and data["curvature"] == "nonfinite" and data["f_start"] is None


# ---------------------------------------------------------------- the alpha rules


def test_the_alpha_panel_is_tl_run_step_by_step(server):
    body = {"loss": "x**2 + 10*y**2", "at": [1.0, 1.0], "rule": "retsinas", "optimizer": "adam",
            "alpha0": 0.05, "gamma": 0.5, "steps": 12}  # fmt: skip
    status, data = post(server, "alpha", body)
    result = tl.run("x**2 + 10*y**2", [1.0, 1.0], "adam", "retsinas", alpha0=0.05, gamma=0.5, steps=12)
    history = result.history()
    assert status == 200 and data["status"] == str(result.status.item())
    assert data["alphas"] == history["alphas"].tolist()
    assert data["oracle_alphas"] == history["oracle_alphas"].tolist()
    assert data["points"] == history["points"].tolist()


def test_the_oracle_alpha_is_the_exact_line_search_on_a_quadratic(server):
    # f = x^2 + 10 y^2 with gd: omega = g, and the exact line search is g.g / g.H g
    status, data = post(server, "alpha", {"loss": "x**2 + 10*y**2", "at": [1.0, 1.0], "steps": 3})
    g, H = np.array([2.0, 20.0]), np.diag([2.0, 20.0])
    assert status == 200
    assert data["oracle_alphas"][0] == pytest.approx(g @ g / (g @ H @ g), rel=1e-14)
    # the exact rule with gamma = 1 takes the oracle's alpha one step later
    assert data["alphas"][1] == pytest.approx(data["oracle_alphas"][0], rel=1e-12)


# ---------------------------------------------------------------- the loss box: the parser decides

HOSTILE = [
    "__import__('os').system('touch /tmp/pwned')",
    "x + )",
    "x**2; import os",
    "lambda: x",
    "ｅｖａｌ(x)",
    "x.__class__",
    "exp(exp(exp(10)))",
    "2**10**10",
    "(" * 120 + "x" + ")" * 120,
    "open('/etc/passwd')",
]


@pytest.mark.parametrize("panel", ["plane", "alpha"])
@pytest.mark.parametrize("text", HOSTILE)
def test_a_hostile_loss_gets_the_parser_s_caret_message_and_nothing_runs(inline, monkeypatch, panel, text):
    import taylorlr.alpha.engine
    import taylorlr.numerics.newton

    ran = []
    monkeypatch.setattr(taylorlr.numerics.newton, "newton_step", lambda *a, **k: ran.append(a))
    monkeypatch.setattr(taylorlr.alpha.engine, "run", lambda *a, **k: ran.append(a))
    at = [0.0, 0.0]
    status, data = post(inline, panel, {"loss": text, "at": at})
    with pytest.raises(tl.ParseError) as expected:
        parse(text)
    assert status == 400 and data["type"] == "ParseError" and data["field"] == "loss"
    assert data["error"] == str(expected.value) and data["column"] == expected.value.column
    assert ran == [] and text not in panels._CACHE


@pytest.mark.parametrize(
    ("panel", "body", "message"),
    [
        ("onestep", b"not json", "not JSON"),
        ("onestep", b"[1, 2]", "must be a JSON object"),
        ("onestep", b'{"a": NaN}', "NaN is not a finite number"),
        ("onestep", b'{"a": 1e999}', "a must be a finite number"),
        ("onestep", b'{"a": "1"}', "a must be a number"),
        ("onestep", b'{"a": true}', "a must be a number"),
        ("onestep", b'{"a": 11}', "a must be in [-10, 10], got 11"),
        ("onestep", b'{"a": 1, "e": 2}', "unknown field 'e'"),
        ("onestep", b"\xff\xfe", "not JSON"),
        ("plane", b'{"grid": 1000}', "grid must be in [5, 81]"),
        ("plane", b'{"grid": 20.5}', "grid must be a whole number"),
        ("plane", b'{"at": [1]}', "at must be a list of 2 numbers"),
        ("plane", b'{"at": "1,2"}', "at must be a list of 2 numbers"),
        ("plane", b'{"window": [1, -1, 0, 1]}', "xmin < xmax"),
        ("plane", json.dumps({"loss": "x" * 301}).encode(), "the demo takes at most 300"),
        ("plane", b'{"loss": "x*y*z"}', "exactly 2 variables; this one has 3 (x, y, z)"),
        ("plane", b'{"loss": "3"}', "no variable"),
        ("alpha", b'{"rule": "nope"}', "rule must be one of exact, retsinas"),
        ("alpha", b'{"optimizer": ["gd"]}', "optimizer must be one of"),
        ("alpha", b'{"steps": 1000}', "steps must be in [1, 100]"),
        ("alpha", b'{"alpha0": 0}', "alpha0 must be in"),
        ("alpha", b'{"at": [1, 2, 3]}', "at has 3 coordinates; the loss has 2 variables"),
    ],
)
def test_a_bad_request_is_a_400_with_a_json_error(server, panel, body, message):
    status, data = post(server, panel, body)
    assert status == 400 and message in data["error"], data


def raw(server, method, path, body=b"", headers=None):
    connection = http.client.HTTPConnection(HOST, server.port, timeout=30)
    connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for name, value in (headers or {}).items():
        connection.putheader(name, value)
    connection.endheaders(body or None)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), payload


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("POST", "/api/onestep", {"Content-Type": "text/plain", "Content-Length": "2"}, b"{}", 415),
        ("POST", "/api/onestep", {"Content-Type": "application/json"}, b"", 411),
        ("POST", "/api/onestep", {"Content-Type": "application/json", "Content-Length": "100000"}, b"", 413),
        (
            "POST",
            "/api/onestep",
            {"Content-Type": "application/json", "Origin": "http://evil.example"},
            b"{}",
            403,
        ),
        ("POST", "/api/nothing", {"Content-Type": "application/json", "Content-Length": "2"}, b"{}", 404),
        ("GET", "/../../etc/passwd", {}, b"", 404),
        ("PUT", "/api/onestep", {}, b"", 501),
        ("DELETE", "/", {}, b"", 501),
    ],
)
def test_a_bad_http_request_is_refused_with_a_json_error(server, method, path, headers, body, status):
    headers = {"Host": f"{HOST}:{server.port}", **headers}
    code, answer_headers, payload = raw(server, method, path, body, headers)
    assert code == status and answer_headers["Content-Type"] == "application/json"
    assert json.loads(payload)["error"]


def test_a_request_for_another_host_is_refused(server):
    # a page elsewhere reaching 127.0.0.1 through DNS rebinding sends its own name as Host
    for host in (f"evil.example:{server.port}", "127.0.0.1", f"127.0.0.1:{server.port + 1}"):
        code, _, payload = raw(server, "GET", "/", headers={"Host": host})
        assert code == 400 and "answers requests to" in json.loads(payload)["error"]
    code, _, _ = raw(server, "GET", "/", headers={})  # no Host at all
    assert code == 400


def test_the_page_and_its_assets_are_served_with_a_strict_policy(server):
    for path, kind in [("/", "text/html"), ("/demo.js", "text/javascript"), ("/demo.css", "text/css")]:
        code, headers, payload = raw(server, "GET", path, headers={"Host": f"localhost:{server.port}"})
        assert code == 200 and headers["Content-Type"].startswith(kind) and payload
        assert "default-src 'self'" in headers["Content-Security-Policy"]
    # no CDN: nothing on the page is fetched from elsewhere
    _, _, page = raw(server, "GET", "/", headers={"Host": f"localhost:{server.port}"})
    assert b"http://" not in page and b"https://" not in page


def test_an_internal_error_is_said_in_json_without_a_traceback(inline, monkeypatch):
    monkeypatch.setitem(panels.PANELS, "onestep", lambda request: 1 / 0)
    status, data = post(inline, "onestep", {})
    assert status == 500 and data["error"].startswith("internal error: ZeroDivisionError")
    assert "Traceback" not in json.dumps(data)


def test_a_request_past_the_budget_is_stopped_and_the_next_one_is_answered():
    demo = serving(budget=0.25)
    try:
        # a product of 34 linear factors (296 characters, the page takes 300): starting the worker,
        # building the loss and compiling its gradient and Hessian (34 products of 33 factors each)
        # take seconds, far past a quarter of a second
        product = "*".join(f"(x-{k}*y)" for k in range(1, 35))
        slow = {"loss": product, "at": [0.3, 0.5], "optimizer": "adam", "steps": 5}
        status, data = post(demo, "alpha", slow)
        assert status == 422 and data["type"] == "BudgetExceededError" and "budget of 0.25 s" in data["error"]
        demo.worker.budget = 120.0  # the next request starts a fresh worker (imports: not a budget test)
        status, data = post(demo, "onestep", {})
        assert status == 200 and data["w1"] == -1
    finally:
        demo.shutdown()
        demo.server_close()


# ---------------------------------------------------------------- 127.0.0.1 only


def test_the_server_cannot_listen_anywhere_but_127_0_0_1():
    assert "host" not in inspect.signature(make_server).parameters
    for host in ("0.0.0.0", "", "::", "localhost", "192.168.1.1"):
        with pytest.raises(tl.OptionError, match=r"listens on 127\.0\.0\.1 only"):
            DemoServer((host, 0))


def test_the_server_is_not_reachable_on_another_interface(server):
    assert server.server_address[0] == "127.0.0.1"
    others = {
        info[4][0]
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        if not info[4][0].startswith("127.")
    }
    for address in others:
        with pytest.raises(OSError), socket.create_connection((address, server.port), timeout=2):
            pass


def test_a_taken_port_is_an_option_error_naming_the_fix(server):
    with pytest.raises(tl.OptionError, match=r"cannot listen on 127.0.0.1:\d+: .*--port 0 for a free one"):
        make_server(server.port)


# ---------------------------------------------------------------- the command


def _as_in_the_foreground() -> None:
    """Ctrl-C's default in the child, as a terminal's foreground command has it: a test runner
    started in the background by a shell without job control (``nohup ... &`` in a script, some
    CI runners) ignores SIGINT, its children inherit that, and Python keeps an inherited SIG_IGN
    (as a background command should), so the demo would never see the test's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_taylorlr_demo_prints_its_url_serves_and_ends_quietly_with_130_on_ctrl_c():
    process = subprocess.Popen(
        [sys.executable, "-m", "taylorlr", "demo", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_in_the_foreground,
    )
    try:
        line = process.stdout.readline()
        url = line.split(" at ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:") and "(Ctrl-C to stop)" in line
        with urllib.request.urlopen(url, timeout=30) as response:
            assert b"taylorlr demo" in response.read()
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 130 and out == "" and err == ""


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--port", "70000"], "70000 is not in the range 0<=x<=65535"),
        (["--port", "x"], "'x' is not a valid integer"),
    ],
)
def test_a_bad_port_is_exit_2(arguments, message):
    from click.testing import CliRunner

    from taylorlr.cli import cli

    result = CliRunner().invoke(cli, ["demo", "--no-browser", *arguments])
    assert result.exit_code == 2 and message in result.output


def test_a_taken_port_is_exit_2_with_the_reason(server):
    from click.testing import CliRunner

    from taylorlr.cli import cli

    result = CliRunner().invoke(cli, ["demo", "--no-browser", "--port", str(server.port)])
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{server.port}" in result.output


@pytest.mark.parametrize("no_browser", [False, True])
def test_the_browser_opens_on_the_printed_url_unless_no_browser(monkeypatch, no_browser):
    import webbrowser

    from click.testing import CliRunner

    from taylorlr.cli import cli

    opened, asked = [], threading.Event()
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url) or asked.set())
    # Ctrl-C at once: the command closes the server and ends with 130
    monkeypatch.setattr(DemoServer, "serve_forever", lambda self: (_ for _ in ()).throw(KeyboardInterrupt))
    arguments = ["demo", "--no-browser"] if no_browser else ["demo"]
    result = CliRunner().invoke(cli, arguments)
    url = result.output.split(" at ", 1)[1].split()[0]
    assert result.exit_code == 130 and url.startswith("http://127.0.0.1:")
    assert asked.wait(0 if no_browser else 30) is not no_browser
    assert opened == ([] if no_browser else [url])


class _Child:
    """A stand-in child process whose ``wait`` runs a second ``close`` (the server's and a request's
    at once, as when the page's last request is stopped while the test closes the server)."""

    def __init__(self, during_wait):
        self.stdin, self.stdout, self.during_wait, self.killed = io.StringIO(), io.StringIO(), during_wait, 0

    def kill(self):
        self.killed += 1

    def wait(self, timeout=None):
        during, self.during_wait = self.during_wait, None
        if during is not None:
            during()

    def poll(self):
        return None


def test_two_closes_at_once_stop_the_child_once_and_raise_nothing():
    worker = Worker(budget=1.0)
    child = _Child(lambda: worker.close())
    worker._process = child
    worker.close(final=True)  # before the fix: AttributeError: 'NoneType' object has no attribute 'stdin'
    assert child.killed == 1 and child.stdin.closed and child.stdout.closed


def test_a_request_after_the_server_closed_is_a_json_error_and_starts_no_child():
    worker = Worker(budget=1.0)
    worker.close(final=True)
    status, answer = worker.call("onestep", b"{}")
    assert status == 500 and answer["type"] == "InternalError" and "the server is closing" in answer["error"]
    assert worker._process is None
