"""Benchmark: the four times of the linear hidden manifold on an (alpha, alpha_D) grid.

Times :func:`diffmem.theory.times.phase_diagram` (one vectorised computation with the closed-form Marchenko-Pastur
moments) and a loop of :func:`diffmem.theory.times.times` calls (one per alpha_D, vectorised over alpha) on a
100 x 100 grid, against a naive baseline in the same process: ``scipy.optimize.brentq`` point by point on the
512-node Gauss rule of ``HiddenManifold(alpha_D).spectrum()``, run on a smaller subgrid and compared per point.

Usage: ``python benchmarks/bench_theory.py [--quick]`` (``--quick``: 30 x 30 grid, 4 x 4 baseline subgrid).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import brentq

from diffmem import HiddenManifold
from diffmem.theory.times import phase_diagram, times


def naive_times(alpha: float, alpha_D: float):
    """The four times by scalar brentq on quadrature averages (the baseline)."""
    spec = HiddenManifold(alpha_D).spectrum()
    lam, w = spec.values, spec.weights

    def i_of(u):  # u = log h^2
        return 0.5 * w @ np.log1p(lam * np.exp(-u))

    def onset(u):
        c = np.exp(-u)
        return w @ (0.5 * np.log1p(c * lam) + 0.5 * c * lam / (1.0 + c * lam)) - alpha

    def sigma(v):  # v = log(2 theta)
        x = np.exp(v) * lam
        return alpha - w @ (0.5 * np.log1p(x) - 0.5 * x / (1.0 + x) ** 2)

    u_c = brentq(lambda u: i_of(u) - alpha, -300.0, 300.0, xtol=1e-14)
    u_o = brentq(onset, -300.0, 300.0, xtol=1e-14)
    v = brentq(sigma, -300.0, 300.0, xtol=1e-14)
    h2_cond = np.exp(-v)
    x = lam / h2_cond
    d_min = h2_cond * (w @ (1.0 - 1.0 / (1.0 + x) ** 2))
    to_t = lambda h2: 0.5 * np.log1p(h2)  # noqa: E731
    return to_t(d_min), to_t(h2_cond), to_t(np.exp(u_c)), to_t(np.exp(u_o))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 x 30 grid, 4 x 4 baseline subgrid")
    args = parser.parse_args(argv)
    n, n_sub = (30, 4) if args.quick else (100, 10)
    alpha = np.linspace(0.02, 1.0, n)
    alpha_D = np.linspace(0.05, 1.0, n)

    phase_diagram(alpha[:2], alpha_D[:2])  # warm caches and imports
    t0 = time.perf_counter()
    grid = phase_diagram(alpha[None, :], alpha_D[:, None])
    t_grid = time.perf_counter() - t0

    t0 = time.perf_counter()
    looped = [times(alpha, HiddenManifold(float(b))) for b in alpha_D]
    t_loop = time.perf_counter() - t0

    idx_a = np.linspace(0, n - 1, n_sub).astype(int)
    idx_d = np.linspace(0, n - 1, n_sub).astype(int)
    t0 = time.perf_counter()
    naive = np.array([[naive_times(alpha[i], alpha_D[j]) for i in idx_a] for j in idx_d])
    t_naive = time.perf_counter() - t0

    ours = np.stack([np.asarray(f)[np.ix_(idx_d, idx_a)] for f in grid[:4]], axis=-1)
    err = np.max(np.abs(ours - naive) / naive)
    loop_err = max(np.max(np.abs(np.asarray(looped[j].t_c) - grid.t_c[j])) for j in range(n))
    per_point_naive = t_naive / n_sub**2
    print(f"grid {n} x {n} (alpha in [0.02, 1], alpha_D in [0.05, 1]), four times per point")
    print(f"  phase_diagram (vectorised, closed-form moments): {t_grid:8.3f} s")
    print(f"  times() per alpha_D (vectorised over alpha):     {t_loop:8.3f} s")
    print(f"  naive brentq, {n_sub} x {n_sub} subgrid:               {t_naive:8.3f} s "
          f"({1e3 * per_point_naive:.2f} ms/point -> {per_point_naive * n * n:.1f} s for the grid)")
    print(f"  speed-up vs naive (per point): phase_diagram x{per_point_naive * n * n / t_grid:.0f}, "
          f"times loop x{per_point_naive * n * n / t_loop:.0f}")
    print(f"  max relative difference vs naive: {err:.1e}; loop vs grid: {loop_err:.1e}")


if __name__ == "__main__":
    main()
