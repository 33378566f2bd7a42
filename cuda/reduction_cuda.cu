/*
 * reduction_cuda.cu — the fixed-order second stage over row blocks (both losses), the CUDA
 * twin of src/cpu/reduction_cpu.c.
 *
 * The block sums are added in fp64 in block order from 0.0 — a dependent chain, so one
 * thread runs it (thread 0 for L_ctr, thread 32 for L_aux, concurrently). The block stages
 * tiles of the partials into shared memory with coalesced loads so that the chain only waits
 * on shared-memory reads.
 */
#include "cuda_device.cuh"

#define SEMCL_FINISH_THREADS 256
#define SEMCL_FINISH_TILE 1024

/* input: block_ctr (blocks), block_aux (blocks); output: loss, loss_ctr, loss_aux (1) */
__global__ void __launch_bounds__(SEMCL_FINISH_THREADS)
    semcl_finish_reduction_kernel(const double *block_ctr, const double *block_aux,
                                  int64_t blocks, float lambda, int is_mean, int64_t B,
                                  float *loss, float *loss_ctr, float *loss_aux) {
  __shared__ double s_ctr[SEMCL_FINISH_TILE];
  __shared__ double s_aux[SEMCL_FINISH_TILE];
  __shared__ double s_aux_total;
  double ctr_sum = 0.0, aux_sum = 0.0; /* live in threads 0 and 32 */
  for (int64_t first = 0; first < blocks; first += SEMCL_FINISH_TILE) {
    const int n = (int)(blocks - first < SEMCL_FINISH_TILE ? blocks - first : SEMCL_FINISH_TILE);
    for (int i = (int)threadIdx.x; i < n; i += (int)blockDim.x) {
      s_ctr[i] = block_ctr[first + i];
      s_aux[i] = block_aux[first + i];
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int i = 0; i < n; ++i) ctr_sum += s_ctr[i];
    } else if (threadIdx.x == 32) {
      for (int i = 0; i < n; ++i) aux_sum += s_aux[i];
    }
    __syncthreads();
  }
  if (threadIdx.x == 32) s_aux_total = aux_sum;
  __syncthreads();
  if (threadIdx.x == 0)
    semcl_reduced_losses(ctr_sum, s_aux_total, lambda, is_mean, B, loss, loss_ctr, loss_aux);
}

extern "C" semcl_status_t semcl_cuda_finish_reduction_launch(
    semcl_context *ctx, const semcl_problem *p, const double *block_ctr,
    const double *block_aux, int64_t blocks, cudaStream_t stream) {
  return semcl_cuda_launch(ctx, "launching the final reduction", semcl_finish_reduction_kernel,
                           1, SEMCL_FINISH_THREADS, stream, block_ctr, block_aux, blocks,
                           p->lambda, (int)(p->reduction == SEMCL_REDUCTION_MEAN), p->B, p->loss,
                           p->loss_ctr, p->loss_aux);
}

extern "C" size_t semcl_cuda_block_partials_bytes(int64_t B) {
  return (size_t)semcl_cuda_row_blocks(B) * 2 * sizeof(double);
}
