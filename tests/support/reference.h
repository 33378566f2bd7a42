/* reference.h — plain-loop fp64 reference of both losses: the tests' oracle.
 * Same argument conventions as the library (reduction, grad_scale, upstream, options), but
 * every output is double and every sum is a plain fp64 loop. Gradient arrays may be NULL. */
#ifndef SEMCL_TEST_REFERENCE_H
#define SEMCL_TEST_REFERENCE_H

#include <stdint.h>

#include "semcl/semcl.h"

#ifdef __cplusplus
extern "C" {
#endif

double semcl_ref_softplus(double x);
double semcl_ref_sigmoid(double x);
double semcl_ref_bce(double x, double y);
/* BCEWithLogits with pos_weight pw: pw*y*softplus(-x) + (1-y)*softplus(x), and d/dx. */
double semcl_ref_bce_pw(double x, double y, double pw);
double semcl_ref_dbce_pw(double x, double y, double pw);

/* The options of semcl_options, as the reference reads them (NULL = the default). */
typedef struct semcl_ref_options {
  const uint8_t *neg_mask;  /* (B,K) or NULL */
  const int32_t *neg_count; /* (B) or NULL; clamped to [0, K] */
  const float *weight;      /* (B) or NULL */
  const float *pos_weight;  /* (pos_weight_count) or NULL */
  int64_t pos_weight_count;
} semcl_ref_options;

/* loss, loss_ctr, loss_aux: (1) for MEAN/SUM, (B) for NONE. upstream: NULL, (1) or (B).
 * options may be NULL. */
void semcl_ref_positive_only_opt(int64_t B, const float *score_raw, const float *score_pos,
                                 const float *y, double lambda, semcl_reduction_t reduction,
                                 double grad_scale, const double *upstream,
                                 const semcl_ref_options *options, double *loss,
                                 double *loss_ctr, double *loss_aux, double *grad_raw,
                                 double *grad_pos);

void semcl_ref_pos_neg_opt(int64_t B, int64_t K, const float *score_raw, const float *score_pos,
                           const float *score_neg, const float *y, double lambda,
                           semcl_reduction_t reduction, double grad_scale,
                           const double *upstream, const semcl_ref_options *options,
                           double *loss, double *loss_ctr, double *loss_aux, double *grad_raw,
                           double *grad_pos, double *grad_neg);

/* The same without options. */
void semcl_ref_positive_only(int64_t B, const float *score_raw, const float *score_pos,
                             const float *y, double lambda, semcl_reduction_t reduction,
                             double grad_scale, const double *upstream, double *loss,
                             double *loss_ctr, double *loss_aux, double *grad_raw,
                             double *grad_pos);

void semcl_ref_pos_neg(int64_t B, int64_t K, const float *score_raw, const float *score_pos,
                       const float *score_neg, const float *y, double lambda,
                       semcl_reduction_t reduction, double grad_scale, const double *upstream,
                       double *loss, double *loss_ctr, double *loss_aux, double *grad_raw,
                       double *grad_pos, double *grad_neg);

#ifdef __cplusplus
}
#endif

#endif
