"""Output-channel integrals of the replica formula for the nonlinear hidden manifold.

For the channel ``Y = phi(sqrt(q) V + sqrt(1 - q) W) + sqrt(nu) xi`` (V, W, xi standard normal) this module computes

* ``I_out(q; nu) = E_V h(Y | V) - 1/2 ln(2 pi e nu)``, the conditional mutual information ``I(W; Y | V)``;
* ``G(q; nu) = E_{V,Y} [d_c ln p(Y | c)]^2`` at ``c = sqrt(q) V``, so that ``dI_out/dq = -G/2`` (the GLM "g_out");
* ``F(q; nu) = E_V J(Y | V)``, the Fisher information of the location of ``p(y | V)``, so that
  ``dI_out/dnu = F/2 - 1/(2 nu)`` (de Bruijn's identity).

All of them are written for the *raw* nonlinearity (no shift, unit scale): an affine normalisation
``phi = (phi_raw - shift) / scale`` only rescales the noise, ``nu_raw = nu * scale^2``.

Scheme (chosen so that every rule is spectrally accurate, see ``tests/test_glm.py`` for the convergence checks):

* the conditional density ``p(y | V)`` is exact in closed form for linear, sign (two Gaussians) and relu (an atom at
  0 plus a Gaussian truncated at the kink, convolved with the noise); for tanh it is a trapezoid sum over ``W`` whose
  step resolves both the Gaussian weight and the noise width ``sqrt(nu)`` in output space;
* the entropy integral over ``y`` is a trapezoid on a per-``V`` grid: uniform with step ``0.7 sqrt(nu)`` for tanh
  and ``0.2 sqrt(nu)`` for sign, ``sinh``-mapped around the kink for relu (fine at the atom, coarse in the bulk);
* the ``V`` average is a trapezoid on ``[-9.5, 9.5]`` for tanh and Gauss-Legendre on the window ``|c| < 9 s`` for
  the kinked maps (outside it ``p(y | V)`` is linear or constant up to ``Phi(-9) ~ 1e-19``): Gauss-Hermite in ``V``
  cannot resolve the O(sqrt(1 - q)) structure at the kink;
* for sign below ``nu = 0.01`` the two Gaussians overlap by ``O(exp(-1/(2 nu)))`` and ``I(W; Y | V)`` is the binary
  entropy of ``Phi(c/s)`` to machine precision.

Cost: a few ms per (q, nu) for relu and sign; for tanh it grows like ``((1 - q) / nu)`` (the law of tanh is resolved
at the noise width), ~5-20 ms near the optimum for alpha_D <= 0.75, but seconds per point for alpha_D ~ 1 below
nu ~ 1e-4, where ``1 - q* ~ sqrt(nu)``.

Serves the chapters "The hidden manifold model" and "Collapse" (replica mutual information, THEORY.md section 7).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import special

__all__ = ["channel_terms"]

_LOG_2PI = math.log(2.0 * math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_WINDOW = 9.0  # |c|/s beyond which the kinked channels are exactly linear/constant up to Phi(-9) ~ 1e-19
_V_MAX = 9.5  # phi(9.5) ~ 1e-20: the Gaussian tail beyond it is below double precision of i
_SIGN_SWITCH = 0.01  # below this nu the sign channel's two Gaussians overlap by < exp(-50)
_NV_KINK = 56  # Gauss-Legendre V nodes on the kink window (relu, sign)
_Y_STEP_SIGN = 0.2  # sign: uniform y step in units of sqrt(nu) (the valley between the Gaussians needs it)
_ZETA_STEP = 0.043  # relu: step of the sinh-mapped y-grid


@functools.cache
def _legendre(n: int):
    x, w = np.polynomial.legendre.leggauss(n)
    return x, w


def _npdf(x):
    return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


def _plogp_sum(pw, dy, logof=None):
    """sum_j dy pw_j ln p_j along the last axis (p = `logof`, default pw), 0 ln 0 = 0 (tails underflow to 0)."""
    p = pw if logof is None else logof
    return np.sum(pw * np.log(np.where(p > 0.0, p, 1.0)), axis=-1) * dy


def _fisher_sum(dp, p, dy, jac=1.0):
    """sum_j dy jac_j dp_j^2 / p_j along the last axis, skipping underflowed tails."""
    pos = p > 1e-300
    return np.sum(np.where(pos, jac * dp * dp / np.where(pos, p, 1.0), 0.0), axis=-1) * dy


def _binary_entropy(z):
    """H(Phi(z)) in nats, accurate in both tails (log Phi through log_ndtr)."""
    lp, lm = special.log_ndtr(z), special.log_ndtr(-z)
    return -np.exp(lp) * lp - np.exp(lm) * lm


def _window(q: float, s: float, res: float):
    """Gauss-Legendre V nodes on |c| < 9 s (kinked maps), with the Gaussian density folded into the weights."""
    sq = math.sqrt(q)
    if sq == 0.0:
        return np.zeros(1), np.ones(1), 0.0
    half = min(_V_MAX, _WINDOW * s / sq)
    x, w = _legendre(int(_NV_KINK * res))
    return half * x, half * w * _npdf(half * x), float(special.ndtr(-half))


# --------------------------------------------------------------------------------------------------------------- linear
def _linear(q: float, nu: float, res: float):
    one_q = 1.0 - q
    return 0.5 * math.log1p(one_q / nu), 1.0 / (nu + one_q), 1.0 / (nu + one_q)


# ---------------------------------------------------------------------------------------------------------------- sign
def _sign_rows(c, s: float, nu: float, res: float = 1.0):
    """Per-V (J, G, F) of the sign channel at pre-activation means `c` (1-D array)."""
    sig = math.sqrt(nu)
    z = np.asarray(c, dtype=np.float64) / s
    if nu <= _SIGN_SWITCH:
        # well separated Gaussians: I(W; Y | V) = H(sign), g_out^2 integrates to phi(z)^2 / (s^2 Phi(z) Phi(-z))
        G = np.exp(-z * z - _LOG_2PI - special.log_ndtr(z) - special.log_ndtr(-z)) / (s * s)
        return _binary_entropy(z), G, np.full(z.shape, 1.0 / nu)
    # Phi(-z) directly: 1 - Phi(z) cancels catastrophically at the window's edge
    pi, pim = special.ndtr(z)[:, None], special.ndtr(-z)[:, None]
    ny = int(math.ceil((2.0 + 18.0 * sig) / (sig * _Y_STEP_SIGN / res))) + 1
    y = np.linspace(-1.0 - 9.0 * sig, 1.0 + 9.0 * sig, ny)
    dy = y[1] - y[0]
    n_plus, n_minus = _npdf((y - 1.0) / sig) / sig, _npdf((y + 1.0) / sig) / sig
    p = pi * n_plus + pim * n_minus
    dp_c = (_npdf(z) / s)[:, None] * (n_plus - n_minus)
    dp_y = -(pi * n_plus * (y - 1.0) + pim * n_minus * (y + 1.0)) / nu
    J = -_plogp_sum(p, dy) - 0.5 * (_LOG_2PI + 1.0 + math.log(nu))
    return J, _fisher_sum(dp_c, p, dy), _fisher_sum(dp_y, p, dy)


def _sign(q: float, nu: float, res: float):
    s = math.sqrt(1.0 - q)
    v, wv, _ = _window(q, s, res)  # outside the window Phi(c/s) is 0 or 1 to 1e-19: no information
    J, G, F = _sign_rows(math.sqrt(q) * v, s, nu, res)
    return float(wv @ J), float(wv @ G), float(wv @ F)


# ---------------------------------------------------------------------------------------------------------------- relu
def _relu_rows(c, s: float, nu: float, res: float = 1.0):
    """Per-V (J, G, F) of the relu channel: an atom at 0 plus a Gaussian truncated at 0, convolved with the noise."""
    c = np.asarray(c, dtype=np.float64)[:, None]
    s2, sig = s * s, math.sqrt(nu)
    T = s2 + nu
    # sinh-mapped y-grid: step ~ sigma/7 at the atom and the edge (both at y = 0), ~ 4% of |y| in the bulk
    A = sig / 2.0
    top = np.maximum(c[:, 0], 0.0) + 9.0 * math.sqrt(T) + 9.0 * sig
    z_hi = np.arcsinh(top / A)
    z_lo = -math.asinh(9.5 * sig / A)
    nz = int(math.ceil((float(z_hi.max()) - z_lo) / (_ZETA_STEP / res))) + 1
    zeta = z_lo + (z_hi[:, None] - z_lo) * np.linspace(0.0, 1.0, nz)
    dz = (z_hi - z_lo) / (nz - 1)
    y, jac = A * np.sinh(zeta), A * np.cosh(zeta)
    atom = _npdf(y / sig) / sig
    pi0 = special.ndtr(-c / s)
    # continuous part: int_0^inf N(h; c, s^2) N(y; h, nu) dh, closed form through the posterior of h given y
    gauss = np.exp(-0.5 * (y - c) ** 2 / T - 0.5 * math.log(T) - 0.5 * _LOG_2PI)
    sp = s * sig / math.sqrt(T)
    arg = (c * nu + y * s2) / (T * sp)
    cdf, pdf = special.ndtr(arg), _npdf(arg)
    p = pi0 * atom + gauss * cdf
    dp_c = -(_npdf(c / s) / s) * atom + gauss * ((y - c) / T * cdf + pdf * (nu / T) / sp)
    dp_y = -(y / nu) * pi0 * atom + gauss * (-(y - c) / T * cdf + pdf * (s2 / T) / sp)
    # the trapezoid in zeta carries the Jacobian dy/dzeta
    J = -_plogp_sum(p * jac, dz, logof=p) - 0.5 * (_LOG_2PI + 1.0 + math.log(nu))
    return J, _fisher_sum(dp_c, p, dz, jac), _fisher_sum(dp_y, p, dz, jac)


def _relu(q: float, nu: float, res: float):
    s = math.sqrt(1.0 - q)
    v, wv, out = _window(q, s, res)
    J, G, F = _relu_rows(math.sqrt(q) * v, s, nu, res)
    T = s * s + nu
    # beyond the window (mass `out` on each side): the linear channel for c > 9 s, a bare atom for c < -9 s
    return (float(wv @ J) + out * 0.5 * math.log1p(s * s / nu),
            float(wv @ G) + out / T,
            float(wv @ F) + out / T + out / nu)


# ---------------------------------------------------------------------------------------------------------------- tanh
_W_STEP = 0.35  # W step where tanh is flat: tanh's poles sit pi/(2s) >= pi/2 off the real W axis, error ~e^(-28)
_X_STEP = 1.5  # largest step of tanh(c + s W) between W nodes, in units of sqrt(nu)
_Y_STEP = 0.7  # y-grid step in units of sqrt(nu)
_CHUNK = 4_000_000  # kernel entries per chunk of V rows (~32 MB)
_NV_TANH = 80  # V trapezoid nodes on [-9.5, 9.5] (step 0.24; 64 nodes already give 1e-9)


def _tanh_nodes(h_lo, h_hi, s: float, sig: float, res: float):
    """Pre-activation nodes uniform in ``tau(h) = h / (s w_step) + tanh(h) / (sqrt(nu) x_step)`` on each row's range.

    One unit of tau moves W = (h - c)/s by at most ``w_step`` and tanh by at most ``x_step sqrt(nu)``: the nodes are
    fine where tanh moves and coarse where it is flat, and the trapezoid in tau stays spectrally accurate because the
    map is analytic (its singularities sit with tanh's poles, pi/2 off the real h axis).

    Parameters
    ----------
    h_lo, h_hi : (r,) ndarray
        Ranges (one per row; a single row can serve every V when s is large).

    Returns
    -------
    h, dh : (r, n) ndarray
        Nodes and trapezoid weights ``dtau * dh/dtau``.
    """
    a, b = res / (s * _W_STEP), res / (sig * _X_STEP)
    t_lo, t_hi = a * h_lo + b * np.tanh(h_lo), a * h_hi + b * np.tanh(h_hi)
    n = int(math.ceil(float(np.max(t_hi - t_lo)))) + 1
    tau = t_lo[:, None] + (t_hi - t_lo)[:, None] * np.linspace(0.0, 1.0, n)
    dtau = ((t_hi - t_lo) / (n - 1))[:, None]
    # invert the monotone map: bisection to 2^-34 of the range, then Newton, quadratic from there (a jittered
    # trapezoid would lose its spectral accuracy, so the nodes must be exact)
    lo, hi = np.broadcast_to(h_lo[:, None], tau.shape), np.broadcast_to(h_hi[:, None], tau.shape)
    for _ in range(34):
        mid = 0.5 * (lo + hi)
        right = a * mid + b * np.tanh(mid) > tau
        lo, hi = np.where(right, lo, mid), np.where(right, mid, hi)
    h = 0.5 * (lo + hi)
    for _ in range(3):
        th = np.tanh(h)
        h = h - (a * h + b * th - tau) / (a + b * (1.0 - th * th))
    th = np.tanh(h)
    return h, dtau / (a + b * (1.0 - th * th))


def _tanh_rows(c, s: float, nu: float, res: float = 1.0):
    """Per-V (J, G, F) of the tanh channel at pre-activation means `c` (1-D array)."""
    c = np.asarray(c, dtype=np.float64)
    sig = math.sqrt(nu)
    lo_h, hi_h = c - _V_MAX * s, c + _V_MAX * s
    # one node set shared by all rows when the rows overlap a lot (large s), else one set per row
    a, b = 1.0 / (s * _W_STEP), 1.0 / (sig * _X_STEP)
    n_shared = a * (hi_h.max() - lo_h.min()) + b * (math.tanh(hi_h.max()) - math.tanh(lo_h.min()))
    n_row = a * (hi_h[0] - lo_h[0]) + b * float(np.max(np.tanh(hi_h) - np.tanh(lo_h)))
    if n_shared < 3.0 * n_row:
        hs, dhs = _tanh_nodes(np.array([lo_h.min()]), np.array([hi_h.max()]), s, sig, res)
        hs, dhs = hs[0], dhs[0]
        # each row only needs the nodes within |W| < 9.5: a contiguous slice of bounded length
        first = np.searchsorted(hs, lo_h)
        nw = int(np.max(np.searchsorted(hs, hi_h) - first)) + 1
        idx = first[:, None] + np.arange(nw)
        inside = idx < hs.size
        idx = np.minimum(idx, hs.size - 1)
        h, dh = hs[idx], np.where(inside, dhs[idx], 0.0)  # clipped duplicates get no weight
    else:
        h, dh = _tanh_nodes(lo_h, hi_h, s, sig, res)
    w = (h - c[:, None]) / s
    ww = dh * _npdf(w) / s
    x = np.tanh(h)
    lo = np.tanh(c - 9.0 * s) - 9.0 * sig
    hi = np.tanh(c + 9.0 * s) + 9.0 * sig
    ny = int(math.ceil(float(np.max(hi - lo)) / (sig * _Y_STEP / res))) + 1
    t = np.linspace(0.0, 1.0, ny)
    dy = (hi - lo) / (ny - 1)
    J, G, F = np.empty(c.size), np.empty(c.size), np.empty(c.size)
    nr, nw = h.shape
    rhs = np.stack([ww, ww * w / s, ww * x], axis=-1) / (sig * math.sqrt(2.0 * math.pi))  # (nr, nw, 3)
    # band: only nodes within 9.5 sqrt(nu) of y matter (exp(-45) beyond). x is ascending in each row; offsetting
    # the rows makes one sorted array, so one searchsorted finds every band start
    off = (4.0 + 40.0 * sig) * np.arange(nr)
    flat = (x + off[:, None]).ravel()
    y_all = lo[:, None] + (hi - lo)[:, None] * t
    start = np.searchsorted(flat, (y_all - 9.5 * sig + off[:, None]).ravel()).reshape(nr, ny)
    stop = np.searchsorted(flat, (y_all + 9.5 * sig + off[:, None]).ravel()).reshape(nr, ny)
    band = int(np.max(stop - start)) + 1
    banded = 2 * band < nw
    width = band if banded else nw
    rows = max(1, _CHUNK // (ny * width))
    for i0 in range(0, nr, rows):
        sl = slice(i0, i0 + rows)
        y = y_all[sl]  # (r, ny)
        if banded:
            idx = np.minimum(start[sl, :, None] + np.arange(band), nr * nw - 1)  # (r, ny, band), flat indices
            xb = x.ravel()[idx]
            rb = rhs.reshape(-1, 3)[idx] * (idx < (np.arange(i0, i0 + y.shape[0]) + 1)[:, None, None] * nw)[..., None]
            d = y[:, :, None] - xb
            m = np.einsum("ijk,ijkl->ijl", np.exp(d * d * (-0.5 / nu)), rb)
        else:
            d = y[:, :, None] - x[sl, None, :]  # (r, ny, nw)
            # p, d_c p (Stein: E[W f(c + sW)]/s) and sum w x (for d_y p) as one batched matrix product
            m = np.exp(d * d * (-0.5 / nu)) @ rhs[sl]
        p, dp_c = m[..., 0], m[..., 1]
        dp_y = (m[..., 2] - y * p) / nu
        J[sl] = -_plogp_sum(p, dy[sl])
        G[sl] = _fisher_sum(dp_c, p, dy[sl])
        F[sl] = _fisher_sum(dp_y, p, dy[sl])
    return J - 0.5 * (_LOG_2PI + 1.0 + math.log(nu)), G, F


def _tanh(q: float, nu: float, res: float):
    sq = math.sqrt(q)
    if sq == 0.0:
        v, wv = np.zeros(1), np.ones(1)
    else:
        # analytic in V (tanh's poles are pi/(2 sqrt q) away): a plain trapezoid converges geometrically
        v = np.linspace(-_V_MAX, _V_MAX, int(_NV_TANH * res))
        wv = (v[1] - v[0]) * _npdf(v)
    J, G, F = _tanh_rows(sq * v, math.sqrt(1.0 - q), nu, res)
    return float(wv @ J), float(wv @ G), float(wv @ F)


_CHANNELS = {"linear": _linear, "sign": _sign, "relu": _relu, "tanh": _tanh}


def channel_terms(name: str, q: float, nu: float, res: float = 1.0) -> tuple[float, float, float]:
    """``(I_out, G, F)`` of the raw channel ``phi_raw(sqrt(q) V + sqrt(1-q) W) + sqrt(nu) xi``.

    Parameters
    ----------
    name : {"linear", "tanh", "relu", "sign"}
        The raw nonlinearity (no normalisation: pass ``nu * scale**2`` for a normalised phi).
    q : float in [0, 1)
        Overlap.
    nu : float > 0
        Noise variance of the raw channel.
    res : float
        Resolution multiplier of every grid (1 is the production setting, larger values give a reference).

    Returns
    -------
    I_out : float
        ``E_V h(Y | V) - 1/2 ln(2 pi e nu)`` in nats.
    G : float
        ``E (d_c ln p(Y | c))^2 = -2 dI_out/dq``.
    F : float
        ``E_V`` of the Fisher information of ``p(. | V)``, ``dI_out/dnu = F/2 - 1/(2 nu)``.
    """
    return _CHANNELS[name](float(q), float(nu), float(res))
