"""Geometry of hidden-manifold data: covariance spectra, their distance to the limit laws, and dimensions.

Tools for the chapter "The hidden manifold model" (label ``chap-hmm``):

* the N -> infinity covariance spectrum of a hidden manifold or of its Gaussian equivalent, an atom of weight
  ``1 - alpha_D`` at ``mu_*^2`` plus ``mu_*^2 + (mu_1^2 / alpha_D) x Marchenko-Pastur(alpha_D)``
  (:func:`spectral_density`, :func:`spectral_quantile`), built on the Marchenko-Pastur law of
  :mod:`diffmem.theory.spectra`;
* distances between an empirical spectrum and a law (:func:`kolmogorov_distance`, :func:`wasserstein_distance`);
* the exact covariance of nonlinear manifold data at the realised projection, by the Mehler (Hermite) expansion
  (:func:`manifold_covariance`), to compare with the Gaussian-equivalent one of
  :meth:`diffmem.HiddenManifold.covariance`;
* dimensions: the participation ratio ``(tr C)^2 / tr C^2`` (:func:`participation_dimension`), the tangent map of
  the model (:func:`tangent_spectrum`) and local principal components of a data set (:func:`local_pca_spectrum`).

Everything here is NumPy: spectra and covariances are small (N x N) objects; data sets may come from any backend
and are converted.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .. import backend
from .._checks import as_data, check_callable, check_seed, count, real
from ..models import GaussianEquivalent, HiddenManifold
from ..theory.spectra import marchenko_pastur_density, marchenko_pastur_quantile, unit_interval

__all__ = [
    "kolmogorov_distance",
    "local_pca_spectrum",
    "manifold_covariance",
    "participation_dimension",
    "spectral_density",
    "spectral_quantile",
    "tangent_spectrum",
    "wasserstein_distance",
]


# ------------------------------------------------------------------------------------------------ validation
def _check_model(model, need_N: bool = False):
    if not isinstance(model, HiddenManifold | GaussianEquivalent):
        raise TypeError(f"model must be a HiddenManifold or a GaussianEquivalent, got {model!r}")
    if need_N and model.N is None:
        raise ValueError(f"{model!r} was built without N: pass N=... to the constructor (a realised projection F)")
    return model


def _check_samples(samples, name: str = "samples") -> np.ndarray:
    x = real(backend.to_numpy(samples), name).ravel()
    if x.size == 0:
        raise ValueError(f"{name} must not be empty")
    return np.sort(x)


def _model_moments(model) -> tuple[float, float, float]:
    """(alpha_D, mu_1^2, mu_*^2) of a hidden manifold or of its Gaussian equivalent."""
    if isinstance(model, GaussianEquivalent):
        return model.alpha_D, model.mu1**2, model.mu_star**2
    act = model.activation
    return model.alpha_D, act.mu1**2, act.mu_star**2


# ------------------------------------------------------------------------------------ limit covariance spectrum
def spectral_density(x, model):
    """N -> infinity covariance spectrum of a hidden manifold (or its Gaussian equivalent): density and atom.

    The covariance ``mu_1^2 F F^T / D + mu_*^2 I`` has ``N - D`` eigenvalues ``mu_*^2`` and ``D`` eigenvalues
    ``mu_*^2 + (mu_1^2 / alpha_D) X``, ``X ~ Marchenko-Pastur(alpha_D)`` (for linear phi ``mu_1 = 1, mu_* = 0``).

    Parameters
    ----------
    x : array_like
        Points (any shape).
    model : HiddenManifold or GaussianEquivalent
        Only ``alpha_D`` and the activation's ``mu_1, mu_*`` are used (``N`` is ignored).

    Returns
    -------
    density : ndarray
        Density of the continuous part at `x` (it integrates to ``alpha_D``).
    atom : (float, float)
        ``(mu_*^2, 1 - alpha_D)``: location and weight of the atom (weight 0 when ``alpha_D = 1``).

    Raises
    ------
    TypeError
        If `model` is not a HiddenManifold or GaussianEquivalent.
    """
    alpha_D, m1s, mss = _model_moments(_check_model(model))
    x = real(x, "x", allow_inf=True)
    jac = alpha_D / m1s  # X = alpha_D (x - mu_*^2) / mu_1^2
    dens = alpha_D * jac * marchenko_pastur_density(jac * (x - mss), alpha_D)
    return dens, (mss, 1.0 - alpha_D)


def spectral_quantile(u, model):
    """Quantile function of the N -> infinity covariance spectrum of :func:`spectral_density`.

    Parameters
    ----------
    u : array_like
        Probabilities in [0, 1].
    model : HiddenManifold or GaussianEquivalent

    Returns
    -------
    ndarray
        ``mu_*^2`` for ``u <= 1 - alpha_D`` (the atom), ``mu_*^2 + (mu_1^2 / alpha_D) Q_MP((u - 1 + alpha_D) /
        alpha_D)`` above.

    Raises
    ------
    TypeError, ValueError
        Bad `model`, or `u` outside [0, 1].
    """
    alpha_D, m1s, mss = _model_moments(_check_model(model))
    u = unit_interval(u, "u")
    w0 = 1.0 - alpha_D
    v = np.clip((u - w0) / alpha_D, 0.0, 1.0)
    bulk = mss + (m1s / alpha_D) * marchenko_pastur_quantile(v, alpha_D)
    return np.where(u <= w0, mss, bulk)


# --------------------------------------------------------------------------------------------------- distances
def kolmogorov_distance(samples, cdf) -> float:
    """Kolmogorov distance ``sup_x |F_n(x) - F(x)|`` between the empirical law of `samples` and a continuous law.

    Evaluated exactly at the jumps of the empirical CDF: ``max_k max(k/n - F(x_(k)), F(x_(k)) - (k-1)/n)``.

    Parameters
    ----------
    samples : (n,) array_like
        E.g. the nonzero eigenvalues of a covariance.
    cdf : callable
        Vectorised CDF of a law without atoms, e.g. ``lambda x: marchenko_pastur_cdf(x, c)``.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    TypeError
        If `samples` is not numeric or `cdf` not callable.
    ValueError
        If `samples` is empty or not finite, or `cdf` does not return one value in [0, 1] per sample.
    """
    x = _check_samples(samples)
    check_callable(cdf, "cdf", "the vectorised CDF of a law")
    n = x.size
    F = np.asarray(cdf(x), dtype=np.float64)
    if F.shape != x.shape or not np.all((F >= 0.0) & (F <= 1.0)):
        raise ValueError(f"cdf must return one value in [0, 1] per sample (shape {x.shape}), got shape {F.shape} "
                         f"with range [{np.min(F, initial=np.inf):.3g}, {np.max(F, initial=-np.inf):.3g}]")
    k = np.arange(1, n + 1)
    return float(max(np.max(k / n - F), np.max(F - (k - 1) / n)))


def wasserstein_distance(samples, quantile, n_sub: int = 64) -> float:
    """Wasserstein-1 distance ``int_0^1 |Q_n(u) - Q(u)| du`` between the empirical law of `samples` and a law.

    Unlike the Kolmogorov distance it is meaningful for laws with atoms (the ``N - D`` eigenvalues at ``mu_*^2``),
    and it measures how far eigenvalues sit from their limiting positions, in eigenvalue units. The integral runs
    over each step ``[(k-1)/n, k/n]`` of the empirical quantile function with `n_sub` Gauss-Legendre nodes.

    Parameters
    ----------
    samples : (n,) array_like
    quantile : callable
        Vectorised quantile function of the law on [0, 1], e.g. ``lambda u: spectral_quantile(u, model)``.
    n_sub : int
        Nodes per step.

    Returns
    -------
    float
        ``W_1 >= 0``, in the units of `samples` (eigenvalue units for a spectrum).

    Raises
    ------
    TypeError
        If `samples` is not numeric or `quantile` not callable.
    ValueError
        If `samples` is empty or not finite, `n_sub` < 1, or `quantile` does not return one finite value per
        probability.
    """
    x = _check_samples(samples)
    check_callable(quantile, "quantile", "the vectorised quantile function of a law")
    n_sub = count(n_sub, "n_sub")
    n = x.size
    g, w = np.polynomial.legendre.leggauss(n_sub)
    u = (np.arange(n)[:, None] + 0.5 * (g[None, :] + 1.0)) / n  # (n, n_sub) inside each step
    Q = np.asarray(quantile(u), dtype=np.float64)
    if Q.shape != u.shape or not np.all(np.isfinite(Q)):
        raise ValueError(f"quantile must return one finite value per probability (shape {u.shape}), got shape "
                         f"{Q.shape}{'' if Q.shape != u.shape else ' with NaN or inf'}")
    return float(np.sum(np.abs(x[:, None] - Q) * (0.5 * w[None, :])) / n)


# ------------------------------------------------------------------------------------- exact covariance (Mehler)
@functools.lru_cache(maxsize=4)
def _split_rule(n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E f(u), u ~ N(0, 1): Gauss-Legendre on (-L, 0) and (0, L) separately, L = 12.

    The registry's kinks are at h = 0, hence at u = 0 whatever the scale s of ``phi(s u)``.
    """
    L = 12.0
    g, w = np.polynomial.legendre.leggauss(n_nodes)
    u = np.concatenate([0.5 * L * (g - 1.0), 0.5 * L * (g + 1.0)])
    wu = np.concatenate([w, w]) * 0.5 * L * np.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)
    return u, wu


def _hermite_coefficients(act, s: np.ndarray, order: int, n_nodes: int = 160) -> np.ndarray:
    """``c_k(s) = E[phi(s u) He_k(u)] / sqrt(k!)``, k = 0..order, u ~ N(0, 1), for each scale in `s` (shape (n,))."""
    u, wu = _split_rule(n_nodes)
    f = act(s[:, None] * u[None, :]) * wu[None, :]  # (n, 2 n_nodes)
    coef = np.empty((order + 1, s.size))
    he_prev, he = np.zeros_like(u), np.ones_like(u)  # normalised Hermite he_k = He_k / sqrt(k!)
    for k in range(order + 1):
        coef[k] = f @ he
        he_prev, he = he, (u * he - math.sqrt(k) * he_prev) / math.sqrt(k + 1)
    return coef


def manifold_covariance(model, order: int = 40) -> np.ndarray:
    """The exact (N, N) covariance of the data ``a = phi(F z / sqrt(D))`` at the realised projection ``F``.

    The pre-activations ``h_i = F_i . z / sqrt(D)`` are jointly Gaussian with variances ``s_i^2 = |F_i|^2 / D`` and
    correlations ``rho_ij = F_i . F_j / (|F_i| |F_j|)``. Mehler's formula expands the covariance of two functions
    of correlated Gaussians on Hermite polynomials::

        Cov(phi(h_i), phi(h_j)) = sum_{k >= 1} c_k(s_i) c_k(s_j) rho_ij^k / k!,   c_k(s) = E[phi(s u) He_k(u)],

    whose ``k = 1`` term with ``s = 1`` is the Gaussian-equivalent ``mu_1^2 F F^T / D``. The diagonal is computed
    directly, ``Var phi(s_i u)``, and the series is truncated at `order` off the diagonal.

    Parameters
    ----------
    model : HiddenManifold
        With ``N`` given (a realised ``F``).
    order : int
        Highest Hermite order kept off the diagonal (the terms decay like ``c_k^2 |rho|^k / k!``).

    Returns
    -------
    (N, N) ndarray
        Symmetric, float64. For linear phi it is ``F F^T / D`` to round-off.

    Raises
    ------
    TypeError, ValueError
        If `model` is not a HiddenManifold with ``N`` given, or `order` < 1.
    """
    if not isinstance(model, HiddenManifold):
        raise TypeError(f"model must be a HiddenManifold, got {model!r}")
    _check_model(model, need_N=True)
    order = count(order, "order")
    F = model.F
    s = np.sqrt(np.einsum("ik,ik->i", F, F) / model.D)
    Fn = F / (s[:, None] * math.sqrt(model.D))
    R = Fn @ Fn.T
    np.fill_diagonal(R, 1.0)
    coef = _hermite_coefficients(model.activation, s, order)
    cov = np.zeros_like(R)
    Rk = np.ones_like(R)
    tiny = 1e-15 * max(float(np.max(np.abs(coef[1]))), 1e-300)
    for k in range(1, order + 1):
        Rk *= R
        if np.max(np.abs(coef[k])) > tiny:  # odd phi: the even orders vanish
            cov += np.outer(coef[k], coef[k]) * Rk
    # on the diagonal (rho = 1) the series converges slowly: use the variance itself
    cov[np.diag_indices_from(cov)] = _direct_variance(model.activation, s)
    return cov


def _direct_variance(act, s: np.ndarray, n_nodes: int = 160) -> np.ndarray:
    """Var phi(s u), u ~ N(0, 1), by the same split Gauss-Legendre rule."""
    u, wu = _split_rule(n_nodes)
    f = act(s[:, None] * u[None, :])
    mean = f @ wu
    return (f * f) @ wu - mean * mean


# ---------------------------------------------------------------------------------------------------- dimensions
def participation_dimension(cov) -> float:
    """Participation-ratio ("PCA") dimension ``(tr C)^2 / tr C^2``.

    It counts directions weighted by variance: ``N`` for an isotropic cloud, ``r`` for ``r`` equal nonzero
    eigenvalues, fewer when the variances are unequal.

    Parameters
    ----------
    cov : (N, N) array_like or (K,) array_like
        A symmetric covariance matrix, or its eigenvalues.

    Returns
    -------
    float
        Between 1 and the number of nonzero eigenvalues when `cov` is positive semi-definite.

    Raises
    ------
    TypeError
        If `cov` is not numeric.
    ValueError
        If `cov` is not 1-D or square 2-D, is empty, not finite, or zero.
    """
    c = real(backend.to_numpy(cov), "cov")
    if c.size == 0 or c.ndim not in (1, 2):
        raise ValueError(f"cov must be a square matrix or a 1-D array of eigenvalues, non-empty, got shape {c.shape}")
    if c.ndim == 1:
        tr, tr2 = c.sum(), np.dot(c, c)
    elif c.ndim == 2 and c.shape[0] == c.shape[1]:
        tr, tr2 = np.trace(c), np.sum(c * c)  # tr C^2 = sum_ij C_ij^2 for symmetric C
    else:
        raise ValueError(f"cov must be a square matrix or a 1-D array of eigenvalues, non-empty, got shape {c.shape}")
    if tr2 == 0.0:
        raise ValueError("cov is zero: the participation dimension is undefined")
    return float(tr * tr / tr2)


def tangent_spectrum(model, z) -> np.ndarray:
    """Squared singular values of the tangent map ``J = diag(phi'(h)) F / sqrt(D)`` at latent codes `z`.

    ``J`` (N x D) maps a latent displacement ``dz`` to the data displacement ``da = J dz``: its column space is the
    tangent space of the manifold at ``a(z)``. Its D squared singular values are the eigenvalues of ``J^T J``; the
    manifold is locally D-dimensional wherever they are all positive, and ``(1/2) sum log`` of them is the log of
    the local volume element (the area formula).

    Parameters
    ----------
    model : HiddenManifold
        With ``N`` given.
    z : (M, D) or (D,) array_like
        Latent codes.

    Returns
    -------
    (M, D) ndarray
        Descending, for each code.

    Raises
    ------
    TypeError, ValueError
        If `model` is not a HiddenManifold with ``N`` given, or `z` has the wrong shape.
    """
    if not isinstance(model, HiddenManifold):
        raise TypeError(f"model must be a HiddenManifold, got {model!r}")
    _check_model(model, need_N=True)
    z = np.atleast_2d(real(backend.to_numpy(z), "z"))
    if z.ndim != 2 or z.shape[1] != model.D or z.shape[0] == 0:
        raise ValueError(f"z must have shape (M, D) with D = {model.D} and M >= 1, got {z.shape}")
    h = z @ model.F.T / math.sqrt(model.D)  # (M, N)
    d = model.activation.derivative(h)
    out = np.empty((z.shape[0], model.D))
    for m in range(z.shape[0]):
        J = d[m][:, None] * model.F / math.sqrt(model.D)
        out[m] = np.linalg.svd(J, compute_uv=False) ** 2
    return out


def local_pca_spectrum(data, k: int, n_centres: int = 200, seed=None, chunk: int = 50) -> np.ndarray:
    """Local principal components: covariance eigenvalues of the `k` nearest neighbours of random data points.

    A data-only probe of the intrinsic dimension. For points on a smooth D-dimensional manifold, a neighbourhood of
    radius ``r`` has ``D`` tangent variances of order ``r^2`` and normal ones of order ``r^4`` (curvature), so the
    spectrum drops after index D, by a factor that grows as ``r`` shrinks, i.e. as the number of points grows
    (``r ~ P^{-1/D}``). A full-rank cloud shows no such drop once ``r`` is small against its scale.

    Parameters
    ----------
    data : (P, N) array
        The data set (any backend; converted to NumPy).
    k : int
        Neighbours per centre (the centre itself included), ``2 <= k <= P``.
    n_centres : int
        Number of centres, drawn without replacement from `data`.
    seed : int, Generator or None
        Seed of the choice of centres.
    chunk : int
        Centres per distance block (memory ``chunk x P``).

    Returns
    -------
    (n_centres, N) ndarray
        Eigenvalues of each local covariance (1/k normalisation), descending; negative round-off clipped to 0.

    Raises
    ------
    ValueError
        If `data` is not 2-D, or `k`, `n_centres` are out of range.
    """
    _, X = as_data(backend.to_numpy(data))
    P, N = X.shape
    k = count(k, "k (neighbours)", minimum=2)
    if k > P:
        raise ValueError(f"k (neighbours) must be <= P = {P}, got {k}")
    n_centres = count(n_centres, "n_centres")
    if n_centres > P:
        raise ValueError(f"n_centres must be <= P = {P}, got {n_centres}")
    chunk = count(chunk, "chunk")
    rng = np.random.default_rng(check_seed(seed))
    centres = rng.choice(P, size=n_centres, replace=False)
    sq = np.einsum("pn,pn->p", X, X)
    out = np.empty((n_centres, N))
    for start in range(0, n_centres, chunk):
        idx = centres[start:start + chunk]
        d2 = sq[idx, None] + sq[None, :] - 2.0 * (X[idx] @ X.T)
        nn = np.argpartition(d2, k - 1, axis=1)[:, :k]
        nbrs = X[nn]  # (c, k, N)
        nbrs = nbrs - nbrs.mean(axis=1, keepdims=True)
        cov = np.einsum("ckn,ckm->cnm", nbrs, nbrs) / k
        out[start:start + idx.size] = np.linalg.eigvalsh(cov)[:, ::-1]
    return np.clip(out, 0.0, None)
