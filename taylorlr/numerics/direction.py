"""Source 002's question answered for analytic losses: the best unit direction for a fixed step length.

delta* = argmin over ||delta|| = 1 of f(w - eta delta). For the second-order model
m(s) = f + g^T s + s^T H s / 2 with s = -eta delta this is the trust-region subproblem on
the sphere ||s|| = eta: s = -(H + lambda I)^-1 g with H + lambda I positive semidefinite,
found from H's eigendecomposition (the "hard case", g orthogonal to the lowest
eigenvector, included). For the true loss it is solved numerically (labelled so).

>>> import taylorlr as tl
>>> best = best_direction(tl.Loss("x**2 + 10*y**2"), [1.0, 1.0], eta=0.5)
>>> round(best.model_value, 6) <= round(best.gradient_value, 6)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taylorlr._typing import require_loss
from taylorlr.compile.backends import as_batch
from taylorlr.errors import OptionError

if TYPE_CHECKING:
    from taylorlr.loss import Loss


@dataclass(frozen=True)
class BestDirection:
    """The best unit direction for a step of length eta, and how the usual directions compare.

    Attributes:
        eta: the step length.
        model_direction, model_value: delta* of the quadratic model and the true f(w - eta delta*).
        model_prediction: the model's own value at delta*.
        hard_case: whether the model's subproblem was in the hard case.
        multiplier: the lambda with (H + lambda I) s = -g.
        numeric_direction, numeric_value: delta* for the true loss (numeric, local search from
            several starts; None when ``numeric=False``).
        gradient_value: f(w - eta g/||g||).
        newton_value: f(w - eta s_N/||s_N||) for the Newton step s_N (None if H is singular).

    On f = x^2 + y^2 at (3, 4) every direction is g/||g|| = (0.6, 0.8), one step of length 1
    lands at (2.4, 3.2) with f = 16, and (H + lambda I) s = -g holds with lambda = 8:

    >>> import taylorlr as tl
    >>> best = best_direction(tl.Loss("x**2 + y**2"), [3.0, 4.0], 1.0, numeric=False)
    >>> best.model_direction, best.model_value, best.gradient_value, best.newton_value
    ((0.6, 0.8), 16.0, 16.0, 16.0)
    >>> round(best.multiplier, 9), best.hard_case, best.numeric_direction
    (8.0, False, None)
    """

    eta: float
    model_direction: tuple[float, ...]
    model_value: float
    model_prediction: float
    hard_case: bool
    multiplier: float
    numeric_direction: tuple[float, ...] | None
    numeric_value: float | None
    gradient_value: float
    newton_value: float | None

    def to_dict(self) -> dict[str, Any]:
        data = dict(vars(self))
        for key in ("model_direction", "numeric_direction"):
            data[key] = None if data[key] is None else list(data[key])
        data["numeric_label"] = "numeric local search: evidence, not proof"
        return data


def best_direction(
    loss: Loss, at: Any, eta: float, *, numeric: bool = True, starts: int = 16
) -> BestDirection:
    """delta* = argmin_{||delta|| = 1} f(w - eta delta): exact for the model, numeric for f.

    Args:
        loss: the loss; at: one point; eta: the step length (> 0).
        numeric: also minimise the true loss over the sphere (SciPy, imported here).
        starts: random starts for the numeric search (plus the model, gradient and Newton directions).

    >>> import taylorlr as tl
    >>> best = best_direction(tl.Loss("x**2 + 10*y**2"), [1.0, 1.0], 0.05, numeric=False)
    >>> [round(c, 4) for c in best.model_direction], best.hard_case, best.model_value < best.gradient_value
    ([0.1041, 0.9946], False, True)
    """
    loss = require_loss(loss, "best_direction")
    import numpy

    if not eta > 0:
        raise OptionError(f"eta must be positive, got {eta!r}")
    f = loss.compile()
    w = as_batch(at, loss.variables, numpy, "float64")
    g, H = f.grad(w), f.hess(w)
    s, multiplier, hard = sphere_subproblem(g, H, eta)
    model_direction = -s / eta
    value = lambda d: float(f.value(w - eta * d))  # noqa: E731
    candidates = [model_direction, *_usual_directions(g, H)]
    numeric_result = _numeric_best(value, candidates, loss.n, starts) if numeric else None
    usual = _usual_directions(g, H)
    return BestDirection(
        eta=float(eta),
        model_direction=tuple(float(v) for v in model_direction),
        model_value=value(model_direction),
        model_prediction=float(f.value(w) + g @ s + 0.5 * s @ H @ s),
        hard_case=hard,
        multiplier=multiplier,
        numeric_direction=None if numeric_result is None else tuple(float(v) for v in numeric_result),
        numeric_value=None if numeric_result is None else value(numeric_result),
        gradient_value=value(usual[0]),
        newton_value=value(usual[1]) if len(usual) > 1 else None,
    )


def sphere_subproblem(g: Any, H: Any, radius: float) -> tuple[Any, float, bool]:
    """The global minimiser of g^T s + s^T H s / 2 on ||s|| = radius.

    Returns (s, lambda, hard_case) with (H + lambda I) s = -g and lambda >= -lambda_min(H).

    >>> import numpy as np
    >>> s, lam, hard = sphere_subproblem(np.array([0.0, 1.0]), np.diag([-2.0, 1.0]), 1.0)
    >>> s.round(6).tolist(), hard
    ([0.942809, -0.333333], True)
    """
    import numpy

    values, vectors = numpy.linalg.eigh(H)
    c = vectors.T @ g
    lowest = values[0]
    tiny = 1e-12 * max(1.0, float(numpy.abs(values).max()))
    on_lowest = numpy.abs(values - lowest) <= tiny
    norm = lambda lam: float(numpy.linalg.norm(c / (values + lam)))  # noqa: E731
    if numpy.all(numpy.abs(c[on_lowest]) <= tiny * max(1.0, float(numpy.linalg.norm(g)))):
        rest = ~on_lowest
        partial = numpy.zeros_like(c)
        partial[rest] = -c[rest] / (values[rest] - lowest)
        if numpy.linalg.norm(partial) <= radius:  # the hard case: fill up along the lowest eigenvector
            partial[numpy.argmax(on_lowest)] = numpy.sqrt(max(radius**2 - float(partial @ partial), 0.0))
            return vectors @ partial, float(-lowest), True
    lam = _secular_root(norm, -lowest, radius, float(numpy.linalg.norm(g)))
    return vectors @ (-c / (values + lam)), float(lam), False


def _secular_root(norm: Any, lower: float, radius: float, gnorm: float) -> float:
    """lambda > lower with ||s(lambda)|| = radius (||s|| decreases in lambda), by bisection."""
    lo, hi = lower, lower + gnorm / radius + 1.0
    while norm(hi) > radius:
        hi = lower + 2 * (hi - lower)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if mid <= lower or norm(mid) > radius:
            lo = mid
        else:
            hi = mid
    return hi


def _usual_directions(g: Any, H: Any) -> list[Any]:
    import numpy

    directions = [g / numpy.linalg.norm(g)] if numpy.linalg.norm(g) > 0 else [numpy.zeros_like(g)]
    try:
        newton = numpy.linalg.solve(H, g)
    except numpy.linalg.LinAlgError:
        return directions
    return [*directions, newton / numpy.linalg.norm(newton)] if numpy.linalg.norm(newton) > 0 else directions


def _numeric_best(value: Any, candidates: list[Any], n: int, starts: int) -> Any:
    """Minimise value(d / ||d||) from the candidates and random starts (SciPy's BFGS)."""
    import numpy
    from scipy.optimize import minimize

    rng = numpy.random.default_rng(0)
    seeds = [c for c in candidates if numpy.linalg.norm(c) > 0] + list(rng.normal(size=(starts, n)))
    on_sphere = lambda d: value(d / numpy.linalg.norm(d))  # noqa: E731
    results = [minimize(on_sphere, seed, method="BFGS") for seed in seeds]
    best = min(results, key=lambda r: r.fun).x
    return best / numpy.linalg.norm(best)
