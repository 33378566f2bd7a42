/*
 * simd_scalar.h — the vector primitives of the CPU kernels with one lane: the portable level
 * for CPUs without AVX2 (and the reference the vector levels are checked against). Also the
 * contract of every primitive:
 *
 *   vf  SIMD_W fp32 lanes; vi  SIMD_W int32 lanes; vm  a lane mask.
 *   vf_add/sub/mul/div     one IEEE operation per lane (round to nearest even)
 *   vf_fma(a, b, c)        a*b + c rounded once (fmaf)
 *   vf_neg_abs(x)          -|x| (sign bit set)
 *   vf_max0(t)             t > 0 ? t : +0 (NaN and -0 give +0)
 *   vf_ge/gt/lt/eq         ordered comparisons (false when either lane is NaN)
 *   vf_select(m, a, b)     m ? a : b
 *   vm_first(n)            lanes j < n;  vm_from_bytes(p): lanes with p[j] != 0
 *   vm_all(m)              every lane set
 *   vf_bits / vf_from_bits the lanes' bit patterns; vi_* 32-bit integer arithmetic
 *   vi_sra1                halving, rounded down or toward zero (the exp uses it only where
 *                          both give the same result)
 *   vf_load/_n, vf_store/_n (and _bf16, _f16)   lanes j < n only for the _n forms (others
 *                          read as +0, never touched when storing)
 *   vf_fold(acc, v)        the canonical lane fold of semcl_fold.h over the first v vectors
 *   vf_fold_rows(rows)     lane r: the in-register part of that fold (w = SIMD_W/2 .. 1) of
 *                          rows[r], for SIMD_W vectors at once
 */
#ifndef SEMCL_SIMD_SCALAR_H
#define SEMCL_SIMD_SCALAR_H

#include <math.h>
#include <stdint.h>

#include "../../semcl_math.h"

#define SIMD_W 1
#define SIMD_NAME scalar
#if defined(__GNUC__)
#define SIMD_INLINE static inline __attribute__((always_inline))
#else
#define SIMD_INLINE static inline
#endif

typedef float vf;
typedef int32_t vi;
typedef int vm;

SIMD_INLINE vf vf_set1(float x) { return x; }
SIMD_INLINE vf vf_zero(void) { return 0.0f; }
SIMD_INLINE vf vf_add(vf a, vf b) { return a + b; }
SIMD_INLINE vf vf_sub(vf a, vf b) { return a - b; }
SIMD_INLINE vf vf_mul(vf a, vf b) { return a * b; }
SIMD_INLINE vf vf_div(vf a, vf b) { return a / b; }
SIMD_INLINE vf vf_fma(vf a, vf b, vf c) { return fmaf(a, b, c); }
SIMD_INLINE vf vf_neg_abs(vf x) { return -fabsf(x); }

SIMD_INLINE vf vf_max0(vf t) { return t > 0.0f ? t : 0.0f; }
SIMD_INLINE vm vf_ge(vf a, vf b) { return a >= b; }
SIMD_INLINE vm vf_gt(vf a, vf b) { return a > b; }
SIMD_INLINE vm vf_lt(vf a, vf b) { return a < b; }
SIMD_INLINE vm vf_eq(vf a, vf b) { return a == b; }
SIMD_INLINE vf vf_select(vm m, vf a, vf b) { return m ? a : b; }
SIMD_INLINE vm vm_and(vm a, vm b) { return a && b; }
SIMD_INLINE int vm_all(vm m) { return m != 0; }
SIMD_INLINE vm vm_first(int64_t n) { return n > 0; }
SIMD_INLINE vm vm_from_bytes(const uint8_t *p) { return p[0] != 0; }

SIMD_INLINE vi vf_bits(vf x) { return (vi)semcl_bits_from_float(x); }
SIMD_INLINE vf vf_from_bits(vi x) { return semcl_float_from_bits((uint32_t)x); }
SIMD_INLINE vi vi_set1(int32_t x) { return x; }
SIMD_INLINE vi vi_add(vi a, vi b) { return (vi)((uint32_t)a + (uint32_t)b); }
SIMD_INLINE vi vi_sub(vi a, vi b) { return (vi)((uint32_t)a - (uint32_t)b); }
SIMD_INLINE vi vi_shl23(vi a) { return (vi)((uint32_t)a << 23); }
SIMD_INLINE vi vi_sra1(vi a) { return a / 2; }

SIMD_INLINE vf vf_load(const float *p) { return *p; }
SIMD_INLINE void vf_store(float *p, vf v) { *p = v; }
SIMD_INLINE vf vf_load_n(const float *p, int n) { return n > 0 ? *p : 0.0f; }
SIMD_INLINE void vf_store_n(float *p, vf v, int n) {
  if (n > 0) *p = v;
}
SIMD_INLINE vf vf_load_bf16(const uint16_t *p) { return semcl_bf16_to_f32(*p); }
SIMD_INLINE void vf_store_bf16(uint16_t *p, vf v) { *p = semcl_f32_to_bf16(v); }
SIMD_INLINE vf vf_load_f16(const uint16_t *p) { return semcl_f16_to_f32(*p); }
SIMD_INLINE void vf_store_f16(uint16_t *p, vf v) { *p = semcl_f32_to_f16(v); }
SIMD_INLINE vf vf_load_bf16_n(const uint16_t *p, int n) { return n > 0 ? vf_load_bf16(p) : 0.0f; }
SIMD_INLINE void vf_store_bf16_n(uint16_t *p, vf v, int n) {
  if (n > 0) vf_store_bf16(p, v);
}
SIMD_INLINE vf vf_load_f16_n(const uint16_t *p, int n) { return n > 0 ? vf_load_f16(p) : 0.0f; }
SIMD_INLINE void vf_store_f16_n(uint16_t *p, vf v, int n) {
  if (n > 0) vf_store_f16(p, v);
}

SIMD_INLINE float vf_fold(vf *acc, int vectors) {
  for (int w = vectors / 2; w >= 1; w /= 2)
    for (int a = 0; a < w; ++a) acc[a] = acc[a] + acc[a + w];
  return acc[0];
}

/* One lane: nothing to fold. */
SIMD_INLINE vf vf_fold_rows(const vf *rows) { return rows[0]; }

#endif /* SEMCL_SIMD_SCALAR_H */
