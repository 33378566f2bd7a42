/*
 * thread_pool.c — persistent worker threads with dynamic task claiming (see thread_pool.h).
 *
 * One job at a time. Under the mutex the caller publishes the job (function, argument, task
 * count, a new generation number) and opens `slots` places for workers; a worker joins by
 * taking a slot (under the mutex) and then claims task indices from an atomic counter until
 * none is left. When the caller runs out of tasks it closes the job (slots = 0: a worker that
 * has not joined yet — typically one still waiting for a core — stays out) and waits only for
 * the workers that joined. The mutex hand-offs order every task's stores before the caller's
 * return.
 */
#if defined(__linux__)
#define _GNU_SOURCE /* pthread_setname_np */
#endif
#include "thread_pool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "../semcl_internal.h" /* SEMCL_MAX_THREADS */

/* Worker stack: the kernels keep a few KiB of partial sums on the stack; 4 MiB leaves ample
 * room and, being only reserved address space, costs nothing until touched. */
#define SEMCL_POOL_STACK_BYTES ((size_t)4 << 20)

#if defined(SEMCL_POOL_TEST_HOOKS)
/* Tests replace thread creation to provoke failures (compiled into the test only). */
int (*semcl_pool_test_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *),
                              void *) = pthread_create;
#define SEMCL_POOL_CREATE semcl_pool_test_create
#else
#define SEMCL_POOL_CREATE pthread_create
#endif

struct semcl_pool {
  pid_t owner; /* the process that created the pool (fork detection) */
  pthread_mutex_t mutex;
  pthread_cond_t wake; /* workers wait here for a job with a free slot */
  pthread_cond_t idle; /* the caller waits here for the last joined worker */
  pthread_t *workers;
  int n_workers, capacity;
  int shutdown;
  /* The current job (written under the mutex before it is opened). */
  uint64_t generation; /* 0 before the first job; a worker joins each generation once */
  int slots;           /* workers that may still join; 0 when the job is closed */
  int active;          /* workers that joined and have not finished */
  semcl_task_fn fn;
  void *arg;
  int64_t n_tasks;
  _Atomic int64_t next; /* the next unclaimed task index */
};

/* Claims and runs tasks until none is left. Relaxed is enough: the counter only hands out
 * distinct indices; the results are published by the mutex when the thread reports back. */
static void claim_tasks(semcl_pool *p, semcl_task_fn fn, void *arg, int64_t n_tasks) {
  for (;;) {
    const int64_t t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
    if (t >= n_tasks) return;
    fn(arg, t);
  }
}

static void *worker_main(void *arg) {
  semcl_pool *p = (semcl_pool *)arg;
  uint64_t joined = 0; /* generation of the last job this worker took part in */
  pthread_mutex_lock(&p->mutex);
  for (;;) {
    while (!p->shutdown && (p->slots == 0 || p->generation == joined))
      pthread_cond_wait(&p->wake, &p->mutex);
    if (p->shutdown) break;
    joined = p->generation;
    --p->slots;
    ++p->active;
    const semcl_task_fn fn = p->fn;
    void *const job_arg = p->arg;
    const int64_t n_tasks = p->n_tasks;
    pthread_mutex_unlock(&p->mutex);
    claim_tasks(p, fn, job_arg, n_tasks);
    pthread_mutex_lock(&p->mutex);
    if (--p->active == 0) pthread_cond_signal(&p->idle);
  }
  pthread_mutex_unlock(&p->mutex);
  return NULL;
}

static semcl_pool *pool_create(void) {
  semcl_pool *p = (semcl_pool *)calloc(1, sizeof *p);
  if (!p) return NULL;
  if (pthread_mutex_init(&p->mutex, NULL) != 0) {
    free(p);
    return NULL;
  }
  if (pthread_cond_init(&p->wake, NULL) != 0) {
    pthread_mutex_destroy(&p->mutex);
    free(p);
    return NULL;
  }
  if (pthread_cond_init(&p->idle, NULL) != 0) {
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mutex);
    free(p);
    return NULL;
  }
  atomic_init(&p->next, 0);
  p->owner = getpid();
  return p;
}

/* Grows the pool towards `wanted` workers; stops at the first failure (the call then runs
 * with what there is). Called with the mutex held: a new worker waits for it before looking
 * at the job. */
static void add_workers(semcl_pool *p, int wanted) {
  if (wanted > SEMCL_MAX_THREADS - 1) wanted = SEMCL_MAX_THREADS - 1;
  if (p->n_workers >= wanted) return;
  if (p->capacity < wanted) {
    pthread_t *grown = (pthread_t *)realloc(p->workers, (size_t)wanted * sizeof *grown);
    if (!grown) return;
    p->workers = grown;
    p->capacity = wanted;
  }
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return;
  pthread_attr_setstacksize(&attr, SEMCL_POOL_STACK_BYTES); /* failure: the default stack */
  /* A new thread inherits the creating thread's signal mask: block everything around the
   * creation so that workers never run the host program's signal handlers. */
  sigset_t all, saved;
  sigfillset(&all);
  const int masked = pthread_sigmask(SIG_SETMASK, &all, &saved) == 0;
  while (p->n_workers < wanted) {
    if (SEMCL_POOL_CREATE(&p->workers[p->n_workers], &attr, worker_main, p) != 0) break;
#if defined(__linux__)
    /* Recognisable in `top -H`, debuggers and /proc/<pid>/task/<tid>/comm; named here rather
     * than by the worker so that the name is in place when the call returns. */
    pthread_setname_np(p->workers[p->n_workers], SEMCL_POOL_WORKER_NAME);
#endif
    ++p->n_workers;
  }
  if (masked) pthread_sigmask(SIG_SETMASK, &saved, NULL);
  pthread_attr_destroy(&attr);
}

static void run_serial(int64_t n_tasks, semcl_task_fn fn, void *arg) {
  for (int64_t t = 0; t < n_tasks; ++t) fn(arg, t);
}

void semcl_pool_run(semcl_pool **pool, int threads, int64_t n_tasks, semcl_task_fn fn,
                    void *arg) {
  if (threads <= 1 || n_tasks <= 1) {
    run_serial(n_tasks, fn, arg);
    return;
  }
  semcl_pool *p = *pool;
  if (p && p->owner != getpid()) p = *pool = NULL; /* inherited through fork: abandoned */
  if (!p) p = *pool = pool_create();
  if (!p) {
    run_serial(n_tasks, fn, arg);
    return;
  }
  /* More helpers than tasks left after the caller's first would find nothing to do. */
  int helpers = threads - 1;
  if ((int64_t)helpers > n_tasks - 1) helpers = (int)(n_tasks - 1);

  int cancel_state;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
  pthread_mutex_lock(&p->mutex);
  add_workers(p, helpers);
  if (helpers > p->n_workers) helpers = p->n_workers;
  p->fn = fn;
  p->arg = arg;
  p->n_tasks = n_tasks;
  atomic_store_explicit(&p->next, 0, memory_order_relaxed);
  ++p->generation;
  p->slots = helpers;
  if (helpers == p->n_workers) {
    pthread_cond_broadcast(&p->wake);
  } else {
    for (int i = 0; i < helpers; ++i) pthread_cond_signal(&p->wake);
  }
  pthread_mutex_unlock(&p->mutex);

  claim_tasks(p, fn, arg, n_tasks);

  pthread_mutex_lock(&p->mutex);
  p->slots = 0; /* closed: workers that have not joined yet stay out of this job */
  while (p->active > 0) pthread_cond_wait(&p->idle, &p->mutex);
  pthread_mutex_unlock(&p->mutex);
  pthread_setcancelstate(cancel_state, NULL);
}

void semcl_pool_destroy(semcl_pool *pool) {
  if (!pool) return;
  if (pool->owner != getpid()) {
    /* Inherited through fork: the workers do not exist here and the mutex may be held. */
    free(pool->workers);
    free(pool);
    return;
  }
  int cancel_state;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
  pthread_mutex_lock(&pool->mutex);
  pool->shutdown = 1;
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->mutex);
  for (int i = 0; i < pool->n_workers; ++i) pthread_join(pool->workers[i], NULL);
  pthread_setcancelstate(cancel_state, NULL);
  pthread_cond_destroy(&pool->idle);
  pthread_cond_destroy(&pool->wake);
  pthread_mutex_destroy(&pool->mutex);
  free(pool->workers);
  free(pool);
}

int semcl_pool_workers(const semcl_pool *pool) {
  if (!pool) return 0;
  return pool->n_workers; /* the owner's view: only the owning thread changes it */
}
