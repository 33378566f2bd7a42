/*
 * cuda_common.h — shared by the CUDA backend's translation units (not installed).
 *
 * The .cu files are CUDA C++; every function that crosses a file boundary has C linkage
 * (extern "C"), so the backend links with the C core exactly like the CPU backend does.
 */
#ifndef SEMCL_CUDA_COMMON_H
#define SEMCL_CUDA_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cuda_runtime.h>

extern "C" {
#include "semcl_internal.h"
}
#include "semcl_order.h"

/* Every row-block kernel runs one canonical row block (SEMCL_ROW_BLOCK rows) per CUDA block
 * with this many threads: thread t owns row t of the block in the per-row phases. */
#define SEMCL_CUDA_ROW_THREADS SEMCL_ROW_BLOCK
/* Grids are grid-stride loops capped at this many blocks (any GPU is full long before). */
#define SEMCL_CUDA_MAX_GRID ((int64_t)1 << 22)

extern "C" {

/* Maps a CUDA error to a status and records "<what>: <name>: <text>" in the context message.
 * cudaErrorMemoryAllocation gives SEMCL_STATUS_OUT_OF_MEMORY, everything else
 * SEMCL_STATUS_CUDA_ERROR. It does not touch the runtime's last error: the backend's entry
 * points clear what their own failures recorded, and only when the caller had nothing pending
 * (see cuda_backend.cu). */
semcl_status_t semcl_cuda_fail(semcl_context *ctx, cudaError_t err, const char *what);

/* ---- workspace layout (bytes; always a multiple of 16) ---------------------------------- */
/* Row-block partial sums: ctr[blocks] then aux[blocks], fp64. */
size_t semcl_cuda_block_partials_bytes(int64_t B);
size_t semcl_cuda_pos_neg_workspace(int64_t B, int64_t K);
size_t semcl_cuda_positive_only_workspace(int64_t B);

/* ---- launchers: enqueue on `stream`, never synchronise; return a status --------------- */
semcl_status_t semcl_cuda_pos_neg_launch(semcl_context *ctx, const semcl_problem *p,
                                         void *workspace, cudaStream_t stream);
semcl_status_t semcl_cuda_positive_only_launch(semcl_context *ctx, const semcl_problem *p,
                                               void *workspace, cudaStream_t stream);
/* Fixed-order fp64 sum of the row-block partials into loss, loss_ctr, loss_aux (one value
 * each); only for MEAN and SUM. */
semcl_status_t semcl_cuda_finish_reduction_launch(semcl_context *ctx, const semcl_problem *p,
                                                  const double *block_ctr,
                                                  const double *block_aux, int64_t blocks,
                                                  cudaStream_t stream);

} /* extern "C" */

/* Launches kernel<<<grid, block, 0, stream>>>(args...) and checks the launch by its own return
 * value (cudaLaunchKernelEx returns the launch's error: bad configuration, no kernel image for
 * the device, too many resources, ...). No cudaGetLastError: an error the caller left pending
 * is neither read nor cleared, and an old one is not mistaken for this launch's. `what` names
 * the kernel in the context message. */
template <typename... Params, typename... Args>
static inline semcl_status_t semcl_cuda_launch(semcl_context *ctx, const char *what,
                                               void (*kernel)(Params...), unsigned grid,
                                               unsigned block, cudaStream_t stream,
                                               Args... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(grid);
  config.blockDim = dim3(block);
  config.dynamicSmemBytes = 0;
  config.stream = stream;
  config.attrs = NULL;
  config.numAttrs = 0;
  const cudaError_t err = cudaLaunchKernelEx(&config, kernel, args...);
  return err == cudaSuccess ? SEMCL_STATUS_SUCCESS : semcl_cuda_fail(ctx, err, what);
}

#if defined(__CUDACC__)
#define SEMCL_CUDA_HD static __host__ __device__ __forceinline__
#else
#define SEMCL_CUDA_HD static inline
#endif

SEMCL_CUDA_HD int64_t semcl_cuda_row_blocks(int64_t B) {
  return (B + SEMCL_ROW_BLOCK - 1) / SEMCL_ROW_BLOCK;
}

static inline unsigned semcl_cuda_grid(int64_t blocks_needed) {
  if (blocks_needed < 1) blocks_needed = 1;
  return (unsigned)(blocks_needed < SEMCL_CUDA_MAX_GRID ? blocks_needed : SEMCL_CUDA_MAX_GRID);
}

#endif /* SEMCL_CUDA_COMMON_H */
