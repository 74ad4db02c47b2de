"""The :class:`Benchmark` record: one tidy row per run, and its exports (CSV, JSON, Parquet, pandas)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taylorlr._json import json_ready
from taylorlr.errors import MissingDependencyError

#: the columns of the table, in order (see docs/benchmark.md)
COLUMNS = (
    "problem", "number", "n", "start", "solver", "kind", "rule", "optimizer", "status", "steps",
    "f0", "f", "f_star", "gap", "relative_gap", "grad_norm",
    "nfev", "njev", "nhev", "line_searches", "evaluations",
    "safeguard_curvature", "safeguard_rising_loss", "safeguard_factor_min", "safeguard_factor_max",
    "safeguard_alpha_min", "safeguard_alpha_max", "safeguard_precision",
    "evals_to_1e-01", "evals_to_1e-03", "evals_to_1e-05", "evals_to_1e-07",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Benchmark:
    """The result of :func:`taylorlr.benchmark`: a tidy table, one row per run.

    Attributes:
        columns: column name -> NumPy array (one entry per run), in :data:`COLUMNS` order.
        settings: the options the sweep ran with (plain data).
        timeouts: the problems whose time budget ran out (their remaining runs have status
            "timeout").
        errors: one line per task that raised (its runs have status "error").
        lost: the chunks a Dask sweep lost (``(problem, solver, first, stop)``); their runs are
            absent until :func:`taylorlr.benchmarking.resume` runs them again.
        seconds: wall time per problem (not part of equality).
        pending: the lost chunks' tasks, as plain data (what ``resume`` runs).

    >>> import taylorlr as tl
    >>> table = tl.benchmark(["booth"], rules=("exact",), optimizers=("gd",), baselines=("bfgs",), steps=50)
    >>> len(table), table.column("solver").tolist(), table.column("status").tolist()
    (2, ['exact/gd', 'bfgs'], ['converged', 'converged'])
    """

    columns: Mapping[str, Any]
    settings: Mapping[str, Any] = field(default_factory=dict)
    timeouts: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    lost: tuple[tuple[str, str, int, int], ...] = ()
    seconds: Mapping[str, float] = field(default_factory=dict, compare=False)
    pending: tuple[Any, ...] = field(default=(), repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.columns["problem"]) if self.columns else 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Benchmark):
            return NotImplemented
        import numpy

        same = self.columns.keys() == other.columns.keys() and all(
            numpy.array_equal(self.columns[k], other.columns[k], equal_nan=self.columns[k].dtype.kind == "f")
            for k in self.columns
        )
        return same and (self.timeouts, self.errors, self.lost) == (other.timeouts, other.errors, other.lost)

    __hash__ = None  # type: ignore[assignment]

    def column(self, name: str) -> Any:
        """One column as a NumPy array."""
        return self.columns[name]

    @property
    def solvers(self) -> tuple[str, ...]:
        """The solver labels, in the order they ran."""
        return tuple(dict.fromkeys(self.columns["solver"].tolist()))

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.columns["problem"].tolist()))

    def rows(self) -> list[dict[str, Any]]:
        """The table as a list of dicts (Python scalars)."""
        names = list(self.columns)
        values = [self.columns[n].tolist() for n in names]
        return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]

    def summary(self, tau: float = 1e-3) -> list[dict[str, Any]]:
        """Per solver: runs, solved at level tau, converged, failed, wins, median evaluations to solve."""
        from taylorlr.benchmarking._summary import solver_summary

        return solver_summary(self, tau)

    def winners(self, tau: float = 1e-3, start: int = 0) -> list[dict[str, Any]]:
        """Per problem (from one start): the best taylorlr solver and the baselines' evaluations."""
        from taylorlr.benchmarking._summary import problem_winners

        return problem_winners(self, tau, start)

    def profiles(self, path: Any = None, *, tau: float = 1e-3) -> Any:
        """The performance and data profiles as a matplotlib Figure (saved to ``path`` if given)."""
        from taylorlr.benchmarking.profiles import plot_profiles

        return plot_profiles(self, path, tau=tau)

    # exports ----------------------------------------------------------------------------------

    def to_frame(self) -> Any:
        """A pandas DataFrame (pandas loads now)."""
        try:
            import pandas
        except ImportError as error:
            raise MissingDependencyError("to_frame needs pandas: pip install pandas") from error
        return pandas.DataFrame(dict(self.columns))

    def to_csv(self, path: str | Path | None = None) -> str:
        """The table as CSV (to ``path`` if given); inf and nan as ``inf``, ``nan``."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(list(self.columns))
        for row in self.rows():
            writer.writerow([_cell(v) for v in row.values()])
        text = buffer.getvalue()
        if path is not None:
            Path(path).write_text(text)
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: settings, timeouts, errors, lost chunks and the rows (NaN, inf as None)."""
        return {
            "settings": json_ready(dict(self.settings)),
            "timeouts": list(self.timeouts),
            "errors": list(self.errors),
            "lost": [list(chunk) for chunk in self.lost],
            "rows": [{k: json_ready(v) for k, v in row.items()} for row in self.rows()],
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """:meth:`to_dict` as JSON text (to ``path`` if given)."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            Path(path).write_text(text)
        return text

    def to_parquet(self, path: str | Path) -> None:
        """The table as a Parquet file (pyarrow loads now)."""
        try:
            import pyarrow
            import pyarrow.parquet
        except ImportError as error:
            raise MissingDependencyError("Parquet output needs pyarrow: pip install pyarrow") from error
        arrays = {k: (v.astype(str) if v.dtype == object else v) for k, v in self.columns.items()}
        pyarrow.parquet.write_table(pyarrow.table(arrays), str(path))


def _cell(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value
