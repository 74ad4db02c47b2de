"""The numeric critical-point search: multi-start Newton and descent, polish, and a rounding test.

A float point is never exactly where the gradient vanishes, so "critical" needs a test that
scales with the problem. A candidate w is accepted when every |df/dx_i(w)| is within what
rounding can explain: the error bound of evaluating the gradient in floats (a running error
analysis over the expression tree: each operation adds eps times its result, each function
passes on |f'| times its argument's error) plus the change |H| ulp(w) that moving w by one
ulp can cause. Where an intermediate underflows, the gradient is evaluated again with mpmath
(40 digits), so an underflow plateau (a gradient that is exactly 0.0 in floats and not 0 in
truth) is not taken for a critical point. Candidates that stall with a small gradient that
fails the test are counted (``rejected``), not returned.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import sympy

from taylorlr import _budget
from taylorlr.analysis.result import CriticalPoint
from taylorlr.kinds import Kind

if TYPE_CHECKING:
    from taylorlr.compile.compiled import Compiled
    from taylorlr.loss import Loss

#: unit roundoff of float64 (round to nearest)
UNIT = 2.0**-53
#: a gradient entry is zero within rounding when it is at most SAFETY times its rounding bound
SAFETY = 4.0
_NEWTON_STEPS = 60
_DESCENT_STEPS = 60
_POLISH_STEPS = 6
_BACKTRACKS, _BLOCK = 40, 8  # Armijo halvings, and how many are tried in one evaluation


def numeric_points(loss: Loss, box: float, seeds: int) -> tuple[list[CriticalPoint], int]:
    """Critical points within rounding, found from ``seeds`` starts in [-box, box]^n; and the rejected count.

    Two searches share the starts: Newton with the exact Hessian (it converges to critical
    points of every kind) and a descent with a modified Newton direction and a backtracking
    line search (it finds the minima that plain Newton's basins miss). Every end point is
    polished by a few Newton steps, then tested by :func:`within_rounding`.
    """
    import numpy

    from taylorlr.numerics.newton import newton

    compiled = loss.compile()
    _budget.check()
    starts = numpy.random.default_rng(0).uniform(-box, box, size=(seeds, loss.n))
    with numpy.errstate(all="ignore"):  # seeds outside the domain (log of a negative) give NaN
        ends = numpy.asarray(newton(loss, starts, steps=_NEWTON_STEPS, tol=1e-12, fallback="damped").point)
        _budget.check()
        ends = numpy.concatenate([ends, descend(compiled, starts, _DESCENT_STEPS)])
        ends = polish(compiled, ends[numpy.all(numpy.isfinite(ends), axis=-1)], _POLISH_STEPS)
        _budget.check()
        values = numpy.asarray(compiled.value(ends))
        residual = numpy.linalg.norm(_derivatives(compiled, ends)[0], axis=-1)
    ends, values, residual = (
        a[numpy.isfinite(values) & numpy.isfinite(residual)] for a in (ends, values, residual)
    )
    accepted, tolerance = within_rounding(loss, compiled, ends)
    stalled = ~accepted & (residual <= 1e-8 * numpy.maximum(1.0, numpy.abs(values)))
    kept = _deduplicate(ends[accepted], residual[accepted])
    points = [_numeric_point(compiled, w, r, float(tolerance[accepted][i])) for w, r, i in kept]
    return points, len(_deduplicate(ends[stalled], residual[stalled]))


def descend(compiled: Compiled, W: Any, steps: int) -> Any:
    """Modified Newton with Armijo backtracking, batched: d = -V diag(1/max(|lambda|, floor)) V^T g.

    A point that a step leaves where it is (no descent direction, or no step length passes) is
    left there for good: the next step would start from the same point and fail the same way
    (a point's result does not depend on its batch), so it is not computed again.
    """
    import numpy

    W = numpy.array(W, dtype=float)
    f = numpy.asarray(compiled.value(W), dtype=float)
    active = numpy.arange(len(W))
    for _ in range(steps):
        _budget.check()
        if active.size == 0:
            break
        g, d = _descent_direction(compiled, W[active])
        slope = numpy.einsum("bi,bi->b", g, d)
        pending = numpy.isfinite(f[active]) & numpy.all(numpy.isfinite(d), axis=-1) & (slope < 0)
        moved = numpy.zeros(active.size, dtype=bool)
        for block in range(_BACKTRACKS // _BLOCK):  # alphas 1, 1/2, ..., 2^-39, a block per call
            index = numpy.nonzero(pending)[0]
            if index.size == 0:
                break
            rows = active[index]
            alpha = 0.5 ** numpy.arange(block * _BLOCK, (block + 1) * _BLOCK)
            trial = W[rows][None] + alpha[:, None, None] * d[index][None]
            ft = numpy.asarray(compiled.value(trial))
            ok = numpy.isfinite(ft) & (ft <= f[rows][None] + 1e-4 * alpha[:, None] * slope[index][None])
            found = ok.any(axis=0)
            first = numpy.argmax(ok, axis=0)[found]  # the largest alpha that passes, as halving finds it
            W[rows[found]], f[rows[found]] = trial[first, found], ft[first, found]
            pending[index[found]] = False
            moved[index[found]] = True
        active = active[moved]
    return W


def _descent_direction(compiled: Compiled, W: Any) -> tuple[Any, Any]:
    """The gradient and the modified Newton direction at W (one kernel call for g and H)."""
    import numpy

    g, H = _derivatives(compiled, W)
    finite = numpy.all(numpy.isfinite(H), axis=(-2, -1)) & numpy.all(numpy.isfinite(g), axis=-1)
    H = numpy.where(finite[:, None, None], H, numpy.eye(W.shape[-1]))
    lam, V = numpy.linalg.eigh(H)
    floor = 1e-8 * numpy.maximum(numpy.abs(lam).max(axis=-1, keepdims=True), 1e-300)
    d = -numpy.einsum(
        "bij,bj->bi", V, numpy.einsum("bji,bj->bi", V, g) / numpy.maximum(numpy.abs(lam), floor)
    )
    return g, numpy.where(finite[:, None], d, numpy.nan)


def _derivatives(compiled: Compiled, W: Any) -> tuple[Any, Any]:
    """g and H at W as NumPy arrays, from the one kernel Newton uses too: the search builds two
    kernels (value, and gradient with Hessian), not four."""
    import numpy

    g, H = compiled.grad_and_hess(W)
    return numpy.asarray(g), numpy.asarray(H)


def polish(compiled: Compiled, W: Any, steps: int) -> Any:
    """A few Newton steps (pseudo-inverse where H is singular); each point keeps its best iterate.

    The pseudo-inverse step (an SVD) is computed for the singular members only, and each
    distinct start once: a point's step does not depend on its batch, so the result is the same.
    """
    import numpy

    best = numpy.array(W, dtype=float)
    if best.size == 0:
        return best
    best, back = numpy.unique(best, axis=0, return_inverse=True)
    best_norm = _norm(compiled, best)
    current = best
    for _ in range(steps):
        _budget.check()
        current = _pinv_newton_point(compiled, current)
        norm = _norm(compiled, current)
        better = norm < best_norm
        best[better], best_norm[better] = current[better], norm[better]
    return best[back.reshape(-1)]


def _pinv_newton_point(compiled: Compiled, W: Any) -> Any:
    """``newton_step_on(compiled, W, fallback="pinv").point``, the SVD made where H is singular only."""
    import numpy

    from taylorlr.numerics.newton import newton_step_on

    step = newton_step_on(compiled, W)  # no fallback: a singular member does not move
    point = numpy.array(step.point)
    singular = numpy.asarray(step.singular, dtype=bool)
    if singular.any():
        H, g = numpy.asarray(step.hessian)[singular], numpy.asarray(step.gradient)[singular]
        inverse = numpy.linalg.pinv(H, rtol=step.rtol)
        point[singular] = W[singular] - numpy.matmul(inverse, g[..., None])[..., 0]
    return point


def _norm(compiled: Compiled, W: Any) -> Any:
    import numpy

    norm = numpy.abs(_derivatives(compiled, W)[0]).max(axis=-1)
    return numpy.where(numpy.isfinite(norm), norm, numpy.inf)


def within_rounding(loss: Loss, compiled: Compiled, W: Any) -> tuple[Any, Any]:
    """Which points of W (k, n) are critical within rounding, and each one's largest bound.

    Accepted: |g_i(w)| <= SAFETY * (e_i(w) + sum_j |H_ij(w)| ulp(w_j)) for every i, with
    e_i the running error bound of evaluating g_i in floats.

    >>> import numpy, taylorlr as tl
    >>> loss = tl.Loss("exp(-100*x**2) + (y - 1)**2")
    >>> ok, _ = within_rounding(loss, loss.compile(), numpy.array([[0.0, 1.0], [4.0, 1.0], [1e-9, 1.0]]))
    >>> ok.tolist()   # the origin; not the underflow plateau at x = 4; not 1e-9 (gradient 2e-7)
    [True, False, False]
    """
    import numpy

    if len(W) == 0:
        return numpy.zeros(0, dtype=bool), numpy.zeros(0)
    walk = _Walk(loss.variables, W)
    with numpy.errstate(all="ignore"):
        pairs = [walk(g) for g in loss.gradient]
        g = numpy.stack([v for v, _ in pairs], axis=-1)
        error = numpy.stack([e for _, e in pairs], axis=-1)
        moved = numpy.einsum(
            "bij,bj->bi", numpy.abs(_derivatives(compiled, W)[1]), numpy.spacing(numpy.abs(W))
        )
    bound = SAFETY * (error + moved)  # NaN (a Hessian or a bound that is not finite): no verdict, rejected
    accepted = numpy.all(numpy.abs(g) <= bound, axis=-1)
    for index in numpy.nonzero(walk.underflow & accepted)[0]:
        _budget.check()
        accepted[index] = _mp_within(loss, W[index], bound[index])
    return accepted, bound.max(axis=-1)


def _mp_within(loss: Loss, w: Any, bound: Any) -> bool:
    """The bound test on the gradient evaluated with mpmath at 40 digits (after an underflow)."""
    import mpmath

    with mpmath.workdps(40):
        try:
            values = _mp_gradient(loss)(*(mpmath.mpf(float(c)) for c in w))
        except (TypeError, ValueError, NameError, ZeroDivisionError):
            return True  # mpmath cannot evaluate it: keep the float verdict
        return all(abs(v) <= mpmath.mpf(float(b)) for v, b in zip(values, bound, strict=True))


@functools.lru_cache(maxsize=8)
def _mp_gradient(loss: Loss) -> Any:
    return sympy.lambdify(loss.variables, list(loss.gradient), modules="mpmath")


class _Walk:
    """Values and first-order rounding-error bounds of expressions at the rows of W (memoised per node)."""

    def __init__(self, variables: tuple[sympy.Symbol, ...], W: Any) -> None:
        import numpy

        self.np = numpy
        self.columns = {v: numpy.asarray(W[:, i], dtype=float) for i, v in enumerate(variables)}
        self.zeros = numpy.zeros(len(W))
        self.underflow = numpy.zeros(len(W), dtype=bool)
        self.memo: dict[Any, tuple[Any, Any]] = {}

    def __call__(self, node: sympy.Expr) -> tuple[Any, Any]:
        if node not in self.memo:
            self.memo[node] = self._evaluate(node)
        return self.memo[node]

    def _evaluate(self, node: sympy.Expr) -> tuple[Any, Any]:
        np = self.np
        if node in self.columns:
            return self.columns[node], self.zeros
        if node.is_number and not node.args:
            value = float(node)
            exact = node.is_Integer and abs(value) < 2**53
            return self.zeros + value, self.zeros + (0.0 if exact else UNIT * abs(value))
        parts = [self(a) for a in node.args]
        values, errors = [v for v, _ in parts], [e for _, e in parts]
        if isinstance(node, sympy.Add):
            value = functools.reduce(np.add, values)
            return value, sum(errors) + (len(values) - 1) * UNIT * sum(np.abs(v) for v in values)
        if isinstance(node, sympy.Mul):
            value = functools.reduce(np.multiply, values)
            error = sum(e * _product_of_others(np, values, k) for k, e in enumerate(errors))
            return self._flag(value, values), error + (len(values) - 1) * UNIT * np.abs(value)
        if isinstance(node, sympy.Pow):
            return self._power(node, values, errors)
        return self._function(node, values, errors)

    def _flag(self, value: Any, inputs: list[Any]) -> Any:
        """Mark the rows where the result underflowed from non-zero inputs."""
        np = self.np
        tiny = np.abs(value) < np.finfo(float).tiny
        self.underflow |= tiny & np.all([np.abs(v) > 0 for v in inputs], axis=0)
        return value

    def _power(self, node: sympy.Pow, values: list[Any], errors: list[Any]) -> tuple[Any, Any]:
        np = self.np
        (b, p), (eb, ep) = values, errors
        value = self._flag(np.power(b, p), [b])
        if node.exp.is_number:
            q = float(node.exp)
            slope = np.where(eb > 0, np.abs(q * np.power(b, q - 1)), 0.0)
            rounding = min(max(2.0, abs(q)), 16.0) if node.exp.is_Integer else 2.0
            return value, slope * eb + rounding * UNIT * np.abs(value)
        spread = np.abs(np.log(np.abs(b))) * ep + np.abs(p / b) * eb
        return value, np.abs(value) * spread + 2 * UNIT * np.abs(value)

    def _function(self, node: sympy.Expr, values: list[Any], errors: list[Any]) -> tuple[Any, Any]:
        np = self.np
        value_of, slopes = _function_table(node.func, len(values))
        value = self._flag(
            np.broadcast_to(np.asarray(_call(value_of, values, self.zeros), float), self.zeros.shape), values
        )
        error = 2 * UNIT * np.abs(value)
        for slope, e in zip(slopes, errors, strict=True):
            error = error + np.where(e > 0, np.abs(_call(slope, values, self.zeros)), 0.0) * e
        return value, error


def _product_of_others(np: Any, values: list[Any], k: int) -> Any:
    return functools.reduce(
        np.multiply, [np.abs(v) for j, v in enumerate(values) if j != k], np.ones_like(values[k])
    )


def _call(function: Any, values: list[Any], zeros: Any) -> Any:
    """function(*values), or 0 where it cannot be evaluated (DiracDelta, a step's derivative)."""
    try:
        return function(*values) + zeros
    except (NameError, TypeError, ValueError, AttributeError):
        return zeros


@functools.lru_cache(maxsize=64)
def _function_table(func: Any, arity: int) -> tuple[Any, tuple[Any, ...]]:
    """NumPy callables for func(z_1..z_k) and its partial derivatives."""
    z = sympy.symbols(f"z0:{arity}", real=True)
    expr = func(*z)
    modules = ["numpy", "scipy"] if func.__name__ in ("erf", "erfc") else ["numpy"]  # SciPy only when needed
    value = _lambdify(z, expr, modules)
    slopes = tuple(_lambdify(z, sympy.diff(expr, zi), modules) for zi in z)
    return value, slopes


def _lambdify(z: tuple[sympy.Symbol, ...], expr: sympy.Expr, modules: list[str]) -> Any:
    """A NumPy callable for expr, or an elementwise SymPy evaluation where NumPy has no spelling."""
    import numpy

    try:
        return sympy.lambdify(z, expr, modules=modules)
    except (NotImplementedError, TypeError, ValueError):  # e.g. Derivative(Heaviside): no NumPy printer
        return numpy.vectorize(lambda *a: float(expr.xreplace(dict(zip(z, a, strict=True))).evalf()))


def _deduplicate(points: Any, residuals: Any) -> list[tuple[Any, float, int]]:
    """The points (best residual first) more than 1e-6 apart (relative), with their index in ``points``.

    Greedy in residual order: the best remaining point is kept, and every remaining point within
    1e-6 (1 + |kept|) of it is dropped (one array operation per kept point, not per candidate).

    >>> import numpy
    >>> W = numpy.array([[1.0, 0.0], [1.0 + 1e-9, 0.0], [0.0, 2.0], [1.0 + 2e-9, 0.0]])
    >>> [(w.tolist(), i) for w, _, i in _deduplicate(W, numpy.array([3e-9, 1e-9, 2e-9, 5e-9]))]
    [([1.000000001, 0.0], 1), ([0.0, 2.0], 2)]
    """
    import numpy

    kept: list[tuple[Any, float, int]] = []
    remaining = numpy.argsort(residuals, kind="stable")
    while remaining.size:
        index, rest = remaining[0], remaining[1:]
        w = points[index]
        kept.append((w, float(residuals[index]), int(index)))
        with numpy.errstate(over="ignore", invalid="ignore"):  # huge points far apart: an inf gap is a gap
            gaps = numpy.linalg.norm(points[rest] - w, axis=-1)
            remaining = rest[gaps > 1e-6 * (1.0 + numpy.linalg.norm(w))]
    return kept


def _numeric_point(compiled: Compiled, w: Any, residual: float, tolerance: float) -> CriticalPoint:
    import numpy

    eigenvalues = numpy.linalg.eigvalsh(_derivatives(compiled, w)[1])
    scale = max(1.0, float(numpy.abs(eigenvalues).max()))
    degenerate = bool(numpy.abs(eigenvalues).min() <= 1e-8 * scale)
    if degenerate:
        kind, reason = Kind.INCONCLUSIVE, "numeric point with a nearly singular Hessian: not settled"
    else:
        kind = Kind.MINIMUM if eigenvalues[0] > 0 else Kind.MAXIMUM if eigenvalues[-1] < 0 else Kind.SADDLE
        reason = "numeric Hessian eigenvalue signs; the gradient is zero within rounding"
    return CriticalPoint(
        point=tuple(float(c) for c in w), kind=kind, eigenvalues=tuple(float(v) for v in eigenvalues),
        exact=False, degenerate=degenerate, residual=residual, reason=reason, value=float(compiled.value(w)),
        tolerance=tolerance,
    )  # fmt: skip
