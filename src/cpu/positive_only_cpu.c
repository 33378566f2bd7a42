/*
 * positive_only_cpu.c — the positive-only loss on the CPU: tasks of rows for the thread pool,
 * each writing its rows' outputs and the T sums of their leaves into its own slot, then T over
 * the slots (semcl_fold.h). The per-row work is in kernels_body.h.
 */
#include <stdint.h>

#include "cpu_kernels.h"
#include "thread_pool.h"

#define TASK_ROWS 16384       /* a power of two: tasks are nodes of the tree over rows */
#define SMALL_CALL_ROWS 16384 /* smaller calls run on the calling thread alone */

static int64_t tasks_of(int64_t B) { return (B + TASK_ROWS - 1) / TASK_ROWS; }

int semcl_cpu_positive_only_parallel(int64_t B) { return B >= SMALL_CALL_ROWS; }

size_t semcl_cpu_positive_only_workspace(int64_t B, int threads) {
  (void)threads;
  return (size_t)tasks_of(B) * 2 * sizeof(double);
}

typedef struct job {
  const semcl_cpu_kernels *k;
  semcl_cpu_call call;
  double *task_ctr, *task_aux;
} job;

static void rows_task(void *arg, int64_t t) {
  const job *j = (const job *)arg;
  const int64_t first = t * TASK_ROWS;
  const int64_t B = j->call.p->B;
  const int64_t n = B - first < TASK_ROWS ? B - first : TASK_ROWS;
  j->k->positive_only_rows(&j->call, first, n, &j->task_ctr[t], &j->task_aux[t]);
}

void semcl_cpu_positive_only(semcl_context *ctx, const semcl_problem *p, int threads,
                             void *workspace) {
  const int64_t tasks = tasks_of(p->B);
  job j;
  j.k = semcl_cpu_kernels_for(ctx->cpu_isa);
  j.call.p = p;
  j.call.counts = NULL;
  j.call.rc = semcl_cpu_row_consts(p, (double)p->B);
  j.task_ctr = (double *)workspace;
  j.task_aux = j.task_ctr + tasks;
  semcl_pool_run(&ctx->pool, semcl_cpu_positive_only_parallel(p->B) ? threads : 1, tasks,
                 rows_task, &j);
  semcl_cpu_finish_reduction(p, &j.call.rc, j.task_ctr, j.task_aux, tasks, (double)p->B);
}
