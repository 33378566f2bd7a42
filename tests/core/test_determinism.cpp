// test_determinism.cpp — bitwise reproducibility and accurate long sums.
//
// Every output (losses and gradients) must be bitwise identical across repeated calls and
// across CPU thread counts 1..8 (semcl_set_threads), on shapes where the CPU splits rows across
// threads (B large), where it splits the chunks of a few long rows (B small, K large), and where
// the split changes with the thread count. Sums over 2^25 terms of known constant values must
// be accurate to 1e-6 relative (a plain fp32 running sum stalls near 2^24 and is far off).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "core_util.h"

namespace {

using namespace semcl_core_test;

class Determinism : public semcl_test::BackendTest {};

const semcl_reduction_t kReductions[] = {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM,
                                         SEMCL_REDUCTION_NONE};

void CheckAcrossThreadCounts(semcl_context *ctx, const Problem &p) {
  ASSERT_EQ(semcl_set_threads(ctx, 1), SEMCL_STATUS_SUCCESS);
  const Result first = RunSemcl(ctx, p);
  ASSERT_EQ(first.status, SEMCL_STATUS_SUCCESS) << first.error;
  const Result again = RunSemcl(ctx, p);
  {
    SCOPED_TRACE("repeated call, 1 thread");
    ExpectAllBitwiseEqual(again, first);
  }
  for (int threads : {2, 3, 4, 5, 6, 7, 8, 0}) {
    SCOPED_TRACE("threads = " + std::to_string(threads));
    ASSERT_EQ(semcl_set_threads(ctx, threads), SEMCL_STATUS_SUCCESS);
    const Result r = RunSemcl(ctx, p);
    ASSERT_EQ(r.status, SEMCL_STATUS_SUCCESS) << r.error;
    ExpectAllBitwiseEqual(r, first);
    ExpectAllBitwiseEqual(RunSemcl(ctx, p), first);  // and repeated at that count
    // Forward-only too.
    const Result f = RunSemcl(ctx, p, kNoGrad, true);
    ExpectLossesBitwiseEqual(f, first);
  }
  ASSERT_EQ(semcl_set_threads(ctx, 0), SEMCL_STATUS_SUCCESS);
}

Problem Make(std::mt19937_64 &rng, bool pairwise, int64_t B, int64_t K, semcl_reduction_t red) {
  Problem p = RandomProblem(rng, pairwise, B, K, 3.0, true);
  p.reduction = red;
  p.lambda = 0.7f;
  p.grad_scale = 1.3f;
  return p;
}

// B large: the CPU gives each thread whole rows (and row blocks of 256).
TEST_P(Determinism, RowSplitIsBitwiseReproducible) {
  std::mt19937_64 rng(31);
  for (semcl_reduction_t red : kReductions) {
    SCOPED_TRACE("reduction " + std::to_string((int)red));
    CheckAcrossThreadCounts(ctx_, Make(rng, true, 4099, 67, red));
  }
}

// B small, K large: the CPU splits each row's chunks across threads.
TEST_P(Determinism, ChunkSplitIsBitwiseReproducible) {
  std::mt19937_64 rng(32);
  for (semcl_reduction_t red : kReductions) {
    SCOPED_TRACE("reduction " + std::to_string((int)red));
    CheckAcrossThreadCounts(ctx_, Make(rng, true, 2, 100000, red));
  }
}

// B = 20 (one row block): rows for 1 thread, chunks for 2..8 — both strategies, the same bits.
TEST_P(Determinism, SwitchingStrategyIsBitwiseReproducible) {
  std::mt19937_64 rng(33);
  Problem p = Make(rng, true, 20, 5000, SEMCL_REDUCTION_MEAN);
  p.upstream = {0.5f};
  CheckAcrossThreadCounts(ctx_, p);
}

// Loss 1 with enough rows for threads to engage (several row blocks).
TEST_P(Determinism, PositiveOnlyIsBitwiseReproducible) {
  std::mt19937_64 rng(34);
  for (semcl_reduction_t red : kReductions) {
    SCOPED_TRACE("reduction " + std::to_string((int)red));
    CheckAcrossThreadCounts(ctx_, Make(rng, false, 66001, 1, red));
  }
}

// Distinct contexts give the same bits (nothing hidden in a context changes results).
TEST_P(Determinism, FreshContextGivesTheSameBits) {
  std::mt19937_64 rng(35);
  const Problem p = Make(rng, true, 33, 3000, SEMCL_REDUCTION_SUM);
  const Result a = RunSemcl(ctx_, p);
  semcl_context *other = nullptr;
  ASSERT_EQ(semcl_create(&other, GetParam()), SEMCL_STATUS_SUCCESS);
  const Result b = RunSemcl(other, p);
  semcl_destroy(other);
  ExpectAllBitwiseEqual(a, b);
}

// Relative error of a float against an exact value.
double Rel(float got, double exact) { return std::fabs((double)got - exact) / std::fabs(exact); }

// B = 1, K = 2^25 constant negatives: L_pair is the mean of 2^25 equal softplus values and
// grad_pos the mean of 2^25 equal sigmoids, both known in closed form. A plain fp32 running sum
// of 2^25 values of ~0.31 would be off by tens of percent.
TEST_P(Determinism, LongRowSumIsAccurate) {
  const int64_t K = int64_t(1) << 25;
  Problem p;
  p.B = 1;
  p.K = K;
  p.raw = {0.5f};
  p.pos = {1.0f};
  p.y = {1.0f};
  p.neg.assign((size_t)K, 0.0f);  // t = -(pos - neg) = -1 for every k
  p.lambda = 1.0f;
  const double softplus_m1 = std::log1p(std::exp(-1.0));  // 0.31326168751822286
  const double sigmoid_m1 = 1.0 / (1.0 + std::exp(1.0));   // 0.2689414213699951
  const double bce = std::log1p(std::exp(-0.5));           // BCE(0.5, 1)
  for (int threads : {1, 2}) {
    SCOPED_TRACE("threads = " + std::to_string(threads));
    ASSERT_EQ(semcl_set_threads(ctx_, threads), SEMCL_STATUS_SUCCESS);
    const Result r = RunSemcl(ctx_, p, kGradPos | kGradRaw);
    ASSERT_EQ(r.status, SEMCL_STATUS_SUCCESS) << r.error;
    EXPECT_LT(Rel(r.loss_aux[0], softplus_m1), 1e-6) << r.loss_aux[0];
    EXPECT_LT(Rel(r.loss_ctr[0], bce), 1e-6) << r.loss_ctr[0];
    EXPECT_LT(Rel(r.loss[0], bce + softplus_m1), 1e-6) << r.loss[0];
    // dL/dscore_pos = -lambda * sign * mean_k sigmoid(t) = -sigmoid(-1).
    EXPECT_LT(Rel(r.grad_pos[0], -sigmoid_m1), 1e-6) << r.grad_pos[0];
  }
  // The same total spread over 32 rows with reduction SUM: 32 * (bce + softplus(-1)).
  p.B = 32;
  p.K = K / 32;
  p.raw.assign(32, 0.5f);
  p.pos.assign(32, 1.0f);
  p.y.assign(32, 1.0f);
  p.reduction = SEMCL_REDUCTION_SUM;
  const Result s = RunSemcl(ctx_, p, kNoGrad, true);
  ASSERT_EQ(s.status, SEMCL_STATUS_SUCCESS) << s.error;
  EXPECT_LT(Rel(s.loss_aux[0], 32 * softplus_m1), 1e-6) << s.loss_aux[0];
  EXPECT_LT(Rel(s.loss[0], 32 * (bce + softplus_m1)), 1e-6) << s.loss[0];
}

// Loss 1 over 2^22 constant rows: the means over rows are accurate too.
TEST_P(Determinism, LongRowMeanIsAccurate) {
  const int64_t B = int64_t(1) << 22;
  Problem p;
  p.pairwise = false;
  p.B = B;
  p.raw.assign((size_t)B, -2.0f);
  p.pos.assign((size_t)B, 1.0f);
  p.y.assign((size_t)B, 0.0f);  // t = -sign*(pos - raw) = 3
  p.lambda = 0.5f;
  for (semcl_reduction_t red : {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM}) {
    p.reduction = red;
    const double n = red == SEMCL_REDUCTION_SUM ? (double)B : 1.0;
    const Result r = RunSemcl(ctx_, p, kNoGrad, true);
    ASSERT_EQ(r.status, SEMCL_STATUS_SUCCESS) << r.error;
    const double ctr = std::log1p(std::exp(-2.0));       // BCE(-2, 0)
    const double aux = 3.0 + std::log1p(std::exp(-3.0));  // softplus(3)
    EXPECT_LT(Rel(r.loss_ctr[0], n * ctr), 1e-6) << r.loss_ctr[0];
    EXPECT_LT(Rel(r.loss_aux[0], n * aux), 1e-6) << r.loss_aux[0];
    EXPECT_LT(Rel(r.loss[0], n * (ctr + 0.5 * aux)), 1e-6) << r.loss[0];
  }
}

SEMCL_INSTANTIATE_ON_ALL_BACKENDS(Determinism);

}  // namespace
