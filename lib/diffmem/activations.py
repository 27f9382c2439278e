"""Registry of manifold nonlinearities phi, with their normalisation and the facts the theory needs.

The hidden manifold model maps latent codes through ``a = phi(F z / sqrt(D))``; the pre-activation
``h = F_i . z / sqrt(D)`` is (asymptotically) standard normal. By default phi is centred and scaled to unit variance
under ``h ~ N(0, 1)`` so that every ambient component of the data has mean 0 and variance 1, as for Gaussian data.
``normalize="raw"`` keeps phi as written.

Serves the chapter "The hidden manifold model" and the nonlinear theory (THEORY.md section 7).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import integrate

__all__ = ["ACTIVATIONS", "NORMALIZATIONS", "Activation", "get_activation"]

#: Names of the nonlinearities in the registry.
ACTIVATIONS = ("linear", "tanh", "relu", "sign")
#: Accepted values of ``normalize``.
NORMALIZATIONS = ("unit_variance", "raw")

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _gauss_expect(f) -> float:
    """E f(h) for h ~ N(0, 1) by adaptive quadrature (accurate to ~1e-13 for the smooth f used here)."""
    val, _ = integrate.quad(lambda h: f(h) * _INV_SQRT_2PI * math.exp(-0.5 * h * h), -np.inf, np.inf,
                            epsabs=1e-14, epsrel=1e-13, limit=200)
    return val


@functools.cache
def _raw_moments(name: str) -> tuple[float, float, float]:
    """(mean, variance, mu_1 = E[h phi(h)]) of the raw phi under h ~ N(0, 1)."""
    if name == "linear":
        return 0.0, 1.0, 1.0
    if name == "tanh":
        second = _gauss_expect(lambda h: math.tanh(h) ** 2)
        # E[h tanh h] = E[tanh'(h)] = 1 - E[tanh^2] by Stein's lemma
        return 0.0, second, 1.0 - second
    if name == "relu":
        return _INV_SQRT_2PI, 0.5 - 1.0 / (2.0 * math.pi), 0.5
    if name == "sign":
        return 0.0, 1.0, math.sqrt(2.0 / math.pi)
    raise AssertionError(name)  # guarded by get_activation


def _raw(name: str, h, xp):
    if name == "linear":
        return h
    if name == "tanh":
        return xp.tanh(h)
    if name == "relu":
        return xp.maximum(h, 0.0)
    return xp.sign(h)


def _raw_derivative(name: str, h, xp):
    if name == "linear":
        return xp.ones_like(h)
    if name == "tanh":
        return 1.0 / xp.cosh(h) ** 2
    if name == "relu":
        return (h > 0).astype(h.dtype)
    return xp.zeros_like(h)  # sign: zero almost everywhere (the jump at 0 is an atom of the output law)


@dataclass(frozen=True)
class Activation:
    """A nonlinearity phi with its affine normalisation ``phi(h) = (phi_raw(h) - shift) / scale``.

    Attributes
    ----------
    name : str
        One of :data:`ACTIVATIONS`.
    normalize : str
        One of :data:`NORMALIZATIONS`.
    shift, scale : float
        Mean and standard deviation of ``phi_raw(h)`` for ``"unit_variance"``; 0 and 1 for ``"raw"``.

    Raises
    ------
    ValueError
        For a name or normalisation outside the registry, a shift that is not finite or a scale that is not
        finite and > 0 (:func:`get_activation` builds valid ones).
    """

    name: str
    normalize: str
    shift: float
    scale: float

    def __post_init__(self):
        from ._checks import positive, real  # noqa: PLC0415 - _checks imports the backend, loaded lazily here

        if not isinstance(self.name, str) or self.name not in ACTIVATIONS:
            raise ValueError(f"phi must be one of {ACTIVATIONS}, got {self.name!r}")
        if not isinstance(self.normalize, str) or self.normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {self.normalize!r}")
        if np.ndim(real(self.shift, "shift")) or np.ndim(positive(self.scale, "scale", "phi's scale")):
            raise ValueError(f"shift and scale must be scalars, got {self.shift!r} and {self.scale!r}")

    def __call__(self, h):
        """phi(h), elementwise, on the array module of `h`."""
        from .backend import get_array_module  # noqa: PLC0415 - avoid an import cycle at package import

        xp = get_array_module(h)
        out = _raw(self.name, h, xp)
        if self.shift != 0.0 or self.scale != 1.0:
            out = (out - self.shift) / self.scale
        return out

    def derivative(self, h):
        """phi'(h), elementwise (0 for sign away from 0, 1[h > 0] for relu)."""
        from .backend import get_array_module  # noqa: PLC0415

        xp = get_array_module(h)
        return _raw_derivative(self.name, h, xp) / self.scale

    @property
    def mean(self) -> float:
        """E phi(h) for h ~ N(0, 1): 0 when normalised."""
        m, _, _ = _raw_moments(self.name)
        return (m - self.shift) / self.scale

    @property
    def variance(self) -> float:
        """Var phi(h) for h ~ N(0, 1): 1 when normalised."""
        _, v, _ = _raw_moments(self.name)
        return v / self.scale**2

    @property
    def mu1(self) -> float:
        """mu_1 = E[h phi(h)] = E[phi'(h)]: the linear part of phi (Gaussian-equivalent model)."""
        _, _, m1 = _raw_moments(self.name)
        return m1 / self.scale

    @property
    def mu_star(self) -> float:
        """mu_* = sqrt(Var phi - mu_1^2): the amplitude of the effective noise of the Gaussian-equivalent model."""
        return math.sqrt(max(self.variance - self.mu1**2, 0.0))

    @property
    def atoms(self) -> tuple[tuple[float, float], ...]:
        """Atoms of the law of phi(h), h ~ N(0, 1), as ((value, probability), ...) in output units."""
        if self.name == "relu":
            return (((0.0 - self.shift) / self.scale, 0.5),)
        if self.name == "sign":
            return (((-1.0 - self.shift) / self.scale, 0.5), ((1.0 - self.shift) / self.scale, 0.5))
        return ()

    @property
    def kinks(self) -> tuple[float, ...]:
        """Pre-activation values h where phi is not differentiable."""
        return (0.0,) if self.name in ("relu", "sign") else ()

    @property
    def p_nonzero_derivative(self) -> float:
        """P(phi'(h) != 0) for h ~ N(0, 1): the local dimension fraction of the manifold's tangent map."""
        return {"linear": 1.0, "tanh": 1.0, "relu": 0.5, "sign": 0.0}[self.name]


def get_activation(phi: str | Activation = "linear", normalize: str = "unit_variance") -> Activation:
    """Look up phi in the registry.

    Parameters
    ----------
    phi : {"linear", "tanh", "relu", "sign"} or Activation
        An :class:`Activation` is returned unchanged.
    normalize : {"unit_variance", "raw"}
        ``"unit_variance"`` centres phi and scales it to unit variance under a standard normal input.

    Returns
    -------
    Activation

    Raises
    ------
    ValueError
        If `phi` or `normalize` is not in the registry.
    """
    if isinstance(phi, Activation):
        return phi
    if not isinstance(phi, str) or phi not in ACTIVATIONS:
        raise ValueError(f"phi must be one of {ACTIVATIONS}, got {phi!r}")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
    if normalize == "raw":
        return Activation(phi, normalize, 0.0, 1.0)
    m, v, _ = _raw_moments(phi)
    return Activation(phi, normalize, m, math.sqrt(v))
