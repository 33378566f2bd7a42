// test_embed_exact.cpp — relations the embedding calls must satisfy bit for bit:
//  - per-row negatives and loss 1 equal the score-level calls on scores formed with the
//    documented canonical dot product (written here, independently), and their embedding
//    gradients are the score-level gradients chained in the documented order (grad_user's
//    chunked fmaf chains included) — for score scales that are powers of two, where the scale
//    multiplies exactly;
//  - the shared pool with semcl's builtin GEMM equals per-row negatives with the pool repeated
//    for every row (its scores are the same canonical dot products);
//  - NULL gradients change nothing else; grad_item_neg may be written in place; masked
//    negatives are invisible (NaN inside, +0 gradients); results do not depend on the thread
//    count, the CPU instruction-set level, repetition, or whose workspace is used.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>

#include "embed_util.h"

namespace {

using namespace semcl_embed_test;

const semcl_reduction_t kReductions[] = {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM,
                                         SEMCL_REDUCTION_NONE};

struct ScoreLevel {
  std::vector<float> raw, pos, neg;  // scores
  std::vector<float> loss, loss_ctr, loss_aux, graw, gpos, gneg;
};

// The score-level call on fp32(scale * canonical dot) scores, with p's options.
ScoreLevel RunScoreLevel(semcl_context *ctx, const EmbedProblem &p) {
  ScoreLevel s;
  const int64_t B = p.B, K = p.K, D = p.D;
  for (int64_t b = 0; b < B; ++b) {
    const float *u = &p.user[(size_t)(b * D)];
    s.raw.push_back(p.scale * CanonicalDot(u, &p.raw[(size_t)(b * D)], D));
    s.pos.push_back(p.scale * CanonicalDot(u, &p.pos[(size_t)(b * D)], D));
    if (p.kind == kPerRow)
      for (int64_t k = 0; k < K; ++k)
        s.neg.push_back(p.scale * CanonicalDot(u, &p.neg[(size_t)((b * K + k) * D)], D));
  }
  const float poison = semcl_test::PoisonValue();
  const size_t nl = p.LossCount();
  Buffer raw(ctx, s.raw), pos(ctx, s.pos), y(ctx, p.y);
  Buffer neg = p.kind == kPerRow ? Buffer(ctx, s.neg) : Buffer();
  Buffer up = p.upstream.empty() ? Buffer() : Buffer(ctx, p.upstream);
  Buffer weight = p.weight.empty() ? Buffer() : Buffer(ctx, p.weight);
  Buffer pw = p.pos_weight.empty() ? Buffer() : Buffer(ctx, p.pos_weight);
  TypedBuffer<uint8_t> mask(ctx, p.mask);
  TypedBuffer<int32_t> count(ctx, p.count);
  Buffer loss(ctx, nl, poison), ctr(ctx, nl, poison), aux(ctx, nl, poison);
  Buffer graw(ctx, (size_t)B, poison), gpos(ctx, (size_t)B, poison);
  Buffer gneg = p.kind == kPerRow ? Buffer(ctx, (size_t)(B * K), poison) : Buffer();
  semcl_options opt = SEMCL_OPTIONS_INIT;
  opt.neg_mask = mask.get();
  opt.neg_count = count.get();
  opt.weight = weight.get();
  opt.pos_weight = pw.get();
  opt.pos_weight_count = (int64_t)p.pos_weight.size();
  semcl_status_t st;
  if (p.kind == kPerRow)
    st = semcl_pos_neg_ex(ctx, B, K, raw.get(), pos.get(), neg.get(), y.get(), p.lambda,
                          p.reduction, &opt, p.grad_scale, up.get(), loss.get(), ctr.get(),
                          aux.get(), graw.get(), gpos.get(), gneg.get());
  else
    st = semcl_positive_only_ex(ctx, B, raw.get(), pos.get(), y.get(), p.lambda, p.reduction,
                                &opt, p.grad_scale, up.get(), loss.get(), ctr.get(), aux.get(),
                                graw.get(), gpos.get());
  EXPECT_EQ(st, SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx);
  s.loss = loss.download();
  s.loss_ctr = ctr.download();
  s.loss_aux = aux.download();
  s.graw = graw.download();
  s.gpos = gpos.download();
  if (p.kind == kPerRow) s.gneg = gneg.download();
  return s;
}

bool IsReal(const EmbedProblem &p, int64_t b, int64_t k) {
  if (!p.count.empty() && (p.count[(size_t)b] < 0 || k >= p.count[(size_t)b])) return false;
  if (!p.mask.empty() && p.mask[(size_t)(b * p.K + k)] == 0) return false;
  return true;
}

// The embedding gradients in the documented order from the score-level gradients, for a scale
// that is a power of two (then h = scale * score gradient exactly).
void ExpectedGradients(const EmbedProblem &p, const ScoreLevel &s, std::vector<float> *gu,
                       std::vector<float> *gr, std::vector<float> *gp, std::vector<float> *gn) {
  const int64_t B = p.B, K = p.K, D = p.D;
  gu->assign((size_t)(B * D), 0.0f);
  gr->assign((size_t)(B * D), 0.0f);
  gp->assign((size_t)(B * D), 0.0f);
  gn->assign(p.kind == kPerRow ? (size_t)(B * K * D) : 0, 0.0f);
  for (int64_t b = 0; b < B; ++b) {
    const float *u = &p.user[(size_t)(b * D)];
    const float hr = p.scale * s.graw[(size_t)b], hp = p.scale * s.gpos[(size_t)b];
    std::vector<double> total((size_t)D, 0.0);
    if (p.kind == kPerRow) {
      for (int64_t begin = 0, ch = 0; begin < K; begin += 1024, ++ch) {
        std::vector<float> acc((size_t)D, 0.0f);
        for (int64_t k = begin; k < std::min<int64_t>(K, begin + 1024); ++k) {
          if (!IsReal(p, b, k)) continue;  // masked: gradient +0 (assigned above)
          const float h = p.scale * s.gneg[(size_t)(b * K + k)];
          const float *n = &p.neg[(size_t)((b * K + k) * D)];
          for (int64_t d = 0; d < D; ++d) {
            acc[(size_t)d] = std::fma(h, n[d], acc[(size_t)d]);
            (*gn)[(size_t)((b * K + k) * D + d)] = h * u[d];
          }
        }
        for (int64_t d = 0; d < D; ++d)
          total[(size_t)d] = ch == 0 ? (double)acc[(size_t)d] : total[(size_t)d] + (double)acc[(size_t)d];
      }
    }
    for (int64_t d = 0; d < D; ++d) {
      const size_t i = (size_t)(b * D + d);
      (*gr)[i] = hr * u[d];
      (*gp)[i] = hp * u[d];
      (*gu)[i] = (float)((total[(size_t)d] + (double)hr * (double)p.raw[i]) +
                         (double)hp * (double)p.pos[i]);
    }
  }
}

class EmbedExact : public semcl_test::BackendTest {};

TEST_P(EmbedExact, PerRowAndLossOneEqualTheScoreLevelCallsInTheDocumentedOrder) {
  std::mt19937_64 rng(301);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  struct Shape {
    int kind;
    int64_t B, K, D;
  };
  const Shape shapes[] = {{kPerRow, 9, 7, 5},     {kPerRow, 4, 2100, 33}, {kPerRow, 40, 33, 64},
                          {kPositiveOnly, 30, 1, 70}, {kPerRow, 3, 1, 1},
                          // D = 32 and 128: the CPU's register-resident grad_user paths
                          {kPerRow, 5, 70, 32},   {kPerRow, 3, 1100, 128}};
  for (const Shape &sh : shapes)
    for (semcl_reduction_t red : kReductions)
      for (float scale : {1.0f, 2.0f, 0.5f})
        for (int options = 0; options < 2; ++options) {
          SCOPED_TRACE(std::string(KindName(sh.kind)) + " K " + std::to_string(sh.K) + " D " +
                       std::to_string(sh.D) + " reduction " + std::to_string((int)red) +
                       " scale " + std::to_string(scale) + " options " + std::to_string(options));
          EmbedProblem p = RandomEmbed(rng, sh.kind, sh.B, sh.K, sh.D, options == 1);
          p.reduction = red;
          p.scale = scale;
          p.grad_scale = 0.75f;
          if (options) {
            p.upstream.assign(p.LossCount(), 1.25f);
            p.weight.resize((size_t)p.B);
            for (float &w : p.weight) w = (float)(0.5 + unit(rng));
            p.pos_weight = {3.0f};
            if (sh.kind == kPerRow) {
              p.mask.resize((size_t)(p.B * p.K));
              for (uint8_t &m : p.mask) m = unit(rng) < 0.8;
              p.count.resize((size_t)p.B);
              for (int32_t &c : p.count) c = (int32_t)(unit(rng) * (double)(p.K + 2));
            }
          }
          const EmbedResult got = RunEmbed(ctx_, p);
          ASSERT_EQ(got.status, SEMCL_STATUS_SUCCESS) << got.error;
          const ScoreLevel s = RunScoreLevel(ctx_, p);
          EXPECT_BITWISE(got.loss, s.loss);
          EXPECT_BITWISE(got.loss_ctr, s.loss_ctr);
          EXPECT_BITWISE(got.loss_aux, s.loss_aux);
          std::vector<float> gu, gr, gp, gn;
          ExpectedGradients(p, s, &gu, &gr, &gp, &gn);
          EXPECT_BITWISE(got.grad_user, gu);
          EXPECT_BITWISE(got.grad_raw, gr);
          EXPECT_BITWISE(got.grad_pos, gp);
          if (sh.kind == kPerRow) EXPECT_BITWISE(got.grad_neg, gn);
        }
}

TEST_P(EmbedExact, NullGradientsAreSkippedAndChangeNothingElse) {
  std::mt19937_64 rng(302);
  for (int kind : {kPerRow, kShared, kPositiveOnly}) {
    EmbedProblem p = RandomEmbed(rng, kind, 21, 1100, 19);
    if (kind == kShared) p.pos_index.assign((size_t)p.B, 3);
    const EmbedResult all = RunEmbed(ctx_, p, kAllGrads);
    ASSERT_EQ(all.status, SEMCL_STATUS_SUCCESS) << all.error;
    for (int grads = 0; grads < kAllGrads; ++grads) {
      SCOPED_TRACE(std::string(KindName(kind)) + " gradients " + std::to_string(grads));
      const EmbedResult some = RunEmbed(ctx_, p, grads);
      ASSERT_EQ(some.status, SEMCL_STATUS_SUCCESS) << some.error;
      EXPECT_BITWISE(some.loss, all.loss);
      EXPECT_BITWISE(some.loss_ctr, all.loss_ctr);
      EXPECT_BITWISE(some.loss_aux, all.loss_aux);
      if (grads & kGradUser) EXPECT_BITWISE(some.grad_user, all.grad_user);
      if (grads & kGradRaw) EXPECT_BITWISE(some.grad_raw, all.grad_raw);
      if (grads & kGradPos) EXPECT_BITWISE(some.grad_pos, all.grad_pos);
      if ((grads & kGradNeg) && kind != kPositiveOnly) EXPECT_BITWISE(some.grad_neg, all.grad_neg);
    }
  }
}

TEST_P(EmbedExact, GradItemNegInPlaceEqualsOutOfPlace) {
  std::mt19937_64 rng(303);
  // D = 40: the generic path; D = 64: the CPU's register path (reads n, writes g per vector)
  for (int64_t shape : {0, 1, 2, 3}) {
    const int64_t D = shape < 2 ? 40 : 64, K = shape % 2 ? 1500 : 5;
    EmbedProblem p = RandomEmbed(rng, kPerRow, 6, K, D);
    const EmbedResult out = RunEmbed(ctx_, p, kAllGrads, false);
    const EmbedResult in = RunEmbed(ctx_, p, kAllGrads, true);
    ASSERT_EQ(in.status, SEMCL_STATUS_SUCCESS) << in.error;
    EXPECT_BITWISE(in.grad_neg, out.grad_neg);
    EXPECT_BITWISE(in.grad_user, out.grad_user);
    EXPECT_BITWISE(in.loss, out.loss);
  }
}

TEST_P(EmbedExact, MaskedNegativesAreInvisible) {
  // Every row keeps its first c of K negatives (neg_count); the rest hold NaN. The result must
  // equal the unmasked call on the first c negatives, and the masked gradients be +0 bits.
  std::mt19937_64 rng(304);
  const int64_t B = 5, K = 1300, c = 1030, D = 12;
  EmbedProblem masked = RandomEmbed(rng, kPerRow, B, K, D);
  EmbedProblem cut = masked;
  cut.K = c;
  cut.neg.clear();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t d = 0; d < D; ++d) {
        float &x = masked.neg[(size_t)((b * K + k) * D + d)];
        if (k < c)
          cut.neg.push_back(x);
        else
          x = NAN;
      }
  masked.count.assign((size_t)B, (int32_t)c);
  for (float &u : masked.user) u = -std::fabs(u);  // 0 * u would be -0: masked must be +0
  cut.user = masked.user;
  for (semcl_reduction_t red : kReductions) {
    masked.reduction = cut.reduction = red;
    const EmbedResult a = RunEmbed(ctx_, masked), b = RunEmbed(ctx_, cut);
    ASSERT_EQ(a.status, SEMCL_STATUS_SUCCESS) << a.error;
    EXPECT_BITWISE(a.loss, b.loss);
    EXPECT_BITWISE(a.grad_user, b.grad_user);
    EXPECT_BITWISE(a.grad_raw, b.grad_raw);
    EXPECT_BITWISE(a.grad_pos, b.grad_pos);
    std::vector<float> kept, tail;
    for (int64_t bb = 0; bb < B; ++bb)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t d = 0; d < D; ++d) {
          const float g = a.grad_neg[(size_t)((bb * K + k) * D + d)];
          if (k < c)
            kept.push_back(g);
          else
            tail.push_back(g);
        }
    EXPECT_BITWISE(kept, b.grad_neg);
    EXPECT_BITWISE(tail, std::vector<float>(tail.size(), 0.0f));
  }
  // A mask that keeps everything is no mask.
  EmbedProblem p = RandomEmbed(rng, kPerRow, 4, 70, 9);
  const EmbedResult plain = RunEmbed(ctx_, p);
  p.mask.assign((size_t)(p.B * p.K), 7);
  const EmbedResult ones = RunEmbed(ctx_, p);
  EXPECT_BITWISE(ones.loss, plain.loss);
  EXPECT_BITWISE(ones.grad_user, plain.grad_user);
  EXPECT_BITWISE(ones.grad_neg, plain.grad_neg);
}

TEST_P(EmbedExact, RepeatedCallsAreBitwiseIdentical) {
  std::mt19937_64 rng(305);
  for (int kind : {kPerRow, kShared, kPositiveOnly}) {
    EmbedProblem p = RandomEmbed(rng, kind, 50, 700, 24);
    const EmbedResult a = RunEmbed(ctx_, p), b = RunEmbed(ctx_, p);
    EXPECT_BITWISE(a.loss, b.loss);
    EXPECT_BITWISE(a.grad_user, b.grad_user);
    EXPECT_BITWISE(a.grad_neg, b.grad_neg);
  }
}

TEST_P(EmbedExact, ExactlyTheQueriedWorkspaceSuffices) {
  std::mt19937_64 rng(306);
  const semcl_embed_kind_t kinds[] = {SEMCL_EMBED_PER_ROW, SEMCL_EMBED_SHARED,
                                      SEMCL_EMBED_POSITIVE_ONLY};
  const int ref_kinds[] = {kPerRow, kShared, kPositiveOnly};
  for (int i = 0; i < 3; ++i)
    for (int threads : {1, 3}) {
      SCOPED_TRACE(std::string(KindName(ref_kinds[i])) + " threads " + std::to_string(threads));
      ASSERT_EQ(semcl_set_threads(ctx_, threads), SEMCL_STATUS_SUCCESS);
      EmbedProblem p = RandomEmbed(rng, ref_kinds[i], 3, 2500, 20);
      p.mask.assign(ref_kinds[i] == kPositiveOnly ? 0 : (size_t)(p.B * p.K), 1);
      const EmbedResult own = RunEmbed(ctx_, p);
      size_t bytes = 0;
      ASSERT_EQ(semcl_get_embed_workspace_size(ctx_, kinds[i], p.B, p.K, p.D, SEMCL_DTYPE_FLOAT32, &bytes),
                SEMCL_STATUS_SUCCESS)
          << semcl_last_error(ctx_);
      ASSERT_GT(bytes, 16u);
      void *ws = nullptr;
      ASSERT_EQ(semcl_buffer_alloc(ctx_, &ws, bytes), SEMCL_STATUS_SUCCESS);
      ASSERT_EQ(semcl_set_workspace(ctx_, ws, bytes), SEMCL_STATUS_SUCCESS);
      const EmbedResult borrowed = RunEmbed(ctx_, p);
      ASSERT_EQ(semcl_set_workspace(ctx_, ws, bytes - 16), SEMCL_STATUS_SUCCESS);
      const EmbedResult too_small = RunEmbed(ctx_, p);
      ASSERT_EQ(semcl_set_workspace(ctx_, nullptr, 0), SEMCL_STATUS_SUCCESS);
      ASSERT_EQ(semcl_synchronize(ctx_), SEMCL_STATUS_SUCCESS);
      semcl_buffer_free(ctx_, ws);
      ASSERT_EQ(borrowed.status, SEMCL_STATUS_SUCCESS) << borrowed.error;
      EXPECT_BITWISE(borrowed.loss, own.loss);
      EXPECT_BITWISE(borrowed.grad_user, own.grad_user);
      EXPECT_BITWISE(borrowed.grad_neg, own.grad_neg);
      EXPECT_EQ(too_small.status, SEMCL_STATUS_INVALID_VALUE);
      EXPECT_TRUE(semcl_test::AllPoison(too_small.loss));
      EXPECT_TRUE(semcl_test::AllPoison(too_small.grad_user));
    }
}

SEMCL_INSTANTIATE_ON_ALL_BACKENDS(EmbedExact);

// ---- CPU only: thread counts, instruction-set levels, the builtin GEMM ----------------------

class EmbedOnCPU : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(semcl_create(&ctx_, SEMCL_BACKEND_CPU), SEMCL_STATUS_SUCCESS);
  }
  void TearDown() override { semcl_destroy(ctx_); }
  semcl_context *ctx_ = nullptr;
};

TEST_F(EmbedOnCPU, ThreadCountsAndInstructionSetLevelsGiveTheSameBits) {
  std::mt19937_64 rng(307);
  struct Shape {
    int kind;
    int64_t B, K, D;
  };
  // few long rows (split into chunk tasks with several threads), many short rows, a shared
  // pool, loss 1
  const Shape shapes[] = {{kPerRow, 3, 5000, 16}, {kPerRow, 300, 30, 40}, {kShared, 100, 3000, 16},
                          {kPositiveOnly, 5000, 1, 8}};
  for (const Shape &s : shapes) {
    SCOPED_TRACE(std::string(KindName(s.kind)) + " B " + std::to_string(s.B));
    EmbedProblem p = RandomEmbed(rng, s.kind, s.B, s.K, s.D);
    ASSERT_EQ(semcl_set_threads(ctx_, 1), SEMCL_STATUS_SUCCESS);
    const EmbedResult base = RunEmbed(ctx_, p);
    ASSERT_EQ(base.status, SEMCL_STATUS_SUCCESS) << base.error;
    for (int threads = 2; threads <= 4; ++threads) {
      ASSERT_EQ(semcl_set_threads(ctx_, threads), SEMCL_STATUS_SUCCESS);
      const EmbedResult r = RunEmbed(ctx_, p);
      EXPECT_BITWISE(r.loss, base.loss);
      EXPECT_BITWISE(r.grad_user, base.grad_user);
      EXPECT_BITWISE(r.grad_raw, base.grad_raw);
      EXPECT_BITWISE(r.grad_neg, base.grad_neg);
    }
    ASSERT_EQ(semcl_set_threads(ctx_, 2), SEMCL_STATUS_SUCCESS);
    for (semcl_cpu_isa_t isa : {SEMCL_CPU_ISA_SCALAR, SEMCL_CPU_ISA_AVX2, SEMCL_CPU_ISA_AVX512}) {
      if (semcl_set_cpu_isa(ctx_, isa) != SEMCL_STATUS_SUCCESS) continue;  // not on this CPU
      SCOPED_TRACE(semcl_cpu_isa_name(isa));
      const EmbedResult r = RunEmbed(ctx_, p);
      EXPECT_BITWISE(r.loss, base.loss);
      EXPECT_BITWISE(r.grad_user, base.grad_user);
      EXPECT_BITWISE(r.grad_neg, base.grad_neg);
    }
  }
}

// With the builtin GEMM, S is made of canonical dot products: the shared pool equals per-row
// negatives with the pool repeated for every row and the accidental hit masked, in the losses
// and the gradients of the row's own vectors (dU and dN are GEMM sums in another order).
TEST_F(EmbedOnCPU, BuiltinGemmSharedPoolEqualsPerRowWithTheRepeatedPool) {
  semcl_context *builtin = nullptr;
  setenv("SEMCL_CPU_GEMM", "builtin", 1);
  ASSERT_EQ(semcl_create(&builtin, SEMCL_BACKEND_CPU), SEMCL_STATUS_SUCCESS);
  unsetenv("SEMCL_CPU_GEMM");
  EXPECT_STREQ(semcl_cpu_gemm_name(builtin), "builtin");
  std::mt19937_64 rng(308);
  EmbedProblem shared = RandomEmbed(rng, kShared, 13, 1100, 35);
  shared.pos_index.resize((size_t)shared.B);
  for (int64_t b = 0; b < shared.B; ++b) shared.pos_index[(size_t)b] = (b * 97) % shared.K;
  shared.pos_index[3] = -1;
  EmbedProblem per_row = shared;
  per_row.kind = kPerRow;
  per_row.pos_index.clear();
  per_row.neg.clear();
  per_row.mask.assign((size_t)(shared.B * shared.K), 1);
  for (int64_t b = 0; b < shared.B; ++b) {
    per_row.neg.insert(per_row.neg.end(), shared.neg.begin(), shared.neg.end());
    if (shared.pos_index[(size_t)b] >= 0)
      per_row.mask[(size_t)(b * shared.K + shared.pos_index[(size_t)b])] = 0;
  }
  for (semcl_reduction_t red : kReductions) {
    shared.reduction = per_row.reduction = red;
    const EmbedResult a = RunEmbed(builtin, shared), b = RunEmbed(ctx_, per_row);
    ASSERT_EQ(a.status, SEMCL_STATUS_SUCCESS) << a.error;
    EXPECT_BITWISE(a.loss, b.loss);
    EXPECT_BITWISE(a.loss_aux, b.loss_aux);
    EXPECT_BITWISE(a.grad_raw, b.grad_raw);
    EXPECT_BITWISE(a.grad_pos, b.grad_pos);
  }
  semcl_destroy(builtin);
}

}  // namespace
