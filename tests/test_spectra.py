import math

import numpy as np
import pytest
from scipy import integrate

from diffmem.theory.spectra import (
    Spectrum,
    marchenko_pastur_cdf,
    marchenko_pastur_density,
    marchenko_pastur_edges,
    marchenko_pastur_quadrature,
    marchenko_pastur_quantile,
    marchenko_pastur_shannon,
)

RATIOS = [0.05, 0.3, 0.7, 0.999, 1.0]


def mp_moment(k, c):
    """E x^k of Marchenko-Pastur(c), mean 1: sum of Narayana numbers N(k, j) c^(j-1)."""
    from math import comb

    return sum(comb(k, j) * comb(k, j - 1) // k * c ** (j - 1) for j in range(1, k + 1))


@pytest.mark.parametrize("c", RATIOS)
def test_gauss_rule_reproduces_the_moments_exactly(c):
    x, w = marchenko_pastur_quadrature(c, 64)
    for k in range(1, 9):
        assert w @ x**k == pytest.approx(mp_moment(k, c), rel=1e-12)
    a, b = marchenko_pastur_edges(c)
    assert x.min() >= a - 1e-12 and x.max() <= b + 1e-12


@pytest.mark.parametrize("c", [0.05, 0.3, 0.7])
def test_density_is_normalised_with_mean_one(c):
    a, b = marchenko_pastur_edges(c)
    mass = integrate.quad(lambda x: marchenko_pastur_density(x, c), a, b, limit=200)[0]
    mean = integrate.quad(lambda x: x * marchenko_pastur_density(x, c), a, b, limit=200)[0]
    assert mass == pytest.approx(1.0, abs=1e-9)
    assert mean == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("c", [0.05, 0.25, 0.7, 1.0])
def test_cdf_matches_quadrature_of_the_density(c):
    a, b = (1 - math.sqrt(c)) ** 2, (1 + math.sqrt(c)) ** 2
    xs = np.linspace(a, b, 9)[1:-1]
    ref = [integrate.quad(lambda x: float(marchenko_pastur_density(x, c)), a, x, limit=200, epsabs=1e-13)[0]
           for x in xs]
    np.testing.assert_allclose(marchenko_pastur_cdf(xs, c), ref, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(marchenko_pastur_cdf([a - 0.1, b + 0.1], c), [0.0, 1.0])


@pytest.mark.parametrize("c", [0.05, 0.25, 1.0])
def test_quantile_inverts_the_cdf(c):
    u = np.linspace(0.0, 1.0, 101)
    q = marchenko_pastur_quantile(u, c)
    np.testing.assert_allclose(marchenko_pastur_cdf(q, c), u, rtol=0, atol=1e-9)
    assert q[0] == pytest.approx((1 - math.sqrt(c)) ** 2, abs=1e-12)
    assert q[-1] == pytest.approx((1 + math.sqrt(c)) ** 2, abs=1e-12)
    assert np.all(np.diff(q) > 0)


@pytest.mark.parametrize("c", [0.05, 0.3, 0.7])
@pytest.mark.parametrize("gamma", [1e-3, 0.5, 10.0, 1e3])
def test_tulino_verdu_matches_quadrature_of_the_density(c, gamma):
    a, b = marchenko_pastur_edges(c)
    ref = integrate.quad(lambda x: np.log1p(gamma * x) * marchenko_pastur_density(x, c), a, b,
                         epsabs=1e-14, epsrel=1e-12, limit=400)[0]
    assert marchenko_pastur_shannon(gamma, c) == pytest.approx(ref, rel=1e-9, abs=1e-13)


@pytest.mark.parametrize("c", RATIOS)
def test_tulino_verdu_matches_the_gauss_rule_up_to_c_equal_one(c):
    x, w = marchenko_pastur_quadrature(c, 512)
    gammas = np.array([1e-3, 0.1, 1.0, 30.0])
    ref = np.log1p(gammas[:, None] * x[None, :]) @ w
    np.testing.assert_allclose(marchenko_pastur_shannon(gammas, c), ref, rtol=1e-10)
    assert marchenko_pastur_shannon(0.0, c) == 0.0


def test_spectrum_averages_and_clips_roundoff():
    spec = Spectrum.from_eigenvalues([2.0, -1e-17, 1.0, 1.0])
    np.testing.assert_array_equal(spec.values, [0.0, 1.0, 1.0, 2.0])
    assert spec.mean == pytest.approx(1.0)
    h2 = np.array([0.5, 2.0])
    np.testing.assert_allclose(spec.average(lambda lam: np.log1p(lam / h2[:, None])),
                               [np.mean(np.log1p(np.array([0, 1, 1, 2]) / v)) for v in h2])


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
def test_bad_ratio_is_rejected(bad):
    with pytest.raises(ValueError, match="ratio must be in"):
        marchenko_pastur_quadrature(bad)
    with pytest.raises(ValueError, match="ratio must be in"):
        marchenko_pastur_shannon(1.0, bad)
    with pytest.raises(ValueError, match="ratio must be in"):
        marchenko_pastur_cdf(1.0, bad)
    with pytest.raises(ValueError, match="ratio must be in"):
        marchenko_pastur_quantile(0.5, bad)


def test_quantile_rejects_probabilities_outside_the_unit_interval():
    with pytest.raises(ValueError, match="u must be"):
        marchenko_pastur_quantile(1.5, 0.5)


@pytest.mark.parametrize("c", [0.05, 0.5, 1.0])
def test_closed_form_transforms_match_the_gauss_rule_from_tiny_to_huge_gamma(c):
    from diffmem.theory.spectra import marchenko_pastur_transforms

    x, w = marchenko_pastur_quadrature(c, 1024)
    gammas = np.array([1e-6, 1e-2, 1.0, 1e2]) if c == 1.0 else np.array([1e-6, 1e-2, 1.0, 1e2, 1e8, 1e14])
    v, q1, q2 = marchenko_pastur_transforms(gammas, c)
    gx = gammas[:, None] * x[None, :]
    np.testing.assert_allclose(v, np.log1p(gx) @ w, rtol=1e-11)
    np.testing.assert_allclose(q1, (gx / (1 + gx)) @ w, rtol=1e-11)
    np.testing.assert_allclose(q2, (gx * (2 + gx) / (1 + gx) ** 2) @ w, rtol=1e-11)
    # no overflow, no cancellation at the far end: V grows like log(gamma)
    assert np.isfinite(marchenko_pastur_transforms(1e300, c)[0])
