/*
 * cuda_backend.cu — the CUDA backend: device selection, pointer checks, device workspace and
 * buffers, stream-ordered copies, dispatch to the loss launchers.
 *
 * Rules kept here:
 *  - every CUDA call is checked; a failure becomes a status (cudaErrorMemoryAllocation ->
 *    SEMCL_STATUS_OUT_OF_MEMORY, anything else -> SEMCL_STATUS_CUDA_ERROR) with the CUDA
 *    error's name and text in the context message, and the runtime's non-sticky last error
 *    is cleared so that it is not reported again by a later, unrelated call;
 *  - a context remembers its device: every call runs on it and restores the caller's
 *    current device afterwards;
 *  - compute calls only enqueue work on the context's stream (no host synchronisation), except
 *    when the context's own workspace has to grow: the old one is freed after the work that
 *    used it has finished;
 *  - the workspace is acquired before anything is launched, so a failing call writes nothing.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cuda_common.h"

typedef struct cuda_state {
  int device;             /* the device the context was created on */
  cudaEvent_t last_use;   /* recorded after each call's last kernel */
  int has_last_use;       /* last_use has been recorded at least once */
  cudaStream_t last_stream; /* the stream of the last call */
  cudaError_t alloc_error;  /* the error of the last failed workspace allocation */
} cuda_state;

static cuda_state *state_of(const semcl_context *ctx) { return (cuda_state *)ctx->backend_state; }

static cudaStream_t stream_of(const semcl_context *ctx) { return (cudaStream_t)ctx->stream; }

extern "C" semcl_status_t semcl_cuda_fail(semcl_context *ctx, cudaError_t err, const char *what) {
  (void)cudaGetLastError(); /* clear the non-sticky error; a sticky one stays regardless */
  const semcl_status_t status = err == cudaErrorMemoryAllocation ? SEMCL_STATUS_OUT_OF_MEMORY
                                                                 : SEMCL_STATUS_CUDA_ERROR;
  return semcl_fail(ctx, status, "%s: %s: %s", what, cudaGetErrorName(err),
                    cudaGetErrorString(err));
}

/* ---- the context's device --------------------------------------------------------------- */

typedef struct device_guard {
  int previous;
  int switched;
} device_guard;

/* Makes the context's device current for this call; leave_device restores the caller's. */
static semcl_status_t enter_device(semcl_context *ctx, const char *fn, device_guard *guard) {
  char what[128];
  guard->previous = 0;
  guard->switched = 0;
  cudaError_t err = cudaGetDevice(&guard->previous);
  if (err != cudaSuccess) {
    snprintf(what, sizeof what, "%s: cudaGetDevice", fn);
    return semcl_cuda_fail(ctx, err, what);
  }
  const int device = state_of(ctx)->device;
  if (guard->previous != device) {
    err = cudaSetDevice(device);
    if (err != cudaSuccess) {
      snprintf(what, sizeof what, "%s: cudaSetDevice(%d)", fn, device);
      return semcl_cuda_fail(ctx, err, what);
    }
    guard->switched = 1;
  }
  return SEMCL_STATUS_SUCCESS;
}

static void leave_device(const device_guard *guard) {
  if (guard->switched && cudaSetDevice(guard->previous) != cudaSuccess)
    (void)cudaGetLastError();
}

/* ---- device discovery (safe without a driver) -------------------------------------------- */

/* Number of CUDA devices; 0 on any error (no driver, driver too old, no device). */
static int device_count(void) {
  int count = 0; /* cudaGetDeviceCount leaves it unwritten on error */
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count > 0 ? count : 0;
}

extern "C" int semcl_cuda_device_usable(void) {
  if (device_count() == 0) return 0;
  int device = 0, major = 0, minor = 0, mode = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&mode, cudaDevAttrComputeMode, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  /* The oldest code in the library is compute_75 PTX. */
  if (major * 10 + minor < 75) return 0;
  if (mode == cudaComputeModeProhibited) return 0;
  return 1;
}

extern "C" semcl_status_t semcl_cuda_init_context(semcl_context *ctx) {
  cuda_state *st = (cuda_state *)calloc(1, sizeof *st);
  if (!st)
    return semcl_fail(ctx, SEMCL_STATUS_OUT_OF_MEMORY, "semcl_create: out of host memory");
  cudaError_t err = cudaGetDevice(&st->device);
  if (err == cudaSuccess) err = cudaEventCreateWithFlags(&st->last_use, cudaEventDisableTiming);
  if (err != cudaSuccess) {
    free(st);
    return semcl_cuda_fail(ctx, err, "semcl_create: setting up the CUDA context");
  }
  st->alloc_error = cudaSuccess;
  ctx->backend_state = st;
  return SEMCL_STATUS_SUCCESS;
}

static void cuda_release(semcl_context *ctx) {
  cuda_state *st = state_of(ctx);
  if (!st) return;
  device_guard guard;
  if (enter_device(ctx, "semcl_destroy", &guard) == SEMCL_STATUS_SUCCESS) {
    if (cudaEventDestroy(st->last_use) != cudaSuccess) (void)cudaGetLastError();
    leave_device(&guard);
  }
  free(st);
  ctx->backend_state = NULL;
}

/* ---- pointer checks --------------------------------------------------------------------- */

/* The memory type of `ptr` as the runtime sees it; unregistered host memory on error. */
static enum cudaMemoryType memory_type(const void *ptr, int *device) {
  struct cudaPointerAttributes attr;
  memset(&attr, 0, sizeof attr);
  if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
    (void)cudaGetLastError();
    *device = -1;
    return cudaMemoryTypeUnregistered;
  }
  *device = attr.device;
  return attr.type;
}

static const char *host_kind(enum cudaMemoryType type) {
  return type == cudaMemoryTypeHost ? "pinned host memory" : "host memory";
}

/* CUDA context: every array must be device memory of the context's device, or managed. */
static semcl_status_t cuda_check_pointers(semcl_context *ctx, const void *const *pointers,
                                          const char *const *names, int count) {
  const int own = state_of(ctx)->device;
  for (int i = 0; i < count; ++i) {
    int device = -1;
    const enum cudaMemoryType type = memory_type(pointers[i], &device);
    if (type == cudaMemoryTypeManaged) continue;
    if (type == cudaMemoryTypeDevice) {
      if (device == own) continue;
      return semcl_fail(ctx, SEMCL_STATUS_WRONG_MEMORY_SPACE,
                        "%s is device memory of CUDA device %d, but the context runs on device %d",
                        names[i], device, own);
    }
    return semcl_fail(ctx, SEMCL_STATUS_WRONG_MEMORY_SPACE,
                      "%s is %s, but the context is a CUDA context: pass device (or managed) "
                      "memory, e.g. from semcl_buffer_alloc",
                      names[i], host_kind(type));
  }
  return SEMCL_STATUS_SUCCESS;
}

/* Whether this process can see a CUDA device at all (cached: it cannot change). */
static int any_device(void) {
  static int cached = -1; /* -1 unknown, else 0/1; racing threads store the same value */
  int known = __atomic_load_n(&cached, __ATOMIC_RELAXED);
  if (known < 0) {
    known = device_count() > 0;
    __atomic_store_n(&cached, known, __ATOMIC_RELAXED);
  }
  return known;
}

extern "C" semcl_status_t semcl_cuda_refuse_device_pointers(semcl_context *ctx,
                                                             const void *const *pointers,
                                                             const char *const *names,
                                                             int count) {
  if (!any_device()) return SEMCL_STATUS_SUCCESS; /* no driver or device: nothing to refuse */
  for (int i = 0; i < count; ++i) {
    int device = -1;
    if (memory_type(pointers[i], &device) == cudaMemoryTypeDevice)
      return semcl_fail(ctx, SEMCL_STATUS_WRONG_MEMORY_SPACE,
                        "%s is device memory of CUDA device %d, but the context is a CPU "
                        "context: pass host (or managed) memory",
                        names[i], device);
  }
  return SEMCL_STATUS_SUCCESS;
}

/* ---- workspace ------------------------------------------------------------------------- */

static size_t workspace_bytes(semcl_loss_kind_t kind, int64_t B, int64_t K) {
  return kind == SEMCL_LOSS_POS_NEG ? semcl_cuda_pos_neg_workspace(B, K)
                                    : semcl_cuda_positive_only_workspace(B);
}

static semcl_status_t cuda_workspace_size(const semcl_context *ctx, semcl_loss_kind_t kind,
                                          int64_t B, int64_t K, size_t *bytes) {
  (void)ctx;
  *bytes = workspace_bytes(kind, B, K);
  return SEMCL_STATUS_SUCCESS;
}

/* Waits until the previous call's kernels are done (only before freeing the workspace). */
static void wait_last_use(semcl_context *ctx) {
  cuda_state *st = state_of(ctx);
  if (st->has_last_use && cudaEventSynchronize(st->last_use) != cudaSuccess)
    (void)cudaGetLastError();
}

static void *device_alloc(semcl_context *ctx, size_t bytes) {
  void *ptr = NULL;
  const cudaError_t err = cudaMalloc(&ptr, bytes);
  if (err != cudaSuccess) {
    char what[96];
    snprintf(what, sizeof what, "workspace: cudaMalloc(%zu bytes)", bytes);
    state_of(ctx)->alloc_error = err;
    semcl_cuda_fail(ctx, err, what);
    return NULL;
  }
  return ptr;
}

static void device_free(semcl_context *ctx, void *ptr) {
  wait_last_use(ctx); /* cudaFree alone does not promise to wait for the kernels using it */
  if (cudaFree(ptr) != cudaSuccess) (void)cudaGetLastError();
}

/* ---- the losses ------------------------------------------------------------------------ */

/* After semcl_set_stream, work enqueued on the new stream is ordered after the previous
 * loss call (which ran on the old stream): a device-side wait, no host synchronisation. */
static cudaError_t order_after_last_call(semcl_context *ctx, cudaStream_t stream) {
  const cuda_state *st = state_of(ctx);
  if (!st->has_last_use || st->last_stream == stream) return cudaSuccess;
  return cudaStreamWaitEvent(stream, st->last_use, 0);
}

static semcl_status_t run_on_device(semcl_context *ctx, const semcl_problem *p) {
  cuda_state *st = state_of(ctx);
  const cudaStream_t stream = stream_of(ctx);
  /* The workspace was last used on another stream: order this call after that use. */
  cudaError_t err = order_after_last_call(ctx, stream);
  if (err != cudaSuccess)
    return semcl_cuda_fail(ctx, err, "ordering the workspace after the previous stream");
  void *workspace = NULL;
  st->alloc_error = cudaSuccess;
  semcl_status_t status = semcl_acquire_workspace(
      ctx, workspace_bytes(p->kind, p->B, p->K), device_alloc, device_free, &workspace);
  if (status != SEMCL_STATUS_SUCCESS) {
    /* semcl_acquire_workspace reports every failed allocation as OUT_OF_MEMORY. */
    if (status == SEMCL_STATUS_OUT_OF_MEMORY && st->alloc_error != cudaSuccess &&
        st->alloc_error != cudaErrorMemoryAllocation)
      status = SEMCL_STATUS_CUDA_ERROR;
    return status;
  }
  status = p->kind == SEMCL_LOSS_POS_NEG
               ? semcl_cuda_pos_neg_launch(ctx, p, workspace, stream)
               : semcl_cuda_positive_only_launch(ctx, p, workspace, stream);
  if (status != SEMCL_STATUS_SUCCESS) return status;
  err = cudaEventRecord(st->last_use, stream);
  if (err != cudaSuccess) return semcl_cuda_fail(ctx, err, "recording the workspace's last use");
  st->has_last_use = 1;
  st->last_stream = stream;
  return SEMCL_STATUS_SUCCESS;
}

static semcl_status_t cuda_run(semcl_context *ctx, const semcl_problem *p) {
  (void)cudaGetLastError(); /* a stale non-sticky error belongs to an earlier call */
  device_guard guard;
  semcl_status_t status = enter_device(ctx, "semcl loss", &guard);
  if (status != SEMCL_STATUS_SUCCESS) return status;
  status = run_on_device(ctx, p);
  leave_device(&guard);
  return status;
}

/* ---- buffers and copies ---------------------------------------------------------------- */

static semcl_status_t cuda_buffer_alloc(semcl_context *ctx, void **ptr, size_t bytes) {
  device_guard guard;
  semcl_status_t status = enter_device(ctx, "semcl_buffer_alloc", &guard);
  if (status != SEMCL_STATUS_SUCCESS) return status;
  void *mem = NULL;
  const cudaError_t err = cudaMalloc(&mem, bytes);
  if (err != cudaSuccess) {
    char what[96];
    snprintf(what, sizeof what, "semcl_buffer_alloc: cudaMalloc(%zu bytes)", bytes);
    status = semcl_cuda_fail(ctx, err, what);
  } else {
    *ptr = mem;
  }
  leave_device(&guard);
  return status;
}

static semcl_status_t cuda_buffer_free(semcl_context *ctx, void *ptr) {
  device_guard guard;
  semcl_status_t status = enter_device(ctx, "semcl_buffer_free", &guard);
  if (status != SEMCL_STATUS_SUCCESS) return status;
  if (ptr == ctx->own_workspace) wait_last_use(ctx); /* semcl_destroy frees the workspace */
  const cudaError_t err = cudaFree(ptr);
  if (err != cudaSuccess) status = semcl_cuda_fail(ctx, err, "semcl_buffer_free: cudaFree");
  leave_device(&guard);
  return status;
}

/* Stream-ordered copy on the context's stream; `wait` makes it synchronous (download). */
static semcl_status_t copy_on_stream(semcl_context *ctx, const char *fn, void *dst,
                                     const void *src, size_t bytes, int wait) {
  device_guard guard;
  semcl_status_t status = enter_device(ctx, fn, &guard);
  if (status != SEMCL_STATUS_SUCCESS) return status;
  char what[96];
  const cudaStream_t stream = stream_of(ctx);
  cudaError_t err = order_after_last_call(ctx, stream);
  if (err != cudaSuccess) {
    snprintf(what, sizeof what, "%s: cudaStreamWaitEvent", fn);
    status = semcl_cuda_fail(ctx, err, what);
    leave_device(&guard);
    return status;
  }
  err = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream);
  if (err != cudaSuccess) {
    snprintf(what, sizeof what, "%s: cudaMemcpyAsync(%zu bytes)", fn, bytes);
    status = semcl_cuda_fail(ctx, err, what);
  } else if (wait) {
    err = cudaStreamSynchronize(stream);
    if (err != cudaSuccess) {
      snprintf(what, sizeof what, "%s: cudaStreamSynchronize", fn);
      status = semcl_cuda_fail(ctx, err, what);
    }
  }
  leave_device(&guard);
  return status;
}

static semcl_status_t cuda_upload(semcl_context *ctx, void *dst, const void *src, size_t bytes) {
  return copy_on_stream(ctx, "semcl_upload", dst, src, bytes, 0);
}

static semcl_status_t cuda_download(semcl_context *ctx, void *dst, const void *src,
                                    size_t bytes) {
  return copy_on_stream(ctx, "semcl_download", dst, src, bytes, 1);
}

static semcl_status_t cuda_synchronize(semcl_context *ctx) {
  device_guard guard;
  semcl_status_t status = enter_device(ctx, "semcl_synchronize", &guard);
  if (status != SEMCL_STATUS_SUCCESS) return status;
  /* The context's stream, and the previous stream's last loss call if the stream changed. */
  cudaError_t err = cudaStreamSynchronize(stream_of(ctx));
  if (err != cudaSuccess) {
    status = semcl_cuda_fail(ctx, err, "semcl_synchronize: cudaStreamSynchronize");
  } else if (state_of(ctx)->has_last_use) {
    err = cudaEventSynchronize(state_of(ctx)->last_use);
    if (err != cudaSuccess)
      status = semcl_cuda_fail(ctx, err, "semcl_synchronize: cudaEventSynchronize");
  }
  leave_device(&guard);
  return status;
}

/* Positional (C++17 has no designated initialisers): the order of semcl_backend_ops. */
const semcl_backend_ops semcl_cuda_backend = {
    cuda_run,            /* run */
    cuda_workspace_size, /* workspace_size */
    cuda_check_pointers, /* check_pointers */
    cuda_buffer_alloc,   /* buffer_alloc */
    cuda_buffer_free,    /* buffer_free */
    cuda_upload,         /* upload */
    cuda_download,       /* download */
    cuda_synchronize,    /* synchronize */
    cuda_release,        /* release */
};
