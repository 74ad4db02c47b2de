"""The record of an alpha-rule run: :class:`Status`, :class:`Counts`, :class:`SafeguardCounts`, :class:`Run`.

Array-only: importing this module loads neither SymPy nor NumPy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from taylorlr._display import ROW_LIMIT, Card, counts_text, fmt, vector
from taylorlr._json import json_ready
from taylorlr.errors import OptionError
from taylorlr.kinds import Verdict

_SOLVE = "`taylorlr solve` (tl.solve) can prove whether f is bounded below"


class Status(Verdict):
    """How a batch member's run ended; ``.message`` says what was observed and what to do.

    A str-valued enum: a status equals its value, so ``status == "converged"`` works on a
    single member and elementwise on :attr:`Run.status`.

    >>> Status.SADDLE == "saddle", str(Status.ROSE)
    (True, 'rose')
    >>> "tol" in Status.MAX_STEPS.message
    True

    The step loop decides CONVERGED (the gradient test), MAX_STEPS, DIVERGED and NONFINITE;
    :func:`taylorlr.alpha.verdict.judge` then reads the record and names what the loop's
    status does not say: a loss that fell without bound (UNBOUNDED), a run that ended above
    its start (ROSE), a vanishing gradient at a saddle or a maximum (SADDLE, MAXIMUM).
    """

    CONVERGED = (
        "converged",
        (
            "the gradient norm fell to tol or below where no Hessian eigenvalue is negative: a local "
            "minimum, or a point that second-order evidence cannot tell from one (a degenerate critical "
            "point, or a plateau where f flattens out)"
        ),
    )
    MAX_STEPS = (
        "max_steps",
        "all steps ran without reaching tol: raise steps, or try another rule, gamma or alpha0",
    )
    DIVERGED = (
        "diverged",
        "the loss blew up: lower alpha0 or gamma, or use safeguards='default'",
    )
    NONFINITE = (
        "nonfinite",
        (
            "a value, gradient or alpha became inf or NaN (overflow, or 0/0 in the pure formula): "
            "lower alpha0 or use safeguards='default'"
        ),
    )
    UNBOUNDED = (
        "unbounded",
        (
            "the loss ended more than divergence * (|f0| + 1) below its start (or, where the run "
            "overflowed, falls that far or to -inf along the steepest-descent ray): evidence, not a "
            f"proof, that f is unbounded below, and no step size fixes that; {_SOLVE}"
        ),
    )
    ROSE = (
        "rose",
        (
            "the run ended with the loss above its start: the steps overshoot; lower gamma or "
            "alpha0, or try another rule or optimizer"
        ),
    )
    SADDLE = (
        "saddle",
        (
            "the gradient vanished where the Hessian has a negative eigenvalue and a positive (a "
            "saddle point) or zero one (a degenerate point), so not at a minimum: start elsewhere or perturb "
            "the start"
        ),
    )
    MAXIMUM = (
        "maximum",
        (
            "the gradient vanished at a local maximum (every Hessian eigenvalue is negative), "
            "not a minimum: start elsewhere"
        ),
    )


_CODES = (None, Status.CONVERGED, Status.MAX_STEPS, Status.DIVERGED, Status.NONFINITE)
_RUNNING, _CONVERGED, _MAX_STEPS, _DIVERGED, _NONFINITE = range(5)
COUNTED = ("values", "gradients", "hvps", "line_searches")


class _PerMember:
    """Per-member integer counters (a frozen dataclass of NumPy arrays of the batch shape)."""

    def totals(self) -> dict[str, int]:
        """Sums over the batch."""
        return {f.name: int(getattr(self, f.name).sum()) for f in fields(self)}  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return {f.name: json_ready(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class Counts(_PerMember):
    """Evaluations spent per batch member (NumPy int arrays of the batch shape).

    The oracle's evaluations (``oracle_alphas``) are a measurement, not part of
    the method, and are not counted. A count that is zero by construction (line
    searches of a rule that makes none, HVPs of a rule that uses none) may be a
    read-only array, and counts equal by construction (values and gradients of a rule
    that evaluates both at the same points) may be one read-only array.

    >>> import taylorlr as tl
    >>> tl.run("x**2 + 10*y**2", [1.0, 1.0], rule="retsinas", steps=30).counts.totals()
    {'values': 10, 'gradients': 10, 'hvps': 0, 'line_searches': 0}
    """

    values: Any
    gradients: Any
    hvps: Any
    line_searches: Any


@dataclass(frozen=True)
class SafeguardCounts(_PerMember):
    """How many times each safeguard fired, per batch member (see :class:`~taylorlr.Safeguards`).

    >>> import taylorlr as tl
    >>> fired = tl.run("x**2 + 10*y**2", [1.0, 1.0], rule="retsinas", steps=30).safeguard_counts.totals()
    >>> sorted(fired), sum(fired.values())
    (['alpha_max', 'alpha_min', 'curvature', 'factor_max', 'factor_min', 'precision', 'rising_loss'], 0)
    """

    curvature: Any
    rising_loss: Any
    factor_min: Any
    factor_max: Any
    alpha_min: Any
    alpha_max: Any
    precision: Any


@dataclass(frozen=True)
class Run:
    """The record of a batched run (NumPy arrays, whatever the backend).

    Attributes:
        points: (last+1, *batch, n) theta_0 ... theta_last, where ``last`` is the batch's
            last valid step (``stopped_at.max()``; ``steps`` while a member ran them all): a
            run that stops early holds no rows for the steps it never took. **Padded** up to
            ``last``: after its stopping step ``stopped_at`` a member repeats its last valid
            point, and ``alphas``, ``losses`` and ``grad_norms`` repeat their last valid
            entries, so that a batch is one array. Use :attr:`valid` (a mask) or
            :meth:`history` (one member, cut at its stop) to tell the data from the padding.
        alphas: (last+1, *batch); alphas[t] is used by step t, alphas[0] == alpha0
            (for "line-search", the oracle's alpha), alphas[last] is the next one.
        oracle_alphas: (last, *batch); the exact line-search alpha for step t's
            direction (NaN where a member had stopped; with ``oracle=False``, a
            read-only array of NaN).
        losses, grad_norms: (last+1, *batch); f and ||grad f|| at the points (of the
            minibatch loss L_t in the stochastic form).
        status: (*batch) object array of :class:`Status` (0-d for a single start point, so
            the type does not change with the rank of the input); compare it with strings.
        stopped_at: (*batch) index of each member's last valid point; a DIVERGED or
            NONFINITE member failed in the step from that point.
        counts, safeguard_counts: see :class:`Counts`, :class:`SafeguardCounts`.
        rule, optimizer: labels; settings: the other options, for the record.
        recorded_steps: None when every step is recorded (``record="all"``, the default: row t
            is step t). With ``record=k`` or ``"final"``, the step of each row of ``points``,
            ``alphas``, ``losses`` and ``grad_norms`` (1-d int: 0, k, 2k, ... and the batch's
            last step), the last row holding each member's final point (``x``); the rows of
            ``oracle_alphas`` are the steps ``recorded_steps[:-1]``. :attr:`valid` and
            :meth:`history` read both forms.
        seconds, oracle_seconds: the run's time stepping (wall clock; the build and the
            verdict aside) and the part of it the line-search oracle took (its measurement of
            every step, or the "line-search" rule's own searches); 0.0 when there is no oracle.

    It also answers in SciPy's ``OptimizeResult`` words, per member: :attr:`x`, :attr:`fun`,
    :attr:`success`, :attr:`message`, :attr:`nit`, :attr:`nfev`, :attr:`njev`, :attr:`nhev`.

    >>> import taylorlr as tl
    >>> run = tl.run("(x - 1)**2 + 4*y**2", [0.0, 1.0], rule="exact", steps=50)
    >>> run.status == "converged", bool(run.success), run.status.shape
    (np.True_, True, ())
    >>> run.x.round(8).tolist(), int(run.nit) == int(run.stopped_at)
    ([1.0, 0.0], True)
    >>> print(tl.run("-x**2 - y**2", [0.0, 0.0]).message)  # doctest: +ELLIPSIS
    maximum at step 0: the gradient vanished at a local maximum ...: start elsewhere
    """

    points: Any
    alphas: Any
    oracle_alphas: Any
    losses: Any
    grad_norms: Any
    status: Any
    stopped_at: Any
    counts: Counts
    safeguard_counts: SafeguardCounts
    rule: str
    optimizer: str
    oracle_method: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    recorded_steps: Any = None
    seconds: float = 0.0
    oracle_seconds: float = 0.0

    @property
    def oracle_share(self) -> float:
        """The oracle's part of the run's time (``oracle_seconds / seconds``; 0 without an oracle).

        >>> import taylorlr as tl
        >>> run = tl.run("x**4 + y**2", [1.0, 1.0], steps=5)
        >>> 0 < run.oracle_seconds <= run.seconds, 0 < run.oracle_share <= 1
        (True, True)
        >>> tl.run("x**4 + y**2", [1.0, 1.0], steps=5, oracle=False).oracle_share
        0.0
        """
        return self.oracle_seconds / self.seconds if self.seconds > 0 else 0.0

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.status.shape)

    # SciPy's names ---------------------------------------------------------------------------

    @property
    def x(self) -> Any:
        """(*batch, n) each member's last valid point (``points[stopped_at]``, which the padding
        repeats to the last row: ``points[-1]``)."""
        return self.points[-1]

    @property
    def fun(self) -> Any:
        """(*batch) f at :attr:`x` (``losses[stopped_at]``, repeated to ``losses[-1]``)."""
        return self.losses[-1]

    @property
    def success(self) -> Any:
        """(*batch) bool: the status is "converged" (a gradient stop that is not a saddle or maximum)."""
        import numpy

        return numpy.asarray(self.status == Status.CONVERGED, dtype=bool)

    @property
    def message(self) -> Any:
        """The line of :meth:`messages`: a str for a single run, an array of str of the batch shape."""
        import numpy

        lines = self.messages()
        return lines[0] if not self.batch_shape else numpy.asarray(lines).reshape(self.batch_shape)

    @property
    def nit(self) -> Any:
        """(*batch) the steps each member took (its stopping step; a failed step is not counted)."""
        return self.stopped_at

    @property
    def nfev(self) -> Any:
        """(*batch) values of f evaluated (``counts.values``)."""
        return self.counts.values

    @property
    def njev(self) -> Any:
        """(*batch) gradients evaluated (``counts.gradients``)."""
        return self.counts.gradients

    @property
    def nhev(self) -> Any:
        """(*batch) Hessian-vector products evaluated (``counts.hvps``)."""
        return self.counts.hvps

    # the histories without their padding ------------------------------------------------------

    def _row_steps(self) -> Any:
        """The step of each history row (1-d int)."""
        import numpy

        if self.recorded_steps is None:
            return numpy.arange(len(self.losses))
        return numpy.asarray(self.recorded_steps)

    @property
    def valid(self) -> Any:
        """(rows, *batch) bool: True where ``points``, ``losses`` ... hold data, not padding
        (every step recorded: t <= stopped_at). A thinned record (``record=k``) counts a row
        when the row before it is a step before the member's stop: the first row past the stop
        holds the member's final point."""
        import numpy

        steps = self._row_steps()
        before = numpy.concatenate([[-1], steps[:-1]]).reshape((-1,) + (1,) * len(self.batch_shape))
        return before < numpy.asarray(self.stopped_at)

    def history(self, member: int | tuple[int, ...] = ()) -> dict[str, Any]:
        """One member's histories cut at its stopping step (no padding).

        ``member`` indexes the batch (an int or a tuple; () for a single start point). The
        arrays are ``points`` (stop+1, n), ``alphas``, ``losses``, ``grad_norms`` (stop+1)
        and ``oracle_alphas`` (stop): the oracle of each step taken; ``steps`` says which step
        each row is (0 ... stop; with ``record=k``, the recorded steps up to the stop and the stop).
        """
        import numpy

        index = member if isinstance(member, tuple) else (member,)
        stop = int(self.stopped_at[index])
        steps = self._row_steps()
        rows = int(numpy.searchsorted(steps, stop)) + 1  # the first row at or past the stop, included
        cut = {name: getattr(self, name)[(slice(0, rows),) + index] for name in _HISTORIES}
        cut["oracle_alphas"] = self.oracle_alphas[(slice(0, rows - 1),) + index]
        cut["steps"] = numpy.minimum(steps[:rows], stop)
        return cut

    # text and JSON ------------------------------------------------------------------------------

    def messages(self) -> list[str]:
        """One line per batch member (flattened): status, step, what was observed and advice."""
        import numpy

        lines = []
        starts, ends = numpy.ravel(self.losses[0]), numpy.ravel(self.fun)
        for k, (status, step) in enumerate(zip(self.status.ravel(), self.stopped_at.ravel(), strict=True)):
            observed = status in (Status.UNBOUNDED, Status.ROSE)
            seen = f" (f {starts[k]:.6g} -> {ends[k]:.6g})" if observed else ""
            lines.append(f"{status.value} at step {int(step)}{seen}: {status.message}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: nested lists, NaN and infinities as None."""
        return {
            "rule": self.rule,
            "optimizer": self.optimizer,
            "oracle_method": self.oracle_method,
            "settings": {k: json_ready(v) for k, v in self.settings.items()},
            "points": json_ready(self.points),
            "alphas": json_ready(self.alphas),
            "oracle_alphas": json_ready(self.oracle_alphas),
            "losses": json_ready(self.losses),
            "grad_norms": json_ready(self.grad_norms),
            "status": [s.value for s in self.status.ravel()],
            "stopped_at": json_ready(self.stopped_at),
            "counts": self.counts.to_dict(),
            "safeguard_counts": self.safeguard_counts.to_dict(),
            "timings": {"seconds": self.seconds, "oracle_seconds": self.oracle_seconds},
            **({} if self.recorded_steps is None else {"recorded_steps": json_ready(self.recorded_steps)}),
        }

    # notebook display and exports ------------------------------------------------------------------

    def status_counts(self) -> dict[str, int]:
        """How many batch members ended with each status (zeros left out), in :class:`Status` order.

        >>> import taylorlr as tl
        >>> tl.run("x**2", [[1.0], [0.0]], steps=5).status_counts()
        {'converged': 2}
        """
        flat = [getattr(s, "value", s) for s in self.status.ravel()]
        counts = {s.value: flat.count(s.value) for s in Status}
        return {label: count for label, count in counts.items() if count}

    def __repr__(self) -> str:
        """One line: the labels, batch shape, the steps taken of those allowed (the batch's last
        valid step), status counts and the best f (never arrays).

        >>> import taylorlr as tl
        >>> tl.run("(x - 1)**2 + 4*y**2", [0.0, 1.0], rule="exact", steps=50)
        Run(gd with the exact rule, batch (), 9 of 50 steps, converged 1, best f 4.18382e-18)
        """
        import numpy

        taken = int(numpy.max(self.stopped_at, initial=0))
        allowed = self.settings.get("steps")
        return (
            f"Run({self.optimizer} with the {self.rule} rule, batch {self.batch_shape}, "
            f"{taken}{'' if allowed is None else f' of {allowed}'} steps, "
            f"{counts_text(self.status_counts())}, best f {fmt(self._best_f())})"
        )

    def _best_f(self) -> float | None:
        import numpy

        final = numpy.asarray(self.fun, dtype=float)
        finite = final[numpy.isfinite(final)]
        return float(finite.min()) if finite.size else None

    def _card(self) -> Card:
        """The notebook card: a summary, then one row per member (or per step for one member)."""
        fields = (
            ("batch shape", str(self.batch_shape)),
            ("steps", str(len(self.losses) - 1)),
            ("statuses", counts_text(self.status_counts())),
            ("best f", fmt(self._best_f())),
            ("path", str(self.settings.get("path", "n/a"))),
        )
        title = f"Run: {self.optimizer} with the {self.rule} rule"
        if self.batch_shape:
            size = len(self.status.ravel())
            more = f"{size - ROW_LIMIT} more members not shown" if size > ROW_LIMIT else ""
            return Card(
                title=title, fields=fields, header=_MEMBER_HEADER, rows=self._member_rows(), note=more
            )
        return Card(title=title, fields=(*fields, ("message", self.messages()[0])),
                    header=_STEP_HEADER, rows=self._step_rows())  # fmt: skip

    def _member_rows(self) -> list[tuple[str, ...]]:
        import numpy

        n = self.points.shape[-1]
        rows: list[tuple[str, ...]] = []
        members = zip(self.status.ravel()[:ROW_LIMIT], self.stopped_at.ravel()[:ROW_LIMIT], strict=True)
        for k, (status, stop) in enumerate(members):  # a notebook shows the first ROW_LIMIT members
            point = numpy.reshape(self.x, (-1, n))[k]
            f, g = numpy.ravel(self.fun)[k], numpy.ravel(self.grad_norms[-1])[k]
            label = str(getattr(status, "value", status))
            rows.append((str(k), label, str(int(stop)), fmt(f), fmt(g), vector(point)))
        return rows

    def _step_rows(self) -> list[tuple[str, ...]]:
        """t, f, ||g||, alpha_t, oracle alpha*_t: both ends of a long run, the middle elided."""
        stop = int(self.stopped_at)
        shown = list(range(stop + 1)) if stop < 16 else [*range(8), -1, *range(stop - 7, stop + 1)]
        rows: list[tuple[str, ...]] = []
        for t in shown:
            if t < 0:
                rows.append(("...", "", "", "", ""))
                continue
            oracle = self.oracle_alphas[t] if t < len(self.oracle_alphas) else None
            measured = (self.losses[t], self.grad_norms[t], self.alphas[t], oracle)
            rows.append((str(t), *map(fmt, measured)))
        return rows

    def _repr_html_(self) -> str:
        return self._card().html()

    def _repr_markdown_(self) -> str:
        return self._card().markdown()

    def to_frame(self, variables: Sequence[str] | None = None) -> Any:
        """The run as a pandas DataFrame: one row per (member, step) taken, padding left out.

        Columns: ``member`` (the flat batch index), ``t``, each coordinate (named by
        ``variables``, e.g. ``loss.names``; ``x0``, ``x1``, ... by default), ``loss``, ``grad_norm``,
        ``alpha`` (alpha_t, used by step t) and ``oracle_alpha`` (alpha*_t, NaN at the last
        point, where no step was taken), and ``status`` (the member's final status).

        Raises:
            MissingDependencyError: pandas is not installed (``pip install pandas``).

        >>> import taylorlr as tl
        >>> frame = tl.run("(x - 1)**2", [0.0], rule="exact", steps=3).to_frame(variables=["x"])
        >>> list(frame.columns), len(frame)
        (['member', 't', 'x', 'loss', 'grad_norm', 'alpha', 'oracle_alpha', 'status'], 3)
        """
        from taylorlr._frame import frame_of

        return frame_of(self.records(variables))

    def records(self, variables: Sequence[str] | None = None) -> dict[str, list[Any]]:
        """The columns of :meth:`to_frame` as plain lists (no pandas needed; what ``--csv`` writes).

        >>> import taylorlr as tl
        >>> tl.run("x**2", [1.0], rule="exact", steps=2).records()["x0"]
        [1.0, 0.98, 0.0]
        """
        import numpy

        n = self.points.shape[-1]
        names = list(variables) if variables is not None else [f"x{i}" for i in range(n)]
        if len(names) != n:
            given = f"{len(names)} name{'' if len(names) == 1 else 's'}"
            raise OptionError(f"variables gives {given} for the run's {n} coordinates: pass {n} names")
        columns: dict[str, list[Any]] = {key: [] for key in ("member", "t", *names, "loss", "grad_norm",
                                                             "alpha", "oracle_alpha", "status")}  # fmt: skip
        for k, status in enumerate(self.status.ravel()):
            cut = self.history(tuple(int(i) for i in numpy.unravel_index(k, self.batch_shape)))
            rows = len(cut["steps"])
            columns["member"] += [k] * rows
            columns["t"] += [int(t) for t in cut["steps"]]
            for i, name in enumerate(names):
                columns[name] += [float(v) for v in cut["points"][:, i]]
            columns["loss"] += [float(v) for v in cut["losses"]]
            columns["grad_norm"] += [float(v) for v in cut["grad_norms"]]
            columns["alpha"] += [float(v) for v in cut["alphas"]]
            oracle = [float(v) for v in cut["oracle_alphas"]]
            columns["oracle_alpha"] += oracle + [math.nan] * (rows - len(oracle))
            columns["status"] += [getattr(status, "value", str(status))] * rows
        return columns


_HISTORIES = ("points", "alphas", "losses", "grad_norms")
_MEMBER_HEADER = ("member", "status", "stopped at", "f", "||g||", "point")
_STEP_HEADER = ("t", "f", "||g||", "alpha_t", "oracle alpha*_t")
