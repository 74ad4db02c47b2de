"""The line-search oracle: alpha* minimising g(alpha) = f(theta - alpha omega), exactly.

A measurement beside every run (``Run.oracle_alphas``) and the ``line-search`` rule
itself. For a polynomial loss, g is a polynomial in alpha whose coefficients are
derived once, symbolically, and compiled; each step then finds the real roots of
g'. Any other loss gets a bracketed golden-section search (a local answer).

>>> import numpy as np
>>> polynomial_line_minimum(np.array([[0.0, -2.0, 1.0]])).tolist()  # g = alpha^2 - 2 alpha
[1.0]
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from taylorlr.alpha.rules import dot
from taylorlr.compile.backends import namespace_of, to_numpy

__all__ = ["LineOracle", "build_line_oracle", "polynomial_line_minimum"]


@dataclass(frozen=True)
class LineOracle:
    """The exact line search: alpha* minimising g(alpha) = f(theta - alpha omega).

    "polynomial roots": alpha* is the local minimiser of g over alpha > 0 where g is lowest;
    when g has none (omega is not a descent direction and g has no dip further
    on), alpha* is the local minimiser nearest 0 on the negative side (where a
    Newton rule on g goes), and NaN when g has no local minimiser at all
    (unbounded along the line). A minimiser where g' has a multiple root is
    found to about eps^(1/3) only (the problem's own conditioning).

    "golden section (local)": a geometric grid from the guess brackets the best
    alpha on the side of the ray along which f falls at first, then golden
    section refines it; NaN when the best grid point is an end of the grid.

    Attributes:
        method: "polynomial roots" (exact, f polynomial) or
            "golden section (local)" (a bracketed scalar search otherwise).
        minimise: ``minimise(theta, omega, alpha_guess, data) -> alpha*`` over a batch.
    """

    method: str
    minimise: Callable[[Any, Any, Any, Mapping[str, Any]], Any]


def build_line_oracle(loss: Any, compiled: Any) -> LineOracle:
    """The line-search oracle for a :class:`~taylorlr.Loss` and its compiled functions, built once.

    Polynomial losses: the coefficients of g(alpha) = sum c_k(theta, omega) alpha^k
    are derived and compiled once (``loss.line_polynomial`` over symbols that no
    user name can reach); at run time the real roots of g' come from companion
    matrices (NumPy eigvals on stacks, on the host). Other losses: a geometric
    grid brackets the best alpha, then golden section.

    The oracle is cached per loss and compiled object: the next ``tl.run`` on the
    same loss reuses it (deriving the line polynomial is the costly part).

    >>> import numpy as np, sympy, taylorlr as tl
    >>> x = sympy.Symbol("x", real=True)
    >>> loss = tl.Loss((x**2 - 1)**2)
    >>> oracle = build_line_oracle(loss, loss.compile())
    >>> oracle.method, float(oracle.minimise(np.array([0.5]), np.array([-1.0]), np.array(0.1), {}))
    ('polynomial roots', 0.5)
    >>> build_line_oracle(loss, loss.compile()) is oracle
    True
    """
    try:
        per_loss = _ORACLES.setdefault(loss, {})
    except TypeError:  # a loss-like object that cannot be weakly referenced: no cache
        per_loss = {}
    oracle = per_loss.get(id(compiled))
    if oracle is None:
        if loss.is_polynomial:
            oracle = LineOracle("polynomial roots", _polynomial_minimiser(loss, compiled))
        else:
            oracle = LineOracle("golden section (local)", _golden_minimiser(compiled))
        per_loss[id(compiled)] = oracle  # the oracle holds ``compiled``, so its id stays unique
    return oracle


#: loss -> {id(compiled): oracle}; the entries live as long as their loss
_ORACLES: weakref.WeakKeyDictionary[Any, dict[int, LineOracle]] = weakref.WeakKeyDictionary()


def _polynomial_minimiser(loss: Any, compiled: Any) -> Callable[..., Any]:
    import sympy

    from taylorlr.compile.compiled import BatchedFunction
    from taylorlr.compile.xp_codegen import build_kernel

    # Dummy symbols equal nothing a user can write, whatever the variables are called
    direction = tuple(sympy.Dummy(f"u{i}", real=True) for i in range(loss.n))
    coefficients = list(loss.line_polynomial(direction))
    groups = [loss.variables, direction, *([loss.data] if loss.data else [])]
    kernel = build_kernel(coefficients, groups, generator="xp")
    n = loss.n
    function = BatchedFunction(
        kernel,
        (n, n),
        (len(coefficients),),
        compiled.backend,
        compiled.dtype,
        loss.names_of(loss.data),
        loss.reduction,
    )

    def minimise(theta: Any, omega: Any, alpha_guess: Any, data: Mapping[str, Any]) -> Any:
        xp = namespace_of(theta)
        c = to_numpy(function(theta, omega, data=data))
        best = polynomial_line_minimum(c)
        return xp.asarray(best, dtype=theta.dtype)

    return minimise


def polynomial_line_minimum(c: Any) -> Any:
    """The oracle's alpha* for polynomials g(alpha) = sum_k c[..., k] alpha^k (NumPy, batched).

    >>> import numpy as np
    >>> polynomial_line_minimum(np.array([[0.0, -2.0, 1.0], [0.0, 2.0, 1.0], [0.0, -1.0, 0.0]])).tolist()
    [1.0, -1.0, nan]
    """
    import numpy

    c = numpy.asarray(c, dtype=numpy.float64)
    batch, degree = c.shape[:-1], c.shape[-1] - 1
    flat = c.reshape(-1, degree + 1)
    slope = flat[:, 1:] * numpy.arange(1, degree + 1)  # g' coefficients, ascending
    roots = _real_roots(slope)
    with numpy.errstate(all="ignore"):
        for _ in range(2):  # polish with Newton on g'
            roots = roots - _horner(slope, roots) / _horner(_derivative(slope), roots)
        is_min = _horner(_derivative(slope), roots) > 0
        values = numpy.where(is_min, _horner(flat, roots), numpy.inf)
    positive = numpy.where(is_min & (roots > 0), values, numpy.inf)
    best_positive = numpy.take_along_axis(roots, numpy.argmin(positive, axis=1)[:, None], 1)[:, 0]
    negative = numpy.where(is_min & (roots <= 0), -roots, numpy.inf)
    nearest_negative = numpy.take_along_axis(roots, numpy.argmin(negative, axis=1)[:, None], 1)[:, 0]
    result = numpy.where(
        numpy.isfinite(positive).any(axis=1),
        best_positive,
        numpy.where(numpy.isfinite(negative).any(axis=1), nearest_negative, numpy.nan),
    )
    return result.reshape(batch)


def _derivative(p: Any) -> Any:
    import numpy

    if p.shape[1] <= 1:
        return numpy.zeros_like(p[:, :1])
    return p[:, 1:] * numpy.arange(1, p.shape[1])


def _horner(p: Any, x: Any) -> Any:
    """sum_k p[:, k] x^k for x of shape (B, r)."""
    result = 0 * x + p[:, -1:]
    for k in range(p.shape[1] - 2, -1, -1):
        result = result * x + p[:, k : k + 1]
    return result


def _real_roots(p: Any) -> Any:
    """Real roots of the polynomials p[b] (ascending coefficients), NaN-padded: shape (B, degree)."""
    import numpy

    count, size = p.shape
    out = numpy.full((count, max(size - 1, 1)), numpy.nan)
    scale = numpy.max(numpy.abs(p), axis=1, keepdims=True)
    significant = numpy.abs(p) > 1e-13 * scale
    degree = numpy.where(significant.any(axis=1), size - 1 - numpy.argmax(significant[:, ::-1], axis=1), 0)
    for m in numpy.unique(degree):
        if m < 1:
            continue
        rows = numpy.nonzero(degree == m)[0]
        monic = p[rows, :m] / p[rows, m : m + 1]
        companion = numpy.zeros((rows.size, m, m))
        companion[:, 0, :] = -monic[:, ::-1]
        companion[:, numpy.arange(1, m), numpy.arange(m - 1)] = 1.0
        eig = numpy.linalg.eigvals(companion)
        real = numpy.abs(eig.imag) <= 1e-7 * numpy.maximum(1.0, numpy.abs(eig.real))
        out[rows, :m] = numpy.where(real, eig.real, numpy.nan)
    return out


def _golden_minimiser(compiled: Any, grid_half_width: int = 40, iterations: int = 80) -> Callable[..., Any]:
    ratio = (math.sqrt(5.0) - 1.0) / 2.0

    def minimise(theta: Any, omega: Any, alpha_guess: Any, data: Mapping[str, Any]) -> Any:
        xp = namespace_of(theta, omega)
        descent = dot(compiled.grad(theta, **data), omega) >= 0
        sign = 2.0 * xp.astype(descent, theta.dtype) - 1.0
        ray = xp.expand_dims(sign, -1) * omega
        scale = xp.where(xp.isfinite(alpha_guess) & (alpha_guess > 0), alpha_guess, 1.0)

        def along(a: Any) -> Any:
            return compiled.value(theta - xp.expand_dims(a, -1) * ray, **data)

        powers = xp.asarray(
            [0.0] + [2.0**k for k in range(-grid_half_width, grid_half_width + 1)], dtype=theta.dtype
        )
        grid = xp.reshape(powers, (-1,) + (1,) * scale.ndim) * scale
        values = xp.stack([along(grid[i, ...]) for i in range(grid.shape[0])])
        values = xp.where(xp.isnan(values), xp.inf, values)
        k = xp.argmin(values, axis=0)
        last = grid.shape[0] - 1
        low = _take(xp, grid, xp.where(k > 0, k - 1, k))
        high = _take(xp, grid, xp.where(k < last, k + 1, k))
        for _ in range(iterations):
            left, right = high - ratio * (high - low), low + ratio * (high - low)
            go_left = along(left) < along(right)
            low, high = xp.where(go_left, low, left), xp.where(go_left, right, high)
        best = (low + high) / 2
        return xp.where((k == 0) | (k == last), xp.nan, sign * best)

    return minimise


def _take(xp: Any, grid: Any, index: Any) -> Any:
    """grid[index[b], b] for every batch member b (without take_along_axis)."""
    positions = xp.reshape(xp.arange(grid.shape[0]), (-1,) + (1,) * index.ndim)
    return xp.sum(xp.where(positions == index, grid, 0.0), axis=0)
