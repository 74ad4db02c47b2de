"""The one check that a function was handed a loss (anything with the :class:`~taylorlr.Loss` protocol).

The numerics and the analysis sit below ``loss.py`` and take a loss by duck typing; a string or a
SymPy expression handed to them is a typed error that says how to build the loss.

>>> require_loss("x**2", "newton_step")
Traceback (most recent call last):
...
taylorlr.errors.OptionError: newton_step takes a tl.Loss, got str 'x**2': build it with tl.Loss('x**2')
"""

from __future__ import annotations

from typing import Any

from taylorlr.errors import OptionError


def require_loss(loss: Any, function: str) -> Any:
    """``loss`` itself when it has ``compile`` and ``variables``; else an OptionError naming the fix."""
    if hasattr(loss, "compile") and hasattr(loss, "variables"):
        return loss
    shown = repr(loss) if len(repr(loss)) <= 60 else repr(loss)[:57] + "..."
    raise OptionError(
        f"{function} takes a tl.Loss, got {type(loss).__name__} {shown}: build it with tl.Loss({shown})"
    )
