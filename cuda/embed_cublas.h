/* embed_cublas.h — the cuBLAS calls of the shared pool (embed_cublas.cu; not installed). No
 * cuBLAS header is needed to use them: the handle is opaque. */
#ifndef SEMCL_EMBED_CUBLAS_H
#define SEMCL_EMBED_CUBLAS_H

#include "embed_cuda.h"

extern "C" {

/* The context's cuBLAS handle (loading cuBLAS and creating the handle on first use), bound to
 * `stream`. BACKEND_UNAVAILABLE when cuBLAS cannot be loaded, with the reason. */
semcl_status_t semcl_embed_cublas_handle(semcl_context *ctx, const char *fn, cudaStream_t stream,
                                         void **handle);

/* Column-major C = alpha op(A) op(B) + beta C in fp32 (TF32 inputs when tf32), BLAS sgemm's
 * argument conventions; enqueued on the handle's stream. */
semcl_status_t semcl_embed_cublas_gemm(semcl_context *ctx, void *handle, int tf32, char transa,
                                       char transb, int m, int n, int k, float alpha,
                                       const float *A, int lda, const float *Bm, int ldb,
                                       float beta, float *C, int ldc);

} /* extern "C" */

#endif /* SEMCL_EMBED_CUBLAS_H */
