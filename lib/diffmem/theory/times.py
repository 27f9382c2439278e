"""The three times of the empirical diffusion for Gaussian data and linear manifolds: t_g < t_cond < t_c < t_o.

Every formula is an average over the eigenvalues ``lambda`` of the data covariance of three functions of
``c lambda`` (``c = 1/h^2`` or ``c = 2 theta``)::

    L(c) = <log(1 + c lambda)>,   Q1(c) = <c lambda / (1 + c lambda)>,   Q2(c) = <1 - 1 / (1 + c lambda)^2>.

For a finite spectrum (realised eigenvalues, Gaussian data) they are sums over nodes. For the N -> infinity linear
hidden manifold (and its affine images, the Gaussian-equivalent models) they have closed forms from the Shannon
and eta transforms of Marchenko-Pastur (Tulino & Verdu 2004), written here without cancellations so that they hold
from ``c -> 0`` to ``c ~ 1e300`` and vectorise over ``alpha_D``: a whole phase diagram is one array computation.

* collapse (chapter "Collapse"): ``i(t) = I(a; x_t)/N = L(1/h^2)/2 = alpha``;
* onset of traps (chapter "Trap times"): ``alpha + phi_0(1/2) = 0``, i.e. ``(L + Q1)(1/h^2)/2 = alpha``;
* condensation at clean test points and generalization (chapter "Generalization"): the s = 0 REM in distance
  units, ``phi(theta) = -(L + Q1)(2 theta)/2``, ``phi'(theta) = -Q2(2 theta)/(2 theta)``, solved by
  :func:`diffmem.theory.rem.condensation_point`; ``h_cond^2 = 1/(2 theta*)``, ``h_g^2 = d_min = h_cond^2 Q2``.

All times are returned in forward time ``t``, with ``h^2 = e^{2t} - 1``. THEORY.md sections 3-6.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._checks import latent_ratios
from ..models import GaussianData, GaussianEquivalent, HiddenManifold
from ..sim.schedule import bandwidth2, check_time
from .rem import _check_alpha, condensation_point, solve_decreasing
from .spectra import Spectrum, marchenko_pastur_transforms

__all__ = [
    "Times",
    "collapse_time",
    "condensation_time",
    "gaussian_equivalent",
    "generalization_time",
    "mutual_information",
    "onset_time",
    "phase_diagram",
    "times",
]

# log(h^2) search range: below it a time underflows float64 and is returned as 0; above it, as inf ("never").
_LOG_H2_RANGE = (-650.0, 650.0)


# ----------------------------------------------------------------------------------------------------------------
# Spectral moments L, Q1, Q2


class _DiscreteMoments:
    """Moments over a finite spectral measure (nodes and weights)."""

    def __init__(self, values, weights):
        self.values = np.asarray(values, dtype=np.float64)
        self.weights = np.asarray(weights, dtype=np.float64)
        if not np.any(self.values * self.weights > 0):
            raise ValueError("the covariance spectrum has no positive eigenvalue: every time is degenerate")

    def __call__(self, c):
        x = np.asarray(c, dtype=np.float64)[..., None] * self.values
        inv = 1.0 / (1.0 + x)
        w = self.weights
        q1 = x * inv
        # Q2 = x (2 + x) / (1 + x)^2 as a product of two factors <= 2: x^2 overflows for c lambda > 1e154
        return np.log1p(x) @ w, q1 @ w, (q1 * ((2.0 + x) * inv)) @ w


class _MarchenkoPasturMoments:
    """Moments of ``lambda' = scale * lambda + shift``, lambda the linear-HMM law (atom 0, (1/alpha_D) MP)."""

    def __init__(self, alpha_D, scale=1.0, shift=0.0):
        self.alpha_D = np.asarray(alpha_D, dtype=np.float64)
        self.scale, self.shift = float(scale), float(shift)

    def _mp(self, c):
        # <f(c lambda)> over the atom at 0 and, with weight b, X / b with X ~ Marchenko-Pastur(b)
        b = self.alpha_D
        v, q1, q2 = marchenko_pastur_transforms(np.asarray(c, dtype=np.float64) / b, b)
        return b * v, b * q1, b * q2

    def __call__(self, c):
        c = np.asarray(c, dtype=np.float64)
        if self.shift == 0.0:
            return self._mp(c * self.scale)
        # 1 + c (scale lam + shift) = k (1 + c~ lam): factor the shift out exactly.
        cs = c * self.shift
        k = 1.0 + cs
        L, q1, q2 = self._mp(c * self.scale / k)
        return np.log1p(cs) + L, (cs + q1) / k, (cs * (2.0 + cs) + q2) / (k * k)


def _no_closed_form(model, what: str):
    return ValueError(
        f"{what} has no closed form for the nonlinear manifold phi={model.phi!r} (THEORY.md section 7): use "
        "gaussian_equivalent(model) for the Gaussian-equivalent prediction (a full-rank model, not the manifold), "
        "or measure it by simulation (diffmem.sample_marginal, posterior_stats)"
    )


def _moments(model, what: str):
    """The moment function of a linear model (or a Spectrum); ValueError for nonlinear manifolds."""
    if isinstance(model, Spectrum):
        return _DiscreteMoments(model.values, model.weights)
    if isinstance(model, HiddenManifold):
        if not model.is_linear:
            raise _no_closed_form(model, what)
        if model.N is None:
            act = model.activation  # "raw" linear keeps mu1 = 1, mu_* = 0: same law
            return _MarchenkoPasturMoments(model.alpha_D, act.mu1**2, act.mu_star**2)
    if isinstance(model, GaussianEquivalent) and model.N is None:
        return _MarchenkoPasturMoments(model.alpha_D, model.mu1**2, model.mu_star**2)
    if isinstance(model, GaussianData | GaussianEquivalent | HiddenManifold) or (
            getattr(model, "is_linear", False) and hasattr(model, "spectrum")):
        spec = model.spectrum()
        return _DiscreteMoments(spec.values, spec.weights)
    raise TypeError(f"model must be GaussianData, HiddenManifold, GaussianEquivalent or a Spectrum, got {model!r}")


def _t_of_log_h2(u):
    """Forward time from ``u = log h^2``: t = log(1 + e^u) / 2 (0 below underflow, inf for u = inf)."""
    with np.errstate(over="ignore"):  # u = +inf ("never") maps to t = inf on purpose
        return 0.5 * np.log1p(np.exp(u))


def _solve_log_h2(g, shape):
    """Root in ``u = log h^2`` of a function decreasing in u; -inf if below range (t -> 0), inf if never."""
    return solve_decreasing(g, shape, 3.0, _LOG_H2_RANGE)


def _shape(alpha, moments):
    return np.broadcast_shapes(np.shape(alpha), np.shape(moments(np.ones(np.shape(alpha)))[0]))


def _as_result(x):
    x = np.asarray(x, dtype=np.float64)
    return float(x) if x.ndim == 0 else x


# ----------------------------------------------------------------------------------------------------------------
# Public API


def gaussian_equivalent(model) -> GaussianEquivalent:
    """The full-rank Gaussian-equivalent model ``mu_0 + mu_1 F z / sqrt(D) + mu_* eta`` of a hidden manifold.

    Usable wherever a model is; its theory is the linear one with spectrum ``mu_1^2 (linear law) + mu_*^2``.
    Chapter "Nonlinear manifolds" (THEORY.md section 7).

    Parameters
    ----------
    model : HiddenManifold

    Returns
    -------
    GaussianEquivalent

    Raises
    ------
    TypeError
        If `model` is not a HiddenManifold.
    """
    if not isinstance(model, HiddenManifold):
        raise TypeError(f"model must be a HiddenManifold, got {model!r}")
    return GaussianEquivalent(model)


def mutual_information(t, model):
    """Mutual information per ambient dimension ``i(t) = I(a; x_t)/N`` in nats (chapter "Collapse").

    For Gaussian data and linear manifolds ``i = <1/2 log(1 + lambda/h^2)>``, ``h^2 = e^{2t} - 1``, over the
    realised spectrum (``N`` given) or, for the N -> infinity linear manifold, the Tulino-Verdu closed form
    ``(alpha_D/2) V(1/(alpha_D h^2), alpha_D)``. For a nonlinear manifold: the replica formula of
    :func:`diffmem.theory.glm.glm_mutual_information` (N -> infinity, F-typical).

    Parameters
    ----------
    t : float or array_like
        Forward time(s), > 0.
    model : GaussianData, HiddenManifold, GaussianEquivalent or Spectrum

    Returns
    -------
    float or ndarray
        Shape of `t`.
    """
    t = check_time(t)
    if isinstance(model, HiddenManifold) and not model.is_linear:
        from .glm import glm_mutual_information  # noqa: PLC0415 - optional heavy module, loaded on demand

        return _as_result(glm_mutual_information(bandwidth2(t), model.alpha_D, model.activation))
    L, _, _ = _moments(model, "mutual_information")(1.0 / bandwidth2(t))
    return _as_result(0.5 * L)


def collapse_time(alpha, model):
    """Collapse (memorization) time ``t_c``: ``i(t_c) = alpha`` (chapter "Collapse", THEORY.md section 4).

    Parameters
    ----------
    alpha : float or array_like
        ``log P / N``, finite and > 0.
    model : GaussianData, HiddenManifold, GaussianEquivalent or Spectrum
        Nonlinear manifolds use :func:`diffmem.theory.glm.glm_collapse_time`.

    Returns
    -------
    float or ndarray
        ``t_c``, shape of `alpha`; ``inf`` if the model never collapses (``alpha >= i(0+)``).
    """
    alpha = _check_alpha(alpha)
    if isinstance(model, HiddenManifold) and not model.is_linear:
        from .glm import glm_collapse_time  # noqa: PLC0415

        out = [glm_collapse_time(float(a), model.alpha_D, model.activation) for a in alpha.ravel()]
        return _as_result(np.reshape(np.asarray(out, dtype=np.float64), alpha.shape))
    return _as_result(_t_of_log_h2(_log_h2_collapse(alpha, _moments(model, "collapse_time"))))


def _log_h2_collapse(alpha, M):
    return _solve_log_h2(lambda u: 0.5 * M(np.exp(-u))[0] - alpha, _shape(alpha, M))


def _log_h2_onset(alpha, M):
    def g(u):
        L, q1, _ = M(np.exp(-u))
        return 0.5 * (L + q1) - alpha

    return _solve_log_h2(g, _shape(alpha, M))


def onset_time(alpha, model):
    """Onset time of the traps ``t_o``: ``alpha + phi_0(1/2) = 0`` (chapter "Trap times", THEORY.md section 5).

    Above ``t_o`` a training point is not a trap: the other patterns outweigh it, ``(1/N) log Z_rest > 0``.

    Parameters
    ----------
    alpha : float or array_like
        Finite and > 0.
    model : GaussianData, linear HiddenManifold, GaussianEquivalent or Spectrum

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        For nonlinear manifolds (no closed form).
    """
    alpha = _check_alpha(alpha)
    return _as_result(_t_of_log_h2(_log_h2_onset(alpha, _moments(model, "onset_time"))))


def _condensation(alpha, M):
    """theta*, h_cond^2 and d_min of the s = 0 REM in distance units (clean test points)."""

    def phi(theta):
        L, q1, _ = M(2.0 * theta)
        return -0.5 * (L + q1)

    def dphi(theta):
        return -M(2.0 * theta)[2] / (2.0 * theta)

    theta = condensation_point(alpha, phi, dphi)
    h2 = 0.5 / theta
    with np.errstate(invalid="ignore"):  # theta* = inf (h2 = 0) would give 0 * nan; d_min is 0 there
        d_min = np.where(theta < np.inf, h2 * M(1.0 / np.where(h2 > 0, h2, 1.0))[2], 0.0)
    return theta, h2, d_min


def condensation_time(alpha, model):
    """Condensation time ``t_cond`` at clean test points (chapter "Generalization", THEORY.md section 6).

    ``theta*`` solves ``alpha = <1/2 log(1 + 2 theta lambda) - theta lambda / (1 + 2 theta lambda)^2>``;
    ``h_cond^2 = 1/(2 theta*) = e^{2 t_cond} - 1``. Below ``t_cond`` the kernel density estimate at a new point is
    dominated by its nearest training points.

    Parameters and errors as :func:`onset_time`.
    """
    alpha = _check_alpha(alpha)
    _, h2, _ = _condensation(alpha, _moments(model, "condensation_time"))
    return _as_result(0.5 * np.log1p(h2))


def generalization_time(alpha, model):
    """Generalization time ``t_g``: the minimum of the loss, ``h_g^2 = d_min`` (chapter "Generalization").

    Parameters and errors as :func:`onset_time`.
    """
    alpha = _check_alpha(alpha)
    _, _, d_min = _condensation(alpha, _moments(model, "generalization_time"))
    return _as_result(0.5 * np.log1p(d_min))


class Times(NamedTuple):
    """The characteristic times and scales at one ``(alpha, model)`` (arrays of the broadcast shape).

    Attributes
    ----------
    t_g, t_cond, t_c, t_o : float or ndarray
        Generalization, condensation (clean points), collapse and trap-onset times; ``t_g < t_cond < t_c < t_o``.
    d_min : float or ndarray
        Nearest-neighbour squared distance per dimension of a clean test point, ``= h_g^2``.
    h2_cond : float or ndarray
        ``h_cond^2 = e^{2 t_cond} - 1``.
    loss_min : float or ndarray
        Minimal cross-entropy per dimension, ``alpha + 1/2 log(2 pi e d_min)``.

    Notes
    -----
    Times below float64's range (``log h^2 < -650``, i.e. ``alpha / alpha_D`` beyond ~325) are returned as 0, and
    ``loss_min`` as ``-inf`` where ``d_min`` is 0 there.
    """

    t_g: object
    t_cond: object
    t_c: object
    t_o: object
    d_min: object
    h2_cond: object
    loss_min: object


def _times(alpha, M) -> Times:
    _, h2, d_min = _condensation(alpha, M)
    with np.errstate(divide="ignore"):  # d_min = 0 (underflow) gives loss -inf, the correct limit
        loss_min = alpha + 0.5 * np.log(2.0 * math.pi * math.e * d_min)
    fields = (0.5 * np.log1p(d_min), 0.5 * np.log1p(h2), _t_of_log_h2(_log_h2_collapse(alpha, M)),
              _t_of_log_h2(_log_h2_onset(alpha, M)), d_min, h2, loss_min)
    shape = _shape(alpha, M)
    return Times(*(_as_result(np.broadcast_to(f, shape)) for f in fields))


def times(alpha, model) -> Times:
    """All characteristic times of a linear model at once (THEORY.md sections 4-6).

    Parameters
    ----------
    alpha : float or array_like
        Finite and > 0.
    model : GaussianData, linear HiddenManifold, GaussianEquivalent or Spectrum

    Returns
    -------
    Times
        Each field has the shape of `alpha`.
    """
    alpha = _check_alpha(alpha)
    return _times(alpha, _moments(model, "times"))


def phase_diagram(alpha, alpha_D) -> Times:
    """:func:`times` of the N -> infinity linear hidden manifold on a grid, in one vectorised computation.

    Parameters
    ----------
    alpha : array_like
        Finite and > 0.
    alpha_D : array_like
        In (0, 1]; broadcast against `alpha` (e.g. ``alpha[None, :]`` and ``alpha_D[:, None]``).

    Returns
    -------
    Times
        Fields of the broadcast shape.
    """
    alpha = _check_alpha(alpha)
    return _times(alpha, _MarchenkoPasturMoments(latent_ratios(alpha_D)))
