// Fused streaming softmax over patterns ("flash attention" with keys = values = a), one split of the pattern range.
//
// For each query row m of one row tile and the patterns mu of one split, in one pass and without writing logits:
//     l[m, mu]   = q[m] . a[mu] + bias[mu]
//     part_max   = max_mu l                       (running max)
//     part_sum   = sum_mu exp(l - part_max)       (rescaled when the max grows)
//     part_V     = sum_mu exp(l - part_max) a[mu] (idem)
// The host merges the splits with the log-sum-exp rule (diffmem/sim/flash.py).
//
// Compile-time parameters (-D):
//     DM_DOUBLE  1 for float64, 0 for float32
//     HEAD_DIM   N, the pattern dimension (>= 1)
//     DM_TM      query rows per thread       (row tile BM = 16 * DM_TM)
//     DM_TP      patterns per thread         (pattern tile BP = 16 * DM_TP)
//     DM_MIN_BLOCKS  blocks per SM asked of the register allocator (__launch_bounds__)
// Block: 256 threads seen as 16 x 16, tx = tid % 16 (a half-warp), ty = tid / 16.
// Thread (ty, tx) owns rows ty*TM + i (i < TM) of the logits tile and of the V accumulator, logits columns
// tx + 16 j (j < TP) and V columns tx + 16 j (j < NP / 16). A row's 16 threads are one half-warp, so the row max
// and row sum of a tile are butterfly reductions with __shfl_xor_sync (width 16); every lane gets the same bits.
// Shared memory (dynamic, `real` words): Q tile BM x (NP + 1), pattern tile BP x (NP + 1) (one copy serves both
// products), probabilities BM x (BP + 1), bias BP. The odd row strides keep column walks free of bank conflicts.
// Kept to what NVRTC accepts: no headers, no std::. The CPU emulation (tests/cuda_emulation) compiles this file.

#ifndef DM_DOUBLE
#define DM_DOUBLE 0
#endif
#ifndef HEAD_DIM
#error "HEAD_DIM must be defined"
#endif
#ifndef DM_TM
#define DM_TM 4
#endif
#ifndef DM_TP
#define DM_TP 4
#endif
#ifndef DM_MIN_BLOCKS
#define DM_MIN_BLOCKS 1
#endif

#if DM_DOUBLE
typedef double real;
#define DM_EXP(x) exp(x)
#define DM_MAX(x, y) fmax(x, y)
#define DM_FMA(x, y, z) fma(x, y, z)
#else
typedef float real;
#define DM_EXP(x) expf(x)
#define DM_MAX(x, y) fmaxf(x, y)
#define DM_FMA(x, y, z) fmaf(x, y, z)
#endif

#define DM_THREADS 256
#define DM_TX 16
#define DM_NP (((HEAD_DIM) + DM_TX - 1) / DM_TX * DM_TX)  // N padded to a multiple of 16
#define DM_NJ (DM_NP / DM_TX)                              // V columns per thread
#define DM_BM (DM_TX * DM_TM)
#define DM_BP (DM_TX * DM_TP)
#define DM_QS (DM_NP + 1)                                  // row stride of the Q and pattern tiles
#define DM_PS (DM_BP + 1)                                  // row stride of the probability tile
#define DM_SMEM_WORDS (DM_BM * DM_QS + DM_BP * DM_QS + DM_BM * DM_PS + DM_BP)
#define DM_SMEM_BYTES (DM_SMEM_WORDS * (int)sizeof(real))

extern "C" __global__ void __launch_bounds__(DM_THREADS, DM_MIN_BLOCKS)
flash_partial(const real* __restrict__ q, const real* __restrict__ a, const real* __restrict__ bias,
              int M, int P, int tiles_per_split, real* __restrict__ part_max, real* __restrict__ part_sum,
              real* __restrict__ part_V)
{
    extern __shared__ double flash_smem[];
    real* Qs = reinterpret_cast<real*>(flash_smem);
    real* As = Qs + DM_BM * DM_QS;
    real* Ps = As + DM_BP * DM_QS;
    real* Bs = Ps + DM_BM * DM_PS;

    const real neg_inf = -__int_as_float(0x7f800000);
    const int tid = threadIdx.x;
    const int tx = tid % DM_TX;
    const int ty = tid / DM_TX;
    const int row0 = blockIdx.x * DM_BM;
    const int split = blockIdx.y;
    const int p_begin = split * tiles_per_split * DM_BP;
    int p_end = p_begin + tiles_per_split * DM_BP;
    if (p_end > P) p_end = P;

    // Q tile, zero-padded (rows past M, columns past N).
    for (int idx = tid; idx < DM_BM * DM_NP; idx += DM_THREADS) {
        const int r = idx / DM_NP;
        const int c = idx % DM_NP;
        const int row = row0 + r;
        Qs[r * DM_QS + c] = (row < M && c < HEAD_DIM) ? q[(long long)row * HEAD_DIM + c] : (real)0;
    }

    real m_run[DM_TM];
    real l_run[DM_TM];
    real acc[DM_TM][DM_NJ];
#pragma unroll
    for (int i = 0; i < DM_TM; ++i) {
        m_run[i] = neg_inf;
        l_run[i] = 0;
#pragma unroll
        for (int j = 0; j < DM_NJ; ++j) acc[i][j] = 0;
    }

    for (int p0 = p_begin; p0 < p_end; p0 += DM_BP) {
        // Pattern tile and bias; patterns past the split get bias -inf (probability 0) and zero rows.
        for (int idx = tid; idx < DM_BP * DM_NP; idx += DM_THREADS) {
            const int r = idx / DM_NP;
            const int c = idx % DM_NP;
            const int p = p0 + r;
            As[r * DM_QS + c] = (p < p_end && c < HEAD_DIM) ? a[(long long)p * HEAD_DIM + c] : (real)0;
        }
        for (int r = tid; r < DM_BP; r += DM_THREADS) Bs[r] = (p0 + r < p_end) ? bias[p0 + r] : neg_inf;
        __syncthreads();

        // Logits tile S = Q A^T + bias, TM x TP per thread, in registers.
        real s[DM_TM][DM_TP];
#pragma unroll
        for (int i = 0; i < DM_TM; ++i)
#pragma unroll
            for (int j = 0; j < DM_TP; ++j) s[i][j] = 0;
#pragma unroll 4
        for (int k = 0; k < HEAD_DIM; ++k) {
            real qv[DM_TM];
            real av[DM_TP];
#pragma unroll
            for (int i = 0; i < DM_TM; ++i) qv[i] = Qs[(ty * DM_TM + i) * DM_QS + k];
#pragma unroll
            for (int j = 0; j < DM_TP; ++j) av[j] = As[(tx + DM_TX * j) * DM_QS + k];
#pragma unroll
            for (int i = 0; i < DM_TM; ++i)
#pragma unroll
                for (int j = 0; j < DM_TP; ++j) s[i][j] = DM_FMA(qv[i], av[j], s[i][j]);
        }

        // Online softmax: new running max, rescale of sum and V, probabilities to shared memory.
#pragma unroll
        for (int i = 0; i < DM_TM; ++i) {
            real mt = neg_inf;
#pragma unroll
            for (int j = 0; j < DM_TP; ++j) {
                s[i][j] += Bs[tx + DM_TX * j];
                mt = DM_MAX(mt, s[i][j]);
            }
#pragma unroll
            for (int off = DM_TX / 2; off > 0; off /= 2) mt = DM_MAX(mt, __shfl_xor_sync(0xffffffffu, mt, off, DM_TX));
            const real m_new = DM_MAX(m_run[i], mt);
            const real m_ref = (m_new == neg_inf) ? (real)0 : m_new;  // all -inf so far: avoid -inf - -inf
            const real scale = DM_EXP(m_run[i] - m_ref);
            real lt = 0;
#pragma unroll
            for (int j = 0; j < DM_TP; ++j) {
                const real pij = DM_EXP(s[i][j] - m_ref);
                lt += pij;
                Ps[(ty * DM_TM + i) * DM_PS + tx + DM_TX * j] = pij;
            }
#pragma unroll
            for (int off = DM_TX / 2; off > 0; off /= 2) lt += __shfl_xor_sync(0xffffffffu, lt, off, DM_TX);
            l_run[i] = l_run[i] * scale + lt;
            m_run[i] = m_new;
#pragma unroll
            for (int j = 0; j < DM_NJ; ++j) acc[i][j] *= scale;
        }
        __syncthreads();

        // V += P A, TM x NJ per thread.
#pragma unroll 2
        for (int p = 0; p < DM_BP; ++p) {
            real pv[DM_TM];
            real av[DM_NJ];
#pragma unroll
            for (int i = 0; i < DM_TM; ++i) pv[i] = Ps[(ty * DM_TM + i) * DM_PS + p];
#pragma unroll
            for (int j = 0; j < DM_NJ; ++j) av[j] = As[p * DM_QS + tx + DM_TX * j];
#pragma unroll
            for (int i = 0; i < DM_TM; ++i)
#pragma unroll
                for (int j = 0; j < DM_NJ; ++j) acc[i][j] = DM_FMA(pv[i], av[j], acc[i][j]);
        }
        __syncthreads();  // the next tile overwrites As, Bs and Ps
    }

#pragma unroll
    for (int i = 0; i < DM_TM; ++i) {
        const int row = row0 + ty * DM_TM + i;
        if (row < M) {
            const long long out = (long long)split * M + row;
            if (tx == 0) {
                part_max[out] = m_run[i];
                part_sum[out] = l_run[i];
            }
#pragma unroll
            for (int j = 0; j < DM_NJ; ++j) {
                const int c = tx + DM_TX * j;
                if (c < HEAD_DIM) part_V[out * HEAD_DIM + c] = acc[i][j];
            }
        }
    }
}
