"""Notebook display of every record a user holds, through IPython's own display formatter.

Each test reads the HTML (or Markdown, LaTeX) back and checks the numbers against the record's
own arrays (or an exact answer), and that names with ``<`` or ``&`` are escaped.
"""

from __future__ import annotations

import math
import re
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
import sympy

import taylorlr as tl
from taylorlr._display import Card, enclosure, folded

IPython = pytest.importorskip("IPython")
from IPython.core.formatters import DisplayFormatter  # noqa: E402


def shown(obj: object) -> dict[str, str]:
    data, _ = DisplayFormatter().format(obj)
    return data


class Tables(HTMLParser):
    """The text of each <td>/<th> cell, row by row, and every text node."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table_rows(html: str) -> list[list[str]]:
    parser = Tables()
    parser.feed(html)
    return parser.rows


def fields(html: str) -> dict[str, str]:
    return {row[0]: row[1] for row in table_rows(html) if len(row) == 2}


def close(text: str, value: float) -> bool:
    """The 6-significant-digit text of a float is within its rounding of the value."""
    return math.isclose(float(text), value, rel_tol=1e-5, abs_tol=1e-300)


# the Run -----------------------------------------------------------------------------------------


def test_run_repr_is_short_and_says_the_batch_steps_statuses_and_best_f():
    run = tl.run("(x - 1)**2 + 4*y**2", [[0.0, 1.0], [3.0, -2.0], [1.0, 0.0]], rule="exact", steps=40)
    text = repr(run)
    assert len(text) < 150 and "[" not in text  # no array dump
    last = int(run.stopped_at.max())  # the steps taken, of the 40 allowed
    assert "batch (3,)" in text and f"{last} of 40 steps" in text and "converged 3" in text and last < 40
    best = float(re.search(r"best f (\S+)\)", text).group(1))
    assert close(str(best), float(np.min(run.fun)))
    assert shown(run)["text/plain"] == text


def test_run_html_shows_each_members_final_numbers():
    run = tl.run("(x - 1)**2 + 4*y**2", [[0.0, 1.0], [3.0, -2.0]], rule="retsinas", steps=5)
    rows = [r for r in table_rows(shown(run)["text/html"]) if len(r) == 6]
    assert rows[0] == ["member", "status", "stopped at", "f", "||g||", "point"]
    for k, row in enumerate(rows[1:]):
        assert row[1] == run.status[k] and int(row[2]) == run.stopped_at[k]
        assert close(row[3], run.fun[k]) and close(row[4], run.grad_norms[-1][k])
        coords = [float(c) for c in row[5].strip("()").split(",")]
        assert np.allclose(coords, run.x[k], rtol=1e-5, atol=1e-12)


def test_single_run_html_shows_alpha_beside_the_oracle_step_by_step():
    run = tl.run("x**2 + 10*y**2", [1.0, 1.0], rule="retsinas", steps=40)
    html = shown(run)["text/html"]
    rows = [r for r in table_rows(html) if len(r) == 5]
    assert rows[0] == ["t", "f", "||g||", "alpha_t", "oracle alpha*_t"]
    stop = int(run.stopped_at)
    body = [r for r in rows[1:] if r[0] != "..."]
    assert [int(r[0]) for r in body][-1] == stop
    for r in body:
        t = int(r[0])
        assert close(r[1], run.losses[t]) and close(r[3], run.alphas[t])
        if t < stop:
            assert close(r[4], run.oracle_alphas[t])
    assert fields(html)["message"] == run.message


def test_run_markdown_escapes_table_markup():
    run = tl.run("x**2", [1.0], rule="exact", steps=3)
    markdown = shown(run)["text/markdown"]
    assert r"\|\|g\|\|" in markdown and "alpha\\_t" in markdown


def test_run_to_frame_round_trips_the_arrays_without_padding():
    pandas = pytest.importorskip("pandas")
    run = tl.run("(x - 1)**2 + 4*y**2", [[0.0, 1.0], [5.0, 5.0]], rule="retsinas", steps=30)
    frame = run.to_frame(variables=["x", "y"])
    assert isinstance(frame, pandas.DataFrame)
    for k in range(2):
        member = frame[frame["member"] == k]
        history = run.history(k)
        assert np.array_equal(member[["x", "y"]].to_numpy(), history["points"])
        assert np.array_equal(member["loss"].to_numpy(), history["losses"])
        assert np.array_equal(member["alpha"].to_numpy(), history["alphas"])
        oracle = member["oracle_alpha"].to_numpy()
        assert np.array_equal(oracle[:-1], history["oracle_alphas"], equal_nan=True)
        assert np.isnan(oracle[-1])
        assert set(member["status"]) == {run.status[k]}


def test_to_frame_without_pandas_is_a_typed_error_naming_the_install(monkeypatch):
    run = tl.run("x**2", [1.0], rule="exact", steps=2)
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(tl.errors.MissingDependencyError, match="pip install pandas"):
        run.to_frame()
    with pytest.raises(tl.errors.OptionError, match="1 name for the run's 2 coordinates"):
        tl.run("x**2 + y**2", [1.0, 1.0], steps=1).records(variables=["x"])


# the Comparison ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def comparison():
    return tl.compare("(x - 1)**2 + 4*y**2", [0.0, 1.0], rules=("exact", "fixed", "retsinas"),
                      optimizers=("gd", "adam"), steps=60)  # fmt: skip


def test_comparison_html_has_every_row_best_first(comparison):
    html = shown(comparison)["text/html"]
    rows = [r for r in table_rows(html) if len(r) == 10]
    assert rows[0][:4] == ["#", "rule", "optimizer", "status"]
    assert len(rows) - 1 == len(comparison.rows) == 6
    for row, record in zip(rows[1:], comparison.rows, strict=True):
        assert (row[1], row[2], row[3]) == (record.rule, record.optimizer, record.status)
        assert close(row[5], record.final_value)
        assert int(row[9]) == sum(record.evaluations.values())
    text = repr(comparison)
    assert text.startswith("Comparison(6 runs, global minimum (proved), best: ")
    assert comparison.rows[0].rule in text


def test_comparison_to_frame_and_to_dict_agree_with_the_rows(comparison):
    pytest.importorskip("pandas")
    frame = comparison.to_frame()
    data = comparison.to_dict()
    assert frame["rank"].tolist() == list(range(1, 7))
    assert frame["rule"].tolist() == [r.rule for r in comparison.rows] == [r["rule"] for r in data["rows"]]
    assert frame["final_value"].tolist() == [r.final_value for r in comparison.rows]
    assert frame["standing"].tolist() == [r.standing.value for r in comparison.rows]


# the symbolic records ----------------------------------------------------------------------------------


def test_loss_latex_and_html_and_escaping():
    x = sympy.Symbol("a<b&c", real=True)
    loss = tl.Loss(x**2 + 1)
    data = shown(loss)
    assert "a&lt;b&amp;c" in data["text/html"] and "a<b" not in data["text/html"]
    assert "a&lt;b&amp;c" in data["text/markdown"]
    latex = shown(tl.Loss("x**2 + 3*x*y**2"))["text/latex"]
    assert latex == r"$\displaystyle f(x, y) = x^{2} + 3 x y^{2}$"
    assert "text/latex" not in shown(tl.Loss(sympy.Symbol("p$q", real=True) ** 2))  # would break math mode


def test_critical_points_display_the_exact_kinds_and_values():
    points = tl.Loss("x**4 - 2*x**2").critical_points()
    data = shown(points)
    assert data["text/plain"] == "CriticalPoints(3 points: minimum 2, maximum 1; complete)"
    rows = [r for r in table_rows(data["text/html"]) if len(r) == 6][1:]
    # f = x^4 - 2x^2: minima at -1 and 1 (f = -1), a maximum at 0 (f = 0)
    assert [(r[1], r[2], r[4]) for r in rows] == [("-1", "minimum", "-1"), ("0", "maximum", "0"),
                                                  ("1", "minimum", "-1")]  # fmt: skip
    assert (
        data["text/latex"] == r"$\begin{array}{ll}-1 & \text{minimum} \\ 0 & \text{maximum} \\ 1 & "
        r"\text{minimum}\end{array}$"
    )


def test_solution_display_names_the_points_the_verdict_and_the_step():
    solution = tl.solve("x**2 + 3*x*y**2", at={"x": 1, "y": 2})
    data = shown(solution)
    assert data["text/plain"].startswith("Solution(f = x**2 + 3*x*y**2, critical points: saddle 1")
    found = fields(data["text/html"])
    assert found["bounded below"] == "unbounded"
    # the exact Newton step from (1, 2) lands on (6/11, 10/11)
    new = [float(c) for c in found["new point"].strip("()").split(",")]
    assert np.allclose(new, [6 / 11, 10 / 11], rtol=1e-5)


def test_newton_step_display_per_member():
    loss = tl.Loss("x**2 + 3*x*y**2")
    step = tl.newton_step(loss, [[1.0, 2.0], [0.0, 0.0]])
    data = shown(step)
    assert data["text/plain"] == "NewtonStep(newton, batch (2,), n = 2, saddle 1, singular 1)"
    rows = [r for r in table_rows(data["text/html"]) if len(r) == 9][1:]
    assert [r[5] for r in rows] == ["saddle", "singular"]
    assert np.allclose([float(c) for c in rows[0][8].strip("()").split(",")], step.point[0], rtol=1e-5)
    one = fields(shown(tl.newton_step(loss, [1.0, 2.0]))["text/html"])
    assert one["heads for"] == "saddle"


def test_newton_run_repr_is_one_line():
    run = tl.newton(tl.Loss("x**4 - 2*x**2"), [[2.0], [-3.0]], steps=30)
    assert repr(run) == f"NewtonRun({run.iterations} steps, batch (2,), converged 2, best f -1)"


# the card and the folded exact forms -------------------------------------------------------------------


def test_card_limits_rows_and_says_so():
    card = Card(title="t", header=("k",), rows=[(str(k),) for k in range(40)])
    assert card.html().count("<td>") == 32 and "8 more rows not shown" in card.html()


def test_folded_root_encloses_the_true_root():
    x = sympy.Symbol("x")
    root = sympy.CRootOf(x**9 - 3 * x**7 + x - 1, 0)
    text = folded(float(root), str(root))
    low, high = (sympy.Rational(s) for s in re.search(r"in \[(\S+), (\S+)\]", text).groups())
    assert low <= root <= high and text.startswith("root") is False
    assert f"root of {str(root.args[0])[:30]}" in text


@pytest.mark.parametrize("value", [1e-11, 6.16e-11, -3.25, 123456.5, 2.0**-1074 * 2**60])
def test_enclosure_holds_the_value(value):
    low, high = (sympy.Rational(s) for s in enclosure(value).strip("[]").split(", "))
    assert low < sympy.Rational(value) < high


def test_to_dict_is_strict_json_and_round_trips_the_arrays(comparison):
    import json

    run = tl.run("(x - 1)**2 + 4*y**2", [[0.0, 1.0], [2.0, 2.0]], rule="retsinas", steps=20)
    data = json.loads(json.dumps(run.to_dict(), allow_nan=False))
    for name in ("points", "alphas", "losses", "grad_norms", "stopped_at"):
        assert np.array_equal(np.array(data[name], dtype=float), getattr(run, name), equal_nan=True), name
    assert np.array_equal(np.array(data["oracle_alphas"], dtype=float), run.oracle_alphas, equal_nan=True)
    assert data["status"] == [str(s) for s in run.status.ravel()]
    table = json.loads(json.dumps(comparison.to_dict(), allow_nan=False))
    assert [row["final_value"] for row in table["rows"]] == [row.final_value for row in comparison.rows]
    assert [row["standing"] for row in table["rows"]] == [row.standing.value for row in comparison.rows]


def test_a_large_batch_shows_its_first_members_and_says_how_many_more():
    run = tl.run("x**2 + y**2", np.ones((1000, 2)), rule="exact", steps=3)
    html = shown(run)["text/html"]
    rows = [r for r in table_rows(html) if len(r) == 6][1:]
    assert len(rows) == 32 and "968 more members not shown" in html
    assert "converged 1000" in repr(run)
    step = tl.newton_step(tl.Loss("x**2 + y**2"), np.ones((100, 2)))
    assert "68 more members not shown" in shown(step)["text/html"]
