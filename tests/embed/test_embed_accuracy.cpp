// test_embed_accuracy.cpp — the embedding calls against the fp64 reference (scores computed in
// fp64 from the same embeddings), on every backend: every output within the error bound that
// docs/embeddings.md states (evaluated by tests/support/reference_embed.c), for all three
// calls, all reductions, upstream arrays, grad_scale, the score scale, weights, pos_weight,
// masks and the shared pool's pos_index, and shapes that cross the chunk boundaries (more than
// 1024 negatives per row, D not a multiple of 32, several row chunks of the shared pool).
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "embed_util.h"

namespace {

using namespace semcl_embed_test;

class EmbedAccuracy : public semcl_test::BackendTest {
 protected:
  void Check(const EmbedProblem &p, const std::string &label) {
    SCOPED_TRACE(label);
    const EmbedResult got = RunEmbed(ctx_, p);
    ASSERT_EQ(got.status, SEMCL_STATUS_SUCCESS) << got.error;
    const double unit = p.gemm_math == SEMCL_GEMM_MATH_TF32 ? 0x1p-11 : 0x1p-24;
    const RefEmbed want = Reference(p, unit);
    ExpectWithinBound("loss", got.loss, want.loss, want.b_loss);
    ExpectWithinBound("loss_ctr", got.loss_ctr, want.loss_ctr, want.b_loss_ctr);
    ExpectWithinBound("loss_aux", got.loss_aux, want.loss_aux, want.b_loss_aux);
    ExpectWithinBound("grad_user", got.grad_user, want.grad_user, want.b_grad_user);
    ExpectWithinBound("grad_item_raw", got.grad_raw, want.grad_raw, want.b_grad_raw);
    ExpectWithinBound("grad_item_pos", got.grad_pos, want.grad_pos, want.b_grad_pos);
    if (p.kind != kPositiveOnly)
      ExpectWithinBound("grad_item_neg", got.grad_neg, want.grad_neg, want.b_grad_neg);
    // The bounds are tight enough to mean something.
    const double fraction = p.gemm_math == SEMCL_GEMM_MATH_TF32 ? 0.05 : 2e-3;
    ExpectBoundSmall("loss", want.loss, want.b_loss, fraction);
    ExpectBoundSmall("grad_user", want.grad_user, want.b_grad_user, fraction);
    if (p.kind != kPositiveOnly)
      ExpectBoundSmall("grad_item_neg", want.grad_neg, want.b_grad_neg, fraction);
  }
};

const semcl_reduction_t kReductions[] = {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM,
                                         SEMCL_REDUCTION_NONE};

std::string Label(const EmbedProblem &p) {
  return std::string(KindName(p.kind)) + " B " + std::to_string(p.B) + " K " +
         std::to_string(p.K) + " D " + std::to_string(p.D) + " reduction " +
         std::to_string((int)p.reduction);
}

struct Shape {
  int kind;
  int64_t B, K, D;
};

// Shapes: tiny, D not a multiple of 32, D == 1, K == 1, rows of two chunks (K > 1024), a
// shared pool of several GEMM blocks (N > 2048) and chunks (N > 1024).
const Shape kShapes[] = {
    {kPerRow, 7, 5, 3},      {kPerRow, 33, 40, 64},     {kPerRow, 3, 1500, 37},
    {kPerRow, 5, 1, 1},      {kPositiveOnly, 50, 1, 13}, {kPositiveOnly, 9, 1, 64},
    {kShared, 20, 30, 17},   {kShared, 40, 2200, 24},   {kShared, 4, 1, 96},
};

TEST_P(EmbedAccuracy, EveryShapeAndReductionWithinTheDocumentedBound) {
  std::mt19937_64 rng(101);
  for (const Shape &s : kShapes)
    for (semcl_reduction_t red : kReductions) {
      EmbedProblem p = RandomEmbed(rng, s.kind, s.B, s.K, s.D);
      p.reduction = red;
      Check(p, Label(p));
    }
}

TEST_P(EmbedAccuracy, UpstreamGradScaleScoreScaleWeightsAndSoftLabels) {
  std::mt19937_64 rng(102);
  std::uniform_real_distribution<float> unit(0.25f, 2.0f);
  for (const Shape &s : kShapes)
    for (semcl_reduction_t red : kReductions) {
      EmbedProblem p = RandomEmbed(rng, s.kind, s.B, s.K, s.D, /*soft_labels=*/true);
      p.reduction = red;
      p.lambda = 0.7f;
      p.grad_scale = -1.5f;
      p.scale = 1.0f / 0.07f;  // a temperature of 0.07
      p.upstream.resize(red == SEMCL_REDUCTION_NONE ? (size_t)s.B : 1);
      for (float &v : p.upstream) v = unit(rng);
      p.weight.resize((size_t)s.B);
      for (float &v : p.weight) v = unit(rng);
      p.pos_weight = {2.5f};
      Check(p, Label(p) + " with options");
      p.pos_weight.resize((size_t)s.B);
      for (float &v : p.pos_weight) v = unit(rng);
      p.scale = 0.5f;
      Check(p, Label(p) + " with per-row pos_weight");
    }
}

TEST_P(EmbedAccuracy, MasksAndAccidentalHits) {
  std::mt19937_64 rng(103);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (const Shape &s : kShapes) {
    if (s.kind == kPositiveOnly) continue;
    for (semcl_reduction_t red : kReductions)
      for (int variant = 0; variant < 4; ++variant) {
        EmbedProblem p = RandomEmbed(rng, s.kind, s.B, s.K, s.D);
        p.reduction = red;
        if (variant & 1) {
          p.mask.resize((size_t)(s.B * s.K));
          for (uint8_t &m : p.mask) m = unit(rng) < 0.75 ? (uint8_t)(1 + (int)(unit(rng) * 200)) : 0;
        }
        if (variant & 2) {
          p.count.resize((size_t)s.B);
          for (int32_t &c : p.count) c = (int32_t)(unit(rng) * 1.3 * (double)s.K) - 1;
        }
        if (s.kind == kShared) {  // accidental hits: in range, -1, out of range
          p.pos_index.resize((size_t)s.B);
          for (int64_t b = 0; b < s.B; ++b)
            p.pos_index[(size_t)b] = b % 5 == 4 ? -1 : (b % 7 == 6 ? s.K + 3 : (int64_t)(unit(rng) * (double)s.K));
        }
        // Masked negatives may hold anything: NaN must not reach any output.
        for (int64_t b = 0; b < (s.kind == kPerRow ? s.B : 0); ++b)
          for (int64_t k = 0; k < s.K; ++k) {
            const bool masked = (!p.mask.empty() && p.mask[(size_t)(b * s.K + k)] == 0) ||
                                (!p.count.empty() && k >= p.count[(size_t)b]);
            if (masked) p.neg[(size_t)((b * s.K + k) * s.D)] = NAN;
          }
        Check(p, Label(p) + " mask variant " + std::to_string(variant));
      }
  }
}

TEST_P(EmbedAccuracy, SharedPoolInSeveralRowChunks) {
  // B*N floats above the CPU's 32 MiB chunk of S (3 chunks: 2048 + 2048 + 4 rows): rows are
  // processed in chunks, dN accumulated.
  std::mt19937_64 rng(104);
  EmbedProblem p = RandomEmbed(rng, kShared, 4100, 2100, 8);
  p.pos_index.resize((size_t)p.B);
  for (int64_t b = 0; b < p.B; ++b) p.pos_index[(size_t)b] = (b * 7) % p.K;
  for (semcl_reduction_t red : kReductions) {
    p.reduction = red;
    Check(p, Label(p));
  }
}

TEST_P(EmbedAccuracy, Tf32GemmsWithinTheirBound) {
  // On the CPU TF32 is the same as FP32; on CUDA the GEMM inputs are rounded to TF32 and the
  // bound uses its unit roundoff (2^-11).
  std::mt19937_64 rng(105);
  EmbedProblem p = RandomEmbed(rng, kShared, 64, 300, 48);
  p.gemm_math = SEMCL_GEMM_MATH_TF32;
  Check(p, "tf32");
}

SEMCL_INSTANTIATE_ON_ALL_BACKENDS(EmbedAccuracy);

}  // namespace
