"""The golden-section oracle (f not a polynomial): how close its alpha is to the true line minimiser,
and what a step costs, against another checkout's golden search run on the same compiled loss.

    python bench/bench_golden.py [--baseline /work/main] [--lines 40]

For each loss, ``--lines`` random lines (theta normal, omega the gradient there) from guess 0.1:
the largest and median relative error of alpha against the root of g' in 50-digit mpmath started
at the baseline's alpha (a line where that root is not a local minimum near it, or mpmath finds
none, is left out and counted), then the milliseconds a step of one start takes on Osborne 2
(the mean of 20 after 5 untimed, both searches alternated). Without ``--baseline``, only this
checkout's figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import sympy

import taylorlr as tl
from taylorlr.alpha import oracle

LOSSES = (
    "log(1 + x**2) + exp(y/3) + y**2/2 + x*y/4",
    "exp(x) - 2*x + cosh(y - 1)",
    "(exp(-x) - y)**2 + sin(x)**2/10",
    "sqrt(1 + (x - 3)**2) + log(cosh(y))",
    "exp(x)**2 + exp(-3*y) + x*y",
    "(x*exp(y) - 1)**2",  # the line's minimum is 0 on most lines
)


def baseline_minimiser(path: str) -> Any:
    """``_golden_minimiser`` of the oracle module of the checkout at ``path``."""
    spec = importlib.util.spec_from_file_location("baseline_oracle", Path(path) / "taylorlr/alpha/oracle.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_oracle"] = module  # (its dataclasses look their module up)
    spec.loader.exec_module(module)
    return module._golden_minimiser


def errors(loss: tl.Loss, alphas: list[Any], theta: Any, omega: Any) -> tuple[list[list[float]], int]:
    """Relative errors of each set of ``alphas`` against mpmath's minimiser; lines left out."""
    a = sympy.Symbol("a")
    out: list[list[float]] = [[] for _ in alphas]
    left_out = 0
    with mpmath.workdps(50):
        for k in range(theta.shape[0]):
            if not np.isfinite(alphas[0][k]):
                left_out += 1
                continue
            pairs = zip(loss.variables, theta[k], omega[k], strict=True)
            g = loss.expr.xreplace({v: sympy.Float(t, 50) - a * sympy.Float(w, 50) for v, t, w in pairs})
            slope = sympy.lambdify(a, sympy.diff(g, a), "mpmath")
            curvature = sympy.lambdify(a, sympy.diff(g, a, 2), "mpmath")
            try:
                star = mpmath.findroot(slope, mpmath.mpf(float(alphas[0][k])))
            except (ValueError, ZeroDivisionError):
                left_out += 1
                continue
            near = abs(star - alphas[0][k]) <= 1e-3 * abs(star)
            if not near or curvature(star) <= 0:
                left_out += 1
                continue
            for found, alpha in zip(out, alphas, strict=True):
                found.append(float(abs(alpha[k] - star) / abs(star)))
    return out, left_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="a checkout whose golden search is compared")
    parser.add_argument("--lines", type=int, default=40)
    args = parser.parse_args()
    searches = {"now": oracle._golden_minimiser}
    if args.baseline:
        searches["baseline"] = baseline_minimiser(args.baseline)
    rng = np.random.default_rng(0)
    print("| loss | lines | " + " | ".join(f"{name}: max / median rel. error" for name in searches) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in searches) + " |")
    for text in LOSSES:
        loss = tl.Loss(text)
        compiled = loss.compile()
        theta = rng.normal(size=(args.lines, 2))
        omega = compiled.grad(theta)
        guess = np.full(args.lines, 0.1)
        alphas = [search(compiled)(theta, omega, guess, {}) for search in searches.values()]
        found, left_out = errors(loss, alphas, theta, omega)
        cells = [f"{max(e):.1e} / {float(np.median(e)):.1e}" for e in found]
        print(f"| `{text}` | {len(found[0])} ({left_out} left out) | " + " | ".join(cells) + " |")
    problem = tl.problems.get("osborne2")
    compiled = problem.loss.compile()
    x = np.asarray(problem.x0, dtype=float)
    w = compiled.grad(x)
    built = {name: search(compiled) for name, search in searches.items()}
    times: dict[str, list[float]] = {name: [] for name in built}
    for minimise in built.values():  # the kernels' builds (and tiers) off the clock
        for _ in range(5):
            minimise(x, w, np.array(0.1), {})
    for _ in range(20):
        for name, minimise in built.items():
            start = time.perf_counter()
            minimise(x, w, np.array(0.1), {})
            times[name].append(time.perf_counter() - start)
    means = ", ".join(f"{name} {1e3 * np.mean(t):.1f}" for name, t in times.items())
    print(f"Osborne 2, one start, ms a step: {means}")


if __name__ == "__main__":
    main()
