"""diffmem: memorization and generalization of diffusion models under the manifold hypothesis.

The package behind the monograph: data models, the streaming empirical-score engine, samplers and diagnostics
(NumPy or CuPy), and the theory engines. The public API is what this module exports; the chapters use only that.
``diffmem.plotting`` and ``diffmem.widgets`` (matplotlib, ipywidgets) are imported explicitly by the chapters,
never here, so that the package imports without them.
"""

from . import backend, settings
from .activations import ACTIVATIONS, Activation, get_activation
from .models import GaussianData, GaussianEquivalent, HiddenManifold
from .sim.crossover import collapse_curve, crossover_midpoint, gaussian_collapse_fraction
from .sim.diagnostics import (
    Estimate,
    collapse_fraction,
    excess_entropy,
    nearest_index,
    participation_ratio,
    stabilization_time,
    test_cross_entropy,
)
from .sim.generalization import (
    GeneralizationMeasurement,
    loss_minimum,
    measure_generalization,
    nearest_neighbour_distance,
)
from .sim.geometry import (
    kolmogorov_distance,
    local_pca_spectrum,
    manifold_covariance,
    participation_dimension,
    spectral_density,
    spectral_quantile,
    tangent_spectrum,
    wasserstein_distance,
)
from .sim.meter import CollapseTimeEstimate, estimate_collapse_time, own_log_weight
from .sim.precision import score_error_bound
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
from .sim.traps import basin_edge, capture_probability, pattern_weight, probe_points, trajectory_capture
from .sweeps import CollapseSweep, SweepError, collapse_sweep, phase_diagram_sweep, sweep
from .theory.basins import basin_size, distance_cumulant, trap_log_partition
from .theory.glm import glm_small_t
from .theory.loss import generalization_loss
from .theory.rem import DerridaREM, condensation_point, minimal_distance, quenched_log_partition, saddle_entropy
from .theory.spectra import (
    Spectrum,
    marchenko_pastur_cdf,
    marchenko_pastur_density,
    marchenko_pastur_quadrature,
    marchenko_pastur_quantile,
)
from .theory.times import (
    Times,
    collapse_time,
    condensation_time,
    gaussian_equivalent,
    generalization_time,
    mutual_information,
    onset_time,
    phase_diagram,
    times,
)

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "METHODS",
    "Activation",
    "CollapseSweep",
    "CollapseTimeEstimate",
    "DerridaREM",
    "Estimate",
    "GaussianData",
    "GaussianEquivalent",
    "GeneralizationMeasurement",
    "HiddenManifold",
    "PosteriorStats",
    "Spectrum",
    "SweepError",
    "Times",
    "backend",
    "bandwidth2",
    "basin_edge",
    "basin_size",
    "capture_probability",
    "chunk_size",
    "collapse_curve",
    "collapse_fraction",
    "collapse_sweep",
    "collapse_time",
    "condensation_point",
    "condensation_time",
    "crossover_midpoint",
    "delta",
    "distance_cumulant",
    "empirical_log_density",
    "empirical_score",
    "estimate_collapse_time",
    "excess_entropy",
    "gaussian_collapse_fraction",
    "gaussian_equivalent",
    "generalization_loss",
    "generalization_time",
    "get_activation",
    "glm_small_t",
    "kolmogorov_distance",
    "local_pca_spectrum",
    "log_time_grid",
    "loss_minimum",
    "manifold_covariance",
    "marchenko_pastur_cdf",
    "marchenko_pastur_density",
    "marchenko_pastur_quadrature",
    "marchenko_pastur_quantile",
    "measure_generalization",
    "minimal_distance",
    "mutual_information",
    "nearest_index",
    "nearest_neighbour_distance",
    "onset_time",
    "own_log_weight",
    "participation_dimension",
    "participation_ratio",
    "pattern_weight",
    "phase_diagram",
    "phase_diagram_sweep",
    "posterior_mean",
    "posterior_stats",
    "probe_points",
    "quenched_log_partition",
    "saddle_entropy",
    "score_error_bound",
    "sample_marginal",
    "sample_posterior_index",
    "sample_reverse",
    "settings",
    "spectral_density",
    "spectral_quantile",
    "stabilization_time",
    "sweep",
    "tangent_spectrum",
    "test_cross_entropy",
    "times",
    "trajectory_capture",
    "trap_log_partition",
    "wasserstein_distance",
]
