// backend_buffers.cpp — see backend_buffers.h.
#include "backend_buffers.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace semcl_test {

static const uint32_t kPoisonBits = 0x7fc0dead;  // a quiet NaN with a payload

float PoisonValue() {
  float f;
  std::memcpy(&f, &kPoisonBits, sizeof f);
  return f;
}

bool IsPoison(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits == kPoisonBits;
}

bool AllPoison(const std::vector<float> &v) {
  for (float x : v)
    if (!IsPoison(x)) return false;
  return true;
}

Buffer::Buffer(semcl_context *ctx, const std::vector<float> &host) : Buffer(ctx, host.size(), 0.0f) {
  upload(host);
}

Buffer::Buffer(semcl_context *ctx, size_t count, float fill) : ctx_(ctx), count_(count) {
  void *p = nullptr;
  const semcl_status_t st = semcl_buffer_alloc(ctx_, &p, (count ? count : 1) * sizeof(float));
  if (st != SEMCL_STATUS_SUCCESS) {
    ADD_FAILURE() << "semcl_buffer_alloc: " << semcl_status_name(st) << ": " << semcl_last_error(ctx_);
    return;
  }
  data_ = static_cast<float *>(p);
  upload(std::vector<float>(count, fill));
}

Buffer::Buffer(Buffer &&o) noexcept : ctx_(o.ctx_), data_(o.data_), count_(o.count_) {
  o.data_ = nullptr;
  o.count_ = 0;
}

Buffer &Buffer::operator=(Buffer &&o) noexcept {
  if (this != &o) {
    if (data_) semcl_buffer_free(ctx_, data_);
    ctx_ = o.ctx_;
    data_ = o.data_;
    count_ = o.count_;
    o.data_ = nullptr;
    o.count_ = 0;
  }
  return *this;
}

Buffer::~Buffer() {
  if (data_) semcl_buffer_free(ctx_, data_);
}

std::vector<float> Buffer::download() const {
  std::vector<float> host(count_);
  if (!data_ || count_ == 0) return host;
  const semcl_status_t st = semcl_download(ctx_, host.data(), data_, count_ * sizeof(float));
  EXPECT_EQ(st, SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx_);
  return host;
}

void Buffer::upload(const std::vector<float> &host) {
  if (!data_ || host.empty()) return;
  const semcl_status_t st = semcl_upload(ctx_, data_, host.data(), host.size() * sizeof(float));
  EXPECT_EQ(st, SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx_);
}

const char *BackendName(semcl_backend_t backend) {
  switch (backend) {
    case SEMCL_BACKEND_CPU: return "CPU";
    case SEMCL_BACKEND_CUDA: return "CUDA";
    case SEMCL_BACKEND_AUTO: return "AUTO";
  }
  return "UNKNOWN";
}

bool BackendAvailable(semcl_backend_t backend, std::string *why) {
  semcl_context *ctx = nullptr;
  const semcl_status_t st = semcl_create(&ctx, backend);
  semcl_destroy(ctx);
  if (st == SEMCL_STATUS_SUCCESS) return true;
  if (why) {
    *why = std::string(BackendName(backend)) + " backend unavailable (" + semcl_status_name(st) +
           (semcl_has_cuda_build() ? "" : "; library built without CUDA") + ")";
  }
  return false;
}

bool CudaRequired() {
  const char *value = std::getenv("SEMCL_REQUIRE_CUDA");
  return value && std::strcmp(value, "1") == 0;
}

// The library's own reason for not running on CUDA: what AUTO says when it picks the CPU.
static std::string WhyNotCuda() {
  semcl_context *ctx = nullptr;
  if (semcl_create(&ctx, SEMCL_BACKEND_AUTO) != SEMCL_STATUS_SUCCESS) return "";
  const std::string note = semcl_backend_note(ctx);
  semcl_destroy(ctx);
  return note;
}

BackendVerdict JudgeCreate(semcl_backend_t backend, semcl_status_t status, std::string *why) {
  if (status == SEMCL_STATUS_SUCCESS) return BackendVerdict::kRun;
  std::string reason = std::string(BackendName(backend)) + " backend: semcl_create returned " +
                       semcl_status_name(status);
  if (status == SEMCL_STATUS_BACKEND_UNAVAILABLE && backend == SEMCL_BACKEND_CUDA) {
    const std::string note = WhyNotCuda();
    if (!note.empty()) reason += " (" + note + ")";
  }
  BackendVerdict verdict = BackendVerdict::kFail;
  if (status == SEMCL_STATUS_BACKEND_UNAVAILABLE) {
    if (backend == SEMCL_BACKEND_CUDA && CudaRequired())
      reason = "SEMCL_REQUIRE_CUDA=1, but the " + reason;
    else
      verdict = BackendVerdict::kSkip;
  }
  if (why) *why = reason;
  return verdict;
}

BackendVerdict JudgeBackend(semcl_backend_t backend, std::string *why) {
  semcl_context *ctx = nullptr;
  const semcl_status_t st = semcl_create(&ctx, backend);
  semcl_destroy(ctx);
  return JudgeCreate(backend, st, why);
}

void BackendTest::SetUp() {
  // Only "unavailable" skips (and not even that under SEMCL_REQUIRE_CUDA=1 for CUDA): any other
  // failure to create a context is a test failure.
  const semcl_status_t st = semcl_create(&ctx_, GetParam());
  std::string why;
  switch (JudgeCreate(GetParam(), st, &why)) {
    case BackendVerdict::kRun:
      break;  // on to the forced-level check below
    case BackendVerdict::kSkip:
      GTEST_SKIP() << why;
    case BackendVerdict::kFail:
      FAIL() << why;
  }
  ASSERT_EQ(st, SEMCL_STATUS_SUCCESS) << semcl_status_name(st);
  // A run of the suite at a forced CPU level (SEMCL_CPU_ISA, see tests/CMakeLists.txt) on a
  // CPU without that level would silently test another level: skip it instead.
  const char *forced = std::getenv("SEMCL_CPU_ISA");
  if (forced && GetParam() == SEMCL_BACKEND_CPU) {
    semcl_cpu_isa_t isa = SEMCL_CPU_ISA_SCALAR;
    ASSERT_EQ(semcl_get_cpu_isa(ctx_, &isa), SEMCL_STATUS_SUCCESS);
    if (std::string(forced) != semcl_cpu_isa_name(isa))
      GTEST_SKIP() << "SEMCL_CPU_ISA=" << forced << ": this CPU does not have it (best level: "
                   << semcl_cpu_isa_name(isa) << ")";
  }
}

void BackendTest::TearDown() { semcl_destroy(ctx_); }

}  // namespace semcl_test
