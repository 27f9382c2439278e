import math

import numpy as np
import pytest
from scipy.optimize import brentq

import diffmem as dm


def _gaussian_t_g(alpha):
    """Closed form for isotropic Gaussian data: alpha = -1/2 log D - D (1 - D) / 2, t_g = 1/2 log(1 + D + D^2)."""
    dq = brentq(lambda d: -0.5 * math.log(d) - 0.5 * d * (1 - d) - alpha, 1e-300, 1.0, xtol=1e-15)
    d_min = dq * (1 + dq)
    return 0.5 * math.log1p(d_min), alpha + 0.5 * math.log(2 * math.pi * math.e * d_min)


def test_nearest_neighbour_distance_matches_brute_force(xp):
    rng = np.random.default_rng(0)
    y, a = rng.standard_normal((300, 7)), 3.0 + rng.standard_normal((1000, 7))  # off-centre: cancellation test
    brute = ((y[:, None, :] - a[None, :, :]) ** 2).sum(-1).min(axis=1) / 7
    est = dm.nearest_neighbour_distance(xp.asarray(y), xp.asarray(a), chunk=97)
    assert est.value == pytest.approx(brute.mean(), rel=1e-12)
    assert est.stderr == pytest.approx(brute.std(ddof=1) / math.sqrt(300), rel=1e-10)
    assert est.n == 300


def test_nearest_neighbour_distance_of_a_training_point_is_zero():
    a = np.random.default_rng(1).standard_normal((50, 4))
    assert dm.nearest_neighbour_distance(a[:10], a).value == pytest.approx(0.0, abs=1e-14)


def test_nearest_neighbour_distance_validates_shapes():
    with pytest.raises(ValueError, match="same N"):
        dm.nearest_neighbour_distance(np.zeros((3, 4)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="2-D"):
        dm.nearest_neighbour_distance(np.zeros(4), np.zeros((5, 4)))


@pytest.mark.parametrize("degree", [2, 3])
def test_loss_minimum_of_an_exact_polynomial_in_log_h2(degree):
    t = np.geomspace(0.1, 1.0, 15)
    u = np.log(np.expm1(2 * t))
    u0 = math.log(np.expm1(2 * 0.37))
    loss = 1.3 + 0.8 * (u - u0) ** 2 + (0.2 * (u - u0) ** 3 if degree == 3 else 0.0)
    t_min, l_min = dm.loss_minimum(t, loss, n_fit=7, degree=degree)
    assert t_min.value == pytest.approx(0.37, abs=1e-10)
    assert l_min.value == pytest.approx(1.3, abs=1e-12)
    assert math.isnan(t_min.stderr) and t_min.n == 1


@pytest.mark.parametrize("alpha", [0.2, 0.3, 0.5])
def test_loss_minimum_of_the_theory_curve_is_the_gaussian_closed_form(alpha):
    t_g, l_min = _gaussian_t_g(alpha)
    t = np.geomspace(0.6 * t_g, 1.8 * t_g, 13)  # spacing 0.09 in log t, as in the chapter
    loss = dm.generalization_loss(t, alpha, dm.GaussianData())
    t_est, l_est = dm.loss_minimum(t, loss)
    # the theory's second derivative jumps at t_cond (close to t_g at large alpha): the cubic on 5 points still
    # lands within 1% of t_g, well below the statistical errors of the chapter's measurements (~1-2%)
    assert t_est.value == pytest.approx(t_g, rel=1e-2)
    assert l_est.value == pytest.approx(l_min, abs=2e-4)


def test_loss_minimum_jackknife_error_is_calibrated():
    # B noisy batch curves around a known parabola: the jackknife error must match the spread over repetitions
    rng = np.random.default_rng(5)
    t = np.geomspace(0.1, 1.0, 13)
    u = np.log(np.expm1(2 * t))
    base = 1.0 + 0.5 * (u - u[6]) ** 2
    B, sigma, reps = 10, 0.02, 400
    est, errs = [], []
    for _ in range(reps):
        batches = base + sigma * rng.standard_normal((B, t.size))
        t_min, _ = dm.loss_minimum(t, batches)
        est.append(t_min.value)
        errs.append(t_min.stderr)
    spread = np.std(est, ddof=1)
    # sd of the spread from reps = 400 is ~3.5%; the jackknife of a smooth statistic is nearly unbiased
    assert np.mean(errs) == pytest.approx(spread, rel=0.15)
    assert np.mean(est) == pytest.approx(t[6], abs=3 * spread / math.sqrt(reps) + 1e-3)


def test_loss_minimum_validates_its_input():
    t = np.geomspace(0.1, 1.0, 9)
    u = np.log(np.expm1(2 * t))
    with pytest.raises(ValueError, match="edge"):
        dm.loss_minimum(t, u)  # increasing: smallest value at the first point
    good = (u - u[4]) ** 2
    with pytest.raises(ValueError, match="n_fit"):
        dm.loss_minimum(t, good, n_fit=4)
    with pytest.raises(ValueError, match="n_fit"):
        dm.loss_minimum(t, good, n_fit=3, degree=3)
    with pytest.raises(ValueError, match="degree"):
        dm.loss_minimum(t, good, degree=4)
    with pytest.raises(ValueError, match="shape"):
        dm.loss_minimum(t, good[:-1])
    with pytest.raises(ValueError, match="increasing"):
        dm.loss_minimum(t[::-1], good)
    with pytest.raises(ValueError, match="2 batches"):
        dm.loss_minimum(t, good[None, :])
    with pytest.raises(ValueError, match="finite"):
        dm.loss_minimum(t, np.where(np.arange(9) == 2, np.nan, good))


def test_measure_generalization_agrees_with_test_cross_entropy_and_its_parts():
    N, P, M, B = 6, 300, 400, 8
    model = dm.GaussianData(N)
    data, y = model.sample(P, seed=0), model.sample(M, seed=1)
    t = np.geomspace(0.15, 1.2, 13)
    m = dm.measure_generalization(y, data, t, n_batches=B)
    ref = dm.test_cross_entropy(y, data, t)
    np.testing.assert_allclose(m.loss.value, ref.value, rtol=1e-12)
    np.testing.assert_allclose(m.loss.stderr, ref.stderr, rtol=1e-10)
    assert m.loss.n == M
    # the minimum is loss_minimum on the batch curves, each the test cross-entropy of its batch
    size = M // B
    batches = np.stack([dm.test_cross_entropy(y[b * size:(b + 1) * size], data, t).value for b in range(B)])
    t_ref, l_ref = dm.loss_minimum(t, batches)
    assert m.t_g.value == pytest.approx(t_ref.value, rel=1e-10)
    assert m.t_g.stderr == pytest.approx(t_ref.stderr, rel=1e-6)
    assert m.loss_min.value == pytest.approx(l_ref.value, rel=1e-10)
    assert m.d_nn == dm.nearest_neighbour_distance(y, data)


def test_measured_loss_matches_the_theory_on_the_unfrozen_side():
    # h^2 >= 2 h_cond^2: the REM of a clean test point is far from condensed and finite-N corrections are
    # exponentially small, so the measured loss must sit within its statistical error of the theory
    alpha, N = 0.3, 20
    P = round(math.exp(alpha * N))
    model = dm.GaussianData(N)
    data, y = model.sample(P, seed=2), model.sample(2000, seed=3)
    alpha_N = math.log(P) / N
    h2_cond = math.expm1(2 * dm.condensation_time(alpha_N, model))
    t = np.array([0.5, 0.7, 1.0])
    assert np.all(np.expm1(2 * t) >= 2 * h2_cond)
    est = dm.test_cross_entropy(y, data, t)
    theory = dm.generalization_loss(t, alpha_N, model)
    assert np.all(np.abs(est.value - theory) < 4 * est.stderr + 2e-3)


def test_measure_generalization_validates_sizes():
    data = np.zeros((10, 3))
    with pytest.raises(ValueError, match="2 points per batch"):
        dm.measure_generalization(np.zeros((5, 3)), data, [0.1, 0.2, 0.3], n_batches=4)
    with pytest.raises(ValueError, match="n_batches"):
        dm.measure_generalization(np.zeros((50, 3)), data, [0.1, 0.2, 0.3], n_batches=1)
    with pytest.raises(ValueError, match="increasing"):
        dm.measure_generalization(np.ones((50, 3)), data, [0.3, 0.2, 0.1])
