// core_util.h — helpers shared by the tests in tests/core/: random inputs, one call of the
// library (on any backend) or of the fp64 reference with the same arguments, and the
// comparisons (tolerance rule, bitwise).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend_buffers.h"
#include "reference.h"

namespace semcl_core_test {

using semcl_test::Buffer;

// One problem: inputs and scalar arguments. pairwise = loss 2 (pos_neg), else loss 1.
struct Problem {
  bool pairwise = true;
  int64_t B = 1, K = 1;
  std::vector<float> raw, pos, neg, y;
  float lambda = 1.0f;
  semcl_reduction_t reduction = SEMCL_REDUCTION_MEAN;
  float grad_scale = 1.0f;
  std::vector<float> upstream;  // empty: NULL; else 1 (MEAN/SUM) or B (NONE) values
};

inline size_t LossCount(const Problem &p) {
  return p.reduction == SEMCL_REDUCTION_NONE ? (size_t)p.B : 1;
}

// Random inputs: scores ~ N(0, scale^2) rounded to float; labels hard (0/1) or soft (U[0,1]).
inline Problem RandomProblem(std::mt19937_64 &rng, bool pairwise, int64_t B, int64_t K,
                             double scale, bool soft_labels) {
  Problem p;
  p.pairwise = pairwise;
  p.B = B;
  p.K = pairwise ? K : 1;
  std::normal_distribution<double> normal(0.0, scale);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto scores = [&](size_t n) {
    std::vector<float> v(n);
    for (float &x : v) x = (float)normal(rng);
    return v;
  };
  p.raw = scores((size_t)B);
  p.pos = scores((size_t)B);
  if (pairwise) p.neg = scores((size_t)(B * K));
  p.y.resize((size_t)B);
  for (float &x : p.y) x = soft_labels ? (float)unit(rng) : (unit(rng) < 0.4 ? 1.0f : 0.0f);
  return p;
}

enum Grads { kNoGrad = 0, kGradRaw = 1, kGradPos = 2, kGradNeg = 4, kAllGrads = 7 };

struct Result {
  semcl_status_t status = SEMCL_STATUS_INTERNAL_ERROR;
  std::string error;
  std::vector<float> loss, loss_ctr, loss_aux, grad_raw, grad_pos, grad_neg;  // empty if not asked
};

// Runs the library on ctx's backend: forward_backward with the gradients in `grads`, or the
// forward-only entry point when forward_only. Outputs start as poison.
// in_place: grad_neg is written over a copy of score_neg (grad_neg == score_neg).
inline Result RunSemcl(semcl_context *ctx, const Problem &p, int grads = kAllGrads,
                  bool forward_only = false, bool in_place = false) {
  Result r;
  const float poison = semcl_test::PoisonValue();
  const size_t nl = LossCount(p);
  Buffer raw(ctx, p.raw), pos(ctx, p.pos), y(ctx, p.y);
  Buffer neg = p.pairwise ? Buffer(ctx, p.neg) : Buffer();
  Buffer up = p.upstream.empty() ? Buffer() : Buffer(ctx, p.upstream);
  Buffer loss(ctx, nl, poison), ctr(ctx, nl, poison), aux(ctx, nl, poison);
  Buffer graw = (grads & kGradRaw) ? Buffer(ctx, (size_t)p.B, poison) : Buffer();
  Buffer gpos = (grads & kGradPos) ? Buffer(ctx, (size_t)p.B, poison) : Buffer();
  Buffer gneg = (p.pairwise && (grads & kGradNeg) && !in_place)
                    ? Buffer(ctx, (size_t)(p.B * p.K), poison)
                    : Buffer();
  float *gneg_ptr = in_place ? neg.get() : gneg.get();
  if (forward_only) {
    r.status = p.pairwise ? semcl_pos_neg_forward(ctx, p.B, p.K, raw.get(), pos.get(), neg.get(),
                                                  y.get(), p.lambda, p.reduction, loss.get(),
                                                  ctr.get(), aux.get())
                          : semcl_positive_only_forward(ctx, p.B, raw.get(), pos.get(), y.get(),
                                                        p.lambda, p.reduction, loss.get(),
                                                        ctr.get(), aux.get());
  } else if (p.pairwise) {
    r.status = semcl_pos_neg_forward_backward(
        ctx, p.B, p.K, raw.get(), pos.get(), neg.get(), y.get(), p.lambda, p.reduction,
        p.grad_scale, up.get(), loss.get(), ctr.get(), aux.get(), graw.get(), gpos.get(),
        gneg_ptr);
  } else {
    r.status = semcl_positive_only_forward_backward(
        ctx, p.B, raw.get(), pos.get(), y.get(), p.lambda, p.reduction, p.grad_scale, up.get(),
        loss.get(), ctr.get(), aux.get(), graw.get(), gpos.get());
  }
  r.error = semcl_last_error(ctx);
  r.loss = loss.download();
  r.loss_ctr = ctr.download();
  r.loss_aux = aux.download();
  if (graw.get()) r.grad_raw = graw.download();
  if (gpos.get()) r.grad_pos = gpos.download();
  if (in_place && (grads & kGradNeg) && !forward_only) r.grad_neg = neg.download();
  if (gneg.get()) r.grad_neg = gneg.download();
  return r;
}

struct RefResult {
  std::vector<double> loss, loss_ctr, loss_aux, grad_raw, grad_pos, grad_neg;
};

// The fp64 reference with the same arguments (all gradients).
inline RefResult Reference(const Problem &p) {
  RefResult r;
  const size_t nl = LossCount(p);
  r.loss.resize(nl);
  r.loss_ctr.resize(nl);
  r.loss_aux.resize(nl);
  r.grad_raw.resize((size_t)p.B);
  r.grad_pos.resize((size_t)p.B);
  std::vector<double> up(p.upstream.begin(), p.upstream.end());
  const double *upp = up.empty() ? nullptr : up.data();
  if (p.pairwise) {
    r.grad_neg.resize((size_t)(p.B * p.K));
    semcl_ref_pos_neg(p.B, p.K, p.raw.data(), p.pos.data(), p.neg.data(), p.y.data(), p.lambda,
                      p.reduction, p.grad_scale, upp, r.loss.data(), r.loss_ctr.data(),
                      r.loss_aux.data(), r.grad_raw.data(), r.grad_pos.data(),
                      r.grad_neg.data());
  } else {
    semcl_ref_positive_only(p.B, p.raw.data(), p.pos.data(), p.y.data(), p.lambda, p.reduction,
                            p.grad_scale, upp, r.loss.data(), r.loss_ctr.data(),
                            r.loss_aux.data(), r.grad_raw.data(), r.grad_pos.data());
  }
  return r;
}

// The suite's tolerance rule for one output vector v:
//   |got - exp| <= rel*|exp| + abs_frac*max|exp over v|   (defaults 2e-5 and 1e-6).
// Non-finite expectations must be matched exactly (same infinity, or NaN for NaN).
// Plus an absolute slack of kFp32Floor: fp32 cannot hold values below ~1.4e-45 at all (an fp64
// expectation of 1e-160 is 0 in fp32) and holds subnormals (< FLT_MIN) only to 1.4e-45.
// Reports at most a few failing elements per vector.
constexpr double kFp32Floor = 1e-41;  // ~ FLT_MIN / 1000, far below every normal value

inline void ExpectClose(const std::string &what, const std::vector<float> &got,
                        const std::vector<double> &expected, double rel = 2e-5,
                        double abs_frac = 1e-6) {
  ASSERT_EQ(got.size(), expected.size()) << what;
  double max_abs = 0;
  for (double e : expected)
    if (std::isfinite(e)) max_abs = std::fmax(max_abs, std::fabs(e));
  int reported = 0;
  for (size_t i = 0; i < got.size() && reported < 5; ++i) {
    const double e = expected[i], g = got[i];
    bool ok;
    if (std::isnan(e))
      ok = std::isnan(g);
    else if (std::isinf(e))
      ok = g == e;
    else
      ok = std::isfinite(g) &&
           std::fabs(g - e) <= rel * std::fabs(e) + abs_frac * max_abs + kFp32Floor;
    if (!ok) {
      ++reported;
      ADD_FAILURE() << what << "[" << i << "]: got " << got[i] << ", expected " << e
                    << " (|diff| = " << std::fabs(g - e)
                    << ", tol = " << rel * std::fabs(e) + abs_frac * max_abs << ")";
    }
  }
}

inline void ExpectResultClose(const Result &got, const RefResult &exp, double rel = 2e-5,
                              double abs_frac = 1e-6) {
  ASSERT_EQ(got.status, SEMCL_STATUS_SUCCESS) << got.error;
  ExpectClose("loss", got.loss, exp.loss, rel, abs_frac);
  ExpectClose("loss_ctr", got.loss_ctr, exp.loss_ctr, rel, abs_frac);
  ExpectClose("loss_aux", got.loss_aux, exp.loss_aux, rel, abs_frac);
  if (!got.grad_raw.empty()) ExpectClose("grad_raw", got.grad_raw, exp.grad_raw, rel, abs_frac);
  if (!got.grad_pos.empty()) ExpectClose("grad_pos", got.grad_pos, exp.grad_pos, rel, abs_frac);
  if (!got.grad_neg.empty()) ExpectClose("grad_neg", got.grad_neg, exp.grad_neg, rel, abs_frac);
}

inline uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// Bitwise equality of two float vectors (NaN payloads and signed zeros included).
inline void ExpectBitwiseEqual(const std::string &what, const std::vector<float> &a,
                               const std::vector<float> &b) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i)
    if (Bits(a[i]) != Bits(b[i])) {
      ADD_FAILURE() << what << "[" << i << "] differs: " << a[i] << " (0x" << std::hex
                    << Bits(a[i]) << ") vs " << b[i] << " (0x" << Bits(b[i]) << std::dec << ")";
      return;
    }
}

inline void ExpectLossesBitwiseEqual(const Result &a, const Result &b) {
  ExpectBitwiseEqual("loss", a.loss, b.loss);
  ExpectBitwiseEqual("loss_ctr", a.loss_ctr, b.loss_ctr);
  ExpectBitwiseEqual("loss_aux", a.loss_aux, b.loss_aux);
}

inline void ExpectAllBitwiseEqual(const Result &a, const Result &b) {
  ExpectLossesBitwiseEqual(a, b);
  ExpectBitwiseEqual("grad_raw", a.grad_raw, b.grad_raw);
  ExpectBitwiseEqual("grad_pos", a.grad_pos, b.grad_pos);
  ExpectBitwiseEqual("grad_neg", a.grad_neg, b.grad_neg);
}

}  // namespace semcl_core_test
