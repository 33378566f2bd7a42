/* semcl_buffers.c — public buffer helpers in the context's memory space. */
#include "semcl_internal.h"

semcl_status_t semcl_buffer_alloc(semcl_context *ctx, void **ptr, size_t bytes) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  if (!ptr) return semcl_fail(ctx, SEMCL_STATUS_NULL_POINTER, "semcl_buffer_alloc: ptr is NULL");
  *ptr = NULL;
  if (bytes == 0)
    return semcl_fail(ctx, SEMCL_STATUS_INVALID_SIZE, "semcl_buffer_alloc: bytes = 0");
  semcl_clear_error(ctx);
  return ctx->ops->buffer_alloc(ctx, ptr, bytes);
}

semcl_status_t semcl_buffer_free(semcl_context *ctx, void *ptr) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  semcl_clear_error(ctx);
  if (!ptr) return SEMCL_STATUS_SUCCESS;
  return ctx->ops->buffer_free(ctx, ptr);
}

/* `buffer` is the side in the context's memory space: it must not be in the other space. */
static semcl_status_t check_copy(semcl_context *ctx, const char *fn, const void *dst,
                                 const void *src, size_t bytes, const void *buffer,
                                 const char *buffer_name) {
  if (!dst) return semcl_fail(ctx, SEMCL_STATUS_NULL_POINTER, "%s: destination is NULL", fn);
  if (!src) return semcl_fail(ctx, SEMCL_STATUS_NULL_POINTER, "%s: source is NULL", fn);
  if (bytes > (size_t)INT64_MAX)
    return semcl_fail(ctx, SEMCL_STATUS_SIZE_OVERFLOW, "%s: bytes = %zu is too large", fn, bytes);
  if (ctx->ops->check_pointers) {
    const void *ptrs[1] = {buffer};
    const char *names[1] = {buffer_name};
    const semcl_status_t st = ctx->ops->check_pointers(ctx, ptrs, names, 1);
    if (st != SEMCL_STATUS_SUCCESS) return st;
  }
  semcl_clear_error(ctx);
  return SEMCL_STATUS_SUCCESS;
}

semcl_status_t semcl_upload(semcl_context *ctx, void *dst, const void *host_src, size_t bytes) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  const semcl_status_t st =
      check_copy(ctx, "semcl_upload", dst, host_src, bytes, dst, "semcl_upload: dst");
  if (st != SEMCL_STATUS_SUCCESS || bytes == 0) return st;
  return ctx->ops->upload(ctx, dst, host_src, bytes);
}

semcl_status_t semcl_download(semcl_context *ctx, void *host_dst, const void *src, size_t bytes) {
  if (!ctx) return SEMCL_STATUS_NULL_CONTEXT;
  const semcl_status_t st =
      check_copy(ctx, "semcl_download", host_dst, src, bytes, src, "semcl_download: src");
  if (st != SEMCL_STATUS_SUCCESS || bytes == 0) return st;
  return ctx->ops->download(ctx, host_dst, src, bytes);
}
