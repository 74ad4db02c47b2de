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

from taylorlr._typing import require_loss
from taylorlr.compile.backends import as_batch, quiet
from taylorlr.errors import OptionError
from taylorlr.kinds import Verdict

#: the largest constant Hessian whose lambda_max is isolated exactly (else eigvalsh plus a margin)
_EXACT_EIGEN_LIMIT = 12

if TYPE_CHECKING:
    from taylorlr.loss import Loss


@dataclass(frozen=True)
class DescentLimit:
    """eps_max = 2 g^T g / g^T H g at each point (inf where g^T H g <= 0), with its parts (...,).

    >>> import taylorlr as tl
    >>> limit = descent_limit(tl.Loss("x**2 + 10*y**2"), [[1.0, 1.0], [1.0, 0.0]])  # g = (2, 20), (2, 0)
    >>> limit.gTg.tolist(), limit.gHg.tolist(), limit.eps_max.round(6).tolist()  # 808/8008, 8/8
    ([404.0, 4.0], [8008.0, 8.0], [0.100899, 1.0])
    """

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
        note: why the bound is not certified ("" when it is).

    >>> import taylorlr as tl
    >>> bound = smoothness(tl.Loss("x**4 + y**2"), 2.0)  # H = diag(12 x^2, 2): lambda_max = 48 at x = 2
    >>> bound.L, bound.certified, bound.method, bound.box
    (48.0, True, 'interval Gershgorin', ((-2.0, 2.0), (-2.0, 2.0)))
    """

    L: float
    certified: bool
    method: str
    box: tuple[tuple[float, float], ...]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "L": self.L,
            "certified": self.certified,
            "method": self.method,
            "box": [list(b) for b in self.box],
            "note": self.note,
        }


@dataclass(frozen=True)
class Guarantees:
    """What eps = 1/L guarantees for gradient descent from f(w0) with f* as the optimum.

    These are theorems only when L bounds lambda_max(H) on a region that holds every step of the
    run (for one step from one point, :func:`step_bound` proves that); ``certified`` says only
    that L was proved on the box it was computed for.

    Attributes:
        L, eps: the smoothness bound and the step 1/L.
        f0, f_star: f(w0) and the optimum value.
        certified: whether L is a certified bound (else the guarantees are estimates too).

    >>> import taylorlr as tl
    >>> g = guarantees(tl.Loss("x**2 + 10*y**2"), [1.0, 1.0], 20.0, 0.0)
    >>> g.eps, g.f0, g.certified  # an L given as a number is not certified
    (0.05, 11.0, False)
    >>> g.decrease(4.0), g.min_gradient_bound(10), g.iterations_for(0.01)  # 4/40, 2*20*11/10
    (0.1, 44.0, 44000)
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


class Certainty(Verdict):
    """Whether a step-size statement is a theorem (``"guaranteed"``) or an ``"estimate"``.

    >>> import taylorlr as tl
    >>> [str(c) for c in Certainty]
    ['guaranteed', 'estimate']
    >>> step_bound(tl.Loss("abs(x) + y**2"), ["1/10", 0]).certainty is Certainty.ESTIMATE  # a kink
    True
    """

    GUARANTEED = (
        "guaranteed",
        (
            "L is proved on a box that holds every step w - eps g with 0 < eps <= 2/L, "
            "and f is smooth there: the decrease follows from Taylor's theorem"
        ),
    )
    ESTIMATE = (
        "estimate",
        ("nothing is guaranteed (see the reason): try eps = 1/L as a first guess and check f(w+)"),
    )


@dataclass(frozen=True, kw_only=True)
class StepBound:
    """What gradient descent's step eps = 1/L does from one point w (source 001), and whether it is proved.

    With lambda_max(H) <= L on a box that holds the segment [w, w - (2/L) g] and f smooth there,
    Taylor's theorem gives f(w - eps g) <= f(w) - eps (1 - eps L / 2) ||g||^2 for 0 < eps <= 2/L:
    f(w+) <= f(w) - ||g||^2 / (2L) at eps = 1/L, and f(w+) < f(w) for every eps in (0, 2/L) when g != 0.

    Attributes:
        smoothness: L and the box it holds on (grown from w +- radius until the segment fits).
        certainty: :class:`Certainty`: "guaranteed" only when all of the above is proved.
        eps, eps_limit: 1/L and 2/L (None unless L > 0).
        decrease: ||g||^2 / (2L) rounded down, the decrease guaranteed at eps = 1/L (None for an estimate).
        reason: why the statement is only an estimate ("" when guaranteed).

    >>> import taylorlr as tl
    >>> bound = step_bound(tl.Loss("x**2 + 10*y**2"), [1.0, 1.0])  # L = 20, g = (2, 20)
    >>> str(bound.certainty), bound.eps, bound.eps_limit, bound.decrease  # 404 / 40
    ('guaranteed', 0.05, 0.1, 10.1)
    """

    smoothness: Smoothness
    certainty: Certainty
    eps: float | None
    eps_limit: float | None
    decrease: float | None
    reason: str = ""

    @property
    def guaranteed(self) -> bool:
        return self.certainty is Certainty.GUARANTEED

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.smoothness.to_dict(),
            "status": self.certainty.value,
            "eps": self.eps,
            "eps_limit": self.eps_limit,
            "guaranteed_decrease": self.decrease,
            "reason": self.reason,
        }


@dataclass(frozen=True, kw_only=True)
class StepSize:
    """The second-order step-size bounds at one point: descent limit, curvature and the 1/L step.

    Attributes:
        descent: the model's descent limit eps_max = 2 g'g / g'Hg.
        lambda_max: the largest eigenvalue of H at the point.
        bound: the step eps = 1/L and what it guarantees (:class:`StepBound`).

    >>> import taylorlr as tl
    >>> sizes = step_size(tl.Loss("x**2 + 10*y**2"), [1.0, 1.0])
    >>> sizes.lambda_max, round(float(sizes.descent.eps_max), 6), sizes.bound.eps  # 808/8008 and 1/20
    (20.0, 0.100899, 0.05)
    """

    descent: DescentLimit
    lambda_max: float
    bound: StepBound

    def to_dict(self) -> dict[str, Any]:
        return {
            "descent_limit": self.descent.to_dict(),
            "lambda_max": self.lambda_max,
            "inverse_lambda_max": 1 / self.lambda_max if 0 < self.lambda_max < math.inf else None,
            "smoothness": self.bound.to_dict(),
        }


def descent_limit(loss: Loss, at: Any, *, backend: Any = "numpy", dtype: str = "float64") -> DescentLimit:
    """The largest step eps for which the second-order model still descends along -g (batched).

    >>> import taylorlr as tl
    >>> float(descent_limit(tl.Loss("x**2 - y**2"), [0.0, 1.0]).eps_max)
    inf
    """
    loss = require_loss(loss, "descent_limit")
    compiled = loss.compile(backend, dtype)
    xp = compiled.xp
    W = as_batch(at, loss.variables, xp, compiled.backend.dtype(dtype))
    with quiet():  # overflow and 0/0 stay in the numbers (inf, NaN), which the report words
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
    Gershgorin's theorem with outward-rounded interval arithmetic on the Hessian's entries
    (:mod:`taylorlr.numerics.intervals`), which also proves f smooth on the box; where that
    fails (a kink, a pole, a function without an interval rule) a sampled estimate
    (``certified=False``, with the reason in ``note``).

    Args:
        box: a half-width r (the box [-r, r]^n), or one (lo, hi) pair per variable.
        samples: points for the sampled estimate.

    >>> import taylorlr as tl
    >>> smoothness(tl.Loss("x**2 + 10*y**2")).method, smoothness(tl.Loss("x**2 + 10*y**2")).L
    ('exact (constant Hessian)', 20.0)
    >>> estimate = smoothness(tl.Loss("abs(x) + y**2"), [(-1, 1), (0, 1)], samples=64)
    >>> estimate.certified, estimate.method, estimate.note
    (False, 'sampled estimate', 'Abs(x) has a kink inside the box (its argument can be 0)')
    """
    loss = require_loss(loss, "smoothness")
    from taylorlr.numerics.intervals import Unbounded

    bounds = _box(box, loss.n)
    try:
        return _certified(loss, bounds)
    except Unbounded as error:
        L = _sampled_bound(loss, bounds, samples)
        return Smoothness(L, False, "sampled estimate", bounds, str(error))


def step_size(
    loss: Loss, at: Any, *, radius: float = 1.0, backend: Any = "numpy", dtype: str = "float64"
) -> StepSize:
    """The descent limit, lambda_max(H) and the step 1/L at one point (see :func:`step_bound`).

    >>> import taylorlr as tl
    >>> bounds = step_size(tl.Loss("x**2 + 3*x*y**2"), [1, 2])
    >>> bounds.lambda_max > 0, bounds.bound.smoothness.L, bounds.bound.certainty.value
    (True, 30.0, 'guaranteed')
    """
    loss = require_loss(loss, "step_size")
    compiled = loss.compile("numpy", "float64")
    hessian = _numpy().asarray(compiled.hess(as_batch(at, loss.variables, _numpy(), "float64")), dtype=float)
    return StepSize(
        descent=descent_limit(loss, at, backend=backend, dtype=dtype),
        lambda_max=float(_numpy().linalg.eigvalsh(hessian)[-1]),
        bound=step_bound(loss, at, radius=radius),
    )


def step_bound(loss: Loss, at: Any, *, radius: float = 1.0, samples: int = 4096) -> StepBound:
    """The step eps = 1/L from ``at`` and what it guarantees, said to be guaranteed only when proved.

    L is proved by interval arithmetic on the box w +- r (r = ``radius``, halved up to
    ``_SHRINKS`` times until a bound exists), and the box grows until it holds the whole
    segment [w, w - (2/L) g] that the guarantee speaks of (recomputing L on it). When that
    fails, or no box has a proved bound, the result is an estimate and says why.

    >>> import taylorlr as tl
    >>> bound = step_bound(tl.Loss("40*x + x**4"), [0])
    >>> bound.certainty.value, bound.smoothness.box[0][0] < -40 * bound.eps_limit
    ('guaranteed', True)
    >>> step_bound(tl.Loss("abs(x) + y**2"), ["1/10", 0]).certainty.value
    'estimate'
    """
    loss = require_loss(loss, "step_bound")
    from taylorlr.numerics.intervals import Unbounded
    from taylorlr.symbolic.points import exact_point, value_at

    if not radius > 0:
        raise OptionError(f"radius must be positive, got {radius!r}")
    point = exact_point(at, loss.variables)
    exact_g = value_at(loss.gradient, loss.variables, point)
    g = None if exact_g is None else tuple(exact_g)
    w, gf = _floats_of(point), None if g is None else _floats_of(g)
    if gf is None:
        box = tuple((c - radius, c + radius) for c in w or ())
        reason = _gradient_failure(g)
        return _estimate(Smoothness(math.nan, False, "not computed", box, reason), reason)
    assert w is not None and g is not None  # exact_point gives finite real coordinates; gf is not None
    smooth, failure = _first_bound(loss, w, radius)
    if smooth is None:
        box = tuple((c - radius, c + radius) for c in w)
        sampled = Smoothness(_sampled_bound(loss, box, samples), False, "sampled estimate", box, failure)
        return _estimate(sampled, f"L is sampled, not proved: {failure}")
    for _ in range(_GROWTHS):
        if not smooth.L > 0:
            return _estimate(smooth, f"lambda_max(H) <= L = {smooth.L:.6g} <= 0 on the box: no step 1/L")
        far = [c - 2 / smooth.L * d for c, d in zip(w, gf, strict=True)]
        if _holds(smooth.box, w, far):
            return _guaranteed(smooth, g)
        try:
            smooth = _certified(loss, _hull(smooth.box, w, far))
        except Unbounded as error:
            return _estimate(
                smooth,
                f"the step for eps < 2/L = {2 / smooth.L:.6g} leaves the box where L is proved, "
                f"and on a box that holds it {error}",
            )
    return _estimate(smooth, "the box that must hold the step did not settle")


_Box = tuple[tuple[float, float], ...]
#: how often the box around w is halved while looking for a proved bound, and grown to hold the step
_SHRINKS = 12
_GROWTHS = 4


def _first_bound(loss: Loss, w: list[float], radius: float) -> tuple[Smoothness | None, str]:
    """The first box w +- radius / 2^k with a proved L, or None and the last reason."""
    from taylorlr.numerics.intervals import TooLarge, Unbounded

    failure = ""
    for k in range(_SHRINKS):
        r = radius / 2**k
        try:
            return _certified(loss, tuple((c - r, c + r) for c in w)), ""
        except TooLarge as error:
            return None, str(error)
        except Unbounded as error:
            failure = str(error)
    return None, failure


def _gradient_failure(g: tuple[Any, ...] | None) -> str:
    import sympy

    if g is None:
        return "the gradient at w is not real (a kink's step of a complex number): w is outside f's domain"
    if all(sympy.N(c, 30).is_real and sympy.N(c, 30).is_finite for c in g):
        return f"the gradient at w, {list(g)}, overflows floating point"
    return f"the gradient at w is {list(g)}, not finite and real: f is not differentiable there"


def _floats_of(values: Any) -> list[float] | None:
    """Exact numbers as floats (from 30 digits), or None if one is not finite and real."""
    import sympy

    approximations = [sympy.N(c, 30) for c in values]
    if not all(v.is_real and v.is_finite and math.isfinite(float(v)) for v in approximations):
        return None
    return [float(v) for v in approximations]


def _margin(a: float, b: float) -> float:
    """Room left for rounding between a float segment and the exact one (far more than needed)."""
    return 1e-9 * (abs(a) + abs(b)) + 1e-300


def _holds(box: _Box, w: list[float], far: list[float]) -> bool:
    """Whether the box holds the segment [w, far] with room for rounding."""
    return all(
        lo <= min(a, b) - _margin(a, b) and max(a, b) + _margin(a, b) <= hi
        for (lo, hi), a, b in zip(box, w, far, strict=True)
    )


def _hull(box: _Box, w: list[float], far: list[float]) -> _Box:
    return tuple(
        (min(lo, min(a, b) - 2 * _margin(a, b)), max(hi, max(a, b) + 2 * _margin(a, b)))
        for (lo, hi), a, b in zip(box, w, far, strict=True)
    )


def _guaranteed(smooth: Smoothness, g: tuple[Any, ...]) -> StepBound:
    import sympy

    L = smooth.L
    decrease = sum(c**2 for c in g) / (2 * sympy.Rational(L))
    return StepBound(
        smoothness=smooth, certainty=Certainty.GUARANTEED, eps=1 / L, eps_limit=2 / L,
        decrease=_rational_down(decrease),
    )  # fmt: skip


def _estimate(smooth: Smoothness, reason: str) -> StepBound:
    positive = 0 < smooth.L < math.inf
    return StepBound(
        smoothness=smooth, certainty=Certainty.ESTIMATE, eps=1 / smooth.L if positive else None,
        eps_limit=2 / smooth.L if positive else None, decrease=None, reason=reason,
    )  # fmt: skip


def guarantees(loss: Loss, at: Any, L: float | Smoothness, f_star: float) -> Guarantees:
    """The guarantees of gradient descent with eps = 1/L from ``at`` (one point).

    >>> import taylorlr as tl
    >>> loss = tl.Loss("x**2 + 10*y**2")
    >>> g = guarantees(loss, [1.0, 1.0], smoothness(loss), 0.0)
    >>> g.L, g.f0, g.certified, g.min_gradient_bound(11)  # 2 * 20 * 11 / 11
    (20.0, 11.0, True, 40.0)
    """
    loss = require_loss(loss, "guarantees")
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


# the certified bound --------------------------------------------------------------------------


def _certified(loss: Loss, bounds: tuple[tuple[float, float], ...]) -> Smoothness:
    """L proved on the box (raises :class:`~taylorlr.numerics.intervals.Unbounded` when it cannot be)."""
    from taylorlr.numerics.intervals import check_smooth, hessian_bound

    env = dict(zip(loss.variables, bounds, strict=True))
    check_smooth(loss.expr, env)  # f is analytic on the box, so Taylor's theorem holds there
    hessian = loss.hessian
    if not hessian.free_symbols & set(loss.variables):
        L, method = _constant_bound(hessian)
        return Smoothness(L, True, method, bounds)
    return Smoothness(hessian_bound(hessian, env), True, "interval Gershgorin", bounds)


def _constant_bound(hessian: Any) -> tuple[float, str]:
    """lambda_max of a constant Hessian, rounded up: exact root isolation for rational entries."""
    import sympy

    if all(e.is_Rational for e in hessian) and hessian.shape[0] <= _EXACT_EIGEN_LIMIT:
        poly = sympy.Poly(hessian.charpoly().as_expr())
        (_, top), _ = poly.intervals(eps=sympy.Rational(1, 10**24))[-1]
        return _rational_up(top), "exact (constant Hessian)"
    numpy = _numpy()
    eigenvalues = numpy.linalg.eigvalsh(numpy.array(hessian.evalf(20).tolist(), dtype=float))
    margin = 8 * len(eigenvalues) * numpy.finfo(float).eps * float(numpy.abs(eigenvalues).max())
    return math.nextafter(float(eigenvalues.max()) + margin, math.inf), "constant Hessian (rounding bounded)"


def _rational_up(value: Any) -> float:
    import sympy

    result = float(value)
    return math.nextafter(result, math.inf) if sympy.Rational(result) < value else result


def _rational_down(value: Any) -> float:
    import sympy

    result = float(sympy.N(value, 30))
    if not math.isfinite(result):
        return math.nextafter(result, 0.0)  # above the largest float: the largest float is below it
    return math.nextafter(result, -math.inf) if bool(sympy.Rational(result) > value) else result


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
