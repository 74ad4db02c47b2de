"""Run statuses are true: whenever a run says X, X holds, checked against exact answers.

The quadratics are built from chosen eigenvalues, so their Hessian, gradient, values and
boundedness are known exactly; the zoo's critical points are refined with SymPy and
classified by their published kinds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import zoo
from hypothesis import given, settings
from hypothesis import strategies as st

import taylorlr as tl
from taylorlr.alpha.optimizers import OPTIMIZERS
from taylorlr.alpha.rules import RULES
from taylorlr.compile.compiled import LLVM_BATCH

EIGENVALUES = (-4.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 10.0)
NAMES = ("x", "y", "z")
#: few angles and centres, so that drawn losses repeat and compile once
ANGLES = st.sampled_from((0.0, 0.3, 1.1, 2.0))
COORDINATES = st.integers(-30, 30).map(lambda k: k / 10)


def rotation(n: int, angles: tuple[float, float]) -> np.ndarray:
    """An orthogonal matrix from two angles (a plane rotation, then another)."""
    q = np.eye(n)
    for k, angle in enumerate(angles[: max(n - 1, 0)]):
        r = np.eye(n)
        c, s = math.cos(angle), math.sin(angle)
        r[k, k], r[k, k + 1], r[k + 1, k], r[k + 1, k + 1] = c, -s, s, c
        q = q @ r
    return q


def quadratic_text(a: np.ndarray, c: np.ndarray, f_c: float) -> str:
    """f = (x - c)^T a (x - c) / 2 + f_c as text (floats written exactly enough: repr)."""
    n = len(c)
    d = [f"({NAMES[i]} - ({float(c[i])!r}))" for i in range(n)]
    half = [[float(a[i, j]) / (2 if i == j else 1) for j in range(n)] for i in range(n)]
    terms = [f"({half[i][j]!r})*{d[i]}*{d[j]}" for i in range(n) for j in range(i, n)]
    return " + ".join(terms) + f" + ({float(f_c)!r})"


@st.composite
def quadratic_runs(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 3))
    eigenvalues = np.array(draw(st.lists(st.sampled_from(EIGENVALUES), min_size=n, max_size=n)))
    eigenvalues[0] = eigenvalues[0] or 1.0  # not the constant loss (a line oracle bug of its own)
    q = rotation(n, (draw(ANGLES), draw(ANGLES)))
    a = q @ np.diag(eigenvalues) @ q.T
    a = (a + a.T) / 2
    c = np.array(draw(st.lists(COORDINATES, min_size=n, max_size=n)))
    offsets = [np.zeros(n)] if draw(st.booleans()) else []
    offsets += [np.array(draw(st.lists(st.floats(-3, 3), min_size=n, max_size=n))) for _ in range(2)]
    return {
        "a": a,
        "eigenvalues": np.linalg.eigvalsh(a),  # of the matrix written into the loss
        "c": c,
        "f_c": draw(st.sampled_from((-5.0, 0.0, 2.5))),
        "starts": np.array([c + o for o in offsets]),
        "optimizer": draw(st.sampled_from(sorted(OPTIMIZERS))),
        "rule": draw(st.sampled_from(sorted(RULES))),
        "alpha0": draw(st.sampled_from((1e-3, 1e-2, 0.3))),
        "divergence": draw(st.sampled_from((1e8, 1e3))),
    }


def check_statuses_are_true(run: tl.Run, a: np.ndarray, eigenvalues: np.ndarray, c, f_c, *, tol, divergence):
    """Each member's status against the exact quadratic (not against the code's own numbers)."""
    steps = run.settings["steps"]  # as asked (the history ends at the last valid step)
    size = np.abs(eigenvalues).max()
    negative = eigenvalues < -1e-12 * max(size, 1)
    positive = eigenvalues > 1e-12 * max(size, 1)

    def f(p):
        d = p - c
        return 0.5 * np.einsum("...i,ij,...j->...", d, a, d) + f_c

    for k in range(len(run.status)):
        status, stop = run.status[k], int(run.stopped_at[k])
        path = run.points[: stop + 1, k]
        with np.errstate(all="ignore"):
            values = f(path)
            grad = np.linalg.norm(a @ (path[-1] - c))
        f0, f_end = values[0], values[-1]
        fell = f_end < f0 - divergence * (abs(f0) + 1) * (1 - 1e-9)
        assert isinstance(status, tl.Status)
        if status == "converged":
            assert grad <= tol * (1 + 1e-6) + 1e-12 * (1 + size * np.abs(c).sum())
            assert not negative.any()  # no clearly negative eigenvalue: not a saddle, not a maximum
        elif status == "saddle":
            assert grad <= tol * (1 + 1e-6) + 1e-12 * (1 + size * np.abs(c).sum())
            assert negative.any() and not negative.all()
        elif status == "maximum":
            assert grad <= tol * (1 + 1e-6) + 1e-12 * (1 + size * np.abs(c).sum())
            assert negative.all()
        elif status == "unbounded":  # fell, or overflowed where f falls without bound along -grad f
            assert fell or stop < steps
            assert negative.any()  # this quadratic is unbounded below iff it has a negative eigenvalue
        elif status == "rose":
            assert stop == steps and f_end > f0
        elif status == "max_steps":
            assert stop == steps and grad > tol * (1 - 1e-6)
            assert not fell and f_end <= f0 + 1e-9 * (abs(f0) + 1)
        else:  # diverged, nonfinite: the failed step is not recorded; the member stopped early
            assert status in ("diverged", "nonfinite") and stop < steps
    return positive


_QUADRATICS: dict[str, tl.Loss] = {}


@settings(max_examples=60)
@given(quadratic_runs())
def test_every_status_of_a_run_on_a_quadratic_is_true(case):
    text = quadratic_text(case["a"], case["c"], case["f_c"])
    loss = _QUADRATICS.setdefault(text, tl.Loss(text, variables=NAMES[: len(case["c"])]))
    tol = 1e-8
    run = tl.run(
        loss, case["starts"], case["optimizer"], case["rule"], alpha0=case["alpha0"], steps=40, tol=tol,
        divergence=case["divergence"],
    )  # fmt: skip
    check_statuses_are_true(
        run, case["a"], case["eigenvalues"], case["c"], case["f_c"], tol=tol, divergence=case["divergence"]
    )


@pytest.mark.parametrize(
    ("text", "at", "kind"),
    [
        ("x**2 + y**2", (0, 0), "converged"),
        ("x**2 - y**2", (0, 0), "saddle"),
        ("-x**2 - y**2", (0, 0), "maximum"),
        ("-x**2", (0,), "maximum"),
        ("-cosh(x)", (1e-9,), "maximum"),
        ("-x**2 + y**4", (0, 0), "saddle"),  # a negative and a zero eigenvalue: not a minimum
        ("-x**2 + y**4", (0, 1e-3), "saddle"),  # -2 stays -2 on the way to the critical point
        ("x**4 + y**2", (0, 0), "converged"),  # degenerate minimum
        ("x**3 + y**2", (0, 0), "converged"),  # degenerate, no negative eigenvalue: cannot be told apart
        ("x**2 + 3*x*y**2", (0, 0), "converged"),  # the README's degenerate saddle: H = diag(2, 0), likewise
        # f'' = 6x < 0 just left of the inflection point of x**3, but it halves on the way to 0: no maximum
        ("x**3", (-1e-5,), "converged"),
        ("-exp(x)", (-25,), "converged"),  # a plateau (f'' = f' < 0), not a maximum: it has none
    ],
)
def test_a_run_stopped_by_the_gradient_test_names_the_kind_of_point(text, at, kind):
    run = tl.run(text, np.array(at, dtype=float), tol=1e-8)
    assert run.stopped_at == 0 and run.status == kind


@pytest.mark.parametrize("problem", [zoo.HIMMELBLAU, zoo.SIX_HUMP, zoo.BEALE])
def test_the_zoo_critical_points_get_their_published_kinds(problem):
    loss = tl.Loss(problem.text)
    gradient = [sympy.diff(loss.expr, v) for v in loss.variables]
    starts, kinds = [], []
    for point, kind in problem.known:
        exact = sympy.nsolve(gradient, loss.variables, point, prec=30)
        starts.append([float(v) for v in exact])
        kinds.append({"minimum": "converged"}.get(kind, kind))
    run = tl.run(loss, np.array(starts), tol=1e-8)
    assert run.status.tolist() == kinds and (run.stopped_at == 0).all()


def test_the_verdict_is_the_same_on_the_fused_path():
    """A batch large enough for the fused step kernel is judged like a small one."""
    loss = tl.Loss("x**2 - y**2")
    starts = np.stack([np.linspace(-1, 1, LLVM_BATCH), np.zeros(LLVM_BATCH)], axis=-1)
    big = tl.run(loss, starts, rule="exact", steps=30)
    small = tl.run(loss, starts[:5], rule="exact", steps=30)
    assert all(type(s) is tl.Status for s in big.status)
    assert (big.status == "saddle").all() and (small.status == "saddle").all()


def test_the_readme_loss_is_unbounded_not_short_of_steps_nor_overflowing():
    """x**2 + 3*x*y**2 has no lower bound (x = -t, y = t: f = t**2 - 3*t**3)."""
    for optimizer, rule in (("gd", "exact"), ("adam", "retsinas")):
        run = tl.run("x**2 + 3*x*y**2", [1.0, 2.0], optimizer, rule)
        assert run.status == "unbounded", (optimizer, rule)
        assert run.fun < 13 - 1e8 * 14
        assert "not a proof" in run.message and "solve" in run.message
        assert "raise steps" not in run.message and "lower alpha0" not in run.message


@pytest.mark.parametrize(("text", "at"), [("x - exp(x)", 2.0), ("-exp(x)", 0.0), ("-cosh(x)", 0.5)])
def test_an_overflow_where_f_falls_without_bound_is_unbounded(text, at):
    """The line search steps out to overflow at once: the record holds f0 only, and f falls
    to -inf along -f'(x) from there (exp overflows past 709.78)."""
    run = tl.run(text, [at], rule="line-search", safeguards="none")
    assert run.status == "unbounded" and run.stopped_at == 0
    assert "overflowed" in run.message and "not a proof" in run.message


def test_an_overflow_of_a_loss_bounded_below_stays_nonfinite():
    """exp(x**2) >= 1: its overflow is no evidence of a fall."""
    run = tl.run("exp(x**2)", [1.0], rule="line-search", safeguards="none", alpha0=0.5)
    assert run.status == "nonfinite"


def test_a_run_that_ended_above_its_start_says_rose():
    """Momentum with the exact rule, gamma 1 on (x-1)**2 + 4*y**2 from (0, 1): f 5 -> 686."""
    run = tl.run("(x - 1)**2 + 4*y**2", [0.0, 1.0], "momentum", "exact", gamma=1.0, steps=300)
    x, y = run.x
    assert run.status == "rose" and (x - 1) ** 2 + 4 * y**2 > 5
    assert "(f 5 -> 685.593)" in run.message


def test_a_loss_with_a_deep_minimum_that_converged_is_not_called_unbounded():
    """A fall of more than divergence * (|f0| + 1) that ends at a minimum is a minimum."""
    run = tl.run("(x - 100)**2 - 1e4", [0.0], "gd", "exact", divergence=10.0)  # f0 = 0, f* = -1e4
    assert run.status == "converged" and abs(float(run.x[0]) - 100) < 1e-6


def test_a_stochastic_run_keeps_converged():
    """With a new minibatch every step, the Hessian test is not made (documented)."""
    loss = tl.Loss("-(x - a)**2", data=["a"])
    batches = [{"a": np.array([0.0])}] * 3
    run = tl.run(loss, [0.0], data=batches, steps=2)
    assert run.status == "converged"
