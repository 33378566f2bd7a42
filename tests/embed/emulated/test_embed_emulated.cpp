// test_embed_emulated.cpp — the embedding calls' CUDA kernels and launch sequence
// (cuda/embed_*_cuda.cu, compiled as host C++ against tests/cuda/emulator) on any machine:
//  - per-row negatives and loss 1 against the CPU backend, bit for bit (both follow the orders
//    of src/semcl_embed.h), over D that take every kernel variant (register lanes 1, 2, 4, 8
//    and the generic D > 256), rows of several chunks, every option, every reduction, subsets
//    of the gradients and grad_item_neg in place;
//  - the shared pool, whose cuBLAS calls are replaced by a plain host GEMM here, against the
//    fp64 reference within the documented bound (the loss pass, the epilogues, the row chunks
//    and the accumulation of the pool's gradient are the kernels'; only the GEMM is not).
// Launches run a small grid (the emulator's cap), so grid-stride loops cover many tiles per
// block; threads run in a seeded random order; outputs and the workspace are followed by
// guard values, and the workspace starts as garbage.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "embed_cublas.h"
#include "embed_cuda.h"
#include "embed16_util.h"
#include "embed_util.h"
#include "semcl_emu.h"

using namespace semcl_embed_test;

// The CUDA backend's error hook (cuda_backend.cu is not part of the emulation).
extern "C" semcl_status_t semcl_cuda_fail(semcl_context *, cudaError_t, const char *what) {
  ADD_FAILURE() << "semcl_cuda_fail: " << what;
  return SEMCL_STATUS_CUDA_ERROR;
}

// cuBLAS replaced by a column-major host sgemm with fp32 sums in k order (within the same
// GEMM bound as any fp32 GEMM).
static int gemm_calls = 0;
extern "C" semcl_status_t semcl_embed_cublas_handle(semcl_context *, const char *, cudaStream_t,
                                                    void **handle) {
  *handle = &gemm_calls;
  return SEMCL_STATUS_SUCCESS;
}
extern "C" semcl_status_t semcl_embed_cublas_gemm(semcl_context *, void *, int, char transa,
                                                  char transb, int m, int n, int k, float alpha,
                                                  const float *A, int lda, const float *Bm,
                                                  int ldb, float beta, float *C, int ldc) {
  ++gemm_calls;
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      float s = 0.0f;
      for (int l = 0; l < k; ++l) {
        const float a = transa == 'T' ? A[l + (size_t)i * lda] : A[i + (size_t)l * lda];
        const float b = transb == 'T' ? Bm[j + (size_t)l * ldb] : Bm[l + (size_t)j * ldb];
        s = s + a * b;
      }
      float &c = C[i + (size_t)j * ldc];
      c = beta == 0.0f ? alpha * s : alpha * s + beta * c;
    }
  return SEMCL_STATUS_SUCCESS;
}

namespace {

constexpr size_t kGuard = 16;

// A host array with kGuard poison values after its n elements.
struct Guarded {
  std::vector<float> v;
  size_t n = 0;
  Guarded() = default;
  Guarded(const std::vector<float> &data) : v(data), n(data.size()) {
    v.resize(n + kGuard, semcl_test::PoisonValue());
  }
  Guarded(size_t count) : v(count + kGuard, semcl_test::PoisonValue()), n(count) {}
  float *get() { return n ? v.data() : nullptr; }
  std::vector<float> body() const { return std::vector<float>(v.begin(), v.begin() + n); }
  bool intact() const {
    for (size_t i = n; i < v.size(); ++i)
      if (!semcl_test::IsPoison(v[i])) return false;
    return true;
  }
};

// The problem as the API would hand it to the backend after validation: e's sizes, scalars
// and host-side options (masks, counts, pos_index from e itself), the arrays of `a`.
semcl_embed_problem ProblemOf(const EmbedProblem &e, semcl_dtype_t dt, const EmbedArrays &a) {
  semcl_embed_problem p;
  std::memset(&p, 0, sizeof p);
  p.kind = e.kind;
  p.B = e.B;
  p.K = e.K;
  p.D = e.D;
  p.dtype = dt;
  p.user = a.user;
  p.item_raw = a.raw;
  p.item_pos = a.pos;
  p.item_neg = a.neg;
  p.y = a.y;
  p.neg_mask = e.mask.empty() ? nullptr : e.mask.data();
  p.neg_count = e.count.empty() ? nullptr : e.count.data();
  p.pos_index = e.pos_index.empty() ? nullptr : e.pos_index.data();
  p.weight = a.weight;
  p.pos_weight = a.pos_weight;
  p.pos_weight_count = (int64_t)e.pos_weight.size();
  p.score_scale = e.scale;
  p.lambda = e.lambda;
  p.reduction = e.reduction;
  p.grad_scale = e.grad_scale;
  p.grad_upstream = a.upstream;
  p.loss = a.loss;
  p.loss_ctr = a.loss_ctr;
  p.loss_aux = a.loss_aux;
  p.grad_user = a.grad_user;
  p.grad_item_raw = a.grad_raw;
  p.grad_item_pos = a.grad_pos;
  p.grad_item_neg = a.grad_neg;
  return p;
}

// The problem through the emulated launcher, as the API would hand it over after validation.
EmbedResult RunEmulated(const EmbedProblem &e, int grads, bool in_place, unsigned grid_cap,
                        uint64_t seed) {
  const size_t nl = e.LossCount(), rows = (size_t)(e.B * e.D);
  const size_t negs = (size_t)(e.NegRows() * e.D);
  Guarded user(e.user), raw(e.raw), pos(e.pos), y(e.y), neg(e.neg), up(e.upstream);
  Guarded weight(e.weight), pos_weight(e.pos_weight);
  Guarded loss(nl), ctr(nl), aux(nl);
  Guarded gu(grads & kGradUser ? rows : 0), gr(grads & kGradRaw ? rows : 0);
  Guarded gp(grads & kGradPos ? rows : 0);
  Guarded gn(e.kind != kPositiveOnly && (grads & kGradNeg) && !in_place ? negs : 0);
  const semcl_embed_problem p = ProblemOf(
      e, SEMCL_DTYPE_FLOAT32,
      {user.get(), raw.get(), pos.get(), neg.get(), y.get(), up.get(), weight.get(),
       pos_weight.get(), nullptr, nullptr, nullptr, loss.get(), ctr.get(), aux.get(), gu.get(),
       gr.get(), gp.get(), in_place && (grads & kGradNeg) ? neg.get() : gn.get()});
  const size_t ws_bytes = semcl_cuda_embed_workspace(e.kind, e.B, e.K, e.D, 0);
  std::vector<double> ws(ws_bytes / sizeof(double) + 2, 1.2345e300);  // garbage, 16-aligned
  semcl_emu_reset(seed, grid_cap);
  const long blocks = semcl_emu_blocks_run();
  EmbedResult r;
  r.status = semcl_cuda_embed_launch(nullptr, &p, ws.data(), nullptr);
  r.error = semcl_emu_error();
  EXPECT_GT(semcl_emu_blocks_run(), blocks) << "no kernel ran";
  r.loss = loss.body();
  r.loss_ctr = ctr.body();
  r.loss_aux = aux.body();
  r.grad_user = gu.body();
  r.grad_raw = gr.body();
  r.grad_pos = gp.body();
  r.grad_neg = in_place && (grads & kGradNeg) ? neg.body() : gn.body();
  for (const Guarded *g : {&loss, &ctr, &aux, &gu, &gr, &gp, &gn, &neg})
    EXPECT_TRUE(g->intact()) << "an output was written past its end";
  return r;
}

// A 16-bit array with kGuard poison values (kPoison16) after its n elements.
struct Guarded16 {
  std::vector<uint16_t> v;
  size_t n = 0;
  Guarded16(const std::vector<uint16_t> &data) : v(data), n(data.size()) {
    v.resize(n + kGuard, kPoison16);
  }
  uint16_t *get() { return n ? v.data() : nullptr; }
  std::vector<uint16_t> body() const { return std::vector<uint16_t>(v.begin(), v.begin() + n); }
  bool intact() const {
    for (size_t i = n; i < v.size(); ++i)
      if (v[i] != kPoison16) return false;
    return true;
  }
};

// The 16-bit call (embeddings rounded to dt, gradients in the dtype) through the emulated
// launcher: the staging in fp32 and the per-row kernel's 16-bit loads and stores.
Result16 RunEmulated16(const EmbedProblem &e, semcl_dtype_t dt, int grads, bool in_place,
                       unsigned grid_cap, uint64_t seed) {
  const size_t nl = e.LossCount(), rows = (size_t)(e.B * e.D);
  const size_t negs = (size_t)(e.NegRows() * e.D);
  Guarded16 user(To16(dt, e.user)), raw(To16(dt, e.raw)), pos(To16(dt, e.pos));
  Guarded16 neg(To16(dt, e.neg));
  Guarded y(e.y), up(e.upstream), weight(e.weight), pos_weight(e.pos_weight);
  Guarded loss(nl), ctr(nl), aux(nl);
  auto poisoned = [](bool wanted, size_t n) {
    return Guarded16(std::vector<uint16_t>(wanted ? n : 0, kPoison16));
  };
  Guarded16 gu = poisoned(grads & kGradUser, rows), gr = poisoned(grads & kGradRaw, rows);
  Guarded16 gp = poisoned(grads & kGradPos, rows);
  Guarded16 gn = poisoned(e.kind != kPositiveOnly && (grads & kGradNeg) && !in_place, negs);
  const semcl_embed_problem p = ProblemOf(
      e, dt,
      {user.get(), raw.get(), pos.get(), neg.get(), y.get(), up.get(), weight.get(),
       pos_weight.get(), nullptr, nullptr, nullptr, loss.get(), ctr.get(), aux.get(), gu.get(),
       gr.get(), gp.get(), in_place && (grads & kGradNeg) ? neg.get() : gn.get()});
  const size_t ws_bytes = semcl_cuda_embed_workspace(e.kind, e.B, e.K, e.D, 1);
  std::vector<double> ws(ws_bytes / sizeof(double) + 2, 1.2345e300);  // garbage, 16-aligned
  semcl_emu_reset(seed, grid_cap);
  Result16 r;
  r.status = semcl_cuda_embed_launch(nullptr, &p, ws.data(), nullptr);
  r.error = semcl_emu_error();
  r.loss = loss.body();
  r.loss_ctr = ctr.body();
  r.loss_aux = aux.body();
  r.grad_user = gu.body();
  r.grad_raw = gr.body();
  r.grad_pos = gp.body();
  r.grad_neg = in_place && (grads & kGradNeg) ? neg.body() : gn.body();
  r.neg_after = neg.body();
  for (const Guarded *g : {&loss, &ctr, &aux})
    EXPECT_TRUE(g->intact()) << "an output was written past its end";
  for (const Guarded16 *g : {&gu, &gr, &gp, &gn, &neg})
    EXPECT_TRUE(g->intact()) << "a 16-bit array was written past its end";
  return r;
}

// Masks, counts, weights, pos_weight, a score scale and an upstream gradient.
void AddOptions(std::mt19937_64 &rng, EmbedProblem &p) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  p.mask.resize((size_t)(p.B * p.K));
  for (uint8_t &m : p.mask) m = unit(rng) < 0.85;
  p.count.resize((size_t)p.B);
  for (int32_t &c : p.count) c = (int32_t)(unit(rng) * (double)(p.K + 3)) - 1;
  p.weight.resize((size_t)p.B);
  for (float &w : p.weight) w = (float)(0.5 + unit(rng));
  p.pos_weight.assign(1, 1.7f);
  p.scale = 0.8f;
  p.upstream.resize(p.LossCount());
  for (float &u : p.upstream) u = (float)(unit(rng) * 2.0 - 0.5);
  p.grad_scale = 0.75f;
  p.lambda = 0.6f;
}

void ExpectBitwise(const EmbedResult &emu, const EmbedResult &cpu, const std::string &what) {
  ASSERT_EQ(cpu.status, SEMCL_STATUS_SUCCESS) << what << ": " << cpu.error;
  ASSERT_EQ(emu.status, SEMCL_STATUS_SUCCESS) << what;
  ASSERT_STREQ(emu.error.c_str(), "") << what;
  const std::vector<float> *pairs[][2] = {{&emu.loss, &cpu.loss},
                                          {&emu.loss_ctr, &cpu.loss_ctr},
                                          {&emu.loss_aux, &cpu.loss_aux},
                                          {&emu.grad_user, &cpu.grad_user},
                                          {&emu.grad_raw, &cpu.grad_raw},
                                          {&emu.grad_pos, &cpu.grad_pos},
                                          {&emu.grad_neg, &cpu.grad_neg}};
  const char *names[] = {"loss", "loss_ctr", "loss_aux", "grad_user", "grad_item_raw",
                         "grad_item_pos", "grad_item_neg"};
  for (int i = 0; i < 7; ++i)
    EXPECT_TRUE(BitwiseEqual(*pairs[i][0], *pairs[i][1]))
        << what << ": " << names[i] << " differs (sizes " << pairs[i][0]->size() << ", "
        << pairs[i][1]->size() << ")";
}

class EmbedEmulated : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(semcl_create(&cpu_, SEMCL_BACKEND_CPU), SEMCL_STATUS_SUCCESS); }
  void TearDown() override { semcl_destroy(cpu_); }
  semcl_context *cpu_ = nullptr;
};

TEST_F(EmbedEmulated, PerRowAndLossOneBitwiseEqualToTheCpu) {
  std::mt19937_64 rng(801);
  struct Shape {
    int kind;
    int64_t B, K, D;
  };
  // D = 1, 33, 64, 100, 257: register lanes 1, 2, 2, 4, and the generic path; K = 1100: two
  // chunks of a row; K = 45: a partial round of 32.
  const Shape shapes[] = {{kPerRow, 5, 45, 33}, {kPerRow, 3, 1100, 1},  {kPerRow, 4, 7, 64},
                          {kPerRow, 2, 40, 100}, {kPerRow, 2, 33, 257}, {kPositiveOnly, 37, 1, 70},
                          {kPositiveOnly, 9, 1, 300}};
  const semcl_reduction_t reductions[] = {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM,
                                          SEMCL_REDUCTION_NONE};
  int n = 0;
  for (const Shape &s : shapes)
    for (semcl_reduction_t red : reductions)
      for (int variant = 0; variant < 3; ++variant) {
        EmbedProblem p = RandomEmbed(rng, s.kind, s.B, s.K, s.D, variant == 2);
        p.reduction = red;
        if (variant >= 1) AddOptions(rng, p);
        if (s.kind == kPositiveOnly) p.mask.clear(), p.count.clear();
        // variant 0: every gradient; 1: grad_user and grad_item_neg only; 2: grad_item_neg in
        // place (per-row) or forward only (loss 1)
        const int grads = variant == 0   ? kAllGrads
                          : variant == 1 ? (kGradUser | kGradNeg)
                          : s.kind == kPerRow ? kAllGrads
                                              : kNoGrad;
        const bool in_place = variant == 2 && s.kind == kPerRow;
        const std::string what = std::string(KindName(s.kind)) + " B=" + std::to_string(s.B) +
                                 " K=" + std::to_string(s.K) + " D=" + std::to_string(s.D) +
                                 " reduction " + std::to_string(red) + " variant " +
                                 std::to_string(variant);
        const EmbedResult cpu = RunEmbed(cpu_, p, grads, in_place);
        const EmbedResult emu = RunEmulated(p, grads, in_place, 1 + n % 5, 900 + n);
        ExpectBitwise(emu, cpu, what);
        ++n;
      }
}

TEST_F(EmbedEmulated, SharedPoolWithinTheGemmBound) {
  std::mt19937_64 rng(802);
  for (int variant = 0; variant < 3; ++variant) {
    EmbedProblem p = RandomEmbed(rng, kShared, 7, 1100, 24);
    p.reduction = variant == 2 ? SEMCL_REDUCTION_NONE : SEMCL_REDUCTION_MEAN;
    if (variant >= 1) {
      AddOptions(rng, p);
      p.pos_index.resize((size_t)p.B);
      for (int64_t b = 0; b < p.B; ++b) p.pos_index[(size_t)b] = (b * 157) % p.K - (b == 3);
    }
    const int before = gemm_calls;
    const EmbedResult emu = RunEmulated(p, kAllGrads, false, 3, 950 + variant);
    ASSERT_EQ(emu.status, SEMCL_STATUS_SUCCESS);
    ASSERT_STREQ(emu.error.c_str(), "");
    EXPECT_EQ(gemm_calls - before, 3);  // one chunk of rows: S, dU, dN
    const RefEmbed ref = Reference(p);
    ExpectWithinBound("loss", emu.loss, ref.loss, ref.b_loss);
    ExpectWithinBound("loss_aux", emu.loss_aux, ref.loss_aux, ref.b_loss_aux);
    ExpectWithinBound("grad_user", emu.grad_user, ref.grad_user, ref.b_grad_user);
    ExpectWithinBound("grad_item_raw", emu.grad_raw, ref.grad_raw, ref.b_grad_raw);
    ExpectWithinBound("grad_item_pos", emu.grad_pos, ref.grad_pos, ref.b_grad_pos);
    ExpectWithinBound("grad_neg_pool", emu.grad_neg, ref.grad_neg, ref.b_grad_neg);
    ExpectBoundSmall("grad_neg_pool", ref.grad_neg, ref.b_grad_neg);
  }
}

// bf16 and fp16 embeddings: the emulated kernels and staging give the CPU backend's 16-bit
// results bit for bit (per-row, loss 1), and for every kind the documented contract: the fp32
// call on the widened embeddings, gradients rounded once (the shared pool's emulated GEMM is
// deterministic, so this holds bitwise for it too).
TEST_F(EmbedEmulated, SixteenBitEmbeddingsFollowTheContractAndEqualTheCpu) {
  std::mt19937_64 rng(803);
  struct Shape {
    int kind;
    int64_t B, K, D;
  };
  // D = 5, 64, 100, 257: register lanes 1, 2, 4 and the generic path; K = 1100: two chunks.
  const Shape shapes[] = {{kPerRow, 3, 1100, 5}, {kPerRow, 4, 45, 64}, {kPerRow, 2, 33, 257},
                          {kPerRow, 3, 9, 100}, {kPositiveOnly, 21, 1, 70}, {kShared, 6, 90, 24}};
  int n = 0;
  for (semcl_dtype_t dt : {SEMCL_DTYPE_BFLOAT16, SEMCL_DTYPE_FLOAT16})
    for (const Shape &s : shapes)
      for (int variant = 0; variant < 3; ++variant) {
        EmbedProblem p = RandomEmbed(rng, s.kind, s.B, s.K, s.D, variant == 2);
        p.reduction = variant == 2 ? SEMCL_REDUCTION_NONE : SEMCL_REDUCTION_MEAN;
        if (variant >= 1) AddOptions(rng, p);
        if (s.kind == kPositiveOnly) p.mask.clear(), p.count.clear();
        // variant 1: grad_user and the negatives' gradients only; 2: grad_item_neg in place
        const int grads = variant == 1 ? (kGradUser | kGradNeg) : kAllGrads;
        const bool in_place = variant == 2 && s.kind == kPerRow;
        const std::string what = std::string(DtypeName(dt)) + " " + KindName(s.kind) + " D=" +
                                 std::to_string(s.D) + " variant " + std::to_string(variant);
        SCOPED_TRACE(what);
        const Result16 emu = RunEmulated16(p, dt, grads, in_place, 1 + n % 5, 700 + n);
        ++n;
        ASSERT_EQ(emu.status, SEMCL_STATUS_SUCCESS);
        ASSERT_STREQ(emu.error.c_str(), "");
        const EmbedResult want = RunEmulated(Widened(p, dt), grads, false, 3, 650 + n);
        EXPECT_TRUE(BitwiseEqual(emu.loss, want.loss));
        EXPECT_TRUE(BitwiseEqual(emu.loss_aux, want.loss_aux));
        ExpectSame16("grad_user", emu.grad_user, To16(dt, want.grad_user));
        ExpectSame16("grad_item_raw", emu.grad_raw, To16(dt, want.grad_raw));
        ExpectSame16("grad_item_pos", emu.grad_pos, To16(dt, want.grad_pos));
        ExpectSame16("grad of the negatives", emu.grad_neg, To16(dt, want.grad_neg));
        if (s.kind == kShared) continue;  // the CPU's GEMM is another one
        const Result16 cpu = Run16(cpu_, p, dt, grads, in_place);
        ASSERT_EQ(cpu.status, SEMCL_STATUS_SUCCESS) << cpu.error;
        EXPECT_TRUE(BitwiseEqual(emu.loss, cpu.loss));
        ExpectSame16("grad_user vs CPU", emu.grad_user, cpu.grad_user);
        ExpectSame16("grad of the negatives vs CPU", emu.grad_neg, cpu.grad_neg);
      }
}

TEST(EmbedEmulatedCheck, APlantedWrongGradientIsCaught) {
  // The comparison itself: one flipped bit in the CPU's result must be reported.
  EmbedResult a, b;
  a.status = b.status = SEMCL_STATUS_SUCCESS;
  a.loss = b.loss = {1.0f};
  a.grad_user = b.grad_user = {0.5f, 0.25f};
  uint32_t bits;
  std::memcpy(&bits, &b.grad_user[1], 4);
  bits ^= 1u;
  std::memcpy(&b.grad_user[1], &bits, 4);
  EXPECT_NONFATAL_FAILURE(ExpectBitwise(a, b, "planted"), "grad_user differs");
}

}  // namespace
