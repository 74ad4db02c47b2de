"""Bounded below? Probe f along lines: an exact proof of unboundedness for polynomials, else evidence."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy

from taylorlr.analysis._classify import probe_directions
from taylorlr.analysis.result import BoundedBelow, Boundedness, CriticalPoint

if TYPE_CHECKING:
    from taylorlr.loss import Loss


def bounded_below(loss: Loss, points: list[CriticalPoint], probes: int) -> BoundedBelow:
    """Probe f along lines through the lowest critical point (or 0): exact for polynomials."""
    base = min(points, key=lambda p: float(p.value)).floats if points else (0.0,) * loss.n
    directions = probe_directions(loss.n)[:probes]
    if loss.is_polynomial:
        for d in directions:
            unbounded = _unbounded_along(loss, base, d)
            if unbounded is not None:
                return unbounded
    return _lowest_probe(loss, base, directions)


def _unbounded_along(loss: Loss, base: tuple[float, ...], d: tuple[int, ...]) -> BoundedBelow | None:
    t = sympy.Dummy("t", real=True)
    origin = [sympy.Rational(repr(b)) for b in base]
    line = sympy.Poly(
        loss.expr.xreplace({v: o + t * di for v, o, di in zip(loss.variables, origin, d, strict=False)}), t
    )
    degree, lead = line.degree(), line.LC()
    if degree <= 0 or (degree % 2 == 0 and lead > 0):
        return None
    direction = d if lead < 0 else tuple(-x for x in d)
    scale = 1 if lead < 0 else -1
    target = float(line.eval(0)) - 1.0
    step = 1.0
    while float(line.eval(sympy.Rational(scale * step))) >= target:
        step *= 2
    point = tuple(b + scale * step * di for b, di in zip(base, d, strict=True))
    value = float(line.eval(sympy.Rational(scale * step)))
    return BoundedBelow(
        verdict=Boundedness.UNBOUNDED, proof=True, point=point, value=value,
        direction=tuple(float(x) for x in direction), probes=1,
    )  # fmt: skip


def _lowest_probe(loss: Loss, base: tuple[float, ...], directions: list[tuple[int, ...]]) -> BoundedBelow:
    import numpy

    compiled = loss.compile()
    steps = numpy.geomspace(1e-2, 1e4, 25)
    D = numpy.asarray(directions, dtype=float)
    W = numpy.asarray(base)[None, None, :] + steps[None, :, None] * D[:, None, :]
    with numpy.errstate(all="ignore"):
        values = numpy.asarray(compiled.value(W))
    values = numpy.where(numpy.isfinite(values), values, numpy.inf)
    i, j = numpy.unravel_index(int(numpy.argmin(values)), values.shape)
    return BoundedBelow(
        verdict=Boundedness.NO_EVIDENCE, proof=False, point=tuple(float(x) for x in W[i, j]),
        value=float(values[i, j]), direction=None, probes=len(directions),
    )  # fmt: skip
