/*
 * embed_reduce_cuda.cu — the embedding calls' last stage on CUDA: the tree T of semcl_fold.h
 * over the rows' fp64 leaves, then the reduced losses (MEAN, SUM).
 *
 * T is computed level by level: a block sums an aligned group of TREE_GROUP values in place
 * with T's rule (v[i] += v[i+w] for w = 1, 2, 4, ... and i + w < n), which leaves in v[0] the
 * node of T for that group (or T of the tail); T over the group values is T over all values.
 * The same bits as the CPU's semcl_tree_sum_inplace and tree streams, whatever the grid.
 */
#include "embed_device.cuh"

#define TREE_GROUP 1024
#define TREE_THREADS 256

/* in_*[0..n) -> out_*[g] = T(group g), groups of TREE_GROUP. */
__global__ void __launch_bounds__(TREE_THREADS)
    embed_tree_level_kernel(const double *in_ctr, const double *in_aux, int64_t n, double *out_ctr,
                            double *out_aux) {
  __shared__ double s_ctr[TREE_GROUP], s_aux[TREE_GROUP];
  const int64_t groups = (n + TREE_GROUP - 1) / TREE_GROUP;
  for (int64_t g = blockIdx.x; g < groups; g += gridDim.x) {
    const int64_t first = g * TREE_GROUP;
    const int m = (int)(n - first < TREE_GROUP ? n - first : TREE_GROUP);
    for (int i = (int)threadIdx.x; i < m; i += TREE_THREADS) {
      s_ctr[i] = in_ctr[first + i];
      s_aux[i] = in_aux[first + i];
    }
    __syncthreads();
    for (int w = 1; w < m; w *= 2) {
      for (int i = 2 * w * (int)threadIdx.x; i + w < m; i += 2 * w * TREE_THREADS) {
        s_ctr[i] = s_ctr[i] + s_ctr[i + w];
        s_aux[i] = s_aux[i] + s_aux[i + w];
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      out_ctr[g] = s_ctr[0];
      out_aux[g] = s_aux[0];
    }
    __syncthreads();
  }
}

__global__ void embed_reduced_losses_kernel(const double *sums, float lambda, int reduction,
                                            int64_t B, const unsigned long long *total,
                                            double n_pairs, float *loss, float *loss_ctr,
                                            float *loss_aux) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  semcl_row_consts rc;
  rc.lambda = lambda;
  rc.grad_scale = 1.0f;
  rc.grad_upstream = NULL;
  rc.reduction = reduction;
  rc.B = B;
  rc.N = total ? (double)*total : n_pairs;
  semcl_reduced_losses(&rc, sums[0], sums[1], rc.N, loss, loss_ctr, loss_aux);
}

/* Scratch for the levels above the leaves: every level's values, ctr then aux. */
extern "C" size_t semcl_cuda_embed_tree_bytes(int64_t B) {
  size_t doubles = 2;
  for (int64_t n = B; n > 1; n = (n + TREE_GROUP - 1) / TREE_GROUP)
    doubles += 2 * (size_t)((n + TREE_GROUP - 1) / TREE_GROUP);
  return semcl_round16(doubles * sizeof(double));
}

extern "C" semcl_status_t semcl_cuda_embed_reduce(semcl_context *ctx, const semcl_embed_problem *p,
                                                  double *leaf_ctr, double *leaf_aux,
                                                  double *levels, const unsigned long long *total,
                                                  double n_pairs, cudaStream_t stream) {
  const double *in_ctr = leaf_ctr, *in_aux = leaf_aux;
  double *next = levels;
  for (int64_t n = p->B; n > 1; n = (n + TREE_GROUP - 1) / TREE_GROUP) {
    const int64_t groups = (n + TREE_GROUP - 1) / TREE_GROUP;
    double *out_ctr = next, *out_aux = next + groups;
    const semcl_status_t st = SEMCL_CUDA_LAUNCH(
        ctx, "launching the tree over rows", embed_tree_level_kernel, semcl_embed_grid(groups),
        TREE_THREADS, stream, in_ctr, in_aux, n, out_ctr, out_aux);
    if (st != SEMCL_STATUS_SUCCESS) return st;
    in_ctr = out_ctr;
    in_aux = out_aux;
    next = out_aux + groups;
  }
  /* The two sums side by side for the last kernel. */
  double *sums = next;
  cudaError_t err = cudaMemcpyAsync(sums, in_ctr, sizeof(double), cudaMemcpyDeviceToDevice, stream);
  if (err == cudaSuccess)
    err = cudaMemcpyAsync(sums + 1, in_aux, sizeof(double), cudaMemcpyDeviceToDevice, stream);
  if (err != cudaSuccess) return semcl_cuda_fail(ctx, err, "gathering the row sums");
  return SEMCL_CUDA_LAUNCH(ctx, "launching the reduced losses", embed_reduced_losses_kernel,
                           semcl_embed_grid(1), 32, stream, (const double *)sums, p->lambda,
                           (int)p->reduction, p->B, total, n_pairs, p->loss, p->loss_ctr,
                           p->loss_aux);
}
