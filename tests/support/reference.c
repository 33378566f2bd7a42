/* reference.c — fp64 reference implementation (see reference.h). Deliberately plain. */
#include "reference.h"

#include <math.h>
#include <stdlib.h>

double semcl_ref_softplus(double x) { return (x > 0 ? x : 0.0) + log1p(exp(-fabs(x))); }

double semcl_ref_sigmoid(double x) {
  const double e = exp(-fabs(x));
  return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

/* BCE written as w*|x| + log1p(exp(-|x|)): exact limits at +-inf for hard labels. */
double semcl_ref_bce(double x, double y) {
  const double w = x >= 0 ? 1.0 - y : y;
  return (w == 0.0 ? 0.0 : w * fabs(x)) + log1p(exp(-fabs(x)));
}

static double dbce(double x, double y) {
  if (y == 1.0) return -semcl_ref_sigmoid(-x);
  if (y == 0.0) return semcl_ref_sigmoid(x);
  return semcl_ref_sigmoid(x) - y;
}

static double row_scale(semcl_reduction_t reduction, int64_t B, double grad_scale,
                        const double *upstream, int64_t b) {
  const double u = upstream ? upstream[reduction == SEMCL_REDUCTION_NONE ? b : 0] : 1.0;
  return grad_scale * u / (reduction == SEMCL_REDUCTION_MEAN ? (double)B : 1.0);
}

static void store_losses(semcl_reduction_t reduction, int64_t B, double lambda,
                         const double *ctr_b, const double *aux_b, double *loss,
                         double *loss_ctr, double *loss_aux) {
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
    a += aux_b[b];
  }
  if (reduction == SEMCL_REDUCTION_MEAN) {
    c /= (double)B;
    a /= (double)B;
  }
  *loss_ctr = c;
  *loss_aux = a;
  *loss = c + lambda * a;
}


void semcl_ref_positive_only(int64_t B, const float *raw, const float *pos, const float *y,
                             double lambda, semcl_reduction_t reduction, double grad_scale,
                             const double *upstream, double *loss, double *loss_ctr,
                             double *loss_aux, double *grad_raw, double *grad_pos) {
  double *ctr = (double *)malloc((size_t)B * sizeof(double));
  double *aux = (double *)malloc((size_t)B * sizeof(double));
  for (int64_t b = 0; b < B; ++b) {
    const double sign = 2.0 * y[b] - 1.0;
    const double t = -sign * ((double)pos[b] - (double)raw[b]);
    ctr[b] = semcl_ref_bce(raw[b], y[b]);
    aux[b] = semcl_ref_softplus(t);
    const double g = row_scale(reduction, B, grad_scale, upstream, b);
    const double s = semcl_ref_sigmoid(t);
    if (grad_raw) grad_raw[b] = g * (dbce(raw[b], y[b]) + lambda * sign * s);
    if (grad_pos) grad_pos[b] = -g * lambda * sign * s;
  }
  store_losses(reduction, B, lambda, ctr, aux, loss, loss_ctr, loss_aux);
  free(ctr);
  free(aux);
}

void semcl_ref_pos_neg(int64_t B, int64_t K, const float *raw, const float *pos,
                       const float *neg, const float *y, double lambda,
                       semcl_reduction_t reduction, double grad_scale, const double *upstream,
                       double *loss, double *loss_ctr, double *loss_aux, double *grad_raw,
                       double *grad_pos, double *grad_neg) {
  double *ctr = (double *)malloc((size_t)B * sizeof(double));
  double *aux = (double *)malloc((size_t)B * sizeof(double));
  for (int64_t b = 0; b < B; ++b) {
    const double sign = 2.0 * y[b] - 1.0;
    const double g = row_scale(reduction, B, grad_scale, upstream, b);
    double sp_sum = 0, s_sum = 0;
    for (int64_t k = 0; k < K; ++k) {
      const double t = -sign * ((double)pos[b] - (double)neg[b * K + k]);
      const double s = semcl_ref_sigmoid(t);
      sp_sum += semcl_ref_softplus(t);
      s_sum += s;
      if (grad_neg) grad_neg[b * K + k] = g * lambda * sign * s / (double)K;
    }
    ctr[b] = semcl_ref_bce(raw[b], y[b]);
    aux[b] = sp_sum / (double)K;
    if (grad_raw) grad_raw[b] = g * dbce(raw[b], y[b]);
    if (grad_pos) grad_pos[b] = -g * lambda * sign * s_sum / (double)K;
  }
  store_losses(reduction, B, lambda, ctr, aux, loss, loss_ctr, loss_aux);
  free(ctr);
  free(aux);
}
