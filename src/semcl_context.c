/* semcl_context.c — context lifetime, settings, error messages and workspace. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_kernels.h"
#include "cpu/cpu_count.h"
#include "cpu/embed_kernels.h"
#include "cpu/thread_pool.h"
#include "semcl_internal.h"

semcl_status_t semcl_fail(semcl_context *ctx, semcl_status_t status, const char *format, ...) {
  if (ctx) {
    va_list args;
    va_start(args, format);
    vsnprintf(ctx->message, sizeof ctx->message, format, args);
    va_end(args);
  }
  return status;
}

void semcl_clear_error(semcl_context *ctx) { ctx->message[0] = '\0'; }

/* The getters take a const context but still record why they failed: the message is the
 * context's error state, and every context is a heap object, never defined const. */
static semcl_context *writable(const semcl_context *ctx) { return (semcl_context *)ctx; }

const char *semcl_last_error(const semcl_context *ctx) {
  return ctx ? ctx->message : "semcl_last_error: the context is NULL";
}

int semcl_effective_threads(const semcl_context *ctx) {
  return ctx->threads > 0 ? ctx->threads : semcl_cpu_count();
}

/* note = prefix + detail, truncated to the note's capacity. */
static void set_backend_note(semcl_context *ctx, const char *prefix, const char *detail) {
  const size_t cap = sizeof ctx->backend_note;
  size_t n = strlen(prefix);
  if (n >= cap) n = cap - 1;
  memcpy(ctx->backend_note, prefix, n);
  size_t m = strlen(detail);
  if (m > cap - 1 - n) m = cap - 1 - n;
  memcpy(ctx->backend_note + n, detail, m);
  ctx->backend_note[n + m] = '\0';
}

semcl_status_t semcl_create(semcl_context **out, semcl_backend_t backend) {
  if (!out) return SEMCL_STATUS_NULL_POINTER;
  *out = NULL;
  if (backend != SEMCL_BACKEND_AUTO && backend != SEMCL_BACKEND_CPU &&
      backend != SEMCL_BACKEND_CUDA)
    return SEMCL_STATUS_INVALID_ENUM;
#if !defined(SEMCL_HAVE_CUDA)
  if (backend == SEMCL_BACKEND_CUDA) return SEMCL_STATUS_BACKEND_UNAVAILABLE;
#endif
  semcl_context *ctx = (semcl_context *)calloc(1, sizeof *ctx);
  if (!ctx) return SEMCL_STATUS_OUT_OF_MEMORY;
  ctx->backend = SEMCL_BACKEND_CPU;
  ctx->ops = &semcl_cpu_backend;
  ctx->cpu_isa = semcl_cpu_isa_default();
  ctx->cpu_gemm_builtin = semcl_cpu_gemm_default_builtin();
  if (backend == SEMCL_BACKEND_CPU) { /* never touches the CUDA runtime (fork-safe) */
    *out = ctx;
    return SEMCL_STATUS_SUCCESS;
  }
  static const char auto_cpu[] = "SEMCL_BACKEND_AUTO chose the CPU: ";
#if defined(SEMCL_HAVE_CUDA)
  char why[SEMCL_NOTE_CAPACITY];
  if (!semcl_cuda_device_usable(why, sizeof why)) {
    if (backend == SEMCL_BACKEND_CUDA) {
      free(ctx);
      return SEMCL_STATUS_BACKEND_UNAVAILABLE;
    }
    set_backend_note(ctx, auto_cpu, why);
    *out = ctx;
    return SEMCL_STATUS_SUCCESS;
  }
  ctx->backend = SEMCL_BACKEND_CUDA;
  ctx->ops = &semcl_cuda_backend;
  const semcl_status_t st = semcl_cuda_init_context(ctx);
  if (st != SEMCL_STATUS_SUCCESS) {
    if (backend == SEMCL_BACKEND_CUDA) {
      free(ctx);
      return st;
    }
    /* A device is visible but no CUDA context can be made on it (exclusive-process mode held
     * by another process, out of device memory, ...): AUTO still gives a working context. */
    set_backend_note(ctx, auto_cpu, ctx->message);
    semcl_clear_error(ctx);
    ctx->backend = SEMCL_BACKEND_CPU;
    ctx->ops = &semcl_cpu_backend;
  }
#else
  set_backend_note(ctx, auto_cpu, "this library was built without the CUDA backend");
#endif
  *out = ctx;
  return SEMCL_STATUS_SUCCESS;
}

void semcl_destroy(semcl_context *ctx) {
  if (!ctx) return;
  semcl_pool_destroy(ctx->pool);
  if (ctx->own_workspace) ctx->ops->buffer_free(ctx, ctx->own_workspace);
  if (ctx->ops->release) ctx->ops->release(ctx);
  free(ctx);
}

semcl_status_t semcl_get_backend(const semcl_context *ctx, semcl_backend_t *backend) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  if (!backend)
    return semcl_fail(writable(ctx), SEMCL_STATUS_NULL_POINTER,
                      "semcl_get_backend: backend is NULL");
  *backend = ctx->backend;
  return SEMCL_STATUS_SUCCESS;
}

semcl_status_t semcl_set_threads(semcl_context *ctx, int threads) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  if (threads < 0 || threads > SEMCL_MAX_THREADS)
    return semcl_fail(ctx, SEMCL_STATUS_INVALID_VALUE,
                      "semcl_set_threads: threads = %d, must be 0 (all cores) or 1..%d", threads,
                      SEMCL_MAX_THREADS);
  ctx->threads = threads;
  semcl_clear_error(ctx);
  return SEMCL_STATUS_SUCCESS;
}

semcl_status_t semcl_get_threads(const semcl_context *ctx, int *threads) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  if (!threads)
    return semcl_fail(writable(ctx), SEMCL_STATUS_NULL_POINTER,
                      "semcl_get_threads: threads is NULL");
  *threads = ctx->threads;
  return SEMCL_STATUS_SUCCESS;
}

semcl_status_t semcl_set_cpu_isa(semcl_context *ctx, semcl_cpu_isa_t isa) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  if (isa != SEMCL_CPU_ISA_SCALAR && isa != SEMCL_CPU_ISA_AVX2 && isa != SEMCL_CPU_ISA_AVX512)
    return semcl_fail(ctx, SEMCL_STATUS_INVALID_ENUM,
                      "semcl_set_cpu_isa: isa = %d is not SEMCL_CPU_ISA_SCALAR, _AVX2 or _AVX512",
                      (int)isa);
  if (!semcl_cpu_isa_supported(isa))
    return semcl_fail(ctx, SEMCL_STATUS_INVALID_VALUE,
                      "semcl_set_cpu_isa: this CPU does not support %s (best: %s)",
                      semcl_cpu_isa_name(isa), semcl_cpu_isa_name(semcl_cpu_isa_best()));
  ctx->cpu_isa = isa;
  semcl_clear_error(ctx);
  return SEMCL_STATUS_SUCCESS;
}

semcl_status_t semcl_get_cpu_isa(const semcl_context *ctx, semcl_cpu_isa_t *isa) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  if (!isa)
    return semcl_fail(writable(ctx), SEMCL_STATUS_NULL_POINTER, "semcl_get_cpu_isa: isa is NULL");
  *isa = ctx->cpu_isa;
  return SEMCL_STATUS_SUCCESS;
}

semcl_status_t semcl_set_stream(semcl_context *ctx, struct CUstream_st *stream) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  ctx->stream = stream; /* the workspace is stream-ordered memory of the context: kept */
  semcl_clear_error(ctx);
  return SEMCL_STATUS_SUCCESS;
}

semcl_status_t semcl_get_stream(const semcl_context *ctx, struct CUstream_st **stream) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  if (!stream)
    return semcl_fail(writable(ctx), SEMCL_STATUS_NULL_POINTER,
                      "semcl_get_stream: stream is NULL");
  *stream = ctx->stream;
  return SEMCL_STATUS_SUCCESS;
}

const char *semcl_backend_note(const semcl_context *ctx) {
  return ctx ? ctx->backend_note : "semcl_backend_note: the context is NULL";
}

semcl_status_t semcl_set_pointer_checks(semcl_context *ctx, int enabled) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  if (enabled != 0 && enabled != 1)
    return semcl_fail(ctx, SEMCL_STATUS_INVALID_VALUE,
                      "semcl_set_pointer_checks: enabled = %d, must be 0 or 1", enabled);
  ctx->pointer_checks_off = !enabled;
  semcl_clear_error(ctx);
  return SEMCL_STATUS_SUCCESS;
}

semcl_status_t semcl_get_pointer_checks(const semcl_context *ctx, int *enabled) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  if (!enabled)
    return semcl_fail(writable(ctx), SEMCL_STATUS_NULL_POINTER,
                      "semcl_get_pointer_checks: enabled is NULL");
  *enabled = !ctx->pointer_checks_off;
  return SEMCL_STATUS_SUCCESS;
}

semcl_status_t semcl_synchronize(semcl_context *ctx) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  semcl_clear_error(ctx);
  return ctx->ops->synchronize(ctx);
}

semcl_status_t semcl_acquire_workspace(semcl_context *ctx, size_t bytes, semcl_alloc_fn alloc,
                                       semcl_free_fn release, void **workspace) {
  if (ctx->user_workspace) {
    if (ctx->user_workspace_bytes < bytes)
      return semcl_fail(ctx, SEMCL_STATUS_INVALID_VALUE,
                        "workspace: the caller's workspace has %zu bytes, this call needs %zu "
                        "(see semcl_get_workspace_size)",
                        ctx->user_workspace_bytes, bytes);
    *workspace = ctx->user_workspace;
    return SEMCL_STATUS_SUCCESS;
  }
  if (ctx->own_workspace_bytes < bytes || !ctx->own_workspace) {
    /* Grow geometrically so that slowly growing batches do not reallocate every call. */
    size_t grown = ctx->own_workspace_bytes + ctx->own_workspace_bytes / 2;
    if (grown < bytes) grown = bytes;
    if (grown < 256) grown = 256;
    void *mem = alloc(ctx, grown);
    if (!mem) {
      if (ctx->message[0] == '\0')
        semcl_fail(ctx, SEMCL_STATUS_OUT_OF_MEMORY,
                   "workspace: allocating %zu bytes failed", grown);
      return SEMCL_STATUS_OUT_OF_MEMORY;
    }
    if (ctx->own_workspace) release(ctx, ctx->own_workspace);
    ctx->own_workspace = mem;
    ctx->own_workspace_bytes = grown;
  }
  *workspace = ctx->own_workspace;
  return SEMCL_STATUS_SUCCESS;
}

semcl_status_t semcl_set_workspace(semcl_context *ctx, void *workspace, size_t bytes) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  if ((workspace == NULL) != (bytes == 0))
    return semcl_fail(ctx, SEMCL_STATUS_INVALID_VALUE,
                      "semcl_set_workspace: workspace %s NULL but bytes = %zu; pass (NULL, 0) "
                      "to return to the context's own workspace",
                      workspace ? "is not" : "is", bytes);
  if (((uintptr_t)workspace & 15u) != 0)
    return semcl_fail(ctx, SEMCL_STATUS_INVALID_VALUE,
                      "semcl_set_workspace: workspace must be 16-byte aligned");
  if (workspace && ctx->ops->check_pointers) {
    const void *ptrs[1] = {workspace};
    const char *names[1] = {"semcl_set_workspace: workspace"};
    const semcl_status_t st = ctx->ops->check_pointers(ctx, ptrs, names, 1);
    if (st != SEMCL_STATUS_SUCCESS) return st;
  }
  ctx->user_workspace = workspace;
  ctx->user_workspace_bytes = bytes;
  semcl_clear_error(ctx);
  return SEMCL_STATUS_SUCCESS;
}

semcl_status_t semcl_get_workspace_size(const semcl_context *ctx, semcl_loss_kind_t kind,
                                        int64_t B, int64_t K, size_t *bytes) {
  static const char fn[] = "semcl_get_workspace_size";
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  semcl_context *err = writable(ctx);
  if (!bytes) return semcl_fail(err, SEMCL_STATUS_NULL_POINTER, "%s: bytes is NULL", fn);
  if (kind != SEMCL_LOSS_POSITIVE_ONLY && kind != SEMCL_LOSS_POS_NEG)
    return semcl_fail(err, SEMCL_STATUS_INVALID_ENUM,
                      "%s: kind = %d is not SEMCL_LOSS_POSITIVE_ONLY or SEMCL_LOSS_POS_NEG", fn,
                      (int)kind);
  if (K <= 0) return semcl_check_sizes(err, fn, B, K); /* K is checked even when ignored */
  /* The loss calls' limits; the positive-only loss has K = 1. */
  const int64_t k = kind == SEMCL_LOSS_POS_NEG ? K : 1;
  const semcl_status_t st = semcl_check_sizes(err, fn, B, k);
  if (st != SEMCL_STATUS_SUCCESS) return st;
  return ctx->ops->workspace_size(ctx, kind, B, k, bytes);
}
