"""Data models: isotropic Gaussian data and the Hidden Manifold Model (HMM).

A model with ``N`` given is a concrete finite object (for the HMM: one realised projection ``F``) that can be sampled
and whose covariance spectrum is the realised one. A model without ``N`` is the N -> infinity object that the theory
engines use (Marchenko-Pastur spectrum for linear phi, the replica formula for nonlinear phi).

Serves the chapters "Diffusion with the empirical score" and "The hidden manifold model" (THEORY.md section 1).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import backend
from ._checks import check_seed, count, latent_ratio
from .activations import Activation, get_activation
from .theory.spectra import Spectrum, marchenko_pastur_quadrature

__all__ = ["GaussianData", "GaussianEquivalent", "HiddenManifold"]


def _check_N(N):
    if N is None:
        return None
    if isinstance(N, bool) or not isinstance(N, numbers.Integral) or N < 1:
        raise ValueError(f"N must be a positive integer or None (the N -> infinity model), got {N!r}")
    return int(N)


def _need_N(model) -> int:
    if model.N is None:
        raise ValueError(
            f"{type(model).__name__} was built without N (the N -> infinity model) and cannot be sampled; "
            "pass N=... to the constructor"
        )
    return model.N


class GaussianData:
    """Isotropic Gaussian data ``a ~ N(0, I_N)``: model (G) of the book.

    Parameters
    ----------
    N : int or None
        Ambient dimension; ``None`` is the N -> infinity model (spectrum: all eigenvalues 1).
    """

    def __init__(self, N: int | None = None):
        self.N = _check_N(N)

    def __repr__(self) -> str:
        return f"GaussianData(N={self.N})"

    @property
    def is_linear(self) -> bool:
        """Gaussian data are a linear model: the theory needs only the covariance spectrum."""
        return True

    def sample(self, P: int, seed=None, xp=None):
        """Draw ``P`` data points.

        Parameters
        ----------
        P : int
            Number of points.
        seed : int, Generator or None
        xp : module, optional
            Array module (default: the active backend).

        Returns
        -------
        data : (P, N) array
        """
        N, P = _need_N(self), count(P, "P (number of points)")
        rng = backend.default_rng(seed, xp)
        return rng.standard_normal((P, N))

    def spectrum(self) -> Spectrum:
        """Eigenvalues of the covariance: all equal to 1 (one node of weight 1 for the infinite model)."""
        n = 1 if self.N is None else self.N
        return Spectrum(np.ones(n), np.full(n, 1.0 / n))


class HiddenManifold:
    """Hidden Manifold Model ``a = phi(F z / sqrt(D))`` with ``F`` (N, D) i.i.d. standard and ``z ~ N(0, I_D)``.

    Parameters
    ----------
    alpha_D : float in (0, 1]
        Latent dimension ratio ``D / N``.
    phi : {"linear", "tanh", "relu", "sign"} or Activation
        The manifold nonlinearity.
    N : int or None
        Ambient dimension. With ``N`` the model draws one projection ``F`` (from `seed`) with ``D = round(alpha_D N)``
        (at least 1); without it the model is the N -> infinity object used by the theory.
    seed : int, Generator or None
        Seed of the projection ``F``.
    normalize : {"unit_variance", "raw"}
        ``"unit_variance"`` (default) centres phi and scales it to unit variance, so that every ambient component has
        mean 0 and variance 1; ``"raw"`` keeps phi as written.

    Attributes
    ----------
    F : (N, D) ndarray or None
        The projection (NumPy, float64), ``None`` for the infinite model.
    activation : Activation
    """

    def __init__(self, alpha_D: float, phi="linear", N: int | None = None, seed=None,
                 normalize: str = "unit_variance"):
        self.alpha_D = latent_ratio(alpha_D)
        self.activation: Activation = get_activation(phi, normalize)
        self.N = _check_N(N)
        self.seed = check_seed(seed)
        if self.N is None:
            self.D = None
            self.F = None
        else:
            self.D = max(1, int(round(self.alpha_D * self.N)))
            self.F = np.random.default_rng(seed).standard_normal((self.N, self.D))

    def __repr__(self) -> str:
        return (f"HiddenManifold(alpha_D={self.alpha_D}, phi={self.activation.name!r}, N={self.N}, "
                f"normalize={self.activation.normalize!r})")

    @property
    def phi(self) -> str:
        """Name of the nonlinearity."""
        return self.activation.name

    @property
    def is_linear(self) -> bool:
        """True for ``phi="linear"``: then the data are Gaussian and the covariance spectrum says everything."""
        return self.activation.name == "linear"

    def sample(self, P: int, seed=None, xp=None, return_latents: bool = False):
        """Draw ``P`` points of the manifold.

        Parameters
        ----------
        P : int
        seed : int, Generator or None
            Seed of the latent codes (the projection is fixed by the constructor's seed).
        xp : module, optional
            Array module (default: the active backend).
        return_latents : bool
            Also return the latent codes.

        Returns
        -------
        data : (P, N) array
        z : (P, D) array
            Only if `return_latents`.
        """
        _need_N(self)
        P = count(P, "P (number of points)")
        xp = backend.active() if xp is None else xp
        rng = backend.default_rng(seed, xp)
        z = rng.standard_normal((P, self.D))
        h = z @ xp.asarray(self.F.T) / math.sqrt(self.D)
        data = self.activation(h)
        return (data, z) if return_latents else data

    def covariance(self) -> np.ndarray:
        """The (N, N) covariance of the data at the realised ``F``.

        Exact for linear phi (``F F^T / D``); for nonlinear phi the Gaussian-equivalent covariance
        ``mu_1^2 F F^T / D + mu_*^2 I`` (exact up to corrections of relative order 1/sqrt(D) per entry, which move the
        bulk of the spectrum by o(1)), centred as phi is.
        """
        _need_N(self)
        act = self.activation
        C = (act.mu1**2 / self.D) * (self.F @ self.F.T)
        C[np.diag_indices_from(C)] += act.mu_star**2  # 0 for linear phi
        return C

    def spectrum(self, n_quad: int = 512) -> Spectrum:
        """The covariance spectrum: realised eigenvalues when ``N`` is given, else the N -> infinity law.

        For linear phi the limit has an atom of weight ``1 - alpha_D`` at 0 and, with weight ``alpha_D``, the law
        ``(1 / alpha_D) x Marchenko-Pastur(alpha_D)`` (mean variance 1 per ambient component). For nonlinear phi it is
        the spectrum of the Gaussian-equivalent covariance, ``mu_1^2 x (linear law) + mu_*^2``.

        Parameters
        ----------
        n_quad : int
            Quadrature nodes for the Marchenko-Pastur part of the infinite model.

        Returns
        -------
        Spectrum
        """
        n_quad = count(n_quad, "n_quad")
        if self.N is not None:
            return Spectrum.from_eigenvalues(np.linalg.eigvalsh(self.covariance()))
        x, w = marchenko_pastur_quadrature(self.alpha_D, n_quad)
        values, weights = x / self.alpha_D, w * self.alpha_D
        if self.alpha_D < 1.0:
            values = np.concatenate([[0.0], values])
            weights = np.concatenate([[1.0 - self.alpha_D], weights])
        act = self.activation
        return Spectrum(act.mu1**2 * values + act.mu_star**2, weights)


class GaussianEquivalent:
    """The Gaussian-equivalent model of a hidden manifold: ``a = mu_0 + mu_1 F z / sqrt(D) + mu_* eta``.

    ``eta ~ N(0, I_N)`` is independent noise and ``mu_0, mu_1, mu_*`` are the mean, linear part and residual
    amplitude of phi (:class:`~diffmem.activations.Activation`). The model has the same mean and covariance as the
    manifold, ``mu_1^2 F F^T / D + mu_*^2 I``, but is Gaussian and full rank (for nonlinear phi): the theory of
    linear models applies to it exactly. Usable wherever a model is (THEORY.md section 7).

    Parameters
    ----------
    base : HiddenManifold
        The manifold; with ``N`` given the same projection ``F`` is used.

    Attributes
    ----------
    alpha_D, N, D, F
        Those of `base`.
    mu0, mu1, mu_star : float
    """

    def __init__(self, base: HiddenManifold):
        if not isinstance(base, HiddenManifold):
            raise TypeError(f"base must be a HiddenManifold, got {base!r}")
        self.base = base
        self.alpha_D, self.N, self.D, self.F = base.alpha_D, base.N, base.D, base.F
        act = base.activation
        self.mu0, self.mu1, self.mu_star = act.mean, act.mu1, act.mu_star

    def __repr__(self) -> str:
        return f"GaussianEquivalent({self.base!r})"

    @property
    def is_linear(self) -> bool:
        """Always True: the model is Gaussian and its covariance spectrum says everything."""
        return True

    def sample(self, P: int, seed=None, xp=None, return_latents: bool = False):
        """Draw ``P`` points ``mu_0 + mu_1 F z / sqrt(D) + mu_* eta``.

        Parameters
        ----------
        P : int
        seed : int, Generator or None
            Seed of the latent codes and of the noise.
        xp : module, optional
        return_latents : bool

        Returns
        -------
        data : (P, N) array
        z : (P, D) array
            Only if `return_latents`.
        """
        N, P = _need_N(self), count(P, "P (number of points)")
        xp = backend.active() if xp is None else xp
        rng = backend.default_rng(seed, xp)
        z = rng.standard_normal((P, self.D))
        data = (self.mu1 / math.sqrt(self.D)) * (z @ xp.asarray(self.F.T))
        data = data + self.mu_star * rng.standard_normal((P, N)) + self.mu0
        return (data, z) if return_latents else data

    def covariance(self) -> np.ndarray:
        """The (N, N) covariance ``mu_1^2 F F^T / D + mu_*^2 I``: exact for this model, the same as the manifold's."""
        return self.base.covariance()

    def spectrum(self, n_quad: int = 512) -> Spectrum:
        """Realised eigenvalues (``N`` given) or ``mu_1^2 x (linear-manifold law) + mu_*^2`` (N -> infinity)."""
        return self.base.spectrum(n_quad)
