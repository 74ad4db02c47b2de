"""The one conversion of results to JSON-ready data (what ``json.dumps(allow_nan=False)`` takes)."""

from __future__ import annotations

import math
from typing import Any


def json_ready(value: Any) -> Any:
    """Arrays and tuples to lists, mappings to dicts with string keys, inf and NaN to None.

    >>> import numpy as np
    >>> json_ready({"a": (1.0, float("inf")), "b": np.array([float("nan"), 2.0])})
    {'a': [1.0, None], 'b': [None, 2.0]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if hasattr(value, "tolist"):  # NumPy scalars and arrays
        return json_ready(value.tolist())
    return value
