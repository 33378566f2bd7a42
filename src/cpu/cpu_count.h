/*
 * cpu_count.h — how many CPUs this process may use (not installed).
 *
 * The default thread count (semcl_set_threads(ctx, 0)) is the smaller of
 *  - the CPUs in the process's affinity mask (sched_getaffinity: taskset, cpusets, numactl), and
 *  - the CPU bandwidth limit of its cgroup, rounded up: cgroup v2 cpu.max "QUOTA PERIOD", or
 *    cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us; the smallest limit on the path from the
 *    process's cgroup up to the root of the mounted hierarchy counts (a container's limit is
 *    often set on a parent),
 * capped at SEMCL_MAX_THREADS and at least 1. Where a source cannot be read it is ignored
 * (no affinity: the online CPU count).
 *
 * The parsers take file text, not paths, so that tests can feed them any cgroup layout.
 */
#ifndef SEMCL_CPU_COUNT_H
#define SEMCL_CPU_COUNT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" { /* the tests are C++ */
#endif

/* CPUs the calling thread may run on, with the cgroup limit applied (1..SEMCL_MAX_THREADS).
 * The affinity mask is read on every call (cheap); the cgroup limit once per process. */
int semcl_cpu_count(void);

/* ---- parsing (pure functions; 0 means "no limit found") ------------------------------- */

/* cgroup v2 cpu.max: "max 100000" → 0; "150000 100000" → 2 (1.5 CPUs, rounded up). */
int semcl_parse_cpu_max(const char *text);

/* cgroup v1: cpu.cfs_quota_us ("-1" = none) and cpu.cfs_period_us texts. */
int semcl_parse_cfs_quota(const char *quota_text, const char *period_text);

/* The process's cgroup path from /proc/self/cgroup text: the v2 line ("0::/path") when
 * v2 is nonzero, else the v1 line whose controller list contains "cpu" ("4:cpu,cpuacct:/p").
 * Writes the path into out (size bytes) and returns 1, or returns 0 if there is no such
 * line or it does not fit. */
int semcl_parse_proc_cgroup(const char *text, int v2, char *out, size_t size);

/* The mount of that hierarchy from /proc/self/mountinfo text: fstype "cgroup2" when v2 is
 * nonzero, else fstype "cgroup" with "cpu" among its super options. Writes the mount point
 * and the mount's root within the hierarchy; returns 1, or 0 when not found or too long. */
int semcl_parse_mountinfo(const char *text, int v2, char *mount_point, char *mount_root,
                          size_t size);

/* The cgroup CPU limit (0 = none) given a way to read files: read_file(path, buf, size, ctx)
 * fills buf with the NUL-terminated text of the file and returns 1, or returns 0 when it
 * does not exist or cannot be read. Both hierarchies are consulted; the smallest limit wins. */
typedef int (*semcl_read_file_fn)(const char *path, char *buf, size_t size, void *ctx);
int semcl_cgroup_cpu_limit(semcl_read_file_fn read_file, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* SEMCL_CPU_COUNT_H */
