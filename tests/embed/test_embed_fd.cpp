// test_embed_fd.cpp — the oracle itself: the fp64 embedding reference's analytic gradients
// (every embedding input: user, item_raw, item_pos, item_neg / neg_pool) equal
// Richardson-extrapolated central differences of the reference's own loss, for the three calls,
// all reductions, with grad_scale, upstream arrays, a score scale, weights, masks and the shared
// pool's pos_index. Inputs are multiples of 2^-10, so x +- h is exact in float. The library is
// tied to this oracle by test_embed_accuracy.cpp (documented bounds).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "embed_util.h"

namespace {

using namespace semcl_embed_test;

const semcl_reduction_t kReductions[] = {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM,
                                         SEMCL_REDUCTION_NONE};

// F = sum_i grad_scale * upstream_i * loss_i: the scalar whose gradient the reference returns.
double Objective(const EmbedProblem &p) {
  const RefEmbed r = Reference(p);
  double f = 0;
  for (size_t i = 0; i < r.loss.size(); ++i)
    f += (double)p.grad_scale * (double)p.upstream[i] * r.loss[i];
  return f;
}

double NumericDerivative(EmbedProblem &p, float *x) {
  const float x0 = *x;
  auto central = [&](float h) {
    *x = x0 + h;
    const double fp = Objective(p);
    *x = x0 - h;
    const double fm = Objective(p);
    *x = x0;
    return (fp - fm) / (2.0 * (double)h);
  };
  const double d1 = central(1.0f / 64), d2 = central(1.0f / 128);
  return (4.0 * d2 - d1) / 3.0;
}

EmbedProblem GridProblem(std::mt19937_64 &rng, int kind, semcl_reduction_t reduction) {
  EmbedProblem p = RandomEmbed(rng, kind, 4, 5, 3);
  auto snap = [](std::vector<float> &v) {
    for (float &x : v) x = std::fmin(2.0f, std::fmax(-2.0f, std::round(x * 1024.0f) / 1024.0f));
  };
  snap(p.user);
  snap(p.raw);
  snap(p.pos);
  snap(p.neg);
  p.y[2] = 0.375f;  // a soft label
  p.lambda = 0.75f;
  p.reduction = reduction;
  p.grad_scale = 1.5f;
  p.scale = 1.25f;
  p.upstream.assign(p.LossCount(), 0.0f);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  for (float &x : p.upstream) x = u(rng);
  p.weight = {0.5f, 1.0f, 2.0f, 1.5f};
  if (kind != kPositiveOnly) {
    p.mask.assign((size_t)(p.B * p.K), 1);
    p.mask[3] = 0;
    p.mask[7] = 0;
    p.count = {5, 4, 5, 2};
  }
  if (kind == kShared) p.pos_index = {1, -1, 4, 0};
  return p;
}

void CheckInput(const std::string &what, EmbedProblem &p, std::vector<float> &input,
                const std::vector<double> &analytic) {
  ASSERT_EQ(input.size(), analytic.size()) << what;
  double max_abs = 0;
  for (double g : analytic) max_abs = std::fmax(max_abs, std::fabs(g));
  ASSERT_GT(max_abs, 0.0) << what << ": a zero gradient checks nothing";
  for (size_t i = 0; i < input.size(); ++i) {
    const double numeric = NumericDerivative(p, &input[i]);
    EXPECT_NEAR(numeric, analytic[i], 1e-7 * std::fabs(analytic[i]) + 1e-8 * max_abs)
        << what << "[" << i << "] at x = " << input[i];
  }
}

TEST(EmbedFiniteDifference, ReferenceGradientsMatchCentralDifferences) {
  std::mt19937_64 rng(2024);
  for (int kind : {kPositiveOnly, kPerRow, kShared})
    for (semcl_reduction_t red : kReductions) {
      SCOPED_TRACE(std::string(KindName(kind)) + " reduction " + std::to_string((int)red));
      EmbedProblem p = GridProblem(rng, kind, red);
      const RefEmbed r = Reference(p);
      CheckInput("grad_user", p, p.user, r.grad_user);
      CheckInput("grad_item_raw", p, p.raw, r.grad_raw);
      CheckInput("grad_item_pos", p, p.pos, r.grad_pos);
      if (kind != kPositiveOnly) CheckInput("grad_item_neg", p, p.neg, r.grad_neg);
    }
}

// Guards the checker: a gradient off by 1% is caught.
TEST(EmbedFiniteDifference, CheckerRejectsAWrongGradient) {
  std::mt19937_64 rng(7);
  EmbedProblem p = GridProblem(rng, kShared, SEMCL_REDUCTION_MEAN);
  const RefEmbed r = Reference(p);
  const double numeric = NumericDerivative(p, &p.neg[4]);
  ASSERT_GT(std::fabs(r.grad_neg[4]), 1e-6);
  EXPECT_GT(std::fabs(numeric - 1.01 * r.grad_neg[4]), 1e-6 * std::fabs(r.grad_neg[4]));
}

}  // namespace
