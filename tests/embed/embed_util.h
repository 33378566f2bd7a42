// embed_util.h — helpers of the embedding tests: random problems, one call of the library (on
// any backend, outputs poisoned first), the fp64 reference with its documented error bounds,
// and an independent implementation of the documented canonical dot product.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend_buffers.h"
#include "reference_embed.h"
#include "typed_buffer.h"

namespace semcl_embed_test {

using semcl_test::Buffer;
using semcl_test::TypedBuffer;

enum Kind { kPositiveOnly = SEMCL_REF_POSITIVE_ONLY, kPerRow = SEMCL_REF_PER_ROW, kShared = SEMCL_REF_SHARED };

inline const char *KindName(int kind) {
  return kind == kPerRow ? "per-row" : kind == kShared ? "shared" : "positive-only";
}

struct EmbedProblem {
  int kind = kPerRow;
  int64_t B = 1, K = 1, D = 1;  // K: negatives per row, or pool entries N
  std::vector<float> user, raw, pos, neg, y;
  float lambda = 1.0f;
  semcl_reduction_t reduction = SEMCL_REDUCTION_MEAN;
  float grad_scale = 1.0f;
  std::vector<float> upstream;  // empty: NULL
  std::vector<uint8_t> mask;    // (B,K) or empty
  std::vector<int32_t> count;   // (B) or empty
  std::vector<float> weight;    // (B) or empty
  std::vector<float> pos_weight;
  std::vector<int64_t> pos_index;  // (B) or empty (shared only)
  float scale = 1.0f;
  semcl_gemm_math_t gemm_math = SEMCL_GEMM_MATH_FP32;

  int64_t NegRows() const { return kind == kPerRow ? B * K : (kind == kShared ? K : 0); }
  size_t LossCount() const { return reduction == SEMCL_REDUCTION_NONE ? (size_t)B : 1; }
};

// Embeddings ~ N(0, sd^2) with sd = 1.2 / D^(1/4): dot products of about unit size; labels hard
// (about 40% ones) or soft.
inline EmbedProblem RandomEmbed(std::mt19937_64 &rng, int kind, int64_t B, int64_t K, int64_t D,
                                bool soft_labels = false) {
  EmbedProblem p;
  p.kind = kind;
  p.B = B;
  p.K = kind == kPositiveOnly ? 1 : K;
  p.D = D;
  std::normal_distribution<double> normal(0.0, 1.2 / std::pow((double)D, 0.25));
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto fill = [&](std::vector<float> &v, size_t n) {
    v.resize(n);
    for (float &x : v) x = (float)normal(rng);
  };
  fill(p.user, (size_t)(B * D));
  fill(p.raw, (size_t)(B * D));
  fill(p.pos, (size_t)(B * D));
  if (kind != kPositiveOnly) fill(p.neg, (size_t)(p.NegRows() * D));
  p.y.resize((size_t)B);
  for (float &x : p.y) x = soft_labels ? (float)unit(rng) : (unit(rng) < 0.4 ? 1.0f : 0.0f);
  return p;
}

enum Grads { kNoGrad = 0, kGradUser = 1, kGradRaw = 2, kGradPos = 4, kGradNeg = 8, kAllGrads = 15 };

struct EmbedResult {
  semcl_status_t status = SEMCL_STATUS_INTERNAL_ERROR;
  std::string error;
  std::vector<float> loss, loss_ctr, loss_aux, grad_user, grad_raw, grad_pos, grad_neg;
};

// The arrays of one call (in the context's memory space; embeddings and their gradients in
// the call's dtype, NULL where absent).
struct EmbedArrays {
  const void *user, *raw, *pos, *neg;
  const float *y, *upstream, *weight, *pos_weight;
  const uint8_t *mask;
  const int32_t *count;
  const int64_t *pos_index;
  float *loss, *loss_ctr, *loss_aux;
  void *grad_user, *grad_raw, *grad_pos, *grad_neg;
};

// The public call of p's kind on those arrays, with p's scalars and options and dtype dt.
inline semcl_status_t CallEmbed(semcl_context *ctx, const EmbedProblem &p, semcl_dtype_t dt,
                                const EmbedArrays &a) {
  semcl_options opt = SEMCL_OPTIONS_INIT;
  opt.dtype = dt;
  opt.neg_mask = a.mask;
  opt.neg_count = a.count;
  opt.weight = a.weight;
  opt.pos_weight = a.pos_weight;
  opt.pos_weight_count = (int64_t)p.pos_weight.size();
  semcl_embed_options eopt = SEMCL_EMBED_OPTIONS_INIT;
  eopt.score_scale = p.scale;
  eopt.pos_index = a.pos_index;
  eopt.gemm_math = p.gemm_math;
  if (p.kind == kPerRow)
    return semcl_pos_neg_embed(ctx, p.B, p.K, p.D, a.user, a.raw, a.pos, a.neg, a.y, p.lambda,
                               p.reduction, &opt, &eopt, p.grad_scale, a.upstream, a.loss,
                               a.loss_ctr, a.loss_aux, a.grad_user, a.grad_raw, a.grad_pos,
                               a.grad_neg);
  if (p.kind == kShared)
    return semcl_pos_neg_shared_embed(ctx, p.B, p.K, p.D, a.user, a.raw, a.pos, a.neg, a.y,
                                      p.lambda, p.reduction, &opt, &eopt, p.grad_scale,
                                      a.upstream, a.loss, a.loss_ctr, a.loss_aux, a.grad_user,
                                      a.grad_raw, a.grad_pos, a.grad_neg);
  return semcl_positive_only_embed(ctx, p.B, p.D, a.user, a.raw, a.pos, a.y, p.lambda,
                                   p.reduction, &opt, &eopt, p.grad_scale, a.upstream, a.loss,
                                   a.loss_ctr, a.loss_aux, a.grad_user, a.grad_raw, a.grad_pos);
}

// One call of the library on ctx's backend with the gradients in `grads` (outputs start as
// poison). in_place: grad_item_neg is written over a copy of item_neg (per-row only).
inline EmbedResult RunEmbed(semcl_context *ctx, const EmbedProblem &p, int grads = kAllGrads,
                            bool in_place = false) {
  EmbedResult r;
  const float poison = semcl_test::PoisonValue();
  const size_t nl = p.LossCount(), rows = (size_t)(p.B * p.D);
  Buffer user(ctx, p.user), raw(ctx, p.raw), pos(ctx, p.pos), y(ctx, p.y);
  Buffer neg = p.kind == kPositiveOnly ? Buffer() : Buffer(ctx, p.neg);
  Buffer up = p.upstream.empty() ? Buffer() : Buffer(ctx, p.upstream);
  Buffer weight = p.weight.empty() ? Buffer() : Buffer(ctx, p.weight);
  Buffer pos_weight = p.pos_weight.empty() ? Buffer() : Buffer(ctx, p.pos_weight);
  TypedBuffer<uint8_t> mask(ctx, p.mask);
  TypedBuffer<int32_t> count(ctx, p.count);
  TypedBuffer<int64_t> pos_index(ctx, p.pos_index);
  Buffer loss(ctx, nl, poison), ctr(ctx, nl, poison), aux(ctx, nl, poison);
  Buffer gu = (grads & kGradUser) ? Buffer(ctx, rows, poison) : Buffer();
  Buffer gr = (grads & kGradRaw) ? Buffer(ctx, rows, poison) : Buffer();
  Buffer gp = (grads & kGradPos) ? Buffer(ctx, rows, poison) : Buffer();
  Buffer gn = (p.kind != kPositiveOnly && (grads & kGradNeg) && !in_place)
                  ? Buffer(ctx, (size_t)(p.NegRows() * p.D), poison)
                  : Buffer();
  float *gn_ptr = in_place && (grads & kGradNeg) ? neg.get() : gn.get();
  r.status = CallEmbed(ctx, p, SEMCL_DTYPE_FLOAT32,
                       {user.get(), raw.get(), pos.get(), neg.get(), y.get(), up.get(),
                        weight.get(), pos_weight.get(), mask.get(), count.get(), pos_index.get(),
                        loss.get(), ctr.get(), aux.get(), gu.get(), gr.get(), gp.get(), gn_ptr});
  r.error = semcl_last_error(ctx);
  r.loss = loss.download();
  r.loss_ctr = ctr.download();
  r.loss_aux = aux.download();
  if (gu.get()) r.grad_user = gu.download();
  if (gr.get()) r.grad_raw = gr.download();
  if (gp.get()) r.grad_pos = gp.download();
  if (gn.get()) r.grad_neg = gn.download();
  if (in_place && (grads & kGradNeg)) r.grad_neg = neg.download();
  return r;
}

struct RefEmbed {
  std::vector<double> loss, loss_ctr, loss_aux, grad_user, grad_raw, grad_pos, grad_neg;
  std::vector<double> b_loss, b_loss_ctr, b_loss_aux, b_grad_user, b_grad_raw, b_grad_pos,
      b_grad_neg;  // the documented bounds
};

inline semcl_ref_embed_args RefArgs(const EmbedProblem &p, std::vector<double> *upstream) {
  semcl_ref_embed_args a;
  std::memset(&a, 0, sizeof a);
  a.kind = p.kind;
  a.B = p.B;
  a.K = p.K;
  a.D = p.D;
  a.user = p.user.data();
  a.item_raw = p.raw.data();
  a.item_pos = p.pos.data();
  a.neg = p.neg.empty() ? nullptr : p.neg.data();
  a.y = p.y.data();
  a.lambda = p.lambda;
  a.reduction = p.reduction;
  a.grad_scale = p.grad_scale;
  upstream->assign(p.upstream.begin(), p.upstream.end());
  a.upstream = upstream->empty() ? nullptr : upstream->data();
  a.options.neg_mask = p.mask.empty() ? nullptr : p.mask.data();
  a.options.neg_count = p.count.empty() ? nullptr : p.count.data();
  a.options.weight = p.weight.empty() ? nullptr : p.weight.data();
  a.options.pos_weight = p.pos_weight.empty() ? nullptr : p.pos_weight.data();
  a.options.pos_weight_count = (int64_t)p.pos_weight.size();
  a.pos_index = p.pos_index.empty() ? nullptr : p.pos_index.data();
  a.scale = p.scale;
  return a;
}

// The fp64 reference and the documented bounds. gemm_unit: 2^-24 (fp32 GEMM) or 2^-11 (TF32).
inline RefEmbed Reference(const EmbedProblem &p, double gemm_unit = 0x1p-24) {
  RefEmbed r;
  const size_t nl = p.LossCount(), rows = (size_t)(p.B * p.D);
  const size_t negs = (size_t)(p.NegRows() * p.D);
  for (auto *v : {&r.loss, &r.loss_ctr, &r.loss_aux, &r.b_loss, &r.b_loss_ctr, &r.b_loss_aux})
    v->assign(nl, 0.0);
  for (auto *v : {&r.grad_user, &r.grad_raw, &r.grad_pos, &r.b_grad_user, &r.b_grad_raw,
                  &r.b_grad_pos})
    v->assign(rows, 0.0);
  r.grad_neg.assign(negs, 0.0);
  r.b_grad_neg.assign(negs, 0.0);
  std::vector<double> upstream;
  const semcl_ref_embed_args a = RefArgs(p, &upstream);
  semcl_ref_embed_out o = {r.loss.data(), r.loss_ctr.data(), r.loss_aux.data(),
                           r.grad_user.data(), r.grad_raw.data(), r.grad_pos.data(),
                           negs ? r.grad_neg.data() : nullptr};
  semcl_ref_embed_bounds b = {gemm_unit, r.b_loss.data(), r.b_loss_ctr.data(),
                              r.b_loss_aux.data(), r.b_grad_user.data(), r.b_grad_raw.data(),
                              r.b_grad_pos.data(), negs ? r.b_grad_neg.data() : nullptr};
  semcl_ref_embed(&a, &o, &b);
  return r;
}

// Every element within its bound (a finite value); reports the worst element.
inline void ExpectWithinBound(const char *what, const std::vector<float> &got,
                              const std::vector<double> &want, const std::vector<double> &bound) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t worst = 0, bad = 0;
  double worst_ratio = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs((double)got[i] - want[i]);
    const double ratio = bound[i] > 0 ? err / bound[i] : (err > 0 ? INFINITY : 0.0);
    if (!(err <= bound[i])) ++bad;  // NaN counts as bad
    if (!(ratio <= worst_ratio)) {
      worst_ratio = ratio;
      worst = i;
    }
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size()
                     << " elements outside the bound; worst [" << worst << "]: got "
                     << got[worst] << ", want " << want[worst] << ", bound " << bound[worst]
                     << " (error / bound = " << worst_ratio << ")";
}

// The bound is meaningful: its total is a small fraction of the values' total (a wrong result
// is off by O(1) relative and cannot hide under it).
inline void ExpectBoundSmall(const char *what, const std::vector<double> &want,
                             const std::vector<double> &bound, double fraction = 1e-3) {
  double w = 0, b = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    w += std::fabs(want[i]);
    b += bound[i];
  }
  EXPECT_LE(b, fraction * w + 1e-30) << what << ": the bound is not small against the values";
}

// The documented canonical dot product, written independently of the library: 32 lanes, lane j
// adds fmaf(u_d, v_d, lane) for d = j, j+32, ... < D rounded up to 32 (elements past D are +0),
// then a[j] += a[j+w] for w = 16, 8, 4, 2, 1.
inline float CanonicalDot(const float *u, const float *v, int64_t D) {
  float lane[32] = {0};
  const int64_t padded = (D + 31) / 32 * 32;
  for (int64_t d = 0; d < padded; ++d) {
    const float a = d < D ? u[d] : 0.0f, b = d < D ? v[d] : 0.0f;
    lane[d % 32] = std::fma(a, b, lane[d % 32]);
  }
  for (int w = 16; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) lane[j] = lane[j] + lane[j + w];
  return lane[0];
}

inline bool BitwiseEqual(const std::vector<float> &a, const std::vector<float> &b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
}

// Index of the first differing element (or -1).
inline long FirstDifference(const std::vector<float> &a, const std::vector<float> &b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], 4) != 0) return (long)i;
  return -1;
}

#define EXPECT_BITWISE(a, b)                                                            \
  do {                                                                                  \
    const long semcl_diff_ = ::semcl_embed_test::FirstDifference((a), (b));             \
    EXPECT_EQ(semcl_diff_, -1) << #a " vs " #b ": first difference at " << semcl_diff_ \
                               << ((a).size() == (b).size() && semcl_diff_ >= 0         \
                                       ? ": " + std::to_string((a)[semcl_diff_]) +      \
                                             " vs " + std::to_string((b)[semcl_diff_])  \
                                       : std::string(" (sizes ") +                      \
                                             std::to_string((a).size()) + ", " +        \
                                             std::to_string((b).size()) + ")");         \
  } while (0)

}  // namespace semcl_embed_test
