// test_workspace.cpp — a caller-provided workspace of exactly the queried size is enough, for
// every thread count and both ways the CPU splits work (rows, or chunks of few long rows), and
// the results equal those with the context's own workspace bit for bit.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "backend_buffers.h"

namespace {

using semcl_test::BackendTest;
using semcl_test::Buffer;

class Workspace : public BackendTest {};

TEST_P(Workspace, ExactlyTheQueriedSizeSufficesForEveryThreadCount) {
  struct Shape {
    int64_t B, K;
  };
  // one row block (chunk split for >1 thread), several blocks (row split), short rows
  const Shape shapes[] = {{3, 5000}, {700, 1100}, {513, 7}};
  std::mt19937_64 rng(77);
  std::normal_distribution<float> score(0.0f, 2.0f);
  for (const Shape &s : shapes) {
    std::vector<float> raw(s.B), pos(s.B), y(s.B), neg(s.B * s.K);
    for (int64_t b = 0; b < s.B; ++b) {
      raw[b] = score(rng);
      pos[b] = score(rng);
      y[b] = (float)(b % 3 == 0);
    }
    for (float &v : neg) v = score(rng);
    Buffer d_raw(ctx_, raw), d_pos(ctx_, pos), d_y(ctx_, y), d_neg(ctx_, neg);
    for (int threads = 1; threads <= 4; ++threads) {
      SCOPED_TRACE("B " + std::to_string(s.B) + ", K " + std::to_string(s.K) + ", threads " +
                   std::to_string(threads));
      ASSERT_EQ(semcl_set_threads(ctx_, threads), SEMCL_STATUS_SUCCESS);
      auto run = [&](std::vector<float> *out) {
        Buffer loss(ctx_, 1, 0.f), ctr(ctx_, 1, 0.f), aux(ctx_, 1, 0.f), gpos(ctx_, s.B, 0.f),
            gneg(ctx_, neg.size(), 0.f);
        ASSERT_EQ(semcl_pos_neg_forward_backward(ctx_, s.B, s.K, d_raw.get(), d_pos.get(),
                                                 d_neg.get(), d_y.get(), 1.0f,
                                                 SEMCL_REDUCTION_MEAN, 1.0f, nullptr, loss.get(),
                                                 ctr.get(), aux.get(), nullptr, gpos.get(),
                                                 gneg.get()),
                  SEMCL_STATUS_SUCCESS)
            << semcl_last_error(ctx_);
        *out = loss.download();
        const std::vector<float> g = gpos.download();
        out->insert(out->end(), g.begin(), g.end());
      };
      std::vector<float> own, borrowed;
      run(&own);
      size_t bytes = 0;
      ASSERT_EQ(semcl_get_workspace_size(ctx_, SEMCL_LOSS_POS_NEG, s.B, s.K, &bytes),
                SEMCL_STATUS_SUCCESS);
      ASSERT_GT(bytes, 0u);
      void *ws = nullptr;
      ASSERT_EQ(semcl_buffer_alloc(ctx_, &ws, bytes), SEMCL_STATUS_SUCCESS);
      ASSERT_EQ(semcl_set_workspace(ctx_, ws, bytes), SEMCL_STATUS_SUCCESS);
      run(&borrowed);
      ASSERT_EQ(semcl_set_workspace(ctx_, nullptr, 0), SEMCL_STATUS_SUCCESS);
      ASSERT_EQ(semcl_synchronize(ctx_), SEMCL_STATUS_SUCCESS);
      semcl_buffer_free(ctx_, ws);
      ASSERT_EQ(own.size(), borrowed.size());
      EXPECT_EQ(0, std::memcmp(own.data(), borrowed.data(), own.size() * sizeof(float)));
    }
  }
}

SEMCL_INSTANTIATE_ON_ALL_BACKENDS(Workspace);

}  // namespace
