/*
 * pos_neg_cuda.cu — loss 2 (label-conditioned pairwise ranking) on CUDA.
 *
 * One pass over score_neg: each score is read once and (backward) its gradient written once,
 * in place when grad_neg == score_neg. No B x K temporary, no float atomics. Every result is
 * bitwise identical to src/cpu/pos_neg_cpu.c because both follow src/semcl_order.h:
 *
 *   chunk value  a warp owns a chunk of SEMCL_CHUNK (1024) elements of a row; lane j adds in
 *                fp32, from 0.0f and in increasing order, the elements j, j+32, j+64, ... of
 *                the chunk (coalesced: one 128-byte line per warp load); the lanes are folded
 *                with __shfl_down_sync by w = 16, 8, 4, 2, 1, i.e. a[j] = a[j] + a[j+w] —
 *                exactly semcl_fold_lanes.
 *   row totals   the chunk values of a row, in fp64 from 0.0, in chunk order.
 *   row epilogue BCE, per-sample losses, grad_raw and grad_pos through the SEMCL_FN helpers,
 *                exactly as finish_row() of the CPU path.
 *   row blocks   rows summed in fp64 in row order per canonical block of SEMCL_ROW_BLOCK
 *                rows (one CUDA block each), then the block sums in block order
 *                (reduction_cuda.cu).
 *
 * Launch shapes (chosen by K only; they all produce the same bits):
 *   K <= 32      pos_neg_small_k_kernel: one CUDA block of 256 threads per canonical row
 *                block. A row is handled by a group of G lanes (G = the power of two >= K,
 *                32/G rows per warp); lane j of the group takes element j. Lanes j >= K hold
 *                0.0f, and adding +0.0f to a sum of non-negative terms is exact, so the
 *                G-lane tree gives the same value as the 32-lane tree of the CPU path.
 *   K > 32       split-K: pos_neg_chunks_kernel gives every (row, chunk) tile to one warp,
 *                which writes its fp32 chunk sums to workspace slot [row * chunks + chunk];
 *                pos_neg_rows_kernel (one CUDA block per canonical row block, one thread
 *                per row) folds a row's slots in chunk order and runs the row epilogue.
 * All indices into B x K arrays are 64-bit.
 */
#include "cuda_device.cuh"

#define SEMCL_WARP 32
#define SEMCL_CHUNK_THREADS 256 /* 8 warps, one (row, chunk) tile each */
#define SEMCL_LOADS_IN_FLIGHT 8 /* elements a lane loads before it computes any of them */

typedef struct pos_neg_args {
  int64_t B, K, chunks;
  const float *score_raw; /* (B) */
  const float *score_pos; /* (B) */
  const float *score_neg; /* (B,K) */
  const float *y;         /* (B) */
  const float *grad_upstream; /* (1) or (B), may be NULL */
  float lambda, grad_scale;
  int none, is_mean;
  float *loss, *loss_ctr, *loss_aux; /* (1) or (B) */
  float *grad_raw, *grad_pos;        /* (B), may be NULL */
  float *grad_neg;                   /* (B,K), may be NULL or == score_neg */
  double *block_ctr, *block_aux;     /* (row blocks) workspace */
  float2 *partials;                  /* (B,chunks) workspace, K > 32 only */
} pos_neg_args;

static __device__ __forceinline__ double pos_neg_row_scale(const pos_neg_args &a, int64_t row) {
  return semcl_row_scale(a.grad_scale, a.grad_upstream, a.none, a.is_mean, a.B, row);
}

/* Row `row` after its chunks: the shared semcl_pos_neg_finish_row, as the CPU path calls it.
 * Returns the row's fp64 L_ctr and L_aux terms. */
static __device__ __forceinline__ void pos_neg_finish_row(const pos_neg_args &a, int64_t row,
                                                          double softplus_total,
                                                          double sigmoid_total, double *ctr_out,
                                                          double *aux_out) {
  const int grads = a.grad_raw != NULL || a.grad_pos != NULL;
  semcl_pos_neg_finish_row(a.score_raw[row], a.y[row], a.lambda, a.K, softplus_total,
                           sigmoid_total, grads ? pos_neg_row_scale(a, row) : 0.0,
                           a.none ? a.loss + row : NULL, a.none ? a.loss_ctr + row : NULL,
                           a.none ? a.loss_aux + row : NULL,
                           a.grad_raw ? a.grad_raw + row : NULL,
                           a.grad_pos ? a.grad_pos + row : NULL, ctr_out, aux_out);
}

/* One chunk by one warp (all 32 lanes must call it).
 * input: neg (len), len <= SEMCL_CHUNK; output: grad (len) or NULL, may equal neg.
 * Returns in lane 0 the canonical fp32 chunk sums of softplus and (kBackward) sigmoid. */
template <bool kBackward>
static __device__ __forceinline__ void pos_neg_warp_chunk(const float *neg, float *grad, int len,
                                                          int lane, float pos, float neg_sign,
                                                          float coef, float *softplus_sum,
                                                          float *sigmoid_sum) {
  float lane_sp = 0.0f, lane_sg = 0.0f;
  for (int base = 0; base < len; base += SEMCL_LOADS_IN_FLIGHT * SEMCL_WARP) {
    /* All loads of the batch first (they overlap in flight), then the math and the stores:
     * in place, each element is read before its own slot is written. */
    float v[SEMCL_LOADS_IN_FLIGHT];
#pragma unroll
    for (int u = 0; u < SEMCL_LOADS_IN_FLIGHT; ++u) {
      const int i = base + u * SEMCL_WARP + lane;
      v[u] = i < len ? neg[i] : 0.0f;
    }
#pragma unroll
    for (int u = 0; u < SEMCL_LOADS_IN_FLIGHT; ++u) {
      const int i = base + u * SEMCL_WARP + lane;
      if (i < len) {
        float sp, sg;
        semcl_softplus_sigmoid(neg_sign * (pos - v[u]), &sp, &sg);
        lane_sp = lane_sp + sp;
        if (kBackward) {
          lane_sg = lane_sg + sg;
          if (grad) grad[i] = coef * sg;
        }
      }
    }
  }
  /* semcl_fold_lanes: a[j] = a[j] + a[j + w], w = 16 .. 1. */
  for (int w = SEMCL_WARP / 2; w >= 1; w >>= 1) {
    lane_sp = lane_sp + __shfl_down_sync(SEMCL_CUDA_FULL_MASK, lane_sp, w);
    if (kBackward) lane_sg = lane_sg + __shfl_down_sync(SEMCL_CUDA_FULL_MASK, lane_sg, w);
  }
  *softplus_sum = lane_sp;
  *sigmoid_sum = lane_sg;
}

/* Split-K pass for K > 32: one warp per (row, chunk) tile, grid-stride over the tiles.
 * input: score_neg (B,K), score_pos (B), y (B), grad_upstream (1|B)
 * output: grad_neg (B,K) (kBackward, when not NULL), partials (B,chunks) fp32 (softplus, sigmoid) */
template <bool kBackward>
__global__ void __launch_bounds__(SEMCL_CHUNK_THREADS) pos_neg_chunks_kernel(pos_neg_args a) {
  const int lane = (int)(threadIdx.x & (SEMCL_WARP - 1));
  const int64_t warps_per_block = SEMCL_CHUNK_THREADS / SEMCL_WARP;
  const int64_t tiles = a.B * a.chunks;
  const int64_t stride = (int64_t)gridDim.x * warps_per_block;
  /* t is the same in every lane of a warp: the shuffles inside see a full warp. */
  for (int64_t t = (int64_t)blockIdx.x * warps_per_block + (int64_t)(threadIdx.x / SEMCL_WARP);
       t < tiles; t += stride) {
    const int64_t row = t / a.chunks;
    const int64_t begin = (t - row * a.chunks) * SEMCL_CHUNK;
    const int len = (int)(a.K - begin < SEMCL_CHUNK ? a.K - begin : SEMCL_CHUNK);
    const int64_t offset = row * a.K + begin;
    const float neg_sign = semcl_neg_sign(a.y[row]);
    float *grad = NULL;
    float coef = 0.0f;
    if (kBackward && a.grad_neg) {
      grad = a.grad_neg + offset;
      coef = semcl_pos_neg_neg_coef(pos_neg_row_scale(a, row), a.lambda, neg_sign, a.K);
    }
    float sp, sg;
    pos_neg_warp_chunk<kBackward>(a.score_neg + offset, grad, len, lane, a.score_pos[row],
                                  neg_sign, coef, &sp, &sg);
    if (lane == 0) a.partials[t] = make_float2(sp, sg);
  }
}

/* Rows for K > 32: one CUDA block per canonical row block, thread i owns row first + i.
 * input: partials (B,chunks), score_raw, y, grad_upstream
 * output: per-sample losses (NONE) or block partials (MEAN/SUM), grad_raw, grad_pos (B) */
__global__ void __launch_bounds__(SEMCL_CUDA_ROW_THREADS) pos_neg_rows_kernel(pos_neg_args a) {
  __shared__ double s_ctr[SEMCL_ROW_BLOCK];
  __shared__ double s_aux[SEMCL_ROW_BLOCK];
  const int64_t blocks = semcl_cuda_row_blocks(a.B);
  for (int64_t blk = blockIdx.x; blk < blocks; blk += gridDim.x) {
    const int64_t first = blk * SEMCL_ROW_BLOCK;
    const int n = (int)(a.B - first < SEMCL_ROW_BLOCK ? a.B - first : SEMCL_ROW_BLOCK);
    const int i = (int)threadIdx.x;
    if (i < n) {
      const int64_t row = first + i;
      const float2 *slots = a.partials + row * a.chunks;
      double softplus_total = 0.0, sigmoid_total = 0.0;
      for (int64_t c = 0; c < a.chunks; ++c) {
        const float2 s = slots[c];
        softplus_total += (double)s.x;
        sigmoid_total += (double)s.y;
      }
      pos_neg_finish_row(a, row, softplus_total, sigmoid_total, &s_ctr[i], &s_aux[i]);
    }
    if (!a.none) semcl_cuda_fold_row_block(s_ctr, s_aux, n, a.block_ctr, a.block_aux, blk);
  }
}

/* K <= 32: everything of a canonical row block in one CUDA block of 256 threads.
 * Groups of G = 2^log2_group lanes own a row each (32/G rows per warp, 256/G rows per pass,
 * G passes); lane j of a group takes element j.
 * input: score_neg (B,K), score_raw, score_pos, y (B), grad_upstream (1|B)
 * output: grad_neg (B,K), per-sample losses or block partials, grad_raw, grad_pos (B) */
template <bool kBackward>
__global__ void __launch_bounds__(SEMCL_CUDA_ROW_THREADS)
    pos_neg_small_k_kernel(pos_neg_args a, int log2_group) {
  __shared__ float s_pos[SEMCL_ROW_BLOCK], s_sign[SEMCL_ROW_BLOCK], s_coef[SEMCL_ROW_BLOCK];
  __shared__ float s_sp[SEMCL_ROW_BLOCK], s_sg[SEMCL_ROW_BLOCK];
  __shared__ double s_ctr[SEMCL_ROW_BLOCK], s_aux[SEMCL_ROW_BLOCK];
  const int group = 1 << log2_group;
  const int tid = (int)threadIdx.x;
  const int j = tid & (group - 1);               /* element of the row */
  const int r_in_pass = tid >> log2_group;       /* row of the pass */
  const int rows_per_pass = SEMCL_ROW_BLOCK >> log2_group;
  const int K = (int)a.K;
  const int64_t blocks = semcl_cuda_row_blocks(a.B);
  const int write_grad = kBackward && a.grad_neg != NULL;
  for (int64_t blk = blockIdx.x; blk < blocks; blk += gridDim.x) {
    const int64_t first = blk * SEMCL_ROW_BLOCK;
    const int n = (int)(a.B - first < SEMCL_ROW_BLOCK ? a.B - first : SEMCL_ROW_BLOCK);
    /* Per-row data, once per row. */
    if (tid < n) {
      const int64_t row = first + tid;
      const float neg_sign = semcl_neg_sign(a.y[row]);
      s_pos[tid] = a.score_pos[row];
      s_sign[tid] = neg_sign;
      s_coef[tid] = write_grad ? semcl_pos_neg_neg_coef(pos_neg_row_scale(a, row), a.lambda,
                                                        neg_sign, a.K)
                               : 0.0f;
    }
    __syncthreads();
    /* The block's rows are contiguous: n*K elements from first*K. */
    const float *neg = a.score_neg + first * a.K;
    float *grad = write_grad ? a.grad_neg + first * a.K : NULL;
    for (int p0 = 0; p0 < group; p0 += SEMCL_LOADS_IN_FLIGHT) {
      float v[SEMCL_LOADS_IN_FLIGHT];
#pragma unroll
      for (int u = 0; u < SEMCL_LOADS_IN_FLIGHT; ++u) {
        const int r = (p0 + u) * rows_per_pass + r_in_pass;
        const int ok = p0 + u < group && r < n && j < K;
        v[u] = ok ? neg[r * K + j] : 0.0f;
      }
#pragma unroll
      for (int u = 0; u < SEMCL_LOADS_IN_FLIGHT; ++u) {
        if (p0 + u < group) { /* the same in every thread: the shuffles see full warps */
          const int r = (p0 + u) * rows_per_pass + r_in_pass;
          const int ok = r < n && j < K;
          float lane_sp = 0.0f, lane_sg = 0.0f;
          if (ok) {
            float sp, sg;
            semcl_softplus_sigmoid(s_sign[r] * (s_pos[r] - v[u]), &sp, &sg);
            lane_sp = lane_sp + sp;
            lane_sg = lane_sg + sg;
            if (grad) grad[r * K + j] = s_coef[r] * sg;
          }
          /* semcl_fold_lanes restricted to the group: the lanes beyond it only add +0.0f. */
          for (int w = group / 2; w >= 1; w >>= 1) {
            lane_sp = lane_sp + __shfl_down_sync(SEMCL_CUDA_FULL_MASK, lane_sp, w);
            if (kBackward) lane_sg = lane_sg + __shfl_down_sync(SEMCL_CUDA_FULL_MASK, lane_sg, w);
          }
          if (ok && j == 0) {
            s_sp[r] = lane_sp;
            s_sg[r] = lane_sg;
          }
        }
      }
    }
    __syncthreads();
    /* Row epilogue: one chunk per row, so the fp64 totals are 0.0 + the chunk value. */
    if (tid < n) {
      double softplus_total = 0.0, sigmoid_total = 0.0;
      softplus_total += (double)s_sp[tid];
      sigmoid_total += (double)s_sg[tid];
      pos_neg_finish_row(a, first + tid, softplus_total, sigmoid_total, &s_ctr[tid],
                         &s_aux[tid]);
    }
    if (!a.none)
      semcl_cuda_fold_row_block(s_ctr, s_aux, n, a.block_ctr, a.block_aux, blk);
    else
      __syncthreads(); /* the next row block overwrites the per-row arrays */
  }
}

static int64_t chunks_of(int64_t K) { return (K + SEMCL_CHUNK - 1) / SEMCL_CHUNK; }

static size_t round_up_16(size_t bytes) { return (bytes + 15u) & ~(size_t)15u; }

extern "C" size_t semcl_cuda_pos_neg_workspace(int64_t B, int64_t K) {
  size_t bytes = semcl_cuda_block_partials_bytes(B);
  if (K > SEMCL_LANES) bytes += round_up_16((size_t)(B * chunks_of(K)) * sizeof(float2));
  return bytes;
}

extern "C" semcl_status_t semcl_cuda_pos_neg_launch(semcl_context *ctx, const semcl_problem *p,
                                                    void *workspace, cudaStream_t stream) {
  pos_neg_args a;
  memset(&a, 0, sizeof a);
  a.B = p->B;
  a.K = p->K;
  a.chunks = chunks_of(p->K);
  a.score_raw = p->score_raw;
  a.score_pos = p->score_pos;
  a.score_neg = p->score_neg;
  a.y = p->y;
  a.grad_upstream = p->grad_upstream;
  a.lambda = p->lambda;
  a.grad_scale = p->grad_scale;
  a.none = p->reduction == SEMCL_REDUCTION_NONE;
  a.is_mean = p->reduction == SEMCL_REDUCTION_MEAN;
  a.loss = p->loss;
  a.loss_ctr = p->loss_ctr;
  a.loss_aux = p->loss_aux;
  a.grad_raw = p->grad_raw;
  a.grad_pos = p->grad_pos;
  a.grad_neg = p->grad_neg;
  const int64_t blocks = semcl_cuda_row_blocks(p->B);
  a.block_ctr = (double *)workspace;
  a.block_aux = a.block_ctr + blocks;
  a.partials = (float2 *)((char *)workspace + semcl_cuda_block_partials_bytes(p->B));
  /* The sigmoid sums and gradient writes are only needed for grad_pos / grad_neg. */
  const int backward = p->grad_pos != NULL || p->grad_neg != NULL;

  semcl_status_t st;
  if (p->K <= SEMCL_LANES) {
    int log2_group = 0;
    while ((1 << log2_group) < p->K) ++log2_group;
    const unsigned grid = semcl_cuda_grid(blocks);
    st = semcl_cuda_launch(ctx, "launching pos_neg_small_k_kernel",
                           backward ? pos_neg_small_k_kernel<true> : pos_neg_small_k_kernel<false>,
                           grid, SEMCL_CUDA_ROW_THREADS, stream, a, log2_group);
    if (st != SEMCL_STATUS_SUCCESS) return st;
  } else {
    const int64_t warps_per_block = SEMCL_CHUNK_THREADS / SEMCL_WARP;
    const unsigned grid =
        semcl_cuda_grid((p->B * a.chunks + warps_per_block - 1) / warps_per_block);
    st = semcl_cuda_launch(ctx, "launching pos_neg_chunks_kernel",
                           backward ? pos_neg_chunks_kernel<true> : pos_neg_chunks_kernel<false>,
                           grid, SEMCL_CHUNK_THREADS, stream, a);
    if (st != SEMCL_STATUS_SUCCESS) return st;
    st = semcl_cuda_launch(ctx, "launching pos_neg_rows_kernel", pos_neg_rows_kernel,
                           semcl_cuda_grid(blocks), SEMCL_CUDA_ROW_THREADS, stream, a);
    if (st != SEMCL_STATUS_SUCCESS) return st;
  }
  if (a.none) return SEMCL_STATUS_SUCCESS;
  return semcl_cuda_finish_reduction_launch(ctx, p, a.block_ctr, a.block_aux, blocks, stream);
}
