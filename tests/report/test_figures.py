"""Figures as objects: what each Figure holds (axes labels, lines, titles, legends), in 1-D, 2-D, n-D,
for a comparison of 21 runs, and for names with a ``$``; the CLI's --plot in every dimension."""

from __future__ import annotations

import io

import numpy as np
import pytest
import sympy
from click.testing import CliRunner

import taylorlr as tl
from taylorlr.cli import cli

pytest.importorskip("matplotlib")
from taylorlr.report import plots


def labels(ax) -> list[str]:
    return [line.get_label() for line in ax.lines if not line.get_label().startswith("_")]


def test_one_d_shows_f_the_taylor_models_and_the_newton_step():
    loss = tl.Loss("x**4 - 2*x**2")
    ax = plots.plot_loss(loss, at=[2], critical_points=loss.critical_points()).axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "f(x)")
    shown = labels(ax)
    assert [s for s in shown if s.startswith("Taylor")] == [
        f"Taylor model of order {k} at x = 2" for k in (1, 2, 3)
    ]
    # Newton from 2: w1 = 2 - f'(2)/f''(2) = 2 - 24/44 = 16/11
    step = next(line for line in ax.lines if line.get_label().startswith("Newton step"))
    assert step.get_xdata()[0] == pytest.approx(16 / 11)
    assert "Newton step: x1 = 1.455" in shown
    # each model is the exact Taylor polynomial: order 2 at 2 is 8 + 24 (x - 2) + 22 (x - 2)^2
    model = next(line for line in ax.lines if line.get_label() == "Taylor model of order 2 at x = 2")
    xs, ys = (np.asarray(v, dtype=float) for v in model.get_data())
    assert np.allclose(ys, 8 + 24 * (xs - 2) + 22 * (xs - 2) ** 2)
    assert "minimum (2)" in shown and "maximum (1)" in shown


def test_two_d_labels_axes_by_name_and_draws_the_step():
    loss = tl.Loss("(x - 1)**2 + 4*y**2")
    figure = plots.plot_loss(loss, at={"x": 0, "y": 1}, critical_points=loss.critical_points())
    ax = figure.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")
    assert ax.get_title() == "f = 4*y**2 + (x - 1)**2"
    texts = [t.get_text() for t in figure.legends[0].get_texts()]
    assert "Newton step (heads for a minimum)" in texts and "minimum (1)" in texts
    end = next(line for line in ax.lines if line.get_label().startswith("Newton"))
    assert (end.get_xdata()[0], end.get_ydata()[0]) == pytest.approx((1.0, 0.0))  # exact on a quadratic
    assert figure.axes[1].get_ylabel().startswith("f(x, y)")  # the colour bar


def test_n_d_slice_says_which_and_holds_the_others_at_the_point():
    loss = tl.Loss("(x - 1)**2 + (y - 2)**2 + (z - 3)**2")
    ax = plots.plot_contour(loss, None, loss.critical_points(), variables=("x", "z"), at=[0, 2, 0]).axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "z")
    assert ax.get_title().splitlines()[1] == "slice through x, z at y = 2"
    minimum = next(line for line in ax.lines if line.get_label() == "minimum (1)")
    assert (minimum.get_xdata()[0], minimum.get_ydata()[0]) == (1.0, 3.0)  # (1, 2, 3) lies on the slice
    off = plots.plot_contour(loss, None, loss.critical_points(), variables=("x", "z"), at=[0, 0, 0]).axes[0]
    assert "1 critical point(s) off the plane not shown" in off.get_title()


def test_n_d_with_runs_uses_the_plane_of_the_paths_and_says_so():
    loss = tl.Loss("x**2 + 2*y**2 + 3*z**2 + 4*w**2")
    runs = {"exact": tl.run(loss, [1.0, 1.0, 1.0, 1.0], rule="exact", steps=30)}
    figure = plots.plot_contour(loss, None, loss.critical_points(), runs)
    ax = figure.axes[0]
    assert "the plane of the paths' two principal directions, through a minimum" in ax.get_title()
    assert ax.get_xlabel().startswith("direction 1: ") and ax.get_ylabel().startswith("direction 2: ")
    plane = plots.plane_of(loss, paths=[runs["exact"].points[:, None, :]], minimum=np.zeros(4))
    assert np.allclose(plane.basis.T @ plane.basis, np.eye(2))
    # the path lies in the span of its two principal directions only if it is planar: here it is
    # not, so the projection is said on the figure; the minimum (the origin) is on the plane
    assert plane.distance(np.zeros(4)) == pytest.approx(0.0)


def test_a_comparison_of_21_runs_draws_the_best_in_colour_and_one_entry_for_the_rest():
    loss = tl.Loss("(x - 1)**2 + 4*y**2")
    table = tl.compare(loss, [0.0, 1.0], steps=30)
    assert len(table.rows) == 21
    figure = plots.plot_comparison(loss, table, critical_points=loss.critical_points(), best=4)
    land, gaps = figure.axes[:2]
    texts = [t.get_text() for t in figure.legends[0].get_texts()]
    ranked = [f"#{k} {r.rule}, {r.optimizer} ({r.standing.value})" for k, r in enumerate(table.rows[:4], 1)]
    assert [t for t in texts if t.startswith("#")] == ranked
    assert "the other 17 runs" in texts and "minimum (1)" in texts
    faint = [line for line in gaps.lines if line.get_alpha() == plots._FAINT["alpha"]]
    assert len(faint) == 17 and len(gaps.lines) == 21
    assert (land.get_xlabel(), land.get_ylabel(), gaps.get_xlabel()) == ("x", "y", "step t")
    # the legend sits outside both axes, to their right
    figure.draw_without_rendering()
    legend = figure.legends[0].get_window_extent()
    assert legend.x0 >= gaps.get_window_extent().x1


def test_names_with_a_dollar_are_shown_as_written():
    p, q = sympy.symbols("p$q r$s", real=True)
    loss = tl.Loss((p - 1) ** 2 + q**2)
    figure = plots.plot_loss(loss, at=[0, 1], critical_points=loss.critical_points())
    figure.savefig(io.BytesIO(), format="png")  # mathtext would fail on "$q r$"
    ax = figure.axes[0]
    assert ax.get_xlabel() == r"p\$q" and ax.get_ylabel() == r"r\$s"
    one = tl.Loss(p**2 - p)
    plots.plot_loss(one, at=[1]).savefig(io.BytesIO(), format="svg")


@pytest.mark.parametrize(
    ("expression", "at"), [("x**4 - 2*x**2", "x=2"), ("x**2 + y**2 + (z - 1)**2", "x=1,y=1,z=0")]
)
def test_solve_plot_works_in_1_d_and_3_d(tmp_path, expression, at):
    target = tmp_path / "f.png"
    result = CliRunner().invoke(cli, ["solve", expression, "--at", at, "--plot", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:4] == b"\x89PNG" and "plot written to" in result.stderr


def test_bad_plot_arguments_are_option_errors():
    loss = tl.Loss("x**2 + y**2")
    table = tl.compare(loss, [1.0, 1.0], rules=("exact",), optimizers=("gd",), steps=3)
    with pytest.raises(tl.OptionError, match="best must be at least 1"):
        plots.plot_comparison(loss, table, best=0)
    with pytest.raises(tl.OptionError, match=r"tl\.compare result"):
        plots.plot_comparison(loss, [1, 2])
    with pytest.raises(tl.OptionError, match="data symbols"):
        plots.plot_loss(tl.Loss("(w*a)**2", variables=["w"], data=["a"]))


def test_an_n_d_newton_step_that_leaves_the_slice_says_its_end_is_projected():
    # from (1, 1, 0) the Newton step of this quadratic lands on its minimum (-2/3, 0, 4/3), off z = 0
    figure = plots.plot_loss(tl.Loss("x**2 + y**2 + (z - 1)**2 + x*z"), at=[1, 1, 0])
    texts = [t.get_text() for t in figure.legends[0].get_texts()]
    assert "Newton step (heads for a minimum, its end projected onto the plane)" in texts
    end = next(line for line in figure.axes[0].lines if line.get_label().startswith("Newton"))
    assert (end.get_xdata()[0], end.get_ydata()[0]) == pytest.approx((-2 / 3, 0.0))


def test_one_d_comparison_paths_share_the_colours_of_the_gap_panel():
    loss = tl.Loss("x**4 - 2*x**2 + x/2")
    table = tl.compare(loss, [2.0], rules=("exact", "retsinas", "fixed"), optimizers=("gd",), steps=20)
    land, gaps = plots.plot_comparison(loss, table, best=2).axes[:2]
    colour = {line.get_label(): line.get_color() for line in gaps.lines if line.get_label().startswith("#")}
    for line in land.lines:
        if line.get_label() in colour:
            assert line.get_color() == colour[line.get_label()]
    assert len(colour) == 2
