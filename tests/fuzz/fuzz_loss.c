/* fuzz_loss.c — one loss call with fuzzed arguments: builds it (entry point, sizes, enums,
 * scalars, options, NULLs, overlaps, the workspace, the data), predicts from the header's
 * rules which statuses it may return, runs it, and checks the status, "nothing written on
 * error", and on success hands over to fuzz_results.c. */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_call.h"
#include "fuzz_check.h"
#include "fuzz_values.h"

/* ---- arguments ------------------------------------------------------------------------- */

static const char *const region_names[R_N] = {
    "score_raw", "score_pos", "score_neg", "y",        "grad_upstream",
    "neg_mask",  "neg_count", "weight",    "pos_weight", "loss",
    "loss_ctr",  "loss_aux",  "grad_raw",  "grad_pos",   "grad_neg"};

static int64_t special_size(fuzz_reader *r) {
  static const int64_t table[] = {0,
                                  -1,
                                  -7,
                                  INT64_MIN,
                                  INT64_MAX,
                                  INT64_MAX / 4,
                                  INT64_MAX / 4 + 1,
                                  (int64_t)1 << 31,
                                  (int64_t)1 << 32,
                                  (int64_t)1 << 61,
                                  (int64_t)1 << 62,
                                  ((int64_t)1 << 62) + 1};
  return table[fuzz_pick(r, sizeof table / sizeof table[0])];
}

/* B and K: mostly small, sometimes long rows (several chunks of 1024), sometimes enough terms
 * for the thread split (>= 32768), sometimes invalid. A valid size is never larger than the
 * arena holds. */
static void choose_sizes(fuzz_reader *r, fuzz_call *c) {
  const unsigned size_class = fuzz_pick(r, 8);
  int64_t B = 1, K = 1;
  switch (size_class) {
    case 4: B = 1 + fuzz_u16(r) % 300, K = 1 + fuzz_u8(r) % 40; break;
    case 5: B = 1 + fuzz_u8(r) % 3, K = 1 + fuzz_u16(r) % 12000; break;
    case 6:
      if (c->pairwise) { /* the chunk split: few rows of many chunks */
        B = 1 + fuzz_u8(r) % 2;
        K = 32768 / B + fuzz_u16(r) % (FUZZ_MAX_ELEMENTS / B - 32768 / B);
      } else {
        B = 1 + fuzz_u16(r) % FUZZ_MAX_ELEMENTS, K = 1;
      }
      break;
    case 7:
      B = fuzz_bool(r) ? special_size(r) : 1 + fuzz_u8(r) % 8;
      K = fuzz_bool(r) ? special_size(r) : 1 + fuzz_u8(r) % 8;
      break;
    default: B = 1 + fuzz_u8(r) % 16, K = 1 + fuzz_u8(r) % 64; break;
  }
  const int64_t k = c->pairwise ? K : 1;
  c->sizes_ok = B > 0 && k > 0 && k <= (INT64_MAX / 4) / B;
  if (c->sizes_ok && B * k > FUZZ_MAX_ELEMENTS) { /* valid but more than the arena: refuse it */
    if (c->pairwise)
      K = 0;
    else
      B = 0;
    c->sizes_ok = 0;
  }
  c->B = B;
  c->K = K;
}

static int raw_enum(fuzz_reader *r, int valid_count) {
  static const int bad[] = {3, -1, 7, 1000, 255, INT_MIN, INT_MAX};
  const uint8_t v = fuzz_u8(r);
  if (v < 248) return v % valid_count;
  return bad[v % (sizeof bad / sizeof bad[0])];
}

static float scalar(fuzz_reader *r, float lo, float hi) {
  static const float special[] = {NAN,  INFINITY, -INFINITY, FLT_MAX, -FLT_MAX, 0.0f,
                                  -0.0f, 1e30f,   1e-30f,    -5.0f,   1e-45f};
  const uint8_t v = fuzz_u8(r);
  if (v < 200) return lo + (hi - lo) * (float)fuzz_u16(r) / 65535.0f;
  if (v < 240) return special[v % (sizeof special / sizeof special[0])];
  return fuzz_float_bits(r);
}

static int64_t pos_weight_count(fuzz_reader *r, int64_t B) {
  const int64_t up = (int64_t)((uint64_t)B + 1), down = (int64_t)((uint64_t)B - 1); /* wraps */
  const int64_t table[] = {1, B, 0, -1, up, 2, INT64_MAX, INT64_MIN, down};
  const uint8_t v = fuzz_u8(r);
  return v < 128 ? (v & 1 ? 1 : B) : table[v % (sizeof table / sizeof table[0])];
}

static void choose_arguments(fuzz_reader *r, fuzz_call *c) {
  c->entry = (fuzz_entry)fuzz_pick(r, E_COUNT);
  c->pairwise = c->entry == E_POS_NEG_FWD || c->entry == E_POS_NEG_FWD_BWD ||
                c->entry == E_POS_NEG_EX;
  c->ex = c->entry == E_POS_ONLY_EX || c->entry == E_POS_NEG_EX;
  c->takes_grad_args = c->ex || c->entry == E_POS_ONLY_FWD_BWD || c->entry == E_POS_NEG_FWD_BWD;
  choose_sizes(r, c);
  c->reduction = raw_enum(r, 3);
  c->lambda = scalar(r, 0.0f, 10.0f);
  c->grad_scale = c->takes_grad_args ? scalar(r, -1000.0f, 1000.0f) : 1.0f;
  c->null_ctx = fuzz_u8(r) == 255;

  fuzz_region *g = c->reg;
  for (int i = 0; i < R_N; ++i) g[i].present = 0, g[i].output = i >= R_LOSS;
  g[R_RAW].present = g[R_POS].present = g[R_Y].present = 1;
  g[R_LOSS].present = g[R_CTR].present = g[R_AUX].present = 1;
  g[R_NEG].present = c->pairwise;
  if (c->takes_grad_args) {
    const uint8_t grads = fuzz_u8(r);
    g[R_UP].present = grads >> 3 & 1;
    g[R_GRAW].present = grads & 1;
    g[R_GPOS].present = grads >> 1 & 1;
    g[R_GNEG].present = c->pairwise && (grads >> 2 & 1);
    c->in_place = g[R_GNEG].present && (grads >> 4 & 1);
  }
  c->dtype = 0;
  c->has_options = c->ex && fuzz_u8(r) >= 32;
  c->options_ok = 1;
  memset(&c->options, 0, sizeof c->options);
  c->options.struct_size = sizeof(semcl_options);
  if (c->has_options) {
    const uint8_t o = fuzz_u8(r);
    if (o >= 248) { /* a struct the library cannot know */
      static const size_t bad[] = {0, 1, sizeof(semcl_options) - 8, sizeof(semcl_options) + 8};
      c->options.struct_size = bad[o % 4];
      c->options_ok = 0;
    }
    c->dtype = raw_enum(r, 3);
    c->options.dtype = (semcl_dtype_t)c->dtype;
    const uint8_t which = fuzz_u8(r);
    /* masks mostly on the pairwise loss (on the positive-only loss they are an error) */
    const int masks_allowed = c->pairwise || which >= 240;
    g[R_MASK].present = masks_allowed && (which & 1);
    g[R_COUNT].present = masks_allowed && (which >> 1 & 1);
    g[R_WEIGHT].present = which >> 2 & 1;
    g[R_PW].present = which >> 3 & 1;
    c->options.pos_weight_count = g[R_PW].present ? pos_weight_count(r, c->B) : 0;
  }
  c->esize = c->dtype == SEMCL_DTYPE_BFLOAT16 || c->dtype == SEMCL_DTYPE_FLOAT16 ? 2 : 4;
}

/* ---- layout ------------------------------------------------------------------------------ */

/* The extent the library gives each array (its documented shape); a nominal 16 bytes when the
 * sizes are invalid (the call must refuse them before touching any array). */
static size_t region_bytes(const fuzz_call *c, int id) {
  if (!c->sizes_ok) return 16;
  const size_t B = (size_t)c->B, BK = (size_t)(c->B * fuzz_call_k(c));
  const size_t losses = (c->reduction == SEMCL_REDUCTION_NONE ? B : 1) * sizeof(float);
  switch (id) {
    case R_RAW: case R_POS: case R_GRAW: case R_GPOS: return B * c->esize;
    case R_NEG: case R_GNEG: return BK * c->esize;
    case R_Y: case R_COUNT: case R_WEIGHT: return B * 4;
    case R_UP: case R_LOSS: case R_CTR: case R_AUX: return losses;
    case R_MASK: return BK;
    case R_PW: {
      const int64_t n = c->options.pos_weight_count;
      return n >= 1 && n <= c->B ? (size_t)n * 4 : 4;
    }
  }
  return 16;
}

static size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

/* Lays the arrays out one after another with small gaps (poisoned, so that a stray write
 * shows), then moves some of them onto others (overlaps) and sets some required ones to NULL.
 * Returns the end of the used span. */
static size_t place_regions(fuzz_reader *r, fuzz_call *c, unsigned char *arena) {
  size_t at = 64 + 4 * fuzz_pick(r, 8);
  for (int i = 0; i < R_N; ++i) {
    fuzz_region *g = &c->reg[i];
    g->bytes = region_bytes(c, i);
    if (!g->present) continue;
    at = align_up(at, 4);
    g->offset = at;
    at += g->bytes + 4 * fuzz_pick(r, 4);
  }
  if (c->in_place) c->reg[R_GNEG].offset = c->reg[R_NEG].offset;
  const int overlaps = fuzz_u8(r) >= 224 ? 1 + fuzz_pick(r, 2) : 0;
  for (int n = 0; n < overlaps; ++n) {
    fuzz_region *a = &c->reg[fuzz_pick(r, R_N)], *b = &c->reg[fuzz_pick(r, R_N)];
    const int delta = (int8_t)fuzz_u8(r);
    if (!a->present || !b->present || a == b) continue;
    long off = (long)b->offset + 4L * delta;
    if (off < 64) off = 64;
    a->offset = (size_t)off;
    if (a->offset + a->bytes > at) at = a->offset + a->bytes;
  }
  for (int i = 0; i < R_N; ++i) c->reg[i].ptr = c->reg[i].present ? arena + c->reg[i].offset : NULL;
  const uint8_t null_pick = fuzz_u8(r);
  static const int required[] = {R_RAW, R_POS, R_NEG, R_Y, R_LOSS, R_CTR, R_AUX};
  if (null_pick >= 240) c->reg[required[null_pick % 7]].ptr = NULL;
  return align_up(at + 64, 16);
}

/* ---- data ----------------------------------------------------------------------------------- */

static void put_scores(fuzz_call *c, unsigned char *arena, int id, const float *v, size_t n,
                       int wild) {
  unsigned char *dst = arena + c->reg[id].offset;
  if (c->esize == 4) {
    memcpy(dst, v, n * 4);
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    uint32_t bits;
    memcpy(&bits, &v[i], 4);
    if (c->dtype == SEMCL_DTYPE_BFLOAT16)
      h = wild ? (uint16_t)(bits >> 16) : fuzz_bf16_bits(fuzz_round_bf16(v[i]));
    else
      h = wild ? (uint16_t)bits : fuzz_f16_bits(fuzz_round_f16(v[i]));
    memcpy(dst + 2 * i, &h, 2);
  }
}

/* Writes every present input array into the arena (later arrays win where inputs overlap:
 * the reference reads back what the library will read). */
static void write_inputs(fuzz_reader *r, fuzz_call *c, unsigned char *arena) {
  const uint64_t seed = fuzz_u64(r);
  const uint8_t spec_scores = fuzz_u8(r), spec_y = fuzz_u8(r), spec_w = fuzz_u8(r);
  const uint8_t spec_up = fuzz_u8(r), density = fuzz_u8(r), count_spec = fuzz_u8(r);
  const int wild_scores = (spec_scores & 3) == 3;
  static const fuzz_kind kinds[R_N] = {FUZZ_SCORES, FUZZ_SCORES,   FUZZ_SCORES, FUZZ_LABELS,
                                       FUZZ_UPSTREAM, FUZZ_LABELS, FUZZ_LABELS, FUZZ_WEIGHTS,
                                       FUZZ_WEIGHTS};
  for (int id = R_RAW; id <= R_PW; ++id) {
    fuzz_region *g = &c->reg[id];
    if (!g->present || id == R_MASK || id == R_COUNT) continue;
    const int score = id <= R_NEG;
    const size_t n = g->bytes / (score ? c->esize : 4);
    float *v = (float *)malloc((n ? n : 1) * sizeof(float));
    const uint8_t spec = score ? spec_scores : id == R_Y ? spec_y : id == R_UP ? spec_up : spec_w;
    fuzz_fill(v, n, kinds[id], spec, seed + (uint64_t)id * 0x1000193u);
    if (id == R_NEG || id == R_RAW || id == R_POS || id == R_Y) fuzz_patch(r, v, n, 3);
    if (score)
      put_scores(c, arena, id, v, n, wild_scores);
    else
      memcpy(arena + g->offset, v, n * 4);
    free(v);
  }
  fuzz_rng rng = {seed ^ 0x5bd1e995u};
  if (c->reg[R_MASK].present)
    for (size_t i = 0; i < c->reg[R_MASK].bytes; ++i) {
      const uint64_t x = fuzz_rng_next(&rng);
      arena[c->reg[R_MASK].offset + i] = (x & 255) < density ? (uint8_t)(1 + (x >> 8) % 255) : 0;
    }
  if (c->reg[R_COUNT].present)
    for (size_t i = 0; i < c->reg[R_COUNT].bytes / 4; ++i) {
      const uint64_t x = fuzz_rng_next(&rng);
      int64_t K = fuzz_call_k(c);
      if (K < 0 || K > INT32_MAX - 4) K = 8; /* invalid sizes: any small counts */
      int32_t n;
      switch ((count_spec >> (x & 3) * 2) & 3) {
        case 0: n = (int32_t)((x >> 8) % (uint64_t)(K + 1)); break;
        case 1: n = -(int32_t)((x >> 8) % 5); break;
        case 2: n = (int32_t)(K + 1 + (int64_t)((x >> 8) % 3)); break;
        default: n = x & 4 ? INT32_MIN : INT32_MAX; break;
      }
      memcpy(arena + c->reg[R_COUNT].offset + 4 * i, &n, 4);
    }
}

/* ---- the status the header allows ------------------------------------------------------------ */

#define BIT(st) (1u << (st))

static int overlap(const fuzz_region *a, const fuzz_region *b) {
  const uintptr_t a0 = (uintptr_t)a->ptr, b0 = (uintptr_t)b->ptr;
  return a0 < b0 + b->bytes && b0 < a0 + a->bytes;
}

/* Statuses the call may return: the union over every rule it breaks (the header does not
 * order the checks). *maybe_ws: the only problem may be a too small caller workspace, which
 * the library may or may not need all of. 0 means: must succeed. */
static unsigned allowed_statuses(const fuzz_state *s, const fuzz_call *c, int *maybe_ws) {
  unsigned st = 0;
  *maybe_ws = 0;
  if (c->has_options && !c->options_ok) st |= BIT(SEMCL_STATUS_INVALID_VALUE);
  if (c->reduction < 0 || c->reduction > 2) st |= BIT(SEMCL_STATUS_INVALID_ENUM);
  if (c->has_options && (c->dtype < 0 || c->dtype > 2)) st |= BIT(SEMCL_STATUS_INVALID_ENUM);
  const int64_t k = fuzz_call_k(c);
  if (c->B <= 0 || k <= 0)
    st |= BIT(SEMCL_STATUS_INVALID_SIZE);
  else if (!c->sizes_ok)
    st |= BIT(SEMCL_STATUS_SIZE_OVERFLOW);
  if (!isfinite(c->lambda)) st |= BIT(SEMCL_STATUS_NON_FINITE_SCALAR);
  if (c->takes_grad_args && !isfinite(c->grad_scale)) st |= BIT(SEMCL_STATUS_NON_FINITE_SCALAR);
  if (!c->pairwise && (c->reg[R_MASK].present || c->reg[R_COUNT].present))
    st |= BIT(SEMCL_STATUS_INVALID_VALUE);
  if (c->reg[R_PW].present && c->options.pos_weight_count != 1 &&
      c->options.pos_weight_count != c->B)
    st |= BIT(SEMCL_STATUS_INVALID_VALUE);
  for (int i = 0; i < R_N; ++i)
    if (c->reg[i].present && !c->reg[i].ptr) st |= BIT(SEMCL_STATUS_NULL_POINTER);

  /* Overlaps, by absolute address, the workspace (an output) included. */
  fuzz_region all[R_N + 1];
  int id[R_N + 1], n = 0;
  for (int i = 0; i < R_N; ++i)
    if (c->reg[i].ptr) all[n] = c->reg[i], id[n++] = i;
  if (s->workspace) {
    all[n].present = 1, all[n].output = 1, all[n].bytes = s->workspace_bytes;
    all[n].ptr = s->workspace, id[n++] = R_N;
  }
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      if (!all[i].output && !all[j].output) continue;
      /* the one exception: grad_neg == score_neg exactly (same start, same extent) */
      const int in_place = id[i] == R_NEG && id[j] == R_GNEG && all[i].ptr == all[j].ptr &&
                           all[i].bytes == all[j].bytes;
      if (overlap(&all[i], &all[j]) && !in_place) st |= BIT(SEMCL_STATUS_ALIASING);
    }

  if (st == 0 && s->workspace) {
    size_t need = 0;
    const semcl_loss_kind_t kind = c->pairwise ? SEMCL_LOSS_POS_NEG : SEMCL_LOSS_POSITIVE_ONLY;
    FUZZ_CHECK(semcl_get_workspace_size(s->ctx, kind, c->B, k, &need) == SEMCL_STATUS_SUCCESS,
               "semcl_get_workspace_size refused valid sizes B=%lld K=%lld: %s",
               (long long)c->B, (long long)k, semcl_last_error(s->ctx));
    *maybe_ws = s->workspace_bytes < need;
  }
  return st;
}

/* ---- the call ------------------------------------------------------------------------------ */

semcl_status_t fuzz_invoke(semcl_context *ctx, const fuzz_call *c) {
  void *ptr[R_N];
  for (int i = 0; i < R_N; ++i) ptr[i] = c->reg[i].ptr;
  const semcl_reduction_t red = (semcl_reduction_t)c->reduction; /* C: any int is fine */
  switch (c->entry) {
    case E_POS_ONLY_FWD:
      return semcl_positive_only_forward(ctx, c->B, ptr[R_RAW], ptr[R_POS], ptr[R_Y], c->lambda,
                                         red, ptr[R_LOSS], ptr[R_CTR], ptr[R_AUX]);
    case E_POS_ONLY_FWD_BWD:
      return semcl_positive_only_forward_backward(
          ctx, c->B, ptr[R_RAW], ptr[R_POS], ptr[R_Y], c->lambda, red, c->grad_scale, ptr[R_UP],
          ptr[R_LOSS], ptr[R_CTR], ptr[R_AUX], ptr[R_GRAW], ptr[R_GPOS]);
    case E_POS_NEG_FWD:
      return semcl_pos_neg_forward(ctx, c->B, c->K, ptr[R_RAW], ptr[R_POS], ptr[R_NEG], ptr[R_Y],
                                   c->lambda, red, ptr[R_LOSS], ptr[R_CTR], ptr[R_AUX]);
    case E_POS_NEG_FWD_BWD:
      return semcl_pos_neg_forward_backward(
          ctx, c->B, c->K, ptr[R_RAW], ptr[R_POS], ptr[R_NEG], ptr[R_Y], c->lambda, red,
          c->grad_scale, ptr[R_UP], ptr[R_LOSS], ptr[R_CTR], ptr[R_AUX], ptr[R_GRAW],
          ptr[R_GPOS], ptr[R_GNEG]);
    case E_POS_ONLY_EX:
    case E_POS_NEG_EX: {
      semcl_options o = c->options;
      o.neg_mask = ptr[R_MASK];
      o.neg_count = ptr[R_COUNT];
      o.weight = ptr[R_WEIGHT];
      o.pos_weight = ptr[R_PW];
      const semcl_options *opt = c->has_options ? &o : NULL;
      if (c->entry == E_POS_ONLY_EX)
        return semcl_positive_only_ex(ctx, c->B, ptr[R_RAW], ptr[R_POS], ptr[R_Y], c->lambda, red,
                                      opt, c->grad_scale, ptr[R_UP], ptr[R_LOSS], ptr[R_CTR],
                                      ptr[R_AUX], ptr[R_GRAW], ptr[R_GPOS]);
      return semcl_pos_neg_ex(ctx, c->B, c->K, ptr[R_RAW], ptr[R_POS], ptr[R_NEG], ptr[R_Y],
                              c->lambda, red, opt, c->grad_scale, ptr[R_UP], ptr[R_LOSS],
                              ptr[R_CTR], ptr[R_AUX], ptr[R_GRAW], ptr[R_GPOS], ptr[R_GNEG]);
    }
    case E_COUNT: break;
  }
  return SEMCL_STATUS_INTERNAL_ERROR;
}

/* The caller workspace for this call: unchanged, the context's own, exactly the queried size,
 * a little less, or lying on one of the call's arrays. */
static void choose_workspace(fuzz_reader *r, fuzz_state *s, const fuzz_call *c, size_t *end) {
  const unsigned action = fuzz_pick(r, 8);
  if (action < 4 || c->null_ctx) return;
  if (action == 4) {
    FUZZ_CHECK(semcl_set_workspace(s->ctx, NULL, 0) == SEMCL_STATUS_SUCCESS,
               "semcl_set_workspace(NULL, 0) failed: %s", semcl_last_error(s->ctx));
    s->workspace = NULL, s->workspace_bytes = 0;
    return;
  }
  if (!c->sizes_ok) return;
  size_t need = 0;
  const semcl_loss_kind_t kind = c->pairwise ? SEMCL_LOSS_POS_NEG : SEMCL_LOSS_POSITIVE_ONLY;
  FUZZ_CHECK(semcl_get_workspace_size(s->ctx, kind, c->B, fuzz_call_k(c), &need) ==
                 SEMCL_STATUS_SUCCESS,
             "semcl_get_workspace_size refused B=%lld K=%lld: %s", (long long)c->B,
             (long long)fuzz_call_k(c), semcl_last_error(s->ctx));
  static const size_t less[] = {1, 8, 16, 64};
  size_t bytes = need, offset = align_up(*end, 16);
  if (action == 6) {
    const size_t d = less[fuzz_pick(r, 4)];
    bytes = need > d ? need - d : 16;
  }
  if (action == 7) { /* on an argument (aligned down to 16 bytes, as the API requires) */
    const fuzz_region *g = &c->reg[fuzz_pick(r, R_N)];
    if (!g->present) return;
    offset = g->offset / 16 * 16;
  }
  if (bytes == 0) bytes = 16;
  if (offset + bytes > FUZZ_ARENA_BYTES) return;
  FUZZ_CHECK(semcl_set_workspace(s->ctx, s->arena + offset, bytes) == SEMCL_STATUS_SUCCESS,
             "semcl_set_workspace(aligned, %zu) failed: %s", bytes, semcl_last_error(s->ctx));
  s->workspace = s->arena + offset;
  s->workspace_bytes = bytes;
  if (offset + bytes > *end) *end = offset + bytes;
}

void fuzz_loss_op(fuzz_state *s, fuzz_reader *r) {
  fuzz_call c;
  memset(&c, 0, sizeof c);
  choose_arguments(r, &c);
  size_t end = place_regions(r, &c, s->arena);
  FUZZ_CHECK(end <= FUZZ_ARENA_BYTES, "fuzzer bug: arena too small (%zu)", end);
  choose_workspace(r, s, &c, &end);
  size_t lo = 64;
  if (s->workspace) {
    const size_t w0 = (size_t)((unsigned char *)s->workspace - s->arena);
    if (w0 + s->workspace_bytes > end) end = w0 + s->workspace_bytes;
  }

  memset(s->arena + lo, 0xA5, end - lo); /* poison: outputs and the gaps between arrays */
  write_inputs(r, &c, s->arena);

  int maybe_ws = 0;
  const unsigned allowed = c.null_ctx ? BIT(SEMCL_STATUS_NULL_CONTEXT)
                                      : allowed_statuses(s, &c, &maybe_ws);
  unsigned char *pre = (unsigned char *)malloc(end - lo);
  memcpy(pre, s->arena + lo, end - lo);

  fuzz_set_context(fuzz_describe_call(&c));
  const semcl_status_t st = fuzz_invoke(c.null_ctx ? NULL : s->ctx, &c);
  const char *message = c.null_ctx ? "" : semcl_last_error(s->ctx);
  if (allowed == 0 && !maybe_ws)
    FUZZ_CHECK(st == SEMCL_STATUS_SUCCESS, "entry %d B=%lld K=%lld: a valid call returned %s: %s",
               (int)c.entry, (long long)c.B, (long long)c.K, semcl_status_name(st), message);
  else if (allowed == 0)
    FUZZ_CHECK(st == SEMCL_STATUS_SUCCESS || st == SEMCL_STATUS_INVALID_VALUE,
               "entry %d: with a small workspace the call returned %s: %s", (int)c.entry,
               semcl_status_name(st), message);
  else
    FUZZ_CHECK(st != SEMCL_STATUS_SUCCESS && (st < 32 && (allowed >> st & 1)),
               "entry %d B=%lld K=%lld reduction %d dtype %d: returned %s, allowed mask 0x%x: %s",
               (int)c.entry, (long long)c.B, (long long)c.K, c.reduction, c.dtype,
               semcl_status_name(st), allowed, message);

  fuzz_count(STAT_LOSS_CALLS);
  fuzz_count(st == SEMCL_STATUS_SUCCESS ? STAT_SUCCEEDED : STAT_REFUSED);
  if (st != SEMCL_STATUS_SUCCESS) {
    fuzz_expect_same_bits("the arena after a refused call (nothing may be written)", pre,
                          s->arena + lo, end - lo);
    FUZZ_CHECK(c.null_ctx || message[0] != '\0', "%s without a last-error message",
               semcl_status_name(st));
  } else {
    FUZZ_CHECK(message[0] == '\0', "success but last error \"%s\"", message);
    fuzz_check_results(s, &c, pre, lo, end);
  }
  free(pre);
  fuzz_set_context(NULL);
}

const char *fuzz_region_name(int id) { return region_names[id]; }

const char *fuzz_describe_call(const fuzz_call *c) {
  static const char *const entries[E_COUNT] = {
      "semcl_positive_only_forward", "semcl_positive_only_forward_backward",
      "semcl_pos_neg_forward",       "semcl_pos_neg_forward_backward",
      "semcl_positive_only_ex",      "semcl_pos_neg_ex"};
  static char text[512];
  int n = snprintf(text, sizeof text,
                   "%s(B=%lld, K=%lld, reduction=%d, dtype=%d, lambda=%g, grad_scale=%g%s%s)",
                   entries[c->entry], (long long)c->B, (long long)c->K, c->reduction, c->dtype,
                   (double)c->lambda, (double)c->grad_scale, c->has_options ? ", options" : "",
                   c->in_place ? ", in place" : "");
  for (int i = 0; i < R_N && n > 0 && (size_t)n < sizeof text; ++i)
    if (c->reg[i].ptr)
      n += snprintf(text + n, sizeof text - (size_t)n, " %s@%zu+%zu", region_names[i],
                    c->reg[i].offset, c->reg[i].bytes);
  return text;
}
