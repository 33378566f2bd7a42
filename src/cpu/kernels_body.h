/*
 * kernels_body.h — the CPU loss kernels, written once over the vector primitives of
 * simd/simd_<isa>.h and compiled once per instruction-set level (kernels_<isa>.c includes the
 * primitives, then this file). Every level computes the bits of the scalar definitions:
 * per-element math of semcl_math.h, summation order of semcl_fold.h, row epilogue of
 * semcl_row.h.
 *
 * Variants are compile-time parameters of always-inline bodies (dtype, mask kind, forward or
 * forward+backward, fp64 gradient coefficient), instantiated by the small functions below.
 *
 * Shapes: score_raw, score_pos, y (B); score_neg, grad_neg, neg_mask (B,K); per-call work is
 * handed out by the driver (pos_neg_cpu.c, positive_only_cpu.c) in aligned power-of-two row
 * ranges, each a node of the tree T over rows.
 */
#include <stdint.h>
#include <string.h>

#include "../semcl_fold.h"
#include "../semcl_math.h"
#include "../semcl_row.h"
#include "cpu_kernels.h"

#define SEMCL_CAT2(a, b) a##_##b
#define SEMCL_CAT(a, b) SEMCL_CAT2(a, b)
#define KERNEL(name) SEMCL_CAT(name, SIMD_NAME)

/* Rows per sub-tile: the epilogue's arrays live on the stack, and a sub-tile is a node of T. */
#define ROW_TILE 256
#define LANE_VECTORS (SEMCL_LANES / SIMD_W)

enum { DT_F32 = 0, DT_BF16 = 1, DT_F16 = 2 };
enum { MASK_NONE = 0, MASK_COUNT = 1, MASK_BYTES = 2, MASK_BOTH = 3 };

/* ---- per-element math over vectors (semcl_math.h, lane for lane) -------------------------- */

/* semcl_exp_nonpos. The scale by 2^n is done in one integer add when every lane's result is a
 * normal number (n >= -125), else in the definition's two exact steps; both give the correctly
 * rounded p * 2^n, so the bits are the same. NaN lanes take the second path. */
SIMD_INLINE vf v_exp_nonpos(vf a) {
  const vf magic = vf_set1(12582912.0f);
  vf t = vf_fma(a, vf_set1(1.44269504088896341f), magic);
  vf n = vf_sub(t, magic);
  const int fast = vm_all(vf_ge(n, vf_set1(-125.0f)));
  if (!fast) {
    a = vf_select(vf_lt(a, vf_set1(-104.0f)), vf_set1(-104.0f), a);
    t = vf_fma(a, vf_set1(1.44269504088896341f), magic);
    n = vf_sub(t, magic);
  }
  vf r = vf_fma(n, vf_set1(-0.693359375f), a);
  r = vf_fma(n, vf_set1(2.12194440e-4f), r);
  vf p = vf_set1(1.9875691500e-4f);
  p = vf_fma(p, r, vf_set1(1.3981999507e-3f));
  p = vf_fma(p, r, vf_set1(8.3334519073e-3f));
  p = vf_fma(p, r, vf_set1(4.1665795894e-2f));
  p = vf_fma(p, r, vf_set1(1.6666665459e-1f));
  p = vf_fma(p, r, vf_set1(5.0000001201e-1f));
  p = vf_add(vf_fma(p, vf_mul(r, r), r), vf_set1(1.0f));
  if (fast) return vf_from_bits(vi_add(vf_bits(p), vi_shl23(vf_bits(t))));
  const vi ni = vi_sub(vf_bits(t), vi_set1(0x4B400000));
  const vi n_half = vi_sra1(ni);
  const vi n_rest = vi_sub(ni, n_half);
  const vf scale_a = vf_from_bits(vi_shl23(vi_add(n_half, vi_set1(127))));
  const vf scale_b = vf_from_bits(vi_shl23(vi_add(n_rest, vi_set1(127))));
  return vf_mul(vf_mul(p, scale_a), scale_b);
}

SIMD_INLINE vf v_log1p_unit(vf e) {
  vf p = vf_set1(-0.003246020060032606f);
  p = vf_fma(p, e, vf_set1(0.019860535860061646f));
  p = vf_fma(p, e, vf_set1(-0.05697675794363022f));
  p = vf_fma(p, e, vf_set1(0.10605420917272568f));
  p = vf_fma(p, e, vf_set1(-0.1530665159225464f));
  p = vf_fma(p, e, vf_set1(0.19676312804222107f));
  p = vf_fma(p, e, vf_set1(-0.24954208731651306f));
  p = vf_fma(p, e, vf_set1(0.3332996964454651f));
  p = vf_fma(p, e, vf_set1(-0.4999990165233612f));
  p = vf_fma(p, e, vf_set1(1.0f));
  return vf_mul(p, e);
}

/* semcl_softplus_sigmoid; the sigmoid (and its division) only when want_sigmoid. */
SIMD_INLINE void v_softplus_sigmoid(vf t, vf *sp, vf *sg, const int want_sigmoid) {
  const vf e = v_exp_nonpos(vf_neg_abs(t));
  *sp = vf_add(vf_max0(t), v_log1p_unit(e));
  if (want_sigmoid) {
    const vf one = vf_set1(1.0f);
    const vf r = vf_div(one, vf_add(one, e));
    *sg = vf_select(vf_ge(t, vf_zero()), r, vf_mul(e, r));
  }
}

/* ---- the same math on two vectors at once ------------------------------------------------
 * Each step for both vectors before the next step: two independent dependency chains
 * interleaved in the instruction stream, so that the out-of-order core overlaps them (one
 * chain alone is latency-bound: exp and log1p are ~20 dependent FMAs). Lane for lane the same
 * operations as v_exp_nonpos / v_softplus_sigmoid; when either vector needs the two-step
 * scale both take it, which gives the same bits (see v_exp_nonpos). */
SIMD_INLINE void v_exp_nonpos2(vf *a) {
  const vf magic = vf_set1(12582912.0f);
  vf t[2], n[2], r[2], p[2];
#pragma GCC unroll 2
  for (int j = 0; j < 2; ++j) {
    t[j] = vf_fma(a[j], vf_set1(1.44269504088896341f), magic);
    n[j] = vf_sub(t[j], magic);
  }
  const int fast =
      vm_all(vf_ge(n[0], vf_set1(-125.0f))) && vm_all(vf_ge(n[1], vf_set1(-125.0f)));
  if (!fast) {
#pragma GCC unroll 2
    for (int j = 0; j < 2; ++j) {
      a[j] = vf_select(vf_lt(a[j], vf_set1(-104.0f)), vf_set1(-104.0f), a[j]);
      t[j] = vf_fma(a[j], vf_set1(1.44269504088896341f), magic);
      n[j] = vf_sub(t[j], magic);
    }
  }
#pragma GCC unroll 2
  for (int j = 0; j < 2; ++j) r[j] = vf_fma(n[j], vf_set1(-0.693359375f), a[j]);
#pragma GCC unroll 2
  for (int j = 0; j < 2; ++j) r[j] = vf_fma(n[j], vf_set1(2.12194440e-4f), r[j]);
#pragma GCC unroll 2
  for (int j = 0; j < 2; ++j) p[j] = vf_fma(vf_set1(1.9875691500e-4f), r[j], vf_set1(1.3981999507e-3f));
#pragma GCC unroll 2
  for (int j = 0; j < 2; ++j) p[j] = vf_fma(p[j], r[j], vf_set1(8.3334519073e-3f));
#pragma GCC unroll 2
  for (int j = 0; j < 2; ++j) p[j] = vf_fma(p[j], r[j], vf_set1(4.1665795894e-2f));
#pragma GCC unroll 2
  for (int j = 0; j < 2; ++j) p[j] = vf_fma(p[j], r[j], vf_set1(1.6666665459e-1f));
#pragma GCC unroll 2
  for (int j = 0; j < 2; ++j) p[j] = vf_fma(p[j], r[j], vf_set1(5.0000001201e-1f));
#pragma GCC unroll 2
  for (int j = 0; j < 2; ++j) p[j] = vf_add(vf_fma(p[j], vf_mul(r[j], r[j]), r[j]), vf_set1(1.0f));
  if (fast) {
#pragma GCC unroll 2
    for (int j = 0; j < 2; ++j) a[j] = vf_from_bits(vi_add(vf_bits(p[j]), vi_shl23(vf_bits(t[j]))));
    return;
  }
#pragma GCC unroll 2
  for (int j = 0; j < 2; ++j) {
    const vi ni = vi_sub(vf_bits(t[j]), vi_set1(0x4B400000));
    const vi n_half = vi_sra1(ni);
    const vi n_rest = vi_sub(ni, n_half);
    const vf scale_a = vf_from_bits(vi_shl23(vi_add(n_half, vi_set1(127))));
    const vf scale_b = vf_from_bits(vi_shl23(vi_add(n_rest, vi_set1(127))));
    a[j] = vf_mul(vf_mul(p[j], scale_a), scale_b);
  }
}

SIMD_INLINE void v_log1p_unit2(const vf *e, vf *out) {
  static const float c[9] = {0.019860535860061646f, -0.05697675794363022f,
                             0.10605420917272568f,  -0.1530665159225464f,
                             0.19676312804222107f,  -0.24954208731651306f,
                             0.3332996964454651f,   -0.4999990165233612f, 1.0f};
  vf p[2] = {vf_set1(-0.003246020060032606f), vf_set1(-0.003246020060032606f)};
#pragma GCC unroll 9
  for (int k = 0; k < 9; ++k)
#pragma GCC unroll 2
    for (int j = 0; j < 2; ++j) p[j] = vf_fma(p[j], e[j], vf_set1(c[k]));
#pragma GCC unroll 2
  for (int j = 0; j < 2; ++j) out[j] = vf_mul(p[j], e[j]);
}

/* v_softplus_sigmoid of t[0] and t[1]. */
SIMD_INLINE void v_softplus_sigmoid2(const vf *t, vf *sp, vf *sg, const int want_sigmoid) {
  vf e[2] = {vf_neg_abs(t[0]), vf_neg_abs(t[1])};
  v_exp_nonpos2(e);
  vf l[2];
  v_log1p_unit2(e, l);
#pragma GCC unroll 2
  for (int j = 0; j < 2; ++j) sp[j] = vf_add(vf_max0(t[j]), l[j]);
  if (want_sigmoid) {
    const vf one = vf_set1(1.0f);
#pragma GCC unroll 2
    for (int j = 0; j < 2; ++j) {
      const vf r = vf_div(one, vf_add(one, e[j]));
      sg[j] = vf_select(vf_ge(t[j], vf_zero()), r, vf_mul(e[j], r));
    }
  }
}

/* ---- scores in their storage type --------------------------------------------------------- */
SIMD_INLINE vf v_load_scores(const void *base, int64_t i, const int dt) {
  if (dt == DT_F32) return vf_load((const float *)base + i);
  if (dt == DT_BF16) return vf_load_bf16((const uint16_t *)base + i);
  return vf_load_f16((const uint16_t *)base + i);
}
SIMD_INLINE vf v_load_scores_n(const void *base, int64_t i, int n, const int dt) {
  if (dt == DT_F32) return vf_load_n((const float *)base + i, n);
  if (dt == DT_BF16) return vf_load_bf16_n((const uint16_t *)base + i, n);
  return vf_load_f16_n((const uint16_t *)base + i, n);
}
SIMD_INLINE void v_store_scores(void *base, int64_t i, vf v, const int dt) {
  if (dt == DT_F32)
    vf_store((float *)base + i, v);
  else if (dt == DT_BF16)
    vf_store_bf16((uint16_t *)base + i, v);
  else
    vf_store_f16((uint16_t *)base + i, v);
}
SIMD_INLINE void v_store_scores_n(void *base, int64_t i, vf v, int n, const int dt) {
  if (dt == DT_F32)
    vf_store_n((float *)base + i, v, n);
  else if (dt == DT_BF16)
    vf_store_bf16_n((uint16_t *)base + i, v, n);
  else
    vf_store_f16_n((uint16_t *)base + i, v, n);
}

SIMD_INLINE vm v_bytes_n(const uint8_t *p, int n) {
  if (n >= SIMD_W) return vm_from_bytes(p);
  uint8_t tmp[SIMD_W] = {0};
  memcpy(tmp, p, (size_t)(n > 0 ? n : 0));
  return vm_from_bytes(tmp);
}

/* ---- one chunk of one row (the hot loop) ------------------------------------------------- */

/* Everything one row's chunks need, fixed for the row. */
typedef struct row_args {
  const void *neg;      /* the row's first score */
  void *grad;           /* the row's first gradient, or NULL */
  const uint8_t *mask;  /* the row's first mask byte, or NULL */
  int64_t limit;        /* negatives 0..limit-1 may be real (MASK_COUNT / MASK_BOTH) */
  float pos, neg_sign;
  float coef;           /* fp32 gradient coefficient */
  double coef64;        /* its fp64 value (COEF64 rows) */
} row_args;

/* Terms [begin, begin + len) of the row (len <= SEMCL_CHUNK): the chunk's canonical fp32
 * softplus and sigmoid sums, and the gradients (BWD). Lane j of the canonical 32 is lane
 * j % SIMD_W of accumulator j / SIMD_W. */
/* One vector of terms at element k of the row (n of them, n <= SIMD_W; n == SIMD_W is a
 * compile-time constant on the hot path): adds to the lane accumulators, writes gradients. */
SIMD_INLINE void chunk_vector(const row_args *ra, int64_t k, int n, vf *acc_sp, vf *acc_sg,
                              vf pos, vf neg_sign, vf coef, const int dt, const int mask,
                              const int bwd, const int coef64) {
  const vf zero = vf_zero();
  const int full = n == SIMD_W;
  /* In place (grad == neg): each element is read before its own slot is written. */
  const vf x = full ? v_load_scores(ra->neg, k, dt) : v_load_scores_n(ra->neg, k, n, dt);
  vf sp, sg = zero;
  v_softplus_sigmoid(vf_mul(neg_sign, vf_sub(pos, x)), &sp, &sg, bwd);
  vm valid = vm_first(n);
  if (mask == MASK_COUNT || mask == MASK_BOTH) valid = vm_and(valid, vm_first(ra->limit - k));
  if (mask == MASK_BYTES || mask == MASK_BOTH) valid = vm_and(valid, v_bytes_n(ra->mask + k, n));
  if (mask != MASK_NONE || !full) {
    sp = vf_select(valid, sp, zero);
    if (bwd) sg = vf_select(valid, sg, zero);
  }
  *acc_sp = vf_add(*acc_sp, sp);
  if (!bwd) return;
  *acc_sg = vf_add(*acc_sg, sg);
  if (!ra->grad) return;
  vf g;
  if (coef64) {
    float lanes[SIMD_W], out[SIMD_W];
    memcpy(lanes, &sg, sizeof lanes);
    for (int j = 0; j < SIMD_W; ++j) out[j] = semcl_pos_neg_grad_neg(ra->coef64, lanes[j]);
    memcpy(&g, out, sizeof g);
  } else {
    g = vf_mul(coef, sg);
  }
  if (mask != MASK_NONE) g = vf_select(valid, g, zero); /* masked slots: exactly +0 */
  if (full)
    v_store_scores(ra->grad, k, g, dt);
  else
    v_store_scores_n(ra->grad, k, g, n, dt);
}

/* Terms [begin, begin + len) of the row (len <= SEMCL_CHUNK): the chunk's canonical fp32
 * softplus and sigmoid sums, and the gradients (bwd). Lane j of the canonical 32 is lane
 * j % SIMD_W of accumulator j / SIMD_W. Whole groups of 32 terms take the unrolled path. */
SIMD_INLINE void chunk_body(const row_args *ra, int64_t begin, int64_t len, float *sp_out,
                            float *sg_out, const int dt, const int mask, const int bwd,
                            const int coef64) {
  vf acc_sp[LANE_VECTORS], acc_sg[LANE_VECTORS];
  for (int a = 0; a < LANE_VECTORS; ++a) acc_sp[a] = acc_sg[a] = vf_zero();
  const row_args local = *ra; /* a copy: the gradient stores cannot alias it */
  const vf pos = vf_set1(ra->pos), neg_sign = vf_set1(ra->neg_sign), coef = vf_set1(ra->coef);
  /* The lanes are independent sums, and each adds its terms in increasing order whichever way
   * the passes go, so the bits do not depend on it. fp32 on AVX2 / AVX-512: every accumulator in
   * one pass, in the natural order, so that 4 (2) independent exp/log1p chains are in flight
   * (AVX2: 10-30 % faster at K = 1024 than one accumulator at a time). 16-bit, and the scalar
   * level's 32 accumulators: one accumulator at a time walks the whole groups of 32 terms (the
   * conversions' registers left no room for more chains: interleaving was 5-10 % slower); the
   * chunk stays in L1 across the passes. */
  const int64_t whole = len / SEMCL_LANES * SEMCL_LANES;
  if (dt == DT_F32 && LANE_VECTORS <= 4) {
    for (int64_t off = 0; off < whole; off += SEMCL_LANES)
      for (int a = 0; a < LANE_VECTORS; ++a)
        chunk_vector(&local, begin + off + a * SIMD_W, SIMD_W, &acc_sp[a], &acc_sg[a], pos,
                     neg_sign, coef, dt, mask, bwd, coef64);
  } else {
    for (int a = 0; a < LANE_VECTORS; ++a) {
      vf sp = acc_sp[a], sg = acc_sg[a];
      for (int64_t off = 0; off < whole; off += SEMCL_LANES)
        chunk_vector(&local, begin + off + a * SIMD_W, SIMD_W, &sp, &sg, pos, neg_sign, coef, dt,
                     mask, bwd, coef64);
      acc_sp[a] = sp;
      acc_sg[a] = sg;
    }
  }
  const int64_t off = whole;
  for (int a = 0; a < LANE_VECTORS && off + a * SIMD_W < len; ++a) {
    const int64_t left = len - off - a * SIMD_W;
    chunk_vector(&local, begin + off + a * SIMD_W, left >= SIMD_W ? SIMD_W : (int)left, &acc_sp[a],
                 &acc_sg[a], pos, neg_sign, coef, dt, mask, bwd, coef64);
  }
  int vectors = semcl_fold_width(len) / SIMD_W;
  if (vectors < 1) vectors = 1;
  *sp_out = vf_fold(acc_sp, vectors);
  *sg_out = bwd ? vf_fold(acc_sg, vectors) : 0.0f;
}

typedef void (*chunk_fn)(const row_args *ra, int64_t begin, int64_t len, float *sp, float *sg);

#define CHUNK_VARIANT(dt, mask, bwd, c64)                                                     \
  static void KERNEL(chunk_##dt##_##mask##_##bwd##_##c64)(const row_args *ra, int64_t begin, \
                                                          int64_t len, float *sp, float *sg) { \
    chunk_body(ra, begin, len, sp, sg, dt, mask, bwd, c64);                                   \
  }
#define CHUNK_VARIANTS_MASK(dt, mask) \
  CHUNK_VARIANT(dt, mask, 0, 0)       \
  CHUNK_VARIANT(dt, mask, 1, 0)       \
  CHUNK_VARIANT(dt, mask, 1, 1)
#define CHUNK_VARIANTS_DT(dt)       \
  CHUNK_VARIANTS_MASK(dt, 0)        \
  CHUNK_VARIANTS_MASK(dt, 1)        \
  CHUNK_VARIANTS_MASK(dt, 2)        \
  CHUNK_VARIANTS_MASK(dt, 3)
CHUNK_VARIANTS_DT(0)
CHUNK_VARIANTS_DT(1)
CHUNK_VARIANTS_DT(2)

#define CHUNK_ROW(dt, mask) \
  {KERNEL(chunk_##dt##_##mask##_0_0), KERNEL(chunk_##dt##_##mask##_1_0), KERNEL(chunk_##dt##_##mask##_1_1)}
#define CHUNK_DT(dt) {CHUNK_ROW(dt, 0), CHUNK_ROW(dt, 1), CHUNK_ROW(dt, 2), CHUNK_ROW(dt, 3)}
/* [dtype][mask kind][0: forward, 1: backward, 2: backward with an fp64 coefficient] */
static const chunk_fn KERNEL(chunk_table)[3][4][3] = {CHUNK_DT(0), CHUNK_DT(1), CHUNK_DT(2)};

/* ---- the pairwise loss over a range of rows ---------------------------------------------- */

static int mask_kind(const semcl_problem *p) {
  return (p->neg_count ? MASK_COUNT : 0) | (p->neg_mask ? MASK_BYTES : 0);
}

/* v[0..n) = scores [first, first+n) widened to fp32 (one loop per dtype: vectorisable). */
static void load_scores_f32(const void *base, int64_t first, int n, semcl_dtype_t dt,
                            float *v) {
  if (dt == SEMCL_DTYPE_FLOAT32) {
    memcpy(v, (const float *)base + first, (size_t)n * sizeof(float));
  } else if (dt == SEMCL_DTYPE_BFLOAT16) {
    const uint16_t *in = (const uint16_t *)base + first;
    for (int i = 0; i < n; ++i) v[i] = semcl_bf16_to_f32(in[i]);
  } else {
    const uint16_t *in = (const uint16_t *)base + first;
    for (int i = 0; i < n; ++i) v[i] = semcl_f16_to_f32(in[i]);
  }
}

static void store_scores_f32(void *base, int64_t first, const float *v, int64_t n,
                             semcl_dtype_t dt) {
  if (dt == SEMCL_DTYPE_FLOAT32) {
    memcpy((float *)base + first, v, (size_t)n * sizeof(float));
  } else if (dt == SEMCL_DTYPE_BFLOAT16) {
    uint16_t *out = (uint16_t *)base + first;
    for (int64_t i = 0; i < n; ++i) out[i] = semcl_f32_to_bf16(v[i]);
  } else {
    uint16_t *out = (uint16_t *)base + first;
    for (int64_t i = 0; i < n; ++i) out[i] = semcl_f32_to_f16(v[i]);
  }
}

/* T over a sub-tile's leaves (semcl_fold.h), level by level through a second buffer so that
 * each level is one vectorisable loop; the same pairs as semcl_tree_sum_inplace. */
static double tree_sum_tile(double *v, int n) {
  double tmp[ROW_TILE / 2 + 1];
  double *from = v, *to = tmp;
  while (n > 1) {
    const int half = n / 2;
    for (int i = 0; i < half; ++i) to[i] = from[2 * i] + from[2 * i + 1];
    if (n & 1) to[half] = from[n - 1];
    n = half + (n & 1);
    double *swap = from;
    from = to;
    to = swap;
  }
  return from[0];
}

/* The per-row data of a sub-tile of m rows, indexed by the row within the sub-tile. The fp32
 * inputs are read where they are (pointers into the call's arrays: no copy); 16-bit scores are
 * widened into the buffers below, and the values a call has once for every row (no weights, one
 * pos_weight, one g, no masks) sit in buffers filled once per call (tile_rows_init), so that
 * every loop over rows reads arrays and vectorises. */
typedef struct tile_rows {
  const float *raw, *pos, *y, *w, *pw;
  const double *g;     /* g per row (semcl_row_upstream) */
  const double *count; /* real negatives (exact below 2^53): loops over them vectorise */
  int g_per_row;       /* whether g differs between rows (NONE with an upstream array) */
  float neg_sign[ROW_TILE], coef[ROW_TILE];
  double coef64[ROW_TILE];
  double sp_total[ROW_TILE], sg_total[ROW_TILE];
  /* what the pointers above point at when not at the call's arrays */
  float raw_buf[ROW_TILE], pos_buf[ROW_TILE], w_buf[ROW_TILE], pw_buf[ROW_TILE];
  double g_buf[ROW_TILE], count_buf[ROW_TILE];
} tile_rows;

static int pos_weight_per_row(const semcl_problem *p) {
  return p->pos_weight && p->pos_weight_count != 1;
}

/* The buffers of the call-wide values (once per call, not per sub-tile), for sub-tiles of up
 * to `rows` rows (only as many as the call has: tiny calls stay cheap). */
static void tile_rows_init(const semcl_cpu_call *c, int64_t rows, tile_rows *t) {
  const semcl_problem *p = c->p;
  const int n = rows < ROW_TILE ? (int)rows : ROW_TILE;
  t->g_per_row = c->rc.reduction == SEMCL_ROW_NONE && c->rc.grad_upstream != NULL;
  if (!p->weight)
    for (int i = 0; i < n; ++i) t->w_buf[i] = 1.0f;
  if (!pos_weight_per_row(p)) {
    const float pw = p->pos_weight ? p->pos_weight[0] : 1.0f;
    for (int i = 0; i < n; ++i) t->pw_buf[i] = pw;
  }
  if (!t->g_per_row) { /* every row's g is row 0's */
    const double g = semcl_row_upstream(&c->rc, 0);
    for (int i = 0; i < n; ++i) t->g_buf[i] = g;
  }
  if (!c->counts)
    for (int i = 0; i < n; ++i) t->count_buf[i] = (double)p->K;
  t->g = t->g_buf;
  t->count = t->count_buf;
}

/* Scores [first, first+n) as fp32: the call's array itself, or widened into buf. */
static const float *scores_f32(const void *base, int64_t first, int n, semcl_dtype_t dt,
                               float *buf) {
  if (dt == SEMCL_DTYPE_FLOAT32) return (const float *)base + first;
  load_scores_f32(base, first, n, dt, buf);
  return buf;
}

/* Rows [first, first+m): scores, labels, weights, upstream, real-negative counts. */
static void gather_rows(const semcl_cpu_call *c, int64_t first, int m, tile_rows *t) {
  const semcl_problem *p = c->p;
  t->raw = scores_f32(p->score_raw, first, m, p->dtype, t->raw_buf);
  t->pos = scores_f32(p->score_pos, first, m, p->dtype, t->pos_buf);
  t->y = p->y + first;
  t->w = p->weight ? p->weight + first : t->w_buf;
  t->pw = pos_weight_per_row(p) ? p->pos_weight + first : t->pw_buf;
  if (t->g_per_row) { /* semcl_row_upstream of each row, in a loop that vectorises */
    const double scale = (double)c->rc.grad_scale;
    const float *up = c->rc.grad_upstream + first;
    for (int i = 0; i < m; ++i) t->g_buf[i] = scale * (double)up[i];
  }
  if (c->counts)
    for (int i = 0; i < m; ++i) t->count_buf[i] = (double)c->counts[first + i];
}

/* -sign of the sub-tile's rows (the pairwise loss). */
static void gather_neg_signs(int m, tile_rows *t) {
  for (int i = 0; i < m; ++i) t->neg_sign[i] = semcl_neg_sign(t->y[i]);
}

/* The pairwise gradient coefficients of the tile's rows (fp64, and fp32 where it fits); 0
 * when grad_neg is not wanted. */
static void row_coefficients(const semcl_cpu_call *c, int m, int wanted, tile_rows *t) {
  if (!wanted) {
    for (int i = 0; i < m; ++i) t->coef64[i] = 0.0, t->coef[i] = 0.0f;
    return;
  }
  const semcl_row_consts rc = c->rc; /* a local copy: the stores below cannot alias it */
  const double *restrict g = t->g, *restrict count = t->count;
  const float *restrict w = t->w, *restrict ns = t->neg_sign;
  double *restrict coef64 = t->coef64;
  float *restrict coef = t->coef;
  for (int i = 0; i < m; ++i) {
    const double num = semcl_pos_neg_grad_numerator(g[i], w[i], rc.lambda, ns[i]);
    coef64[i] = semcl_pos_neg_neg_coef(num, semcl_pos_neg_denominator(&rc, count[i]));
  }
  for (int i = 0; i < m; ++i)
    coef[i] = semcl_neg_coef_needs_f64(coef64[i]) ? 0.0f : (float)coef64[i];
}
/* Row i of the tile (row b of the batch) as its chunks see it. */
static void row_args_of(const semcl_problem *p, const tile_rows *t, int i, int64_t b, int bwd,
                        row_args *ra) {
  /* inline, not semcl_dtype_size: a call per row would also spill every vector register */
  const size_t esize = p->dtype == SEMCL_DTYPE_FLOAT32 ? sizeof(float) : sizeof(uint16_t);
  ra->neg = (const char *)p->score_neg + (size_t)(b * p->K) * esize;
  ra->grad = bwd && p->grad_neg ? (char *)p->grad_neg + (size_t)(b * p->K) * esize : NULL;
  ra->mask = p->neg_mask ? p->neg_mask + b * p->K : NULL;
  ra->limit = p->neg_count ? semcl_clamp_count(p->neg_count[b], p->K) : p->K;
  ra->pos = t->pos[i];
  ra->neg_sign = t->neg_sign[i];
  ra->coef = t->coef[i];
  ra->coef64 = t->coef64[i];
}

static chunk_fn pick_chunk_fn(const semcl_problem *p, int bwd, double coef64) {
  return KERNEL(chunk_table)[p->dtype][mask_kind(p)]
                            [bwd ? (semcl_neg_coef_needs_f64(coef64) ? 2 : 1) : 0];
}

/* Row i of the tile, chunk by chunk: fp64 totals by T over the chunk values. */
static void run_row(const semcl_problem *p, tile_rows *t, int i, int64_t b, int bwd) {
  row_args ra;
  row_args_of(p, t, i, b, bwd, &ra);
  const chunk_fn fn = pick_chunk_fn(p, bwd, ra.coef64);
  if (p->K <= SEMCL_CHUNK) {
    float sp, sg;
    fn(&ra, 0, p->K, &sp, &sg);
    t->sp_total[i] = (double)sp;
    t->sg_total[i] = (double)sg;
    return;
  }
  semcl_tree_stream chunks;
  semcl_tree_stream_init(&chunks);
  for (int64_t begin = 0; begin < p->K; begin += SEMCL_CHUNK) {
    const int64_t len = p->K - begin < SEMCL_CHUNK ? p->K - begin : SEMCL_CHUNK;
    float sp, sg;
    fn(&ra, begin, len, &sp, &sg);
    semcl_tree_stream_push(&chunks, (double)sp, (double)sg);
  }
  semcl_tree_stream_finish(&chunks, &t->sp_total[i], &t->sg_total[i]);
}

/* K == 1: every row is one term, so the element math runs across rows, SIMD_W rows a step.
 * fp32 gradients go straight into grad_neg (in place too: each row's score is loaded before
 * its gradient is stored). */
static void run_rows_k1(const semcl_cpu_call *c, int64_t first, int m, int bwd, tile_rows *t) {
  const semcl_problem *p = c->p;
  const int dt = (int)p->dtype;
  const int grads = bwd && p->grad_neg;
  float sp_row[ROW_TILE], sg_row[ROW_TILE], grad_buf[ROW_TILE];
  float *grad = grads && dt == DT_F32 ? (float *)p->grad_neg + first : grad_buf;
  int v = 0;
  for (; v + 2 * SIMD_W <= m; v += 2 * SIMD_W) { /* two whole vectors, interleaved */
    vf tv[2], sp[2], sg[2] = {vf_zero(), vf_zero()};
#pragma GCC unroll 2
    for (int j = 0; j < 2; ++j) {
      const int at = v + j * SIMD_W;
      const vf x = v_load_scores(p->score_neg, first + at, dt);
      tv[j] = vf_mul(vf_load(t->neg_sign + at), vf_sub(vf_load(t->pos + at), x));
    }
    v_softplus_sigmoid2(tv, sp, sg, bwd);
#pragma GCC unroll 2
    for (int j = 0; j < 2; ++j) {
      const int at = v + j * SIMD_W;
      vf_store(sp_row + at, sp[j]);
      vf_store(sg_row + at, sg[j]);
      if (grads) vf_store(grad + at, vf_mul(vf_load(t->coef + at), sg[j]));
    }
  }
  for (; v + SIMD_W <= m; v += SIMD_W) { /* whole vectors: no masked loads or stores */
    const vf x = v_load_scores(p->score_neg, first + v, dt);
    const vf t_vec = vf_mul(vf_load(t->neg_sign + v), vf_sub(vf_load(t->pos + v), x));
    vf sp, sg = vf_zero();
    v_softplus_sigmoid(t_vec, &sp, &sg, bwd);
    vf_store(sp_row + v, sp);
    vf_store(sg_row + v, sg);
    if (grads) vf_store(grad + v, vf_mul(vf_load(t->coef + v), sg));
  }
  if (v < m) {
    const int n = m - v;
    const vf x = v_load_scores_n(p->score_neg, first + v, n, dt);
    const vf t_vec =
        vf_mul(vf_load_n(t->neg_sign + v, n), vf_sub(vf_load_n(t->pos + v, n), x));
    vf sp, sg = vf_zero();
    v_softplus_sigmoid(t_vec, &sp, &sg, bwd);
    vf_store_n(sp_row + v, sp, n);
    vf_store_n(sg_row + v, sg, n);
    if (grads) vf_store_n(grad + v, vf_mul(vf_load_n(t->coef + v, n), sg), n);
  }
  const double *restrict count = t->count;
  for (int i = 0; i < m; ++i) {
    const int real = count[i] > 0; /* the row's one negative is real */
    t->sp_total[i] = real ? (double)sp_row[i] : 0.0;
    t->sg_total[i] = real ? (double)sg_row[i] : 0.0;
  }
  if (!grads) return;
  if (c->counts)
    for (int i = 0; i < m; ++i) grad[i] = count[i] > 0 ? grad[i] : 0.0f;
  for (int i = 0; i < m; ++i)
    if (count[i] > 0 && semcl_neg_coef_needs_f64(t->coef64[i]))
      grad[i] = semcl_pos_neg_grad_neg(t->coef64[i], sg_row[i]);
  if (dt != DT_F32) store_scores_f32(p->grad_neg, first, grad_buf, m, p->dtype);
}

/* The across-vector part of vf_fold over all LANE_VECTORS accumulators (lanes j + j+w for
 * w = 16 .. SIMD_W, vector by vector): what is left is each lane-vector's in-register fold. */
SIMD_INLINE vf fold_across_vectors(vf *acc) {
#pragma GCC unroll 32
  for (int w = LANE_VECTORS / 2; w >= 1; w /= 2)
#pragma GCC unroll 32
    for (int a = 0; a < w; ++a) acc[a] = vf_add(acc[a], acc[a + w]);
  return acc[0];
}

/* Short rows (1 < K < SEMCL_LANES): every lane holds at most one term, so a row is a few
 * vectors, and the tile's rows run in one loop (no call per row). Each row's vectors are
 * folded across vectors in registers; the in-register rest of the fold runs for SIMD_W rows at
 * once (vf_fold_rows), off the row's dependency chain. A row whose gradient coefficient needs
 * fp64 takes the chunk path afterwards (its element is not touched before: in place, the
 * scores must still be there). */
SIMD_INLINE void rows_short_body(const semcl_problem *p, int64_t first, int m, tile_rows *t,
                                 const int dt, const int mask, const int bwd) {
  const int64_t K = p->K;
  const int filled = (int)((K + SIMD_W - 1) / SIMD_W); /* vectors that hold terms */
  vf group_sp[SIMD_W], group_sg[SIMD_W]; /* the current SIMD_W rows, folded across vectors */
  for (int r = 0; r < SIMD_W; ++r) group_sp[r] = group_sg[r] = vf_zero(); /* rows past m */
  float sp_row[ROW_TILE + SIMD_W], sg_row[ROW_TILE + SIMD_W];
  int any_f64 = 0;
  for (int i = 0; i < m; ++i) {
    row_args ra;
    row_args_of(p, t, i, first + i, bwd, &ra);
    /* All 32 lanes, the unused ones +0: constant indices keep them in registers, and the full
     * fold gives the bits of the short fold (adding +0 to sums of non-negative terms). */
    vf acc_sp[LANE_VECTORS], acc_sg[LANE_VECTORS];
    for (int a = 0; a < LANE_VECTORS; ++a) acc_sp[a] = acc_sg[a] = vf_zero();
    if (bwd && semcl_neg_coef_needs_f64(ra.coef64)) {
      any_f64 = 1;
    } else {
      const vf pos = vf_set1(ra.pos), neg_sign = vf_set1(ra.neg_sign), coef = vf_set1(ra.coef);
      if (mask == MASK_NONE && K == 2 * SIMD_W && LANE_VECTORS >= 2) {
        /* two whole vectors, interleaved: chunk_vector's operations for each */
        vf tv[2], sp[2], sg[2] = {vf_zero(), vf_zero()};
#pragma GCC unroll 2
        for (int j = 0; j < 2; ++j)
          tv[j] = vf_mul(neg_sign, vf_sub(pos, v_load_scores(ra.neg, j * SIMD_W, dt)));
        v_softplus_sigmoid2(tv, sp, sg, bwd);
#pragma GCC unroll 2
        for (int j = 0; j < 2; ++j) {
          acc_sp[j] = vf_add(acc_sp[j], sp[j]);
          if (bwd) acc_sg[j] = vf_add(acc_sg[j], sg[j]);
          if (bwd && ra.grad) v_store_scores(ra.grad, j * SIMD_W, vf_mul(coef, sg[j]), dt);
        }
      } else {
#pragma GCC unroll 32
        for (int a = 0; a < LANE_VECTORS; ++a) {
          if (a < filled) {
            const int64_t left = K - (int64_t)a * SIMD_W;
            chunk_vector(&ra, (int64_t)a * SIMD_W, left >= SIMD_W ? SIMD_W : (int)left,
                         &acc_sp[a], &acc_sg[a], pos, neg_sign, coef, dt, mask, bwd, 0);
          }
        }
      }
    }
    group_sp[i % SIMD_W] = fold_across_vectors(acc_sp);
    if (bwd) group_sg[i % SIMD_W] = fold_across_vectors(acc_sg);
    if (i % SIMD_W == SIMD_W - 1 || i == m - 1) { /* lanes of rows past m: never read */
      const int g0 = i - i % SIMD_W;
      vf_store(sp_row + g0, vf_fold_rows(group_sp));
      if (bwd) vf_store(sg_row + g0, vf_fold_rows(group_sg));
    }
  }
  for (int i = 0; i < m; ++i) {
    t->sp_total[i] = (double)sp_row[i];
    t->sg_total[i] = bwd ? (double)sg_row[i] : 0.0;
  }
  if (any_f64)
    for (int i = 0; i < m; ++i)
      if (semcl_neg_coef_needs_f64(t->coef64[i])) run_row(p, t, i, first + i, bwd);
}

typedef void (*rows_short_fn)(const semcl_problem *p, int64_t first, int m, tile_rows *t);
#define SHORT_VARIANT(dt, mask, bwd)                                                        \
  static void KERNEL(rows_short_##dt##_##mask##_##bwd)(const semcl_problem *p, int64_t first, \
                                                       int m, tile_rows *t) {               \
    rows_short_body(p, first, m, t, dt, mask, bwd);                                         \
  }
#define SHORT_VARIANTS_DT(dt) \
  SHORT_VARIANT(dt, 0, 0)     \
  SHORT_VARIANT(dt, 0, 1)     \
  SHORT_VARIANT(dt, 1, 0)     \
  SHORT_VARIANT(dt, 1, 1)     \
  SHORT_VARIANT(dt, 2, 0)     \
  SHORT_VARIANT(dt, 2, 1)     \
  SHORT_VARIANT(dt, 3, 0)     \
  SHORT_VARIANT(dt, 3, 1)
SHORT_VARIANTS_DT(0)
SHORT_VARIANTS_DT(1)
SHORT_VARIANTS_DT(2)
#define SHORT_ROW(dt, mask) \
  {KERNEL(rows_short_##dt##_##mask##_0), KERNEL(rows_short_##dt##_##mask##_1)}
#define SHORT_DT(dt) {SHORT_ROW(dt, 0), SHORT_ROW(dt, 1), SHORT_ROW(dt, 2), SHORT_ROW(dt, 3)}
/* [dtype][mask kind][forward, backward] */
static const rows_short_fn KERNEL(short_table)[3][4][2] = {SHORT_DT(0), SHORT_DT(1), SHORT_DT(2)};

/* Row epilogue of a sub-tile (semcl_row.h, in loops over rows that vectorise: no call, every
 * branch a select): per-sample outputs, grad_raw, grad_pos, leaves. Only what the call asks
 * for is formed: the per-row mean (a division) only where the reduction uses it, dBCE/dx only
 * for grad_raw, and fp32 gradients go straight into the call's arrays. */
static void finish_rows(const semcl_cpu_call *c, int64_t first, int m, const tile_rows *t,
                        double *restrict ctr_leaf, double *restrict aux_leaf) {
  const semcl_problem *p = c->p;
  const semcl_row_consts rc = c->rc; /* a local copy: the stores below cannot alias it */
  const float *restrict raw = t->raw, *restrict y = t->y, *restrict w = t->w,
                        *restrict pw = t->pw, *restrict ns = t->neg_sign;
  const double *restrict count = t->count, *restrict g = t->g, *restrict sp = t->sp_total,
                         *restrict sg = t->sg_total;
  float ctr[ROW_TILE], dctr[ROW_TILE];
  if (p->grad_raw)
    for (int i = 0; i < m; ++i) semcl_bce_with_logits_pw(raw[i], y[i], pw[i], &ctr[i], &dctr[i]);
  else
    for (int i = 0; i < m; ++i) {
      float unused;
      semcl_bce_with_logits_pw(raw[i], y[i], pw[i], &ctr[i], &unused);
    }
  if (p->reduction == SEMCL_REDUCTION_MEAN) { /* the leaf needs no per-row mean */
    for (int i = 0; i < m; ++i) {
      double unused;
      semcl_pos_neg_row_values(&rc, w[i], count[i], ctr[i], sp[i], &ctr_leaf[i], &unused,
                               &aux_leaf[i]);
    }
  } else {
    double row_mean[ROW_TILE];
    for (int i = 0; i < m; ++i)
      semcl_pos_neg_row_values(&rc, w[i], count[i], ctr[i], sp[i], &ctr_leaf[i], &row_mean[i],
                               &aux_leaf[i]);
    if (p->reduction == SEMCL_REDUCTION_NONE)
      for (int i = 0; i < m; ++i)
        semcl_row_losses(rc.lambda, ctr_leaf[i], row_mean[i], &p->loss[first + i],
                         &p->loss_ctr[first + i], &p->loss_aux[first + i]);
  }
  const int f32 = p->dtype == SEMCL_DTYPE_FLOAT32;
  float buf[ROW_TILE];
  if (p->grad_raw) {
    float *restrict graw = f32 ? (float *)p->grad_raw + first : buf;
    if (t->g_per_row) {
      for (int i = 0; i < m; ++i) graw[i] = semcl_row_grad_raw(semcl_row_ctr_scale(&rc, g[i]), w[i], dctr[i]);
    } else { /* one g: its scale (a division for MEAN) once */
      const double scale = semcl_row_ctr_scale(&rc, g[0]);
      for (int i = 0; i < m; ++i) graw[i] = semcl_row_grad_raw(scale, w[i], dctr[i]);
    }
    if (!f32) store_scores_f32(p->grad_raw, first, buf, m, p->dtype);
  }
  if (p->grad_pos) {
    float *restrict gpos = f32 ? (float *)p->grad_pos + first : buf;
    for (int i = 0; i < m; ++i) {
      const double num = semcl_pos_neg_grad_numerator(g[i], w[i], rc.lambda, ns[i]);
      gpos[i] = semcl_pos_neg_grad_pos(num, sg[i], semcl_pos_neg_denominator(&rc, count[i]));
    }
    if (!f32) store_scores_f32(p->grad_pos, first, buf, m, p->dtype);
  }
}

/* chunk_sums: NULL to run the rows' negatives here, or their chunk sums from pos_neg_chunks
 * ((B, chunks, 2) fp32, row-major) when the chunks ran as separate tasks. */
static void KERNEL(pos_neg_rows)(const semcl_cpu_call *c, int64_t first, int64_t n,
                                 const float *chunk_sums, double *ctr_sum, double *aux_sum) {
  const semcl_problem *p = c->p;
  const int bwd = p->grad_raw || p->grad_pos || p->grad_neg;
  tile_rows t;
  tile_rows_init(c, n, &t);
  double ctr_leaf[ROW_TILE], aux_leaf[ROW_TILE];
  semcl_tree_stream rows;
  semcl_tree_stream_init(&rows);
  for (int64_t tile = first; tile < first + n; tile += ROW_TILE) {
    const int m = (int)(first + n - tile < ROW_TILE ? first + n - tile : ROW_TILE);
    gather_rows(c, tile, m, &t);
    gather_neg_signs(m, &t);
    if (chunk_sums) {
      const int64_t chunks = (p->K + SEMCL_CHUNK - 1) / SEMCL_CHUNK;
      for (int i = 0; i < m; ++i) {
        const float *sums = chunk_sums + 2 * (tile + i) * chunks;
        semcl_tree_stream s;
        semcl_tree_stream_init(&s);
        for (int64_t ch = 0; ch < chunks; ++ch)
          semcl_tree_stream_push(&s, (double)sums[2 * ch], (double)sums[2 * ch + 1]);
        semcl_tree_stream_finish(&s, &t.sp_total[i], &t.sg_total[i]);
      }
    } else {
      row_coefficients(c, m, bwd && p->grad_neg, &t);
      if (p->K == 1) {
        run_rows_k1(c, tile, m, bwd, &t);
      } else if (p->K < SEMCL_LANES) {
        KERNEL(short_table)[p->dtype][mask_kind(p)][bwd](p, tile, m, &t);
      } else {
        for (int i = 0; i < m; ++i) run_row(p, &t, i, tile + i, bwd);
      }
    }
    finish_rows(c, tile, m, &t, ctr_leaf, aux_leaf);
    semcl_tree_stream_push(&rows, tree_sum_tile(ctr_leaf, m), tree_sum_tile(aux_leaf, m));
  }
  semcl_tree_stream_finish(&rows, ctr_sum, aux_sum);
}

/* Chunks [c0, c1) of row b (rows longer than one chunk, split across threads): their fp32
 * sums into out[2*(c - c0)] (softplus) and out[2*(c - c0) + 1] (sigmoid), and their
 * gradients. */
static void KERNEL(pos_neg_chunks)(const semcl_cpu_call *c, int64_t b, int64_t c0, int64_t c1,
                                   float *out) {
  const semcl_problem *p = c->p;
  const int bwd = p->grad_raw || p->grad_pos || p->grad_neg;
  tile_rows t; /* one row */
  tile_rows_init(c, 1, &t);
  gather_rows(c, b, 1, &t);
  gather_neg_signs(1, &t);
  row_coefficients(c, 1, bwd && p->grad_neg, &t);
  row_args ra;
  row_args_of(p, &t, 0, b, bwd, &ra);
  const chunk_fn fn = pick_chunk_fn(p, bwd, ra.coef64);
  for (int64_t ch = c0; ch < c1; ++ch) {
    const int64_t begin = ch * SEMCL_CHUNK;
    const int64_t len = p->K - begin < SEMCL_CHUNK ? p->K - begin : SEMCL_CHUNK;
    fn(&ra, begin, len, &out[2 * (ch - c0)], &out[2 * (ch - c0) + 1]);
  }
}

/* ---- the positive-only loss over a range of rows ----------------------------------------- */

/* Every row's losses in fp32 (and with want_grads its gradients, scaled by s): one loop that
 * vectorises across rows. slow[i]: the row's gradients must be formed in fp64 instead. The
 * pointers do not overlap (outputs never alias inputs in this loss). */
SIMD_INLINE void positive_only_fast(int m, const double *restrict s, float lambda,
                                    const float *restrict raw, const float *restrict pos,
                                    const float *restrict y, const float *restrict pw,
                                    const int want_grads, float *restrict ctr,
                                    float *restrict aux, float *restrict graw,
                                    float *restrict gpos, uint8_t *restrict slow) {
  for (int i = 0; i < m; ++i)
    slow[i] = (uint8_t)semcl_positive_only_row_fast(s[i], lambda, raw[i], pos[i], y[i], pw[i],
                                                    want_grads, &ctr[i], &aux[i], &graw[i],
                                                    &gpos[i]);
}

/* The rows whose gradients need the fp64 path (a few percent of them), collected over
 * sub-tiles with their inputs, so that the fp64 path runs in one loop over many rows (which
 * vectorises) instead of a few rows per sub-tile. */
typedef struct slow_rows {
  int n;
  int64_t row[ROW_TILE];
  double s[ROW_TILE];
  float raw[ROW_TILE], pos[ROW_TILE], y[ROW_TILE], pw[ROW_TILE];
} slow_rows;

/* The collected rows' gradients (semcl_positive_only_grads), into the call's arrays (over the
 * fast path's values, already stored). */
static void slow_rows_flush(const semcl_problem *p, float lambda, slow_rows *restrict q) {
  float graw[ROW_TILE], gpos[ROW_TILE];
  for (int j = 0; j < q->n; ++j)
    semcl_positive_only_grads(q->s[j], lambda, q->raw[j], q->pos[j], q->y[j], q->pw[j], &graw[j],
                              &gpos[j]);
  for (int j = 0; j < q->n; ++j) {
    if (p->grad_raw) store_scores_f32(p->grad_raw, q->row[j], &graw[j], 1, p->dtype);
    if (p->grad_pos) store_scores_f32(p->grad_pos, q->row[j], &gpos[j], 1, p->dtype);
  }
  q->n = 0;
}

/* Adds the sub-tile's rows with slow[i] (rows first .. first+m-1; slow[m .. m+7] are 0) to
 * the collection, flushing it when full. Eight flags at a time: most groups have none. */
static void slow_rows_add(const semcl_problem *p, float lambda, int64_t first, int m,
                          const uint8_t *slow, const double *s, const tile_rows *t,
                          slow_rows *q) {
  for (int i0 = 0; i0 < m; i0 += 8) {
    uint64_t flags;
    memcpy(&flags, slow + i0, sizeof flags);
    if (!flags) continue;
    for (int i = i0; i < i0 + 8 && i < m; ++i) {
      if (!slow[i]) continue;
      if (q->n == ROW_TILE) slow_rows_flush(p, lambda, q);
      const int j = q->n++;
      q->row[j] = first + i;
      q->s[j] = s[i], q->raw[j] = t->raw[i], q->pos[j] = t->pos[i], q->y[j] = t->y[i];
      q->pw[j] = t->pw[i];
    }
  }
}

static void KERNEL(positive_only_rows)(const semcl_cpu_call *c, int64_t first, int64_t n,
                                       double *ctr_sum, double *aux_sum) {
  const semcl_problem *p = c->p;
  const int grads = p->grad_raw || p->grad_pos;
  const int f32 = p->dtype == SEMCL_DTYPE_FLOAT32;
  const float lambda = c->rc.lambda;
  tile_rows t;
  tile_rows_init(c, n, &t);
  slow_rows q;
  q.n = 0;
  float ctr[ROW_TILE], aux[ROW_TILE], graw_buf[ROW_TILE], gpos_buf[ROW_TILE];
  double s[ROW_TILE], ctr_leaf[ROW_TILE], aux_leaf[ROW_TILE];
  uint8_t slow[ROW_TILE + 8];
  semcl_tree_stream rows;
  semcl_tree_stream_init(&rows);
  for (int64_t tile = first; tile < first + n; tile += ROW_TILE) {
    const int m = (int)(first + n - tile < ROW_TILE ? first + n - tile : ROW_TILE);
    gather_rows(c, tile, m, &t);
    /* fp32 gradients straight into the call's arrays */
    float *graw = p->grad_raw && f32 ? (float *)p->grad_raw + tile : graw_buf;
    float *gpos = p->grad_pos && f32 ? (float *)p->grad_pos + tile : gpos_buf;
    if (!grads) {
      for (int i = 0; i < m; ++i) s[i] = 0.0;
    } else if (t.g_per_row) { /* NONE: g per row, no division */
      for (int i = 0; i < m; ++i) s[i] = semcl_row_ctr_scale(&c->rc, t.g[i]) * (double)t.w[i];
    } else { /* one g for the call: its scale once */
      const double scale = semcl_row_ctr_scale(&c->rc, t.g[0]);
      for (int i = 0; i < m; ++i) s[i] = scale * (double)t.w[i];
    }
    /* fp32 for every row; the rows that need the fp64 path are collected for it */
    if (grads) { /* two loops: the forward-only one computes no gradient work */
      positive_only_fast(m, s, lambda, t.raw, t.pos, t.y, t.pw, 1, ctr, aux, graw, gpos, slow);
      memset(slow + m, 0, 8);
    } else {
      positive_only_fast(m, s, lambda, t.raw, t.pos, t.y, t.pw, 0, ctr, aux, graw_buf,
                         gpos_buf, slow);
    }
    for (int i = 0; i < m; ++i) {
      ctr_leaf[i] = (double)t.w[i] * (double)ctr[i];
      aux_leaf[i] = (double)t.w[i] * (double)aux[i];
    }
    if (p->reduction == SEMCL_REDUCTION_NONE)
      for (int i = 0; i < m; ++i)
        semcl_row_losses(lambda, ctr_leaf[i], aux_leaf[i], &p->loss[tile + i],
                         &p->loss_ctr[tile + i], &p->loss_aux[tile + i]);
    if (p->grad_raw && !f32) store_scores_f32(p->grad_raw, tile, graw_buf, m, p->dtype);
    if (p->grad_pos && !f32) store_scores_f32(p->grad_pos, tile, gpos_buf, m, p->dtype);
    if (grads) slow_rows_add(p, lambda, tile, m, slow, s, &t, &q);
    semcl_tree_stream_push(&rows, tree_sum_tile(ctr_leaf, m), tree_sum_tile(aux_leaf, m));
  }
  if (q.n) slow_rows_flush(p, lambda, &q);
  semcl_tree_stream_finish(&rows, ctr_sum, aux_sum);
}

/* ---- masks: real negatives per row ------------------------------------------------------- */
static void KERNEL(count_rows)(const semcl_problem *p, int64_t first, int64_t n,
                               int64_t *counts) {
  for (int64_t b = first; b < first + n; ++b) {
    const int64_t limit = p->neg_count ? semcl_clamp_count(p->neg_count[b], p->K) : p->K;
    int64_t real = limit;
    if (p->neg_mask) {
      const uint8_t *m = p->neg_mask + b * p->K;
      real = 0;
      for (int64_t k = 0; k < limit; ++k) real += m[k] != 0;
    }
    counts[b] = real;
  }
}

const semcl_cpu_kernels KERNEL(semcl_cpu_kernels) = {
    KERNEL(pos_neg_rows),
    KERNEL(pos_neg_chunks),
    KERNEL(positive_only_rows),
    KERNEL(count_rows),
};
