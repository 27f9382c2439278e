"""Validators shared by the public functions: one wording for every error about a parameter's range."""

from __future__ import annotations

import numbers

import numpy as np

from . import backend

__all__ = [
    "as_data",
    "as_points",
    "check_callable",
    "check_seed",
    "count",
    "float_dtype",
    "in_range",
    "nonnegative",
    "latent_ratio",
    "numeric",
    "positive",
    "real",
]


def numeric(value, name: str, what: str = "a number or an array of numbers") -> np.ndarray:
    """`value` as a NumPy array of real numbers (int or float dtype, not converted); TypeError naming `name` otherwise.

    Rejects what NumPy would silently turn into numbers: ``None`` (NaN), strings (``"0.5"``), bools and complex
    values, as well as ragged nested lists.
    """
    if value is None or isinstance(value, str | bytes | bool):
        raise TypeError(f"{name} must be {what}, got {value!r}")
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested sequences
        raise TypeError(f"{name} must be {what}, got {type(value).__name__} that is not a regular array") from exc
    if raw.dtype.kind not in "iuf":
        shown = value if raw.size <= 8 else f"an array of dtype {raw.dtype}"
        raise TypeError(f"{name} must be {what}, got {shown!r}")
    return raw


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
    arr = numeric(value, name).astype(np.float64, copy=False)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    good = np.isfinite(arr) & (arr > 0)
    if not np.all(good):
        raise ValueError(f"{name} must be finite and > 0 ({meaning}), got {float(arr[~good].ravel()[0])!r}")
    return arr


def latent_ratio(alpha_D, name: str = "alpha_D") -> float:
    """`alpha_D` (latent dimension D / N) as a float in (0, 1]; ValueError otherwise."""
    if isinstance(alpha_D, bool) or not isinstance(alpha_D, numbers.Real) or not 0.0 < alpha_D <= 1.0:
        raise ValueError(f"{name} must be in (0, 1] (the latent dimension ratio D / N), got {alpha_D!r}")
    return float(alpha_D)


def latent_ratios(alpha_D, name: str = "alpha_D") -> np.ndarray:
    """`alpha_D` as a non-empty float64 array with every entry in (0, 1]; ValueError naming it otherwise."""
    message = f"{name} must be in (0, 1] (the latent dimension ratio D / N), got {{!r}}"
    try:
        arr = numeric(alpha_D, name).astype(np.float64, copy=False)
    except TypeError as exc:
        raise ValueError(message.format(alpha_D)) from exc
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    good = (arr > 0.0) & (arr <= 1.0)  # NaN fails both
    if not np.all(good):
        raise ValueError(message.format(float(arr[~good].ravel()[0])))
    return arr


def count(value, name: str, minimum: int = 1) -> int:
    """`value` as an int >= `minimum` (a number of points, steps, samples...); ValueError naming it otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        allowed = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def nonnegative(value, name: str, meaning: str, allow_inf: bool = False) -> np.ndarray:
    """`value` as a float64 array whose entries are all >= 0 and not NaN (finite unless `allow_inf`).

    Raises
    ------
    TypeError
        If `value` is not numeric.
    ValueError
        If any entry is < 0, NaN, or (without `allow_inf`) infinite.
    """
    arr = numeric(value, name).astype(np.float64, copy=False)
    good = (arr >= 0) & (arr < np.inf) if not allow_inf else arr >= 0
    if not np.all(good):
        allowed = ">= 0 (inf allowed)" if allow_inf else "finite and >= 0"
        raise ValueError(f"{name} must be {allowed} ({meaning}), got {float(arr[~good].ravel()[0])!r}")
    return arr


def real(value, name: str, allow_inf: bool = False) -> np.ndarray:
    """`value` as a float64 array without NaN (and without inf unless `allow_inf`); TypeError / ValueError naming it."""
    arr = numeric(value, name).astype(np.float64, copy=False)
    bad = np.isnan(arr) if allow_inf else ~np.isfinite(arr)
    if np.any(bad):
        allowed = "real numbers (NaN is not allowed)" if allow_inf else "finite (no NaN or inf)"
        raise ValueError(f"{name} must be {allowed}, got {float(arr[bad].ravel()[0])!r}")
    return arr


def in_range(value, name: str, lo: float, hi: float, *, closed: str = "neither", meaning: str = "") -> float:
    """A real scalar `value` in the interval from `lo` to `hi`, as a float.

    Parameters
    ----------
    value : float
    name : str
        Quoted in the error.
    lo, hi : float
        Bounds (``-inf`` / ``inf`` for none).
    closed : {"neither", "left", "right", "both"}
        Which bounds belong to the interval.
    meaning : str
        What the parameter is, quoted in the error.

    Raises
    ------
    TypeError
        If `value` is not a real number (bool, str, None, complex, array...).
    ValueError
        If it is NaN or outside the interval.
    """
    left = "[" if closed in ("left", "both") else "("
    right = "]" if closed in ("right", "both") else ")"
    interval = f"{left}{lo:g}, {hi:g}{right}"
    extra = f" ({meaning})" if meaning else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in {interval}{extra}, got {value!r}")
    v = float(value)
    ok_lo = v >= lo if left == "[" else v > lo
    ok_hi = v <= hi if right == "]" else v < hi
    if not (ok_lo and ok_hi):  # NaN fails both
        raise ValueError(f"{name} must be in {interval}{extra}, got {value!r}")
    return v


def check_seed(seed, name: str = "seed"):
    """`seed` unchanged if NumPy (or CuPy) can seed a generator from it; TypeError / ValueError naming it otherwise.

    Accepted: ``None``, an int >= 0, a sequence of ints >= 0, a ``SeedSequence``, a ``BitGenerator`` or a
    ``Generator`` (NumPy's or CuPy's).
    """
    allowed = "None, an int >= 0, a sequence of ints >= 0 or a random Generator"
    if seed is None or isinstance(seed, np.random.Generator | np.random.SeedSequence | np.random.BitGenerator):
        return seed
    if type(seed).__module__.split(".")[0] == "cupy":  # a CuPy generator: its module checks it
        return seed
    if isinstance(seed, bool | str | bytes) or (isinstance(seed, numbers.Number)
                                                and not isinstance(seed, numbers.Integral)):
        raise TypeError(f"{name} must be {allowed}, got {seed!r}")
    try:
        arr = np.asarray(seed)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be {allowed}, got {seed!r}") from exc
    if arr.dtype.kind not in "iu" or arr.ndim > 1:
        raise TypeError(f"{name} must be {allowed}, got {seed!r}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be {allowed}, got {seed!r}")
    return seed


def float_dtype(dtype, name: str = "dtype") -> np.dtype:
    """`dtype` (None: float64) as a NumPy dtype, float64 or float32; ValueError naming it otherwise."""
    try:
        out = np.dtype(np.float64 if dtype is None else dtype)
    except TypeError as exc:
        raise ValueError(f"{name} must be float64 or float32, got {dtype!r}") from exc
    if out not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"{name} must be float64 or float32, got {out}")
    return out


def check_callable(f, name: str, what: str = "a vectorised function"):
    """`f` unchanged if callable; TypeError naming it otherwise."""
    if not callable(f):
        raise TypeError(f"{name} must be callable ({what}), got {f!r}")
    return f


def as_points(value, name: str = "data", *, N: int | None = None, dtype=None, xp=None, shape: str = "(P, N)"):
    """`value` as a finite, non-empty 2-D array of floats on the backend `xp` (default: its own).

    Parameters
    ----------
    value : (P, N) array_like
    name : str
        Quoted in the errors.
    N : int, optional
        Required number of columns (that of the training points ``data``).
    dtype : dtype or None
        Floating type of the result; float64 by default.
    xp : module, optional
        Array module of the result.
    shape : str
        The expected shape as the docstrings write it, quoted in the errors.

    Returns
    -------
    (P, N) array

    Raises
    ------
    TypeError
        If `value` does not hold real numbers.
    ValueError
        If it is not 2-D, has no row or no column, has not `N` columns, or contains NaN or inf.
    """
    xp = backend.get_array_module(value) if xp is None else xp
    what = f"a {shape} array of numbers"
    if hasattr(value, "__cuda_array_interface__") and not isinstance(value, np.ndarray):
        if value.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be {what}, got an array of dtype {value.dtype}")
    else:
        value = numeric(value, name, what)
    arr = xp.asarray(value, dtype=np.float64 if dtype is None else dtype)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be a 2-D array of shape {shape}, non-empty, got shape {arr.shape}")
    if N is not None and arr.shape[1] != N:
        raise ValueError(f"{name} has N={arr.shape[1]} columns but data has N={N}; they must match (the same N)")
    if not bool(xp.isfinite(arr).all()):
        raise ValueError(f"{name} contains NaN or inf; every entry must be finite")
    return arr


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
    TypeError
        If `data` does not hold real numbers.
    ValueError
        If `data` is not 2-D, has no pattern or no dimension, or contains NaN or inf.
    """
    xp = backend.get_array_module(data)
    return xp, as_points(data, "data", dtype=dtype, xp=xp)
