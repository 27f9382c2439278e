import math
import tracemalloc

import numpy as np
import pytest
from scipy.special import logsumexp

import diffmem as dm
from diffmem import backend


def brute_force(x, data, t):
    """Reference by direct differences and the full M x P matrix (independent of the streaming engine)."""
    e, dl = math.exp(-t), -math.expm1(-2 * t)
    d = ((x[:, None, :] - e * data[None, :, :]) ** 2).sum(-1)
    logits = -d / (2 * dl)
    lse = logsumexp(logits, axis=1)
    w = np.exp(logits - lse[:, None])
    N = x.shape[1]
    log_p = lse - math.log(data.shape[0]) - 0.5 * N * math.log(2 * math.pi * dl)
    score = (e * (w @ data) - x) / dl
    order = np.argsort(d, axis=1)
    rows = np.arange(len(x))
    return {"score": score, "log_p": log_p, "w": w, "d": d, "arg1": order[:, 0], "arg2": order[:, 1],
            "d1": d[rows, order[:, 0]], "d2": d[rows, order[:, 1]]}


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    data = rng.standard_normal((257, 12)) + 0.7  # an off-centre dataset exercises the centring
    return data


@pytest.mark.parametrize("t", [0.02, 0.3, 1.0, 4.0])
@pytest.mark.parametrize("chunk", [1, 5, 64, 257, None])
def test_streaming_engine_matches_brute_force_whatever_the_chunk(problem, t, chunk):
    data = problem
    x = dm.sample_marginal(data, t, 40, seed=1)
    ref = brute_force(x, data, t)
    score = dm.empirical_score(x, data, t, chunk=chunk)
    scale = np.abs(ref["score"]).max()
    np.testing.assert_allclose(score, ref["score"], rtol=0, atol=1e-10 * scale)
    st = dm.posterior_stats(x, data, t, chunk=chunk)
    np.testing.assert_allclose(st.log_density, ref["log_p"], rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(st.w_max, ref["w"].max(1), atol=1e-10)
    np.testing.assert_allclose(st.participation, (ref["w"] ** 2).sum(1), atol=1e-10)
    np.testing.assert_array_equal(st.argmax, ref["arg1"])
    np.testing.assert_array_equal(st.second, ref["arg2"])
    np.testing.assert_allclose(st.d_nearest, ref["d1"], rtol=1e-12)
    np.testing.assert_allclose(st.d_second, ref["d2"], rtol=1e-12)
    np.testing.assert_allclose(dm.empirical_log_density(x, data, t, chunk=chunk), ref["log_p"], atol=1e-10)
    np.testing.assert_allclose(dm.posterior_mean(x, data, t, chunk=chunk), ref["w"] @ data, atol=1e-10)


def test_single_pattern_gives_the_exact_gaussian_marginal():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((1, 7))
    t = 0.4
    e, dl = math.exp(-t), -math.expm1(-2 * t)
    x = rng.standard_normal((30, 7))
    exact = -((x - e * a) ** 2).sum(1) / (2 * dl) - 3.5 * math.log(2 * math.pi * dl)
    np.testing.assert_allclose(dm.empirical_log_density(x, a, t), exact, rtol=1e-13)
    np.testing.assert_allclose(dm.empirical_score(x, a, t), (e * a - x) / dl, rtol=1e-12)
    st = dm.posterior_stats(x, a, t)
    assert np.all(st.w_max == 1.0) and np.all(st.second == -1) and np.all(np.isinf(st.d_second))


def test_score_is_the_gradient_of_the_log_density(problem):
    data, t = problem[:50], 0.5
    x = dm.sample_marginal(data, t, 5, seed=2)
    eps = 1e-5
    grad = np.empty_like(x)
    for k in range(x.shape[1]):
        step = np.zeros_like(x)
        step[:, k] = eps
        grad[:, k] = (dm.empirical_log_density(x + step, data, t) - dm.empirical_log_density(x - step, data, t)) / (
            2 * eps)
    np.testing.assert_allclose(dm.empirical_score(x, data, t), grad, rtol=1e-6, atol=1e-6)


def test_collapsed_phase_stays_accurate_for_tiny_delta():
    # Delta_t = 2e-9: GEMM logits carry errors ~ N eps / Delta ~ 1e-6; the refined nearest term removes them
    rng = np.random.default_rng(3)
    data = rng.standard_normal((100, 50)) * 3.0 + 5.0
    t = 1e-9
    x = dm.sample_marginal(data, t, 20, seed=4)
    e, dl = math.exp(-t), -math.expm1(-2 * t)
    diff = x[:, None, :] - e * data[None]
    d = (diff**2).sum(-1)
    exact = logsumexp(-d / (2 * dl), axis=1) - math.log(100) - 25 * math.log(2 * math.pi * dl)
    st = dm.posterior_stats(x, data, t)
    np.testing.assert_allclose(st.log_density, exact, rtol=1e-12)
    np.testing.assert_allclose(st.d_nearest, d.min(1), rtol=1e-12)
    # any evaluation of e^{-t} a - x carries an absolute error ~ eps |x|, i.e. eps |x| / Delta on the score
    np.testing.assert_allclose(dm.empirical_score(x, data, t), (e * data[st.argmax] - x) / dl, rtol=0,
                               atol=10 * np.finfo(float).eps * np.abs(x).max() / dl)


def test_far_away_points_do_not_underflow():
    data = np.random.default_rng(5).standard_normal((30, 4))
    x = np.full((3, 4), 1e3)
    lp = dm.empirical_log_density(x, data, 0.01)
    ref = brute_force(x, data, 0.01)["log_p"]
    assert np.all(np.isfinite(lp)) and lp.max() < -1e7
    np.testing.assert_allclose(lp, ref, rtol=1e-12)


def test_gumbel_sampler_draws_indices_with_the_posterior_weights():
    rng = np.random.default_rng(6)
    data = rng.standard_normal((6, 3))
    t = 0.8
    x0 = dm.sample_marginal(data, t, 1, seed=7)
    w = brute_force(x0, data, t)["w"][0]
    n = 40_000
    draws = dm.sample_posterior_index(np.repeat(x0, n, axis=0), data, t, np.random.default_rng(8), chunk=4)
    freq = np.bincount(draws, minlength=6) / n
    # binomial standard error sqrt(w (1 - w) / n); 5 of them leave a false alarm at ~1e-6
    np.testing.assert_array_less(np.abs(freq - w), 5 * np.sqrt(w * (1 - w) / n) + 1e-4)


def test_chunks_follow_the_memory_budget_and_no_M_by_P_matrix_is_formed():
    assert dm.chunk_size(100, 10_000, 8, memory_budget=240_000) == 100
    assert dm.chunk_size(100, 50, 8, memory_budget=10**9) == 50
    with pytest.raises(ValueError, match="memory_budget"):
        dm.chunk_size(10**6, 10, 8, memory_budget=1000)
    rng = np.random.default_rng(9)
    M, P, N = 200, 20_000, 8
    data = rng.standard_normal((P, N))
    x = rng.standard_normal((M, N))
    tracemalloc.start()
    dm.posterior_stats(x, data, 0.5, memory_budget=2**20)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # an M x P float64 matrix alone would take 32 MB; the chunked pass holds the 1 MiB budget plus O(M N)
    assert peak < 4 * 2**20


def test_float32_is_close_to_float64(problem):
    data, t = problem, 0.5
    x = dm.sample_marginal(data, t, 20, seed=10)
    s64 = dm.empirical_score(x, data, t)
    s32 = dm.empirical_score(x, data, t, dtype=np.float32)
    assert s32.dtype == np.float32
    # logits of size ~N / Delta carry float32 round-off ~1e-7 each; weights and the score inherit ~1e-5 relative
    np.testing.assert_allclose(s32, s64, rtol=0, atol=1e-4 * np.abs(s64).max())


@pytest.mark.parametrize(("x", "data", "t", "match"), [
    (np.zeros(3), np.zeros((2, 3)), 0.1, "x must be a 2-D array"),
    (np.zeros((1, 3)), np.zeros((2, 4)), 0.1, "must match"),
    (np.full((1, 3), np.nan), np.zeros((2, 3)), 0.1, "x contains NaN"),
    (np.zeros((1, 3)), np.full((2, 3), np.inf), 0.1, "data contains NaN"),
    (np.zeros((1, 3)), np.zeros((2, 3)), 0.0, "t must be finite and > 0"),
    (np.zeros((1, 3)), np.zeros((2, 3)), np.inf, "t must be finite and > 0"),
    (np.zeros((1, 3)), np.zeros((0, 3)), 0.1, "non-empty"),
])
def test_bad_inputs_name_the_parameter(x, data, t, match):
    with pytest.raises(ValueError, match=match):
        dm.empirical_score(x, data, t)


def test_bad_chunk_and_dtype():
    with pytest.raises(ValueError, match="chunk must be a positive integer"):
        dm.empirical_score(np.zeros((1, 2)), np.zeros((3, 2)), 0.1, chunk=0)
    with pytest.raises(ValueError, match="dtype must be float64 or float32"):
        dm.empirical_score(np.zeros((1, 2)), np.zeros((3, 2)), 0.1, dtype=np.int32)


def test_same_results_on_every_backend(xp):
    rng = np.random.default_rng(11)
    data_np = rng.standard_normal((300, 16))
    x_np = rng.standard_normal((50, 16))
    data, x = xp.asarray(data_np), xp.asarray(x_np)
    for t in (0.05, 0.7):
        score = dm.empirical_score(x, data, t, chunk=37)
        assert backend.get_array_module(score) is xp
        ref = brute_force(x_np, data_np, t)
        np.testing.assert_allclose(backend.to_numpy(score), ref["score"], atol=1e-10 * np.abs(ref["score"]).max())
        st = dm.posterior_stats(x, data, t, chunk=37)
        np.testing.assert_allclose(backend.to_numpy(st.log_density), ref["log_p"], atol=1e-10)
        np.testing.assert_array_equal(backend.to_numpy(st.argmax), ref["arg1"])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rows_whose_logits_outgrow_their_shift_are_recomputed(monkeypatch, dtype):
    # Patterns visited from the farthest to the nearest, one per chunk, at small Delta: every new chunk's logits
    # exceed the running log-sum-exp by far more than exp can hold, so each chunk takes the recompute path.
    from diffmem.sim import score as engine  # noqa: PLC0415

    calls = []
    real_exp = engine.exp_inplace
    monkeypatch.setattr(engine, "exp_inplace", lambda a, xp: calls.append(a.shape) or real_exp(a, xp))
    rng = np.random.default_rng(12)
    x = np.zeros((3, 4))
    radii = np.linspace(3.0, 1.0, 9)
    direction = rng.standard_normal((9, 4))
    data = radii[:, None] * direction / np.linalg.norm(direction, axis=1, keepdims=True)
    t = 1e-4  # logits -|a|^2 / (2 Delta): consecutive patterns differ by > 1400, more than exp holds in float64
    ref = brute_force(x, data, t)
    score = dm.empirical_score(x, data, t, chunk=1, dtype=dtype)
    assert len(calls) > 9  # at least one chunk was recomputed
    rtol = 1e-10 if dtype == np.float64 else 1e-3
    np.testing.assert_allclose(score, ref["score"], rtol=rtol)
    np.testing.assert_allclose(dm.empirical_log_density(x, data, t, chunk=1, dtype=dtype), ref["log_p"], rtol=rtol)
    st = dm.posterior_stats(x, data, t, chunk=1, dtype=dtype)
    np.testing.assert_allclose(st.w_max, ref["w"].max(1), rtol=rtol)
    np.testing.assert_allclose(st.participation, (ref["w"] ** 2).sum(1), rtol=rtol)


def test_exponentials_on_several_threads_give_identical_bits(monkeypatch):
    rng = np.random.default_rng(13)
    data = rng.standard_normal((3000, 20))
    x = rng.standard_normal((200, 20))  # 200 x 3000 logits: above the threading threshold
    monkeypatch.setenv("DIFFMEM_THREADS", "1")
    one = dm.empirical_score(x, data, 0.2)
    monkeypatch.setenv("DIFFMEM_THREADS", "3")
    three = dm.empirical_score(x, data, 0.2)
    np.testing.assert_array_equal(one, three)
    np.testing.assert_allclose(one, brute_force(x, data, 0.2)["score"], rtol=1e-10, atol=1e-12)


@pytest.mark.gpu
@pytest.mark.parametrize("N", [3, 64, 128, 256])
def test_fused_kernel_and_gemm_path_agree_on_the_gpu(monkeypatch, N):
    import cupy as cp  # noqa: PLC0415 - the gpu marker deselects this test where CuPy cannot run
    rng = np.random.default_rng(14)
    data_np = rng.standard_normal((5000, N)) + 0.2
    for t in (0.01, 0.3, 2.0):
        x_np = dm.sample_marginal(data_np, t, 333, seed=15)
        ref = brute_force(x_np, data_np, t)["score"]
        scale = np.abs(ref).max()
        fused = backend.to_numpy(dm.empirical_score(cp.asarray(x_np), cp.asarray(data_np), t))
        monkeypatch.setenv("DIFFMEM_FUSED", "0")
        gemm = backend.to_numpy(dm.empirical_score(cp.asarray(x_np), cp.asarray(data_np), t, chunk=700))
        monkeypatch.delenv("DIFFMEM_FUSED")
        np.testing.assert_allclose(fused, ref, rtol=0, atol=1e-10 * scale)
        np.testing.assert_allclose(gemm, ref, rtol=0, atol=1e-10 * scale)
        # float32 within the documented bound
        f32 = backend.to_numpy(dm.empirical_score(cp.asarray(x_np), cp.asarray(data_np), t, dtype=np.float32))
        bound = dm.score_error_bound(x_np, data_np, t, dtype=np.float32)
        assert np.all(np.abs(f32 - ref).max(axis=1) <= bound)
