"""Figures: Figure objects that hold what they should, valid non-trivial PNGs when written, and clear
errors otherwise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import taylorlr as tl
from taylorlr.analysis.onestep import one_step_demo

pytest.importorskip("matplotlib")
from matplotlib.image import imread

from taylorlr.report import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HIMMELBLAU = "(x**2 + y - 11)**2 + (x + y**2 - 7)**2"
RULES = ("exact", "retsinas", "value-gradient", "three-point")
# RGB of the markers (matplotlib's tab colours)
TAB_GREEN, TAB_RED, TAB_ORANGE = (0.173, 0.627, 0.173), (0.839, 0.153, 0.157), (1.0, 0.498, 0.055)


def pixels(figure: Any, path: Path) -> np.ndarray:
    """The decoded image (height, width, 3) written to ``path``, after checking that the function
    returned a Figure and that the file is a real, non-trivial PNG."""
    from matplotlib.figure import Figure

    assert isinstance(figure, Figure)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)[..., :3]
    height, width, _ = image.shape
    assert height >= 300 and width >= 500
    colours = np.unique((image.reshape(-1, 3) * 255).round().astype(np.uint8), axis=0)
    assert len(colours) >= 16  # antialiased lines and fills
    ink = np.any(image < 0.9, axis=-1).mean()  # share of pixels that are not (near) white
    assert 0.02 < ink < 0.98
    return image


def share_of(image: np.ndarray, rgb: tuple[float, float, float], tolerance: float = 0.06) -> float:
    return float(np.all(np.abs(image - np.asarray(rgb)) <= tolerance, axis=-1).mean())


@pytest.fixture(scope="module")
def himmelblau() -> tl.Loss:
    return tl.Loss(HIMMELBLAU)


@pytest.fixture(scope="module")
def himmelblau_runs(himmelblau: tl.Loss) -> dict[str, tl.Run]:
    return {rule: tl.run(himmelblau, [0.5, 0.5], "gd", rule, alpha0=1e-3, steps=100) for rule in RULES}


def test_importing_plots_loads_no_matplotlib_and_drawing_leaves_pyplot_alone(tmp_path: Path) -> None:
    code = (
        "import sys, taylorlr.report.plots as p\n"
        "assert 'matplotlib' not in sys.modules\n"
        "from taylorlr.analysis.onestep import one_step_demo\n"
        f"p.plot_onestep(one_step_demo(), {str(tmp_path / 'a.png')!r})\n"
        "assert 'matplotlib' in sys.modules and 'matplotlib.pyplot' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_onestep_panels_show_the_curve_the_step_and_the_extremum(tmp_path: Path) -> None:
    single = plots.plot_onestep(one_step_demo(), tmp_path / "one.png")
    pair = plots.plot_onestep([one_step_demo(), one_step_demo(d="0.1")], tmp_path / "pair.png")
    assert len(single.axes) == 1 and len(pair.axes) == 2
    one, two = pixels(single, tmp_path / "one.png"), pixels(pair, tmp_path / "pair.png")
    assert two.shape[1] > 1.8 * one.shape[1]  # two panels side by side
    assert share_of(one, TAB_RED) > 0  # the true extremum's star


def test_contour_marks_every_kind_of_critical_point_and_draws_each_run(
    tmp_path: Path, himmelblau: tl.Loss, himmelblau_runs: dict[str, tl.Run]
) -> None:
    out = plots.plot_contour(himmelblau, tmp_path / "c.png", himmelblau.critical_points(), himmelblau_runs)
    image = pixels(out, tmp_path / "c.png")
    for colour in (TAB_GREEN, TAB_RED, TAB_ORANGE):  # minima, the maximum, saddles
        assert share_of(image, colour) > 1e-4


def test_contour_without_extras_and_from_text(tmp_path: Path) -> None:
    pixels(plots.plot_contour("x**2 + 3*x*y**2", tmp_path / "bare.png"), tmp_path / "bare.png")


def test_contour_takes_arrays_batches_and_plain_sequences_of_runs(
    tmp_path: Path, himmelblau: tl.Loss, himmelblau_runs: dict[str, tl.Run]
) -> None:
    batch = tl.run(himmelblau, np.array([[0.5, 0.5], [-1.0, 1.0], [1.0, -3.0]]), "gd", "retsinas", steps=50)
    runs = {"array": himmelblau_runs["exact"].points, "batch": batch}
    pixels(plots.plot_contour(himmelblau, tmp_path / "a.png", runs=runs), tmp_path / "a.png")
    pixels(
        plots.plot_contour(himmelblau, tmp_path / "s.png", runs=list(himmelblau_runs.values())),
        tmp_path / "s.png",
    )


def test_automatic_range_holds_critical_points_and_starts_but_not_far_off_divergence() -> None:
    critical = [(3.0, 2.0), (-3.78, -3.28)]
    path = np.array([[0.5, 0.5], [1.0, 1.0], [1e6, -1e6]])[:, None, :]
    (x_low, x_high), (y_low, y_high) = plots._auto_bounds(critical, [path])
    assert x_low < -3.78 and x_high > 3.0 and y_low < -3.28 and y_high > 2.0
    assert x_high < 100 and y_low > -100
    lone = plots._auto_bounds([(0.0, 0.0)], [])
    assert all(high - low >= 1.5 for low, high in lone)


def test_bounds_override_the_automatic_range(tmp_path: Path, himmelblau: tl.Loss) -> None:
    figure = plots.plot_contour(himmelblau, tmp_path / "b.png", bounds=((2.5, 3.5), (1.5, 2.5)))
    pixels(figure, tmp_path / "b.png")
    (axes,) = figure.axes[:1]
    assert axes.get_xlim() == pytest.approx((2.5, 3.5))
    assert axes.get_ylim() == pytest.approx((1.5, 2.5))


def test_run_figure_shows_loss_and_alpha_beside_the_oracle(tmp_path: Path, himmelblau_runs) -> None:
    image = pixels(plots.plot_run(himmelblau_runs["retsinas"], tmp_path / "run.png"), tmp_path / "run.png")
    assert image.shape[0] > image.shape[1]  # three panels stacked
    assert share_of(image, TAB_RED) > 1e-4  # the oracle's dashed curve


def test_run_figure_picks_one_member_of_a_batch(tmp_path: Path) -> None:
    loss = tl.Loss("x**2 + 10*y**2")
    batch = tl.run(loss, np.ones((3, 2)), rule="exact", alpha0=[0.01, 0.02, 0.05], steps=20)
    with pytest.raises(tl.OptionError, match="member="):
        plots.plot_run(batch, tmp_path / "x.png")
    with pytest.raises(tl.OptionError, match="member must be"):
        plots.plot_run(batch, tmp_path / "x.png", member=3)
    pixels(plots.plot_run(batch, tmp_path / "m.png", member=2), tmp_path / "m.png")


def test_other_formats_follow_the_suffix(tmp_path: Path) -> None:
    plots.plot_onestep(one_step_demo(d="0.1"), tmp_path / "demo.svg")
    assert b"<svg" in (tmp_path / "demo.svg").read_bytes()[:2000]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: plots.plot_contour("x**2", d / "a.png"), "2 or more variables"),
        (lambda d: plots.plot_contour("x*y*z", d / "a.png", variables=("x", "w")), "two different names"),
        (lambda d: plots.plot_contour("x*y*z", d / "a.png", variables=("x", "x")), "two different names"),
        (
            lambda d: plots.plot_contour(tl.Loss("(w*a - b)**2 + v**2", data=("a", "b")), d / "a.png"),
            "data symbols",
        ),
        (lambda d: plots.plot_contour("x*y", d / "a.png", runs={"r": np.zeros((3, 3))}), "shape"),
        (lambda d: plots.plot_contour("x*y", d / "missing" / "a.png"), "does not exist"),
        (lambda d: plots.plot_run(np.zeros(3), d / "a.png"), "tl.Run"),
        (lambda d: plots.plot_onestep("f", d / "a.png"), "OneStepDemo"),
        (lambda d: plots.plot_onestep([], d / "a.png"), "OneStepDemo"),
    ],
)
def test_bad_input_is_an_option_error(tmp_path: Path, call, message: str) -> None:
    with pytest.raises(tl.OptionError, match=message):
        call(tmp_path)


def test_missing_matplotlib_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import now raises ImportError
    with pytest.raises(tl.MissingDependencyError, match=r"pip install 'taylorlr\[plot\]'") as caught:
        plots.plot_onestep(one_step_demo(), tmp_path / "a.png")
    assert isinstance(caught.value, ImportError)
    assert not (tmp_path / "a.png").exists()


def test_any_object_with_point_and_kind_is_marked(tmp_path: Path) -> None:
    marks = [SimpleNamespace(point=(0, 0), kind="inconclusive"), SimpleNamespace(point=(1, 1), kind="other")]
    image = pixels(
        plots.plot_contour("x**4 + y**4", tmp_path / "k.png", critical_points=marks), tmp_path / "k.png"
    )
    assert share_of(image, (0.498, 0.498, 0.498)) > 1e-4  # tab:gray


def test_a_png_palette_never_moves_a_colour_by_more_than_the_bound(
    tmp_path: Path, himmelblau, himmelblau_runs
):
    import io

    for k, figure in enumerate(
        [plots.plot_contour(himmelblau, None, himmelblau.critical_points(), himmelblau_runs),
         plots.plot_onestep(one_step_demo())]
    ):  # fmt: skip
        raw = io.BytesIO()
        figure.savefig(raw, format="png", dpi=plots.DPI)
        raw.seek(0)
        written = plots.save(figure, tmp_path / f"{k}.png")
        exact = (imread(raw)[..., :3] * 255).round()
        shown = (imread(written)[..., :3] * 255).round()
        assert np.abs(shown - exact).max() <= plots.PALETTE_ERROR
