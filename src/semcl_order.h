/*
 * semcl_order.h — the canonical reduction order and the fp64 row epilogue, shared by every
 * backend. Following this order (rather than "whatever the threads do") is what makes the
 * losses and grad_pos bitwise identical across thread counts, SIMD widths and CPU vs CUDA.
 *
 * Row sums over the K negatives of a row (loss 2):
 *   - the row is cut into chunks of SEMCL_CHUNK elements (the last may be shorter);
 *   - within a chunk, lane j (0 <= j < SEMCL_LANES) adds, in fp32 and in increasing order,
 *     the elements j, j + SEMCL_LANES, j + 2*SEMCL_LANES, ... starting from 0.0f;
 *   - the lanes are folded by the tree  a[j] += a[j + w]  for w = 16, 8, 4, 2, 1 (fp32),
 *     which is exactly what a warp's shuffle-down reduction computes;
 *   - chunk values are added in fp64, in chunk order, starting from 0.0.
 * fp32 over at most 32 terms keeps the error tiny; fp64 across chunks keeps sums over 1e9
 * terms accurate (a plain fp32 running sum stalls near 2^24).
 *
 * Sums over rows (MEAN and SUM): rows are grouped in blocks of SEMCL_ROW_BLOCK; each block is
 * summed in fp64 in row order, then the block sums are added in fp64 in block order.
 */
#ifndef SEMCL_ORDER_H
#define SEMCL_ORDER_H

#include "semcl_math.h"

#define SEMCL_LANES 32
#define SEMCL_CHUNK 1024
#define SEMCL_ROW_BLOCK 256

/* semcl_fold_lanes over the first `width` lanes only (width a power of two <= SEMCL_LANES).
 * When lanes [width, SEMCL_LANES) hold +0.0f and the others hold sums of non-negative terms
 * (softplus and sigmoid values: >= +0.0f or NaN), the result is bitwise that of
 * semcl_fold_lanes, since adding +0.0f to such a value is exact: short rows (K < 32) fold
 * only the lanes they use. */
SEMCL_FN float semcl_fold_lanes_prefix(float *lanes, int width) {
  for (int w = width / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) lanes[j] = lanes[j] + lanes[j + w];
  return lanes[0];
}

/* Folds SEMCL_LANES partial sums in the canonical tree order; result in lanes[0]. */
SEMCL_FN float semcl_fold_lanes(float *lanes) {
  return semcl_fold_lanes_prefix(lanes, SEMCL_LANES);
}

/* The upstream gradient of row b as a double: grad_scale times the caller's value
 * (grad_upstream[0] for MEAN/SUM, grad_upstream[b] for NONE), divided by B for MEAN. */
SEMCL_FN double semcl_row_grad_scale(double grad_scale, double upstream, int is_mean, int64_t B) {
  const double g = grad_scale * upstream;
  return is_mean ? g / (double)B : g;
}

/* The row scale of row b from the call's arguments: grad_upstream (NULL = 1) holds one value
 * for MEAN/SUM and B values for NONE, in the backend's memory space. */
SEMCL_FN double semcl_row_scale(float grad_scale, const float *grad_upstream, int none,
                                int is_mean, int64_t B, int64_t b) {
  const double upstream = grad_upstream ? (double)grad_upstream[none ? b : 0] : 1.0;
  return semcl_row_grad_scale((double)grad_scale, upstream, is_mean, B);
}

/* Loss 2: the fp32 coefficient of sigmoid(t_bk) in grad_neg_bk (known before the row pass). */
SEMCL_FN float semcl_pos_neg_neg_coef(double row_scale, float lambda, float neg_sign, int64_t K) {
  return (float)(-(row_scale * (double)lambda * (double)neg_sign) / (double)K);
}

/* Loss 2: grad_pos_b from the row's fp64 sigmoid sum. */
SEMCL_FN float semcl_pos_neg_pos_grad(double row_scale, float lambda, float neg_sign,
                                      double sigmoid_sum, int64_t K) {
  return (float)((row_scale * (double)lambda * (double)neg_sign) * sigmoid_sum / (double)K);
}

/* Loss 1: both gradients of row b, in fp64 from the fp32 inputs.
 * grad_raw = scale * (dBCE/dx + lambda*sign*sigmoid(t)): at small logits with lambda near 1 the
 * two terms are both about 0.5 and cancel, so they are formed in fp64 (cheap: O(B) work), with
 * dBCE/dx free of cancellation for hard labels as in semcl_bce_with_logits. */
SEMCL_FN void semcl_positive_only_grads(double row_scale, float lambda, float score_raw,
                                        float score_pos, float y, float *grad_raw,
                                        float *grad_pos) {
  const double x = (double)score_raw;
  const double sign = 2.0 * (double)y - 1.0;
  const double t = -sign * ((double)score_pos - x);
  double sig_x, sig_minus_x;
  semcl_sigmoid_pair_f64(x, &sig_x, &sig_minus_x);
  const double dbce = y == 1.0f ? -sig_minus_x : (y == 0.0f ? sig_x : sig_x - (double)y);
  const double aux_part = (double)lambda * sign * semcl_sigmoid_f64(t);
  *grad_raw = (float)(row_scale * (dbce + aux_part));
  *grad_pos = (float)(-row_scale * aux_part);
}

/* The three per-sample losses for reduction NONE. */
SEMCL_FN void semcl_row_losses(float ctr, double aux, float lambda, float *loss, float *loss_ctr,
                               float *loss_aux) {
  *loss_ctr = ctr;
  *loss_aux = (float)aux;
  *loss = (float)((double)ctr + (double)lambda * aux);
}

/* Loss 2, row b after its chunks: the BCE term, the per-sample losses (loss, loss_ctr and
 * loss_aux point at row b's slots, or are NULL unless the reduction is NONE), grad_raw and
 * grad_pos (row b's slots, or NULL to skip; row_scale is only read when one is wanted).
 * Returns the row's fp64 L_ctr and L_aux terms for the sums over rows. Both backends call this,
 * so the per-row arithmetic cannot drift apart. */
SEMCL_FN void semcl_pos_neg_finish_row(float raw, float y, float lambda, int64_t K,
                                       double softplus_total, double sigmoid_total,
                                       double row_scale, float *loss, float *loss_ctr,
                                       float *loss_aux, float *grad_raw, float *grad_pos,
                                       double *ctr_out, double *aux_out) {
  float ctr, dctr;
  semcl_bce_with_logits(raw, y, &ctr, &dctr);
  const double aux = softplus_total / (double)K;
  if (loss) semcl_row_losses(ctr, aux, lambda, loss, loss_ctr, loss_aux);
  if (grad_raw) *grad_raw = (float)(row_scale * (double)dctr);
  if (grad_pos)
    *grad_pos = semcl_pos_neg_pos_grad(row_scale, lambda, semcl_neg_sign(y), sigmoid_total, K);
  *ctr_out = (double)ctr;
  *aux_out = aux;
}

/* The three reduced losses from the fp64 sums over rows. */
SEMCL_FN void semcl_reduced_losses(double ctr_sum, double aux_sum, float lambda, int is_mean,
                                   int64_t B, float *loss, float *loss_ctr, float *loss_aux) {
  const double ctr = is_mean ? ctr_sum / (double)B : ctr_sum;
  const double aux = is_mean ? aux_sum / (double)B : aux_sum;
  *loss_ctr = (float)ctr;
  *loss_aux = (float)aux;
  *loss = (float)(ctr + (double)lambda * aux);
}

#endif /* SEMCL_ORDER_H */
