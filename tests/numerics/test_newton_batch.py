"""Batched Newton's fast paths change no bit: eigenvalues asked for up front, a member alone or in a
batch, and the eigenvalue rule's shortcut for max / min |lambda| against the fold over every one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import taylorlr as tl
from taylorlr.numerics._folds import across
from taylorlr.numerics._spectrum import EPS, _extremes, _weyl, classify, eigenvalue_rule
from taylorlr.numerics.newton import default_rtol
from tests.numerics.routes import ROUTES, routed

CI = settings(deadline=None, derandomize=True, max_examples=40)

#: losses whose batches hold every label: minimum, maximum, saddle, singular, ill-conditioned, nonfinite
CASES = {
    "cubic 3-D": (
        "x**3/6 + y**3/6 + z**3/6 + x*y*z/100 + log(z + 5)",
        [[1, 1, 1], [-1, -1, -1], [1, -1, 1], [0, 0, 0], [0.5, 2, -6], [2, 0.5, 0.3], [-2, 3, -1]],
    ),
    "ill 3-D": ("x**2 + y**2 + 1e-10*z**2 + x*y*z/1000", [[0, 0, 0], [1, 2, 3], [1e-3, 0, 0]]),
    "mixed 5-D": (
        "a**2 + b**2*c + c**3/6 + d**4 + e**2 - a*e/3 + log(a + 4)",
        [[0, 1, 1, 1, 0], [1, -1, 2, 0, 1], [0, 0, 0, 0, 0], [-5, 0, 1, 1, 1], [0.1, 2, -1, 0.5, -2]],
    ),
    "rosenbrock 2-D": ("(1 - x)**2 + 100*(y - x**2)**2 + log(x + 3)", [[1, 1], [0, 0], [-4, 0], [0.4, 0.1]]),
    "1-D": ("x**4 + log(x + 2)", [[0.0], [1.0], [-3.0], [-1.9]]),
}
FIELDS = ("point", "step", "gradient", "hessian", "shift", "backward_error", "singular", "eigenvalues",
          "condition", "eta")  # fmt: skip


def labels(step):
    return [str(c) for c in np.ravel(step.curvature)], [str(c) for c in np.ravel(step.conditioning)]


def assert_same_bits(a, b, where=""):
    for name in FIELDS:
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert x.shape == y.shape and np.array_equal(x, y, equal_nan=True), (name, where)
    assert labels(a) == labels(b), where


@pytest.mark.parametrize("fallback", [None, "pinv", "damped"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_asking_for_eigenvalues_up_front_changes_no_bit(case, fallback):
    text, points = CASES[case]
    loss, W = tl.Loss(text), np.array(points, dtype=float)
    told = tl.newton_step(loss, W, fallback=fallback, eigenvalues=True)
    later = tl.newton_step(loss, W, fallback=fallback)
    assert_same_bits(told, later)
    if W.shape[-1] >= 3:  # the certificate was skipped: every member's labels are eigvalsh's
        assert told.spectrum.checked.size == len(W)


def test_the_cases_hold_every_label():
    seen = set()
    for text, points in CASES.values():
        seen |= {
            label for group in labels(tl.newton_step(tl.Loss(text), np.array(points))) for label in group
        }
    assert seen >= {"minimum", "maximum", "saddle", "singular", "nonfinite", "ill-conditioned"}


@pytest.mark.parametrize("eigenvalues", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_member_gets_the_same_bits_alone_and_in_a_batch(case, eigenvalues):
    text, points = CASES[case]
    loss = tl.Loss(text)
    rng = np.random.default_rng(7)
    W = np.concatenate([np.array(points, dtype=float), rng.uniform(-2, 2, (40, len(points[0])))])
    batch = tl.newton_step(loss, W, eigenvalues=eigenvalues, fallback="pinv")
    for k in (*range(len(points)), len(W) - 1):
        alone = tl.newton_step(loss, W[k : k + 1], eigenvalues=eigenvalues, fallback="pinv")
        for name in FIELDS:
            assert np.array_equal(np.asarray(getattr(alone, name))[0], np.asarray(getattr(batch, name))[k],
                                  equal_nan=True), (name, k)  # fmt: skip
        assert labels(alone) == tuple([group[k]] for group in labels(batch)), k


def rotated(eigenvalues, seed):
    """A symmetric matrix with the given eigenvalues, turned by a random orthogonal matrix."""
    n = len(eigenvalues)
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    H = (Q * np.asarray(eigenvalues)) @ Q.T
    return (H + H.T) / 2


@pytest.mark.parametrize("n", [3, 4, 6])
def test_labels_read_from_eigenvalues_are_the_eigenvalue_rule_at_every_threshold(n):
    tol = default_rtol(n, "float64")
    anchors = [0.0, tol, EPS["float64"] ** 0.5, 1.0]
    factors = [0.5, 0.999, 1.0, 1.001, 2.0]
    H = np.stack([
        rotated([s0 * anchor * factor, *np.linspace(0.5, 1.0, n - 2), s1 * 1.0], seed)
        for seed, (anchor, factor, s0, s1) in enumerate(
            (a, f, s0, s1) for a in anchors for f in factors for s0 in (-1, 1) for s1 in (-1, 1)
        )
    ])  # fmt: skip
    told = classify(np, H, tol, "float64", eigenvalues=True)
    expected = eigenvalue_rule(np, np.linalg.eigvalsh(H), tol, "float64")
    for got, want in zip((told.singular, told.minimum, told.maximum, told.ill), expected, strict=True):
        assert np.asarray(got).tolist() == np.asarray(want).tolist()
    assert told.checked.size == len(H) and {*np.asarray(expected[0]).tolist()} == {False, True}


@CI
@given(
    st.lists(
        st.lists(st.sampled_from([0.0, -0.0, 1e-300, -1e-300, 1.0, -2.5, 3e7, -1e308, 7e-17]), min_size=1,
                 max_size=6),
        min_size=1, max_size=5,
    ).filter(lambda rows: len({len(r) for r in rows}) == 1)
)  # fmt: skip
def test_the_ends_of_ascending_eigenvalues_give_the_folds_extremes(rows):
    eigenvalues = np.sort(np.array(rows), axis=-1)
    largest, smallest = _extremes(np, eigenvalues)
    magnitude = np.abs(eigenvalues)
    assert np.array_equal(largest, across(np, magnitude, np.maximum))
    assert np.array_equal(smallest, across(np, magnitude, np.minimum))


def test_the_two_by_two_closed_form_where_a_square_overflows_or_underflows():
    """r = sqrt(((a - c)/2)^2 + b^2): a square past 1e308 makes r infinite (never clear: eigvalsh
    decides), one below 1e-308 loses bits far below eps * max |lambda| (the labels and the
    closed-form eigenvalues stay the rule's and within a few eps of eigvalsh's)."""
    tol = default_rtol(2, "float64")
    H = np.array([
        [[1e200, 1e200], [1e200, -1e200]], [[3e155, 0.0], [0.0, -3e155]], [[1.0, 1e-170], [1e-170, 2.0]],
        [[1.0, 1e-200], [1e-200, 1.0 + 1e-170]], [[-2.0, 3e-160], [3e-160, 1e-9]],
        [[1e-120, 1e-170], [1e-170, 1e-120]],
    ])  # fmt: skip
    s = classify(np, H, tol, "float64")
    exact = np.linalg.eigvalsh(H)
    expected = eigenvalue_rule(np, exact, tol, "float64")
    for got, want in zip((s.singular, s.minimum, s.maximum, s.ill), expected, strict=True):
        assert np.asarray(got).tolist() == np.asarray(want).tolist()
    assert s.checked.tolist() == [0, 1, 4]  # overflow (twice) and ill-conditioned: eigvalsh
    closed = s.eigenvalues(np, H)
    assert np.all(np.abs(closed - exact) <= 8 * EPS["float64"] * np.abs(exact).max(-1, keepdims=True))


def test_the_weyl_bounds_read_from_the_diagonals_ends_are_the_folds():
    """max |h_ii| and (where all h_ii have one sign) min |h_ii| from min and max h_ii: the same
    numbers as folds over every |h_ii|, bit for bit, on one-sign and mixed batches."""
    rng = np.random.default_rng(3)
    for n in (3, 4, 7):
        for signs in (1.0, -1.0, None):
            D = rng.uniform(0.1, 10.0, (50, n)) * (signs if signs else rng.choice([-1.0, 1.0], (50, n)))
            H = rng.standard_normal((50, n, n)) * 0.01
            H = (H + np.swapaxes(H, -1, -2)) / 2 + D[..., None] * np.eye(n)
            total = np.einsum("bij,bij->b", H, H)
            diagonal = np.stack([H[:, k, k] for k in range(n)], axis=0)
            e = np.sqrt(
                np.maximum(total - np.sum(diagonal * diagonal, axis=0), 0)
                + 2 * n * n * EPS["float64"] * total
            )
            lower, upper, positive, negative = _weyl(np, H, "float64", total)
            np.testing.assert_array_equal(lower, np.abs(diagonal).min(axis=0) - e)
            np.testing.assert_array_equal(upper, np.abs(diagonal).max(axis=0) + e)
            np.testing.assert_array_equal(positive, diagonal.min(axis=0) > 0)
            np.testing.assert_array_equal(negative, diagonal.max(axis=0) < 0)


@pytest.mark.parametrize("n", [1, 2, 4])
def test_an_empty_batch_gives_empty_results_not_an_error(n):
    loss = tl.Loss(" + ".join(f"x{i}**2*(2 + x{(i + 1) % n})" for i in range(n)))
    for eigenvalues in (False, True):
        step = tl.newton_step(loss, np.zeros((0, n)), eigenvalues=eigenvalues)
        assert step.point.shape == step.eigenvalues.shape == (0, n) and step.curvature.shape == (0,)
        assert step.backward_error.shape == step.condition.shape == (0,)


def test_the_residual_in_blocks_gives_each_member_the_bits_of_one_whole_batch_pass():
    from taylorlr.numerics._folds import squares
    from taylorlr.numerics._solve import BLOCK, _residual2

    rng = np.random.default_rng(5)
    H = rng.standard_normal((2, BLOCK + 3, 4, 4))
    g, s = rng.standard_normal((2, BLOCK + 3, 4)), rng.standard_normal((2, BLOCK + 3, 4))
    whole = squares(np, np.matmul(H, s[..., None])[..., 0] - g)
    np.testing.assert_array_equal(_residual2(np, H, g, s), whole)
    loss = tl.Loss("x**2*(2 + y) + y**2*(2 + z) + z**2*(2 + x) + x*y*z")
    W = rng.uniform(-0.5, 0.5, (BLOCK + 3, 3))
    batch = tl.newton_step(loss, W)
    for k in (0, BLOCK - 1, BLOCK, BLOCK + 2):
        alone = tl.newton_step(loss, W[k : k + 1])
        assert alone.backward_error[0] == batch.backward_error[k] and np.array_equal(
            alone.point[0], batch.point[k]
        )


# eigenvalues asked for up front: shapes, dtypes and a single point's errors ------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_eigenvalues_asked_up_front_keep_the_batch_shape_and_dtype(dtype):
    loss = tl.Loss(CASES["mixed 5-D"][0])
    W = np.random.default_rng(2).uniform(-1, 1, (2, 3, 5)).astype(dtype)
    told, later = (tl.newton_step(loss, W, eigenvalues=e, dtype=dtype) for e in (True, False))
    assert_same_bits(told, later)
    assert told.point.shape == told.eigenvalues.shape == (2, 3, 5) and told.curvature.shape == (2, 3)
    assert told.point.dtype == told.eigenvalues.dtype == told.backward_error.dtype == np.dtype(dtype)


def test_eigenvalues_asked_up_front_raise_the_typed_errors_of_a_single_point():
    with pytest.raises(tl.PointError, match="outside f's domain"):
        tl.newton_step(tl.Loss("log(x) + y**2 + z**2"), [-1.0, 0.0, 0.0], eigenvalues=True)
    with pytest.raises(tl.SingularHessianError, match=r"eigenvalues \[0.0, 2.0, 2.0\]"):
        tl.newton_step(tl.Loss("x**3 + y**2 + z**2"), [0.0, 1.0, 1.0], eigenvalues=True)
    step = tl.newton_step(tl.Loss("x**3 + y**2 + z**2"), [0.0, 1.0, 1.0], eigenvalues=True, throw=False)
    assert str(step.curvature) == "singular" and step.point.tolist() == [0.0, 1.0, 1.0]


def test_the_backward_errors_shortcut_gives_each_member_the_bits_of_the_masked_formula():
    """Where no member is singular and every scale is positive, the backward error skips its masks:
    each member's number is the same bits as in a batch where another member takes the masked path."""
    from taylorlr.numerics._solve import relative_error

    rng = np.random.default_rng(4)
    r2, f2, s2, g2 = (rng.uniform(0.0, 10.0, 64) ** 4 * 1e-30 for _ in range(4))
    none = np.zeros(64, dtype=bool)
    plain = relative_error(np, r2, f2, s2, g2, none)  # the shortcut
    expected = np.sqrt(r2) / (np.sqrt(f2) * np.sqrt(s2) + np.sqrt(g2))
    np.testing.assert_array_equal(plain, expected)
    singular = none.copy()
    singular[5] = True
    f2[9] = s2[9] = g2[9] = 0.0  # a zero scale: 0, not NaN
    masked = relative_error(np, r2, f2, s2, g2, singular)
    assert masked[5] == masked[9] == 0.0
    keep = np.ones(64, dtype=bool)
    keep[[5, 9]] = False
    np.testing.assert_array_equal(masked[keep], plain[keep])


#: H = 2 I + (grad q)(grad q)^T / 5 + q H_q / 5: dense, and of every sign pattern across [-2, 2]^6
DENSE = "x**2 + y**2 + z**2 + u**2 + v**2 + w**2 + (x*y + 2*y*z + 3*z*u + u*v + 2*v*w + 3*w*x)**2/10"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("route", ROUTES)
def test_a_dense_loss_gets_eigvalshs_labels_and_the_same_bits_by_every_route(route, dtype):
    loss = tl.Loss(DENSE)
    W = np.random.default_rng(5).uniform(-2, 2, (300, 6)).astype(dtype)
    told = tl.newton_step(loss, W, eigenvalues=True, dtype=dtype)  # every member's labels from eigvalsh
    with routed(route):
        step = tl.newton_step(loss, W, dtype=dtype)
        alone = {k: tl.newton_step(loss, W[k : k + 1], dtype=dtype) for k in (0, 151, 299)}
    assert_same_bits(told, step)
    assert {"minimum", "saddle"} <= set(labels(step)[0])
    for k, one in alone.items():
        for name in FIELDS:
            assert np.array_equal(np.asarray(getattr(one, name))[0], np.asarray(getattr(step, name))[k]), name
        assert labels(one) == tuple([group[k]] for group in labels(step))
    if route == "ldl":  # the certificate settled most members: eigvalsh was asked for few
        assert step.spectrum.checked.size < len(W) // 10
