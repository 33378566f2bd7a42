// test_cuda_emulated.cpp — the CUDA backend's kernels and launch sequence (cuda/*.cu, compiled
// as host C++ against the emulation in include/semcl_emu_cuda.h) against the CPU backend, bit
// for bit, for every option. It runs on any machine: it checks what a GPU-less machine can
// check — the kernels' indexing, lane mapping, tree shapes, masks, workspace layout, barriers
// and shuffles — while tests/cuda/test_cuda_backend.cpp runs the same cases on a real GPU.
//
// Each launch runs a small grid (1-7 blocks) whatever it asks for, so the grid-stride loops
// cover many tiles per block; blocks and threads run in a seeded random order. Inputs, outputs
// and the workspace are separate heap blocks followed by guard bytes, and the workspace starts
// filled with garbage: a write past any of them, or a read of workspace the call did not write,
// shows up as a failure.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend_buffers.h"
#include "cuda_common.h"
#include "cuda_device.cuh"
#include "parity_cases.h"
#include "semcl_emu.h"
#include "semcl_fold.h"

using semcl_parity::Case;
using semcl_parity::Data;
using semcl_parity::Outputs;

// The CUDA backend's error hook (cuda_backend.cu is not part of the emulation).
extern "C" semcl_status_t semcl_cuda_fail(semcl_context *, cudaError_t, const char *what) {
  ADD_FAILURE() << "semcl_cuda_fail: " << what;
  return SEMCL_STATUS_CUDA_ERROR;
}

namespace {

constexpr size_t kGuard = 64;
constexpr uint8_t kGuardByte = 0x5a;

// A heap copy of some bytes followed by guard bytes.
class Guarded {
 public:
  Guarded() = default;
  Guarded(const void *data, size_t bytes, uint8_t fill = 0) : bytes_(bytes) {
    mem_.reset(new uint8_t[bytes + kGuard]);
    if (data)
      std::memcpy(mem_.get(), data, bytes);
    else
      std::memset(mem_.get(), fill, bytes);
    std::memset(mem_.get() + bytes, kGuardByte, kGuard);
  }
  void *get() const { return mem_ ? mem_.get() : nullptr; }
  template <class T>
  std::vector<T> as() const {
    std::vector<T> v(bytes_ / sizeof(T));
    if (bytes_) std::memcpy(v.data(), mem_.get(), bytes_);
    return v;
  }
  bool guard_intact() const {
    if (!mem_) return true;
    for (size_t i = 0; i < kGuard; ++i)
      if (mem_[bytes_ + i] != kGuardByte) return false;
    return true;
  }

 private:
  std::unique_ptr<uint8_t[]> mem_;
  size_t bytes_ = 0;
};

template <class T>
Guarded Copy(const std::vector<T> &v) {
  return v.empty() ? Guarded() : Guarded(v.data(), v.size() * sizeof(T));
}

// The case through the emulated CUDA launchers, with the same validated problem the API would
// hand them.
Outputs RunEmulated(const Case &c, const Data &d, unsigned grid_cap) {
  const Outputs fresh = semcl_parity::PoisonedOutputs(c, d);
  Guarded raw = Copy(d.raw), pos = Copy(d.pos), y = Copy(d.y), up = Copy(d.upstream);
  Guarded weight = Copy(d.weight), pos_weight = Copy(d.pos_weight), mask = Copy(d.mask);
  Guarded count = Copy(d.count);
  Guarded loss = Copy(fresh.loss), ctr = Copy(fresh.ctr), aux = Copy(fresh.aux);
  Guarded graw = Copy(fresh.graw), gpos = Copy(fresh.gpos), gneg = Copy(fresh.gneg);
  Guarded neg = c.in_place ? Guarded() : Copy(d.neg);

  semcl_problem p;
  std::memset(&p, 0, sizeof p);
  p.kind = c.pairwise ? SEMCL_LOSS_POS_NEG : SEMCL_LOSS_POSITIVE_ONLY;
  p.B = c.B;
  p.K = c.pairwise ? c.K : 1;
  p.dtype = c.dtype;
  p.score_raw = raw.get();
  p.score_pos = pos.get();
  p.score_neg = c.pairwise ? (c.in_place ? gneg.get() : neg.get()) : nullptr;
  p.y = static_cast<const float *>(y.get());
  p.neg_mask =
      (c.mask & semcl_parity::kByteMask) ? static_cast<const uint8_t *>(mask.get()) : nullptr;
  p.neg_count =
      (c.mask & semcl_parity::kCountMask) ? static_cast<const int32_t *>(count.get()) : nullptr;
  p.weight = c.weights ? static_cast<const float *>(weight.get()) : nullptr;
  p.pos_weight = c.pos_weight_count ? static_cast<const float *>(pos_weight.get()) : nullptr;
  p.pos_weight_count = c.pos_weight_count;
  p.lambda = c.lambda;
  p.reduction = c.reduction;
  p.grad_scale = c.grad_scale;
  p.grad_upstream = c.upstream ? static_cast<const float *>(up.get()) : nullptr;
  p.loss = static_cast<float *>(loss.get());
  p.loss_ctr = static_cast<float *>(ctr.get());
  p.loss_aux = static_cast<float *>(aux.get());
  p.grad_raw = graw.get();
  p.grad_pos = gpos.get();
  p.grad_neg = gneg.get();

  const size_t ws_bytes =
      c.pairwise ? semcl_cuda_pos_neg_workspace(p.B, p.K) : semcl_cuda_positive_only_workspace(p.B);
  EXPECT_EQ(ws_bytes % 16, 0u);
  Guarded ws(nullptr, ws_bytes, 0xcd);  // garbage: the kernels must write what they read
  semcl_emu_reset(c.seed, grid_cap);
  const semcl_status_t st = c.pairwise
                                ? semcl_cuda_pos_neg_launch(nullptr, &p, ws.get(), nullptr)
                                : semcl_cuda_positive_only_launch(nullptr, &p, ws.get(), nullptr);
  EXPECT_EQ(st, SEMCL_STATUS_SUCCESS);
  EXPECT_STREQ(semcl_emu_error(), "");
  EXPECT_TRUE(ws.guard_intact()) << "write past the end of the workspace";
  for (const Guarded *g : {&raw, &pos, &y, &up, &weight, &pos_weight, &mask, &count, &loss, &ctr,
                           &aux, &graw, &gpos, &gneg, &neg})
    EXPECT_TRUE(g->guard_intact()) << "write past the end of an argument";

  Outputs out;
  out.loss = loss.as<float>();
  out.ctr = ctr.as<float>();
  out.aux = aux.as<float>();
  out.graw = graw.as<uint8_t>();
  out.gpos = gpos.as<uint8_t>();
  out.gneg = gneg.as<uint8_t>();
  return out;
}

class CudaEmulated : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(semcl_create(&cpu_, SEMCL_BACKEND_CPU), SEMCL_STATUS_SUCCESS); }
  void TearDown() override { semcl_destroy(cpu_); }

  // The CPU backend and the emulated CUDA backend agree on every output bit.
  void ExpectParity(const Case &c, unsigned grid_cap = 3) {
    SCOPED_TRACE(semcl_parity::Describe(c) + " grid_cap=" + std::to_string(grid_cap));
    const Data d = semcl_parity::MakeData(c);
    const Outputs cpu = semcl_parity::RunCpu(cpu_, c, d);
    const Outputs emulated = RunEmulated(c, d, grid_cap);
    semcl_parity::ExpectSame(c, cpu, emulated, "CUDA (emulated)");
  }

  semcl_context *cpu_ = nullptr;
};

TEST_F(CudaEmulated, ShapesReductionsAndModes) {
  const long blocks_before = semcl_emu_blocks_run();
  for (const Case &c : semcl_parity::ShapeCases(int64_t{1} << 19)) {
    ExpectParity(c);
    if (HasFailure()) return;
  }
  EXPECT_GT(semcl_emu_blocks_run(), blocks_before);  // the kernels did run
}

TEST_F(CudaEmulated, EveryOptionOnEveryLaunchShape) {
  struct Shape {
    int64_t B, K;
  };
  // K = 1 (32 rows a warp), 5 and 16 (groups of 8 and 16 lanes), 33, 200, 300 and 1000 (a warp
  // a row; batches that span rows, batches of 4 and of 8 or 16 term slots of one row), 1025 and
  // 5123 (split-K: 2 and 6 chunks).
  const Shape shapes[] = {{257, 1},  {70, 5},   {300, 16}, {40, 33}, {30, 200},
                          {20, 300}, {9, 1000}, {5, 1025}, {3, 5123}};
  uint64_t seed = 1;
  for (const Shape &s : shapes)
    for (const Case &c : semcl_parity::OptionCases(s.B, s.K, seed++, 24)) {
      ExpectParity(c);
      if (HasFailure()) return;
    }
}

TEST_F(CudaEmulated, EdgeCases) {
  for (const Case &c : semcl_parity::EdgeCases()) {
    ExpectParity(c);
    if (HasFailure()) return;
  }
}

TEST_F(CudaEmulated, GridSizesAndScheduleOrderDoNotChangeTheBits) {
  Case c;
  c.B = 1000;
  c.K = 40;
  c.mask = semcl_parity::kBothMasks;
  c.weights = true;
  c.upstream = true;
  for (unsigned cap : {1u, 2u, 7u})
    for (uint64_t seed : {11u, 12u}) {
      c.seed = seed;
      ExpectParity(c, cap);
    }
}

// More than 256 row tiles (a level of the tile tree before the last warp) and more than 256
// chunk groups in a row (a level of the row's chunk tree), on both losses.
TEST_F(CudaEmulated, TreeLevels) {
  Case rows;
  rows.B = (int64_t{1} << 18) + 77;  // 256-row tiles: 1025 of them
  rows.K = 1;
  rows.reduction = SEMCL_REDUCTION_SUM;
  rows.dtype = SEMCL_DTYPE_BFLOAT16;
  rows.mask = semcl_parity::kCountMask;
  ExpectParity(rows, 2);
  Case positive = rows;
  positive.pairwise = false;
  positive.mask = semcl_parity::kNoMask;
  positive.reduction = SEMCL_REDUCTION_MEAN;
  ExpectParity(positive, 2);
  Case chunks;
  chunks.B = 2;
  chunks.K = 2100000;  // 2051 chunks: 257 groups of 8
  chunks.mask = semcl_parity::kByteMask;
  chunks.upstream = true;
  ExpectParity(chunks, 5);
}

// ---- the device helpers that hold the summation order ----------------------------------
// End to end, a sum added in another association changes at most the last fp64 bits, which the
// fp32 outputs rarely show: so every tree and fold helper is checked on its own, against the
// documentation's functions (semcl_fold.h), on values of wildly different magnitudes and signs,
// where any other association gives other bits.

double WideValue(std::mt19937_64 &rng) {
  std::uniform_real_distribution<double> mantissa(1.0, 2.0);
  std::uniform_int_distribution<int> exponent(-40, 40);
  const double v = std::ldexp(mantissa(rng), exponent(rng));
  return (rng() & 1) ? -v : v;
}

std::vector<double2> WideValues(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double2> v(n);
  for (double2 &x : v) x = make_double2(WideValue(rng), WideValue(rng));
  return v;
}

// T over v as semcl_fold.h computes it, both components.
double2 DocumentedTree(const double2 *v, int64_t n) {
  std::vector<double> x(n), y(n);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = v[i].x;
    y[i] = v[i].y;
  }
  return make_double2(semcl_tree_sum_inplace(x.data(), n), semcl_tree_sum_inplace(y.data(), n));
}

uint64_t Bits64(double d) {
  uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}

#define EXPECT_SAME_PAIR(expected, got)               \
  do {                                                \
    EXPECT_EQ(Bits64((expected).x), Bits64((got).x)); \
    EXPECT_EQ(Bits64((expected).y), Bits64((got).y)); \
  } while (0)

TEST(CudaEmulatedOrder, WarpTreeIsTheDocumentedTree) {
  for (int64_t n = 1; n <= 256; ++n) {
    SCOPED_TRACE("n = " + std::to_string(n));
    const std::vector<double2> v = WideValues(static_cast<size_t>(n), static_cast<uint64_t>(n));
    double2 got = make_double2(0.0, 0.0);
    semcl_emu_reset(static_cast<uint64_t>(n), 1);
    semcl_emu_launch(1, 32, [&] {
      const double2 r = semcl_cuda_warp_tree_of(v.data(), n, static_cast<int>(threadIdx.x));
      if (threadIdx.x == 0) got = r;
    });
    ASSERT_STREQ(semcl_emu_error(), "");
    EXPECT_SAME_PAIR(DocumentedTree(v.data(), n), got);
  }
}

TEST(CudaEmulatedOrder, LaneTreeOfAChunkGroupIsTheDocumentedTree) {
  for (int lanes : {8, 32})
    for (int n = 1; n <= lanes; ++n) {
      SCOPED_TRACE("lanes = " + std::to_string(lanes) + ", n = " + std::to_string(n));
      const std::vector<double2> v =
          WideValues(static_cast<size_t>(n), 100u + static_cast<uint64_t>(n));
      double2 got = make_double2(0.0, 0.0);
      semcl_emu_reset(1, 1);
      semcl_emu_launch(1, 32, [&] {
        const int lane = static_cast<int>(threadIdx.x);
        const double2 r = semcl_cuda_lane_tree(lane < n ? v[lane] : semcl_cuda_pad2(), lanes);
        if (lane == 0) got = r;
      });
      ASSERT_STREQ(semcl_emu_error(), "");
      EXPECT_SAME_PAIR(DocumentedTree(v.data(), n), got);
    }
}

TEST(CudaEmulatedOrder, TileValueIsTheDocumentedTreeOverTheTilesRows) {
  for (int n = 1; n <= 256; ++n) {
    SCOPED_TRACE("n = " + std::to_string(n));
    const std::vector<double2> v =
        WideValues(static_cast<size_t>(n), 300u + static_cast<uint64_t>(n));
    double2 tile = make_double2(0.0, 0.0);
    semcl_emu_reset(static_cast<uint64_t>(n), 1);
    semcl_emu_launch(1, 256, [&] {
      __shared__ semcl_cuda_leaves leaves;
      if (static_cast<int>(threadIdx.x) < n) leaves.v[threadIdx.x] = v[threadIdx.x];
      __syncthreads();
      semcl_cuda_tile_value(leaves, n, &tile, 0);
    });
    ASSERT_STREQ(semcl_emu_error(), "");
    EXPECT_SAME_PAIR(DocumentedTree(v.data(), n), tile);
  }
}

TEST(CudaEmulatedOrder, TreeLevelsThenAWarpAreTheDocumentedTreeOfEachSegment) {
  for (int64_t n : {int64_t{257}, int64_t{1000}, int64_t{65536}, int64_t{65537}, int64_t{70001}}) {
    SCOPED_TRACE("n = " + std::to_string(n));
    const int64_t segments = 3;
    std::vector<double2> values =
        WideValues(static_cast<size_t>(segments * n), static_cast<uint64_t>(n));
    const std::vector<double2> original = values;
    std::vector<double2> spare(static_cast<size_t>(segments * ((n + 255) / 256)));
    double2 *rest = nullptr;
    int64_t n_rest = 0;
    semcl_emu_reset(7, 3);
    ASSERT_EQ(semcl_cuda_tree_levels(nullptr, values.data(), spare.data(), segments, n, &rest,
                                     &n_rest, nullptr),
              SEMCL_STATUS_SUCCESS);
    ASSERT_LE(n_rest, 256);
    for (int64_t s = 0; s < segments; ++s) {
      double2 got = make_double2(0.0, 0.0);
      semcl_emu_launch(1, 32, [&] {
        const double2 r =
            semcl_cuda_warp_tree_of(rest + s * n_rest, n_rest, static_cast<int>(threadIdx.x));
        if (threadIdx.x == 0) got = r;
      });
      EXPECT_SAME_PAIR(DocumentedTree(original.data() + s * n, n), got);
    }
    ASSERT_STREQ(semcl_emu_error(), "");
  }
}

TEST(CudaEmulatedOrder, GroupFoldIsTheDocumentedLaneFold) {
  std::mt19937_64 rng(5);
  for (int log2g = 0; log2g <= 5; ++log2g) {
    const int G = 1 << log2g;
    float lanes[32];
    for (float &x : lanes) x = static_cast<float>(std::fabs(WideValue(rng)));
    float got[32];
    semcl_emu_reset(1, 1);
    semcl_emu_launch(1, 32,
                     [&] { got[threadIdx.x] = semcl_cuda_fold_lanes(lanes[threadIdx.x], log2g); });
    ASSERT_STREQ(semcl_emu_error(), "");
    for (int g = 0; g < 32; g += G) {
      // The canonical fold of a chunk whose lanes g .. g+G-1 hold these values and the other
      // 32 - G lanes +0.0f.
      float chunk[32] = {0};
      std::memcpy(chunk, lanes + g, sizeof(float) * static_cast<size_t>(G));
      const float expected = semcl_fold_lanes(chunk);
      EXPECT_EQ(semcl_bits_from_float(expected), semcl_bits_from_float(got[g]))
          << "group of " << G << " lanes at lane " << g;
    }
  }
}

}  // namespace
