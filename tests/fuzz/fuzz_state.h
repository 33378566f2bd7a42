/* fuzz_state.h — what one fuzz input works on: a context, an arena that holds every array
 * of the loss calls (so that any two arguments can overlap, and "nothing written" can be
 * checked byte for byte over the whole of it), and the context's settings as the fuzzer
 * expects them to be. */
#ifndef SEMCL_FUZZ_STATE_H
#define SEMCL_FUZZ_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "fuzz_reader.h"
#include "semcl/semcl.h"

/* Elements (B*K) a loss call may touch: enough for several tasks and the chunk split
 * (32768 terms and more), small enough that an execution stays in the milliseconds. */
#define FUZZ_MAX_ELEMENTS 40000
#define FUZZ_ARENA_BYTES (2560u * 1024u)

typedef struct fuzz_state {
  semcl_context *ctx;
  unsigned char *arena; /* FUZZ_ARENA_BYTES, 64-byte aligned */
  /* Expected settings of ctx (checked by the getters). */
  void *workspace; /* the caller workspace (NULL: the context's own) */
  size_t workspace_bytes;
  int threads;
  semcl_cpu_isa_t isa;
  int pointer_checks;
  int supported[3]; /* the ISA levels this CPU has (from CPUID, not from the library) */
} fuzz_state;

/* fuzz_loss.c: one loss call with fuzzed arguments, and its checks. */
void fuzz_loss_op(fuzz_state *s, fuzz_reader *r);
/* fuzz_ops.c: everything else in the API. */
void fuzz_settings_op(fuzz_state *s, fuzz_reader *r);
void fuzz_workspace_query_op(fuzz_state *s, fuzz_reader *r);
void fuzz_workspace_set_op(fuzz_state *s, fuzz_reader *r);
void fuzz_buffer_op(fuzz_state *s, fuzz_reader *r);
void fuzz_status_op(fuzz_reader *r);
void fuzz_create_op(fuzz_reader *r);
/* A fixed small call that must succeed and match the reference: the context still works. */
void fuzz_context_still_works(fuzz_state *s);

#endif
