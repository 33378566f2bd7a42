// embed16_util.h — helpers of the bf16/fp16 embedding tests: 16-bit copies of a problem's
// embeddings (rounded by the tests' own formats16.h), the widened problem a 16-bit call must
// equal, one 16-bit call through the public API with poisoned gradients, and comparisons.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "embed_util.h"
#include "formats16.h"

namespace semcl_embed_test {

inline constexpr uint16_t kPoison16 = 0xffff;  // a NaN in both formats

inline const char *DtypeName(semcl_dtype_t dt) {
  return dt == SEMCL_DTYPE_BFLOAT16 ? "bf16" : "fp16";
}

inline std::vector<uint16_t> To16(semcl_dtype_t dt, const std::vector<float> &v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = semcl_test::formats16::Round16(dt, v[i]);
  return out;
}

inline std::vector<float> From16(semcl_dtype_t dt, const std::vector<uint16_t> &v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = semcl_test::formats16::From16(dt, v[i]);
  return out;
}

// p with its embeddings replaced by their 16-bit values (what a 16-bit call sees, widened).
inline EmbedProblem Widened(const EmbedProblem &p, semcl_dtype_t dt) {
  EmbedProblem w = p;
  for (auto *v : {&w.user, &w.raw, &w.pos, &w.neg}) *v = From16(dt, To16(dt, *v));
  return w;
}

struct Result16 {
  semcl_status_t status = SEMCL_STATUS_INTERNAL_ERROR;
  std::string error;
  std::vector<float> loss, loss_ctr, loss_aux;
  std::vector<uint16_t> grad_user, grad_raw, grad_pos, grad_neg;
  std::vector<uint16_t> neg_after;  // item_neg after the call
};

// One 16-bit call: p's embeddings rounded to dt; gradients in `grads` start as kPoison16.
inline Result16 Run16(semcl_context *ctx, const EmbedProblem &p, semcl_dtype_t dt,
                      int grads = kAllGrads, bool in_place = false) {
  Result16 r;
  const size_t nl = p.LossCount(), rows = (size_t)(p.B * p.D);
  const size_t negs = (size_t)(p.NegRows() * p.D);
  const float poison = semcl_test::PoisonValue();
  TypedBuffer<uint16_t> user(ctx, To16(dt, p.user)), raw(ctx, To16(dt, p.raw)),
      pos(ctx, To16(dt, p.pos)), neg(ctx, To16(dt, p.neg));
  Buffer y(ctx, p.y);
  Buffer up = p.upstream.empty() ? Buffer() : Buffer(ctx, p.upstream);
  Buffer weight = p.weight.empty() ? Buffer() : Buffer(ctx, p.weight);
  Buffer pos_weight = p.pos_weight.empty() ? Buffer() : Buffer(ctx, p.pos_weight);
  TypedBuffer<uint8_t> mask(ctx, p.mask);
  TypedBuffer<int32_t> count(ctx, p.count);
  TypedBuffer<int64_t> pos_index(ctx, p.pos_index);
  Buffer loss(ctx, nl, poison), ctr(ctx, nl, poison), aux(ctx, nl, poison);
  auto poisoned = [&](bool wanted, size_t n) {
    return TypedBuffer<uint16_t>(ctx, std::vector<uint16_t>(wanted ? n : 0, kPoison16));
  };
  TypedBuffer<uint16_t> gu = poisoned(grads & kGradUser, rows);
  TypedBuffer<uint16_t> gr = poisoned(grads & kGradRaw, rows);
  TypedBuffer<uint16_t> gp = poisoned(grads & kGradPos, rows);
  TypedBuffer<uint16_t> gn =
      poisoned(p.kind != kPositiveOnly && (grads & kGradNeg) && !in_place, negs);
  uint16_t *gn_ptr = in_place && (grads & kGradNeg) ? neg.get() : gn.get();
  r.status = CallEmbed(ctx, p, dt,
                       {user.get(), raw.get(), pos.get(), neg.get(), y.get(), up.get(),
                        weight.get(), pos_weight.get(), mask.get(), count.get(), pos_index.get(),
                        loss.get(), ctr.get(), aux.get(), gu.get(), gr.get(), gp.get(), gn_ptr});
  r.error = semcl_last_error(ctx);
  EXPECT_EQ(semcl_synchronize(ctx), SEMCL_STATUS_SUCCESS);
  r.loss = loss.download();
  r.loss_ctr = ctr.download();
  r.loss_aux = aux.download();
  r.grad_user = gu.download();
  r.grad_raw = gr.download();
  r.grad_pos = gp.download();
  r.grad_neg = in_place && (grads & kGradNeg) ? neg.download() : gn.download();
  r.neg_after = neg.download();
  return r;
}

inline void ExpectSame16(const char *what, const std::vector<uint16_t> &got,
                         const std::vector<uint16_t> &want) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] != want[i] && bad++ == 0) first = i;
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() << " differ; first [" << first
                     << "]: 0x" << std::hex << (got.empty() ? 0 : got[first]) << " vs 0x"
                     << (want.empty() ? 0 : want[first]);
}

}  // namespace semcl_embed_test
