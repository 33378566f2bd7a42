/*
 * semcl_fold.h — the canonical summation order, shared by every backend (CPU at every ISA
 * level, CUDA). Following this order, rather than "whatever the threads do", is what makes every
 * loss and gradient bitwise identical across thread counts, SIMD widths, CUDA launch shapes and
 * CPU vs CUDA. docs/order.md explains it with examples; this comment is the definition.
 *
 * Every sum is a fixed-shape tree whose shape depends only on (B, K):
 *
 * 1. Within a row of K terms (the pairwise loss's softplus and sigmoid values):
 *    - the row is cut into chunks of SEMCL_CHUNK (1024) terms, the last one possibly shorter;
 *    - in a chunk, lane j (0 <= j < SEMCL_LANES = 32) adds in fp32, from +0.0f and in
 *      increasing order, the terms j, j+32, j+64, ... of the chunk (at most 32 terms);
 *    - the 32 lanes are folded by  a[j] = a[j] + a[j+w]  for w = 16, 8, 4, 2, 1 (fp32): the
 *      chunk value is a[0]. (A warp's shuffle-down reduction computes exactly this.)
 *    - the chunk values, widened to fp64, are added by the pairwise tree T below.
 *    Masked terms (and the lanes past the end of a short chunk) add nothing. Every term is
 *    >= +0 or NaN, so adding +0.0f in their place gives the same bits; implementations may do
 *    that (and may fold only the first 2^ceil(log2 len) lanes of a chunk of len < 32 terms).
 *
 * 2. Across rows, each row contributes fp64 leaves (its BCE term, its pairwise or positive-only
 *    term), added over b = 0 .. B-1 by the same tree T.
 *
 * The tree T over n values v[0..n) (n >= 1):
 *    T(v[0..n)) = v[0]                          if n == 1
 *               = T(v[0..h)) + T(v[h..n))       otherwise, h = the largest power of two < n.
 * Equivalently:  for w = 1, 2, 4, ... while w < n:
 *    v[i] = v[i] + v[i+w]  for i = 0, 2w, 4w, ... with i + w < n;   the sum is v[0].
 * (semcl_tree_sum_inplace adds the same pairs, packing each level's sums to the front.)
 * Equivalently again: pad v with -0.0 up to the next power of two and add neighbours pairwise,
 * level by level (x + (-0.0) == x for every x, so the padding changes no bit). Every aligned
 * block v[m*2^k .. (m+1)*2^k) that lies inside [0, n) is a node of T, so T can be computed
 * block by block in any order (threads, CUDA blocks) and the block values combined by T again.
 * No dependent chain is longer than 32 fp32 adds plus log2(n) fp64 adds.
 */
#ifndef SEMCL_FOLD_H
#define SEMCL_FOLD_H

#include <stdint.h>

#include "semcl_math.h"

#define SEMCL_LANES 32
#define SEMCL_CHUNK 1024

/* Folds the first `width` lanes (a power of two <= SEMCL_LANES) by a[j] += a[j + w] for
 * w = width/2 .. 1; result in lanes[0]. With width == SEMCL_LANES this is the canonical fold;
 * a smaller width gives the same bits when the other lanes hold +0.0f (short chunks). */
SEMCL_FN float semcl_fold_lanes_prefix(float *lanes, int width) {
  for (int w = width / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) lanes[j] = lanes[j] + lanes[j + w];
  return lanes[0];
}

SEMCL_FN float semcl_fold_lanes(float *lanes) {
  return semcl_fold_lanes_prefix(lanes, SEMCL_LANES);
}

/* The lanes a chunk of `len` terms needs to fold (the power of two >= len, at most 32). */
SEMCL_FN int semcl_fold_width(int64_t len) {
  int width = 1;
  while (width < len && width < SEMCL_LANES) width *= 2;
  return width;
}

/* T(v[0..n)) computed in place (v is overwritten); n >= 1. Level by level: neighbours are
 * added and the sums packed to the front (an odd last value moves up alone, as if paired with
 * the -0.0 padding), which is the tree T and lets the loop vectorise. */
SEMCL_FN double semcl_tree_sum_inplace(double *v, int64_t n) {
  while (n > 1) {
    const int64_t half = n / 2;
    for (int64_t i = 0; i < half; ++i) v[i] = v[2 * i] + v[2 * i + 1];
    if (n & 1) v[half] = v[n - 1];
    n = half + (n & 1);
  }
  return v[0];
}

/* T as a stream: push the values in order, then finish. Holds one pending subtree per level
 * (a binary counter), so T over any number of values needs no buffer:
 *   pushing merges equal-sized neighbours (left + right) as soon as both exist;
 *   finishing adds the pending subtrees from the smallest (rightmost) up: big + (... + small),
 *   which is exactly T's split at the largest power of two.
 * Two sums run side by side (the softplus and sigmoid totals of a row, or the two loss terms
 * over rows). */
typedef struct semcl_tree_stream {
  uint64_t count;
  double a[64], b[64];
} semcl_tree_stream;

SEMCL_FN void semcl_tree_stream_init(semcl_tree_stream *s) { s->count = 0; }

SEMCL_FN void semcl_tree_stream_push(semcl_tree_stream *s, double a, double b) {
  int level = 0;
  while (s->count >> level & 1u) {
    a = s->a[level] + a;
    b = s->b[level] + b;
    ++level;
  }
  s->a[level] = a;
  s->b[level] = b;
  s->count += 1;
}

/* The two sums (0.0 for an empty stream). */
SEMCL_FN void semcl_tree_stream_finish(const semcl_tree_stream *s, double *a, double *b) {
  double sa = 0.0, sb = 0.0;
  int any = 0;
  for (int level = 0; level < 64; ++level) {
    if (!(s->count >> level & 1u)) continue;
    sa = any ? s->a[level] + sa : s->a[level];
    sb = any ? s->b[level] + sb : s->b[level];
    any = 1;
  }
  *a = sa;
  *b = sb;
}

#endif /* SEMCL_FOLD_H */
