// test_canonical_order.cpp — the CPU path follows the documented summation order
// (src/semcl_fold.h, docs/order.md) and row epilogue (src/semcl_row.h) to the bit, at every
// instruction-set level the machine has and for several thread counts. The CUDA kernels are
// held to the same order through the CPU-vs-CUDA parity tests in tests/cuda/.
//
// The expected values are written here from the documentation, independently of the
// library's own fold and tree code: only the per-element functions (semcl_math.h, checked for
// accuracy in test_math.cpp) and, in the option tests at the end, the scalar per-row
// definitions of semcl_row.h (what the CPU kernels must reproduce in their loops over rows)
// are shared.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../../src/semcl_math.h"
#include "../../src/semcl_row.h"
#include "semcl/semcl.h"

namespace {

uint32_t Bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

// T of the documentation: split at the largest power of two below n.
double TreeSum(const double *v, int64_t n) {
  if (n == 1) return v[0];
  int64_t h = 1;
  while (h * 2 < n) h *= 2;
  return TreeSum(v, h) + TreeSum(v + h, n - h);
}

// The 32-lane fold of the documentation: a[j] += a[j + w] for w = 16, 8, 4, 2, 1.
float FoldLanes(float lanes[32]) {
  for (int w = 16; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) lanes[j] = lanes[j] + lanes[j + w];
  return lanes[0];
}

struct RowSums {
  double softplus = 0.0, sigmoid = 0.0;
};

RowSums CanonicalRow(const float *neg, int64_t K, float pos, float neg_sign) {
  std::vector<double> chunk_sp, chunk_sg;
  for (int64_t begin = 0; begin < K; begin += 1024) {
    float lane_sp[32] = {0}, lane_sg[32] = {0};
    const int64_t end = begin + 1024 < K ? begin + 1024 : K;
    for (int64_t i = begin; i < end; ++i) {
      float sp, sg;
      semcl_softplus_sigmoid(neg_sign * (pos - neg[i]), &sp, &sg);
      lane_sp[(i - begin) % 32] += sp;
      lane_sg[(i - begin) % 32] += sg;
    }
    chunk_sp.push_back((double)FoldLanes(lane_sp));
    chunk_sg.push_back((double)FoldLanes(lane_sg));
  }
  RowSums s;
  s.softplus = TreeSum(chunk_sp.data(), (int64_t)chunk_sp.size());
  s.sigmoid = TreeSum(chunk_sg.data(), (int64_t)chunk_sg.size());
  return s;
}

std::vector<semcl_cpu_isa_t> Levels() {
  std::vector<semcl_cpu_isa_t> levels;
  semcl_context *ctx = nullptr;
  if (semcl_create(&ctx, SEMCL_BACKEND_CPU) != SEMCL_STATUS_SUCCESS) return levels;
  for (semcl_cpu_isa_t isa : {SEMCL_CPU_ISA_SCALAR, SEMCL_CPU_ISA_AVX2, SEMCL_CPU_ISA_AVX512})
    if (semcl_set_cpu_isa(ctx, isa) == SEMCL_STATUS_SUCCESS) levels.push_back(isa);
  semcl_destroy(ctx);
  return levels;
}

struct Shape {
  int64_t B, K;
};

class CanonicalOrder : public ::testing::TestWithParam<Shape> {};

// Per-sample losses, grad_raw, grad_pos and every grad_neg (reduction NONE, upstream per row),
// and the MEAN and SUM losses (with weights that make the order over rows visible).
TEST_P(CanonicalOrder, PairwiseLossFollowsTheDocumentedOrderBitForBit) {
  const int64_t B = GetParam().B, K = GetParam().K;
  std::mt19937_64 rng(1000 + B * 7 + K);
  std::normal_distribution<float> score(0.0f, 3.0f);
  std::vector<float> raw(B), pos(B), y(B), neg(B * K), up(B), w(B);
  for (int64_t b = 0; b < B; ++b) {
    raw[b] = score(rng);
    pos[b] = score(rng);
    y[b] = (float)(b % 2);
    up[b] = 0.25f + (float)(b % 7);
    // Weights of both signs and very different sizes: the row sums then cancel, so adding the
    // rows in another order than T changes the fp32 result.
    w[b] = (b % 3 == 0 ? -1.0f : 1.0f) * (b % 5 == 0 ? 3.0e7f : 1.0f);
  }
  for (float &v : neg) v = score(rng);
  const float lambda = 0.75f, grad_scale = 1.5f;

  // Expected values, row by row, from the documented formulas.
  std::vector<float> e_loss(B), e_ctr(B), e_aux(B), e_graw(B), e_gpos(B), e_gneg(B * K);
  std::vector<double> leaf_ctr(B), leaf_aux_mean(B), leaf_aux_sum(B);
  for (int64_t b = 0; b < B; ++b) {
    const float ns = -(y[b] * 2.0f - 1.0f);
    const RowSums s = CanonicalRow(neg.data() + b * K, K, pos[b], ns);
    float ctr, dctr;
    semcl_bce_with_logits_pw(raw[b], y[b], 1.0f, &ctr, &dctr);
    const double ctr_term = (double)w[b] * (double)ctr;
    const double row_mean = (double)w[b] * (s.softplus / (double)K);
    e_ctr[b] = (float)ctr_term;
    e_aux[b] = (float)row_mean;
    e_loss[b] = (float)(ctr_term + (double)lambda * row_mean);
    const double g = (double)grad_scale * (double)up[b];
    e_graw[b] = (float)((g * (double)w[b]) * (double)dctr);
    const double c = ((g * (double)w[b]) * (double)lambda) * (double)ns;
    e_gpos[b] = (float)(c * s.sigmoid / (double)K);
    const float coef = (float)(-c / (double)K);
    for (int64_t k = 0; k < K; ++k) {
      float sp, sg;
      semcl_softplus_sigmoid(ns * (pos[b] - neg[b * K + k]), &sp, &sg);
      e_gneg[b * K + k] = coef * sg;
    }
    leaf_ctr[b] = ctr_term;
    leaf_aux_mean[b] = (double)w[b] * s.softplus;
    leaf_aux_sum[b] = row_mean;
  }
  const double t_ctr = TreeSum(leaf_ctr.data(), B);
  const double mean_ctr = t_ctr / (double)B;
  const double mean_aux = TreeSum(leaf_aux_mean.data(), B) / ((double)B * (double)K);
  const double sum_aux = TreeSum(leaf_aux_sum.data(), B);

  semcl_context *ctx = nullptr;
  ASSERT_EQ(semcl_create(&ctx, SEMCL_BACKEND_CPU), SEMCL_STATUS_SUCCESS);
  semcl_options opt = SEMCL_OPTIONS_INIT;
  opt.weight = w.data();
  for (semcl_cpu_isa_t isa : Levels()) {
    ASSERT_EQ(semcl_set_cpu_isa(ctx, isa), SEMCL_STATUS_SUCCESS);
    for (int threads : {1, 2, 3}) {
      SCOPED_TRACE(std::string("isa ") + semcl_cpu_isa_name(isa) + ", threads " +
                   std::to_string(threads) + ", B " + std::to_string(B) + ", K " +
                   std::to_string(K));
      ASSERT_EQ(semcl_set_threads(ctx, threads), SEMCL_STATUS_SUCCESS);
      std::vector<float> loss(B), ctr(B), aux(B), graw(B), gpos(B), gneg(B * K);
      ASSERT_EQ(semcl_pos_neg_ex(ctx, B, K, raw.data(), pos.data(), neg.data(), y.data(), lambda,
                                 SEMCL_REDUCTION_NONE, &opt, grad_scale, up.data(), loss.data(),
                                 ctr.data(), aux.data(), graw.data(), gpos.data(), gneg.data()),
                SEMCL_STATUS_SUCCESS)
          << semcl_last_error(ctx);
      for (int64_t b = 0; b < B; ++b) {
        ASSERT_EQ(Bits(aux[b]), Bits(e_aux[b])) << "loss_aux row " << b;
        ASSERT_EQ(Bits(ctr[b]), Bits(e_ctr[b])) << "loss_ctr row " << b;
        ASSERT_EQ(Bits(loss[b]), Bits(e_loss[b])) << "loss row " << b;
        ASSERT_EQ(Bits(graw[b]), Bits(e_graw[b])) << "grad_raw row " << b;
        ASSERT_EQ(Bits(gpos[b]), Bits(e_gpos[b])) << "grad_pos row " << b;
      }
      for (int64_t i = 0; i < B * K; ++i)
        ASSERT_EQ(Bits(gneg[i]), Bits(e_gneg[i])) << "grad_neg " << i / K << "," << i % K;

      float l, lc, la;
      ASSERT_EQ(semcl_pos_neg_ex(ctx, B, K, raw.data(), pos.data(), neg.data(), y.data(), lambda,
                                 SEMCL_REDUCTION_MEAN, &opt, 1.0f, nullptr, &l, &lc, &la,
                                 nullptr, nullptr, nullptr),
                SEMCL_STATUS_SUCCESS);
      EXPECT_EQ(Bits(lc), Bits((float)mean_ctr)) << lc << " vs " << mean_ctr;
      EXPECT_EQ(Bits(la), Bits((float)mean_aux)) << la << " vs " << mean_aux;
      EXPECT_EQ(Bits(l), Bits((float)(mean_ctr + (double)lambda * mean_aux)));
      ASSERT_EQ(semcl_pos_neg_ex(ctx, B, K, raw.data(), pos.data(), neg.data(), y.data(), lambda,
                                 SEMCL_REDUCTION_SUM, &opt, 1.0f, nullptr, &l, &lc, &la, nullptr,
                                 nullptr, nullptr),
                SEMCL_STATUS_SUCCESS);
      EXPECT_EQ(Bits(lc), Bits((float)t_ctr)) << lc << " vs " << t_ctr;
      EXPECT_EQ(Bits(la), Bits((float)sum_aux)) << la << " vs " << sum_aux;
    }
  }
  semcl_destroy(ctx);
}

// Short rows (fold of the lanes used), one lane group, chunk edges, several chunks (the tree
// over chunks), rows across sub-tiles (B > 256) and across tasks.
INSTANTIATE_TEST_SUITE_P(Shapes, CanonicalOrder,
                         ::testing::Values(Shape{5, 1}, Shape{5, 2}, Shape{7, 3}, Shape{5, 5},
                                           Shape{9, 16}, Shape{5, 31}, Shape{5, 32},
                                           Shape{5, 33}, Shape{5, 63}, Shape{3, 100},
                                           Shape{3, 1023}, Shape{3, 1024}, Shape{3, 1025},
                                           Shape{3, 3 * 1024 + 17}, Shape{2, 5 * 1024 + 3},
                                           Shape{700, 1}, Shape{300, 17}, Shape{70000, 1},
                                           Shape{129, 600}),
                         [](const ::testing::TestParamInfo<Shape> &shape) {
                           return "B" + std::to_string(shape.param.B) + "_K" +
                                  std::to_string(shape.param.K);
                         });

// The tree over rows is observable: with these four rows, adding in row order gives 1,
// while T = (r0 + r1) + (r2 + r3) gives 0 (the 1s vanish next to 1e20).
TEST(CanonicalOrderRows, TreeOverRowsIsNotARunningSum) {
  // BCE(x, y = 0) = softplus(x): 1e20 for x = 1e20, log(2) for x = 0. Weights pick the signs.
  const float raw[4] = {1e20f, 0.0f, 1e20f, 0.0f};
  const float pos[4] = {0, 0, 0, 0}, y[4] = {0, 0, 0, 0};
  const float w[4] = {1.0f, 1.0f / 0.69314718f, -1.0f, 1.0f / 0.69314718f};
  semcl_context *ctx = nullptr;
  ASSERT_EQ(semcl_create(&ctx, SEMCL_BACKEND_CPU), SEMCL_STATUS_SUCCESS);
  semcl_options opt = SEMCL_OPTIONS_INIT;
  opt.weight = w;
  float l, lc, la;
  ASSERT_EQ(semcl_positive_only_ex(ctx, 4, raw, pos, y, 0.0f, SEMCL_REDUCTION_SUM, &opt, 1.0f,
                                   nullptr, &l, &lc, &la, nullptr, nullptr),
            SEMCL_STATUS_SUCCESS);
  double leaves[4];
  for (int b = 0; b < 4; ++b) {
    float bce, d;
    semcl_bce_with_logits_pw(raw[b], y[b], 1.0f, &bce, &d);
    leaves[b] = (double)w[b] * (double)bce;
  }
  const double running = ((leaves[0] + leaves[1]) + leaves[2]) + leaves[3];
  const double tree = (leaves[0] + leaves[1]) + (leaves[2] + leaves[3]);
  ASSERT_NE(running, tree);  // the inputs really tell the orders apart
  EXPECT_EQ(Bits(lc), Bits((float)tree)) << lc;
  semcl_destroy(ctx);
}

// ---- every option through the row epilogue, bit for bit -----------------------------------
// The CPU kernels run the per-row formulas of semcl_row.h in loops over sub-tiles of rows,
// with the call-wide values (no weights, one pos_weight, one g, no masks) hoisted, fp32 inputs
// read in place and loss 1's fp64 gradient rows collected across sub-tiles. Expected here: the
// scalar definitions, row by row, for shapes across sub-tiles (256 rows) and tasks (16384),
// with weights, pos_weight (one or per row), soft labels (always the fp64 path), upstream per
// row, small logits (the cancellation path), non-finite inputs and 16-bit scores.

struct OptCase {
  int64_t B;
  semcl_dtype_t dt;
  semcl_reduction_t red;
  bool per_row_pw, weights;
};

// Scores as the call sees them: in dt (16-bit values rounded with the library's own
// conversion, semcl_math.h) and widened back for the expected values.
struct Scores {
  std::vector<float> f32;     // the values the rows see
  std::vector<uint16_t> h16;  // the call's input for bf16/fp16
  const void *Data(semcl_dtype_t dt) const {
    return dt == SEMCL_DTYPE_FLOAT32 ? (const void *)f32.data() : (const void *)h16.data();
  }
};

Scores MakeScores(std::vector<float> v, semcl_dtype_t dt) {
  Scores s;
  if (dt != SEMCL_DTYPE_FLOAT32) {
    s.h16.resize(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      s.h16[i] = dt == SEMCL_DTYPE_BFLOAT16 ? semcl_f32_to_bf16(v[i]) : semcl_f32_to_f16(v[i]);
      v[i] = dt == SEMCL_DTYPE_BFLOAT16 ? semcl_bf16_to_f32(s.h16[i]) : semcl_f16_to_f32(s.h16[i]);
    }
  }
  s.f32 = std::move(v);
  return s;
}

// A gradient in dt as 32 bits (the bits of the fp32 value, or the 16-bit pattern).
std::vector<uint32_t> GradBits(const std::vector<float> &g, semcl_dtype_t dt) {
  std::vector<uint32_t> b(g.size());
  for (size_t i = 0; i < g.size(); ++i)
    b[i] = dt == SEMCL_DTYPE_FLOAT32 ? Bits(g[i])
                                     : (dt == SEMCL_DTYPE_BFLOAT16 ? semcl_f32_to_bf16(g[i])
                                                                   : semcl_f32_to_f16(g[i]));
  return b;
}

std::vector<uint32_t> OutBits(const std::vector<uint8_t> &raw, semcl_dtype_t dt) {
  const size_t es = dt == SEMCL_DTYPE_FLOAT32 ? 4 : 2;
  std::vector<uint32_t> b(raw.size() / es);
  for (size_t i = 0; i < b.size(); ++i) {
    if (es == 4) {
      std::memcpy(&b[i], raw.data() + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, raw.data() + 2 * i, 2);
      b[i] = h;
    }
  }
  return b;
}

struct RowInputs {
  std::vector<float> raw, pos, y, w, pw, up;
};

RowInputs MakeRows(std::mt19937_64 &rng, const OptCase &oc) {
  std::normal_distribution<float> score(0.0f, 3.0f);
  std::uniform_real_distribution<float> small(-0.05f, 0.05f), wdist(-1.0f, 3.0f);
  RowInputs r;
  const size_t B = (size_t)oc.B;
  r.raw.resize(B), r.pos.resize(B), r.y.resize(B), r.w.resize(B), r.pw.resize(B), r.up.resize(B);
  for (size_t b = 0; b < B; ++b) {
    // every 4th row with small logits (the two gradient terms cancel: the fp64 path for some)
    r.raw[b] = b % 4 == 1 ? small(rng) : score(rng);
    r.pos[b] = b % 4 == 1 ? small(rng) : score(rng);
    r.y[b] = b % 5 == 3 ? 0.3f : (float)(b % 2);  // soft labels: always the fp64 path
    r.w[b] = b % 7 == 0 ? 0.0f : wdist(rng);
    r.pw[b] = 0.5f + (float)(b % 9) * 0.5f;
    r.up[b] = 0.25f + (float)(b % 11);
  }
  if (B > 40) {  // non-finite inputs in a few rows
    r.raw[13] = std::nanf("");
    r.pos[21] = INFINITY;
    r.raw[34] = -INFINITY;
  }
  return r;
}

semcl_row_consts RowConsts(float lambda, float grad_scale, const float *up,
                           semcl_reduction_t red, int64_t B, double N) {
  semcl_row_consts c;
  c.lambda = lambda;
  c.grad_scale = grad_scale;
  c.grad_upstream = up;
  c.reduction = (int)red;
  c.B = B;
  c.N = N;
  return c;
}

class RowEpilogueOptions : public ::testing::TestWithParam<OptCase> {};

TEST_P(RowEpilogueOptions, PositiveOnlyEqualsTheRowDefinitionsBitForBit) {
  const OptCase oc = GetParam();
  const int64_t B = oc.B;
  std::mt19937_64 rng(500 + B + (int64_t)oc.dt * 3 + (int64_t)oc.red);
  RowInputs in = MakeRows(rng, oc);
  const Scores raw = MakeScores(in.raw, oc.dt), pos = MakeScores(in.pos, oc.dt);
  const float lambda = 0.75f, grad_scale = 1.5f;
  const bool none = oc.red == SEMCL_REDUCTION_NONE;
  const float *up = none ? in.up.data() : nullptr;
  const semcl_row_consts c = RowConsts(lambda, grad_scale, up, oc.red, B, (double)B);
  const float pw_one = 2.5f;

  std::vector<float> e_loss(B), e_ctr(B), e_aux(B), e_graw(B), e_gpos(B);
  std::vector<double> leaf_ctr(B), leaf_aux(B);
  for (int64_t b = 0; b < B; ++b) {
    const float w = oc.weights ? in.w[b] : 1.0f;
    const float pw = oc.per_row_pw ? in.pw[b] : pw_one;
    semcl_positive_only_finish_row(&c, b, raw.f32[b], pos.f32[b], in.y[b], w, pw, &e_loss[b],
                                   &e_ctr[b], &e_aux[b], &e_graw[b], &e_gpos[b], &leaf_ctr[b],
                                   &leaf_aux[b]);
  }
  float el = 0, elc = 0, ela = 0;
  if (!none)
    semcl_reduced_losses(&c, TreeSum(leaf_ctr.data(), B), TreeSum(leaf_aux.data(), B), (double)B,
                         &el, &elc, &ela);
  const std::vector<uint32_t> e_graw_bits = GradBits(e_graw, oc.dt),
                              e_gpos_bits = GradBits(e_gpos, oc.dt);

  semcl_context *ctx = nullptr;
  ASSERT_EQ(semcl_create(&ctx, SEMCL_BACKEND_CPU), SEMCL_STATUS_SUCCESS);
  semcl_options opt = SEMCL_OPTIONS_INIT;
  opt.dtype = oc.dt;
  opt.weight = oc.weights ? in.w.data() : nullptr;
  opt.pos_weight = oc.per_row_pw ? in.pw.data() : &pw_one;
  opt.pos_weight_count = oc.per_row_pw ? B : 1;
  const size_t es = oc.dt == SEMCL_DTYPE_FLOAT32 ? 4 : 2;
  for (semcl_cpu_isa_t isa : Levels()) {
    ASSERT_EQ(semcl_set_cpu_isa(ctx, isa), SEMCL_STATUS_SUCCESS);
    for (int threads : {1, 3}) {
      SCOPED_TRACE(std::string("isa ") + semcl_cpu_isa_name(isa) + ", threads " +
                   std::to_string(threads));
      ASSERT_EQ(semcl_set_threads(ctx, threads), SEMCL_STATUS_SUCCESS);
      const size_t n = none ? (size_t)B : 1;
      std::vector<float> loss(n), ctr(n), aux(n);
      std::vector<uint8_t> graw((size_t)B * es), gpos((size_t)B * es);
      ASSERT_EQ(semcl_positive_only_ex(ctx, B, raw.Data(oc.dt), pos.Data(oc.dt), in.y.data(),
                                       lambda, oc.red, &opt, grad_scale, up, loss.data(),
                                       ctr.data(), aux.data(), graw.data(), gpos.data()),
                SEMCL_STATUS_SUCCESS)
          << semcl_last_error(ctx);
      const std::vector<uint32_t> gr = OutBits(graw, oc.dt), gp = OutBits(gpos, oc.dt);
      for (int64_t b = 0; b < B; ++b) {
        ASSERT_EQ(gr[b], e_graw_bits[b]) << "grad_raw row " << b;
        ASSERT_EQ(gp[b], e_gpos_bits[b]) << "grad_pos row " << b;
        if (none) {
          ASSERT_EQ(Bits(loss[b]), Bits(e_loss[b])) << "loss row " << b;
          ASSERT_EQ(Bits(ctr[b]), Bits(e_ctr[b])) << "loss_ctr row " << b;
          ASSERT_EQ(Bits(aux[b]), Bits(e_aux[b])) << "loss_aux row " << b;
        }
      }
      if (!none) {
        EXPECT_EQ(Bits(loss[0]), Bits(el));
        EXPECT_EQ(Bits(ctr[0]), Bits(elc));
        EXPECT_EQ(Bits(aux[0]), Bits(ela));
      }
    }
  }
  semcl_destroy(ctx);
}

// The pairwise loss with neg_count masks (rows with no real negative, counts past K and
// negative counts included): expected from the canonical row sums over the real negatives and
// semcl_pos_neg_finish_row; grad_neg from the row's fp64 coefficient.
TEST_P(RowEpilogueOptions, PairwiseEqualsTheRowDefinitionsBitForBit) {
  const OptCase oc = GetParam();
  for (int64_t K : {1, 5, 16}) {
    const int64_t B = oc.B;
    SCOPED_TRACE("K " + std::to_string(K));
    std::mt19937_64 rng(900 + B * 3 + K + (int64_t)oc.dt * 5 + (int64_t)oc.red);
    RowInputs in = MakeRows(rng, oc);
    std::normal_distribution<float> score(0.0f, 3.0f);
    std::vector<float> negv((size_t)(B * K));
    for (float &v : negv) v = score(rng);
    std::vector<int32_t> count((size_t)B);
    for (int64_t b = 0; b < B; ++b)
      count[b] = b % 6 == 0 ? 0 : (b % 6 == 1 ? (int32_t)K + 3 : (b % 6 == 2 ? -2 : (int32_t)(b % (K + 1))));
    const Scores raw = MakeScores(in.raw, oc.dt), pos = MakeScores(in.pos, oc.dt),
                 neg = MakeScores(negv, oc.dt);
    const float lambda = 0.75f, grad_scale = 1.5f, pw_one = 2.5f;
    const bool none = oc.red == SEMCL_REDUCTION_NONE;
    const float *up = none ? in.up.data() : nullptr;
    double N = 0.0;
    for (int64_t b = 0; b < B; ++b) N += (double)semcl_clamp_count(count[b], K);
    const semcl_row_consts c = RowConsts(lambda, grad_scale, up, oc.red, B, N);

    std::vector<float> e_loss(B), e_ctr(B), e_aux(B), e_graw(B), e_gpos(B), e_gneg(B * K);
    std::vector<double> leaf_ctr(B), leaf_aux(B);
    for (int64_t b = 0; b < B; ++b) {
      const float w = oc.weights ? in.w[b] : 1.0f;
      const float pw = oc.per_row_pw ? in.pw[b] : pw_one;
      const int64_t n = semcl_clamp_count(count[b], K);
      const float ns = semcl_neg_sign(in.y[b]);
      const RowSums s = CanonicalRow(neg.f32.data() + b * K, n > 0 ? n : 1, pos.f32[b], ns);
      const double sp = n > 0 ? s.softplus : 0.0, sg = n > 0 ? s.sigmoid : 0.0;
      semcl_pos_neg_finish_row(&c, b, raw.f32[b], in.y[b], w, pw, n, sp, sg, &e_loss[b],
                               &e_ctr[b], &e_aux[b], &e_graw[b], &e_gpos[b], &leaf_ctr[b],
                               &leaf_aux[b]);
      const double num = semcl_pos_neg_grad_numerator(semcl_row_upstream(&c, b), w, lambda, ns);
      const double coef = semcl_pos_neg_neg_coef(num, semcl_pos_neg_denominator(&c, (double)n));
      for (int64_t k = 0; k < K; ++k) {
        float spk, sgk;
        semcl_softplus_sigmoid(ns * (pos.f32[b] - neg.f32[b * K + k]), &spk, &sgk);
        e_gneg[b * K + k] = k < n ? semcl_pos_neg_grad_neg(coef, sgk) : 0.0f;
      }
    }
    float el = 0, elc = 0, ela = 0;
    if (!none)
      semcl_reduced_losses(&c, TreeSum(leaf_ctr.data(), B), TreeSum(leaf_aux.data(), B), N, &el,
                           &elc, &ela);
    const std::vector<uint32_t> e_graw_bits = GradBits(e_graw, oc.dt),
                                e_gpos_bits = GradBits(e_gpos, oc.dt),
                                e_gneg_bits = GradBits(e_gneg, oc.dt);

    semcl_context *ctx = nullptr;
    ASSERT_EQ(semcl_create(&ctx, SEMCL_BACKEND_CPU), SEMCL_STATUS_SUCCESS);
    semcl_options opt = SEMCL_OPTIONS_INIT;
    opt.dtype = oc.dt;
    opt.neg_count = count.data();
    opt.weight = oc.weights ? in.w.data() : nullptr;
    opt.pos_weight = oc.per_row_pw ? in.pw.data() : &pw_one;
    opt.pos_weight_count = oc.per_row_pw ? B : 1;
    const size_t es = oc.dt == SEMCL_DTYPE_FLOAT32 ? 4 : 2;
    for (semcl_cpu_isa_t isa : Levels()) {
      ASSERT_EQ(semcl_set_cpu_isa(ctx, isa), SEMCL_STATUS_SUCCESS);
      for (int threads : {1, 3}) {
        SCOPED_TRACE(std::string("isa ") + semcl_cpu_isa_name(isa) + ", threads " +
                     std::to_string(threads));
        ASSERT_EQ(semcl_set_threads(ctx, threads), SEMCL_STATUS_SUCCESS);
        const size_t n = none ? (size_t)B : 1;
        std::vector<float> loss(n), ctr(n), aux(n);
        std::vector<uint8_t> graw((size_t)B * es), gpos((size_t)B * es), gneg((size_t)(B * K) * es);
        ASSERT_EQ(semcl_pos_neg_ex(ctx, B, K, raw.Data(oc.dt), pos.Data(oc.dt), neg.Data(oc.dt),
                                   in.y.data(), lambda, oc.red, &opt, grad_scale, up,
                                   loss.data(), ctr.data(), aux.data(), graw.data(), gpos.data(),
                                   gneg.data()),
                  SEMCL_STATUS_SUCCESS)
            << semcl_last_error(ctx);
        const std::vector<uint32_t> gr = OutBits(graw, oc.dt), gp = OutBits(gpos, oc.dt),
                                    gn = OutBits(gneg, oc.dt);
        for (int64_t b = 0; b < B; ++b) {
          ASSERT_EQ(gr[b], e_graw_bits[b]) << "grad_raw row " << b;
          ASSERT_EQ(gp[b], e_gpos_bits[b]) << "grad_pos row " << b;
          if (none) {
            ASSERT_EQ(Bits(loss[b]), Bits(e_loss[b])) << "loss row " << b;
            ASSERT_EQ(Bits(ctr[b]), Bits(e_ctr[b])) << "loss_ctr row " << b;
            ASSERT_EQ(Bits(aux[b]), Bits(e_aux[b])) << "loss_aux row " << b;
          }
        }
        for (int64_t i = 0; i < B * K; ++i)
          ASSERT_EQ(gn[i], e_gneg_bits[i]) << "grad_neg " << i / K << "," << i % K;
        if (!none) {
          EXPECT_EQ(Bits(loss[0]), Bits(el));
          EXPECT_EQ(Bits(ctr[0]), Bits(elc));
          EXPECT_EQ(Bits(aux[0]), Bits(ela));
        }
      }
    }
    semcl_destroy(ctx);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RowEpilogueOptions,
    ::testing::Values(OptCase{7, SEMCL_DTYPE_FLOAT32, SEMCL_REDUCTION_NONE, true, true},
                      OptCase{300, SEMCL_DTYPE_FLOAT32, SEMCL_REDUCTION_NONE, true, true},
                      OptCase{300, SEMCL_DTYPE_FLOAT32, SEMCL_REDUCTION_MEAN, false, false},
                      OptCase{777, SEMCL_DTYPE_FLOAT32, SEMCL_REDUCTION_SUM, false, true},
                      OptCase{777, SEMCL_DTYPE_BFLOAT16, SEMCL_REDUCTION_NONE, true, false},
                      OptCase{300, SEMCL_DTYPE_FLOAT16, SEMCL_REDUCTION_MEAN, true, true},
                      OptCase{20000, SEMCL_DTYPE_FLOAT32, SEMCL_REDUCTION_NONE, true, true},
                      OptCase{20000, SEMCL_DTYPE_BFLOAT16, SEMCL_REDUCTION_MEAN, false, true}),
    [](const ::testing::TestParamInfo<OptCase> &c) {
      const char *dt = c.param.dt == SEMCL_DTYPE_FLOAT32
                           ? "f32"
                           : (c.param.dt == SEMCL_DTYPE_BFLOAT16 ? "bf16" : "f16");
      const char *red = c.param.red == SEMCL_REDUCTION_NONE
                            ? "none"
                            : (c.param.red == SEMCL_REDUCTION_MEAN ? "mean" : "sum");
      return "B" + std::to_string(c.param.B) + "_" + dt + "_" + red +
             (c.param.per_row_pw ? "_pwrows" : "_pw1") + (c.param.weights ? "_w" : "_now");
    });

}  // namespace
