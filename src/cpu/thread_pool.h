/*
 * thread_pool.h — the CPU backend's thread runtime (POSIX threads; not installed).
 *
 * A context owns at most one pool. semcl_pool_run runs fn(arg, t) for every task index t in
 * [0, n_tasks), each exactly once, on up to `threads` threads counting the calling thread, and
 * returns when every task has finished. Threads claim task indices one at a time from a shared
 * counter, so a thread that the scheduler takes off its core holds up at most the one task it
 * is running: the others take the rest, and a worker that was not running when the call began
 * takes no part at all. fn must store its results by task index; the caller folds them in a
 * fixed order afterwards, so the bits never depend on which thread ran which task.
 *
 * Guarantees:
 *  - threads <= 1 or n_tasks <= 1: every task runs on the calling thread, in index order, with
 *    no synchronisation, no allocation and no system call (the cheap path for small calls).
 *  - Never fails, prints, aborts or exits: when the pool cannot be allocated or a worker thread
 *    cannot be created (pthread_create fails with EAGAIN under a low RLIMIT_NPROC, or ENOMEM
 *    under a small RLIMIT_AS), the call runs with the workers it has, down to the calling
 *    thread alone; a later call tries again to create the missing workers.
 *  - Workers are created lazily, the first time a call asks for more threads than the pool
 *    has, and stay asleep on a condition variable between calls (no spinning). Asking for
 *    fewer threads later leaves the extra workers asleep.
 *  - Workers block every signal, so the host program's handlers run on its own threads.
 *  - On Linux every worker is named SEMCL_POOL_WORKER_NAME (see /proc/<pid>/task/<tid>/comm).
 *  - fork(): a child process never touches a pool inherited from its parent (its mutex may be
 *    held and its workers do not exist there). The first parallel call in the child sees the
 *    changed process id, abandons the inherited pool (a few hundred bytes stay allocated) and
 *    creates a fresh one; semcl_pool_destroy in the child frees the inherited memory without
 *    joining threads that are not there.
 *  - The calling thread is not cancellable while it waits for the workers (a cancelled wait
 *    would leave the pool locked).
 *  - One call at a time per pool: like the context that owns it, a pool is used by one thread
 *    at a time. Distinct pools are independent.
 */
#ifndef SEMCL_THREAD_POOL_H
#define SEMCL_THREAD_POOL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" { /* the tests are C++ */
#endif

#define SEMCL_POOL_WORKER_NAME "semcl-worker"

/* Runs task index `task` of the job described by `arg`. */
typedef void (*semcl_task_fn)(void *arg, int64_t task);

typedef struct semcl_pool semcl_pool;

/* *pool may be NULL (created here when threads are needed). n_tasks <= 0 runs nothing. */
void semcl_pool_run(semcl_pool **pool, int threads, int64_t n_tasks, semcl_task_fn fn,
                    void *arg);

/* Stops and joins the workers and frees the pool. NULL is a no-op. */
void semcl_pool_destroy(semcl_pool *pool);

/* Worker threads the pool has now (not counting callers); 0 for NULL. For tests. */
int semcl_pool_workers(const semcl_pool *pool);

#ifdef __cplusplus
}
#endif

#endif /* SEMCL_THREAD_POOL_H */
