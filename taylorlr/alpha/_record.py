"""Helpers for the run record that both steppers share (array-only)."""

from __future__ import annotations

from typing import Any

from taylorlr.alpha.result import Counts, SafeguardCounts

#: the record's per-step arrays, (steps[+1], *batch, ...)
PER_STEP = ("points", "alphas", "oracle_alphas", "losses", "grad_norms")


def with_batch_shape(
    record: dict[str, Any], computed: tuple[int, ...], shape: tuple[int, ...]
) -> dict[str, Any]:
    """The record with its batch axes ``computed`` (as the stepper ran it) reshaped to the
    caller's batch ``shape`` (a single point: ()).

    >>> import numpy as np
    >>> zero = np.zeros(2, int)
    >>> record = {"points": np.zeros((3, 2, 1)), "status": zero, "stopped_at": zero,
    ...           "counts": Counts(zero, zero, zero, zero),
    ...           "safeguard_counts": SafeguardCounts(*[zero] * 7)}
    >>> with_batch_shape(record, (2,), (1, 2))["points"].shape
    (3, 1, 2, 1)
    """
    if computed == shape:
        return record

    def shaped(array: Any, leading: int) -> Any:
        return array.reshape(array.shape[:leading] + shape + array.shape[leading + len(computed) :])

    out = {k: shaped(v, 1) for k, v in record.items() if k in PER_STEP}
    out["status"], out["stopped_at"] = shaped(record["status"], 0), shaped(record["stopped_at"], 0)
    for name, kind in (("counts", Counts), ("safeguard_counts", SafeguardCounts)):
        out[name] = kind(**{f: shaped(getattr(record[name], f), 0) for f in kind.__dataclass_fields__})
    return out


def constant(value: Any, shape: tuple[int, ...]) -> Any:
    """A read-only array of one value (a broadcast: no memory to fill), for results that are
    the same for every member (no oracle, a count of zero)."""
    import numpy

    return numpy.broadcast_to(value, shape)
