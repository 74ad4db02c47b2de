"""run(record=...): what the history keeps, and memory refused before it is allocated.

A member's end (x, fun, status, stopping step, counts) does not depend on ``record`` nor on
the batch around it; the thinned rows are the full record's rows at ``recorded_steps``; a
run that would hold more than ``memory_limit`` is a :class:`~taylorlr.MemoryBudgetError`
before anything is allocated, and a run that stops early holds nothing for the steps it
never takes.
"""

from __future__ import annotations

import functools
import math
import tracemalloc

import numpy as np
import pytest

import taylorlr as tl
from taylorlr.alpha._record import (
    RecordPlan,
    available_memory,
    default_memory_limit,
    footprint,
    resolve_memory_limit,
)

ROSENBROCK = "(1 - x)**2 + 100*(y - x**2)**2"
STARTS = np.random.default_rng(7).uniform(-2.0, 2.0, size=(4100, 2))
RECORDS = ("all", 3, "final")


@functools.cache
def loss_of(text: str) -> tl.Loss:
    return tl.Loss(text)


@functools.cache
def batch_run(size: int, record: object, path: str) -> tl.Run:
    return tl.run(loss_of(ROSENBROCK), STARTS[:size], "adam", "three-point", alpha0=1e-3, steps=30,
                  record=record, path=path)  # fmt: skip


def assert_same_end(a: tl.Run, k: int, b: tl.Run, j: int) -> None:
    assert np.array_equal(a.x[k], b.x[j]) and np.array_equal(a.fun[k], b.fun[j], equal_nan=True)
    assert a.status[k] == b.status[j] and a.stopped_at[k] == b.stopped_at[j]
    assert a.counts.values[k] == b.counts.values[j] and a.counts.gradients[k] == b.counts.gradients[j]
    for name in tl.Safeguards.__dataclass_fields__.keys() & a.safeguard_counts.__dataclass_fields__.keys():
        assert getattr(a.safeguard_counts, name)[k] == getattr(b.safeguard_counts, name)[j]


@pytest.mark.parametrize("path", ["fused", "generic"])
def test_a_members_end_is_independent_of_its_batch_and_of_record(path):
    """Members 0 and 6 in batches of 1, 7 and 4100, recorded in full, every 3rd step and at the end."""
    reference = batch_run(4100, "all", path)
    for size in (1, 7, 4100):
        for record in RECORDS:
            run = batch_run(size, record, path)
            for k in (0, 6) if size > 6 else (0,):
                assert_same_end(run, k, reference, k)
            assert run.settings["record"] == record


def test_the_paths_agree_on_the_thinned_rows_and_steps():
    fused, generic = batch_run(7, 3, "fused"), batch_run(7, 3, "generic")
    assert fused.recorded_steps.tolist() == generic.recorded_steps.tolist()
    for name in ("points", "alphas", "losses", "grad_norms", "oracle_alphas"):
        np.testing.assert_allclose(getattr(fused, name), getattr(generic, name), rtol=1e-8)


@pytest.mark.parametrize("path", ["fused", "generic"])
@pytest.mark.parametrize("record", [3, "final"])
def test_thinned_rows_are_the_full_records_rows_at_the_recorded_steps(path, record):
    full, thin = batch_run(7, "all", path), batch_run(7, record, path)
    steps = thin.recorded_steps
    assert steps[0] == 0 and steps[-1] == full.stopped_at.max() and np.all(np.diff(steps) > 0)
    for name in ("points", "alphas", "losses", "grad_norms"):
        np.testing.assert_array_equal(getattr(thin, name), getattr(full, name)[steps], err_msg=name)
    np.testing.assert_array_equal(thin.oracle_alphas, full.oracle_alphas[steps[:-1]])
    for k in range(7):
        mine, whole = thin.history(k), full.history(k)
        assert mine["steps"][-1] == whole["steps"][-1] == full.stopped_at[k]
        np.testing.assert_array_equal(mine["points"], whole["points"][mine["steps"]])
        np.testing.assert_array_equal(mine["oracle_alphas"], whole["oracle_alphas"][mine["steps"][:-1]])
        assert thin.valid[:, k].sum() == len(mine["steps"])


@pytest.mark.parametrize("path", ["fused", "generic"])
def test_every_third_step_of_a_halving_run_in_exact_numbers(path):
    """Gradient descent on x**2 with the fixed alpha 1/4 halves x each step (exact in binary);
    the member started at 0 stops there at once."""
    run = tl.run("x**2", [[1.0], [0.0]], rule="fixed", alpha0=0.25, steps=10, tol=0.0, record=3, path=path)
    assert run.recorded_steps.tolist() == [0, 3, 6, 9, 10]
    assert run.points[:, 0, 0].tolist() == [1.0, 2.0**-3, 2.0**-6, 2.0**-9, 2.0**-10]
    assert run.points[:, 1, 0].tolist() == [0.0] * 5 and run.stopped_at.tolist() == [10, 0]
    assert run.history(0)["steps"].tolist() == [0, 3, 6, 9, 10] and run.history(1)["steps"].tolist() == [0]
    assert run.valid[:, 1].tolist() == [True, False, False, False, False]
    final = tl.run("x**2", [1.0], rule="fixed", alpha0=0.25, steps=10, tol=0.0, record="final", path=path)
    assert final.recorded_steps.tolist() == [0, 10] and final.points[:, 0].tolist() == [1.0, 2.0**-10]
    assert final.oracle_alphas.shape == (1,) and final.to_dict()["recorded_steps"] == [0, 10]


def test_a_billion_steps_are_refused_before_allocating_unless_only_the_end_is_recorded():
    with pytest.raises(tl.MemoryBudgetError, match="record='final'") as caught:
        tl.run("x**2", [1.0], steps=10**9)
    assert caught.value.needed > caught.value.limit and isinstance(caught.value, MemoryError)
    loss = loss_of("x**2")
    tl.run(loss, [1.0], steps=1, record="final")  # the kernels and the oracle, built before tracing
    tracemalloc.start()
    try:
        run = tl.run(loss, [1.0], steps=10**9, record="final")
        thinned = tl.run(loss, [1.0], steps=10**7, record=1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # alpha0 = 0.01, then the exact rule finds 1/2: at 0 after two steps
    assert run.status == "converged" and run.points.shape == (2, 1) and run.recorded_steps.tolist() == [0, 2]
    assert thinned.status == "converged" and thinned.points.shape == (2, 1)
    assert peak < 2**23  # a few MB: nothing for the steps the runs never took


def _peak_resident_growth(work):
    """(what ``work()`` returned, how far the process's peak resident memory rose during it, in
    bytes): Linux's high-water mark, reset before (``/proc/self/clear_refs``)."""

    def high_water() -> int:
        with open("/proc/self/status", encoding="ascii") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM"))

    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as reset:
            reset.write("5")
    except OSError:
        pytest.skip("the peak resident memory cannot be reset here (Linux's /proc/self/clear_refs)")
    before = high_water()
    return work(), high_water() - before


@pytest.mark.parametrize("path", ["fused", "generic"])
def test_a_run_that_stops_early_holds_no_rows_for_the_steps_it_never_took(path):
    """record="all" up to 5000 steps (820 MB if every step were taken: before, the history was
    padded to them and the process grew by 940 MiB); the batch converges at step 19: 20 rows."""
    loss, starts = loss_of("x**2 + 4*y**2"), STARTS[:4096]
    options = {"rule": "exact", "path": path, "memory_limit": math.inf}
    tl.run(loss, starts[:8], steps=3, **options)  # the kernels and the oracle, built before
    run, grown = _peak_resident_growth(lambda: tl.run(loss, starts, steps=5000, **options))
    last = int(run.stopped_at.max())
    assert (run.status == "converged").all() and last < 30
    assert run.points.shape == (last + 1, 4096, 2) and run.oracle_alphas.shape == (last, 4096)
    assert grown < 64 * 2**20, grown  # the 20 rows take 2.5 MB; 820 MB if padded to 5000 steps
    single, grown = _peak_resident_growth(lambda: tl.run(loss, [1.0, 1.0], steps=10**7, **options))
    assert single.points.shape == (int(single.stopped_at) + 1, 2) and grown < 16 * 2**20, grown


def test_ten_million_start_points_or_a_million_steps_are_refused_with_the_sizes_and_the_fix():
    many = np.broadcast_to(1e-3, (10**7,))  # alpha0 as a grid of 10^7 members, without the memory
    with pytest.raises(tl.MemoryBudgetError, match=r"chunks of at most about [\d,]+") as caught:
        tl.run("x**2 + y**2", [1.0, 1.0], alpha0=many, steps=200, memory_limit=2**33)
    assert "10,000,000 start point(s)" in str(caught.value) and "8 GiB" in str(caught.value)
    with pytest.raises(tl.MemoryBudgetError, match="memory_limit="):
        tl.run("x**2 + y**2", np.ones((10**5, 2)), steps=10**6)


def test_memory_limit_and_record_are_checked():
    with pytest.raises(tl.MemoryBudgetError, match=r"more than 1000 bytes \(the limit given\)"):
        tl.run("x**2", [1.0], steps=10, memory_limit=1000)
    assert tl.run("x**2", [1.0], steps=10, memory_limit=math.inf).status == "converged"
    for bad in (0, -1.0, math.nan, "1GB", True):
        with pytest.raises(tl.OptionError, match="memory_limit"):
            tl.run("x**2", [1.0], memory_limit=bad)
    for bad in (0, -2, 2.5, "every", True, None):
        with pytest.raises(tl.OptionError, match="record must be"):
            tl.run("x**2", [1.0], record=bad)


def test_the_default_limit_is_half_the_memory_available():
    available = available_memory()
    assert available is None or 0 < default_memory_limit() == available / 2
    assert resolve_memory_limit(None) is None and resolve_memory_limit(2**30) == 2**30


@pytest.mark.parametrize("path", ["fused", "generic"])
@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_the_memory_estimate_bounds_what_a_run_holds(path, optimizer):
    """tracemalloc (NumPy reports its buffers to it) against the estimate run() checks, at 4096
    members of 10-D Rosenbrock, for every record form, with and without the oracle."""
    n = 10
    loss = loss_of(
        " + ".join(f"100*(x{2 * i + 2} - x{2 * i + 1}**2)**2 + (1 - x{2 * i + 1})**2" for i in range(5))
    )
    starts = np.random.default_rng(2).uniform(-2.0, 2.0, size=(4096, n))
    for record in RECORDS:
        for oracle in (False, True):
            options = {"steps": 30, "record": record, "path": path, "oracle": oracle}
            tl.run(loss, starts[:8], optimizer, "three-point", **options)  # kernels built before tracing
            tracemalloc.start()
            try:
                tl.run(loss, starts, optimizer, "three-point", **options)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            plan = RecordPlan.of(record, 30)
            need = footprint(path=path, size=4096, n=n, plan=plan, oracle=oracle, direction=optimizer != "gd")
            assert peak <= need.total, (record, oracle, peak / need.total)


def test_a_run_too_large_for_memory_is_refused_before_the_oracle_is_built(monkeypatch):
    """10^5 starts x 10^6 steps: refused from its size alone, before the exact oracle's root loop is
    compiled (5-7 s of CSE on this machine; the refusal took as long)."""
    from taylorlr.alpha import engine

    def built(*args, **kwargs):
        raise AssertionError("the oracle was built for a run that memory refuses")

    monkeypatch.setattr(engine, "build_line_oracle", built)
    with pytest.raises(tl.MemoryBudgetError, match=r"3\.64 TiB"):
        tl.run("x**2 + 1e-9*x**4", np.ones((10**5, 1)), steps=10**6)
