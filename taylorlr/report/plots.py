"""Figures: the one-step picture, contours with critical points and paths, a run's alphas.

matplotlib is optional (the extra ``plot``) and is imported inside each function,
never by ``import taylorlr``. Figures are drawn on a bare
:class:`matplotlib.figure.Figure`, not through pyplot, so a user's interactive
backend and open figures are left alone. Each function writes one file (the
format follows its suffix: .png, .svg, .pdf) and returns its path; a PNG is
stored with a 256-colour palette (through Pillow, which matplotlib installs),
about a third of the size and indistinguishable on screen.

>>> import pathlib, tempfile
>>> from taylorlr.analysis.onestep import one_step_demo
>>> out = plot_onestep(one_step_demo(), pathlib.Path(tempfile.mkdtemp()) / "onestep.png")
>>> out.name, out.stat().st_size > 10_000
('onestep.png', True)
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
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
_GRID = 241  # contour grid points per axis
_MARKERS_UP_TO = 60  # steps drawn with a marker each; beyond this, lines only


# ---------------------------------------------------------------------------- shared


def _figure(nrows: int = 1, ncols: int = 1, *, size: tuple[float, float], sharex: bool = False) -> Any:
    """A pyplot-free Figure and its axes (a 2-D array), or MissingDependencyError."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise MissingDependencyError(INSTALL_HINT) from error
    figure = Figure(figsize=size, layout="constrained")
    return figure, figure.subplots(nrows, ncols, sharex=sharex, squeeze=False)


def _target(path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    if not target.parent.is_dir():
        raise OptionError(f"cannot write {target}: the folder {target.parent} does not exist")
    return target


def _save(figure: Any, target: Path) -> Path:
    """Write the figure; a PNG gets a 256-colour palette (a third of the size, no visible change)."""
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
    buffer.seek(0)
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colors=256).save(target, optimize=True)
    return target


def _short(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _log_if_positive(ax: Any, values: Any) -> None:
    """A log y scale when every finite value is positive and they span more than a decade."""
    import numpy

    finite = numpy.asarray(values, dtype=float)
    finite = finite[numpy.isfinite(finite)]
    if finite.size and finite.min() > 0 and finite.max() > 10 * finite.min():
        ax.set_yscale("log")


# ---------------------------------------------------------------------------- one step (1-D)


def plot_onestep(demo: Any, path: str | os.PathLike[str]) -> Path:
    """Source 000's picture: f, the second-order model at w0, the Newton step and the true extremum.

    The model ``q(w) = f(w0) + f'(w0)(w - w0) + f''(w0)(w - w0)^2 / 2`` is the parabola
    tangent to f at w0; one Newton step jumps to its extremum ``w1 = w0 - f'(w0)/f''(w0)``.
    On a quadratic (d = 0) the model is f itself and w1 is the extremum ``w*``; with a
    cubic term the step lands beside it, and the title gives the miss ``|w1 - w*|``.

    Args:
        demo: a :class:`~taylorlr.analysis.onestep.OneStepDemo`, or a sequence of them drawn
            side by side (e.g. without and with a cubic term).
        path: the file to write.

    Returns:
        The path written.

    Raises:
        OptionError: ``demo`` is not a one-step demo record, or the folder is missing.
        MissingDependencyError: matplotlib is not installed.

    >>> import pathlib, tempfile
    >>> from taylorlr.analysis.onestep import one_step_demo
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> plot_onestep([one_step_demo(), one_step_demo(d="0.1")], folder / "miss.png").exists()
    True
    """
    demos = _demos(demo)
    target = _target(path)
    figure, axes = _figure(1, len(demos), size=(5.6 * len(demos), 4.4))
    for ax, one in zip(axes[0], demos, strict=True):
        _draw_onestep(ax, one)
    return _save(figure, target)


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


# ---------------------------------------------------------------------------- contour (2-D)


def plot_contour(
    loss: Any,
    path: str | os.PathLike[str],
    critical_points: Sequence[Any] | None = None,
    runs: Mapping[str, Any] | Sequence[Any] | None = None,
    *,
    bounds: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> Path:
    """Contours of a 2-D loss, its critical points marked by kind, and the paths of runs.

    The range is chosen from the critical points and the runs' start points (with
    the parts of the paths that stay near them), padded; ``bounds`` overrides it.
    Contour levels are quantiles of f over the grid, so valleys such as
    Rosenbrock's stay visible next to steep walls.

    Args:
        loss: a :class:`~taylorlr.Loss` of two variables and no data symbols (or its text).
        path: the file to write.
        critical_points: e.g. ``loss.critical_points()``; anything with ``.point`` and
            ``.kind``. None draws none (they are not computed here).
        runs: label -> :class:`~taylorlr.Run` or points array (steps+1, ..., 2), or a
            sequence of Runs (labelled "rule, optimizer"); one colour per run, each
            batch member a path.
        bounds: ((x_min, x_max), (y_min, y_max)).

    Returns:
        The path written.

    Raises:
        OptionError: the loss is not 2-D or has data symbols, a path is not 2-D, or
            the folder is missing.
        MissingDependencyError: matplotlib is not installed.

    >>> import pathlib, tempfile, taylorlr as tl
    >>> loss = tl.Loss("(x - 1)**2 + 4*y**2")
    >>> runs = {"exact": tl.run(loss, [-1.0, 1.0], rule="exact", steps=20)}
    >>> out = plot_contour(loss, pathlib.Path(tempfile.mkdtemp()) / "c.png", loss.critical_points(), runs)
    >>> out.suffix
    '.png'
    """
    loss = _two_d_loss(loss)
    target = _target(path)
    points = [(tuple(float(c) for c in p.point), p.kind) for p in critical_points or ()]
    paths = _paths(runs or {})
    box = bounds if bounds is not None else _auto_bounds([p for p, _ in points], paths.values())
    entries = len(paths) + len({kind for _, kind in points})
    columns = 4 if entries <= 8 else 3
    figure, axes = _figure(size=(7.0, 5.6 + 0.17 * math.ceil(entries / columns)))
    ax = axes[0, 0]
    _draw_levels(figure, ax, loss, box)
    _draw_paths(ax, paths)
    _draw_critical_points(ax, points)
    ax.set_xlim(*box[0])
    ax.set_ylim(*box[1])
    ax.set(xlabel=loss.names[0], ylabel=loss.names[1], title=_short(f"f = {loss.expr}", 80))
    if points or paths:
        figure.legend(
            loc="outside lower center", ncols=columns, fontsize=8 if entries <= 8 else 7, frameon=False
        )
    return _save(figure, target)


def _two_d_loss(loss: Any) -> Any:
    if isinstance(loss, str):
        from taylorlr.loss import Loss

        loss = Loss(loss)
    if getattr(loss, "n", None) != 2:
        raise OptionError(
            f"a contour plot needs a loss of exactly 2 variables, got {getattr(loss, 'names', loss)}"
        )
    if loss.data:
        raise OptionError(
            f"plot_contour cannot draw a loss with data symbols {loss.names_of(loss.data)}: "
            "substitute the data first (loss.expr.subs(...))"
        )
    return loss


def _labelled(runs: Mapping[str, Any] | Sequence[Any]) -> list[tuple[str, Any]]:
    """(label, run) pairs; a Run in a plain sequence is labelled by its rule and optimizer."""
    if isinstance(runs, Mapping):
        return [(str(label), item) for label, item in runs.items()]
    return [
        (f"{item.rule}, {item.optimizer}" if hasattr(item, "rule") else f"run {i}", item)
        for i, item in enumerate(runs)
    ]


def _paths(runs: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    """label -> array (steps+1, members, 2), cut after the last member's last valid point."""
    import numpy

    paths = {}
    for label, item in _labelled(runs):
        points = numpy.asarray(getattr(item, "points", item), dtype=float)
        if points.ndim < 2 or points.shape[-1] != 2:
            raise OptionError(
                f"the path of run {label!r} must have shape (steps+1, ..., 2), got {points.shape}"
            )
        stopped = getattr(item, "stopped_at", None)
        end = len(points) if stopped is None else int(numpy.max(stopped)) + 1
        paths[label] = points[:end].reshape(min(end, len(points)), -1, 2)
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


def _grid_values(loss: Any, box: Any) -> tuple[Any, Any, Any]:
    import numpy

    xs, ys = (numpy.linspace(lo, hi, _GRID) for lo, hi in box)
    X, Y = numpy.meshgrid(xs, ys)
    with numpy.errstate(all="ignore"):
        Z = numpy.asarray(loss.compile().value(numpy.stack([X, Y], axis=-1)), dtype=float)
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


def _draw_levels(figure: Any, ax: Any, loss: Any, box: Any) -> None:
    X, Y, Z = _grid_values(loss, box)
    levels = _quantile_levels(Z)
    filled = ax.contourf(X, Y, Z, levels=levels, cmap=_light_colormap())
    ax.contour(X, Y, Z, levels=levels, colors="slategray", linewidths=0.4, negative_linestyles="solid")
    bar = figure.colorbar(filled, ax=ax, spacing="uniform", format="%.3g")
    bar.set_label("f (levels at quantiles of f over the range)")


def _colours(count: int) -> list[Any]:
    """Distinct colours: the default cycle up to 10 runs, tab20 up to 20, then a sampled turbo map."""
    import numpy
    from matplotlib import colormaps

    if count <= 10:
        return [f"C{i}" for i in range(count)]
    if count <= 20:
        return [colormaps["tab20"](i) for i in range(count)]
    return list(colormaps["turbo"](numpy.linspace(0.0, 1.0, count)))


def _draw_paths(ax: Any, paths: Mapping[str, Any]) -> None:
    colours = _colours(len(paths))
    for i, (label, path) in enumerate(paths.items()):
        colour = colours[i]
        spread = 2.4 if len(paths) <= 5 else 1.2
        width = 1.2 + spread * (len(paths) - 1 - i) / max(len(paths) - 1, 1)  # wide below, thin on top
        marker = "." if len(path) <= _MARKERS_UP_TO else None
        for member in range(path.shape[1]):
            line = path[:, member]
            ax.plot(line[:, 0], line[:, 1], color=colour, lw=width, marker=marker, ms=2 + width,
                    alpha=0.9, label=label if member == 0 else None)  # fmt: skip
            ax.plot(*line[0], "s", color=colour, mfc="white", ms=6)
            ax.plot(*line[-1], "o", color=colour, ms=5)


def _draw_critical_points(ax: Any, points: Sequence[tuple[tuple[float, ...], str]]) -> None:
    kinds = [*KIND_STYLES, *sorted({k for _, k in points} - set(KIND_STYLES))]
    for kind in kinds:
        marker, colour = KIND_STYLES.get(kind, KIND_STYLES["inconclusive"])
        chosen = [p for p, k in points if k == kind]
        if chosen:
            xs, ys = zip(*chosen, strict=True)
            ax.plot(xs, ys, marker, ls="none", ms=10, color=colour, mec="black", mew=0.8,
                    label=f"{kind} ({len(chosen)})", zorder=5)  # fmt: skip


# ---------------------------------------------------------------------------- one run


def plot_run(run: Any, path: str | os.PathLike[str], *, member: int | None = None) -> Path:
    """A run against the step: the loss, the gradient norm, and alpha beside the oracle's alpha.

    ``alpha_t`` is the step length the rule chose for step t; the oracle's ``alpha*_t``
    is the exact line search along the same direction (``Run.oracle_alphas``). An
    adaptive rule's ``alpha_{t+1}`` estimates ``alpha*_t``, so where the rule is exact
    (a quadratic, gamma = 1) the alpha curve is the oracle's shifted right by one step.
    Log scales where values are positive and span more than a decade; a dotted
    line marks where the run stopped.

    Args:
        run: a :class:`~taylorlr.Run`.
        path: the file to write.
        member: which batch member to draw (flat index); needed when the run holds more than one.

    Returns:
        The path written.

    Raises:
        OptionError: not a Run, a batch without ``member``, or the folder is missing.
        MissingDependencyError: matplotlib is not installed.

    >>> import pathlib, tempfile, taylorlr as tl
    >>> result = tl.run(tl.Loss("x**2 + 10*y**2"), [1.0, 1.0], rule="retsinas", steps=30)
    >>> plot_run(result, pathlib.Path(tempfile.mkdtemp()) / "run.png").name
    'run.png'
    """
    series = _member_series(run, member)
    target = _target(path)
    figure, axes = _figure(3, 1, size=(7.0, 7.6), sharex=True)
    loss_ax, grad_ax, alpha_ax = axes[:, 0]
    stop = series["stop"]
    steps = range(stop + 1)
    _curve(loss_ax, steps, series["losses"][: stop + 1], "f(theta_t)", "black")
    _curve(grad_ax, steps, series["grad_norms"][: stop + 1], "||grad f(theta_t)||", "tab:gray")
    _curve(alpha_ax, steps, series["alphas"][: stop + 1], f"alpha_t ({run.rule})", "tab:blue")
    _curve(alpha_ax, range(stop), series["oracle"][:stop], "line-search oracle alpha*_t", "tab:red", ls="--")
    _log_if_positive(loss_ax, series["losses"][: stop + 1])
    _log_if_positive(grad_ax, series["grad_norms"][: stop + 1])
    _log_if_positive(alpha_ax, [*series["alphas"][: stop + 1], *series["oracle"][:stop]])
    for ax in axes[:, 0]:
        ax.axvline(stop, color="black", ls=":", lw=1)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    loss_ax.set_title(f"{run.rule} rule on {run.optimizer}: {series['status']} at step {stop}")
    loss_ax.set_ylabel("loss")
    grad_ax.set_ylabel("gradient norm")
    alpha_ax.set(ylabel="alpha", xlabel="step t")
    alpha_ax.xaxis.get_major_locator().set_params(integer=True)
    return _save(figure, target)


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

    def pick(array: Any) -> Any:
        return array.reshape(array.shape[0], -1)[:, index]

    return {
        "losses": pick(run.losses),
        "grad_norms": pick(run.grad_norms),
        "alphas": pick(run.alphas),
        "oracle": pick(run.oracle_alphas) if len(run.oracle_alphas) else run.oracle_alphas,
        "status": run.status.reshape(-1)[index].value,
        "stop": int(run.stopped_at.reshape(-1)[index]),
    }


def _curve(ax: Any, steps: range, values: Any, label: str, colour: str, ls: str = "-") -> None:
    import numpy

    values = numpy.asarray(values, dtype=float)
    if not numpy.isfinite(values).any():
        label += " (not recorded)"
    marker = "." if len(values) <= _MARKERS_UP_TO else None
    ax.plot(list(steps), values, ls=ls, marker=marker, color=colour, label=label)
