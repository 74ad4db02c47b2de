"""The verdict's 2 x 2 eigendecomposition in closed form (:func:`taylorlr.alpha.verdict.eigh_2x2`)
against LAPACK (``numpy.linalg.eigh``) and exact answers, and the statuses a 2-D batch gets with it
against the statuses LAPACK's eigenvectors give."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import taylorlr as tl
from taylorlr.alpha import verdict
from taylorlr.alpha.verdict import eigh_2x2

EPS = np.finfo(float).eps
#: entries over many scales (0 and tiny or huge magnitudes included), each matrix symmetric
ENTRY = st.one_of(
    st.just(0.0),
    st.builds(lambda m, e: m * 2.0**e, st.floats(-1.0, 1.0, allow_nan=False), st.integers(-300, 300)),
)


def check_against_lapack(matrices: np.ndarray) -> None:
    values, vectors = eigh_2x2(matrices)
    expected = np.linalg.eigh(matrices)[0]
    scale = np.abs(expected).max(axis=1, keepdims=True)
    assert np.all(np.abs(values - expected) <= 8 * EPS * scale), (values, expected)
    assert np.all(values[:, 0] <= values[:, 1])
    gram = np.einsum("kij,kil->kjl", vectors, vectors)  # V^T V
    assert np.allclose(gram, np.eye(2), rtol=0, atol=8 * EPS)
    rebuilt = np.einsum("kij,kj,klj->kil", vectors, values, vectors)  # V diag(w) V^T
    assert np.all(np.abs(rebuilt - matrices) <= 16 * EPS * scale[:, :, None])


@given(st.lists(st.tuples(ENTRY, ENTRY, ENTRY), min_size=1, max_size=20))
def test_the_closed_form_is_lapacks_eigendecomposition_to_rounding(entries):
    """Eigenvalues within 8 eps of the largest |eigenvalue| of LAPACK's, orthonormal vectors, and
    V diag(w) V^T the matrix again, on matrices whose entries span 2^-300 ... 2^300."""
    a, b, c = (np.array(column) for column in zip(*entries, strict=True))
    scale = np.maximum.reduce([np.abs(a), np.abs(b), np.abs(c)])
    b = np.where(np.abs(b) < scale * 2.0**-1000, 0.0, b)  # no subnormal cross terms: LAPACK scales them
    matrices = np.stack([np.stack([a, b], -1), np.stack([b, c], -1)], -2)
    check_against_lapack(matrices)


def test_exact_eigenpairs():
    """diag(1, 5) and diag(5, 1): their axes; [[2, 1], [1, 2]]: 1 and 3 along (1, -1) and (1, 1);
    [[0, 1], [1, 0]]: -1 and 1; 3 I and the zero matrix: the axes; a signed zero off the diagonal
    changes nothing."""
    matrices = np.array(
        [[[1.0, 0.0], [0.0, 5.0]], [[5.0, 0.0], [0.0, 1.0]], [[2.0, 1.0], [1.0, 2.0]],
         [[0.0, 1.0], [1.0, 0.0]], [[3.0, 0.0], [0.0, 3.0]], [[0.0, 0.0], [0.0, 0.0]],
         [[1.0, -0.0], [-0.0, 5.0]]]
    )  # fmt: skip
    values, vectors = eigh_2x2(matrices)
    assert values.tolist() == [[1, 5], [1, 5], [1, 3], [-1, 1], [3, 3], [0, 0], [1, 5]]
    r = 1 / math.sqrt(2)
    axes, swapped = np.eye(2), [[0, 1], [1, 0]]  # a repeated eigenvalue: any orthonormal pair (these)
    expected = [axes, swapped, [[-r, r], [r, r]], [[-r, r], [r, r]], swapped, swapped, axes]
    for got, want in zip(vectors, expected, strict=True):  # each column up to its sign
        assert np.allclose(np.abs(np.sum(got * np.asarray(want), axis=0)), 1.0, rtol=0, atol=4 * EPS)


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("x**2 - y**2", {"saddle", "unbounded"}),
        ("x**3 - 3*x + y**2", {"converged", "unbounded"}),
        ("-(x**2) - 3*y**2 + x*y", {"maximum", "unbounded"}),
        ("x**4 + y**2 - 2*x**2", {"converged", "saddle"}),
    ],
)
def test_a_2d_batch_gets_the_statuses_lapack_gives(monkeypatch, text, kinds):
    """Gradient stops at minima, saddles and maxima (and near the degenerate point of x**4):
    the statuses judged with the closed form are those judged with ``numpy.linalg.eigh``."""
    rng = np.random.default_rng(3)
    starts = rng.uniform(-2.0, 2.0, size=(400, 2))
    starts[:40] = rng.normal(scale=1e-9, size=(40, 2))  # at the critical point 0 (on the stops' side)

    def run() -> tl.Run:
        return tl.run(text, starts, "gd", "fixed", alpha0=0.05, steps=400, tol=1e-7, oracle=False)

    closed = run()
    with monkeypatch.context() as patch:
        patch.setattr(verdict, "eigh_2x2", lambda matrices, vectors=True: np.linalg.eigh(matrices))
        lapack = run()
    assert np.array_equal(closed.status, lapack.status)
    assert set(closed.status_counts()) == kinds  # the 40 starts at 0 stop at its saddle or maximum


@pytest.mark.parametrize("width", [1, 2, 5, 32, 33])
def test_reductions_across_short_rows_are_numpys(width):
    """The verdict's reductions along the last axis column by column (up to 32 columns) give
    NumPy's axis reductions: max of |eigenvalues|, any and all of the negative ones."""
    rng = np.random.default_rng(width)
    values, signs = rng.normal(size=(500, width)), rng.random((500, width)) < 0.7
    assert np.array_equal(verdict._across(np.maximum, values), values.max(axis=-1))
    assert np.array_equal(verdict._across(np.logical_or, signs), signs.any(axis=-1))
    assert np.array_equal(verdict._across(np.logical_and, signs), signs.all(axis=-1))
