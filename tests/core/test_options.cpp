// test_options.cpp — the options of semcl_options on every backend: weights and pos_weight,
// masks (neg_mask, neg_count, both), bf16/fp16 scores, against the fp64 reference
// (tests/support/reference.c) and through exact relations that must hold bit for bit:
// padding is invisible, all-ones weights equal no weights, 16-bit calls equal fp32 calls on the
// widened scores with the gradients rounded once. Also the edge cases (all-masked rows and
// batches, out-of-range counts, extreme coefficients, labels outside [0, 1]) and bad options.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core_util.h"
#include "raw_enums.h"
#include "formats16.h"
#include "typed_buffer.h"

namespace {

using namespace semcl_core_test;
using semcl_test::TypedBuffer;
using namespace semcl_test::formats16;

TEST(Formats16, TheTestsOwnRoundingIsRight) {
  EXPECT_EQ(RoundBf16(1.0f), 0x3f80);
  EXPECT_EQ(RoundBf16(1.00390625f), 0x3f80);   // halfway 1 + 2^-8: ties to even (down)
  EXPECT_EQ(RoundBf16(1.01171875f), 0x3f82);   // halfway 1 + 3*2^-8: ties to even (up)
  EXPECT_EQ(RoundFp16(1.0f), 0x3c00);
  EXPECT_EQ(RoundFp16(65504.0f), 0x7bff);
  EXPECT_EQ(RoundFp16(65520.0f), 0x7c00);      // halfway to 65536: rounds to inf
  EXPECT_EQ(RoundFp16(5.9604644775390625e-8f), 0x0001);  // smallest subnormal
  EXPECT_EQ(RoundFp16(2.98023223876953125e-8f), 0x0000); // half of it: ties to even (0)
  EXPECT_EQ(RoundFp16(-2.0f), 0xc000);
}

// ---- a problem with options ----------------------------------------------------------------

struct OptProblem {
  Problem p;  // scores as fp32 values (for 16-bit dtypes: already representable)
  semcl_dtype_t dtype = SEMCL_DTYPE_FLOAT32;
  std::vector<uint8_t> mask;
  std::vector<int32_t> count;
  std::vector<float> weight, pos_weight;
};

// Scores of the right dtype in the context's memory space.
struct Scores {
  Buffer f32;
  TypedBuffer<uint16_t> h16;
  void *get() const { return f32.get() ? (void *)f32.get() : (void *)h16.get(); }
};

Scores MakeScores(semcl_context *ctx, semcl_dtype_t dt, const std::vector<float> &v) {
  Scores s;
  if (dt == SEMCL_DTYPE_FLOAT32) {
    s.f32 = Buffer(ctx, v);
  } else {
    std::vector<uint16_t> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) h[i] = Round16(dt, v[i]);
    s.h16 = TypedBuffer<uint16_t>(ctx, h);
  }
  return s;
}

Scores MakePoisonScores(semcl_context *ctx, semcl_dtype_t dt, size_t n) {
  Scores s;
  if (dt == SEMCL_DTYPE_FLOAT32)
    s.f32 = Buffer(ctx, n, semcl_test::PoisonValue());
  else
    s.h16 = TypedBuffer<uint16_t>(ctx, std::vector<uint16_t>(n, 0x7dad));
  return s;
}

std::vector<float> Download(const Scores &s, semcl_dtype_t dt) {
  if (dt == SEMCL_DTYPE_FLOAT32) return s.f32.download();
  std::vector<uint16_t> h = s.h16.download();
  std::vector<float> v(h.size());
  for (size_t i = 0; i < h.size(); ++i) v[i] = From16(dt, h[i]);
  return v;
}

// The raw 16-bit gradient bits (to compare exactly).
std::vector<uint16_t> Download16(const Scores &s) { return s.h16.download(); }

struct RunOut {
  Result r;
  std::vector<uint16_t> graw16, gpos16, gneg16;
};

RunOut RunEx(semcl_context *ctx, const OptProblem &op, int grads = kAllGrads) {
  const Problem &p = op.p;
  const semcl_dtype_t dt = op.dtype;
  RunOut out;
  const size_t nl = LossCount(p);
  const float poison = semcl_test::PoisonValue();
  Scores raw = MakeScores(ctx, dt, p.raw), pos = MakeScores(ctx, dt, p.pos);
  Scores neg = p.pairwise ? MakeScores(ctx, dt, p.neg) : Scores();
  Buffer y(ctx, p.y);
  Buffer up = p.upstream.empty() ? Buffer() : Buffer(ctx, p.upstream);
  TypedBuffer<uint8_t> mask(ctx, op.mask);
  TypedBuffer<int32_t> count(ctx, op.count);
  Buffer weight = op.weight.empty() ? Buffer() : Buffer(ctx, op.weight);
  Buffer pos_weight = op.pos_weight.empty() ? Buffer() : Buffer(ctx, op.pos_weight);
  Buffer loss(ctx, nl, poison), ctr(ctx, nl, poison), aux(ctx, nl, poison);
  Scores graw = (grads & kGradRaw) ? MakePoisonScores(ctx, dt, (size_t)p.B) : Scores();
  Scores gpos = (grads & kGradPos) ? MakePoisonScores(ctx, dt, (size_t)p.B) : Scores();
  Scores gneg = (p.pairwise && (grads & kGradNeg)) ? MakePoisonScores(ctx, dt, (size_t)(p.B * p.K))
                                                   : Scores();
  semcl_options opt = SEMCL_OPTIONS_INIT;
  opt.dtype = dt;
  opt.neg_mask = mask.get();
  opt.neg_count = count.get();
  opt.weight = weight.get();
  opt.pos_weight = pos_weight.get();
  opt.pos_weight_count = (int64_t)op.pos_weight.size();
  if (p.pairwise)
    out.r.status = semcl_pos_neg_ex(ctx, p.B, p.K, raw.get(), pos.get(), neg.get(), y.get(),
                                    p.lambda, p.reduction, &opt, p.grad_scale, up.get(),
                                    loss.get(), ctr.get(), aux.get(), graw.get(), gpos.get(),
                                    gneg.get());
  else
    out.r.status = semcl_positive_only_ex(ctx, p.B, raw.get(), pos.get(), y.get(), p.lambda,
                                          p.reduction, &opt, p.grad_scale, up.get(), loss.get(),
                                          ctr.get(), aux.get(), graw.get(), gpos.get());
  out.r.error = semcl_last_error(ctx);
  out.r.loss = loss.download();
  out.r.loss_ctr = ctr.download();
  out.r.loss_aux = aux.download();
  if (graw.get()) out.r.grad_raw = Download(graw, dt);
  if (gpos.get()) out.r.grad_pos = Download(gpos, dt);
  if (gneg.get()) out.r.grad_neg = Download(gneg, dt);
  if (dt != SEMCL_DTYPE_FLOAT32) {
    if (graw.get()) out.graw16 = Download16(graw);
    if (gpos.get()) out.gpos16 = Download16(gpos);
    if (gneg.get()) out.gneg16 = Download16(gneg);
  }
  return out;
}

RefResult RefEx(const OptProblem &op) {
  const Problem &p = op.p;
  RefResult r;
  const size_t nl = LossCount(p);
  r.loss.resize(nl);
  r.loss_ctr.resize(nl);
  r.loss_aux.resize(nl);
  r.grad_raw.resize((size_t)p.B);
  r.grad_pos.resize((size_t)p.B);
  std::vector<double> up(p.upstream.begin(), p.upstream.end());
  semcl_ref_options o = {op.mask.empty() ? nullptr : op.mask.data(),
                         op.count.empty() ? nullptr : op.count.data(),
                         op.weight.empty() ? nullptr : op.weight.data(),
                         op.pos_weight.empty() ? nullptr : op.pos_weight.data(),
                         (int64_t)op.pos_weight.size()};
  if (p.pairwise) {
    r.grad_neg.resize((size_t)(p.B * p.K));
    semcl_ref_pos_neg_opt(p.B, p.K, p.raw.data(), p.pos.data(), p.neg.data(), p.y.data(),
                          p.lambda, p.reduction, p.grad_scale, up.empty() ? nullptr : up.data(),
                          &o, r.loss.data(), r.loss_ctr.data(), r.loss_aux.data(),
                          r.grad_raw.data(), r.grad_pos.data(), r.grad_neg.data());
  } else {
    semcl_ref_positive_only_opt(p.B, p.raw.data(), p.pos.data(), p.y.data(), p.lambda,
                                p.reduction, p.grad_scale, up.empty() ? nullptr : up.data(), &o,
                                r.loss.data(), r.loss_ctr.data(), r.loss_aux.data(),
                                r.grad_raw.data(), r.grad_pos.data());
  }
  return r;
}

const semcl_reduction_t kReductions[] = {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM,
                                         SEMCL_REDUCTION_NONE};

void RandomUpstream(std::mt19937_64 &rng, Problem &p) {
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  p.upstream.resize(LossCount(p));
  for (float &x : p.upstream) x = u(rng);
}

class Options : public semcl_test::BackendTest {};

// ---- weights and pos_weight ----------------------------------------------------------------

TEST_P(Options, WeightsAndPosWeightMatchTheReference) {
  std::mt19937_64 rng(77);
  std::uniform_real_distribution<float> wdist(-1.0f, 3.0f);
  const int64_t shapes[][2] = {{1, 1}, {7, 1}, {33, 5}, {300, 40}, {3, 2100}};
  int variant = 0;
  for (const auto &s : shapes)
    for (bool pairwise : {false, true})
      for (bool soft : {false, true})
        for (semcl_reduction_t red : kReductions) {
          OptProblem op;
          op.p = RandomProblem(rng, pairwise, s[0], s[1], 2.0, soft);
          op.p.reduction = red;
          op.p.lambda = variant % 2 ? 0.7f : 1.0f;
          if (variant % 3 == 0) RandomUpstream(rng, op.p);
          op.weight.resize((size_t)s[0]);
          for (size_t b = 0; b < op.weight.size(); ++b)
            op.weight[b] = b % 5 == 0 ? 0.0f : wdist(rng);  // zeros and negatives included
          if (variant % 2 == 0) {
            op.pos_weight = {3.5f};
          } else {
            op.pos_weight.resize((size_t)s[0]);
            for (float &x : op.pos_weight) x = 0.25f + 4.0f * (float)(&x - op.pos_weight.data()) / (float)s[0];
          }
          ++variant;
          SCOPED_TRACE("B=" + std::to_string(s[0]) + " K=" + std::to_string(s[1]) +
                       (pairwise ? " pairwise" : " positive-only") + (soft ? " soft" : " hard") +
                       " reduction=" + std::to_string((int)red));
          ExpectResultClose(RunEx(ctx_, op).r, RefEx(op));
        }
}

TEST_P(Options, AllOnesWeightAndPosWeightAreBitwiseTheCallWithoutOptions) {
  std::mt19937_64 rng(78);
  for (bool pairwise : {false, true})
    for (semcl_reduction_t red : kReductions) {
      OptProblem plain;
      plain.p = RandomProblem(rng, pairwise, 300, 9, 3.0, true);
      plain.p.reduction = red;
      OptProblem ones = plain;
      ones.weight.assign(300, 1.0f);
      ones.pos_weight = {1.0f};
      const RunOut a = RunEx(ctx_, plain), b = RunEx(ctx_, ones);
      ASSERT_EQ(a.r.status, SEMCL_STATUS_SUCCESS) << a.r.error;
      ASSERT_EQ(b.r.status, SEMCL_STATUS_SUCCESS) << b.r.error;
      ExpectAllBitwiseEqual(a.r, b.r);
    }
}

// ---- masks ---------------------------------------------------------------------------------

// mask_kind: 1 = neg_count, 2 = neg_mask, 3 = both.
OptProblem MaskedProblem(std::mt19937_64 &rng, int64_t B, int64_t K, int mask_kind,
                         semcl_reduction_t red) {
  OptProblem op;
  op.p = RandomProblem(rng, true, B, K, 3.0, false);
  op.p.reduction = red;
  std::uniform_int_distribution<int> count(-2, (int)K + 2);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  if (mask_kind & 1) {
    op.count.resize((size_t)B);
    for (int32_t &c : op.count) c = count(rng);
    if (B > 2) op.count[1] = 0;  // a row with no real negative
  }
  if (mask_kind & 2) {
    op.mask.resize((size_t)(B * K));
    for (uint8_t &m : op.mask) m = u(rng) < 0.3 ? 0 : (uint8_t)(1 + (int)(u(rng) * 200));
    if (B > 3)
      for (int64_t k = 0; k < K; ++k) op.mask[(size_t)(3 * K + k)] = 0;
  }
  return op;
}

bool IsReal(const OptProblem &op, int64_t b, int64_t k) {
  if (!op.count.empty() && (int64_t)k >= std::min<int64_t>(std::max(op.count[b], 0), op.p.K))
    return false;
  if (!op.mask.empty() && op.mask[(size_t)(b * op.p.K + k)] == 0) return false;
  return true;
}

TEST_P(Options, MasksMatchTheReferenceAndMaskedSlotsAreZero) {
  std::mt19937_64 rng(79);
  const int64_t shapes[][2] = {{1, 1}, {9, 1}, {5, 3}, {40, 16}, {300, 33}, {4, 1100}, {2, 5 * 1024 + 3}};
  for (const auto &s : shapes)
    for (int kind : {1, 2, 3})
      for (semcl_reduction_t red : kReductions) {
        OptProblem op = MaskedProblem(rng, s[0], s[1], kind, red);
        op.weight.resize((size_t)s[0]);
        for (size_t b = 0; b < op.weight.size(); ++b) op.weight[b] = 0.5f + (float)(b % 3);
        SCOPED_TRACE("B=" + std::to_string(s[0]) + " K=" + std::to_string(s[1]) + " kind=" +
                     std::to_string(kind) + " reduction=" + std::to_string((int)red));
        const RunOut out = RunEx(ctx_, op);
        ExpectResultClose(out.r, RefEx(op));
        for (int64_t b = 0; b < s[0]; ++b)
          for (int64_t k = 0; k < s[1]; ++k)
            if (!IsReal(op, b, k)) {
              ASSERT_EQ(Bits(out.r.grad_neg[(size_t)(b * s[1] + k)]), 0u)
                  << "masked grad_neg[" << b << "," << k << "] must be +0";
            }
      }
}

// The masked MEAN is the usual masked-mean idiom: sum(softplus * mask) / sum(mask).
TEST_P(Options, MaskedMeanIsSumOverRealPairsDividedByTheirNumber) {
  OptProblem op;
  op.p = Problem();
  op.p.B = 2;
  op.p.K = 3;
  op.p.raw = {0.5f, -1.0f};
  op.p.pos = {1.5f, -2.0f};
  op.p.neg = {0.1f, -0.3f, 2.0f, 0.4f, -1.5f, 0.0f};
  op.p.y = {1.0f, 0.0f};
  op.p.lambda = 1.0f;
  op.mask = {1, 0, 1, 0, 0, 1};  // 3 real pairs
  const RunOut out = RunEx(ctx_, op);
  ASSERT_EQ(out.r.status, SEMCL_STATUS_SUCCESS) << out.r.error;
  double sum = 0;
  for (int b = 0; b < 2; ++b) {
    const double sign = 2.0 * op.p.y[b] - 1.0;
    for (int k = 0; k < 3; ++k)
      if (op.mask[b * 3 + k])
        sum += semcl_ref_softplus(-sign * ((double)op.p.pos[b] - (double)op.p.neg[b * 3 + k]));
  }
  EXPECT_NEAR(out.r.loss_aux[0], sum / 3.0, 1e-6 * sum);
}

// Padding a row with masked negatives (holding anything, even NaN and inf) changes no bit of
// what the row gets without the padding.
TEST_P(Options, PaddingIsBitwiseInvisible) {
  std::mt19937_64 rng(80);
  for (int64_t K0 : {1, 5, 31, 32, 40, 1024, 1030})
    for (bool use_count : {true, false}) {
      const int64_t pad = 7, K = K0 + pad, B = 6;
      Problem base = RandomProblem(rng, true, B, K0, 3.0, false);
      base.reduction = SEMCL_REDUCTION_NONE;
      OptProblem plain;
      plain.p = base;
      OptProblem padded;
      padded.p = base;
      padded.p.K = K;
      padded.p.neg.assign((size_t)(B * K), NAN);
      for (int64_t b = 0; b < B; ++b) {
        for (int64_t k = 0; k < K0; ++k) padded.p.neg[(size_t)(b * K + k)] = base.neg[(size_t)(b * K0 + k)];
        padded.p.neg[(size_t)(b * K + K0)] = INFINITY;
      }
      if (use_count) {
        padded.count.assign((size_t)B, (int32_t)K0);
      } else {
        padded.mask.assign((size_t)(B * K), 0);
        for (int64_t b = 0; b < B; ++b)
          for (int64_t k = 0; k < K0; ++k) padded.mask[(size_t)(b * K + k)] = 1;
      }
      SCOPED_TRACE("K0=" + std::to_string(K0) + (use_count ? " neg_count" : " neg_mask"));
      const RunOut a = RunEx(ctx_, plain), c = RunEx(ctx_, padded);
      ASSERT_EQ(a.r.status, SEMCL_STATUS_SUCCESS) << a.r.error;
      ASSERT_EQ(c.r.status, SEMCL_STATUS_SUCCESS) << c.r.error;
      ExpectLossesBitwiseEqual(a.r, c.r);
      ExpectBitwiseEqual("grad_raw", a.r.grad_raw, c.r.grad_raw);
      ExpectBitwiseEqual("grad_pos", a.r.grad_pos, c.r.grad_pos);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t k = 0; k < K; ++k) {
          const float got = c.r.grad_neg[(size_t)(b * K + k)];
          if (k < K0)
            ASSERT_EQ(Bits(got), Bits(a.r.grad_neg[(size_t)(b * K0 + k)])) << b << "," << k;
          else
            ASSERT_EQ(Bits(got), 0u) << "padding " << b << "," << k;
        }
    }
}

TEST_P(Options, NegMaskAndNegCountAgreeOnPrefixMasks) {
  std::mt19937_64 rng(81);
  for (semcl_reduction_t red : kReductions) {
    OptProblem a = MaskedProblem(rng, 50, 70, 1, red);
    OptProblem b = a;
    b.count.clear();
    b.mask.assign(50 * 70, 0);
    for (int64_t r = 0; r < 50; ++r)
      for (int64_t k = 0; k < 70; ++k) b.mask[(size_t)(r * 70 + k)] = IsReal(a, r, k);
    ExpectAllBitwiseEqual(RunEx(ctx_, a).r, RunEx(ctx_, b).r);
  }
}

TEST_P(Options, OutOfRangeCountsAreClamped) {
  std::mt19937_64 rng(82);
  OptProblem a = MaskedProblem(rng, 4, 9, 1, SEMCL_REDUCTION_MEAN);
  a.count = {-3, 14, 2, 9};
  OptProblem b = a;
  b.count = {0, 9, 2, 9};
  ExpectAllBitwiseEqual(RunEx(ctx_, a).r, RunEx(ctx_, b).r);
}

// No real negative anywhere: the pairwise term is absent (0), the loss is the BCE term alone,
// and no pairwise gradient is left.
TEST_P(Options, AllMaskedBatchGivesTheBceTermAlone) {
  std::mt19937_64 rng(83);
  for (semcl_reduction_t red : kReductions) {
    OptProblem op = MaskedProblem(rng, 20, 6, 1, red);
    op.count.assign(20, 0);
    const RunOut out = RunEx(ctx_, op);
    ASSERT_EQ(out.r.status, SEMCL_STATUS_SUCCESS) << out.r.error;
    for (size_t i = 0; i < out.r.loss.size(); ++i) {
      EXPECT_EQ(Bits(out.r.loss_aux[i]), 0u);
      EXPECT_EQ(Bits(out.r.loss[i]), Bits(out.r.loss_ctr[i]));
    }
    for (float g : out.r.grad_pos) EXPECT_EQ(Bits(g), 0u);
    for (float g : out.r.grad_neg) EXPECT_EQ(Bits(g), 0u);
    ExpectResultClose(out.r, RefEx(op));
  }
}

TEST_P(Options, MasksAreRefusedForThePositiveOnlyLoss) {
  std::mt19937_64 rng(84);
  OptProblem op;
  op.p = RandomProblem(rng, false, 4, 1, 1.0, false);
  op.count = {1, 1, 1, 1};
  const RunOut out = RunEx(ctx_, op);
  EXPECT_EQ(out.r.status, SEMCL_STATUS_INVALID_VALUE);
  EXPECT_NE(out.r.error.find("neg_count"), std::string::npos) << out.r.error;
  EXPECT_TRUE(semcl_test::AllPoison(out.r.loss));
  EXPECT_TRUE(semcl_test::AllPoison(out.r.grad_raw));
}

// ---- 16-bit scores -------------------------------------------------------------------------

// A bf16/fp16 call computes in fp32 on the widened scores: its losses are bitwise those of the
// fp32 call on the same values, and its gradients are the fp32 gradients rounded once.
TEST_P(Options, SixteenBitCallsAreTheFp32CallOnWidenedScores) {
  std::mt19937_64 rng(85);
  for (semcl_dtype_t dt : {SEMCL_DTYPE_BFLOAT16, SEMCL_DTYPE_FLOAT16})
    for (bool pairwise : {false, true})
      for (int64_t K : {1, 20, 1100})
        for (semcl_reduction_t red : kReductions) {
          OptProblem op;
          op.p = RandomProblem(rng, pairwise, 70, K, 3.0, false);
          op.p.reduction = red;
          if (pairwise) op.mask.assign((size_t)(70 * op.p.K), 1), op.mask[3] = 0;
          auto widen = [&](std::vector<float> &v) {
            for (float &x : v) x = From16(dt, Round16(dt, x));
          };
          widen(op.p.raw);
          widen(op.p.pos);
          widen(op.p.neg);
          OptProblem f32 = op;
          op.dtype = dt;
          SCOPED_TRACE(std::string(dt == SEMCL_DTYPE_BFLOAT16 ? "bf16" : "fp16") + " K=" +
                       std::to_string(op.p.K) + (pairwise ? " pairwise" : "") + " reduction=" +
                       std::to_string((int)red));
          const RunOut h = RunEx(ctx_, op), f = RunEx(ctx_, f32);
          ASSERT_EQ(h.r.status, SEMCL_STATUS_SUCCESS) << h.r.error;
          ASSERT_EQ(f.r.status, SEMCL_STATUS_SUCCESS) << f.r.error;
          ExpectLossesBitwiseEqual(h.r, f.r);
          for (size_t i = 0; i < h.graw16.size(); ++i)
            ASSERT_EQ(h.graw16[i], Round16(dt, f.r.grad_raw[i])) << "grad_raw " << i;
          for (size_t i = 0; i < h.gpos16.size(); ++i)
            ASSERT_EQ(h.gpos16[i], Round16(dt, f.r.grad_pos[i])) << "grad_pos " << i;
          for (size_t i = 0; i < h.gneg16.size(); ++i)
            ASSERT_EQ(h.gneg16[i], Round16(dt, f.r.grad_neg[i])) << "grad_neg " << i;
        }
}

// Gradients that overflow fp32 (huge weights and grad_scale) are +-inf, and a NaN score gives
// NaN gradients: in 16 bits they must stay the same infinity and a NaN (narrowing must not take
// an infinity for a NaN, nor the reverse). The finite values are checked above.
TEST_P(Options, SixteenBitGradientsKeepInfinitiesAndNaN) {
  std::mt19937_64 rng(87);
  for (semcl_dtype_t dt : {SEMCL_DTYPE_BFLOAT16, SEMCL_DTYPE_FLOAT16})
    for (bool pairwise : {false, true}) {
      const int64_t B = 40;
      OptProblem op;
      op.p = RandomProblem(rng, pairwise, B, 21, 3.0, false);
      op.p.reduction = SEMCL_REDUCTION_SUM;
      op.p.grad_scale = 1e6f;
      op.weight.assign((size_t)B, 3e38f);
      op.p.raw[7] = NAN;
      if (pairwise) op.p.neg[3 * op.p.K + 5] = NAN;
      for (float &x : op.p.raw) x = From16(dt, Round16(dt, x));
      for (float &x : op.p.pos) x = From16(dt, Round16(dt, x));
      for (float &x : op.p.neg) x = From16(dt, Round16(dt, x));
      OptProblem f32 = op;
      op.dtype = dt;
      SCOPED_TRACE(std::string(dt == SEMCL_DTYPE_BFLOAT16 ? "bf16" : "fp16") +
                   (pairwise ? " pairwise" : " positive-only"));
      const RunOut h = RunEx(ctx_, op), f = RunEx(ctx_, f32);
      ASSERT_EQ(h.r.status, SEMCL_STATUS_SUCCESS) << h.r.error;
      ASSERT_EQ(f.r.status, SEMCL_STATUS_SUCCESS) << f.r.error;
      const uint16_t inf16 = dt == SEMCL_DTYPE_BFLOAT16 ? 0x7f80 : 0x7c00;
      int plus_inf = 0, minus_inf = 0, nans = 0;
      auto check = [&](const char *what, const std::vector<uint16_t> &got,
                       const std::vector<float> &fp32) {
        ASSERT_EQ(got.size(), fp32.size()) << what;
        for (size_t i = 0; i < got.size(); ++i) {
          if (std::isnan(fp32[i])) {
            ++nans;
            EXPECT_GT(got[i] & 0x7fff, inf16) << what << "[" << i << "]: NaN became 0x"
                                              << std::hex << got[i];
          } else if (std::isinf(fp32[i])) {
            ++(fp32[i] > 0 ? plus_inf : minus_inf);
            EXPECT_EQ(got[i], (uint16_t)(fp32[i] > 0 ? inf16 : inf16 | 0x8000))
                << what << "[" << i << "]: " << fp32[i] << " became 0x" << std::hex << got[i];
          }
        }
      };
      check("grad_raw", h.graw16, f.r.grad_raw);
      check("grad_pos", h.gpos16, f.r.grad_pos);
      check("grad_neg", h.gneg16, f.r.grad_neg);
      EXPECT_GT(plus_inf, 0);  // the inputs do produce both infinities and NaN
      EXPECT_GT(minus_inf, 0);
      EXPECT_GT(nans, 0);
    }
}

TEST_P(Options, SixteenBitInPlaceGradNeg) {
  for (semcl_dtype_t dt : {SEMCL_DTYPE_BFLOAT16, SEMCL_DTYPE_FLOAT16}) {
    std::mt19937_64 rng(86);
    Problem p = RandomProblem(rng, true, 9, 37, 2.0, false);
    OptProblem op;
    op.p = p;
    op.dtype = dt;
    const RunOut ref = RunEx(ctx_, op);
    ASSERT_EQ(ref.r.status, SEMCL_STATUS_SUCCESS) << ref.r.error;
    Scores raw = MakeScores(ctx_, dt, p.raw), pos = MakeScores(ctx_, dt, p.pos);
    Scores neg = MakeScores(ctx_, dt, p.neg);
    Buffer y(ctx_, p.y);
    float loss, lc, la;
    semcl_options opt = SEMCL_OPTIONS_INIT;
    opt.dtype = dt;
    ASSERT_EQ(semcl_pos_neg_ex(ctx_, p.B, p.K, raw.get(), pos.get(), neg.get(), y.get(),
                               p.lambda, p.reduction, &opt, 1.0f, nullptr, Buffer(ctx_, 1, 0).get(),
                               Buffer(ctx_, 1, 0).get(), Buffer(ctx_, 1, 0).get(), nullptr,
                               nullptr, neg.get()),
              SEMCL_STATUS_SUCCESS)
        << semcl_last_error(ctx_);
    (void)loss, (void)lc, (void)la;
    EXPECT_EQ(Download16(neg), ref.gneg16);
  }
}

// ---- extreme but finite arguments (no fp32 overflow in the coefficient) --------------------

TEST_P(Options, HugeCoefficientsAreFormedWithoutOverflow) {
  // grad_neg = -g*lambda*ns/N * sigmoid: with lambda = FLT_MAX and grad_scale = 2 the fp32
  // coefficient would be -inf, although the product with sigmoid(t) = 0.25 is finite.
  OptProblem op;
  op.p.B = 1;
  op.p.K = 1;
  op.p.raw = {0.0f};
  op.p.pos = {0.0f};
  op.p.neg = {-1.0986123f};  // y = 1: t = -(pos - neg) = -1.0986, sigmoid(t) = 0.25
  op.p.y = {1.0f};
  op.p.lambda = FLT_MAX;
  op.p.grad_scale = 0.5f;
  op.p.reduction = SEMCL_REDUCTION_SUM;
  op.p.upstream = {4.0f};
  const RunOut out = RunEx(ctx_, op);
  ASSERT_EQ(out.r.status, SEMCL_STATUS_SUCCESS) << out.r.error;
  const RefResult ref = RefEx(op);
  ASSERT_LT(std::fabs(ref.grad_neg[0]), (double)FLT_MAX) << ref.grad_neg[0];  // fp32 can hold it
  EXPECT_TRUE(std::isfinite(out.r.grad_neg[0])) << out.r.grad_neg[0];
  EXPECT_NEAR(out.r.grad_neg[0], ref.grad_neg[0], 1e-6 * std::fabs(ref.grad_neg[0]));

  // lambda = grad_scale = 1e30 and an underflowed sigmoid: 0, not inf * 0 = NaN.
  op.p.lambda = 1e30f;
  op.p.grad_scale = 1e30f;
  op.p.upstream.clear();
  op.p.neg = {-1000.0f};  // t = -1000: sigmoid underflows to 0
  const RunOut under = RunEx(ctx_, op);
  ASSERT_EQ(under.r.status, SEMCL_STATUS_SUCCESS) << under.r.error;
  EXPECT_EQ(under.r.grad_neg[0], 0.0f) << under.r.grad_neg[0];
}

// ---- labels outside [0, 1] -----------------------------------------------------------------
// Computed with BCEWithLogits' formula (max(x,0) - x*y + log1p(exp(-|x|))) and the sign 2y-1,
// as PyTorch does: the caller's responsibility, documented, not refused.
TEST_P(Options, LabelsOutsideTheUnitIntervalFollowTheFormula) {
  OptProblem op;
  op.p.B = 4;
  op.p.K = 2;
  op.p.raw = {1.5f, -0.5f, 2.0f, -3.0f};
  op.p.pos = {0.5f, 0.25f, -1.0f, 1.0f};
  op.p.neg = {0.1f, -0.3f, 2.0f, 0.4f, -1.5f, 0.0f, 1.0f, 3.0f};
  op.p.y = {2.0f, -1.0f, 1.5f, -0.25f};
  op.p.reduction = SEMCL_REDUCTION_NONE;
  const RunOut out = RunEx(ctx_, op);
  ASSERT_EQ(out.r.status, SEMCL_STATUS_SUCCESS) << out.r.error;
  for (int b = 0; b < 4; ++b) {
    const double x = op.p.raw[b], y = op.p.y[b];
    const double torch_bce = std::fmax(x, 0.0) - x * y + std::log1p(std::exp(-std::fabs(x)));
    EXPECT_NEAR(out.r.loss_ctr[b], torch_bce, 1e-6 * std::fabs(torch_bce) + 1e-7) << b;
  }
  ExpectResultClose(out.r, RefEx(op));
}

SEMCL_INSTANTIATE_ON_ALL_BACKENDS(Options);

// ---- bad options ---------------------------------------------------------------------------

class BadOptions : public semcl_test::BackendTest {};

TEST_P(BadOptions, AreRefusedAndWriteNothing) {
  std::mt19937_64 rng(90);
  const Problem p = RandomProblem(rng, true, 8, 4, 1.0, false);
  const float poison = semcl_test::PoisonValue();
  Buffer raw(ctx_, p.raw), pos(ctx_, p.pos), neg(ctx_, p.neg), y(ctx_, p.y);
  Buffer loss(ctx_, 8, poison), ctr(ctx_, 8, poison), aux(ctx_, 8, poison);
  Buffer graw(ctx_, 8, poison), gpos(ctx_, 8, poison), gneg(ctx_, 32, poison);
  Buffer weight(ctx_, 8, 1.0f);
  TypedBuffer<uint8_t> mask(ctx_, std::vector<uint8_t>(32, 1));
  struct Case {
    const char *what;
    semcl_status_t status;
    semcl_options opt;
    const char *needle;
  };
  semcl_options base = SEMCL_OPTIONS_INIT;
  std::vector<Case> cases;
  {
    semcl_options o = base;
    o.struct_size = sizeof(semcl_options) - 8;
    cases.push_back({"struct_size", SEMCL_STATUS_INVALID_VALUE, o, "struct_size"});
  }
  {
    semcl_options o = base;
    semcl_test_set_raw_dtype(&o, 7);  // out of range: written in C (raw_enums.h)
    cases.push_back({"dtype", SEMCL_STATUS_INVALID_ENUM, o, "dtype"});
  }
  {
    semcl_options o = base;
    o.pos_weight = weight.get();
    o.pos_weight_count = 2;
    cases.push_back({"pos_weight_count", SEMCL_STATUS_INVALID_VALUE, o, "pos_weight_count"});
  }
  {
    semcl_options o = base;
    o.pos_weight = weight.get();
    o.pos_weight_count = 9;
    cases.push_back({"pos_weight_count B+1", SEMCL_STATUS_INVALID_VALUE, o, "pos_weight_count"});
  }
  {
    semcl_options o = base;
    o.weight = gpos.get();  // an input that is an output
    cases.push_back({"weight overlaps grad_pos", SEMCL_STATUS_ALIASING, o, "weight"});
  }
  {
    semcl_options o = base;
    o.neg_mask = reinterpret_cast<const uint8_t *>(gneg.get()) + 3;
    cases.push_back({"neg_mask overlaps grad_neg", SEMCL_STATUS_ALIASING, o, "neg_mask"});
  }
  for (const Case &c : cases) {
    SCOPED_TRACE(c.what);
    const semcl_status_t st = semcl_pos_neg_ex(
        ctx_, 8, 4, raw.get(), pos.get(), neg.get(), y.get(), 1.0f, SEMCL_REDUCTION_NONE, &c.opt,
        1.0f, nullptr, loss.get(), ctr.get(), aux.get(), graw.get(), gpos.get(), gneg.get());
    EXPECT_EQ(st, c.status) << semcl_last_error(ctx_);
    EXPECT_NE(std::string(semcl_last_error(ctx_)).find(c.needle), std::string::npos)
        << semcl_last_error(ctx_);
    EXPECT_TRUE(semcl_test::AllPoison(loss.download()));
    EXPECT_TRUE(semcl_test::AllPoison(graw.download()));
    EXPECT_TRUE(semcl_test::AllPoison(gpos.download()));
    EXPECT_TRUE(semcl_test::AllPoison(gneg.download()));
  }
}

// A caller workspace that overlaps an input or an output is refused (the call would overwrite
// const input memory, or its own results).
TEST_P(BadOptions, WorkspaceOverlappingAnArgumentIsRefused) {
  std::mt19937_64 rng(91);
  const Problem p = RandomProblem(rng, true, 8, 4, 1.0, false);
  const float poison = semcl_test::PoisonValue();
  size_t need = 0;
  ASSERT_EQ(semcl_get_workspace_size(ctx_, SEMCL_LOSS_POS_NEG, 8, 4, &need), SEMCL_STATUS_SUCCESS);
  Buffer big(ctx_, 4096, 0.0f);  // inputs and the workspace carved from one allocation
  ASSERT_EQ(semcl_upload(ctx_, big.get(), p.neg.data(), 32 * sizeof(float)), SEMCL_STATUS_SUCCESS);
  Buffer raw(ctx_, p.raw), pos(ctx_, p.pos), y(ctx_, p.y);
  Buffer loss(ctx_, 1, poison), ctr(ctx_, 1, poison), aux(ctx_, 1, poison);
  Buffer gneg(ctx_, 32, poison);
  // workspace starting inside score_neg
  ASSERT_EQ(semcl_set_workspace(ctx_, big.get() + 16, 4096 * sizeof(float) - 64), SEMCL_STATUS_SUCCESS);
  EXPECT_EQ(semcl_pos_neg_forward_backward(ctx_, 8, 4, raw.get(), pos.get(), big.get(), y.get(),
                                           1.0f, SEMCL_REDUCTION_MEAN, 1.0f, nullptr, loss.get(),
                                           ctr.get(), aux.get(), nullptr, nullptr, gneg.get()),
            SEMCL_STATUS_ALIASING);
  EXPECT_NE(std::string(semcl_last_error(ctx_)).find("workspace"), std::string::npos)
      << semcl_last_error(ctx_);
  EXPECT_TRUE(semcl_test::AllPoison(loss.download()));
  EXPECT_TRUE(semcl_test::AllPoison(gneg.download()));
  // workspace covering an output (loss)
  ASSERT_EQ(semcl_set_workspace(ctx_, loss.get(), need), SEMCL_STATUS_SUCCESS);
  EXPECT_EQ(semcl_pos_neg_forward(ctx_, 8, 4, raw.get(), pos.get(), big.get(), y.get(), 1.0f,
                                  SEMCL_REDUCTION_MEAN, loss.get(), ctr.get(), aux.get()),
            SEMCL_STATUS_ALIASING);
  EXPECT_TRUE(semcl_test::AllPoison(loss.download()));
  ASSERT_EQ(semcl_set_workspace(ctx_, nullptr, 0), SEMCL_STATUS_SUCCESS);
}

SEMCL_INSTANTIATE_ON_ALL_BACKENDS(BadOptions);

}  // namespace
