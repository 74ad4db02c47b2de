"""Alpha rules: Newton's method on the loss along the step, and their safeguards.

With theta+ = theta_t - alpha_t omega_t and g_t(alpha) = f(theta_t - alpha omega_t),
one Newton step on g_t' from alpha_t gives (source document 003)

    alpha_{t+1} = alpha_t + gamma * <grad f(theta+), omega> / (omega^T H(theta+) omega).

Every adaptive rule is that one formula: a *slope* estimate s ~ <grad f(theta+), omega>
over a *curvature* estimate c ~ omega^T H(theta+) omega, each computed from what the
rule declares it needs (:attr:`Rule.needs`), so the engine evaluates and counts
exactly that:

=========================  ============================================================  ====================
rule                       curvature c (slope s = <grad f(theta+), omega> unless noted)     extra per step
=========================  ============================================================  ====================
exact                      omega^T H(theta+) omega (compiled symbolic HVP)                 1 HVP
retsinas                   <grad f(theta_t) - grad f(theta+), omega> / alpha               none
value-gradient             2 (f(theta_t) - f(theta+) - alpha s) / alpha^2                  none
three-point                (f(theta+) + f(theta_t + alpha omega) - 2 f(theta_t)) / alpha^2  1 value
lagged                     <omega_t - omega_{t+1}, omega_t> / alpha, s = <omega_{t+1}, omega_t>  none
fixed                      (alpha never changes)                                            none
line-search                (alpha_t is the exact minimiser along omega_t: the oracle)        line polynomial
=========================  ============================================================  ====================

"none" means: beyond the value and gradient at theta_{t+1} that every step needs.
In the deterministic form theta+ *is* theta_{t+1}, so f(theta+) and grad f(theta+)
are reused as the next step's value and gradient.

>>> import numpy as np
>>> probe = Probe(alpha=np.array(0.5), omega=np.array([1.0]), value=np.array(1.0),
...               grad=np.array([2.0]), value_plus=np.array(0.25), grad_plus=np.array([1.0]),
...               hvp_plus=np.array([2.0]))
>>> [float(rule.slope(probe) / rule.curvature(probe)) for rule in (exact(), retsinas(), value_gradient())]
[0.5, 0.5, 0.5]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# the safeguards moved to taylorlr.alpha.safeguards; these names stay importable from here
from taylorlr.alpha.safeguards import (  # noqa: F401
    CURVATURE_POLICIES,
    FIRINGS,
    AlphaUpdate,
    Safeguards,
    next_alpha,
    resolve_safeguards,
)
from taylorlr.compile.backends import namespace_of, to_numpy
from taylorlr.errors import OptionError

#: what a rule may ask for, beyond f and grad f at theta_t and omega_t, omega_{t+1}
NEEDS = ("value_plus", "grad_plus", "hvp_plus", "value_mirror", "line")

NUMERATORS = ("gradient", "values", "values-as-published")


@dataclass(frozen=True)
class Probe:
    """What a rule can read at step t; fields a rule did not ask for are ``None``.

    Attributes:
        alpha: alpha_t, shape (...).
        omega: omega_t, shape (..., n).
        value, grad: f(theta_t) and grad f(theta_t) (of the step's proxy loss L_t).
        value_plus, grad_plus, hvp_plus: f, grad f and H omega at theta+ = theta_t - alpha_t omega_t.
        value_mirror: f(theta_t + alpha_t omega_t).
        omega_next: omega_{t+1}, the optimizer's next direction (for ``lagged``).
    """

    alpha: Any
    omega: Any
    value: Any = None
    grad: Any = None
    value_plus: Any = None
    grad_plus: Any = None
    hvp_plus: Any = None
    value_mirror: Any = None
    omega_next: Any = None

    @classmethod
    def along(cls, compiled: Any, theta: Any, omega: Any, alphas: Any) -> Probe:
        """Everything a rule can read (but omega_next) at theta, for each alpha in ``alphas``.

        For studying a rule's estimates as alpha shrinks: theta+ = theta - alpha omega
        and the mirror point theta + alpha omega are evaluated for every alpha at once.

        >>> import numpy as np, taylorlr as tl
        >>> f = tl.Loss("x**2 + y**2").compile()
        >>> p = Probe.along(f, np.array([1.0, 0.0]), np.array([1.0, 0.0]), np.array([0.5]))
        >>> p.value_plus.tolist(), p.hvp_plus.tolist()
        ([0.25], [[2.0, 0.0]])
        """
        column = alphas[..., None]
        plus, mirror = theta - column * omega, theta + column * omega
        return cls(
            alpha=alphas,
            omega=omega,
            value=compiled.value(theta),
            grad=compiled.grad(theta),
            value_plus=compiled.value(plus),
            grad_plus=compiled.grad(plus),
            hvp_plus=compiled.hvp(plus, omega),
            value_mirror=compiled.value(mirror),
        )


Estimate = Callable[[Probe], Any]


@dataclass(frozen=True)
class Rule:
    """An alpha rule: alpha_{t+1} = alpha_t + gamma * slope / curvature.

    Attributes:
        name: the registry name ("exact", "three-point", ...).
        kind: "adaptive" (slope / curvature), "fixed" or "line-search".
        needs: the evaluations the rule reads at each step (a subset of :data:`NEEDS`).
        slope: estimate of <grad f(theta+), omega> = -g_t'(alpha_t); None unless adaptive.
        curvature: estimate of omega^T H(theta+) omega = g_t''(alpha_t); None unless adaptive.
        options: rule options, for the record (e.g. the three-point numerator).
    """

    name: str
    kind: str
    needs: frozenset[str]
    slope: Estimate | None = None
    curvature: Estimate | None = None
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The name with its options, e.g. ``three-point(values)``."""
        return self.name + "".join(f"({v})" for v in self.options.values())

    def cost(self, stochastic: bool = False) -> dict[str, int]:
        """Evaluations per step, the value and gradient at theta_{t+1} included.

        Deterministic: f(theta+) and grad f(theta+) are the next step's value and
        gradient, so they cost nothing extra. Stochastic: the next point is
        evaluated on the next minibatch, and theta+ again on this one.

        >>> exact().cost()
        {'values': 1, 'gradients': 1, 'hvps': 1, 'line_searches': 0}
        >>> exact().cost(stochastic=True)["gradients"]
        2
        """
        extra_at_plus = stochastic
        return {
            "values": 1 + ("value_mirror" in self.needs) + (extra_at_plus and "value_plus" in self.needs),
            "gradients": 1 + (extra_at_plus and "grad_plus" in self.needs),
            "hvps": int("hvp_plus" in self.needs),
            "line_searches": int("line" in self.needs),
        }


def dot(a: Any, b: Any) -> Any:
    """<a, b> over the last axis, batched.

    Column by column for small n: a reduction over a short inner axis is several
    times slower than n fused multiply-adds on whole columns.
    """
    n = max(a.shape[-1], b.shape[-1])
    if n > 16:
        return namespace_of(a, b).sum(a * b, axis=-1)
    total = a[..., 0] * b[..., 0]
    for i in range(1, n):
        total = total + a[..., i] * b[..., i]
    return total


def _slope_plus(p: Probe) -> Any:
    return dot(p.grad_plus, p.omega)


def exact() -> Rule:
    """The Newton step on g_t with the exact curvature omega^T H(theta+) omega (one HVP).

    >>> sorted(exact().needs)
    ['grad_plus', 'hvp_plus']
    """
    return Rule(
        "exact",
        "adaptive",
        frozenset({"grad_plus", "hvp_plus"}),
        _slope_plus,
        lambda p: dot(p.omega, p.hvp_plus),
    )


def retsinas() -> Rule:
    """Retsinas et al.: curvature from the gradient difference, <g_t - g+, omega> / alpha.

    First-order Taylor expansion of grad f around theta+: exact on quadratics,
    error O(alpha) in general (O(alpha^2) where the third derivative is
    symmetric about the step, see docs/rules.md).

    >>> sorted(retsinas().needs)
    ['grad_plus']
    """
    return Rule(
        "retsinas",
        "adaptive",
        frozenset({"grad_plus"}),
        _slope_plus,
        lambda p: dot(p.grad - p.grad_plus, p.omega) / p.alpha,
    )


def value_gradient() -> Rule:
    """Alternative 1 of document 003: curvature from two values and the gradient at theta+.

    c = 2 (f(theta_t) - f(theta+) - alpha <grad f(theta+), omega>) / alpha^2, the
    second-order Taylor expansion of f around theta+ solved for the curvature.

    >>> value_gradient().cost()["values"]
    1
    """

    def curvature(p: Probe) -> Any:
        return 2 * (p.value - p.value_plus - p.alpha * _slope_plus(p)) / (p.alpha * p.alpha)

    return Rule("value-gradient", "adaptive", frozenset({"value_plus", "grad_plus"}), _slope_plus, curvature)


def three_point(numerator: str = "gradient") -> Rule:
    """Alternative 2 of document 003: curvature from three values along the step.

    c = (f(theta+) + f(theta_t + alpha omega) - 2 f(theta_t)) / alpha^2. The slope is

    * ``"gradient"``: <grad f(theta+), omega> (one gradient);
    * ``"values"``: (4 f(theta_t) - 3 f(theta+) - f(theta_t + alpha omega)) / (2 alpha),
      the slope at theta+ of the parabola through the three values (exact on quadratics);
    * ``"values-as-published"``: (f(theta_t + alpha omega) - f(theta+)) / (2 alpha), the
      document's central difference: the slope at theta_t, biased by alpha c.

    Raises:
        OptionError: an unknown numerator.

    >>> three_point("values").label
    'three-point(values)'
    """
    if numerator not in NUMERATORS:
        raise OptionError(f"numerator must be one of {NUMERATORS}, got {numerator!r}")
    slopes: dict[str, Estimate] = {
        "gradient": _slope_plus,
        "values": lambda p: (4 * p.value - 3 * p.value_plus - p.value_mirror) / (2 * p.alpha),
        "values-as-published": lambda p: (p.value_mirror - p.value_plus) / (2 * p.alpha),
    }

    def curvature(p: Probe) -> Any:
        return (p.value_plus + p.value_mirror - 2 * p.value) / (p.alpha * p.alpha)

    needs = {"value_plus", "value_mirror"} | ({"grad_plus"} if numerator == "gradient" else set())
    return Rule(
        "three-point", "adaptive", frozenset(needs), slopes[numerator], curvature, {"numerator": numerator}
    )


def lagged() -> Rule:
    """The zero-extra-cost form: the next direction omega_{t+1} stands in for grad f(theta+).

    s = <omega_{t+1}, omega_t>, c = <omega_t - omega_{t+1}, omega_t> / alpha_t: the
    Retsinas formula with both gradients replaced by the optimizer's directions,
    which the run computes anyway. For gradient descent in the deterministic form
    it equals ``retsinas``; for other optimizers, and with minibatches (where
    omega_{t+1} comes from the next batch L_{t+1}), it is an approximation of an
    approximation: the price of costing nothing.

    >>> lagged().needs
    frozenset()
    """
    return Rule(
        "lagged",
        "adaptive",
        frozenset(),
        lambda p: dot(p.omega_next, p.omega),
        lambda p: dot(p.omega - p.omega_next, p.omega) / p.alpha,
    )


def fixed() -> Rule:
    """No adaptation: alpha_t = alpha0 for every step.

    >>> fixed().kind
    'fixed'
    """
    return Rule("fixed", "fixed", frozenset())


def line_search() -> Rule:
    """The exact minimiser of f(theta_t - alpha omega_t) at every step (the oracle as a rule).

    alpha_0 is the oracle's too (``alpha0`` only seeds the bracket when the loss
    is not polynomial); gamma is ignored.

    >>> line_search().cost()["line_searches"]
    1
    """
    return Rule("line-search", "line-search", frozenset({"line"}))


#: name -> factory, for the edges (CLI, ``run(rule="exact")``) only.
RULES: dict[str, Callable[..., Rule]] = {
    "exact": exact,
    "retsinas": retsinas,
    "value-gradient": value_gradient,
    "three-point": three_point,
    "lagged": lagged,
    "fixed": fixed,
    "line-search": line_search,
}


def resolve_rule(rule: str | Rule, **options: Any) -> Rule:
    """A :class:`Rule` from a registry name (with options) or a Rule.

    Raises:
        OptionError: unknown name, or options the rule does not take.

    >>> resolve_rule("three-point", numerator="values").label
    'three-point(values)'
    """
    if isinstance(rule, Rule):
        if options:
            raise OptionError(f"rule options {sorted(options)} apply only to a registry name")
        return rule
    factory = RULES.get(rule) if isinstance(rule, str) else None
    if factory is None:
        raise OptionError(f"unknown rule {rule!r}: use one of {sorted(RULES)}")
    try:
        return factory(**options)
    except TypeError as error:
        raise OptionError(f"bad options for rule {rule!r}: {error}") from error


# ---------------------------------------------------------------------------- the oracle


@dataclass(frozen=True)
class LineOracle:
    """The exact line search: alpha* minimising g(alpha) = f(theta - alpha omega).

    alpha* is the lowest local minimiser of g over alpha > 0. When omega is not a
    descent direction (g'(0) >= 0) no positive minimiser exists; alpha* is then
    the local minimiser nearest 0 on the negative side (where a Newton rule on g
    goes), and NaN when g has no local minimiser at all (unbounded along the ray).

    Attributes:
        method: "polynomial roots" (exact, f polynomial) or
            "golden section (local)" (a bracketed scalar search otherwise).
        minimise: ``minimise(theta, omega, alpha_guess, data) -> alpha*`` over a batch.
    """

    method: str
    minimise: Callable[[Any, Any, Any, Mapping[str, Any]], Any]


def build_line_oracle(loss: Any, compiled: Any) -> LineOracle:
    """The line-search oracle for a :class:`~taylorlr.Loss` and its compiled functions.

    Polynomial losses: the coefficients of g(alpha) = sum c_k(theta, omega) alpha^k
    are compiled once (``loss.line_polynomial()``); at run time the real roots of
    g' come from companion matrices (NumPy eigvals on stacks, on the host).
    Other losses: a geometric grid brackets the best alpha, then golden section.

    >>> import numpy as np, sympy, taylorlr as tl
    >>> x = sympy.Symbol("x", real=True)
    >>> loss = tl.Loss((x**2 - 1)**2)
    >>> oracle = build_line_oracle(loss, loss.compile())
    >>> oracle.method, float(oracle.minimise(np.array([0.5]), np.array([-1.0]), np.array(0.1), {}))
    ('polynomial roots', 0.5)
    """
    if loss.is_polynomial:
        return LineOracle("polynomial roots", _polynomial_minimiser(loss, compiled))
    return LineOracle("golden section (local)", _golden_minimiser(compiled))


def _polynomial_minimiser(loss: Any, compiled: Any) -> Callable[..., Any]:
    from taylorlr.compile.compiled import BatchedFunction
    from taylorlr.compile.xp_codegen import build_kernel

    coefficients = list(loss.line_polynomial())
    groups = [loss.variables, loss.vector_symbols("u"), *([loss.data] if loss.data else [])]
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
