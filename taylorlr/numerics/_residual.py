"""||H s - g||^2, ||s||^2 and ||g||^2 per member of a NumPy batch, in one pass over H.

The backward error of the Newton step's solve needs these three sums of squares per member.
Through NumPy they cost three passes beyond the solve: a stacked ``matmul`` for H s, its
residual, and a dot product for each norm. Here one compiled loop (LLVM through llvmlite, built
once per process, n and dtype: straight-line scalar code over n, one member per pass)
reads H and g through their strides where they lie (the kernel's packed output needs no copy)
and s, and writes the three sums.

The arithmetic is fixed, the same for every member and in :func:`elementwise`, the NumPy route that
serves where the loop is not built: r_i = (...((h_i0 s_0 + h_i1 s_1) + h_i2 s_2) ... + h_i,n-1 s_n-1) - g_i,
||r||^2 = (...(r_0 r_0 + r_1 r_1) + ...) + r_n-1 r_n-1, and ||s||^2, ||g||^2 in the same order (no
fused multiply-add, no fast-math: IEEE operations, each rounded once). So a member's three
numbers are the same bits through the loop and through :func:`elementwise`, alone and in any
batch, at any place in it; NaN and inf propagate as IEEE arithmetic says.

>>> import numpy as np
>>> H = np.stack([np.eye(3) * 2.0] * 5); s = np.ones((5, 3)); g = np.ones((5, 3))
>>> [v.tolist() for v in sums_of_squares(H, g, s)]
[[3.0, 3.0, 3.0, 3.0, 3.0], [3.0, 3.0, 3.0, 3.0, 3.0], [3.0, 3.0, 3.0, 3.0, 3.0]]
"""

from __future__ import annotations

import ctypes
import functools
import math
from typing import Any

import numpy

from taylorlr.numerics._jit import CountedLoop, Loop, addressable, build

#: the sizes n the loop serves (its straight-line code grows as n^2: larger n keeps NumPy)
SMALLEST, LARGEST = 3, 16
#: from this many members on the loop serves (built once per process, n and dtype in 0.03-0.07 s at
#: n = 10); smaller batches take :func:`elementwise`, which needs no build (the same bits)
FROM = 256
#: the dtypes the loop serves
DTYPES = ("float64", "float32")


def sums_of_squares(H: Any, g: Any, s: Any) -> tuple[Any, Any, Any]:
    """(||H s - g||^2, ||s||^2, ||g||^2) per member of NumPy arrays H (..., n, n), g and s (..., n) of
    one float dtype: through the compiled loop where it serves them, else :func:`elementwise`
    (the same bits either way)."""
    batch, n = tuple(H.shape[:-2]), H.shape[-1]
    if math.prod(batch) < FROM or not _served(H, g, s):
        return elementwise(H, g, s)
    H, g, s = (numpy.reshape(a, (-1, *a.shape[len(batch) :])) for a in (H, g, s))
    loop, count, item = _loop(n, str(H.dtype)), H.shape[0], H.itemsize
    assert loop is not None  # _served built it
    out = numpy.empty((3, count), dtype=H.dtype)
    if count:
        loop.function(
            H.ctypes.data, *(stride // item for stride in H.strides),
            g.ctypes.data, *(stride // item for stride in g.strides),
            s.ctypes.data, *(stride // item for stride in s.strides),
            out.ctypes.data, count,
        )  # fmt: skip
    return tuple(numpy.reshape(row, batch) for row in out)  # type: ignore[return-value]


def elementwise(H: Any, g: Any, s: Any) -> tuple[Any, Any, Any]:
    """The loop's arithmetic in NumPy ufuncs (the same bits): H s a column at a time, every row's
    sum in the loop's order, then each sum of squares an entry at a time (about 5 n ufunc calls,
    so slower than the loop on large batches)."""
    n = H.shape[-1]
    with numpy.errstate(all="ignore"):
        total = H[..., :, 0] * s[..., None, 0]
        for j in range(1, n):
            total = total + H[..., :, j] * s[..., None, j]
        sums = []
        for terms in ((total - g) ** 2, s * s, g * g):
            accumulated = terms[..., 0]
            for i in range(1, n):
                accumulated = accumulated + terms[..., i]
            sums.append(accumulated)
    residual2, step2, gradient2 = sums
    return residual2, step2, gradient2


def _served(H: Any, g: Any, s: Any) -> bool:
    """Whether the compiled loop serves these arrays: NumPy, one dtype of :data:`DTYPES`, n within
    [SMALLEST, LARGEST], matching shapes, aligned with strides non-negative multiples of the item
    size (:func:`~taylorlr.numerics._jit.addressable`), and LLVM here to build the loop (batch axes
    that do not flatten to one are copied by the reshape)."""
    arrays = (H, g, s)
    if not addressable(*arrays) or H.ndim < 3:
        return False
    n, dtype = H.shape[-1], str(H.dtype)
    if dtype not in DTYPES or any(str(a.dtype) != dtype for a in arrays) or not SMALLEST <= n <= LARGEST:
        return False
    if H.shape[-2] != n or g.shape != H.shape[:-1] or s.shape != g.shape:
        return False
    return _loop(n, dtype) is not None


@functools.cache
def _loop(n: int, dtype: str) -> Loop | None:
    """The compiled loop for n x n members of ``dtype`` (built once per process: 0.03-0.07 s at
    n = 10; LLVM's O2/O3 pass pipeline took 0.17-0.35 s and ran it no faster at 10^5 x 10), or None."""
    address, integer = ctypes.c_void_p, ctypes.c_int64
    prototype = ctypes.CFUNCTYPE(
        None, address, *[integer] * 3, address, *[integer] * 2, address, *[integer] * 2, address, integer
    )
    return build(_ir(n, dtype), "squares", prototype)


def _ir(n: int, dtype: str) -> str:
    """LLVM IR of ``squares(H, 3 strides, g, 2 strides, s, 2 strides, out, count)`` (strides in
    entries; ``out`` holds 3 rows of ``count``): one member per pass, straight-line scalar code."""
    import llvmlite.ir as ir

    real, index = (ir.DoubleType() if dtype == "float64" else ir.FloatType()), ir.IntType(64)
    pointer = real.as_pointer()
    arguments = [pointer, index, index, index, pointer, index, index, pointer, index, index, pointer, index]
    signature = ir.FunctionType(ir.VoidType(), arguments)
    module = ir.Module(name="taylorlr_residual")
    function = ir.Function(module, signature, "squares")
    H, h_member, h_row, h_column, g, g_member, g_entry, s, s_member, s_entry, out, count = function.args
    for argument in (H, g, s, out):
        argument.add_attribute("noalias")
    loop = CountedLoop(function, count)
    builder = loop.builder  # the offsets within a member, computed once
    h_at = [[builder.add(builder.mul(index(i), h_row), builder.mul(index(j), h_column)) for j in range(n)]
            for i in range(n)]  # fmt: skip
    g_at = [builder.mul(index(i), g_entry) for i in range(n)]
    s_at = [builder.mul(index(j), s_entry) for j in range(n)]
    member = loop.start()
    bases = [
        builder.gep(array, [builder.mul(member, stride)])
        for array, stride in ((H, h_member), (g, g_member), (s, s_member))
    ]

    def load(base: Any, offset: Any) -> Any:
        return builder.load(builder.gep(base, [offset]))

    steps = [load(bases[2], at) for at in s_at]
    gradient = [load(bases[1], at) for at in g_at]
    sums: list[Any] = []
    for i in range(n):
        total = None
        for j in range(n):
            term = builder.fmul(load(bases[0], h_at[i][j]), steps[j])
            total = term if total is None else builder.fadd(total, term)
        r = builder.fsub(total, gradient[i])
        terms = (builder.fmul(r, r), builder.fmul(steps[i], steps[i]), builder.fmul(gradient[i], gradient[i]))
        sums = list(terms) if i == 0 else [builder.fadd(a, b) for a, b in zip(sums, terms, strict=True)]
    for k, value in enumerate(sums):
        builder.store(value, builder.gep(out, [builder.add(builder.mul(index(k), count), member)]))
    loop.close()
    return str(module)
