"""The kind of an exact critical point: inertia of the Hessian, then the splitting lemma.

Every sign that classifies a point is decided exactly: a polynomial P vanishes at a root of
the irreducible h iff h divides it, and otherwise its sign comes from a high-precision
evaluation. The kind comes from the inertia of the Hessian (Descartes' rule on its
characteristic polynomial, exact because a symmetric matrix has real eigenvalues); at a
degenerate point from the reduced function on the Hessian's null space (the splitting
lemma), else "inconclusive". Internal symbols are Dummies; the reasons name them with
letters that no variable of the loss uses.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sympy

from taylorlr.analysis._exact import AlgebraicPoint
from taylorlr.analysis.result import DIGITS as _DIGITS
from taylorlr.analysis.result import CriticalPoint
from taylorlr.kinds import Kind

if TYPE_CHECKING:
    from taylorlr.loss import Loss

_LAMBDA = sympy.Dummy("lambda")
_U = sympy.Dummy("u", real=True)  # the variable of a binary form's dehomogenisation
_FORM_PROBES = 4000  # directions tried on a form: all of them up to 5 null directions (5^5 + 10)


def classify(loss: Loss, point: AlgebraicPoint) -> CriticalPoint:
    n = loss.n
    hessian = loss.hessian.applyfunc(lambda e: point.reduce(e).as_expr())  # entries in Q[t]/(h)
    charpoly = sympy.Poly((_LAMBDA * sympy.eye(n) - hessian).det(method="berkowitz"), _LAMBDA)
    signs = [point.sign(c) for c in charpoly.all_coeffs()[::-1]]  # c_0 .. c_n, as polynomials in t
    zeros = next(k for k, s in enumerate(signs) if s != 0)
    nonzero = [s for s in signs if s != 0]
    positive = sum(1 for a, b in itertools.pairwise(nonzero) if a != b)  # Descartes: exact, all roots real
    negative = n - zeros - positive
    coordinates = point.coordinates
    eigenvalues = _numeric_eigenvalues(loss, point.approximate(), zeros)
    value = point.evaluate(point.reduce(loss.expr))
    if zeros == 0:
        kind = Kind.MINIMUM if negative == 0 else Kind.MAXIMUM if positive == 0 else Kind.SADDLE
        return CriticalPoint(
            point=coordinates, kind=kind, eigenvalues=eigenvalues, exact=True, degenerate=False,
            reason="Hessian eigenvalue signs", value=value,
        )  # fmt: skip
    kind, reason = _degenerate_kind(loss, coordinates, positive, negative)
    return CriticalPoint(
        point=coordinates, kind=kind, eigenvalues=eigenvalues, exact=True, degenerate=True, reason=reason,
        value=value,
    )  # fmt: skip


def _numeric_eigenvalues(loss: Loss, approximate: Sequence[sympy.Float], zeros: int) -> tuple[float, ...]:
    """Float eigenvalues of the Hessian, with exactly ``zeros`` of them (the smallest in size) set to 0.

    Computed with mpmath (which SymPy already loads) at the high-precision point, so that
    the exact path needs neither NumPy nor a compiled kernel: ``taylorlr solve`` starts fast.
    """
    import mpmath

    at = dict(zip(loss.variables, approximate, strict=True))
    hessian = loss.hessian.xreplace(at).evalf(_DIGITS)
    with mpmath.workdps(_DIGITS):
        values = sorted(float(v) for v in mpmath.eigsy(mpmath.matrix(hessian.tolist()), eigvals_only=True))
    for index in sorted(range(len(values)), key=lambda i: abs(values[i]))[:zeros]:
        values[index] = 0.0
    return tuple(values)


def _degenerate_kind(
    loss: Loss, coordinates: Sequence[sympy.Expr], positive: int, negative: int
) -> tuple[Kind, str]:
    """The kind at a point with a singular Hessian, from a higher-order argument, or "inconclusive"."""
    if positive and negative:
        return Kind.SADDLE, "the Hessian has eigenvalues of both signs"
    if not all(c.is_Rational for c in coordinates):
        return Kind.INCONCLUSIVE, "singular Hessian at an irrational point: higher-order test not attempted"
    sign = -1 if negative else 1  # study sign * f, whose Hessian is positive semidefinite
    return _reduced_function_kind(loss, coordinates, sign)


def _reduced_function_kind(loss: Loss, coordinates: Sequence[sympy.Expr], sign: int) -> tuple[Kind, str]:
    """Splitting lemma: minimise over the range of H for each null-space offset a; study g(a)."""
    variables = loss.variables
    at = dict(zip(variables, coordinates, strict=True))
    moved = loss.expr.xreplace({v: v + c for v, c in at.items()}) - loss.value_at(coordinates)
    shifted = sympy.Poly(sign * moved, *variables)
    hessian = sign * loss.hessian.xreplace(at)
    null, span = hessian.nullspace(), hessian.columnspace()
    a = tuple(sympy.Dummy(f"a_{i}", real=True) for i in range(len(null)))
    series = _SeriesRing(a, max(4, shifted.total_degree() + 1))
    curve = series.curve(null, span, _range_minimiser(series, shifted, null, span, hessian))
    reduced = series.evaluate(shifted, curve)
    if not reduced:
        return Kind.INCONCLUSIVE, (
            f"the reduced function on the Hessian's null space vanishes up to order {series.degree}"
        )
    k = min(sum(m) for m in reduced.monoms())
    form = series.to_expr(series.ring({m: c for m, c in reduced.items() if sum(m) == k}))
    definiteness, witness = _form_definiteness(form, a, k)
    path = sympy.Matrix([series.to_expr(c) for c in curve])
    return _kind_from_form(definiteness, witness, sign, bool(span), form, path, a, variables, coordinates, k)


class _SeriesRing:
    """Polynomials in the null-space coordinates a, truncated at a total degree."""

    def __init__(self, a: tuple[sympy.Symbol, ...], degree: int) -> None:
        from sympy.polys.rings import ring

        self.symbols, self.degree = a, degree
        self.ring, *self.generators = ring([s.name for s in a], sympy.QQ)

    def truncate(self, p: Any) -> Any:
        return self.ring({m: c for m, c in p.items() if sum(m) <= self.degree})

    def combine(self, coefficients: Sequence[Any], parts: Sequence[Any]) -> Any:
        """sum_j coefficients[j] * parts[j] (rational coefficients, series parts)."""
        return sum((self.ring(c) * p for c, p in zip(coefficients, parts, strict=True)), self.ring(0))

    def curve(self, null: list[sympy.Matrix], span: list[sympy.Matrix], u: list[Any]) -> list[Any]:
        """z(a) = N a + R u(a), one series per coordinate."""
        n = len(null[0]) if null else len(span[0])
        return [self.combine([v[i] for v in (*null, *span)], [*self.generators, *u]) for i in range(n)]

    def evaluate(self, poly: sympy.Poly, values: list[Any]) -> Any:
        """poly(values), truncated, reusing truncated powers."""
        powers: dict[tuple[int, int], Any] = {}

        def power(i: int, e: int) -> Any:
            if (i, e) not in powers:
                powers[i, e] = self.ring(1) if e == 0 else self.truncate(power(i, e - 1) * values[i])
            return powers[i, e]

        total = self.ring(0)
        for monom, coefficient in poly.terms():
            term = self.ring(coefficient)
            for i, e in enumerate(monom):
                if e:
                    term = self.truncate(term * power(i, e))
            total += term
        return self.truncate(total)

    def to_expr(self, p: Any) -> sympy.Expr:
        return p.as_expr(*self.symbols)


def _range_minimiser(
    series: _SeriesRing,
    shifted: sympy.Poly,
    null: list[sympy.Matrix],
    span: list[sympy.Matrix],
    hessian: sympy.Matrix,
) -> list[Any]:
    """u(a) with R^T grad f(N a + R u(a)) = 0, as truncated power series (chord iteration from u = 0)."""
    if not span:
        return []
    R = sympy.Matrix.hstack(*span)
    step = (R.T * hessian * R).inv() * R.T
    gradient = [shifted.diff(v) for v in shifted.gens]
    u = [series.ring(0)] * len(span)
    for _ in range(series.degree):
        g = [series.evaluate(d, series.curve(null, span, u)) for d in gradient]
        update = [u[j] - series.combine(list(step.row(j)), g) for j in range(len(span))]
        if update == u:
            break
        u = update
    return u


def _form_definiteness(
    form: sympy.Expr, a: tuple[sympy.Symbol, ...], k: int
) -> tuple[str, tuple[Any, ...] | None]:
    """How a homogeneous form of degree k behaves, with a direction where it is negative (if any).

    Returns "positive" or "negative" (definite), "indefinite", "takes-negative" (negative
    somewhere, definiteness unknown) or "semidefinite" (never seen negative, not definite).
    """
    candidates = _form_candidates(form, a, k)
    values = [(d, form.xreplace(dict(zip(a, d, strict=True)))) for d in candidates]
    negative = next((d for d, v in values if v < 0), None)
    positive = any(v > 0 for _, v in values)
    if negative is not None and positive:
        return "indefinite", negative
    definite = _is_definite(form, a, k)
    if negative is not None:
        return ("negative" if definite else "takes-negative"), negative
    return ("positive" if definite else "semidefinite"), None


def _is_definite(form: sympy.Expr, a: tuple[sympy.Symbol, ...], k: int) -> bool:
    """Whether the form vanishes only at 0 (decided for one or two null directions only)."""
    if k % 2 == 1 or len(a) > 2:
        return False
    if len(a) == 1:
        return True
    p = sympy.Poly(form.xreplace({a[0]: _U, a[1]: 1}), _U)
    return p.degree() == k and not p.real_roots()


def _form_candidates(form: sympy.Expr, a: tuple[sympy.Symbol, ...], k: int) -> list[tuple[Any, ...]]:
    """Probe directions, plus, for two null directions, points between and beyond the real roots."""
    candidates: list[tuple[Any, ...]] = list(probe_directions(len(a), limit=_FORM_PROBES))
    if len(a) == 2:
        p = sympy.Poly(form.xreplace({a[0]: _U, a[1]: 1}), _U)
        roots = sorted({sympy.Rational(round(float(r) * 2**20), 2**20) for r in p.real_roots()})
        gaps = [(lo + hi) / 2 for lo, hi in itertools.pairwise(roots)]
        ends = [roots[0] - 1, roots[-1] + 1] if roots else []
        candidates += [(s, 1) for s in (*gaps, *ends)] + [(-s, -1) for s in (*gaps, *ends)]
    return candidates


def probe_directions(m: int, limit: int | None = None) -> list[tuple[int, ...]]:
    """Coordinate axes, then directions with entries in {-1, 0, 1} and then {-2..2}: the first ``limit``.

    Generated lazily: there are 5^m of them, 244 million for m = 12.

    >>> probe_directions(12, limit=3)[2]
    (0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    """
    axes = [tuple(int(i == j) for j in range(m)) for i in range(m)]
    more = (d for r in (1, 2) for d in itertools.product(range(-r, r + 1), repeat=m) if any(d))
    every = itertools.chain(axes, (tuple(-x for x in d) for d in axes), more)
    return list(itertools.islice(every, limit))


def _kind_from_form(
    definiteness: str,
    witness: tuple[Any, ...] | None,
    sign: int,
    has_range: bool,
    form: sympy.Expr,
    curve: sympy.Matrix,
    a: tuple[sympy.Symbol, ...],
    variables: tuple[sympy.Symbol, ...],
    coordinates: Sequence[sympy.Expr],
    k: int,
) -> tuple[Kind, str]:
    lowest = Kind.MINIMUM if sign > 0 else Kind.MAXIMUM
    highest = Kind.MAXIMUM if sign > 0 else Kind.MINIMUM
    t = sympy.Dummy("t", real=True)
    named = _display_names((*a, t), variables)
    shown = sympy.factor(sign * form).xreplace(named)
    if definiteness == "positive":
        reason = f"the reduced function on the Hessian's null space starts with {shown}, definite"
        return lowest, reason + " (splitting lemma)"
    if definiteness == "negative" and not has_range:
        return highest, f"f - f(p) starts with {shown}, definite"
    if definiteness == "semidefinite" or (definiteness == "takes-negative" and not has_range):
        return Kind.INCONCLUSIVE, f"the reduced function starts with {shown}, which is not definite"
    assert witness is not None
    path = curve.xreplace(dict(zip(a, (t * w for w in witness), strict=True)))
    points = tuple(sympy.expand(c + pi).xreplace(named) for c, pi in zip(coordinates, path, strict=True))
    leading = sympy.expand(sign * form.xreplace(dict(zip(a, witness, strict=True)))) * named[t] ** k
    where = ", ".join(f"{v} = {p}" for v, p in zip(variables, points, strict=True))
    curvature = "positive" if sign > 0 else "negative"
    return Kind.SADDLE, (
        f"along the curve {where}: f - f(p) = {leading} + O({named[t]}^{k + 1}), "
        f"while the Hessian is {curvature} along its range"
    )


def _display_names(dummies: Sequence[sympy.Dummy], variables: Sequence[sympy.Symbol]) -> dict[Any, Any]:
    """Plain symbols to print the Dummies with: their own names, with primes until no variable has them.

    >>> x, t = sympy.symbols("x t")
    >>> _display_names([sympy.Dummy("t")], [x, t])
    {_t: t'}
    """
    taken = {v.name for v in variables}
    names = {}
    for d in dummies:
        name = d.name
        while name in taken:
            name += "'"
        taken.add(name)
        names[d] = sympy.Symbol(name, real=True)
    return names
