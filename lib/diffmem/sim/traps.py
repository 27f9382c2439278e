"""Traps and their basins, measured: where do trajectories started near a training point go?

A point ``x = e^{-t} a^mu + sqrt(s Delta_t) xi`` (a *probe* of pattern ``mu`` at squared distance ``s`` in units of
``N Delta_t``) is followed by the empirical reverse process from time ``t``. Its fate is known exactly: the reverse
trajectory through ``x`` at time ``t`` ends on ``a^mu`` with probability ``w_mu(x, t)`` (THEORY.md section 2), so
the capture probability of a probe is a static average,

    p_capture(t, s) = E_{mu, xi} [ w_mu(e^{-t} a^mu + sqrt(s Delta_t) xi, t) ],

which this module estimates with its Monte Carlo standard error, together with the basin edge ``s_1/2(t)`` where
``p_capture = 1/2`` (compared with the large-N basin size :func:`diffmem.basin_size`).

Serves the chapter "Trap times" (THEORY.md section 5).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backend
from .._checks import as_data, as_points, count, numeric
from .diagnostics import _QUERY_BATCH, Estimate, _mean_estimate, nearest_index
from .sampling import draw_around_patterns, pattern_index, sample_reverse
from .schedule import check_time, delta
from .score import empirical_log_density

__all__ = ["basin_edge", "capture_probability", "pattern_weight", "probe_points", "trajectory_capture"]

# Largest number of halvings / doublings of the bracket and of regula falsi steps in basin_edge.
_MAX_BRACKET = 60
_MAX_ITER = 60


def _check_s(s, name: str = "s") -> np.ndarray:
    try:
        arr = numeric(s, name).astype(np.float64)
    except TypeError as exc:
        raise ValueError(f"{name} must be a finite number >= 0 (squared distance in units of N Delta_t), "
                         f"got {s!r}") from exc
    if arr.ndim > 1 or arr.size == 0:
        raise ValueError(f"{name} must be a scalar or a non-empty 1-D array, got shape {arr.shape}")
    bad = ~(np.isfinite(arr) & (arr >= 0))
    if np.any(bad):
        raise ValueError(f"{name} must be finite and >= 0 (squared distance in units of N Delta_t), "
                         f"got {arr[bad].ravel()[0]!r}")
    return arr


def pattern_weight(x, data, index, t, **engine):
    """The weight ``w_mu(x, t)`` of one given pattern per query point: the probability of ending on it.

    ``w_mu(x, t) = exp(-|x - e^{-t} a^mu|^2 / (2 Delta_t)) / Z(x, t)`` is exactly the probability that the empirical
    reverse process through ``x`` at time ``t`` ends on ``a^mu``. ``log Z`` comes from the streaming engine (its
    dominant term from the exact nearest distance), the own term from an exact difference, so a weight close to 1
    keeps its precision.

    Parameters
    ----------
    x : (M, N) array
        Query points at time `t`.
    data : (P, N) array
        Training points.
    index : int or (M,) int array
        The pattern ``mu`` whose weight is wanted, one for all queries or one per query.
    t : float
        Forward time, > 0.
    **engine
        ``dtype``, ``chunk``, ``memory_budget`` for the score engine.

    Returns
    -------
    (M,) array
        In ``[0, 1]``, on the backend of `x` and `data`.

    Raises
    ------
    ValueError
        Bad shapes, non-finite inputs, ``t <= 0`` or an index outside ``[0, P)``.
    """
    xp, data = as_data(data)
    x = as_points(x, "x", dtype=data.dtype, xp=xp, shape="(M, N)")
    if x.shape[1] != data.shape[1]:
        raise ValueError(f"x must have shape (M, N) with N = {data.shape[1]}, got {x.shape}")
    t = float(check_time(t))
    P, N = data.shape
    M = x.shape[0]
    if index is None:
        raise ValueError("index must be an int or an (M,) int array: the pattern whose weight is wanted")
    idx = pattern_index(index, P, M, None, xp)
    return xp.exp(_log_pattern_weight(x, data, idx, t, **engine))


def _log_pattern_weight(x, data, idx, t: float, **engine):
    """``log w_idx(x, t)`` for validated inputs: the own term from an exact difference, ``log Z`` from the engine.

    The one home of this formula (:func:`pattern_weight`, and the memorization meter's
    :func:`diffmem.own_log_weight`, which needs the log itself). `x` (M, N) and `data` (P, N) on one backend, `idx`
    an (M,) int array of that backend, `t` > 0: all trusted. Returns an (M,) array <= 0 on that backend.
    """
    xp = backend.get_array_module(x, data)
    P, N = data.shape
    dlt = float(delta(t))
    diff = x - math.exp(-t) * data[idx]
    log_own = -(diff * diff).sum(axis=1) / (2.0 * dlt)
    log_dens = xp.concatenate([empirical_log_density(x[i:i + _QUERY_BATCH], data, t, **engine)
                               for i in range(0, x.shape[0], _QUERY_BATCH)])
    log_z = log_dens + math.log(P) + 0.5 * N * math.log(2.0 * math.pi * dlt)
    # w <= 1 exactly; round-off in log Z may push the own term a hair above it
    return xp.minimum(log_own - log_z, 0.0)


def probe_points(data, t, s, n, index=None, seed=None):
    """Probes of the basins: ``x = e^{-t} a^mu + sqrt(s Delta_t) xi`` with ``xi ~ N(0, I_N)``.

    Parameters
    ----------
    data : (P, N) array
        Training points.
    t : float
        Forward time at which the probes are placed, > 0.
    s : float
        Squared distance from ``e^{-t} a^mu`` in units of ``N Delta_t`` (``s = 0``: the shrunk training point
        itself; ``s = 1``: as far as a typical point of ``P_t`` generated by ``a^mu``), >= 0.
    n : int
        Number of probes.
    index : None, int or (n,) int array
        Pattern of each probe: uniform over the ``P`` patterns (default), one pattern, or one per probe.
    seed : int, Generator or None

    Returns
    -------
    x : (n, N) array
        On the backend of `data` (a valid ``start`` for :func:`diffmem.sample_reverse` with ``t_max = t``).
    index : (n,) int array
        The pattern of each probe.

    Raises
    ------
    ValueError
        Bad `t`, `s`, `n` or `index`.
    """
    s_arr = _check_s(s)
    if s_arr.ndim != 0:
        raise ValueError(f"s must be a scalar here, got shape {s_arr.shape}")
    return draw_around_patterns(data, t, n, s=float(s_arr), index=index, seed=seed, n_name="n (number of probes)")


class _Prober:
    """Capture weights of fixed probes (common random numbers across s), pooled over one or several datasets."""

    def __init__(self, data, t, n, index, seed, engine):
        datasets = list(data) if isinstance(data, list | tuple) else [data]
        if not datasets:
            raise ValueError("data must be a (P, N) array or a non-empty list of them")
        self.t = float(check_time(t))
        n = count(n, "n (number of probes)", minimum=2)
        rng = backend.default_rng(seed, backend.get_array_module(datasets[0]))
        self.parts = []
        for d in datasets:
            xp, d = as_data(d)
            idx = pattern_index(index, d.shape[0], n, rng, xp)
            xi = rng.standard_normal((n, d.shape[1]))
            self.parts.append((d, idx, math.exp(-self.t) * d[idx], xi))
        self.n = n * len(self.parts)
        self.scale = float(delta(self.t))
        self.engine = engine

    def weights(self, s: float) -> np.ndarray:
        out = []
        for d, idx, center, xi in self.parts:
            x = center + math.sqrt(s * self.scale) * xi
            out.append(backend.to_numpy(pattern_weight(x, d, idx, self.t, **self.engine)))
        return np.concatenate(out)


def capture_probability(data, t, s, n: int = 1024, index=None, seed=None, **engine) -> Estimate:
    """Probability that a reverse trajectory started at a probe of a training point ends on that point.

    ``p(t, s) = E[w_mu(e^{-t} a^mu + sqrt(s Delta_t) xi, t)]`` over probes (uniform ``mu`` unless `index` is given,
    ``xi ~ N(0, I_N)``). By the exact fact of THEORY.md section 2 this equals the fraction of reverse trajectories
    started there that end on ``a^mu``; the static average has a smaller variance than counting trajectories.
    For an array of `s` the same probe directions are used at every ``s`` (common random numbers), so the curve
    ``p(t, s)`` is smooth in ``s``.

    Parameters
    ----------
    data : (P, N) array or list of (P_k, N) arrays
        Training points; a list of independent training sets pools `n` probes of each (an average over the data
        as well as over probes, useful at small N where one training set fluctuates).
    t : float
        Forward time, > 0.
    s : float or (K,) array_like
        Squared distance(s) of the probes in units of ``N Delta_t``, >= 0.
    n : int
        Number of probes per training set (>= 2).
    index : None, int or (n,) int array
        Pattern of each probe (see :func:`probe_points`), in every training set.
    seed : int, Generator or None
    **engine
        ``dtype``, ``chunk``, ``memory_budget`` for the score engine.

    Returns
    -------
    Estimate
        Mean weight and its standard error; ``value`` and ``stderr`` are (K,) arrays for an array `s`.

    Raises
    ------
    ValueError
        Bad `t`, `s`, `n` or `index`, or an empty list of training sets.
    """
    s_arr = _check_s(s)
    probe = _Prober(data, t, n, index, seed, engine)
    out = [_mean_estimate(probe.weights(float(sk))) for sk in np.atleast_1d(s_arr)]
    if s_arr.ndim == 0:
        return out[0]
    return Estimate(np.array([e.value for e in out]), np.array([e.stderr for e in out]), probe.n)


def trajectory_capture(data, t, s, n: int = 1024, index=None, seed=None, t_min: float = 1e-3, **engine) -> Estimate:
    """Fraction of reverse trajectories started at probes of a training point that end on it (the dynamics).

    Each trajectory starts at a probe ``e^{-t} a^mu + sqrt(s Delta_t) xi`` at time ``t`` and is run down to `t_min`
    by the exact ancestral sampler of :func:`diffmem.sample_reverse`; it counts as captured if its nearest pattern at
    `t_min` is ``a^mu``. In expectation this is :func:`capture_probability` (THEORY.md section 2), which has the
    smaller variance; this function shows the same number as the fate of actual trajectories.

    Parameters
    ----------
    data : (P, N) array
        Training points.
    t : float
        Starting forward time, > `t_min`.
    s : float
        Squared distance of the probes in units of ``N Delta_t``, >= 0.
    n : int
        Number of trajectories (>= 2).
    index : None, int or (n,) int array
        Pattern of each probe (see :func:`probe_points`).
    seed : int, Generator or None
    t_min : float
        Time at which the final pattern is read, in ``(0, t)``; small enough that each trajectory sits on its
        pattern (``Delta_{t_min}`` much smaller than the squared distance between patterns per dimension).
    **engine
        ``dtype``, ``chunk``, ``memory_budget`` for the score engine.

    Returns
    -------
    Estimate
        Captured fraction with its binomial standard error ``sqrt(max(p (1 - p), 1/(4 n)) / n)``.

    Raises
    ------
    ValueError
        Bad `t`, `s`, `n`, `index`, or ``t_min >= t``.
    """
    t = float(check_time(t))
    t_min = float(check_time(t_min, "t_min"))
    if not t_min < t:
        raise ValueError(f"t_min must be < t (the trajectories run from t down to t_min), got t_min={t_min!r}, "
                         f"t={t!r}")
    n = count(n, "n (number of trajectories)", minimum=2)
    rng = backend.default_rng(seed, backend.get_array_module(data))
    x, idx = probe_points(data, t, s, n, index=index, seed=rng)
    end = sample_reverse(data, n, [t_min], method="ancestral", t_max=t, start=x, seed=rng, **engine)
    hit = nearest_index(end, data, [t_min], **engine)[0] == backend.to_numpy(idx)
    p = float(hit.mean())
    return Estimate(p, math.sqrt(max(p * (1.0 - p), 0.25 / n) / n), n)


def basin_edge(data, t, n: int = 256, index=None, seed=None, guess: float = 1.0, rtol: float = 0.02,
               level: float = 0.5, **engine) -> Estimate:
    """Measured basin edge ``s_1/2(t)``: the probe distance at which the capture probability falls to `level`.

    The probes (pattern and direction) are drawn once, so ``p(s)`` (see :func:`capture_probability`) is a continuous
    function of ``s``; its crossing of `level` is bracketed from `guess` by doubling or halving and located by the
    Illinois variant of regula falsi to a relative width `rtol`. The standard error follows from the delta method,
    ``se(s_1/2) = se(p) / |dp/ds|``, with the slope from a secant over ``s_1/2 (1 +- 0.15)``. In the large-N limit
    ``s_1/2 -> s*(t)`` of :func:`diffmem.basin_size`.

    Parameters
    ----------
    data : (P, N) array or list of (P_k, N) arrays
        Training points, or independent training sets whose probes are pooled (see :func:`capture_probability`).
    t : float
        Forward time, > 0.
    n : int
        Number of probes per training set (>= 2).
    index : None, int or (n,) int array
        Pattern of each probe (see :func:`probe_points`), in every training set.
    seed : int, Generator or None
    guess : float
        Starting point of the bracket search, > 0 (e.g. the theory ``s*(t)``; only the cost depends on it).
    rtol : float
        Relative width of the final bracket, in (0, 1).
    level : float
        Capture probability that defines the edge, in (0, 1).
    **engine
        ``dtype``, ``chunk``, ``memory_budget`` for the score engine.

    Returns
    -------
    Estimate
        ``value = s_1/2``. If even the shrunk training points themselves (``s = 0``) are captured with probability
        ``<= level`` there is no basin: ``value = 0`` and ``stderr = 0``.

    Raises
    ------
    ValueError
        Bad `t`, `n`, `index`, `guess`, `rtol` or `level`, an empty list of training sets; no crossing below
        ``guess * 2**60``.
    """
    for name, v, lo, hi in (("rtol", rtol, 0.0, 1.0), ("level", level, 0.0, 1.0)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not lo < v < hi:
            raise ValueError(f"{name} must be a number in ({lo:g}, {hi:g}), got {v!r}")
    if isinstance(guess, bool) or not isinstance(guess, numbers.Real) or not (math.isfinite(guess) and guess > 0):
        raise ValueError(f"guess must be a finite number > 0 (a squared distance in units of N Delta_t), "
                         f"got {guess!r}")
    probe = _Prober(data, t, n, index, seed, engine)
    cache: dict[float, np.ndarray] = {}

    def excess(s: float) -> float:
        if s not in cache:
            cache[s] = probe.weights(s)
        return float(cache[s].mean()) - level

    if excess(0.0) <= 0.0:
        return Estimate(0.0, 0.0, probe.n)
    lo, hi = 0.0, float(guess)
    if excess(hi) > 0.0:
        for _ in range(_MAX_BRACKET):
            lo, hi = hi, 2.0 * hi
            if excess(hi) <= 0.0:
                break
        else:
            raise ValueError(f"no basin edge found below s = {hi:g}: the capture probability stays above {level}")
    else:
        for _ in range(_MAX_BRACKET):
            if excess(0.5 * hi) > 0.0:
                lo = 0.5 * hi
                break
            hi = 0.5 * hi
    f_lo, f_hi = excess(lo), excess(hi)
    side = 0
    for _ in range(_MAX_ITER):
        if hi - lo <= rtol * 0.5 * (hi + lo):
            break
        mid = hi - f_hi * (hi - lo) / (f_hi - f_lo)  # secant point of the bracket (f_lo > 0 >= f_hi)
        f_mid = excess(mid)
        if f_mid > 0.0:
            lo, f_lo = mid, f_mid
            if side == -1:  # Illinois: halve the stale end's value so that both ends move
                f_hi *= 0.5
            side = -1
        else:
            hi, f_hi = mid, f_mid
            if side == 1:
                f_lo *= 0.5
            side = 1
    f_lo, f_hi = excess(lo), excess(hi)
    s_half = lo + f_lo * (hi - lo) / (f_lo - f_hi)
    # standard error of p at the edge (per-probe weights interpolated) and the slope of p on a wider scale
    u = (s_half - lo) / (hi - lo)
    w_half = (1.0 - u) * cache[lo] + u * cache[hi]
    se_p = float(w_half.std(ddof=1) / math.sqrt(probe.n))
    s_minus, s_plus = 0.85 * s_half, 1.15 * s_half
    slope = (excess(s_plus) - excess(s_minus)) / (s_plus - s_minus)
    se = se_p / abs(slope) if slope != 0.0 else math.inf
    return Estimate(float(s_half), float(se), probe.n)
