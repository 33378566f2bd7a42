/*
 * pos_neg_rows_cuda.cu — the pairwise loss for K <= 1024 (one chunk per row): one kernel does
 * every stage of a tile of rows, in the canonical order (src/semcl_fold.h).
 *
 * A block of 256 threads takes an aligned tile of R rows (R a power of two, 8..256; tiles
 * grid-stride over the batch):
 *   0. thread i sets up row i of the tile (pos, sign, limit, gradient coefficient) in shared
 *      memory;
 *   1. each warp takes R/8 consecutive rows: groups of G = 2^ceil(log2 K) lanes (G <= 32) per
 *      row, 32/G rows per pass; lane j of a group adds terms j, j+32, ... of its row (for K <= 32
 *      that is term j alone), 8 or 16 (row, term) items in flight per lane, then the group's lanes
 *      are folded (the canonical fold restricted to the group: the lanes >= G would add +0.0f);
 *   2. thread i runs row i's epilogue (semcl_pos_neg_finish_row) from (double)chunk value;
 *   3. MEAN/SUM: warp 0 adds the tile's leaves by T (reduction_cuda.cu adds the tiles by T).
 * Launch shapes: K = 1 is 32 rows per warp (one per lane), K = 16 two rows per warp, K >= 17
 * a warp per row; R is chosen for at least ~1024 tiles on large batches (pos_neg_cuda.cu).
 * All (B,K) indices are 64-bit.
 */
#include "pos_neg_device.cuh"

/* input: score_raw, score_pos, y, weight, pos_weight, neg_count, counts (B), score_neg,
 *        neg_mask (B,K), grad_upstream (1|B)
 * output: grad_neg (B,K); grad_raw, grad_pos (B); loss, loss_ctr, loss_aux (B) for NONE, else
 *         tiles (ceil(B/R))
 * 4 blocks per SM (<= 64 registers: 32 resident warps); ptxas fits every variant without
 * spilling (docs/cuda.md). */
template <int DT, int MASK, bool BWD>
__global__ void __launch_bounds__(SEMCL_CUDA_THREADS, 4)
    semcl_pos_neg_rows_kernel(semcl_pos_neg_args a) {
  __shared__ semcl_cuda_row_table<SEMCL_CUDA_THREADS> table;
  __shared__ semcl_cuda_leaves leaves;
  const semcl_row_consts rc = semcl_cuda_row_consts(a);
  const int tid = (int)threadIdx.x, lane = tid & (SEMCL_WARP - 1), warp = tid / SEMCL_WARP;
  const int R = a.tile_rows;
  const int rows_per_warp = R / SEMCL_CUDA_WARPS;         /* a multiple of 32/G */
  const int passes = rows_per_warp >> (5 - a.log2_group); /* rows_per_warp / (32/G) */
  const int r0 = warp * rows_per_warp;
  const int64_t tiles = semcl_cuda_div_up(a.B, R);
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t first = tile * R;
    const int n = (int)(a.B - first < R ? a.B - first : R);
    if (tid < n) semcl_cuda_setup_row<DT, BWD>(a, rc, first + tid, table, tid);
    __syncthreads();
    semcl_cuda_warp_rows<DT, MASK, BWD>(a, table, r0, passes, a.log2_group, (int)a.K, (int)a.K,
                                        (first + r0) * a.K, n, lane);
    __syncthreads();
    /* One chunk per row: the row's fp64 totals are T over one value, the value itself. */
    if (tid < n)
      semcl_cuda_finish_row<DT>(a, rc, first + tid, (double)table.sp[tid],
                                BWD ? (double)table.sg[tid] : 0.0, &leaves.v[tid]);
    if (a.tiles) { /* the same in every thread */
      __syncthreads();
      semcl_cuda_tile_value(leaves, n, a.tiles, tile);
    }
    __syncthreads(); /* the next tile overwrites the table and the leaves */
  }
}

template <int DT, int MASK, bool BWD>
struct semcl_rows_launch {
  static semcl_status_t run(semcl_context *ctx, const semcl_pos_neg_args &a, cudaStream_t stream) {
    void (*kernel)(semcl_pos_neg_args) = semcl_pos_neg_rows_kernel<DT, MASK, BWD>;
    const unsigned grid = semcl_cuda_grid(semcl_cuda_div_up(a.B, a.tile_rows));
    return SEMCL_CUDA_LAUNCH(ctx, "launching semcl_pos_neg_rows_kernel", kernel, grid, SEMCL_CUDA_THREADS, stream, a);
  }
};

extern "C" semcl_status_t semcl_cuda_pos_neg_rows(semcl_context *ctx, const semcl_pos_neg_args *a,
                                                  int dtype, int bwd, cudaStream_t stream) {
  return semcl_cuda_by_variant<semcl_rows_launch>(dtype, bwd != 0, ctx, *a, stream);
}
