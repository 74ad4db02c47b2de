"""No input runs code, imports, opens a file or ends untyped: a hostile corpus and a generator.

Every text goes to a forked child (``_sandbox.feed``) that limits its memory and CPU time and
records, through an audit hook, every exec, compile, import, open, subprocess and socket event
an input causes. The parser's guarantees: no such event, every outcome a value or a
:class:`~taylorlr.TaylorLRError`, never a hang (a 20 s alarm per text reports one).
"""

from __future__ import annotations

import contextlib
import json
import string
from pathlib import Path

import _sandbox
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

CORPUS = [
    json.loads(line) for line in (Path(__file__).parent / "hostile_corpus.jsonl").read_text().splitlines()
]

pytestmark = pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")


def check(report: _sandbox.Report) -> None:
    assert not report.crashed, report.crashed
    assert report.events == []
    bad = [(text[:80], stage, outcome) for text, stage, outcome in report.outcomes if not _fine(outcome)]
    assert bad == []


def _fine(outcome: str) -> bool:
    return outcome == "value" or outcome.startswith("typed ")


def test_the_corpus_is_large_and_varied():
    assert len(CORPUS) >= 400
    assert len(set(CORPUS)) == len(CORPUS)
    for fragment in ("__class__", "lambda", " for ", "import", "**10**", "f'", "\uff45", "open(", "Integral"):
        assert any(fragment in text for text in CORPUS), fragment


def test_the_hostile_corpus_runs_nothing_and_ends_typed():
    report = _sandbox.feed(CORPUS)
    check(report)
    assert len(report.outcomes) == len(CORPUS)
    refused = sum(outcome.startswith("typed ParseError") for _, _, outcome in report.outcomes)
    assert refused >= 0.8 * len(CORPUS)  # the corpus is hostile: most of it must be refused
    assert any(stage == "run" and outcome == "value" for _, stage, outcome in report.outcomes)


def _nest(template: str, n: int) -> str:
    text = "x"
    for _ in range(n):
        text = template.replace("@", text)
    return text


DEEP_NESTS = [
    _nest("sin(@)", 99),  # the parser's depth limit
    "**".join(["x"] * 50),
    _nest("sin(abs(@))", 24),
    _nest("sin(abs(@))", 49),  # too deep for SymPy's chain rule through kinks: refused, typed
]


def test_deep_nests_go_through_gradient_compile_and_run_and_end_typed():
    # issue 15: their derivatives took minutes; now a value or a TaylorLRError, within the alarm
    report = _sandbox.feed(DEEP_NESTS, deep=len(DEEP_NESTS), max_ops=10**6)
    check(report)
    assert all(stage == "run" for _, stage, outcome in report.outcomes if outcome == "value")
    assert [outcome for _, _, outcome in report.outcomes].count("value") >= 2


def test_the_sandbox_sees_what_it_must_refuse():
    # the watch itself: an input that did open a file or import would be reported
    import taylorlr as tl

    original = tl.parse

    def leaky(text):
        if text == "leak":
            open("/dev/null").close()
            with contextlib.suppress(ImportError):
                __import__("taylorlr_no_such_module")  # the search itself is an import event
        return original(text)

    try:
        tl.parse = leaky
        report = _sandbox.feed(["leak", "x + 1"], deep=0)
    finally:
        tl.parse = original
    assert {event for _, event, _ in report.events} >= {"open", "import"}


NAMES = (
    "x",
    "y",
    "z_1",
    "alpha",
    "__class__",
    "__import__",
    "_x",
    "os",
    "eval",
    "Integral",
    "S",
    "I",
    "oo",
    "e",
)
FUNCTIONS = (
    "sin",
    "exp",
    "log",
    "sqrt",
    "max",
    "abs",
    "acot",
    "erfc",
    "open",
    "getattr",
    "lambda_",
    "Symbol",
)
NUMBERS = (
    "0",
    "1",
    "2",
    "0.5",
    "1e308",
    "1e-320",
    "1e400",
    "9" * 60,
    "10**10",
    "0.012",
    "3.7e-6",
    "1_0",
    "0x1",
)
OPERATORS = ("+", "-", "*", "/", "**", "^", "%", "//", "@", "&", "|", "<", "==", ".", ",")


@st.composite
def hostile_texts(draw, depth: int = 3) -> str:
    """Expressions of the grammar and its near misses: names, calls, attributes, lambdas, junk."""
    kind = draw(st.integers(0, 9 if depth > 0 else 2))
    if kind == 0:
        return draw(st.sampled_from(NAMES))
    if kind == 1:
        return draw(st.sampled_from(NUMBERS))
    if kind == 2:
        return draw(st.text(string.printable + "ｅπ\u200b", max_size=6))
    inner = draw(hostile_texts(depth - 1))
    other = draw(hostile_texts(depth - 1))
    if kind in (3, 4, 5):
        return f"{inner} {draw(st.sampled_from(OPERATORS))} {other}"
    if kind == 6:
        return f"{draw(st.sampled_from(FUNCTIONS))}({inner}{', ' + other if draw(st.booleans()) else ''})"
    if kind == 7:
        return f"({inner}).{draw(st.sampled_from(NAMES))}"
    if kind == 8:
        return draw(
            st.sampled_from(["lambda: {}", "[{} for x in y]", "{}[0]", "-({})", "({})**({})"])
        ).format(inner, other)
    return f"({inner})"


@settings(max_examples=2, deadline=None, derandomize=True)
@given(st.lists(hostile_texts(), min_size=150, max_size=150))
def test_generated_texts_run_nothing_and_end_typed(texts):
    check(_sandbox.feed(texts, deep=10))
