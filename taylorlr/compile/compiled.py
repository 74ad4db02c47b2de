"""Compiled, batched evaluation of a loss: value, gradient, Hessian and HVP.

:func:`compile_loss` turns the exact derivatives of a :class:`~taylorlr.Loss`
into functions over arrays of shape ``(..., n)``. Each output group (value,
gradient, Hessian, HVP) is its own kernel with shared subexpressions, built the
first time it is called. Outputs always have the full batch shape: a constant
Hessian entry comes back as a filled array, never as a bare scalar (the
``lambdify`` pitfall of sympy issues 5642, 18347, 27632).

The code generator is chosen once per compiled loss, from the backend, the dtype and
the expression, never from the batch: a point's numbers do not depend on how many
points are evaluated with it (see :meth:`Compiled.generator_used`).

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

from taylorlr import _budget
from taylorlr.compile._kinks import without_point_masses
from taylorlr.compile.backends import Backend, resolve_backend
from taylorlr.compile.kernel import Kernel
from taylorlr.errors import OptionError, PointError
from taylorlr.symbolic.derivatives import SparseDerivatives


@dataclass
class BatchedFunction:
    """Expressions of a few argument vectors, evaluated over batches.

    Calling it with one array of shape (..., k_g) per argument group returns an
    array of shape (..., *out_shape). With data symbols, each data array holds
    samples on its last axis, and the result is reduced (mean or sum) over them.

    >>> import numpy as np, sympy
    >>> from taylorlr.compile.backends import resolve_backend
    >>> from taylorlr.compile.xp_codegen import build_kernel
    >>> x, y, a = sympy.symbols("x y a", real=True)
    >>> numpy_ = resolve_backend("numpy")
    >>> f = BatchedFunction(build_kernel([x * y, x + y], [(x, y)]), (2,), (2,), numpy_, "float64")
    >>> f(np.array([[2.0, 3.0], [1.0, -1.0]])).tolist()
    [[6.0, 5.0], [-1.0, 0.0]]
    >>> g = BatchedFunction(build_kernel([a * x], [(x,), (a,)]), (1,), (1,), numpy_, "float64", ("a",))
    >>> g(np.array([2.0]), data={"a": np.array([1.0, 3.0])}).tolist()  # the mean of 2*1 and 2*3
    [4.0]
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
        samples = self._data_arrays(data or {}, dtype)
        stacked = self.kernel.stacked(xp, arrays, batch, samples)
        if samples is not None:
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


GENERATOR_CHOICES = ("auto", "xp", "simd")
#: the former name of the "simd" generator, still accepted
_ALIASES = {"llvm": "simd"}
#: a batch size, kept for callers that tier by it (the alpha engine's fused step); the
#: compiled functions themselves never look at the batch size
LLVM_BATCH = 4096
#: up to this many variables the Hessian kernel writes every entry (zeros included)
#: straight into its (..., n, n) output; above it, only the non-zeros are computed
DENSE_HESSIAN_LIMIT = 32
#: seconds a kernel may take to build when compile() is not given budget_s (as Loss.compile's default)
DEFAULT_COMPILE_BUDGET_S = 300.0


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
        generator: "auto", "xp" or "simd", as asked; :meth:`generator_used` says which runs.

    >>> import numpy as np, taylorlr as tl
    >>> f = tl.Loss("x**2 + 3*x*y**2").compile()
    >>> W = np.array([[1.0, 2.0], [0.0, 1.0]])
    >>> f.value(W).tolist(), f.grad(W).tolist(), f.hess(W).shape
    ([13.0, 0.0], [[14.0, 12.0], [3.0, 0.0]], (2, 2, 2))
    """

    derivatives: SparseDerivatives
    names: tuple[str, ...]
    data_symbols: tuple[sympy.Symbol, ...]
    backend: Backend
    dtype: str
    generator: str
    reduction: str = "mean"
    #: seconds each output group's kernel may take to build (its first call), checked inside the
    #: build; inside a stage with a budget of its own (a run, a critical-point search), that one
    budget_s: float = DEFAULT_COMPILE_BUDGET_S
    _functions: dict[str, BatchedFunction] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def xp(self) -> Any:
        return self.backend.xp

    def value(self, W: Any, **data: Any) -> Any:
        """f at every point: shape (...,)."""
        return self._function("value")(W, data=data)

    def grad(self, W: Any, **data: Any) -> Any:
        """The gradient at every point: shape (..., n)."""
        return self._function("grad")(W, data=data)

    def hess(self, W: Any, **data: Any) -> Any:
        """The (symmetric) Hessian at every point: shape (..., n, n)."""
        return self._function("hess")(W, data=data)

    def hvp(self, W: Any, V: Any, **data: Any) -> Any:
        """H(W) V at every point without forming H: shape (..., n)."""
        return self._function("hvp")(W, V, data=data)

    def grad_and_hess(self, W: Any, **data: Any) -> tuple[Any, Any]:
        """The gradient (..., n) and Hessian (..., n, n) from one kernel, in one pass."""
        n = self.n
        both = self._function("grad_and_hess")(W, data=data)
        batch = tuple(both.shape[:-1])
        return both[..., :n], self.xp.reshape(both[..., n:], batch + (n, n))

    def value_and_grad(self, W: Any, **data: Any) -> tuple[Any, Any]:
        """f and its gradient from one kernel (shared subexpressions)."""
        both = self._function("value_and_grad")(W, data=data)
        return both[..., 0], both[..., 1:]

    def _function(self, group: str) -> BatchedFunction:
        function = self._functions.get(group)
        if function is None:
            with _budget.ensure("compile", self.budget_s, hint="pass a larger budget_s to compile()"):
                function = self._build(group, self.generator_used)
            self._functions[group] = function
        return function

    def kernel_source(self, group: str) -> str:
        """The generated source of an output group ("value", "grad", "hess", "hvp"), for inspection."""
        return self._function(group).kernel.source

    @cached_property
    def generator_used(self) -> str:
        """The generator every output group runs on: "simd" or "xp", fixed for this compiled loss.

        Under "auto": "simd" on float64 NumPy without data symbols when llvmlite is
        installed and the loop can lower every function of the loss (the whole catalogue
        can); else "xp". Never the batch size: a point gets the same bits in any batch.

        >>> import taylorlr as tl
        >>> tl.Loss("x**2 + sin(y)").compile().generator_used
        'simd'
        >>> tl.Loss("x**2 + sin(y)").compile(dtype="float32").generator_used
        'xp'
        """
        if self.generator != "auto":
            return self.generator
        eligible = self.backend.is_numpy and self.dtype == "float64" and not self.data_symbols
        return "simd" if eligible and _simd_available() else "xp"

    @cached_property
    def _vector_symbols(self) -> tuple[Any, ...]:
        # Dummies: no user symbol, whatever its name (v0, v_x, ...), can be mistaken for them
        engine = self.derivatives.engine.module
        return tuple(engine.Dummy(f"v{i}") for i in range(self.n))

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
            vector = self._vector_symbols
            exprs, shape = d.hvp(vector), (n,)
            groups.append(vector)
        if self.data_symbols:
            groups.append(tuple(d.engine.convert(s) for s in self.data_symbols))
        if not d.smooth:  # a kink's point masses are 0 off the kink, whatever they multiply
            exprs = [without_point_masses(e) for e in exprs]
        kernel = _kernel(exprs, groups, generator, fallback=self.generator == "auto")
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


def _kernel(exprs: list[Any], groups: list[tuple[Any, ...]], generator: str, fallback: bool) -> Kernel:
    """The group's kernel; a SIMD loop that cannot be built (a C math function the JIT does not
    find) falls back to ``xp`` when ``fallback``: a property of the expression, not of a batch."""
    # the generators are imported when a kernel is first built: the exact side (taylorlr solve) never is
    from taylorlr.compile import lazy_simd, simd_codegen, xp_codegen

    if generator == "simd":
        try:  # an arithmetic group's loop is built once it is used enough (the same bits before)
            return lazy_simd.build_kernel(exprs, groups)
        except simd_codegen.UnsupportedExpression as error:
            if not fallback:
                raise OptionError(f"generator='simd' cannot compile this loss ({error}); use 'xp'") from error
    return xp_codegen.build_kernel(exprs, groups)


def _simd_available() -> bool:
    from taylorlr.compile import simd_codegen

    return simd_codegen.available()


def compile_loss(
    derivatives: SparseDerivatives,
    names: tuple[str, ...],
    data_symbols: tuple[sympy.Symbol, ...],
    *,
    backend: Any = "numpy",
    dtype: str = "float64",
    generator: str = "auto",
    reduction: str = "mean",
    budget_s: float = DEFAULT_COMPILE_BUDGET_S,
) -> Compiled:
    """Build a :class:`Compiled` (kernels are generated lazily, per output group).

    >>> import numpy as np, taylorlr as tl
    >>> loss = tl.Loss("x**2 + 3*x*y**2")
    >>> f = compile_loss(loss.derivatives, loss.names, (), generator="xp")
    >>> f.generator_used, f.grad(np.array([1.0, 2.0])).tolist()
    ('xp', [14.0, 12.0])
    >>> compile_loss(loss.derivatives, loss.names, (), dtype="float16")
    Traceback (most recent call last):
    ...
    taylorlr.errors.BackendError: dtype must be one of ('float64', 'float32'), got 'float16'
    """
    resolved = resolve_backend(backend)
    resolved.dtype(dtype)  # validates the dtype name early
    generator = _ALIASES.get(generator, generator)
    if generator not in GENERATOR_CHOICES:
        raise OptionError(f"generator must be one of {GENERATOR_CHOICES}, got {generator!r}")
    if generator == "simd" and not (resolved.is_numpy and dtype == "float64" and not data_symbols):
        raise OptionError("generator='simd' works on float64 NumPy arrays of a loss without data; use 'xp'")
    if generator == "simd" and not _simd_available():
        raise OptionError("generator='simd' needs llvmlite (pip install llvmlite); use 'xp'")
    budget_s = _budget.validated_seconds(budget_s, "budget_s")
    return Compiled(derivatives, names, data_symbols, resolved, dtype, generator, reduction, budget_s)
