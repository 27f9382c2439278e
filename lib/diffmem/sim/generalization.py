"""Measuring generalization: the minimum of a measured loss curve and the nearest-neighbour distance of test points.

The empirical reverse process stopped at ``t`` and rescaled by ``e^t`` is the Gaussian kernel density estimate with
``h^2 = e^{2t} - 1``; its cross-entropy on held-out points is :func:`diffmem.test_cross_entropy`. The theory
(THEORY.md section 6) says that the loss is smallest at ``h_g^2 = d_min``, the squared nearest-neighbour distance per
dimension of a clean test point, with ``L_min = alpha + 1/2 log(2 pi e d_min)``. This module measures the three
quantities of that statement, each with its Monte Carlo error:

* :func:`nearest_neighbour_distance`: ``min_mu |y - a^mu|^2 / N`` averaged over test points ``y``;
* :func:`loss_minimum`: location and value of the minimum of a loss curve measured on independent batches of test
  points, with jackknife errors over the batches;
* :func:`measure_generalization`: the loss curve (the quantity of :func:`diffmem.test_cross_entropy`, kept point
  by point for the jackknife), its minimum and ``d_nn`` from one set of test points.

Serves the chapter "Generalization" (THEORY.md sections 6 and 8).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import backend
from .._checks import as_points, count, numeric
from .diagnostics import Estimate, _mean_estimate, _stats_batched, pointwise_cross_entropy
from .schedule import check_time

__all__ = ["GeneralizationMeasurement", "loss_minimum", "measure_generalization", "nearest_neighbour_distance"]

# Any time works for the nearest pattern (the softmax is monotone in the distance); e^{-2t} = 1/2 keeps it simple.
_NN_TIME = 0.5 * math.log(2.0)


class GeneralizationMeasurement(NamedTuple):
    """What :func:`measure_generalization` returns.

    Attributes
    ----------
    loss : Estimate
        Cross-entropy per dimension ``L(t)`` over all test points, ``(T,)`` arrays of values and standard errors.
    t_g : Estimate
        Location of the minimum of the loss curve (jackknife error over batches of test points).
    loss_min : Estimate
        Value of the minimum (jackknife error).
    d_nn : Estimate
        Mean squared nearest-neighbour distance per dimension of the test points, ``E min_mu |y - a^mu|^2 / N``.
    """

    loss: Estimate
    t_g: Estimate
    loss_min: Estimate
    d_nn: Estimate


def _check_points(test_points, data):
    xp = backend.get_array_module(test_points, data)
    a = as_points(data, "data", xp=xp)
    return xp, as_points(test_points, "test_points", N=a.shape[1], xp=xp, shape="(M, N)"), a


def nearest_neighbour_distance(test_points, data, **engine) -> Estimate:
    """Mean squared distance per dimension from each test point to its nearest training point.

    ``d_nn(y) = min_mu |y - a^mu|^2 / N``; the theory's ``d_min`` is its N -> infinity limit for clean test points
    (THEORY.md section 6), approached like ``d_min + h_cond^2 ln N / N`` (section 8). The nearest pattern is found
    by the streaming engine (:func:`diffmem.posterior_stats`, which recomputes the winning distance from differences),
    so memory stays ``O((M + P) N + M * chunk)``.

    Parameters
    ----------
    test_points : (M, N) array
        Held-out points (NumPy or CuPy).
    data : (P, N) array
        Training points.
    **engine
        ``dtype``, ``chunk``, ``memory_budget`` for the score engine.

    Returns
    -------
    Estimate
        Mean over the ``M`` test points, its standard error, and ``n = M``.

    Raises
    ------
    TypeError
        If `test_points` or `data` does not hold numbers.
    ValueError
        If they are not 2-D and non-empty, their N differ, or they contain NaN or inf.
    """
    xp, y, a = _check_points(test_points, data)
    shrink = math.exp(-_NN_TIME)
    d_nearest = _stats_batched(shrink * y, a, _NN_TIME, **engine).d_nearest
    return _mean_estimate(d_nearest / (shrink * shrink * y.shape[1]))


def _vertex(u, y, degree):
    """Minimum ``(u*, y*)`` of the least-squares polynomial of `degree` through (u, y), inside the window."""
    centre = u.mean()  # centred abscissa: a well-conditioned fit
    x = u - centre
    poly = np.polynomial.Polynomial.fit(x, y, degree, domain=[x.min(), x.max()], window=[x.min(), x.max()])
    d1, d2 = poly.deriv(1), poly.deriv(2)
    roots = d1.roots()
    roots = roots[np.abs(roots.imag) <= 1e-12 * (1.0 + np.abs(roots.real))].real
    ok = roots[(roots >= x.min()) & (roots <= x.max()) & (d2(roots) > 0)]
    if ok.size == 0:
        raise ValueError("loss_minimum: the fitted loss has no minimum inside the fit window; use a finer grid or "
                         "more test points")
    best = ok[np.argmin(poly(ok))]
    return centre + best, float(poly(best))


def loss_minimum(t, losses, n_fit: int = 5, degree: int = 3):
    """Location and value of the minimum of a measured loss curve, with jackknife errors over batches.

    A polynomial of `degree` in ``u = log h^2 = log(e^{2t} - 1)`` is fitted (least squares) to the `n_fit` grid
    points around the smallest value of the mean curve, and its minimum inside the window is returned. ``u`` is the
    natural variable: near its minimum the theory's loss is ``const + u/2 + d_min e^{-u}/2``, smooth and nearly
    symmetric in ``u``; the cubic (default) absorbs the remaining asymmetry, so that the fit is unbiased to well
    below the statistical error on grids of ~0.1 in ``log t``. The error comes from the jackknife over the
    independent batches (leave one batch out, refit on the same window).

    Parameters
    ----------
    t : (T,) array_like
        Increasing forward times, > 0.
    losses : (T,) or (B, T) array_like
        The loss curve, or ``B >= 2`` curves measured on disjoint, equally sized batches of test points.
    n_fit : int
        Odd number of grid points in the fit, ``degree < n_fit <= T``.
    degree : {2, 3}
        Degree of the local polynomial.

    Returns
    -------
    t_min : Estimate
        Location of the minimum in forward time (``stderr`` is ``nan`` and ``n`` is 1 for a single curve).
    loss_min : Estimate
        Value at the minimum.

    Raises
    ------
    ValueError
        For bad shapes, times not increasing, a bad `degree` or `n_fit`, a smallest value at either end of the grid
        (the minimum is not bracketed: extend the grid) or a fit without a minimum inside its window.
    """
    t = np.atleast_1d(check_time(t))
    L = numeric(losses, "losses").astype(np.float64)
    single = L.ndim == 1
    L = L[None, :] if single else L
    if t.ndim != 1 or L.ndim != 2 or L.shape[1] != t.size:
        raise ValueError(f"losses must have shape (T,) or (B, T) with T = len(t) = {t.size}, got {np.shape(losses)}")
    if not np.all(np.isfinite(L)):
        raise ValueError("losses must be finite")
    if not np.all(np.diff(t) > 0):
        raise ValueError("t must be strictly increasing")
    if degree not in (2, 3) or isinstance(degree, bool):
        raise ValueError(f"degree must be 2 or 3, got {degree!r}")
    n_fit = count(n_fit, "n_fit", minimum=3)
    if n_fit % 2 == 0 or not degree < n_fit <= t.size:
        raise ValueError(f"n_fit must be odd and in ({degree}, len(t) = {t.size}], got {n_fit}")
    B = L.shape[0]
    if not single and B < 2:
        raise ValueError("losses needs at least 2 batches (rows) for a jackknife error; pass a 1-D curve otherwise")
    u = np.log(np.expm1(2.0 * t))
    mean = L.mean(axis=0)
    i = int(np.argmin(mean))
    if i == 0 or i == t.size - 1:
        raise ValueError(f"the smallest loss is at the edge of the time grid (t = {t[i]:.4g}): extend the grid")
    half = n_fit // 2
    lo = min(max(i - half, 0), t.size - n_fit)
    window = slice(lo, lo + n_fit)
    u0, l0 = _vertex(u[window], mean[window], degree)
    t0 = 0.5 * math.log1p(math.exp(u0))
    if single:
        return Estimate(t0, float("nan"), 1), Estimate(float(l0), float("nan"), 1)
    # jackknife on the same window (a moving window would make the estimate jump between grid points)
    loo = (L.sum(axis=0)[None, :] - L) / (B - 1)
    fits = np.array([_vertex(u[window], row[window], degree) for row in loo])
    t_loo = 0.5 * np.log1p(np.exp(fits[:, 0]))
    factor = math.sqrt((B - 1) / B)
    t_err = factor * math.sqrt(np.sum((t_loo - t_loo.mean()) ** 2))
    l_err = factor * math.sqrt(np.sum((fits[:, 1] - fits[:, 1].mean()) ** 2))
    return Estimate(t0, float(t_err), int(B)), Estimate(float(l0), float(l_err), int(B))


def measure_generalization(test_points, data, t, n_batches: int = 10, n_fit: int = 5, degree: int = 3,
                           **engine) -> GeneralizationMeasurement:
    """The loss curve, its minimum and the nearest-neighbour distance, measured on one set of test points.

    The loss ``L(t) = -(1/N) mean_y log phat_h(y)`` is the quantity of :func:`diffmem.test_cross_entropy`, kept
    point by point so that the test points can be split into `n_batches` equal batches:
    :func:`loss_minimum` locates the minimum of the curve with jackknife errors over the batches, and
    :func:`nearest_neighbour_distance` gives ``d_nn``. The theory predicts ``t_g``, ``L_min`` and ``d_min``
    (:func:`diffmem.times`) with ``e^{2 t_g} - 1 = d_min`` (chapter "Generalization", THEORY.md section 6).

    Parameters
    ----------
    test_points : (M, N) array
        Held-out points; ``M >= 2 n_batches``. Only the first ``n_batches * (M // n_batches)`` are used.
    data : (P, N) array
    t : (T,) array_like
        Increasing forward times bracketing the minimum.
    n_batches : int
        Number of jackknife batches, >= 2.
    n_fit, degree : int
        See :func:`loss_minimum`.
    **engine
        ``dtype``, ``chunk``, ``memory_budget`` for the score engine.

    Returns
    -------
    GeneralizationMeasurement

    Raises
    ------
    ValueError
        For bad shapes or sizes, or a minimum not bracketed by `t` (see :func:`loss_minimum`).
    """
    xp, y, a = _check_points(test_points, data)
    n_batches = count(n_batches, "n_batches", minimum=2)
    size = y.shape[0] // n_batches
    if size < 2:
        raise ValueError(f"test_points needs at least 2 points per batch ({2 * n_batches}), got {y.shape[0]}")
    t = np.atleast_1d(check_time(t))
    if t.ndim != 1 or not np.all(np.diff(t) > 0):
        raise ValueError("t must be a 1-D array of strictly increasing times")
    y = y[:size * n_batches]
    losses = pointwise_cross_entropy(y, a, t, **engine)
    n = losses.shape[1]
    loss = Estimate(losses.mean(axis=1), losses.std(axis=1, ddof=1) / math.sqrt(n), int(n))
    batch_means = losses.reshape(t.size, n_batches, size).mean(axis=2).T
    t_g, loss_min = loss_minimum(t, batch_means, n_fit, degree)
    d_nn = nearest_neighbour_distance(y, a, **engine)
    return GeneralizationMeasurement(loss, t_g, loss_min, d_nn)
