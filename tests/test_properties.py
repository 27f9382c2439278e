"""Property-based tests of the empirical-score engine and the samplers (issue 7), with hypothesis.

Each property holds for any training set, query points and time; hypothesis draws them (P in 1..40, N in 1..12,
M in 1..10, log-uniform t in [1e-4, 10], data of varied scale and offset, chunk in 1..P+3). ``derandomize=True``
makes the examples a function of the test alone, so CI is deterministic.
"""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

import diffmem as dm

SETTINGS = {"deadline": None, "derandomize": True}


@st.composite
def problems(draw, max_P=40, min_P=1):
    """(x, data, t, chunk): queries around the patterns (some far), data of any scale and offset."""
    P = draw(st.integers(min_P, max_P))
    N = draw(st.integers(1, 12))
    M = draw(st.integers(1, 10))
    t = math.exp(draw(st.floats(math.log(1e-4), math.log(10.0))))
    scale = 10.0 ** draw(st.floats(-2.0, 2.0))
    offset = draw(st.floats(-50.0, 50.0))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    data = offset + scale * rng.standard_normal((P, N))
    delta = -math.expm1(-2.0 * t)
    spread = draw(st.sampled_from([0.1, 1.0, 3.0]))  # queries near P^e_t, or farther out
    mu = rng.integers(0, P, size=M)
    x = math.exp(-t) * data[mu] + spread * math.sqrt(delta) * rng.standard_normal((M, N))
    chunk = draw(st.integers(1, P + 3))
    return x, data, t, chunk


def _log_kernels(x, data, t):
    """l_mu(x) = log N(x; e^-t a^mu, Delta_t I), from direct differences: (M, P)."""
    delta = -math.expm1(-2.0 * t)
    d2 = ((x[:, None, :] - math.exp(-t) * data[None, :, :]) ** 2).sum(axis=2)
    return -d2 / (2.0 * delta) - 0.5 * x.shape[1] * math.log(2.0 * math.pi * delta)


def _assert_close(a, b, rtol, atol=0.0):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def _weight_rtol(x, data, t):
    """1e-10, widened by the rounding of the GEMM logits (~eps |l|, |l| up to 1e6 for far, spread-out data at
    small t): the weights are exp of logit differences, so their relative error is a few eps |l| whatever the
    pattern order or chunking (an ordering of sums, not a bug)."""
    return 1e-10 + 1e-15 * float(np.abs(_log_kernels(x, data, t)).max())


@settings(max_examples=120, **SETTINGS)
@given(problems(), st.randoms(use_true_random=False))
def test_permutation_invariance(problem, rnd):
    x, data, t, chunk = problem
    perm = np.array(rnd.sample(range(data.shape[0]), data.shape[0]))
    permuted = data[perm]
    s0, s1 = dm.empirical_score(x, data, t), dm.empirical_score(x, permuted, t)
    # the score is O(|x - e^-t a| / Delta): compare on its own scale
    _assert_close(s1, s0, rtol=1e-10, atol=1e-10 * float(np.abs(s0).max()))
    _assert_close(dm.empirical_log_density(x, permuted, t), dm.empirical_log_density(x, data, t), rtol=1e-10,
                  atol=1e-10)
    a, b = dm.posterior_stats(x, data, t), dm.posterior_stats(x, permuted, t)
    rtol = _weight_rtol(x, data, t)
    _assert_close(b.w_max, a.w_max, rtol=rtol)
    _assert_close(b.participation, a.participation, rtol=rtol)
    # argmax maps through the permutation, unless the two nearest patterns tie (then either is right)
    gap = (a.d_second - a.d_nearest) / (2.0 * -math.expm1(-2.0 * t))
    clear = ~(gap < 1e-6)  # inf gap (P = 1) is clear
    np.testing.assert_array_equal(perm[b.argmax[clear]], a.argmax[clear])


@settings(max_examples=120, **SETTINGS)
@given(problems())
def test_chunk_size_independence(problem):
    x, data, t, chunk = problem
    P = data.shape[0]
    one = {"chunk": P}
    s_one = dm.empirical_score(x, data, t, **one)
    _assert_close(dm.empirical_score(x, data, t, chunk=chunk), s_one, rtol=1e-10,
                  atol=1e-10 * float(np.abs(s_one).max()))
    _assert_close(dm.posterior_mean(x, data, t, chunk=chunk), dm.posterior_mean(x, data, t, **one), rtol=1e-10,
                  atol=1e-10 * float(np.abs(data).max()))
    _assert_close(dm.empirical_log_density(x, data, t, chunk=chunk), dm.empirical_log_density(x, data, t, **one),
                  rtol=1e-10, atol=1e-10)
    a, b = dm.posterior_stats(x, data, t, **one), dm.posterior_stats(x, data, t, chunk=chunk)
    rtol = _weight_rtol(x, data, t)
    _assert_close(b.w_max, a.w_max, rtol=rtol)
    _assert_close(b.participation, a.participation, rtol=rtol)
    _assert_close(b.log_density, a.log_density, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(b.argmax, a.argmax)


@settings(max_examples=100, **SETTINGS)
@given(problems(max_P=1))
def test_single_pattern_is_exact(problem):
    x, data, t, chunk = problem
    delta = -math.expm1(-2.0 * t)
    diff = math.exp(-t) * data[0] - x
    score = dm.empirical_score(x, data, t, chunk=chunk)
    # the engine's centred form (e^-t (a - c) - (x - e^-t c)) / Delta with c = a: exact up to rounding of x - e^-t a
    _assert_close(score, diff / delta, rtol=1e-12, atol=1e-12 * float(np.abs(x).max() + np.abs(data).max()) / delta)
    log_pdf = -(diff * diff).sum(axis=1) / (2.0 * delta) - 0.5 * x.shape[1] * math.log(2.0 * math.pi * delta)
    _assert_close(dm.empirical_log_density(x, data, t, chunk=chunk), log_pdf, rtol=1e-12, atol=1e-12)
    st_ = dm.posterior_stats(x, data, t)
    np.testing.assert_array_equal(st_.w_max, 1.0)
    np.testing.assert_array_equal(st_.participation, 1.0)
    np.testing.assert_array_equal(st_.argmax, 0)
    np.testing.assert_array_equal(st_.second, -1)
    assert np.all(np.isinf(st_.d_second))


@settings(max_examples=200, **SETTINGS)
@given(problems())
def test_log_density_and_weight_bounds(problem):
    x, data, t, chunk = problem
    P = data.shape[0]
    lk = _log_kernels(x, data, t)
    top = lk.max(axis=1)
    ld = dm.empirical_log_density(x, data, t, chunk=chunk)
    # P^e_t = (1/P) sum_mu e^{l_mu}: at least e^{max l}/P, at most e^{max l}; slack for rounding of |l| ~ d2/Delta
    slack = 1e-12 * (np.abs(top) + 1.0)
    assert np.all(ld >= top - math.log(P) - slack)
    assert np.all(ld <= top + slack)
    _assert_close(ld, special.logsumexp(lk, axis=1) - math.log(P), rtol=1e-10, atol=1e-10)
    s = dm.posterior_stats(x, data, t, chunk=chunk)
    # exact upper bounds (regression: w_max was 1 + 7e-12 for logits ~ 1e4); the lower ones up to rounding
    eps = 1e-12
    assert np.all((s.w_max >= 1.0 / P - eps) & (s.w_max <= 1.0))
    assert np.all((s.participation >= 1.0 / P - eps) & (s.participation <= 1.0))
    assert np.all(s.participation <= s.w_max)  # sum w^2 <= max w sum w


@settings(max_examples=100, **SETTINGS)
@given(problems(max_P=20))
def test_score_is_gradient_of_log_density(problem):
    x, data, t, chunk = problem
    delta = -math.expm1(-2.0 * t)
    M, N = x.shape
    score = dm.empirical_score(x, data, t, chunk=chunk)
    # central differences with step h = 1e-4 sqrt(Delta) (the density's length scale): truncation error
    # |f'''| h^2 / 6 ~ (1 + spread^3) 1e-8 / sqrt(Delta) per unit score scale, rounding ~ eps |log p| / h
    h = 1e-4 * math.sqrt(delta)
    fd = np.empty_like(score)
    for j in range(N):
        e = np.zeros(N)
        e[j] = h
        fd[:, j] = (dm.empirical_log_density(x + e, data, t) - dm.empirical_log_density(x - e, data, t)) / (2 * h)
    lk_scale = np.abs(_log_kernels(x, data, t)).max(axis=1, keepdims=True) + 1.0
    tol = 1e-5 * (np.abs(score) + 1.0 / math.sqrt(delta)) + 1e-15 * lk_scale / h
    assert np.all(np.abs(fd - score) <= tol), np.max(np.abs(fd - score) / tol)


@settings(max_examples=60, **SETTINGS)
@given(
    problems(max_P=20),
    st.sampled_from(dm.METHODS),
    st.integers(1, 12),
    st.floats(math.log(1e-6), math.log(0.5)),
    st.integers(0, 2**16),
)
def test_samplers_finite_shape_backend(problem, method, steps, log_t_min, seed):
    x, data, t, chunk = problem
    M, N = x.shape
    t_min = math.exp(log_t_min)
    times = np.array([1.0, t_min])
    states = dm.sample_reverse(data, M, times, method=method, steps=steps, t_max=2.0, seed=seed, chunk=chunk)
    assert isinstance(states, np.ndarray) and states.shape == (2, M, N) and states.dtype == np.float64
    assert np.all(np.isfinite(states))
    y, mu = dm.sample_marginal(data, t, M, seed=seed, return_index=True)
    assert isinstance(y, np.ndarray) and y.shape == (M, N) and np.all(np.isfinite(y))
    assert mu.shape == (M,) and np.all((mu >= 0) & (mu < data.shape[0]))
    idx = dm.sample_posterior_index(x, data, t, np.random.default_rng(seed), chunk=chunk)
    assert idx.shape == (M,) and np.issubdtype(idx.dtype, np.integer)
    assert np.all((idx >= 0) & (idx < data.shape[0]))
