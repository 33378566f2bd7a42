/*
 * semcl — fused semantic-consistency losses for recommender training.
 *
 * Two losses (see README.md and docs/losses.md): for a batch of B samples with logits
 * score_raw[B], score_pos[B], labels y[B] (float in [0,1]) and sign_b = 2*y_b - 1:
 *
 *   positive-only:  L = mean_b BCE(score_raw_b, y_b)
 *                     + lambda * mean_b softplus(-sign_b * (score_pos_b - score_raw_b))
 *   pairwise:       L = mean_b BCE(score_raw_b, y_b)
 *                     + lambda * mean_{b,k} softplus(-sign_b * (score_pos_b - score_neg_{b,k}))
 *
 * Each is computed in one fused pass, optionally with its exact gradients.
 *
 * Conventions (every entry point):
 *  - Sizes are int64_t. Inputs are const. Outputs are overwritten, never accumulated.
 *  - On any argument, memory-space or allocation error nothing is written to any output, and
 *    the context's last-error message says which argument was wrong and why. (CUDA work is
 *    asynchronous: a SEMCL_STATUS_CUDA_ERROR from a failed launch, or a fault reported by a
 *    later call, may leave outputs partly written.) The library never prints, aborts or exits.
 *  - On a CPU context every array is host memory; on a CUDA context every array is device
 *    memory (or managed memory). A pointer in the wrong space is refused with
 *    SEMCL_STATUS_WRONG_MEMORY_SPACE where the library can tell (CUDA builds: there a CPU
 *    context asks cudaPointerGetAttributes about its pointers, which initialises the CUDA
 *    runtime on first use when a driver is present; creating a CPU context does not).
 *  - One context per thread: a context is not safe to use from two threads at once.
 *    Distinct contexts are independent.
 *
 * This header includes no CUDA header: a stream is passed as `struct CUstream_st *`,
 * which is the type behind `cudaStream_t`.
 */
#ifndef SEMCL_SEMCL_H
#define SEMCL_SEMCL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SEMCL_VERSION_MAJOR 0
#define SEMCL_VERSION_MINOR 1
#define SEMCL_VERSION_PATCH 0
/* MAJOR*10000 + MINOR*100 + PATCH, as returned by semcl_version_number(). */
#define SEMCL_VERSION_NUMBER \
  (SEMCL_VERSION_MAJOR * 10000 + SEMCL_VERSION_MINOR * 100 + SEMCL_VERSION_PATCH)

#if defined(_WIN32) && defined(SEMCL_BUILDING_LIBRARY)
#define SEMCL_API __declspec(dllexport)
#elif defined(__GNUC__)
#define SEMCL_API __attribute__((visibility("default")))
#else
#define SEMCL_API
#endif

/* Status codes. The numeric values are part of the ABI and never change. */
typedef enum semcl_status {
  SEMCL_STATUS_SUCCESS = 0,
  SEMCL_STATUS_NULL_CONTEXT = 1,          /* the context argument is NULL */
  SEMCL_STATUS_NULL_POINTER = 2,          /* a required pointer argument is NULL */
  SEMCL_STATUS_INVALID_SIZE = 3,          /* B <= 0 or K <= 0 */
  SEMCL_STATUS_SIZE_OVERFLOW = 4,         /* B*K (or a byte count) overflows int64 */
  SEMCL_STATUS_NON_FINITE_SCALAR = 5,     /* lambda or grad_scale is NaN or +-inf */
  SEMCL_STATUS_INVALID_ENUM = 6,          /* unknown backend or reduction value */
  SEMCL_STATUS_ALIASING = 7,              /* an output overlaps an input or another output */
  SEMCL_STATUS_BACKEND_UNAVAILABLE = 8,   /* the requested backend is not built or has no device */
  SEMCL_STATUS_WRONG_MEMORY_SPACE = 9,    /* host pointer on a CUDA context, or the reverse */
  SEMCL_STATUS_OUT_OF_MEMORY = 10,        /* host or device allocation failed */
  SEMCL_STATUS_CUDA_ERROR = 11,           /* a CUDA runtime call failed */
  SEMCL_STATUS_INVALID_VALUE = 12,        /* other bad value: thread count, workspace size */
  SEMCL_STATUS_INTERNAL_ERROR = 13        /* a bug in semcl: please report it */
} semcl_status_t;

typedef enum semcl_backend {
  SEMCL_BACKEND_AUTO = 0, /* CUDA when built with it and a device is usable, else CPU */
  SEMCL_BACKEND_CPU = 1,
  SEMCL_BACKEND_CUDA = 2
} semcl_backend_t;

typedef enum semcl_reduction {
  SEMCL_REDUCTION_MEAN = 0, /* the seed's behaviour: one value of each loss */
  SEMCL_REDUCTION_SUM = 1,  /* B times the mean */
  SEMCL_REDUCTION_NONE = 2  /* B per-sample values of each loss */
} semcl_reduction_t;

/* Element type of the scores (score_raw, score_pos, score_neg) and of their gradients in the
 * _ex entry points. Arithmetic is fp32 (sums fp32/fp64) for every dtype; a 16-bit gradient is
 * the fp32 gradient rounded to nearest-even. Labels, weights, losses and the upstream gradient
 * are always float32. */
typedef enum semcl_dtype {
  SEMCL_DTYPE_FLOAT32 = 0,
  SEMCL_DTYPE_BFLOAT16 = 1,
  SEMCL_DTYPE_FLOAT16 = 2
} semcl_dtype_t;

/* CPU instruction-set level of a context's kernels. Every level computes the same bits. */
typedef enum semcl_cpu_isa {
  SEMCL_CPU_ISA_SCALAR = 0, /* portable C (any CPU) */
  SEMCL_CPU_ISA_AVX2 = 1,   /* x86-64 AVX2 + FMA + F16C */
  SEMCL_CPU_ISA_AVX512 = 2  /* x86-64 AVX-512 F/BW/DQ/VL */
} semcl_cpu_isa_t;

typedef struct semcl_context semcl_context;
/* The CUDA runtime's stream type (cudaStream_t is `struct CUstream_st *`). */
struct CUstream_st;

/* ---- version and status ------------------------------------------------------------- */

/* SEMCL_VERSION_NUMBER of the library actually loaded (may differ from the header's). */
SEMCL_API unsigned semcl_version_number(void);
/* "MAJOR.MINOR.PATCH"; never NULL. */
SEMCL_API const char *semcl_version_string(void);
/* The enumerator's name, e.g. "SEMCL_STATUS_ALIASING"; never NULL (unknown values give
 * "SEMCL_STATUS_UNKNOWN"). */
SEMCL_API const char *semcl_status_name(semcl_status_t status);
/* A one-line English description; never NULL. */
SEMCL_API const char *semcl_status_string(semcl_status_t status);
/* Whether the library was built with the CUDA backend (1) or not (0). */
SEMCL_API int semcl_has_cuda_build(void);

/* ---- context ------------------------------------------------------------------------ */

/* Creates a context on `backend`. On success *ctx holds it; on failure *ctx is set to NULL
 * (when ctx itself is not NULL). An explicit SEMCL_BACKEND_CUDA request on a build or a
 * machine without a usable device returns SEMCL_STATUS_BACKEND_UNAVAILABLE: there is no
 * silent fallback. SEMCL_BACKEND_AUTO never fails for lack of a device. */
SEMCL_API semcl_status_t semcl_create(semcl_context **ctx, semcl_backend_t backend);
/* Frees the context and everything it owns (workspace, handles). NULL is a no-op. */
SEMCL_API void semcl_destroy(semcl_context *ctx);
/* The backend the context actually runs on (CPU or CUDA, never AUTO). */
SEMCL_API semcl_status_t semcl_get_backend(const semcl_context *ctx, semcl_backend_t *backend);
/* Detail for the last failed call on this context ("" after a success); never NULL.
 * With ctx == NULL it returns a fixed text about the NULL context. */
SEMCL_API const char *semcl_last_error(const semcl_context *ctx);

/* CPU threads for this context's calls, counting the calling thread: 1..1024, or 0 (the
 * default) for the number of CPUs this process may use: the CPUs in its affinity mask
 * (taskset, cpusets), capped by its cgroup's CPU quota rounded up (cgroup v2 cpu.max, v1
 * cpu.cfs_quota_us), both as they are when the call runs (the quota is read once per process).
 * Results are bitwise identical for every thread count. On a CUDA context the value is stored
 * and has no effect.
 *
 * The worker threads (count - 1) belong to the context: the first call with enough work to
 * split starts them, they sleep between calls and semcl_destroy joins them. Small calls run on
 * the calling thread alone. Workers block all signals, so the program's signal handlers run
 * on its own threads. If a worker thread cannot be created (a low `ulimit -u`, an
 * address-space limit), the call runs with the threads that exist, down to the calling
 * thread alone, with the same results; a later call tries again. After fork(), a context
 * inherited by the child keeps working there: its first call starts new workers in the child
 * (the parent's pool is left untouched, a few hundred bytes). */
SEMCL_API semcl_status_t semcl_set_threads(semcl_context *ctx, int threads);
SEMCL_API semcl_status_t semcl_get_threads(const semcl_context *ctx, int *threads);

/* The CUDA stream on which a CUDA context enqueues all of its work (NULL = legacy default
 * stream). On a CPU context the stream is stored, returned by semcl_get_stream and otherwise
 * ignored. Setting a stream keeps the context's workspace. Capturing calls into a CUDA graph is
 * not supported: the first call on a context (and any call that needs a larger workspace)
 * allocates device memory; give the context a large enough workspace with semcl_set_workspace
 * beforehand if you capture. */
SEMCL_API semcl_status_t semcl_set_stream(semcl_context *ctx, struct CUstream_st *stream);
SEMCL_API semcl_status_t semcl_get_stream(const semcl_context *ctx, struct CUstream_st **stream);

/* The CPU kernels' instruction-set level. semcl_create picks the highest level the CPU
 * supports, or the level named by the environment variable SEMCL_CPU_ISA (scalar, avx2,
 * avx512) when it is set and the CPU supports it (a higher level than the CPU has, or an
 * unknown name, is ignored: the context keeps the highest supported level).
 * semcl_set_cpu_isa returns SEMCL_STATUS_INVALID_VALUE for a level this CPU lacks. Results are
 * bitwise identical at every level. On a CUDA context the value is stored and has no effect. */
SEMCL_API semcl_status_t semcl_set_cpu_isa(semcl_context *ctx, semcl_cpu_isa_t isa);
SEMCL_API semcl_status_t semcl_get_cpu_isa(const semcl_context *ctx, semcl_cpu_isa_t *isa);
/* "scalar", "avx2", "avx512"; never NULL ("unknown" for other values). */
SEMCL_API const char *semcl_cpu_isa_name(semcl_cpu_isa_t isa);

/* Waits until all work enqueued by this context has finished (no-op on the CPU). */
SEMCL_API semcl_status_t semcl_synchronize(semcl_context *ctx);

/* ---- context: backend choice, pointer checks, devices, streams, CUDA errors ----------
 *
 * Devices. A CUDA context belongs to the device that was current in the creating thread
 * (cudaGetDevice) when semcl_create ran. Every later call on it runs on that device, whatever
 * device is current in the calling thread, and leaves the caller's current device as it found
 * it. Its arrays must be device memory of that device (or managed memory): device memory of
 * another device is refused with SEMCL_STATUS_WRONG_MEMORY_SPACE (while pointer checks are
 * on). A stream given to semcl_set_stream must belong to that device (not checked). For
 * several GPUs create one context per device, each with its device current.
 *
 * Order across streams. Every operation a CUDA context enqueues (loss calls, semcl_upload,
 * semcl_download) runs after the context's previous operation, also when semcl_set_stream
 * changed the stream in between: the new stream waits for the old one's work on the device
 * (no host synchronisation). semcl_synchronize waits for all of it. Work the caller enqueues
 * on other streams is not ordered by semcl.
 *
 * CUDA error state. libsemcl carries its own copy of the CUDA runtime (linked statically, its
 * symbols not exported), so the per-thread "last error" that a caller reads with
 * cudaGetLastError is never read or cleared by semcl, and semcl's failures never appear there:
 * they come back as a status, with the text in semcl_last_error. (semcl's CUDA code also never
 * clears an error that was pending when one of its calls began, in case it is ever built to
 * share the caller's runtime.) Devices, contexts, streams and the errors that make a device
 * unusable ("sticky" errors, such as a kernel's illegal address) belong to the driver and are
 * shared: after one, every later CUDA call of the process fails, semcl's included.
 */

/* Why the context runs on its backend when that is not simply the one asked for: after
 * semcl_create(&ctx, SEMCL_BACKEND_AUTO) chose the CPU, the reason, e.g. "SEMCL_BACKEND_AUTO
 * chose the CPU: " followed by "this library was built without the CUDA backend", "no CUDA
 * device is visible", a device too old or in prohibited compute mode, or a device that is
 * visible but on which no CUDA context could be created (exclusive-process mode held by
 * another process, no device memory left, ...) with the CUDA error. "" when the context runs
 * on the backend that was asked for, or AUTO found a usable device. Set once by semcl_create
 * and never changed (unlike semcl_last_error); never NULL; a NULL ctx gives a fixed text.
 * An explicit SEMCL_BACKEND_CUDA request never falls back: it fails with
 * SEMCL_STATUS_BACKEND_UNAVAILABLE (no usable device) or SEMCL_STATUS_CUDA_ERROR /
 * SEMCL_STATUS_OUT_OF_MEMORY (a device, but no context on it). */
SEMCL_API const char *semcl_backend_note(const semcl_context *ctx);

/* Memory-space checks (on by default; enabled = 1 or 0, anything else is
 * SEMCL_STATUS_INVALID_VALUE). In a CUDA build every loss call and semcl_set_workspace asks the
 * CUDA runtime where each distinct array lives (one cudaPointerGetAttributes per distinct
 * pointer, up to 11 per call: host time on the order of microseconds per call, which matters
 * only for small shapes) and refuses a pointer in the wrong memory space with
 * SEMCL_STATUS_WRONG_MEMORY_SPACE instead of faulting on it. A caller that already knows where
 * its arrays live (a framework binding that checks its tensors' devices) can turn the checks
 * off for its context: then a host pointer on a CUDA context, device memory of another device,
 * or a device pointer on a CPU context is undefined behaviour (a GPU fault that makes the
 * device unusable for the process, or a crash). All other argument checks stay. In a build
 * without CUDA there is nothing to check and the setting has no effect. */
SEMCL_API semcl_status_t semcl_set_pointer_checks(semcl_context *ctx, int enabled);
SEMCL_API semcl_status_t semcl_get_pointer_checks(const semcl_context *ctx, int *enabled);
/* ---- end of the block ------------------------------------------------------------------ */

/* ---- workspace ---------------------------------------------------------------------- */

/* The loss families, for workspace queries. */
typedef enum semcl_loss_kind {
  SEMCL_LOSS_POSITIVE_ONLY = 0,
  SEMCL_LOSS_POS_NEG = 1
} semcl_loss_kind_t;

/* Bytes of workspace a call of `kind` with these sizes needs on this context (for the
 * positive-only loss pass K = 1). On a CPU context the answer depends on the thread count
 * (few rows are split across threads by chunks, which needs room for the chunk partials):
 * query it after semcl_set_threads. The context allocates and reuses its own workspace
 * unless the caller provides one with semcl_set_workspace. */
SEMCL_API semcl_status_t semcl_get_workspace_size(const semcl_context *ctx, semcl_loss_kind_t kind,
                                                  int64_t B, int64_t K, size_t *bytes);
/* Use caller-owned memory (host memory on a CPU context, device memory on a CUDA context,
 * 16-byte aligned) as workspace instead of the context's own. A call that needs more than
 * `bytes` fails with SEMCL_STATUS_INVALID_VALUE and writes nothing. (NULL, 0) returns to
 * the context's own workspace. The memory must stay valid until it is replaced or the context
 * is destroyed. */
SEMCL_API semcl_status_t semcl_set_workspace(semcl_context *ctx, void *workspace, size_t bytes);

/* ---- buffers in the context's memory space -------------------------------------------- */
/* For C users who do not call CUDA themselves. On a CPU context these are malloc/memcpy;
 * on a CUDA context device memory and stream-ordered copies on the context's stream
 * (semcl_download waits for the copy to finish, so the host data is ready on return). */
/* semcl_buffer_alloc sets *ptr to NULL on failure (like cudaMalloc), so it is always safe to free. */
SEMCL_API semcl_status_t semcl_buffer_alloc(semcl_context *ctx, void **ptr, size_t bytes);
SEMCL_API semcl_status_t semcl_buffer_free(semcl_context *ctx, void *ptr); /* NULL is a no-op */
SEMCL_API semcl_status_t semcl_upload(semcl_context *ctx, void *dst, const void *host_src,
                                      size_t bytes);
SEMCL_API semcl_status_t semcl_download(semcl_context *ctx, void *host_dst, const void *src,
                                        size_t bytes);

/* ---- the losses --------------------------------------------------------------------- */
/*
 * Shapes:  score_raw, score_pos, y: (B)     score_neg, grad_neg: (B,K) row-major
 *          loss, loss_ctr, loss_aux: (1) for MEAN and SUM, (B) for NONE
 *
 * loss_aux is L_pos (positive-only) or L_pair (pairwise); loss = loss_ctr + lambda*loss_aux.
 * loss, loss_ctr and loss_aux are required.
 *
 * Gradients (forward_backward): gradients of loss, multiplied by the upstream gradient
 *   g = grad_scale * (grad_upstream ? grad_upstream[0] : 1)      for MEAN and SUM
 *   g_b = grad_scale * (grad_upstream ? grad_upstream[b] : 1)    for NONE (per sample)
 * grad_upstream lives in the context's memory space (device memory on CUDA), so a framework
 * can pass its upstream gradient without a host synchronisation; NULL means 1.
 * Any of grad_raw, grad_pos, grad_neg may be NULL to skip it.
 *
 * Aliasing: the only overlap allowed is grad_neg == score_neg exactly (in-place gradient,
 * saving B*K floats). Every other overlap between an output and an input, or between two
 * outputs, is refused with SEMCL_STATUS_ALIASING.
 *
 * Non-finite scores: NaN propagates to the losses and gradients it touches; +-inf give the
 * mathematical limits (softplus(+inf) = +inf, softplus(-inf) = 0, BCE(+inf, 1) = 0).
 * Non-finite lambda or grad_scale are argument errors.
 */
SEMCL_API semcl_status_t semcl_positive_only_forward(
    semcl_context *ctx, int64_t B, const float *score_raw, const float *score_pos,
    const float *y, float lambda, semcl_reduction_t reduction, float *loss, float *loss_ctr,
    float *loss_aux);

SEMCL_API semcl_status_t semcl_positive_only_forward_backward(
    semcl_context *ctx, int64_t B, const float *score_raw, const float *score_pos,
    const float *y, float lambda, semcl_reduction_t reduction, float grad_scale,
    const float *grad_upstream, float *loss, float *loss_ctr, float *loss_aux, float *grad_raw,
    float *grad_pos);

SEMCL_API semcl_status_t semcl_pos_neg_forward(
    semcl_context *ctx, int64_t B, int64_t K, const float *score_raw, const float *score_pos,
    const float *score_neg, const float *y, float lambda, semcl_reduction_t reduction,
    float *loss, float *loss_ctr, float *loss_aux);

SEMCL_API semcl_status_t semcl_pos_neg_forward_backward(
    semcl_context *ctx, int64_t B, int64_t K, const float *score_raw, const float *score_pos,
    const float *score_neg, const float *y, float lambda, semcl_reduction_t reduction,
    float grad_scale, const float *grad_upstream, float *loss, float *loss_ctr, float *loss_aux,
    float *grad_raw, float *grad_pos, float *grad_neg);

/* ---- options: dtypes, masks, weights (the _ex entry points) -------------------------- */
/*
 * Everything beyond the scores and labels that a training loop may need. Initialise with
 * SEMCL_OPTIONS_INIT (or set struct_size = sizeof(semcl_options) and zero the rest); a NULL
 * options pointer means all defaults. Arrays live in the context's memory space.
 *
 *   dtype      element type of score_raw, score_pos, score_neg and of the three gradients.
 *   neg_mask   (B,K) bytes or NULL (pairwise loss only): nonzero = the negative is real.
 *   neg_count  (B) int32 or NULL (pairwise loss only): negatives 0 .. neg_count[b]-1 of row b
 *              are real. Values are clamped to [0, K]. May be combined with neg_mask (a
 *              negative is real when both say so).
 *   weight     (B) or NULL: per-sample weight multiplying both terms of sample b (like
 *              BCEWithLogits' weight). Means still divide by counts, not by weight sums.
 *              Any float is accepted (negative weights are computed as given).
 *   pos_weight NULL (= 1), or pos_weight_count values (1: one for every sample, or B): the
 *              weight of the positive class in the BCE term, BCEWithLogits' pos_weight.
 *
 * Masked negatives contribute exactly 0 to the losses and their grad_neg slots are written 0.
 * With masks, row b's pairwise term is the mean over its n_b real negatives (0 when n_b = 0)
 * and the MEAN reduction of the pairwise term divides the sum over all real (b,k) pairs by
 * their number N (the masked mean; 0 when N = 0, so the loss is then the BCE term alone). SUM
 * adds the B per-sample values. Without masks all of this is the unmasked definition.
 */
typedef struct semcl_options {
  size_t struct_size;       /* sizeof(semcl_options) */
  semcl_dtype_t dtype;      /* default SEMCL_DTYPE_FLOAT32 */
  const uint8_t *neg_mask;  /* (B,K) or NULL */
  const int32_t *neg_count; /* (B) or NULL */
  const float *weight;      /* (B) or NULL */
  const float *pos_weight;  /* (pos_weight_count) or NULL */
  int64_t pos_weight_count; /* 1 or B when pos_weight is not NULL */
} semcl_options;

#define SEMCL_OPTIONS_INIT {sizeof(semcl_options), SEMCL_DTYPE_FLOAT32, NULL, NULL, NULL, NULL, 0}

/* Bytes per element of a dtype (4 or 2; 0 for an unknown value). */
SEMCL_API size_t semcl_dtype_size(semcl_dtype_t dtype);

/*
 * The general entry points: forward, or forward and backward when any gradient pointer is not
 * NULL (a call with all three NULL computes no gradient work at all). Scores and gradients
 * have options->dtype; everything else is as in the entry points above, which are these
 * calls with options = NULL.
 */
SEMCL_API semcl_status_t semcl_positive_only_ex(
    semcl_context *ctx, int64_t B, const void *score_raw, const void *score_pos, const float *y,
    float lambda, semcl_reduction_t reduction, const semcl_options *options, float grad_scale,
    const float *grad_upstream, float *loss, float *loss_ctr, float *loss_aux, void *grad_raw,
    void *grad_pos);

SEMCL_API semcl_status_t semcl_pos_neg_ex(
    semcl_context *ctx, int64_t B, int64_t K, const void *score_raw, const void *score_pos,
    const void *score_neg, const float *y, float lambda, semcl_reduction_t reduction,
    const semcl_options *options, float grad_scale, const float *grad_upstream, float *loss,
    float *loss_ctr, float *loss_aux, void *grad_raw, void *grad_pos, void *grad_neg);

/* ---- from embeddings: dot-product scores fused with the losses ------------------------ */
/*
 * For two-tower models whose score is a dot product: the calls take the embeddings and return
 * the losses and the embedding gradients, without a B*K score matrix or a B*K*D copy in
 * between. docs/embeddings.md has the math, the summation orders and the accuracy bounds.
 *
 * Shapes (row-major, element type options->dtype for the embeddings and their gradients:
 * fp32, bf16 or fp16; y, weights and losses are fp32 always):
 *   user, item_raw, item_pos      (B,D)     u_b, r_b, p_b
 *   item_neg                      (B,K,D)   per-row negatives n_bk   (semcl_pos_neg_embed)
 *   neg_pool                      (N,D)     negatives shared by every row (semcl_pos_neg_shared_embed)
 *   y (B), losses and grad_upstream as in the score-level calls; gradients have the shape of
 *   their input. Every gradient pointer may be NULL: it is skipped, and work that only it needs
 *   is not done (all NULL: forward only).
 *
 * Scores: s = score_scale * (u . v) for every pair (raw: u_b.r_b, pos: u_b.p_b, negatives),
 * then exactly the score-level loss (semcl_pos_neg_ex / semcl_positive_only_ex with the same
 * options) on these scores; the gradients are its gradients chained through the dot products.
 *
 * 16-bit embeddings (bf16, fp16): a call returns exactly what the fp32 call returns on the
 * embeddings widened to fp32 (which is exact), every gradient element rounded once to the dtype
 * (to nearest, ties to even). The per-row negatives are read and their gradients written in the
 * dtype directly; the (B,D) arrays and the shared pool go through fp32 copies in the workspace.
 *
 * Determinism: every result is the same bit for bit from run to run and for every thread
 * count and CPU instruction-set level. Per-row negatives and the positive-only loss are
 * moreover bitwise identical on the CPU and on CUDA (a fixed order for every sum, including
 * the dot products over D). The shared pool's three matrix products are GEMMs (OpenBLAS or
 * semcl's own on the CPU, cuBLAS on CUDA): CPU and CUDA then agree within a GEMM-style bound
 * (docs/embeddings.md), and bitwise reproducibility on CUDA holds on one GPU model with one
 * cuBLAS version.
 */

/* Arithmetic of the shared pool's GEMMs on CUDA. On the CPU both values compute in fp32. */
typedef enum semcl_gemm_math {
  SEMCL_GEMM_MATH_FP32 = 0, /* fp32 products and sums (default; CUBLAS_COMPUTE_32F) */
  SEMCL_GEMM_MATH_TF32 = 1  /* tensor cores with TF32-rounded inputs, fp32 sums
                               (CUBLAS_COMPUTE_32F_FAST_TF32): faster, about 1e-3 relative */
} semcl_gemm_math_t;

/*
 * Options of the embedding calls beyond semcl_options (which keeps dtype, neg_mask, neg_count,
 * weight, pos_weight with the meaning of the score-level calls: for the shared pool a
 * negative is (row b, pool entry n), so neg_mask is (B,N) and neg_count counts pool entries).
 * Initialise with SEMCL_EMBED_OPTIONS_INIT; NULL means all defaults.
 *
 *   score_scale     multiplies every dot product (a temperature 1/tau), raw and pos scores
 *                   included; finite (else SEMCL_STATUS_NON_FINITE_SCALAR). Default 1.
 *   pos_index       shared pool only: (B) int64 or NULL. Pool entry pos_index[b] is masked for
 *                   row b (an accidental hit: its own positive in the pool); a value outside
 *                   [0, N) masks nothing (-1 for "none"). Combines with the masks.
 *   gemm_math       shared pool on CUDA: SEMCL_GEMM_MATH_FP32 (default) or _TF32.
 */
typedef struct semcl_embed_options {
  size_t struct_size;          /* sizeof(semcl_embed_options) */
  float score_scale;           /* default 1 */
  const int64_t *pos_index;    /* (B) or NULL; shared pool only */
  semcl_gemm_math_t gemm_math; /* default SEMCL_GEMM_MATH_FP32 */
} semcl_embed_options;

#define SEMCL_EMBED_OPTIONS_INIT {sizeof(semcl_embed_options), 1.0f, NULL, SEMCL_GEMM_MATH_FP32}

/*
 * Loss 2 with per-row negatives: row b's negatives are item_neg[b, 0..K). One pass over
 * item_neg reads each negative once and writes its gradient once (grad_item_neg[b,k] =
 * h_bk * u_b, h_bk = score_scale * dL/ds_bk), while grad_user accumulates h_bk * n_bk.
 * Masked negatives (options->neg_mask, neg_count) do not affect any output (they may hold
 * anything, NaN included) and their grad_item_neg rows are written +0.
 * Aliasing: the only overlap allowed is grad_item_neg == item_neg exactly (in place; each
 * negative is read before its gradient is written). Every other overlap between an output and
 * an input (embeddings, labels, options' arrays) or between two outputs is refused.
 */
SEMCL_API semcl_status_t semcl_pos_neg_embed(
    semcl_context *ctx, int64_t B, int64_t K, int64_t D, const void *user, const void *item_raw,
    const void *item_pos, const void *item_neg, const float *y, float lambda,
    semcl_reduction_t reduction, const semcl_options *options,
    const semcl_embed_options *embed_options, float grad_scale, const float *grad_upstream,
    float *loss, float *loss_ctr, float *loss_aux, void *grad_user, void *grad_item_raw,
    void *grad_item_pos, void *grad_item_neg);

/*
 * Loss 2 with a pool of N negatives shared by every row (in-batch or sampled negatives): row
 * b's negatives are the pool entries not masked for it (neg_mask (B,N), neg_count,
 * embed_options->pos_index). S = score_scale * U N^T, then dU = score_scale * G N and
 * dN = score_scale * G^T U (G: dL/dS) by GEMMs, in chunks of rows so that S is never whole
 * in memory when B*N is large (semcl_get_embed_workspace_size). No output may overlap an input
 * or another output. N and D must be < 2^31 (BLAS sizes). On the CPU the GEMMs are OpenBLAS
 * (or any BLAS found at build time) or, without one, semcl's own (semcl_cpu_gemm_name); on
 * CUDA cuBLAS, loaded on the first call (SEMCL_STATUS_BACKEND_UNAVAILABLE when libcublas
 * cannot be loaded; the message says why).
 */
SEMCL_API semcl_status_t semcl_pos_neg_shared_embed(
    semcl_context *ctx, int64_t B, int64_t N, int64_t D, const void *user, const void *item_raw,
    const void *item_pos, const void *neg_pool, const float *y, float lambda,
    semcl_reduction_t reduction, const semcl_options *options,
    const semcl_embed_options *embed_options, float grad_scale, const float *grad_upstream,
    float *loss, float *loss_ctr, float *loss_aux, void *grad_user, void *grad_item_raw,
    void *grad_item_pos, void *grad_neg_pool);

/* Loss 1 from embeddings: only the row dot products u_b.r_b and u_b.p_b. No output may
 * overlap an input or another output; options->neg_mask and neg_count are refused. */
SEMCL_API semcl_status_t semcl_positive_only_embed(
    semcl_context *ctx, int64_t B, int64_t D, const void *user, const void *item_raw,
    const void *item_pos, const float *y, float lambda, semcl_reduction_t reduction,
    const semcl_options *options, const semcl_embed_options *embed_options, float grad_scale,
    const float *grad_upstream, float *loss, float *loss_ctr, float *loss_aux, void *grad_user,
    void *grad_item_raw, void *grad_item_pos);

/* The embedding calls, for workspace queries. */
typedef enum semcl_embed_kind {
  SEMCL_EMBED_POSITIVE_ONLY = 0, /* semcl_positive_only_embed (K is ignored, must be >= 1) */
  SEMCL_EMBED_PER_ROW = 1,       /* semcl_pos_neg_embed, K negatives per row */
  SEMCL_EMBED_SHARED = 2         /* semcl_pos_neg_shared_embed, K = N pool entries */
} semcl_embed_kind_t;

/* Bytes of workspace an embedding call with these sizes and this dtype (options->dtype) needs
 * on this context (an upper bound for every other option; on the CPU it depends on the thread
 * count, as semcl_get_workspace_size). Per-row negatives and loss 1 need O(B) to O(B*K) floats,
 * never O(B*K*D); the shared pool a chunk of S (at most 32 MiB on the CPU, 64 MiB on CUDA, or
 * B*N floats if smaller) plus O(B). 16-bit embeddings add fp32 copies of the (B,D) arrays and
 * their gradients, and of the shared pool and its gradient: 6*B*D (+ 2*N*D) floats. */
SEMCL_API semcl_status_t semcl_get_embed_workspace_size(const semcl_context *ctx,
                                                        semcl_embed_kind_t kind, int64_t B,
                                                        int64_t K, int64_t D,
                                                        semcl_dtype_t dtype, size_t *bytes);

/* The CPU GEMM the shared-pool call uses on this context: "blas" (the BLAS found at build
 * time, e.g. OpenBLAS) or "builtin" (semcl's own, slower, when the build found no BLAS or the
 * environment variable SEMCL_CPU_GEMM=builtin was set when the context was created). Never
 * NULL ("" for a NULL context). */
SEMCL_API const char *semcl_cpu_gemm_name(const semcl_context *ctx);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SEMCL_SEMCL_H */
