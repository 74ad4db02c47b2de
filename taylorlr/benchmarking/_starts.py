"""Start points: the standard start, then a seeded cloud around it, the same bits in any chunking.

Start 0 of a problem is its standard start x0. Start k >= 1 is x0 + spread * (1 + |x0|) * u with
u uniform in [-1, 1]^n, drawn in fixed blocks of :data:`BLOCK` starts, block b from the generator
seeded with (seed, the problem's name, b): start k is the same numbers whichever chunk computes it.

>>> import numpy as np
>>> whole = starts((1.0, -2.0), "demo", 0, 10, seed=3, spread=0.5)
>>> part = starts((1.0, -2.0), "demo", 4, 7, seed=3, spread=0.5)
>>> whole.shape, bool(np.array_equal(whole[4:7], part)), whole[0].tolist()
((10, 2), True, [1.0, -2.0])
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

#: starts drawn per seeded block
BLOCK = 1024


def starts(x0: Sequence[float], name: str, first: int, stop: int, *, seed: int, spread: float) -> Any:
    """Starts ``first`` ... ``stop - 1`` of a problem, shape (stop - first, n), float64."""
    import numpy

    x0_array = numpy.asarray(x0, dtype=numpy.float64)
    n = x0_array.size
    out = numpy.empty((max(stop - first, 0), n))
    for block in range(first // BLOCK, (stop - 1) // BLOCK + 1 if stop > first else 0):
        low, high = block * BLOCK, (block + 1) * BLOCK
        rng = numpy.random.default_rng([seed, zlib.crc32(name.encode()), block])
        cloud = x0_array + spread * (1.0 + numpy.abs(x0_array)) * rng.uniform(-1.0, 1.0, (BLOCK, n))
        if block == 0:
            cloud[0] = x0_array
        a, b = max(low, first), min(high, stop)
        out[a - first : b - first] = cloud[a - low : b - low]
    return out
