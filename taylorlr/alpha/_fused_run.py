"""The fused run's passes over memory: the start of a batch a chunk at a time (:class:`Feed`,
:func:`begin`), the history's rows (:class:`History`), the read-back of the counters
(:class:`Counters`, :func:`read_back`), the blocked run that takes each cache-sized chunk from
its start to its read-back (:class:`Blocks`) with the oracle in the tiles on each chunk
(:class:`ChunkOracle`), and the run's record from what a stepper leaves (:class:`End`,
:func:`run_record`). The steps themselves are :mod:`taylorlr.alpha.fused`'s compiled loops.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taylorlr.alpha._record import RecordPlan, constant, recorded_steps
from taylorlr.alpha._tiles import FIRE_BASE, FIRE_FLUSH, FIRST_FIRING, READ_BACK, Layout, TiledState, zeros
from taylorlr.alpha.result import _CONVERGED, _RUNNING, Counts, SafeguardCounts
from taylorlr.alpha.safeguards import FIRINGS
from taylorlr.compile.simd_codegen import LANES

if TYPE_CHECKING:
    from taylorlr.alpha.fused import StepKernel

#: the fused loop asks "anyone still running?" every this many steps (without an oracle)
RUNNING_CHECK = 4
#: the state's bytes a run without an oracle takes through its steps at a time (:class:`Blocks`):
#: about a core's L2 cache (measured on 2-D Rosenbrock, 20 steps, 10^6 members: 2^19 bytes 169 ms,
#: 2^20 156 ms, 2^21 150 ms, 2^17 203 ms; at 10^5 flat from 2^19)
BLOCK_BYTES = 2**20
#: with the oracle in the tiles, a block is this many times :data:`BLOCK_BYTES`: each block calls the
#: oracle once a step (about 20 us of NumPy and Python a call, on 4,000-10,000 members), so fewer,
#: larger blocks; its loop and the step's, bound by arithmetic, lose nothing out of L2 (measured at
#: 10^5 starts x 20 steps, the fastest of 7, oracle on: 2-D Rosenbrock 0.056-0.057 s at 1 times,
#: 0.051-0.055 s at 4, 0.052-0.055 s at 8; 10-D extended Rosenbrock 0.128-0.130 s, 0.113-0.119 s,
#: 0.116-0.123 s; 10-D quadratic 0.108, 0.105, 0.104 s)
ORACLE_BLOCKS = 4

#: members per call of a loop on a part of the batch (the start, a step that is not recorded,
#: the read-back): small buffers that stay in cache, whatever the batch
CHUNK_MEMBERS = 2**15


def _chunks(tiles: int) -> Iterator[tuple[int, int]]:
    """(first, last) tiles of each chunk of at most :data:`CHUNK_MEMBERS` members."""
    per_chunk = max(1, CHUNK_MEMBERS // LANES)
    return ((first, min(tiles, first + per_chunk)) for first in range(0, tiles, per_chunk))


@dataclass(frozen=True)
class Start:
    """A run's inputs, theta_0 (..., n), alpha_0 and gamma, broadcast against its batch."""

    theta0: Any
    alpha0: Any
    gamma: Any
    batch: tuple[int, ...]

    def flat(self, name: str) -> Any:
        """theta_0 as (B, n), alpha_0 or gamma as (B,): views of the caller's arrays where NumPy can
        make them (a C-contiguous (B, n) float64 array of start points is read where it is)."""
        import numpy as np

        size, array = math.prod(self.batch), getattr(self, name)
        shape = (*self.batch, array.shape[-1]) if name == "theta0" else self.batch
        whole = array if array.shape == shape else np.broadcast_to(array, shape)
        return whole.reshape(size, array.shape[-1]) if name == "theta0" else whole.reshape(size)


class Feed:
    """The start loop on a chunk of tiles at a time: the start points read where they are (a copy
    only for a partial tile or points NumPy cannot hand over as they are), alpha_0 and gamma
    through a small buffer reused by every chunk."""

    def __init__(self, step: StepKernel, start: Start, size: int, per_chunk: int) -> None:
        import numpy as np

        self.step, self.size = step, size
        self.points, self.alphas, self.gammas = (start.flat(name) for name in ("theta0", "alpha0", "gamma"))
        self.members = per_chunk * LANES
        self.inputs: Any = None  # a buffer for a partial chunk's points, made when one comes
        self.parameters = np.zeros(2 * self.members)

    def begin(self, state: Any, record: Any, first: int) -> None:
        """Fill ``state``, the tiles first ... first + len(state) - 1 of the batch, from their start
        points, and write their first record into ``record`` (n + 3, len(state) * LANES)."""
        import numpy as np

        members = len(state) * LANES
        low, high = first * LANES, min(first * LANES + members, self.size)
        part = np.ascontiguousarray(self.points[low:high], dtype=np.float64)
        inputs = part
        if len(part) != members:
            if self.inputs is None:
                self.inputs = np.empty((self.members, self.step.layout.n))
            inputs = self.inputs[:members]
            inputs[: high - low], inputs[high - low :] = part, 0.0
        parameters = self.parameters[: 2 * members].reshape(2, members)
        parameters[:, high - low :] = 0.0
        parameters[0, : high - low] = self.alphas[low:high]
        parameters[1, : high - low] = self.gammas[low:high]
        self.step.begin(inputs, parameters, state, record)


def begin_state(step: StepKernel, start: Start, state: TiledState, record: Any) -> Any:
    """Fill the state from theta_0, alpha_0 and gamma, and the first record into ``record``, a
    chunk at a time (:class:`Feed`: no copy of the batch's size is made). With ``record`` None (a
    thinned history), the first record is written at the end (:func:`read_back_state`, from the inputs
    and the state's f(theta_0)): only ||grad f(theta_0)|| is kept, returned as a (padded B,) array."""
    import numpy as np

    layout = state.layout
    feed = Feed(step, start, state.size, min(len(state.array), max(1, CHUNK_MEMBERS // LANES)))
    whole = record is not None and len(state.array) * LANES <= CHUNK_MEMBERS
    norms = None if record is not None else np.empty(state.padded)
    for first, last in _chunks(len(state.array)):
        rows = record if whole else np.empty((layout.recorded, (last - first) * LANES))
        feed.begin(state.array[first:last], rows, first)
        if norms is not None:
            norms[first * LANES : last * LANES] = rows[layout.column("grad_norm")]
        elif not whole:
            record[:, first * LANES : last * LANES] = rows
    return norms


def write_first_row(
    row: Any, points: Any, alphas: Any, norms: Any, state: TiledState, first: int, last: int
) -> None:
    """Write the first record of the members in tiles first ... last - 1 into ``row`` (n + 3, padded
    B): theta_0 and alpha_0 from the inputs (``points`` (B, n) and ``alphas`` (B,)), f(theta_0) from
    the state (the start loop wrote the same expression there and into a record), and
    ||grad f(theta_0)||, kept by :func:`begin_state`."""
    layout, size = state.layout, state.size
    low, high = first * LANES, min(last * LANES, size)
    row[layout.block("theta"), low:high] = points[low:high].T
    f0 = state.array[first:last, layout.column("start"), :]
    row[layout.column("value"), first * LANES : last * LANES] = f0.reshape(-1)
    row[layout.column("alpha"), low:high] = alphas[low:high]
    row[layout.column("grad_norm"), low:high] = norms[low:high]


def last_valid_step(state: TiledState, steps: int) -> int:
    """The batch's last valid step (where a thinned history ends): ``steps`` while a member runs,
    else the latest stop (read from the state's columns in place)."""
    layout = state.layout
    if state.array[:, layout.column("code"), :].min(initial=_CONVERGED) == _RUNNING:
        return steps
    return int(state.array[:, layout.column("stopped"), :].max(initial=0))


class Counters:
    """The :data:`READ_BACK` numbers of the batch, read a chunk of tiles at a time into the result's
    arrays (no buffer of the batch's size): the status codes (int8: members still running are
    MAX_STEPS), the last valid steps (int64: ``steps`` for those), the evaluation counts that are
    not zero by construction (values and gradients one read-only array where every step
    evaluates both alike) and each guard's firings (None where it never fired)."""

    def __init__(self, step: StepKernel, size: int, per_chunk: int) -> None:
        import numpy as np

        tries = step.evaluations
        self.step, self.size = step, size
        self.alike = tries["gradients"] == tries["values"]  # values and gradients: one array
        kinds = ("values", *(() if self.alike else ("gradients",)), *(("hvps",) if tries["hvps"] else ()))
        # the integers in one block (in huge pages where the system has them: a few page faults, not
        # thousands; see zeros); a guard's row is touched only once it fires
        self.block = zeros((1 + len(kinds) + len(FIRINGS), size), "int64", filled=False)[0]
        self.code, self.stopped = np.empty(size, np.int8), self.block[0]
        self.counted = {name: self.block[1 + k] for k, name in enumerate(kinds)}
        self.fired: list[Any] = [None] * len(FIRINGS)
        self.buffer = np.empty(len(READ_BACK) * per_chunk * LANES, np.int64)
        self.last = 0  # the latest valid step read so far (``steps`` counts as such where one runs)

    def read(self, tiles: Any, first: int) -> None:
        """Read the members of ``tiles``, the batch's tiles first ... first + len(tiles) - 1."""
        import numpy as np

        low = first * LANES
        high = min(low + len(tiles) * LANES, self.size)
        part = self.buffer[: len(READ_BACK) * len(tiles) * LANES].reshape(len(READ_BACK), -1)
        self.step.read_back(tiles, part)
        part = part[:, : high - low]
        self.code[low:high], self.stopped[low:high] = part[0], part[1]
        if high > low:
            self.last = max(self.last, int(part[1].max()))
        for name, counted in self.counted.items():
            counted[low:high] = part[READ_BACK.index(name)]
        fires = part[FIRST_FIRING:]
        if np.count_nonzero(fires):  # rarely: one count over the chunk's block first
            for guard in np.flatnonzero(fires.any(axis=1)).tolist():
                self._row(guard, low)
        for guard, row in enumerate(self.fired):
            if row is not None:
                row[low:high] = fires[guard]

    def add(self, digits: Any, low: int) -> None:
        """Add the firings flushed from the state (``digits``, (len(FIRINGS), k)) to members low ...
        low + k - 1."""
        import numpy as np

        for guard in np.flatnonzero(digits.any(axis=1)).tolist():
            self._row(guard, low)[low : low + digits.shape[1]] += digits[guard]

    def _row(self, guard: int, low: int) -> Any:
        """Guard ``guard``'s row of firings, made at its first firing (in the members from ``low`` on)."""
        if self.fired[guard] is None:
            self.fired[guard] = self.block[len(self.block) - len(FIRINGS) + guard]
            self.fired[guard][:low] = 0
        return self.fired[guard]

    def result(self) -> tuple[Any, Any, dict[str, Any], list[Any]]:
        """The status codes, the last valid steps, the counts and the firings (see the class)."""
        counted = dict(self.counted)
        if self.alike:
            counted["values"].flags.writeable = False
            counted["gradients"] = counted["values"]
        return self.code, self.stopped, counted, self.fired


def read_back_state(
    step: StepKernel, state: TiledState, rows: tuple[Any, Any]
) -> tuple[Any, Any, dict[str, Any], list[Any]]:
    """:class:`Counters` of the whole state, the rows that come from the state written (``rows``: a
    function (state, first, last) that writes the first record of those tiles' members, or None;
    and the final row, into which each member's recorded columns are copied, or None), and each
    chunk's memory released once read (:meth:`TiledState.release`)."""
    tiles, layout = len(state.array), state.layout
    first_row, final_row = rows
    counters = Counters(step, state.size, min(tiles, max(1, CHUNK_MEMBERS // LANES)))
    for first, last in _chunks(tiles):
        counters.read(state.array[first:last], first)
        if first_row is not None:
            first_row(state, first, last)
        if final_row is not None:
            tiled = final_row.reshape(layout.recorded, -1, LANES)[:, first:last]
            tiled[...] = state.array[first:last, : layout.recorded].transpose(1, 0, 2)
        state.release(last)
    return counters.result()


def _oracle_rows(rows: Any, count: int, size: int) -> Any:
    """The oracle's alphas as a (count, B) array, NaN past the rows computed."""
    import numpy as np

    if isinstance(rows, np.ndarray) and rows.shape == (count, size):  # the chunks' oracle's own rows
        return rows
    out = np.empty((count, size))
    if len(rows):
        out[: len(rows)] = rows
    out[len(rows) :] = np.nan
    return out


@dataclass(frozen=True, kw_only=True)
class End:
    """What a stepper leaves: the history's rows (rows, n + 3, padded B), the read-back
    (:meth:`Counters.result`), the firings flushed from the state before it (``fires``: 0, or
    (len(FIRINGS), B)), the batch's last valid step and the oracle's rows (None: no oracle)."""

    recorded: Any
    code: Any
    stopped: Any
    counted: dict[str, Any]
    fired: list[Any]
    fires: Any
    last: int
    oracle_rows: Any = None  # a list of rows, or a (steps, B) array
    oracle_seconds: float = 0.0


def run_record(end: End, layout: Layout, plan: RecordPlan, size: int) -> dict[str, Any]:
    """The run's record (the fields of :class:`~taylorlr.alpha.result.Run` a stepper fills) for a
    batch of ``size`` members, from what the stepper left."""
    import numpy as np

    none = constant(np.int64(0), (size,))
    counts = {name: end.counted.get(name, none) for name in ("values", "gradients", "hvps", "line_searches")}
    fired = [none if counted is None else counted for counted in end.fired]  # None: never fired
    fires = end.fires
    firings = {name: fires[k] + fired[k] if isinstance(fires, np.ndarray) else fired[k]
               for k, name in enumerate(FIRINGS)}  # fmt: skip
    recorded = end.recorded[:, :, :size]
    taken = len(recorded) - 1  # the oracle's rows: the recorded steps but the last
    if end.oracle_rows is not None:
        oracle_alphas = _oracle_rows(end.oracle_rows[:taken], taken, size)
    else:
        oracle_alphas = constant(np.nan, (taken, size))
    return {
        "points": recorded[:, : layout.n].transpose(0, 2, 1),
        "losses": recorded[:, layout.column("value")],
        "alphas": recorded[:, layout.column("alpha")],
        "grad_norms": recorded[:, layout.column("grad_norm")],
        "oracle_alphas": oracle_alphas,
        "status": end.code,  # loop codes: the verdict names them
        "stopped_at": end.stopped,
        "counts": Counts(**counts),
        "safeguard_counts": SafeguardCounts(**firings),
        "recorded_steps": recorded_steps(plan, end.last),
    }


class ChunkOracle:
    """The oracle in the tiles (:attr:`FusedStepper.oracle_tiles`, a
    :class:`~taylorlr.alpha.oracle.TiledMinimiser`) on each chunk of the batch before each kept
    step (:class:`Blocks`): a row (B,) per kept step that a chunk reached, NaN where it did not
    run (a member not running; a chunk that had stopped), and the seconds it took. The later
    rounds of the members that look again are gathered over the chunks and steps and run once at
    the end (:meth:`finish`); each member's alpha* is the one the whole batch's oracle finds (the
    loops work member by member)."""

    def __init__(self, oracle_tiles: Any, plan: RecordPlan, size: int) -> None:
        self.oracle_tiles, self.plan, self.size, self.seconds = oracle_tiles, plan, size, 0.0
        # one row a kept step, made at the first call (its memory taken as rows are written): the
        # first round writes each chunk's alpha* in place, a last chunk past the batch through a
        # padded scratch; the chunks each row's step reached, by first member
        self.rows: Any = None
        self.scratch: Any = None
        self.reached: dict[int, list[tuple[int, int]]] = {}
        self.later: list[tuple[Any, ...]] = []  # (members in the flat rows, theta, omega, scale)

    def _row(self, t: int) -> int:
        """The row of kept step t: 0, then one every ``plan.every`` steps."""
        return 0 if t == 0 else t // (self.plan.every or 1)

    def __call__(self, t: int, chunk: Any, members: slice) -> None:
        import numpy as np

        if not self.plan.keeps(t):
            return
        started = time.perf_counter()
        if self.rows is None:
            kept = 1 if self.plan.every is None else self.plan.steps // self.plan.every + 1
            self.rows = np.empty((kept, self.size))
        index = self._row(t)
        count = len(chunk) * LANES
        stop = min(members.start + count, self.size)
        past = stop - members.start < count  # the last chunk's padding
        if past and (self.scratch is None or len(self.scratch) < count):
            self.scratch = np.empty(count)
        place = self.scratch[:count] if past else self.rows[index, members.start : stop]
        _, again, *looking = self.oracle_tiles.first(chunk, stop - members.start, into=place)
        if past:
            self.rows[index, members.start : stop] = place[: stop - members.start]
        self.reached.setdefault(index, []).append((members.start, count))
        if again.size:
            self.later.append((again + (index * self.size + members.start), *looking))
        self.seconds += time.perf_counter() - started

    def finish(self) -> Any:
        """The later rounds of the members of every chunk and kept step that look again, in one
        call (20 calls of a run of 20 steps cost 1.5 ms at 10^5 members, of which 0.2% look again
        a step); the rows of the kept steps, in order (kept steps, B): each step up to the last
        one reached was reached by some chunk."""
        import numpy as np

        started = time.perf_counter()
        if self.later:
            rows, theta, omega, scale = (np.concatenate(part) for part in zip(*self.later, strict=True))
            self.oracle_tiles.later(theta, omega, rows, scale, self.rows.reshape(-1))
        for index, chunks in self.reached.items():
            if sum(min(count, self.size - first) for first, count in chunks) < self.size:
                unreached = np.ones(self.size, dtype=bool)  # NaN for the chunks that had stopped
                for first, count in chunks:
                    unreached[first : first + count] = False
                self.rows[index, unreached] = np.nan
        self.seconds += time.perf_counter() - started
        return self.rows[: len(self.reached)] if self.rows is not None else np.empty((0, self.size))


class History:
    """The rows of a run's history, each (n + 3, padded B), written by the kernels in place.

    One (rows, n + 3, padded B) array, whose memory the system hands out as rows are first
    written (so a run that stops early holds nothing for the steps it never took; the run's
    memory check bounds the whole). Every step recorded (``plan.full``): the rows up to the
    batch's last valid step, where the history ends (:meth:`finish`). Thinned: the kept rows, the
    other steps writing their record into a small scratch, a chunk of tiles at a time, and at the
    end a last row (:meth:`final_row`) that the read-back fills with the state's recorded
    columns (each member's last point). :class:`Blocks` writes the rows a chunk of members at a
    time and ends them itself (:meth:`Blocks.settle`).

    The step loop is called at addresses (:meth:`StepKernel.unchecked`): every array here and
    the state are made by the stepper, C-contiguous float64 of the shapes the loop expects.
    """

    def __init__(self, plan: RecordPlan, width: int, padded: int) -> None:
        self.plan, self.width = plan, width
        # memory is taken as rows are written (in huge pages: see :func:`zeros`)
        self.rows = zeros((plan.rows, width, padded), filled=False)[0]
        self.steps: list[int] = []  # the step of each row written (thinned)
        self.padded = padded
        self.scratch: Any = None  # the record of a step that is not kept (thinned), made when one comes

    def row(self, t: int) -> Any:
        """Where the kernel writes step t's record (a kept row)."""
        if self.plan.full:
            return self.rows[t]
        self.steps.append(t)
        return self.rows[len(self.steps) - 1]

    def advance(self, step: StepKernel, tiles: Any, t: int) -> None:
        """Run the step that leads to step t's point, writing its record where it is kept, else
        a chunk of tiles at a time into the scratch record (the same loop: the same bits)."""
        import numpy as np

        if self.plan.full or self.plan.keeps(t):
            step.unchecked(tiles.ctypes.data, self.row(t).ctypes.data, len(tiles))
            return
        if self.scratch is None:
            per_chunk = min(max(1, CHUNK_MEMBERS // LANES), self.padded // LANES)
            self.scratch = np.empty((self.width, per_chunk * LANES))
        per_chunk, scratch, state = (
            self.scratch.shape[1] // LANES,
            self.scratch.ctypes.data,
            tiles.ctypes.data,
        )
        for first in range(0, len(tiles), per_chunk):
            step.unchecked(state + first * tiles.strides[0], scratch, min(per_chunk, len(tiles) - first))

    def final_row(self, rows: Any) -> Any:
        """Where each member's last point goes (thinned: the row after the kept steps up to the
        batch's last valid one ``rows[-1]``, unless that step is a kept row), or None."""
        if self.plan.full:
            return None
        kept = sum(step <= rows[-1] for step in self.steps)
        del self.steps[kept:]
        return None if self.steps[-1] == rows[-1] else self.row(int(rows[-1]))

    def finish(self, last: int) -> Any:
        """The history up to the batch's last valid step ``last``: every step 0 ... last
        (every step recorded), else the rows kept up to it and the final row (:meth:`final_row`,
        filled by then)."""
        return self.kept(last + 1 if self.plan.full else len(self.steps))

    def kept(self, count: int) -> Any:
        """The first ``count`` rows. Rows past them were never written: where they are most of the
        array, the rows kept are copied out, so that the result does not hold the address space of
        steps the run never took."""
        kept = self.rows[:count]
        return kept.copy() if 2 * len(kept) < len(self.rows) else kept


#: tests set it False to run every step over the whole batch's state (:meth:`FusedStepper._run_whole`)
IN_BLOCKS = True


class Blocks:
    """A run without an oracle or a NumPy direction between its steps, a cache-sized chunk of the
    batch at a time: each chunk of tiles is started, taken through all of its steps and read
    back into the result before the next one is started, in one state buffer of
    :data:`BLOCK_BYTES` (:data:`ORACLE_BLOCKS` times that with the oracle) that stays in cache
    (one pass over the batch's memory instead of one per step; no state of the batch's size).

    A chunk whose members all stopped (asked every :data:`RUNNING_CHECK` steps) skips its
    remaining steps: a stopped member's step changes nothing, and its record would repeat its
    last point. Which rows its later steps fill depends on the batch's last valid step, known
    once every chunk ran: :meth:`settle` then copies the chunk's last point into them. A thinned
    history's final row (each member's last point) is written into its last row, and moved
    where the batch's last valid step puts it. Each member's numbers are those of the steps over
    the whole state (the same loops, in the same order per member).
    """

    def __init__(
        self, step: StepKernel, start: Start, plan: RecordPlan, size: int, oracle: ChunkOracle | None = None
    ) -> None:
        import numpy as np

        self.oracle = oracle  # run on each chunk before each kept step
        layout = step.layout
        self.step, self.plan, self.size, self.width = step, plan, size, layout.recorded
        self.tiles = -(-size // LANES)
        block = BLOCK_BYTES * (1 if oracle is None else ORACLE_BLOCKS)
        self.per_chunk = max(1, min(self.tiles, block // (layout.width * LANES * 8)))
        self.history = History(plan, layout.recorded, self.tiles * LANES)
        self.counters = Counters(step, size, self.per_chunk)
        self.feed = Feed(step, start, size, self.per_chunk)
        self.state = np.empty(self.per_chunk * layout.width * LANES)
        self.scratch = np.empty(self.per_chunk * layout.recorded * LANES)
        self.code, self.fires = layout.column("code"), layout.column("fires")
        self.stops: list[tuple[slice, int]] = []  # each chunk's members and its last step taken

    def run(self) -> End:
        layout = self.step.layout
        for first in range(0, self.tiles, self.per_chunk):
            count = min(self.per_chunk, self.tiles - first)
            state = self.state[: count * layout.width * LANES].reshape(count, layout.width, LANES)
            record = self.scratch[: count * self.width * LANES].reshape(self.width, -1)
            self.feed.begin(state, record, first)
            if first + count == self.tiles:  # members past B: frozen
                state[-1, self.code, self.size - (self.tiles - 1) * LANES :] = float(_CONVERGED)
            flushed = self._steps(state, record, first)
            self.counters.read(state, first)
            if flushed is not None:
                self.counters.add(flushed[:, : min(count * LANES, self.size - first * LANES)], first * LANES)
            if not self.plan.full:  # each member's last point (the last step's record), into the last row
                self.history.rows[-1][:, first * LANES : (first + count) * LANES] = record
        code, stopped, counted, fired = self.counters.result()
        last = self.counters.last
        oracle_rows = None if self.oracle is None else self.oracle.finish()
        return End(recorded=self.settle(last), code=code, stopped=stopped, counted=counted, fired=fired,
                    fires=0, last=last, oracle_rows=oracle_rows,
                    oracle_seconds=0.0 if self.oracle is None else self.oracle.seconds)  # fmt: skip

    def _index(self, t: int) -> int | None:
        """The history's row of step t's record, or None where it is not kept."""
        every = self.plan.every
        return t // every if every is not None and t % every == 0 else None

    def _steps(self, state: Any, record: Any, first: int) -> Any:
        """Take the chunk (the tiles first ... first + len(state) - 1, started, its first record in
        ``record``) through its steps, each kept record copied into its row; the firings flushed
        from the state on the way ((len(FIRINGS), members) int64), or None."""
        import numpy as np

        rows, members = self.history.rows, slice(first * LANES, (first + len(state)) * LANES)
        rows[0][:, members] = record
        at, into, flushed, tiles = state.ctypes.data, record.ctypes.data, None, len(state)
        every, codes, t = self.plan.every or 0, state[:, self.code, :], 0  # every 0: only the start kept
        witness = 0  # a tile where a member ran at the last check: asked first (4 codes, not the chunk's)
        while t < self.plan.steps:
            if t % RUNNING_CHECK == 0 and codes[witness].min() != _RUNNING:
                witness, lane = divmod(int(codes.argmin()), LANES)  # codes >= _RUNNING == 0
                if codes[witness, lane] != _RUNNING:
                    break
            if t and t % FIRE_FLUSH == 0:  # before a digit can overflow
                digits = fire_digits(state[:, self.fires, :].reshape(-1))
                flushed = digits + (0 if flushed is None else flushed)
                state[:, self.fires, :] = 0.0
            if self.oracle is not None:
                self.oracle(t, state, members)
            self.step.unchecked(at, into, tiles)
            t += 1
            if every and t % every == 0:
                rows[t // every][:, members] = record
        self.stops.append((members, t))
        return None if flushed is None or not isinstance(flushed, np.ndarray) else flushed

    def settle(self, last: int) -> Any:
        """The history up to the batch's last valid step ``last``: each chunk that stopped before it
        repeats its last point in the rows of its steps up to ``last``; a thinned history's final
        row moved to the row after the kept ones (where ``last`` is not kept itself)."""
        plan, rows = self.plan, self.history.rows
        if plan.full:
            for members, taken in self.stops:
                rows[taken + 1 : last + 1, :, members] = rows[taken, :, members]
            return self.history.kept(last + 1)
        kept = range(plan.every, last + 1, plan.every) if plan.every is not None else range(0)
        for members, taken in self.stops:
            for t in kept[bisect.bisect_right(kept, taken) :]:
                rows[t // plan.every][:, members] = rows[-1][:, members]  # type: ignore[operator]
        count = 1 + len(kept)
        if last > 0 and self._index(last) is None:  # the final row, after the kept ones
            if count != len(rows) - 1:
                rows[count] = rows[-1]
            count += 1
        return self.history.kept(count)


def fire_digits(packed: Any) -> Any:
    """The per-guard counts packed in the ``fires`` column: (len(FIRINGS), B) int64 (or 0)."""
    import numpy

    if not bool(packed.any()):
        return 0
    whole = packed.astype(numpy.int64)
    return numpy.stack([whole // FIRE_BASE**k % FIRE_BASE for k in range(len(FIRINGS))])
