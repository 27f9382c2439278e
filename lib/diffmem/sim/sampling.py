"""Samplers of the empirical diffusion: direct marginals and reverse trajectories.

* :func:`sample_marginal` draws ``x = e^{-t} a^mu + sqrt(Delta_t) xi`` with ``mu`` uniform: exact samples of
  ``P^e_t``, which is also the exact marginal of the empirical reverse process started from ``P^e_T``.
* :func:`sample_reverse` runs the reverse process from ``P^e_T`` down to the requested times with

  - ``"ancestral"``: the exact bridge sampler (any step size): draw ``mu ~ w(x_t)``, then
    ``x_s ~ N(e^{-s} a^mu + (Delta_s e^{-(t-s)} / Delta_t)(x_t - e^{-t} a^mu), Delta_s Delta_{t-s} / Delta_t)``;
  - ``"sde"``: Euler-Maruyama for ``dx = [x + 2 grad log P^e_t(x)] dtau + sqrt(2) dW``;
  - ``"ode"``: Heun's second-order method for the probability-flow ODE ``dx/dtau = x + grad log P^e_t(x)``;

  the last two on a log-spaced grid of ``steps`` intervals (the requested times are added to the grid).

Serves the chapter "Diffusion with the empirical score" (THEORY.md section 2).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backend
from .._checks import as_data, as_points, count, float_dtype
from .schedule import check_time, delta, log_time_grid
from .score import empirical_score, sample_posterior_index

__all__ = ["METHODS", "draw_around_patterns", "pattern_index", "sample_marginal", "sample_reverse"]

#: Reverse-process integrators accepted by :func:`sample_reverse`.
METHODS = ("ancestral", "sde", "ode")
# Above this many multiply-adds a reverse run shows a progress bar unless told otherwise.
_PROGRESS_WORK = 2e10


def pattern_index(index, P: int, n: int, rng, xp):
    """Pattern index of each of `n` draws: uniform (``None``), one pattern for all (int) or one per draw.

    Parameters
    ----------
    index : None, int or (n,) int array
        ``None`` draws ``n`` indices uniformly in ``[0, P)`` from `rng`.
    P : int
        Number of patterns.
    n : int
        Number of draws.
    rng : Generator or None
        Used only when `index` is ``None``.
    xp : module
        Array module of the result.

    Returns
    -------
    (n,) int array
        On module `xp`.

    Raises
    ------
    ValueError
        If `index` is not None, an int in ``[0, P)`` or an ``(n,)`` int array with entries in ``[0, P)``.
    """
    if index is None:
        return rng.integers(0, P, size=n)
    if isinstance(index, bool):
        raise ValueError(f"index must be None, an int or an (n,) int array in [0, P={P}), got {index!r}")
    if isinstance(index, numbers.Integral):
        if not 0 <= index < P:
            raise ValueError(f"index must be in [0, P={P}), got {index!r}")
        return xp.full(n, int(index), dtype=xp.int64)
    idx = backend.to_numpy(index)
    if idx.shape != (n,) or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"index must be None, an int or an (n,) int array with n={n}, got {index!r}")
    if idx.min() < 0 or idx.max() >= P:
        raise ValueError(f"index entries must be in [0, P={P}), got range [{idx.min()}, {idx.max()}]")
    return xp.asarray(idx, dtype=xp.int64)


def draw_around_patterns(data, t, n, s: float = 1.0, index=None, seed=None, n_name: str = "n"):
    """Validated draws ``x = e^{-t} a^mu + sqrt(s Delta_t) xi`` (``xi ~ N(0, I_N)``) and their patterns: ``(x, mu)``.

    The one sampler behind :func:`sample_marginal` (``s = 1``, uniform ``mu``: exact draws of ``P^e_t``) and
    :func:`diffmem.probe_points`, whose docstrings describe the arguments, the ``(n, N)`` draws on the backend of
    `data`, the ``(n,)`` pattern indices and the errors. `s` (>= 0) is trusted (the caller validates it), `index`
    is read by :func:`pattern_index`, and `n_name` is how errors name `n`.
    """
    xp, data = as_data(data)
    t = float(check_time(t))
    n = count(n, n_name)
    rng = backend.default_rng(seed, xp)
    mu = pattern_index(index, data.shape[0], n, rng, xp)
    xi = rng.standard_normal((n, data.shape[1]))
    return math.exp(-t) * data[mu] + math.sqrt(s * float(delta(t))) * xi, mu


def sample_marginal(data, t, n, seed=None, return_index: bool = False):
    """Exact samples of the empirical marginal ``P^e_t``.

    Parameters
    ----------
    data : (P, N) array
        Training points.
    t : float
        Forward time, > 0.
    n : int
        Number of samples.
    seed : int, Generator or None
    return_index : bool
        Also return the index of the pattern each sample was drawn around.

    Returns
    -------
    x : (n, N) array
        On the backend of `data`.
    mu : (n,) int array
        Only if `return_index`.
    """
    x, mu = draw_around_patterns(data, t, n, seed=seed)
    return (x, mu) if return_index else x


def _reverse_grid(times, t_max, steps, method):
    """Forward-time grid from t_max down to min(times), containing every requested time."""
    if method == "ancestral":
        grid = np.asarray(times)
    else:
        grid = np.concatenate([log_time_grid(t_max, float(np.min(times)), steps), times])
    grid = np.unique(np.concatenate([[t_max], grid]))[::-1]
    return grid


def sample_reverse(data, n, times, method: str = "ancestral", steps: int = 200, t_max: float = 5.0, seed=None,
                   progress=None, dtype=None, chunk=None, memory_budget=None, start=None):
    """Run the empirical reverse process from ``P^e_{t_max}`` (or from `start`) and return its states at `times`.

    Parameters
    ----------
    data : (P, N) array
        Training points (NumPy or CuPy; the states live on the same backend).
    n : int
        Number of trajectories.
    times : float or (K,) array_like
        Forward times at which to record the state, each in ``(0, t_max]``.
    method : {"ancestral", "sde", "ode"}
        Exact bridge sampler, Euler-Maruyama, or Heun on the probability-flow ODE.
    steps : int
        Intervals of the log-spaced grid from `t_max` to ``min(times)`` (ignored by ``"ancestral"``, which is exact
        for any step). THEORY.md section 2: Euler-Maruyama needs about 200 for collapse statistics within ~0.03.
    t_max : float
        Starting time; the start is an exact draw from ``P^e_{t_max}``.
    seed : int, Generator or None
    progress : bool or None
        Show a ``tqdm`` bar; ``None`` shows one for long runs only.
    dtype, chunk, memory_budget
        Passed to the score engine.
    start : (n, N) array or None
        States at `t_max` to start from (for instance ``e^{-t} a^1 + sqrt(s Delta_t) xi`` to probe the basin of a
        training point, chapter "Trap times"); by default an exact draw from ``P^e_{t_max}``.

    Returns
    -------
    (K, n, N) array
        ``states[k]`` is the ensemble at ``times[k]`` (in the order given).

    Raises
    ------
    ValueError
        Unknown `method`, times outside ``(0, t_max]``, bad counts, `start` not of shape ``(n, N)`` or not finite.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    xp, data = as_data(data, float_dtype(dtype))
    n = count(n, "n")
    steps = count(steps, "steps")
    t_max = float(check_time(t_max, "t_max"))
    times_arr = np.atleast_1d(check_time(times, "times"))
    if times_arr.ndim != 1:
        raise ValueError(f"times must be a scalar or a 1-D array, got shape {times_arr.shape}")
    if np.any(times_arr > t_max):
        raise ValueError(f"times must be <= t_max={t_max}, got max(times)={times_arr.max()!r}")
    grid = _reverse_grid(times_arr, t_max, steps, method)
    rng = backend.default_rng(seed, xp)
    P, N = data.shape
    engine = {"dtype": dtype, "chunk": chunk, "memory_budget": memory_budget}

    if start is None:
        x = sample_marginal(data, t_max, n, seed=rng)
    else:
        x = as_points(start, "start", N=N, dtype=data.dtype, xp=xp, shape="(n, N)")
        if x.shape != (n, N):
            raise ValueError(f"start must have shape (n, N) = {(n, N)}, got {x.shape}")
        x = x.copy()  # the caller's array is never modified
    record = {}
    if t_max in times_arr:
        record[t_max] = x.copy()
    intervals = list(zip(grid[:-1], grid[1:], strict=True))
    if progress is None:
        progress = len(intervals) * n * P * N * (2 if method == "ode" else 1) > _PROGRESS_WORK
    if progress:
        from tqdm.auto import tqdm  # noqa: PLC0415 - only when a bar is wanted

        intervals = tqdm(intervals, desc=f"reverse {method}", leave=False)

    for t, s in intervals:
        t, s = float(t), float(s)
        h = t - s
        if method == "ancestral":
            mu = sample_posterior_index(x, data, t, rng, **engine)
            anchor = data[mu]
            d_t, d_s, d_ts = delta(t), delta(s), delta(t - s)
            mean = math.exp(-s) * anchor + (d_s * math.exp(-(t - s)) / d_t) * (x - math.exp(-t) * anchor)
            x = mean + math.sqrt(d_s * d_ts / d_t) * rng.standard_normal(x.shape, dtype=x.dtype)
        elif method == "sde":
            drift = x + 2.0 * empirical_score(x, data, t, **engine)
            x = x + h * drift + math.sqrt(2.0 * h) * rng.standard_normal(x.shape, dtype=x.dtype)
        else:
            k1 = x + empirical_score(x, data, t, **engine)
            x_pred = x + h * k1
            k2 = x_pred + empirical_score(x_pred, data, s, **engine)
            x = x + 0.5 * h * (k1 + k2)
        if np.any(times_arr == s):
            record[s] = x.copy()
    return xp.stack([record[float(tk)] for tk in times_arr])
