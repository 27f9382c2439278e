"""Tests of diffmem.sim.crossover: the midpoint estimator and the exact finite-N Gaussian collapse fraction."""

import math

import numpy as np
import pytest
from scipy.special import expit, ndtr

import diffmem as dm


# ------------------------------------------------------------------------------------------------ midpoint
def test_midpoint_of_a_curve_linear_in_log_t_is_exact():
    t = np.geomspace(0.1, 1.0, 9)
    value = 0.5 - 0.3 * np.log(t / 0.37)  # crosses 1/2 at t = 0.37 exactly
    est = dm.crossover_midpoint(t, value, np.full(t.size, 0.01))
    assert est.value == pytest.approx(0.37, rel=1e-12)
    assert est.n >= 2 and 0 < est.stderr < 0.01


def test_midpoint_of_a_logistic_on_an_asymmetric_grid():
    t = np.geomspace(0.05, 3.0, 17) * 1.07  # the midpoint 0.5 is not a grid point
    value = expit(-4.0 * np.log(t / 0.5))
    est = dm.crossover_midpoint(t, value, np.full(t.size, 1e-3))
    assert est.value == pytest.approx(0.5, rel=0.01)


def test_midpoint_error_bars_are_calibrated():
    # binomial noise on a logistic curve: the spread of the estimates matches the reported standard errors
    rng = np.random.default_rng(0)
    t = np.geomspace(0.2, 2.0, 12)
    p = expit(-3.0 * np.log(t / 0.6))
    n = 2000
    est = []
    for _ in range(300):
        v = rng.binomial(n, p) / n
        e = np.sqrt(np.maximum(v * (1 - v), 0.25 / n) / n)
        est.append(dm.crossover_midpoint(t, v, e))
    values = np.array([e.value for e in est])
    errors = np.array([e.stderr for e in est])
    assert abs(values.mean() / 0.6 - 1) < 0.01
    assert 0.8 < values.std() / errors.mean() < 1.25


def test_midpoint_rejects_curves_without_a_crossing():
    t = np.geomspace(0.1, 1.0, 5)
    with pytest.raises(ValueError, match="never crosses"):
        dm.crossover_midpoint(t, np.full(5, 0.9), np.full(5, 0.01))
    with pytest.raises(ValueError, match="level"):
        dm.crossover_midpoint(t, np.linspace(1, 0, 5), np.full(5, 0.01), level=1.5)
    with pytest.raises(ValueError, match="forward time"):
        dm.crossover_midpoint(-t, np.linspace(1, 0, 5), np.full(5, 0.01))


# ------------------------------------------------------------------------------------- exact Gaussian crossover
def _brute_force(N, alpha, t, n_data=30, n_x=200):
    """Collapse fraction averaged over datasets, with its standard error (the streaming engine)."""
    P = int(round(math.exp(alpha * N)))
    vals = []
    for d in range(n_data):
        data = dm.GaussianData(N).sample(P, seed=500 + d, xp=np)
        x = dm.sample_marginal(data, t, n_x, seed=900 + d)
        vals.append(dm.collapse_fraction(x, data, t).value)
    vals = np.array(vals)
    return vals.mean(), vals.std(ddof=1) / math.sqrt(n_data)


@pytest.mark.parametrize(("N", "top"), [(8, 64), (24, 16)])  # every pattern drawn; the Gamma bulk beyond 16
def test_exact_crossover_agrees_with_the_streaming_engine(N, top):
    alpha = 0.25
    t_c = dm.collapse_time(alpha, dm.GaussianData())
    for r in (0.8, 1.3, 2.0):
        exact = dm.gaussian_collapse_fraction(r * t_c, N, alpha, n_samples=6000, top=top, seed=1)
        mean, err = _brute_force(N, alpha, r * t_c)
        assert abs(exact.value - mean) < 4 * math.hypot(err, exact.stderr) + 0.005, (N, r, exact, mean, err)


def test_exact_crossover_limits_and_one_pattern():
    early = dm.gaussian_collapse_fraction(1e-3, 16, 0.2, n_samples=1000, seed=0)
    late = dm.gaussian_collapse_fraction(5.0, 16, 0.2, n_samples=1000, seed=0)
    assert early.value == 1.0 and late.value < 0.01
    # alpha N = 0.08: P = 1 pattern, which always holds the whole weight
    single = dm.gaussian_collapse_fraction([0.1, 1.0, 3.0], 8, 0.01, n_samples=200, seed=0)
    np.testing.assert_array_equal(single.value, 1.0)


def test_exact_crossover_does_not_depend_on_the_number_of_explicit_patterns():
    alpha, N = 0.2, 64
    t = dm.collapse_time(alpha, dm.GaussianData()) * np.array([1.0, 1.3])
    a = dm.gaussian_collapse_fraction(t, N, alpha, n_samples=8000, top=16, seed=3)
    b = dm.gaussian_collapse_fraction(t, N, alpha, n_samples=8000, top=512, seed=4)
    assert np.all(np.abs(a.value - b.value) < 4 * np.hypot(a.stderr, b.stderr))


def test_exact_crossover_approaches_the_leading_order_scaling_at_large_N():
    # N = 4096, P = e^{819}: P(w_max > 1/2) -> Phi(-sqrt(N) e^t (alpha - i(t))), shifted by O(log N / N) only
    alpha, N = 0.2, 4096
    t_c = dm.collapse_time(alpha, dm.GaussianData())
    t = t_c * np.exp(np.array([-1.0, 0.0, 1.0]) / math.sqrt(N))
    exact = dm.gaussian_collapse_fraction(t, N, alpha, n_samples=4000, seed=2)
    sigma = alpha - dm.mutual_information(t, dm.GaussianData())
    leading = ndtr(-math.sqrt(N) * np.exp(t) * sigma)
    assert np.all(np.abs(exact.value - leading) < 0.06)
    assert exact.value[0] > exact.value[1] > exact.value[2]


def test_exact_crossover_validates_its_inputs():
    with pytest.raises(ValueError, match="alpha"):
        dm.gaussian_collapse_fraction(0.5, 8, -0.1)
    with pytest.raises(ValueError, match="N"):
        dm.gaussian_collapse_fraction(0.5, 0, 0.2)
    with pytest.raises(ValueError, match="forward time"):
        dm.gaussian_collapse_fraction(0.0, 8, 0.2)


def test_exact_crossover_does_not_depend_on_the_quadrature_in_R():
    alpha, N = 0.2, 512
    t = dm.collapse_time(alpha, dm.GaussianData()) * np.exp(np.array([-1.0, 1.0]) / math.sqrt(N))
    a = dm.gaussian_collapse_fraction(t, N, alpha, n_samples=8000, n_nodes=8, seed=5)
    b = dm.gaussian_collapse_fraction(t, N, alpha, n_samples=8000, n_nodes=24, seed=6)
    assert np.all(np.abs(a.value - b.value) < 4 * np.hypot(a.stderr, b.stderr))


def test_collapse_curve_is_the_collapse_fraction_at_each_time():
    data = dm.GaussianData(6).sample(150, seed=21)
    t = np.array([0.05, 0.3, 1.0])
    curve = dm.collapse_curve(data, t, n=400, seed=22)
    rng = np.random.default_rng(22)
    for k, tk in enumerate(t):  # the same draws, one time after the other
        ref = dm.collapse_fraction(dm.sample_marginal(data, tk, 400, seed=rng), data, tk)
        assert curve.value[k] == ref.value and curve.stderr[k] == pytest.approx(ref.stderr, rel=1e-12)
    assert curve.n == 400 and curve.value[0] > 0.8 > 0.1 > curve.value[-1]
    # given states (e.g. reverse trajectories) are used as they are
    states = np.stack([dm.sample_marginal(data, tk, 50, seed=k) for k, tk in enumerate(t)])
    on_states = dm.collapse_curve(data, t, states=states)
    np.testing.assert_array_equal(on_states.value, [dm.collapse_fraction(states[k], data, tk).value
                                                    for k, tk in enumerate(t)])


def test_collapse_curve_averages_datasets_with_the_larger_of_spread_and_binomial_error():
    sets = [dm.GaussianData(6).sample(150, seed=s) for s in (31, 32, 33)]
    t = np.array([0.1, 0.4])
    avg = dm.collapse_curve(sets, t, n=200, seed=34)
    rng = np.random.default_rng(34)
    per = np.array([[dm.collapse_fraction(dm.sample_marginal(d, tk, 200, seed=rng), d, tk).value for tk in t]
                    for d in sets])
    np.testing.assert_allclose(avg.value, per.mean(axis=0), rtol=1e-14)
    binomial = np.sqrt(np.maximum(avg.value * (1 - avg.value), 0.25 / 600) / 600)
    spread = per.std(axis=0, ddof=1) / np.sqrt(3)
    np.testing.assert_allclose(avg.stderr, np.maximum(binomial, spread), rtol=1e-12)
    assert avg.n == 600


@pytest.mark.parametrize(("kwargs", "match"), [
    ({}, "give exactly one of n"),
    ({"n": 5, "states": np.zeros((2, 5, 3))}, "give exactly one of n"),
    ({"states": np.zeros((3, 5, 3))}, r"states must have shape \(T, n, N\) with T = 2"),
    ({"states": [np.zeros((2, 5, 3))] * 2}, r"states must hold one \(T, n, N\) array per dataset \(1\), got 2"),
    ({"n": 0}, "n must be a positive integer"),
])
def test_collapse_curve_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dm.collapse_curve(np.zeros((4, 3)), [0.1, 0.2], **kwargs)
