/* reference.c — fp64 reference implementation (see reference.h). Deliberately plain: the
 * definitions of docs/losses.md written as loops, no shared code with the library. */
#include "reference.h"

#include <math.h>
#include <stdlib.h>

double semcl_ref_softplus(double x) { return (x > 0 ? x : 0.0) + log1p(exp(-fabs(x))); }

double semcl_ref_sigmoid(double x) {
  const double e = exp(-fabs(x));
  return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

/* pw*y*softplus(-x) + (1-y)*softplus(x) written as w*|x| + c*log1p(exp(-|x|)) with
 * w = (x >= 0 ? 1-y : y*pw), c = 1 + (pw-1)*y: exact limits at +-inf for hard labels. */
double semcl_ref_bce_pw(double x, double y, double pw) {
  const double w = x >= 0 ? 1.0 - y : y * pw;
  return (w == 0.0 ? 0.0 : w * fabs(x)) + (1.0 + (pw - 1.0) * y) * log1p(exp(-fabs(x)));
}

double semcl_ref_bce(double x, double y) { return semcl_ref_bce_pw(x, y, 1.0); }

/* (1-y)*sigmoid(x) - pw*y*sigmoid(-x), without cancellation for hard labels. */
double semcl_ref_dbce_pw(double x, double y, double pw) {
  if (y == 1.0) return -pw * semcl_ref_sigmoid(-x);
  if (y == 0.0) return semcl_ref_sigmoid(x);
  if (pw == 1.0) return semcl_ref_sigmoid(x) - y;
  return (1.0 - y) * semcl_ref_sigmoid(x) - pw * y * semcl_ref_sigmoid(-x);
}

static double upstream_of(semcl_reduction_t reduction, double grad_scale, const double *upstream,
                          int64_t b) {
  return grad_scale * (upstream ? upstream[reduction == SEMCL_REDUCTION_NONE ? b : 0] : 1.0);
}

static double weight_of(const semcl_ref_options *o, int64_t b) {
  return o && o->weight ? (double)o->weight[b] : 1.0;
}

static double pos_weight_of(const semcl_ref_options *o, int64_t b) {
  if (!o || !o->pos_weight) return 1.0;
  return (double)o->pos_weight[o->pos_weight_count == 1 ? 0 : b];
}

static int is_real(const semcl_ref_options *o, int64_t b, int64_t k, int64_t K) {
  if (!o) return 1;
  if (o->neg_count) {
    int64_t n = o->neg_count[b];
    n = n < 0 ? 0 : (n > K ? K : n);
    if (k >= n) return 0;
  }
  if (o->neg_mask && o->neg_mask[b * K + k] == 0) return 0;
  return 1;
}

/* Per-sample values ctr_b, aux_b -> the three outputs. aux_den: MEAN's divisor of the aux sum
 * (B, or N real pairs for the pairwise loss; 0 gives 0); aux_mean_b: what MEAN sums for aux. */
static void store_losses(semcl_reduction_t reduction, int64_t B, double lambda,
                         const double *ctr_b, const double *aux_b, const double *aux_mean_b,
                         double aux_den, double *loss, double *loss_ctr, double *loss_aux) {
  if (reduction == SEMCL_REDUCTION_NONE) {
    for (int64_t b = 0; b < B; ++b) {
      loss_ctr[b] = ctr_b[b];
      loss_aux[b] = aux_b[b];
      loss[b] = ctr_b[b] + lambda * aux_b[b];
    }
    return;
  }
  double c = 0, a = 0;
  for (int64_t b = 0; b < B; ++b) {
    c += ctr_b[b];
    a += reduction == SEMCL_REDUCTION_MEAN ? aux_mean_b[b] : aux_b[b];
  }
  if (reduction == SEMCL_REDUCTION_MEAN) {
    c /= (double)B;
    a = aux_den > 0 ? a / aux_den : 0.0;
  }
  *loss_ctr = c;
  *loss_aux = a;
  *loss = c + lambda * a;
}

void semcl_ref_positive_only_opt(int64_t B, const float *raw, const float *pos, const float *y,
                                 double lambda, semcl_reduction_t reduction, double grad_scale,
                                 const double *upstream, const semcl_ref_options *o,
                                 double *loss, double *loss_ctr, double *loss_aux,
                                 double *grad_raw, double *grad_pos) {
  double *ctr = (double *)malloc((size_t)B * sizeof(double));
  double *aux = (double *)malloc((size_t)B * sizeof(double));
  for (int64_t b = 0; b < B; ++b) {
    const double w = weight_of(o, b), pw = pos_weight_of(o, b);
    const double sign = 2.0 * y[b] - 1.0;
    const double t = -sign * ((double)pos[b] - (double)raw[b]);
    ctr[b] = w * semcl_ref_bce_pw(raw[b], y[b], pw);
    aux[b] = w * semcl_ref_softplus(t);
    double g = upstream_of(reduction, grad_scale, upstream, b) * w;
    if (reduction == SEMCL_REDUCTION_MEAN) g /= (double)B;
    const double s = semcl_ref_sigmoid(t);
    if (grad_raw) grad_raw[b] = g * (semcl_ref_dbce_pw(raw[b], y[b], pw) + lambda * sign * s);
    if (grad_pos) grad_pos[b] = -g * lambda * sign * s;
  }
  store_losses(reduction, B, lambda, ctr, aux, aux, (double)B, loss, loss_ctr, loss_aux);
  free(ctr);
  free(aux);
}

void semcl_ref_pos_neg_opt(int64_t B, int64_t K, const float *raw, const float *pos,
                           const float *neg, const float *y, double lambda,
                           semcl_reduction_t reduction, double grad_scale,
                           const double *upstream, const semcl_ref_options *o, double *loss,
                           double *loss_ctr, double *loss_aux, double *grad_raw,
                           double *grad_pos, double *grad_neg) {
  double *ctr = (double *)malloc((size_t)B * sizeof(double));
  double *aux = (double *)malloc((size_t)B * sizeof(double));
  double *aux_mean = (double *)malloc((size_t)B * sizeof(double));
  double N = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < K; ++k) N += is_real(o, b, k, K);
  for (int64_t b = 0; b < B; ++b) {
    const double w = weight_of(o, b), pw = pos_weight_of(o, b);
    const double sign = 2.0 * y[b] - 1.0;
    const double g = upstream_of(reduction, grad_scale, upstream, b) * w;
    double n = 0;
    for (int64_t k = 0; k < K; ++k) n += is_real(o, b, k, K);
    /* MEAN: the masked mean over all real pairs; SUM/NONE: the row's own mean. */
    const double den = reduction == SEMCL_REDUCTION_MEAN ? N : n;
    double sp_sum = 0, s_sum = 0;
    for (int64_t k = 0; k < K; ++k) {
      const int real = is_real(o, b, k, K);
      const double t = -sign * ((double)pos[b] - (double)neg[b * K + k]);
      const double s = real ? semcl_ref_sigmoid(t) : 0.0;
      if (real) sp_sum += semcl_ref_softplus(t);
      s_sum += s;
      /* A masked negative's slot is 0 whatever the row's factors (NaN, inf) are. */
      if (grad_neg) grad_neg[b * K + k] = real && den > 0 ? g * lambda * sign * s / den : 0.0;
    }
    ctr[b] = w * semcl_ref_bce_pw(raw[b], y[b], pw);
    aux[b] = n > 0 ? w * sp_sum / n : 0.0;
    aux_mean[b] = n > 0 ? w * sp_sum : 0.0;
    if (grad_raw)
      grad_raw[b] = g / (reduction == SEMCL_REDUCTION_MEAN ? (double)B : 1.0) *
                    semcl_ref_dbce_pw(raw[b], y[b], pw);
    if (grad_pos) grad_pos[b] = den > 0 ? -g * lambda * sign * s_sum / den : 0.0;
  }
  store_losses(reduction, B, lambda, ctr, aux, aux_mean, N, loss, loss_ctr, loss_aux);
  free(ctr);
  free(aux);
  free(aux_mean);
}

void semcl_ref_positive_only(int64_t B, const float *raw, const float *pos, const float *y,
                             double lambda, semcl_reduction_t reduction, double grad_scale,
                             const double *upstream, double *loss, double *loss_ctr,
                             double *loss_aux, double *grad_raw, double *grad_pos) {
  semcl_ref_positive_only_opt(B, raw, pos, y, lambda, reduction, grad_scale, upstream, NULL,
                              loss, loss_ctr, loss_aux, grad_raw, grad_pos);
}

void semcl_ref_pos_neg(int64_t B, int64_t K, const float *raw, const float *pos,
                       const float *neg, const float *y, double lambda,
                       semcl_reduction_t reduction, double grad_scale, const double *upstream,
                       double *loss, double *loss_ctr, double *loss_aux, double *grad_raw,
                       double *grad_pos, double *grad_neg) {
  semcl_ref_pos_neg_opt(B, K, raw, pos, neg, y, lambda, reduction, grad_scale, upstream, NULL,
                        loss, loss_ctr, loss_aux, grad_raw, grad_pos, grad_neg);
}
