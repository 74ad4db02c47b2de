"""taylorlr's alpha rules in JAX training: :func:`taylor_lr`, an optax transformation around any other.

The inner transformation, at learning rate 1 (``optax.adam(1.0)``, ``optax.sgd(1.0, 0.9)``, ...),
gives the direction omega_t = -its updates; :func:`taylor_lr` scales it by alpha_t, which the
rule sets at every step with the core's code (the rule's estimates from
:mod:`taylorlr.alpha.rules`, then :func:`taylorlr.alpha.safeguards.next_alpha` on JAX arrays),
inside ``jax.jit``. The loss is taken as optax's own line searches take it: the update gets
``value`` (f at the current parameters) and ``value_fn`` (the batch loss, a function of the
parameters) as extra arguments; the ``exact`` rule's curvature is ``jax.jvp`` of its gradient.
See ``docs/training.md``.

The training loop (``value_fn`` passed to ``update``) is the example of :func:`taylor_lr`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from taylorlr._training import ClosureError, ParameterError, TrainingOptions, check_alpha0
from taylorlr.alpha._step import ArrayOps
from taylorlr.alpha.rules import Probe, Rule
from taylorlr.alpha.safeguards import FIRINGS, Safeguards, next_alpha

__all__ = ["TaylorLRState", "taylor_lr"]


class TaylorLRState(NamedTuple):
    """The wrapper's state (a pytree).

    Attributes:
        inner: the inner transformation's state.
        alpha: the rule's step size for the next step (0-d; ``lagged`` revises it first).
        step_alpha: the step size of the move the last update made (0-d).
        count: steps taken (moves, rejected ones included).
        omega: the last direction (flat), kept for ``lagged`` and for a retried step.
        retry: the last move was rejected: the next step retries along ``omega``.
        pending: ``lagged`` has a move to settle at the next call.
        value: f at the point the last move started from.
        theta: that point (flat), to undo a lagged move.
        loss_start: f at the first step.
        firings: per guard of :data:`~taylorlr.alpha.safeguards.FIRINGS`, how often it fired.
        passes: extra evaluations so far: forward, backward, hvp (jvp of the gradient).
        rejected: moves the rising-loss guard undid.
        nonfinite: steps skipped because f or its gradient at the current point was inf/NaN, and
            inf/NaN that no guard caught (at theta+ or in the pure formula, guards off): the
            move undone and alpha kept.

    >>> import jax.numpy as jnp, optax
    >>> state = taylor_lr(optax.sgd(1.0), alpha0=0.5).init(jnp.zeros(3))
    >>> float(state.alpha), float(state.step_alpha), int(state.count), state.omega.shape  # no move yet
    (0.5, nan, 0, (3,))
    >>> state.passes.tolist()  # forward, backward, hvp
    [0, 0, 0]
    """

    inner: Any
    alpha: Any
    step_alpha: Any
    count: Any
    omega: Any
    retry: Any
    pending: Any
    value: Any
    theta: Any
    loss_start: Any
    firings: Any
    passes: Any
    rejected: Any
    nonfinite: Any


def taylor_lr(
    inner: optax.GradientTransformation,
    rule: str | Rule = "exact",
    *,
    alpha0: float = 1e-3,
    gamma: float = 1.0,
    safeguards: str | Safeguards = "default",
    rule_options: Mapping[str, Any] | None = None,
) -> optax.GradientTransformationExtraArgs:
    """The inner transformation's direction, scaled by a taylorlr rule's alpha at every step.

    ``update(grad, state, params, *, value, value_fn, **extra_args)``: ``grad`` and ``value``
    are the gradient and the loss at ``params``; ``value_fn(params, **kwargs)`` is the loss of
    the same batch (theta_t and theta+ see the same data), called with the extra arguments
    its signature names. Returns updates with ``params + updates = theta_{t+1}``.

    Args:
        inner: any optax transformation at learning rate 1 (its updates are -omega).
        rule, gamma, safeguards, rule_options: as in :func:`taylorlr.run`.
        alpha0: the first step size.

    Raises:
        OptionError: a bad rule, gamma, safeguard or alpha0.
        ParameterError: (at ``init``) float16/bfloat16 or integer parameters.
        ClosureError: (at ``update``) no ``value_fn`` or ``value``, or a loss that is not a scalar.

    On f(w) = 2 |w|^2 the exact rule's first update is the exact line search, alpha_1 = 1/4
    (1/f''), and the second step lands on the minimum:

    >>> import jax, jax.numpy as jnp, optax
    >>> f = lambda w: 2 * (w**2).sum()
    >>> opt = taylor_lr(optax.sgd(1.0), "exact", alpha0=0.1)
    >>> w = jnp.array([1.0, -1.0]); state = opt.init(w)
    >>> for _ in range(2):
    ...     value, grad = jax.value_and_grad(f)(w)
    ...     updates, state = opt.update(grad, state, w, value=value, value_fn=f)
    ...     w = optax.apply_updates(w, updates)
    >>> float(state.step_alpha), w.tolist()
    (0.25, [0.0, 0.0])
    >>> opt.update(grad, state, w)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    taylorlr._training.ClosureError: taylor_lr's update needs the loss as optax's line searches take it: ...
    """
    options = TrainingOptions.build(rule, gamma=gamma, safeguards=safeguards, rule_options=rule_options)
    alpha0 = check_alpha0(alpha0, "alpha0")

    def init(params: Any) -> TaylorLRState:
        flat, _ = ravel_pytree(params)
        _check_dtype(flat)
        zero = jnp.zeros((), flat.dtype)
        return TaylorLRState(
            inner=inner.init(params),
            alpha=jnp.asarray(alpha0, flat.dtype),
            step_alpha=jnp.full((), jnp.nan, flat.dtype),
            count=jnp.zeros((), jnp.int32),
            omega=jnp.zeros_like(flat),
            retry=jnp.zeros((), bool),
            pending=jnp.zeros((), bool),
            value=zero,
            theta=jnp.zeros_like(flat),
            loss_start=jnp.full((), jnp.nan, flat.dtype),
            firings=jnp.zeros(len(FIRINGS), jnp.int32),
            passes=jnp.zeros(3, jnp.int32),
            rejected=jnp.zeros((), jnp.int32),
            nonfinite=jnp.zeros((), jnp.int32),
        )

    def update(
        updates: Any, state: TaylorLRState, params: Any = None, *, value: Any = None, **extra: Any
    ) -> tuple[Any, TaylorLRState]:
        value_fn = extra.pop("value_fn", None)
        extra.pop("grad", None)
        if value is None or value_fn is None or params is None:
            raise ClosureError(
                "taylor_lr's update needs the loss as optax's line searches take it: "
                "opt.update(grad, state, params, value=f(params), value_fn=f) (f: the batch loss)"
            )
        step = _Step(options, inner, params, value_fn, _kwargs_for(value_fn, extra))
        return step.run(updates, state, jnp.asarray(value))

    return optax.GradientTransformationExtraArgs(init, update)


class _Step:
    """One update, traced: the direction, the move, the rule at theta+, the guards."""

    def __init__(
        self, options: TrainingOptions, inner: Any, params: Any, value_fn: Callable, kwargs: dict
    ) -> None:
        self.options, self.inner = options, inner
        self.flat, self.unravel = ravel_pytree(params)
        self.params = params
        self.kwargs = kwargs
        self.f = lambda flat: value_fn(self.unravel(flat), **kwargs)
        self.ops = ArrayOps(jnp, self.flat.dtype)

    def loss(self, flat: Any) -> Any:
        out = jnp.asarray(self.f(flat))
        if out.shape != ():
            raise ClosureError(
                f"value_fn returned an array of shape {out.shape}, not one number: "
                "reduce it to the scalar loss (e.g. .mean() over the batch)"
            )
        return out

    def direction(self, grad: Any, inner_state: Any) -> tuple[Any, Any]:
        updates, new_state = self.inner.update(grad, inner_state, self.params)
        return -ravel_pytree(updates)[0], new_state

    def run(self, grad: Any, state: TaylorLRState, value: Any) -> tuple[Any, TaylorLRState]:
        if value.shape != ():
            raise ClosureError(f"value must be the scalar loss at params, got shape {value.shape}")
        rule = self.options.rule
        gflat = ravel_pytree(grad)[0]
        healthy = jnp.isfinite(value) & jnp.all(jnp.isfinite(gflat))
        loss_start = jnp.where(jnp.isnan(state.loss_start), value, state.loss_start)
        state = state._replace(loss_start=loss_start)
        omega_new, inner_new = self.direction(grad, state.inner)
        if rule.kind == "adaptive" and not _reads_plus(rule):
            moved, new = self._lagged(state, value, healthy, omega_new, inner_new)
            # a lagged move that landed on an inf/NaN loss or gradient is undone there, not skipped
            healthy = healthy | state.pending
        else:
            moved, new = self._settled(state, value, gflat, omega_new, inner_new)
        # a step at an inf/NaN loss or gradient moves nothing and changes nothing but its counter
        keep = lambda a, b: jnp.where(healthy, a, b)  # noqa: E731
        new = jax.tree.map(keep, new, state)._replace(
            nonfinite=jnp.where(healthy, new.nonfinite, state.nonfinite + 1)
        )
        return self.unravel(jnp.where(healthy, moved, jnp.zeros_like(moved))), new

    # ------------------------------------------------------------------ rules that read theta+

    def _settled(self, state: TaylorLRState, value: Any, gflat: Any, omega_new: Any, inner_new: Any) -> Any:
        rule, retry = self.options.rule, state.retry
        omega = jnp.where(retry, state.omega, omega_new)
        inner_state = jax.tree.map(lambda a, b: jnp.where(retry, a, b), state.inner, inner_new)
        alpha, passes = state.alpha, state.passes
        if rule.kind == "line-search":
            proposal, evaluations = self._line_search(value, gflat, omega, alpha)
            update = next_alpha(
                rule,
                Probe(alpha=alpha, omega=omega),
                1.0,
                self.options.guards,
                loss_start=state.loss_start,
                loss_next=value,
                proposal=proposal,
                ops=self.ops,
            )
            broken = ~jnp.isfinite(update.alpha)  # no minimum along the line, and the guards off
            alpha = jnp.where(broken, alpha, update.alpha)
            passes = passes + jnp.array([1, 1, 0], jnp.int32) * evaluations
            firings = state.firings + _as_counts(update.fired)
            move = jnp.where(broken, 0.0, -alpha) * omega
            return move, state._replace(
                inner=inner_state,
                alpha=alpha,
                step_alpha=alpha,
                count=state.count + 1,
                omega=omega,
                retry=False,
                value=value,
                firings=firings,
                passes=passes,
                nonfinite=state.nonfinite + broken.astype(jnp.int32),
            )
        if rule.kind == "fixed":
            return -alpha * omega, state._replace(
                inner=inner_state, step_alpha=alpha, count=state.count + 1, omega=omega, value=value
            )
        plus = self.flat - alpha * omega
        probe, extra = self._probe(alpha, omega, value, gflat, plus)
        update = next_alpha(rule, probe, self.options.gamma, self.options.guards, loss_start=state.loss_start,
                            loss_next=probe.value_plus, ops=self.ops)  # fmt: skip
        rejected = update.fired["rising_loss"]
        # an inf/NaN the rising-loss guard did not catch (the gradient at theta+; with the guard off,
        # the loss there or x/0 in the pure formula) undoes the move too, keeping alpha: counted in
        # nonfinite (where torch raises NonFiniteLossError)
        landed = jnp.isfinite(probe.value_plus)
        if probe.grad_plus is not None:
            landed = landed & jnp.all(jnp.isfinite(probe.grad_plus))
        broken = ~rejected & ~(landed & jnp.isfinite(update.alpha))
        undo = rejected | broken
        move = jnp.where(undo, jnp.zeros_like(plus), -alpha * omega)
        return move, state._replace(
            inner=inner_state,
            alpha=jnp.where(broken, alpha, update.alpha),
            step_alpha=alpha,
            count=state.count + 1,
            omega=omega,
            retry=undo,
            value=value,
            firings=state.firings + _as_counts(update.fired),
            passes=passes + extra,
            rejected=state.rejected + rejected.astype(jnp.int32),
            nonfinite=state.nonfinite + broken.astype(jnp.int32),
        )

    def _probe(self, alpha: Any, omega: Any, value: Any, gflat: Any, plus: Any) -> tuple[Probe, Any]:
        needs = self.options.rule.needs
        if "hvp_plus" in needs:
            value_plus, grad_plus = jax.value_and_grad(self.loss)(plus)
            _, hvp = jax.jvp(jax.grad(self.loss), (plus,), (omega,))
            passes = [1, 1, 1]
        elif "grad_plus" in needs:
            value_plus, grad_plus = jax.value_and_grad(self.loss)(plus)
            hvp, passes = None, [1, 1, 0]
        else:
            value_plus, grad_plus, hvp, passes = self.loss(plus), None, None, [1, 0, 0]
        mirror = None
        if "value_mirror" in needs:
            mirror = self.loss(self.flat + alpha * omega)
            passes[0] += 1
        probe = Probe(alpha=alpha, omega=omega, value=value, grad=gflat, value_plus=value_plus,
                      grad_plus=grad_plus, hvp_plus=hvp, value_mirror=mirror)  # fmt: skip
        return probe, jnp.array(passes, jnp.int32)

    # ------------------------------------------------------------------ lagged

    def _lagged(self, state: TaylorLRState, value: Any, healthy: Any, omega_new: Any, inner_new: Any) -> Any:
        """Settle the last move at this point: alpha from omega_{t+1}, or undo it; then move.

        A move that landed where f or its gradient is inf/NaN is undone (by the rising-loss
        guard where it fires, else keeping alpha, counted in nonfinite); an inf/NaN alpha from
        the pure formula (0/0, guards off) is not taken: alpha stays, counted in nonfinite.
        """
        guards = self.options.guards
        probe = Probe(alpha=state.alpha, omega=state.omega, value=state.value, omega_next=omega_new)
        update = next_alpha(self.options.rule, probe, self.options.gamma, guards, loss_start=state.loss_start,
                            loss_next=value, ops=self.ops)  # fmt: skip
        pending = state.pending
        rejected = pending & update.fired["rising_loss"]
        undo = rejected | (pending & ~healthy)
        broken = pending & ~rejected & ~(healthy & jnp.isfinite(update.alpha))
        fired = {name: pending & hit for name, hit in update.fired.items()}
        fired["curvature"] = fired["curvature"] & ~undo  # no omega_{t+1} on an undone step
        fired["precision"] = fired["precision"] & ~undo
        alpha = jnp.where(pending & ~broken, update.alpha, state.alpha)
        omega = jnp.where(undo, state.omega, omega_new)
        inner_state = jax.tree.map(lambda a, b: jnp.where(undo, a, b), state.inner, inner_new)
        start = jnp.where(undo, state.theta, self.flat)
        start_value = jnp.where(undo, state.value, value)
        move = (start - self.flat) - alpha * omega
        return move, state._replace(
            inner=inner_state,
            alpha=alpha,
            step_alpha=alpha,
            count=state.count + 1,
            omega=omega,
            pending=jnp.ones((), bool),
            value=start_value,
            theta=start,
            firings=state.firings + _as_counts(fired),
            rejected=state.rejected + rejected.astype(jnp.int32),
            nonfinite=state.nonfinite + broken.astype(jnp.int32),
        )

    # ------------------------------------------------------------------ the line search

    def _line_search(self, value: Any, gflat: Any, omega: Any, guess: Any) -> tuple[Any, Any]:
        """The minimiser of the batch loss along omega (the oracle): bracket the slope, then bisect.

        Returns the signed alpha* (NaN when the loss falls all along the bracket) and the
        number of gradient evaluations.
        """
        sign = jnp.where(jnp.dot(gflat, omega) >= 0, 1.0, -1.0).astype(self.flat.dtype)
        ray = sign * omega

        def slope(a: Any) -> Any:
            s = -jnp.dot(jax.grad(self.loss)(self.flat - a * ray), ray)
            return jnp.where(jnp.isfinite(s), s, 1.0)

        guess = jnp.where(jnp.isfinite(guess) & (guess > 0), guess, 1.0)

        def widen(c: Any) -> Any:
            _, high, _, k = c
            return high, 2 * high, slope(2 * high), k + 1

        low, high, s, k = jax.lax.while_loop(
            lambda c: (c[2] < 0) & (c[3] < 64), widen, (jnp.zeros_like(guess), guess, slope(guess), 1)
        )
        eps = jnp.finfo(self.flat.dtype).eps

        def halve(c: Any) -> Any:
            low, high, k = c
            mid = (low + high) / 2
            below = slope(mid) < 0
            return jnp.where(below, mid, low), jnp.where(below, high, mid), k + 1

        low, high, k2 = jax.lax.while_loop(
            lambda c: (c[1] - c[0] > 2 * eps * c[1]) & (c[2] < 200), halve, (low, high, 0)
        )
        found = jnp.where(s < 0, jnp.nan, (low + high) / 2)
        return sign * found, k + k2


def _reads_plus(rule: Rule) -> bool:
    return bool(rule.needs & {"value_plus", "grad_plus", "hvp_plus", "value_mirror"})


def _as_counts(fired: Mapping[str, Any]) -> Any:
    return jnp.stack([jnp.asarray(fired[name]).astype(jnp.int32) for name in FIRINGS])


def _check_dtype(flat: Any) -> None:
    if flat.dtype in (jnp.float16, jnp.bfloat16) or not jnp.issubdtype(flat.dtype, jnp.floating):
        raise ParameterError(
            f"taylor_lr needs float32 or float64 parameters, got {flat.dtype}: the rules difference "
            "gradients and loss values, which carry no significant digit in half precision; keep float32 "
            "parameters and cast inside the model for speed"
        )


def _kwargs_for(value_fn: Callable, extra: dict) -> dict:
    """The extra arguments that ``value_fn``'s signature names (all of them if it takes ``**kwargs``)."""
    try:
        parameters = inspect.signature(value_fn).parameters
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return dict(extra)
    return {k: v for k, v in extra.items() if k in parameters}
