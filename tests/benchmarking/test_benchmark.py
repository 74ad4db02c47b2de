"""tl.benchmark: each row judged against the problem's known minimum, counted as the core counts."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

import taylorlr as tl
from taylorlr.benchmarking import TIMEOUT, SweepTooLargeError
from taylorlr.benchmarking._chunk import TAUS, evals_column

SMALL = {"rules": ("exact", "three-point"), "optimizers": ("gd",), "steps": 60}


@pytest.fixture(scope="module")
def table():
    return tl.benchmark(["booth", "beale"], **SMALL)


def test_rows_are_every_problem_times_solver_judged_against_the_published_minimum(table):
    assert len(table) == 2 * 5
    assert table.solvers == ("exact/gd", "three-point/gd", "bfgs", "trust-exact", "constant")
    rows = {(r["problem"], r["solver"]): r for r in table.rows()}
    beale = rows["beale", "bfgs"]
    assert beale["f0"] == 909 / 64  # Beale's published f(x0) = 14.203125, exactly
    assert beale["f_star"] == 0.0 and beale["status"] == "converged"
    assert beale["gap"] == beale["f"] and 0 <= beale["relative_gap"] == beale["f"] / beale["f0"] < 1e-12
    assert beale["grad_norm"] <= 1e-8
    booth = rows["booth", "exact/gd"]  # a quadratic: the exact rule is the exact line search
    assert booth["status"] == "converged" and booth["f"] < 1e-15


def test_engine_rows_count_evaluations_as_the_core_does(table):
    problem = tl.problems.get("beale")
    for rule in SMALL["rules"]:
        run = tl.run(problem.loss, problem.x0, "gd", rule, steps=60, oracle=False)
        row = next(r for r in table.rows() if r["problem"] == "beale" and r["rule"] == rule)
        assert (row["nfev"], row["njev"], row["nhev"]) == (int(run.nfev), int(run.njev), int(run.nhev))
        assert row["line_searches"] == int(run.counts.line_searches)
        assert row["evaluations"] == row["nfev"] + row["njev"] + row["nhev"] + row["line_searches"]
        assert row["steps"] == int(run.stopped_at) and row["f"] == float(run.fun)
        assert row["safeguard_curvature"] == int(run.safeguard_counts.curvature)


@pytest.mark.parametrize("rule", ["three-point", "line-search"])
def test_the_cost_of_reaching_a_level_is_what_a_run_cut_there_spends(rule):
    """evals_to[tau] from the full run equals the counts of the same run stopped at that step."""
    problem = tl.problems.get("beale")
    row = tl.benchmark([problem], rules=(rule,), optimizers=("gd",), baselines=(), steps=80).rows()[0]
    full = tl.run(problem.loss, problem.x0, "gd", rule, steps=80, oracle=False)
    for tau in TAUS:
        cost = row[evals_column(tau)]
        met = np.nonzero(full.losses <= tau * full.losses[0])[0]
        if not met.size:
            assert cost == math.inf
            continue
        cut = tl.run(problem.loss, problem.x0, "gd", rule, steps=int(met[0]), oracle=False)
        assert cost == sum(cut.counts.totals().values())


def test_scipy_baselines_count_evaluations_as_scipy_reports_them():
    from scipy.optimize import minimize

    problem = tl.problems.get("rosenbrock")
    compiled = problem.loss.compile()
    table = tl.benchmark([problem], rules=(), optimizers=(), baselines=("bfgs", "trust-exact"), steps=200)
    bfgs, trust = table.rows()
    own = minimize(compiled.value, problem.x0, jac=compiled.grad, method="BFGS",
                   options={"gtol": 1e-8, "norm": 2, "maxiter": 200})  # fmt: skip
    assert (bfgs["nfev"], bfgs["njev"], bfgs["steps"]) == (own.nfev, own.njev, own.nit)
    own = minimize(compiled.value, problem.x0, jac=compiled.grad, hess=compiled.hess, method="trust-exact",
                   options={"gtol": 1e-8, "maxiter": 200})  # fmt: skip
    assert (trust["nfev"], trust["njev"], trust["nhev"]) == (own.nfev, own.njev, own.nhev)
    assert bfgs["status"] == trust["status"] == "converged"


def test_a_cloud_of_starts_is_seeded_and_the_same_in_any_chunking():
    options = {"rules": ("retsinas",), "optimizers": ("gd",), "baselines": ("bfgs",), "steps": 30}
    whole = tl.benchmark(["himmelblau"], starts=6, seed=4, **options)
    chunked = tl.benchmark(["himmelblau"], starts=6, seed=4, chunk=2, **options)
    pieces = [tl.benchmark(["himmelblau"], starts=r, seed=4, **options) for r in ((0, 3), (3, 7))]
    assert whole == chunked
    assert np.array_equal(whole.column("start"), [0, 1, 2, 3, 4, 5, 6] * 2)
    joined = np.concatenate([p.column("f") for p in pieces])
    order = np.lexsort((whole.column("start"), whole.column("solver") == "bfgs"))
    assert np.array_equal(np.sort(joined), np.sort(whole.column("f")[order]))
    other = tl.benchmark(["himmelblau"], starts=6, seed=5, **options)
    assert not np.array_equal(other.column("f0"), whole.column("f0"))
    assert whole.column("f0")[0] == other.column("f0")[0]  # start 0 is the standard start


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"problems": ["rosenbrok"]}, "did you mean 'rosenbrock'"),
        ({"rules": ("retsina",)}, "did you mean 'retsinas'"),
        ({"optimizers": ("adma",)}, "did you mean 'adam'"),
        ({"baselines": ("bgfs",)}, "did you mean 'bfgs'"),
        ({"starts": -1}, "starts must be"),
        ({"chunk": 0}, "chunk must be"),
        ({"spread": math.nan}, "spread must be"),
    ],
)
def test_bad_names_and_options_are_option_errors_with_the_nearest_name(arguments, message):
    arguments = {"problems": ["booth"], **arguments}
    with pytest.raises(tl.OptionError, match=message):
        tl.benchmark(**arguments)


def test_a_sweep_too_large_for_memory_is_refused_before_anything_runs():
    with pytest.raises(
        SweepTooLargeError,
        match=r"table of 1800000000 runs needs about 858 GiB.*pieces of at most 2097152 runs",
    ):
        tl.benchmark(["booth"], starts=10**8 - 1, max_bytes=2**30)
    with pytest.raises(SweepTooLargeError, match=r"one call of 4096 start points .* pass chunk=\d+ or less"):
        tl.benchmark(["booth"], starts=10**4, steps=10**5, max_bytes=2**30)
    assert issubclass(SweepTooLargeError, tl.OptionError)


def test_a_spent_time_budget_gives_timeout_rows_never_missing_ones():
    table = tl.benchmark(["booth", "beale"], time_budget=0.0, **SMALL)
    statuses = table.column("status").tolist()
    assert len(table) == 10 and table.timeouts == ("booth", "beale")
    # checked between calls; a problem's baselines run first, so the first of them ran
    assert statuses[:5] == [TIMEOUT, TIMEOUT, "converged", TIMEOUT, TIMEOUT]
    assert np.isnan(table.column("f")[0]) and table.column("evals_to_1e-01")[0] == math.inf
    assert table.column("solver").tolist()[:5] == [
        "exact/gd",
        "three-point/gd",
        "bfgs",
        "trust-exact",
        "constant",
    ]


def test_a_solver_that_raises_is_an_error_row_with_its_message(monkeypatch):
    import taylorlr.benchmarking as benchmarking

    real = benchmarking.run_task

    def flaky(task):
        if task.solver["label"] == "bfgs":
            raise RuntimeError("boom")
        return real(task)

    monkeypatch.setattr(benchmarking, "run_task", flaky)
    table = tl.benchmark(["booth"], **SMALL)
    assert table.column("status").tolist()[2] == "error"
    assert table.errors == ("booth / bfgs: RuntimeError: boom",)


def test_exports_hold_the_same_table(table, tmp_path):
    rows = list(csv.DictReader(io.StringIO(table.to_csv())))
    assert [r["solver"] for r in rows] == table.column("solver").tolist()
    assert [float(r["f"]) for r in rows] == table.column("f").tolist()  # repr round-trips floats
    data = json.loads(table.to_json(tmp_path / "t.json"))
    assert len(data["rows"]) == len(table) and data["settings"]["steps"] == 60
    frame = table.to_frame()
    assert (
        frame.shape == (len(table), len(table.columns)) and frame["f"].tolist() == table.column("f").tolist()
    )
    pyarrow_parquet = pytest.importorskip("pyarrow.parquet")
    table.to_parquet(tmp_path / "t.parquet")
    back = pyarrow_parquet.read_table(tmp_path / "t.parquet")
    assert back.column("f").to_pylist() == table.column("f").tolist()
    assert back.column("status").to_pylist() == table.column("status").tolist()
