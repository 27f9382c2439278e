import math

import numpy as np
import pytest

import diffmem as dm


def test_collapse_fraction_limits():
    data = dm.GaussianData(N=10).sample(500, seed=0)
    early = dm.sample_marginal(data, 1e-3, 400, seed=1)
    late = dm.sample_marginal(data, 3.0, 400, seed=2)
    assert dm.collapse_fraction(early, data, 1e-3).value == 1.0
    est = dm.collapse_fraction(late, data, 3.0)
    assert est.value == 0.0 and est.n == 400 and 0 < est.stderr < 0.03
    assert dm.participation_ratio(late, data, 3.0).value < 0.05
    assert dm.participation_ratio(early, data, 1e-3).value == pytest.approx(1.0, abs=1e-12)


def test_participation_ratio_of_equidistant_patterns_is_one_over_P():
    # a query at the origin, patterns on a sphere: all weights equal, sum w^2 = 1/P exactly
    P = 8
    angles = 2 * np.pi * np.arange(P) / P
    data = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    est = dm.participation_ratio(np.zeros((1, 2)), data, 0.3)
    assert est.value == pytest.approx(1 / P, rel=1e-12)


def test_stabilization_time_on_hand_made_trajectories():
    data = np.array([[-10.0], [0.0], [10.0]])
    times = np.array([2.0, 1.0, 0.5, 0.1])  # decreasing, as the reverse process visits them
    # nearest pattern to e^t x along each of 3 trajectories (columns), built by placing x at e^{-t} a
    paths = np.array([[0, 2, 1, 1], [1, 1, 1, 1], [2, 0, 2, 0]])
    states = np.stack([np.exp(-t) * data[paths[:, k]] for k, t in enumerate(times)])
    np.testing.assert_array_equal(dm.nearest_index(states, data, times), paths.T)
    np.testing.assert_array_equal(dm.stabilization_time(states, data, times), [0.5, 2.0, 0.1])
    # the order of the records does not matter
    perm = [2, 0, 3, 1]
    np.testing.assert_array_equal(dm.stabilization_time(states[perm], data, times[perm]), [0.5, 2.0, 0.1])


def test_cross_entropy_of_a_single_gaussian_kernel_is_exact():
    rng = np.random.default_rng(3)
    N = 6
    a = rng.standard_normal((1, N))
    y = rng.standard_normal((1000, N))
    t = np.array([0.1, 0.5, 2.0])
    h2 = np.expm1(2 * t)
    exact = [np.mean(0.5 * ((y - a) ** 2).sum(1) / v + 0.5 * N * math.log(2 * math.pi * v)) / N for v in h2]
    est = dm.test_cross_entropy(y, a, t)
    np.testing.assert_allclose(est.value, exact, rtol=1e-12)
    assert est.value.shape == (3,) and np.all(est.stderr > 0)
    scalar = dm.test_cross_entropy(y, a, 0.5)
    assert scalar.value == pytest.approx(exact[1], rel=1e-12)


def test_excess_entropy_is_zero_for_one_pattern():
    a = np.zeros((1, 8))
    est = dm.excess_entropy(a, 0.5, n=20_000, seed=4)
    # -(1/N) log N(x; a, Delta) = 1/2 log(2 pi Delta) + |xi|^2 / (2N): mean 1/2 log(2 pi e Delta), sd sqrt(1/(2N n))
    assert abs(est.value) < 5 * math.sqrt(1 / (2 * 8 * 20_000))
    assert est.stderr == pytest.approx(math.sqrt(1 / (2 * 8 * 20_000)), rel=0.05)


def test_excess_entropy_of_well_mixed_gaussian_data_is_I_over_N_minus_alpha():
    # for P >> 1 and large t the kernel density is the data law N(0, I) at h^2 = e^3 - 1 = 19, where the
    # kernel-estimate bias is ~ N / (2 P h^2) per dimension ~ 1e-5; then excess = -1/2 log Delta - log P / N
    N, P, t = 5, 20_000, 1.5
    data = dm.GaussianData(N=N).sample(P, seed=5)
    est = dm.excess_entropy(data, t, n=8000, seed=6)
    expected = -0.5 * math.log(dm.delta(t)) - math.log(P) / N
    assert abs(est.value - expected) < 4 * est.stderr + 0.01
    # and it approaches 0 from below in the collapsed phase
    collapsed = dm.excess_entropy(data, 1e-3, n=500, seed=7)
    assert -0.01 < collapsed.value <= 1e-12


def test_excess_entropy_vectorised_in_time():
    data = dm.GaussianData(N=4).sample(50, seed=8)
    est = dm.excess_entropy(data, [0.01, 0.3, 1.0], n=200, seed=9)
    assert est.value.shape == (3,)
    assert np.all(np.diff(est.value) < 0)  # more overlap, more negative


@pytest.mark.parametrize(("call", "match"), [
    (lambda d: dm.collapse_fraction(np.zeros((2, 2)), d, 0.1, threshold=1.5), "threshold must be in"),
    (lambda d: dm.excess_entropy(d, 0.1, n=1), "n .* must be an integer >= 2"),
    (lambda d: dm.stabilization_time(np.zeros((2, 3, 2)), d, [0.1]), "states must have shape"),
    (lambda d: dm.test_cross_entropy(np.zeros(2), d, 0.1), "test_points must be a 2-D array"),
    (lambda d: dm.excess_entropy(d, -1.0), "t must be finite and > 0"),
])
def test_bad_diagnostic_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call(np.zeros((3, 2)))
