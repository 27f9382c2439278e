import numpy as np
import pytest

from diffmem import backend


@pytest.fixture(autouse=True)
def _restore_backend():
    previous = backend.active()
    yield
    backend._active = previous


def test_numpy_override_is_honoured(monkeypatch):
    monkeypatch.setenv("DIFFMEM_BACKEND", "numpy")
    backend._active = None
    assert backend.active() is np
    assert backend.info()["backend"] == "numpy"


def test_cupy_request_fails_clearly_without_a_device(monkeypatch):
    monkeypatch.setenv("DIFFMEM_BACKEND", "cupy")
    backend._active = None
    if backend.cupy_available():
        assert backend.active().__name__ == "cupy"
    else:
        with pytest.raises(RuntimeError, match="CuPy cannot run here"):
            backend.active()


@pytest.mark.parametrize("name", ["torch", "", "NUMPYY", 3])
def test_unknown_backend_is_a_value_error(name):
    with pytest.raises(ValueError, match="backend must be one of"):
        backend.set_backend(name)


def test_auto_falls_back_to_numpy_when_cupy_is_unusable():
    chosen = backend.set_backend("auto")
    assert chosen.__name__ == ("cupy" if backend.cupy_available() else "numpy")


def test_info_reports_versions():
    info = backend.info()
    assert set(info) == {"backend", "device", "python", "numpy", "scipy", "cupy", "diffmem"}
    assert info["numpy"] == np.__version__
    assert info["diffmem"] is not None


def test_array_helpers_round_trip(xp):
    x = backend.asarray([1.0, 2.0], xp=xp)
    assert backend.get_array_module(x) is xp
    assert x.dtype == np.float64
    back = backend.to_numpy(x)
    assert isinstance(back, np.ndarray)
    np.testing.assert_array_equal(back, [1.0, 2.0])


def test_default_rng_is_seeded_and_of_the_right_module(xp):
    a = backend.default_rng(5, xp).standard_normal(4)
    b = backend.default_rng(5, xp).standard_normal(4)
    assert backend.get_array_module(a) is xp
    np.testing.assert_array_equal(backend.to_numpy(a), backend.to_numpy(b))
