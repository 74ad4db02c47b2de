"""The demo page's three panels, computed by taylorlr: a validated request in, JSON-ready data out.

- :func:`onestep`: source 000's demonstration (``one_step_demo``), exact, with what the
  source printed beside the right value (its f(w0) and f'(w0) are f and f' at -w0).
- :func:`plane`: a loss of two variables typed as text: contour data on a grid, one
  Newton step (``tl.newton_step``), the Hessian's eigen-directions and the verdict.
- :func:`alpha`: an alpha rule with an optimizer (``tl.run``): alpha_t beside the
  line-search oracle's alpha, step by step.

The work per request is bounded by the fields' ranges (:data:`SCHEMAS`): a grid of at
most 81 x 81 points, at most 100 steps, a loss of at most 300 characters (read by
taylorlr's parser, whose :class:`~taylorlr.ParseError` carries the caret message).

>>> onestep({"a": -1, "b": -2, "c": -3, "d": 0, "w0": -4})["eta"]
-0.5
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from taylorlr._json import json_ready
from taylorlr.demo.fields import Choice, Field, Integer, Number, RequestError, Text, Vector

#: the longest loss text the demo reads
MAX_LOSS_LENGTH = 300
#: the most grid points per side of the contour panel
MAX_GRID = 81
#: the most steps of an alpha run
MAX_STEPS = 100
#: losses kept built and compiled, by text (a slider move reuses them)
CACHE_SIZE = 16
#: the default loss of the plane and alpha panels: a double well, two minima and a saddle between
DEFAULT_LOSS = "x**4/4 - x**2/2 + 2*y**2"
#: the number of contour levels the plane panel sends
LEVELS = 14
#: the points at which the one-step panel samples f and its quadratic model
CURVE_POINTS = 121


def _rules() -> tuple[str, ...]:
    from taylorlr.alpha.rules import RULES

    return tuple(RULES)


def _optimizers() -> tuple[str, ...]:
    from taylorlr.alpha.optimizers import OPTIMIZERS

    return tuple(OPTIMIZERS)


_COEFFICIENT = {"low": -10.0, "high": 10.0}
_LOSS = Text(max_length=MAX_LOSS_LENGTH, default=DEFAULT_LOSS)

SCHEMAS: dict[str, dict[str, Field]] = {
    "onestep": {
        "a": Number(**_COEFFICIENT, default=-1.0),
        "b": Number(**_COEFFICIENT, default=-2.0),
        "c": Number(**_COEFFICIENT, default=-3.0),
        "d": Number(**_COEFFICIENT, default=0.0),
        "w0": Number(**_COEFFICIENT, default=-4.0),
    },
    "plane": {
        "loss": _LOSS,
        "at": Vector(low=-1e3, high=1e3, min_length=2, max_length=2, default=(0.3, 0.5)),
        "window": Vector(low=-1e3, high=1e3, min_length=4, max_length=4, default=(-2.0, 2.0, -2.0, 2.0)),
        "grid": Integer(low=5, high=MAX_GRID, default=61),
    },
    "alpha": {
        "loss": _LOSS,
        "at": Vector(low=-1e3, high=1e3, min_length=1, max_length=8, default=(0.3, 0.5)),
        "rule": Choice(choices=_rules, default="exact"),
        "optimizer": Choice(choices=_optimizers, default="gd"),
        "alpha0": Number(low=1e-6, high=1e3, default=0.01),
        "gamma": Number(low=1e-3, high=1.0, default=1.0),
        "steps": Integer(low=1, high=MAX_STEPS, default=30),
        "safeguards": Choice(choices=lambda: ("default", "none"), default="default"),
    },
}


# the loss box ----------------------------------------------------------------------------------

_CACHE: OrderedDict[str, Any] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def read_loss(text: str) -> Any:
    """The :class:`~taylorlr.Loss` of the text in the page's loss box, built by taylorlr's parser.

    Raises:
        ParseError: the text is not a loss (the caret message names the fault); nothing runs.
        LossDefinitionError: a loss without a variable, with a complex constant, ...
    """
    from taylorlr.loss import Loss

    with _CACHE_LOCK:
        if text in _CACHE:
            _CACHE.move_to_end(text)
            return _CACHE[text]
    try:
        loss = Loss(text)
    except RecursionError:
        raise RequestError("the loss is too deeply nested", field="loss") from None
    with _CACHE_LOCK:
        _CACHE[text] = loss
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return loss


# the panels ------------------------------------------------------------------------------------


def onestep(request: dict[str, Any]) -> dict[str, Any]:
    """Source 000's demonstration at the sliders' values, exact; and what the source printed.

    The source's page printed f(w0) = -27 and f'(w0) = -10 for w0 = -4: those are f and f'
    at +4 = -w0. ``source_printed`` holds f and f' at -w0, the values its misprint shows.

    Raises:
        SingularHessianError: f''(w0) = 0 (eta does not exist).
    """
    import sympy

    from taylorlr.analysis.onestep import one_step_demo

    demo = one_step_demo(**request)
    w = sympy.Symbol("w", real=True)
    mirror = -demo.w0
    printed = {"w": mirror, "f_w0": demo.f.subs(w, mirror), "df_w0": demo.df.subs(w, mirror)}
    return {
        **demo.to_dict(),
        "lines": demo.lines(),
        "source_printed": {name: float(v) for name, v in printed.items()},
        "source_printed_exact": {name: str(v) for name, v in printed.items()},
        "curve": _curve(demo, w),
    }


def _curve(demo: Any, w: Any) -> dict[str, Any]:
    """f and its quadratic Taylor model at w0 (the parabola the step solves), sampled around w0, w1, w*."""
    import numpy
    import sympy

    marks = [float(v) for v in (demo.w0, demo.w1, demo.w_star) if v is not None]
    low, high = min(marks), max(marks)
    margin = max(1.0, 0.3 * (high - low))
    ws = numpy.linspace(low - margin, high + margin, CURVE_POINTS)
    f = numpy.polyval([float(c) for c in sympy.Poly(demo.f, w).all_coeffs()], ws)
    model = float(demo.f_w0) + float(demo.df_w0) * (ws - float(demo.w0))
    model = model + float(demo.d2f.subs(w, demo.w0)) / 2 * (ws - float(demo.w0)) ** 2
    return {"w": json_ready(ws), "f": json_ready(f), "model": json_ready(model)}


def plane(request: dict[str, Any]) -> dict[str, Any]:
    """One Newton step of a loss of two variables, its Hessian's eigen-directions and a contour grid.

    Raises:
        ParseError, LossDefinitionError: the loss text (nothing runs).
        RequestError: the loss does not have exactly two variables, or the window is empty.
    """
    import numpy

    from taylorlr.numerics.newton import newton_step

    loss = read_loss(request["loss"])
    if loss.n != 2:
        raise RequestError(
            f"the plane panel draws a loss of exactly 2 variables; this one has {loss.n} "
            f"({', '.join(loss.names)})",
            field="loss",
        )
    x0, x1, y0, y1 = request["window"]
    if not (x0 < x1 and y0 < y1):
        raise RequestError("window must be [xmin, xmax, ymin, ymax] with xmin < xmax and ymin < ymax")
    step = newton_step(loss, list(request["at"]), throw=False)
    compiled = loss.compile()
    _, eigenvectors = numpy.linalg.eigh(step.hessian)  # the eigenvalues are step.eigenvalues
    values = compiled.value(numpy.stack([step.start, step.point]))
    return {
        "variables": list(loss.names),
        "expression": str(loss.expr),
        **json_ready(step.to_dict()),
        "hessian": json_ready(step.hessian),
        "eigenvectors": json_ready(eigenvectors.T),  # one direction per eigenvalue, ascending
        "f_start": json_ready(float(values[0])),
        "f_point": json_ready(float(values[1])),
        "curvature_message": step.curvature.item().message,
        "grid": _grid(compiled, (x0, x1, y0, y1), request["grid"]),
    }


def _grid(compiled: Any, window: tuple[float, ...], size: int) -> dict[str, Any]:
    """f on a size x size grid over the window (rows along y), and contour levels at its quantiles."""
    import numpy

    from taylorlr.compile.backends import quiet

    xs, ys = numpy.linspace(window[0], window[1], size), numpy.linspace(window[2], window[3], size)
    X, Y = numpy.meshgrid(xs, ys)
    with quiet():
        F = compiled.value(numpy.stack([X, Y], axis=-1))
    finite = F[numpy.isfinite(F)]
    quantiles = numpy.linspace(0, 1, LEVELS + 2)[1:-1]
    levels = numpy.unique(numpy.quantile(finite, quantiles)) if finite.size else numpy.zeros(0)
    return {"x": json_ready(xs), "y": json_ready(ys), "f": json_ready(F), "levels": json_ready(levels)}


def alpha(request: dict[str, Any]) -> dict[str, Any]:
    """An alpha rule's run (``tl.run``): alpha_t beside the line-search oracle's alpha, step by step.

    Raises:
        ParseError, LossDefinitionError: the loss text (nothing runs).
        PointError: ``at`` does not have one coordinate per variable.
    """
    from taylorlr.alpha.engine import run

    loss = read_loss(request["loss"])
    if len(request["at"]) != loss.n:
        raise RequestError(
            f"at has {len(request['at'])} coordinates; "
            f"the loss has {loss.n} variables ({', '.join(loss.names)})",
            field="at",
        )
    options = {k: request[k] for k in ("alpha0", "gamma", "steps", "safeguards")}
    result = run(loss, list(request["at"]), request["optimizer"], request["rule"], **options)
    history = result.history()
    return {
        "variables": list(loss.names),
        "expression": str(loss.expr),
        "rule": result.rule,
        "optimizer": result.optimizer,
        "oracle_method": result.oracle_method,
        "status": str(result.status.item()),
        "message": result.message,
        **{name: json_ready(values) for name, values in history.items()},
    }


PANELS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "onestep": onestep,
    "plane": plane,
    "alpha": alpha,
}
