import numpy as np
import pytest

import diffmem as dm


def test_delta_and_bandwidth_are_exact_without_cancellation():
    t = np.array([1e-12, 1e-3, 1.0, 20.0])
    np.testing.assert_allclose(dm.delta(t[1:]), 1 - np.exp(-2 * t[1:]), rtol=1e-12)
    # 1 - exp(-2t) would lose almost every digit here; the series 2t - 2t^2 is exact to 1e-24
    assert dm.delta(1e-12) == pytest.approx(2e-12 - 2e-24, rel=1e-14)
    np.testing.assert_allclose(dm.bandwidth2(t), dm.delta(t) * np.exp(2 * t), rtol=1e-14)


def test_log_grid_is_decreasing_and_hits_both_ends():
    g = dm.log_time_grid(5.0, 0.01, 200)
    assert g.shape == (201,) and g[0] == 5.0 and g[-1] == 0.01
    assert np.all(np.diff(g) < 0)
    np.testing.assert_allclose(np.diff(np.log(g)), np.log(0.01 / 5.0) / 200)


@pytest.mark.parametrize(("args", "match"), [((0.01, 5.0, 10), "t_max must be > t_min"),
                                             ((5.0, 0.0, 10), "t_min must be finite and > 0"),
                                             ((5.0, 0.1, 0), "steps must be a positive integer")])
def test_bad_grids(args, match):
    with pytest.raises(ValueError, match=match):
        dm.log_time_grid(*args)
