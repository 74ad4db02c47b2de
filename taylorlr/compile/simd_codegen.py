"""One LLVM loop over tiles of points: SymEngine expressions compiled with llvmlite, in SIMD vectors.

SymEngine's own LLVM backend (``symengine.Lambdify``) compiles a function for *one*
point and calls it once per row, so every instruction works on one double. For the
engine's fused step (:mod:`taylorlr.alpha.fused`), dozens of operations per member, that
scalar code was the whole cost. Here the expressions become the body of one loop
whose every value is a vector of :data:`LANES` points: each arithmetic operation,
comparison and select works on :data:`LANES` members at once, on the host's SIMD
units (LLVM splits the vectors to the machine's width). Floating-point semantics are
kept (no fast-math): NaN and inf propagate and compare as in NumPy, so guards written
as comparisons behave the same, bit for bit, as the scalar code.

The data are laid out so that the :data:`LANES` values of one column are contiguous:

* ``"tiles"``: an array of shape (B / LANES, width, LANES); tile t holds points
  t*LANES ... t*LANES + LANES - 1, column by column. A whole tile is one contiguous
  block, so a pass over the batch is a single memory stream however wide the rows.
* ``"rows"``: an array of shape (width, B); row j is column j of every point.
* ``"points"``: an array of shape (B, width), a point per row, as users hold points
  (each vector is gathered from, and scattered to, LANES rows: one memory stream).

An array can be read, written or both (in place: each tile is read before it is
written). B must be a multiple of :data:`LANES`; the caller pads.

Why llvmlite: it is the LLVM binding Numba is built on, ships wheels for every
platform NumPy does, and parses and compiles IR text in-process (no ``exec`` of
generated Python); the expressions come from taylorlr's own validated trees. The
IR is written as text directly (:mod:`taylorlr.compile._ir_text`: the instructions
``llvmlite.ir`` wrote, in its order, without a Python object per instruction: a
large fused step's IR in a third of the time, the same machine code).

What it compiles: numbers and the constants pi and E; ``+``, ``*``, powers (integer
powers as multiplications, square roots as ``sqrt``, others as ``pow``); every function
of the catalogue :data:`taylorlr.symbolic.functions.FUNCTIONS` (kinks included, with
NumPy's NaN semantics); ``floor`` and ``ceiling``; ``Piecewise`` with comparisons and
``And``, ``Or``, ``Not``; and two bit-level nodes, :func:`binary_exponent` and
:func:`power_of_two` (a double's exponent, and 2^k, from the bits). Anything else raises
:class:`UnsupportedExpression`, and the caller takes another path. SymPy expressions are
converted to SymEngine first.

Every lane runs the same instructions on its own point (no reduction across lanes, no
fast-math), so a point's result does not depend on the batch it sits in nor on its place
there: a padded tail computes exactly what a full vector does (:class:`SimdKernel`).

>>> import numpy as np, symengine as se
>>> x, y = se.symbols("x y")
>>> loop = compile_loop(
...     [LoopArray("rows", reads=(x, y)),
...      LoopArray("rows", writes=(x * y + se.sin(x), se.Piecewise((x, x < y), (y, True))))]
... )
>>> points = np.zeros((2, LANES)); points[:, :3] = [[0.0, 1.0, 2.0], [5.0, 0.5, 3.0]]
>>> out = np.empty((2, LANES))
>>> loop([points, out])
>>> out[:, :3].round(6).tolist()
[[0.0, 1.341471, 6.909297], [0.0, 0.5, 2.0]]
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from taylorlr import _budget
from taylorlr.compile import _ir_text as tx
from taylorlr.compile._cse import bounded_cse
from taylorlr.compile._estimate import Stopwatch
from taylorlr.symbolic.functions import require_lowering

#: points per vector: each operation of the loop works on this many members at once
LANES = 4
#: how each function of the catalogue (:data:`taylorlr.symbolic.functions.FUNCTIONS`) is lowered:
#: ("intrinsic", stem): an LLVM intrinsic (``llvm.sin`` -> ``llvm.sin.v4f64``);
#: ("libm", name): the C math library's function of that name, lane by lane;
#: ("reciprocal", g): f(x) = 1/g(x); ("of_reciprocal", g): f(x) = g(1/x);
#: ("node", method): a method of the translator (kinks, several arguments)
_LOWERING: dict[str, tuple[str, str]] = {
    "sin": ("intrinsic", "llvm.sin"),
    "cos": ("intrinsic", "llvm.cos"),
    "tan": ("libm", "tan"),
    "cot": ("reciprocal", "tan"),
    "sec": ("reciprocal", "cos"),
    "csc": ("reciprocal", "sin"),
    "asin": ("libm", "asin"),
    "acos": ("libm", "acos"),
    "atan": ("libm", "atan"),
    "acot": ("of_reciprocal", "atan"),
    "atan2": ("node", "_atan2"),
    "sinh": ("libm", "sinh"),
    "cosh": ("libm", "cosh"),
    "tanh": ("libm", "tanh"),
    "asinh": ("libm", "asinh"),
    "acosh": ("libm", "acosh"),
    "atanh": ("libm", "atanh"),
    "exp": ("intrinsic", "llvm.exp"),
    "log": ("intrinsic", "llvm.log"),
    "erf": ("libm", "erf"),
    "erfc": ("libm", "erfc"),
    "Abs": ("intrinsic", "llvm.fabs"),
    "sign": ("node", "_sign"),
    "Max": ("node", "_max"),
    "Min": ("node", "_min"),
    "Heaviside": ("node", "_heaviside"),
    "DiracDelta": ("node", "_dirac"),
}
require_lowering("simd", _LOWERING)
#: nodes beyond the catalogue that the loop also compiles (the fused step's guards use floor)
_ROUNDING = {"floor": "llvm.floor", "ceiling": "llvm.ceil"}
#: bit-level nodes (SymEngine functions of these names: :func:`binary_exponent`, :func:`power_of_two`)
_BIT_NODES = {"binary_exponent": "_binary_exponent", "power_of_two": "_power_of_two"}
_COMPARISONS = {"StrictLessThan": "<", "LessThan": "<=", "Equality": "==", "Unequality": "!="}
#: SymEngine's non-finite numbers
_SPECIAL_NUMBERS = {"Infinity": float("inf"), "NegativeInfinity": float("-inf"), "NaN": float("nan")}
#: integer powers up to this size become multiplications; larger ones call ``pow``
_MULTIPLIED_POWERS = 16
LAYOUTS = ("tiles", "rows", "points")
#: IR instructions from which a loop's machine code is generated at level 0 (:func:`codegen_level`)
LARGE_LOOP_INSTRUCTIONS = 1500
#: LLVM's machine-code generation, which cannot be interrupted, costs at most about this many
#: seconds per IR instruction, times (1 + instructions / JIT_GROWTH_INSTRUCTIONS): it grows faster
#: than the loop (measured, CPU s: 5,000 instructions 0.45 s, 15,000 0.4 s, 24,000 2.0 s, 50,000
#: about 22 s, on Rosenbrock n = 1000 and sums of 1,000-5,000 terms); a loop starts it only when
#: this estimate, scaled by the build's wall-clock time per CPU second, fits in the active budget
#: (:class:`taylorlr.compile._estimate.Stopwatch`)
JIT_SECONDS_PER_INSTRUCTION = 1e-4
JIT_GROWTH_INSTRUCTIONS = 10_000
#: the IR's text joined and parsed by LLVM, uninterruptible too: about 2e-6 s per instruction since
#: the text is written as the IR is built (:mod:`taylorlr.compile._ir_text`; measured: 122,000
#: instructions, 0.25 s); kept at the 2e-5 measured when llvmlite printed it, an upper estimate
IR_TEXT_SECONDS_PER_INSTRUCTION = 2e-5
#: the IR's construction checks the budget and the loop's size every this many nodes (or terms of a sum)
CHECK_EVERY = 256
#: the largest loop :class:`SimdKernel` compiles (about 5-20 s of LLVM); a larger one raises
#: :class:`UnsupportedExpression`, and ``compile()``'s automatic choice takes the ``xp`` generator
#: for that output group (a property of the expression: the same for every batch)
MAX_KERNEL_INSTRUCTIONS = 40_000


class UnsupportedExpression(NotImplementedError):
    """An expression node this compiler does not translate (the caller falls back)."""


def available() -> bool:
    """True when llvmlite can be imported (it is a dependency; a broken install says False)."""
    try:
        import llvmlite.binding  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class LoopArray:
    """One array the loop touches: its layout, the symbols read from its columns and the
    expressions written to them (None leaves a column as it is).

    With both, column j is read as ``reads[j]`` and overwritten with ``writes[j]``. An
    ``integers`` array is int64 and write-only: each value is truncated toward zero
    (exact for whole numbers up to 2**53; NaN and out-of-range values give an
    unspecified integer). A ``zeroed`` array is filled with zeros by the caller: a block
    of :data:`LANES` columns whose expressions are all 0 is not stored (a dense Hessian's
    zeros cost no instructions).
    """

    layout: str
    reads: tuple[Any, ...] = ()
    writes: tuple[Any, ...] = ()
    integers: bool = False
    zeroed: bool = False

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, not {self.layout!r}")
        if self.reads and self.writes and len(self.reads) != len(self.writes):
            raise ValueError("an array read and written needs one expression (or None) per column")
        if self.integers and self.reads:
            raise ValueError("an integer array is write-only")
        if self.integers and self.layout == "points":
            raise ValueError("an integer array is laid out in tiles or rows")

    @property
    def dtype(self) -> str:
        return "int64" if self.integers else "float64"

    @property
    def width(self) -> int:
        return max(len(self.reads), len(self.writes))

    def shape(self, count: int) -> tuple[int, ...]:
        """The array's shape for ``count`` points."""
        if self.layout == "tiles":
            return (count // LANES, self.width, LANES)
        if self.layout == "points":
            return (count, self.width)
        return (self.width, count)

    def count(self, shape: tuple[int, ...]) -> int:
        """The number of points an array of this shape holds."""
        if self.layout == "tiles":
            return shape[0] * LANES
        return shape[0] if self.layout == "points" else shape[-1]


@dataclass(frozen=True)
class ColumnLoop:
    """A compiled loop: ``loop(arrays)``, one C-contiguous array per :class:`LoopArray`.

    The arrays must not overlap each other (the code is compiled assuming they do not).
    """

    arrays: tuple[LoopArray, ...]
    function: Callable[..., None]
    engine: Any  # keeps the JIT-compiled code alive
    #: LLVM's code generation level of this machine code (:func:`codegen_level`)
    level: int = 3
    #: the loop's LLVM IR, kept when it may be compiled again at another level (:meth:`at_level`)
    ir: str = field(default="", repr=False)

    def at_level(self, level: int) -> ColumnLoop:
        """The same loop, its machine code generated at ``level`` (the same bits: no fast-math, no FMA)."""
        if not self.ir:
            raise ValueError("this loop kept no IR to compile again")
        engine, address = _jit(_llvm(), self.ir, False, level)
        return ColumnLoop(self.arrays, _prototype(len(self.arrays))(address), engine, level, self.ir)

    def __call__(self, arrays: Sequence[Any]) -> None:
        if len(arrays) != len(self.arrays):
            raise ValueError(f"expected {len(self.arrays)} arrays, got {len(arrays)}")
        count = self.arrays[0].count(arrays[0].shape)
        for array, spec in zip(arrays, self.arrays, strict=True):
            if array.shape != spec.shape(count) or array.dtype != spec.dtype or not array.flags.c_contiguous:
                raise ValueError(f"expected a C-contiguous {spec.dtype} array of shape {spec.shape(count)}")
            if spec.writes and not array.flags.writeable:
                raise ValueError("an array the loop writes is read-only")
        if count % LANES:
            raise ValueError(f"the number of points must be a multiple of {LANES}, not {count}")
        self.function(*(array.ctypes.data for array in arrays), count // LANES)


def compile_loop(
    arrays: Sequence[LoopArray],
    *,
    optimise: bool | None = True,
    tiered: bool = False,
    max_instructions: int | None = None,
    interleave: int = 1,
) -> ColumnLoop:
    """Compile the loop that computes every array's ``writes`` from every array's ``reads``.

    ``optimise=False`` skips LLVM's IR passes (the vector code is emitted already CSE'd
    and vectorised; machine code is still generated at O3, or at O0 for a large loop: see
    :func:`codegen_level`): about 5 ms to build a small group instead of 25 ms, for the same
    speed on the straight-line evaluations of :class:`SimdKernel`. ``tiered`` (with
    ``optimise=False``) generates a small loop's machine code at level 0 too, and keeps its IR
    for :meth:`ColumnLoop.at_level` (level 3 later, when the loop has proved to be used).
    ``optimise=None`` decides by size: a loop under :data:`LARGE_LOOP_INSTRUCTIONS` is optimised
    (it builds in milliseconds either way), a larger one gets neither the IR passes nor level 3
    (a large fused step: 7 s instead of 27 s to build, up to 1.6x slower per point).
    A loop of more than ``max_instructions`` IR instructions raises before LLVM starts.
    ``interleave`` (a power of two) tiles go through each pass of the loop, as one vector of
    ``interleave * LANES`` points (LLVM splits it into machine vectors whose instructions
    alternate): a long chain of dependent operations, which one tile would run at the latency of
    each, overlaps with the next tile's. For "tiles" and "rows" layouts only; past the last tile a
    pass takes the last one again (the same bits, stored twice), so any number of tiles will do.
    The same bits as one tile a pass: each lane's operations are the same.

    Raises:
        UnsupportedExpression: a node the loop cannot express (see the module docs).
    """
    import llvmlite.binding as llvm
    import symengine as se

    watch = Stopwatch()
    arrays = tuple(arrays)
    written = [(k, j, e) for k, a in enumerate(arrays) for j, e in enumerate(a.writes) if e is not None]
    replacements, reduced = bounded_cse([se.sympify(e) for _, _, e in written], watch, nodes_once=True)
    # distinct arrays (noalias): nothing stored is read through another
    function = tx.Function("loop", [tx.DOUBLE.pointer()] * len(arrays) + [tx.I64], [True] * len(arrays))
    if interleave < 1 or interleave & (interleave - 1):
        raise ValueError(f"interleave must be a power of two, not {interleave}")
    if interleave > 1 and any(a.layout == "points" for a in arrays):
        raise ValueError('an interleaved loop reads and writes "tiles" and "rows" layouts only')
    body = _LoopBody(function, arrays, interleave)
    body.translate.max_instructions = max_instructions
    for k in range(len(arrays)):
        body.defer_loads(k)
    definitions = _Definitions(body, replacements)
    late: dict[int, dict[int, Any]] = {}
    for k, array in enumerate(arrays):
        columns = [(j, e) for (kk, j, _), e in zip(written, reduced, strict=True) if kk == k]
        eager = not array.reads  # write-only: a column block is stored as soon as it is computed
        values: dict[int, Any] = {}
        zeros = 0
        for position, (j, e) in enumerate(columns):
            if position % 256 == 255:
                body.translate.checkpoint()
            definitions.emit_needed(e)
            values[j] = body.translate.number(e)
            zeros += array.zeroed and e == 0
            last = position + 1 == len(columns)
            if eager and (last or columns[position + 1][0] // LANES != j // LANES):
                if zeros < len(values):
                    body.store_columns(k, values)
                values, zeros = {}, 0
        if values:
            late[k] = values
    for k, values in late.items():  # read and written in place: stored after every load
        body.store_columns(k, values)
    body.close()
    _require_symbols(llvm, list(function.declarations))
    # an optimised loop (the engine's fused step, built once and run for every step) keeps level 3
    instructions = function.count
    if optimise is None:
        optimise = instructions < LARGE_LOOP_INSTRUCTIONS
    level = 3 if optimise else codegen_level(instructions)
    keep_ir = tiered and not optimise and level == 3
    level = 0 if keep_ir else level
    if max_instructions is not None and instructions > max_instructions:
        raise UnsupportedExpression(f"a loop of {instructions:,} instructions (at most {max_instructions:,})")
    watch.reserve(jit_seconds(instructions), "LLVM's machine code")
    source = function.module(llvm.get_process_triple())
    engine, address = _jit(llvm, source, optimise, level)
    return ColumnLoop(arrays, _prototype(len(arrays))(address), engine, level, source if keep_ir else "")


def binary_exponent(x: Any) -> Any:
    """The loop's node for e with 2^e <= |x| < 2^(e + 1), from x's bits (no division, no C call):
    exact for normal doubles; -1023 for 0 and subnormals (|x| < 2^-1022), 1024 for inf and NaN.

    >>> import numpy as np, symengine as se
    >>> x = se.Symbol("x")
    >>> loop = compile_loop([LoopArray("rows", reads=(x,)), LoopArray("rows", writes=(binary_exponent(x),))])
    >>> out = np.empty((1, LANES)); loop([np.array([[0.75, -8.0, 0.0, np.inf]]), out]); out.tolist()
    [[-1.0, 3.0, -1023.0, 1024.0]]
    """
    import symengine as se

    return se.Function("binary_exponent")(x)


def power_of_two(k: Any) -> Any:
    """The loop's node for 2^k, built from its bits, for an integer k (a double; truncated toward 0):
    exact within [-1022, 1023], 0 below, inf above, NaN for NaN.

    >>> import numpy as np, symengine as se
    >>> k = se.Symbol("k")
    >>> loop = compile_loop([LoopArray("rows", reads=(k,)), LoopArray("rows", writes=(power_of_two(k),))])
    >>> out = np.empty((1, LANES)); loop([np.array([[-2.0, 10.0, -2000.0, 2000.0]]), out]); out.tolist()
    [[0.25, 1024.0, 0.0, inf]]
    """
    import symengine as se

    return se.Function("power_of_two")(k)


def jit_seconds(instructions: int) -> float:
    """An upper estimate (CPU seconds, idle machine) of what follows the IR's construction for a loop
    of this many instructions: LLVM's parsing of its text (:data:`IR_TEXT_SECONDS_PER_INSTRUCTION`) and
    its machine-code generation.

    >>> round(jit_seconds(1_000), 2), round(jit_seconds(40_000), 1)
    (0.13, 20.8)
    """
    jit = JIT_SECONDS_PER_INSTRUCTION * instructions * (1 + instructions / JIT_GROWTH_INSTRUCTIONS)
    return jit + IR_TEXT_SECONDS_PER_INSTRUCTION * instructions


def _prototype(count: int) -> Any:
    """The C signature of a loop over ``count`` arrays: their addresses and the number of tiles."""
    return ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * count, ctypes.c_int64)


def _llvm() -> Any:
    import llvmlite.binding as llvm

    return llvm


class _Definitions:
    """The CSE replacements, each translated just before the first expression that needs it.

    Emitting them all first kept every one alive across the whole kernel (a register
    allocation that grew faster than the kernel); dependencies are emitted in the CSE's own
    order (each after those it uses), without recursion however long the chain.
    """

    def __init__(self, body: _LoopBody, replacements: Sequence[tuple[Any, Any]]) -> None:
        self.body, self.replacements = body, list(replacements)
        self.index = {symbol: k for k, (symbol, _) in enumerate(self.replacements)}
        self.emitted: set[Any] = set()

    def emit_needed(self, expression: Any) -> None:
        needed: list[int] = []
        stack = [expression]
        while stack:
            for symbol in stack.pop().free_symbols:
                if symbol in self.index and symbol not in self.emitted:
                    self.emitted.add(symbol)
                    needed.append(self.index[symbol])
                    stack.append(self.replacements[self.index[symbol]][1])
        translate = self.body.translate
        for k in sorted(needed):
            symbol, definition = self.replacements[k]
            translate.values[symbol] = translate(definition)


class _LoopBody:
    """The loop ``for t in range(tiles)`` with vector loads and stores of column j of array k."""

    def __init__(self, function: tx.Function, arrays: tuple[LoopArray, ...], interleave: int = 1) -> None:
        self.arrays, self.interleave = arrays, interleave
        *self.pointers, self.tiles = function.args
        b = self.builder = function
        b.label("entry")
        b.cbranch(b.icmp_signed("<=", self.tiles, self.i64(0)), "done", "body")
        b.label("body")
        self.tile = b.phi(tx.I64)
        b.add_incoming(self.tile, self.i64(0), "entry")
        # the tiles of this pass: t, t + 1, ..., each at most the last tile (an odd end is run twice)
        self.passed = [self.tile]
        if interleave > 1:
            last = b.sub(self.tiles, self.i64(1))
            self.passed += [self._at_most(b.add(self.tile, self.i64(k)), last) for k in range(1, interleave)]
        self.vector = tx.vector(tx.DOUBLE, LANES * interleave)
        self.integer_vector = tx.vector(tx.I64, LANES * interleave)
        self.tile_vector = tx.vector(tx.DOUBLE, LANES)
        self.tile_integers = tx.vector(tx.I64, LANES)
        self.translate = _Translator(b, self.vector)
        self.point_bases: dict[tuple[int, int], Any] = {}

    @staticmethod
    def i64(value: int) -> tx.Value:
        return tx.constant(tx.I64, value)

    @staticmethod
    def i32(value: int) -> tx.Value:
        return tx.constant(tx.I32, value)

    def _at_most(self, value: Any, bound: Any) -> Any:
        return self.builder.select(self.builder.icmp_signed("<", value, bound), value, bound)

    def address(self, k: int, j: int, tile: Any) -> Any:
        """Column j of array k's ``tile``, as a pointer to one tile's vector."""
        b, i64, array = self.builder, self.i64, self.arrays[k]
        if array.layout == "tiles":  # ((t * width) + j) * LANES
            first = b.mul(b.add(b.mul(tile, i64(array.width)), i64(j)), i64(LANES))
        else:  # j * (tiles * LANES) + t * LANES
            first = b.add(b.mul(i64(j * LANES), self.tiles), b.mul(tile, i64(LANES)))
        element = self.tile_integers if array.integers else self.tile_vector
        return b.bitcast(b.gep(self.pointers[k], [first]), element.pointer())

    def point_address(self, k: int, lane: int, j: int, element: Any) -> Any:
        """Column j of point t * LANES + lane of a "points" array, as a pointer to ``element``."""
        b, i64 = self.builder, self.i64
        base = self.point_bases.get((k, lane))
        if base is None:  # (t * LANES + lane) * width, once per tile
            first = b.mul(self.tile, i64(LANES * self.arrays[k].width))
            base = b.gep(self.pointers[k], [b.add(first, i64(lane * self.arrays[k].width))])
            self.point_bases[(k, lane)] = base
        return b.bitcast(b.gep(base, [i64(j)]), element.pointer())

    def defer_loads(self, k: int) -> None:
        """Load array k's columns at their first use (short live ranges: a cheaper register allocation)."""
        reads = self.arrays[k].reads
        if self.arrays[k].layout != "points":
            for j, symbol in enumerate(reads):
                self.translate.deferred[symbol] = functools.partial(self._load_into, symbol, k, j)
            return
        for j in range(0, len(reads), LANES):
            block = reads[j : j + LANES]
            for symbol in block:
                self.translate.deferred[symbol] = functools.partial(self._load_block, k, j)

    def _load_into(self, symbol: Any, k: int, j: int) -> None:
        self.translate.values[symbol] = self.load(k, j)

    def _load_block(self, k: int, j: int) -> None:
        """Columns j .. j + LANES - 1 of a "points" array (a transpose, or gathers for a last short block)."""
        reads = self.arrays[k].reads[j : j + LANES]
        if len(reads) == LANES:
            addresses = [self.point_address(k, lane, j, self.vector) for lane in range(LANES)]
            columns = self._transpose([self.builder.load(a, align=8) for a in addresses])
        else:
            columns = [self._gather(k, c) for c in range(j, j + len(reads))]
        for symbol, column in zip(reads, columns, strict=True):
            self.translate.values[symbol] = column
            self.translate.deferred.pop(symbol, None)

    def store_columns(self, k: int, values: dict[int, Any]) -> None:
        """Write the vectors ``values`` (by column) to array k."""
        if self.arrays[k].layout != "points":
            for j, value in values.items():
                self.store(k, j, value)
            return
        width = self.arrays[k].width
        for j in sorted({c - c % LANES for c in values}):
            block = [values.get(c) for c in range(j, min(j + LANES, width))]
            if len(block) == LANES and all(v is not None for v in block):
                for lane, point in enumerate(self._transpose(block)):
                    self.builder.store(point, self.point_address(k, lane, j, self.vector), align=8)
            else:
                for c, value in zip(range(j, width), block, strict=False):
                    if value is not None:
                        self._scatter(k, c, value)

    def _gather(self, k: int, j: int) -> Any:
        vector = tx.constant(self.vector, None)
        for lane in range(LANES):
            scalar = self.builder.load(self.point_address(k, lane, j, tx.DOUBLE), align=8)
            vector = self.builder.insert_element(vector, scalar, self.i32(lane))
        return vector

    def _scatter(self, k: int, j: int, value: Any) -> None:
        for lane in range(LANES):
            scalar = self.builder.extract_element(value, self.i32(lane))
            self.builder.store(scalar, self.point_address(k, lane, j, tx.DOUBLE), align=8)

    def _transpose(self, rows: Sequence[Any]) -> list[Any]:
        """The 4 x 4 transpose of four vectors (LANES = 4), in eight shuffles."""
        b = self.builder

        def shuffle(a: Any, c: Any, mask: list[int]) -> Any:
            return b.shuffle_vector(a, c, tx.constant(tx.vector(tx.I32, LANES), mask))

        r0, r1, r2, r3 = rows
        t0, t1 = shuffle(r0, r1, [0, 4, 1, 5]), shuffle(r0, r1, [2, 6, 3, 7])
        t2, t3 = shuffle(r2, r3, [0, 4, 1, 5]), shuffle(r2, r3, [2, 6, 3, 7])
        return [shuffle(t0, t2, [0, 1, 4, 5]), shuffle(t0, t2, [2, 3, 6, 7]),
                shuffle(t1, t3, [0, 1, 4, 5]), shuffle(t1, t3, [2, 3, 6, 7])]  # fmt: skip

    def load(self, k: int, j: int) -> Any:
        parts = [self.builder.load(self.address(k, j, tile), align=8) for tile in self.passed]
        while len(parts) > 1:  # joined in pairs (a power of two of them)
            parts = [self._joined(parts[i], parts[i + 1]) for i in range(0, len(parts), 2)]
        return parts[0]

    def store(self, k: int, j: int, value: Any) -> None:
        if self.arrays[k].integers:
            value = self.builder.fptosi(value, self.integer_vector)
        for part, tile in enumerate(self.passed):
            piece = value if self.interleave == 1 else self._lanes(value, part * LANES, LANES)
            self.builder.store(piece, self.address(k, j, tile), align=8)

    def _joined(self, a: Any, c: Any) -> Any:
        """The lanes of ``a`` followed by those of ``c``."""
        count = a.type.count + c.type.count
        return self.builder.shuffle_vector(a, c, tx.constant(tx.vector(tx.I32, count), range(count)))

    def _lanes(self, value: Any, first: int, count: int) -> Any:
        """Lanes ``first`` ... ``first + count - 1`` of ``value``."""
        mask = tx.constant(tx.vector(tx.I32, count), range(first, first + count))
        return self.builder.shuffle_vector(value, value, mask)

    def close(self) -> None:
        b = self.builder
        following = b.add(self.tile, self.i64(self.interleave))
        b.add_incoming(self.tile, following, "body")
        b.cbranch(b.icmp_signed("<", following, self.tiles), "body", "done")
        b.label("done")
        b.ret_void()


class _Translator:
    """SymEngine node -> LLVM vector value (of doubles, or of i1 for conditions), each node once."""

    def __init__(self, builder: tx.Function, vector: tx.Type) -> None:
        self.builder, self.vector = builder, vector
        self.lanes = vector.count  # LANES, or a multiple of it for an interleaved loop
        self.boolean = tx.vector(tx.I1, self.lanes)
        self.integers = tx.vector(tx.I64, self.lanes)
        self.constants: dict[str, tx.Value] = {}
        self.values: dict[Any, Any] = {}
        #: symbols whose value is made at first use (the columns the loop reads)
        self.deferred: dict[Any, Callable[[], None]] = {}
        #: nodes translated so far, and the most IR instructions the loop may hold (None: no limit)
        self.translated = 0
        self.max_instructions: int | None = None

    def checkpoint(self) -> None:
        """Check the active budget and the loop's size so far: called every :data:`CHECK_EVERY` nodes,
        so no stretch of the IR's construction runs unchecked (a loop over the limit is refused here,
        before the rest of it is built)."""
        _budget.check()
        count = self.builder.count
        if self.max_instructions is not None and count > self.max_instructions:
            raise UnsupportedExpression(
                f"a loop of over {count:,} instructions (at most {self.max_instructions:,})"
            )

    def __call__(self, node: Any) -> Any:
        value = self.values.get(node)
        if value is None:
            self._arguments_first(node)
            value = self._one(node)
        return value

    def _one(self, node: Any) -> Any:
        """The value of a node whose arguments are all translated (a leaf included)."""
        value = self.values.get(node)
        if value is None:
            load = self.deferred.pop(node, None)
            if load is not None:
                load()
                return self.values[node]
            self.translated += 1
            if self.translated % CHECK_EVERY == 0:
                self.checkpoint()
            value = self.values[node] = self._translate(node)
        return value

    def _arguments_first(self, root: Any) -> None:
        """Translate everything below ``root``, arguments before their node, left to right, over an
        explicit stack: a tower ``x**x**...**x`` 100 levels deep is deeper than Python's recursion."""
        stack = [(argument, False) for argument in reversed(root.args)]
        while stack:
            node, ready = stack.pop()
            if node in self.values:
                continue
            arguments = () if ready else node.args
            if not arguments:
                self._one(node)
                continue
            stack.append((node, True))
            stack.extend((argument, False) for argument in reversed(arguments))

    def number(self, node: Any) -> Any:
        """A vector of doubles: conditions used as values become 1.0 or 0.0."""
        value = self(node)
        if value.type == self.boolean:
            return self.builder.uitofp(value, self.vector)
        return value

    def constant(self, value: float) -> Any:
        value = float(value)
        key = tx.double_text(value)  # by bits: 0.0 and -0.0 (and NaNs) kept apart
        found = self.constants.get(key)
        if found is None:
            found = self.constants[key] = tx.constant(self.vector, [value] * self.lanes)
        return found

    def intrinsic(self, stem: str, *arguments: Any) -> Any:
        """``llvm.<op>.v<LANES>f64`` (plus the suffixes of any non-vector arguments)."""
        suffixes = "".join(f".i{a.type.width}" for a in arguments if a.type != self.vector)
        return self.builder.call(f"{stem}.v{self.lanes}f64{suffixes}", self.vector, arguments)

    def libm(self, name: str, *arguments: Any) -> Any:
        """A scalar C function applied lane by lane."""
        b = self.builder
        result = tx.constant(self.vector, None)
        for lane in range(self.lanes):
            index = tx.constant(tx.I32, lane)
            scalars = [b.extract_element(a, index) for a in arguments]
            result = b.insert_element(result, b.call(name, tx.DOUBLE, scalars), index)
        return result

    def function(self, name: str, argument: Any) -> Any:
        """A one-argument function of the catalogue (or floor, ceiling) at a vector."""
        if name in _ROUNDING:
            return self.intrinsic(_ROUNDING[name], argument)
        how, target = _LOWERING[name]
        if how == "intrinsic":
            return self.intrinsic(target, argument)
        if how == "libm":
            return self.libm(target, argument)
        if how == "reciprocal":
            return self.reciprocal(self.function(target, argument))
        return self.function(target, self.reciprocal(argument))  # of_reciprocal

    def reciprocal(self, value: Any) -> Any:
        return self.builder.fdiv(self.constant(1), value)

    def _translate(self, node: Any) -> Any:
        kind = type(node).__name__
        if kind in ("PyFunction", "FunctionSymbol"):  # SymPy's Heaviside, DiracDelta (see _kinks.py)
            kind = node.get_name() if node.get_name() in ("Heaviside", "DiracDelta") else kind
            if node.get_name() in _BIT_NODES:
                return getattr(self, _BIT_NODES[node.get_name()])(self.number(node.args[0]))
        if kind in _SPECIAL_NUMBERS:
            return self.constant(_SPECIAL_NUMBERS[kind])
        if node.is_Number or kind in ("Pi", "Exp1"):
            try:
                return self.constant(float(node))
            except (RuntimeError, TypeError, ValueError) as error:  # I, zoo: not real numbers
                raise UnsupportedExpression(f"no real value for {node}") from error
        if kind in ("BooleanTrue", "BooleanFalse"):
            return tx.constant(self.boolean, [int(kind == "BooleanTrue")] * self.lanes)
        arguments = node.args
        if kind in ("Add", "Mul"):
            return self._fold(self.builder.fadd if kind == "Add" else self.builder.fmul, arguments)
        if kind == "Pow":
            return self._power(*arguments)
        if kind in _LOWERING and _LOWERING[kind][0] == "node":
            return getattr(self, _LOWERING[kind][1])(*(self.number(a) for a in arguments))
        if kind in _LOWERING or kind in _ROUNDING:
            return self.function(kind, self.number(arguments[0]))
        if kind == "Piecewise":
            return self._piecewise(arguments)
        if kind in _COMPARISONS:
            return self._compare(_COMPARISONS[kind], *arguments)
        if kind in ("And", "Or"):
            combine = self.builder.and_ if kind == "And" else self.builder.or_
            return functools.reduce(combine, [self(a) for a in arguments])
        if kind == "Not":
            return self.builder.not_(self(arguments[0]))
        raise UnsupportedExpression(f"no loop translation for {kind}: {node}")

    def _fold(self, combine: Callable[[Any, Any], Any], arguments: Sequence[Any]) -> Any:
        """The arguments combined left to right (a sum of 10^4 terms: checked as it grows)."""
        total = self.number(arguments[0])
        for k, argument in enumerate(arguments[1:], 1):
            if k % CHECK_EVERY == 0:
                self.checkpoint()
            total = combine(total, self.number(argument))
        return total

    def _atan2(self, y: Any, x: Any) -> Any:
        return self.libm("atan2", y, x)

    def _select(self, condition: Any, if_true: Any, if_false: Any) -> Any:
        return self.builder.select(condition, if_true, if_false)

    def _is_nan(self, a: Any) -> Any:
        return self.builder.fcmp_unordered("uno", a, a)

    def _sign(self, a: Any) -> Any:
        """1, -1, or a itself (0, -0 or NaN), as NumPy's sign."""
        positive = self.builder.fcmp_ordered(">", a, self.constant(0))
        negative = self.builder.fcmp_ordered("<", a, self.constant(0))
        return self._select(positive, self.constant(1), self._select(negative, self.constant(-1), a))

    def _max(self, *arguments: Any) -> Any:
        """NumPy's maximum folded left: NaN if any argument is NaN."""
        return functools.reduce(lambda a, b: self._extremum(">", a, b), arguments)

    def _min(self, *arguments: Any) -> Any:
        return functools.reduce(lambda a, b: self._extremum("<", a, b), arguments)

    def _extremum(self, operator: str, a: Any, b: Any) -> Any:
        # a when a beats b or a is NaN (unordered compare), else b; then NaN b wins
        first = self._select(self.builder.fcmp_unordered(operator, a, b), a, b)
        return self._select(self._is_nan(b), b, first)

    def _heaviside(self, a: Any, at_zero: Any | None = None) -> Any:
        """1 above 0, ``at_zero`` (default 1/2) at 0, else 0 (NaN included), as the xp generator."""
        middle = self.constant(0.5) if at_zero is None else at_zero
        above = self._select(
            self.builder.fcmp_ordered(">", a, self.constant(0)), self.constant(1), self.constant(0)
        )
        return self._select(self.builder.fcmp_ordered("==", a, self.constant(0)), middle, above)

    def _dirac(self, *_: Any) -> Any:
        """0: away from its point, the only place a compiled loss is evaluated meaningfully."""
        return self.constant(0)

    def _power(self, base: Any, exponent: Any) -> Any:
        if type(base).__name__ == "Exp1":
            return self.intrinsic("llvm.exp", self.number(exponent))
        x = self.number(base)
        if exponent.is_Integer and abs(int(exponent)) <= _MULTIPLIED_POWERS:
            power = self._integer_power(x, abs(int(exponent)))
            return self.reciprocal(power) if int(exponent) < 0 else power
        if exponent.is_Number and float(exponent) in (0.5, -0.5):
            root = self.intrinsic("llvm.sqrt", x)
            return root if float(exponent) > 0 else self.reciprocal(root)
        return self.intrinsic("llvm.pow", x, self.number(exponent))

    def _integer_power(self, x: Any, k: int) -> Any:
        """x**k by repeated squaring (k >= 0)."""
        result, square = None, x
        while k:
            if k & 1:
                result = square if result is None else self.builder.fmul(result, square)
            k >>= 1
            if k:
                square = self.builder.fmul(square, square)
        return result if result is not None else self.constant(1)

    def _binary_exponent(self, a: Any) -> Any:
        """The exponent field of each double less its bias, as a double (:func:`binary_exponent`)."""
        b, integers = self.builder, self.integers
        bits = b.lshr(b.bitcast(a, integers), tx.constant(integers, [52] * self.lanes))
        field = b.and_(bits, tx.constant(integers, [0x7FF] * self.lanes))
        return b.fsub(b.sitofp(field, self.vector), self.constant(1023))

    def _power_of_two(self, k: Any) -> Any:
        """2^k from its bits (:func:`power_of_two`): the exponent field k + 1023, k held within
        [-1023, 1024] (0 and inf), NaN for NaN."""
        b, integers = self.builder, self.integers
        held = self._select(b.fcmp_ordered(">", k, self.constant(1024)), self.constant(1024), k)
        held = self._select(b.fcmp_ordered("<", held, self.constant(-1023)), self.constant(-1023), held)
        nan = self._is_nan(k)
        held = self._select(nan, self.constant(0), held)  # fptosi of NaN would be undefined
        field = b.add(b.fptosi(held, integers), tx.constant(integers, [1023] * self.lanes))
        value = b.bitcast(b.shl(field, tx.constant(integers, [52] * self.lanes)), self.vector)
        return self._select(nan, k, value)

    def _piecewise(self, arguments: Sequence[Any]) -> Any:
        pairs = [(arguments[k], arguments[k + 1]) for k in range(0, len(arguments), 2)]
        last_value, last_condition = pairs[-1]
        if type(last_condition).__name__ != "BooleanTrue":
            raise UnsupportedExpression("a Piecewise without a final True branch")
        result = self.number(last_value)
        for value, condition in reversed(pairs[:-1]):
            result = self.builder.select(self(condition), self.number(value), result)
        return result

    def _compare(self, operator: str, left: Any, right: Any) -> Any:
        a, b = self(left), self(right)
        if a.type == self.boolean and b.type == self.boolean:  # cse writes "x7 == True"
            return self.builder.icmp_unsigned(operator, a, b)
        a, b = self.number(left), self.number(right)
        if operator == "!=":  # NaN != x is true
            return self.builder.fcmp_unordered(operator, a, b)
        return self.builder.fcmp_ordered(operator, a, b)  # NaN < x and NaN == x are false


@functools.lru_cache(maxsize=1)
def _initialize() -> None:
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


def _target_machine(level: int = 3) -> Any:
    """A target machine for the host CPU: a new one per loop, as the JIT engine takes ownership."""
    import llvmlite.binding as llvm

    cpu, features = _host()
    return llvm.Target.from_default_triple().create_target_machine(cpu=cpu, features=features, opt=level)


@functools.lru_cache(maxsize=1)
def _host() -> tuple[str, str]:
    """The host CPU's name and features, asked of LLVM once (after its initialisation)."""
    import llvmlite.binding as llvm

    _initialize()
    return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


def codegen_level(instructions: int) -> int:
    """LLVM's code generation level for a loop of this many IR instructions: 3, or 0 for large loops.

    Large straight-line loops spend their build in LLVM's register allocator, instruction
    selection and schedulers, whose cost per instruction grows with the loop; at level 0 they
    build 30-60% faster and run 0-14% slower (bench/bench_build.py, docs/performance.md). Small
    loops, built in milliseconds either way, keep level 3. Both levels keep IEEE semantics (no
    fast-math, no fused multiply-add), so a point's values are the same bits at either.

    >>> codegen_level(200), codegen_level(20_000)
    (3, 0)
    """
    return 3 if instructions < LARGE_LOOP_INSTRUCTIONS else 0


#: intrinsics that compile to instructions, not to a call of the C math library
_INSTRUCTIONS = frozenset({"fabs", "sqrt"})


def _require_symbols(llvm: Any, declared: Sequence[str]) -> None:
    """Check that the C math functions the loop calls can be found by the JIT.

    An unresolved one would abort the process when the code is finalised; here it
    raises :class:`UnsupportedExpression` instead, and the caller takes another path.
    """
    _load_libm(llvm)
    names = {name.split(".")[1] if name.startswith("llvm.") else name for name in declared}
    missing = sorted(name for name in names - _INSTRUCTIONS if not llvm.address_of_symbol(name))
    if missing:
        raise UnsupportedExpression(f"the JIT cannot find the C math functions {missing}")


@functools.lru_cache(maxsize=1)
def _load_libm(llvm: Any) -> None:
    import ctypes.util

    library = ctypes.util.find_library("m")
    if library:
        llvm.load_library_permanently(library)


def _jit(llvm: Any, source: str, optimise: bool = True, level: int = 3) -> tuple[Any, int]:
    """Optimise (O3, loop and SLP vectorisers on) and JIT-compile; the engine and the address."""
    machine = _target_machine(level)
    module = llvm.parse_assembly(source)
    module.verify()
    if optimise:
        tuning = llvm.create_pipeline_tuning_options(speed_level=3)
        tuning.loop_vectorization = tuning.slp_vectorization = True
        builder = llvm.create_pass_builder(machine, tuning)
        builder.getModulePassManager().run(module, builder)
    engine = llvm.create_mcjit_compiler(module, machine)  # owns the module and the machine
    engine.finalize_object()
    return engine, engine.get_function_address("loop")


def points_of(batch: tuple[int, ...], samples: Any) -> int:
    """The number of points of a SIMD kernel's call (which takes no data samples).

    >>> points_of((3, 4), None)
    12
    """
    if samples is not None:
        raise ValueError("SIMD kernels take no data samples; compile the loss with generator='xp'")
    count = 1
    for size in batch:
        count *= size
    return count


@dataclass(frozen=True)
class SimdKernel:
    """A group of expressions as one loop over float64 points (a :class:`~taylorlr.compile.kernel.Kernel`).

    The loop reads each argument group's (B, k) rows where they are (a copy only when they
    are not C-contiguous) and writes a (B, n_outputs) array. B need not be a multiple of
    :data:`LANES`: the last B mod LANES points run through the same loop from a padded copy
    (zeros in the padding lanes, whose results are dropped).

    >>> import numpy as np, sympy
    >>> x, y = sympy.symbols("x y")
    >>> kernel = build_kernel([x * y, sympy.sin(x)], [(x, y)])
    >>> kernel.stacked(np, [np.array([[2.0, 5.0], [0.0, 1.0]])], (2,), None).round(6).tolist()
    [[10.0, 0.909297], [0.0, 0.0]]
    """

    source: str
    n_outputs: int
    widths: tuple[int, ...]
    loop: ColumnLoop | None  # None when there is no output
    #: points evaluated so far (see :data:`TIER_POINTS`)
    evaluated: list[int] = field(default_factory=lambda: [0], repr=False, compare=False)

    def stacked(self, xp: Any, arrays: Sequence[Any], batch: tuple[int, ...], samples: Any) -> Any:
        """See :meth:`taylorlr.compile.kernel.Kernel.stacked` (float64 NumPy; no data samples)."""
        count = points_of(batch, samples)
        self._tier_up(count)
        out = self._output(xp, count)
        if self.loop is None or count == 0:
            return xp.reshape(out, batch + (self.n_outputs,))
        rows = [
            xp.ascontiguousarray(xp.reshape(xp.broadcast_to(array, batch + (width,)), (count, width)))
            for array, width in zip(arrays, self.widths, strict=True)
        ]
        whole = count - count % LANES
        if whole:
            self.loop([r[:whole] for r in rows] + [out[:whole]])
        if whole < count:  # the tail, padded to one vector
            tails = [xp.zeros((LANES, width)) for width in self.widths]
            for tail, r in zip(tails, rows, strict=True):
                tail[: count - whole] = r[whole:]
            tail_out = self._output(xp, LANES)
            self.loop([*tails, tail_out])
            out[whole:] = tail_out[: count - whole]
        return xp.reshape(out, batch + (self.n_outputs,))

    def _tier_up(self, count: int) -> None:
        """Once :data:`TIER_POINTS` points are asked for (this call's included), a small loop built at
        level 0 gets its level-3 machine code, before it evaluates them."""
        self.evaluated[0] += count
        loop = self.loop
        if loop is not None and loop.ir and loop.level < 3 and self.evaluated[0] >= TIER_POINTS:
            object.__setattr__(self, "loop", loop.at_level(3))  # once: the level-3 loop is never rebuilt

    def _output(self, xp: Any, count: int) -> Any:
        """The (count, n_outputs) output: zeros when the loop skips blocks of zero outputs."""
        zeroed = self.loop is not None and self.loop.arrays[-1].zeroed
        return (xp.zeros if zeroed else xp.empty)((count, self.n_outputs))


def build_kernel(exprs: Sequence[Any], arg_groups: Sequence[Sequence[Any]]) -> SimdKernel:
    """Compile ``exprs`` (SymPy or SymEngine) as one loop over points, reading ``arg_groups`` in order.

    The arguments are renamed ``a0_0, a0_1, ...`` first, so equal groups of expressions in
    other names share one compiled loop (a cache of :data:`KERNEL_CACHE_SIZE` loops).

    Raises:
        UnsupportedExpression: a node the loop cannot express, or a free symbol that no group holds.
    """
    from taylorlr.compile._kinks import engine_form
    from taylorlr.compile.xp_codegen import rename_arguments

    try:
        converted = []
        for k, e in enumerate(exprs):
            if k % 1000 == 999:
                _budget.check()
            converted.append(engine_form(e))
        renamed, _ = rename_arguments(converted, arg_groups)
    except (TypeError, ValueError, RuntimeError) as error:  # SymPy nodes SymEngine cannot hold
        raise UnsupportedExpression(f"cannot compile these expressions: {error}") from error
    return _cached_kernel(tuple(len(group) for group in arg_groups), tuple(renamed))


#: how many compiled loops :func:`build_kernel` keeps for reuse
KERNEL_CACHE_SIZE = 512
#: points a :class:`SimdKernel` evaluates at LLVM's level 0 before its machine code is generated
#: again at level 3 (10-15 ms for a small loop; level 0 runs up to 4x slower per point on some
#: losses at large batches: bench/bench_compiled.py --tiers), so at most ~65,000 points run at level 0
TIER_POINTS = 1 << 16


@functools.lru_cache(maxsize=KERNEL_CACHE_SIZE)
def _cached_kernel(widths: tuple[int, ...], outputs: tuple[Any, ...]) -> SimdKernel:
    import symengine as se

    if not outputs:
        return SimdKernel("", 0, widths, None)
    groups = [tuple(se.Symbol(f"a{g}_{i}") for i in range(width)) for g, width in enumerate(widths)]
    zeroed = sum(1 for e in outputs if e == 0) >= LANES  # a block of zeros may be skipped
    arrays = [LoopArray("points", reads=group) for group in groups]
    arrays.append(LoopArray("points", writes=outputs, zeroed=zeroed))
    # a small loop starts at level 0 (about half the build) and tiers up once it has evaluated
    # TIER_POINTS points; the levels give the same bits, so no point depends on when it was evaluated
    loop = compile_loop(arrays, optimise=False, tiered=True, max_instructions=MAX_KERNEL_INSTRUCTIONS)
    source = f"<SIMD loop: {len(outputs)} outputs of {sum(widths)} columns, {LANES} points per vector>"
    return SimdKernel(source, len(outputs), widths, loop)
