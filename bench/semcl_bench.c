/*
 * semcl-bench — throughput of the two fused losses through the public API.
 *
 * For each backend, loss, shape (B, K), pass (fwd | fwd_bwd) and thread count it reports the
 * median time per call with its 20th and 80th percentiles, Gelem/s (B*K per second for the
 * pairwise loss, B for the positive-only loss), GB/s by the bytes the fused pass must move,
 * and the process's peak resident memory.
 *
 * Inputs are random (scores ~ N(0, 3^2), hard labels) and rotated over enough copies that the
 * working set is several times the last-level cache, so small and mid sizes are not timed
 * from a warm cache. Run `semcl-bench --help` for the interface.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <semcl/semcl.h>

#include "embed_driver.h"

/* ---- options ------------------------------------------------------------------------ */

enum { LOSS_POS_NEG = 0, LOSS_POSITIVE_ONLY = 1, N_LOSSES = 2 };
enum { PASS_FWD = 0, PASS_FWD_BWD = 1, N_PASSES = 2 };
enum { BACKEND_REQ_AUTO, BACKEND_REQ_CPU, BACKEND_REQ_CUDA, BACKEND_REQ_ALL };

static const char *const loss_names[N_LOSSES] = {"pos_neg", "positive_only"};
static const char *const pass_names[N_PASSES] = {"fwd", "fwd_bwd"};

typedef struct options {
  int backend;             /* BACKEND_REQ_* */
  int loss;                /* -1: both */
  int64_t B, K;            /* 0: sweep */
  int threads;             /* -1: sweep {1, cores} */
  int pass;                /* -1: both */
  int csv;                 /* 0: table */
  int min_samples;         /* timed samples per case, at least */
  double min_time_s;       /* and at least this much timed time */
  double max_mem_mb;       /* cap on the rotated working set */
  uint64_t seed;
  int demo;                /* print the fixed example's losses */
  int pointer_checks;      /* semcl_set_pointer_checks on every context */
  int busy;                /* spinning competitor processes for the whole run */
  int dtype;               /* SEMCL_DTYPE_* of the scores and gradients */
  int isa;                 /* -1: the CPU's best level, else SEMCL_CPU_ISA_* */
} options;

static const char *const dtype_names[] = {"fp32", "bf16", "fp16"};
static const char *const isa_names[] = {"scalar", "avx2", "avx512"};

static const char *prog = "semcl-bench";

static void usage(FILE *f) {
  fprintf(f,
    "Usage: %s [options]\n"
    "\n"
    "Times semcl's fused losses through the public C API and prints one row per case.\n"
    "\n"
    "Options (each optional; a flag given restricts the sweep to that value):\n"
    "  --backend cpu|cuda|auto|all  backend (default auto: CUDA if built and a device is\n"
    "                               usable, else CPU; all: CPU, then CUDA if usable)\n"
    "  --loss pos_neg|positive_only loss (default both)\n"
    "  --B N                        batch rows (default: sweep, see below)\n"
    "  --K N                        negatives per row, pos_neg only (default: sweep)\n"
    "  --threads N                  CPU threads, 0 = all cores (default: 1 and all cores;\n"
    "                               the CUDA backend runs the first value only)\n"
    "  --pass fwd|fwd_bwd           forward only, or forward+backward (default both)\n"
    "  --format table|csv           output format (default table)\n"
    "  --reps N                     timed samples per case, at least (default 9)\n"
    "  --min-time S                 timed seconds per case, at least (default 0.2)\n"
    "  --max-mem-mb N               cap on the rotated input/output sets (default 1024)\n"
    "  --seed N                     random seed (default 12345)\n"
    "  --pointer-checks on|off      memory-space checks of every call (default on; see\n"
    "                               semcl_set_pointer_checks). With a tiny shape on CUDA,\n"
    "                               e.g. --B 1 --K 1, the difference between on and off is\n"
    "                               the host cost of the checks per call\n"
    "  --busy N                     start N processes that spin on a core for the whole run\n"
    "                               (a competitor such as a parallel build; default 0)\n"
    "  --dtype fp32|bf16|fp16       element type of the scores and gradients (default fp32)\n"
    "  --isa scalar|avx2|avx512     CPU kernel level (default: the best this CPU has)\n"
    "  --no-demo                    skip the fixed B=4, K=8 example\n"
    "  -h, --help                   this text\n"
    "\n"
    "Sweep. pos_neg: neither --B nor --K: K in {1,4,16,64,256,1024,4096,16384} with\n"
    "  B = min(4096, 2^24/K); only --K: B in {256,1024,4096,16384,65536}; only --B: the\n"
    "  K list above; both: that one shape. positive_only has no K (reported as K=1): B in\n"
    "  {4096,65536,1048576}, or --B. Shapes whose one set exceeds --max-mem-mb are skipped.\n"
    "\n"
    "Method. Warm-up, then samples of a batch of calls (each sample >= ~2 ms); the time per\n"
    "call is median and p20/p80 over samples. On CUDA a sample ends with semcl_synchronize.\n"
    "Inputs: scores ~ N(0, 3^2), labels 0/1, reduction mean, lambda 1; the calls rotate over\n"
    "copies of the inputs and outputs so the working set is >= 4x the last-level cache\n"
    "(at least 256 MiB, at most --max-mem-mb, at most 4096 copies).\n"
    "Gelem/s: B*K (pos_neg) or B (positive_only) per second. GB/s: bytes the fused pass\n"
    "must move: pos_neg reads score_neg (4 B/negative, 2 for bf16/fp16) and writes grad_neg\n"
    "(as many more in fwd_bwd); both losses read score_raw, score_pos (4 or 2 B each) and\n"
    "y (4 B) per row and write grad_raw, grad_pos (fwd_bwd). peak_rss_mb: getrusage\n"
    "ru_maxrss so far (host only). CPU: the one-thread copy rate of this machine (regular\n"
    "stores; memcpy) is measured first; copy_fraction = a one-thread row's GB/s over it.\n"
    "\n"
    "Output. table: readable columns; csv: the header\n"
    "  backend,loss,dtype,B,K,threads,pass,median_ms,p20_ms,p80_ms,gelem_per_s,gb_per_s,\n"
    "  peak_rss_mb,input_sets,working_set_mb,cpu_isa,copy_fraction\n"
    "and one row per case on stdout (the example and progress go to stderr).\n"
    "Exit status: 0 ok, 2 bad arguments, 3 backend unavailable, 1 other errors.\n\n",
    prog);
  semcl_bench_embed_usage(f);
}

static void die_usage(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "%s: ", prog);
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, "\nTry '%s --help'.\n", prog);
  exit(2);
}

static int64_t parse_int(const char *flag, const char *s, int64_t lo, int64_t hi) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end != '\0' || v < lo || v > hi) {
    char range[96];
    snprintf(range, sizeof range, "an integer in [%lld, %lld]", (long long)lo, (long long)hi);
    fprintf(stderr, "%s: %s: '%s' is not %s\nTry '%s --help'.\n", prog, flag, s, range, prog);
    exit(2);
  }
  return (int64_t)v;
}

static double parse_double(const char *flag, const char *s, double lo, double hi) {
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
    fprintf(stderr, "%s: %s: '%s' is not a number in [%g, %g]\nTry '%s --help'.\n", prog, flag,
            s, lo, hi, prog);
    exit(2);
  }
  return v;
}

static int parse_choice(const char *flag, const char *s, const char *const *names, int n) {
  for (int i = 0; i < n; ++i)
    if (strcmp(s, names[i]) == 0) return i;
  die_usage("%s: unknown value '%s'", flag, s);
  return -1;
}

static void parse_args(int argc, char **argv, options *o) {
  static const char *const backends[] = {"auto", "cpu", "cuda", "all"};
  static const char *const formats[] = {"table", "csv"};
  static const char *const on_off[] = {"off", "on"};
  *o = (options){.backend = BACKEND_REQ_AUTO, .loss = -1, .B = 0, .K = 0, .threads = -1,
                 .pass = -1, .csv = 0, .min_samples = 9, .min_time_s = 0.2,
                 .max_mem_mb = 1024.0, .seed = 12345u, .demo = 1, .pointer_checks = 1, .busy = 0,
                 .dtype = SEMCL_DTYPE_FLOAT32, .isa = -1};
  for (int i = 1; i < argc; ++i) {
    const char *arg = argv[i];
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      usage(stdout);
      exit(0);
    }
    if (strcmp(arg, "--no-demo") == 0) {
      o->demo = 0;
      continue;
    }
    if (strncmp(arg, "--", 2) != 0) die_usage("unexpected argument '%s'%s", arg, "");
    /* --flag value or --flag=value */
    char name[64];
    const char *val = NULL;
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    if (len >= sizeof name) die_usage("unknown option '%s'%s", arg, "");
    memcpy(name, arg, len);
    name[len] = '\0';
    static const char *const known[] = {"--backend", "--loss", "--B", "--K", "--threads",
                                        "--pass", "--format", "--reps", "--min-time",
                                        "--max-mem-mb", "--seed", "--pointer-checks", "--busy",
                                        "--dtype", "--isa"};
    int is_known = 0;
    for (size_t k = 0; k < sizeof known / sizeof known[0]; ++k)
      if (strcmp(name, known[k]) == 0) is_known = 1;
    if (!is_known) die_usage("unknown option '%s'%s", arg, "");
    if (eq) {
      val = eq + 1;
    } else {
      if (i + 1 >= argc) die_usage("option '%s' needs a value%s", name, "");
      val = argv[++i];
    }
    if (strcmp(name, "--backend") == 0) o->backend = parse_choice(name, val, backends, 4);
    else if (strcmp(name, "--loss") == 0) o->loss = parse_choice(name, val, loss_names, N_LOSSES);
    else if (strcmp(name, "--B") == 0) o->B = parse_int(name, val, 1, INT64_C(1) << 40);
    else if (strcmp(name, "--K") == 0) o->K = parse_int(name, val, 1, INT64_C(1) << 40);
    else if (strcmp(name, "--threads") == 0) o->threads = (int)parse_int(name, val, 0, 1024);
    else if (strcmp(name, "--pass") == 0) o->pass = parse_choice(name, val, pass_names, N_PASSES);
    else if (strcmp(name, "--format") == 0) o->csv = parse_choice(name, val, formats, 2);
    else if (strcmp(name, "--reps") == 0) o->min_samples = (int)parse_int(name, val, 1, 100000);
    else if (strcmp(name, "--min-time") == 0) o->min_time_s = parse_double(name, val, 0.0, 3600.0);
    else if (strcmp(name, "--max-mem-mb") == 0)
      o->max_mem_mb = parse_double(name, val, 1.0, 1048576.0);
    else if (strcmp(name, "--seed") == 0)
      o->seed = (uint64_t)parse_int(name, val, 0, INT64_MAX);
    else if (strcmp(name, "--pointer-checks") == 0)
      o->pointer_checks = parse_choice(name, val, on_off, 2);
    else if (strcmp(name, "--busy") == 0) o->busy = (int)parse_int(name, val, 0, 1024);
    else if (strcmp(name, "--dtype") == 0) o->dtype = parse_choice(name, val, dtype_names, 3);
    else if (strcmp(name, "--isa") == 0) o->isa = parse_choice(name, val, isa_names, 3);
  }
  if (o->K && o->loss == LOSS_POSITIVE_ONLY)
    fprintf(stderr, "%s: note: --K does not apply to positive_only (it runs with K=1)\n", prog);
}

/* ---- small utilities ---------------------------------------------------------------- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_mb(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return -1.0;
  return (double)ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
}

static int online_cores(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

/* Largest data/unified cache of cpu0 from sysfs; 32 MiB when it cannot be read. */
static double llc_bytes(void) {
  double best = 0.0;
  for (int i = 0; i < 10; ++i) {
    char path[96], buf[64];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    int is_instr = fgets(buf, sizeof buf, f) && strncmp(buf, "Instruction", 11) == 0;
    fclose(f);
    if (is_instr) continue;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
    f = fopen(path, "r");
    if (!f) continue;
    if (fgets(buf, sizeof buf, f)) {
      char *end = NULL;
      double v = strtod(buf, &end);
      if (end && (*end == 'K' || *end == 'k')) v *= 1024.0;
      else if (end && *end == 'M') v *= 1024.0 * 1024.0;
      if (v > best) best = v;
    }
    fclose(f);
  }
  return best > 0.0 ? best : 32.0 * 1024.0 * 1024.0;
}

static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

/* Scores are drawn from a table of 65536 N(0, 3^2) samples (Box-Muller, once) indexed by
 * 16 random bits: cheap enough to fill gigabytes, and the distribution is what matters. */
#define NORMAL_TABLE 65536
static float normal_table[NORMAL_TABLE];

static void init_normal_table(uint64_t seed) {
  uint64_t st = seed ^ UINT64_C(0x5DEECE66D);
  const double two_pi = 6.283185307179586;
  for (int i = 0; i < NORMAL_TABLE; i += 2) {
    double u1 = ((double)(splitmix64(&st) >> 11) + 0.5) * 0x1.0p-53; /* (0, 1) */
    double u2 = (double)(splitmix64(&st) >> 11) * 0x1.0p-53;
    double r = sqrt(-2.0 * log(u1));
    float a = (float)(3.0 * r * cos(two_pi * u2));
    float b = (float)(3.0 * r * sin(two_pi * u2));
    normal_table[i] = a != 0.0f ? a : 1e-3f;
    normal_table[i + 1] = b != 0.0f ? b : -1e-3f;
  }
}

static void fill_scores(float *x, int64_t n, uint64_t *st) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    uint64_t r = splitmix64(st);
    x[i] = normal_table[r & 0xFFFF];
    x[i + 1] = normal_table[(r >> 16) & 0xFFFF];
    x[i + 2] = normal_table[(r >> 32) & 0xFFFF];
    x[i + 3] = normal_table[(r >> 48) & 0xFFFF];
  }
  for (; i < n; ++i) x[i] = normal_table[splitmix64(st) & 0xFFFF];
}

/* fp32 -> bf16 / fp16, round to nearest even (the scores here are finite). */
static uint16_t to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static uint16_t to_fp16(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to inf */
  if (a >= 0x38800000u) return (uint16_t)(sign | ((a + 0xfffu + ((a >> 13) & 1u) - 0x38000000u) >> 13));
  float scaled; /* subnormal: |f| * 2^24 rounded to an integer by adding 2^23 */
  memcpy(&scaled, &a, sizeof scaled);
  scaled = scaled * 16777216.0f + 8388608.0f;
  uint32_t bits;
  memcpy(&bits, &scaled, sizeof bits);
  return (uint16_t)(sign | (bits - 0x4b000000u));
}

/* Rewrites x[0..n) in place as 16-bit values at the start of the same memory (element i goes
 * to bytes 2i, which hold nothing not yet read). Also the embedding driver's. */
void semcl_bench_narrow(float *x, int64_t n, int dtype) {
  if (dtype == SEMCL_DTYPE_FLOAT32) return;
  uint16_t *h = (uint16_t *)(void *)x;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    h[i] = dtype == SEMCL_DTYPE_BFLOAT16 ? to_bf16(v) : to_fp16(v);
  }
}

static void fill_labels(float *y, int64_t n, uint64_t *st) {
  uint64_t r = 0;
  for (int64_t i = 0; i < n; ++i) {
    if ((i & 63) == 0) r = splitmix64(st);
    y[i] = (float)((r >> (i & 63)) & 1u);
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Linear-interpolated quantile of sorted v[n]. */
static double quantile(const double *v, int n, double q) {
  if (n == 1) return v[0];
  double pos = q * (double)(n - 1);
  int lo = (int)pos;
  if (lo >= n - 1) return v[n - 1];
  double f = pos - (double)lo;
  return v[lo] * (1.0 - f) + v[lo + 1] * f;
}

static void check(semcl_context *ctx, semcl_status_t st, const char *what) {
  if (st == SEMCL_STATUS_SUCCESS) return;
  fprintf(stderr, "%s: %s failed: %s (%s)\n", prog, what, semcl_status_name(st),
          semcl_last_error(ctx));
  exit(1);
}

static const char *backend_name(semcl_backend_t b) {
  return b == SEMCL_BACKEND_CUDA ? "cuda" : "cpu";
}

/* ---- the rotated input/output sets -------------------------------------------------- */

#define PAD_FLOATS 64 /* every array starts on a 256-byte boundary */

static int64_t padded(int64_t n) { return (n + PAD_FLOATS - 1) / PAD_FLOATS * PAD_FLOATS; }

typedef struct set_ptrs {
  float *raw, *pos, *y, *neg, *grad_raw, *grad_pos, *grad_neg, *out;
} set_ptrs;

typedef struct arena {
  int loss;
  int dtype; /* of the scores and gradients (each array keeps its fp32-sized slot) */
  int64_t B, K;
  int with_grads;
  int64_t set_floats; /* floats per set */
  int64_t input_floats; /* the leading part of a set that holds inputs */
  int n_sets;
  float *base; /* in the context's memory space */
} arena;

/* Layout of one set: raw, pos, y, [neg], out(3), [grad_raw, grad_pos, [grad_neg]]. */
static set_ptrs set_at(const arena *a, int s) {
  set_ptrs p;
  memset(&p, 0, sizeof p);
  float *x = a->base + (int64_t)s * a->set_floats;
  const int64_t pb = padded(a->B);
  p.raw = x;
  x += pb;
  p.pos = x;
  x += pb;
  p.y = x;
  x += pb;
  if (a->loss == LOSS_POS_NEG) {
    p.neg = x;
    x += padded(a->B * a->K);
  }
  p.out = x;
  x += PAD_FLOATS;
  if (a->with_grads) {
    p.grad_raw = x;
    x += pb;
    p.grad_pos = x;
    x += pb;
    if (a->loss == LOSS_POS_NEG) p.grad_neg = x;
  }
  return p;
}

static void arena_layout(arena *a) {
  const int64_t pb = padded(a->B);
  const int64_t neg = a->loss == LOSS_POS_NEG ? padded(a->B * a->K) : 0;
  a->input_floats = 3 * pb + neg;
  a->set_floats = a->input_floats + PAD_FLOATS + (a->with_grads ? 2 * pb + neg : 0);
}

static double set_bytes(const arena *a) { return (double)a->set_floats * sizeof(float); }

/* Allocates and fills n_sets sets; returns 0, or -1 (message printed) when memory fails. */
static int arena_create(semcl_context *ctx, arena *a, int n_sets, uint64_t seed) {
  a->n_sets = n_sets;
  const size_t bytes = (size_t)a->set_floats * sizeof(float) * (size_t)n_sets;
  void *dev = NULL;
  semcl_status_t st = semcl_buffer_alloc(ctx, &dev, bytes);
  if (st != SEMCL_STATUS_SUCCESS) {
    fprintf(stderr, "%s: cannot allocate %.1f MiB (%s): %s\n", prog,
            (double)bytes / 1048576.0, semcl_status_name(st), semcl_last_error(ctx));
    return -1;
  }
  a->base = (float *)dev;
  /* Staged one set at a time: inputs random, outputs zero (this also touches every page). */
  float *host = (float *)calloc((size_t)a->set_floats, sizeof(float));
  if (!host) {
    fprintf(stderr, "%s: cannot allocate %.1f MiB of host staging\n", prog,
            set_bytes(a) / 1048576.0);
    semcl_buffer_free(ctx, dev);
    return -1;
  }
  uint64_t rng = seed ^ ((uint64_t)a->B * UINT64_C(0x100000001B3)) ^ (uint64_t)a->K;
  arena h = *a;
  h.base = host;
  h.n_sets = 1;
  for (int s = 0; s < n_sets; ++s) {
    set_ptrs p = set_at(&h, 0);
    fill_scores(p.raw, a->B, &rng);
    fill_scores(p.pos, a->B, &rng);
    fill_labels(p.y, a->B, &rng);
    if (p.neg) fill_scores(p.neg, a->B * a->K, &rng);
    semcl_bench_narrow(p.raw, a->B, a->dtype);
    semcl_bench_narrow(p.pos, a->B, a->dtype);
    if (p.neg) semcl_bench_narrow(p.neg, a->B * a->K, a->dtype);
    check(ctx, semcl_upload(ctx, a->base + (int64_t)s * a->set_floats, host, (size_t)set_bytes(a)),
          "semcl_upload");
    /* the staging buffer is refilled next: let a stream-ordered copy finish first */
    check(ctx, semcl_synchronize(ctx), "semcl_synchronize");
  }
  free(host);
  return 0;
}

static void arena_destroy(semcl_context *ctx, arena *a) {
  semcl_buffer_free(ctx, a->base);
  a->base = NULL;
}

/* ---- one call and its timing -------------------------------------------------------- */

static const float bench_lambda = 1.0f;

static semcl_status_t run_once(semcl_context *ctx, const arena *a, int s, int pass) {
  const set_ptrs p = set_at(a, s);
  semcl_options opt = SEMCL_OPTIONS_INIT;
  opt.dtype = (semcl_dtype_t)a->dtype;
  const int grads = pass == PASS_FWD_BWD;
  if (a->loss == LOSS_POS_NEG)
    return semcl_pos_neg_ex(ctx, a->B, a->K, p.raw, p.pos, p.neg, p.y, bench_lambda,
                            SEMCL_REDUCTION_MEAN, &opt, 1.0f, NULL, p.out, p.out + 1, p.out + 2,
                            grads ? p.grad_raw : NULL, grads ? p.grad_pos : NULL,
                            grads ? p.grad_neg : NULL);
  return semcl_positive_only_ex(ctx, a->B, p.raw, p.pos, p.y, bench_lambda, SEMCL_REDUCTION_MEAN,
                                &opt, 1.0f, NULL, p.out, p.out + 1, p.out + 2,
                                grads ? p.grad_raw : NULL, grads ? p.grad_pos : NULL);
}

typedef struct timing {
  double median_s, p20_s, p80_s;
  int samples;
  long batch;
} timing;

#define MAX_SAMPLES 2000

static timing measure(semcl_context *ctx, const arena *a, int pass, const options *o) {
  static double samples[MAX_SAMPLES];
  int next = 0;
  /* Warm-up (workspace, threads, clocks): >= 3 calls and >= 50 ms; estimates the call time. */
  long calls = 0;
  double t0 = now_s(), el = 0.0;
  do {
    check(ctx, run_once(ctx, a, next, pass), "warm-up call");
    next = (next + 1) % a->n_sets;
    ++calls;
    if (calls >= 3) {
      check(ctx, semcl_synchronize(ctx), "semcl_synchronize");
      el = now_s() - t0;
    }
  } while (calls < 3 || el < 0.05);
  const double per_call = el / (double)calls;
  /* A sample is a batch of calls lasting about 2 ms (one call when calls are longer). */
  long batch = (long)ceil(0.002 / (per_call > 1e-9 ? per_call : 1e-9));
  if (batch < 1) batch = 1;
  if (batch > 1000000) batch = 1000000;

  timing t = {0};
  t.batch = batch;
  double total = 0.0;
  int n = 0;
  while ((n < o->min_samples || total < o->min_time_s) && n < MAX_SAMPLES) {
    double s0 = now_s();
    for (long i = 0; i < batch; ++i) {
      semcl_status_t st = run_once(ctx, a, next, pass);
      if (st != SEMCL_STATUS_SUCCESS) check(ctx, st, "timed call");
      next = (next + 1) % a->n_sets;
    }
    check(ctx, semcl_synchronize(ctx), "semcl_synchronize");
    double dt = now_s() - s0;
    total += dt;
    samples[n++] = dt / (double)batch;
  }
  qsort(samples, (size_t)n, sizeof(double), cmp_double);
  t.median_s = quantile(samples, n, 0.5);
  t.p20_s = quantile(samples, n, 0.2);
  t.p80_s = quantile(samples, n, 0.8);
  t.samples = n;
  return t;
}

/* ---- the fixed example -------------------------------------------------------------- */

#define DEMO_B 4
#define DEMO_K 8

static double softplus_d(double x) { return fmax(x, 0.0) + log1p(exp(-fabs(x))); }

static void demo(semcl_context *ctx, FILE *f) {
  float raw[DEMO_B] = {1.5f, -0.5f, 2.0f, -2.5f};
  float pos[DEMO_B] = {2.0f, -1.0f, 0.25f, 0.75f};
  float y[DEMO_B] = {1.0f, 0.0f, 1.0f, 0.0f};
  float neg[DEMO_B * DEMO_K];
  for (int i = 0; i < DEMO_B * DEMO_K; ++i) neg[i] = 0.4f * (float)((i * 37) % 17 - 8);

  /* fp64 reference, straight from the definitions */
  double ref[N_LOSSES][3];
  double ctr = 0.0, aux1 = 0.0, aux2 = 0.0;
  for (int b = 0; b < DEMO_B; ++b) {
    const double x = raw[b], sign = 2.0 * y[b] - 1.0;
    ctr += fmax(x, 0.0) - x * y[b] + log1p(exp(-fabs(x)));
    aux1 += softplus_d(-sign * ((double)pos[b] - x));
    for (int k = 0; k < DEMO_K; ++k)
      aux2 += softplus_d(-sign * ((double)pos[b] - (double)neg[b * DEMO_K + k]));
  }
  ctr /= DEMO_B;
  aux1 /= DEMO_B;
  aux2 /= (double)(DEMO_B * DEMO_K);
  ref[LOSS_POS_NEG][0] = ctr + aux2;
  ref[LOSS_POS_NEG][1] = ctr;
  ref[LOSS_POS_NEG][2] = aux2;
  ref[LOSS_POSITIVE_ONLY][0] = ctr + aux1;
  ref[LOSS_POSITIVE_ONLY][1] = ctr;
  ref[LOSS_POSITIVE_ONLY][2] = aux1;

  /* the library, through its buffers (device memory on CUDA) */
  const size_t nfl = 3 * DEMO_B + DEMO_B * DEMO_K + 3;
  void *dev = NULL;
  check(ctx, semcl_buffer_alloc(ctx, &dev, nfl * sizeof(float)), "semcl_buffer_alloc");
  float *d = (float *)dev;
  float *d_raw = d, *d_pos = d + DEMO_B, *d_y = d + 2 * DEMO_B, *d_neg = d + 3 * DEMO_B;
  float *d_out = d_neg + DEMO_B * DEMO_K;
  check(ctx, semcl_upload(ctx, d_raw, raw, sizeof raw), "semcl_upload");
  check(ctx, semcl_upload(ctx, d_pos, pos, sizeof pos), "semcl_upload");
  check(ctx, semcl_upload(ctx, d_y, y, sizeof y), "semcl_upload");
  check(ctx, semcl_upload(ctx, d_neg, neg, sizeof neg), "semcl_upload");
  float got[N_LOSSES][3];
  check(ctx, semcl_pos_neg_forward(ctx, DEMO_B, DEMO_K, d_raw, d_pos, d_neg, d_y, 1.0f,
                                   SEMCL_REDUCTION_MEAN, d_out, d_out + 1, d_out + 2),
        "semcl_pos_neg_forward");
  check(ctx, semcl_download(ctx, got[LOSS_POS_NEG], d_out, 3 * sizeof(float)), "semcl_download");
  check(ctx, semcl_positive_only_forward(ctx, DEMO_B, d_raw, d_pos, d_y, 1.0f,
                                         SEMCL_REDUCTION_MEAN, d_out, d_out + 1, d_out + 2),
        "semcl_positive_only_forward");
  check(ctx, semcl_download(ctx, got[LOSS_POSITIVE_ONLY], d_out, 3 * sizeof(float)),
        "semcl_download");
  semcl_buffer_free(ctx, dev);

  semcl_backend_t be = SEMCL_BACKEND_CPU;
  semcl_get_backend(ctx, &be);
  fprintf(f, "semcl %s, %s backend. Fixed example: B=%d, K=%d, lambda=1, reduction mean.\n",
          semcl_version_string(), backend_name(be), DEMO_B, DEMO_K);
  fprintf(f, "  %-14s %12s %12s %12s   %s\n", "loss", "L", "L_ctr", "L_aux",
          "max rel. diff vs fp64 reference");
  for (int l = 0; l < N_LOSSES; ++l) {
    double worst = 0.0;
    for (int j = 0; j < 3; ++j) {
      double d_ = fabs((double)got[l][j] - ref[l][j]) / fmax(fabs(ref[l][j]), 1e-30);
      if (!(d_ <= worst)) worst = d_; /* NaN sticks */
    }
    fprintf(f, "  %-14s %12.7f %12.7f %12.7f   %.1e%s\n", loss_names[l], got[l][0], got[l][1],
            got[l][2], worst, worst <= 1e-5 ? "" : "  <-- MISMATCH");
  }
  fprintf(f, "\n");
}

/* ---- busy competitors (--busy) ------------------------------------------------------ */

/* Separate processes, not threads of this one: they compete for cores the way another program
 * (a build, a second training job) does, and the scheduler treats them as such. */
#define MAX_BUSY 1024
static pid_t busy_pids[MAX_BUSY];
static int n_busy = 0;

static void stop_busy(void) {
  for (int i = 0; i < n_busy; ++i) kill(busy_pids[i], SIGKILL);
  for (int i = 0; i < n_busy; ++i) waitpid(busy_pids[i], NULL, 0);
  n_busy = 0;
}

static void start_busy(int n) {
  const pid_t parent = getpid();
  for (int i = 0; i < n; ++i) {
    fflush(NULL);
    const pid_t pid = fork();
    if (pid < 0) {
      fprintf(stderr, "%s: --busy: fork failed: %s\n", prog, strerror(errno));
      stop_busy();
      exit(1);
    }
    if (pid == 0) {
      /* Spin until killed; also stop if the parent died without killing us. */
      volatile uint64_t x = (uint64_t)i;
      for (;;) {
        for (int k = 0; k < 10000000; ++k) x = x * 6364136223846793005u + 1u;
        if (getppid() != parent) _exit(0);
      }
    }
    busy_pids[n_busy++] = pid;
  }
  atexit(stop_busy);
}

/* ---- the sweep ---------------------------------------------------------------------- */

typedef struct shape {
  int64_t B, K;
} shape;

#define MAX_SHAPES 32

static int shapes_for(const options *o, int loss, shape *out) {
  int n = 0;
  if (loss == LOSS_POSITIVE_ONLY) {
    if (o->B) {
      out[n++] = (shape){o->B, 1};
    } else {
      static const int64_t Bs[] = {4096, 65536, 1048576};
      for (size_t i = 0; i < sizeof Bs / sizeof Bs[0]; ++i) out[n++] = (shape){Bs[i], 1};
    }
    return n;
  }
  static const int64_t Ks[] = {1, 4, 16, 64, 256, 1024, 4096, 16384};
  static const int64_t Bs[] = {256, 1024, 4096, 16384, 65536};
  if (o->B && o->K) {
    out[n++] = (shape){o->B, o->K};
  } else if (o->K) {
    for (size_t i = 0; i < sizeof Bs / sizeof Bs[0]; ++i) out[n++] = (shape){Bs[i], o->K};
  } else if (o->B) {
    for (size_t i = 0; i < sizeof Ks / sizeof Ks[0]; ++i) out[n++] = (shape){o->B, Ks[i]};
  } else {
    for (size_t i = 0; i < sizeof Ks / sizeof Ks[0]; ++i) {
      int64_t B = (INT64_C(1) << 24) / Ks[i];
      if (B > 4096) B = 4096;
      if (B < 1) B = 1;
      out[n++] = (shape){B, Ks[i]};
    }
  }
  return n;
}

static void print_table_header(void) {
  printf("%-5s %-13s %8s %6s %3s %-7s %10s %10s %10s %9s %8s %8s %5s\n", "bknd", "loss", "B",
         "K", "thr", "pass", "median_ms", "p20_ms", "p80_ms", "Gelem/s", "GB/s", "peak_MB",
         "sets");
}

static void print_csv_header(void) {
  printf("backend,loss,dtype,B,K,threads,pass,median_ms,p20_ms,p80_ms,gelem_per_s,gb_per_s,"
         "peak_rss_mb,input_sets,working_set_mb,cpu_isa,copy_fraction\n");
}

/* Bytes the fused pass must move (see --help): scores and gradients in the dtype, labels and
 * losses in fp32. */
static double bytes_moved(const arena *a, int pass) {
  const double B = (double)a->B, e = a->dtype == SEMCL_DTYPE_FLOAT32 ? 4.0 : 2.0;
  double bytes = (2.0 * e + 4.0) * B;
  if (pass == PASS_FWD_BWD) bytes += 2.0 * e * B;
  if (a->loss == LOSS_POS_NEG) bytes += (pass == PASS_FWD_BWD ? 2.0 : 1.0) * e * B * (double)a->K;
  return bytes;
}

/* ---- the CPU's one-thread streaming limit ------------------------------------------------
 * What a fused pass that reads 4 bytes and writes 4 bytes per element can reach on one core:
 * a loop of exactly that (regular stores, like the kernels), and memcpy (glibc switches to
 * non-temporal stores for large copies, which skip reading the destination first). GB/s count
 * read + write; 8 bytes per element. */
typedef struct copy_rates {
  double regular_gbs, memcpy_gbs;
} copy_rates;
static copy_rates copy_rate;

static copy_rates measure_copy_rates(void) {
  copy_rates r = {0.0, 0.0};
  const size_t n = (size_t)fmax(4.0 * llc_bytes(), 256.0 * 1048576.0) / sizeof(float);
  float *src = (float *)malloc(n * sizeof(float)), *dst = (float *)malloc(n * sizeof(float));
  if (!src || !dst) {
    free(src);
    free(dst);
    return r;
  }
  for (size_t i = 0; i < n; ++i) src[i] = (float)(i & 1023), dst[i] = 0.0f;
  double best_regular = 1e30, best_memcpy = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    double t0 = now_s();
    /* a sign flip, so that the compiler cannot turn the loop into memcpy */
    for (size_t i = 0; i < n; ++i) dst[i] = -src[i];
    best_regular = fmin(best_regular, now_s() - t0);
    t0 = now_s();
    memcpy(dst, src, n * sizeof(float));
    best_memcpy = fmin(best_memcpy, now_s() - t0);
  }
  volatile float sink = dst[n / 2];
  (void)sink;
  r.regular_gbs = 2.0 * (double)n * sizeof(float) / best_regular * 1e-9;
  r.memcpy_gbs = 2.0 * (double)n * sizeof(float) / best_memcpy * 1e-9;
  free(src);
  free(dst);
  return r;
}

static int progress_tty = 0;

static void progress(const char *line) {
  if (progress_tty) {
    fprintf(stderr, "\r\033[K%s", line);
  } else {
    fprintf(stderr, "%s\n", line);
  }
  fflush(stderr);
}

static void progress_clear(void) {
  if (progress_tty) {
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
  }
}

/* Runs every case on one context; returns the number of rows printed. */
static int sweep(semcl_context *ctx, const options *o, int *case_no, int n_cases) {
  semcl_backend_t be = SEMCL_BACKEND_CPU;
  check(ctx, semcl_get_backend(ctx, &be), "semcl_get_backend");
  int thread_list[2], n_threads = 0;
  if (o->threads >= 0) {
    thread_list[n_threads++] = o->threads;
  } else {
    thread_list[n_threads++] = 1;
    if (online_cores() > 1) thread_list[n_threads++] = 0;
  }
  if (be == SEMCL_BACKEND_CUDA) n_threads = 1;

  const double target = fmax(4.0 * llc_bytes(), 256.0 * 1048576.0);
  const double cap = o->max_mem_mb * 1048576.0;
  int rows = 0;
  for (int loss = 0; loss < N_LOSSES; ++loss) {
    if (o->loss >= 0 && o->loss != loss) continue;
    shape shapes[MAX_SHAPES];
    const int ns = shapes_for(o, loss, shapes);
    if (!o->csv) {
      printf("\n");
      print_table_header();
    }
    for (int si = 0; si < ns; ++si) {
      arena a;
      memset(&a, 0, sizeof a);
      a.loss = loss;
      a.dtype = o->dtype;
      a.B = shapes[si].B;
      a.K = shapes[si].K;
      a.with_grads = o->pass != PASS_FWD;
      arena_layout(&a);
      const int cases_here = (o->pass >= 0 ? 1 : N_PASSES) * n_threads;
      if (set_bytes(&a) > cap) {
        fprintf(stderr, "%s: skipping %s B=%lld K=%lld: one set is %.0f MiB > --max-mem-mb %.0f\n",
                prog, loss_names[loss], (long long)a.B, (long long)a.K,
                set_bytes(&a) / 1048576.0, o->max_mem_mb);
        *case_no += cases_here;
        continue;
      }
      double sets = ceil(target / set_bytes(&a));
      if (sets > 4096.0) sets = 4096.0;
      if (sets * set_bytes(&a) > cap) sets = floor(cap / set_bytes(&a));
      if (sets < 1.0) sets = 1.0;
      if (arena_create(ctx, &a, (int)sets, o->seed) != 0) {
        *case_no += cases_here;
        continue;
      }
      for (int pass = 0; pass < N_PASSES; ++pass) {
        if (o->pass >= 0 && o->pass != pass) continue;
        for (int ti = 0; ti < n_threads; ++ti) {
          int threads = thread_list[ti];
          check(ctx, semcl_set_threads(ctx, threads), "semcl_set_threads");
          if (threads == 0) threads = online_cores();
          char line[192];
          snprintf(line, sizeof line, "[%d/%d] %s %s B=%lld K=%lld threads=%d %s (%d sets, %.0f MiB)",
                   ++*case_no, n_cases, backend_name(be), loss_names[loss], (long long)a.B,
                   (long long)a.K, threads, pass_names[pass], a.n_sets,
                   set_bytes(&a) * a.n_sets / 1048576.0);
          progress(line);
          const timing t = measure(ctx, &a, pass, o);
          progress_clear();
          const double elems = (double)a.B * (double)(loss == LOSS_POS_NEG ? a.K : 1);
          const double gelem = elems / t.median_s * 1e-9;
          const double gbs = bytes_moved(&a, pass) / t.median_s * 1e-9;
          const double ws_mb = set_bytes(&a) * a.n_sets / 1048576.0;
          /* The fraction of this machine's one-thread copy rate (regular stores) that the
           * call's bytes reach: CPU, one thread only. */
          char frac_text[32] = "", isa_text[16] = "";
          if (be == SEMCL_BACKEND_CPU) {
            semcl_cpu_isa_t isa = SEMCL_CPU_ISA_SCALAR;
            check(ctx, semcl_get_cpu_isa(ctx, &isa), "semcl_get_cpu_isa");
            snprintf(isa_text, sizeof isa_text, "%s", semcl_cpu_isa_name(isa));
            if (threads == 1 && copy_rate.regular_gbs > 0)
              snprintf(frac_text, sizeof frac_text, "%.3f", gbs / copy_rate.regular_gbs);
          }
          if (o->csv) {
            printf("%s,%s,%s,%lld,%lld,%d,%s,%.6g,%.6g,%.6g,%.6g,%.6g,%.1f,%d,%.1f,%s,%s\n",
                   backend_name(be), loss_names[loss], dtype_names[o->dtype], (long long)a.B,
                   (long long)(loss == LOSS_POS_NEG ? a.K : 1), threads, pass_names[pass],
                   t.median_s * 1e3, t.p20_s * 1e3, t.p80_s * 1e3, gelem, gbs, peak_rss_mb(),
                   a.n_sets, ws_mb, isa_text, frac_text);
          } else {
            printf("%-5s %-13s %8lld %6lld %3d %-7s %10.4f %10.4f %10.4f %9.3f %8.2f %8.1f %5d\n",
                   backend_name(be), loss_names[loss], (long long)a.B,
                   (long long)(loss == LOSS_POS_NEG ? a.K : 1), threads, pass_names[pass],
                   t.median_s * 1e3, t.p20_s * 1e3, t.p80_s * 1e3, gelem, gbs, peak_rss_mb(),
                   a.n_sets);
          }
          fflush(stdout);
          ++rows;
        }
      }
      arena_destroy(ctx, &a);
    }
  }
  return rows;
}

int main(int argc, char **argv) {
  if (semcl_bench_embed_requested(argc, argv)) return semcl_bench_embed_main(prog, argc, argv);
  options o;
  parse_args(argc, argv, &o);
  progress_tty = isatty(STDERR_FILENO);
  init_normal_table(o.seed);

  /* contexts to run on */
  semcl_context *ctxs[2] = {NULL, NULL};
  int n_ctx = 0;
  if (o.backend == BACKEND_REQ_AUTO || o.backend == BACKEND_REQ_CPU) {
    semcl_backend_t want = o.backend == BACKEND_REQ_AUTO ? SEMCL_BACKEND_AUTO : SEMCL_BACKEND_CPU;
    semcl_status_t st = semcl_create(&ctxs[n_ctx], want);
    if (st != SEMCL_STATUS_SUCCESS) {
      fprintf(stderr, "%s: cannot create a context: %s (%s)\n", prog, semcl_status_name(st),
              semcl_status_string(st));
      return 1;
    }
    ++n_ctx;
  } else {
    if (o.backend == BACKEND_REQ_ALL) {
      semcl_status_t st = semcl_create(&ctxs[n_ctx], SEMCL_BACKEND_CPU);
      if (st != SEMCL_STATUS_SUCCESS) {
        fprintf(stderr, "%s: cannot create a CPU context: %s\n", prog, semcl_status_name(st));
        return 1;
      }
      ++n_ctx;
    }
    semcl_status_t st = semcl_create(&ctxs[n_ctx], SEMCL_BACKEND_CUDA);
    if (st == SEMCL_STATUS_SUCCESS) {
      ++n_ctx;
    } else if (o.backend == BACKEND_REQ_CUDA) {
      fprintf(stderr, "%s: the CUDA backend is unavailable: %s (%s; this build %s CUDA)\n", prog,
              semcl_status_name(st), semcl_status_string(st),
              semcl_has_cuda_build() ? "has" : "was built without");
      return 3;
    } else {
      fprintf(stderr, "%s: note: CUDA backend unavailable (%s): CPU only\n", prog,
              semcl_has_cuda_build() ? "no usable device" : "built without CUDA");
    }
  }

  int any_cpu = 0;
  for (int c = 0; c < n_ctx; ++c) {
    check(ctxs[c], semcl_set_pointer_checks(ctxs[c], o.pointer_checks), "semcl_set_pointer_checks");
    semcl_backend_t be = SEMCL_BACKEND_CPU;
    check(ctxs[c], semcl_get_backend(ctxs[c], &be), "semcl_get_backend");
    if (be != SEMCL_BACKEND_CPU) continue;
    any_cpu = 1;
    if (o.isa >= 0 && semcl_set_cpu_isa(ctxs[c], (semcl_cpu_isa_t)o.isa) != SEMCL_STATUS_SUCCESS) {
      fprintf(stderr, "%s: --isa %s: %s\n", prog, isa_names[o.isa], semcl_last_error(ctxs[c]));
      return 2;
    }
  }
  if (any_cpu) {
    copy_rate = measure_copy_rates();
    semcl_cpu_isa_t isa = SEMCL_CPU_ISA_SCALAR;
    for (int c = 0; c < n_ctx; ++c) {
      semcl_backend_t be = SEMCL_BACKEND_CPU;
      semcl_get_backend(ctxs[c], &be);
      if (be == SEMCL_BACKEND_CPU) semcl_get_cpu_isa(ctxs[c], &isa);
    }
    fprintf(o.csv ? stderr : stdout,
            "CPU kernels: %s, scores %s. One-thread copy rate (read+write): %.1f GB/s with "
            "regular stores (%.2f Gelem/s at 8 bytes), %.1f GB/s with memcpy (%.2f Gelem/s).\n",
            semcl_cpu_isa_name(isa), dtype_names[o.dtype], copy_rate.regular_gbs,
            copy_rate.regular_gbs / 8.0, copy_rate.memcpy_gbs, copy_rate.memcpy_gbs / 8.0);
  }
  if (o.demo) demo(ctxs[0], o.csv ? stderr : stdout);
  if (o.busy > 0) {
    start_busy(o.busy);
    fprintf(stderr, "%s: %d busy competitor process%s running\n", prog, o.busy,
            o.busy == 1 ? "" : "es");
  }
  if (o.csv) print_csv_header();

  /* number of cases, for progress */
  int n_cases = 0;
  for (int c = 0; c < n_ctx; ++c) {
    semcl_backend_t be = SEMCL_BACKEND_CPU;
    semcl_get_backend(ctxs[c], &be);
    int nt = o.threads >= 0 ? 1 : (online_cores() > 1 ? 2 : 1);
    if (be == SEMCL_BACKEND_CUDA) nt = 1;
    for (int loss = 0; loss < N_LOSSES; ++loss) {
      if (o.loss >= 0 && o.loss != loss) continue;
      shape shapes[MAX_SHAPES];
      n_cases += shapes_for(&o, loss, shapes) * (o.pass >= 0 ? 1 : N_PASSES) * nt;
    }
  }

  const double t0 = now_s();
  int case_no = 0, rows = 0;
  for (int c = 0; c < n_ctx; ++c) rows += sweep(ctxs[c], &o, &case_no, n_cases);
  for (int c = 0; c < n_ctx; ++c) semcl_destroy(ctxs[c]);
  if (!o.csv)
    printf("\n%d cases in %.1f s. Time per call: median [p20, p80] over samples; "
           "see --help for the method.\n", rows, now_s() - t0);
  else
    fprintf(stderr, "%s: %d cases in %.1f s\n", prog, rows, now_s() - t0);
  return rows > 0 ? 0 : 1;
}
