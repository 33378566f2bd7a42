/*
 * pos_neg_counts_cuda.cu — masked pairwise calls: the real negatives of every row (n_b, for
 * the row's mean and the gradient denominators) and their total N (MEAN's denominator), before
 * any loss kernel runs (the gradients of a row need n_b or N before its first term).
 *
 * n_b = the number of k < clamp(neg_count[b], 0, K) with neg_mask[b,k] != 0 (each mask
 * optional), as src/cpu/kernels_body.h's count_rows. Integer sums are exact in any order, so
 * this kernel is free to use atomics: groups of G lanes count (row, chunk) segments of the mask
 * (G = 32 for rows of more than 16 bytes, fewer lanes for short rows: several rows per warp);
 * one-chunk rows store their count, longer rows add their chunks' counts atomically (counts
 * zeroed first); every block adds its total to N atomically (N zeroed first).
 */
#include "pos_neg_device.cuh"

/* input: neg_count (B), neg_mask (B,K) (BYTES)
 * output: counts (B), real_pairs (1; += this grid's total) */
template <bool BYTES>
__global__ void __launch_bounds__(SEMCL_CUDA_THREADS)
    semcl_pos_neg_count_kernel(semcl_pos_neg_args a, int log2g, int64_t chunks) {
  const int lane = (int)(threadIdx.x & (SEMCL_WARP - 1)), warp = (int)(threadIdx.x / SEMCL_WARP);
  const int G = 1 << log2g, segs_per_warp = SEMCL_WARP >> log2g;
  const int j = lane & (G - 1);
  const int64_t segments = a.B * chunks;
  const int64_t stride = (int64_t)gridDim.x * SEMCL_CUDA_WARPS * segs_per_warp;
  unsigned long long total = 0;
  /* s0 is the same in every lane of a warp: the group sums below see full warps. */
  for (int64_t s0 = ((int64_t)blockIdx.x * SEMCL_CUDA_WARPS + warp) * segs_per_warp; s0 < segments;
       s0 += stride) {
    const int64_t seg = s0 + (lane >> log2g);
    unsigned long long c = 0;
    int64_t row = 0;
    if (seg < segments) {
      row = chunks == 1 ? seg : seg / chunks;
      /* The segment: chunk (seg - row * chunks) of the row, or the whole row (chunks == 1). */
      const int64_t begin = (seg - row * chunks) * SEMCL_CHUNK;
      const int64_t limit = a.neg_count ? semcl_clamp_count(a.neg_count[row], a.K) : a.K;
      const int64_t len =
          chunks == 1 ? a.K : (a.K - begin < SEMCL_CHUNK ? a.K - begin : SEMCL_CHUNK);
      const int64_t end = limit - begin < len ? limit - begin : len; /* may be <= 0 */
      if (BYTES) {
        const uint8_t *m = a.neg_mask + row * a.K + begin;
        for (int64_t k = j; k < end; k += G) c += __ldcs(m + k) != 0;
      } else if (j == 0 && end > 0) {
        c = (unsigned long long)end;
      }
    }
    for (int w = G >> 1; w >= 1; w >>= 1) c += __shfl_down_sync(SEMCL_CUDA_FULL_MASK, c, w);
    if (seg < segments && j == 0) {
      if (chunks == 1)
        a.counts[row] = (int64_t)c;
      else if (c != 0)
        atomicAdd((unsigned long long *)&a.counts[row], c);
      total += c;
    }
  }
  total = semcl_cuda_block_sum_u64(total);
  if (threadIdx.x == 0 && total != 0) atomicAdd(a.real_pairs, total);
}

extern "C" semcl_status_t semcl_cuda_pos_neg_counts(semcl_context *ctx, const semcl_pos_neg_args *a,
                                                    cudaStream_t stream) {
  /* Without a byte mask a row's count is its clamped neg_count: one lane per row. */
  const bool bytes = a->neg_mask != NULL;
  const int64_t chunks = bytes ? semcl_cuda_div_up(a->K, SEMCL_CHUNK) : 1;
  int log2g = 0;
  while (bytes && log2g < 5 && (int64_t)1 << log2g < a->K) ++log2g;
  /* N, and (rows added chunk by chunk) the counts, start from 0. */
  const size_t zeroed = chunks > 1 ? (size_t)a->B * sizeof(int64_t) : 0;
  cudaError_t err = cudaMemsetAsync(a->real_pairs, 0, sizeof *a->real_pairs, stream);
  if (err == cudaSuccess && zeroed) err = cudaMemsetAsync(a->counts, 0, zeroed, stream);
  if (err != cudaSuccess) return semcl_cuda_fail(ctx, err, "zeroing the mask counts");
  const int64_t warps = semcl_cuda_div_up(a->B * chunks, SEMCL_WARP >> log2g);
  const unsigned grid = semcl_cuda_grid(semcl_cuda_div_up(warps, SEMCL_CUDA_WARPS));
  void (*kernel)(semcl_pos_neg_args, int, int64_t) =
      bytes ? semcl_pos_neg_count_kernel<true> : semcl_pos_neg_count_kernel<false>;
  return SEMCL_CUDA_LAUNCH(ctx, "launching semcl_pos_neg_count_kernel", kernel, grid, SEMCL_CUDA_THREADS, stream, *a, log2g, chunks);
}
