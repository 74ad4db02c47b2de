"""Scale-out on Dask: ``tl.run`` over a Dask array of start points, and sweeps of plain-data tasks.

Nothing reaches a worker that it could not rebuild: a loss travels as its text and variable
names (checked to parse back to the same expression before anything is sent), options as plain
data; each worker builds the :class:`~taylorlr.Loss` and compiles its kernels itself, once per
process. Chunks split the batch axis only, and a member's run does not depend on its batch
(docs/design.md), so the results equal a local run's bit for bit.

A chunk whose task fails (a worker that died, an error on the worker) is reported, never
silently missing: :attr:`RunSummary.lost` and ``Benchmark.lost`` name it, and
:func:`resume` (or ``taylorlr.benchmarking.resume``) runs just those chunks again.

``dask[distributed]`` is an optional extra (``pip install 'taylorlr[dask]'``); it loads only
when a function of this module runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from taylorlr.errors import MissingDependencyError, OptionError

__all__ = ["RunSummary", "client_for", "connected", "resume", "run", "run_tasks", "summarize"]

INSTALL_HINT = "scale-out needs dask.distributed: pip install 'taylorlr[dask]'"
#: the per-member arrays of a :class:`RunSummary`
FIELDS = ("x", "fun", "grad_norm", "status", "stopped_at", "nfev", "njev", "nhev", "line_searches")


def client_for(client: Any) -> Any:
    """A ``distributed.Client``: the one given, or one connected to a scheduler address.

    Raises:
        MissingDependencyError: dask.distributed is not installed.
        OptionError: ``client`` is neither a Client nor an address.

    >>> import distributed
    >>> with distributed.Client(processes=False, dashboard_address=None) as client:
    ...     client_for(client) is client
    True
    >>> client_for(42)
    Traceback (most recent call last):
    ...
    taylorlr.errors.OptionError: client must be a dask.distributed.Client or a scheduler address, got 42
    """
    try:
        import distributed
    except ImportError as error:
        raise MissingDependencyError(INSTALL_HINT) from error
    if isinstance(client, distributed.Client):
        return client
    if isinstance(client, str):
        return distributed.Client(client)
    raise OptionError(f"client must be a dask.distributed.Client or a scheduler address, got {client!r}")


def run_tasks(
    tasks: Sequence[Any],
    client: Any,
    function: Callable[[Any], Any],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Any], list[int]]:
    """``function(task)`` for every task on the cluster: results in task order (None: lost), lost indices.

    ``function`` must be importable on the workers (it is sent by reference); ``tasks`` plain data.

    >>> import distributed, operator
    >>> with distributed.Client(processes=False, dashboard_address=None) as client:
    ...     run_tasks([1, -2, 3], client, operator.neg)
    ([-1, 2, -3], [])
    """
    with connected(client) as live:
        return _gather([live.submit(function, task, pure=False) for task in tasks], progress)


@contextlib.contextmanager
def connected(client: Any) -> Iterator[Any]:
    """:func:`client_for`, closing on exit a Client it opened from an address (never the caller's).

    >>> import distributed
    >>> with distributed.Client(processes=False, dashboard_address=None) as client:
    ...     with connected(client) as live:
    ...         same = live is client
    ...     print(same, client.status)  # the caller's Client is left open
    True running
    """
    live = client_for(client)
    try:
        yield live
    finally:
        if live is not client:
            live.close()


def _gather(futures: list[Any], progress: Callable[[int, int], None] | None) -> tuple[list[Any], list[int]]:
    """The futures' results in order (None: the task failed or its worker died) and the failed indices."""
    from distributed import as_completed

    index = {future.key: k for k, future in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    lost: list[int] = []
    for done, future in enumerate(as_completed(futures), start=1):
        k = index[future.key]
        if future.status == "finished":
            results[k] = future.result()
        else:
            lost.append(k)
        future.release()
        if progress is not None:
            progress(done, len(futures))
    return results, sorted(lost)


# ---------------------------------------------------------------------------- tl.run over a Dask array


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """The final state of each member of a run over many start points (NumPy arrays, batch order).

    Attributes:
        x: (B, n) the last valid points; fun, grad_norm: f and ||grad f|| there.
        status: the :class:`~taylorlr.Status` values as text; stopped_at: the last valid step.
        nfev, njev, nhev, line_searches: the evaluations, counted as the engine counts them.
        lost: the (first, stop) ranges of start points whose chunks were lost (their rows hold
            NaN, status "lost"); :func:`resume` runs them again.
        spec: the plain data a worker rebuilds the run from (loss text, variables, options).

    >>> summary = run("(x - 1)**2", [[0.0], [3.0]], rule="exact", steps=20)
    >>> len(summary), summary.fun.tolist(), summary.lost
    (2, [0.0, 0.0], ())
    >>> summary.spec["loss"], summary.spec["blocks"]
    ('(x - 1)**2', [(0, 2)])
    """

    x: Any
    fun: Any
    grad_norm: Any
    status: Any
    stopped_at: Any
    nfev: Any
    njev: Any
    nhev: Any
    line_searches: Any
    lost: tuple[tuple[int, int], ...] = ()
    spec: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunSummary):
            return NotImplemented
        import numpy

        return self.lost == other.lost and all(
            numpy.array_equal(
                getattr(self, f), getattr(other, f), equal_nan=getattr(self, f).dtype.kind == "f"
            )
            for f in FIELDS
        )

    __hash__ = None  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self.status)


def summarize(result: Any) -> RunSummary:
    """The :class:`RunSummary` of a local :class:`~taylorlr.Run` over a (B, n) batch.

    >>> import taylorlr as tl
    >>> s = summarize(tl.run("(x - 1)**2", [[0.0], [3.0]], rule="exact", steps=20, oracle=False))
    >>> s.status.tolist(), s.x.ravel().tolist()
    (['converged', 'converged'], [1.0, 1.0])
    """
    import numpy

    counts = result.counts
    return RunSummary(
        x=numpy.asarray(result.x),
        fun=numpy.asarray(result.fun),
        grad_norm=numpy.asarray(result.grad_norms[-1]),
        status=numpy.asarray([s.value for s in result.status.ravel()], dtype=object),
        stopped_at=numpy.asarray(result.stopped_at, dtype=numpy.int64),
        nfev=numpy.asarray(counts.values, dtype=numpy.int64),
        njev=numpy.asarray(counts.gradients, dtype=numpy.int64),
        nhev=numpy.asarray(counts.hvps, dtype=numpy.int64),
        line_searches=numpy.asarray(counts.line_searches, dtype=numpy.int64),
    )


def shippable(loss: Any) -> dict[str, Any]:
    """The loss as text and variable names, checked to rebuild the same expression.

    Raises:
        OptionError: a loss with data symbols, or one whose text does not parse back to it.
    """
    from taylorlr.alpha.engine import as_loss

    built = as_loss(loss)
    if built.data:
        raise OptionError("scale-out runs losses without data symbols; bind the data into the expression")
    text, names = str(built.expr), tuple(str(v) for v in built.variables)
    if _rebuilt(text, names).expr != built.expr:
        raise OptionError(f"the loss {text!r} does not parse back from its text; give it to run() as text")
    return {"loss": text, "variables": names}


@lru_cache(maxsize=16)
def _rebuilt(text: str, variables: tuple[str, ...]) -> Any:
    """The Loss of a text, once per process (its kernels compile once per worker)."""
    from taylorlr.loss import Loss

    return Loss(text, variables=variables)


def run_block(block: Any, spec: Mapping[str, Any]) -> RunSummary:
    """Run one chunk of start points from the plain-data ``spec`` (on a worker or here)."""
    from taylorlr.alpha.engine import run as run_engine

    loss = _rebuilt(spec["loss"], tuple(spec["variables"]))
    options = dict(spec["options"])
    return summarize(run_engine(loss, block, spec["optimizer"], spec["rule"], **options))


def run(
    loss: Any,
    starts: Any,
    optimizer: str = "gd",
    rule: str = "exact",
    *,
    client: Any = None,
    progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> RunSummary:
    """:func:`taylorlr.run` over a (B, n) Dask array of start points, chunk by chunk, on a cluster.

    Args:
        loss: a :class:`~taylorlr.Loss` or its text (sent to the workers as text).
        starts: a Dask array (or anything ``dask.array.asarray`` takes) of shape (B, n); its
            chunks over the batch axis are the tasks (the variable axis is made one chunk).
        optimizer, rule: registry names.
        client: a ``dask.distributed.Client`` or a scheduler address; None runs the chunks here,
            one after another (the reference the cluster's result equals).
        progress: called as ``progress(done, total)`` after each chunk.
        **options: options of :func:`taylorlr.run` as plain data (steps, tol, alpha0, gamma,
            safeguards, oracle; ``oracle`` defaults to False here).

    Returns:
        A :class:`RunSummary` in batch order; chunks that failed on the cluster are in ``lost``.

    Raises:
        OptionError: a loss that cannot travel as text, a non-scalar alpha0/gamma, starts that
            are not (B, n), or an option that is not plain data.
        MissingDependencyError: dask is not installed.

    Two chunks of two start points, here and on an in-process cluster, give the same result:

    >>> import dask.array as da, distributed, numpy as np
    >>> starts = da.from_array(np.array([[0.0], [3.0], [-2.0], [5.0]]), chunks=2)
    >>> summary = run("(x - 1)**2", starts, rule="exact", steps=20)
    >>> summary.status.tolist(), summary.x.ravel().tolist()
    (['converged', 'converged', 'converged', 'converged'], [1.0, 1.0, 1.0, 1.0])
    >>> with distributed.Client(processes=False, dashboard_address=None) as client:
    ...     on_cluster = run("(x - 1)**2", starts, rule="exact", steps=20, client=client)
    >>> on_cluster == summary
    True
    """
    try:
        import dask.array as da
    except ImportError as error:
        raise MissingDependencyError(INSTALL_HINT) from error
    spec = {
        **shippable(loss),
        "optimizer": optimizer,
        "rule": rule,
        "options": _plain({"oracle": False, **options}),
    }
    array = da.asarray(starts)
    if array.ndim != 2 or array.shape[1] != len(spec["variables"]):
        raise OptionError(f"starts must be a (B, {len(spec['variables'])}) array, got shape {array.shape}")
    array = array.rechunk({1: -1})
    blocks = [
        (int(a), int(a + size)) for a, size in zip(_offsets(array.chunks[0]), array.chunks[0], strict=True)
    ]
    pieces = list(array.to_delayed()[:, 0])
    tasks = [{"block": piece, "spec": spec} for piece in pieces]
    return _finish(tasks, blocks, spec, client, progress)


def _finish(
    tasks: list[dict[str, Any]],
    blocks: list[tuple[int, int]],
    spec: Mapping[str, Any],
    client: Any,
    progress: Callable[[int, int], None] | None,
) -> RunSummary:
    if client is None:
        results: list[Any] = []
        for done, task in enumerate(tasks, start=1):
            results.append(_task_block(task))
            if progress is not None:
                progress(done, len(tasks))
        lost: list[int] = []
    else:
        results, lost = _cluster_blocks(tasks, client, progress)
    return _joined(results, blocks, spec, lost)


def _task_block(task: Mapping[str, Any]) -> RunSummary:
    block = task["block"]
    block = block.compute() if hasattr(block, "compute") else block
    return run_block(block, task["spec"])


def _cluster_blocks(
    tasks: list[dict[str, Any]], client: Any, progress: Callable[[int, int], None] | None
) -> tuple[list[Any], list[int]]:
    with connected(client) as live:
        return _gather([live.compute(_delayed_block(task)) for task in tasks], progress)


def _delayed_block(task: Mapping[str, Any]) -> Any:
    import dask

    return dask.delayed(run_block, pure=True)(task["block"], task["spec"])


def _joined(
    results: list[Any], blocks: list[tuple[int, int]], spec: Mapping[str, Any], lost: list[int]
) -> RunSummary:
    import numpy

    n = len(spec["variables"])
    parts = [r if r is not None else _lost_rows(blocks[k], n) for k, r in enumerate(results)]
    arrays = {
        f: numpy.concatenate([getattr(p, f) for p in parts]) if parts else numpy.empty(0) for f in FIELDS
    }
    return RunSummary(**arrays, lost=tuple(blocks[k] for k in lost), spec={**spec, "blocks": blocks})


def _lost_rows(block: tuple[int, int], n: int) -> RunSummary:
    import numpy

    size = block[1] - block[0]
    nan, zero = numpy.full(size, numpy.nan), numpy.zeros(size, dtype=numpy.int64)
    return RunSummary(x=numpy.full((size, n), numpy.nan), fun=nan, grad_norm=nan,
                      status=numpy.full(size, "lost", dtype=object), stopped_at=zero,
                      nfev=zero, njev=zero, nhev=zero, line_searches=zero)  # fmt: skip


def resume(summary: RunSummary, starts: Any, *, client: Any = None) -> RunSummary:
    """Run the lost chunks of ``summary`` again (from the same ``starts``) and fill them in.

    A summary whose second chunk (start 1) was lost, as a cluster reports it, is made whole here:

    >>> import dataclasses, dask.array as da, numpy as np
    >>> starts = da.from_array(np.array([[0.0], [3.0]]), chunks=1)
    >>> summary = run("(x - 1)**2", starts, rule="exact", steps=20)
    >>> broken = dataclasses.replace(summary, x=np.array([[1.0], [np.nan]]), lost=((1, 2),),
    ...                              status=np.array(["converged", "lost"], dtype=object))
    >>> again = resume(broken, starts)
    >>> again.status.tolist(), again.lost, again == summary
    (['converged', 'converged'], (), True)
    """
    import numpy

    if not summary.lost:
        return summary
    import dask.array as da

    array = da.asarray(starts).rechunk({1: -1})
    tasks = [{"block": array[a:b], "spec": summary.spec} for a, b in summary.lost]
    again = _finish(tasks, list(summary.lost), summary.spec, client, None)
    arrays: dict[str, Any] = {f: numpy.array(getattr(summary, f), copy=True) for f in FIELDS}
    offset = 0
    for a, b in summary.lost:
        for f in FIELDS:
            arrays[f][a:b] = getattr(again, f)[offset : offset + b - a]
        offset += b - a
    return dataclasses.replace(summary, **arrays, lost=again.lost)


def _offsets(sizes: Sequence[int]) -> list[int]:
    out, total = [], 0
    for size in sizes:
        out.append(total)
        total += size
    return out


def _plain(options: Mapping[str, Any]) -> dict[str, Any]:
    """Options as plain data (numbers, text, booleans): what a worker can rebuild."""
    for name, value in options.items():
        if not isinstance(value, (int, float, str, bool)) or value is None:
            raise OptionError(
                f"option {name}={value!r} must be a number, text or a boolean to travel to a worker"
            )
    return dict(options)
