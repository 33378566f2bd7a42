/*
 * embed_cublas.cu — cuBLAS for the shared pool, loaded on first use.
 *
 * libsemcl links the CUDA runtime statically and must load on machines without cuBLAS (CPU use,
 * or GPUs without the math libraries), so it does not link cuBLAS: the first shared-pool call
 * on a CUDA context dlopen()s libcublas.so.<major of the headers> (the path in the environment
 * variable SEMCL_CUBLAS_LIBRARY when set; else the loader's search, which also finds a copy a
 * framework already loaded; else the toolkit directory of the build) and resolves the few
 * functions it calls. Failing that, the call returns SEMCL_STATUS_BACKEND_UNAVAILABLE with the
 * loader's reason. Each context creates its own handle lazily, on the context's device, and
 * destroys it in semcl_destroy.
 *
 * Math: cublasGemmEx with CUBLAS_COMPUTE_32F (fp32 inputs, products and sums) and the default
 * math mode; CUBLAS_COMPUTE_32F_FAST_TF32 only when the call asks for SEMCL_GEMM_MATH_TF32.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>

#include "embed_cublas.h"

#define STR2(x) #x
#define STR(x) STR2(x)

typedef cublasStatus_t (*create_fn)(cublasHandle_t *);
typedef cublasStatus_t (*destroy_fn)(cublasHandle_t);
typedef cublasStatus_t (*set_stream_fn)(cublasHandle_t, cudaStream_t);
typedef cublasStatus_t (*set_math_fn)(cublasHandle_t, cublasMath_t);
typedef cublasStatus_t (*gemm_ex_fn)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int,
                                     int, int, const void *, const void *, cudaDataType, int,
                                     const void *, cudaDataType, int, const void *, void *,
                                     cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
typedef const char *(*status_string_fn)(cublasStatus_t);

typedef struct cublas_api {
  int ok;
  char why[320];
  create_fn create;
  destroy_fn destroy;
  set_stream_fn set_stream;
  set_math_fn set_math;
  gemm_ex_fn gemm_ex;
  status_string_fn status_string;
} cublas_api;

static void *try_open(const char *path, char *why, size_t why_size) {
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *err = dlerror();
    snprintf(why, why_size, "dlopen(%s) failed: %s", path, err ? err : "unknown error");
  }
  return lib;
}

static cublas_api load_cublas(void) {
  cublas_api api;
  memset(&api, 0, sizeof api);
  const char *soname = "libcublas.so." STR(CUBLAS_VER_MAJOR);
  const char *env = getenv("SEMCL_CUBLAS_LIBRARY");
  void *lib = NULL;
  if (env && env[0]) {
    lib = try_open(env, api.why, sizeof api.why);
  } else {
    lib = try_open(soname, api.why, sizeof api.why);
#if defined(SEMCL_CUBLAS_FALLBACK_DIR)
    if (!lib) {
      char path[512];
      snprintf(path, sizeof path, "%s/%s", SEMCL_CUBLAS_FALLBACK_DIR, soname);
      char why2[1024]; /* the first failure is the one reported */
      lib = try_open(path, why2, sizeof why2);
    }
#endif
  }
  if (!lib) return api;
  api.create = (create_fn)dlsym(lib, "cublasCreate_v2");
  api.destroy = (destroy_fn)dlsym(lib, "cublasDestroy_v2");
  api.set_stream = (set_stream_fn)dlsym(lib, "cublasSetStream_v2");
  api.set_math = (set_math_fn)dlsym(lib, "cublasSetMathMode");
  api.gemm_ex = (gemm_ex_fn)dlsym(lib, "cublasGemmEx");
  api.status_string = (status_string_fn)dlsym(lib, "cublasGetStatusString");
  if (!api.create || !api.destroy || !api.set_stream || !api.set_math || !api.gemm_ex) {
    snprintf(api.why, sizeof api.why, "%s lacks cublasCreate_v2, cublasSetStream_v2, "
             "cublasSetMathMode or cublasGemmEx", env && env[0] ? env : soname);
    return api; /* the library stays loaded: harmless */
  }
  api.ok = 1;
  return api;
}

/* Loaded once per process (C++ makes the initialisation of a local static thread-safe). */
static const cublas_api &cublas(void) {
  static const cublas_api api = load_cublas();
  return api;
}

static const char *status_text(cublasStatus_t st) {
  const cublas_api &api = cublas();
  return api.status_string ? api.status_string(st) : "cuBLAS error";
}

typedef struct embed_cuda_state {
  cublasHandle_t handle;
} embed_cuda_state;

extern "C" semcl_status_t semcl_embed_cublas_handle(semcl_context *ctx, const char *fn,
                                                    cudaStream_t stream, void **handle) {
  const cublas_api &api = cublas();
  if (!api.ok)
    return semcl_fail(ctx, SEMCL_STATUS_BACKEND_UNAVAILABLE,
                      "%s: cuBLAS is not available (%s); set SEMCL_CUBLAS_LIBRARY to the path of "
                      "libcublas.so." STR(CUBLAS_VER_MAJOR),
                      fn, api.why);
  embed_cuda_state *st = (embed_cuda_state *)ctx->embed_state;
  if (!st) {
    st = (embed_cuda_state *)calloc(1, sizeof *st);
    if (!st) return semcl_fail(ctx, SEMCL_STATUS_OUT_OF_MEMORY, "%s: out of host memory", fn);
    cublasStatus_t cs = api.create(&st->handle);
    if (cs == CUBLAS_STATUS_SUCCESS) cs = api.set_math(st->handle, CUBLAS_DEFAULT_MATH);
    if (cs != CUBLAS_STATUS_SUCCESS) {
      if (st->handle) (void)api.destroy(st->handle);
      free(st);
      return semcl_fail(ctx,
                        cs == CUBLAS_STATUS_ALLOC_FAILED ? SEMCL_STATUS_OUT_OF_MEMORY
                                                         : SEMCL_STATUS_CUDA_ERROR,
                        "%s: creating the cuBLAS handle failed: %s", fn, status_text(cs));
    }
    ctx->embed_state = st;
  }
  const cublasStatus_t cs = api.set_stream(st->handle, stream);
  if (cs != CUBLAS_STATUS_SUCCESS)
    return semcl_fail(ctx, SEMCL_STATUS_CUDA_ERROR, "%s: cublasSetStream failed: %s", fn,
                      status_text(cs));
  *handle = st->handle;
  return SEMCL_STATUS_SUCCESS;
}

extern "C" semcl_status_t semcl_embed_cublas_gemm(semcl_context *ctx, void *handle, int tf32,
                                                  char transa, char transb, int m, int n, int k,
                                                  float alpha, const float *A, int lda,
                                                  const float *Bm, int ldb, float beta, float *C,
                                                  int ldc) {
  const cublas_api &api = cublas();
  const cublasStatus_t cs = api.gemm_ex(
      (cublasHandle_t)handle, transa == 'T' ? CUBLAS_OP_T : CUBLAS_OP_N,
      transb == 'T' ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha, A, CUDA_R_32F, lda, Bm,
      CUDA_R_32F, ldb, &beta, C, CUDA_R_32F, ldc,
      tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (cs != CUBLAS_STATUS_SUCCESS)
    return semcl_fail(ctx, SEMCL_STATUS_CUDA_ERROR, "semcl_pos_neg_shared_embed: cublasGemmEx "
                      "(%c%c, %d x %d x %d) failed: %s", transa, transb, m, n, k, status_text(cs));
  return SEMCL_STATUS_SUCCESS;
}

extern "C" void semcl_cuda_embed_release(semcl_context *ctx) {
  embed_cuda_state *st = (embed_cuda_state *)ctx->embed_state;
  if (!st) return;
  if (st->handle && cublas().ok) (void)cublas().destroy(st->handle); /* nothing to report */
  free(st);
  ctx->embed_state = NULL;
}
