/*
 * simd_avx2.h — the vector primitives of the CPU kernels for x86-64 AVX2 + FMA + F16C
 * (8 fp32 lanes). Included once, by kernels_avx2.c, which is compiled with -mavx2 -mfma -mf16c.
 * Every primitive is one IEEE operation per lane (or a bit manipulation), so the kernels built
 * on them compute the bits of the scalar definitions in semcl_math.h. See simd_scalar.h for
 * the contract of each primitive.
 */
#ifndef SEMCL_SIMD_AVX2_H
#define SEMCL_SIMD_AVX2_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define SIMD_W 8
#define SIMD_NAME avx2
#define SIMD_INLINE static inline __attribute__((always_inline))

typedef __m256 vf;  /* 8 fp32 lanes */
typedef __m256i vi; /* 8 int32 lanes */
typedef __m256 vm;  /* lane mask: all ones or all zeros per lane */

SIMD_INLINE vf vf_set1(float x) { return _mm256_set1_ps(x); }
SIMD_INLINE vf vf_zero(void) { return _mm256_setzero_ps(); }
SIMD_INLINE vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
SIMD_INLINE vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
SIMD_INLINE vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
SIMD_INLINE vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
SIMD_INLINE vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
/* -|x| (sets the sign bit; NaN stays NaN). */
SIMD_INLINE vf vf_neg_abs(vf x) { return _mm256_or_ps(x, _mm256_set1_ps(-0.0f)); }

/* t > 0 ? t : +0 (MAXPS returns its second operand when either is NaN or both are zero). */
SIMD_INLINE vf vf_max0(vf t) { return _mm256_max_ps(t, _mm256_setzero_ps()); }
SIMD_INLINE vm vf_ge(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
SIMD_INLINE vm vf_gt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
SIMD_INLINE vm vf_lt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
SIMD_INLINE vm vf_eq(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
/* m ? a : b per lane. */
SIMD_INLINE vf vf_select(vm m, vf a, vf b) { return _mm256_blendv_ps(b, a, m); }
SIMD_INLINE vm vm_and(vm a, vm b) { return _mm256_and_ps(a, b); }
SIMD_INLINE int vm_all(vm m) { return _mm256_movemask_ps(m) == 0xff; }
/* Lanes j < n (n may be <= 0 or >= 8). */
SIMD_INLINE vm vm_first(int64_t n) {
  const int k = n <= 0 ? 0 : (n >= 8 ? 8 : (int)n);
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(k), lanes));
}
/* Lanes whose byte p[j] is nonzero (reads 8 bytes). */
SIMD_INLINE vm vm_from_bytes(const uint8_t *p) {
  int64_t bytes;
  memcpy(&bytes, p, sizeof bytes);
  const __m256i wide = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(bytes));
  return _mm256_castsi256_ps(
      _mm256_xor_si256(_mm256_cmpeq_epi32(wide, _mm256_setzero_si256()), _mm256_set1_epi32(-1)));
}

/* ---- integer views (the exp's exponent arithmetic) ---------------------------------------- */
SIMD_INLINE vi vf_bits(vf x) { return _mm256_castps_si256(x); }
SIMD_INLINE vf vf_from_bits(vi x) { return _mm256_castsi256_ps(x); }
SIMD_INLINE vi vi_set1(int32_t x) { return _mm256_set1_epi32(x); }
SIMD_INLINE vi vi_add(vi a, vi b) { return _mm256_add_epi32(a, b); }
SIMD_INLINE vi vi_sub(vi a, vi b) { return _mm256_sub_epi32(a, b); }
SIMD_INLINE vi vi_shl23(vi a) { return _mm256_slli_epi32(a, 23); }
SIMD_INLINE vi vi_sra1(vi a) { return _mm256_srai_epi32(a, 1); }

/* ---- memory: fp32 and the 16-bit storage types; _n variants touch lanes j < n only --------- */
SIMD_INLINE vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
SIMD_INLINE void vf_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
SIMD_INLINE vf vf_load_n(const float *p, int n) {
  return _mm256_maskload_ps(p, _mm256_castps_si256(vm_first(n)));
}
SIMD_INLINE void vf_store_n(float *p, vf v, int n) {
  _mm256_maskstore_ps(p, _mm256_castps_si256(vm_first(n)), v);
}

SIMD_INLINE vf vf_from_bf16x8(__m128i h) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
/* fp32 -> bf16, round to nearest even; NaN -> quiet NaN (semcl_f32_to_bf16). */
SIMD_INLINE __m128i vf_to_bf16x8(vf v) {
  const __m256i u = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i rounded =
      _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
  const __m256i quiet_nan = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
  const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
                                            _mm256_set1_epi32(0x7f800000));
  const __m256i h = _mm256_blendv_epi8(rounded, quiet_nan, is_nan);
  /* pack the low 16 bits of each lane (values < 2^16, so the unsigned saturation is exact) */
  const __m256i packed = _mm256_packus_epi32(h, h);
  return _mm256_castsi256_si128(_mm256_permute4x64_epi64(packed, 0x08));
}
SIMD_INLINE vf vf_load_bf16(const uint16_t *p) {
  return vf_from_bf16x8(_mm_loadu_si128((const __m128i *)(const void *)p));
}
SIMD_INLINE void vf_store_bf16(uint16_t *p, vf v) {
  _mm_storeu_si128((__m128i *)(void *)p, vf_to_bf16x8(v));
}
SIMD_INLINE vf vf_load_f16(const uint16_t *p) {
  return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
}
SIMD_INLINE void vf_store_f16(uint16_t *p, vf v) {
  _mm_storeu_si128((__m128i *)(void *)p, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
/* Partial 16-bit vectors go through a small buffer (no 16-bit masked load in AVX2). */
SIMD_INLINE vf vf_load_bf16_n(const uint16_t *p, int n) {
  uint16_t tmp[8] = {0};
  memcpy(tmp, p, (size_t)(n > 0 ? n : 0) * sizeof *p);
  return vf_load_bf16(tmp);
}
SIMD_INLINE void vf_store_bf16_n(uint16_t *p, vf v, int n) {
  uint16_t tmp[8];
  vf_store_bf16(tmp, v);
  memcpy(p, tmp, (size_t)(n > 0 ? n : 0) * sizeof *p);
}
SIMD_INLINE vf vf_load_f16_n(const uint16_t *p, int n) {
  uint16_t tmp[8] = {0};
  memcpy(tmp, p, (size_t)(n > 0 ? n : 0) * sizeof *p);
  return vf_load_f16(tmp);
}
SIMD_INLINE void vf_store_f16_n(uint16_t *p, vf v, int n) {
  uint16_t tmp[8];
  vf_store_f16(tmp, v);
  memcpy(p, tmp, (size_t)(n > 0 ? n : 0) * sizeof *p);
}

/* ---- the canonical lane fold (semcl_fold.h) ------------------------------------------------
 * acc[0 .. 32/8) hold lanes 8a .. 8a+7 of the 32 canonical lanes. The first `vectors` of them
 * (a power of two) are folded: lanes j + j+w for w = 4*vectors .. 8 across vectors, then
 * w = 4, 2, 1 inside the register. The other lanes must be +0 (short chunks). */
SIMD_INLINE float vf_fold(vf *acc, int vectors) {
  for (int w = vectors / 2; w >= 1; w /= 2)
    for (int a = 0; a < w; ++a) acc[a] = _mm256_add_ps(acc[a], acc[a + w]);
  const __m128 w4 = _mm_add_ps(_mm256_castps256_ps128(acc[0]), _mm256_extractf128_ps(acc[0], 1));
  const __m128 w2 = _mm_add_ps(w4, _mm_movehl_ps(w4, w4));
  const __m128 w1 = _mm_add_ss(w2, _mm_shuffle_ps(w2, w2, 1));
  return _mm_cvtss_f32(w1);
}

/* Lane r = the in-register fold of rows[r] (lanes j + j+4, then j + j+2, then j + j+1, each
 * sum with the lower lane first, as vf_fold): eight rows' folds in 3 + 2 + 1 adds. Rows r and
 * r+4 share the first step (their halves side by side), rows r, r+1 of the result come from
 * the two halves of each later step's vector. */
SIMD_INLINE __m256 vf_fold_rows_w4(__m256 a, __m256 b) { /* [a lo+hi | b lo+hi] */
  return _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
}
SIMD_INLINE vf vf_fold_rows(const vf *rows) {
  /* h_r: row r's 4 sums in the low half, row r+4's in the high half */
  const __m256 h0 = vf_fold_rows_w4(rows[0], rows[4]), h1 = vf_fold_rows_w4(rows[1], rows[5]);
  const __m256 h2 = vf_fold_rows_w4(rows[2], rows[6]), h3 = vf_fold_rows_w4(rows[3], rows[7]);
  /* w = 2: [r0 s0+s2, r0 s1+s3, r1 .., r1 .. | r4 .., r4 .., r5 .., r5 ..] */
  const __m256 q01 = _mm256_add_ps(_mm256_shuffle_ps(h0, h1, _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm256_shuffle_ps(h0, h1, _MM_SHUFFLE(3, 2, 3, 2)));
  const __m256 q23 = _mm256_add_ps(_mm256_shuffle_ps(h2, h3, _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm256_shuffle_ps(h2, h3, _MM_SHUFFLE(3, 2, 3, 2)));
  /* w = 1: [r0, r1, r2, r3 | r4, r5, r6, r7] */
  return _mm256_add_ps(_mm256_shuffle_ps(q01, q23, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm256_shuffle_ps(q01, q23, _MM_SHUFFLE(3, 1, 3, 1)));
}

#endif /* SEMCL_SIMD_AVX2_H */
