/* semcl_internal.h — the context and the backend interface (not installed). */
#ifndef SEMCL_INTERNAL_H
#define SEMCL_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "semcl/semcl.h"

#define SEMCL_MESSAGE_CAPACITY 512
#define SEMCL_NOTE_CAPACITY 384
#define SEMCL_MAX_THREADS 1024

/* One validated call: the public entry points fill it and hand it to a backend. */
typedef struct semcl_problem {
  semcl_loss_kind_t kind;
  int64_t B;
  int64_t K; /* 1 for the positive-only loss */
  semcl_dtype_t dtype; /* of the scores and the gradients */
  const void *score_raw;
  const void *score_pos;
  const void *score_neg; /* NULL for the positive-only loss */
  const float *y;
  const uint8_t *neg_mask;  /* (B,K) or NULL */
  const int32_t *neg_count; /* (B) or NULL */
  const float *weight;      /* (B) or NULL */
  const float *pos_weight;  /* (pos_weight_count) or NULL */
  int64_t pos_weight_count;
  float lambda;
  semcl_reduction_t reduction;
  float grad_scale;
  const float *grad_upstream; /* may be NULL (= 1) */
  float *loss;
  float *loss_ctr;
  float *loss_aux;
  void *grad_raw; /* each gradient may be NULL */
  void *grad_pos;
  void *grad_neg;
} semcl_problem;

/* Whether a pairwise call has any mask. */
static inline int semcl_problem_masked(const semcl_problem *p) {
  return p->neg_mask != NULL || p->neg_count != NULL;
}

/* A workspace byte count rounded up to 16, so that every part of a workspace stays aligned. */
static inline size_t semcl_round16(size_t bytes) { return (bytes + 15u) & ~(size_t)15u; }

struct semcl_embed_problem; /* semcl_embed.h: one validated embedding call */

typedef struct semcl_backend_ops {
  semcl_status_t (*run)(semcl_context *ctx, const semcl_problem *problem);
  semcl_status_t (*workspace_size)(const semcl_context *ctx, semcl_loss_kind_t kind, int64_t B,
                                   int64_t K, size_t *bytes);
  /* Refuses pointers in the wrong memory space (may be NULL: nothing to check). */
  semcl_status_t (*check_pointers)(semcl_context *ctx, const void *const *pointers,
                                   const char *const *names, int count);
  semcl_status_t (*buffer_alloc)(semcl_context *ctx, void **ptr, size_t bytes);
  semcl_status_t (*buffer_free)(semcl_context *ctx, void *ptr);
  semcl_status_t (*upload)(semcl_context *ctx, void *dst, const void *src, size_t bytes);
  semcl_status_t (*download)(semcl_context *ctx, void *dst, const void *src, size_t bytes);
  semcl_status_t (*synchronize)(semcl_context *ctx);
  void (*release)(semcl_context *ctx); /* frees backend state; called by semcl_destroy */
  /* The embedding calls (semcl_embed.h); kind is a semcl_embed_kind_t. */
  semcl_status_t (*run_embed)(semcl_context *ctx, const struct semcl_embed_problem *problem);
  /* staged: 16-bit embeddings (room for their fp32 copies, semcl_embed_stage.h). */
  semcl_status_t (*embed_workspace_size)(const semcl_context *ctx, int kind, int64_t B,
                                         int64_t K, int64_t D, int staged, size_t *bytes);
} semcl_backend_ops;

struct semcl_pool; /* src/cpu/thread_pool.h */

struct semcl_context {
  semcl_backend_t backend;
  const semcl_backend_ops *ops;
  int threads;             /* 0 = the CPUs this process may use (semcl_cpu_count) */
  semcl_cpu_isa_t cpu_isa; /* the CPU kernels' instruction-set level */
  struct CUstream_st *stream;
  /* Workspace: the context's own (owned) or the caller's (borrowed). */
  void *own_workspace;
  size_t own_workspace_bytes;
  void *user_workspace;
  size_t user_workspace_bytes;
  void *backend_state; /* owned by the backend (CUDA: device, handles) */
  struct semcl_pool *pool; /* CPU worker threads, created on first use (cpu/thread_pool.c) */
  int pointer_checks_off; /* semcl_set_pointer_checks(ctx, 0): skip the memory-space checks */
  int cpu_gemm_builtin; /* shared-pool GEMMs on the CPU: semcl's own instead of the BLAS */
  void *embed_state;    /* owned by the CUDA embedding code (cuBLAS handle); NULL until used */
  char message[SEMCL_MESSAGE_CAPACITY];
  char backend_note[SEMCL_NOTE_CAPACITY]; /* why AUTO chose the CPU; "" otherwise */
};

/* Records a formatted detail message and returns `status` (for `return semcl_fail(...)`). */
semcl_status_t semcl_fail(semcl_context *ctx, semcl_status_t status, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void semcl_clear_error(semcl_context *ctx);

/* B >= 1, K >= 1 and B*K floats addressable with 64-bit byte counts: INVALID_SIZE or
 * SIZE_OVERFLOW with a message naming `fn`, else SUCCESS. Shared by every call taking sizes. */
semcl_status_t semcl_check_sizes(semcl_context *ctx, const char *fn, int64_t B, int64_t K);

/* The score-level calls' checks of everything but the arrays, in this order: reduction and
 * dtype enums, B and K (semcl_check_sizes), lambda and grad_scale finite, no masks for the
 * positive-only loss, pos_weight_count. The embedding calls run them on a score view of their
 * call (same messages). */
semcl_status_t semcl_check_scalars(semcl_context *ctx, const char *fn, const semcl_problem *p);
/* Copies a semcl_options (NULL = defaults) into p's dtype, masks and weights; INVALID_VALUE
 * for a struct_size the library does not know. */
semcl_status_t semcl_apply_options(semcl_context *ctx, const char *fn,
                                   const semcl_options *options, semcl_problem *p);

/* One array argument of a call, for the shared argument checks (semcl_api.c). */
typedef struct semcl_region {
  const void *ptr;
  size_t bytes;
  const char *name;
  int is_output;
  int required;
  int inplace_pair; /* regions with the same non-zero value may coincide exactly */
} semcl_region;

/* The checks every loss call makes on its arrays, in this order: required pointers not NULL
 * (NULL_POINTER), no overlap involving an output except an allowed in-place pair (ALIASING;
 * `inplace_rule` names the allowed overlap in the message), every distinct pointer in the
 * context's memory space (the backend's check_pointers). Writes nothing but the message. */
semcl_status_t semcl_check_regions(semcl_context *ctx, const char *fn, const semcl_region *regions,
                                   int count, const char *inplace_rule);

/* The CPU thread count to use for this call (resolves 0 to semcl_cpu_count(): the affinity
 * mask and the cgroup CPU quota). */
int semcl_effective_threads(const semcl_context *ctx);

/* Workspace of at least `bytes` in the backend's memory space: the caller's if one was set
 * (INVALID_VALUE when too small), else the context's own, grown with `grow` when needed. */
typedef void *(*semcl_alloc_fn)(semcl_context *ctx, size_t bytes);
typedef void (*semcl_free_fn)(semcl_context *ctx, void *ptr);
semcl_status_t semcl_acquire_workspace(semcl_context *ctx, size_t bytes, semcl_alloc_fn alloc,
                                       semcl_free_fn release, void **workspace);

extern const semcl_backend_ops semcl_cpu_backend;

/* CUDA backend (cuda/): only in builds with SEMCL_HAVE_CUDA. */
#if defined(SEMCL_HAVE_CUDA)
extern const semcl_backend_ops semcl_cuda_backend;
/* 1 if the calling thread's current CUDA device is usable (survives a missing driver), else 0
 * with the reason in why[why_size]. Creates no CUDA context. */
int semcl_cuda_device_usable(char *why, size_t why_size);
/* Sets up backend_state on a new context (this creates the device's CUDA context, which can
 * fail although the device is usable, e.g. in exclusive-process mode held by another
 * process); on failure sets the message and leaves backend_state NULL. */
semcl_status_t semcl_cuda_init_context(semcl_context *ctx);
/* For CPU contexts: WRONG_MEMORY_SPACE (with the argument's name) if any pointer is device
 * memory; host, pinned and managed memory pass. */
semcl_status_t semcl_cuda_refuse_device_pointers(semcl_context *ctx, const void *const *pointers,
                                                 const char *const *names, int count);
#endif

#endif /* SEMCL_INTERNAL_H */
