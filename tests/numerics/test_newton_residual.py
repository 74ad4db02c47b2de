"""The backward error's sums of squares in one compiled pass (taylorlr.numerics._residual): the
same bits as its NumPy twin, within the rounding bound of the exact sums, alone and in any batch,
through any strides, and IEEE's NaN and inf where a member is not finite."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import taylorlr as tl
from taylorlr.numerics import _residual
from taylorlr.numerics._residual import FROM, elementwise, sums_of_squares

CI = settings(deadline=None, derandomize=True, max_examples=25)
BUILT = _residual._loop(5, "float64") is not None  # llvmlite is a dependency: the loop is built here


def packed(rng, batch, n, dtype="float64"):
    """g and H as the kernel gives them: strided views into one row per member (g, then H)."""
    rows = rng.standard_normal((batch, n + n * n + 1)).astype(dtype)
    return rows[:, 1 : n + 1], rows[:, n + 1 :].reshape(batch, n, n)


def same_bits(first, second):
    for a, b in zip(first, second, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)  # NaN matches NaN


def test_the_loop_serves_large_numpy_batches_and_the_twin_the_rest():
    g, H = packed(np.random.default_rng(0), FROM, 10)
    s = np.ones((FROM, 10))
    assert BUILT and _residual._served(H, g, s)
    assert not _residual._served(H[::-1], g, s)  # a negative stride: the NumPy twin
    assert not _residual._served(H[..., :2, :2], g[..., :2], s[..., :2])  # n = 2: the closed forms


@CI
@given(n=st.integers(3, 16), seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from(["float64", "float32"]))
def test_the_loop_gives_the_bits_of_its_numpy_twin(n, seed, dtype):
    rng = np.random.default_rng(seed)
    g, H = packed(rng, FROM + 3, n, dtype)
    s = rng.standard_normal((FROM + 3, n)).astype(dtype) * 10.0 ** rng.integers(-3, 4, (FROM + 3, 1))
    same_bits(sums_of_squares(H, g, s), elementwise(H, g, s))


def test_each_member_has_the_same_bits_alone_and_anywhere_in_a_batch():
    rng = np.random.default_rng(1)
    g, H = packed(rng, 3 * FROM, 7)
    s = rng.standard_normal((3 * FROM, 7))
    whole = sums_of_squares(H, g, s)
    order = rng.permutation(3 * FROM)[: FROM + 5]
    shuffled = sums_of_squares(H[order], g[order], s[order])
    for k in (0, 1, FROM - 1, FROM + 4):
        member = order[k]
        alone = sums_of_squares(H[member : member + 1], g[member : member + 1], s[member : member + 1])
        for total, moved, single in zip(whole, shuffled, alone, strict=True):
            assert total[member] == moved[k] == single[0]


def exact(H, g, s):
    """||H s - g||^2, ||s||^2, ||g||^2 and the dot products' scale sum_j |h_ij s_j| + |g_i|, exactly."""
    n = len(s)
    h, gg, ss = ([[Fraction(float(v)) for v in row] for row in H], [Fraction(float(v)) for v in g],
                 [Fraction(float(v)) for v in s])  # fmt: skip
    r = [sum((h[i][j] * ss[j] for j in range(n)), Fraction(0)) - gg[i] for i in range(n)]
    scale = [sum(abs(h[i][j] * ss[j]) for j in range(n)) + abs(gg[i]) for i in range(n)]
    return sum(v * v for v in r), sum(v * v for v in ss), sum(v * v for v in gg), sum(v * v for v in scale)


@pytest.mark.parametrize(("n", "dtype"), [(3, "float64"), (12, "float64"), (6, "float32")])
def test_the_sums_are_within_the_rounding_bound_of_the_exact_ones(n, dtype):
    """Each r_i is a dot product of n terms less g_i: |fl(r_i) - r_i| <= gamma_{n+1} t_i with
    t_i = sum_j |h_ij s_j| + |g_i| (Higham, Accuracy and Stability of Numerical Algorithms, 3.1), so
    | ||fl(r)|| - ||r|| | <= gamma_{n+1} ||t||; each sum of n squares is within a factor 1 +- gamma_n of
    the exact sum of the squares of its (rounded) terms. gamma_k = k u / (1 - k u)."""
    u = 2.0**-53 if dtype == "float64" else 2.0**-24
    gamma = lambda k: k * u / (1 - k * u)  # noqa: E731
    rng = np.random.default_rng(n)
    g, H = packed(rng, FROM, n, dtype)
    s = rng.standard_normal((FROM, n)).astype(dtype)
    s[1] = np.linalg.solve(H[1].astype(np.float64), g[1].astype(np.float64)).astype(dtype)  # a small residual
    residual2, step2, gradient2 = sums_of_squares(H, g, s)
    for k in range(8):
        r2, s2, g2, t2 = exact(H[k], g[k], s[k])
        computed = float(residual2[k]) ** 0.5
        gap = abs(Fraction(computed) - Fraction(float(r2) ** 0.5))
        assert gap <= gamma(n + 1) * float(t2) ** 0.5 + gamma(n) * computed + 1e-300
        for value, truth in ((step2[k], s2), (gradient2[k], g2)):
            assert abs(Fraction(float(value)) - truth) <= Fraction(gamma(n)) * truth


def test_a_member_not_finite_gets_ieee_nan_or_inf_and_its_neighbours_keep_their_bits():
    rng = np.random.default_rng(2)
    g, H = packed(rng, FROM, 4)
    s = rng.standard_normal((FROM, 4))
    clean = [a.copy() for a in sums_of_squares(H, g, s)]
    H[3, 1, 2] = np.nan
    g[5, 0] = np.inf
    s[7, 3] = -np.inf
    H[9] = np.abs(H[9]) * 1e200
    s[9] = 1e200  # every product overflows to +inf: inf, not a wrapped number
    H[10] *= 1e200
    s[10] = 1e200  # products overflow to +inf and -inf in one row: NaN
    s[11] = 0.0
    H[11, 0, 0] = np.inf  # inf * 0: NaN
    results = sums_of_squares(H, g, s)
    same_bits(results, elementwise(H, g, s))
    residual2, step2, gradient2 = results
    assert np.isnan(residual2[3]) and np.isnan(residual2[10]) and np.isnan(residual2[11])
    assert residual2[5] == residual2[7] == residual2[9] == np.inf
    assert gradient2[5] == step2[7] == step2[9] == np.inf and np.isfinite(gradient2[9])
    keep = np.setdiff1d(np.arange(FROM), [3, 5, 7, 9, 10, 11])
    for before, after in zip(clean, results, strict=True):
        np.testing.assert_array_equal(before[keep], after[keep])


@pytest.mark.parametrize("layout", ["packed", "fortran", "batch axes", "every other member", "reversed"])
def test_any_strides_give_the_bits_of_a_contiguous_copy(layout):
    rng = np.random.default_rng(3)
    g, H = packed(rng, 2 * FROM, 5)
    s = rng.standard_normal((2 * FROM, 5))
    if layout == "fortran":
        H, g, s = np.asfortranarray(H), np.asfortranarray(g), np.asfortranarray(s)
    elif layout == "batch axes":
        H, g, s = H.reshape(32, -1, 5, 5), g.reshape(32, -1, 5), s.reshape(32, -1, 5)
    elif layout == "every other member":
        H, g, s = H[::2], g[::2], s[::2]
    elif layout == "reversed":
        H, g, s = H[::-1], g[::-1], s[::-1]
    copies = [np.ascontiguousarray(a) for a in (H, g, s)]
    result = sums_of_squares(H, g, s)
    assert result[0].shape == H.shape[:-2]
    same_bits(result, sums_of_squares(*copies))
    same_bits(result, elementwise(*copies))


def test_a_newton_step_at_10_d_has_each_members_backward_error_and_labels_alone_and_in_a_batch():
    """The step's backward error comes from the loop in a batch of FROM or more and from the NumPy
    twin alone: the same bits, so the same "singular" decisions."""
    loss = tl.Loss(" + ".join(f"{i + 1}*x{i}**2 + x{i}*x{(i + 1) % 10}**3/10" for i in range(10)))
    W = np.random.default_rng(4).uniform(-3.0, 3.0, (FROM + 2, 10))
    batch = tl.newton_step(loss, W, eigenvalues=True)
    for k in (0, 7, FROM + 1):
        alone = tl.newton_step(loss, W[k : k + 1], eigenvalues=True)
        assert alone.backward_error[0] == batch.backward_error[k]
        assert str(alone.curvature[0]) == str(batch.curvature[k])
        assert str(alone.conditioning[0]) == str(batch.conditioning[k])
    residual = np.einsum("bij,bj->bi", batch.hessian, batch.step) - batch.gradient
    scale = np.linalg.norm(batch.hessian, axis=(-2, -1)) * np.linalg.norm(batch.step, axis=-1)
    expected = np.linalg.norm(residual, axis=-1) / (scale + np.linalg.norm(batch.gradient, axis=-1))
    np.testing.assert_allclose(batch.backward_error, expected, rtol=1e-6, atol=64 * 10 * 2.0**-52)


def test_a_packed_record_field_of_odd_stride_gets_the_bits_of_its_contiguous_copy():
    # member strides of 8 (n^2 + 2n) + 1 bytes, unaligned entries: not addressable by the loop
    n, batch = 5, FROM + 7
    rng = np.random.default_rng(5)
    H, g, s = (
        rng.standard_normal((batch, n, n)),
        rng.standard_normal((batch, n)),
        rng.standard_normal((batch, n)),
    )
    records = np.zeros(batch, dtype=[("H", "f8", (n, n)), ("g", "f8", n), ("s", "f8", n), ("flag", "i1")])
    records["H"], records["g"], records["s"] = H, g, s
    views = records["H"], records["g"], records["s"]
    assert not _residual._served(*views) and _residual._served(H, g, s)
    same_bits(sums_of_squares(*views), sums_of_squares(H, g, s))
