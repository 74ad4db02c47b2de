"""Source 001's worked examples recomputed with taylorlr, showing its two slips.

Run: python examples/source_001_slips.py
"""

from __future__ import annotations

import sympy

import taylorlr as tl


def least_squares_gradient() -> None:
    # L(w) = ||Phi^T w - y||^2 with a 2 x 3 Phi and 3 targets
    Phi = sympy.Matrix([[1, 2, 0], [3, -1, 4]])
    y = sympy.Matrix([1, 2, 3])
    loss = tl.Loss("(w1 + 3*w2 - 1)**2 + (2*w1 - w2 - 2)**2 + (4*w2 - 3)**2")
    w = sympy.Matrix(loss.variables)
    notes = Phi * Phi.T * w - Phi * y  # the notes' gradient
    ratio = [sympy.simplify(g / n) for g, n in zip(loss.gradient, notes, strict=True)]
    print("gradient of ||Phi^T w - y||^2 (taylorlr):", list(loss.gradient))
    print("the notes' Phi Phi^T w - Phi y:          ", list(notes))
    print("ratio:", ratio, "-> the notes drop the factor 2")


def hessian_example() -> None:
    loss = tl.Loss("x**2 + 2*y**2 + 3*x*y**2")
    print("H_g for g = x^2 + 2y^2 + 3xy^2 (taylorlr):", loss.hessian.tolist())
    print("the notes' matrix:                         [[2*x, 6*y], [6*y, 4*y + 6*x]]")
    print("their own working gives 2 (not 2x) top left and 4 + 6x (not 4y + 6x) bottom right")
    f = tl.Loss("x**2*y**3")
    print("f = x^2 y^3: H_f =", f.hessian.tolist(), "(the notes' entries 2y^3 and 6xy^2 agree)")


if __name__ == "__main__":
    least_squares_gradient()
    hessian_example()
