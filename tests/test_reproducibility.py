"""Reproducibility: every public function of diffmem that draws random numbers, seeded twice.

For each one: the same integer seed gives bit-identical outputs, another seed gives other outputs, and a
``numpy.random.Generator`` works as documented ("seed : int, Generator or None"): generators created from the same
seed give identical outputs, the generator passed is the one drawn from (it advances, so a second call with it gives
new draws). Deterministic diagnostics that consume random data (``test_cross_entropy``, ``measure_generalization``)
are checked as seeded pipelines. Finally the results do not depend on the number of threads used for the element-wise
work of the score engine (``DIFFMEM_THREADS``, :mod:`diffmem._parallel`), on problems large enough to be split.

NumPy backend only: NumPy and CuPy generators give different streams for the same seed (DESIGN.md section 5, tests
compare statistics, never random streams, across backends).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
import pytest

import diffmem as dm
from diffmem import _parallel, backend

SEED = 20250101

N, P = 8, 40


def gaussian_data(P_: int = P, N_: int = N, seed: int = 0) -> np.ndarray:
    return dm.GaussianData(N_).sample(P_, seed=seed, xp=np)


DATA = gaussian_data()
REM = dm.DerridaREM()
MANIFOLD = dm.HiddenManifold(0.5, "tanh", N=12, seed=3)


def leaves(out) -> list[np.ndarray]:
    """The arrays and numbers of a result (arrays, tuples, NamedTuples, lists, dicts, objects with F), as NumPy."""
    if isinstance(out, dict):
        return [x for k in sorted(out) for x in leaves(out[k])]
    if isinstance(out, tuple | list):
        return [x for item in out for x in leaves(item)]
    if isinstance(out, dm.HiddenManifold):
        return [out.F]
    return [np.asarray(backend.to_numpy(out))]


def assert_identical(a, b) -> None:
    la, lb = leaves(a), leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


def differ(a, b) -> bool:
    return any(x.shape != y.shape or not np.array_equal(x, y, equal_nan=True)
               for x, y in zip(leaves(a), leaves(b), strict=True))


def _reverse(method: str) -> Callable:
    return lambda seed: dm.sample_reverse(DATA, 16, [0.05, 0.5], method=method, steps=12, t_max=2.0, seed=seed,
                                          progress=False)


METER_DATA = dm.GaussianData(8).sample(200, seed=0, xp=np)

# name -> f(seed), seed an int or a numpy Generator. Small sizes: the whole file runs in seconds.
CASES: dict[str, Callable] = {
    "GaussianData.sample": lambda seed: dm.GaussianData(N).sample(20, seed=seed, xp=np),
    "HiddenManifold.sample": lambda seed: MANIFOLD.sample(20, seed=seed, xp=np, return_latents=True),
    "GaussianEquivalent.sample": lambda seed: dm.gaussian_equivalent(MANIFOLD).sample(20, seed=seed, xp=np,
                                                                                      return_latents=True),
    "DerridaREM.sample_energies": lambda seed: REM.sample_energies(6, seed=seed, n_samples=3),
    "sample_marginal": lambda seed: dm.sample_marginal(DATA, 0.3, 30, seed=seed, return_index=True),
    **{f"sample_reverse[{m}]": _reverse(m) for m in dm.METHODS},
    "excess_entropy": lambda seed: dm.excess_entropy(DATA, [0.1, 0.5], n=64, seed=seed),
    "own_log_weight": lambda seed: dm.own_log_weight(DATA, [0.1, 0.5], 64, seed=seed),
    "estimate_collapse_time": lambda seed: dm.estimate_collapse_time(METER_DATA, n=64, n_trajectories=16, points=6,
                                                                     records=10, seed=seed),
    "collapse_curve": lambda seed: dm.collapse_curve(DATA, [0.3, 0.5, 0.8], n=64, seed=seed),
    "gaussian_collapse_fraction": lambda seed: dm.gaussian_collapse_fraction(
        [0.5, 1.0], 16, 0.5, n_samples=64, n_nodes=4, top=8, n_grid=50, seed=seed),
    "local_pca_spectrum": lambda seed: dm.local_pca_spectrum(DATA, 6, n_centres=5, seed=seed),
    "probe_points": lambda seed: dm.probe_points(DATA, 0.3, 0.5, 20, seed=seed),
    "capture_probability": lambda seed: dm.capture_probability(DATA, 0.3, [0.2, 1.0], n=64, seed=seed),
    "trajectory_capture": lambda seed: dm.trajectory_capture(DATA, 0.3, 0.5, n=32, seed=seed),
    "basin_edge": lambda seed: dm.basin_edge(DATA, 0.3, n=64, seed=seed),
}

def _point(p, seed):
    return p + np.random.default_rng(seed).standard_normal(3)


# Functions that take an integer seed only: documented "int or None" (the projection of a hidden manifold), or a
# root from which the sweeps spawn one child seed per point (a Generator's stream cannot be split reproducibly).
INT_ONLY: dict[str, Callable] = {
    "HiddenManifold(seed)": lambda seed: dm.HiddenManifold(0.5, "tanh", N=12, seed=seed),
    "sweep": lambda seed: dm.sweep(_point, [0.0, 1.0, 2.0], seed=seed),
    "collapse_sweep": lambda seed: dm.collapse_sweep(6, 0.5, [0.5, 1.0], np.geomspace(0.05, 2.0, 8), n=32,
                                                     seed=seed),
}


def _posterior_index(rng):
    x = dm.sample_marginal(DATA, 0.5, 30, seed=1)
    return dm.sample_posterior_index(x, DATA, 0.5, rng)


def _cross_entropy(seed):
    test = dm.GaussianData(N).sample(30, seed=seed, xp=np)
    return dm.test_cross_entropy(test, DATA, [0.1, 0.5])


def _generalization(seed):
    test = dm.GaussianData(N).sample(40, seed=seed, xp=np)
    return dm.measure_generalization(test, gaussian_data(P_=200), np.geomspace(0.05, 3.0, 14), n_batches=4)


# Deterministic functions of random data: seeded from the data they are given.
PIPELINES: dict[str, Callable] = {
    "test_cross_entropy": _cross_entropy,
    "measure_generalization": _generalization,
}

ALL_INT = {**CASES, **INT_ONLY, **PIPELINES}


def _seeded(name: str, seed: int):
    """`name` evaluated with the integer `seed` (a Generator from it where the function takes an `rng`)."""
    if name == "sample_posterior_index":
        return _posterior_index(np.random.default_rng(seed))
    return ALL_INT[name](seed)


NAMES = [*ALL_INT, "sample_posterior_index"]


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_bit_identical_outputs(name):
    assert_identical(_seeded(name, SEED), _seeded(name, SEED))


@pytest.mark.parametrize("name", NAMES)
def test_another_seed_gives_other_outputs(name):
    assert differ(_seeded(name, SEED), _seeded(name, SEED + 1))


@pytest.mark.parametrize("name", [*CASES, "sample_posterior_index"])
def test_a_generator_is_used_as_documented(name):
    f = _posterior_index if name == "sample_posterior_index" else CASES[name]
    # generators from the same seed: identical outputs
    assert_identical(f(np.random.default_rng(SEED)), f(np.random.default_rng(SEED)))
    # the generator passed is the one drawn from: it advances, and the next call draws new numbers
    g = np.random.default_rng(SEED)
    first = f(g)
    assert g.bit_generator.state != np.random.default_rng(SEED).bit_generator.state
    assert differ(first, f(g))


@pytest.mark.parametrize("name", ["GaussianData.sample", "HiddenManifold.sample", "sample_marginal",
                                  *(f"sample_reverse[{m}]" for m in dm.METHODS), "excess_entropy", "probe_points"])
def test_an_int_seed_is_a_numpy_generator_seeded_with_it(name):
    # backend.default_rng: on NumPy an int seeds np.random.default_rng, a Generator is used as is
    assert_identical(CASES[name](SEED), CASES[name](np.random.default_rng(SEED)))


def _public_seeded() -> set[str]:
    """Every public function or method of diffmem with a `seed` or `rng` parameter, as ``name`` or ``Class.method``
    (a constructor as ``Class(seed)``)."""
    found = set()
    for name in dm.__all__:
        obj = getattr(dm, name)
        members = [(name, obj)] if inspect.isfunction(obj) else []
        if inspect.isclass(obj) and not issubclass(obj, BaseException):  # an error carries a seed, draws none
            members = [(f"{name}.{m}", f) for m, f in vars(obj).items()
                       if inspect.isfunction(f) and (not m.startswith("_") or m == "__init__")]
        for qual, f in members:
            if {"seed", "rng"} & set(inspect.signature(f).parameters):
                found.add(qual.replace(".__init__", "(seed)"))
    return found


def test_every_public_function_that_draws_is_covered():
    covered = {name.split("[")[0] for name in NAMES}
    missing = _public_seeded() - covered
    assert not missing, f"add reproducibility cases for {sorted(missing)}"


def test_a_hidden_manifold_projection_depends_on_its_seed_only():
    a = dm.HiddenManifold(0.5, "tanh", N=12, seed=5)
    b = dm.HiddenManifold(0.5, "relu", N=12, seed=5)  # same seed, another nonlinearity: the same projection
    np.testing.assert_array_equal(a.F, b.F)
    assert_identical(a.sample(10, seed=1, xp=np), a.sample(10, seed=1, xp=np))


# --- the number of threads of the element-wise work does not change a bit ---------------------------------------------

def _count_pool_uses(monkeypatch) -> list[int]:
    """Record the pool size each time the score engine hands exponentials to threads."""
    used: list[int] = []
    real = _parallel._executor

    def spy(n):
        used.append(n)
        return real(n)

    monkeypatch.setattr(_parallel, "_executor", spy)
    return used


def _with_threads(monkeypatch, n: int, f):
    monkeypatch.setenv("DIFFMEM_THREADS", str(n))
    assert _parallel.thread_count() == n
    return f()


def test_empirical_score_does_not_depend_on_the_thread_count(monkeypatch):
    M, P_, chunk = 512, 768, 256  # logits blocks of M x chunk = 2^17 elements >= 2^16: split over threads
    assert M * chunk >= 2 * _parallel._MIN_ELEMENTS
    data = gaussian_data(P_=P_, N_=16, seed=2)
    x = dm.sample_marginal(data, 0.2, M, seed=3)
    used = _count_pool_uses(monkeypatch)

    def run():
        return (dm.empirical_score(x, data, 0.2, chunk=chunk), dm.empirical_log_density(x, data, 0.2, chunk=chunk),
                dm.posterior_stats(x, data, 0.2, chunk=chunk))

    one = _with_threads(monkeypatch, 1, run)
    assert used == []  # one thread: no pool
    three = _with_threads(monkeypatch, 3, run)
    assert used and set(used) == {3}  # really split
    assert_identical(one, three)


@pytest.mark.parametrize("method", dm.METHODS)
def test_sample_reverse_does_not_depend_on_the_thread_count(monkeypatch, method):
    n, P_, chunk = 512, 256, 256
    assert n * chunk >= 2 * _parallel._MIN_ELEMENTS
    data = gaussian_data(P_=P_, N_=8, seed=4)
    used = _count_pool_uses(monkeypatch)

    def run():
        return dm.sample_reverse(data, n, [0.05, 0.3], method=method, steps=6, t_max=1.0, seed=SEED, chunk=chunk,
                                 progress=False)

    one = _with_threads(monkeypatch, 1, run)
    three = _with_threads(monkeypatch, 3, run)
    assert used and set(used) == {3}
    assert_identical(one, three)


def test_gaussian_collapse_fraction_reuses_an_int_seed_at_every_time():
    # documented: common random numbers across times (each time is the curve's value computed alone)
    kw = {"n_samples": 64, "n_nodes": 4, "top": 8, "n_grid": 50, "seed": SEED}
    both = dm.gaussian_collapse_fraction([0.3, 0.4], 16, 0.5, **kw)
    alone = [dm.gaussian_collapse_fraction(t, 16, 0.5, **kw) for t in (0.3, 0.4)]
    assert np.all(both.value > 0)
    np.testing.assert_array_equal(both.value, [e.value for e in alone])
    np.testing.assert_array_equal(both.stderr, [e.stderr for e in alone])


def test_gaussian_collapse_fraction_reuses_one_seed_at_every_time_even_from_a_generator():
    # common random numbers: a Generator gives one seed, drawn once, used at every time
    times = [0.3, 0.4]
    from_generator = dm.gaussian_collapse_fraction(times, 12, 0.4, n_samples=256, seed=np.random.default_rng(5))
    seed = int(np.random.default_rng(5).integers(2**63))
    from_int = dm.gaussian_collapse_fraction(times, 12, 0.4, n_samples=256, seed=seed)
    np.testing.assert_array_equal(from_generator.value, from_int.value)
