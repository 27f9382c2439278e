"""Throughput, peak memory and scaling of the empirical-score engine, as ratios against GEMM in the same process.

The score for M queries and P patterns in N dimensions costs two GEMMs (logits ``x . a^T`` and ``w . a``:
4 M P N flops) plus M P exponentials. The baseline is the same two GEMMs, chunk by chunk over the patterns, with
nothing else, in the same dtype: ``score/GEMM`` says how close the engine is to the machine's matrix-multiply rate
(the target of issue 6: >= 0.5 on CPU with all cores, >= 0.7 on a GPU). Also printed, each on the same inputs:

* ``unfused``: the engine as it was before issue 6 (scalings, max, shift, exponential and sum as separate passes,
  exponentials on one thread), re-implemented here as a reference point;
* ``1 thread exp``: the engine with ``DIFFMEM_THREADS=1`` (what spreading the exponentials over the cores buys);
* on a GPU: the engine with the fused kernel switched off (``DIFFMEM_FUSED=0``: augmented GEMMs + CuPy exp) and
  PyTorch's ``scaled_dot_product_attention`` on the same logits (``q = [x e^{-t}/Delta, 1]``,
  ``k = [a, -e^{-2t}|a|^2 / (2 Delta)]``, ``v = a``) when PyTorch is installed;
* peak memory of one call beyond its inputs (NumPy: ``tracemalloc``; CuPy: the memory pool's high-water mark)
  next to the engine's model ``(M chunk + 2 chunk (N + 2) + 4 M (N + 2)) x itemsize`` and to an M x P matrix;
* scaling exponents: slopes of log time against log M, log P and log N over one, two and four times a base shape
  (1 = linear).

Usage::

    python benchmarks/bench_score.py --quick            # seconds, CPU
    python benchmarks/bench_score.py                    # the issue's shapes (M=2048, N=64..256, P=2^18 on CPU,
                                                        # 2^20 on a GPU)
    python benchmarks/bench_score.py --json out.json    # also write every row as JSON (the GPU script does)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import tracemalloc

import numpy as np

import diffmem as dm
from diffmem import backend


def _sync(xp):
    if xp is not np:
        xp.cuda.Device().synchronize()


def best_of(fn, repeat, xp):
    """Shortest wall time of `repeat` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        _sync(xp)
        t0 = time.perf_counter()
        fn()
        _sync(xp)
        times.append(time.perf_counter() - t0)
    return min(times)


def gemm_baseline(x, data, chunk):
    """The two GEMMs of the score, chunk by chunk, and nothing else."""
    acc = x * 0
    for start in range(0, data.shape[0], chunk):
        a = data[start:start + chunk]
        acc += (x @ a.T) @ a
    return acc


def unfused_score(x, data, t, chunk):
    """The engine before issue 6: every step of the streaming softmax a separate pass (reference point)."""
    xp = backend.get_array_module(x)
    decay, dlt = math.exp(-t), -math.expm1(-2.0 * t)
    center = data.mean(axis=0)
    xc = x - decay * center
    run_max = xp.full(x.shape[0], -xp.inf, dtype=x.dtype)
    run_sum = xp.zeros(x.shape[0], dtype=x.dtype)
    run_mean = xp.zeros_like(x)
    for start in range(0, data.shape[0], chunk):
        a = data[start:start + chunk] - center
        logits = xc @ a.T
        logits *= decay / dlt
        logits -= 0.5 * decay * decay / dlt * (a * a).sum(axis=1)[None, :]
        new_max = xp.maximum(run_max, logits.max(axis=1))
        rescale = xp.exp(run_max - new_max)
        logits -= new_max[:, None]
        xp.exp(logits, out=logits)
        run_sum = run_sum * rescale + logits.sum(axis=1)
        run_mean *= rescale[:, None]
        run_mean += logits @ a
        run_max = new_max
    return (decay * run_mean / run_sum[:, None] - xc) / dlt


def torch_sdpa(x, data, t, dtype):
    """A timer for PyTorch SDPA on the score's logits, or None when PyTorch (with CUDA) is not installed."""
    try:
        import torch  # noqa: PLC0415 - optional, GPU benchmark only
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    decay, dlt = math.exp(-t), -math.expm1(-2.0 * t)
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    xt = torch.as_tensor(backend.to_numpy(x), device="cuda", dtype=tdtype)
    at = torch.as_tensor(backend.to_numpy(data), device="cuda", dtype=tdtype)
    at = at - at.mean(0)
    q = torch.cat([xt * decay / dlt, torch.ones_like(xt[:, :1])], 1)[None, None]
    k = torch.cat([at, -0.5 * decay**2 / dlt * (at * at).sum(1, keepdim=True)], 1)[None, None]
    v = at[None, None]

    def call():
        torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=1.0)
        torch.cuda.synchronize()

    return call


def peak_memory(fn, xp):
    """Peak bytes allocated during one call of `fn` (tracemalloc for NumPy, the pool's high-water mark for CuPy)."""
    if xp is np:
        tracemalloc.start()
        fn()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return peak
    pool = xp.get_default_memory_pool()
    _sync(xp)
    pool.free_all_blocks()
    before = pool.total_bytes()
    fn()
    _sync(xp)
    return pool.total_bytes() - before


def measure(M, P, N, xp, dtype=np.float64, repeat=3, extras=True):
    """One row of the table: rates, ratios and memory for one shape."""
    rng = backend.default_rng(0, xp)
    data = rng.standard_normal((P, N), dtype=dtype)
    x = rng.standard_normal((M, N), dtype=dtype)
    t = 0.3
    itemsize = np.dtype(dtype).itemsize
    chunk = dm.chunk_size(M, P, itemsize)
    flops = 4.0 * M * P * N
    row = {"M": M, "P": P, "N": N, "dtype": np.dtype(dtype).name, "chunk": chunk}
    t_gemm = best_of(lambda: gemm_baseline(x, data, chunk), repeat, xp)
    t_score = best_of(lambda: dm.empirical_score(x, data, t, dtype=dtype), repeat, xp)
    row.update(gemm_gflops=flops / t_gemm / 1e9, score_gflops=flops / t_score / 1e9, ratio=t_gemm / t_score,
               seconds=t_score)
    if extras:
        t_old = best_of(lambda: unfused_score(x, data, t, chunk), repeat, xp)
        row["unfused_ratio"] = t_gemm / t_old
        if xp is np:
            saved = os.environ.get("DIFFMEM_THREADS")
            os.environ["DIFFMEM_THREADS"] = "1"
            try:
                row["one_thread_ratio"] = t_gemm / best_of(lambda: dm.empirical_score(x, data, t, dtype=dtype),
                                                           repeat, xp)
            finally:
                if saved is None:
                    del os.environ["DIFFMEM_THREADS"]
                else:
                    os.environ["DIFFMEM_THREADS"] = saved
        else:
            os.environ["DIFFMEM_FUSED"] = "0"
            try:
                row["gemm_path_ratio"] = t_gemm / best_of(lambda: dm.empirical_score(x, data, t, dtype=dtype),
                                                          repeat, xp)
            finally:
                del os.environ["DIFFMEM_FUSED"]
            sdpa = torch_sdpa(x, data, t, dtype)
            if sdpa is not None:
                t_sdpa = best_of(sdpa, repeat, xp)
                row.update(sdpa_gflops=flops / t_sdpa / 1e9, score_over_sdpa=t_sdpa / t_score)
    peak = peak_memory(lambda: dm.empirical_score(x, data, t, dtype=dtype), xp)
    # the engine's temporaries: the M x chunk block, two chunk x (N + 2) pattern blocks, four M x (N + 2) arrays
    model = (M * chunk + 2 * chunk * (N + 2) + 4 * M * (N + 2)) * itemsize
    row.update(peak_MiB=peak / 2**20, model_MiB=model / 2**20, inputs_MiB=(M + P) * N * itemsize / 2**20,
               M_by_P_MiB=M * P * itemsize / 2**20)
    return row


def scaling(M, P, N, xp, dtype=np.float64, repeat=3):
    """Exponents of the time in M, P and N: least-squares slopes of log t over sizes X, 2X, 4X (1 = linear)."""
    rng = backend.default_rng(1, xp)

    def seconds(m, p, n):
        data = rng.standard_normal((p, n), dtype=dtype)
        x = rng.standard_normal((m, n), dtype=dtype)
        return best_of(lambda: dm.empirical_score(x, data, 0.3, dtype=dtype), repeat, xp)

    factors = np.array([1, 2, 4])
    shapes = {"M": lambda f: (f * M, P, N), "P": lambda f: (M, f * P, N), "N": lambda f: (M, P, f * N)}
    return {name: float(np.polyfit(np.log(factors), np.log([seconds(*shape(f)) for f in factors]), 1)[0])
            for name, shape in shapes.items()}


def print_row(r):
    extra = ""
    if "unfused_ratio" in r:
        extra += f" {r['unfused_ratio']:>8.2f}"
    if "one_thread_ratio" in r:
        extra += f" {r['one_thread_ratio']:>8.2f}"
    if "gemm_path_ratio" in r:
        extra += f" {r['gemm_path_ratio']:>8.2f}"
    if "score_over_sdpa" in r:
        extra += f"  SDPA {r['sdpa_gflops']:.0f} GF/s, score/SDPA {r['score_over_sdpa']:.2f}"
    print(f"{r['M']:>6} {r['P']:>8} {r['N']:>4} {r['dtype']:>8} {r['chunk']:>6} {r['gemm_gflops']:>9.1f} "
          f"{r['score_gflops']:>10.1f} {r['ratio']:>10.2f}{extra} {r['peak_MiB']:>9.1f} {r['model_MiB']:>9.1f} "
          f"{r['M_by_P_MiB']:>9.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes, seconds on a CPU")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = parser.parse_args()
    xp = backend.active()
    info = backend.info()
    print(info)
    gpu = xp is not np
    if args.quick:
        shapes = [(512, 2**14, 64), (512, 2**14, 128), (512, 2**14, 256)]
    else:
        shapes = [(2048, 2**20 if gpu else 2**18, n) for n in (64, 128, 256)]
    dtypes = (np.float64, np.float32) if gpu else (np.float64,)
    repeat = 2 if args.quick else 3
    second = "fused off" if gpu else "1-thread"
    print(f"{'M':>6} {'P':>8} {'N':>4} {'dtype':>8} {'chunk':>6} {'GEMM GF/s':>9} {'score GF/s':>10} "
          f"{'score/GEMM':>10} {'unfused':>8} {second:>8} {'peak MiB':>9} {'model MiB':>9} {'M x P MiB':>9}")
    rows = []
    for dtype in dtypes:
        for M, P, N in shapes:
            row = measure(M, P, N, xp, dtype, repeat)
            print_row(row)
            rows.append(row)
    M, P, N = (256, 2**13, 64) if args.quick else (512, 2**15 if not gpu else 2**18, 64)
    exps = scaling(M, P, N, xp)
    print(f"scaling exponents at M={M}, P={P}, N={N} (1 = linear): "
          + ", ".join(f"{k} {v:.2f}" for k, v in exps.items())
          + " (the exponentials cost M P whatever N, so the N exponent approaches 1 only as N grows)")
    worst = min(r["ratio"] for r in rows)
    target = 0.7 if gpu else 0.5
    print(f"smallest score/GEMM: {worst:.2f} (target >= {target}): {'met' if worst >= target else 'NOT met'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "rows": rows, "scaling": {"shape": [M, P, N], **exps}}, f, indent=1)


if __name__ == "__main__":
    main()
