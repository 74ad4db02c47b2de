"""Source 000's interactive demo, recomputed exactly, and the cubic-term miss table.

Run: python examples/source_000_demo.py
"""

from __future__ import annotations

from taylorlr.analysis.onestep import miss_table, one_step_demo


def main() -> None:
    demo = one_step_demo(a=-1, b=-2, c=-3, w0=-4)
    print("\n".join(demo.lines()))
    print()
    print("| d | w1 | nearest extremum w* | miss abs(w1 - w*) |")
    print("| --- | --- | --- | --- |")
    for row in miss_table(["0", "0.001", "0.01", "0.05", "0.1", "0.2", "0.5", "1"]):
        star = "none" if row.w_star is None else f"{float(row.w_star):.6f}"
        miss = "-" if row.miss is None else f"{float(row.miss):.6f}"
        print(f"| {row.d} | {float(row.w1):.6f} | {star} | {miss} |")


if __name__ == "__main__":
    main()
