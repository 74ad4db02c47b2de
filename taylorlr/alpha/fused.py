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
step) and read back into the result before the next (:class:`Blocks`). With one, the whole state
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

import functools
import math
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from taylorlr.alpha import _fused_run
from taylorlr.alpha._fused_run import (
    RUNNING_CHECK,
    Blocks,
    ChunkOracle,
    End,
    History,
    Start,
    begin_state,
    fire_digits,
    last_valid_step,
    read_back_state,
    run_record,
    write_first_row,
)
from taylorlr.alpha._record import RecordPlan, recorded_steps, with_batch_shape
from taylorlr.alpha._step import SymbolOps, settle, start_code
from taylorlr.alpha._tiles import (
    CONSTANT_COLUMNS,
    FIRE_BASE,
    FIRE_FLUSH,
    READ_BACK,
    SCALARS,
    Layout,
    TiledState,
)
from taylorlr.alpha.optimizers import is_identity, select_state
from taylorlr.alpha.result import _CONVERGED, _MAX_STEPS, _RUNNING
from taylorlr.alpha.rules import Probe, Rule
from taylorlr.alpha.safeguards import FIRINGS, Safeguards, next_alpha
from taylorlr.compile import simd_codegen as llvm_loop
from taylorlr.compile.simd_codegen import LoopArray
from taylorlr.symbolic.derivatives import SparseDerivatives, symengine_module


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
    optimise: bool | None = True,
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
        optimise: LLVM's optimisation of the loops (``simd_codegen.compile_loop``): True, or
            None to leave a large loop unoptimised (built about 4x faster, run up to 1.6x
            slower; the same bits).

    Raises:
        TypeError, ValueError, AttributeError, RuntimeError, NotImplementedError: the
            rule or the loss cannot be written as the loop's expressions (say why).
    """
    se = symengine_module()
    symbols, outputs, layout, evaluations = _step_expressions(
        se, derivatives, rule, guards, identity_direction, tol, divergence
    )
    unchanged = {layout.column(name) for name in CONSTANT_COLUMNS}
    kept = tuple(None if j in unchanged else e for j, e in enumerate(outputs))
    step = llvm_loop.compile_loop(
        [LoopArray("tiles", reads=tuple(symbols), writes=kept), _record(outputs, layout)], optimise=optimise
    )
    inputs, starting = _start_expressions(se, derivatives, layout, tol)
    start = llvm_loop.compile_loop(
        [
            LoopArray("points", reads=inputs[:-2]),
            LoopArray("rows", reads=inputs[-2:]),
            LoopArray("tiles", writes=starting),
            _record(starting, layout),
        ],
        optimise=optimise,
    )
    read_back = _read_back_expressions(se, symbols, layout, evaluations)
    finish = llvm_loop.compile_loop(
        [LoopArray("tiles", reads=tuple(symbols)), LoopArray("rows", writes=read_back, integers=True)],
        optimise=optimise,
    )
    return StepKernel(layout, step, start, finish, evaluations)


def _read_back_expressions(
    se: Any, symbols: Sequence[Any], layout: Layout, evaluations: dict[str, int]
) -> tuple[Any, ...]:
    """The :data:`READ_BACK` numbers from the state: ``tries`` running steps each cost the
    rule's evaluations, plus the start's value and gradient; a member still running ran out of
    steps (MAX_STEPS, its last valid step ``tries``: every step was taken while it ran)."""
    column = {name: symbols[layout.column(name)] for name in SCALARS}
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
    state = [*theta, *(scalars[name] for name in SCALARS), *grad]
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
    col = {name: symbols[layout.column(name)] for name in SCALARS}
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
    outputs += [scalars[name] for name in SCALARS]
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

#: what the fused step reads beyond f and grad f at theta_t
_READABLE = frozenset({"value_plus", "grad_plus", "hvp_plus", "value_mirror"})
_KERNELS: dict[int, dict[Any, StepKernel | str]] = {}
#: start points x steps from which a run gets a large fused loop optimised: osborne2's step
#: (65 residuals with exp, 11 variables) builds in 7 s unoptimised against 27 s, and runs 9.4 us
#: a member and step slower (2.1 s against 1.3 s for 4096 starts x 20 steps), so the optimised
#: build pays for itself from about 2 million; a small loop is optimised whatever the run
OPTIMISE_WORK = 2**21


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
            tol: float, divergence: float, work: float = math.inf) -> StepKernel | str:  # fmt: skip
    """The fused kernel for this run, or the reason it cannot run (kernels and reasons are
    cached per compiled loss and settings: a kernel is built once).

    ``work`` is the run's start points times its steps. A large loop (a big loss) is built
    unoptimised for a run of less than :data:`OPTIMISE_WORK` (its optimised build would cost more
    than the run saves) and optimised again, once, for the first run of more. Both give the
    same bits (no fast-math, no fused multiply-add): the level never changes a member's numbers.
    """
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
    optimise = True if work >= OPTIMISE_WORK else None
    if key is not None and key in cache:
        kept = cache[key]
        if not (optimise and isinstance(kept, StepKernel) and kept.step.level < 3):
            return kept
    try:
        built: StepKernel | str = build_step_kernel(
            compiled.derivatives, rule, guards, identity_direction=identity, tol=float(tol),
            divergence=float(divergence), optimise=optimise,
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
    running?" is asked every ``RUNNING_CHECK`` steps (a stopped member is frozen by the
    kernel, so a late check only costs kernel calls that change nothing). The kernel
    writes each kept step's record (theta, f, alpha, ||grad f||) into one
    (rows, n + 3, B) slab (:class:`History`: every step, or the rows ``record=`` keeps);
    ``points``, ``losses``, ``alphas`` and ``grad_norms`` are views of it. With gradient
    descent's direction and no oracle outside the tiles, nothing happens between two steps
    outside the compiled loops, so the run goes a cache-sized chunk of the batch at a time from
    its start to its read-back (:class:`Blocks`): one pass over memory in all, and no state of
    the batch's size.
    Otherwise (:meth:`_run_whole`) the end reads the counters and each member's last point back
    a chunk at a time, handing the state's memory back as it goes (:func:`read_back_state`).
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
        start = Start(theta0, alpha0, gamma, batch)
        in_tiles = self.oracle is None or self.oracle_tiles is not None  # nothing in NumPy between steps
        if _fused_run.IN_BLOCKS and in_tiles and not self.kernel.layout.separate_grad:
            oracle = None if self.oracle is None else ChunkOracle(self.oracle_tiles, plan, size)
            end = Blocks(self.kernel, start, plan, size, oracle).run()
        else:
            end = self._run_whole(start, plan, size)
        records = run_record(end, self.kernel.layout, plan, size)
        return {**with_batch_shape(records, (size,), shape), "oracle_seconds": end.oracle_seconds}

    def _run_whole(self, start: Start, plan: RecordPlan, size: int) -> End:
        """The steps one at a time over the whole batch's state (an oracle or a NumPy direction
        sits between two steps)."""
        steps, step = plan.steps, self.kernel
        layout, column = step.layout, step.layout.column
        state = TiledState(layout, size, frozen=float(_CONVERGED))
        history = History(plan, layout.recorded, state.padded)
        # f, grad f, ||grad f|| and the status, from the start points read in place where they can be
        first_row = history.row(0)
        # a thinned history's first row is written at the end: the state alone is held meanwhile
        norms = begin_state(step, start, state, first_row if plan.full else None)
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
            asked = record_oracle or t % RUNNING_CHECK == 0
            if asked and codes.min(initial=_CONVERGED) != _RUNNING:
                break  # codes are >= _RUNNING == 0: nobody left running (or no member at all)
            if t and t % FIRE_FLUSH == 0:  # before a digit can overflow
                fires += fire_digits(state.get("fires"))
                state.array[:, column("fires"), :] = 0.0
            if record_oracle and plan.keeps(t):
                started = time.perf_counter()
                found = self._oracle(state, t)
                oracle_seconds += time.perf_counter() - started
                oracle_rows.append(found)
            history.advance(step, state.array, t + 1)
            if layout.separate_grad:  # the optimizer's direction, for the members that moved
                optimizer_state = self._direction_for_moved(state, optimizer_state, t)
        last = last_valid_step(state, steps)
        rows = recorded_steps(plan, last)
        # the counters and each member's last point, read a chunk of tiles at a time, the state's
        # memory handed back as it is read: the end holds the result, not the result and the state
        first = None
        if not plan.full:
            first = functools.partial(
                write_first_row, first_row, start.flat("theta0"), start.flat("alpha0"), norms
            )
        code, stopped_at, counted, fired = read_back_state(step, state, (first, history.final_row(rows)))
        return End(
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
