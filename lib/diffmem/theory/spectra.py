"""Spectral measures of data covariances: realised eigenvalues or the Marchenko-Pastur limit.

Every theory formula of the book is an average ``<f> = (1/N) sum_k f(lambda_k)`` over the eigenvalues of the data
covariance. A :class:`Spectrum` holds that measure as nodes and weights, so the same code serves a finite-N model
(the realised eigenvalues, weight 1/N each) and the N -> infinity model (a quadrature of the limiting law, with an
atom at 0 for a manifold of dimension D < N). The Marchenko-Pastur law itself is here in every form the book uses:
edges, density, CDF and quantile function in closed form, Gauss quadrature, and its Shannon-type transforms.

Serves the chapter "The hidden manifold model" (covariance spectrum vs Marchenko-Pastur).
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass

import numpy as np
from scipy import interpolate, linalg

from .._checks import count, numeric, real

__all__ = [
    "Spectrum",
    "marchenko_pastur_cdf",
    "marchenko_pastur_density",
    "marchenko_pastur_edges",
    "marchenko_pastur_quadrature",
    "marchenko_pastur_quantile",
    "marchenko_pastur_shannon",
    "marchenko_pastur_transforms",
]


@dataclass(frozen=True)
class Spectrum:
    """A spectral measure: eigenvalue nodes with probability weights.

    Attributes
    ----------
    values : (K,) ndarray
        Eigenvalues (or quadrature nodes), float64, ascending.
    weights : (K,) ndarray
        Non-negative weights summing to 1: ``<f> = sum_k weights[k] f(values[k])``.

    Raises
    ------
    TypeError, ValueError
        If `values` or `weights` are not numeric, not finite, negative, not 1-D of one non-zero length, or the
        weights do not sum to 1.
    """

    values: np.ndarray
    weights: np.ndarray

    def __post_init__(self):
        values = real(self.values, "values").astype(np.float64, copy=False)
        weights = real(self.weights, "weights").astype(np.float64, copy=False)
        if values.ndim != 1 or weights.shape != values.shape:
            raise ValueError(f"values and weights must be 1-D of one length, got shapes {values.shape} and "
                             f"{weights.shape}")
        if values.size == 0:
            raise ValueError("values must not be empty")
        if np.any(values < 0) or np.any(weights < 0):
            which, arr = ("values", values) if np.any(values < 0) else ("weights", weights)
            raise ValueError(f"{which} must be >= 0 (a spectral measure of a covariance), "
                             f"got {float(arr[arr < 0][0])!r}")
        if abs(weights.sum() - 1.0) > 1e-8:
            raise ValueError(f"weights must sum to 1 (a probability measure), got sum {float(weights.sum())!r}")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "weights", weights)

    def average(self, f):
        """``<f> = sum_k w_k f(lambda_k)``.

        Parameters
        ----------
        f : callable
            Takes the ``(K,)`` node array and returns an array whose *last* axis has length K (broadcast other axes
            in front, e.g. ``lambda lam: np.log1p(lam / h2[:, None])``).

        Returns
        -------
        ndarray or float
            The average over the last axis.
        """
        return f(self.values) @ self.weights

    @property
    def mean(self) -> float:
        """The mean eigenvalue, trace(C) / N."""
        return float(self.values @ self.weights)

    @classmethod
    def from_eigenvalues(cls, eigenvalues) -> Spectrum:
        """The empirical measure of `eigenvalues` (each weight 1/len); tiny negative round-off is clipped to 0.

        Raises
        ------
        TypeError, ValueError
            If `eigenvalues` is not numeric, is empty, not finite, or has an entry below ``-1e-8 max |lambda|``.
        """
        lam = real(eigenvalues, "eigenvalues").ravel()
        if lam.size == 0:
            raise ValueError("eigenvalues must not be empty")
        if lam.min() < -1e-8 * np.abs(lam).max():
            raise ValueError(f"eigenvalues must be >= 0 up to round-off (a covariance spectrum), "
                             f"got {float(lam.min())!r}")
        lam = np.sort(np.clip(lam, 0.0, None))
        return cls(lam, np.full(lam.shape, 1.0 / lam.size))


def marchenko_pastur_edges(ratio: float) -> tuple[float, float]:
    """Edges ``((1 - sqrt c)^2, (1 + sqrt c)^2)`` of the Marchenko-Pastur law of ratio ``c`` (mean 1)."""
    s = np.sqrt(ratio)
    return (1.0 - s) ** 2, (1.0 + s) ** 2


def marchenko_pastur_density(x, ratio: float):
    """Density of the Marchenko-Pastur law with ratio ``c = ratio <= 1`` and mean 1.

    It is the limiting eigenvalue law of ``F^T F / n`` for an ``n x (c n)`` matrix ``F`` of i.i.d. standard entries.

    Parameters
    ----------
    x : array_like
    ratio : float in (0, 1]

    Returns
    -------
    ndarray
        ``sqrt((b - x)(x - a)) / (2 pi c x)`` on ``(a, b)``, 0 elsewhere.

    Raises
    ------
    TypeError, ValueError
        If `ratio` is outside (0, 1] or `x` is not numeric or contains NaN.
    """
    ratio = _check_ratio(ratio)
    x = real(x, "x", allow_inf=True)
    a, b = marchenko_pastur_edges(ratio)
    inside = (x > a) & (x < b)
    safe = np.where(inside, x, 1.0)
    return np.where(inside, np.sqrt(np.clip((b - safe) * (safe - a), 0.0, None)) / (2.0 * np.pi * ratio * safe), 0.0)


def _check_ratio(ratio) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real) or not 0.0 < ratio <= 1.0:
        raise ValueError(f"ratio must be in (0, 1] (the Marchenko-Pastur ratio), got {ratio!r}")
    return float(ratio)


def unit_interval(u, name: str = "u") -> np.ndarray:
    """Probabilities `u` as a float64 array with every entry in [0, 1]; TypeError / ValueError naming them."""
    u = numeric(u, name).astype(np.float64, copy=False)
    good = (u >= 0.0) & (u <= 1.0)
    if not np.all(good):
        raise ValueError(f"{name} must be in [0, 1] (probabilities), got {float(u[~good].ravel()[0])!r}")
    return u


def marchenko_pastur_cdf(x, ratio: float):
    """Cumulative distribution function of the Marchenko-Pastur law of ratio ``c`` (mean 1), in closed form.

    With ``x = m - r cos(theta)``, ``m = 1 + c``, ``r = 2 sqrt(c)`` (edges ``a, b = m -+ r``), the integral of
    :func:`marchenko_pastur_density` is::

        F = [r sin(theta) + m theta - 2 sqrt(a b) arctan(sqrt(b / a) tan(theta / 2))] / (2 pi c).

    Parameters
    ----------
    x : array_like
        Points (any shape).
    ratio : float in (0, 1]
        ``c``: the law of the eigenvalues of ``F^T F / n`` for an ``n x (c n)`` matrix ``F`` of i.i.d. standard
        entries.

    Returns
    -------
    ndarray
        ``F(x)``, same shape as `x`: 0 below the lower edge, 1 above the upper one.

    Raises
    ------
    ValueError
        If `ratio` is outside (0, 1].
    """
    c = _check_ratio(ratio)
    x = real(x, "x", allow_inf=True)
    m, r = 1.0 + c, 2.0 * math.sqrt(c)
    a, b = marchenko_pastur_edges(c)
    theta = np.arccos(np.clip((m - x) / r, -1.0, 1.0))
    half = 0.5 * theta
    # sqrt(ab) arctan(sqrt(b/a) tan(theta/2)) written with arctan2: finite (0) at c = 1, where a = 0
    atan = math.sqrt(a * b) * np.arctan2(math.sqrt(b) * np.sin(half), math.sqrt(a) * np.cos(half))
    F = (r * np.sin(theta) + m * theta - 2.0 * atan) / (2.0 * math.pi * c)
    # outside the support the closed form is 0 or 1 only up to round-off (1 - 6e-15 at c = 0.01): make it exact
    return np.where(x >= b, 1.0, np.where(x <= a, 0.0, np.clip(F, 0.0, 1.0)))


_QUANTILE_NODES = 4097


def marchenko_pastur_quantile(u, ratio: float):
    """Quantile function (inverse CDF) of the Marchenko-Pastur law of ratio ``c`` (mean 1).

    The CDF is tabulated in the angle ``theta`` of :func:`marchenko_pastur_cdf` (where it is smooth, its density
    ``sin^2(theta) / (m - r cos(theta))`` vanishing quadratically at both ends) and inverted by monotone cubic
    interpolation: accurate to ~1e-9 in ``x``.

    Parameters
    ----------
    u : array_like
        Probabilities in [0, 1] (any shape).
    ratio : float in (0, 1]

    Returns
    -------
    ndarray
        Same shape as `u`, in ``[(1 - sqrt c)^2, (1 + sqrt c)^2]``.

    Raises
    ------
    ValueError
        If `ratio` is outside (0, 1] or `u` leaves [0, 1].
    """
    c = _check_ratio(ratio)
    u = unit_interval(u, "u")
    m, r = 1.0 + c, 2.0 * math.sqrt(c)
    theta = np.linspace(0.0, math.pi, _QUANTILE_NODES)
    F = marchenko_pastur_cdf(m - r * np.cos(theta), c)
    F[0], F[-1] = 0.0, 1.0
    keep = np.concatenate([[True], np.diff(F) > 0.0])  # round-off plateaus at the ends
    th = interpolate.PchipInterpolator(F[keep], theta[keep])(u)
    return m - r * np.cos(th)


def marchenko_pastur_quadrature(ratio: float, n: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Gauss quadrature for averages over the Marchenko-Pastur law of ratio ``c`` (mean 1).

    The law is a rescaled free Poisson law, whose orthogonal polynomials have constant recurrence coefficients:
    the Jacobi matrix has diagonal ``(1, 1 + c, 1 + c, ...)`` and off-diagonal ``sqrt(c)``. Its eigenvalues are the
    Gauss nodes and the squared first components of its eigenvectors the weights (Golub-Welsch), exact for
    polynomials of degree < 2n and uniform in ``c`` up to ``c = 1``, where the density diverges like ``x^{-1/2}``.

    Parameters
    ----------
    ratio : float in (0, 1]
    n : int
        Number of nodes (>= 1).

    Returns
    -------
    nodes, weights : (n,) ndarray
        Ascending nodes in ``[(1 - sqrt c)^2, (1 + sqrt c)^2]`` and weights summing to 1.

    Raises
    ------
    ValueError
        If `ratio` is outside (0, 1] or `n` is not a positive integer.
    """
    nodes, weights = _mp_gauss(_check_ratio(ratio), count(n, "n"))
    return nodes.copy(), weights.copy()


@functools.lru_cache(maxsize=64)
def _mp_gauss(ratio: float, n: int):
    # cached: widgets and root finders ask for the same law many times
    diag = np.full(n, 1.0 + ratio)
    diag[0] = 1.0
    nodes, vecs = linalg.eigh_tridiagonal(diag, np.full(n - 1, np.sqrt(ratio)))
    weights = vecs[0] ** 2
    return np.clip(nodes, 0.0, None), weights / weights.sum()


def marchenko_pastur_transforms(gamma, ratio):
    """Three averages over the Marchenko-Pastur law of ratio ``c`` (mean 1) in closed form.

    Returns ``V = E log(1 + gamma x)`` (the Shannon transform), ``Q1 = E[gamma x / (1 + gamma x)]`` and
    ``Q2 = E[1 - 1 / (1 + gamma x)^2]``, from the formulas of Tulino & Verdu (2004)::

        V = log(1 + gamma - F/4) + (1/c) log(1 + gamma c - F/4) - F / (4 c gamma),   Q1 = F / (4 c gamma),
        F = (s1 - s2)^2,  s1,2 = sqrt(gamma (1 +- sqrt c)^2 + 1),

    each piece rationalised so that every term is positive (no cancellation) and scaled so that nothing overflows:
    accurate from ``gamma -> 0`` to ``gamma ~ 1e300``, and vectorised over both arguments.

    Parameters
    ----------
    gamma : array_like
        Signal-to-noise ratio, >= 0.
    ratio : array_like
        ``c`` in (0, 1], broadcast against `gamma`.

    Returns
    -------
    V, Q1, Q2 : ndarray
        Broadcast shape of the arguments.
    """
    b = np.asarray(ratio, dtype=np.float64)
    g = np.asarray(gamma, dtype=np.float64)
    ra, rb = (1.0 + np.sqrt(b)) ** 2, (1.0 - np.sqrt(b)) ** 2
    s1, s2 = np.sqrt(g * ra + 1.0), np.sqrt(g * rb + 1.0)
    S, p = s1 + s2, s1 * s2
    one_minus_b = 1.0 - b
    # log X1 with X1 - 1 = (g(1-b) + (s1 s2 - 1)) / 2; log X2 with
    # X2 - 1 = 4 g b (2 g (1+b) + 1) / (2 (p + g(1-b)) (g(1+3b) + 1 + p)), divided through by m^2, m = max(g, 1)
    m = np.maximum(g, 1.0)
    gm = g / m
    x1m1 = 0.5 * g * (one_minus_b + (g * one_minus_b**2 + 2.0 * (1.0 + b)) / (p + 1.0))
    x2m1 = (4.0 * b * gm * (2.0 * (1.0 + b) * gm + 1.0 / m)
            / (2.0 * (p / m + gm * one_minus_b) * (gm * (1.0 + 3.0 * b) + (1.0 + p) / m)))
    q1 = (4.0 / S) * (g / S)  # F / (4 b g) = E[g X / (1 + g X)]
    v = np.log1p(x1m1) + np.log1p(x2m1) / b - q1
    # 1 - E 1/(1 + g X)^2 = (4 g / S^3) ((g ra + 2)/s1 + (g rb + 2)/s2)
    q2 = q1 * (((g * ra + 2.0) / s1 + (g * rb + 2.0) / s2) / S)
    return v, q1, q2


def marchenko_pastur_shannon(gamma, ratio: float):
    """Shannon transform ``V(gamma) = E log(1 + gamma x)`` of the Marchenko-Pastur law of ratio ``c`` (mean 1).

    The closed form of Tulino & Verdu (2004), see :func:`marchenko_pastur_transforms`.

    Parameters
    ----------
    gamma : array_like
        Signal-to-noise ratio, >= 0 (``V(0) = 0``).
    ratio : float in (0, 1]

    Returns
    -------
    ndarray
        Same shape as `gamma`.
    """
    return marchenko_pastur_transforms(gamma, _check_ratio(ratio))[0]
