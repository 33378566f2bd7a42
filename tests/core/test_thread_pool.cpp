// test_thread_pool.cpp — the CPU thread runtime (src/cpu/thread_pool.c), compiled into this
// test with its pthread_create hook: every task runs exactly once for any (threads, tasks);
// the requested number of threads really runs concurrently and never more; failed thread
// creation degrades to fewer threads; workers block signals; a forked child does not deadlock
// on an inherited pool. (What the library does with the pool: test_threads.cpp.)
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "thread_pool.h"
#include "thread_test_util.h"

extern "C" int (*semcl_pool_test_create)(pthread_t *, const pthread_attr_t *,
                                         void *(*)(void *), void *);

namespace {

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

}  // namespace
