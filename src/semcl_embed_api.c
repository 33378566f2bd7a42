/*
 * semcl_embed_api.c — the public embedding entry points: validation (through the shared checks
 * of semcl_api.c: the score-level scalars, then every array region), then dispatch to the
 * backend. Everything is checked before any output is touched, so a failing call writes
 * nothing.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "semcl_embed.h"
#include "semcl_embed_stage.h"
#include "semcl_internal.h"

/* Largest N and D of the shared pool: BLAS and cuBLAS take 32-bit sizes. */
#define SHARED_MAX_DIM ((int64_t)INT32_MAX)

static const char *kind_fn(int kind) {
  return kind == SEMCL_EMBED_KIND_PER_ROW  ? "semcl_pos_neg_embed"
         : kind == SEMCL_EMBED_KIND_SHARED ? "semcl_pos_neg_shared_embed"
                                           : "semcl_positive_only_embed";
}

/* D >= 1 and every embedding array (B*K*D, B*D, K*D elements of esize bytes) addressable
 * with 64-bit byte counts. B and K are already checked (B*K*4 fits). */
static semcl_status_t check_dim(semcl_context *ctx, const char *fn, const semcl_embed_problem *p,
                                size_t esize) {
  if (p->D <= 0)
    return semcl_fail(ctx, SEMCL_STATUS_INVALID_SIZE, "%s: D = %lld, must be >= 1", fn,
                      (long long)p->D);
  const int64_t limit = INT64_MAX / (int64_t)esize;
  const int64_t rows = p->kind == SEMCL_EMBED_KIND_PER_ROW ? p->B * p->K
                       : p->kind == SEMCL_EMBED_KIND_SHARED ? (p->B > p->K ? p->B : p->K)
                                                            : p->B;
  if (p->D > limit / rows)
    return semcl_fail(ctx, SEMCL_STATUS_SIZE_OVERFLOW,
                      "%s: %s*D = %lld*%lld elements overflow a 64-bit byte count", fn,
                      p->kind == SEMCL_EMBED_KIND_PER_ROW ? "B*K"
                      : p->kind == SEMCL_EMBED_KIND_SHARED ? "max(B, N)"
                                                           : "B",
                      (long long)rows, (long long)p->D);
  if (p->kind == SEMCL_EMBED_KIND_SHARED && (p->K > SHARED_MAX_DIM || p->D > SHARED_MAX_DIM))
    return semcl_fail(ctx, SEMCL_STATUS_SIZE_OVERFLOW,
                      "%s: N = %lld, D = %lld: the GEMMs take sizes below 2^31", fn,
                      (long long)p->K, (long long)p->D);
  return SEMCL_STATUS_SUCCESS;
}

static semcl_status_t check_embed_options(semcl_context *ctx, const char *fn,
                                          const semcl_embed_problem *p) {
  if (!isfinite(p->score_scale))
    return semcl_fail(ctx, SEMCL_STATUS_NON_FINITE_SCALAR,
                      "%s: embed_options->score_scale = %g is not finite", fn,
                      (double)p->score_scale);
  if (p->pos_index && p->kind != SEMCL_EMBED_KIND_SHARED)
    return semcl_fail(ctx, SEMCL_STATUS_INVALID_VALUE,
                      "%s: embed_options->pos_index is for the shared pool only "
                      "(semcl_pos_neg_shared_embed)",
                      fn);
  return SEMCL_STATUS_SUCCESS;
}

/* The arrays of the call as regions (element counts from the validated sizes). */
static semcl_status_t check_arrays(semcl_context *ctx, const char *fn,
                                   const semcl_embed_problem *p) {
  const size_t es = semcl_dtype_size(p->dtype);
  const int per_row = p->kind == SEMCL_EMBED_KIND_PER_ROW;
  const int pairwise = p->kind != SEMCL_EMBED_KIND_POSITIVE_ONLY;
  const size_t rows_f32 = (size_t)p->B * sizeof(float);
  const size_t rows_emb = (size_t)(p->B * p->D) * es;
  const size_t neg_emb =
      !pairwise ? 0 : (size_t)((per_row ? p->B * p->K : p->K) * p->D) * es;
  const size_t loss_bytes = p->reduction == SEMCL_REDUCTION_NONE ? rows_f32 : sizeof(float);
  const char *neg_name = per_row ? "item_neg" : "neg_pool";
  const char *grad_neg_name = per_row ? "grad_item_neg" : "grad_neg_pool";
  const int pair = per_row ? 1 : 0; /* in place: grad_item_neg == item_neg */
  const semcl_region regions[] = {
      /* ptr, bytes, name, is_output, required, inplace_pair */
      {p->user, rows_emb, "user", 0, 1, 0},
      {p->item_raw, rows_emb, "item_raw", 0, 1, 0},
      {p->item_pos, rows_emb, "item_pos", 0, 1, 0},
      {p->item_neg, neg_emb, neg_name, 0, pairwise, pair},
      {p->y, rows_f32, "y", 0, 1, 0},
      {p->grad_upstream, loss_bytes, "grad_upstream", 0, 0, 0},
      {p->neg_mask, (size_t)(p->B * p->K), "options->neg_mask", 0, 0, 0},
      {p->neg_count, (size_t)p->B * sizeof(int32_t), "options->neg_count", 0, 0, 0},
      {p->pos_index, (size_t)p->B * sizeof(int64_t), "embed_options->pos_index", 0, 0, 0},
      {p->weight, rows_f32, "options->weight", 0, 0, 0},
      {p->pos_weight, (size_t)p->pos_weight_count * sizeof(float), "options->pos_weight", 0, 0,
       0},
      {ctx->user_workspace, ctx->user_workspace_bytes, "the workspace (semcl_set_workspace)", 1,
       0, 0},
      {p->loss, loss_bytes, "loss", 1, 1, 0},
      {p->loss_ctr, loss_bytes, "loss_ctr", 1, 1, 0},
      {p->loss_aux, loss_bytes, "loss_aux", 1, 1, 0},
      {p->grad_user, rows_emb, "grad_user", 1, 0, 0},
      {p->grad_item_raw, rows_emb, "grad_item_raw", 1, 0, 0},
      {p->grad_item_pos, rows_emb, "grad_item_pos", 1, 0, 0},
      {p->grad_item_neg, neg_emb, grad_neg_name, 1, 0, pair},
  };
  return semcl_check_regions(ctx, fn, regions, (int)(sizeof regions / sizeof regions[0]),
                             per_row ? "grad_item_neg == item_neg exactly" : "none");
}

/* Options into the problem, then every check, then the backend. */
static semcl_status_t run_embed(semcl_context *ctx, const semcl_options *options,
                                const semcl_embed_options *embed_options,
                                semcl_embed_problem *p) {
  const char *fn = kind_fn(p->kind);
  /* The score-level view: masks, weights, dtype and the scalar checks with their messages. */
  semcl_problem view;
  memset(&view, 0, sizeof view);
  semcl_status_t st = semcl_apply_options(ctx, fn, options, &view);
  if (st != SEMCL_STATUS_SUCCESS) return st;
  p->dtype = view.dtype;
  p->neg_mask = view.neg_mask;
  p->neg_count = view.neg_count;
  p->weight = view.weight;
  p->pos_weight = view.pos_weight;
  p->pos_weight_count = view.pos_weight_count;
  p->score_scale = 1.0f;
  if (embed_options) {
    if (embed_options->struct_size != sizeof(semcl_embed_options))
      return semcl_fail(ctx, SEMCL_STATUS_INVALID_VALUE,
                        "%s: embed_options->struct_size = %zu, expected "
                        "sizeof(semcl_embed_options) = %zu (initialise with "
                        "SEMCL_EMBED_OPTIONS_INIT)",
                        fn, embed_options->struct_size, sizeof(semcl_embed_options));
    if (embed_options->gemm_math != SEMCL_GEMM_MATH_FP32 &&
        embed_options->gemm_math != SEMCL_GEMM_MATH_TF32)
      return semcl_fail(ctx, SEMCL_STATUS_INVALID_ENUM,
                        "%s: embed_options->gemm_math = %d is not SEMCL_GEMM_MATH_FP32 or _TF32",
                        fn, (int)embed_options->gemm_math);
    p->score_scale = embed_options->score_scale;
    p->pos_index = embed_options->pos_index;
    p->gemm_tf32 = embed_options->gemm_math == SEMCL_GEMM_MATH_TF32;
  }
  if (p->kind == SEMCL_EMBED_KIND_SHARED && p->K <= 0)
    return semcl_fail(ctx, SEMCL_STATUS_INVALID_SIZE, "%s: N = %lld, must be >= 1", fn,
                      (long long)p->K);
  view.kind = p->kind == SEMCL_EMBED_KIND_POSITIVE_ONLY ? SEMCL_LOSS_POSITIVE_ONLY
                                                        : SEMCL_LOSS_POS_NEG;
  view.B = p->B;
  view.K = p->K;
  view.lambda = p->lambda;
  view.reduction = p->reduction;
  view.grad_scale = p->grad_scale;
  st = semcl_check_scalars(ctx, fn, &view);
  if (st != SEMCL_STATUS_SUCCESS) return st;
  st = check_dim(ctx, fn, p, semcl_dtype_size(p->dtype));
  if (st != SEMCL_STATUS_SUCCESS) return st;
  st = check_embed_options(ctx, fn, p);
  if (st != SEMCL_STATUS_SUCCESS) return st;
  st = check_arrays(ctx, fn, p);
  if (st != SEMCL_STATUS_SUCCESS) return st;
  if (!ctx->ops->run_embed)
    return semcl_fail(ctx, SEMCL_STATUS_BACKEND_UNAVAILABLE,
                      "%s: this backend has no embedding calls", fn);
  semcl_clear_error(ctx);
  return ctx->ops->run_embed(ctx, p);
}

semcl_status_t semcl_pos_neg_embed(semcl_context *ctx, int64_t B, int64_t K, int64_t D,
                                   const void *user, const void *item_raw, const void *item_pos,
                                   const void *item_neg, const float *y, float lambda,
                                   semcl_reduction_t reduction, const semcl_options *options,
                                   const semcl_embed_options *embed_options, float grad_scale,
                                   const float *grad_upstream, float *loss, float *loss_ctr,
                                   float *loss_aux, void *grad_user, void *grad_item_raw,
                                   void *grad_item_pos, void *grad_item_neg) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  semcl_embed_problem p;
  memset(&p, 0, sizeof p);
  p.kind = SEMCL_EMBED_KIND_PER_ROW;
  p.B = B;
  p.K = K;
  p.D = D;
  p.user = user;
  p.item_raw = item_raw;
  p.item_pos = item_pos;
  p.item_neg = item_neg;
  p.y = y;
  p.lambda = lambda;
  p.reduction = reduction;
  p.grad_scale = grad_scale;
  p.grad_upstream = grad_upstream;
  p.loss = loss;
  p.loss_ctr = loss_ctr;
  p.loss_aux = loss_aux;
  p.grad_user = grad_user;
  p.grad_item_raw = grad_item_raw;
  p.grad_item_pos = grad_item_pos;
  p.grad_item_neg = grad_item_neg;
  return run_embed(ctx, options, embed_options, &p);
}

semcl_status_t semcl_pos_neg_shared_embed(
    semcl_context *ctx, int64_t B, int64_t N, int64_t D, const void *user, const void *item_raw,
    const void *item_pos, const void *neg_pool, const float *y, float lambda,
    semcl_reduction_t reduction, const semcl_options *options,
    const semcl_embed_options *embed_options, float grad_scale, const float *grad_upstream,
    float *loss, float *loss_ctr, float *loss_aux, void *grad_user, void *grad_item_raw,
    void *grad_item_pos, void *grad_neg_pool) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  semcl_embed_problem p;
  memset(&p, 0, sizeof p);
  p.kind = SEMCL_EMBED_KIND_SHARED;
  p.B = B;
  p.K = N;
  p.D = D;
  p.user = user;
  p.item_raw = item_raw;
  p.item_pos = item_pos;
  p.item_neg = neg_pool;
  p.y = y;
  p.lambda = lambda;
  p.reduction = reduction;
  p.grad_scale = grad_scale;
  p.grad_upstream = grad_upstream;
  p.loss = loss;
  p.loss_ctr = loss_ctr;
  p.loss_aux = loss_aux;
  p.grad_user = grad_user;
  p.grad_item_raw = grad_item_raw;
  p.grad_item_pos = grad_item_pos;
  p.grad_item_neg = grad_neg_pool;
  return run_embed(ctx, options, embed_options, &p);
}

semcl_status_t semcl_positive_only_embed(semcl_context *ctx, int64_t B, int64_t D,
                                         const void *user, const void *item_raw,
                                         const void *item_pos, const float *y, float lambda,
                                         semcl_reduction_t reduction,
                                         const semcl_options *options,
                                         const semcl_embed_options *embed_options,
                                         float grad_scale, const float *grad_upstream,
                                         float *loss, float *loss_ctr, float *loss_aux,
                                         void *grad_user, void *grad_item_raw,
                                         void *grad_item_pos) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  semcl_embed_problem p;
  memset(&p, 0, sizeof p);
  p.kind = SEMCL_EMBED_KIND_POSITIVE_ONLY;
  p.B = B;
  p.K = 1;
  p.D = D;
  p.user = user;
  p.item_raw = item_raw;
  p.item_pos = item_pos;
  p.y = y;
  p.lambda = lambda;
  p.reduction = reduction;
  p.grad_scale = grad_scale;
  p.grad_upstream = grad_upstream;
  p.loss = loss;
  p.loss_ctr = loss_ctr;
  p.loss_aux = loss_aux;
  p.grad_user = grad_user;
  p.grad_item_raw = grad_item_raw;
  p.grad_item_pos = grad_item_pos;
  return run_embed(ctx, options, embed_options, &p);
}

semcl_status_t semcl_get_embed_workspace_size(const semcl_context *ctx, semcl_embed_kind_t kind,
                                              int64_t B, int64_t K, int64_t D,
                                              semcl_dtype_t dtype, size_t *bytes) {
  static const char fn[] = "semcl_get_embed_workspace_size";
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  /* The getters record why they failed in the context's message (see semcl_context.c). */
  semcl_context *err = (semcl_context *)ctx;
  if (!bytes) return semcl_fail(err, SEMCL_STATUS_NULL_POINTER, "%s: bytes is NULL", fn);
  if (kind != SEMCL_EMBED_POSITIVE_ONLY && kind != SEMCL_EMBED_PER_ROW &&
      kind != SEMCL_EMBED_SHARED)
    return semcl_fail(err, SEMCL_STATUS_INVALID_ENUM,
                      "%s: kind = %d is not SEMCL_EMBED_POSITIVE_ONLY, _PER_ROW or _SHARED", fn,
                      (int)kind);
  if (semcl_dtype_size(dtype) == 0)
    return semcl_fail(err, SEMCL_STATUS_INVALID_ENUM,
                      "%s: dtype = %d is not SEMCL_DTYPE_FLOAT32, _BFLOAT16 or _FLOAT16", fn,
                      (int)dtype);
  semcl_status_t st = semcl_check_sizes(err, fn, B, K);
  if (st != SEMCL_STATUS_SUCCESS) return st;
  semcl_embed_problem p;
  memset(&p, 0, sizeof p);
  p.kind = (int)kind;
  p.B = B;
  p.K = kind == SEMCL_EMBED_POSITIVE_ONLY ? 1 : K;
  p.D = D;
  st = check_dim(err, fn, &p, semcl_dtype_size(dtype));
  if (st != SEMCL_STATUS_SUCCESS) return st;
  if (!ctx->ops->embed_workspace_size)
    return semcl_fail(err, SEMCL_STATUS_BACKEND_UNAVAILABLE,
                      "%s: this backend has no embedding calls", fn);
  return ctx->ops->embed_workspace_size(ctx, (int)kind, B, p.K, D, semcl_embed_staged(dtype),
                                        bytes);
}
