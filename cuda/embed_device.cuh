/*
 * embed_device.cuh — device helpers of the embedding kernels (not installed): the canonical dot
 * product over D by one warp (lane j owns d = j, j+32, ...), the canonical 32-lane fold, and the
 * "transposed" fold that gives 32 dot products to the 32 lanes at once. All follow
 * src/semcl_embed.h; addition is commutative in IEEE arithmetic, so a butterfly that adds the
 * same pairs as the canonical fold (lanes j and j+w, w = 16 .. 1) computes the same bits.
 */
#ifndef SEMCL_EMBED_DEVICE_CUH
#define SEMCL_EMBED_DEVICE_CUH

#include "cuda_device.cuh" /* SEMCL_CUDA_LAUNCH */
#include "embed_cuda.h"

#define SEMCL_EMBED_FULL_MASK 0xffffffffu

/* The canonical fold a[j] += a[j+w], w = 16 .. 1: the result in lane 0. */
static __device__ __forceinline__ float semcl_embed_fold(float x) {
  for (int w = 16; w >= 1; w >>= 1) x = x + __shfl_down_sync(SEMCL_EMBED_FULL_MASK, x, w);
  return x;
}

/* Element i of an array in dtype DT (0 fp32, 1 bf16, 2 fp16 as semcl_dtype_t), widened
 * (exactly), and the store of an fp32 value rounded once to DT (semcl_math.h). The per-row
 * negatives and their gradients are in the call's dtype; everything else here is fp32. */
template <int DT>
static __device__ __forceinline__ float semcl_embed_load(const void *base, int64_t i) {
  if (DT == 0) return ((const float *)base)[i];
  const uint16_t h = ((const uint16_t *)base)[i];
  return DT == 1 ? semcl_bf16_to_f32(h) : semcl_f16_to_f32(h);
}
template <int DT>
static __device__ __forceinline__ void semcl_embed_store(void *base, int64_t i, float v) {
  if (DT == 0)
    ((float *)base)[i] = v;
  else
    ((uint16_t *)base)[i] = DT == 1 ? semcl_f32_to_bf16(v) : semcl_f32_to_f16(v);
}

/* The lane's value of element d of the D-vector at element v0 of v (+0 past D: the canonical
 * padding). */
template <int DT>
static __device__ __forceinline__ float semcl_embed_elem_t(const void *v, int64_t v0, int64_t d,
                                                           int64_t D) {
  return d < D ? semcl_embed_load<DT>(v, v0 + d) : 0.0f;
}
static __device__ __forceinline__ float semcl_embed_elem(const float *v, int64_t d, int64_t D) {
  return semcl_embed_elem_t<0>(v, 0, d, D);
}

/* The lane's partial of u.v (v: the D-vector at element v0 of an array in dtype DT): fmaf over
 * d = lane, lane+32, ... < D rounded up to 32. */
template <int M, int DT>
static __device__ __forceinline__ float semcl_embed_lane_dot_t(const float (&u)[M], const void *v,
                                                               int64_t v0, int lane, int64_t D) {
  float acc = 0.0f;
#pragma unroll
  for (int m = 0; m < M; ++m)
    acc = fmaf(u[m], semcl_embed_elem_t<DT>(v, v0, lane + 32 * m, D), acc);
  return acc;
}
template <int M>
static __device__ __forceinline__ float semcl_embed_lane_dot(const float (&u)[M], const float *v,
                                                             int lane, int64_t D) {
  return semcl_embed_lane_dot_t<M, 0>(u, v, 0, lane, D);
}

/* Runtime-length version (lanes = ceil(D/32) > SEMCL_EMBED_REG_LANES: u from memory). */
template <int DT>
static __device__ __forceinline__ float semcl_embed_lane_dot_any_t(const float *u, const void *v,
                                                                   int64_t v0, int lane,
                                                                   int64_t D) {
  float acc = 0.0f;
  for (int64_t d = lane; d < (D + 31) / 32 * 32; d += 32)
    acc = fmaf(semcl_embed_elem(u, d, D), semcl_embed_elem_t<DT>(v, v0, d, D), acc);
  return acc;
}
static __device__ __forceinline__ float semcl_embed_lane_dot_any(const float *u, const float *v,
                                                                 int lane, int64_t D) {
  return semcl_embed_lane_dot_any_t<0>(u, v, 0, lane, D);
}

/* The canonical dot product u.v by the whole warp, in every lane. */
static __device__ __forceinline__ float semcl_embed_warp_dot(const float *u, const float *v,
                                                             int lane, int64_t D) {
  const float lane_sum = semcl_embed_lane_dot_any(u, v, lane, D);
  return __shfl_sync(SEMCL_EMBED_FULL_MASK, semcl_embed_fold(lane_sum), 0);
}

/* One level of the transposed fold: lanes exchange the halves of part[0 .. 2W) across the
 * butterfly of distance W. W is a template argument so that every index is a compile-time
 * constant and part[] stays in registers (with the level as a loop variable nvcc kept part[] in
 * local memory: a 128-byte stack frame in every chunk kernel). */
template <int W>
static __device__ __forceinline__ void semcl_embed_fold_level(float (&part)[32], int lane) {
  const bool upper = (lane & W) != 0;
#pragma unroll
  for (int i = 0; i < W; ++i) {
    const float send = upper ? part[i] : part[i + W];
    const float keep = upper ? part[i + W] : part[i];
    part[i] = keep + __shfl_xor_sync(SEMCL_EMBED_FULL_MASK, send, W);
  }
}

/* part[i] (i < 32) holds this lane's partial of dot product i; afterwards part[0] holds the
 * whole dot product number `lane` (the canonical fold of its 32 lane partials). */
static __device__ __forceinline__ void semcl_embed_transpose_fold(float (&part)[32], int lane) {
  semcl_embed_fold_level<16>(part, lane);
  semcl_embed_fold_level<8>(part, lane);
  semcl_embed_fold_level<4>(part, lane);
  semcl_embed_fold_level<2>(part, lane);
  semcl_embed_fold_level<1>(part, lane);
}

/* neg_count[b] clamped to [0, K]. */
static __device__ __forceinline__ int64_t semcl_embed_limit(const int32_t *neg_count, int64_t b,
                                                            int64_t K) {
  if (!neg_count) return K;
  const int32_t c = neg_count[b];
  return c < 0 ? 0 : ((int64_t)c > K ? K : (int64_t)c);
}

/* T over a row's chunk sums: chunk ch's fp32 softplus and sigmoid sums at sums[ch * stride]
 * and sums[ch * stride + 1] (one lane). */
static __device__ __forceinline__ void semcl_embed_chunk_totals(const float *sums, int64_t stride,
                                                                int64_t chunks, double *sp_total,
                                                                double *sg_total) {
  semcl_tree_stream s;
  semcl_tree_stream_init(&s);
  for (int64_t ch = 0; ch < chunks; ++ch)
    semcl_tree_stream_push(&s, (double)sums[ch * stride], (double)sums[ch * stride + 1]);
  semcl_tree_stream_finish(&s, sp_total, sg_total);
}

/* Row b's per-sample loss outputs (reduction NONE) or NULL: out[0..3) = loss, ctr, aux. */
template <typename Args>
static __device__ __forceinline__ void semcl_embed_sample_outputs(const Args &a, int64_t b,
                                                                  float *out[3]) {
  const int none = a.s.reduction == SEMCL_ROW_NONE;
  out[0] = none ? a.loss + b : NULL;
  out[1] = none ? a.loss_ctr + b : NULL;
  out[2] = none ? a.loss_aux + b : NULL;
}

/* The whole warp, after lane 0 formed hr and hp: hands them to every lane and writes row b's
 * grad_item_raw = hr u and grad_item_pos = hp u (those asked for). */
template <typename Args>
static __device__ __forceinline__ void semcl_embed_item_grads(const Args &a, int64_t b, int lane,
                                                              float *hr, float *hp) {
  *hr = __shfl_sync(SEMCL_EMBED_FULL_MASK, *hr, 0);
  *hp = __shfl_sync(SEMCL_EMBED_FULL_MASK, *hp, 0);
  const float *u = a.user + b * a.D;
  for (int64_t d = lane; d < a.D; d += 32) {
    if (a.grad_item_raw) a.grad_item_raw[b * a.D + d] = *hr * u[d];
    if (a.grad_item_pos) a.grad_item_pos[b * a.D + d] = *hp * u[d];
  }
}

#endif /* SEMCL_EMBED_DEVICE_CUH */
