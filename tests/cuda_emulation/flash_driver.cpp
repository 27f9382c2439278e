// Runs lib/diffmem/sim/flash.cu on the CPU through cuda_emu.h.
//   flash_driver DIR M P TILES_PER_SPLIT SPLITS
// reads DIR/q.bin (M, N), DIR/a.bin (P, N), DIR/bias.bin (P,) as raw `real` (C order) and writes the partials
// DIR/part_max.bin (SPLITS, M), DIR/part_sum.bin (SPLITS, M), DIR/part_V.bin (SPLITS, M, N).
// Compile with -DDM_DOUBLE, -DHEAD_DIM, -DDM_TM, -DDM_TP and -DFLASH_SOURCE='"path/to/flash.cu"'.
#include "cuda_emu.h"

#include FLASH_SOURCE

#include <string>

static std::vector<real> read_file(const std::string& path, std::size_t n) {
    std::vector<real> v(n);
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f || std::fread(v.data(), sizeof(real), n, f) != n) {
        std::fprintf(stderr, "flash_driver: cannot read %zu values from %s\n", n, path.c_str());
        std::exit(2);
    }
    std::fclose(f);
    return v;
}

static void write_file(const std::string& path, const std::vector<real>& v) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f || std::fwrite(v.data(), sizeof(real), v.size(), f) != v.size()) {
        std::fprintf(stderr, "flash_driver: cannot write %s\n", path.c_str());
        std::exit(2);
    }
    std::fclose(f);
}

int main(int argc, char** argv) {
    if (argc != 6) {
        std::fprintf(stderr, "usage: %s DIR M P TILES_PER_SPLIT SPLITS\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    const int M = std::atoi(argv[2]), P = std::atoi(argv[3]);
    const int tiles_per_split = std::atoi(argv[4]), splits = std::atoi(argv[5]);
    const std::size_t N = HEAD_DIM;
    auto q = read_file(dir + "/q.bin", M * N);
    auto a = read_file(dir + "/a.bin", P * N);
    auto bias = read_file(dir + "/bias.bin", P);
    const real nan = std::numeric_limits<real>::quiet_NaN();  // outputs that no thread writes stay NaN
    std::vector<real> pmax(std::size_t(splits) * M, nan), psum(std::size_t(splits) * M, nan);
    std::vector<real> pV(std::size_t(splits) * M * N, nan);
    const dim3 grid{unsigned((M + DM_BM - 1) / DM_BM), unsigned(splits), 1};
    emu_launch(grid, dim3{DM_THREADS, 1, 1}, DM_SMEM_BYTES, [&] {
        flash_partial(q.data(), a.data(), bias.data(), M, P, tiles_per_split, pmax.data(), psum.data(), pV.data());
    });
    write_file(dir + "/part_max.bin", pmax);
    write_file(dir + "/part_sum.bin", psum);
    write_file(dir + "/part_V.bin", pV);
    std::printf("smem_bytes=%d BM=%d BP=%d\n", int(DM_SMEM_BYTES), DM_BM, DM_BP);
    return 0;
}
