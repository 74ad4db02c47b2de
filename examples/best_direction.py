"""Source 002's question on Rosenbrock: the loss reached in one step of length eta along each direction.

Run: PYTHONPATH=. python examples/best_direction.py
"""

from __future__ import annotations

import taylorlr as tl
from taylorlr.numerics.direction import best_direction


def main() -> None:
    best = best_direction(tl.Loss("(1 - x)**2 + 100*(y - x**2)**2"), [-1.2, 1.0], eta=0.5)
    print(f"normalised gradient: f = {best.gradient_value:.4g}")
    print(f"normalised Newton:   f = {best.newton_value:.4g}")
    print(f"model delta*:        f = {best.model_value:.4g} (hard case: {best.hard_case})")
    print(f"numeric delta*:      f = {best.numeric_value:.4g} (numeric, labelled)")


if __name__ == "__main__":
    main()
