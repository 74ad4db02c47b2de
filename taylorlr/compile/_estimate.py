"""Steps of a kernel's build that cannot be interrupted, started only when their estimate fits.

SymEngine's common subexpression elimination, LLVM's machine-code generation and Python's
``compile`` of generated source are each one call that no budget check can stop. Their cost is
estimated from the size of what they are given (measured on an idle machine, in CPU seconds), and
the step starts only when that estimate fits in what is left of the active budget
(:func:`taylorlr._budget.reserve`). The budget is wall-clock time, and on a loaded machine a CPU
second takes longer: a :class:`Stopwatch` started with the build scales the estimate by the larger
of two measures of that, the wall-clock seconds per CPU second the build has had so far (a build
that got half a core expects twice its CPU time) and the machine's load average per core (which
sees a load that began a moment ago, where the build's own ratio over a fraction of a second is
noise).

>>> watch = Stopwatch()
>>> watch.slowdown() >= 1.0
True
>>> watch.reserve(0.01, "a small step")  # outside any budget: nothing to check
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from taylorlr import _budget

#: below this much wall-clock time the ratio of wall to CPU time says nothing (timer resolution)
_SHORTEST_S = 0.05
#: the largest slowdown assumed (a process that ran a tenth of the time so far)
_MOST_SLOWDOWN = 10.0


def machine_load() -> float:
    """The one-minute load average per core this process may run on (0 where it is not known)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on Windows
        return 0.0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return load / max(cores or 1, 1)


@dataclass
class Stopwatch:
    """Wall-clock and CPU time since a build started."""

    wall: float = field(default_factory=time.monotonic)
    cpu: float = field(default_factory=time.process_time)

    def slowdown(self) -> float:
        """The expected wall-clock seconds per CPU second: the larger of this build's so far and the
        load average per core (at least 1, at most :data:`_MOST_SLOWDOWN`)."""
        wall = time.monotonic() - self.wall
        cpu = max(time.process_time() - self.cpu, 1e-3)
        own = wall / cpu if wall >= _SHORTEST_S else 1.0
        return min(max(own, machine_load(), 1.0), _MOST_SLOWDOWN)

    def reserve(self, cpu_seconds: float, what: str) -> None:
        """Raise :class:`~taylorlr.errors.BudgetExceededError` now unless ``cpu_seconds`` of CPU, at
        this build's slowdown, fit in the active budget (no budget active: nothing to check)."""
        if _budget.current() is not None:
            _budget.reserve(cpu_seconds * self.slowdown(), what)
