/* fuzz_check.c — see fuzz_check.h. */
#include "fuzz_check.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *context;
static unsigned long long stats[STAT_COUNT];

static void print_stats(void) {
  static const char *const names[STAT_COUNT] = {
      "loss calls", "refused", "succeeded", "compared with the fp64 reference",
      "16-bit scores", "masked", "32768+ terms (thread split)", "with a caller workspace"};
  for (int i = 0; i < STAT_COUNT; ++i) fprintf(stderr, "semcl fuzz: %-34s %llu\n", names[i], stats[i]);
}

void fuzz_count(fuzz_stat which) {
  static int registered;
  if (!registered) {
    registered = 1;
    const char *on = getenv("SEMCL_FUZZ_STATS");
    if (on && on[0] == '1') atexit(print_stats);
  }
  ++stats[which];
}

void fuzz_set_context(const char *text) { context = text; }

void fuzz_fail(const char *format, ...) {
  va_list args;
  va_start(args, format);
  fprintf(stderr, "\nsemcl fuzz: FINDING: ");
  vfprintf(stderr, format, args);
  fprintf(stderr, "\n");
  if (context) fprintf(stderr, "semcl fuzz: while checking %s\n", context);
  va_end(args);
  abort();
}

void fuzz_expect_close(const char *what, const float *got, const double *expected, size_t n,
                       const double *extra_abs) {
  double max_abs = 0.0;
  for (size_t i = 0; i < n; ++i)
    if (isfinite(expected[i]) && fabs(expected[i]) > max_abs) max_abs = fabs(expected[i]);
  for (size_t i = 0; i < n; ++i) {
    const double e = expected[i], g = (double)got[i];
    int ok;
    if (isnan(e))
      ok = isnan(g);
    else if (isinf(e))
      ok = g == e;
    else
      ok = isfinite(g) && fabs(g - e) <= 2e-5 * fabs(e) + 1e-6 * max_abs + 1e-41 +
                                             (extra_abs ? extra_abs[i] : 0.0);
    FUZZ_CHECK(ok, "%s[%zu] = %.9g, the fp64 reference says %.17g (|diff| %.3g, max|ref| %.3g)",
               what, i, g, e, fabs(g - e), max_abs);
  }
}

void fuzz_expect_same_bits(const char *what, const void *a, const void *b, size_t bytes) {
  if (memcmp(a, b, bytes) == 0) return;
  const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
  size_t i = 0;
  while (x[i] == y[i]) ++i;
  fuzz_fail("%s: bytes differ first at byte %zu of %zu (0x%02x vs 0x%02x)", what, i, bytes, x[i],
            y[i]);
}
