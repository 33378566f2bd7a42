// test_canonical_order.cpp — the CPU path follows the documented reduction order of
// src/semcl_order.h to the bit. The CUDA kernels are held to the same order (and checked
// against the CPU bit for bit in tests/cuda/), so this pins down what "the same answer on every
// backend" means. The expected values are computed here, plainly, from the shared scalar
// functions and the documented order: 32 lanes over each 1024-element chunk, the full 32-lane
// tree, fp64 across chunks and rows.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "../../src/semcl_order.h"
#include "semcl/semcl.h"

namespace {

struct RowSums {
  double softplus = 0.0, sigmoid = 0.0;
};

// Straight from the comment in semcl_order.h, without any of the library's shortcuts.
RowSums CanonicalRow(const float *neg, int64_t K, float pos, float neg_sign) {
  RowSums sums;
  for (int64_t begin = 0; begin < K; begin += SEMCL_CHUNK) {
    float lane_sp[SEMCL_LANES] = {0}, lane_sg[SEMCL_LANES] = {0};
    const int64_t end = begin + SEMCL_CHUNK < K ? begin + SEMCL_CHUNK : K;
    for (int64_t i = begin; i < end; ++i) {
      float sp, sg;
      semcl_softplus_sigmoid(neg_sign * (pos - neg[i]), &sp, &sg);
      lane_sp[(i - begin) % SEMCL_LANES] += sp;
      lane_sg[(i - begin) % SEMCL_LANES] += sg;
    }
    sums.softplus += (double)semcl_fold_lanes(lane_sp);
    sums.sigmoid += (double)semcl_fold_lanes(lane_sg);
  }
  return sums;
}

uint32_t Bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

class CanonicalOrder : public ::testing::TestWithParam<int64_t> {};

TEST_P(CanonicalOrder, PerSampleLossAndGradPosFollowTheDocumentedOrderBitForBit) {
  const int64_t B = 5, K = GetParam();
  std::mt19937_64 rng(1000 + K);
  std::normal_distribution<float> score(0.0f, 3.0f);
  std::vector<float> raw(B), pos(B), y(B), neg(B * K);
  for (int64_t b = 0; b < B; ++b) {
    raw[b] = score(rng);
    pos[b] = score(rng);
    y[b] = (float)(b % 2);
  }
  for (float &v : neg) v = score(rng);
  const float lambda = 0.75f;

  semcl_context *ctx = nullptr;
  ASSERT_EQ(semcl_create(&ctx, SEMCL_BACKEND_CPU), SEMCL_STATUS_SUCCESS);
  for (int threads : {1, 2, 3}) {
    ASSERT_EQ(semcl_set_threads(ctx, threads), SEMCL_STATUS_SUCCESS);
    std::vector<float> loss(B), ctr(B), aux(B), graw(B), gpos(B), gneg(B * K);
    ASSERT_EQ(semcl_pos_neg_forward_backward(ctx, B, K, raw.data(), pos.data(), neg.data(),
                                             y.data(), lambda, SEMCL_REDUCTION_NONE, 1.0f,
                                             nullptr, loss.data(), ctr.data(), aux.data(),
                                             graw.data(), gpos.data(), gneg.data()),
              SEMCL_STATUS_SUCCESS)
        << semcl_last_error(ctx);
    for (int64_t b = 0; b < B; ++b) {
      const float neg_sign = semcl_neg_sign(y[b]);
      const RowSums sums = CanonicalRow(neg.data() + b * K, K, pos[b], neg_sign);
      const double scale = semcl_row_grad_scale(1.0, 1.0, 0, B);
      float ctr_b, dctr_b, l, lc, la;
      semcl_bce_with_logits(raw[b], y[b], &ctr_b, &dctr_b);
      semcl_row_losses(ctr_b, sums.softplus / (double)K, lambda, &l, &lc, &la);
      EXPECT_EQ(Bits(aux[b]), Bits(la)) << "row " << b << ", K " << K << ", threads " << threads;
      EXPECT_EQ(Bits(loss[b]), Bits(l)) << "row " << b;
      EXPECT_EQ(Bits(gpos[b]),
                Bits(semcl_pos_neg_pos_grad(scale, lambda, neg_sign, sums.sigmoid, K)))
          << "row " << b << ", K " << K << ", threads " << threads;
      const float coef = semcl_pos_neg_neg_coef(scale, lambda, neg_sign, K);
      for (int64_t k = 0; k < K; ++k) {
        float sp, sg;
        semcl_softplus_sigmoid(neg_sign * (pos[b] - neg[b * K + k]), &sp, &sg);
        ASSERT_EQ(Bits(gneg[b * K + k]), Bits(coef * sg)) << "row " << b << ", k " << k;
      }
    }
  }
  semcl_destroy(ctx);
}

// Short rows (fold of only the lanes used), exactly one lane group, chunk edges, many chunks.
INSTANTIATE_TEST_SUITE_P(Shapes, CanonicalOrder,
                         ::testing::Values(1, 2, 3, 5, 16, 31, 32, 33, 63, 100, 1023, 1024, 1025,
                                           3 * 1024 + 17));

}  // namespace
