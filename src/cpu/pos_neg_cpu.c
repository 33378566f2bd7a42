/*
 * pos_neg_cpu.c — the pairwise loss on the CPU: splits a call into tasks for the thread pool
 * and folds their results in the canonical order. The per-row work is in kernels_body.h.
 *
 * Two ways to split, chosen from (B, K, threads) only:
 *  - rows: tasks of R rows (R a power of two with R*K near TASK_TERMS); each task writes its
 *    rows' outputs and the T sums of its rows' leaves into its own slot; T over the slots.
 *  - chunks, when there are fewer row tasks than threads and rows span several chunks (few
 *    long rows): tasks of up to CHUNKS_PER_TASK chunks of one row write the chunks' fp32 sums
 *    into slots (row, chunk); then the row epilogues run from the slots.
 * Either way every sum is the tree of semcl_fold.h, so the bits are the same.
 */
#include <stdint.h>
#include <string.h>

#include "../semcl_fold.h"
#include "cpu_kernels.h"
#include "thread_pool.h"

#define TASK_TERMS 65536      /* negatives per task: about 50-100 us of work */
#define CHUNKS_PER_TASK 64    /* chunk tasks: 64 chunks of SEMCL_CHUNK terms */
#define SMALL_CALL_TERMS 32768 /* smaller calls run on the calling thread alone */

typedef struct plan {
  int threads;
  int64_t rows_per_task, row_tasks;
  int64_t chunks; /* chunks per row */
  int chunk_mode;
  int64_t chunk_groups; /* chunk tasks per row */
} plan;

int semcl_cpu_pos_neg_parallel(int64_t B, int64_t K) { return B * K >= SMALL_CALL_TERMS; }

static plan make_plan(int64_t B, int64_t K, int threads) {
  plan pl;
  pl.threads = semcl_cpu_pos_neg_parallel(B, K) ? threads : 1;
  int64_t r = 1;
  while (r * 2 * K <= TASK_TERMS) r *= 2;
  pl.rows_per_task = r;
  pl.row_tasks = (B + r - 1) / r;
  pl.chunks = (K + SEMCL_CHUNK - 1) / SEMCL_CHUNK;
  pl.chunk_mode = pl.threads > 1 && pl.row_tasks < pl.threads && pl.chunks > 1;
  pl.chunk_groups = (pl.chunks + CHUNKS_PER_TASK - 1) / CHUNKS_PER_TASK;
  return pl;
}

/* Workspace: counts (B int64) | task sums (2 x row_tasks doubles) | chunk sums (chunk mode). */
typedef struct layout {
  size_t counts, sums, chunk_sums, total;
} layout;

static layout make_layout(const plan *pl, int64_t B) {
  layout l;
  l.counts = 0;
  l.sums = l.counts + semcl_round16((size_t)B * sizeof(int64_t));
  l.chunk_sums = l.sums + semcl_round16((size_t)pl->row_tasks * 2 * sizeof(double));
  l.total = l.chunk_sums +
            (pl->chunk_mode ? semcl_round16((size_t)(B * pl->chunks) * 2 * sizeof(float)) : 0);
  return l;
}

size_t semcl_cpu_pos_neg_workspace(int64_t B, int64_t K, int threads) {
  const plan pl = make_plan(B, K, threads);
  return make_layout(&pl, B).total;
}

typedef struct job {
  const semcl_cpu_kernels *k;
  semcl_cpu_call call;
  const plan *pl;
  int64_t *counts;
  double *task_ctr, *task_aux;
  float *chunk_sums;
} job;

static void count_task(void *arg, int64_t t) {
  const job *j = (const job *)arg;
  const int64_t first = t * j->pl->rows_per_task;
  const int64_t B = j->call.p->B;
  const int64_t n = B - first < j->pl->rows_per_task ? B - first : j->pl->rows_per_task;
  j->k->count_rows(j->call.p, first, n, j->counts);
}

static void rows_task(void *arg, int64_t t) {
  const job *j = (const job *)arg;
  const int64_t first = t * j->pl->rows_per_task;
  const int64_t B = j->call.p->B;
  const int64_t n = B - first < j->pl->rows_per_task ? B - first : j->pl->rows_per_task;
  j->k->pos_neg_rows(&j->call, first, n, NULL, &j->task_ctr[t], &j->task_aux[t]);
}

static void chunk_task(void *arg, int64_t t) {
  const job *j = (const job *)arg;
  const int64_t b = t / j->pl->chunk_groups;
  const int64_t c0 = (t % j->pl->chunk_groups) * CHUNKS_PER_TASK;
  const int64_t c1 = c0 + CHUNKS_PER_TASK < j->pl->chunks ? c0 + CHUNKS_PER_TASK : j->pl->chunks;
  j->k->pos_neg_chunks(&j->call, b, c0, c1, j->chunk_sums + 2 * (b * j->pl->chunks + c0));
}

void semcl_cpu_pos_neg(semcl_context *ctx, const semcl_problem *p, int threads,
                       void *workspace) {
  const plan pl = make_plan(p->B, p->K, threads);
  const layout l = make_layout(&pl, p->B);
  char *ws = (char *)workspace;
  job j;
  j.k = semcl_cpu_kernels_for(ctx->cpu_isa);
  j.pl = &pl;
  j.counts = (int64_t *)(ws + l.counts);
  j.task_ctr = (double *)(ws + l.sums);
  j.task_aux = j.task_ctr + pl.row_tasks;
  j.chunk_sums = pl.chunk_mode ? (float *)(ws + l.chunk_sums) : NULL;
  j.call.p = p;
  j.call.counts = NULL;

  double N = (double)p->B * (double)p->K;
  if (semcl_problem_masked(p)) {
    semcl_pool_run(&ctx->pool, pl.threads, pl.row_tasks, count_task, &j);
    int64_t real = 0; /* an exact integer sum: any order */
    for (int64_t b = 0; b < p->B; ++b) real += j.counts[b];
    N = (double)real;
    j.call.counts = j.counts;
  }
  j.call.rc = semcl_cpu_row_consts(p, N);

  int64_t tasks = pl.row_tasks;
  if (!pl.chunk_mode) {
    semcl_pool_run(&ctx->pool, pl.threads, pl.row_tasks, rows_task, &j);
  } else {
    semcl_pool_run(&ctx->pool, pl.threads, p->B * pl.chunk_groups, chunk_task, &j);
    /* Few rows: their epilogues, and T over all of them, on this thread. */
    j.k->pos_neg_rows(&j.call, 0, p->B, j.chunk_sums, &j.task_ctr[0], &j.task_aux[0]);
    tasks = 1;
  }
  semcl_cpu_finish_reduction(p, &j.call.rc, j.task_ctr, j.task_aux, tasks, N);
}
