"""Dolan-More performance profiles and More-Wild data profiles, computed with NumPy.

The input is a cost matrix t[p, s]: what solver s spent to solve problem p (here the
evaluations until the run met the More-Wild convergence test at level tau), inf where it
never did.

* Performance profile (Dolan and More, Math. Program. 91 (2002) 201-213): with the ratio
  r[p, s] = t[p, s] / min_s t[p, s], rho_s(alpha) is the fraction of problems with
  r[p, s] <= alpha. A problem no solver solved has every ratio inf and counts, unsolved, for all.
* Data profile (More and Wild, SIAM J. Optim. 20 (2009) 172-191): d_s(kappa) is the fraction
  of problems solved within kappa (n_p + 1) evaluations, n_p the problem's dimension (kappa
  "simplex gradients").
* The convergence test (More and Wild): f(x) <= f_L + tau (f(x0) - f_L). Here f_L is the
  problem's published minimum f* (the benchmark judges runs against the known minimum), not
  the best value any solver found as in More and Wild.

>>> import numpy as np
>>> costs = np.array([[1.0, 2.0], [4.0, np.inf]])
>>> performance_ratios(costs).tolist()
[[1.0, 2.0], [1.0, inf]]
>>> performance_profile(costs, [1.0, 2.0]).tolist()
[[1.0, 1.0], [0.0, 0.5]]
>>> data_profile(costs, [1, 3], [1.0, 2.0]).tolist()  # t / (n + 1) = [[1/2, 1], [1, inf]]
[[1.0, 1.0], [0.5, 0.5]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taylorlr.benchmarking._record import Benchmark

__all__ = [
    "data_profile",
    "meets_test",
    "performance_profile",
    "performance_ratios",
    "plot_profiles",
    "profile_costs",
]


def meets_test(f: Any, f0: Any, f_low: Any, tau: float) -> Any:
    """More and Wild's convergence test f <= f_low + tau (f0 - f_low), elementwise (NaN: False).

    >>> meets_test([10.0, 1.0, 0.9], 10.0, 0.0, 0.1).tolist()  # ties count as met
    [False, True, True]
    """
    import numpy

    f, f0, f_low = (numpy.asarray(v, dtype=float) for v in (f, f0, f_low))
    with numpy.errstate(invalid="ignore"):
        return (f - f_low <= tau * (f0 - f_low)) & numpy.isfinite(f)


def performance_ratios(costs: Any) -> Any:
    """r[p, s] = t[p, s] / min_s t[p, s]; inf where s failed or no solver solved p.

    Raises:
        ValueError: a cost that is negative, zero or NaN (every solved run costs at least one
            evaluation; a failure is inf).

    >>> performance_ratios([[2.0, 3.0], [5.0, float("inf")]]).tolist()
    [[1.0, 1.5], [1.0, inf]]
    >>> performance_ratios([[1.0, 0.0]])
    Traceback (most recent call last):
    ...
    ValueError: costs must be positive, inf for a failure, never NaN
    """
    import numpy

    t = _costs(costs)
    best = t.min(axis=1, keepdims=True)
    with numpy.errstate(invalid="ignore", divide="ignore"):
        ratios = numpy.where(numpy.isfinite(best), t / best, math.inf)
    return ratios


def performance_profile(costs: Any, alphas: Any) -> Any:
    """rho[s, k]: the fraction of problems with ratio r[p, s] <= alphas[k] (shape (solvers, len(alphas))).

    Ratios [[1, 2], [1, 1]]: solver 0 is best on both problems, solver 1 ties on the second:

    >>> performance_profile([[2.0, 4.0], [3.0, 3.0]], [1.0, 1.5, 2.0]).tolist()
    [[1.0, 1.0, 1.0], [0.5, 0.5, 1.0]]
    """
    import numpy

    ratios = performance_ratios(costs)
    a = numpy.asarray(alphas, dtype=float)
    return (ratios[:, :, None] <= a[None, None, :]).mean(axis=0)


def data_profile(costs: Any, dimensions: Any, kappas: Any) -> Any:
    """d[s, k]: the fraction of problems solved within kappas[k] (n_p + 1) evaluations.

    Costs per simplex gradient t / (n + 1) = [[1, 2], [2, inf]]:

    >>> data_profile([[3.0, 6.0], [8.0, float("inf")]], [2, 3], [1.0, 2.0]).tolist()
    [[0.5, 1.0], [0.0, 0.5]]
    """
    import numpy

    t = _costs(costs)
    n = numpy.asarray(dimensions, dtype=float)
    if n.shape != (t.shape[0],):
        raise ValueError(f"need one dimension per problem ({t.shape[0]}), got {n.shape}")
    per_gradient = t / (n[:, None] + 1.0)
    k = numpy.asarray(kappas, dtype=float)
    return (per_gradient[:, :, None] <= k[None, None, :]).mean(axis=0)


def _costs(costs: Any) -> Any:
    import numpy

    t = numpy.asarray(costs, dtype=float)
    if t.ndim != 2:
        raise ValueError(f"costs must be a (problems, solvers) matrix, got shape {t.shape}")
    if numpy.isnan(t).any() or (t <= 0).any():
        raise ValueError("costs must be positive, inf for a failure, never NaN")
    return t


def profile_costs(table: Benchmark, tau: float = 1e-3) -> tuple[Any, Any, tuple[str, ...]]:
    """(costs, dimensions, solvers) of a benchmark at level tau: one profile problem per (problem, start).

    A run that timed out, raised or never met the test costs inf; a (problem, start) missing a
    solver's row (a lost Dask chunk) is left out of the profile, for every solver.

    >>> import taylorlr as tl
    >>> table = tl.benchmark(["booth"], rules=["exact"], optimizers=["gd"], baselines=["bfgs"], steps=50)
    >>> costs, dims, solvers = profile_costs(table)
    >>> costs.shape, dims.tolist(), solvers  # one row per (problem, start), one column per solver
    ((1, 2), [2], ('exact/gd', 'bfgs'))
    >>> bool((costs >= 1).all() and (costs < float("inf")).all())  # both solved booth (n = 2)
    True
    >>> profile_costs(table, tau=0.5)
    Traceback (most recent call last):
    ...
    ValueError: tau must be one of the recorded levels (0.1, 0.001, 1e-05, 1e-07), got 0.5
    """
    import numpy

    from taylorlr.benchmarking._chunk import TAUS, evals_column

    if tau not in TAUS:
        raise ValueError(f"tau must be one of the recorded levels {TAUS}, got {tau!r}")
    solvers = table.solvers
    cost = table.column(evals_column(tau))
    cells: dict[tuple[str, int], dict[str, float]] = {}
    dims: dict[tuple[str, int], int] = {}
    for k, (p, start, s, n) in enumerate(
        zip(
            table.column("problem"),
            table.column("start"),
            table.column("solver"),
            table.column("n"),
            strict=True,
        )
    ):
        cells.setdefault((p, int(start)), {})[s] = float(cost[k])
        dims[p, int(start)] = int(n)
    keys = [key for key, row in cells.items() if len(row) == len(solvers)]
    costs = numpy.asarray([[cells[key][s] for s in solvers] for key in keys], dtype=float).reshape(
        -1, len(solvers)
    )
    return costs, numpy.asarray([dims[key] for key in keys], dtype=int), solvers


def plot_profiles(
    table: Benchmark, path: Any = None, *, tau: float = 1e-3, baselines: Sequence[str] | None = None
) -> Any:
    """A Figure: the performance profile (left) and the data profile (right) of every solver at tau.

    Baselines (the table's "baseline" rows, or those named) are drawn thick, black and dashed on
    the same axes. matplotlib loads now; with ``path`` the figure is also saved there.

    Raises:
        MissingDependencyError: matplotlib is not installed.

    >>> import taylorlr as tl
    >>> table = tl.benchmark(["booth"], rules=["exact"], optimizers=["gd"], baselines=["bfgs"], steps=50)
    >>> figure = plot_profiles(table)
    >>> [axes.get_title() for axes in figure.axes]
    ['performance profile (Dolan-More), tau = 0.001', 'data profile (More-Wild), 1 problem-starts']
    >>> [line.get_label() for line in figure.axes[0].get_lines()]  # bfgs: a baseline, drawn black
    ['exact/gd', 'bfgs']
    """
    import numpy

    costs, dims, solvers = profile_costs(table, tau)
    kinds = dict(zip(table.column("solver").tolist(), table.column("kind").tolist(), strict=True))
    baseline = set(baselines) if baselines is not None else {s for s in solvers if kinds[s] == "baseline"}
    solved = numpy.isfinite(costs)
    ratios = performance_ratios(costs)
    per_gradient = costs / (dims[:, None] + 1.0)
    alphas = numpy.geomspace(1.0, max(_largest(ratios[solved]), 2.0) * 1.05, 400)
    kappas = numpy.geomspace(0.5, max(_largest(per_gradient[solved]), 1.0) * 1.05, 400)
    rho, data = performance_profile(costs, alphas), data_profile(costs, dims, kappas)
    figure, (left, right) = _figure()
    rules = dict.fromkeys(label.split("/")[0] for label in solvers if label not in baseline)
    colour = dict(zip(rules, _colours(len(rules)), strict=True))
    dashes = iter(["--", ":", "-.", (0, (5, 1, 1, 1))] * len(solvers))
    for index, label in enumerate(solvers):
        if label in baseline:
            style = {"color": "black", "linestyle": next(dashes), "linewidth": 2.2, "zorder": 3}
        else:  # a colour per rule, a line per optimizer
            rule, _, optimizer = label.partition("/")
            style = {"color": colour[rule], **_OPTIMIZER_LINES.get(optimizer, {"linewidth": 1.0})}
        left.step(alphas, rho[index], where="post", label=label, **style)
        right.step(kappas, data[index], where="post", label=label, **style)
    left.set(xscale="log", xlabel=r"performance ratio $\alpha$ (evaluations / fewest)",
             ylabel=r"fraction of problems $\rho_s(\alpha)$", ylim=(-0.02, 1.02),
             title=f"performance profile (Dolan-More), tau = {tau:g}")  # fmt: skip
    right.set(xscale="log", xlabel=r"$\kappa$ = evaluations / (n + 1)",
              ylabel=r"fraction solved $d_s(\kappa)$", ylim=(-0.02, 1.02),
              title=f"data profile (More-Wild), {costs.shape[0]} problem-starts")  # fmt: skip
    right.legend(fontsize=7, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if path is not None:
        figure.savefig(path, dpi=110)
    return figure


_OPTIMIZER_LINES: dict[str, dict[str, Any]] = {
    "gd": {"linewidth": 1.8},
    "momentum": {"linewidth": 1.0, "linestyle": (0, (4, 2))},
    "adam": {"linewidth": 1.0, "linestyle": (0, (1, 1))},
}


def _largest(values: Any) -> float:
    return float(values.max()) if values.size else 1.0


def _figure() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        from taylorlr.errors import MissingDependencyError

        raise MissingDependencyError(
            "profile figures need matplotlib: pip install 'taylorlr[plot]'"
        ) from error
    figure = Figure(figsize=(13.0, 5.0), layout="constrained")
    return figure, figure.subplots(1, 2)


def _colours(count: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(k % 10) for k in range(count)]
