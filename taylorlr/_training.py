"""What the PyTorch and optax wrappers share: options, errors, the alpha update, the record.

Both wrappers run the core's own code for the learning rate: the rule's estimates
(:mod:`taylorlr.alpha.rules`) on the wrapper's vectors, then
:func:`taylorlr.alpha.safeguards.next_alpha` (the update and every guard) on float64
scalars. Nothing here imports torch or JAX.

>>> import numpy as np
>>> from taylorlr.alpha.rules import Probe
>>> options = TrainingOptions.build("retsinas", gamma=1.0, safeguards="none")
>>> probe = Probe(alpha=np.float64(0.5), omega=np.array([1.0]), grad=np.array([2.0]),
...               grad_plus=np.array([1.0]))
>>> alpha, fired = options.update(probe, loss_start=1.0, loss_next=0.25, eps=2.0**-52)
>>> alpha, fired["curvature"]
(1.0, False)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from taylorlr.alpha.rules import Probe, Rule, resolve_rule
from taylorlr.alpha.safeguards import FIRINGS, Safeguards, next_alpha, resolve_safeguards
from taylorlr.errors import OptionError, TaylorLRError

__all__ = [
    "PASSES",
    "ClosureError",
    "NonFiniteLossError",
    "ParameterError",
    "TrainingError",
    "TrainingHistory",
    "TrainingOptions",
]


class TrainingError(TaylorLRError, ValueError):
    """A training-loop wrapper (``taylorlr.torch``, ``taylorlr.optax``) was used in a way it cannot serve.

    One ``except`` clause catches every error of the wrappers' training loop:

    >>> import torch, taylorlr.torch as tlt
    >>> w = torch.nn.Parameter(torch.ones(1))
    >>> try:
    ...     tlt.TaylorLR(torch.optim.SGD([w], lr=0.1), rule="exact").step()  # no closure
    ... except TrainingError as error:
    ...     print(type(error).__name__, isinstance(error, ValueError))
    ClosureError True
    """


class ClosureError(TrainingError):
    """The closure (or ``value_fn``) is missing, or returned something other than one scalar loss.

    >>> import torch, taylorlr.torch as tlt
    >>> w = torch.nn.Parameter(torch.ones(3))
    >>> tlt.TaylorLR(torch.optim.SGD([w], lr=0.1)).step(lambda: w**2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    taylorlr._training.ClosureError: the closure returned a tensor of shape (3,), not one number: ...
    """


class ParameterError(TrainingError):
    """A parameter the rules cannot handle: no gradient, a sparse gradient, half precision.

    >>> import torch, taylorlr.torch as tlt
    >>> w = torch.nn.Parameter(torch.ones(2, dtype=torch.float16))
    >>> tlt.TaylorLR(torch.optim.SGD([w], lr=0.1))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    taylorlr._training.ParameterError: param group 0 holds a torch.float16 parameter: ...
    """


class NonFiniteLossError(TrainingError, ArithmeticError):
    """The loss or its gradient at the current parameters is inf or NaN; the parameters are unchanged.

    >>> import torch, taylorlr.torch as tlt
    >>> w = torch.nn.Parameter(torch.tensor([-1.0]))
    >>> opt = tlt.TaylorLR(torch.optim.SGD([w], lr=0.1))
    >>> opt.step(lambda: w.sqrt().sum())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    taylorlr._training.NonFiniteLossError: the loss at the current parameters is nan or its gradient ...
    >>> w.tolist()  # nothing moved
    [-1.0]
    """


#: rules whose estimates read loss values along one line: they set a single alpha for all groups
ONE_LINE = ("value-gradient", "three-point", "line-search")


@dataclass(frozen=True, kw_only=True)
class TrainingOptions:
    """The rule, the safeguards and gamma of a wrapper, validated once.

    Attributes:
        rule: the :class:`~taylorlr.alpha.rules.Rule`.
        guards: the :class:`~taylorlr.alpha.safeguards.Safeguards` (the core's own object).
        gamma: slow adaptation in (0, 1].

    >>> options = TrainingOptions.build("retsinas", gamma=0.5, safeguards="none")
    >>> options.rule.name, options.gamma, options.guards.rising_loss  # None: the guard is off
    ('retsinas', 0.5, None)
    >>> TrainingOptions.build("exact", gamma=2.0, safeguards="default")
    Traceback (most recent call last):
    ...
    taylorlr.errors.OptionError: gamma must be a number in (0, 1], got 2.0
    """

    rule: Rule
    guards: Safeguards
    gamma: float

    @classmethod
    def build(
        cls,
        rule: str | Rule,
        *,
        gamma: float,
        safeguards: str | Safeguards,
        rule_options: Mapping[str, Any] | None = None,
    ) -> TrainingOptions:
        """Resolve names as ``tl.run`` does.

        Raises:
            OptionError: an unknown rule or safeguard setting, or gamma outside (0, 1].

        >>> TrainingOptions.build("three-point", gamma=0.5, safeguards="default").rule.label
        'three-point(gradient)'
        """
        ok = isinstance(gamma, (int, float)) and not isinstance(gamma, bool) and 0 < gamma <= 1
        if not ok:
            raise OptionError(f"gamma must be a number in (0, 1], got {gamma!r}")
        return cls(
            rule=resolve_rule(rule, **dict(rule_options or {})),
            guards=resolve_safeguards(safeguards),
            gamma=float(gamma),
        )

    def rises(self, *, loss_start: float, value: float, loss_next: float) -> bool:
        """Whether the rising-loss guard fires on these losses: its test in ``next_alpha``, on floats.

        A wrapper asks this before it spends a direction on the step (``lagged`` settles
        its last move at the next call); where it is True, ``update`` fires the guard too.

        >>> options = TrainingOptions.build("lagged", gamma=1.0, safeguards="default")
        >>> options.rises(loss_start=1.0, value=1.0, loss_next=21.0), options.rises(
        ...     loss_start=1.0, value=1.0, loss_next=21.5)
        (False, True)
        """
        bound = self.guards.rising_loss
        return bound is not None and not loss_next - value <= bound * (abs(loss_start) + abs(value))

    def update(
        self,
        probe: Probe,
        *,
        loss_start: float,
        loss_next: float,
        eps: float,
        proposal: float | None = None,
    ) -> tuple[float, dict[str, bool]]:
        """alpha_{t+1} and the guards that fired: the core's ``next_alpha`` on float64 scalars.

        ``eps`` is the machine epsilon of the parameters' dtype (the precision guard's
        rounding bound is that of the loss values the rule differences).
        """
        return self.scalar(eps)(probe, loss_start=loss_start, loss_next=loss_next, proposal=proposal)

    def scalar(self, eps: float) -> ScalarUpdate:
        """:meth:`update` for one eps, its constants built once (a wrapper keeps one per group).

        >>> import numpy as np
        >>> from taylorlr.alpha.rules import Probe
        >>> update = TrainingOptions.build("lagged", gamma=1.0, safeguards="none").scalar(2.0**-52)
        >>> f = np.float64  # alpha 0.5, |omega_t|^2 = 4, <omega_{t+1}, omega_t> = 1: 0.5 + 1 / (3 / 0.5)
        >>> update(Probe(alpha=0.5, omega=np.array([2.0]), omega_next=np.array([0.5]), value=f(1)),
        ...        loss_start=1.0, loss_next=1.0)[0]
        0.6666666666666666
        """
        return ScalarUpdate(self, eps)


class ScalarUpdate:
    """The core's ``next_alpha`` on one group's float64 scalars (:class:`~taylorlr.alpha._step.ScalarOps`).

    The rule, the guards, gamma and the ops are bound once; a call converts only the probe's
    scalars that are not float64 already (a wrapper's fast path hands them over as float64).

    >>> import numpy as np
    >>> from taylorlr.alpha.rules import Probe
    >>> update = ScalarUpdate(TrainingOptions.build("lagged", gamma=1.0, safeguards="default"), 2.0**-52)
    >>> same = Probe(alpha=np.float64(0.5), omega=np.ones(1), omega_next=np.ones(1), value=np.float64(1))
    >>> alpha, fired = update(same, loss_start=1.0, loss_next=1.0)  # curvature 0: the "grow" policy
    >>> alpha, fired["curvature"]
    (1.0, True)
    """

    __slots__ = ("float64", "gamma", "guards", "numpy", "ops", "rule")

    def __init__(self, options: TrainingOptions, eps: float) -> None:
        import numpy

        from taylorlr.alpha._step import ScalarOps

        self.numpy, self.float64 = numpy, numpy.float64
        self.rule, self.guards = options.rule, options.guards
        self.gamma, self.ops = numpy.float64(options.gamma), ScalarOps(eps)

    def __call__(
        self, probe: Probe, *, loss_start: float, loss_next: float, proposal: float | None = None
    ) -> tuple[float, dict[str, bool]]:
        scalar = self.float64
        values = (probe.value, probe.value_plus, probe.value_mirror)
        if type(probe.alpha) is not scalar or not all(type(v) is scalar or v is None for v in values):
            probe = replace(
                probe,
                alpha=scalar(probe.alpha),
                value=_as_scalar(probe.value),
                value_plus=_as_scalar(probe.value_plus),
                value_mirror=_as_scalar(probe.value_mirror),
            )
        with self.numpy.errstate(all="ignore"):  # 0/0 in the pure formula is a guard's business
            update = next_alpha(
                self.rule,
                probe,
                self.gamma,
                self.guards,
                loss_start=scalar(loss_start),
                loss_next=scalar(loss_next),
                proposal=None if proposal is None else scalar(proposal),
                ops=self.ops,
            )
        fired = update.fired
        return float(update.alpha), {name: bool(fired[name]) for name in FIRINGS}


def _as_scalar(value: Any) -> Any:
    import numpy

    return None if value is None else numpy.float64(value)


#: extra passes per step of each rule, beyond the one forward and backward at theta_t
#: that every optimizer makes (the minibatch form: theta+ is evaluated on the step's batch)
PASSES: dict[str, dict[str, int]] = {
    "exact": {"forward": 1, "backward": 1, "hvp": 1},
    "retsinas": {"forward": 1, "backward": 1, "hvp": 0},
    "value-gradient": {"forward": 1, "backward": 1, "hvp": 0},
    "three-point": {"forward": 2, "backward": 1, "hvp": 0},
    "three-point(values)": {"forward": 2, "backward": 0, "hvp": 0},
    "lagged": {"forward": 0, "backward": 0, "hvp": 0},
    "fixed": {"forward": 0, "backward": 0, "hvp": 0},
}


def extra_passes(rule: Rule) -> dict[str, int] | None:
    """The documented extra passes per step (per group for ``hvp``); None for a line search.

    >>> extra_passes(resolve_rule("three-point", numerator="values"))
    {'forward': 2, 'backward': 0, 'hvp': 0}
    """
    if rule.kind == "line-search":
        return None
    if rule.kind == "fixed":
        return dict(PASSES["fixed"])
    return {
        "forward": int("value_plus" in rule.needs or "grad_plus" in rule.needs or "hvp_plus" in rule.needs)
        + int("value_mirror" in rule.needs),
        "backward": int("grad_plus" in rule.needs or "hvp_plus" in rule.needs),
        "hvp": int("hvp_plus" in rule.needs),
    }


@dataclass
class Recorder:
    """The running record of a wrapper: alpha per step and group, firings per group, passes."""

    groups: int
    alphas: list[list[float]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    firings: list[dict[str, int]] = field(default_factory=list)
    passes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("forward", "backward", "hvp"), 0))
    rejected: int = 0

    def __post_init__(self) -> None:
        if not self.firings:
            self.firings = [dict.fromkeys(FIRINGS, 0) for _ in range(self.groups)]

    def count(self, **passes: int) -> None:
        for name, n in passes.items():
            self.passes[name] += n

    def fired(self, group: int, fired: Mapping[str, bool]) -> None:
        for name, hit in fired.items():
            self.firings[group][name] += int(hit)

    def snapshot(self) -> TrainingHistory:
        return TrainingHistory(
            alphas=tuple(tuple(a) for a in self.alphas),
            losses=tuple(self.losses),
            firings=tuple(dict(f) for f in self.firings),
            passes=dict(self.passes),
            rejected=self.rejected,
        )

    def state(self) -> dict[str, Any]:
        return {
            "alphas": [list(a) for a in self.alphas],
            "losses": list(self.losses),
            "firings": [dict(f) for f in self.firings],
            "passes": dict(self.passes),
            "rejected": self.rejected,
        }

    def load(self, state: Mapping[str, Any]) -> None:
        self.alphas = [list(a) for a in state["alphas"]]
        self.losses = list(state["losses"])
        self.firings = [dict(f) for f in state["firings"]]
        self.passes = dict(state["passes"])
        self.rejected = int(state["rejected"])


@dataclass(frozen=True, kw_only=True)
class TrainingHistory:
    """What a wrapper did, step by step.

    Attributes:
        alphas: per step, the alpha of each parameter group used for that step's move.
        losses: per step, the loss at theta_t on the step's batch (NaN without a closure).
        firings: per group, how often each safeguard fired (names of
            :data:`taylorlr.alpha.safeguards.FIRINGS`).
        passes: extra evaluations beyond the one forward and backward at theta_t per
            step: ``forward``, ``backward`` and ``hvp`` (double backward) passes.
        rejected: steps the rising-loss guard rejected (their move was undone).

    >>> TrainingHistory(alphas=((0.1,),), losses=(1.0,), firings=({},), passes={}, rejected=0).steps
    1
    """

    alphas: tuple[tuple[float, ...], ...]
    losses: tuple[float, ...]
    firings: tuple[dict[str, int], ...]
    passes: dict[str, int]
    rejected: int

    @property
    def steps(self) -> int:
        return len(self.alphas)


def check_alpha0(alpha0: Any, where: str) -> float:
    """A positive finite initial learning rate.

    Raises:
        OptionError: anything else, naming where it came from.
    """
    ok = isinstance(alpha0, (int, float)) and not isinstance(alpha0, bool) and 0 < alpha0 < math.inf
    if not ok:
        raise OptionError(f"the initial learning rate ({where}) must be a finite number > 0, got {alpha0!r}")
    return float(alpha0)
