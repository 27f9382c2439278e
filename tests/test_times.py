"""Closed forms, limits and identities of the theory engine (chapters "Collapse", "Trap times", "Generalization").

THEORY.md sections 3-6: the generic solver (REM + spectral moments) against the closed forms for Gaussian data, the
Tulino-Verdu closed form against quadrature, the ordering of the times, the basin regimes and the loss branches.
"""

import math
import sys
import types

import numpy as np
import pytest
from scipy.optimize import brentq, minimize_scalar
from scipy.special import lambertw

from diffmem import GaussianData, HiddenManifold
from diffmem.models import GaussianEquivalent
from diffmem.theory.basins import basin_size, distance_cumulant, trap_log_partition
from diffmem.theory.loss import generalization_loss
from diffmem.theory.spectra import Spectrum, marchenko_pastur_shannon
from diffmem.theory.times import (
    collapse_time,
    condensation_time,
    gaussian_equivalent,
    generalization_time,
    mutual_information,
    onset_time,
    phase_diagram,
    times,
)

ALPHAS = np.array([0.01, 0.1, 0.35, 1.0, 3.0])


def _delta_q(alpha):
    """Delta_q solving alpha = -1/2 log D - D (1 - D) / 2, independently by brentq."""
    return brentq(lambda d: -0.5 * math.log(d) - 0.5 * d * (1 - d) - alpha, 1e-300, 1.0, xtol=1e-300, rtol=1e-15)


def test_gaussian_closed_forms_match_the_generic_solver():
    T = times(ALPHAS, GaussianData())
    t_c = 0.5 * np.log1p(1.0 / np.expm1(2 * ALPHAS))
    t_o = -0.5 * np.log1p(-lambertw(np.exp(1 - 2 * ALPHAS)).real)  # Delta_{t_o} = W(e^{1 - 2 alpha})
    dq = np.array([_delta_q(a) for a in ALPHAS])
    t_cond = -0.5 * np.log1p(-dq)
    d_min = dq * (1 + dq)
    t_g = 0.5 * np.log1p(dq + dq**2)
    for got, want in [(T.t_c, t_c), (T.t_o, t_o), (T.t_cond, t_cond), (T.t_g, t_g), (T.d_min, d_min),
                      (T.loss_min, ALPHAS + 0.5 * np.log(2 * np.pi * np.e * d_min))]:
        np.testing.assert_allclose(got, want, rtol=1e-8)
    # the single-time functions agree with times()
    np.testing.assert_allclose(collapse_time(ALPHAS, GaussianData()), T.t_c, rtol=1e-14)
    np.testing.assert_allclose(onset_time(ALPHAS, GaussianData(8)), T.t_o, rtol=1e-12)
    np.testing.assert_allclose(condensation_time(ALPHAS, GaussianData()), T.t_cond, rtol=1e-14)
    np.testing.assert_allclose(generalization_time(ALPHAS, GaussianData()), T.t_g, rtol=1e-14)
    assert isinstance(collapse_time(0.3, GaussianData()), float)


@pytest.mark.parametrize("alpha_D", [0.05, 0.3, 0.7, 1.0])
def test_tulino_verdu_mutual_information_matches_quadrature(alpha_D):
    t = np.array([0.02, 0.1, 0.5, 2.0])
    h2 = np.expm1(2 * t)
    spec = HiddenManifold(alpha_D).spectrum(1024)
    quad = spec.average(lambda lam: 0.5 * np.log1p(lam / h2[:, None]))
    i_closed = mutual_information(t, HiddenManifold(alpha_D))
    # the Gauss rule converges slowly at alpha_D = 1 and small h (density ~ x^{-1/2} at 0): 1e-7 there
    np.testing.assert_allclose(i_closed, quad, rtol=1e-7 if alpha_D == 1.0 else 1e-11)
    np.testing.assert_allclose(i_closed, 0.5 * alpha_D * marchenko_pastur_shannon(1 / (alpha_D * h2), alpha_D),
                               rtol=1e-12)


def test_realised_spectrum_is_used_at_finite_N():
    model = HiddenManifold(0.4, N=30, seed=3)
    lam = np.linalg.eigvalsh(model.F @ model.F.T / model.D)
    t = np.array([0.05, 0.3, 1.0])
    want = 0.5 * np.mean(np.log1p(np.clip(lam, 0, None) / np.expm1(2 * t)[:, None]), axis=1)
    np.testing.assert_allclose(mutual_information(t, model), want, rtol=1e-12)
    T = times(0.3, model)
    assert T == times(0.3, model.spectrum())  # a Spectrum is accepted wherever a model is


@pytest.mark.parametrize("model", [HiddenManifold(0.3), HiddenManifold(0.8),
                                   GaussianEquivalent(HiddenManifold(0.3, "tanh")),
                                   GaussianEquivalent(HiddenManifold(0.5, "relu"))], ids=repr)
def test_closed_form_moments_match_quadrature_for_all_times(model):
    alpha = np.array([0.05, 0.3, 1.0])
    exact, quad = times(alpha, model), times(alpha, model.spectrum(1024))
    for got, want in zip(exact, quad, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9)


def test_closed_form_moments_stay_finite_at_extreme_bandwidths():
    # h^2 from 1e-250 to 1e250: mutual information finite, positive, decreasing, with the low-rank asymptote
    # i ~ (alpha_D / 2) (log(1/(alpha_D h^2)) + E log X), E log X = (b - 1)/b log(1 - b) - 1 for MP(b)
    b = 0.3
    u = np.linspace(-575.0, 575.0, 101)
    t = 0.5 * np.log1p(np.exp(u))
    i = mutual_information(t[t > 0], HiddenManifold(b))
    assert np.all(np.isfinite(i)) and np.all(np.diff(i) < 0) and np.all(i >= 0)
    e_log_x = (b - 1) / b * math.log(1 - b) - 1
    assert i[0] == pytest.approx(0.5 * b * (-u[0] - math.log(b) + e_log_x), rel=1e-12)


def test_ordering_of_the_times_on_a_grid():
    alpha_D = np.linspace(0.02, 1.0, 40)[:, None]
    alpha = np.geomspace(1e-3, 2.0, 50)[None, :]
    T = phase_diagram(alpha, alpha_D)
    # where the times are resolvable in float64 (h^2 >> 1e-16 e^{...}), the order is strict
    ok = T.t_c > 1e-12
    assert ok.mean() > 0.9
    assert np.all((T.t_g < T.t_cond)[ok]) and np.all((T.t_cond < T.t_c)[ok]) and np.all((T.t_c < T.t_o)[ok])
    # h_g^2 / h_cond^2 = <1 - v^2> <= alpha_D (only the alpha_D N nonzero eigenvalues contribute)
    assert np.all(T.d_min / T.h2_cond <= alpha_D * (1 + 1e-12))
    # the grid call agrees with per-model calls
    one = times(alpha.ravel(), HiddenManifold(float(alpha_D[7, 0])))
    np.testing.assert_allclose(one.t_o, T.t_o[7], rtol=1e-13)


def test_grid_mixing_resolvable_and_underflowing_times_matches_elementwise_calls():
    # alpha / alpha_D = 350 puts h_c^2 ~ e^{-700} below float64: such elements settle at t = 0 while the others
    # are solved; a settled element must not break the bracket of the rest (regression)
    alpha_D = np.array([1.0, 0.1, 1e-2, 1e-3])
    T = phase_diagram(0.35, alpha_D)
    for k, aD in enumerate(alpha_D):
        one = times(0.35, HiddenManifold(float(aD)))
        for field in ("t_g", "t_cond", "t_c", "t_o"):
            assert getattr(T, field)[k] == pytest.approx(getattr(one, field), rel=1e-12, abs=0.0)
    assert T.t_c[-1] == 0.0 and T.t_c[0] == pytest.approx(collapse_time(0.35, HiddenManifold(1.0)), rel=1e-12)


@pytest.mark.parametrize("alpha, alpha_D, tol", [(0.01, 1e-3, 1e-5), (0.005, 1e-4, 1e-12)])
def test_small_alpha_D_limits_at_fixed_alpha(alpha, alpha_D, tol):
    # corrections are O(e^{-2 alpha / alpha_D}) (e^{-20} and e^{-100} here) and O(alpha_D h^2)
    T = times(alpha, HiddenManifold(alpha_D))
    assert T.t_g / T.t_c == pytest.approx(alpha_D, rel=tol)
    assert T.t_cond / T.t_c == pytest.approx(1.0, rel=tol)
    assert T.t_o / T.t_c == pytest.approx(math.e, rel=tol)


@pytest.mark.parametrize("model", [GaussianData(), HiddenManifold(0.3), HiddenManifold(0.6, N=24, seed=2)], ids=repr)
def test_basin_size_regimes_and_the_generic_rem(model):
    alpha = 0.3
    T = times(alpha, model)
    h2_c = np.expm1(2 * T.t_c)
    assert basin_size(T.t_c, alpha, model) == pytest.approx(1.0, rel=1e-12)
    assert basin_size(T.t_o, alpha, model) == pytest.approx(0.0, abs=1e-10)
    assert basin_size(2 * T.t_o, alpha, model) == 0.0
    t_below = T.t_c * np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(basin_size(t_below, alpha, model) * np.expm1(2 * t_below), h2_c, rtol=1e-12)
    # every regime agrees with the generic s-REM root of -s/2 = (1/N) log Z_rest (THEORY.md section 5)
    for t in [0.5 * T.t_c, 0.95 * T.t_c, 1.2 * T.t_c, 0.5 * (T.t_c + T.t_o), 0.97 * T.t_o]:
        s = brentq(lambda s, t=t: -s / 2 - trap_log_partition(t, alpha, model, s=s), 1e-12, 100.0, xtol=1e-14)
        assert basin_size(t, alpha, model) == pytest.approx(s, rel=1e-9)


@pytest.mark.parametrize("model", [GaussianData(N=7), HiddenManifold(0.5), HiddenManifold(0.6, N=30, seed=3)], ids=repr)
@pytest.mark.parametrize("s", [0.0, 0.4, 1.0])
def test_distance_cumulant_is_the_gaussian_integral_over_the_spectrum(model, s):
    # eq. rem-cumulant written out over the eigenvalues (independent of the moment machinery of the engine)
    spec = model.spectrum(n_quad=2048) if model.N is None else model.spectrum()
    lam, w = spec.values, spec.weights
    t = np.array([0.05, 0.3, 1.2])
    phi, dphi = distance_cumulant(t, model, s=s)
    for theta in (0.1, 0.5, 3.0):
        lg = lam[None, :] / np.expm1(2 * t)[:, None]
        x = 2 * theta * lg
        ref = (-0.5 * np.log1p(x) - theta * (lg + s) / (1 + x)) @ w
        ref_d = (-lg / (1 + x) - (lg + s) / (1 + x) ** 2) @ w
        np.testing.assert_allclose(phi(theta), ref, rtol=1e-6 if model.N is None else 1e-12)
        np.testing.assert_allclose(dphi(theta), ref_d, rtol=1e-6 if model.N is None else 1e-12)
    # phi(0) = 0 (a cumulant) and a finite-difference derivative
    assert np.all(np.abs(phi(0.0)) < 1e-15)
    eps = 1e-6
    np.testing.assert_allclose((phi(0.7 + eps) - phi(0.7 - eps)) / (2 * eps), dphi(0.7), rtol=1e-7)
    with pytest.raises(ValueError, match="s must be a finite number >= 0"):
        distance_cumulant(0.1, model, s=-1.0)


def test_trap_partition_function_identities():
    model, alpha = HiddenManifold(0.5), 0.25
    T = times(alpha, model)
    assert trap_log_partition(T.t_o, alpha, model) == pytest.approx(0.0, abs=1e-12)
    # a typical point of P_t (s = 1): saddle entropy alpha - i(t), so (1/N) log Z_rest = alpha - i(t) - 1/2 above t_c
    t = T.t_c * np.array([1.01, 1.5, 3.0])
    np.testing.assert_allclose(trap_log_partition(t, alpha, model, s=1.0),
                               alpha - mutual_information(t, model) - 0.5, rtol=1e-12)
    # below t_cond the rest of the patterns is condensed at a training point: -theta d_min in g units
    t = 0.5 * T.t_cond
    g = 1 / np.expm1(2 * t)
    assert trap_log_partition(t, alpha, model) == pytest.approx(-0.5 * g * T.d_min, rel=1e-9)


@pytest.mark.parametrize("model", [GaussianData(), HiddenManifold(0.4), HiddenManifold(0.7, N=20, seed=1)], ids=repr)
def test_loss_is_continuous_and_minimal_at_the_nearest_neighbour_distance(model):
    alpha = 0.3
    T = times(alpha, model)
    eps = 1e-9
    left = generalization_loss(T.t_cond * (1 - eps), alpha, model)
    right = generalization_loss(T.t_cond * (1 + eps), alpha, model)
    assert left == pytest.approx(right, abs=1e-7)
    res = minimize_scalar(lambda t: generalization_loss(t, alpha, model), bounds=(0.2 * T.t_g, 3 * T.t_c),
                          method="bounded", options={"xatol": 1e-10})
    assert res.x == pytest.approx(T.t_g, rel=1e-4)
    assert res.fun == pytest.approx(T.loss_min, abs=1e-12)
    # L increases above h_cond (derivative <h^2 / (2 (h^2 + lambda)^2)> > 0)
    t = np.linspace(T.t_cond, 3 * T.t_o, 50)
    assert np.all(np.diff(generalization_loss(t, alpha, model)) > 0)


def test_gaussian_equivalent_model():
    base = HiddenManifold(0.25, "tanh", N=40, seed=0)
    ge = gaussian_equivalent(base)
    assert ge.is_linear and ge.alpha_D == 0.25 and ge.F is base.F
    np.testing.assert_allclose(ge.covariance(), base.covariance(), atol=1e-12)
    data = ge.sample(40000, seed=1)
    emp = np.cov(data.T)
    assert np.max(np.abs(emp - ge.covariance())) < 0.05  # entries' stderr ~ sqrt(2/40000) = 0.007
    # full rank: the collapse time grows with alpha (log(1/h^2)/2 divergence), unlike the manifold's spectrum
    inf_ge = gaussian_equivalent(HiddenManifold(0.1, "relu"))
    assert collapse_time(0.2, inf_ge) > collapse_time(0.2, HiddenManifold(0.1))
    assert times(0.2, inf_ge).t_o > 0


def test_nonlinear_manifolds_dispatch_or_refuse(monkeypatch):
    calls = []
    fake = types.ModuleType("diffmem.theory.glm")
    fake.glm_mutual_information = lambda nu, alpha_D, act: calls.append(("mi", nu, alpha_D, act)) or nu * 0 + 0.5
    fake.glm_collapse_time = lambda alpha, alpha_D, act: calls.append(("tc", alpha, alpha_D, act)) or 0.42
    monkeypatch.setitem(sys.modules, "diffmem.theory.glm", fake)
    model = HiddenManifold(0.3, "tanh")
    np.testing.assert_allclose(mutual_information([0.1, 1.0], model), [0.5, 0.5])
    assert calls[0][0] == "mi" and calls[0][2] == 0.3 and calls[0][3] is model.activation
    np.testing.assert_allclose(calls[0][1], np.expm1([0.2, 2.0]))  # nu = e^{2t} - 1
    np.testing.assert_allclose(collapse_time([0.1, 0.2], model), [0.42, 0.42])
    assert calls[-1][:3] == ("tc", 0.2, 0.3)
    for f in (onset_time, condensation_time, generalization_time, times):
        with pytest.raises(ValueError, match="gaussian_equivalent"):
            f(0.3, model)
    for f in (basin_size, generalization_loss, trap_log_partition):
        with pytest.raises(ValueError, match="no closed form"):
            f(0.5, 0.3, model)


def test_validation_names_parameter_and_range():
    for bad in (0.0, -0.1, np.nan, np.inf):
        with pytest.raises(ValueError, match=r"alpha must be finite and > 0"):
            collapse_time(bad, GaussianData())
    with pytest.raises(ValueError, match=r"alpha must be finite and > 0"):
        times([0.1, -1.0], GaussianData())
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match=r"t must be finite and > 0"):
            mutual_information(bad, GaussianData())
        with pytest.raises(ValueError, match=r"t must be finite and > 0"):
            generalization_loss(bad, 0.3, GaussianData())
    with pytest.raises(ValueError, match=r"alpha_D must be in \(0, 1\]"):
        phase_diagram(0.3, [0.5, 1.5])
    with pytest.raises(ValueError, match=r"alpha_D must be"):
        HiddenManifold(0.0)
    with pytest.raises(ValueError, match="s must be"):
        trap_log_partition(0.5, 0.3, GaussianData(), s=-1.0)
    with pytest.raises(ValueError, match="no positive eigenvalue"):
        times(0.3, Spectrum(np.zeros(3), np.full(3, 1 / 3)))
    with pytest.raises(TypeError, match="model must be"):
        times(0.3, "gauss")
