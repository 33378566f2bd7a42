// formats16.h — bf16 and fp16, written independently of the library (from the formats'
// definitions, by comparing candidates in double): the tests' source of expected 16-bit values.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "semcl/semcl.h"

namespace semcl_test {
namespace formats16 {

inline uint16_t Bf16Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return (uint16_t)(u >> 16);
}
inline float FromBf16(uint16_t h) {
  const uint32_t u = (uint32_t)h << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
// Nearest bf16 (ties to the even one) by comparing the two candidates in double.
inline uint16_t RoundBf16(float f) {
  if (std::isnan(f)) return 0x7fc0;
  const uint16_t lo = Bf16Bits(f);  // truncation: |lo| <= |f|
  const uint16_t hi = (uint16_t)(lo + 1);
  const double dlo = std::fabs((double)FromBf16(lo) - (double)f);
  const double dhi = std::fabs((double)FromBf16(hi) - (double)f);
  if (dlo < dhi) return lo;
  if (dhi < dlo) return hi;
  return (lo & 1) ? hi : lo;
}

inline double Fp16Value(uint16_t h) {
  const int e = (h >> 10) & 31, m = h & 1023;
  const double s = (h & 0x8000) ? -1.0 : 1.0;
  if (e == 31) return m ? NAN : s * INFINITY;
  if (e == 0) return s * std::ldexp((double)m, -24);
  return s * std::ldexp(1.0 + m / 1024.0, e - 15);
}
inline float FromFp16(uint16_t h) { return (float)Fp16Value(h); }
// Nearest fp16 (ties to even) by search over all positive finite values.
inline uint16_t RoundFp16(float f) {
  static std::vector<double> table;  // table[i] = value of bits i, i in [0, 0x7bff]
  if (table.empty())
    for (uint16_t i = 0; i <= 0x7bff; ++i) table.push_back(Fp16Value(i));
  if (std::isnan(f)) return 0x7e00;
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs((double)f);
  if (a >= 65520.0) return sign | 0x7c00;
  const size_t i = std::lower_bound(table.begin(), table.end(), a) - table.begin();
  if (i == 0) return sign;
  if (i >= table.size()) return sign | 0x7bff;
  const double dlo = a - table[i - 1], dhi = table[i] - a;
  uint16_t bits;
  if (dlo < dhi)
    bits = (uint16_t)(i - 1);
  else if (dhi < dlo)
    bits = (uint16_t)i;
  else
    bits = (uint16_t)((i - 1) % 2 == 0 ? i - 1 : i);
  return sign | bits;
}

inline uint16_t Round16(semcl_dtype_t dt, float f) {
  return dt == SEMCL_DTYPE_BFLOAT16 ? RoundBf16(f) : RoundFp16(f);
}
inline float From16(semcl_dtype_t dt, uint16_t h) {
  return dt == SEMCL_DTYPE_BFLOAT16 ? FromBf16(h) : FromFp16(h);
}

}  // namespace formats16
}  // namespace semcl_test
