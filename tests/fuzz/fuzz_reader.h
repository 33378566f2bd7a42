/* fuzz_reader.h — reads the fuzzer's input bytes as typed values. Past the end every read
 * gives 0, so every input is a valid program (short inputs take the defaults). */
#ifndef SEMCL_FUZZ_READER_H
#define SEMCL_FUZZ_READER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct fuzz_reader {
  const uint8_t *data;
  size_t size;
} fuzz_reader;

static inline uint64_t fuzz_bytes(fuzz_reader *r, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    uint64_t byte = 0;
    if (r->size > 0) {
      byte = r->data[0];
      ++r->data;
      --r->size;
    }
    v |= byte << (8 * i);
  }
  return v;
}

static inline uint8_t fuzz_u8(fuzz_reader *r) { return (uint8_t)fuzz_bytes(r, 1); }
static inline uint16_t fuzz_u16(fuzz_reader *r) { return (uint16_t)fuzz_bytes(r, 2); }
static inline uint32_t fuzz_u32(fuzz_reader *r) { return (uint32_t)fuzz_bytes(r, 4); }
static inline uint64_t fuzz_u64(fuzz_reader *r) { return fuzz_bytes(r, 8); }
/* A value in [0, n) (n >= 1). */
static inline unsigned fuzz_pick(fuzz_reader *r, unsigned n) { return fuzz_u8(r) % n; }
static inline int fuzz_bool(fuzz_reader *r) { return fuzz_u8(r) & 1; }
static inline float fuzz_float_bits(fuzz_reader *r) {
  const uint32_t bits = fuzz_u32(r);
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}
static inline int fuzz_left(const fuzz_reader *r) { return r->size > 0; }

#endif
