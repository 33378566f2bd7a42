/* fuzz_values.h — the values the fuzzer puts in arrays: a small PRNG driven by seeds from the
 * input, value ranges from "clean" (the tolerance rule applies) to anything (every bit
 * pattern), and the 16-bit storage types written here from their definitions (IEEE binary16,
 * bfloat16 = the high half of binary32), independently of the library. */
#ifndef SEMCL_FUZZ_VALUES_H
#define SEMCL_FUZZ_VALUES_H

#include <stddef.h>
#include <stdint.h>

#include "fuzz_reader.h"

typedef struct fuzz_rng {
  uint64_t state;
} fuzz_rng;

uint64_t fuzz_rng_next(fuzz_rng *rng);
/* Uniform in [lo, hi]. */
double fuzz_rng_range(fuzz_rng *rng, double lo, double hi);

/* What an array holds. Clean ranges keep the fp32 library within the suite's tolerance of the
 * fp64 reference; the "clean" predicates below say which values qualify. */
typedef enum fuzz_kind {
  FUZZ_SCORES,     /* clean: |x| <= 40, or NaN, +-inf */
  FUZZ_LABELS,     /* clean: [0, 1] (hard or soft), or NaN, +-inf */
  FUZZ_WEIGHTS,    /* clean: [0, 10] */
  FUZZ_UPSTREAM    /* clean: [-1000, 1000] */
} fuzz_kind;

/* Fills out[0..n) from one spec byte (value range and how often special values appear) and a
 * seed; wild specs give any float, including every kind of NaN, infinity, huge and subnormal
 * value. */
void fuzz_fill(float *out, size_t n, fuzz_kind kind, uint8_t spec, uint64_t seed);
int fuzz_is_clean(fuzz_kind kind, float v);

/* Explicit values from the input at chosen positions (so that the fuzzer can place a NaN or a
 * boundary value where it wants): up to `max` (index, bits) pairs. */
void fuzz_patch(fuzz_reader *r, float *out, size_t n, int max);

/* The 16-bit types: widening (exact) and the value of round-to-nearest-even narrowing. */
float fuzz_bf16_to_f32(uint16_t h);
float fuzz_f16_to_f32(uint16_t h);
float fuzz_round_bf16(float f); /* the bf16 value nearest to f (ties to even), as a float */
float fuzz_round_f16(float f);  /* the binary16 value nearest to f (ties to even) */
/* Bits of a value that the type represents exactly (a rounded value, inf or NaN). */
uint16_t fuzz_bf16_bits(float exact);
uint16_t fuzz_f16_bits(float exact);

#endif
