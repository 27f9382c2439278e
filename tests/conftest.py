"""Shared fixtures: the `xp` fixture runs a test body once per usable array backend.

Tests marked ``gpu`` need CuPy and a CUDA device; where none answers they are deselected (reported in the summary),
so the CPU suite passes alone and ``pytest -m gpu`` on a GPU machine runs the CuPy half.
"""

import numpy as np
import pytest

from diffmem import backend


def _backends():
    params = [pytest.param(np, id="numpy")]
    params.append(pytest.param("cupy", id="cupy", marks=pytest.mark.gpu))
    return params


@pytest.fixture(params=_backends())
def xp(request):
    """The array module under test (NumPy always; CuPy on a GPU machine)."""
    if request.param == "cupy":
        import cupy  # noqa: PLC0415

        return cupy
    return request.param


def pytest_collection_modifyitems(config, items):
    if backend.cupy_available():
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("gpu") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config):
    return f"diffmem backend: {backend.info()['backend']}, cupy usable: {backend.cupy_available()}"
