"""The eigenvalue rule of :func:`taylorlr.numerics._spectrum.eigenvalue_rule` in one compiled pass.

On a NumPy batch of ascending eigenvalues (``eigvalsh``'s, float64, (B, n) contiguous) one loop
(LLVM through llvmlite, built once per process and n) reads each member's row once and writes
its four verdicts, where NumPy makes a dozen passes over the batch. It does the rule's own IEEE
operations on the same numbers, so the verdicts are the rule's, member by member:
largest = max(|lambda_0|, |lambda_n-1|), smallest = min_i |lambda_i| (for ascending values of one sign
the smaller end's, as the rule takes it there), singular = smallest <= fl(tol * largest),
ill = not singular and fl(largest / smallest) > eps^-1/2, minimum = lambda_0 > 0, maximum =
lambda_n-1 < 0. A row holding a NaN (which the rule's folds propagate in their own order) is
flagged, and a batch with one keeps the NumPy rule.

>>> import numpy as np
>>> values = np.array([[-1.0, 0.5, 2.0], [1e-9, 1.0, 1.0], [0.0, 1.0, 2.0]] * 100)
>>> [v[:3].tolist() for v in rule(values, 1e-15)]
[[False, False, True], [False, True, False], [False, False, False], [False, True, False]]
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

import numpy

from taylorlr.numerics._jit import CountedLoop, Loop, addressable, build

#: the ill-conditioning threshold on max |lambda| / min |lambda| (1/sqrt(eps), float64)
LIMIT = (2.0**-52) ** -0.5
#: from this many members on the loop serves (a build of a few hundredths of a second)
FROM = 256


def rule(values: Any, tol: float) -> tuple[Any, Any, Any, Any] | None:
    """(singular, minimum, maximum, ill) as NumPy bool arrays (B,) from ascending float64
    eigenvalues ``values`` (B, n), n >= 2; None where the loop does not serve them (another
    namespace or dtype, a small batch, no LLVM) or a row holds a NaN: the caller then applies
    the NumPy rule."""
    if not isinstance(values, numpy.ndarray) or values.ndim != 2 or values.dtype != numpy.float64:
        return None
    count, n = values.shape
    if count < FROM or n < 2 or not values.flags.c_contiguous or not addressable(values):
        return None
    loop = _loop(n)
    if loop is None:
        return None
    out = numpy.empty((5, count), dtype=numpy.uint8)
    loop.function(values.ctypes.data, float(tol), LIMIT, out.ctypes.data, count)
    if out[4].any():  # a NaN somewhere: the NumPy rule, with its own propagation
        return None
    singular, minimum, maximum, ill = (row.view(numpy.bool_) for row in out[:4])
    return singular, minimum, maximum, ill


@functools.cache
def _loop(n: int) -> Loop | None:
    """The compiled rule for rows of n float64 eigenvalues (built once per process), or None."""
    address, real = ctypes.c_void_p, ctypes.c_double
    prototype = ctypes.CFUNCTYPE(None, address, real, real, address, ctypes.c_int64)
    return build(_ir(n), "rule", prototype)


def _ir(n: int) -> str:
    """LLVM IR of ``rule(values, tol, limit, out, count)``: ``out`` holds 5 rows of ``count`` bytes
    (singular, minimum, maximum, ill, a NaN in the row), one member per pass."""
    import llvmlite.ir as ir

    real, index, byte, flag = ir.DoubleType(), ir.IntType(64), ir.IntType(8), ir.IntType(1)
    signature = ir.FunctionType(ir.VoidType(), [real.as_pointer(), real, real, byte.as_pointer(), index])
    module = ir.Module(name="taylorlr_rule")
    function = ir.Function(module, signature, "rule")
    values, tol, limit, out, count = function.args
    fabs = ir.Function(module, ir.FunctionType(real, [real]), "llvm.fabs.f64")
    loop = CountedLoop(function, count)
    builder = loop.builder
    member = loop.start()
    row = builder.gep(values, [builder.mul(member, index(n))])
    entries = [builder.load(builder.gep(row, [index(i)])) for i in range(n)]
    sizes = [builder.call(fabs, [v]) for v in entries]
    low, high = sizes[0], sizes[-1]
    largest = builder.select(builder.fcmp_ordered(">", low, high), low, high)
    smallest, unordered = sizes[0], builder.fcmp_unordered("uno", entries[0], entries[0])
    for size, value in zip(sizes[1:], entries[1:], strict=True):
        smallest = builder.select(builder.fcmp_ordered("<", size, smallest), size, smallest)
        unordered = builder.or_(unordered, builder.fcmp_unordered("uno", value, value))
    singular = builder.fcmp_ordered("<=", smallest, builder.fmul(tol, largest))
    divisor = builder.select(singular, ir.Constant(real, 1.0), smallest)
    ill = builder.and_(
        builder.not_(singular), builder.fcmp_ordered(">", builder.fdiv(largest, divisor), limit)
    )
    minimum = builder.fcmp_ordered(">", entries[0], ir.Constant(real, 0.0))
    maximum = builder.fcmp_ordered("<", entries[-1], ir.Constant(real, 0.0))
    for k, verdict in enumerate((singular, minimum, maximum, ill, unordered)):
        assert verdict.type == flag
        address = builder.gep(out, [builder.add(builder.mul(index(k), count), member)])
        builder.store(builder.zext(verdict, byte), address)
    loop.close()
    return str(module)
