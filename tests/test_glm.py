"""Tests of the replica mutual information of the nonlinear hidden manifold (diffmem.theory.glm, glm_channel).

Every check is a closed form, a limit, an identity, an independent quadrature, or a number quoted in THEORY.md
section 7 (to the digits quoted there).
"""

import math

import numpy as np
import pytest
from scipy import integrate, optimize

from diffmem.activations import get_activation
from diffmem.theory import glm, glm_channel
from diffmem.theory.glm import (
    glm_collapse_time,
    glm_gaussian_equivalent_mutual_information,
    glm_mutual_information,
    glm_small_t,
)
from diffmem.theory.spectra import marchenko_pastur_quadrature, marchenko_pastur_shannon

NONLINEAR = ("tanh", "relu", "sign")


def _npdf(x):
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


# ------------------------------------------------------------------------------------------------------ linear phi
@pytest.mark.parametrize("alpha_D", [0.05, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_linear_matches_marchenko_pastur(alpha_D):
    nu = np.logspace(-5, 3, 17)
    i = glm_mutual_information(nu, alpha_D, "linear")
    mp = 0.5 * alpha_D * marchenko_pastur_shannon(1.0 / (alpha_D * nu), alpha_D)
    np.testing.assert_allclose(i, mp, rtol=0, atol=1e-9)
    # and against Gauss quadrature of the law itself, down to nu = 1e-9 (closed form, no asymptote for linear);
    # at alpha_D = 1 the law's x^(-1/2) edge at 0 limits Gauss quadrature of log(1 + x/nu) to larger nu
    nu = np.logspace(-9 if alpha_D < 1 else -3, 2, 12)
    x, w = marchenko_pastur_quadrature(alpha_D, 2000)
    ref = 0.5 * alpha_D * (np.log1p(x[None, :] / (alpha_D * nu[:, None])) @ w)
    np.testing.assert_allclose(glm_mutual_information(nu, alpha_D, "linear"), ref, rtol=0, atol=1e-11)


@pytest.mark.parametrize("alpha_D", [0.1, 0.5, 1.0])
def test_linear_stationary_point_solves_the_variational_problem(alpha_D):
    """The closed-form q* of the linear channel is the minimiser of the replica potential (searched in ln(1 - q))."""
    for nu in (1e-4, 0.3, 5.0):
        def pot(u, nu=nu):
            q = -math.expm1(u)
            return 0.5 * alpha_D * (-u - q) + 0.5 * math.log1p(math.exp(u) / nu)

        r = optimize.minimize_scalar(pot, bounds=(math.log(nu) - 20, 0.0), method="bounded",
                                     options={"xatol": 1e-12})
        assert glm_mutual_information(nu, alpha_D, "linear") == pytest.approx(r.fun, abs=1e-13)


# ------------------------------------------------------------------------------------- THEORY.md section 7 numbers
def test_validation_table_tanh():
    """tanh (centred, unit variance), alpha_D = 1: replica i = 1.138, 0.684, 0.292 at nu = 0.05, 0.2, 1."""
    i = glm_mutual_information([0.05, 0.2, 1.0], 1.0, "tanh")
    np.testing.assert_array_equal(np.round(i, 3), [1.138, 0.684, 0.292])


def test_gaussian_equivalent_values():
    """The table's Gaussian-equivalent column (0.854, 0.592, 0.264) is I(z; x_t) of the GE model, not I(a_GE; x_t).

    Independent quadrature over the Marchenko-Pastur law: the GE covariance has eigenvalues mu_1^2 x + mu_*^2. The
    full-rank information I(a_GE; x_t) = <1/2 ln(1 + (mu_1^2 x + mu_*^2)/nu)> is 1.290, 0.741, 0.298 here; it bounds
    the replica value from above (a Gaussian maximises entropy at fixed covariance), whereas the quoted column
    <1/2 ln(1 + mu_1^2 x / (nu + mu_*^2))> (mu_* eta counted as noise) lies below it.
    """
    act = get_activation("tanh")
    nu = np.array([0.05, 0.2, 1.0])
    x, w = marchenko_pastur_quadrature(1.0, 2000)
    m1, ms2 = act.mu1, act.mu_star**2
    full = 0.5 * (np.log1p((m1**2 * x[None, :] + ms2) / nu[:, None]) @ w)
    latent = 0.5 * (np.log1p(m1**2 * x[None, :] / (nu[:, None] + ms2)) @ w)
    np.testing.assert_array_equal(np.round(latent, 3), [0.854, 0.592, 0.264])
    np.testing.assert_array_equal(np.round(full, 3), [1.290, 0.741, 0.298])
    np.testing.assert_allclose(glm_gaussian_equivalent_mutual_information(nu, 1.0, act), full, atol=1e-10)
    np.testing.assert_allclose(glm_gaussian_equivalent_mutual_information(nu, 1.0, act, latent=True), latent,
                               atol=1e-10)
    replica = glm_mutual_information(nu, 1.0, act)
    assert np.all(latent < replica) and np.all(replica < full)


@pytest.mark.parametrize(("alpha_D", "expected"), [(0.1, 0.248), (0.25, 0.402), (0.5, 0.516), (1.0, 0.596)])
def test_sign_finite_at_zero_time(alpha_D, expected):
    slope, i0 = glm_small_t(alpha_D, "sign")
    assert slope == 0.0
    assert round(i0, 3) == expected
    # i(nu) increases to i(0+) and is flat (to exp(-1/(2 nu))) below nu = 0.01
    i = glm_mutual_information([1e-12, 1e-6, 1e-3, 0.02, 0.1], alpha_D, "sign")
    np.testing.assert_allclose(i[:3], i0, atol=1e-13)
    assert i[3] < i0 and i[4] < i[3]
    assert math.isinf(glm_collapse_time(i0 + 1e-6, alpha_D, "sign"))
    assert math.isfinite(glm_collapse_time(i0 - 1e-3, alpha_D, "sign"))


def test_relu_manifold_vs_gaussian_equivalent():
    """relu, alpha_D = 0.1, alpha = 0.2: t_c = 0.106 for the manifold, 0.369 for its Gaussian equivalent."""
    assert round(glm_collapse_time(0.2, 0.1, "relu"), 3) == 0.106
    act = get_activation("relu")
    x, w = marchenko_pastur_quadrature(0.1, 1000)
    lam = np.concatenate([act.mu1**2 * x / 0.1 + act.mu_star**2, [act.mu_star**2]])
    wts = np.concatenate([0.1 * w, [0.9]])  # a fraction 1 - alpha_D of C's eigenvalues is 0
    root = optimize.brentq(lambda y: 0.5 * np.log1p(lam / math.expm1(2 * y)) @ wts - 0.2, 1e-6, 10.0, xtol=1e-14)
    assert round(root, 3) == 0.369


def test_normalisation_changes_t_c():
    """Raw tanh vs centred unit-variance tanh at alpha_D = 0.1, alpha = 0.05: t_c 0.608 vs 0.975."""
    assert round(glm_collapse_time(0.05, 0.1, get_activation("tanh", "raw")), 3) == 0.608
    assert round(glm_collapse_time(0.05, 0.1, "tanh"), 3) == 0.975
    # the normalisation only rescales the noise: raw phi at nu is normalised phi at nu / scale^2
    raw, norm = get_activation("tanh", "raw"), get_activation("tanh")
    assert glm_mutual_information(0.3, 0.5, raw) == pytest.approx(
        glm_mutual_information(0.3 / norm.scale**2, 0.5, norm), abs=1e-13)


# ---------------------------------------------------------------------------------------------- small-t asymptote
@pytest.mark.parametrize(("phi", "alpha_D", "slope"), [("tanh", 0.1, 0.05), ("tanh", 0.25, 0.125),
                                                       ("relu", 0.25, 0.125), ("relu", 0.75, 0.25),
                                                       ("linear", 0.5, 0.25)])
def test_small_t_slope(phi, alpha_D, slope):
    nu = np.array([3e-8, 1e-7, 3e-7, 1e-6])
    i = glm_mutual_information(nu, alpha_D, phi)
    fit = -np.polyfit(np.log(nu), i, 1)[0]
    assert glm_small_t(alpha_D, phi)[0] == slope
    # relu above alpha_D = 1/2 approaches its asymptote like sqrt(nu) ln(nu): a looser fit
    assert fit == pytest.approx(slope, rel=5e-3 if alpha_D > 0.5 else 1e-4)


@pytest.mark.parametrize(("phi", "alpha_D"), [("tanh", 0.1), ("tanh", 0.25), ("relu", 0.25), ("linear", 0.5)])
def test_small_t_constant(phi, alpha_D):
    slope, C = glm_small_t(alpha_D, phi)
    nu = 1e-7
    assert glm_mutual_information(nu, alpha_D, phi) == pytest.approx(slope * math.log(1 / nu) + C, abs=2e-5)
    # below 1e-8 the asymptote is used: continuous to that accuracy across the switch
    below = glm_mutual_information(0.99e-8, alpha_D, phi) - slope * math.log(1.01 / 0.99)
    above = glm_mutual_information(1.01e-8, alpha_D, phi)
    assert abs(below - above) < 1e-5


def test_small_t_linear_closed_form():
    """Linear alpha_D < 1: e^{u*} = alpha_D / (1 - alpha_D); alpha_D = 1: C = -1/2 (E ln x = -1 for MP(1))."""
    a = 0.3
    u = math.log(a / (1 - a))
    assert glm_small_t(a, "linear") == pytest.approx((a / 2, a / 2 * (-u - 1) - 0.5 * math.log(1 - a)), abs=1e-13)
    assert glm_small_t(1.0, "linear") == pytest.approx((0.5, -0.5), abs=1e-13)


# ------------------------------------------------------------------------------- independent checks of integrals
def _row_reference(phi_raw, c, s, nu, kink=None):
    """I(W; Y | V) = h(Y | V) - h(noise) for Y = phi(c + s W) + sqrt(nu) xi by nested adaptive quadrature."""
    sig = math.sqrt(nu)

    def p(y):
        def f(w):
            return _npdf(w) * _npdf((y - phi_raw(c + s * w)) / sig) / sig

        pts = None if kink is None else [(kink - c) / s]
        return integrate.quad(f, -12.0, 12.0, points=pts, epsabs=1e-15, epsrel=1e-13, limit=400)[0]

    lo, hi = phi_raw(c - 10 * s) - 10 * sig, phi_raw(c + 10 * s) + 10 * sig
    pts = [phi_raw(c + k * s) for k in (-2, -1, 0, 1, 2)]
    pts = sorted({min(max(v, lo), hi) for v in pts})
    h = integrate.quad(lambda y: -p(y) * math.log(max(p(y), 1e-300)), lo, hi, points=pts, epsabs=1e-13,
                       epsrel=1e-12, limit=400)[0]
    return h - 0.5 * math.log(2 * math.pi * math.e * nu)


@pytest.mark.parametrize(("phi", "rows", "kink"), [("tanh", glm_channel._tanh_rows, None),
                                                  ("relu", glm_channel._relu_rows, 0.0)])
@pytest.mark.parametrize(("c", "s", "nu"), [(0.3, 0.8, 0.2), (-1.2, 0.3, 0.05), (0.05, 0.1, 0.01)])
def test_channel_rows_against_adaptive_quadrature(phi, rows, kink, c, s, nu):
    phi_raw = {"tanh": math.tanh, "relu": lambda h: max(h, 0.0)}[phi]
    J = rows(np.array([c]), s, nu)[0][0]
    assert J == pytest.approx(_row_reference(phi_raw, c, s, nu, kink), abs=1e-9)


def test_sign_rows_against_adaptive_quadrature():
    for c, s, nu in [(0.1, 0.5, 0.3), (-0.4, 0.2, 0.05), (0.0, 1.0, 2.0)]:
        pi = 0.5 * math.erfc(-c / (s * math.sqrt(2)))
        sig = math.sqrt(nu)

        def p(y, pi=pi, sig=sig):
            return (pi * _npdf((y - 1) / sig) + (1 - pi) * _npdf((y + 1) / sig)) / sig

        h = integrate.quad(lambda y, p=p: -p(y) * math.log(max(p(y), 1e-300)), -1 - 12 * sig, 1 + 12 * sig,
                           points=[-1.0, 0.0, 1.0], epsabs=1e-13, epsrel=1e-12, limit=400)[0]
        ref = h - 0.5 * math.log(2 * math.pi * math.e * nu)
        assert glm_channel._sign_rows(np.array([c]), s, nu)[0][0] == pytest.approx(ref, abs=1e-10)


@pytest.mark.parametrize("phi", NONLINEAR)
def test_v_average_against_adaptive_quadrature(phi):
    """The V rule (trapezoid for tanh, Gauss-Legendre on the kink window) against adaptive quad of the same rows."""
    rows = {"tanh": glm_channel._tanh_rows, "relu": glm_channel._relu_rows, "sign": glm_channel._sign_rows}[phi]
    q, nu = 0.9, 0.05
    s, sq = math.sqrt(1 - q), math.sqrt(q)
    ref = integrate.quad(lambda v: _npdf(v) * rows(np.array([sq * v]), s, nu)[0][0], -10, 10, points=[0.0],
                         epsabs=1e-12, epsrel=1e-11, limit=200)[0]
    assert glm_channel.channel_terms(phi, q, nu)[0] == pytest.approx(ref, abs=1e-10)


@pytest.mark.parametrize("phi", NONLINEAR)
def test_derivative_identities(phi):
    """G = -2 dI_out/dq (g_out identity) and F/2 - 1/(2 nu) = dI_out/dnu (de Bruijn), by central differences."""
    q, nu, e = 0.7, 0.15, 1e-4
    _, G, F = glm_channel.channel_terms(phi, q, nu)
    dq = (glm_channel.channel_terms(phi, q + e, nu)[0] - glm_channel.channel_terms(phi, q - e, nu)[0]) / (2 * e)
    dn = (glm_channel.channel_terms(phi, q, nu + e)[0] - glm_channel.channel_terms(phi, q, nu - e)[0]) / (2 * e)
    assert G == pytest.approx(-2 * dq, rel=1e-6)
    assert 0.5 * F - 0.5 / nu == pytest.approx(dn, rel=1e-6)


def test_tanh_monte_carlo():
    """Brute-force Monte Carlo of I_out for tanh (p(y | V) by Gauss-Hermite, fine at nu = 0.5): agrees within 4 SE."""
    rng = np.random.default_rng(7)
    q, nu, n = 0.6, 0.5, 200_000
    v, w, xi = rng.standard_normal((3, n))
    y = np.tanh(math.sqrt(q) * v + math.sqrt(1 - q) * w) + math.sqrt(nu) * xi
    gh_x, gh_w = np.polynomial.hermite_e.hermegauss(120)
    gh_w = gh_w / gh_w.sum()
    x = np.tanh(math.sqrt(q) * v[:, None] + math.sqrt(1 - q) * gh_x[None, :])
    logp = np.log(np.exp(-0.5 * (y[:, None] - x) ** 2 / nu) @ gh_w) - 0.5 * math.log(2 * math.pi * nu)
    sample = -logp - 0.5 * math.log(2 * math.pi * math.e * nu)
    est, se = sample.mean(), sample.std() / math.sqrt(n)
    assert abs(glm_channel.channel_terms("tanh", q, nu)[0] - est) < 4 * se


@pytest.mark.parametrize("phi", NONLINEAR)
def test_grid_refinement(phi):
    """Doubling every grid moves i by < 1e-10 (the scheme is spectrally accurate)."""
    for nu, alpha_D in [(0.01, 0.25), (0.3, 1.0), (4.0, 0.1)]:
        a = glm._replica(phi, nu, alpha_D)[0]
        b = glm._replica(phi, nu, alpha_D, res=2.0)[0]
        assert a == pytest.approx(b, abs=1e-10)


@pytest.mark.parametrize("phi", NONLINEAR)
def test_minimisation_against_bounded_search(phi):
    for nu, alpha_D in [(0.05, 0.5), (2.0, 0.1)]:
        obj = glm._Objective(phi, nu, alpha_D)
        r = optimize.minimize_scalar(lambda u, obj=obj: obj(u)[0], bounds=(math.log(nu) - 12, 0.0),
                                     method="bounded", options={"xatol": 1e-10})
        assert glm._replica(phi, nu, alpha_D)[0] == pytest.approx(r.fun, abs=1e-12)


# ------------------------------------------------------------------------------------------- shape and behaviour
@pytest.mark.parametrize("phi", NONLINEAR + ("linear",))
def test_decreasing_in_nu(phi):
    nu = np.logspace(-6, 2, 17)
    i = glm_mutual_information(nu, 0.5, phi)
    assert np.all(np.diff(i) <= 1e-12)
    assert np.all(i >= 0)


def test_collapse_time_solves_the_criterion_and_vectorises():
    alpha = np.array([[0.05, 0.3], [0.8, 0.1]])
    t = glm_collapse_time(alpha, 0.5, "tanh")
    assert t.shape == alpha.shape
    i = glm_mutual_information(np.expm1(2 * t), 0.5, "tanh")
    np.testing.assert_allclose(i, alpha, atol=1e-11)
    assert isinstance(glm_collapse_time(0.3, 0.5, "tanh"), float)
    # below nu = 1e-8 the root comes from the asymptote
    slope, C = glm_small_t(0.1, "relu")
    t_deep = glm_collapse_time(2.0, 0.1, "relu")
    assert t_deep == pytest.approx(0.5 * math.log1p(math.exp(-(2.0 - C) / slope)), rel=1e-10)


def test_shapes():
    assert glm_mutual_information(0.2, 0.5, "relu").shape == ()
    assert glm_mutual_information(np.full((2, 3), 0.2), 0.5, "relu").shape == (2, 3)


@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf, np.nan])
def test_bad_nu(bad):
    with pytest.raises(ValueError, match="nu"):
        glm_mutual_information([0.1, bad], 0.5, "tanh")
    with pytest.raises(ValueError, match="nu"):
        glm_gaussian_equivalent_mutual_information(bad, 0.5, "tanh")


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, np.nan])
def test_bad_alpha_D(bad):
    with pytest.raises(ValueError, match=r"alpha_D must be in \(0, 1\]"):
        glm_mutual_information(0.1, bad, "tanh")
    with pytest.raises(ValueError, match="alpha_D"):
        glm_collapse_time(0.1, bad, "tanh")
    with pytest.raises(ValueError, match="alpha_D"):
        glm_small_t(bad, "tanh")


@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf])
def test_bad_alpha(bad):
    with pytest.raises(ValueError, match="alpha"):
        glm_collapse_time(bad, 0.5, "tanh")


def test_bad_activation():
    with pytest.raises(ValueError, match="phi"):
        glm_mutual_information(0.1, 0.5, "softplus")


def test_public_api_dispatches_nonlinear_manifolds_to_the_replica_engine():
    # THEORY.md section 7: relu, alpha_D = 0.1, alpha = 0.2 collapses at 0.106 on the manifold and at 0.369 for its
    # full-rank Gaussian equivalent, reached here through diffmem's public functions
    import diffmem as dm

    model = dm.HiddenManifold(0.1, "relu")
    assert dm.collapse_time(0.2, model) == pytest.approx(0.106, abs=5e-4)
    assert dm.collapse_time(0.2, dm.gaussian_equivalent(model)) == pytest.approx(0.369, abs=5e-4)
    nu = np.array([0.05, 0.2, 1.0])
    t = 0.5 * np.log1p(nu)
    np.testing.assert_allclose(dm.mutual_information(t, dm.HiddenManifold(1.0, "tanh")), [1.138, 0.684, 0.292],
                               atol=5e-4)
    assert dm.collapse_time(0.7, dm.HiddenManifold(0.1, "sign")) == np.inf  # i(0+) = 0.248 < alpha
