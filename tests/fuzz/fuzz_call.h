/* fuzz_call.h — one loss call as the fuzzer builds it: which entry point, every argument, and
 * where each array lies in the arena. Shared by the builder (fuzz_loss.c) and the result checks
 * (fuzz_results.c). */
#ifndef SEMCL_FUZZ_CALL_H
#define SEMCL_FUZZ_CALL_H

#include <stddef.h>
#include <stdint.h>

#include "fuzz_state.h"
#include "semcl/semcl.h"

typedef enum fuzz_entry {
  E_POS_ONLY_FWD, /* semcl_positive_only_forward */
  E_POS_ONLY_FWD_BWD,
  E_POS_NEG_FWD,
  E_POS_NEG_FWD_BWD,
  E_POS_ONLY_EX,
  E_POS_NEG_EX,
  E_COUNT
} fuzz_entry;

/* The arrays of a loss call, in the order the library lists them. */
typedef enum fuzz_region_id {
  R_RAW, R_POS, R_NEG, R_Y, R_UP, R_MASK, R_COUNT, R_WEIGHT, R_PW,
  R_LOSS, R_CTR, R_AUX, R_GRAW, R_GPOS, R_GNEG,
  R_N
} fuzz_region_id;

typedef struct fuzz_region {
  int present;     /* the entry point takes it and the call passes it */
  int output;
  size_t offset;   /* in the arena */
  size_t bytes;    /* what the library considers the array's extent */
  void *ptr;       /* arena + offset, or NULL (absent, or a NULL injected on purpose) */
} fuzz_region;

typedef struct fuzz_call {
  fuzz_entry entry;
  int pairwise, ex, takes_grad_args; /* takes_grad_args: grad_scale, upstream, gradients */
  int64_t B, K;                      /* as passed (the positive-only loss uses K = 1) */
  int sizes_ok;                      /* B, K valid: the arrays have their real extents */
  int reduction;                     /* raw: may be out of range */
  float lambda, grad_scale;
  int has_options, options_ok;       /* options passed / with a valid struct_size */
  semcl_options options;             /* dtype written raw (C can hold any value) */
  int dtype;                         /* raw options dtype (0 without options) */
  size_t esize;                      /* bytes per score (4 when the dtype is invalid) */
  int in_place;                      /* grad_neg == score_neg */
  int null_ctx;
  fuzz_region reg[R_N];
} fuzz_call;

static inline int64_t fuzz_call_k(const fuzz_call *c) { return c->pairwise ? c->K : 1; }
static inline size_t fuzz_loss_count(const fuzz_call *c) {
  return c->reduction == SEMCL_REDUCTION_NONE ? (size_t)c->B : 1;
}

const char *fuzz_region_name(int id); /* "score_raw", ... */
/* The call in one line, for findings (a static buffer). */
const char *fuzz_describe_call(const fuzz_call *c);

/* Runs the call on ctx (the arrays as placed in the arena). */
semcl_status_t fuzz_invoke(semcl_context *ctx, const fuzz_call *c);

/* fuzz_results.c: after a successful call, every documented property of its results. pre:
 * the arena span [lo, hi) before the call; the arena holds the results. */
void fuzz_check_results(fuzz_state *s, const fuzz_call *c, const unsigned char *pre, size_t lo,
                        size_t hi);

#endif
