"""The fused run's memory: the state in mapped memory handed back as the end is read, the start
and the read-back a chunk at a time. None of it may change a number: every run here is compared
bit for bit (``np.array_equal``, NaN equal to NaN) with the same run in one NumPy buffer, read in
one chunk.
"""

from __future__ import annotations

import functools
import os
import sys

import numpy as np
import pytest

import taylorlr as tl
from taylorlr.alpha import _fused_run, _tiles
from taylorlr.alpha._tiles import Layout, TiledState

ROSENBROCK = "(1 - x)**2 + 100*(y - x**2)**2"
#: 1031 members: whole tiles and a partial one; alpha0 a grid, so no member repeats another
STARTS = np.random.default_rng(11).uniform(-2.0, 2.0, size=(1031, 2))
ALPHA0 = np.geomspace(1e-4, 1e-1, len(STARTS))
FIELDS = ("points", "alphas", "oracle_alphas", "losses", "grad_norms", "status", "stopped_at")


@functools.cache
def rosenbrock() -> tl.Loss:
    return tl.Loss(ROSENBROCK)


def a_run(optimizer: str, record: object, oracle: bool) -> tl.Run:
    return tl.run(rosenbrock(), STARTS, optimizer, "three-point", alpha0=ALPHA0, steps=25, record=record,
                  oracle=oracle, path="fused")  # fmt: skip


def assert_identical(a: tl.Run, b: tl.Run) -> None:
    for name in FIELDS:
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=name != "status"), name
    for group in ("counts", "safeguard_counts"):
        for name, counted in vars(getattr(a, group)).items():
            assert np.array_equal(counted, getattr(getattr(b, group), name)), (group, name)
    steps = (a.recorded_steps, b.recorded_steps)
    assert steps == (None, None) if steps[0] is None else np.array_equal(*steps)


@pytest.mark.skipif(not hasattr(__import__("mmap"), "MADV_DONTNEED"), reason="no madvise here")
@pytest.mark.parametrize("optimizer", ["gd", "adam"])
@pytest.mark.parametrize("record", ["all", 4, "final"])
def test_a_mapped_state_read_back_in_small_chunks_gives_the_same_bits(monkeypatch, optimizer, record):
    """The state in mapped memory (released chunk by chunk), the start, the unrecorded steps and
    the read-back in chunks of 12 members (1031 = 85 chunks and a partial one; without an oracle,
    gd's blocks of 12 members too): the same run."""
    for oracle in (False, True):
        reference = a_run(optimizer, record, oracle)
        with monkeypatch.context() as patch:
            patch.setattr(_tiles, "MAPPED_BYTES", 0)
            patch.setattr(_fused_run, "CHUNK_MEMBERS", 12)
            patch.setattr(_fused_run, "BLOCK_BYTES", 3 * Layout(2, separate_grad=False).width * 4 * 8)
            assert_identical(a_run(optimizer, record, oracle), reference)


def test_counts_that_are_equal_by_construction_share_one_read_only_array():
    """gd with the exact rule evaluates f and grad f once per step (and at the start): values ==
    gradients == hvps + 1 per member, the first two one array that cannot be written by mistake."""
    run = tl.run(rosenbrock(), STARTS[:9], "gd", "exact", alpha0=1e-4, steps=6, oracle=False)
    counts = run.counts
    assert counts.values is counts.gradients and not counts.values.flags.writeable
    assert np.array_equal(counts.values, counts.hvps + 1) and np.array_equal(counts.hvps, run.stopped_at)


def _resident() -> int:
    """This process's resident bytes (Linux: /proc/self/statm)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_releasing_the_state_hands_its_memory_back():
    """64 MiB of state, touched, then released in two halves: the resident memory falls by about
    the state's size (a quarter of it allowed for other allocations), and the first half's
    numbers read as zeros after its release."""
    size = 2**20  # members; Layout(2) has 13 columns: 104 MiB
    state = TiledState(Layout(2, separate_grad=False), size, frozen=1.0)
    assert state.array.nbytes >= _tiles.MAPPED_BYTES
    state.array[...] = 1.0  # every page touched
    before = _resident()
    state.release(len(state.array) // 2)
    assert not state.array[: len(state.array) // 2 - 1024].any()  # the pages before the cut: zeros
    assert state.array[-1].all()
    state.release(len(state.array))
    assert before - _resident() > 0.75 * state.array.nbytes


@pytest.mark.parametrize("record", ["all", 3, "final"])
def test_steps_in_blocks_give_the_step_by_steps_bits(monkeypatch, record):
    """Without an oracle, gd's steps run a chunk of the batch at a time through many steps (chunks
    of one tile here: 4 members). The first 600 members start within 1e-3 of the minimum (1, 1)
    and converge between steps 2 and 18, so whole chunks stop early and their kept rows repeat
    the frozen state; the others run to the end. The same run step by step over the whole batch,
    as with an oracle: the same bits in every row, status and count."""
    starts = STARTS.copy()
    starts[:600] = 1 + np.random.default_rng(5).normal(scale=1e-3, size=(600, 2))

    def run() -> tl.Run:
        return tl.run(rosenbrock(), starts, "gd", "exact", alpha0=ALPHA0, steps=30, tol=1e-4, record=record,
                      oracle=False, path="fused")  # fmt: skip

    with monkeypatch.context() as patch:
        patch.setattr(_fused_run, "BLOCK_BYTES", 1)  # one tile per chunk
        blocked = run()

    with monkeypatch.context() as patch:
        patch.setattr(_fused_run, "IN_BLOCKS", False)  # every step over the whole batch's state
        reference = run()
    assert_identical(blocked, reference)
    chunks = reference.stopped_at[:600].reshape(-1, 4).max(axis=1)
    assert (chunks < 28).sum() > 100 and (reference.stopped_at[600:] == 30).mean() > 0.5


@pytest.mark.parametrize("record", ["all", 3, 4, "final"])
def test_a_batch_that_stops_before_its_last_step_ends_its_rows_there_in_blocks(monkeypatch, record):
    """203 members within 1e-3 of Rosenbrock's minimum converge between steps 2 and 18 of 200:
    the history ends at step 18 (a kept step of record=3; with record=4 the row after step 16
    holds each member's last point), and every chunk (one tile) that stopped earlier repeats its
    last point in the rows of the later steps. The same bits as step by step over the whole batch."""
    starts = 1 + np.random.default_rng(5).normal(scale=1e-3, size=(203, 2))

    def run() -> tl.Run:
        return tl.run(rosenbrock(), starts, "gd", "exact", alpha0=ALPHA0[:203], steps=200, tol=1e-4,
                      record=record, oracle=False, path="fused")  # fmt: skip

    with monkeypatch.context() as patch:
        patch.setattr(_fused_run, "BLOCK_BYTES", 1)  # one tile per chunk
        blocked = run()
    with monkeypatch.context() as patch:
        patch.setattr(_fused_run, "IN_BLOCKS", False)
        reference = run()
    assert_identical(blocked, reference)
    assert reference.stopped_at.max() == 18 and reference.stopped_at.min() == 2
    expected = {"all": None, 3: [0, 3, 6, 9, 12, 15, 18], 4: [0, 4, 8, 12, 16, 18], "final": [0, 18]}[record]
    assert expected is None or blocked.recorded_steps.tolist() == expected
    assert len(blocked.losses) == (19 if record == "all" else len(expected))


@pytest.mark.parametrize("record", ["all", 3, "final"])
def test_an_empty_batch_is_an_empty_record_on_both_paths(record):
    """No start points: no member to step (the fused loop's "anyone running?" asked nothing of an
    empty state before, and raised), the same shapes as the generic path's, zero counts."""
    runs = [tl.run("x**2 + y**2", np.zeros((0, 2)), steps=3, record=record, path=path)
            for path in ("fused", "generic")]  # fmt: skip
    for name in ("points", "losses", "alphas", "status", "stopped_at"):
        assert getattr(runs[0], name).shape == getattr(runs[1], name).shape, name
    assert runs[0].points.shape[1:] == (0, 2) and runs[0].counts.totals()["values"] == 0


def test_the_verdict_in_chunks_names_every_member_as_in_one_piece(monkeypatch):
    """The record's tests (fell, rose, ran out) judged 7 members at a time: the same statuses as
    in one piece, on a batch that ends in five of them (x**3 - 3x + y**2: a saddle at (-1, 0), a
    minimum at (1, 0), unbounded below as x -> -inf; the fixed alpha0 from 1e-3, which crawls, to
    3, which overshoots)."""
    from taylorlr.alpha import verdict

    starts = np.random.default_rng(4).uniform(-3.0, 3.0, size=(300, 2))
    starts[:20] = [-1.0, 0.0]

    def run() -> tl.Run:
        return tl.run("x**3 - 3*x + y**2", starts, "gd", "fixed", alpha0=np.geomspace(1e-3, 3.0, 300),
                      steps=30, tol=1e-6, oracle=False)  # fmt: skip

    whole = run()
    with monkeypatch.context() as patch:
        patch.setattr(verdict, "_CHUNK", 7)
        chunked = run()
    assert np.array_equal(whole.status, chunked.status)
    assert set(whole.status_counts()) == {"converged", "max_steps", "unbounded", "rose", "saddle"}


def test_blocks_end_where_the_firing_counters_are_flushed(monkeypatch):
    """alpha_max fires at each of 300 steps, past two flushes of the packed counters (every 127
    steps, where a block ends): the count is 300 for every member, and the run is the
    step-by-step run's, bit for bit."""

    def run() -> tl.Run:
        return tl.run("x**2 + y**2", STARTS[:9], "gd", "exact", steps=300, tol=0.0, oracle=False,
                      safeguards=tl.Safeguards(alpha_max=1e-3), record=7, path="fused")  # fmt: skip

    blocked = run()
    with monkeypatch.context() as patch:
        patch.setattr(_fused_run, "IN_BLOCKS", False)  # every step over the whole batch's state
        assert_identical(blocked, run())
    assert blocked.safeguard_counts.alpha_max.tolist() == [300] * 9
