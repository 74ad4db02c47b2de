"""The kind of a stationary point, shared by the exact analysis, source 000's demo and Newton.

:class:`Verdict` is the base of taylorlr's status enums: a ``str``-valued enum (so
``status == "converged"`` holds, and ``str()``, f-strings and JSON give the plain value)
whose members carry a ``.message`` of advice. :class:`Kind` is the one kind of a
stationary point, used by :mod:`taylorlr.analysis` and :mod:`taylorlr.numerics.newton`.

>>> Kind.SADDLE == "saddle", str(Kind.SADDLE), Kind("minimum") is Kind.MINIMUM
(True, 'saddle', True)
>>> Kind.INCONCLUSIVE.message[:34]
'the available tests do not settle '
"""

from __future__ import annotations

import enum
from typing import Any


class Verdict(str, enum.Enum):
    """A ``str``-valued enum whose members are declared as ``NAME = (value, message)``.

    >>> class Light(Verdict):
    ...     GREEN = ("green", "go on")
    ...     RED = ("red", "stop and wait")
    >>> Light.GREEN == "green", str(Light.RED), f"[{Light.RED:>5}]", Light.RED.message
    (True, 'red', '[  red]', 'stop and wait')
    >>> Light("green") is Light.GREEN
    True
    """

    _message: str

    def __new__(cls, value: str, message: str = "") -> Any:
        member = str.__new__(cls, value)
        member._value_ = value
        member._message = message
        return member

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @property
    def message(self) -> str:
        """What the verdict means, and what to do about it."""
        return self._message


class Kind(Verdict):
    """What kind of stationary point: from the Hessian's inertia, or a higher-order argument.

    >>> Kind.SADDLE == "saddle", Kind("minimum").message
    (True, 'a local minimum: f rises in every direction')
    """

    MINIMUM = ("minimum", "a local minimum: f rises in every direction")
    MAXIMUM = ("maximum", "a local maximum: f falls in every direction")
    SADDLE = ("saddle", "a saddle point: f rises in some directions and falls in others")
    INCONCLUSIVE = (
        "inconclusive",
        "the available tests do not settle the kind (a degenerate point): study the higher-order terms",
    )
