"""Sweeps on executors: identical results serially, on threads, on processes and on a two-worker Dask cluster.

The references are independent of the executors: the documented seed of point ``i`` computed here from
``SeedSequence(seed).spawn(K)``, and one :func:`diffmem.phase_diagram` call on the whole grid.
"""

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
from distributed import Client, LocalCluster

import diffmem as dm
from diffmem.sweeps import SweepError, collapse_sweep, phase_diagram_sweep, sweep

# ---------------------------------------------------------------------------------------------- task functions
# module level, so that they pickle by reference into spawned processes and Dask workers


def _noisy(point, seed):
    """A seeded draw at a parameter point (dict): mean + scale * normal, three numbers."""
    rng = np.random.default_rng(seed)
    return point["mean"] + point["scale"] * rng.standard_normal(3)


def _square(point):
    return point * point


def _fails_at_three(point, seed):
    if point == 3:
        raise ValueError(f"no good at {point}")
    return point + np.random.default_rng(seed).random()


def _slow_first(point):
    time.sleep(0.02 * (5 - point))  # the first points finish last on a pool
    return point


POINTS = [{"mean": float(m), "scale": s} for m in range(4) for s in (0.5, 2.0)]
T = np.geomspace(0.02, 2.0, 10)
GRID = {"N": [8, 12], "alpha": [0.4, 0.6], "alpha_D": [0.5, 1.0]}


# ----------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def process_pool():
    # spawn, not fork: the pytest process runs threads (Dask's, diffmem's), and forking a threaded process is
    # unsafe (Python 3.12 warns about it)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


@pytest.fixture(scope="module")
def thread_pool():
    with ThreadPoolExecutor(3) as pool:
        yield pool


@pytest.fixture(scope="module")
def dask_executor():
    """A Dask cluster of two single-threaded worker processes on loopback, and its client's executor."""
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    client = Client(cluster)
    try:
        assert len(client.scheduler_info()["workers"]) == 2
        yield client.get_executor()
    finally:
        client.close()
        cluster.close()


@pytest.fixture(params=["serial", "threads", "processes", "dask"])
def executor(request):
    if request.param == "serial":
        return None
    return request.getfixturevalue({"threads": "thread_pool", "processes": "process_pool",
                                    "dask": "dask_executor"}[request.param])


def _reference_seeds(seed, k):
    return [int(c.generate_state(1, np.uint64)[0]) for c in np.random.SeedSequence(seed).spawn(k)]


# ---------------------------------------------------------------------------------------------------- sweep
@pytest.mark.parametrize("chunksize", [1, 3])
def test_sweep_matches_the_documented_seeds_on_every_executor(executor, chunksize):
    expected = [_noisy(p, s) for p, s in zip(POINTS, _reference_seeds(7, len(POINTS)), strict=True)]
    got = sweep(_noisy, POINTS, executor=executor, seed=7, chunksize=chunksize)
    assert len(got) == len(POINTS)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)


def test_sweep_without_seed_calls_fn_with_the_point_only(executor):
    assert sweep(_square, range(5), executor=executor) == [0, 1, 4, 9, 16]


def test_sweep_returns_results_in_the_order_of_the_points(thread_pool):
    assert sweep(_slow_first, range(5), executor=thread_pool) == list(range(5))


def test_sweep_seeds_are_independent_and_depend_on_the_root():
    a = sweep(_noisy, POINTS, seed=1)
    b = sweep(_noisy, POINTS, seed=2)
    normals = [(r - p["mean"]) / p["scale"] for r, p in zip(a, POINTS, strict=True)]
    assert len({float(z[0]) for z in normals}) == len(POINTS)  # one stream per point, not a shared one
    assert not any(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    root = np.random.SeedSequence(1)
    np.testing.assert_array_equal(np.concatenate(sweep(_noisy, POINTS, seed=root)), np.concatenate(a))


# ---------------------------------------------------------------------------------------------- phase diagram
def test_phase_diagram_sweep_is_the_single_call_bit_for_bit(executor):
    alpha = np.geomspace(1e-3, 3.0, 23)
    alpha_D = np.linspace(0.02, 1.0, 11)
    full = dm.phase_diagram(alpha[None, :], alpha_D[:, None])
    got = phase_diagram_sweep(alpha[None, :], alpha_D[:, None], executor=executor, block=4)  # blocks of 4, 4, 3
    for field in dm.Times._fields:
        assert getattr(got, field).shape == (11, 23)
        np.testing.assert_array_equal(getattr(got, field), getattr(full, field), err_msg=field)


@pytest.mark.parametrize(("alpha", "alpha_D", "block"), [
    (0.3, 0.5, 1),  # a 0-d grid: one task, floats back
    (np.array([0.1, 0.5, 2.0]), 0.25, 2),  # 1-D: blocks of elements
    (np.full((2, 3, 4), 0.7), np.linspace(0.1, 1.0, 4), 1),  # 3-D: blocks along the first axis
])
def test_phase_diagram_sweep_other_shapes(alpha, alpha_D, block):
    full = dm.phase_diagram(alpha, alpha_D)
    got = phase_diagram_sweep(alpha, alpha_D, block=block)
    for field in dm.Times._fields:
        g, f = getattr(got, field), getattr(full, field)
        assert type(g) is type(f)
        np.testing.assert_array_equal(g, f, err_msg=field)


# --------------------------------------------------------------------------------------------- collapse sweep
@pytest.fixture(scope="module")
def collapse_serial():
    return collapse_sweep(**GRID, t=T, n=64, seed=11)


def test_collapse_sweep_is_the_same_on_every_executor(executor, collapse_serial):
    got = collapse_sweep(**GRID, t=T, n=64, seed=11, executor=executor, chunksize=3)
    for field in type(got)._fields:
        np.testing.assert_array_equal(getattr(got, field), getattr(collapse_serial, field), err_msg=field)


def test_collapse_sweep_curves_and_midpoints(collapse_serial):
    r = collapse_serial
    assert r.value.shape == r.stderr.shape == (2, 2, 2, T.size)
    assert r.midpoint.shape == r.P.shape == (2, 2, 2)
    np.testing.assert_array_equal(r.P, np.round(np.exp(np.multiply.outer(r.N, r.alpha)))[:, :, None] + 0 * r.alpha_D)
    # nearly every sample collapses at the smallest time and none at the largest (t = 2 is far above t_c here)
    assert np.all(r.value[..., 0] > 0.9)
    np.testing.assert_array_equal(r.value[..., -1], 0.0)
    # the midpoints are those of the returned curves (their order in alpha is left to the chapter's larger sizes:
    # at N = 8 with one dataset the dataset-to-dataset spread is as large as the shift)
    for idx in np.ndindex(r.midpoint.shape):
        mid = dm.crossover_midpoint(T, r.value[idx], r.stderr[idx])
        assert (mid.value, mid.stderr) == (r.midpoint[idx], r.midpoint_stderr[idx])
    assert np.all(np.isfinite(r.midpoint))
    assert np.all((r.midpoint > T[0]) & (r.midpoint < T[-1]))


def test_collapse_sweep_reports_nan_where_the_curve_does_not_cross():
    r = collapse_sweep(8, 0.4, 1.0, np.array([1.5, 2.0, 3.0]), n=16, seed=0)  # all times above the crossover
    assert np.isnan(r.midpoint).all()
    assert np.isnan(r.midpoint_stderr).all()
    np.testing.assert_array_equal(r.value, 0.0)


# ---------------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("chunksize", [1, 2])
def test_a_failing_point_is_named(executor, chunksize):
    with pytest.raises(SweepError, match=r"point 3 \(3, seed \d+\) raised ValueError: no good at 3") as info:
        sweep(_fails_at_three, range(6), executor=executor, seed=5, chunksize=chunksize)
    err = info.value
    assert (err.index, err.point, err.seed) == (3, 3, _reference_seeds(5, 6)[3])
    assert isinstance(err.__cause__, ValueError)
    with pytest.raises(ValueError, match="no good at 3"):  # the seed in the message reproduces it here
        _fails_at_three(err.point, err.seed)


def test_a_failing_point_without_seed():
    with pytest.raises(SweepError, match=r"point 1 \('a'\) raised TypeError"):
        sweep(_square, [2, "a", 3])


class _NotAnExecutor:
    def map(self, fn, *iterables):
        return map(fn, *iterables)


@pytest.mark.parametrize("bad", [_NotAnExecutor(), "threads", 4])
def test_executor_without_submit_is_refused(bad):
    with pytest.raises(TypeError, match=r"executor must be None .* or a concurrent\.futures\.Executor"):
        sweep(_square, [1, 2], executor=bad)
    with pytest.raises(TypeError, match="executor must be"):
        phase_diagram_sweep(0.5, 0.5, executor=bad)


@pytest.mark.parametrize("points", [[], (), iter([])])
def test_empty_points_are_refused(points):
    with pytest.raises(ValueError, match="points must hold at least one point"):
        sweep(_square, points)


@pytest.mark.parametrize(("seed", "exc"), [
    (-1, ValueError), ([1, -2], ValueError),
    (1.5, TypeError), (True, TypeError), ("0", TypeError), (1j, TypeError), ([], TypeError),
    (np.random.default_rng(0), TypeError),  # its stream cannot be split reproducibly over workers
])
def test_bad_seed_is_refused(seed, exc):
    with pytest.raises(exc, match=r"seed must be None, an int >= 0, .* or a numpy\.random\.SeedSequence"):
        sweep(_noisy, POINTS, seed=seed)
    with pytest.raises(exc, match="seed must be"):
        collapse_sweep(8, 0.5, 0.5, T, n=4, seed=seed)


def test_a_sequence_of_ints_seeds_like_its_seed_sequence():
    a = sweep(_noisy, POINTS, seed=[3, 4])
    b = sweep(_noisy, POINTS, seed=np.random.SeedSequence([3, 4]))
    np.testing.assert_array_equal(np.concatenate(a), np.concatenate(b))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"chunksize": 0}, "chunksize must be a positive integer, got 0"),
    ({"chunksize": 1.0}, "chunksize must be a positive integer"),
])
def test_bad_chunksize_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sweep(_square, [1], **kwargs)


def test_fn_must_be_callable():
    with pytest.raises(TypeError, match="fn must be callable"):
        sweep("not a function", [1])


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    ((0.5, 1.5), {}, r"alpha_D must be in \(0, 1\] \(the latent dimension ratio D / N\), got 1.5"),
    ((0.5, [0.5, 0.0]), {}, r"alpha_D must be in \(0, 1\] .*, got 0.0"),
    ((0.5, float("nan")), {}, r"alpha_D must be in \(0, 1\] .*, got nan"),
    ((0.5, "0.5"), {}, r"alpha_D must be in \(0, 1\] .*, got '0.5'"),
    ((0.5, None), {}, r"alpha_D must be in \(0, 1\]"),
    ((0.5, []), {}, "alpha_D must not be empty"),
    ((-0.5, 0.5), {}, "alpha must be finite and > 0"),
    ((np.ones(3), np.ones(4)), {}, r"alpha \(3,\) and alpha_D \(4,\) must broadcast"),
    ((0.5, 0.5), {"block": 0}, "block must be a positive integer, got 0"),
])
def test_phase_diagram_sweep_bad_inputs(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        phase_diagram_sweep(*args, **kwargs)


@pytest.mark.parametrize(("kwargs", "exc", "message"), [
    ({"N": 8, "alpha": 0.01}, ValueError, r"P = round\(e\^\(alpha N\)\) must be >= 2"),
    ({"N": 100, "alpha": 0.5}, ValueError, r"alpha \* N must be <= 21.5"),
    ({"N": 0}, ValueError, "N must be a positive integer, got 0"),
    ({"alpha_D": 1.2}, ValueError, r"alpha_D must be in \(0, 1\]"),
    ({"t": [0.5]}, ValueError, "t must be a 1-D array of at least 2 times"),
    ({"n": 0}, ValueError, "n must be a positive integer"),
    ({"n_datasets": 0}, ValueError, "n_datasets must be a positive integer"),
    ({"phi": "cubic"}, ValueError, "cubic"),
])
def test_collapse_sweep_bad_inputs(kwargs, exc, message):
    args = {"N": 8, "alpha": 0.5, "alpha_D": 0.5, "t": T, "n": 8, **kwargs}
    with pytest.raises(exc, match=message):
        collapse_sweep(**args)
