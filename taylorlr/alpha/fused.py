"""The fused step: one generated SIMD loop per (loss, rule, safeguards) for a whole step.

At a batch of 10^5 points the loss's own kernels take about a millisecond, while
the step's arithmetic done as separate NumPy passes (theta+, the rule's slope and
curvature, five safeguards, the status, the counters, freezing the stopped members)
costs several times that. In the common case (float64 NumPy, a smooth loss without
data symbols, a rule whose estimates are fixed expressions) every one of those is an
expression in a handful of per-member numbers, so :func:`build_step_kernel` writes
the whole step as SymEngine expressions and compiles them with
:mod:`taylorlr.compile.simd_codegen` into one vectorised pass over the batch.

The state of the batch is one float64 array in tiles of
:data:`~taylorlr.compile.simd_codegen.LANES` members (:class:`TiledState`, columns in
:class:`Layout` order), updated in place: the step reads a tile, computes the next
state of its members and writes it back, and writes what the run records (theta, f,
alpha, ||grad f||) straight into the run's history. Only the base optimizer's
direction (when it is not gradient descent's identity) stays in NumPy. Counts are
kept in the state exactly as the generic path counts them: ``tries`` (steps a member
was running: each cost the rule's evaluations), ``fires`` (safeguard firings, one
base-256 digit per guard) and ``stopped`` (the index of the last valid point).

The formulas are the rule's own :attr:`Rule.slope` and :attr:`Rule.curvature`,
evaluated on SymEngine symbols instead of arrays, and the safeguards mirror
:func:`~taylorlr.alpha.rules.next_alpha` guard for guard; results agree with the generic
path to rounding (the kernel may sum or divide in another order, a few ulps).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from taylorlr.alpha.rules import FIRINGS, Probe, Rule, Safeguards
from taylorlr.compile import simd_codegen as llvm_loop
from taylorlr.compile.simd_codegen import LANES, LoopArray
from taylorlr.symbolic.derivatives import SparseDerivatives, symengine_module

#: digits of the ``fires`` column: guard k adds FIRE_BASE**k; flushed before a digit can overflow
FIRE_BASE = 256  # one byte per guard: the engine reads the digits as bytes
FIRE_FLUSH = FIRE_BASE - 1
#: the per-member scalars after theta: the first three are recorded every step
_SCALARS = ("value", "alpha", "grad_norm", "gamma", "start", "code", "stopped", "tries", "fires")
_RECORDED_SCALARS = 3
#: the state's n-column blocks
_BLOCKS = ("theta", "omega", "grad")
#: columns the step reads and never changes
_CONSTANT = ("gamma", "start")


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
    writes. Members past B (padding up to a whole tile) have the status code ``frozen``,
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
        import numpy

        self.layout, self.size, self.frozen = layout, size, frozen
        self.array = numpy.zeros((-(-size // LANES), layout.width, LANES))
        self.freeze_padding()

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


#: what the run reads back at the end, per member, as int64: the status code, the last
#: valid step, the evaluations spent (the start's value and gradient included) and each
#: safeguard's firings since the last flush
READ_BACK = ("code", "stopped", "values", "gradients", "hvps", *(f"fires_{name}" for name in FIRINGS))


@dataclass(frozen=True)
class StepKernel:
    """The compiled loops of a fused run, over a :class:`TiledState` array of padded B members.

    * ``begin(inputs, state, record)``: from ``inputs``, a C-contiguous (n + 2, B) array
      (theta transposed, then alpha_0 and gamma), fill the whole state (f, grad f,
      ||grad f||, the starting status) and write the first record;
    * ``kernel(state, record)``: advance the state one step in place and write the
      recorded columns (theta, f, alpha, ||grad f||) into ``record``, a C-contiguous
      (n + 3, B) array (one step of the run's history);
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

    def begin(self, inputs: Any, state: Any, record: Any) -> None:
        self.start([inputs, state, record])

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
    codes: tuple[int, int, int, int],
) -> StepKernel | None:
    """The fused kernel for a deterministic step, or None where it does not apply.

    Args:
        derivatives: the loss's exact derivatives (smooth, no data symbols).
        rule: an "adaptive" or "fixed" rule; its slope and curvature must be
            arithmetic on the :class:`~taylorlr.alpha.rules.Probe` fields (and ``dot``).
        guards: the safeguards, applied as :func:`~taylorlr.alpha.rules.next_alpha` does.
        identity_direction: the optimizer's direction is the gradient (``gd``), so
            omega_{t+1} = grad f(theta+) is known inside the kernel (``lagged``).
        tol, divergence: the engine's stopping settings.
        codes: the status codes (running, converged, diverged, nonfinite).
    """
    se = symengine_module()
    if se is None or not llvm_loop.available() or not derivatives.smooth:
        return None
    if rule.kind not in ("adaptive", "fixed") or not rule.needs <= {
        "value_plus",
        "grad_plus",
        "hvp_plus",
        "value_mirror",
    }:
        return None
    try:
        symbols, outputs, layout = _step_expressions(
            se, derivatives, rule, guards, identity_direction, tol, divergence, codes
        )
        unchanged = {layout.column(name) for name in _CONSTANT}
        kept = tuple(None if j in unchanged else e for j, e in enumerate(outputs))
        step = llvm_loop.compile_loop(
            [LoopArray("tiles", reads=tuple(symbols), writes=kept), _record(outputs, layout)]
        )
        inputs, starting = _start_expressions(se, derivatives, layout, tol, codes)
        start = llvm_loop.compile_loop(
            [LoopArray("rows", reads=inputs), LoopArray("tiles", writes=starting), _record(starting, layout)]
        )
        evaluations = {
            "values": 1 + ("value_mirror" in rule.needs),
            "gradients": 1,
            "hvps": int("hvp_plus" in rule.needs),
        }
        read_back = _read_back_expressions(se, symbols, layout, evaluations)
        finish = llvm_loop.compile_loop(
            [LoopArray("tiles", reads=tuple(symbols)), LoopArray("rows", writes=read_back, integers=True)]
        )
    except (TypeError, ValueError, AttributeError, RuntimeError, NotImplementedError):
        return None  # a rule written with something other than arithmetic, an unsupported function
    return StepKernel(layout, step, start, finish, evaluations)


def _read_back_expressions(
    se: Any, symbols: Sequence[Any], layout: Layout, evaluations: dict[str, int]
) -> tuple[Any, ...]:
    """The :data:`READ_BACK` numbers from the state: ``tries`` running steps each cost the
    rule's evaluations, plus the start's value and gradient."""
    column = {name: symbols[layout.column(name)] for name in _SCALARS}
    tries = column["tries"]
    spent = {
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
    se: Any, d: SparseDerivatives, layout: Layout, tol: float, codes: tuple[int, int, int, int]
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The inputs (theta, alpha_0, gamma) and the starting state, column by column.

    The status is the generic path's: nonfinite unless f and ||grad f||^2 are finite,
    else converged when ||grad f|| <= tol, else running. omega starts as grad f (the
    engine overwrites it with the base optimizer's first direction when that differs).
    """
    running_code, converged_code, _, nonfinite_code = (se.Integer(c) for c in codes)
    theta = [se.Symbol(f"__taylorlr_start_{j}") for j in range(layout.n)]
    alpha, gamma = se.Symbol("__taylorlr_start_alpha"), se.Symbol("__taylorlr_start_gamma")
    to_theta = se.DictBasic(dict(zip([se.sympify(v) for v in d.variables], theta, strict=True)))
    value = se.sympify(d.value).subs(to_theta)
    grad = [se.sympify(g).subs(to_theta) for g in d.gradient]
    gg = se.Add(*[g * g for g in grad])
    largest = se.RealDouble(sys.float_info.max)
    finite = se.And(se.Abs(value) <= largest, se.Abs(gg) <= largest)
    code = se.Piecewise(  # no Not: SymEngine turns Not(a <= b) into b < a, which NaN makes false
        (converged_code, se.And(finite, se.sqrt(gg) <= se.RealDouble(tol))),
        (running_code, finite),
        (nonfinite_code, True),
    )
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


def _scalar(se: Any, value: Any) -> Any:
    """A SymEngine expression from what a rule returned (an expression or a 0-d object array)."""
    if hasattr(value, "shape"):
        if value.shape != ():
            raise ValueError("a rule's estimate must be one number per member")
        value = value.item()
    return se.sympify(value)


def _step_expressions(
    se: Any,
    d: SparseDerivatives,
    rule: Rule,
    guards: Safeguards,
    identity: bool,
    tol: float,
    divergence: float,
    codes: tuple[int, int, int, int],
) -> tuple[list[Any], list[Any], Layout]:
    running_code, converged_code, diverged_code, nonfinite_code = (se.Integer(c) for c in codes)
    n = d.n
    layout = Layout(n, separate_grad=not identity)
    symbols = [se.Symbol(f"__taylorlr_state_{j}") for j in range(layout.width)]
    if {str(v) for v in d.variables} & {str(s) for s in symbols}:
        raise ValueError("a variable is named like a state column")
    theta, omega, grad = (symbols[layout.block(b)] for b in ("theta", "omega", "grad"))
    col = {name: symbols[layout.column(name)] for name in _SCALARS}
    alpha, value, gamma, start = col["alpha"], col["value"], col["gamma"], col["start"]
    real = se.RealDouble

    variables = [se.sympify(v) for v in d.variables]

    def at(points: list[Any]) -> se.DictBasic:
        return se.DictBasic(dict(zip(variables, points, strict=True)))

    plus = [t - alpha * w for t, w in zip(theta, omega, strict=True)]
    to_plus = at(plus)
    f = se.sympify(d.value)
    value_plus = f.subs(to_plus)
    grad_plus = [se.sympify(g).subs(to_plus) for g in d.gradient]
    hvp_plus = None
    if "hvp_plus" in rule.needs:
        hvp_plus = [se.sympify(row).subs(to_plus) for row in d.hvp(omega)]
    value_mirror = None
    if "value_mirror" in rule.needs:
        value_mirror = f.subs(at([t + alpha * w for t, w in zip(theta, omega, strict=True)]))
    probe = Probe(
        alpha=alpha,
        omega=_vector(list(omega)),
        value=value,
        grad=_vector(list(grad)),
        value_plus=value_plus,
        grad_plus=_vector(grad_plus),
        hvp_plus=_vector(hvp_plus) if hvp_plus is not None else None,
        value_mirror=value_mirror,
        omega_next=_vector(grad_plus) if identity else None,
    )

    def indicator(condition: Any) -> Any:
        return se.Piecewise((se.Integer(1), condition), (se.Integer(0), True))

    def otherwise(condition: Any) -> Any:  # 1 where the condition fails (NaN included)
        return se.Piecewise((se.Integer(0), condition), (se.Integer(1), True))

    # the rule and its safeguards, as rules.next_alpha applies them
    fired: dict[str, Any] = {}
    candidate = alpha
    rejected = se.Integer(0)
    if rule.kind == "adaptive":
        assert rule.slope is not None and rule.curvature is not None
        curvature = _scalar(se, rule.curvature(probe))
        slope = _scalar(se, rule.slope(probe))
        candidate = alpha + gamma * slope / curvature
        if guards.curvature != "formula":
            fired["curvature"] = otherwise(curvature > 0)
            factor = {"grow": guards.grow, "keep": 1.0, "shrink": guards.shrink}[guards.curvature]
            candidate = se.Piecewise((candidate, curvature > 0), (real(factor) * alpha, True))
        if guards.rising_loss is not None:
            scale = se.Abs(start) + se.Abs(value)
            rises = value_plus - value <= real(guards.rising_loss) * scale
            fired["rising_loss"] = rejected = otherwise(rises)
            candidate = se.Piecewise((candidate, rises), (real(guards.shrink) * alpha, True))
        bounds = [("factor_min", guards.factor_min, alpha), ("factor_max", guards.factor_max, alpha)]
        bounds += [("alpha_min", guards.alpha_min, None), ("alpha_max", guards.alpha_max, None)]
        for name, bound, scale_by in bounds:
            if bound is None:
                continue
            limit = real(bound) * scale_by if scale_by is not None else real(bound)
            hit = candidate < limit if name.endswith("min") else candidate > limit
            fired[name] = indicator(hit)
            candidate = se.Piecewise((limit, hit), (candidate, True))

    # the engine's bookkeeping (engine._Loop._step), per member
    largest = real(sys.float_info.max)
    gg_plus = se.Add(*[g * g for g in grad_plus])
    finite = indicator(se.Abs(value_plus) <= largest) * indicator(se.Abs(gg_plus) <= largest)
    blown = indicator(value_plus - start > real(divergence) * (se.Abs(start) + 1))
    running = indicator(se.Abs(col["code"] - running_code) < real(0.5))
    kept = 1 - rejected
    accept = running * finite * (1 - blown) * kept
    norm_plus = se.sqrt(gg_plus)
    converged = indicator(norm_plus <= real(tol))
    alpha_ok = indicator(se.Abs(candidate) <= largest)
    half = real(0.5)
    code = se.Piecewise(
        (nonfinite_code, running * kept * (1 - finite) > half),
        (diverged_code, running * kept * finite * blown > half),
        (converged_code, accept * converged > half),
        (nonfinite_code, accept * (1 - converged) * (1 - alpha_ok) > half),
        (col["code"], True),
    )
    counted = running * (rejected + kept * finite * (1 - blown))
    firings = se.Add(*[fired[name] * FIRE_BASE**k for k, name in enumerate(FIRINGS) if name in fired])

    def keep_unless_accepted(new: Any, old: Any) -> Any:
        return se.Piecewise((new, accept > half), (old, True))

    new_alpha = se.Piecewise((candidate, accept + running * rejected > half), (alpha, True))
    scalars = {
        "value": keep_unless_accepted(value_plus, value),
        "alpha": new_alpha,
        "grad_norm": keep_unless_accepted(norm_plus, col["grad_norm"]),
        "gamma": gamma,
        "start": start,
        "code": code,
        "stopped": keep_unless_accepted(col["tries"] + 1, col["stopped"]),  # tries == t while running
        "tries": col["tries"] + running,
        "fires": col["fires"] + counted * firings,
    }
    outputs: list[Any] = [keep_unless_accepted(p, t) for p, t in zip(plus, theta, strict=True)]
    outputs += [scalars[name] for name in _SCALARS]
    if identity:
        outputs += [keep_unless_accepted(g, w) for g, w in zip(grad_plus, omega, strict=True)]
    else:  # the engine writes omega_{t+1} from the optimizer
        outputs += list(omega)
        outputs += [keep_unless_accepted(g, old) for g, old in zip(grad_plus, grad, strict=True)]
    return symbols, outputs, layout
