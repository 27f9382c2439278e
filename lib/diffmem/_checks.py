"""Validators shared by the public functions: one wording for every error about a parameter's range."""

from __future__ import annotations

import numbers

import numpy as np

from . import backend

__all__ = ["as_data", "count", "latent_ratio", "positive"]


def positive(value, name: str, meaning: str) -> np.ndarray:
    """`value` as a float64 array whose entries are all finite and > 0.

    Parameters
    ----------
    value : float or array_like
    name : str
        The parameter's name, quoted in the error.
    meaning : str
        What the parameter is (e.g. ``"forward time"``), quoted in the error.

    Returns
    -------
    ndarray
        0-d for a scalar.

    Raises
    ------
    TypeError
        If `value` is a bool or not numeric.
    ValueError
        If it is empty, or any entry is <= 0 or not finite.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number or an array of numbers, got {value!r}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number or an array of numbers, got {value!r}") from exc
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    good = np.isfinite(arr) & (arr > 0)
    if not np.all(good):
        raise ValueError(f"{name} must be finite and > 0 ({meaning}), got {arr[~good].ravel()[0]!r}")
    return arr


def latent_ratio(alpha_D, name: str = "alpha_D") -> float:
    """`alpha_D` (latent dimension D / N) as a float in (0, 1]; ValueError otherwise."""
    if isinstance(alpha_D, bool) or not isinstance(alpha_D, numbers.Real) or not 0.0 < alpha_D <= 1.0:
        raise ValueError(f"{name} must be in (0, 1] (the latent dimension ratio D / N), got {alpha_D!r}")
    return float(alpha_D)


def count(value, name: str, minimum: int = 1) -> int:
    """`value` as an int >= `minimum` (a number of points, steps, samples...); ValueError naming it otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        allowed = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def as_data(data, dtype=None):
    """A training set `data` as a finite, non-empty 2-D array on its own backend.

    Parameters
    ----------
    data : (P, N) array_like
        Training points (NumPy or CuPy; the result stays on the same backend).
    dtype : dtype or None
        Floating type of the result; float64 by default.

    Returns
    -------
    xp : module
        The array module of `data` (``numpy`` or ``cupy``).
    data : (P, N) array
        `data` converted to `dtype` (no copy when it already is).

    Raises
    ------
    ValueError
        If `data` is not 2-D, has no pattern or no dimension, or contains NaN or inf.
    """
    xp = backend.get_array_module(data)
    data = xp.asarray(data, dtype=np.float64 if dtype is None else dtype)
    if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] == 0:
        raise ValueError(f"data must be a non-empty 2-D array of shape (P, N), got shape {data.shape}")
    if not bool(xp.isfinite(data).all()):
        raise ValueError("data contains NaN or inf; all patterns must be finite")
    return xp, data
