/* embed_kernels.h — the CPU kernels of the embedding calls (not installed).
 *
 * Compiled once per instruction-set level from embed_body.h (included by kernels_<isa>.c after
 * the score-level body, whose vector math it uses); every level computes the same bits
 * (the canonical orders of semcl_embed.h). The drivers embed_cpu.c (per-row negatives, loss 1)
 * and embed_shared_cpu.c (shared pool) split calls into tasks. */
#ifndef SEMCL_EMBED_KERNELS_H
#define SEMCL_EMBED_KERNELS_H

#include "../semcl_embed.h"

/* One embedding call as the kernels see it. */
typedef struct semcl_embed_call {
  const semcl_embed_problem *p;
  semcl_row_consts rc;
  const int64_t *counts; /* (B) real negatives per row when the call is masked, else NULL */
} semcl_embed_call;

/* The chunk partials of the per-row path (chunk mode): per (row, chunk) two floats (softplus
 * and sigmoid sums) then D floats (the grad_user partial). */
static inline int64_t semcl_embed_partial_floats(int64_t D) { return 2 + D; }

/* Row ranges [first, first+n) handed to the row kernels are aligned power-of-two blocks (or
 * the tail of the batch): nodes of the tree T over rows. */
typedef struct semcl_cpu_embed_kernels {
  /* Per-row negatives, rows [first, first+n): every output of these rows and the T sums of
   * their leaves. scratch: 3*D floats' worth, 8-byte aligned (see semcl_embed_row_scratch). */
  void (*per_row_rows)(const semcl_embed_call *c, int64_t first, int64_t n, void *scratch,
                       double *ctr_sum, double *aux_sum);
  /* Per-row negatives, chunks [c0, c1) of row b: grad_item_neg of those negatives and their
   * partials into out (semcl_embed_partial_floats(D) floats per chunk). */
  void (*per_row_chunks)(const semcl_embed_call *c, int64_t b, int64_t c0, int64_t c1,
                         float *out);
  /* Per-row negatives, rows [first, first+n) after per_row_chunks ran on all their chunks:
   * the row epilogues from the partials ((B, chunks, 2+D) floats). */
  void (*per_row_finish)(const semcl_embed_call *c, int64_t first, int64_t n,
                         const float *partials, void *scratch, double *ctr_sum,
                         double *aux_sum);
  /* Loss 1, rows [first, first+n). */
  void (*positive_only_rows)(const semcl_embed_call *c, int64_t first, int64_t n,
                             double *ctr_sum, double *aux_sum);
  /* Shared pool, rows [first, first+n) of the chunk starting at row r0, whose raw scores
   * (unscaled U N^T) are S[(b - r0) * N + j]: the loss pass. Writes G over S (when the
   * negatives' gradients are wanted), per-sample losses (NONE), grad_item_raw/pos, hr/hp of
   * the rows into hr[b - r0], hp[b - r0], and the T sums of the leaves. */
  void (*shared_rows)(const semcl_embed_call *c, float *S, int64_t r0, int64_t first,
                      int64_t n, float *hr, float *hp, double *ctr_sum, double *aux_sum);
  /* Shared pool, rows [first, first+n) of the chunk at r0: grad_user (holding dU from the GEMM)
   * becomes semcl_embed_user_grad(dU, hr, r, hp, p). */
  void (*shared_user_rows)(const semcl_embed_call *c, int64_t r0, int64_t first, int64_t n,
                           const float *hr, const float *hp);
  /* semcl's own GEMM (column-major, BLAS sgemm argument conventions) for the three products of
   * the shared pool: (transa, transb) = ('T','N'), ('N','N') or ('N','T'); beta 0 or 1. */
  void (*gemm)(char transa, char transb, int m, int n, int k, float alpha, const float *A,
               int lda, const float *Bm, int ldb, float beta, float *C, int ldc);
} semcl_cpu_embed_kernels;

/* The call's scalars for the row epilogues (N: MEAN's pairwise denominator). */
static inline semcl_row_consts semcl_cpu_row_consts_of(float lambda, float grad_scale,
                                                       const float *grad_upstream,
                                                       int reduction, int64_t B, double N) {
  semcl_row_consts rc;
  rc.lambda = lambda;
  rc.grad_scale = grad_scale;
  rc.grad_upstream = grad_upstream;
  rc.reduction = reduction;
  rc.B = B;
  rc.N = N;
  return rc;
}

/* The last stage: T over the tasks' sums (overwritten) into the reduced losses (MEAN, SUM;
 * nothing for NONE, whose per-sample losses are already written). */
static inline void semcl_cpu_finish_losses(semcl_reduction_t reduction,
                                           const semcl_row_consts *rc, double *task_ctr,
                                           double *task_aux, int64_t tasks,
                                           double aux_denominator, float *loss,
                                           float *loss_ctr, float *loss_aux) {
  if (reduction == SEMCL_REDUCTION_NONE) return;
  const double ctr = semcl_tree_sum_inplace(task_ctr, tasks);
  const double aux = semcl_tree_sum_inplace(task_aux, tasks);
  semcl_reduced_losses(rc, ctr, aux, aux_denominator, loss, loss_ctr, loss_aux);
}

/* Bytes of scratch per_row_rows / per_row_finish need for dimension D (16-byte multiple). */
static inline size_t semcl_embed_row_scratch(int64_t D) {
  return ((size_t)D * (sizeof(float) + sizeof(double)) + 15u) & ~(size_t)15u;
}

extern const semcl_cpu_embed_kernels semcl_cpu_embed_kernels_scalar;
#if defined(SEMCL_CPU_X86)
extern const semcl_cpu_embed_kernels semcl_cpu_embed_kernels_avx2;
extern const semcl_cpu_embed_kernels semcl_cpu_embed_kernels_avx512;
#endif

/* The embedding kernels of a level (cpu_isa.c's choice for the context). */
const semcl_cpu_embed_kernels *semcl_cpu_embed_kernels_for(semcl_cpu_isa_t isa);

/* Drivers (cannot fail once the workspace is there). */
/* staged: the call's embeddings are 16-bit (semcl_embed_stage.h): room for the fp32 copies. */
size_t semcl_cpu_embed_workspace(int kind, int64_t B, int64_t K, int64_t D, int threads,
                                 int staged);
void semcl_cpu_embed_run(semcl_context *ctx, const semcl_embed_problem *p, int threads,
                         void *workspace);
size_t semcl_cpu_shared_workspace(int64_t B, int64_t N, int threads);
void semcl_cpu_shared_run(semcl_context *ctx, const semcl_embed_problem *p, int threads,
                          void *workspace);

/* Real negatives of rows [first, first+n) into counts[b] (masks, counts, pos_index). */
void semcl_embed_count_rows(const semcl_embed_problem *p, int64_t first, int64_t n,
                            int64_t *counts);
/* Whether negative k of row b is real (the same rule). */
static inline int semcl_embed_is_real(const semcl_embed_problem *p, int64_t b, int64_t k) {
  if (p->neg_count) {
    const int32_t c = p->neg_count[b];
    if (c < 0 || (int64_t)c <= k) return 0;
  }
  if (p->neg_mask && p->neg_mask[b * p->K + k] == 0) return 0;
  if (p->pos_index && p->pos_index[b] == k) return 0;
  return 1;
}

/* The CPU GEMM for shared-pool calls on this context (BLAS or builtin), and the default of a
 * new context (builtin when the build has no BLAS or SEMCL_CPU_GEMM=builtin is set). */
typedef void (*semcl_gemm_fn)(char transa, char transb, int m, int n, int k, float alpha,
                              const float *A, int lda, const float *Bm, int ldb, float beta,
                              float *C, int ldc);
semcl_gemm_fn semcl_cpu_gemm_for(const semcl_context *ctx);
int semcl_cpu_gemm_default_builtin(void);
int semcl_cpu_has_blas(void);

#endif /* SEMCL_EMBED_KERNELS_H */
