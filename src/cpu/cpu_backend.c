/* cpu_backend.c — the CPU backend: host workspace, host buffers, dispatch to the kernels. */
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"
#include "../semcl_embed_stage.h"
#include "embed_kernels.h"

static size_t workspace_bytes(semcl_loss_kind_t kind, int64_t B, int64_t K, int threads) {
  return kind == SEMCL_LOSS_POS_NEG ? semcl_cpu_pos_neg_workspace(B, K, threads)
                                    : semcl_cpu_positive_only_workspace(B, threads);
}

/* The thread count of a call: 1 for calls too small to share (without reading the CPU count:
 * a system call), else the context's setting. */
static int call_threads(const semcl_context *ctx, semcl_loss_kind_t kind, int64_t B, int64_t K) {
  const int parallel = kind == SEMCL_LOSS_POS_NEG ? semcl_cpu_pos_neg_parallel(B, K)
                                                  : semcl_cpu_positive_only_parallel(B);
  return parallel ? semcl_effective_threads(ctx) : 1;
}

static semcl_status_t cpu_workspace_size(const semcl_context *ctx, semcl_loss_kind_t kind,
                                         int64_t B, int64_t K, size_t *bytes) {
  *bytes = workspace_bytes(kind, B, K, call_threads(ctx, kind, B, K));
  return SEMCL_STATUS_SUCCESS;
}

static void *host_alloc(semcl_context *ctx, size_t bytes) {
  (void)ctx;
  return malloc(bytes);
}

static void host_free(semcl_context *ctx, void *ptr) {
  (void)ctx;
  free(ptr);
}

static semcl_status_t cpu_run(semcl_context *ctx, const semcl_problem *p) {
  /* Read once: the workspace size and the kernel's split must agree on it. */
  const int threads = call_threads(ctx, p->kind, p->B, p->K);
  void *workspace = NULL;
  semcl_status_t st = semcl_acquire_workspace(ctx, workspace_bytes(p->kind, p->B, p->K, threads),
                                              host_alloc, host_free, &workspace);
  if (st != SEMCL_STATUS_SUCCESS) return st;
  if (p->kind == SEMCL_LOSS_POS_NEG)
    semcl_cpu_pos_neg(ctx, p, threads, workspace);
  else
    semcl_cpu_positive_only(ctx, p, threads, workspace);
  return SEMCL_STATUS_SUCCESS;
}

static semcl_status_t cpu_embed_workspace_size(const semcl_context *ctx, int kind, int64_t B,
                                               int64_t K, int64_t D, int staged,
                                               size_t *bytes) {
  *bytes = semcl_cpu_embed_workspace(kind, B, K, D, semcl_effective_threads(ctx), staged);
  return SEMCL_STATUS_SUCCESS;
}

static semcl_status_t cpu_run_embed(semcl_context *ctx, const semcl_embed_problem *p) {
  /* Read once: the workspace size and the kernel's split must agree on it. */
  const int threads = semcl_effective_threads(ctx);
  void *workspace = NULL;
  const semcl_status_t st = semcl_acquire_workspace(
      ctx, semcl_cpu_embed_workspace(p->kind, p->B, p->K, p->D, threads,
                                     semcl_embed_staged(p->dtype)),
      host_alloc, host_free,
      &workspace);
  if (st != SEMCL_STATUS_SUCCESS) return st;
  semcl_cpu_embed_run(ctx, p, threads, workspace);
  return SEMCL_STATUS_SUCCESS;
}

static semcl_status_t cpu_buffer_alloc(semcl_context *ctx, void **ptr, size_t bytes) {
  void *mem = malloc(bytes ? bytes : 1);
  if (!mem)
    return semcl_fail(ctx, SEMCL_STATUS_OUT_OF_MEMORY, "semcl_buffer_alloc: malloc(%zu) failed",
                      bytes);
  *ptr = mem;
  return SEMCL_STATUS_SUCCESS;
}

static semcl_status_t cpu_buffer_free(semcl_context *ctx, void *ptr) {
  (void)ctx;
  free(ptr);
  return SEMCL_STATUS_SUCCESS;
}

static semcl_status_t cpu_copy(semcl_context *ctx, void *dst, const void *src, size_t bytes) {
  (void)ctx;
  memmove(dst, src, bytes);
  return SEMCL_STATUS_SUCCESS;
}

static semcl_status_t cpu_synchronize(semcl_context *ctx) {
  (void)ctx;
  return SEMCL_STATUS_SUCCESS;
}

#if defined(SEMCL_HAVE_CUDA)
/* In a CUDA build a device pointer handed to a CPU context can be recognised: refuse it
 * instead of crashing on it. */
static semcl_status_t cpu_check_pointers(semcl_context *ctx, const void *const *pointers,
                                         const char *const *names, int count) {
  return semcl_cuda_refuse_device_pointers(ctx, pointers, names, count);
}
#define SEMCL_CPU_CHECK_POINTERS cpu_check_pointers
#else
#define SEMCL_CPU_CHECK_POINTERS NULL
#endif

const semcl_backend_ops semcl_cpu_backend = {
    .run = cpu_run,
    .workspace_size = cpu_workspace_size,
    .check_pointers = SEMCL_CPU_CHECK_POINTERS,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .synchronize = cpu_synchronize,
    .release = NULL,
    .run_embed = cpu_run_embed,
    .embed_workspace_size = cpu_embed_workspace_size,
};
