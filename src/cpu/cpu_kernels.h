/* cpu_kernels.h — the CPU backend's kernels and drivers (not installed).
 *
 * The loss kernels are compiled once per instruction-set level (kernels_<isa>.c, from the one
 * body kernels_body.h); a context picks its level's table at creation (cpu_isa.c). The
 * drivers (pos_neg_cpu.c, positive_only_cpu.c) split a call into tasks for the thread pool and
 * fold the tasks' results in the canonical order, so the bits depend on neither the level nor
 * the thread count. */
#ifndef SEMCL_CPU_KERNELS_H
#define SEMCL_CPU_KERNELS_H

#include "../semcl_internal.h"
#include "../semcl_row.h"

/* One call as the kernels see it. */
typedef struct semcl_cpu_call {
  const semcl_problem *p;
  semcl_row_consts rc;
  const int64_t *counts; /* (B) real negatives per row when the call is masked, else NULL */
} semcl_cpu_call;

/* The kernels of one instruction-set level. Row ranges [first, first + n) handed to them are
 * aligned power-of-two blocks of rows (or the tail of the batch): nodes of the tree T. */
typedef struct semcl_cpu_kernels {
  /* Pairwise loss, rows [first, first+n): gradients, per-sample outputs (NONE), and the T sums
   * of the rows' leaves. chunk_sums: NULL, or the rows' chunk sums ((B, chunks, 2) fp32) from
   * pos_neg_chunks when their negatives already ran (then only the row epilogue runs). */
  void (*pos_neg_rows)(const semcl_cpu_call *c, int64_t first, int64_t n,
                       const float *chunk_sums, double *ctr_sum, double *aux_sum);
  /* Pairwise loss, chunks [c0, c1) of row b: gradients, and the chunks' fp32 sums into
   * out[2*(c-c0)] (softplus) and out[2*(c-c0)+1] (sigmoid). */
  void (*pos_neg_chunks)(const semcl_cpu_call *c, int64_t b, int64_t c0, int64_t c1,
                         float *out);
  /* Positive-only loss, rows [first, first+n): as pos_neg_rows. */
  void (*positive_only_rows)(const semcl_cpu_call *c, int64_t first, int64_t n,
                             double *ctr_sum, double *aux_sum);
  /* Real negatives of rows [first, first+n) from the masks into counts[b]. */
  void (*count_rows)(const semcl_problem *p, int64_t first, int64_t n, int64_t *counts);
} semcl_cpu_kernels;

extern const semcl_cpu_kernels semcl_cpu_kernels_scalar;
#if defined(SEMCL_CPU_X86)
extern const semcl_cpu_kernels semcl_cpu_kernels_avx2;
extern const semcl_cpu_kernels semcl_cpu_kernels_avx512;
#endif

/* cpu_isa.c: the best level this CPU supports, the default level of a new context (the
 * environment variable SEMCL_CPU_ISA may lower it), whether a level is supported, and the
 * kernels of a level. */
semcl_cpu_isa_t semcl_cpu_isa_best(void);
semcl_cpu_isa_t semcl_cpu_isa_default(void);
int semcl_cpu_isa_supported(semcl_cpu_isa_t isa);
const semcl_cpu_kernels *semcl_cpu_kernels_for(semcl_cpu_isa_t isa);

/* Drivers: bytes of host workspace for a call with `threads` threads (an upper bound for every
 * option), and the run itself (cannot fail). */
size_t semcl_cpu_pos_neg_workspace(int64_t B, int64_t K, int threads);
/* Whether a call of these sizes is big enough to use more than the calling thread (smaller
 * calls never look at the thread count: no system call, no pool). */
int semcl_cpu_pos_neg_parallel(int64_t B, int64_t K);
int semcl_cpu_positive_only_parallel(int64_t B);
size_t semcl_cpu_positive_only_workspace(int64_t B, int threads);
void semcl_cpu_pos_neg(semcl_context *ctx, const semcl_problem *p, int threads, void *workspace);
void semcl_cpu_positive_only(semcl_context *ctx, const semcl_problem *p, int threads,
                             void *workspace);

/* reduction_cpu.c: the call's scalars for the row epilogue (N: real pairs, B*K unmasked), and
 * the last stage: T over the tasks' sums (overwritten) into loss, loss_ctr, loss_aux (MEAN and
 * SUM; nothing for NONE). aux_denominator: MEAN's divisor of the aux sum (B or N). */
semcl_row_consts semcl_cpu_row_consts(const semcl_problem *p, double N);
void semcl_cpu_finish_reduction(const semcl_problem *p, const semcl_row_consts *rc,
                                double *task_ctr, double *task_aux, int64_t tasks,
                                double aux_denominator);

#endif /* SEMCL_CPU_KERNELS_H */
