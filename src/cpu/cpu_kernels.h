/* cpu_kernels.h — the CPU loss kernels and their workspace needs (not installed). */
#ifndef SEMCL_CPU_KERNELS_H
#define SEMCL_CPU_KERNELS_H

#include "../semcl_internal.h"
#include "thread_pool.h"

/* x86-64: one clone per ISA level, picked at load time (the baseline has no FMA instruction,
 * so there every fmaf is a libm call). All clones give identical bits: the math is explicit
 * fmaf and basic operations, and contraction is off. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__)
#define SEMCL_CPU_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SEMCL_CPU_CLONES
#endif

/* Bytes of host workspace for one call with `threads` threads. */
size_t semcl_cpu_pos_neg_workspace(int64_t B, int64_t K, int threads);
size_t semcl_cpu_positive_only_workspace(int64_t B);

/* Runs a validated problem on up to `threads` threads of *pool (the context's, created on
 * first use); `workspace` holds at least the bytes above. Cannot fail. */
void semcl_cpu_pos_neg(const semcl_problem *p, int threads, semcl_pool **pool, void *workspace);
void semcl_cpu_positive_only(const semcl_problem *p, int threads, semcl_pool **pool,
                             void *workspace);

/* Fixed-order fp64 sum of per-block partials (shared by both losses). */
void semcl_cpu_finish_reduction(const semcl_problem *p, const double *block_ctr,
                                const double *block_aux, int64_t blocks);

#endif /* SEMCL_CPU_KERNELS_H */
