/*
 * semcl_row.h — the per-row epilogue shared by every backend: what a row contributes to the
 * losses and its O(1) gradients, from the row's fp64 totals (semcl_fold.h) and the call's
 * scalars. Per-element math is in semcl_math.h; the summation order in semcl_fold.h.
 *
 * Notation for row b: x = score_raw, y = label, w = weight (1 without weights), pw = pos_weight
 * (1 without), ns = -sign = 1 - 2y (semcl_neg_sign), n = the row's real negatives (K unmasked),
 * N = sum of n over rows (B*K unmasked), g = grad_scale * upstream (upstream[0] for MEAN/SUM,
 * upstream[b] for NONE; 1 without an upstream array).
 *
 * Leaves (fp64, summed over rows by the tree T):
 *   ctr leaf  = w * BCE(x, y; pw)                      (BCE in fp32, the product in fp64)
 *   aux leaf  = pairwise, MEAN:      w * softplus_total      (then / N)
 *               pairwise, SUM/NONE:  w * (softplus_total / n)
 *               positive-only:       w * softplus(t)          (then / B for MEAN)
 *             and exactly 0 for a pairwise row with n == 0 (no term).
 * Reductions: MEAN: L_ctr = T(ctr)/B, L_aux = T(aux)/N (pairwise; 0 when N == 0) or T(aux)/B;
 *             SUM: the T sums; NONE: the leaves themselves (pairwise NONE uses the per-row
 *             mean). L = fp32(L_ctr + lambda * L_aux), every term formed in fp64.
 * Gradients of the pairwise loss with c = g * w * lambda * ns (fp64, in that order) and
 * D = N (MEAN) or n (SUM, NONE):
 *   grad_neg_bk = fp32(-c / D) * sigmoid(t_bk)  (one fp32 multiply; in fp64 and rounded once
 *                                                  more when |c / D| exceeds FLT_MAX)
 *   grad_pos_b  = fp32(c * sigmoid_total / D)
 *   grad_raw_b  = fp32((s * w) * dBCE/dx)        s = g/B (MEAN) or g (SUM, NONE)
 * and 0 for every gradient term of a row with D == 0.
 */
#ifndef SEMCL_ROW_H
#define SEMCL_ROW_H

#include <float.h>
#include <stdint.h>

#include "semcl_math.h"

/* Reduction codes as in semcl.h (the header is not included: CUDA device code uses this). */
#define SEMCL_ROW_MEAN 0
#define SEMCL_ROW_SUM 1
#define SEMCL_ROW_NONE 2

/* neg_count[b] clamped to [0, K] (the documented meaning of out-of-range counts): the
 * negatives 0 .. limit-1 of the row may be real. */
SEMCL_FN int64_t semcl_clamp_count(int32_t count, int64_t K) {
  return count < 0 ? 0 : ((int64_t)count > K ? K : (int64_t)count);
}

/* The call's scalars, as every row's epilogue needs them. */
typedef struct semcl_row_consts {
  float lambda;
  float grad_scale;
  const float *grad_upstream; /* NULL = 1; 1 value (MEAN/SUM) or B values (NONE) */
  int reduction;              /* SEMCL_ROW_MEAN / _SUM / _NONE */
  int64_t B;
  double N; /* real (row, negative) pairs: MEAN's pairwise denominator */
} semcl_row_consts;

/* g for row b as a double (see above). */
SEMCL_FN double semcl_row_upstream(const semcl_row_consts *c, int64_t b) {
  const double up = c->grad_upstream
                        ? (double)c->grad_upstream[c->reduction == SEMCL_ROW_NONE ? b : 0]
                        : 1.0;
  return (double)c->grad_scale * up;
}

/* The scale of a row's BCE gradient: g/B for MEAN, g otherwise. */
SEMCL_FN double semcl_row_ctr_scale(const semcl_row_consts *c, double g) {
  return c->reduction == SEMCL_ROW_MEAN ? g / (double)c->B : g;
}

/* Pairwise loss: the denominator D of row b's pairwise gradients (N for MEAN, else n). Counts
 * are passed as doubles (exact below 2^53) so that loops over rows vectorise. */
SEMCL_FN double semcl_pos_neg_denominator(const semcl_row_consts *c, double n) {
  return c->reduction == SEMCL_ROW_MEAN ? c->N : n;
}

/* Pairwise loss: c = g * w * lambda * ns, the numerator of every pairwise gradient of row b. */
SEMCL_FN double semcl_pos_neg_grad_numerator(double g, float w, float lambda, float neg_sign) {
  return ((g * (double)w) * (double)lambda) * (double)neg_sign;
}

/* Pairwise loss: the coefficient of sigmoid(t_bk) in grad_neg_bk, in fp64 (0 when D == 0). */
SEMCL_FN double semcl_pos_neg_neg_coef(double numerator, double denominator) {
  return denominator > 0.0 ? -numerator / denominator : 0.0;
}

/* Whether grad_neg must be formed in fp64 for this coefficient: its fp32 rounding would
 * overflow although coef * sigmoid may not (|coef| > FLT_MAX; never for NaN). */
SEMCL_FN int semcl_neg_coef_needs_f64(double coef) {
  return coef > (double)FLT_MAX || coef < -(double)FLT_MAX;
}

/* grad_neg_bk from the row's coefficient: the fp32 product in the usual case, the fp64
 * product rounded to fp32 when semcl_neg_coef_needs_f64(coef). */
SEMCL_FN float semcl_pos_neg_grad_neg(double coef, float sigmoid) {
  return semcl_neg_coef_needs_f64(coef) ? (float)(coef * (double)sigmoid)
                                        : (float)coef * sigmoid;
}

/* Pairwise loss, row b's loss values from its BCE (fp32) and softplus total: the per-sample
 * BCE and pairwise terms (for NONE) and the pairwise leaf. */
SEMCL_FN void semcl_pos_neg_row_values(const semcl_row_consts *c, float w, double n,
                                       float ctr, double softplus_total, double *ctr_term,
                                       double *row_mean, double *aux_leaf) {
  *ctr_term = (double)w * (double)ctr;
  *row_mean = n > 0 ? (double)w * (softplus_total / n) : 0.0;
  *aux_leaf = n > 0 ? (c->reduction == SEMCL_ROW_MEAN ? (double)w * softplus_total : *row_mean)
                    : 0.0;
}

/* The three per-sample losses (NONE) from the fp64 terms. */
SEMCL_FN void semcl_row_losses(float lambda, double ctr_term, double aux_term, float *loss,
                               float *loss_ctr, float *loss_aux) {
  *loss_ctr = (float)ctr_term;
  *loss_aux = (float)aux_term;
  *loss = (float)(ctr_term + (double)lambda * aux_term);
}

/* grad_raw of a row from its BCE scale (semcl_row_ctr_scale: computed once when every row
 * has the same g), weight and dBCE/dx. */
SEMCL_FN float semcl_row_grad_raw(double ctr_scale, float w, float dctr) {
  return (float)((ctr_scale * (double)w) * (double)dctr);
}

/* Pairwise loss: grad_pos of a row from its numerator c, sigmoid total and denominator D. */
SEMCL_FN float semcl_pos_neg_grad_pos(double numerator, double sigmoid_total, double d) {
  return d > 0.0 ? (float)(numerator * sigmoid_total / d) : 0.0f;
}

/* Pairwise loss, row b's gradients of score_raw and score_pos (fp32) from g (its upstream),
 * dBCE/dx and the sigmoid total. */
SEMCL_FN void semcl_pos_neg_row_grads(const semcl_row_consts *c, double g, float w,
                                      float neg_sign, double n, float dctr,
                                      double sigmoid_total, float *grad_raw, float *grad_pos) {
  *grad_raw = semcl_row_grad_raw(semcl_row_ctr_scale(c, g), w, dctr);
  const double d = semcl_pos_neg_denominator(c, n);
  const double num = semcl_pos_neg_grad_numerator(g, w, c->lambda, neg_sign);
  *grad_pos = semcl_pos_neg_grad_pos(num, sigmoid_total, d);
}

/* Pairwise loss, row b after its negatives (softplus_total, sigmoid_total: the row's fp64
 * totals over its n real negatives): the pieces above in one call.
 * Outputs: loss/loss_ctr/loss_aux (row b's slots, or NULL unless the reduction is NONE),
 * grad_raw_f32/grad_pos_f32 (row b's fp32 gradients, or NULL to skip), and the two leaves. */
SEMCL_FN void semcl_pos_neg_finish_row(const semcl_row_consts *c, int64_t b, float raw, float y,
                                       float w, float pw, int64_t n, double softplus_total,
                                       double sigmoid_total, float *loss, float *loss_ctr,
                                       float *loss_aux, float *grad_raw_f32,
                                       float *grad_pos_f32, double *ctr_leaf,
                                       double *aux_leaf) {
  float ctr, dctr;
  semcl_bce_with_logits_pw(raw, y, pw, &ctr, &dctr);
  double ctr_term, row_mean;
  semcl_pos_neg_row_values(c, w, (double)n, ctr, softplus_total, &ctr_term, &row_mean,
                           aux_leaf);
  if (loss) semcl_row_losses(c->lambda, ctr_term, row_mean, loss, loss_ctr, loss_aux);
  if (grad_raw_f32 || grad_pos_f32) {
    float graw, gpos;
    semcl_pos_neg_row_grads(c, semcl_row_upstream(c, b), w, semcl_neg_sign(y), (double)n, dctr,
                            sigmoid_total, &graw, &gpos);
    if (grad_raw_f32) *grad_raw_f32 = graw;
    if (grad_pos_f32) *grad_pos_f32 = gpos;
  }
  *ctr_leaf = ctr_term;
}

/* Positive-only loss: both gradients of row b, in fp64 from the fp32 inputs, scaled by
 * s = (g/B or g) * w. grad_raw = s * (dBCE/dx + lambda*sign*sigmoid(t)): at small logits with
 * lambda near 1 the two terms are both about 0.5 and cancel, so they are formed in fp64 (O(B)
 * work), with dBCE/dx free of cancellation for hard labels as in semcl_bce_with_logits_pw. */
SEMCL_FN void semcl_positive_only_grads(double s, float lambda, float score_raw,
                                        float score_pos, float y, float pw, float *grad_raw,
                                        float *grad_pos) {
  const double x = (double)score_raw;
  const double sign = 2.0 * (double)y - 1.0;
  const double t = -sign * ((double)score_pos - x);
  double sig_x, sig_minus_x;
  semcl_sigmoid_pair_f64(x, &sig_x, &sig_minus_x);
  const double p = (double)pw;
  const double dbce =
      y == 1.0f ? -(p * sig_minus_x)
                : (y == 0.0f ? sig_x
                             : (pw == 1.0f ? sig_x - (double)y
                                           : (1.0 - (double)y) * sig_x - ((double)y * p) * sig_minus_x));
  const double aux_part = (double)lambda * sign * semcl_sigmoid_f64(t);
  *grad_raw = (float)(s * (dbce + aux_part));
  *grad_pos = (float)(-s * aux_part);
}

/* Positive-only loss, row b, in fp32 with a few fp64 operations: the BCE and auxiliary terms
 * and (want_grads) both gradients, scaled by s. Returns 0 when the gradients are accurate,
 * 1 when the caller must form them with semcl_positive_only_grads instead (fp64 throughout).
 *
 * For hard labels grad_raw = s*G with G = lambda*sigmoid(t) - pw*sigmoid(u) (y = 1, u = -x)
 * or sigmoid(u) - lambda*sigmoid(t) (y = 0, u = x), t = ns*(pos - x). The two sigmoids are close
 * when t is close to u, so the difference D = sigmoid(t) - sigmoid(u) is formed from
 * v = u - t = sign*(pos - 2x) without cancellation: D = -sigmoid(t)*sigmoid(-u)*expm1(v)
 * (exact identity), and G = (lambda - pw)*sigmoid(u) + lambda*D (y = 1) or
 * (1 - lambda)*sigmoid(u) - lambda*D (y = 0), combined in fp64. That is used for |v| <= 1/2; for
 * larger |v| the sigmoids differ and G is their fp64 combination directly. Either way, when the
 * two fp64 terms still cancel to less than 1/8 of their size (or anything is not finite, or the
 * label is soft), the row takes the fp64 path: the result is then accurate to about 1e-6
 * relative in every case. */
SEMCL_FN int semcl_positive_only_row_fast(double s, float lambda, float x, float pos, float y,
                                          float pw, int want_grads, float *ctr, float *aux,
                                          float *grad_raw, float *grad_pos) {
  float dctr_unused;
  semcl_bce_with_logits_pw(x, y, pw, ctr, &dctr_unused);
  const float ns = semcl_neg_sign(y);
  const float t = ns * (pos - x);
  float sigmoid_t;
  semcl_softplus_sigmoid(t, aux, &sigmoid_t);
  if (!want_grads) return 0;
  const int hard = y == 1.0f || y == 0.0f;
  const float u = y == 1.0f ? -x : x;
  /* sigmoid(u) and sigmoid(-u) from one exp (the BCE's, recomputed: cheap next to a branch) */
  const float e = semcl_exp_nonpos(-fabsf(u));
  const float r = 1.0f / (1.0f + e);
  const float sig_u = u >= 0.0f ? r : e * r;
  const float sig_minus_u = u >= 0.0f ? e * r : r;
  const float v = -ns * (pos - 2.0f * x);
  const int small = fabsf(v) <= 0.5f;
  const float d = -(sigmoid_t * sig_minus_u) * semcl_expm1_small(small ? v : 0.0f);
  const double lam = (double)lambda;
  double term_a, term_b;
  if (y == 1.0f) {
    term_a = small ? (lam - (double)pw) * (double)sig_u : -(double)pw * (double)sig_u;
    term_b = small ? lam * (double)d : lam * (double)sigmoid_t;
  } else {
    term_a = small ? (1.0 - lam) * (double)sig_u : (double)sig_u;
    term_b = small ? -lam * (double)d : -lam * (double)sigmoid_t;
  }
  const double g = term_a + term_b;
  *grad_raw = (float)(s * g);
  *grad_pos = (float)(-s * (lam * (double)(-ns)) * (double)sigmoid_t);
  const double size = fabs(term_a) + fabs(term_b);
  const int accurate = hard && fabs(g) * 8.0 >= size && size <= 1e300 && fabs(g) <= 1e300 &&
                       fabsf(x) <= 3.0e38f && fabsf(pos) <= 3.0e38f;
  return !accurate;
}

/* Positive-only loss, row b: per-sample outputs (NONE), gradients, leaves. */
SEMCL_FN void semcl_positive_only_finish_row(const semcl_row_consts *c, int64_t b, float raw,
                                             float pos, float y, float w, float pw,
                                             float *loss, float *loss_ctr, float *loss_aux,
                                             float *grad_raw_f32, float *grad_pos_f32,
                                             double *ctr_leaf, double *aux_leaf) {
  const int grads = grad_raw_f32 || grad_pos_f32;
  const double s = grads ? semcl_row_ctr_scale(c, semcl_row_upstream(c, b)) * (double)w : 0.0;
  float ctr, aux, graw = 0.0f, gpos = 0.0f; /* zeros: gcc cannot see grads set them */
  if (semcl_positive_only_row_fast(s, c->lambda, raw, pos, y, pw, grads, &ctr, &aux, &graw,
                                   &gpos))
    semcl_positive_only_grads(s, c->lambda, raw, pos, y, pw, &graw, &gpos);
  const double ctr_term = (double)w * (double)ctr;
  const double aux_term = (double)w * (double)aux;
  if (loss) semcl_row_losses(c->lambda, ctr_term, aux_term, loss, loss_ctr, loss_aux);
  if (grad_raw_f32) *grad_raw_f32 = graw;
  if (grad_pos_f32) *grad_pos_f32 = gpos;
  *ctr_leaf = ctr_term;
  *aux_leaf = aux_term;
}

/* The three reduced losses (MEAN, SUM) from the T sums of the leaves. aux_denominator: B for
 * the positive-only loss, N for the pairwise loss (MEAN only; 0 gives L_aux = 0). */
SEMCL_FN void semcl_reduced_losses(const semcl_row_consts *c, double ctr_sum, double aux_sum,
                                   double aux_denominator, float *loss, float *loss_ctr,
                                   float *loss_aux) {
  const int mean = c->reduction == SEMCL_ROW_MEAN;
  const double ctr = mean ? ctr_sum / (double)c->B : ctr_sum;
  const double aux = mean ? (aux_denominator > 0.0 ? aux_sum / aux_denominator : 0.0) : aux_sum;
  *loss_ctr = (float)ctr;
  *loss_aux = (float)aux;
  *loss = (float)(ctr + (double)c->lambda * aux);
}

#endif /* SEMCL_ROW_H */
