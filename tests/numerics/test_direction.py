"""Source 002: the best unit direction for a fixed step length."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zoo import make_loss

from taylorlr.numerics.direction import best_direction, sphere_subproblem


def brute_force_on_circle(g, H, radius):
    angles = np.linspace(0, 2 * np.pi, 200001)
    S = radius * np.stack([np.cos(angles), np.sin(angles)], -1)
    values = S @ g + 0.5 * np.einsum("ki,ij,kj->k", S, H, S)
    return values.min()


@settings(deadline=None, derandomize=True, max_examples=40)
@given(
    st.lists(st.integers(-5, 5), min_size=2, max_size=2),
    st.lists(st.integers(-5, 5), min_size=3, max_size=3),
    st.sampled_from([0.1, 0.5, 1.0, 3.0]),
)
def test_sphere_subproblem_matches_a_brute_force_search_in_2d(g, h, radius):
    g = np.array(g, dtype=float)
    H = np.array([[h[0], h[1]], [h[1], h[2]]], dtype=float)
    s, lam, _ = sphere_subproblem(g, H, radius)
    assert np.linalg.norm(s) == pytest.approx(radius, rel=1e-9)
    assert np.linalg.eigvalsh(H + lam * np.eye(2))[0] >= -1e-9
    value = s @ g + 0.5 * s @ H @ s
    assert value <= brute_force_on_circle(g, H, radius) + 1e-9


def test_hard_case_is_detected_and_solved():
    g, H = np.array([0.0, 1.0]), np.diag([-2.0, 1.0])
    s, lam, hard = sphere_subproblem(g, H, 1.0)
    assert hard and lam == pytest.approx(2.0)
    np.testing.assert_allclose(np.abs(s), [np.sqrt(8) / 3, 1 / 3])


def test_best_direction_beats_gradient_and_newton_on_rosenbrock():
    best = best_direction(make_loss("(1 - x)**2 + 100*(y - x**2)**2"), [-1.2, 1.0], eta=0.5)
    assert best.numeric_value <= min(best.model_value, best.gradient_value, best.newton_value) + 1e-12
    assert best.model_value < best.gradient_value
    assert np.linalg.norm(best.numeric_direction) == pytest.approx(1.0)


def test_on_a_quadratic_the_model_answer_is_the_true_answer():
    best = best_direction(make_loss("x**2 + 10*y**2 + x*y"), [1.0, -2.0], eta=0.7)
    assert best.model_value == pytest.approx(best.model_prediction, abs=1e-12)
    assert best.numeric_value == pytest.approx(best.model_value, abs=1e-8)
