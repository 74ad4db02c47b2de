"""The demo's requests, validated: JSON objects whose every field has a type, a range and a size.

A request is refused as a whole (a :class:`RequestError`, answered 400 with a JSON error)
when its body is not a JSON object, names a field the endpoint does not know, or gives a
field of the wrong type, outside its range or too long. Fields left out take their defaults.

>>> schema = {"a": Number(low=-10, high=10, default=-1), "steps": Integer(low=1, high=50, default=5)}
>>> read_request(b'{"a": 2.5}', schema)
{'a': 2.5, 'steps': 5}
>>> read_request(b'{"a": 2.5, "z": 1}', schema)
Traceback (most recent call last):
...
taylorlr.demo.fields.RequestError: unknown field 'z': this endpoint takes a, steps
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from taylorlr.errors import OptionError

#: the largest request body read, in bytes
MAX_BODY = 8192


class RequestError(OptionError):
    """A demo request that is not what its endpoint takes; ``field`` names the culprit (None: the body)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Field(Protocol):
    """What a request field is: a default, and a reader that checks a given value."""

    @property
    def default(self) -> Any: ...

    def read(self, name: str, value: Any) -> Any: ...


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"{name} must be a number, got {_shown(value)}", field=name)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise RequestError(f"{name} must be a finite number, got {_shown(value)}", field=name)
    return number


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


@dataclass(frozen=True, kw_only=True)
class Number:
    """A finite number in [low, high]."""

    low: float
    high: float
    default: float

    def read(self, name: str, value: Any) -> float:
        number = _number(name, value)
        if not self.low <= number <= self.high:
            raise RequestError(f"{name} must be in [{self.low:g}, {self.high:g}], got {number:g}", field=name)
        return number


@dataclass(frozen=True, kw_only=True)
class Integer:
    """A whole number in [low, high] (an int, not a bool or a float)."""

    low: int
    high: int
    default: int

    def read(self, name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RequestError(f"{name} must be a whole number, got {_shown(value)}", field=name)
        if not self.low <= value <= self.high:
            raise RequestError(
                f"{name} must be in [{self.low}, {self.high}], got {_shown(value)}", field=name
            )
        return value


@dataclass(frozen=True, kw_only=True)
class Text:
    """A string of at most ``max_length`` characters."""

    max_length: int
    default: str

    def read(self, name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise RequestError(f"{name} must be a string, got {_shown(value)}", field=name)
        if len(value) > self.max_length:
            raise RequestError(
                f"{name} is {len(value)} characters long; the demo takes at most {self.max_length}",
                field=name,
            )
        return value


@dataclass(frozen=True, kw_only=True)
class Choice:
    """One of the names ``choices()`` gives (looked up when a request is read)."""

    choices: Callable[[], tuple[str, ...]]
    default: str

    def read(self, name: str, value: Any) -> str:
        names = self.choices()
        if value not in names:
            raise RequestError(f"{name} must be one of {', '.join(names)}, got {_shown(value)}", field=name)
        return str(value)


@dataclass(frozen=True, kw_only=True)
class Vector:
    """A list of ``min_length`` to ``max_length`` finite numbers, each in [low, high]."""

    low: float
    high: float
    min_length: int
    max_length: int
    default: tuple[float, ...]

    def read(self, name: str, value: Any) -> tuple[float, ...]:
        if not isinstance(value, list) or not self.min_length <= len(value) <= self.max_length:
            size = f"{self.min_length} to {self.max_length}" if self.min_length < self.max_length else "2"
            raise RequestError(f"{name} must be a list of {size} numbers, got {_shown(value)}", field=name)
        entry = Number(low=self.low, high=self.high, default=0.0)
        return tuple(entry.read(f"{name}[{k}]", v) for k, v in enumerate(value))


def read_request(body: bytes, schema: Mapping[str, Field]) -> dict[str, Any]:
    """The fields of a JSON request body, each read by its field of ``schema``, defaults filled in.

    Raises:
        RequestError: the body is too long, not JSON, not an object, or a field is unknown or bad.
    """
    if len(body) > MAX_BODY:
        raise RequestError(f"the request body is {len(body)} bytes; the demo reads at most {MAX_BODY}")
    try:
        given = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        reason = error.args[0] if isinstance(error, RequestError) else "the request body is not JSON"
        raise RequestError(str(reason)) from None
    if not isinstance(given, dict):
        raise RequestError(f"the request body must be a JSON object, got {_shown(given)}")
    unknown = sorted(set(given) - set(schema))
    if unknown:
        raise RequestError(
            f"unknown field {unknown[0]!r}: this endpoint takes {', '.join(schema)}", field=unknown[0]
        )
    return {
        name: field.read(name, given[name]) if name in given else field.default
        for name, field in schema.items()
    }


def _no_constant(name: str) -> Any:
    raise RequestError(f"{name} is not a finite number: the demo takes finite numbers only")
