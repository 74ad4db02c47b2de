"""The line-search oracle: exact line minimisers, names that cannot reach it, built once per loss."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import sympy
from forked import in_fork
from hypothesis import example, given, settings
from hypothesis import strategies as st

import taylorlr as tl
from taylorlr.alpha import oracle

#: names the oracle's symbols and kernels have used, or might: a variable may be called any of them
INTERNAL_NAMES = (
    "alpha", "u_x", "u_y", "u_p", "u_q", "u0", "u1", "t", "v0", "v_x", "x0", "x1",
    "a0_0", "a0_1", "a1_0", "a1_1", "kernel", "xp", "s_", "t_", "Dummy",
)  # fmt: skip


def exact_line_minimum(expr: sympy.Expr, variables, theta, omega) -> sympy.Expr | None:
    """The polynomial oracle's alpha*, exactly (SymPy): over the local minimisers of
    g(alpha) = f(theta - alpha omega), the lowest positive one, else the negative one nearest 0.

    None when g' has a multiple root (a degenerate minimum, which floats locate only to about
    eps^(1/3)) or g has no local minimiser.
    """
    a = sympy.Symbol("a", real=True)
    g = sympy.expand(expr.xreplace({w: t - a * o for w, t, o in zip(variables, theta, omega, strict=True)}))
    slope = sympy.Poly(sympy.diff(g, a), a)
    if slope.is_zero or sympy.degree(sympy.gcd(slope, slope.diff(a))) > 0:
        return None
    curvature = sympy.diff(g, a, 2)
    minima = [r for r in sympy.real_roots(slope) if curvature.subs(a, r) > 0]
    positive = [r for r in minima if r > 0]
    if positive:
        return min(positive, key=lambda r: g.subs(a, r))
    return max(minima) if minima else None


@st.composite
def quadratics(draw):
    """f = w^T A w / 2 - b^T w over two variables, A = M^T M + I (exact SPD), integer entries."""
    m = sympy.Matrix(2, 2, [draw(st.integers(-3, 3)) for _ in range(4)])
    a = m.T * m + sympy.eye(2)
    b = sympy.Matrix([draw(st.integers(-4, 4)) for _ in range(2)])
    theta = [sympy.Rational(draw(st.integers(-8, 8)), 4) for _ in range(2)]
    return a, b, theta


@settings(max_examples=25, deadline=None, derandomize=True)
@given(quadratics())
def test_on_quadratics_the_oracle_is_the_closed_form_line_minimiser(problem):
    a, b, theta = problem
    p, q = sympy.symbols("p q", real=True)
    w = sympy.Matrix([p, q])
    f = (w.T * a * w / 2 - b.T * w)[0]
    g = a * sympy.Matrix(theta) - b  # the gradient at theta, the direction of gd
    if g == sympy.zeros(2, 1):
        return
    exact = (g.T * g)[0] / (g.T * a * g)[0]  # alpha* = <g, omega> / omega^T A omega, omega = g
    run = tl.run(tl.Loss(f, variables=[p, q]), [float(t) for t in theta], steps=1, tol=0.0)
    assert run.oracle_alphas[0] == pytest.approx(float(exact), rel=1e-12)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    st.lists(st.integers(-3, 3), min_size=4, max_size=4),
    st.lists(st.integers(-6, 6), min_size=2, max_size=2),
    st.lists(st.integers(-3, 3), min_size=2, max_size=2),
)
@example(c=[0, 0, 0, 1], theta=[3, 3], omega=[-1, -1])  # an ascent direction: alpha* = -1
def test_on_quartics_the_oracle_is_the_exact_line_minimiser(c, theta, omega):
    x, y = sympy.symbols("x y", real=True)
    f = x**4 + (y - c[0]) ** 4 / 2 + c[1] * x**2 * y + c[2] * x * y + c[3] * y**2
    theta = [sympy.Rational(t, 3) for t in theta]
    if omega == [0, 0]:
        return
    loss = tl.Loss(f, variables=[x, y])
    line = oracle.build_line_oracle(loss, loss.compile())
    got = float(line.minimise(np.array([float(t) for t in theta]), np.array(omega, float), np.array(0.1), {}))
    exact = exact_line_minimum(f, (x, y), theta, omega)
    if exact is not None:
        assert got == pytest.approx(float(exact), rel=1e-9)


#: every internal name beside an ordinary one, and pairs that would collide with each other
NAME_PAIRS = [
    *((name, "y") for name in INTERNAL_NAMES),
    ("x", "u_x"),
    ("u_y", "y"),
    ("alpha", "u_alpha"),
    ("u0", "u1"),
    ("a0_0", "a1_0"),
    ("x0", "v0"),
]
TEMPLATE = "({0} - 1)**2 + 4*{1}**2 + {0}**2*{1}**2/3 + {0}*{1}"
STARTS = [[0.0, 1.0], [2.0, -1.5]]


@pytest.fixture(scope="module")
def plain_run():
    plain = tl.Loss(TEMPLATE.format("p", "q"), variables=["p", "q"])
    return tl.run(plain, STARTS, "momentum", steps=4, tol=0.0)


@pytest.mark.parametrize(("first", "second"), NAME_PAIRS)
def test_variables_named_like_internal_symbols_change_no_oracle_alpha(first, second, plain_run):
    named = tl.Loss(TEMPLATE.format(first, second), variables=[first, second])
    run = tl.run(named, STARTS, "momentum", steps=4, tol=0.0)
    assert run.oracle_method == plain_run.oracle_method == "polynomial roots"
    np.testing.assert_allclose(run.oracle_alphas, plain_run.oracle_alphas, rtol=1e-12)
    np.testing.assert_allclose(run.points, plain_run.points, rtol=1e-12)


def test_a_variable_named_alpha_gets_the_true_oracle_alpha():
    # (alpha - 1)^2 + 4 x^2 from (0, 1): g = (2, -8)... alpha* = |g|^2 / g^T H g = 68 / 520
    run = tl.run("(alpha - 1)**2 + 4*x**2", [0.0, 1.0], steps=1)
    assert run.oracle_alphas[0] == pytest.approx(68 / 520, rel=1e-14)


def test_the_default_direction_never_reuses_a_variable_of_the_same_name():
    loss = tl.Loss("x**2 + u_x*y")  # variables u_x, x, y
    default = loss.vector_symbols("u")
    assert not set(default) & loss.expr.free_symbols
    u = sympy.symbols("d0:3", real=True)
    rename = dict(zip(default, u, strict=True))
    c2 = loss.line_polynomial()[2].xreplace(rename)
    assert sympy.expand(c2 - (u[1] ** 2 + u[0] * u[2])) == 0
    assert sympy.expand(loss.line_polynomial(u)[2] - c2) == 0


def test_the_oracle_is_built_once_per_loss(monkeypatch):
    loss = tl.Loss("(x - 1)**4 + y**2")
    calls = []
    original = type(loss).line_degree  # the one build step: the degree (no symbolic expansion)

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(loss), "line_degree", counted)
    first = tl.run(loss, [0.0, 1.0], steps=3)
    second = tl.run(loss, [0.0, 1.0], steps=3)
    assert len(calls) == 1
    np.testing.assert_array_equal(first.oracle_alphas, second.oracle_alphas)
    assert oracle.build_line_oracle(loss, loss.compile("numpy", "float32")) is not oracle.build_line_oracle(
        loss, loss.compile()
    )
    assert len(calls) == 2  # another dtype: another kernel


# --------------------------------------------------------------------------- root finding, golden section


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.integers(-9, 9), min_size=2, max_size=6), st.integers(1, 9))
def test_polynomial_oracle_is_the_best_positive_local_minimum(coefficients, leading):
    c = np.array([*coefficients, leading], dtype=float)  # ascending, degree >= 2
    if len(c) % 2 == 0:
        c = np.append(c, 1.0)  # even degree, bounded below
    alpha = float(oracle.polynomial_line_minimum(c[None, :])[0])
    grid = np.linspace(1e-6, 50.0, 400_001)
    values = np.polyval(c[::-1], grid)
    slope0 = c[1]
    interior = np.argmin(values)
    if slope0 < 0 and 0 < interior < grid.size - 1:
        assert np.polyval(c[::-1], alpha) <= values.min() + 1e-6
        assert abs(np.polyval(np.polyder(c[::-1]), alpha)) < 1e-6 * (
            1 + np.abs(c).sum() * (1 + abs(alpha)) ** len(c)
        )


def test_golden_oracle_matches_a_bracketed_scalar_minimiser():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    loss = tl.Loss("log(1 + x**2) + exp(y/3) + y**2/2 + x*y/4")
    compiled = loss.compile()
    line = oracle.build_line_oracle(loss, compiled)
    assert line.method == "golden section (local)"
    theta, omega = np.array([[1.5, -0.5], [0.3, 2.0]]), compiled.grad(np.array([[1.5, -0.5], [0.3, 2.0]]))
    got = line.minimise(theta, omega, np.array([0.1, 0.1]), {})
    for k in range(2):
        best = scipy_optimize.minimize_scalar(
            lambda a, k=k: compiled.value(theta[k] - a * omega[k]),
            bounds=(0.0, 20.0),
            method="bounded",
            options={"xatol": 1e-12},
        )
        assert got[k] == pytest.approx(best.x, rel=1e-5)


def test_the_oracle_cache_lets_its_loss_go():
    loss = tl.Loss("(x - 2)**2 + x*y + y**4")
    tl.run(loss, [0.0, 1.0], steps=2)
    gone = weakref.ref(loss)
    del loss
    gc.collect()
    assert gone() is None


# --------------------------------------------------------------------------- the numeric oracle


def exact_slope_minimiser(p: list[int]):
    """Over the strict local minimisers of G = integral of p (roots of p with p' > 0): the lowest
    positive one, else the negative one nearest 0; None for a multiple root or no minimiser."""
    t = sympy.Symbol("t", real=True)
    poly = sympy.Poly(list(reversed(p)), t)
    if poly.is_zero or poly.degree() < 1 or sympy.degree(sympy.gcd(poly, poly.diff(t))) > 0:
        return None
    big = sympy.integrate(poly.as_expr(), t)
    minima = [r for r in sympy.real_roots(poly) if poly.diff(t).eval(r) > 0]
    positive = [r for r in minima if r > 0]
    if positive:
        return min(positive, key=lambda r: big.subs(t, r))
    return max(minima) if minima else None


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(2, 4).flatmap(lambda k: st.lists(st.integers(-9, 9), min_size=k, max_size=k)))
@example([-9, 0, 1, 0])  # p = t^2 - 9 written as a cubic: the degree drops, t* = 3
@example([3, 7, -6, 7])  # one real root (Cardano's branch)
def test_the_compiled_root_loop_is_the_exact_minimiser(p):
    simd = pytest.importorskip("taylorlr.compile.simd_codegen")
    if not simd.available():
        pytest.skip("no llvmlite")
    from taylorlr.alpha._line_roots import roots_kernel

    nodes = np.cos(np.pi * (np.arange(len(p)) + 0.5) / len(p))
    values = np.array([[sum(c * t**k for k, c in enumerate(p)) for t in nodes]])
    t_star, curvature, bound = roots_kernel(nodes).stacked(np, [values], (1,), None)[0]
    exact = exact_slope_minimiser(p)
    roots = np.roots(p[::-1]) if p[-1] else np.roots(p[-2::-1])
    assert np.all(np.abs(roots) <= bound * (1 + 1e-12)) if p[-1] else True  # the bound holds
    if exact is None:
        return
    assert t_star == pytest.approx(float(exact), rel=1e-9, abs=1e-12)
    slope = sum(k * c * float(exact) ** (k - 1) for k, c in enumerate(p) if k)
    assert curvature == pytest.approx(slope, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("guess", [1e-8, 1e-5, 1e-3, 1.0, 1e3, 1e5, 1e8])
def test_the_guess_changes_no_oracle_alpha(guess):
    # the nodes sit at the guess' scale; a root found far from it is found again from nodes on its own
    x, y = sympy.symbols("x y", real=True)
    f = x**4 + (y - 2) ** 4 / 2 - 3 * x**2 * y + x * y + 2 * y**2
    theta, omega = [sympy.Rational(5, 3), -1], [2, -1]
    loss = tl.Loss(f, variables=[x, y])
    line = oracle.build_line_oracle(loss, loss.compile())
    got = float(line.minimise(np.array([5 / 3, -1.0]), np.array([2.0, -1.0]), np.array(guess), {}))
    assert got == pytest.approx(float(exact_line_minimum(f, (x, y), theta, omega)), rel=1e-11)


def test_a_member_gets_the_same_oracle_alpha_alone_or_in_a_batch():
    loss = tl.Loss("(x - 1)**4 + x*y + y**2 - x**2*y")
    starts = np.random.default_rng(0).uniform(-2, 2, (37, 2))
    batch = tl.run(loss, starts, steps=3, tol=0.0)
    alone = tl.run(loss, starts[5], steps=3, tol=0.0)
    np.testing.assert_array_equal(batch.oracle_alphas[:, 5], alone.oracle_alphas)


def test_over_its_budget_the_oracle_is_a_local_search_and_the_run_says_so(monkeypatch):
    monkeypatch.setattr(oracle, "BUILD_BUDGET_S", 0.0)
    run = tl.run("(x - 1)**4 + 3*y**2 + x*y", [0.0, 1.0], steps=2, tol=0.0)
    assert run.oracle_method == oracle.OracleMethod.OVER_BUDGET
    assert "budget" in oracle.OracleMethod(run.oracle_method).message
    assert run.to_dict()["oracle_method"] == str(oracle.OracleMethod.OVER_BUDGET)
    exact = tl.run("(x - 1)**4 + 3*y**2 + x*y", [0.0, 1.0], steps=2, tol=0.0)  # a new loss: built again
    assert exact.oracle_method == "golden section (local; the exact oracle was over its budget)"


def test_within_its_budget_the_polynomial_oracle_is_exact_and_says_so():
    run = tl.run("(x - 1)**4 + 3*y**2 + x*y", [0.0, 1.0], steps=2, tol=0.0)
    assert run.oracle_method == oracle.OracleMethod.POLYNOMIAL == "polynomial roots"


def test_a_polynomial_above_the_exact_oracles_degree_gets_the_local_search():
    loss = tl.Loss(f"x**{oracle.MAX_DEGREE + 2} + y**2")
    assert oracle.build_line_oracle(loss, loss.compile()).method == oracle.OracleMethod.GOLDEN


@pytest.mark.parametrize(
    ("text", "degree"),
    [("x", 1), ("(x - y**2)**2 + 3*x*y + 1", 4), ("(x*y + 1)**3*(x + 2)", 7), ("x**2*exp(2)", 2)],
)
def test_line_degree_bounds_the_total_degree(text, degree):
    loss = tl.Loss(text)
    assert loss.line_degree() == degree == sympy.Poly(loss.expr, *loss.variables).total_degree()


def test_line_degree_respects_its_deadline():
    with pytest.raises(tl.errors.BudgetExceededError, match="budget"):
        tl.Loss("(x + y)**3 + x*y").line_degree(deadline=0.0)


# ------------------------------------------------------------------- the oracle read in the tiles


@pytest.mark.parametrize("text", ["x**4/4 + x**2 + x*y + 2*y**2 - y", "(1 - x)**2 + 100*(y - x**2)**2"])
def test_the_oracle_in_the_fused_tiles_finds_what_the_batch_oracle_finds_bit_for_bit(text):
    # the fused step's state read in place (no copies out), members not running left out (NaN);
    # directions and guesses over decades, so that some members need the later rounds
    from taylorlr.alpha import _tiles

    loss = tl.Loss(text)
    line = oracle.build_line_oracle(loss, loss.compile())
    layout = _tiles.Layout(2, separate_grad=True)
    in_tiles = line.in_tiles(_tiles.tile_columns(layout))
    rng = np.random.default_rng(0)
    size = 1001
    theta = rng.uniform(-1.0, 1.0, (size, 2))
    omega = rng.normal(size=(size, 2)) * 10 ** rng.uniform(-3, 2, (size, 1))
    guess = 10 ** rng.uniform(-4, 1, size) * rng.choice([-1.0, 1.0], size)
    guess[:3] = [0.0, np.nan, np.inf]  # no usable guess: the nodes' own scale
    state = _tiles.TiledState(layout, size, frozen=1.0)
    state.set("theta", theta), state.set("omega", omega), state.set("alpha", guess)
    stopped = rng.random(size) < 0.2
    state.set("code", np.where(stopped, 1.0, 0.0))
    found = in_tiles(state.array, size)
    expected = line.minimise(theta, omega, guess, {})
    assert np.array_equal(found, np.where(stopped, np.nan, expected), equal_nan=True)
    # and the batch oracle is the exact line search where it is checked independently (a quadratic)
    assert np.isfinite(expected).sum() > size // 2


def test_a_run_records_the_oracles_time_and_the_report_prints_that_figure():
    from taylorlr.report.text import run_data, run_lines

    loss = tl.Loss("(1 - x)**2 + 100*(y - x**2)**2")
    on = tl.run(loss, [-1.2, 1.0], steps=30)
    assert 0.0 < on.oracle_seconds <= on.seconds and on.oracle_share == on.oracle_seconds / on.seconds
    lines = run_lines(run_data(loss, on))
    shown = f"{on.oracle_seconds:.4f} s of the run's {on.seconds:.4f} s"
    assert lines[-1] == f"oracle     polynomial roots: {shown}"
    off = tl.run(loss, [-1.2, 1.0], steps=30, oracle=False)
    assert off.oracle_seconds == 0.0 and off.oracle_share == 0.0 and off.seconds > 0.0
    assert not any(line.startswith("oracle") for line in run_lines(run_data(loss, off)))
    # the generic path measures it too, and the line-search rule's own searches are the oracle's
    generic = tl.run(loss, [-1.2, 1.0], steps=30, rule="line-search", oracle=False, path="generic")
    assert 0.0 < generic.oracle_seconds <= generic.seconds


@pytest.mark.parametrize("record", ["all", 3, "final"])
def test_the_oracle_in_the_blocked_steps_gives_the_step_by_steps_bits(monkeypatch, record):
    # gd's steps run a chunk of the batch at a time (here one tile: 4 members), the oracle on each
    # chunk before each step; the reference runs the whole batch step by step, its oracle called
    # on the whole state through ``minimise``. Half of the members start near the minimum (1, 1) and
    # converge early, so chunks stop while others run on.
    from taylorlr.alpha import _fused_run, fused

    loss = tl.Loss("(1 - x)**2 + 100*(y - x**2)**2")
    rng = np.random.default_rng(5)
    starts = np.concatenate([1 + rng.normal(scale=1e-3, size=(200, 2)), rng.uniform(-2, 2, (213, 2))])

    def run() -> tl.Run:
        return tl.run(loss, starts, "gd", "exact", steps=12, tol=1e-4, record=record, path="fused")

    with monkeypatch.context() as patch:
        patch.setattr(_fused_run, "BLOCK_BYTES", 1)
        blocked = run()
    stepper = fused.FusedStepper
    with monkeypatch.context() as patch:  # no oracle in the tiles: the steps are not blocked
        patch.setattr(fused, "FusedStepper", lambda kernel, rule, line, _: stepper(kernel, rule, line))
        reference = run()
    for name in ("oracle_alphas", "points", "alphas", "stopped_at"):
        assert np.array_equal(getattr(blocked, name), getattr(reference, name), equal_nan=True), name
    assert blocked.oracle_seconds > 0 and np.isfinite(blocked.oracle_alphas).sum() >= 300
    assert (reference.stopped_at[:200] < 12).mean() > 0.5 and (reference.stopped_at[200:] == 12).mean() > 0.5


@pytest.mark.parametrize("guess", [1e-3, 1.0, 1e3, 1e5])
def test_two_close_roots_far_below_the_guess_are_told_apart(guess):
    # g'(alpha) = (alpha - 1)(alpha - 1.001)(alpha + 2): a maximum at 1 and minima at 1.001 and -2;
    # at the scale 1e5 the two near 1e-5 are 1e-8 apart, below what counts as one double root on
    # the scale of the nodes, and still the minimiser 1.001 is found
    x = sympy.Symbol("x", real=True)
    f = sympy.integrate((x - 1) * (x - sympy.Rational(1001, 1000)) * (x + 2), x)
    loss = tl.Loss(f, variables=[x])
    line = oracle.build_line_oracle(loss, loss.compile())
    got = float(line.minimise(np.array([0.0]), np.array([-1.0]), np.array(guess), {}))
    assert got == pytest.approx(float(exact_line_minimum(f, (x,), [0], [-1])), rel=1e-11)


@pytest.mark.parametrize("size", [1.0, 1e40, 1e80])
def test_a_huge_direction_gets_the_same_line_minimum_in_its_own_units(size):
    # along size * omega the minimiser is alpha*(omega) / size, exactly; omega^4 would overflow at 1e80
    x, y = sympy.symbols("x y", real=True)
    f = (1 - x) ** 2 + 100 * (y - x**2) ** 2
    exact = float(exact_line_minimum(f, (x, y), [sympy.Rational(1, 2), sympy.Rational(1, 5)], [1, -1]))
    loss = tl.Loss(f, variables=[x, y])
    line = oracle.build_line_oracle(loss, loss.compile())
    omega = np.array([size, -size])
    got = float(line.minimise(np.array([0.5, 0.2]), omega, np.array(1 / size), {}))
    assert got * size == pytest.approx(exact, rel=1e-9)


def test_the_first_run_of_a_scaled_rosenbrock_builds_its_oracle_without_a_hang():
    """The oracle's first-round loop on the catalogue's Rosenbrock, (1 - x1)**2 + (10*x2 - 10*x1**2)**2:
    its build took 312 s (SymEngine's CSE on the line coefficients, held in a Piecewise whose
    condition nested the scale's own Piecewise); 0.4 s now. Run in a forked child with a wall
    limit, so that a regression fails instead of stalling; the oracle's answer checked exactly."""

    def first_run() -> object:
        loss = tl.Loss("(1 - x1)**2 + (10*x2 - 10*x1**2)**2")
        run = tl.run(loss, [-1.2, 1.0], rule="exact", steps=1, path="fused")
        return float(run.oracle_alphas[0])

    status, alpha = in_fork(first_run, 60.0)
    assert status == "done", status
    x1, x2, t = sympy.symbols("x1 x2 t", real=True)
    f = (1 - x1) ** 2 + (10 * x2 - 10 * x1**2) ** 2
    start = {x1: sympy.Rational(-6, 5), x2: sympy.Integer(1)}
    g = [sympy.diff(f, v).subs(start) for v in (x1, x2)]
    line = f.subs({x1: start[x1] - t * g[0], x2: start[x2] - t * g[1]}, simultaneous=True)
    slope = sympy.Poly(sympy.diff(line, t), t)
    minimisers = [r for r in slope.real_roots() if r > 0 and sympy.diff(line, t, 2).subs(t, r) > 0]
    exact = float(min(minimisers, key=lambda r: line.subs(t, r)))  # the positive minimiser lowest in f
    assert alpha == pytest.approx(exact, rel=1e-10)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(0, 3000), st.lists(st.integers(0, 2999), max_size=12), st.floats(1e-300, 1e300))
def test_the_members_that_look_again_are_numpys_nonzero_ones(size, positive, value):
    # the first round's scales: 0 where a member is done, positive where it looks again, negative
    # where it is deferred to the whole loop
    scale = np.zeros(size)
    scale[[k for k in positive if k < size]] = value
    scale[[k for k in positive[::3] if k < size]] = -value
    found = oracle._nonzero(scale)
    assert found.tolist() == [k for k in range(size) if k in positive]


@pytest.mark.parametrize(
    ("text", "members"),
    [
        # along (1, 0) and (1, 1) g' is a rising cubic (the first round's common path); along (0, 1)
        # it is linear (the cubic's coefficient 0: the degree drops, and the member is deferred)
        (
            "x**4 - x**2 + y**2 + x*y",
            [((1, 1), (1, 0), False), ((1, 1), (0, 1), True), ((0.5, -2), (1, 1), False)],
        ),
        # a falling cubic (the loss falls along x far out): its middle root, deferred
        ("x**2 - x**4/8 + y**2", [((0.5, 0), (1, 0), True), ((0.5, 1), (1, 1), True)]),
    ],
)
def test_the_members_the_first_round_defers_get_the_exact_line_minimum(text, members):
    x, y = sympy.symbols("x y", real=True)
    loss = tl.Loss(text, variables=["x", "y"])
    line = oracle.build_line_oracle(loss, loss.compile())
    theta = np.array([m[0] for m in members], float)
    omega = np.array([m[1] for m in members], float)
    guess = np.full(len(members), 0.1)
    tiled = line.in_tiles(oracle._own_columns(2))
    _, rows, *_, scale = tiled.first(oracle._as_tiles(theta, omega, guess), len(members))
    deferred = [] if scale is None else rows[scale < 0].tolist()
    assert deferred == [k for k, m in enumerate(members) if m[2]]
    got = line.minimise(theta, omega, guess, {})
    f = sympy.sympify(text, locals={"x": x, "y": y})
    for k, (point, direction, _) in enumerate(members):
        exact = exact_line_minimum(f, (x, y), [sympy.nsimplify(t) for t in point], list(direction))
        assert got[k] == pytest.approx(float(exact), rel=1e-12)
        assert line.minimise(theta[k : k + 1], omega[k : k + 1], guess[k : k + 1], {})[0] == got[k]  # alone
