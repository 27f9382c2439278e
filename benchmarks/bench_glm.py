"""Time one collapse-time solve of the replica (nonlinear hidden manifold) theory per nonlinearity.

For each phi the production path ``glm_collapse_time`` is timed against a reference path run in the same process:
the same solver with every channel grid refined by ``--ref-res`` (default 2, i.e. ~8x the work for tanh). The
script prints seconds per solve, the speed ratio and the difference of the two t_c (the accuracy evidence).

Usage: ``python benchmarks/bench_glm.py [--quick] [--ref-res 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from diffmem.activations import get_activation
from diffmem.theory import glm

CASES = [(0.05, 0.1), (0.2, 0.1), (0.3, 0.5), (1.0, 0.25), (2.0, 1.0)]  # (alpha, alpha_D)
QUICK_CASES = [(0.05, 0.1), (1.0, 0.25)]


def _time(fn, repeat: int) -> tuple[float, float]:
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), value


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two cases, one repeat")
    parser.add_argument("--ref-res", type=float, default=2.0, help="grid refinement of the reference path")
    args = parser.parse_args(argv)
    cases, repeat = (QUICK_CASES, 1) if args.quick else (CASES, 3)
    print(f"{'phi':7s} {'alpha':>6s} {'alpha_D':>7s} {'t_c':>14s} {'fast [s]':>9s} {'ref [s]':>9s} "
          f"{'ratio':>6s} {'|dt_c|':>9s}")
    worst = {}
    for name in ("linear", "tanh", "relu", "sign"):
        act = get_activation(name)
        for alpha, alpha_D in cases:
            glm.glm_small_t(alpha_D, act)  # cached per (phi, alpha_D): keep it out of both timings
            fast_s, t_fast = _time(lambda a=alpha, d=alpha_D, f=act: glm.glm_collapse_time(a, d, f), repeat)
            ref_s, t_ref = _time(lambda a=alpha, d=alpha_D, f=act: glm._collapse_one(a, d, f, None, args.ref_res)[0],
                                 1)
            diff = abs(t_fast - t_ref) if t_fast != t_ref else 0.0
            worst[name] = max(worst.get(name, 0.0), fast_s)
            print(f"{name:7s} {alpha:6.2f} {alpha_D:7.2f} {t_fast:14.10f} {fast_s:9.4f} {ref_s:9.4f} "
                  f"{ref_s / fast_s:6.1f} {diff:9.1e}")
    print("slowest solve per phi [s]: " + ", ".join(f"{k} {v:.3f}" for k, v in worst.items()))


if __name__ == "__main__":
    main()
