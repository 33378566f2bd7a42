// cuda_test_runtime.h — the few CUDA runtime calls the host-side CUDA tests make themselves,
// behind a header without CUDA types, so that the tests also compile without the CUDA runtime
// (SEMCL_TEST_HAVE_CUDART=0: every function then reports failure and every test skips before
// it gets here).
//
// Note: the test binary's CUDA runtime is its own; libsemcl carries a private, static copy.
// They share the driver: devices, contexts, streams, memory, and sticky errors.
#pragma once

#include <atomic>
#include <cstddef>

struct CUstream_st;

namespace semcl_cuda_test {

void *DeviceAlloc(size_t bytes);  // cudaMalloc on the current device; nullptr on failure
void DeviceFree(void *p);
void *PinnedAlloc(size_t bytes);  // cudaMallocHost; nullptr on failure
void PinnedFree(void *p);

CUstream_st *StreamCreate();  // a non-blocking stream on the current device; nullptr on failure
void StreamDestroy(CUstream_st *s);
bool StreamSync(CUstream_st *s);
// True while `s` has unfinished work (cudaStreamQuery says cudaErrorNotReady).
bool StreamBusy(CUstream_st *s);
// Enqueues a host function that holds `s` until *release != 0 (or 30 s pass).
bool BlockStream(CUstream_st *s, std::atomic<int> *release);

int DeviceCount();    // 0 on any error
int CurrentDevice();  // -1 on error
bool SetDevice(int device);
// The device whose memory `p` is (cudaPointerGetAttributes), -1 for host memory or on error.
int PointerDevice(const void *p);

// The test runtime's per-thread last error, as an int (cudaError_t). MakePendingError leaves
// a non-sticky error pending (cudaSetDevice with an invalid device) and returns its code.
int MakePendingError();
int PeekError();  // cudaPeekAtLastError
int TakeError();  // cudaGetLastError (reads and clears)

}  // namespace semcl_cuda_test
