"""Analytic losses written twice: as taylorlr text and as array code (torch or JAX).

Each problem gives the taylorlr loss, a function of the flat parameter vector written with
the operators of any array library (``xp``: ``torch`` or ``jax.numpy``), and a start point.
The data are small integers, so both forms hold the very same numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import taylorlr as tl


@dataclass(frozen=True)
class Problem:
    name: str
    text: str
    names: tuple[str, ...]
    start: tuple[float, ...]
    function: Callable[[Any, Any], Any]  # (xp, w) -> scalar
    quadratic: bool

    def loss(self) -> Any:
        import taylorlr as tl

        return tl.Loss(self.text, variables=self.names)


def _constant(xp: Any, value: np.ndarray, w: Any) -> Any:
    """The problem's data as an array of w's dtype, on w's device (a CUDA parameter needs CUDA data)."""
    if xp.__name__ == "torch":
        return xp.asarray(value, dtype=w.dtype, device=w.device)
    return xp.asarray(value, dtype=w.dtype)


def _linear(row: np.ndarray, names: tuple[str, ...]) -> str:
    return " + ".join(f"({int(a)})*{v}" for a, v in zip(row, names, strict=True))


def least_squares() -> Problem:
    rng = np.random.default_rng(1)
    A, b = rng.integers(-3, 4, (6, 3)).astype(float), rng.integers(-3, 4, 6).astype(float)
    names = ("x0", "x1", "x2")
    text = (
        "("
        + " + ".join(f"({_linear(r, names)} - ({int(bi)}))**2" for r, bi in zip(A, b, strict=True))
        + ")/12"
    )

    def function(xp: Any, w: Any) -> Any:
        r = _constant(xp, A, w) @ w - _constant(xp, b, w)
        return xp.sum(r * r) / 12

    return Problem("least squares", text, names, (0.5, -1.0, 2.0), function, True)


def logistic() -> Problem:
    rng = np.random.default_rng(2)
    X, y = rng.integers(-2, 3, (8, 3)).astype(float), rng.choice([-1.0, 1.0], 8)
    names = ("w0", "w1", "w2")
    terms = [f"log(1 + exp(-({int(yi)})*({_linear(r, names)})))" for r, yi in zip(X, y, strict=True)]
    text = "(" + " + ".join(terms) + ")/8"

    def function(xp: Any, w: Any) -> Any:
        z = -_constant(xp, y, w) * (_constant(xp, X, w) @ w)
        return xp.sum(xp.log(1 + xp.exp(z))) / 8

    return Problem("logistic regression", text, names, (0.3, -0.2, 0.1), function, False)


def rosenbrock(n: int) -> Problem:
    names = tuple(f"x{i}" for i in range(n))
    text = " + ".join(f"100*({names[i + 1]} - {names[i]}**2)**2 + (1 - {names[i]})**2" for i in range(n - 1))

    def function(xp: Any, w: Any) -> Any:
        return xp.sum(100 * (w[1:] - w[:-1] ** 2) ** 2 + (1 - w[:-1]) ** 2)

    start = (-1.2, 1.0) if n == 2 else tuple(0.8 + 0.02 * i for i in range(n))
    return Problem(f"rosenbrock {n}-D", text, names, start, function, False)


def spd_quadratic() -> Problem:
    rng = np.random.default_rng(3)
    M = rng.integers(-2, 3, (4, 4)).astype(float)
    A, b = M.T @ M + np.eye(4), rng.integers(-3, 4, 4).astype(float)
    names = ("q0", "q1", "q2", "q3")
    quad = " + ".join(f"({int(A[i, j])})*{names[i]}*{names[j]}" for i in range(4) for j in range(4))
    text = f"({quad})/2 - ({_linear(b, names)})"

    def function(xp: Any, w: Any) -> Any:
        return w @ (_constant(xp, A, w) @ w) / 2 - _constant(xp, b, w) @ w

    return Problem("SPD quadratic", text, names, (1.0, -1.0, 0.5, 2.0), function, True)


PROBLEMS = (least_squares(), logistic(), rosenbrock(2), rosenbrock(10), spd_quadratic())


LS, LOGISTIC, ROSEN2, ROSEN10, SPD = PROBLEMS

# (optimizer, rule) -> (problem, gamma): each pair once, spread over the five problems
CASES = {
    ("gd", "exact"): (LOGISTIC, 1.0),
    ("gd", "retsinas"): (LS, 1.0),
    ("gd", "value-gradient"): (ROSEN10, 0.2),
    ("gd", "three-point"): (LOGISTIC, 0.5),
    ("gd", "lagged"): (LS, 1.0),
    ("gd", "fixed"): (SPD, 1.0),
    ("momentum", "exact"): (SPD, 0.1),
    ("momentum", "retsinas"): (LS, 0.1),
    ("momentum", "value-gradient"): (LOGISTIC, 0.1),
    ("momentum", "three-point"): (LOGISTIC, 0.1),
    ("momentum", "lagged"): (LOGISTIC, 0.1),
    ("momentum", "fixed"): (ROSEN2, 0.1),
    ("nesterov", "exact"): (ROSEN10, 0.1),
    ("nesterov", "retsinas"): (SPD, 0.1),
    ("nesterov", "value-gradient"): (LOGISTIC, 0.1),
    ("nesterov", "three-point"): (LS, 0.1),
    ("nesterov", "lagged"): (LS, 0.1),
    ("nesterov", "fixed"): (ROSEN10, 0.1),
    ("rmsprop", "exact"): (SPD, 0.1),
    ("rmsprop", "retsinas"): (LS, 0.1),
    ("rmsprop", "value-gradient"): (LS, 0.1),
    ("rmsprop", "three-point"): (ROSEN10, 0.1),
    ("rmsprop", "lagged"): (SPD, 0.1),
    ("rmsprop", "fixed"): (LOGISTIC, 0.1),
    ("adagrad", "exact"): (LS, 0.1),
    ("adagrad", "retsinas"): (LS, 0.1),
    ("adagrad", "value-gradient"): (ROSEN10, 0.1),
    ("adagrad", "three-point"): (SPD, 0.1),
    ("adagrad", "lagged"): (LS, 0.1),
    ("adagrad", "fixed"): (ROSEN2, 0.1),
    ("adam", "exact"): (ROSEN2, 0.1),
    ("adam", "retsinas"): (ROSEN2, 0.1),
    ("adam", "value-gradient"): (ROSEN2, 0.1),
    ("adam", "three-point"): (ROSEN2, 0.1),
    ("adam", "lagged"): (LOGISTIC, 0.1),
    ("adam", "fixed"): (LS, 0.1),
    ("adamw", "exact"): (ROSEN10, 0.1),
    ("adamw", "retsinas"): (ROSEN10, 0.1),
    ("adamw", "value-gradient"): (ROSEN2, 0.1),
    ("adamw", "three-point"): (ROSEN10, 0.1),
    ("adamw", "lagged"): (LOGISTIC, 0.1),
    ("adamw", "fixed"): (SPD, 0.1),
}


_LOSSES: dict[str, object] = {}


def loss_of(problem):
    if problem.name not in _LOSSES:
        _LOSSES[problem.name] = problem.loss()
    return _LOSSES[problem.name]


def engine(problem, optimizer, rule, *, steps=50, alpha0=1e-3, gamma=1.0, **options):
    return tl.run(loss_of(problem), list(problem.start), optimizer, rule, alpha0=alpha0, gamma=gamma,
                  steps=steps, tol=1e-6, oracle=False, path="generic", **options)  # fmt: skip


def discrepancy(run, alphas, points, *, lagged=False):
    """Largest relative difference of alphas, and of iterates (in norm), up to the engine's stop.

    ``lagged`` learns that a step was rejected one call later: the point the engine kept
    (theta_t again) is, in the wrapper, the rejected one; those points are skipped.
    """
    k = int(run.stopped_at)
    ea, ep = run.alphas[:k], run.points[: k + 1]
    keep = np.ones(k + 1, bool)
    if lagged:
        keep[1:] = np.any(ep[1:] != ep[:-1], axis=-1)
    da = np.max(np.abs(alphas[:k] - ea) / np.abs(ea), initial=0.0)
    dp = np.linalg.norm(points[: k + 1] - ep, axis=-1) / np.linalg.norm(ep, axis=-1)
    return da, np.max(dp[keep], initial=0.0)


def engine_noise(problem, optimizer, rule, *, steps=50, alpha0=1e-3, gamma=1.0, **options):
    """How far the engine disagrees with itself on this run: its fused path (the same formulas,
    summed in another order) and a start moved by one ulp each way, against the generic path.

    Where the run amplifies rounding (a value-gradient estimate on a settled loss, a gradient
    difference of tiny steps), this exceeds 1e-10: no implementation with other rounding (torch's
    autograd, JAX's) can then agree to 1e-10, and the wrapper is held to 10x this instead.
    """
    base = engine(problem, optimizer, rule, steps=steps, alpha0=alpha0, gamma=gamma, **options)
    start = np.asarray(problem.start, dtype=float)
    others = [
        tl.run(loss_of(problem), list(start), optimizer, rule, alpha0=alpha0, gamma=gamma, steps=steps,
               tol=1e-6, oracle=False, path="fused", **options),
        *(engine(_moved(problem, start * (1 + s * 2.0**-52)), optimizer, rule, steps=steps, alpha0=alpha0,
                 gamma=gamma, **options) for s in (1, -1)),
    ]  # fmt: skip
    return max(max(discrepancy(base, other.alphas, other.points)) for other in others)


def _moved(problem, start):
    return dataclasses.replace(problem, start=tuple(float(v) for v in start))


def agrees(problem, optimizer, rule, da, dp, *, gamma=1.0, **options):
    """The wrapper's discrepancy (alphas ``da``, iterates ``dp``) is within 1e-10, or within 10x the
    engine's own disagreement where the run amplifies rounding beyond that (:func:`engine_noise`)."""
    worst = max(da, dp)
    if worst <= 1e-10:
        return True
    noise = engine_noise(problem, optimizer, rule, gamma=gamma, **options)
    return worst <= 10 * noise
