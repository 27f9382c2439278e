"""A fused CUDA kernel for the streaming softmax of the empirical score (flash-attention style).

For queries ``q`` (M, N), patterns ``a`` (P, N) and a per-pattern bias ``b`` (P,) the logits are
``l[m, mu] = q[m] . a[mu] + b[mu]``; :func:`flash_softmax_stream` returns, per query row,

* ``row_max[m] = max_mu l[m, mu]``,
* ``row_sum[m] = sum_mu exp(l[m, mu] - row_max[m])``,
* ``V[m, :] = sum_mu exp(l[m, mu] - row_max[m]) a[mu, :]``,

in one pass over the patterns, without ever writing the M x P logits. It serves the chapter "Diffusion with the
empirical score" through :mod:`diffmem.sim.score`, whose attention layer has keys = values = the patterns.

Algorithm (the kernel is ``flash.cu``, next to this file)
---------------------------------------------------------
A block of 256 threads holds a tile of ``BM = 16 TM`` query rows in shared memory and walks over tiles of
``BP = 16 TP`` patterns. For each pattern tile, loaded once into shared memory and used by both products:

1. the logits tile ``S = Q A^T + b`` (BM x BP) is computed in registers, ``TM x TP`` per thread;
2. online softmax as in flash-attention: the tile's row max (a butterfly over the 16 threads of a row, which are a
   half-warp) updates the running max ``m``; the running sum ``l`` and the accumulator ``V`` are rescaled by
   ``exp(m_old - m_new)``; the probabilities ``exp(S - m_new)`` go to shared memory;
3. ``V += exp(S - m) A`` (BM x N), ``TM x ceil(N / 16)`` per thread, in registers.

M = 2048 rows make only a few row tiles, so the pattern range is split over ``splits`` blocks per row tile
(split-K, "flash-decoding"): each block writes a partial triple (max, sum, V) and the triples are merged with the
log-sum-exp rule, ``m = max_s m_s``, ``l = sum_s e^{m_s - m} l_s``, ``V = sum_s e^{m_s - m} V_s``. The split count
aims at a few waves of blocks over the device. Each (dtype, N, TM, TP) is compiled once with NVRTC
(``-DHEAD_DIM=N``) and cached; N is padded to a multiple of 16 inside the kernel. The tile shape (TM, TP) is the
first (largest) of a short list whose register tiles fit in 128 registers per thread and whose shared memory lets
two blocks share an SM (one block per SM if none does).

The same source is compiled for the CPU by ``tests/cuda_emulation`` (threads of a block as ``std::thread``), which
is how it is tested where there is no GPU.

Dev note: ``nvcc -arch=sm_90 -Xptxas -v -cubin`` (CUDA 13.0) for the tile shapes chosen here
-------------------------------------------------------------------------------------------------
::

    dtype    N   (TM, TP)  BM x BP   min blocks/SM  registers  spills (stack)  dynamic shared memory per block
    float32   64  (8, 4)   128 x 64       2            128         0 (0 B)        83456 B
    float32  128  (4, 4)    64 x 64       2            106         0 (0 B)        82944 B
    float32  256  (4, 2)    64 x 32       2            127         0 (0 B)       107264 B
    float64   64  (4, 4)    64 x 64       2            128         0 (0 B)       100352 B
    float64  128  (2, 2)    32 x 32       2            100         0 (0 B)        74752 B
    float64  256  (1, 2)    16 x 32       2            122         0 (0 B)       103168 B

0 B static shared memory, 0 B gmem, 1 barrier in every case. With a budget of 100 accumulator words, float32
N = 128 took (8, 2) and spilled 28 B under the 128-register cap, hence :data:`_ACC_WORDS_2` = 95.
The speed of this kernel has not been measured yet (the numbers above come from a machine without a GPU).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

from .. import backend

__all__ = ["MAX_HEAD_DIM", "flash_softmax_stream", "flash_supported"]

#: Largest pattern dimension N the kernel is compiled for.
MAX_HEAD_DIM = 512

_THREADS = 256
_TX = 16  # threads per row of a tile (a half-warp)
# (TM, TP) tile shapes, preferred first: more work per shared-memory load for larger tiles.
_TILE_SHAPES = ((8, 4), (8, 2), (4, 4), (4, 2), (2, 4), (2, 2), (1, 2), (1, 1))
_ACC_WORDS_2 = 95  # 32-bit registers of tiles per thread when two blocks share an SM (128 in all; 96 spilled)
_ACC_WORDS_1 = 200  # idem, one block per SM (255 registers in all)
_DEFAULT_SMEM_OPTIN = 227 * 1024  # shared memory per block, opt-in (H100/H200 values)
_DEFAULT_SMEM_SM = 228 * 1024  # shared memory per SM
_WAVES = 2  # blocks aimed at per SM-slot when choosing the split count
_MIN_TILES_PER_SPLIT = 4
_MAX_INDEX = 2**31 - 2**16  # the kernel indexes rows and patterns with int

_modules: dict = {}


@functools.cache
def _source() -> str:
    """The CUDA source (``flash.cu``, shipped next to this module)."""
    return Path(__file__).with_name("flash.cu").read_text(encoding="utf-8")


def _smem_bytes(itemsize: int, N: int, TM: int, TP: int) -> int:
    """Dynamic shared memory of one block: Q tile, pattern tile, probability tile and bias (``DM_SMEM_BYTES``)."""
    NP = -(-N // _TX) * _TX
    BM, BP = _TX * TM, _TX * TP
    return (BM * (NP + 1) + BP * (NP + 1) + BM * (BP + 1) + BP) * itemsize


def _tile_config(itemsize: int, N: int, smem_optin: int = _DEFAULT_SMEM_OPTIN,
                 smem_sm: int = _DEFAULT_SMEM_SM) -> tuple[int, int, int] | None:
    """The tile shape for this dtype and N: ``(TM, TP, min_blocks)``, or None if none fits.

    First choice: the first shape of :data:`_TILE_SHAPES` that lets two blocks share an SM (register tiles within
    :data:`_ACC_WORDS_2` 32-bit words, so that 128 registers per thread suffice, and half the SM's shared memory).
    Failing that, the first one that fits alone on an SM (:data:`_ACC_WORDS_1` words, `smem_optin` bytes).
    """
    NJ = -(-N // _TX)
    words = itemsize // 4
    for min_blocks, acc_limit, smem_limit in ((2, _ACC_WORDS_2, smem_sm // 2 - 1024), (1, _ACC_WORDS_1, smem_optin)):
        for TM, TP in _TILE_SHAPES:
            # live registers: logits tile, V accumulator, and one row of operands of the second product
            acc = (TM * TP + TM * NJ + TM + NJ) * words
            if acc <= acc_limit and _smem_bytes(itemsize, N, TM, TP) <= smem_limit:
                return TM, TP, min_blocks
    return None


def _split_plan(M: int, P: int, BM: int, BP: int, target_blocks: int) -> tuple[int, int]:
    """(tiles_per_split, splits): pattern tiles per block and number of splits, every split non-empty."""
    n_tiles = -(-P // BP)
    row_tiles = -(-M // BM)
    want = max(1, -(-target_blocks // row_tiles))
    splits = max(1, min(want, n_tiles // _MIN_TILES_PER_SPLIT))
    tiles_per_split = -(-n_tiles // splits)
    return tiles_per_split, -(-n_tiles // tiles_per_split)


def _split_count(P: int, BP: int, splits: int) -> tuple[int, int]:
    """(tiles_per_split, splits) for a requested split count, lowered so that no split is empty."""
    n_tiles = -(-P // BP)
    tiles_per_split = -(-n_tiles // min(int(splits), n_tiles))
    return tiles_per_split, -(-n_tiles // tiles_per_split)


def _merge(xp, part_max, part_sum, part_V):
    """Merge split partials with the log-sum-exp rule.

    Parameters
    ----------
    xp : module
        ``numpy`` or ``cupy``.
    part_max, part_sum : (S, M) arrays
    part_V : (S, M, N) array

    Returns
    -------
    row_max : (M,) array
    row_sum : (M,) array
    V : (M, N) array
    """
    if part_max.shape[0] == 1:
        return part_max[0], part_sum[0], part_V[0]
    row_max = part_max.max(axis=0)
    ref = xp.where(xp.isneginf(row_max), 0, row_max)  # rows whose logits are all -inf: no -inf - -inf
    w = xp.exp(part_max - ref)
    return row_max, (w * part_sum).sum(axis=0), xp.einsum("sm,smn->mn", w, part_V)


def _device_attributes(xp) -> tuple[int, int, int]:
    """(SM count, opt-in shared memory per block, shared memory per SM) of the current device."""
    dev = xp.cuda.Device()
    attrs = dev.attributes
    return (
        int(attrs.get("MultiProcessorCount", 1)),
        int(attrs.get("MaxSharedMemoryPerBlockOptin", 48 * 1024)),
        int(attrs.get("MaxSharedMemoryPerMultiprocessor", 64 * 1024)),
    )


def _kernel(xp, dtype: np.dtype, N: int, TM: int, TP: int, min_blocks: int, smem: int):
    """The compiled kernel for this dtype, N and tile shape on the current device, cached."""
    key = (dtype.str, N, TM, TP, min_blocks, xp.cuda.Device().id)
    kernel = _modules.get(key)
    if kernel is None:
        options = (
            f"-DDM_DOUBLE={int(dtype == np.float64)}",
            f"-DHEAD_DIM={N}",
            f"-DDM_TM={TM}",
            f"-DDM_TP={TP}",
            f"-DDM_MIN_BLOCKS={min_blocks}",
        )
        module = xp.RawModule(code=_source(), options=options)
        kernel = module.get_function("flash_partial")
        if smem > 48 * 1024:
            kernel.max_dynamic_shared_size_bytes = smem
        _modules[key] = kernel
    return kernel


def flash_supported(q) -> bool:
    """Whether :func:`flash_softmax_stream` can take queries like `q`.

    Parameters
    ----------
    q : (M, N) array

    Returns
    -------
    bool
        True for a 2-D CuPy array of float32 or float64 with ``1 <= N <= MAX_HEAD_DIM`` whose tiles fit the
        current device's shared memory.
    """
    xp = backend.get_array_module(q)
    if xp is np or getattr(q, "ndim", 0) != 2 or q.dtype not in (np.float32, np.float64):
        return False
    N = q.shape[1]
    if not 1 <= N <= MAX_HEAD_DIM:
        return False
    _, smem_optin, smem_sm = _device_attributes(xp)
    return _tile_config(q.dtype.itemsize, N, smem_optin, smem_sm) is not None


def flash_softmax_stream(q, a, bias, *, splits=None):
    """Row max, rescaled row sum and rescaled weighted pattern sum of ``softmax(q a^T + bias)``, fused.

    Parameters
    ----------
    q : (M, N) cupy array
        Queries, float32 or float64.
    a : (P, N) cupy array
        Patterns (keys and values at once), same dtype as `q`.
    bias : (P,) cupy array
        Per-pattern bias added to the logits, same dtype. ``-inf`` drops a pattern.
    splits : int, optional
        Number of blocks the pattern range is split over per row tile (default: chosen from the device's SM
        count). Rounded down so that every split holds at least one tile of patterns.

    Returns
    -------
    row_max : (M,) cupy array
        ``max_mu l[m, mu]`` with ``l = q a^T + bias``.
    row_sum : (M,) cupy array
        ``sum_mu exp(l[m, mu] - row_max[m])``.
    V : (M, N) cupy array
        ``sum_mu exp(l[m, mu] - row_max[m]) a[mu]``.

    Raises
    ------
    TypeError
        If the arrays are not CuPy arrays.
    ValueError
        If the shapes do not match, the dtypes differ or are not float32/float64, ``N`` is outside
        ``[1, MAX_HEAD_DIM]``, M or P is 0 or too large for int32 indexing, or `splits` is not a positive integer.

    Notes
    -----
    The logits are never stored; memory beyond the inputs and outputs is ``splits * M * (N + 2)`` values for the
    partial triples. Validation is on shapes and dtypes only (no pass over the data).
    """
    xp = backend.get_array_module(q, a, bias)
    if xp is np or not all(isinstance(x, xp.ndarray) for x in (q, a, bias)):
        raise TypeError("flash_softmax_stream needs CuPy arrays for q, a and bias (use diffmem.sim.score on NumPy)")
    if q.ndim != 2:
        raise ValueError(f"q must be a 2-D array of shape (M, N), got shape {q.shape}")
    if a.ndim != 2:
        raise ValueError(f"a must be a 2-D array of shape (P, N), got shape {a.shape}")
    if bias.ndim != 1:
        raise ValueError(f"bias must be a 1-D array of shape (P,), got shape {bias.shape}")
    M, N = q.shape
    P = a.shape[0]
    if a.shape[1] != N:
        raise ValueError(f"a has N={a.shape[1]} columns but q has N={N}; they must match")
    if bias.shape[0] != P:
        raise ValueError(f"bias has {bias.shape[0]} entries but a has P={P} rows; they must match")
    if not 1 <= N <= MAX_HEAD_DIM:
        raise ValueError(f"N must be in [1, {MAX_HEAD_DIM}], got N={N}")
    if not 1 <= M <= _MAX_INDEX:
        raise ValueError(f"M (rows of q) must be in [1, {_MAX_INDEX}], got M={M}")
    if not 1 <= P <= _MAX_INDEX:
        raise ValueError(f"P (rows of a) must be in [1, {_MAX_INDEX}], got P={P}")
    dtype = q.dtype
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"q must be float32 or float64, got dtype {dtype}")
    if a.dtype != dtype or bias.dtype != dtype:
        raise ValueError(f"q, a and bias must share one dtype, got {dtype}, {a.dtype} and {bias.dtype}")
    if splits is not None and (isinstance(splits, bool) or not isinstance(splits, int | np.integer) or splits < 1):
        raise ValueError(f"splits must be a positive integer or None, got {splits!r}")

    n_sm, smem_optin, smem_sm = _device_attributes(xp)
    config = _tile_config(dtype.itemsize, N, smem_optin, smem_sm)
    if config is None:
        raise ValueError(f"N={N} needs more shared memory than this device offers per block ({smem_optin} bytes)")
    TM, TP, min_blocks = config
    smem = _smem_bytes(dtype.itemsize, N, TM, TP)
    BM, BP = _TX * TM, _TX * TP
    kernel = _kernel(xp, np.dtype(dtype), N, TM, TP, min_blocks, smem)

    if splits is None:
        per_sm = max(1, min(smem_sm // (smem + 1024), 65536 // (_THREADS * max(kernel.num_regs, 1))))
        tiles_per_split, n_splits = _split_plan(M, P, BM, BP, _WAVES * per_sm * n_sm)
    else:
        tiles_per_split, n_splits = _split_count(P, BP, splits)

    q = xp.ascontiguousarray(q)
    a = xp.ascontiguousarray(a)
    bias = xp.ascontiguousarray(bias)
    part_max = xp.empty((n_splits, M), dtype=dtype)
    part_sum = xp.empty((n_splits, M), dtype=dtype)
    part_V = xp.empty((n_splits, M, N), dtype=dtype)
    grid = (math.ceil(M / BM), n_splits)
    kernel(grid, (_THREADS,), (q, a, bias, np.int32(M), np.int32(P), np.int32(tiles_per_split),
                               part_max, part_sum, part_V), shared_mem=smem)
    return _merge(xp, part_max, part_sum, part_V)
