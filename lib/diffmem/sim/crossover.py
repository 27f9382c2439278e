"""The finite-N collapse crossover: its midpoint from a measured curve, and its exact value for Gaussian data.

* :func:`collapse_curve` measures the collapse fraction ``P(w_max > 1/2)`` at several times, on direct samples of
  ``P^e_t`` or on given states (reverse trajectories), averaged over one or several datasets.
* :func:`crossover_midpoint` reads the time ``t_1/2`` at which a measured collapse fraction ``P(w_max > 1/2)``
  crosses 1/2 off a curve with error bars, and propagates the error bars into an :class:`~diffmem.Estimate`.
* :func:`gaussian_collapse_fraction` computes ``P(w_max > 1/2)`` on direct samples of ``P^e_t`` for isotropic
  Gaussian data, averaged over datasets, at any ``N`` and ``P = e^{alpha N}`` (``P`` up to ``e^{700}`` and beyond),
  without ever drawing the ``P`` patterns.

The second rests on an exact reduction. Write ``y = e^t x = a^1 + h xi`` (``h^2 = e^{2t} - 1``) for a sample drawn
around the pattern ``a^1``; the weight of pattern ``mu`` is ``exp(-Y_mu / (2 h^2))`` with ``Y_mu = |y - a^mu|^2``.
Given ``R = |y|^2``:

* ``R / (1 + h^2)`` is chi-square with ``N`` degrees of freedom;
* the own pattern sits at ``Y_1 = Delta_t W``, ``W`` noncentral chi-square (``N``, noncentrality ``Delta_t R``),
  since ``a^1 | y ~ N(y / (1 + h^2), Delta_t I)``;
* the other ``P - 1`` patterns are independent of ``y``: their ``Y_mu`` are i.i.d. noncentral chi-square
  (``N``, noncentrality ``R``), a random energy model.

The computation integrates over ``R`` by Gauss-Hermite quadrature (after the exact map of ``R`` to a standard
normal), draws the own distance and the ``top`` closest other patterns exactly (order statistics of ``P - 1``
uniforms pushed through the noncentral chi-square CDF, tabulated in log space down to its ``e^{-800}`` tail), and
replaces the remaining patterns, each lighter than the ``top``-th, by a Gamma-distributed sum with their exact
conditional mean and variance (with ``P - 1 <= top`` every pattern is drawn and nothing is approximated). Serves the
chapter "Collapse" (THEORY.md section 8).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy import special, stats

from .. import backend
from .._checks import as_data, check_seed, count, in_range, nonnegative, numeric, positive, real
from .diagnostics import Estimate, collapse_fraction
from .sampling import sample_marginal
from .schedule import check_time

__all__ = ["collapse_curve", "crossover_midpoint", "gaussian_collapse_fraction"]


# ------------------------------------------------------------------------------------------------- measured curve
def collapse_curve(data, t, n: int | None = None, seed=None, states=None, threshold: float = 0.5,
                   **engine) -> Estimate:
    """Collapse fraction ``P(w_max > threshold)`` at each time, with its standard error.

    Parameters
    ----------
    data : (P, N) array, or a sequence of such arrays
        Training points; with several datasets (same shape) the fraction is averaged over them.
    t : (T,) array_like
        Forward times, > 0.
    n : int, optional
        Direct samples of ``P^e_t`` per time and dataset (exact marginals of the reverse process, THEORY.md
        section 2). Required unless `states` is given.
    seed : int, Generator or None
        Seed of the direct samples.
    states : (T, n, N) array, or a sequence of them (one per dataset), optional
        Points at the times `t` (e.g. ``sample_reverse(data, n, t)``), used instead of direct samples.
    threshold : float in (0, 1)
    **engine
        ``dtype``, ``chunk``, ``memory_budget`` for the score engine.

    Returns
    -------
    Estimate
        ``value`` and ``stderr`` are (T,) arrays; ``n`` is the number of points per time (over all datasets). With
        several datasets the error is the spread over datasets (the dataset-to-dataset fluctuation is real at small
        ``N``), never below the binomial error of all the points.

    Raises
    ------
    ValueError
        Neither or both of `n` and `states`, `states` not matching the datasets and times, bad times.

    References
    ----------
    Chapters "Diffusion with the empirical score" and "Collapse".
    """
    t_arr = np.atleast_1d(check_time(t))
    if t_arr.ndim != 1:
        raise ValueError(f"t must be a scalar or a 1-D array, got shape {t_arr.shape}")
    several = isinstance(data, list | tuple) or getattr(data, "ndim", None) == 3
    datasets = [as_data(d)[1] for d in (data if several else [data])]
    if not datasets:
        raise ValueError("data must be a (P, N) array or a non-empty list of them")
    threshold = in_range(threshold, "threshold", 0.0, 1.0, meaning="largest posterior weight")
    if (n is None) == (states is None):
        raise ValueError("give exactly one of n (direct samples of P^e_t) and states (points at the times t)")
    if states is not None:
        if not (hasattr(states, "ndim") or isinstance(states, list | tuple)):
            raise TypeError(f"states must be a (T, n, N) array of numbers or a list of them, got {states!r}")
        states = [states] if getattr(states, "ndim", None) == 3 else list(states)
        states = [st if hasattr(st, "__cuda_array_interface__") else numeric(st, "states", "a (T, n, N) array of "
                                                                             "numbers") for st in states]
        if len(states) != len(datasets):
            raise ValueError(f"states must hold one (T, n, N) array per dataset ({len(datasets)}), got {len(states)}")
        for st in states:
            if st.ndim != 3 or st.shape[0] != t_arr.size or st.shape[1] != states[0].shape[1]:
                raise ValueError(f"states must have shape (T, n, N) with T = {t_arr.size} and one n, got {st.shape}")
    else:
        n = count(n, "n")
        rng = backend.default_rng(seed, backend.get_array_module(datasets[0]))
    per = np.empty((len(datasets), t_arr.size))
    for j, d in enumerate(datasets):
        for k, tk in enumerate(t_arr):
            x = states[j][k] if states is not None else sample_marginal(d, float(tk), n, seed=rng)
            per[j, k] = collapse_fraction(x, d, float(tk), threshold=threshold, **engine).value
    m = states[0].shape[1] if states is not None else n
    n_tot = len(datasets) * m
    mean = per.mean(axis=0)
    binomial = np.sqrt(np.maximum(mean * (1.0 - mean), 0.25 / n_tot) / n_tot)
    spread = per.std(axis=0, ddof=1) / math.sqrt(len(datasets)) if len(datasets) > 1 else 0.0
    return Estimate(mean, np.maximum(spread, binomial), int(n_tot))


# ---------------------------------------------------------------------------------------------------- midpoint
def crossover_midpoint(t, value, stderr, level: float = 0.5, window: tuple[float, float] = (0.15, 0.85)) -> Estimate:
    """Time at which a decreasing collapse-fraction curve crosses `level`, with its standard error.

    A weighted straight line in ``log t`` is fitted to the points whose value lies in `window` (at least the two
    points that bracket the crossing); the crossing of that line, and its error by the delta method from the fit's
    covariance, are returned.

    Parameters
    ----------
    t : (K,) array_like
        Forward times, > 0, in any order.
    value : (K,) array_like
        Collapse fractions ``P(w_max > 1/2)`` at `t` (decreasing in ``t`` up to noise).
    stderr : (K,) array_like
        Their standard errors (> 0; zeros are raised to ``1e-3`` so that saturated points do not dominate).
    level : float in (0, 1)
        The crossing level.
    window : (float, float)
        Values used by the fit.

    Returns
    -------
    Estimate
        ``value = t_1/2``, its ``stderr``, and ``n`` = number of points in the fit.

    Raises
    ------
    TypeError
        For non-numeric `t`, `value`, `stderr` or `level`.
    ValueError
        For mismatched shapes, non-positive times, non-finite values, negative errors, a `level` outside (0, 1), a
        `window` that is not a pair ``lo < hi``, or a curve that never crosses `level`.
    """
    t = np.asarray(positive(t, "t", "forward time"), dtype=np.float64).ravel()
    v = real(value, "value").ravel()
    e = nonnegative(stderr, "stderr", "standard errors").ravel()
    if not (t.shape == v.shape == e.shape) or t.size < 2:
        raise ValueError(f"t, value and stderr must be 1-D of one length >= 2, got {t.shape}, {v.shape}, {e.shape}")
    level = in_range(level, "level", 0.0, 1.0, meaning="the crossing level")
    if (isinstance(window, str) or np.ndim(window) != 1 or len(window) != 2
            or not all(isinstance(w, numbers.Real) and math.isfinite(w) for w in window) or not window[0] < window[1]):
        raise ValueError(f"window must be a pair (lo, hi) of numbers with lo < hi, got {window!r}")
    order = np.argsort(t)
    x, v, e = np.log(t[order]), v[order], np.maximum(e[order], 1e-3)
    above = v >= level
    cross = np.flatnonzero(above[:-1] & ~above[1:])
    if cross.size == 0:
        raise ValueError(f"the curve never crosses {level} from above as t grows (values {v.min():.3g}..{v.max():.3g})")
    k = int(cross[0])
    use = (v >= window[0]) & (v <= window[1])
    use[k] = use[k + 1] = True
    # keep the contiguous run of points around the crossing
    lo, hi = k, k + 1
    while lo > 0 and use[lo - 1]:
        lo -= 1
    while hi < x.size - 1 and use[hi + 1]:
        hi += 1
    xs, vs, ws = x[lo:hi + 1], v[lo:hi + 1], 1.0 / e[lo:hi + 1] ** 2
    # weighted least squares v = c0 + c1 (x - xbar)
    xbar = float(np.sum(ws * xs) / np.sum(ws))
    dx = xs - xbar
    s0, s2 = float(np.sum(ws)), float(np.sum(ws * dx * dx))
    c0 = float(np.sum(ws * vs) / s0)
    c1 = float(np.sum(ws * dx * vs) / s2)
    if c1 >= 0.0:
        raise ValueError("the fitted collapse fraction does not decrease with t near the crossing")
    x_half = xbar + (level - c0) / c1
    # delta method: var(c0) = 1/s0, var(c1) = 1/s2, independent (centred design)
    dx_half = x_half - xbar
    var = (1.0 / s0 + dx_half**2 / s2) / c1**2
    t_half = math.exp(x_half)
    return Estimate(t_half, t_half * math.sqrt(var), int(xs.size))


# ------------------------------------------------------------------------------------- exact Gaussian crossover
def _log_exprel(d):
    """log((e^d - 1) / d), stable for all real d (0 at d = 0)."""
    d = np.asarray(d, dtype=np.float64)
    out = np.empty_like(d)
    small = np.abs(d) < 1e-6
    out[small] = 0.5 * d[small]
    pos = (d > 0) & ~small
    out[pos] = d[pos] + np.log(-np.expm1(-d[pos]) / d[pos])
    neg = (d < 0) & ~small
    out[neg] = np.log(-np.expm1(d[neg]) / -d[neg])
    return out


def _ncx2_logpdf(y, N, R):
    """Log-density of the noncentral chi-square law (N, R), finite where scipy's underflows to -inf.

    scipy evaluates the density itself, so its log is -inf below ~1e-308: exactly the lower tail that the closest
    of ``P = e^{alpha N}`` patterns reach when ``alpha N`` is large. There the Bessel form
    ``log p = -log 2 - (y + R)/2 + (v/2) log(y/R) + log I_v(sqrt(R y))``, ``v = N/2 - 1``, is used, with
    ``log I_v(z) = log(ive(v, z)) + z`` and, where ``ive`` fails (nan for huge z, 0 for large v), Hankel's or
    Debye's expansion.
    """
    logp = stats.ncx2.logpdf(y, N, R)
    bad = ~np.isfinite(logp)
    if bad.any():
        yb = y[bad]
        v = 0.5 * N - 1.0
        z = np.sqrt(R * yb)
        with np.errstate(divide="ignore"):
            log_ive = np.log(special.ive(v, z))  # log I_v(z) - z
        # scipy's ive is nan beyond z ~ 1e9 (R ~ e^40 at t = 20): Hankel's expansion, exact to O(v^4 / z^2) there
        large = ~np.isfinite(log_ive) & (z > 100.0 * (v * v + 1.0))
        log_ive[large] = -0.5 * np.log(2.0 * math.pi * z[large]) + np.log1p(-(4.0 * v * v - 1.0) / (8.0 * z[large]))
        deep = ~np.isfinite(log_ive)
        if deep.any() and v > 0:
            w = z[deep] / v
            sq = np.sqrt(1.0 + w * w)
            p = 1.0 / sq
            eta = sq + np.log(w / (1.0 + sq))
            log_ive[deep] = (-0.5 * math.log(2.0 * math.pi * v) - 0.5 * np.log(sq) + v * eta - z[deep]
                             + np.log1p((3.0 * p - 5.0 * p**3) / (24.0 * v)))
        # -(y + R)/2 + z = -(sqrt y - sqrt R)^2 / 2, without the cancellation of two huge terms (R ~ e^40 at t = 20)
        logp[bad] = (-math.log(2.0) - 0.5 * (np.sqrt(yb) - math.sqrt(R)) ** 2 + 0.5 * v * np.log(yb / R)
                     + log_ive)
    return logp


def _log_segments(y, logf):
    """Log of the integrals of exp(logf) over the grid intervals, logf taken linear on each interval."""
    return np.log(np.diff(y)) + logf[:-1] + _log_exprel(np.diff(logf))


def _chernoff_lower(N, R, log_n, target):
    """A point c below which n P(Y < c) < e^target for Y ~ ncx2(N, R) (Chernoff bound, bisection in c)."""
    mean = N + R

    def bound(c):  # log n + min_s [s c + log E e^{-sY}]
        def g(s):
            return s * c - 0.5 * N * math.log1p(2.0 * s) - R * s / (1.0 + 2.0 * s)

        # the minimiser solves c = N/(1+2s) + R/(1+2s)^2: a quadratic in u = 1/(1+2s)
        u = 2.0 * c / (N + math.sqrt(N * N + 4.0 * R * c))
        s = max(0.5 * (1.0 / u - 1.0), 0.0)
        return log_n + g(s)

    lo, hi = 1e-12 * mean, mean
    if bound(lo) > target:
        return lo
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if bound(mid) > target:
            hi = mid
        else:
            lo = mid
        if hi - lo < 1e-9 * mean:
            break
    return lo


class _Levels:
    """Tabulated law of the other patterns' distances Y ~ ncx2(N, R) at one R: log CDF and tilted tail integrals."""

    def __init__(self, N, R, tau, y_ref, log_n, full, n_grid):
        tilt = 1.0 + 2.0 * tau
        lo = _chernoff_lower(N, R, log_n, -40.0)
        if full:  # every pattern is drawn: cover the whole law
            hi = N + R + 14.0 * math.sqrt(2.0 * (N + 2.0 * R))
        else:  # the closest patterns and the tilted tail integrals: up to the tilted law's bulk
            hi = (N + R / tilt) / tilt + 14.0 * math.sqrt(2.0 * (N + 2.0 * R / tilt)) / tilt
        # at tiny t (huge tilt) the tilted bulk can end below the closest pattern: keep the grid increasing
        hi = max(hi, lo + 14.0 * math.sqrt(2.0 * (N + 2.0 * R)))
        y = np.linspace(lo, hi, n_grid)
        if N < 2:  # p ~ y^{-1/2} near 0: a geometric first interval resolves the integrable singularity
            y = np.concatenate([np.geomspace(lo, y[1], 64)[:-1], y[1:]])
        # a finite floor (for a density beyond even the Bessel form) keeps the differences and log-sum-exps below
        # free of inf - inf, and weighs those points as nothing
        logp = np.maximum(_ncx2_logpdf(y, N, R), -1e300)
        # F(lo) from the exponential tail p(y) ~ p(lo) e^{k (y - lo)}, k = d log p / dy at lo, or, near y = 0 where
        # p ~ y^{N/2 - 1} does not grow (N <= 2), from that power law: F(lo) = p(lo) lo / (N/2)
        k = max((logp[1] - logp[0]) / (y[1] - y[0]), 0.5 * N / lo, 1e-300)
        logF0 = logp[0] - math.log(k)
        self.y = y
        self.logF = np.logaddexp.accumulate(np.concatenate([[logF0], _log_segments(y, logp)]))
        if full:
            self.logF -= self.logF[-1]
        # tail integrals of w^j p from y to hi, w = exp(-tau (Y - y_ref)), j = 1, 2
        self.logB = []
        for j in (1, 2):
            lf = logp - j * tau * (y - y_ref)
            seg = _log_segments(y, lf)
            rev = np.logaddexp.accumulate(seg[::-1])[::-1]
            self.logB.append(np.concatenate([rev, [-np.inf]]))

    def inverse_cdf(self, log_u):
        return np.interp(log_u, self.logF, self.y)

    def log_cdf(self, c):
        return np.interp(c, self.y, self.logF)

    def log_tail(self, j, c):
        return np.interp(c, self.y, self.logB[j - 1])


def _collapse_at_t(t, N, log_P, P_int, n_nodes, per_node, top, n_grid, rng):
    h2 = math.expm1(2.0 * t)
    dlt = -math.expm1(-2.0 * t)
    tau = 0.5 / h2
    y_ref = N * h2
    n_other = (P_int - 1) if P_int is not None else None  # None: too many to count exactly (P > 2^53)
    if n_other is None:
        log_n = log_P + math.log1p(-math.exp(-log_P))
    else:
        log_n = math.log(n_other) if n_other > 0 else -math.inf
    z, wz = np.polynomial.hermite_e.hermegauss(n_nodes)
    wz = wz / wz.sum()
    # R / (1 + h^2) ~ chi2_N, mapped from a standard normal (upper half through isf for accuracy)
    X = np.where(z < 0, stats.chi2.ppf(special.ndtr(z), N), stats.chi2.isf(special.ndtr(-z), N))
    p_nodes = np.empty(n_nodes)
    full = n_other is not None and n_other <= top
    for k, R in enumerate((1.0 + h2) * X):
        own = dlt * rng.noncentral_chisquare(N, dlt * R, size=per_node)
        logw = [-tau * (own - y_ref)]
        if n_other == 0:
            p_nodes[k] = 1.0
            continue
        levels = _Levels(N, R, tau, y_ref, log_n, full, n_grid)
        if full:
            u = rng.random((per_node, n_other))
            ys = levels.inverse_cdf(np.log(u))
            logw.append(-tau * (ys - y_ref))
        else:
            gam = np.cumsum(rng.standard_exponential((per_node, top)), axis=1)
            # U_(j) = Gamma_j / Gamma_{n+1}; Gamma_{n+1} - Gamma_top ~ Gamma(n + 1 - top), ~ n for huge n
            if log_n < 30.0:
                rest = rng.standard_gamma(math.exp(log_n) + 1.0 - top, size=(per_node, 1))
                log_den = np.log(gam[:, -1:] + rest)
            else:
                log_den = log_n + np.log1p(gam[:, -1:] * math.exp(-log_n))
            ys = levels.inverse_cdf(np.log(gam) - log_den)
            logw.append(-tau * (ys - y_ref))
            # the other n - top patterns: i.i.d. beyond Y_(top), one sum of many small weights
            c = ys[:, -1]
            log_cnt = log_n + math.log1p(-top * math.exp(-log_n))  # log(n - top)
            # S(c) = 1 - F(c), as log(-expm1(log F)): finite (-690) even where F(c) rounds to 1
            log_S = np.log(-np.expm1(np.minimum(levels.log_cdf(c), -1e-300)))
            lb1, lb2 = levels.log_tail(1, c) - log_S, levels.log_tail(2, c) - log_S
            empty = ~np.isfinite(lb2)  # beyond the tabulated range the tail weighs nothing
            lb1, lb2 = np.where(empty, -1e300, lb1), np.where(empty, 0.0, lb2)
            log_mean = log_cnt + lb1
            # log(1 - ratio), ratio = B1^2 / B2 <= 1, floored at log(1e-300): a tail concentrated on one level has
            # ratio 1, where log1p(-ratio + 1e-300) was log1p(-1)
            log_ratio = np.minimum(2.0 * lb1 - lb2, 0.0)
            log_var = log_cnt + lb2 + np.log(np.maximum(-np.expm1(log_ratio), 1e-300))
            # a positive, skewed sum of many terms: a Gamma law with its exact mean and variance
            shape = np.where(empty, 1.0, np.exp(np.clip(2.0 * log_mean - log_var, -700.0, 700.0)))
            frac = rng.standard_gamma(shape) / shape
            logw.append((log_mean + np.log(np.maximum(frac, 1e-300)))[:, None])
        lw = np.concatenate([logw[0][:, None]] + logw[1:], axis=1)
        log_tot = special.logsumexp(lw, axis=1)
        n_single = lw.shape[1] - (0 if full else 1)  # the bulk is a sum of many patterns, not one of them
        p_nodes[k] = np.mean(lw[:, :n_single].max(axis=1) - log_tot > -math.log(2.0))
    value = min(max(float(wz @ p_nodes), 0.0), 1.0)  # a probability: wz @ ones can round to 1 + 2e-16
    err = math.sqrt(float(np.sum(wz**2 * np.maximum(p_nodes * (1 - p_nodes), 0.25 / per_node) / per_node)))
    return value, err


def gaussian_collapse_fraction(t, N: int, alpha: float, n_samples: int = 4096, n_nodes: int = 16, top: int = 64,
                               n_grid: int = 1200, seed=None) -> Estimate:
    """Exact finite-N collapse fraction ``P(w_max > 1/2)`` of isotropic Gaussian data, without drawing the patterns.

    For ``a^mu ~ N(0, I_N)``, ``P = e^{alpha N}`` patterns (rounded to an integer when below 2^53) and ``x`` a direct
    sample of ``P^e_t``, averaged over datasets: the quantity that :func:`diffmem.collapse_fraction` estimates on one
    dataset. The reduction to three one-dimensional laws is described in the module docstring; with
    ``P - 1 <= top`` it is exact up to quadrature in ``R`` and Monte Carlo error; above it the patterns lighter than
    the ``top``-th closest enter as one Gamma-distributed sum with their exact mean and variance (the result moves by
    less than its Monte Carlo error between ``top = 16`` and ``top = 1024``, ``tests/test_crossover.py``).

    Parameters
    ----------
    t : float or (T,) array_like
        Forward time(s), > 0.
    N : int
        Dimension.
    alpha : float
        ``log P / N`` (> 0).
    n_samples : int
        Monte Carlo samples per time, split evenly over the `n_nodes` quadrature nodes in ``R``.
    n_nodes : int
        Gauss-Hermite nodes for ``R = |e^t x|^2``.
    top : int
        Closest other patterns drawn exactly (the rest enter through their mean and variance).
    n_grid : int
        Grid points tabulating the noncentral chi-square law at each node.
    seed : int, Generator or None
        The same seed is reused at every time (common random numbers: a smooth curve in ``t``).

    Returns
    -------
    Estimate
        Floats for a scalar `t`, (T,) arrays otherwise; ``n`` = Monte Carlo samples per time.

    Raises
    ------
    ValueError
        For non-positive `t` or `alpha`, or counts below their minimum.
    """
    t_arr = positive(t, "t", "forward time")
    N = count(N, "N")
    alpha = float(positive(alpha, "alpha", "alpha = log P / N"))
    n_nodes = count(n_nodes, "n_nodes")
    top = count(top, "top", minimum=2)
    n_grid = count(n_grid, "n_grid", minimum=50)
    per_node = max(1, count(n_samples, "n_samples") // n_nodes)
    check_seed(seed)
    if isinstance(seed, np.random.Generator):
        # common random numbers at every time: draw one seed from the generator and reuse it
        seed = int(seed.integers(2**63))
    log_P = alpha * N
    P_int = int(round(math.exp(log_P))) if log_P < 36.7 else None  # exact integer below 2^53
    vals, errs = [], []
    for tk in np.atleast_1d(t_arr).ravel():
        rng = np.random.default_rng(seed)
        v, e = _collapse_at_t(float(tk), N, log_P, P_int, n_nodes, per_node, top, n_grid, rng)
        vals.append(v)
        errs.append(e)
    n = per_node * n_nodes
    if t_arr.ndim == 0:
        return Estimate(vals[0], errs[0], n)
    return Estimate(np.reshape(vals, t_arr.shape), np.reshape(errs, t_arr.shape), n)
