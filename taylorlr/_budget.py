"""A budget for the stages that can grow: a time deadline and size limits, checked cooperatively.

A long stage (derivatives, a Taylor polynomial, the critical points, an exact Newton step, a
compile) runs under a :class:`Budget` and calls :func:`check` (time) and :meth:`Budget.size`
(a term or node count against its limit) inside its loops. On expiry it raises a
:class:`~taylorlr.errors.BudgetExceededError` naming the stage, the time spent and the option
that raises the limit; a caller that has a partial answer (numeric critical points) catches it
and returns a status instead. The active budget is held in a context variable, so a stage deep
in the call tree checks it without the budget being threaded through every signature, and code
run outside any budget checks nothing. Pure Python: no SymPy, no NumPy.

>>> with Budget(stage="taylor", seconds=60).active():
...     check()          # well within the deadline: returns
>>> b = Budget(stage="taylor", seconds=60, max_terms=10, hint="lower the order")
>>> b.size(11, "terms of the polynomial")
Traceback (most recent call last):
...
taylorlr.errors.BudgetExceededError: budget exceeded in stage 'taylor': the terms of the polynomial \
would number 11 (limit max_terms=10); raise max_terms, or lower the order
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from taylorlr.errors import BudgetExceededError, OptionError

#: the default time budget of a stage that has no option of its own (seconds): far beyond what
#: a normal input needs, short enough that a runaway input ends
DEFAULT_SECONDS = 60.0
#: the default limit on the number of terms an expansion may produce
DEFAULT_MAX_TERMS = 200_000
#: the longest budget accepted (about 11.6 days), as the CLI's --budget
MAX_SECONDS = 1e6

_ACTIVE: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("taylorlr_budget", default=None)
#: the name messages give the time option: "budget_s" in the API, "--budget" under the CLI
_OPTION: contextvars.ContextVar[str] = contextvars.ContextVar("taylorlr_budget_option", default="budget_s")


@contextlib.contextmanager
def option_named(name: str) -> Iterator[None]:
    """Inside the block, budget messages name the time option ``name`` (the CLI's ``--budget``)."""
    token = _OPTION.set(name)
    try:
        yield
    finally:
        _OPTION.reset(token)


@dataclass
class Budget:
    """Time and size allowed to one stage.

    Attributes:
        stage: the stage's name, as error messages print it ("taylor", "critical points", ...).
        seconds: wall-clock seconds allowed, from construction (``time.monotonic``).
        option: the option that raises the time limit (``budget_s`` in the API, ``--budget`` in the CLI).
        max_terms: the most terms an expansion of this stage may produce.
        hint: what else helps (lower the order, fewer variables), added to size messages.
    """

    stage: str
    seconds: float = DEFAULT_SECONDS
    option: str = field(default_factory=lambda: _OPTION.get())
    max_terms: int = DEFAULT_MAX_TERMS
    hint: str = ""
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.seconds = validated_seconds(self.seconds, self.option)
        if not isinstance(self.max_terms, int) or isinstance(self.max_terms, bool) or self.max_terms < 1:
            raise OptionError(f"max_terms must be a positive integer, got {self.max_terms!r}")

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.seconds - self.elapsed)

    @property
    def expired(self) -> bool:
        return self.elapsed > self.seconds

    def check(self) -> None:
        """Raise :class:`BudgetExceededError` once the deadline has passed."""
        if self.expired:
            raise self.exceeded()

    def exceeded(self, what: str = "") -> BudgetExceededError:
        """The error for this stage's deadline (``what``: the step that was running)."""
        during = f" ({what})" if what else ""
        hint = f", or {self.hint}" if self.hint else ""
        return BudgetExceededError(
            f"budget exceeded after {self.elapsed:.1f} s in stage '{self.stage}'{during}: "
            f"the limit is {self.option}={self.seconds:g} s; raise {self.option}{hint}",
            stage=self.stage,
            option=self.option,
            elapsed_s=self.elapsed,
        )

    def reserve(self, seconds: float, what: str) -> None:
        """Raise now when fewer than ``seconds`` remain for a step that cannot be interrupted (``what``)."""
        if self.remaining < seconds:
            raise self.exceeded(f"{what} would need about {seconds:.1f} s more")

    def size(self, count: int, what: str) -> None:
        """Raise :class:`BudgetExceededError` when ``count`` (terms about to be built) exceeds max_terms."""
        self.check()
        if count > self.max_terms:
            hint = f", or {self.hint}" if self.hint else ""
            raise BudgetExceededError(
                f"budget exceeded in stage '{self.stage}': the {what} would number {count:,} "
                f"(limit max_terms={self.max_terms:,}); raise max_terms{hint}",
                stage=self.stage,
                option="max_terms",
                elapsed_s=self.elapsed,
            )

    @contextlib.contextmanager
    def active(self) -> Iterator[Budget]:
        """Make this the budget that :func:`check` and :func:`current` see inside the block."""
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)


def current() -> Budget | None:
    """The active budget, or None outside any."""
    return _ACTIVE.get()


def check() -> None:
    """Check the active budget's deadline (nothing outside a budget): call it inside long loops."""
    budget = _ACTIVE.get()
    if budget is not None:
        budget.check()


def reserve(seconds: float, what: str) -> None:
    """Before a step that cannot be interrupted: raise unless ``seconds`` remain (no budget: no check)."""
    budget = _ACTIVE.get()
    if budget is not None:
        budget.reserve(seconds, what)


def check_size(count: int, what: str) -> None:
    """Check ``count`` against the active budget's max_terms (nothing outside a budget)."""
    budget = _ACTIVE.get()
    if budget is not None:
        budget.size(count, what)


def validated_seconds(seconds: float, option: str = "") -> float:
    """A positive, finite number of seconds, at most MAX_SECONDS, else an :class:`OptionError`.

    >>> validated_seconds(2)
    2.0
    """
    option = option or _OPTION.get()
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= MAX_SECONDS:
        raise OptionError(f"{option} must be a number of seconds in (0, {MAX_SECONDS:g}], got {seconds!r}")
    return float(seconds)


@contextlib.contextmanager
def ensure(stage: str, seconds: float = DEFAULT_SECONDS, **limits: object) -> Iterator[Budget]:
    """The active budget inside the block; a new one for ``stage`` when none is active.

    A stage called from inside another (derivatives inside critical points) shares its caller's
    deadline; called on its own it gets its default budget.
    """
    budget = _ACTIVE.get()
    if budget is not None:
        yield budget
        return
    with Budget(stage=stage, seconds=seconds, **limits).active() as fresh:  # type: ignore[arg-type]
        yield fresh
