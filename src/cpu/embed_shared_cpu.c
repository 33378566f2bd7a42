/*
 * embed_shared_cpu.c — the shared pool on the CPU: for each chunk of R rows (R a power of two,
 * R*N floats at most SHARED_TILE_BYTES, so S = U N^T is never whole in memory when large):
 *   1. S_c = U_c N^T                   GEMM, tasks over fixed blocks of POOL_BLOCK pool entries
 *   2. the loss pass over S_c          tasks over fixed blocks of ROW_BLOCK rows: canonical sums,
 *                                      G written over S_c, leaves, grad_item_raw/pos, hr/hp
 *   3. dU_c = scale * G_c N            GEMM into grad_user, per row block, then + hr r + hp p
 *   4. dN  += scale * G_c^T U_c        GEMM into grad_neg_pool, per pool block (beta 0 first)
 * The partition into GEMM calls is fixed (it depends on B, N and the constants only), so every
 * call computes the same bits whatever thread runs it: results do not depend on the thread
 * count. The row blocks are aligned powers of two (nodes of the tree T over rows), their leaf
 * sums go to slots by block index, and T over the slots gives the reduced losses.
 *
 * The GEMM is the BLAS found at build time or the builtin one (semcl_cpu_gemm_for). Calls into
 * a BLAS run on at most BLAS_MAX_CALLERS threads at once: OpenBLAS keeps a fixed number of
 * buffers for concurrent callers.
 */
#include <stdint.h>
#include <string.h>

#include "embed_kernels.h"
#include "thread_pool.h"

/* 32 MiB: at B=4096, N=8192, D=128 the loss pass and the chunking add 3-16 % to the three
 * GEMMs alone (8 MiB: 18-24 %: dN's GEMMs of k = R rows were too thin). */
#define SHARED_TILE_BYTES ((int64_t)32 << 20)
#define POOL_BLOCK 2048
#define ROW_BLOCK 64
#define BLAS_MAX_CALLERS 32

static int64_t rows_per_chunk(int64_t B, int64_t N) {
  int64_t r = 1;
  while (r < B && r * 2 * N * (int64_t)sizeof(float) <= SHARED_TILE_BYTES) r *= 2;
  return r;
}

static int64_t row_block(int64_t R) { return R < ROW_BLOCK ? R : ROW_BLOCK; }

/* Workspace: S chunk (R*N floats) | hr, hp (R floats each) | counts (B int64) | slot sums
 * (2 x row blocks doubles). */
typedef struct layout {
  size_t s, hr, hp, counts, sums, total;
} layout;

static layout make_layout(int64_t B, int64_t N) {
  const int64_t R = rows_per_chunk(B, N), rb = row_block(R);
  layout l;
  l.s = 0;
  l.hr = l.s + semcl_round16((size_t)(R * N) * sizeof(float));
  l.hp = l.hr + semcl_round16((size_t)R * sizeof(float));
  l.counts = l.hp + semcl_round16((size_t)R * sizeof(float));
  l.sums = l.counts + semcl_round16((size_t)B * sizeof(int64_t));
  l.total = l.sums + semcl_round16((size_t)((B + rb - 1) / rb) * 2 * sizeof(double));
  return l;
}

size_t semcl_cpu_shared_workspace(int64_t B, int64_t N, int threads) {
  (void)threads;
  return make_layout(B, N).total;
}

typedef struct job {
  const semcl_cpu_embed_kernels *k;
  semcl_gemm_fn gemm;
  semcl_embed_call call;
  int64_t R, rb;          /* rows per chunk, rows per row block */
  int64_t r0, rows;       /* the current chunk */
  int64_t chunk_index;
  float *S, *hr, *hp;
  int64_t *counts;
  double *slot_ctr, *slot_aux;
} job;

static int64_t block_len(int64_t first, int64_t block, int64_t end) {
  return end - first < block ? end - first : block;
}

static void count_task(void *arg, int64_t t) {
  const job *j = (const job *)arg;
  const int64_t first = t * j->rb;
  semcl_embed_count_rows(j->call.p, first, block_len(first, j->rb, j->call.p->B), j->counts);
}

static void scores_task(void *arg, int64_t t) {
  const job *j = (const job *)arg;
  const semcl_embed_problem *p = j->call.p;
  const int64_t j0 = t * POOL_BLOCK, D = p->D;
  j->gemm('T', 'N', (int)block_len(j0, POOL_BLOCK, p->K), (int)j->rows, (int)D, 1.0f,
          (const float *)p->item_neg + j0 * D, (int)D, (const float *)p->user + j->r0 * D,
          (int)D, 0.0f, j->S + j0, (int)p->K);
}

static void loss_task(void *arg, int64_t t) {
  const job *j = (const job *)arg;
  const int64_t first = j->r0 + t * j->rb;
  const int64_t slot = first / j->rb;
  j->k->shared_rows(&j->call, j->S, j->r0, first, block_len(first, j->rb, j->r0 + j->rows),
                    j->hr, j->hp, &j->slot_ctr[slot], &j->slot_aux[slot]);
}

static void user_task(void *arg, int64_t t) {
  const job *j = (const job *)arg;
  const semcl_embed_problem *p = j->call.p;
  const int64_t first = j->r0 + t * j->rb, D = p->D;
  const int64_t n = block_len(first, j->rb, j->r0 + j->rows);
  j->gemm('N', 'N', (int)D, (int)n, (int)p->K, p->score_scale, (const float *)p->item_neg,
          (int)D, j->S + (first - j->r0) * p->K, (int)p->K, 0.0f,
          (float *)p->grad_user + first * D, (int)D);
  j->k->shared_user_rows(&j->call, j->r0, first, n, j->hr, j->hp);
}

static void pool_task(void *arg, int64_t t) {
  const job *j = (const job *)arg;
  const semcl_embed_problem *p = j->call.p;
  const int64_t j0 = t * POOL_BLOCK, D = p->D;
  j->gemm('N', 'T', (int)D, (int)block_len(j0, POOL_BLOCK, p->K), (int)j->rows, p->score_scale,
          (const float *)p->user + j->r0 * D, (int)D, j->S + j0, (int)p->K,
          j->chunk_index == 0 ? 0.0f : 1.0f, (float *)p->grad_item_neg + j0 * D, (int)D);
}

void semcl_cpu_shared_run(semcl_context *ctx, const semcl_embed_problem *p, int threads,
                          void *workspace) {
  const layout l = make_layout(p->B, p->K);
  char *ws = (char *)workspace;
  job j;
  j.k = semcl_cpu_embed_kernels_for(ctx->cpu_isa);
  j.gemm = semcl_cpu_gemm_for(ctx);
  j.R = rows_per_chunk(p->B, p->K);
  j.rb = row_block(j.R);
  j.S = (float *)(ws + l.s);
  j.hr = (float *)(ws + l.hr);
  j.hp = (float *)(ws + l.hp);
  j.counts = (int64_t *)(ws + l.counts);
  j.slot_ctr = (double *)(ws + l.sums);
  const int64_t blocks = (p->B + j.rb - 1) / j.rb;
  j.slot_aux = j.slot_ctr + blocks;
  j.call.p = p;
  j.call.counts = NULL;
  const int gemm_threads = ctx->cpu_gemm_builtin || threads < BLAS_MAX_CALLERS
                               ? threads
                               : BLAS_MAX_CALLERS;

  double N = (double)p->B * (double)p->K;
  if (semcl_embed_masked(p)) {
    semcl_pool_run(&ctx->pool, threads, blocks, count_task, &j);
    int64_t real = 0; /* an exact integer sum: any order */
    for (int64_t b = 0; b < p->B; ++b) real += j.counts[b];
    N = (double)real;
    j.call.counts = j.counts;
  }
  j.call.rc = semcl_cpu_row_consts_of(p->lambda, p->grad_scale, p->grad_upstream,
                                      (int)p->reduction, p->B, N);

  const int64_t pool_blocks = (p->K + POOL_BLOCK - 1) / POOL_BLOCK;
  j.chunk_index = 0;
  for (j.r0 = 0; j.r0 < p->B; j.r0 += j.R, ++j.chunk_index) {
    j.rows = block_len(j.r0, j.R, p->B);
    const int64_t row_blocks = (j.rows + j.rb - 1) / j.rb;
    semcl_pool_run(&ctx->pool, gemm_threads, pool_blocks, scores_task, &j);
    semcl_pool_run(&ctx->pool, threads, row_blocks, loss_task, &j);
    if (p->grad_user) semcl_pool_run(&ctx->pool, gemm_threads, row_blocks, user_task, &j);
    if (p->grad_item_neg) semcl_pool_run(&ctx->pool, gemm_threads, pool_blocks, pool_task, &j);
  }
  semcl_cpu_finish_losses(p->reduction, &j.call.rc, j.slot_ctr, j.slot_aux, blocks, N, p->loss,
                          p->loss_ctr, p->loss_aux);
}
