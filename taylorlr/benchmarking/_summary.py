"""Summaries of a benchmark table: per solver (solved, converged, wins) and per problem (who wins).

A run "solved" a problem at level tau when it met the More-Wild test f <= f* + tau (f0 - f*)
(``evals_to_<tau>`` finite); a solver "wins" a (problem, start) when it solved it with the fewest
evaluations (ties: every solver with the fewest wins).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taylorlr.benchmarking._record import Benchmark

#: statuses counted as failures in the summary
FAILURES = ("diverged", "nonfinite", "error", "timeout")


def solver_summary(table: Benchmark, tau: float = 1e-3) -> list[dict[str, Any]]:
    """One dict per solver: runs, solved, converged, failed, wins, median evaluations of the solved.

    >>> import taylorlr as tl
    >>> t = tl.benchmark(["booth"], rules=("exact",), optimizers=("gd",), baselines=("bfgs",), steps=50)
    >>> [(s["solver"], s["solved"], s["wins"]) for s in solver_summary(t)]
    [('exact/gd', 1, 0), ('bfgs', 1, 1)]
    """
    import numpy

    from taylorlr.benchmarking.profiles import profile_costs

    costs, _, solvers = profile_costs(table, tau)
    best = costs.min(axis=1, keepdims=True) if costs.size else costs
    wins = ((costs == best) & numpy.isfinite(costs)).sum(axis=0) if costs.size else numpy.zeros(len(solvers))
    cost_column = table.column(f"evals_to_{tau:.0e}")
    out = []
    for k, solver in enumerate(solvers):
        mine = table.column("solver") == solver
        status = table.column("status")[mine]
        solved = cost_column[mine][numpy.isfinite(cost_column[mine])]
        out.append(
            {
                "solver": solver,
                "runs": int(mine.sum()),
                "solved": int(solved.size),
                "converged": int((status == "converged").sum()),
                "failed": int(numpy.isin(status, FAILURES).sum()),
                "wins": int(wins[k]),
                "median_evaluations": float(numpy.median(solved)) if solved.size else math.nan,
            }
        )
    return out


def problem_winners(table: Benchmark, tau: float = 1e-3, start: int = 0) -> list[dict[str, Any]]:
    """Per problem, from one start: the best taylorlr solver (fewest evaluations to solve, then the
    smallest final gap) and each baseline's evaluations (inf: did not solve)."""
    column = f"evals_to_{tau:.0e}"
    rows = [r for r in table.rows() if r["start"] == start]
    out = []
    for problem in table.problems:
        mine = [r for r in rows if r["problem"] == problem]
        if not mine:
            continue
        rules = [r for r in mine if r["kind"] == "rule"]
        best = min(rules, key=lambda r: (r[column], _gap_key(r["gap"]))) if rules else None
        entry = {
            "problem": problem,
            "number": mine[0]["number"],
            "n": mine[0]["n"],
            "best": best["solver"] if best is not None else "",
            "best_evaluations": best[column] if best is not None else math.inf,
            "best_status": best["status"] if best is not None else "",
            "best_relative_gap": best["relative_gap"] if best is not None else math.nan,
        }
        for r in mine:
            if r["kind"] == "baseline":
                entry[r["solver"]] = r[column]
                entry[f"{r['solver']}_status"] = r["status"]
        out.append(entry)
    return out


def _gap_key(gap: float) -> float:
    return gap if math.isfinite(gap) else math.inf
