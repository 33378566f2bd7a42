/* fuzz_values.c — see fuzz_values.h. */
#include "fuzz_values.h"

#include <float.h>
#include <math.h>
#include <string.h>

uint64_t fuzz_rng_next(fuzz_rng *rng) { /* splitmix64 */
  uint64_t z = (rng->state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double fuzz_rng_range(fuzz_rng *rng, double lo, double hi) {
  const double u = (double)(fuzz_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
  return lo + (hi - lo) * u;
}

static float from_bits(uint32_t b) {
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}

static uint32_t to_bits(float f) {
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  return b;
}

/* Values that break things: non-finite, signed zeros, the ends of the float range, and the
 * places where the library's exp and softplus change behaviour. */
static float special(fuzz_rng *rng, int wild) {
  static const float clean[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 40.0f, -40.0f};
  static const float any[] = {FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN, 1e-45f, -1e-45f,
                              1e30f,   -1e30f,   3e38f,   88.7f,    -88.7f, 104.0f,
                              -104.0f, 150.0f,   2.0f,    -1.0f,    1e-7f,  0.5f};
  const uint64_t r = fuzz_rng_next(rng);
  if (!wild || r % 2 == 0) return clean[(r >> 8) % (sizeof clean / sizeof clean[0])];
  if (r % 4 == 1) return from_bits((uint32_t)(r >> 16)); /* any bit pattern: NaN payloads too */
  return any[(r >> 8) % (sizeof any / sizeof any[0])];
}

static void clean_range(fuzz_kind kind, double *lo, double *hi) {
  switch (kind) {
    case FUZZ_SCORES: *lo = -40.0, *hi = 40.0; return;
    case FUZZ_LABELS: *lo = 0.0, *hi = 1.0; return;
    case FUZZ_WEIGHTS: *lo = 0.0, *hi = 10.0; return;
    case FUZZ_UPSTREAM: *lo = -1000.0, *hi = 1000.0; return;
  }
  *lo = 0.0, *hi = 1.0;
}

int fuzz_is_clean(fuzz_kind kind, float v) {
  double lo, hi;
  clean_range(kind, &lo, &hi);
  if ((double)v >= lo && (double)v <= hi) return 1;
  if (kind == FUZZ_SCORES || kind == FUZZ_LABELS) return isnan(v) || isinf(v);
  return 0;
}

/* spec: bits 0-1 the range (0-1 clean, 2 a wider finite range, 3 any bit pattern), bits 2-4
 * how often a special value replaces the drawn one (0: never .. 7: about every other), bit 5
 * hard labels (0/1) for FUZZ_LABELS, bits 6-7 a narrower clean range (scores near 0). */
void fuzz_fill(float *out, size_t n, fuzz_kind kind, uint8_t spec, uint64_t seed) {
  fuzz_rng rng = {seed};
  const int range = spec & 3, rate = (spec >> 2) & 7, hard = (spec >> 5) & 1;
  double lo, hi;
  clean_range(kind, &lo, &hi);
  if (kind == FUZZ_SCORES && (spec >> 6) != 0) lo /= (double)(spec >> 6) * 8, hi = -lo;
  const int wild = range >= 2;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t r = fuzz_rng_next(&rng);
    if (rate && (r & 15) < (uint64_t)(rate + 1) && (r >> 4) % 8 < (uint64_t)rate) {
      out[i] = special(&rng, wild);
    } else if (range == 3) {
      out[i] = from_bits((uint32_t)(r >> 32));
    } else if (range == 2) {
      out[i] = (float)fuzz_rng_range(&rng, -1e6, 1e6) * (r & 16 ? 1e-3f : 1.0f);
    } else if (kind == FUZZ_LABELS && hard) {
      out[i] = (r >> 8) & 1 ? 1.0f : 0.0f;
    } else {
      out[i] = (float)fuzz_rng_range(&rng, lo, hi);
    }
  }
}

void fuzz_patch(fuzz_reader *r, float *out, size_t n, int max) {
  const int count = fuzz_pick(r, (unsigned)max + 1);
  for (int i = 0; i < count; ++i) {
    const size_t at = fuzz_u16(r);
    const float v = fuzz_float_bits(r);
    if (n > 0) out[at % n] = v;
  }
}

/* ---- 16-bit types, from their definitions ------------------------------------------------ */
float fuzz_bf16_to_f32(uint16_t h) { return from_bits((uint32_t)h << 16); }

float fuzz_f16_to_f32(uint16_t h) {
  const int sign = h >> 15, exponent = (h >> 10) & 31, mantissa = h & 1023;
  double v;
  if (exponent == 31)
    v = mantissa ? NAN : INFINITY;
  else if (exponent == 0)
    v = ldexp((double)mantissa, -24); /* subnormal: mantissa * 2^-24 */
  else
    v = ldexp(1024.0 + (double)mantissa, exponent - 25);
  return (float)(sign ? -v : v);
}

/* The value nearest to f with `bits` significant bits, exponent >= min_exp (gradual
 * underflow), ties to even; `overflow`: the first magnitude that rounds to infinity. */
static float round_to(float f, int bits, int min_exp, double overflow) {
  if (!isfinite(f) || f == 0.0f) return f;
  int e;
  frexp((double)f, &e); /* |f| in [2^(e-1), 2^e) */
  if (e - 1 < min_exp) e = min_exp + 1;
  const double quantum = ldexp(1.0, e - bits); /* spacing of representable values here */
  const double r = nearbyint((double)f / quantum) * quantum; /* default mode: ties to even */
  if (fabs(r) >= overflow) return f > 0 ? INFINITY : -INFINITY;
  return (float)r;
}

float fuzz_round_bf16(float f) { return round_to(f, 8, -126, 0x1p128); }
float fuzz_round_f16(float f) { return round_to(f, 11, -14, 65536.0); }

uint16_t fuzz_bf16_bits(float exact) { return (uint16_t)(to_bits(exact) >> 16); }

uint16_t fuzz_f16_bits(float exact) {
  const uint16_t sign = (uint16_t)((to_bits(exact) >> 16) & 0x8000u);
  const double a = fabs((double)exact);
  if (isnan(exact)) return (uint16_t)(sign | 0x7e00u);
  if (isinf(exact)) return (uint16_t)(sign | 0x7c00u);
  if (a < ldexp(1.0, -14)) return (uint16_t)(sign | (uint16_t)(a * 16777216.0)); /* 2^24 */
  int e;
  const double m = frexp(a, &e); /* a = m * 2^e, m in [0.5, 1) */
  const uint16_t mantissa = (uint16_t)((m * 2048.0) - 1024.0);
  return (uint16_t)(sign | (uint16_t)((e + 14) << 10) | mantissa);
}
