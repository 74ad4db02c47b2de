"""The memory a sweep needs, estimated before anything is allocated.

A run of B start points keeps its whole history, at most (a run that stops early ends its history
there): points (steps + 1, B, n), alphas, losses and gradient norms (steps + 1, B), the oracle's
alphas (steps, B) when recorded; the engine holds
the steps as a list and then stacks them, so the peak is about twice that. The table needs
about :data:`ROW_BYTES` per run.

>>> run_bytes(batch=1000, n=2, steps=100, oracle=False)
8080000
"""

from __future__ import annotations

import os

from taylorlr.errors import OptionError

#: bytes of one row of the table (32 columns of 8 bytes, and room for pandas' copies)
ROW_BYTES = 512


class SweepTooLargeError(OptionError):
    """A sweep that would not fit in memory: the message says its size and how to chunk it."""


def run_bytes(*, batch: int, n: int, steps: int, oracle: bool) -> int:
    """The peak bytes of one :func:`taylorlr.run` over ``batch`` start points."""
    per_step = batch * (n + 3 + (1 if oracle else 0)) * 8
    return 2 * (steps + 1) * per_step


def memory_limit() -> int:
    """Half the machine's physical memory (what a sweep may use by default)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")) // 2
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 * 2**30


def gib(size: float) -> str:
    """Bytes as GiB text: ``gib(3 * 2**30)`` is '3 GiB'."""
    return f"{size / 2**30:.3g} GiB"


def check(*, runs: int, chunk: int, n_max: int, steps: int, oracle: bool, limit: int) -> None:
    """Refuse a sweep whose table, or whose largest call, would not fit in ``limit`` bytes.

    Raises:
        SweepTooLargeError: saying the size, the limit and how to chunk the sweep.

    >>> check(runs=10**9, chunk=1024, n_max=2, steps=100, oracle=False, limit=2**30)
    Traceback (most recent call last):
    ...
    taylorlr.benchmarking._memory.SweepTooLargeError: the table of 1000000000 runs needs about 477 GiB, \
more than the 1 GiB allowed (max_bytes): run the sweep in pieces of at most 2097152 runs (starts=(0, k), \
starts=(k, 2k), ... or fewer problems per call), or on a Dask cluster (client=) writing each piece out
    """
    table = runs * ROW_BYTES
    if table > limit:
        piece = max(limit // ROW_BYTES, 1)
        raise SweepTooLargeError(
            f"the table of {runs} runs needs about {gib(table)}, more than the {gib(limit)} allowed "
            f"(max_bytes): run the sweep in pieces of at most {piece} runs (starts=(0, k), starts=(k, 2k), "
            "... or fewer problems per call), or on a Dask cluster (client=) writing each piece out"
        )
    call = run_bytes(batch=chunk, n=n_max, steps=steps, oracle=oracle)
    if call > limit:
        fits = max(limit // run_bytes(batch=1, n=n_max, steps=steps, oracle=oracle), 0)
        advice = f"pass chunk={fits} or less" if fits else "lower steps"
        raise SweepTooLargeError(
            f"one call of {chunk} start points (n = {n_max}, {steps} steps) needs about {gib(call)}, more "
            f"than the {gib(limit)} allowed (max_bytes): {advice}"
        )
