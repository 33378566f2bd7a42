// test_nonfinite.cpp — the rules of docs/losses.md for non-finite inputs.
//
//  - NaN in score_raw / score_pos / score_neg / y propagates to the losses and to exactly the
//    gradients it touches; every other output (other rows, and the gradients of the same row
//    that do not depend on the NaN input) is bitwise what it is without the NaN.
//  - +-inf give the mathematical limits: softplus(+inf) = +inf, softplus(-inf) = 0,
//    BCE(+inf, 1) = 0, BCE(+inf, 0) = +inf, BCE(-inf, 0) = 0, BCE(-inf, 1) = +inf, and the
//    gradients stay finite where the math says so (they are limits of sigmoids).
//    (PyTorch gives NaN for BCE(+inf, 1) and BCE(-inf, y): the library deliberately differs.)
//  - Any mix of specials: no crash, nothing written outside the outputs, inputs unchanged.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "core_util.h"

namespace {

using namespace semcl_core_test;
using semcl_test::Buffer;

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

class NonFinite : public semcl_test::BackendTest {};

// A clean base problem: B = 5 rows, K = 4, hard and soft labels, moderate scores.
Problem Base(bool pairwise, semcl_reduction_t red) {
  std::mt19937_64 rng(77);
  Problem p = RandomProblem(rng, pairwise, 5, 4, 2.0, false);
  p.y = {1.0f, 0.0f, 1.0f, 0.3f, 0.0f};
  p.lambda = 0.8f;
  p.reduction = red;
  p.grad_scale = 1.5f;
  return p;
}

// Which outputs of row r a NaN in `field` touches (element k of score_neg for "neg").
struct Touches {
  bool ctr, aux, grad_raw, grad_pos, grad_neg_row, grad_neg_k;
};

Touches TouchedBy(bool pairwise, const std::string &field) {
  if (field == "y") return {true, true, true, true, true, true};
  if (pairwise) {
    if (field == "raw") return {true, false, true, false, false, false};
    if (field == "pos") return {false, true, false, true, true, true};
    return {false, true, false, true, false, true};  // neg[r, k]
  }
  if (field == "raw") return {true, true, true, true, false, false};
  return {false, true, true, true, false, false};  // pos
}

bool SameBits(float a, float b) { return Bits(a) == Bits(b); }

void CheckNaNPropagation(semcl_context *ctx, bool pairwise, semcl_reduction_t red) {
  const int64_t r = 2, k = 1;
  const Problem clean = Base(pairwise, red);
  const Result base = RunSemcl(ctx, clean);
  ASSERT_EQ(base.status, SEMCL_STATUS_SUCCESS) << base.error;
  std::vector<std::string> fields = {"raw", "pos", "y"};
  if (pairwise) fields.push_back("neg");
  for (const std::string &field : fields) {
    SCOPED_TRACE("NaN in " + field + " of row 2");
    Problem p = clean;
    if (field == "raw") p.raw[r] = kNaN;
    if (field == "pos") p.pos[r] = kNaN;
    if (field == "y") p.y[r] = kNaN;
    if (field == "neg") p.neg[r * p.K + k] = kNaN;
    const Result got = RunSemcl(ctx, p);
    ASSERT_EQ(got.status, SEMCL_STATUS_SUCCESS) << got.error;
    const Touches t = TouchedBy(pairwise, field);
    if (red == SEMCL_REDUCTION_NONE) {
      for (int64_t b = 0; b < p.B; ++b) {
        const bool row = b == r;
        EXPECT_EQ(std::isnan(got.loss[b]), row) << "loss[" << b << "]";
        if (row) {
          EXPECT_EQ(std::isnan(got.loss_ctr[b]), t.ctr) << "loss_ctr[" << b << "]";
          EXPECT_EQ(std::isnan(got.loss_aux[b]), t.aux) << "loss_aux[" << b << "]";
        }
        if (!row || !t.ctr) { EXPECT_TRUE(SameBits(got.loss_ctr[b], base.loss_ctr[b])) << b; }
        if (!row || !t.aux) { EXPECT_TRUE(SameBits(got.loss_aux[b], base.loss_aux[b])) << b; }
        if (!row) { EXPECT_TRUE(SameBits(got.loss[b], base.loss[b])) << b; }
      }
    } else {
      EXPECT_TRUE(std::isnan(got.loss[0]));
      EXPECT_EQ(std::isnan(got.loss_ctr[0]), t.ctr) << got.loss_ctr[0];
      EXPECT_EQ(std::isnan(got.loss_aux[0]), t.aux) << got.loss_aux[0];
    }
    // Gradients: row b's depend only on row b's inputs, whatever the reduction.
    for (int64_t b = 0; b < p.B; ++b) {
      const bool row = b == r;
      const bool raw_nan = row && t.grad_raw, pos_nan = row && t.grad_pos;
      EXPECT_EQ(std::isnan(got.grad_raw[b]), raw_nan) << "grad_raw[" << b << "]";
      EXPECT_EQ(std::isnan(got.grad_pos[b]), pos_nan) << "grad_pos[" << b << "]";
      if (!raw_nan) { EXPECT_TRUE(SameBits(got.grad_raw[b], base.grad_raw[b])) << "grad_raw " << b; }
      if (!pos_nan) { EXPECT_TRUE(SameBits(got.grad_pos[b], base.grad_pos[b])) << "grad_pos " << b; }
      if (!pairwise) continue;
      for (int64_t j = 0; j < p.K; ++j) {
        const size_t i = (size_t)(b * p.K + j);
        const bool nan = row && (t.grad_neg_row || (t.grad_neg_k && j == k));
        EXPECT_EQ(std::isnan(got.grad_neg[i]), nan) << "grad_neg[" << b << "," << j << "]";
        if (!nan) { EXPECT_TRUE(SameBits(got.grad_neg[i], base.grad_neg[i])) << b << "," << j; }
      }
    }
  }
}

TEST_P(NonFinite, NaNPropagatesToWhatItTouchesOnly) {
  for (bool pairwise : {false, true})
    for (semcl_reduction_t red : {SEMCL_REDUCTION_NONE, SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM}) {
      SCOPED_TRACE(std::string(pairwise ? "pos_neg" : "positive_only") + " reduction " +
                   std::to_string((int)red));
      CheckNaNPropagation(ctx_, pairwise, red);
    }
}

// NaN in a long row (chunked, possibly split across threads) still reaches the row's loss.
TEST_P(NonFinite, NaNInALongRowPropagates) {
  std::mt19937_64 rng(5);
  Problem p = RandomProblem(rng, true, 2, 50000, 1.0, false);
  p.neg[(size_t)(1 * p.K + 49999)] = kNaN;  // last element of the last row
  p.reduction = SEMCL_REDUCTION_NONE;
  const Result r = RunSemcl(ctx_, p);
  ASSERT_EQ(r.status, SEMCL_STATUS_SUCCESS) << r.error;
  EXPECT_FALSE(std::isnan(r.loss_aux[0]));
  EXPECT_TRUE(std::isnan(r.loss_aux[1]));
  EXPECT_TRUE(std::isnan(r.grad_pos[1]));
  EXPECT_FALSE(std::isnan(r.grad_pos[0]));
  EXPECT_TRUE(std::isnan(r.grad_neg.back()));
  EXPECT_FALSE(std::isnan(r.grad_neg[r.grad_neg.size() - 2]));
}

// Loss 2, reduction NONE, lambda = 1, g = 1: per-sample limits at +-inf, written out by hand.
TEST_P(NonFinite, PosNegInfinityLimits) {
  Problem p;
  p.pairwise = true;
  p.B = 9;
  p.K = 2;
  p.lambda = 1.0f;
  p.reduction = SEMCL_REDUCTION_NONE;
  //           row:   0     1     2      3      4     5     6     7      8
  p.raw = {kInf, kInf, -kInf, -kInf, 0.0f, 0.0f, 0.0f, kInf, -kInf};
  p.y = {1.0f, 0.0f, 0.0f, 1.0f, 1.0f, 0.0f, 1.0f, 0.25f, 0.25f};
  p.pos = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, kInf, kInf, 0.0f, 0.0f};
  p.neg = {0, 0, 0, 0, 0, 0, 0, 0, kInf, -kInf, 1, -1, 1, -1, 0, 0, 0, 0};
  const Result r = RunSemcl(ctx_, p);
  ASSERT_EQ(r.status, SEMCL_STATUS_SUCCESS) << r.error;
  const float ln2 = (float)std::log(2.0);
  // BCE limits and d/dx = sigmoid(x) - y limits.
  EXPECT_EQ(r.loss_ctr[0], 0.0f);   // BCE(+inf, 1) = 0
  EXPECT_EQ(r.grad_raw[0], 0.0f);   // -sigmoid(-inf)
  EXPECT_EQ(r.loss_ctr[1], kInf);   // BCE(+inf, 0) = +inf
  EXPECT_EQ(r.grad_raw[1], 1.0f);   // sigmoid(+inf) - 0
  EXPECT_EQ(r.loss_ctr[2], 0.0f);   // BCE(-inf, 0) = 0
  EXPECT_EQ(r.grad_raw[2], 0.0f);
  EXPECT_EQ(r.loss_ctr[3], kInf);   // BCE(-inf, 1) = +inf
  EXPECT_EQ(r.grad_raw[3], -1.0f);
  EXPECT_EQ(r.loss_ctr[7], kInf);   // BCE(+inf, 0.25) = +inf
  EXPECT_NEAR(r.grad_raw[7], 0.75f, 1e-7);
  EXPECT_EQ(r.loss_ctr[8], kInf);   // BCE(-inf, 0.25) = +inf
  EXPECT_NEAR(r.grad_raw[8], -0.25f, 1e-7);
  for (int b : {0, 1, 2, 3, 7, 8}) {  // t = 0 for every k: softplus(0) = ln 2
    EXPECT_NEAR(r.loss_aux[b], ln2, 1e-6) << b;
    EXPECT_EQ(r.loss[b], r.loss_ctr[b] == kInf ? kInf : r.loss_aux[b]) << b;
  }
  // Row 4 (y = 1): t_k = score_neg_k = {+inf, -inf}: softplus {+inf, 0}, sigmoid {1, 0}.
  EXPECT_EQ(r.loss_aux[4], kInf);
  EXPECT_EQ(r.loss[4], kInf);
  EXPECT_EQ(r.grad_neg[8], 0.5f);   // lambda * sign * 1 / K
  EXPECT_EQ(r.grad_neg[9], 0.0f);
  EXPECT_EQ(r.grad_pos[4], -0.5f);  // -lambda * sign * (1 + 0) / K
  // Row 5 (y = 0, pos = +inf): t_k = +inf: softplus +inf, sigmoid 1.
  EXPECT_EQ(r.loss_aux[5], kInf);
  EXPECT_EQ(r.grad_neg[10], -0.5f);
  EXPECT_EQ(r.grad_neg[11], -0.5f);
  EXPECT_EQ(r.grad_pos[5], 1.0f);
  // Row 6 (y = 1, pos = +inf): t_k = -inf: softplus 0, sigmoid 0.
  EXPECT_EQ(r.loss_aux[6], 0.0f);
  EXPECT_EQ(r.grad_pos[6], 0.0f);
  EXPECT_EQ(r.grad_neg[12], 0.0f);
  EXPECT_EQ(r.grad_neg[13], 0.0f);
  for (float g : r.grad_raw) EXPECT_TRUE(std::isfinite(g)) << g;
  for (float g : r.grad_pos) EXPECT_TRUE(std::isfinite(g)) << g;
  for (float g : r.grad_neg) EXPECT_TRUE(std::isfinite(g)) << g;
  // The same rows with MEAN and SUM against the reference (which takes the same limits).
  for (semcl_reduction_t red : {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM}) {
    p.reduction = red;
    const Result m = RunSemcl(ctx_, p);
    ExpectResultClose(m, Reference(p));
    EXPECT_EQ(m.loss[0], kInf);
    EXPECT_EQ(m.loss_ctr[0], kInf);
    EXPECT_EQ(m.loss_aux[0], kInf);
  }
}

// Loss 1, reduction NONE, lambda = 1, g = 1.
TEST_P(NonFinite, PositiveOnlyInfinityLimits) {
  Problem p;
  p.pairwise = false;
  p.B = 5;
  p.lambda = 1.0f;
  p.reduction = SEMCL_REDUCTION_NONE;
  p.raw = {kInf, -kInf, 0.0f, 0.0f, kInf};
  p.y = {1.0f, 0.0f, 1.0f, 1.0f, 1.0f};
  p.pos = {0.0f, 0.0f, kInf, -kInf, kInf};
  const Result r = RunSemcl(ctx_, p);
  ASSERT_EQ(r.status, SEMCL_STATUS_SUCCESS) << r.error;
  const float ln2 = (float)std::log(2.0);
  // Row 0: BCE(+inf, 1) = 0, t = -(0 - inf) = +inf: softplus +inf, sigmoid 1.
  EXPECT_EQ(r.loss_ctr[0], 0.0f);
  EXPECT_EQ(r.loss_aux[0], kInf);
  EXPECT_EQ(r.loss[0], kInf);
  EXPECT_EQ(r.grad_raw[0], 1.0f);   // 0 + lambda * sign * 1
  EXPECT_EQ(r.grad_pos[0], -1.0f);
  // Row 1: BCE(-inf, 0) = 0, t = +(0 + inf) = +inf.
  EXPECT_EQ(r.loss_ctr[1], 0.0f);
  EXPECT_EQ(r.loss_aux[1], kInf);
  EXPECT_EQ(r.grad_raw[1], -1.0f);
  EXPECT_EQ(r.grad_pos[1], 1.0f);
  // Row 2: t = -(inf - 0) = -inf: softplus 0, sigmoid 0; BCE(0, 1) = ln 2.
  EXPECT_NEAR(r.loss_ctr[2], ln2, 1e-6);
  EXPECT_EQ(r.loss_aux[2], 0.0f);
  EXPECT_NEAR(r.grad_raw[2], -0.5f, 1e-7);
  EXPECT_EQ(r.grad_pos[2], 0.0f);
  // Row 3: t = +inf.
  EXPECT_EQ(r.loss_aux[3], kInf);
  EXPECT_NEAR(r.grad_raw[3], 0.5f, 1e-7);
  EXPECT_EQ(r.grad_pos[3], -1.0f);
  // Row 4: pos - raw = inf - inf is undefined: NaN where it enters, no crash.
  EXPECT_EQ(r.loss_ctr[4], 0.0f);
  EXPECT_TRUE(std::isnan(r.loss_aux[4]));
  EXPECT_TRUE(std::isnan(r.grad_pos[4]));
  for (int b = 0; b < 4; ++b) {
    EXPECT_TRUE(std::isfinite(r.grad_raw[b])) << b;
    EXPECT_TRUE(std::isfinite(r.grad_pos[b])) << b;
  }
  p.reduction = SEMCL_REDUCTION_MEAN;
  p.B = 4;  // without the NaN row
  p.raw.pop_back();
  p.y.pop_back();
  p.pos.pop_back();
  const Result m = RunSemcl(ctx_, p);
  ExpectResultClose(m, Reference(p));
  EXPECT_EQ(m.loss_aux[0], kInf);
}

// softplus(t) for t just past fp32 exp's range: finite, exact limits, no overflow/underflow
// surprises (softplus(-88.7) = 3.0e-39 subnormal, softplus(-200) = 0, softplus(1e30) = 1e30).
TEST_P(NonFinite, HugeFiniteScoresGiveFiniteLimits) {
  Problem p;
  p.pairwise = true;
  p.B = 1;
  p.K = 5;
  p.y = {1.0f};
  p.pos = {0.0f};
  p.raw = {1e30f};
  p.neg = {-88.7f, -200.0f, 1e30f, -1e30f, 100.0f};  // t_k = score_neg_k
  p.reduction = SEMCL_REDUCTION_NONE;
  const Result r = RunSemcl(ctx_, p);
  ASSERT_EQ(r.status, SEMCL_STATUS_SUCCESS) << r.error;
  EXPECT_EQ(r.loss_ctr[0], 0.0f);  // BCE(1e30, 1)
  EXPECT_NEAR(r.loss_aux[0], (3.0e-39 + 1e30 + 100.0) / 5.0, 1e24);
  // grad_neg_k = sigmoid(t_k) / K: 3.0e-39 / 5 is subnormal and must not flush to zero.
  EXPECT_GT(r.grad_neg[0], 0.0f);
  EXPECT_NEAR(r.grad_neg[0], std::exp(-88.7) / 5.0, 1e-44);
  EXPECT_EQ(r.grad_neg[1], 0.0f);
  EXPECT_EQ(r.grad_neg[2], 0.2f);
  EXPECT_EQ(r.grad_neg[3], 0.0f);
  EXPECT_EQ(r.grad_neg[4], 0.2f);
  ExpectResultClose(r, Reference(p));
}

// Random mixes of NaN, +-inf, +-FLT_MAX, subnormals and signed zeros: the call succeeds, writes
// only its outputs (guard zones around every output stay poisoned), leaves the inputs alone,
// and every row with a NaN input has a NaN loss.
TEST_P(NonFinite, AnyMixOfSpecialsIsSafe) {
  const float specials[] = {kNaN, kInf, -kInf, FLT_MAX, -FLT_MAX, FLT_TRUE_MIN, -0.0f,
                            0.0f, 1e30f, -1e30f, 20.0f, -20.0f, 1.0f};
  const int n_special = sizeof specials / sizeof specials[0];
  const float labels[] = {0.0f, 1.0f, 0.5f, 0.3f, kNaN, kInf, -kInf, 2.0f, -1.0f};
  std::mt19937_64 rng(8);
  std::uniform_int_distribution<int> pick(0, n_special - 1), pick_y(0, 8);
  const int64_t B = 37, K = 45;
  const size_t G = 16;  // guard floats on each side
  const float poison = semcl_test::PoisonValue();
  for (int round = 0; round < 4; ++round) {
    for (bool pairwise : {false, true}) {
      for (semcl_reduction_t red : {SEMCL_REDUCTION_NONE, SEMCL_REDUCTION_MEAN}) {
        Problem p = RandomProblem(rng, pairwise, B, K, 3.0, false);
        for (auto *v : {&p.raw, &p.pos, &p.neg})
          for (float &x : *v)
            if (pick(rng) < 6) x = specials[pick(rng)];
        for (float &x : p.y)
          if (pick(rng) < 5) x = labels[pick_y(rng)];
        const size_t nl = red == SEMCL_REDUCTION_NONE ? (size_t)B : 1;
        const size_t nrow = (size_t)B, nneg = pairwise ? (size_t)(B * K) : 0;
        Buffer raw(ctx_, p.raw), pos(ctx_, p.pos), y(ctx_, p.y);
        Buffer neg(ctx_, pairwise ? p.neg : std::vector<float>{0.0f});
        Buffer loss(ctx_, nl + 2 * G, poison), ctr(ctx_, nl + 2 * G, poison),
            aux(ctx_, nl + 2 * G, poison), graw(ctx_, nrow + 2 * G, poison),
            gpos(ctx_, nrow + 2 * G, poison), gneg(ctx_, nneg + 2 * G, poison);
        semcl_status_t st;
        if (pairwise)
          st = semcl_pos_neg_forward_backward(ctx_, B, K, raw.get(), pos.get(), neg.get(), y.get(),
                                              1.0f, red, 1.0f, nullptr, loss.get() + G,
                                              ctr.get() + G, aux.get() + G, graw.get() + G,
                                              gpos.get() + G, gneg.get() + G);
        else
          st = semcl_positive_only_forward_backward(ctx_, B, raw.get(), pos.get(), y.get(), 1.0f,
                                                    red, 1.0f, nullptr, loss.get() + G,
                                                    ctr.get() + G, aux.get() + G,
                                                    graw.get() + G, gpos.get() + G);
        ASSERT_EQ(st, SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx_);
        struct Out {
          const char *name;
          const Buffer *buf;
          size_t n;
        } outs[] = {{"loss", &loss, nl},       {"loss_ctr", &ctr, nl}, {"loss_aux", &aux, nl},
                    {"grad_raw", &graw, nrow}, {"grad_pos", &gpos, nrow},
                    {"grad_neg", &gneg, nneg}};
        for (const Out &o : outs) {
          const std::vector<float> v = o.buf->download();
          for (size_t i = 0; i < G; ++i) {
            EXPECT_TRUE(semcl_test::IsPoison(v[i])) << o.name << " guard before, " << i;
            EXPECT_TRUE(semcl_test::IsPoison(v[G + o.n + i])) << o.name << " guard after, " << i;
          }
          for (size_t i = 0; i < o.n; ++i)  // every output element was written
            EXPECT_FALSE(semcl_test::IsPoison(v[G + i])) << o.name << "[" << i << "]";
        }
        ExpectBitwiseEqual("score_raw", raw.download(), p.raw);
        ExpectBitwiseEqual("score_pos", pos.download(), p.pos);
        ExpectBitwiseEqual("y", y.download(), p.y);
        if (pairwise) ExpectBitwiseEqual("score_neg", neg.download(), p.neg);
        const std::vector<float> l = loss.download();
        bool any_nan = false;
        for (int64_t b = 0; b < B; ++b) {
          bool nan = std::isnan(p.raw[b]) || std::isnan(p.pos[b]) || std::isnan(p.y[b]);
          for (int64_t k = 0; pairwise && k < K; ++k) nan = nan || std::isnan(p.neg[b * K + k]);
          any_nan = any_nan || nan;
          if (red == SEMCL_REDUCTION_NONE && nan) { EXPECT_TRUE(std::isnan(l[G + b])) << "row " << b; }
        }
        if (red != SEMCL_REDUCTION_NONE && any_nan) { EXPECT_TRUE(std::isnan(l[G])); }
      }
    }
  }
}

SEMCL_INSTANTIATE_ON_ALL_BACKENDS(NonFinite);

}  // namespace
