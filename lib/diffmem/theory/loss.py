"""The generalization loss of the stopped reverse process: a kernel density estimate's cross-entropy.

The empirical reverse process stopped at ``t`` and rescaled by ``e^t`` is the Gaussian kernel density estimate
``phat_h(y) = (1/P) sum_mu N(y; a^mu, h^2 I)`` with ``h^2 = e^{2t} - 1``; the loss is the cross-entropy per
dimension ``L(t) = -(1/N) E_{y ~ P_0} log phat_h(y)``. A clean test point sees the s = 0 REM, so (THEORY.md
section 6)::

    L(h) = <1/2 log(2 pi (h^2 + lambda)) + lambda / (2 (h^2 + lambda))>      for h >= h_cond,
    L(h) = alpha + 1/2 log(2 pi h^2) + d_min / (2 h^2)                       for h <  h_cond,

continuous at ``h_cond`` and minimal at ``h_g^2 = d_min`` with ``L_min = alpha + 1/2 log(2 pi e d_min)``.

Serves the chapter "Generalization".
"""

from __future__ import annotations

import math

import numpy as np

from ..sim.schedule import bandwidth2, check_time
from .rem import _check_alpha
from .times import _as_result, _condensation, _moments

__all__ = ["generalization_loss"]


def generalization_loss(t, alpha, model):
    """Cross-entropy per dimension ``L(t)`` of the kernel density estimate at ``h^2 = e^{2t} - 1`` (both branches).

    Parameters
    ----------
    t : float or array_like
        Forward time(s), > 0.
    alpha : float or array_like
        ``log P / N``, finite and > 0 (broadcast with `t`).
    model : GaussianData, linear HiddenManifold, GaussianEquivalent or Spectrum

    Returns
    -------
    float or ndarray
        In nats per dimension, broadcast shape of `t` and `alpha`. For a manifold (covariance of rank < N) the
        loss is a cross-entropy against a singular law and goes to -inf as ``alpha`` grows: compare differences.

    Raises
    ------
    ValueError
        Bad `t` or `alpha`; nonlinear manifolds (no closed form).
    """
    h2 = bandwidth2(check_time(t))
    alpha = _check_alpha(alpha)
    M = _moments(model, "generalization_loss")
    _, h2_cond, d_min = _condensation(alpha, M)
    L, q1, _ = M(1.0 / h2)
    log_2pi_h2 = np.log(2.0 * math.pi * h2)
    free = 0.5 * (log_2pi_h2 + L + q1)
    frozen = alpha + 0.5 * log_2pi_h2 + d_min / (2.0 * h2)
    return _as_result(np.where(h2 >= h2_cond, free, frozen))
