// test_embed_cuda.cpp — the embedding calls on CUDA against the CPU backend:
//  - per-row negatives and loss 1 bit for bit (both follow the orders of src/semcl_embed.h;
//    NaN compares equal to NaN), over shapes that take every kernel variant (D from 1 to beyond
//    the register path, rows of several chunks) and every option;
//  - bf16/fp16 embeddings the same way (per-row and loss 1 bit for bit, their 16-bit gradients
//    included);
//  - the shared pool within the GEMM bound of docs/embeddings.md (cuBLAS vs the CPU's GEMM:
//    both are within the bound of the exact value, so they differ by at most twice it);
//  - the CUDA contract: pointers in the wrong memory space refused with nothing written, no host
//    synchronisation (the call returns while the stream is blocked), cuBLAS missing reported as
//    SEMCL_STATUS_BACKEND_UNAVAILABLE.
// Every test skips with the reason when no CUDA device is usable.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>

#if SEMCL_TEST_HAVE_CUDART
#include <cuda_runtime.h>
#endif

#include "embed16_util.h"
#include "embed_util.h"

namespace {

using namespace semcl_embed_test;

bool SameBits(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::memcmp(&a, &b, sizeof a) == 0;
}

void ExpectSameBits(const char *what, const std::vector<float> &a, const std::vector<float> &b) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i)
    if (!SameBits(a[i], b[i])) {
      ADD_FAILURE() << what << "[" << i << "]: CUDA " << a[i] << ", CPU " << b[i];
      return;
    }
}

class EmbedCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    SEMCL_REQUIRE_BACKEND(SEMCL_BACKEND_CUDA);
    ASSERT_EQ(semcl_create(&cuda_, SEMCL_BACKEND_CUDA), SEMCL_STATUS_SUCCESS);
    ASSERT_EQ(semcl_create(&cpu_, SEMCL_BACKEND_CPU), SEMCL_STATUS_SUCCESS);
  }
  void TearDown() override {
    semcl_destroy(cuda_);
    semcl_destroy(cpu_);
  }
  semcl_context *cuda_ = nullptr, *cpu_ = nullptr;
};

TEST_F(EmbedCuda, PerRowAndLossOneBitwiseEqualToTheCpu) {
  std::mt19937_64 rng(501);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  struct Shape {
    int kind;
    int64_t B, K, D;
  };
  // D: 1 lane, 2 and 4 register lanes, 8 (D = 256), beyond the register path (D = 300);
  // K: short rows, several chunks, K = 1.
  const Shape shapes[] = {{kPerRow, 37, 45, 1},    {kPerRow, 20, 130, 64},  {kPerRow, 6, 2500, 100},
                          {kPerRow, 9, 70, 256},   {kPerRow, 5, 40, 300},   {kPerRow, 300, 1, 33},
                          {kPositiveOnly, 1000, 1, 64}, {kPositiveOnly, 50, 1, 300}};
  for (const Shape &s : shapes)
    for (semcl_reduction_t red : {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM, SEMCL_REDUCTION_NONE})
      for (int options = 0; options < 2; ++options) {
        SCOPED_TRACE(std::string(KindName(s.kind)) + " K " + std::to_string(s.K) + " D " +
                     std::to_string(s.D) + " reduction " + std::to_string((int)red) +
                     " options " + std::to_string(options));
        EmbedProblem p = RandomEmbed(rng, s.kind, s.B, s.K, s.D, options == 1);
        p.reduction = red;
        if (options) {
          p.scale = 1.0f / 0.07f;
          p.grad_scale = -0.75f;
          p.upstream.assign(p.LossCount(), 1.5f);
          p.weight.resize((size_t)p.B);
          for (float &w : p.weight) w = (float)(0.5 + unit(rng));
          p.pos_weight = {2.0f};
          if (s.kind == kPerRow) {
            p.mask.resize((size_t)(p.B * p.K));
            for (uint8_t &m : p.mask) m = unit(rng) < 0.8;
            p.count.resize((size_t)p.B);
            for (int32_t &c : p.count) c = (int32_t)(unit(rng) * (double)(p.K + 3)) - 1;
          }
        }
        const EmbedResult g = RunEmbed(cuda_, p), c = RunEmbed(cpu_, p);
        ASSERT_EQ(g.status, SEMCL_STATUS_SUCCESS) << g.error;
        ASSERT_EQ(c.status, SEMCL_STATUS_SUCCESS) << c.error;
        ExpectSameBits("loss", g.loss, c.loss);
        ExpectSameBits("loss_ctr", g.loss_ctr, c.loss_ctr);
        ExpectSameBits("loss_aux", g.loss_aux, c.loss_aux);
        ExpectSameBits("grad_user", g.grad_user, c.grad_user);
        ExpectSameBits("grad_item_raw", g.grad_raw, c.grad_raw);
        ExpectSameBits("grad_item_pos", g.grad_pos, c.grad_pos);
        ExpectSameBits("grad_item_neg", g.grad_neg, c.grad_neg);
      }
}

TEST_F(EmbedCuda, SixteenBitPerRowAndLossOneBitwiseEqualToTheCpu) {
  std::mt19937_64 rng(503);
  struct Shape {
    int kind;
    int64_t B, K, D;
  };
  const Shape shapes[] = {{kPerRow, 37, 45, 1}, {kPerRow, 20, 130, 64}, {kPerRow, 6, 2500, 100},
                          {kPerRow, 5, 40, 300}, {kPositiveOnly, 500, 1, 64}};
  for (semcl_dtype_t dt : {SEMCL_DTYPE_BFLOAT16, SEMCL_DTYPE_FLOAT16})
    for (const Shape &s : shapes)
      for (bool in_place : {false, true}) {
        SCOPED_TRACE(std::string(DtypeName(dt)) + " " + KindName(s.kind) + " K " +
                     std::to_string(s.K) + " D " + std::to_string(s.D) +
                     (in_place ? " in place" : ""));
        EmbedProblem p = RandomEmbed(rng, s.kind, s.B, s.K, s.D);
        p.reduction = in_place ? SEMCL_REDUCTION_SUM : SEMCL_REDUCTION_MEAN;
        const bool inplace = in_place && s.kind == kPerRow;
        const Result16 g = Run16(cuda_, p, dt, kAllGrads, inplace);
        const Result16 c = Run16(cpu_, p, dt, kAllGrads, inplace);
        ASSERT_EQ(g.status, SEMCL_STATUS_SUCCESS) << g.error;
        ASSERT_EQ(c.status, SEMCL_STATUS_SUCCESS) << c.error;
        ExpectSameBits("loss", g.loss, c.loss);
        ExpectSameBits("loss_aux", g.loss_aux, c.loss_aux);
        ExpectSame16("grad_user", g.grad_user, c.grad_user);
        ExpectSame16("grad_item_raw", g.grad_raw, c.grad_raw);
        ExpectSame16("grad_item_pos", g.grad_pos, c.grad_pos);
        ExpectSame16("grad_item_neg", g.grad_neg, c.grad_neg);
      }
}

TEST_F(EmbedCuda, SharedPoolAgreesWithTheCpuWithinTheGemmBound) {
  std::mt19937_64 rng(502);
  struct Shape {
    int64_t B, N, D;
  };
  const Shape shapes[] = {{33, 70, 16}, {200, 3000, 64}, {5, 1, 128}};
  for (const Shape &s : shapes)
    for (semcl_reduction_t red : {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_NONE}) {
      SCOPED_TRACE("B " + std::to_string(s.B) + " N " + std::to_string(s.N));
      EmbedProblem p = RandomEmbed(rng, kShared, s.B, s.N, s.D);
      p.reduction = red;
      p.pos_index.resize((size_t)s.B);
      for (int64_t b = 0; b < s.B; ++b) p.pos_index[(size_t)b] = b % s.N;
      const EmbedResult g = RunEmbed(cuda_, p), c = RunEmbed(cpu_, p);
      ASSERT_EQ(g.status, SEMCL_STATUS_SUCCESS) << g.error;
      ASSERT_EQ(c.status, SEMCL_STATUS_SUCCESS) << c.error;
      RefEmbed r = Reference(p);
      auto twice = [](std::vector<double> v) {
        for (double &x : v) x *= 2.0;
        return v;
      };
      auto as_double = [](const std::vector<float> &v) {
        return std::vector<double>(v.begin(), v.end());
      };
      ExpectWithinBound("loss", g.loss, as_double(c.loss), twice(r.b_loss));
      ExpectWithinBound("grad_user", g.grad_user, as_double(c.grad_user), twice(r.b_grad_user));
      ExpectWithinBound("grad_item_raw", g.grad_raw, as_double(c.grad_raw), twice(r.b_grad_raw));
      ExpectWithinBound("grad_item_pos", g.grad_pos, as_double(c.grad_pos), twice(r.b_grad_pos));
      ExpectWithinBound("grad_neg_pool", g.grad_neg, as_double(c.grad_neg), twice(r.b_grad_neg));
    }
}

#if SEMCL_TEST_HAVE_CUDART
TEST_F(EmbedCuda, PointersInTheWrongMemorySpaceAreRefused) {
  std::mt19937_64 rng(503);
  const EmbedProblem p = RandomEmbed(rng, kPerRow, 4, 6, 8);
  // Device buffers for everything, then one host array in its place.
  Buffer user(cuda_, p.user), raw(cuda_, p.raw), pos(cuda_, p.pos), neg(cuda_, p.neg), y(cuda_, p.y);
  const float poison = semcl_test::PoisonValue();
  Buffer loss(cuda_, 1, poison), ctr(cuda_, 1, poison), aux(cuda_, 1, poison);
  Buffer gu(cuda_, 32, poison), gn(cuda_, p.neg.size(), poison);
  std::vector<float> host_user = p.user, host_grad(32, poison);
  auto run = [&](const float *u, float *g) {
    return semcl_pos_neg_embed(cuda_, p.B, p.K, p.D, u, raw.get(), pos.get(), neg.get(), y.get(),
                               1.0f, SEMCL_REDUCTION_MEAN, nullptr, nullptr, 1.0f, nullptr,
                               loss.get(), ctr.get(), aux.get(), g, nullptr, nullptr, gn.get());
  };
  EXPECT_EQ(run(host_user.data(), gu.get()), SEMCL_STATUS_WRONG_MEMORY_SPACE);
  EXPECT_NE(std::string(semcl_last_error(cuda_)).find("user"), std::string::npos);
  EXPECT_EQ(run(user.get(), host_grad.data()), SEMCL_STATUS_WRONG_MEMORY_SPACE);
  EXPECT_NE(std::string(semcl_last_error(cuda_)).find("grad_user"), std::string::npos);
  EXPECT_TRUE(semcl_test::AllPoison(loss.download()));
  EXPECT_TRUE(semcl_test::AllPoison(gu.download()));
  EXPECT_TRUE(semcl_test::AllPoison(gn.download()));
  EXPECT_TRUE(semcl_test::AllPoison(host_grad));
  // A device pointer on a CPU context.
  std::vector<float> h_raw = p.raw, h_pos = p.pos, h_neg = p.neg, h_y = p.y;
  float l = poison, lc = poison, la = poison;
  EXPECT_EQ(semcl_pos_neg_embed(cpu_, p.B, p.K, p.D, user.get(), h_raw.data(), h_pos.data(),
                                h_neg.data(), h_y.data(), 1.0f, SEMCL_REDUCTION_MEAN, nullptr,
                                nullptr, 1.0f, nullptr, &l, &lc, &la, nullptr, nullptr, nullptr,
                                nullptr),
            SEMCL_STATUS_WRONG_MEMORY_SPACE);
  EXPECT_TRUE(semcl_test::IsPoison(l));
}

void CUDART_CB BlockUntilReleased(void *arg) {
  auto *release = static_cast<std::atomic<int> *>(arg);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!release->load() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

// The calls only enqueue: with the stream blocked by a host function, they return at once.
TEST_F(EmbedCuda, CallsDoNotWaitForTheStream) {
  std::mt19937_64 rng(504);
  for (int kind : {kPerRow, kShared, kPositiveOnly}) {
    SCOPED_TRACE(KindName(kind));
    EmbedProblem p = RandomEmbed(rng, kind, 64, 300, 32);
    p.upstream = {1.0f};
    (void)RunEmbed(cuda_, p);  // first call: workspace and (shared) cuBLAS handle exist after it
    cudaStream_t stream = nullptr;
    ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
    ASSERT_EQ(semcl_set_stream(cuda_, stream), SEMCL_STATUS_SUCCESS);
    Buffer user(cuda_, p.user), raw(cuda_, p.raw), pos(cuda_, p.pos), y(cuda_, p.y), up(cuda_, p.upstream);
    Buffer neg = kind == kPositiveOnly ? Buffer() : Buffer(cuda_, p.neg);
    Buffer loss(cuda_, 1, 0.0f), ctr(cuda_, 1, 0.0f), aux(cuda_, 1, 0.0f), gu(cuda_, p.user.size(), 0.0f);
    ASSERT_EQ(semcl_synchronize(cuda_), SEMCL_STATUS_SUCCESS);
    std::atomic<int> release{0};
    ASSERT_EQ(cudaLaunchHostFunc(stream, BlockUntilReleased, &release), cudaSuccess);
    const auto t0 = std::chrono::steady_clock::now();
    semcl_status_t st;
    if (kind == kPerRow)
      st = semcl_pos_neg_embed(cuda_, p.B, p.K, p.D, user.get(), raw.get(), pos.get(), neg.get(),
                               y.get(), 1.0f, SEMCL_REDUCTION_MEAN, nullptr, nullptr, 1.0f,
                               up.get(), loss.get(), ctr.get(), aux.get(), gu.get(), nullptr,
                               nullptr, nullptr);
    else if (kind == kShared)
      st = semcl_pos_neg_shared_embed(cuda_, p.B, p.K, p.D, user.get(), raw.get(), pos.get(),
                                      neg.get(), y.get(), 1.0f, SEMCL_REDUCTION_MEAN, nullptr,
                                      nullptr, 1.0f, up.get(), loss.get(), ctr.get(), aux.get(),
                                      gu.get(), nullptr, nullptr, nullptr);
    else
      st = semcl_positive_only_embed(cuda_, p.B, p.D, user.get(), raw.get(), pos.get(), y.get(),
                                     1.0f, SEMCL_REDUCTION_MEAN, nullptr, nullptr, 1.0f, up.get(),
                                     loss.get(), ctr.get(), aux.get(), gu.get(), nullptr, nullptr);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    release = 1;
    EXPECT_EQ(st, SEMCL_STATUS_SUCCESS) << semcl_last_error(cuda_);
    EXPECT_LT(seconds, 5.0) << "the call waited for the blocked stream";
    EXPECT_EQ(semcl_synchronize(cuda_), SEMCL_STATUS_SUCCESS);
    ASSERT_EQ(semcl_set_stream(cuda_, nullptr), SEMCL_STATUS_SUCCESS);
    cudaStreamDestroy(stream);
  }
}
#endif

// In a child process whose cuBLAS cannot be loaded (SEMCL_CUBLAS_LIBRARY names a missing
// file), the shared pool reports SEMCL_STATUS_BACKEND_UNAVAILABLE with the reason; the other
// calls still work.
TEST_F(EmbedCuda, MissingCublasIsReportedNotFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("SEMCL_CUBLAS_LIBRARY", "/nonexistent/libcublas.so", 1);
        semcl_context *ctx = nullptr;
        if (semcl_create(&ctx, SEMCL_BACKEND_CUDA) != SEMCL_STATUS_SUCCESS) std::exit(3);
        std::mt19937_64 rng(505);
        const EmbedProblem shared = RandomEmbed(rng, kShared, 4, 5, 8);
        const EmbedResult r = RunEmbed(ctx, shared);
        const bool ok = r.status == SEMCL_STATUS_BACKEND_UNAVAILABLE &&
                        r.error.find("SEMCL_CUBLAS_LIBRARY") != std::string::npos &&
                        semcl_test::AllPoison(r.loss);
        const EmbedResult per_row = RunEmbed(ctx, RandomEmbed(rng, kPerRow, 4, 5, 8));
        semcl_destroy(ctx);
        std::exit(ok && per_row.status == SEMCL_STATUS_SUCCESS ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
