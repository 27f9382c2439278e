"""Throughput and peak memory of the streaming empirical-score engine, as ratios against GEMM in the same process.

The score for M queries and P patterns in N dimensions costs two GEMMs (logits ``x . a^T`` and ``w . a``:
4 M P N flops) plus M P exponentials. The baseline is the same two GEMMs, chunk by chunk over the patterns, with
nothing else: the ratio says how close the engine is to the machine's matrix-multiply rate.

Usage::

    python benchmarks/bench_score.py --quick          # seconds, CPU
    python benchmarks/bench_score.py                  # the issue's shapes (M=2048, N=128, P up to 2^18 on CPU)
    python benchmarks/bench_score.py --largest        # one large run with its peak memory
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

import diffmem as dm
from diffmem import backend


def _sync(xp):
    if xp.__name__ == "cupy":
        xp.cuda.Device().synchronize()


def best_of(fn, repeat, xp):
    times = []
    for _ in range(repeat):
        _sync(xp)
        t0 = time.perf_counter()
        fn()
        _sync(xp)
        times.append(time.perf_counter() - t0)
    return min(times)


def gemm_baseline(x, data, chunk):
    xp = backend.get_array_module(x)
    acc = xp.zeros_like(x)
    for start in range(0, data.shape[0], chunk):
        a = data[start:start + chunk]
        acc += (x @ a.T) @ a
    return acc


def run(M, P, N, repeat, xp, dtype=np.float64):
    rng = backend.default_rng(0, xp)
    data = rng.standard_normal((P, N), dtype=dtype)
    x = rng.standard_normal((M, N), dtype=dtype)
    chunk = dm.chunk_size(M, P, np.dtype(dtype).itemsize)
    flops = 4.0 * M * P * N
    t_gemm = best_of(lambda: gemm_baseline(x, data, chunk), repeat, xp)
    t_score = best_of(lambda: dm.empirical_score(x, data, 0.3, dtype=dtype), repeat, xp)
    return {"M": M, "P": P, "N": N, "chunk": chunk, "gemm_gflops": flops / t_gemm / 1e9,
            "score_gflops": flops / t_score / 1e9, "ratio": t_gemm / t_score, "seconds": t_score}


def peak_memory(M, P, N):
    """Peak traced NumPy allocation of one empirical_score call, next to the size of its inputs and of M x P."""
    rng = np.random.default_rng(1)
    data = rng.standard_normal((P, N))
    x = rng.standard_normal((M, N))
    tracemalloc.start()
    t0 = time.perf_counter()
    dm.empirical_score(x, data, 0.3)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"M": M, "P": P, "N": N, "seconds": seconds, "peak_MiB": peak / 2**20,
            "inputs_MiB": (data.nbytes + x.nbytes) / 2**20, "M_by_P_MiB": M * P * 8 / 2**20,
            "max_rss_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes, seconds on a CPU")
    parser.add_argument("--largest", action="store_true", help="one large run with its peak memory")
    args = parser.parse_args()
    xp = backend.active()
    print(backend.info())
    if args.largest:
        for M, P, N in [(2048, 2**20, 128)]:
            print(peak_memory(M, P, N))
        return
    shapes = [(256, 2**14, 64), (256, 2**14, 128)] if args.quick else [(2048, 2**18, n) for n in (64, 128, 256)]
    repeat = 2 if args.quick else 3
    print(f"{'M':>6} {'P':>8} {'N':>5} {'chunk':>7} {'GEMM GF/s':>10} {'score GF/s':>11} {'score/GEMM':>11}")
    for M, P, N in shapes:
        r = run(M, P, N, repeat, xp)
        print(f"{r['M']:>6} {r['P']:>8} {r['N']:>5} {r['chunk']:>7} {r['gemm_gflops']:>10.1f} "
              f"{r['score_gflops']:>11.1f} {r['ratio']:>11.2f}")


if __name__ == "__main__":
    main()
