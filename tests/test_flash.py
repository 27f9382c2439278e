"""The fused streaming-softmax kernel (diffmem.sim.flash) against a direct log-sum-exp over the M x P logits.

Where there is no GPU the kernel source itself is compiled for the CPU by ``tests/cuda_emulation`` (g++, each block's
threads as std::threads) and run on small launches; the GPU tests run the same checks through CuPy/NVRTC.

Tolerances. float64: 1e-10 relative to the natural scale of each output (row_max: the logit magnitude
``c = max_mu sum_k |q_k a_muk| + |b_mu|``; row_sum: itself; V: ``sum_mu p_mu |a_mu|``, which covers
cancellation). float32: the worst-case rounding bound of the computation (Higham's gamma_n), with u = 2^-24:
a logit carries an error <= (N + 2) u c, so row_max errs by at most that, every ``exp(l - max)`` by a relative
2 (N + 2) u c + u, and the sums add (terms + 16) u for the sequential and butterfly additions; a factor 2 margin.
"""

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from diffmem.sim import flash

EMU_DIR = Path(__file__).parent / "cuda_emulation"
SOURCE = Path(flash.__file__).with_name("flash.cu")


# --------------------------------------------------------------------------------------------------- reference


def reference(q, a, bias):
    """row_max, row_sum, V and the error scales, in float64 from a dense M x P logit matrix."""
    q, a, bias = (np.asarray(x, dtype=np.float64) for x in (q, a, bias))
    logits = q @ a.T + bias
    row_max = logits.max(axis=1)
    w = np.exp(logits - row_max[:, None])
    scale_logit = (np.abs(q) @ np.abs(a).T + np.abs(bias)).max(axis=1)
    return row_max, w.sum(axis=1), w @ a, scale_logit, w @ np.abs(a)


def assert_close(got, q, a, bias):
    row_max, row_sum, V = (np.asarray(x, dtype=np.float64) for x in got)
    ref_max, ref_sum, ref_V, c, scale_V = reference(q, a, bias)
    assert row_max.shape == ref_max.shape and row_sum.shape == ref_sum.shape and V.shape == ref_V.shape
    if q.dtype == np.float64:
        tol_max = 1e-10 * c
        tol_rel = np.full_like(c, 1e-10)
    else:
        u = 2.0**-24
        N, P = a.shape[1], a.shape[0]
        tol_max = 2 * (N + 2) * u * c
        tol_rel = 2 * (2 * (N + 2) * u * c + (P + 18) * u)
    for name, got_x, ref_x, tol in (
        ("row_max", row_max, ref_max, tol_max),
        ("row_sum", row_sum, ref_sum, tol_rel * ref_sum),
        ("V", V, ref_V, tol_rel[:, None] * scale_V),
    ):
        err = np.abs(got_x - ref_x)
        bad = ~(err <= tol)  # NaN counts as bad
        assert not bad.any(), (
            f"{name}: {bad.sum()} of {bad.size} entries off; worst error {np.nanmax(err)} "
            f"(tolerance there {np.ravel(tol)[np.nanargmax(err)]})"
        )


def make_inputs(M, P, N, dtype, kind, seed=0):
    """Random q (M, N), a (P, N), bias (P,).

    kinds: "normal" (logits O(1)), "far" (bias ~ -1e4 and spread patterns: one pattern dominates each row),
    "ramp" (bias rising with mu: the running max grows at every tile and the rescaling is exercised),
    "fall" (bias falling with mu).
    """
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((M, N)) / N**0.25
    a = rng.standard_normal((P, N)) / N**0.25
    if kind == "normal":
        bias = rng.standard_normal(P)
    elif kind == "far":
        a *= 30.0
        bias = -rng.uniform(1e4, 2e4, P)
    elif kind == "ramp":
        bias = np.linspace(-60.0, 60.0, P) + rng.standard_normal(P)
    elif kind == "fall":
        bias = np.linspace(60.0, -60.0, P) + rng.standard_normal(P)
    else:
        raise ValueError(kind)
    return q.astype(dtype), a.astype(dtype), bias.astype(dtype)


# --------------------------------------------------------------------------------------------------- CPU emulation


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    """Builds (once per configuration and session) and runs flash.cu on the CPU; returns run(q, a, bias, ...)."""
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.fail("g++ is needed to test the CUDA kernel on the CPU (tests/cuda_emulation); install it "
                    "(Debian/Ubuntu: apt-get install g++)")
    build_dir = tmp_path_factory.mktemp("cuda_emulation")
    binaries = {}

    def build(dtype, N, TM, TP):
        key = (np.dtype(dtype).str, N, TM, TP)
        if key not in binaries:
            exe = build_dir / f"flash_{'f64' if dtype == np.float64 else 'f32'}_N{N}_{TM}x{TP}"
            cmd = [gxx, "-std=c++20", "-O1", "-pthread", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas",
                   f"-DDM_DOUBLE={int(dtype == np.float64)}", f"-DHEAD_DIM={N}", f"-DDM_TM={TM}", f"-DDM_TP={TP}",
                   f'-DFLASH_SOURCE="{SOURCE}"', f"-I{EMU_DIR}", str(EMU_DIR / "flash_driver.cpp"), "-o", str(exe)]
            res = subprocess.run(cmd, capture_output=True, text=True, check=False)
            assert res.returncode == 0, f"g++ failed on the emulated kernel:\n{' '.join(cmd)}\n{res.stderr}"
            binaries[key] = exe
        return binaries[key]

    counter = iter(range(10**6))

    def run(q, a, bias, splits=None, tile=None):
        M, N = q.shape
        P = a.shape[0]
        TM, TP = tile if tile is not None else flash._tile_config(q.dtype.itemsize, N)[:2]
        BM, BP = 16 * TM, 16 * TP
        if splits is None:
            tiles_per_split, n_splits = flash._split_plan(M, P, BM, BP, target_blocks=6)
        else:
            tiles_per_split, n_splits = flash._split_count(P, BP, splits)
        exe = build(q.dtype, N, TM, TP)
        work = build_dir / f"run{next(counter)}"
        work.mkdir()
        for name, x in (("q", q), ("a", a), ("bias", bias)):
            np.ascontiguousarray(x).tofile(work / f"{name}.bin")
        res = subprocess.run([str(exe), str(work), str(M), str(P), str(tiles_per_split), str(n_splits)],
                             capture_output=True, text=True, check=False, timeout=600)
        assert res.returncode == 0, f"emulated kernel failed: {res.stderr}"
        assert f"smem_bytes={flash._smem_bytes(q.dtype.itemsize, N, TM, TP)} " in res.stdout
        part_max = np.fromfile(work / "part_max.bin", dtype=q.dtype).reshape(n_splits, M)
        part_sum = np.fromfile(work / "part_sum.bin", dtype=q.dtype).reshape(n_splits, M)
        part_V = np.fromfile(work / "part_V.bin", dtype=q.dtype).reshape(n_splits, M, N)
        return flash._merge(np, part_max, part_sum, part_V)

    return run


# (M, P, N, kind, splits, tile): tile None = the shape flash.py picks for the GPU
EMU_CASES = [
    (37, 100, 1, "normal", None, None),
    (70, 300, 3, "normal", 3, None),
    (20, 5, 3, "normal", None, None),  # P smaller than one pattern tile, M smaller than one row tile
    (130, 200, 64, "normal", 2, None),
    (45, 150, 130, "far", 2, None),
    (33, 77, 130, "normal", None, None),
    (40, 200, 3, "ramp", 2, (1, 1)),  # 16 x 16 tiles: many tiles per block, the max grows in each
    (40, 200, 5, "fall", 3, (1, 1)),
    (24, 90, 17, "far", 1, (2, 1)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize(("M", "P", "N", "kind", "splits", "tile"), EMU_CASES)
def test_emulated_kernel_matches_logsumexp(emulator, dtype, M, P, N, kind, splits, tile):
    q, a, bias = make_inputs(M, P, N, dtype, kind, seed=M + P + N)
    assert_close(emulator(q, a, bias, splits=splits, tile=tile), q, a, bias)


def test_emulated_kernel_single_pattern_dominates(emulator):
    """Patterns far apart: each row's weight sits on one pattern, V is that pattern, row_sum is 1."""
    q, a, _ = make_inputs(50, 120, 64, np.float64, "far", seed=3)
    # logits -1e4 k + O(100), k = 1..P: gaps of 1e4 between patterns, so exp(-gap) underflows to 0
    bias = -1e4 * (1.0 + np.random.default_rng(4).permutation(120))
    row_max, row_sum, V = emulator(q, a, bias, splits=2)
    logits = q @ a.T + bias
    best = logits.argmax(axis=1)
    np.testing.assert_allclose(row_sum, 1.0, rtol=1e-12)
    np.testing.assert_allclose(V, a[best], rtol=1e-12, atol=1e-12 * np.abs(a).max())
    np.testing.assert_allclose(row_max, logits.max(axis=1), rtol=1e-13)


# --------------------------------------------------------------------------------------------------- host logic


@pytest.mark.parametrize("itemsize", [4, 8])
def test_tile_config_fits_every_head_dim(itemsize):
    for N in range(1, flash.MAX_HEAD_DIM + 1):
        TM, TP, min_blocks = flash._tile_config(itemsize, N)
        smem = flash._smem_bytes(itemsize, N, TM, TP)
        assert smem <= flash._DEFAULT_SMEM_OPTIN
        if min_blocks == 2:
            assert 2 * (smem + 1024) <= flash._DEFAULT_SMEM_SM


@pytest.mark.parametrize(("M", "P", "BM", "BP", "target"), [(2048, 2**20, 128, 64, 528), (5, 3, 128, 64, 528),
                                                             (300, 1000, 64, 32, 1), (2048, 700, 64, 64, 10**6)])
def test_split_plan_covers_every_tile_once(M, P, BM, BP, target):
    tiles_per_split, splits = flash._split_plan(M, P, BM, BP, target)
    n_tiles = math.ceil(P / BP)
    assert tiles_per_split * (splits - 1) < n_tiles <= tiles_per_split * splits  # no empty split, all covered


def test_merge_of_splits_equals_direct():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((7, 40)) * 20
    a = rng.standard_normal((40, 3))
    parts = []
    for sl in (slice(0, 10), slice(10, 11), slice(11, 40)):
        m = logits[:, sl].max(axis=1)
        w = np.exp(logits[:, sl] - m[:, None])
        parts.append((m, w.sum(axis=1), w @ a[sl]))
    row_max, row_sum, V = flash._merge(np, *(np.stack(x) for x in zip(*parts, strict=True)))
    m = logits.max(axis=1)
    w = np.exp(logits - m[:, None])
    np.testing.assert_allclose(row_max, m, rtol=1e-15)
    np.testing.assert_allclose(row_sum, w.sum(axis=1), rtol=1e-13)
    np.testing.assert_allclose(V, w @ a, rtol=1e-12, atol=1e-13)


def test_numpy_inputs_are_refused():
    q = np.zeros((4, 3))
    assert not flash.flash_supported(q)
    with pytest.raises(TypeError, match="CuPy"):
        flash.flash_softmax_stream(q, np.zeros((5, 3)), np.zeros(5))


# --------------------------------------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize(("M", "P", "N", "kind"), [
    (300, 5000, 64, "normal"), (257, 3000, 128, "normal"), (100, 2000, 256, "normal"), (77, 1000, 3, "far"),
    (129, 4000, 64, "ramp"), (10, 7, 130, "normal"), (1, 1, 1, "normal"),
])
def test_gpu_kernel_matches_logsumexp(dtype, M, P, N, kind):
    import cupy  # noqa: PLC0415

    q, a, bias = make_inputs(M, P, N, dtype, kind, seed=M + P + N)
    assert flash.flash_supported(cupy.asarray(q))
    got = flash.flash_softmax_stream(cupy.asarray(q), cupy.asarray(a), cupy.asarray(bias))
    assert all(x.dtype == dtype for x in got)
    assert_close([cupy.asnumpy(x) for x in got], q, a, bias)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("splits", [None, 1, 7])
def test_gpu_kernel_large_P(dtype, splits):
    import cupy  # noqa: PLC0415

    q, a, bias = make_inputs(300, 2**16, 64, dtype, "normal", seed=5)
    got = flash.flash_softmax_stream(cupy.asarray(q), cupy.asarray(a), cupy.asarray(bias), splits=splits)
    assert_close([cupy.asnumpy(x) for x in got], q, a, bias)


@pytest.mark.gpu
def test_gpu_kernel_validates_inputs():
    import cupy  # noqa: PLC0415

    q, a, b = cupy.zeros((4, 3)), cupy.zeros((5, 3)), cupy.zeros(5)
    with pytest.raises(ValueError, match="columns"):
        flash.flash_softmax_stream(q, cupy.zeros((5, 4)), b)
    with pytest.raises(ValueError, match="bias"):
        flash.flash_softmax_stream(q, a, cupy.zeros(6))
    with pytest.raises(ValueError, match="dtype"):
        flash.flash_softmax_stream(q, a.astype(cupy.float32), b)
    with pytest.raises(ValueError, match="N must be"):
        flash.flash_softmax_stream(cupy.zeros((4, 0)), cupy.zeros((5, 0)), b)
    with pytest.raises(ValueError, match="splits"):
        flash.flash_softmax_stream(q, a, b, splits=0)
    assert not flash.flash_supported(cupy.zeros((4, flash.MAX_HEAD_DIM + 1)))
