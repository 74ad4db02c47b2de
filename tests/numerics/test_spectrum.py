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


def test_the_certificate_agrees_with_the_eigenvalue_rule_at_every_threshold():
    for n in (1, 2, 3, 4, 5):
        H = np.stack([
            borderline(n, anchor, factor, signs, scale, seed, rotate)
            for seed, (anchor, factor, rotate) in enumerate(itertools.product(ANCHORS, FACTORS, ROTATE))
            for signs, scale in SIGNS_AND_SCALES
        ])  # fmt: skip
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
def test_the_certificate_agrees_with_the_eigenvalue_rule_member_by_member(matrices):
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
def test_verdicts_match_sympys_exact_inertia_on_integer_matrices(rows):
    n = round(len(rows[0]) ** 0.5)
    exact = [sympy.Matrix(n, n, r) for r in rows]
    exact = [(M + M.T) for M in exact]
    exact += [M * sympy.diag(*([0] + [1] * (n - 1))) * M for M in exact]  # exactly singular too
    H = np.array([np.array(M.tolist(), dtype=float) for M in exact])
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
        strict = tl.newton_step(loss, xps.asarray(W), backend="array-api-strict")
        plain = tl.newton_step(loss, np.array(W))
        for name in ("curvature", "conditioning"):
            assert [str(c) for c in getattr(strict, name)] == [str(c) for c in getattr(plain, name)]
        np.testing.assert_allclose(to_numpy(strict.eigenvalues), plain.eigenvalues, rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(to_numpy(strict.point), plain.point, rtol=1e-14)
