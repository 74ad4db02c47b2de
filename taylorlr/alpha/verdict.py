"""The verdict on a run, read from its record after the last step (both engine paths alike).

The step loop stops a member on four events: the gradient test (CONVERGED), the budget
(MAX_STEPS), a blow-up (DIVERGED) and a non-finite number (NONFINITE). What the member's
record then shows can say more, and :func:`judge` says it:

- UNBOUNDED: a member that ran out of steps or overflowed with its last finite loss more
  than ``divergence * (|f0| + 1)`` below its start f0 (the mirror of DIVERGED's rise test),
  or that overflowed from a point whence f falls that far (or to -inf) along the
  steepest-descent ray (sampled out to overflow). This is evidence that f is unbounded
  below, not a proof (``taylorlr solve`` gives the proof).
- ROSE: a member that ran out of steps with f above its start beyond rounding.
- SADDLE, MAXIMUM: a gradient stop where the Hessian (the loss's compiled one, evaluated at
  the final point) has an eigenvalue below ``-sqrt(eps) * max|eigenvalue|`` that stays
  within a quarter of itself at the critical point of the quadratic model: MAXIMUM when
  every eigenvalue is such, SADDLE otherwise. A stop without such an eigenvalue stays
  CONVERGED, a degenerate one included (a zero eigenvalue, as x**4 or x**3 at 0; or a
  negative one that halves on the way to the critical point, as x**3 just left of 0, or on
  a plateau, as -exp(x) far left): second-order evidence cannot tell a degenerate minimum
  from a degenerate saddle. Stochastic runs (a new loss per step) and points where the
  Hessian is not finite are not judged this way.

Array-only: NumPy, no SymPy.

>>> import taylorlr as tl
>>> tl.run("x**2 - y**2", [0.0, 0.0]).status.item()
<Status.SADDLE: 'saddle'>
>>> str(tl.run("x**2 + 3*x*y**2", [1.0, 2.0], "adam", "retsinas").status)
'unbounded'
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from taylorlr.alpha.result import _CODES, Run, Status
from taylorlr.compile.backends import to_numpy
from taylorlr.errors import RunFailedError


def judge(run: Run, compiled: Any, *, divergence: float, data: Mapping[str, Any] | None) -> Run:
    """The run with the statuses its record supports (see the module docstring).

    Args:
        run: the record the step loop made.
        compiled: the loss compiled for the run's backend and dtype (its ``hess``).
        divergence: the run's blow-up factor, mirrored for UNBOUNDED.
        data: the data of a deterministic run; None for a stochastic one (then gradient
            stops keep CONVERGED: the Hessian of which minibatch?).

    >>> import dataclasses, numpy as np, taylorlr as tl
    >>> from taylorlr.alpha.result import Status
    >>> loss = tl.Loss("x**2 - y**2")
    >>> stop = tl.run(loss, [0.0, 0.0])  # a gradient stop at the saddle point 0
    >>> loop = dataclasses.replace(stop, status=np.full((), Status.CONVERGED, dtype=object))
    >>> judge(loop, loss.compile(), divergence=1e6, data={}).status.item()
    <Status.SADDLE: 'saddle'>
    >>> judge(loop, loss.compile(), divergence=1e6, data=None).status.item()  # stochastic: not judged
    <Status.CONVERGED: 'converged'>
    """
    import numpy

    codes = _order_codes(run.status)
    start, end = numpy.ravel(run.losses[0]), numpy.ravel(run.fun)
    # the histories repeat each member's last valid entry to the end (Run's padding)
    norms, stopped = numpy.ravel(run.grad_norms[-1]), numpy.ravel(run.stopped_at)
    steps, tol = run.settings.get("steps", len(run.losses) - 1), run.settings.get("tol", numpy.inf)
    tests = functools.partial(_record_tests, divergence=divergence, tol=tol, steps=steps)
    if codes.size <= _CHUNK:
        fell, rose, ran_out = tests(start, end, norms, stopped)
    else:  # a chunk at a time: no temporaries of the batch's size
        fell, rose, ran_out = (numpy.empty(codes.shape, dtype=bool) for _ in range(3))
        for low in range(0, codes.size, _CHUNK):
            part = slice(low, low + _CHUNK)
            fell[part], rose[part], ran_out[part] = tests(start[part], end[part], norms[part], stopped[part])
    others = numpy.flatnonzero(~ran_out)
    overflowed = others[codes[others] == _ORDER[Status.NONFINITE]]
    stops = others[codes[others] == _ORDER[Status.CONVERGED]]
    probe = overflowed[~fell[overflowed]]
    last = _last_points(run)
    if data is not None and probe.size:
        fell[probe] = _falls_along_descent(compiled, last(probe), _floor(start[probe], divergence), data)
    codes[numpy.flatnonzero(fell & ran_out)] = _ORDER[Status.UNBOUNDED]
    codes[overflowed[fell[overflowed]]] = _ORDER[Status.UNBOUNDED]
    codes[numpy.flatnonzero(rose & ran_out & ~fell)] = _ORDER[Status.ROSE]
    if data is not None and stops.size:
        codes[stops] = _point_kinds(compiled, last(stops), data)
    status = _fill(codes) if codes.size and codes.min() == codes.max() else _statuses()[codes]
    return replace(run, status=status.reshape(run.batch_shape))


#: members judged at a time (the temporaries of a chunk stay small, whatever the batch)
_CHUNK = 2**16


def _floor(start: Any, divergence: float) -> Any:
    """f0 - divergence * (|f0| + 1): a loss below it fell without bound (DIVERGED's mirror)."""
    import numpy

    with numpy.errstate(all="ignore"):
        return start - divergence * (numpy.abs(start) + 1)


def _record_tests(
    start: Any, end: Any, norms: Any, stopped: Any, *, divergence: float, tol: float, steps: int
) -> tuple[Any, Any, Any]:
    """Per member: the last loss fell below :func:`_floor`; it rose above the start beyond
    rounding; the member ran out of steps (it kept its last point, ``stopped_at == steps``,
    without a small gradient: a failed step t leaves stopped_at = t)."""
    import numpy

    with numpy.errstate(all="ignore"):
        fell = end < _floor(start, divergence)
        rounding = 16 * numpy.finfo(end.dtype).eps * (numpy.abs(start) + numpy.abs(end))
        rose = end - start > rounding
        ran_out = (stopped == steps) & ~(norms <= tol)
    return fell, rose, ran_out


def _order_codes(status: Any) -> Any:
    """A fresh flat int8 array of indices into :func:`_statuses`, from the step loop's integer
    codes (:data:`~taylorlr.alpha.result._CODES`) or from Status members (or their values)."""
    import numpy

    flat = numpy.asarray(status).reshape(-1)
    if flat.dtype.kind in "iu":
        return _loop_to_order()[flat]
    return numpy.fromiter(map(_ORDER.__getitem__, flat), dtype=numpy.int8, count=flat.size)


def _fill(codes: Any) -> Any:
    """Status objects for codes that all agree: one fill, no gather."""
    import numpy

    status = numpy.empty(codes.shape, dtype=object)
    status.fill(_statuses()[codes[0]])
    return status


@functools.cache
def _loop_to_order() -> Any:
    """The step loop's code -> its Status's index in :func:`_statuses` (-1 for RUNNING)."""
    import numpy

    return numpy.array([-1 if code is None else _ORDER[code] for code in _CODES], dtype=numpy.int8)


@functools.cache
def _statuses() -> Any:
    """Every Status in a 1-d object array, in _ORDER's order (numpy.asarray would store str)."""
    import numpy

    array = numpy.empty(len(Status), dtype=object)
    array[:] = tuple(Status)
    return array


def _last_points(run: Run) -> Any:
    """members (flat indices) -> their last valid points (k, n), without a pass over the batch
    (the last row holds them: the padding repeats them, a thinned record ends with them)."""
    flat = run.points[-1].reshape(-1, run.points.shape[-1])
    return lambda members: flat[members]


def _falls_along_descent(compiled: Any, points: Any, floor: Any, data: Mapping[str, Any]) -> Any:
    """For members that overflowed: does f fall below ``floor`` (or to -inf) along the
    steepest-descent ray from the last valid point? Sampled at displacements
    (1 + ||x||) * 2**k, k = -24, -16, ..., 1000 (a geometric ray out to overflow)."""
    import numpy

    with numpy.errstate(all="ignore"):
        grad = numpy.asarray(to_numpy(compiled.grad(compiled.xp.asarray(points), **data)), dtype=float)
        norm = numpy.linalg.norm(grad, axis=-1, keepdims=True)
        unit = numpy.where(norm > 0, grad / norm, 0.0)
        reach = (1 + numpy.linalg.norm(points, axis=-1, keepdims=True)) * _RAY
        ray = points[:, None, :] - reach[..., None] * unit[:, None, :]  # (k, samples, n)
        values = to_numpy(compiled.value(compiled.xp.asarray(ray.reshape(-1, points.shape[-1])), **data))
        values = numpy.asarray(values, dtype=float).reshape(ray.shape[:2])
        return ((values < floor[:, None]) & (norm > 0)).any(axis=-1)


#: the displacements (in units of 1 + ||x||) at which the descent ray is sampled
_RAY = tuple(2.0**k for k in range(-24, 1001, 8))


#: Status or its value -> its index in _statuses() (a Status and its str hash differently)
_ORDER: dict[Any, int] = {key: k for k, status in enumerate(Status) for key in (status, status.value)}


def _point_kinds(compiled: Any, points: Any, data: Mapping[str, Any]) -> Any:
    """CONVERGED, SADDLE or MAXIMUM (indices into :func:`_statuses`) for each of the (k, n) points
    where the gradient vanished.

    An eigenvalue counts as negative when it is below ``-sqrt(eps) * max|eigenvalue|`` and
    stays within a quarter of itself at the critical point of the quadratic model (the Newton
    step over the eigenvalues beyond that tolerance). Near a nondegenerate critical point the
    Hessian hardly changes over that step; near a degenerate one (x**3 close to 0) or on a
    plateau (-exp(x) far left) it halves or more, and the point stays CONVERGED.
    """
    import numpy

    with numpy.errstate(all="ignore"):
        eigenvalues, vectors = _eigen(compiled, points, data)
        size = _across(numpy.maximum, numpy.abs(eigenvalues))[:, None]
        tolerance = negative_curvature_tolerance(size, points.dtype)
        grad = numpy.asarray(to_numpy(compiled.grad(compiled.xp.asarray(points), **data)), dtype=float)
        along = numpy.einsum("kij,ki->kj", vectors, grad)
        significant = numpy.abs(eigenvalues) > tolerance
        step = numpy.einsum("kij,kj->ki", vectors, numpy.where(significant, along / eigenvalues, 0.0))
        there, _ = _eigen(compiled, points - step, data, vectors=False)
        stays = numpy.abs(there - eigenvalues) <= numpy.abs(eigenvalues) / 4
    negative = (eigenvalues < -tolerance) & stays
    kinds = numpy.full(len(points), _ORDER[Status.CONVERGED])
    kinds[_across(numpy.logical_or, negative)] = _ORDER[Status.SADDLE]
    kinds[_across(numpy.logical_and, negative)] = _ORDER[Status.MAXIMUM]
    return kinds


def _across(ufunc: Any, array: Any) -> Any:
    """``ufunc.reduce(array, axis=-1)`` for a (k, m) array: column by column where m is small
    (NumPy's reduction along a short last axis is 5-40x slower than m - 1 whole-column operations).

    >>> import numpy as np
    >>> _across(np.maximum, np.array([[1.0, 3.0], [4.0, 2.0]])).tolist()
    [3.0, 4.0]
    """
    import functools

    if array.shape[-1] > _SHORT_AXIS or array.shape[-1] == 0:
        return ufunc.reduce(array, axis=-1)
    return functools.reduce(ufunc, array.T)


#: the longest last axis :func:`_across` reduces column by column
_SHORT_AXIS = 32


def _eigen(compiled: Any, points: Any, data: Mapping[str, Any], *, vectors: bool = True) -> tuple[Any, Any]:
    """Eigenvalues (k, n) ascending and eigenvectors (k, n, n; None unless ``vectors``) of the
    Hessian at the points; zeros where the Hessian is not finite. At n = 2 in closed form
    (:func:`eigh_2x2`: a dozen array operations, against 0.3-0.6 us a matrix through
    ``numpy.linalg.eigh``, which was half of a converging 10^5-member 2-D run); the eigenvalues
    alone through ``eigvalsh`` otherwise."""
    import numpy

    n = points.shape[-1]
    hessians = numpy.asarray(to_numpy(compiled.hess(compiled.xp.asarray(points), **data)), dtype=float)
    hessians = numpy.broadcast_to(hessians, (len(points), n, n))
    finite = _across(numpy.logical_and, numpy.isfinite(hessians).reshape(len(points), n * n))
    if n == 2:
        return eigh_2x2(numpy.where(finite[:, None, None], hessians, 0.0), vectors=vectors)
    eigenvalues = numpy.zeros((len(points), n))
    if not vectors:
        eigenvalues[finite] = numpy.linalg.eigvalsh(hessians[finite])
        return eigenvalues, None
    eigenvectors = numpy.zeros((len(points), n, n))
    eigenvalues[finite], eigenvectors[finite] = numpy.linalg.eigh(hessians[finite])
    return eigenvalues, eigenvectors


def eigh_2x2(matrices: Any, *, vectors: bool = True) -> tuple[Any, Any]:
    """``numpy.linalg.eigh`` of a stack of symmetric 2 x 2 matrices (k, 2, 2), in closed form: the
    eigenvalues (k, 2) ascending, the eigenvectors (k, 2, 2) as columns (None unless ``vectors``).

    With r = hypot(a - c, 2b), the eigenvalue of larger magnitude is (a + c +- r) / 2 (no
    cancellation), the other det / it, as LAPACK's ``dlaev2`` computes them. The larger
    eigenvalue's vector is (cos theta, sin theta), theta = atan2(2b, a - c) / 2, from the half
    angle: the larger of cos theta and |sin theta| as a square root, the other as
    sin(2 theta) / (2 x it), so both are accurate to rounding (no trigonometric function, no
    cancellation of (lambda - c, b)). A multiple of the identity (the zero matrix included) has
    theta = 0: the vectors (0, 1) and (1, 0).

    >>> import numpy as np
    >>> values, vectors = eigh_2x2(np.array([[[2.0, 1.0], [1.0, 2.0]]]))
    >>> values.tolist(), np.round(vectors @ np.diag(values[0]) @ vectors[0].T, 12).tolist()
    ([[1.0, 3.0]], [[[2.0, 1.0], [1.0, 2.0]]])
    """
    import numpy

    a, b, c = matrices[:, 0, 0], matrices[:, 0, 1], matrices[:, 1, 1]
    with numpy.errstate(all="ignore"):
        difference, twice = a - c, 2.0 * b
        total, root = a + c, numpy.hypot(difference, twice)
        larger = 0.5 * numpy.where(total < 0, total - root, total + root)  # the larger magnitude
        a_larger = numpy.abs(a) > numpy.abs(c)
        big, small = numpy.where(a_larger, a, c), numpy.where(a_larger, c, a)
        other = numpy.where(larger == 0, 0.0, (big / larger) * small - (b / larger) * b)
    values = numpy.empty((len(a), 2))
    numpy.minimum(larger, other, out=values[:, 0])
    numpy.maximum(larger, other, out=values[:, 1])
    return values, _rotation(difference, twice, root) if vectors else None


def _rotation(difference: Any, twice: Any, root: Any) -> Any:
    """The eigenvectors of :func:`eigh_2x2` (k, 2, 2) from a - c, 2b and r = hypot(a - c, 2b)."""
    import numpy

    with numpy.errstate(all="ignore"):
        flat = root == 0  # a multiple of the identity: theta = 0
        cos2 = numpy.where(flat, 1.0, difference / root)
        sin2 = numpy.where(flat, 0.0, twice / root)
        cos_larger = cos2 >= 0
        half = numpy.sqrt(0.5 * (1.0 + numpy.abs(cos2)))  # max(cos theta, |sin theta|)
        signed = numpy.where(cos_larger, half, numpy.copysign(half, twice))
        rest = sin2 / (2.0 * signed)
    cos, sin = numpy.where(cos_larger, half, rest), numpy.where(cos_larger, rest, signed)
    vectors = numpy.empty((len(cos), 2, 2))
    vectors[:, 0, 0], vectors[:, 1, 0], vectors[:, 0, 1], vectors[:, 1, 1] = -sin, cos, cos, sin
    return vectors


def negative_curvature_tolerance(size: Any, dtype: Any) -> Any:
    """How far below 0 an eigenvalue of a Hessian of this size (its largest |eigenvalue|)
    must be to count as negative: sqrt(eps) relative, far above the rounding of H.

    >>> import numpy as np
    >>> float(negative_curvature_tolerance(4.0, np.float64)) == 4 * 2.0**-26  # sqrt(2**-52) * 4
    True
    """
    import numpy

    return numpy.sqrt(numpy.finfo(dtype).eps) * size


def check(run: Run) -> Run:
    """The run, or :class:`~taylorlr.errors.RunFailedError` when a member did not converge.

    >>> import taylorlr as tl
    >>> check(tl.run("x**2", [1.0], steps=1)).status.item()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    taylorlr.errors.RunFailedError: 1 of 1 member(s) did not end 'converged': max_steps at step 1: ...
    """
    import numpy

    failed = numpy.flatnonzero(~numpy.ravel(run.success))
    if not failed.size:
        return run
    lines = run.messages()
    shown = [lines[k] if len(lines) == 1 else f"member {int(k)}: {lines[k]}" for k in failed[:_SHOWN]]
    more = [f"... and {failed.size - _SHOWN} more"] if failed.size > _SHOWN else []
    head = f"{failed.size} of {len(lines)} member(s) did not end 'converged': "
    raise RunFailedError(head + "\n".join([*shown, *more]), run=run)


#: how many failed members a RunFailedError's message lists
_SHOWN = 5
