"""Every public function rejects bad input with an error that names the parameter and what is allowed (issue 7).

One table, :data:`BAD_INPUTS`: each row is a call with one bad argument, the exception type it must raise and a
regular expression that the message must match (the parameter's name and the allowed range or type). The rows are
built by small generators, one per kind of bad input (times, ratios, counts, point sets, seeds...), applied to
every public function that takes such an argument. ``len(BAD_INPUTS)`` is the number of bad inputs tried.
"""

from __future__ import annotations

import inspect
import math
import os
import re

import numpy as np
import pytest

import diffmem as dm
from diffmem import backend, settings

# ---------------------------------------------------------------------------------------------------- fixtures
_RNG = np.random.default_rng(0)
DATA = _RNG.standard_normal((6, 3))  # P = 6 patterns, N = 3
X = _RNG.standard_normal((4, 3))  # M = 4 query points
STATES = _RNG.standard_normal((2, 4, 3))  # K = 2 records of n = 4 trajectories
HM = dm.HiddenManifold(0.5, N=6, seed=0)  # realised linear manifold, D = 3
HM_TANH = dm.HiddenManifold(0.5, "tanh", N=6, seed=0)
HM_INF = dm.HiddenManifold(0.5)  # N -> infinity
TANH_INF = dm.HiddenManifold(0.5, "tanh")  # nonlinear: no closed form
GAUSS = dm.GaussianData()
SPEC = GAUSS.spectrum()
REM = dm.DerridaREM()
NAN, INF = float("nan"), float("inf")

# ------------------------------------------------------------------------------------------ message patterns


def _n(name):
    return re.escape(name)


def POS(name):
    """_checks.positive: finite and > 0."""
    return rf"{_n(name)} must be finite and > 0"


def NUM(name):
    """_checks.numeric: not a number at all."""
    return rf"{_n(name)} must be .*number"


def EMPTY(name):
    return rf"{_n(name)} must not be empty"


def COUNT(name, minimum=1):
    allowed = "a positive integer" if minimum == 1 else rf"an integer >= {minimum}"
    return rf"{_n(name)} must be {allowed}"


def SHAPE(name):
    return rf"{_n(name)} must be a 2-D array of shape \(\w, N\), non-empty"


def NONFINITE(name):
    return rf"{_n(name)} contains NaN or inf; every entry must be finite"


def MISMATCH(name):
    return rf"({_n(name)} has N=\d+ columns but data has N=3; they must match|{_n(name)} must have shape \(M, N\) " \
        rf"with N = 3)"


ALPHA_D = r"alpha_D must be in \(0, 1\]"
PHI = r"phi must be one of \('linear', 'tanh', 'relu', 'sign'\)"
SEED = r"seed must be None, an int >= 0"

# ---------------------------------------------------------------------------------------------- row builders
BAD_INPUTS: list = []


def _label(value) -> str:
    if isinstance(value, np.ndarray):
        return f"array{value.shape}" + ("-nan" if np.isnan(value).any() else "") + (
            "-inf" if np.isinf(value).any() else "")
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."


def row(fn, kwargs, exc, pattern, param=None, value=None, tag=None):
    """One bad input: ``fn(**kwargs)`` must raise `exc` with a message matching `pattern`."""
    name = getattr(fn, "__qualname__", getattr(fn, "__name__", repr(fn)))
    shown = tag if tag is not None else (f"{param}={_label(value)}" if param is not None else "call")
    BAD_INPUTS.append(pytest.param(fn, kwargs, exc, pattern, id=f"{name}[{shown}]-{len(BAD_INPUTS)}"))


def bad(fn, base, param, value, exc, pattern, tag=None):
    row(fn, {**base, param: value}, exc, pattern, param, value, tag)


def times(fn, base, param="t", name=None, arrays=True):
    """Forward times (or anything checked by _checks.positive): <= 0, NaN, inf, wrong types, empty."""
    name = name or param
    for v in (0.0, -1.0, 0, NAN, INF, -INF):
        bad(fn, base, param, v, ValueError, POS(name))
    if arrays:
        bad(fn, base, param, [0.5, 0.0], ValueError, POS(name))
        bad(fn, base, param, np.array([0.3, NAN]), ValueError, POS(name))
        bad(fn, base, param, [], ValueError, EMPTY(name))
    for v in ("0.5", None, True, 1j, [0.5, "a"]):
        bad(fn, base, param, v, TypeError, NUM(name))


def ratios(fn, base, param="alpha_D"):
    for v in (0.0, -0.5, 1.5, NAN, INF, "0.5", None, True, 1j):
        bad(fn, base, param, v, ValueError, ALPHA_D)


def counts(fn, base, param, name=None, minimum=1, optional=False):
    """A count (_checks.count); `optional` counts accept None."""
    name = name or param
    for v in (minimum - 1, -3, 2.5, NAN, "3", True) + (() if optional else (None,)):
        bad(fn, base, param, v, ValueError, COUNT(name, minimum))


def points(fn, base, param, name=None, mismatch=True, stack=False):
    """A 2-D set of points: wrong ndim, empty, NaN / inf, strings, wrong N (`stack`: 3-D is a list of sets)."""
    name = name or param
    bad(fn, base, param, np.zeros(3), ValueError, SHAPE(name))
    if not stack:
        bad(fn, base, param, np.zeros((2, 3, 3)), ValueError, SHAPE(name))
    bad(fn, base, param, np.zeros((0, 3)), ValueError, SHAPE(name))
    bad(fn, base, param, np.zeros((4, 0)), ValueError, SHAPE(name))
    for v in (NAN, INF):
        arr = np.ones((4, 3))
        arr[1, 2] = v
        bad(fn, base, param, arr, ValueError, NONFINITE(name))
    bad(fn, base, param, "points", TypeError, rf"{_n(name)} must be a .* array of numbers")
    bad(fn, base, param, None, TypeError, rf"{_n(name)} must be a .* array of numbers")
    bad(fn, base, param, np.full((4, 3), 1j), TypeError, rf"{_n(name)} must be a .* array of numbers")
    if mismatch:
        bad(fn, base, param, np.zeros((4, 2)), ValueError, MISMATCH(name))


def seeds(fn, base, param="seed"):
    for v in ("abc", 1.5, True, 1j):
        bad(fn, base, param, v, TypeError, SEED)
    for v in (-1, [1, -2]):
        bad(fn, base, param, v, ValueError, SEED)


def engine(fn, base):
    """The score engine's keywords: chunk, memory_budget, dtype."""
    counts(fn, base, "chunk", optional=True)
    for v in (0, -1, NAN, INF, "1e6", True):
        bad(fn, base, "memory_budget", v, ValueError, r"memory_budget must be a finite, positive number of bytes")
    bad(fn, base, "memory_budget", 8, ValueError, r"M=\d+ query points need \d+ bytes .* more than memory_budget=8")
    for v in (np.int32, "complex128", "int8"):
        bad(fn, base, "dtype", v, ValueError, r"dtype must be float64 or float32")
    bad(fn, base, "dtype", "not-a-dtype", ValueError, r"dtype must be float64 or float32")


def interval(fn, base, param, lo, hi, text, bad_values=None):
    values = bad_values if bad_values is not None else (lo, hi, NAN, lo - 1.0, hi + 1.0)
    for v in values:
        bad(fn, base, param, v, ValueError, rf"{_n(param)} must be (a number )?in {re.escape(text)}")
    for v in ("0.5", None, 1j):
        bad(fn, base, param, v, TypeError, rf"{_n(param)} must be a real number in {re.escape(text)}")


def models(fn, base, param="model", linear_only=True):
    for v in ("gaussian", None, 3.0, DATA):
        bad(fn, base, param, v, TypeError, r"model must be GaussianData, HiddenManifold, GaussianEquivalent")
    if linear_only:
        bad(fn, base, param, TANH_INF, ValueError, r"no closed form for the nonlinear manifold phi='tanh'")


def callables(fn, base, params=("phi", "dphi")):
    for p in params:
        for v in (None, 0.5, "phi"):
            bad(fn, base, p, v, TypeError, rf"{p} must be callable")


# ------------------------------------------------------------------------------------------------- the table
# data models and activations
for v in ("tanhh", "ReLU", None, 3, ""):
    bad(dm.get_activation, {}, "phi", v, ValueError, PHI)
    bad(dm.HiddenManifold, {"alpha_D": 0.5}, "phi", v, ValueError, PHI)
for v in ("unit", None, 1):
    bad(dm.get_activation, {"phi": "tanh"}, "normalize", v, ValueError, r"normalize must be one of")
    bad(dm.HiddenManifold, {"alpha_D": 0.5}, "normalize", v, ValueError, r"normalize must be one of")
ratios(dm.HiddenManifold, {})
for fn, base in ((dm.GaussianData, {}), (dm.HiddenManifold, {"alpha_D": 0.5})):
    for v in (0, -2, 2.5, NAN, "4", True):
        bad(fn, base, "N", v, ValueError, r"N must be a positive integer or None")
seeds(dm.HiddenManifold, {"alpha_D": 0.5, "N": 4})
for v in (None, HM_INF.activation, GAUSS, "tanh"):
    bad(dm.GaussianEquivalent, {}, "base", v, TypeError, r"base must be a HiddenManifold")
    bad(dm.gaussian_equivalent, {}, "model", v, TypeError, r"model must be a HiddenManifold")
for fn in (dm.GaussianData(N=3).sample, HM.sample, HM_TANH.sample, dm.GaussianEquivalent(HM_TANH).sample):
    counts(fn, {}, "P", "P (number of points)")
    seeds(fn, {"P": 3})
for fn in (dm.GaussianData().sample, HM_INF.sample, dm.GaussianEquivalent(TANH_INF).sample):
    row(fn, {"P": 3}, ValueError, r"built without N .* pass N=\.\.\. to the constructor", tag="no-N")
for fn in (HM_INF.spectrum, HM.spectrum):
    counts(fn, {}, "n_quad")
for kwargs, pattern in (
        ({"name": "tanhh", "normalize": "raw", "shift": 0.0, "scale": 1.0}, PHI),
        ({"name": "tanh", "normalize": "zscore", "shift": 0.0, "scale": 1.0}, r"normalize must be one of"),
        ({"name": "tanh", "normalize": "raw", "shift": NAN, "scale": 1.0}, r"shift must be finite"),
        ({"name": "tanh", "normalize": "raw", "shift": 0.0, "scale": 0.0}, POS("scale")),
        ({"name": "tanh", "normalize": "raw", "shift": 0.0, "scale": -1.0}, POS("scale")),
        ({"name": "tanh", "normalize": "raw", "shift": 0.0, "scale": INF}, POS("scale"))):
    row(dm.Activation, kwargs, ValueError, pattern, tag=f"{kwargs['name']}-{kwargs['normalize']}-"
        f"{kwargs['shift']}-{kwargs['scale']}")

# spectra
for fn in (dm.marchenko_pastur_cdf, dm.marchenko_pastur_density, dm.marchenko_pastur_quantile):
    for v in (0.0, -0.5, 1.5, NAN, INF, "0.5", None, True):
        bad(fn, {"x" if fn is not dm.marchenko_pastur_quantile else "u": 0.5}, "ratio", v, ValueError,
            r"ratio must be in \(0, 1\]")
for v in (0.0, -0.5, 1.5, NAN, INF, "0.5", None, True):
    bad(dm.marchenko_pastur_quadrature, {}, "ratio", v, ValueError, r"ratio must be in \(0, 1\]")
counts(dm.marchenko_pastur_quadrature, {"ratio": 0.5}, "n")
for fn in (dm.marchenko_pastur_cdf, dm.marchenko_pastur_density):
    bad(fn, {"ratio": 0.5}, "x", [1.0, NAN], ValueError, r"x must be real numbers \(NaN is not allowed\)")
    for v in ("1.0", None, 1j):
        bad(fn, {"ratio": 0.5}, "x", v, TypeError, NUM("x"))
for v in (-0.1, 1.1, NAN, [0.5, 2.0]):
    bad(dm.marchenko_pastur_quantile, {"ratio": 0.5}, "u", v, ValueError, r"u must be in \[0, 1\]")
    bad(dm.spectral_quantile, {"model": HM_INF}, "u", v, ValueError, r"u must be in \[0, 1\]")
for v in ("0.5", None, 1j):
    bad(dm.marchenko_pastur_quantile, {"ratio": 0.5}, "u", v, TypeError, NUM("u"))
    bad(dm.spectral_quantile, {"model": HM_INF}, "u", v, TypeError, NUM("u"))
for kwargs, exc, pattern, tag in (
        ({"values": [1.0, NAN], "weights": [0.5, 0.5]}, ValueError, r"values must be finite", "values-nan"),
        ({"values": [1.0, INF], "weights": [0.5, 0.5]}, ValueError, r"values must be finite", "values-inf"),
        ({"values": [1.0, -1.0], "weights": [0.5, 0.5]}, ValueError, r"values must be >= 0", "values-negative"),
        ({"values": [1.0, 2.0], "weights": [0.5, NAN]}, ValueError, r"weights must be finite", "weights-nan"),
        ({"values": [1.0, 2.0], "weights": [1.5, -0.5]}, ValueError, r"weights must be >= 0", "weights-negative"),
        ({"values": [1.0, 2.0], "weights": [0.5, 0.6]}, ValueError, r"weights must sum to 1", "weights-sum"),
        ({"values": [1.0, 2.0], "weights": [1.0]}, ValueError, r"values and weights must be 1-D of one length",
         "length"),
        ({"values": [], "weights": []}, ValueError, r"values must not be empty", "empty"),
        ({"values": [[1.0]], "weights": [[1.0]]}, ValueError, r"values and weights must be 1-D", "2-D"),
        ({"values": "1", "weights": [1.0]}, TypeError, NUM("values"), "values-str"),
        ({"values": [1.0], "weights": None}, TypeError, NUM("weights"), "weights-None")):
    row(dm.Spectrum, kwargs, exc, pattern, tag=tag)
for v in ([1.0, NAN], [INF], [-1.0, 2.0]):
    bad(dm.Spectrum.from_eigenvalues, {}, "eigenvalues", v, ValueError, r"eigenvalues must be (finite|>= 0)")
bad(dm.Spectrum.from_eigenvalues, {}, "eigenvalues", [], ValueError, EMPTY("eigenvalues"))
bad(dm.Spectrum.from_eigenvalues, {}, "eigenvalues", "1", TypeError, NUM("eigenvalues"))

# REM
for fn, base in ((dm.condensation_point, {"phi": REM.phi, "dphi": REM.dphi}),
                 (dm.minimal_distance, {"phi": REM.phi, "dphi": REM.dphi}),
                 (dm.quenched_log_partition, {"theta": 1.0, "phi": REM.phi, "dphi": REM.dphi}),
                 (dm.saddle_entropy, {"theta": 1.0, "phi": REM.phi, "dphi": REM.dphi}),
                 (dm.DerridaREM, {})):
    times(fn, base, "alpha")
for fn, base in ((dm.condensation_point, {"alpha": 0.3}),
                 (dm.minimal_distance, {"alpha": 0.3}),
                 (dm.quenched_log_partition, {"theta": 1.0, "alpha": 0.3}),
                 (dm.saddle_entropy, {"theta": 1.0, "alpha": 0.3})):
    callables(fn, {"phi": REM.phi, "dphi": REM.dphi, **base})
for fn, base in ((dm.quenched_log_partition, {"alpha": 0.3, "phi": REM.phi, "dphi": REM.dphi}),
                 (dm.saddle_entropy, {"alpha": 0.3, "phi": REM.phi, "dphi": REM.dphi})):
    for v in (-1.0, NAN, INF, [0.5, -0.1]):
        bad(fn, base, "theta", v, ValueError, r"theta must be finite and >= 0")
    for v in ("1", None, 1j):
        bad(fn, base, "theta", v, TypeError, NUM("theta"))
for fn, base in ((dm.minimal_distance, {"alpha": 0.3, "phi": REM.phi, "dphi": REM.dphi}),
                 (dm.quenched_log_partition, {"theta": 1.0, "alpha": 0.3, "phi": REM.phi, "dphi": REM.dphi})):
    for v in (-1.0, NAN):
        bad(fn, base, "theta_star", v, ValueError, r"theta_star must be >= 0 \(inf allowed\)")
    bad(fn, base, "theta_star", "1", TypeError, NUM("theta_star"))
for v in (0.0, -1.0, NAN, INF, "1", None, True):
    bad(dm.DerridaREM, {}, "J", v, ValueError, r"J must be a finite number > 0")
for meth in (REM.free_energy, REM.energy, REM.canonical_entropy, REM.participation_ratio):
    times(meth, {}, "T")
for v in (NAN, [0.1, NAN]):
    bad(REM.entropy, {}, "e", v, ValueError, r"e must be real numbers \(NaN is not allowed\)")
for v in ("0.1", None):
    bad(REM.entropy, {}, "e", v, TypeError, NUM("e"))
counts(REM.sample_energies, {}, "N")
counts(REM.sample_energies, {"N": 3}, "n_samples", optional=True)
seeds(REM.sample_energies, {"N": 3})
row(REM.sample_energies, {"N": 40}, ValueError, r"N=40 gives 2\^40 levels .* more than", tag="too-many-levels")

# theory of linear models
for fn in (dm.collapse_time, dm.onset_time, dm.condensation_time, dm.generalization_time, dm.times):
    times(fn, {"model": GAUSS}, "alpha")
    models(fn, {"alpha": 0.3}, linear_only=fn is not dm.collapse_time)
models(dm.collapse_time, {"alpha": 0.3}, linear_only=False)
times(dm.mutual_information, {"model": HM_INF})
models(dm.mutual_information, {"t": 0.5}, linear_only=False)
times(dm.phase_diagram, {"alpha_D": 0.5}, "alpha")
ratios(dm.phase_diagram, {"alpha": 0.3})
bad(dm.phase_diagram, {"alpha": 0.3}, "alpha_D", [0.5, 1.5], ValueError, ALPHA_D)
bad(dm.phase_diagram, {"alpha": 0.3}, "alpha_D", [0.5, NAN], ValueError, ALPHA_D)
for fn, base in ((dm.basin_size, {"alpha": 0.3, "model": GAUSS}),
                 (dm.trap_log_partition, {"alpha": 0.3, "model": GAUSS}),
                 (dm.generalization_loss, {"alpha": 0.3, "model": GAUSS}),
                 (dm.distance_cumulant, {"model": GAUSS})):
    times(fn, base)
    models(fn, {k: v for k, v in {**base, "t": 0.5}.items() if k != "model"})
    if "alpha" in base:
        times(fn, {**base, "t": 0.5}, "alpha")
for fn, base in ((dm.trap_log_partition, {"t": 0.5, "alpha": 0.3, "model": GAUSS}),
                 (dm.distance_cumulant, {"t": 0.5, "model": GAUSS})):
    for v in (-0.1, NAN, INF, "1", None, 1j, True, [1.0]):
        bad(fn, base, "s", v, ValueError, r"s must be a finite number >= 0")
ratios(dm.glm_small_t, {})
for v in ("tanhh", None, 3):
    bad(dm.glm_small_t, {"alpha_D": 0.5}, "activation", v, ValueError, r"activation must be one of \('linear'")
row(dm.mutual_information, {"t": 0.5, "model": "tanh"}, TypeError, r"model must be GaussianData", tag="str-model")

# schedule
for fn in (dm.delta, dm.bandwidth2):
    times(fn, {})
times(dm.log_time_grid, {"t_max": 5.0, "steps": 10}, "t_min", arrays=False)
times(dm.log_time_grid, {"t_min": 0.1, "steps": 10}, "t_max", arrays=False)
counts(dm.log_time_grid, {"t_max": 5.0, "t_min": 0.1}, "steps")
row(dm.log_time_grid, {"t_max": 0.1, "t_min": 5.0, "steps": 3}, ValueError, r"t_max must be > t_min", tag="reversed")

# score engine
for fn in (dm.empirical_score, dm.posterior_mean, dm.empirical_log_density, dm.posterior_stats,
           dm.score_error_bound):
    points(fn, {"data": DATA, "t": 0.5}, "x")
    points(fn, {"x": X, "t": 0.5}, "data", mismatch=False)
    times(fn, {"x": X, "data": DATA})
    bad(fn, {"x": X, "data": DATA}, "t", [0.5, 1.0], ValueError, r"t must be a scalar time here")
    engine(fn, {"x": X, "data": DATA, "t": 0.5})
_rng = np.random.default_rng(1)
points(dm.sample_posterior_index, {"data": DATA, "t": 0.5, "rng": _rng}, "x")
points(dm.sample_posterior_index, {"x": X, "t": 0.5, "rng": _rng}, "data", mismatch=False)
times(dm.sample_posterior_index, {"x": X, "data": DATA, "rng": _rng})
engine(dm.sample_posterior_index, {"x": X, "data": DATA, "t": 0.5, "rng": _rng})
for v in (None, 3, "rng", np.random.RandomState(0)):
    bad(dm.sample_posterior_index, {"x": X, "data": DATA, "t": 0.5}, "rng", v, TypeError,
        r"rng must be a random Generator")
for kw in ({"M": 0, "P": 5}, {"M": 4, "P": 0}, {"M": 2.5, "P": 5}, {"M": 4, "P": -1}, {"M": "4", "P": 5},
           {"M": 4, "P": 5, "itemsize": 0}):
    bad_name = next(k for k in ("itemsize", "M", "P") if k in kw and kw[k] not in (4, 5))
    row(dm.chunk_size, kw, ValueError, rf"{bad_name} \(.*\) must be a positive integer", tag=str(kw))
for v in (0, -5, NAN, INF, "big", True):
    bad(dm.chunk_size, {"M": 4, "P": 5}, "memory_budget", v, ValueError,
        r"memory_budget must be a finite, positive number of bytes")
for M, budget in ((10**6, 1000), (10**9, 2**30), (2, 47)):
    row(dm.chunk_size, {"M": M, "P": 10, "memory_budget": budget}, ValueError,
        rf"M={M} query points need \d+ bytes per pattern of chunk, more than memory_budget={budget}",
        tag=f"M={M}-budget={budget}")

# samplers
points(dm.sample_marginal, {"t": 0.5, "n": 3}, "data", mismatch=False)
times(dm.sample_marginal, {"data": DATA, "n": 3})
counts(dm.sample_marginal, {"data": DATA, "t": 0.5}, "n")
seeds(dm.sample_marginal, {"data": DATA, "t": 0.5, "n": 3})
_rev = {"data": DATA, "n": 3, "times": [0.5], "steps": 4}
points(dm.sample_reverse, {k: v for k, v in _rev.items() if k != "data"}, "data", mismatch=False)
counts(dm.sample_reverse, _rev, "n")
counts(dm.sample_reverse, _rev, "steps")
times(dm.sample_reverse, _rev, "times")
times(dm.sample_reverse, _rev, "t_max", arrays=False)
seeds(dm.sample_reverse, _rev)
for v in ("euler", "ODE", None, 3):
    bad(dm.sample_reverse, _rev, "method", v, ValueError, r"method must be one of \('ancestral', 'sde', 'ode'\)")
bad(dm.sample_reverse, _rev, "times", [0.5, 6.0], ValueError, r"times must be <= t_max=5.0")
bad(dm.sample_reverse, _rev, "times", [[0.5]], ValueError, r"times must be a scalar or a 1-D array")
for v, pattern in ((np.zeros((2, 3)), r"start must have shape \(n, N\) = \(3, 3\)"),
                   (np.zeros(3), r"start must be a 2-D array of shape \(n, N\)"),
                   (np.full((3, 3), NAN), r"start contains NaN or inf"),
                   (np.full((3, 3), INF), r"start contains NaN or inf")):
    bad(dm.sample_reverse, _rev, "start", v, ValueError, pattern)
bad(dm.sample_reverse, _rev, "start", "zeros", TypeError, r"start must be a \(n, N\) array of numbers")
engine(dm.sample_reverse, {**_rev, "method": "sde"})

# diagnostics
for fn in (dm.collapse_fraction, dm.participation_ratio):
    points(fn, {"data": DATA, "t": 0.5}, "x")
    points(fn, {"x": X, "t": 0.5}, "data", mismatch=False)
    times(fn, {"x": X, "data": DATA})
    engine(fn, {"x": X, "data": DATA, "t": 0.5})
interval(dm.collapse_fraction, {"x": X, "data": DATA, "t": 0.5}, "threshold", 0.0, 1.0, "(0, 1)")
points(dm.test_cross_entropy, {"data": DATA, "t": 0.5}, "test_points")
points(dm.test_cross_entropy, {"test_points": X, "t": 0.5}, "data", mismatch=False)
times(dm.test_cross_entropy, {"test_points": X, "data": DATA})
engine(dm.test_cross_entropy, {"test_points": X, "data": DATA, "t": 0.5})
points(dm.excess_entropy, {"t": 0.5, "n": 8}, "data", mismatch=False)
times(dm.excess_entropy, {"data": DATA, "n": 8})
counts(dm.excess_entropy, {"data": DATA, "t": 0.5}, "n", "n (Monte Carlo samples)", minimum=2)
seeds(dm.excess_entropy, {"data": DATA, "t": 0.5, "n": 8})
for fn in (dm.nearest_index, dm.stabilization_time):
    base = {"states": STATES, "data": DATA, "times": [0.5, 0.2]}
    for v in (np.zeros((4, 3)), STATES[:1], np.zeros((2, 0, 3)), "states", None):
        exc = TypeError if isinstance(v, str) or v is None else ValueError
        pattern = r"states must be a \(K, n, N\) array of numbers" if exc is TypeError else \
            r"states must have shape \(K, n, N\) with K = len\(times\) = 2"
        bad(fn, base, "states", v, exc, pattern)
    for v in (NAN, INF):
        arr = STATES.copy()
        arr[1, 0, 0] = v
        bad(fn, base, "states", arr, ValueError, NONFINITE("states"))
    bad(fn, base, "states", np.zeros((2, 4, 2)), ValueError, MISMATCH("states"))
    points(fn, {k: v for k, v in base.items() if k != "data"}, "data", mismatch=False)
    times(fn, {k: v for k, v in base.items() if k != "times"}, "times")
    bad(fn, base, "times", [[0.5, 0.2]], ValueError, r"times must be a scalar or a 1-D array")

# generalization
for fn in (dm.nearest_neighbour_distance, dm.measure_generalization):
    base = {"test_points": np.tile(X, (5, 1)), "data": DATA}
    if fn is dm.measure_generalization:
        base = {**base, "t": np.geomspace(0.05, 2.0, 9), "n_batches": 2}
    points(fn, {k: v for k, v in base.items() if k != "test_points"}, "test_points")
    points(fn, {k: v for k, v in base.items() if k != "data"}, "data", mismatch=False)
_mg = {"test_points": np.tile(X, (5, 1)), "data": DATA, "t": np.geomspace(0.05, 2.0, 9), "n_batches": 2}
times(dm.measure_generalization, _mg)
counts(dm.measure_generalization, _mg, "n_batches", minimum=2)
row(dm.measure_generalization, {**_mg, "n_batches": 20}, ValueError, r"test_points needs at least 2 points per batch",
    tag="too-few-points")
bad(dm.measure_generalization, _mg, "t", [0.5, 0.2, 0.1], ValueError, r"t must be a 1-D array of strictly increasing")
_t9 = np.geomspace(0.05, 2.0, 9)
_curve = (np.log(_t9) - np.log(0.3)) ** 2
_lm = {"t": _t9, "losses": _curve}
times(dm.loss_minimum, {"losses": _curve})
for v in (np.r_[_curve[:-1], NAN], np.r_[_curve[:-1], INF]):
    bad(dm.loss_minimum, _lm, "losses", v, ValueError, r"losses must be finite")
for v in (_curve[:-1], np.zeros((2, 3, 9)), []):
    bad(dm.loss_minimum, _lm, "losses", v, ValueError, r"losses must have shape \(T,\) or \(B, T\) with T = len\(t\)")
bad(dm.loss_minimum, _lm, "losses", "loss", TypeError, NUM("losses"))
bad(dm.loss_minimum, _lm, "t", _t9[::-1], ValueError, r"t must be strictly increasing")
for v in (1, 4, 2.5, "3", None, True):
    bad(dm.loss_minimum, _lm, "degree", v, ValueError, r"degree must be 2 or 3")
for v in (2, 4, 11, 0, "5", None):
    bad(dm.loss_minimum, _lm, "n_fit", v, ValueError, r"n_fit must be (odd and in|an integer >= 3)")

# traps
_tr = {"data": DATA, "t": 0.5, "s": 1.0, "n": 4}
for fn in (dm.probe_points, dm.capture_probability, dm.trajectory_capture):
    points(fn, {k: v for k, v in _tr.items() if k != "data"}, "data", mismatch=False)
    times(fn, {k: v for k, v in _tr.items() if k != "t"}, arrays=fn is dm.capture_probability)
    for v in (-0.1, NAN, INF):
        bad(fn, _tr, "s", v, ValueError, r"s must be finite and >= 0")
    for v in ("1", None, 1j):
        bad(fn, _tr, "s", v, (TypeError, ValueError), r"s must be a finite number >= 0")
    seeds(fn, _tr)
    for v in (6, -1, 2.5, np.array([0, 1]), np.array([0, 1, 2, 9]), True):
        bad(fn, _tr, "index", v, ValueError, r"index (must be|entries must be) ")
counts(dm.probe_points, _tr, "n", "n (number of probes)")
counts(dm.capture_probability, _tr, "n", "n (number of probes)", minimum=2)
counts(dm.trajectory_capture, _tr, "n", "n (number of trajectories)", minimum=2)
times(dm.trajectory_capture, _tr, "t_min", arrays=False)
bad(dm.trajectory_capture, _tr, "t_min", 1.0, ValueError, r"t_min must be < t")
_pw = {"x": X, "data": DATA, "index": 0, "t": 0.5}
points(dm.pattern_weight, {k: v for k, v in _pw.items() if k != "x"}, "x")
points(dm.pattern_weight, {k: v for k, v in _pw.items() if k != "data"}, "data", mismatch=False)
times(dm.pattern_weight, {k: v for k, v in _pw.items() if k != "t"})
for v in (None, 6, -1, 1.5, np.array([0, 1]), True):
    bad(dm.pattern_weight, _pw, "index", v, ValueError, r"index (must be|entries must be) ")
engine(dm.pattern_weight, _pw)
_be = {"data": DATA, "t": 0.5, "n": 4}
points(dm.basin_edge, {"t": 0.5, "n": 4}, "data", mismatch=False)
times(dm.basin_edge, {"data": DATA, "n": 4})
counts(dm.basin_edge, _be, "n", "n (number of probes)", minimum=2)
seeds(dm.basin_edge, _be)
for p in ("rtol", "level"):
    for v in (0.0, 1.0, NAN, -0.5, "0.5", None, True):
        bad(dm.basin_edge, _be, p, v, ValueError, rf"{p} must be a number in \(0, 1\)")
for v in (0.0, -1.0, NAN, INF, "1", None):
    bad(dm.basin_edge, _be, "guess", v, ValueError, r"guess must be a finite number > 0")
row(dm.basin_edge, {"data": [], "t": 0.5}, ValueError, r"data must be a \(P, N\) array or a non-empty list",
    tag="empty-list")
row(dm.capture_probability, {"data": [], "t": 0.5, "s": 1.0}, ValueError,
    r"data must be a \(P, N\) array or a non-empty list", tag="empty-list")

# crossover
_cc = {"data": DATA, "t": [0.3, 0.6], "n": 8}
points(dm.collapse_curve, {k: v for k, v in _cc.items() if k != "data"}, "data", mismatch=False, stack=True)
times(dm.collapse_curve, {k: v for k, v in _cc.items() if k != "t"})
counts(dm.collapse_curve, _cc, "n", optional=True)
seeds(dm.collapse_curve, _cc)
interval(dm.collapse_curve, _cc, "threshold", 0.0, 1.0, "(0, 1)")
row(dm.collapse_curve, {"data": DATA, "t": [0.3]}, ValueError, r"give exactly one of n .* and states", tag="neither")
row(dm.collapse_curve, {**_cc, "states": STATES}, ValueError, r"give exactly one of n .* and states", tag="both")
bad(dm.collapse_curve, {"data": DATA, "t": [0.3, 0.6]}, "states", np.zeros((3, 4, 3)), ValueError,
    r"states must have shape \(T, n, N\) with T = 2")
bad(dm.collapse_curve, {"data": DATA, "t": [0.3, 0.6]}, "states", [STATES, STATES], ValueError,
    r"states must hold one \(T, n, N\) array per dataset \(1\), got 2")
for v in ("states", 3.0):
    bad(dm.collapse_curve, {"data": DATA, "t": [0.3, 0.6]}, "states", v, TypeError,
        r"states must be a \(T, n, N\) array of numbers")
_cm = {"t": [0.1, 0.2, 0.4, 0.8], "value": [0.9, 0.7, 0.3, 0.1], "stderr": [0.05] * 4}
times(dm.crossover_midpoint, {k: v for k, v in _cm.items() if k != "t"})
for p in ("value", "stderr"):
    for v in ([0.9, NAN, 0.3, 0.1], [0.9, INF, 0.3, 0.1]):
        bad(dm.crossover_midpoint, _cm, p, v, ValueError, rf"{p} must be finite")
    bad(dm.crossover_midpoint, _cm, p, "0.5", TypeError, NUM(p))
    bad(dm.crossover_midpoint, _cm, p, [0.5, 0.5], ValueError, r"t, value and stderr must be 1-D of one length")
bad(dm.crossover_midpoint, _cm, "stderr", [0.05, -0.05, 0.05, 0.05], ValueError, r"stderr must be finite and >= 0")
bad(dm.crossover_midpoint, _cm, "value", [0.1, 0.2, 0.3, 0.4], ValueError, r"never crosses 0.5")
interval(dm.crossover_midpoint, _cm, "level", 0.0, 1.0, "(0, 1)")
for v in ((0.8, 0.2), (0.15,), "ab", (NAN, 0.85), None):
    bad(dm.crossover_midpoint, _cm, "window", v, ValueError, r"window must be a pair \(lo, hi\) of numbers")
_gc = {"t": 0.5, "N": 4, "alpha": 0.3, "n_samples": 64, "n_nodes": 4}
times(dm.gaussian_collapse_fraction, {k: v for k, v in _gc.items() if k != "t"})
times(dm.gaussian_collapse_fraction, {k: v for k, v in _gc.items() if k != "alpha"}, "alpha", arrays=False)
counts(dm.gaussian_collapse_fraction, _gc, "N")
counts(dm.gaussian_collapse_fraction, _gc, "n_samples")
counts(dm.gaussian_collapse_fraction, _gc, "n_nodes")
counts(dm.gaussian_collapse_fraction, _gc, "top", minimum=2)
counts(dm.gaussian_collapse_fraction, _gc, "n_grid", minimum=50)
seeds(dm.gaussian_collapse_fraction, _gc)

# geometry
for fn, base in ((dm.spectral_density, {"x": 1.0}), (dm.spectral_quantile, {"u": 0.5})):
    for v in (None, GAUSS, "tanh", SPEC):
        bad(fn, base, "model", v, TypeError, r"model must be a HiddenManifold or a GaussianEquivalent")
bad(dm.spectral_density, {"model": HM_INF}, "x", [1.0, NAN], ValueError, r"x must be real numbers")
bad(dm.spectral_density, {"model": HM_INF}, "x", "1", TypeError, NUM("x"))
for fn in (dm.manifold_covariance, dm.tangent_spectrum):
    base = {"z": np.zeros((2, 3))} if fn is dm.tangent_spectrum else {}
    for v in (None, GAUSS, dm.GaussianEquivalent(HM_TANH), "tanh"):
        bad(fn, base, "model", v, TypeError, r"model must be a HiddenManifold")
    bad(fn, base, "model", TANH_INF, ValueError, r"was built without N")
counts(dm.manifold_covariance, {"model": HM_TANH}, "order")
for v in (np.zeros((2, 2)), np.zeros((2, 2, 3)), np.zeros((0, 3))):
    bad(dm.tangent_spectrum, {"model": HM}, "z", v, ValueError, r"z must have shape \(M, D\) with D = 3")
for v in (np.full((2, 3), NAN), np.full((1, 3), INF)):
    bad(dm.tangent_spectrum, {"model": HM}, "z", v, ValueError, r"z must be finite")
bad(dm.tangent_spectrum, {"model": HM}, "z", "z", TypeError, NUM("z"))
for fn, base in ((dm.kolmogorov_distance, {"cdf": lambda x: np.clip(x, 0, 1)}),
                 (dm.wasserstein_distance, {"quantile": lambda u: u})):
    for v in ([], np.zeros((0, 2))):
        bad(fn, base, "samples", v, ValueError, EMPTY("samples"))
    for v in ([0.1, NAN], [INF]):
        bad(fn, base, "samples", v, ValueError, r"samples must be finite")
    for v in ("0.5", None, [0.5, "a"]):
        bad(fn, base, "samples", v, TypeError, NUM("samples"))
for v in (None, "cdf", 0.5):
    bad(dm.kolmogorov_distance, {"samples": [0.1, 0.5]}, "cdf", v, TypeError, r"cdf must be callable")
    bad(dm.wasserstein_distance, {"samples": [0.1, 0.5]}, "quantile", v, TypeError, r"quantile must be callable")
for f in (lambda x: np.full_like(x, NAN), lambda x: np.full_like(x, 2.0), lambda x: x[:1]):
    bad(dm.kolmogorov_distance, {"samples": [0.1, 0.5]}, "cdf", f, ValueError,
        r"cdf must return one value in \[0, 1\] per sample")
for f in (lambda u: np.full_like(u, NAN), lambda u: u[:, :1]):
    bad(dm.wasserstein_distance, {"samples": [0.1, 0.5]}, "quantile", f, ValueError,
        r"quantile must return one finite value per probability")
counts(dm.wasserstein_distance, {"samples": [0.1, 0.5], "quantile": lambda u: u}, "n_sub")
for v in (np.zeros((2, 3)), np.zeros((2, 2, 2)), [], np.zeros((0, 0))):
    bad(dm.participation_dimension, {}, "cov", v, ValueError,
        r"cov must be a square matrix or a 1-D array of eigenvalues, non-empty")
for v in ([1.0, NAN], np.full((2, 2), INF)):
    bad(dm.participation_dimension, {}, "cov", v, ValueError, r"cov must be finite")
bad(dm.participation_dimension, {}, "cov", [0.0, 0.0], ValueError, r"cov is zero")
bad(dm.participation_dimension, {}, "cov", "cov", TypeError, NUM("cov"))
_lp = {"data": np.tile(DATA, (2, 1)), "k": 3, "n_centres": 4}
points(dm.local_pca_spectrum, {"k": 3, "n_centres": 2}, "data", mismatch=False)
counts(dm.local_pca_spectrum, _lp, "k", "k (neighbours)", minimum=2)
counts(dm.local_pca_spectrum, _lp, "n_centres")
counts(dm.local_pca_spectrum, _lp, "chunk")
seeds(dm.local_pca_spectrum, _lp)
bad(dm.local_pca_spectrum, _lp, "k", 13, ValueError, r"k \(neighbours\) must be <= P = 12")
bad(dm.local_pca_spectrum, _lp, "n_centres", 13, ValueError, r"n_centres must be <= P = 12")

# sweeps (the checks of diffmem.sweeps: errors raised before any task is sent)
_sw = {"fn": lambda p: p, "points": [1.0, 2.0]}
for v in (None, 3, "f"):
    bad(dm.sweep, _sw, "fn", v, TypeError, r"fn must be callable")
bad(dm.sweep, _sw, "points", [], ValueError, r"points must hold at least one point")
counts(dm.sweep, _sw, "chunksize")
seeds(dm.sweep, _sw)
for v in (3, "pool"):
    bad(dm.sweep, _sw, "executor", v, TypeError, r"executor must be None .* or a concurrent.futures.Executor")
times(dm.phase_diagram_sweep, {"alpha_D": 0.5}, "alpha")
ratios(dm.phase_diagram_sweep, {"alpha": 0.3})
counts(dm.phase_diagram_sweep, {"alpha": 0.3, "alpha_D": 0.5}, "block")
_cs = {"N": 4, "alpha": 0.5, "alpha_D": 0.5, "t": [0.1, 0.5], "n": 8}
counts(dm.collapse_sweep, _cs, "N")
counts(dm.collapse_sweep, _cs, "n")
counts(dm.collapse_sweep, _cs, "n_datasets")
times(dm.collapse_sweep, _cs, "alpha")
ratios(dm.collapse_sweep, _cs)
times(dm.collapse_sweep, _cs, "t")
for v in ("tanhh", None):
    bad(dm.collapse_sweep, _cs, "phi", v, ValueError, PHI)
seeds(dm.collapse_sweep, _cs)

# the memorization meter (errors raised before any Monte Carlo)
_em = {"data": DATA}
points(dm.estimate_collapse_time, _em, "data", mismatch=False)
bad(dm.estimate_collapse_time, _em, "data", DATA[:1], ValueError, r"data must hold at least 2 training points")
counts(dm.estimate_collapse_time, _em, "n", name="n (Monte Carlo samples)", minimum=16)
counts(dm.estimate_collapse_time, _em, "n_trajectories", minimum=16)
counts(dm.estimate_collapse_time, _em, "points", minimum=6)
counts(dm.estimate_collapse_time, _em, "records", minimum=10)
times(dm.estimate_collapse_time, _em, "span", arrays=False)
for v in ((1.0, 0.5), (0.1, 0.2, 0.3), (0.1,)):
    bad(dm.estimate_collapse_time, _em, "span", v, ValueError, r"span must be \(t_min, t_max\) with 0 < t_min < t_max")
seeds(dm.estimate_collapse_time, _em)
_ow = {"data": DATA, "t": [0.1, 0.5], "n": 8}
points(dm.own_log_weight, _ow, "data", mismatch=False)
times(dm.own_log_weight, _ow)
counts(dm.own_log_weight, _ow, "n")
seeds(dm.own_log_weight, _ow)

# backend and settings
for v in ("tpu", "NumPy2", None, 3, ""):
    bad(backend.set_backend, {}, "name", v, ValueError, r"backend must be one of \('auto', 'numpy', 'cupy'\)")
seeds(backend.default_rng, {"xp": np})


def _with_env(var, value, fn):
    def call(**kwargs):
        old = os.environ.get(var)
        os.environ[var] = value
        try:
            return fn(**kwargs)
        finally:
            if old is None:
                del os.environ[var]
            else:
                os.environ[var] = old

    call.__qualname__ = f"{fn.__qualname__}[{var}={value}]"
    return call


for v in ("huge", "paper", "1"):
    row(_with_env("DIFFMEM_SCALE", v, settings.scale), {}, ValueError,
        r"DIFFMEM_SCALE must be one of \('book', 'full'\)")
    row(_with_env("DIFFMEM_SCALE", v, settings.pick), {"book": 1, "full": 2}, ValueError,
        r"DIFFMEM_SCALE must be one of")
for v in ("lots", "-5", "nan", "0"):
    row(_with_env("DIFFMEM_MEMORY_BUDGET", v, dm.chunk_size), {"M": 4, "P": 5}, ValueError,
        r"DIFFMEM_MEMORY_BUDGET must be a finite, positive number of bytes")

# ------------------------------------------------------------------------------------------------------ tests
# Public names that take no input that could be bad, or only hold results: nothing to reject.
NO_INPUT = {
    "ACTIVATIONS",  # tuple of names
    "METHODS",  # tuple of names
    "backend",  # module: its set_backend and default_rng have rows above
    "settings",  # module: scale and pick have rows above (through DIFFMEM_SCALE)
    "Estimate",  # NamedTuple of results
    "GeneralizationMeasurement",  # NamedTuple of results
    "PosteriorStats",  # NamedTuple of results
    "Times",  # NamedTuple of results
    "CollapseSweep",  # NamedTuple of results
    "CollapseTimeEstimate",  # NamedTuple of results
    "SweepError",  # exception type raised by sweeps
}


def _covered() -> set:
    names = set()
    for p in BAD_INPUTS:
        fn = p.values[0]
        names.add(getattr(fn, "__qualname__", "").split(".")[0].split("[")[0])
        names.add(getattr(fn, "__name__", ""))
    return names


def test_the_table_is_large_and_covers_every_public_callable():
    assert len(BAD_INPUTS) >= 300
    public = {name for name in dm.__all__ if inspect.isfunction(getattr(dm, name)) or
              inspect.isclass(getattr(dm, name))}
    missing = sorted(public - _covered() - NO_INPUT)
    assert not missing, f"public callables without a bad-input row: {missing}"
    assert NO_INPUT <= set(dm.__all__)


@pytest.mark.parametrize(("fn", "kwargs", "exc", "pattern"), BAD_INPUTS)
def test_bad_input_is_rejected_with_a_clear_message(fn, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        fn(**kwargs)


def test_messages_quote_the_rejected_value():
    """Spot checks that the value itself is in the message, not only the name and the range."""
    for call, text in ((lambda: dm.collapse_time(-0.25, GAUSS), "-0.25"),
                       (lambda: dm.HiddenManifold(1.75), "1.75"),
                       (lambda: dm.get_activation("tanhh"), "'tanhh'"),
                       (lambda: dm.sample_marginal(DATA, 0.5, 0), "got 0"),
                       (lambda: dm.empirical_score(X, DATA, 0.5, memory_budget=8), "memory_budget=8"),
                       (lambda: dm.sample_reverse(DATA, 3, [0.5], method="euler"), "'euler'")):
        with pytest.raises(ValueError) as info:
            call()
        assert text in str(info.value)
    assert math.isfinite(len(BAD_INPUTS))
