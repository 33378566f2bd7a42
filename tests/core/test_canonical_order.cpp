// test_canonical_order.cpp — the CPU path follows the documented summation order
// (src/semcl_fold.h, docs/order.md) and row epilogue (src/semcl_row.h) to the bit, at every
// instruction-set level the machine has and for several thread counts. The CUDA kernels are
// held to the same order through the CPU-vs-CUDA parity tests in tests/cuda/.
//
// The expected values are written here from the documentation, independently of the
// library's own fold and tree code: only the per-element functions (semcl_math.h, checked for
// accuracy in test_math.cpp) are shared.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../../src/semcl_math.h"
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

}  // namespace
