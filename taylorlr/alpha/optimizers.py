"""Base optimizers: pure (init, direction) pairs over arrays.

A base optimizer turns the gradient g_t into the direction omega_t that an
alpha rule scales: theta_{t+1} = theta_t - alpha_t omega_t. It has no learning
rate of its own (the rule supplies alpha_t). As in optax, an optimizer is two
pure functions over arrays of shape (..., n), batched over the leading axes:

* ``init(params) -> state``, a small frozen record of arrays;
* ``direction(grad, state, params) -> (omega, state)``.

Optimizers are stages that chain: ``adamw`` is ``adam`` followed by the
decoupled weight-decay stage, omega = omega_adam + lambda theta. Every function
uses only the array namespace of its inputs (``xp``), so the same code runs on
NumPy, CuPy and array-api-strict.

>>> import numpy as np
>>> opt = adam()
>>> state = opt.init(np.zeros(2))
>>> omega, state = opt.direction(np.array([3.0, -4.0]), state, np.zeros(2))
>>> np.round(omega, 6).tolist()  # the first Adam direction is the sign of g
[1.0, -1.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any

from taylorlr.alpha._names import from_registry
from taylorlr.compile.backends import is_array, namespace_of
from taylorlr.errors import OptionError

__all__ = [
    "OPTIMIZERS",
    "AdamState",
    "ChainState",
    "EmptyState",
    "Optimizer",
    "SquareState",
    "TraceState",
    "adagrad",
    "adam",
    "adamw",
    "add_decayed_weights",
    "chain",
    "custom",
    "gd",
    "is_identity",
    "momentum",
    "nesterov",
    "resolve_optimizer",
    "rmsprop",
    "select_state",
]

Init = Callable[[Any], Any]
Direction = Callable[[Any, Any, Any], tuple[Any, Any]]


@dataclass(frozen=True)
class Optimizer:
    """A base optimizer: ``init(params) -> state`` and ``direction(grad, state, params)``.

    Attributes:
        name: a label for tables ("adam", "adamw", "chain(...)").
        init: builds the state for params of shape (..., n).
        direction: returns (omega, new_state); pure, never mutates ``state``.
        hyperparameters: the validated settings, for the record.

    Raises:
        OptionError: an empty name, ``init`` or ``direction`` not callable, or a
            hyperparameter that is not a number.

    >>> Optimizer("sign", lambda p: EmptyState(), None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    taylorlr.errors.OptionError: optimizer 'sign': an optimizer needs two callables (init, direction), ...
    """

    name: str
    init: Init
    direction: Direction
    hyperparameters: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise OptionError(f"an optimizer needs a name, a non-empty string; got {self.name!r}")
        if not (callable(self.init) and callable(self.direction)):
            raise OptionError(
                f"optimizer {self.name!r}: an optimizer needs two callables (init, direction), "
                f"got {self.init!r}, {self.direction!r}"
            )
        for key, value in self.hyperparameters.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise OptionError(
                    f"optimizer {self.name!r}: hyperparameter {key!r} is {value!r}, not a number"
                )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **{k: float(v) for k, v in self.hyperparameters.items()}}


@dataclass(frozen=True)
class EmptyState:
    """The state of a stateless stage (gd, weight decay).

    >>> import numpy as np
    >>> gd().init(np.zeros(2))
    EmptyState()
    """


@dataclass(frozen=True)
class TraceState:
    """Momentum buffer m, shape (..., n).

    >>> import numpy as np
    >>> opt = momentum(0.5)
    >>> _, state = opt.direction(np.array([2.0, -4.0]), opt.init(np.zeros(2)), None)
    >>> _, state = opt.direction(np.array([2.0, -4.0]), state, None)
    >>> state.trace.tolist()  # m = 0.5 m + g, twice from 0
    [3.0, -6.0]
    """

    trace: Any


@dataclass(frozen=True)
class SquareState:
    """Accumulated squares of the gradient (RMSprop: moving average; Adagrad: sum).

    >>> import numpy as np
    >>> opt = adagrad()
    >>> _, state = opt.direction(np.array([3.0, -4.0]), opt.init(np.zeros(2)), None)
    >>> _, state = opt.direction(np.array([1.0, 2.0]), state, None)
    >>> state.squares.tolist()  # 3^2 + 1^2, 4^2 + 2^2
    [10.0, 20.0]
    """

    squares: Any


@dataclass(frozen=True)
class AdamState:
    """Adam's moments and its per-member step count (shape (...)) for bias correction.

    >>> import numpy as np
    >>> opt = adam(b1=0.5, b2=0.75)
    >>> _, state = opt.direction(np.array([3.0, -4.0]), opt.init(np.zeros(2)), None)
    >>> float(state.count), state.mu.tolist(), state.nu.tolist()  # mu = (1 - b1) g, nu = (1 - b2) g^2
    (1.0, [1.5, -2.0], [2.25, 4.0])
    >>> adam().init(np.zeros((5, 2))).count.shape  # one count per member of a batch of 5
    (5,)
    """

    count: Any
    mu: Any
    nu: Any


@dataclass(frozen=True)
class ChainState:
    """The states of chained stages, in order.

    >>> import numpy as np
    >>> [type(stage).__name__ for stage in adamw().init(np.zeros(2)).stages]
    ['AdamState', 'EmptyState']
    """

    stages: tuple[Any, ...]


def _check_unit_interval(name: str, value: float, *, closed_low: bool = True) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    low_ok = ok and (value >= 0 if closed_low else value > 0)
    if not (low_ok and value < 1):
        interval = "[0, 1)" if closed_low else "(0, 1)"
        raise OptionError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


def _check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not (value >= 0 if allow_zero else value > 0) or value != value or value == float("inf"):
        bound = ">= 0" if allow_zero else "> 0"
        raise OptionError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


def _zeros_like(params: Any) -> Any:
    return namespace_of(params).zeros_like(params)


def gd() -> Optimizer:
    """Gradient descent: omega_t = g_t.

    >>> import numpy as np
    >>> gd().direction(np.array([1.0, 2.0]), EmptyState(), None)[0].tolist()
    [1.0, 2.0]
    """
    return Optimizer("gd", _empty_init, _identity_direction)


def _empty_init(params: Any) -> EmptyState:
    return EmptyState()


def _identity_direction(g: Any, state: Any, params: Any) -> tuple[Any, Any]:
    return g, state


def is_identity(optimizer: Optimizer) -> bool:
    """Whether the direction is the gradient itself (``gd``): omega_t = g_t, stateless.

    The engine's fused step uses it to compute omega_{t+1} inside its kernel.

    >>> is_identity(gd()), is_identity(momentum())
    (True, False)
    """
    return optimizer.direction is _identity_direction


def momentum(beta: float = 0.9) -> Optimizer:
    """Heavy-ball momentum: m_t = beta m_{t-1} + g_t, omega_t = m_t.

    Args:
        beta: momentum coefficient in [0, 1).

    Raises:
        OptionError: beta outside [0, 1).

    >>> import numpy as np
    >>> opt = momentum(0.5)
    >>> s = opt.init(np.zeros(1))
    >>> w, s = opt.direction(np.array([2.0]), s, None)
    >>> opt.direction(np.array([2.0]), s, None)[0].tolist()
    [3.0]
    """
    return _trace("momentum", _check_unit_interval("beta", beta), nesterov=False)


def nesterov(beta: float = 0.9) -> Optimizer:
    """Nesterov momentum (gradient form): m_t = beta m_{t-1} + g_t, omega_t = g_t + beta m_t.

    Args:
        beta: momentum coefficient in [0, 1).

    Raises:
        OptionError: beta outside [0, 1).

    >>> import numpy as np
    >>> opt = nesterov(0.5)
    >>> opt.direction(np.array([2.0]), opt.init(np.zeros(1)), None)[0].tolist()
    [3.0]
    """
    return _trace("nesterov", _check_unit_interval("beta", beta), nesterov=True)


def _trace(name: str, beta: float, *, nesterov: bool) -> Optimizer:
    def direction(g: Any, state: TraceState, params: Any) -> tuple[Any, TraceState]:
        m = beta * state.trace + g
        return (g + beta * m if nesterov else m), TraceState(m)

    return Optimizer(name, lambda params: TraceState(_zeros_like(params)), direction, {"beta": beta})


def rmsprop(decay: float = 0.9, eps: float = 1e-8) -> Optimizer:
    """RMSprop: v_t = rho v_{t-1} + (1 - rho) g_t^2, omega_t = g_t / (sqrt(v_t) + eps).

    Args:
        decay: rho in [0, 1).
        eps: positive guard in the denominator.

    Raises:
        OptionError: decay outside [0, 1) or eps <= 0.

    >>> import numpy as np
    >>> opt = rmsprop(decay=0.0, eps=1e-12)
    >>> opt.direction(np.array([-3.0]), opt.init(np.zeros(1)), None)[0].round(6).tolist()
    [-1.0]
    """
    rho, eps = _check_unit_interval("decay", decay), _check_positive("eps", eps)

    def direction(g: Any, state: SquareState, params: Any) -> tuple[Any, SquareState]:
        v = rho * state.squares + (1 - rho) * g * g
        return g / (namespace_of(g).sqrt(v) + eps), SquareState(v)

    return Optimizer("rmsprop", lambda p: SquareState(_zeros_like(p)), direction, {"decay": rho, "eps": eps})


def adagrad(eps: float = 1e-8, initial: float = 0.0) -> Optimizer:
    """Adagrad: s_t = s_{t-1} + g_t^2, omega_t = g_t / (sqrt(s_t) + eps).

    Args:
        eps: positive guard in the denominator.
        initial: starting value of the accumulator s_0 (>= 0).

    Raises:
        OptionError: eps <= 0 or initial < 0.

    >>> import numpy as np
    >>> opt = adagrad(eps=1e-12)
    >>> opt.direction(np.array([4.0]), opt.init(np.zeros(1)), None)[0].round(6).tolist()
    [1.0]
    """
    eps = _check_positive("eps", eps)
    initial = _check_positive("initial", initial, allow_zero=True)

    def direction(g: Any, state: SquareState, params: Any) -> tuple[Any, SquareState]:
        s = state.squares + g * g
        return g / (namespace_of(g).sqrt(s) + eps), SquareState(s)

    def init(params: Any) -> SquareState:
        return SquareState(_zeros_like(params) + initial)

    return Optimizer("adagrad", init, direction, {"eps": eps, "initial": initial})


def adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """Adam: omega_t = m_hat_t / (sqrt(v_hat_t) + eps) with bias-corrected moments.

    m_t = b1 m + (1 - b1) g, v_t = b2 v + (1 - b2) g^2, m_hat = m_t / (1 - b1^t),
    v_hat = v_t / (1 - b2^t).

    Args:
        b1, b2: moment decays in [0, 1).
        eps: positive guard in the denominator.

    Raises:
        OptionError: a decay outside [0, 1) or eps <= 0.

    >>> adam(b1=0.95).hyperparameters["b1"]
    0.95
    """
    b1, b2 = _check_unit_interval("b1", b1), _check_unit_interval("b2", b2)
    eps = _check_positive("eps", eps)

    def init(params: Any) -> AdamState:
        xp = namespace_of(params)
        count = xp.zeros(params.shape[:-1], dtype=params.dtype)
        return AdamState(count, xp.zeros_like(params), xp.zeros_like(params))

    def direction(g: Any, state: AdamState, params: Any) -> tuple[Any, AdamState]:
        xp = namespace_of(g)
        count = state.count + 1
        mu = b1 * state.mu + (1 - b1) * g
        nu = b2 * state.nu + (1 - b2) * g * g
        mu_hat = mu / xp.expand_dims(1 - b1**count, axis=-1)
        nu_hat = nu / xp.expand_dims(1 - b2**count, axis=-1)
        return mu_hat / (xp.sqrt(nu_hat) + eps), AdamState(count, mu, nu)

    return Optimizer("adam", init, direction, {"b1": b1, "b2": b2, "eps": eps})


def add_decayed_weights(weight_decay: float) -> Optimizer:
    """The decoupled weight-decay stage: omega <- omega + lambda theta.

    Raises:
        OptionError: weight_decay < 0.

    >>> import numpy as np
    >>> stage = add_decayed_weights(0.5)
    >>> stage.direction(np.array([1.0]), EmptyState(), np.array([2.0]))[0].tolist()
    [2.0]
    """
    decay = _check_positive("weight_decay", weight_decay, allow_zero=True)

    def direction(updates: Any, state: EmptyState, params: Any) -> tuple[Any, EmptyState]:
        return updates + decay * params, state

    return Optimizer("weight_decay", lambda params: EmptyState(), direction, {"weight_decay": decay})


def chain(*stages: Optimizer, name: str | None = None) -> Optimizer:
    """Compose stages: each stage's direction is fed to the next as its "gradient".

    >>> import numpy as np
    >>> twice = chain(gd(), add_decayed_weights(1.0), name="gd+decay")
    >>> twice.direction(np.array([1.0]), twice.init(np.zeros(1)), np.array([3.0]))[0].tolist()
    [4.0]
    """
    if not stages:
        raise OptionError("chain needs at least one stage")

    def init(params: Any) -> ChainState:
        return ChainState(tuple(stage.init(params) for stage in stages))

    def direction(g: Any, state: ChainState, params: Any) -> tuple[Any, ChainState]:
        new_states = []
        for stage, stage_state in zip(stages, state.stages, strict=True):
            g, stage_state = stage.direction(g, stage_state, params)
            new_states.append(stage_state)
        return g, ChainState(tuple(new_states))

    settings = {k: v for stage in stages for k, v in stage.hyperparameters.items()}
    label = name or "chain(" + ", ".join(stage.name for stage in stages) + ")"
    return Optimizer(label, init, direction, settings)


def adamw(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, weight_decay: float = 1e-4) -> Optimizer:
    """AdamW: Adam followed by decoupled weight decay, omega_t = omega_adam + lambda theta_t.

    Raises:
        OptionError: a bad Adam setting or weight_decay < 0.

    >>> adamw(weight_decay=0.01).hyperparameters["weight_decay"]
    0.01
    """
    return chain(adam(b1, b2, eps), add_decayed_weights(weight_decay), name="adamw")


def custom(init: Init, direction: Direction, name: str = "custom") -> Optimizer:
    """Wrap a user-supplied (init, direction) pair.

    The state's arrays should carry the batch axes first, so that the engine can
    freeze stopped members of a batch.

    Raises:
        OptionError: ``init`` or ``direction`` is not callable.

    >>> import numpy as np
    >>> sign = custom(lambda p: EmptyState(), lambda g, s, p: (np.sign(g), s), name="sign")
    >>> sign.direction(np.array([-2.0]), EmptyState(), None)[0].tolist()
    [-1.0]
    """
    return Optimizer(name, init, direction)


#: name -> factory, for the edges (CLI, ``run(optimizer="adam")``) only.
OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    "gd": gd,
    "momentum": momentum,
    "nesterov": nesterov,
    "rmsprop": rmsprop,
    "adagrad": adagrad,
    "adam": adam,
    "adamw": adamw,
}


def resolve_optimizer(optimizer: str | Optimizer | tuple[Init, Direction], **options: Any) -> Optimizer:
    """An :class:`Optimizer` from a registry name (with options), an Optimizer or a pair.

    Raises:
        OptionError: unknown name (the error names the nearest one), options given
            with an object, or a bad option.

    >>> resolve_optimizer("momentum", beta=0.5).hyperparameters
    {'beta': 0.5}
    """
    if isinstance(optimizer, Optimizer):
        if options:
            raise OptionError(f"optimizer options {sorted(options)} apply only to a registry name")
        return optimizer
    if isinstance(optimizer, tuple) and len(optimizer) == 2:
        return custom(*optimizer)
    factory = from_registry(OPTIMIZERS, optimizer, "optimizer", " or an (init, direction) pair")
    try:
        return factory(**options)
    except TypeError as error:
        raise OptionError(f"bad options for optimizer {optimizer!r}: {error}") from error


def select_state(keep_new: Any, new: Any, old: Any) -> Any:
    """Per batch member, the new state where ``keep_new`` (shape (...)) holds, else the old one.

    Walks frozen dataclasses and tuples; arrays are selected with ``xp.where``
    (their leading axes are the batch axes).

    >>> import numpy as np
    >>> new, old = TraceState(np.ones((2, 1))), TraceState(np.zeros((2, 1)))
    >>> select_state(np.array([True, False]), new, old).trace.tolist()
    [[1.0], [0.0]]
    """
    if is_dataclass(new) and not isinstance(new, type):
        changes = {
            f.name: select_state(keep_new, getattr(new, f.name), getattr(old, f.name)) for f in fields(new)
        }
        return replace(new, **changes)
    if isinstance(new, tuple):
        return tuple(select_state(keep_new, a, b) for a, b in zip(new, old, strict=True))
    if not hasattr(new, "shape") or not is_array(new):
        return new
    xp = namespace_of(new)
    extra = new.ndim - keep_new.ndim
    if extra < 0:
        return new
    mask = xp.reshape(keep_new, tuple(keep_new.shape) + (1,) * extra)
    return xp.where(mask, new, old)
