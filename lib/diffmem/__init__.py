"""diffmem: memorization and generalization of diffusion models under the manifold hypothesis.

The package behind the monograph: data models, the streaming empirical-score engine, samplers and diagnostics
(NumPy or CuPy), and the theory engines. The public API is what this module exports; the chapters use only that.
"""

from . import backend
from .activations import ACTIVATIONS, Activation, get_activation
from .models import GaussianData, HiddenManifold
from .sim.diagnostics import (
    Estimate,
    collapse_fraction,
    excess_entropy,
    nearest_index,
    participation_ratio,
    stabilization_time,
    test_cross_entropy,
)
from .sim.sampling import METHODS, sample_marginal, sample_reverse
from .sim.schedule import bandwidth2, delta, log_time_grid
from .sim.score import (
    PosteriorStats,
    chunk_size,
    empirical_log_density,
    empirical_score,
    posterior_mean,
    posterior_stats,
    sample_posterior_index,
)
from .theory.spectra import Spectrum, marchenko_pastur_density, marchenko_pastur_quadrature

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "METHODS",
    "Activation",
    "Estimate",
    "GaussianData",
    "HiddenManifold",
    "PosteriorStats",
    "Spectrum",
    "backend",
    "bandwidth2",
    "chunk_size",
    "collapse_fraction",
    "delta",
    "empirical_log_density",
    "empirical_score",
    "excess_entropy",
    "get_activation",
    "log_time_grid",
    "marchenko_pastur_density",
    "marchenko_pastur_quadrature",
    "nearest_index",
    "participation_ratio",
    "posterior_mean",
    "posterior_stats",
    "sample_marginal",
    "sample_posterior_index",
    "sample_reverse",
    "stabilization_time",
    "test_cross_entropy",
]
