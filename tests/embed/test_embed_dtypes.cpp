// test_embed_dtypes.cpp — bf16 and fp16 embeddings. The documented contract: a 16-bit call
// returns bit for bit what the fp32 call returns on the embeddings widened to fp32, every
// gradient element rounded once (to nearest, ties to even) to the dtype. Expected values: the
// fp32 call (itself tested against the fp64 reference and the documented orders) on the widened
// embeddings, rounded by the test's own bf16/fp16 rounding (tests/support/formats16.h); and,
// independently, the fp64 reference within its bound plus half a 16-bit unit.
// Covers every kind, dtype, reduction, option (masks, counts, pos_index, weights, pos_weight,
// upstream, score scale), gradient subsets, D that take each kernel variant (32, 64, 128 and
// others), rows of several chunks split across threads, and grad_item_neg in place.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "embed16_util.h"
#include "embed_util.h"

namespace {

using namespace semcl_embed_test;
using namespace semcl_test::formats16;

const semcl_dtype_t kDtypes[] = {SEMCL_DTYPE_BFLOAT16, SEMCL_DTYPE_FLOAT16};

// The 16-bit call against the fp32 call on the widened embeddings, gradients rounded once.
void ExpectContract(semcl_context *ctx, const EmbedProblem &p, semcl_dtype_t dt,
                    int grads = kAllGrads, bool in_place = false) {
  const Result16 got = Run16(ctx, p, dt, grads, in_place);
  ASSERT_EQ(got.status, SEMCL_STATUS_SUCCESS) << got.error;
  const EmbedResult want = RunEmbed(ctx, Widened(p, dt), grads);
  ASSERT_EQ(want.status, SEMCL_STATUS_SUCCESS) << want.error;
  EXPECT_BITWISE(got.loss, want.loss);
  EXPECT_BITWISE(got.loss_ctr, want.loss_ctr);
  EXPECT_BITWISE(got.loss_aux, want.loss_aux);
  ExpectSame16("grad_user", got.grad_user, To16(dt, want.grad_user));
  ExpectSame16("grad_item_raw", got.grad_raw, To16(dt, want.grad_raw));
  ExpectSame16("grad_item_pos", got.grad_pos, To16(dt, want.grad_pos));
  ExpectSame16("grad of the negatives", got.grad_neg, To16(dt, want.grad_neg));
  if (!in_place || !(grads & kGradNeg))
    ExpectSame16("item_neg unchanged", got.neg_after, To16(dt, p.neg));
}

// Options a user of each kind sets: masks and counts (shared: pos_index too), weights,
// pos_weight, an upstream gradient for NONE, a score scale that does not multiply exactly.
void AddOptions(std::mt19937_64 &rng, EmbedProblem &p) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  if (p.kind != kPositiveOnly) {
    p.mask.resize((size_t)(p.B * p.K));
    for (auto &m : p.mask) m = unit(rng) < 0.8;
    p.count.resize((size_t)p.B);
    for (auto &c : p.count) c = (int32_t)(unit(rng) * (double)(p.K + 2)) - 1;
  }
  if (p.kind == kShared) {
    p.pos_index.resize((size_t)p.B);
    for (int64_t b = 0; b < p.B; ++b) p.pos_index[(size_t)b] = b % p.K;
  }
  p.weight.resize((size_t)p.B);
  for (auto &w : p.weight) w = (float)(0.25 + 1.5 * unit(rng));
  p.pos_weight = {1.7f};
  p.scale = 1.3f;
  p.grad_scale = 0.75f;
  if (p.reduction == SEMCL_REDUCTION_NONE) {
    p.upstream.resize((size_t)p.B);
    for (auto &u : p.upstream) u = (float)(unit(rng) * 2.0 - 0.5);
  } else {
    p.upstream = {1.25f};
  }
}

struct Shape {
  int kind;
  int64_t B, K, D;
};

// D = 32, 64, 128 take the CPU's specialised chunk loops, the others the generic one; CUDA's
// register lanes 1, 2, 4, 8 and the generic D > 256 are all reached; K = 1100 spans two chunks.
const Shape kShapes[] = {
    {kPerRow, 6, 37, 64},        {kPerRow, 5, 9, 32},      {kPerRow, 3, 11, 128},
    {kPerRow, 4, 1100, 7},       {kPerRow, 3, 5, 300},     {kPerRow, 7, 3, 100},
    {kShared, 9, 50, 33},        {kShared, 6, 20, 64},     {kPositiveOnly, 33, 1, 40},
    {kPositiveOnly, 17, 1, 128}, {kPositiveOnly, 5, 1, 3},
};

class EmbedDtypes : public semcl_test::BackendTest {};

TEST_P(EmbedDtypes, EqualTheFp32CallOnWidenedEmbeddingsWithGradientsRoundedOnce) {
  std::mt19937_64 rng(801);
  for (semcl_dtype_t dt : kDtypes)
    for (const Shape &s : kShapes)
      for (semcl_reduction_t red :
           {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM, SEMCL_REDUCTION_NONE})
        for (bool options : {false, true}) {
          SCOPED_TRACE(std::string(DtypeName(dt)) + " " + KindName(s.kind) +
                       " B=" + std::to_string(s.B) + " K=" + std::to_string(s.K) +
                       " D=" + std::to_string(s.D) + " reduction " + std::to_string((int)red) +
                       (options ? " with options" : ""));
          EmbedProblem p = RandomEmbed(rng, s.kind, s.B, s.K, s.D, options);
          p.reduction = red;
          if (options) AddOptions(rng, p);
          ExpectContract(ctx_, p, dt);
        }
}

TEST_P(EmbedDtypes, GradientSubsetsInPlaceAndThreadCounts) {
  std::mt19937_64 rng(802);
  for (semcl_dtype_t dt : kDtypes)
    for (const Shape &s : {Shape{kPerRow, 3, 2100, 64}, Shape{kPerRow, 2, 40, 20},
                           Shape{kShared, 5, 70, 32}, Shape{kPositiveOnly, 9, 1, 64}})
      for (int threads : {1, 3}) {
        SCOPED_TRACE(std::string(DtypeName(dt)) + " " + KindName(s.kind) +
                     " K=" + std::to_string(s.K) + " threads " + std::to_string(threads));
        if (GetParam() == SEMCL_BACKEND_CPU) {
          ASSERT_EQ(semcl_set_threads(ctx_, threads), SEMCL_STATUS_SUCCESS);
        }
        const EmbedProblem p = RandomEmbed(rng, s.kind, s.B, s.K, s.D);
        for (int grads : {(int)kNoGrad, (int)kGradUser, kGradRaw | kGradPos, (int)kGradNeg,
                          kGradUser | kGradNeg})
          ExpectContract(ctx_, p, dt, grads);
        if (s.kind == kPerRow) {
          ExpectContract(ctx_, p, dt, kAllGrads, /*in_place=*/true);
          ExpectContract(ctx_, p, dt, kGradNeg, /*in_place=*/true);
        }
      }
}

// Independently of the fp32 path: the fp64 reference on the widened embeddings, within its
// documented bound plus the one rounding to 16 bits (the unit roundoff: 2^-8 relative for bf16
// with its 8 significant bits, 2^-11 for fp16 with 11, whose subnormals add 2^-25 absolute).
TEST_P(EmbedDtypes, WithinTheReferenceBoundPlusOneRounding) {
  std::mt19937_64 rng(803);
  for (semcl_dtype_t dt : kDtypes)
    for (const Shape &s : {Shape{kPerRow, 16, 300, 64}, Shape{kShared, 32, 200, 48},
                           Shape{kPositiveOnly, 64, 1, 96}}) {
      SCOPED_TRACE(std::string(DtypeName(dt)) + " " + KindName(s.kind));
      EmbedProblem p = RandomEmbed(rng, s.kind, s.B, s.K, s.D);
      p.reduction = SEMCL_REDUCTION_SUM;  // gradients of unit size: fp16 stays normal
      const Result16 got = Run16(ctx_, p, dt);
      ASSERT_EQ(got.status, SEMCL_STATUS_SUCCESS) << got.error;
      const RefEmbed ref = Reference(Widened(p, dt));
      const double rel = dt == SEMCL_DTYPE_BFLOAT16 ? 0x1p-8 : 0x1p-11;
      const double abs = dt == SEMCL_DTYPE_BFLOAT16 ? 0.0 : 0x1p-25;
      auto bound16 = [&](const std::vector<double> &want, const std::vector<double> &bound) {
        std::vector<double> b(bound);
        for (size_t i = 0; i < b.size(); ++i)
          b[i] = bound[i] + rel * (std::fabs(want[i]) + bound[i]) + abs;
        return b;
      };
      ExpectWithinBound("loss", got.loss, ref.loss, ref.b_loss);
      ExpectWithinBound("grad_user", From16(dt, got.grad_user), ref.grad_user,
                        bound16(ref.grad_user, ref.b_grad_user));
      ExpectWithinBound("grad_item_raw", From16(dt, got.grad_raw), ref.grad_raw,
                        bound16(ref.grad_raw, ref.b_grad_raw));
      ExpectWithinBound("grad_item_pos", From16(dt, got.grad_pos), ref.grad_pos,
                        bound16(ref.grad_pos, ref.b_grad_pos));
      if (s.kind != kPositiveOnly)
        ExpectWithinBound("grad of the negatives", From16(dt, got.grad_neg), ref.grad_neg,
                          bound16(ref.grad_neg, ref.b_grad_neg));
    }
}

// The exact workspace for the dtype suffices (the context's own is not used), 16 bytes less
// fails with nothing written.
TEST_P(EmbedDtypes, TheQueriedWorkspaceForTheDtypeSuffices) {
  std::mt19937_64 rng(804);
  const semcl_embed_kind_t kinds[] = {SEMCL_EMBED_PER_ROW, SEMCL_EMBED_SHARED,
                                      SEMCL_EMBED_POSITIVE_ONLY};
  const int ref_kinds[] = {kPerRow, kShared, kPositiveOnly};
  for (semcl_dtype_t dt : kDtypes)
    for (int i = 0; i < 3; ++i) {
      SCOPED_TRACE(std::string(DtypeName(dt)) + " " + KindName(ref_kinds[i]));
      const EmbedProblem p = RandomEmbed(rng, ref_kinds[i], 5, 40, 24);
      const Result16 own = Run16(ctx_, p, dt);
      ASSERT_EQ(own.status, SEMCL_STATUS_SUCCESS) << own.error;
      size_t bytes = 0;
      ASSERT_EQ(semcl_get_embed_workspace_size(ctx_, kinds[i], p.B, p.K, p.D, dt, &bytes),
                SEMCL_STATUS_SUCCESS)
          << semcl_last_error(ctx_);
      void *ws = nullptr;
      ASSERT_EQ(semcl_buffer_alloc(ctx_, &ws, bytes), SEMCL_STATUS_SUCCESS);
      ASSERT_EQ(semcl_set_workspace(ctx_, ws, bytes), SEMCL_STATUS_SUCCESS);
      const Result16 borrowed = Run16(ctx_, p, dt);
      ASSERT_EQ(semcl_set_workspace(ctx_, ws, bytes - 16), SEMCL_STATUS_SUCCESS);
      const Result16 too_small = Run16(ctx_, p, dt);
      ASSERT_EQ(semcl_set_workspace(ctx_, nullptr, 0), SEMCL_STATUS_SUCCESS);
      ASSERT_EQ(semcl_synchronize(ctx_), SEMCL_STATUS_SUCCESS);
      semcl_buffer_free(ctx_, ws);
      ASSERT_EQ(borrowed.status, SEMCL_STATUS_SUCCESS) << borrowed.error;
      EXPECT_BITWISE(borrowed.loss, own.loss);
      ExpectSame16("grad_user", borrowed.grad_user, own.grad_user);
      ExpectSame16("grad of the negatives", borrowed.grad_neg, own.grad_neg);
      EXPECT_EQ(too_small.status, SEMCL_STATUS_INVALID_VALUE);
      EXPECT_TRUE(semcl_test::AllPoison(too_small.loss));
      for (const auto *g : {&too_small.grad_user, &too_small.grad_raw, &too_small.grad_neg})
        for (uint16_t h : *g) ASSERT_EQ(h, kPoison16) << "written by a failing call";
    }
}

// A failing 16-bit call (a NaN lambda here) writes nothing.
TEST_P(EmbedDtypes, FailingCallsWriteNothing) {
  std::mt19937_64 rng(805);
  for (semcl_dtype_t dt : kDtypes)
    for (int kind : {kPerRow, kShared, kPositiveOnly}) {
      EmbedProblem p = RandomEmbed(rng, kind, 3, 4, 8);
      p.lambda = NAN;  // refused: lambda must be finite
      const Result16 r = Run16(ctx_, p, dt);
      EXPECT_EQ(r.status, SEMCL_STATUS_NON_FINITE_SCALAR) << KindName(kind);
      EXPECT_TRUE(semcl_test::AllPoison(r.loss));
      for (const auto *g : {&r.grad_user, &r.grad_raw, &r.grad_pos, &r.grad_neg})
        for (uint16_t h : *g) ASSERT_EQ(h, kPoison16) << KindName(kind);
    }
}

SEMCL_INSTANTIATE_ON_ALL_BACKENDS(EmbedDtypes);

}  // namespace
