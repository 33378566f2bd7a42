/* fuzz_results.c — what a successful loss call must have done, for any data:
 *   - written nothing but its outputs (and its workspace);
 *   - written exactly +0 into every masked grad_neg slot;
 *   - computed the same bits at every ISA level and for another thread count;
 *   - for 16-bit scores: the fp32 call's losses, and its gradients rounded to nearest-even;
 * and for clean data (fuzz_values.h), results within the suite's tolerance of the fp64
 * reference (tests/support/reference.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_call.h"
#include "fuzz_check.h"
#include "fuzz_values.h"
#include "reference.h"

/* Copies of the call's inputs as the library read them (from the pre-call arena). */
typedef struct inputs {
  float *raw, *pos, *neg, *y, *up, *weight, *pw; /* scores widened to fp32 */
  uint8_t *mask;
  int32_t *count;
} inputs;

static void *copy_from(const unsigned char *pre, size_t lo, const fuzz_region *g) {
  if (!g->ptr) return NULL;
  void *p = malloc(g->bytes ? g->bytes : 1);
  memcpy(p, pre + (g->offset - lo), g->bytes);
  return p;
}

static float widen(const fuzz_call *c, const void *base, size_t i) {
  if (c->esize == 4) {
    float f;
    memcpy(&f, (const char *)base + 4 * i, 4);
    return f;
  }
  uint16_t h;
  memcpy(&h, (const char *)base + 2 * i, 2);
  return c->dtype == SEMCL_DTYPE_BFLOAT16 ? fuzz_bf16_to_f32(h) : fuzz_f16_to_f32(h);
}

static float *widened_scores(const fuzz_call *c, const unsigned char *pre, size_t lo, int id) {
  const fuzz_region *g = &c->reg[id];
  if (!g->ptr) return NULL;
  const size_t n = g->bytes / c->esize;
  float *v = (float *)malloc((n ? n : 1) * sizeof(float));
  for (size_t i = 0; i < n; ++i) v[i] = widen(c, pre + (g->offset - lo), i);
  return v;
}

static void read_inputs(const fuzz_call *c, const unsigned char *pre, size_t lo, inputs *in) {
  in->raw = widened_scores(c, pre, lo, R_RAW);
  in->pos = widened_scores(c, pre, lo, R_POS);
  in->neg = widened_scores(c, pre, lo, R_NEG);
  in->y = (float *)copy_from(pre, lo, &c->reg[R_Y]);
  in->up = (float *)copy_from(pre, lo, &c->reg[R_UP]);
  in->weight = (float *)copy_from(pre, lo, &c->reg[R_WEIGHT]);
  in->pw = (float *)copy_from(pre, lo, &c->reg[R_PW]);
  in->mask = (uint8_t *)copy_from(pre, lo, &c->reg[R_MASK]);
  in->count = (int32_t *)copy_from(pre, lo, &c->reg[R_COUNT]);
}

static void free_inputs(inputs *in) {
  free(in->raw), free(in->pos), free(in->neg), free(in->y), free(in->up);
  free(in->weight), free(in->pw), free(in->mask), free(in->count);
}

static int is_real(const fuzz_call *c, const inputs *in, int64_t b, int64_t k) {
  const int64_t K = fuzz_call_k(c);
  if (in->count) {
    const int64_t n = in->count[b] < 0 ? 0 : (in->count[b] > K ? K : in->count[b]);
    if (k >= n) return 0;
  }
  return !in->mask || in->mask[b * K + k] != 0;
}

/* ---- writes outside the outputs, masked slots ------------------------------------------------ */

static int in_region(const fuzz_region *g, size_t at) {
  return g->ptr && at >= g->offset && at < g->offset + g->bytes;
}

static void check_untouched(const fuzz_state *s, const fuzz_call *c, const unsigned char *pre,
                            size_t lo, size_t hi) {
  const size_t ws = s->workspace ? (size_t)((unsigned char *)s->workspace - s->arena) : 0;
  for (size_t at = lo; at < hi; ++at) {
    if (pre[at - lo] == s->arena[at]) continue;
    int output = s->workspace && at >= ws && at < ws + s->workspace_bytes;
    for (int i = R_LOSS; i < R_N && !output; ++i) output = in_region(&c->reg[i], at);
    if (c->in_place) output = output || in_region(&c->reg[R_NEG], at);
    if (output) continue;
    const char *name = "a gap between the arrays";
    for (int i = 0; i < R_N; ++i)
      if (in_region(&c->reg[i], at)) name = fuzz_region_name(i);
    fuzz_fail("entry %d: a successful call changed byte %zu, in %s (not an output)",
              (int)c->entry, at, name);
  }
}

static void check_masked_zero(const fuzz_state *s, const fuzz_call *c, const inputs *in) {
  const fuzz_region *g = &c->reg[R_GNEG];
  if (!g->ptr || (!in->mask && !in->count)) return;
  const int64_t K = fuzz_call_k(c);
  for (int64_t b = 0; b < c->B; ++b)
    for (int64_t k = 0; k < K; ++k) {
      if (is_real(c, in, b, k)) continue;
      const unsigned char *slot = s->arena + g->offset + (size_t)(b * K + k) * c->esize;
      static const unsigned char zero[4] = {0, 0, 0, 0};
      FUZZ_CHECK(memcmp(slot, zero, c->esize) == 0,
                 "grad_neg[%lld,%lld] of a masked negative is not +0", (long long)b,
                 (long long)k);
    }
}

/* ---- the same bits at every level and thread count ----------------------------------------- */

/* Output element at arena byte `at` (of region id), as its type: NaN == NaN whatever its sign
 * and payload (not part of the contract, as across backends: README), else the same bits. */
static int same_element(const fuzz_call *c, int id, const unsigned char *x,
                        const unsigned char *y) {
  const size_t size = id >= R_LOSS && id <= R_AUX ? 4 : c->esize;
  if (memcmp(x, y, size) == 0) return 1;
  if (size == 4) {
    float a, b;
    memcpy(&a, x, 4), memcpy(&b, y, 4);
    return isnan(a) && isnan(b);
  }
  uint16_t a, b;
  memcpy(&a, x, 2), memcpy(&b, y, 2);
  const int nan16 = c->dtype == SEMCL_DTYPE_BFLOAT16 ? 0x7f80 : 0x7c00;
  return (a & 0x7fff) > nan16 && (b & 0x7fff) > nan16;
}

static void rerun_identical(fuzz_state *s, const fuzz_call *c, const unsigned char *pre,
                            const unsigned char *post, size_t lo, size_t hi, const char *what) {
  memcpy(s->arena + lo, pre, hi - lo);
  const semcl_status_t st = fuzz_invoke(s->ctx, c);
  FUZZ_CHECK(st == SEMCL_STATUS_SUCCESS, "rerun (%s) returned %s: %s", what,
             semcl_status_name(st), semcl_last_error(s->ctx));
  if (s->workspace) { /* scratch: its contents are not a result */
    const size_t ws = (size_t)((unsigned char *)s->workspace - s->arena);
    memcpy(s->arena + ws, post + (ws - lo), s->workspace_bytes);
  }
  if (memcmp(post, s->arena + lo, hi - lo) == 0) return;
  /* Outputs element by element (NaN bits aside); every other byte exactly. */
  for (int id = R_NEG; id < R_N; ++id) {
    const fuzz_region *g = &c->reg[id];
    if (!g->ptr || (id < R_LOSS && !(id == R_NEG && c->in_place))) continue;
    const size_t size = id >= R_LOSS && id <= R_AUX ? 4 : c->esize;
    for (size_t e = 0; e + size <= g->bytes; e += size)
      if (same_element(c, id == R_NEG ? R_GNEG : id, post + (g->offset + e - lo),
                       s->arena + g->offset + e))
        memcpy(s->arena + g->offset + e, post + (g->offset + e - lo), size);
  }
  if (memcmp(post, s->arena + lo, hi - lo) == 0) return;
  size_t at = lo;
  while (post[at - lo] == s->arena[at]) ++at;
  const char *name = "a gap between the arrays";
  for (int i = 0; i < R_N; ++i)
    if (in_region(&c->reg[i], at)) name = fuzz_region_name(i);
  fuzz_fail("%s: %s differs at arena byte %zu (0x%02x vs 0x%02x); %s", what, name, at,
            post[at - lo], s->arena[at], fuzz_describe_call(c));
}

static void check_deterministic(fuzz_state *s, const fuzz_call *c, const unsigned char *pre,
                                size_t lo, size_t hi) {
  unsigned char *post = (unsigned char *)malloc(hi - lo);
  memcpy(post, s->arena + lo, hi - lo);
  for (int isa = 0; isa < 3; ++isa) {
    if (!s->supported[isa] || isa == (int)s->isa) continue;
    FUZZ_CHECK(semcl_set_cpu_isa(s->ctx, (semcl_cpu_isa_t)isa) == SEMCL_STATUS_SUCCESS,
               "semcl_set_cpu_isa(%s) refused on a CPU that has it",
               semcl_cpu_isa_name((semcl_cpu_isa_t)isa));
    rerun_identical(s, c, pre, post, lo, hi, "the results at another ISA level");
  }
  FUZZ_CHECK(semcl_set_cpu_isa(s->ctx, s->isa) == SEMCL_STATUS_SUCCESS, "restoring the ISA");
  if (!s->workspace) { /* another thread count needs another workspace size */
    FUZZ_CHECK(semcl_set_threads(s->ctx, s->threads == 1 ? 3 : 1) == SEMCL_STATUS_SUCCESS,
               "semcl_set_threads");
    rerun_identical(s, c, pre, post, lo, hi, "the results with another thread count");
    FUZZ_CHECK(semcl_set_threads(s->ctx, s->threads) == SEMCL_STATUS_SUCCESS, "semcl_set_threads");
  }
  free(post);
}

/* ---- fp32 results (16-bit calls: the fp32 call with the widened scores) --------------------- */

typedef struct results {
  float *loss, *ctr, *aux, *graw, *gpos, *gneg; /* NULL when not asked */
} results;

static float *copy_floats(const void *src, size_t n) {
  float *p = (float *)malloc((n ? n : 1) * sizeof(float));
  memcpy(p, src, n * sizeof(float));
  return p;
}

/* The call again with fp32 scores; 16-bit outputs must be its outputs rounded. */
static void fp32_results(fuzz_state *s, const fuzz_call *c, const inputs *in, results *out) {
  const size_t B = (size_t)c->B, BK = (size_t)(c->B * fuzz_call_k(c)), nl = fuzz_loss_count(c);
  fuzz_call c32 = *c;
  c32.dtype = SEMCL_DTYPE_FLOAT32;
  c32.options.dtype = SEMCL_DTYPE_FLOAT32;
  c32.esize = 4;
  float *raw = copy_floats(in->raw, B), *pos = copy_floats(in->pos, B);
  float *neg = in->neg ? copy_floats(in->neg, BK) : NULL;
  out->loss = (float *)malloc(nl * 4), out->ctr = (float *)malloc(nl * 4);
  out->aux = (float *)malloc(nl * 4);
  out->graw = c->reg[R_GRAW].ptr ? (float *)malloc(B * 4) : NULL;
  out->gpos = c->reg[R_GPOS].ptr ? (float *)malloc(B * 4) : NULL;
  out->gneg = c->reg[R_GNEG].ptr ? (c->in_place ? neg : (float *)malloc(BK * 4)) : NULL;
  void *const ptrs[R_N] = {raw,       pos,       neg,       c->reg[R_Y].ptr, c->reg[R_UP].ptr,
                           c->reg[R_MASK].ptr, c->reg[R_COUNT].ptr, c->reg[R_WEIGHT].ptr,
                           c->reg[R_PW].ptr, out->loss, out->ctr, out->aux, out->graw,
                           out->gpos, out->gneg};
  for (int i = 0; i < R_N; ++i) c32.reg[i].ptr = ptrs[i];
  const semcl_status_t st = fuzz_invoke(s->ctx, &c32);
  FUZZ_CHECK(st == SEMCL_STATUS_SUCCESS, "the fp32 twin of a 16-bit call returned %s: %s",
             semcl_status_name(st), semcl_last_error(s->ctx));
  free(raw), free(pos);
  if (neg != out->gneg) free(neg);

  /* Losses: the same bits (arithmetic is fp32 for every dtype). Gradients: rounded. */
  const char *loss_names[3] = {"loss", "loss_ctr", "loss_aux"};
  float *const fp32_loss[3] = {out->loss, out->ctr, out->aux};
  for (int i = 0; i < 3; ++i)
    for (size_t j = 0; j < nl; ++j) {
      float a, b;
      memcpy(&a, s->arena + c->reg[R_LOSS + i].offset + 4 * j, 4);
      b = fp32_loss[i][j];
      FUZZ_CHECK(memcmp(&a, &b, 4) == 0 || (isnan(a) && isnan(b)),
                 "%s[%zu] = %.9g with 16-bit scores, %.9g with the same scores in fp32; %s",
                 loss_names[i], j, a, b, fuzz_describe_call(c));
    }
  float *const fp32_grad[3] = {out->graw, out->gpos, out->gneg};
  for (int i = 0; i < 3; ++i) {
    const fuzz_region *g = &c->reg[R_GRAW + i];
    if (!g->ptr) continue;
    const size_t n = g->bytes / 2;
    for (size_t j = 0; j < n; ++j) {
      const float got = widen(c, s->arena + g->offset, j), f = fp32_grad[i][j];
      const float want = c->dtype == SEMCL_DTYPE_BFLOAT16 ? fuzz_round_bf16(f) : fuzz_round_f16(f);
      const int same = (isnan(got) && isnan(want)) ||
                       (got == want && signbit(got) == signbit(want));
      FUZZ_CHECK(same, "%s[%zu] = %.9g in 16 bits, the fp32 call gives %.9g (rounds to %.9g)",
                 fuzz_region_name(R_GRAW + i), j, got, f, want);
    }
  }
}

static void arena_results(fuzz_state *s, const fuzz_call *c, results *out) {
  const size_t nl = fuzz_loss_count(c), B = (size_t)c->B, BK = (size_t)(c->B * fuzz_call_k(c));
  out->loss = copy_floats(s->arena + c->reg[R_LOSS].offset, nl);
  out->ctr = copy_floats(s->arena + c->reg[R_CTR].offset, nl);
  out->aux = copy_floats(s->arena + c->reg[R_AUX].offset, nl);
  out->graw = c->reg[R_GRAW].ptr ? copy_floats(s->arena + c->reg[R_GRAW].offset, B) : NULL;
  out->gpos = c->reg[R_GPOS].ptr ? copy_floats(s->arena + c->reg[R_GPOS].offset, B) : NULL;
  out->gneg = c->reg[R_GNEG].ptr ? copy_floats(s->arena + c->reg[R_GNEG].offset, BK) : NULL;
}

/* ---- the fp64 reference, for clean data ------------------------------------------------------ */

static int all_clean(const float *v, size_t n, fuzz_kind kind) {
  if (!v) return 1;
  for (size_t i = 0; i < n; ++i)
    if (!fuzz_is_clean(kind, v[i])) return 0;
  return 1;
}

static int clean(const fuzz_call *c, const inputs *in) {
  const size_t B = (size_t)c->B, BK = (size_t)(c->B * fuzz_call_k(c));
  return c->lambda >= 0.0f && c->lambda <= 10.0f &&
         (!c->takes_grad_args || fabsf(c->grad_scale) <= 1000.0f) &&
         all_clean(in->raw, B, FUZZ_SCORES) && all_clean(in->pos, B, FUZZ_SCORES) &&
         all_clean(in->neg, BK, FUZZ_SCORES) && all_clean(in->y, B, FUZZ_LABELS) &&
         all_clean(in->weight, B, FUZZ_WEIGHTS) &&
         all_clean(in->pw, (size_t)c->options.pos_weight_count, FUZZ_WEIGHTS) &&
         all_clean(in->up, fuzz_loss_count(c), FUZZ_UPSTREAM);
}

static void compare_with_reference(const fuzz_call *c, const inputs *in, const results *got) {
  const int64_t B = c->B, K = fuzz_call_k(c);
  const size_t nl = fuzz_loss_count(c);
  double *e = (double *)calloc(3 * nl + 2 * (size_t)B + (size_t)(B * K), sizeof(double));
  double *loss = e, *ctr = e + nl, *aux = e + 2 * nl, *graw = e + 3 * nl, *gpos = graw + B;
  double *gneg = gpos + B;
  double *up = NULL;
  if (in->up) {
    up = (double *)malloc(nl * sizeof(double));
    for (size_t i = 0; i < nl; ++i) up[i] = in->up[i];
  }
  const semcl_ref_options opt = {in->mask, in->count, in->weight, in->pw,
                                 in->pw ? c->options.pos_weight_count : 0};
  const semcl_reduction_t red = (semcl_reduction_t)c->reduction;
  if (c->pairwise)
    semcl_ref_pos_neg_opt(B, K, in->raw, in->pos, in->neg, in->y, c->lambda, red, c->grad_scale,
                          up, &opt, loss, ctr, aux, graw, gpos, gneg);
  else
    semcl_ref_positive_only_opt(B, in->raw, in->pos, in->y, c->lambda, red, c->grad_scale, up,
                                &opt, loss, ctr, aux, graw, gpos);
  fuzz_expect_close("loss", got->loss, loss, nl, NULL);
  fuzz_expect_close("loss_ctr", got->ctr, ctr, nl, NULL);
  fuzz_expect_close("loss_aux", got->aux, aux, nl, NULL);
  if (got->graw) {
    /* The pairwise loss forms dBCE/dx = sigmoid(x) - y (soft labels) in fp32, as documented:
     * it cancels when sigmoid(x) is near y, to a few fp32 ulps of 1 per unit of |s * w|. */
    double *extra = (double *)calloc((size_t)B, sizeof(double));
    for (int64_t b = 0; c->pairwise && b < B; ++b) {
      const float y = in->y[b];
      if (y == 0.0f || y == 1.0f) continue;
      const double g = c->grad_scale * (in->up ? in->up[c->reduction == 2 ? b : 0] : 1.0f);
      const double s = (c->reduction == SEMCL_REDUCTION_MEAN ? g / (double)B : g) *
                       (in->weight ? in->weight[b] : 1.0f);
      const double pw = in->pw ? in->pw[c->options.pos_weight_count == 1 ? 0 : b] : 1.0;
      extra[b] = fabs(s) * 4e-7 * (1.0 + fabs(pw));
    }
    fuzz_expect_close("grad_raw", got->graw, graw, (size_t)B, extra);
    free(extra);
  }
  if (got->gpos) fuzz_expect_close("grad_pos", got->gpos, gpos, (size_t)B, NULL);
  if (got->gneg) fuzz_expect_close("grad_neg", got->gneg, gneg, (size_t)(B * K), NULL);
  free(up);
  free(e);
}

void fuzz_check_results(fuzz_state *s, const fuzz_call *c, const unsigned char *pre, size_t lo,
                        size_t hi) {
  inputs in;
  read_inputs(c, pre, lo, &in);
  check_untouched(s, c, pre, lo, hi);
  check_masked_zero(s, c, &in);
  check_deterministic(s, c, pre, lo, hi);
  results got;
  if (c->esize == 2)
    fp32_results(s, c, &in, &got);
  else
    arena_results(s, c, &got);
  if (clean(c, &in)) {
    fuzz_count(STAT_REFERENCE);
    compare_with_reference(c, &in, &got);
  }
  if (c->esize == 2) fuzz_count(STAT_HALF_PRECISION);
  if (in.mask || in.count) fuzz_count(STAT_MASKED);
  if (c->B * fuzz_call_k(c) >= 32768) fuzz_count(STAT_CHUNK_SPLIT);
  if (s->workspace) fuzz_count(STAT_CALLER_WORKSPACE);
  free(got.loss), free(got.gneg), free(got.ctr), free(got.aux), free(got.graw), free(got.gpos);
  free_inputs(&in);
}
