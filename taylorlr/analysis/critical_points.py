"""Critical points: exact for polynomial losses, numeric (and labelled) otherwise.

For a polynomial loss the critical equations grad f = 0 are solved exactly: a
Groebner basis (grevlex, converted to lex by FGLM) of the radical ideal in shape
position, x_i = p_i(t) and q(t) = 0 for a separating linear form t, then real-root
isolation of each irreducible factor h of q. Every point is an exact algebraic
number, and every sign that classifies it is decided exactly: a polynomial P
vanishes at a root of the irreducible h iff h divides P, and otherwise its sign
comes from a high-precision evaluation. The kind comes from the inertia of the
Hessian (Descartes' rule on its characteristic polynomial, exact because a
symmetric matrix has real eigenvalues); at a degenerate point from the reduced
function on the Hessian's null space (the splitting lemma), else "inconclusive".

>>> import taylorlr as tl
>>> [(p.point, p.kind, p.degenerate) for p in tl.Loss("x**2 + 3*x*y**2").critical_points()]
[((0, 0), 'saddle', True)]
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sympy

from taylorlr.errors import BudgetExceededError, LossDefinitionError, OptionError

if TYPE_CHECKING:
    from taylorlr.loss import Loss

KINDS = ("minimum", "maximum", "saddle", "inconclusive")
METHODS = ("auto", "exact", "numeric")
_DIGITS = 30
_SAMPLES = 12  # numeric samples shown from a curve or surface of critical points
_T = sympy.Symbol("t_", real=True)
_LAMBDA = sympy.Symbol("lambda_")


@dataclass(frozen=True)
class CriticalPoint:
    """A point where the gradient vanishes, and what kind of point it is.

    Attributes:
        point: the coordinates, exact SymPy numbers (``exact``) or floats.
        kind: "minimum", "maximum", "saddle" or "inconclusive".
        eigenvalues: the Hessian's eigenvalues there, ascending (floats; an
            eigenvalue that is exactly zero is 0.0).
        exact: whether ``point`` is an exact algebraic solution.
        degenerate: whether the Hessian is singular there.
        residual: ||grad f|| at the point (0.0 for exact points).
        reason: what settled the kind (always said for degenerate points).
        value: f at the point (exact, or a float).
    """

    point: tuple[Any, ...]
    kind: str
    eigenvalues: tuple[float, ...]
    exact: bool
    degenerate: bool
    residual: float = 0.0
    reason: str = ""
    value: Any = None

    @property
    def decimals(self) -> tuple[str, ...]:
        """The coordinates as 20-digit decimals."""
        return tuple(_decimal(c) for c in self.point)

    @property
    def floats(self) -> tuple[float, ...]:
        return tuple(float(c) for c in self.point)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: numbers as floats, exact values also as strings."""
        data: dict[str, Any] = {
            "point": list(self.floats),
            "kind": self.kind,
            "eigenvalues": list(self.eigenvalues),
            "exact": self.exact,
            "degenerate": self.degenerate,
            "residual": self.residual,
            "reason": self.reason,
            "decimals": list(self.decimals),
            "value": None if self.value is None else float(self.value),
        }
        if self.exact:
            data["point_exact"] = [str(c) for c in self.point]
            data["value_exact"] = str(self.value)
        return data


@dataclass(frozen=True)
class BoundedBelow:
    """Whether f looked bounded below along probed lines, with the evidence.

    Attributes:
        verdict: "unbounded" (proved: f -> -inf along ``direction``), "no evidence of
            unboundedness" (every probed line was bounded below: evidence, not proof).
        proof: True when the verdict is proved (an exact polynomial along a line).
        point: the lowest probed point, with ``value`` = f there.
        direction: the line's direction (for "unbounded").
        probes: how many lines were probed.
    """

    verdict: str
    proof: bool
    point: tuple[float, ...]
    value: float
    direction: tuple[float, ...] | None
    probes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "proof": self.proof,
            "point": list(self.point),
            "value": self.value,
            "direction": None if self.direction is None else list(self.direction),
            "probes": self.probes,
        }


@dataclass(frozen=True)
class CriticalPoints(Sequence[CriticalPoint]):
    """The critical points of a loss (a sequence of :class:`CriticalPoint`) and how they were found.

    Attributes:
        points: the critical points, sorted by coordinates.
        status: "complete" (exact: all real critical points), "budget-exceeded" (the
            exact solve ran out of time: numeric points), "numeric" (a non-polynomial
            loss or method="numeric") or "positive-dimensional" (infinitely many:
            numeric samples).
        bounded_below: the bounded-below evidence.
        elapsed_s: wall time taken.
        note: what happened, in a sentence.
    """

    points: tuple[CriticalPoint, ...]
    status: str
    bounded_below: BoundedBelow | None
    elapsed_s: float
    note: str = ""

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, index: Any) -> Any:
        return self.points[index]

    def __iter__(self) -> Iterator[CriticalPoint]:
        return iter(self.points)

    def counts(self) -> dict[str, int]:
        """How many points of each kind."""
        result = dict.fromkeys(KINDS, 0)
        for p in self.points:
            result[p.kind] += 1
        return {k: v for k, v in result.items() if v}

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "note": self.note,
            "elapsed_s": self.elapsed_s,
            "counts": self.counts(),
            "critical_points": [p.to_dict() for p in self.points],
            "bounded_below": None if self.bounded_below is None else self.bounded_below.to_dict(),
        }


def critical_points(
    loss: Loss,
    *,
    budget_s: float = 30.0,
    method: str = "auto",
    box: float = 5.0,
    seeds: int = 512,
    probes: int = 24,
) -> CriticalPoints:
    """All real critical points of ``loss``, exact where algebra allows.

    Args:
        loss: the :class:`~taylorlr.Loss` (without data symbols).
        budget_s: time allowed for the exact solve; when it runs out the numeric
            search takes over and the status says "budget-exceeded".
        method: "auto" (exact for polynomials with rational coefficients, else
            numeric), "exact" (raise if it cannot be done) or "numeric".
        box: the numeric search starts from ``seeds`` points in [-box, box]^n.
        seeds: the number of numeric start points.
        probes: the number of lines probed for the bounded-below evidence.

    Returns:
        A :class:`CriticalPoints` record (a sequence of :class:`CriticalPoint`).

    Raises:
        BudgetExceededError: method="exact" and the budget ran out.
        OptionError: an unknown method, or method="exact" on a loss that is not a
            polynomial with rational coefficients.

    >>> import taylorlr as tl
    >>> result = tl.Loss("x**4 - 2*x**2").critical_points()
    >>> [(p.point, p.kind) for p in result], result.status
    ([((-1,), 'minimum'), ((0,), 'maximum'), ((1,), 'minimum')], 'complete')
    """
    started = time.perf_counter()
    _check_options(loss, method, budget_s)
    exact_ok = _has_rational_polynomial(loss)
    if method == "exact" and not exact_ok:
        raise OptionError(
            f"method='exact' needs a polynomial with rational coefficients, got {loss.expr}; "
            "use method='auto'"
        )
    points, status, note = None, "numeric", "numeric multi-start Newton search: evidence, not proof"
    if exact_ok and method != "numeric":
        try:
            with _deadline(budget_s):
                points, status, note = _exact_points(loss)
        except BudgetExceededError:
            if method == "exact":
                raise
            status, note = "budget-exceeded", f"the exact solve ran past budget_s={budget_s}; numeric points"
    if points is None:
        points = _numeric_points(loss, box, seeds)
        if status == "positive-dimensional":
            points = points[:: max(1, len(points) // _SAMPLES)][:_SAMPLES]
    bounded = _bounded_below(loss, points, probes)
    return CriticalPoints(tuple(_sorted(points)), status, bounded, time.perf_counter() - started, note)


def analyse(loss: Loss, **options: Any) -> CriticalPoints:
    """The same record as :func:`critical_points` (a report-friendly name)."""
    return critical_points(loss, **options)


def _check_options(loss: Loss, method: str, budget_s: float) -> None:
    if method not in METHODS:
        raise OptionError(f"method must be one of {METHODS}, got {method!r}")
    if not budget_s > 0:
        raise OptionError(f"budget_s must be positive, got {budget_s!r}")
    if loss.data:
        raise LossDefinitionError(
            f"critical points need fixed data, but {loss.names_of(loss.data)} are data symbols: "
            "substitute numbers for them first"
        )


def _has_rational_polynomial(loss: Loss) -> bool:
    if not loss.is_polynomial:
        return False
    return sympy.Poly(loss.expr, *loss.variables).domain in (sympy.ZZ, sympy.QQ)


def _sorted(points: list[CriticalPoint]) -> list[CriticalPoint]:
    return sorted(points, key=lambda p: p.floats)


# the time budget ----------------------------------------------------------------------------


@contextlib.contextmanager
def _deadline(budget_s: float) -> Iterator[None]:
    """Raise BudgetExceededError inside the block after ``budget_s`` (SIGALRM, main thread only).

    SymPy's Groebner code has no cancellation hook; a timer signal interrupts it
    between bytecodes. Off the main thread (or without SIGALRM) the block runs to the end.
    """
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise BudgetExceededError(f"the exact critical-point solve ran past its budget of {budget_s} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, budget_s)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# exact solutions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _AlgebraicPoint:
    """Coordinates x_i = reps[i](r) at a real root r of the irreducible polynomial ``h`` in _T."""

    h: sympy.Poly
    reps: tuple[sympy.Poly, ...]
    root: sympy.Expr
    variables: tuple[sympy.Symbol, ...] = field(repr=False)

    def reduce(self, expr: sympy.Expr) -> sympy.Poly:
        """expr (a polynomial in the variables and _T) at the point: a polynomial in _T of degree < deg h."""
        poly = sympy.Poly(expr, *self.variables, _T)
        total = sympy.Poly(0, _T)
        for monom, coefficient in poly.terms():
            term = sympy.Poly(coefficient * _T ** monom[-1], _T)
            for rep, e in zip(self.reps, monom[:-1], strict=False):
                term = (term * rep**e).rem(self.h) if e else term
            total += term
        return total.rem(self.h)

    def evaluate(self, reduced: sympy.Poly) -> sympy.Expr:
        """The exact value of a reduced polynomial at the root (closed form up to degree 2)."""
        if reduced.is_zero:
            return sympy.Integer(0)
        if self.h.degree() == 1:
            return reduced.eval(self.root)
        value = reduced.as_expr().xreplace({_T: self.root})
        return sympy.radsimp(sympy.expand(value)) if self.h.degree() == 2 else value

    def sign(self, expr: sympy.Expr) -> int:
        """The exact sign of expr at the point (zero exactly when h divides it)."""
        reduced = self.reduce(expr)
        if reduced.is_zero:
            return 0
        if self.h.degree() == 1:
            return int(sympy.sign(reduced.eval(self.root)))
        digits = 2 * _DIGITS
        while True:  # reduced(root) != 0 because h is irreducible: refine until the sign shows
            value = sympy.Poly(reduced, _T).eval(sympy.Float(self.root.evalf(digits), digits))
            if abs(value) > sympy.Float(10) ** (8 - digits) or digits > 2000:
                return 1 if value > 0 else -1
            digits *= 2

    def approximate(self, digits: int = _DIGITS) -> tuple[sympy.Float, ...]:
        """The coordinates to ``digits`` significant digits (from the refined root)."""
        root = sympy.Float(self.root.evalf(digits + 10), digits + 10)
        return tuple(
            sympy.Float(r.eval(root), digits) if not r.is_zero else sympy.Float(0) for r in self.reps
        )

    @property
    def coordinates(self) -> tuple[sympy.Expr, ...]:
        return tuple(self.evaluate(r) for r in self.reps)


def _exact_points(loss: Loss) -> tuple[list[CriticalPoint] | None, str, str]:
    gradient = [sympy.expand(g) for g in loss.gradient]
    basis = sympy.groebner(gradient, *loss.variables, order="grevlex")
    if basis.exprs == [1]:
        return [], "complete", "exact: no real or complex critical point"
    if not basis.is_zero_dimensional:
        return None, "positive-dimensional", "the critical points form a curve or surface; numeric samples"
    points = [_classify(loss, p) for p in _real_solutions(basis, loss.variables)]
    return points, "complete", "exact: Groebner basis and real-root isolation"


def _real_solutions(basis: Any, variables: tuple[sympy.Symbol, ...]) -> list[_AlgebraicPoint]:
    shape = _shape_form(basis, variables, variables[-1])
    if shape is None:
        radical = _radical(basis, variables)
        shape = _separated_shape(radical, variables)
    reps, q = shape
    result = []
    for factor, _ in sympy.factor_list(q.as_expr(), _T)[1]:
        h = sympy.Poly(factor, _T)
        reduced = tuple(r.rem(h) for r in reps)
        for root in h.real_roots(radicals=True):
            result.append(_AlgebraicPoint(h, reduced, root, variables))
    return result


def _shape_form(
    basis: Any, variables: tuple[sympy.Symbol, ...], last: sympy.Symbol
) -> tuple[tuple[sympy.Poly, ...], sympy.Poly] | None:
    """x_i = p_i(last), q(last) = 0 from a lex basis, or None when not in shape position."""
    lex = basis.fglm("lex").exprs
    others = [v for v in variables if v != last]
    if len(lex) != len(others) + 1:
        return None
    reps: dict[sympy.Symbol, sympy.Expr] = {}
    for poly, var in zip(lex[:-1], others, strict=True):
        p = sympy.Poly(poly, var)
        if p.degree() != 1 or not p.LC().is_number or p.LC().free_symbols:
            return None
        reps[var] = -p.nth(0) / p.LC()
    reps[last] = last
    as_t = {last: _T}
    polys = tuple(sympy.Poly(sympy.expand(reps[v]).xreplace(as_t), _T) for v in variables)
    if any(set(p.free_symbols) - {_T} for p in polys):
        return None
    return polys, sympy.Poly(lex[-1].xreplace(as_t), _T)


def _radical(basis: Any, variables: tuple[sympy.Symbol, ...]) -> Any:
    """Seidenberg: I + <squarefree part of the eliminant of each variable> is radical."""
    extra = []
    for var in variables:
        order = [v for v in variables if v != var] + [var]
        eliminant = sympy.groebner(basis.exprs, *order, order="grevlex").fglm("lex").exprs[-1]
        extra.append(sympy.sqf_part(eliminant))
    return sympy.groebner(list(basis.exprs) + extra, *variables, order="grevlex")


def _separated_shape(
    radical: Any, variables: tuple[sympy.Symbol, ...]
) -> tuple[tuple[sympy.Poly, ...], sympy.Poly]:
    """The shape form for t = sum c_i x_i, trying small integer c until t separates the points."""
    for c in _separating_candidates(len(variables)):
        s = sympy.Symbol("s_", real=True)
        form = s - sum(ci * v for ci, v in zip(c, variables, strict=True))
        basis = sympy.groebner([*radical.exprs, form], *variables, s, order="grevlex")
        shape = _shape_form(basis, (*variables, s), s)
        if shape is not None:
            return shape[0][:-1], shape[1]
    raise ArithmeticError("no separating linear form found among small integer forms")


def _separating_candidates(n: int) -> Iterator[tuple[int, ...]]:
    for k in range(1, 8):
        yield tuple(k**i for i in range(n))


# classification -----------------------------------------------------------------------------


def _classify(loss: Loss, point: _AlgebraicPoint) -> CriticalPoint:
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
        kind = "minimum" if negative == 0 else "maximum" if positive == 0 else "saddle"
        return CriticalPoint(
            coordinates, kind, eigenvalues, True, False, 0.0, "Hessian eigenvalue signs", value
        )
    kind, reason = _degenerate_kind(loss, coordinates, positive, negative)
    return CriticalPoint(coordinates, kind, eigenvalues, True, True, 0.0, reason, value)


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
) -> tuple[str, str]:
    """The kind at a point with a singular Hessian, from a higher-order argument, or "inconclusive"."""
    if positive and negative:
        return "saddle", "the Hessian has eigenvalues of both signs"
    if not all(c.is_Rational for c in coordinates):
        return "inconclusive", "singular Hessian at an irrational point: higher-order test not attempted"
    sign = -1 if negative else 1  # study sign * f, whose Hessian is positive semidefinite
    return _reduced_function_kind(loss, coordinates, sign)


def _reduced_function_kind(loss: Loss, coordinates: Sequence[sympy.Expr], sign: int) -> tuple[str, str]:
    """Splitting lemma: minimise over the range of H for each null-space offset a; study g(a)."""
    variables = loss.variables
    at = dict(zip(variables, coordinates, strict=True))
    moved = loss.expr.xreplace({v: v + c for v, c in at.items()}) - loss.value_at(coordinates)
    shifted = sympy.Poly(sign * moved, *variables)
    hessian = sign * loss.hessian.xreplace(at)
    null, span = hessian.nullspace(), hessian.columnspace()
    a = sympy.symbols(f"a_0:{len(null)}", real=True)
    series = _SeriesRing(a, max(4, shifted.total_degree() + 1))
    curve = series.curve(null, span, _range_minimiser(series, shifted, null, span, hessian))
    reduced = series.evaluate(shifted, curve)
    if not reduced:
        return "inconclusive", (
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
    p = sympy.Poly(form.xreplace({a[0]: _T, a[1]: 1}), _T)
    return p.degree() == k and not p.real_roots()


def _form_candidates(form: sympy.Expr, a: tuple[sympy.Symbol, ...], k: int) -> list[tuple[Any, ...]]:
    """Probe directions, plus, for two null directions, points between and beyond the real roots."""
    candidates: list[tuple[Any, ...]] = list(_probe_directions(len(a)))
    if len(a) == 2:
        p = sympy.Poly(form.xreplace({a[0]: _T, a[1]: 1}), _T)
        roots = sorted({sympy.Rational(round(float(r) * 2**20), 2**20) for r in p.real_roots()})
        gaps = [(lo + hi) / 2 for lo, hi in itertools.pairwise(roots)]
        ends = [roots[0] - 1, roots[-1] + 1] if roots else []
        candidates += [(s, 1) for s in (*gaps, *ends)] + [(-s, -1) for s in (*gaps, *ends)]
    return candidates


def _probe_directions(m: int) -> list[tuple[int, ...]]:
    """Coordinate axes, then every direction with entries in {-1, 0, 1} and then {-2..2}."""
    axes = [tuple(int(i == j) for j in range(m)) for i in range(m)]
    more = [d for r in (1, 2) for d in itertools.product(range(-r, r + 1), repeat=m) if any(d)]
    return axes + [tuple(-x for x in d) for d in axes] + more


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
) -> tuple[str, str]:
    lowest = "minimum" if sign > 0 else "maximum"
    highest = "maximum" if sign > 0 else "minimum"
    shown = sympy.factor(sign * form)
    if definiteness == "positive":
        reason = f"the reduced function on the Hessian's null space starts with {shown}, definite"
        return lowest, reason + " (splitting lemma)"
    if definiteness == "negative" and not has_range:
        return highest, f"f - f(p) starts with {shown}, definite"
    if definiteness == "semidefinite" or (definiteness == "takes-negative" and not has_range):
        return "inconclusive", f"the reduced function starts with {shown}, which is not definite"
    t = sympy.Symbol("t", real=True)
    assert witness is not None
    path = curve.xreplace(dict(zip(a, (t * w for w in witness), strict=True)))
    points = tuple(sympy.expand(c + pi) for c, pi in zip(coordinates, path, strict=True))
    leading = sympy.expand(sign * form.xreplace(dict(zip(a, witness, strict=True)))) * t**k
    where = ", ".join(f"{v} = {p}" for v, p in zip(variables, points, strict=True))
    curvature = "positive" if sign > 0 else "negative"
    return "saddle", (
        f"along the curve {where}: f - f(p) = {leading} + O(t^{k + 1}), "
        f"while the Hessian is {curvature} along its range"
    )


# numeric search ------------------------------------------------------------------------------


def _numeric_points(loss: Loss, box: float, seeds: int) -> list[CriticalPoint]:
    """Newton with the exact Hessian from many seeds, deduplicated; each point labelled exact=False."""
    import numpy

    from taylorlr.numerics.newton import newton

    rng = numpy.random.default_rng(0)
    starts = rng.uniform(-box, box, size=(seeds, loss.n))
    compiled = loss.compile()
    with numpy.errstate(all="ignore"):  # seeds outside the domain (log of a negative) give NaN
        run = newton(loss, starts, steps=60, tol=1e-12, fallback="damped")
        points = numpy.asarray(run.point)
        residual = numpy.linalg.norm(compiled.grad(points), axis=-1)
        values = numpy.asarray(compiled.value(points))
    # a critical point has a finite value, a gradient that vanishes on the scale of f, and
    # lies near the search box: Newton walking off along an asymptote (exp(x) as x -> -inf,
    # log(x) + 1/x as x -> -inf through NaN) shrinks the gradient without reaching a zero
    inside = numpy.abs(points).max(axis=-1) <= 2 * box
    good = numpy.isfinite(values) & numpy.isfinite(residual) & inside
    good &= residual <= 1e-8 * numpy.maximum(1.0, numpy.abs(numpy.where(good, values, 0.0)))
    return [_numeric_point(compiled, w, r) for w, r in _deduplicate(points[good], residual[good])]


def _deduplicate(points: Any, residuals: Any) -> list[tuple[Any, float]]:
    import numpy

    kept: list[tuple[Any, float]] = []
    for index in numpy.argsort(residuals):
        w = points[index]
        # Newton converges only linearly to degenerate points: merge within 1e-3 (relative)
        if all(numpy.linalg.norm(w - k) > 1e-3 * (1.0 + numpy.linalg.norm(k)) for k, _ in kept):
            kept.append((w, float(residuals[index])))
    return kept


def _numeric_point(compiled: Any, w: Any, residual: float) -> CriticalPoint:
    import numpy

    eigenvalues = numpy.linalg.eigvalsh(compiled.hess(w))
    scale = max(1.0, float(numpy.abs(eigenvalues).max()))
    degenerate = bool(numpy.abs(eigenvalues).min() <= 1e-8 * scale)
    if degenerate:
        kind, reason = "inconclusive", "numeric point with a nearly singular Hessian: not settled"
    else:
        kind = "minimum" if eigenvalues[0] > 0 else "maximum" if eigenvalues[-1] < 0 else "saddle"
        reason = "numeric Hessian eigenvalue signs"
    return CriticalPoint(
        tuple(float(c) for c in w), kind, tuple(float(v) for v in eigenvalues), False, degenerate,
        residual, reason, float(compiled.value(w)),
    )  # fmt: skip


# bounded below --------------------------------------------------------------------------------


def _bounded_below(loss: Loss, points: list[CriticalPoint], probes: int) -> BoundedBelow:
    """Probe f along lines through the lowest critical point (or 0): exact for polynomials."""
    base = min(points, key=lambda p: float(p.value)).floats if points else (0.0,) * loss.n
    directions = _probe_directions(loss.n)[:probes]
    if loss.is_polynomial:
        for d in directions:
            unbounded = _unbounded_along(loss, base, d)
            if unbounded is not None:
                return unbounded
    return _lowest_probe(loss, base, directions)


def _unbounded_along(loss: Loss, base: tuple[float, ...], d: tuple[int, ...]) -> BoundedBelow | None:
    t = sympy.Symbol("t", real=True)
    origin = [sympy.Rational(repr(b)) for b in base]
    line = sympy.Poly(
        loss.expr.xreplace({v: o + t * di for v, o, di in zip(loss.variables, origin, d, strict=False)}), t
    )
    degree, lead = line.degree(), line.LC()
    if degree <= 0 or (degree % 2 == 0 and lead > 0):
        return None
    direction = d if lead < 0 else tuple(-x for x in d)
    scale = 1 if lead < 0 else -1
    target = float(line.eval(0)) - 1.0
    step = 1.0
    while float(line.eval(sympy.Rational(scale * step))) >= target:
        step *= 2
    point = tuple(b + scale * step * di for b, di in zip(base, d, strict=True))
    return BoundedBelow("unbounded", True, point, float(line.eval(sympy.Rational(scale * step))),
                        tuple(float(x) for x in direction), 1)  # fmt: skip


def _lowest_probe(loss: Loss, base: tuple[float, ...], directions: list[tuple[int, ...]]) -> BoundedBelow:
    import numpy

    compiled = loss.compile()
    steps = numpy.geomspace(1e-2, 1e4, 25)
    D = numpy.asarray(directions, dtype=float)
    W = numpy.asarray(base)[None, None, :] + steps[None, :, None] * D[:, None, :]
    with numpy.errstate(all="ignore"):
        values = numpy.asarray(compiled.value(W))
    values = numpy.where(numpy.isfinite(values), values, numpy.inf)
    i, j = numpy.unravel_index(int(numpy.argmin(values)), values.shape)
    return BoundedBelow(
        "no evidence of unboundedness (probed lines only)", False, tuple(float(x) for x in W[i, j]),
        float(values[i, j]), None, len(directions),
    )  # fmt: skip


def _decimal(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(sympy.N(value, 20))
