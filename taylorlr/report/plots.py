"""Figures as objects: the one-step picture, the loss in 1-D, 2-D and n-D, a run, a comparison.

matplotlib is optional (the extra ``plot``) and is imported inside each function,
never by ``import taylorlr``. Every function returns a :class:`matplotlib.figure.Figure`
drawn without pyplot, so a user's interactive backend and open figures are left alone
(a notebook shows the figure it is handed; ``figure.savefig`` or :func:`save` writes it).
Given ``path``, a function also writes the figure there (the format follows the suffix:
.png, .svg, .pdf); a PNG is stored with a 256-colour palette (through Pillow, which
matplotlib installs), about a third of the size and indistinguishable on screen.

Every axis is labelled with the loss's variable names and f; a name or expression with
a ``$`` is shown as written (never read as matplotlib mathtext).

>>> from taylorlr.analysis.onestep import one_step_demo
>>> figure = plot_onestep(one_step_demo())
>>> figure.axes[0].get_xlabel(), figure.axes[0].get_ylabel()
('w', 'f(w)')
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taylorlr.errors import MissingDependencyError, OptionError

INSTALL_HINT = "matplotlib is not installed: pip install 'taylorlr[plot]'"
DPI = 100
#: marker and colour of each kind of critical point
KIND_STYLES = {
    "minimum": ("o", "tab:green"),
    "maximum": ("^", "tab:red"),
    "saddle": ("X", "tab:orange"),
    "inconclusive": ("D", "tab:gray"),
}
#: how many runs a comparison figure draws in colour with a legend entry (the rest are faint)
BEST_RUNS = 5
_GRID = 241  # contour grid points per axis
_MARKERS_UP_TO = 60  # steps drawn with a marker each; beyond this, lines only
_FAINT = {"color": "0.55", "lw": 0.8, "alpha": 0.45}


# ---------------------------------------------------------------------------- shared


def _figure(nrows: int = 1, ncols: int = 1, *, size: tuple[float, float], sharex: bool = False) -> Any:
    """A pyplot-free Figure and its axes (a 2-D array), or MissingDependencyError."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise MissingDependencyError(INSTALL_HINT) from error
    figure = Figure(figsize=size, layout="constrained")
    return figure, figure.subplots(nrows, ncols, sharex=sharex, squeeze=False)


def plain(text: Any) -> str:
    """Text shown as written: a ``$`` escaped, so matplotlib never reads it as mathtext.

    >>> print(plain("cost$ + x$"))
    cost\\$ + x\\$
    """
    return str(text).replace("$", r"\$")


def save(figure: Any, path: str | os.PathLike[str]) -> Path:
    """Write a figure (the format follows the suffix; a PNG with a 256-colour palette).

    Raises:
        OptionError: the folder does not exist.

    >>> import pathlib, tempfile
    >>> from taylorlr.analysis.onestep import one_step_demo
    >>> save(plot_onestep(one_step_demo()), pathlib.Path(tempfile.mkdtemp()) / "step.svg").suffix
    '.svg'
    """
    return _save(figure, _target(path))


def _finish(figure: Any, target: Path | None) -> Any:
    """The figure with its layout settled (a constrained layout with a colour bar moves once, on the
    first draw: without this a notebook's first view and a saved file would differ), written if asked."""
    figure.draw_without_rendering()
    if target is not None:
        _save(figure, target)
    return figure


def _maybe_target(path: str | os.PathLike[str] | None) -> Path | None:
    return None if path is None else _target(path)


def _target(path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    if not target.parent.is_dir():
        raise OptionError(f"cannot write {target}: the folder {target.parent} does not exist")
    return target


#: the largest change of any pixel's channel (of 255) that a PNG's 256-colour palette may make
PALETTE_ERROR = 10


def _save(figure: Any, target: Path) -> Path:
    """Write the figure; a PNG gets a 256-colour palette (a third of the size) when no pixel's colour
    moves by more than :data:`PALETTE_ERROR` of 255 (markers keep their colours), else full colour."""
    if target.suffix.lower() != ".png":
        figure.savefig(target, dpi=DPI)
        return target
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    try:
        from PIL import Image  # installed with matplotlib
    except ImportError:
        target.write_bytes(buffer.getvalue())
        return target
    import numpy

    buffer.seek(0)
    with Image.open(buffer) as image:
        rgb = image.convert("RGB")
        # maximum coverage keeps the rare colours (markers, arrows); median cut greys them
        palette = rgb.quantize(colors=256, method=Image.Quantize.MAXCOVERAGE)
        error = numpy.abs(numpy.asarray(palette.convert("RGB"), int) - numpy.asarray(rgb, int)).max()
        (palette if error <= PALETTE_ERROR else rgb).save(target, optimize=True)
    return target


def _short(text: str, limit: int = 70) -> str:
    """Text cut to ``limit`` characters, and made plain (see :func:`plain`)."""
    return plain(text if len(text) <= limit else text[: limit - 3] + "...")


def _log_if_positive(ax: Any, values: Any) -> None:
    """A log y scale when every finite value is positive and they span more than a decade."""
    import numpy

    finite = numpy.asarray(values, dtype=float)
    finite = finite[numpy.isfinite(finite)]
    if finite.size and finite.min() > 0 and finite.max() > 10 * finite.min():
        ax.set_yscale("log")


# ---------------------------------------------------------------------------- one step (1-D)


def plot_onestep(demo: Any, path: str | os.PathLike[str] | None = None) -> Any:
    """Source 000's picture: f, the second-order model at w0, the Newton step and the true extremum.

    The model ``q(w) = f(w0) + f'(w0)(w - w0) + f''(w0)(w - w0)^2 / 2`` is the parabola
    tangent to f at w0; one Newton step jumps to its extremum ``w1 = w0 - f'(w0)/f''(w0)``.
    On a quadratic (d = 0) the model is f itself and w1 is the extremum ``w*``; with a
    cubic term the step lands beside it, and the title gives the miss ``|w1 - w*|``.

    Args:
        demo: a :class:`~taylorlr.analysis.onestep.OneStepDemo`, or a sequence of them drawn
            side by side (e.g. without and with a cubic term).
        path: also write the figure to this file.

    Returns:
        The Figure (one panel per demo).

    Raises:
        OptionError: ``demo`` is not a one-step demo record, or the folder is missing.
        MissingDependencyError: matplotlib is not installed.

    >>> import pathlib, tempfile
    >>> from taylorlr.analysis.onestep import one_step_demo
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> len(plot_onestep([one_step_demo(), one_step_demo(d="0.1")], folder / "miss.png").axes)
    2
    >>> (folder / "miss.png").exists()
    True
    """
    demos = _demos(demo)
    target = _maybe_target(path)
    figure, axes = _figure(1, len(demos), size=(5.6 * len(demos), 4.4))
    for ax, one in zip(axes[0], demos, strict=True):
        _draw_onestep(ax, one)
    return _finish(figure, target)


def _demos(demo: Any) -> tuple[Any, ...]:
    demos = (demo,) if hasattr(demo, "w1") else tuple(demo) if isinstance(demo, Sequence) else (demo,)
    bad = [type(d).__name__ for d in demos if not all(hasattr(d, a) for a in ("f", "w0", "w1", "eta"))]
    if not demos or bad:
        raise OptionError(
            f"plot_onestep takes a OneStepDemo (tl.analysis.onestep.one_step_demo) or a sequence of them, "
            f"got {bad or 'nothing'}"
        )
    return demos


def _polynomial(expr: Any) -> Any:
    """f(w) as a NumPy polynomial (the demo's f is a polynomial in its one symbol)."""
    import numpy
    import sympy

    (symbol,) = expr.free_symbols
    return numpy.poly1d([float(c) for c in sympy.Poly(expr, symbol).all_coeffs()])


def _draw_onestep(ax: Any, demo: Any) -> None:
    import numpy

    f = _polynomial(demo.f)
    w0, w1, curvature = float(demo.w0), float(demo.w1), 1 / float(demo.eta)
    slope = float(f.deriv()(w0))
    model = numpy.poly1d([curvature / 2, slope - curvature * w0, f(w0) - slope * w0 + curvature * w0**2 / 2])
    marks = [w0, w1] + ([] if demo.w_star is None else [float(demo.w_star)])
    ws = _span(marks)
    curve = f(ws)
    ax.plot(ws, curve, color="black", lw=2, label="f(w)")
    ax.plot(ws, model(ws), color="tab:blue", ls="--", lw=1.5, label="second-order model at w0")
    _mark_step(ax, f, model, w0, w1)
    if demo.w_star is not None:
        star = float(demo.w_star)
        ax.plot([star], [f(star)], "*", ms=16, color="tab:red", mec="white", label=f"true {demo.kind} w*")
    low, high = min(curve.min(), model(w1)), max(curve.max(), model(w1))
    margin = 0.08 * (high - low or 1.0)
    ax.set_ylim(low - margin, high + margin)
    ax.set_xlim(ws[0], ws[-1])
    ax.set(xlabel="w", ylabel="f(w)", title=_onestep_title(demo))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)


def _span(marks: Sequence[float], samples: int = 400) -> Any:
    import numpy

    low, high = min(marks), max(marks)
    pad = 0.35 * max(high - low, 1.0)
    return numpy.linspace(low - pad, high + pad, samples)


def _mark_step(ax: Any, f: Any, model: Any, w0: float, w1: float) -> None:
    """w0 on f, the Newton step to the model's extremum, and where w1 really lands on f."""
    ax.plot([w0], [f(w0)], "o", ms=8, color="tab:blue", label=f"w0 = {w0:.4g}")
    ax.annotate(
        "",
        xy=(w1, model(w1)),
        xytext=(w0, f(w0)),
        arrowprops={"arrowstyle": "->", "color": "tab:purple", "lw": 1.5},
    )
    ax.plot([w1], [model(w1)], "s", ms=6, mfc="none", color="tab:purple", label="model's extremum")
    ax.plot([w1, w1], [model(w1), f(w1)], ":", color="tab:purple")
    ax.plot([w1], [f(w1)], "s", ms=7, color="tab:purple", label=f"w1 = w0 - f'/f'' = {w1:.4g}")


def _onestep_title(demo: Any) -> str:
    head = _short(f"f(w) = {demo.f}", 48)
    if demo.w_star is None:
        return f"{head}\nf' has no real root: no extremum to reach"
    miss = float(demo.miss)
    if miss == 0:
        return f"{head}\none step lands exactly on the {demo.kind}"
    return f"{head}\none step misses the {demo.kind} by |w1 - w*| = {miss:.4g}"


# ---------------------------------------------------------------------------- the loss: 1-D, 2-D, n-D


def plot_loss(
    loss: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    at: Any = None,
    critical_points: Sequence[Any] | None = None,
    runs: Mapping[str, Any] | Sequence[Any] | None = None,
    bounds: Sequence[tuple[float, float]] | None = None,
    variables: Sequence[str] | None = None,
    orders: Sequence[int] = (1, 2, 3),
) -> Any:
    """The loss in any dimension: a curve (1-D), contours (2-D) or a plane through n-D.

    In 1-D: f, its critical points by kind, and with ``at`` the Taylor models of each order in
    ``orders`` there and the Newton step (to the extremum of the order-2 model). In 2-D and
    beyond: :func:`plot_contour` (with ``at``, the Newton step drawn as an arrow).

    Args:
        loss: a :class:`~taylorlr.Loss` without data symbols (or its text).
        path: also write the figure to this file.
        at: a point (a mapping of names or a sequence in variable order).
        critical_points: e.g. ``loss.critical_points()``: anything with ``.point`` and ``.kind``.
        runs: label -> :class:`~taylorlr.Run` or points array, or a sequence of Runs.
        bounds: the range of each plotted axis, ((low, high), ...).
        variables: n-D only: the two variables to slice through (see :func:`plot_contour`).
        orders: 1-D only: the Taylor orders drawn at ``at``.

    Returns:
        The Figure.

    Raises:
        OptionError: data symbols, a bad ``at``, ``variables`` or path.
        MissingDependencyError: matplotlib is not installed.

    >>> import taylorlr as tl
    >>> loss = tl.Loss("x**4 - 2*x**2")
    >>> ax = plot_loss(loss, at=[2], critical_points=loss.critical_points()).axes[0]
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('x', 'f(x)')
    >>> [line.get_label() for line in ax.lines][:3]
    ['f(x)', 'Taylor model of order 1 at x = 2', 'Taylor model of order 2 at x = 2']
    """
    loss = _plain_loss(loss, "plot_loss")
    if loss.n >= 2:
        return plot_contour(loss, path, critical_points, runs, bounds=bounds, variables=variables, at=at)
    target = _maybe_target(path)
    figure, axes = _figure(size=(7.0, 5.0))
    _draw_line(axes[0, 0], loss, at, critical_points, _paths(runs or {}, 1), bounds, orders)
    return _finish(figure, target)


def _plain_loss(loss: Any, function: str) -> Any:
    """A Loss (built from text) without data symbols."""
    if isinstance(loss, str):
        from taylorlr.loss import Loss

        loss = Loss(loss)
    if not hasattr(loss, "compile") or not hasattr(loss, "names"):
        raise OptionError(f"{function} takes a tl.Loss (or its text), got {type(loss).__name__}")
    if loss.data:
        raise OptionError(
            f"{function} cannot draw a loss with data symbols {loss.names_of(loss.data)}: "
            "substitute the data first (loss.expr.subs(...))"
        )
    return loss


def _point(loss: Any, at: Any) -> Any:
    """``at`` as floats in variable order (None stays None)."""
    import numpy

    from taylorlr.symbolic.points import exact_point

    if at is None:
        return None
    return numpy.array([float(c) for c in exact_point(at, loss.variables)])


def _values(loss: Any, points: Any) -> Any:
    """f at points (..., n), NaN where it is not finite."""
    import numpy

    with numpy.errstate(all="ignore"):
        values = numpy.asarray(loss.compile().value(numpy.asarray(points, dtype=float)), dtype=float)
    return numpy.where(numpy.isfinite(values), values, numpy.nan)


def _draw_line(
    ax: Any, loss: Any, at: Any, critical_points: Any, paths: Mapping[str, Any], bounds: Any, orders: Any
) -> None:
    """1-D: f, the Taylor models at ``at``, the Newton step, the critical points, the runs."""
    import numpy

    name = plain(loss.names[0])
    start = _point(loss, at)
    points = [(float(p.point[0]), str(p.kind)) for p in critical_points or ()]
    marks = [x for x, _ in points] + ([] if start is None else [float(start[0])])
    marks += [float(p[0, 0, 0]) for p in paths.values()]
    xs = (
        numpy.linspace(float(bounds[0][0]), float(bounds[0][1]), 600)
        if bounds is not None
        else _span([m for m in marks if math.isfinite(m)] or [0.0], 600)
    )
    fs = _values(loss, xs[:, None])
    ax.plot(xs, fs, color="black", lw=2, label=f"f({name})")
    if start is not None:
        _draw_models(ax, loss, at, float(start[0]), xs, orders, name)
        _draw_newton_1d(ax, loss, float(start[0]), name)
    for colour, (label, path) in zip(_colours(len(paths)), paths.items(), strict=True):
        for member in range(path.shape[1]):
            line = path[:, member, 0]
            ax.plot(line, _values(loss, line[:, None]), ".-", lw=1, ms=4, color=colour,
                    label=plain(label) if member == 0 else None)  # fmt: skip
    _draw_critical_points(ax, [((x, float(_values(loss, [[x]])[0])), kind) for x, kind in points])
    finite = fs[numpy.isfinite(fs)]
    if finite.size:
        low, high = float(finite.min()), float(finite.max())
        margin = 0.08 * (high - low or 1.0)
        ax.set_ylim(low - margin, high + margin)
    ax.set_xlim(xs[0], xs[-1])
    ax.set(xlabel=name, ylabel=f"f({name})", title=_short(f"f({loss.names[0]}) = {loss.expr}", 80))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)


def _draw_models(ax: Any, loss: Any, at: Any, w0: float, xs: Any, orders: Any, name: str) -> None:
    """The Taylor polynomial of each order at w0 (exact coefficients, evaluated in floats)."""
    import numpy
    import sympy

    styles = ("--", "-.", ":", (0, (5, 1, 1, 1)))
    for k, order in enumerate(orders):
        polynomial = loss.taylor(at, order=order)
        coefficients = [float(c) for c in sympy.Poly(polynomial, loss.variables[0]).all_coeffs()]
        ax.plot(xs, numpy.polyval(coefficients, xs), ls=styles[k % len(styles)], lw=1.4, color=f"C{k}",
                label=f"Taylor model of order {order} at {name} = {w0:.4g}")  # fmt: skip


def _draw_newton_1d(ax: Any, loss: Any, w0: float, name: str) -> None:
    """The Newton step from w0 to w1 = w0 - f'/f'' (the extremum of the order-2 model), if it exists."""
    from taylorlr.numerics.newton import newton_step

    step = newton_step(loss, [w0])
    if str(step.curvature) in ("singular", "nonfinite"):
        return
    w1 = float(step.point[0])
    f0, f1 = (float(_values(loss, [[w]])[0]) for w in (w0, w1))
    model = f0 - 0.5 * float(step.gradient[0]) * (w0 - w1)  # the order-2 model's value at its extremum
    ax.annotate("", xy=(w1, model), xytext=(w0, f0),
                arrowprops={"arrowstyle": "->", "color": "tab:purple", "lw": 1.5})  # fmt: skip
    ax.plot([w0], [f0], "o", ms=8, color="tab:blue", label=f"{name}0 = {w0:.4g}")
    ax.plot([w1], [f1], "s", ms=7, color="tab:purple", label=f"Newton step: {name}1 = {w1:.4g}")


@dataclass(frozen=True)
class Plane:
    """A plane through n-D space, drawn as the figure's two axes: ``origin + s u + t v``.

    Attributes:
        origin: (n,) the point at (0, 0) of the figure.
        basis: (n, 2) orthonormal columns u, v.
        labels: the two axis labels.
        note: what the plane is, said on the figure ("" for the 2-D plane itself).

    >>> import numpy as np
    >>> plane = Plane(np.array([0.0, 0.0, 1.0]), np.eye(3)[:, :2], ("x", "y"))
    >>> plane.project(np.array([2.0, 3.0, 5.0])).tolist(), float(plane.distance(np.array([2.0, 3.0, 5.0])))
    ([2.0, 3.0], 4.0)
    """

    origin: Any
    basis: Any
    labels: tuple[str, str]
    note: str = ""

    def project(self, points: Any) -> Any:
        """(..., n) points to (..., 2) plane coordinates (orthogonal projection)."""
        return (points - self.origin) @ self.basis

    def lift(self, coordinates: Any) -> Any:
        """(..., 2) plane coordinates to (..., n) points."""
        return self.origin + coordinates @ self.basis.T

    def distance(self, points: Any) -> Any:
        """How far each (..., n) point lies off the plane."""
        import numpy

        return numpy.linalg.norm(points - self.lift(self.project(points)), axis=-1)


def plane_of(
    loss: Any, *, variables: Sequence[str] | None = None, at: Any = None, paths: Sequence[Any] = (),
    minimum: Any = None,
) -> Plane:  # fmt: skip
    """The plane a figure of an n-D loss draws, and the sentence that says which.

    2-D: the plane itself. Given two ``variables``: the slice through them, the others held at
    ``at`` (or the first path's start, else a minimum, else 0). Otherwise, with paths: the plane
    through a minimum (else the paths' mean) spanned by the paths' two principal directions.
    Without paths: the slice through the first two variables.

    >>> import taylorlr as tl
    >>> plane = plane_of(tl.Loss("x**2 + y**2 + z**2"), variables=("x", "z"), at=[1, 2, 3])
    >>> plane.labels, plane.note
    (('x', 'z'), 'slice through x, z at y = 2')
    """
    import numpy

    n, names = loss.n, loss.names
    if n == 2:
        return Plane(numpy.zeros(2), numpy.eye(2), (plain(names[0]), plain(names[1])))
    base = _point(loss, at)
    if base is None:
        base = (
            paths[0][0, 0]
            if paths
            else (numpy.asarray(minimum, dtype=float) if minimum is not None else numpy.zeros(n))
        )
    if variables is None and paths:
        return _principal_plane(names, paths, minimum)
    chosen = tuple(variables) if variables is not None else names[:2]
    unknown = [v for v in chosen if v not in names]
    if len(chosen) != 2 or unknown or chosen[0] == chosen[1]:
        raise OptionError(f"variables must be two different names of {names}, got {tuple(chosen)}")
    i, j = names.index(chosen[0]), names.index(chosen[1])
    basis = numpy.zeros((n, 2))
    basis[i, 0] = basis[j, 1] = 1.0
    origin = numpy.array(base, dtype=float)
    origin[[i, j]] = 0.0
    held = ", ".join(f"{names[k]} = {origin[k]:.4g}" for k in range(n) if k not in (i, j))
    return Plane(
        origin,
        basis,
        (plain(names[i]), plain(names[j])),
        plain(f"slice through {names[i]}, {names[j]} at {held}"),
    )


def _principal_plane(names: Sequence[str], paths: Sequence[Any], minimum: Any) -> Plane:
    """The plane through a minimum (else the mean) along the two principal directions of the paths."""
    import numpy

    cloud = numpy.concatenate([p.reshape(-1, len(names)) for p in paths])
    cloud = cloud[numpy.all(numpy.isfinite(cloud), axis=1)]
    origin = numpy.asarray(minimum, dtype=float) if minimum is not None else cloud.mean(axis=0)
    _, _, rows = numpy.linalg.svd(cloud - origin, full_matrices=True)
    basis = rows[:2].T.copy()
    for k in range(2):  # a sign that makes the largest component positive, for stable labels
        if basis[numpy.argmax(numpy.abs(basis[:, k])), k] < 0:
            basis[:, k] *= -1
    labels = tuple(_direction_label(k + 1, basis[:, k], names) for k in range(2))
    through = "a minimum" if minimum is not None else "the paths' mean"
    note = f"the plane of the paths' two principal directions, through {through} (paths projected onto it)"
    return Plane(origin, basis, (labels[0], labels[1]), note)


def _direction_label(k: int, direction: Any, names: Sequence[str]) -> str:
    """ "direction 1: 0.71 x + 0.7 y" (the three largest components)."""
    import numpy

    order = numpy.argsort(-numpy.abs(direction))[:3]
    terms = " ".join(
        f"{'-' if direction[i] < 0 else '+'} {abs(direction[i]):.2g} {names[i]}" for i in sorted(order)
    )
    terms = terms[2:] if terms.startswith("+") else "-" + terms[2:]
    more = " + ..." if len(names) > 3 else ""
    return plain(f"direction {k}: {terms}{more}")


def plot_contour(
    loss: Any,
    path: str | os.PathLike[str] | None = None,
    critical_points: Sequence[Any] | None = None,
    runs: Mapping[str, Any] | Sequence[Any] | None = None,
    *,
    bounds: Sequence[tuple[float, float]] | None = None,
    variables: Sequence[str] | None = None,
    at: Any = None,
) -> Any:
    """Contours of a loss of 2 or more variables, its critical points by kind, and the paths of runs.

    In 2-D the plane is the loss's own; in n-D it is a slice through two chosen ``variables``
    (the others held at ``at``), or with runs the plane of the paths' principal directions,
    and the figure says which (:func:`plane_of`). The range is chosen from the critical
    points and the runs' start points (with the parts of the paths that stay near them),
    padded; ``bounds`` overrides it. Contour levels are quantiles of f over the grid, so
    valleys such as Rosenbrock's stay visible next to steep walls.

    Args:
        loss: a :class:`~taylorlr.Loss` of two or more variables and no data symbols (or its text).
        path: also write the figure to this file.
        critical_points: e.g. ``loss.critical_points()``; anything with ``.point`` and
            ``.kind``. None draws none (they are not computed here). In n-D only the points
            on the plane are drawn, and the figure says how many are off it.
        runs: label -> :class:`~taylorlr.Run` or points array (steps+1, ..., n), or a
            sequence of Runs (labelled "rule, optimizer"); one colour per run, each
            batch member a path.
        bounds: ((x_min, x_max), (y_min, y_max)) in the plane's coordinates.
        variables: n-D: the two variables to slice through.
        at: a point: the Newton step from it is drawn, and an n-D slice holds the other variables there.

    Returns:
        The Figure.

    Raises:
        OptionError: the loss has fewer than 2 variables or data symbols, a path has the
            wrong shape, ``variables`` are not two of the loss's names, or the folder is missing.
        MissingDependencyError: matplotlib is not installed.

    >>> import taylorlr as tl
    >>> loss = tl.Loss("(x - 1)**2 + 4*y**2")
    >>> runs = {"exact": tl.run(loss, [-1.0, 1.0], rule="exact", steps=20)}
    >>> ax = plot_contour(loss, None, loss.critical_points(), runs).axes[0]
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('x', 'y')
    """
    loss = _plain_loss(loss, "plot_contour")
    if loss.n < 2:
        raise OptionError(
            f"a contour plot needs a loss of 2 or more variables, got {loss.names}: use plot_loss"
        )
    target = _maybe_target(path)
    paths = _paths(runs or {}, loss.n)
    figure, axes = _figure(size=(7.0, 6.0))
    _draw_landscape(
        figure, axes[0, 0], loss, critical_points, paths, bounds=bounds, variables=variables, at=at
    )
    return _finish(figure, target)


def _draw_landscape(
    figure: Any, ax: Any, loss: Any, critical_points: Any, paths: Mapping[str, Any], *, bounds: Any = None,
    variables: Any = None, at: Any = None, faint: Sequence[str] = (), legend: bool = True, width: int = 80,
) -> None:  # fmt: skip
    """Contours over the plane, the paths, the critical points on it, the Newton step from ``at``."""
    import numpy

    points = [(numpy.array([float(c) for c in p.point]), str(p.kind)) for p in critical_points or ()]
    minima = sorted((float(_values(loss, p)), tuple(p)) for p, kind in points if kind == "minimum")
    minimum = numpy.array(minima[0][1]) if minima else None
    plane = plane_of(loss, variables=variables, at=at, paths=list(paths.values()), minimum=minimum)
    on = [
        (tuple(plane.project(p)), kind)
        for p, kind in points
        if plane.distance(p) <= 1e-9 * (1 + numpy.abs(p).max())
    ]
    flat = {label: plane.project(path) for label, path in paths.items()}
    anchors = [p for p, _ in on] + [tuple(plane.project(p)) for p in _step_ends(loss, at)]
    ranged = [path for label, path in flat.items() if label not in faint]  # the faint runs may wander
    box = bounds if bounds is not None else _auto_bounds(anchors, ranged)
    _draw_levels(figure, ax, loss, plane, box)
    _draw_paths(ax, flat, faint=faint)
    _draw_critical_points(ax, on)
    if at is not None:
        _draw_newton_arrow(ax, loss, plane, _point(loss, at))
    ax.set_xlim(*box[0])
    ax.set_ylim(*box[1])
    notes = [textwrap.fill(plane.note, width - 8)] if plane.note else []
    if len(on) < len(points):
        notes.append(f"{len(points) - len(on)} critical point(s) off the plane not shown")
    title = _short(f"f = {loss.expr}", width) + "".join(f"\n{note}" for note in notes)
    ax.set(xlabel=plane.labels[0], ylabel=plane.labels[1], title=title)
    if legend and (on or flat or at is not None):
        entries = len(flat) + len({kind for _, kind in on}) + (at is not None)
        figure.legend(loc="outside lower center", ncols=4 if entries <= 8 else 3,
                      fontsize=8 if entries <= 8 else 7, frameon=False)  # fmt: skip


def _step_ends(loss: Any, at: Any) -> list[Any]:
    """The start ``at`` and, where it exists and is finite, the Newton step's end (for the range)."""
    import numpy

    from taylorlr.numerics.newton import newton_step

    if at is None:
        return []
    start = _point(loss, at)
    step = newton_step(loss, start)
    ends = [start]
    if str(step.curvature) not in ("singular", "nonfinite") and numpy.all(numpy.isfinite(step.point)):
        ends.append(numpy.asarray(step.point, dtype=float))
    return ends


def _draw_newton_arrow(ax: Any, loss: Any, plane: Plane, start: Any) -> None:
    """The Newton step from ``start``, projected on the plane (none where H is singular)."""
    import numpy

    from taylorlr.numerics.newton import newton_step

    step = newton_step(loss, start)
    a, b = plane.project(start), plane.project(step.point)
    ax.plot(*a, "o", ms=8, color="tab:blue", mec="white", label="start", zorder=6)
    if str(step.curvature) in ("singular", "nonfinite"):
        return
    ax.annotate(
        "", xy=tuple(b), xytext=tuple(a), arrowprops={"arrowstyle": "->", "color": "tab:purple", "lw": 2}
    )
    off = float(plane.distance(numpy.asarray(step.point, dtype=float))) > 1e-9 * (
        1 + float(numpy.abs(step.point).max())
    )
    where = ", its end projected onto the plane" if off else ""
    ax.plot(
        *b,
        "s",
        ms=7,
        color="tab:purple",
        label=f"Newton step (heads for a {step.curvature}{where})",
        zorder=6,
    )


def _labelled(runs: Mapping[str, Any] | Sequence[Any]) -> list[tuple[str, Any]]:
    """(label, run) pairs; a Run in a plain sequence is labelled by its rule and optimizer."""
    if isinstance(runs, Mapping):
        return [(str(label), item) for label, item in runs.items()]
    return [
        (f"{item.rule}, {item.optimizer}" if hasattr(item, "rule") else f"run {i}", item)
        for i, item in enumerate(runs)
    ]


def _paths(runs: Mapping[str, Any] | Sequence[Any], n: int) -> dict[str, Any]:
    """label -> array (steps+1, members, n), cut after the last member's last valid point."""
    import numpy

    paths = {}
    for label, item in _labelled(runs):
        points = numpy.asarray(getattr(item, "points", item), dtype=float)
        if points.ndim < 2 or points.shape[-1] != n:
            raise OptionError(
                f"the path of run {label!r} must have shape (steps+1, ..., {n}), got {points.shape}"
            )
        stopped = getattr(item, "stopped_at", None)
        end = len(points) if stopped is None else int(numpy.max(stopped)) + 1
        paths[label] = points[:end].reshape(min(end, len(points)), -1, n)
    return paths


def _auto_bounds(critical: Sequence[tuple[float, ...]], paths: Any) -> Any:
    """A box around the critical points and start points, grown by path points not far off."""
    import numpy

    paths = list(paths)
    anchors = [numpy.asarray(critical, dtype=float).reshape(-1, 2)] + [p[0] for p in paths]
    anchor = numpy.concatenate(anchors)
    anchor = anchor[numpy.all(numpy.isfinite(anchor), axis=1)]
    if anchor.size == 0:
        anchor = numpy.zeros((1, 2))
    low, high = anchor.min(axis=0), anchor.max(axis=0)
    center, reach = (low + high) / 2, 3 * max(float((high - low).max()) / 2, 1.0)
    for path in paths:
        flat = path.reshape(-1, 2)
        near = flat[numpy.all(numpy.abs(flat - center) <= reach, axis=1)]
        if near.size:
            low, high = numpy.minimum(low, near.min(axis=0)), numpy.maximum(high, near.max(axis=0))
    size = max(float((high - low).max()), 3.0)  # a lone point still gets a box of width >= 3
    center, half = (low + high) / 2, numpy.maximum(high - low, size / 3) / 2 + 0.12 * size
    return tuple((float(c - h), float(c + h)) for c, h in zip(center, half, strict=True))


def _grid_values(loss: Any, plane: Plane, box: Any) -> tuple[Any, Any, Any]:
    import numpy

    xs, ys = (numpy.linspace(lo, hi, _GRID) for lo, hi in box)
    X, Y = numpy.meshgrid(xs, ys)
    Z = _values(loss, plane.lift(numpy.stack([X, Y], axis=-1)))
    return X, Y, numpy.ma.masked_invalid(Z)


def _quantile_levels(Z: Any, count: int = 24) -> Any:
    import numpy

    finite = Z.compressed()
    if finite.size == 0:
        raise OptionError("the loss is not finite anywhere in the plotted range: pass bounds=...")
    levels = numpy.unique(numpy.quantile(finite, numpy.linspace(0.0, 1.0, count)))
    if levels.size < 2:  # a constant over the range
        levels = numpy.array([levels[0] - 1.0, levels[0] + 1.0])
    return levels


def _light_colormap() -> Any:
    """The pale part of "Blues" (low f white, high f light blue), so paths and markers stand out."""
    import numpy
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    return ListedColormap(colormaps["Blues"](numpy.linspace(0.0, 0.5, 256)))


def _draw_levels(figure: Any, ax: Any, loss: Any, plane: Plane, box: Any) -> None:
    X, Y, Z = _grid_values(loss, plane, box)
    levels = _quantile_levels(Z)
    filled = ax.contourf(X, Y, Z, levels=levels, cmap=_light_colormap())
    ax.contour(X, Y, Z, levels=levels, colors="slategray", linewidths=0.4, negative_linestyles="solid")
    bar = figure.colorbar(filled, ax=ax, spacing="uniform", format="%.3g")
    bar.set_label(plain(f"f({', '.join(loss.names)}) (levels at quantiles of f over the range)"))


def _colours(count: int) -> list[Any]:
    """Distinct colours: the default cycle up to 10 runs, tab20 up to 20, then a sampled turbo map."""
    import numpy
    from matplotlib import colormaps

    if count <= 10:
        return [f"C{i}" for i in range(count)]
    if count <= 20:
        return [colormaps["tab20"](i) for i in range(count)]
    return list(colormaps["turbo"](numpy.linspace(0.0, 1.0, count)))


def _draw_paths(ax: Any, paths: Mapping[str, Any], faint: Sequence[str] = ()) -> None:
    """Each path in its own colour (wide below, thin on top); the ``faint`` ones thin and grey,
    under the others, with one legend entry for all of them."""
    for count, label in enumerate(label for label in paths if label in faint):
        for member in range(paths[label].shape[1]):
            line = paths[label][:, member]
            ax.plot(line[:, 0], line[:, 1], **_FAINT, zorder=1,
                    label=f"the other {len(faint)} runs" if count == member == 0 else None)  # fmt: skip
    bright = {label: path for label, path in paths.items() if label not in faint}
    colours = _colours(len(bright))
    for i, (label, path) in enumerate(bright.items()):
        colour = colours[i]
        spread = 2.4 if len(bright) <= 5 else 1.2
        width = 1.2 + spread * (len(bright) - 1 - i) / max(len(bright) - 1, 1)  # wide below, thin on top
        marker = "." if len(path) <= _MARKERS_UP_TO else None
        for member in range(path.shape[1]):
            line = path[:, member]
            ax.plot(line[:, 0], line[:, 1], color=colour, lw=width, marker=marker, ms=2 + width,
                    alpha=0.9, label=plain(label) if member == 0 else None, zorder=3)  # fmt: skip
            ax.plot(*line[0], "s", color=colour, mfc="white", ms=6, zorder=4)
            ax.plot(*line[-1], "o", color=colour, ms=5, zorder=4)


def _draw_critical_points(ax: Any, points: Sequence[tuple[tuple[float, ...], str]]) -> None:
    kinds = [*KIND_STYLES, *sorted({k for _, k in points} - set(KIND_STYLES))]
    for kind in kinds:
        marker, colour = KIND_STYLES.get(kind, KIND_STYLES["inconclusive"])
        chosen = [p for p, k in points if k == kind]
        if chosen:
            xs, ys = zip(*chosen, strict=True)
            ax.plot(xs, ys, marker, ls="none", ms=10, color=colour, mec="black", mew=0.8,
                    label=plain(f"{kind} ({len(chosen)})"), zorder=5)  # fmt: skip


# ---------------------------------------------------------------------------- one run


def plot_run(run: Any, path: str | os.PathLike[str] | None = None, *, member: int | None = None) -> Any:
    """A run against the step: the loss, the gradient norm, and alpha beside the oracle's alpha.

    ``alpha_t`` is the step length the rule chose for step t; the oracle's ``alpha*_t``
    is the exact line search along the same direction (``Run.oracle_alphas``). An
    adaptive rule's ``alpha_{t+1}`` estimates ``alpha*_t``, so where the rule is exact
    (a quadratic, gamma = 1) the alpha curve is the oracle's shifted right by one step.
    Log scales where values are positive and span more than a decade; a dotted
    line marks where the run stopped.

    Args:
        run: a :class:`~taylorlr.Run`.
        path: also write the figure to this file.
        member: which batch member to draw (flat index); needed when the run holds more than one.

    Returns:
        The Figure (three panels sharing the step axis).

    Raises:
        OptionError: not a Run, a batch without ``member``, or the folder is missing.
        MissingDependencyError: matplotlib is not installed.

    >>> import pathlib, tempfile, taylorlr as tl
    >>> result = tl.run(tl.Loss("x**2 + 10*y**2"), [1.0, 1.0], rule="retsinas", steps=30)
    >>> [ax.get_ylabel() for ax in plot_run(result).axes]
    ['loss f', 'gradient norm', 'alpha']
    """
    series = _member_series(run, member)
    target = _maybe_target(path)
    figure, axes = _figure(3, 1, size=(7.0, 7.6), sharex=True)
    loss_ax, grad_ax, alpha_ax = axes[:, 0]
    stop, steps = series["stop"], list(series["steps"])
    _curve(loss_ax, steps, series["losses"], "f(theta_t)", "black")
    _curve(grad_ax, steps, series["grad_norms"], "||grad f(theta_t)||", "tab:gray")
    _curve(alpha_ax, steps, series["alphas"], f"alpha_t ({plain(run.rule)})", "tab:blue")
    _curve(alpha_ax, steps[:-1], series["oracle"], "line-search oracle alpha*_t", "tab:red", ls="--")
    _log_if_positive(loss_ax, series["losses"])
    _log_if_positive(grad_ax, series["grad_norms"])
    _log_if_positive(alpha_ax, [*series["alphas"], *series["oracle"]])
    for ax in axes[:, 0]:
        ax.axvline(stop, color="black", ls=":", lw=1)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    loss_ax.set_title(plain(f"{run.rule} rule on {run.optimizer}: {series['status']} at step {stop}"))
    loss_ax.set_ylabel("loss f")
    grad_ax.set_ylabel("gradient norm")
    alpha_ax.set(ylabel="alpha", xlabel="step t")
    alpha_ax.xaxis.get_major_locator().set_params(integer=True)
    return _finish(figure, target)


def _member_series(run: Any, member: int | None) -> dict[str, Any]:
    """The one member's arrays, flattened out of the batch."""
    names = ("points", "alphas", "oracle_alphas", "losses", "grad_norms", "status", "stopped_at")
    if not all(hasattr(run, name) for name in names):
        raise OptionError(f"plot_run takes a tl.Run (from tl.run), got {type(run).__name__}")
    size = math.prod(run.status.shape)
    if member is None and size != 1:
        raise OptionError(f"the run holds {size} batch members: pick one with member=0..{size - 1}")
    index = member or 0
    if not 0 <= index < size:
        raise OptionError(f"member must be in 0..{size - 1}, got {member}")

    cut = _member_history(run, index)
    return {
        "steps": cut["steps"],
        "losses": cut["losses"],
        "grad_norms": cut["grad_norms"],
        "alphas": cut["alphas"],
        "oracle": cut["oracle_alphas"],
        "status": run.status.reshape(-1)[index].value,
        "stop": int(run.stopped_at.reshape(-1)[index]),
    }


def _member_history(run: Any, index: int) -> dict[str, Any]:
    """Member ``index`` (flat) of a run, cut at its stop, with the step of each row (``steps``):
    every step, or the recorded ones of a thinned record (``record=k``)."""
    import numpy

    return dict(run.history(tuple(int(i) for i in numpy.unravel_index(index, run.status.shape))))


def _curve(ax: Any, steps: Sequence[int], values: Any, label: str, colour: str, ls: str = "-") -> None:
    import numpy

    values = numpy.asarray(values, dtype=float)
    if not numpy.isfinite(values).any():
        label += " (not recorded)"
    marker = "." if len(values) <= _MARKERS_UP_TO else None
    ax.plot(list(steps), values, ls=ls, marker=marker, color=colour, label=label)


# ---------------------------------------------------------------------------- a comparison


def plot_comparison(
    loss: Any,
    comparison: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    critical_points: Sequence[Any] | None = None,
    best: int = BEST_RUNS,
    bounds: Sequence[tuple[float, float]] | None = None,
    variables: Sequence[str] | None = None,
) -> Any:
    """A comparison that stays readable with 21 runs or more: the ``best`` rows in colour, the rest faint.

    Left, the loss with the runs' paths (a curve in 1-D, contours in 2-D, a plane in n-D, as
    :func:`plot_loss`); right, each run's gap f - f* against the step (f itself where the
    reference has no minimum), on a log scale when it spans more than a decade. The legend
    sits outside the axes, one entry per colour and one for all the faint runs.

    Args:
        loss: the :class:`~taylorlr.Loss` compared (or its text).
        comparison: the :class:`~taylorlr.comparison.Comparison` of :func:`taylorlr.compare`.
        path: also write the figure to this file.
        critical_points: marked by kind, as in :func:`plot_contour` (e.g. ``loss.critical_points()``).
        best: how many of the best rows are drawn in colour.
        bounds, variables: as in :func:`plot_contour`.

    Returns:
        The Figure.

    >>> import taylorlr as tl
    >>> loss = tl.Loss("(x - 1)**2 + 4*y**2")
    >>> table = tl.compare(loss, [0.0, 1.0], steps=40)
    >>> figure = plot_comparison(loss, table, best=3)
    >>> labels = [text.get_text() for text in figure.legends[0].get_texts()]
    >>> "the other 18 runs" in labels, "#1 line-search, adam (reached)" in labels
    (True, True)
    """
    loss = _plain_loss(loss, "plot_comparison")
    if not hasattr(comparison, "rows") or not hasattr(comparison, "runs"):
        raise OptionError(f"plot_comparison takes a tl.compare result, got {type(comparison).__name__}")
    if not comparison.runs:
        raise OptionError("the comparison holds no runs to draw")
    if best < 1:
        raise OptionError(f"best must be at least 1, got {best}")
    target = _maybe_target(path)
    ranked = _ranked_runs(comparison)
    faint = [label for label, _ in ranked[best:]]
    runs = dict(ranked)
    figure, axes = _figure(1, 2, size=(13.5, 6.2))
    land, gaps = axes[0]
    paths = _paths(runs, loss.n)
    if loss.n == 1:
        _draw_line(land, loss, None, critical_points, {k: v for k, v in paths.items() if k not in faint},
                   bounds, ())  # fmt: skip
        land.get_legend().remove()
    else:
        _draw_landscape(figure, land, loss, critical_points, paths, bounds=bounds, variables=variables,
                        faint=faint, legend=False, width=56)  # fmt: skip
    _draw_gaps(gaps, runs, comparison, faint)
    handles, labels = gaps.get_legend_handles_labels()
    extra = [
        (h, label) for h, label in zip(*land.get_legend_handles_labels(), strict=True) if label not in labels
    ]
    figure.legend([h for h, _ in extra] + handles, [label for _, label in extra] + labels,
                  loc="outside right upper", fontsize=8, frameon=False)  # fmt: skip
    return _finish(figure, target)


def _ranked_runs(comparison: Any) -> list[tuple[str, Any]]:
    """(label, run) in the comparison's rank order: "#1 exact, gd (reached)"."""
    unused = dict(enumerate(comparison.runs))
    ranked = []
    for rank, row in enumerate(comparison.rows, start=1):
        key = next(k for k, r in unused.items() if (r.rule, r.optimizer) == (row.rule, row.optimizer))
        ranked.append((f"#{rank} {row.rule}, {row.optimizer} ({row.standing.value})", unused.pop(key)))
    return ranked


def _draw_gaps(ax: Any, runs: Mapping[str, Any], comparison: Any, faint: Sequence[str]) -> None:
    """f - f* (or f) against the step for each run, the faint ones grey and under the others."""
    import numpy

    f_star = min(comparison.f_star) if comparison.f_star else None
    colours = iter(_colours(len(runs) - len(faint)))
    seen: list[float] = []
    for count, (label, run) in enumerate(sorted(runs.items(), key=lambda item: item[0] not in faint)):
        cut = _member_history(run, int(numpy.argmax(run.stopped_at)))
        steps, values = list(cut["steps"]), numpy.ravel(cut["losses"]).astype(float)
        shown = values - f_star if f_star is not None else values
        if f_star is not None:
            shown = numpy.maximum(shown, 0.0)
        seen += list(shown[numpy.isfinite(shown)])
        if label in faint:
            ax.plot(steps, shown, **_FAINT, label=f"the other {len(faint)} runs" if count == 0 else None)
        else:
            ax.plot(steps, shown, lw=1.6, color=next(colours), label=plain(label))
    positive = [v for v in seen if v > 0]
    if positive and max(positive) > 10 * min(positive):
        ax.set_yscale("symlog", linthresh=max(min(positive), 1e-300))
    ylabel = "f - f* (f* the reference minimum)" if f_star is not None else "f"
    ax.set(xlabel="step t", ylabel=ylabel, title="each run against the step (best in colour)")
    ax.grid(alpha=0.3)
