"""The record of an alpha-rule run: :class:`Status`, :class:`Counts`, :class:`SafeguardCounts`, :class:`Run`.

Array-only: importing this module loads neither SymPy nor NumPy.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from taylorlr._json import json_ready


class Status(enum.Enum):
    """How a batch member's run ended; ``.message`` says what to do about it."""

    CONVERGED = "converged"
    MAX_STEPS = "max_steps"
    DIVERGED = "diverged"
    NONFINITE = "nonfinite"

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    Status.CONVERGED: "the gradient norm fell to tol or below",
    Status.MAX_STEPS: "all steps ran without reaching tol: raise steps, or try another rule, gamma or alpha0",
    Status.DIVERGED: "the loss blew up: lower alpha0 or gamma, or use safeguards='default'",
    Status.NONFINITE: "a value, gradient or alpha became inf or NaN (overflow, or 0/0 in the pure formula): "
    "lower alpha0 or use safeguards='default'",
}
_CODES = (None, Status.CONVERGED, Status.MAX_STEPS, Status.DIVERGED, Status.NONFINITE)
_RUNNING, _CONVERGED, _MAX_STEPS, _DIVERGED, _NONFINITE = range(5)
COUNTED = ("values", "gradients", "hvps", "line_searches")


class _PerMember:
    """Per-member integer counters (a frozen dataclass of NumPy arrays of the batch shape)."""

    def totals(self) -> dict[str, int]:
        """Sums over the batch."""
        return {f.name: int(getattr(self, f.name).sum()) for f in fields(self)}  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return {f.name: json_ready(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class Counts(_PerMember):
    """Evaluations spent per batch member (NumPy int arrays of the batch shape).

    The oracle's evaluations (``oracle_alphas``) are a measurement, not part of
    the method, and are not counted. A count that is zero by construction (line
    searches of a rule that makes none, HVPs of a rule that uses none) may be a
    read-only array.
    """

    values: Any
    gradients: Any
    hvps: Any
    line_searches: Any


@dataclass(frozen=True)
class SafeguardCounts(_PerMember):
    """How many times each safeguard fired, per batch member (see :class:`~taylorlr.Safeguards`)."""

    curvature: Any
    rising_loss: Any
    factor_min: Any
    factor_max: Any
    alpha_min: Any
    alpha_max: Any


@dataclass(frozen=True)
class Run:
    """The record of a batched run (NumPy arrays, whatever the backend).

    Attributes:
        points: (steps+1, *batch, n); a stopped member repeats its last valid point.
        alphas: (steps+1, *batch); alphas[t] is used by step t, alphas[0] == alpha0
            (for "line-search", the oracle's alpha), alphas[steps] is the next one.
        oracle_alphas: (steps, *batch); the exact line-search alpha for step t's
            direction (NaN where a member had stopped; with ``oracle=False``, a
            read-only array of NaN).
        losses, grad_norms: (steps+1, *batch); f and ||grad f|| at the points (of the
            minibatch loss L_t in the stochastic form).
        status: (*batch) object array of :class:`Status`.
        stopped_at: (*batch) index of each member's last valid point; a DIVERGED or
            NONFINITE member failed in the step from that point.
        counts, safeguard_counts: see :class:`Counts`, :class:`SafeguardCounts`.
        rule, optimizer: labels; settings: the other options, for the record.
    """

    points: Any
    alphas: Any
    oracle_alphas: Any
    losses: Any
    grad_norms: Any
    status: Any
    stopped_at: Any
    counts: Counts
    safeguard_counts: SafeguardCounts
    rule: str
    optimizer: str
    oracle_method: str
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.status.shape)

    def messages(self) -> list[str]:
        """One line per batch member (flattened): status, step and advice."""
        lines = []
        for status, step in zip(self.status.ravel(), self.stopped_at.ravel(), strict=True):
            lines.append(f"{status.value} at step {int(step)}: {status.message}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: nested lists, NaN and infinities as None."""
        return {
            "rule": self.rule,
            "optimizer": self.optimizer,
            "oracle_method": self.oracle_method,
            "settings": {k: json_ready(v) for k, v in self.settings.items()},
            "points": json_ready(self.points),
            "alphas": json_ready(self.alphas),
            "oracle_alphas": json_ready(self.oracle_alphas),
            "losses": json_ready(self.losses),
            "grad_norms": json_ready(self.grad_norms),
            "status": [s.value for s in self.status.ravel()],
            "stopped_at": json_ready(self.stopped_at),
            "counts": self.counts.to_dict(),
            "safeguard_counts": self.safeguard_counts.to_dict(),
        }
