// cuda_test_runtime.cpp — see cuda_test_runtime.h.
#include "cuda_test_runtime.h"

#include <chrono>
#include <thread>

#if SEMCL_TEST_HAVE_CUDART
#include <cuda_runtime.h>
#endif

namespace semcl_cuda_test {

#if SEMCL_TEST_HAVE_CUDART

void *DeviceAlloc(size_t bytes) {
  void *p = nullptr;
  return cudaMalloc(&p, bytes) == cudaSuccess ? p : nullptr;
}
void DeviceFree(void *p) { cudaFree(p); }
void *PinnedAlloc(size_t bytes) {
  void *p = nullptr;
  return cudaMallocHost(&p, bytes) == cudaSuccess ? p : nullptr;
}
void PinnedFree(void *p) { cudaFreeHost(p); }

CUstream_st *StreamCreate() {
  cudaStream_t s = nullptr;
  return cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess ? s : nullptr;
}
void StreamDestroy(CUstream_st *s) { cudaStreamDestroy(s); }
bool StreamSync(CUstream_st *s) { return cudaStreamSynchronize(s) == cudaSuccess; }
bool StreamBusy(CUstream_st *s) { return cudaStreamQuery(s) == cudaErrorNotReady; }

static void CUDART_CB HoldUntilReleased(void *arg) {
  auto *release = static_cast<std::atomic<int> *>(arg);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!release->load() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}
bool BlockStream(CUstream_st *s, std::atomic<int> *release) {
  return cudaLaunchHostFunc(s, HoldUntilReleased, release) == cudaSuccess;
}

int DeviceCount() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}
int CurrentDevice() {
  int d = -1;
  return cudaGetDevice(&d) == cudaSuccess ? d : -1;
}
bool SetDevice(int device) { return cudaSetDevice(device) == cudaSuccess; }
int PointerDevice(const void *p) {
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) return -1;
  return attr.type == cudaMemoryTypeDevice ? attr.device : -1;
}

int MakePendingError() { return static_cast<int>(cudaSetDevice(-1)); }
int PeekError() { return static_cast<int>(cudaPeekAtLastError()); }
int TakeError() { return static_cast<int>(cudaGetLastError()); }

#else  // no CUDA runtime: never reached (every test skips first); everything fails

void *DeviceAlloc(size_t) { return nullptr; }
void DeviceFree(void *) {}
void *PinnedAlloc(size_t) { return nullptr; }
void PinnedFree(void *) {}
CUstream_st *StreamCreate() { return nullptr; }
void StreamDestroy(CUstream_st *) {}
bool StreamSync(CUstream_st *) { return false; }
bool StreamBusy(CUstream_st *) { return false; }
bool BlockStream(CUstream_st *, std::atomic<int> *) { return false; }
int DeviceCount() { return 0; }
int CurrentDevice() { return -1; }
bool SetDevice(int) { return false; }
int PointerDevice(const void *) { return -1; }
int MakePendingError() { return -1; }
int PeekError() { return -1; }
int TakeError() { return -1; }

#endif

}  // namespace semcl_cuda_test
