/*
 * semcl_api.c — the public loss entry points: argument validation shared by every backend,
 * then dispatch. Validation happens completely before any output is touched, so a failing call
 * writes nothing.
 */
#include <math.h>
#include <stdint.h>

#include "semcl_internal.h"

static int overlaps(const semcl_region *a, const semcl_region *b) {
  const uintptr_t a0 = (uintptr_t)a->ptr, b0 = (uintptr_t)b->ptr;
  return a0 < b0 + b->bytes && b0 < a0 + a->bytes;
}

static int allowed_overlap(const semcl_region *a, const semcl_region *b) {
  return a->inplace_pair != 0 && a->inplace_pair == b->inplace_pair && a->ptr == b->ptr &&
         a->bytes == b->bytes;
}

semcl_status_t semcl_check_sizes(semcl_context *ctx, const char *fn, int64_t B, int64_t K) {
  if (B <= 0)
    return semcl_fail(ctx, SEMCL_STATUS_INVALID_SIZE, "%s: B = %lld, must be >= 1", fn,
                      (long long)B);
  if (K <= 0)
    return semcl_fail(ctx, SEMCL_STATUS_INVALID_SIZE, "%s: K = %lld, must be >= 1", fn,
                      (long long)K);
  if (K > (int64_t)(INT64_MAX / (int64_t)sizeof(float)) / B)
    return semcl_fail(ctx, SEMCL_STATUS_SIZE_OVERFLOW,
                      "%s: B*K = %lld*%lld elements overflow a 64-bit byte count", fn,
                      (long long)B, (long long)K);
  return SEMCL_STATUS_SUCCESS;
}

semcl_status_t semcl_check_scalars(semcl_context *ctx, const char *fn, const semcl_problem *p) {
  if (p->reduction != SEMCL_REDUCTION_MEAN && p->reduction != SEMCL_REDUCTION_SUM &&
      p->reduction != SEMCL_REDUCTION_NONE)
    return semcl_fail(ctx, SEMCL_STATUS_INVALID_ENUM,
                      "%s: reduction = %d is not SEMCL_REDUCTION_MEAN, _SUM or _NONE", fn,
                      (int)p->reduction);
  if (semcl_dtype_size(p->dtype) == 0)
    return semcl_fail(ctx, SEMCL_STATUS_INVALID_ENUM,
                      "%s: options->dtype = %d is not SEMCL_DTYPE_FLOAT32, _BFLOAT16 or _FLOAT16",
                      fn, (int)p->dtype);
  const semcl_status_t st = semcl_check_sizes(ctx, fn, p->B, p->K);
  if (st != SEMCL_STATUS_SUCCESS) return st;
  if (!isfinite(p->lambda))
    return semcl_fail(ctx, SEMCL_STATUS_NON_FINITE_SCALAR, "%s: lambda = %g is not finite", fn,
                      (double)p->lambda);
  if (!isfinite(p->grad_scale))
    return semcl_fail(ctx, SEMCL_STATUS_NON_FINITE_SCALAR, "%s: grad_scale = %g is not finite",
                      fn, (double)p->grad_scale);
  if (p->kind == SEMCL_LOSS_POSITIVE_ONLY && (p->neg_mask || p->neg_count))
    return semcl_fail(ctx, SEMCL_STATUS_INVALID_VALUE,
                      "%s: options->neg_mask and options->neg_count are for the pairwise loss "
                      "only (the positive-only loss has no negatives)",
                      fn);
  if (p->pos_weight && p->pos_weight_count != 1 && p->pos_weight_count != p->B)
    return semcl_fail(ctx, SEMCL_STATUS_INVALID_VALUE,
                      "%s: options->pos_weight_count = %lld, must be 1 or B = %lld", fn,
                      (long long)p->pos_weight_count, (long long)p->B);
  return SEMCL_STATUS_SUCCESS;
}

static semcl_status_t check_problem(semcl_context *ctx, const char *fn, const semcl_problem *p) {
  semcl_status_t st = semcl_check_scalars(ctx, fn, p);
  if (st != SEMCL_STATUS_SUCCESS) return st;

  const int pair = p->kind == SEMCL_LOSS_POS_NEG;
  const size_t esize = semcl_dtype_size(p->dtype);
  const size_t rows_f32 = (size_t)p->B * sizeof(float);
  const size_t rows_score = (size_t)p->B * esize;
  const size_t neg_score = (size_t)(p->B * p->K) * esize;
  const size_t loss_bytes = p->reduction == SEMCL_REDUCTION_NONE ? rows_f32 : sizeof(float);
  const semcl_region regions[] = {
      /* ptr, bytes, name, is_output, required, inplace_pair */
      {p->score_raw, rows_score, "score_raw", 0, 1, 0},
      {p->score_pos, rows_score, "score_pos", 0, 1, 0},
      {p->score_neg, neg_score, "score_neg", 0, pair, 1},
      {p->y, rows_f32, "y", 0, 1, 0},
      {p->grad_upstream, loss_bytes, "grad_upstream", 0, 0, 0},
      {p->neg_mask, (size_t)(p->B * p->K), "options->neg_mask", 0, 0, 0},
      {p->neg_count, (size_t)p->B * sizeof(int32_t), "options->neg_count", 0, 0, 0},
      {p->weight, rows_f32, "options->weight", 0, 0, 0},
      {p->pos_weight, (size_t)p->pos_weight_count * sizeof(float), "options->pos_weight", 0, 0,
       0},
      {ctx->user_workspace, ctx->user_workspace_bytes, "the workspace (semcl_set_workspace)", 1,
       0, 0},
      {p->loss, loss_bytes, "loss", 1, 1, 0},
      {p->loss_ctr, loss_bytes, "loss_ctr", 1, 1, 0},
      {p->loss_aux, loss_bytes, "loss_aux", 1, 1, 0},
      {p->grad_raw, rows_score, "grad_raw", 1, 0, 0},
      {p->grad_pos, rows_score, "grad_pos", 1, 0, 0},
      {p->grad_neg, neg_score, "grad_neg", 1, 0, 1},
  };
  return semcl_check_regions(ctx, fn, regions, (int)(sizeof regions / sizeof regions[0]),
                             "grad_neg == score_neg exactly");
}

semcl_status_t semcl_check_regions(semcl_context *ctx, const char *fn, const semcl_region *regions,
                                   int count, const char *inplace_rule) {
  for (int i = 0; i < count; ++i)
    if (regions[i].required && !regions[i].ptr)
      return semcl_fail(ctx, SEMCL_STATUS_NULL_POINTER, "%s: %s is NULL", fn, regions[i].name);

  for (int i = 0; i < count; ++i) {
    if (!regions[i].ptr) continue;
    for (int j = i + 1; j < count; ++j) {
      if (!regions[j].ptr || !(regions[i].is_output || regions[j].is_output)) continue;
      if (overlaps(&regions[i], &regions[j]) && !allowed_overlap(&regions[i], &regions[j]))
        return semcl_fail(ctx, SEMCL_STATUS_ALIASING,
                          "%s: %s overlaps %s (the only overlap allowed is %s)", fn,
                          regions[i].name, regions[j].name, inplace_rule);
    }
  }

  if (ctx->ops->check_pointers) {
    enum { max_regions = 32 };
    const void *ptrs[max_regions];
    const char *names[max_regions];
    int n = 0;
    for (int i = 0; i < count && n < max_regions; ++i)
      if (regions[i].ptr && regions[i].ptr != ctx->user_workspace) {
        ptrs[n] = regions[i].ptr;
        names[n] = regions[i].name;
        ++n;
      }
    const semcl_status_t st = ctx->ops->check_pointers(ctx, ptrs, names, n);
    if (st != SEMCL_STATUS_SUCCESS) return st;
  }
  return SEMCL_STATUS_SUCCESS;
}

static semcl_status_t run_problem(semcl_context *ctx, const char *fn, const semcl_problem *p) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  const semcl_status_t st = check_problem(ctx, fn, p);
  if (st != SEMCL_STATUS_SUCCESS) return st;
  semcl_clear_error(ctx);
  return ctx->ops->run(ctx, p);
}

size_t semcl_dtype_size(semcl_dtype_t dtype) {
  switch (dtype) {
    case SEMCL_DTYPE_FLOAT32: return 4;
    case SEMCL_DTYPE_BFLOAT16: return 2;
    case SEMCL_DTYPE_FLOAT16: return 2;
  }
  return 0;
}

/* Fills the options part of a problem; INVALID_VALUE for a struct_size the library does not
 * know (a caller that did not initialise the struct, or a newer header's larger struct with
 * fields this library would ignore). */
semcl_status_t semcl_apply_options(semcl_context *ctx, const char *fn,
                                   const semcl_options *options, semcl_problem *p) {
  p->dtype = SEMCL_DTYPE_FLOAT32;
  if (!options) return SEMCL_STATUS_SUCCESS;
  if (options->struct_size != sizeof(semcl_options))
    return semcl_fail(ctx, SEMCL_STATUS_INVALID_VALUE,
                      "%s: options->struct_size = %zu, expected sizeof(semcl_options) = %zu "
                      "(initialise with SEMCL_OPTIONS_INIT)",
                      fn, options->struct_size, sizeof(semcl_options));
  p->dtype = options->dtype;
  p->neg_mask = options->neg_mask;
  p->neg_count = options->neg_count;
  p->weight = options->weight;
  p->pos_weight = options->pos_weight;
  p->pos_weight_count = options->pos_weight ? options->pos_weight_count : 0;
  return SEMCL_STATUS_SUCCESS;
}

semcl_status_t semcl_positive_only_ex(semcl_context *ctx, int64_t B, const void *score_raw,
                                      const void *score_pos, const float *y, float lambda,
                                      semcl_reduction_t reduction, const semcl_options *options,
                                      float grad_scale, const float *grad_upstream, float *loss,
                                      float *loss_ctr, float *loss_aux, void *grad_raw,
                                      void *grad_pos) {
  static const char fn[] = "semcl_positive_only_ex";
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  semcl_problem p = {0};
  const semcl_status_t st = semcl_apply_options(ctx, fn, options, &p);
  if (st != SEMCL_STATUS_SUCCESS) return st;
  p.kind = SEMCL_LOSS_POSITIVE_ONLY;
  p.B = B;
  p.K = 1;
  p.score_raw = score_raw;
  p.score_pos = score_pos;
  p.y = y;
  p.lambda = lambda;
  p.reduction = reduction;
  p.grad_scale = grad_scale;
  p.grad_upstream = grad_upstream;
  p.loss = loss;
  p.loss_ctr = loss_ctr;
  p.loss_aux = loss_aux;
  p.grad_raw = grad_raw;
  p.grad_pos = grad_pos;
  return run_problem(ctx, fn, &p);
}

semcl_status_t semcl_pos_neg_ex(semcl_context *ctx, int64_t B, int64_t K, const void *score_raw,
                                const void *score_pos, const void *score_neg, const float *y,
                                float lambda, semcl_reduction_t reduction,
                                const semcl_options *options, float grad_scale,
                                const float *grad_upstream, float *loss, float *loss_ctr,
                                float *loss_aux, void *grad_raw, void *grad_pos,
                                void *grad_neg) {
  static const char fn[] = "semcl_pos_neg_ex";
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  semcl_problem p = {0};
  const semcl_status_t st = semcl_apply_options(ctx, fn, options, &p);
  if (st != SEMCL_STATUS_SUCCESS) return st;
  p.kind = SEMCL_LOSS_POS_NEG;
  p.B = B;
  p.K = K;
  p.score_raw = score_raw;
  p.score_pos = score_pos;
  p.score_neg = score_neg;
  p.y = y;
  p.lambda = lambda;
  p.reduction = reduction;
  p.grad_scale = grad_scale;
  p.grad_upstream = grad_upstream;
  p.loss = loss;
  p.loss_ctr = loss_ctr;
  p.loss_aux = loss_aux;
  p.grad_raw = grad_raw;
  p.grad_pos = grad_pos;
  p.grad_neg = grad_neg;
  return run_problem(ctx, fn, &p);
}

/* ---- the float32 entry points: the _ex calls without options ------------------------------ */
/* Their messages name the _ex function's arguments; the function name is their own. */
static semcl_status_t run_f32(semcl_context *ctx, const char *fn, semcl_problem *p) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  p->dtype = SEMCL_DTYPE_FLOAT32;
  return run_problem(ctx, fn, p);
}

semcl_status_t semcl_positive_only_forward(semcl_context *ctx, int64_t B, const float *score_raw,
                                           const float *score_pos, const float *y, float lambda,
                                           semcl_reduction_t reduction, float *loss,
                                           float *loss_ctr, float *loss_aux) {
  semcl_problem p = {0};
  p.kind = SEMCL_LOSS_POSITIVE_ONLY;
  p.B = B;
  p.K = 1;
  p.score_raw = score_raw;
  p.score_pos = score_pos;
  p.y = y;
  p.lambda = lambda;
  p.reduction = reduction;
  p.grad_scale = 1.0f;
  p.loss = loss;
  p.loss_ctr = loss_ctr;
  p.loss_aux = loss_aux;
  return run_f32(ctx, "semcl_positive_only_forward", &p);
}

semcl_status_t semcl_positive_only_forward_backward(
    semcl_context *ctx, int64_t B, const float *score_raw, const float *score_pos, const float *y,
    float lambda, semcl_reduction_t reduction, float grad_scale, const float *grad_upstream,
    float *loss, float *loss_ctr, float *loss_aux, float *grad_raw, float *grad_pos) {
  semcl_problem p = {0};
  p.kind = SEMCL_LOSS_POSITIVE_ONLY;
  p.B = B;
  p.K = 1;
  p.score_raw = score_raw;
  p.score_pos = score_pos;
  p.y = y;
  p.lambda = lambda;
  p.reduction = reduction;
  p.grad_scale = grad_scale;
  p.grad_upstream = grad_upstream;
  p.loss = loss;
  p.loss_ctr = loss_ctr;
  p.loss_aux = loss_aux;
  p.grad_raw = grad_raw;
  p.grad_pos = grad_pos;
  return run_f32(ctx, "semcl_positive_only_forward_backward", &p);
}

semcl_status_t semcl_pos_neg_forward(semcl_context *ctx, int64_t B, int64_t K,
                                     const float *score_raw, const float *score_pos,
                                     const float *score_neg, const float *y, float lambda,
                                     semcl_reduction_t reduction, float *loss, float *loss_ctr,
                                     float *loss_aux) {
  semcl_problem p = {0};
  p.kind = SEMCL_LOSS_POS_NEG;
  p.B = B;
  p.K = K;
  p.score_raw = score_raw;
  p.score_pos = score_pos;
  p.score_neg = score_neg;
  p.y = y;
  p.lambda = lambda;
  p.reduction = reduction;
  p.grad_scale = 1.0f;
  p.loss = loss;
  p.loss_ctr = loss_ctr;
  p.loss_aux = loss_aux;
  return run_f32(ctx, "semcl_pos_neg_forward", &p);
}

semcl_status_t semcl_pos_neg_forward_backward(
    semcl_context *ctx, int64_t B, int64_t K, const float *score_raw, const float *score_pos,
    const float *score_neg, const float *y, float lambda, semcl_reduction_t reduction,
    float grad_scale, const float *grad_upstream, float *loss, float *loss_ctr, float *loss_aux,
    float *grad_raw, float *grad_pos, float *grad_neg) {
  semcl_problem p = {0};
  p.kind = SEMCL_LOSS_POS_NEG;
  p.B = B;
  p.K = K;
  p.score_raw = score_raw;
  p.score_pos = score_pos;
  p.score_neg = score_neg;
  p.y = y;
  p.lambda = lambda;
  p.reduction = reduction;
  p.grad_scale = grad_scale;
  p.grad_upstream = grad_upstream;
  p.loss = loss;
  p.loss_ctr = loss_ctr;
  p.loss_aux = loss_aux;
  p.grad_raw = grad_raw;
  p.grad_pos = grad_pos;
  p.grad_neg = grad_neg;
  return run_f32(ctx, "semcl_pos_neg_forward_backward", &p);
}
