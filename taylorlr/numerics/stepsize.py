"""Source 001's step-size theory as functions: the descent limit, L-smoothness and GD's guarantees.

- The second-order model descends for eps <= eps_max = 2 g^T g / g^T H g (any eps when g^T H g <= 0).
- If lambda_max(H(w)) <= L on a region, eps = 1/L gives f(w+) <= f(w) - ||g||^2 / (2L), so
  min_k ||g_k||^2 <= 2L (f(w0) - f*) / t, and ||g||^2 <= delta within ceil(2L (f(w0) - f*) / delta) steps.

>>> import taylorlr as tl
>>> loss = tl.Loss("x**2 + 10*y**2")
>>> smoothness(loss, box=1.0).L, smoothness(loss, box=1.0).method
(20.0, 'exact (constant Hessian)')
>>> float(descent_limit(loss, [1.0, 0.0]).eps_max)
1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taylorlr.compile.backends import as_batch
from taylorlr.errors import OptionError

if TYPE_CHECKING:
    from taylorlr.loss import Loss


@dataclass(frozen=True)
class DescentLimit:
    """eps_max = 2 g^T g / g^T H g at each point (inf where g^T H g <= 0), with its parts (...,)."""

    eps_max: Any
    gTg: Any
    gHg: Any

    def to_dict(self) -> dict[str, Any]:
        return {name: _floats(getattr(self, name)) for name in ("eps_max", "gTg", "gHg")}


@dataclass(frozen=True)
class Smoothness:
    """An upper bound L on lambda_max(H(w)) over the box [lo, hi]^n (per coordinate).

    Attributes:
        L: the bound.
        certified: True when L provably bounds lambda_max on the whole box.
        method: "exact (constant Hessian)", "interval Gershgorin" or "sampled estimate".
        box: ((lo_1, hi_1), ..., (lo_n, hi_n)).
    """

    L: float
    certified: bool
    method: str
    box: tuple[tuple[float, float], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "L": self.L,
            "certified": self.certified,
            "method": self.method,
            "box": [list(b) for b in self.box],
        }


@dataclass(frozen=True)
class Guarantees:
    """What eps = 1/L guarantees for gradient descent from f(w0) with f* as the optimum.

    Attributes:
        L, eps: the smoothness bound and the step 1/L.
        f0, f_star: f(w0) and the optimum value.
        certified: whether L is a certified bound (else the guarantees are estimates too).
    """

    L: float
    eps: float
    f0: float
    f_star: float
    certified: bool

    def decrease(self, gradient_norm_squared: float) -> float:
        """The guaranteed decrease f(w) - f(w+) >= ||g||^2 / (2L) for one step."""
        return gradient_norm_squared / (2 * self.L)

    def min_gradient_bound(self, t: int) -> float:
        """min over the first t iterates of ||g_k||^2 <= 2L (f(w0) - f*) / t."""
        return 2 * self.L * (self.f0 - self.f_star) / t

    def iterations_for(self, delta: float) -> int:
        """Steps after which some iterate has ||g||^2 <= delta: ceil(2L (f(w0) - f*) / delta)."""
        if not delta > 0:
            raise OptionError(f"delta must be positive, got {delta!r}")
        return max(1, math.ceil(2 * self.L * (self.f0 - self.f_star) / delta))

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def descent_limit(loss: Loss, at: Any, *, backend: Any = "numpy", dtype: str = "float64") -> DescentLimit:
    """The largest step eps for which the second-order model still descends along -g (batched).

    >>> import taylorlr as tl
    >>> float(descent_limit(tl.Loss("x**2 - y**2"), [0.0, 1.0]).eps_max)
    inf
    """
    compiled = loss.compile(backend, dtype)
    xp = compiled.xp
    W = as_batch(at, loss.variables, xp, compiled.backend.dtype(dtype))
    g = compiled.grad(W)
    gTg = xp.sum(g * g, axis=-1)
    gHg = xp.sum(g * compiled.hvp(W, g), axis=-1)
    positive = gHg > 0
    safe = xp.where(positive, gHg, xp.ones_like(gHg))
    eps_max = xp.where(positive, 2 * gTg / safe, xp.full_like(gHg, math.inf))
    return DescentLimit(eps_max, gTg, gHg)


def smoothness(loss: Loss, box: Any = 1.0, *, samples: int = 4096) -> Smoothness:
    """An upper bound L on the Hessian's largest eigenvalue over a box.

    Exact for a constant Hessian (quadratics); otherwise a certified bound from
    Gershgorin's theorem with interval arithmetic on the Hessian's entries, when every
    entry is built from + - * / integer powers, exp, log, sqrt, sin and cos; else a
    sampled estimate (``certified=False``).

    Args:
        box: a half-width r (the box [-r, r]^n), or one (lo, hi) pair per variable.
        samples: points for the sampled estimate.
    """
    bounds = _box(box, loss.n)
    hessian = loss.hessian
    if not hessian.free_symbols & set(loss.variables):
        import numpy

        L = float(numpy.linalg.eigvalsh(numpy.array(hessian.tolist(), dtype=float)).max())
        return Smoothness(L, True, "exact (constant Hessian)", bounds)
    try:
        L = _gershgorin_bound(hessian, loss.variables, bounds)
    except _Unsupported:
        return Smoothness(_sampled_bound(loss, bounds, samples), False, "sampled estimate", bounds)
    return Smoothness(L, True, "interval Gershgorin", bounds)


def guarantees(loss: Loss, at: Any, L: float | Smoothness, f_star: float) -> Guarantees:
    """The guarantees of gradient descent with eps = 1/L from ``at`` (one point)."""
    bound = L if isinstance(L, Smoothness) else Smoothness(float(L), False, "given", ())
    if not bound.L > 0:
        raise OptionError(f"L must be positive, got {bound.L!r}")
    f0 = float(loss.compile().value(as_batch(at, loss.variables, _numpy(), "float64")))
    return Guarantees(bound.L, 1 / bound.L, f0, float(f_star), bound.certified)


def _box(box: Any, n: int) -> tuple[tuple[float, float], ...]:
    if isinstance(box, (int, float)):
        return ((-float(box), float(box)),) * n
    pairs = tuple((float(lo), float(hi)) for lo, hi in box)
    if len(pairs) != n or any(not lo <= hi for lo, hi in pairs):
        raise OptionError(f"box must be a half-width or {n} (lo, hi) pairs with lo <= hi, got {box!r}")
    return pairs


# interval arithmetic (outward rounded) ------------------------------------------------------


class _Unsupported(Exception):
    """An expression the interval evaluator cannot bound."""


def _gershgorin_bound(hessian: Any, variables: Any, bounds: tuple[tuple[float, float], ...]) -> float:
    """max_i (sup H_ii + sum_{j != i} sup |H_ij|) over the box: >= lambda_max(H(w)) for every w in it."""
    env = dict(zip(variables, bounds, strict=True))
    n = hessian.shape[0]
    rows = []
    for i in range(n):
        total = _interval(hessian[i, i], env)[1]
        for j in range(n):
            if j != i:
                lo, hi = _interval(hessian[i, j], env)
                total = _up(total + max(abs(lo), abs(hi)))
        rows.append(total)
    return max(rows)


def _down(x: float) -> float:
    return math.nextafter(x, -math.inf)


def _up(x: float) -> float:
    return math.nextafter(x, math.inf)


def _interval(expr: Any, env: dict[Any, tuple[float, float]]) -> tuple[float, float]:
    """An interval containing expr over the box ``env`` (symbol -> (lo, hi))."""
    import sympy

    if expr in env:
        return env[expr]
    if expr.is_Number:
        return _down(float(expr)), _up(float(expr))
    args = [_interval(a, env) for a in expr.args]
    if isinstance(expr, sympy.Add):
        return _down(sum(lo for lo, _ in args)), _up(sum(hi for _, hi in args))
    if isinstance(expr, sympy.Mul):
        result = args[0]
        for other in args[1:]:
            result = _product(result, other)
        return result
    if isinstance(expr, sympy.Pow) and expr.exp.is_Integer:
        return _power(args[0], int(expr.exp))
    monotone = {sympy.exp: math.exp, sympy.log: math.log}
    if type(expr) in monotone and (type(expr) is sympy.exp or args[0][0] > 0):
        f = monotone[type(expr)]
        return _down(f(args[0][0])), _up(f(args[0][1]))
    if isinstance(expr, (sympy.sin, sympy.cos)):
        return -1.0, 1.0
    raise _Unsupported(f"no interval rule for {type(expr).__name__}")


def _product(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    corners = [x * y for x in a for y in b]
    return _down(min(corners)), _up(max(corners))


def _power(a: tuple[float, float], k: int) -> tuple[float, float]:
    lo, hi = a
    if k < 0:
        if lo <= 0 <= hi:
            raise _Unsupported("a negative power of an interval that contains 0")
        lo, hi = _down(1 / hi), _up(1 / lo)
        k = -k
    values = [lo**k, hi**k]
    low = 0.0 if (k % 2 == 0 and lo <= 0 <= hi) else min(values)
    return _down(low), _up(max(values))


def _sampled_bound(loss: Loss, bounds: tuple[tuple[float, float], ...], samples: int) -> float:
    numpy = _numpy()
    lo, hi = numpy.array(bounds).T
    W = numpy.random.default_rng(0).uniform(lo, hi, size=(samples, len(bounds)))
    W = numpy.concatenate([W, numpy.array(numpy.meshgrid(*numpy.array(bounds))).reshape(len(bounds), -1).T])
    return float(numpy.linalg.eigvalsh(loss.compile().hess(W))[..., -1].max())


def _numpy() -> Any:
    import numpy

    return numpy


def _floats(array: Any) -> Any:
    from taylorlr.compile.backends import to_numpy

    return _numpy().asarray(to_numpy(array), dtype=float).tolist()
