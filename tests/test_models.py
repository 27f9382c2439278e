import numpy as np
import pytest
from scipy import integrate

import diffmem as dm
from diffmem.theory.spectra import marchenko_pastur_density, marchenko_pastur_edges


def mp_cdf(x, c):
    a, _ = marchenko_pastur_edges(c)
    return np.array([integrate.quad(lambda u: marchenko_pastur_density(u, c), a, max(v, a), limit=200)[0]
                     for v in x])


@pytest.mark.parametrize("alpha_D", [0.25, 0.5, 1.0])
def test_realised_hmm_spectrum_follows_marchenko_pastur(alpha_D):
    N = 800
    model = dm.HiddenManifold(alpha_D, N=N, seed=3)
    lam = model.spectrum().values
    D = model.D
    nonzero = np.sort(lam)[N - D:] * alpha_D  # the D nonzero eigenvalues, rescaled to MP(alpha_D) of mean 1
    if alpha_D < 1:
        assert np.all(np.sort(lam)[: N - D] < 1e-10)
    grid = np.quantile(nonzero, np.linspace(0.05, 0.95, 19))
    empirical = np.searchsorted(nonzero, grid, side="right") / D
    # Kolmogorov distance: eigenvalue fluctuations of a Wishart matrix are O(1/D) in the bulk, well below 0.02
    assert np.max(np.abs(empirical - mp_cdf(grid, alpha_D))) < 0.02
    assert model.spectrum().mean == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("alpha_D", [0.2, 0.6, 1.0])
def test_infinite_hmm_spectrum_has_the_atom_and_unit_mean(alpha_D):
    spec = dm.HiddenManifold(alpha_D).spectrum()
    assert spec.weights.sum() == pytest.approx(1.0)
    assert spec.mean == pytest.approx(1.0, abs=1e-12)
    zero_mass = spec.weights[spec.values == 0.0].sum()
    assert zero_mass == pytest.approx(1.0 - alpha_D, abs=1e-12)
    # second moment of C = F F^T / D: (1 / alpha_D^2) E_MP x^2 * alpha_D = (1 + alpha_D) / alpha_D
    assert spec.values**2 @ spec.weights == pytest.approx((1 + alpha_D) / alpha_D, rel=1e-12)


@pytest.mark.parametrize("phi", dm.ACTIVATIONS)
def test_component_moments_match_gauss_hermite_at_the_realised_row_norms(phi):
    # a_i = phi(h_i) with h_i ~ N(0, r_i), r_i = |F_i|^2 / D: unit variance only as D -> infinity, so compare each
    # component with its exact finite-D moments (Gauss-Hermite, 200 nodes: exact to round-off for these phi up to
    # the kinks, whose error is far below the Monte Carlo tolerance)
    model = dm.HiddenManifold(0.5, phi, N=20, seed=0)
    P = 40_000
    data = model.sample(P, seed=1)
    assert data.shape == (P, 20)
    g, w = np.polynomial.hermite_e.hermegauss(200)
    w = w / w.sum()
    r = (model.F**2).sum(axis=1) / model.D
    values = model.activation(np.sqrt(r)[:, None] * g[None, :])
    mean = values @ w
    var = values**2 @ w - mean**2
    # 5 standard errors of a mean of 4e4 samples: a false alarm has probability ~1e-5 per component
    np.testing.assert_array_less(np.abs(data.mean(axis=0) - mean), 5 * np.sqrt(var / P) + 2e-3)
    np.testing.assert_allclose(data.var(axis=0), var, rtol=0.05)
    if phi != "relu":  # odd phi: centred at any row norm
        np.testing.assert_allclose(mean, 0.0, atol=1e-12)


def test_linear_hmm_sample_covariance_converges_to_the_model_covariance():
    model = dm.HiddenManifold(0.4, N=10, seed=2)
    data, z = model.sample(200_000, seed=3, return_latents=True)
    assert z.shape == (200_000, 4)
    np.testing.assert_allclose(data, z @ model.F.T / np.sqrt(model.D), atol=1e-12)
    np.testing.assert_allclose(np.cov(data.T), model.covariance(), atol=0.02)


def test_gaussian_data_and_raw_normalisation():
    data = dm.GaussianData(N=5).sample(50_000, seed=0)
    np.testing.assert_allclose(np.cov(data.T), np.eye(5), atol=0.03)
    raw = dm.HiddenManifold(1.0, "relu", N=30, seed=0, normalize="raw").sample(20_000, seed=1)
    assert raw.min() == 0.0 and raw.mean() == pytest.approx(1 / np.sqrt(2 * np.pi), abs=0.03)


def test_same_seed_gives_the_same_manifold_and_points():
    a = dm.HiddenManifold(0.5, "tanh", N=16, seed=7).sample(10, seed=1)
    b = dm.HiddenManifold(0.5, "tanh", N=16, seed=7).sample(10, seed=1)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"alpha_D": 0.0}, "alpha_D must be"), ({"alpha_D": 1.5}, "alpha_D must be"),
    ({"alpha_D": float("nan")}, "alpha_D must be"), ({"alpha_D": 0.5, "phi": "gelu"}, "phi must be"),
    ({"alpha_D": 0.5, "N": 0}, "N must be"), ({"alpha_D": 0.5, "N": 2.5}, "N must be"),
])
def test_bad_model_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dm.HiddenManifold(**kwargs)


def test_infinite_model_cannot_be_sampled_and_P_is_checked():
    with pytest.raises(ValueError, match="without N"):
        dm.HiddenManifold(0.5).sample(3)
    with pytest.raises(ValueError, match="P .* must be a positive integer"):
        dm.GaussianData(N=3).sample(0)
