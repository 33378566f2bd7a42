/*
 * positive_only_cuda.cu — loss 1 (positive-only semantic consistency) on CUDA.
 *
 * One CUDA block of SEMCL_ROW_BLOCK threads per canonical row block, one thread per row:
 * BCE, the sign-conditioned softplus and its sigmoid, the per-row outputs and gradients, then
 * the block's fp64 sums in row order; the block sums are added in block order by
 * reduction_cuda.cu. Bitwise identical to src/cpu/positive_only_cpu.c (same SEMCL_FN math,
 * same order).
 */
#include "cuda_device.cuh"

typedef struct positive_only_args {
  int64_t B;
  const float *score_raw, *score_pos, *y; /* (B) */
  const float *grad_upstream;            /* (1) or (B), may be NULL */
  float lambda, grad_scale;
  int none, is_mean;
  float *loss, *loss_ctr, *loss_aux; /* (1) or (B) */
  float *grad_raw, *grad_pos;        /* (B), may be NULL */
  double *block_ctr, *block_aux;     /* (row blocks) workspace */
} positive_only_args;

/* input: score_raw, score_pos, y (B), grad_upstream (1|B)
 * output: per-sample losses (NONE) or block partials (MEAN/SUM), grad_raw, grad_pos (B) */
__global__ void __launch_bounds__(SEMCL_CUDA_ROW_THREADS)
    positive_only_kernel(positive_only_args a) {
  __shared__ double s_ctr[SEMCL_ROW_BLOCK];
  __shared__ double s_aux[SEMCL_ROW_BLOCK];
  const int64_t blocks = semcl_cuda_row_blocks(a.B);
  for (int64_t blk = blockIdx.x; blk < blocks; blk += gridDim.x) {
    const int64_t first = blk * SEMCL_ROW_BLOCK;
    const int n = (int)(a.B - first < SEMCL_ROW_BLOCK ? a.B - first : SEMCL_ROW_BLOCK);
    const int i = (int)threadIdx.x;
    if (i < n) {
      const int64_t b = first + i;
      const float raw = a.score_raw[b], y = a.y[b];
      float ctr, unused_dctr, aux, unused_sigmoid; /* gradients: fp64, below */
      semcl_bce_with_logits(raw, y, &ctr, &unused_dctr);
      semcl_softplus_sigmoid(semcl_neg_sign(y) * (a.score_pos[b] - raw), &aux, &unused_sigmoid);
      if (a.none)
        semcl_row_losses(ctr, (double)aux, a.lambda, a.loss + b, a.loss_ctr + b, a.loss_aux + b);
      if (a.grad_raw || a.grad_pos) {
        const double scale =
            semcl_row_scale(a.grad_scale, a.grad_upstream, a.none, a.is_mean, a.B, b);
        float graw, gpos;
        semcl_positive_only_grads(scale, a.lambda, raw, a.score_pos[b], y, &graw, &gpos);
        if (a.grad_raw) a.grad_raw[b] = graw;
        if (a.grad_pos) a.grad_pos[b] = gpos;
      }
      s_ctr[i] = (double)ctr;
      s_aux[i] = (double)aux;
    }
    if (!a.none) semcl_cuda_fold_row_block(s_ctr, s_aux, n, a.block_ctr, a.block_aux, blk);
  }
}

extern "C" size_t semcl_cuda_positive_only_workspace(int64_t B) {
  return semcl_cuda_block_partials_bytes(B);
}

extern "C" semcl_status_t semcl_cuda_positive_only_launch(semcl_context *ctx,
                                                          const semcl_problem *p,
                                                          void *workspace, cudaStream_t stream) {
  positive_only_args a;
  memset(&a, 0, sizeof a);
  a.B = p->B;
  a.score_raw = p->score_raw;
  a.score_pos = p->score_pos;
  a.y = p->y;
  a.grad_upstream = p->grad_upstream;
  a.lambda = p->lambda;
  a.grad_scale = p->grad_scale;
  a.none = p->reduction == SEMCL_REDUCTION_NONE;
  a.is_mean = p->reduction == SEMCL_REDUCTION_MEAN;
  a.loss = p->loss;
  a.loss_ctr = p->loss_ctr;
  a.loss_aux = p->loss_aux;
  a.grad_raw = p->grad_raw;
  a.grad_pos = p->grad_pos;
  const int64_t blocks = semcl_cuda_row_blocks(p->B);
  a.block_ctr = (double *)workspace;
  a.block_aux = a.block_ctr + blocks;
  const semcl_status_t st =
      semcl_cuda_launch(ctx, "launching positive_only_kernel", positive_only_kernel,
                        semcl_cuda_grid(blocks), SEMCL_CUDA_ROW_THREADS, stream, a);
  if (st != SEMCL_STATUS_SUCCESS) return st;
  if (a.none) return SEMCL_STATUS_SUCCESS;
  return semcl_cuda_finish_reduction_launch(ctx, p, a.block_ctr, a.block_aux, blocks, stream);
}
