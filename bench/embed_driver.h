/* embed_driver.h — `semcl-bench --embed ...`: timing of the embedding calls (embed_driver.c). */
#ifndef SEMCL_BENCH_EMBED_DRIVER_H
#define SEMCL_BENCH_EMBED_DRIVER_H

#include <stdint.h>
#include <stdio.h>

/* Whether the command line asks for the embedding benchmark (it has --embed). */
int semcl_bench_embed_requested(int argc, char **argv);

/* Runs it; returns the exit status (0 ok, 2 bad arguments, 1 other errors). */
int semcl_bench_embed_main(const char *prog, int argc, char **argv);

/* x[0..n) rewritten in place as dtype (SEMCL_DTYPE_*; fp32: unchanged) values at the start of
 * the same memory (semcl_bench.c). */
void semcl_bench_narrow(float *x, int64_t n, int dtype);

/* The --embed options, for semcl-bench --help. */
void semcl_bench_embed_usage(FILE *f);

#endif /* SEMCL_BENCH_EMBED_DRIVER_H */
