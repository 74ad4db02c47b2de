"""``tl.benchmark``: every rule x optimizer, and the baselines, on test problems with known minima.

Every combination runs from each problem's standard start (start 0) and, with ``starts=k``,
from k more seeded starts around it (:mod:`taylorlr.benchmarking._starts`). Each run is judged
against the problem's published minimum f*: the gap f - f* and the fraction of the first gap
left ``(f - f*) / (f0 - f*)``, the gradient norm, the evaluations as the engine counts them
(``Run.nfev``, ``njev``, ``nhev``, line searches), the safeguard firings, the status, and the
evaluations spent to reach each level tau of the More-Wild test (the input of
:mod:`taylorlr.benchmarking.profiles`). Baselines on the same table: SciPy's BFGS and
trust-exact on taylorlr's compiled gradient and Hessian, and gradient descent with a constant
learning rate (alpha0).

>>> import taylorlr as tl
>>> table = tl.benchmark(["booth", "beale"], rules=("exact",), optimizers=("gd",), steps=100)
>>> table.solvers
('exact/gd', 'bfgs', 'trust-exact', 'constant')
>>> [row["status"] for row in table.rows() if row["problem"] == "booth"]
['converged', 'converged', 'converged', 'max_steps']
>>> tl.benchmark(["boot"])
Traceback (most recent call last):
...
taylorlr.errors.OptionError: no problem named 'boot'; did you mean 'booth'?
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from taylorlr.benchmarking._chunk import (
    ERROR,
    STALLED,
    TAUS,
    TIMEOUT,
    Task,
    evals_column,
    failed,
    make_task,
    run_task,
)
from taylorlr.benchmarking._memory import SweepTooLargeError, check, memory_limit
from taylorlr.benchmarking._record import COLUMNS, Benchmark
from taylorlr.benchmarking._solvers import BASELINES, Solver, solvers
from taylorlr.errors import OptionError

__all__ = [
    "BASELINES",
    "COLUMNS",
    "DEFAULT_OPTIMIZERS",
    "DEFAULT_RULES",
    "STALLED",
    "TAUS",
    "TIMEOUT",
    "Benchmark",
    "SweepTooLargeError",
    "Task",
    "benchmark",
    "evals_column",
    "on_cluster",
    "plan",
    "resume",
]

#: the rules compared by default: the adaptive ones. "fixed" with gd is the "constant" baseline, and
#: "line-search" (the oracle as a rule: slow, see docs/benchmark.md) runs when named
DEFAULT_RULES = ("exact", "retsinas", "value-gradient", "three-point", "lagged")
DEFAULT_OPTIMIZERS = ("gd", "momentum", "adam")
#: starts per call of the engine when ``chunk`` is not given
DEFAULT_CHUNK = 4096


def benchmark(
    problems: Any = None,
    rules: Sequence[str] = DEFAULT_RULES,
    optimizers: Sequence[str] = DEFAULT_OPTIMIZERS,
    *,
    baselines: Sequence[str] = BASELINES,
    starts: int | tuple[int, int] = 0,
    seed: int = 0,
    spread: float = 0.5,
    steps: int = 1000,
    tol: float = 1e-8,
    alpha0: float = 1e-2,
    gamma: float = 1.0,
    safeguards: str = "default",
    oracle: bool = False,
    chunk: int | None = None,
    time_budget: float | None = None,
    max_bytes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    client: Any = None,
) -> Benchmark:
    """Run every problem x solver x start and judge each run against the problem's known minimum.

    Args:
        problems: None (the 35 of More, Garbow and Hillstrom), "mgh", "zoo", "all", or a sequence
            of names (``"mgh7"`` works) and :class:`~taylorlr.problems.Problem` records.
        rules, optimizers: taylorlr's rules and optimizers, every pair.
        baselines: any of "bfgs", "trust-exact", "constant" (:data:`BASELINES`).
        starts: k (the standard start and k seeded starts around it) or a range ``(first, stop)``
            of start indices (start 0 is the standard one), to run a large sweep in pieces.
        seed, spread: the cloud: start k >= 1 is x0 + spread (1 + |x0|) u, u uniform in [-1, 1]^n.
        steps, tol, alpha0, gamma, safeguards, oracle: passed to :func:`taylorlr.run` (steps is the
            iteration limit of the SciPy baselines too; the oracle is off unless asked for: it
            costs time and changes no result).
        chunk: start points per engine call (default: up to 4096).
        time_budget: seconds per problem; a problem's runs left when it is spent are rows with
            status "timeout" and the problem is named in ``Benchmark.timeouts`` (checked between
            calls: one call is never interrupted).
        max_bytes: the memory the sweep may use (default: half the machine's); checked before
            anything runs.
        progress: called as ``progress(done, total)`` after each task.
        client: a ``dask.distributed.Client`` or a scheduler address: run the tasks on that
            cluster (:mod:`taylorlr.scaleout`).

    Returns:
        A :class:`Benchmark`.

    Raises:
        OptionError: an unknown problem, rule, optimizer or baseline (with the nearest name), or a
            bad option.
        SweepTooLargeError: the sweep would not fit in ``max_bytes`` (the message says how to chunk it).

    >>> import taylorlr as tl
    >>> table = tl.benchmark(["booth"], rules=["exact"], optimizers=["gd"], baselines=["bfgs"], steps=50)
    >>> [(row["solver"], row["status"]) for row in table.rows()]
    [('exact/gd', 'converged'), ('bfgs', 'converged')]
    """
    chosen = resolve_problems(problems)
    options = _options(locals())
    tasks = plan(chosen, solvers(rules, optimizers, baselines), starts=starts, chunk=chunk, steps=steps,
                 oracle=oracle, max_bytes=max_bytes, options=options)  # fmt: skip
    settings = {
        "problems": [p.name for p in chosen], "rules": list(rules), "optimizers": list(optimizers),
        "baselines": list(baselines), "starts": list(_range(starts)), "time_budget": time_budget, **options,
    }  # fmt: skip
    if client is not None:
        return on_cluster(tasks, settings, client, progress=progress)
    spent: dict[str, float] = {}
    table = assemble(local(tasks, time_budget=time_budget, progress=progress, spent=spent), settings)
    return dataclasses.replace(table, seconds=spent)


def _options(given: dict[str, Any]) -> dict[str, Any]:
    names = ("steps", "tol", "alpha0", "gamma", "safeguards", "oracle", "seed", "spread")
    options = {k: given[k] for k in names}
    for name in ("tol", "alpha0", "gamma", "spread"):
        value = options[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            raise OptionError(f"{name} must be a finite number >= 0, got {value!r}")
    for name in ("steps", "seed"):
        if not isinstance(options[name], int) or isinstance(options[name], bool) or options[name] < 0:
            raise OptionError(f"{name} must be a non-negative integer, got {options[name]!r}")
    return options


def resolve_problems(problems: Any) -> tuple[Any, ...]:
    """The Problem records a ``problems`` argument names.

    Raises:
        OptionError: an unknown name (with the nearest ones) or an empty selection.
    """
    from taylorlr import problems as registry

    groups = {"mgh": registry.mgh, "zoo": registry.zoo, "all": registry.all}
    if problems is None:
        return registry.mgh()
    if isinstance(problems, str):
        problems = groups[problems]() if problems in groups else (problems,)
    chosen = tuple(p if isinstance(p, registry.Problem) else registry.get(p) for p in problems)
    if not chosen:
        raise OptionError("no problem chosen: name at least one, or pass None for the 35 of MGH")
    return chosen


def _range(starts: Any) -> tuple[int, int]:
    if isinstance(starts, bool):
        raise OptionError(f"starts must be an integer >= 0 or a range (first, stop), got {starts!r}")
    if isinstance(starts, int) and starts >= 0:
        return (0, starts + 1)
    if isinstance(starts, (tuple, list)) and len(starts) == 2 and all(isinstance(s, int) for s in starts):
        first, stop = starts
        if 0 <= first < stop:
            return (first, stop)
    raise OptionError(
        f"starts must be an integer >= 0 or a range (first, stop) with 0 <= first < stop, got {starts!r}"
    )


def plan(
    problems: Sequence[Any],
    chosen: Sequence[Solver],
    *,
    starts: Any,
    chunk: int | None,
    steps: int,
    oracle: bool,
    max_bytes: int | None,
    options: dict[str, Any],
) -> list[Task]:
    """The tasks of a sweep, problem by problem, solver by solver, chunk by chunk; memory checked first.

    Raises:
        SweepTooLargeError: see :func:`benchmark`.

    Six starts (0 to 5) in chunks of 4 make two tasks per solver, plain data all:

    >>> from taylorlr.benchmarking._solvers import solvers
    >>> booth, chosen = resolve_problems(["booth"]), solvers(["exact"], ["gd"], ["bfgs"])
    >>> tasks = plan(booth, chosen, starts=5, chunk=4, steps=50, oracle=False, max_bytes=None, options={})
    >>> [(task.solver["label"], task.first, task.stop) for task in tasks]
    [('exact/gd', 0, 4), ('exact/gd', 4, 6), ('bfgs', 0, 4), ('bfgs', 4, 6)]
    >>> plan(booth, chosen, starts=5, chunk=4, steps=50, oracle=False, max_bytes=1000, options={})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    taylorlr.benchmarking._memory.SweepTooLargeError: the table of 12 runs needs about ...
    """
    first, stop = _range(starts)
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
        raise OptionError(f"chunk must be a positive integer, got {chunk!r}")
    size = chunk or min(stop - first, DEFAULT_CHUNK)
    limit = memory_limit() if max_bytes is None else max_bytes
    runs = len(problems) * len(chosen) * (stop - first)
    check(runs=runs, chunk=size, n_max=max(p.n for p in problems), steps=steps, oracle=oracle, limit=limit)
    return [
        make_task(problem, solver, a, min(a + size, stop), options)
        for problem in problems
        for solver in chosen
        for a in range(first, stop, size)
    ]


def local(
    tasks: Sequence[Task],
    *,
    time_budget: float | None,
    progress: Callable[[int, int], None] | None,
    spent: dict[str, float] | None = None,
) -> Iterable[tuple[Task, dict[str, Any] | None, str | None]]:
    """Run the tasks here: (task, columns, error line) each, in task order; a spent budget gives "timeout".

    A problem's baselines run first (they are the reference, and cheap), so a problem whose budget
    runs out still has them. ``spent`` (problem -> seconds) is filled as the tasks run.
    """
    spent = {} if spent is None else spent
    done = 0
    for group in _by_problem(tasks):
        results: dict[int, tuple[Task, dict[str, Any] | None, str | None]] = {}
        for k in sorted(range(len(group)), key=lambda k: group[k].solver["kind"] != "baseline"):
            results[k] = _one(group[k], time_budget, spent)
            done += 1
            if progress is not None:
                progress(done, len(tasks))
        yield from (results[k] for k in range(len(group)))


def _by_problem(tasks: Sequence[Task]) -> Iterable[list[Task]]:
    group: list[Task] = []
    for task in tasks:
        if group and task.problem["name"] != group[0].problem["name"]:
            yield group
            group = []
        group.append(task)
    if group:
        yield group


def _one(
    task: Task, time_budget: float | None, spent: dict[str, float]
) -> tuple[Task, dict[str, Any] | None, str | None]:
    name = task.problem["name"]
    if time_budget is not None and spent.get(name, 0.0) > time_budget:
        return task, failed(task, TIMEOUT), None
    began = time.perf_counter()
    try:
        return task, run_task(task), None
    except Exception as error:  # a solver that raises is a row, never a missing one
        line = f"{name} / {task.solver['label']}: {type(error).__name__}: {error}"
        return task, failed(task, ERROR), line
    finally:
        spent[name] = spent.get(name, 0.0) + time.perf_counter() - began


def on_cluster(
    tasks: Sequence[Task],
    settings: dict[str, Any],
    client: Any,
    *,
    progress: Callable[[int, int], None] | None = None,
    function: Callable[[Task], dict[str, Any]] = run_task,
) -> Benchmark:
    """Run the tasks on a Dask cluster (:func:`taylorlr.scaleout.run_tasks`); failed chunks are ``lost``.

    >>> import distributed
    >>> from taylorlr.benchmarking._solvers import solvers
    >>> options = dict(steps=50, tol=1e-8, alpha0=0.01, gamma=1.0, safeguards="default", oracle=False,
    ...                seed=0, spread=0.5)
    >>> tasks = plan(resolve_problems(["booth"]), solvers(["exact"], ["gd"], []), starts=1, chunk=None,
    ...              steps=50, oracle=False, max_bytes=None, options=options)
    >>> with distributed.Client(processes=False, dashboard_address=None) as client:
    ...     table = on_cluster(tasks, {}, client)
    >>> table.column("status").tolist(), table.lost  # the standard start and one more
    (['converged', 'converged'], ())
    """
    from taylorlr.scaleout import run_tasks

    results, lost = run_tasks(tasks, client, function, progress=progress)
    done = [(task, columns, None) for task, columns in zip(tasks, results, strict=True)]
    return assemble(done, settings, [tasks[k] for k in lost])


def resume(
    table: Benchmark,
    client: Any = None,
    *,
    function: Callable[[Task], dict[str, Any]] = run_task,
) -> Benchmark:
    """Run the chunks a cluster lost again (on ``client``, or here) and put their rows in place.

    >>> import taylorlr as tl
    >>> table = tl.benchmark(["booth"], rules=("exact",), optimizers=("gd",), baselines=(), steps=20)
    >>> resume(table) is table  # nothing lost
    True
    """
    if not table.pending:
        return table
    if client is None:
        again = assemble(((t, function(t), None) for t in table.pending), dict(table.settings))
    else:
        again = on_cluster(table.pending, dict(table.settings), client, function=function)
    return _merged(table, again)


def _merged(table: Benchmark, again: Benchmark) -> Benchmark:
    """The rows of both tables in the order one sweep makes (problem, solver, start)."""
    import numpy

    columns = {k: numpy.concatenate([table.columns[k], again.columns[k]]) for k in COLUMNS}
    problems = {name: k for k, name in enumerate(table.settings["problems"])}
    labels = [s.label for s in solvers(table.settings["rules"], table.settings["optimizers"],
                                       table.settings["baselines"])]  # fmt: skip
    rank = {label: k for k, label in enumerate(labels)}
    order = numpy.lexsort((
        columns["start"],
        numpy.asarray([rank[s] for s in columns["solver"]]),
        numpy.asarray([problems[p] for p in columns["problem"]]),
    ))  # fmt: skip
    return dataclasses.replace(
        table,
        columns={k: v[order] for k, v in columns.items()},
        errors=table.errors + again.errors,
        lost=again.lost,
        pending=again.pending,
    )


def assemble(
    results: Iterable[tuple[Task, dict[str, Any] | None, str | None]],
    settings: dict[str, Any],
    pending: Sequence[Task] = (),
) -> Benchmark:
    """The :class:`Benchmark` of the tasks' columns, in task order (``pending``: the tasks lost)."""
    import numpy

    parts: list[dict[str, Any]] = []
    errors: list[str] = []
    timeouts: dict[str, None] = {}
    for task, columns, error in results:
        if columns is None:
            continue
        parts.append(columns)
        if error:
            errors.append(error)
        if columns["status"].size and columns["status"][0] == TIMEOUT:
            timeouts[task.problem["name"]] = None
    merged = {
        name: numpy.concatenate([p[name] for p in parts]) if parts else numpy.empty(0) for name in COLUMNS
    }
    lost = tuple((t.problem["name"], t.solver["label"], t.first, t.stop) for t in pending)
    return Benchmark(
        columns=merged,
        settings=settings,
        timeouts=tuple(timeouts),
        errors=tuple(errors),
        lost=lost,
        pending=tuple(pending),
    )
