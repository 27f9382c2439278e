"""Tests of diffmem.sim.geometry: spectral laws and distances, the exact manifold covariance, dimensions.

References are independent of the code under test: scipy's Kolmogorov-Smirnov and Wasserstein routines,
closed-form kernels of relu and sign (arc-cosine and arcsine laws), brute-force two-dimensional quadrature, finite
differences of the model map, exact rank of linear data, and the replica small-t constant of diffmem.theory.glm (a
different route to the same number).
"""

import math

import numpy as np
import pytest
from scipy import integrate, stats

import diffmem as dm
from diffmem.sim import geometry as geo


# ------------------------------------------------------------------------------------- limit covariance spectrum
def test_spectral_law_of_the_hmm_has_the_atom_and_the_moments():
    """Mean 1 (normalised phi) and, for linear phi, <lambda^2> = 1 + 1/alpha_D, from the quantile function."""
    u, w = np.polynomial.legendre.leggauss(400)
    u = 0.5 * (u + 1.0)
    for alpha_D in (0.1, 0.5, 1.0):
        for phi in ("linear", "tanh"):
            model = dm.HiddenManifold(alpha_D, phi)
            # piecewise rule: the quantile is constant (the atom) below 1 - alpha_D
            lo, hi = 1.0 - alpha_D, 1.0
            q = geo.spectral_quantile(lo + (hi - lo) * u, model)
            atom, weight = geo.spectral_density(0.0, model)[1]
            mean = weight * atom + (hi - lo) * 0.5 * (w @ q)
            assert mean == pytest.approx(1.0, abs=1e-6)
            if phi == "linear":
                second = (hi - lo) * 0.5 * (w @ q**2)
                assert second == pytest.approx(1.0 + 1.0 / alpha_D, rel=1e-5)
            act = model.activation
            assert atom == pytest.approx(act.mu_star**2) and weight == pytest.approx(1.0 - alpha_D)
    ge = dm.gaussian_equivalent(dm.HiddenManifold(0.3, "relu"))  # same law as its manifold's covariance
    np.testing.assert_array_equal(geo.spectral_quantile(u, ge), geo.spectral_quantile(u, ge.base))
    model = dm.HiddenManifold(0.5, "tanh")  # the continuous part carries mass alpha_D
    lo_edge, hi_edge = geo.spectral_quantile([0.5 + 1e-12, 1.0], model)
    mass = integrate.quad(lambda x: float(geo.spectral_density(x, model)[0]), lo_edge, hi_edge, limit=200)[0]
    assert mass == pytest.approx(0.5, abs=1e-7)


# ---------------------------------------------------------------------------------------------------- distances
def test_kolmogorov_distance_matches_scipy_and_separates_the_right_law_from_a_wrong_one():
    c, n = 0.25, 1000
    rng = np.random.default_rng(0)
    exact = dm.marchenko_pastur_quantile(rng.uniform(size=n), c)  # i.i.d. draws of the law
    right = geo.kolmogorov_distance(exact, lambda x: dm.marchenko_pastur_cdf(x, c))
    ref = stats.kstest(exact, lambda x: dm.marchenko_pastur_cdf(x, c)).statistic
    assert right == pytest.approx(ref, abs=1e-12)
    assert right < 1.63 / math.sqrt(n)  # the 1% point of the Kolmogorov distribution
    wrong = geo.kolmogorov_distance(exact, lambda x: dm.marchenko_pastur_cdf(x, 0.5))
    assert wrong > 3 * 1.63 / math.sqrt(n)  # the two laws are ~0.16 apart


def test_wishart_eigenvalues_are_closer_to_mp_than_iid_draws():
    """Eigenvalue rigidity: at D = 100 the realised spectrum is far closer than the i.i.d. 1/sqrt(D) scale."""
    N, c = 400, 0.25
    m = dm.HiddenManifold(c, N=N, seed=1)
    lam = np.linalg.eigvalsh(m.F.T @ m.F / N)  # MP(c), mean 1
    d = geo.kolmogorov_distance(lam, lambda x: dm.marchenko_pastur_cdf(x, c))
    assert 1.0 / (2 * m.D) <= d < 0.4 / math.sqrt(m.D)


def test_wasserstein_distance_matches_scipy_and_a_pure_shift():
    rng = np.random.default_rng(1)
    x = rng.gamma(2.0, size=300)
    c = 0.3
    grid = (np.arange(200_000) + 0.5) / 200_000
    ref = stats.wasserstein_distance(x, dm.marchenko_pastur_quantile(grid, c))
    got = geo.wasserstein_distance(x, lambda u: dm.marchenko_pastur_quantile(u, c))
    assert got == pytest.approx(ref, abs=1e-5)
    n, shift = 50, 0.3  # midpoints of the uniform law moved by shift: W1 = shift exactly
    assert geo.wasserstein_distance((np.arange(n) + 0.5) / n + shift, lambda u: u) == pytest.approx(shift, abs=1e-13)


# --------------------------------------------------------------------------------------------- exact covariance
def test_manifold_covariance_of_linear_phi_is_ff_over_d():
    m = dm.HiddenManifold(0.3, N=40, seed=2)
    np.testing.assert_allclose(geo.manifold_covariance(m), m.F @ m.F.T / m.D, rtol=0, atol=1e-12)


def _pair_quadrature(act, S, n=160):
    """Cov(phi(h_i), phi(h_j)) for (h_i, h_j) ~ N(0, S) by a tensor Gauss-Hermite rule (brute force)."""
    L = np.linalg.cholesky(S)
    x, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / math.sqrt(2 * math.pi)
    U, V = np.meshgrid(x, x, indexing="ij")
    W = np.outer(w, w)
    a, b = act(L[0, 0] * U), act(L[1, 0] * U + L[1, 1] * V)
    return float((W * a * b).sum() - (W * a).sum() * (W * b).sum())


def test_manifold_covariance_of_tanh_matches_brute_force_quadrature():
    m = dm.HiddenManifold(0.25, "tanh", N=24, seed=3)  # D = 6: correlations up to ~0.9
    C = geo.manifold_covariance(m)
    R = (m.F @ m.F.T) / np.outer(np.linalg.norm(m.F, axis=1), np.linalg.norm(m.F, axis=1))
    np.fill_diagonal(R, 0.0)
    pairs = [np.unravel_index(np.argmax(np.abs(R)), R.shape), (0, 1), (5, 7), (10, 20)]
    for i, j in pairs:
        S = np.array([[m.F[i] @ m.F[i], m.F[i] @ m.F[j]], [m.F[j] @ m.F[i], m.F[j] @ m.F[j]]]) / m.D
        assert C[i, j] == pytest.approx(_pair_quadrature(m.activation, S), abs=1e-9)
    s2 = np.sum(m.F**2, axis=1) / m.D
    for i in (0, 3):
        u, w = np.polynomial.hermite_e.hermegauss(200)
        w = w / math.sqrt(2 * math.pi)
        f = m.activation(math.sqrt(s2[i]) * u)
        assert C[i, i] == pytest.approx(w @ f**2 - (w @ f) ** 2, abs=1e-10)


@pytest.mark.parametrize("phi", ["relu", "sign"])
def test_manifold_covariance_matches_the_arccos_and_arcsine_kernels(phi):
    """Closed forms: E relu(u) relu(v) = s_i s_j (sin th + (pi - th) cos th) / (2 pi); E sign sign = 2 asin(rho)/pi."""
    m = dm.HiddenManifold(0.5, phi, N=100, seed=4)  # D = 50: |rho| < 0.7, the series converges fast
    C = geo.manifold_covariance(m, order=60)
    s = np.linalg.norm(m.F, axis=1) / math.sqrt(m.D)
    rho = np.clip((m.F @ m.F.T) / (m.D * np.outer(s, s)), -1.0, 1.0)
    act = m.activation
    if phi == "relu":
        th = np.arccos(rho)
        raw = np.outer(s, s) * (np.sin(th) + (math.pi - th) * rho - 1.0) / (2 * math.pi)
    else:
        raw = 2.0 / math.pi * np.arcsin(rho)
    ref = raw / act.scale**2
    off = ~np.eye(m.N, dtype=bool)
    np.testing.assert_allclose(C[off], ref[off], rtol=0, atol=2e-5 if phi == "sign" else 1e-7)


def test_gaussian_equivalent_covariance_is_the_first_mehler_term():
    """tanh (odd): off the diagonal, exact = c_1(s_i) c_1(s_j) rho_ij + O(rho^3), c_1(s) = s E phi'(s u); the GE
    model is this term at s = 1. On the diagonal, exact - GE = (g'(1) - mu_1^2)(s^2 - 1) + O((s^2 - 1)^2)."""
    m = dm.HiddenManifold(0.5, "tanh", N=400, seed=5)
    C = geo.manifold_covariance(m)
    act = m.activation
    u, w = np.polynomial.hermite_e.hermegauss(200)
    w = w / math.sqrt(2 * math.pi)
    s = np.linalg.norm(m.F, axis=1) / math.sqrt(m.D)
    c1 = s * (act.derivative(s[:, None] * u[None, :]) @ w)  # Stein: E[phi(s u) u] = s E[phi'(s u)]
    rho = (m.F @ m.F.T) / (m.D * np.outer(s, s))
    off = ~np.eye(m.N, dtype=bool)
    first = np.outer(c1, c1) * rho
    assert np.max(np.abs(C - first)[off]) < 5 * np.max(np.abs(rho[off])) ** 3  # the cubic term, c_3^2/6 < 1
    assert np.max(np.abs(C - first)[off]) < 0.1 * np.max(np.abs(C - m.covariance())[off])
    g1 = w @ (act(u) * act.derivative(u) * u)  # d Var phi(s u) / d s^2 at s = 1
    linear_part = (g1 - act.mu1**2) * (s**2 - 1.0)
    assert np.all(np.abs(np.diag(C - m.covariance()) - linear_part) <= 0.5 * (s**2 - 1.0) ** 2)
    assert np.std(linear_part) > 0.03  # the row-norm effect is not negligible at D = 200


# ---------------------------------------------------------------------------------------------------- dimensions
def test_participation_dimension_of_known_spectra():
    assert geo.participation_dimension([1.0, 1.0, 1.0, 0.0]) == pytest.approx(3.0)
    assert geo.participation_dimension([2.0, 1.0]) == pytest.approx(9.0 / 5.0)
    rng = np.random.default_rng(6)
    Q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    lam = np.array([3.0, 2.0, 1.0, 0.5, 0.0])
    C = Q @ np.diag(lam) @ Q.T
    assert geo.participation_dimension(C) == pytest.approx(geo.participation_dimension(lam), rel=1e-12)


def test_participation_dimension_of_the_linear_hmm():
    """E tr C / N = 1 and E tr C^2 / N = 1 + (N + 1)/D exactly (Wick): PR ~ N / (1 + (N + 1)/D)."""
    N, alpha_D = 400, 0.25
    pr = [geo.participation_dimension(dm.HiddenManifold(alpha_D, N=N, seed=s).covariance()) for s in range(4)]
    D = round(alpha_D * N)
    assert np.mean(pr) == pytest.approx(N / (1 + (N + 1) / D), rel=0.02)


def test_tangent_spectrum_matches_finite_differences():
    m = dm.HiddenManifold(0.25, "tanh", N=40, seed=7)
    z = np.random.default_rng(8).standard_normal((3, m.D))
    got = geo.tangent_spectrum(m, z)
    eps = 1e-6
    for row, zz in zip(got, z, strict=True):
        J = np.empty((m.N, m.D))
        for k in range(m.D):
            e = np.zeros(m.D)
            e[k] = eps
            J[:, k] = (m.activation(m.F @ (zz + e) / math.sqrt(m.D)) - m.activation(m.F @ (zz - e) / math.sqrt(m.D))
                       ) / (2 * eps)
        np.testing.assert_allclose(row, np.linalg.svd(J, compute_uv=False) ** 2, rtol=1e-7)
    lin = dm.HiddenManifold(0.25, N=40, seed=7)
    np.testing.assert_allclose(geo.tangent_spectrum(lin, z[0])[0],
                               np.sort(np.linalg.eigvalsh(lin.F.T @ lin.F / lin.D))[::-1], rtol=1e-10)


@pytest.mark.parametrize("phi", ["linear", "tanh"])
def test_log_volume_of_the_tangent_map_gives_the_replica_small_t_constant(phi):
    """(1/2N) E log det(J^T J) -> C of glm_small_t (the area formula route vs the replica route)."""
    alpha_D, N = 0.25, 800
    C_replica = dm.glm_small_t(alpha_D, phi)[1]
    m = dm.HiddenManifold(alpha_D, phi, N=N, seed=9)
    z = np.random.default_rng(10).standard_normal((4, m.D))
    C_N = 0.5 * np.mean(np.sum(np.log(geo.tangent_spectrum(m, z)), axis=1)) / N
    assert C_N == pytest.approx(C_replica, abs=0.01)  # finite-N fluctuations of log det: ~ 1/N per dimension


def test_local_pca_of_a_linear_subspace_has_rank_D():
    m = dm.HiddenManifold(0.2, N=30, seed=11)
    data = m.sample(3000, seed=12, xp=np)
    spec = geo.local_pca_spectrum(data, k=60, n_centres=20, seed=13)
    assert spec.shape == (20, 30)
    assert np.all(spec[:, m.D - 1] > 1e-3 * spec[:, 0])
    assert np.all(spec[:, m.D] < 1e-10 * spec[:, 0])


def test_local_pca_with_every_point_is_the_global_covariance():
    X = np.random.default_rng(14).standard_normal((50, 4))
    spec = geo.local_pca_spectrum(X, k=50, n_centres=3, seed=0)
    ref = np.sort(np.linalg.eigvalsh(np.cov(X.T, bias=True)))[::-1]
    for row in spec:
        np.testing.assert_allclose(row, ref, rtol=1e-12)


def test_local_pca_of_tanh_data_sees_the_tangent_space():
    """tanh data (N = 30, D = 6): a clear drop after index D; its Gaussian equivalent (same covariance) has none."""
    m = dm.HiddenManifold(0.2, "tanh", N=30, seed=15)
    ratio = {}
    for name, model in (("hmm", m), ("ge", dm.gaussian_equivalent(m))):
        spec = geo.local_pca_spectrum(model.sample(20_000, seed=16, xp=np), k=60, n_centres=50, seed=17)
        mean = spec.mean(axis=0)
        ratio[name] = mean[m.D] / mean[m.D - 1]
    assert ratio["hmm"] < 0.1 < ratio["ge"]


# ---------------------------------------------------------------------------------------------------- validation
def test_bad_arguments():
    with pytest.raises(TypeError, match="HiddenManifold"):
        geo.spectral_density(1.0, dm.GaussianData())
    with pytest.raises(ValueError, match="without N"):
        geo.manifold_covariance(dm.HiddenManifold(0.5, "tanh"))
    with pytest.raises(ValueError, match="must not be empty"):
        geo.kolmogorov_distance([], lambda x: x)
    with pytest.raises(ValueError, match="k \\(neighbours\\)"):
        geo.local_pca_spectrum(np.zeros((10, 3)), k=11)
    with pytest.raises(ValueError, match="z must have shape"):
        geo.tangent_spectrum(dm.HiddenManifold(0.5, "tanh", N=10, seed=0), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="square matrix"):
        geo.participation_dimension(np.zeros((2, 3)))
