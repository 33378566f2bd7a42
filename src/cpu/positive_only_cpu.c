/*
 * positive_only_cpu.c — loss 1 (positive-only semantic consistency) on the CPU.
 *
 * Rows are processed in the canonical blocks of SEMCL_ROW_BLOCK: a vectorisable fp32 pass
 * computes the BCE and the softplus of every row of the block, then an fp64 pass forms the
 * gradients (their two terms cancel near raw == pos), writes the per-row outputs and sums the
 * block in row order.
 */
#include <stdint.h>
#include <string.h>

#include "../semcl_math.h"
#include "../semcl_order.h"
#include "cpu_kernels.h"

SEMCL_CPU_CLONES
static void run_block(const semcl_problem *p, int64_t blk, double *block_ctr,
                      double *block_aux) {
  const int64_t first = blk * SEMCL_ROW_BLOCK;
  const int n = (int)(p->B - first < SEMCL_ROW_BLOCK ? p->B - first : SEMCL_ROW_BLOCK);
  const float *raw = p->score_raw + first, *pos = p->score_pos + first, *y = p->y + first;
  float ctr[SEMCL_ROW_BLOCK], aux[SEMCL_ROW_BLOCK];
  for (int i = 0; i < n; ++i) {
    float unused_dctr, unused_sigmoid; /* the gradients are formed in fp64 below */
    semcl_bce_with_logits(raw[i], y[i], &ctr[i], &unused_dctr);
    semcl_softplus_sigmoid(semcl_neg_sign(y[i]) * (pos[i] - raw[i]), &aux[i], &unused_sigmoid);
  }
  const int none = p->reduction == SEMCL_REDUCTION_NONE;
  const int is_mean = p->reduction == SEMCL_REDUCTION_MEAN;
  if (p->grad_raw || p->grad_pos) {
    /* Separate loops so that the fp64 gradient math vectorises (4 rows per AVX2 register). */
    double scale[SEMCL_ROW_BLOCK];
    float graw[SEMCL_ROW_BLOCK], gpos[SEMCL_ROW_BLOCK];
    for (int i = 0; i < n; ++i)
      scale[i] = semcl_row_scale(p->grad_scale, p->grad_upstream, none, is_mean, p->B, first + i);
    for (int i = 0; i < n; ++i)
      semcl_positive_only_grads(scale[i], p->lambda, raw[i], pos[i], y[i], &graw[i], &gpos[i]);
    if (p->grad_raw) memcpy(p->grad_raw + first, graw, (size_t)n * sizeof(float));
    if (p->grad_pos) memcpy(p->grad_pos + first, gpos, (size_t)n * sizeof(float));
  }
  double ctr_sum = 0.0, aux_sum = 0.0;
  for (int i = 0; i < n; ++i) {
    if (none)
      semcl_row_losses(ctr[i], (double)aux[i], p->lambda, p->loss + first + i,
                       p->loss_ctr + first + i, p->loss_aux + first + i);
    ctr_sum += (double)ctr[i];
    aux_sum += (double)aux[i];
  }
  block_ctr[blk] = ctr_sum;
  block_aux[blk] = aux_sum;
}

size_t semcl_cpu_positive_only_workspace(int64_t B) {
  const int64_t blocks = (B + SEMCL_ROW_BLOCK - 1) / SEMCL_ROW_BLOCK;
  return (size_t)blocks * 2 * sizeof(double);
}

typedef struct positive_only_job {
  const semcl_problem *p;
  double *block_ctr, *block_aux;
} positive_only_job;

static void block_task(void *arg, int64_t blk) {
  const positive_only_job *job = (const positive_only_job *)arg;
  run_block(job->p, blk, job->block_ctr, job->block_aux);
}

void semcl_cpu_positive_only(const semcl_problem *p, int threads, semcl_pool **pool,
                             void *workspace) {
  const int64_t blocks = (p->B + SEMCL_ROW_BLOCK - 1) / SEMCL_ROW_BLOCK;
  positive_only_job job = {.p = p, .block_ctr = (double *)workspace};
  job.block_aux = job.block_ctr + blocks;
  /* Small calls stay on the calling thread (the pool is not touched). */
  const int run_threads = threads > 1 && blocks > 1 && p->B >= 65536 ? threads : 1;
  semcl_pool_run(pool, run_threads, blocks, block_task, &job);
  semcl_cpu_finish_reduction(p, job.block_ctr, job.block_aux, blocks);
}
