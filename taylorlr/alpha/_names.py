"""Names at the edge: a registry lookup whose error suggests the nearest name.

>>> from_registry({"adam": 1, "adamw": 2}, "adma", "optimizer")
Traceback (most recent call last):
  ...
taylorlr.errors.OptionError: unknown optimizer 'adma' (did you mean 'adam'?): use one of ['adam', 'adamw']
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from taylorlr.errors import OptionError

T = TypeVar("T")


def suggestion(name: Any, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or ``""`` when none is close.

    >>> suggestion("retsina", ["exact", "retsinas"]), suggestion("zzz", ["exact"])
    (" (did you mean 'retsinas'?)", '')
    """
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def from_registry(registry: Mapping[str, T], name: Any, what: str, extra: str = "") -> T:
    """``registry[name]``, or an :class:`OptionError` naming the choices and the nearest one.

    Raises:
        OptionError: ``name`` is not in the registry.
    """
    found = registry.get(name) if isinstance(name, str) else None
    if found is None:
        raise OptionError(
            f"unknown {what} {name!r}{suggestion(name, registry)}: use one of {sorted(registry)}{extra}"
        )
    return found
