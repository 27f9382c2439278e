"""The empirical score engine: a streaming softmax over training points.

For queries ``x`` (M, N), patterns ``a`` (P, N) and forward time ``t`` the empirical density is
``P^e_t(x) = (1/P) sum_mu N(x; e^{-t} a^mu, Delta_t I)`` and its score is an attention layer::

    w_mu(x) = softmax_mu( -|x - e^{-t} a^mu|^2 / (2 Delta_t) ),
    grad log P^e_t(x) = (e^{-t} sum_mu w_mu a^mu - x) / Delta_t .

The patterns are visited in chunks; each chunk's logits come from one GEMM of augmented operands, already shifted
for the exponential, and are folded into running log-sum-exp accumulators (shift, rescaled sum, rescaled weighted
sum, the last two from a second GEMM), so memory is ``O((M + P) N + M * chunk)`` and an M x P matrix is never
formed. The exponentials, the one element-wise pass, run on all cores (:mod:`diffmem._parallel`); on a GPU the
score goes through a fused CUDA kernel that never writes the logits to memory (:mod:`diffmem.sim.flash`).
Data are centred on their mean (an exact shift of both queries and patterns) to limit cancellation in
``|x|^2 + |a|^2 - 2 x.a``, and the distances that decide the collapsed phase (nearest and second nearest) are
recomputed directly from differences at the end.

Serves the chapter "Diffusion with the empirical score" (THEORY.md sections 1, 2 and 8).
"""

from __future__ import annotations

import math
import numbers
import os
from typing import NamedTuple

import numpy as np

from .. import backend
from .._checks import as_points, count, float_dtype
from .._parallel import exp_inplace
from .schedule import check_time

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "PosteriorStats",
    "chunk_size",
    "empirical_log_density",
    "empirical_score",
    "posterior_mean",
    "posterior_stats",
    "sample_posterior_index",
]

#: Bytes allowed for the per-chunk temporaries (M x chunk blocks); ``DIFFMEM_MEMORY_BUDGET`` overrides.
DEFAULT_MEMORY_BUDGET = 256 * 2**20
# An M x chunk block is held about three times at once (logits, exponentials, a scratch copy).
_BLOCKS_PER_CHUNK = 3
# The first chunk is this short: its maximum, found by explicit passes, seeds the running shift cheaply.
_FIRST_CHUNK = 256


class PosteriorStats(NamedTuple):
    """Per-point statistics of the posterior weights ``w_mu(x) = P(x_0 = a^mu | x_t = x)``.

    Attributes
    ----------
    w_max : (M,) array
        Largest weight.
    argmax : (M,) int array
        Index of the pattern with the largest weight (the nearest one to ``e^t x``).
    participation : (M,) array
        ``sum_mu w_mu^2``: 1 when one pattern dominates, 1/P when all weigh the same.
    d_nearest, d_second : (M,) array
        Squared distances ``|x - e^{-t} a^mu|^2`` to the nearest and second-nearest pattern
        (``d_second`` is ``inf`` when P = 1).
    second : (M,) int array
        Index of the second-nearest pattern (-1 when P = 1).
    log_density : (M,) array
        ``log P^e_t(x)``.
    """

    w_max: object
    argmax: object
    participation: object
    d_nearest: object
    d_second: object
    second: object
    log_density: object


def _memory_budget(memory_budget):
    name = "memory_budget"
    if memory_budget is None:
        env = os.environ.get("DIFFMEM_MEMORY_BUDGET")
        name = "DIFFMEM_MEMORY_BUDGET" if env else name
        try:
            memory_budget = float(env) if env else DEFAULT_MEMORY_BUDGET
        except ValueError:
            memory_budget = env
    if (isinstance(memory_budget, bool) or not isinstance(memory_budget, numbers.Real)
            or not math.isfinite(memory_budget) or memory_budget < 1):
        raise ValueError(f"{name} must be a finite, positive number of bytes (>= 1), got {memory_budget!r}")
    return int(memory_budget)


def chunk_size(M: int, P: int, itemsize: int = 8, memory_budget=None) -> int:
    """Number of patterns per chunk so that the M x chunk temporaries fit the memory budget.

    Parameters
    ----------
    M, P : int
        Number of query points and of patterns.
    itemsize : int
        Bytes per element (8 for float64).
    memory_budget : int, optional
        Bytes for the temporaries (default :data:`DEFAULT_MEMORY_BUDGET` or ``DIFFMEM_MEMORY_BUDGET``).

    Returns
    -------
    int
        In ``[1, P]``.

    Raises
    ------
    ValueError
        If `M`, `P` or `itemsize` is not a positive integer, `memory_budget` is not a finite number >= 1, or not
        even one pattern per chunk fits.
    """
    M, P = count(M, "M (number of query points)"), count(P, "P (number of patterns)")
    itemsize = count(itemsize, "itemsize (bytes per element)")
    budget = _memory_budget(memory_budget)
    per_pattern = _BLOCKS_PER_CHUNK * M * itemsize
    if per_pattern > budget:
        raise ValueError(
            f"M={M} query points need {per_pattern} bytes per pattern of chunk, more than memory_budget={budget} "
            "bytes; pass fewer points at once or raise memory_budget (or DIFFMEM_MEMORY_BUDGET)"
        )
    return int(min(P, budget // per_pattern))


def _prepare(x, data, t, dtype):
    """Validate and convert inputs; return (xp, x, data, t, dtype)."""
    dtype = float_dtype(dtype)
    xp = backend.get_array_module(x, data)
    data = as_points(data, "data", dtype=dtype, xp=xp)
    x = as_points(x, "x", N=data.shape[1], dtype=dtype, xp=xp, shape="(M, N)")
    t_arr = check_time(t)
    if t_arr.ndim != 0:
        raise ValueError(f"t must be a scalar time here, got shape {t_arr.shape}")
    return xp, x, data, float(t_arr), dtype


def _fused_kernel_wanted(xp, stats, gumbel_rng, fused):
    """Whether the fused CUDA kernel (:mod:`diffmem.sim.flash`) computes this pass."""
    if xp is np or stats or gumbel_rng is not None:
        return False
    if fused is None:
        fused = os.environ.get("DIFFMEM_FUSED", "1") != "0"
    return bool(fused)


def _stream(x, data, t, *, dtype=None, chunk=None, memory_budget=None, mean=False, nearest=False, stats=False,
            gumbel_rng=None, fused=None):
    """One pass over the patterns; returns a dict of the accumulators the caller asked for.

    Logits are ``l_mu = (e^{-t} x.a_mu - e^{-2t} |a_mu|^2 / 2) / Delta_t`` with centred data (the row constant
    ``-|x|^2 / (2 Delta_t)`` is left out). Both GEMMs of a chunk use one augmented pattern block
    ``K = [a, -e^{-2t}|a|^2 / (2 Delta_t), 1]`` and queries ``Q = [x e^{-t} / Delta_t, 1, -shift]``: ``Q K^T`` is the
    logits minus a per-row shift, ready for the exponential, and ``exp(.) K`` gives the weighted sum of the patterns
    and, in its last column, the row sum. The shift is the running log-sum-exp of the logits seen so far (the
    running maximum when the nearest pattern is tracked, so that a weight close to 1 keeps its precision), so only
    one element-wise pass (the exponential, spread over the cores) touches each M x chunk block; a row whose new
    logits exceed its shift enough to overflow is detected from its non-finite row sum and recomputed with its own
    maximum. Returned: ``lse`` (M,), the log-sum-exp of the logits, and the requested accumulators: ``mean``;
    ``nearest`` (the largest logit and its pattern); ``stats`` (``nearest`` plus the second nearest and the sum of
    squared weights); ``gumbel_rng`` (one pattern drawn per row from the weights).
    """
    xp, x, data, t, dtype = _prepare(x, data, t, dtype)
    M, N = x.shape
    P = data.shape[0]
    if chunk is None:
        chunk = chunk_size(M, P, dtype.itemsize, memory_budget)
    chunk = count(chunk, "chunk")  # patterns per chunk
    decay = math.exp(-t)
    dlt = -math.expm1(-2.0 * t)

    center = data.mean(axis=0)
    xc = x - decay * center  # centred queries: x - e^{-t} c
    c_lin = decay / dlt
    c_quad = 0.5 * decay * decay / dlt
    out = {"xp": xp, "x": x, "data": data, "t": t, "decay": decay, "delta": dlt, "N": N, "P": P,
           "center": center, "xc": xc}

    best = stats or nearest
    if mean and _fused_kernel_wanted(xp, best, gumbel_rng, fused):
        from .flash import flash_softmax_stream, flash_supported  # noqa: PLC0415 - CUDA code, loaded on use

        q = xp.ascontiguousarray(xc * c_lin)
        if flash_supported(q):
            a = xp.ascontiguousarray(data - center)
            row_max, row_sum, v = flash_softmax_stream(q, a, -c_quad * (a * a).sum(axis=1))
            out["lse"] = row_max + xp.log(row_sum)
            out["mean"] = v / row_sum[:, None] + center
            return out

    q = xp.empty((M, N + 2), dtype=dtype)
    q[:, :N] = xc * c_lin
    q[:, N] = 1.0
    q[:, N + 1] = 0.0
    shift = xp.zeros(M, dtype=dtype)  # logits are held as l - shift; after the first chunk shift = running lse
    run_sum = xp.zeros(M, dtype=dtype)
    run_mean = xp.zeros((M, N), dtype=dtype) if mean else None
    if best:
        top1 = xp.full(M, -xp.inf, dtype=dtype)
        arg1 = xp.zeros(M, dtype=xp.int64)
    if stats:
        run_sq = xp.zeros(M, dtype=dtype)
        top2 = xp.full(M, -xp.inf, dtype=dtype)
        arg2 = xp.full(M, -1, dtype=xp.int64)
    if gumbel_rng is not None:
        g_best = xp.full(M, -xp.inf, dtype=dtype)
        g_arg = xp.zeros(M, dtype=xp.int64)
    rows = xp.arange(M)

    first = min(chunk, _FIRST_CHUNK)
    for start, stop in _chunk_bounds(P, first, chunk):
        a = data[start:stop] - center
        k = xp.empty((a.shape[0], N + 2), dtype=dtype)
        k[:, :N] = a
        k[:, N] = -c_quad * (a * a).sum(axis=1)
        k[:, N + 1] = 1.0
        logits = q @ k.T  # l - shift
        if start == 0:
            shift = logits.max(axis=1)
            logits -= shift[:, None]
        if best:
            # running top-1 (and top-2) of the logits, the nearest patterns, compared in the unshifted frame
            i1 = logits.argmax(axis=1)
            v1 = logits[rows, i1] + shift
            new1 = v1 > top1
        if stats:
            if logits.shape[1] > 1:
                saved = logits[rows, i1]
                logits[rows, i1] = -xp.inf
                i2 = logits.argmax(axis=1)
                v2 = logits[rows, i2] + shift
                logits[rows, i1] = saved
            else:
                i2 = xp.zeros_like(i1)
                v2 = xp.full(M, -xp.inf, dtype=dtype)
            i2 = i2 + start
            # second best = best of (old second, chunk best if not new best, chunk second, old best if displaced)
            cand2_v = xp.where(new1, xp.maximum(top1, v2), xp.maximum(top2, v1))
            cand2_i = xp.where(new1, xp.where(top1 >= v2, arg1, i2), xp.where(top2 >= v1, arg2, i1 + start))
            top2, arg2 = cand2_v, cand2_i
        if best:
            i1 = i1 + start
            top1 = xp.where(new1, v1, top1)
            arg1 = xp.where(new1, i1, arg1)
        if gumbel_rng is not None:
            # uniforms in (0, 1): a draw of exactly 0 would give log(0)
            u = xp.maximum(gumbel_rng.random(logits.shape, dtype=dtype), xp.finfo(dtype).tiny)
            noisy = logits - xp.log(-xp.log(u))
            gi = noisy.argmax(axis=1)
            gv = noisy[rows, gi] + shift
            better = gv > g_best
            g_best = xp.where(better, gv, g_best)
            g_arg = xp.where(better, gi + start, g_arg)
            del noisy, u
        c_sum, c_mean, c_sq = _chunk_sums(xp, exp_inplace(logits, xp), k, N, mean, stats)
        bad = ~xp.isfinite(c_sum)
        if stats:
            bad |= ~xp.isfinite(c_sq)  # squared weights overflow first
        if bool(bad.any()):
            # rows whose logits outgrew their shift: redo them with the chunk's own maximum
            idx = xp.nonzero(bad)[0]
            redo = q[idx] @ k.T
            r_max = redo.max(axis=1)
            redo -= r_max[:, None]
            b_sum, b_mean, b_sq = _chunk_sums(xp, exp_inplace(redo, xp), k, N, mean, stats)
            rescale = xp.exp(-r_max)  # old accumulators, from shift to shift + r_max
            shift[idx] += r_max
            run_sum[idx] *= rescale
            c_sum[idx] = b_sum
            if mean:
                run_mean[idx] *= rescale[:, None]
                c_mean[idx] = b_mean
            if stats:
                run_sq[idx] *= rescale * rescale
                c_sq[idx] = b_sq
        run_sum += c_sum
        # New shift: the running log-sum-exp, or, for the statistics, the running maximum, so that run_sum stays
        # 1 + (the other terms relative to the best one) and a weight close to 1 keeps its precision.
        new_shift = top1 if best else shift + xp.log(run_sum)
        scale = xp.exp(shift - new_shift)
        run_sum *= scale
        if mean:
            run_mean += c_mean
            run_mean *= scale[:, None]
        if stats:
            run_sq += c_sq
            run_sq *= scale * scale
        shift = new_shift
        q[:, N + 1] = -shift

    out["lse"] = shift + xp.log(run_sum)
    if mean:
        out["mean"] = run_mean / run_sum[:, None] + center
    if best:
        out.update(run_sum=run_sum, best_logit=top1, arg1=arg1)
    if stats:
        # a second pattern exists only when P > 1; its index is otherwise meaningless
        out.update(run_sq=run_sq, arg2=xp.where(top2 > -xp.inf, arg2, -1))
    if gumbel_rng is not None:
        out["sample"] = g_arg
    return out


def _chunk_bounds(P, first, chunk):
    """``(start, stop)`` of each chunk: a first one of `first` patterns, then `chunk` at a time."""
    yield 0, min(first, P)
    yield from ((s, min(s + chunk, P)) for s in range(first, P, chunk))


def _chunk_sums(xp, weights, k, N, mean, stats):
    """Row sums of a chunk's exponentials, their weighted pattern sums (mean) and squares (stats)."""
    c_mean = c_sq = None
    # an overflowed row (inf weights) is recomputed by the caller: its inf/nan sums are expected here
    with np.errstate(over="ignore", invalid="ignore"):
        if mean:
            r = weights @ k  # the ones column of k gives the row sums
            c_mean = r[:, :N]
            c_sum = r[:, N + 1].copy()
        else:
            c_sum = weights.sum(axis=1)
        if stats:
            c_sq = xp.einsum("ij,ij->i", weights, weights)
    return c_sum, c_mean, c_sq


def _exact_sqdist(xp, x, data, decay, idx):
    """``|x_m - e^{-t} a_{idx_m}|^2`` from differences (no cancellation); idx -1 gives inf."""
    safe = xp.where(idx >= 0, idx, 0)
    diff = x - decay * data[safe]
    d = (diff * diff).sum(axis=1)
    return xp.where(idx >= 0, d, xp.inf)


def _refined_log_density(acc, d_best):
    """log P^e_t(x), with the dominant term taken from the exact nearest distance.

    ``log sum_mu e^{l_mu} = l_best + log(1 + sum_{mu != best} e^{l_mu - l_best})``: the GEMM logits supply only the
    ratios of the other terms to the best one, so the GEMM round-off (of order N eps / Delta_t) does not reach the
    collapsed phase, where a single term dominates.
    """
    xp = acc["xp"]
    dlt = acc["delta"]
    xc = acc["xc"]
    # best logit as the GEMM saw it, in the same frame as the exact one
    best_gemm = acc["best_logit"] - (xc * xc).sum(axis=1) / (2.0 * dlt)
    best_exact = -d_best / (2.0 * dlt)
    others = xp.maximum(acc["run_sum"] - 1.0, 0.0)  # the sum relative to the best term is 1 + others
    lse = best_exact + xp.log1p(others * xp.exp(best_gemm - best_exact))
    return lse - math.log(acc["P"]) - 0.5 * acc["N"] * math.log(2.0 * math.pi * dlt)


def empirical_score(x, data, t, *, dtype=None, chunk=None, memory_budget=None):
    """Score of the empirical density, ``grad_x log P^e_t(x)``.

    Parameters
    ----------
    x : (M, N) array
        Query points (NumPy or CuPy; the result lives on the same backend).
    data : (P, N) array
        Training points ``a^mu``.
    t : float
        Forward time, > 0.
    dtype : {float64, float32}, optional
        Working precision (default float64).
    chunk : int, optional
        Patterns per chunk; default from `memory_budget`.
    memory_budget : int, optional
        Bytes for the per-chunk temporaries.

    Returns
    -------
    (M, N) array
        ``(e^{-t} sum_mu w_mu a^mu - x) / Delta_t``.

    Raises
    ------
    ValueError
        For mismatched shapes, non-finite inputs, ``t <= 0``, or a memory budget too small for one chunk.
    """
    acc = _stream(x, data, t, dtype=dtype, chunk=chunk, memory_budget=memory_budget, mean=True)
    return (acc["decay"] * (acc["mean"] - acc["center"]) - acc["xc"]) / acc["delta"]


def posterior_mean(x, data, t, *, dtype=None, chunk=None, memory_budget=None):
    """The denoiser ``E[a | x_t = x] = sum_mu w_mu(x) a^mu`` of the empirical process.

    Parameters and errors as :func:`empirical_score`.

    Returns
    -------
    (M, N) array
    """
    return _stream(x, data, t, dtype=dtype, chunk=chunk, memory_budget=memory_budget, mean=True)["mean"]


def empirical_log_density(x, data, t, *, dtype=None, chunk=None, memory_budget=None):
    """``log P^e_t(x) = log (1/P) sum_mu N(x; e^{-t} a^mu, Delta_t I)``.

    Parameters and errors as :func:`empirical_score`.

    Returns
    -------
    (M,) array
    """
    acc = _stream(x, data, t, dtype=dtype, chunk=chunk, memory_budget=memory_budget, nearest=True)
    return _refined_log_density(acc, _exact_sqdist(acc["xp"], acc["x"], acc["data"], acc["decay"], acc["arg1"]))


def posterior_stats(x, data, t, *, dtype=None, chunk=None, memory_budget=None) -> PosteriorStats:
    """Statistics of the weights ``w_mu(x)``, in one streaming pass.

    ``w_mu(x, t)`` is exactly the probability that the empirical reverse process through ``x`` at time ``t`` ends on
    ``a^mu`` (THEORY.md section 2).

    Parameters and errors as :func:`empirical_score`.

    Returns
    -------
    PosteriorStats
        ``w_max``, ``argmax``, ``participation``, ``d_nearest``, ``d_second``, ``second``, ``log_density``,
        each of shape (M,).
    """
    acc = _stream(x, data, t, dtype=dtype, chunk=chunk, memory_budget=memory_budget, stats=True)
    xp = acc["xp"]
    d1 = _exact_sqdist(xp, acc["x"], acc["data"], acc["decay"], acc["arg1"])
    d2 = _exact_sqdist(xp, acc["x"], acc["data"], acc["decay"], acc["arg2"])
    # run_sum = 1 + (the other terms relative to the best) >= 1 and sum w^2 <= w_max, exactly; the GEMM logits
    # (rounding ~ eps |l|, 1e-12 at |l| ~ 1e4) could leave w_max = 1 + 7e-12 or sum w^2 > w_max: clamp both
    s = xp.maximum(acc["run_sum"], 1.0)
    w_max = 1.0 / s
    return PosteriorStats(
        w_max=w_max,
        argmax=acc["arg1"],
        participation=xp.minimum(acc["run_sq"] / (s * s), w_max),
        d_nearest=d1,
        d_second=d2,
        second=acc["arg2"],
        log_density=_refined_log_density(acc, d1),
    )


def sample_posterior_index(x, data, t, rng, *, dtype=None, chunk=None, memory_budget=None):
    """Draw one pattern index per query point, ``mu ~ w(x)``, by the Gumbel-max trick while streaming.

    Parameters
    ----------
    x : (M, N) array
    data : (P, N) array
    t : float
    rng : Generator
        A generator of the same array module as `x` (see :func:`diffmem.backend.default_rng`).

    Returns
    -------
    (M,) int array

    Raises
    ------
    TypeError
        If `rng` is not a generator of the array module of `x` and `data`.
    ValueError
        As :func:`empirical_score`.
    """
    xp = backend.get_array_module(x, data)
    if not isinstance(rng, xp.random.Generator):
        raise TypeError(f"rng must be a random Generator of {xp.__name__} (see diffmem.backend.default_rng), "
                        f"got {rng!r}")
    acc = _stream(x, data, t, dtype=dtype, chunk=chunk, memory_budget=memory_budget, gumbel_rng=rng)
    return acc["sample"]
