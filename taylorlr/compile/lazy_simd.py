"""An arithmetic SIMD kernel whose LLVM loop is built only once it has proved to be used.

LLVM costs about 10-20 ms per small kernel, however small (most of a 10-variable loss's cold
build: ``bench/bench_build.py``), and most kernels are first called at one point. A group of
expressions made only of numbers, ``+``, ``*``, integer powers and square roots (polynomials and
rational functions: Rosenbrock, quartics, least squares) is therefore first evaluated with NumPy,
operation by operation in exactly the order the SIMD loop performs them: the same common
subexpressions (:func:`~taylorlr.compile._cse.bounded_cse` of the same renamed expressions), sums
and products folded left over the same arguments, integer powers by the same repeated squaring,
``x**-k`` as ``1/x**k``. Each of these operations is one IEEE-754 double operation, correctly
rounded, and the loop uses neither fast-math nor fused multiply-adds, so both give the same bits
(``tests/compile/test_lazy_simd.py`` checks it against the loop). The loop is built before the call
that brings the kernel's use to :data:`BUILD_UNITS` (each call counts 1 + its points /
:data:`POINTS_PER_UNIT`): a single call of 16,128 points or more builds it at once, a one-point
caller's 64th call builds it. Which one evaluates a call is never visible in its numbers: a point
gets the same bits alone or in a batch of any size, before or after the loop exists.

Anything else (a function of the catalogue, a kink, a comparison, a group of more than
:data:`MAX_NODES` nodes or :data:`MAX_OPERATIONS` operations) builds the loop at once, as before.

>>> import numpy as np, sympy
>>> x, y = sympy.symbols("x y")
>>> kernel = build_kernel([100 * (y - x**2) ** 2 + (1 - x) ** 2, x / y], [(x, y)])
>>> kernel.stacked(np, [np.array([[2.0, 5.0]])], (1,), None).tolist(), kernel.built
([[101.0, 0.4]], False)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from taylorlr import _budget
from taylorlr.compile import simd_codegen
from taylorlr.compile._cse import bounded_cse
from taylorlr.errors import BudgetExceededError

#: a kernel's use, in units of one call plus its points / POINTS_PER_UNIT, at which its LLVM loop is
#: built (before that call): about the NumPy evaluations that cost as much as the loop's build
BUILD_UNITS = 64
POINTS_PER_UNIT = 256
#: the largest group evaluated with NumPy first, in distinct nodes and in operations after CSE; a
#: larger one builds its loop at once. Well inside the loop's own limit
#: (``simd_codegen.MAX_KERNEL_INSTRUCTIONS``, 40,000 instructions), so that every lazy kernel's loop
#: can be built: n = 1000 Rosenbrock's gradient is 11,000 operations, its Hessian 5,000
MAX_NODES = 30_000
MAX_OPERATIONS = 20_000
#: integer powers up to this size are multiplications in the loop (``simd_codegen._MULTIPLIED_POWERS``)
_MULTIPLIED_POWERS = 16


class _NotArithmetic(Exception):
    """A node outside the operations evaluated with NumPy first (the loop is built at once)."""


@dataclass(frozen=True)
class ArithmeticTape:
    """The SIMD loop's operations over slots: the columns read, then one slot per step, in order.

    A step is ``(ufunc, a, b)`` (``b`` is None for one argument) or ``(None, value, None)`` for a
    constant; ``outputs[k]`` is the slot of expression k. Step i's value is written at once to the
    outputs ``writes[i]``, and ``releases[i]`` are the slots whose last use is step i (freed then:
    only the temporaries still needed are alive, whatever the number of outputs).
    """

    columns: int
    steps: tuple[tuple[Any, Any, int | None], ...]
    outputs: tuple[int, ...]
    writes: tuple[tuple[int, ...], ...]
    releases: tuple[tuple[int, ...], ...]

    @property
    def operations(self) -> int:
        """The number of arithmetic operations (constants not counted)."""
        return sum(1 for ufunc, _, _ in self.steps if ufunc is not None)

    def evaluate(self, np: Any, rows: Any) -> Any:
        """Every output at every point: ``rows`` (count, columns) float64 -> (count, outputs)."""
        slots: list[Any] = [rows[:, j] for j in range(self.columns)]
        out = np.empty((rows.shape[0], len(self.outputs)))
        for k, slot in enumerate(self.outputs):
            if slot < self.columns:  # an output that is an argument
                out[:, k] = slots[slot]
        steps = zip(self.steps, self.writes, self.releases, strict=True)
        with np.errstate(all="ignore"):  # the loop raises no floating-point warnings either
            for (ufunc, a, b), written, released in steps:
                if ufunc is None:
                    value = np.float64(a)
                else:
                    value = ufunc(slots[a]) if b is None else ufunc(slots[a], slots[b])
                slots.append(value)
                for k in written:
                    out[:, k] = value
                for slot in released:
                    slots[slot] = None
        return out


class _TapeWriter:
    """Translates CSE'd SymEngine expressions to an :class:`ArithmeticTape`, node by node, with
    the operations of ``simd_codegen._Translator`` in its order (each node once)."""

    def __init__(self, np: Any, columns: Sequence[Any]) -> None:
        self.np, self.columns = np, len(columns)
        self.steps: list[tuple[Any, Any, int | None]] = []
        self.slots: dict[Any, int] = {symbol: j for j, symbol in enumerate(columns)}
        self.constants: dict[str, int] = {}
        self.operations = 0

    def constant(self, value: float) -> int:
        key = value.hex()  # -0.0 and 0.0 are different constants
        if key not in self.constants:
            self.constants[key] = self._step(None, value)
        return self.constants[key]

    def emit(self, ufunc: Any, a: int, b: int | None = None) -> int:
        self.operations += 1
        if self.operations % 1024 == 0:
            if self.operations > MAX_OPERATIONS:
                raise _NotArithmetic("too many operations")
            _budget.check()
        self.steps.append((ufunc, a, b))
        return self.columns + len(self.steps) - 1

    def _step(self, ufunc: Any, a: Any, b: int | None = None) -> int:
        self.steps.append((ufunc, a, b))
        return self.columns + len(self.steps) - 1

    def __call__(self, node: Any) -> int:
        slot = self.slots.get(node)
        if slot is None:
            slot = self.slots[node] = self._translate(node)
        return slot

    def _translate(self, node: Any) -> int:
        kind = type(node).__name__
        if kind in ("Add", "Mul"):  # folded left over the arguments, each translated first
            ufunc = self.np.add if kind == "Add" else self.np.multiply
            slots = [self(arg) for arg in node.args]
            result = slots[0]
            for slot in slots[1:]:
                result = self.emit(ufunc, result, slot)
            return result
        if kind == "Pow":
            return self._power(*node.args)
        if kind in ("Infinity", "NegativeInfinity", "NaN", "ComplexInfinity"):
            raise _NotArithmetic(kind)
        if node.is_Number or kind in ("Pi", "Exp1"):
            try:
                return self.constant(float(node))
            except (RuntimeError, TypeError, ValueError) as error:  # I, zoo: not real numbers
                raise _NotArithmetic(str(node)) from error
        raise _NotArithmetic(kind)

    def _power(self, base: Any, exponent: Any) -> int:
        if type(base).__name__ == "Exp1":
            raise _NotArithmetic("exp")
        x = self(base)
        if exponent.is_Integer and abs(int(exponent)) <= _MULTIPLIED_POWERS:
            power = self._integer_power(x, abs(int(exponent)))
            return self._reciprocal(power) if int(exponent) < 0 else power
        if exponent.is_Number and float(exponent) in (0.5, -0.5):
            root = self.emit(self.np.sqrt, x)
            return root if float(exponent) > 0 else self._reciprocal(root)
        raise _NotArithmetic("pow")

    def _reciprocal(self, slot: int) -> int:
        return self.emit(self.np.divide, self.constant(1.0), slot)

    def _integer_power(self, x: int, k: int) -> int:
        """x**k by repeated squaring, as the loop (k >= 0)."""
        result, square = None, x
        while k:
            if k & 1:
                result = square if result is None else self.emit(self.np.multiply, result, square)
            k >>= 1
            if k:
                square = self.emit(self.np.multiply, square, square)
        return result if result is not None else self.constant(1.0)

    def finish(self, outputs: list[int]) -> ArithmeticTape:
        first = self.columns
        last_use = list(range(len(self.steps)))  # of step i's value; one no step reads: at once
        for i, (ufunc, a, b) in enumerate(self.steps):
            if ufunc is not None:
                if a >= first:
                    last_use[a - first] = i
                if b is not None and b >= first:
                    last_use[b - first] = i
        writes: list[list[int]] = [[] for _ in self.steps]
        for k, slot in enumerate(outputs):
            if slot >= first:
                writes[slot - first].append(k)
        releases: list[list[int]] = [[] for _ in self.steps]
        for step, i in enumerate(last_use):
            releases[i].append(first + step)
        return ArithmeticTape(
            self.columns,
            tuple(self.steps),
            tuple(outputs),
            tuple(tuple(w) for w in writes),
            tuple(tuple(r) for r in releases),
        )


def arithmetic_tape(renamed: Sequence[Any], widths: Sequence[int]) -> ArithmeticTape | None:
    """The tape of renamed SymEngine expressions (arguments ``a<g>_<i>``), or None when one of
    them is not arithmetic or the group is larger than :data:`MAX_OPERATIONS`."""
    import numpy as np
    import symengine as se

    columns = [se.Symbol(f"a{g}_{i}") for g, width in enumerate(widths) for i in range(width)]
    writer = _TapeWriter(np, columns)
    try:
        replacements, reduced = bounded_cse(list(renamed), nodes_once=True)
        for symbol, definition in replacements:  # each after those it uses: the CSE's order
            writer.slots[symbol] = writer(definition)
        outputs = [writer(e) for e in reduced]
    except (_NotArithmetic, RecursionError):  # a nest deeper than Python's recursion: the loop at once
        return None
    if writer.operations > MAX_OPERATIONS:  # counted as they were written, checked every 1,024
        return None
    return writer.finish(outputs)


@dataclass
class LazySimdKernel:
    """A :class:`~taylorlr.compile.kernel.Kernel` that evaluates with its :class:`ArithmeticTape`
    until it has been used :data:`BUILD_UNITS`, then with the SIMD loop (the same bits)."""

    #: the argument groups' widths and the expressions, renamed ``a<g>_<i>`` (as the loop reads them)
    widths: tuple[int, ...]
    renamed: tuple[Any, ...]
    tape: ArithmeticTape
    #: the use so far, in units (see the module's docs), and the use at which the loop is built
    used: float = 0.0
    build_at: float = BUILD_UNITS
    simd: simd_codegen.SimdKernel | None = field(default=None, repr=False)

    @property
    def n_outputs(self) -> int:
        return len(self.tape.outputs)

    @property
    def built(self) -> bool:
        """Whether the SIMD loop has been built (every call evaluates on it from then on)."""
        return self.simd is not None

    @property
    def source(self) -> str:
        state = "built" if self.built else f"built after {self.build_at:g} units of use; until then NumPy"
        return (
            f"<SIMD loop: {self.n_outputs} outputs of {self.tape.columns} columns, "
            f"{simd_codegen.LANES} points per vector ({state}, the same bits)>"
        )

    def loop_kernel(self) -> simd_codegen.SimdKernel:
        """The SIMD loop's kernel, built now if it is not yet."""
        if self.simd is None:
            # the loop of these renamed expressions (cached by them, as simd_codegen.build_kernel's)
            self.simd = simd_codegen._cached_kernel(self.widths, self.renamed)
        return self.simd

    def stacked(self, xp: Any, arrays: Sequence[Any], batch: tuple[int, ...], samples: Any) -> Any:
        """See :meth:`taylorlr.compile.kernel.Kernel.stacked` (float64 NumPy; no data samples)."""
        count = simd_codegen.points_of(batch, samples)
        self.used += 1 + count / POINTS_PER_UNIT
        if self.simd is None and self.used >= self.build_at:
            self._try_to_build()
        if self.simd is not None:
            return self.simd.stacked(xp, arrays, batch, samples)
        rows = [
            xp.reshape(xp.broadcast_to(array, batch + (width,)), (count, width))
            for array, width in zip(arrays, self.widths, strict=True)
        ]
        columns = rows[0] if len(rows) == 1 else xp.concatenate(rows, axis=-1)
        return xp.reshape(self.tape.evaluate(xp, columns), batch + (self.n_outputs,))

    def _try_to_build(self) -> None:
        """Build the loop; one that cannot be built now (the active budget is spent) leaves the
        kernel on NumPy, the same bits, until its use has doubled."""
        try:
            self.loop_kernel()
        except (BudgetExceededError, simd_codegen.UnsupportedExpression):
            self.build_at = 2 * self.used


def build_kernel(exprs: Sequence[Any], arg_groups: Sequence[Sequence[Any]]) -> Any:
    """A :class:`LazySimdKernel` for an arithmetic group, else the SIMD loop's kernel built at once
    (always when :data:`BUILD_UNITS` is 0).

    Raises:
        UnsupportedExpression: as :func:`taylorlr.compile.simd_codegen.build_kernel`.
    """
    import symengine as se

    from taylorlr.compile.xp_codegen import rename_arguments

    try:
        converted = [se.sympify(e) for e in exprs]
    except (TypeError, ValueError, RuntimeError):  # SymPy nodes SymEngine cannot hold
        converted = None
    if BUILD_UNITS <= 0 or not converted or not _arithmetic(converted):
        return simd_codegen.build_kernel(exprs, arg_groups)
    try:
        renamed, _ = rename_arguments(converted, arg_groups)
    except ValueError as error:  # a free symbol no group holds: as the SIMD loop's build_kernel
        raise simd_codegen.UnsupportedExpression(f"cannot compile these expressions: {error}") from error
    widths = tuple(len(g) for g in arg_groups)
    tape = arithmetic_tape(renamed, widths)
    if tape is None:
        return simd_codegen.build_kernel(exprs, arg_groups)
    return LazySimdKernel(widths, tuple(renamed), tape, build_at=BUILD_UNITS)


#: the nodes a tape may hold, besides numbers and symbols (:class:`_TapeWriter` has the last word)
_ARITHMETIC = frozenset({"Pi", "Exp1", "Add", "Mul", "Pow"})


def _arithmetic(exprs: Sequence[Any]) -> bool:
    """Whether every node is arithmetic and there are at most :data:`MAX_NODES` distinct ones
    (a walk that stops at the first node that is not, or past the limit)."""
    seen: set[Any] = set()
    stack = list(exprs)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        if len(seen) % 4096 == 4095:
            _budget.check()
        known = node.is_Number or node.is_Symbol or type(node).__name__ in _ARITHMETIC
        if not known or len(seen) >= MAX_NODES:
            return False
        seen.add(node)
        stack.extend(node.args)
    return True
