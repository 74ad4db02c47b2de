"""The problem zoo: test losses with known stationary points, in one place.

Published values: Rosenbrock (min (1, 1), f* = 0); Himmelblau (4 minima with
f* = 0, 1 maximum at (-0.270845, -0.923039) with f = 181.617, 4 saddles); Beale
(min (3, 1/2)); Booth (min (1, 3)); Matyas (min (0, 0)); three-hump camel (min
(0, 0)); six-hump camel (minima (+-0.0898, -+0.7126), f* = -1.0316); Goldstein-Price
(min (0, -1), f* = 3); Powell's singular function (min 0, singular Hessian).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    name: str
    text: str
    minimizers: tuple[tuple[float, ...], ...]
    f_min: float | None
    start: tuple[float, ...]
    counts: dict[str, int] = field(default_factory=dict)  # kind -> number of critical points
    # published critical points with their kinds (coordinates to the published digits)
    known: tuple[tuple[tuple[float, ...], str], ...] = ()


ROSENBROCK = Problem(
    "rosenbrock", "(1 - x)**2 + 100*(y - x**2)**2", ((1.0, 1.0),), 0.0, (-1.2, 1.0), {"minimum": 1}
)
HIMMELBLAU = Problem(
    "himmelblau",
    "(x**2 + y - 11)**2 + (x + y**2 - 7)**2",
    ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)),
    0.0,
    (0.5, 0.5),
    {"minimum": 4, "maximum": 1, "saddle": 4},
    (
        ((3.0, 2.0), "minimum"),
        ((-2.805118, 3.131312), "minimum"),
        ((-3.779310, -3.283186), "minimum"),
        ((3.584428, -1.848126), "minimum"),
        ((-0.270845, -0.923039), "maximum"),
        ((0.086677, 2.884254), "saddle"),
        ((-3.073026, -0.081353), "saddle"),
        ((3.385154, 0.073852), "saddle"),
        ((-0.127961, -1.953715), "saddle"),
    ),
)
BEALE = Problem(
    "beale",
    "(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2",
    ((3.0, 0.5),),
    0.0,
    (1.0, 1.0),
    {"minimum": 1, "saddle": 2},
    (((3.0, 0.5), "minimum"), ((0.0, 1.0), "saddle")),
)
BOOTH = Problem(
    "booth", "(x + 2*y - 7)**2 + (2*x + y - 5)**2", ((1.0, 3.0),), 0.0, (0.0, 0.0), {"minimum": 1}
)
MATYAS = Problem("matyas", "0.26*(x**2 + y**2) - 0.48*x*y", ((0.0, 0.0),), 0.0, (1.0, -2.0), {"minimum": 1})
THREE_HUMP = Problem(
    "three-hump camel",
    "2*x**2 - 1.05*x**4 + x**6/6 + x*y + y**2",
    ((0.0, 0.0),),
    0.0,
    (1.0, 1.0),
    {"minimum": 3, "saddle": 2},
)
SIX_HUMP = Problem(
    "six-hump camel",
    "(4 - 2.1*x**2 + x**4/3)*x**2 + x*y + (-4 + 4*y**2)*y**2",
    ((0.0898, -0.7126), (-0.0898, 0.7126)),
    -1.0316,
    (0.5, 0.5),
    {"minimum": 6, "maximum": 2, "saddle": 7},
    (
        ((0.0898, -0.7126), "minimum"),
        ((-0.0898, 0.7126), "minimum"),
        ((-1.7036, 0.7961), "minimum"),
        ((1.7036, -0.7961), "minimum"),
        ((1.6071, 0.5687), "minimum"),
        ((-1.6071, -0.5687), "minimum"),
        ((0.0, 0.0), "saddle"),
    ),
)
GOLDSTEIN_PRICE = Problem(
    "goldstein-price",
    "(1 + (x + y + 1)**2*(19 - 14*x + 3*x**2 - 14*y + 6*x*y + 3*y**2))"
    "*(30 + (2*x - 3*y)**2*(18 - 32*x + 12*x**2 + 48*y - 36*x*y + 27*y**2))",
    ((0.0, -1.0),),
    3.0,
    (0.5, -0.5),
    {"minimum": 4, "maximum": 1, "saddle": 4},
    (((0.0, -1.0), "minimum"), ((-0.6, -0.4), "minimum"), ((1.8, 0.2), "minimum"), ((1.2, 0.8), "minimum")),
)
SOURCE_001 = Problem(
    "x**2+3*x*y**2", "x**2 + 3*x*y**2", (), None, (1.0, 2.0), {"saddle": 1}, (((0.0, 0.0), "saddle"),)
)
POWELL = Problem(
    "powell singular",
    "(x1 + 10*x2)**2 + 5*(x3 - x4)**2 + (x2 - 2*x3)**4 + 10*(x1 - x4)**4",
    ((0.0, 0.0, 0.0, 0.0),),
    0.0,
    (3.0, -1.0, 0.0, 1.0),
    {"minimum": 1},
    (((0.0, 0.0, 0.0, 0.0), "minimum"),),
)

ZOO = (
    ROSENBROCK,
    HIMMELBLAU,
    BEALE,
    BOOTH,
    MATYAS,
    THREE_HUMP,
    SIX_HUMP,
    GOLDSTEIN_PRICE,
    SOURCE_001,
    POWELL,
)


def make_loss(text: str, **options: Any) -> Any:
    """``tl.Loss(text)``: the zoo's losses go through taylorlr's own parser."""
    import taylorlr as tl

    return tl.Loss(text, **options)
