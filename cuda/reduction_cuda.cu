/*
 * reduction_cuda.cu — the tree T (src/semcl_fold.h) over values already in device memory, for
 * both losses: the row-tile values (then the reduced losses, the twin of
 * src/cpu/reduction_cpu.c) and, for split-K rows with more than 256 chunk groups, each row's
 * group values.
 *
 * A level launch gives one warp to every aligned run of 256 values of every segment, all in
 * parallel: T over the run (semcl_cuda_warp_tree_of), one value out. An aligned run of 256 is a
 * node of T, and a short last run is T over its values padded with -0.0, so levels repeated
 * until at most 256 values remain, then one more warp, compute exactly T over the segment.
 */
#include "cuda_device.cuh"

/* input: in (segments, n_in); output: out (segments, n_out), n_out = ceil(n_in / 256) */
__global__ void __launch_bounds__(SEMCL_CUDA_THREADS)
    semcl_tree_level_kernel(const double2 *in, int64_t segments, int64_t n_in, double2 *out,
                            int64_t n_out) {
  const int lane = (int)(threadIdx.x & (SEMCL_WARP - 1));
  const int64_t stride = (int64_t)gridDim.x * SEMCL_CUDA_WARPS;
  /* t is the same in every lane of a warp. */
  for (int64_t t = (int64_t)blockIdx.x * SEMCL_CUDA_WARPS + threadIdx.x / SEMCL_WARP;
       t < segments * n_out; t += stride) {
    const int64_t seg = t / n_out;
    const int64_t first = (t - seg * n_out) * SEMCL_CUDA_TREE_FANIN;
    const int64_t n = n_in - first < SEMCL_CUDA_TREE_FANIN ? n_in - first : SEMCL_CUDA_TREE_FANIN;
    const double2 v = semcl_cuda_warp_tree_of(in + seg * n_in + first, n, lane);
    if (lane == 0) out[t] = v;
  }
}

/* input: tiles (n <= 256), real_pairs (1) or NULL; output: loss, loss_ctr, loss_aux (1) */
__global__ void __launch_bounds__(SEMCL_WARP)
    semcl_finish_reduction_kernel(const double2 *tiles, int64_t n, semcl_row_consts rc,
                                  double aux_denominator, const unsigned long long *real_pairs,
                                  float *loss, float *loss_ctr, float *loss_aux) {
  const double2 sums = semcl_cuda_warp_tree_of(tiles, n, (int)threadIdx.x);
  if (threadIdx.x == 0) {
    const double denominator = real_pairs ? (double)(int64_t)*real_pairs : aux_denominator;
    semcl_reduced_losses(&rc, sums.x, sums.y, denominator, loss, loss_ctr, loss_aux);
  }
}

extern "C" semcl_status_t semcl_cuda_tree_levels(semcl_context *ctx, double2 *values,
                                                 double2 *spare, int64_t segments, int64_t n,
                                                 double2 **out, int64_t *n_out,
                                                 cudaStream_t stream) {
  double2 *cur = values, *other = spare;
  while (n > SEMCL_CUDA_TREE_FANIN) {
    const int64_t m = semcl_cuda_div_up(n, SEMCL_CUDA_TREE_FANIN);
    const unsigned grid = semcl_cuda_grid(semcl_cuda_div_up(segments * m, SEMCL_CUDA_WARPS));
    const semcl_status_t st = SEMCL_CUDA_LAUNCH(ctx, "launching semcl_tree_level_kernel", semcl_tree_level_kernel, grid, SEMCL_CUDA_THREADS, stream, cur, segments, n,
                      other, m);
    if (st != SEMCL_STATUS_SUCCESS) return st;
    double2 *const done = cur; /* its values are consumed: the next level writes there */
    cur = other;
    other = done;
    n = m;
  }
  *out = cur;
  *n_out = n;
  return SEMCL_STATUS_SUCCESS;
}

extern "C" semcl_status_t semcl_cuda_finish_reduction(semcl_context *ctx, const semcl_problem *p,
                                                      const semcl_row_consts *rc, double2 *tiles,
                                                      double2 *spare, int64_t n_tiles,
                                                      double aux_denominator,
                                                      const unsigned long long *real_pairs,
                                                      cudaStream_t stream) {
  double2 *rest = NULL;
  int64_t n_rest = 0;
  const semcl_status_t st =
      semcl_cuda_tree_levels(ctx, tiles, spare, 1, n_tiles, &rest, &n_rest, stream);
  if (st != SEMCL_STATUS_SUCCESS) return st;
  return SEMCL_CUDA_LAUNCH(ctx, "launching semcl_finish_reduction_kernel", semcl_finish_reduction_kernel, 1, SEMCL_WARP, stream, rest, n_rest, *rc,
                    aux_denominator, real_pairs, p->loss, p->loss_ctr, p->loss_aux);
}

extern "C" size_t semcl_cuda_tile_tree_bytes(int64_t tiles) {
  return semcl_round16((size_t)tiles * sizeof(double2)) +
         semcl_round16((size_t)semcl_cuda_div_up(tiles, SEMCL_CUDA_TREE_FANIN) *
                            sizeof(double2));
}
