"""A thinned record (``tl.run(record=k)``) read by everything that shows a run: each row is drawn,
tabled and exported at the step it holds, the same numbers as the full record's row of that step."""

import numpy as np
import pytest

import taylorlr as tl
from taylorlr.report import plots, text

LOSS = tl.Loss("(x - 1)**2 + 10*(y + 2)**2 + x**4")


@pytest.fixture(scope="module")
def runs() -> tuple[tl.Run, tl.Run]:
    start = np.array([0.0, 0.0])
    full = tl.run(LOSS, start, "adam", "exact", steps=30)
    thin = tl.run(LOSS, start, "adam", "exact", steps=30, record=4)
    return full, thin


def test_records_hold_the_full_records_rows_at_the_recorded_steps(runs: tuple[tl.Run, tl.Run]) -> None:
    full, thin = runs
    whole, part = full.records(["x", "y"]), thin.records(["x", "y"])
    assert part["t"] == [0, 4, 8, 12, 16, 20, 24, 28, 30]
    for column in ("x", "y", "loss", "grad_norm", "alpha"):
        assert part[column] == [whole[column][t] for t in part["t"]]
    assert part["oracle_alpha"][:-1] == [whole["oracle_alpha"][t] for t in part["t"][:-1]]
    assert np.isnan(part["oracle_alpha"][-1])


def test_the_run_figure_draws_each_row_at_its_step(runs: tuple[tl.Run, tl.Run]) -> None:
    full, thin = runs
    loss_ax = plots.plot_run(thin).axes[0]
    xs, ys = loss_ax.lines[0].get_data()
    assert list(xs) == [0, 4, 8, 12, 16, 20, 24, 28, 30]
    assert list(ys) == [float(full.losses[t]) for t in xs]


def test_the_run_table_and_json_say_the_final_step_of_a_thinned_record(runs: tuple[tl.Run, tl.Run]) -> None:
    full, thin = runs
    payload = text.run_data(LOSS, thin)
    assert payload["final"]["step"] == 30
    assert payload["final"]["loss"] == float(full.losses[30])
    assert payload["final"]["point"] == [float(v) for v in full.points[30]]
    table = text.run_tables(payload, width=200)[0]
    steps = list(table.columns[0].cells)
    assert steps == ["0", "4", "8", "12", "16", "20", "24", "28", "30"]
