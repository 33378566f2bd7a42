// test_concurrency.cpp — several application threads at once, each with its own CPU context
// (and so its own worker pool), on both losses and both splits of loss 2 (many rows: row
// blocks; few long rows: chunks), forward-only and forward+backward. Every result must be
// bitwise equal to the same call made alone on one thread. Built with -fsanitize=thread this
// is the data-race check of the thread runtime (see the report of issue 11 for the commands).
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core_util.h"
#include "thread_test_util.h"

namespace {

using namespace semcl_core_test;
using namespace semcl_thread_test;

// The problems each thread runs (sizes kept moderate: ThreadSanitizer slows calls ~10x).
std::vector<Problem> Problems() {
  std::mt19937_64 rng(91);
  std::vector<Problem> out;
  out.push_back(RandomProblem(rng, true, 2 * 4099, 9, 3.0, true));  // rows: 33 row blocks
  out.push_back(RandomProblem(rng, true, 2, 40000, 3.0, false));    // chunks: 2 long rows
  out.back().reduction = SEMCL_REDUCTION_SUM;
  out.push_back(RandomProblem(rng, true, 20, 3000, 3.0, false));  // one block: chunks
  out.back().reduction = SEMCL_REDUCTION_NONE;
  out.push_back(RandomProblem(rng, false, 70001, 1, 3.0, true));  // loss 1, 274 blocks
  out.push_back(RandomProblem(rng, false, 66000, 1, 3.0, false));
  out.back().reduction = SEMCL_REDUCTION_NONE;
  return out;
}

// Forward-only outputs of one call (losses only).
struct ForwardCall {
  std::vector<float> loss, ctr, aux;
  semcl_status_t Run(semcl_context *ctx, const Problem &p) {
    const size_t nl = LossCount(p);
    loss.assign(nl, semcl_test::PoisonValue());
    ctr.assign(nl, semcl_test::PoisonValue());
    aux.assign(nl, semcl_test::PoisonValue());
    if (p.pairwise)
      return semcl_pos_neg_forward(ctx, p.B, p.K, p.raw.data(), p.pos.data(), p.neg.data(),
                                   p.y.data(), p.lambda, p.reduction, loss.data(), ctr.data(),
                                   aux.data());
    return semcl_positive_only_forward(ctx, p.B, p.raw.data(), p.pos.data(), p.y.data(),
                                       p.lambda, p.reduction, loss.data(), ctr.data(),
                                       aux.data());
  }
  bool SameLossesAs(const PreparedCall &c) const {
    auto same = [](const std::vector<float> &a, const std::vector<float> &b) {
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i)
        if (Bits(a[i]) != Bits(b[i])) return false;
      return true;
    };
    return same(loss, c.loss) && same(ctr, c.ctr) && same(aux, c.aux);
  }
};

struct Expected {
  std::vector<Problem> problems = Problems();
  std::vector<std::unique_ptr<PreparedCall>> calls;
  Expected() {
    semcl_context *ctx = nullptr;
    EXPECT_EQ(semcl_create(&ctx, SEMCL_BACKEND_CPU), SEMCL_STATUS_SUCCESS);
    EXPECT_EQ(semcl_set_threads(ctx, 1), SEMCL_STATUS_SUCCESS);
    for (const Problem &p : problems) {
      calls.push_back(std::make_unique<PreparedCall>(p));
      EXPECT_EQ(calls.back()->Run(ctx), SEMCL_STATUS_SUCCESS);
    }
    semcl_destroy(ctx);
  }
};

class Failures {
 public:
  void Add(const std::string &s) {
    std::lock_guard<std::mutex> lock(m_);
    list_.push_back(s);
  }
  std::string All() const {
    std::string s;
    for (const auto &f : list_) s += f + "\n";
    return s;
  }
  bool Empty() const { return list_.empty(); }

 private:
  std::mutex m_;
  std::vector<std::string> list_;
};

// One application thread: its own context with `threads` CPU threads, every problem `reps`
// times (forward+backward, then forward-only), compared with the expectation.
void Worker(const Expected &exp, int id, int threads, int reps, Failures *failures) {
  semcl_context *ctx = nullptr;
  if (semcl_create(&ctx, SEMCL_BACKEND_CPU) != SEMCL_STATUS_SUCCESS ||
      semcl_set_threads(ctx, threads) != SEMCL_STATUS_SUCCESS) {
    failures->Add("thread " + std::to_string(id) + ": no context");
    return;
  }
  for (int rep = 0; rep < reps; ++rep) {
    for (size_t i = 0; i < exp.problems.size(); ++i) {
      // Rotate the order so that the threads run different problems at the same time.
      const size_t k = (i + (size_t)id) % exp.problems.size();
      const std::string where = "thread " + std::to_string(id) + ", problem " +
                                std::to_string(k) + ", rep " + std::to_string(rep);
      PreparedCall call(exp.problems[k]);
      const semcl_status_t st = call.Run(ctx);
      if (st != SEMCL_STATUS_SUCCESS) {
        failures->Add(where + ": " + semcl_status_name(st));
        continue;
      }
      const std::string diff = call.FirstDifference(*exp.calls[k]);
      if (!diff.empty()) failures->Add(where + ": " + diff + " differs");
      ForwardCall fwd;
      if (fwd.Run(ctx, exp.problems[k]) != SEMCL_STATUS_SUCCESS ||
          !fwd.SameLossesAs(*exp.calls[k]))
        failures->Add(where + ": forward-only losses differ");
    }
  }
  semcl_destroy(ctx);
}

TEST(Concurrency, ThreadsWithTheirOwnContextsGetExactResults) {
  const Expected exp;
  Failures failures;
  const int threads_per_context[] = {2, 3, 1, 4, 0};
  std::vector<std::thread> app;
  for (int id = 0; id < 5; ++id)
    app.emplace_back(Worker, std::cref(exp), id, threads_per_context[id], 2, &failures);
  for (auto &t : app) t.join();
  EXPECT_TRUE(failures.Empty()) << failures.All();
}

// Contexts created and destroyed while other threads compute: pools start and stop
// concurrently.
TEST(Concurrency, ContextsComeAndGoWhileOthersCompute) {
  const Expected exp;
  Failures failures;
  std::vector<std::thread> app;
  for (int id = 0; id < 4; ++id)
    app.emplace_back([&, id] {
      for (int round = 0; round < 3; ++round) Worker(exp, id, 2 + (id + round) % 3, 1, &failures);
    });
  for (auto &t : app) t.join();
  EXPECT_TRUE(failures.Empty()) << failures.All();
}

// One context handed from thread to thread (one user at a time, as the header allows): the
// pool made by the first user serves the next ones.
TEST(Concurrency, ContextHandedBetweenThreads) {
  const Expected exp;
  semcl_context *ctx = nullptr;
  ASSERT_EQ(semcl_create(&ctx, SEMCL_BACKEND_CPU), SEMCL_STATUS_SUCCESS);
  ASSERT_EQ(semcl_set_threads(ctx, 3), SEMCL_STATUS_SUCCESS);
  Failures failures;
  for (int hand = 0; hand < 4; ++hand) {
    std::thread user([&, hand] {
      for (size_t k = 0; k < exp.problems.size(); ++k) {
        PreparedCall call(exp.problems[k]);
        if (call.Run(ctx) != SEMCL_STATUS_SUCCESS || !call.FirstDifference(*exp.calls[k]).empty())
          failures.Add("hand " + std::to_string(hand) + ", problem " + std::to_string(k));
      }
    });
    user.join();
  }
  semcl_destroy(ctx);
  EXPECT_TRUE(failures.Empty()) << failures.All();
}

}  // namespace
