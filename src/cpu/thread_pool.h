/* thread_pool.h — the CPU backend's worker threads (not installed).
 * Placeholder with the final interface: runs every task on the calling thread. */
#ifndef SEMCL_THREAD_POOL_H
#define SEMCL_THREAD_POOL_H

#include <stdint.h>

typedef void (*semcl_task_fn)(void *arg, int64_t task);
typedef struct semcl_pool semcl_pool;

/* Runs fn(arg, t) for every t in [0, n_tasks) on up to `threads` threads (the caller
 * included); results must be stored by task index. Never fails. */
void semcl_pool_run(semcl_pool **pool, int threads, int64_t n_tasks, semcl_task_fn fn,
                    void *arg);
void semcl_pool_destroy(semcl_pool *pool); /* NULL-safe */

#endif /* SEMCL_THREAD_POOL_H */
