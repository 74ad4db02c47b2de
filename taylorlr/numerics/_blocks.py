"""One Newton step's passes over H, block by block, when every member's eigenvalues are wanted.

With ``newton_step(..., eigenvalues=True)`` at n >= 3, every member gets ``eigvalsh``, the
eigenvalue rule, a stacked ``solve``, and the backward error's ||H||_F^2 and residual H s - g.
Run one after the other over the whole batch, each of these passes reads the kernel's packed g
and H (10^5 x 110 doubles at n = 10: 88 MB) back from memory and leaves (B,)- or (B, n)-sized
temporaries behind. Here they run over :data:`BLOCK` members at a time: a block's rows of g and H
stay in cache from the first pass to the last, its temporaries are reused by the next block, and
only the results (eigenvalues, step, new point, labels, backward error) go to the batch's arrays.
The stacked ``solve`` and ``eigvalsh`` (per-matrix LAPACK calls, 0.8 and 0.5 us each at n = 10)
stay the bulk of the time; this cuts what the step adds to them (docs/performance.md).

Every operation here works member by member (``eigvalsh``, ``solve`` and ``matmul`` per matrix,
dot products per row, elementwise ufuncs), and each is the one the unblocked path applies to that
member, so a member's numbers are the same bits in any block, in any batch, and on either path.
NumPy only: the namespaces of a GPU take the whole batch at once.

>>> import numpy as np
>>> H = np.stack([np.diag([2.0, 4.0, -1.0]), np.eye(3), np.diag([1.0, 1.0, 0.0]), np.full((3, 3), np.nan)])
>>> p = passes(np.zeros(4), np.ones((4, 3)), H, np.zeros((4, 3)), 1e-15, "float64")
>>> p.point[0].tolist(), p.eigenvalues[0].tolist(), p.singular.tolist(), p.nonfinite.tolist()
([-0.5, -0.25, 1.0], [-1.0, 2.0, 4.0], [False, False, True, False], [False, False, False, True])

"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taylorlr.compile.backends import quiet
from taylorlr.numerics._folds import all_finite, squares
from taylorlr.numerics._solve import _residual2, relative_error, solve
from taylorlr.numerics._spectrum import eigenvalue_rule

#: members per block: the block's packed rows of g and H (4096 x (n + n^2) doubles, 3.6 MB at
#: n = 10) stay in the L3 cache from the first pass to the last
BLOCK = 4096
#: the per-member verdicts, in the order of :attr:`Passes.masks`
MASKS = ("nonfinite", "singular", "minimum", "maximum", "ill")


@dataclass(frozen=True, kw_only=True)
class Passes:
    """Per member (flat, B members): what :func:`passes` found.

    ``masks`` (5, B) bools, rows in :data:`MASKS`' order: f, g or H not finite (H = I and g = 0
    stood in for them), and the eigenvalue rule's singular, minimum, maximum and ill-conditioned;
    no step was taken where "nonfinite" or "singular" holds (I in H's place). ``eigenvalues``,
    ``solved`` (H^-1 g) and ``point`` (w - solved) are (B, n); ``backward`` (B,) is the solve's
    backward error (:func:`~taylorlr.numerics._solve.relative_error`, 0 where no step was taken).
    """

    masks: Any
    eigenvalues: Any
    solved: Any
    point: Any
    backward: Any

    def __getattr__(self, name: str) -> Any:
        if name in MASKS:
            return self.masks[MASKS.index(name)]
        raise AttributeError(name)


def passes(value: Any, g: Any, H: Any, W: Any, tol: float, dtype: str) -> Passes:
    """Every member's eigenvalues, verdicts, step and backward error, :data:`BLOCK` at a time.

    ``value`` (B,), ``g`` (B, n), ``H`` (B, n, n), ``W`` (B, n): NumPy arrays, views read where
    they are (nothing is copied whole).
    """
    import numpy

    size, n = H.shape[0], H.shape[-1]
    found = Passes(
        masks=numpy.zeros((len(MASKS), size), dtype=bool), eigenvalues=numpy.empty((size, n), H.dtype),
        solved=numpy.empty((size, n), H.dtype), point=numpy.empty((size, n), H.dtype),
        backward=numpy.empty(size, H.dtype),
    )  # fmt: skip
    with quiet():
        for start in range(0, size, BLOCK):
            block = slice(start, min(start + BLOCK, size))
            _one_block(numpy, found, block, value[block], g[block], H[block], W[block], tol, dtype)
    return found


def _one_block(
    np: Any, found: Passes, block: slice, value: Any, g: Any, H: Any, W: Any, tol: float, dtype: str
) -> None:
    """One block's passes, its results written into ``found``'s rows ``block``."""
    size, n = H.shape[0], H.shape[-1]
    frobenius2, gradient2 = squares(np, np.reshape(H, (size, n * n))), squares(np, g)
    # a sum is finite only if its terms are: the common case, where no member is masked
    nonfinite = None
    if not np.isfinite(np.sum(value) + np.sum(gradient2) + np.sum(frobenius2)):
        finite = np.isfinite(value) & all_finite(np, g) & all_finite(np, np.reshape(H, (size, n * n)))
        nonfinite = np.logical_not(finite) if not finite.all() else None
    if nonfinite is not None:  # H = I, g = 0 where a member is not finite: no step, no NaN
        H = np.where(nonfinite[:, None, None], np.eye(n, dtype=H.dtype), H)
        g = np.where(nonfinite[:, None], 0.0, g)
        frobenius2, gradient2 = squares(np, np.reshape(H, (size, n * n))), squares(np, g)
        found.masks[0, block] = nonfinite
    values = np.linalg.eigvalsh(H)
    found.eigenvalues[block] = values
    rule = eigenvalue_rule(np, values, tol, dtype)
    for row, verdict in enumerate(rule, start=1):
        found.masks[row, block] = verdict
    no_step = rule[0] if nonfinite is None else rule[0] | nonfinite
    solved = solve(np, H, g, no_step)  # I in H's place where a member takes no step
    found.solved[block] = solved
    np.subtract(W, solved, out=found.point[block])
    residual2 = _residual2(np, H, g, solved)
    found.backward[block] = relative_error(np, residual2, frobenius2, squares(np, solved), gradient2, no_step)
