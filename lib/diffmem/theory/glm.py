"""Replica mutual information of the nonlinear hidden manifold and its collapse time.

For data ``a = phi(F z / sqrt(D))`` the noisy observation ``x_t`` is a generalized linear model of the latent code
``z`` (``n = D`` Gaussian inputs, ``m = N`` outputs through ``y = phi(h) + sqrt(nu) xi`` after dividing by
``e^{-t}``, ``nu = e^{2t} - 1``). Its mutual information per ambient dimension is given by the replica-symmetric
formula of Barbier, Krzakala, Macris, Miolane & Zdeborova (2019), after optimising the prior's conjugate::

    i(nu) = min_{q in [0, 1)} { (alpha_D / 2) [-ln(1 - q) - q] + I_out(q; nu) },
    I_out = E_V h(Y | V) - 1/2 ln(2 pi e nu),   Y = phi(sqrt(q) V + sqrt(1 - q) W) + sqrt(nu) xi.

The formula is a theorem for smooth bounded channels (tanh); the identity is linear estimation (it reproduces the
Marchenko-Pastur mutual information); relu and sign rely on approximation arguments. The minimisation runs over
``u = ln(1 - q)`` (``q* -> 1 - O(nu)`` at small nu) using the stationarity condition ``alpha_D q / (1 - q) = G``,
``G = -2 dI_out/dq``; collapse ``i(t_c) = alpha`` is solved by Newton in ``ln nu`` with the envelope derivative
``di/dnu = dI_out/dnu`` at fixed ``q*``. The channel integrals live in :mod:`diffmem.theory.glm_channel`.

Serves the chapters "The hidden manifold model" and "Collapse" (THEORY.md section 7).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special

from .._checks import latent_ratio, positive
from ..activations import ACTIVATIONS, Activation, get_activation
from .glm_channel import channel_terms
from .spectra import marchenko_pastur_shannon

__all__ = [
    "glm_collapse_time",
    "glm_gaussian_equivalent_mutual_information",
    "glm_mutual_information",
    "glm_small_t",
]

#: Below this nu (in the activation's own units) i(nu) is its small-t asymptote (see :func:`glm_small_t`).
NU_ASYMPTOTE = 1e-8
_U_TOL = 1e-7  # |u - u*| at which the minimum is accepted: the value error is f'' du^2 / 2 ~ 1e-14


# ---------------------------------------------------------------------------------------------------- validation
def _check_alpha_D(alpha_D) -> float:
    return latent_ratio(alpha_D)


def _check_nu(nu) -> np.ndarray:
    return positive(nu, "nu", "nu = e^(2t) - 1")


def _activation(activation) -> Activation:
    if not isinstance(activation, Activation) and (not isinstance(activation, str) or activation not in ACTIVATIONS):
        raise ValueError(f"activation must be one of {ACTIVATIONS} or an Activation (the nonlinearity phi), "
                         f"got {activation!r}")
    return get_activation(activation)


# -------------------------------------------------------------------------------------------- the optimisation in q
class _Objective:
    """f(u) = (alpha_D/2)(-u - q) + I_out(q; nu) with q = 1 - e^u, memoised (each point costs one channel pass)."""

    def __init__(self, name: str, nu_raw: float, alpha_D: float, res: float = 1.0):
        self.name, self.nu, self.alpha_D, self.res = name, nu_raw, alpha_D, res
        self.cache: dict[float, tuple[float, float, float]] = {}

    def __call__(self, u: float) -> tuple[float, float, float]:
        """(f, f'(u), di/dln nu at fixed q)."""
        if u not in self.cache:
            q = -math.expm1(u)
            i_out, G, F = channel_terms(self.name, q, self.nu, self.res)
            f = 0.5 * self.alpha_D * (-u - q) + i_out
            fp = -0.5 * self.alpha_D * q + 0.5 * math.exp(u) * G
            self.cache[u] = (f, fp, 0.5 * (self.nu * F - 1.0))
        return self.cache[u]


def _linear_u(nu: float, alpha_D: float) -> float:
    """Closed-form ln(1 - q*) of the linear channel: root of alpha_D q (nu + 1 - q) = 1 - q, written stably."""
    d = alpha_D * (1.0 + nu) - 1.0
    r = math.sqrt(d * d + 4.0 * alpha_D * nu)
    b = alpha_D * (1.0 + nu) + 1.0
    one_q = (d + r) / (b + r) if d >= 0.0 else 4.0 * alpha_D * nu / (r - d) / (b + r)
    return math.log(one_q)


def _minimise(obj: _Objective, u0: float, fpp0: float | None = None):
    """Root of f'(u) on u <= 0: Newton with secant curvature, safeguarded by the bracket it builds.

    Returns (i, u*, di/dln nu, f''(u*)); the value is corrected to second order, f(u*) = f(u) - f'^2 / (2 f'').
    """
    lo, hi = -math.inf, 0.0  # f' < 0 below u*, f' > 0 above (f' > 0 at q = 0 whenever mu_1 != 0)
    u, fpp, prev = min(u0, 0.0), fpp0, None
    for _ in range(100):
        f, fp, didx = obj(u)
        if fp > 0.0:
            hi = min(hi, u)
        else:
            lo = max(lo, u)
        if prev is not None and prev[0] != u:
            sec = (fp - prev[1]) / (u - prev[0])
            fpp = sec if sec > 0.0 else fpp
        prev = (u, fp)
        step = -fp / fpp if fpp is not None and fpp > 0.0 else math.copysign(0.5, -fp)
        nxt = u + min(max(step, -1.5), 1.5)  # small steps: far from u* the tanh grids get costly
        if not lo < nxt < hi:
            nxt = 0.5 * (lo + hi) if math.isfinite(lo) else min(nxt, 0.5 * (u + hi))
        if abs(nxt - u) < _U_TOL or fp == 0.0:
            if fpp is not None and fpp > 0.0:
                return f - 0.5 * fp * fp / fpp, u - fp / fpp, didx, fpp
            return f, u, didx, fpp
        u = nxt
    return f, u, didx, fpp


def _replica(name: str, nu_raw: float, alpha_D: float, u0: float | None = None, fpp0: float | None = None,
             res: float = 1.0):
    """(i, u*, di/dln nu, f''(u*)) of the raw channel at noise nu_raw, warm-started at u0 when given.

    `res` multiplies every grid of the channel integrals (> 1 gives the reference used by the tests and benchmark).
    """
    if name == "linear":
        u = _linear_u(nu_raw, alpha_D)
        q, e = -math.expm1(u), math.exp(u)
        i = 0.5 * alpha_D * (-u - q) + 0.5 * math.log1p(e / nu_raw)
        return i, u, -0.5 * e / (nu_raw + e), None
    if u0 is None:
        u0 = _linear_u(nu_raw, alpha_D)
    return _minimise(_Objective(name, nu_raw, alpha_D, res), u0, fpp0)


# ---------------------------------------------------------------------------------------------------- public API
def glm_mutual_information(nu, alpha_D, activation="linear"):
    """Replica mutual information ``i = I(a; x_t) / N`` of the nonlinear hidden manifold, in nats.

    Parameters
    ----------
    nu : array_like
        ``nu = e^{2t} - 1 > 0`` (any shape), in the units of the (normalised) activation.
    alpha_D : float in (0, 1]
        Latent dimension ratio ``D / N``.
    activation : str or Activation
        The nonlinearity phi; a name is looked up with the default centred, unit-variance normalisation.

    Returns
    -------
    ndarray
        ``i(nu)``, same shape as `nu`. Below ``nu = 1e-8`` the small-t asymptote of :func:`glm_small_t` (except for
        the linear phi, closed form everywhere).

    Raises
    ------
    ValueError
        If `nu` is not finite and positive, or `alpha_D` is outside (0, 1].

    Notes
    -----
    Accuracy ~1e-10 absolute above ``nu = 1e-8`` (grid refinement, adaptive-quadrature and Monte Carlo checks in
    ``tests/test_glm.py``). Below it the asymptote is exact to ~1e-8 for ``alpha_D < P(phi' != 0)`` but only to
    ~1e-3 for tanh at alpha_D = 1 and relu at alpha_D > 1/2, which approach it like ``sqrt(nu)``. For the linear
    phi this is ``(alpha_D / 2) V(1 / (alpha_D nu), alpha_D)`` (Marchenko-Pastur, chapter "Collapse"). Cost: ms per
    point, except tanh with alpha_D ~ 1 below nu ~ 1e-4 (seconds: the channel's law must be resolved at sqrt(nu)).

    References
    ----------
    Chapters "The hidden manifold model" and "Collapse"; Barbier et al. (2019), PNAS 116, 5451.
    """
    nu_arr = _check_nu(nu)
    alpha_D = _check_alpha_D(alpha_D)
    act = _activation(activation)
    scale2 = act.scale**2
    out = np.empty(nu_arr.shape)
    flat = nu_arr.ravel()
    order = np.argsort(flat)[::-1]  # from large to small nu, warm-starting u* from the previous point
    slope = const = None
    u_prev = nu_prev = fpp = None
    res = out.ravel()
    for k in order:
        nu_k = float(flat[k])
        if nu_k < NU_ASYMPTOTE and act.name != "linear":  # the linear model is closed form everywhere
            if slope is None:
                slope, const = glm_small_t(alpha_D, act)
            res[k] = slope * math.log(1.0 / nu_k) + const
            continue
        nu_raw = nu_k * scale2
        # u* ~ ln nu + const at small nu: shift the previous optimum by half the change of ln nu
        guess = None if u_prev is None else u_prev + 0.5 * math.log(nu_raw / nu_prev)
        i, u_prev, _, fpp = _replica(act.name, nu_raw, alpha_D, guess, fpp)
        nu_prev = nu_raw
        res[k] = i
    return out


def glm_collapse_time(alpha, alpha_D, activation="linear"):
    """Collapse time ``t_c`` solving ``i(t_c) = alpha`` for the nonlinear hidden manifold.

    Parameters
    ----------
    alpha : float or array_like
        ``log P / N > 0``.
    alpha_D : float in (0, 1]
    activation : str or Activation
        As in :func:`glm_mutual_information` (default normalisation: centred, unit variance).

    Returns
    -------
    float or ndarray
        ``t_c = 1/2 ln(1 + nu_c)``; ``inf`` where ``alpha >= i(0+)`` (only for sign, whose ``i(0+)`` is finite).

    Raises
    ------
    ValueError
        If `alpha` is not finite and positive, or `alpha_D` is outside (0, 1].

    References
    ----------
    Chapter "Collapse" (condensation criterion ``I(a; x_t) / N = alpha``).
    """
    alpha_arr = positive(alpha, "alpha", "alpha = log P / N")
    alpha_D = _check_alpha_D(alpha_D)
    act = _activation(activation)
    out = np.empty(alpha_arr.shape)
    res = out.ravel()
    flat = alpha_arr.ravel()
    state = None
    for k in np.argsort(flat):
        t, state = _collapse_one(float(flat[k]), alpha_D, act, state)
        res[k] = t
    return float(out) if out.ndim == 0 else out


def _collapse_one(alpha: float, alpha_D: float, act: Activation, state, res: float = 1.0):
    """Newton in x = ln nu with the envelope derivative, safeguarded by the bracket it builds.

    `state` = (x, u*, f''(u*)) of the previous (smaller) alpha, or None. Returns (t_c, state).
    """
    slope, const = _small_t(act.name, act.scale, alpha_D)
    if slope == 0.0 and alpha >= const:
        return math.inf, state
    scale2, x_min = act.scale**2, math.log(NU_ASYMPTOTE)
    if state is None:
        # a normalised phi has the linear model's variance: its root is a good start
        x, u, fpp = _linear_root(alpha, alpha_D) + math.log(act.variance), None, None
    else:
        x, u, fpp = state
    x = max(x, x_min)
    lo, hi = -math.inf, math.inf  # i decreases with x: i(lo) > alpha > i(hi)
    for _ in range(100):
        i, u, didx, fpp = _replica(act.name, math.exp(x) * scale2, alpha_D, u, fpp, res)
        g = i - alpha
        if g > 0.0:
            lo = x
        else:
            hi = x
            if x <= x_min:  # the root is below nu = 1e-8: the asymptote (slope > 0 here)
                x = min(-(alpha - const) / slope, x_min)
                return 0.5 * math.log1p(math.exp(x)), (x_min, u, fpp)
        step = -g / didx if didx < 0.0 else math.copysign(1.0, g)
        if abs(step) < 1e-10 or abs(g) < 1e-14:
            x += step
            break
        nxt = x + min(max(step, -3.0), 3.0)
        if not lo < nxt < hi:
            nxt = 0.5 * (lo + hi) if math.isfinite(lo) and math.isfinite(hi) else min(max(nxt, lo), hi)
        x = max(nxt, x_min)
    return 0.5 * math.log1p(math.exp(x)), (x, u, fpp)


def _linear_root(alpha: float, alpha_D: float) -> float:
    """ln nu where the linear model's i equals alpha (closed form i, scalar root)."""
    def g(x):
        return _replica("linear", math.exp(x), alpha_D)[0] - alpha

    lo, hi = -60.0, 40.0
    # A root outside the bracket (alpha / alpha_D > ~30, where ln nu_c ~ -2 alpha / alpha_D, or a tiny alpha) is
    # only a starting point: the caller clamps it to ln(1e-8) and refines it, so the bracket's end will do.
    if g(lo) <= 0.0:
        return lo
    if g(hi) >= 0.0:
        return hi
    return optimize.brentq(g, lo, hi, xtol=1e-13)


def glm_small_t(alpha_D, activation="linear") -> tuple[float, float]:
    """Small-t asymptote ``i(nu) ~ slope ln(1/nu) + C``.

    Parameters
    ----------
    alpha_D : float in (0, 1]
    activation : str or Activation

    Returns
    -------
    slope, C : float
        For ``alpha_D < p = P(phi'(h) != 0)``: ``slope = alpha_D / 2`` and
        ``C = (alpha_D/2)(-u* - 1) + 1/2 E ln(1 + phi'(h)^2 e^{u*})`` with ``alpha_D = E[phi'^2 e^{u*} /
        (1 + phi'^2 e^{u*})]``. For smooth phi with ``alpha_D = 1``: ``slope = 1/2``, ``C = -1/2 + E ln|phi'(h)|``.
        relu with ``alpha_D >= 1/2``: ``slope = 1/4`` (the manifold is locally N/2-dimensional) and C from the
        noiseless limit of the atom + truncated-Gaussian channel. sign: ``slope = 0`` and ``C = i(0+)``.

    Raises
    ------
    ValueError
        If `alpha_D` is outside (0, 1] or `activation` is not in the registry.

    References
    ----------
    Chapter "Collapse" (the intrinsic dimension governs: ``nu_c ~ exp(-2 (alpha - C) / alpha_D)``).
    """
    alpha_D = _check_alpha_D(alpha_D)
    act = _activation(activation)
    return _small_t(act.name, act.scale, alpha_D)


_SMALL_T_CACHE: dict = {}


def _small_t(name: str, scale: float, alpha_D: float) -> tuple[float, float]:
    key = (name, scale, alpha_D)
    if key not in _SMALL_T_CACHE:
        _SMALL_T_CACHE[key] = _small_t_uncached(name, scale, alpha_D)
    return _SMALL_T_CACHE[key]


def _small_t_uncached(name: str, scale: float, alpha_D: float) -> tuple[float, float]:
    if name == "sign":
        # the two Gaussians no longer overlap below nu = 0.01: i is i(0+) to exp(-1/(2 nu))
        return 0.0, _replica("sign", 1e-3, alpha_D)[0]
    # law of phi'(h)^2, h ~ N(0, 1), as nodes and weights (normalised phi' = phi_raw' / scale)
    if name == "tanh":
        h = np.linspace(-12.0, 12.0, 961)
        wts = (h[1] - h[0]) * np.exp(-0.5 * h * h) / math.sqrt(2.0 * math.pi)
        d2 = (1.0 / np.cosh(h) ** 4) / scale**2
        p_nz = 1.0
    else:  # linear, relu: phi'^2 = 1/scale^2 on a set of probability p_nz
        p_nz = 1.0 if name == "linear" else 0.5
        d2, wts = np.array([1.0 / scale**2]), np.array([p_nz])
    if alpha_D < p_nz:
        def eq(u):
            z = d2 * math.exp(u)
            return float(wts @ (z / (1.0 + z))) - alpha_D

        lo = -1.0
        while eq(lo) > 0.0:
            lo -= 5.0
        hi = 1.0
        while eq(hi) < 0.0:
            hi += 5.0
        u = optimize.brentq(eq, lo, hi, xtol=1e-14, rtol=1e-15)
        const = 0.5 * alpha_D * (-u - 1.0) + 0.5 * float(wts @ np.log1p(d2 * math.exp(u)))
        return 0.5 * alpha_D, const
    if name != "relu":  # smooth phi at alpha_D = 1
        return 0.5, -0.5 + 0.5 * float(wts @ np.log(d2))
    return 0.25, _relu_noiseless_const(alpha_D, scale)


def _relu_noiseless_const(alpha_D: float, scale: float) -> float:
    """C for relu with alpha_D >= 1/2: q* stays below 1 and i - ln(1/nu)/4 tends to a q-optimisation.

    As nu -> 0 the channel splits into the atom indicator and a truncated Gaussian, so
    ``I_out -> E_V [H(pi_0) + (1 - pi_0)(h_trunc - ln scale - 1/2 ln(2 pi e))] + 1/4 ln(1/nu)``.
    """
    x, w = np.polynomial.legendre.leggauss(200)
    v, wv = 12.0 * x, 12.0 * w * np.exp(-0.5 * (12.0 * x) ** 2) / math.sqrt(2.0 * math.pi)

    def f(u):
        q = -math.expm1(u)
        s = math.exp(0.5 * u)
        z = math.sqrt(q) * v / s  # c / s
        lz, lmz = special.log_ndtr(z), special.log_ndtr(-z)
        Z = np.exp(lz)  # P(h > 0 | V) = 1 - pi_0
        hb = -Z * lz - np.exp(lmz) * lmz
        # Z (h_trunc - ln scale - 1/2 ln(2 pi e)) with h_trunc = ln(sqrt(2 pi e) s Z) - z phi(z) / (2 Z)
        cont = Z * (0.5 * u + lz - math.log(scale)) - 0.5 * z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        return 0.5 * alpha_D * (-u - q) + float(wv @ (hb + cont))

    r = optimize.minimize_scalar(f, bounds=(-40.0, 0.0), method="bounded", options={"xatol": 1e-10})
    return float(r.fun)


def glm_gaussian_equivalent_mutual_information(nu, alpha_D, activation="linear", latent=False):
    """Mutual information per dimension of the Gaussian-equivalent model ``a_GE = mu_1 F z / sqrt(D) + mu_* eta``.

    Its covariance ``mu_1^2 C + mu_*^2 I`` is full rank, so ``I(a_GE; x_t)/N = 1/2 ln(1 + mu_*^2 / nu) + (alpha_D / 2)
    V(mu_1^2 / (alpha_D (nu + mu_*^2)), alpha_D)`` grows like ``1/2 ln(1/nu)`` whatever alpha_D: this is the
    quantity whose condensation the Gaussian-equivalent model predicts (collapse driven by alpha, not alpha_D).
    With ``latent=True`` the second term alone, ``I(z; x_t)/N`` (``mu_* eta`` counted as noise), which stays finite
    as ``nu -> 0``; the replica i of the hidden manifold lies between the two.

    Parameters
    ----------
    nu : array_like
        ``e^{2t} - 1 > 0``.
    alpha_D : float in (0, 1]
    activation : str or Activation
    latent : bool
        Return ``I(z; x_t)/N`` instead of ``I(a_GE; x_t)/N``.

    Returns
    -------
    ndarray
        Same shape as `nu`.

    Raises
    ------
    ValueError
        If `nu` is not finite and positive, or `alpha_D` is outside (0, 1].

    References
    ----------
    Chapter "The hidden manifold model" (Gaussian equivalence and why it fails for memorization).
    """
    nu_arr = _check_nu(nu)
    alpha_D = _check_alpha_D(alpha_D)
    act = _activation(activation)
    m1, ms2 = act.mu1, act.mu_star**2
    gamma = m1 * m1 / (alpha_D * (nu_arr + ms2))
    i_z = 0.5 * alpha_D * marchenko_pastur_shannon(gamma, alpha_D)
    return i_z if latent else 0.5 * np.log1p(ms2 / nu_arr) + i_z
