import math

import numpy as np
import pytest

import diffmem as dm
from diffmem import backend


def test_direct_samples_have_the_marginal_moments():
    a = np.array([[3.0, -1.0, 0.5]])
    t = 0.7
    x = dm.sample_marginal(a, t, 200_000, seed=0)
    # mean error ~ sqrt(Delta / n) ~ 2e-3, variance relative error ~ sqrt(2 / n) ~ 3e-3
    np.testing.assert_allclose(x.mean(0), math.exp(-t) * a[0], atol=0.01)
    np.testing.assert_allclose(x.var(0), dm.delta(t), rtol=0.015)


def test_samples_are_reproducible_and_record_the_requested_times_in_order():
    data = dm.GaussianData(N=4).sample(20, seed=1)
    times = [0.5, 2.0, 0.05]
    for method in dm.METHODS:
        a = dm.sample_reverse(data, 7, times, method=method, steps=30, seed=3)
        b = dm.sample_reverse(data, 7, times, method=method, steps=30, seed=3)
        assert a.shape == (3, 7, 4)
        np.testing.assert_array_equal(a, b)
        assert np.all(np.isfinite(a))
    # the recorded state at t_max is the exact start
    start = dm.sample_reverse(data, 5, [5.0], seed=4)
    assert start.shape == (1, 5, 4)


@pytest.fixture(scope="module")
def gaussian_problem():
    # N = 12, P = e^{0.35 N} ~ 67: t_c = 0.343 for N -> infinity; the crossover sits near 1.2 t_c at this size
    N, alpha = 12, 0.35
    P = int(round(math.exp(alpha * N)))
    data = dm.GaussianData(N=N).sample(P, seed=5)
    times = np.array([1.0, 0.6, 0.4, 0.25, 0.12])
    return data, times


def collapse_curve(states, data, times):
    return np.array([dm.collapse_fraction(states[k], data, t).value for k, t in enumerate(times)])


def test_ancestral_trajectories_have_the_direct_marginals(gaussian_problem):
    data, times = gaussian_problem
    n = 3000
    traj = dm.sample_reverse(data, n, times, method="ancestral", seed=6)
    direct = np.stack([dm.sample_marginal(data, t, n, seed=10 + k) for k, t in enumerate(times)])
    diff = collapse_curve(traj, data, times) - collapse_curve(direct, data, times)
    # two independent binomial fractions of n = 3000: sd of the difference <= sqrt(2 * 0.25 / n) = 0.013
    assert np.abs(diff).max() < 4 * math.sqrt(0.5 / n)


def test_euler_maruyama_with_200_steps_agrees_with_the_exact_sampler(gaussian_problem):
    data, times = gaussian_problem
    n = 3000
    exact = collapse_curve(dm.sample_reverse(data, n, times, method="ancestral", seed=7), data, times)
    em200 = collapse_curve(dm.sample_reverse(data, n, times, method="sde", steps=200, seed=8), data, times)
    em10 = collapse_curve(dm.sample_reverse(data, n, times, method="sde", steps=10, seed=9), data, times)
    noise = 3 * math.sqrt(0.5 / n)  # 3 sd of a difference of two binomial fractions
    # THEORY.md section 8: K = 200 log-spaced steps agree within ~0.03 on collapse statistics
    assert np.abs(em200 - exact).max() < 0.03 + noise
    # ...and a coarse grid visibly lags: the test can fail in both directions
    assert np.abs(em10 - exact).max() > np.abs(em200 - exact).max() + noise


def test_probability_flow_ode_preserves_the_marginals(gaussian_problem):
    data, times = gaussian_problem
    n = 2000
    ode = collapse_curve(dm.sample_reverse(data, n, times, method="ode", steps=200, seed=11), data, times)
    direct = np.array([dm.collapse_fraction(dm.sample_marginal(data, t, n, seed=20 + k), data, t).value
                       for k, t in enumerate(times)])
    assert np.abs(ode - direct).max() < 0.03 + 3 * math.sqrt(0.5 / n)


def test_trajectories_end_on_training_points():
    data = dm.GaussianData(N=3).sample(10, seed=12)
    final = dm.sample_reverse(data, 50, [1e-4], method="ancestral", seed=13)[0]
    st = dm.posterior_stats(final, data, 1e-4)
    # at t = 1e-4 a sample sits within sqrt(N Delta) ~ 0.025 of its pattern: collapsed
    assert np.all(st.w_max > 0.999)
    assert np.sqrt(st.d_nearest).max() < 0.1


@pytest.mark.parametrize("method", ["ancestral", "sde"])
def test_trajectories_from_a_given_start_end_on_each_pattern_with_its_posterior_weight(method):
    # THEORY.md section 2: w_mu(x, t) = P(x_0 = a^mu | x_t = x) for the empirical reverse process
    data = np.array([[1.0, 0.0], [-0.5, 0.8], [-0.4, -0.9]])
    t, n = 0.6, 4000
    x = np.array([0.3, 0.1])
    logits = -((x - np.exp(-t) * data) ** 2).sum(axis=1) / (2 * dm.delta(t))
    w = np.exp(logits - logits.max())
    w /= w.sum()
    start = np.tile(x, (n, 1))
    final = dm.sample_reverse(data, n, [1e-3], method=method, steps=400, t_max=t, seed=16, start=start)[0]
    freq = np.bincount(dm.nearest_index(final[None], data, [1e-3])[0], minlength=3) / n
    # binomial standard error <= 0.008; Euler-Maruyama with 400 steps adds a bias well below that
    assert np.all(np.abs(freq - w) < 4 * np.sqrt(w * (1 - w) / n) + (0.01 if method == "sde" else 0.0))
    assert np.array_equal(start, np.tile(x, (n, 1)))  # the caller's array is not modified


def test_reverse_sampler_runs_on_every_backend(xp):
    data = xp.asarray(dm.GaussianData(N=3).sample(10, seed=14))
    out = dm.sample_reverse(data, 20, [0.5, 0.1], method="sde", steps=20, seed=15)
    assert backend.get_array_module(out) is xp and out.shape == (2, 20, 3)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"method": "euler"}, "method must be one of"),
    ({"times": [6.0]}, "times must be <= t_max"),
    ({"times": [0.0]}, "times must be finite and > 0"),
    ({"n": 0}, "n must be a positive integer"),
    ({"steps": 0}, "steps must be a positive integer"),
    ({"start": np.zeros((3, 2))}, r"start must have shape \(n, N\) = \(2, 2\)"),
    ({"start": np.full((2, 2), np.nan)}, "start contains NaN or inf"),
])
def test_bad_sampler_arguments(kwargs, match):
    data = np.zeros((3, 2))
    args = {"n": 2, "times": [0.5], **kwargs}
    with pytest.raises(ValueError, match=match):
        dm.sample_reverse(data, **args)
