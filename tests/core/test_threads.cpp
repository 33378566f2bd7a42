// test_threads.cpp — what the library does with its thread runtime, through the public API:
// semcl_set_threads decides how many worker threads exist; results are bitwise identical for
// every thread count; under a process limit (RLIMIT_NPROC, RLIMIT_AS) that makes thread
// creation fail the process survives and the results stay exact; the default thread count
// follows the affinity mask. (The pool itself: test_thread_pool.cpp.)
#include <gtest/gtest.h>
#include <grp.h>  // setgroups
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core_util.h"
#include "cpu_count.h"
#include "thread_test_util.h"

namespace {

using namespace semcl_core_test;
using namespace semcl_thread_test;

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
  // 9 tasks of 16384 rows (src/cpu/positive_only_cpu.c): room for 8 threads.
  Problem p = RandomProblem(rng, false, 8 * 16384 + 1, 1, 3.0, true);
  p.reduction = SEMCL_REDUCTION_NONE;
  return p;
}

// semcl_set_threads(T) gives exactly T - 1 worker threads (the calling thread is the T-th),
// created by the first call that has work for them and kept until the context is destroyed.
// Ignoring the setting (or reading the default instead) gives another count.
TEST(LibraryThreads, SetThreadsDecidesHowManyWorkersExist) {
  ASSERT_EQ(PoolWorkerCount(), 0);
  // 8 row tasks of 1024 rows at K = 64 (src/cpu/pos_neg_cpu.c: tasks of about 65536 terms):
  // big enough to thread, room for 8 threads.
  std::mt19937_64 rng(74);
  const Problem p = RandomProblem(rng, true, 8 * 1024, 64, 3.0, false);
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
  const Problem p = RandomProblem(rng, true, 16 * 1024, 64, 3.0, false);  // 16 tasks: room for 16 threads
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
