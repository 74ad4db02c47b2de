"""The batched alpha iteration: theta_{t+1} = theta_t - alpha_t omega_t, alpha from a rule.

One call runs a whole batch: start points of shape (..., n), and hyperparameter
grids (``alpha0``, ``gamma`` as arrays) broadcast against them. Members that
converge, diverge or overflow stop with a :class:`Status` and stay frozen while
the others go on. Every step also records the line-search oracle's alpha for its
direction, so each run carries its own ground truth.

Two steppers run the same step (the rule, :func:`~taylorlr.alpha.safeguards.next_alpha`
and :func:`~taylorlr.alpha._step.settle`, written once): the generic one on arrays of
any namespace (:class:`GenericStepper`), and the fused one, one generated SIMD loop per
step on float64 NumPy (:mod:`taylorlr.alpha.fused`, loaded when a fused run starts).
``path="auto"`` takes the fused step wherever it applies, whatever the batch size, so a
member's numbers never depend on the batch it runs in; ``Run.settings["path"]`` says
which ran.

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

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from taylorlr._typing import require_loss
from taylorlr.alpha._record import (
    RecordPlan,
    check_memory,
    constant,
    footprint,
    last_step,
    recorded_steps,
    resolve_memory_limit,
    with_batch_shape,
)
from taylorlr.alpha._step import ArrayOps, settle, start_code
from taylorlr.alpha.optimizers import Optimizer, is_identity, resolve_optimizer, select_state
from taylorlr.alpha.oracle import LineOracle, build_line_oracle
from taylorlr.alpha.result import _MAX_STEPS, _RUNNING, COUNTED, Counts, Run, SafeguardCounts
from taylorlr.alpha.rules import Probe, Rule, dot, resolve_rule
from taylorlr.alpha.safeguards import FIRINGS, Safeguards, next_alpha, resolve_safeguards
from taylorlr.alpha.verdict import check, judge
from taylorlr.compile.backends import quiet, resolve_backend, to_numpy
from taylorlr.errors import OptionError

#: the values of ``run(path=...)``
PATHS = ("auto", "generic", "fused")


class Stepper(Protocol):
    """A path through the steps: :class:`GenericStepper` or :class:`~taylorlr.alpha.fused.FusedStepper`.

    ``run`` advances a batch of ``shape`` (() for one point) up to ``plan.steps`` times from
    theta0 with alpha0 and gamma (broadcast against it), records the rows the plan keeps, and
    returns the :class:`Run` record's arrays.

    >>> fused = run("(x - 3)**2", [0.0], alpha0=0.1, steps=3)
    >>> generic = run("(x - 3)**2", [0.0], alpha0=0.1, steps=3, path="generic")
    >>> fused.settings["path"], generic.settings["path"], bool((fused.points == generic.points).all())
    ('fused', 'generic', True)
    """

    path: str

    def run(
        self, theta0: Any, alpha0: Any, gamma: Any, plan: RecordPlan, shape: tuple[int, ...]
    ) -> dict[str, Any]: ...


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
    if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not 0 <= tol < float("inf"):
        raise OptionError(f"tol must be a finite number >= 0, got {tol!r}")


def _check_divergence(divergence: Any) -> None:
    if (
        not isinstance(divergence, (int, float))
        or isinstance(divergence, bool)
        or not 0 < divergence < float("inf")
    ):
        raise OptionError(f"divergence must be a finite number > 0, got {divergence!r}")


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
    path: str = "auto",
    record: str | int = "all",
    memory_limit: float | None = None,
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
        path: "auto" (the fused step wherever it applies, else the generic one),
            "generic" or "fused" (an OptionError saying why where it does not apply).
            The path taken is ``Run.settings["path"]``.
        record: what the history keeps: "all" (every step, the default), a positive integer k
            (theta_0, every k-th step and the end) or "final" (theta_0 and the end only);
            the rows' steps are ``Run.recorded_steps``. A member's numbers do not depend on it.
        memory_limit: the bytes the run may hold (history and working state, estimated before
            anything is allocated); by default half the memory available when it starts;
            ``math.inf`` for no limit.
        throw: raise :class:`~taylorlr.RunFailedError` unless every member converged.

    Returns:
        A :class:`Run`, its statuses judged from the record (:mod:`taylorlr.alpha.verdict`:
        UNBOUNDED, ROSE, SADDLE, MAXIMUM).

    Raises:
        OptionError: a bad option, hyperparameter or data source, or path="fused"
            where the fused step does not apply.
        MemoryBudgetError: the run would hold more than ``memory_limit`` (the message says
            how much, and what to change: ``record=``, fewer steps, chunks of start points).
        RunFailedError: with ``throw=True``, a member that did not converge.
        PointError: start points of the wrong shape.

    >>> import sympy, taylorlr as tl
    >>> x = sympy.Symbol("x", real=True)
    >>> r = tl.run(tl.Loss((x - 3)**2), [0.0], rule="retsinas", alpha0=[0.1, 0.2], gamma=1.0, steps=5)
    >>> r.points.shape, r.alphas[1].tolist()  # both at the minimum by step 2 (of 5): 3 rows
    ((3, 2, 1), [0.5, 0.5])
    """
    loss = as_loss(loss)
    _check_steps(steps, tol)
    plan = RecordPlan.of(record, steps)
    limit = resolve_memory_limit(memory_limit)
    _check_divergence(divergence)
    if path not in PATHS:
        raise OptionError(f"path must be one of {PATHS}, got {path!r}")
    the_optimizer = resolve_optimizer(optimizer, **dict(optimizer_options or {}))
    the_rule = resolve_rule(rule, **dict(rule_options or {}))
    guards = resolve_safeguards(safeguards)
    resolved = resolve_backend(backend)
    compiled = loss.compile(resolved, dtype) if not isinstance(backend, str) else loss.compile(backend, dtype)
    xp, float_dtype = resolved.xp, resolved.dtype(dtype)
    from taylorlr.compile.backends import as_batch

    theta0 = as_batch(at, loss.variables, xp, float_dtype)
    alpha0_array = _check_hyperparameter("alpha0", alpha0, xp, float_dtype, upper=None)
    gamma_array = _check_hyperparameter("gamma", gamma, xp, float_dtype, upper=1.0)
    shape = _batch_shape(xp, theta0, alpha0_array, gamma_array)
    size = math.prod(shape)
    direction = not is_identity(the_optimizer)
    estimates = {
        p: footprint(path=p, size=size, n=loss.n, plan=plan, oracle=oracle, direction=direction)
        for p in ("generic", "fused")
    }
    check_memory(min(estimates.values(), key=lambda need: need.total), limit)  # before the oracle's build
    needs_oracle = oracle or the_rule.kind == "line-search"
    line_oracle = build_line_oracle(loss, compiled) if needs_oracle else None
    batches = _Minibatches(data, steps)
    generic = GenericStepper(
        xp, compiled, the_optimizer, the_rule, guards, batches, line_oracle, oracle, tol, divergence
    )
    stepper: Stepper = (_fused_stepper(generic, path, size * steps) if path != "generic" else None) or generic
    check_memory(estimates[stepper.path], limit)
    started = time.perf_counter()
    with quiet():
        arrays = stepper.run(theta0, alpha0_array, gamma_array, plan, shape)
    seconds = time.perf_counter() - started
    settings = {
        "alpha0": to_numpy(alpha0_array),
        "gamma": to_numpy(gamma_array),
        "steps": steps,
        "tol": tol,
        "safeguards": guards.to_dict(),
        "backend": resolved.name,
        "dtype": dtype,
        "stochastic": batches.stochastic,
        "optimizer_hyperparameters": dict(the_optimizer.hyperparameters),
        "path": stepper.path,
        "record": plan.label,
    }
    result = Run(
        **arrays,
        rule=the_rule.label,
        optimizer=the_optimizer.name,
        oracle_method=line_oracle.method if line_oracle is not None else "none",
        settings=settings,
        seconds=seconds,
    )
    fixed_data = None if batches.stochastic else batches(0)
    result = judge(result, compiled, divergence=divergence, data=fixed_data)
    return check(result) if throw else result


def _fused_stepper(generic: GenericStepper, path: str, work: int) -> Stepper | None:
    """The fused stepper for this run (``work``: start points x steps), or None where it does not
    apply (path="auto").

    Raises:
        OptionError: path="fused" where the fused step does not apply, saying why.
    """
    from taylorlr.alpha import _tiles, fused

    kernel = fused.prepare(
        generic.compiled,
        generic.rule,
        generic.guards,
        generic.optimizer,
        stochastic=generic.batches.stochastic,
        tol=generic.tol,
        divergence=generic.divergence,
        work=work,
    )
    if isinstance(kernel, str):
        if path == "fused":
            raise OptionError(f"path='fused' does not apply: {kernel}; use path='generic' or 'auto'")
        return None
    oracle, in_tiles, line = None, None, generic.line_oracle
    if generic.record_oracle and line is not None:

        def oracle(theta: Any, omega: Any, alpha: Any, t: int) -> Any:
            return line.minimise(theta, omega, alpha, generic.batches(t))

        if line.in_tiles is not None:
            in_tiles = line.in_tiles(_tiles.tile_columns(kernel.layout))
    return fused.FusedStepper(kernel, generic.optimizer, oracle, in_tiles)


def _batch_shape(xp: Any, theta0: Any, alpha0: Any, gamma: Any) -> tuple[int, ...]:
    """The run's batch shape: the start points' leading axes broadcast with alpha0 and gamma."""
    if hasattr(xp, "broadcast_shapes"):
        return tuple(xp.broadcast_shapes(tuple(theta0.shape[:-1]), tuple(alpha0.shape), tuple(gamma.shape)))
    import numpy

    return tuple(numpy.broadcast_shapes(tuple(theta0.shape[:-1]), tuple(alpha0.shape), tuple(gamma.shape)))


def as_loss(loss: Any) -> Any:
    """A :class:`~taylorlr.Loss` from itself or its text (SymPy loads only for text).

    >>> as_loss("(x - 3)**2 + y**2")
    Loss('y**2 + (x - 3)**2', variables=('x', 'y'))
    >>> import sympy
    >>> as_loss(sympy.Symbol("x") ** 2)
    Traceback (most recent call last):
    ...
    taylorlr.errors.OptionError: run takes a tl.Loss, got Pow x**2: build it with tl.Loss(x**2)
    """
    if isinstance(loss, str):
        from taylorlr.loss import Loss

        return Loss(loss)
    return require_loss(loss, "run")


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
class GenericStepper:
    """The step on arrays of any namespace, the whole batch advanced by array operations.

    Every operation is elementwise over the batch or a reduction over a member's own
    last axis, so a member's numbers do not depend on the batch around it.

    >>> one = run("(x - 3)**2", [0.0], alpha0=0.1, steps=3, path="generic")
    >>> two = run("(x - 3)**2", [[0.0], [1.0]], alpha0=0.1, steps=3, path="generic")
    >>> one.points.shape, two.points.shape, bool((two.points[:, 0] == one.points).all())  # at 3 by step 2
    ((3, 1), (3, 2, 1), True)
    """

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
    path = "generic"
    tally: _Tally = field(init=False)
    evaluate: _Evaluator = field(init=False)
    loss_start: Any = field(init=False)
    ops: ArrayOps = field(init=False)
    oracle_seconds: float = field(init=False, default=0.0)

    def run(
        self, theta0: Any, alpha0: Any, gamma: Any, plan: RecordPlan, shape: tuple[int, ...]
    ) -> dict[str, Any]:
        xp, steps = self.xp, plan.steps
        # a single point runs as a batch of one: 0-d arrays turn into NumPy scalars,
        # which some elementwise paths treat as Python numbers
        batch = shape or (1,)
        theta = xp.asarray(xp.broadcast_to(theta0, (*batch, theta0.shape[-1])), copy=True)  # writable
        gamma = xp.broadcast_to(gamma, batch)
        alpha0 = xp.broadcast_to(alpha0, batch)
        everyone = xp.ones(batch, dtype=xp.bool)
        self.ops = ArrayOps(xp, theta.dtype)
        self.oracle_seconds = 0.0
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
        row_steps = [0]
        for t in range(steps):
            active = code == _RUNNING
            if not bool(xp.any(active)):
                break
            state, code, stopped_at, oracle_alpha = self._step(t, state, gamma, code, stopped_at)
            if plan.keeps(t):
                records["oracle_alphas"].append(xp.where(active, oracle_alpha, xp.nan))
            if plan.keeps(t + 1):
                self._append(records, state)
                row_steps.append(t + 1)
        # the rows up to the batch's last valid step (thinned: then the end)
        last = last_step(to_numpy(xp.where(code == _RUNNING, steps, stopped_at)))
        rows = recorded_steps(plan, last)
        kept = sum(step <= last for step in row_steps)
        for values in records.values():
            del values[kept:]
        if row_steps[kept - 1] != last:
            self._append(records, state)  # each member's last point
        del records["oracle_alphas"][kept - 1 if rows is None else len(rows) - 1 :]
        arrays = self._finish(records, code, stopped_at, steps, batch)
        return {
            **with_batch_shape({**arrays, "recorded_steps": rows}, batch, shape),
            "oracle_seconds": self.oracle_seconds,
        }

    def _append(self, records: dict[str, list[Any]], state: _State) -> None:
        """Record the state as a row of the history (``oracle_alphas`` aside)."""
        for name, value in (
            ("points", state.theta),
            ("alphas", state.alpha),
            ("losses", state.value),
            ("grad_norms", _norm(self.xp, state.grad)),
        ):
            records[name].append(value)

    def _start(self, theta: Any, alpha0: Any, everyone: Any) -> tuple[_State, Any]:
        xp = self.xp
        data = self.batches(0)
        value, grad = self.evaluate.value_and_grad(theta, data, everyone)
        omega, optimizer_state = self.optimizer.direction(grad, self.optimizer.init(theta), theta)
        alpha = alpha0
        if self.rule.kind == "line-search":
            self.tally.add("line_searches", everyone)
            alpha = self.oracle(theta, omega, alpha0, data)
        state = _State(theta, value, grad, omega, optimizer_state, alpha)
        code = start_code(self.ops, value, dot(grad, grad), self.tol)
        return state, xp.astype(code, xp.int64)

    def oracle(self, theta: Any, omega: Any, alpha: Any, data: Mapping[str, Any]) -> Any:
        """The line-search oracle's alpha* along omega from theta."""
        assert self.line_oracle is not None
        started = time.perf_counter()
        found = self.line_oracle.minimise(theta, omega, alpha, data)
        self.oracle_seconds += time.perf_counter() - started
        return found

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
        proposal, oracle_alpha = None, xp.full(s.alpha.shape, xp.nan, dtype=s.alpha.dtype)
        if self.rule.kind == "line-search":
            self.tally.add("line_searches", active)
            proposal = self.oracle(plus, omega_next, s.alpha, self.batches(t + 1))
            oracle_alpha = s.alpha
        elif self.record_oracle:
            oracle_alpha = self.oracle(s.theta, s.omega, s.alpha, self.batches(t))
        update = next_alpha(self.rule, probe, gamma, self.guards, loss_start=self.loss_start,
                            loss_next=value_next, proposal=proposal, ops=self.ops)  # fmt: skip
        verdict = settle(self.ops, code=code, alpha=s.alpha, update=update, value_next=value_next,
                         gg_next=dot(grad_next, grad_next), loss_start=self.loss_start, tol=self.tol,
                         divergence=self.divergence)  # fmt: skip
        accept = verdict.accept
        stopped_at = xp.where(accept, t + 1, stopped_at)
        for name in FIRINGS:
            fired = update.fired[name]
            if hasattr(fired, "shape") and not bool(xp.any(fired)):
                continue  # most guards fire on no member at most steps: no pass to count them
            self.tally.add(name, fired & verdict.counted)
        if bool(xp.all(accept)):  # the common case: nobody to freeze
            new = _State(plus, value_next, grad_next, omega_next, optimizer_state, update.alpha)
            return new, verdict.code, stopped_at, oracle_alpha
        column = xp.expand_dims(accept, -1)
        new = _State(
            theta=xp.where(column, plus, s.theta),
            value=xp.where(accept, value_next, s.value),
            grad=xp.where(column, grad_next, s.grad),
            omega=xp.where(column, omega_next, s.omega),
            optimizer_state=select_state(accept, optimizer_state, s.optimizer_state),
            alpha=verdict.alpha,
        )
        return new, verdict.code, stopped_at, oracle_alpha

    def _finish(
        self,
        records: dict[str, list[Any]],
        code: Any,
        stopped_at: Any,
        steps: int,
        batch: tuple[int, ...],
    ) -> dict[str, Any]:
        import numpy

        xp = self.xp
        stacked = {
            name: to_numpy(xp.stack(v)) if v else numpy.zeros((0, *batch)) for name, v in records.items()
        }
        if not self.record_oracle:  # as the fused path: one read-only NaN, no memory
            oracle = stacked["oracle_alphas"]
            stacked["oracle_alphas"] = constant(oracle.dtype.type(numpy.nan), oracle.shape)
        return {**stacked, **self._summary(code, stopped_at, steps)}

    def _summary(self, code: Any, stopped_at: Any, steps: int) -> dict[str, Any]:
        """Status, stopping step and counters, as NumPy (members still running: MAX_STEPS)."""
        import numpy

        xp = self.xp
        stopped_at = xp.where(code == _RUNNING, steps, stopped_at)
        code = xp.where(code == _RUNNING, _MAX_STEPS, code)
        counts = self.tally.numpy(COUNTED)
        firings = self.tally.numpy(FIRINGS)
        return {
            "status": numpy.asarray(to_numpy(code), dtype=numpy.int64),  # loop codes: judge names them
            "stopped_at": to_numpy(stopped_at),
            "counts": Counts(**counts),
            "safeguard_counts": SafeguardCounts(**firings),
        }


def _norm(xp: Any, g: Any) -> Any:
    return xp.sqrt(dot(g, g))
