"""Basins of training points measured by probes: checked against brute force, a closed form for P = 2, the exact
fate of reverse trajectories and the large-N basin size."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import expit, logsumexp

import diffmem as dm
from diffmem import backend


def brute_force_weights(x, data, t):
    """Softmax over all patterns of -|x - e^{-t} a|^2 / (2 Delta_t), dense (the reference)."""
    d2 = ((x[:, None, :] - math.exp(-t) * data[None, :, :]) ** 2).sum(-1)
    logits = -d2 / (2 * dm.delta(t))
    return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))


def two_pattern_capture(data, t, s, order=201):
    """Exact capture probability of probes of pattern 0 when P = 2.

    With delta = a^0 - a^1 and xi . delta = |delta| z, z ~ N(0, 1), the weight of pattern 0 is
    expit((e^{-2t} |delta|^2 + 2 e^{-t} sqrt(s Delta) |delta| z) / (2 Delta)); average over z by Gauss-Hermite.
    """
    z, w = np.polynomial.hermite_e.hermegauss(order)
    w = w / w.sum()
    norm = float(np.linalg.norm(data[0] - data[1]))
    dlt = float(dm.delta(t))
    arg = (math.exp(-2 * t) * norm**2 + 2 * math.exp(-t) * math.sqrt(s * dlt) * norm * z) / (2 * dlt)
    return float(expit(arg) @ w)


@pytest.mark.parametrize("t", [0.01, 0.3, 2.0])
def test_pattern_weight_matches_the_dense_softmax(xp, t):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((60, 5))
    idx = rng.integers(0, 60, size=40)
    # queries near their own pattern (weights close to 1 at small t) and far from it
    x = np.concatenate([math.exp(-t) * data[idx[:20]] + 0.1 * rng.standard_normal((20, 5)),
                        rng.standard_normal((20, 5))])
    got = backend.to_numpy(dm.pattern_weight(xp.asarray(x), xp.asarray(data), xp.asarray(idx), t))
    ref = brute_force_weights(x, data, t)[np.arange(40), idx]
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-300)
    # one index for every query
    one = backend.to_numpy(dm.pattern_weight(xp.asarray(x), xp.asarray(data), 3, t))
    np.testing.assert_allclose(one, brute_force_weights(x, data, t)[:, 3], rtol=1e-10, atol=1e-300)


def test_a_weight_close_to_one_keeps_its_precision():
    # at x = e^{-t} a^0 with a distant second pattern, 1 - w is ~ e^{-50}: w must be 1 - tiny, never above 1
    data = np.array([[0.0, 0.0], [10.0, 0.0]])
    t = 0.5
    w = dm.pattern_weight(math.exp(-t) * data[:1], data, 0, t)
    d2 = (math.exp(-t) * 10.0) ** 2
    assert w[0] <= 1.0
    assert 1.0 - w[0] == pytest.approx(math.exp(-d2 / (2 * dm.delta(t))), rel=1e-6, abs=1e-16)


def test_probe_points_sit_at_the_requested_distance():
    data = dm.GaussianData(N=40).sample(30, seed=1)
    t, s = 0.4, 0.7
    x, idx = dm.probe_points(data, t, s, 2000, seed=2)
    assert x.shape == (2000, 40) and idx.shape == (2000,)
    d = ((x - math.exp(-t) * data[idx]) ** 2).sum(1) / (40 * dm.delta(t))
    # |xi|^2 / N has mean 1 and sd sqrt(2 / N) = 0.22 per probe: the mean of 2000 is within 4 * 0.005
    assert d.mean() == pytest.approx(s, abs=4 * s * math.sqrt(2 / 40 / 2000))
    x0, idx0 = dm.probe_points(data, t, 0.0, 5, index=7, seed=3)
    np.testing.assert_array_equal(idx0, 7)
    np.testing.assert_allclose(x0, np.broadcast_to(math.exp(-t) * data[7], (5, 40)), rtol=0, atol=0)


@pytest.mark.parametrize(("t", "s"), [(0.2, 0.5), (0.5, 2.0), (1.0, 0.0), (1.0, 4.0)])
def test_capture_probability_of_two_patterns_is_the_closed_form(xp, t, s):
    data = np.array([[0.5, -0.3, 0.2], [-0.4, 0.1, 0.6]])
    n = 20_000
    est = dm.capture_probability(xp.asarray(data), t, s, n=n, index=0, seed=4)
    exact = two_pattern_capture(data, t, s)
    assert est.n == n
    if s == 0.0:  # no randomness: the probes are the shrunk pattern itself
        assert est.value == pytest.approx(exact, rel=1e-12) and est.stderr == 0.0
    else:
        assert abs(est.value - exact) < 4 * est.stderr
        assert 0 < est.stderr < 0.5 / math.sqrt(n) + 1e-12


def test_several_training_sets_pool_their_probes():
    d1 = np.array([[0.5, -0.3, 0.2], [-0.4, 0.1, 0.6]])
    d2 = np.array([[1.5, 0.0, 0.0], [0.0, 0.0, 0.0]])
    t, s, n = 0.3, 1.0, 10_000
    est = dm.capture_probability([d1, d2], t, s, n=n, index=0, seed=15)
    exact = 0.5 * (two_pattern_capture(d1, t, s) + two_pattern_capture(d2, t, s))
    assert est.n == 2 * n
    assert abs(est.value - exact) < 4 * est.stderr
    with pytest.raises(ValueError, match="non-empty list"):
        dm.capture_probability([], t, s)


def test_an_array_of_distances_reuses_the_same_probes():
    data = dm.GaussianData(N=6).sample(40, seed=5)
    curve = dm.capture_probability(data, 0.4, [0.0, 0.5, 2.0], n=300, seed=6)
    single = dm.capture_probability(data, 0.4, 0.5, n=300, seed=6)
    assert curve.value.shape == (3,) and curve.stderr.shape == (3,) and curve.n == 300
    assert curve.value[1] == single.value and curve.stderr[1] == single.stderr
    assert curve.value[0] > curve.value[1] > curve.value[2]


@pytest.mark.parametrize("t", [0.2, 0.4])
def test_basin_edge_of_two_patterns_is_the_root_of_the_closed_form(t):
    # with two patterns a probe is always captured with probability > 1/2, so use the level 3/4
    data = np.array([[1.0, 0.0, 0.0, 0.0], [-1.0, 0.5, 0.0, 0.0]])
    level = 0.75
    exact = brentq(lambda s: two_pattern_capture(data, t, s) - level, 1e-9, 1e3, xtol=1e-12)
    est = dm.basin_edge(data, t, n=5_000, index=0, seed=7, level=level, rtol=0.005)
    assert est.n == 5_000 and est.stderr > 0
    assert abs(est.value - exact) < 4 * est.stderr + 0.005 * exact


def test_the_standard_error_of_the_basin_edge_is_its_spread_over_probe_draws():
    # 30 independent probe sets on one dataset: the sd of the 30 edges is known to ~13% (1 / sqrt(2 * 29)), so the
    # ratio to the mean delta-method error must lie in [0.6, 1.5] (about 3 sigma)
    data = dm.GaussianData(N=16).sample(122, seed=3)
    est = [dm.basin_edge(data, 0.5, n=200, seed=100 + k, guess=0.6) for k in range(30)]
    spread = np.std([e.value for e in est], ddof=1)
    assert 0.6 < spread / np.mean([e.stderr for e in est]) < 1.5


def test_no_basin_when_the_training_point_itself_is_not_captured():
    data = np.array([[1.0, 0.0], [-1.0, 0.0]])
    t = 1.5  # weight at s = 0: expit(e^{-2t} |delta|^2 / (2 Delta)) = 0.525 < 3/4
    assert two_pattern_capture(data, t, 0.0) < 0.75
    est = dm.basin_edge(data, t, n=100, index=0, seed=8, level=0.75)
    assert est == (0.0, 0.0, 100)


def test_trajectories_started_at_probes_end_on_their_pattern_with_the_capture_probability():
    # the exact fate of THEORY.md section 2, dynamically: one exact ancestral step from t down to t_min
    data = dm.GaussianData(N=8).sample(25, seed=9)
    t, s, n = 0.5, 1.0, 4000
    x, idx = dm.probe_points(data, t, s, n, seed=10)
    end = dm.sample_reverse(data, n, [1e-3], t_max=t, start=x, seed=11)
    captured = float(np.mean(dm.nearest_index(end, data, [1e-3])[0] == idx))
    static = dm.capture_probability(data, t, s, n=n, seed=12)
    # two independent estimates of the same probability: binomial sd <= sqrt(0.25 / n), plus the static one
    assert abs(captured - static.value) < 4 * math.hypot(math.sqrt(0.25 / n), static.stderr)
    assert 0.1 < static.value < 0.9  # the test is not trivial
    packaged = dm.trajectory_capture(data, t, s, n=n, seed=13)
    assert packaged.n == n and packaged.stderr == pytest.approx(math.sqrt(packaged.value * (1 - packaged.value) / n))
    assert abs(packaged.value - static.value) < 4 * math.hypot(packaged.stderr, static.stderr)


def test_basin_edge_approaches_the_large_N_basin_size_above_the_collapse_time():
    # non-condensed side: O(1/N) corrections; at N = 24 (P = 1339) the edge is within ~10% (measured 0.645 vs 0.616)
    N, alpha, t = 24, 0.3, 0.5
    gauss = dm.GaussianData()
    assert dm.collapse_time(alpha, gauss) < t < dm.onset_time(alpha, gauss)
    data = dm.GaussianData(N).sample(int(round(math.exp(alpha * N))), seed=13)
    theory = dm.basin_size(t, alpha, gauss)
    est = dm.basin_edge(data, t, n=256, seed=14, guess=theory)
    assert abs(est.value / theory - 1) < 0.15
    assert est.stderr < 0.1 * theory


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda d: dm.capture_probability(d, 0.5, -0.1), "s must be finite and >= 0"),
        (lambda d: dm.capture_probability(d, 0.5, [[1.0]]), "s must be a scalar or a non-empty 1-D"),
        (lambda d: dm.capture_probability(d, 0.0, 1.0), "t must be finite and > 0"),
        (lambda d: dm.capture_probability(d, 0.5, 1.0, n=1), "n \\(number of probes\\) must be an integer >= 2"),
        (lambda d: dm.capture_probability(d, 0.5, 1.0, index=10), "index must be in \\[0, P=10\\)"),
        (lambda d: dm.probe_points(d, 0.5, 1.0, 3, index=np.array([0, 1])), "index must be None, an int or"),
        (lambda d: dm.probe_points(d, 0.5, [1.0, 2.0], 3), "s must be a scalar here"),
        (lambda d: dm.basin_edge(d, 0.5, guess=0.0), "guess must be a finite number > 0"),
        (lambda d: dm.basin_edge(d, 0.5, rtol=1.0), "rtol must be a number in \\(0, 1\\)"),
        (lambda d: dm.basin_edge(d, 0.5, level=0.0), "level must be a number in \\(0, 1\\)"),
        (lambda d: dm.trajectory_capture(d, 0.5, 1.0, t_min=0.5), "t_min must be < t"),
        (lambda d: dm.pattern_weight(d[:2], d, None, 0.5), "index must be an int or an \\(M,\\) int array"),
        (lambda d: dm.pattern_weight(d[:2, :2], d, 0, 0.5), "x must have shape \\(M, N\\) with N = 3"),
    ],
)
def test_bad_arguments_are_rejected_with_their_name(call, match):
    data = dm.GaussianData(N=3).sample(10, seed=0)
    with pytest.raises(ValueError, match=match):
        call(data)
