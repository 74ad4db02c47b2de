"""What the benchmark runs: taylorlr's rule x optimizer pairs and the baselines, as plain data.

A :class:`Solver` is a frozen record of text and numbers only, so a Dask worker can rebuild
the method from it (nothing pickled that a worker could not rebuild).

>>> solvers(("exact",), ("gd", "adam"), ("bfgs",))[1].label
'exact/adam'
>>> solvers(("exct",), ("gd",), ())
Traceback (most recent call last):
...
taylorlr.errors.OptionError: unknown rule 'exct' (did you mean 'exact'?): use one of [...]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from taylorlr.alpha._names import from_registry

#: the baselines: SciPy's BFGS and trust-exact on taylorlr's compiled gradient and Hessian,
#: and gradient descent with a constant learning rate (taylorlr's "fixed" rule)
BASELINES = ("bfgs", "trust-exact", "constant")


@dataclass(frozen=True, kw_only=True)
class Solver:
    """One column of the benchmark: a rule with an optimizer, or a baseline.

    Attributes:
        label: the name in tables and figures ("exact/gd", "bfgs", ...).
        kind: "rule" (taylorlr's engine) or "baseline".
        rule, optimizer: the names passed to :func:`taylorlr.run` ("" for a SciPy baseline).
        method: the SciPy method of a SciPy baseline ("BFGS", "trust-exact"), else "".
    """

    label: str
    kind: str
    rule: str = ""
    optimizer: str = ""
    method: str = ""

    @property
    def engine(self) -> bool:
        """Whether taylorlr's engine runs it (a rule, or the constant-rate baseline)."""
        return not self.method


def solvers(rules: Sequence[str], optimizers: Sequence[str], baselines: Sequence[str]) -> tuple[Solver, ...]:
    """Every rule x optimizer, then the baselines, checked against the registries.

    Raises:
        OptionError: an unknown rule, optimizer or baseline, with the nearest name.
    """
    from taylorlr.alpha.optimizers import OPTIMIZERS
    from taylorlr.alpha.rules import RULES

    for rule in rules:
        from_registry(RULES, rule, "rule")
    for optimizer in optimizers:
        from_registry(OPTIMIZERS, optimizer, "optimizer")
    found = [_baseline(name) for name in baselines]
    pairs = [Solver(label=f"{r}/{o}", kind="rule", rule=r, optimizer=o) for r in rules for o in optimizers]
    return (*pairs, *found)


def _baseline(name: Any) -> Solver:
    table = {
        "bfgs": Solver(label="bfgs", kind="baseline", method="BFGS"),
        "trust-exact": Solver(label="trust-exact", kind="baseline", method="trust-exact"),
        "constant": Solver(label="constant", kind="baseline", rule="fixed", optimizer="gd"),
    }
    return from_registry(table, name, "baseline")
