"""The 35 problems of More, Garbow and Hillstrom (ACM TOMS 7(1), 1981), as least-squares losses.

Each builder returns a :class:`~taylorlr.problems.Problem` with f = sum f_i**2 over the paper's
residuals f_i, its data tables as printed, its standard start and its published minimum. The
scalable problems take their dimension parameters (``n``, ``m``); the published f* is attached
where the paper gives it for that size (else ``f_star`` is nan and ``f_star_text`` says so).

>>> from taylorlr.problems import _mgh as mgh
>>> p = mgh.meyer()
>>> p.number, p.n, p.m, p.f_star_text
(10, 3, 16, '87.9458')
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from taylorlr.errors import OptionError
from taylorlr.problems._record import Problem, sum_of_squares

_UNKNOWN = "not published for this size"


def _x(j: int) -> str:
    return f"x{j}"


def _names(n: int) -> tuple[str, ...]:
    return tuple(_x(j) for j in range(1, n + 1))


def _q(value: Fraction | int) -> str:
    """An exact rational as loss text."""
    value = Fraction(value)
    text = str(value)
    return f"({text})" if value.denominator != 1 or value < 0 else text


def _least_squares(
    *,
    number: int,
    name: str,
    title: str,
    residuals: list[str],
    x0: tuple[float, ...],
    f_star: str,
    x_star: tuple[tuple[str, ...], ...] = (),
    notes: str = "",
    value: float | None = None,
) -> Problem:
    n = len(x0)
    if value is None:
        value = float("nan") if f_star == _UNKNOWN else _float_of(f_star)
    return Problem(
        name=name,
        title=title,
        number=number,
        expression=sum_of_squares(tuple(residuals)),
        residuals=tuple(residuals),
        variables=_names(n),
        x0=tuple(float(v) for v in x0),
        f_star=value,
        f_star_text=f_star,
        x_star=x_star,
        n=n,
        m=len(residuals),
        notes=notes,
    )


def _float_of(text: str) -> float:
    from taylorlr.symbolic.points import exact_number

    return float(exact_number(text))


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise OptionError(message)


# ---------------------------------------------------------------- fixed size: problems 1-19


def rosenbrock() -> Problem:
    """1. Rosenbrock: f1 = 10 (x2 - x1^2), f2 = 1 - x1.

    >>> p = rosenbrock()
    >>> p
    Problem('rosenbrock' #1, n=2, m=2, f*=0)
    >>> p.loss.value_at(p.x_star[0])
    0
    """
    return _least_squares(
        number=1,
        name="rosenbrock",
        title="Rosenbrock",
        residuals=["10*(x2 - x1**2)", "1 - x1"],
        x0=(-1.2, 1.0),
        f_star="0",
        x_star=(("1", "1"),),
    )


def freudenstein_roth() -> Problem:
    """2. Freudenstein and Roth.

    >>> p = freudenstein_roth()
    >>> p
    Problem('freudenstein_roth' #2, n=2, m=2, f*=0)
    >>> p.loss.value_at(p.x_star[0])
    0
    """
    return _least_squares(
        number=2,
        name="freudenstein_roth",
        title="Freudenstein and Roth",
        residuals=["-13 + x1 + ((5 - x2)*x2 - 2)*x2", "-29 + x1 + ((x2 + 1)*x2 - 14)*x2"],
        x0=(0.5, -2.0),
        f_star="0",
        x_star=(("5", "4"),),
        notes="A local minimum f = 48.9842 at (11.41..., -0.8968...) (published).",
    )


def powell_badly_scaled() -> Problem:
    """3. Powell badly scaled.

    >>> p = powell_badly_scaled()
    >>> p
    Problem('powell_badly_scaled' #3, n=2, m=2, f*=0)
    >>> f"{float(p.loss.value_at(p.x_star[0])):.1e}"  # x_star is printed to a few digits
    '2.6e-08'
    """
    return _least_squares(
        number=3,
        name="powell_badly_scaled",
        title="Powell badly scaled",
        residuals=["10000*x1*x2 - 1", "exp(-x1) + exp(-x2) - 1.0001"],
        x0=(0.0, 1.0),
        f_star="0",
        x_star=(("1.098e-5", "9.106"),),
        notes="x* is published to four digits: (1.098...e-5, 9.106...).",
    )


def brown_badly_scaled() -> Problem:
    """4. Brown badly scaled.

    >>> p = brown_badly_scaled()
    >>> p
    Problem('brown_badly_scaled' #4, n=2, m=3, f*=0)
    >>> p.loss.value_at(p.x_star[0])
    0
    """
    return _least_squares(
        number=4,
        name="brown_badly_scaled",
        title="Brown badly scaled",
        residuals=["x1 - 1000000", "x2 - 2/1000000", "x1*x2 - 2"],
        x0=(1.0, 1.0),
        f_star="0",
        x_star=(("1000000", "2/1000000"),),
    )


def beale() -> Problem:
    """5. Beale: f_i = y_i - x1 (1 - x2^i), y = (1.5, 2.25, 2.625).

    >>> p = beale()
    >>> p
    Problem('beale' #5, n=2, m=3, f*=0)
    >>> p.loss.value_at(p.x_star[0])
    0
    """
    y = ("1.5", "2.25", "2.625")
    return _least_squares(
        number=5,
        name="beale",
        title="Beale",
        residuals=[f"{yi} - x1*(1 - x2**{i})" for i, yi in enumerate(y, 1)],
        x0=(1.0, 1.0),
        f_star="0",
        x_star=(("3", "1/2"),),
    )


def jennrich_sampson(m: int = 10) -> Problem:
    """6. Jennrich and Sampson: f_i = 2 + 2i - (exp(i x1) + exp(i x2)), m >= 2.

    >>> p = jennrich_sampson()
    >>> p
    Problem('jennrich_sampson' #6, n=2, m=10, f*=124.362)
    >>> f"{float(p.loss.value_at(p.x_star[0])):.5g}"  # published f* = 124.362
    '124.36'
    """
    _require(m >= 2, f"Jennrich and Sampson needs m >= 2, got m={m}")
    published = m == 10
    return _least_squares(
        number=6,
        name="jennrich_sampson",
        title="Jennrich and Sampson",
        residuals=[f"{2 + 2 * i} - (exp({i}*x1) + exp({i}*x2))" for i in range(1, m + 1)],
        x0=(0.3, 0.4),
        f_star="124.362" if published else _UNKNOWN,
        value=124.36218235561486 if published else None,
        x_star=(("0.2578", "0.2578"),) if published else (),
        notes="f* and x* = (0.2578, 0.2578) are published for m = 10." if published else "",
    )


def helical_valley() -> Problem:
    """7. Helical valley, with the paper's angle theta written as one smooth expression.

    theta = arctan(x2/x1)/(2 pi) (+ 1/2 when x1 < 0) is 1/4 + atan2(-x1, x2)/(2 pi) wherever the
    paper defines it (x1 != 0); this form is smooth except on the ray x1 = 0, x2 <= 0.

    >>> p = helical_valley()
    >>> p
    Problem('helical_valley' #7, n=3, m=3, f*=0)
    >>> p.loss.value_at(p.x_star[0])
    0
    """
    theta = "(1/4 + atan2(-x1, x2)/(2*pi))"
    return _least_squares(
        number=7,
        name="helical_valley",
        title="Helical valley",
        residuals=[f"10*(x3 - 10*{theta})", "10*(sqrt(x1**2 + x2**2) - 1)", "x3"],
        x0=(-1.0, 0.0, 0.0),
        f_star="0",
        x_star=(("1", "0", "0"),),
        notes=(
            "theta(x1, x2) = arctan(x2/x1)/(2 pi) (+ 1/2 for x1 < 0) is written as "
            "1/4 + atan2(-x1, x2)/(2 pi): equal wherever the paper defines it, and continuous "
            "across x1 = 0 for x2 > 0."
        ),
    )


_BARD_Y = (
    "0.14",
    "0.18",
    "0.22",
    "0.25",
    "0.29",
    "0.32",
    "0.35",
    "0.39",
    "0.37",
    "0.58",
    "0.73",
    "0.96",
    "1.34",
    "2.10",
    "4.39",
)


def bard() -> Problem:
    """8. Bard: f_i = y_i - (x1 + u_i/(v_i x2 + w_i x3)), u_i = i, v_i = 16 - i, w_i = min(u_i, v_i).

    >>> p = bard()
    >>> p
    Problem('bard' #8, n=3, m=15, f*=8.21487e-3)
    >>> f"{float(p.loss.value_at(p.x_star[0])):.5g}"  # published f* = 8.21487e-3
    '0.0082149'
    """
    residuals = [f"{y} - (x1 + {i}/({16 - i}*x2 + {min(i, 16 - i)}*x3))" for i, y in enumerate(_BARD_Y, 1)]
    return _least_squares(
        number=8,
        name="bard",
        title="Bard",
        residuals=residuals,
        x0=(1.0, 1.0, 1.0),
        f_star="8.21487e-3",
        value=8.214877306578961e-3,
        x_star=(("0.08241055996", "1.133036099", "2.343695172"),),
        notes=(
            "x* is computed here (the paper prints f* only). "
            "f = 17.4286 at (0.8406, -inf, -inf) (published), approached but never reached."
        ),
    )


_GAUSSIAN_Y = ("0.0009", "0.0044", "0.0175", "0.0540", "0.1295", "0.2420", "0.3521", "0.3989")


def gaussian() -> Problem:
    """9. Gaussian: f_i = x1 exp(-x2 (t_i - x3)^2 / 2) - y_i, t_i = (8 - i)/2.

    >>> p = gaussian()
    >>> p
    Problem('gaussian' #9, n=3, m=15, f*=1.12793e-8)
    >>> f"{float(p.loss.value_at(p.x_star[0])):.5g}"  # published f* = 1.12793e-8
    '1.1279e-08'
    """
    y = _GAUSSIAN_Y + _GAUSSIAN_Y[-2::-1]
    residuals = [f"x1*exp(-x2*({_q(Fraction(8 - i, 2))} - x3)**2/2) - {yi}" for i, yi in enumerate(y, 1)]
    return _least_squares(
        number=9,
        name="gaussian",
        title="Gaussian",
        residuals=residuals,
        x0=(0.4, 1.0, 0.0),
        f_star="1.12793e-8",
        value=1.1279327696187266e-8,
        x_star=(("0.3989561378", "1.000019084", "0"),),
        notes="x* is computed here (the paper prints f* only); x3* = 0 by the data's symmetry.",
    )


_MEYER_Y = (
    34780,
    28610,
    23650,
    19630,
    16370,
    13720,
    11540,
    9744,
    8261,
    7030,
    6005,
    5147,
    4427,
    3820,
    3307,
    2872,
)


def meyer() -> Problem:
    """10. Meyer: f_i = x1 exp(x2 / (t_i + x3)) - y_i, t_i = 45 + 5i.

    >>> p = meyer()
    >>> p
    Problem('meyer' #10, n=3, m=16, f*=87.9458)
    >>> f"{float(p.loss.value_at(p.x_star[0])):.5g}"  # published f* = 87.9458
    '87.946'
    """
    residuals = [f"x1*exp(x2/({45 + 5 * i} + x3)) - {y}" for i, y in enumerate(_MEYER_Y, 1)]
    return _least_squares(
        number=10,
        name="meyer",
        title="Meyer",
        residuals=residuals,
        x0=(0.02, 4000.0, 250.0),
        f_star="87.9458",
        value=87.94585517066136,
        x_star=(("0.005609636471", "6181.346346", "345.2236346"),),
        notes=(
            "x* is computed here (the paper prints f* only). The paper's f* = 87.9458 is truncated: "
            "taylorlr computes 87.94585517 (which rounds to 87.9459)."
        ),
    )


def gulf(m: int = 99) -> Problem:
    """11. Gulf research and development: f_i = exp(-|y_i - x2|^x3 / x1) - t_i, 3 <= m <= 100.

    t_i = i/100, y_i = 25 + (-50 ln t_i)^(2/3); |r|^x3 is written ((r)**2)**(x3/2).

    >>> p = gulf(m=5)
    >>> p
    Problem('gulf' #11, n=3, m=5, f*=0)
    >>> p.loss.value_at(p.x_star[0])
    0
    """
    _require(3 <= m <= 100, f"Gulf needs 3 <= m <= 100, got m={m}")
    residuals = []
    for i in range(1, m + 1):
        t = _q(Fraction(i, 100))
        y = f"(25 + (-50*log({t}))**(2/3))"
        residuals.append(f"exp(-(({y} - x2)**2)**(x3/2)/x1) - {t}")
    return _least_squares(
        number=11,
        name="gulf",
        title="Gulf research and development",
        residuals=residuals,
        x0=(5.0, 2.5, 0.15),
        f_star="0",
        x_star=(("50", "25", "3/2"),),
        notes=(
            "The paper prints |y_i m i x2| where a minus sign is meant: |y_i - x2| (some "
            "implementations, e.g. NLSProblems.jl mgh11, copy the misprint as y_i*m*i*x2). The "
            "default m = 99 keeps every y_i away from x2* = 25 (y_100 = 25 exactly, where the "
            "derivative in x3 of |y_i - x2|^x3 is 0*log(0) in floating point)."
        ),
    )


def box_3d(m: int = 10) -> Problem:
    """12. Box three-dimensional: f_i = exp(-t_i x1) - exp(-t_i x2) - x3 (exp(-t_i) - exp(-10 t_i)).

    >>> p = box_3d()
    >>> p
    Problem('box_3d' #12, n=3, m=10, f*=0)
    >>> p.loss.value_at(p.x_star[0])
    0
    """
    _require(m >= 3, f"Box three-dimensional needs m >= 3, got m={m}")
    residuals = []
    for i in range(1, m + 1):
        t = _q(Fraction(i, 10))
        residuals.append(f"exp(-{t}*x1) - exp(-{t}*x2) - x3*(exp(-{t}) - exp(-10*{t}))")
    return _least_squares(
        number=12,
        name="box_3d",
        title="Box three-dimensional",
        residuals=residuals,
        x0=(0.0, 10.0, 20.0),
        f_star="0",
        x_star=(("1", "10", "1"), ("10", "1", "-1")),
        notes="f = 0 also on the whole line x1 = x2, x3 = 0 (published); x_star lists the isolated two.",
    )


def powell_singular() -> Problem:
    """13. Powell singular (the Hessian is singular at the minimum).

    >>> p = powell_singular()
    >>> p
    Problem('powell_singular' #13, n=4, m=4, f*=0)
    >>> p.loss.value_at(p.x_star[0])
    0
    """
    return _least_squares(
        number=13,
        name="powell_singular",
        title="Powell singular",
        residuals=_powell_block(1),
        x0=(3.0, -1.0, 0.0, 1.0),
        f_star="0",
        x_star=(("0", "0", "0", "0"),),
    )


def _powell_block(first: int) -> list[str]:
    a, b, c, d = (_x(first + k) for k in range(4))
    return [f"{a} + 10*{b}", f"sqrt(5)*({c} - {d})", f"({b} - 2*{c})**2", f"sqrt(10)*({a} - {d})**2"]


def wood() -> Problem:
    """14. Wood.

    >>> p = wood()
    >>> p
    Problem('wood' #14, n=4, m=6, f*=0)
    >>> p.loss.value_at(p.x_star[0])
    0
    """
    return _least_squares(
        number=14,
        name="wood",
        title="Wood",
        residuals=[
            "10*(x2 - x1**2)",
            "1 - x1",
            "sqrt(90)*(x4 - x3**2)",
            "1 - x3",
            "sqrt(10)*(x2 + x4 - 2)",
            "(x2 - x4)/sqrt(10)",
        ],
        x0=(-3.0, -1.0, -3.0, -1.0),
        f_star="0",
        x_star=(("1", "1", "1", "1"),),
    )


_KOWALIK_Y = (
    "0.1957",
    "0.1947",
    "0.1735",
    "0.1600",
    "0.0844",
    "0.0627",
    "0.0456",
    "0.0342",
    "0.0323",
    "0.0235",
    "0.0246",
)
_KOWALIK_U = ("4", "2", "1", "0.5", "0.25", "0.167", "0.125", "0.1", "0.0833", "0.0714", "0.0625")


def kowalik_osborne() -> Problem:
    """15. Kowalik and Osborne: f_i = y_i - x1 (u_i^2 + u_i x2) / (u_i^2 + u_i x3 + x4).

    >>> p = kowalik_osborne()
    >>> p
    Problem('kowalik_osborne' #15, n=4, m=11, f*=3.07505e-4)
    >>> f"{float(p.loss.value_at(p.x_star[0])):.5g}"  # published f* = 3.07505e-4
    '0.00030751'
    """
    residuals = [
        f"{y} - x1*({u}**2 + {u}*x2)/({u}**2 + {u}*x3 + x4)"
        for y, u in zip(_KOWALIK_Y, _KOWALIK_U, strict=True)
    ]
    return _least_squares(
        number=15,
        name="kowalik_osborne",
        title="Kowalik and Osborne",
        residuals=residuals,
        x0=(0.25, 0.39, 0.415, 0.39),
        f_star="3.07505e-4",
        value=3.075056038492373e-4,
        x_star=(("0.1928069349", "0.1912823214", "0.1230565057", "0.1360623273"),),
        notes=(
            "x* is computed here (the paper prints f* only). The paper's f* = 3.07505e-4 is truncated: "
            "taylorlr computes 3.075056038e-4 (which rounds to 3.07506e-4). The u_i are the paper's rounded "
            "values (0.167 for 1/6, 0.0833 for 1/12, 0.0714 for 1/14). f = 1.02734e-3 at "
            "(+inf, -14.07..., -inf, -inf) (published)."
        ),
    )


def brown_dennis(m: int = 20) -> Problem:
    """16. Brown and Dennis: f_i = (x1 + t_i x2 - exp(t_i))^2 + (x3 + x4 sin(t_i) - cos(t_i))^2, t_i = i/5.

    >>> p = brown_dennis()
    >>> p
    Problem('brown_dennis' #16, n=4, m=20, f*=85822.2)
    >>> f"{float(p.loss.value_at(p.x_star[0])):.5g}"  # published f* = 85822.2
    '85822'
    """
    _require(m >= 4, f"Brown and Dennis needs m >= 4, got m={m}")
    residuals = []
    for i in range(1, m + 1):
        t = _q(Fraction(i, 5))
        residuals.append(f"(x1 + {t}*x2 - exp({t}))**2 + (x3 + x4*sin({t}) - cos({t}))**2")
    published = m == 20
    return _least_squares(
        number=16,
        name="brown_dennis",
        title="Brown and Dennis",
        residuals=residuals,
        x0=(25.0, 5.0, -5.0, -1.0),
        f_star="85822.2" if published else _UNKNOWN,
        value=85822.2016263563 if published else None,
        x_star=(("-11.5944399", "13.20363005", "-0.4034394881", "0.2367787744"),) if published else (),
        notes="f* is published for m = 20; x* is computed here." if published else "",
    )


_OSBORNE1_Y = (
    "0.844",
    "0.908",
    "0.932",
    "0.936",
    "0.925",
    "0.908",
    "0.881",
    "0.850",
    "0.818",
    "0.784",
    "0.751",
    "0.718",
    "0.685",
    "0.658",
    "0.628",
    "0.603",
    "0.580",
    "0.558",
    "0.538",
    "0.522",
    "0.506",
    "0.490",
    "0.478",
    "0.467",
    "0.457",
    "0.448",
    "0.438",
    "0.431",
    "0.424",
    "0.420",
    "0.414",
    "0.411",
    "0.406",
)


def osborne1() -> Problem:
    """17. Osborne 1: f_i = y_i - (x1 + x2 exp(-t_i x4) + x3 exp(-t_i x5)), t_i = 10 (i - 1).

    >>> p = osborne1()
    >>> p
    Problem('osborne1' #17, n=5, m=33, f*=5.46489e-5)
    >>> f"{float(p.loss.value_at(p.x_star[0])):.5g}"  # published f* = 5.46489e-5
    '5.4649e-05'
    """
    residuals = [
        f"{y} - (x1 + x2*exp(-{10 * i}*x4) + x3*exp(-{10 * i}*x5))" for i, y in enumerate(_OSBORNE1_Y)
    ]
    return _least_squares(
        number=17,
        name="osborne1",
        title="Osborne 1",
        residuals=residuals,
        x0=(0.5, 1.5, -1.0, 0.01, 0.02),
        f_star="5.46489e-5",
        value=5.464894697482415e-5,
        x_star=(("0.3754100521", "1.935846912", "-1.464687136", "0.01286753464", "0.02212269966"),),
        notes="x* is computed here (the paper prints f* only).",
    )


def biggs_exp6(m: int = 13) -> Problem:
    """18. Biggs EXP6: f_i = x3 exp(-t_i x1) - x4 exp(-t_i x2) + x6 exp(-t_i x5) - y_i, t_i = i/10.

    y_i = exp(-t_i) - 5 exp(-10 t_i) + 3 exp(-4 t_i).

    >>> p = biggs_exp6()
    >>> p
    Problem('biggs_exp6' #18, n=6, m=13, f*=0)
    >>> p.loss.value_at(p.x_star[0])
    0
    """
    _require(m >= 6, f"Biggs EXP6 needs m >= 6, got m={m}")
    residuals = []
    for i in range(1, m + 1):
        t = _q(Fraction(i, 10))
        y = f"(exp(-{t}) - 5*exp(-10*{t}) + 3*exp(-4*{t}))"
        residuals.append(f"x3*exp(-{t}*x1) - x4*exp(-{t}*x2) + x6*exp(-{t}*x5) - {y}")
    return _least_squares(
        number=18,
        name="biggs_exp6",
        title="Biggs EXP6",
        residuals=residuals,
        x0=(1.0, 2.0, 1.0, 1.0, 1.0, 1.0),
        f_star="0",
        x_star=(("1", "10", "1", "5", "4", "3"), ("4", "10", "3", "5", "1", "1")),
        notes=(
            "The paper gives f = 0 at (1, 10, 1, 5, 4, 3) and f = 5.65565e-3 (m = 13), a local "
            "minimum. Swapping the terms x3 exp(-t x1) and x6 exp(-t x5) gives the second "
            "global minimiser (4, 10, 3, 5, 1, 1)."
        ),
    )


_OSBORNE2_Y = (
    "1.366",
    "1.191",
    "1.112",
    "1.013",
    "0.991",
    "0.885",
    "0.831",
    "0.847",
    "0.786",
    "0.725",
    "0.746",
    "0.679",
    "0.608",
    "0.655",
    "0.616",
    "0.606",
    "0.602",
    "0.626",
    "0.651",
    "0.724",
    "0.649",
    "0.649",
    "0.694",
    "0.644",
    "0.624",
    "0.661",
    "0.612",
    "0.558",
    "0.533",
    "0.495",
    "0.500",
    "0.423",
    "0.395",
    "0.375",
    "0.372",
    "0.391",
    "0.396",
    "0.405",
    "0.428",
    "0.429",
    "0.523",
    "0.562",
    "0.607",
    "0.653",
    "0.672",
    "0.708",
    "0.633",
    "0.668",
    "0.645",
    "0.632",
    "0.591",
    "0.559",
    "0.597",
    "0.625",
    "0.739",
    "0.710",
    "0.729",
    "0.720",
    "0.636",
    "0.581",
    "0.428",
    "0.292",
    "0.162",
    "0.098",
    "0.054",
)


def osborne2() -> Problem:
    """19. Osborne 2: y_i - (x1 exp(-t_i x5) + sum_k x_k exp(-(t_i - x_{k+7})^2 x_{k+4})), t_i = (i-1)/10.

    >>> p = osborne2()
    >>> p
    Problem('osborne2' #19, n=11, m=65, f*=4.01377e-2)
    >>> f"{float(p.loss.value_at(p.x_star[0])):.5g}"  # published f* = 4.01377e-2
    '0.040138'
    """
    residuals = []
    for i, y in enumerate(_OSBORNE2_Y):
        t = _q(Fraction(i, 10))
        bumps = " + ".join(f"x{k}*exp(-({t} - x{k + 7})**2*x{k + 4})" for k in (2, 3, 4))
        residuals.append(f"{y} - (x1*exp(-{t}*x5) + {bumps})")
    return _least_squares(
        number=19,
        name="osborne2",
        title="Osborne 2",
        residuals=residuals,
        x0=(1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5),
        f_star="4.01377e-2",
        value=4.013773629354774e-2,
        x_star=(OSBORNE2_X_STAR,),
        notes=(
            "x* is computed here (the paper prints f* only). y_18 = 0.626 as printed (NLSProblems.jl "
            "mgh19 has 0.625); with 0.626 the minimum is the published 4.01377e-2."
        ),
    )


OSBORNE2_X_STAR = (
    "1.309977154",
    "0.4315537937",
    "0.6336616987",
    "0.599430534",
    "0.754183224",
    "0.9042885871",
    "1.36581183",
    "4.823698826",
    "2.398684866",
    "4.568874598",
    "5.675341471",
)


# ---------------------------------------------------------------- scalable: problems 20-35


def watson(n: int = 6) -> Problem:
    """20. Watson, 2 <= n <= 31, m = 31.

    >>> p = watson()
    >>> p
    Problem('watson' #20, n=6, m=31, f*=2.28767e-3)
    >>> f"{float(p.loss.value_at(p.x_star[0])):.5g}"  # published f* = 2.28767e-3
    '0.0022877'
    """
    _require(2 <= n <= 31, f"Watson needs 2 <= n <= 31, got n={n}")
    residuals = []
    for i in range(1, 30):
        t = _q(Fraction(i, 29))
        slope = " + ".join(f"{j - 1}*{t}**{j - 2}*{_x(j)}" for j in range(2, n + 1))
        value = " + ".join(f"{t}**{j - 1}*{_x(j)}" for j in range(1, n + 1))
        residuals.append(f"{slope} - ({value})**2 - 1")
    residuals += ["x1", "x2 - x1**2 - 1"]
    printed = {6: "2.28767e-3", 9: "1.39976e-6", 12: "4.72238e-10"}
    return _least_squares(
        number=20,
        name="watson",
        title="Watson",
        residuals=residuals,
        x0=(0.0,) * n,
        f_star=printed.get(n, _UNKNOWN),
        value={6: 2.2876700535524068e-3, 9: 1.3997601380922097e-6, 12: 4.722381101862321e-10}.get(n),
        x_star=(WATSON6_X_STAR,) if n == 6 else (),
        notes="f* is published for n = 6, 9, 12; x* for n = 6 is computed here.",
    )


WATSON6_X_STAR = (
    "-0.01572508562",
    "1.01243487",
    "-0.2329916296",
    "1.260430104",
    "-1.513728944",
    "0.9929964431",
)


def extended_rosenbrock(n: int = 10) -> Problem:
    """21. Extended Rosenbrock, n even.

    >>> p = extended_rosenbrock()
    >>> p
    Problem('extended_rosenbrock' #21, n=10, m=10, f*=0)
    >>> p.loss.value_at(p.x_star[0])
    0
    """
    _require(n >= 2 and n % 2 == 0, f"extended Rosenbrock needs an even n >= 2, got n={n}")
    residuals = []
    for i in range(1, n // 2 + 1):
        residuals += [f"10*({_x(2 * i)} - {_x(2 * i - 1)}**2)", f"1 - {_x(2 * i - 1)}"]
    return _least_squares(
        number=21,
        name="extended_rosenbrock",
        title="Extended Rosenbrock",
        residuals=residuals,
        x0=(-1.2, 1.0) * (n // 2),
        f_star="0",
        x_star=(("1",) * n,),
    )


def extended_powell(n: int = 12) -> Problem:
    """22. Extended Powell singular, n a multiple of 4.

    >>> p = extended_powell()
    >>> p
    Problem('extended_powell' #22, n=12, m=12, f*=0)
    >>> p.loss.value_at(p.x_star[0])
    0
    """
    _require(n >= 4 and n % 4 == 0, f"extended Powell needs n a multiple of 4, got n={n}")
    residuals = [r for k in range(n // 4) for r in _powell_block(4 * k + 1)]
    return _least_squares(
        number=22,
        name="extended_powell",
        title="Extended Powell singular",
        residuals=residuals,
        x0=(3.0, -1.0, 0.0, 1.0) * (n // 4),
        f_star="0",
        x_star=(("0",) * n,),
    )


def penalty1(n: int = 4) -> Problem:
    """23. Penalty I: f_i = sqrt(a) (x_i - 1), f_{n+1} = sum x_j^2 - 1/4, a = 1e-5.

    >>> p = penalty1()
    >>> p
    Problem('penalty1' #23, n=4, m=5, f*=2.24997e-5)
    >>> f"{float(p.loss.value_at(p.x_star[0])):.5g}"  # published f* = 2.24997e-5
    '2.25e-05'
    """
    _require(n >= 1, f"penalty I needs n >= 1, got n={n}")
    residuals = [f"sqrt(1/100000)*({_x(i)} - 1)" for i in range(1, n + 1)]
    residuals.append(" + ".join(f"{_x(j)}**2" for j in range(1, n + 1)) + " - 1/4")
    printed = {4: "2.24997e-5", 10: "7.08765e-5"}
    return _least_squares(
        number=23,
        name="penalty1",
        title="Penalty I",
        residuals=residuals,
        x0=tuple(float(j) for j in range(1, n + 1)),
        f_star=printed.get(n, _UNKNOWN),
        value={4: 2.249977500899937e-5, 10: 7.08765146709037e-5}.get(n),
        x_star=(("0.2500074996",) * 4,) if n == 4 else (),
        notes=(
            "f* is published for n = 4, 10; x* for n = 4 is computed here. The paper's f* = 2.24997e-5 "
            "(n = 4) is truncated: taylorlr computes 2.249977501e-5 (which rounds to 2.24998e-5)."
        ),
    )


def penalty2(n: int = 4) -> Problem:
    """24. Penalty II, m = 2n, a = 1e-5, y_i = exp(i/10) + exp((i-1)/10).

    >>> p = penalty2()
    >>> p
    Problem('penalty2' #24, n=4, m=8, f*=9.37629e-6)
    >>> f"{float(p.loss.value_at(p.x_star[0])):.5g}"  # published f* = 9.37629e-6
    '9.3763e-06'
    """
    _require(n >= 1, f"penalty II needs n >= 1, got n={n}")
    a = "sqrt(1/100000)"
    residuals = ["x1 - 1/5"]
    for i in range(2, n + 1):
        y = f"(exp({_q(Fraction(i, 10))}) + exp({_q(Fraction(i - 1, 10))}))"
        residuals.append(f"{a}*(exp({_x(i)}/10) + exp({_x(i - 1)}/10) - {y})")
    for i in range(n + 1, 2 * n):
        residuals.append(f"{a}*(exp({_x(i - n + 1)}/10) - exp(-1/10))")
    residuals.append(" + ".join(f"{n - j + 1}*{_x(j)}**2" for j in range(1, n + 1)) + " - 1")
    printed = {4: "9.37629e-6", 10: "2.93660e-4"}
    return _least_squares(
        number=24,
        name="penalty2",
        title="Penalty II",
        residuals=residuals,
        x0=(0.5,) * n,
        f_star=printed.get(n, _UNKNOWN),
        value={4: 9.376293007355446e-6, 10: 2.93660537456746e-4}.get(n),
        x_star=(PENALTY2_X_STAR,) if n == 4 else (),
        notes=(
            "f* is published for n = 4, 10; x* for n = 4 is computed here. The paper's f* = 2.93660e-4 "
            "(n = 10) is truncated: taylorlr computes 2.936605375e-4 (which rounds to 2.93661e-4)."
        ),
    )


PENALTY2_X_STAR = ("0.1999993334", "0.1913167068", "0.4801014834", "0.5188454015")


def variably_dimensioned(n: int = 10) -> Problem:
    """25. Variably dimensioned, m = n + 2.

    >>> p = variably_dimensioned()
    >>> p
    Problem('variably_dimensioned' #25, n=10, m=12, f*=0)
    >>> p.loss.value_at(p.x_star[0])
    0
    """
    _require(n >= 1, f"variably dimensioned needs n >= 1, got n={n}")
    residuals = [f"{_x(j)} - 1" for j in range(1, n + 1)]
    weighted = " + ".join(f"{j}*({_x(j)} - 1)" for j in range(1, n + 1))
    residuals += [weighted, f"({weighted})**2"]
    return _least_squares(
        number=25,
        name="variably_dimensioned",
        title="Variably dimensioned",
        residuals=residuals,
        x0=tuple(1 - j / n for j in range(1, n + 1)),
        f_star="0",
        x_star=(("1",) * n,),
    )


def trigonometric(n: int = 10) -> Problem:
    """26. Trigonometric: f_i = n - sum cos x_j + i (1 - cos x_i) - sin x_i.

    >>> p = trigonometric()
    >>> p
    Problem('trigonometric' #26, n=10, m=10, f*=0)
    >>> p.loss.value_at(p.x_star[0])
    0
    """
    _require(n >= 1, f"trigonometric needs n >= 1, got n={n}")
    total = " + ".join(f"cos({_x(j)})" for j in range(1, n + 1))
    residuals = [f"{n} - ({total}) + {i}*(1 - cos({_x(i)})) - sin({_x(i)})" for i in range(1, n + 1)]
    return _least_squares(
        number=26,
        name="trigonometric",
        title="Trigonometric",
        residuals=residuals,
        x0=(1 / n,) * n,
        f_star="0",
        x_star=(("0",) * n,),
        notes=(
            "x = 0 is an exact zero of every residual (n - n + 0 - 0). From the standard start "
            "with n = 10 minimisers often stop at a local minimum f = 2.79506e-5."
        ),
    )


def brown_almost_linear(n: int = 10) -> Problem:
    """27. Brown almost-linear: f_i = x_i + sum x_j - (n + 1) (i < n), f_n = prod x_j - 1.

    >>> p = brown_almost_linear()
    >>> p
    Problem('brown_almost_linear' #27, n=10, m=10, f*=0)
    >>> p.loss.value_at(p.x_star[0])
    0
    """
    _require(n >= 1, f"Brown almost-linear needs n >= 1, got n={n}")
    total = " + ".join(_x(j) for j in range(1, n + 1))
    residuals = [f"{_x(i)} + {total} - {n + 1}" for i in range(1, n)]
    residuals.append("*".join(_x(j) for j in range(1, n + 1)) + " - 1")
    return _least_squares(
        number=27,
        name="brown_almost_linear",
        title="Brown almost-linear",
        residuals=residuals,
        x0=(0.5,) * n,
        f_star="0",
        x_star=(("1",) * n,),
        notes=(
            "f = 0 at (a, ..., a, a^(1-n)) for every root a of n a^n - (n+1) a^(n-1) + 1 = 0, a = 1 "
            "among them; f = 1 at (0, ..., 0, n+1) (published)."
        ),
    )


def _grid(n: int) -> tuple[Fraction, list[Fraction]]:
    h = Fraction(1, n + 1)
    return h, [i * h for i in range(1, n + 1)]


def discrete_boundary_value(n: int = 10) -> Problem:
    """28. Discrete boundary value: f_i = 2x_i - x_{i-1} - x_{i+1} + h^2 (x_i + t_i + 1)^3 / 2.

    >>> p = discrete_boundary_value()
    >>> p
    Problem('discrete_boundary_value' #28, n=10, m=10, f*=0)
    >>> f"{float(p.loss.value_at(p.x_star[0])):.1e}"  # x_star is printed to a few digits
    '2.2e-20'
    """
    _require(n >= 1, f"discrete boundary value needs n >= 1, got n={n}")
    h, t = _grid(n)
    residuals = []
    for i in range(1, n + 1):
        left = f" - {_x(i - 1)}" if i > 1 else ""
        right = f" - {_x(i + 1)}" if i < n else ""
        residuals.append(f"2*{_x(i)}{left}{right} + {_q(h * h / 2)}*({_x(i)} + {_q(t[i - 1])} + 1)**3")
    return _least_squares(
        number=28,
        name="discrete_boundary_value",
        title="Discrete boundary value",
        residuals=residuals,
        x0=tuple(float(ti * (ti - 1)) for ti in t),
        f_star="0",
        x_star=(DBV10_X_STAR,) if n == 10 else (),
        notes="x* for n = 10 is computed here (the paper prints f* = 0 only).",
    )


DBV10_X_STAR = (
    "-0.04316498252",
    "-0.08157715654",
    "-0.1144857144",
    "-0.1409735769",
    "-0.1599086962",
    "-0.1698772023",
    "-0.1690899838",
    "-0.1552495352",
    "-0.1253558917",
    "-0.07541653369",
)


def discrete_integral_equation(n: int = 10) -> Problem:
    """29. Discrete integral equation.

    >>> p = discrete_integral_equation()
    >>> p
    Problem('discrete_integral_equation' #29, n=10, m=10, f*=0)
    >>> f"{float(p.loss.value_at(p.x_star[0])):.1e}"  # x_star is printed to a few digits
    '4.2e-21'
    """
    _require(n >= 1, f"discrete integral equation needs n >= 1, got n={n}")
    h, t = _grid(n)
    cube = [f"({_x(j)} + {_q(t[j - 1])} + 1)**3" for j in range(1, n + 1)]
    residuals = []
    for i in range(1, n + 1):
        ti = t[i - 1]
        terms = [f"{_q(h / 2 * (1 - ti) * t[j - 1])}*{cube[j - 1]}" for j in range(1, i + 1)]
        terms += [f"{_q(h / 2 * ti * (1 - t[j - 1]))}*{cube[j - 1]}" for j in range(i + 1, n + 1)]
        residuals.append(f"{_x(i)} + " + " + ".join(terms))
    return _least_squares(
        number=29,
        name="discrete_integral_equation",
        title="Discrete integral equation",
        residuals=residuals,
        x0=tuple(float(ti * (ti - 1)) for ti in t),
        f_star="0",
        x_star=(DIE10_X_STAR,) if n == 10 else (),
        notes="x* for n = 10 is computed here (the paper prints f* = 0 only).",
    )


DIE10_X_STAR = DBV10_X_STAR  # the two discretisations share their solution


def broyden_tridiagonal(n: int = 10) -> Problem:
    """30. Broyden tridiagonal: f_i = (3 - 2x_i) x_i - x_{i-1} - 2 x_{i+1} + 1.

    >>> p = broyden_tridiagonal()
    >>> p
    Problem('broyden_tridiagonal' #30, n=10, m=10, f*=0)
    >>> f"{float(p.loss.value_at(p.x_star[0])):.1e}"  # x_star is printed to a few digits
    '2.3e-19'
    """
    _require(n >= 1, f"Broyden tridiagonal needs n >= 1, got n={n}")
    residuals = []
    for i in range(1, n + 1):
        left = f" - {_x(i - 1)}" if i > 1 else ""
        right = f" - 2*{_x(i + 1)}" if i < n else ""
        residuals.append(f"(3 - 2*{_x(i)})*{_x(i)}{left}{right} + 1")
    return _least_squares(
        number=30,
        name="broyden_tridiagonal",
        title="Broyden tridiagonal",
        residuals=residuals,
        x0=(-1.0,) * n,
        f_star="0",
        x_star=(BT10_X_STAR,) if n == 10 else (),
        notes="x* for n = 10 is computed here (the paper prints f* = 0 only).",
    )


BT10_X_STAR = (
    "-0.570722132",
    "-0.68180695",
    "-0.702210076",
    "-0.7055106299",
    "-0.7049061557",
    "-0.701496607",
    "-0.6918893224",
    "-0.6657965144",
    "-0.596035109",
    "-0.4164122575",
)


def broyden_banded(n: int = 10) -> Problem:
    """31. Broyden banded: f_i = x_i (2 + 5 x_i^2) + 1 - sum_{j in J_i} x_j (1 + x_j), ml = 5, mu = 1.

    >>> p = broyden_banded()
    >>> p
    Problem('broyden_banded' #31, n=10, m=10, f*=0)
    >>> f"{float(p.loss.value_at(p.x_star[0])):.1e}"  # x_star is printed to a few digits
    '4.6e-19'
    """
    _require(n >= 1, f"Broyden banded needs n >= 1, got n={n}")
    residuals = []
    for i in range(1, n + 1):
        band = [j for j in range(max(1, i - 5), min(n, i + 1) + 1) if j != i]
        coupled = "".join(f" - {_x(j)}*(1 + {_x(j)})" for j in band)
        residuals.append(f"{_x(i)}*(2 + 5*{_x(i)}**2) + 1{coupled}")
    return _least_squares(
        number=31,
        name="broyden_banded",
        title="Broyden banded",
        residuals=residuals,
        x0=(-1.0,) * n,
        f_star="0",
        x_star=(BB10_X_STAR,) if n == 10 else (),
        notes="x* for n = 10 is computed here (the paper prints f* = 0 only).",
    )


BB10_X_STAR = (
    "-0.4283028636",
    "-0.4765964244",
    "-0.5196524636",
    "-0.5580993248",
    "-0.5925061568",
    "-0.6245036822",
    "-0.6232394714",
    "-0.6213938418",
    "-0.6204535967",
    "-0.5864692707",
)


def _check_linear(n: int, m: int, name: str) -> None:
    _require(n >= 1 and m >= n, f"{name} needs 1 <= n <= m, got n={n}, m={m}")


def linear_full_rank(n: int = 5, m: int = 10) -> Problem:
    """32. Linear function, full rank: f* = m - n at x = (-1, ..., -1).

    >>> p = linear_full_rank()
    >>> p
    Problem('linear_full_rank' #32, n=5, m=10, f*=5)
    >>> p.loss.value_at(p.x_star[0])
    5
    """
    _check_linear(n, m, "linear full rank")
    total = " + ".join(_x(j) for j in range(1, n + 1))
    residuals = [f"{_x(i)} - {_q(Fraction(2, m))}*({total}) - 1" for i in range(1, n + 1)]
    residuals += [f"-{_q(Fraction(2, m))}*({total}) - 1" for _ in range(n + 1, m + 1)]
    return _least_squares(
        number=32,
        name="linear_full_rank",
        title="Linear function - full rank",
        residuals=residuals,
        x0=(1.0,) * n,
        f_star=str(m - n),
        x_star=(("-1",) * n,),
    )


def linear_rank1(n: int = 5, m: int = 10) -> Problem:
    """33. Linear function, rank 1: f_i = i (sum j x_j) - 1; f* = m(m-1)/(2(2m+1)).

    >>> p = linear_rank1()
    >>> p
    Problem('linear_rank1' #33, n=5, m=10, f*=15/7)
    >>> p.loss.value_at(p.x_star[0])
    15/7
    """
    _check_linear(n, m, "linear rank 1")
    total = " + ".join(f"{j}*{_x(j)}" for j in range(1, n + 1))
    residuals = [f"{i}*({total}) - 1" for i in range(1, m + 1)]
    point = (str(Fraction(3, 2 * m + 1)),) + ("0",) * (n - 1)
    return _least_squares(
        number=33,
        name="linear_rank1",
        title="Linear function - rank 1",
        residuals=residuals,
        x0=(1.0,) * n,
        f_star=str(Fraction(m * (m - 1), 2 * (2 * m + 1))),
        x_star=(point,),
        notes="f* at every point with sum j x_j = 3/(2m + 1) (published); x_star is one of them.",
    )


def linear_rank1_zero(n: int = 5, m: int = 10) -> Problem:
    """34. Linear function, rank 1 with zero columns and rows; f* = (m^2 + 3m - 6)/(2(2m - 3)).

    >>> p = linear_rank1_zero()
    >>> p
    Problem('linear_rank1_zero' #34, n=5, m=10, f*=62/17)
    >>> p.loss.value_at(p.x_star[0])
    62/17
    """
    _check_linear(n, m, "linear rank 1 with zero columns and rows")
    _require(n >= 3, f"linear rank 1 with zero columns and rows needs n >= 3, got n={n}")
    total = " + ".join(f"{j}*{_x(j)}" for j in range(2, n))
    residuals = ["-1"] + [f"{i - 1}*({total}) - 1" for i in range(2, m)] + ["-1"]
    point = ("0", str(Fraction(3, 2 * (2 * m - 3)))) + ("0",) * (n - 2)
    return _least_squares(
        number=34,
        name="linear_rank1_zero",
        title="Linear function - rank 1 with zero columns and rows",
        residuals=residuals,
        x0=(1.0,) * n,
        f_star=str(Fraction(m * m + 3 * m - 6, 2 * (2 * m - 3))),
        x_star=(point,),
        notes="f* at every point with sum_{j=2}^{n-1} j x_j = 3/(2m - 3) (published); x_star is one of them.",
    )


def chebyquad(n: int = 8, m: int | None = None) -> Problem:
    """35. Chebyquad: f_i = (1/n) sum_j T_i(x_j) - integral_0^1 T_i, T_i shifted to [0, 1]; m >= n.

    >>> p = chebyquad()
    >>> p
    Problem('chebyquad' #35, n=8, m=8, f*=3.51687e-3)
    >>> f"{float(p.loss.value_at(p.x_star[0])):.5g}"  # published f* = 3.51687e-3
    '0.0035169'
    """
    m = n if m is None else m
    _require(1 <= n <= m, f"Chebyquad needs 1 <= n <= m, got n={n}, m={m}")
    residuals = []
    for i in range(1, m + 1):
        mean = " + ".join(_chebyshev(i, f"(2*{_x(j)} - 1)") for j in range(1, n + 1))
        integral = Fraction(-1, i * i - 1) if i % 2 == 0 else Fraction(0)
        residuals.append(f"({mean})/{n} - {_q(integral)}")
    printed = {8: "3.51687e-3", 10: "6.50395e-3"}
    f_star = "0" if m == n and (n <= 7 or n == 9) else printed.get(n, _UNKNOWN) if m == n else _UNKNOWN
    return _least_squares(
        number=35,
        name="chebyquad",
        title="Chebyquad",
        residuals=residuals,
        x0=tuple(j / (n + 1) for j in range(1, n + 1)),
        f_star=f_star,
        value={8: 3.5168737256777317e-3, 10: 6.5039548008820666e-3}.get(n) if m == n else None,
        x_star=(CHEBYQUAD8_X_STAR,) if (n, m) == (8, 8) else (),
        notes="f* is published for m = n: 0 for n <= 7 and n = 9; x* for n = 8 is computed here.",
    )


CHEBYQUAD8_X_STAR = (
    "0.04315276145",
    "0.1930908416",
    "0.2663287066",
    "0.4999999997",
    "0.5000000003",
    "0.7336712934",
    "0.8069091584",
    "0.9568472386",
)


def _chebyshev(i: int, z: str) -> str:
    """T_i(z) as nested text by the recurrence T_{k+1} = 2 z T_k - T_{k-1} (coefficients expanded)."""
    import sympy

    s = sympy.Symbol("z")
    poly = sympy.chebyshevt(i, s).expand()
    return f"({str(poly).replace('z', z)})"


BUILDERS: tuple[Callable[..., Problem], ...] = (
    rosenbrock,
    freudenstein_roth,
    powell_badly_scaled,
    brown_badly_scaled,
    beale,
    jennrich_sampson,
    helical_valley,
    bard,
    gaussian,
    meyer,
    gulf,
    box_3d,
    powell_singular,
    wood,
    kowalik_osborne,
    brown_dennis,
    osborne1,
    biggs_exp6,
    osborne2,
    watson,
    extended_rosenbrock,
    extended_powell,
    penalty1,
    penalty2,
    variably_dimensioned,
    trigonometric,
    brown_almost_linear,
    discrete_boundary_value,
    discrete_integral_equation,
    broyden_tridiagonal,
    broyden_banded,
    linear_full_rank,
    linear_rank1,
    linear_rank1_zero,
    chebyquad,
)
"""The 35 builders, in the paper's order (``BUILDERS[k - 1]`` is problem k)."""
