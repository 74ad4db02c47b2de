"""H s = g over a batch, closed forms for n <= 2, and the solve's backward error.

For n = 1 the step is g / h; for n = 2, Gaussian elimination with partial pivoting written
out elementwise (backward stable like LAPACK's, growth at most 2), which costs a few ufuncs
instead of a stacked ``solve``'s per-matrix calls. Where a member is singular, the identity
stands in for H (no NaN); the caller discards that member's step.

>>> import numpy as np
>>> H = np.array([[[0.0, 2.0], [1.0, 1.0]]]); g = np.array([[4.0, 3.0]])
>>> s = solve(np, H, g, np.array([False]))
>>> s.tolist(), backward_error(np, H, g, s, np.array([False])).tolist()
([[1.0, 2.0]], [0.0])
"""

from __future__ import annotations

from typing import Any

from taylorlr.compile.backends import quiet
from taylorlr.numerics._folds import squares

#: members per block of the residual H s - g (8192 x 10 doubles: 640 KiB, within a core's cache)
BLOCK = 8192


def solve(xp: Any, H: Any, g: Any, singular: Any) -> Any:
    """H^-1 g per member, with the identity in place of H where ``singular`` holds."""
    n = H.shape[-1]
    any_singular = bool(xp.any(singular))
    if n > 2:
        if any_singular:
            H = xp.where(singular[..., None, None], xp.eye(n, dtype=H.dtype), H)
        return xp.linalg.solve(H, xp.expand_dims(g, axis=-1))[..., 0]
    entries = [[H[..., i, j] for j in range(n)] for i in range(n)]
    if any_singular:
        one, zero = xp.ones_like(entries[0][0]), xp.zeros_like(entries[0][0])
        entries = [[xp.where(singular, one if i == j else zero, e) for j, e in enumerate(row)]
                   for i, row in enumerate(entries)]  # fmt: skip
    with quiet():
        if n == 1:
            return g / entries[0][0][..., None]
        return _two_by_two(xp, entries, g)


def _two_by_two(xp: Any, entries: list[list[Any]], g: Any) -> Any:
    (a, p), (q, c) = entries
    g0, g1 = g[..., 0], g[..., 1]
    swap = xp.abs(q) > xp.abs(a)  # partial pivoting: the larger of column 0 leads
    u11, u12, r1 = xp.where(swap, q, a), xp.where(swap, c, p), xp.where(swap, g1, g0)
    o1, o2, r2 = xp.where(swap, a, q), xp.where(swap, p, c), xp.where(swap, g0, g1)
    ratio = o1 / u11
    x2 = (r2 - ratio * r1) / (o2 - ratio * u12)
    x1 = (r1 - u12 * x2) / u11
    return xp.stack([x1, x2], axis=-1)


def backward_error(xp: Any, H: Any, g: Any, s: Any, singular: Any, frobenius2: Any = None) -> Any:
    """||H s - g|| / (||H||_F ||s|| + ||g||) (Rigal and Gaches), 0 where no solve was made.
    ``frobenius2``: ||H||_F^2 per member, when the caller has it already."""
    n = H.shape[-1]
    residual2, step2, gradient2 = sums(xp, H, g, s)
    if frobenius2 is None:
        frobenius2 = squares(xp, xp.reshape(H, (*H.shape[:-2], n * n)))
    return relative_error(xp, residual2, frobenius2, step2, gradient2, singular)


def sums(xp: Any, H: Any, g: Any, s: Any) -> tuple[Any, Any, Any]:
    """(||H s - g||^2, ||s||^2, ||g||^2) per member. For NumPy at n >= 3, from one pass over H in a
    compiled loop (:mod:`taylorlr.numerics._residual`; its NumPy twin, the same bits, for small
    batches); elsewhere the residual in blocks and a dot product per norm."""
    import numpy

    if xp is numpy and H.shape[-1] >= 3:
        from taylorlr.numerics._residual import sums_of_squares

        return sums_of_squares(H, g, s)
    return _residual2(xp, H, g, s), squares(xp, s), squares(xp, g)


def relative_error(
    xp: Any, residual2: Any, frobenius2: Any, step2: Any, gradient2: Any, singular: Any
) -> Any:
    """||r|| / (||H||_F ||s|| + ||g||) from the squares ||r||^2, ||H||_F^2, ||s||^2 and ||g||^2 per
    member; 0 where ``singular`` holds or the scale is 0."""
    scale = xp.sqrt(frobenius2) * xp.sqrt(step2) + xp.sqrt(gradient2)
    ok = scale > 0
    if bool(xp.all(ok)) and not bool(xp.any(singular)):  # the common case: no member is zeroed
        return xp.sqrt(residual2) / scale
    error = xp.sqrt(residual2) / xp.where(ok, scale, xp.ones_like(scale))
    return xp.where(xp.logical_or(singular, xp.logical_not(ok)), xp.zeros_like(error), error)


def _residual2(xp: Any, H: Any, g: Any, s: Any) -> Any:
    """||H s - g||^2 per member, BLOCK members at a time: each block's (block, n) residual stays in
    cache and its memory is reused by the next, where one (..., n) residual for the whole batch
    would be fresh pages on every call (10^5 x 10: 8 MB, 2000 page faults). Each member's
    number is the same in any block.

    >>> import numpy as np
    >>> H = np.stack([np.eye(3) * 2.0] * 5); s = np.ones((5, 3)); g = np.ones((5, 3))
    >>> _residual2(np, H, g, s).tolist()
    [3.0, 3.0, 3.0, 3.0, 3.0]
    """
    batch, n = tuple(H.shape[:-2]), H.shape[-1]
    if n <= 2:  # short rows: entry by entry, no (..., n, n) temporaries
        return sum((_row(H, s, i) - g[..., i]) ** 2 for i in range(n))
    H, g, s = xp.reshape(H, (-1, n, n)), xp.reshape(g, (-1, n)), xp.reshape(s, (-1, n))
    size = H.shape[0]
    parts = []
    for start in range(0, max(size, 1), BLOCK):
        stop = min(start + BLOCK, size)
        residual = xp.matmul(H[start:stop, ...], xp.expand_dims(s[start:stop, ...], axis=-1))[..., 0]
        parts.append(squares(xp, residual - g[start:stop, ...]))
    return xp.reshape(parts[0] if len(parts) == 1 else xp.concat(parts), batch)


def _row(H: Any, s: Any, i: int) -> Any:
    """(H s)_i, entry by entry."""
    total = H[..., i, 0] * s[..., 0]
    for j in range(1, H.shape[-1]):
        total = total + H[..., i, j] * s[..., j]
    return total
