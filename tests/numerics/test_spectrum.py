"""The verdicts without eigenvalues (certificate) agree with the eigenvalue rule and exact inertia."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import taylorlr as tl
from taylorlr.compile.backends import to_numpy
from taylorlr.numerics._solve import backward_error, solve
from taylorlr.numerics._spectrum import EPS, classify, eigenvalue_rule
from taylorlr.numerics.newton import default_rtol
from tests.numerics.routes import ROUTES, routed

CI = settings(deadline=None, derandomize=True, max_examples=40)


def verdicts(spectrum):
    return [
        np.asarray(v, dtype=bool).tolist()
        for v in (spectrum.singular, spectrum.minimum, spectrum.maximum, spectrum.ill)
    ]


def by_eigenvalues(H, tol):
    """The definition, on every member: eigvalsh and the eigenvalue rule."""
    return [np.asarray(v).tolist() for v in eigenvalue_rule(np, np.linalg.eigvalsh(H), tol, "float64")]


ANCHORS = ("zero", "singular tolerance", "sqrt(eps)", "one")
FACTORS = (0.0, 0.5, 0.9, 0.999, 1.0, 1.001, 1.1, 2.0, 100.0)


def borderline(n, anchor, factor, signs, scale, seed, rotate):
    """Symmetric H with eigenvalues lambda (signs given) whose rcond min|lambda| / max|lambda| is
    ``factor`` times an anchor: 0, the singular tolerance 4 n eps, the ill-conditioning one sqrt(eps)
    or 1; rotated by a random orthogonal Q, or left near diagonal (a perturbation well below rcond)."""
    rng = np.random.default_rng(seed)
    value = {
        "zero": 0.0,
        "singular tolerance": default_rtol(n, "float64"),
        "sqrt(eps)": EPS["float64"] ** 0.5,
    }
    rcond = value.get(anchor, 1.0) * factor
    magnitudes = np.concatenate([[rcond, 1.0], rng.uniform(min(rcond, 1.0), 1.0, max(n - 2, 0))])[:n]
    lam = np.asarray(signs, dtype=float)[:n] * (magnitudes if n > 1 else [factor]) * scale
    if rotate:
        Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        H = (Q * lam) @ Q.T
    else:
        E = rng.standard_normal((n, n)) * 1e-3 * rcond * scale / n
        H = np.diag(lam) + E
    return (H + H.T) / 2


def assert_agrees(H):
    tol = default_rtol(H.shape[-1], "float64")
    assert verdicts(classify(np, H, tol, "float64")) == by_eigenvalues(H, tol)
    for k in range(len(H)):  # and a member's verdict is independent of its batch
        alone = verdicts(classify(np, H[k : k + 1], tol, "float64"))
        assert alone == [v[k : k + 1] for v in by_eigenvalues(H, tol)]


ROTATE = (True, False)
SIGNS_AND_SCALES = [
    ((1, 1, 1, 1, 1), 1.0), ((-1, 1, -1, 1, 1), 1e-120), ((-1, -1, -1, -1, -1), 1e140),
    ((1, -1, 1, -1, -1), 1e-162), ((1, 1, 1, 1, 1), 1e-300), ((-1, -1, 1, 1, 1), 1e300),
]  # fmt: skip


@pytest.mark.parametrize("route", ROUTES)
def test_the_certificate_agrees_with_the_eigenvalue_rule_at_every_threshold(route):
    for n in (1, 2, 3, 4, 5):
        H = np.stack([
            borderline(n, anchor, factor, signs, scale, seed, rotate)
            for seed, (anchor, factor, rotate) in enumerate(itertools.product(ANCHORS, FACTORS, ROTATE))
            for signs, scale in SIGNS_AND_SCALES
        ])  # fmt: skip
        with routed(route):
            assert_agrees(H)


@CI
@given(
    st.integers(1, 4).flatmap(
        lambda n: st.lists(
            st.builds(
                borderline, st.just(n), st.sampled_from(ANCHORS), st.sampled_from(FACTORS),
                st.lists(st.sampled_from([-1, 1]), min_size=n, max_size=n),
                st.integers(-300, 300).map(lambda k: 10.0**k), st.integers(0, 2**32 - 1), st.booleans(),
            ),
            min_size=1, max_size=6,
        )
    )
)  # fmt: skip
@pytest.mark.parametrize("route", ROUTES)
def test_the_certificate_agrees_with_the_eigenvalue_rule_member_by_member(route, matrices):
    with routed(route):
        assert_agrees(np.stack(matrices))


def exact_inertia(M: sympy.Matrix) -> tuple[int, int, int]:
    """(positive, negative, zero) eigenvalues of a rational symmetric M, exactly: its roots are all
    real, so Descartes' sign changes count them exactly."""
    x = sympy.Symbol("x")
    p = sympy.Poly(M.charpoly(x).as_expr(), x)
    zero = min(k for (k,), c in p.terms() if c != 0)

    def changes(poly):
        signs = [sympy.sign(c) for c in poly.all_coeffs() if c != 0]
        return sum(1 for a, b in itertools.pairwise(signs) if a != b)

    return changes(p), changes(sympy.Poly(p.as_expr().subs(x, -x), x)), zero


@CI
@given(st.integers(1, 4).flatmap(lambda n: st.lists(
    st.lists(st.integers(-5, 5), min_size=n * n, max_size=n * n), min_size=1, max_size=5)))  # fmt: skip
@pytest.mark.parametrize("route", ROUTES)
def test_verdicts_match_sympys_exact_inertia_on_integer_matrices(route, rows):
    n = round(len(rows[0]) ** 0.5)
    exact = [sympy.Matrix(n, n, r) for r in rows]
    exact = [(M + M.T) for M in exact]
    exact += [M * sympy.diag(*([0] + [1] * (n - 1))) * M for M in exact]  # exactly singular too
    exact += [M - sympy.diag(*M.diagonal()) for M in exact[: len(rows)]]  # a zero diagonal: no pivot
    H = np.array([np.array(M.tolist(), dtype=float) for M in exact])
    with routed(route):
        s = classify(np, H, default_rtol(n, "float64"), "float64")
    for k, M in enumerate(exact):
        positive, negative, zero = exact_inertia(M)
        assert bool(s.singular[k]) == (zero > 0)
        if not zero:
            assert bool(s.minimum[k]) == (positive == n) and bool(s.maximum[k]) == (negative == n)
            assert not s.ill[k]  # an integer matrix this small is far from ill-conditioned


def test_a_well_conditioned_batch_needs_no_eigvalsh_and_its_eigenvalues_say_what_its_labels_say():
    for text, n in [("(1 - x1)**2 + 100*(x2 - x1**2)**2", 2), ("x**2 + 3*y**2 + z**2 + x*y - 2*z", 3),
                    ("x**4 + x", 1)]:  # fmt: skip
        W = np.random.default_rng(1).uniform(0.5, 2.0, (200, n))
        step = tl.newton_step(tl.Loss(text), W)
        assert step.spectrum.checked.size == 0 and step.spectrum.values is None  # no eigvalsh yet
        exact = np.linalg.eigvalsh(step.hessian)
        scale = np.abs(exact).max(-1, keepdims=True)
        bound = 8 * EPS["float64"] * scale if n == 2 else 0.0  # eigvalsh's own for n != 2
        assert np.all(np.abs(step.eigenvalues - exact) <= bound), (n, np.abs(step.eigenvalues - exact).max())
        largest, smallest = np.abs(step.eigenvalues).max(-1), np.abs(step.eigenvalues).min(-1)
        np.testing.assert_array_equal(step.condition, np.where(step.singular, np.inf, largest / smallest))
        singular, minimum, maximum, ill = eigenvalue_rule(np, exact, step.rtol, "float64")
        labels = np.where(minimum, "minimum", np.where(maximum, "maximum", "saddle"))
        assert [str(c) for c in step.curvature] == np.where(singular, "singular", labels).tolist()
        assert [str(c) for c in step.conditioning] == np.where(
            ill, "ill-conditioned", "well-conditioned"
        ).tolist()


def test_checked_members_report_eigvalsh_and_the_rest_the_closed_form():
    H = np.array([[[2.0, 1.0], [1.0, 3.0]], [[1.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, 1e-9]]])
    s = classify(np, H, default_rtol(2, "float64"), "float64")
    assert s.checked.tolist() == [1, 2]  # singular, ill-conditioned
    eigenvalues = s.eigenvalues(np, H)
    np.testing.assert_array_equal(eigenvalues[1:], np.linalg.eigvalsh(H[1:]))
    np.testing.assert_allclose(eigenvalues[0], [(5 - 5**0.5) / 2, (5 + 5**0.5) / 2], rtol=1e-15)


@CI
@given(st.lists(st.integers(-9, 9), min_size=6, max_size=6))
def test_the_closed_form_two_by_two_solve_is_exact_to_rounding(entries):
    a, b, c, g0, g1, _ = entries
    M = sympy.Matrix([[a, b], [b, c]])
    if M.det() == 0:
        return
    exact = [Fraction(str(v)) for v in M.LUsolve(sympy.Matrix([g0, g1]))]
    H, g = np.array([[[a, b], [b, c]]], dtype=float), np.array([[g0, g1]], dtype=float)
    s = solve(np, H, g, np.array([False]))
    scale = max(abs(float(v)) for v in exact) or 1.0
    assert all(
        abs(float(Fraction(v) - e)) <= 1e-13 * scale for v, e in zip(s[0].tolist(), exact, strict=True)
    )
    assert backward_error(np, H, g, s, np.array([False]))[0] <= 4 * EPS["float64"]


def test_array_api_strict_gives_the_numpy_labels_and_eigenvalues():
    xps = pytest.importorskip("array_api_strict")
    for text, W in [
        ("x**2 + 3*y**2 + z**2 + x*y - 2*z + x*y*z", [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.1, -0.2, 0.1]]),
        ("x**2 - y**2 + x*y**2", [[0.0, 0.0], [1.0, 2.0], [0.0, 1.0], [-0.5, 0.0]]),
        ("x**3", [[0.0], [1.0], [-1.0]]),
    ]:
        loss = tl.Loss(text)
        with routed("ldl"):  # not NumPy: Weyl's bound and eigvalsh, as before
            strict = tl.newton_step(loss, xps.asarray(W), backend="array-api-strict")
        plain = tl.newton_step(loss, np.array(W))
        for name in ("curvature", "conditioning"):
            assert [str(c) for c in getattr(strict, name)] == [str(c) for c in getattr(plain, name)]
        np.testing.assert_allclose(to_numpy(strict.eigenvalues), plain.eigenvalues, rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(to_numpy(strict.point), plain.point, rtol=1e-14)


# the LDL^T certificate (taylorlr.numerics._inertia) against 60-digit eigenvalues ---------------------


def dense(eigenvalues, seed, dtype="float64"):
    """A dense symmetric matrix with these eigenvalues (before rounding), turned by a random Q."""
    n = len(eigenvalues)
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    H = (Q * np.asarray(eigenvalues)) @ Q.T
    return ((H + H.T) / 2).astype(dtype)


def precise_eigenvalues(H):
    """The eigenvalues of the symmetric matrix whose lower triangle is H's (as eigvalsh reads it),
    ascending, to 60 digits (mpmath's Jacobi iteration on the exact binary entries)."""
    import mpmath

    n = H.shape[0]
    with mpmath.workdps(60):
        M = mpmath.matrix(n, n)
        for i in range(n):
            for j in range(i + 1):
                M[i, j] = M[j, i] = mpmath.mpf(float(H[i, j]))
        return sorted(mpmath.eigsy(M, eigvals_only=True))


CONDITIONS = (1.0, 1e3, 1e9)


def every_inertia(n, scale, seed, dtype="float64", negatives=None):
    """Dense members with k negative eigenvalues for every k (or those given), conditions 1 to
    1e9 in turn (:data:`CONDITIONS`)."""
    rng = np.random.default_rng(seed)
    members = []
    for negative in range(n + 1) if negatives is None else negatives:
        for condition in CONDITIONS:
            magnitudes = np.exp(rng.uniform(0.0, np.log(condition), n))
            magnitudes[0], magnitudes[-1] = 1.0, condition
            signs = np.where(np.arange(n) < negative, -1.0, 1.0)
            members.append(
                dense(rng.permutation(signs * magnitudes) * scale / condition, seed + len(members), dtype)
            )
    return np.stack(members)


@pytest.mark.parametrize(("n", "scale", "dtype"), [
    (3, 1.0, "float64"), (4, 1e-150, "float64"), (6, 1e150, "float64"), (10, 1.0, "float64"),
    (12, 3.0, "float64"), (5, 1.0, "float32"), (10, 1e-10, "float32"),
])  # fmt: skip
def test_the_ldl_bounds_hold_against_60_digit_eigenvalues_at_every_inertia(n, scale, dtype):
    from taylorlr.numerics._inertia import available, ldl_bounds, upper_bound

    H = every_inertia(n, scale, seed=n, dtype=dtype, negatives=None if n < 10 else (0, 1, n // 2, n - 1, n))
    assert available(H, dtype)
    lower, sign = ldl_bounds(H, dtype, np.arange(len(H)))
    top = upper_bound((H.astype(float) ** 2).sum(axis=(1, 2)), n, dtype)
    for k, member in enumerate(H):
        exact = precise_eigenvalues(member)
        smallest, largest = min(abs(v) for v in exact), max(abs(v) for v in exact)
        assert float(lower[k]) <= smallest and float(top[k]) >= largest, (k, float(lower[k]), float(smallest))
        if lower[k] > 0:
            want = 1.0 if exact[0] > 0 else -1.0 if exact[-1] < 0 else 0.0
            assert float(sign[k]) == want, k
    assert np.all(lower[:: len(CONDITIONS)] > 0)  # the bounds settle every member of condition 1


def test_pivots_that_break_down_and_values_that_are_not_finite_are_never_certified():
    from taylorlr.numerics._inertia import ldl_bounds

    swap = [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]  # [[0, 1], [1, 0]] + [1]: pivot 1, then 0
    ring = [[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]  # eigenvalues 2, -1, -1: no pivot at all
    tiny = [[1e-300, 1.0, 0.0], [1.0, -1e-300, 0.0], [0.0, 0.0, 2.0]]
    nan = [[1.0, np.nan, 0.0], [np.nan, 1.0, 0.0], [0.0, 0.0, 1.0]]
    inf = [[np.inf, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    huge = [[1e308, 1e308, 0.0], [1e308, -1e308, 0.0], [0.0, 0.0, 1.0]]  # its elimination overflows
    H = np.array([swap, ring, tiny, nan, inf, huge, np.eye(3)])
    lower, _ = ldl_bounds(H, "float64", np.arange(len(H)))
    assert (lower > 0).tolist() == [False] * 6 + [True]
    tol = default_rtol(3, "float64")
    with routed("ldl"), np.errstate(all="ignore"):
        s = classify(np, H[[0, 1, 2, 5, 6]], tol, "float64")
        assert verdicts(s) == by_eigenvalues(H[[0, 1, 2, 5, 6]], tol)
        assert s.checked.tolist() == [0, 1, 2, 3]  # eigvalsh decided the four that broke down


def test_a_members_ldl_bounds_are_the_same_bits_alone_anywhere_in_a_batch_and_through_strides():
    from taylorlr.numerics._inertia import LANES, ldl_bounds

    H = np.concatenate([every_inertia(6, 1.0, seed=3), every_inertia(6, 1e-5, seed=4)])
    size = len(H)
    lower, sign = ldl_bounds(H, "float64", np.arange(size))
    for k in (0, 1, size - 1):  # the last member sits in a padded vector
        alone = ldl_bounds(H[k : k + 1], "float64", np.array([0]))
        assert alone[0].tobytes() == lower[k : k + 1].tobytes() and alone[1][0] == sign[k]
    order = np.random.default_rng(0).permutation(size)[: 2 * LANES + 1]  # listed in any order, any count
    listed = ldl_bounds(H, "float64", order)
    assert listed[0].tobytes() == lower[order].tobytes() and listed[1].tobytes() == sign[order].tobytes()
    packed = np.zeros((size, 6 + 36))  # as the kernel writes g and H: H a strided view
    packed[:, 6:] = H.reshape(size, -1)
    strided = ldl_bounds(packed[:, 6:].reshape(size, 6, 6), "float64", np.arange(size))
    assert strided[0].tobytes() == lower.tobytes()
    transposed = np.ascontiguousarray(H.transpose(0, 2, 1)).transpose(0, 2, 1)  # column-major members
    assert ldl_bounds(transposed, "float64", np.arange(size))[0].tobytes() == lower.tobytes()


@pytest.mark.parametrize("route", ROUTES)
def test_dense_members_of_every_inertia_get_the_eigenvalue_rules_labels_by_every_route(route):
    for n in (3, 6, 10):
        H = np.concatenate([every_inertia(n, scale, seed=n) for scale in (1.0, 1e-200, 1e200)])
        with routed(route):
            assert_agrees(H)
            checked = classify(np, H[: len(H) // 3], default_rtol(n, "float64"), "float64").checked
        if route != "weyl":  # at scale 1, LDL^T settles every member but those of condition 1e9
            assert set((checked % len(CONDITIONS)).tolist()) <= {2}, (n, checked)


def test_the_compiled_loop_refuses_what_it_would_read_out_of_bounds():
    from taylorlr.numerics._inertia import available, ldl_bounds

    H = np.stack([np.eye(4)] * 3)
    with pytest.raises(IndexError):
        ldl_bounds(H, "float64", np.array([0, 3]))
    with pytest.raises(ValueError):
        ldl_bounds(H.astype(np.float32), "float64", np.array([0]))  # 4-byte entries read as 8
    assert not available(np.stack([np.eye(2)] * 3), "float64") and not available(H[:, ::-1], "float64")


def test_a_packed_record_field_of_odd_stride_gets_the_labels_of_its_contiguous_copy():
    # a field of a packed record array: the member stride (8 n^2 + 1 bytes) is no multiple of 8 and
    # the entries are unaligned, so the compiled loop cannot address it; the labels must not change
    from taylorlr.numerics._inertia import available

    n, size = 6, 4200  # above FACTORED_FROM, so the LDL^T route would take a contiguous batch
    H = np.concatenate([every_inertia(n, 1.0, seed=k) for k in range(size // len(CONDITIONS) + 1)])[:size]
    records = np.zeros(size, dtype=[("H", "f8", (n, n)), ("flag", "i1")])
    records["H"] = H
    view = records["H"]
    assert view.strides[0] % 8 and not available(view, "float64") and available(H, "float64")
    tol = default_rtol(n, "float64")
    for labels, expected in zip(
        (classify(np, view, tol, "float64"), classify(np, H, tol, "float64")),
        [eigenvalue_rule(np, np.linalg.eigvalsh(H), tol, "float64")] * 2,
        strict=True,
    ):
        got = (to_numpy(labels.singular), labels.minimum, labels.maximum, labels.ill)
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_array_equal(np.asarray(a, dtype=bool), np.asarray(b, dtype=bool))
