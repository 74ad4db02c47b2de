"""The fused run's state in memory: per-member columns (:class:`Layout`) in one float64 array of
tiles of :data:`~taylorlr.compile.simd_codegen.LANES` members (:class:`TiledState`), a large one
in anonymous mapped memory that is handed back a chunk at a time (:func:`zeros`), and what the
end of a run reads back per member (:data:`READ_BACK`). Array-only: no SymPy, no SymEngine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from taylorlr.alpha._line_roots import TileColumns
from taylorlr.alpha.result import _RUNNING
from taylorlr.alpha.safeguards import FIRINGS
from taylorlr.compile.simd_codegen import LANES

#: digits of the ``fires`` column: guard k adds FIRE_BASE**k; flushed before a digit can overflow
FIRE_BASE = 128  # 7 guards: 128**7 = 2**49, exact in a double
FIRE_FLUSH = FIRE_BASE - 1
#: the per-member scalars after theta: the first three are recorded every step
SCALARS = ("value", "alpha", "grad_norm", "gamma", "start", "code", "stopped", "tries", "fires")
_RECORDED_SCALARS = 3
#: the state's n-column blocks
_BLOCKS = ("theta", "omega", "grad")
#: columns the step reads and never changes
CONSTANT_COLUMNS = ("gamma", "start")


def tile_columns(layout: Layout) -> TileColumns:
    """Where the oracle finds theta, omega, the guess alpha and the status in the state's tiles."""
    return TileColumns(
        width=layout.width, n=layout.n, theta=layout.block("theta").start, omega=layout.block("omega").start,
        alpha=layout.column("alpha"), code=layout.column("code"), running=float(_RUNNING),
    )  # fmt: skip


@dataclass(frozen=True)
class Layout:
    """Columns of the (B, width) state array.

    A row starts with what the run records at every step, contiguous, so the engine
    copies it as one block: theta (n columns), f(theta), alpha and ||grad f(theta)||. Then
    the other scalars: gamma, f(theta_0), the status code, the last valid step, the
    running steps (a member runs from step 0 until it stops, so at step t a running
    member has ``tries == t``) and the packed safeguard firings. Then ``omega`` (and
    ``grad`` when the direction is not the gradient itself), n columns each.

    >>> layout = Layout(2, separate_grad=False)
    >>> layout.block("theta"), layout.column("grad_norm"), layout.recorded, layout.block("omega")
    (slice(0, 2, None), 4, 5, slice(11, 13, None))
    """

    n: int
    separate_grad: bool

    @property
    def recorded(self) -> int:
        """The width of the leading block the run records: theta, f, alpha, ||grad f||."""
        return self.n + _RECORDED_SCALARS

    def block(self, name: str) -> slice:
        if name == "theta":
            return slice(0, self.n)
        if name == "grad" and not self.separate_grad:
            name = "omega"
        start = self.n + len(SCALARS) + ["omega", "grad"].index(name) * self.n
        return slice(start, start + self.n)

    def column(self, name: str) -> int:
        return self.n + SCALARS.index(name)

    @property
    def width(self) -> int:
        return (3 if self.separate_grad else 2) * self.n + len(SCALARS)


class TiledState:
    """The (B, width) state of a batch stored in tiles of LANES members, with NumPy access.

    The array has shape (ceil(B / LANES), width, LANES): what the step kernel reads and
    writes; from :data:`MAPPED_BYTES` it lives in anonymous mapped memory, so that the end of
    a run can hand it back a chunk at a time (:meth:`release`) while it fills the result.
    Members past B (padding up to a whole tile) have the status code ``frozen``,
    so the step never moves them. ``get`` and ``set`` convert a block of columns to and
    from (B, k), or a scalar column to and from (B,).

    >>> state = TiledState(Layout(2, separate_grad=False), 5, frozen=1.0)
    >>> state.array.shape
    (2, 13, 4)
    >>> state.set("theta", [[1.0, 2.0]] * 5); state.get("theta")[4].tolist()
    [1.0, 2.0]
    >>> state.get("code").tolist(), state.array[1, state.layout.column("code"), 1:].tolist()
    ([0.0, 0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    """

    def __init__(self, layout: Layout, size: int, *, frozen: float) -> None:
        self.layout, self.size, self.frozen = layout, size, frozen
        self.array, self._mapping = zeros((-(-size // LANES), layout.width, LANES))
        self._released = 0  # bytes from the start handed back to the system (:meth:`release`)
        self.freeze_padding()

    def release(self, tiles: int) -> None:
        """Hand the memory of the first ``tiles`` tiles back to the system (where the state is mapped
        memory: see :func:`zeros`); their numbers must not be read again (they read as zeros).
        The end of a run reads the state a chunk of tiles at a time and releases each chunk, so the
        state's memory goes back while the result's arrays are filled."""
        if self._mapping is None:
            return
        import mmap

        total = len(self._mapping)
        end = (
            total
            if tiles >= len(self.array)
            else tiles * self.array.strides[0] // mmap.PAGESIZE * mmap.PAGESIZE
        )
        if end > self._released:
            self._mapping.madvise(mmap.MADV_DONTNEED, self._released, end - self._released)
            self._released = end

    def freeze_padding(self) -> None:
        """Give the members past B (up to a whole tile) the status code ``frozen``."""
        self.array[-1:, self.layout.column("code"), self.size % LANES or LANES :] = self.frozen

    @property
    def padded(self) -> int:
        """B rounded up to whole tiles."""
        return len(self.array) * LANES

    def _tiles(self, name: str) -> Any:
        """The columns as a (tiles, LANES, k) view, k = 1 for a scalar column."""
        layout = self.layout
        column = None if name in _BLOCKS else layout.column(name)
        columns = layout.block(name) if column is None else slice(column, column + 1)
        return self.array[:, columns, :].transpose(0, 2, 1)

    def get(self, name: str) -> Any:
        """A block as a (B, k) array (a copy), a scalar column as (B,)."""
        tiles = self._tiles(name)
        values = tiles.reshape(self.padded, tiles.shape[-1])[: self.size]
        return values if name in _BLOCKS else values[:, 0]

    def set(self, name: str, values: Any) -> None:
        """Write a (B, k) block or a (B,) column (broadcast as NumPy does) for the first B members."""
        import numpy

        tiles = self._tiles(name)
        values = numpy.asarray(values, dtype=float)
        values = numpy.broadcast_to(
            values if name in _BLOCKS else values[..., None], (self.size, tiles.shape[-1])
        )
        whole, rest = divmod(self.size, LANES)
        tiles[:whole] = values[: whole * LANES].reshape(whole, LANES, tiles.shape[-1])
        if rest:
            tiles[whole, :rest] = values[whole * LANES :]


#: a state of at least this many bytes lives in anonymous mapped memory, which
#: :meth:`TiledState.release` can hand back a chunk at a time (a smaller one in a NumPy buffer)
MAPPED_BYTES = 2**25


def zeros(shape: tuple[int, ...], dtype: str = "float64", *, filled: bool = True) -> tuple[Any, Any]:
    """An array of zeros, and the anonymous private mapping that holds it (None: a NumPy buffer,
    for an array under :data:`MAPPED_BYTES` or where the system offers no ``madvise``; not
    ``filled`` with zeros when the caller writes every number it reads). The mapping asks for huge
    pages, as NumPy does for its large buffers: 512x fewer page faults (in small pages, the first
    touch of a 10^6-member run's result arrays, 100 MB, took 80 ms of page faults in a VM)."""
    import mmap

    import numpy

    size = math.prod(shape) * numpy.dtype(dtype).itemsize
    if size < MAPPED_BYTES or not hasattr(mmap, "MADV_DONTNEED") or not hasattr(mmap, "MAP_PRIVATE"):
        return (numpy.zeros if filled else numpy.empty)(shape, dtype), None
    mapping = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE)  # anonymous: zeros, and pages on first touch
    if hasattr(mmap, "MADV_HUGEPAGE"):
        mapping.madvise(mmap.MADV_HUGEPAGE)
    return numpy.frombuffer(mapping, dtype=dtype).reshape(shape), mapping


#: what the run reads back at the end, per member, as int64: the status code (MAX_STEPS for a
#: member still running), the last valid step, the evaluations spent (the start's value and
#: gradient included) and each safeguard's firings since the last flush
READ_BACK = ("code", "stopped", "values", "gradients", "hvps", *(f"fires_{name}" for name in FIRINGS))
FIRST_FIRING = READ_BACK.index(f"fires_{FIRINGS[0]}")
