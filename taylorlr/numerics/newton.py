"""One-step and iterated Newton, with eigenvalue checks and third-order steps.

The Newton step solves H s = g and moves to w - s: on a quadratic it lands on the
stationary point in one step, and the eigenvalues of H say what kind of point that is.
Everything here is batched over the leading axes of ``at`` and written against the
array namespace ``xp`` of the compiled loss (NumPy, CuPy, array-api-strict).

>>> import taylorlr as tl
>>> s = tl.newton_step(tl.Loss("x**2 - 4*x"), [0.0])
>>> float(s.point[0]), float(s.eta), s.curvature
(2.0, 0.5, 'minimum')
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from taylorlr.compile.backends import as_batch, to_numpy
from taylorlr.errors import OptionError, PointError, SingularHessianError

if TYPE_CHECKING:
    from taylorlr.compile.compiled import Compiled
    from taylorlr.loss import Loss

FALLBACKS = (None, "pinv", "damped")
METHODS = ("newton", "halley", "chebyshev")
#: default relative tolerance under which an eigenvalue counts as zero, per dtype
DEFAULT_RTOL = {"float64": 1e-10, "float32": 1e-5}
#: default Levenberg damping, relative to max(1, max |eigenvalue|)
DEFAULT_DAMPING = 1e-3


@dataclass(frozen=True)
class NewtonStep:
    """One Newton step w+ = w - H^-1 g at one point or a batch of points.

    Attributes:
        start: the point(s) the step starts from, shape (..., n).
        point: the new point(s) w - step, shape (..., n).
        step: H^-1 g (through a solve; the fallback's step where H is singular), (..., n).
        gradient: g at the start, (..., n).
        hessian: H at the start, (..., n, n).
        eigenvalues: H's eigenvalues in ascending order, (..., n).
        condition: max |eigenvalue| / min |eigenvalue| (inf where H is singular), (...,).
        curvature: "minimum", "maximum", "saddle", "singular", or "nonfinite" (a batch
            member whose point, gradient or Hessian is not finite: it takes no step); a str
            for one point, a NumPy array of str of the batch shape for a batch.
        shift: the Levenberg shift mu added to H (0 where no damping was used), (...,).
        method: "newton", "halley" or "chebyshev".
        fallback: None, "pinv" or "damped".
    """

    start: Any
    point: Any
    step: Any
    gradient: Any
    hessian: Any
    eigenvalues: Any
    condition: Any
    curvature: Any
    shift: Any
    method: str = "newton"
    fallback: str | None = None
    _singular: Any = field(default=None, repr=False, compare=False)
    _nonfinite: Any = field(default=None, repr=False, compare=False)

    @cached_property
    def eta(self) -> Any:
        """The learning rate that the step used: 1/f'' in 1-D, the matrix H^-1 in n-D.

        Formed only when accessed. Where H is singular, it is the pseudo-inverse
        (``fallback="pinv"``), (H + mu I)^-1 (``"damped"``) or 0 (no step taken).
        For third-order methods it is still the Newton eta of the start point.
        """
        xp = _xp_of(self.hessian)
        inverse = _effective_inverse(xp, self.hessian, self.shift, self._singular, self.fallback)
        return inverse[..., 0, 0] if self.hessian.shape[-1] == 1 else inverse

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.point.shape[:-1])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: arrays as (nested) lists of floats."""
        return {
            "start": _floats(self.start),
            "point": _floats(self.point),
            "step": _floats(self.step),
            "gradient": _floats(self.gradient),
            "eigenvalues": _floats(self.eigenvalues),
            "condition": _floats(self.condition),
            "curvature": _lists(self.curvature),
            "shift": _floats(self.shift),
            "eta": _floats(self.eta),
            "method": self.method,
            "fallback": self.fallback,
        }


@dataclass(frozen=True)
class NewtonRun:
    """Iterated Newton: one :class:`NewtonStep` per step and a status.

    Attributes:
        steps: the steps taken, in order.
        point: the last point reached, (..., n).
        status: "converged" (||g|| <= tol), "max_steps", "singular" (a singular
            Hessian without fallback stopped it) or "nonfinite" (the point left f's domain or
            overflowed); a str, or a NumPy array of str for a batch.
        iterations: the number of steps taken.
        tol: the gradient-norm tolerance.
    """

    steps: tuple[NewtonStep, ...]
    point: Any
    status: Any
    iterations: int
    tol: float

    @property
    def points(self) -> Any:
        """All points, the start first: shape (iterations + 1, ..., n)."""
        xp = _xp_of(self.point)
        return xp.stack([self.steps[0].start, *(s.point for s in self.steps)], axis=0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "point": _floats(self.point),
            "status": _lists(self.status),
            "iterations": self.iterations,
            "tol": self.tol,
            "steps": [s.to_dict() for s in self.steps],
        }


def newton_step(
    loss: Loss,
    at: Any,
    *,
    fallback: str | None = None,
    method: str = "newton",
    rtol: float | None = None,
    damping: float = DEFAULT_DAMPING,
    backend: Any = "numpy",
    dtype: str = "float64",
) -> NewtonStep:
    """One Newton step from ``at`` (one point, or a batch of shape (..., n)).

    w+ = w - H^-1 g, with H^-1 g from a solve. ``method="halley"`` or
    ``"chebyshev"`` adds the third-order correction (Halley: (H - T[s]/2) d = g;
    Chebyshev: d = s + H^-1 T[s, s]/2, with s the Newton step and T the third
    derivative tensor), which converges cubically instead of quadratically.

    Args:
        loss: the :class:`~taylorlr.Loss`.
        at: a point (mapping, sequence) or an array of points (..., n).
        fallback: what to do where H is singular: None (raise for a single point;
            in a batch, keep the start point and say "singular"), "pinv" (the
            pseudo-inverse step) or "damped" (solve with H + mu I, mu reported in ``shift``).
        method: "newton", "halley" or "chebyshev".
        rtol: an eigenvalue with |lambda| <= rtol * max |lambda| counts as zero
            (default 1e-10 for float64, 1e-5 for float32).
        damping: the damped fallback's mu = max(0, -lambda_min) + damping * max(1, max |lambda|).
        backend, dtype: where and in what precision to compute.

    Returns:
        A :class:`NewtonStep`.

    Raises:
        SingularHessianError: a single point with a singular Hessian and no fallback.
        OptionError: an unknown fallback or method, or a negative rtol or damping.

    >>> import taylorlr as tl
    >>> s = tl.newton_step(tl.Loss("x**2 - y**2"), {"x": 1, "y": 2})
    >>> s.point.tolist(), s.curvature, s.eigenvalues.tolist()
    ([0.0, 0.0], 'saddle', [-2.0, 2.0])
    """
    compiled = loss.compile(backend, dtype)
    W = as_batch(at, loss.variables, compiled.xp, compiled.backend.dtype(dtype))
    return newton_step_on(
        compiled,
        W,
        fallback=fallback,
        method=method,
        rtol=rtol,
        damping=damping,
        third=_third_order(loss, method, backend, dtype),
        raise_singular=W.ndim == 1,
    )


def newton_step_on(
    compiled: Compiled,
    W: Any,
    *,
    fallback: str | None = None,
    method: str = "newton",
    rtol: float | None = None,
    damping: float = DEFAULT_DAMPING,
    third: Compiled | None = None,
    raise_singular: bool = False,
) -> NewtonStep:
    """:func:`newton_step` on arrays: ``W`` (..., n) and a compiled loss (no SymPy)."""
    _check_options(fallback, method, rtol, damping)
    xp = compiled.xp
    tol = DEFAULT_RTOL[compiled.dtype] if rtol is None else rtol
    g, H, nonfinite = _finite_derivatives(compiled, W, single=raise_singular)
    eigenvalues = xp.linalg.eigvalsh(H)
    largest = xp.max(xp.abs(eigenvalues), axis=-1)
    smallest = xp.min(xp.abs(eigenvalues), axis=-1)
    # a non-finite member is treated like a singular one (no step), and labelled apart
    singular = xp.logical_or(smallest <= tol * largest, nonfinite)
    if raise_singular and fallback is None and bool(singular):
        raise SingularHessianError(
            f"the Hessian is singular at {to_numpy(W).tolist()} "
            f"(eigenvalues {to_numpy(eigenvalues).tolist()}, "
            f"rtol={tol:g}): no Newton step exists; pass fallback='pinv' (pseudo-inverse step) "
            "or fallback='damped' (Levenberg shift)"
        )
    shift = _shift(xp, eigenvalues, largest, singular, fallback, damping)
    step = _solve_step(xp, H, g, shift, singular, fallback, tol)
    if method != "newton" and third is not None:
        safe_H = xp.where(singular[..., None, None], xp.eye(H.shape[-1], dtype=H.dtype), H)
        step = xp.where(singular[..., None], step, _third_order_step(xp, third, W, safe_H, g, step, method))
    safe_smallest = xp.where(singular, xp.ones_like(smallest), smallest)
    condition = xp.where(singular, xp.full_like(largest, float("inf")), largest / safe_smallest)
    return NewtonStep(
        start=W, point=W - step, step=step, gradient=g, hessian=H, eigenvalues=eigenvalues,
        condition=condition, curvature=_curvature(eigenvalues, singular, nonfinite), shift=shift,
        method=method, fallback=fallback, _singular=singular, _nonfinite=nonfinite,
    )  # fmt: skip


def _finite_derivatives(compiled: Compiled, W: Any, *, single: bool) -> tuple[Any, Any, Any]:
    """g and H at W, with members where f, g or H is not finite masked (g = 0, H = I).

    f is checked too: log(x) + x**2 has a finite gradient and Hessian at x < 0, where
    f itself is undefined.

    Raises:
        PointError: a single point where they are not finite (outside the domain, or overflow).
    """
    xp = compiled.xp
    with _quiet(xp):
        value, g, H = compiled.value(W), compiled.grad(W), compiled.hess(W)
    finite = xp.isfinite(value) & xp.all(xp.isfinite(g), axis=-1)
    finite = finite & xp.all(xp.isfinite(xp.reshape(H, (*H.shape[:-2], -1))), axis=-1)
    nonfinite = xp.logical_not(finite)
    if single and bool(nonfinite):
        raise PointError(
            f"f, its gradient or its Hessian is not finite at {to_numpy(W).tolist()} "
            f"(f = {to_numpy(value).tolist()}, gradient {to_numpy(g).tolist()}): "
            "the point is outside f's domain, or the values overflow"
        )
    g = xp.where(nonfinite[..., None], xp.zeros_like(g), g)
    eye = xp.eye(H.shape[-1], dtype=H.dtype)
    return g, xp.where(nonfinite[..., None, None], eye, H), nonfinite


def _quiet(xp: Any) -> Any:
    """Silence NumPy's overflow and invalid-value warnings: non-finite members are labelled."""
    import contextlib

    if xp.__name__ == "numpy":
        return xp.errstate(all="ignore")
    return contextlib.nullcontext()


def newton(
    loss: Loss,
    at: Any,
    *,
    steps: int = 50,
    tol: float = 1e-10,
    fallback: str | None = None,
    method: str = "newton",
    rtol: float | None = None,
    backend: Any = "numpy",
    dtype: str = "float64",
) -> NewtonRun:
    """Iterated Newton from ``at``: at most ``steps`` steps, stopping when ||g|| <= tol.

    Members of a batch stop independently (a converged or singular member keeps
    its point); a singular Hessian without a fallback ends a member with status
    "singular" instead of raising.

    >>> import taylorlr as tl
    >>> run = tl.newton(tl.Loss("x**4 - 2*x**2"), [2.0], steps=30, tol=1e-12)
    >>> run.status, round(float(run.point[0]), 12), run.iterations < 10
    ('converged', 1.0, True)
    """
    if not isinstance(steps, int) or steps < 1:
        raise OptionError(f"steps must be a positive integer, got {steps!r}")
    compiled = loss.compile(backend, dtype)
    xp = compiled.xp
    W = as_batch(at, loss.variables, xp, compiled.backend.dtype(dtype))
    third = _third_order(loss, method, backend, dtype)
    records: list[NewtonStep] = []
    done = xp.zeros(W.shape[:-1], dtype=xp.bool)
    converged = singular = nonfinite = done
    for _ in range(steps):
        record = newton_step_on(compiled, W, fallback=fallback, method=method, rtol=rtol, third=third)
        nonfinite = xp.logical_or(nonfinite, record._nonfinite)
        small = xp.linalg.vector_norm(record.gradient, axis=-1) <= tol
        converged = xp.logical_or(converged, small & xp.logical_not(nonfinite))
        singular = xp.logical_and(xp.logical_not(converged), _stuck(record, fallback))
        done = converged | singular | nonfinite
        W = xp.where(done[..., None], W, record.point)
        records.append(record)
        if bool(xp.all(done)):
            break
    status = _labels("max_steps", (singular, "singular"), (nonfinite, "nonfinite"), (converged, "converged"))
    return NewtonRun(tuple(records), W, status, len(records), tol)


def _check_options(fallback: str | None, method: str, rtol: float | None, damping: float) -> None:
    if fallback not in FALLBACKS:
        raise OptionError(f"fallback must be None, 'pinv' or 'damped', got {fallback!r}")
    if method not in METHODS:
        raise OptionError(f"method must be one of {METHODS}, got {method!r}")
    if rtol is not None and not rtol >= 0:
        raise OptionError(f"rtol must be a non-negative number, got {rtol!r}")
    if not damping > 0:
        raise OptionError(f"damping must be positive, got {damping!r}")


def _stuck(record: NewtonStep, fallback: str | None) -> Any:
    xp = _xp_of(record.point)
    if fallback is not None:
        return xp.zeros(record.point.shape[:-1], dtype=xp.bool)
    return record._singular


def _shift(
    xp: Any, eigenvalues: Any, largest: Any, singular: Any, fallback: str | None, damping: float
) -> Any:
    zero = xp.zeros_like(largest)
    if fallback != "damped":
        return zero
    mu = xp.maximum(-eigenvalues[..., 0], zero) + damping * xp.maximum(largest, xp.ones_like(largest))
    return xp.where(singular, mu, zero)


def _solve_step(xp: Any, H: Any, g: Any, shift: Any, singular: Any, fallback: str | None, tol: float) -> Any:
    """H^-1 g where H is regular; the fallback's step (or 0) where it is singular."""
    step = xp.linalg.solve(_solvable(xp, H, shift, singular, fallback), xp.expand_dims(g, axis=-1))[..., 0]
    if fallback == "damped":
        return step
    if fallback == "pinv":
        replacement = xp.linalg.matmul(xp.linalg.pinv(H, rtol=tol), xp.expand_dims(g, axis=-1))[..., 0]
    else:
        replacement = xp.zeros_like(step)
    return xp.where(singular[..., None], replacement, step)


def _solvable(xp: Any, H: Any, shift: Any, singular: Any, fallback: str | None) -> Any:
    """H + mu I, with the identity in place of singular members that are not damped (so no NaN)."""
    eye = xp.eye(H.shape[-1], dtype=H.dtype)
    shifted = H + shift[..., None, None] * eye
    return shifted if fallback == "damped" else xp.where(singular[..., None, None], eye, shifted)


def _effective_inverse(xp: Any, H: Any, shift: Any, singular: Any, fallback: str | None) -> Any:
    inverse = xp.linalg.inv(_solvable(xp, H, shift, singular, fallback))
    if fallback == "damped":
        return inverse
    replacement = xp.linalg.pinv(H) if fallback == "pinv" else xp.zeros_like(H)
    return xp.where(singular[..., None, None], replacement, inverse)


def _curvature(eigenvalues: Any, singular: Any, nonfinite: Any) -> Any:
    return _labels(
        "saddle",
        (eigenvalues[..., -1] < 0, "maximum"),
        (eigenvalues[..., 0] > 0, "minimum"),
        (singular, "singular"),
        (nonfinite, "nonfinite"),
    )


def _labels(otherwise: str, *masks: tuple[Any, str]) -> Any:
    """Per-member labels from (mask, label) pairs, a later pair winning over an earlier one:
    a str for one point, else a NumPy array of str of the batch shape (cheap at 10^5 points)."""
    import numpy

    shape = numpy.shape(to_numpy(masks[0][0]))
    labels = numpy.full(shape, otherwise, dtype="<U9")
    for mask, label in masks:
        labels[numpy.asarray(to_numpy(mask), dtype=bool)] = label
    return str(labels) if labels.ndim == 0 else labels


# third-order steps -------------------------------------------------------------------------

_THIRD_ORDER: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _third_order(loss: Loss, method: str, backend: Any, dtype: str) -> Compiled | None:
    """r(w, v) = v . grad f(w), compiled: its w-w Hessian block is T[v], the third derivative along v."""
    if method == "newton":
        return None
    aux = _THIRD_ORDER.get(loss)
    if aux is None:
        v = loss.vector_symbols("v")
        directional = sum((vi * gi for vi, gi in zip(v, loss.gradient, strict=True)), start=0 * v[0])
        aux = type(loss)(directional, variables=loss.variables + v)
        _THIRD_ORDER[loss] = aux
    return aux.compile(backend, dtype)


def _third_order_step(xp: Any, third: Compiled, W: Any, H: Any, g: Any, newton: Any, method: str) -> Any:
    """Halley's or Chebyshev's step from the Newton step ``newton`` (s = H^-1 g)."""
    n = H.shape[-1]
    T_s = third.hess(xp.concat([W, newton], axis=-1))[..., :n, :n]
    if method == "halley":
        return xp.linalg.solve(H - 0.5 * T_s, xp.expand_dims(g, axis=-1))[..., 0]
    T_ss = xp.linalg.matmul(T_s, xp.expand_dims(newton, axis=-1))
    return newton + 0.5 * xp.linalg.solve(H, T_ss)[..., 0]


# JSON helpers ------------------------------------------------------------------------------


def _xp_of(array: Any) -> Any:
    from taylorlr.compile.backends import namespace_of

    return namespace_of(array)


def _floats(array: Any) -> Any:
    import numpy

    values = numpy.asarray(to_numpy(array), dtype=float)
    return values.tolist()


def _lists(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value
