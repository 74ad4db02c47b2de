"""The polynomial oracle's per-member work as one compiled SIMD loop (g' of degree 1 to 3).

From p(t) = g'(scale t) (its coefficients from f's expression in Taylor mode,
:func:`slope_coefficients`, or its values at the Chebyshev nodes), each member's loop iteration
finds the one local minimiser of G(t) = integral of p that
:func:`taylorlr.alpha.oracle.polynomial_line_minimum` picks (the lowest positive one, else the
negative one nearest 0, else NaN) among the roots where p rises, and only those: the linear
root; the quadratic's, from the formula without cancellation; the cubic's smallest and largest
(b3 > 0) or middle (b3 < 0) root, each found by three Halley steps from an upper bound read off
the binary exponents (:func:`_cubic_minimiser`; no C library call, no candidate that cannot
win); a last Newton step on p polishes it. It writes t*, p'(t*) and a bound on |roots of p|
(Fujiwara's, over every coefficient however small, from their binary exponents: :func:`root_bound`).
A coefficient below 1e-13 of the largest counts as zero (the degree drops), as in the NumPy path;
a double root of p (no strict minimiser of G) is not a candidate. Only arithmetic, comparisons,
the bits of doubles (:func:`taylorlr.compile.simd_codegen.binary_exponent`, ``power_of_two``),
two square roots and seven divisions a member, shared by the exclusive paths (:func:`_minimiser`).
One loop, compiled once per degree (:mod:`taylorlr.compile.simd_codegen`), instead of some sixty
NumPy passes over the batch. The oracle's first round on a quartic's line takes the common path
alone (:func:`rising_cubic_choice`), and defers the few members it does not settle to this one.

>>> import numpy as np
>>> kernel = roots_kernel(np.array([-1.0, 1.0]))  # nodes of a linear p
>>> kernel.stacked(np, [np.array([[-3.0, 1.0]])], (1,), None).tolist()  # p(t) = 2 t - 1
[[0.5, 2.0, 1.0]]
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_SLOPE_DEGREE",
    "LoopMath",
    "TileColumns",
    "first_round_loop",
    "power_above",
    "roots_kernel",
    "slope_coefficients",
]

#: the highest degree of p = g' the loop solves (quartic losses); above, NumPy's companion matrices
MAX_SLOPE_DEGREE = 3
#: a coefficient at most this fraction of the largest is zero (as ``oracle._real_roots``)
NEGLIGIBLE = 1e-13
#: a complex pair with |imaginary| <= NEARLY_REAL * max(floor, |real|) is a double root (not a
#: minimiser); the floor is 1 scale where g' is interpolated (its noise), 1 / BELOW_REACH from coefficients
NEARLY_REAL = 1e-7


def roots_kernel(nodes: Any) -> Any:
    """The compiled loop for p of degree len(nodes) - 1 (at most 3): node values -> (t*, p'(t*), bound)."""
    return _kernel(tuple(float(t) for t in nodes))


@functools.lru_cache(maxsize=8)
def _kernel(nodes: tuple[float, ...]) -> Any:
    import symengine as se

    from taylorlr.compile.simd_codegen import LoopArray, compile_loop

    values = se.symbols(f"v0:{len(nodes)}")
    # compiled as it is (not through build_kernel, whose renaming of these heavily shared
    # expressions made their CSE take 10-40 s)
    outputs = tuple(root_expressions(values, nodes))
    loop = compile_loop([LoopArray("points", reads=values), LoopArray("points", writes=outputs)])
    return _RootsKernel(loop)


@dataclass(frozen=True)
class _RootsKernel:
    """The roots loop called as a kernel: ``stacked(xp, [values (B, k)], (B,), None)`` -> (B, 3)."""

    loop: Any

    def stacked(self, xp: Any, arrays: list[Any], batch: tuple[int, ...], samples: Any) -> Any:
        import numpy

        from taylorlr.compile.simd_codegen import LANES

        (values,) = arrays
        count = values.shape[0]
        padded = numpy.zeros((-(-count // LANES) * LANES, values.shape[1]))
        padded[:count] = values
        out = numpy.empty((padded.shape[0], 3))
        self.loop([padded, out])
        return out[:count]


def root_expressions(values: Any, nodes: Any) -> list[Any]:
    """SymEngine expressions of (t*, p'(t*), bound) from expressions of p's values at ``nodes``."""
    import numpy
    import symengine as se

    count = len(nodes)
    inverse = numpy.linalg.inv(numpy.vander(numpy.array(nodes, dtype=float), count, increasing=True))
    b = [
        sum((se.RealDouble(float(inverse[k, j])) * values[j] for j in range(count)), se.Integer(0))
        for k in range(count)
    ]
    return roots_of_coefficients(b)


def roots_of_coefficients(b: list[Any], floor: float = 1.0) -> list[Any]:
    """SymEngine expressions of (t*, p'(t*), bound) from expressions of p's coefficients (ascending);
    ``floor``: the scale below which two roots closer than NEARLY_REAL of it are one double root."""
    import symengine as se

    count = len(b)
    b = [*b, *[se.Integer(0)] * (MAX_SLOPE_DEGREE + 1 - count)]  # p's missing higher coefficients
    best, curvature = _choose(se, b, floor)
    # Fujiwara's bound over every coefficient, however small: a member that saw no root looks again
    # at its scale, where the roots of coefficients that counted as zero here may be found
    return [best, curvature, root_bound(LoopMath, b[:count])]


def slope_coefficients(value: Any, variables: Any, theta: Any, omega: Any, count: int) -> list[Any] | None:
    """Expressions of the coefficients p_0 ... p_{count-1} of p(alpha) = g'(alpha), g(alpha) =
    f(theta - alpha omega), by Taylor-mode propagation through f's expression (sums, products,
    integer powers, constants; each coefficient list truncated at degree ``count``): one pass
    instead of ``count`` gradients at nodes, and no interpolation. None where f holds another node.

    >>> import symengine as se
    >>> x, w, u = se.symbols("x w u")
    >>> slope_coefficients(x**3 + 2*x, [x], [w], [u], 3)  # g = (w - a u)^3 + 2 (w - a u)
    [-2*u - 3*u*w**2, 6*u**2*w, -3*u**3]
    """
    import symengine as se

    along = {se.sympify(v): [theta[i], -omega[i]] for i, v in enumerate(variables)}
    known = frozenset(along)
    memo: dict[Any, list[Any]] = {}

    def product(p: list[Any], q: list[Any]) -> list[Any]:
        out = [se.Integer(0)] * min(len(p) + len(q) - 1, count + 1)
        for i, a in enumerate(p):
            for j, c in enumerate(q[: count + 1 - i]):
                out[i + j] = out[i + j] + a * c
        return out

    def series(node: Any) -> list[Any]:
        if node in memo:
            return memo[node]
        kind = type(node).__name__
        if node in along:
            result = along[node]
        elif not node.free_symbols & known:
            result = [node]
        elif kind in ("Add", "Mul"):
            parts = [series(a) for a in node.args]
            if kind == "Add":
                result = [se.Add(*(p[k] for p in parts if k < len(p))) for k in range(max(map(len, parts)))]
            else:
                result = parts[0]
                for part in parts[1:]:
                    result = product(result, part)
        elif kind == "Pow" and node.args[1].is_Integer and int(node.args[1]) >= 0:
            base, exponent, result = series(node.args[0]), int(node.args[1]), [se.Integer(1)]
            while exponent:  # by squaring
                result = product(result, base) if exponent & 1 else result
                exponent >>= 1
                base = product(base, base) if exponent else base
        else:
            raise _NotPolynomial(kind)
        memo[node] = result
        return result

    try:
        g = series(se.sympify(value))
    except (_NotPolynomial, RecursionError):
        return None
    g = g + [se.Integer(0)] * (count + 1 - len(g))
    return [(k + 1) * g[k + 1] for k in range(count)]


class _NotPolynomial(Exception):
    """A node that Taylor-mode propagation along the line does not cover here."""


def line_kernels(gradient: Any, variables: Any, nodes: Any) -> tuple[Any, Any]:
    """Two loops along the line theta - alpha omega, from the gradient's expressions:

    (theta, omega, scale) rows -> g' at ``scale * nodes``, and (theta, omega, alpha) rows ->
    g'(alpha), each the gradient substituted along the line and dotted with omega in one pass
    (no (B, n) temporaries). ``gradient`` is in ``variables`` (SymEngine or SymPy).
    """
    import symengine as se

    from taylorlr.compile.simd_codegen import build_kernel

    n = len(variables)
    theta = se.symbols(f"w0:{n}")
    omega = se.symbols(f"u0:{n}")
    scale = se.Symbol("s")
    slope = _slope(gradient, variables, theta, omega)
    at_nodes = build_kernel([slope(scale * float(t)) for t in nodes], [theta, omega, (scale,)])
    return at_nodes, build_kernel([slope(scale)], [theta, omega, (scale,)])


def _slope(gradient: Any, variables: Any, theta: Any, omega: Any) -> Any:
    """alpha -> g'(alpha) = -<grad f(theta - alpha omega), omega>, as a SymEngine expression."""
    import symengine as se

    variables = [se.sympify(v) for v in variables]
    gradient = [se.sympify(g) for g in gradient]

    def slope(alpha: Any) -> Any:
        along = {v: theta[i] - alpha * omega[i] for i, v in enumerate(variables)}
        return -sum((omega[i] * g.subs(along) for i, g in enumerate(gradient)), se.Integer(0))

    return slope


@dataclass(frozen=True)
class TileColumns:
    """Where a state in simd_codegen's "tiles" layout holds what the oracle reads: theta and omega
    (``n`` columns from ``theta`` and ``omega``), the guess alpha, the status code (``running``
    for a member still running), in rows of ``width`` columns."""

    width: int
    n: int
    theta: int
    omega: int
    alpha: int
    code: int
    running: float


#: with g' from its coefficients, a root down to 1/BELOW_REACH of the scale is kept (the first
#: round's own reach below the scale when g' is interpolated from nodes)
BELOW_REACH = 1e6
#: tiles a pass of the first round's loop for a cubic p (``compile_loop``'s ``interleave``): its
#: roots are a long chain of dependent operations (about 400 a member, each waiting on the one
#: before), which several tiles at a time overlap; as many as the registers hold. Measured, ns a
#: member and step on the run's states (``bench/bench_oracle.py --parts``, 2026-11-30): 2-D
#: Rosenbrock 19.3 (two tiles) -> 15.2 (four); 10-D extended Rosenbrock 35.6 -> 40.5 (spilled
#: registers; n = 4 22.9 -> 22.8, n = 6 27.0 -> 30.1): four tiles for a gradient of at most
#: SMALL_GRADIENT_OPS operations, else two. A lower degree's short chain is not worth the registers
#: (10-D quadratic: 18 -> 23 ns with two), and keeps one tile a pass
INTERLEAVE = 2
SMALL_GRADIENT_INTERLEAVE = 4
SMALL_GRADIENT_OPS = 16
#: a Newton step that polishes a root moves it by at most this fraction of its size (of the floor
#: near 0); a larger one is a jump off a multiple root (p' ~ 0 there), not taken
POLISH = 1e-3
#: the largest finite double: |x| <= FINITE holds for finite x only (inf and NaN fail it)
FINITE = 1.7976931348623157e308


def first_round_loop(gradient: Any, variables: Any, nodes: Any, columns: TileColumns, reach: float,
                     disowned: float, value: Any = None, lean: bool = False) -> Any:  # fmt: skip
    """The loop of :func:`_first_round_loop`, shared by every loss with the same gradient expressions.

    Building it takes seconds (its CSE and LLVM), so it is cached by content, as the SIMD
    kernels are, not per ``Loss`` object: a new ``Loss`` of the same text reuses it.
    """
    import symengine as se

    key = (tuple(se.sympify(g) for g in gradient), tuple(se.sympify(v) for v in variables))
    f = None if value is None else se.sympify(value)
    return _first_round_loop(*key, tuple(float(t) for t in nodes), columns, reach, disowned, f, lean)


@functools.lru_cache(maxsize=32)
def _first_round_loop(gradient: Any, variables: Any, nodes: Any, columns: TileColumns, reach: float,
                      disowned: float, value: Any, lean: bool = False) -> Any:  # fmt: skip
    """The oracle's first round for every member of a tiled state, as one loop read in place.

    Per member: the scale |alpha guess| (1 when it is 0 or not finite), g' in units of it (its
    coefficients from f's expression, :func:`slope_coefficients`, given ``value`` = f and where
    they apply, else its values at ``scale * nodes``), the roots (:func:`roots_of_coefficients`),
    the true g' at the root and one Newton step on it,
    and whether the member must look again (as ``oracle._polynomial_minimiser`` decides: the
    root is more than ``reach`` scales away, or none was seen, or the Newton step moved it by
    more than ``disowned`` relative). Writes two arrays of one row each, alpha* and the next scale
    (0 when done), so that alpha* can go where the caller keeps it;
    alpha* is NaN for a member not running. What the three loops of a round compute, with
    no (B, k) array between them and no copy of theta or omega out of the tiles.

    ``lean`` (a cubic p from its coefficients; else ignored): the roots by the common path alone
    (:func:`rising_cubic_choice`: a rising cubic, no double-root guard on the chain, no root
    bound); a member that path does not settle, or whose root is not finite, is *deferred*: its
    next scale is written as minus its scale, and its first round is taken again by the whole loop
    (``lean=False``) at that scale, where it gets what this loop would have given it without
    ``lean`` (:func:`taylorlr.alpha.oracle._later_rounds`). Every other member's outputs are the
    whole loop's arithmetic (to rounding: the loop compiler may group a sum otherwise).
    """
    import symengine as se

    f = _Flags(se)
    # symbols named by what they hold, not by their column: the same expressions, the same
    # instructions and the same bits in every layout
    theta, omega = se.symbols(f"w0:{columns.n}"), se.symbols(f"u0:{columns.n}")
    guess, code = se.Symbol("guess"), se.Symbol("code")
    state = [se.Symbol(f"unused{j}") for j in range(columns.width)]
    for first, block in ((columns.theta, theta), (columns.omega, omega)):
        state[first : first + columns.n] = block
    state[columns.alpha], state[columns.code] = guess, code
    slope = _slope(gradient, variables, theta, omega)

    def finite(x: Any) -> Any:
        return f.test(se.Le(se.Abs(x), se.RealDouble(FINITE)))

    scale = f.pick(finite(guess) * f.test(se.Ne(guess, 0)), se.Abs(guess), se.Integer(1))

    # the coefficients of d/dt f(theta - t scale omega) = scale p(t), p(t) = g'(scale t): along
    # scale omega, whose size is the step's (omega alone may be 1e80, its fourth power infinite);
    # each value held in a Piecewise that SymEngine cannot see into, so that it does not regroup
    # (scale u)^4 / scale as scale^3 u^4, which overflows again. Its condition is always true
    # (|guess| + 1 != 0; a NaN guess too: the loop's != is unordered) and holds no Piecewise of
    # its own: with the scale's nested Piecewise in it, SymEngine's CSE took 312 s on
    # (1 - x1)**2 + (10*x2 - 10*x1**2)**2 (0.4 s now)
    def held(x: Any) -> Any:
        return se.Piecewise((x, se.Ne(se.Abs(guess) + 1, 0)), (se.nan, True))

    step = [held(scale * u) for u in omega]
    coefficients = None if value is None else slope_coefficients(value, variables, theta, step, len(nodes))
    lean = lean and coefficients is not None and len(nodes) == MAX_SLOPE_DEGREE + 1
    if coefficients is None:  # g' at the nodes, interpolated
        t, curvature, bound = root_expressions([slope(scale * float(node)) for node in nodes], nodes)
    elif lean:  # the common path; the root bound is the whole loop's, for the deferred members
        scaled = [held(c / scale) for c in coefficients]
        t, curvature, clear = rising_cubic_choice(scaled, 1 / BELOW_REACH)
    else:  # p_k scale^k: g' in units of the scale, from its own coefficients
        scaled = [held(c / scale) for c in coefficients]
        t, curvature, bound = roots_of_coefficients(scaled, 1 / BELOW_REACH)
    alpha = t * scale
    true = slope(f.pick(finite(alpha), alpha, se.Integer(0)))
    polished = alpha - true * scale / curvature  # g'' = p' / scale (one division, not two)
    good = finite(alpha) * finite(polished) * f.test(se.Gt(curvature, 0))
    # the Newton step moved it by more than ``disowned`` relative (no division either)
    disowning = good * f.test(se.Gt(se.Abs(polished - alpha), disowned * se.Abs(polished)))
    # not taken where it jumps (p' ~ 0 at a multiple root): that member looks again, and keeps alpha
    found = f.pick(good * f.test(se.Le(se.Abs(polished - alpha), POLISH * se.Abs(alpha))), polished, alpha)
    seen = f.test(se.Ge(se.Abs(alpha), 0))  # false for NaN only
    running = f.test(se.Eq(code, columns.running))
    if lean:  # a member kept saw a root, of a cubic whose degree did not drop: as the whole loop's below
        size = se.Abs(found)
        far = f.either(f.test(se.Lt(size, scale / BELOW_REACH)), disowning)
        again = finite(size) * f.test(se.Ne(size, 0)) * far * running
        # deferred: a member the common path does not settle, or that found no finite root (none seen,
        # or a Halley step's denominator underflowed: p = t^3 + 4e-243 gave inf)
        deferred = running * (1 - clear * finite(alpha))
        following = f.pick(deferred, -scale, f.pick(again, size, se.Integer(0)))
        return _compiled(columns, state, (f.pick(running, found, se.nan), following), gradient, nodes)
    size = f.pick(seen, se.Abs(found), bound * scale)
    above, below = f.test(se.Gt(size, reach * scale)), f.test(se.Lt(size, scale / reach))
    if coefficients is not None:
        # from exact coefficients a root that was seen is found as well as any: above the scale,
        # unless p's top coefficient counted as zero there (it may not, that far out); below it, down
        # to 1 / BELOW_REACH (only interpolated values lose its digits, to the node values'
        # rounding). None seen: the bound's scale is tried as before.
        above = f.pick(seen, above * degree_dropped(se, scaled), above)
        below = f.pick(seen, f.test(se.Lt(size, scale / BELOW_REACH)), below)
    far = f.either(above, below, disowning)
    again = finite(size) * f.test(se.Ne(size, 0)) * far * running
    outputs = (f.pick(running, found, se.nan), f.pick(again, size, se.Integer(0)))
    return _compiled(columns, state, outputs, gradient, nodes)


def _compiled(columns: TileColumns, state: list[Any], outputs: tuple[Any, Any], gradient: Any,
              nodes: Any) -> Any:  # fmt: skip
    """The first round's loop: the tiles read, (alpha*, next scale) written as two rows."""
    from taylorlr.compile.simd_codegen import LoopArray, compile_loop

    arrays = [LoopArray("tiles", reads=tuple(state)), *(LoopArray("rows", writes=(o,)) for o in outputs)]
    interleave = 1
    if len(nodes) == MAX_SLOPE_DEGREE + 1:
        small = sum(len(str(g)) // 4 for g in gradient) <= SMALL_GRADIENT_OPS  # as oracle._operations
        interleave = SMALL_GRADIENT_INTERLEAVE if small else INTERLEAVE
    return compile_loop(arrays, interleave=interleave)


def root_bound(xp: Any, b: list[Any]) -> Any:
    """Fujiwara's bound on |roots| of sum_k b[k] t^k (from the top coefficient, however small),
    2 max_k |b[k] / b[m]|^(1 / (m - k)) (b[0] halved), rounded up to a power of two from the
    coefficients' binary exponents: |b[k] / b[m]| < 2^(e_k + 1 - e_m), so each term is below
    2^ceil((e_k + 1 - e_m) / (m - k)), within a factor 2 of it; no division, no square root (a
    bound below 2^-1022 is 0). Infinite where the top coefficient is 0 or subnormal, or a
    coefficient is not finite (or their sum overflows). ``xp``: the loop's nodes
    (:class:`LoopMath`) or NumPy's (``oracle._NumPyMath``), the same bits.

    >>> import numpy as np
    >>> from taylorlr.alpha.oracle import _NumPyMath
    >>> float(root_bound(_NumPyMath, [np.float64(-8.0), 0.0, 0.0, 1.0]))  # t^3 - 8: 2 (2 ... 4)
    4.0
    """
    m = len(b) - 1
    top = xp.binary_exponent(b[m])
    powers = [xp.ceiling((xp.binary_exponent(b[k]) + (1 if k else 0) - top) / (m - k)) for k in range(m)]
    # a top coefficient 0 or subnormal (|b[m]| >= 2^e_m fails), or a coefficient not finite (the
    # sum's exponent 1024): taken beyond 2^1023 (inf)
    size = xp.binary_exponent(sum(xp.Abs(c) for c in b))
    beyond = 4096 * (xp.Max(-1022 - top, 0) + xp.Max(size - 1023, 0))
    return xp.power_of_two((xp.Max(*powers) if m > 1 else powers[0]) + 1 + beyond)


def power_above(xp: Any, w: Any) -> Any:
    """2^w from above, from the bits of 2^floor(w) and one multiply-add: 2^j (1 + (w - j)),
    j = floor(w) (2^x lies below its chord on [0, 1]; to the sum's rounding), within a factor 1.0615;
    0 below 2^-1022,
    inf above 2^1023.

    >>> import numpy as np
    >>> from taylorlr.alpha.oracle import _NumPyMath
    >>> [float(power_above(_NumPyMath, np.float64(w))) for w in (-1, 0, 0.5, 1 / 3, 10)]
    [0.5, 1.0, 1.5, 1.3333333333333333, 1024.0]
    """
    j = xp.floor(w)
    return xp.power_of_two(j) * (1 + (w - j))


class LoopMath:
    """The loop's nodes for :func:`root_bound` and :func:`power_above` (SymEngine expressions)."""

    @staticmethod
    def Abs(a: Any) -> Any:
        import symengine as se

        return se.Abs(a)

    @staticmethod
    def Max(*a: Any) -> Any:
        import symengine as se

        return se.Max(*a)

    @staticmethod
    def floor(a: Any) -> Any:
        import symengine as se

        return se.floor(a)

    @staticmethod
    def ceiling(a: Any) -> Any:
        import symengine as se

        return se.ceiling(a)

    @staticmethod
    def binary_exponent(a: Any) -> Any:
        from taylorlr.compile.simd_codegen import binary_exponent

        return binary_exponent(a)

    @staticmethod
    def power_of_two(a: Any) -> Any:
        from taylorlr.compile.simd_codegen import power_of_two

        return power_of_two(a)


class _Flags:
    """Conditions as 0.0/1.0 numbers (products, maxima) and selections on a flag above 1/2.

    Plain comparisons only ever reach a ``Piecewise``: no ``And``/``Or``/``Not`` nodes, whose
    shared subtrees the loop translation does not always keep apart.
    """

    def __init__(self, se: Any) -> None:
        self.se = se

    def test(self, relation: Any) -> Any:
        return self.se.Piecewise((self.se.Integer(1), relation), (self.se.Integer(0), True))

    def pick(self, flag: Any, if_true: Any, if_false: Any) -> Any:
        return self.se.Piecewise((if_true, self.se.Gt(flag, 0.5)), (if_false, True))

    def either(self, *flags: Any) -> Any:
        return self.se.Max(*flags) if len(flags) > 1 else flags[0]


def _significant(se: Any, b: list[Any]) -> list[Any]:
    """0/1 flags: b[k] above NEGLIGIBLE of the largest |b[k]|, up to the highest non-zero expression."""
    f = _Flags(se)
    degree = max(k for k, c in enumerate(b) if c != 0)
    largest = se.Max(*(se.Abs(c) for c in b[: degree + 1]))
    return [f.test(se.Gt(se.Abs(c), NEGLIGIBLE * largest)) for c in b[: degree + 1]]


def degree_dropped(se: Any, b: list[Any]) -> Any:
    """1 where p's top coefficient counts as zero (:func:`_minimiser` solves a lower degree), else 0."""
    return 1 - _significant(se, b)[-1]


def _held(se: Any, x: Any, divisor: Any) -> Any:
    """x in a Piecewise that SymEngine cannot see into, so that it does not regroup a power of a
    ratio as a ratio of powers: (b2 / b3)^3 as b2^3 / b3^3, which under- or overflows to 0 / 0 on
    coefficients of 1e-110 or 1e110. Its condition, ``divisor`` != inf, is true but where x is
    a ratio to an infinite divisor (NaN then); one comparison that is ready before the ratio is, so
    the hold costs the ratio's chain one select."""
    return se.Piecewise((x, se.Ne(divisor, se.oo)), (se.nan, True))


def _minimiser(se: Any, b: list[Any], floor: float = 1.0) -> Any:
    """The local minimiser of G = integral of p that :func:`taylorlr.alpha.oracle.polynomial_line_minimum`
    picks (the lowest positive one, else the negative one nearest 0, else NaN), by the degree p's
    significant coefficients give: the cubic's (:func:`_cubic_minimiser`), the quadratic's root
    where p rises, or the linear root where p rises.

    The three paths exclude each other, so their divisions and square roots are shared: one
    reciprocal of the top significant coefficient makes p monic for every degree, and one
    quadratic formula (one square root, one division) serves the quadratic and the falling
    cubic's deflation, its inputs selected first (:func:`_shared_quadratic`)."""
    f = _Flags(se)
    significant = _significant(se, b)
    degree = len(significant) - 1
    if degree < 1:
        return se.nan
    # the cubic's reciprocal from b3 at once (it heads the loop's longest chain), the lower degrees'
    # from their top significant coefficient
    top = f.pick(significant[2], b[2], b[1]) if degree >= 2 else b[1]
    inverse = 1 / top
    monic = [_held(se, c * inverse, top) for c in b[:2]]
    best = f.pick(significant[1] * f.test(se.Gt(b[1], 0)), -monic[0], se.nan)
    if degree == 1:
        return best
    cubic = None
    if degree == 3:
        inverse = 1 / b[3]
        cubic = _cubic_minimiser(se, f, [_held(se, c * inverse, b[3]) for c in b[:3]], b[3], floor)
    is_cubic = significant[3] if degree == 3 else se.Integer(0)
    quadratic = _shared_quadratic(se, f, monic, is_cubic, cubic)
    best = f.pick(significant[2], _quadratic_minimiser(se, f, quadratic, b[2], floor), best)
    if cubic is not None:
        best = f.pick(significant[3], cubic.minimiser(quadratic), best)
    return best


@dataclass(frozen=True)
class _Quadratic:
    """The quadratic formula's values, shared: ``half`` (minus half the linear coefficient), the
    discriminant ``disc`` = half^2 - c, the root of the larger size ``q`` and the other one."""

    half: Any
    disc: Any
    q: Any
    other: Any


def _shared_quadratic(se: Any, f: _Flags, monic: list[Any], is_cubic: Any, cubic: Any) -> _Quadratic:
    """t^2 + L t + c solved without cancellation, for the quadratic p (L, c = b1 / b2, b0 / b2) or,
    where p is a cubic, for the two roots its largest root r leaves in the depressed form:
    s^2 + r s + (r^2 + P), whose other root is then found from the product of the three, -Q / r
    (the product r^2 + P cancels when it is small): one square root and one division either way."""
    if cubic is None:
        linear, constant, numerator, denominator = monic[1], monic[0], monic[0], se.Integer(1)
    else:
        r = cubic.distance
        linear = f.pick(is_cubic, r, monic[1])
        constant = f.pick(is_cubic, r * r + cubic.p, monic[0])
        numerator, denominator = f.pick(is_cubic, -cubic.q, monic[0]), f.pick(is_cubic, r, se.Integer(1))
    half = -linear / 2
    disc = half * half - constant
    root = se.sqrt(se.Abs(disc))
    q = half + f.pick(f.test(se.Lt(half, 0)), -root, root)  # the root of the larger size
    return _Quadratic(half, disc, q, numerator / (denominator * q))


def _quadratic_minimiser(se: Any, f: _Flags, quadratic: _Quadratic, b2: Any, floor: float) -> Any:
    """The root of b0 + b1 t + b2 t^2 where it rises (NaN for none, or a double root)."""
    half, q, other = quadratic.half, quadratic.q, quadratic.other
    # not a double root
    real = f.test(se.Gt(quadratic.disc, (NEARLY_REAL * se.Max(floor, se.Abs(half))) ** 2))
    rising = f.pick(f.test(se.Gt(b2 * q, b2 * other)), q, other)  # p' = 2 b2 (t - midpoint)
    return f.pick(real * f.test(se.Ne(q, 0)), rising, se.nan)


@dataclass(frozen=True)
class _Cubic:
    """The depressed cubic s^3 + P s + Q (t = s + shift), its largest or smallest root's distance
    from 0 in s, and how to conclude from the shared quadratic (:meth:`minimiser`)."""

    p: Any
    q: Any
    shift: Any
    distance: Any
    found: Any  # the rising cubic's minimiser (NaN for none)
    rising: Any
    middle_ok: Any  # 1 where the falling cubic's middle root is a strict minimiser

    def minimiser(self, quadratic: _Quadratic) -> Any:
        import symengine as se

        f = _Flags(se)
        middle = self.shift + quadratic.other  # the falling cubic's middle root
        return f.pick(self.rising, self.found, f.pick(self.middle_ok, middle, se.nan))


def _cubic_minimiser(
    se: Any, f: _Flags, monic: list[Any], b3: Any, floor: float, lean: bool = False
) -> _Cubic:
    """The minimiser of G where p = b3 (t^3 + a t^2 + L t + c): one root, found by Halley's steps.

    In the depressed form t = s - a/3, s^3 + P s + Q, with h = sqrt(max(-P/3, 0)) the
    critical points +-h of a cubic with three real roots (0 else): the largest root is h + d with
    d >= 0 the root of d^3 + 3 h d^2 + max(P, 0) d = 2 h^3 - Q (where that is >= 0: an increasing
    convex function, :func:`_rise`), the smallest -(h + d) with 2 h^3 + Q on the right. A rising
    cubic (b3 > 0) has its minimisers at the smallest and the largest root, and which one wins is
    known before either is found: the smallest where it alone is a root (or the largest is a double
    one), or where all three are positive and Q > 0 (G(r3) - G(r1) is the integral of p between
    them, (r3 - r1)^3 (2 r2 - r1 - r3) / 12, of the middle root's sign in s, which is Q's); else the
    largest. A falling cubic's minimiser is its middle root, from the largest by the quadratic the
    cubic deflates to (:func:`_shared_quadratic`). Near the critical point h (or -h) the two roots
    on either side lie about sqrt(gap / (3 h)) from it: closer than NEARLY_REAL of max(floor, |t|)
    there, they are one double root (no strict minimiser). ``lean`` (a rising cubic's common path):
    the sides from the gaps' signs alone, and NaN for ``found`` where a double-root guard could
    apply (the whole choice then decides), tested beside the side instead of before it.
    """
    constant, linear, a = monic
    shift = -a / 3
    p = linear - a * a / 3
    q = (2 * a * a * a - 9 * a * linear) / 27 + constant
    # h in a Piecewise that SymEngine cannot see into: h^3 is then two multiplications, not a pow call
    h = se.Piecewise((se.sqrt(-p / 3), se.Lt(p, 0)), (se.Integer(0), True))
    k = se.Max(p, se.Integer(0))
    top = 2 * h * h * h
    right_gap, left_gap = top - q, top + q  # the cubic at -h and at h, signs arranged: >= 0 for a root
    three = f.test(se.Ge(right_gap, 0)) * f.test(se.Ge(left_gap, 0)) * f.test(se.Gt(h, 0))

    # the gaps' rounding: each is 2 h^3 -+ Q, to a few ulps of the larger
    noise = GAP_ULPS * 2.0**-52 * (top + se.Abs(q))

    def single(gap: Any, at: Any) -> Any:  # not one double root with the middle one: sqrt(gap / (3 h)) > tol
        tolerance = NEARLY_REAL * se.Max(floor, se.Abs(at))
        return f.pick(three, f.test(se.Gt(gap, se.Max(3 * h * tolerance * tolerance, noise))), se.Integer(1))

    right_ok = f.test(se.Ge(right_gap, 0))
    left_ok = f.test(se.Ge(left_gap, 0))
    clear: Any = se.Integer(1)
    if lean:  # the guards beside the chain: the sides from the gaps' signs, the guards as one flag,
        # 1 where the guarded sides are these: no three roots (every guard is 1 then), or both gaps
        # above both guards' thresholds (a tolerance at |shift| + h is either side's, or more)
        least = se.Min(right_gap, left_gap)
        tolerance = NEARLY_REAL * se.Max(floor, se.Abs(shift) + h)
        guarded = f.test(se.Le(least, se.Max(3 * h * tolerance * tolerance, noise)))
        clear = 1 - f.test(se.Gt(h, 0)) * f.test(se.Ge(least, 0)) * guarded
    else:
        right_ok = right_ok * single(right_gap, shift + h)
        left_ok = left_ok * single(left_gap, shift - h)
    rising = f.test(se.Gt(b3, 0))
    all_positive = three * f.test(se.Lt(constant, 0)) * f.test(se.Gt(shift - h, 0))
    left = rising * left_ok * f.either(1 - right_ok, all_positive * f.test(se.Gt(q, 0)))
    # lean: a guarded member's root is not found (NaN), and the whole choice decides (one select on
    # the chain costs less than a flag held beside it to the end: 10.7 against 12.2 ns a member)
    gap = f.pick(left, left_gap, right_gap)
    gap = f.pick(clear, gap, se.nan) if lean else gap
    distance = h + _rise(se, f, gap, h, k, _rise_start(se, f, gap, h, k))
    found = f.pick(left, shift - distance, f.pick(right_ok, shift + distance, se.nan))
    return _Cubic(p, q, shift, distance, found, rising, three * right_ok * left_ok)


def _rise_start(se: Any, f: _Flags, gap: Any, h: Any, k: Any) -> Any:
    """An upper bound of d, the root of d^3 + 3 h d^2 + k d = gap, from the binary exponents alone
    (no division, no square root): the least of the roots each term alone would need, gap^(1/3),
    gap / k and sqrt(gap / (3 h)), each as a power of two from |x| < 2^(e + 1) and k, 3 h >= 2^e,
    the least of the three powers taken, then rounded up (:func:`power_above`); within a factor
    4.3 of the least of them, itself within a factor 3 of d (the largest term is at least gap / 3).
    0 for a gap of 0."""

    def exponent(x: Any) -> Any:  # of a divisor: 0 and subnormals (below their exponent) push beyond 2^1023
        e = LoopMath.binary_exponent(x)
        return e - 4096 * se.Max(-1022 - e, se.Integer(0))

    above = LoopMath.binary_exponent(gap) + 1  # gap < 2^above
    least = se.Min(above / 3, above - exponent(k), (above - exponent(3 * h)) / 2)  # in powers of two
    return f.pick(f.test(se.Gt(gap, 0)), power_above(LoopMath, least), gap)


#: a gap of the cubic at a critical point within this many ulps of its terms is rounding: the two
#: roots about that point are one double root (no strict minimiser)
GAP_ULPS = 8

#: Halley steps from the start of :func:`_rise`: its error is cubed by each (the start is within a
#: factor 12 of the root: 2e-10 relative after three, measured on 2 10^5 random cubics; the polish
#: on p that follows squares it)
RISE_STEPS = 3


def _rise(se: Any, f: _Flags, gap: Any, h: Any, k: Any, d: Any) -> Any:
    """d >= 0 with d^3 + 3 h d^2 + k d = gap (h, k >= 0; gap >= 0, else NaN or garbage, unused), by
    Halley's steps from ``d``, an upper bound of it (:func:`_rise_start`): monotone from above."""
    for _ in range(RISE_STEPS):
        value = d * (d * (d + 3 * h) + k) - gap
        slope = d * (3 * d + 6 * h) + k
        bend = 6 * (d + h)
        denominator = 2 * slope * slope - value * bend
        d = f.pick(f.test(se.Gt(denominator, 0)), d - 2 * value * slope / denominator, d)
    return d


def _choose(se: Any, b: list[Any], floor: float) -> tuple[Any, Any]:
    """(t*, p'(t*)): :func:`_minimiser`, polished by a Newton step on p (where it moves t* by at
    most POLISH; NaN where p' <= 0 there)."""
    return _polished(se, b, _minimiser(se, b, floor), floor)


def _polished(se: Any, b: list[Any], best: Any, floor: float) -> tuple[Any, Any]:
    """(t*, p'(t*)) from ``best``: a Newton step on p (see :func:`_choose`)."""
    f = _Flags(se)

    def p(t: Any) -> Any:
        return b[0] + t * (b[1] + t * (b[2] + t * b[3]))

    def slope(t: Any) -> Any:
        return b[1] + t * (2 * b[2] + t * 3 * b[3])

    # a polish, taken only where it is one: not at a multiple root, where p' ~ 0 makes it NaN or a jump
    step = p(best) / slope(best)
    best = f.pick(f.test(se.Le(se.Abs(step), POLISH * (se.Abs(best) + floor))), best - step, best)
    curvature = slope(best)
    return f.pick(f.test(se.Gt(curvature, 0)), best, se.nan), curvature


def rising_cubic_choice(b: list[Any], floor: float) -> tuple[Any, Any, Any]:
    """SymEngine expressions of (t*, p'(t*), rising) for a cubic p of coefficients ``b`` (ascending):
    the common path of :func:`roots_of_coefficients` alone, a rising cubic (``rising``: 1 where b3
    is significant and positive), without the root bound, the falling cubic's and the lower
    degrees' paths, and with t* NaN where a double-root guard could apply (tested beside the
    root's chain, not before it). Where ``rising`` is 1 and t* is finite, (t*, p'(t*)) are the
    whole choice's (the same operations, to the grouping of sums); elsewhere the member takes the
    whole choice (the first round's loop defers it: :func:`first_round_loop`).

    >>> import symengine as se
    >>> from taylorlr.compile.simd_codegen import LoopArray, compile_loop
    >>> b = se.symbols("b0:4")
    >>> outputs = tuple(rising_cubic_choice(list(b), 1.0))
    >>> loop = compile_loop([LoopArray("rows", reads=b), LoopArray("rows", writes=outputs)])
    >>> import numpy as np
    >>> rows = np.array([[-6.0, 11.0, -6.0, 1.0]] * 4).T.copy()  # (t - 1)(t - 2)(t - 3): G lowest at 3
    >>> out = np.empty((3, 4)); loop([rows, out]); out[:, 0].tolist()
    [3.0, 2.0, 1.0]
    """
    import symengine as se

    f = _Flags(se)
    largest = se.Max(*(se.Abs(c) for c in b))
    rising = f.test(se.Gt(b[3], NEGLIGIBLE * largest))  # significant, and positive
    inverse = 1 / b[3]
    monic = [_held(se, c * inverse, b[3]) for c in b[:3]]
    best, curvature = _polished(se, b, _cubic_minimiser(se, f, monic, b[3], floor, lean=True).found, floor)
    return best, curvature, rising
