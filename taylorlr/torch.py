"""taylorlr's alpha rules in PyTorch training: :class:`TaylorLR` wraps any ``torch.optim.Optimizer``.

The wrapped optimizer supplies the direction omega_t (its own update at learning rate 1);
the rule sets the learning rate alpha_t of every parameter group at every step, with the
core's rules (:mod:`taylorlr.alpha.rules`) and safeguards
(:func:`taylorlr.alpha.safeguards.next_alpha`, on float64 scalars), so a wrapped run
takes the same steps as ``tl.run`` (``tests/integrations/test_torch.py`` proves it to
1e-10 on analytic losses). ``step(closure)``: the closure returns the minibatch loss,
and the wrapper evaluates it at theta_t and at theta+ = theta_t - alpha_t omega_t on that
same batch (source 003's minibatch form). See ``docs/training.md``.

>>> import torch, taylorlr.torch as tlt
>>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
>>> opt = tlt.TaylorLR(torch.optim.SGD([w], lr=0.1), rule="exact")
>>> for _ in range(3):
...     loss = opt.step(lambda: 0.5 * (w[0] ** 2 + 4 * w[1] ** 2))
>>> [round(a, 4) for (a,) in opt.history.alphas]  # alpha_1 = 65/257: the exact line search of step 0
[0.1, 0.2529, 0.2565]
>>> opt.history.passes  # per step: one more forward and backward, at theta+, and one HVP
{'forward': 3, 'backward': 3, 'hvp': 3}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy
import torch

from taylorlr._training import (
    ONE_LINE,
    ClosureError,
    NonFiniteLossError,
    ParameterError,
    Recorder,
    ScalarUpdate,
    TrainingHistory,
    TrainingOptions,
    check_alpha0,
    extra_passes,
)
from taylorlr.alpha.rules import Probe, Rule
from taylorlr.alpha.safeguards import Safeguards
from taylorlr.errors import OptionError

_F64 = numpy.float64

__all__ = ["TaylorLR"]

#: optimizers whose update is theta - lr * omega(g, state), omega free of theta but for the
#: weight decay: their direction is read exactly, by a step at lr = 1 from theta = 0
ZERO_SAFE = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "NAdam", "RAdam", "Adadelta")

#: optimizers whose step is not theta - lr * omega: no learning rate can be set for them
REFUSED = {
    "LBFGS": "it runs its own line search",
    "Rprop": "its lr is only the first step size, not a factor of the step",
    "ASGD": "its step shrinks theta by a factor that depends on lr",
    "SparseAdam": "its gradients are sparse",
}

DIRECTIONS = ("auto", "zero", "difference", "fast")

#: the rules that the "fast" mode serves: they read no loss at theta+, so the move needs no copy of theta
FAST_RULES = ("lagged", "fixed")


class TaylorLR:
    """Any ``torch.optim.Optimizer`` with its learning rate set by a taylorlr rule.

    Why a wrapper with ``step(closure)``: every adaptive rule but ``lagged`` evaluates the
    loss again at theta+ (and the mirror point, or a line) on the *same* minibatch, which
    only a closure can give, and torch users know the shape from ``torch.optim.LBFGS``.
    A scheduler could not do it: it runs after the step and never sees the batch.

    Each step: the closure at theta_t gives f and grad f; the wrapped optimizer turns the
    gradient into its direction omega_t (its state advances once per accepted direction);
    the parameters move to theta+ = theta_t - alpha_t omega_t; the rule's needs are
    evaluated there on the same batch, and the core's ``next_alpha`` gives alpha_{t+1}.
    ``lagged`` makes no extra pass: it updates alpha at the next step, from omega_{t+1}.
    Where the rising-loss guard fires, the move is undone and the next call retries from
    theta_t along the same omega_t with the smaller alpha (as ``tl.run`` does).

    Every parameter group has its own alpha, started at its ``lr``, for the rules that
    read gradients only (``exact``: one Hessian-vector product per group, ``retsinas``,
    ``lagged``, ``fixed``); the rules that read loss values along one line
    (``value-gradient``, ``three-point``, ``line-search``) need a single group.

    Args:
        optimizer: the base optimizer; its ``lr`` per group is alpha_0.
        rule: a rule name of :data:`taylorlr.alpha.rules.RULES` or a
            :class:`~taylorlr.alpha.rules.Rule`.
        gamma: slow adaptation in (0, 1] (1: the pure Newton step on alpha).
        safeguards: "default", "none" or a :class:`~taylorlr.Safeguards` (the core's).
        rule_options: e.g. ``{"numerator": "values"}`` for ``three-point``.
        direction: how omega_t is read from the optimizer: "zero" (a step at lr = 1 from
            theta = 0, weight decay folded in by the wrapper: exact, for the optimizers of
            :data:`ZERO_SAFE`), "difference" ((theta_t - theta_after) / lr after a normal
            step: any optimizer linear in lr, exact to rounding of theta), "fast" (``lagged``
            and ``fixed``, optimizers of :data:`ZERO_SAFE`; ``lagged``: the zero probe written
            into a preallocated buffer while the parameters are swapped out, not copied, the
            move one fused multiply-add, the rule's inner products from <omega_t, omega_t>
            kept from the last step, a rejected move undone by the reverse move, to theta's
            rounding; ``fixed``: the optimizer's own step), or "auto": "fast" for ``lagged``
            and ``fixed`` where it applies, else "zero" where it applies, else "difference"
            (docs/training.md says what each costs).

    Raises:
        OptionError: not a torch optimizer, one that is not linear in lr, a bad rule,
            gamma, safeguard or lr, or a one-line rule with several groups.
        ParameterError: a parameter that does not require grad, or is float16/bfloat16.

    On f(w) = 2 w^2 the exact rule's first update is the exact line search, alpha_1 = 1/4
    (1/f''), and the second step lands on the minimum; each group's ``lr`` shows its next alpha:

    >>> import torch, taylorlr.torch as tlt
    >>> w = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    >>> opt = tlt.TaylorLR(torch.optim.SGD([w], lr=0.1), rule="exact")
    >>> for _ in range(2):
    ...     loss = opt.step(lambda: 2 * (w**2).sum())
    >>> opt.param_groups[0]["lr"], w.tolist()
    (0.25, [0.0])
    >>> tlt.TaylorLR(torch.optim.LBFGS([w]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    taylorlr.errors.OptionError: TaylorLR cannot set the learning rate of LBFGS: it runs its own line ...
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        rule: str | Rule = "exact",
        *,
        gamma: float = 1.0,
        safeguards: str | Safeguards = "default",
        rule_options: Mapping[str, Any] | None = None,
        direction: str = "auto",
    ) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise OptionError(f"TaylorLR wraps a torch.optim.Optimizer, got {type(optimizer).__name__}")
        name = type(optimizer).__name__
        if name in REFUSED:
            raise OptionError(
                f"TaylorLR cannot set the learning rate of {name}: {REFUSED[name]}; wrap SGD, Adam, "
                "AdamW, RMSprop, Adagrad or an optimizer whose step is theta - lr * direction"
            )
        if direction not in DIRECTIONS:
            raise OptionError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        self.optimizer = optimizer
        self.options = TrainingOptions.build(
            rule, gamma=gamma, safeguards=safeguards, rule_options=rule_options
        )
        self._check_groups()
        # the group structure, read once (the buffers of the fast mode are laid out on it)
        self._param_lists = [list(group["params"]) for group in self._groups]
        self._flat = [p for ps in self._param_lists for p in ps]
        self._updates: dict[torch.dtype | None, ScalarUpdate] = {}  # bound per parameter dtype (its eps)
        self.direction = _resolve_direction(direction, name, self.options.rule, self._params())
        self._alpha = [
            check_alpha0(_number(g["lr"]), f"param group {i}'s lr") for i, g in enumerate(self._groups)
        ]
        self._omega: list[list[torch.Tensor]] | None = None
        self._retry = False
        self._loss_start: float | None = None
        self._previous: dict[str, Any] | None = None  # lagged: the last move, settled at the next call
        self.recorder = Recorder(len(self._groups))
        self._buffers = _Buffers()
        self._fast = _FastLagged(self._params(), rule=self.options.rule) if self.direction == "fast" else None

    # ------------------------------------------------------------------ the torch.optim surface

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.optimizer.param_groups  # type: ignore[no-any-return]

    @property
    def _groups(self) -> list[dict[str, Any]]:
        return self.optimizer.param_groups  # type: ignore[no-any-return]

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    @property
    def alphas(self) -> list[float]:
        """The learning rate of each group for the next step."""
        return list(self._alpha)

    @property
    def history(self) -> TrainingHistory:
        """Alpha per step and group, losses, safeguard firings per group, extra passes."""
        return self.recorder.snapshot()

    @property
    def extra_passes_per_step(self) -> dict[str, int] | None:
        """The documented extra passes of the rule per step (``hvp``: per group); None: a line search."""
        return extra_passes(self.options.rule)

    def state_dict(self) -> dict[str, Any]:
        """The wrapped optimizer's state and the wrapper's (alphas, direction, record)."""
        previous = None
        if self._previous is not None:
            previous = {"value": self._previous["value"], "theta": _copied(self._previous["theta"])}
        return {
            "optimizer": self.optimizer.state_dict(),
            "taylorlr": {
                "alphas": list(self._alpha),
                "omega": _copied(self._omega),
                "retry": self._retry,
                "loss_start": self._loss_start,
                "previous": previous,
                "fast": None if self._fast is None else self._fast.state(),
                "record": self.recorder.state(),
                "rule": self.options.rule.label,
                "direction": self.direction,
            },
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (the same rule, direction mode and parameter layout).

        Raises:
            OptionError: a state saved with another rule or direction mode.
        """
        mine = state["taylorlr"]
        if mine["rule"] != self.options.rule.label:
            raise OptionError(
                f"this state was saved with rule {mine['rule']!r}, not {self.options.rule.label!r}: "
                "build the wrapper with the same rule"
            )
        if mine.get("direction", self.direction) != self.direction:
            raise OptionError(
                f"this state was saved with direction={mine['direction']!r}, not {self.direction!r}: "
                f"build the wrapper with direction={mine['direction']!r}"
            )
        self.optimizer.load_state_dict(state["optimizer"])
        self._alpha = [float(a) for a in mine["alphas"]]
        self._omega = None if mine["omega"] is None else [[w.clone() for w in ws] for ws in mine["omega"]]
        self._retry = bool(mine["retry"])
        self._loss_start = mine["loss_start"]
        previous = mine["previous"]
        self._previous = None if previous is None else {**previous, "theta": _copied(previous["theta"])}
        if self._fast is not None:
            self._fast.load(mine["fast"])
        self.recorder.load(mine["record"])
        self._publish()

    # ------------------------------------------------------------------ the step

    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """One step; ``closure()`` returns the scalar loss of this step's batch (no ``backward``).

        Returns:
            The loss at theta_t (what the closure returned), or None without a closure.

        Raises:
            ClosureError: no closure for a rule that evaluates the loss (all but
                ``fixed`` and ``lagged``), or a closure that returns no scalar tensor or
                calls ``backward`` itself.
            ParameterError: a sparse gradient.
            NonFiniteLossError: inf/NaN loss or gradient at theta_t (nothing moved), or a
                non-finite alpha or loss at theta+ with the guards off (the move undone).
        """
        rule = self.options.rule
        self._check_unchanged_groups()
        if closure is None and (rule.kind not in ("fixed", "adaptive") or _reads_plus(rule)):
            raise ClosureError(
                f"rule {rule.label!r} evaluates the loss again during the step, so step() needs a "
                "closure: opt.step(lambda: loss_fn(model(x), y)) (return the loss, do not call "
                "backward); only 'fixed' and 'lagged' run without one"
            )
        if closure is None:
            loss, value, grads = None, math.nan, self._given_grads()
        else:
            loss, grads = self._evaluate(closure, grad=True)
            value = float(loss)
        self._check_finite(value if closure is not None else 0.0, grads)
        if self._loss_start is None:
            self._loss_start = value if closure is not None else 0.0
        if self._fast is not None:
            self._step_fast(value, grads, closure is not None)
            return loss
        theta = self._clone()
        if self._previous is not None and self._settle_lagged(value, grads, closure is not None, theta):
            return loss
        if self._omega is None or not self._retry:
            self._omega = self._directions(grads, theta)
        if rule.kind == "line-search":
            assert closure is not None
            self._line_search(closure, theta, grads)
        self._record(value)
        self._move(theta, self._alpha)
        if rule.kind == "adaptive" and _reads_plus(rule):
            assert closure is not None
            self._settle(closure, value, grads, theta)
        elif rule.kind == "adaptive":
            self._previous = {"value": value, "theta": theta if closure is not None else None}
        self._publish()
        return loss

    def _record(self, value: float) -> None:
        self.recorder.alphas.append(list(self._alpha))
        self.recorder.losses.append(value)

    def _publish(self) -> None:
        """Each group's ``lr`` shows the alpha of its next step."""
        for group, alpha in zip(self._groups, self._alpha, strict=True):
            group["lr"] = alpha

    # ------------------------------------------------------------------ checks

    def _check_groups(self) -> None:
        rule = self.options.rule
        if len(self._groups) > 1 and rule.name in ONE_LINE:
            raise OptionError(
                f"rule {rule.name!r} reads loss values along one line, so it sets one alpha for all "
                f"parameters, but the optimizer has {len(self._groups)} param groups: use one group, "
                "or the rule 'exact', 'retsinas' or 'lagged' (one alpha per group)"
            )
        for i, group in enumerate(self._groups):
            for p in group["params"]:
                if not p.requires_grad:
                    raise ParameterError(
                        f"param group {i} holds a parameter of shape {tuple(p.shape)} that does not "
                        "require grad: leave it out of the optimizer, or call p.requires_grad_(True)"
                    )
                if p.dtype in (torch.float16, torch.bfloat16):
                    raise ParameterError(
                        f"param group {i} holds a {p.dtype} parameter: the rules difference gradients "
                        "and loss values, which carry no significant digit in half precision; keep "
                        "float32 parameters (model.float()) and run the forward pass under "
                        "torch.autocast for half-precision speed"
                    )

    def _check_unchanged_groups(self) -> None:
        """The groups' layout is the one read when the wrapper was made (its buffers and alphas follow it)."""
        groups = self._groups
        if len(groups) == len(self._param_lists) and all(
            len(group["params"]) == len(ps) and all(p is q for p, q in zip(group["params"], ps, strict=True))
            for group, ps in zip(groups, self._param_lists, strict=True)
        ):
            return
        raise ParameterError(
            f"the optimizer's param groups changed after it was wrapped (now {len(groups)} groups of "
            f"{[len(g['params']) for g in groups]} parameters, wrapped with {len(self._param_lists)} of "
            f"{[len(ps) for ps in self._param_lists]}): add every group before wrapping, or wrap the "
            "optimizer again: TaylorLR(optimizer, rule)"
        )

    def _params(self) -> list[list[torch.Tensor]]:
        return self._param_lists

    def _given_grads(self) -> list[list[torch.Tensor | None]]:
        grads = [[p.grad for p in ps] for ps in self._params()]
        _check_dense(grads)
        if all(g is None for gs in grads for g in gs):
            raise ParameterError(
                "step() was called without a closure and no parameter has a gradient: call "
                "loss.backward() first, or pass a closure that returns the loss"
            )
        return [[None if g is None else g.detach() for g in gs] for gs in grads]

    def _check_finite(self, value: float, grads: list[list[torch.Tensor | None]]) -> None:
        given = [g for gs in grads for g in gs if g is not None]
        finite = math.isfinite(value) and (not given or _all_finite(given))
        if not finite:
            raise NonFiniteLossError(
                f"the loss at the current parameters is {value} or its gradient is not finite on this "
                "batch; nothing moved: check the batch for inf/NaN, or lower the learning rate"
            )

    # ------------------------------------------------------------------ evaluations

    def _evaluate(
        self, closure: Callable[[], Any], *, grad: bool, create_graph: bool = False
    ) -> tuple[torch.Tensor, list[list[torch.Tensor | None]]]:
        """The closure's loss and, if asked, its gradient per group (None: the loss ignores it)."""
        params, flat = self._param_lists, self._flat
        for p in flat:
            p.grad = None
        with torch.enable_grad() if grad else torch.no_grad():
            loss = closure()
        _check_loss(loss)
        if any(p.grad is not None for p in flat):
            raise ClosureError(
                "the closure called backward(): return the loss instead (lambda: loss_fn(model(x), y)); "
                "taylorlr differentiates it itself, as often as the rule needs"
            )
        if not grad:
            return loss.detach(), []
        if not loss.requires_grad:
            raise ClosureError(
                "the closure's loss does not depend on the optimizer's parameters (no autograd graph): "
                "compute it from the model's outputs, outside torch.no_grad()"
            )
        out = torch.autograd.grad(loss, flat, allow_unused=True, create_graph=create_graph)
        grads: list[list[torch.Tensor | None]] = []
        k = 0
        for ps in params:
            grads.append([g if create_graph or g is None else g.detach() for g in out[k : k + len(ps)]])
            k += len(ps)
        _check_dense(grads)
        return (loss if create_graph else loss.detach()), grads

    def _hvps(self, grads: list[list[torch.Tensor | None]]) -> list[list[torch.Tensor]]:
        """omega_g^T H restricted to each group g: one double backward per group."""
        params, omega = self._params(), self._omega
        assert omega is not None
        out = []
        for i, (ps, gs, ws) in enumerate(zip(params, grads, omega, strict=True)):
            terms = [(g * w).sum() for g, w in zip(gs, ws, strict=True) if g is not None and g.requires_grad]
            if not terms:
                out.append([torch.zeros_like(p) for p in ps])
                continue
            hv = torch.autograd.grad(
                torch.stack(terms).sum(), ps, allow_unused=True, retain_graph=i < len(params) - 1
            )
            out.append(
                [torch.zeros_like(p) if h is None else h.detach() for p, h in zip(ps, hv, strict=True)]
            )
        return out

    # ------------------------------------------------------------------ the direction

    def _directions(
        self, grads: list[list[torch.Tensor | None]], theta: list[list[torch.Tensor]]
    ) -> list[list[torch.Tensor]]:
        """omega_t from the wrapped optimizer at theta (its state advances once)."""
        omega = self._buffers.other_than("omega", self._omega, self._params())
        scratch = self._buffers.scratch(self._params())
        # torch's foreach SGD with Nesterov (the default on CUDA) adds the momentum into p.grad in place:
        # a rule that reads grad f(theta_t) after the step must hand the optimizer a copy
        keep = self.options.rule.kind == "line-search" or _reads_plus(self.options.rule)
        with torch.no_grad():
            saved = [(g["lr"], g.get("weight_decay")) for g in self._groups]
            decays = []
            for group, ps, gs, ths, alpha in zip(
                self._groups, self._params(), grads, theta, self._alpha, strict=True
            ):
                decay, decoupled = self._decay(group)
                decays.append(decay if decoupled else 0.0)
                for p, g, th in zip(ps, gs, ths, strict=True):
                    p.grad = _given(g, keep) if g is None or not decay or decoupled else g + decay * th
                if self.direction == "zero":
                    group["lr"] = 1.0
                    for p in ps:
                        p.zero_()
                else:
                    group["lr"] = alpha
            self.optimizer.step()
            for group, (lr, decay), ps, ths, ws, tmp, alpha, kept in zip(
                self._groups, saved, self._params(), theta, omega, scratch, self._alpha, decays, strict=True
            ):
                group["lr"] = lr
                if decay is not None:
                    group["weight_decay"] = decay
                for p, th, w, t in zip(ps, ths, ws, tmp, strict=True):
                    if self.direction == "zero":
                        torch.neg(p, out=w)
                        if kept:  # AdamW: omega = omega_adam + lambda theta
                            w.add_(torch.mul(th, kept, out=t))
                    else:
                        torch.sub(th, p, out=w).div_(alpha)
                    p.copy_(th)
        return omega

    def _decay(self, group: dict[str, Any]) -> tuple[float, bool]:
        """The group's weight decay and whether it is decoupled (AdamW); zeroed for the zero probe."""
        decay = _number(group.get("weight_decay") or 0.0)
        if not decay or self.direction not in ("zero", "fast"):
            return 0.0, False
        group["weight_decay"] = 0.0
        decoupled = bool(group.get("decoupled_weight_decay")) or isinstance(self.optimizer, torch.optim.AdamW)
        return decay, decoupled

    def _clone(self) -> list[list[torch.Tensor]]:
        """The parameters now, into the theta buffer that the pending lagged move does not hold."""
        held = None if self._previous is None else self._previous["theta"]
        theta = self._buffers.other_than("theta", held, self._params())
        with torch.no_grad():
            for ps, ths in zip(self._params(), theta, strict=True):
                for p, th in zip(ps, ths, strict=True):
                    th.copy_(p)
        return theta

    def _move(self, theta: list[list[torch.Tensor]], alphas: list[float], sign: float = -1.0) -> None:
        """The parameters of group g to theta_g + sign * alpha_g omega_g."""
        assert self._omega is not None
        flat_scratch = [t for ts in self._buffers.scratch(self._params()) for t in ts]
        k = 0
        with torch.no_grad():
            for ps, ths, ws, alpha in zip(self._params(), theta, self._omega, alphas, strict=True):
                scratch = flat_scratch[k : k + len(ps)]
                k += len(ps)
                for p, th, w, t in zip(ps, ths, ws, scratch, strict=True):
                    torch.mul(w, alpha, out=t)  # theta -/+ (alpha omega): the engine's two roundings
                    (torch.sub if sign < 0 else torch.add)(th, t, out=p)

    def _restore(self, theta: list[list[torch.Tensor]]) -> None:
        with torch.no_grad():
            for ps, ths in zip(self._params(), theta, strict=True):
                for p, th in zip(ps, ths, strict=True):
                    p.copy_(th)

    # ------------------------------------------------------------------ the rule

    def _settle(
        self, closure: Callable[[], Any], value: float, grads: list[list[torch.Tensor | None]], theta: Any
    ) -> None:
        """Evaluate the rule's needs at theta+ on the same batch, then alpha_{t+1} (or undo the move)."""
        needs = self.options.rule.needs
        hvps: list[list[torch.Tensor]] | None = None
        grads_plus: list[list[torch.Tensor | None]] | None = None
        if "hvp_plus" in needs:
            loss_plus, graph_grads = self._evaluate(closure, grad=True, create_graph=True)
            hvps = self._hvps(graph_grads)
            grads_plus = [[None if g is None else g.detach() for g in gs] for gs in graph_grads]
            self.recorder.count(forward=1, backward=1, hvp=len(hvps))
        elif "grad_plus" in needs:
            loss_plus, grads_plus = self._evaluate(closure, grad=True)
            self.recorder.count(forward=1, backward=1)
        else:
            loss_plus, _ = self._evaluate(closure, grad=False)
            self.recorder.count(forward=1)
        value_plus = float(loss_plus.detach())
        mirror = None
        if "value_mirror" in needs:
            self._move(theta, self._alpha, sign=1.0)
            mirror = float(self._evaluate(closure, grad=False)[0])
            self.recorder.count(forward=1)
            self._move(theta, self._alpha)
        new, fired_any = [], {"rising_loss": False}
        for i, alpha in enumerate(self._alpha):
            probe = Probe(
                alpha=alpha,
                omega=_Flat(self._omega[i]),  # type: ignore[index]
                value=value,
                grad=_Flat(_dense(grads[i], self._params()[i])),
                value_plus=value_plus,
                grad_plus=None if grads_plus is None else _Flat(_dense(grads_plus[i], self._params()[i])),
                hvp_plus=None if hvps is None else _Flat(hvps[i]),
                value_mirror=mirror,
            )
            alpha_next, fired = self._update(i, probe, value_plus)
            new.append(alpha_next)
            fired_any["rising_loss"] |= fired["rising_loss"]
        self._finish(new, fired_any["rising_loss"], value_plus, theta)

    def _finish(self, new: list[float], rejected: bool, value_plus: float, theta: Any) -> None:
        if rejected:
            self._restore(theta)
            self.recorder.rejected += 1
        elif not math.isfinite(value_plus):
            self._restore(theta)
            raise NonFiniteLossError(
                f"the loss at theta+ is {value_plus} and the rising-loss guard is off: the move was undone; "
                "use safeguards='default' (it shrinks alpha and retries) or lower the learning rate"
            )
        if not all(math.isfinite(a) for a in new):
            self._restore(theta)
            raise NonFiniteLossError(
                f"the next learning rates are {new} (0/0 or overflow in the pure formula): the move was "
                "undone; use safeguards='default'"
            )
        self._retry = rejected
        self._alpha = new

    def _update(self, group: int, probe: Probe, loss_next: float, **kw: Any) -> tuple[float, dict[str, bool]]:
        assert self._loss_start is not None
        ps = self._param_lists[group]
        dtype = ps[0].dtype if ps else None
        update = self._updates.get(dtype)
        if update is None:
            update = self._updates[dtype] = self.options.scalar(_eps(ps))
        alpha, fired = update(probe, loss_start=self._loss_start, loss_next=loss_next, **kw)
        self.recorder.fired(group, fired)
        return alpha, fired

    def _settle_lagged(
        self,
        value: float,
        grads: list[list[torch.Tensor | None]],
        known: bool,
        here: list[list[torch.Tensor]],
    ) -> bool:
        """Settle the last lagged move at theta_{t+1}: alpha_{t+1} from omega_{t+1}, or undo it.

        Returns whether the move was undone (and the retry move already made).
        """
        previous, self._previous = self._previous, None
        assert previous is not None and self._omega is not None
        value_t, loss_next = (previous["value"], value) if known else (0.0, 0.0)
        omega = self._omega
        if self._lagged_rejects(value_t, loss_next, undoable=previous["theta"] is not None):
            theta = previous["theta"]
            self._restore(theta)
            self._record(previous["value"])
            self._move(theta, self._alpha)
            self._previous = {"value": previous["value"], "theta": theta}
            self._publish()
            return True
        omega_next = self._directions(grads, here)
        self._alpha = _finite(
            [
                self._update(i, _lagged_probe(alpha, value_t, omega[i], omega_next[i]), loss_next)[0]
                for i, alpha in enumerate(self._alpha)
            ]
        )
        self._omega = omega_next
        self._retry = True  # omega_{t+1} is already the direction of this step
        return False

    def _lagged_rejects(self, value_t: float, loss_next: float, *, undoable: bool) -> bool:
        """The rising-loss test of the last lagged move; where it fires, the shrunk alphas are set.

        The core's ``next_alpha`` runs only where the guard fires (``options.rises``), on
        stand-in vectors (all inner products 1): the test reads loss values only.
        """
        if not (undoable and self.options.rises(loss_start=self._loss_start or 0.0, value=value_t,
                                                loss_next=loss_next)):  # fmt: skip
            return False
        ones = [1.0] * len(self._alpha)
        stand_in = _Gram(ones, ones, ones)
        trial = [
            self.options.update(
                stand_in.probe(i, alpha, value_t),
                loss_start=self._loss_start or 0.0,
                loss_next=loss_next,
                eps=1.0,
            )
            for i, alpha in enumerate(self._alpha)
        ]
        if not trial[0][1]["rising_loss"]:
            return False
        for i, (_, fired) in enumerate(trial):  # no omega_{t+1}: no estimate to count
            self.recorder.fired(i, {**fired, "curvature": False, "precision": False})
        self._alpha = [alpha for alpha, _ in trial]
        self.recorder.rejected += 1
        return True

    def _step_fast(self, value: float, grads: list[list[torch.Tensor | None]], known: bool) -> None:
        """``lagged`` in the "fast" mode: settle the last move, probe omega_{t+1}, move (no copy of theta)."""
        fast = self._fast
        assert fast is not None
        params = self._params()
        if self.options.rule.kind == "fixed":  # the optimizer's own step at lr = alpha_0
            with torch.no_grad():
                for ps, gs in zip(params, grads, strict=True):
                    for p, g in zip(ps, gs, strict=True):
                        p.grad = g
                self.optimizer.step()
            self._record(value)
            return
        pending, fast.pending = fast.pending, None
        if pending is not None:
            value_t, loss_next = (pending["value"], value) if known else (0.0, 0.0)
            before = list(self._alpha)
            if self._lagged_rejects(value_t, loss_next, undoable=pending["undoable"] and known):
                fast.retry(params, before, self._alpha)
                self._record(pending["value"])
                fast.pending = pending
                self._publish()
                return
        decays = self._fast_probe(grads)
        gram = fast.settle(params, decays)
        if pending is not None:
            self._alpha = _finite(
                [
                    self._update(i, gram.probe(i, alpha, value_t), loss_next)[0]
                    for i, alpha in enumerate(self._alpha)
                ]
            )
        self._record(value)
        fast.move(params, self._alpha)
        fast.pending = {"value": value, "undoable": known}
        self._publish()

    def _fast_probe(self, grads: list[list[torch.Tensor | None]]) -> list[float]:
        """The zero probe into the free buffer: the parameters' storage swapped, not copied.

        Returns each group's decoupled weight decay (AdamW), which the probe leaves out.
        """
        fast = self._fast
        assert fast is not None
        saved = [(g["lr"], g.get("weight_decay")) for g in self._groups]
        kept, datas = [], []
        with torch.no_grad():
            for group, ps, gs, views in zip(self._groups, self._params(), grads, fast.free(), strict=True):
                decay, decoupled = self._decay(group)
                kept.append(decay if decoupled else 0.0)
                group["lr"] = 1.0
                for p, g, view in zip(ps, gs, views, strict=True):
                    p.grad = g if g is None or not decay or decoupled else g + decay * p
                    datas.append(p.data)
                    p.data = view
            try:
                self.optimizer.step()
            finally:
                for p, data in zip(self._flat, datas, strict=True):
                    p.data = data
                for group, (lr, old_decay) in zip(self._groups, saved, strict=True):
                    group["lr"] = lr
                    if old_decay is not None:
                        group["weight_decay"] = old_decay
        return kept

    # ------------------------------------------------------------------ the line search

    def _line_search(
        self,
        closure: Callable[[], Any],
        theta: list[list[torch.Tensor]],
        grads: list[list[torch.Tensor | None]],
    ) -> None:
        """alpha_t = the minimiser of the batch loss along omega_t (the oracle), then the guards."""
        from scipy.optimize import brentq

        assert self._omega is not None
        omega = self._omega[0]
        descent = float(_Flat(_dense(grads[0], self._params()[0])).dot(_Flat(omega)))
        sign = 1.0 if descent >= 0 else -1.0

        def slope(a: float) -> float:
            self._move(theta, [sign * a])
            _, g = self._evaluate(closure, grad=True)
            self.recorder.count(forward=1, backward=1)
            s = -sign * float(_Flat(_dense(g[0], self._params()[0])).dot(_Flat(omega)))
            return s if math.isfinite(s) else 1.0

        guess = self._alpha[0] if math.isfinite(self._alpha[0]) and self._alpha[0] > 0 else 1.0
        proposal = math.nan
        if descent != 0:
            low, high = 0.0, guess
            for _ in range(64):
                s = slope(high)
                if s >= 0:
                    break
                low, high = high, 2 * high
            else:
                high = math.nan
            if math.isfinite(high):
                # to the parameters' precision: the slope's last digits are rounding beyond it
                rtol = 4 * max(torch.finfo(omega[0].dtype).eps, 2.0**-52)
                proposal = high if s == 0 else brentq(slope, low, high, xtol=1e-300, rtol=rtol, maxiter=200)
        self._restore(theta)
        probe = Probe(alpha=self._alpha[0], omega=_Flat(omega))
        self._alpha = [self._update(0, probe, math.nan, proposal=sign * proposal)[0]]


# ---------------------------------------------------------------------- helpers


class _Buffers:
    """Parameter-shaped tensors reused from step to step (a fresh 4 MB tensor costs page faults).

    ``theta`` and ``omega`` come in two sets used in turn: the set handed out is never the
    one still held (the pending lagged move's theta_t, the current omega_t).
    """

    def __init__(self) -> None:
        self.sets: dict[str, list[list[list[torch.Tensor]]]] = {}

    def other_than(self, name: str, held: Any, params: list[list[torch.Tensor]]) -> list[list[torch.Tensor]]:
        if name not in self.sets:
            self.sets[name] = [[[torch.empty_like(p) for p in ps] for ps in params] for _ in range(2)]
        first, second = self.sets[name]
        return second if held is first else first

    def scratch(self, params: list[list[torch.Tensor]]) -> list[list[torch.Tensor]]:
        if "scratch" not in self.sets:
            self.sets["scratch"] = [[[torch.empty_like(p) for p in ps] for ps in params]]
        return self.sets["scratch"][0]


class _FastLagged:
    """The "fast" mode's state: two flat buffers per group (a view per parameter), used in turn.

    One holds -omega_t (the last probe), the other (zero) receives -omega_{t+1}. The two
    are the rows of one (2, n) tensor, so both inner products of the new direction are one
    matrix-vector product that reads each row once; the move reads the new row and the
    parameters again, and the spent row is cleared: beyond what the optimizer itself does,
    each step reads the parameters' size four times and writes it twice.
    """

    def __init__(self, params: list[list[torch.Tensor]], rule: Rule) -> None:
        sets = 2 if rule.kind == "adaptive" else 0  # fixed: the optimizer's own step, no buffer
        self.pairs = [_pair_like(ps) for ps in params] if sets else []  # row k of group g: set k
        self.flat = [[pair[k] for pair in self.pairs] for k in range(sets)]
        self.views = [[_views(f, ps) for f, ps in zip(flats, params, strict=True)] for flats in self.flat]
        self.rows = [list(zip(self.pairs, flats, strict=True)) for flats in self.flat]  # set k: (pair, row k)
        self.current = 0  # the set that holds -omega_t
        self.norms = [math.nan] * len(params)  # |omega_t|^2 per group
        self.pending: dict[str, Any] | None = None  # the last move, settled at the next call

    def free(self) -> list[list[torch.Tensor]]:
        """The other set (zero: cleared by :meth:`settle`): the probe's parameters."""
        return self.views[1 - self.current]

    def settle(self, params: list[list[torch.Tensor]], decays: list[float]) -> _Gram:
        """Take the probed set as -omega_{t+1} (decoupled decay folded in): the inner products."""
        new = 1 - self.current
        with torch.no_grad():
            for views, ps, decay in zip(self.views[new], params, decays, strict=True):
                if decay:  # AdamW: omega = omega_adam + lambda theta
                    torch._foreach_add_(views, ps, alpha=-decay)
            # both inner products in one pass over the two sets: <row k, omega_{t+1}> for k = 0, 1
            dots = [torch.mv(pair, row).tolist() for pair, row in self.rows[new]]
            cross, norms = [d[self.current] for d in dots], [d[new] for d in dots]
            for flat in self.flat[self.current]:  # omega_t is spent: cleared for the next probe
                flat.zero_()
        gram = _Gram(self.norms, cross, norms)
        self.current, self.norms = new, norms
        return gram

    def move(self, params: list[list[torch.Tensor]], alphas: list[float]) -> None:
        """theta_g += alpha_g * (-omega_g): one fused multiply-add per parameter."""
        with torch.no_grad():
            for ps, views, alpha in zip(params, self.views[self.current], alphas, strict=True):
                torch._foreach_add_(ps, views, alpha=alpha)

    def retry(self, params: list[list[torch.Tensor]], before: list[float], after: list[float]) -> None:
        """theta_t - alpha' omega_t from theta_t - alpha omega_t, by one move of (alpha - alpha') omega_t."""
        with torch.no_grad():
            for ps, views, a, b in zip(params, self.views[self.current], before, after, strict=True):
                torch._foreach_add_(ps, views, alpha=b - a)

    def state(self) -> dict[str, Any]:
        return {
            "neg_omega": [f.clone() for f in self.flat[self.current]] if self.flat else [],
            "norms": list(self.norms),
            "pending": None if self.pending is None else dict(self.pending),
        }

    def load(self, state: Mapping[str, Any]) -> None:
        self.current = 0
        with torch.no_grad():
            for flat, saved in zip(self.flat[0] if self.flat else [], state["neg_omega"], strict=True):
                flat.copy_(saved)
            for flat in self.flat[1] if self.flat else []:
                flat.zero_()
        self.norms = [float(n) for n in state["norms"]]
        self.pending = None if state["pending"] is None else dict(state["pending"])


def _pair_like(params: list[torch.Tensor]) -> torch.Tensor:
    """Two zero rows of the group's size, each on a 64-byte line (BLAS reads unaligned rows slowly)."""
    first = params[0] if params else torch.empty(0)
    n = sum(int(p.numel()) for p in params)
    line = max(1, 64 // first.element_size())
    return torch.zeros(2, -(-n // line) * line, dtype=first.dtype, device=first.device)[:, :n]


def _views(flat: torch.Tensor, params: list[torch.Tensor]) -> list[torch.Tensor]:
    out, k = [], 0
    for p in params:
        out.append(flat[k : k + p.numel()].view(p.shape))
        k += int(p.numel())
    return out


class _Gram:
    """omega_t and omega_{t+1} of each group known through their inner products, as ``lagged`` reads them."""

    def __init__(self, norms: list[float], cross: list[float], norms_next: list[float]) -> None:
        self.norms, self.cross, self.norms_next = norms, cross, norms_next

    def probe(self, group: int, alpha: float, value: float) -> Probe:
        """The probe of group g (float64 scalars, as the core's ``next_alpha`` takes them on this path)."""
        cross = self.cross[group]
        table = {("w", "w"): self.norms[group], ("n", "w"): cross, ("w", "n"): cross}
        table["n", "n"] = self.norms_next[group]
        return Probe(
            alpha=_F64(alpha),
            value=_F64(value),
            omega=_Known({"w": 1.0}, table),
            omega_next=_Known({"n": 1.0}, table),
        )


class _Known:
    """A combination of named vectors whose inner products are a table: the core's ``dot`` on them.

    Seen by ``dot`` as a vector of one element (its short path, ``a[..., 0] * b[..., 0]``): the
    element is the vector itself, and the product of two is their inner product from the table.
    """

    __slots__ = ("coef", "table")
    shape = (1,)

    def __init__(self, coef: dict[str, float], table: dict[tuple[str, str], float]) -> None:
        self.coef, self.table = coef, table

    def __getitem__(self, index: Any) -> _Known:
        return self

    def __sub__(self, other: _Known) -> _Known:
        coef = dict(self.coef)
        for name, c in other.coef.items():
            coef[name] = coef.get(name, 0.0) - c
        return _Known(coef, self.table)

    def __mul__(self, other: _Known) -> Any:
        """<self, other>, float64; e.g. <w - n, w> = 1 * 1 * <w, w> + (-1) * 1 * <n, w>."""
        table = self.table
        return _F64(sum(x * y * table[i, j] for i, x in self.coef.items() for j, y in other.coef.items()))


def _resolve_direction(direction: str, name: str, rule: Rule, params: list[list[torch.Tensor]]) -> str:
    """The direction mode: "auto" resolved; "fast" where it cannot serve is an OptionError."""
    one_kind = all(len({(p.dtype, p.device) for p in ps}) <= 1 for ps in params)
    if direction == "auto":
        if rule.name in FAST_RULES and name in ZERO_SAFE and one_kind:
            return "fast"
        return "zero" if name in ZERO_SAFE else "difference"
    if direction == "fast":
        why = (
            f"it serves the rules {FAST_RULES} (which read no loss at theta+), not {rule.name!r}"
            if rule.name not in FAST_RULES
            else f"it probes the optimizers of ZERO_SAFE from theta = 0, and {name} is not one"
            if name not in ZERO_SAFE
            else "it keeps one flat buffer per group, and a group mixes dtypes or devices"
            if not one_kind
            else None
        )
        if why is not None:
            raise OptionError(f'direction="fast" cannot serve here: {why}; use direction="auto"')
    return direction


def _all_finite(tensors: list[torch.Tensor]) -> bool:
    """Whether every element is finite: one read (the sums; inf or NaN anywhere makes one not
    finite), and the elements themselves only where a sum is not, which finite values can
    also give by overflow.

    >>> big = torch.full((2,), 3e38)
    >>> _all_finite([big]), _all_finite([torch.tensor([1.0, float("nan")])])
    (True, False)
    """
    if math.isfinite(torch.stack([t.sum() for t in tensors]).sum().item()):  # one sync
        return True
    return all(bool(torch.isfinite(t).all()) for t in tensors)


def _eps(params: list[torch.Tensor]) -> float:
    """The machine epsilon of a group's parameters (the precision guard's rounding bound)."""
    return float(torch.finfo(params[0].dtype if params else torch.get_default_dtype()).eps)


def _finite(alphas: list[float]) -> list[float]:
    """lagged's next alphas, or NonFiniteLossError (the alphas in use stay as they were)."""
    if not all(math.isfinite(a) for a in alphas):
        raise NonFiniteLossError(
            f"the next learning rates are {alphas} (0/0 in the pure formula): use safeguards='default'"
        )
    return alphas


def _copied(tensors: Any) -> Any:
    return None if tensors is None else [[t.clone() for t in ts] for ts in tensors]


def _given(grad: torch.Tensor | None, keep: bool) -> torch.Tensor | None:
    """The gradient handed to the wrapped optimizer: a copy where the wrapper reads it afterwards."""
    return grad.clone() if keep and grad is not None else grad


def _reads_plus(rule: Rule) -> bool:
    """Whether the rule reads the loss at theta+ or the mirror point (all adaptive rules but lagged)."""
    return bool(rule.needs & {"value_plus", "grad_plus", "hvp_plus", "value_mirror"})


def _lagged_probe(
    alpha: float, value: float, omega: list[torch.Tensor], omega_next: list[torch.Tensor]
) -> Probe:
    return Probe(alpha=alpha, omega=_Flat(omega), value=value, omega_next=_Flat(omega_next))


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, torch.Tensor) else value


def _check_loss(loss: Any) -> None:
    if not isinstance(loss, torch.Tensor):
        raise ClosureError(
            f"the closure returned {type(loss).__name__} {loss!r}, not a tensor: return the loss tensor "
            "itself (not loss.item()), so that taylorlr can differentiate it"
        )
    if loss.numel() != 1:
        raise ClosureError(
            f"the closure returned a tensor of shape {tuple(loss.shape)}, not one number: reduce it to "
            "the scalar loss (e.g. .mean() over the batch)"
        )


def _check_dense(grads: list[list[torch.Tensor | None]]) -> None:
    for i, gs in enumerate(grads):
        for g in gs:
            if g is not None and g.layout != torch.strided:
                raise ParameterError(
                    f"a parameter of group {i} got a sparse gradient ({g.layout}): the rules take inner "
                    "products with the direction, which taylorlr computes on dense tensors; build the "
                    "layer dense (nn.Embedding(..., sparse=False))"
                )


def _dense(grads: list[torch.Tensor | None], params: list[torch.Tensor]) -> list[torch.Tensor]:
    """A parameter the loss does not reach has a zero gradient (torch.optim leaves it alone)."""
    return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params, strict=True)]


class _Space:
    """The one array function the core's ``dot`` calls on long vectors: ``sum(a * b, axis=-1)``."""

    @staticmethod
    def sum(x: Any, axis: int = -1) -> Any:
        return x.total()


_SPACE = _Space()


class _Flat:
    """A group's vectors (one tensor per parameter) seen by the core's rules as one array of shape (n,).

    Supports what the rules do with vectors: +, -, products with numbers, and the core's
    ``dot`` (a lazy product summed in one pass per tensor; short vectors by element, as
    ``dot`` itself does).
    """

    __slots__ = ("parts", "shape")

    def __init__(self, parts: Any) -> None:
        self.parts = tuple(parts)
        self.shape = (sum(int(p.numel()) for p in self.parts),)

    def __array_namespace__(self, api_version: Any = None) -> _Space:
        return _SPACE

    def __add__(self, other: _Flat) -> _Flat:
        return _Flat(a + b for a, b in zip(self.parts, other.parts, strict=True))

    def __sub__(self, other: _Flat) -> _Flat:
        return _Flat(a - b for a, b in zip(self.parts, other.parts, strict=True))

    def __mul__(self, other: Any) -> Any:
        if isinstance(other, _Flat):
            return _Product(self, other)
        return _Flat(a * float(other) for a in self.parts)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> _Flat:
        return _Flat(a / float(other) for a in self.parts)

    def __getitem__(self, index: Any) -> Any:
        import numpy

        i = index[-1] if isinstance(index, tuple) else index
        for part in self.parts:
            if i < part.numel():
                return numpy.float64(part.reshape(-1)[i].item())
            i -= part.numel()
        raise IndexError(index)

    def dot(self, other: _Flat) -> Any:
        return _Product(self, other).total()

    def total(self) -> Any:
        import numpy

        return numpy.float64(sum(float(p.sum()) for p in self.parts))


class _Product:
    """a * b of two :class:`_Flat`, summed without forming it."""

    __slots__ = ("a", "b")

    def __init__(self, a: _Flat, b: _Flat) -> None:
        self.a, self.b = a, b

    def total(self) -> Any:
        import numpy

        return numpy.float64(
            sum(
                float(torch.dot(x.reshape(-1), y.reshape(-1)))
                for x, y in zip(self.a.parts, self.b.parts, strict=True)
            )
        )
