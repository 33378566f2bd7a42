// test_finite_difference.cpp — gradients checked by finite differences, in double.
//
// 1. The oracle itself: the fp64 reference's analytic gradients equal Richardson-extrapolated
//    central differences of the reference's own loss (both losses, all reductions, with a
//    grad_scale and an upstream gradient). Inputs are multiples of 2^-10 so that x +- h is
//    exactly representable in float (the reference takes float inputs).
// 2. The library: its gradients equal the reference's on random inputs, on every backend.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core_util.h"

namespace {

using namespace semcl_core_test;

const semcl_reduction_t kReductions[] = {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM,
                                         SEMCL_REDUCTION_NONE};

const char *Name(semcl_reduction_t r) {
  return r == SEMCL_REDUCTION_MEAN ? "MEAN" : r == SEMCL_REDUCTION_SUM ? "SUM" : "NONE";
}

// The scalar whose gradient the reference returns: sum_i w_i * loss_i, with
// w_i = grad_scale * upstream[i] (NONE) or grad_scale * upstream[0] (MEAN, SUM).
double Objective(const Problem &p) {
  const RefResult r = Reference(p);
  double f = 0;
  for (size_t i = 0; i < r.loss.size(); ++i)
    f += (double)p.grad_scale * (double)p.upstream[i] * r.loss[i];
  return f;
}

// dF/dx for the input element *x by Richardson extrapolation of central differences
// (error O(h^4)); h and h/2 are powers of two, so x +- h is exact for x on the 2^-10 grid.
double NumericDerivative(Problem &p, float *x) {
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

// Random scores on the 2^-10 grid in [-6, 6]; labels hard or soft (multiples of 1/16).
Problem GridProblem(std::mt19937_64 &rng, bool pairwise, int64_t B, int64_t K,
                    semcl_reduction_t reduction) {
  Problem p = RandomProblem(rng, pairwise, B, K, 2.0, false);
  auto snap = [](std::vector<float> &v) {
    for (float &x : v) x = std::fmin(6.0f, std::fmax(-6.0f, std::round(x * 1024.0f) / 1024.0f));
  };
  snap(p.raw);
  snap(p.pos);
  snap(p.neg);
  std::uniform_int_distribution<int> sixteenth(0, 16);
  for (size_t b = 0; b < p.y.size(); ++b)
    if (b % 3 == 2) p.y[b] = (float)sixteenth(rng) / 16.0f;  // some soft labels
  p.lambda = 0.75f;
  p.reduction = reduction;
  p.grad_scale = 1.5f;
  p.upstream.assign(LossCount(p), 0.0f);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  for (float &x : p.upstream) x = u(rng);
  return p;
}

void CheckAgainstFiniteDifferences(const std::string &what, Problem &p, std::vector<float> &input,
                                   const std::vector<double> &analytic) {
  ASSERT_EQ(input.size(), analytic.size());
  double max_abs = 0;
  for (double g : analytic) max_abs = std::fmax(max_abs, std::fabs(g));
  ASSERT_GT(max_abs, 0.0) << what << ": a zero gradient checks nothing";
  for (size_t i = 0; i < input.size(); ++i) {
    const double numeric = NumericDerivative(p, &input[i]);
    // Measured: |numeric - analytic| <= 5.3e-11 over these cases (max|g| is O(0.01..1)).
    EXPECT_NEAR(numeric, analytic[i], 1e-7 * std::fabs(analytic[i]) + 1e-8 * max_abs)
        << what << "[" << i << "] at x = " << input[i];
  }
}

TEST(FiniteDifferenceReference, AnalyticGradientsMatchCentralDifferences) {
  std::mt19937_64 rng(1234);
  for (bool pairwise : {false, true}) {
    for (semcl_reduction_t red : kReductions) {
      SCOPED_TRACE(std::string(pairwise ? "pos_neg " : "positive_only ") + Name(red));
      Problem p = GridProblem(rng, pairwise, 5, 6, red);
      const RefResult r = Reference(p);
      CheckAgainstFiniteDifferences("grad_raw", p, p.raw, r.grad_raw);
      CheckAgainstFiniteDifferences("grad_pos", p, p.pos, r.grad_pos);
      if (pairwise) CheckAgainstFiniteDifferences("grad_neg", p, p.neg, r.grad_neg);
    }
  }
}

// A deliberately wrong gradient must be caught by the check above (guards the checker).
TEST(FiniteDifferenceReference, CheckerRejectsAWrongGradient) {
  std::mt19937_64 rng(99);
  Problem p = GridProblem(rng, true, 3, 4, SEMCL_REDUCTION_MEAN);
  RefResult r = Reference(p);
  const double numeric = NumericDerivative(p, &p.neg[5]);
  EXPECT_GT(std::fabs(numeric - 1.01 * r.grad_neg[5]), 1e-6 * std::fabs(r.grad_neg[5]));
}

class FiniteDifference : public semcl_test::BackendTest {};

// The library's fp32 gradients (and losses) against the reference on random inputs, for both
// losses and all reductions, with grad_scale != 1 and an upstream gradient array.
TEST_P(FiniteDifference, LibraryGradientsMatchTheReference) {
  std::mt19937_64 rng(4321);
  for (bool pairwise : {false, true}) {
    for (semcl_reduction_t red : kReductions) {
      for (bool soft : {false, true}) {
        SCOPED_TRACE(std::string(pairwise ? "pos_neg " : "positive_only ") + Name(red) +
                     (soft ? " soft labels" : " hard labels"));
        Problem p = RandomProblem(rng, pairwise, pairwise ? 37 : 1000, 45, 2.0, soft);
        p.lambda = 0.6f;
        p.reduction = red;
        p.grad_scale = -0.75f;
        p.upstream.assign(LossCount(p), 0.0f);
        std::uniform_real_distribution<float> u(0.25f, 2.0f);
        for (float &x : p.upstream) x = u(rng);
        ExpectResultClose(RunSemcl(ctx_, p), Reference(p));
      }
    }
  }
}

SEMCL_INSTANTIATE_ON_ALL_BACKENDS(FiniteDifference);

}  // namespace
