"""The eigenvalue rule in one compiled pass (taylorlr.numerics._rule) gives the rule's verdicts,
member by member: at every threshold, on every sign pattern, with zeros, infinities and NaN."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taylorlr.numerics._rule import FROM, LIMIT, rule
from taylorlr.numerics._spectrum import EPS, _rule, eigenvalue_rule

CI = settings(deadline=None, derandomize=True, max_examples=40)


def batch(rows):
    """The rows repeated to FROM members or more (the loop's smallest batch), contiguous float64."""
    rows = np.asarray(rows, dtype=np.float64)
    return np.ascontiguousarray(np.tile(rows, (-(-FROM // len(rows)), 1)))


def assert_the_rules_verdicts(values, tol):
    verdicts = rule(values, tol)
    assert verdicts is not None
    with np.errstate(all="ignore"):  # the rule as written warns on inf; the loop does not
        expected = eigenvalue_rule(np, values, tol, "float64")
    for got, want in zip(verdicts, expected, strict=True):
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got, np.asarray(want, dtype=bool))


def test_the_thresholds_themselves():
    """LIMIT = eps^-1/2 = 2^26 exactly, and tol * largest is exact for a power of two: the verdicts
    at, just below and just above each threshold."""
    assert LIMIT == 2.0**26 == EPS["float64"] ** -0.5
    up, down = np.nextafter(1.0, 2.0), np.nextafter(1.0, 0.0)
    rows = [
        [2.0**-40, 0.5, 1.0], [2.0**-40 * up, 0.5, 1.0], [2.0**-40 * down, 0.5, 1.0],  # singular at tol 2^-40
        [1.0, 2.0, 2.0**26], [1.0, 2.0, 2.0**26 * up], [down, 2.0, 2.0**26],  # ill-conditioning's edge
        [-2.0**26, -1.0, -1.0], [-(2.0**26) * up, -3.0, -1.0],  # both, on negative eigenvalues
        [-1.0, 2.0**-41, 3.0], [-1.0, 0.0, 3.0], [-1.0, -0.0, 3.0], [0.0, 1.0, 1.0], [-0.0, -0.0, -0.0],
        [-np.inf, 1.0, 2.0], [1.0, 2.0, np.inf], [-np.inf, -np.inf, np.inf], [np.finfo(float).tiny / 4, 1, 1],
    ]  # fmt: skip
    values = batch(rows)
    for tol in (2.0**-40, 0.0, 12 * 2.0**-52, 0.25):
        assert_the_rules_verdicts(values, tol)
    singular, minimum, maximum, ill = rule(values, 2.0**-40)
    assert singular[:3].tolist() == [True, False, True] and ill[3:6].tolist() == [False, True, True]
    assert minimum[0] and maximum[6] and not (minimum[8] or maximum[8])


@CI
@given(
    n=st.integers(2, 12),
    tol=st.sampled_from([0.0, 12 * 2.0**-52, 1e-8, 0.5]),
    rows=st.lists(
        st.lists(st.floats(-1e300, 1e300, allow_nan=False) | st.sampled_from([0.0, -0.0, 1e-300, -1e-300]),
                 min_size=12, max_size=12),
        min_size=1, max_size=8,
    ),
)  # fmt: skip
def test_the_loop_gives_the_rules_verdicts_on_any_ascending_rows(n, tol, rows):
    values = batch(np.sort(np.asarray(rows)[:, :n], axis=-1))
    assert_the_rules_verdicts(values, tol)


@pytest.mark.parametrize("n", [3, 10])
def test_on_eigvalsh_output_with_every_label(n):
    """Spectra built at and around both thresholds, through eigvalsh: minimum, maximum, saddle,
    singular and ill-conditioned members, each with the rule's verdicts."""
    rng = np.random.default_rng(n)
    Q = np.linalg.qr(rng.standard_normal((FROM, n, n)))[0]
    scale = rng.choice([1e-17, 1e-15, 1e-9, 1e-8, 1e-7, 1.0], (FROM, 1)) * rng.choice([-1.0, 1.0], (FROM, n))
    spectrum = np.concatenate([scale[:, :1], rng.uniform(0.5, 2.0, (FROM, n - 1))], axis=-1)
    pattern = rng.integers(0, 3, (FROM, 1))  # all positive, all negative, or mixed signs
    spectrum *= np.where(pattern == 0, 1.0, np.where(pattern == 1, -1.0, rng.choice([-1.0, 1.0], (FROM, n))))
    H = Q @ (spectrum[..., None] * np.swapaxes(Q, -1, -2))
    values = np.linalg.eigvalsh((H + np.swapaxes(H, -1, -2)) / 2)
    tol = 4 * n * EPS["float64"]
    assert_the_rules_verdicts(values, tol)
    singular, minimum, maximum, ill = rule(values, tol)
    assert singular.any() and ill.any() and minimum.any() and maximum.any() and (~(minimum | maximum)).any()


def test_a_nan_row_or_a_batch_it_does_not_serve_goes_to_the_numpy_rule():
    values = batch([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
    assert rule(values[: FROM - 1], 0.0) is None  # a small batch: no build for it
    assert rule(values.astype(np.float32), 0.0) is None
    assert rule(np.asfortranarray(values), 0.0) is None
    values[5, 1] = np.nan
    assert rule(values, 0.0) is None
    expected = eigenvalue_rule(np, values, 0.0, "float64")  # classify's route: the rule as written
    for got, want in zip(_rule(np, values, 0.0, "float64"), expected, strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
