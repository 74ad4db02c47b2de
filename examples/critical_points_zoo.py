"""Exact critical points of the test zoo: status, counts and wall time.

Run: PYTHONPATH=. python examples/critical_points_zoo.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from zoo import ZOO, make_loss


def main() -> None:
    print("| problem | status | points | kinds | seconds |")
    print("| --- | --- | --- | --- | --- |")
    for problem in ZOO:
        started = time.perf_counter()
        result = make_loss(problem.text).critical_points()
        kinds = ", ".join(f"{n} {k}" for k, n in result.counts().items())
        seconds = time.perf_counter() - started
        print(f"| {problem.name} | {result.status} | {len(result)} | {kinds} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
