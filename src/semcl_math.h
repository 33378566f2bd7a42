/*
 * semcl_math.h — the one source of truth for the per-element math.
 *
 * Scalar fp32 functions (and the fp64 row epilogue) included by the CPU path and by the
 * CUDA kernels alike. Every operation is an IEEE-754 basic operation or an explicit fmaf, so a
 * build without floating-point contraction (-ffp-contract=off on the host, -fmad=false for
 * nvcc) produces bitwise identical results on every backend and every SIMD width.
 *
 * exp and log1p are polynomials of our own instead of libm calls: libm differs between
 * glibc, CUDA and vector libraries, and the calls stop the compiler from vectorising.
 * Accuracy (measured by tests/core/test_math.cpp): exp <= 2 ulp, log1p on [0,1] <= 3 ulp.
 */
#ifndef SEMCL_MATH_H
#define SEMCL_MATH_H

#include <stdint.h>

#if defined(__CUDACC__)
#define SEMCL_FN static __host__ __device__ __forceinline__
#else
#include <math.h>
#include <string.h>
#if defined(__GNUC__)
/* Always inlined: the CPU kernels are compiled once per ISA level (target_clones), and only
 * inlined math gets that level's FMA and vector instructions. */
#define SEMCL_FN static inline __attribute__((always_inline))
#else
#define SEMCL_FN static inline
#endif
#endif

SEMCL_FN float semcl_float_from_bits(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
#endif
}

SEMCL_FN double semcl_double_from_bits(uint64_t bits) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double((long long)bits);
#else
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
#endif
}

SEMCL_FN uint64_t semcl_bits_from_double(double d) {
#if defined(__CUDA_ARCH__)
  return (uint64_t)__double_as_longlong(d);
#else
  uint64_t bits;
  memcpy(&bits, &d, sizeof bits);
  return bits;
#endif
}

SEMCL_FN uint32_t semcl_bits_from_float(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  return bits;
#endif
}

/* exp(a) for a <= 0 (or NaN, which propagates). Cephes-style: a = n*ln2 + r, |r| <= ln2/2,
 * exp(r) = 1 + r + r^2*P(r), then scaling by 2^n in two normal steps so that results in the
 * subnormal range are rounded once, correctly (softplus(-88.7) must be 3.0e-39, not 0). */
SEMCL_FN float semcl_exp_nonpos(float a) {
  /* exp(-104) < half the smallest subnormal: clamp so that n stays in [-150, 0].
   * Written as a compare-select so that NaN passes through (fmaxf would drop it). */
  a = a < -104.0f ? -104.0f : a;
  const float round_magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
  const float t = fmaf(a, 1.44269504088896341f, round_magic);
  const float n = t - round_magic;
  float r = fmaf(n, -0.693359375f, a); /* ln2 split in two: the high part is exact in n*hi */
  r = fmaf(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = fmaf(p, r, 1.3981999507e-3f);
  p = fmaf(p, r, 8.3334519073e-3f);
  p = fmaf(p, r, 4.1665795894e-2f);
  p = fmaf(p, r, 1.6666665459e-1f);
  p = fmaf(p, r, 5.0000001201e-1f);
  p = fmaf(p, r * r, r) + 1.0f;
  /* n sits in the low mantissa bits of t; unsigned arithmetic keeps NaN inputs defined. */
  const int32_t ni = (int32_t)(semcl_bits_from_float(t) - 0x4B400000u);
  const int32_t n_half = ni / 2;
  const int32_t n_rest = ni - n_half;
  const float scale_a = semcl_float_from_bits((uint32_t)(n_half + 127) << 23);
  const float scale_b = semcl_float_from_bits((uint32_t)(n_rest + 127) << 23);
  return (p * scale_a) * scale_b;
}

/* log1p(e) for e in [0, 1]: e * P(e), degree-9 polynomial fitted for relative error
 * (scripts/fit_log1p_poly.py). No range reduction is needed: in the losses the argument is
 * always exp(-|x|), which lies in (0, 1]. */
SEMCL_FN float semcl_log1p_unit(float e) {
  float p = -0.003246020060032606f;
  p = fmaf(p, e, 0.019860535860061646f);
  p = fmaf(p, e, -0.05697675794363022f);
  p = fmaf(p, e, 0.10605420917272568f);
  p = fmaf(p, e, -0.1530665159225464f);
  p = fmaf(p, e, 0.19676312804222107f);
  p = fmaf(p, e, -0.24954208731651306f);
  p = fmaf(p, e, 0.3332996964454651f);
  p = fmaf(p, e, -0.4999990165233612f);
  p = fmaf(p, e, 1.0f);
  return p * e;
}

/* softplus(t) = max(t,0) + log1p(exp(-|t|)) and sigmoid(t), sharing one exp.
 * NaN propagates to both; +-inf give the limits (+inf, 1) and (0, 0). */
SEMCL_FN void semcl_softplus_sigmoid(float t, float *softplus, float *sigmoid) {
  const float e = semcl_exp_nonpos(-fabsf(t));
  const float r = 1.0f / (1.0f + e);
  *softplus = (t > 0.0f ? t : 0.0f) + semcl_log1p_unit(e);
  *sigmoid = t >= 0.0f ? r : e * r;
}

/* BCEWithLogits(x, y) with positive-class weight pw (BCEWithLogits' pos_weight) and its
 * derivative, sharing one exp:
 *   BCE = pw*y*softplus(-x) + (1-y)*softplus(x) = w*|x| + c*log1p(exp(-|x|)),
 *   w = (x >= 0 ? 1-y : y*pw),  c = 1 + (pw-1)*y.
 * Both terms are non-negative for labels in [0,1], so nothing cancels, and a hard label
 * (w == 0) gives exactly the limit at x = +-inf instead of 0*inf. With pw == 1 (no pos_weight)
 * c is exactly 1. The derivative (1-y)*sigmoid(x) - pw*y*sigmoid(-x) is formed without
 * cancellation for hard labels: -pw*sigmoid(-x) for y == 1, sigmoid(x) for y == 0; soft labels
 * with pw == 1 use sigmoid(x) - y. */
SEMCL_FN void semcl_bce_with_logits_pw(float x, float y, float pw, float *loss,
                                       float *dloss_dx) {
  const float ax = fabsf(x);
  const float e = semcl_exp_nonpos(-ax);
  const float r = 1.0f / (1.0f + e);
  const float w = x >= 0.0f ? 1.0f - y : y * pw;
  const float linear = w == 0.0f ? 0.0f : w * ax;
  const float c = 1.0f + (pw - 1.0f) * y;
  *loss = linear + c * semcl_log1p_unit(e);
  const float sig_x = x >= 0.0f ? r : e * r;
  const float sig_minus_x = x >= 0.0f ? e * r : r;
  const float soft = pw == 1.0f ? sig_x - y : (1.0f - y) * sig_x - (y * pw) * sig_minus_x;
  *dloss_dx = y == 1.0f ? -(pw * sig_minus_x) : (y == 0.0f ? sig_x : soft);
}

/* BCEWithLogits(x, y) without pos_weight. */
SEMCL_FN void semcl_bce_with_logits(float x, float y, float *loss, float *dloss_dx) {
  semcl_bce_with_logits_pw(x, y, 1.0f, loss, dloss_dx);
}

/* expm1(v) for |v| <= 1/2: Taylor to v^9 (truncation below 2e-10 relative), Horner with fmaf.
 * Used only where the argument is a small difference of scores (loss 1's gradient). */
SEMCL_FN float semcl_expm1_small(float v) {
  float p = 2.7557319e-6f; /* 1/9! */
  p = fmaf(p, v, 2.4801587e-5f);
  p = fmaf(p, v, 1.9841270e-4f);
  p = fmaf(p, v, 1.3888889e-3f);
  p = fmaf(p, v, 8.3333333e-3f);
  p = fmaf(p, v, 4.1666667e-2f);
  p = fmaf(p, v, 1.6666667e-1f);
  p = fmaf(p, v, 0.5f);
  p = fmaf(p, v, 1.0f);
  return p * v;
}

/* exp(a) for a <= 0 (NaN propagates) in fp64: same scheme as semcl_exp_nonpos, with a
 * degree-13 Taylor polynomial (truncation < 5e-18 on |r| <= ln2/2). Used only for O(B) row
 * terms that cancel (loss 1's grad_raw), where fp32 would leave nothing but rounding error. */
SEMCL_FN double semcl_exp_nonpos_f64(double a) {
  a = a < -746.0 ? -746.0 : a; /* exp(-746) rounds to 0; keeps n in [-1077, 0] */
  const double round_magic = 6755399441055744.0; /* 1.5 * 2^52 */
  const double t = fma(a, 1.4426950408889634, round_magic);
  const double n = t - round_magic;
  double r = fma(n, -6.93147180369123816490e-01, a); /* ln2 high part: n*hi is exact */
  r = fma(n, -1.90821492927058770002e-10, r);
  double p = 1.0 / 6227020800.0; /* 1/13! */
  p = fma(p, r, 1.0 / 479001600.0);
  p = fma(p, r, 1.0 / 39916800.0);
  p = fma(p, r, 1.0 / 3628800.0);
  p = fma(p, r, 1.0 / 362880.0);
  p = fma(p, r, 1.0 / 40320.0);
  p = fma(p, r, 1.0 / 5040.0);
  p = fma(p, r, 1.0 / 720.0);
  p = fma(p, r, 1.0 / 120.0);
  p = fma(p, r, 1.0 / 24.0);
  p = fma(p, r, 1.0 / 6.0);
  p = fma(p, r, 0.5);
  p = fma(p, r * r, r) + 1.0;
  /* n is in [-1077, 0]: the low 32 bits of the difference hold it (32-bit integer work
   * vectorises on every x86-64 level). */
  const int32_t ni = (int32_t)(uint32_t)(semcl_bits_from_double(t) - 0x4338000000000000ull);
  const int32_t n_half = ni / 2;
  const int32_t n_rest = ni - n_half;
  const double scale_a = semcl_double_from_bits((uint64_t)(uint32_t)(n_half + 1023) << 52);
  const double scale_b = semcl_double_from_bits((uint64_t)(uint32_t)(n_rest + 1023) << 52);
  return (p * scale_a) * scale_b;
}

/* sigmoid(x) and sigmoid(-x) in fp64 from one exp (NaN propagates, +-inf give 1 and 0). */
SEMCL_FN void semcl_sigmoid_pair_f64(double x, double *sigmoid_x, double *sigmoid_minus_x) {
  const double e = semcl_exp_nonpos_f64(-fabs(x));
  const double r = 1.0 / (1.0 + e);
  *sigmoid_x = x >= 0.0 ? r : e * r;
  *sigmoid_minus_x = x >= 0.0 ? e * r : r;
}

SEMCL_FN double semcl_sigmoid_f64(double x) {
  double sig_x, sig_minus_x;
  semcl_sigmoid_pair_f64(x, &sig_x, &sig_minus_x);
  return sig_x;
}

/* -sign_b = 1 - 2*y_b, computed as the seed does (sign = y*2 - 1), then negated exactly. */
SEMCL_FN float semcl_neg_sign(float y) { return -(y * 2.0f - 1.0f); }

/* ---- 16-bit storage types (the scores and gradients of a bf16/fp16 call) ----------------
 * Widening is exact. Narrowing rounds to nearest, ties to even (IEEE), with overflow to inf,
 * gradual underflow for fp16 and NaN kept NaN (a quiet NaN; its payload bits are not part of
 * the contract). CUDA's __float2bfloat16_rn / __float2half_rn compute the same values. */
SEMCL_FN float semcl_bf16_to_f32(uint16_t h) { return semcl_float_from_bits((uint32_t)h << 16); }

SEMCL_FN uint16_t semcl_f32_to_bf16(float f) {
  const uint32_t u = semcl_bits_from_float(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* NaN: quiet */
  const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)((u + rounding) >> 16);
}

SEMCL_FN float semcl_f16_to_f32(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1fu) /* inf or NaN */
    return semcl_float_from_bits(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) return semcl_float_from_bits(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  /* zero or subnormal: mantissa * 2^-24, exact in fp32 */
  const float magnitude = (float)mantissa * 5.9604644775390625e-8f;
  return semcl_float_from_bits(sign | semcl_bits_from_float(magnitude));
}

SEMCL_FN uint16_t semcl_f32_to_f16(float f) {
  const uint32_t u = semcl_bits_from_float(f);
  const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* NaN */
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520: rounds to inf */
  if (a >= 0x38800000u) {                                  /* normal fp16 (>= 2^-14) */
    const uint32_t rounded = a + 0xfffu + ((a >> 13) & 1u);
    return (uint16_t)(sign | ((rounded - 0x38000000u) >> 13));
  }
  /* subnormal fp16 or zero: round |f| * 2^24 to an integer, ties to even. |f| < 2^-14, so
   * the product is < 1024 and exact, and adding 2^23 rounds it (RNE) into the low bits. */
  const float scaled = semcl_float_from_bits(a) * 16777216.0f;
  const uint32_t bits = semcl_bits_from_float(scaled + 8388608.0f) - 0x4b000000u;
  return (uint16_t)(sign | bits);
}

#endif /* SEMCL_MATH_H */
