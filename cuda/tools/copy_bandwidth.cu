/*
 * copy_bandwidth.cu — device memory copy bandwidth probe (used by the scripts/gpu-pack runner).
 *
 * Copies a buffer with a simple grid-stride float4 kernel and reports the best and median
 * rate over several runs, counting bytes read + bytes written (the same convention as the
 * loss kernels' cost model: fwd+bwd moves 8 bytes per negative).
 *
 * usage: semcl_copy_bandwidth [MiB per buffer, default 1024] [runs, default 20]
 * output (one line each): "bytes_per_run=...", "best_GBps=...", "median_GBps=..."
 */
#include <cuda_runtime.h>

#include <stdio.h>
#include <stdlib.h>

/* input: src (n4); output: dst (n4) */
__global__ void copy_kernel(const float4 *__restrict__ src, float4 *__restrict__ dst,
                            long long n4) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += stride)
    dst[i] = src[i];
}

static int check(cudaError_t err, const char *what) {
  if (err != cudaSuccess) {
    fprintf(stderr, "copy_bandwidth: %s: %s\n", what, cudaGetErrorString(err));
    return 1;
  }
  return 0;
}

static int compare_float(const void *a, const void *b) {
  const float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  const long long mib = argc > 1 ? atoll(argv[1]) : 1024;
  int runs = argc > 2 ? atoi(argv[2]) : 20;
  if (mib <= 0 || runs <= 0 || runs > 1000) {
    fprintf(stderr, "usage: %s [MiB per buffer] [runs]\n", argv[0]);
    return 2;
  }
  const size_t bytes = (size_t)mib << 20;
  const long long n4 = (long long)(bytes / sizeof(float4));
  int device = 0, sms = 0;
  cudaDeviceProp prop;
  if (check(cudaGetDevice(&device), "cudaGetDevice") ||
      check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties") ||
      check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device),
            "cudaDeviceGetAttribute"))
    return 1;
  float4 *src = NULL, *dst = NULL;
  if (check(cudaMalloc(&src, bytes), "cudaMalloc") || check(cudaMalloc(&dst, bytes), "cudaMalloc"))
    return 1;
  if (check(cudaMemset(src, 0x3c, bytes), "cudaMemset")) return 1;
  cudaEvent_t start, stop;
  if (check(cudaEventCreate(&start), "cudaEventCreate") ||
      check(cudaEventCreate(&stop), "cudaEventCreate"))
    return 1;
  const unsigned grid = (unsigned)sms * 8u;
  copy_kernel<<<grid, 256>>>(src, dst, n4); /* warm-up */
  if (check(cudaGetLastError(), "launch") || check(cudaDeviceSynchronize(), "warm-up")) return 1;
  float *rates = (float *)malloc(sizeof(float) * (size_t)runs);
  if (!rates) return 1;
  for (int r = 0; r < runs; ++r) {
    float ms = 0.0f;
    if (check(cudaEventRecord(start), "cudaEventRecord")) return 1;
    copy_kernel<<<grid, 256>>>(src, dst, n4);
    if (check(cudaGetLastError(), "launch") || check(cudaEventRecord(stop), "cudaEventRecord") ||
        check(cudaEventSynchronize(stop), "cudaEventSynchronize") ||
        check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime"))
      return 1;
    rates[r] = (float)(2.0 * (double)bytes / ((double)ms * 1e-3) / 1e9);
  }
  qsort(rates, (size_t)runs, sizeof(float), compare_float);
  printf("device=%s\n", prop.name);
  printf("bytes_per_run=%zu\n", 2 * bytes);
  printf("best_GBps=%.1f\n", (double)rates[runs - 1]);
  printf("median_GBps=%.1f\n", (double)rates[runs / 2]);
  free(rates);
  cudaFree(src);
  cudaFree(dst);
  return 0;
}
