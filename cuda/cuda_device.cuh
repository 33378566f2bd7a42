/*
 * cuda_device.cuh — device helpers shared by the loss kernels (not installed).
 *
 * Everything here follows src/semcl_order.h: these helpers only move data between threads;
 * every arithmetic operation on a loss or gradient value is the one the CPU path performs,
 * in the same order, through the shared SEMCL_FN functions.
 */
#ifndef SEMCL_CUDA_DEVICE_CUH
#define SEMCL_CUDA_DEVICE_CUH

#include "cuda_common.h"
#include "semcl_math.h"
#include "semcl_order.h"

#define SEMCL_CUDA_FULL_MASK 0xffffffffu

/* The canonical row-block sum: s_ctr[0..n) and s_aux[0..n) added in fp64, in row order,
 * starting from 0.0, into block_ctr[blk] and block_aux[blk]. The two chains are independent,
 * so thread 0 and thread 32 (two different warps) run them concurrently.
 * Called by every thread of the block; starts and ends with a barrier, so the shared arrays
 * may be reused right after. */
static __device__ __forceinline__ void semcl_cuda_fold_row_block(const double *s_ctr,
                                                                 const double *s_aux, int n,
                                                                 double *block_ctr,
                                                                 double *block_aux,
                                                                 int64_t blk) {
  __syncthreads();
  if (threadIdx.x == 0) {
    double sum = 0.0;
    for (int i = 0; i < n; ++i) sum += s_ctr[i];
    block_ctr[blk] = sum;
  } else if (threadIdx.x == 32) {
    double sum = 0.0;
    for (int i = 0; i < n; ++i) sum += s_aux[i];
    block_aux[blk] = sum;
  }
  __syncthreads();
}

#endif /* SEMCL_CUDA_DEVICE_CUH */
