/*
 * semcl_embed_stage.h — 16-bit embeddings (bf16, fp16) in the embedding calls, for every
 * backend: what is staged in fp32 and where (host C and CUDA host code include this).
 *
 * Contract (docs/embeddings.md): a bf16 or fp16 call returns exactly what the fp32 call returns
 * for the same embeddings widened to fp32 (widening is exact), with every gradient element
 * rounded once, to nearest even, from its fp32 value to the dtype. Losses are fp32 as always.
 *
 * How: the (B,D) arrays user, item_raw, item_pos and the shared pool (N,D) are widened into
 * fp32 copies at the end of the workspace; their gradients are computed in fp32 into the
 * workspace by the fp32 machinery and narrowed into the caller's buffers at the end. That is
 * O((B + N) * D) floats. The per-row negatives item_neg (B,K,D) are never copied: the per-row
 * kernels read them, and write grad_item_neg, in the dtype directly (one read, one write, as
 * for fp32), so for SEMCL_EMBED_KIND_PER_ROW the staged problem keeps the dtype, which then
 * applies to item_neg and grad_item_neg only.
 */
#ifndef SEMCL_EMBED_STAGE_H
#define SEMCL_EMBED_STAGE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "semcl_embed.h"
#include "semcl_internal.h"

/* Offsets (bytes, from the start of the staging area) of the fp32 copies. */
typedef struct semcl_embed_stage {
  size_t user, item_raw, item_pos, pool;
  size_t grad_user, grad_item_raw, grad_item_pos, grad_pool;
  size_t bytes; /* the whole staging area (0: nothing staged, fp32) */
} semcl_embed_stage;

/* Whether a call in this dtype is staged. */
static inline int semcl_embed_staged(semcl_dtype_t dtype) { return dtype != SEMCL_DTYPE_FLOAT32; }

/* The staging area of a call (kind SEMCL_EMBED_KIND_*, K = N for the shared pool); all zero
 * when `staged` is 0. */
static inline semcl_embed_stage semcl_embed_stage_layout(int kind, int64_t B, int64_t K, int64_t D,
                                                         int staged) {
  semcl_embed_stage l;
  const size_t rows = semcl_round16((size_t)(B * D) * sizeof(float));
  const size_t pool =
      kind == SEMCL_EMBED_KIND_SHARED ? semcl_round16((size_t)(K * D) * sizeof(float)) : 0;
  l.user = 0;
  l.item_raw = l.user + rows;
  l.item_pos = l.item_raw + rows;
  l.pool = l.item_pos + rows;
  l.grad_user = l.pool + pool;
  l.grad_item_raw = l.grad_user + rows;
  l.grad_item_pos = l.grad_item_raw + rows;
  l.grad_pool = l.grad_item_pos + rows;
  l.bytes = l.grad_pool + pool;
  if (!staged) memset(&l, 0, sizeof l);
  return l;
}

/* The problem the fp32 machinery runs: p with the staged copies (at `area`) in place of the
 * caller's (B,D) arrays, pool and their gradients. A gradient the caller did not ask for stays
 * NULL (skipped). */
static inline void semcl_embed_staged_problem(const semcl_embed_problem *p, char *area,
                                              const semcl_embed_stage *l,
                                              semcl_embed_problem *q) {
  *q = *p;
  q->user = area + l->user;
  q->item_raw = area + l->item_raw;
  q->item_pos = area + l->item_pos;
  q->grad_user = p->grad_user ? area + l->grad_user : NULL;
  q->grad_item_raw = p->grad_item_raw ? area + l->grad_item_raw : NULL;
  q->grad_item_pos = p->grad_item_pos ? area + l->grad_item_pos : NULL;
  if (p->kind == SEMCL_EMBED_KIND_SHARED) {
    q->item_neg = area + l->pool;
    q->grad_item_neg = p->grad_item_neg ? area + l->grad_pool : NULL;
  }
  /* Per-row negatives stay in the dtype; everything else the kernels see is now fp32. */
  if (p->kind != SEMCL_EMBED_KIND_PER_ROW) q->dtype = SEMCL_DTYPE_FLOAT32;
}

/* One conversion between a caller's 16-bit array and its fp32 copy. */
typedef struct semcl_embed_copy {
  const void *from;
  void *to;
  int64_t count; /* elements */
} semcl_embed_copy;

/* The arrays to widen before the fp32 machinery runs (caller's -> staged); returns how many. */
static inline int semcl_embed_widen_list(const semcl_embed_problem *p,
                                         const semcl_embed_problem *q, semcl_embed_copy out[4]) {
  const int64_t rows = p->B * p->D;
  int n = 0;
  out[n].from = p->user, out[n].to = (void *)q->user, out[n++].count = rows;
  out[n].from = p->item_raw, out[n].to = (void *)q->item_raw, out[n++].count = rows;
  out[n].from = p->item_pos, out[n].to = (void *)q->item_pos, out[n++].count = rows;
  if (p->kind == SEMCL_EMBED_KIND_SHARED)
    out[n].from = p->item_neg, out[n].to = (void *)q->item_neg, out[n++].count = p->K * p->D;
  return n;
}

/* The gradients to narrow afterwards (staged -> caller's); returns how many. */
static inline int semcl_embed_narrow_list(const semcl_embed_problem *p,
                                          const semcl_embed_problem *q, semcl_embed_copy out[4]) {
  const int64_t rows = p->B * p->D;
  int n = 0;
  if (p->grad_user) out[n].from = q->grad_user, out[n].to = p->grad_user, out[n++].count = rows;
  if (p->grad_item_raw)
    out[n].from = q->grad_item_raw, out[n].to = p->grad_item_raw, out[n++].count = rows;
  if (p->grad_item_pos)
    out[n].from = q->grad_item_pos, out[n].to = p->grad_item_pos, out[n++].count = rows;
  if (p->kind == SEMCL_EMBED_KIND_SHARED && p->grad_item_neg)
    out[n].from = q->grad_item_neg, out[n].to = p->grad_item_neg, out[n++].count = p->K * p->D;
  return n;
}

#endif /* SEMCL_EMBED_STAGE_H */
