import numpy as np
import pytest

from diffmem import _parallel


@pytest.mark.parametrize("shape", [(1, 5), (3, 7), (300, 400), (1000, 70)])
def test_exp_inplace_equals_numpy_exp_bit_for_bit(monkeypatch, shape):
    monkeypatch.setenv("DIFFMEM_THREADS", "4")
    a = np.random.default_rng(0).normal(scale=30.0, size=shape)
    expected = np.exp(a)
    out = _parallel.exp_inplace(a)
    assert out is a
    np.testing.assert_array_equal(a, expected)


def test_exp_inplace_overflows_to_inf_without_a_warning(monkeypatch):
    monkeypatch.setenv("DIFFMEM_THREADS", "2")
    a = np.full((400, 400), 800.0)
    _parallel.exp_inplace(a)  # warnings are errors in the test suite
    assert np.all(np.isinf(a))


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_bad_thread_count_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("DIFFMEM_THREADS", value)
    with pytest.raises(ValueError, match="DIFFMEM_THREADS must be a positive integer"):
        _parallel.thread_count()


def test_thread_count_defaults_to_the_usable_cores(monkeypatch):
    monkeypatch.delenv("DIFFMEM_THREADS", raising=False)
    assert _parallel.thread_count() >= 1
