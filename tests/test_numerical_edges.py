"""Numerical edges (issue 7): the theory and the score engine at the ends of their ranges.

The theory is swept over t in [1e-6, 20] (both ends exactly), alpha in [1e-3, 2], alpha_D in [1e-3, 1], N up to 1e4
and every phi of the registry; every output must be finite, or the documented limit: a time too small for float64
(alpha / alpha_D beyond ~325, true value below e^-650) is 0 and the minimal loss there -inf (``Times``), and a
collapse time that does not exist (sign, alpha >= i(0+)) is inf. The suite turns warnings into errors, so each
call is also warning-free. Where the theory guarantees it, an identity or an ordering is checked on the same grid.

The empirical score engine is checked against an independent reference (direct differences and a log-sum-exp in
``np.longdouble``) where Delta_t is tiny (t down to 1e-9, the collapsed phase) and where every pattern is far
(|x| up to 1e6: the weights are a log-sum-exp of logits of order -|x|^2 / Delta_t).
"""

import math

import numpy as np
import pytest
from scipy import special

import diffmem as dm
from diffmem.theory.spectra import marchenko_pastur_transforms

T_GRID = np.concatenate([[1e-6], np.geomspace(1e-6, 20.0, 13)[1:-1], [20.0]])
ALPHAS = np.array([1e-3, 0.01, 0.1, 0.5, 1.0, 2.0])
ALPHA_DS = np.array([1e-3, 0.01, 0.1, 0.5, 1.0])
PHIS = [name for name in dm.ACTIVATIONS if name != "linear"]


def _realised_manifold_spectrum(N, D, seed=0):
    """Realised covariance spectrum of a linear manifold at large N without an N x N eigensolve."""
    F = np.random.default_rng(seed).standard_normal((N, D))
    lam = np.linalg.eigvalsh(F.T @ F / D)
    return dm.Spectrum.from_eigenvalues(np.concatenate([np.zeros(N - D), lam]))


LINEAR_MODELS = {
    "gauss-inf": dm.GaussianData(),
    "gauss-N1": dm.GaussianData(N=1),
    "gauss-N1e4": dm.GaussianData(N=10_000),
    **{f"hmm-inf-{aD:g}": dm.HiddenManifold(float(aD)) for aD in ALPHA_DS},
    "hmm-N200": dm.HiddenManifold(0.1, N=200, seed=0),
    "hmm-N1e4": _realised_manifold_spectrum(10_000, 100),
    **{f"ge-{phi}-{aD:g}": dm.gaussian_equivalent(dm.HiddenManifold(aD, phi)) for phi in PHIS for aD in (1e-3, 1.0)},
}


def _alpha_D(model):
    """alpha_D of a model (1 for Gaussian data), to tell where a time underflows float64."""
    if isinstance(model, dm.GaussianEquivalent | dm.HiddenManifold):
        return model.alpha_D
    if isinstance(model, dm.Spectrum):
        return float(model.weights[model.values > 0].sum())
    return 1.0


def _underflows(alpha, model):
    # ln h^2 ~ -2 alpha / alpha_D (+ O(1)); below -650 the times are reported as 0 (times.py, _LOG_H2_RANGE)
    return 2.0 * alpha / _alpha_D(model) > 600.0


# ------------------------------------------------------------------------------------------------ theory: times
@pytest.mark.parametrize("name", list(LINEAR_MODELS))
def test_times_finite_ordered_and_consistent(name):
    model = LINEAR_MODELS[name]
    tm = dm.times(ALPHAS, model)
    for field, value in tm._asdict().items():
        value = np.asarray(value)
        assert value.shape == ALPHAS.shape, field
        if field == "loss_min":  # documented: -inf exactly where d_min underflows to 0
            assert np.all(np.isfinite(value) | ((value == -np.inf) & (tm.d_min == 0))), value
        else:
            assert np.all(np.isfinite(value) & (value >= 0)), (field, value)
    under = np.array([_underflows(a, model) for a in ALPHAS])
    assert np.all(tm.t_c[~under] > 0)
    # t_g < t_cond <= t_c < t_o (THEORY.md section 6), non-strict where the times reach float64's floor
    assert np.all(tm.t_g <= tm.t_cond) and np.all(tm.t_cond <= tm.t_c * (1 + 1e-12)) and np.all(tm.t_c <= tm.t_o)
    pos = tm.t_g > 0
    assert np.all(tm.t_g[pos] < tm.t_cond[pos]) and np.all(tm.t_c[pos] < tm.t_o[pos])
    # the single-time functions agree with the bundle
    np.testing.assert_allclose(dm.collapse_time(ALPHAS, model), tm.t_c, rtol=1e-12, atol=0)
    np.testing.assert_allclose(dm.onset_time(ALPHAS, model), tm.t_o, rtol=1e-12, atol=0)
    np.testing.assert_allclose(dm.condensation_time(ALPHAS, model), tm.t_cond, rtol=1e-12, atol=0)
    np.testing.assert_allclose(dm.generalization_time(ALPHAS, model), tm.t_g, rtol=1e-12, atol=0)
    # t_c decreases with alpha (more patterns collapse earlier)
    assert np.all(np.diff(tm.t_c) <= 0)


@pytest.mark.parametrize("name", list(LINEAR_MODELS))
def test_mutual_information_finite_and_decreasing(name):
    model = LINEAR_MODELS[name]
    i = dm.mutual_information(T_GRID, model)
    assert np.all(np.isfinite(i) & (i >= 0))
    assert np.all(np.diff(i) <= 1e-15 * i[:-1])
    # i(t_c) = alpha where t_c is representable
    tc = dm.collapse_time(ALPHAS, model)
    ok = tc > 1e-200
    np.testing.assert_allclose(dm.mutual_information(tc[ok], model), ALPHAS[ok], rtol=1e-8)


@pytest.mark.parametrize("name", list(LINEAR_MODELS))
def test_basins_traps_loss_cumulant_finite(name):
    model = LINEAR_MODELS[name]
    # 1e4 spectral nodes: every other time (both ends kept) so that the file stays within its time budget
    grid = T_GRID[::2] if name.endswith("N1e4") else T_GRID
    t, a = grid[:, None], ALPHAS[None, :]
    s_star = dm.basin_size(t, a, model)
    assert s_star.shape == (grid.size, ALPHAS.size) and np.all(np.isfinite(s_star) & (s_star >= 0))
    for s in (0.0, 1.0):
        z = dm.trap_log_partition(t, a, model, s=s)
        assert np.all(np.isfinite(z)), s
    loss = dm.generalization_loss(t, a, model)
    assert np.all(np.isfinite(loss))
    phi, dphi = dm.distance_cumulant(grid, model, s=1.0)
    theta = np.array([1e-9, 0.5, 1e6])[:, None]
    assert np.all(np.isfinite(phi(theta))) and np.all(np.isfinite(dphi(theta)))
    assert np.all(dphi(theta) <= 0)
    # identities at the characteristic times (where they are representable and inside the grid's range)
    tm = dm.times(ALPHAS, model)
    ok = (tm.t_c > 1e-6) & (tm.t_c < 20)
    np.testing.assert_allclose(dm.basin_size(tm.t_c[ok], ALPHAS[ok], model), 1.0, rtol=1e-7)  # s*(t_c) = 1
    ok = (tm.t_o > 1e-6) & (tm.t_o < 20)
    np.testing.assert_allclose(dm.trap_log_partition(tm.t_o[ok], ALPHAS[ok], model), 0.0, atol=1e-9)


def test_phase_diagram_whole_grid():
    tm = dm.phase_diagram(ALPHAS[None, :], ALPHA_DS[:, None])
    shape = (ALPHA_DS.size, ALPHAS.size)
    under = 2.0 * ALPHAS[None, :] / ALPHA_DS[:, None] > 600.0
    for field, value in tm._asdict().items():
        assert value.shape == shape, field
        if field == "loss_min":
            assert np.all(np.isfinite(value) | ((value == -np.inf) & (tm.d_min == 0)))
        else:
            assert np.all(np.isfinite(value) & (value >= 0)), field
    assert np.all(tm.t_c[~under] > 0)
    assert np.all(tm.t_g <= tm.t_cond) and np.all(tm.t_cond <= tm.t_c * (1 + 1e-12)) and np.all(tm.t_c <= tm.t_o)
    for k, aD in enumerate(ALPHA_DS):  # one vectorised solve = the per-model solves
        np.testing.assert_allclose(tm.t_c[k], dm.collapse_time(ALPHAS, dm.HiddenManifold(float(aD))), rtol=1e-10)


# -------------------------------------------------------------------------------------------- theory: nonlinear
# tanh at alpha_D ~ 1 below nu ~ 1e-4 costs seconds per point (documented in glm_mutual_information): its grid
# starts at t = 1e-3 there, and its small-t asymptote (nu < 1e-8) is reached at t = 1e-9.
NONLINEAR_CASES = [(phi, aD) for phi in ("relu", "sign") for aD in (1e-3, 0.1, 1.0)] + [("tanh", 1e-3), ("tanh", 0.1)]


@pytest.mark.parametrize(("phi", "alpha_D"), NONLINEAR_CASES + [("tanh", 1.0)])
def test_nonlinear_mutual_information(phi, alpha_D):
    model = dm.HiddenManifold(alpha_D, phi)
    t = T_GRID if (phi, alpha_D) != ("tanh", 1.0) else np.concatenate([[1e-9], T_GRID[T_GRID >= 1e-3]])
    i = dm.mutual_information(t, model)
    # accuracy ~1e-10 absolute (glm_mutual_information): at t = 20 (i ~ e^-40) round-off may leave -2e-14
    assert np.all(np.isfinite(i) & (i >= -1e-10))
    assert np.all(np.diff(i) <= 1e-9)


@pytest.mark.parametrize(("phi", "alpha_D"), NONLINEAR_CASES)
def test_nonlinear_collapse_time(phi, alpha_D):
    """Regression: glm._linear_root's bracket [-60, 40] in ln nu failed (brentq ValueError) for alpha >~ 30 alpha_D."""
    model = dm.HiddenManifold(alpha_D, phi)
    alphas = np.array([1e-3, 0.1, 2.0])
    tc = dm.collapse_time(alphas, model)
    slope, i0 = dm.glm_small_t(alpha_D, phi)
    assert math.isfinite(slope) and math.isfinite(i0)
    never = (slope == 0.0) & (alphas >= i0)  # documented: t_c = inf when alpha >= i(0+) (sign only)
    assert np.all(np.where(never, tc == np.inf, np.isfinite(tc) & (tc >= 0)))
    assert np.all(np.diff(tc[~never]) <= 0)


# ------------------------------------------------------------------------------------------------- finite N
@pytest.mark.parametrize("N", [1, 2, 10, 1000, 10_000])
@pytest.mark.parametrize("alpha", [1e-3, 0.5, 2.0])
def test_gaussian_collapse_fraction_edges(N, alpha):
    """Regressions: -inf - -inf in scipy's log-density tail (huge R or log P), a decreasing grid at tiny t, the
    F(lo) estimate for N <= 2 (fraction 0 instead of 1 at t = 1e-6), log1p(-1) for a tail beyond the grid, and
    scipy's ncx2 log-density underflowing for log P ~ 1e4 (fraction 1 above t_c at N = 1e4)."""
    t = np.array([1e-6, 1e-2, 0.5, 2.0, 20.0])
    est = dm.gaussian_collapse_fraction(t, N, alpha, n_samples=64, n_nodes=4, top=8, n_grid=200, seed=0)
    assert np.all(np.isfinite(est.value) & (est.value >= 0) & (est.value <= 1))
    assert np.all(np.isfinite(est.stderr) & (est.stderr > 0))
    assert est.value[0] > 0.99  # t = 1e-6: every sample sits on its own pattern
    if alpha * N >= math.log(2.5):  # at least 2 other patterns: uniform weights at t = 20
        assert est.value[-1] < 0.01


def test_gaussian_collapse_fraction_converges_to_the_step():
    """At N = 1e4 (log P = 2e4) the crossover is a step at t_c (THEORY.md section 8), not 1 above it."""
    tc = dm.collapse_time(2.0, dm.GaussianData())
    v = dm.gaussian_collapse_fraction(tc * np.array([0.9, 1.1]), 10_000, 2.0, n_samples=128, seed=0).value
    assert v[0] > 0.95 and v[1] < 0.05


def test_gaussian_collapse_fraction_one_dimension_matches_simulation():
    """N = 1 (density singular at 0): the exact reduction agrees with a direct simulation (P = 7)."""
    exact = dm.gaussian_collapse_fraction(0.1, 1, 2.0, n_samples=4096, seed=0)
    rng = np.random.default_rng(1)
    hits = []
    for _ in range(200):
        data = rng.standard_normal((7, 1))
        x = dm.sample_marginal(data, 0.1, 50, seed=rng)
        hits.append(np.mean(dm.posterior_stats(x, data, 0.1).w_max > 0.5))
    # 10^4 points over 200 datasets: standard error ~0.01 (dataset spread included); exact MC error ~0.007
    assert abs(np.mean(hits) - exact.value) < 0.05


@pytest.mark.parametrize("scale", [1e-6, 1e-2, 1.0, 20.0])
def test_crossover_midpoint_edges(scale):
    t = scale * np.geomspace(0.25, 4.0, 9)
    value = special.expit(-4.0 * np.log(t / scale))
    est = dm.crossover_midpoint(t, value, np.full(t.size, 0.02))
    assert math.isfinite(est.value) and math.isfinite(est.stderr)
    assert est.value == pytest.approx(scale, rel=0.05)


# ------------------------------------------------------------------------------------------ spectra and REM
@pytest.mark.parametrize("ratio", [1e-3, 0.01, 0.5, 1.0])
def test_marchenko_pastur_edges(ratio):
    lo, hi = (1 - math.sqrt(ratio)) ** 2, (1 + math.sqrt(ratio)) ** 2
    x = np.linspace(0.0, hi * 1.1, 401)
    dens = dm.marchenko_pastur_density(x, ratio)
    cdf = dm.marchenko_pastur_cdf(x, ratio)
    assert np.all(np.isfinite(dens) & (dens >= 0))
    assert np.all(np.isfinite(cdf)) and np.all(np.diff(cdf) >= 0) and cdf[0] == 0.0 and cdf[-1] == 1.0
    u = np.linspace(0.0, 1.0, 101)
    q = dm.marchenko_pastur_quantile(u, ratio)
    assert np.all(np.isfinite(q)) and np.all(np.diff(q) >= 0)
    assert q[0] == pytest.approx(lo, abs=1e-9) and q[-1] == pytest.approx(hi, rel=1e-9)
    nodes, weights = dm.marchenko_pastur_quadrature(ratio, 64)
    assert np.all(np.isfinite(nodes)) and weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert nodes @ weights == pytest.approx(1.0, rel=1e-10)  # mean 1
    gamma = np.concatenate([[0.0], np.geomspace(1e-300, 1e300, 61)])
    for f in marchenko_pastur_transforms(gamma, ratio):
        assert np.all(np.isfinite(f) & (f >= 0))


@pytest.mark.parametrize("alpha", ALPHAS)
def test_rem_edges(alpha):
    rem = dm.DerridaREM(float(alpha))
    T = np.geomspace(1e-6, 20.0, 15)
    for f in (rem.free_energy, rem.energy, rem.canonical_entropy, rem.participation_ratio):
        assert np.all(np.isfinite(f(T)))
    theta_star = dm.condensation_point(alpha, rem.phi, rem.dphi)
    assert float(theta_star) == pytest.approx(1.0 / rem.critical_temperature, rel=1e-10)
    beta = 1.0 / T
    assert np.all(np.isfinite(dm.saddle_entropy(beta, alpha, rem.phi, rem.dphi)))
    logz = dm.quenched_log_partition(beta, alpha, rem.phi, rem.dphi)
    np.testing.assert_allclose(-T * logz, rem.free_energy(T), rtol=1e-10)
    assert float(dm.minimal_distance(alpha, rem.phi, rem.dphi)) == pytest.approx(-rem.e0, rel=1e-10)


# ----------------------------------------------------------------------------------------- the score engine
def _reference(x, data, t):
    """Score, log-density, posterior mean and weights from direct differences in extended precision."""
    x = np.asarray(x, dtype=np.longdouble)
    a = np.asarray(data, dtype=np.longdouble)
    decay = np.exp(-np.longdouble(t))
    dlt = -np.expm1(-2 * np.longdouble(t))
    diff = x[:, None, :] - decay * a[None, :, :]
    d2 = (diff * diff).sum(axis=2)
    logits = -d2 / (2 * dlt)
    top = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - top)
    s = e.sum(axis=1, keepdims=True)
    w = e / s
    lse = top[:, 0] + np.log(s[:, 0])
    N, P = x.shape[1], a.shape[0]
    log_density = lse - np.log(np.longdouble(P)) - 0.5 * N * np.log(2 * np.pi * dlt)
    mean = w @ a
    score = (decay * mean - x) / dlt
    return score, log_density, mean, w


@pytest.mark.parametrize("t", [1e-6, 1e-7, 1e-8, 1e-9])
def test_score_collapsed_phase_tiny_delta(t):
    rng = np.random.default_rng(0)
    P, N, M = 50, 8, 40
    data = rng.standard_normal((P, N)) + 3.0
    x = dm.sample_marginal(data, t, M, seed=1)
    score, log_density, mean, w = _reference(x, data, t)
    got = dm.empirical_score(x, data, t)
    assert np.all(np.isfinite(got))
    # |score| ~ 1/sqrt(Delta); the engine's e^-t mean - x cancels O(1) terms: error ~ eps / sqrt(Delta) relative
    np.testing.assert_allclose(got, score.astype(np.float64), rtol=0, atol=1e-9 * float(np.abs(score).max()))
    np.testing.assert_allclose(dm.empirical_log_density(x, data, t), log_density.astype(np.float64), rtol=1e-12,
                               atol=1e-9)
    np.testing.assert_allclose(dm.posterior_mean(x, data, t), mean.astype(np.float64), atol=1e-12)
    st = dm.posterior_stats(x, data, t)
    np.testing.assert_allclose(st.w_max, w.max(axis=1).astype(np.float64), rtol=1e-12)
    np.testing.assert_allclose(st.participation, (w * w).sum(axis=1).astype(np.float64), rtol=1e-12)
    np.testing.assert_array_equal(st.argmax, w.argmax(axis=1))
    d_ref = np.sort(np.asarray((x[:, None, :] - math.exp(-t) * data[None]) ** 2).sum(axis=2), axis=1)
    np.testing.assert_allclose(st.d_nearest, d_ref[:, 0], rtol=1e-9)
    np.testing.assert_allclose(st.d_second, d_ref[:, 1], rtol=1e-9)
    assert np.all(np.isfinite(st.log_density))


@pytest.mark.parametrize("t", [1e-6, 1e-4])
def test_score_collapsed_phase_float32(t):
    """float32 at small Delta: relative error ~ eps_32 |a| / sqrt(Delta) on the score (3e-5 / 1.4e-3 at t = 1e-6)."""
    rng = np.random.default_rng(2)
    data = rng.standard_normal((30, 6))
    x = dm.sample_marginal(data, t, 20, seed=3)
    score, log_density, _, _ = _reference(x.astype(np.float32), data.astype(np.float32), t)
    got = dm.empirical_score(x, data, t, dtype=np.float32)
    assert got.dtype == np.float32 and np.all(np.isfinite(got))
    scale = float(np.abs(score).max())
    np.testing.assert_allclose(got, score.astype(np.float64), atol=2e-6 * scale / math.sqrt(-math.expm1(-2 * t)))
    ld = dm.empirical_log_density(x, data, t, dtype=np.float32)
    assert np.all(np.isfinite(ld))
    np.testing.assert_allclose(ld, log_density.astype(np.float64), rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("radius", [1e3, 1e4, 1e5, 1e6])
@pytest.mark.parametrize("t", [0.1, 1.0, 5.0])
def test_score_all_patterns_far(radius, t):
    """Every pattern far away: logits ~ -radius^2 / Delta, far beyond exp's range; a log-sum-exp must carry them."""
    rng = np.random.default_rng(4)
    P, N, M = 64, 5, 16
    data = rng.standard_normal((P, N))
    u = rng.standard_normal((M, N))
    x = radius * u / np.linalg.norm(u, axis=1, keepdims=True) + rng.standard_normal((M, N))
    score, log_density, mean, w = _reference(x, data, t)
    got = dm.empirical_score(x, data, t)
    assert np.all(np.isfinite(got))
    dlt = -math.expm1(-2 * t)
    # the score is (e^-t mean - x) / Delta: check the mean (weights) to 1e-9 of the data scale, the score relatively
    pm = dm.posterior_mean(x, data, t)
    np.testing.assert_allclose(pm, mean.astype(np.float64), atol=1e-9)
    np.testing.assert_allclose(got, score.astype(np.float64), rtol=1e-12, atol=1e-9 / dlt)
    ld = dm.empirical_log_density(x, data, t)
    assert np.all(np.isfinite(ld))
    np.testing.assert_allclose(ld, log_density.astype(np.float64), rtol=1e-13)
    st = dm.posterior_stats(x, data, t)
    assert np.all(np.isfinite(st.w_max) & np.isfinite(st.participation) & np.isfinite(st.log_density))
    np.testing.assert_allclose(st.w_max, w.max(axis=1).astype(np.float64), rtol=1e-8)
    np.testing.assert_allclose(st.participation, (w * w).sum(axis=1).astype(np.float64), rtol=1e-8)
    # chunks of 1 (a new maximum in every chunk: the overflow-and-redo path) give the same answer
    np.testing.assert_allclose(dm.empirical_score(x, data, t, chunk=1), got, rtol=1e-12, atol=1e-9 / dlt)
    if radius <= 1e4:  # float32: logits of order radius^2 / Delta still fit (3.4e38); weights to ~1e-3
        got32 = dm.empirical_score(x, data, t, dtype=np.float32)
        assert np.all(np.isfinite(got32))
        np.testing.assert_allclose(dm.posterior_mean(x, data, t, dtype=np.float32), pm, atol=0.05)
