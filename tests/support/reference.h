/* reference.h — plain-loop fp64 reference of both losses: the tests' oracle.
 * Same argument conventions as the library (reduction, grad_scale, upstream), but every
 * output is double and every sum is a plain fp64 loop. Gradient arrays may be NULL. */
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

/* loss, loss_ctr, loss_aux: (1) for MEAN/SUM, (B) for NONE. upstream: NULL, (1) or (B). */
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
