"""The error claims of source document 003, measured: fitted orders of each approximation.

For a point theta, a direction omega and step lengths alpha = 2^-4 ... 2^-12, each
approximation of omega^T H(theta+) omega (and of the slope <grad f(theta+), omega>)
is compared with its exact value from the compiled symbolic derivatives; the
order is the slope of log(error) against log(alpha). Run:

    python examples/rule_error_orders.py

It prints a Markdown table (the one in docs/rules.md) and the bias of the
published three-point numerator on a quadratic.
"""

from __future__ import annotations

import numpy as np

import taylorlr as tl
from taylorlr.alpha import rules

LOSSES = {
    "cubic": "x**3 + x*y**2 + 2*y**2 - x*y",
    "quartic": "x**4 + x**2*y**2 + 3*y**4 + x*y",
}
THETA, OMEGA = np.array([0.7, -0.4]), np.array([0.6, 0.8])
ALPHAS = 2.0 ** -np.arange(4, 13)

# name: (how to compute the approximation and the truth from a probe, the document's order)
ESTIMATES = {
    "retsinas: <g_t - g+, w> / alpha ~ w'H(theta+)w": (
        "curvature",
        rules.retsinas(),
        "O(alpha) (1st-order Taylor of grad f)",
    ),
    "value-gradient: 2(f_t - f+ - alpha s+) / alpha^2": (
        "curvature",
        rules.value_gradient(),
        "O(alpha) (2nd-order Taylor of f)",
    ),
    "three-point: (f+ + f_mirror - 2 f_t) / alpha^2": (
        "curvature",
        rules.three_point(),
        "~ (stated with H at theta+)",
    ),
    "slope, corrected values (4f_t - 3f+ - f_mirror) / (2 alpha)": (
        "slope",
        rules.three_point("values"),
        "(not in the document)",
    ),
    "slope, published (f_mirror - f+) / (2 alpha)": (
        "slope",
        rules.three_point("values-as-published"),
        "~ (stated as an approximation)",
    ),
}


def probe_along(f: tl.Compiled, alphas: np.ndarray) -> rules.Probe:
    return rules.Probe.along(f, THETA, OMEGA, alphas)


def fitted_order(alphas: np.ndarray, errors: np.ndarray) -> float:
    return float(np.polyfit(np.log(alphas), np.log(errors), 1)[0])


def document_claims(f: tl.Compiled, p: rules.Probe) -> dict[str, float]:
    """The two expansions the document states about the Retsinas approximation."""
    slope_t = float(np.dot(f.grad(THETA), OMEGA))
    curvature_t = float(OMEGA @ f.hvp(THETA, OMEGA))
    slope_plus = rules.exact().slope(p)
    difference = (p.value - p.value_plus) / p.alpha
    return {
        "(s_t + s+)/2 - (f_t - f+)/alpha: document O(alpha^2)": fitted_order(
            ALPHAS, np.abs((slope_t + slope_plus) / 2 - difference)
        ),
        "(f_t - f+)/alpha - (s_t - alpha c_t / 2): document O(alpha^3)": fitted_order(
            ALPHAS, np.abs(difference - (slope_t - p.alpha * curvature_t / 2))
        ),
    }


def published_bias() -> tuple[float, float]:
    """Mean |alpha_{t+1} - oracle_t| / oracle_t on a quadratic, published vs corrected numerator."""
    loss = tl.Loss("2*x**2 + x*y + y**2")
    errors = []
    for numerator in ("values-as-published", "values"):
        r = tl.run(
            loss,
            [1.0, -2.0],
            "gd",
            "three-point",
            rule_options={"numerator": numerator},
            gamma=1.0,
            safeguards="none",
            steps=8,
            tol=0.0,
            alpha0=0.05,
        )
        errors.append(float(np.mean(np.abs(r.alphas[1:] - r.oracle_alphas) / np.abs(r.oracle_alphas))))
    return errors[0], errors[1]


def main() -> None:
    print("| approximation | document's order | fitted order (cubic) | fitted order (quartic) |")
    print("| --- | --- | --- | --- |")
    claims: dict[str, list[float]] = {}
    compiled = {name: tl.Loss(text).compile() for name, text in LOSSES.items()}
    for label, (what, rule, claimed) in ESTIMATES.items():
        orders = []
        for f in compiled.values():
            p = probe_along(f, ALPHAS)
            exact = rules.exact()
            truth = (exact.curvature if what == "curvature" else exact.slope)(p)
            approx = (rule.curvature if what == "curvature" else rule.slope)(p)
            orders.append(fitted_order(ALPHAS, np.abs(approx - truth)))
        print(f"| {label} | {claimed} | {orders[0]:.3f} | {orders[1]:.3f} |")
    for f in compiled.values():
        for label, order in document_claims(f, probe_along(f, ALPHAS)).items():
            claims.setdefault(label, []).append(order)
    for label, (cubic, quartic) in claims.items():
        text, claimed = label.split(": document ")
        print(f"| {text} | {claimed} | {cubic:.3f} | {quartic:.3f} |")
    published, corrected = published_bias()
    print()
    print("three-point on the quadratic 2x^2 + xy + y^2, GD, gamma = 1, safeguards 'none', 8 steps:")
    print(f"  mean |alpha_(t+1) - alpha*_t| / alpha*_t: published {published:.3e}, corrected {corrected:.3e}")


if __name__ == "__main__":
    main()
