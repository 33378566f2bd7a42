/*
 * embed_shared_cuda.cu — the shared pool on CUDA. For each chunk of R rows (R*N floats at most
 * SHARED_TILE_BYTES, so S is never whole in memory when large), all on the context's stream:
 *   1. S_c = U_c N^T                         cublasGemmEx
 *   2. shared_loss_kernel                    one warp per (row, chunk of 1024 pool entries):
 *                                            the canonical sums of semcl_fold.h, G over S_c
 *   3. shared_row_end_kernel                 one warp per row: T over the chunk sums, the row
 *                                            epilogue, grad_item_raw/pos, hr/hp, fp64 leaves
 *   4. dU_c = scale G_c N                    cublasGemmEx into grad_user (beta 0)
 *   5. shared_user_kernel                    grad_user = fp32(dU + hr r + hp p) in fp64
 *   6. dN += scale G_c^T U_c                 cublasGemmEx into grad_neg_pool (beta 0, then 1)
 * then T over all rows' leaves (embed_reduce_cuda.cu). The loss pass and the epilogues are the
 * CPU's (the same helpers, the same order); only S, dU and dN come from cuBLAS's GEMMs, so CPU
 * and CUDA agree within the GEMM bound of docs/embeddings.md.
 */
#include "embed_cublas.h"
#include "embed_device.cuh"

#define SHARED_TILE_BYTES ((int64_t)64 << 20)

typedef struct shared_args {
  int64_t B, N, D, chunks; /* chunks of pool entries per row */
  int64_t r0, rows;        /* the current chunk of rows */
  const float *user, *item_raw, *item_pos, *y;
  const uint8_t *neg_mask;
  const int32_t *neg_count;
  const int64_t *pos_index;
  const float *weight, *pos_weight;
  int64_t pos_weight_count;
  const int64_t *counts;
  semcl_embed_scalars s;
  int bwd, want_g;
  float *S;          /* (rows, N): U N^T in, G out */
  float *chunk_sums; /* (rows, chunks, 2) */
  float *hr, *hp;    /* (rows) */
  float *loss, *loss_ctr, *loss_aux;
  float *grad_user, *grad_item_raw, *grad_item_pos;
  double *leaf_ctr, *leaf_aux; /* (B) */
} shared_args;

/* 2. One warp per (row of the chunk, chunk of pool entries); lane j owns the chunk's k-lane j. */
__global__ void __launch_bounds__(SEMCL_EMBED_BLOCK) shared_loss_kernel(shared_args a) {
  const int lane = (int)(threadIdx.x & 31);
  const int64_t warps = ((int64_t)gridDim.x * blockDim.x) >> 5;
  const semcl_row_consts rc = semcl_embed_row_consts(a.s);
  const int64_t N = a.N, D = a.D;
  for (int64_t tile = (((int64_t)blockIdx.x * blockDim.x) + threadIdx.x) >> 5;
       tile < a.rows * a.chunks; tile += warps) {
    const int64_t i = tile / a.chunks, ch = tile % a.chunks, b = a.r0 + i;
    const int64_t begin = ch * SEMCL_CHUNK;
    const int64_t end = begin + SEMCL_CHUNK < N ? begin + SEMCL_CHUNK : N;
    const float *u = a.user + b * D;
    const float pos =
        semcl_embed_score(a.s.scale, semcl_embed_warp_dot(u, a.item_pos + b * D, lane, D));
    const float y = a.y[b];
    const float ns = semcl_neg_sign(y);
    const float w = a.weight ? a.weight[b] : 1.0f;
    const int64_t n_real = a.counts ? a.counts[b] : N;
    const double coef =
        a.want_g ? semcl_embed_neg_coef(&rc, semcl_row_upstream(&rc, b), w, y, n_real, 1.0f) : 0.0;
    const int64_t limit = semcl_embed_limit(a.neg_count, b, N);
    const uint8_t *mask = a.neg_mask ? a.neg_mask + b * N : NULL;
    const int64_t excluded = a.pos_index ? a.pos_index[b] : -1;
    float *row = a.S + i * N;
    float lane_sp = 0.0f, lane_sg = 0.0f;
    for (int64_t k = begin + lane; k < end; k += 32) {
      const bool real = k < limit && (!mask || mask[k] != 0) && k != excluded;
      float sp, sg;
      semcl_softplus_sigmoid(ns * (pos - semcl_embed_score(a.s.scale, row[k])), &sp, &sg);
      lane_sp = lane_sp + (real ? sp : 0.0f);
      if (!a.bwd) continue;
      lane_sg = lane_sg + (real ? sg : 0.0f);
      if (a.want_g) row[k] = real ? semcl_pos_neg_grad_neg(coef, sg) : 0.0f;
    }
    lane_sp = semcl_embed_fold(lane_sp);
    lane_sg = semcl_embed_fold(lane_sg);
    if (lane == 0) {
      a.chunk_sums[tile * 2] = lane_sp;
      a.chunk_sums[tile * 2 + 1] = a.bwd ? lane_sg : 0.0f;
    }
  }
}

/* 3. One warp per row of the chunk. */
__global__ void __launch_bounds__(SEMCL_EMBED_BLOCK) shared_row_end_kernel(shared_args a) {
  const int lane = (int)(threadIdx.x & 31);
  const int64_t warps = ((int64_t)gridDim.x * blockDim.x) >> 5;
  const semcl_row_consts rc = semcl_embed_row_consts(a.s);
  const int64_t D = a.D;
  for (int64_t i = (((int64_t)blockIdx.x * blockDim.x) + threadIdx.x) >> 5; i < a.rows;
       i += warps) {
    const int64_t b = a.r0 + i;
    const float *u = a.user + b * D;
    const float raw =
        semcl_embed_score(a.s.scale, semcl_embed_warp_dot(u, a.item_raw + b * D, lane, D));
    float hr = 0.0f, hp = 0.0f;
    if (lane == 0) {
      double sp_total, sg_total, ctr_leaf, aux_leaf;
      semcl_embed_chunk_totals(a.chunk_sums + i * a.chunks * 2, 2, a.chunks, &sp_total, &sg_total);
      const float pw = a.pos_weight ? a.pos_weight[a.pos_weight_count == 1 ? 0 : b] : 1.0f;
      float *out[3];
      semcl_embed_sample_outputs(a, b, out);
      semcl_embed_pos_neg_row_end(&rc, b, a.s.scale, raw, a.y[b], a.weight ? a.weight[b] : 1.0f, pw,
                                  a.counts ? a.counts[b] : a.N, sp_total, sg_total, a.bwd, out[0],
                                  out[1], out[2], &hr, &hp, &ctr_leaf, &aux_leaf);
      a.leaf_ctr[b] = ctr_leaf;
      a.leaf_aux[b] = aux_leaf;
      a.hr[i] = hr;
      a.hp[i] = hp;
    }
    if (a.bwd) semcl_embed_item_grads(a, b, lane, &hr, &hp);
  }
}

/* 5. grad_user of the chunk's rows from the GEMM's dU. */
__global__ void __launch_bounds__(SEMCL_EMBED_BLOCK) shared_user_kernel(shared_args a) {
  const int64_t n = a.rows * a.D;
  for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < n;
       j += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = j / a.D, e = (a.r0 + i) * a.D + j % a.D;
    a.grad_user[e] = semcl_embed_user_grad((double)a.grad_user[e], a.hr[i], a.item_raw[e], a.hp[i],
                                           a.item_pos[e]);
  }
}

/* ---- workspace and launch ------------------------------------------------------------------- */

static int64_t rows_per_chunk(int64_t B, int64_t N) {
  int64_t r = 1;
  while (r < B && r * 2 * N * (int64_t)sizeof(float) <= SHARED_TILE_BYTES) r *= 2;
  return r;
}

/* S (R*N floats) | chunk sums (R*chunks*2 floats) | hr, hp (R floats each) | counts (B int64)
 * | total (16) | leaves (2 x B doubles) | tree levels. */
typedef struct shared_layout {
  size_t s, sums, hr, hp, counts, total, leaves, levels, bytes;
} shared_layout;

static shared_layout shared_layout_of(int64_t B, int64_t N) {
  const int64_t R = rows_per_chunk(B, N), chunks = (N + SEMCL_CHUNK - 1) / SEMCL_CHUNK;
  shared_layout l;
  l.s = 0;
  l.sums = l.s + semcl_round16((size_t)(R * N) * sizeof(float));
  l.hr = l.sums + semcl_round16((size_t)(R * chunks) * 2 * sizeof(float));
  l.hp = l.hr + semcl_round16((size_t)R * sizeof(float));
  l.counts = l.hp + semcl_round16((size_t)R * sizeof(float));
  l.total = l.counts + semcl_round16((size_t)B * sizeof(int64_t));
  l.leaves = l.total + 16;
  l.levels = l.leaves + semcl_round16((size_t)B * 2 * sizeof(double));
  l.bytes = l.levels + semcl_cuda_embed_tree_bytes(B);
  return l;
}

extern "C" size_t semcl_cuda_shared_workspace(int64_t B, int64_t N, int64_t D) {
  (void)D;
  return shared_layout_of(B, N).bytes;
}

extern "C" semcl_status_t semcl_cuda_shared_launch(semcl_context *ctx, const semcl_embed_problem *p,
                                                   void *workspace, cudaStream_t stream) {
  static const char fn[] = "semcl_pos_neg_shared_embed";
  void *handle = NULL;
  semcl_status_t st = semcl_embed_cublas_handle(ctx, fn, stream, &handle);
  if (st != SEMCL_STATUS_SUCCESS) return st;
  const shared_layout l = shared_layout_of(p->B, p->K);
  char *ws = (char *)workspace;
  int64_t *counts = (int64_t *)(ws + l.counts);
  unsigned long long *total = (unsigned long long *)(ws + l.total);
  const int masked = semcl_embed_masked(p);
  if (masked) st = semcl_cuda_embed_count(ctx, p, counts, total, stream);
  if (st != SEMCL_STATUS_SUCCESS) return st;
  shared_args a;
  memset(&a, 0, sizeof a);
  semcl_embed_fill_rows(a, p, masked ? counts : NULL, masked ? total : NULL, ws + l.leaves);
  a.N = p->K;
  a.chunks = (p->K + SEMCL_CHUNK - 1) / SEMCL_CHUNK;
  a.pos_index = p->pos_index;
  a.want_g = semcl_embed_needs_neg_grads(p);
  a.S = (float *)(ws + l.s);
  a.chunk_sums = (float *)(ws + l.sums);
  a.hr = (float *)(ws + l.hr);
  a.hp = (float *)(ws + l.hp);
  const int tf32 = p->gemm_tf32;
  const int N = (int)p->K, D = (int)p->D;
  const float *pool = (const float *)p->item_neg;
  const int64_t R = rows_per_chunk(p->B, p->K);
  for (int64_t r0 = 0; r0 < p->B && st == SEMCL_STATUS_SUCCESS; r0 += R) {
    a.r0 = r0;
    a.rows = p->B - r0 < R ? p->B - r0 : R;
    const int rows = (int)a.rows;
    const float *U = a.user + r0 * D;
    st = semcl_embed_cublas_gemm(ctx, handle, tf32, 'T', 'N', N, rows, D, 1.0f, pool, D, U, D, 0.0f,
                                 a.S, N);
    if (st == SEMCL_STATUS_SUCCESS)
      st = SEMCL_CUDA_LAUNCH(ctx, "launching the shared pool's loss pass", shared_loss_kernel,
                             semcl_embed_grid((a.rows * a.chunks + 7) / 8), SEMCL_EMBED_BLOCK,
                             stream, a);
    if (st == SEMCL_STATUS_SUCCESS)
      st = SEMCL_CUDA_LAUNCH(ctx, "launching the shared pool's row epilogue", shared_row_end_kernel,
                             semcl_embed_grid((a.rows + 7) / 8), SEMCL_EMBED_BLOCK, stream, a);
    if (st == SEMCL_STATUS_SUCCESS && p->grad_user) {
      st = semcl_embed_cublas_gemm(ctx, handle, tf32, 'N', 'N', D, rows, N, p->score_scale, pool, D,
                                   a.S, N, 0.0f, a.grad_user + r0 * D, D);
      if (st == SEMCL_STATUS_SUCCESS)
        st = SEMCL_CUDA_LAUNCH(
            ctx, "launching the shared pool's grad_user epilogue", shared_user_kernel,
            semcl_embed_grid((a.rows * a.D + SEMCL_EMBED_BLOCK - 1) / SEMCL_EMBED_BLOCK),
            SEMCL_EMBED_BLOCK, stream, a);
    }
    if (st == SEMCL_STATUS_SUCCESS && p->grad_item_neg)
      st = semcl_embed_cublas_gemm(ctx, handle, tf32, 'N', 'T', D, N, rows, p->score_scale, U, D,
                                   a.S, N, r0 == 0 ? 0.0f : 1.0f, (float *)p->grad_item_neg, D);
  }
  if (st != SEMCL_STATUS_SUCCESS || p->reduction == SEMCL_REDUCTION_NONE) return st;
  return semcl_cuda_embed_reduce(ctx, p, a.leaf_ctr, a.leaf_aux, (double *)(ws + l.levels),
                                 masked ? total : NULL, a.s.n_pairs, stream);
}
