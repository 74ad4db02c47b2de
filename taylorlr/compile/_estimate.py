"""Steps of a kernel's build that cannot be interrupted, started only when their estimate fits.

LLVM's machine-code generation and Python's ``compile`` of generated source are each one call
that no budget check can stop. Their cost is estimated from the size of what they are given
(measured on an idle machine, in CPU seconds), and the step starts only when that estimate fits
in what is left of the active budget (:func:`taylorlr._budget.reserve`). The budget is wall-clock
time, and on a loaded machine a CPU second takes longer: a :class:`Stopwatch` started with the
build measures how much of the wall-clock time so far the process actually ran, and scales the
estimate by it (a build that got half a core expects its next step to take twice its CPU time).

>>> watch = Stopwatch()
>>> watch.slowdown() >= 1.0
True
>>> watch.reserve(0.01, "a small step")  # outside any budget: nothing to check
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from taylorlr import _budget

#: below this much wall-clock time the ratio of wall to CPU time says nothing (timer resolution)
_SHORTEST_S = 0.05
#: the largest slowdown assumed (a process that ran a tenth of the time so far)
_MOST_SLOWDOWN = 10.0


@dataclass
class Stopwatch:
    """Wall-clock and CPU time since a build started."""

    wall: float = field(default_factory=time.monotonic)
    cpu: float = field(default_factory=time.process_time)

    def slowdown(self) -> float:
        """Wall-clock seconds per CPU second so far (at least 1; 1 when too little time has passed)."""
        wall = time.monotonic() - self.wall
        if wall < _SHORTEST_S:
            return 1.0
        cpu = max(time.process_time() - self.cpu, 1e-3)
        return min(max(wall / cpu, 1.0), _MOST_SLOWDOWN)

    def reserve(self, cpu_seconds: float, what: str) -> None:
        """Raise :class:`~taylorlr.errors.BudgetExceededError` now unless ``cpu_seconds`` of CPU, at
        this build's slowdown, fit in the active budget (no budget active: nothing to check)."""
        _budget.reserve(cpu_seconds * self.slowdown(), what)
