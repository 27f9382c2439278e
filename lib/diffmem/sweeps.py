"""Sweeps over parameter grids on any :class:`concurrent.futures.Executor`: local by default, a cluster to scale out.

* :func:`sweep` evaluates a function at every point of a list, each point with its own child seed, on an executor.
* :func:`phase_diagram_sweep` is :func:`diffmem.phase_diagram` on row blocks of the ``(alpha, alpha_D)`` grid, one
  task per block, reassembled: bit for bit the single call (the solvers work element by element).
* :func:`collapse_sweep` measures the finite-N collapse curve of hidden-manifold datasets and its midpoint
  ``t_1/2`` over a grid of ``(N, alpha, alpha_D)`` (:func:`diffmem.collapse_curve`,
  :func:`diffmem.crossover_midpoint`).

Results never depend on the executor, the number of workers or the order in which tasks finish: point ``i`` of a
sweep seeded with ``seed`` always receives the ``i``-th child of ``numpy.random.SeedSequence(seed)``, and results
come back in the order of the points. The default (``executor=None``) runs the points one after the other in the
calling process; a :class:`~concurrent.futures.ThreadPoolExecutor` or
:class:`~concurrent.futures.ProcessPoolExecutor` uses the local cores.

Scaling out
-----------
A Dask cluster (package ``distributed``) hands out an executor; every sweep takes it unchanged::

    from distributed import Client
    client = Client("tcp://scheduler:8786")       # or Client(LocalCluster(...)) on one machine
    ex = client.get_executor()
    diagram = dm.phase_diagram_sweep(alpha[None, :], alpha_D[:, None], executor=ex)

The workers need ``diffmem`` installed (the same version and, for bit-identical results, the same NumPy build on
the same kind of CPU: vectorised ``exp`` and ``log`` may differ in the last bit between instruction sets). Serves
the chapters "Collapse" and "Synthesis: the phase diagram", whose full-scale (``DIFFMEM_SCALE=full``) grids can
run this way.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import reprlib
from typing import NamedTuple

import numpy as np

from ._checks import check_seed, count, latent_ratio, latent_ratios, positive
from .activations import get_activation
from .models import HiddenManifold
from .sim.crossover import collapse_curve, crossover_midpoint
from .sim.schedule import check_time
from .theory.times import Times, phase_diagram

__all__ = ["CollapseSweep", "SweepError", "collapse_sweep", "phase_diagram_sweep", "sweep"]

# the largest number of patterns collapse_sweep draws: P x N float64 must fit in memory and P in an int32 index
_MAX_PATTERNS = 2**31 - 1

_repr = reprlib.Repr()
_repr.maxstring, _repr.maxother, _repr.maxlist, _repr.maxdict = 80, 80, 8, 8


class SweepError(RuntimeError):
    """A task of a sweep raised: the message names the point (index, value, seed); the original is ``__cause__``.

    Attributes
    ----------
    index : int
        Position of the failing point in the sweep's points.
    point : object
        The point itself.
    seed : int or None
        The child seed it received (``fn(point, seed)`` reproduces the failure in the calling process).
    """

    def __init__(self, message: str, index: int, point, seed):
        super().__init__(message)
        self.index, self.point, self.seed = index, point, seed


# ------------------------------------------------------------------------------------------------------ helpers
def _check_executor(executor):
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError(
            "executor must be None (run in this process) or a concurrent.futures.Executor (an object with a submit "
            f"method, e.g. ThreadPoolExecutor, ProcessPoolExecutor or distributed's client.get_executor()), got "
            f"{executor!r}"
        )
    return executor


_SEEDS = "None, an int >= 0, a sequence of ints >= 0 or a numpy.random.SeedSequence"


def _seed_sequence(seed):
    """`seed` as the root SeedSequence of a sweep; None stays None. TypeError / ValueError naming it otherwise."""
    if isinstance(seed, np.random.Generator | np.random.BitGenerator) or type(seed).__module__.startswith("cupy"):
        raise TypeError(f"seed must be {_SEEDS} (a Generator's stream cannot be split reproducibly over workers: "
                        f"pass the int that seeded it), got {seed!r}")
    try:
        check_seed(seed)
    except (TypeError, ValueError) as exc:  # the same checks, with what a sweep accepts (no Generator)
        raise type(exc)(f"seed must be {_SEEDS}, got {seed!r}") from exc
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return seed
    if np.ndim(seed) == 1 and len(seed) == 0:
        raise TypeError(f"seed must be {_SEEDS}, got {seed!r}")
    return np.random.SeedSequence(seed if np.ndim(seed) == 0 else [int(v) for v in seed])


def _int_seed(ss: np.random.SeedSequence) -> int:
    """A 64-bit int from a SeedSequence: accepted by every ``seed`` parameter (NumPy, CuPy, diffmem)."""
    return int(ss.generate_state(1, np.uint64)[0])


def _child_seeds(seed, n: int) -> list:
    ss = _seed_sequence(seed)
    return [None] * n if ss is None else [_int_seed(child) for child in ss.spawn(n)]


def _run_chunk(fn, chunk):
    """Evaluate `fn` on the (index, point, seed) triples of one task; an error carries the index of its point."""
    out = []
    for i, point, seed in chunk:
        try:
            out.append(fn(point) if seed is None else fn(point, seed))
        except Exception as exc:
            # travels back with the exception (pickled with its __dict__) through processes and Dask workers
            with contextlib.suppress(AttributeError):  # an exception type with __slots__: the chunk is named
                exc._diffmem_sweep_index = i
            raise
    return out


def _failure(exc, chunk, start: int) -> SweepError:
    i = getattr(exc, "_diffmem_sweep_index", start)
    _, point, seed = chunk[i - start]
    seed_part = "" if seed is None else f", seed {seed}"
    return SweepError(f"sweep: point {i} ({_repr.repr(point)}{seed_part}) raised {type(exc).__name__}: {exc}",
                      i, point, seed)


# -------------------------------------------------------------------------------------------------------- sweep
def sweep(fn, points, *, executor=None, seed=None, chunksize: int = 1) -> list:
    """Evaluate ``fn`` at every point, serially or on an executor, with one child seed per point.

    Parameters
    ----------
    fn : callable
        ``fn(point, seed)`` when `seed` is given, ``fn(point)`` otherwise. For process-based executors
        (``ProcessPoolExecutor``, Dask workers) `fn`, the points and the results must be picklable: a function
        defined at module level (or a :func:`functools.partial` of one), not a lambda or a closure (Dask, which
        uses cloudpickle, also takes those).
    points : iterable
        The parameter points (tuples, dicts, arrays...), K >= 1 of them; passed to `fn` unchanged.
    executor : concurrent.futures.Executor, optional
        Anything with ``submit(fn, *args)`` returning a future: ``ThreadPoolExecutor``, ``ProcessPoolExecutor``,
        ``distributed.Client(...).get_executor()``. ``None`` (default) runs the points one after the other here.
    seed : int >= 0, sequence of ints >= 0, numpy.random.SeedSequence or None
        Point ``i`` receives the int ``SeedSequence(seed).spawn(K)[i].generate_state(1, uint64)[0]``: independent
        streams, and the same results whatever the executor, the number of workers or the order of completion.
    chunksize : int
        Points per task (larger chunks amortise the per-task overhead of a cluster).

    Returns
    -------
    list
        ``fn``'s results, in the order of `points`.

    Raises
    ------
    TypeError
        If `fn` is not callable, `executor` has no ``submit`` method, or `seed` is not an integer seed (a
        ``Generator`` included: its stream cannot be split reproducibly).
    ValueError
        If `points` is empty, `seed` is negative, or `chunksize` is not a positive integer.
    SweepError
        If ``fn`` raised: the first failing point in the order of `points` is named (index, value and seed), the
        original exception is chained as ``__cause__``; the tasks not yet started are cancelled.

    Examples
    --------
    >>> import numpy as np
    >>> from diffmem.sweeps import sweep
    >>> sweep(lambda p, s: p + np.random.default_rng(s).random(), [1.0, 2.0], seed=0) == sweep(
    ...     lambda p, s: p + np.random.default_rng(s).random(), [1.0, 2.0], seed=0)
    True
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable (fn(point, seed) or fn(point)), got {fn!r}")
    _check_executor(executor)
    chunksize = count(chunksize, "chunksize")
    points = list(points)
    if not points:
        raise ValueError("points must hold at least one point, got an empty sequence")
    triples = list(zip(range(len(points)), points, _child_seeds(seed, len(points)), strict=True))
    chunks = [triples[k:k + chunksize] for k in range(0, len(triples), chunksize)]
    if executor is None:
        results = []
        for chunk in chunks:
            try:
                results.extend(_run_chunk(fn, chunk))
            except Exception as exc:
                raise _failure(exc, chunk, chunk[0][0]) from exc
        return results
    futures = [executor.submit(_run_chunk, fn, chunk) for chunk in chunks]
    results = []
    try:
        for fut, chunk in zip(futures, chunks, strict=True):
            try:
                results.extend(fut.result())
            except Exception as exc:
                raise _failure(exc, chunk, chunk[0][0]) from exc
    finally:
        for fut in futures:  # after a failure (or an interrupt) nothing more runs for this sweep
            fut.cancel()
    return results


# ------------------------------------------------------------------------------------------------ phase diagram
def _phase_block(block):
    return phase_diagram(*block)


def phase_diagram_sweep(alpha, alpha_D, *, executor=None, block: int = 64) -> Times:
    """:func:`diffmem.phase_diagram` of the N -> infinity linear hidden manifold, one task per block of rows.

    The broadcast grid of `alpha` and `alpha_D` is cut along its first axis into blocks of `block` rows, each block
    is one :func:`~diffmem.phase_diagram` call on an executor, and the blocks are put back together. The root
    solvers iterate on every element independently, so the result equals the single call bit for bit (on workers
    with the same NumPy build and CPU kind; ``tests/test_sweeps.py``).

    Parameters
    ----------
    alpha : array_like
        ``log P / N``, finite and > 0.
    alpha_D : array_like
        In (0, 1]; broadcast against `alpha` (e.g. ``alpha[None, :]`` and ``alpha_D[:, None]``: rows are
        ``alpha_D``).
    executor : concurrent.futures.Executor, optional
        As in :func:`sweep`; ``None`` computes the blocks here, one after the other.
    block : int
        Rows of the grid per task (the whole grid is one task for a 0-d grid).

    Returns
    -------
    Times
        Fields of the broadcast shape (floats for a 0-d grid), as :func:`~diffmem.phase_diagram` returns them.

    Raises
    ------
    ValueError
        If `alpha` is not finite and > 0, `alpha_D` is outside (0, 1] (or not numbers), the shapes do not
        broadcast, or `block` is not a positive integer.
    TypeError
        If `alpha` is not numeric, or `executor` has no ``submit`` method.

    References
    ----------
    Chapter "Synthesis: the phase diagram" (THEORY.md sections 4-6).
    """
    a = positive(alpha, "alpha", "alpha = log P / N")
    aD = latent_ratios(alpha_D)
    block = count(block, "block")
    _check_executor(executor)
    try:
        shape = np.broadcast_shapes(a.shape, aD.shape)
    except ValueError as exc:
        raise ValueError(f"alpha {a.shape} and alpha_D {aD.shape} must broadcast to one grid") from exc
    if not shape:
        return sweep(_phase_block, [(a, aD)], executor=executor)[0]
    A, D = np.broadcast_to(a, shape), np.broadcast_to(aD, shape)
    blocks = [(A[k:k + block], D[k:k + block]) for k in range(0, shape[0], block)]
    parts = sweep(_phase_block, blocks, executor=executor)
    return Times(*(np.concatenate([getattr(p, f) for p in parts], axis=0) for f in Times._fields))


# --------------------------------------------------------------------------------------------- collapse sweep
class CollapseSweep(NamedTuple):
    """Collapse curves and midpoints over a grid ``(N, alpha, alpha_D)``; grid axes in that order.

    Attributes
    ----------
    N : (G1,) ndarray of int
    alpha : (G2,) ndarray
    alpha_D : (G3,) ndarray
        The grid axes.
    t : (T,) ndarray
        The forward times of the curves.
    P : (G1, G2, G3) ndarray of int
        Patterns per dataset, ``round(e^{alpha N})``.
    value, stderr : (G1, G2, G3, T) ndarray
        Collapse fraction ``P(w_max > 1/2)`` and its standard error (:func:`diffmem.collapse_curve`).
    midpoint, midpoint_stderr : (G1, G2, G3) ndarray
        ``t_1/2`` (:func:`diffmem.crossover_midpoint`); NaN where the curve does not cross 1/2 inside `t`.
    """

    N: np.ndarray
    alpha: np.ndarray
    alpha_D: np.ndarray  # noqa: N815 - the paper's symbol (DESIGN.md section 4)
    t: np.ndarray
    P: np.ndarray
    value: np.ndarray
    stderr: np.ndarray
    midpoint: np.ndarray
    midpoint_stderr: np.ndarray


def _n_patterns(N: int, alpha: float) -> int:
    log_P = alpha * N
    if log_P > math.log(_MAX_PATTERNS):
        raise ValueError(f"alpha * N must be <= {math.log(_MAX_PATTERNS):.3g} (P = e^(alpha N) patterns are drawn), "
                         f"got alpha = {alpha!r}, N = {N!r}; for Gaussian data use gaussian_collapse_fraction")
    P = round(math.exp(log_P))
    if P < 2:
        raise ValueError(f"P = round(e^(alpha N)) must be >= 2 (one pattern always collapses), got alpha = {alpha!r}, "
                         f"N = {N!r}")
    return P


def _collapse_point(point, seed, *, t, n, n_datasets, phi, engine):
    """Curve and midpoint at one grid point: projection, latent codes and direct samples from one child seed."""
    N, _alpha, alpha_D, P = point  # alpha enters through P
    ss = np.random.SeedSequence(seed)
    kids = ss.spawn(2 * n_datasets + 1)
    datasets = [
        HiddenManifold(alpha_D, phi, N=N, seed=_int_seed(kids[2 * j])).sample(P, seed=_int_seed(kids[2 * j + 1]))
        for j in range(n_datasets)
    ]
    curve = collapse_curve(datasets, t, n=n, seed=_int_seed(kids[-1]), **engine)
    try:
        mid = crossover_midpoint(t, curve.value, curve.stderr)
        m, m_err = mid.value, mid.stderr
    except ValueError:  # the curve does not cross 1/2 inside t: an outcome at this grid point, not a failure
        m, m_err = math.nan, math.nan
    return np.asarray(curve.value, dtype=np.float64), np.asarray(curve.stderr, dtype=np.float64), m, m_err


def collapse_sweep(N, alpha, alpha_D, t, *, n: int, n_datasets: int = 1, phi="linear", seed=None, executor=None,
                   chunksize: int = 1, **engine) -> CollapseSweep:
    """Finite-N collapse curves of hidden-manifold data over a grid of ``(N, alpha, alpha_D)``, one task per point.

    At each grid point, `n_datasets` datasets of ``P = round(e^{alpha N})`` points are drawn from
    ``HiddenManifold(alpha_D, phi, N)`` (each with its own projection), the collapse fraction is measured on `n`
    direct samples of ``P^e_t`` per time and dataset (:func:`diffmem.collapse_curve`), and its midpoint ``t_1/2``
    is read off (:func:`diffmem.crossover_midpoint`). Point ``i`` (C order over the grid) draws everything from the
    ``i``-th child of ``SeedSequence(seed)``: the result is the same on any executor. Book-size grids run here in
    seconds; paper-size grids (``N`` in the hundreds, ``P`` up to ~1e6) are for a GPU or a cluster (see
    "Scaling out" in :mod:`diffmem.sweeps`).

    Parameters
    ----------
    N : int or (G1,) sequence of int
        Ambient dimensions, >= 1.
    alpha : float or (G2,) array_like
        ``log P / N``, > 0, with ``2 <= round(e^{alpha N}) <= 2^31 - 1`` at every ``N``.
    alpha_D : float or (G3,) sequence of float
        Latent ratios ``D / N`` in (0, 1].
    t : (T,) array_like
        Forward times, > 0 (log-spaced around the expected ``t_c`` gives the best midpoints).
    n : int
        Direct samples per time and dataset.
    n_datasets : int
        Datasets (projections and latent codes) per grid point; the error bar then includes their spread.
    phi : {"linear", "tanh", "relu", "sign"} or Activation
        The manifold nonlinearity.
    seed : int >= 0, sequence of ints >= 0, numpy.random.SeedSequence or None
        Root of every draw; ``None`` draws fresh entropy (results then differ from run to run).
    executor : concurrent.futures.Executor, optional
        As in :func:`sweep`.
    chunksize : int
        Grid points per task.
    **engine
        ``dtype``, ``chunk``, ``memory_budget`` for the score engine.

    Returns
    -------
    CollapseSweep

    Raises
    ------
    ValueError
        For out-of-range grid values, times, counts or seed, an unknown `phi`, or a ``P`` outside
        ``[2, 2^31 - 1]``.
    TypeError
        For non-numeric times or alpha, a seed of the wrong type, or an `executor` without ``submit``.
    SweepError
        If a grid point fails (named in the message).

    References
    ----------
    Chapter "Collapse" (THEORY.md section 8).
    """
    Ns = [count(v, "N") for v in (N if np.ndim(N) else [N])]
    alphas = np.atleast_1d(positive(alpha, "alpha", "alpha = log P / N")).astype(np.float64)
    aDs = [latent_ratio(v) for v in (alpha_D if np.ndim(alpha_D) else [alpha_D])]
    if alphas.ndim != 1 or not Ns or not aDs:
        raise ValueError("N, alpha and alpha_D must each be a scalar or a non-empty 1-D sequence")
    t_arr = np.atleast_1d(check_time(t)).astype(np.float64)
    if t_arr.ndim != 1 or t_arr.size < 2:
        raise ValueError(f"t must be a 1-D array of at least 2 times, got shape {t_arr.shape}")
    n = count(n, "n")
    n_datasets = count(n_datasets, "n_datasets")
    get_activation(phi)  # a bad name fails here, before any task is sent
    seed = _seed_sequence(seed)  # checked here, before any task is sent
    if seed is None:
        seed = np.random.SeedSequence()  # fresh entropy, but one root: the points still get independent streams
    grid = [(Nv, float(a), aD, _n_patterns(Nv, float(a))) for Nv, a, aD in itertools.product(Ns, alphas, aDs)]
    task = functools.partial(_collapse_point, t=t_arr, n=n, n_datasets=n_datasets, phi=phi, engine=engine)
    out = sweep(task, grid, executor=executor, seed=seed, chunksize=chunksize)
    shape = (len(Ns), alphas.size, len(aDs))
    return CollapseSweep(
        N=np.asarray(Ns), alpha=alphas, alpha_D=np.asarray(aDs, dtype=np.float64), t=t_arr,
        P=np.reshape([p[3] for p in grid], shape),
        value=np.reshape([r[0] for r in out], (*shape, t_arr.size)),
        stderr=np.reshape([r[1] for r in out], (*shape, t_arr.size)),
        midpoint=np.reshape([r[2] for r in out], shape),
        midpoint_stderr=np.reshape([r[3] for r in out], shape),
    )
