"""The demo page end to end, in real headless Chromium (Playwright): move a slider, read the numbers
the page shows, compare them with tl.newton_step and tl.run; type a bad loss, see the parser's caret.

Skipped only where Chromium is absent and TAYLORLR_REQUIRE_BROWSER is unset; CI sets it (.ci/run),
so there the test runs or fails, never skips.
"""

from __future__ import annotations

import os
import threading

import pytest

import taylorlr as tl
from taylorlr.demo.server import make_server
from taylorlr.symbolic.parse import parse

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REQUIRED = bool(os.environ.get("TAYLORLR_REQUIRE_BROWSER"))

if not os.path.exists(CHROMIUM) and not REQUIRED:
    pytest.skip(f"no Chromium at {CHROMIUM} (CI sets TAYLORLR_REQUIRE_BROWSER=1)", allow_module_level=True)

from playwright import sync_api  # noqa: E402 (after the one skip: Playwright is in the test extra)


@pytest.fixture(scope="module")
def page():
    server = make_server(0, budget=120.0)  # generous: a slow CI machine must not fail on the budget
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        tab = browser.new_page(viewport={"width": 1050, "height": 900})
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))  # a JavaScript exception
        tab.goto(server.url)
        for section in ("onestep", "plane", "alpha"):
            settle(tab, section, 0)
        yield tab
        browser.close()
    server.shutdown()
    server.server_close()
    assert errors == []


def settle(tab, section, sent_before):
    """Wait until ``section`` has answered a request sent after ``sent_before`` and has none in flight."""
    tab.wait_for_function(
        "([id, n]) => { const s = document.getElementById(id);"
        " return s.dataset.state === 'ready' && Number(s.dataset.sent || 0) > n; }",
        arg=[section, sent_before],
        timeout=20_000,
    )


def sent(tab, section):
    return int(tab.get_attribute(f"#{section}", "data-sent") or 0)


def shown(tab, selector):
    return float(tab.text_content(selector))


def press(tab, slider, key, times, section):
    before = sent(tab, section)
    tab.focus(f"#{slider}")
    for _ in range(times):
        tab.keyboard.press(key)
    settle(tab, section, before)  # each key's input event sent (or queued) a request before press returned


def test_the_page_opens_on_source_000_with_its_misprint_beside_the_right_value(page):
    assert shown(page, "#os-eta .float") == -0.5 and page.text_content("#os-eta .exact") == "-1/2"
    assert shown(page, "#os-w1 .float") == -1 and shown(page, "#os-f_w1 .float") == -2
    assert shown(page, "#os-f_w0 .float") == -11
    assert "source 000 printed -27 here: the value at w = 4" in page.text_content("#os-f_w0")
    assert "source 000 printed -10" in page.text_content("#os-df_w0")


def test_moving_the_sliders_gives_tl_newton_step_s_numbers(page):
    press(page, "w0", "ArrowRight", 3, "onestep")  # w0: -4 -> -3.7
    press(page, "d", "ArrowRight", 5, "onestep")  # d: 0 -> 0.05
    w0, d = float(page.input_value("#w0")), float(page.input_value("#d"))
    assert (w0, d) == (-3.7, 0.05) and shown(page, "#os-w0 .float") == w0
    step = tl.newton_step(tl.Loss(f"{d}*w**3 - w**2 - 2*w - 3"), [w0])
    assert shown(page, "#os-eta .float") == pytest.approx(float(step.eta), rel=1e-13)
    assert shown(page, "#os-w1 .float") == pytest.approx(float(step.point[0]), rel=1e-13)


def test_the_plane_shows_tl_newton_step_and_the_verdict(page):
    press(page, "x0", "ArrowRight", 14, "plane")  # x0: 0.3 -> 1.0: past the inflection at 1/sqrt(3)
    x0, y0 = float(page.input_value("#x0")), float(page.input_value("#y0"))
    step = tl.newton_step(tl.Loss("x**4/4 - x**2/2 + 2*y**2"), [x0, y0])
    point = [float(v) for v in page.text_content("#pl-point").strip("()").split(", ")]
    eigenvalues = [float(v) for v in page.text_content("#pl-eigenvalues").strip("()").split(", ")]
    assert point == pytest.approx(step.point.tolist(), rel=1e-13, abs=1e-15)
    assert eigenvalues == pytest.approx(step.eigenvalues.tolist(), rel=1e-13)
    assert page.text_content("#pl-curvature") == str(step.curvature) == "minimum"


def test_the_alpha_table_is_tl_run_step_by_step(page):
    before = sent(page, "alpha")
    page.select_option("#rule", "retsinas")
    settle(page, "alpha", before)
    x0, y0 = float(page.input_value("#x0")), float(page.input_value("#y0"))
    run = tl.run("x**4/4 - x**2/2 + 2*y**2", [x0, y0], "gd", "retsinas", alpha0=0.01, steps=30)
    history = run.history()
    rows = page.locator("#al-table tbody tr").all_inner_texts()
    assert len(rows) == len(history["alphas"])
    oracle = history["oracle_alphas"].tolist() + [None]  # the last point takes no step
    for t, row in enumerate(rows):
        cells = row.split("\t")
        assert float(cells[1]) == pytest.approx(float(history["alphas"][t]), rel=1e-12)
        if oracle[t] is None:
            assert cells[2] == ""
        else:
            assert float(cells[2]) == pytest.approx(oracle[t], rel=1e-12)
    assert page.text_content("#al-status").startswith(f"retsinas with gd: {run.status.item().value}")


def test_a_bad_loss_shows_the_parser_s_caret_message(page):
    text = "x**2 + )"
    before = sent(page, "plane")
    page.fill("#loss", text)
    settle(page, "plane", before)
    with pytest.raises(tl.ParseError) as expected:
        parse(text)
    assert page.is_visible("#loss-error")
    assert page.text_content("#loss-error") == str(expected.value)
    assert "^" in page.text_content("#loss-error")
    assert page.get_attribute("#plane", "class") == "stale"
    # a good loss again clears it
    before = sent(page, "plane")
    page.fill("#loss", "x**2 - y**2")
    settle(page, "plane", before)
    assert not page.is_visible("#loss-error") and page.text_content("#pl-curvature") == "saddle"
