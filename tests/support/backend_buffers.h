// backend_buffers.h — test helpers that run one test body on every backend.
//
// BackendTest is a GoogleTest fixture parametrised by semcl_backend_t. It creates a context
// on its backend, or skips the test (GTEST_SKIP with the reason) when that backend is
// unavailable here (SEMCL_STATUS_BACKEND_UNAVAILABLE); any other failure to create the context
// fails the test, and so does an unavailable CUDA backend when SEMCL_REQUIRE_CUDA=1 is set (the
// GPU pack's runner sets it: there a skipped CUDA test would hide a broken GPU). Buffer holds an array in the context's memory space (host for CPU, device for
// CUDA) through the public buffer API, so the same test body runs on both backends.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "semcl/semcl.h"

namespace semcl_test {

// A float array in the context's memory space. Move-only.
class Buffer {
 public:
  Buffer() = default;
  Buffer(semcl_context *ctx, const std::vector<float> &host);
  Buffer(semcl_context *ctx, size_t count, float fill);
  Buffer(Buffer &&other) noexcept;
  Buffer &operator=(Buffer &&other) noexcept;
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
  ~Buffer();

  float *get() const { return data_; }
  size_t size() const { return count_; }
  std::vector<float> download() const;
  void upload(const std::vector<float> &host);

 private:
  semcl_context *ctx_ = nullptr;
  float *data_ = nullptr;
  size_t count_ = 0;
};

// A recognisable NaN payload written into outputs before a call: a failing call must leave
// every byte of it in place.
float PoisonValue();
bool IsPoison(float v);
bool AllPoison(const std::vector<float> &v);

const char *BackendName(semcl_backend_t backend);
// Whether a context on `backend` can be created here, with the reason when it cannot.
bool BackendAvailable(semcl_backend_t backend, std::string *why);

// SEMCL_REQUIRE_CUDA=1 in the environment: the CUDA backend must be available.
bool CudaRequired();

// What a test does about semcl_create(backend) having returned `status`: run (SUCCESS), skip
// (BACKEND_UNAVAILABLE, unless CudaRequired() and backend is CUDA) or fail (anything else).
// *why gets the reason for a skip or a failure, with the library's own explanation
// (semcl_backend_note of an AUTO context) when the backend is unavailable.
enum class BackendVerdict { kRun, kSkip, kFail };
BackendVerdict JudgeCreate(semcl_backend_t backend, semcl_status_t status, std::string *why);
// The same for a fresh attempt to create a context on `backend` (destroyed again).
BackendVerdict JudgeBackend(semcl_backend_t backend, std::string *why);

class BackendTest : public ::testing::TestWithParam<semcl_backend_t> {
 protected:
  void SetUp() override;
  void TearDown() override;
  semcl_context *ctx_ = nullptr;
};

// Every backend the suite knows; unavailable ones are skipped, never passed.
inline auto AllBackends() { return ::testing::Values(SEMCL_BACKEND_CPU, SEMCL_BACKEND_CUDA); }

struct BackendParamName {
  std::string operator()(const ::testing::TestParamInfo<semcl_backend_t> &info) const {
    return BackendName(info.param);
  }
};

}  // namespace semcl_test

// In a test body or SetUp: skip or fail (see JudgeBackend) unless `backend` can run here.
#define SEMCL_REQUIRE_BACKEND(backend)                                        \
  do {                                                                        \
    std::string semcl_why_;                                                   \
    switch (::semcl_test::JudgeBackend((backend), &semcl_why_)) {             \
      case ::semcl_test::BackendVerdict::kRun:                                \
        break;                                                                \
      case ::semcl_test::BackendVerdict::kSkip:                               \
        GTEST_SKIP() << semcl_why_;                                           \
      case ::semcl_test::BackendVerdict::kFail:                               \
        FAIL() << semcl_why_;                                                 \
    }                                                                         \
  } while (0)

#define SEMCL_INSTANTIATE_ON_ALL_BACKENDS(Fixture)                            \
  INSTANTIATE_TEST_SUITE_P(Backends, Fixture, ::semcl_test::AllBackends(), \
                           ::semcl_test::BackendParamName())
