"""Iterations to ||grad f|| <= 1e-12: Newton against the third-order steps (Halley, Chebyshev).

Run: python examples/higher_order_table.py   (prints a Markdown table)
"""

from __future__ import annotations

import taylorlr as tl

PROBLEMS = [
    ("exp(x) - 2*x", [3.0]),
    ("x**4 - 2*x**2", [2.0]),
    ("log(1 + exp(x)) + x**2/10 - x", [-4.0]),
    ("exp(x) - 2*x + y**4/4 + y**2", [3.0, 1.5]),
    ("(1 - x)**2 + 100*(y - x**2)**2", [-1.2, 1.0]),
    ("(x**2 + y - 11)**2 + (x + y**2 - 7)**2", [4.0, 4.0]),
]
METHODS = ("newton", "halley", "chebyshev")


def cell(loss: tl.Loss, start: list[float], method: str) -> str:
    run = tl.newton(loss, start, steps=100, tol=1e-12, method=method)
    point = ", ".join(f"{v:.6g}" for v in run.point.tolist())
    if run.status != "converged":
        return f"{run.status} after {run.iterations}"
    return f"{run.iterations} ({point})"


def main() -> None:
    print("| loss | start | " + " | ".join(METHODS) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in METHODS) + " |")
    for text, start in PROBLEMS:
        loss = tl.Loss(text)
        cells = " | ".join(cell(loss, start, m) for m in METHODS)
        print(f"| `{text}` | {tuple(start)} | {cells} |")


if __name__ == "__main__":
    main()
