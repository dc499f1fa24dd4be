"""Threads of the linear-algebra libraries in this process (numpy's and scipy's OpenBLAS).

OpenBLAS starts one thread per core and spins them on every call, even on the small systems this
package solves per frame (the fitter's 85 x 85 Levenberg-Marquardt step, SLAM's pose and bundle
adjustment). On a 2-core laptop with mediapipe, PyTorch and the other stages sharing the cores,
those threads fight: an 85 x 85 solve took 4.1 ms instead of well under 0.1 ms. One thread per
process: ``python -m bench.bench_pipeline --frames 150`` on Megamind, two rounds in one session
(machine load ~6), mean ms/frame default -> one thread: total 92 / 95 -> 68 / 73, fitting 36 / 37 ->
21 / 23, slam 18.6 / 17.4 -> 13.7 / 14.2. The graph's parallelism comes from its processes.

A user who sets ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` keeps that
setting: :func:`limit_blas_threads` then changes nothing.
"""
from __future__ import annotations

import os

#: the environment variables that already say how many threads the BLAS library should use
BLAS_THREAD_VARIABLES = ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS')

#: BLAS threads of the package's processes (module docstring)
DEFAULT_BLAS_THREADS = 1


def limit_blas_threads(threads: int = DEFAULT_BLAS_THREADS) -> str:
    """Limit every BLAS library loaded in this process to ``threads`` threads, unless the environment
    sets one of ``BLAS_THREAD_VARIABLES``. Called where a process starts its work (node main, composed
    runner, in-process pipeline). threadpoolctl limits the libraries loaded at the time of the call:
    numpy's and scipy's are imported here first (PyTorch's threads are ``HMRConfig.torch_threads``).

    Returns:
        what was done, one line (for a log).
    """
    if threads < 1:
        raise ValueError(f'threads must be >= 1, got {threads}')
    given = [v for v in BLAS_THREAD_VARIABLES if os.environ.get(v)]
    if given:
        return f'BLAS threads as the environment sets them ({", ".join(f"{v}={os.environ[v]}" for v in given)})'
    import numpy  # noqa: F401  (numpy's and scipy's BLAS must be loaded to be limited)
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=threads, user_api='blas')
    return f'BLAS threads: {threads} per process'


__all__ = ['BLAS_THREAD_VARIABLES', 'DEFAULT_BLAS_THREADS', 'limit_blas_threads']
