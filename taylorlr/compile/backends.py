"""Array backends: NumPy, CuPy and any array-API namespace, imported lazily.

The numerics of taylorlr never import an array library themselves: they receive
arrays and ask :func:`namespace_of` for their namespace ``xp``, then use only
``xp.*``. This module resolves a backend *name* (``"numpy"``, ``"cupy"``,
``"array-api-strict"``) or a namespace *module* to a :class:`Backend`, and
imports CuPy only when it is asked for.

>>> backend = resolve_backend("numpy")
>>> backend.name, backend.dtype("float32").__name__
('numpy', 'float32')
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from taylorlr._coordinates import ordered_values, variable_names
from taylorlr.errors import BackendError, MissingDependencyError, PointError

_DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class Backend:
    """An array namespace and its name.

    Attributes:
        name: ``"numpy"``, ``"cupy"`` or the namespace module's name.
        xp: the array namespace (a module following the array API standard).

    >>> import numpy as np
    >>> backend = resolve_backend("numpy")
    >>> backend.name, backend.xp is np, backend.dtype("float32")
    ('numpy', True, <class 'numpy.float32'>)
    """

    name: str
    xp: Any

    def dtype(self, name: str) -> Any:
        """The namespace's floating dtype called ``name`` ("float64" or "float32")."""
        if name not in _DTYPES:
            raise BackendError(f"dtype must be one of {_DTYPES}, got {name!r}")
        return getattr(self.xp, name)

    def asarray(self, values: Any, dtype: str = "float64") -> Any:
        """Move ``values`` into this backend as a floating array of ``dtype``."""
        return self.xp.asarray(values, dtype=self.dtype(dtype))

    @property
    def is_numpy(self) -> bool:
        return self.name == "numpy"


def resolve_backend(backend: str | ModuleType | Backend = "numpy") -> Backend:
    """Resolve a backend name or namespace module to a :class:`Backend`.

    Args:
        backend: ``"numpy"``, ``"cupy"``, ``"array-api-strict"``, an array
            namespace module (anything with ``asarray`` and ``stack``), or a Backend.

    Raises:
        MissingDependencyError: CuPy (or array-api-strict) is not installed.
        BackendError: the name is unknown, or CuPy finds no GPU.

    >>> resolve_backend("numpy").name, resolve_backend("array-api-strict").name
    ('numpy', 'array_api_strict')
    """
    if isinstance(backend, Backend):
        return backend
    if isinstance(backend, ModuleType):
        return _from_module(backend)
    if backend == "numpy":
        import numpy

        return Backend("numpy", numpy)
    if backend == "cupy":
        return Backend("cupy", _import_cupy())
    if backend in ("array-api-strict", "array_api_strict"):
        module = _import_optional("array_api_strict", extra="test")
        return Backend("array_api_strict", module)
    raise BackendError(
        f"unknown backend {backend!r}: use 'numpy', 'cupy', 'array-api-strict' "
        "or pass an array-API namespace module"
    )


def _from_module(module: ModuleType) -> Backend:
    missing = [name for name in ("asarray", "stack", "float64") if not hasattr(module, name)]
    if missing:
        raise BackendError(
            f"module {module.__name__!r} is not an array namespace (it lacks {', '.join(missing)})"
        )
    name = "numpy" if module.__name__ == "numpy" else module.__name__.split(".")[0]
    return Backend(name, module)


def _import_optional(module_name: str, *, extra: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise MissingDependencyError(
            f"{module_name} is not installed: pip install 'taylorlr[{extra}]'"
        ) from error


def _import_cupy() -> ModuleType:
    cupy = _import_optional("cupy", extra="gpu")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # CUDA driver missing or broken: CuPy raises its own types
        raise BackendError(
            f"CuPy is installed but cannot reach a GPU ({error}); use backend='numpy'"
        ) from error
    if count < 1:
        raise BackendError("CuPy is installed but no GPU is visible; use backend='numpy'")
    return cupy


def namespace_of(*arrays: Any) -> Any:
    """The array namespace shared by ``arrays`` (Python scalars are ignored).

    Uses each array's ``__array_namespace__`` (NumPy >= 2, array-api-strict); a CuPy
    array is CuPy's main namespace (CuPy 14's arrays have no ``__array_namespace__``:
    found on the first GPU run). Never imports a library that is not already loaded.

    >>> import numpy as np
    >>> namespace_of(np.zeros(2), 1.0).__name__
    'numpy'
    """
    spaces = {}
    for array in arrays:
        if array is None or isinstance(array, (int, float)):
            continue
        space = _namespace(array)
        spaces[id(space)] = space
    if not spaces:
        return importlib.import_module("numpy")
    if len(spaces) > 1:
        raise BackendError("arrays from different array libraries were mixed")
    return next(iter(spaces.values()))


def is_array(value: Any) -> bool:
    """Whether ``value`` is an array of a library :func:`namespace_of` knows (not a Python number).

    >>> import numpy as np
    >>> is_array(np.zeros(2)), is_array(1.0), is_array((1.0,))
    (True, False, False)
    """
    return hasattr(value, "__array_namespace__") or _is_cupy(value)


def _is_cupy(value: Any) -> bool:
    return "cupy" in sys.modules and type(value).__module__.startswith("cupy")


def _namespace(array: Any) -> Any:
    get = getattr(array, "__array_namespace__", None)
    if get is not None:
        return get()
    if _is_cupy(array):
        return sys.modules["cupy"]
    raise BackendError(f"{type(array).__name__} is not an array-API array")


def to_numpy(array: Any) -> Any:
    """Copy ``array`` to a NumPy array (from CuPy through ``.get()``).

    >>> import array_api_strict as xp
    >>> to_numpy(xp.asarray([1.0, 2.0])).tolist()
    [1.0, 2.0]
    """
    import numpy

    if _is_cupy(array):
        return array.get()
    if isinstance(array, numpy.ndarray):
        return array
    try:
        return numpy.asarray(array)
    except (TypeError, ValueError):
        return numpy.from_dlpack(array)


def as_batch(at: Any, variables: Sequence[Any], xp: Any, dtype: Any) -> Any:
    """A point or batch of points as an array of shape (..., n) in namespace ``xp``.

    >>> import numpy as np, taylorlr as tl
    >>> variables = tl.Loss("x + y").variables
    >>> as_batch({"y": 2, "x": "1/4"}, variables, np, np.float64).tolist()
    [0.25, 2.0]
    >>> as_batch([[1, 2], [3, 4], [5, 6]], variables, np, np.float32).shape
    (3, 2)
    >>> as_batch([[1, 2, 3]], variables, np, np.float64)
    Traceback (most recent call last):
    ...
    taylorlr.errors.PointError: expected points of shape (..., 2) for variables ['x', 'y'], got (1, 3)
    """
    if isinstance(at, Mapping) or (isinstance(at, Sequence) and not _is_nested(at)):
        values = [_float_coordinate(v) for v in ordered_values(at, variables)]
        return xp.asarray(values, dtype=dtype)
    try:
        array = xp.asarray(at, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise PointError(f"cannot read the points as a float array: {error}") from error
    n = len(variables)
    if array.ndim == 0 or array.shape[-1] != n:
        raise PointError(
            f"expected points of shape (..., {n}) for variables {variable_names(variables)}, "
            f"got {tuple(array.shape)}"
        )
    return array


def _is_nested(values: Sequence[Any]) -> bool:
    return any(isinstance(v, (Sequence, Mapping)) and not isinstance(v, str) for v in values)


def _float_coordinate(value: Any) -> Any:
    """A plain number as it is; text or a SymPy number through its exact value (SymPy loads only then)."""
    if isinstance(value, str) or type(value).__module__.startswith("sympy"):
        from taylorlr.symbolic.points import exact_number

        return float(exact_number(value))
    return value


def quiet() -> Any:
    """NumPy's ``errstate(all="ignore")`` where NumPy is loaded, else a no-op.

    The numerics label non-finite members (a status, a mask, an "estimate") instead of
    warning about them, so no overflow or invalid-value warning reaches the user. NumPy's
    state also governs the namespaces built on it (array-api-strict).

    >>> import numpy as np
    >>> with quiet():
    ...     bool(np.isinf(np.float64(1e308) * 10))
    True
    """
    import contextlib

    numpy = sys.modules.get("numpy")
    return numpy.errstate(all="ignore") if numpy is not None else contextlib.nullcontext()
