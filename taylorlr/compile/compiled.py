"""Compiled, batched evaluation of a loss: value, gradient, Hessian and HVP.

:func:`compile_loss` turns the exact derivatives of a :class:`~taylorlr.Loss`
into functions over arrays of shape ``(..., n)``. Each output group (value,
gradient, Hessian, HVP) is its own kernel with shared subexpressions, built the
first time it is called. Outputs always have the full batch shape: a constant
Hessian entry comes back as a filled array, never as a bare scalar (the
``lambdify`` pitfall of sympy issues 5642, 18347, 27632).

>>> import numpy as np, taylorlr as tl
>>> f = tl.Loss("x**2 + 3*x*y**2").compile("numpy")
>>> f.hess(np.zeros((4, 2))).shape
(4, 2, 2)
>>> f.grad(np.array([1.0, 2.0])).tolist()
[14.0, 12.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import sympy

from taylorlr.compile.backends import Backend, resolve_backend
from taylorlr.compile.xp_codegen import Kernel, build_kernel, llvm_available
from taylorlr.errors import OptionError, PointError
from taylorlr.symbolic.derivatives import SparseDerivatives


@dataclass
class BatchedFunction:
    """Expressions of a few argument vectors, evaluated over batches.

    Calling it with one array of shape (..., k_g) per argument group returns an
    array of shape (..., *out_shape). With data symbols, each data array holds
    samples on its last axis, and the result is reduced (mean or sum) over them.
    """

    kernel: Kernel
    group_sizes: tuple[int, ...]
    out_shape: tuple[int, ...]
    backend: Backend
    dtype: str
    data_names: tuple[str, ...] = ()
    reduction: str = "mean"
    #: (flat output index, expression index) pairs for sparse outputs such as the
    #: Hessian (its non-zero triangle, mirrored); None when expression k fills slot k
    placement: tuple[tuple[int, int], ...] | None = None

    def __call__(self, *arrays: Any, data: Mapping[str, Any] | None = None) -> Any:
        xp = self.backend.xp
        dtype = self.backend.dtype(self.dtype)
        arrays = tuple(self._as_array(a, k) for a, k in zip(arrays, self.group_sizes, strict=True))
        batch = _broadcast_batch(xp, arrays)
        if self.kernel.generator == "llvm":
            return self._call_llvm(arrays, batch)
        samples = self._data_arrays(data or {}, dtype)
        sample_axis = samples is not None
        groups = [_components(xp, a, sample_axis) for a in arrays]
        if samples is not None:
            groups.append(samples)
        outputs = self.kernel.call(xp, groups)
        shape = batch + ((_sample_count(xp, samples, batch),) if sample_axis else ())
        full = [xp.broadcast_to(xp.asarray(o, dtype=dtype), shape) for o in outputs]
        stacked = xp.stack(full, axis=-1) if full else xp.zeros(shape + (0,), dtype=dtype)
        if sample_axis:
            reduce = xp.mean if self.reduction == "mean" else xp.sum
            stacked = reduce(stacked, axis=-2)
        return self._place(xp, stacked, batch)

    def _place(self, xp: Any, stacked: Any, batch: tuple[int, ...]) -> Any:
        """Put expression k's values where ``placement`` says; zeros elsewhere."""
        if self.placement is None:
            return xp.reshape(stacked, batch + self.out_shape)
        size = math.prod(self.out_shape)
        if self.backend.name in ("numpy", "cupy"):
            flat = xp.zeros(batch + (size,), dtype=stacked.dtype)
            slots, sources = zip(*self.placement, strict=True) if self.placement else ((), ())
            flat[..., list(slots)] = stacked[..., list(sources)]
            return xp.reshape(flat, batch + self.out_shape)
        columns = [xp.zeros(batch, dtype=stacked.dtype)] * size
        for slot, source in self.placement:
            columns[slot] = stacked[..., source]
        return xp.reshape(xp.stack(columns, axis=-1), batch + self.out_shape)

    def _as_array(self, array: Any, size: int) -> Any:
        xp = self.backend.xp
        try:
            result = xp.asarray(array, dtype=self.backend.dtype(self.dtype))
        except (TypeError, ValueError) as error:
            raise PointError(f"cannot read the point as a float array: {error}") from error
        if result.ndim == 0 or result.shape[-1] != size:
            raise PointError(f"expected an array of shape (..., {size}), got shape {tuple(result.shape)}")
        return result

    def _call_llvm(self, arrays: tuple[Any, ...], batch: tuple[int, ...]) -> Any:
        import numpy

        if len(arrays) == 1:  # its batch shape is the batch: no broadcast, no copy
            joined = (
                arrays[0] if arrays[0].flags.writeable else arrays[0].copy()
            )  # SymEngine wants it writable
        else:
            joined = join_rows(numpy, arrays, batch)
        out = self.kernel.call(numpy, [numpy.ascontiguousarray(joined)])
        return self._place(numpy, numpy.reshape(out, batch + (self.kernel.n_outputs,)), batch)

    def _data_arrays(self, data: Mapping[str, Any], dtype: Any) -> list[Any] | None:
        unknown = sorted(set(data) - set(self.data_names))
        missing = [name for name in self.data_names if name not in data]
        if unknown:
            raise PointError(f"unknown data arrays {unknown}; this loss takes {list(self.data_names)}")
        if missing:
            raise PointError(f"missing data arrays {missing}: pass them as keywords, e.g. {missing[0]}=X")
        if not self.data_names:
            return None
        xp = self.backend.xp
        arrays = [xp.asarray(data[name], dtype=dtype) for name in self.data_names]
        return [a if a.ndim else xp.reshape(a, (1,)) for a in arrays]


def row_items(np: Any, array: Any, start: int, width: int) -> Any:
    """Columns ``start:start + width`` of each row of a (rows, k) array as one opaque item: (rows,).

    NumPy copies a block of narrow rows number by number (1.3 ms to join two (10^5, 2)
    arrays); assigning between such item views copies each row's block whole (0.2 ms).
    The rows' last axis must be contiguous.

    >>> import numpy as np
    >>> a, b = np.arange(6.0).reshape(2, 3), np.zeros((2, 2))
    >>> row_items(np, b, 0, 2)[...] = row_items(np, a, 1, 2)
    >>> b.tolist()
    [[1.0, 2.0], [4.0, 5.0]]
    """
    item = array.itemsize
    block = {"names": ["block"], "formats": [f"V{width * item}"], "offsets": [start * item]}
    rows = array.view(np.dtype({**block, "itemsize": array.shape[-1] * item}))
    return rows.reshape(array.shape[0])["block"]


def join_rows(np: Any, arrays: Sequence[Any], batch: tuple[int, ...]) -> Any:
    """``concatenate(broadcast arrays, axis=-1)`` as (prod(batch), sum of widths), fast.

    A row of the result holds each array's row in turn, as the LLVM kernels read them
    (the point w, then the vector v for the HVP), copied as opaque items (:func:`row_items`).

    >>> import numpy as np
    >>> join_rows(np, [np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([5.0, 6.0])], (2,)).tolist()
    [[1.0, 2.0, 5.0, 6.0], [3.0, 4.0, 5.0, 6.0]]
    """
    size = math.prod(batch)
    widths = [int(a.shape[-1]) for a in arrays]
    out = np.empty((size, sum(widths)))
    start = 0
    for array, width in zip(arrays, widths, strict=True):
        part = np.reshape(np.broadcast_to(array, batch + (width,)), (size, width))
        if part.strides[-1] != part.itemsize:  # a row must be contiguous to be one item
            part = np.ascontiguousarray(part)
        row_items(np, out, start, width)[...] = row_items(np, part, 0, width)
        start += width
    return out


def _broadcast_batch(xp: Any, arrays: Sequence[Any]) -> tuple[int, ...]:
    shapes = [tuple(a.shape[:-1]) for a in arrays]
    try:
        return tuple(xp.broadcast_shapes(*shapes)) if len(shapes) > 1 else shapes[0]
    except (ValueError, AttributeError):
        import numpy

        try:
            return tuple(numpy.broadcast_shapes(*shapes))
        except ValueError as error:
            raise PointError(f"batch shapes {shapes} do not broadcast") from error


def _components(xp: Any, array: Any, sample_axis: bool) -> list[Any]:
    parts = [array[..., i] for i in range(array.shape[-1])]
    return [xp.expand_dims(p, axis=-1) for p in parts] if sample_axis else parts


def _sample_count(xp: Any, samples: list[Any] | None, batch: tuple[int, ...]) -> int:
    import numpy

    shapes = [tuple(s.shape) for s in samples or []]
    return int(numpy.broadcast_shapes(batch + (1,), *shapes)[-1])


GENERATOR_CHOICES = ("auto", "xp", "llvm")
#: batches of at least this many points use the LLVM kernel under generator="auto"
LLVM_BATCH = 4096
#: up to this many variables the Hessian kernel writes every entry (zeros included)
#: straight into its (..., n, n) output; above it, only the non-zeros are computed
DENSE_HESSIAN_LIMIT = 32


def _batch_size(W: Any) -> int:
    shape = getattr(W, "shape", None)
    return math.prod(shape[:-1]) if shape else 1


@dataclass
class Compiled:
    """A loss compiled for one backend and dtype: value, grad, hess, hvp over batches.

    Every method takes ``W`` of shape ``(..., n)`` (any leading batch shape,
    ``()`` included) and, for losses with data symbols, the data arrays as
    keywords (samples on their last axis; the loss is their mean or sum).

    Attributes:
        n: the number of variables.
        names: the variable names, in order.
        backend: the resolved :class:`~taylorlr.compile.backends.Backend`.
        dtype: ``"float64"`` or ``"float32"``.
        generator: "auto", "xp" or "llvm" (see :meth:`_generator_for`).
    """

    derivatives: SparseDerivatives
    names: tuple[str, ...]
    data_symbols: tuple[sympy.Symbol, ...]
    backend: Backend
    dtype: str
    generator: str
    reduction: str = "mean"
    _functions: dict[tuple[str, str], BatchedFunction] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def xp(self) -> Any:
        return self.backend.xp

    def value(self, W: Any, **data: Any) -> Any:
        """f at every point: shape (...,)."""
        return self._function("value", W)(W, data=data)

    def grad(self, W: Any, **data: Any) -> Any:
        """The gradient at every point: shape (..., n)."""
        return self._function("grad", W)(W, data=data)

    def hess(self, W: Any, **data: Any) -> Any:
        """The (symmetric) Hessian at every point: shape (..., n, n)."""
        return self._function("hess", W)(W, data=data)

    def hvp(self, W: Any, V: Any, **data: Any) -> Any:
        """H(W) V at every point without forming H: shape (..., n)."""
        return self._function("hvp", W)(W, V, data=data)

    def grad_and_hess(self, W: Any, **data: Any) -> tuple[Any, Any]:
        """The gradient (..., n) and Hessian (..., n, n) from one kernel, in one pass."""
        n = self.n
        both = self._function("grad_and_hess", W)(W, data=data)
        batch = tuple(both.shape[:-1])
        return both[..., :n], self.xp.reshape(both[..., n:], batch + (n, n))

    def value_and_grad(self, W: Any, **data: Any) -> tuple[Any, Any]:
        """f and its gradient from one kernel (shared subexpressions)."""
        both = self._function("value_and_grad", W)(W, data=data)
        return both[..., 0], both[..., 1:]

    def _function(self, group: str, W: Any) -> BatchedFunction:
        generator = self._generator_for(W)
        function = self._functions.get((group, generator))
        if function is None:
            function = self._build(group, generator)
            self._functions[(group, generator)] = function
        return function

    def kernel_source(self, group: str) -> str:
        """The generated source of an output group ("value", "grad", "hess", "hvp"), for inspection."""
        return self._function(group, ()).kernel.source

    @cached_property
    def _vector_symbols(self) -> tuple[Any, ...]:
        return tuple(sympy.Symbol(f"v{i}") for i in range(self.n))

    def _build(self, group: str, generator: str) -> BatchedFunction:
        d, n = self.derivatives, self.n
        placement: tuple[tuple[int, int], ...] | None = None
        exprs: list[Any]
        shape: tuple[int, ...]
        variables: tuple[Any, ...] = d.variables
        groups: list[tuple[Any, ...]] = [variables]
        if group == "value":
            exprs, shape = [d.value], ()
        elif group == "grad":
            exprs, shape = list(d.gradient), (n,)
        elif group == "value_and_grad":
            exprs, shape = [d.value, *d.gradient], (n + 1,)
        elif group == "hess":
            exprs, placement = self._hessian_layout(first_slot=0, first_source=0)
            shape = (n, n)
        elif group == "grad_and_hess":
            hessian, hessian_placement = self._hessian_layout(first_slot=n, first_source=n)
            exprs, shape = [*d.gradient, *hessian], (n + n * n,)
            if hessian_placement is not None:
                placement = tuple((i, i) for i in range(n)) + hessian_placement
        else:
            vector = tuple(d.engine.convert(s) for s in self._vector_symbols)
            exprs, shape = d.hvp(vector), (n,)
            groups.append(vector)
        if self.data_symbols:
            groups.append(tuple(d.engine.convert(s) for s in self.data_symbols))
        kernel = build_kernel(exprs, groups, generator=generator)
        return BatchedFunction(
            kernel,
            tuple(len(g) for g in groups[: 2 if group == "hvp" else 1]),
            shape,
            self.backend,
            self.dtype,
            tuple(s.name for s in self.data_symbols),
            self.reduction,
            placement,
        )

    def _hessian_layout(
        self, first_slot: int, first_source: int
    ) -> tuple[list[Any], tuple[tuple[int, int], ...] | None]:
        """Hessian expressions: all n^2 entries when n is small (no scatter needed),
        else the non-zero triangle with its (slot, source) placement, mirrored."""
        d, n = self.derivatives, self.n
        if n <= DENSE_HESSIAN_LIMIT:
            return [e for row in d.hessian_rows() for e in row], None
        keys = sorted(d.hessian_upper)
        placement = tuple(
            (first_slot + a * n + b, first_source + k)
            for k, (i, j) in enumerate(keys)
            for a, b in {(i, j), (j, i)}
        )
        return [d.hessian_upper[k] for k in keys], placement

    def _generator_for(self, W: Any) -> str:
        """The generator for this call: "auto" tiers like a JIT.

        Small batches run generated ``xp`` code, which builds in milliseconds; a
        batch of at least ``LLVM_BATCH`` points on float64 NumPy gets SymEngine's
        LLVM kernel, which costs more to build and runs several times faster.
        """
        if self.generator != "auto":
            return self.generator
        eligible = (
            self.backend.is_numpy
            and self.dtype == "float64"
            and not self.data_symbols
            and self.derivatives.smooth
        )
        if eligible and _batch_size(W) >= LLVM_BATCH and llvm_available():
            return "llvm"
        return "xp"


def compile_loss(
    derivatives: SparseDerivatives,
    names: tuple[str, ...],
    data_symbols: tuple[sympy.Symbol, ...],
    *,
    backend: Any = "numpy",
    dtype: str = "float64",
    generator: str = "auto",
    reduction: str = "mean",
) -> Compiled:
    """Build a :class:`Compiled` (kernels are generated lazily, per output group)."""
    resolved = resolve_backend(backend)
    resolved.dtype(dtype)  # validates the dtype name early
    if generator not in GENERATOR_CHOICES:
        raise OptionError(f"generator must be one of {GENERATOR_CHOICES}, got {generator!r}")
    if generator == "llvm" and not (resolved.is_numpy and dtype == "float64"):
        raise OptionError("generator='llvm' works on float64 NumPy arrays only; use 'xp'")
    if generator == "llvm" and not (derivatives.smooth and llvm_available()):
        raise OptionError(
            "generator='llvm' needs SymEngine with LLVM and a smooth loss (no abs, sign, min, max); use 'xp'"
        )
    return Compiled(derivatives, names, data_symbols, resolved, dtype, generator, reduction)
