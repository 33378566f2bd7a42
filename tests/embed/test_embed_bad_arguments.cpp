// test_embed_bad_arguments.cpp — every argument error of the embedding calls, on every backend:
// the status, a message naming the argument, and nothing written (every output starts as a
// poison NaN pattern and must keep it). Covers D <= 0, sizes whose byte counts overflow
// (B*K*D), the shared pool's 32-bit GEMM sizes, overlaps between embedding inputs and gradient
// outputs (and between outputs), NULL required pointers, non-finite scalars, bad options, and
// the workspace query.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "embed_util.h"
#include "raw_enums.h"

namespace {

using namespace semcl_embed_test;

// A valid call of one kind, with every array allocated on the context; tests corrupt one
// argument at a time.
struct Call {
  int kind;
  int64_t B = 4, K = 6, D = 5;
  Buffer user, raw, pos, neg, y, loss, ctr, aux, gu, gr, gp, gn;
  TypedBuffer<uint8_t> mask;
  TypedBuffer<int64_t> pos_index;
  float lambda = 1.0f, grad_scale = 1.0f;
  int reduction = SEMCL_REDUCTION_MEAN;  // an int: out-of-range values are made in C (raw_enums.h)
  semcl_options opt = SEMCL_OPTIONS_INIT;
  semcl_embed_options eopt = SEMCL_EMBED_OPTIONS_INIT;
  // what the call passes (defaults: the buffers)
  const void *a_user, *a_raw, *a_pos, *a_neg;
  const float *a_y;
  float *a_loss, *a_ctr, *a_aux;
  void *a_gu, *a_gr, *a_gp, *a_gn;
  int64_t a_B, a_K, a_D;

  Call(semcl_context *ctx, int k) : kind(k) {
    const float poison = semcl_test::PoisonValue();
    const int64_t negs = kind == kPerRow ? B * K : K;
    user = Buffer(ctx, (size_t)(B * D), 0.5f);
    raw = Buffer(ctx, (size_t)(B * D), 0.25f);
    pos = Buffer(ctx, (size_t)(B * D), -0.25f);
    neg = Buffer(ctx, (size_t)(negs * D), 0.125f);
    y = Buffer(ctx, (size_t)B, 1.0f);
    loss = Buffer(ctx, (size_t)B, poison);
    ctr = Buffer(ctx, (size_t)B, poison);
    aux = Buffer(ctx, (size_t)B, poison);
    gu = Buffer(ctx, (size_t)(B * D), poison);
    gr = Buffer(ctx, (size_t)(B * D), poison);
    gp = Buffer(ctx, (size_t)(B * D), poison);
    gn = Buffer(ctx, (size_t)(negs * D), poison);
    mask = TypedBuffer<uint8_t>(ctx, std::vector<uint8_t>((size_t)(B * K), 1));
    pos_index = TypedBuffer<int64_t>(ctx, std::vector<int64_t>((size_t)B, 0));
    a_user = user.get();
    a_raw = raw.get();
    a_pos = pos.get();
    a_neg = neg.get();
    a_y = y.get();
    a_loss = loss.get();
    a_ctr = ctr.get();
    a_aux = aux.get();
    a_gu = gu.get();
    a_gr = gr.get();
    a_gp = gp.get();
    a_gn = gn.get();
    a_B = B;
    a_K = K;
    a_D = D;
  }

  semcl_status_t Run(semcl_context *ctx) const {
    if (kind == kPerRow)
      return semcl_pos_neg_embed(ctx, a_B, a_K, a_D, a_user, a_raw, a_pos, a_neg, a_y, lambda,
                                 semcl_test_raw_reduction(reduction), &opt, &eopt, grad_scale,
                                 nullptr, a_loss, a_ctr, a_aux, a_gu, a_gr, a_gp, a_gn);
    if (kind == kShared)
      return semcl_pos_neg_shared_embed(ctx, a_B, a_K, a_D, a_user, a_raw, a_pos, a_neg, a_y,
                                        lambda, semcl_test_raw_reduction(reduction), &opt, &eopt,
                                        grad_scale, nullptr, a_loss, a_ctr, a_aux, a_gu, a_gr,
                                        a_gp, a_gn);
    return semcl_positive_only_embed(ctx, a_B, a_D, a_user, a_raw, a_pos, a_y, lambda,
                                     semcl_test_raw_reduction(reduction), &opt, &eopt, grad_scale,
                                     nullptr, a_loss, a_ctr, a_aux, a_gu, a_gr, a_gp);
  }

  // Nothing written: every output still holds the poison (inputs unchanged).
  void ExpectUntouched() const {
    for (const Buffer *b : {&loss, &ctr, &aux, &gu, &gr, &gp})
      EXPECT_TRUE(semcl_test::AllPoison(b->download()));
    if (kind != kPositiveOnly) {
      // gn may alias the input in some cases: then check the input stayed as it was
      const std::vector<float> g = gn.download();
      EXPECT_TRUE(semcl_test::AllPoison(g));
    }
    const std::vector<float> u = user.download();
    for (float x : u) ASSERT_EQ(x, 0.5f);
    const std::vector<float> n = neg.download();
    for (float x : n) ASSERT_EQ(x, 0.125f);
  }
};

class EmbedBadArguments : public semcl_test::BackendTest {
 protected:
  // Applies `corrupt` to a fresh valid call of `kind`, expects `status` with `needle` in the
  // message, and nothing written.
  void Expect(int kind, semcl_status_t status, const std::string &needle,
              const std::function<void(Call &)> &corrupt) {
    SCOPED_TRACE(std::string(KindName(kind)) + ": expecting '" + needle + "'");
    Call c(ctx_, kind);
    corrupt(c);
    const semcl_status_t st = c.Run(ctx_);
    EXPECT_EQ(st, status) << semcl_status_name(st) << ": " << semcl_last_error(ctx_);
    EXPECT_NE(std::string(semcl_last_error(ctx_)).find(needle), std::string::npos)
        << semcl_last_error(ctx_);
    c.ExpectUntouched();
  }
};

const int kAllKinds[] = {kPerRow, kShared, kPositiveOnly};

TEST_P(EmbedBadArguments, ValidCallSucceeds) {
  for (int kind : kAllKinds) {
    Call c(ctx_, kind);
    EXPECT_EQ(c.Run(ctx_), SEMCL_STATUS_SUCCESS) << KindName(kind) << ": " << semcl_last_error(ctx_);
    EXPECT_FALSE(semcl_test::AllPoison(c.gu.download()));
  }
}

TEST_P(EmbedBadArguments, SizesAndOverflow) {
  for (int kind : kAllKinds) {
    Expect(kind, SEMCL_STATUS_INVALID_SIZE, "D = 0", [](Call &c) { c.a_D = 0; });
    Expect(kind, SEMCL_STATUS_INVALID_SIZE, "D = -3", [](Call &c) { c.a_D = -3; });
    Expect(kind, SEMCL_STATUS_INVALID_SIZE, "B = 0", [](Call &c) { c.a_B = 0; });
    Expect(kind, SEMCL_STATUS_SIZE_OVERFLOW, "overflow", [](Call &c) { c.a_D = INT64_MAX / 2; });
  }
  Expect(kPerRow, SEMCL_STATUS_INVALID_SIZE, "K = 0", [](Call &c) { c.a_K = 0; });
  Expect(kShared, SEMCL_STATUS_INVALID_SIZE, "N = 0", [](Call &c) { c.a_K = 0; });
  // B*K fits in a byte count, B*K*D does not.
  Expect(kPerRow, SEMCL_STATUS_SIZE_OVERFLOW, "B*K*D", [](Call &c) {
    c.a_B = (int64_t)1 << 20;
    c.a_K = (int64_t)1 << 20;
    c.a_D = (int64_t)1 << 30;
  });
  Expect(kShared, SEMCL_STATUS_SIZE_OVERFLOW, "below 2^31", [](Call &c) { c.a_K = (int64_t)1 << 31; });
  Expect(kShared, SEMCL_STATUS_SIZE_OVERFLOW, "below 2^31", [](Call &c) { c.a_D = (int64_t)1 << 31; });
}

TEST_P(EmbedBadArguments, OverlapsBetweenInputsAndGradients) {
  for (int kind : kAllKinds) {
    Expect(kind, SEMCL_STATUS_ALIASING, "user overlaps grad_user", [](Call &c) { c.a_gu = c.user.get() + 3; });
    Expect(kind, SEMCL_STATUS_ALIASING, "item_raw overlaps grad_user", [](Call &c) { c.a_gu = c.raw.get(); });
    Expect(kind, SEMCL_STATUS_ALIASING, "item_pos overlaps grad_item_raw", [](Call &c) { c.a_gr = c.pos.get() + 1; });
    Expect(kind, SEMCL_STATUS_ALIASING, "grad_user overlaps grad_item_pos", [](Call &c) { c.a_gp = c.gu.get() + 2; });
    Expect(kind, SEMCL_STATUS_ALIASING, "y overlaps loss", [](Call &c) { c.a_loss = c.y.get(); });
    Expect(kind, SEMCL_STATUS_ALIASING, "grad_user overlaps grad_item_raw", [](Call &c) { c.a_gu = c.gr.get(); });
  }
  Expect(kPerRow, SEMCL_STATUS_ALIASING, "item_neg overlaps grad_item_neg", [](Call &c) { c.a_gn = c.neg.get() + 1; });
  Expect(kPerRow, SEMCL_STATUS_ALIASING, "grad_user overlaps grad_item_neg", [](Call &c) { c.a_gu = c.gn.get() + 2; });
  Expect(kPerRow, SEMCL_STATUS_ALIASING, "user overlaps grad_item_neg", [](Call &c) {
    c.a_neg = c.user.get();
    c.a_gn = c.user.get();
  });
  Expect(kShared, SEMCL_STATUS_ALIASING, "neg_pool overlaps grad_neg_pool", [](Call &c) { c.a_gn = c.neg.get(); });
  Expect(kShared, SEMCL_STATUS_ALIASING, "options->neg_mask overlaps grad_user", [](Call &c) {
    c.opt.neg_mask = c.mask.get();
    c.a_gu = c.mask.get();
  });
}

TEST_P(EmbedBadArguments, NullPointers) {
  for (int kind : kAllKinds) {
    Expect(kind, SEMCL_STATUS_NULL_POINTER, "user is NULL", [](Call &c) { c.a_user = nullptr; });
    Expect(kind, SEMCL_STATUS_NULL_POINTER, "item_raw is NULL", [](Call &c) { c.a_raw = nullptr; });
    Expect(kind, SEMCL_STATUS_NULL_POINTER, "item_pos is NULL", [](Call &c) { c.a_pos = nullptr; });
    Expect(kind, SEMCL_STATUS_NULL_POINTER, "y is NULL", [](Call &c) { c.a_y = nullptr; });
    Expect(kind, SEMCL_STATUS_NULL_POINTER, "loss_aux is NULL", [](Call &c) { c.a_aux = nullptr; });
  }
  Expect(kPerRow, SEMCL_STATUS_NULL_POINTER, "item_neg is NULL", [](Call &c) { c.a_neg = nullptr; });
  Expect(kShared, SEMCL_STATUS_NULL_POINTER, "neg_pool is NULL", [](Call &c) { c.a_neg = nullptr; });
  EXPECT_EQ(semcl_pos_neg_embed(nullptr, 1, 1, 1, nullptr, nullptr, nullptr, nullptr, nullptr,
                                1.0f, SEMCL_REDUCTION_MEAN, nullptr, nullptr, 1.0f, nullptr,
                                nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr),
            SEMCL_STATUS_NULL_CONTEXT);
}

TEST_P(EmbedBadArguments, ScalarsEnumsAndOptions) {
  for (int kind : kAllKinds) {
    Expect(kind, SEMCL_STATUS_NON_FINITE_SCALAR, "score_scale", [](Call &c) { c.eopt.score_scale = NAN; });
    Expect(kind, SEMCL_STATUS_NON_FINITE_SCALAR, "lambda", [](Call &c) { c.lambda = INFINITY; });
    Expect(kind, SEMCL_STATUS_NON_FINITE_SCALAR, "grad_scale", [](Call &c) { c.grad_scale = NAN; });
    Expect(kind, SEMCL_STATUS_INVALID_ENUM, "reduction", [](Call &c) { c.reduction = 9; });
    Expect(kind, SEMCL_STATUS_INVALID_ENUM, "gemm_math", [](Call &c) { semcl_test_set_raw_gemm_math(&c.eopt, 5); });
    Expect(kind, SEMCL_STATUS_INVALID_ENUM, "dtype", [](Call &c) { semcl_test_set_raw_dtype(&c.opt, 7); });
    Expect(kind, SEMCL_STATUS_INVALID_VALUE, "embed_options->struct_size", [](Call &c) { c.eopt.struct_size = 8; });
    Expect(kind, SEMCL_STATUS_INVALID_VALUE, "options->struct_size", [](Call &c) { c.opt.struct_size = 3; });
    Expect(kind, SEMCL_STATUS_INVALID_VALUE, "pos_weight_count", [](Call &c) {
      c.opt.pos_weight = c.y.get();
      c.opt.pos_weight_count = 3;
    });
  }
  Expect(kPerRow, SEMCL_STATUS_INVALID_VALUE, "pos_index is for the shared pool only",
         [](Call &c) { c.eopt.pos_index = c.pos_index.get(); });
  Expect(kPositiveOnly, SEMCL_STATUS_INVALID_VALUE, "pos_index is for the shared pool only",
         [](Call &c) { c.eopt.pos_index = c.pos_index.get(); });
  Expect(kPositiveOnly, SEMCL_STATUS_INVALID_VALUE, "no negatives", [](Call &c) { c.opt.neg_mask = c.mask.get(); });
}

// Overlaps of 16-bit embeddings are judged with 2-byte elements: an output that starts right
// after the 16-bit user array is accepted, one element earlier it is refused with nothing
// written (with 4-byte elements both would be overlaps).
TEST_P(EmbedBadArguments, SixteenBitRegionsHaveTwoByteElements) {
  for (int kind : {kPerRow, kShared, kPositiveOnly})
    for (semcl_dtype_t dt : {SEMCL_DTYPE_BFLOAT16, SEMCL_DTYPE_FLOAT16}) {
      SCOPED_TRACE(std::string(KindName(kind)) + (dt == SEMCL_DTYPE_BFLOAT16 ? " bf16" : " fp16"));
      Call c(ctx_, kind);
      c.opt.dtype = dt;
      const size_t bytes16 = (size_t)(c.B * c.D) * 2;  // the user array in the dtype
      c.a_gu = (char *)c.user.get() + bytes16 - 2;
      EXPECT_EQ(c.Run(ctx_), SEMCL_STATUS_ALIASING) << semcl_last_error(ctx_);
      EXPECT_NE(std::string(semcl_last_error(ctx_)).find("grad_user"), std::string::npos)
          << semcl_last_error(ctx_);
      for (const Buffer *b : {&c.loss, &c.ctr, &c.aux, &c.gr, &c.gp})
        EXPECT_TRUE(semcl_test::AllPoison(b->download()));
      for (float x : c.user.download()) ASSERT_EQ(x, 0.5f);  // grad_user lives in there
      c.a_gu = (char *)c.user.get() + bytes16;
      EXPECT_EQ(c.Run(ctx_), SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx_);
    }
}

TEST_P(EmbedBadArguments, WorkspaceQuery) {
  size_t bytes = 7;
  EXPECT_EQ(semcl_get_embed_workspace_size(ctx_, SEMCL_EMBED_PER_ROW, 4, 5, 0, SEMCL_DTYPE_FLOAT32, &bytes),
            SEMCL_STATUS_INVALID_SIZE);
  EXPECT_EQ(semcl_get_embed_workspace_size(ctx_, SEMCL_EMBED_PER_ROW, 1 << 20, 1 << 20, 1 << 30, SEMCL_DTYPE_FLOAT32, &bytes),
            SEMCL_STATUS_SIZE_OVERFLOW);
  EXPECT_EQ(semcl_get_embed_workspace_size(ctx_, (semcl_embed_kind_t)3, 4, 5, 6, SEMCL_DTYPE_FLOAT32, &bytes),
            SEMCL_STATUS_INVALID_ENUM);
  EXPECT_EQ(semcl_get_embed_workspace_size(ctx_, SEMCL_EMBED_SHARED, 4, 5, 6, SEMCL_DTYPE_FLOAT32, nullptr),
            SEMCL_STATUS_NULL_POINTER);
  EXPECT_EQ(semcl_get_embed_workspace_size(ctx_, SEMCL_EMBED_SHARED, 4, 5, 6,
                                           semcl_test_raw_dtype(5), &bytes),
            SEMCL_STATUS_INVALID_ENUM);
  EXPECT_NE(std::string(semcl_last_error(ctx_)).find("dtype = 5"), std::string::npos)
      << semcl_last_error(ctx_);
  EXPECT_EQ(bytes, 7u);
  EXPECT_EQ(semcl_get_embed_workspace_size(ctx_, SEMCL_EMBED_SHARED, 4, 5, 6, SEMCL_DTYPE_FLOAT32, &bytes),
            SEMCL_STATUS_SUCCESS);
  EXPECT_GT(bytes, 0u);
  // 16-bit embeddings need room for their fp32 copies (6*B*D + 2*N*D floats at least).
  size_t bytes16 = 0;
  EXPECT_EQ(semcl_get_embed_workspace_size(ctx_, SEMCL_EMBED_SHARED, 4, 5, 6, SEMCL_DTYPE_BFLOAT16,
                                           &bytes16),
            SEMCL_STATUS_SUCCESS);
  EXPECT_GE(bytes16, bytes + (6 * 4 * 6 + 2 * 5 * 6) * sizeof(float));
}

SEMCL_INSTANTIATE_ON_ALL_BACKENDS(EmbedBadArguments);

}  // namespace
