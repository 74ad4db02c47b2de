"""pandas, loaded only when a record is asked for a DataFrame (``to_frame``); a typed error without it.

>>> frame_of({"t": [0, 1], "loss": [2.0, 0.5]}).shape
(2, 2)
"""

from __future__ import annotations

from typing import Any

from taylorlr.errors import MissingDependencyError

INSTALL_HINT = "to_frame() needs pandas, which is not installed: pip install pandas (or 'taylorlr[frame]')"


def frame_of(columns: dict[str, list[Any]]) -> Any:
    """A pandas DataFrame of equal-length columns.

    Raises:
        MissingDependencyError: pandas is not installed (the message says ``pip install pandas``).
    """
    try:
        import pandas
    except ImportError as error:
        raise MissingDependencyError(INSTALL_HINT) from error
    return pandas.DataFrame(columns)
