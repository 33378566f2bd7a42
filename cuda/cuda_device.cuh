/*
 * cuda_device.cuh — device helpers shared by the loss kernels (not installed).
 *
 * Everything here follows src/semcl_fold.h: these helpers only move data between threads and
 * add in the canonical shapes; every arithmetic operation on a loss or gradient value is the
 * one the CPU path performs, through the shared SEMCL_FN functions.
 *
 * Two reductions appear everywhere:
 *  - the canonical lane fold of a chunk (fp32): a[j] = a[j] + a[j + w] for w = 16 .. 1, which
 *    is exactly a __shfl_down_sync reduction; over a group of G < 32 lanes it is the same fold
 *    restricted to the group (the other canonical lanes hold +0.0f, which changes no bit);
 *  - the tree T (fp64): the complete binary tree over the values padded with -0.0 to a power of
 *    two. Neighbours are added first (v[2i] + v[2i+1]), so a warp gives each lane an ALIGNED
 *    block of 8 values (never lane-strided values), adds them pairwise in registers, then adds
 *    lanes pairwise with __shfl_down_sync by w = 1, 2, 4, 8, 16 (lane i with i % 2w == 0 adds
 *    lane i + w, i.e. its right sibling). Any aligned power-of-two block of the values is a node
 *    of T, so blocks reduced this way can be combined by T again, in any number of launches.
 */
#ifndef SEMCL_CUDA_DEVICE_CUH
#define SEMCL_CUDA_DEVICE_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda_common.h"
#include "semcl_fold.h"
#include "semcl_math.h"
#include "semcl_row.h"

/* Launches kernel<<<grid, threads, 0, stream>>>(args) and returns its status: the one launch
 * form of the backend (kernel is a __global__ function or a pointer to one). The launch is
 * checked by its own return value (semcl_cuda_launch, cuda_common.h), never by
 * cudaGetLastError, so an error the caller left pending is neither read nor cleared. */
#ifndef SEMCL_CUDA_LAUNCH /* a host emulation of the kernels (tests) brings its own */
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

#define SEMCL_CUDA_LAUNCH(ctx, what, kernel, grid, threads, stream, ...) \
  semcl_cuda_launch((ctx), (what), (kernel), (unsigned)(grid), (unsigned)(threads), (stream), \
                    __VA_ARGS__)
#endif

#define SEMCL_CUDA_FULL_MASK 0xffffffffu
#define SEMCL_WARP 32

/* Element types of the scores and gradients (semcl_dtype_t values). */
enum { SEMCL_DT_F32 = 0, SEMCL_DT_BF16 = 1, SEMCL_DT_F16 = 2 };

/* ---- scores and gradients in their storage type --------------------------------------- */
/* Widening is exact; narrowing rounds to nearest even (CUDA's conversions give the values of
 * semcl_f32_to_bf16 / semcl_f32_to_f16; only NaN payloads may differ, which the contract
 * allows). Loads of row arrays (B) are plain; the (B,K) arrays are streamed once (__ldcs /
 * __stcs: evict-first, so they do not push the row arrays and tile values out of L2). */
/* The storage type of a dtype's elements. */
template <int DT>
struct semcl_cuda_storage {
  typedef uint16_t type;
};
template <>
struct semcl_cuda_storage<SEMCL_DT_F32> {
  typedef float type;
};

template <int DT>
static __device__ __forceinline__ float semcl_cuda_load(const void *base, int64_t i) {
  if (DT == SEMCL_DT_F32) return ((const float *)base)[i];
  const uint16_t h = ((const uint16_t *)base)[i];
  if (DT == SEMCL_DT_BF16) return semcl_bf16_to_f32(h);
  return __half2float(__ushort_as_half(h));
}

template <int DT>
static __device__ __forceinline__ float semcl_cuda_load_stream(const void *base, int64_t i) {
  if (DT == SEMCL_DT_F32) return __ldcs((const float *)base + i);
  const uint16_t h = __ldcs((const unsigned short *)base + i);
  if (DT == SEMCL_DT_BF16) return semcl_bf16_to_f32(h);
  return __half2float(__ushort_as_half(h));
}

template <int DT>
static __device__ __forceinline__ uint16_t semcl_cuda_narrow(float v) {
  if (DT == SEMCL_DT_BF16) return __bfloat16_as_ushort(__float2bfloat16_rn(v));
  return __half_as_ushort(__float2half_rn(v));
}

template <int DT>
static __device__ __forceinline__ void semcl_cuda_store(void *base, int64_t i, float v) {
  if (DT == SEMCL_DT_F32)
    ((float *)base)[i] = v;
  else
    ((uint16_t *)base)[i] = semcl_cuda_narrow<DT>(v);
}

template <int DT>
static __device__ __forceinline__ void semcl_cuda_store_stream(void *base, int64_t i, float v) {
  if (DT == SEMCL_DT_F32)
    __stcs((float *)base + i, v);
  else
    __stcs((unsigned short *)base + i, (unsigned short)semcl_cuda_narrow<DT>(v));
}

/* v, through a copy the compiler cannot see through (it cannot merge what is computed from
 * the copy with what was computed from v before). */
static __device__ __forceinline__ int semcl_cuda_opaque(int v) {
#if defined(__CUDA_ARCH__)
  int copy;
  asm volatile("mov.b32 %0, %1;" : "=r"(copy) : "r"(v));
  return copy;
#else
  return v;
#endif
}

/* ---- the canonical lane fold -------------------------------------------------------- */
/* Folds a group of 2^log2_group lanes (aligned within the warp): lane 0 of the group gets
 * a[0] after a[j] = a[j] + a[j + w], w = G/2 .. 1. Every lane of the warp must call it. */
static __device__ __forceinline__ float semcl_cuda_fold_lanes(float v, int log2_group) {
  for (int w = (1 << log2_group) >> 1; w >= 1; w >>= 1)
    v = v + __shfl_down_sync(SEMCL_CUDA_FULL_MASK, v, w);
  return v;
}

/* ---- the tree T over one warp's values ---------------------------------------------- */
static __device__ __forceinline__ double2 semcl_cuda_add2(double2 a, double2 b) {
  return make_double2(a.x + b.x, a.y + b.y);
}

static __device__ __forceinline__ double2 semcl_cuda_pad2() { return make_double2(-0.0, -0.0); }

/* T over one value per lane for lanes 0 .. lanes-1 (lanes a power of two <= 32; lanes past
 * the last value hold -0.0): lane 0 gets it. Every lane of the warp must call it. */
static __device__ __forceinline__ double2 semcl_cuda_lane_tree(double2 s, int lanes) {
  for (int w = 1; w < lanes; w <<= 1) {
    /* lane i (i % 2w == 0) adds its right sibling i + w; the other lanes' sums are unused */
    const double right_x = __shfl_down_sync(SEMCL_CUDA_FULL_MASK, s.x, w);
    const double right_y = __shfl_down_sync(SEMCL_CUDA_FULL_MASK, s.y, w);
    s = make_double2(s.x + right_x, s.y + right_y);
  }
  return s;
}

/* T over the 8 values of this lane (already padded with -0.0), then over the 32 lanes: lane 0
 * gets T over the warp's 256 values. Every lane of the warp must call it. */
static __device__ __forceinline__ double2 semcl_cuda_warp_tree(double2 v[8]) {
  v[0] = semcl_cuda_add2(v[0], v[1]);
  v[2] = semcl_cuda_add2(v[2], v[3]);
  v[4] = semcl_cuda_add2(v[4], v[5]);
  v[6] = semcl_cuda_add2(v[6], v[7]);
  v[0] = semcl_cuda_add2(v[0], v[2]);
  v[4] = semcl_cuda_add2(v[4], v[6]);
  return semcl_cuda_lane_tree(semcl_cuda_add2(v[0], v[4]), SEMCL_WARP);
}

/* T over src[0 .. n), n <= 256 (global or shared memory): the result in lane 0. */
static __device__ __forceinline__ double2 semcl_cuda_warp_tree_of(const double2 *src, int64_t n,
                                                                  int lane) {
  double2 v[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int64_t k = (int64_t)lane * 8 + i; /* lane's aligned block: values 8*lane .. +7 */
    v[i] = k < n ? src[k] : semcl_cuda_pad2();
  }
  return semcl_cuda_warp_tree(v);
}

/* ---- row tiles -------------------------------------------------------------------- */
/* Rows are processed in aligned tiles of R rows (R a power of two, <= 256; the last tile may
 * be short): each tile's leaves go to shared memory, warp 0 adds them by T (padding with
 * -0.0) and writes the tile's value to tiles[tile]; T over the tile values (reduction_cuda.cu)
 * is then T over all rows. */
struct semcl_cuda_leaves {
  double2 v[SEMCL_CUDA_THREADS]; /* (ctr, aux) of the tile's rows */
};

/* Called by every thread of the block after the leaves of rows 0 .. n-1 are in `s` (and a
 * barrier). Rows n .. R-1 count as -0.0. */
static __device__ __forceinline__ void semcl_cuda_tile_value(const semcl_cuda_leaves &s, int n,
                                                             double2 *tiles, int64_t tile) {
  if (threadIdx.x < SEMCL_WARP) {
    const double2 t = semcl_cuda_warp_tree_of(s.v, n, (int)threadIdx.x);
    if (threadIdx.x == 0) tiles[tile] = t;
  }
}

/* Block-wide sum of an integer (exact: any order). Every thread must call it; the result is in
 * thread 0. */
static __device__ __forceinline__ unsigned long long semcl_cuda_block_sum_u64(
    unsigned long long v) {
  __shared__ unsigned long long s_warp[SEMCL_CUDA_WARPS];
  for (int w = 16; w >= 1; w >>= 1) v += __shfl_down_sync(SEMCL_CUDA_FULL_MASK, v, w);
  const int lane = (int)(threadIdx.x & (SEMCL_WARP - 1)), warp = (int)(threadIdx.x / SEMCL_WARP);
  if (lane == 0) s_warp[warp] = v;
  __syncthreads();
  unsigned long long total = 0;
  if (threadIdx.x == 0)
    for (int i = 0; i < SEMCL_CUDA_WARPS; ++i) total += s_warp[i];
  return total;
}

#endif /* SEMCL_CUDA_DEVICE_CUH */
