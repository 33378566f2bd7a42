/* reference_embed.h — plain-loop fp64 reference of the embedding calls: the tests' oracle.
 *
 * Scores are fp64 dot products of the (float) embeddings times the scale; the losses and
 * gradients are the definitions of docs/losses.md and docs/embeddings.md written as loops in
 * double (built on the scalar functions of reference.h). Alongside, it returns the magnitudes
 * that the documented error bounds of docs/embeddings.md are stated in, so a test can check
 * the library against exactly that bound. */
#ifndef SEMCL_TEST_REFERENCE_EMBED_H
#define SEMCL_TEST_REFERENCE_EMBED_H

#include <stdint.h>

#include "reference.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 0: loss 1 (positive-only), 1: per-row negatives (neg is (B,K,D)), 2: shared pool (neg is
 * (K,D), K = N). */
enum { SEMCL_REF_POSITIVE_ONLY = 0, SEMCL_REF_PER_ROW = 1, SEMCL_REF_SHARED = 2 };

typedef struct semcl_ref_embed_args {
  int kind;
  int64_t B, K, D;
  const float *user, *item_raw, *item_pos, *neg;
  const float *y;
  double lambda;
  semcl_reduction_t reduction;
  double grad_scale;
  const double *upstream;      /* NULL, (1) or (B) */
  semcl_ref_options options;   /* masks (B,K), counts, weights, pos_weight */
  const int64_t *pos_index;    /* shared only: (B) or NULL */
  double scale;                /* score scale */
} semcl_ref_embed_args;

/* Outputs (any pointer may be NULL; losses (1) or (B); grad_user, grad_raw, grad_pos (B,D);
 * grad_neg (B,K,D) per-row, (K,D) shared). */
typedef struct semcl_ref_embed_out {
  double *loss, *loss_ctr, *loss_aux;
  double *grad_user, *grad_raw, *grad_pos, *grad_neg;
} semcl_ref_embed_out;

/* The documented error bound of every output (docs/embeddings.md, "Accuracy"), evaluated on
 * the exact values: |library - reference| <= bound, element by element. gemm_unit: the unit
 * roundoff of the shared pool's GEMM inputs (2^-24 for fp32, 2^-11 for TF32; ignored for the
 * other calls). Same shapes as semcl_ref_embed_out; any pointer may be NULL. */
typedef struct semcl_ref_embed_bounds {
  double gemm_unit;
  double *loss, *loss_ctr, *loss_aux;
  double *grad_user, *grad_raw, *grad_pos, *grad_neg;
} semcl_ref_embed_bounds;

void semcl_ref_embed(const semcl_ref_embed_args *a, const semcl_ref_embed_out *o,
                     const semcl_ref_embed_bounds *bounds);

/* Whether negative k of row b is real under a's masks (and pos_index). */
int semcl_ref_embed_real(const semcl_ref_embed_args *a, int64_t b, int64_t k);

#ifdef __cplusplus
}
#endif

#endif
