"""The excess-entropy meter against the per-point loop of Biroli et al. 2024's public code, in the same process.

The excess entropy of a dataset at time t is ``f(t) = s(P^e_t) - (log P / N + 1/2 log(2 pi e Delta_t))`` with
``s(P^e_t) = -(1/N) E log P^e_t(x)`` over ``x ~ P^e_t``; the cost is n evaluations of ``log P^e_t(x)``, each a
log-sum-exp over the P training points (n P N multiply-adds).

The baseline
------------
Biroli, Bonnaire, de Bortoli and Mezard, "Dynamical regimes of diffusion models" (Nat. Commun. 2024,
arXiv:2402.18491), public code at https://github.com/tbonnair/Dynamical-Regimes-of-Diffusion-Models, file
``src/Experiment_collapse.py``, cell "Compute the entropy criterion (Eq. 5)" (a script cell, not a function): the
meter they run on real datasets (ImageNet, LSUN). For each time it scales the training images once,
``X = sqrt(alpha_bar_t) a`` (our ``e^{-t} a``), then loops over ``P2 = 4e5`` points in Python, one point per
iteration::

    mu = np.random.randint(0, P)                                   # draw one sample of P^e_t ...
    Xs, _ = Diffusion.forward_diffusion(sd, images[mu], ts[mu], config)
    dist = torch.norm(Xs - X, dim=1, p=2)                          # (P,) distances, on the GPU
    dst_sq = dist.cpu().numpy()**2                                 # to the host, squared, in NumPy
    mindist = dst_sq.min()
    sumexp = np.exp(-(dst_sq - mindist)/2/Dt).sum()
    logPt[i] = -mindist/2/Dt + np.log(sumexp) - np.log(P) - N/2*np.log(2*np.pi*Dt)

and reports ``mean(logPt / N) + S0`` with ``S0 = log P / N + 1/2 log(2 pi e Dt)``, i.e. ``-f(t)`` in our sign.
:func:`per_point_loop` below performs the same operations per point: ``norm(x_i - X, axis=1)`` on the array
module of the data (CuPy on a GPU, as their torch tensors), the copy to the host, then the NumPy min / exp / sum /
log. Two deliberate differences: the samples are drawn beforehand (the very samples our meter uses, so that both
estimates can be compared to 1e-10), which takes sampling out of the baseline's time; and both meters run in float64
(theirs is float32), so that the two estimates can agree to round-off. On a CPU a sizeable share of the loop's time
is the kernel's (allocating and faulting in the (P, N) temporary of each point): that is what this loop costs when
written in NumPy.

The same repository's ``src/Gaussian_mixtures_entropy.py`` (Gaussian-mixture figure) also has a per-point NumPy
``calc_log_pt`` (the ``|x|^2 + |a|^2 - 2 a.x`` expansion) and a tensorized ``calc_log_pt_torch`` that forms a
(P, ntry) distance matrix for ``ntry = 5000`` samples at once; the per-point loop above is the one they apply to
datasets, and the one the issue names.

What is timed
-------------
* ``baseline``: :func:`per_point_loop` on precomputed samples: log-densities only, sampling excluded.
* ``log-density``: ``dm.empirical_log_density(x, data, t)`` on the same samples, plus the mean: sampling excluded,
  so ``baseline / log-density`` compares like with like.
* ``end-to-end``: ``dm.excess_entropy(data, t, n=n, seed=seed)``: sampling, log-densities and the estimate with its
  standard error; ``baseline / end-to-end`` is the ratio a user sees (at most the first one).

Times are the best of ``--repeat`` runs (a run longer than 5 s is not repeated), with a device synchronisation on
CuPy. The script also checks that the three estimates of f(t) agree to 1e-10 (float64); the end-to-end one agrees
only if ``excess_entropy`` draws its samples as ``sample_marginal(data, t, n, seed=seed)`` does.

Usage::

    python benchmarks/bench_entropy.py --quick           # about 35 s on 2 CPU cores
    python benchmarks/bench_entropy.py                   # the issue's scale: P = 2^16, N = 128, n = 4096 (minutes)
    python benchmarks/bench_entropy.py --full --json out.json   # adds P = 2^18 (for a GPU); writes the results
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

import diffmem as dm
from diffmem import backend

TOLERANCE = 1e-10
# A timed run longer than this (seconds) is not repeated.
_LONG_RUN = 5.0


def _sync(xp):
    if xp.__name__ == "cupy":
        xp.cuda.Device().synchronize()


def best_of(fn, repeat, xp):
    """Best wall time of `fn` over up to `repeat` runs (one run if it is long), and its last result."""
    times = []
    for _ in range(repeat):
        _sync(xp)
        t0 = time.perf_counter()
        out = fn()
        _sync(xp)
        times.append(time.perf_counter() - t0)
        if times[-1] > _LONG_RUN:
            break
    return min(times), out


def reference_entropy(P, N, t):
    """Entropy per dimension of P separated Gaussians of variance Delta_t: ``log P / N + 1/2 log(2 pi e Delta_t)``."""
    return math.log(P) / N + 0.5 * math.log(2.0 * math.pi * math.e * float(dm.delta(t)))


def per_point_loop(x, data, t):
    """``log P^e_t(x_i)`` point by point, as in Biroli et al.'s ``Experiment_collapse.py`` (see the module docstring).

    Parameters
    ----------
    x : (n, N) array
        Samples of ``P^e_t`` (on the backend of `data`).
    data : (P, N) array
    t : float

    Returns
    -------
    (n,) ndarray (NumPy)
    """
    xp = backend.get_array_module(data)
    P, N = data.shape
    Dt = float(dm.delta(t))
    X = math.exp(-t) * data  # scaled data, once per time
    logPt = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        Xs = x[i].reshape(-1, N)
        dist = xp.linalg.norm(Xs - X, axis=1)  # on the device when xp is CuPy, like torch.norm on theirs
        dst_sq = backend.to_numpy(dist) ** 2   # .cpu().numpy()**2
        mindist = dst_sq.min()
        sumexp = np.exp(-(dst_sq - mindist) / 2 / Dt).sum()
        logPt[i] = -mindist / 2 / Dt + np.log(sumexp) - np.log(P) - N / 2 * np.log(2 * np.pi * Dt)
    return logPt


def run(P, N, n, t, repeat, xp, seed=0):
    """Time the three meters on one shape and compare their estimates of f(t)."""
    data = backend.default_rng(seed, xp).standard_normal((P, N))
    s = seed + 1
    x = dm.sample_marginal(data, t, n, seed=s)  # the samples excess_entropy(seed=s) draws (see the docstring)
    ref = reference_entropy(P, N, t)

    t_base, log_base = best_of(lambda: per_point_loop(x, data, t), repeat, xp)
    f_base = float(np.mean(-log_base / N)) - ref

    def ours():
        log_p = dm.empirical_log_density(x, data, t)
        return float(xp.mean(log_p)), log_p

    t_logp, (mean_logp, log_p) = best_of(ours, repeat, xp)
    f_logp = -mean_logp / N - ref
    worst = float(np.max(np.abs(backend.to_numpy(log_p) - log_base)))
    t_e2e, est = best_of(lambda: dm.excess_entropy(data, t, n=n, seed=s), repeat, xp)
    return {"P": P, "N": N, "n": n, "t": t, "backend": xp.__name__,
            "f_baseline": f_base, "f_log_density": f_logp, "f_end_to_end": float(est.value),
            "stderr": float(est.stderr), "max_pointwise_log_density_diff": worst,
            "diff_log_density": abs(f_logp - f_base), "diff_end_to_end": abs(float(est.value) - f_base),
            "seconds_baseline": t_base, "seconds_log_density": t_logp, "seconds_end_to_end": t_e2e,
            "speedup_log_density": t_base / t_logp, "speedup_end_to_end": t_base / t_e2e}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes, well under a minute on 2 CPU cores")
    parser.add_argument("--full", action="store_true", help="also P = 2^18 (for a GPU)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs (runs over 5 s: one)")
    parser.add_argument("--json", metavar="PATH", help="write the results (with backend.info()) to PATH")
    args = parser.parse_args()
    xp = backend.active()
    info = backend.info()
    print(info)
    if args.quick:
        shapes = [(2**12, 64, 512, 0.3), (2**13, 128, 1024, 0.3), (2**14, 128, 1024, 0.3)]
    else:
        shapes = [(2**16, 128, 4096, 0.3)]
        if args.full:
            shapes.append((2**18, 128, 4096, 0.3))
    print("baseline: per-point loop of Biroli et al. 2024 (Experiment_collapse.py) on precomputed samples;")
    print("log-dens: dm.empirical_log_density on the same samples; end-to-end: dm.excess_entropy (with sampling)")
    print(f"{'P':>7} {'N':>4} {'n':>5} {'t':>4} {'f(t)':>9} {'|diff| ld':>9} {'|diff| e2e':>10} {'max|dlogp|':>10} "
          f"{'base s':>8} {'log-dens s':>10} {'e2e s':>7} {'x ld':>6} {'x e2e':>6}")
    results = []
    for P, N, n, t in shapes:
        r = run(P, N, n, t, args.repeat, xp)
        results.append(r)
        print(f"{P:>7} {N:>4} {n:>5} {t:>4} {r['f_baseline']:>9.5f} {r['diff_log_density']:>9.1e} "
              f"{r['diff_end_to_end']:>10.1e} {r['max_pointwise_log_density_diff']:>10.1e} "
              f"{r['seconds_baseline']:>8.3f} {r['seconds_log_density']:>10.4f} "
              f"{r['seconds_end_to_end']:>7.4f} {r['speedup_log_density']:>6.1f} {r['speedup_end_to_end']:>6.1f}")
    bad = [r for r in results if r["diff_log_density"] > TOLERANCE]
    if any(r["diff_end_to_end"] > TOLERANCE for r in results):
        print("note: excess_entropy's estimate differs from the baseline's by more than 1e-10: it no longer draws "
              "the samples sample_marginal(seed=seed) draws, or its log-density differs")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"info": {k: str(v) for k, v in info.items()}, "tolerance": TOLERANCE, "results": results},
                      fh, indent=1)
    if bad:
        raise SystemExit(f"log-density estimates disagree with the baseline beyond {TOLERANCE}: {bad}")


if __name__ == "__main__":
    main()
