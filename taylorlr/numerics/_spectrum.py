"""What a batch of symmetric matrices H says per member, with eigenvalues only where needed.

The verdicts are defined by H's eigenvalues from ``eigvalsh`` (as they always were): H is
singular when min |lambda| <= tol * max |lambda|, ill-conditioned when max |lambda| / min |lambda|
exceeds 1/sqrt(eps), and the signs of the eigenvalues say minimum, maximum or saddle.

A cheap *certificate* settles most members without eigenvalues: bounds lower <= min |lambda| and
max |lambda| <= upper with the signs of the eigenvalues, exact for n = 1, the closed form of a
symmetric 2 x 2 (mean +- radius, accurate to a few eps * ||H||) for n = 2, and Weyl's bound
around the diagonal (true bounds, conclusive when the off-diagonal part is small beside the
smallest diagonal entry) for n >= 3. On a NumPy batch of at least :data:`FACTORED_FROM`
members with 3 <= n <= 12, the members Weyl's bound leaves get a second certificate, from an
LDL^T factorisation with symmetric diagonal pivoting (:mod:`taylorlr.numerics._inertia`: the
computed factors are exact for H + E with a bounded ||E||, Sylvester's law gives their inertia,
and a bound on ||L^-1|| gives min |lambda|; conclusive on most dense members, saddles included);
where Weyl's bound settles under half of a sample of the batch, its pass is skipped. A member is
*clear* when lower > (max(sqrt(eps), tol) * (1 + 1e-3) + 64 n eps) * upper and upper >= 2^-450
(2^-40 in float32: no bits lost to underflow): then it is neither singular nor
ill-conditioned by ``eigvalsh`` either, whose own error (a small multiple of n eps ||H||) is far
inside that margin, and the signs agree. Every other member (near-singular, ill-conditioned,
not finite, or where neither certificate is conclusive) gets ``eigvalsh`` and the eigenvalue
rule itself, so every route gives the same verdicts by construction, and each member's verdict
depends on that member alone.

>>> import numpy as np
>>> s = classify(np, np.array([[[2.0, 0.0], [0.0, 3.0]], [[1.0, 1.0], [1.0, 1.0]]]), 1e-15, "float64")
>>> s.singular.tolist(), s.minimum.tolist(), s.checked.tolist()
([False, True], [True, False], [1])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from taylorlr.compile.backends import quiet, to_numpy
from taylorlr.numerics._folds import across, contiguous, squares

#: unit roundoff per dtype
EPS = {"float64": 2.0**-52, "float32": 2.0**-23}
#: the certificate's relative margin on the thresholds, and its absolute margin in units of n eps
MARGIN, SLACK = 1e-3, 64
#: below this max |lambda| bound the certificate's squares and halves could lose bits to
#: underflow: such members go to ``eigvalsh``, which scales them
TINY = {"float64": 2.0**-450, "float32": 2.0**-40}
#: from this many members on (NumPy, 3 <= n <= 12), the members Weyl's bound leaves get the LDL^T
#: certificate of :mod:`taylorlr.numerics._inertia` (a compiled loop, built once per process, n
#: and dtype in 0.1-0.65 s); smaller batches keep Weyl's bound alone, which needs no build
FACTORED_FROM = 4096
#: members whose Weyl bounds decide whether its pass over a large batch is worth making
SAMPLE = 1024


@dataclass(frozen=True, kw_only=True)
class Spectrum:
    """The per-member verdicts: ``singular`` in the array namespace, the rest NumPy bool arrays.

    ``checked`` holds the flat indices of the members that went to ``eigvalsh`` and ``values``
    their eigenvalues; :meth:`eigenvalues` gives every member's when asked.
    """

    singular: Any
    minimum: Any
    maximum: Any
    ill: Any
    checked: Any
    values: Any = None

    def eigenvalues(self, xp: Any, H: Any) -> Any:
        """H's eigenvalues, ascending, (..., n): the checked members' from ``eigvalsh``; the others'
        from the closed form for n <= 2 (within a few eps ||H|| of ``eigvalsh``'s, and far enough
        from every threshold that the eigenvalue rule gives them the same verdicts), else
        from ``eigvalsh``."""
        import numpy

        n = H.shape[-1]
        if self.values is not None and self.checked.size == numpy.size(self.minimum):  # all checked
            return self.values
        if n > 2:
            return xp.linalg.eigvalsh(H)
        closed = _closed_form(xp, H)
        if not self.checked.size:
            return closed
        host = numpy.array(to_numpy(xp.reshape(closed, (-1, n))))  # a writable copy
        host[self.checked] = numpy.asarray(to_numpy(self.values))
        return xp.asarray(numpy.reshape(host, closed.shape))


def classify(
    xp: Any, H: Any, tol: float, dtype: str, frobenius2: Any = None, *, eigenvalues: bool = False
) -> Spectrum:
    """Singular, minimum, maximum and ill-conditioned per member of H (..., n, n).

    ``frobenius2``: ||H||_F^2 per member, when the caller has it already. ``eigenvalues``: the
    caller will read every member's eigenvalues; for n >= 3 they are then ``eigvalsh``'s on every
    member anyway, so the certificate is skipped and the labels are read from them (the same
    labels and eigenvalues, bit for bit; for n <= 2 the certificate and the closed form stay, as
    they cost less than ``eigvalsh``).
    """
    import numpy

    batch, n = tuple(H.shape[:-2]), H.shape[-1]
    if eigenvalues and n > 2:
        flat, minimum, maximum = (numpy.zeros(math.prod(batch), dtype=bool) for _ in range(3))
    else:
        clear, positive, negative = _certificate(xp, H, tol, dtype, frobenius2)
        flat = numpy.reshape(numpy.asarray(to_numpy(clear), dtype=bool), (-1,))
        minimum = numpy.reshape(numpy.asarray(to_numpy(positive), dtype=bool), (-1,)) & flat
        maximum = numpy.reshape(numpy.asarray(to_numpy(negative), dtype=bool), (-1,)) & flat
    singular = numpy.zeros(flat.shape, dtype=bool)
    ill = numpy.zeros(flat.shape, dtype=bool)
    rest = numpy.flatnonzero(~flat)
    values = None
    if rest.size:
        if rest.size == flat.size:
            values = xp.linalg.eigvalsh(H)
            flat_values = xp.reshape(values, (-1, n))
        else:
            stacked = xp.reshape(H, (-1, n, n))
            values = flat_values = xp.linalg.eigvalsh(_members(xp, stacked, rest))
        ruled = [numpy.asarray(to_numpy(v), dtype=bool) for v in _rule(xp, flat_values, tol, dtype)]
        if rest.size == flat.size:  # every member: the rule's arrays as they are
            singular, minimum, maximum, ill = (numpy.reshape(v, flat.shape) for v in ruled)
        else:
            for target, verdict in zip((singular, minimum, maximum, ill), ruled, strict=True):
                target[rest] = verdict
    return Spectrum(
        singular=xp.asarray(numpy.reshape(singular, batch)),
        minimum=numpy.reshape(minimum, batch),
        maximum=numpy.reshape(maximum, batch),
        ill=numpy.reshape(ill, batch),
        checked=rest,
        values=values,
    )


def _members(xp: Any, stacked: Any, rest: Any) -> Any:
    """The listed members of a stack: NumPy's fancy index gathers them from a strided view
    (its ``take`` copied the whole stack first: 18 ms for 24 members of 10^5 x 10 x 10)."""
    import numpy

    if isinstance(stacked, numpy.ndarray):
        return stacked[rest]
    return xp.take(stacked, xp.asarray(rest), axis=0)


def eigenvalue_rule(xp: Any, eigenvalues: Any, tol: float, dtype: str) -> tuple[Any, Any, Any, Any]:
    """The definition: singular, minimum, maximum, ill-conditioned from ascending eigenvalues.

    >>> import numpy as np
    >>> [v.tolist() for v in eigenvalue_rule(np, np.array([[-1.0, 2.0], [1e-9, 1.0]]), 1e-15, "float64")]
    [[False, False], [False, True], [False, False], [False, True]]
    """
    largest, smallest = _extremes(xp, eigenvalues)
    singular = smallest <= tol * largest
    condition = largest / xp.where(singular, xp.ones_like(smallest), smallest)
    ill = xp.logical_and(xp.logical_not(singular), condition > EPS[dtype] ** -0.5)
    return singular, eigenvalues[..., 0] > 0, eigenvalues[..., -1] < 0, ill


def _rule(xp: Any, eigenvalues: Any, tol: float, dtype: str) -> tuple[Any, Any, Any, Any]:
    """:func:`eigenvalue_rule` on (B, n) ascending eigenvalues: on a large float64 NumPy batch in one
    compiled pass (:mod:`taylorlr.numerics._rule`, the same verdicts), else as written."""
    from taylorlr.numerics._rule import rule

    verdicts = rule(eigenvalues, tol) if dtype == "float64" else None  # None: not a NumPy batch it serves
    return eigenvalue_rule(xp, eigenvalues, tol, dtype) if verdicts is None else verdicts


def _extremes(xp: Any, eigenvalues: Any) -> tuple[Any, Any]:
    """max |lambda| and min |lambda| of ascending eigenvalues: the larger and the smaller end's
    where all have one sign (the same numbers as a fold over every eigenvalue, which only members
    of both signs need: their smallest |lambda| lies inside).

    >>> import numpy as np
    >>> [v.tolist() for v in _extremes(np, np.array([[-3.0, 0.5, 2.0], [1.0, 2.0, 4.0]]))]
    [[3.0, 4.0], [0.5, 1.0]]
    """
    low, high = xp.abs(eigenvalues[..., 0]), xp.abs(eigenvalues[..., -1])
    largest, smallest = xp.maximum(low, high), xp.minimum(low, high)
    if eigenvalues.shape[-1] <= 2:
        return largest, smallest
    one_sign = xp.logical_or(eigenvalues[..., 0] > 0, eigenvalues[..., -1] < 0)
    if bool(xp.all(one_sign)):
        return largest, smallest
    return largest, across(xp, xp.abs(eigenvalues), xp.minimum)


def _certificate(xp: Any, H: Any, tol: float, dtype: str, frobenius2: Any) -> tuple[Any, Any, Any]:
    """(clear, all eigenvalues positive, all negative): the signs hold where ``clear`` does.

    For n >= 3 on a large NumPy batch, the members Weyl's bound leaves unsettled get the LDL^T
    certificate; where Weyl's bound settles under half of the first :data:`SAMPLE` members, its
    pass over the batch is skipped and every member gets the LDL^T one (the labels are the
    eigenvalue rule's on either route)."""
    n, eps = H.shape[-1], EPS[dtype]
    bound = max(eps**0.5, tol) * (1 + MARGIN) + SLACK * n * eps
    factorable = n >= 3 and _factorable(xp, H, dtype)
    if factorable and not _near_diagonal(xp, H, dtype, frobenius2, bound):
        import numpy

        unsettled = numpy.zeros(H.shape[:-2], dtype=bool)
        unbounded = numpy.full(H.shape[:-2], numpy.inf, dtype=H.dtype)
        return _factored(H, dtype, frobenius2, bound, (unsettled, unbounded, unsettled, unsettled))
    with quiet():  # an overflow gives inf or NaN, never clear; no warning about it
        lower, upper, positive, negative = _bounds(xp, H, dtype, frobenius2)
    clear = xp.logical_and(lower > bound * upper, upper >= TINY[dtype])
    if factorable:
        return _factored(H, dtype, frobenius2, bound, (clear, upper, positive, negative))
    return clear, positive, negative


def _factorable(xp: Any, H: Any, dtype: str) -> bool:
    """Whether the LDL^T certificate serves H: NumPy, at least :data:`FACTORED_FROM` members,
    its loop built (:func:`taylorlr.numerics._inertia.available`)."""
    import numpy

    if xp is not numpy or not isinstance(H, numpy.ndarray) or math.prod(H.shape[:-2]) < FACTORED_FROM:
        return False
    from taylorlr.numerics._inertia import available

    return available(H, dtype)


def _near_diagonal(xp: Any, H: Any, dtype: str, frobenius2: Any, bound: float) -> bool:
    """Whether Weyl's bound settles at least half of the first :data:`SAMPLE` members."""
    n = H.shape[-1]
    sample = xp.reshape(H, (-1, n, n))[:SAMPLE]
    total = None if frobenius2 is None else xp.reshape(frobenius2, (-1,))[:SAMPLE]
    with quiet():
        lower, upper, _, _ = _weyl(xp, sample, dtype, total)
    return 2 * int(xp.sum(xp.logical_and(lower > bound * upper, upper >= TINY[dtype]))) >= sample.shape[0]


def _factored(
    H: Any, dtype: str, frobenius2: Any, bound: float, weyl: tuple[Any, ...]
) -> tuple[Any, Any, Any]:
    """Weyl's (clear, upper, positive, negative), the members it leaves unsettled given the LDL^T
    certificate (:mod:`taylorlr.numerics._inertia`): the same test, lower > bound * upper and
    upper >= TINY, with upper the smaller of Weyl's and ||H||_F's bound."""
    import numpy

    from taylorlr.numerics._inertia import ldl_bounds, upper_bound

    clear, upper, positive, negative = weyl
    batch, n = tuple(H.shape[:-2]), H.shape[-1]
    members = numpy.flatnonzero(~clear)
    if not members.size:
        return clear, positive, negative
    flat = numpy.reshape(H, (-1, n, n))
    lower, sign = ldl_bounds(flat, dtype, members)
    with quiet():  # an overflow gives inf or NaN, never clear; no warning about it
        if frobenius2 is None:
            frobenius2 = squares(numpy, numpy.reshape(flat, (-1, n * n)))
        frobenius = upper_bound(numpy.reshape(frobenius2, (-1,))[members], n, dtype)
        top = numpy.minimum(numpy.reshape(upper, (-1,))[members], frobenius)
        settled = (lower > bound * top) & (top >= TINY[dtype])
    flags = [numpy.array(numpy.reshape(v, (-1,))) for v in (clear, positive, negative)]
    for target, value in zip(flags, (settled, sign > 0, sign < 0), strict=True):
        target[members] = value
    return tuple(numpy.reshape(v, batch) for v in flags)  # type: ignore[return-value]


def _bounds(xp: Any, H: Any, dtype: str, frobenius2: Any) -> tuple[Any, Any, Any, Any]:
    """lower <= min |lambda|, max |lambda| <= upper, all eigenvalues > 0, all < 0 (the signs
    hold where lower > 0)."""
    n = H.shape[-1]
    if n == 1:
        h = H[..., 0, 0]
        lower = upper = xp.abs(h)
        positive, negative = h > 0, h < 0
    elif n == 2:
        lower, upper, positive, negative = _two_by_two(xp, H)
    else:
        lower, upper, positive, negative = _weyl(xp, H, dtype, frobenius2)
    return lower, upper, positive, negative


def _two_by_two(xp: Any, H: Any) -> tuple[Any, Any, Any, Any]:
    """lambda = m -+ r with m = (a + c)/2, r = sqrt(((a - c)/2)^2 + b^2): |lambda|'s to a few
    eps ||H||. ``eigvalsh`` reads the lower triangle, so b is H[1, 0] here too. A square that
    overflows gives r = inf, and an overflow elsewhere inf or NaN, which is never clear; one that
    underflows moves r by at most 2^-536, far below eps * max |lambda| where that is above the
    certificate's floor 2^-450 (hypot would avoid both, at ten times the cost)."""
    m, r = _centre_and_radius(xp, H)
    low, high = m - r, m + r
    upper = xp.abs(m) + r
    return xp.minimum(xp.abs(low), xp.abs(high)), upper, low > 0, high < 0


def _centre_and_radius(xp: Any, H: Any) -> tuple[Any, Any]:
    a, b, c = H[..., 0, 0], H[..., 1, 0], H[..., 1, 1]
    half = 0.5 * a - 0.5 * c
    return 0.5 * a + 0.5 * c, xp.sqrt(half * half + b * b)


def _closed_form(xp: Any, H: Any) -> Any:
    """The eigenvalues of a 1 x 1 (its entry, as ``eigvalsh`` gives it) or a symmetric 2 x 2."""
    if H.shape[-1] == 1:
        return H[..., 0, :]
    with quiet():  # a checked member's square may overflow here: eigvalsh's values replace it
        m, r = _centre_and_radius(xp, H)
    return xp.stack([m - r, m + r], axis=-1)


def _weyl(xp: Any, H: Any, dtype: str, total: Any) -> tuple[Any, Any, Any, Any]:
    """H = D + E with D its diagonal: each sorted eigenvalue of H is within ||E||_2 <= ||E||_F = e
    of the same sorted diagonal entry (Weyl). Where every |h_ii| > e, min |lambda| >= min |h_ii| - e,
    max |lambda| <= max |h_ii| + e, and the eigenvalues' signs are the diagonal's. e comes from
    ||H||_F^2 - ||D||^2, with n^2 eps ||H||_F^2 added for the rounding of that difference.

    The diagonal is gathered in one pass over H (it lies spread across each member's entries)
    and laid out (n, ...), so that every fold below runs along axis 0 over contiguous rows."""
    n = H.shape[-1]
    flat = xp.reshape(H, (*H.shape[:-2], n * n))
    if total is None:
        total = squares(xp, flat)
    diagonal = contiguous(xp, xp.moveaxis(contiguous(xp, flat[..., :: n + 1]), -1, 0))  # (n, ...)
    spill = total - xp.sum(diagonal * diagonal, axis=0)
    e = xp.sqrt(xp.maximum(spill, xp.zeros_like(spill)) + (2 * n * n * EPS[dtype]) * total)
    low, high = xp.min(diagonal, axis=0), xp.max(diagonal, axis=0)
    positive, negative = low > 0, high < 0
    ends = xp.abs(low), xp.abs(high)  # max |h_ii| is at an end; so is min |h_ii| where all have one sign
    smallest = xp.minimum(*ends)
    if not bool(xp.all(xp.logical_or(positive, negative))):
        smallest = xp.min(xp.abs(diagonal), axis=0)
    return smallest - e, xp.maximum(*ends) + e, positive, negative
