/*
 * pos_neg_split_cuda.cu — the pairwise loss for K > 1024 (split-K), in the canonical order
 * (src/semcl_fold.h): a row is several 1024-term chunks whose fp32 values are added by the
 * tree T in fp64.
 *
 *   semcl_pos_neg_chunks_kernel  one warp per (row, group of 8 consecutive chunks), grid-stride:
 *       each chunk as in the K <= 1024 kernel (lane j: terms j, j+32, ...; 8 or 16 loads in
 *       flight; canonical fold), the gradients, then T over the group's <= 8 chunk values (an
 * aligned group of 8 chunks is a node of the row's tree) into workspace slot (row, group);
 *   reduction_cuda.cu  when a row has more than 256 groups (K > 2M): fan-in-256 levels of T,
 *       every (row, group of 256) in parallel;
 *   semcl_pos_neg_split_rows_kernel  aligned tiles of R rows per block: a warp per row adds
 *       the row's <= 256 remaining values by T (8 per lane, then 5 shuffle levels), thread i
 *       runs row i's epilogue, warp 0 adds the tile's leaves by T.
 * No stage has a serial loop over chunks or rows longer than 8.
 */
#include "pos_neg_device.cuh"

/* input: score_pos, y, weight, neg_count, counts (B), score_neg, neg_mask (B,K),
 *        grad_upstream (1|B)
 * output: grad_neg (B,K); groups (B, ceil(chunks/8)): (softplus, sigmoid) T of the group
 * 3 blocks per SM (<= 80 registers: 24 resident warps): at 64 most variants spill (the tile
 * loop's 64-bit state stays live around the chunk loop). */
template <int DT, int MASK, bool BWD>
__global__ void __launch_bounds__(SEMCL_CUDA_THREADS, 3)
    semcl_pos_neg_chunks_kernel(semcl_pos_neg_args a) {
  /* Warp w owns slots 8w .. 8w+7: its row's constants for chunk c of the group in slot 8w+c
   * (the same row; only the segment limit differs), and chunk c's value. */
  __shared__ semcl_cuda_row_table<SEMCL_CUDA_WARPS * SEMCL_CUDA_CHUNK_GROUP> table;
  const semcl_row_consts rc = semcl_cuda_row_consts(a);
  const int lane = (int)(threadIdx.x & (SEMCL_WARP - 1)), warp = (int)(threadIdx.x / SEMCL_WARP);
  const int base = warp * SEMCL_CUDA_CHUNK_GROUP;
  /* One row per call; opaque, or the compiler specialises the item loop for it and needs more
   * registers than the general loop of the row kernel. */
  const int one_pass = semcl_cuda_opaque(1);
  const int64_t chunks = semcl_cuda_div_up(a.K, SEMCL_CHUNK);
  const int64_t per_row = semcl_cuda_div_up(chunks, SEMCL_CUDA_CHUNK_GROUP);
  const int64_t tiles = a.B * per_row;
  const int64_t stride = (int64_t)gridDim.x * SEMCL_CUDA_WARPS;
  /* t is the same in every lane of a warp: everything below is warp-uniform. */
  for (int64_t t = (int64_t)blockIdx.x * SEMCL_CUDA_WARPS + warp; t < tiles; t += stride) {
    const int64_t row = t / per_row;
    const int64_t first_chunk = (t - row * per_row) * SEMCL_CUDA_CHUNK_GROUP;
    const int in_group =
        (int)(chunks - first_chunk < SEMCL_CUDA_CHUNK_GROUP ? chunks - first_chunk
                                                            : SEMCL_CUDA_CHUNK_GROUP);
    if (lane == 0) semcl_cuda_setup_row<DT, BWD>(a, rc, row, table, base);
    for (int c = 0; c < in_group; ++c) {
      const int64_t begin = (first_chunk + c) * SEMCL_CHUNK;
      const int len = (int)(a.K - begin < SEMCL_CHUNK ? a.K - begin : SEMCL_CHUNK);
      if (lane == 0) {
        if (c) {
          table.item[base + c] = table.item[base];
          table.coef64[base + c] = table.coef64[base];
          table.limit[base + c] = table.limit[base];
        }
        semcl_cuda_set_segment(table, base + c, begin);
      }
      __syncwarp(); /* the slot is set up */
      semcl_cuda_warp_rows<DT, MASK, BWD>(a, table, base + c, one_pass, 5, len, 0,
                                          row * a.K + begin, base + c + 1, lane);
    }
    __syncwarp(); /* lane 0 wrote the chunk values */
    /* T over the group's chunk values, chunk c in lane c (lanes past the row's last chunk
     * hold -0.0). */
    double2 v = semcl_cuda_pad2();
    if (lane < in_group)
      v = make_double2((double)table.sp[base + lane], BWD ? (double)table.sg[base + lane] : 0.0);
    v = semcl_cuda_lane_tree(v, SEMCL_CUDA_CHUNK_GROUP);
    if (lane == 0) a.groups[t] = v;
    __syncwarp(); /* the slots are rewritten for the next tile */
  }
}

/* input: values (B, n_values) (each row's remaining T nodes, n_values <= 256), score_raw, y,
 *        weight, pos_weight, counts (B), grad_upstream (1|B)
 * output: grad_raw, grad_pos (B); loss, loss_ctr, loss_aux (B) for NONE, else tiles */
template <int DT>
__global__ void __launch_bounds__(SEMCL_CUDA_THREADS)
    semcl_pos_neg_split_rows_kernel(semcl_pos_neg_args a, const double2 *values, int64_t n_values) {
  __shared__ double2 totals[SEMCL_CUDA_THREADS];
  __shared__ semcl_cuda_leaves leaves;
  const semcl_row_consts rc = semcl_cuda_row_consts(a);
  const int tid = (int)threadIdx.x, lane = tid & (SEMCL_WARP - 1), warp = tid / SEMCL_WARP;
  const int R = a.tile_rows;
  const int64_t tiles = semcl_cuda_div_up(a.B, R);
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t first = tile * R;
    const int n = (int)(a.B - first < R ? a.B - first : R);
    for (int r = warp; r < n; r += SEMCL_CUDA_WARPS) { /* warp-uniform */
      const double2 total =
          semcl_cuda_warp_tree_of(values + (first + r) * n_values, n_values, lane);
      if (lane == 0) totals[r] = total;
    }
    __syncthreads();
    if (tid < n)
      semcl_cuda_finish_row<DT>(a, rc, first + tid, totals[tid].x, totals[tid].y, &leaves.v[tid]);
    if (a.tiles) { /* the same in every thread */
      __syncthreads();
      semcl_cuda_tile_value(leaves, n, a.tiles, tile);
    }
    __syncthreads(); /* the next tile overwrites totals and leaves */
  }
}

template <int DT, int MASK, bool BWD>
struct semcl_chunks_launch {
  static semcl_status_t run(semcl_context *ctx, const semcl_pos_neg_args &a, cudaStream_t stream) {
    void (*kernel)(semcl_pos_neg_args) = semcl_pos_neg_chunks_kernel<DT, MASK, BWD>;
    const int64_t per_row =
        semcl_cuda_div_up(semcl_cuda_div_up(a.K, SEMCL_CHUNK), SEMCL_CUDA_CHUNK_GROUP);
    const unsigned grid = semcl_cuda_grid(semcl_cuda_div_up(a.B * per_row, SEMCL_CUDA_WARPS));
    return SEMCL_CUDA_LAUNCH(ctx, "launching semcl_pos_neg_chunks_kernel", kernel, grid, SEMCL_CUDA_THREADS, stream, a);
  }
};

extern "C" semcl_status_t semcl_cuda_pos_neg_chunks(semcl_context *ctx, const semcl_pos_neg_args *a,
                                                    int dtype, int bwd, cudaStream_t stream) {
  return semcl_cuda_by_variant<semcl_chunks_launch>(dtype, bwd != 0, ctx, *a, stream);
}

extern "C" semcl_status_t semcl_cuda_pos_neg_split_rows(semcl_context *ctx,
                                                        const semcl_pos_neg_args *a, int dtype,
                                                        const double2 *values, int64_t n_values,
                                                        cudaStream_t stream) {
  void (*kernel)(semcl_pos_neg_args, const double2 *, int64_t) =
      dtype == SEMCL_DT_F32    ? semcl_pos_neg_split_rows_kernel<SEMCL_DT_F32>
      : dtype == SEMCL_DT_BF16 ? semcl_pos_neg_split_rows_kernel<SEMCL_DT_BF16>
                               : semcl_pos_neg_split_rows_kernel<SEMCL_DT_F16>;
  const unsigned grid = semcl_cuda_grid(semcl_cuda_div_up(a->B, a->tile_rows));
  return SEMCL_CUDA_LAUNCH(ctx, "launching semcl_pos_neg_split_rows_kernel", kernel, grid, SEMCL_CUDA_THREADS, stream, *a, values, n_values);
}
