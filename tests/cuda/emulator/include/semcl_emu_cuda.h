// semcl_emu_cuda.h — just enough of the CUDA runtime and device language for the backend's
// kernels (cuda/*.cu) to compile as host C++ and run on the host, one block at a time, every
// CUDA thread a fiber (tests/cuda/emulator/emu_runtime.cpp). Used only by the emulated parity
// test, which checks the kernels' index math, tree shapes, masks and launch sequence against
// the CPU backend on machines without a GPU; the per-element arithmetic is the shared
// semcl_math.h in both.
//
// Semantics kept: __syncthreads is a block barrier; __syncwarp and the shuffles are warp
// barriers at which every lane must arrive at the same operation (a lane at a different one,
// a lane that has returned, or a lane at a block barrier is reported as divergence); between
// barriers the fibers run in a seeded random order, so a missing barrier shows up as a wrong
// or flaky result. Launches override gridDim with a small grid (grid-stride loops then run
// several tiles per block). Memory is host memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>

#include "../../../../src/semcl_math.h"

// ---- qualifiers ------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __shared__ static
#define CUDART_CB

// ---- vector types ----------------------------------------------------------------------
struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) double2 {
  double x, y;
};
inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline double2 make_double2(double x, double y) { return double2{x, y}; }

extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

// ---- runtime ---------------------------------------------------------------------------
typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2, cudaErrorInvalidValue = 1 };
struct CUstream_st;
typedef CUstream_st *cudaStream_t;
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char *cudaGetErrorName(cudaError_t) { return "cudaEmulated"; }
inline const char *cudaGetErrorString(cudaError_t) { return "emulated"; }
enum cudaMemcpyKind { cudaMemcpyDeviceToDevice = 3 };
inline cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind,
                                   cudaStream_t) {
  std::memmove(dst, src, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t) {
  std::memset(p, v, n);
  return cudaSuccess;
}

// Runs body() as every thread of min(grid, the emulator's cap) blocks of `threads` threads.
void semcl_emu_launch(unsigned grid, unsigned threads, const std::function<void()> &body);
#define SEMCL_CUDA_LAUNCH(ctx, what, kernel, grid, threads, stream, ...)                 \
  ((void)(ctx), (void)(what), (void)(stream),                                              \
   semcl_emu_launch((unsigned)(grid), (unsigned)(threads), [&]() { kernel(__VA_ARGS__); }), \
   SEMCL_STATUS_SUCCESS)

// ---- synchronisation -------------------------------------------------------------------
void __syncthreads();
void __syncwarp(unsigned mask = 0xffffffffu);
// Every lane deposits `bytes` of its value; returns lane `src_lane`'s (own value if out of
// range, as __shfl_down_sync does past the warp's end).
void semcl_emu_exchange(unsigned mask, const void *value, void *out, size_t bytes, int kind,
                        int delta);
template <class T>
T __shfl_down_sync(unsigned mask, T v, int delta) {
  T out;
  semcl_emu_exchange(mask, &v, &out, sizeof(T), 1, delta);
  return out;
}
template <class T>
T __shfl_sync(unsigned mask, T v, int src_lane) {
  T out;
  semcl_emu_exchange(mask, &v, &out, sizeof(T), 2, src_lane);
  return out;
}

template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask) {
  T out;
  semcl_emu_exchange(mask, &v, &out, sizeof(T), 3, lane_mask);
  return out;
}
// Bit l of the result: lane l's predicate (kind 4: the exchange ORs the lanes' bits).
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  const unsigned mine = predicate != 0;
  unsigned out;
  semcl_emu_exchange(mask, &mine, &out, sizeof out, 4, 0);
  return out;
}

inline unsigned long long atomicAdd(unsigned long long *p, unsigned long long v) {
  const unsigned long long old = *p;  // fibers never interleave inside this
  *p = old + v;
  return old;
}

// ---- memory access -------------------------------------------------------------------
template <class T>
T __ldcs(const T *p) {
  return *p;
}
template <class T>
void __stcs(T *p, T v) {
  *p = v;
}

// ---- 16-bit types: the library's own conversions (CUDA's give the same values) --------------
struct __half {
  uint16_t bits;
};
struct __nv_bfloat16 {
  uint16_t bits;
};
inline __half __ushort_as_half(unsigned short b) { return __half{b}; }
inline unsigned short __half_as_ushort(__half h) { return h.bits; }
inline float __half2float(__half h) { return semcl_f16_to_f32(h.bits); }
inline __half __float2half_rn(float f) { return __half{semcl_f32_to_f16(f)}; }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.bits; }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16{semcl_f32_to_bf16(f)}; }
