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

from .errors import (
    BackendError,
    BudgetExceededError,
    LossDefinitionError,
    MissingDependencyError,
    OptionError,
    ParseError,
    PointError,
    SingularHessianError,
    TaylorLRError,
)

__version__ = "0.1.0"

# public name -> module that defines it; loaded on first access (PEP 562)
_LAZY = {
    "Loss": "loss",
    "Compiled": "compile",
    "parse": "parse",
    "resolve_backend": "backends",
    "newton_step": "newton_steps",
    "NewtonStep": "newton_steps",
    "newton": "newton_steps",
    "CriticalPoint": "analysis",
    "run": "engine",
    "Run": "engine",
    "Status": "engine",
    "Safeguards": "rules",
    "compare": "comparison",
    "Comparison": "comparison",
}

__all__ = [
    "BackendError",
    "BudgetExceededError",
    "LossDefinitionError",
    "MissingDependencyError",
    "OptionError",
    "ParseError",
    "PointError",
    "SingularHessianError",
    "TaylorLRError",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'taylorlr' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
