"""The CuPy backend on a GPU: the same numbers as NumPy.

These run where CuPy and a GPU are present (`pip install "taylorlr[gpu]"`); on a
machine without them the module is skipped with the reason. The CPU suite covers
the same code paths through array-api-strict (tests/test_compile.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import taylorlr as tl
from taylorlr.compile.backends import to_numpy

cupy = pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'taylorlr[gpu]')")
try:
    _gpus = cupy.cuda.runtime.getDeviceCount()
except Exception:  # the CUDA driver is missing: CuPy raises its own error types
    _gpus = 0
pytestmark = pytest.mark.skipif(_gpus < 1, reason="CuPy is installed but no GPU is visible")

ROSENBROCK = "(1 - x)**2 + 100*(y - x**2)**2 + sin(x*y)"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cupy_outputs_match_numpy(dtype):
    loss = tl.Loss(ROSENBROCK)
    W = np.random.default_rng(0).uniform(-2, 2, size=(1000, 2))
    V = np.random.default_rng(1).normal(size=(1000, 2))
    f_gpu, f_cpu = loss.compile("cupy", dtype=dtype), loss.compile("numpy", dtype=dtype)
    rtol = 1e-12 if dtype == "float64" else 1e-4
    for name, args in (("value", (W,)), ("grad", (W,)), ("hess", (W,)), ("hvp", (W, V))):
        got = getattr(f_gpu, name)(*(cupy.asarray(a) for a in args))
        assert isinstance(got, cupy.ndarray) and str(got.dtype) == dtype
        np.testing.assert_allclose(got.get(), getattr(f_cpu, name)(*args), rtol=rtol, atol=rtol)


def test_cupy_newton_step_and_run_match_numpy():
    loss = tl.Loss(ROSENBROCK)
    W = np.random.default_rng(2).uniform(-2, 2, size=(256, 2))
    on_gpu = tl.newton_step(loss, cupy.asarray(W), backend="cupy", fallback="damped")
    on_cpu = tl.newton_step(loss, W, fallback="damped")
    np.testing.assert_allclose(to_numpy(on_gpu.point), on_cpu.point, rtol=1e-10)
    run_gpu = tl.run(loss, W, optimizer="adam", rule="retsinas", steps=20, backend="cupy")
    run_cpu = tl.run(loss, W, optimizer="adam", rule="retsinas", steps=20)
    # CuPy's libm and the CPU's SIMD kernels round differently, and 20 adaptive steps amplify it as much
    # as they amplify a start one ulp away (on the first GPU run one member of 256 moved 3.8e-9 relative
    # where 1e-9 had been assumed): each member within 10x its own one-ulp sensitivity, or 1e-9
    nudged = tl.run(loss, np.nextafter(W, np.inf), optimizer="adam", rule="retsinas", steps=20)
    allowance = 10 * np.abs(nudged.points - run_cpu.points) + 1e-9 * np.abs(run_cpu.points) + 1e-12
    assert (np.abs(to_numpy(run_gpu.points) - run_cpu.points) <= allowance).all()
