"""Source 000's demonstration, reproduced exactly: one Newton step on a 1-D quadratic (or cubic).

f(w) = d w^3 + a w^2 + b w + c, eta = 1/f''(w0), w1 = w0 - eta f'(w0). On a quadratic
(d = 0) w1 is the extremum w*; the cubic term makes the step miss it, and the miss
grows with |d| (the source's first takeaway, measured by :func:`miss_table`).

>>> demo = one_step_demo()
>>> demo.eta, demo.w1, demo.f_w1, demo.w_star, str(demo.kind)
(-1/2, -1, -2, -1, 'maximum')
>>> demo.f_w0, demo.df_w0   # the source printed -27 and -10: the values at w = +4
(-11, 6)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy

from taylorlr.errors import SingularHessianError
from taylorlr.kinds import Kind

_W = sympy.Symbol("w", real=True)


@dataclass(frozen=True)
class OneStepDemo:
    """Every quantity the source's demo prints, exact.

    Attributes:
        f, df, d2f: f, f' and f'' as SymPy expressions in w.
        eta: 1/f''(w0).
        w0, f_w0, df_w0: the start, f and f' there.
        w1, f_w1: the point after one step, and f there.
        w_star, f_star: the true extremum nearest to w1 and f there (None when f' has no real root).
        kind: the :class:`~taylorlr.kinds.Kind` of w*: minimum, maximum or saddle (a stationary
            inflection, f'' = 0 at w*); None when f' has no real root.
        miss: |w1 - w*| (None when there is no extremum).

    >>> demo = one_step_demo(d="1/10")
    >>> demo.w1, str(demo.kind), demo.miss
    (-17/11, 'maximum', 161/33 - 4*sqrt(10)/3)
    """

    f: sympy.Expr
    df: sympy.Expr
    d2f: sympy.Expr
    eta: sympy.Expr
    w0: sympy.Expr
    f_w0: sympy.Expr
    df_w0: sympy.Expr
    w1: sympy.Expr
    f_w1: sympy.Expr
    w_star: sympy.Expr | None
    f_star: sympy.Expr | None
    kind: Kind | None
    miss: sympy.Expr | None

    def lines(self) -> list[str]:
        """The demo's printout, one quantity per line."""
        star = "none (f' has no real root)"
        if self.w_star is not None:
            star = f"{_show(self.w_star)}, f(w*) = {_show(self.f_star)}"
        return [
            f"f(w) = {self.f}",
            f"f'(w) = {self.df}",
            f"f''(w) = {self.d2f}",
            f"eta = 1/f''(w0) = {_show(self.eta)}",
            f"w0 = {_show(self.w0)}, f(w0) = {_show(self.f_w0)}",
            f"f'(w0) = {_show(self.df_w0)}",
            f"w1 = {_show(self.w1)}, f(w1) = {_show(self.f_w1)}",
            f"w* = {star} ({_kind_text(self.kind)})",
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: numbers as floats, and the exact values as strings under ``exact``."""
        names = ("eta", "w0", "f_w0", "df_w0", "w1", "f_w1", "w_star", "f_star", "miss")
        values = {name: getattr(self, name) for name in names}
        return {
            "f": str(self.f),
            "df": str(self.df),
            "d2f": str(self.d2f),
            "kind": "none" if self.kind is None else str(self.kind),
            **{name: None if v is None else float(v) for name, v in values.items()},
            "exact": {name: None if v is None else str(v) for name, v in values.items()},
        }


@dataclass(frozen=True)
class MissRow:
    """One row of the miss table: the cubic coefficient d and how far one step lands from w*.

    >>> row = miss_table(["1/10"])[0]  # f = w^3/10 - w^2 - 2w - 3 from w0 = -4
    >>> row.d, row.w1, row.w_star, row.miss
    (1/10, -17/11, 10/3 - 4*sqrt(10)/3, 161/33 - 4*sqrt(10)/3)
    >>> round(row.to_dict()["miss"], 6)
    0.662418
    """

    d: sympy.Expr
    w1: sympy.Expr
    w_star: sympy.Expr | None
    miss: sympy.Expr | None

    def to_dict(self) -> dict[str, Any]:
        return {k: None if v is None else float(v) for k, v in vars(self).items()}


def one_step_demo(a: Any = -1, b: Any = -2, c: Any = -3, w0: Any = -4, d: Any = 0) -> OneStepDemo:
    """One Newton step on f(w) = d w^3 + a w^2 + b w + c from w0, in exact arithmetic.

    Numbers may be ints, floats (read by their decimal repr), fractions or strings.

    Raises:
        SingularHessianError: f''(w0) = 0, so eta = 1/f''(w0) does not exist.

    >>> one_step_demo(a=1, b=0, c=0, w0=3, d="0.1").w1
    27/38
    """
    a, b, c, w0, d = (_exact(v) for v in (a, b, c, w0, d))
    f = d * _W**3 + a * _W**2 + b * _W + c
    df, d2f = sympy.diff(f, _W), sympy.diff(f, _W, 2)
    curvature = d2f.subs(_W, w0)
    if curvature == 0:
        raise SingularHessianError(f"f''(w0) = 0 at w0 = {w0} for f = {f}: eta = 1/f''(w0) does not exist")
    eta = 1 / curvature
    w1 = w0 - eta * df.subs(_W, w0)  # exact already: nsimplify would swap a rational for a near surd
    w_star = _nearest_root(df, w1)
    kind = None if w_star is None else _kind(d2f.subs(_W, w_star))
    return OneStepDemo(
        f=f, df=df, d2f=d2f, eta=eta, w0=w0, f_w0=f.subs(_W, w0), df_w0=df.subs(_W, w0), w1=w1,
        f_w1=sympy.expand(f.subs(_W, w1)), w_star=w_star,
        f_star=None if w_star is None else sympy.radsimp(sympy.expand(f.subs(_W, w_star))), kind=kind,
        miss=None if w_star is None else sympy.radsimp(abs(w1 - w_star)),
    )  # fmt: skip


def miss_table(ds: Iterable[Any], **demo: Any) -> tuple[MissRow, ...]:
    """How far one step lands from the true extremum as the cubic coefficient d grows.

    >>> [round(float(row.miss), 4) for row in miss_table([0, "0.01"])]
    [0.0, 0.1217]
    """
    rows = []
    for d in ds:
        result = one_step_demo(**{**demo, "d": d})
        rows.append(MissRow(result.f.coeff(_W, 3), result.w1, result.w_star, result.miss))
    return tuple(rows)


def _exact(value: Any) -> sympy.Expr:
    """An exact number: a float by its decimal repr, an exact number as it is (nsimplify would turn
    2017/970 into a product of surds that differs from it in the 18th digit)."""
    if isinstance(value, float):
        return sympy.Rational(repr(value))
    if isinstance(value, sympy.Basic):
        return value
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    return sympy.Rational(value) if isinstance(value, (int, str)) else sympy.nsimplify(value)


def _nearest_root(df: sympy.Expr, w1: sympy.Expr) -> sympy.Expr | None:
    roots = sympy.Poly(df, _W).real_roots() if sympy.degree(df, _W) > 0 else []
    if not roots:
        return None
    return min(set(roots), key=lambda r: abs(float(r) - float(w1)))


def _kind(curvature: sympy.Expr) -> Kind:
    """The kind of a stationary point of the cubic: where f'' = 0 there, f''' = 6 d is not: a saddle."""
    if curvature == 0:
        return Kind.SADDLE
    return Kind.MINIMUM if curvature > 0 else Kind.MAXIMUM


def _kind_text(kind: Kind | None) -> str:
    if kind is None:
        return "none"
    return "saddle: a stationary inflection, f'' = 0" if kind == Kind.SADDLE else str(kind)


def _show(value: Any) -> str:
    if value is None:
        return "none"
    return str(value) if value.is_Rational else f"{value} = {float(value):.6g}"
