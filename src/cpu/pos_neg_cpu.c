/*
 * pos_neg_cpu.c — loss 2 (label-conditioned pairwise ranking) on the CPU.
 *
 * One pass over score_neg: each score is read once and its gradient written once; the
 * difference, the sign-conditioned softplus, its sigmoid (one shared exp), the gradient and
 * the two row sums happen together. The inner loop is written over the 32 canonical lanes of
 * semcl_order.h so that the compiler vectorises it (8 or 16 lanes a register) while the
 * summation order stays the canonical one, whatever the SIMD width or thread count.
 */
#include <stdint.h>
#include <string.h>

#include "../semcl_math.h"
#include "../semcl_order.h"
#include "cpu_kernels.h"


/* One chunk of one row.
 * input: neg (len), output: grad (len) or nothing; returns the two canonical fp32 chunk sums. */
static inline __attribute__((always_inline)) void pos_neg_chunk_impl(
    const float *neg, float *grad, int64_t len, float pos, float neg_sign, float coef,
    float *softplus_sum, float *sigmoid_sum, const int write_grad) {
  if (len < SEMCL_LANES) {
    /* A short row (small K): only the lanes it uses, folded as semcl_fold_lanes_prefix. */
    float short_sp[SEMCL_LANES], short_sg[SEMCL_LANES];
    int width = 1;
    while (width < len) width *= 2;
    for (int j = 0; j < (int)len; ++j) {
      semcl_softplus_sigmoid(neg_sign * (pos - neg[j]), &short_sp[j], &short_sg[j]);
      if (write_grad) grad[j] = coef * short_sg[j];
    }
    for (int j = (int)len; j < width; ++j) short_sp[j] = short_sg[j] = 0.0f;
    *softplus_sum = semcl_fold_lanes_prefix(short_sp, width);
    *sigmoid_sum = semcl_fold_lanes_prefix(short_sg, width);
    return;
  }
  float lane_sp[SEMCL_LANES] = {0};
  float lane_sg[SEMCL_LANES] = {0};
  int64_t i = 0;
  for (; i + SEMCL_LANES <= len; i += SEMCL_LANES) {
    /* In-place (grad == neg) is safe: each element is read before its own slot is written. */
#pragma GCC ivdep
    for (int j = 0; j < SEMCL_LANES; ++j) {
      float sp, sg;
      semcl_softplus_sigmoid(neg_sign * (pos - neg[i + j]), &sp, &sg);
      lane_sp[j] += sp;
      lane_sg[j] += sg;
      if (write_grad) grad[i + j] = coef * sg;
    }
  }
  for (int j = 0; i + j < len; ++j) {
    float sp, sg;
    semcl_softplus_sigmoid(neg_sign * (pos - neg[i + j]), &sp, &sg);
    lane_sp[j] += sp;
    lane_sg[j] += sg;
    if (write_grad) grad[i + j] = coef * sg;
  }
  *softplus_sum = semcl_fold_lanes(lane_sp);
  *sigmoid_sum = semcl_fold_lanes(lane_sg);
}

SEMCL_CPU_CLONES
static void pos_neg_chunk_fwd(const float *neg, int64_t len, float pos, float neg_sign,
                              float *softplus_sum, float *sigmoid_sum) {
  pos_neg_chunk_impl(neg, NULL, len, pos, neg_sign, 0.0f, softplus_sum, sigmoid_sum, 0);
}

SEMCL_CPU_CLONES
static void pos_neg_chunk_fwd_bwd(const float *neg, float *grad, int64_t len, float pos,
                                  float neg_sign, float coef, float *softplus_sum,
                                  float *sigmoid_sum) {
  pos_neg_chunk_impl(neg, grad, len, pos, neg_sign, coef, softplus_sum, sigmoid_sum, 1);
}

static double row_scale_of(const semcl_problem *p, int64_t b) {
  return semcl_row_scale(p->grad_scale, p->grad_upstream, p->reduction == SEMCL_REDUCTION_NONE,
                         p->reduction == SEMCL_REDUCTION_MEAN, p->B, b);
}

/* Chunk c of row b: its fp32 sums, and its gradients when asked for. */
static void run_chunk(const semcl_problem *p, int64_t b, int64_t c, float *softplus_sum,
                      float *sigmoid_sum) {
  const int64_t begin = c * SEMCL_CHUNK;
  const int64_t len = p->K - begin < SEMCL_CHUNK ? p->K - begin : SEMCL_CHUNK;
  const float *neg = p->score_neg + b * p->K + begin;
  const float neg_sign = semcl_neg_sign(p->y[b]);
  if (p->grad_neg) {
    const float coef = semcl_pos_neg_neg_coef(row_scale_of(p, b), p->lambda, neg_sign, p->K);
    pos_neg_chunk_fwd_bwd(neg, p->grad_neg + b * p->K + begin, len, p->score_pos[b], neg_sign,
                          coef, softplus_sum, sigmoid_sum);
  } else {
    pos_neg_chunk_fwd(neg, len, p->score_pos[b], neg_sign, softplus_sum, sigmoid_sum);
  }
}

/* Row b after its chunks: BCE, per-sample outputs, grad_raw and grad_pos.
 * chunk_sums: (chunks, 2) fp32 partials, or NULL to run the chunks here. */
SEMCL_CPU_CLONES
static void finish_row(const semcl_problem *p, int64_t b, const float *chunk_sums, double *ctr_out,
                       double *aux_out) {
  const int64_t chunks = (p->K + SEMCL_CHUNK - 1) / SEMCL_CHUNK;
  double softplus_total = 0.0, sigmoid_total = 0.0;
  for (int64_t c = 0; c < chunks; ++c) {
    float sp, sg;
    if (chunk_sums) {
      sp = chunk_sums[2 * c];
      sg = chunk_sums[2 * c + 1];
    } else {
      run_chunk(p, b, c, &sp, &sg);
    }
    softplus_total += (double)sp;
    sigmoid_total += (double)sg;
  }
  const int none = p->reduction == SEMCL_REDUCTION_NONE;
  const int grads = p->grad_raw || p->grad_pos;
  semcl_pos_neg_finish_row(p->score_raw[b], p->y[b], p->lambda, p->K, softplus_total,
                           sigmoid_total, grads ? row_scale_of(p, b) : 0.0,
                           none ? p->loss + b : NULL, none ? p->loss_ctr + b : NULL,
                           none ? p->loss_aux + b : NULL, p->grad_raw ? p->grad_raw + b : NULL,
                           p->grad_pos ? p->grad_pos + b : NULL, ctr_out, aux_out);
}

/* Rows of block `blk`, summed in row order into the block partials. */
static void finish_block(const semcl_problem *p, int64_t blk, const float *chunk_sums,
                         double *block_ctr, double *block_aux) {
  const int64_t chunks = (p->K + SEMCL_CHUNK - 1) / SEMCL_CHUNK;
  const int64_t first = blk * SEMCL_ROW_BLOCK;
  const int64_t last = first + SEMCL_ROW_BLOCK < p->B ? first + SEMCL_ROW_BLOCK : p->B;
  double ctr_sum = 0.0, aux_sum = 0.0;
  for (int64_t b = first; b < last; ++b) {
    double ctr, aux;
    finish_row(p, b, chunk_sums ? chunk_sums + 2 * b * chunks : NULL, &ctr, &aux);
    ctr_sum += ctr;
    aux_sum += aux;
  }
  block_ctr[blk] = ctr_sum;
  block_aux[blk] = aux_sum;
}

/* Threads take whole row blocks when there are enough blocks to go round; otherwise (few
 * rows, typically with a large K) they share the rows' chunks. */
static int use_row_mode(int64_t B, int threads) {
  return (B + SEMCL_ROW_BLOCK - 1) / SEMCL_ROW_BLOCK >= (int64_t)threads;
}

size_t semcl_cpu_pos_neg_workspace(int64_t B, int64_t K, int threads) {
  const int64_t blocks = (B + SEMCL_ROW_BLOCK - 1) / SEMCL_ROW_BLOCK;
  size_t bytes = (size_t)blocks * 2 * sizeof(double);
  if (!use_row_mode(B, threads)) {
    const int64_t chunks = (K + SEMCL_CHUNK - 1) / SEMCL_CHUNK;
    bytes += (size_t)(B * chunks) * 2 * sizeof(float);
  }
  return bytes;
}

/* Pool tasks: one row block (row split) or one chunk of one row (chunk split), each writing
 * only its own partials. */
typedef struct pos_neg_job {
  const semcl_problem *p;
  int64_t chunks; /* per row */
  double *block_ctr, *block_aux;
  float *chunk_sums;
} pos_neg_job;

static void row_block_task(void *arg, int64_t blk) {
  const pos_neg_job *job = (const pos_neg_job *)arg;
  finish_block(job->p, blk, NULL, job->block_ctr, job->block_aux);
}

static void chunk_task(void *arg, int64_t c) {
  const pos_neg_job *job = (const pos_neg_job *)arg;
  run_chunk(job->p, c / job->chunks, c % job->chunks, &job->chunk_sums[2 * c],
            &job->chunk_sums[2 * c + 1]);
}

void semcl_cpu_pos_neg(const semcl_problem *p, int threads, semcl_pool **pool, void *workspace) {
  const int64_t blocks = (p->B + SEMCL_ROW_BLOCK - 1) / SEMCL_ROW_BLOCK;
  pos_neg_job job = {.p = p, .chunks = (p->K + SEMCL_CHUNK - 1) / SEMCL_CHUNK};
  job.block_ctr = (double *)workspace;
  job.block_aux = job.block_ctr + blocks;
  /* Thread only when there is enough work to pay for waking the threads; smaller calls run
   * on the calling thread without touching the pool. */
  const int run_threads = threads > 1 && p->B * p->K >= 32768 ? threads : 1;
  if (use_row_mode(p->B, threads)) {
    semcl_pool_run(pool, run_threads, blocks, row_block_task, &job);
  } else {
    /* Few long rows: threads share the chunks, then one thread folds them in order. */
    job.chunk_sums = (float *)(job.block_aux + blocks);
    semcl_pool_run(pool, run_threads, p->B * job.chunks, chunk_task, &job);
    for (int64_t blk = 0; blk < blocks; ++blk)
      finish_block(p, blk, job.chunk_sums, job.block_ctr, job.block_aux);
  }
  semcl_cpu_finish_reduction(p, job.block_ctr, job.block_aux, blocks);
}
