"""Helpers for the run record that both steppers share (array-only): which steps the record
keeps (:class:`RecordPlan`, ``run(record=...)``), the memory a run will hold, checked before
anything is allocated (:func:`check_memory`), and the reshaping to the caller's batch."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from taylorlr.alpha.result import Counts, SafeguardCounts
from taylorlr.errors import MemoryBudgetError, OptionError

#: the record's per-step arrays, (steps[+1], *batch, ...)
PER_STEP = ("points", "alphas", "oracle_alphas", "losses", "grad_norms")


def with_batch_shape(
    record: dict[str, Any], computed: tuple[int, ...], shape: tuple[int, ...]
) -> dict[str, Any]:
    """The record with its batch axes ``computed`` (as the stepper ran it) reshaped to the
    caller's batch ``shape`` (a single point: ()).

    >>> import numpy as np
    >>> zero = np.zeros(2, int)
    >>> record = {"points": np.zeros((3, 2, 1)), "status": zero, "stopped_at": zero,
    ...           "counts": Counts(zero, zero, zero, zero),
    ...           "safeguard_counts": SafeguardCounts(*[zero] * 7)}
    >>> with_batch_shape(record, (2,), (1, 2))["points"].shape
    (3, 1, 2, 1)
    """
    if computed == shape:
        return record

    def shaped(array: Any, leading: int) -> Any:
        return array.reshape(array.shape[:leading] + shape + array.shape[leading + len(computed) :])

    out = {k: shaped(v, 1) if k in PER_STEP else v for k, v in record.items()}
    out["status"], out["stopped_at"] = shaped(record["status"], 0), shaped(record["stopped_at"], 0)
    for name, kind in (("counts", Counts), ("safeguard_counts", SafeguardCounts)):
        out[name] = kind(**{f: shaped(getattr(record[name], f), 0) for f in kind.__dataclass_fields__})
    return out


def constant(value: Any, shape: tuple[int, ...]) -> Any:
    """A read-only array of one value (a broadcast: no memory to fill), for results that are
    the same for every member (no oracle, a count of zero)."""
    import numpy

    return numpy.broadcast_to(value, shape)


# ---------------------------------------------------------------------------- what is recorded


@dataclass(frozen=True)
class RecordPlan:
    """Which steps a run's history keeps: every step, every ``every``-th step, or the end only.

    ``every == 1`` (``record="all"``) is the full record: every step up to the batch's last
    valid step (:attr:`rows` counts a run that reaches its last step). Otherwise the rows are
    theta_0, the steps t = every, 2 every, ... that the batch reached, and a last row holding
    each member's final point (:attr:`taylorlr.Run.recorded_steps` lists them);
    ``every is None`` (``record="final"``) keeps theta_0 and that last row only.

    >>> RecordPlan.of("final", 10).rows, RecordPlan.of(4, 10).rows, RecordPlan.of("all", 10).rows
    (2, 4, 11)
    >>> RecordPlan.of(4, 10).keeps(8), RecordPlan.of(4, 10).keeps(9), RecordPlan.of("final", 10).keeps(9)
    (True, False, False)
    """

    every: int | None
    steps: int

    @classmethod
    def of(cls, record: Any, steps: int) -> RecordPlan:
        """The plan for ``run(record=...)``: "all", "final" or a positive integer k.

        Raises:
            OptionError: any other value.
        """
        if record == "all" and isinstance(record, str):
            return cls(1, steps)
        if record == "final" and isinstance(record, str):
            return cls(None, steps)
        if isinstance(record, int) and not isinstance(record, bool) and record >= 1:
            return cls(record, steps)
        raise OptionError(
            f"record must be 'all' (every step), 'final' (the start and the end) or a positive integer k "
            f"(every k-th step), got {record!r}"
        )

    @property
    def full(self) -> bool:
        """Every step is recorded."""
        return self.every == 1

    @property
    def label(self) -> Any:
        return "all" if self.every == 1 else "final" if self.every is None else self.every

    def keeps(self, t: int) -> bool:
        """Step t's point is a row of its own (theta_0 always; the final row is added at the end)."""
        return t == 0 or (self.every is not None and t % self.every == 0)

    @property
    def rows(self) -> int:
        """The most rows the history can have (a run that reaches its last step)."""
        if self.every is None:
            return min(2, self.steps + 1)
        regular = self.steps // self.every + 1
        return regular + (self.steps % self.every != 0)


def recorded_steps(plan: RecordPlan, done: int) -> Any:
    """The step of each row of a thinned history whose batch ran ``done`` steps (None: every step).

    >>> every_4th, final = RecordPlan.of(4, 10), RecordPlan.of("final", 10)
    >>> recorded_steps(every_4th, 10).tolist(), recorded_steps(final, 3).tolist()
    ([0, 4, 8, 10], [0, 3])
    """
    import numpy

    if plan.full:
        return None
    regular = numpy.arange(0, done + 1, plan.every) if plan.every is not None else numpy.zeros(1, int)
    steps = regular if regular[-1] == done else numpy.append(regular, done)
    return steps.astype(numpy.int64)


def last_step(stopped_at: Any) -> int:
    """The batch's last valid step (``stopped_at`` with running members at ``steps``): where a
    thinned history ends."""
    return int(stopped_at.max()) if stopped_at.size else 0


# ---------------------------------------------------------------------------- memory

#: the share of the memory available when the run starts that a run may hold by default
MEMORY_SHARE = 0.5


def available_memory() -> int | None:
    """Bytes of memory available now (Linux: MemAvailable; else the free pages), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def resolve_memory_limit(limit: Any) -> float | None:
    """The run's memory limit in bytes, or None for the default (:func:`default_memory_limit`,
    read only for a run large enough to need it).

    Raises:
        OptionError: a limit that is not a positive number (``math.inf``: no limit).
    """
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not limit > 0:
        raise OptionError(f"memory_limit must be a positive number of bytes (or math.inf), got {limit!r}")
    return float(limit)


def default_memory_limit() -> float:
    """:data:`MEMORY_SHARE` of :func:`available_memory` (no limit where that cannot be read)."""
    available = available_memory()
    return math.inf if available is None else MEMORY_SHARE * available


#: runs estimated below this many bytes are not checked against the default limit (reading the
#: memory available costs more than such a run's steps at 10^2 members)
UNCHECKED = 2**26


@dataclass(frozen=True)
class Footprint:
    """What a run will hold, in bytes: the history (``rows`` x the batch) and the working state."""

    history: int
    working: int
    members: int
    per_member: int

    @property
    def total(self) -> int:
        return self.history + self.working


def footprint(*, path: str, size: int, n: int, plan: RecordPlan, oracle: bool, direction: bool) -> Footprint:
    """An upper estimate of a run's memory before it starts (8-byte numbers).

    The history holds theta, f, alpha and ||grad f|| per recorded row and member (and the oracle's
    alpha per step when it is recorded); the fused path keeps it for members padded to whole
    SIMD tiles (and a thinned record's scratch row), the generic path stacks its per-step arrays
    at the end (twice the history at that moment). The working state, per member: the fused
    path's tiles and buffers, about 4n + 40 numbers (a small batch's state, record and start points
    in one chunk), and 16n more where the base optimizer's direction is computed in NumPy
    (``direction``: not gradient descent); the generic path's arrays, about 24n + 80; the oracle's
    line search, 4n + 30 more (``tests/alpha/test_record.py`` checks that a run's peak stays below
    the estimate).
    """
    padded = -(-size // 4) * 4 if path == "fused" else size
    row = (n + 3) * padded + (size if oracle else 0)
    rows = plan.rows * (2 if path == "generic" else 1) + (not plan.full and path == "fused")  # + scratch
    history = rows * row * 8
    numbers = 4 * n + 40 + (16 * n if direction else 0) if path == "fused" else 24 * n + 80
    per_member = 8 * (numbers + (4 * n + 30 if oracle else 0))
    return Footprint(history, per_member * padded, size, per_member + plan.rows * (n + 4) * 8)


def check_memory(need: Footprint, limit: float | None) -> None:
    """Refuse a run that would hold more than ``limit`` bytes (None: the default limit, for a run
    estimated above :data:`UNCHECKED` bytes), saying what to change.

    Raises:
        MemoryBudgetError: the estimate exceeds the limit.
    """
    if limit is None and need.total <= UNCHECKED:
        return
    where = "the limit given" if limit is not None else f"{MEMORY_SHARE:.0%} of the memory available now"
    limit = default_memory_limit() if limit is None else limit
    if need.total <= limit:
        return
    chunk = int(limit // need.per_member)
    chunks = (
        f"; or run the start points in chunks of at most about {chunk:,}" if 1 <= chunk < need.members else ""
    )
    raise MemoryBudgetError(
        f"tl.run would hold about {_size(need.total)} (its history {_size(need.history)}, its working "
        f"state {_size(need.working)} for {need.members:,} start point(s)), more than {_size(limit)} "
        f"({where}); record only what you need: record='final' (the start and the end) or record=k "
        f"(every k-th step) keeps a few rows, and fewer steps fewer rows{chunks}; memory_limit= (bytes) "
        "raises the limit",
        needed=need.total,
        limit=limit,
    )


def _size(count: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{int(count)} bytes"
