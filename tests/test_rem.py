"""The generic REM solver and Derrida's REM (chapter "The random energy model", THEORY.md section 3)."""

import math

import numpy as np
import pytest
from scipy.special import logsumexp

from diffmem.theory.rem import (
    DerridaREM,
    condensation_point,
    find_root,
    minimal_distance,
    quenched_log_partition,
    saddle_entropy,
)


def test_find_root_is_vectorised_and_checks_the_bracket():
    targets = np.array([1e-6, 1.0, 8.0, 1e6])
    root = find_root(lambda x: x**3 - targets, 0.0, 200.0)
    np.testing.assert_allclose(root**3, targets, rtol=1e-12)
    # decreasing functions and parameters of a larger shape than the bracket
    np.testing.assert_allclose(find_root(lambda x: np.exp(-x) - targets[:2], -50.0, 50.0),
                               -np.log(targets[:2]), rtol=1e-13, atol=1e-13)
    with pytest.raises(ValueError, match="same sign"):
        find_root(lambda x: x**2 + 1.0, -1.0, 1.0)


@pytest.mark.parametrize("alpha, J", [(math.log(2.0), 1.0), (0.3, 1.0), (math.log(2.0), math.sqrt(2.0)), (2.0, 0.5)])
def test_generic_solver_reproduces_derrida(alpha, J):
    rem = DerridaREM(alpha, J)
    theta_star = condensation_point(alpha, rem.phi, rem.dphi)
    assert 1.0 / theta_star == pytest.approx(rem.critical_temperature, rel=1e-12)
    assert minimal_distance(alpha, rem.phi, rem.dphi) == pytest.approx(-rem.e0, rel=1e-12)  # d_min = e_min
    beta = np.array([0.3, 0.9, 1.5, 3.0, 10.0]) * theta_star
    # Sigma(beta) = alpha - beta^2 J^2 / 4, and -f/T = (1/N) log Z on both sides of T_c
    np.testing.assert_allclose(saddle_entropy(beta, alpha, rem.phi, rem.dphi), alpha - beta**2 * J**2 / 4)
    np.testing.assert_allclose(quenched_log_partition(beta, alpha, rem.phi, rem.dphi),
                               -beta * rem.free_energy(1.0 / beta), rtol=1e-12)
    np.testing.assert_allclose(rem.canonical_entropy(1.0 / beta), np.clip(saddle_entropy(
        beta, alpha, rem.phi, rem.dphi), 0.0, None), atol=1e-12)


def test_textbook_critical_temperature_and_convention():
    # 2^N levels, variance N J^2 / 2 (Derrida 1981): T_c = J / (2 sqrt(ln 2)); variance N (J = sqrt 2): 1/sqrt(2 ln 2)
    assert DerridaREM().critical_temperature == pytest.approx(1.0 / (2.0 * math.sqrt(math.log(2.0))))
    assert DerridaREM(J=math.sqrt(2.0)).critical_temperature == pytest.approx(1.0 / math.sqrt(2.0 * math.log(2.0)))
    assert np.var(DerridaREM().sample_energies(10, seed=0, n_samples=200)) == pytest.approx(5.0, rel=0.02)


def test_entropy_curve_and_free_energy_are_consistent():
    rem = DerridaREM()
    e = np.linspace(-rem.e0, rem.e0, 101)
    s = rem.entropy(e)
    assert s.max() == pytest.approx(rem.alpha) and s[0] == pytest.approx(0.0, abs=1e-15)
    assert np.isneginf(rem.entropy(1.01 * rem.e0))
    T = np.linspace(0.2, 3.0, 57)
    # Legendre transform: f = e - T s(e) at the canonical energy, and f is continuous (with its slope) at T_c
    np.testing.assert_allclose(rem.free_energy(T), rem.energy(T) - T * rem.canonical_entropy(T), atol=1e-12)
    tc = rem.critical_temperature
    assert rem.free_energy(tc * (1 + 1e-9)) == pytest.approx(rem.free_energy(tc * (1 - 1e-9)), abs=1e-8)
    np.testing.assert_allclose(rem.participation_ratio([0.25 * tc, 0.5 * tc, tc, 2 * tc]), [0.75, 0.5, 0.0, 0.0])


def test_sampled_rem_matches_free_energy_and_participation():
    rem, N, n = DerridaREM(), 12, 2000
    E = rem.sample_energies(N, seed=11, n_samples=n)
    T_hot = 2.0 * rem.critical_temperature
    log_z = logsumexp(-E / T_hot, axis=1)
    # hot side: self-averaging with O(1/N) corrections (measured 3e-4 at N = 12)
    assert np.mean(-T_hot * log_z / N) == pytest.approx(float(rem.free_energy(T_hot)), abs=0.005)
    # the frozen side converges like log(N)/N: compare with the Gumbel law of the lowest of M = 2^N levels,
    # E min = -sigma (L - (ln ln M + ln 4 pi)/(2L) + gamma/L), L = sqrt(2 ln M), plus O(T/N) thermal terms
    M, sigma = 2.0**N, math.sqrt(N / 2.0)
    L = math.sqrt(2.0 * math.log(M))
    e_min = -sigma / N * (L - (math.log(math.log(M)) + math.log(4.0 * math.pi)) / (2.0 * L) + np.euler_gamma / L)
    for f in (0.25, 0.5):
        T = f * rem.critical_temperature
        log_w = -E / T
        log_z = logsumexp(log_w, axis=1)
        assert np.mean(-T * log_z / N) == pytest.approx(e_min, abs=0.015)
        # Poisson-Dirichlet(m = T/T_c): E sum w^2 = 1 - m. Stderr 0.006 over 2000 instances; the effective m is
        # shifted by O(1/ln M) at finite N (measured +0.05 at N = 12, 14), hence 0.08.
        w = np.exp(log_w - log_z[:, None])
        assert np.mean(np.sum(w**2, axis=1)) == pytest.approx(float(rem.participation_ratio(T)), abs=0.08)


def test_never_condensing_rem_and_validation():
    # all distances equal (phi = -theta d0): Sigma = alpha at every theta, no condensation
    theta = condensation_point(0.5, lambda th: -0.7 * th, lambda th: np.full_like(th, -0.7))
    assert np.isinf(theta)
    rem = DerridaREM()
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="alpha"):
            condensation_point(bad, rem.phi, rem.dphi)
    with pytest.raises(ValueError, match="J"):
        DerridaREM(J=0.0)
    with pytest.raises(ValueError, match="T"):
        rem.free_energy(0.0)
    with pytest.raises(ValueError, match="N"):
        rem.sample_energies(0)
