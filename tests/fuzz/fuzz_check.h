/* fuzz_check.h — what a finding looks like: a message on stderr and abort(), which libFuzzer
 * reports as a crash and saves the input for. */
#ifndef SEMCL_FUZZ_CHECK_H
#define SEMCL_FUZZ_CHECK_H

#include <stddef.h>

#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 1, 2)))
#endif
void fuzz_fail(const char *format, ...);

/* A line about what is being checked (the loss call in progress), printed with a finding;
 * NULL clears it. The text must stay valid until cleared. */
void fuzz_set_context(const char *text);

#define FUZZ_CHECK(cond, ...)              \
  do {                                     \
    if (!(cond)) fuzz_fail(__VA_ARGS__);   \
  } while (0)

/* Counts of what the checks saw, printed at exit when SEMCL_FUZZ_STATS=1 is set (to see how
 * much of the fuzzing reaches each check). */
typedef enum fuzz_stat {
  STAT_LOSS_CALLS, STAT_REFUSED, STAT_SUCCEEDED, STAT_REFERENCE, STAT_HALF_PRECISION,
  STAT_MASKED, STAT_CHUNK_SPLIT, STAT_CALLER_WORKSPACE, STAT_COUNT
} fuzz_stat;
void fuzz_count(fuzz_stat which);

/* The suite's tolerance rule (tests/core/core_util.h ExpectClose) for one output vector:
 *   |got - exp| <= rel*|exp| + 1e-6*max|exp over the vector| + 1e-41,  rel = 2e-5,
 * non-finite expectations matched exactly (the same infinity, NaN for NaN). extra_abs[i] (or
 * NULL) widens element i's bound where the documented fp32 arithmetic cancels. */
void fuzz_expect_close(const char *what, const float *got, const double *expected, size_t n,
                       const double *extra_abs);
/* Bit-for-bit equality. */
void fuzz_expect_same_bits(const char *what, const void *a, const void *b, size_t bytes);

#endif
