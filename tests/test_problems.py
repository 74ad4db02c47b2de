"""tl.problems: every problem's published minimum, checked against its loss.

f(x*) is evaluated exactly with SymPy where x* and f* are exact; where x* is printed to d
digits the check is Taylor's bound: moving a minimiser by delta (half a unit in each printed
digit) changes f by at most about ||H|| ||delta||^2 and the gradient by ||H|| ||delta||.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
import sympy

import taylorlr as tl
from taylorlr.errors import OptionError
from taylorlr.symbolic.points import exact_number

PROBLEMS = tl.problems.all()
POINTS = [(p, k) for p in PROBLEMS for k in range(len(p.x_star))]


def _ids(item: tuple[tl.problems.Problem, int]) -> str:
    return f"{item[0].name}-{item[1]}"


def _printed(text: str) -> bool:
    """A coordinate or value printed to finitely many digits (a decimal), not an exact number."""
    return bool(re.fullmatch(r"-?[0-9]*\.[0-9]+(e-?[0-9]+)?", text))


def _half_unit(text: str) -> float:
    """Half a unit in the last printed digit of a decimal (0 for an exact number)."""
    if not _printed(text):
        return 0.0
    return 0.5 * 10.0 ** Decimal(text).as_tuple().exponent


def _unit(text: str) -> float:
    return 2 * _half_unit(text)


def _compiled(problem: tl.problems.Problem) -> Any:
    return problem.loss.compile("numpy", generator="xp")


def test_the_paper_has_35_problems_in_order() -> None:
    problems = tl.problems.mgh()
    assert [p.number for p in problems] == list(range(1, 36))
    assert len({p.name for p in PROBLEMS}) == len(PROBLEMS) == 35 + 8
    assert all("More, B. S. Garbow and K. E. Hillstrom" in p.citation for p in problems)


def test_zoo_shares_rosenbrock_and_beale_with_the_paper() -> None:
    names = [p.name for p in tl.problems.zoo()]
    assert names[:2] == ["rosenbrock", "beale"]
    assert {"himmelblau", "six_hump_camel", "goldstein_price", "branin", "mccormick"} <= set(names)


def test_get_by_name_number_and_size() -> None:
    assert tl.problems.get("MGH10").name == "meyer"
    assert tl.problems.get("Six-Hump Camel").name == "six_hump_camel"
    assert tl.problems.get("watson", n=9).f_star_text == "1.39976e-6"
    assert tl.problems.get("extended_rosenbrock", n=4).n == 4
    assert tl.problems.get("box_3d", m=12).m == 12


def test_a_large_size_builds_its_loss_past_the_parsers_text_limit() -> None:
    problem = tl.problems.get("watson", n=31)
    assert len(problem.expression) > 10_000  # the parser's limit for one text
    assert problem.loss.n == 31
    assert problem.loss.value_at(problem.x0) == 30  # 29 residuals -1 at x = 0, x1 = 0, x2 - 0 - 1 = -1
    rosenbrock = tl.problems.get("extended_rosenbrock", n=200)
    assert rosenbrock.loss.value_at(rosenbrock.x_star[0]) == 0


def test_an_unknown_name_suggests_the_nearest() -> None:
    with pytest.raises(OptionError, match="did you mean 'himmelblau'"):
        tl.problems.get("himelblau")


@pytest.mark.parametrize(
    ("name", "sizes", "message"),
    [
        ("wood", {"n": 5}, "fixed size"),
        ("watson", {"m": 5}, "takes only"),
        ("watson", {"n": 40}, "2 <= n <= 31"),
        ("extended_rosenbrock", {"n": 3}, "even"),
        ("extended_powell", {"n": 6}, "multiple of 4"),
        ("gulf", {"m": 101}, "3 <= m <= 100"),
        ("linear_full_rank", {"n": 5, "m": 4}, "n <= m"),
    ],
)
def test_a_size_out_of_range_is_an_option_error(name: str, sizes: dict[str, int], message: str) -> None:
    with pytest.raises(OptionError, match=message):
        tl.problems.get(name, **sizes)


def test_the_loss_is_the_sum_of_squared_residuals() -> None:
    p = tl.problems.get("beale")
    x1, x2 = sympy.symbols("x1 x2", real=True)
    by_hand = sum(
        (sympy.Rational(y) - x1 * (1 - x2**i)) ** 2 for i, y in ((1, "1.5"), (2, "2.25"), (3, "2.625"))
    )
    assert sympy.expand(p.loss.expr - by_hand.subs({x1: p.loss.variables[0], x2: p.loss.variables[1]})) == 0
    assert p.loss.value_at(p.x0) == sympy.Rational(14203125, 1000000)  # 14.203125 at (1, 1)


@pytest.mark.parametrize(
    ("name", "f_x0"),
    [
        ("rosenbrock", "24.2"),  # (10*(1 - 1.44))**2 + 2.2**2
        ("freudenstein_roth", "400.5"),  # 19.5**2 + (-4.5)**2
        ("beale", "14.203125"),  # 1.5**2 + 2.25**2 + 2.625**2 (x2 = 1)
        ("helical_valley", "2500"),  # theta(-1, 0) = 1/2: (10*(0 - 5))**2
        ("powell_singular", "215"),  # 49 + 5 + 1 + 160
        ("wood", "19192"),  # 10000 + 16 + 9000 + 16 + 160 + 0
        ("brown_badly_scaled", "999998000002.999996000004"),  # (1 - 10**6)**2 + (1 - 2e-6)**2 + 1
    ],
)
def test_f_at_the_standard_start_by_hand(name: str, f_x0: str) -> None:
    """f(x0) worked by hand from the paper's residuals (the paper prints no f(x0))."""
    problem = tl.problems.get(name)
    assert problem.loss.value_at(problem.x0) == sympy.Rational(f_x0)


@pytest.mark.parametrize("item", POINTS, ids=_ids)
def test_f_at_x_star_is_the_published_minimum(item: tuple[tl.problems.Problem, int]) -> None:
    problem, k = item
    point = problem.x_star[k]
    if not any(_printed(c) for c in point) and not _printed(problem.f_star_text):
        exact = problem.loss.value_at(point)
        assert abs(sympy.N(exact - exact_number(problem.f_star_text), 40)) < 1e-30
        return
    compiled = _compiled(problem)
    x = np.array(problem.minimizers[k])
    delta = np.array([_half_unit(c) for c in point])
    curvature = np.linalg.norm(compiled.hess(x), 2)
    tolerance = 4 * curvature * float(delta @ delta) + 1e-12 * max(1.0, abs(problem.f_star))
    assert abs(float(compiled.value(x)) - problem.f_star) <= tolerance


@pytest.mark.parametrize("item", POINTS, ids=_ids)
def test_the_gradient_vanishes_at_x_star(item: tuple[tl.problems.Problem, int]) -> None:
    problem, k = item
    compiled = _compiled(problem)
    x = np.array(problem.minimizers[k])
    delta = np.array([_half_unit(c) for c in problem.x_star[k]])
    curvature = np.linalg.norm(compiled.hess(x), 2)
    scale = max(1.0, float(np.abs(compiled.value(x))), curvature * float(np.abs(x).max(initial=1.0)))
    tolerance = 4 * curvature * float(np.linalg.norm(delta)) + 1e-9 * scale
    assert float(np.linalg.norm(compiled.grad(x))) <= tolerance


@pytest.mark.parametrize("problem", [p for p in PROBLEMS if _printed(p.f_star_text)], ids=lambda p: p.name)
def test_f_star_agrees_with_the_printed_digits(problem: tl.problems.Problem) -> None:
    """The float f* is within one unit of the last printed digit (the paper truncates some)."""
    assert abs(problem.f_star - float(problem.f_star_text)) < _unit(problem.f_star_text)


@pytest.mark.parametrize(
    ("name", "sizes", "computed", "rounded"),
    [
        ("meyer", {}, "87.94585517", "87.9459"),
        ("kowalik_osborne", {}, "3.075056038e-4", "3.07506e-4"),
        ("penalty1", {"n": 4}, "2.249977501e-5", "2.24998e-5"),
        ("penalty2", {"n": 10}, "2.936605375e-4", "2.93661e-4"),
    ],
)
def test_a_truncated_published_minimum_is_said_with_the_value_computed(
    name: str, sizes: dict[str, int], computed: str, rounded: str
) -> None:
    problem = tl.problems.get(name, **sizes)
    assert f"{computed} (which rounds to {rounded})" in problem.notes
    assert float(computed) == pytest.approx(problem.f_star, rel=1e-9)
    digits = len(Decimal(rounded).as_tuple().digits)
    assert f"{problem.f_star:.{digits - 1}e}" == f"{float(rounded):.{digits - 1}e}"
    assert f"{problem.f_star:.{digits - 1}e}" != f"{float(problem.f_star_text):.{digits - 1}e}"


def _least_squares_minimum(problem: tl.problems.Problem) -> float:
    """Levenberg-Marquardt on the residuals from the standard start (SciPy), to 1e-15."""
    from scipy.optimize import least_squares

    symbols = problem.loss.variables
    residuals = sympy.Matrix(
        [tl.parse(r).xreplace({sympy.Symbol(s.name): s for s in symbols}) for r in problem.residuals]
    )
    fun = sympy.lambdify([symbols], list(residuals), "numpy")
    jac = sympy.lambdify([symbols], residuals.jacobian(symbols), "numpy")
    result = least_squares(
        lambda x: np.asarray(fun(x), dtype=float),
        np.array(problem.x0),
        jac=lambda x: np.asarray(jac(x), dtype=float),
        method="lm",
        xtol=1e-15,
        ftol=1e-15,
        gtol=1e-15,
    )
    return float(result.fun @ result.fun)


@pytest.mark.parametrize(
    ("name", "sizes"),
    [
        ("watson", {"n": 9}),
        ("watson", {"n": 12}),
        ("penalty1", {"n": 10}),
        ("penalty2", {"n": 10}),
        ("chebyquad", {"n": 10}),
        ("chebyquad", {"n": 9}),
    ],
)
def test_the_other_published_sizes_reach_their_minimum(name: str, sizes: dict[str, int]) -> None:
    """The paper's f* at its other printed sizes, reached by Levenberg-Marquardt from x0."""
    problem = tl.problems.get(name, **sizes)
    reached = _least_squares_minimum(problem)
    assert abs(reached - float(problem.f_star_text)) < max(_unit(problem.f_star_text), 1e-20)
    assert reached == pytest.approx(problem.f_star, rel=1e-7, abs=1e-20)


def test_mccormick_published_minimum_is_rounded_wrongly() -> None:
    problem = tl.problems.get("mccormick")
    exact = problem.loss.value_at(problem.x_star[0])
    assert sympy.simplify(exact - (-sympy.sqrt(3) / 2 - sympy.pi / 3)) == 0
    assert "-1.913222954981037" in problem.notes
    assert f"{float(exact):.4f}" == "-1.9132" != "-1.9133"


def test_branin_published_minimum_is_five_over_four_pi() -> None:
    problem = tl.problems.get("branin")
    for point in problem.x_star:
        assert sympy.simplify(problem.loss.value_at(point) - 5 / (4 * sympy.pi)) == 0
    assert f"{problem.f_star:.6f}" == "0.397887"


def test_gulf_uses_the_minus_sign_the_paper_misprints() -> None:
    problem = tl.problems.get("gulf", m=10)
    assert "- x2" in problem.residuals[0] and "*m*" not in problem.residuals[0]
    assert abs(sympy.N(problem.loss.value_at(("50", "25", "3/2")), 30)) < 1e-25


def test_helical_valley_angle_matches_the_paper_where_defined() -> None:
    problem = tl.problems.get("helical_valley")
    x1, x2 = sympy.symbols("x1 x2", real=True)
    residual = sympy.sympify(problem.residuals[0].replace("x3", "0"), locals={"x1": x1, "x2": x2})
    for a, b in ((1, 2), (-1, 2), (-1, -2), (2, -1), (-3, "1/5")):
        a, b = sympy.S(a), sympy.S(b)
        theta = sympy.atan(b / a) / (2 * sympy.pi) + (sympy.S.Half if a < 0 else 0)
        assert abs(sympy.N(residual.subs({x1: a, x2: b}) + 100 * theta, 30)) < 1e-25


def test_a_problem_runs_with_tl_run() -> None:
    problem = tl.problems.get("rosenbrock")
    run = tl.run(problem.loss, problem.at(problem.x0), steps=3)
    assert float(np.asarray(run.losses).ravel()[0]) == pytest.approx(24.2)  # (10*0.44)**2 + 2.2**2
