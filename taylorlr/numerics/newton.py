"""One-step and iterated Newton, with eigenvalue checks and third-order steps.

The Newton step solves H s = g and moves to w - s: on a quadratic it lands on the
stationary point in one step, and the eigenvalues of H say what kind of point that is.
Everything here is batched over the leading axes of ``at`` and written against the
array namespace ``xp`` of the compiled loss (NumPy, CuPy, array-api-strict).

Singular is not ill-conditioned: H counts as singular only when its smallest |eigenvalue|
is within rounding of zero (``rtol`` defaults to 4 n eps, a bound on the rounding error of a
symmetric eigensolver), or when the solve is not accurate. An ill-conditioned H (condition
above 1/sqrt(eps)) still gets its step, taken from a solve whose backward error
||H s - g|| / (||H|| ||s|| + ||g||) is checked, and the record says "ill-conditioned".

>>> import taylorlr as tl
>>> s = tl.newton_step(tl.Loss("x**2 - 4*x"), [0.0])
>>> float(s.point[0]), float(s.eta), str(s.curvature), str(s.conditioning)
(2.0, 0.5, 'minimum', 'well-conditioned')
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from taylorlr._display import ROW_LIMIT, Card, counts_text, fmt, vector
from taylorlr._typing import require_loss
from taylorlr.compile.backends import as_batch, quiet, to_numpy
from taylorlr.errors import OptionError, PointError, SingularHessianError
from taylorlr.kinds import Kind, Verdict
from taylorlr.numerics._folds import across, all_finite, contiguous, every_finite, norm, squares
from taylorlr.numerics._solve import backward_error, solve
from taylorlr.numerics._spectrum import EPS, Spectrum, classify

if TYPE_CHECKING:
    from taylorlr.compile.compiled import Compiled
    from taylorlr.loss import Loss

FALLBACKS = (None, "pinv", "damped")
METHODS = ("newton", "halley", "chebyshev")
#: the default rtol is RTOL_FACTOR * n * eps: an eigenvalue that small is zero within rounding
RTOL_FACTOR = 4
#: a solve is accurate when its backward error is at most BACKWARD_FACTOR * n * eps
BACKWARD_FACTOR = 64
#: default Levenberg damping, relative to max(1, max |eigenvalue|)
DEFAULT_DAMPING = 1e-3


class Curvature(Verdict):
    """What H's eigenvalues say about where the Newton step heads (per member).

    >>> import taylorlr as tl
    >>> tl.newton_step(tl.Loss("x**2 - y**2"), [[1.0, 1.0], [0.0, 0.0]]).curvature.tolist()
    [<Curvature.SADDLE: 'saddle'>, <Curvature.SADDLE: 'saddle'>]
    """

    MINIMUM = (
        "minimum",
        "H is positive definite: the step heads for a minimum of the quadratic model (a descent direction)",
    )
    MAXIMUM = (
        "maximum",
        "H is negative definite: the step heads for a maximum of the quadratic model (f rises along it)",
    )
    SADDLE = (
        "saddle",
        "H has eigenvalues of both signs: the step heads for a saddle point of the quadratic model, "
        "not a minimum",
    )
    SINGULAR = (
        "singular",
        "H is singular: no Newton step exists here (try fallback='pinv' or fallback='damped')",
    )
    NONFINITE = (
        "nonfinite",
        "f, its gradient or its Hessian is not finite here (outside f's domain, or an overflow): no step",
    )

    @property
    def kind(self) -> Kind | None:
        """The :class:`~taylorlr.kinds.Kind` of the quadratic model's stationary point (None if none)."""
        return Kind(self.value) if self.value in ("minimum", "maximum", "saddle") else None


class Conditioning(Verdict):
    """How far the step can be trusted, from H's condition number and the solve's backward error.

    >>> import taylorlr as tl
    >>> str(tl.newton_step(tl.Loss("x**2 + 1e-14*y**2"), [1.0, 1.0]).conditioning)
    'ill-conditioned'
    """

    WELL = ("well-conditioned", "H is well conditioned: the step is accurate to about condition * eps")
    ILL = (
        "ill-conditioned",
        "H is ill-conditioned (condition above 1/sqrt(eps)) but not singular: the step was taken; it "
        "solves a nearby system exactly (small backward error), but may have lost up to log10(condition) "
        "digits",
    )
    SINGULAR = (
        "singular",
        "H is singular to working precision (its smallest |eigenvalue| is within rtol of zero, or the "
        "solve's backward error is large): no Newton step exists; pass fallback='pinv' or 'damped'",
    )
    NONFINITE = ("nonfinite", "f, its gradient or its Hessian is not finite here: no step was taken")


class NewtonStatus(Verdict):
    """How an iterated Newton run ended (per member).

    >>> import taylorlr as tl
    >>> str(tl.newton(tl.Loss("x**4 + x"), [0.0]).status), NewtonStatus.SINGULAR.message[:31]
    ('singular', 'a singular Hessian stopped the ')
    """

    CONVERGED = ("converged", "the gradient norm fell to tol or below")
    MAX_STEPS = ("max_steps", "all steps ran without reaching tol: raise steps, or start closer")
    SINGULAR = (
        "singular",
        "a singular Hessian stopped the iteration: pass fallback='pinv' or fallback='damped'",
    )
    NONFINITE = (
        "nonfinite",
        "the point left f's domain or the values overflowed: start elsewhere, or use fallback='damped'",
    )


@dataclass(frozen=True, kw_only=True)
class NewtonStep:
    """One Newton step w+ = w - H^-1 g at one point or a batch of points.

    Per-member labels are NumPy object arrays of the batch shape (0-d for one point, so the
    type never changes with the rank of ``at``); they compare with strings
    (``step.curvature == "saddle"``) and ``.item()`` gives the enum member.

    Attributes:
        start: the point(s) the step starts from, shape (..., n).
        point: the new point(s) w - step, shape (..., n).
        step: H^-1 g (through a solve; the fallback's step where H is singular), (..., n).
        gradient: g at the start, (..., n).
        hessian: H at the start, (..., n, n).
        eigenvalues: H's eigenvalues in ascending order, (..., n) (computed when first read).
        condition: max |eigenvalue| / min |eigenvalue| (inf where H is singular), (...,)
            (computed when first read).
        curvature: :class:`Curvature` per member: "minimum", "maximum", "saddle", "singular" or
            "nonfinite" (f, g or H not finite there: no step).
        shift: the Levenberg shift mu added to H (0 where no damping was used), (...,).
        method: "newton", "halley" or "chebyshev".
        fallback: None, "pinv" or "damped".
        conditioning: :class:`Conditioning` per member: "well-conditioned", "ill-conditioned" (the
            step was taken), "singular" or "nonfinite".
        backward_error: ||H s - g|| / (||H|| ||s|| + ||g||) of the solve (0 where no solve), (...,).
        singular: mask of the members where H is singular (or not finite): no Newton step exists.
        nonfinite: mask of the members where f, g or H is not finite.
        rtol: the relative eigenvalue tolerance used for "singular".
        spectrum: how the labels were found: which members needed ``eigvalsh`` (the others were
            settled by a cheap certificate) and their eigenvalues, reused when
            :attr:`eigenvalues` is read.

    >>> import taylorlr as tl
    >>> step = tl.newton_step(tl.Loss("x**2 + 3*x*y**2"), [1.0, 2.0])
    >>> step.point.round(6).tolist(), bool(step.curvature == "saddle"), step.eigenvalues.round(3).tolist()
    ([0.545455, 0.909091], True, [-8.166, 16.166])
    """

    start: Any
    point: Any
    step: Any
    gradient: Any
    hessian: Any
    curvature: Any
    shift: Any
    method: str = "newton"
    fallback: str | None = None
    conditioning: Any = None
    backward_error: Any = None
    singular: Any = field(default=None, repr=False, compare=False)
    nonfinite: Any = field(default=None, repr=False, compare=False)
    rtol: float = 0.0
    spectrum: Spectrum | None = field(default=None, repr=False, compare=False)

    @cached_property
    def eigenvalues(self) -> Any:
        """H's eigenvalues in ascending order, (..., n), computed when first read (the verdicts
        need them only where a cheap certificate is not conclusive): ``eigvalsh``'s, or for n <= 2
        the closed form's where the certificate was conclusive."""
        xp = _xp_of(self.hessian)
        if self.spectrum is None:
            return xp.linalg.eigvalsh(self.hessian)
        return self.spectrum.eigenvalues(xp, self.hessian)

    @cached_property
    def condition(self) -> Any:
        """max |eigenvalue| / min |eigenvalue| (inf where H is singular), (...,); from the eigenvalues."""
        xp = _xp_of(self.hessian)
        magnitude = xp.abs(self.eigenvalues)
        largest, smallest = across(xp, magnitude, xp.maximum), across(xp, magnitude, xp.minimum)
        safe_smallest = xp.where(self.singular, xp.ones_like(smallest), smallest)
        return xp.where(self.singular, xp.full_like(largest, float("inf")), largest / safe_smallest)

    @cached_property
    def eta(self) -> Any:
        """The learning rate that the step used: 1/f'' in 1-D, the matrix H^-1 in n-D.

        Formed only when accessed. Where H is singular, it is the pseudo-inverse
        (``fallback="pinv"``), (H + mu I)^-1 (``"damped"``) or 0 (no step taken).
        For third-order methods it is still the Newton eta of the start point.
        """
        xp = _xp_of(self.hessian)
        inverse = _effective_inverse(xp, self.hessian, self.shift, self.singular, self.fallback, self.rtol)
        return inverse[..., 0, 0] if self.hessian.shape[-1] == 1 else inverse

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.point.shape[:-1])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: arrays as (nested) lists of floats, labels as strings."""
        return {
            "start": _floats(self.start),
            "point": _floats(self.point),
            "step": _floats(self.step),
            "gradient": _floats(self.gradient),
            "eigenvalues": _floats(self.eigenvalues),
            "condition": _floats(self.condition),
            "curvature": _strings(self.curvature),
            "conditioning": _strings(self.conditioning),
            "backward_error": _floats(self.backward_error),
            "shift": _floats(self.shift),
            "eta": _floats(self.eta),
            "method": self.method,
            "fallback": self.fallback,
        }

    # notebook display ------------------------------------------------------------------------------

    def __repr__(self) -> str:
        """One line: the method, batch shape, and how many members head for each kind (never arrays).

        >>> import taylorlr as tl
        >>> tl.newton_step(tl.Loss("x**2 + 3*x*y**2"), [1.0, 2.0])
        NewtonStep(newton, batch (), n = 2, saddle 1)
        """
        fallback = f", fallback {self.fallback}" if self.fallback else ""
        n = self.point.shape[-1]
        return f"NewtonStep({self.method}, batch {self.batch_shape}, n = {n}, {self._counts()}{fallback})"

    def _counts(self) -> str:
        labels = [str(c) for c in _strings_flat(self.curvature)]
        return counts_text({label: labels.count(label) for label in dict.fromkeys(labels)})

    def _card(self) -> Card:
        title = f"{self.method.capitalize()} step" + (f" (fallback {self.fallback})" if self.fallback else "")
        size = _size(self.batch_shape)
        rows = [self._member_cells(k) for k in range(min(size, ROW_LIMIT))]  # the first ROW_LIMIT members
        if self.batch_shape:
            fields = (("batch shape", str(self.batch_shape)), ("heads for", self._counts()))
            more = f"{size - ROW_LIMIT} more members not shown" if size > ROW_LIMIT else ""
            return Card(title=title, fields=fields, header=_STEP_COLUMNS, rows=rows, note=more)
        return Card(title=title, fields=tuple(zip(_STEP_COLUMNS[1:], rows[0][1:], strict=True)))

    def _member_cells(self, k: int) -> tuple[str, ...]:
        """Member k (flat index): start, gradient, eigenvalues, condition, curvature, step, new point."""
        import numpy

        n = self.point.shape[-1]

        def row(array: Any) -> Any:
            return numpy.reshape(to_numpy(array), (-1, n))[k]

        def entry(array: Any) -> Any:
            return numpy.ravel(to_numpy(array))[k]

        return (
            str(k), vector(row(self.start)), vector(row(self.gradient)),
            ", ".join(map(fmt, row(self.eigenvalues))),
            fmt(entry(self.condition)), str(_strings_flat(self.curvature)[k]),
            str(_strings_flat(self.conditioning)[k]), vector(row(self.step)), vector(row(self.point)),
        )  # fmt: skip

    def _repr_html_(self) -> str:
        return self._card().html()

    def _repr_markdown_(self) -> str:
        return self._card().markdown()


_STEP_COLUMNS = (
    "member", "start", "gradient", "eigenvalues", "condition", "heads for", "conditioning", "step",
    "new point",
)  # fmt: skip


def _strings_flat(labels: Any) -> list[str]:
    """Per-member labels (an object array, 0-d for one point) as a flat list of strings."""
    import numpy

    return [str(label) for label in numpy.ravel(numpy.asarray(labels, dtype=object))]


def _size(shape: tuple[int, ...]) -> int:
    import math

    return math.prod(shape)


@dataclass(frozen=True, kw_only=True)
class NewtonRun:
    """Iterated Newton: one :class:`NewtonStep` per step and a status.

    It also answers in SciPy's ``OptimizeResult`` words: :attr:`x`, :attr:`fun`,
    :attr:`success`, :attr:`message`, :attr:`nit`, :attr:`nfev`, :attr:`njev`, :attr:`nhev`.

    Attributes:
        steps: the steps taken, in order.
        point: the last point reached, (..., n).
        status: :class:`NewtonStatus` per member (an object array of the batch shape, 0-d for
            one point): "converged" (||g|| <= tol), "max_steps", "singular" (a singular
            Hessian without fallback stopped it) or "nonfinite" (the point left f's domain or
            overflowed).
        iterations: the number of steps taken (by the longest-running member).
        tol: the gradient-norm tolerance.
        value: f at the last point, (...,).
        stopped_at: the number of steps each member took, (...,).

    >>> import taylorlr as tl
    >>> run = tl.newton(tl.Loss("x**4 - 2*x**2"), [2.0], steps=20)
    >>> bool(run.status == "converged"), run.x.round(9).tolist(), int(run.nit)
    (True, [1.0], 6)
    """

    steps: tuple[NewtonStep, ...]
    point: Any
    status: Any
    iterations: int
    tol: float
    value: Any = None
    stopped_at: Any = None

    @property
    def points(self) -> Any:
        """All points, the start first: shape (iterations + 1, ..., n)."""
        xp = _xp_of(self.point)
        return xp.stack([self.steps[0].start, *(s.point for s in self.steps)], axis=0)

    @property
    def x(self) -> Any:
        """SciPy's name for :attr:`point`."""
        return self.point

    @property
    def fun(self) -> Any:
        """SciPy's name for :attr:`value`."""
        return self.value

    @property
    def success(self) -> Any:
        """Whether each member converged (a bool array of the batch shape)."""
        import numpy

        return numpy.asarray(self.status == NewtonStatus.CONVERGED, dtype=bool)

    @property
    def message(self) -> Any:
        """Each member's status with its advice (a str for one point, an object array for a batch)."""
        import numpy

        messages = numpy.vectorize(lambda s: f"{s}: {s.message}", otypes=[object])(self.status)
        return messages.item() if messages.ndim == 0 else messages

    @property
    def nit(self) -> Any:
        """SciPy's name for :attr:`stopped_at`: the steps each member took."""
        return self.stopped_at

    @property
    def nfev(self) -> Any:
        """Evaluations of f per member: one per point visited (the domain check)."""
        return self.stopped_at + 1

    @property
    def njev(self) -> Any:
        """Gradient evaluations per member (one per point visited)."""
        return self.stopped_at + 1

    @property
    def nhev(self) -> Any:
        """Hessian evaluations per member (one per point visited)."""
        return self.stopped_at + 1

    def __repr__(self) -> str:
        """One line: the steps taken, how each member ended, and the best f (never arrays).

        >>> import taylorlr as tl
        >>> tl.newton(tl.Loss("x**4 - 2*x**2"), [2.0], steps=20)
        NewtonRun(7 steps, batch (), converged 1, best f -1)
        """
        import numpy

        labels = _strings_flat(self.status)
        counts = counts_text({label: labels.count(label) for label in dict.fromkeys(labels)})
        values: Any = [] if self.value is None else numpy.ravel(numpy.asarray(to_numpy(self.value), float))
        finite = [v for v in values if numpy.isfinite(v)]
        best = fmt(min(finite)) if finite else "n/a"
        return f"NewtonRun({self.iterations} steps, batch {self.point.shape[:-1]}, {counts}, best f {best})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "point": _floats(self.point),
            "status": _strings(self.status),
            "iterations": self.iterations,
            "tol": self.tol,
            "value": _floats(self.value),
            "stopped_at": _floats(self.stopped_at),
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
    throw: bool | None = None,
    eigenvalues: bool = False,
) -> NewtonStep:
    """One Newton step from ``at`` (one point, or a batch of shape (..., n)).

    w+ = w - H^-1 g, with H^-1 g from a solve. ``method="halley"`` or
    ``"chebyshev"`` adds the third-order correction (Halley: (H - T[s]/2) d = g;
    Chebyshev: d = s + H^-1 T[s, s]/2, with s the Newton step and T the third
    derivative tensor), which converges cubically instead of quadratically.

    Args:
        loss: the :class:`~taylorlr.Loss`.
        at: a point (mapping, sequence) or an array of points (..., n).
        fallback: what to do where H is singular: None (no step: the member keeps its start
            point and says "singular"), "pinv" (the pseudo-inverse step) or "damped" (solve
            with H + mu I, mu reported in ``shift``).
        method: "newton", "halley" or "chebyshev".
        rtol: an eigenvalue with |lambda| <= rtol * max |lambda| counts as zero
            (default 4 n eps of the dtype: zero within the eigensolver's rounding).
        damping: the damped fallback's mu = max(0, -lambda_min) + damping * max(1, max |lambda|).
        backend, dtype: where and in what precision to compute.
        throw: raise instead of labelling a member "singular" (without a fallback) or
            "nonfinite": True always, False never, None (default) for a single point only.
        eigenvalues: say that ``step.eigenvalues`` will be read: for n >= 3 the labels are then
            read from ``eigvalsh`` on every member, without the cheap certificate first (which
            would be wasted work). The same step, labels and eigenvalues bit for bit, sooner.

    Returns:
        A :class:`NewtonStep`.

    Raises:
        SingularHessianError: H singular where ``throw`` asks for it, and no fallback.
        PointError: f, g or H not finite where ``throw`` asks for it.
        OptionError: an unknown fallback or method, or a negative rtol or damping.

    >>> import taylorlr as tl
    >>> s = tl.newton_step(tl.Loss("x**2 - y**2"), {"x": 1, "y": 2})
    >>> s.point.tolist(), s.curvature == "saddle", s.eigenvalues.tolist()
    ([0.0, 0.0], np.True_, [-2.0, 2.0])
    """
    loss = require_loss(loss, "newton_step")
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
        raise_singular=W.ndim == 1 if throw is None else throw,
        eigenvalues=eigenvalues,
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
    eigenvalues: bool = False,
) -> NewtonStep:
    """:func:`newton_step` on arrays: ``W`` (..., n) and a compiled loss (no SymPy).

    >>> import numpy as np, taylorlr as tl
    >>> f = tl.Loss("(x - 3)**2 + y**4").compile()
    >>> step = newton_step_on(f, np.array([[0.0, 3.0], [1.0, -3.0]]))  # y - 4y^3/(12y^2) = 2y/3
    >>> step.point.tolist(), [str(c) for c in step.curvature]
    ([[3.0, 2.0], [3.0, -2.0]], ['minimum', 'minimum'])
    """
    _check_options(fallback, method, rtol, damping)
    xp = compiled.xp
    n = W.shape[-1]
    tol = default_rtol(n, compiled.dtype) if rtol is None else rtol
    g, H, nonfinite, frobenius2 = _finite_derivatives(compiled, W, single=raise_singular)
    spectrum = classify(xp, H, tol, compiled.dtype, frobenius2, eigenvalues=eigenvalues)
    # a non-finite member is treated like a singular one (no step), and labelled apart
    singular = xp.logical_or(spectrum.singular, nonfinite)
    solved = solve(xp, H, g, singular)
    backward = backward_error(xp, H, g, solved, singular, frobenius2)
    singular = xp.logical_or(singular, backward > BACKWARD_FACTOR * n * EPS[compiled.dtype])
    if raise_singular and fallback is None and bool(xp.any(singular)):
        where = _first(singular)
        raise SingularHessianError(
            f"the Hessian is singular at {_at(W, where)} "
            f"(eigenvalues {_at(spectrum.eigenvalues(xp, H), where)}, rtol={tol:g}): no Newton step exists; "
            "pass fallback='pinv' (pseudo-inverse step) or fallback='damped' (Levenberg shift)"
        )
    values = spectrum.eigenvalues(xp, H) if fallback == "damped" else None
    shift = _shift(xp, values, singular, fallback, damping, H.dtype)
    step = _fallback_step(xp, H, g, solved, shift, singular, fallback, tol)
    if method != "newton" and third is not None:
        safe_H = xp.where(singular[..., None, None], xp.eye(n, dtype=H.dtype), H)
        step = xp.where(singular[..., None], step, _third_order_step(xp, third, W, safe_H, g, step, method))
    return NewtonStep(
        start=W, point=W - step, step=step, gradient=g, hessian=H,
        curvature=_curvature(spectrum, singular, nonfinite), shift=shift, method=method, fallback=fallback,
        conditioning=_conditioning(spectrum, singular, nonfinite),
        backward_error=backward, singular=singular, nonfinite=nonfinite, rtol=tol,
        spectrum=spectrum,
    )  # fmt: skip


def default_rtol(n: int, dtype: str) -> float:
    """The relative size under which an eigenvalue of an n x n H counts as zero: 4 n eps.

    >>> default_rtol(3, "float64") == 12 * 2.0**-52
    True
    """
    return RTOL_FACTOR * n * EPS[dtype]


def _finite_derivatives(compiled: Compiled, W: Any, *, single: bool) -> tuple[Any, Any, Any, Any]:
    """g and H at W, with members where f, g or H is not finite masked (g = 0, H = I), the mask,
    and ||H||_F^2 per member (one pass over H serves the finiteness check and what follows).

    f is checked too: log(x) + x**2 has a finite gradient and Hessian at x < 0, where
    f itself is undefined.

    Raises:
        PointError: ``single`` and they are not finite (outside the domain, or overflow).
    """
    xp = compiled.xp
    with quiet():
        value = compiled.value(W)
        g, H = compiled.grad_and_hess(W)  # one kernel for both
        g = contiguous(xp, g)  # g and H come packed per member: a strided view
        flat = xp.reshape(H, (*H.shape[:-2], H.shape[-1] ** 2))
        frobenius2 = squares(xp, flat)  # finite only where every entry is
        if every_finite(xp, value, g) and bool(xp.isfinite(xp.sum(frobenius2))):  # the common case
            return g, H, xp.zeros(value.shape, dtype=xp.bool), frobenius2
        finite = xp.isfinite(value) & all_finite(xp, g) & all_finite(xp, flat)
    nonfinite = xp.logical_not(finite)
    if single and bool(xp.any(nonfinite)):
        where = _first(nonfinite)
        raise PointError(
            f"f, its gradient or its Hessian is not finite at {_at(W, where)} "
            f"(f = {_at(value, where)}, gradient {_at(g, where)}): "
            "the point is outside f's domain, or the values overflow"
        )
    if not bool(xp.any(nonfinite)):  # no copies of g and H where every member is finite
        return g, H, nonfinite, frobenius2
    g = xp.where(nonfinite[..., None], xp.zeros_like(g), g)
    eye = xp.eye(H.shape[-1], dtype=H.dtype)
    return g, xp.where(nonfinite[..., None, None], eye, H), nonfinite, None


def _first(mask: Any) -> tuple[int, ...]:
    """The index of the first member where ``mask`` holds (``()`` for one point)."""
    import numpy

    flags = numpy.asarray(to_numpy(mask), dtype=bool)
    return tuple(int(i) for i in numpy.argwhere(flags)[0]) if flags.ndim else ()


def _at(array: Any, where: tuple[int, ...]) -> Any:
    """One member of a batched array, as plain Python numbers (for an error message)."""
    import numpy

    return numpy.asarray(to_numpy(array))[where].tolist()


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
    throw: bool = False,
) -> NewtonRun:
    """Iterated Newton from ``at``: at most ``steps`` steps, stopping when ||g|| <= tol.

    Members of a batch stop independently (a converged or singular member keeps
    its point); a singular Hessian without a fallback ends a member with status
    "singular" instead of raising.

    Args:
        throw: raise when a member does not end "converged": SingularHessianError
            ("singular"), PointError ("nonfinite") or NotConvergedError ("max_steps").

    >>> import taylorlr as tl
    >>> run = tl.newton(tl.Loss("x**4 - 2*x**2"), [2.0], steps=30, tol=1e-12)
    >>> str(run.status), round(float(run.x[0]), 12), bool(run.success), int(run.nit) < 10
    ('converged', 1.0, True, True)
    """
    loss = require_loss(loss, "newton")
    if not isinstance(steps, int) or steps < 1:
        raise OptionError(f"steps must be a positive integer, got {steps!r}")
    compiled = loss.compile(backend, dtype)
    W = as_batch(at, loss.variables, compiled.xp, compiled.backend.dtype(dtype))
    third = _third_order(loss, method, backend, dtype)
    run = _iterate(compiled, W, steps, tol, third, fallback=fallback, method=method, rtol=rtol)
    if throw:
        _throw(run)
    return run


def _iterate(
    compiled: Compiled, W: Any, steps: int, tol: float, third: Compiled | None, **options: Any
) -> NewtonRun:
    import numpy

    xp = compiled.xp
    records: list[NewtonStep] = []
    done = xp.zeros(W.shape[:-1], dtype=xp.bool)
    converged = singular = nonfinite = done
    moves = numpy.zeros(W.shape[:-1], dtype=numpy.int64)  # on the host: counts, not numerics
    for _ in range(steps):
        record = newton_step_on(compiled, W, third=third, **options)
        nonfinite = xp.logical_or(nonfinite, record.nonfinite)
        small = norm(xp, record.gradient) <= tol
        converged = xp.logical_or(converged, small & xp.logical_not(nonfinite))
        singular = xp.logical_and(xp.logical_not(converged), _stuck(record, options["fallback"]))
        done = converged | singular | nonfinite
        moves += ~numpy.asarray(to_numpy(done), dtype=bool)
        W = xp.where(done[..., None], W, record.point)
        records.append(record)
        if bool(xp.all(done)):
            break
    status = _labels(
        NewtonStatus.MAX_STEPS,
        (singular, NewtonStatus.SINGULAR),
        (nonfinite, NewtonStatus.NONFINITE),
        (converged, NewtonStatus.CONVERGED),
    )
    with quiet():
        value = compiled.value(W)
    return NewtonRun(
        steps=tuple(records), point=W, status=status, iterations=len(records), tol=tol, value=value,
        stopped_at=moves,
    )  # fmt: skip


def _throw(run: NewtonRun) -> None:
    """Raise the typed error of the first member that did not converge."""
    import numpy

    from taylorlr.errors import NotConvergedError

    failed = [s for s in numpy.ravel(run.status) if s != NewtonStatus.CONVERGED]
    if not failed:
        return
    where = f"{len(failed)} of {run.status.size} member(s) ended {sorted({str(s) for s in failed})}"
    error = {
        NewtonStatus.SINGULAR: SingularHessianError,
        NewtonStatus.NONFINITE: PointError,
    }.get(failed[0], NotConvergedError)
    raise error(f"{where}: {failed[0].message}")


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
    return record.singular


def _shift(xp: Any, eigenvalues: Any, singular: Any, fallback: str | None, damping: float, dtype: Any) -> Any:
    if fallback != "damped":
        return xp.zeros(singular.shape, dtype=dtype)
    largest = across(xp, xp.abs(eigenvalues), xp.maximum)
    zero = xp.zeros_like(largest)
    mu = xp.maximum(-eigenvalues[..., 0], zero) + damping * xp.maximum(largest, xp.ones_like(largest))
    return xp.where(singular, mu, zero)


def _fallback_step(
    xp: Any, H: Any, g: Any, solved: Any, shift: Any, singular: Any, fallback: str | None, tol: float
) -> Any:
    """The solve's step where H is regular; the fallback's step (or 0) where it is singular."""
    if not bool(xp.any(singular)):  # no member needs the fallback: no (..., n) copy
        return solved
    if fallback == "damped":
        replacement = solve(xp, H + shift[..., None, None] * xp.eye(H.shape[-1], dtype=H.dtype), g, ~singular)
    elif fallback == "pinv":
        replacement = xp.linalg.matmul(xp.linalg.pinv(H, rtol=tol), xp.expand_dims(g, axis=-1))[..., 0]
    else:
        replacement = xp.zeros_like(solved)
    return xp.where(singular[..., None], replacement, solved)


def _effective_inverse(xp: Any, H: Any, shift: Any, singular: Any, fallback: str | None, tol: float) -> Any:
    eye = xp.eye(H.shape[-1], dtype=H.dtype)
    inverse = xp.linalg.inv(xp.where(singular[..., None, None], eye, H))
    if fallback == "damped":
        replacement = xp.linalg.inv(
            xp.where(singular[..., None, None], H + shift[..., None, None] * eye, eye)
        )
    elif fallback == "pinv":
        replacement = xp.linalg.pinv(H, rtol=tol)
    else:
        replacement = xp.zeros_like(H)
    return xp.where(singular[..., None, None], replacement, inverse)


def _curvature(spectrum: Spectrum, singular: Any, nonfinite: Any) -> Any:
    return _labels(
        Curvature.SADDLE,
        (spectrum.maximum, Curvature.MAXIMUM),
        (spectrum.minimum, Curvature.MINIMUM),
        (singular, Curvature.SINGULAR),
        (nonfinite, Curvature.NONFINITE),
    )


def _conditioning(spectrum: Spectrum, singular: Any, nonfinite: Any) -> Any:
    return _labels(
        Conditioning.WELL,
        (spectrum.ill, Conditioning.ILL),
        (singular, Conditioning.SINGULAR),
        (nonfinite, Conditioning.NONFINITE),
    )


def _labels(otherwise: Verdict, *masks: tuple[Any, Verdict]) -> Any:
    """Per-member labels from (mask, label) pairs, a later pair winning over an earlier one:
    a NumPy object array of the batch shape (0-d for one point; cheap at 10^5 points)."""
    import numpy

    shape = numpy.shape(to_numpy(masks[0][0]))
    codes = numpy.zeros(shape, dtype=numpy.int8)
    for code, (mask, _) in enumerate(masks, start=1):  # the codes grow: the largest is the last pair's
        numpy.maximum(codes, numpy.asarray(to_numpy(mask), dtype=bool).astype(numpy.int8) * code, out=codes)
    table = numpy.empty(len(masks) + 1, dtype=object)
    table[:] = [otherwise, *(label for _, label in masks)]
    if shape:
        return table[codes]
    labels = numpy.empty(shape, dtype=object)  # 0-d: an array, not the label itself
    labels[...] = table[codes]
    return labels


# third-order steps -------------------------------------------------------------------------

_THIRD_ORDER: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _third_order(loss: Loss, method: str, backend: Any, dtype: str) -> Compiled | None:
    """r(w, v) = v . grad f(w), compiled: its w-w Hessian block is T[v], the third derivative along v."""
    if method == "newton":
        return None
    aux = _THIRD_ORDER.get(loss)
    if aux is None:
        import sympy

        taken = set(loss.names) | set(loss.names_of(loss.data))
        v = tuple(sympy.Dummy(_fresh(f"v{i}", taken), real=True) for i in range(loss.n))
        directional = sum((vi * gi for vi, gi in zip(v, loss.gradient, strict=True)), start=0 * v[0])
        aux = type(loss)(directional, variables=loss.variables + v)
        _THIRD_ORDER[loss] = aux
    return aux.compile(backend, dtype)


def _fresh(name: str, taken: set[str]) -> str:
    """``name``, with underscores appended until no variable or data symbol has it."""
    while name in taken:
        name += "_"
    return name


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

    if array is None:
        return None
    values = numpy.asarray(to_numpy(array), dtype=float)
    return values.tolist()


def _strings(labels: Any) -> Any:
    """Labels as JSON: a str for one point, nested lists of str for a batch."""
    import numpy

    values = numpy.vectorize(str, otypes=[object])(labels)
    return values.tolist()
