"""The same batched work on the GPU: CuPy when it and a GPU are present, else a skip that says why.

Compiles a loss for the "cupy" backend, evaluates value, gradient, Hessian and HVP
on 10^6 points, runs an alpha rule over 10^5 start points on the device, and checks
the results against NumPy. Without CuPy or a GPU it prints the reason and exits 0
(install: pip install 'taylorlr[gpu]'). Run:

    python examples/cupy_example.py
"""

from __future__ import annotations

import time

import numpy as np

import taylorlr as tl
from taylorlr.compile.backends import Backend

LOSS = "(1 - x)**2 + 100*(y - x**2)**2"


def gpu_backend() -> Backend | None:
    try:
        return tl.resolve_backend("cupy")
    except (tl.MissingDependencyError, tl.BackendError) as error:
        print(f"skipped: {error}")
        return None


def main() -> None:
    backend = gpu_backend()
    if backend is None:
        return
    cupy = backend.xp
    loss = tl.Loss(LOSS)
    on_gpu, on_cpu = loss.compile("cupy"), loss.compile("numpy")
    W = np.random.default_rng(0).uniform(-2.0, 2.0, size=(1_000_000, 2))
    W_gpu = cupy.asarray(W)
    for name in ("value", "grad", "hess"):
        getattr(on_gpu, name)(W_gpu)  # the first call builds the kernel
        cupy.cuda.Device().synchronize()
        started = time.perf_counter()
        result = getattr(on_gpu, name)(W_gpu)
        cupy.cuda.Device().synchronize()
        seconds = time.perf_counter() - started
        same = np.allclose(cupy.asnumpy(result), getattr(on_cpu, name)(W), rtol=1e-12, atol=1e-9)
        print(f"{name}: {tuple(result.shape)} on the GPU in {seconds * 1e3:.1f} ms, equal to NumPy's: {same}")
    starts = W[:100_000]
    started = time.perf_counter()
    run = tl.run(loss, starts, "gd", "retsinas", alpha0=1e-3, steps=200, backend="cupy", oracle=False)
    seconds = time.perf_counter() - started
    reference = tl.run(loss, starts[:100], "gd", "retsinas", alpha0=1e-3, steps=200, oracle=False)
    agree = np.allclose(run.points[-1][:100], reference.points[-1], rtol=1e-9, atol=1e-9)
    print(f"gd + retsinas on {len(starts):,} start points, 200 steps on the GPU: {seconds:.2f} s")
    print(f"the first 100 members agree with the NumPy run: {agree}")


if __name__ == "__main__":
    main()
