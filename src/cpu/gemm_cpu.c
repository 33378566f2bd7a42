/*
 * gemm_cpu.c — which GEMM the shared pool uses on the CPU.
 *
 * With SEMCL_HAVE_BLAS (CMake found a BLAS, preferably Debian's serial OpenBLAS) the three
 * products go to the Fortran-interface sgemm_ of that library (every BLAS has it; no header
 * needed). semcl validates every argument first, so the BLAS's own argument checks (xerbla,
 * which prints) never fire. Otherwise, or when the environment variable SEMCL_CPU_GEMM=builtin
 * is set when a context is created, the builtin GEMM of embed_body.h runs (slower; bitwise
 * reproducible on every CPU).
 */
#include <stdlib.h>
#include <string.h>

#include "embed_kernels.h"

#if defined(SEMCL_HAVE_BLAS)
/* The Fortran BLAS interface; the two trailing lengths are the hidden lengths of the character
 * arguments (gfortran's convention; C implementations ignore them). */
extern void sgemm_(const char *transa, const char *transb, const int *m, const int *n,
                   const int *k, const float *alpha, const float *a, const int *lda,
                   const float *b, const int *ldb, const float *beta, float *c, const int *ldc,
                   size_t transa_len, size_t transb_len);

static void blas_gemm(char transa, char transb, int m, int n, int k, float alpha, const float *A,
                      int lda, const float *Bm, int ldb, float beta, float *C, int ldc) {
  sgemm_(&transa, &transb, &m, &n, &k, &alpha, A, &lda, Bm, &ldb, &beta, C, &ldc, 1, 1);
}
#endif

int semcl_cpu_has_blas(void) {
#if defined(SEMCL_HAVE_BLAS)
  return 1;
#else
  return 0;
#endif
}

int semcl_cpu_gemm_default_builtin(void) {
  if (!semcl_cpu_has_blas()) return 1;
  const char *choice = getenv("SEMCL_CPU_GEMM");
  return choice != NULL && strcmp(choice, "builtin") == 0;
}

semcl_gemm_fn semcl_cpu_gemm_for(const semcl_context *ctx) {
#if defined(SEMCL_HAVE_BLAS)
  if (!ctx->cpu_gemm_builtin) return blas_gemm;
#endif
  return semcl_cpu_embed_kernels_for(ctx->cpu_isa)->gemm;
}

const char *semcl_cpu_gemm_name(const semcl_context *ctx) {
  if (!ctx) return "";
  return ctx->cpu_gemm_builtin || !semcl_cpu_has_blas() ? "builtin" : "blas";
}
