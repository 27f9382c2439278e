"""A memorization meter for any dataset: its collapse time, bracketed by two finite-N measurements.

The large-N collapse time ``t_c`` solves ``i(t_c) = alpha`` (THEORY.md section 4): the information the noisy point
carries about the training point it came from reaches ``log P / N``. For a finite dataset two measurable
crossovers approach it from opposite sides (chapter "Your own data"):

* **entropy** ``t_S``: the excess entropy ``f(t)`` (:func:`diffmem.excess_entropy`) obeys, exactly,
  ``N f(t) = E[log w_own(x)]`` with ``w_own`` the posterior weight of the training point ``x`` was drawn around (the
  identity is proved in the chapter and tested in ``tests/test_meter.py``); :func:`own_log_weight` estimates it in
  that form, without the ``1 / sqrt(2 N)`` per-sample noise of the entropy form. ``t_S`` is where the
  geometric-mean own weight ``exp(N f)`` crosses 1/2. At finite N the condensed phase is entered smoothly and
  ``log w_own`` keeps an ``O(ln N)`` deficit at ``t_c`` itself, so the crossing sits *below* ``t_c``.
* **freeze** ``t_F``: the median, over reverse trajectories (exact ancestral sampler), of the time from which the
  index of the nearest training point no longer changes (:func:`diffmem.stabilization_time`, the criterion of
  Biroli et al. 2024's code). A trajectory must be caught by one basin before its index freezes, which at finite N
  happens on the free side of ``t_c``: ``t_F`` sits *above* ``t_c``.

The meter reports the log-centre ``sqrt(t_S t_F)`` with half the log-width of the bracket (and both Monte Carlo
errors) as its uncertainty. On Gaussian and hidden-manifold data with known ``t_c`` the bracket holds ``t_c`` and
the centre sits 0-12% below it, within the stated uncertainty of 8-17%, in every case tried at N = 24-64
(``tests/test_meter.py``) and in 8 of 9 hidden-manifold datasets at N = 16-32 (chapter "Your own data"; at N = 16 the
freeze side can fall just below ``t_c``). The bracket narrows slowly with N. Everything runs on the backend of the
data (NumPy or CuPy).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import backend
from .._checks import as_data, check_seed, count, positive
from .crossover import crossover_midpoint
from .diagnostics import Estimate, _mean_estimate, stabilization_time
from .sampling import sample_marginal, sample_reverse
from .schedule import check_time
from .traps import _log_pattern_weight

__all__ = ["CollapseTimeEstimate", "estimate_collapse_time", "own_log_weight"]


class CollapseTimeEstimate(NamedTuple):
    """The collapse time of a dataset, with the two finite-N crossovers that bracket it.

    Attributes
    ----------
    value : float
        ``sqrt(t_S t_F)``, the log-centre of the bracket.
    uncertainty : float
        ``value * sqrt(log(t_F / t_S)^2 / 4 + (err_S / t_S)^2 / 4 + (err_F / t_F)^2 / 4)``.
    entropy : Estimate
        ``t_S``, where ``exp(N f(t)) = 1/2`` (geometric-mean own weight one half).
    freeze : Estimate
        ``t_F``, the median freeze time of the nearest-pattern index of reverse trajectories.
    t : (T,) ndarray
        Times at which the excess entropy was measured.
    excess : Estimate
        The excess entropy ``f(t)`` per dimension at those times ((T,) arrays), from :func:`own_log_weight`.
    freeze_times : (n_trajectories,) ndarray
        The freeze time of each trajectory.
    """

    value: float
    uncertainty: float
    entropy: Estimate
    freeze: Estimate
    t: np.ndarray
    excess: Estimate
    freeze_times: np.ndarray


def _median_estimate(samples) -> Estimate:
    """Median with the standard error read off the order statistics (ranks n/2 +- sqrt(n)/2, a binomial sd)."""
    s = np.sort(np.asarray(samples, dtype=np.float64))
    n = s.size
    half = 0.5 * math.sqrt(n)
    lo = s[max(int(math.floor(n / 2 - half)), 0)]
    hi = s[min(int(math.ceil(n / 2 + half)), n - 1)]
    return Estimate(float(np.median(s)), float(0.5 * (hi - lo)), int(n))


def own_log_weight(data, t, n: int, seed=None, **engine) -> Estimate:
    """The excess entropy per dimension as ``f(t) = E[log w_own(x)] / N``, the low-variance form of the estimator.

    ``x`` is drawn around a uniformly chosen training point ``a^mu`` (an exact sample of ``P^e_t``) and ``w_own`` is
    the posterior weight of that point. :func:`diffmem.excess_entropy` averages ``-log P^e_t(x) / N`` minus the
    separated-Gaussians entropy; per sample the two differ by ``(|xi|^2 / N - 1) / 2``, a term of mean zero and
    standard deviation ``1 / sqrt(2 N)`` that this form leaves out.

    Parameters
    ----------
    data : (P, N) array
    t : (T,) array_like
        Forward times, > 0.
    n : int
        Samples per time.
    seed : int, Generator or None

    Returns
    -------
    Estimate
        (T,) arrays of ``f(t)`` and its standard error.
    """
    xp, data = as_data(data)
    N = data.shape[1]
    rng = backend.default_rng(seed, xp)
    values, errors = [], []
    for tk in np.atleast_1d(check_time(t)).ravel():
        tk = float(tk)
        x, mu = sample_marginal(data, tk, n, seed=rng, return_index=True)
        est = _mean_estimate(_log_pattern_weight(x, data, mu, tk, **engine) / N)
        values.append(est.value)
        errors.append(est.stderr)
    return Estimate(np.array(values), np.array(errors), int(n))


def estimate_collapse_time(data, *, n: int = 2048, n_trajectories: int = 256, span=(1e-3, 5.0), points: int = 24,
                           records: int = 120, seed=None, **engine) -> CollapseTimeEstimate:
    """Collapse time of any dataset, from its excess entropy and from the freezing of reverse trajectories.

    Parameters
    ----------
    data : (P, N) array
        Training points (NumPy or CuPy), on the scale the diffusion sees them (standardise first if needed: the
        forward process adds unit-variance noise per coordinate).
    n : int
        Monte Carlo samples of ``P^e_t`` per time for the excess entropy.
    n_trajectories : int
        Reverse trajectories for the freeze times.
    span : (float, float)
        Times searched for the entropy crossing (a coarse scan first, then `points` times around it).
    points : int
        Times of the fine excess-entropy curve, log-spaced from 0.4 to 2.5 times the coarse crossing.
    records : int
        Recorded times of each reverse trajectory, log-spaced from a third to five times ``t_S`` (the resolution
        of the freeze times).
    seed : int, Generator or None
        One seed for the whole measurement (child seeds for its three parts; a Generator gives one int first).
    **engine
        ``dtype``, ``chunk``, ``memory_budget`` for the score engine.

    Returns
    -------
    CollapseTimeEstimate

    Raises
    ------
    ValueError
        Bad data, counts or span; or no entropy crossing within `span` (the data never collapse there, or
        collapse before ``span[0]``: the message says which).
    """
    xp, data = as_data(data)
    P, N = data.shape
    if P < 2:
        raise ValueError(f"data must hold at least 2 training points to collapse onto, got P={P}")
    n = count(n, "n (Monte Carlo samples)", minimum=16)
    n_trajectories = count(n_trajectories, "n_trajectories", minimum=16)
    points = count(points, "points", minimum=6)
    records = count(records, "records", minimum=10)
    span_arr = positive(span, "span", "searched times")
    if span_arr.shape != (2,) or not span_arr[0] < span_arr[1]:
        raise ValueError(f"span must be (t_min, t_max) with 0 < t_min < t_max, got {span!r}")
    lo, hi = float(span_arr[0]), float(span_arr[1])
    check_seed(seed)
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**63))
    s_coarse, s_fine, s_traj = (int(c.generate_state(1, np.uint64)[0])
                                for c in np.random.SeedSequence(seed).spawn(3))

    def own_weight(ts, m, s):
        f = own_log_weight(data, ts, m, seed=s, **engine)
        g = np.exp(N * np.minimum(f.value, 0.0))
        return f, g, N * g * f.stderr

    coarse = np.geomspace(lo, hi, 20)
    _, g0, _ = own_weight(coarse, max(n // 4, 16), s_coarse)
    below = np.nonzero(g0 < 0.5)[0]
    if below.size == 0:
        raise ValueError(f"the geometric-mean own weight stays above 1/2 up to t = {hi}: the data are still "
                         "collapsed there; raise span[1]")
    if below[0] == 0:
        raise ValueError(f"the geometric-mean own weight is below 1/2 already at t = {lo}: the data never "
                         "collapse within span (duplicates? too few points?); lower span[0]")
    t_guess = math.sqrt(coarse[below[0] - 1] * coarse[below[0]])
    t = np.geomspace(max(0.4 * t_guess, lo), min(2.5 * t_guess, hi), points)
    excess, g, g_err = own_weight(t, n, s_fine)
    entropy = crossover_midpoint(t, g, np.maximum(g_err, 1e-12))

    times = np.geomspace(entropy.value / 3.0, 5.0 * entropy.value, records)
    states = sample_reverse(data, n_trajectories, times, t_max=float(times[-1]), seed=s_traj, progress=False,
                            **engine)
    freeze_times = stabilization_time(states, data, times, **engine)
    freeze = _median_estimate(freeze_times)

    log_half = 0.5 * math.log(freeze.value / entropy.value)
    value = math.sqrt(entropy.value * freeze.value)
    rel = math.sqrt(log_half**2 + 0.25 * (entropy.stderr / entropy.value) ** 2
                    + 0.25 * (freeze.stderr / freeze.value) ** 2)
    return CollapseTimeEstimate(value, value * rel, entropy, freeze, t, excess, backend.to_numpy(freeze_times))
