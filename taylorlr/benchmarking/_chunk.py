"""One task of a benchmark: one problem, one solver, a range of starts; its rows as columns.

A task is plain data (:class:`Task`: the problem's text, the solver's names, the range of
starts, the options), so the same function runs here and on a Dask worker, which rebuilds
the loss from its text and compiles its own kernels. The rows depend only on the task's
members, never on how the starts were chunked: a member's run is independent of its batch.

Evaluations are counted as the engine counts them (:attr:`taylorlr.Run.nfev`, ``njev``,
``nhev``, line searches). ``evals_to[tau]`` is the evaluations spent when the run first met
the More-Wild test f(x_t) <= f* + tau (f(x0) - f*) (inf: never); the engine spends one
value and one gradient at the start (and a line search for the "line-search" rule) and one
gradient per step, which gives each step's cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from taylorlr.benchmarking._solvers import Solver
from taylorlr.benchmarking._starts import starts
from taylorlr.benchmarking.profiles import meets_test

#: the levels tau of the More-Wild convergence test recorded for every run
TAUS = (1e-1, 1e-3, 1e-5, 1e-7)
#: the safeguards counted per run (taylorlr.alpha.safeguards.FIRINGS)
FIRINGS = ("curvature", "rising_loss", "factor_min", "factor_max", "alpha_min", "alpha_max", "precision")
#: statuses beyond taylorlr's Status: SciPy stopped before tol; the problem's time budget was spent;
#: the solver raised (the message is in Benchmark.errors)
STALLED, TIMEOUT, ERROR = "stalled", "timeout", "error"


@dataclass(frozen=True, kw_only=True)
class Task:
    """One problem x solver x range of starts, as plain data a worker can rebuild.

    Attributes:
        problem: the :class:`~taylorlr.problems.Problem`'s fields (text and numbers).
        solver: the :class:`Solver`'s fields.
        first, stop: the starts ``first`` ... ``stop - 1`` (start 0 is the standard start).
        options: steps, tol, alpha0, gamma, safeguards, oracle, seed, spread.
    """

    problem: Mapping[str, Any]
    solver: Mapping[str, Any]
    first: int
    stop: int
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.stop - self.first


def make_task(problem: Any, solver: Solver, first: int, stop: int, options: Mapping[str, Any]) -> Task:
    return Task(problem=asdict(problem), solver=asdict(solver), first=first, stop=stop, options=dict(options))


@lru_cache(maxsize=64)
def _problem(fields: tuple[tuple[str, Any], ...]) -> Any:
    """The Problem rebuilt from its fields, once per process (its loss compiles once)."""
    from taylorlr.problems import Problem

    return Problem(**dict(fields))


def rebuild(task: Task) -> Any:
    return _problem(tuple(sorted(task.problem.items())))


def run_task(task: Task) -> dict[str, Any]:
    """The task's rows as columns (NumPy arrays of its size)."""
    problem, solver = rebuild(task), Solver(**task.solver)
    options = task.options
    points = starts(
        problem.x0, problem.name, task.first, task.stop, seed=options["seed"], spread=options["spread"]
    )
    measured = (
        _engine(problem, solver, points, options)
        if solver.engine
        else _scipy(problem, solver, points, options)
    )
    return {**identity(task, problem, solver), **measured}


def identity(task: Task, problem: Any, solver: Solver) -> dict[str, Any]:
    """The columns that say which run a row is."""
    import numpy

    size = task.size
    return {
        "problem": numpy.full(size, problem.name, dtype=object),
        "number": numpy.full(size, -1 if problem.number is None else problem.number),
        "n": numpy.full(size, problem.n),
        "start": numpy.arange(task.first, task.stop),
        "solver": numpy.full(size, solver.label, dtype=object),
        "kind": numpy.full(size, solver.kind, dtype=object),
        "rule": numpy.full(size, solver.rule, dtype=object),
        "optimizer": numpy.full(size, solver.optimizer, dtype=object),
        "f_star": numpy.full(size, problem.f_star),
    }


def failed(task: Task, status: str) -> dict[str, Any]:
    """Rows for a task that did not run (timeout, error): every measure NaN, counts zero."""
    import numpy

    problem, solver = rebuild(task), Solver(**task.solver)
    size = task.size
    nan = numpy.full(size, math.nan)
    zero = numpy.zeros(size, dtype=numpy.int64)
    measured = {
        "status": numpy.full(size, status, dtype=object),
        "steps": zero,
        "f0": nan,
        "f": nan,
        "grad_norm": nan,
        **dict.fromkeys(("nfev", "njev", "nhev", "line_searches", "evaluations"), zero),
        **{f"safeguard_{name}": zero for name in FIRINGS},
        **{evals_column(tau): numpy.full(size, math.inf) for tau in TAUS},
    }
    return {**identity(task, problem, solver), **_gaps(measured, problem.f_star)}


def evals_column(tau: float) -> str:
    """The column of evaluations to reach level tau: ``evals_to_1e-03``."""
    return f"evals_to_{tau:.0e}"


# ---------------------------------------------------------------------------- taylorlr's engine


def _engine(problem: Any, solver: Solver, points: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    import numpy

    from taylorlr.alpha.engine import run

    settings = {k: options[k] for k in ("alpha0", "gamma", "steps", "tol", "safeguards", "oracle")}
    r = run(problem.loss, points, solver.optimizer, solver.rule, **settings)
    nfev, njev, nhev, searches = (
        numpy.asarray(getattr(r.counts, k)) for k in ("values", "gradients", "hvps", "line_searches")
    )
    total = (nfev + njev + nhev + searches).astype(numpy.int64)
    start_cost = 2 + (1 if solver.rule == "line-search" else 0)
    active = numpy.maximum(njev - 1, 0)  # one gradient at the start, one per step taken
    with numpy.errstate(all="ignore"):
        per_step = numpy.where(active > 0, (total - start_cost) / numpy.maximum(active, 1), 0.0)
    steps = numpy.arange(r.losses.shape[0])[:, None]
    cost = start_cost + steps * per_step[None, :]
    measured = {
        "status": numpy.asarray([s.value for s in r.status.ravel()], dtype=object),
        "steps": numpy.asarray(r.stopped_at, dtype=numpy.int64),
        "f0": numpy.asarray(r.losses[0], dtype=float),
        "f": numpy.asarray(r.fun, dtype=float),
        "grad_norm": numpy.asarray(r.grad_norms[-1], dtype=float),
        "nfev": nfev.astype(numpy.int64),
        "njev": njev.astype(numpy.int64),
        "nhev": nhev.astype(numpy.int64),
        "line_searches": searches.astype(numpy.int64),
        "evaluations": total,
        **{
            f"safeguard_{k}": numpy.asarray(getattr(r.safeguard_counts, k), dtype=numpy.int64)
            for k in FIRINGS
        },
        **first_costs(r.losses, r.valid, cost, problem.f_star),
    }
    return _gaps(measured, problem.f_star)


def first_costs(losses: Any, valid: Any, cost: Any, f_star: float) -> dict[str, Any]:
    """For each tau, the cost at the first step whose loss meets the More-Wild test (inf: never).

    ``losses``, ``valid`` and ``cost`` are (steps + 1, runs).

    >>> import numpy as np
    >>> losses = np.array([[10.0, 4.0], [1.0, 3.0], [0.001, 2.0]])
    >>> out = first_costs(losses, np.ones((3, 2), bool), np.array([[2.0, 2], [5, 5], [8, 8]]), 0.0)
    >>> out["evals_to_1e-01"].tolist(), out["evals_to_1e-03"].tolist()
    ([5.0, inf], [8.0, inf])
    """
    import numpy

    out = {}
    with numpy.errstate(invalid="ignore"):
        for tau in TAUS:
            met = meets_test(losses, losses[0], f_star, tau) & valid
            first = numpy.argmax(met, axis=0)
            reached = met.any(axis=0)
            chosen = numpy.take_along_axis(cost, first[None, :], axis=0)[0]
            out[evals_column(tau)] = numpy.where(reached, chosen, math.inf).astype(float)
    return out


def _gaps(measured: dict[str, Any], f_star: float) -> dict[str, Any]:
    """Add the gap f - f* and the relative gap (f - f*) / (f0 - f*) (the fraction of the first gap left)."""
    import numpy

    f, f0 = measured["f"], measured["f0"]
    with numpy.errstate(all="ignore"):
        gap = f - f_star
        first = f0 - f_star
        relative = numpy.where(
            first != 0, gap / numpy.where(first != 0, first, 1.0), numpy.where(gap == 0, 0.0, math.inf)
        )
    return {**measured, "gap": gap, "relative_gap": numpy.where(numpy.isfinite(f), relative, math.nan)}


# ---------------------------------------------------------------------------- SciPy's baselines


def _scipy(problem: Any, solver: Solver, points: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    import numpy

    compiled = problem.loss.compile()
    runs = [_minimize(compiled, solver.method, x0, options) for x0 in points]
    columns: dict[str, Any] = {}
    for name in _SCIPY_COLUMNS:
        values = [row[name] for row, _ in runs]
        kind = object if name == "status" else (float if name in _FLOATS else numpy.int64)
        columns[name] = numpy.asarray(values, dtype=kind)
    for name in FIRINGS:
        columns[f"safeguard_{name}"] = numpy.zeros(len(runs), dtype=numpy.int64)
    for tau in TAUS:
        columns[evals_column(tau)] = numpy.empty(len(runs))
    for k, (_, (losses, costs)) in enumerate(runs):
        found = first_costs(numpy.asarray(losses)[:, None], numpy.ones((len(losses), 1), bool),
                            numpy.asarray(costs, dtype=float)[:, None], problem.f_star)  # fmt: skip
        for tau in TAUS:
            columns[evals_column(tau)][k] = found[evals_column(tau)][0]
    return _gaps(columns, problem.f_star)


_SCIPY_COLUMNS = (
    "status",
    "steps",
    "f0",
    "f",
    "grad_norm",
    "nfev",
    "njev",
    "nhev",
    "line_searches",
    "evaluations",
)
_FLOATS = ("f0", "f", "grad_norm")


def _minimize(
    compiled: Any, method: str, x0: Any, options: Mapping[str, Any]
) -> tuple[dict[str, Any], tuple[list[float], list[int]]]:
    """One SciPy run with counted evaluations and its (f, evaluations) after each iteration."""
    import warnings

    import numpy
    from scipy.optimize import minimize

    calls = {"f": 0, "g": 0, "h": 0}

    def counted(name: str, function: Any) -> Any:
        def call(x: Any) -> Any:
            calls[name] += 1
            return numpy.asarray(function(numpy.asarray(x, dtype=float)), dtype=float)

        return call

    fun, jac = counted("f", compiled.value), counted("g", compiled.grad)
    hess = counted("h", compiled.hess) if method == "trust-exact" else None
    f0 = float(compiled.value(x0))
    start = 3 if hess is not None else 2  # f and g at x0 (and H for trust-exact) before the first step
    losses, costs = [f0], [start]

    def callback(intermediate_result: Any) -> None:
        losses.append(float(intermediate_result.fun))
        costs.append(sum(calls.values()))

    steps, tol = options["steps"], options["tol"]
    settings = {"maxiter": max(steps, 1), "gtol": tol}
    if method == "BFGS":
        settings["norm"] = 2
    with warnings.catch_warnings(), numpy.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        result = (
            minimize(fun, x0, jac=jac, hess=hess, method=method, options=settings, callback=callback)
            if steps
            else None
        )
    x = numpy.asarray(result.x if result is not None else x0, dtype=float)
    value = float(compiled.value(x))
    grad_norm = float(numpy.linalg.norm(compiled.grad(x)))
    nit = int(result.nit) if result is not None else 0
    row = {
        "status": _scipy_status(value, grad_norm, nit, steps, tol),
        "steps": nit,
        "f0": f0,
        "f": value,
        "grad_norm": grad_norm,
        "nfev": calls["f"],
        "njev": calls["g"],
        "nhev": calls["h"],
        "line_searches": 0,
        "evaluations": sum(calls.values()),
    }
    return row, (losses, costs)


def _scipy_status(value: float, grad_norm: float, nit: int, steps: int, tol: float) -> str:
    if not (math.isfinite(value) and math.isfinite(grad_norm)):
        return "nonfinite"
    if grad_norm <= tol:
        return "converged"
    return "max_steps" if nit >= steps else STALLED
