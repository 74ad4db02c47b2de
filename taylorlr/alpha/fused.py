"""The fused step: one generated SIMD loop per (loss, rule, safeguards) for a whole step.

At a batch of 10^5 points the loss's own kernels take about a millisecond, while
the step's arithmetic done as separate NumPy passes (theta+, the rule's slope and
curvature, the safeguards, the status, the counters, freezing the stopped members)
costs several times that. In the common case (float64 NumPy, a smooth loss without
data symbols, a rule whose estimates are fixed expressions) every one of those is an
expression in a handful of per-member numbers, so :func:`build_step_kernel` writes
the whole step as SymEngine expressions and compiles them with
:mod:`taylorlr.compile.simd_codegen` into one vectorised pass over the batch.

Nothing of the step is written here a second time: the rule's own :attr:`Rule.slope`
and :attr:`Rule.curvature`, :func:`~taylorlr.alpha.safeguards.next_alpha` (every guard)
and :func:`~taylorlr.alpha._step.settle` (the accept decision and the status rule) run
on SymEngine symbols through :class:`~taylorlr.alpha._step.SymbolOps`, exactly the code
the generic path runs on arrays. Results agree with the generic path to rounding (the
loop may sum or divide in another order, a few ulps after one step).

The state of the batch is one float64 array in tiles of
:data:`~taylorlr.compile.simd_codegen.LANES` members (:class:`TiledState`, columns in
:class:`Layout` order), updated in place: the step reads a tile, computes the next
state of its members and writes it back, and writes what the run records (theta, f,
alpha, ||grad f||) into the run's history. Without a NumPy direction (or an oracle outside the
tiles) between steps, the batch is never held as a whole state: each chunk of tiles that fits in
cache is started, taken through every step (the oracle in the tiles on the chunk before each kept
step) and read back into the result before the next (:class:`_Blocks`). With one, the whole state
goes through each step; at the end it is read
back a chunk at a time into the result's arrays and a large state's memory is handed back as it
is read (:meth:`TiledState.release`). Only the base optimizer's
direction (when it is not gradient descent's identity) stays in NumPy. Every lane is
one member and no operation crosses lanes, so a member's numbers do not depend on the
batch around it. Counts are kept in the state: ``tries`` (steps a member was running:
each cost the evaluations the step's expressions contain), ``fires`` (safeguard
firings, one base-128 digit per guard) and ``stopped`` (the index of the last valid point).
"""

from __future__ import annotations

import bisect
import functools
import math
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from taylorlr.alpha._line_roots import TileColumns
from taylorlr.alpha._record import RecordPlan, constant, recorded_steps, with_batch_shape
from taylorlr.alpha._step import SymbolOps, settle, start_code
from taylorlr.alpha.optimizers import is_identity, select_state
from taylorlr.alpha.result import _CONVERGED, _MAX_STEPS, _RUNNING, Counts, SafeguardCounts
from taylorlr.alpha.rules import Probe, Rule
from taylorlr.alpha.safeguards import FIRINGS, Safeguards, next_alpha
from taylorlr.compile import simd_codegen as llvm_loop
from taylorlr.compile.simd_codegen import LANES, LoopArray
from taylorlr.symbolic.derivatives import SparseDerivatives, symengine_module

#: digits of the ``fires`` column: guard k adds FIRE_BASE**k; flushed before a digit can overflow
FIRE_BASE = 128  # 7 guards: 128**7 = 2**49, exact in a double
FIRE_FLUSH = FIRE_BASE - 1
#: the per-member scalars after theta: the first three are recorded every step
_SCALARS = ("value", "alpha", "grad_norm", "gamma", "start", "code", "stopped", "tries", "fires")
_RECORDED_SCALARS = 3
#: the state's n-column blocks
_BLOCKS = ("theta", "omega", "grad")
#: columns the step reads and never changes
_CONSTANT = ("gamma", "start")


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
        start = self.n + len(_SCALARS) + ["omega", "grad"].index(name) * self.n
        return slice(start, start + self.n)

    def column(self, name: str) -> int:
        return self.n + _SCALARS.index(name)

    @property
    def width(self) -> int:
        return (3 if self.separate_grad else 2) * self.n + len(_SCALARS)


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
        self.array, self._mapping = _zeros((-(-size // LANES), layout.width, LANES))
        self._released = 0  # bytes from the start handed back to the system (:meth:`release`)
        self.freeze_padding()

    def release(self, tiles: int) -> None:
        """Hand the memory of the first ``tiles`` tiles back to the system (where the state is mapped
        memory: see :func:`_zeros`); their numbers must not be read again (they read as zeros).
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


def _zeros(shape: tuple[int, ...], dtype: str = "float64", *, filled: bool = True) -> tuple[Any, Any]:
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
_FIRST_FIRING = READ_BACK.index(f"fires_{FIRINGS[0]}")


@dataclass(frozen=True)
class StepKernel:
    """The compiled loops of a fused run, over a :class:`TiledState` array of padded B members.

    * ``begin(points, hyper, state, record)``: from ``points``, a C-contiguous (B, n) array
      (the start points, read in place), and ``hyper``, a (2, B) array (alpha_0 and gamma),
      fill the whole state (f, grad f, ||grad f||, the starting status) and write the first
      record;
    * ``kernel(state, record)``: advance the state one step in place and write the
      recorded columns (theta, f, alpha, ||grad f||) into ``record``, a C-contiguous
      (n + 3, B) array (one step of the run's history; the loop may also run on a chunk of
      tiles with a small scratch record, copied into the history where the step is kept: the
      same loop, the same bits);
    * ``read_back(state, out)``: write the :data:`READ_BACK` numbers into ``out``, a
      C-contiguous int64 (len(READ_BACK), B) array.

    Attributes:
        layout: the columns of the state.
        evaluations: per running step, the evaluations it stands for
            ({"values", "gradients", "hvps"}), as the generic path counts them.
    """

    layout: Layout
    step: llvm_loop.ColumnLoop
    start: llvm_loop.ColumnLoop
    finish: llvm_loop.ColumnLoop
    evaluations: dict[str, int]

    def __call__(self, state: Any, record: Any) -> None:
        self.step([state, record])

    def unchecked(self, state: int, record: int, tiles: int) -> None:
        """The step on ``tiles`` tiles of a state and a record at these addresses, without the
        Python-side checks of :meth:`__call__` (a few microseconds a call: most of a step at
        10^2 members); for the stepper's own arrays only."""
        self.step.function(state, record, tiles)

    def begin(self, points: Any, hyper: Any, state: Any, record: Any) -> None:
        self.start([points, hyper, state, record])

    def read_back(self, state: Any, out: Any) -> None:
        self.finish([state, out])


def build_step_kernel(
    derivatives: SparseDerivatives,
    rule: Rule,
    guards: Safeguards,
    *,
    identity_direction: bool,
    tol: float,
    divergence: float,
) -> StepKernel:
    """The fused kernel for a deterministic step.

    Args:
        derivatives: the loss's exact derivatives (smooth, no data symbols).
        rule: an "adaptive" or "fixed" rule; its slope and curvature must be
            arithmetic on the :class:`~taylorlr.alpha.rules.Probe` fields (and ``dot``).
        guards: the safeguards, applied by :func:`~taylorlr.alpha.safeguards.next_alpha`.
        identity_direction: the optimizer's direction is the gradient (``gd``), so
            omega_{t+1} = grad f(theta+) is known inside the kernel (``lagged``).
        tol, divergence: the engine's stopping settings.

    Raises:
        TypeError, ValueError, AttributeError, RuntimeError, NotImplementedError: the
            rule or the loss cannot be written as the loop's expressions (say why).
    """
    se = symengine_module()
    symbols, outputs, layout, evaluations = _step_expressions(
        se, derivatives, rule, guards, identity_direction, tol, divergence
    )
    unchanged = {layout.column(name) for name in _CONSTANT}
    kept = tuple(None if j in unchanged else e for j, e in enumerate(outputs))
    step = llvm_loop.compile_loop(
        [LoopArray("tiles", reads=tuple(symbols), writes=kept), _record(outputs, layout)]
    )
    inputs, starting = _start_expressions(se, derivatives, layout, tol)
    start = llvm_loop.compile_loop(
        [
            LoopArray("points", reads=inputs[:-2]),
            LoopArray("rows", reads=inputs[-2:]),
            LoopArray("tiles", writes=starting),
            _record(starting, layout),
        ]
    )
    read_back = _read_back_expressions(se, symbols, layout, evaluations)
    finish = llvm_loop.compile_loop(
        [LoopArray("tiles", reads=tuple(symbols)), LoopArray("rows", writes=read_back, integers=True)]
    )
    return StepKernel(layout, step, start, finish, evaluations)


def _read_back_expressions(
    se: Any, symbols: Sequence[Any], layout: Layout, evaluations: dict[str, int]
) -> tuple[Any, ...]:
    """The :data:`READ_BACK` numbers from the state: ``tries`` running steps each cost the
    rule's evaluations, plus the start's value and gradient; a member still running ran out of
    steps (MAX_STEPS, its last valid step ``tries``: every step was taken while it ran)."""
    column = {name: symbols[layout.column(name)] for name in _SCALARS}
    tries, ops = column["tries"], SymbolOps()
    running = ops.eq(column["code"], _RUNNING)
    spent = {
        "code": ops.where(running, _MAX_STEPS, column["code"]),
        "stopped": ops.where(running, tries, column["stopped"]),
        "values": tries * evaluations["values"] + 1,
        "gradients": tries * evaluations["gradients"] + 1,
        "hvps": tries * evaluations["hvps"],
    }
    fires = column["fires"]  # one base-FIRE_BASE digit per guard: exact in a double below 2**53
    for k, name in enumerate(FIRINGS):
        spent[f"fires_{name}"] = se.floor(fires / FIRE_BASE**k) - FIRE_BASE * se.floor(
            fires / FIRE_BASE ** (k + 1)
        )
    return tuple(spent[name] if name in spent else column[name] for name in READ_BACK)


def _record(outputs: Sequence[Any], layout: Layout) -> LoopArray:
    """The record of a step: the state's leading columns, written as rows of the history."""
    return LoopArray("rows", writes=tuple(outputs[: layout.recorded]))


def _start_expressions(
    se: Any, d: SparseDerivatives, layout: Layout, tol: float
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The inputs (theta, alpha_0, gamma) and the starting state, column by column.

    The status is the generic path's: nonfinite unless f and ||grad f||^2 are finite,
    else converged when ||grad f|| <= tol, else running. omega starts as grad f (the
    engine overwrites it with the base optimizer's first direction when that differs).
    """
    theta = [se.Symbol(f"__taylorlr_start_{j}") for j in range(layout.n)]
    alpha, gamma = se.Symbol("__taylorlr_start_alpha"), se.Symbol("__taylorlr_start_gamma")
    to_theta = se.DictBasic(dict(zip([se.sympify(v) for v in d.variables], theta, strict=True)))
    value = se.sympify(d.value).subs(to_theta)
    grad = [se.sympify(g).subs(to_theta) for g in d.gradient]
    gg = se.Add(*[g * g for g in grad])
    code = start_code(SymbolOps(), value, gg, tol)
    zero = se.Integer(0)
    scalars = {"value": value, "alpha": alpha, "grad_norm": se.sqrt(gg), "gamma": gamma, "start": value,
               "code": code, "stopped": zero, "tries": zero, "fires": zero}  # fmt: skip
    state = [*theta, *(scalars[name] for name in _SCALARS), *grad]
    if layout.separate_grad:
        state += grad
    return (*theta, alpha, gamma), tuple(state)


def _vector(items: list[Any]) -> Any:
    import numpy

    out = numpy.empty(len(items), dtype=object)
    out[:] = items
    return out


class _Reads:
    """A :class:`Probe` that notes which fields are read: the step's evaluation sites.

    The fused step evaluates (and counts) f, grad f, H omega or the mirror value at
    theta+ only where the rule's expressions read them.
    """

    def __init__(self, probe: Probe) -> None:
        self._probe, self.read = probe, set[str]()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._probe, name)
        if value is None:
            raise ValueError(f"the rule reads {name}, which the fused step does not have")
        self.read.add(name)
        return value


def _step_expressions(
    se: Any,
    d: SparseDerivatives,
    rule: Rule,
    guards: Safeguards,
    identity: bool,
    tol: float,
    divergence: float,
) -> tuple[list[Any], list[Any], Layout, dict[str, int]]:
    """The state's columns after one step, as expressions in its columns before it,
    and the evaluations per running step that the expressions contain."""
    ops = SymbolOps()
    n = d.n
    layout = Layout(n, separate_grad=not identity)
    symbols = [se.Symbol(f"__taylorlr_state_{j}") for j in range(layout.width)]
    if {str(v) for v in d.variables} & {str(s) for s in symbols}:
        raise ValueError("a variable is named like a state column")
    theta, omega, grad = (symbols[layout.block(b)] for b in ("theta", "omega", "grad"))
    col = {name: symbols[layout.column(name)] for name in _SCALARS}
    alpha, value, start = col["alpha"], col["value"], col["start"]
    variables = [se.sympify(v) for v in d.variables]

    def at(points: list[Any]) -> Any:
        return se.DictBasic(dict(zip(variables, points, strict=True)))

    plus = [t - alpha * w for t, w in zip(theta, omega, strict=True)]
    f = se.sympify(d.value)
    value_plus = f.subs(at(plus))
    grad_plus = [se.sympify(g).subs(at(plus)) for g in d.gradient]
    probe = _Reads(
        Probe(
            alpha=alpha,
            omega=_vector(list(omega)),
            value=value,
            grad=_vector(list(grad)),
            value_plus=value_plus,
            grad_plus=_vector(grad_plus),
            hvp_plus=_vector([se.sympify(r).subs(at(plus)) for r in d.hvp(omega)])
            if "hvp_plus" in rule.needs
            else None,
            value_mirror=f.subs(at([t + alpha * w for t, w in zip(theta, omega, strict=True)]))
            if "value_mirror" in rule.needs
            else None,
            omega_next=_vector(grad_plus) if identity else None,
        )
    )
    update = next_alpha(rule, probe, col["gamma"], guards, loss_start=start, loss_next=value_plus, ops=ops)  # type: ignore[arg-type]
    gg_plus = se.Add(*[g * g for g in grad_plus])
    verdict = settle(ops, code=col["code"], alpha=alpha, update=update, value_next=value_plus,
                     gg_next=gg_plus, loss_start=start, tol=tol, divergence=divergence)  # fmt: skip
    firings = se.Add(*[update.fired[name] * FIRE_BASE**k for k, name in enumerate(FIRINGS)])

    def moved(new: Any, old: Any) -> Any:
        return ops.where(verdict.accept, new, old)

    scalars = {
        "value": moved(value_plus, value),
        "alpha": verdict.alpha,
        "grad_norm": moved(se.sqrt(gg_plus), col["grad_norm"]),
        "gamma": col["gamma"],
        "start": start,
        "code": verdict.code,
        "stopped": moved(col["tries"] + 1, col["stopped"]),  # tries == t while running
        "tries": col["tries"] + ops.eq(col["code"], _RUNNING),
        "fires": col["fires"] + verdict.counted * firings,
    }
    outputs: list[Any] = [moved(p, t) for p, t in zip(plus, theta, strict=True)]
    outputs += [scalars[name] for name in _SCALARS]
    if identity:
        outputs += [moved(g, w) for g, w in zip(grad_plus, omega, strict=True)]
    else:  # the engine writes omega_{t+1} from the optimizer
        outputs += list(omega)
        outputs += [moved(g, old) for g, old in zip(grad_plus, grad, strict=True)]
    evaluations = {  # f and grad f at theta+ are the next state's: always evaluated
        "values": 1 + ("value_mirror" in probe.read),
        "gradients": 1,
        "hvps": int("hvp_plus" in probe.read),
    }
    return symbols, outputs, layout, evaluations


# ---------------------------------------------------------------------------- the stepper

#: the fused loop asks "anyone still running?" every this many steps (without an oracle)
_RUNNING_CHECK = 4
#: the state's bytes a run without an oracle takes through its steps at a time (:class:`_Blocks`):
#: about a core's L2 cache (measured on 2-D Rosenbrock, 20 steps, 10^6 members: 2^19 bytes 169 ms,
#: 2^20 156 ms, 2^21 150 ms, 2^17 203 ms; at 10^5 flat from 2^19)
_BLOCK_BYTES = 2**20
#: what the fused step reads beyond f and grad f at theta_t
_READABLE = frozenset({"value_plus", "grad_plus", "hvp_plus", "value_mirror"})
_KERNELS: dict[int, dict[Any, StepKernel | str]] = {}


def why_not(compiled: Any, rule: Rule, *, stochastic: bool) -> str | None:
    """Why the fused step cannot run this loss and rule (None: it can, if its expressions
    compile: see :func:`prepare`). The one place that decides eligibility.

    >>> import taylorlr as tl
    >>> why_not(tl.Loss("abs(x) + y**2").compile(), tl.rules.exact(), stochastic=False)
    'the loss is not smooth (abs, sign, min, max, ...): the loop compiles smooth functions only'
    """
    backend = compiled.backend
    reasons = (
        (not getattr(backend, "is_numpy", False), f"the backend is {backend.name}, not NumPy"),
        (compiled.dtype != "float64", f"the dtype is {compiled.dtype}, not float64"),
        (getattr(compiled, "generator", None) == "xp", "the loss was compiled with generator='xp'"),
        (bool(compiled.data_symbols), "the loss has data symbols"),
        (stochastic, "the run is stochastic (data per step)"),
        (
            not compiled.derivatives.smooth,
            "the loss is not smooth (abs, sign, min, max, ...): the loop compiles smooth functions only",
        ),
        (rule.kind not in ("adaptive", "fixed"), f"the rule {rule.label!r} is not adaptive or fixed"),
        (not rule.needs <= _READABLE, f"the rule {rule.label!r} needs {sorted(rule.needs - _READABLE)}"),
        (symengine_module() is None, "SymEngine is not installed"),
        (not llvm_loop.available(), "llvmlite cannot be imported"),
    )
    return next((reason for failed, reason in reasons if failed), None)


def prepare(compiled: Any, rule: Rule, guards: Safeguards, optimizer: Any, *, stochastic: bool,
            tol: float, divergence: float) -> StepKernel | str:  # fmt: skip
    """The fused kernel for this run, or the reason it cannot run (kernels and reasons are
    cached per compiled loss and settings: a kernel is built once)."""
    reason = why_not(compiled, rule, stochastic=stochastic)
    if reason is not None:
        return reason
    identity = is_identity(optimizer)
    try:
        key: Any = (_rule_key(rule), guards, identity, float(tol), float(divergence))
        hash(key)
    except (TypeError, AttributeError):
        key = None
    cache = _KERNELS.get(id(compiled))
    if cache is None:
        cache = _KERNELS[id(compiled)] = {}
        weakref.finalize(compiled, _KERNELS.pop, id(compiled), None)
    if key is not None and key in cache:
        return cache[key]
    try:
        built: StepKernel | str = build_step_kernel(
            compiled.derivatives, rule, guards, identity_direction=identity, tol=float(tol),
            divergence=float(divergence),
        )  # fmt: skip
    except (TypeError, ValueError, AttributeError, RuntimeError, NotImplementedError) as error:
        # a rule written with something other than arithmetic, an unsupported function
        built = f"the step cannot be compiled as one loop ({type(error).__name__}: {error})"
    if key is not None:
        cache[key] = built
    return built


def _rule_key(rule: Rule) -> Any:
    """What makes two rules compile to the same kernel (registry rules are rebuilt per run)."""

    def function_key(function: Any) -> Any:
        if function is None:
            return None
        cells = tuple(cell.cell_contents for cell in function.__closure__ or ())
        return (function.__code__, cells)

    return (
        rule.name,
        rule.kind,
        rule.needs,
        function_key(rule.slope),
        function_key(rule.curvature),
        tuple(sorted(rule.options.items())),
    )


@dataclass
class FusedStepper:
    """The run's loop over steps with the fused kernel: NumPy float64, batch flattened to B.

    Built for a batch of 10^5 members, where every pass over the batch counts: the
    state lives in tiles (:class:`TiledState`) that three compiled loops fill (f, grad f
    and the status at the start), advance (one step) and read back (the counters), the
    counts come from the kernel's ``tries`` column (no tally), and "anyone still
    running?" is asked every ``_RUNNING_CHECK`` steps (a stopped member is frozen by the
    kernel, so a late check only costs kernel calls that change nothing). The kernel
    writes each kept step's record (theta, f, alpha, ||grad f||) into one
    (rows, n + 3, B) slab (:class:`_History`: every step, or the rows ``record=`` keeps);
    ``points``, ``losses``, ``alphas`` and ``grad_norms`` are views of it. With gradient
    descent's direction and no oracle outside the tiles, nothing happens between two steps
    outside the compiled loops, so the run goes a cache-sized chunk of the batch at a time from
    its start to its read-back (:class:`_Blocks`): one pass over memory in all, and no state of
    the batch's size.
    Otherwise (:meth:`_run_whole`) the end reads the counters and each member's last point back
    a chunk at a time, handing the state's memory back as it goes (:func:`_read_back`).
    """

    kernel: StepKernel
    optimizer: Any
    oracle: Any  # (theta, omega, alpha, t) -> alpha*, or None
    oracle_tiles: Any = None  # (tiles, B) -> alpha*, the oracle reading the state in place, or None
    path = "fused"

    def _oracle(self, state: TiledState, t: int) -> Any:
        """The oracle's alpha* for the running members (NaN for the others), from the tiles in place
        where it can."""
        import numpy as np

        if self.oracle_tiles is not None:
            return self.oracle_tiles(state.array, state.size)
        found = self.oracle(state.get("theta"), state.get("omega"), state.get("alpha"), t)
        return np.where(state.get("code") == _RUNNING, found, np.nan)

    def run(
        self, theta0: Any, alpha0: Any, gamma: Any, plan: RecordPlan, shape: tuple[int, ...]
    ) -> dict[str, Any]:
        batch = shape or (1,)
        size = math.prod(batch)
        start = _Start(theta0, alpha0, gamma, batch)
        in_tiles = self.oracle is None or self.oracle_tiles is not None  # nothing in NumPy between steps
        if _IN_BLOCKS and in_tiles and not self.kernel.layout.separate_grad:
            oracle = None if self.oracle is None else _ChunkOracle(self.oracle_tiles, plan, size)
            end = _Blocks(self.kernel, start, plan, size, oracle).run()
        else:
            end = self._run_whole(start, plan, size)
        records = _records(end, self.kernel.layout, plan, size)
        return {**with_batch_shape(records, (size,), shape), "oracle_seconds": end.oracle_seconds}

    def _run_whole(self, start: _Start, plan: RecordPlan, size: int) -> _End:
        """The steps one at a time over the whole batch's state (an oracle or a NumPy direction
        sits between two steps)."""
        steps, step = plan.steps, self.kernel
        layout, column = step.layout, step.layout.column
        state = TiledState(layout, size, frozen=float(_CONVERGED))
        history = _History(plan, layout.recorded, state.padded)
        # f, grad f, ||grad f|| and the status, from the start points read in place where they can be
        first_row = history.row(0)
        # a thinned history's first row is written at the end: the state alone is held meanwhile
        norms = _begin(step, start, state, first_row if plan.full else None)
        state.freeze_padding()
        optimizer_state = None
        if layout.separate_grad:  # the base optimizer's first direction
            theta, grad = state.get("theta"), state.get("grad")
            omega, optimizer_state = self.optimizer.direction(grad, self.optimizer.init(theta), theta)
            state.set("omega", omega)
        record_oracle = self.oracle is not None
        oracle_rows: list[Any] = []  # the oracle's alpha* of each kept step
        fires: Any = 0  # (len(FIRINGS), B) once a guard has fired
        oracle_seconds = 0.0
        codes = state.array[:, column("code"), :]  # a view: the kernel updates it in place
        for t in range(steps):
            asked = record_oracle or t % _RUNNING_CHECK == 0
            if asked and codes.min(initial=_CONVERGED) != _RUNNING:
                break  # codes are >= _RUNNING == 0: nobody left running (or no member at all)
            if t and t % FIRE_FLUSH == 0:  # before a digit can overflow
                fires += _fire_digits(state.get("fires"))
                state.array[:, column("fires"), :] = 0.0
            if record_oracle and plan.keeps(t):
                started = time.perf_counter()
                found = self._oracle(state, t)
                oracle_seconds += time.perf_counter() - started
                oracle_rows.append(found)
            history.advance(step, state.array, t + 1)
            if layout.separate_grad:  # the optimizer's direction, for the members that moved
                optimizer_state = self._direction_for_moved(state, optimizer_state, t)
        last = _last_valid_step(state, steps)
        rows = recorded_steps(plan, last)
        # the counters and each member's last point, read a chunk of tiles at a time, the state's
        # memory handed back as it is read: the end holds the result, not the result and the state
        first = None
        if not plan.full:
            first = functools.partial(
                _first_row, first_row, start.flat("theta0"), start.flat("alpha0"), norms
            )
        code, stopped_at, counted, fired = _read_back(step, state, (first, history.final_row(rows)))
        return _End(
            recorded=history.finish(last), code=code, stopped=stopped_at, counted=counted, fired=fired,
            fires=fires, last=last, oracle_rows=oracle_rows if record_oracle else None,
            oracle_seconds=oracle_seconds,
        )  # fmt: skip

    def _direction_for_moved(self, state: TiledState, optimizer_state: Any, t: int) -> Any:
        """omega_{t+1} from the base optimizer, for the members that took step t."""
        import numpy as np

        omega_next, new_state = self.optimizer.direction(
            state.get("grad"), optimizer_state, state.get("theta")
        )
        moved = state.get("stopped") == t + 1
        if bool(moved.all()):
            state.set("omega", omega_next)
            return new_state
        state.set("omega", np.where(moved[:, None], omega_next, state.get("omega")))
        return select_state(moved, new_state, optimizer_state)


#: members per call of a loop on a part of the batch (the start, a step that is not recorded,
#: the read-back): small buffers that stay in cache, whatever the batch
_CHUNK_MEMBERS = 2**15


def _chunks(tiles: int) -> Iterator[tuple[int, int]]:
    """(first, last) tiles of each chunk of at most :data:`_CHUNK_MEMBERS` members."""
    per_chunk = max(1, _CHUNK_MEMBERS // LANES)
    return ((first, min(tiles, first + per_chunk)) for first in range(0, tiles, per_chunk))


@dataclass(frozen=True)
class _Start:
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


class _Feed:
    """The start loop on a chunk of tiles at a time: the start points read where they are (a copy
    only for a partial tile or points NumPy cannot hand over as they are), alpha_0 and gamma
    through a small buffer reused by every chunk."""

    def __init__(self, step: StepKernel, start: _Start, size: int, per_chunk: int) -> None:
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


def _begin(step: StepKernel, start: _Start, state: TiledState, record: Any) -> Any:
    """Fill the state from theta_0, alpha_0 and gamma, and the first record into ``record``, a
    chunk at a time (:class:`_Feed`: no copy of the batch's size is made). With ``record`` None (a
    thinned history), the first record is written at the end (:func:`_read_back`, from the inputs
    and the state's f(theta_0)): only ||grad f(theta_0)|| is kept, returned as a (padded B,) array."""
    import numpy as np

    layout = state.layout
    feed = _Feed(step, start, state.size, min(len(state.array), max(1, _CHUNK_MEMBERS // LANES)))
    whole = record is not None and len(state.array) * LANES <= _CHUNK_MEMBERS
    norms = None if record is not None else np.empty(state.padded)
    for first, last in _chunks(len(state.array)):
        rows = record if whole else np.empty((layout.recorded, (last - first) * LANES))
        feed.begin(state.array[first:last], rows, first)
        if norms is not None:
            norms[first * LANES : last * LANES] = rows[layout.column("grad_norm")]
        elif not whole:
            record[:, first * LANES : last * LANES] = rows
    return norms


def _first_row(
    row: Any, points: Any, alphas: Any, norms: Any, state: TiledState, first: int, last: int
) -> None:
    """Write the first record of the members in tiles first ... last - 1 into ``row`` (n + 3, padded
    B): theta_0 and alpha_0 from the inputs (``points`` (B, n) and ``alphas`` (B,)), f(theta_0) from
    the state (the start loop wrote the same expression there and into a record), and
    ||grad f(theta_0)||, kept by :func:`_begin`."""
    layout, size = state.layout, state.size
    low, high = first * LANES, min(last * LANES, size)
    row[layout.block("theta"), low:high] = points[low:high].T
    f0 = state.array[first:last, layout.column("start"), :]
    row[layout.column("value"), first * LANES : last * LANES] = f0.reshape(-1)
    row[layout.column("alpha"), low:high] = alphas[low:high]
    row[layout.column("grad_norm"), low:high] = norms[low:high]


def _last_valid_step(state: TiledState, steps: int) -> int:
    """The batch's last valid step (where a thinned history ends): ``steps`` while a member runs,
    else the latest stop (read from the state's columns in place)."""
    layout = state.layout
    if state.array[:, layout.column("code"), :].min(initial=_CONVERGED) == _RUNNING:
        return steps
    return int(state.array[:, layout.column("stopped"), :].max(initial=0))


class _Counters:
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
        # thousands; see _zeros); a guard's row is touched only once it fires
        self.block = _zeros((1 + len(kinds) + len(FIRINGS), size), "int64", filled=False)[0]
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
        fires = part[_FIRST_FIRING:]
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


def _read_back(
    step: StepKernel, state: TiledState, rows: tuple[Any, Any]
) -> tuple[Any, Any, dict[str, Any], list[Any]]:
    """:class:`_Counters` of the whole state, the rows that come from the state written (``rows``: a
    function (state, first, last) that writes the first record of those tiles' members, or None;
    and the final row, into which each member's recorded columns are copied, or None), and each
    chunk's memory released once read (:meth:`TiledState.release`)."""
    tiles, layout = len(state.array), state.layout
    first_row, final_row = rows
    counters = _Counters(step, state.size, min(tiles, max(1, _CHUNK_MEMBERS // LANES)))
    for first, last in _chunks(tiles):
        counters.read(state.array[first:last], first)
        if first_row is not None:
            first_row(state, first, last)
        if final_row is not None:
            tiled = final_row.reshape(layout.recorded, -1, LANES)[:, first:last]
            tiled[...] = state.array[first:last, : layout.recorded].transpose(1, 0, 2)
        state.release(last)
    return counters.result()


def _oracle_rows(rows: list[Any], count: int, size: int) -> Any:
    """The oracle's alphas as a (count, B) array, NaN past the rows computed."""
    import numpy as np

    out = np.full((count, size), np.nan)
    if rows:
        out[: len(rows)] = rows
    return out


@dataclass(frozen=True, kw_only=True)
class _End:
    """What a stepper leaves: the history's rows (rows, n + 3, padded B), the read-back
    (:meth:`_Counters.result`), the firings flushed from the state before it (``fires``: 0, or
    (len(FIRINGS), B)), the batch's last valid step and the oracle's rows (None: no oracle)."""

    recorded: Any
    code: Any
    stopped: Any
    counted: dict[str, Any]
    fired: list[Any]
    fires: Any
    last: int
    oracle_rows: list[Any] | None = None
    oracle_seconds: float = 0.0


def _records(end: _End, layout: Layout, plan: RecordPlan, size: int) -> dict[str, Any]:
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


class _ChunkOracle:
    """The oracle in the tiles (:attr:`FusedStepper.oracle_tiles`, a
    :class:`~taylorlr.alpha.oracle.TiledMinimiser`) on each chunk of the batch before each kept
    step (:class:`_Blocks`): a row (B,) per kept step that a chunk reached, NaN where it did not
    run (a member not running; a chunk that had stopped), and the seconds it took. The later
    rounds of the members that look again are gathered over the chunks and run once per step at
    the end (:meth:`finish`); each member's alpha* is the one the whole batch's oracle finds (the
    loops work member by member)."""

    def __init__(self, oracle_tiles: Any, plan: RecordPlan, size: int) -> None:
        self.oracle_tiles, self.plan, self.size, self.seconds = oracle_tiles, plan, size, 0.0
        self.row_of: dict[int, Any] = {}  # made as the steps are reached: none for steps never taken
        self.later: dict[int, list[tuple[Any, ...]]] = {}

    def __call__(self, t: int, chunk: Any, members: slice) -> None:
        import numpy as np

        if not self.plan.keeps(t):
            return
        started = time.perf_counter()
        row = self.row_of.get(t)
        if row is None:
            row = self.row_of[t] = np.full(self.size, np.nan)
        found, again, *looking = self.oracle_tiles.first(chunk, len(chunk) * LANES)
        stop = min(members.stop, self.size)
        row[members.start : stop] = found[: stop - members.start]
        if again.size:
            self.later.setdefault(t, []).append((again + members.start, *looking))
        self.seconds += time.perf_counter() - started

    def finish(self) -> list[Any]:
        """The later rounds of every kept step, each over the members of all chunks that look
        again; the rows of the kept steps, in order."""
        import numpy as np

        started = time.perf_counter()
        for t, parts in self.later.items():
            rows, theta, omega, scale = (np.concatenate(part) for part in zip(*parts, strict=True))
            self.oracle_tiles.later(theta, omega, rows, scale, self.row_of[t])
        self.seconds += time.perf_counter() - started
        return [self.row_of[t] for t in sorted(self.row_of)]


class _History:
    """The rows of a run's history, each (n + 3, padded B), written by the kernels in place.

    One (rows, n + 3, padded B) array, whose memory the system hands out as rows are first
    written (so a run that stops early holds nothing for the steps it never took; the run's
    memory check bounds the whole). Every step recorded (``plan.full``): the rows up to the
    batch's last valid step, where the history ends (:meth:`finish`). Thinned: the kept rows, the
    other steps writing their record into a small scratch, a chunk of tiles at a time, and at the
    end a last row (:meth:`final_row`) that the read-back fills with the state's recorded
    columns (each member's last point). :class:`_Blocks` writes the rows a chunk of members at a
    time and ends them itself (:meth:`_Blocks.settle`).

    The step loop is called at addresses (:meth:`StepKernel.unchecked`): every array here and
    the state are made by the stepper, C-contiguous float64 of the shapes the loop expects.
    """

    def __init__(self, plan: RecordPlan, width: int, padded: int) -> None:
        self.plan, self.width = plan, width
        # memory is taken as rows are written (in huge pages: see :func:`_zeros`)
        self.rows = _zeros((plan.rows, width, padded), filled=False)[0]
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
            per_chunk = min(max(1, _CHUNK_MEMBERS // LANES), self.padded // LANES)
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
_IN_BLOCKS = True


class _Blocks:
    """A run without an oracle or a NumPy direction between its steps, a cache-sized chunk of the
    batch at a time: each chunk of tiles is started, taken through all of its steps and read
    back into the result before the next one is started, in one state buffer of
    :data:`_BLOCK_BYTES` that stays in cache (one pass over the batch's memory instead of one per
    step; no state of the batch's size).

    A chunk whose members all stopped (asked every :data:`_RUNNING_CHECK` steps) skips its
    remaining steps: a stopped member's step changes nothing, and its record would repeat its
    last point. Which rows its later steps fill depends on the batch's last valid step, known
    once every chunk ran: :meth:`settle` then copies the chunk's last point into them. A thinned
    history's final row (each member's last point) is written into its last row, and moved
    where the batch's last valid step puts it. Each member's numbers are those of the steps over
    the whole state (the same loops, in the same order per member).
    """

    def __init__(
        self, step: StepKernel, start: _Start, plan: RecordPlan, size: int, oracle: _ChunkOracle | None = None
    ) -> None:
        import numpy as np

        self.oracle = oracle  # run on each chunk before each kept step
        layout = step.layout
        self.step, self.plan, self.size, self.width = step, plan, size, layout.recorded
        self.tiles = -(-size // LANES)
        self.per_chunk = max(1, min(self.tiles, _BLOCK_BYTES // (layout.width * LANES * 8)))
        self.history = _History(plan, layout.recorded, self.tiles * LANES)
        self.counters = _Counters(step, size, self.per_chunk)
        self.feed = _Feed(step, start, size, self.per_chunk)
        self.state = np.empty(self.per_chunk * layout.width * LANES)
        self.scratch = np.empty(self.per_chunk * layout.recorded * LANES)
        self.code, self.fires = layout.column("code"), layout.column("fires")
        self.stops: list[tuple[slice, int]] = []  # each chunk's members and its last step taken

    def run(self) -> _End:
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
        return _End(recorded=self.settle(last), code=code, stopped=stopped, counted=counted, fired=fired,
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
            if t % _RUNNING_CHECK == 0 and codes[witness].min() != _RUNNING:
                witness, lane = divmod(int(codes.argmin()), LANES)  # codes >= _RUNNING == 0
                if codes[witness, lane] != _RUNNING:
                    break
            if t and t % FIRE_FLUSH == 0:  # before a digit can overflow
                digits = _fire_digits(state[:, self.fires, :].reshape(-1))
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


def _fire_digits(packed: Any) -> Any:
    """The per-guard counts packed in the ``fires`` column: (len(FIRINGS), B) int64 (or 0)."""
    import numpy

    if not bool(packed.any()):
        return 0
    whole = packed.astype(numpy.int64)
    return numpy.stack([whole // FIRE_BASE**k % FIRE_BASE for k in range(len(FIRINGS))])
