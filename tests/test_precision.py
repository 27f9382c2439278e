import math

import numpy as np
import pytest

import diffmem as dm


def score_extended(x, data, t):
    """The empirical score by direct differences in extended precision (x86 long double, 64-bit mantissa)."""
    x = x.astype(np.longdouble)
    data = data.astype(np.longdouble)
    e = np.exp(-np.longdouble(t))
    dl = 1 - np.exp(-2 * np.longdouble(t))
    d = ((x[:, None, :] - e * data[None]) ** 2).sum(-1)
    logits = -d / (2 * dl)
    w = np.exp(logits - logits.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    return (e * (w @ data) - x) / dl


CASES = [  # (P, N, t, scale, offset): late, moderate and collapsed-phase times, off-centre data
    (300, 16, 2.0, 1.0, 0.0),
    (300, 16, 0.3, 1.0, 0.5),
    (1000, 64, 0.1, 1.0, 0.0),
    (500, 128, 0.5, 1.0, 0.0),
    (200, 32, 0.01, 1.0, 1.0),
    (200, 8, 1e-3, 3.0, 0.0),
]


@pytest.mark.parametrize(("P", "N", "t", "scale", "offset"), CASES)
def test_float32_score_error_stays_below_the_bound(P, N, t, scale, offset):
    rng = np.random.default_rng(P + N)
    data = scale * rng.standard_normal((P, N)) + offset
    x = dm.sample_marginal(data, t, 64, seed=1)
    bound = dm.score_error_bound(x, data, t, dtype=np.float32, chunk=97)
    err = np.abs(dm.empirical_score(x, data, t, dtype=np.float32, chunk=97).astype(float)
                 - dm.empirical_score(x, data, t)).max(axis=1)
    assert np.all(np.isfinite(bound))
    assert np.all(err <= bound)
    if t >= 0.3:
        # a worst case, but an informative one where float32 is meant to be used: a few % of the score at most
        scale = np.abs(dm.empirical_score(x, data, t)).max(axis=1)
        assert np.all(bound < 0.05 * scale)


def test_float64_score_error_stays_below_the_bound_against_extended_precision():
    if np.finfo(np.longdouble).nmant < 60:
        pytest.fail("this test needs an extended long double (x86); the platform's long double is float64")
    rng = np.random.default_rng(2)
    data = rng.standard_normal((400, 24)) + 0.3
    for t in (0.02, 0.5):
        x = dm.sample_marginal(data, t, 32, seed=3)
        ref = score_extended(x, data, t)
        err = np.abs(dm.empirical_score(x, data, t, chunk=50) - ref).astype(float).max(axis=1)
        bound = dm.score_error_bound(x, data, t, dtype=np.float64, chunk=50)
        assert np.all(err <= bound)


def test_bound_grows_like_one_over_delta_squared_deep_in_the_collapsed_phase():
    data = np.random.default_rng(4).standard_normal((100, 10))
    x = data[:5] * math.exp(-1e-4)
    b1 = dm.score_error_bound(x, data, 1e-4, dtype=np.float64)
    b2 = dm.score_error_bound(x, data, 1e-5, dtype=np.float64)
    np.testing.assert_allclose(b2 / b1, (dm.delta(1e-4) / dm.delta(1e-5)) ** 2, rtol=0.02)
    # where the float32 logit error is no longer small the first-order analysis says nothing
    assert np.all(np.isinf(dm.score_error_bound(x, data, 1e-7, dtype=np.float32)))
