/*
 * embed_cuda.h — the CUDA side of the embedding calls (not installed): workspace layouts,
 * launchers, the cuBLAS handle of a context. Self-contained on purpose: it needs from the rest
 * of the CUDA backend only cuda_common.h (semcl_cuda_fail, the grid cap) and, in the kernel
 * files, cuda_device.cuh's launch macro SEMCL_CUDA_LAUNCH.
 *
 * Every kernel here follows the canonical orders of src/semcl_embed.h (and semcl_fold.h,
 * semcl_row.h) and calls the same SEMCL_FN helpers as the CPU kernels, so per-row negatives and
 * loss 1 are bitwise identical to the CPU backend. The shared pool's GEMMs are cuBLAS's.
 */
#ifndef SEMCL_EMBED_CUDA_H
#define SEMCL_EMBED_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "cuda_common.h"

#define SEMCL_EMBED_WITH_PROBLEM
extern "C" {
#include "semcl_embed.h"
}

#define SEMCL_EMBED_WARP 32
#define SEMCL_EMBED_BLOCK 256 /* threads per block: 8 warps */
/* Largest D whose per-lane values live in registers (ceil(D/32) <= 8); larger D runs a
 * generic path that keeps the grad_user partial in the workspace. */
#define SEMCL_EMBED_REG_LANES 8

extern "C" {

/* Device workspace bytes of an embedding call (kind: SEMCL_EMBED_KIND_*; staged: 16-bit
 * embeddings, with room for their fp32 copies, src/semcl_embed_stage.h). */
size_t semcl_cuda_embed_workspace(int kind, int64_t B, int64_t K, int64_t D, int staged);

/* Enqueues the whole call on `stream` (no host synchronisation except the first shared-pool
 * call of a context, which creates its cuBLAS handle). The context's device is current.
 * embed_stage_cuda.cu: 16-bit embeddings are staged, then the fp32 machinery below runs. */
semcl_status_t semcl_cuda_embed_launch(semcl_context *ctx, const semcl_embed_problem *p,
                                       void *workspace, cudaStream_t stream);

/* The fp32 machinery (embed_rows_cuda.cu, embed_shared_cuda.cu): every embedding array fp32,
 * except per-row item_neg and grad_item_neg, which are in p->dtype. Its workspace comes first
 * in the call's workspace. */
size_t semcl_cuda_embed_workspace_fp32(int kind, int64_t B, int64_t K, int64_t D);
semcl_status_t semcl_cuda_embed_launch_fp32(semcl_context *ctx, const semcl_embed_problem *p,
                                            void *workspace, cudaStream_t stream);

/* Frees what the embedding calls keep in the context (the cuBLAS handle); the context's
 * device is current. NULL-safe on contexts that never ran one. */
void semcl_cuda_embed_release(semcl_context *ctx);

/* ---- pieces shared by the embedding translation units ------------------------------------ */

/* Real negatives per row (masks, counts, pos_index) into counts[b] and their total into
 * *total (zeroed first); integer sums, so the order does not matter. */
semcl_status_t semcl_cuda_embed_count(semcl_context *ctx, const semcl_embed_problem *p,
                                      int64_t *counts, unsigned long long *total,
                                      cudaStream_t stream);

/* T over the rows' fp64 leaves (leaf_ctr, leaf_aux: B each; overwritten as scratch together
 * with `levels`, semcl_cuda_embed_tree_bytes(B) bytes) into loss, loss_ctr, loss_aux (MEAN,
 * SUM). aux_denominator: B, or N (from *total when total != NULL, else n_pairs). */
semcl_status_t semcl_cuda_embed_reduce(semcl_context *ctx, const semcl_embed_problem *p,
                                       double *leaf_ctr, double *leaf_aux, double *levels,
                                       const unsigned long long *total, double n_pairs,
                                       cudaStream_t stream);
size_t semcl_cuda_embed_tree_bytes(int64_t B);

/* The shared pool (embed_shared_cuda.cu). */
size_t semcl_cuda_shared_workspace(int64_t B, int64_t N, int64_t D);
semcl_status_t semcl_cuda_shared_launch(semcl_context *ctx, const semcl_embed_problem *p,
                                        void *workspace, cudaStream_t stream);

} /* extern "C" */

/* The call's scalars as the kernels see them; N is filled on the device (masked MEAN). */
typedef struct semcl_embed_scalars {
  float lambda, grad_scale, scale;
  const float *grad_upstream;
  int reduction;
  int64_t B;
  double n_pairs;                    /* B*K (unmasked) */
  const unsigned long long *n_total; /* device total of real pairs, or NULL */
} semcl_embed_scalars;

static __device__ __forceinline__ semcl_row_consts
semcl_embed_row_consts(const semcl_embed_scalars &s) {
  semcl_row_consts rc;
  rc.lambda = s.lambda;
  rc.grad_scale = s.grad_scale;
  rc.grad_upstream = s.grad_upstream;
  rc.reduction = s.reduction;
  rc.B = s.B;
  rc.N = s.n_total ? (double)*s.n_total : s.n_pairs;
  return rc;
}

static inline semcl_embed_scalars semcl_embed_scalars_of(const semcl_embed_problem *p,
                                                         const unsigned long long *n_total) {
  semcl_embed_scalars s;
  s.lambda = p->lambda;
  s.grad_scale = p->grad_scale;
  s.scale = p->score_scale;
  s.grad_upstream = p->grad_upstream;
  s.reduction = (int)p->reduction;
  s.B = p->B;
  s.n_pairs = (double)p->B * (double)p->K;
  s.n_total = n_total;
  return s;
}

/* The fields every embedding kernel's argument struct has (Args: embed_rows_args,
 * shared_args), from the call: sizes, row inputs, options, scalars, per-sample losses, row
 * gradients, and the fp64 leaves (2 x B doubles at `leaves`). counts and total: the masked
 * call's real negatives per row and their total on the device, or NULL. */
template <typename Args>
static inline void semcl_embed_fill_rows(Args &a, const semcl_embed_problem *p,
                                         const int64_t *counts, const unsigned long long *total,
                                         char *leaves) {
  a.B = p->B;
  a.D = p->D;
  a.user = (const float *)p->user;
  a.item_raw = (const float *)p->item_raw;
  a.item_pos = (const float *)p->item_pos;
  a.y = p->y;
  a.neg_mask = p->neg_mask;
  a.neg_count = p->neg_count;
  a.weight = p->weight;
  a.pos_weight = p->pos_weight;
  a.pos_weight_count = p->pos_weight_count;
  a.counts = counts;
  a.s = semcl_embed_scalars_of(p, total);
  a.bwd = semcl_embed_backward(p);
  a.loss = p->loss;
  a.loss_ctr = p->loss_ctr;
  a.loss_aux = p->loss_aux;
  a.grad_user = (float *)p->grad_user;
  a.grad_item_raw = (float *)p->grad_item_raw;
  a.grad_item_pos = (float *)p->grad_item_pos;
  a.leaf_ctr = (double *)leaves;
  a.leaf_aux = a.leaf_ctr + p->B;
}

/* A launch's grid: its grid-stride loops cover any count, capped like the loss kernels'. */
static inline int64_t semcl_embed_grid(int64_t blocks) {
  return blocks < 1 ? 1 : (blocks > SEMCL_CUDA_MAX_GRID ? SEMCL_CUDA_MAX_GRID : blocks);
}

#endif /* SEMCL_EMBED_CUDA_H */
