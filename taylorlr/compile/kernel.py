"""What a compiled group of expressions offers its caller, whichever generator built it.

Two generators implement :class:`Kernel`: :class:`~taylorlr.compile.xp_codegen.XpKernel`
(generated Python over any array namespace) and
:class:`~taylorlr.compile.simd_codegen.SimdKernel` (an LLVM loop over SIMD vectors of
points, float64 NumPy). An arithmetic group's
:class:`~taylorlr.compile.lazy_simd.LazySimdKernel` runs the loop's operations on NumPy until the
loop is worth building (the same bits). :class:`~taylorlr.compile.compiled.BatchedFunction` calls either
through this protocol alone.

>>> import numpy as np, sympy
>>> from taylorlr.compile.xp_codegen import build_kernel
>>> x, y = sympy.symbols("x y")
>>> kernel: Kernel = build_kernel([x * y, sympy.Integer(3)], [(x, y)])
>>> kernel.stacked(np, [np.array([[2.0, 5.0], [1.0, 1.0]])], (2,), None).tolist()
[[10.0, 3.0], [1.0, 3.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Kernel(Protocol):
    """A compiled group of expressions (say the n gradient entries), evaluated over batches."""

    @property
    def source(self) -> str:
        """The generated code (Python source, or a description of the LLVM loop), for inspection."""
        ...

    @property
    def n_outputs(self) -> int:
        """How many expressions the group holds."""
        ...

    def stacked(self, xp: Any, arrays: Sequence[Any], batch: tuple[int, ...], samples: Any) -> Any:
        """Every expression at every point: an array of shape ``batch (+ (S,)) + (n_outputs,)``.

        Args:
            xp: the array namespace of ``arrays``.
            arrays: one array of shape (..., k_g) per argument group (the point w, the
                vector v), each broadcasting to ``batch``, all of one float dtype.
            batch: the broadcast batch shape.
            samples: None, or one array per data symbol with samples on its last axis
                (the result then has a sample axis S before the outputs).
        """
        ...
