"""The batched alpha iteration: theta_{t+1} = theta_t - alpha_t omega_t, alpha from a rule.

One call runs a whole batch: start points of shape (..., n), and hyperparameter
grids (``alpha0``, ``gamma`` as arrays) broadcast against them. Members that
converge, diverge or overflow stop with a :class:`Status` and stay frozen while
the others go on. Every step also records the line-search oracle's alpha for its
direction, so each run carries its own ground truth. Large deterministic batches on
float64 NumPy run each step as one generated kernel (:mod:`taylorlr.alpha.fused`, from
``FUSED_BATCH`` members on); every other case takes the generic array-namespace step.

>>> import numpy as np, sympy, taylorlr as tl
>>> x, y = sympy.symbols("x y", real=True)
>>> result = tl.run(tl.Loss(x**2 + 10 * y**2), [1.0, 1.0], rule="exact", gamma=1.0, steps=50)
>>> result.status.item(), np.allclose(result.points[-1], 0, atol=1e-8)
(<Status.CONVERGED: 'converged'>, True)
>>> # alpha_{t+1} is the exact line search of step t
>>> bool(np.allclose(result.alphas[1:6], result.oracle_alphas[0:5]))
True
"""

from __future__ import annotations

import contextlib
import math
import sys
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from taylorlr.alpha.fused import FIRE_FLUSH, READ_BACK, StepKernel, TiledState, build_step_kernel
from taylorlr.alpha.optimizers import Optimizer, is_identity, resolve_optimizer, select_state
from taylorlr.alpha.result import (
    _CODES,
    _CONVERGED,
    _DIVERGED,
    _MAX_STEPS,
    _NONFINITE,
    _RUNNING,
    COUNTED,
    Counts,
    Run,
    SafeguardCounts,
)
from taylorlr.alpha.rules import (
    FIRINGS,
    LineOracle,
    Probe,
    Rule,
    Safeguards,
    build_line_oracle,
    dot,
    next_alpha,
    resolve_rule,
)
from taylorlr.alpha.rules import resolve_safeguards as _resolve_safeguards
from taylorlr.alpha.verdict import check, judge
from taylorlr.compile.backends import resolve_backend, to_numpy
from taylorlr.compile.compiled import LLVM_BATCH
from taylorlr.errors import OptionError

#: batches of at least this many members run the fused step kernel (:mod:`taylorlr.alpha.fused`)
#: where it applies: float64 NumPy, a smooth loss without data, an adaptive or fixed rule
FUSED_BATCH = LLVM_BATCH


# ---------------------------------------------------------------------------- options


def _check_hyperparameter(name: str, value: Any, xp: Any, dtype: Any, *, upper: float | None) -> Any:
    array = xp.asarray(to_numpy(value) if hasattr(value, "shape") else value, dtype=dtype)
    ok = xp.isfinite(array) & (array > 0)
    if upper is not None:
        ok = ok & (array <= upper)
    if not bool(xp.all(ok)):
        interval = f"(0, {upper}]" if upper is not None else "(0, inf)"
        raise OptionError(f"{name} must be finite and in {interval}, got {value!r}")
    return array


def _check_steps(steps: Any, tol: Any) -> None:
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise OptionError(f"steps must be a non-negative integer, got {steps!r}")
    if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not tol >= 0:
        raise OptionError(f"tol must be a number >= 0, got {tol!r}")


class _Minibatches:
    """Data for step t: none, one mapping for every step, or one per step (stochastic)."""

    def __init__(self, data: Any, steps: int) -> None:
        self.stochastic = not (data is None or isinstance(data, Mapping))
        self._fixed = dict(data) if isinstance(data, Mapping) else {}
        self._call = data if callable(data) and not isinstance(data, Mapping) else None
        self._iterator: Iterator[Any] | None = None
        if self.stochastic and self._call is None:
            if not isinstance(data, Iterable):
                raise OptionError(
                    f"data must be a mapping, an iterable or a callable t -> mapping, got {data!r}"
                )
            self._iterator = iter(data)
        self._seen: list[Mapping[str, Any]] = []
        self._steps = steps

    def __call__(self, t: int) -> Mapping[str, Any]:
        if not self.stochastic:
            return self._fixed
        if self._call is not None:
            return dict(self._call(t))
        assert self._iterator is not None
        while len(self._seen) <= t:
            try:
                self._seen.append(dict(next(self._iterator)))
            except StopIteration:
                raise OptionError(
                    f"data gave {len(self._seen)} minibatches; a run of {self._steps} steps needs "
                    f"{self._steps + 1} (one per step and one for the last point)"
                ) from None
        return self._seen[t]


# ---------------------------------------------------------------------------- the run


@dataclass
class _Tally:
    """Per-member counters, advanced where a mask holds.

    Passing ``everyone`` (the all-true mask) adds to a plain integer shared by all
    members, sparing a pass over the batch per counter and step while no member
    has stopped.
    """

    xp: Any
    everyone: Any
    counters: dict[str, Any] = field(default_factory=dict)
    shared: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, where: Any) -> None:
        if where is self.everyone:
            self.shared[name] = self.shared.get(name, 0) + 1
        elif bool(self.xp.any(where)):
            zeros = self.xp.zeros(self.everyone.shape, dtype=self.xp.int64)
            self.counters[name] = self.counters.get(name, zeros) + self.xp.astype(where, self.xp.int64)

    def numpy(self, names: Iterable[str]) -> dict[str, Any]:
        import numpy

        out = {}
        for n in names:
            counts = (
                to_numpy(self.counters[n]) if n in self.counters else numpy.zeros(self.everyone.shape, int)
            )
            out[n] = counts + self.shared.get(n, 0)
        return out


@dataclass
class _Evaluator:
    """The compiled loss, evaluated on a batch and counted where members are active."""

    compiled: Any
    tally: _Tally

    def value_and_grad(self, W: Any, data: Mapping[str, Any], active: Any) -> tuple[Any, Any]:
        self.tally.add("values", active)
        self.tally.add("gradients", active)
        return self.compiled.value_and_grad(W, **data)  # type: ignore[no-any-return]

    def value(self, W: Any, data: Mapping[str, Any], active: Any) -> Any:
        self.tally.add("values", active)
        return self.compiled.value(W, **data)

    def grad(self, W: Any, data: Mapping[str, Any], active: Any) -> Any:
        self.tally.add("gradients", active)
        return self.compiled.grad(W, **data)

    def hvp(self, W: Any, V: Any, data: Mapping[str, Any], active: Any) -> Any:
        self.tally.add("hvps", active)
        return self.compiled.hvp(W, V, **data)


def _quiet(xp: Any) -> Any:
    """NumPy's errstate, so that no overflow / invalid warning leaks (overflow is a status).

    Also for namespaces built on NumPy (array-api-strict); a no-op when NumPy is not loaded.
    """
    numpy = sys.modules.get("numpy")
    return numpy.errstate(all="ignore") if numpy is not None else contextlib.nullcontext()


def run(
    loss: Any,
    at: Any,
    optimizer: str | Optimizer | tuple[Callable[..., Any], Callable[..., Any]] = "gd",
    rule: str | Rule = "exact",
    *,
    alpha0: Any = 1e-2,
    gamma: Any = 1.0,
    steps: int = 200,
    tol: float = 1e-8,
    safeguards: str | Safeguards = "default",
    backend: Any = "numpy",
    dtype: str = "float64",
    data: Any = None,
    oracle: bool = True,
    divergence: float = 1e8,
    optimizer_options: Mapping[str, Any] | None = None,
    rule_options: Mapping[str, Any] | None = None,
    throw: bool = False,
) -> Run:
    """Run a base optimizer with an alpha rule over a batch of start points.

    theta_{t+1} = theta_t - alpha_t omega_t, omega_t from the optimizer and
    alpha_{t+1} = alpha_t + gamma * slope / curvature from the rule (then the
    safeguards). A member stops when ||grad f|| <= tol (CONVERGED), when a value,
    gradient, point or alpha stops being finite (NONFINITE), when
    f - f(theta_0) > divergence * (|f(theta_0)| + 1) (DIVERGED), or after ``steps``.

    Args:
        loss: a :class:`~taylorlr.Loss` (or its text).
        at: a point (mapping or sequence) or an array of start points (..., n).
        optimizer: a registry name ("gd", "momentum", "nesterov", "rmsprop",
            "adagrad", "adam", "adamw"), an :class:`~taylorlr.alpha.optimizers.Optimizer`
            or an (init, direction) pair.
        rule: "exact", "retsinas", "value-gradient", "three-point", "lagged",
            "fixed", "line-search" or a :class:`~taylorlr.alpha.rules.Rule`.
        alpha0, gamma: positive numbers or arrays broadcast against the batch
            (a hyperparameter grid); gamma in (0, 1].
        steps, tol: the step budget and the gradient-norm tolerance.
        safeguards: "default", "none" (the pure formula) or a Safeguards.
        backend, dtype: where and in which precision the run computes.
        data: None; one mapping of data arrays (the same loss every step); or,
            for the stochastic form, an iterable of ``steps + 1`` mappings or a
            callable t -> mapping. Step t uses the proxy loss L_t at theta_t and
            at theta+ alike.
        oracle: record the line-search oracle's alpha for every step.
        divergence: the blow-up factor for DIVERGED (and, mirrored, UNBOUNDED).
        optimizer_options, rule_options: keyword options for registry names,
            e.g. ``rule_options={"numerator": "values"}``.
        throw: raise :class:`~taylorlr.RunFailedError` unless every member converged.

    Returns:
        A :class:`Run`, its statuses judged from the record (:mod:`taylorlr.alpha.verdict`:
        UNBOUNDED, ROSE, SADDLE, MAXIMUM).

    Raises:
        OptionError: a bad option, hyperparameter or data source.
        RunFailedError: with ``throw=True``, a member that did not converge.
        PointError: start points of the wrong shape.

    >>> import sympy, taylorlr as tl
    >>> x = sympy.Symbol("x", real=True)
    >>> r = tl.run(tl.Loss((x - 3)**2), [0.0], rule="retsinas", alpha0=[0.1, 0.2], gamma=1.0, steps=5)
    >>> r.points.shape, r.alphas[1].tolist()
    ((6, 2, 1), [0.5, 0.5])
    """
    loss = _as_loss(loss)
    _check_steps(steps, tol)
    the_optimizer = resolve_optimizer(optimizer, **dict(optimizer_options or {}))
    the_rule = resolve_rule(rule, **dict(rule_options or {}))
    guards = _resolve_safeguards(safeguards)
    resolved = resolve_backend(backend)
    compiled = loss.compile(resolved, dtype) if not isinstance(backend, str) else loss.compile(backend, dtype)
    xp, float_dtype = resolved.xp, resolved.dtype(dtype)
    from taylorlr.compile.backends import as_batch

    theta0 = as_batch(at, loss.variables, xp, float_dtype)
    alpha0_array = _check_hyperparameter("alpha0", alpha0, xp, float_dtype, upper=None)
    gamma_array = _check_hyperparameter("gamma", gamma, xp, float_dtype, upper=1.0)
    needs_oracle = oracle or the_rule.kind == "line-search"
    line_oracle = build_line_oracle(loss, compiled) if needs_oracle else None
    loop = _Loop(
        xp,
        compiled,
        the_optimizer,
        the_rule,
        guards,
        _Minibatches(data, steps),
        line_oracle,
        oracle,
        tol,
        divergence,
    )
    with _quiet(xp):
        record = loop.run(theta0, alpha0_array, gamma_array, steps)
    settings = {
        "alpha0": to_numpy(alpha0_array),
        "gamma": to_numpy(gamma_array),
        "steps": steps,
        "tol": tol,
        "safeguards": guards.to_dict(),
        "backend": resolved.name,
        "dtype": dtype,
        "stochastic": loop.batches.stochastic,
        "optimizer_hyperparameters": dict(the_optimizer.hyperparameters),
    }
    result = Run(
        **record,
        rule=the_rule.label,
        optimizer=the_optimizer.name,
        oracle_method=line_oracle.method if line_oracle is not None else "none",
        settings=settings,
    )
    fixed_data = None if loop.batches.stochastic else loop.batches(0)
    result = judge(result, compiled, divergence=divergence, data=fixed_data)
    return check(result) if throw else result


def _as_loss(loss: Any) -> Any:
    if isinstance(loss, str):
        from taylorlr.loss import Loss

        return Loss(loss)
    if not hasattr(loss, "compile") or not hasattr(loss, "variables"):
        raise OptionError(f"loss must be a tl.Loss or its text, got {type(loss).__name__}")
    return loss


@dataclass
class _State:
    """Everything that changes from step to step (xp arrays of the batch)."""

    theta: Any
    value: Any
    grad: Any
    omega: Any
    optimizer_state: Any
    alpha: Any


@dataclass
class _Loop:
    xp: Any
    compiled: Any
    optimizer: Optimizer
    rule: Rule
    guards: Safeguards
    batches: _Minibatches
    line_oracle: LineOracle | None
    record_oracle: bool
    tol: float
    divergence: float
    tally: _Tally = field(init=False)
    evaluate: _Evaluator = field(init=False)
    loss_start: Any = field(init=False)

    def run(self, theta0: Any, alpha0: Any, gamma: Any, steps: int) -> dict[str, Any]:
        xp = self.xp
        batch = (
            tuple(xp.broadcast_shapes(tuple(theta0.shape[:-1]), tuple(alpha0.shape), tuple(gamma.shape)))
            if hasattr(xp, "broadcast_shapes")
            else _broadcast_shapes(theta0, alpha0, gamma)
        )
        # a single point runs as a batch of one: 0-d arrays turn into NumPy scalars,
        # which some elementwise paths treat as Python numbers
        batch, shape = batch or (1,), batch
        fused = self._fused_kernel(batch)
        if fused is not None:
            return _reshape_batch(self._run_fused(fused, theta0, alpha0, gamma, steps, batch), shape)
        theta = xp.asarray(xp.broadcast_to(theta0, (*batch, theta0.shape[-1])), copy=True)  # writable
        gamma = xp.broadcast_to(gamma, batch)
        alpha0 = xp.broadcast_to(alpha0, batch)
        everyone = xp.ones(batch, dtype=xp.bool)
        self.tally = _Tally(xp, everyone)
        self.evaluate = _Evaluator(self.compiled, self.tally)
        state, code = self._start(theta, alpha0, everyone)
        self.loss_start = state.value
        stopped_at = xp.zeros(batch, dtype=xp.int64)
        records: dict[str, list[Any]] = {
            "points": [theta],
            "alphas": [state.alpha],
            "losses": [state.value],
            "grad_norms": [_norm(xp, state.grad)],
            "oracle_alphas": [],
        }
        for t in range(steps):
            active = code == _RUNNING
            if not bool(xp.any(active)):
                break
            state, code, stopped_at, oracle_alpha = self._step(t, state, gamma, code, stopped_at)
            for name, value in (
                ("points", state.theta),
                ("alphas", state.alpha),
                ("losses", state.value),
                ("grad_norms", _norm(xp, state.grad)),
            ):
                records[name].append(value)
            records["oracle_alphas"].append(xp.where(active, oracle_alpha, xp.nan))
        return _reshape_batch(self._finish(records, code, stopped_at, steps, batch), shape)

    def _fused_kernel(self, batch: tuple[int, ...]) -> StepKernel | None:
        """The fused step kernel when it applies (see :mod:`taylorlr.alpha.fused`), else None."""
        compiled = self.compiled
        eligible = (
            math.prod(batch) >= FUSED_BATCH
            and getattr(compiled.backend, "is_numpy", False)
            and compiled.dtype == "float64"
            and compiled.generator != "xp"
            and not compiled.data_symbols
            and not self.batches.stochastic
            and compiled.derivatives.smooth
            and self.rule.kind in ("adaptive", "fixed")
        )
        if not eligible:
            return None
        return _cached_step_kernel(
            compiled, self.rule, self.guards, is_identity(self.optimizer), self.tol, self.divergence
        )

    def _run_fused(
        self, step: StepKernel, theta0: Any, alpha0: Any, gamma: Any, steps: int, batch: tuple[int, ...]
    ) -> dict[str, Any]:
        """The loop over steps with the fused kernel: NumPy float64, batch flattened to B.

        Built for a batch of 10^5 members, where every pass over the batch counts: the
        state lives in tiles (:class:`~taylorlr.alpha.fused.TiledState`) that three compiled
        loops fill (f, grad f and the status at the start), advance (one step) and read
        back (the counters), the counts come from the kernel's ``tries`` column (no
        tally), and "anyone still running?" is asked every ``_RUNNING_CHECK``
        steps (a stopped member is frozen by the kernel, so a late check only costs
        kernel calls that change nothing). The kernel writes each step's record (theta,
        f, alpha, ||grad f||) into one (steps + 1, n + 3, B) slab; ``points``, ``losses``,
        ``alphas`` and ``grad_norms`` are views of it.
        """
        import numpy as np

        size, n = math.prod(batch), theta0.shape[-1]
        layout, column = step.layout, step.layout.column
        state = TiledState(layout, size, frozen=float(_CONVERGED))
        # theta transposed, alpha_0 and gamma; its memory takes the int64 read-back at the end
        inputs = np.zeros((max(n + 2, len(READ_BACK)), state.padded))
        inputs[:n, :size] = np.broadcast_to(theta0, (*batch, n)).reshape(size, n).T
        inputs[n, :size] = np.broadcast_to(alpha0, batch).reshape(size)
        inputs[n + 1, :size] = np.broadcast_to(gamma, batch).reshape(size)
        history = np.empty((steps + 1, layout.recorded, state.padded))
        step.begin(inputs[: n + 2], state.array, history[0])  # f, grad f, ||grad f|| and the status
        state.freeze_padding()
        optimizer_state = None
        if layout.separate_grad:  # the base optimizer's first direction
            theta, grad = state.get("theta"), state.get("grad")
            omega, optimizer_state = self.optimizer.direction(grad, self.optimizer.init(theta), theta)
            state.set("omega", omega)
        oracle_alphas = (
            np.full((steps, size), np.nan) if self.record_oracle else _constant(np.nan, (steps, size))
        )
        fires: Any = 0  # (len(FIRINGS), B) once a guard has fired
        codes = state.array[:, column("code"), :]  # a view: the kernel updates it in place
        done = 0
        for t in range(steps):
            if (self.record_oracle or t % _RUNNING_CHECK == 0) and codes.min() != _RUNNING:
                break  # codes are >= _RUNNING == 0: nobody left running
            if t and t % FIRE_FLUSH == 0:  # before a base-256 digit can overflow
                fires += _fire_digits(state.get("fires"))
                state.array[:, column("fires"), :] = 0.0
            if self.record_oracle:
                found = self._oracle(
                    state.get("theta"), state.get("omega"), state.get("alpha"), self.batches(t)
                )
                oracle_alphas[t] = np.where(state.get("code") == _RUNNING, found, np.nan)
            step(state.array, history[t + 1])
            if layout.separate_grad:  # the optimizer's direction, for the members that moved
                optimizer_state = self._direction_for_moved(state, optimizer_state, t)
            done = t + 1
        history[done + 1 :] = history[done]
        read_back = inputs.view(np.int64)[: len(READ_BACK)]  # the inputs are spent: no fresh memory
        step.read_back(state.array, read_back)
        code, stopped_at, values, gradients, hvps, *flushed = read_back[:, :size]
        none = _constant(np.int64(0), (size,))
        hvps = hvps if step.evaluations["hvps"] else none
        counts = {"values": values, "gradients": gradients, "hvps": hvps, "line_searches": none}
        firings = {name: fires[k] + flushed[k] if isinstance(fires, np.ndarray) else flushed[k]
                   for k, name in enumerate(FIRINGS)}  # fmt: skip
        running = code == _RUNNING
        stopped_at[running] = steps
        code[running] = _MAX_STEPS
        recorded = history[:, :, :size]
        records = {
            "points": recorded[:, :n].transpose(0, 2, 1),
            "losses": recorded[:, column("value")],
            "alphas": recorded[:, column("alpha")],
            "grad_norms": recorded[:, column("grad_norm")],
            "oracle_alphas": oracle_alphas,
            "status": _statuses(code),
            "stopped_at": stopped_at,
            "counts": Counts(**counts),
            "safeguard_counts": SafeguardCounts(**firings),
        }
        return _unflatten_batch(records, batch)

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

    def _start(self, theta: Any, alpha0: Any, everyone: Any) -> tuple[_State, Any]:
        xp = self.xp
        data = self.batches(0)
        value, grad = self.evaluate.value_and_grad(theta, data, everyone)
        omega, optimizer_state = self.optimizer.direction(grad, self.optimizer.init(theta), theta)
        alpha = alpha0
        if self.rule.kind == "line-search":
            self.tally.add("line_searches", everyone)
            alpha = self._oracle(theta, omega, alpha0, data)
        state = _State(theta, value, grad, omega, optimizer_state, alpha)
        finite = _finite(xp, value, grad)
        code = xp.full(finite.shape, _RUNNING, dtype=xp.int64)
        code = xp.where(~finite, _NONFINITE, xp.where(_norm(xp, grad) <= self.tol, _CONVERGED, code))
        return state, code

    def _oracle(self, theta: Any, omega: Any, alpha: Any, data: Mapping[str, Any]) -> Any:
        assert self.line_oracle is not None
        return self.line_oracle.minimise(theta, omega, alpha, data)

    def _probe(self, t: int, s: _State, plus: Any, active: Any) -> tuple[Probe, Any, Any]:
        """Evaluate what the rule needs at theta+ (under L_t) and the next point (under L_{t+1})."""
        needs, ev, data = self.rule.needs, self.evaluate, self.batches(t)
        if self.batches.stochastic:
            value_plus = ev.value(plus, data, active) if "value_plus" in needs else None
            grad_plus = ev.grad(plus, data, active) if "grad_plus" in needs else None
            value_next, grad_next = ev.value_and_grad(plus, self.batches(t + 1), active)
        else:
            value_next, grad_next = ev.value_and_grad(plus, data, active)
            value_plus, grad_plus = value_next, grad_next
        alpha_column = self.xp.expand_dims(s.alpha, -1)
        probe = Probe(
            alpha=s.alpha,
            omega=s.omega,
            value=s.value,
            grad=s.grad,
            value_plus=value_plus,
            grad_plus=grad_plus,
            hvp_plus=ev.hvp(plus, s.omega, data, active) if "hvp_plus" in needs else None,
            value_mirror=ev.value(s.theta + alpha_column * s.omega, data, active)
            if "value_mirror" in needs
            else None,
        )
        return probe, value_next, grad_next

    def _step(
        self, t: int, s: _State, gamma: Any, code: Any, stopped_at: Any
    ) -> tuple[_State, Any, Any, Any]:
        xp = self.xp
        active = code == _RUNNING
        if bool(xp.all(active)):
            active = self.tally.everyone  # the same object: counted once for everybody
        plus = s.theta - xp.expand_dims(s.alpha, -1) * s.omega
        probe, value_next, grad_next = self._probe(t, s, plus, active)
        omega_next, optimizer_state = self.optimizer.direction(grad_next, s.optimizer_state, plus)
        probe = Probe(**{**probe.__dict__, "omega_next": omega_next})
        data_t = self.batches(t)
        proposal, oracle_alpha = None, xp.full(s.alpha.shape, xp.nan, dtype=s.alpha.dtype)
        if self.rule.kind == "line-search":
            self.tally.add("line_searches", active)
            proposal = self._oracle(plus, omega_next, s.alpha, self.batches(t + 1))
            oracle_alpha = s.alpha
        elif self.record_oracle:
            oracle_alpha = self._oracle(s.theta, s.omega, s.alpha, data_t)
        update = next_alpha(
            self.rule,
            probe,
            gamma,
            self.guards,
            loss_start=self.loss_start,
            loss_next=value_next,
            proposal=proposal,
        )
        finite = _finite(xp, value_next, grad_next)
        blown = value_next - self.loss_start > self.divergence * (xp.abs(self.loss_start) + 1)
        rejected = active & update.fired["rising_loss"]
        accept = active & finite & ~blown & ~rejected
        converged = accept & (_norm(xp, grad_next) <= self.tol)
        alpha_bad = accept & ~converged & ~xp.isfinite(update.alpha)
        code = xp.where(active & ~rejected & ~finite, _NONFINITE, code)
        code = xp.where(active & ~rejected & finite & blown, _DIVERGED, code)
        code = xp.where(converged, _CONVERGED, xp.where(alpha_bad, _NONFINITE, code))
        stopped_at = xp.where(accept, t + 1, stopped_at)
        for name in FIRINGS:
            self.tally.add(name, update.fired[name] & (accept | rejected))
        if bool(xp.all(accept)):  # the common case: nobody to freeze
            return (
                _State(plus, value_next, grad_next, omega_next, optimizer_state, update.alpha),
                code,
                stopped_at,
                oracle_alpha,
            )
        column = xp.expand_dims(accept, -1)
        new = _State(
            theta=xp.where(column, plus, s.theta),
            value=xp.where(accept, value_next, s.value),
            grad=xp.where(column, grad_next, s.grad),
            omega=xp.where(column, omega_next, s.omega),
            optimizer_state=select_state(accept, optimizer_state, s.optimizer_state),
            alpha=xp.where(accept | rejected, update.alpha, s.alpha),
        )
        return new, code, stopped_at, oracle_alpha

    def _finish(
        self, records: dict[str, list[Any]], code: Any, stopped_at: Any, steps: int, batch: tuple[int, ...]
    ) -> dict[str, Any]:
        import numpy

        xp = self.xp
        for name, values in records.items():
            filler = (
                xp.full(batch, xp.nan, dtype=records["alphas"][0].dtype) if name == "oracle_alphas" else None
            )
            wanted = steps if name == "oracle_alphas" else steps + 1
            values.extend([values[-1] if filler is None else filler] * (wanted - len(values)))
        stacked = {
            name: to_numpy(xp.stack(v)) if v else numpy.zeros((0, *batch)) for name, v in records.items()
        }
        if not self.record_oracle:  # as the fused path: one read-only NaN, no memory
            oracle = stacked["oracle_alphas"]
            stacked["oracle_alphas"] = _constant(oracle.dtype.type(numpy.nan), oracle.shape)
        return {**stacked, **self._summary(code, stopped_at, steps)}

    def _summary(self, code: Any, stopped_at: Any, steps: int) -> dict[str, Any]:
        """Status, stopping step and counters, as NumPy (members still running: MAX_STEPS)."""
        import numpy

        xp = self.xp
        stopped_at = xp.where(code == _RUNNING, steps, stopped_at)
        code = xp.where(code == _RUNNING, _MAX_STEPS, code)
        codes = to_numpy(code)
        status = numpy.asarray(_CODES, dtype=object)[codes]
        counts = self.tally.numpy(COUNTED)
        firings = self.tally.numpy(FIRINGS)
        return {
            "status": status,
            "stopped_at": to_numpy(stopped_at),
            "counts": Counts(**counts),
            "safeguard_counts": SafeguardCounts(**firings),
        }


def _reshape_batch(record: dict[str, Any], shape: tuple[int, ...]) -> dict[str, Any]:
    """Give the record's arrays the caller's batch shape (a single point: ())."""
    if shape:
        return record

    def squeeze(array: Any, leading: int) -> Any:
        return array.reshape(array.shape[:leading] + array.shape[leading + 1 :])

    out = {
        k: squeeze(v, 1)
        for k, v in record.items()
        if k in ("points", "alphas", "oracle_alphas", "losses", "grad_norms")
    }
    out["status"], out["stopped_at"] = squeeze(record["status"], 0), squeeze(record["stopped_at"], 0)
    for name, kind in (("counts", Counts), ("safeguard_counts", SafeguardCounts)):
        out[name] = kind(**{f: squeeze(getattr(record[name], f), 0) for f in kind.__dataclass_fields__})
    return out


def _unflatten_batch(record: dict[str, Any], batch: tuple[int, ...]) -> dict[str, Any]:
    """Give a record computed over a flat batch of B members the batch shape ``batch``."""
    if len(batch) == 1:
        return record

    def shaped(array: Any, leading: int) -> Any:
        return array.reshape(array.shape[:leading] + batch + array.shape[leading + 1 :])

    out = {
        k: shaped(v, 1)
        for k, v in record.items()
        if k in ("points", "alphas", "oracle_alphas", "losses", "grad_norms")
    }
    out["status"], out["stopped_at"] = shaped(record["status"], 0), shaped(record["stopped_at"], 0)
    for name, kind in (("counts", Counts), ("safeguard_counts", SafeguardCounts)):
        out[name] = kind(**{f: shaped(getattr(record[name], f), 0) for f in kind.__dataclass_fields__})
    return out


def _constant(value: Any, shape: tuple[int, ...]) -> Any:
    """A read-only array of one value (a broadcast: no memory to fill), for results that are
    the same for every member (no oracle, a count of zero)."""
    import numpy

    return numpy.broadcast_to(value, shape)


def _fire_digits(packed: Any) -> Any:
    """The per-guard counts packed in the ``fires`` column: (len(FIRINGS), B) int64 (or 0)."""
    import numpy

    if not bool(packed.any()):
        return 0
    digits = packed.astype("<i8").view(numpy.uint8).reshape(-1, 8)  # base 256 = one byte per guard
    return digits[:, : len(FIRINGS)].T.astype(numpy.int64)


#: the fused loop asks "anyone still running?" every this many steps (without an oracle)
_RUNNING_CHECK = 4


def _statuses(code: Any) -> Any:
    """The (B,) object array of :class:`Status` for int codes (one fill where all agree)."""
    import numpy

    if code.size and code.min() == code.max():
        statuses = numpy.empty(code.shape, dtype=object)
        statuses.fill(_CODES[int(code[0])])  # numpy.full would store the str, not the str-valued Status
        return statuses
    return numpy.asarray(_CODES, dtype=object)[code]


_STEP_KERNELS: dict[int, dict[Any, StepKernel | None]] = {}


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


def _cached_step_kernel(
    compiled: Any, rule: Rule, guards: Safeguards, identity: bool, tol: float, divergence: float
) -> StepKernel | None:
    """The fused kernel for this loss and settings, built once per compiled loss."""
    try:
        key = (_rule_key(rule), guards, identity, float(tol), float(divergence))
        hash(key)
    except (TypeError, AttributeError):
        key = None
    cache = _STEP_KERNELS.get(id(compiled))
    if cache is None:
        cache = _STEP_KERNELS[id(compiled)] = {}
        weakref.finalize(compiled, _STEP_KERNELS.pop, id(compiled), None)
    if key is not None and key in cache:
        return cache[key]
    kernel = build_step_kernel(
        compiled.derivatives,
        rule,
        guards,
        identity_direction=identity,
        tol=float(tol),
        divergence=float(divergence),
        codes=(_RUNNING, _CONVERGED, _DIVERGED, _NONFINITE),
    )
    if key is not None:
        cache[key] = kernel
    return kernel


def _norm(xp: Any, g: Any) -> Any:
    return xp.sqrt(dot(g, g))


def _finite(xp: Any, value: Any, grad: Any) -> Any:
    """f and ||grad f||^2 finite (a NaN or inf point makes f NaN or inf; a gradient whose
    square overflows counts as overflow)."""
    return xp.isfinite(value) & xp.isfinite(dot(grad, grad))


def _broadcast_shapes(*arrays: Any) -> tuple[int, ...]:
    import numpy

    shapes = [tuple(arrays[0].shape[:-1])] + [tuple(a.shape) for a in arrays[1:]]
    return tuple(numpy.broadcast_shapes(*shapes))
