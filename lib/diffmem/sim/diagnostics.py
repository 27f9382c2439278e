"""Diagnostics measured on samples and trajectories of the empirical diffusion.

Each estimate comes with its Monte Carlo standard error (:class:`Estimate`), so that a figure or a test can say how
far a measurement may honestly sit from the theory.

Serves the chapters "Diffusion with the empirical score", "Collapse" and "Generalization" (THEORY.md sections 2, 4,
6 and 8).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import backend
from .._checks import as_data, as_points, count, float_dtype, in_range, numeric
from .sampling import sample_marginal
from .schedule import check_time, delta
from .score import empirical_log_density, posterior_stats

__all__ = [
    "Estimate",
    "collapse_fraction",
    "excess_entropy",
    "nearest_index",
    "participation_ratio",
    "stabilization_time",
    "test_cross_entropy",
]

# Query points per call of the score engine in the diagnostics (bounds the M x chunk temporaries).
_QUERY_BATCH = 4096


class Estimate(NamedTuple):
    """A Monte Carlo mean with its standard error.

    Attributes
    ----------
    value : float or ndarray
    stderr : float or ndarray
        Standard error of the mean (sample standard deviation / sqrt(n)).
    n : int
        Number of samples.
    """

    value: float
    stderr: float
    n: int


def _mean_estimate(values) -> Estimate:
    v = backend.to_numpy(values).astype(np.float64)
    n = v.size
    err = float(v.std(ddof=1) / math.sqrt(n)) if n > 1 else float("inf")
    return Estimate(float(v.mean()), err, int(n))


def _per_time(estimates, t_arr) -> Estimate:
    """One Estimate for a scalar time; for an array of times, one with (T,) arrays of values and errors."""
    if t_arr.ndim == 0:
        return estimates[0]
    return Estimate(np.array([e.value for e in estimates]), np.array([e.stderr for e in estimates]),
                    estimates[0].n)


def _queries(x, data, name, engine):
    """Validated (x, data) for the score engine, with errors that name the caller's parameter `name` for `x`."""
    xp = backend.get_array_module(x, data)
    dtype = float_dtype(engine.get("dtype"))
    data = as_points(data, "data", dtype=dtype, xp=xp)
    return as_points(x, name, N=data.shape[1], dtype=dtype, xp=xp, shape="(M, N)"), data


def _stats_batched(x, data, t, name="x", **engine):
    """posterior_stats over query batches, concatenated (NumPy arrays out); `name` is how errors call `x`."""
    x, data = _queries(x, data, name, engine)
    fields = []
    for start in range(0, x.shape[0], _QUERY_BATCH):
        st = posterior_stats(x[start:start + _QUERY_BATCH], data, t, **engine)
        fields.append([backend.to_numpy(f) for f in st])
    return type(st)(*(np.concatenate(col) for col in zip(*fields, strict=True)))


def _log_density_batched(x, data, t, name="x", **engine):
    """empirical_log_density over query batches, concatenated (NumPy array out); `name` is how errors call `x`."""
    x, data = _queries(x, data, name, engine)
    return np.concatenate([backend.to_numpy(empirical_log_density(x[s:s + _QUERY_BATCH], data, t, **engine))
                           for s in range(0, x.shape[0], _QUERY_BATCH)])


def collapse_fraction(x, data, t, threshold: float = 0.5, **engine) -> Estimate:
    """Fraction of points whose largest posterior weight exceeds `threshold`: ``P(w_max > 1/2)``.

    Parameters
    ----------
    x : (M, N) array
        Points at time `t` (direct samples of ``P^e_t`` or states of reverse trajectories).
    data : (P, N) array
    t : float
    threshold : float in (0, 1)
    **engine
        ``dtype``, ``chunk``, ``memory_budget`` for the score engine.

    Returns
    -------
    Estimate
        Binomial standard error ``sqrt(p (1 - p) / M)``.

    Raises
    ------
    TypeError
        If `x` or `data` is not numeric, or `threshold` not a real number.
    ValueError
        As :func:`diffmem.empirical_score` (naming `x` and `data`), or `threshold` outside (0, 1).
    """
    threshold = in_range(threshold, "threshold", 0.0, 1.0, meaning="largest posterior weight")
    w_max = _stats_batched(x, data, t, **engine).w_max
    p = float(np.mean(w_max > threshold))
    m = w_max.size
    return Estimate(p, math.sqrt(max(p * (1.0 - p), 0.25 / m) / m), m)


def participation_ratio(x, data, t, **engine) -> Estimate:
    """Mean of ``sum_mu w_mu(x)^2`` over the points `x` (1: collapsed on one pattern; 1/P: all patterns alike).

    Parameters as :func:`collapse_fraction`.

    Returns
    -------
    Estimate
    """
    return _mean_estimate(_stats_batched(x, data, t, **engine).participation)


def nearest_index(states, data, times, **engine) -> np.ndarray:
    """Index of the dominant pattern (largest weight, i.e. nearest to ``e^t x``) at each recorded time.

    Parameters
    ----------
    states : (K, n, N) array
        As returned by :func:`~diffmem.sample_reverse`.
    data : (P, N) array
    times : (K,) array_like
        The forward times of `states`.

    Returns
    -------
    (K, n) int ndarray (NumPy)
    """
    times = _check_times(times)
    xp = backend.get_array_module(states, data)
    if not hasattr(states, "__cuda_array_interface__"):
        states = numeric(states, "states", "a (K, n, N) array of numbers")
    states = xp.asarray(states)
    if states.ndim != 3 or states.shape[0] != times.size or states.shape[1] == 0:
        raise ValueError(f"states must have shape (K, n, N) with K = len(times) = {times.size} and n >= 1, "
                         f"got {states.shape}")
    return np.stack([_stats_batched(states[k], data, float(tk), name="states", **engine).argmax
                     for k, tk in enumerate(times)])


def _check_times(times):
    times = np.atleast_1d(check_time(times, "times"))
    if times.ndim != 1:
        raise ValueError(f"times must be a scalar or a 1-D array, got shape {times.shape}")
    return times


def stabilization_time(states, data, times, **engine) -> np.ndarray:
    """For each trajectory, the largest recorded time from which its nearest pattern no longer changes.

    Along the reverse process (t decreasing) the index of the dominant pattern changes while the trajectory is free
    and freezes once it is trapped; this returns, per trajectory, the earliest (largest-t) recorded time from which
    the index equals its final value at every later (smaller-t) record. A trajectory whose index never changes
    returns ``max(times)`` (censored at the first record). This is the criterion of Biroli et al. 2024's code,
    vectorised.

    Parameters
    ----------
    states : (K, n, N) array
    data : (P, N) array
    times : (K,) array_like

    Returns
    -------
    (n,) ndarray
    """
    times = _check_times(times)
    idx = nearest_index(states, data, times, **engine)
    order = np.argsort(-times)  # decreasing t: the order in which the reverse process visits them
    idx, t_sorted = idx[order], times[order]
    same_as_final = idx == idx[-1][None, :]
    # last record (in reverse-process order) where the index differs from the final one
    differs = ~same_as_final
    any_diff = differs.any(axis=0)
    last_diff = differs.shape[0] - 1 - np.argmax(differs[::-1], axis=0)
    first_stable = np.where(any_diff, last_diff + 1, 0)
    return t_sorted[first_stable]


def test_cross_entropy(test_points, data, t, **engine) -> Estimate:
    """Cross-entropy per dimension of the rescaled kernel density estimate on held-out points.

    The reverse process stopped at ``t`` and rescaled by ``e^t`` is the Gaussian kernel density estimate
    ``phat_h(y) = (1/P) sum_mu N(y; a^mu, h^2 I)`` with ``h^2 = e^{2t} - 1``; this returns
    ``L(t) = -(1/N) mean_y log phat_h(y)`` over the test points (THEORY.md section 6), using
    ``log phat_h(y) = log P^e_t(e^{-t} y) - N t``.

    Parameters
    ----------
    test_points : (M, N) array
        Held-out data points (not in `data`).
    data : (P, N) array
    t : float or (T,) array_like
        Forward time(s).

    Returns
    -------
    Estimate
        ``value`` and ``stderr`` are floats for a scalar `t`, (T,) arrays otherwise.
    """
    t_arr = check_time(t)
    losses = pointwise_cross_entropy(test_points, data, np.atleast_1d(t_arr), **engine)
    return _per_time([_mean_estimate(row) for row in losses], t_arr)


def pointwise_cross_entropy(test_points, data, t, **engine) -> np.ndarray:
    """``-(1/N) log phat_h(y)`` for each test point and time: the terms that :func:`test_cross_entropy` averages.

    Kept point by point for estimators that resample the test points (the jackknife of
    :func:`diffmem.measure_generalization`).

    Parameters
    ----------
    test_points : (M, N) array
    data : (P, N) array
    t : (T,) array_like
        Forward times.

    Returns
    -------
    (T, M) ndarray
    """
    y, data = _queries(test_points, data, "test_points", engine)
    N = y.shape[1]
    out = []
    for tk in np.atleast_1d(check_time(t)):
        tk = float(tk)
        out.append(-(_log_density_batched(math.exp(-tk) * y, data, tk, name="test_points", **engine) - N * tk) / N)
    return np.stack(out)


def excess_entropy(data, t, n: int = 4096, seed=None, **engine) -> Estimate:
    """Monte Carlo excess entropy ``s(P^e_t) - (log P / N + 1/2 log(2 pi e Delta_t))`` of any dataset.

    ``s(P^e_t) = -(1/N) E log P^e_t(x)`` over ``x ~ P^e_t`` (direct samples). The subtracted term is the entropy
    per dimension of P well-separated Gaussians: the excess is 0 when every sample belongs to its own pattern
    (collapsed regime) and negative while the Gaussians overlap. For Gaussian-like data the collapse time is where
    it reaches 0 in the large-N limit (THEORY.md sections 4 and 8).

    Parameters
    ----------
    data : (P, N) array
    t : float or (T,) array_like
        Forward time(s).
    n : int
        Monte Carlo samples per time.
    seed : int, Generator or None

    Returns
    -------
    Estimate
        Floats for scalar `t`, (T,) arrays otherwise.
    """
    t_arr = check_time(t)
    n = count(n, "n (Monte Carlo samples)", minimum=2)
    xp, data = as_data(data)
    P, N = data.shape
    rng = backend.default_rng(seed, xp)
    out = []
    for tk in np.atleast_1d(t_arr):
        tk = float(tk)
        x = sample_marginal(data, tk, int(n), seed=rng)
        log_p = _log_density_batched(x, data, tk, **engine)
        reference = math.log(P) / N + 0.5 * math.log(2.0 * math.pi * math.e * float(delta(tk)))
        out.append(_mean_estimate(-log_p / N - reference))
    return _per_time(out, t_arr)
