// test_random_shapes.cpp — the fast path against the fp64 reference on random shapes, scales,
// labels, reductions and upstream gradients; and the exact (bitwise) relations between the
// entry points: NULL gradient pointers, in-place grad_neg, forward-only.
//
// Tolerance per output vector v (core_util.h): |got - exp| <= 2e-5*|exp| + 1e-6*max|exp|.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core_util.h"

namespace {

using namespace semcl_core_test;

class RandomShapes : public semcl_test::BackendTest {};

const semcl_reduction_t kReductions[] = {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM,
                                         SEMCL_REDUCTION_NONE};

std::string Describe(const Problem &p, double scale, bool soft) {
  return std::string(p.pairwise ? "pos_neg" : "positive_only") + " B=" + std::to_string(p.B) +
         " K=" + std::to_string(p.K) + " scale=" + std::to_string(scale) +
         (soft ? " soft" : " hard") + " reduction=" + std::to_string((int)p.reduction) +
         " grad_scale=" + std::to_string(p.grad_scale) +
         (p.upstream.empty() ? " upstream=NULL" : " upstream=array") +
         " lambda=" + std::to_string(p.lambda);
}

// Element by element, relative to the reference, for the pairwise gradients of long rows
// (K >= 32, the vectorised chunk path). The vector tolerance of ExpectClose leaves every element
// below 1e-6 of the vector's largest unchecked, so a grad_neg flushed to 0 where the sigmoid is
// tiny (< 1e-7) would pass it; here every element whose exact value is above 1e-30 must be
// within 1e-5 of it relatively. fp32 holds these values to ~1e-7; the error that remains is the
// rounding of t = sign*(pos - neg) in fp32, |t|*6e-8 relative in sigmoid(t), < 5e-6 for the
// |t| < 70 where the sigmoid is above 1e-30.
void ExpectElementwiseRelative(const std::string &what, const std::vector<float> &got,
                               const std::vector<double> &expected) {
  ASSERT_EQ(got.size(), expected.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < got.size() && reported < 5; ++i) {
    const double e = expected[i];
    if (!std::isfinite(e) || std::fabs(e) <= 1e-30) continue;
    if (std::fabs((double)got[i] - e) <= 1e-5 * std::fabs(e) + kFp32Floor) continue;
    ++reported;
    ADD_FAILURE() << what << "[" << i << "]: got " << got[i] << ", expected " << e
                  << " (relative error " << std::fabs((double)got[i] - e) / std::fabs(e) << ")";
  }
}

// Every combination of scale, label kind and reduction on one shape; grad_scale, lambda and
// the upstream gradient (NULL or an array in the context's memory space) vary along.
void CheckShape(semcl_context *ctx, std::mt19937_64 &rng, bool pairwise, int64_t B, int64_t K) {
  int variant = 0;
  for (double scale : {1e-3, 1.0, 1e3}) {
    for (bool soft : {false, true}) {
      for (semcl_reduction_t red : kReductions) {
        Problem p = RandomProblem(rng, pairwise, B, K, scale, soft);
        p.reduction = red;
        p.lambda = (variant % 3 == 0) ? 1.0f : (variant % 3 == 1 ? 0.3f : 2.5f);
        p.grad_scale = (variant % 2 == 0) ? 1.0f : -0.375f;
        if (variant % 4 >= 2) {
          std::uniform_real_distribution<float> u(-2.0f, 2.0f);
          p.upstream.resize(LossCount(p));
          for (float &x : p.upstream) x = u(rng);
        }
        ++variant;
        SCOPED_TRACE(Describe(p, scale, soft));
        const Result got = RunSemcl(ctx, p);
        const RefResult ref = Reference(p);
        ExpectResultClose(got, ref);
        if (pairwise && K >= 32) {
          ExpectElementwiseRelative("grad_neg", got.grad_neg, ref.grad_neg);
          ExpectElementwiseRelative("grad_pos", got.grad_pos, ref.grad_pos);
        }
      }
    }
  }
}

TEST_P(RandomShapes, PosNegMatchesTheReference) {
  std::mt19937_64 rng(2024);
  // B = 1, K = 1, K not a multiple of 8/16/32, chunk edges (1024 +- 1), K >= 8192.
  const int64_t shapes[][2] = {{1, 1},    {1, 7},    {3, 33},   {5, 1000}, {2, 1025},
                               {4, 1023}, {3, 3000}, {2, 8192}, {1, 12289}, {17, 31}};
  for (const auto &s : shapes) CheckShape(ctx_, rng, true, s[0], s[1]);
}

TEST_P(RandomShapes, PositiveOnlyMatchesTheReference) {
  std::mt19937_64 rng(2025);
  // Row blocks of 256: below, at and across block edges; and a size where threads engage.
  for (int64_t B : {1, 7, 33, 255, 256, 257, 1000, 1025, 3000, 70001})
    CheckShape(ctx_, rng, false, B, 1);
}

// Loss 1's grad_raw = (sigmoid(raw) - y) + lambda*sign*sigmoid(t) is a difference of two O(1)
// terms when the logits are small and lambda = 1 (e.g. at initialisation). The inputs are
// exact and the result is well-conditioned in them (d grad_raw / d raw ~ 0.5), so the fp32
// inputs do not limit its accuracy: forming the two terms in fp32 and then subtracting does.
TEST_P(RandomShapes, PositiveOnlyGradRawSmallLogitsLambdaOne) {
  Problem p;
  p.pairwise = false;
  p.B = 2;
  p.raw = {0x1.e82f98p-12f, -0x1.dd09f4p-15f};  // 4.65570367e-4, -5.68674659e-5
  p.pos = {0x1.e8371ap-11f, -0x1.cf8632p-14f};  // 9.31196671e-4, -1.10512781e-4
  p.y = {1.0f, 0.0f};
  p.lambda = 1.0f;
  p.reduction = SEMCL_REDUCTION_NONE;
  // grad_raw_0 = -sigmoid(-raw) + sigmoid(raw - pos) ~ (2*raw - pos)/4 = -1.398e-8 (the
  // library gave +2.98e-8 when this test was written); grad_raw_1 = -8.055e-7 (gave -7.75e-7).
  const RefResult ref = Reference(p);
  EXPECT_NEAR(ref.grad_raw[0], -1.3984389812815579e-08, 1e-15);
  EXPECT_NEAR(ref.grad_raw[1], -8.0553763781576748e-07, 1e-14);
  ExpectResultClose(RunSemcl(ctx_, p), ref);
}

// One large problem, B*K >= 1e7 (threads engage on the CPU, many chunks per row).
TEST_P(RandomShapes, LargeProblemMatchesTheReference) {
  std::mt19937_64 rng(7);
  Problem p = RandomProblem(rng, true, 1250, 8000, 2.0, false);
  ASSERT_GE(p.B * p.K, 10000000);
  p.lambda = 0.8f;
  ExpectResultClose(RunSemcl(ctx_, p), Reference(p));
}

// An upstream gradient multiplies the gradients (never the losses): 1 element for MEAN/SUM,
// B elements for NONE (row b scaled by g_b, grad_neg included), with zero and negative values.
TEST_P(RandomShapes, UpstreamGradientScalesEachRow) {
  std::mt19937_64 rng(11);
  for (bool pairwise : {false, true}) {
    for (semcl_reduction_t red : kReductions) {
      Problem p = RandomProblem(rng, pairwise, 6, 40, 2.0, false);
      p.reduction = red;
      p.grad_scale = 0.5f;
      p.upstream = red == SEMCL_REDUCTION_NONE
                       ? std::vector<float>{1.0f, -2.0f, 0.0f, 3.5f, 0.25f, -1.0f}
                       : std::vector<float>{-3.0f};
      SCOPED_TRACE(Describe(p, 2.0, false));
      const Result with = RunSemcl(ctx_, p);
      ExpectResultClose(with, Reference(p));
      // Losses do not depend on the upstream gradient.
      Problem q = p;
      q.upstream.clear();
      q.grad_scale = 1.0f;
      const Result without = RunSemcl(ctx_, q);
      ExpectLossesBitwiseEqual(with, without);
      if (red == SEMCL_REDUCTION_NONE) {
        // Row 2 has g_b = 0: all its gradients are exactly zero.
        EXPECT_EQ(with.grad_raw[2], 0.0f);
        EXPECT_EQ(with.grad_pos[2], 0.0f);
        if (pairwise) {
          for (int64_t k = 0; k < p.K; ++k) EXPECT_EQ(with.grad_neg[2 * p.K + k], 0.0f) << k;
        }
      }
    }
  }
}

// lambda = 0: L == L_ctr exactly, the semantic term's gradients are exactly zero.
TEST_P(RandomShapes, LambdaZero) {
  std::mt19937_64 rng(12);
  for (bool pairwise : {false, true}) {
    for (semcl_reduction_t red : kReductions) {
      Problem p = RandomProblem(rng, pairwise, 9, 100, 2.0, true);
      p.reduction = red;
      p.lambda = 0.0f;
      SCOPED_TRACE(Describe(p, 2.0, true));
      const Result r = RunSemcl(ctx_, p);
      ExpectResultClose(r, Reference(p));
      ExpectBitwiseEqual("loss vs loss_ctr", r.loss, r.loss_ctr);
      for (float g : r.grad_pos) EXPECT_EQ(g, 0.0f);
      for (float g : r.grad_neg) EXPECT_EQ(g, 0.0f);
      for (float a : r.loss_aux) EXPECT_GT(a, 0.0f);  // still computed
    }
  }
}

// Any gradient pointer may be NULL: the others, and the losses, are bitwise unchanged.
TEST_P(RandomShapes, NullGradientPointersSkipOnlyThatGradient) {
  std::mt19937_64 rng(13);
  for (bool pairwise : {false, true}) {
    for (semcl_reduction_t red : kReductions) {
      for (int64_t B : {3, 300}) {
        Problem p = RandomProblem(rng, pairwise, B, 1500, 2.0, false);
        p.reduction = red;
        p.grad_scale = 2.0f;
        SCOPED_TRACE(Describe(p, 2.0, false));
        const Result full = RunSemcl(ctx_, p, kAllGrads);
        ASSERT_EQ(full.status, SEMCL_STATUS_SUCCESS) << full.error;
        const int masks[] = {kAllGrads & ~kGradRaw, kAllGrads & ~kGradPos, kAllGrads & ~kGradNeg,
                             kGradRaw,  kGradPos, kGradNeg, kNoGrad};
        for (int mask : masks) {
          SCOPED_TRACE("gradient mask " + std::to_string(mask));
          const Result part = RunSemcl(ctx_, p, mask);
          ASSERT_EQ(part.status, SEMCL_STATUS_SUCCESS) << part.error;
          ExpectLossesBitwiseEqual(part, full);
          if (mask & kGradRaw) ExpectBitwiseEqual("grad_raw", part.grad_raw, full.grad_raw);
          if (mask & kGradPos) ExpectBitwiseEqual("grad_pos", part.grad_pos, full.grad_pos);
          if (pairwise && (mask & kGradNeg))
            ExpectBitwiseEqual("grad_neg", part.grad_neg, full.grad_neg);
        }
      }
    }
  }
}

// grad_neg == score_neg (in-place) gives bitwise the out-of-place results, also where the CPU
// splits rows into chunks across threads (B = 2, K large).
TEST_P(RandomShapes, InPlaceGradNegEqualsOutOfPlace) {
  std::mt19937_64 rng(14);
  const int64_t shapes[][2] = {{1, 1}, {3, 33}, {7, 1025}, {2, 100000}, {400, 300}};
  for (const auto &s : shapes) {
    for (semcl_reduction_t red : kReductions) {
      Problem p = RandomProblem(rng, true, s[0], s[1], 3.0, false);
      p.reduction = red;
      p.grad_scale = 0.7f;
      SCOPED_TRACE(Describe(p, 3.0, false));
      const Result out = RunSemcl(ctx_, p, kAllGrads, false, false);
      const Result in = RunSemcl(ctx_, p, kAllGrads, false, true);
      ASSERT_EQ(in.status, SEMCL_STATUS_SUCCESS) << in.error;
      ExpectAllBitwiseEqual(in, out);
      // grad_neg only, in place.
      const Result in_only = RunSemcl(ctx_, p, kGradNeg, false, true);
      ASSERT_EQ(in_only.status, SEMCL_STATUS_SUCCESS) << in_only.error;
      ExpectBitwiseEqual("grad_neg (alone, in place)", in_only.grad_neg, out.grad_neg);
      ExpectLossesBitwiseEqual(in_only, out);
    }
  }
}

// The forward-only entry points give bitwise the losses of forward_backward.
TEST_P(RandomShapes, ForwardOnlyEqualsForwardBackwardLosses) {
  std::mt19937_64 rng(15);
  for (bool pairwise : {false, true}) {
    for (semcl_reduction_t red : kReductions) {
      for (int64_t B : {1, 5, 300}) {
        Problem p = RandomProblem(rng, pairwise, B, pairwise ? 2049 : 1, 2.0, true);
        p.reduction = red;
        p.grad_scale = 3.0f;
        SCOPED_TRACE(Describe(p, 2.0, true));
        const Result fb = RunSemcl(ctx_, p);
        const Result f = RunSemcl(ctx_, p, kNoGrad, true);
        ASSERT_EQ(f.status, SEMCL_STATUS_SUCCESS) << f.error;
        ExpectLossesBitwiseEqual(f, fb);
      }
    }
  }
}

SEMCL_INSTANTIATE_ON_ALL_BACKENDS(RandomShapes);

}  // namespace
