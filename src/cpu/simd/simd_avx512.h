/*
 * simd_avx512.h — the vector primitives of the CPU kernels for x86-64 AVX-512 F/BW/DQ/VL
 * (16 fp32 lanes). Included once, by kernels_avx512.c, compiled with the AVX-512 flags.
 * Same contract as simd_scalar.h, lane for lane.
 */
#ifndef SEMCL_SIMD_AVX512_H
#define SEMCL_SIMD_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#define SIMD_W 16
#define SIMD_NAME avx512
#define SIMD_INLINE static inline __attribute__((always_inline))

typedef __m512 vf;
typedef __m512i vi;
typedef __mmask16 vm;

SIMD_INLINE vf vf_set1(float x) { return _mm512_set1_ps(x); }
SIMD_INLINE vf vf_zero(void) { return _mm512_setzero_ps(); }
SIMD_INLINE vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
SIMD_INLINE vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
SIMD_INLINE vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
SIMD_INLINE vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
SIMD_INLINE vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
SIMD_INLINE vf vf_neg_abs(vf x) {
  return _mm512_castsi512_ps(
      _mm512_or_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int32_t)0x80000000u)));
}

/* t > 0 ? t : +0 (MAXPS returns its second operand when either is NaN or both are zero). */
SIMD_INLINE vf vf_max0(vf t) { return _mm512_max_ps(t, _mm512_setzero_ps()); }
SIMD_INLINE vm vf_ge(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
SIMD_INLINE vm vf_gt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
SIMD_INLINE vm vf_lt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
SIMD_INLINE vm vf_eq(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
SIMD_INLINE vf vf_select(vm m, vf a, vf b) { return _mm512_mask_blend_ps(m, b, a); }
SIMD_INLINE vm vm_and(vm a, vm b) { return (vm)(a & b); }
SIMD_INLINE int vm_all(vm m) { return m == (vm)0xffff; }
SIMD_INLINE vm vm_first(int64_t n) {
  const int k = n <= 0 ? 0 : (n >= 16 ? 16 : (int)n);
  return (vm)((1u << k) - 1u);
}
SIMD_INLINE vm vm_from_bytes(const uint8_t *p) {
  const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)p);
  return (vm)_mm_test_epi8_mask(b, b);
}

SIMD_INLINE vi vf_bits(vf x) { return _mm512_castps_si512(x); }
SIMD_INLINE vf vf_from_bits(vi x) { return _mm512_castsi512_ps(x); }
SIMD_INLINE vi vi_set1(int32_t x) { return _mm512_set1_epi32(x); }
SIMD_INLINE vi vi_add(vi a, vi b) { return _mm512_add_epi32(a, b); }
SIMD_INLINE vi vi_sub(vi a, vi b) { return _mm512_sub_epi32(a, b); }
SIMD_INLINE vi vi_shl23(vi a) { return _mm512_slli_epi32(a, 23); }
SIMD_INLINE vi vi_sra1(vi a) { return _mm512_srai_epi32(a, 1); }

SIMD_INLINE vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
SIMD_INLINE void vf_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
SIMD_INLINE vf vf_load_n(const float *p, int n) { return _mm512_maskz_loadu_ps(vm_first(n), p); }
SIMD_INLINE void vf_store_n(float *p, vf v, int n) { _mm512_mask_storeu_ps(p, vm_first(n), v); }

SIMD_INLINE vf vf_from_bf16x16(__m256i h) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
SIMD_INLINE __m256i vf_to_bf16x16(vf v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i rounded =
      _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  const __m512i quiet_nan = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
  const __mmask16 is_nan = _mm512_cmpgt_epi32_mask(
      _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  return _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(is_nan, rounded, quiet_nan));
}
SIMD_INLINE vf vf_load_bf16(const uint16_t *p) {
  return vf_from_bf16x16(_mm256_loadu_si256((const __m256i *)(const void *)p));
}
SIMD_INLINE void vf_store_bf16(uint16_t *p, vf v) {
  _mm256_storeu_si256((__m256i *)(void *)p, vf_to_bf16x16(v));
}
SIMD_INLINE vf vf_load_f16(const uint16_t *p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
}
SIMD_INLINE void vf_store_f16(uint16_t *p, vf v) {
  _mm256_storeu_si256((__m256i *)(void *)p, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
SIMD_INLINE vf vf_load_bf16_n(const uint16_t *p, int n) {
  return vf_from_bf16x16(_mm256_maskz_loadu_epi16(vm_first(n), p));
}
SIMD_INLINE void vf_store_bf16_n(uint16_t *p, vf v, int n) {
  _mm256_mask_storeu_epi16(p, vm_first(n), vf_to_bf16x16(v));
}
SIMD_INLINE vf vf_load_f16_n(const uint16_t *p, int n) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(vm_first(n), p));
}
SIMD_INLINE void vf_store_f16_n(uint16_t *p, vf v, int n) {
  _mm256_mask_storeu_epi16(p, vm_first(n), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}

/* acc[0 .. 2) hold lanes 0..15 and 16..31: lanes j + j+16 across vectors, then w = 8, 4, 2, 1
 * inside the register. */
SIMD_INLINE float vf_fold(vf *acc, int vectors) {
  if (vectors == 2) acc[0] = _mm512_add_ps(acc[0], acc[1]);
  const __m256 lo = _mm512_castps512_ps256(acc[0]);
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[0]), 1));
  const __m256 w8 = _mm256_add_ps(lo, hi);
  const __m128 w4 = _mm_add_ps(_mm256_castps256_ps128(w8), _mm256_extractf128_ps(w8, 1));
  const __m128 w2 = _mm_add_ps(w4, _mm_movehl_ps(w4, w4));
  const __m128 w1 = _mm_add_ss(w2, _mm_shuffle_ps(w2, w2, 1));
  return _mm_cvtss_f32(w1);
}

/* Lane r = the in-register fold of rows[r] (vf_fold of that one vector), for 16 rows. Row by
 * row through memory: simple rather than fast (this level is the widest, its rows the longest). */
SIMD_INLINE vf vf_fold_rows(const vf *rows) {
  float out[16];
  for (int r = 0; r < 16; ++r) {
    vf one = rows[r];
    out[r] = vf_fold(&one, 1);
  }
  return _mm512_loadu_ps(out);
}

#endif /* SEMCL_SIMD_AVX512_H */
