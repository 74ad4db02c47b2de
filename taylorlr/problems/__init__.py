"""Classic test problems with published optima: More-Garbow-Hillstrom's 35 and the 2-D zoo.

Each is a :class:`Problem` record: its loss (``.loss``, a :class:`taylorlr.Loss`), its standard
start ``x0``, its published minimum ``f_star`` (and minimisers ``x_star``), its size and the
citation. Scalable problems take their dimension parameters: ``get("watson", n=9)``.

>>> import taylorlr as tl
>>> p = tl.problems.get("rosenbrock")
>>> p.expression, p.x0, p.f_star
('(10*(x2 - x1**2))**2 + (1 - x1)**2', (-1.2, 1.0), 0.0)
>>> len(tl.problems.mgh()), [q.name for q in tl.problems.zoo()][:3]
(35, ['rosenbrock', 'beale', 'himmelblau'])
>>> tl.problems.get("rosenbrok")
Traceback (most recent call last):
...
taylorlr.errors.OptionError: no problem named 'rosenbrok'; did you mean 'rosenbrock' or 'extended_rosenbrock'?
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any

from taylorlr.errors import OptionError
from taylorlr.problems import _mgh, _zoo
from taylorlr.problems._record import MGH_CITATION, Problem

__all__ = ["MGH_CITATION", "Problem", "all", "get", "mgh", "names", "zoo"]

_REGISTRY: dict[str, Callable[..., Problem]] = {
    **{builder.__name__: builder for builder in _mgh.BUILDERS},
    **{builder.__name__: builder for builder in _zoo.BUILDERS},
}


def names() -> tuple[str, ...]:
    """Every problem's name: the 35 in the paper's order, then the zoo's own.

    >>> len(names()), names()[:2], names()[-1]
    (43, ('rosenbrock', 'freudenstein_roth'), 'mccormick')
    """
    return tuple(_REGISTRY)


def get(name: str, **sizes: int) -> Problem:
    """The problem called ``name`` (or ``"mgh10"`` for the paper's problem 10), at its sizes.

    Args:
        name: a name from :func:`names`, any case, or ``mgh<k>``.
        sizes: dimension parameters of a scalable problem (``n=...``, ``m=...``).

    Raises:
        OptionError: no such problem (with the nearest names), a size the problem does not take,
            or a size out of its range.

    >>> get("mgh20", n=9).f_star_text
    '1.39976e-6'
    """
    key = _canonical(name)
    builder = _REGISTRY.get(key)
    if builder is None:
        near = difflib.get_close_matches(key, _REGISTRY, n=3)
        hint = f"; did you mean {' or '.join(repr(x) for x in near)}?" if near else f"; the names: {names()}"
        raise OptionError(f"no problem named {name!r}{hint}")
    accepted = tuple(inspect.signature(builder).parameters)
    unknown = sorted(set(sizes) - set(accepted))
    if unknown:
        takes = f"takes only {accepted}" if accepted else "has a fixed size"
        raise OptionError(f"problem {key!r} {takes}; got {unknown}")
    return builder(**sizes)


def _canonical(name: Any) -> str:
    if not isinstance(name, str):
        raise OptionError(f"a problem name must be text, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key.startswith("mgh") and key[3:].isdigit() and 1 <= int(key[3:]) <= len(_mgh.BUILDERS):
        return _mgh.BUILDERS[int(key[3:]) - 1].__name__
    return key


def mgh() -> tuple[Problem, ...]:
    """The 35 problems of More, Garbow and Hillstrom (1981) at their default sizes, in order.

    >>> [p.number for p in mgh()] == list(range(1, 36))
    True
    """
    return tuple(builder() for builder in _mgh.BUILDERS)


def zoo() -> tuple[Problem, ...]:
    """The classic 2-D zoo (Rosenbrock and Beale are the paper's problems 1 and 5).

    >>> [(p.name, p.number) for p in zoo()][:3]
    [('rosenbrock', 1), ('beale', 5), ('himmelblau', None)]
    >>> {p.n for p in zoo()}
    {2}
    """
    return (_mgh.rosenbrock(), _mgh.beale(), *(builder() for builder in _zoo.BUILDERS))


def all() -> tuple[Problem, ...]:
    """Every problem once: the 35, then the zoo's own.

    >>> tuple(p.name for p in all()) == names()
    True
    """
    return (*mgh(), *(builder() for builder in _zoo.BUILDERS))
