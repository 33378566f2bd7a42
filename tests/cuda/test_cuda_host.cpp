// test_cuda_host.cpp — the CUDA backend's host side: order of a context's work across streams,
// SEMCL_BACKEND_AUTO's fallback and its note, the pointer-check switch, devices, and the
// caller's CUDA error state. The numbers are checked against the fp64 reference
// (tests/support/reference.c): a kernel that ran on inputs not yet uploaded gives other losses.
//
// Tests named *OnAnyBackend and BackendNote run everywhere; the others need a CUDA device and
// skip without one (or fail under SEMCL_REQUIRE_CUDA=1, see backend_buffers.h).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "backend_buffers.h"
#include "cuda_test_runtime.h"
#include "reference.h"

namespace {

using semcl_test::Buffer;
using semcl_test::PoisonValue;
namespace rt = semcl_cuda_test;

// ---- a small pairwise problem and its fp64 expectation ----------------------------------

struct Problem {
  int64_t B = 0, K = 0;
  std::vector<float> raw, pos, y, neg;
};

Problem MakeProblem(int64_t B, int64_t K, uint64_t seed) {
  uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
  auto next = [&s] {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return static_cast<float>((s >> 40) * (1.0 / 16777216.0));  // [0, 1)
  };
  Problem p;
  p.B = B;
  p.K = K;
  for (int64_t b = 0; b < B; ++b) {
    p.raw.push_back(6.f * next() - 3.f);
    p.pos.push_back(6.f * next() - 3.f);
    p.y.push_back(next() < 0.5f ? 0.f : 1.f);
  }
  for (int64_t i = 0; i < B * K; ++i) p.neg.push_back(6.f * next() - 3.f);
  return p;
}

constexpr float kLambda = 0.8f;

struct Expected {
  double loss, ctr, aux;
  std::vector<double> grad_neg;
};

Expected Reference(const Problem &p) {
  Expected e;
  e.grad_neg.resize(p.neg.size());
  semcl_ref_pos_neg(p.B, p.K, p.raw.data(), p.pos.data(), p.neg.data(), p.y.data(), kLambda,
                    SEMCL_REDUCTION_MEAN, 1.0, nullptr, &e.loss, &e.ctr, &e.aux, nullptr,
                    nullptr, e.grad_neg.data());
  return e;
}

void ExpectNear(const char *what, double expected, float got) {
  EXPECT_NEAR(static_cast<double>(got), expected, 1e-5 * std::fabs(expected) + 1e-7) << what;
}

void ExpectMatchesReference(const Problem &p, const std::vector<float> &out3,
                            const std::vector<float> &grad_neg) {
  const Expected e = Reference(p);
  ASSERT_EQ(out3.size(), 3u);
  ExpectNear("loss", e.loss, out3[0]);
  ExpectNear("loss_ctr", e.ctr, out3[1]);
  ExpectNear("loss_aux", e.aux, out3[2]);
  ASSERT_EQ(grad_neg.size(), e.grad_neg.size());
  size_t bad = 0;
  for (size_t i = 0; i < grad_neg.size(); ++i)
    if (!(std::fabs(grad_neg[i] - e.grad_neg[i]) <= 1e-5 * std::fabs(e.grad_neg[i]) + 1e-9))
      ++bad;
  EXPECT_EQ(bad, 0u) << "grad_neg elements off the fp64 reference";
}

// Pinned copies of a problem's inputs: semcl_upload from pinned memory is truly asynchronous
// (from pageable memory the runtime may wait for the stream, which the tests hold blocked).
struct PinnedInputs {
  explicit PinnedInputs(const Problem &p)
      : raw(Copy(p.raw)), pos(Copy(p.pos)), y(Copy(p.y)), neg(Copy(p.neg)) {}
  ~PinnedInputs() {
    for (float *f : {raw, pos, y, neg})
      if (f) rt::PinnedFree(f);
  }
  PinnedInputs(const PinnedInputs &) = delete;
  PinnedInputs &operator=(const PinnedInputs &) = delete;
  bool ok() const { return raw && pos && y && neg; }
  static float *Copy(const std::vector<float> &v) {
    auto *f = static_cast<float *>(rt::PinnedAlloc(v.size() * sizeof(float)));
    if (f) std::memcpy(f, v.data(), v.size() * sizeof(float));
    return f;
  }
  float *raw, *pos, *y, *neg;
};

// Device buffers of one pairwise call on `ctx`, inputs zero and outputs poisoned (uploaded on
// the context's current stream, then synchronised).
struct DeviceProblem {
  DeviceProblem(semcl_context *ctx, const Problem &p)
      : raw(ctx, p.raw.size(), 0.f),
        pos(ctx, p.pos.size(), 0.f),
        y(ctx, p.y.size(), 0.f),
        neg(ctx, p.neg.size(), 0.f),
        out(ctx, 3, PoisonValue()),
        grad_neg(ctx, p.neg.size(), PoisonValue()) {
    EXPECT_EQ(semcl_synchronize(ctx), SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx);
  }
  // Enqueues the uploads of `in` on the context's current stream.
  void Upload(semcl_context *ctx, const Problem &p, const PinnedInputs &in) {
    EXPECT_EQ(semcl_upload(ctx, raw.get(), in.raw, p.raw.size() * 4), SEMCL_STATUS_SUCCESS);
    EXPECT_EQ(semcl_upload(ctx, pos.get(), in.pos, p.pos.size() * 4), SEMCL_STATUS_SUCCESS);
    EXPECT_EQ(semcl_upload(ctx, y.get(), in.y, p.y.size() * 4), SEMCL_STATUS_SUCCESS);
    EXPECT_EQ(semcl_upload(ctx, neg.get(), in.neg, p.neg.size() * 4), SEMCL_STATUS_SUCCESS);
  }
  semcl_status_t Loss(semcl_context *ctx, const Problem &p) {
    float *o = out.get();
    return semcl_pos_neg_forward_backward(ctx, p.B, p.K, raw.get(), pos.get(), neg.get(),
                                          y.get(), kLambda, SEMCL_REDUCTION_MEAN, 1.0f, nullptr,
                                          o, o + 1, o + 2, nullptr, nullptr, grad_neg.get());
  }
  Buffer raw, pos, y, neg, out, grad_neg;
};

// A CUDA context plus two streams of its device, destroyed in order.
class CudaHost : public ::testing::Test {
 protected:
  void SetUp() override {
    SEMCL_REQUIRE_BACKEND(SEMCL_BACKEND_CUDA);  // skips, or fails under SEMCL_REQUIRE_CUDA=1
    ASSERT_EQ(semcl_create(&ctx_, SEMCL_BACKEND_CUDA), SEMCL_STATUS_SUCCESS);
    a_ = rt::StreamCreate();
    b_ = rt::StreamCreate();
    ASSERT_NE(a_, nullptr);
    ASSERT_NE(b_, nullptr);
  }
  void TearDown() override {
    release_.store(1);  // never leave a stream held
    if (ctx_) {
      EXPECT_EQ(semcl_set_stream(ctx_, nullptr), SEMCL_STATUS_SUCCESS);
      EXPECT_EQ(semcl_synchronize(ctx_), SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx_);
    }
    for (CUstream_st *s : {a_, b_})
      if (s) {
        rt::StreamSync(s);
        rt::StreamDestroy(s);
      }
    semcl_destroy(ctx_);
  }
  // Holds stream A until release_ is set (or 30 s pass).
  void HoldA() { ASSERT_TRUE(rt::BlockStream(a_, &release_)); }
  // Sets release_ after `ms` milliseconds, from another thread.
  std::thread ReleaseLater(int ms) {
    return std::thread([this, ms] {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      release_.store(1);
    });
  }

  semcl_context *ctx_ = nullptr;
  CUstream_st *a_ = nullptr, *b_ = nullptr;
  std::atomic<int> release_{0};
};

// ---- order across streams ------------------------------------------------------------------

// Uploads on stream A, then semcl_set_stream(B), then a loss call: the kernel on B must wait
// for the uploads (without the ordering it runs at once on the zeros already there).
TEST_F(CudaHost, LossOnANewStreamWaitsForUploadsOnThePreviousOne) {
  const Problem p = MakeProblem(300, 40, 1);
  PinnedInputs in(p);
  ASSERT_TRUE(in.ok());
  DeviceProblem d(ctx_, p);
  ASSERT_EQ(semcl_set_stream(ctx_, a_), SEMCL_STATUS_SUCCESS);
  HoldA();
  d.Upload(ctx_, p, in);
  ASSERT_EQ(semcl_set_stream(ctx_, b_), SEMCL_STATUS_SUCCESS);
  ASSERT_EQ(d.Loss(ctx_, p), SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx_);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(rt::StreamBusy(b_)) << "the loss on stream B finished while A still held the "
                                     "uploads it needs";
  release_.store(1);
  ASSERT_EQ(semcl_synchronize(ctx_), SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx_);
  ExpectMatchesReference(p, d.out.download(), d.grad_neg.download());
}

// A download on stream B after uploads on stream A returns the uploaded data.
TEST_F(CudaHost, DownloadOnANewStreamSeesUploadsOnThePreviousOne) {
  const Problem p = MakeProblem(64, 1000, 2);
  PinnedInputs in(p);
  ASSERT_TRUE(in.ok());
  DeviceProblem d(ctx_, p);
  ASSERT_EQ(semcl_set_stream(ctx_, a_), SEMCL_STATUS_SUCCESS);
  HoldA();
  d.Upload(ctx_, p, in);
  ASSERT_EQ(semcl_set_stream(ctx_, b_), SEMCL_STATUS_SUCCESS);
  std::thread releaser = ReleaseLater(200);
  const std::vector<float> got = d.neg.download();  // waits, on B, for A's uploads
  releaser.join();
  EXPECT_EQ(got, p.neg);
}

// semcl_synchronize waits for everything the context enqueued, also on its previous stream.
TEST_F(CudaHost, SynchronizeWaitsForWorkOnAPreviousStream) {
  const Problem p = MakeProblem(128, 64, 3);
  PinnedInputs in(p);
  ASSERT_TRUE(in.ok());
  DeviceProblem d(ctx_, p);
  ASSERT_EQ(semcl_set_stream(ctx_, a_), SEMCL_STATUS_SUCCESS);
  HoldA();
  d.Upload(ctx_, p, in);
  ASSERT_EQ(semcl_set_stream(ctx_, b_), SEMCL_STATUS_SUCCESS);
  const auto start = std::chrono::steady_clock::now();
  std::thread releaser = ReleaseLater(300);
  const semcl_status_t st = semcl_synchronize(ctx_);
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool a_busy_after = rt::StreamBusy(a_);
  releaser.join();
  EXPECT_EQ(st, SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx_);
  EXPECT_GE(waited, 0.25) << "semcl_synchronize returned while stream A still held the uploads";
  EXPECT_FALSE(a_busy_after);
}

// Back and forth between streams, every loss call on fresh uploads: each result is right.
TEST_F(CudaHost, AlternatingStreamsKeepTheContextsWorkInOrder) {
  const Problem p1 = MakeProblem(500, 33, 4), p2 = MakeProblem(500, 33, 5);
  PinnedInputs in1(p1), in2(p2);
  ASSERT_TRUE(in1.ok() && in2.ok());
  DeviceProblem d(ctx_, p1);
  ASSERT_EQ(semcl_set_stream(ctx_, a_), SEMCL_STATUS_SUCCESS);
  HoldA();
  d.Upload(ctx_, p1, in1);  // held on A
  ASSERT_EQ(semcl_set_stream(ctx_, b_), SEMCL_STATUS_SUCCESS);
  ASSERT_EQ(d.Loss(ctx_, p1), SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx_);
  std::vector<float> out1(3), gneg1(p1.neg.size());
  ASSERT_EQ(semcl_set_stream(ctx_, a_), SEMCL_STATUS_SUCCESS);
  // Downloads are synchronous: release A from another thread meanwhile.
  std::thread releaser = ReleaseLater(100);
  ASSERT_EQ(semcl_download(ctx_, out1.data(), d.out.get(), 3 * sizeof(float)),
            SEMCL_STATUS_SUCCESS);
  ASSERT_EQ(semcl_download(ctx_, gneg1.data(), d.grad_neg.get(), gneg1.size() * sizeof(float)),
            SEMCL_STATUS_SUCCESS);
  releaser.join();
  ExpectMatchesReference(p1, out1, gneg1);
  d.Upload(ctx_, p2, in2);  // on A
  ASSERT_EQ(semcl_set_stream(ctx_, b_), SEMCL_STATUS_SUCCESS);
  ASSERT_EQ(d.Loss(ctx_, p2), SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx_);
  ExpectMatchesReference(p2, d.out.download(), d.grad_neg.download());
}

// ---- SEMCL_BACKEND_AUTO ------------------------------------------------------------------------

// Runs on every machine: AUTO says why it chose the CPU, and nothing when it did not.
TEST(BackendNote, AutoSaysWhyItChoseTheCpu) {
  semcl_context *ctx = nullptr;
  ASSERT_EQ(semcl_create(&ctx, SEMCL_BACKEND_AUTO), SEMCL_STATUS_SUCCESS);
  semcl_backend_t backend = SEMCL_BACKEND_AUTO;
  ASSERT_EQ(semcl_get_backend(ctx, &backend), SEMCL_STATUS_SUCCESS);
  const std::string note = semcl_backend_note(ctx);
  const std::string prefix = "SEMCL_BACKEND_AUTO chose the CPU: ";
  if (backend == SEMCL_BACKEND_CUDA) {
    EXPECT_EQ(note, "");
  } else {
    ASSERT_EQ(note.rfind(prefix, 0), 0u) << note;
    EXPECT_GT(note.size(), prefix.size() + 10) << note;
    if (!semcl_has_cuda_build())
      EXPECT_NE(note.find("built without the CUDA backend"), std::string::npos) << note;
    else
      EXPECT_NE(note.find("CUDA"), std::string::npos) << note;
  }
  // The note is not an error: semcl_last_error stays empty.
  EXPECT_STREQ(semcl_last_error(ctx), "");
  semcl_destroy(ctx);

  ASSERT_EQ(semcl_create(&ctx, SEMCL_BACKEND_CPU), SEMCL_STATUS_SUCCESS);
  EXPECT_STREQ(semcl_backend_note(ctx), "");  // asked for the CPU, got it
  semcl_destroy(ctx);
  EXPECT_NE(semcl_backend_note(nullptr), nullptr);
  EXPECT_GT(std::strlen(semcl_backend_note(nullptr)), 0u);
}

// A device that is visible but on which no CUDA context can be created (as in exclusive-process
// mode held by another process; simulated by the library's test hook): AUTO runs on the CPU
// and says why, an explicit CUDA request fails with the CUDA error, not "unavailable".
TEST_F(CudaHost, AutoFallsBackToTheCpuWhenNoCudaContextCanBeCreated) {
#if !SEMCL_TEST_HOOKS_BUILT
  GTEST_SKIP() << "libsemcl built without SEMCL_TEST_HOOKS (the GPU pack turns it on)";
#endif
  ASSERT_EQ(setenv("SEMCL_TEST_FAIL_CUDA_CONTEXT", "1", 1), 0);
  semcl_context *cuda = reinterpret_cast<semcl_context *>(&cuda);
  const semcl_status_t st = semcl_create(&cuda, SEMCL_BACKEND_CUDA);
  semcl_context *autoctx = nullptr;
  const semcl_status_t st_auto = semcl_create(&autoctx, SEMCL_BACKEND_AUTO);
  unsetenv("SEMCL_TEST_FAIL_CUDA_CONTEXT");

  EXPECT_EQ(st, SEMCL_STATUS_CUDA_ERROR) << semcl_status_name(st);
  EXPECT_EQ(cuda, nullptr);
  ASSERT_EQ(st_auto, SEMCL_STATUS_SUCCESS);
  semcl_backend_t backend = SEMCL_BACKEND_AUTO;
  ASSERT_EQ(semcl_get_backend(autoctx, &backend), SEMCL_STATUS_SUCCESS);
  EXPECT_EQ(backend, SEMCL_BACKEND_CPU);
  const std::string note = semcl_backend_note(autoctx);
  EXPECT_NE(note.find("SEMCL_BACKEND_AUTO chose the CPU"), std::string::npos) << note;
  EXPECT_NE(note.find("creating a CUDA context"), std::string::npos) << note;
  EXPECT_NE(note.find("cudaErrorDevicesUnavailable"), std::string::npos) << note;
  // The fallback context works (host memory, CPU kernels).
  const Problem p = MakeProblem(20, 7, 6);
  std::vector<float> out(3, PoisonValue()), gneg(p.neg.size(), PoisonValue());
  ASSERT_EQ(semcl_pos_neg_forward_backward(autoctx, p.B, p.K, p.raw.data(), p.pos.data(),
                                           p.neg.data(), p.y.data(), kLambda,
                                           SEMCL_REDUCTION_MEAN, 1.0f, nullptr, &out[0], &out[1],
                                           &out[2], nullptr, nullptr, gneg.data()),
            SEMCL_STATUS_SUCCESS)
      << semcl_last_error(autoctx);
  ExpectMatchesReference(p, out, gneg);
  semcl_destroy(autoctx);

  // Without the failure AUTO picks the device again.
  ASSERT_EQ(semcl_create(&autoctx, SEMCL_BACKEND_AUTO), SEMCL_STATUS_SUCCESS);
  ASSERT_EQ(semcl_get_backend(autoctx, &backend), SEMCL_STATUS_SUCCESS);
  EXPECT_EQ(backend, SEMCL_BACKEND_CUDA);
  EXPECT_STREQ(semcl_backend_note(autoctx), "");
  semcl_destroy(autoctx);
}

// ---- what a CUDA test does without a device (tests/support/backend_buffers.h) ---------------

// Runs on every machine: the verdicts behind BackendTest and SEMCL_REQUIRE_BACKEND.
TEST(RequireCuda, OnlyUnavailableSkipsAndNotEvenThatWhenCudaIsRequired) {
  using semcl_test::BackendVerdict;
  using semcl_test::JudgeCreate;
  const char *saved = std::getenv("SEMCL_REQUIRE_CUDA");
  const std::string saved_value = saved ? saved : "";
  std::string why;
  for (const char *value : {static_cast<const char *>(nullptr), "0", "", "yes"}) {
    if (value)
      ASSERT_EQ(setenv("SEMCL_REQUIRE_CUDA", value, 1), 0);
    else
      ASSERT_EQ(unsetenv("SEMCL_REQUIRE_CUDA"), 0);
    SCOPED_TRACE(value ? value : "(unset)");
    EXPECT_EQ(JudgeCreate(SEMCL_BACKEND_CUDA, SEMCL_STATUS_SUCCESS, &why), BackendVerdict::kRun);
    EXPECT_EQ(JudgeCreate(SEMCL_BACKEND_CUDA, SEMCL_STATUS_BACKEND_UNAVAILABLE, &why),
              BackendVerdict::kSkip);
    EXPECT_NE(why.find("SEMCL_STATUS_BACKEND_UNAVAILABLE"), std::string::npos) << why;
    EXPECT_EQ(JudgeCreate(SEMCL_BACKEND_CUDA, SEMCL_STATUS_CUDA_ERROR, &why),
              BackendVerdict::kFail);
    EXPECT_NE(why.find("SEMCL_STATUS_CUDA_ERROR"), std::string::npos) << why;
    EXPECT_EQ(JudgeCreate(SEMCL_BACKEND_CUDA, SEMCL_STATUS_OUT_OF_MEMORY, &why),
              BackendVerdict::kFail);
  }
  ASSERT_EQ(setenv("SEMCL_REQUIRE_CUDA", "1", 1), 0);
  EXPECT_EQ(JudgeCreate(SEMCL_BACKEND_CUDA, SEMCL_STATUS_BACKEND_UNAVAILABLE, &why),
            BackendVerdict::kFail);
  EXPECT_NE(why.find("SEMCL_REQUIRE_CUDA=1"), std::string::npos) << why;
  EXPECT_EQ(JudgeCreate(SEMCL_BACKEND_CUDA, SEMCL_STATUS_CUDA_ERROR, &why), BackendVerdict::kFail);
  EXPECT_EQ(JudgeCreate(SEMCL_BACKEND_CUDA, SEMCL_STATUS_SUCCESS, &why), BackendVerdict::kRun);
  // Only the CUDA backend is required.
  EXPECT_EQ(JudgeCreate(SEMCL_BACKEND_CPU, SEMCL_STATUS_BACKEND_UNAVAILABLE, &why),
            BackendVerdict::kSkip);
  if (saved)
    setenv("SEMCL_REQUIRE_CUDA", saved_value.c_str(), 1);
  else
    unsetenv("SEMCL_REQUIRE_CUDA");
}

// ---- the pointer-check switch ---------------------------------------------------------------

class PointerChecks : public semcl_test::BackendTest {};

TEST_P(PointerChecks, SettingIsPerContextAndValidatedOnAnyBackend) {
  int enabled = -7;
  ASSERT_EQ(semcl_get_pointer_checks(ctx_, &enabled), SEMCL_STATUS_SUCCESS);
  EXPECT_EQ(enabled, 1);  // on by default
  ASSERT_EQ(semcl_set_pointer_checks(ctx_, 0), SEMCL_STATUS_SUCCESS);
  ASSERT_EQ(semcl_get_pointer_checks(ctx_, &enabled), SEMCL_STATUS_SUCCESS);
  EXPECT_EQ(enabled, 0);
  semcl_context *other = nullptr;
  ASSERT_EQ(semcl_create(&other, GetParam()), SEMCL_STATUS_SUCCESS);
  int other_enabled = -7;
  EXPECT_EQ(semcl_get_pointer_checks(other, &other_enabled), SEMCL_STATUS_SUCCESS);
  EXPECT_EQ(other_enabled, 1) << "the setting leaked into another context";
  semcl_destroy(other);
  for (int bad : {2, -1, 100}) {
    EXPECT_EQ(semcl_set_pointer_checks(ctx_, bad), SEMCL_STATUS_INVALID_VALUE) << bad;
    EXPECT_NE(std::string(semcl_last_error(ctx_)).find("enabled"), std::string::npos)
        << semcl_last_error(ctx_);
    ASSERT_EQ(semcl_get_pointer_checks(ctx_, &enabled), SEMCL_STATUS_SUCCESS);
    EXPECT_EQ(enabled, 0) << "a refused value changed the setting";
  }
  ASSERT_EQ(semcl_set_pointer_checks(ctx_, 1), SEMCL_STATUS_SUCCESS);
  EXPECT_STREQ(semcl_last_error(ctx_), "");  // a success clears the message
  ASSERT_EQ(semcl_get_pointer_checks(ctx_, &enabled), SEMCL_STATUS_SUCCESS);
  EXPECT_EQ(enabled, 1);
  EXPECT_EQ(semcl_get_pointer_checks(ctx_, nullptr), SEMCL_STATUS_NULL_POINTER);
  EXPECT_EQ(semcl_set_pointer_checks(nullptr, 0), SEMCL_STATUS_NULL_CONTEXT);
  EXPECT_EQ(semcl_get_pointer_checks(nullptr, &enabled), SEMCL_STATUS_NULL_CONTEXT);
}

// With the memory-space checks off every other argument check still holds.
TEST_P(PointerChecks, OffKeepsTheOtherArgumentChecksOnAnyBackend) {
  ASSERT_EQ(semcl_set_pointer_checks(ctx_, 0), SEMCL_STATUS_SUCCESS);
  const Problem p = MakeProblem(8, 4, 7);
  Buffer raw(ctx_, p.raw), pos(ctx_, p.pos), y(ctx_, p.y), neg(ctx_, p.neg);
  Buffer out(ctx_, 3, PoisonValue()), gneg(ctx_, p.neg.size(), PoisonValue());
  float *o = out.get();
  semcl_status_t st = semcl_pos_neg_forward(ctx_, p.B, p.K, raw.get(), nullptr, neg.get(),
                                            y.get(), kLambda, SEMCL_REDUCTION_MEAN, o, o + 1,
                                            o + 2);
  EXPECT_EQ(st, SEMCL_STATUS_NULL_POINTER) << semcl_status_name(st);
  st = semcl_pos_neg_forward(ctx_, p.B, p.K, raw.get(), pos.get(), neg.get(), y.get(), kLambda,
                             SEMCL_REDUCTION_MEAN, o, o, o + 2);  // loss == loss_ctr
  EXPECT_EQ(st, SEMCL_STATUS_ALIASING) << semcl_status_name(st);
  st = semcl_pos_neg_forward(ctx_, 0, p.K, raw.get(), pos.get(), neg.get(), y.get(), kLambda,
                             SEMCL_REDUCTION_MEAN, o, o + 1, o + 2);
  EXPECT_EQ(st, SEMCL_STATUS_INVALID_SIZE) << semcl_status_name(st);
  EXPECT_TRUE(semcl_test::AllPoison(out.download()));
  // And a valid call still computes the right thing.
  ASSERT_EQ(semcl_pos_neg_forward_backward(ctx_, p.B, p.K, raw.get(), pos.get(), neg.get(),
                                           y.get(), kLambda, SEMCL_REDUCTION_MEAN, 1.0f, nullptr,
                                           o, o + 1, o + 2, nullptr, nullptr, gneg.get()),
            SEMCL_STATUS_SUCCESS)
      << semcl_last_error(ctx_);
  ExpectMatchesReference(p, out.download(), gneg.download());
}

SEMCL_INSTANTIATE_ON_ALL_BACKENDS(PointerChecks);

// Pinned host memory is refused on a CUDA context while the checks are on; with them off the
// library does not ask, and the kernels read it through the unified address space.
TEST_F(CudaHost, ChecksOffSkipTheMemorySpaceQuery) {
  const Problem p = MakeProblem(50, 9, 8);
  PinnedInputs in(p);  // score_neg from pinned host memory
  ASSERT_TRUE(in.ok());
  Buffer raw(ctx_, p.raw), pos(ctx_, p.pos), y(ctx_, p.y);
  Buffer out(ctx_, 3, PoisonValue()), gneg(ctx_, p.neg.size(), PoisonValue());
  float *o = out.get();
  auto call = [&] {
    return semcl_pos_neg_forward_backward(ctx_, p.B, p.K, raw.get(), pos.get(), in.neg, y.get(),
                                          kLambda, SEMCL_REDUCTION_MEAN, 1.0f, nullptr, o, o + 1,
                                          o + 2, nullptr, nullptr, gneg.get());
  };
  EXPECT_EQ(call(), SEMCL_STATUS_WRONG_MEMORY_SPACE);
  EXPECT_NE(std::string(semcl_last_error(ctx_)).find("score_neg"), std::string::npos);
  EXPECT_TRUE(semcl_test::AllPoison(out.download()));
  ASSERT_EQ(semcl_set_pointer_checks(ctx_, 0), SEMCL_STATUS_SUCCESS);
  ASSERT_EQ(call(), SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx_);
  ExpectMatchesReference(p, out.download(), gneg.download());
}

// ---- devices ------------------------------------------------------------------------------------

// Every entry point leaves the calling thread's current device as it found it; a context also
// works from a thread that never chose a device.
TEST_F(CudaHost, CallsLeaveTheCurrentDeviceAsTheyFoundIt) {
  const int device = rt::CurrentDevice();
  ASSERT_GE(device, 0);
  const Problem p = MakeProblem(40, 5, 9);
  {
    DeviceProblem d(ctx_, p);
    EXPECT_EQ(rt::CurrentDevice(), device);
    ASSERT_EQ(d.Loss(ctx_, p), SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx_);
    EXPECT_EQ(rt::CurrentDevice(), device);
    EXPECT_EQ(semcl_synchronize(ctx_), SEMCL_STATUS_SUCCESS);
    EXPECT_EQ(rt::CurrentDevice(), device);
  }
  EXPECT_EQ(rt::CurrentDevice(), device);
  std::vector<float> out;
  std::vector<float> gneg;
  std::thread other([&] {
    PinnedInputs in(p);
    DeviceProblem d(ctx_, p);
    d.Upload(ctx_, p, in);
    if (d.Loss(ctx_, p) != SEMCL_STATUS_SUCCESS) return;
    out = d.out.download();
    gneg = d.grad_neg.download();
  });
  other.join();
  ExpectMatchesReference(p, out, gneg);
}

// With two or more devices: a context created on device 0 keeps running there while the caller
// has device 1 current, leaves device 1 current, and refuses device 1's memory.
TEST_F(CudaHost, AContextStaysOnItsDevice) {
  const int devices = rt::DeviceCount();
  if (devices < 2) GTEST_SKIP() << "needs two CUDA devices; this machine has " << devices;
  ASSERT_TRUE(rt::SetDevice(0));
  semcl_context *on0 = nullptr;
  ASSERT_EQ(semcl_create(&on0, SEMCL_BACKEND_CUDA), SEMCL_STATUS_SUCCESS);
  ASSERT_TRUE(rt::SetDevice(1));
  const Problem p = MakeProblem(100, 17, 10);
  {
    PinnedInputs in(p);
    ASSERT_TRUE(in.ok());
    DeviceProblem d(on0, p);
    EXPECT_EQ(rt::PointerDevice(d.neg.get()), 0) << "semcl_buffer_alloc used the current device";
    d.Upload(on0, p, in);
    ASSERT_EQ(d.Loss(on0, p), SEMCL_STATUS_SUCCESS) << semcl_last_error(on0);
    EXPECT_EQ(rt::CurrentDevice(), 1);
    ExpectMatchesReference(p, d.out.download(), d.grad_neg.download());
    EXPECT_EQ(rt::CurrentDevice(), 1);
    void *foreign = rt::DeviceAlloc(p.neg.size() * sizeof(float));  // on device 1
    ASSERT_NE(foreign, nullptr);
    float *o = d.out.get();
    const semcl_status_t st = semcl_pos_neg_forward(
        on0, p.B, p.K, d.raw.get(), d.pos.get(), static_cast<float *>(foreign), d.y.get(),
        kLambda, SEMCL_REDUCTION_MEAN, o, o + 1, o + 2);
    EXPECT_EQ(st, SEMCL_STATUS_WRONG_MEMORY_SPACE) << semcl_status_name(st);
    EXPECT_NE(std::string(semcl_last_error(on0)).find("device 1"), std::string::npos)
        << semcl_last_error(on0);
    rt::DeviceFree(foreign);
  }
  semcl_destroy(on0);
  EXPECT_EQ(rt::CurrentDevice(), 1);
  ASSERT_TRUE(rt::SetDevice(0));
}

// ---- the caller's CUDA error state ------------------------------------------------------------
// libsemcl has its own static copy of the CUDA runtime, so in this build these hold by
// construction; they guard the documented contract should libsemcl ever share the caller's
// runtime (a blanket cudaGetLastError inside the library would then break both).

TEST_F(CudaHost, ACallersPendingErrorSurvivesSemclCalls) {
  const int pending = rt::MakePendingError();
  ASSERT_NE(pending, 0);
  ASSERT_EQ(rt::PeekError(), pending);
  const Problem p = MakeProblem(30, 3, 11);
  {
    DeviceProblem d(ctx_, p);
    EXPECT_EQ(d.Loss(ctx_, p), SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx_);
    void *huge = nullptr;  // a failing CUDA call inside semcl
    EXPECT_EQ(semcl_buffer_alloc(ctx_, &huge, size_t{1} << 62), SEMCL_STATUS_OUT_OF_MEMORY);
    EXPECT_EQ(semcl_synchronize(ctx_), SEMCL_STATUS_SUCCESS);
  }
  EXPECT_EQ(rt::TakeError(), pending) << "semcl read away the caller's pending CUDA error";
  EXPECT_EQ(rt::TakeError(), 0);
}

TEST_F(CudaHost, SemclFailuresDoNotShowInTheCallersLastError) {
  ASSERT_EQ(rt::TakeError(), 0);
  void *huge = nullptr;
  EXPECT_EQ(semcl_buffer_alloc(ctx_, &huge, size_t{1} << 62), SEMCL_STATUS_OUT_OF_MEMORY);
  EXPECT_NE(std::string(semcl_last_error(ctx_)).find("cudaErrorMemoryAllocation"),
            std::string::npos)
      << semcl_last_error(ctx_);
  EXPECT_EQ(rt::PeekError(), 0) << "semcl's failure is pending in the caller's runtime";
  // semcl itself is not confused by its own earlier failure either.
  const Problem p = MakeProblem(30, 3, 12);
  PinnedInputs in(p);
  ASSERT_TRUE(in.ok());
  DeviceProblem d(ctx_, p);
  d.Upload(ctx_, p, in);
  ASSERT_EQ(d.Loss(ctx_, p), SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx_);
  ExpectMatchesReference(p, d.out.download(), d.grad_neg.download());
}

}  // namespace
