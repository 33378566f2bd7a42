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
#include "semcl_row.h"

/* Every kernel runs blocks of this many threads (8 warps). */
#define SEMCL_CUDA_THREADS 256
#define SEMCL_CUDA_WARPS (SEMCL_CUDA_THREADS / 32)
/* Grids are grid-stride loops capped at this many blocks (any GPU is full long before). */
#define SEMCL_CUDA_MAX_GRID ((int64_t)1 << 22)
/* Values one warp adds by the tree T in one step (8 per lane, then 5 shuffle levels). */
#define SEMCL_CUDA_TREE_FANIN 256

extern "C" {

/* Maps a CUDA error to a status and records "<what>: <name>: <text>" in the context message.
 * cudaErrorMemoryAllocation gives SEMCL_STATUS_OUT_OF_MEMORY, everything else
 * SEMCL_STATUS_CUDA_ERROR. It does not touch the runtime's last error: the backend's entry
 * points clear what their own failures recorded, and only when the caller had nothing pending
 * (see cuda_backend.cu). */
semcl_status_t semcl_cuda_fail(semcl_context *ctx, cudaError_t err, const char *what);

/* ---- workspace (bytes; an upper bound for every option; a multiple of 16) --------------- */
size_t semcl_cuda_pos_neg_workspace(int64_t B, int64_t K);
size_t semcl_cuda_positive_only_workspace(int64_t B);
/* Room for the row-tile values of `tiles` tiles and the tree's ping-pong level:
 * 16 * (tiles + ceil(tiles / 256)), each part rounded to 16 bytes. */
size_t semcl_cuda_tile_tree_bytes(int64_t tiles);

/* ---- launchers: enqueue on `stream`, never synchronise; return a status --------------- */
semcl_status_t semcl_cuda_pos_neg_launch(semcl_context *ctx, const semcl_problem *p,
                                         void *workspace, cudaStream_t stream);
semcl_status_t semcl_cuda_positive_only_launch(semcl_context *ctx, const semcl_problem *p,
                                               void *workspace, cudaStream_t stream);

/* The tree T (semcl_fold.h) over `segments` independent runs of values, in place of the runs:
 * values[s * n + i] (i < n) are reduced by fan-in-256 levels, ping-ponging between `values`
 * and `spare`, until at most 256 remain per run. Returns (through *out and *n_out) where the
 * remaining values of run s are: (*out)[s * *n_out + i], i < *n_out. `spare` must hold
 * segments * ceil(n / 256) values; `values` is overwritten from the second level on. */
semcl_status_t semcl_cuda_tree_levels(semcl_context *ctx, double2 *values, double2 *spare,
                                      int64_t segments, int64_t n, double2 **out, int64_t *n_out,
                                      cudaStream_t stream);

/* The last stage of MEAN and SUM: T over the row-tile values (ctr, aux) in `tiles`
 * (overwritten) and semcl_reduced_losses into loss, loss_ctr, loss_aux. The aux denominator
 * is *real_pairs when real_pairs is not NULL (masked pairwise calls: counted on the device),
 * else aux_denominator. */
semcl_status_t semcl_cuda_finish_reduction(semcl_context *ctx, const semcl_problem *p,
                                           const semcl_row_consts *rc, double2 *tiles,
                                           double2 *spare, int64_t n_tiles, double aux_denominator,
                                           const unsigned long long *real_pairs,
                                           cudaStream_t stream);

} /* extern "C" */


static inline unsigned semcl_cuda_grid(int64_t blocks_needed) {
  if (blocks_needed < 1) blocks_needed = 1;
  return (unsigned)(blocks_needed < SEMCL_CUDA_MAX_GRID ? blocks_needed : SEMCL_CUDA_MAX_GRID);
}

static inline __host__ __device__ int64_t semcl_cuda_div_up(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

#endif /* SEMCL_CUDA_COMMON_H */
