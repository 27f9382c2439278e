"""A priori bound on the round-off error of the empirical score, for choosing float32 safely.

The engine (:mod:`diffmem.sim.score`) forms, in the working precision with unit round-off ``u`` (``2^-24`` in
float32, ``2^-53`` in float64), the logits ``l_mu = q . k_mu`` from augmented vectors of length ``N + 2``, their
exponentials, and the weighted pattern sums over chunks. Standard first-order error analysis (Higham, *Accuracy and
Stability of Numerical Algorithms*, ch. 3, ``gamma_n = n u / (1 - n u)``) gives, for query ``x``:

* logits: ``|dl_mu| <= eps = 2 gamma_{N+6} (e^{-t} X A / Delta_t + e^{-2t} A^2 / (2 Delta_t))`` with
  ``X = |x| + e^{-t}|c|``, ``A = max_mu |a^mu| + |c|`` and ``c`` the data mean (forming the centred, scaled
  operands costs the extra four round-offs);
* weights: ``w_mu`` changes by the factor ``exp(dl_mu - sum_nu w_nu dl_nu)``, so ``|dw_mu| <= (e^{2 eps} - 1) w_mu``
  and the posterior mean moves by at most ``(e^{2 eps} - 1) R`` with ``R = max_mu |a^mu - c|``;
* sums: the weighted sums and the row sum over a chunk of ``C`` patterns, carried over ``n_c`` chunks, add
  ``2 gamma_{C + n_c} R``;
* the score ``(e^{-t}(m - c) - (x - e^{-t} c)) / Delta_t`` adds ``3 u (e^{-t} R + X) / Delta_t``.

Summed, this bounds every component of the computed score minus the exact one. It is a worst case (every round-off
with the same sign, every weight error aligned with the farthest pattern): measured float32 errors sit three to
five orders of magnitude below it, float64 errors against extended precision five to six (``tests/test_precision.py``
checks the bound against both, and that in float32 it stays below 5% of the score at t >= 0.3). The
``1 / Delta_t^2`` growth is the message: float32 is safe for the score at moderate and late times and loses every
digit deep in the collapsed phase.

Serves the chapter "Diffusion with the empirical score" and ``benchmarks/bench_score.py``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend
from .._checks import count
from .score import _prepare, chunk_size

__all__ = ["score_error_bound"]


def _gamma(n, u):
    nu = n * u
    if nu >= 1.0:
        return math.inf
    return nu / (1.0 - nu)


def score_error_bound(x, data, t, *, dtype=np.float32, chunk=None, memory_budget=None):
    """Worst-case round-off error of :func:`diffmem.empirical_score` computed in `dtype`, per query point.

    Parameters
    ----------
    x : (M, N) array
        Query points.
    data : (P, N) array
        Training points.
    t : float
        Forward time, > 0.
    dtype : {float32, float64}
        The working precision whose error is bounded.
    chunk, memory_budget : optional
        As for :func:`diffmem.empirical_score` (the chunk length enters the summation term).

    Returns
    -------
    (M,) NumPy array
        A bound on ``max_i |score_i(computed) - score_i(exact)|`` for each query point (``inf`` when the analysis
        breaks down, i.e. when the logit error is not small).

    Raises
    ------
    ValueError
        As :func:`diffmem.empirical_score`.
    """
    xp, x, data, t, dtype = _prepare(x, data, t, np.float64 if dtype is None else dtype)
    u = float(np.finfo(dtype).eps) / 2.0
    x = backend.to_numpy(x).astype(np.float64)
    data = backend.to_numpy(data).astype(np.float64)
    M, N = x.shape
    P = data.shape[0]
    if chunk is None:
        chunk = chunk_size(M, P, dtype.itemsize, memory_budget)
    chunk = min(count(chunk, "chunk"), P)
    n_chunks = -(-P // chunk)
    decay = math.exp(-t)
    dlt = -math.expm1(-2.0 * t)
    center = data.mean(axis=0)
    c_norm = float(np.linalg.norm(center))
    big_a = float(np.linalg.norm(data, axis=1).max()) + c_norm
    radius = float(np.linalg.norm(data - center, axis=1).max())
    big_x = np.linalg.norm(x, axis=1) + decay * c_norm
    eps = 2.0 * _gamma(N + 6, u) * (decay * big_x * big_a / dlt + 0.5 * decay * decay * big_a**2 / dlt)
    with np.errstate(over="ignore"):
        weights = np.expm1(2.0 * eps)
    bound = (decay * radius * (weights + 2.0 * _gamma(chunk + n_chunks, u)) + 3.0 * u * (decay * radius + big_x)) / dlt
    return np.where(eps < 0.5, bound, np.inf)
