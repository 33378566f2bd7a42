/*
 * embed_driver.c — `semcl-bench --embed rows|shared|positive|gemms`: the embedding calls
 * through the public API on the CPU, fp32, reduction mean, lambda 1, best and median of --reps
 * timed calls after one warm-up. `gemms` times the shared pool's three GEMMs alone with the
 * BLAS the library uses (S = U N^T, dU = S N, dN = S^T U), the floor of the shared call.
 */
#include "embed_driver.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <semcl/semcl.h>

#if defined(SEMCL_BENCH_HAVE_BLAS)
extern void sgemm_(const char *, const char *, const int *, const int *, const int *,
                   const float *, const float *, const int *, const float *, const int *,
                   const float *, float *, const int *, size_t, size_t);
#endif

enum { MODE_ROWS, MODE_SHARED, MODE_POSITIVE, MODE_GEMMS, N_MODES };
static const char *const mode_names[N_MODES] = {"rows", "shared", "positive", "gemms"};

static const char *const dtype_names[3] = {"fp32", "bf16", "fp16"}; /* SEMCL_DTYPE_* order */

typedef struct embed_args {
  int mode, threads, reps, fwd_only, csv, dtype;
  int64_t B, K, N, D;
} embed_args;

void semcl_bench_embed_usage(FILE *f) {
  fprintf(f,
          "Embedding calls (issue 8): semcl-bench --embed MODE [--B N] [--K N] [--N N] [--D N]\n"
          "    [--threads N] [--reps N] [--pass fwd|fwd_bwd] [--format table|csv]\n"
          "    [--dtype fp32|bf16|fp16]\n"
          "  MODE rows: semcl_pos_neg_embed, item_neg (B,K,D) (default B 4096, K 1024, D 64)\n"
          "       shared: semcl_pos_neg_shared_embed, a pool (N,D) (default N 4096)\n"
          "       positive: semcl_positive_only_embed\n"
          "       gemms: the shared pool's three GEMMs alone, same BLAS (needs a BLAS build)\n"
          "  CPU only, fp32 (or --dtype: embeddings and their gradients), mean, lambda 1, all\n"
          "  gradients (fwd_bwd, the default); --threads\n"
          "  default 1, --reps default 5 (best and median after one warm-up call). Rates:\n"
          "  negatives (B*K or B*N) per second; GB/s of item_neg read + grad_item_neg written\n"
          "  (rows); GFLOP/s of the three GEMMs (shared, gemms). Peak RSS: getrusage ru_maxrss;\n"
          "  inputs+gradients: the embeddings and their gradients themselves (the rest of the\n"
          "  peak is workspace and the process).\n");
}

int semcl_bench_embed_requested(int argc, char **argv) {
  for (int i = 1; i < argc; ++i)
    if (strcmp(argv[i], "--embed") == 0) return 1;
  return 0;
}

static int bad(const char *prog, const char *flag, const char *val) {
  fprintf(stderr, "%s: %s: bad value '%s'\n", prog, flag, val ? val : "(missing)");
  semcl_bench_embed_usage(stderr);
  return 2;
}

static int parse(const char *prog, int argc, char **argv, embed_args *a) {
  a->mode = -1;
  a->threads = 1;
  a->reps = 5;
  a->fwd_only = 0;
  a->csv = 0;
  a->dtype = 0;
  a->B = 4096;
  a->K = 1024;
  a->N = 4096;
  a->D = 64;
  for (int i = 1; i < argc; ++i) {
    const char *flag = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    int64_t *size = strcmp(flag, "--B") == 0   ? &a->B
                    : strcmp(flag, "--K") == 0 ? &a->K
                    : strcmp(flag, "--N") == 0 ? &a->N
                    : strcmp(flag, "--D") == 0 ? &a->D
                                               : NULL;
    if (!val) return bad(prog, flag, NULL);
    ++i;
    if (size || strcmp(flag, "--threads") == 0 || strcmp(flag, "--reps") == 0) {
      char *end = NULL;
      errno = 0;
      const long long v = strtoll(val, &end, 10);
      if (errno || *end || v < (size ? 1 : 0) || v > ((long long)1 << 40))
        return bad(prog, flag, val);
      if (size) *size = v;
      else if (flag[2] == 't') a->threads = (int)(v > 1024 ? 1024 : v);
      else a->reps = v < 1 ? 1 : (int)(v > 10000 ? 10000 : v);
    } else if (strcmp(flag, "--embed") == 0) {
      for (int m = 0; m < N_MODES; ++m)
        if (strcmp(val, mode_names[m]) == 0) a->mode = m;
      if (a->mode < 0) return bad(prog, flag, val);
    } else if (strcmp(flag, "--pass") == 0) {
      if (strcmp(val, "fwd") && strcmp(val, "fwd_bwd")) return bad(prog, flag, val);
      a->fwd_only = strcmp(val, "fwd") == 0;
    } else if (strcmp(flag, "--dtype") == 0) {
      a->dtype = -1;
      for (int d = 0; d < 3; ++d)
        if (strcmp(val, dtype_names[d]) == 0) a->dtype = d;
      if (a->dtype < 0) return bad(prog, flag, val);
    } else if (strcmp(flag, "--format") == 0) {
      if (strcmp(val, "table") && strcmp(val, "csv")) return bad(prog, flag, val);
      a->csv = strcmp(val, "csv") == 0;
    } else {
      return bad(prog, flag, val);
    }
  }
  return 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* n values of a fixed pseudo-random sequence, uniform with standard deviation sd. */
static float *random_floats(size_t n, float sd, uint64_t *state) {
  float *v = (float *)malloc(n * sizeof(float));
  for (size_t i = 0; v && i < n; ++i) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    v[i] = sd * ((float)(*state >> 40) / (float)(1 << 24) - 0.5f) * 3.4641f;
  }
  return v;
}

static int cmp_double(const void *x, const void *y) {
  const double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

typedef struct buffers {
  float *user, *raw, *pos, *neg, *y, *gu, *gr, *gp, *gn, *S;
} buffers;

static int run_once(semcl_context *ctx, const embed_args *a, buffers *m, float out[3]) {
  const int bwd = !a->fwd_only;
  float *gu = bwd ? m->gu : NULL, *gr = bwd ? m->gr : NULL, *gp = bwd ? m->gp : NULL;
  float *gn = bwd ? m->gn : NULL;
  semcl_options opt = SEMCL_OPTIONS_INIT;
  opt.dtype = (semcl_dtype_t)a->dtype;
  semcl_status_t st = SEMCL_STATUS_SUCCESS;
  if (a->mode == MODE_ROWS)
    st = semcl_pos_neg_embed(ctx, a->B, a->K, a->D, m->user, m->raw, m->pos, m->neg, m->y, 1.0f,
                             SEMCL_REDUCTION_MEAN, &opt, NULL, 1.0f, NULL, &out[0], &out[1],
                             &out[2], gu, gr, gp, gn);
  else if (a->mode == MODE_SHARED)
    st = semcl_pos_neg_shared_embed(ctx, a->B, a->N, a->D, m->user, m->raw, m->pos, m->neg, m->y,
                                    1.0f, SEMCL_REDUCTION_MEAN, &opt, NULL, 1.0f, NULL, &out[0],
                                    &out[1], &out[2], gu, gr, gp, gn);
  else if (a->mode == MODE_POSITIVE)
    st = semcl_positive_only_embed(ctx, a->B, a->D, m->user, m->raw, m->pos, m->y, 1.0f,
                                   SEMCL_REDUCTION_MEAN, &opt, NULL, 1.0f, NULL, &out[0], &out[1],
                                   &out[2], gu, gr, gp);
  else {
#if defined(SEMCL_BENCH_HAVE_BLAS)
    const int n_pool = (int)a->N, rows = (int)a->B, d = (int)a->D;
    const float one = 1.0f, zero = 0.0f;
    sgemm_("T", "N", &n_pool, &rows, &d, &one, m->neg, &d, m->user, &d, &zero, m->S, &n_pool, 1,
           1);
    if (bwd) {
      sgemm_("N", "N", &d, &rows, &n_pool, &one, m->neg, &d, m->S, &n_pool, &zero, m->gu, &d, 1,
             1);
      sgemm_("N", "T", &d, &n_pool, &rows, &one, m->user, &d, m->S, &n_pool, &zero, m->gn, &d, 1,
             1);
    }
    out[0] = m->S[0];
#else
    fprintf(stderr, "semcl-bench --embed gemms: this build has no BLAS\n");
    return 1;
#endif
  }
  if (st != SEMCL_STATUS_SUCCESS) {
    fprintf(stderr, "semcl-bench --embed: %s: %s\n", semcl_status_name(st), semcl_last_error(ctx));
    return 1;
  }
  return 0;
}

int semcl_bench_embed_main(const char *prog, int argc, char **argv) {
  embed_args a;
  const int parsed = parse(prog, argc, argv, &a);
  if (parsed) return parsed;
  const int shared = a.mode == MODE_SHARED || a.mode == MODE_GEMMS;
  const int64_t K = a.mode == MODE_ROWS ? a.K : shared ? a.N : 0;
  const int64_t neg_rows = a.mode == MODE_ROWS ? a.B * a.K : shared ? a.N : 0;
  uint64_t state = 42;
  const float sd = 1.0f / 3.0f; /* dot products of D = 64 about unit size */
  buffers m;
  memset(&m, 0, sizeof m);
  const size_t rows = (size_t)(a.B * a.D), negs = (size_t)(neg_rows * a.D);
  m.user = random_floats(rows, sd, &state);
  m.raw = random_floats(rows, sd, &state);
  m.pos = random_floats(rows, sd, &state);
  m.neg = negs ? random_floats(negs, sd, &state) : NULL;
  m.y = random_floats((size_t)a.B, 1.0f, &state);
  m.gu = (float *)calloc(rows, sizeof(float));
  m.gr = (float *)calloc(rows, sizeof(float));
  m.gp = (float *)calloc(rows, sizeof(float));
  m.gn = negs ? (float *)calloc(negs, sizeof(float)) : NULL;
  if (a.mode == MODE_GEMMS) m.S = (float *)calloc((size_t)(a.B * a.N), sizeof(float));
  double *times = (double *)malloc((size_t)a.reps * sizeof(double));
  semcl_context *ctx = NULL;
  float out[3] = {0, 0, 0};
  int rc = 1;
  if (!m.user || !m.raw || !m.pos || !m.y || !m.gu || !m.gr || !m.gp ||
      (negs && (!m.neg || !m.gn)) || (a.mode == MODE_GEMMS && !m.S) || !times) {
    fprintf(stderr, "%s --embed: out of memory\n", prog);
    goto done;
  }
  for (int64_t b = 0; b < a.B; ++b) m.y[b] = m.y[b] > 0.0f ? 1.0f : 0.0f;
  if (a.mode == MODE_GEMMS && a.dtype != SEMCL_DTYPE_FLOAT32) {
    fprintf(stderr, "%s --embed gemms: fp32 only (the BLAS sgemm)\n", prog);
    goto done;
  }
  semcl_bench_narrow(m.user, (int64_t)rows, a.dtype);
  semcl_bench_narrow(m.raw, (int64_t)rows, a.dtype);
  semcl_bench_narrow(m.pos, (int64_t)rows, a.dtype);
  if (m.neg) semcl_bench_narrow(m.neg, (int64_t)negs, a.dtype);
  if (semcl_create(&ctx, SEMCL_BACKEND_CPU) != SEMCL_STATUS_SUCCESS ||
      semcl_set_threads(ctx, a.threads) != SEMCL_STATUS_SUCCESS) {
    fprintf(stderr, "%s --embed: cannot create a CPU context with %d threads\n", prog, a.threads);
    goto done;
  }
  for (int r = -1; r < a.reps; ++r) { /* r = -1: warm-up */
    const double t0 = now();
    if (run_once(ctx, &a, &m, out)) goto done;
    if (r >= 0) times[r] = now() - t0;
  }
  qsort(times, (size_t)a.reps, sizeof(double), cmp_double);
  const double best = times[0], median = times[a.reps / 2];
  const double pairs = a.mode == MODE_POSITIVE ? (double)a.B : (double)a.B * (double)K;
  const double esize = a.dtype == SEMCL_DTYPE_FLOAT32 ? 4.0 : 2.0;
  const double moved = a.mode == MODE_ROWS ? (a.fwd_only ? 1.0 : 2.0) * esize * (double)negs : 0.0;
  const double flops = shared ? (a.fwd_only ? 2.0 : 6.0) * pairs * (double)a.D : 0.0;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  const double rss_mb = (double)ru.ru_maxrss / 1024.0;
  const double inputs_mb = (esize * (6.0 * (double)rows + 2.0 * (double)negs) +
                            4.0 * ((double)a.B + (a.mode == MODE_GEMMS ? pairs : 0.0))) /
                           (1024.0 * 1024.0);
  const char *gemm = shared ? semcl_cpu_gemm_name(ctx) : "-";
  if (a.csv)
    printf("mode,dtype,B,K_or_N,D,threads,pass,best_ms,median_ms,gneg_per_s,gb_per_s,"
           "gflop_per_s,peak_rss_mb,inputs_mb,gemm,loss\n%s,%s,%lld,%lld,%lld,%d,%s,%.3f,%.3f,"
           "%.4f,%.2f,%.2f,%.1f,%.1f,%s,%.6f\n",
           mode_names[a.mode], dtype_names[a.dtype], (long long)a.B, (long long)K, (long long)a.D,
           a.threads,
           a.fwd_only ? "fwd" : "fwd_bwd", best * 1e3, median * 1e3, pairs / best * 1e-9,
           moved / best * 1e-9, flops / best * 1e-9, rss_mb, inputs_mb, gemm, out[0]);
  else {
    char rate[96] = "";
    if (moved > 0)
      snprintf(rate, sizeof rate, ", %.1f GB/s of item_neg read + grad written",
               moved / best * 1e-9);
    else if (flops > 0)
      snprintf(rate, sizeof rate, ", %.1f GFLOP/s (GEMM count)", flops / best * 1e-9);
    printf("embed %s %s B=%lld %s=%lld D=%lld threads=%d %s: best %.2f ms, median %.2f ms; "
           "%.3f G%s/s%s; peak RSS %.0f MB (inputs+gradients %.0f MB)%s%s; loss %.6f\n",
           mode_names[a.mode], dtype_names[a.dtype], (long long)a.B, shared ? "N" : "K",
           (long long)K, (long long)a.D,
           a.threads, a.fwd_only ? "fwd" : "fwd_bwd", best * 1e3, median * 1e3,
           pairs / best * 1e-9, a.mode == MODE_POSITIVE ? "row" : "neg", rate, rss_mb, inputs_mb,
           shared ? "; gemm " : "", shared ? gemm : "", out[0]);
  }
  rc = 0;
done:
  if (ctx) semcl_destroy(ctx);
  free(times);
  free(m.user), free(m.raw), free(m.pos), free(m.neg), free(m.y);
  free(m.gu), free(m.gr), free(m.gp), free(m.gn), free(m.S);
  return rc;
}
