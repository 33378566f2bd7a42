/*
 * cuda_backend.cu — the CUDA backend: device selection, pointer checks, device workspace and
 * buffers, stream-ordered copies, dispatch to the loss launchers.
 *
 * Rules kept here:
 *  - every CUDA call is checked; a failure becomes a status (cudaErrorMemoryAllocation ->
 *    SEMCL_STATUS_OUT_OF_MEMORY, anything else -> SEMCL_STATUS_CUDA_ERROR) with the CUDA
 *    error's name and text in the context message;
 *  - the runtime's per-thread last error belongs to the caller: every entry point opens an
 *    error_scope, and clears on the way out only what its own failing calls recorded, and only
 *    when nothing was pending when it began (no blanket cudaGetLastError; kernel launches are
 *    checked by their own return value, see semcl_cuda_launch);
 *  - a context remembers its device: every call runs on it and restores the caller's
 *    current device afterwards;
 *  - every operation the context enqueues (loss calls, uploads, downloads) records the
 *    context's event `last_work` on its stream, and an operation on another stream than the
 *    previous one first makes its stream wait for that event: the context's work stays in
 *    order across semcl_set_stream, and semcl_synchronize waits for all of it;
 *  - compute calls only enqueue work on the context's stream (no host synchronisation), except
 *    when the context's own workspace has to grow: the old one is freed after the work that
 *    used it has finished;
 *  - the workspace is acquired before anything is launched, so a failing call writes nothing.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cuda_common.h"
#include "embed_cuda.h"
extern "C" {
#include "semcl_embed_stage.h"
}

typedef struct cuda_state {
  int device;               /* the device the context was created on */
  cudaEvent_t last_work;    /* recorded after every operation the context enqueues */
  int has_last_work;        /* last_work has been recorded at least once */
  cudaStream_t last_stream; /* the stream of the last enqueued operation */
  cudaError_t alloc_error;  /* the error of the last failed workspace allocation */
} cuda_state;

static cuda_state *state_of(const semcl_context *ctx) { return (cuda_state *)ctx->backend_state; }

static cudaStream_t stream_of(const semcl_context *ctx) { return (cudaStream_t)ctx->stream; }

/* ---- the caller's CUDA error state ------------------------------------------------------ */

/* The runtime records every failing call's error as the thread's "last error", which the caller
 * may be about to read with cudaGetLastError. An entry point begins a scope; at its end the
 * error its own calls recorded is cleared, unless an error was already pending at the start
 * (that one is the caller's: left alone). A sticky error cannot be cleared by anyone. */
typedef struct error_scope {
  int caller_pending;
} error_scope;

static error_scope errors_begin(void) {
  error_scope scope;
  scope.caller_pending = cudaPeekAtLastError() != cudaSuccess;
  return scope;
}

static void errors_end(const error_scope *scope) {
  if (!scope->caller_pending && cudaPeekAtLastError() != cudaSuccess) (void)cudaGetLastError();
}

extern "C" semcl_status_t semcl_cuda_fail(semcl_context *ctx, cudaError_t err, const char *what) {
  const semcl_status_t status = err == cudaErrorMemoryAllocation ? SEMCL_STATUS_OUT_OF_MEMORY
                                                                 : SEMCL_STATUS_CUDA_ERROR;
  return semcl_fail(ctx, status, "%s: %s: %s", what, cudaGetErrorName(err),
                    cudaGetErrorString(err));
}

/* ---- the context's device --------------------------------------------------------------- */

/* One entry point's stay on the context's device; also its error scope. */
typedef struct device_guard {
  int previous;
  int switched;
  error_scope errors;
} device_guard;

/* Makes the context's device current for this call; leave_device restores the caller's (and
 * must be called on every path, also when this fails). */
static semcl_status_t enter_device(semcl_context *ctx, const char *fn, device_guard *guard) {
  char what[128];
  guard->previous = 0;
  guard->switched = 0;
  guard->errors = errors_begin();
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
  /* A failure here leaves the caller's device as it is now: nothing better can be done. */
  if (guard->switched) (void)cudaSetDevice(guard->previous);
  errors_end(&guard->errors);
}

/* ---- device discovery (safe without a driver) -------------------------------------------- */

/* Number of CUDA devices; 0 on any error (no driver, driver too old, no device), with the
 * error in *err. */
static int device_count(cudaError_t *err) {
  int count = 0; /* cudaGetDeviceCount leaves it unwritten on error */
  *err = cudaGetDeviceCount(&count);
  if (*err != cudaSuccess) return 0;
  return count > 0 ? count : 0;
}

static int device_usable(char *why, size_t why_size) {
  cudaError_t err = cudaSuccess;
  if (device_count(&err) == 0) {
    if (err != cudaSuccess)
      snprintf(why, why_size, "no usable CUDA driver or device (cudaGetDeviceCount: %s: %s)",
               cudaGetErrorName(err), cudaGetErrorString(err));
    else
      snprintf(why, why_size, "no CUDA device is visible");
    return 0;
  }
  int device = 0, major = 0, minor = 0, mode = 0;
  const char *what = "cudaGetDevice";
  err = cudaGetDevice(&device);
  if (err == cudaSuccess) {
    what = "cudaDeviceGetAttribute";
    err = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  }
  if (err == cudaSuccess)
    err = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&mode, cudaDevAttrComputeMode, device);
  if (err != cudaSuccess) {
    snprintf(why, why_size, "querying the current CUDA device failed (%s: %s: %s)", what,
             cudaGetErrorName(err), cudaGetErrorString(err));
    return 0;
  }
  /* The oldest code in the library is compute_75 PTX. */
  if (major * 10 + minor < 75) {
    snprintf(why, why_size,
             "CUDA device %d has compute capability %d.%d; semcl needs 7.5 or newer", device,
             major, minor);
    return 0;
  }
  if (mode == cudaComputeModeProhibited) {
    snprintf(why, why_size, "CUDA device %d is in prohibited compute mode", device);
    return 0;
  }
  return 1;
}

extern "C" int semcl_cuda_device_usable(char *why, size_t why_size) {
  const error_scope scope = errors_begin();
  if (why_size > 0) why[0] = '\0';
  const int usable = device_usable(why, why_size);
  errors_end(&scope);
  return usable;
}

/* Test builds only (CMake option SEMCL_TEST_HOOKS): SEMCL_TEST_FAIL_CUDA_CONTEXT=1 in the
 * environment makes context creation fail as it does on a GPU in exclusive-process mode held by
 * another process, so that the fallback of SEMCL_BACKEND_AUTO can be tested on any GPU. */
static cudaError_t injected_context_failure(void) {
#if defined(SEMCL_TEST_HOOKS)
  const char *fail = getenv("SEMCL_TEST_FAIL_CUDA_CONTEXT");
  if (fail && strcmp(fail, "1") == 0) return cudaErrorDevicesUnavailable;
#endif
  return cudaSuccess;
}

extern "C" semcl_status_t semcl_cuda_init_context(semcl_context *ctx) {
  cuda_state *st = (cuda_state *)calloc(1, sizeof *st);
  if (!st)
    return semcl_fail(ctx, SEMCL_STATUS_OUT_OF_MEMORY, "semcl_create: out of host memory");
  const error_scope scope = errors_begin();
  const char *what = "cudaGetDevice";
  cudaError_t err = cudaGetDevice(&st->device);
  if (err == cudaSuccess) {
    /* The first call that needs the device's CUDA context creates it. */
    what = "cudaEventCreateWithFlags";
    err = injected_context_failure();
    if (err == cudaSuccess)
      err = cudaEventCreateWithFlags(&st->last_work, cudaEventDisableTiming);
  }
  semcl_status_t status = SEMCL_STATUS_SUCCESS;
  if (err != cudaSuccess) {
    char text[160];
    snprintf(text, sizeof text,
             "semcl_create: CUDA device %d is visible, but creating a CUDA context on it failed "
             "(%s)",
             st->device, what);
    free(st);
    status = semcl_cuda_fail(ctx, err, text);
  } else {
    st->alloc_error = cudaSuccess;
    ctx->backend_state = st;
  }
  errors_end(&scope);
  return status;
}

static void cuda_release(semcl_context *ctx) {
  cuda_state *st = state_of(ctx);
  if (!st) return;
  device_guard guard;
  if (enter_device(ctx, "semcl_destroy", &guard) == SEMCL_STATUS_SUCCESS) {
    semcl_cuda_embed_release(ctx);         /* the embedding calls' cuBLAS handle */
    (void)cudaEventDestroy(st->last_work); /* nothing to report from a destructor */
  }
  leave_device(&guard);
  free(st);
  ctx->backend_state = NULL;
}

/* ---- pointer checks --------------------------------------------------------------------- */

/* The memory type of `ptr` as the runtime sees it; unregistered host memory on error (the
 * caller's error scope clears what the failed query recorded). */
static enum cudaMemoryType memory_type(const void *ptr, int *device) {
  struct cudaPointerAttributes attr;
  memset(&attr, 0, sizeof attr);
  if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
    *device = -1;
    return cudaMemoryTypeUnregistered;
  }
  *device = attr.device;
  return attr.type;
}

/* Whether pointers[i] already appeared earlier in the list (then it has been checked: one
 * runtime query per distinct pointer, e.g. in-place grad_neg == score_neg). */
static int seen_before(const void *const *pointers, int i) {
  for (int j = 0; j < i; ++j)
    if (pointers[j] == pointers[i]) return 1;
  return 0;
}

static const char *host_kind(enum cudaMemoryType type) {
  return type == cudaMemoryTypeHost ? "pinned host memory" : "host memory";
}

/* CUDA context: every array must be device memory of the context's device, or managed. */
static semcl_status_t cuda_check_pointers(semcl_context *ctx, const void *const *pointers,
                                          const char *const *names, int count) {
  if (ctx->pointer_checks_off) return SEMCL_STATUS_SUCCESS; /* semcl_set_pointer_checks */
  const int own = state_of(ctx)->device;
  const error_scope scope = errors_begin();
  semcl_status_t status = SEMCL_STATUS_SUCCESS;
  for (int i = 0; i < count && status == SEMCL_STATUS_SUCCESS; ++i) {
    if (seen_before(pointers, i)) continue;
    int device = -1;
    const enum cudaMemoryType type = memory_type(pointers[i], &device);
    if (type == cudaMemoryTypeManaged) continue;
    if (type == cudaMemoryTypeDevice) {
      if (device == own) continue;
      status = semcl_fail(ctx, SEMCL_STATUS_WRONG_MEMORY_SPACE,
                          "%s is device memory of CUDA device %d, but the context runs on "
                          "device %d",
                          names[i], device, own);
    } else {
      status = semcl_fail(ctx, SEMCL_STATUS_WRONG_MEMORY_SPACE,
                          "%s is %s, but the context is a CUDA context: pass device (or "
                          "managed) memory, e.g. from semcl_buffer_alloc",
                          names[i], host_kind(type));
    }
  }
  errors_end(&scope);
  return status;
}

/* Whether this process can see a CUDA device at all (cached: it cannot change). */
static int any_device(void) {
  static int cached = -1; /* -1 unknown, else 0/1; racing threads store the same value */
  int known = __atomic_load_n(&cached, __ATOMIC_RELAXED);
  if (known < 0) {
    cudaError_t err = cudaSuccess;
    known = device_count(&err) > 0;
    __atomic_store_n(&cached, known, __ATOMIC_RELAXED);
  }
  return known;
}

extern "C" semcl_status_t semcl_cuda_refuse_device_pointers(semcl_context *ctx,
                                                             const void *const *pointers,
                                                             const char *const *names,
                                                             int count) {
  if (ctx->pointer_checks_off) return SEMCL_STATUS_SUCCESS; /* semcl_set_pointer_checks */
  const error_scope scope = errors_begin();
  semcl_status_t status = SEMCL_STATUS_SUCCESS;
  if (any_device()) { /* no driver or device: nothing to refuse */
    for (int i = 0; i < count && status == SEMCL_STATUS_SUCCESS; ++i) {
      if (seen_before(pointers, i)) continue;
      int device = -1;
      if (memory_type(pointers[i], &device) == cudaMemoryTypeDevice)
        status = semcl_fail(ctx, SEMCL_STATUS_WRONG_MEMORY_SPACE,
                            "%s is device memory of CUDA device %d, but the context is a CPU "
                            "context: pass host (or managed) memory",
                            names[i], device);
    }
  }
  errors_end(&scope);
  return status;
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

/* Waits until the context's enqueued work is done (only before freeing the workspace). An
 * error here is the fault of an earlier kernel: the next call reports it. */
static void wait_last_work(semcl_context *ctx) {
  cuda_state *st = state_of(ctx);
  if (st->has_last_work) (void)cudaEventSynchronize(st->last_work);
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
  wait_last_work(ctx); /* cudaFree alone does not promise to wait for the kernels using it */
  (void)cudaFree(ptr);  /* the old workspace: a failure leaks it, nothing else */
}

/* ---- order of the context's work across streams -------------------------------------------- */

/* Before enqueuing on `stream`: when the context's previous operation went to another stream
 * (semcl_set_stream in between), `stream` waits for it on the device (no host
 * synchronisation). Since every operation records last_work, that one wait covers all of the
 * context's earlier work. */
static cudaError_t order_after_previous_work(const cuda_state *st, cudaStream_t stream) {
  if (!st->has_last_work || st->last_stream == stream) return cudaSuccess;
  return cudaStreamWaitEvent(stream, st->last_work, 0);
}

/* After enqueuing on `stream`: last_work now marks everything the context has enqueued. */
static cudaError_t record_work(cuda_state *st, cudaStream_t stream) {
  const cudaError_t err = cudaEventRecord(st->last_work, stream);
  if (err != cudaSuccess) return err;
  st->has_last_work = 1;
  st->last_stream = stream;
  return cudaSuccess;
}

/* ---- the losses and the embedding calls ---------------------------------------------------- */

/* Enqueues a call's kernels on `stream` with its workspace (a loss or an embedding call). */
typedef semcl_status_t (*call_launcher)(semcl_context *ctx, const void *problem, void *workspace,
                                        cudaStream_t stream);

static semcl_status_t launch_loss(semcl_context *ctx, const void *problem, void *workspace,
                                  cudaStream_t stream) {
  const semcl_problem *p = (const semcl_problem *)problem;
  return p->kind == SEMCL_LOSS_POS_NEG ? semcl_cuda_pos_neg_launch(ctx, p, workspace, stream)
                                       : semcl_cuda_positive_only_launch(ctx, p, workspace, stream);
}

static semcl_status_t launch_embed(semcl_context *ctx, const void *problem, void *workspace,
                                   cudaStream_t stream) {
  return semcl_cuda_embed_launch(ctx, (const semcl_embed_problem *)problem, workspace, stream);
}

/* A call on the context's device (current): ordered after the context's earlier work, with a
 * workspace of `bytes`, and recorded as the context's last work. */
static semcl_status_t run_on_device(semcl_context *ctx, size_t bytes, call_launcher launch,
                                    const void *problem) {
  cuda_state *st = state_of(ctx);
  const cudaStream_t stream = stream_of(ctx);
  /* Inputs uploaded, or the workspace last used, on another stream: wait for that first. */
  cudaError_t err = order_after_previous_work(st, stream);
  if (err != cudaSuccess)
    return semcl_cuda_fail(ctx, err, "ordering after the context's work on its previous stream");
  void *workspace = NULL;
  st->alloc_error = cudaSuccess;
  semcl_status_t status =
      semcl_acquire_workspace(ctx, bytes, device_alloc, device_free, &workspace);
  if (status != SEMCL_STATUS_SUCCESS) {
    /* semcl_acquire_workspace reports every failed allocation as OUT_OF_MEMORY. */
    if (status == SEMCL_STATUS_OUT_OF_MEMORY && st->alloc_error != cudaSuccess &&
        st->alloc_error != cudaErrorMemoryAllocation)
      status = SEMCL_STATUS_CUDA_ERROR;
    return status;
  }
  status = launch(ctx, problem, workspace, stream);
  /* Recorded also after a failed launch: a kernel launched before it may still be running. */
  err = record_work(st, stream);
  if (status == SEMCL_STATUS_SUCCESS && err != cudaSuccess)
    status = semcl_cuda_fail(ctx, err, "recording the call's end");
  return status;
}

/* The same with the context's device made current for the call. */
static semcl_status_t run_call(semcl_context *ctx, const char *what, size_t bytes,
                               call_launcher launch, const void *problem) {
  device_guard guard;
  semcl_status_t status = enter_device(ctx, what, &guard);
  if (status == SEMCL_STATUS_SUCCESS) status = run_on_device(ctx, bytes, launch, problem);
  leave_device(&guard);
  return status;
}

static semcl_status_t cuda_run(semcl_context *ctx, const semcl_problem *p) {
  return run_call(ctx, "semcl loss", workspace_bytes(p->kind, p->B, p->K), launch_loss, p);
}

static semcl_status_t cuda_embed_workspace_size(const semcl_context *ctx, int kind, int64_t B,
                                                int64_t K, int64_t D, int staged,
                                                size_t *bytes) {
  (void)ctx;
  *bytes = semcl_cuda_embed_workspace(kind, B, K, D, staged);
  return SEMCL_STATUS_SUCCESS;
}

static semcl_status_t cuda_run_embed(semcl_context *ctx, const semcl_embed_problem *p) {
  const size_t bytes =
      semcl_cuda_embed_workspace(p->kind, p->B, p->K, p->D, semcl_embed_staged(p->dtype));
  return run_call(ctx, "semcl embedding loss", bytes, launch_embed, p);
}

/* ---- buffers and copies ---------------------------------------------------------------- */

static semcl_status_t cuda_buffer_alloc(semcl_context *ctx, void **ptr, size_t bytes) {
  device_guard guard;
  semcl_status_t status = enter_device(ctx, "semcl_buffer_alloc", &guard);
  if (status != SEMCL_STATUS_SUCCESS) {
    leave_device(&guard);
    return status;
  }
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
  if (status != SEMCL_STATUS_SUCCESS) {
    leave_device(&guard);
    return status;
  }
  if (ptr == ctx->own_workspace) wait_last_work(ctx); /* semcl_destroy frees the workspace */
  const cudaError_t err = cudaFree(ptr);
  if (err != cudaSuccess) status = semcl_cuda_fail(ctx, err, "semcl_buffer_free: cudaFree");
  leave_device(&guard);
  return status;
}

/* Stream-ordered copy on the context's stream, after the context's earlier work; `wait` makes
 * it synchronous (download). */
static semcl_status_t copy_on_stream(semcl_context *ctx, const char *fn, void *dst,
                                     const void *src, size_t bytes, int wait) {
  device_guard guard;
  semcl_status_t status = enter_device(ctx, fn, &guard);
  if (status != SEMCL_STATUS_SUCCESS) {
    leave_device(&guard);
    return status;
  }
  char what[96];
  cuda_state *st = state_of(ctx);
  const cudaStream_t stream = stream_of(ctx);
  const char *step = "cudaStreamWaitEvent";
  cudaError_t err = order_after_previous_work(st, stream);
  if (err == cudaSuccess) {
    step = "cudaMemcpyAsync";
    err = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream);
  }
  if (err == cudaSuccess) {
    step = "cudaEventRecord";
    err = record_work(st, stream);
  }
  if (err == cudaSuccess && wait) {
    step = "cudaStreamSynchronize";
    err = cudaStreamSynchronize(stream);
  }
  if (err != cudaSuccess) {
    snprintf(what, sizeof what, "%s: %s (%zu bytes)", fn, step, bytes);
    status = semcl_cuda_fail(ctx, err, what);
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
  if (status == SEMCL_STATUS_SUCCESS && state_of(ctx)->has_last_work) {
    /* last_work follows the context's latest operation, which was ordered after all earlier
     * ones, whatever streams they ran on. */
    const cudaError_t err = cudaEventSynchronize(state_of(ctx)->last_work);
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
    cuda_run_embed,      /* run_embed */
    cuda_embed_workspace_size, /* embed_workspace_size */
};
