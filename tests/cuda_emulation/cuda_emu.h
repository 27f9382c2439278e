// CPU emulation of the small subset of CUDA used by diffmem's kernels (lib/diffmem/sim/*.cu).
//
// A block's threads run as std::threads; __syncthreads() is a std::barrier over the block, __shfl_xor_sync a
// warp-synchronous exchange (every lane writes, warp barrier, reads its partner, warp barrier). Blocks run one after
// another, so one arena serves as dynamic shared memory (`extern __shared__ double flash_smem[]` in a kernel binds
// to the array defined below); it is filled with NaN before each block so that a read of shared memory that no
// thread wrote shows up in the results. Only full-warp shuffles (mask 0xffffffff) with lane masks below the width
// are supported, which is what the kernels use; block sizes must be multiples of 32.
#pragma once

#include <barrier>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <math.h>
#include <memory>
#include <thread>
#include <vector>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

inline dim3 gridDim, blockDim, blockIdx;  // written before a block's threads start
inline thread_local dim3 threadIdx;
inline thread_local unsigned emu_linear_tid = 0;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__
#define __launch_bounds__(...)
#define __restrict__ __restrict

#ifndef EMU_SMEM_BYTES
#define EMU_SMEM_BYTES (1 << 20)
#endif
alignas(16) inline double flash_smem[EMU_SMEM_BYTES / sizeof(double)];

namespace emu {
inline std::unique_ptr<std::barrier<>> block_barrier;
inline std::vector<std::unique_ptr<std::barrier<>>> warp_barriers;
inline std::vector<std::uint64_t> warp_exchange;  // 32 slots per warp
}  // namespace emu

inline void __syncthreads() { emu::block_barrier->arrive_and_wait(); }

inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline double __longlong_as_double(long long x) { return std::bit_cast<double>(x); }

// expf, fmaf, fmaxf (float) and exp, fma, fmax (double): the C library's, from <math.h>, as in CUDA device code.

template <class T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32) {
    static_assert(sizeof(T) <= sizeof(std::uint64_t));
    if (mask != 0xffffffffu || lane_mask < 0 || lane_mask >= width || width > 32 || (width & (width - 1))) {
        std::fprintf(stderr, "cuda_emu: unsupported __shfl_xor_sync(mask=%x, laneMask=%d, width=%d)\n", mask,
                     lane_mask, width);
        std::abort();
    }
    const unsigned warp = emu_linear_tid / 32, lane = emu_linear_tid % 32;
    std::uint64_t bits = 0;
    std::memcpy(&bits, &var, sizeof(T));
    emu::warp_exchange[warp * 32 + lane] = bits;
    emu::warp_barriers[warp]->arrive_and_wait();
    const std::uint64_t other = emu::warp_exchange[warp * 32 + (lane ^ static_cast<unsigned>(lane_mask))];
    emu::warp_barriers[warp]->arrive_and_wait();  // nobody overwrites a slot before every lane has read
    T out;
    std::memcpy(&out, &other, sizeof(T));
    return out;
}

// Run `body` (a callable with the kernel's arguments bound) over `grid` x `block`, blocks one after another.
template <class F>
void emu_launch(dim3 grid, dim3 block, std::size_t shared_bytes, F body) {
    const unsigned n = block.x * block.y * block.z;
    if (n == 0 || n % 32 != 0 || shared_bytes > sizeof(flash_smem)) {
        std::fprintf(stderr, "cuda_emu: bad launch (threads=%u, shared=%zu)\n", n, shared_bytes);
        std::abort();
    }
    gridDim = grid;
    blockDim = block;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                blockIdx = dim3{bx, by, bz};
                const double nan = std::numeric_limits<double>::quiet_NaN();
                for (auto& w : flash_smem) w = nan;
                emu::block_barrier = std::make_unique<std::barrier<>>(n);
                emu::warp_barriers.clear();
                for (unsigned w = 0; w < n / 32; ++w) emu::warp_barriers.push_back(std::make_unique<std::barrier<>>(32));
                emu::warp_exchange.assign(n, 0);
                std::vector<std::thread> threads;
                threads.reserve(n);
                for (unsigned t = 0; t < n; ++t)
                    threads.emplace_back([&, t] {
                        emu_linear_tid = t;
                        threadIdx = dim3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
                        body();
                    });
                for (auto& th : threads) th.join();
            }
}
