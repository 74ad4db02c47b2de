"""Scale-out on a real Dask cluster (two worker processes): the local results, bit for bit; lost chunks
are reported and resumed."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import taylorlr as tl
from taylorlr import scaleout
from taylorlr.benchmarking import on_cluster, plan, resolve_problems, resume
from taylorlr.benchmarking._chunk import run_task
from taylorlr.benchmarking._solvers import solvers

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

ROSENBROCK = "(1 - x)**2 + 100*(y - x**2)**2"


@pytest.fixture(scope="module")
def client():
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the flaky task below travels by value
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as connected:  # fmt: skip
        yield connected


@pytest.fixture(scope="module")
def starts():
    return np.random.default_rng(7).uniform(-2.0, 2.0, (500, 2))


def test_a_run_over_a_dask_array_equals_the_local_run_bit_for_bit(client, starts):
    local = scaleout.summarize(tl.run(ROSENBROCK, starts, "momentum", "retsinas", steps=60, oracle=False))
    spread = scaleout.run(ROSENBROCK, da.from_array(starts, chunks=(150, 1)), "momentum", "retsinas",
                          steps=60, client=client)  # fmt: skip
    assert spread == local and not spread.lost
    assert set(client.run(lambda: "taylorlr.loss" in sys.modules)) == set(client.scheduler_info()["workers"])
    assert spread.spec["blocks"] == [(0, 150), (150, 300), (300, 450), (450, 500)]


def _poisoned(block):
    if block[0, 0] > 1e300:
        raise RuntimeError("a worker lost this chunk")
    return block


def test_a_lost_chunk_of_a_run_is_reported_and_resumed(client, starts):
    poisoned = starts.copy()
    poisoned[200, 0] = 1e301  # the first row of the third chunk: its task raises on the worker
    array = da.from_array(poisoned, chunks=(100, 2)).map_blocks(_poisoned, dtype=float)
    spread = scaleout.run(ROSENBROCK, array, "gd", "exact", steps=30, client=client)
    assert spread.lost == ((200, 300),)
    assert (spread.status[200:300] == "lost").all() and np.isnan(spread.fun[200:300]).all()
    local = scaleout.summarize(tl.run(ROSENBROCK, starts, "gd", "exact", steps=30, oracle=False))
    assert np.array_equal(spread.fun[:200], local.fun[:200])
    assert scaleout.resume(spread, starts, client=client) == local


def _killing(block):
    if block[0, 0] > 1e300:
        os._exit(1)  # the worker process dies mid-task (the nanny starts another; the task is retried)
    return block


def test_a_chunk_whose_worker_dies_is_reported_lost_and_resumed(client, starts):
    poisoned = starts.copy()
    poisoned[100, 0] = 1e301  # the second chunk kills every worker that takes it
    array = da.from_array(poisoned, chunks=(100, 2)).map_blocks(_killing, dtype=float)
    spread = scaleout.run(ROSENBROCK, array, "gd", "exact", steps=30, client=client)
    # Dask gives up on every task that was on a worker each time one died (allowed-failures), so a
    # healthy chunk queued beside the poisoned one may be lost with it: which ones depends on the
    # scheduling; what must hold is that the poisoned chunk is lost, every lost chunk says so, and
    # every chunk that is not lost is the local result
    assert (100, 200) in spread.lost
    local = scaleout.summarize(tl.run(ROSENBROCK, starts, "gd", "exact", steps=30, oracle=False))
    lost_rows = np.zeros(len(starts), dtype=bool)
    for first, stop in spread.lost:
        lost_rows[first:stop] = True
    assert (spread.status[lost_rows] == "lost").all() and np.isnan(spread.fun[lost_rows]).all()
    assert np.array_equal(spread.fun[~lost_rows], local.fun[~lost_rows])
    assert (spread.status[~lost_rows] == local.status[~lost_rows]).all()
    assert scaleout.resume(spread, starts, client=client) == local


def _flaky(task):
    if task.first == 2 and task.solver["label"] == "bfgs":
        raise RuntimeError("a worker died")
    return run_task(task)


def test_the_benchmark_on_a_cluster_equals_the_local_one_and_resumes_lost_chunks(client):
    options = {"rules": ("retsinas",), "optimizers": ("gd",), "baselines": ("bfgs",), "steps": 40}
    local = tl.benchmark(["beale", "himmelblau"], starts=3, chunk=2, **options)
    assert tl.benchmark(["beale", "himmelblau"], starts=3, chunk=2, client=client, **options) == local
    tasks = plan(resolve_problems(["beale", "himmelblau"]), solvers(("retsinas",), ("gd",), ("bfgs",)),
                 starts=3, chunk=2, steps=40, oracle=False, max_bytes=None,
                 options={**{k: local.settings[k] for k in ("steps", "tol", "alpha0", "gamma", "safeguards",
                                                              "oracle", "seed", "spread")}})  # fmt: skip
    broken = on_cluster(tasks, dict(local.settings), client, function=_flaky)
    assert broken.lost == (("beale", "bfgs", 2, 4), ("himmelblau", "bfgs", 2, 4))
    assert len(broken) == len(local) - 4  # nothing silently filled in
    assert resume(broken, client) == local
    assert resume(broken) == local  # or here


def test_the_bench_command_runs_on_a_scheduler_address(client):
    import json

    from click.testing import CliRunner

    from taylorlr.cli import cli

    args = ["bench", "--problems", "booth", "--rules", "retsinas", "--optimizers", "gd",
            "--baselines", "bfgs", "--steps", "30", "--json"]  # fmt: skip
    here = json.loads(CliRunner().invoke(cli, args).stdout)
    there = CliRunner().invoke(cli, [*args, "--scheduler", client.scheduler.address])
    assert there.exit_code == 0, there.output
    assert json.loads(there.stdout)["rows"] == here["rows"] and here["rows"]
