/*
 * positive_only_cuda.cu — loss 1 (positive-only semantic consistency) on CUDA.
 *
 * One thread per row: semcl_positive_only_finish_row (the CPU path's row function: BCE and the
 * sign-conditioned softplus in fp32, the gradients in fp64 as semcl_row.h requires), the
 * per-sample outputs and gradients; blocks of 256 threads take aligned tiles of 256 rows
 * (grid-stride) and warp 0 adds the tile's leaves by T; reduction_cuda.cu adds the tile values
 * by T. Bitwise identical to src/cpu/positive_only_cpu.c (same functions, same tree).
 */
#include "cuda_device.cuh"

#define SEMCL_POSITIVE_ONLY_TILE SEMCL_CUDA_THREADS

typedef struct semcl_positive_only_args {
  semcl_row_consts rc;
  int64_t B;
  const void *score_raw, *score_pos; /* (B) in dtype */
  const float *y;                    /* (B) */
  const float *weight;               /* (B) or NULL */
  const float *pos_weight;           /* (pos_weight_count: 1 or B) or NULL */
  int64_t pos_weight_count;
  float *loss, *loss_ctr, *loss_aux; /* (B): written here for NONE only */
  void *grad_raw, *grad_pos;         /* (B) in dtype, or NULL */
  double2 *tiles;                    /* (tiles) values for MEAN/SUM, NULL for NONE */
} semcl_positive_only_args;

/* input: score_raw, score_pos, y, weight, pos_weight (B), grad_upstream (1|B)
 * output: grad_raw, grad_pos (B); loss, loss_ctr, loss_aux (B) for NONE, else tiles */
template <int DT>
__global__ void __launch_bounds__(SEMCL_CUDA_THREADS)
    semcl_positive_only_kernel(semcl_positive_only_args a) {
  __shared__ semcl_cuda_leaves leaves;
  const semcl_row_consts rc = a.rc;
  const int tid = (int)threadIdx.x;
  const bool none = rc.reduction == SEMCL_ROW_NONE;
  const bool grads = a.grad_raw != NULL || a.grad_pos != NULL;
  const int64_t tiles = semcl_cuda_div_up(a.B, SEMCL_POSITIVE_ONLY_TILE);
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t first = tile * SEMCL_POSITIVE_ONLY_TILE;
    const int n =
        (int)(a.B - first < SEMCL_POSITIVE_ONLY_TILE ? a.B - first : SEMCL_POSITIVE_ONLY_TILE);
    if (tid < n) {
      const int64_t b = first + tid;
      const float w = a.weight ? a.weight[b] : 1.0f;
      const float pw = a.pos_weight ? a.pos_weight[a.pos_weight_count == 1 ? 0 : b] : 1.0f;
      const float raw = semcl_cuda_load<DT>(a.score_raw, b);
      const float pos = semcl_cuda_load<DT>(a.score_pos, b), y = a.y[b];
      float *loss = none ? a.loss + b : NULL, *loss_ctr = none ? a.loss_ctr + b : NULL;
      float *loss_aux = none ? a.loss_aux + b : NULL;
      double ctr, aux;
      if (grads) {
        float graw = 0.0f, gpos = 0.0f;
        semcl_positive_only_finish_row(&rc, b, raw, pos, y, w, pw, loss, loss_ctr, loss_aux, &graw,
                                       &gpos, &ctr, &aux);
        if (a.grad_raw) semcl_cuda_store<DT>(a.grad_raw, b, graw);
        if (a.grad_pos) semcl_cuda_store<DT>(a.grad_pos, b, gpos);
      } else { /* literal NULLs: the fp64 gradient code compiles away */
        semcl_positive_only_finish_row(&rc, b, raw, pos, y, w, pw, loss, loss_ctr, loss_aux, NULL,
                                       NULL, &ctr, &aux);
      }
      leaves.v[tid] = make_double2(ctr, aux);
    }
    if (a.tiles) { /* the same in every thread */
      __syncthreads();
      semcl_cuda_tile_value(leaves, n, a.tiles, tile);
    }
    __syncthreads(); /* the next tile overwrites the leaves */
  }
}

extern "C" size_t semcl_cuda_positive_only_workspace(int64_t B) {
  return semcl_cuda_tile_tree_bytes(semcl_cuda_div_up(B, SEMCL_POSITIVE_ONLY_TILE));
}

extern "C" semcl_status_t semcl_cuda_positive_only_launch(semcl_context *ctx,
                                                          const semcl_problem *p, void *workspace,
                                                          cudaStream_t stream) {
  semcl_positive_only_args a;
  memset(&a, 0, sizeof a);
  a.rc.lambda = p->lambda;
  a.rc.grad_scale = p->grad_scale;
  a.rc.grad_upstream = p->grad_upstream;
  a.rc.reduction = (int)p->reduction;
  a.rc.B = p->B;
  a.rc.N = (double)p->B;
  a.B = p->B;
  a.score_raw = p->score_raw;
  a.score_pos = p->score_pos;
  a.y = p->y;
  a.weight = p->weight;
  a.pos_weight = p->pos_weight;
  a.pos_weight_count = p->pos_weight_count;
  a.loss = p->loss;
  a.loss_ctr = p->loss_ctr;
  a.loss_aux = p->loss_aux;
  a.grad_raw = p->grad_raw;
  a.grad_pos = p->grad_pos;
  const int64_t tiles = semcl_cuda_div_up(p->B, SEMCL_POSITIVE_ONLY_TILE);
  const bool none = p->reduction == SEMCL_REDUCTION_NONE;
  double2 *tile_values = (double2 *)workspace;
  double2 *spare =
      (double2 *)((char *)workspace + semcl_round16((size_t)tiles * sizeof(double2)));
  a.tiles = none ? NULL : tile_values;

  void (*kernel)(semcl_positive_only_args) =
      p->dtype == SEMCL_DTYPE_FLOAT32    ? semcl_positive_only_kernel<SEMCL_DT_F32>
      : p->dtype == SEMCL_DTYPE_BFLOAT16 ? semcl_positive_only_kernel<SEMCL_DT_BF16>
                                         : semcl_positive_only_kernel<SEMCL_DT_F16>;
  const semcl_status_t st = SEMCL_CUDA_LAUNCH(ctx, "launching semcl_positive_only_kernel", kernel, semcl_cuda_grid(tiles), SEMCL_CUDA_THREADS, stream, a);
  if (st != SEMCL_STATUS_SUCCESS || none) return st;
  return semcl_cuda_finish_reduction(ctx, p, &a.rc, tile_values, spare, tiles, (double)p->B, NULL,
                                     stream);
}
