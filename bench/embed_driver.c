/*
 * embed_driver.c — timing driver for the embedding calls (not installed; target
 * semcl-embed-driver, built on request). Best of R runs, fp32, one context with T threads:
 *
 *   semcl-embed-driver per-row B K D [R] [T]     semcl_pos_neg_embed, forward + all gradients
 *   semcl-embed-driver shared  B N D [R] [T]     semcl_pos_neg_shared_embed, forward + all gradients
 *   semcl-embed-driver gemms   B N D [R]         the shared pool's three GEMMs alone (same BLAS):
 *                                                S = U N^T, dU = S N, dN = S^T U, whole
 *   semcl-embed-driver positive-only B D [R] [T]
 *
 * Prints one line: mode, sizes, best and median seconds, and the rate.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "semcl/semcl.h"

#if defined(SEMCL_DRIVER_HAVE_BLAS)
extern void sgemm_(const char *, const char *, const int *, const int *, const int *,
                   const float *, const float *, const int *, const float *, const int *,
                   const float *, float *, const int *, size_t, size_t);
#endif

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *random_floats(size_t n, float sd, uint64_t *state) {
  float *v = (float *)malloc(n * sizeof(float));
  if (!v) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  for (size_t i = 0; i < n; ++i) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    v[i] = sd * ((float)(*state >> 40) / (float)(1 << 24) - 0.5f) * 3.4f;
  }
  return v;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s per-row|shared|gemms|positive-only B K|N D [reps] [threads]\n", argv[0]);
    return 2;
  }
  const char *mode = argv[1];
  const int po = strcmp(mode, "positive-only") == 0;
  const int64_t B = atoll(argv[2]);
  const int64_t K = po ? 1 : atoll(argv[3]);
  const int64_t D = po ? atoll(argv[3]) : atoll(argv[4]);
  const int argi = po ? 4 : 5;
  const int reps = argc > argi ? atoi(argv[argi]) : 5;
  const int threads = argc > argi + 1 ? atoi(argv[argi + 1]) : 1;
  const int per_row = strcmp(mode, "per-row") == 0;
  const int64_t negs = per_row ? B * K : K;
  uint64_t state = 42;
  const float sd = 1.0f / 3.0f;
  float *user = random_floats((size_t)(B * D), sd, &state);
  float *raw = random_floats((size_t)(B * D), sd, &state);
  float *pos = random_floats((size_t)(B * D), sd, &state);
  float *neg = po ? NULL : random_floats((size_t)(negs * D), sd, &state);
  float *y = random_floats((size_t)B, 1.0f, &state);
  for (int64_t b = 0; b < B; ++b) y[b] = y[b] > 0 ? 1.0f : 0.0f;
  float *gu = calloc((size_t)(B * D), sizeof(float)), *gr = calloc((size_t)(B * D), sizeof(float));
  float *gp = calloc((size_t)(B * D), sizeof(float));
  float *gn = po ? NULL : calloc((size_t)(negs * D), sizeof(float));
  float loss, ctr, aux;
  semcl_context *ctx = NULL;
  if (semcl_create(&ctx, SEMCL_BACKEND_CPU) != SEMCL_STATUS_SUCCESS) return 1;
  semcl_set_threads(ctx, threads);
  double *times = (double *)malloc((size_t)reps * sizeof(double));
  float *S = NULL;
  if (strcmp(mode, "gemms") == 0) S = calloc((size_t)(B * K), sizeof(float));
  for (int r = -1; r < reps; ++r) { /* r = -1: warm-up */
    const double t0 = now();
    semcl_status_t st = SEMCL_STATUS_SUCCESS;
    if (per_row)
      st = semcl_pos_neg_embed(ctx, B, K, D, user, raw, pos, neg, y, 1.0f, SEMCL_REDUCTION_MEAN,
                               NULL, NULL, 1.0f, NULL, &loss, &ctr, &aux, gu, gr, gp, gn);
    else if (strcmp(mode, "shared") == 0)
      st = semcl_pos_neg_shared_embed(ctx, B, K, D, user, raw, pos, neg, y, 1.0f,
                                      SEMCL_REDUCTION_MEAN, NULL, NULL, 1.0f, NULL, &loss, &ctr,
                                      &aux, gu, gr, gp, gn);
    else if (po)
      st = semcl_positive_only_embed(ctx, B, D, user, raw, pos, y, 1.0f, SEMCL_REDUCTION_MEAN,
                                     NULL, NULL, 1.0f, NULL, &loss, &ctr, &aux, gu, gr, gp);
    else {
#if defined(SEMCL_DRIVER_HAVE_BLAS)
      const int m = (int)K, n = (int)B, k = (int)D, ld_s = (int)K;
      const float one = 1.0f, zero = 0.0f;
      sgemm_("T", "N", &m, &n, &k, &one, neg, &k, user, &k, &zero, S, &ld_s, 1, 1);
      sgemm_("N", "N", &k, &n, &m, &one, neg, &k, S, &ld_s, &zero, gu, &k, 1, 1);
      sgemm_("N", "T", &k, &m, &n, &one, user, &k, S, &ld_s, &zero, gn, &k, 1, 1);
#else
      fprintf(stderr, "built without a BLAS\n");
      return 1;
#endif
    }
    if (st != SEMCL_STATUS_SUCCESS) {
      fprintf(stderr, "%s: %s\n", semcl_status_name(st), semcl_last_error(ctx));
      return 1;
    }
    if (r >= 0) times[r] = now() - t0;
  }
  qsort(times, (size_t)reps, sizeof(double), cmp_double);
  const double best = times[0], median = times[reps / 2];
  if (per_row)
    printf("%s B=%lld K=%lld D=%lld threads=%d best %.4f s median %.4f s: %.2f Gneg/s, %.1f GB/s of item_neg read+grad write (loss %.6f)\n",
           mode, (long long)B, (long long)K, (long long)D, threads, best, median,
           (double)(B * K) / best * 1e-9, 2.0 * (double)(B * K * D) * 4 / best * 1e-9, loss);
  else
    printf("%s B=%lld N=%lld D=%lld threads=%d best %.4f s median %.4f s: %.1f GFLOP/s counting 3 GEMMs (loss %.6f, gemm %s)\n",
           mode, (long long)B, (long long)K, (long long)D, threads, best, median,
           6.0 * (double)B * (double)K * (double)D / best * 1e-9, loss, semcl_cpu_gemm_name(ctx));
  semcl_destroy(ctx);
  return 0;
}
