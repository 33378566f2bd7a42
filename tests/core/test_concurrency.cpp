// test_concurrency.cpp — several threads at once, each with its own CPU context (the header's
// "distinct contexts are independent"), running both losses in both ways a call is split across
// a context's worker threads (tasks of rows; chunks of few long rows). Every thread's results
// must be, bit for bit, what one context computed alone with one thread. scripts/test-sanitizers
// runs this test under ThreadSanitizer, which also reports any state the contexts share
// without synchronisation.
//
// (A minimal version written with the CI wiring; the thread runtime's own tests extend it.)
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "semcl/semcl.h"

namespace {

struct Shape {
  const char *what;
  bool pairwise;
  int64_t B, K;
};

// Row tasks: many short rows. Chunk tasks: two rows of 40 chunks (fewer row tasks than
// threads). Positive-only: more rows than one task holds. All above the size below which a
// call stays on the calling thread.
const Shape kShapes[] = {{"pairwise, tasks of rows", true, 4096, 16},
                         {"pairwise, tasks of chunks", true, 2, 40000},
                         {"positive-only, tasks of rows", false, 40000, 1}};

struct Inputs {
  std::vector<float> raw, pos, neg, y;
};

struct Outputs {
  semcl_status_t status = SEMCL_STATUS_INTERNAL_ERROR;
  std::vector<float> loss, ctr, aux, graw, gpos, gneg;
};

Inputs MakeInputs(const Shape &s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> score(0.0f, 2.0f);
  Inputs in;
  in.raw.resize(s.B), in.pos.resize(s.B), in.y.resize(s.B);
  for (int64_t b = 0; b < s.B; ++b) {
    in.raw[b] = score(rng), in.pos[b] = score(rng), in.y[b] = (float)(rng() % 2);
  }
  if (s.pairwise) {
    in.neg.resize(s.B * s.K);
    for (float &v : in.neg) v = score(rng);
  }
  return in;
}

// One forward+backward call (reduction NONE: every per-sample value is compared).
Outputs RunCall(semcl_context *ctx, const Shape &s, const Inputs &in) {
  Outputs o;
  o.loss.assign(s.B, 0.0f), o.ctr.assign(s.B, 0.0f), o.aux.assign(s.B, 0.0f);
  o.graw.assign(s.B, 0.0f), o.gpos.assign(s.B, 0.0f);
  if (s.pairwise) {
    o.gneg.assign(s.B * s.K, 0.0f);
    o.status = semcl_pos_neg_forward_backward(
        ctx, s.B, s.K, in.raw.data(), in.pos.data(), in.neg.data(), in.y.data(), 0.7f,
        SEMCL_REDUCTION_NONE, 1.0f, nullptr, o.loss.data(), o.ctr.data(), o.aux.data(),
        o.graw.data(), o.gpos.data(), o.gneg.data());
  } else {
    o.status = semcl_positive_only_forward_backward(
        ctx, s.B, in.raw.data(), in.pos.data(), in.y.data(), 0.7f, SEMCL_REDUCTION_NONE, 1.0f,
        nullptr, o.loss.data(), o.ctr.data(), o.aux.data(), o.graw.data(), o.gpos.data());
  }
  return o;
}

bool SameBits(const std::vector<float> &a, const std::vector<float> &b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

bool SameOutputs(const Outputs &a, const Outputs &b) {
  return a.status == b.status && SameBits(a.loss, b.loss) && SameBits(a.ctr, b.ctr) &&
         SameBits(a.aux, b.aux) && SameBits(a.graw, b.graw) && SameBits(a.gpos, b.gpos) &&
         SameBits(a.gneg, b.gneg);
}

TEST(Concurrency, ContextsInSeveralThreadsGiveTheSingleThreadedBits) {
  constexpr int kThreads = 4, kRepeats = 3;
  const int kShapeCount = sizeof kShapes / sizeof kShapes[0];
  std::vector<Inputs> inputs;
  std::vector<Outputs> expected;
  semcl_context *alone = nullptr;
  ASSERT_EQ(semcl_create(&alone, SEMCL_BACKEND_CPU), SEMCL_STATUS_SUCCESS);
  ASSERT_EQ(semcl_set_threads(alone, 1), SEMCL_STATUS_SUCCESS);
  for (int i = 0; i < kShapeCount; ++i) {
    inputs.push_back(MakeInputs(kShapes[i], 100 + i));
    expected.push_back(RunCall(alone, kShapes[i], inputs[i]));
    ASSERT_EQ(expected[i].status, SEMCL_STATUS_SUCCESS) << semcl_last_error(alone);
  }
  semcl_destroy(alone);

  // mismatches[t]: what thread t found wrong ("" if nothing); checked on this thread.
  std::vector<std::string> mismatches(kThreads);
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      semcl_context *ctx = nullptr;
      if (semcl_create(&ctx, SEMCL_BACKEND_CPU) != SEMCL_STATUS_SUCCESS ||
          semcl_set_threads(ctx, 2 + t % 2) != SEMCL_STATUS_SUCCESS) {
        mismatches[t] = "could not create and set up a context";
        semcl_destroy(ctx);
        return;
      }
      for (int r = 0; r < kRepeats; ++r)
        for (int i = 0; i < kShapeCount; ++i) {
          const int shape = (i + t) % kShapeCount;  // threads run different shapes at once
          if (!SameOutputs(RunCall(ctx, kShapes[shape], inputs[shape]), expected[shape]))
            mismatches[t] += std::string(kShapes[shape].what) + "; ";
        }
      semcl_destroy(ctx);
    });
  }
  for (std::thread &w : workers) w.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(mismatches[t], "") << "thread " << t << " got other results for: " << mismatches[t];
}

}  // namespace
