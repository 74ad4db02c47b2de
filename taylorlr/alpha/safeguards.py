"""Safeguards around the pure alpha formula, and :func:`next_alpha`, written once for both paths.

:func:`next_alpha` runs on the batch's arrays (the generic path) and, through the ops
adapter of :mod:`taylorlr.alpha._step`, on SymEngine symbols (the fused path compiles
the expressions it returns): one definition of the rule update and of every guard.

Array-only at import: loads neither SymPy nor NumPy.

>>> Safeguards().precision, Safeguards.none().precision
(16.0, None)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taylorlr.alpha._step import ArrayOps
from taylorlr.compile.backends import namespace_of
from taylorlr.errors import OptionError

if TYPE_CHECKING:
    from taylorlr.alpha.rules import Probe, Rule

CURVATURE_POLICIES = ("grow", "keep", "shrink", "formula")


@dataclass(frozen=True)
class Safeguards:
    """Explicit guards around the pure alpha formula; each firing is counted.

    Applied in this order to the candidate alpha' = alpha_t + gamma * s / c:

    1. ``precision``: when the curvature c is computed from differences of loss values
       (``three-point``, ``value-gradient``) and |c| is not larger than ``precision``
       times its rounding bound (eps times the sum of the magnitudes of the values it
       differences, over alpha^2), c carries no significant digit: the firing
       ``precision``, and alpha' follows the ``curvature`` policy below ("formula":
       alpha' = alpha_t). At tiny alpha these estimates are pure rounding.
    2. ``curvature``: when c <= 0 or c is not finite (the Newton step would head for a
       maximum of g_t, or divide by zero): "grow" alpha_t by ``grow`` (default: along
       a direction of negative curvature the loss falls faster than linearly, so a
       longer step is the right move, and guard 3 catches an overshoot), "keep"
       alpha_t, "shrink" it by ``shrink``, or "formula" (alpha' as it is: no guard).
    3. ``rising_loss``: when f(theta_{t+1}) - f(theta_t) > rising_loss * (|f(theta_0)| + |f(theta_t)|),
       or f(theta_{t+1}) is not finite, the step is *rejected* (the engine keeps
       theta_t, its gradient, direction and optimizer state) and alpha' = shrink * alpha_t:
       a backtracking step. The default 10 acts only on a blow-up an order of
       magnitude above the loss scale: gradient descent with gamma = 1 takes the
       Barzilai-Borwein step on quadratics, whose loss rises now and then by design,
       and a guard on every rise would break those healthy runs.
    4. ``factor_min``, ``factor_max``: alpha'/alpha_t is clipped to [factor_min, factor_max].
    5. ``alpha_min``, ``alpha_max``: alpha' is clipped to [alpha_min, alpha_max].

    ``None`` turns a guard off; ``Safeguards.none()`` (``safeguards="none"``) is the
    pure formula of the source document.

    Raises:
        OptionError: a bound that is not positive, min > max, or an unknown policy.

    >>> Safeguards(alpha_max=1.0).alpha_max, Safeguards.none().curvature
    (1.0, 'formula')
    """

    alpha_min: float | None = 1e-12
    alpha_max: float | None = 1e6
    factor_min: float | None = 1e-2
    factor_max: float | None = 1e2
    curvature: str = "grow"
    rising_loss: float | None = 10.0
    shrink: float = 0.1
    grow: float = 2.0
    precision: float | None = 16.0

    def __post_init__(self) -> None:
        for name in (
            "alpha_min", "alpha_max", "factor_min", "factor_max", "rising_loss", "shrink", "grow", "precision"
        ):  # fmt: skip
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and 0 < value < math.inf):
                raise OptionError(f"Safeguards.{name} must be a positive number or None, got {value!r}")
        for low, high in (("alpha_min", "alpha_max"), ("factor_min", "factor_max")):
            a, b = getattr(self, low), getattr(self, high)
            if a is not None and b is not None and a > b:
                raise OptionError(f"Safeguards.{low}={a} exceeds {high}={b}")
        if self.curvature not in CURVATURE_POLICIES:
            raise OptionError(
                f"Safeguards.curvature must be one of {CURVATURE_POLICIES}, got {self.curvature!r}"
            )

    @classmethod
    def none(cls) -> Safeguards:
        """The pure formula: no clamp, no curvature or precision policy, no rising-loss guard."""
        return cls(None, None, None, None, "formula", None, precision=None)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


#: names of the counters in :class:`~taylorlr.alpha.result.Run.safeguard_counts`
FIRINGS = ("curvature", "rising_loss", "factor_min", "factor_max", "alpha_min", "alpha_max", "precision")


def resolve_safeguards(safeguards: str | Safeguards) -> Safeguards:
    """``"default"``, ``"none"`` or a :class:`Safeguards`.

    Raises:
        OptionError: any other value.

    >>> resolve_safeguards("default") == Safeguards()
    True
    """
    if isinstance(safeguards, Safeguards):
        return safeguards
    if safeguards == "default":
        return Safeguards()
    if safeguards == "none":
        return Safeguards.none()
    raise OptionError(f"safeguards must be 'default', 'none' or a tl.Safeguards(...), got {safeguards!r}")


def _dot(a: Any, b: Any) -> Any:
    from taylorlr.alpha.rules import dot

    return dot(a, b)


#: rule name -> the magnitude of the loss values its curvature differences, over alpha^2
#: (times eps: the rounding bound of the estimate); rules not listed have no precision guard
VALUE_DIFFERENCES: dict[str, Callable[[Any, Any], Any]] = {
    "three-point": lambda p, ops: (
        (ops.abs(p.value_plus) + ops.abs(p.value_mirror) + 2 * ops.abs(p.value)) / (p.alpha * p.alpha)
    ),
    "value-gradient": lambda p, ops: (
        2
        * (ops.abs(p.value) + ops.abs(p.value_plus) + ops.abs(p.alpha * _dot(p.grad_plus, p.omega)))
        / (p.alpha * p.alpha)
    ),
}


@dataclass(frozen=True)
class AlphaUpdate:
    """The next alpha and, per guard, where it fired (boolean arrays of the batch shape).

    A Newton step on g(alpha) = f(theta - alpha omega) for f = x**2 at theta+ = 1, alpha = 0.5,
    omega = 1: g' = -<grad f(theta+), omega> = -2, g'' = <omega, H omega> = 2, so alpha_{t+1} = 0.5 + 2/2.

    >>> import numpy as np
    >>> from taylorlr.alpha.rules import Probe, exact
    >>> p = Probe(alpha=np.array([0.5]), omega=np.array([[1.0]]), value=np.ones(1),
    ...           grad_plus=np.array([[2.0]]), hvp_plus=np.array([[2.0]]))
    >>> upd = next_alpha(exact(), p, 1.0, Safeguards(), loss_start=np.ones(1), loss_next=np.ones(1))
    >>> upd.alpha.tolist(), any(fired.any() for fired in upd.fired.values())
    ([1.5], False)
    """

    alpha: Any
    fired: Mapping[str, Any]


def next_alpha(
    rule: Rule,
    probe: Probe,
    gamma: Any,
    guards: Safeguards,
    *,
    loss_start: Any,
    loss_next: Any,
    proposal: Any = None,
    ops: Any = None,
) -> AlphaUpdate:
    """alpha_{t+1} = alpha_t + gamma * slope / curvature, then the safeguards in order.

    Args:
        rule: the rule; for "line-search" pass the oracle's alpha as ``proposal``.
        probe: what the rule needs at step t.
        gamma: slow adaptation in (0, 1], scalar or shape (...).
        guards: the safeguards.
        loss_start, loss_next: f(theta_0) and f(theta_{t+1}) for the rising-loss guard
            (where it fires, the caller must reject the step).
        proposal: the candidate alpha for rules that are not adaptive.
        ops: the operations (:mod:`taylorlr.alpha._step`); by default those of the
            arrays' namespace.

    Returns:
        An :class:`AlphaUpdate`.

    >>> import numpy as np
    >>> from taylorlr.alpha.rules import Probe, exact
    >>> p = Probe(alpha=np.array([1.0]), omega=np.array([[1.0]]), value=np.ones(1),
    ...           grad_plus=np.array([[-3.0]]), hvp_plus=np.array([[1.0]]))
    >>> upd = next_alpha(exact(), p, 1.0, Safeguards(), loss_start=np.ones(1), loss_next=np.ones(1))
    >>> upd.alpha.tolist(), upd.fired["curvature"].tolist(), upd.fired["factor_min"].tolist()
    ([0.01], [False], [True])
    """
    alpha = probe.alpha
    if ops is None:
        ops = ArrayOps(namespace_of(alpha), alpha.dtype)
    fired = dict.fromkeys(FIRINGS, ops.false(alpha))
    if rule.kind == "fixed":
        return AlphaUpdate(alpha, fired)
    factor = {"grow": guards.grow, "keep": 1.0, "shrink": guards.shrink, "formula": 1.0}[guards.curvature]
    if rule.kind == "line-search":
        candidate = proposal
        bad = ops.not_(ops.finite(candidate))
    else:
        assert rule.slope is not None and rule.curvature is not None
        curvature = ops.scalar(rule.curvature(probe))
        candidate = alpha + gamma * ops.scalar(rule.slope(probe)) / curvature
        bad = ops.not_(ops.gt(curvature, 0))
        differences = VALUE_DIFFERENCES.get(rule.name)
        if guards.precision is not None and differences is not None:
            bound = (guards.precision * ops.eps) * ops.scalar(differences(probe, ops))
            imprecise = ops.and_(ops.finite(curvature), ops.not_(ops.gt(ops.abs(curvature), bound)))
            fired["precision"] = imprecise
            bad = ops.and_(bad, ops.not_(imprecise))
            candidate = ops.where(imprecise, factor * alpha, candidate)
    if guards.curvature != "formula":
        fired["curvature"] = bad
        candidate = ops.where(bad, factor * alpha, candidate)
    if guards.rising_loss is not None and rule.kind != "line-search":
        scale = ops.abs(loss_start) + ops.abs(probe.value)
        fired["rising_loss"] = ops.not_(ops.le(loss_next - probe.value, guards.rising_loss * scale))
        candidate = ops.where(fired["rising_loss"], guards.shrink * alpha, candidate)
    bounds = []
    if rule.kind == "adaptive":
        bounds += [("factor_min", guards.factor_min, alpha), ("factor_max", guards.factor_max, alpha)]
    bounds += [("alpha_min", guards.alpha_min, 1.0), ("alpha_max", guards.alpha_max, 1.0)]
    for name, bound, scale in bounds:
        if bound is None:
            continue
        limit = bound * scale
        fired[name] = ops.lt(candidate, limit) if name.endswith("min") else ops.gt(candidate, limit)
        candidate = ops.where(fired[name], limit, candidate)
    return AlphaUpdate(candidate, fired)
