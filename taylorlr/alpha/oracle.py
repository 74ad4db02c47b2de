"""The line-search oracle: alpha* minimising g(alpha) = f(theta - alpha omega), exactly.

A measurement beside every run (``Run.oracle_alphas``) and the ``line-search`` rule
itself. For a polynomial loss of degree d, g' is a polynomial of degree d - 1 in alpha:
its coefficients come from the loss's own compiled gradient, g'(a) = -<grad f(theta - a omega),
omega> at d Chebyshev nodes (an exact interpolation, up to rounding), or, in the compiled round
of quartic and lower losses, from f's expression in Taylor mode along the line (no interpolation:
:func:`taylorlr.alpha._line_roots.slope_coefficients`); every step finds the real roots of g'
(closed forms up to degree 3, companion matrices above), then polishes the chosen one with one
Newton step on the true g'. Nothing is expanded symbolically, so the oracle costs little build
time beyond the loss's degree (found within :data:`BUILD_BUDGET_S`).
Any other loss, and polynomials above degree :data:`MAX_DEGREE`, get a bracketed
golden-section search (a local answer).

>>> import numpy as np
>>> polynomial_line_minimum(np.array([[0.0, -2.0, 1.0]])).tolist()  # g = alpha^2 - 2 alpha
[1.0]
"""

from __future__ import annotations

import functools
import math
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from taylorlr.alpha.rules import dot
from taylorlr.compile.backends import namespace_of, to_numpy
from taylorlr.errors import BudgetExceededError
from taylorlr.kinds import Verdict

__all__ = [
    "BUILD_BUDGET_S",
    "GOLDEN_TOLERANCE",
    "MAX_DEGREE",
    "LineOracle",
    "OracleMethod",
    "TiledMinimiser",
    "build_line_oracle",
    "polynomial_line_minimum",
]

#: seconds the oracle may spend finding a polynomial loss's degree before it falls back
BUILD_BUDGET_S = 5.0
#: the highest degree of a polynomial loss that gets the exact oracle (d gradient calls a step)
MAX_DEGREE = 12
#: a root found more than (1/2) RESCALE^(1/m) node scales away (m = the degree of g') is found
#: again from nodes on its own scale: the interpolation's error grows like (2 t)^m eps there,
#: and this keeps it below 1e-8 relative, which the final Newton step on the true g' squares
RESCALE = 1e8
#: at most this many rounds of nodes per member and step (most members need one)
ROUNDS = 3
#: a root that the Newton step on the true g' moves by more than this (relative) is found again
DISOWNED = 1e-6


class OracleMethod(Verdict):
    """How the oracle found alpha* (``Run.oracle_method``), with what that promises.

    >>> import taylorlr as tl
    >>> tl.run("x**4 + x", [1.0], steps=3).oracle_method
    <OracleMethod.POLYNOMIAL: 'polynomial roots'>
    >>> tl.run("exp(x) - 2*x", [1.0], steps=3).oracle_method.message.startswith("a local minimiser")
    True
    """

    POLYNOMIAL = (
        "polynomial roots",
        "exact to rounding: the best local minimiser of the line polynomial (f is a polynomial)",
    )
    GOLDEN = (
        "golden section (local)",
        "a local minimiser from a geometric grid and golden section (f is not a polynomial, or its "
        "degree is above MAX_DEGREE): not proved to be the best along the line",
    )
    OVER_BUDGET = (
        "golden section (local; the exact oracle was over its budget)",
        "f is a polynomial, but its degree was not found within the oracle's build budget "
        "(taylorlr.alpha.oracle.BUILD_BUDGET_S): the run went on with a local golden-section "
        "search; raise the budget for the exact alpha*",
    )


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
        method: an :class:`OracleMethod` (a str: "polynomial roots", "golden section (local)", ...).
        minimise: ``minimise(theta, omega, alpha_guess, data) -> alpha*`` over a batch.
        in_tiles: None, or ``in_tiles(columns)`` -> None or ``f(tiles, B) -> alpha*`` (B,) (a
            :class:`TiledMinimiser`): the
            same search on a state in simd_codegen's tiles layout read in place (the fused
            step's; ``columns``, a :class:`~taylorlr.alpha._line_roots.TileColumns`, says where
            theta, omega, the guess and the status are), NaN for the members not running.

    >>> import numpy as np, taylorlr as tl
    >>> loss = tl.Loss("exp(x) - 2*x")  # along omega = -1 from 0: g(alpha) = exp(alpha) - 2 alpha
    >>> oracle = build_line_oracle(loss, loss.compile())
    >>> alpha = oracle.minimise(np.array([0.0]), np.array([-1.0]), np.array(0.1), {})
    >>> str(oracle.method), round(float(alpha), 6)  # alpha* = log 2 = 0.693147...
    ('golden section (local)', 0.693147)
    """

    method: str
    minimise: Callable[[Any, Any, Any, Mapping[str, Any]], Any]
    in_tiles: Callable[[Any], Any] | None = None


def build_line_oracle(loss: Any, compiled: Any) -> LineOracle:
    """The line-search oracle for a :class:`~taylorlr.Loss` and its compiled functions, built once.

    Polynomial losses of degree d <= :data:`MAX_DEGREE`: g' is interpolated from the compiled
    gradient at d nodes every step and its real roots found in closed form or from companion
    matrices (NumPy, on the host). The only build step is the degree
    (``loss.line_degree``), bounded by :data:`BUILD_BUDGET_S`; past it the oracle is a
    golden-section search and says so (:attr:`OracleMethod.OVER_BUDGET`). Other losses: a
    geometric grid brackets the best alpha, then golden section.

    The oracle is cached per loss and compiled object: the next ``tl.run`` on the
    same loss reuses it.

    >>> import numpy as np, sympy, taylorlr as tl
    >>> x = sympy.Symbol("x", real=True)
    >>> loss = tl.Loss((x**2 - 1)**2)
    >>> oracle = build_line_oracle(loss, loss.compile())
    >>> alpha = float(oracle.minimise(np.array([0.5]), np.array([-1.0]), np.array(0.1), {}))
    >>> str(oracle.method), abs(alpha - 0.5) <= 2**-52  # the minimiser x = 1 is at alpha = 1/2, to rounding
    ('polynomial roots', True)
    >>> build_line_oracle(loss, loss.compile()) is oracle
    True
    """
    try:
        per_loss = _ORACLES.setdefault(loss, {})
    except TypeError:  # a loss-like object that cannot be weakly referenced: no cache
        per_loss = {}
    oracle = per_loss.get(id(compiled))
    if oracle is None:
        oracle = _build(loss, compiled)
        per_loss[id(compiled)] = oracle  # the oracle holds ``compiled``, so its id stays unique
    return oracle


#: loss -> {id(compiled): oracle}; the entries live as long as their loss
_ORACLES: weakref.WeakKeyDictionary[Any, dict[int, LineOracle]] = weakref.WeakKeyDictionary()


def _build(loss: Any, compiled: Any) -> LineOracle:
    if not loss.is_polynomial:
        return LineOracle(OracleMethod.GOLDEN, _golden_minimiser(compiled))
    try:
        degree = loss.line_degree(deadline=time.monotonic() + BUILD_BUDGET_S)
    except BudgetExceededError:
        return LineOracle(OracleMethod.OVER_BUDGET, _golden_minimiser(compiled))
    if degree > MAX_DEGREE:
        return LineOracle(OracleMethod.GOLDEN, _golden_minimiser(compiled))
    minimise, in_tiles = _polynomial_minimiser(compiled, degree, loss)
    return LineOracle(OracleMethod.POLYNOMIAL, minimise, in_tiles)


def _polynomial_minimiser(
    compiled: Any, degree: int, loss: Any = None
) -> tuple[Callable[..., Any], Callable[[Any], Any]]:
    """alpha* from g' interpolated at ``degree`` Chebyshev nodes around the guess' scale: the
    minimiser and its tiled form (:attr:`LineOracle.in_tiles`)."""
    import numpy

    if degree < 2:  # g is linear or constant: no local minimiser anywhere

        def nowhere(theta: Any, omega: Any, alpha_guess: Any, data: Mapping[str, Any]) -> Any:
            xp = namespace_of(theta)
            return xp.full(theta.shape[:-1], xp.nan, dtype=theta.dtype)

        return nowhere, lambda columns: None
    count = degree  # g' has degree - 1, so ``degree`` nodes determine it
    nodes = numpy.cos(numpy.pi * (numpy.arange(count) + 0.5) / count)
    solve = _roots_solver(nodes, compiled)
    reach = min(1e3, 0.5 * RESCALE ** (1 / (count - 1)))  # how far from the nodes a root is trusted

    def one_round(theta: Any, omega: Any, scale: Any, data: Mapping[str, Any]) -> tuple[Any, Any, Any, Any]:
        """(alpha*, g''(alpha*), root bound, the true g'(alpha*)) (B,) from g' at ``scale * nodes``."""
        xp = namespace_of(theta)
        step = xp.expand_dims(xp.asarray(scale, dtype=theta.dtype), -1) * omega
        values = [to_numpy(-dot(compiled.grad(theta - float(t) * step, **data), omega)) for t in nodes]
        t, curvature, bound = solve(numpy.stack(values, axis=-1))  # in units of scale
        alpha = t * scale
        at = xp.asarray(numpy.where(numpy.isfinite(alpha), alpha, 0.0), dtype=theta.dtype)
        slope = to_numpy(-dot(compiled.grad(theta - xp.expand_dims(at, -1) * omega, **data), omega))
        return alpha, curvature / scale, bound * scale, slope

    fused = _fused_round(loss, compiled, nodes)
    if fused is not None:
        one_round = fused

    def rounds(theta: Any, omega: Any, scale: Any, alpha: Any, rows: Any, data: Mapping[str, Any],
               count: int) -> None:  # fmt: skip
        """Up to ``count`` rounds for the members ``rows`` at ``scale``, into ``alpha`` (B,) in place."""
        xp = namespace_of(theta)
        with numpy.errstate(all="ignore"):
            for _ in range(count):
                if not rows.size:
                    break
                pick = xp.asarray(rows)
                at, along = (
                    (theta, omega)
                    if rows.size == scale.size
                    else (xp.take(theta, pick, axis=0), xp.take(omega, pick, axis=0))
                )
                found, curvature, bound, slope = one_round(at, along, scale[rows], data)
                polished, correction = _polish(found, curvature, slope)
                alpha[rows] = polished
                # a root far from the nodes, none seen (a coefficient may have drowned), or one the
                # true g' disowns: look again from nodes on the scale of what was found
                size = numpy.where(numpy.isnan(found), bound, numpy.abs(polished))
                far = (size > reach * scale[rows]) | (size < scale[rows] / reach) | (correction > DISOWNED)
                again = numpy.isfinite(size) & (size != 0) & far
                rows = rows[again]
                scale[rows] = size[again]

    def minimise(theta: Any, omega: Any, alpha_guess: Any, data: Mapping[str, Any]) -> Any:
        xp = namespace_of(theta)
        batch = tuple(numpy.broadcast_shapes(theta.shape[:-1], omega.shape[:-1], numpy.shape(alpha_guess)))
        n = theta.shape[-1]
        theta = xp.reshape(xp.broadcast_to(theta, batch + (n,)), (-1, n))
        omega = xp.reshape(xp.broadcast_to(omega, batch + (n,)), (-1, n))
        guess = numpy.broadcast_to(to_numpy(alpha_guess), batch).reshape(-1).astype(numpy.float64)
        tiled = in_tiles(_own_columns(n))
        if tiled is not None:  # the loop the fused step runs on its own tiles: the same bits
            return tiled(_as_tiles(theta, omega, guess), guess.size).reshape(batch)
        scale = numpy.where(numpy.isfinite(guess) & (guess != 0), numpy.abs(guess), 1.0)
        alpha = numpy.full(scale.shape, numpy.nan)
        rounds(theta, omega, scale, alpha, numpy.arange(scale.size), data, ROUNDS)
        return xp.asarray(alpha.reshape(batch), dtype=theta.dtype)

    built: dict[Any, Any] = {}  # columns -> the tiled minimiser: a loop compiled once per layout
    # the expressions, not the loss: the oracle is cached on the loss and must not keep it alive
    line = (loss.derivatives.gradient, loss.derivatives.variables, loss.derivatives.value) if fused else None

    def in_tiles(columns: Any) -> Callable[[Any, int], Any] | None:
        """``minimise`` on a tiled state read in place (see :attr:`LineOracle.in_tiles`)."""
        if line is None:
            return None
        if columns not in built:
            built[columns] = _tiled(line, nodes, reach, columns)
        return built[columns]

    return minimise, in_tiles


def _own_columns(n: int) -> Any:
    """The tiles :func:`_as_tiles` packs: theta, omega, the guess and a status (0: running)."""
    from taylorlr.alpha._line_roots import TileColumns

    return TileColumns(width=2 * n + 2, n=n, theta=0, omega=n, alpha=2 * n, code=2 * n + 1, running=0.0)


def _as_tiles(theta: Any, omega: Any, guess: Any) -> Any:
    """(B, n) theta and omega and the (B,) guess as a state in tiles (:func:`_own_columns`), padded."""
    import numpy

    from taylorlr.compile.simd_codegen import LANES

    size, n = theta.shape
    rows = numpy.zeros((-(-size // LANES) * LANES, 2 * n + 2))
    rows[:size, :n], rows[:size, n : 2 * n], rows[:size, 2 * n] = theta, omega, guess
    return numpy.ascontiguousarray(rows.reshape(-1, LANES, 2 * n + 2).transpose(0, 2, 1))


def _tiled(line: tuple[Any, Any, Any], nodes: Any, reach: float, columns: Any) -> Any:
    """Every round as one loop over tiles (:func:`taylorlr.alpha._line_roots.first_round_loop`): the
    first on the state read in place, the later ones on the members that look again, gathered into
    tiles of their own (:func:`_as_tiles`, the next scale as their guess)."""
    import numpy

    from taylorlr.alpha import _line_roots
    from taylorlr.compile import simd_codegen

    try:
        gradient, variables, value = line
        # the first round by the common path, the members it does not settle deferred to the whole loop
        loop = _line_roots.first_round_loop(
            gradient, variables, nodes, columns, reach, DISOWNED, value, lean=True
        )
        own = _own_columns(columns.n)
        again_loop = _line_roots.first_round_loop(gradient, variables, nodes, own, reach, DISOWNED, value)
    except simd_codegen.UnsupportedExpression:
        return None
    lanes = simd_codegen.LANES
    # where theta and omega of member k lie in the flat tiles: k + (k // lanes) (width - 1) lanes + these
    offsets = numpy.concatenate([(columns.theta + numpy.arange(columns.n)) * lanes,
                                 (columns.omega + numpy.arange(columns.n)) * lanes])  # fmt: skip

    def first(tiles: Any, size: int, into: Any = None) -> tuple[Any, Any, Any, Any, Any]:
        count = len(tiles) * lanes
        found = numpy.empty(count) if into is None else into
        scale = numpy.empty(count)
        _call(loop, tiles, found, scale, columns.width)
        alpha, scale = found[:size], scale[:size]
        again = _nonzero(scale)
        if not again.size:
            return alpha, again, None, None, None
        # theta and omega of the members that look again, from their tiles (one gather)
        both = tiles.reshape(-1)[
            (again + (again // lanes) * ((columns.width - 1) * lanes))[:, None] + offsets
        ]
        return alpha, again, both[:, : columns.n], both[:, columns.n :], scale[again]

    return TiledMinimiser(first, functools.partial(_later_rounds, again_loop))


def _call(loop: Any, tiles: Any, found: Any, scale: Any, width: int) -> None:
    """The first round's loop on ``tiles`` into ``found`` and ``scale`` (one float64 per tiled
    member each): called at the arrays' addresses where they are as the loop reads them (4 us a
    call less than the loop's own checks; 200 calls a run of 10^5 members and 20 steps), else
    through those checks."""
    import numpy

    from taylorlr.compile.simd_codegen import LANES

    count = len(tiles) * LANES
    if (
        tiles.dtype == numpy.float64
        and tiles.shape[1:] == (width, LANES)
        and tiles.flags.c_contiguous
        and found.dtype == numpy.float64
        and found.shape == (count,)
        and found.flags.c_contiguous
        and found.flags.writeable
    ):
        loop.function(tiles.ctypes.data, found.ctypes.data, scale.ctypes.data, len(tiles))
    else:
        loop([tiles, found.reshape(1, count), scale.reshape(1, count)])


def _nonzero(x: Any) -> Any:
    """Where x (no NaN) is not zero: the members that look again (positive) or are deferred
    (negative). One comparison and NumPy's nonzero over booleans: 5 us for 13,000 members, where
    the float array's own nonzero took 30 us as soon as one member was not zero.

    >>> import numpy as np
    >>> _nonzero(np.array([0.0] * 600 + [2.0, 0.0, -3.0])).tolist()
    [600, 602]
    """
    import numpy

    return numpy.flatnonzero(x != 0)


@dataclass(frozen=True)
class TiledMinimiser:
    """The polynomial oracle on a state in tiles (:attr:`LineOracle.in_tiles`): ``f(tiles, B)`` is
    alpha* (B,), NaN for the members not running; in two parts for a caller that gathers the later
    rounds of several chunks of a batch into one call (the fused step's blocks).

    Attributes:
        first: ``first(tiles, B, into=None) -> (alpha, rows, theta, omega, scale)``: the first round's
            alpha* (B,), and the members that look again (their rows, theta, omega and next scale);
            alpha* is written into ``into`` when given (float64, C-contiguous, one per tiled member).
        later: ``later(theta, omega, rows, scale, alpha)``: the later rounds of those members, into
            ``alpha`` at ``rows`` in place. A member's alpha* does not depend on what it is called with.

    >>> import numpy as np, taylorlr as tl
    >>> from taylorlr.alpha import _tiles
    >>> loss = tl.Loss("x**4 + x**2 + y**2")  # from (1, 1) along (1, 0): g = (1 - a)^4 + (1 - a)^2 + 1
    >>> layout = _tiles.Layout(2, separate_grad=True)
    >>> tiled = build_line_oracle(loss, loss.compile()).in_tiles(_tiles.tile_columns(layout))
    >>> state = _tiles.TiledState(layout, 1, frozen=1.0)
    >>> state.set("theta", np.array([[1.0, 1.0]])); state.set("omega", np.array([[1.0, 0.0]]))
    >>> state.set("alpha", np.array([0.1])); state.set("code", np.array([0.0]))  # running
    >>> isinstance(tiled, TiledMinimiser), tiled(state.array, 1).tolist()
    (True, [1.0])
    """

    first: Callable[..., tuple[Any, Any, Any, Any, Any]]
    later: Callable[[Any, Any, Any, Any, Any], None]

    def __call__(self, tiles: Any, size: int) -> Any:
        alpha, rows, theta, omega, scale = self.first(tiles, size)
        if rows.size:
            self.later(theta, omega, rows, scale, alpha)
        return alpha


def _later_rounds(loop: Any, theta: Any, omega: Any, rows: Any, scale: Any, alpha: Any) -> None:
    """Rounds 2 ... :data:`ROUNDS` for the members ``rows`` (their theta, omega and next scale), into
    ``alpha`` in place: the whole round's loop on tiles of these members alone. A negative scale
    is a member the first round deferred (``first_round_loop(lean=True)``): its first round is
    taken here first, by the whole loop at its scale."""
    import numpy

    deferred = numpy.flatnonzero(scale < 0)
    if deferred.size:
        scale = scale.copy()
        at = (theta[deferred], omega[deferred], -scale[deferred])
        scale[deferred] = _round(loop, *at, alpha, rows[deferred])
        again = numpy.flatnonzero(scale)
        theta, omega, rows, scale = theta[again], omega[again], rows[again], scale[again]
    for _ in range(ROUNDS - 1):
        if not rows.size:
            return
        following = _round(loop, theta, omega, scale, alpha, rows)
        again = numpy.flatnonzero(following)
        theta, omega, rows, scale = theta[again], omega[again], rows[again], following[again]


def _round(loop: Any, theta: Any, omega: Any, scale: Any, alpha: Any, rows: Any) -> Any:
    """One round of the whole loop for these members, into ``alpha`` at ``rows``: their next scales."""
    import numpy

    from taylorlr.compile.simd_codegen import LANES

    tiles = _as_tiles(theta, omega, scale)
    found, following = numpy.empty((1, len(tiles) * LANES)), numpy.empty((1, len(tiles) * LANES))
    loop([tiles, found, following])
    alpha[rows] = found[0, : rows.size]
    return following[0, : rows.size]


class _NumPyMath:
    """The functions :func:`taylorlr.alpha._line_roots.root_bound` needs, on NumPy arrays (the bit-level
    ones as the loop's nodes, :func:`taylorlr.compile.simd_codegen.binary_exponent` and ``power_of_two``)."""

    @staticmethod
    def floor(a: Any) -> Any:
        import numpy

        return numpy.floor(a)

    @staticmethod
    def ceiling(a: Any) -> Any:
        import numpy

        return numpy.ceil(a)

    @staticmethod
    def binary_exponent(a: Any) -> Any:
        import numpy

        bits = numpy.asarray(a, dtype=numpy.float64).view(numpy.int64)
        return ((bits >> 52) & 0x7FF).astype(numpy.float64) - 1023

    @staticmethod
    def power_of_two(k: Any) -> Any:
        import numpy

        k = numpy.asarray(k, dtype=numpy.float64)
        held = numpy.clip(numpy.nan_to_num(k, nan=0.0), -1023, 1024).astype(numpy.int64)
        return numpy.where(numpy.isnan(k), k, ((held + 1023) << 52).view(numpy.float64))

    @staticmethod
    def Abs(a: Any) -> Any:
        import numpy

        return numpy.abs(a)

    @staticmethod
    def Max(*arrays: Any) -> Any:  # NaN where any is NaN, as the loop's; arrays or numbers
        import numpy

        return functools.reduce(numpy.maximum, arrays)


def _roots_solver(nodes: Any, compiled: Any) -> Callable[[Any], tuple[Any, Any, Any]]:
    """values (B, k) of p at ``nodes`` -> (t*, p'(t*), root bound): a compiled loop for k <= 4, else NumPy."""
    import numpy

    from taylorlr.alpha import _line_roots

    if len(nodes) - 1 <= _line_roots.MAX_SLOPE_DEGREE and compiled.dtype == "float64":
        from taylorlr.compile import simd_codegen

        if simd_codegen.available():
            kernel = _line_roots.roots_kernel(nodes)

            def compiled_solve(values: Any) -> tuple[Any, Any, Any]:
                out = kernel.stacked(numpy, [numpy.ascontiguousarray(values)], (values.shape[0],), None)
                return out[:, 0].copy(), out[:, 1].copy(), out[:, 2].copy()

            return compiled_solve
    to_monomial = numpy.linalg.inv(numpy.vander(nodes, len(nodes), increasing=True))

    def numpy_solve(values: Any) -> tuple[Any, Any, Any]:
        # ascending coefficients of p(t), summed in a fixed order (a matmul's order depends on B)
        p = sum(values[:, j : j + 1] * to_monomial[:, j] for j in range(len(nodes)))
        g = numpy.concatenate([numpy.zeros_like(p[:, :1]), p / numpy.arange(1, p.shape[1] + 1)], axis=1)
        t = polynomial_line_minimum(g)  # G(t) = sum_k g[k] t^k, G' = p
        curvature = _horner(_derivative(p), numpy.where(numpy.isfinite(t), t, 0.0)[:, None])[:, 0]
        return t, curvature, _line_roots.root_bound(_NumPyMath, list(p.T))

    return numpy_solve


def _polish(alpha: Any, curvature: Any, slope: Any) -> tuple[Any, Any]:
    """One Newton step on the true g' (its value ``slope`` at alpha), and its size relative to alpha."""
    import numpy

    polished = alpha - slope / curvature
    good = numpy.isfinite(alpha) & numpy.isfinite(polished) & (curvature > 0)
    correction = numpy.where(good, numpy.abs(polished - alpha) / numpy.abs(polished), 0.0)
    return numpy.where(good, polished, alpha), correction


#: the fused round is built only for gradients of at most this many operations in all (its
#: first loop holds ``degree`` copies of the gradient; bigger losses take the round of NumPy calls)
MAX_FUSED_OPS = 400


def _fused_round(loss: Any, compiled: Any, nodes: Any) -> Callable[..., Any] | None:
    """The round of :func:`_polynomial_minimiser` as three SIMD loops (g' at the nodes, the roots,
    g' at alpha*), where it applies (else None)."""
    import numpy

    from taylorlr.alpha import _line_roots
    from taylorlr.compile import simd_codegen

    applies = (
        loss is not None
        and not loss.data
        and compiled.dtype == "float64"
        and compiled.backend.name == "numpy"
        and len(nodes) - 1 <= _line_roots.MAX_SLOPE_DEGREE
        and simd_codegen.available()
    )
    if not applies:
        return None
    gradient = loss.derivatives.gradient
    if sum(_operations(g) for g in gradient) > MAX_FUSED_OPS:
        return None
    try:
        at_nodes, at_alpha = _line_roots.line_kernels(gradient, loss.derivatives.variables, nodes)
    except simd_codegen.UnsupportedExpression:
        return None
    roots = _line_roots.roots_kernel(nodes)

    def fused_round(theta: Any, omega: Any, scale: Any, data: Mapping[str, Any]) -> tuple[Any, Any, Any, Any]:
        count = theta.shape[0]
        values = at_nodes.stacked(numpy, [theta, omega, scale.reshape(count, 1)], (count,), None)
        out = roots.stacked(numpy, [values], (count,), None)
        alpha = out[:, 0] * scale
        finite = numpy.where(numpy.isfinite(alpha), alpha, 0.0).reshape(count, 1)
        slope = at_alpha.stacked(numpy, [theta, omega, finite], (count,), None)[:, 0]
        return alpha, out[:, 1] / scale, out[:, 2] * scale, slope

    return fused_round


def _operations(expression: Any) -> int:
    """A cheap size of an engine expression: the length of its printed form over 4."""
    return len(str(expression)) // 4


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
    """Real roots of the polynomials p[b] (ascending coefficients), NaN-padded: shape (B, degree).

    Closed forms for degrees 1 to 3, companion-matrix eigenvalues above; a complex pair
    whose imaginary part is within 1e-7 of its real part's scale counts as a double real
    root (the caller polishes every root with Newton steps).
    """
    import numpy

    count, size = p.shape
    out = numpy.full((count, max(size - 1, 1)), numpy.nan)
    scale = numpy.max(numpy.abs(p), axis=1, keepdims=True)
    significant = numpy.abs(p) > 1e-13 * scale
    degree = numpy.where(significant.any(axis=1), size - 1 - numpy.argmax(significant[:, ::-1], axis=1), 0)
    for m in numpy.unique(degree):
        if m < 1:
            continue
        rows = numpy.nonzero(degree == m)[0] if m < size - 1 or (degree != m).any() else slice(None)
        monic = p[rows, :m] / p[rows, m : m + 1]
        out[rows, :m] = _MONIC_ROOTS.get(int(m), _companion_roots)(monic)
    return out


def _nearly_real(real: Any, imaginary: Any) -> Any:
    import numpy

    return numpy.abs(imaginary) <= 1e-7 * numpy.maximum(1.0, numpy.abs(real))


def _companion_roots(monic: Any) -> Any:
    """Real roots of x^m + sum_k monic[:, k] x^k from the companion matrices' eigenvalues."""
    import numpy

    rows, m = monic.shape
    companion = numpy.zeros((rows, m, m))
    companion[:, 0, :] = -monic[:, ::-1]
    companion[:, numpy.arange(1, m), numpy.arange(m - 1)] = 1.0
    eig = numpy.linalg.eigvals(companion)
    return numpy.where(_nearly_real(eig.real, eig.imag), eig.real, numpy.nan)


def _linear_roots(monic: Any) -> Any:
    return -monic


def _quadratic_roots(monic: Any) -> Any:
    """x^2 + b x + c, without cancellation (the larger root first, the other from c / q)."""
    import numpy

    c, b = monic[:, 0], monic[:, 1]
    half = -b / 2
    disc = half * half - c
    root = numpy.sqrt(numpy.maximum(disc, 0.0))
    q = half + numpy.copysign(root, half)
    other = numpy.where(q != 0, c / numpy.where(q != 0, q, 1.0), 0.0)
    real = (disc >= 0) | _nearly_real(half, numpy.sqrt(numpy.maximum(-disc, 0.0)))
    return numpy.where(real[:, None], numpy.stack([q, other], axis=1), numpy.nan)


def _cubic_roots(monic: Any) -> Any:
    """x^3 + a x^2 + b x + c: Viete's cosines (three real roots) or Cardano (one, and a pair)."""
    import numpy

    c, b, a = monic[:, 0], monic[:, 1], monic[:, 2]
    shift = -a / 3
    p = b - a * a / 3
    q = (2 * a * a * a - 9 * a * b) / 27 + c
    disc = (q / 2) ** 2 + (p / 3) ** 3
    # three real roots (disc <= 0, so p <= 0)
    radius = 2 * numpy.sqrt(numpy.maximum(-p / 3, 0.0))
    cosine = numpy.clip(
        numpy.where(radius > 0, -4 * q / numpy.where(radius > 0, radius, 1.0) ** 3, 0.0), -1, 1
    )
    angle = numpy.arccos(cosine) / 3
    three = radius[:, None] * numpy.cos(angle[:, None] - 2 * numpy.pi / 3 * numpy.arange(3)) + shift[:, None]
    # one real root u - p / (3u), u the cube root without cancellation, and the pair's real part
    u = numpy.cbrt(-q / 2 - numpy.copysign(numpy.sqrt(numpy.maximum(disc, 0.0)), q))
    v = numpy.where(u != 0, -p / (3 * numpy.where(u != 0, u, 1.0)), 0.0)
    pair_real, pair_imaginary = -(u + v) / 2 + shift, numpy.sqrt(3.0) / 2 * (u - v)
    pair = numpy.where(_nearly_real(pair_real, pair_imaginary), pair_real, numpy.nan)
    one = numpy.stack([u + v + shift, pair, pair], axis=1)
    return numpy.where((disc <= 0)[:, None], three, one)


_MONIC_ROOTS: dict[int, Callable[[Any], Any]] = {1: _linear_roots, 2: _quadratic_roots, 3: _cubic_roots}


#: the golden-section search stops when its bracket is this narrow relative to alpha (below the
#: precision of a minimiser found from values, about sqrt(eps) relative, on all but exact cases)
GOLDEN_TOLERANCE = 2.0**-52
#: a geometric grid alpha * 2^k, |k| <= this, brackets the best alpha before golden section
GRID_HALF_WIDTH = 40
#: the grid is evaluated in calls of at most this many points (all of it in one call below 50
#: members; one grid point a call from 4096 members: the memory of a call stays that of a batch)
GRID_POINTS_PER_CALL = 4096


def golden_iterations(tolerance: float = GOLDEN_TOLERANCE) -> int:
    """Golden-section steps that shrink the grid's bracket around alpha within ``tolerance`` of it.

    The grid's bracket around its best point 2^k is [2^(k-1), 2^(k+1)]: 1.2 times its midpoint
    wide whatever k, and every step keeps 0.618... of it, so the count is the same for all members.

    >>> golden_iterations(), golden_iterations(2.0**-40)
    (76, 58)
    """
    return math.ceil(math.log(1.2 / tolerance) / math.log(2.0 / (math.sqrt(5.0) - 1.0)))


def _golden_minimiser(compiled: Any, grid_half_width: int = GRID_HALF_WIDTH) -> Callable[..., Any]:
    """The golden-section oracle: the grid in batched calls, then one value call a step (a reused point)."""
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    steps = golden_iterations()

    def minimise(theta: Any, omega: Any, alpha_guess: Any, data: Mapping[str, Any]) -> Any:
        xp = namespace_of(theta, omega)
        descent = dot(compiled.grad(theta, **data), omega) >= 0
        sign = 2.0 * xp.astype(descent, theta.dtype) - 1.0
        ray = xp.expand_dims(sign, -1) * omega
        scale = xp.where(xp.isfinite(alpha_guess) & (alpha_guess > 0), alpha_guess, 1.0)
        batch = _batch_shape(theta.shape[:-1], ray.shape[:-1], scale.shape)
        scale = xp.broadcast_to(scale, batch)

        def along(a: Any) -> Any:  # g at alpha = a (any leading axes over the batch's)
            return compiled.value(theta - xp.expand_dims(a, -1) * ray, **data)

        powers = xp.asarray(
            [0.0] + [2.0**k for k in range(-grid_half_width, grid_half_width + 1)], dtype=theta.dtype
        )
        grid = xp.reshape(powers, (-1,) + (1,) * scale.ndim) * scale
        rows = max(1, GRID_POINTS_PER_CALL // max(1, math.prod(batch)))
        size = grid.shape[0]
        values = xp.concat([along(grid[i : min(i + rows, size), ...]) for i in range(0, size, rows)], axis=0)
        values = xp.where(xp.isnan(values), xp.inf, values)
        k = xp.argmin(values, axis=0)
        last = grid.shape[0] - 1
        low = _take(xp, grid, xp.where(k > 0, k - 1, k))
        high = _take(xp, grid, xp.where(k < last, k + 1, k))
        left, right = high - ratio * (high - low), low + ratio * (high - low)
        both = along(xp.stack([left, right]))
        at_left, at_right = both[0, ...], both[1, ...]
        for _ in range(steps - 1):
            # the minimum is in [low, right] (keep left as the new right) or in [left, high]
            go_left = at_left < at_right
            low, high = xp.where(go_left, low, left), xp.where(go_left, right, high)
            kept, at_kept = xp.where(go_left, left, right), xp.where(go_left, at_left, at_right)
            new = xp.where(go_left, high - ratio * (high - low), low + ratio * (high - low))
            at_new = along(new)
            left, right = xp.where(go_left, new, kept), xp.where(go_left, kept, new)
            at_left, at_right = xp.where(go_left, at_new, at_kept), xp.where(go_left, at_kept, at_new)
        go_left = at_left < at_right
        low, high = xp.where(go_left, low, left), xp.where(go_left, right, high)
        best = (low + high) / 2
        return xp.where((k == 0) | (k == last), xp.nan, sign * best)

    return minimise


def _batch_shape(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    import numpy

    return tuple(numpy.broadcast_shapes(*(tuple(shape) for shape in shapes)))


def _take(xp: Any, grid: Any, index: Any) -> Any:
    """grid[index[b], b] for every batch member b (without take_along_axis)."""
    positions = xp.reshape(xp.arange(grid.shape[0]), (-1,) + (1,) * index.ndim)
    return xp.sum(xp.where(positions == index, grid, 0.0), axis=0)
