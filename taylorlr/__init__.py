"""taylorlr: exact second-order knowledge and fast numbers for analytic losses.

>>> import taylorlr as tl
>>> tl.Loss("x**2 + 3*x*y**2").hessian
Matrix([
[  2, 6*y],
[6*y, 6*x]])

Importing taylorlr loads no heavy library: SymPy, NumPy and the rest are
imported the first time a name that needs them is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from taylorlr.errors import (
    BackendError,
    BudgetExceededError,
    LossDefinitionError,
    MemoryBudgetError,
    MissingDependencyError,
    NotConvergedError,
    OptionError,
    ParseError,
    PointError,
    RunFailedError,
    SingularHessianError,
    TaylorLRError,
)

__version__ = "0.1.0"

# public name -> module that defines it; loaded on first access (PEP 562)
_LAZY = {
    "Loss": "loss",
    "Compiled": "compile.compiled",
    "parse": "symbolic.parse",
    "resolve_backend": "compile.backends",
    "newton_step": "numerics.newton",
    "NewtonStep": "numerics.newton",
    "newton": "numerics.newton",
    "CriticalPoint": "analysis.critical_points",
    "CriticalPoints": "analysis.critical_points",
    "Kind": "kinds",
    "NewtonRun": "numerics.newton",
    "run": "alpha.engine",
    "Run": "alpha.result",
    "Status": "alpha.result",
    "Rule": "alpha.rules",
    "Optimizer": "alpha.optimizers",
    "Safeguards": "alpha.safeguards",
    "compare": "comparison",
    "Comparison": "comparison",
    "solve": "solution",
    "Solution": "solution",
    "benchmark": "benchmarking",
    "Benchmark": "benchmarking",
}

# public submodules reachable as attributes: ``tl.rules.retsinas(...)``, ``tl.optimizers.adam(...)``
_SUBMODULES = {"rules": "alpha.rules", "optimizers": "alpha.optimizers", "problems": "problems"}

__all__ = [
    "BackendError",
    "BudgetExceededError",
    "LossDefinitionError",
    "MemoryBudgetError",
    "MissingDependencyError",
    "NotConvergedError",
    "OptionError",
    "ParseError",
    "PointError",
    "RunFailedError",
    "SingularHessianError",
    "TaylorLRError",
    "__version__",
    *_LAZY,
    *_SUBMODULES,
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value = import_module(f".{_SUBMODULES[name]}", __name__)
        globals()[name] = value
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'taylorlr' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
