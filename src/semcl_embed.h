/*
 * semcl_embed.h — the embedding calls (scores are dot products): the validated problem every
 * backend receives, and the per-row arithmetic that both backends share bit for bit (included
 * by C and by CUDA device code; docs/embeddings.md explains it with the bounds).
 *
 * Canonical dot product u.v over D (fp32; the same order on every backend, ISA level and
 * launch shape): 32 lanes; lane j starts from +0.0f and adds fmaf(u_d, v_d, lane) for
 * d = j, j+32, j+64, ... < D32 (D rounded up to a multiple of 32; elements past D read as +0,
 * so every lane runs D32/32 steps); the lanes are folded as in semcl_fold.h
 * (a[j] += a[j+w], w = 16, 8, 4, 2, 1). A score is fp32(score_scale * dot).
 *
 * Per-row negatives, row b (r = item_raw_b, p = item_pos_b, n_k = item_neg_bk, u = user_b):
 *   raw, pos, s_k    scores as above; t_k = ns * (pos - s_k) as in the score-level loss;
 *   loss terms       exactly the score-level pairwise loss on (raw, pos, s_k) (semcl_row.h,
 *                    semcl_fold.h: chunks of 1024 negatives, 32 k-lanes, T over chunks, rows);
 *   h_k              semcl_pos_neg_grad_neg(coef * score_scale, sigmoid(t_k)), coef the row's
 *                    score-level coefficient (semcl_pos_neg_neg_coef): dL/dn_k = h_k * u;
 *   grad_item_neg_k  h_k * u_d (fp32), +0 for masked negatives;
 *   grad_user        per chunk of 1024 negatives an fp32 partial: a_d = fmaf(h_k, n_kd, a_d)
 *                    from +0 over the chunk's real negatives in increasing k; the chunk
 *                    partials added in fp64 in chunk order (starting from the first); then
 *                    grad_user_d = fp32(neg_d + hr * r_d + hp * p_d) in fp64, left to right,
 *                    with hr = fp32(score_scale * grad_raw), hp = fp32(score_scale * grad_pos)
 *                    (the score-level fp32 gradients of raw and pos);
 *   grad_item_raw    hr * u_d, grad_item_pos = hp * u_d (fp32).
 * Shared pool: s_bn = fp32(score_scale * S_bn) with S = U N^T from a GEMM (its own order),
 *   the same loss pass, G_bn = semcl_pos_neg_grad_neg(coef, sigmoid) (unscaled), then GEMMs
 *   dU = score_scale * G N, dN = score_scale * G^T U (row chunks in order, beta = 1), and
 *   grad_user_d = fp32(dU_d + hr * r_d + hp * p_d) in fp64 as above.
 */
#ifndef SEMCL_EMBED_H
#define SEMCL_EMBED_H

#include <stdint.h>

#include "semcl_fold.h"
#include "semcl_math.h"
#include "semcl_row.h"

/* Lanes of the canonical dot product (a warp on CUDA). */
#define SEMCL_DOT_LANES 32

/* Kinds, as semcl_embed_kind_t in semcl.h (the header is not included: CUDA device code). */
#define SEMCL_EMBED_KIND_POSITIVE_ONLY 0
#define SEMCL_EMBED_KIND_PER_ROW 1
#define SEMCL_EMBED_KIND_SHARED 2

#if !defined(__CUDACC__) || defined(SEMCL_EMBED_WITH_PROBLEM)
#include "semcl_internal.h"

/* One validated embedding call, as the public entry points hand it to a backend. */
typedef struct semcl_embed_problem {
  int kind;  /* SEMCL_EMBED_KIND_* */
  int64_t B;
  int64_t K; /* negatives per row (per-row), pool entries N (shared), 1 (positive-only) */
  int64_t D;
  semcl_dtype_t dtype; /* of the embeddings and their gradients in the public call; the
                          backends' fp32 machinery sees only item_neg, grad_item_neg of a
                          per-row call in it (semcl_embed_stage.h) */
  const void *user, *item_raw, *item_pos; /* (B,D) */
  const void *item_neg; /* (B,K,D) per-row, (K,D) shared pool, NULL for positive-only */
  const float *y;
  const uint8_t *neg_mask;   /* (B,K) or NULL */
  const int32_t *neg_count;  /* (B) or NULL */
  const int64_t *pos_index;  /* (B) or NULL, shared pool only */
  const float *weight;       /* (B) or NULL */
  const float *pos_weight;   /* (pos_weight_count) or NULL */
  int64_t pos_weight_count;
  float score_scale;
  int gemm_tf32; /* SEMCL_GEMM_MATH_TF32 asked */
  float lambda;
  semcl_reduction_t reduction;
  float grad_scale;
  const float *grad_upstream;
  float *loss, *loss_ctr, *loss_aux;
  void *grad_user, *grad_item_raw, *grad_item_pos; /* (B,D) or NULL */
  void *grad_item_neg; /* (B,K,D) per-row, (K,D) pool, or NULL */
} semcl_embed_problem;

/* Whether the pairwise call has any per-negative mask. */
static inline int semcl_embed_masked(const semcl_embed_problem *p) {
  return p->neg_mask != NULL || p->neg_count != NULL || p->pos_index != NULL;
}
/* Whether any gradient is wanted (else the call is forward only). */
static inline int semcl_embed_backward(const semcl_embed_problem *p) {
  return p->grad_user || p->grad_item_raw || p->grad_item_pos || p->grad_item_neg;
}
/* Whether the per-negative coefficients h_k (or G) are needed. */
static inline int semcl_embed_needs_neg_grads(const semcl_embed_problem *p) {
  return p->grad_user || p->grad_item_neg;
}
#endif

/* The lane of the canonical dot product that element d belongs to. */
SEMCL_FN int semcl_dot_lane(int64_t d) { return (int)(d % SEMCL_DOT_LANES); }

/* Elements every lane runs over: D rounded up to a multiple of 32. */
SEMCL_FN int64_t semcl_dot_padded(int64_t D) {
  return (D + SEMCL_DOT_LANES - 1) / SEMCL_DOT_LANES * SEMCL_DOT_LANES;
}

/* A score from its dot product. */
SEMCL_FN float semcl_embed_score(float scale, float dot) { return scale * dot; }

/* hr or hp: the scaled fp32 gradient of a raw or pos score. */
SEMCL_FN float semcl_embed_scaled_grad(float scale, float grad) {
  return (float)((double)scale * (double)grad);
}

/* grad_user_d from the negatives' fp64 sum (or the GEMM value) and the raw and pos terms. */
SEMCL_FN float semcl_embed_user_grad(double neg, float hr, float r, float hp, float p) {
  return (float)((neg + (double)hr * (double)r) + (double)hp * (double)p);
}

/* Pairwise row epilogue of an embedding call: from the row's scores and fp64 totals, the
 * per-sample losses (NONE, when loss != NULL), the two leaves, and hr, hp (0 when D == 0 for
 * hp, as the score-level gradients). */
SEMCL_FN void semcl_embed_pos_neg_row_end(const semcl_row_consts *c, int64_t b, float scale,
                                          float raw, float y, float w, float pw, int64_t n,
                                          double softplus_total, double sigmoid_total,
                                          int want_grads, float *loss, float *loss_ctr,
                                          float *loss_aux, float *hr, float *hp,
                                          double *ctr_leaf, double *aux_leaf) {
  float ctr, dctr;
  semcl_bce_with_logits_pw(raw, y, pw, &ctr, &dctr);
  double ctr_term, row_mean;
  semcl_pos_neg_row_values(c, w, n, ctr, softplus_total, &ctr_term, &row_mean, aux_leaf);
  if (loss) semcl_row_losses(c->lambda, ctr_term, row_mean, loss, loss_ctr, loss_aux);
  *hr = 0.0f;
  *hp = 0.0f;
  if (want_grads) {
    float graw, gpos;
    semcl_pos_neg_row_grads(c, semcl_row_upstream(c, b), w, semcl_neg_sign(y), n, dctr,
                            sigmoid_total, &graw, &gpos);
    *hr = semcl_embed_scaled_grad(scale, graw);
    *hp = semcl_embed_scaled_grad(scale, gpos);
  }
  *ctr_leaf = ctr_term;
}

/* Positive-only row epilogue: per-sample losses (NONE), leaves, hr, hp. */
SEMCL_FN void semcl_embed_positive_only_row_end(const semcl_row_consts *c, int64_t b,
                                                float scale, float raw, float pos, float y,
                                                float w, float pw, int want_grads, float *loss,
                                                float *loss_ctr, float *loss_aux, float *hr,
                                                float *hp, double *ctr_leaf, double *aux_leaf) {
  float graw = 0.0f, gpos = 0.0f;
  semcl_positive_only_finish_row(c, b, raw, pos, y, w, pw, loss, loss_ctr, loss_aux,
                                 want_grads ? &graw : (float *)0, want_grads ? &gpos : (float *)0,
                                 ctr_leaf, aux_leaf);
  *hr = semcl_embed_scaled_grad(scale, graw);
  *hp = semcl_embed_scaled_grad(scale, gpos);
}

/* The row's fp64 coefficient of h_k (coef * scale; semcl_pos_neg_grad_neg takes it). */
SEMCL_FN double semcl_embed_neg_coef(const semcl_row_consts *c, double g, float w, float y,
                                     int64_t n, float scale) {
  const double num = semcl_pos_neg_grad_numerator(g, w, c->lambda, semcl_neg_sign(y));
  return semcl_pos_neg_neg_coef(num, semcl_pos_neg_denominator(c, n)) * (double)scale;
}

#endif /* SEMCL_EMBED_H */
