"""Array backend: CuPy when a CUDA device answers, NumPy otherwise.

This is the only module of :mod:`diffmem` that imports CuPy. The choice is made once, lazily, on first use:

* ``DIFFMEM_BACKEND=numpy`` forces NumPy;
* ``DIFFMEM_BACKEND=cupy`` forces CuPy and raises :class:`RuntimeError` if CuPy cannot run here;
* unset (or ``auto``): CuPy if it imports *and* a device answers, else NumPy.

:func:`set_backend` changes the choice at run time (tests and benchmarks use it).
Simulation engines are written once against the module returned by :func:`get_array_module`.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
from types import ModuleType

import numpy as np

__all__ = [
    "BACKENDS",
    "active",
    "asarray",
    "cupy_available",
    "default_rng",
    "get_array_module",
    "info",
    "set_backend",
    "to_numpy",
]

#: Names accepted by ``DIFFMEM_BACKEND`` and :func:`set_backend`.
BACKENDS = ("auto", "numpy", "cupy")

_active: ModuleType | None = None
_cupy: ModuleType | None = None
_cupy_checked = False
_cupy_reason = ""


def _probe_cupy() -> ModuleType | None:
    """Import CuPy and ask for a device, once; remember why it failed."""
    global _cupy, _cupy_checked, _cupy_reason
    if _cupy_checked:
        return _cupy
    _cupy_checked = True
    try:
        import cupy  # noqa: PLC0415 - optional dependency, imported only here

        n_devices = cupy.cuda.runtime.getDeviceCount()
        if n_devices < 1:
            raise RuntimeError("no CUDA device found")
        cupy.zeros(1).sum().item()  # a device that is listed but unusable fails here
    except Exception as exc:  # ImportError, CUDARuntimeError, driver errors...
        _cupy_reason = f"{type(exc).__name__}: {exc}"
        _cupy = None
    else:
        _cupy = cupy
    return _cupy


def cupy_available() -> bool:
    """Whether CuPy imports and a CUDA device answers.

    Returns
    -------
    bool
    """
    return _probe_cupy() is not None


def set_backend(name: str = "auto") -> ModuleType:
    """Choose the array module used by the simulation engines.

    Parameters
    ----------
    name : {"auto", "numpy", "cupy"}
        ``"auto"`` takes CuPy when usable, else NumPy.

    Returns
    -------
    module
        ``numpy`` or ``cupy``.

    Raises
    ------
    ValueError
        If `name` is not one of :data:`BACKENDS`.
    RuntimeError
        If ``"cupy"`` is asked for where CuPy cannot run (not installed, or no CUDA device).
    """
    global _active
    if not isinstance(name, str) or name.lower() not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    name = name.lower()
    if name == "numpy":
        _active = np
    elif name == "cupy":
        cp = _probe_cupy()
        if cp is None:
            raise RuntimeError(
                "backend 'cupy' was requested (DIFFMEM_BACKEND or set_backend) but CuPy cannot run here "
                f"({_cupy_reason}); install it with `pip install -e .[gpu]` on a CUDA machine, "
                "or use DIFFMEM_BACKEND=numpy"
            )
        _active = cp
    else:
        cp = _probe_cupy()
        _active = cp if cp is not None else np
    return _active


def active() -> ModuleType:
    """The array module in use (chosen from ``DIFFMEM_BACKEND`` on first call).

    Returns
    -------
    module
        ``numpy`` or ``cupy``.
    """
    if _active is None:
        set_backend(os.environ.get("DIFFMEM_BACKEND", "auto") or "auto")
    return _active


def get_array_module(*arrays) -> ModuleType:
    """The array module that owns `arrays`: ``cupy`` if any of them is a CuPy array, else ``numpy``.

    With no arguments, the active backend.
    """
    if not arrays:
        return active()
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def asarray(x, xp: ModuleType | None = None, dtype=None):
    """`x` as an array of module `xp` (default: the active backend), float64 unless `dtype` says otherwise."""
    xp = active() if xp is None else xp
    return xp.asarray(x, dtype=np.float64 if dtype is None else dtype)


def to_numpy(x):
    """A NumPy copy (or view) of `x`, whichever backend holds it; scalars pass through."""
    if _cupy is not None and isinstance(x, _cupy.ndarray):
        return _cupy.asnumpy(x)
    return np.asarray(x)


def default_rng(seed=None, xp: ModuleType | None = None):
    """A random generator of module `xp` (default: the active backend).

    Parameters
    ----------
    seed : int, numpy.random.Generator or None
        A generator of the right module is returned as is.
    xp : module, optional

    Raises
    ------
    TypeError, ValueError
        If `seed` is not None, an int >= 0, a sequence of them or a generator.

    Notes
    -----
    NumPy and CuPy generators give different streams for the same seed: compare statistics across backends,
    never draws.
    """
    from ._checks import check_seed  # noqa: PLC0415 - _checks imports this module

    check_seed(seed)
    xp = active() if xp is None else xp
    if xp is np:
        return np.random.default_rng(seed)
    if isinstance(seed, xp.random.Generator):
        return seed
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**63))
    return xp.random.default_rng(seed)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def info() -> dict:
    """What the package runs on: backend, device, and versions. Each chapter prints it.

    Returns
    -------
    dict
        Keys ``backend``, ``device``, ``python``, ``numpy``, ``scipy``, ``cupy``, ``diffmem``.
    """
    xp = active()
    if xp is np:
        device = f"CPU ({os.cpu_count()} cores)"
        cupy_version = _version("cupy") or _version("cupy-cuda12x")
    else:
        dev = xp.cuda.Device()
        props = xp.cuda.runtime.getDeviceProperties(dev.id)
        name = props["name"]
        device = f"GPU {dev.id}: {name.decode() if isinstance(name, bytes) else name}"
        cupy_version = xp.__version__
    import scipy  # noqa: PLC0415 - keep import time of the backend module small

    return {
        "backend": xp.__name__,
        "device": device,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "cupy": cupy_version,
        "diffmem": _version("diffmem"),
    }
