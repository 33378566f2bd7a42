/*
 * semcl_api.c — the public loss entry points: argument validation shared by every backend,
 * then dispatch. Validation happens completely before any output is touched, so a failing call
 * writes nothing.
 */
#include <math.h>
#include <stdint.h>

#include "semcl_internal.h"

typedef struct region {
  const void *ptr;
  size_t bytes;
  const char *name;
  int is_output;
  int required;
  int inplace_pair; /* regions with the same non-zero value may coincide exactly */
} region;

static int overlaps(const region *a, const region *b) {
  const uintptr_t a0 = (uintptr_t)a->ptr, b0 = (uintptr_t)b->ptr;
  return a0 < b0 + b->bytes && b0 < a0 + a->bytes;
}

static int allowed_overlap(const region *a, const region *b) {
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

static semcl_status_t check_sizes_and_scalars(semcl_context *ctx, const char *fn,
                                              const semcl_problem *p) {
  if (p->reduction != SEMCL_REDUCTION_MEAN && p->reduction != SEMCL_REDUCTION_SUM &&
      p->reduction != SEMCL_REDUCTION_NONE)
    return semcl_fail(ctx, SEMCL_STATUS_INVALID_ENUM,
                      "%s: reduction = %d is not SEMCL_REDUCTION_MEAN, _SUM or _NONE", fn,
                      (int)p->reduction);
  const semcl_status_t st = semcl_check_sizes(ctx, fn, p->B, p->K);
  if (st != SEMCL_STATUS_SUCCESS) return st;
  if (!isfinite(p->lambda))
    return semcl_fail(ctx, SEMCL_STATUS_NON_FINITE_SCALAR, "%s: lambda = %g is not finite", fn,
                      (double)p->lambda);
  if (!isfinite(p->grad_scale))
    return semcl_fail(ctx, SEMCL_STATUS_NON_FINITE_SCALAR, "%s: grad_scale = %g is not finite",
                      fn, (double)p->grad_scale);
  return SEMCL_STATUS_SUCCESS;
}

static semcl_status_t check_problem(semcl_context *ctx, const char *fn, const semcl_problem *p) {
  semcl_status_t st = check_sizes_and_scalars(ctx, fn, p);
  if (st != SEMCL_STATUS_SUCCESS) return st;

  const int pair = p->kind == SEMCL_LOSS_POS_NEG;
  const size_t row_bytes = (size_t)p->B * sizeof(float);
  const size_t neg_bytes = (size_t)(p->B * p->K) * sizeof(float);
  const size_t loss_bytes = p->reduction == SEMCL_REDUCTION_NONE ? row_bytes : sizeof(float);
  const region regions[] = {
      /* ptr, bytes, name, is_output, required, inplace_pair */
      {p->score_raw, row_bytes, "score_raw", 0, 1, 0},
      {p->score_pos, row_bytes, "score_pos", 0, 1, 0},
      {p->score_neg, neg_bytes, "score_neg", 0, pair, 1},
      {p->y, row_bytes, "y", 0, 1, 0},
      {p->grad_upstream, loss_bytes, "grad_upstream", 0, 0, 0},
      {p->loss, loss_bytes, "loss", 1, 1, 0},
      {p->loss_ctr, loss_bytes, "loss_ctr", 1, 1, 0},
      {p->loss_aux, loss_bytes, "loss_aux", 1, 1, 0},
      {p->grad_raw, row_bytes, "grad_raw", 1, 0, 0},
      {p->grad_pos, row_bytes, "grad_pos", 1, 0, 0},
      {p->grad_neg, neg_bytes, "grad_neg", 1, 0, 1},
  };
  enum { count = sizeof regions / sizeof regions[0] };
  for (int i = 0; i < count; ++i)
    if (regions[i].required && !regions[i].ptr)
      return semcl_fail(ctx, SEMCL_STATUS_NULL_POINTER, "%s: %s is NULL", fn, regions[i].name);

  for (int i = 0; i < count; ++i) {
    if (!regions[i].ptr) continue;
    for (int j = i + 1; j < count; ++j) {
      if (!regions[j].ptr || !(regions[i].is_output || regions[j].is_output)) continue;
      if (overlaps(&regions[i], &regions[j]) && !allowed_overlap(&regions[i], &regions[j]))
        return semcl_fail(ctx, SEMCL_STATUS_ALIASING,
                          "%s: %s overlaps %s (the only overlap allowed is grad_neg == "
                          "score_neg exactly)",
                          fn, regions[i].name, regions[j].name);
    }
  }

  if (ctx->ops->check_pointers) {
    const void *ptrs[count];
    const char *names[count];
    int n = 0;
    for (int i = 0; i < count; ++i)
      if (regions[i].ptr) {
        ptrs[n] = regions[i].ptr;
        names[n] = regions[i].name;
        ++n;
      }
    st = ctx->ops->check_pointers(ctx, ptrs, names, n);
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

semcl_status_t semcl_positive_only_forward(semcl_context *ctx, int64_t B, const float *score_raw,
                                           const float *score_pos, const float *y, float lambda,
                                           semcl_reduction_t reduction, float *loss,
                                           float *loss_ctr, float *loss_aux) {
  const semcl_problem p = {SEMCL_LOSS_POSITIVE_ONLY, B, 1, score_raw, score_pos, NULL, y, lambda,
                           reduction, 1.0f, NULL, loss, loss_ctr, loss_aux, NULL, NULL, NULL};
  return run_problem(ctx, "semcl_positive_only_forward", &p);
}

semcl_status_t semcl_positive_only_forward_backward(
    semcl_context *ctx, int64_t B, const float *score_raw, const float *score_pos, const float *y,
    float lambda, semcl_reduction_t reduction, float grad_scale, const float *grad_upstream,
    float *loss, float *loss_ctr, float *loss_aux, float *grad_raw, float *grad_pos) {
  const semcl_problem p = {SEMCL_LOSS_POSITIVE_ONLY, B,        1,        score_raw, score_pos,
                           NULL,  y,         lambda,    reduction, grad_scale,
                           grad_upstream, loss, loss_ctr, loss_aux, grad_raw,  grad_pos, NULL};
  return run_problem(ctx, "semcl_positive_only_forward_backward", &p);
}

semcl_status_t semcl_pos_neg_forward(semcl_context *ctx, int64_t B, int64_t K,
                                     const float *score_raw, const float *score_pos,
                                     const float *score_neg, const float *y, float lambda,
                                     semcl_reduction_t reduction, float *loss, float *loss_ctr,
                                     float *loss_aux) {
  const semcl_problem p = {SEMCL_LOSS_POS_NEG, B,    K,        score_raw, score_pos, score_neg,
                           y,    lambda,   reduction, 1.0f,      NULL,      loss,
                           loss_ctr, loss_aux, NULL,  NULL,      NULL};
  return run_problem(ctx, "semcl_pos_neg_forward", &p);
}

semcl_status_t semcl_pos_neg_forward_backward(
    semcl_context *ctx, int64_t B, int64_t K, const float *score_raw, const float *score_pos,
    const float *score_neg, const float *y, float lambda, semcl_reduction_t reduction,
    float grad_scale, const float *grad_upstream, float *loss, float *loss_ctr, float *loss_aux,
    float *grad_raw, float *grad_pos, float *grad_neg) {
  const semcl_problem p = {SEMCL_LOSS_POS_NEG, B,          K,        score_raw, score_pos,
                           score_neg, y,          lambda,   reduction, grad_scale,
                           grad_upstream, loss,   loss_ctr, loss_aux,  grad_raw,
                           grad_pos,  grad_neg};
  return run_problem(ctx, "semcl_pos_neg_forward_backward", &p);
}
