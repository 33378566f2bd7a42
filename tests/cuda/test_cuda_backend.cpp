// test_cuda_backend.cpp — the CUDA backend against the CPU backend, bit for bit, plus the
// CUDA-specific contract: memory spaces, streams, caller workspace, no host synchronisation.
//
// Both backends follow the canonical order of src/semcl_fold.h and the row epilogue of
// src/semcl_row.h, and share src/semcl_math.h, so every output — losses, grad_raw, grad_pos,
// grad_neg, also in bf16/fp16 and with masks, weights and pos_weight — must be bitwise identical
// (NaN compares equal to NaN: a GPU writes the canonical NaN, the CPU may keep an input's
// payload). The option cases are shared with the emulated test (parity_cases.h).
//
// Every test skips with the reason when no CUDA device is usable (or the library was built
// without CUDA); none passes vacuously.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#if SEMCL_TEST_HAVE_CUDART
#include <cuda_runtime.h>
#endif

#include "backend_buffers.h"
#include "parity_cases.h"

using semcl_test::Buffer;
using semcl_test::IsPoison;
using semcl_test::PoisonValue;

namespace {

// ---- the CUDA runtime, as far as the tests call it directly ---------------------------

#if SEMCL_TEST_HAVE_CUDART
void *DeviceAlloc(size_t bytes) {
  void *p = nullptr;
  return cudaMalloc(&p, bytes) == cudaSuccess ? p : nullptr;
}
void DeviceFree(void *p) { cudaFree(p); }
void *ManagedAlloc(size_t bytes) {
  void *p = nullptr;
  return cudaMallocManaged(&p, bytes) == cudaSuccess ? p : nullptr;
}
void *PinnedAlloc(size_t bytes) {
  void *p = nullptr;
  return cudaMallocHost(&p, bytes) == cudaSuccess ? p : nullptr;
}
void PinnedFree(void *p) { cudaFreeHost(p); }
bool CopyToDevice(void *dst, const void *src, size_t bytes) {
  return cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice) == cudaSuccess;
}
bool DeviceSync() { return cudaDeviceSynchronize() == cudaSuccess; }
struct CUstream_st *StreamCreate() {
  cudaStream_t s = nullptr;
  return cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess ? s : nullptr;
}
void StreamDestroy(struct CUstream_st *s) { cudaStreamDestroy(s); }
bool StreamSync(struct CUstream_st *s) { return cudaStreamSynchronize(s) == cudaSuccess; }
size_t DeviceFreeBytes() {
  size_t free_bytes = 0, total = 0;
  return cudaMemGetInfo(&free_bytes, &total) == cudaSuccess ? free_bytes : 0;
}
// Enqueues a host function that blocks `stream` until *release != 0 (or 30 s pass).
void CUDART_CB BlockUntilReleased(void *arg) {
  auto *release = static_cast<std::atomic<int> *>(arg);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!release->load() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}
bool BlockStream(struct CUstream_st *s, std::atomic<int> *release) {
  return cudaLaunchHostFunc(s, BlockUntilReleased, release) == cudaSuccess;
}
#else
// Never reached: without CUDA every test skips before touching these. (The pointer comes
// through a volatile so that the compiler does not warn about code after the skip.)
void *NoMemory() {
  static void *volatile none = nullptr;
  return none;
}
void *DeviceAlloc(size_t) { return NoMemory(); }
void DeviceFree(void *) {}
void *ManagedAlloc(size_t) { return NoMemory(); }
void *PinnedAlloc(size_t) { return NoMemory(); }
void PinnedFree(void *) {}
bool CopyToDevice(void *, const void *, size_t) { return false; }
bool DeviceSync() { return false; }
struct CUstream_st *StreamCreate() { return nullptr; }
void StreamDestroy(struct CUstream_st *) {}
bool StreamSync(struct CUstream_st *) { return false; }
size_t DeviceFreeBytes() { return 0; }
bool BlockStream(struct CUstream_st *, std::atomic<int> *) { return false; }
#endif

class Context {
 public:
  explicit Context(semcl_backend_t backend) { status_ = semcl_create(&ctx_, backend); }
  ~Context() { semcl_destroy(ctx_); }
  Context(const Context &) = delete;
  Context &operator=(const Context &) = delete;
  semcl_context *get() const { return ctx_; }
  semcl_status_t status() const { return status_; }

 private:
  semcl_context *ctx_ = nullptr;
  semcl_status_t status_ = SEMCL_STATUS_INTERNAL_ERROR;
};

// Device memory owned by a test (freed at scope exit).
struct DeviceMemory {
  explicit DeviceMemory(size_t bytes) : ptr(DeviceAlloc(bytes)) {}
  ~DeviceMemory() {
    if (ptr) DeviceFree(ptr);
  }
  DeviceMemory(const DeviceMemory &) = delete;
  DeviceMemory &operator=(const DeviceMemory &) = delete;
  float *f() const { return static_cast<float *>(ptr); }
  void *ptr;
};

// ---- inputs ---------------------------------------------------------------------------

struct Rng {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float Uniform(float lo, float hi) {
    return lo + (hi - lo) * static_cast<float>((Next() >> 40) * (1.0 / 16777216.0));
  }
  bool OneIn(unsigned n) { return Next() % n == 0; }
};

enum class Mix { kPlain, kExtreme, kNonFinite };

struct Inputs {
  int64_t B = 0, K = 0;
  std::vector<float> raw, pos, y, neg, upstream;
};

float ExtremeValue(Rng &rng) {
  switch (rng.Next() % 4) {
    case 0: return rng.Uniform(15.f, 40.f);  // around and past softplus' threshold of 20
    case 1: return -rng.Uniform(15.f, 40.f);
    case 2: return 1e4f;
    default: return -1e4f;
  }
}

float NonFinite(Rng &rng) {
  switch (rng.Next() % 3) {
    case 0: return std::numeric_limits<float>::infinity();
    case 1: return -std::numeric_limits<float>::infinity();
    default: return std::numeric_limits<float>::quiet_NaN();
  }
}

Inputs MakeInputs(int64_t B, int64_t K, uint64_t seed, Mix mix = Mix::kPlain,
                  bool soft_labels = false) {
  Rng rng{seed * 7919 + 17};
  Inputs in;
  in.B = B;
  in.K = K;
  in.raw.resize(B);
  in.pos.resize(B);
  in.y.resize(B);
  in.upstream.resize(B);
  for (int64_t b = 0; b < B; ++b) {
    in.raw[b] = rng.Uniform(-6.f, 6.f);
    in.pos[b] = rng.Uniform(-6.f, 6.f);
    in.y[b] = (rng.Next() & 1) ? 1.f : 0.f;
    if (soft_labels && rng.OneIn(3)) in.y[b] = rng.Uniform(0.f, 1.f);
    in.upstream[b] = rng.Uniform(-2.f, 2.f);
    if (mix != Mix::kPlain && rng.OneIn(16)) in.raw[b] = ExtremeValue(rng);
    if (mix != Mix::kPlain && rng.OneIn(16)) in.pos[b] = ExtremeValue(rng);
    if (mix == Mix::kNonFinite && rng.OneIn(64)) in.raw[b] = NonFinite(rng);
    if (mix == Mix::kNonFinite && rng.OneIn(64)) in.pos[b] = NonFinite(rng);
  }
  in.neg.resize(static_cast<size_t>(B * K));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < K; ++k) {
      float v = rng.Uniform(-6.f, 6.f);
      if (mix != Mix::kPlain) {
        if (rng.OneIn(16)) v = ExtremeValue(rng);
        if (rng.OneIn(32)) v = in.pos[b];  // a tie: t = -0 or +0
      }
      if (mix == Mix::kNonFinite && rng.OneIn(500)) v = NonFinite(rng);
      in.neg[b * K + k] = v;
    }
  return in;
}

// ---- one call on either backend --------------------------------------------------------

struct Options {
  bool pairwise = true;
  bool backward = true;
  semcl_reduction_t reduction = SEMCL_REDUCTION_MEAN;
  float lambda = 0.7f;
  float grad_scale = 1.0f;
  bool upstream = false;
  bool in_place = false;
  bool grad_raw = true, grad_pos = true, grad_neg = true;
};

const char *ReductionName(semcl_reduction_t r) {
  return r == SEMCL_REDUCTION_MEAN ? "mean" : r == SEMCL_REDUCTION_SUM ? "sum" : "none";
}

std::string Describe(const Inputs &in, const Options &o) {
  std::ostringstream s;
  s << (o.pairwise ? "pos_neg" : "positive_only") << " B=" << in.B << " K=" << in.K << " "
    << (o.backward ? "fwd_bwd" : "fwd") << " reduction=" << ReductionName(o.reduction)
    << " lambda=" << o.lambda << " grad_scale=" << o.grad_scale
    << (o.upstream ? " upstream" : "") << (o.in_place ? " in-place" : "")
    << " grads=" << o.grad_raw << o.grad_pos << o.grad_neg;
  return s.str();
}

struct Outputs {
  std::vector<float> loss, ctr, aux, graw, gpos, gneg;
};

size_t LossCount(const Inputs &in, const Options &o) {
  return o.reduction == SEMCL_REDUCTION_NONE ? static_cast<size_t>(in.B) : 1;
}

struct Pointers {
  const float *raw, *pos, *neg, *y, *upstream;
  float *loss, *ctr, *aux, *graw, *gpos, *gneg;
};

semcl_status_t Call(semcl_context *ctx, const Inputs &in, const Options &o, const Pointers &p) {
  if (o.pairwise) {
    if (!o.backward)
      return semcl_pos_neg_forward(ctx, in.B, in.K, p.raw, p.pos, p.neg, p.y, o.lambda,
                                   o.reduction, p.loss, p.ctr, p.aux);
    return semcl_pos_neg_forward_backward(ctx, in.B, in.K, p.raw, p.pos, p.neg, p.y, o.lambda,
                                          o.reduction, o.grad_scale, p.upstream, p.loss, p.ctr,
                                          p.aux, p.graw, p.gpos, p.gneg);
  }
  if (!o.backward)
    return semcl_positive_only_forward(ctx, in.B, p.raw, p.pos, p.y, o.lambda, o.reduction,
                                       p.loss, p.ctr, p.aux);
  return semcl_positive_only_forward_backward(ctx, in.B, p.raw, p.pos, p.y, o.lambda,
                                              o.reduction, o.grad_scale, p.upstream, p.loss,
                                              p.ctr, p.aux, p.graw, p.gpos);
}

bool WantsGradNeg(const Options &o) { return o.pairwise && o.backward && (o.grad_neg || o.in_place); }

// Runs on a CPU context with host arrays.
Outputs RunHost(semcl_context *ctx, const Inputs &in, const Options &o, semcl_status_t *st) {
  const size_t n = LossCount(in, o), B = static_cast<size_t>(in.B);
  Outputs out;
  out.loss.assign(n, PoisonValue());
  out.ctr.assign(n, PoisonValue());
  out.aux.assign(n, PoisonValue());
  if (o.backward && o.grad_raw) out.graw.assign(B, PoisonValue());
  if (o.backward && o.grad_pos) out.gpos.assign(B, PoisonValue());
  if (WantsGradNeg(o)) {
    if (o.in_place)
      out.gneg = in.neg;
    else
      out.gneg.assign(in.neg.size(), PoisonValue());
  }
  Pointers p{in.raw.data(),
             in.pos.data(),
             o.pairwise ? (o.in_place ? out.gneg.data() : in.neg.data()) : nullptr,
             in.y.data(),
             o.upstream ? in.upstream.data() : nullptr,
             out.loss.data(),
             out.ctr.data(),
             out.aux.data(),
             out.graw.empty() ? nullptr : out.graw.data(),
             out.gpos.empty() ? nullptr : out.gpos.data(),
             out.gneg.empty() ? nullptr : out.gneg.data()};
  *st = Call(ctx, in, o, p);
  return out;
}

// Runs on a CUDA context: every array in device memory through the public buffer API.
Outputs RunDevice(semcl_context *ctx, const Inputs &in, const Options &o, semcl_status_t *st) {
  const size_t n = LossCount(in, o), B = static_cast<size_t>(in.B);
  Buffer raw(ctx, in.raw), pos(ctx, in.pos), y(ctx, in.y);
  Buffer upstream(ctx, std::vector<float>(in.upstream.begin(), in.upstream.begin() + n));
  Buffer neg = o.pairwise ? Buffer(ctx, in.neg) : Buffer();
  Buffer loss(ctx, n, PoisonValue()), ctr(ctx, n, PoisonValue()), aux(ctx, n, PoisonValue());
  Buffer graw = o.backward && o.grad_raw ? Buffer(ctx, B, PoisonValue()) : Buffer();
  Buffer gpos = o.backward && o.grad_pos ? Buffer(ctx, B, PoisonValue()) : Buffer();
  Buffer gneg = WantsGradNeg(o) && !o.in_place ? Buffer(ctx, in.neg.size(), PoisonValue())
                                               : Buffer();
  float *gneg_ptr = WantsGradNeg(o) ? (o.in_place ? neg.get() : gneg.get()) : nullptr;
  Pointers p{raw.get(),  pos.get(), neg.get(),  y.get(),    o.upstream ? upstream.get() : nullptr,
             loss.get(), ctr.get(), aux.get(),  graw.get(), gpos.get(), gneg_ptr};
  *st = Call(ctx, in, o, p);
  Outputs out;
  out.loss = loss.download();
  out.ctr = ctr.download();
  out.aux = aux.download();
  if (graw.get()) out.graw = graw.download();
  if (gpos.get()) out.gpos = gpos.download();
  if (gneg_ptr) out.gneg = o.in_place ? neg.download() : gneg.download();
  return out;
}

// ---- comparison ------------------------------------------------------------------------

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

bool SameBits(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || Bits(a) == Bits(b);
}

std::string Show(float f) {
  char text[64];
  std::snprintf(text, sizeof text, "%.9g (%a, 0x%08x)", static_cast<double>(f),
                static_cast<double>(f), Bits(f));
  return text;
}

void ExpectIdentical(const char *what, const std::vector<float> &cpu,
                     const std::vector<float> &gpu) {
  ASSERT_EQ(cpu.size(), gpu.size()) << what;
  size_t mismatches = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    if (SameBits(cpu[i], gpu[i])) continue;
    if (++mismatches <= 5)
      ADD_FAILURE() << what << "[" << i << "]: CPU " << Show(cpu[i]) << ", CUDA " << Show(gpu[i]);
  }
  EXPECT_EQ(mismatches, 0u) << what << ": " << mismatches << " of " << cpu.size()
                            << " elements differ";
}

void ExpectAllWritten(const char *what, const std::vector<float> &v) {
  size_t left = 0;
  for (float x : v) left += IsPoison(x) ? 1 : 0;
  EXPECT_EQ(left, 0u) << what << ": " << left << " elements were not written";
}

void ExpectSameOutputs(const Outputs &cpu, const Outputs &gpu) {
  ExpectIdentical("loss", cpu.loss, gpu.loss);
  ExpectIdentical("loss_ctr", cpu.ctr, gpu.ctr);
  ExpectIdentical("loss_aux", cpu.aux, gpu.aux);
  ExpectIdentical("grad_raw", cpu.graw, gpu.graw);
  ExpectIdentical("grad_pos", cpu.gpos, gpu.gpos);
  ExpectIdentical("grad_neg", cpu.gneg, gpu.gneg);
  ExpectAllWritten("CUDA loss", gpu.loss);
  ExpectAllWritten("CUDA loss_ctr", gpu.ctr);
  ExpectAllWritten("CUDA loss_aux", gpu.aux);
  ExpectAllWritten("CUDA grad_raw", gpu.graw);
  ExpectAllWritten("CUDA grad_pos", gpu.gpos);
  ExpectAllWritten("CUDA grad_neg", gpu.gneg);
}

// Runs `o` on both backends and requires identical bits everywhere.
void ExpectParity(semcl_context *cpu, semcl_context *gpu, const Inputs &in, const Options &o) {
  SCOPED_TRACE(Describe(in, o));
  semcl_status_t st_cpu, st_gpu;
  const Outputs a = RunHost(cpu, in, o, &st_cpu);
  ASSERT_EQ(st_cpu, SEMCL_STATUS_SUCCESS) << semcl_last_error(cpu);
  const Outputs b = RunDevice(gpu, in, o, &st_gpu);
  ASSERT_EQ(st_gpu, SEMCL_STATUS_SUCCESS) << semcl_last_error(gpu);
  ExpectSameOutputs(a, b);
}

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SEMCL_REQUIRE_BACKEND(SEMCL_BACKEND_CUDA);  // skips, or fails under SEMCL_REQUIRE_CUDA=1
    ASSERT_EQ(semcl_create(&cpu_, SEMCL_BACKEND_CPU), SEMCL_STATUS_SUCCESS);
    ASSERT_EQ(semcl_create(&gpu_, SEMCL_BACKEND_CUDA), SEMCL_STATUS_SUCCESS);
  }
  void TearDown() override {
    semcl_destroy(gpu_);
    semcl_destroy(cpu_);
  }
  semcl_context *cpu_ = nullptr;
  semcl_context *gpu_ = nullptr;
};

// ---- parity over shapes ------------------------------------------------------------------

struct Shape {
  int64_t B, K;
};

// K = 1, odd K, K around 32 (the small-K kernel's limit), around the 1024-element chunk, K not
// a multiple of 32, K >= 65536, B = 1, B around the 256-row block, many rows.
const Shape kPairShapes[] = {
    {1, 1},     {1, 7},     {3, 1},     {5, 31},    {7, 32},     {9, 33},     {17, 100},
    {300, 1},   {513, 3},   {257, 16},  {1000, 17}, {255, 5},    {64, 1024},  {1, 1024},
    {33, 1025}, {40, 2049}, {3, 4097},  {2, 65536}, {1, 70001},  {600, 128},  {100000, 1},
    {70000, 5}, {4099, 63}, {2, 131073}};

TEST_F(CudaTest, PairwiseParityAcrossShapesReductionsAndModes) {
  uint64_t seed = 1;
  for (const Shape &s : kPairShapes) {
    const Inputs in = MakeInputs(s.B, s.K, seed++);
    for (semcl_reduction_t r :
         {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM, SEMCL_REDUCTION_NONE}) {
      Options fwd;
      fwd.backward = false;
      fwd.reduction = r;
      ExpectParity(cpu_, gpu_, in, fwd);
      Options bwd;
      bwd.reduction = r;
      ExpectParity(cpu_, gpu_, in, bwd);
      Options scaled = bwd;  // upstream gradient (device memory), grad_scale, in place
      scaled.upstream = true;
      scaled.grad_scale = 0.375f;
      scaled.in_place = true;
      ExpectParity(cpu_, gpu_, in, scaled);
      if (HasFatalFailure()) return;
    }
  }
}

TEST_F(CudaTest, PairwiseParityWithGradientSubsets) {
  const Shape shapes[] = {{5, 3}, {300, 32}, {20, 1500}};
  uint64_t seed = 100;
  for (const Shape &s : shapes) {
    const Inputs in = MakeInputs(s.B, s.K, seed++);
    for (int mask = 0; mask < 8; ++mask) {
      Options o;
      o.reduction = mask & 1 ? SEMCL_REDUCTION_NONE : SEMCL_REDUCTION_MEAN;
      o.upstream = true;
      o.grad_raw = mask & 1;
      o.grad_pos = mask & 2;
      o.grad_neg = mask & 4;
      ExpectParity(cpu_, gpu_, in, o);
    }
  }
}

TEST_F(CudaTest, PairwiseParityOnExtremeNonFiniteAndSoftInputs) {
  const Shape shapes[] = {{1, 1}, {37, 13}, {300, 32}, {50, 333}, {7, 5000}};
  uint64_t seed = 200;
  for (const Shape &s : shapes) {
    for (Mix mix : {Mix::kExtreme, Mix::kNonFinite}) {
      const Inputs in = MakeInputs(s.B, s.K, seed++, mix, /*soft_labels=*/true);
      for (semcl_reduction_t r : {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_NONE}) {
        Options o;
        o.reduction = r;
        o.upstream = true;
        ExpectParity(cpu_, gpu_, in, o);
        o.lambda = 0.0f;
        o.backward = false;
        ExpectParity(cpu_, gpu_, in, o);
      }
    }
  }
}

TEST_F(CudaTest, PositiveOnlyParity) {
  const int64_t sizes[] = {1, 2, 31, 255, 256, 257, 1000, 65537, 300001};
  uint64_t seed = 300;
  for (int64_t B : sizes) {
    for (Mix mix : {Mix::kPlain, Mix::kExtreme, Mix::kNonFinite}) {
      const Inputs in = MakeInputs(B, 1, seed++, mix, mix != Mix::kPlain);
      for (semcl_reduction_t r :
           {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM, SEMCL_REDUCTION_NONE}) {
        Options o;
        o.pairwise = false;
        o.reduction = r;
        o.backward = false;
        ExpectParity(cpu_, gpu_, in, o);
        o.backward = true;
        ExpectParity(cpu_, gpu_, in, o);
        o.upstream = true;
        o.grad_scale = -1.5f;
        o.grad_pos = B % 2 == 0;
        ExpectParity(cpu_, gpu_, in, o);
      }
    }
  }
}

TEST_F(CudaTest, RepeatedCallsGiveIdenticalBits) {
  const Inputs in = MakeInputs(3000, 700, 400);
  Options o;
  o.upstream = true;
  semcl_status_t st;
  const Outputs first = RunDevice(gpu_, in, o, &st);
  ASSERT_EQ(st, SEMCL_STATUS_SUCCESS) << semcl_last_error(gpu_);
  for (int i = 0; i < 3; ++i) {
    const Outputs again = RunDevice(gpu_, in, o, &st);
    ASSERT_EQ(st, SEMCL_STATUS_SUCCESS) << semcl_last_error(gpu_);
    ExpectSameOutputs(first, again);
  }
}

TEST_F(CudaTest, AutoBackendPicksCuda) {
  Context ctx(SEMCL_BACKEND_AUTO);
  ASSERT_EQ(ctx.status(), SEMCL_STATUS_SUCCESS);
  semcl_backend_t backend = SEMCL_BACKEND_CPU;
  ASSERT_EQ(semcl_get_backend(ctx.get(), &backend), SEMCL_STATUS_SUCCESS);
  EXPECT_EQ(backend, SEMCL_BACKEND_CUDA);
}

// ---- options: dtypes, masks, weights, pos_weight (parity_cases.h) ----------------------------

// Bytes in the context's memory space, through the public buffer API (nullptr when empty).
class DeviceBytes {
 public:
  DeviceBytes(semcl_context *ctx, const void *host, size_t bytes) : ctx_(ctx), bytes_(bytes) {
    if (!bytes) return;
    EXPECT_EQ(semcl_buffer_alloc(ctx, &ptr_, bytes), SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx);
    if (ptr_) {
      EXPECT_EQ(semcl_upload(ctx, ptr_, host, bytes), SEMCL_STATUS_SUCCESS)
          << semcl_last_error(ctx);
    }
  }
  template <class T>
  DeviceBytes(semcl_context *ctx, const std::vector<T> &v)
      : DeviceBytes(ctx, v.data(), v.size() * sizeof(T)) {}
  ~DeviceBytes() {
    if (ptr_) semcl_buffer_free(ctx_, ptr_);
  }
  DeviceBytes(const DeviceBytes &) = delete;
  DeviceBytes &operator=(const DeviceBytes &) = delete;
  void *get() const { return ptr_; }
  template <class T>
  std::vector<T> download() const {
    std::vector<T> v(bytes_ / sizeof(T));
    if (ptr_) {
      EXPECT_EQ(semcl_download(ctx_, v.data(), ptr_, bytes_), SEMCL_STATUS_SUCCESS)
          << semcl_last_error(ctx_);
    }
    return v;
  }

 private:
  semcl_context *ctx_;
  void *ptr_ = nullptr;
  size_t bytes_;
};

// The case on the CUDA context: every array in device memory, outputs poisoned first.
semcl_parity::Outputs RunCaseOnDevice(semcl_context *gpu, const semcl_parity::Case &c,
                                      const semcl_parity::Data &d) {
  const semcl_parity::Outputs fresh = semcl_parity::PoisonedOutputs(c, d);
  DeviceBytes raw(gpu, d.raw), pos(gpu, d.pos), y(gpu, d.y), up(gpu, d.upstream);
  DeviceBytes weight(gpu, d.weight), pos_weight(gpu, d.pos_weight), mask(gpu, d.mask);
  DeviceBytes count(gpu, d.count);
  DeviceBytes loss(gpu, fresh.loss), ctr(gpu, fresh.ctr), aux(gpu, fresh.aux);
  DeviceBytes graw(gpu, fresh.graw), gpos(gpu, fresh.gpos), gneg(gpu, fresh.gneg);
  DeviceBytes neg(gpu, c.in_place ? std::vector<uint8_t>() : d.neg);
  semcl_parity::Pointers p{raw.get(),
                           pos.get(),
                           c.in_place ? gneg.get() : neg.get(),
                           static_cast<const float *>(y.get()),
                           static_cast<const float *>(up.get()),
                           static_cast<const uint8_t *>(mask.get()),
                           static_cast<const int32_t *>(count.get()),
                           static_cast<const float *>(weight.get()),
                           static_cast<const float *>(pos_weight.get()),
                           static_cast<float *>(loss.get()),
                           static_cast<float *>(ctr.get()),
                           static_cast<float *>(aux.get()),
                           graw.get(),
                           gpos.get(),
                           gneg.get()};
  const semcl_status_t st = semcl_parity::CallEx(gpu, c, p);
  EXPECT_EQ(st, SEMCL_STATUS_SUCCESS) << semcl_last_error(gpu);
  semcl_parity::Outputs out;
  out.loss = loss.download<float>();
  out.ctr = ctr.download<float>();
  out.aux = aux.download<float>();
  out.graw = graw.download<uint8_t>();
  out.gpos = gpos.download<uint8_t>();
  out.gneg = gneg.download<uint8_t>();
  return out;
}

void ExpectCaseParity(semcl_context *cpu, semcl_context *gpu, const semcl_parity::Case &c) {
  SCOPED_TRACE(semcl_parity::Describe(c));
  const semcl_parity::Data d = semcl_parity::MakeData(c);
  const semcl_parity::Outputs expected = semcl_parity::RunCpu(cpu, c, d);
  const semcl_parity::Outputs got = RunCaseOnDevice(gpu, c, d);
  semcl_parity::ExpectSame(c, expected, got, "CUDA");
}

// K in {1, 2, 31, 32, 33, 1000, 1024, 1025, 5*1024+3, 70000} x B in {1, 255, 256, 257, 5000}
// (up to 2^25 elements), every reduction, forward and forward+backward.
TEST_F(CudaTest, ParityAcrossTheShapeGrid) {
  for (const semcl_parity::Case &c : semcl_parity::ShapeCases(int64_t{1} << 25)) {
    ExpectCaseParity(cpu_, gpu_, c);
    if (HasFailure()) return;
  }
}

// Every option (dtype, neg_mask, neg_count with out-of-range values, both masks, weights with
// zeros and negatives, pos_weight of 1 and B values, reductions, gradient subsets, in place,
// upstream) on every launch shape.
TEST_F(CudaTest, ParityForEveryOptionOnEveryLaunchShape) {
  const Shape shapes[] = {{5000, 1},   {257, 2},    {256, 31},   {255, 32},
                          {257, 33},   {1000, 200}, {500, 300},  {300, 1000},
                          {257, 1024}, {100, 1025}, {40, 5 * 1024 + 3}, {5, 70000},
                          {1, 70000},  {5000, 16}};
  uint64_t seed = 900;
  for (const Shape &s : shapes)
    for (const semcl_parity::Case &c : semcl_parity::OptionCases(s.B, s.K, seed++, 36)) {
      ExpectCaseParity(cpu_, gpu_, c);
      if (HasFailure()) return;
    }
}

// All-masked rows and batch, rows whose grad_neg needs the fp64 coefficient (lambda =
// grad_scale = 1e30), every gradient subset, in place with masks, the positive-only loss with
// weights and pos_weight in every dtype.
TEST_F(CudaTest, ParityOnEdgeCases) {
  for (const semcl_parity::Case &c : semcl_parity::EdgeCases()) {
    ExpectCaseParity(cpu_, gpu_, c);
    if (HasFailure()) return;
  }
}

// ---- more than 2^31 elements: 64-bit indexing on every path --------------------------------

size_t HostAvailableBytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  size_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return 0;
}

float HashedScore(uint64_t i) {
  uint64_t z = i * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
  z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ull;
  z ^= z >> 29;
  return -6.0f + 12.0f * static_cast<float>((z >> 40) * (1.0 / 16777216.0));
}

// Forward, then forward+backward in place, on both backends; score_neg lives once on each
// side (in place), grad_neg is compared slice by slice.
void HugeParity(semcl_context *cpu, semcl_context *gpu, int64_t B, int64_t K,
                semcl_reduction_t reduction) {
  const size_t n = static_cast<size_t>(B) * static_cast<size_t>(K);
  ASSERT_GE(n, (size_t{1} << 31));
  const size_t neg_bytes = n * sizeof(float);
  const size_t row_bytes = static_cast<size_t>(B) * sizeof(float);
  const size_t slice = size_t{1} << 26;  // floats per comparison slice
  const size_t device_need = neg_bytes + 12 * row_bytes + (size_t{1} << 30);
  const size_t host_need = neg_bytes + slice * sizeof(float) + 16 * row_bytes + (size_t{2} << 30);
  const size_t device_free = DeviceFreeBytes(), host_free = HostAvailableBytes();
  if (device_free < device_need || host_free < host_need)
    GTEST_SKIP() << "B*K = " << n << " needs about " << (device_need >> 20) << " MiB of free "
                 << "device memory (have " << (device_free >> 20) << ") and "
                 << (host_need >> 20) << " MiB of available host memory (have "
                 << (host_free >> 20) << ")";

  Inputs rows = MakeInputs(B, 1, 9000 + static_cast<uint64_t>(K));  // row inputs only
  rows.K = K;
  std::unique_ptr<float[]> neg(new float[n]);
  for (size_t i = 0; i < n; ++i) neg[i] = HashedScore(i);

  const size_t nl = reduction == SEMCL_REDUCTION_NONE ? static_cast<size_t>(B) : 1;
  Buffer raw(gpu, rows.raw), pos(gpu, rows.pos), y(gpu, rows.y);
  Buffer up(gpu, std::vector<float>(rows.upstream.begin(), rows.upstream.begin() + nl));
  Buffer loss(gpu, nl, PoisonValue()), ctr(gpu, nl, PoisonValue()), aux(gpu, nl, PoisonValue());
  Buffer graw(gpu, static_cast<size_t>(B), PoisonValue());
  Buffer gpos(gpu, static_cast<size_t>(B), PoisonValue());
  void *dneg_raw = nullptr;
  ASSERT_EQ(semcl_buffer_alloc(gpu, &dneg_raw, neg_bytes), SEMCL_STATUS_SUCCESS)
      << semcl_last_error(gpu);
  std::unique_ptr<void, std::function<void(void *)>> dneg_guard(
      dneg_raw, [gpu](void *p) { semcl_buffer_free(gpu, p); });
  float *dneg = static_cast<float *>(dneg_raw);
  ASSERT_EQ(semcl_upload(gpu, dneg, neg.get(), neg_bytes), SEMCL_STATUS_SUCCESS)
      << semcl_last_error(gpu);

  std::vector<float> hloss(nl), hctr(nl), haux(nl), hgraw(B), hgpos(B);
  const float lambda = 0.6f;

  // Forward.
  ASSERT_EQ(semcl_pos_neg_forward(gpu, B, K, raw.get(), pos.get(), dneg, y.get(), lambda,
                                  reduction, loss.get(), ctr.get(), aux.get()),
            SEMCL_STATUS_SUCCESS)
      << semcl_last_error(gpu);
  ASSERT_EQ(semcl_pos_neg_forward(cpu, B, K, rows.raw.data(), rows.pos.data(), neg.get(),
                                  rows.y.data(), lambda, reduction, hloss.data(), hctr.data(),
                                  haux.data()),
            SEMCL_STATUS_SUCCESS)
      << semcl_last_error(cpu);
  ExpectIdentical("forward loss", hloss, loss.download());
  ExpectIdentical("forward loss_ctr", hctr, ctr.download());
  ExpectIdentical("forward loss_aux", haux, aux.download());

  // Forward + backward, in place, with an upstream gradient.
  ASSERT_EQ(semcl_pos_neg_forward_backward(gpu, B, K, raw.get(), pos.get(), dneg, y.get(), lambda,
                                           reduction, 1.0f, up.get(), loss.get(), ctr.get(),
                                           aux.get(), graw.get(), gpos.get(), dneg),
            SEMCL_STATUS_SUCCESS)
      << semcl_last_error(gpu);
  ASSERT_EQ(semcl_pos_neg_forward_backward(cpu, B, K, rows.raw.data(), rows.pos.data(), neg.get(),
                                           rows.y.data(), lambda, reduction, 1.0f,
                                           rows.upstream.data(), hloss.data(), hctr.data(),
                                           haux.data(), hgraw.data(), hgpos.data(), neg.get()),
            SEMCL_STATUS_SUCCESS)
      << semcl_last_error(cpu);
  ExpectIdentical("loss", hloss, loss.download());
  ExpectIdentical("loss_ctr", hctr, ctr.download());
  ExpectIdentical("loss_aux", haux, aux.download());
  ExpectIdentical("grad_raw", hgraw, graw.download());
  ExpectIdentical("grad_pos", hgpos, gpos.download());
  std::vector<float> part(slice);
  size_t mismatches = 0;
  for (size_t first = 0; first < n; first += slice) {
    const size_t count = std::min(slice, n - first);
    ASSERT_EQ(semcl_download(gpu, part.data(), dneg + first, count * sizeof(float)),
              SEMCL_STATUS_SUCCESS)
        << semcl_last_error(gpu);
    if (std::memcmp(part.data(), neg.get() + first, count * sizeof(float)) == 0) continue;
    for (size_t i = 0; i < count; ++i)
      if (!SameBits(part[i], neg[first + i]) && ++mismatches <= 5)
        ADD_FAILURE() << "grad_neg[" << first + i << "]: CPU " << Show(neg[first + i])
                      << ", CUDA " << Show(part[i]);
  }
  EXPECT_EQ(mismatches, 0u) << "grad_neg: elements differ";
}

TEST_F(CudaTest, HugeParitySplitKPast2To31) {
  HugeParity(cpu_, gpu_, 32769, 65537, SEMCL_REDUCTION_MEAN);  // 2^31 + 98305 elements
}

TEST_F(CudaTest, HugeParityOneChunkRowsPast2To31) {
  HugeParity(cpu_, gpu_, 65075263, 33, SEMCL_REDUCTION_SUM);  // 2^31 + 31 elements
}

TEST_F(CudaTest, HugeParitySmallKPast2To31) {
  HugeParity(cpu_, gpu_, (int64_t{1} << 26) + 1, 32, SEMCL_REDUCTION_NONE);  // 2^31 + 32
}

// ---- memory spaces -------------------------------------------------------------------------

TEST_F(CudaTest, HostPointersOnACudaContextAreRefused) {
  const Inputs in = MakeInputs(8, 5, 500);
  Buffer raw(gpu_, in.raw), pos(gpu_, in.pos), y(gpu_, in.y), neg(gpu_, in.neg);
  Buffer up(gpu_, 1, 1.0f);
  Buffer loss(gpu_, 1, PoisonValue()), ctr(gpu_, 1, PoisonValue()), aux(gpu_, 1, PoisonValue());
  Buffer graw(gpu_, 8, PoisonValue()), gpos(gpu_, 8, PoisonValue());
  Buffer gneg(gpu_, in.neg.size(), PoisonValue());
  std::vector<float> host_out(in.neg.size(), 0.f);
  const float host_up = 1.0f;
  struct Case {
    const char *name;
    Pointers p;
  };
  const Pointers ok{raw.get(),  pos.get(), neg.get(), y.get(),    up.get(),  loss.get(),
                    ctr.get(),  aux.get(), graw.get(), gpos.get(), gneg.get()};
  std::vector<Case> cases;
  Pointers p = ok;
  p.raw = in.raw.data();
  cases.push_back({"score_raw", p});
  p = ok;
  p.neg = in.neg.data();
  cases.push_back({"score_neg", p});
  p = ok;
  p.upstream = &host_up;
  cases.push_back({"grad_upstream", p});
  p = ok;
  p.loss = host_out.data();
  cases.push_back({"loss", p});
  p = ok;
  p.gneg = host_out.data();
  cases.push_back({"grad_neg", p});
  Options o;
  o.upstream = true;
  for (const Case &c : cases) {
    SCOPED_TRACE(c.name);
    const semcl_status_t st = Call(gpu_, in, o, c.p);
    EXPECT_EQ(st, SEMCL_STATUS_WRONG_MEMORY_SPACE) << semcl_status_name(st);
    EXPECT_NE(std::string(semcl_last_error(gpu_)).find(c.name), std::string::npos)
        << semcl_last_error(gpu_);
  }
  // Nothing was written.
  EXPECT_TRUE(semcl_test::AllPoison(loss.download()));
  EXPECT_TRUE(semcl_test::AllPoison(ctr.download()));
  EXPECT_TRUE(semcl_test::AllPoison(aux.download()));
  EXPECT_TRUE(semcl_test::AllPoison(graw.download()));
  EXPECT_TRUE(semcl_test::AllPoison(gpos.download()));
  EXPECT_TRUE(semcl_test::AllPoison(gneg.download()));
  // And the context still works.
  EXPECT_EQ(Call(gpu_, in, o, ok), SEMCL_STATUS_SUCCESS) << semcl_last_error(gpu_);
}

TEST_F(CudaTest, PinnedHostMemoryOnACudaContextIsRefused) {
  const Inputs in = MakeInputs(4, 1, 510);
  float *pinned = static_cast<float *>(PinnedAlloc(4 * sizeof(float)));
  ASSERT_NE(pinned, nullptr);
  std::memcpy(pinned, in.pos.data(), 4 * sizeof(float));
  Buffer raw(gpu_, in.raw), y(gpu_, in.y), loss(gpu_, 1, PoisonValue()),
      ctr(gpu_, 1, PoisonValue()), aux(gpu_, 1, PoisonValue());
  const semcl_status_t st = semcl_positive_only_forward(gpu_, 4, raw.get(), pinned, y.get(), 1.f,
                                                        SEMCL_REDUCTION_MEAN, loss.get(),
                                                        ctr.get(), aux.get());
  EXPECT_EQ(st, SEMCL_STATUS_WRONG_MEMORY_SPACE) << semcl_status_name(st);
  EXPECT_NE(std::string(semcl_last_error(gpu_)).find("score_pos"), std::string::npos)
      << semcl_last_error(gpu_);
  EXPECT_TRUE(semcl_test::AllPoison(loss.download()));
  PinnedFree(pinned);
}

TEST_F(CudaTest, ManagedMemoryWorksOnACudaContext) {
  const Inputs in = MakeInputs(300, 40, 520);
  const size_t B = 300, n = in.neg.size();
  float *m = static_cast<float *>(ManagedAlloc((4 * B + 2 * n + 3 + 2 * B) * sizeof(float)));
  ASSERT_NE(m, nullptr);
  float *raw = m, *pos = raw + B, *y = pos + B, *neg = y + B, *gneg = neg + n, *out = gneg + n,
        *graw = out + 3, *gpos = graw + B;
  std::memcpy(raw, in.raw.data(), B * sizeof(float));
  std::memcpy(pos, in.pos.data(), B * sizeof(float));
  std::memcpy(y, in.y.data(), B * sizeof(float));
  std::memcpy(neg, in.neg.data(), n * sizeof(float));
  ASSERT_EQ(semcl_pos_neg_forward_backward(gpu_, 300, 40, raw, pos, neg, y, 0.7f,
                                           SEMCL_REDUCTION_MEAN, 1.0f, nullptr, out, out + 1,
                                           out + 2, graw, gpos, gneg),
            SEMCL_STATUS_SUCCESS)
      << semcl_last_error(gpu_);
  ASSERT_EQ(semcl_synchronize(gpu_), SEMCL_STATUS_SUCCESS);
  semcl_status_t st;
  Options o;
  const Outputs ref = RunHost(cpu_, in, o, &st);
  ASSERT_EQ(st, SEMCL_STATUS_SUCCESS);
  ExpectIdentical("loss", ref.loss, {out[0]});
  ExpectIdentical("loss_ctr", ref.ctr, {out[1]});
  ExpectIdentical("loss_aux", ref.aux, {out[2]});
  ExpectIdentical("grad_raw", ref.graw, std::vector<float>(graw, graw + B));
  ExpectIdentical("grad_pos", ref.gpos, std::vector<float>(gpos, gpos + B));
  ExpectIdentical("grad_neg", ref.gneg, std::vector<float>(gneg, gneg + n));
  DeviceFree(m);
}

TEST_F(CudaTest, DevicePointersOnACpuContextAreRefused) {
  const Inputs in = MakeInputs(6, 9, 530);
  DeviceMemory dev(in.neg.size() * sizeof(float));
  ASSERT_NE(dev.ptr, nullptr);
  ASSERT_TRUE(CopyToDevice(dev.ptr, in.neg.data(), in.neg.size() * sizeof(float)));
  std::vector<float> loss(1, PoisonValue()), ctr(1, PoisonValue()), aux(1, PoisonValue());
  std::vector<float> graw(6, PoisonValue()), gpos(6, PoisonValue());
  semcl_status_t st = semcl_pos_neg_forward(cpu_, 6, 9, in.raw.data(), in.pos.data(), dev.f(),
                                            in.y.data(), 1.f, SEMCL_REDUCTION_MEAN, loss.data(),
                                            ctr.data(), aux.data());
  EXPECT_EQ(st, SEMCL_STATUS_WRONG_MEMORY_SPACE) << semcl_status_name(st);
  EXPECT_NE(std::string(semcl_last_error(cpu_)).find("score_neg"), std::string::npos)
      << semcl_last_error(cpu_);
  // A device output is refused too, before anything is written.
  st = semcl_pos_neg_forward_backward(cpu_, 6, 9, in.raw.data(), in.pos.data(), in.neg.data(),
                                      in.y.data(), 1.f, SEMCL_REDUCTION_MEAN, 1.f, nullptr,
                                      loss.data(), ctr.data(), aux.data(), graw.data(),
                                      gpos.data(), dev.f());
  EXPECT_EQ(st, SEMCL_STATUS_WRONG_MEMORY_SPACE) << semcl_status_name(st);
  EXPECT_NE(std::string(semcl_last_error(cpu_)).find("grad_neg"), std::string::npos)
      << semcl_last_error(cpu_);
  EXPECT_TRUE(semcl_test::AllPoison(loss));
  EXPECT_TRUE(semcl_test::AllPoison(ctr));
  EXPECT_TRUE(semcl_test::AllPoison(aux));
  EXPECT_TRUE(semcl_test::AllPoison(graw));
  EXPECT_TRUE(semcl_test::AllPoison(gpos));
}

TEST_F(CudaTest, PinnedAndManagedMemoryPassOnACpuContext) {
  const Inputs in = MakeInputs(6, 9, 540);
  const size_t n = in.neg.size();
  float *pinned = static_cast<float *>(PinnedAlloc(n * sizeof(float)));
  float *managed = static_cast<float *>(ManagedAlloc(n * sizeof(float)));
  ASSERT_NE(pinned, nullptr);
  ASSERT_NE(managed, nullptr);
  std::memcpy(pinned, in.neg.data(), n * sizeof(float));
  std::vector<float> loss(1), ctr(1), aux(1);
  EXPECT_EQ(semcl_pos_neg_forward(cpu_, 6, 9, in.raw.data(), in.pos.data(), pinned, in.y.data(),
                                  1.f, SEMCL_REDUCTION_MEAN, loss.data(), ctr.data(), aux.data()),
            SEMCL_STATUS_SUCCESS)
      << semcl_last_error(cpu_);
  ASSERT_TRUE(DeviceSync());
  std::vector<float> graw(6), gpos(6);
  EXPECT_EQ(semcl_pos_neg_forward_backward(cpu_, 6, 9, in.raw.data(), in.pos.data(),
                                           in.neg.data(), in.y.data(), 1.f, SEMCL_REDUCTION_MEAN,
                                           1.f, nullptr, loss.data(), ctr.data(), aux.data(),
                                           graw.data(), gpos.data(), managed),
            SEMCL_STATUS_SUCCESS)
      << semcl_last_error(cpu_);
  PinnedFree(pinned);
  DeviceFree(managed);
}

// ---- streams -----------------------------------------------------------------------------

TEST_F(CudaTest, SetStreamGivesIdenticalResults) {
  struct CUstream_st *stream = StreamCreate();
  ASSERT_NE(stream, nullptr);
  const Inputs in = MakeInputs(777, 300, 600);
  Options o;
  o.upstream = true;
  o.reduction = SEMCL_REDUCTION_NONE;
  semcl_status_t st;
  const Outputs ref = RunHost(cpu_, in, o, &st);
  ASSERT_EQ(st, SEMCL_STATUS_SUCCESS);
  const Outputs on_default = RunDevice(gpu_, in, o, &st);
  ASSERT_EQ(st, SEMCL_STATUS_SUCCESS) << semcl_last_error(gpu_);
  ASSERT_EQ(semcl_set_stream(gpu_, stream), SEMCL_STATUS_SUCCESS);
  struct CUstream_st *got = nullptr;
  ASSERT_EQ(semcl_get_stream(gpu_, &got), SEMCL_STATUS_SUCCESS);
  EXPECT_EQ(got, stream);
  const Outputs on_stream = RunDevice(gpu_, in, o, &st);  // buffers, copies, kernels on `stream`
  ASSERT_EQ(st, SEMCL_STATUS_SUCCESS) << semcl_last_error(gpu_);
  EXPECT_EQ(semcl_synchronize(gpu_), SEMCL_STATUS_SUCCESS) << semcl_last_error(gpu_);
  ExpectSameOutputs(ref, on_default);
  ExpectSameOutputs(ref, on_stream);
  ASSERT_EQ(semcl_set_stream(gpu_, nullptr), SEMCL_STATUS_SUCCESS);
  const Outputs back = RunDevice(gpu_, in, o, &st);
  ASSERT_EQ(st, SEMCL_STATUS_SUCCESS) << semcl_last_error(gpu_);
  ExpectSameOutputs(ref, back);
  EXPECT_TRUE(StreamSync(stream));
  StreamDestroy(stream);
}

// A compute call only enqueues: it returns while its stream is still blocked.
TEST_F(CudaTest, ComputeCallsDoNotWaitForTheStream) {
  struct CUstream_st *stream = StreamCreate();
  ASSERT_NE(stream, nullptr);
  ASSERT_EQ(semcl_set_stream(gpu_, stream), SEMCL_STATUS_SUCCESS);
  const Inputs in = MakeInputs(512, 2000, 610);
  Buffer raw(gpu_, in.raw), pos(gpu_, in.pos), y(gpu_, in.y), neg(gpu_, in.neg);
  Buffer up(gpu_, 1, 2.0f);
  Buffer loss(gpu_, 1, 0.f), ctr(gpu_, 1, 0.f), aux(gpu_, 1, 0.f), graw(gpu_, 512, 0.f),
      gpos(gpu_, 512, 0.f), gneg(gpu_, in.neg.size(), 0.f);
  auto call = [&] {
    return semcl_pos_neg_forward_backward(gpu_, 512, 2000, raw.get(), pos.get(), neg.get(),
                                          y.get(), 0.5f, SEMCL_REDUCTION_MEAN, 1.f, up.get(),
                                          loss.get(), ctr.get(), aux.get(), graw.get(),
                                          gpos.get(), gneg.get());
  };
  ASSERT_EQ(call(), SEMCL_STATUS_SUCCESS) << semcl_last_error(gpu_);  // workspace allocated
  ASSERT_EQ(semcl_synchronize(gpu_), SEMCL_STATUS_SUCCESS);
  const std::vector<float> expected = gneg.download();

  std::atomic<int> release{0};
  ASSERT_TRUE(BlockStream(stream, &release));
  const auto start = std::chrono::steady_clock::now();
  const semcl_status_t st = call();
  const bool returned_while_blocked = release.load() == 0;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  release.store(1);
  ASSERT_TRUE(StreamSync(stream));
  EXPECT_EQ(st, SEMCL_STATUS_SUCCESS) << semcl_last_error(gpu_);
  EXPECT_TRUE(returned_while_blocked);
  EXPECT_LT(seconds, 10.0) << "the call waited for its stream";
  ExpectIdentical("grad_neg", expected, gneg.download());
  ASSERT_EQ(semcl_set_stream(gpu_, nullptr), SEMCL_STATUS_SUCCESS);
  StreamDestroy(stream);
}

// ---- caller-provided workspace ------------------------------------------------------------

TEST_F(CudaTest, CallerProvidedWorkspace) {
  const Shape shapes[] = {{1000, 7}, {300, 5000}, {70000, 1}};
  uint64_t seed = 700;
  for (const Shape &s : shapes) {
    const Inputs in = MakeInputs(s.B, s.K, seed++);
    size_t bytes = 0;
    ASSERT_EQ(semcl_get_workspace_size(gpu_, SEMCL_LOSS_POS_NEG, s.B, s.K, &bytes),
              SEMCL_STATUS_SUCCESS);
    DeviceMemory ws(bytes ? bytes : 16);
    ASSERT_NE(ws.ptr, nullptr);
    ASSERT_EQ(semcl_set_workspace(gpu_, ws.ptr, bytes ? bytes : 16), SEMCL_STATUS_SUCCESS)
        << semcl_last_error(gpu_);
    Options o;
    o.upstream = true;
    ExpectParity(cpu_, gpu_, in, o);
    o.reduction = SEMCL_REDUCTION_SUM;
    o.backward = false;
    ExpectParity(cpu_, gpu_, in, o);
    ASSERT_TRUE(DeviceSync());
    ASSERT_EQ(semcl_set_workspace(gpu_, nullptr, 0), SEMCL_STATUS_SUCCESS);
  }
  // The queried size holds for every option (the query does not know them): masks (counts
  // in the workspace), bf16, split-K rows with more than 256 chunk groups.
  for (const Shape &s : {Shape{300, 5000}, Shape{70000, 1}, Shape{2, 2100000}}) {
    size_t bytes = 0;
    ASSERT_EQ(semcl_get_workspace_size(gpu_, SEMCL_LOSS_POS_NEG, s.B, s.K, &bytes),
              SEMCL_STATUS_SUCCESS);
    DeviceMemory ws(bytes);
    ASSERT_NE(ws.ptr, nullptr);
    ASSERT_EQ(semcl_set_workspace(gpu_, ws.ptr, bytes), SEMCL_STATUS_SUCCESS)
        << semcl_last_error(gpu_);
    semcl_parity::Case c;
    c.B = s.B;
    c.K = s.K;
    c.mask = semcl_parity::kBothMasks;
    c.dtype = SEMCL_DTYPE_BFLOAT16;
    c.weights = true;
    c.seed = seed++;
    ExpectCaseParity(cpu_, gpu_, c);
    ASSERT_TRUE(DeviceSync());
    ASSERT_EQ(semcl_set_workspace(gpu_, nullptr, 0), SEMCL_STATUS_SUCCESS);
  }
  // Positive-only (workspace size query with K = 1).
  const Inputs in = MakeInputs(5000, 1, 710);
  size_t bytes = 0;
  ASSERT_EQ(semcl_get_workspace_size(gpu_, SEMCL_LOSS_POSITIVE_ONLY, 5000, 1, &bytes),
            SEMCL_STATUS_SUCCESS);
  DeviceMemory ws(bytes);
  ASSERT_NE(ws.ptr, nullptr);
  ASSERT_EQ(semcl_set_workspace(gpu_, ws.ptr, bytes), SEMCL_STATUS_SUCCESS);
  Options o;
  o.pairwise = false;
  ExpectParity(cpu_, gpu_, in, o);
  ASSERT_TRUE(DeviceSync());
  ASSERT_EQ(semcl_set_workspace(gpu_, nullptr, 0), SEMCL_STATUS_SUCCESS);
}

TEST_F(CudaTest, TooSmallCallerWorkspaceIsRefusedAndWritesNothing) {
  const Inputs in = MakeInputs(2000, 3000, 720);
  size_t bytes = 0;
  ASSERT_EQ(semcl_get_workspace_size(gpu_, SEMCL_LOSS_POS_NEG, in.B, in.K, &bytes),
            SEMCL_STATUS_SUCCESS);
  ASSERT_GT(bytes, 16u);
  DeviceMemory ws(bytes);
  ASSERT_NE(ws.ptr, nullptr);
  ASSERT_EQ(semcl_set_workspace(gpu_, ws.ptr, (bytes / 2) & ~size_t{15}), SEMCL_STATUS_SUCCESS);
  Options o;
  semcl_status_t st;
  const Outputs out = RunDevice(gpu_, in, o, &st);
  EXPECT_EQ(st, SEMCL_STATUS_INVALID_VALUE) << semcl_status_name(st);
  EXPECT_TRUE(semcl_test::AllPoison(out.loss));
  EXPECT_TRUE(semcl_test::AllPoison(out.graw));
  EXPECT_TRUE(semcl_test::AllPoison(out.gpos));
  EXPECT_TRUE(semcl_test::AllPoison(out.gneg));
  ASSERT_EQ(semcl_set_workspace(gpu_, nullptr, 0), SEMCL_STATUS_SUCCESS);
  ExpectParity(cpu_, gpu_, in, o);  // the context's own workspace again
}

}  // namespace
