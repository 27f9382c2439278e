import math

import numpy as np
import pytest

import diffmem as dm
from diffmem import backend


def test_excess_entropy_is_the_mean_log_weight_of_the_own_pattern():
    # per sample: -log P^e_t(x)/N - (log P/N + log(2 pi e Delta)/2) = log w_own(x)/N + (|xi|^2/N - 1)/2, exactly
    rng = np.random.default_rng(0)
    data = rng.standard_normal((300, 10)) * 0.8 + 0.3
    N = data.shape[1]
    for t in (0.05, 0.4, 1.5):
        x, mu = dm.sample_marginal(data, t, 500, seed=1, return_index=True)
        xi2 = (((x - math.exp(-t) * data[mu]) ** 2).sum(1)) / dm.delta(t)
        per_sample = (-dm.empirical_log_density(x, data, t) / N
                      - (math.log(300) / N + 0.5 * math.log(2 * math.pi * math.e * dm.delta(t))))
        own = np.log(dm.pattern_weight(x, data, mu, t)) / N + 0.5 * (xi2 / N - 1.0)
        np.testing.assert_allclose(per_sample, own, rtol=0, atol=1e-12)
        # and the meter's Monte Carlo average is the mean of exactly these samples
        f = dm.excess_entropy(data, t, n=500, seed=1)
        assert f.value == pytest.approx(float(per_sample.mean()), abs=1e-12)
        assert f.value <= 0.5 * float(xi2.mean() / N - 1.0) + 1e-12  # log w_own <= 0


CASES = [  # (model, N, alpha): isotropic Gaussian data and a linear hidden manifold, t_c known from theory
    ("gaussian", 24, 0.35),
    ("manifold", 24, 0.3),
]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "N", "alpha"), CASES)
def test_meter_brackets_and_recovers_the_known_collapse_time(kind, N, alpha):
    model = dm.GaussianData(N=N) if kind == "gaussian" else dm.HiddenManifold(N=N, alpha_D=0.5, seed=3)
    data = model.sample(int(round(math.exp(alpha * N))), seed=4)
    t_c = dm.collapse_time(alpha, model)
    est = dm.estimate_collapse_time(data, n=1024, n_trajectories=256, seed=5)
    s, f = est.entropy, est.freeze
    # the two finite-N crossovers sit on either side of t_c (within two standard errors each)
    assert s.value - 2 * s.stderr < t_c < f.value + 2 * f.stderr
    assert s.value < f.value
    # and the log-centre is within its stated uncertainty of t_c
    assert abs(est.value - t_c) <= est.uncertainty
    assert est.uncertainty < 0.25 * est.value
    assert est.t.shape == est.excess.value.shape and est.freeze_times.shape == (256,)


def test_duplicated_points_never_collapse_and_the_meter_says_so():
    data = np.repeat(np.random.default_rng(6).standard_normal((1, 5)), 40, axis=0)
    with pytest.raises(ValueError, match="never collapse within span"):
        dm.estimate_collapse_time(data, n=64, n_trajectories=16, seed=7)


def test_too_short_a_span_is_reported():
    data = np.random.default_rng(8).standard_normal((50, 6)) * 5.0
    with pytest.raises(ValueError, match="raise span"):
        dm.estimate_collapse_time(data, n=64, n_trajectories=16, span=(1e-4, 2e-4), seed=9)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"span": (1.0, 0.5)}, "span must be"),
    ({"span": (0.1, 0.2, 0.3)}, "span must be"),
    ({"n": 4}, "n \\(Monte Carlo samples\\) must be an integer >= 16"),
    ({"n_trajectories": 0}, "n_trajectories must be an integer >= 16"),
    ({"points": 2}, "points must be an integer >= 6"),
    ({"records": 3}, "records must be an integer >= 10"),
    ({"seed": "x"}, "seed must be"),
])
def test_bad_arguments_name_themselves(kwargs, match):
    data = np.random.default_rng(10).standard_normal((30, 4))
    with pytest.raises((ValueError, TypeError), match=match):
        dm.estimate_collapse_time(data, **kwargs)


def test_one_point_cannot_collapse():
    with pytest.raises(ValueError, match="at least 2 training points"):
        dm.estimate_collapse_time(np.zeros((1, 3)))


@pytest.mark.gpu
def test_meter_on_the_gpu_agrees_statistically():
    import cupy as cp  # noqa: PLC0415 - the gpu marker deselects this test where CuPy cannot run

    data = dm.GaussianData(N=16).sample(900, seed=11)
    cpu = dm.estimate_collapse_time(data, n=1024, n_trajectories=256, seed=12)
    gpu = dm.estimate_collapse_time(cp.asarray(data), n=1024, n_trajectories=256, seed=12)
    assert backend.get_array_module(gpu.freeze_times) is np  # results come back as NumPy
    assert abs(gpu.entropy.value - cpu.entropy.value) < 4 * math.hypot(gpu.entropy.stderr, cpu.entropy.stderr)


def test_own_log_weight_estimates_the_excess_entropy_with_less_noise():
    data = dm.GaussianData(N=32).sample(2000, seed=13)
    t = [0.2, 0.35, 0.6]
    own = dm.own_log_weight(data, t, 4000, seed=14)
    ent = dm.excess_entropy(data, t, n=4000, seed=15)
    # the same expectation (independent samples: within 4 combined standard errors) ...
    np.testing.assert_array_less(np.abs(own.value - ent.value), 4 * np.hypot(own.stderr, ent.stderr))
    # ... without the (|xi|^2/N - 1)/2 term, whose standard deviation alone is 1/sqrt(2N) per sample
    assert np.all(own.stderr < ent.stderr)
    assert np.all(own.value <= 0)
