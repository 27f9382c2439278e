"""Element-wise NumPy work spread over the CPU cores.

NumPy's BLAS already runs a GEMM on every core, but its ufuncs run on one thread; in the score engine the
exponentials of the M x chunk logits would then cost as much as the two GEMMs on a many-core machine. NumPy releases
the GIL inside ufunc loops on large arrays, so row blocks of one array can be exponentiated by a pool of Python
threads at once. Element-wise work gives bit-identical results however it is split.

The number of threads is the number of cores this process may use, or ``DIFFMEM_THREADS`` (1 turns threading off).
Serves :mod:`diffmem.sim.score` (chapter "Diffusion with the empirical score").
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["exp_inplace", "thread_count"]

# below this many elements a thread hand-off costs more than it saves
_MIN_ELEMENTS = 1 << 16

_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def thread_count() -> int:
    """Threads used for element-wise work: ``DIFFMEM_THREADS`` if set, else the cores available to this process.

    Raises
    ------
    ValueError
        If ``DIFFMEM_THREADS`` is not a positive integer.
    """
    env = os.environ.get("DIFFMEM_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"DIFFMEM_THREADS must be a positive integer, got {env!r}")
        return n
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _executor(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    if _pool is None or _pool_size != n:
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="diffmem")
        _pool_size = n
    return _pool


def exp_inplace(a, xp=np):
    """``a <- exp(a)`` in place, row blocks on several threads for large NumPy arrays.

    Parameters
    ----------
    a : (M, C) array
        C-contiguous; NumPy arrays are split over threads, CuPy arrays go to one ``exp`` call.
    xp : module
        The array module of `a`.

    Returns
    -------
    (M, C) array
        `a` itself. Overflow gives ``inf`` without a warning: callers detect it and recompute (the score engine).
    """
    if xp is not np:  # CuPy: the device runs it in parallel already
        return xp.exp(a, out=a)
    n = thread_count()
    rows = a.shape[0]
    with np.errstate(over="ignore"):
        if n == 1 or a.size < _MIN_ELEMENTS or rows < 2:
            return np.exp(a, out=a)
        edges = np.linspace(0, rows, min(n, rows) + 1).astype(int)

        def work(i):
            block = a[edges[i]:edges[i + 1]]
            with np.errstate(over="ignore"):
                np.exp(block, out=block)

        list(_executor(n).map(work, range(len(edges) - 1)))
    return a
