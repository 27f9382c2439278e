"""The forward Ornstein-Uhlenbeck process and its time grids.

Forward process ``x_t = e^{-t} a + sqrt(Delta_t) xi`` with ``Delta_t = 1 - e^{-2t}``; the rescaled bandwidth
``h_t^2 = e^{2t} - 1 = Delta_t e^{2t}``. Serves the chapter "Diffusion with the empirical score" (THEORY.md section 1).
"""

from __future__ import annotations

import numpy as np

from .._checks import count, positive

__all__ = ["bandwidth2", "check_time", "delta", "log_time_grid"]


def check_time(t, name: str = "t") -> np.ndarray:
    """Validate forward times: finite and strictly positive.

    Returns
    -------
    ndarray
        `t` as a float64 array (0-d for a scalar).

    Raises
    ------
    TypeError
        If `t` is not numeric.
    ValueError
        If any time is <= 0 or not finite.
    """
    return positive(t, name, "forward time")


def delta(t):
    """``Delta_t = 1 - e^{-2t}``, the variance of the noise added by time `t` (computed without cancellation).

    Raises
    ------
    TypeError, ValueError
        As :func:`check_time`: `t` must be finite and > 0.
    """
    return -np.expm1(-2.0 * check_time(t))


def bandwidth2(t):
    """``h_t^2 = e^{2t} - 1``: the squared bandwidth of the kernel density seen in the rescaled coordinate e^t x.

    Raises
    ------
    TypeError, ValueError
        As :func:`check_time`: `t` must be finite and > 0.
    """
    return np.expm1(2.0 * check_time(t))


def log_time_grid(t_max: float, t_min: float, steps: int) -> np.ndarray:
    """A decreasing, log-spaced grid of ``steps + 1`` forward times from `t_max` down to `t_min`.

    Parameters
    ----------
    t_max, t_min : float
        ``t_max > t_min > 0``.
    steps : int
        Number of intervals (>= 1).

    Returns
    -------
    (steps + 1,) ndarray
        ``grid[0] == t_max``, ``grid[-1] == t_min``.
    """
    check_time(t_min, "t_min")
    check_time(t_max, "t_max")
    if not t_max > t_min:
        raise ValueError(f"t_max must be > t_min, got t_max={t_max!r}, t_min={t_min!r}")
    steps = count(steps, "steps")
    grid = np.geomspace(t_max, t_min, int(steps) + 1)
    grid[0], grid[-1] = t_max, t_min
    return grid
