/*
 * embed_body.h — the CPU kernels of the embedding calls, written once over the vector
 * primitives of simd/simd_<isa>.h and the vector math of kernels_body.h (included after it by
 * kernels_<isa>.c). Every level computes the bits of the canonical definitions in
 * semcl_embed.h:
 *  - a dot product over D: 32 lanes (LANE_VECTORS vectors of SIMD_W), fmaf from +0 over
 *    d = j, j+32, ..., elements past D read as +0, then the canonical lane fold (vf_fold);
 *  - the loss sums of a chunk of negatives: 32 k-lanes, as the score-level chunk_body;
 *  - grad_user: per chunk an fp32 fmaf chain in increasing k over the real negatives, chunk
 *    partials in fp64 in chunk order, then the row's raw and pos terms (semcl_embed.h);
 *  - the builtin GEMM: dot products in the canonical order ('T','N'); fmaf chains in
 *    increasing k per element ('N','N', 'N','T').
 * Every embedding array here is fp32 except the per-row item_neg and grad_item_neg, which are
 * in the call's dtype (16-bit calls stage the rest in fp32: semcl_embed_stage.h, embed_cpu.c).
 */
#include <stdint.h>
#include <string.h>

#include "../semcl_embed.h"
#include "embed_kernels.h"

#define EMBED_TILE 64 /* rows whose leaves are summed on the stack: a node of T */

/* ---- the canonical dot product and row-vector helpers ------------------------------------ */

/* Lanes j < n of the vector at v + off (D-length arrays; nothing past the end is read). */
SIMD_INLINE vf e_load_tail(const float *v, int64_t off, int64_t D) {
  const int64_t left = D - off;
  if (left >= SIMD_W) return vf_load(v + off);
  return left > 0 ? vf_load_n(v + off, (int)left) : vf_zero();
}

/* Lanes j < n of the vector at element off of a D-vector stored in dtype dt at v (element
 * v0 + off; widening is exact). */
SIMD_INLINE vf e_load_tail_dt(const void *v, int64_t v0, int64_t off, int64_t D, const int dt) {
  const int64_t left = D - off;
  if (left >= SIMD_W) return v_load_scores(v, v0 + off, dt);
  return left > 0 ? v_load_scores_n(v, v0 + off, (int)left, dt) : vf_zero();
}

/* u . v over D in the canonical order; v is the D-vector at element v0 of an array in dtype
 * dt (u is fp32). */
SIMD_INLINE float e_dot_dt(const float *u, const void *v, int64_t v0, int64_t D, const int dt) {
  vf acc[LANE_VECTORS];
  for (int a = 0; a < LANE_VECTORS; ++a) acc[a] = vf_zero();
  int64_t d0 = 0;
  for (; d0 + SEMCL_DOT_LANES <= D; d0 += SEMCL_DOT_LANES) {
#pragma GCC unroll 32
    for (int a = 0; a < LANE_VECTORS; ++a)
      acc[a] = vf_fma(vf_load(u + d0 + a * SIMD_W), v_load_scores(v, v0 + d0 + a * SIMD_W, dt),
                      acc[a]);
  }
  if (d0 < D) /* the last, partial group of 32: elements past D are +0 */
    for (int a = 0; a < LANE_VECTORS; ++a) {
      const int64_t off = d0 + a * SIMD_W;
      acc[a] = vf_fma(e_load_tail(u, off, D), e_load_tail_dt(v, v0, off, D, dt), acc[a]);
    }
  return vf_fold(acc, LANE_VECTORS);
}

/* u . v over D in the canonical order (both fp32). */
SIMD_INLINE float e_dot(const float *u, const float *v, int64_t D) {
  return e_dot_dt(u, v, 0, D, DT_F32);
}

/* out_d = h * u_d (fp32) for d < D. */
SIMD_INLINE void e_scale_row(float h, const float *u, float *out, int64_t D) {
  const vf hv = vf_set1(h);
  int64_t d = 0;
  for (; d + SIMD_W <= D; d += SIMD_W) vf_store(out + d, vf_mul(hv, vf_load(u + d)));
  if (d < D) vf_store_n(out + d, vf_mul(hv, vf_load_n(u + d, (int)(D - d))), (int)(D - d));
}

SIMD_INLINE void e_zero_row(float *out, int64_t D) { memset(out, 0, (size_t)D * sizeof(float)); }

/* One real negative's gradient work: acc_d = fmaf(h, n_d, acc_d) (acc may be NULL) and
 * g_d = h * u_d (g may be NULL; g may be n itself: each n_d is read before g_d is written).
 * n and g are the D-vectors at element e0 of arrays in dtype dt (g rounded to it once). */
SIMD_INLINE void e_negative_grads(float h, const float *u, const void *n, void *g, int64_t e0,
                                  float *acc, int64_t D, const int dt) {
  const vf hv = vf_set1(h);
  int64_t d = 0;
  for (; d + SIMD_W <= D; d += SIMD_W) {
    if (acc) vf_store(acc + d, vf_fma(hv, v_load_scores(n, e0 + d, dt), vf_load(acc + d)));
    if (g) v_store_scores(g, e0 + d, vf_mul(hv, vf_load(u + d)), dt);
  }
  if (d < D) {
    const int left = (int)(D - d);
    if (acc)
      vf_store_n(acc + d,
                 vf_fma(hv, v_load_scores_n(n, e0 + d, left, dt), vf_load_n(acc + d, left)),
                 left);
    if (g) v_store_scores_n(g, e0 + d, vf_mul(hv, vf_load_n(u + d, left)), left, dt);
  }
}

/* ---- per-row negatives: one chunk of one row (the hot loop) ------------------------------ */

typedef struct e_row {
  const float *u;       /* user row (D) */
  const void *neg;      /* item_neg (B,K,D) in the call's dtype; the row starts at element e0 */
  void *gneg;           /* grad_item_neg (B,K,D) in the dtype, or NULL (may equal neg) */
  int64_t e0;           /* b*K*D: the row's first element in neg and gneg */
  const uint8_t *mask;  /* the row's mask bytes (K) or NULL */
  int64_t limit;        /* negatives k >= limit are masked (neg_count), else K */
  int64_t D;
  float pos, ns, scale;
  double coef;          /* fp64 coefficient of h_k (semcl_embed_neg_coef) */
  int bwd;              /* sigmoids needed */
  int want_h;           /* h_k needed: grad_user or grad_item_neg */
  float *acc;           /* the chunk's grad_user partial (D) or NULL */
} e_row;

/* Largest D whose grad_user partial is kept in registers by a specialised chunk function. */
#define E_REG_D 128

/* Negatives [begin, begin + len) (len <= SEMCL_CHUNK; begin a multiple of SEMCL_CHUNK): the
 * chunk's canonical fp32 softplus and sigmoid sums, grad_item_neg of its negatives, and the
 * grad_user partial in r->acc. DC: D as a compile-time constant (a multiple of SIMD_W, at most
 * E_REG_D: the partial lives in registers and the loops over D unroll), or 0 for any D (the
 * partial lives in r->acc). Both compute the same bits: per element the same fmaf chain.
 * dt: the dtype of item_neg and grad_item_neg (read widened, written rounded once). */
SIMD_INLINE void e_row_chunk_body(const e_row *r, int64_t begin, int64_t len, float *sp_out,
                                  float *sg_out, const int64_t DC, const int dt) {
  const size_t esize = dt == DT_F32 ? sizeof(float) : sizeof(uint16_t);
  const int64_t D = DC ? DC : r->D;
  vf acc_sp[LANE_VECTORS], acc_sg[LANE_VECTORS];
  for (int a = 0; a < LANE_VECTORS; ++a) acc_sp[a] = acc_sg[a] = vf_zero();
  vf accv[E_REG_D / SIMD_W];
  if (DC)
    for (int64_t v = 0; v < DC / SIMD_W; ++v) accv[v] = vf_zero();
  else if (r->acc)
    e_zero_row(r->acc, D);
  const vf pos = vf_set1(r->pos), ns = vf_set1(r->ns), scale = vf_set1(r->scale);
  for (int64_t off = 0; off < len; off += SIMD_W) {
    const int nn = len - off >= SIMD_W ? SIMD_W : (int)(len - off);
    const int64_t k0 = begin + off;
    float dots[SIMD_W];
    uint8_t real[SIMD_W];
    for (int i = 0; i < SIMD_W; ++i) {
      const int64_t k = k0 + i;
      real[i] = (uint8_t)(i < nn && k < r->limit && (!r->mask || r->mask[k] != 0));
      /* Masked negatives are never read: their values cannot affect anything. */
      dots[i] = real[i] ? e_dot_dt(r->u, r->neg, r->e0 + k * D, D, dt) : 0.0f;
    }
    const vf x = vf_mul(scale, vf_load(dots));
    vf sp, sg = vf_zero();
    v_softplus_sigmoid(vf_mul(ns, vf_sub(pos, x)), &sp, &sg, r->bwd);
    const vm valid = vm_from_bytes(real);
    sp = vf_select(valid, sp, vf_zero());
    const int a = (int)((off / SIMD_W) % LANE_VECTORS); /* k-lane (off mod 32) / SIMD_W */
    acc_sp[a] = vf_add(acc_sp[a], sp);
    if (!r->bwd) continue;
    sg = vf_select(valid, sg, vf_zero());
    acc_sg[a] = vf_add(acc_sg[a], sg);
    if (!r->want_h) continue;
    float sig[SIMD_W];
    vf_store(sig, sg);
    for (int i = 0; i < nn; ++i) {
      const int64_t k = k0 + i, e = r->e0 + k * D; /* the negative's first element */
      void *g = r->gneg;
      if (!real[i]) { /* masked: exactly +0 (all bits zero in every dtype), whatever u holds */
        if (g) memset((char *)g + (size_t)e * esize, 0, (size_t)D * esize);
        continue;
      }
      const float h = semcl_pos_neg_grad_neg(r->coef, sig[i]);
      if (!DC) {
        e_negative_grads(h, r->u, r->neg, g, e, r->acc, D, dt);
        continue;
      }
      const vf hv = vf_set1(h);
      /* In place (g == n): each vector of n is read before g's vector is written. */
      for (int64_t v = 0; v < DC / SIMD_W; ++v) {
        if (r->acc) accv[v] = vf_fma(hv, v_load_scores(r->neg, e + v * SIMD_W, dt), accv[v]);
        if (g) v_store_scores(g, e + v * SIMD_W, vf_mul(hv, vf_load(r->u + v * SIMD_W)), dt);
      }
    }
  }
  if (DC && r->acc)
    for (int64_t v = 0; v < DC / SIMD_W; ++v) vf_store(r->acc + v * SIMD_W, accv[v]);
  *sp_out = vf_fold(acc_sp, LANE_VECTORS);
  *sg_out = r->bwd ? vf_fold(acc_sg, LANE_VECTORS) : 0.0f;
}

typedef void (*e_row_chunk_fn)(const e_row *r, int64_t begin, int64_t len, float *sp,
                               float *sg);

#define E_ROW_CHUNK(dc, dt)                                                                  \
  static void e_row_chunk_##dc##_##dt(const e_row *r, int64_t begin, int64_t len, float *sp, \
                                      float *sg) {                                           \
    e_row_chunk_body(r, begin, len, sp, sg, dc, dt);                                         \
  }
#define E_ROW_CHUNK_DT(dt) \
  E_ROW_CHUNK(0, dt) E_ROW_CHUNK(32, dt) E_ROW_CHUNK(64, dt) E_ROW_CHUNK(128, dt)
E_ROW_CHUNK_DT(0)
E_ROW_CHUNK_DT(1)
E_ROW_CHUNK_DT(2)

/* [dtype][0: any D, 1: D = 32, 2: D = 64, 3: D = 128] (specialised for the common sizes) */
static const e_row_chunk_fn e_row_chunk_table[3][4] = {
    {e_row_chunk_0_0, e_row_chunk_32_0, e_row_chunk_64_0, e_row_chunk_128_0},
    {e_row_chunk_0_1, e_row_chunk_32_1, e_row_chunk_64_1, e_row_chunk_128_1},
    {e_row_chunk_0_2, e_row_chunk_32_2, e_row_chunk_64_2, e_row_chunk_128_2},
};

/* The chunk function for the row's D and the call's dtype. */
static void e_row_chunk(const e_row *r, semcl_dtype_t dtype, int64_t begin, int64_t len,
                        float *sp, float *sg) {
  const int d = r->D == 32 ? 1 : r->D == 64 ? 2 : r->D == 128 ? 3 : 0;
  e_row_chunk_table[dtype][d](r, begin, len, sp, sg);
}

/* Row b's constants as its chunks see them (everything but acc). */
static void e_row_of(const semcl_embed_call *c, int64_t b, float pos, double g, float w,
                     e_row *r) {
  const semcl_embed_problem *p = c->p;
  const int64_t D = p->D, K = p->K;
  r->u = (const float *)p->user + b * D;
  r->neg = p->item_neg;
  r->gneg = p->grad_item_neg;
  r->e0 = b * K * D;
  r->mask = p->neg_mask ? p->neg_mask + b * K : NULL;
  r->limit = K;
  if (p->neg_count) {
    const int32_t n = p->neg_count[b];
    r->limit = n < 0 ? 0 : ((int64_t)n > K ? K : (int64_t)n);
  }
  r->D = D;
  r->pos = pos;
  r->ns = semcl_neg_sign(p->y[b]);
  r->scale = p->score_scale;
  r->bwd = semcl_embed_backward(p);
  r->want_h = semcl_embed_needs_neg_grads(p);
  const int64_t n_real = c->counts ? c->counts[b] : K;
  r->coef = r->want_h ? semcl_embed_neg_coef(&c->rc, g, w, p->y[b], n_real, p->score_scale) : 0.0;
  r->acc = NULL;
}

static float e_weight(const semcl_embed_problem *p, int64_t b) {
  return p->weight ? p->weight[b] : 1.0f;
}
static float e_pos_weight(const semcl_embed_problem *p, int64_t b) {
  if (!p->pos_weight) return 1.0f;
  return p->pos_weight[p->pos_weight_count == 1 ? 0 : b];
}

/* The gradients of row b's own vectors from hr, hp and the negatives' fp64 sum (or NULL:
 * no negative term, as for loss 1). */
static void e_row_grads(const semcl_embed_problem *p, int64_t b, float hr, float hp,
                        const double *neg_total) {
  const int64_t D = p->D;
  const float *u = (const float *)p->user + b * D;
  if (p->grad_item_raw) e_scale_row(hr, u, (float *)p->grad_item_raw + b * D, D);
  if (p->grad_item_pos) e_scale_row(hp, u, (float *)p->grad_item_pos + b * D, D);
  if (p->grad_user) {
    const float *r = (const float *)p->item_raw + b * D;
    const float *q = (const float *)p->item_pos + b * D;
    float *out = (float *)p->grad_user + b * D;
    for (int64_t d = 0; d < D; ++d)
      out[d] = semcl_embed_user_grad(neg_total ? neg_total[d] : 0.0, hr, r[d], hp, q[d]);
  }
}

/* Adds chunk `ch`'s grad_user partial to the row's fp64 sum (the first chunk starts it). */
static void e_add_partial(double *total, const float *partial, int64_t ch, int64_t D) {
  if (ch == 0)
    for (int64_t d = 0; d < D; ++d) total[d] = (double)partial[d];
  else
    for (int64_t d = 0; d < D; ++d) total[d] = total[d] + (double)partial[d];
}

/* Row b's epilogue from its totals: per-sample losses, gradients of its own vectors, leaves. */
static void e_per_row_finish_row(const semcl_embed_call *c, int64_t b, double sp_total,
                                 double sg_total, const double *neg_total, double *ctr_leaf,
                                 double *aux_leaf) {
  const semcl_embed_problem *p = c->p;
  const int64_t D = p->D;
  const float *u = (const float *)p->user + b * D;
  const float raw =
      semcl_embed_score(p->score_scale, e_dot(u, (const float *)p->item_raw + b * D, D));
  const int none = p->reduction == SEMCL_REDUCTION_NONE;
  float hr, hp;
  semcl_embed_pos_neg_row_end(&c->rc, b, p->score_scale, raw, p->y[b], e_weight(p, b),
                              e_pos_weight(p, b), c->counts ? c->counts[b] : p->K, sp_total,
                              sg_total, semcl_embed_backward(p), none ? p->loss + b : NULL,
                              none ? p->loss_ctr + b : NULL, none ? p->loss_aux + b : NULL, &hr,
                              &hp, ctr_leaf, aux_leaf);
  if (semcl_embed_backward(p)) e_row_grads(p, b, hr, hp, p->grad_user ? neg_total : NULL);
}

static float e_pos_score(const semcl_embed_problem *p, int64_t b) {
  const int64_t D = p->D;
  return semcl_embed_score(p->score_scale, e_dot((const float *)p->user + b * D,
                                                 (const float *)p->item_pos + b * D, D));
}

/* Row b entirely (row mode): its chunks in order, then the epilogue. */
static void e_per_row_row(const semcl_embed_call *c, int64_t b, void *scratch, double *ctr_leaf,
                          double *aux_leaf) {
  const semcl_embed_problem *p = c->p;
  const int64_t K = p->K, D = p->D;
  double *neg_total = (double *)scratch;
  float *acc = (float *)(neg_total + D);
  e_row r;
  e_row_of(c, b, e_pos_score(p, b), semcl_row_upstream(&c->rc, b), e_weight(p, b), &r);
  r.acc = p->grad_user ? acc : NULL;
  semcl_tree_stream chunks;
  semcl_tree_stream_init(&chunks);
  for (int64_t ch = 0, begin = 0; begin < K; ++ch, begin += SEMCL_CHUNK) {
    const int64_t len = K - begin < SEMCL_CHUNK ? K - begin : SEMCL_CHUNK;
    float sp, sg;
    e_row_chunk(&r, p->dtype, begin, len, &sp, &sg);
    semcl_tree_stream_push(&chunks, (double)sp, (double)sg);
    if (r.acc) e_add_partial(neg_total, acc, ch, D);
  }
  double sp_total, sg_total;
  semcl_tree_stream_finish(&chunks, &sp_total, &sg_total);
  e_per_row_finish_row(c, b, sp_total, sg_total, neg_total, ctr_leaf, aux_leaf);
}

/* Rows [first, first+n) through `row`, leaves summed by T per tile of EMBED_TILE rows. */
typedef void (*e_row_fn)(const semcl_embed_call *c, int64_t b, const void *arg, void *scratch,
                         double *ctr_leaf, double *aux_leaf);

static void e_rows(const semcl_embed_call *c, int64_t first, int64_t n, e_row_fn row,
                   const void *arg, void *scratch, double *ctr_sum, double *aux_sum) {
  double ctr_leaf[EMBED_TILE], aux_leaf[EMBED_TILE];
  semcl_tree_stream rows;
  semcl_tree_stream_init(&rows);
  for (int64_t tile = first; tile < first + n; tile += EMBED_TILE) {
    const int m = (int)(first + n - tile < EMBED_TILE ? first + n - tile : EMBED_TILE);
    for (int i = 0; i < m; ++i) row(c, tile + i, arg, scratch, &ctr_leaf[i], &aux_leaf[i]);
    semcl_tree_stream_push(&rows, semcl_tree_sum_inplace(ctr_leaf, m),
                           semcl_tree_sum_inplace(aux_leaf, m));
  }
  semcl_tree_stream_finish(&rows, ctr_sum, aux_sum);
}

static void e_per_row_row_adapter(const semcl_embed_call *c, int64_t b, const void *arg,
                                  void *scratch, double *ctr_leaf, double *aux_leaf) {
  (void)arg;
  e_per_row_row(c, b, scratch, ctr_leaf, aux_leaf);
}

static void KERNEL(embed_per_row_rows)(const semcl_embed_call *c, int64_t first, int64_t n,
                                       void *scratch, double *ctr_sum, double *aux_sum) {
  e_rows(c, first, n, e_per_row_row_adapter, NULL, scratch, ctr_sum, aux_sum);
}

static void KERNEL(embed_per_row_chunks)(const semcl_embed_call *c, int64_t b, int64_t c0,
                                         int64_t c1, float *out) {
  const semcl_embed_problem *p = c->p;
  const int64_t K = p->K, D = p->D, stride = semcl_embed_partial_floats(D);
  e_row r;
  e_row_of(c, b, e_pos_score(p, b), semcl_row_upstream(&c->rc, b), e_weight(p, b), &r);
  for (int64_t ch = c0; ch < c1; ++ch) {
    float *slot = out + (ch - c0) * stride;
    const int64_t begin = ch * SEMCL_CHUNK;
    const int64_t len = K - begin < SEMCL_CHUNK ? K - begin : SEMCL_CHUNK;
    r.acc = p->grad_user ? slot + 2 : NULL;
    e_row_chunk(&r, p->dtype, begin, len, &slot[0], &slot[1]);
  }
}

static void e_per_row_finish_adapter(const semcl_embed_call *c, int64_t b, const void *arg,
                                     void *scratch, double *ctr_leaf, double *aux_leaf) {
  const semcl_embed_problem *p = c->p;
  const int64_t D = p->D, chunks = (p->K + SEMCL_CHUNK - 1) / SEMCL_CHUNK;
  const int64_t stride = semcl_embed_partial_floats(D);
  const float *row = (const float *)arg + b * chunks * stride;
  double *neg_total = (double *)scratch;
  semcl_tree_stream s;
  semcl_tree_stream_init(&s);
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const float *slot = row + ch * stride;
    semcl_tree_stream_push(&s, (double)slot[0], (double)slot[1]);
    if (p->grad_user) e_add_partial(neg_total, slot + 2, ch, D);
  }
  double sp_total, sg_total;
  semcl_tree_stream_finish(&s, &sp_total, &sg_total);
  e_per_row_finish_row(c, b, sp_total, sg_total, neg_total, ctr_leaf, aux_leaf);
}

static void KERNEL(embed_per_row_finish)(const semcl_embed_call *c, int64_t first, int64_t n,
                                         const float *partials, void *scratch,
                                         double *ctr_sum, double *aux_sum) {
  e_rows(c, first, n, e_per_row_finish_adapter, partials, scratch, ctr_sum, aux_sum);
}

/* ---- loss 1 ------------------------------------------------------------------------------ */
static void e_positive_only_row(const semcl_embed_call *c, int64_t b, const void *arg,
                                void *scratch, double *ctr_leaf, double *aux_leaf) {
  (void)arg;
  (void)scratch;
  const semcl_embed_problem *p = c->p;
  const int64_t D = p->D;
  const float *u = (const float *)p->user + b * D;
  const float raw =
      semcl_embed_score(p->score_scale, e_dot(u, (const float *)p->item_raw + b * D, D));
  const int none = p->reduction == SEMCL_REDUCTION_NONE;
  float hr, hp;
  semcl_embed_positive_only_row_end(&c->rc, b, p->score_scale, raw, e_pos_score(p, b), p->y[b],
                                    e_weight(p, b), e_pos_weight(p, b), semcl_embed_backward(p),
                                    none ? p->loss + b : NULL, none ? p->loss_ctr + b : NULL,
                                    none ? p->loss_aux + b : NULL, &hr, &hp, ctr_leaf, aux_leaf);
  if (semcl_embed_backward(p)) e_row_grads(p, b, hr, hp, NULL);
}

static void KERNEL(embed_positive_only_rows)(const semcl_embed_call *c, int64_t first, int64_t n,
                                             double *ctr_sum, double *aux_sum) {
  e_rows(c, first, n, e_positive_only_row, NULL, NULL, ctr_sum, aux_sum);
}

/* ---- shared pool: the loss pass over a chunk of S ------------------------------------------ */

typedef struct e_shared_row {
  float *s;            /* the row of S (N): raw products in, G out */
  const uint8_t *mask; /* (N) or NULL */
  int64_t limit;       /* neg_count, else N */
  int64_t excluded;    /* pos_index, or -1 */
  float pos, ns, scale;
  double coef;         /* unscaled fp64 coefficient of G */
  float coef32;        /* its fp32 value (when it fits) */
  int coef64;          /* semcl_neg_coef_needs_f64(coef) */
  int bwd, want_g;
} e_shared_row;

/* One vector of entries at k0 (nn of them; nn == SIMD_W on the hot path): adds to the k-lane
 * accumulators, writes G. masked: compile-time, whether neg_count or neg_mask apply (pos_index,
 * one entry per row, is checked per vector either way). */
SIMD_INLINE void e_shared_vector(const e_shared_row *r, int64_t k0, int nn, vf *acc_sp,
                                 vf *acc_sg, vf pos, vf ns, vf scale, vf coef, const int masked) {
  const int full = nn == SIMD_W;
  const vf x = full ? vf_load(r->s + k0) : vf_load_n(r->s + k0, nn);
  vf sp, sg = vf_zero();
  v_softplus_sigmoid(vf_mul(ns, vf_sub(pos, vf_mul(scale, x))), &sp, &sg, r->bwd);
  /* Which lanes are real: all of a full vector unless a mask or the excluded entry says no. */
  const int excluded_here = r->excluded >= k0 && r->excluded < k0 + nn;
  const int select = masked || !full || excluded_here;
  vm valid = vm_first(nn);
  if (masked) {
    valid = vm_and(valid, vm_first(r->limit - k0));
    if (r->mask) valid = vm_and(valid, v_bytes_n(r->mask + k0, nn));
  }
  if (excluded_here) {
    uint8_t keep[SIMD_W];
    memset(keep, 1, sizeof keep);
    keep[r->excluded - k0] = 0;
    valid = vm_and(valid, vm_from_bytes(keep));
  }
  if (select) sp = vf_select(valid, sp, vf_zero());
  *acc_sp = vf_add(*acc_sp, sp);
  if (!r->bwd) return;
  if (select) sg = vf_select(valid, sg, vf_zero());
  *acc_sg = vf_add(*acc_sg, sg);
  if (!r->want_g) return;
  vf g;
  if (r->coef64) {
    float lanes[SIMD_W], out[SIMD_W];
    vf_store(lanes, sg);
    for (int j = 0; j < SIMD_W; ++j) out[j] = semcl_pos_neg_grad_neg(r->coef, lanes[j]);
    g = vf_load(out);
  } else {
    g = vf_mul(coef, sg);
  }
  if (select) g = vf_select(valid, g, vf_zero()); /* masked entries: exactly +0 */
  if (full)
    vf_store(r->s + k0, g);
  else
    vf_store_n(r->s + k0, g, nn);
}

/* Entries [begin, begin+len) of the row (a canonical chunk): canonical sums, G in place. Lane j
 * of the canonical 32 is lane j % SIMD_W of accumulator j / SIMD_W; whole groups of 32 entries
 * take the unrolled path. */
SIMD_INLINE void e_shared_chunk_body(const e_shared_row *r, int64_t begin, int64_t len,
                                     float *sp_out, float *sg_out, const int masked) {
  vf acc_sp[LANE_VECTORS], acc_sg[LANE_VECTORS];
  for (int a = 0; a < LANE_VECTORS; ++a) acc_sp[a] = acc_sg[a] = vf_zero();
  const vf pos = vf_set1(r->pos), ns = vf_set1(r->ns), scale = vf_set1(r->scale);
  const vf coef = vf_set1(r->coef32);
  int64_t off = 0;
  for (; off + SEMCL_DOT_LANES <= len; off += SEMCL_DOT_LANES) {
#pragma GCC unroll 32
    for (int a = 0; a < LANE_VECTORS; ++a)
      e_shared_vector(r, begin + off + a * SIMD_W, SIMD_W, &acc_sp[a], &acc_sg[a], pos, ns, scale,
                      coef, masked);
  }
  for (int a = 0; a < LANE_VECTORS && off + a * SIMD_W < len; ++a) {
    const int64_t left = len - off - a * SIMD_W;
    e_shared_vector(r, begin + off + a * SIMD_W, left >= SIMD_W ? SIMD_W : (int)left,
                    &acc_sp[a], &acc_sg[a], pos, ns, scale, coef, masked);
  }
  *sp_out = vf_fold(acc_sp, LANE_VECTORS);
  *sg_out = r->bwd ? vf_fold(acc_sg, LANE_VECTORS) : 0.0f;
}

static void e_shared_chunk_plain(const e_shared_row *r, int64_t begin, int64_t len, float *sp,
                                 float *sg) {
  e_shared_chunk_body(r, begin, len, sp, sg, 0);
}
static void e_shared_chunk_masked(const e_shared_row *r, int64_t begin, int64_t len, float *sp,
                                  float *sg) {
  e_shared_chunk_body(r, begin, len, sp, sg, 1);
}

typedef struct e_shared_arg {
  float *S;
  int64_t r0;
  float *hr, *hp;
} e_shared_arg;

static void e_shared_row_fn(const semcl_embed_call *c, int64_t b, const void *arg,
                            void *scratch, double *ctr_leaf, double *aux_leaf) {
  (void)scratch;
  const e_shared_arg *sa = (const e_shared_arg *)arg;
  const semcl_embed_problem *p = c->p;
  const int64_t N = p->K, D = p->D;
  const float *u = (const float *)p->user + b * D;
  const float raw =
      semcl_embed_score(p->score_scale, e_dot(u, (const float *)p->item_raw + b * D, D));
  const float w = e_weight(p, b);
  const int64_t n_real = c->counts ? c->counts[b] : N;
  e_shared_row r;
  r.s = sa->S + (b - sa->r0) * N;
  r.mask = p->neg_mask ? p->neg_mask + b * N : NULL;
  r.limit = N;
  if (p->neg_count) {
    const int32_t cnt = p->neg_count[b];
    r.limit = cnt < 0 ? 0 : ((int64_t)cnt > N ? N : (int64_t)cnt);
  }
  r.excluded = p->pos_index && p->pos_index[b] >= 0 && p->pos_index[b] < N ? p->pos_index[b] : -1;
  r.pos = e_pos_score(p, b);
  r.ns = semcl_neg_sign(p->y[b]);
  r.scale = p->score_scale;
  r.bwd = semcl_embed_backward(p);
  r.want_g = semcl_embed_needs_neg_grads(p);
  r.coef = r.want_g ? semcl_embed_neg_coef(&c->rc, semcl_row_upstream(&c->rc, b), w, p->y[b],
                                           n_real, 1.0f)
                    : 0.0;
  r.coef64 = semcl_neg_coef_needs_f64(r.coef);
  r.coef32 = r.coef64 ? 0.0f : (float)r.coef;
  const int masked = p->neg_mask != NULL || p->neg_count != NULL;
  semcl_tree_stream chunks;
  semcl_tree_stream_init(&chunks);
  for (int64_t begin = 0; begin < N; begin += SEMCL_CHUNK) {
    const int64_t len = N - begin < SEMCL_CHUNK ? N - begin : SEMCL_CHUNK;
    float sp, sg;
    if (masked)
      e_shared_chunk_masked(&r, begin, len, &sp, &sg);
    else
      e_shared_chunk_plain(&r, begin, len, &sp, &sg);
    semcl_tree_stream_push(&chunks, (double)sp, (double)sg);
  }
  double sp_total, sg_total;
  semcl_tree_stream_finish(&chunks, &sp_total, &sg_total);
  const int none = p->reduction == SEMCL_REDUCTION_NONE;
  float hr, hp;
  semcl_embed_pos_neg_row_end(&c->rc, b, p->score_scale, raw, p->y[b], w, e_pos_weight(p, b),
                              n_real, sp_total, sg_total, r.bwd, none ? p->loss + b : NULL,
                              none ? p->loss_ctr + b : NULL, none ? p->loss_aux + b : NULL, &hr,
                              &hp, ctr_leaf, aux_leaf);
  sa->hr[b - sa->r0] = hr;
  sa->hp[b - sa->r0] = hp;
  if (p->grad_item_raw) e_scale_row(hr, u, (float *)p->grad_item_raw + b * D, D);
  if (p->grad_item_pos) e_scale_row(hp, u, (float *)p->grad_item_pos + b * D, D);
}

static void KERNEL(embed_shared_rows)(const semcl_embed_call *c, float *S, int64_t r0,
                                      int64_t first, int64_t n, float *hr, float *hp,
                                      double *ctr_sum, double *aux_sum) {
  e_shared_arg arg;
  arg.S = S;
  arg.r0 = r0;
  arg.hr = hr;
  arg.hp = hp;
  e_rows(c, first, n, e_shared_row_fn, &arg, NULL, ctr_sum, aux_sum);
}

static void KERNEL(embed_shared_user_rows)(const semcl_embed_call *c, int64_t r0, int64_t first,
                                           int64_t n, const float *hr, const float *hp) {
  const semcl_embed_problem *p = c->p;
  const int64_t D = p->D;
  for (int64_t b = first; b < first + n; ++b) {
    const float *r = (const float *)p->item_raw + b * D;
    const float *q = (const float *)p->item_pos + b * D;
    float *out = (float *)p->grad_user + b * D;
    const float h_raw = hr[b - r0], h_pos = hp[b - r0];
    for (int64_t d = 0; d < D; ++d)
      out[d] = semcl_embed_user_grad((double)out[d], h_raw, r[d], h_pos, q[d]);
  }
}

/* ---- the builtin GEMM ----------------------------------------------------------------------
 * Column-major, C (m x n) = alpha * op(A) op(B) + beta * C for the three products of the shared
 * pool. Every element of C is one canonical dot product ('T','N') or one fmaf chain in
 * increasing k ('N','N', 'N','T'), whatever the blocking: the bits depend on no ISA level. */

#define GEMM_COLS 4 /* columns of C per block: they share the loads of A */

SIMD_INLINE float e_gemm_out(float alpha, float acc, float beta, float c) {
  const float v = alpha * acc;
  return beta == 0.0f ? v : beta * c + v;
}

/* C(:, j) += ... for 'N' A: rows of C contiguous in A's columns. b(p, jj) at Bm[p*bp + jj*bj]. */
static void e_gemm_axpy(int m, int n, int k, float alpha, const float *A, int lda,
                        const float *Bm, int64_t bp, int64_t bj, float beta, float *C, int ldc) {
  for (int j0 = 0; j0 < n; j0 += GEMM_COLS) {
    const int jn = n - j0 < GEMM_COLS ? n - j0 : GEMM_COLS;
    for (int i0 = 0; i0 < m; i0 += SEMCL_DOT_LANES) {
      const int64_t rows = m - i0 < SEMCL_DOT_LANES ? m - i0 : SEMCL_DOT_LANES;
      vf acc[GEMM_COLS][LANE_VECTORS];
      for (int jj = 0; jj < GEMM_COLS; ++jj)
        for (int a = 0; a < LANE_VECTORS; ++a) acc[jj][a] = vf_zero();
      for (int p = 0; p < k; ++p) {
        const float *col = A + (int64_t)p * lda + i0;
        vf av[LANE_VECTORS];
        for (int a = 0; a < LANE_VECTORS; ++a) av[a] = e_load_tail(col, a * SIMD_W, rows);
        for (int jj = 0; jj < jn; ++jj) {
          const vf bv = vf_set1(Bm[(int64_t)p * bp + (int64_t)(j0 + jj) * bj]);
          for (int a = 0; a < LANE_VECTORS; ++a) acc[jj][a] = vf_fma(bv, av[a], acc[jj][a]);
        }
      }
      for (int jj = 0; jj < jn; ++jj) {
        float lanes[SEMCL_DOT_LANES];
        for (int a = 0; a < LANE_VECTORS; ++a) vf_store(lanes + a * SIMD_W, acc[jj][a]);
        float *cc = C + (int64_t)(j0 + jj) * ldc + i0;
        for (int64_t i = 0; i < rows; ++i) cc[i] = e_gemm_out(alpha, lanes[i], beta, cc[i]);
      }
    }
  }
}

static void KERNEL(embed_gemm)(char transa, char transb, int m, int n, int k, float alpha,
                               const float *A, int lda, const float *Bm, int ldb, float beta,
                               float *C, int ldc) {
  if (transa == 'T') { /* ('T','N'): C(i,j) = A(:,i) . B(:,j) */
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) {
        const float dot = e_dot(Bm + (int64_t)j * ldb, A + (int64_t)i * lda, k);
        float *cc = C + (int64_t)j * ldc + i;
        *cc = e_gemm_out(alpha, dot, beta, *cc);
      }
    return;
  }
  (void)transb;
  if (transb == 'N')
    e_gemm_axpy(m, n, k, alpha, A, lda, Bm, 1, ldb, beta, C, ldc);
  else
    e_gemm_axpy(m, n, k, alpha, A, lda, Bm, ldb, 1, beta, C, ldc);
}

const semcl_cpu_embed_kernels KERNEL(semcl_cpu_embed_kernels) = {
    KERNEL(embed_per_row_rows),    KERNEL(embed_per_row_chunks),
    KERNEL(embed_per_row_finish),  KERNEL(embed_positive_only_rows),
    KERNEL(embed_shared_rows),     KERNEL(embed_shared_user_rows),
    KERNEL(embed_gemm),
};
