/*
 * embed_rows_cuda.cu — per-row negatives and loss 1 from embeddings on CUDA, bitwise equal to
 * the CPU kernels (src/cpu/embed_body.h): both follow src/semcl_embed.h.
 *
 * Per-row negatives, two kernels:
 *  1. embed_chunks_kernel: one warp per (row, chunk of 1024 negatives). Lane j owns the elements
 *     d = j, j+32, ... of every vector (its canonical dot lane). Rounds of 32 negatives: every
 *     lane forms its partials of the 32 dot products (loads of 32 negatives in flight), the
 *     transposed fold hands dot product i to lane i (= the chunk's canonical k-lane i), lane i
 *     runs the loss math of negative i, then for each negative in turn all lanes apply its
 *     coefficient h: grad_item_neg = h u (written once) and the grad_user partial
 *     fmaf(h, n_d, a_d) in increasing k. The chunk's fp32 softplus and sigmoid sums (the
 *     canonical lane fold) and its grad_user partial go to the workspace.
 *  2. embed_finish_kernel: one warp per row: T over the chunk sums, the fp64 sum of the chunk
 *     partials in chunk order, the row epilogue (semcl_row.h via semcl_embed.h), the row's own
 *     gradients and its fp64 leaves.
 * Loss 1: embed_positive_only_kernel, one warp per row. The leaves are then summed by T
 * (embed_reduce_cuda.cu). Nothing of size B*K*D is stored besides the gradient itself.
 */
#include "embed_device.cuh"

typedef struct embed_rows_args {
  int64_t B, K, D, chunks;
  const float *user, *item_raw, *item_pos, *y;
  const void *item_neg; /* (B,K,D) in the call's dtype (the template's DT) */
  const uint8_t *neg_mask;
  const int32_t *neg_count;
  const float *weight, *pos_weight;
  int64_t pos_weight_count;
  const int64_t *counts; /* real negatives per row, or NULL (unmasked) */
  semcl_embed_scalars s;
  int bwd, want_h, want_user;
  float *loss, *loss_ctr, *loss_aux; /* per-sample outputs (NONE) or NULL */
  float *grad_user, *grad_item_raw, *grad_item_pos;
  void *grad_item_neg; /* (B,K,D) in the call's dtype, or NULL */
  float *partials; /* (B, chunks, 2 + D) */
  double *leaf_ctr, *leaf_aux;
} embed_rows_args;

static __device__ __forceinline__ float row_weight(const embed_rows_args &a, int64_t b) {
  return a.weight ? a.weight[b] : 1.0f;
}
static __device__ __forceinline__ float row_pos_weight(const embed_rows_args &a, int64_t b) {
  return a.pos_weight ? a.pos_weight[a.pos_weight_count == 1 ? 0 : b] : 1.0f;
}

/* One chunk of one row. M: lanes of each D-vector held in registers (ceil(D/32)), or 0 for
 * any D (u read from memory, the grad_user partial kept in the workspace slot). DT: the dtype
 * of item_neg and grad_item_neg (read widened, written rounded once). */
template <int M, int DT>
__global__ void __launch_bounds__(SEMCL_EMBED_BLOCK) embed_chunks_kernel(embed_rows_args a) {
  constexpr int R = M > 0 ? M : 1;
  const int lane = (int)(threadIdx.x & 31);
  const int64_t warps = ((int64_t)gridDim.x * blockDim.x) >> 5;
  const semcl_row_consts rc = semcl_embed_row_consts(a.s);
  const int64_t D = a.D, K = a.K;
  for (int64_t tile = (((int64_t)blockIdx.x * blockDim.x) + threadIdx.x) >> 5;
       tile < a.B * a.chunks; tile += warps) {
    const int64_t b = tile / a.chunks, ch = tile % a.chunks;
    const int64_t begin = ch * SEMCL_CHUNK;
    const int64_t end = begin + SEMCL_CHUNK < K ? begin + SEMCL_CHUNK : K;
    const float *u_row = a.user + b * D;
    float u[R], acc[R];
#pragma unroll
    for (int m = 0; m < R; ++m) {
      u[m] = M > 0 ? semcl_embed_elem(u_row, lane + 32 * m, D) : 0.0f;
      acc[m] = 0.0f;
    }
    float *slot = a.partials + tile * (2 + D);
    float *acc_mem = slot + 2; /* the partial itself, for M == 0 */
    if (M == 0 && a.want_user)
      for (int64_t d = lane; d < D; d += 32) acc_mem[d] = 0.0f;
    const float pos = semcl_embed_score(
        a.s.scale,
        __shfl_sync(
            SEMCL_EMBED_FULL_MASK,
            semcl_embed_fold(M > 0 ? semcl_embed_lane_dot<R>(u, a.item_pos + b * D, lane, D)
                                   : semcl_embed_lane_dot_any(u_row, a.item_pos + b * D, lane, D)),
            0));
    const float y = a.y[b];
    const float ns = semcl_neg_sign(y);
    const int64_t n_real = a.counts ? a.counts[b] : K;
    const double coef = a.want_h ? semcl_embed_neg_coef(&rc, semcl_row_upstream(&rc, b),
                                                        row_weight(a, b), y, n_real, a.s.scale)
                                 : 0.0;
    const int64_t limit = semcl_embed_limit(a.neg_count, b, K);
    const uint8_t *mask = a.neg_mask ? a.neg_mask + b * K : NULL;
    const int64_t row0 = b * K * D; /* the row's first element in item_neg, grad_item_neg */
    const void *negs = a.item_neg;
    void *grads = a.grad_item_neg;
    float lane_sp = 0.0f, lane_sg = 0.0f;
    for (int64_t base = begin; base < end; base += 32) {
      const int64_t kl = base + lane;
      const bool real_l = kl < end && kl < limit && (!mask || mask[kl] != 0);
      const unsigned real = __ballot_sync(SEMCL_EMBED_FULL_MASK, real_l);
      float part[32];
#pragma unroll
      for (int i = 0; i < 32; ++i) {
        part[i] = 0.0f;
        if (real >> i & 1u) { /* masked negatives are never read */
          const int64_t n0 = row0 + (base + i) * D;
          part[i] = M > 0 ? semcl_embed_lane_dot_t<R, DT>(u, negs, n0, lane, D)
                          : semcl_embed_lane_dot_any_t<DT>(u_row, negs, n0, lane, D);
        }
      }
      semcl_embed_transpose_fold(part, lane); /* part[0]: dot product of negative base + lane */
      float sp, sg;
      semcl_softplus_sigmoid(ns * (pos - semcl_embed_score(a.s.scale, part[0])), &sp, &sg);
      lane_sp = lane_sp + (real_l ? sp : 0.0f);
      if (!a.bwd) continue;
      lane_sg = lane_sg + (real_l ? sg : 0.0f);
      if (!a.want_h) continue;
      const float h = real_l ? semcl_pos_neg_grad_neg(coef, sg) : 0.0f;
      const int count = (int)(end - base < 32 ? end - base : 32);
      for (int i = 0; i < count; ++i) {
        const float hi = __shfl_sync(SEMCL_EMBED_FULL_MASK, h, i);
        const int64_t n0 = row0 + (base + i) * D; /* the negative's first element */
        if (!(real >> i & 1u)) { /* masked: exactly +0 */
          if (grads)
            for (int64_t d = lane; d < D; d += 32) semcl_embed_store<DT>(grads, n0 + d, 0.0f);
          continue;
        }
        if (M > 0) {
#pragma unroll
          for (int m = 0; m < R; ++m) {
            const int64_t d = lane + 32 * m;
            if (d < D) {
              /* In place (grads == negs): n_d is read before g_d is written. */
              if (a.want_user) acc[m] = fmaf(hi, semcl_embed_load<DT>(negs, n0 + d), acc[m]);
              if (grads) semcl_embed_store<DT>(grads, n0 + d, hi * u[m]);
            }
          }
        } else {
          for (int64_t d = lane; d < D; d += 32) {
            if (a.want_user) acc_mem[d] = fmaf(hi, semcl_embed_load<DT>(negs, n0 + d), acc_mem[d]);
            if (grads) semcl_embed_store<DT>(grads, n0 + d, hi * u_row[d]);
          }
        }
      }
    }
    lane_sp = semcl_embed_fold(lane_sp);
    lane_sg = semcl_embed_fold(lane_sg);
    if (lane == 0) {
      slot[0] = lane_sp;
      slot[1] = a.bwd ? lane_sg : 0.0f;
    }
    if (M > 0 && a.want_user)
#pragma unroll
      for (int m = 0; m < R; ++m)
        if (lane + 32 * m < D) acc_mem[lane + 32 * m] = acc[m];
  }
}

/* One row per warp after its chunks: the epilogue. */
__global__ void __launch_bounds__(SEMCL_EMBED_BLOCK) embed_finish_kernel(embed_rows_args a) {
  const int lane = (int)(threadIdx.x & 31);
  const int64_t warps = ((int64_t)gridDim.x * blockDim.x) >> 5;
  const semcl_row_consts rc = semcl_embed_row_consts(a.s);
  const int64_t D = a.D;
  for (int64_t b = (((int64_t)blockIdx.x * blockDim.x) + threadIdx.x) >> 5; b < a.B; b += warps) {
    const float *u = a.user + b * D, *r = a.item_raw + b * D, *q = a.item_pos + b * D;
    const float raw = semcl_embed_score(a.s.scale, semcl_embed_warp_dot(u, r, lane, D));
    const float *slots = a.partials + b * a.chunks * (2 + D);
    float hr = 0.0f, hp = 0.0f;
    if (lane == 0) {
      double sp_total, sg_total, ctr_leaf, aux_leaf;
      semcl_embed_chunk_totals(slots, 2 + D, a.chunks, &sp_total, &sg_total);
      float *out[3];
      semcl_embed_sample_outputs(a, b, out);
      semcl_embed_pos_neg_row_end(&rc, b, a.s.scale, raw, a.y[b], row_weight(a, b),
                                  row_pos_weight(a, b), a.counts ? a.counts[b] : a.K, sp_total,
                                  sg_total, a.bwd, out[0], out[1], out[2], &hr, &hp, &ctr_leaf,
                                  &aux_leaf);
      a.leaf_ctr[b] = ctr_leaf;
      a.leaf_aux[b] = aux_leaf;
    }
    if (!a.bwd) continue;
    semcl_embed_item_grads(a, b, lane, &hr, &hp);
    for (int64_t d = lane; d < D; d += 32) {
      if (a.grad_user) {
        double neg = 0.0;
        for (int64_t ch = 0; ch < a.chunks; ++ch) {
          const double part = (double)slots[ch * (2 + D) + 2 + d];
          neg = ch == 0 ? part : neg + part;
        }
        a.grad_user[b * D + d] = semcl_embed_user_grad(neg, hr, r[d], hp, q[d]);
      }
    }
  }
}

/* Loss 1: one row per warp. */
__global__ void __launch_bounds__(SEMCL_EMBED_BLOCK) embed_positive_only_kernel(embed_rows_args a) {
  const int lane = (int)(threadIdx.x & 31);
  const int64_t warps = ((int64_t)gridDim.x * blockDim.x) >> 5;
  const semcl_row_consts rc = semcl_embed_row_consts(a.s);
  const int64_t D = a.D;
  for (int64_t b = (((int64_t)blockIdx.x * blockDim.x) + threadIdx.x) >> 5; b < a.B; b += warps) {
    const float *u = a.user + b * D, *r = a.item_raw + b * D, *q = a.item_pos + b * D;
    const float raw = semcl_embed_score(a.s.scale, semcl_embed_warp_dot(u, r, lane, D));
    const float pos = semcl_embed_score(a.s.scale, semcl_embed_warp_dot(u, q, lane, D));
    float hr = 0.0f, hp = 0.0f;
    if (lane == 0) {
      double ctr_leaf, aux_leaf;
      float *out[3];
      semcl_embed_sample_outputs(a, b, out);
      semcl_embed_positive_only_row_end(&rc, b, a.s.scale, raw, pos, a.y[b], row_weight(a, b),
                                        row_pos_weight(a, b), a.bwd, out[0], out[1], out[2], &hr,
                                        &hp, &ctr_leaf, &aux_leaf);
      a.leaf_ctr[b] = ctr_leaf;
      a.leaf_aux[b] = aux_leaf;
    }
    if (!a.bwd) continue;
    semcl_embed_item_grads(a, b, lane, &hr, &hp);
    for (int64_t d = lane; d < D; d += 32)
      if (a.grad_user) a.grad_user[b * D + d] = semcl_embed_user_grad(0.0, hr, r[d], hp, q[d]);
  }
}

/* ---- masks: real negatives per row (one warp per row; integer sums) ------------------------ */
__global__ void __launch_bounds__(SEMCL_EMBED_BLOCK)
    embed_count_kernel(int64_t B, int64_t K, const uint8_t *neg_mask, const int32_t *neg_count,
                       const int64_t *pos_index, int64_t *counts, unsigned long long *total) {
  const int lane = (int)(threadIdx.x & 31);
  const int64_t warps = ((int64_t)gridDim.x * blockDim.x) >> 5;
  for (int64_t b = (((int64_t)blockIdx.x * blockDim.x) + threadIdx.x) >> 5; b < B; b += warps) {
    const int64_t limit = semcl_embed_limit(neg_count, b, K);
    long long real = 0;
    if (neg_mask) {
      for (int64_t k = lane; k < limit; k += 32) real += neg_mask[b * K + k] != 0;
      for (int w = 16; w >= 1; w >>= 1) real += __shfl_down_sync(SEMCL_EMBED_FULL_MASK, real, w);
    } else {
      real = limit;
    }
    if (lane == 0) {
      if (pos_index) {
        const int64_t e = pos_index[b];
        if (e >= 0 && e < limit && (!neg_mask || neg_mask[b * K + e] != 0)) real -= 1;
      }
      counts[b] = real;
      atomicAdd(total, (unsigned long long)real); /* an integer sum: any order */
    }
  }
}

extern "C" semcl_status_t semcl_cuda_embed_count(semcl_context *ctx, const semcl_embed_problem *p,
                                                 int64_t *counts, unsigned long long *total,
                                                 cudaStream_t stream) {
  const cudaError_t err = cudaMemsetAsync(total, 0, sizeof *total, stream);
  if (err != cudaSuccess) return semcl_cuda_fail(ctx, err, "clearing the count of real negatives");
  return SEMCL_CUDA_LAUNCH(ctx, "launching the count of real negatives", embed_count_kernel,
                           semcl_embed_grid((p->B + 7) / 8), SEMCL_EMBED_BLOCK, stream, p->B, p->K,
                           p->neg_mask, p->neg_count, p->pos_index, counts, total);
}

/* ---- workspace and launch ------------------------------------------------------------------- */

/* Workspace: counts (B int64) | total (16 bytes) | partials (B*chunks*(2+D) floats, per-row)
 * | leaves (2 x B doubles) | tree levels. */
typedef struct rows_layout {
  size_t counts, total, partials, leaves, levels, bytes;
} rows_layout;

static rows_layout rows_layout_of(int kind, int64_t B, int64_t K, int64_t D) {
  rows_layout l;
  const int64_t chunks = kind == SEMCL_EMBED_KIND_PER_ROW ? (K + SEMCL_CHUNK - 1) / SEMCL_CHUNK : 0;
  l.counts = 0;
  l.total = l.counts + semcl_round16((size_t)B * sizeof(int64_t));
  l.partials = l.total + 16;
  l.leaves =
      l.partials + semcl_round16((size_t)(B * chunks) * (size_t)(2 + D) * sizeof(float));
  l.levels = l.leaves + semcl_round16((size_t)B * 2 * sizeof(double));
  l.bytes = l.levels + semcl_cuda_embed_tree_bytes(B);
  return l;
}

extern "C" size_t semcl_cuda_embed_workspace_fp32(int kind, int64_t B, int64_t K, int64_t D) {
  if (kind == SEMCL_EMBED_KIND_SHARED) return semcl_cuda_shared_workspace(B, K, D);
  return rows_layout_of(kind, B, K, D).bytes;
}

typedef void (*chunks_kernel_fn)(embed_rows_args);

template <int DT>
static chunks_kernel_fn chunks_kernel_for_dt(int64_t D) {
  const int64_t lanes = (D + 31) / 32;
  switch (lanes) {
    case 1:
      return embed_chunks_kernel<1, DT>;
    case 2:
      return embed_chunks_kernel<2, DT>;
    case 3:
    case 4:
      return embed_chunks_kernel<4, DT>;
    case 5:
    case 6:
    case 7:
    case 8:
      return embed_chunks_kernel<8, DT>;
    default:
      return embed_chunks_kernel<0, DT>;
  }
}

/* The chunk kernel for D and the dtype of the per-row negatives. */
static chunks_kernel_fn chunks_kernel_for(int64_t D, semcl_dtype_t dtype) {
  if (dtype == SEMCL_DTYPE_BFLOAT16) return chunks_kernel_for_dt<1>(D);
  if (dtype == SEMCL_DTYPE_FLOAT16) return chunks_kernel_for_dt<2>(D);
  return chunks_kernel_for_dt<0>(D);
}

extern "C" semcl_status_t semcl_cuda_embed_launch_fp32(semcl_context *ctx,
                                                       const semcl_embed_problem *p,
                                                       void *workspace, cudaStream_t stream) {
  if (p->kind == SEMCL_EMBED_KIND_SHARED)
    return semcl_cuda_shared_launch(ctx, p, workspace, stream);
  const rows_layout l = rows_layout_of(p->kind, p->B, p->K, p->D);
  char *ws = (char *)workspace;
  int64_t *counts = (int64_t *)(ws + l.counts);
  unsigned long long *total = (unsigned long long *)(ws + l.total);
  const int masked = p->kind == SEMCL_EMBED_KIND_PER_ROW && semcl_embed_masked(p);
  semcl_status_t st = SEMCL_STATUS_SUCCESS;
  if (masked) st = semcl_cuda_embed_count(ctx, p, counts, total, stream);
  if (st != SEMCL_STATUS_SUCCESS) return st;
  embed_rows_args a;
  memset(&a, 0, sizeof a);
  semcl_embed_fill_rows(a, p, masked ? counts : NULL, masked ? total : NULL, ws + l.leaves);
  a.K = p->K;
  a.chunks = p->kind == SEMCL_EMBED_KIND_PER_ROW ? (p->K + SEMCL_CHUNK - 1) / SEMCL_CHUNK : 0;
  a.item_neg = p->item_neg;
  a.want_h = semcl_embed_needs_neg_grads(p);
  a.want_user = p->grad_user != NULL;
  a.grad_item_neg = p->grad_item_neg;
  a.partials = (float *)(ws + l.partials);
  const int64_t row_blocks = (p->B + 7) / 8; /* 8 warps per block, a row each */
  if (p->kind == SEMCL_EMBED_KIND_PER_ROW) {
    st = SEMCL_CUDA_LAUNCH(ctx, "launching the per-row negatives' pass",
                           chunks_kernel_for(p->D, p->dtype),
                           semcl_embed_grid((p->B * a.chunks + 7) / 8), SEMCL_EMBED_BLOCK, stream,
                           a);
    if (st == SEMCL_STATUS_SUCCESS)
      st = SEMCL_CUDA_LAUNCH(ctx, "launching the per-row epilogue", embed_finish_kernel,
                             semcl_embed_grid(row_blocks), SEMCL_EMBED_BLOCK, stream, a);
  } else {
    st = SEMCL_CUDA_LAUNCH(ctx, "launching the positive-only pass", embed_positive_only_kernel,
                           semcl_embed_grid(row_blocks), SEMCL_EMBED_BLOCK, stream, a);
  }
  if (st != SEMCL_STATUS_SUCCESS || p->reduction == SEMCL_REDUCTION_NONE) return st;
  return semcl_cuda_embed_reduce(
      ctx, p, a.leaf_ctr, a.leaf_aux, (double *)(ws + l.levels), masked ? total : NULL,
      p->kind == SEMCL_EMBED_KIND_PER_ROW ? a.s.n_pairs : (double)p->B, stream);
}
