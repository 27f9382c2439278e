"""Traps and their basins: the REM of the other patterns seen from (near) a training point.

At ``x = e^{-t} a^1 + sqrt(s Delta_t) xi`` the other patterns form the s-REM of THEORY.md section 3 at the Boltzmann
parameter ``theta = 1/2`` (distance units ``d = |x - e^{-t} a|^2 / (N Delta_t)``), with cumulant, for
``c = 2 theta / h^2``,

    phi_s(theta)  = -(L(c) + Q1(c))/2 - theta s (1 - Q1(c)),
    phi_s'(theta) = -Q2(c)/(2 theta) - s (1 - Q2(c)),

and ``x`` is attracted by ``a^1`` iff its own weight wins, ``-s/2 > (1/N) log Z_rest(x)``.

Serves the chapter "Trap times" (THEORY.md section 5).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..sim.schedule import bandwidth2, check_time
from .rem import _check_alpha, quenched_log_partition
from .times import _as_result, _log_h2_collapse, _moments

__all__ = ["basin_size", "distance_cumulant", "trap_log_partition"]


def _check_s(s):
    if isinstance(s, bool) or not isinstance(s, numbers.Real) or not (math.isfinite(s) and s >= 0):
        raise ValueError(f"s must be a finite number >= 0 (squared distance in units of N Delta_t), got {s!r}")
    return float(s)


def distance_cumulant(t, model, s: float = 0.0):
    """The cumulant ``phi_s(theta)`` of the distances from ``x = e^{-t} y + sqrt(s Delta_t) xi`` to the patterns.

    ``phi_s(theta) = (1/N) log E exp(-theta N d)`` with ``d = |x - e^{-t} a|^2 / (N Delta_t)``, ``y`` a typical data
    point independent of the pattern ``a`` (a training point seen by the other patterns, or a clean test point):

        phi_s(theta) = < -1/2 log(1 + 2 theta lambda g) - theta (lambda g + s) / (1 + 2 theta lambda g) >,

    ``g = 1/h_t^2``, over the covariance spectrum (chapter "The random energy model", eq. ``rem-cumulant``). The pair
    ``(phi, dphi)`` is what the generic REM solver takes (:func:`diffmem.saddle_entropy`,
    :func:`diffmem.condensation_point`, :func:`diffmem.quenched_log_partition`).

    Parameters
    ----------
    t : float or array_like
        Forward time(s), > 0.
    model : GaussianData, linear HiddenManifold, GaussianEquivalent or Spectrum
    s : float
        Squared distance of ``x`` from ``e^{-t} y`` in units of ``N Delta_t``, >= 0 (1: a typical point of ``P_t``).

    Returns
    -------
    phi, dphi : callable
        ``phi(theta)`` and ``phi'(theta)``, vectorised; `theta` broadcasts against the shape of `t`.

    Raises
    ------
    ValueError
        Bad `t` or `s`; nonlinear manifolds (no closed form).
    """
    g = 1.0 / bandwidth2(check_time(t))
    return _cumulant(g, _check_s(s), _moments(model, "distance_cumulant"))


def _cumulant(g, s, M):
    """(phi_s, phi_s') at ``g = 1/h^2`` for the moment function ``M`` of a linear model."""

    def phi(theta):
        L, q1, _ = M(2.0 * theta * g)
        return -0.5 * (L + q1) - theta * s * (1.0 - q1)

    def dphi(theta):
        q2 = M(2.0 * theta * g)[2]
        return -q2 / (2.0 * theta) - s * (1.0 - q2)

    return phi, dphi


def trap_log_partition(t, alpha, model, s: float = 0.0):
    """Quenched ``(1/N) log Z_rest`` of the other patterns at ``x = e^{-t} a^1 + sqrt(s Delta_t) xi``.

    ``Z_rest = sum_{mu != 1} exp(-|x - e^{-t} a^mu|^2 / (2 Delta_t))`` (own pattern excluded). With ``s = 0`` the
    trap exists iff it is negative; it vanishes at the onset time ``t_o``. ``s = 1`` is a typical point of
    ``P_t``, where it equals ``alpha - i(t) - 1/2`` above ``t_c`` (saddle entropy ``alpha - i(t)``).

    Parameters
    ----------
    t : float or array_like
        Forward time(s), > 0.
    alpha : float or array_like
        ``log P / N``, > 0 (broadcast with `t`).
    model : GaussianData, linear HiddenManifold, GaussianEquivalent or Spectrum
    s : float
        Squared distance of ``x`` from ``e^{-t} a^1`` in units of ``N Delta_t``, >= 0.

    Returns
    -------
    float or ndarray
        Broadcast shape of `t` and `alpha`.

    Raises
    ------
    ValueError
        Bad `t`, `alpha` or `s`; nonlinear manifolds (no closed form).
    """
    h2, alpha = np.broadcast_arrays(bandwidth2(check_time(t)), _check_alpha(alpha))
    phi, dphi = _cumulant(1.0 / h2, _check_s(s), _moments(model, "trap_log_partition"))
    return _as_result(quenched_log_partition(0.5, alpha, phi, dphi))


def basin_size(t, alpha, model):
    """Largest ``s`` such that ``e^{-t} a^1 + sqrt(s Delta_t) xi`` is attracted by ``a^1`` (THEORY.md section 5).

    Three regimes:

    * ``t <= t_c``: ``s* = h_c^2 / h_t^2`` (constant squared radius ``N h_c^2`` in the rescaled coordinate ``e^t x``);
    * ``t_c <= t <= t_o``: ``s* = 1 - (alpha - A)/B``, ``A = i(t)``, ``B = <lambda / (2 (h^2 + lambda))>``;
    * ``t >= t_o``: ``s* = 0``.

    ``s*(t_c) = 1``: samples of ``P^e_t`` sit on the basin boundary at the collapse time.

    Parameters
    ----------
    t : float or array_like
        Forward time(s), > 0.
    alpha : float or array_like
        Finite and > 0 (broadcast with `t`).
    model : GaussianData, linear HiddenManifold, GaussianEquivalent or Spectrum

    Returns
    -------
    float or ndarray
        ``s*``, broadcast shape of `t` and `alpha`.

    Raises
    ------
    ValueError
        Bad `t` or `alpha`; nonlinear manifolds (no closed form).
    """
    h2 = bandwidth2(check_time(t))
    alpha = _check_alpha(alpha)
    M = _moments(model, "basin_size")
    h2_c = np.exp(_log_h2_collapse(alpha, M))
    L, q1, _ = M(1.0 / h2)
    middle = 1.0 - (alpha - 0.5 * L) / (0.5 * q1)
    return _as_result(np.where(h2 <= h2_c, h2_c / h2, np.clip(middle, 0.0, None)))
