"""The classic 2-D zoo, with every global minimiser where there are finitely many.

Rosenbrock and Beale are the More-Garbow-Hillstrom problems 1 and 5
(:mod:`taylorlr.problems._mgh`); the zoo's own are here. No paper fixes a start for
these, so ``x0`` is a conventional one (said in each record's notes).

>>> from taylorlr.problems import _zoo as zoo
>>> zoo.branin().x_star
(('-pi', '491/40'), ('pi', '91/40'), ('3*pi', '99/40'))
"""

from __future__ import annotations

from collections.abc import Callable

from taylorlr.problems._record import Problem, sum_of_squares

_SURJANOVIC = "S. Surjanovic and D. Bingham, Virtual Library of Simulation Experiments (sfu.ca/~ssurjano)"
_JAMIL_YANG = (
    "M. Jamil and X.-S. Yang, A literature survey of benchmark functions for global optimisation "
    "problems, Int. J. Math. Model. Numer. Optim. 4(2) (2013) 150-194, arXiv:1308.4008"
)
_START = "x0 is a conventional start (no standard one is published)."


def _problem(
    *,
    name: str,
    title: str,
    expression: str = "",
    residuals: tuple[str, ...] = (),
    x0: tuple[float, float],
    f_star: float,
    f_star_text: str,
    x_star: tuple[tuple[str, ...], ...],
    citation: str,
    notes: str = "",
) -> Problem:
    return Problem(
        name=name,
        title=title,
        expression=expression or sum_of_squares(residuals),
        residuals=residuals,
        variables=("x", "y"),
        x0=x0,
        f_star=f_star,
        f_star_text=f_star_text,
        x_star=x_star,
        n=2,
        m=len(residuals) if residuals else None,
        citation=citation,
        notes=f"{notes} {_START}".strip(),
    )


def himmelblau() -> Problem:
    """Himmelblau: (x^2 + y - 11)^2 + (x + y^2 - 7)^2, four global minima f = 0.

    >>> p = himmelblau()
    >>> p
    Problem('himmelblau', n=2, m=2, f*=0)
    >>> p.loss.value_at(p.x_star[0])  # (3, 2) is exact; the other three are printed to six decimals
    0
    """
    return _problem(
        name="himmelblau",
        title="Himmelblau",
        residuals=("x**2 + y - 11", "x + y**2 - 7"),
        x0=(0.0, 0.0),
        f_star=0.0,
        f_star_text="0",
        x_star=(("3", "2"), ("-2.805118", "3.131312"), ("-3.779310", "-3.283186"), ("3.584428", "-1.848126")),
        citation="D. M. Himmelblau, Applied Nonlinear Programming, McGraw-Hill, 1972",
        notes="Three minimisers are published to six decimals; (3, 2) is exact.",
    )


def booth() -> Problem:
    """Booth: (x + 2y - 7)^2 + (2x + y - 5)^2, minimum f = 0 at (1, 3).

    >>> p = booth()
    >>> p
    Problem('booth', n=2, m=2, f*=0)
    >>> p.loss.value_at(p.x_star[0])
    0
    """
    return _problem(
        name="booth",
        title="Booth",
        residuals=("x + 2*y - 7", "2*x + y - 5"),
        x0=(0.0, 0.0),
        f_star=0.0,
        f_star_text="0",
        x_star=(("1", "3"),),
        citation=_JAMIL_YANG,
    )


def matyas() -> Problem:
    """Matyas: 0.26 (x^2 + y^2) - 0.48 x y, minimum f = 0 at (0, 0).

    >>> p = matyas()
    >>> p
    Problem('matyas', n=2, f*=0)
    >>> p.loss.value_at(p.x_star[0])
    0
    """
    return _problem(
        name="matyas",
        title="Matyas",
        expression="0.26*(x**2 + y**2) - 0.48*x*y",
        x0=(1.0, -2.0),
        f_star=0.0,
        f_star_text="0",
        x_star=(("0", "0"),),
        citation=_JAMIL_YANG,
    )


def three_hump_camel() -> Problem:
    """Three-hump camel: 2x^2 - 1.05x^4 + x^6/6 + xy + y^2, minimum f = 0 at (0, 0).

    >>> p = three_hump_camel()
    >>> p
    Problem('three_hump_camel', n=2, f*=0)
    >>> p.loss.value_at(p.x_star[0])
    0
    """
    return _problem(
        name="three_hump_camel",
        title="Three-hump camel",
        expression="2*x**2 - 1.05*x**4 + x**6/6 + x*y + y**2",
        x0=(1.0, 1.0),
        f_star=0.0,
        f_star_text="0",
        x_star=(("0", "0"),),
        citation=_JAMIL_YANG,
        notes="Two further local minima at about (+-1.7476, -+0.8738).",
    )


def six_hump_camel() -> Problem:
    """Six-hump camel: (4 - 2.1x^2 + x^4/3) x^2 + xy + (-4 + 4y^2) y^2, two global minima.

    >>> p = six_hump_camel()
    >>> p
    Problem('six_hump_camel', n=2, f*=-1.0316)
    >>> f"{float(p.loss.value_at(p.x_star[0])):.4g}"  # published f* = -1.0316
    '-1.032'
    """
    return _problem(
        name="six_hump_camel",
        title="Six-hump camel",
        expression="(4 - 2.1*x**2 + x**4/3)*x**2 + x*y + (-4 + 4*y**2)*y**2",
        x0=(0.5, 0.5),
        f_star=-1.031628453489877,
        f_star_text="-1.0316",
        x_star=(("0.0898", "-0.7126"), ("-0.0898", "0.7126")),
        citation=_SURJANOVIC,
        notes="f* = -1.0316 is printed to four decimals; taylorlr computes -1.031628453489877.",
    )


def goldstein_price() -> Problem:
    """Goldstein-Price: minimum f = 3 at (0, -1).

    >>> p = goldstein_price()
    >>> p
    Problem('goldstein_price', n=2, f*=3)
    >>> p.loss.value_at(p.x_star[0])
    3
    """
    first = "(1 + (x + y + 1)**2*(19 - 14*x + 3*x**2 - 14*y + 6*x*y + 3*y**2))"
    second = "(30 + (2*x - 3*y)**2*(18 - 32*x + 12*x**2 + 48*y - 36*x*y + 27*y**2))"
    return _problem(
        name="goldstein_price",
        title="Goldstein-Price",
        expression=f"{first}*{second}",
        x0=(0.5, -0.5),
        f_star=3.0,
        f_star_text="3",
        x_star=(("0", "-1"),),
        citation=(
            "A. A. Goldstein and J. F. Price, On descent from local minima, Math. Comp. 25 (1971) 569-574"
        ),
        notes="Local minima at (-0.6, -0.4), (1.8, 0.2), (1.2, 0.8) with f = 30, 84, 840.",
    )


def branin() -> Problem:
    """Branin(-Hoo): three global minima f = 5/(4 pi) (published 0.397887).

    >>> p = branin()
    >>> p
    Problem('branin', n=2, f*=5/(4*pi))
    >>> p.loss.value_at(p.x_star[0])
    5/(4*pi)
    """
    return _problem(
        name="branin",
        title="Branin-Hoo",
        expression="(y - 5.1/(4*pi**2)*x**2 + 5/pi*x - 6)**2 + 10*(1 - 1/(8*pi))*cos(x) + 10",
        x0=(0.0, 0.0),
        f_star=0.3978873577297384,
        f_star_text="5/(4*pi)",
        x_star=(("-pi", "491/40"), ("pi", "91/40"), ("3*pi", "99/40")),
        citation=(
            "F. H. Branin, Widely convergent method for finding multiple solutions of simultaneous "
            "nonlinear equations, IBM J. Res. Dev. 16 (1972) 504-522; " + _SURJANOVIC
        ),
        notes=(
            "Published as f* = 0.397887 at (-pi, 12.275), (pi, 2.275), (9.42478, 2.475); exactly "
            "f* = 5/(4 pi) at (-pi, 491/40), (pi, 91/40), (3 pi, 99/40). The function is periodic-"
            "plus-quadratic: with no box these three are the minimisers for x in [-5, 10]; others "
            "repeat them at x = (2k+1) pi with the same f*."
        ),
    )


def mccormick() -> Problem:
    """McCormick: sin(x + y) + (x - y)^2 - 1.5x + 2.5y + 1 (the box's minimum, a local one here).

    >>> p = mccormick()
    >>> p
    Problem('mccormick', n=2, f*=-sqrt(3)/2 - pi/3)
    >>> p.loss.value_at(p.x_star[0])
    -pi/3 - sqrt(3)/2
    """
    return _problem(
        name="mccormick",
        title="McCormick",
        expression="sin(x + y) + (x - y)**2 - 1.5*x + 2.5*y + 1",
        x0=(0.0, 0.0),
        f_star=-1.913222954981037,
        f_star_text="-sqrt(3)/2 - pi/3",
        x_star=(("1/2 - pi/3", "-1/2 - pi/3"),),
        citation=_JAMIL_YANG,
        notes=(
            "Published as f* = -1.9133 at (-0.54719, -1.54719) on the box [-1.5, 4] x [-3, 4]. "
            "Exactly x* = (1/2 - pi/3, -1/2 - pi/3) and f* = -sqrt(3)/2 - pi/3 = "
            "-1.913222954981037, which rounds to -1.9132, not -1.9133. Without the box f is "
            "unbounded below (f = sin(s) + s/2 along x - y = 1, s = x + y): x* is a local "
            "minimum only."
        ),
    )


BUILDERS: tuple[Callable[[], Problem], ...] = (
    himmelblau,
    booth,
    matyas,
    three_hump_camel,
    six_hump_camel,
    goldstein_price,
    branin,
    mccormick,
)
"""The zoo's own builders (Rosenbrock and Beale come from :mod:`taylorlr.problems._mgh`)."""
