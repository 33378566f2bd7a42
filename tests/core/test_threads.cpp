// test_threads.cpp — the CPU thread runtime (src/cpu/thread_pool.c) and what the library does
// with it.
//
// The pool, compiled into this test with its pthread_create hook: every task runs exactly
// once for any (threads, tasks); the requested number of threads really runs concurrently and
// never more; failed thread creation degrades to fewer threads; workers block signals; a forked
// child does not deadlock on an inherited pool.
// The library: semcl_set_threads decides how many worker threads exist; results are bitwise
// identical for every thread count; under a process limit (RLIMIT_NPROC, RLIMIT_AS) that makes
// thread creation fail the process survives and the results stay exact; the default thread
// count follows the affinity mask.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <grp.h>  // setgroups

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core_util.h"
#include "cpu_count.h"
#include "thread_pool.h"
#include "thread_test_util.h"

extern "C" int (*semcl_pool_test_create)(pthread_t *, const pthread_attr_t *,
                                         void *(*)(void *), void *);

// Sanitizer builds: which runtime is in (gcc defines __SANITIZE_*, clang has __has_feature).
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SEMCL_TEST_TSAN 1
#endif
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define SEMCL_TEST_SHADOW_MEMORY 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SEMCL_TEST_TSAN 1
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SEMCL_TEST_SHADOW_MEMORY 1
#endif

#if defined(SEMCL_TEST_TSAN)
#define SEMCL_TEST_SHADOW_MEMORY 1
// ThreadSanitizer refuses by default to start threads in the child of a multi-threaded
// fork, which is exactly what ForkedChildDoesNotDeadlockOnAnInheritedPool checks.
extern "C" const char *__tsan_default_options() { return "die_after_fork=0"; }
#endif

namespace {

using namespace semcl_core_test;
using namespace semcl_thread_test;

// ---- pool helpers ----------------------------------------------------------------------

// Counts how often each task index ran, and notes any index out of range.
struct CountingJob {
  std::vector<std::atomic<int>> runs;
  std::atomic<int> out_of_range{0};
  explicit CountingJob(int64_t n) : runs((size_t)n) {
    for (auto &r : runs) r.store(0);
  }
  static void Task(void *arg, int64_t t) {
    auto *job = static_cast<CountingJob *>(arg);
    if (t < 0 || t >= (int64_t)job->runs.size()) {
      job->out_of_range.fetch_add(1);
      return;
    }
    job->runs[(size_t)t].fetch_add(1);
  }
  // "" when every task ran exactly once.
  std::string Problems() const {
    std::ostringstream s;
    if (out_of_range.load()) s << out_of_range.load() << " out-of-range task indices; ";
    int reported = 0;
    for (size_t i = 0; i < runs.size() && reported < 5; ++i)
      if (runs[i].load() != 1) {
        s << "task " << i << " ran " << runs[i].load() << " times; ";
        ++reported;
      }
    return s.str();
  }
};

// Tasks that record which threads ran them and how many ran at once; with `meet` > 0 each
// of the first `meet` tasks waits (up to 30 s) until `meet` tasks are running together.
struct ConcurrencyJob {
  std::mutex m;
  std::condition_variable cv;
  int running = 0, max_running = 0, arrived = 0, meet = 0;
  bool timed_out = false;
  std::set<pthread_t> threads;
  std::set<pthread_t> workers_with_unblocked_signals;
  pthread_t caller = pthread_self();

  static void Task(void *arg, int64_t t) {
    auto *job = static_cast<ConcurrencyJob *>(arg);
    // Signal mask of this thread, checked on workers only.
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    const bool all_blocked = sigismember(&mask, SIGINT) == 1 && sigismember(&mask, SIGTERM) == 1 &&
                             sigismember(&mask, SIGUSR1) == 1 &&
                             sigismember(&mask, SIGCHLD) == 1 && sigismember(&mask, SIGALRM) == 1;
    std::unique_lock<std::mutex> lock(job->m);
    job->threads.insert(pthread_self());
    if (!pthread_equal(pthread_self(), job->caller) && !all_blocked)
      job->workers_with_unblocked_signals.insert(pthread_self());
    ++job->running;
    if (job->running > job->max_running) job->max_running = job->running;
    if (t < job->meet) {
      ++job->arrived;
      job->cv.notify_all();
      if (!job->cv.wait_for(lock, std::chrono::seconds(30),
                            [job] { return job->arrived >= job->meet; }))
        job->timed_out = true;
    }
    --job->running;
  }
};

// pthread_create that succeeds `allowed` more times, then fails with EAGAIN.
std::atomic<int> g_creations_allowed{0};
int LimitedCreate(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
  if (g_creations_allowed.fetch_sub(1) <= 0) return EAGAIN;
  return pthread_create(t, attr, fn, arg);
}

struct RealCreate {  // restores the real pthread_create at the end of a test
  ~RealCreate() { semcl_pool_test_create = pthread_create; }
};

// ---- the pool ----------------------------------------------------------------------------

TEST(ThreadPool, EveryTaskRunsExactlyOnce) {
  semcl_pool *pool = nullptr;  // one pool for all: it grows and is reused
  for (int threads : {-1, 0, 1, 2, 3, 4, 8, 17}) {
    for (int64_t n : {0, 1, 2, 3, 7, 16, 17, 64, 1000, 10007}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + ", tasks " + std::to_string(n));
      CountingJob job(n);
      semcl_pool_run(&pool, threads, n, CountingJob::Task, &job);
      EXPECT_EQ(job.Problems(), "");
    }
  }
  EXPECT_EQ(semcl_pool_workers(pool), 16);  // the largest request, less the calling thread
  semcl_pool_destroy(pool);
  // A fresh pool per call too (creation, first job and destruction back to back).
  for (int threads : {2, 5}) {
    for (int64_t n : {2, 5, 333}) {
      semcl_pool *fresh = nullptr;
      CountingJob job(n);
      semcl_pool_run(&fresh, threads, n, CountingJob::Task, &job);
      EXPECT_EQ(job.Problems(), "") << "fresh pool, threads " << threads << ", tasks " << n;
      semcl_pool_destroy(fresh);
    }
  }
  semcl_pool_destroy(nullptr);  // no-op
}

// threads <= 1 or a single task: the calling thread, in index order, and no pool at all.
TEST(ThreadPool, SerialCallsStayOnTheCallingThreadWithoutAPool) {
  for (int threads : {-3, 0, 1, 4}) {
    const int64_t n = threads > 1 ? 1 : 50;
    struct Order {
      std::vector<int64_t> seen;
      bool other_thread = false;
      pthread_t caller = pthread_self();
      static void Task(void *arg, int64_t t) {
        auto *o = static_cast<Order *>(arg);
        o->seen.push_back(t);
        if (!pthread_equal(pthread_self(), o->caller)) o->other_thread = true;
      }
    } order;
    semcl_pool *pool = nullptr;
    semcl_pool_run(&pool, threads, n, Order::Task, &order);
    EXPECT_EQ(pool, nullptr) << "threads " << threads << ": a pool was created";
    ASSERT_EQ(order.seen.size(), (size_t)n);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(order.seen[(size_t)i], i);
    EXPECT_FALSE(order.other_thread);
  }
}

// `threads` threads run together (they all meet inside tasks), never more, and the pool keeps
// its workers between calls: a larger request adds workers, a smaller one uses fewer.
TEST(ThreadPool, RequestedThreadCountRunsConcurrently) {
  semcl_pool *pool = nullptr;
  for (int threads : {2, 4, 3, 6, 2}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    {
      ConcurrencyJob meet;
      meet.meet = threads;
      semcl_pool_run(&pool, threads, threads, ConcurrencyJob::Task, &meet);
      EXPECT_FALSE(meet.timed_out) << "fewer than " << threads << " threads ran the tasks";
      EXPECT_EQ((int)meet.threads.size(), threads);
      EXPECT_TRUE(meet.threads.count(pthread_self())) << "the caller took no task";
    }
    {
      ConcurrencyJob many;  // many short tasks: never more than `threads` at once
      semcl_pool_run(&pool, threads, 20000, ConcurrencyJob::Task, &many);
      EXPECT_LE(many.max_running, threads);
      EXPECT_LE((int)many.threads.size(), threads);
    }
  }
  EXPECT_EQ(semcl_pool_workers(pool), 5);
  // More threads than tasks: only tasks - 1 helpers are needed.
  ConcurrencyJob few;
  semcl_pool_run(&pool, 16, 3, ConcurrencyJob::Task, &few);
  EXPECT_LE(few.max_running, 3);
  EXPECT_EQ(semcl_pool_workers(pool), 5) << "workers created that could have had no task";
  semcl_pool_destroy(pool);
}

// pthread_create failing (as under a low `ulimit -u`): the job still runs completely, with the
// threads that exist; a later call creates the missing workers.
TEST(ThreadPool, FailedThreadCreationRunsWithFewerThreads) {
  RealCreate restore;
  semcl_pool_test_create = LimitedCreate;
  semcl_pool *pool = nullptr;

  g_creations_allowed = 0;  // no worker at all: the calling thread alone
  {
    CountingJob job(1000);
    semcl_pool_run(&pool, 4, 1000, CountingJob::Task, &job);
    EXPECT_EQ(job.Problems(), "");
    ConcurrencyJob who;
    semcl_pool_run(&pool, 4, 500, ConcurrencyJob::Task, &who);
    EXPECT_EQ(who.threads, std::set<pthread_t>{pthread_self()});
    EXPECT_EQ(semcl_pool_workers(pool), 0);
  }
  g_creations_allowed = 1;  // one of three workers
  {
    ConcurrencyJob meet;
    meet.meet = 2;
    semcl_pool_run(&pool, 4, 2, ConcurrencyJob::Task, &meet);
    EXPECT_FALSE(meet.timed_out);
    EXPECT_EQ(semcl_pool_workers(pool), 1);
    ConcurrencyJob many;
    semcl_pool_run(&pool, 4, 20000, ConcurrencyJob::Task, &many);
    EXPECT_LE(many.max_running, 2);
    CountingJob job(777);
    semcl_pool_run(&pool, 4, 777, CountingJob::Task, &job);
    EXPECT_EQ(job.Problems(), "");
  }
  g_creations_allowed = 100;  // creation works again: the pool grows to the request
  {
    ConcurrencyJob meet;
    meet.meet = 4;
    semcl_pool_run(&pool, 4, 4, ConcurrencyJob::Task, &meet);
    EXPECT_FALSE(meet.timed_out);
    EXPECT_EQ((int)meet.threads.size(), 4);
    EXPECT_EQ(semcl_pool_workers(pool), 3);
  }
  semcl_pool_destroy(pool);
}

// Workers block every signal: the host program's handlers run on its own threads.
std::atomic<pid_t> g_handler_tid{0};
std::atomic<int> g_handler_runs{0};
void RecordHandlerThread(int) {
  g_handler_tid.store((pid_t)syscall(SYS_gettid));
  g_handler_runs.fetch_add(1);
}

TEST(ThreadPool, WorkersBlockSignals) {
  semcl_pool *pool = nullptr;
  ConcurrencyJob meet;  // all three threads run a task: the workers' masks are inspected
  meet.meet = 3;
  semcl_pool_run(&pool, 3, 3, ConcurrencyJob::Task, &meet);
  ASSERT_FALSE(meet.timed_out);
  EXPECT_TRUE(meet.workers_with_unblocked_signals.empty())
      << meet.workers_with_unblocked_signals.size() << " workers run with signals unblocked";
  // The caller's own mask is untouched.
  sigset_t mine;
  pthread_sigmask(SIG_BLOCK, nullptr, &mine);
  EXPECT_EQ(sigismember(&mine, SIGUSR1), 0);

  // A process-directed signal while the caller blocks it stays pending (no worker takes it)
  // and is handled by the caller once it unblocks.
  struct sigaction sa = {}, old = {};
  sa.sa_handler = RecordHandlerThread;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
  g_handler_runs = 0;
  kill(getpid(), SIGUSR1);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(g_handler_runs.load(), 0) << "a worker ran the handler";
  pthread_sigmask(SIG_UNBLOCK, &usr1, nullptr);
  EXPECT_EQ(g_handler_runs.load(), 1);
  EXPECT_EQ(g_handler_tid.load(), (pid_t)syscall(SYS_gettid));
  sigaction(SIGUSR1, &old, nullptr);
  semcl_pool_destroy(pool);
}

// fork() while another thread is inside a job: the child inherits a pool whose workers do not
// exist there and whose job never ends. Its calls must still complete (on a fresh pool), and
// destroying the inherited pool must not wait for the missing threads.
TEST(ThreadPool, ForkedChildDoesNotDeadlockOnAnInheritedPool) {
  semcl_pool *pool = nullptr;
  ConcurrencyJob busy;  // three threads held inside tasks until released
  busy.meet = 4;        // never reached by 3 threads: they wait until `release`
  std::thread holder([&] { semcl_pool_run(&pool, 3, 3, ConcurrencyJob::Task, &busy); });
  for (int i = 0; i < 3000; ++i) {  // until the three are inside their tasks
    {
      std::lock_guard<std::mutex> lock(busy.m);
      if (busy.arrived == 3) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  {
    std::lock_guard<std::mutex> lock(busy.m);
    ASSERT_EQ(busy.arrived, 3);
  }
  const ChildOutcome child = RunInChild(
      [&]() -> int {
        semcl_pool *inherited = pool;
        CountingJob job(5000);
        semcl_pool_run(&pool, 3, 5000, CountingJob::Task, &job);
        if (!job.Problems().empty()) {
          std::printf("child: %s\n", job.Problems().c_str());
          return 1;
        }
        if (pool == inherited || semcl_pool_workers(pool) != 2) {
          std::printf("child: the pool was not recreated (%d workers)\n",
                      semcl_pool_workers(pool));
          return 2;
        }
        ConcurrencyJob meet;
        meet.meet = 3;
        semcl_pool_run(&pool, 3, 3, ConcurrencyJob::Task, &meet);
        if (meet.timed_out) {
          std::printf("child: the new pool does not run 3 threads\n");
          return 3;
        }
        semcl_pool_destroy(pool);
        semcl_pool_destroy(inherited);  // must return: its workers are not in this process
        return 0;
      },
      60);
  {
    std::lock_guard<std::mutex> lock(busy.m);
    busy.meet = 3;  // release the parent's tasks
    busy.cv.notify_all();
  }
  holder.join();
  EXPECT_TRUE(child.finished && child.exit_code == 0) << Describe(child);
  semcl_pool_destroy(pool);
}

// ---- the library --------------------------------------------------------------------------

struct Context {
  semcl_context *ctx = nullptr;
  Context() { EXPECT_EQ(semcl_create(&ctx, SEMCL_BACKEND_CPU), SEMCL_STATUS_SUCCESS); }
  ~Context() { semcl_destroy(ctx); }
};

// Shapes that exercise both splits and loss 1 (see src/cpu/pos_neg_cpu.c).
Problem RowSplitProblem() {  // many rows: threads take row blocks
  std::mt19937_64 rng(71);
  Problem p = RandomProblem(rng, true, 4099, 67, 3.0, true);
  p.lambda = 0.7f;
  p.grad_scale = 1.3f;
  return p;
}
Problem ChunkSplitProblem() {  // few long rows: threads take chunks of rows
  std::mt19937_64 rng(72);
  Problem p = RandomProblem(rng, true, 3, 50000, 3.0, false);
  p.reduction = SEMCL_REDUCTION_SUM;
  return p;
}
Problem PositiveOnlyProblem() {
  std::mt19937_64 rng(73);
  Problem p = RandomProblem(rng, false, 70001, 1, 3.0, true);
  p.reduction = SEMCL_REDUCTION_NONE;
  return p;
}

// semcl_set_threads(T) gives exactly T - 1 worker threads (the calling thread is the T-th),
// created by the first call that has work for them and kept until the context is destroyed.
// Ignoring the setting (or reading the default instead) gives another count.
TEST(LibraryThreads, SetThreadsDecidesHowManyWorkersExist) {
  ASSERT_EQ(PoolWorkerCount(), 0);
  // 8 row blocks of 256 rows, 32768 elements: big enough to thread, room for 8 threads.
  std::mt19937_64 rng(74);
  const Problem p = RandomProblem(rng, true, 8 * 256, 16, 3.0, false);
  {
    Context c;
    ASSERT_EQ(semcl_set_threads(c.ctx, 1), SEMCL_STATUS_SUCCESS);
    ASSERT_EQ(RunSemcl(c.ctx, p).status, SEMCL_STATUS_SUCCESS);
    EXPECT_EQ(PoolWorkerCount(), 0) << "threads = 1 created workers";
    int expected_workers = 0;
    for (int threads : {3, 7, 5}) {
      ASSERT_EQ(semcl_set_threads(c.ctx, threads), SEMCL_STATUS_SUCCESS);
      const Result r = RunSemcl(c.ctx, p);
      ASSERT_EQ(r.status, SEMCL_STATUS_SUCCESS) << r.error;
      expected_workers = std::max(expected_workers, threads - 1);  // kept, never shrunk
      EXPECT_EQ(PoolWorkerCount(), expected_workers) << "threads = " << threads;
    }
    // Loss 1 uses the same workers.
    ASSERT_EQ(semcl_set_threads(c.ctx, 8), SEMCL_STATUS_SUCCESS);
    ASSERT_EQ(RunSemcl(c.ctx, PositiveOnlyProblem()).status, SEMCL_STATUS_SUCCESS);
    EXPECT_EQ(PoolWorkerCount(), 7);
    // Small calls stay on the calling thread: no new worker for a 2x2 call at 12 threads.
    ASSERT_EQ(semcl_set_threads(c.ctx, 12), SEMCL_STATUS_SUCCESS);
    Problem tiny = RandomProblem(rng, true, 2, 2, 1.0, false);
    ASSERT_EQ(RunSemcl(c.ctx, tiny).status, SEMCL_STATUS_SUCCESS);
    EXPECT_EQ(PoolWorkerCount(), 7);
  }
  EXPECT_EQ(PoolWorkerCount(), 0) << "semcl_destroy left worker threads behind";
}

// Bitwise identical results for every thread count, including more threads than tasks and the
// default (0), on both losses and both splits.
TEST(LibraryThreads, ResultsAreBitwiseIdenticalForEveryThreadCount) {
  const Problem problems[] = {RowSplitProblem(), ChunkSplitProblem(), PositiveOnlyProblem()};
  const char *names[] = {"row split", "chunk split", "positive-only"};
  Context c;
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(names[i]);
    ASSERT_EQ(semcl_set_threads(c.ctx, 1), SEMCL_STATUS_SUCCESS);
    const Result one = RunSemcl(c.ctx, problems[i]);
    ASSERT_EQ(one.status, SEMCL_STATUS_SUCCESS) << one.error;
    ExpectResultClose(one, Reference(problems[i]));  // and right, not only reproducible
    for (int threads : {2, 3, 4, 7, 16, 64, 0}) {
      SCOPED_TRACE("threads " + std::to_string(threads));
      ASSERT_EQ(semcl_set_threads(c.ctx, threads), SEMCL_STATUS_SUCCESS);
      for (int rep = 0; rep < 2; ++rep) ExpectAllBitwiseEqual(RunSemcl(c.ctx, problems[i]), one);
    }
  }
}

// Results of the three problems with one thread, computed in the parent (the expectation for
// the children below).
std::vector<std::unique_ptr<PreparedCall>> SingleThreadResults() {
  std::vector<std::unique_ptr<PreparedCall>> out;
  semcl_context *ctx = nullptr;
  EXPECT_EQ(semcl_create(&ctx, SEMCL_BACKEND_CPU), SEMCL_STATUS_SUCCESS);
  EXPECT_EQ(semcl_set_threads(ctx, 1), SEMCL_STATUS_SUCCESS);
  for (const Problem &p : {RowSplitProblem(), ChunkSplitProblem(), PositiveOnlyProblem()}) {
    out.push_back(std::make_unique<PreparedCall>(p));
    EXPECT_EQ(out.back()->Run(ctx), SEMCL_STATUS_SUCCESS);
  }
  semcl_destroy(ctx);
  return out;
}

// Creates parked threads of several stack sizes until pthread_create fails for each size.
// Under RLIMIT_AS this also uses up the stacks that glibc keeps cached from threads the
// parent ran before fork (a cached stack needs no new address space, so without this a
// worker could still start). Returns how many threads it created (they never end).
int ExhaustThreadCreation() {
  int created = 0;
  for (size_t stack : {size_t(16) << 20, size_t(4) << 20, size_t(1) << 20, size_t(64) << 10}) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack);
    for (int i = 0; i < 10000; ++i) {
      pthread_t t;
      if (pthread_create(&t, &attr, [](void *) -> void * {
            for (;;) pause();
          }, nullptr) != 0)
        break;
      ++created;
    }
    pthread_attr_destroy(&attr);
  }
  return created;
}

// In a child whose resource limit has just been lowered by `limit` (returns "" or why it
// could not): 4-thread calls must succeed with the single-thread bits and create no thread.
int CheckUnderLimit(const std::vector<std::unique_ptr<PreparedCall>> &expected,
                    const std::function<std::string()> &limit) {
  std::vector<std::unique_ptr<PreparedCall>> calls;
  for (const auto &e : expected) calls.push_back(std::make_unique<PreparedCall>(e->p));
  semcl_context *ctx = nullptr;
  if (semcl_create(&ctx, SEMCL_BACKEND_CPU) != SEMCL_STATUS_SUCCESS ||
      semcl_set_threads(ctx, 4) != SEMCL_STATUS_SUCCESS) {
    std::printf("cannot create a context\n");
    return 10;
  }
  const std::string why = limit();
  if (!why.empty()) {
    std::printf("cannot set the limit: %s\n", why.c_str());
    return 11;
  }
  const int parked = ExhaustThreadCreation();
  if (parked > 200) {  // the limit does not stop thread creation: nothing would be tested
    std::printf("%d threads could still be created under the limit\n", parked);
    return 12;
  }
  if (PoolWorkerCount() != 0) {
    std::printf("cannot count the workers, or some exist already\n");
    return 13;
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    const semcl_status_t st = calls[i]->Run(ctx);
    if (st != SEMCL_STATUS_SUCCESS) {
      std::printf("problem %zu: %s (%s)\n", i, semcl_status_name(st), semcl_last_error(ctx));
      return 14;
    }
    const std::string diff = calls[i]->FirstDifference(*expected[i]);
    if (!diff.empty()) {
      std::printf("problem %zu: %s differs from the single-thread result\n", i, diff.c_str());
      return 15;
    }
  }
  if (PoolWorkerCount() != 0) {
    std::printf("%d workers were created under the limit\n", PoolWorkerCount());
    return 16;
  }
  semcl_destroy(ctx);
  return 0;
}

// `ulimit -u 1`: pthread_create fails with EAGAIN. (Root ignores RLIMIT_NPROC, so a root
// child first becomes the unprivileged user 65534.)
TEST(LibraryThreads, SurvivesThreadLimitWithExactResults) {
  const auto expected = SingleThreadResults();
  const ChildOutcome child = RunInChild([&]() -> int {
    return CheckUnderLimit(expected, []() -> std::string {
      if (geteuid() == 0 &&
          (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0))
        return std::string("dropping root: ") + std::strerror(errno);
      const rlimit one = {1, 1};
      if (setrlimit(RLIMIT_NPROC, &one) != 0)
        return std::string("setrlimit(RLIMIT_NPROC): ") + std::strerror(errno);
      return "";
    });
  });
  EXPECT_TRUE(child.finished && child.exit_code == 0) << Describe(child);
}

// An address-space limit just above what the process uses: no room for a thread stack.
TEST(LibraryThreads, SurvivesAddressSpaceLimitWithExactResults) {
#if defined(SEMCL_TEST_SHADOW_MEMORY)
  GTEST_SKIP() << "a sanitizer runtime maps its shadow memory on demand: under an address-space "
                  "limit it dies before the library is reached (RLIMIT_NPROC is tested instead)";
#endif
  const auto expected = SingleThreadResults();
  const ChildOutcome child = RunInChild([&]() -> int {
    return CheckUnderLimit(expected, []() -> std::string {
      const long long used = ProcessVmBytes();
      if (used <= 0) return "cannot read VmSize";
      const rlim_t cap = (rlim_t)(used + (1 << 20));  // 1 MiB of headroom: no 4 MiB stack
      const rlimit as = {cap, cap};
      if (setrlimit(RLIMIT_AS, &as) != 0)
        return std::string("setrlimit(RLIMIT_AS): ") + std::strerror(errno);
      return "";
    });
  });
  EXPECT_TRUE(child.finished && child.exit_code == 0) << Describe(child);
}

// The default thread count (0) is the number of CPUs in the affinity mask: a child pinned to
// k CPUs gets k - 1 workers (capped by a cgroup CPU quota, if this machine has one).
TEST(LibraryThreads, DefaultThreadCountFollowsTheAffinityMask) {
  cpu_set_t allowed;
  ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  ASSERT_FALSE(cpus.empty());
  const int quota = semcl_cgroup_cpu_limit(
      [](const char *path, char *buf, size_t size, void *) -> int {
        std::ifstream f(path);
        if (!f) return 0;
        std::stringstream s;
        s << f.rdbuf();
        const std::string text = s.str();
        if (text.size() + 1 > size) return 0;
        std::memcpy(buf, text.c_str(), text.size() + 1);
        return 1;
      },
      nullptr);
  std::mt19937_64 rng(75);
  const Problem p = RandomProblem(rng, true, 16 * 256, 16, 3.0, false);  // room for 16 threads
  for (int k : {1, 2, 3}) {
    if (k > (int)cpus.size()) break;  // the machine has fewer CPUs
    SCOPED_TRACE("pinned to " + std::to_string(k) + " CPUs");
    const int expected_threads = quota > 0 && quota < k ? quota : k;
    const ChildOutcome child = RunInChild([&]() -> int {
      cpu_set_t set;
      CPU_ZERO(&set);
      for (int i = 0; i < k; ++i) CPU_SET(cpus[(size_t)i], &set);
      if (sched_setaffinity(0, sizeof set, &set) != 0) {
        std::printf("sched_setaffinity: %s\n", std::strerror(errno));
        return 10;
      }
      if (semcl_cpu_count() != expected_threads) {
        std::printf("semcl_cpu_count() = %d, expected %d\n", semcl_cpu_count(),
                    expected_threads);
        return 11;
      }
      semcl_context *ctx = nullptr;
      if (semcl_create(&ctx, SEMCL_BACKEND_CPU) != SEMCL_STATUS_SUCCESS) return 12;
      PreparedCall call(p);
      if (call.Run(ctx) != SEMCL_STATUS_SUCCESS) return 13;
      const int workers = PoolWorkerCount();
      semcl_destroy(ctx);
      if (workers != expected_threads - 1) {
        std::printf("%d worker threads, expected %d\n", workers, expected_threads - 1);
        return 14;
      }
      return 0;
    });
    EXPECT_TRUE(child.finished && child.exit_code == 0) << Describe(child);
  }
}

}  // namespace
