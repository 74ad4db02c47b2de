"""The numeric search's shortcuts give the answers of the straightforward computation they replace.

Each shortcut (freezing points a descent step leaves in place, the pseudo-inverse only where the
Hessian is singular, deduplication one kept point at a time, the exact worker forked after the
numeric answer) is checked against the plain computation, written out here independently.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import taylorlr as tl
import taylorlr.analysis.critical_points as module
from taylorlr.analysis._numeric import _deduplicate, _pinv_newton_point, descend
from taylorlr.analysis.critical_points import critical_points
from taylorlr.numerics.newton import newton_step_on

LOSSES = ["(x**2 + y - 11)**2 + (x + y**2 - 7)**2", "x**2 + 3*x*y**2", "x**4 - 2*x**2 + y**4 - y**2"]


def plain_descent(compiled, W, steps):
    """Modified Newton with Armijo backtracking on every point at every step (alphas 2^-k, k < 40)."""
    W = np.array(W, dtype=float)
    f = np.asarray(compiled.value(W), dtype=float)
    for _ in range(steps):
        g, H = (np.asarray(a) for a in compiled.grad_and_hess(W))
        finite = np.all(np.isfinite(H), axis=(-2, -1)) & np.all(np.isfinite(g), axis=-1)
        lam, V = np.linalg.eigh(np.where(finite[:, None, None], H, np.eye(W.shape[-1])))
        floor = 1e-8 * np.maximum(np.abs(lam).max(axis=-1, keepdims=True), 1e-300)
        d = -np.einsum("bij,bj->bi", V, np.einsum("bji,bj->bi", V, g) / np.maximum(np.abs(lam), floor))
        d = np.where(finite[:, None], d, np.nan)
        slope = np.einsum("bi,bi->b", g, d)
        for b in np.nonzero(np.isfinite(f) & np.all(np.isfinite(d), axis=-1) & (slope < 0))[0]:
            for k in range(40):
                alpha = 0.5**k
                trial = W[b] + alpha * d[b]
                ft = float(np.asarray(compiled.value(trial[None]))[0])
                if np.isfinite(ft) and ft <= f[b] + 1e-4 * alpha * slope[b]:
                    W[b], f[b] = trial, ft
                    break
    return W


def test_descent_that_skips_points_left_in_place_ends_where_the_plain_descent_does():
    for text in LOSSES:
        compiled = tl.Loss(text).compile()
        starts = np.random.default_rng(1).uniform(-4, 4, size=(40, compiled.n))
        assert np.array_equal(descend(compiled, starts, 25), plain_descent(compiled, starts, 25)), text


def test_the_pseudo_inverse_step_on_singular_members_only_is_newtons_pinv_step():
    compiled = tl.Loss("x**2 + 3*x*y**2").compile()  # H = [[2, 6y], [6y, 6x]]: singular where x = 3y^2
    W = np.array([[0.0, 0.0], [3.0, 1.0], [1.0, 2.0], [12.0, -2.0], [0.5, 0.1]])
    expected = np.asarray(newton_step_on(compiled, W, fallback="pinv").point)
    assert np.asarray(newton_step_on(compiled, W).singular).tolist() == [True, True, False, True, False]
    assert np.array_equal(_pinv_newton_point(compiled, W), expected)


def greedy(points, residuals):
    """Candidates in residual order; one is kept when it is apart from every point kept before it."""
    kept = []
    for i in sorted(range(len(points)), key=lambda i: residuals[i]):
        if all(np.linalg.norm(points[i] - points[j]) > 1e-6 * (1 + np.linalg.norm(points[j])) for j in kept):
            kept.append(i)
    return kept


@given(
    st.lists(st.integers(0, 3), min_size=1, max_size=30),
    st.lists(st.floats(-2e-6, 2e-6), min_size=60, max_size=60),
    st.lists(st.integers(0, 5), min_size=30, max_size=30),
)
def test_deduplication_keeps_the_points_the_one_by_one_greedy_rule_keeps(centres, jitter, residuals):
    base = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1e-5], [3.0, -2.0]])
    points = base[centres] + np.reshape(jitter[: 2 * len(centres)], (-1, 2))
    r = np.asarray(residuals[: len(centres)], dtype=float)
    assert [i for _, _, i in _deduplicate(points, r)] == greedy(points, r)


def test_without_waiting_the_exact_worker_starts_after_the_numeric_answer(monkeypatch):
    events: list[str] = []
    numeric, worker = module.numeric_points, module.ExactWorker

    def search(*args):
        events.append("numeric search")
        return numeric(*args)

    def start(*args, **options):
        events.append("exact worker")
        return worker(*args, **options)

    monkeypatch.setattr(module, "numeric_points", search)
    monkeypatch.setattr(module, "ExactWorker", start)
    result = critical_points(tl.Loss("x**4 - 2*x**2"), wait=False)
    assert events == ["numeric search", "exact worker"] and result.refinement == "pending"
    assert [p.point for p in result.refined()] == [(-1,), (0,), (1,)]
