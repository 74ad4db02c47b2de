"""The routes by which ``classify`` can settle a member (each must give the eigenvalue rule's labels)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest import mock

from taylorlr.numerics import _spectrum

#: Weyl's bound alone (a small batch), Weyl's then the LDL^T certificate for the members it leaves,
#: and the LDL^T certificate for every member (Weyl's pass skipped, as on a batch far from diagonal)
ROUTES = ("weyl", "weyl, then ldl", "ldl")


@contextlib.contextmanager
def routed(route: str) -> Iterator[None]:
    """``classify`` takes ``route`` for n >= 3 on NumPy batches of any size, inside the block."""
    start = 2**62 if route == "weyl" else 1
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(_spectrum, "FACTORED_FROM", start))
        if route == "ldl":
            stack.enter_context(mock.patch.object(_spectrum, "_near_diagonal", lambda *args: False))
        elif route == "weyl, then ldl":
            stack.enter_context(mock.patch.object(_spectrum, "_near_diagonal", lambda *args: True))
        yield
