"""Tables as CSV: the columns a record gives (``Run.records``, ``Comparison.records``) as text.

Floats are written with ``repr`` (the shortest text that reads back to the same float), so a
CSV read back gives the record's numbers bit for bit; None (nothing to measure) is an empty cell.

>>> print(csv_text({"t": [0, 1], "loss": [0.1, float("nan")], "gap": [None, 2.5]}), end="")
t,loss,gap
0,0.1,
1,nan,2.5
"""

from __future__ import annotations

import csv
import io
from typing import Any


def csv_text(columns: dict[str, list[Any]]) -> str:
    """Equal-length columns as CSV text with a header row (newlines as ``\\n``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*columns.values(), strict=True))
    return buffer.getvalue()
