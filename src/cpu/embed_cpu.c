/*
 * embed_cpu.c — the embedding calls on the CPU: per-row negatives and loss 1 (this file), the
 * shared pool (embed_shared_cpu.c), and the dispatch between them. Splits calls into tasks for
 * the thread pool and folds the tasks' results in the canonical order; the per-row work is in
 * embed_body.h.
 *
 * Per-row negatives split like the score-level loss (pos_neg_cpu.c):
 *  - rows: tasks of R rows (R a power of two, R*K*D near TASK_WORK, at most TASKS_PER_THREAD
 *    tasks per thread so that the per-task scratch stays O(threads * D)); each task writes its
 *    rows' outputs and the T sums of their leaves into its own slot; T over the slots;
 *  - chunks, when there are fewer row tasks than threads and rows span several chunks of
 *    negatives: tasks of up to CHUNKS_PER_TASK chunks of one row write the chunks' partials
 *    (softplus and sigmoid sums, grad_user partial); then the row epilogues run from them.
 * Both compute every chunk with the same function and combine chunks in the same order, so the
 * bits do not depend on the split (nor, therefore, on the thread count).
 */
#include <stdint.h>
#include <string.h>

#include "../semcl_embed_stage.h"
#include "cpu_kernels.h"
#include "embed_kernels.h"
#include "thread_pool.h"

#define TASK_WORK ((int64_t)1 << 20) /* negatives * D per row task */
#define TASKS_PER_THREAD 16
#define CHUNKS_PER_TASK 16
#define SMALL_CALL_WORK ((int64_t)1 << 16) /* smaller calls run on the calling thread alone */

typedef struct plan {
  int threads;
  int64_t rows_per_task, row_tasks;
  int64_t chunks; /* chunks of negatives per row */
  int chunk_mode;
  int64_t chunk_groups; /* chunk tasks per row */
} plan;

static int64_t pow2_at_least(int64_t x) {
  int64_t r = 1;
  while (r < x) r *= 2;
  return r;
}

static plan make_plan(int64_t B, int64_t K, int64_t D, int threads) {
  plan pl;
  const int64_t row_work = K * D;
  pl.threads = (B > SMALL_CALL_WORK / row_work) ? threads : 1;
  int64_t r = 1;
  while (r * 2 <= B && r * 2 * row_work <= TASK_WORK) r *= 2;
  /* At most TASKS_PER_THREAD tasks per thread (bounds the per-task scratch). */
  const int64_t min_rows = pow2_at_least((B + (int64_t)pl.threads * TASKS_PER_THREAD - 1) /
                                         ((int64_t)pl.threads * TASKS_PER_THREAD));
  if (r < min_rows) r = min_rows;
  pl.rows_per_task = r;
  pl.row_tasks = (B + r - 1) / r;
  pl.chunks = (K + SEMCL_CHUNK - 1) / SEMCL_CHUNK;
  pl.chunk_mode = pl.threads > 1 && pl.row_tasks < pl.threads && pl.chunks > 1;
  pl.chunk_groups = (pl.chunks + CHUNKS_PER_TASK - 1) / CHUNKS_PER_TASK;
  return pl;
}

/* Workspace: counts (B int64) | task sums (2 x tasks doubles) | scratch (one per row task,
 * or one for the chunk-mode epilogue) | chunk partials (chunk mode). */
typedef struct layout {
  size_t counts, sums, scratch, partials, total;
} layout;

static layout make_layout(const plan *pl, int64_t B, int64_t D) {
  layout l;
  l.counts = 0;
  l.sums = l.counts + semcl_round16((size_t)B * sizeof(int64_t));
  l.scratch = l.sums + semcl_round16((size_t)pl->row_tasks * 2 * sizeof(double));
  l.partials = l.scratch + (size_t)pl->row_tasks * semcl_embed_row_scratch(D);
  l.total = l.partials + (pl->chunk_mode ? semcl_round16((size_t)(B * pl->chunks) *
                                                   (size_t)semcl_embed_partial_floats(D) *
                                                   sizeof(float))
                                         : 0);
  return l;
}

/* The fp32 machinery's workspace (the staging area, if any, follows it). */
static size_t fp32_workspace(int kind, int64_t B, int64_t K, int64_t D, int threads) {
  if (kind == SEMCL_EMBED_KIND_SHARED) return semcl_cpu_shared_workspace(B, K, threads);
  if (kind == SEMCL_EMBED_KIND_POSITIVE_ONLY) K = 1;
  const plan pl = make_plan(B, K, D, threads);
  return make_layout(&pl, B, D).total;
}

size_t semcl_cpu_embed_workspace(int kind, int64_t B, int64_t K, int64_t D, int threads,
                                 int staged) {
  return semcl_round16(fp32_workspace(kind, B, K, D, threads)) +
         semcl_embed_stage_layout(kind, B, K, D, staged).bytes;
}

void semcl_embed_count_rows(const semcl_embed_problem *p, int64_t first, int64_t n,
                            int64_t *counts) {
  for (int64_t b = first; b < first + n; ++b) {
    int64_t limit = p->K;
    if (p->neg_count) {
      const int32_t c = p->neg_count[b];
      limit = c < 0 ? 0 : ((int64_t)c > p->K ? p->K : (int64_t)c);
    }
    int64_t real = limit;
    if (p->neg_mask) {
      const uint8_t *m = p->neg_mask + b * p->K;
      real = 0;
      for (int64_t k = 0; k < limit; ++k) real += m[k] != 0;
    }
    if (p->pos_index) {
      const int64_t e = p->pos_index[b];
      if (e >= 0 && e < limit && (!p->neg_mask || p->neg_mask[b * p->K + e] != 0)) real -= 1;
    }
    counts[b] = real;
  }
}

typedef struct job {
  const semcl_cpu_embed_kernels *k;
  semcl_embed_call call;
  const plan *pl;
  int64_t *counts;
  double *task_ctr, *task_aux;
  char *scratch; /* row_tasks slots of semcl_embed_row_scratch(D) bytes */
  float *partials;
} job;

static int64_t task_rows(const job *j, int64_t t, int64_t *first) {
  *first = t * j->pl->rows_per_task;
  const int64_t B = j->call.p->B;
  return B - *first < j->pl->rows_per_task ? B - *first : j->pl->rows_per_task;
}

static void count_task(void *arg, int64_t t) {
  const job *j = (const job *)arg;
  int64_t first;
  const int64_t n = task_rows(j, t, &first);
  semcl_embed_count_rows(j->call.p, first, n, j->counts);
}

static void per_row_task(void *arg, int64_t t) {
  const job *j = (const job *)arg;
  int64_t first;
  const int64_t n = task_rows(j, t, &first);
  j->k->per_row_rows(&j->call, first, n,
                     j->scratch + (size_t)t * semcl_embed_row_scratch(j->call.p->D),
                     &j->task_ctr[t], &j->task_aux[t]);
}

static void chunk_task(void *arg, int64_t t) {
  const job *j = (const job *)arg;
  const int64_t b = t / j->pl->chunk_groups;
  const int64_t c0 = (t % j->pl->chunk_groups) * CHUNKS_PER_TASK;
  const int64_t c1 = c0 + CHUNKS_PER_TASK < j->pl->chunks ? c0 + CHUNKS_PER_TASK : j->pl->chunks;
  const int64_t stride = semcl_embed_partial_floats(j->call.p->D);
  j->k->per_row_chunks(&j->call, b, c0, c1, j->partials + (b * j->pl->chunks + c0) * stride);
}

static void positive_only_task(void *arg, int64_t t) {
  const job *j = (const job *)arg;
  int64_t first;
  const int64_t n = task_rows(j, t, &first);
  j->k->positive_only_rows(&j->call, first, n, &j->task_ctr[t], &j->task_aux[t]);
}

static void run_rows(semcl_context *ctx, const semcl_embed_problem *p, int threads,
                     void *workspace) {
  const int64_t K = p->kind == SEMCL_EMBED_KIND_PER_ROW ? p->K : 1;
  const plan pl = make_plan(p->B, K, p->D, threads);
  const layout l = make_layout(&pl, p->B, p->D);
  char *ws = (char *)workspace;
  job j;
  j.k = semcl_cpu_embed_kernels_for(ctx->cpu_isa);
  j.pl = &pl;
  j.counts = (int64_t *)(ws + l.counts);
  j.task_ctr = (double *)(ws + l.sums);
  j.task_aux = j.task_ctr + pl.row_tasks;
  j.scratch = ws + l.scratch;
  j.partials = pl.chunk_mode ? (float *)(ws + l.partials) : NULL;
  j.call.p = p;
  j.call.counts = NULL;

  if (p->kind == SEMCL_EMBED_KIND_POSITIVE_ONLY) {
    j.call.rc = semcl_cpu_row_consts_of(p->lambda, p->grad_scale, p->grad_upstream,
                                        (int)p->reduction, p->B, (double)p->B);
    semcl_pool_run(&ctx->pool, pl.threads, pl.row_tasks, positive_only_task, &j);
    semcl_cpu_finish_losses(p->reduction, &j.call.rc, j.task_ctr, j.task_aux, pl.row_tasks,
                            (double)p->B, p->loss, p->loss_ctr, p->loss_aux);
    return;
  }

  double N = (double)p->B * (double)p->K;
  if (semcl_embed_masked(p)) {
    semcl_pool_run(&ctx->pool, pl.threads, pl.row_tasks, count_task, &j);
    int64_t real = 0; /* an exact integer sum: any order */
    for (int64_t b = 0; b < p->B; ++b) real += j.counts[b];
    N = (double)real;
    j.call.counts = j.counts;
  }
  j.call.rc = semcl_cpu_row_consts_of(p->lambda, p->grad_scale, p->grad_upstream,
                                      (int)p->reduction, p->B, N);
  int64_t tasks = pl.row_tasks;
  if (!pl.chunk_mode) {
    semcl_pool_run(&ctx->pool, pl.threads, pl.row_tasks, per_row_task, &j);
  } else {
    semcl_pool_run(&ctx->pool, pl.threads, p->B * pl.chunk_groups, chunk_task, &j);
    /* Few rows: their epilogues, and T over all of them, on this thread. */
    j.k->per_row_finish(&j.call, 0, p->B, j.partials, j.scratch, &j.task_ctr[0],
                        &j.task_aux[0]);
    tasks = 1;
  }
  semcl_cpu_finish_losses(p->reduction, &j.call.rc, j.task_ctr, j.task_aux, tasks, N, p->loss,
                          p->loss_ctr, p->loss_aux);
}

static void run_fp32(semcl_context *ctx, const semcl_embed_problem *p, int threads,
                     void *workspace) {
  if (p->kind == SEMCL_EMBED_KIND_SHARED)
    semcl_cpu_shared_run(ctx, p, threads, workspace);
  else
    run_rows(ctx, p, threads, workspace);
}

/* ---- 16-bit embeddings: fp32 copies (semcl_embed_stage.h) ------------------------------- */

#define CONVERT_BLOCK ((int64_t)1 << 16) /* elements per conversion task */

typedef struct convert_job {
  const semcl_embed_copy *copies;
  int64_t blocks[4]; /* tasks per copy */
  semcl_dtype_t dtype;
  int widen; /* 1: 16-bit -> fp32, 0: fp32 -> 16-bit */
} convert_job;

static void convert_task(void *arg, int64_t t) {
  const convert_job *j = (const convert_job *)arg;
  int c = 0;
  while (t >= j->blocks[c]) t -= j->blocks[c++];
  const semcl_embed_copy *cp = &j->copies[c];
  const int64_t first = t * CONVERT_BLOCK;
  const int64_t n = cp->count - first < CONVERT_BLOCK ? cp->count - first : CONVERT_BLOCK;
  const int bf16 = j->dtype == SEMCL_DTYPE_BFLOAT16;
  if (j->widen) {
    const uint16_t *in = (const uint16_t *)cp->from + first;
    float *out = (float *)cp->to + first;
    for (int64_t i = 0; i < n; ++i)
      out[i] = bf16 ? semcl_bf16_to_f32(in[i]) : semcl_f16_to_f32(in[i]);
  } else {
    const float *in = (const float *)cp->from + first;
    uint16_t *out = (uint16_t *)cp->to + first;
    for (int64_t i = 0; i < n; ++i)
      out[i] = bf16 ? semcl_f32_to_bf16(in[i]) : semcl_f32_to_f16(in[i]);
  }
}

static void convert(semcl_context *ctx, int threads, const semcl_embed_copy *copies, int count,
                    semcl_dtype_t dtype, int widen) {
  convert_job j;
  j.copies = copies;
  j.dtype = dtype;
  j.widen = widen;
  int64_t tasks = 0;
  for (int c = 0; c < count; ++c) {
    j.blocks[c] = (copies[c].count + CONVERT_BLOCK - 1) / CONVERT_BLOCK;
    tasks += j.blocks[c];
  }
  semcl_pool_run(&ctx->pool, tasks > 1 ? threads : 1, tasks, convert_task, &j);
}

void semcl_cpu_embed_run(semcl_context *ctx, const semcl_embed_problem *p, int threads,
                         void *workspace) {
  if (!semcl_embed_staged(p->dtype)) {
    run_fp32(ctx, p, threads, workspace);
    return;
  }
  const size_t fp32_bytes = semcl_round16(fp32_workspace(p->kind, p->B, p->K, p->D, threads));
  const semcl_embed_stage l = semcl_embed_stage_layout(p->kind, p->B, p->K, p->D, 1);
  semcl_embed_problem q;
  semcl_embed_staged_problem(p, (char *)workspace + fp32_bytes, &l, &q);
  semcl_embed_copy copies[4];
  convert(ctx, threads, copies, semcl_embed_widen_list(p, &q, copies), p->dtype, 1);
  run_fp32(ctx, &q, threads, workspace);
  convert(ctx, threads, copies, semcl_embed_narrow_list(p, &q, copies), p->dtype, 0);
}
