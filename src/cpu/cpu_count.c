/* cpu_count.c — the CPUs this process may use: affinity mask and cgroup quota (cpu_count.h). */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "cpu_count.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../semcl_internal.h" /* SEMCL_MAX_THREADS */

#define CG_PATH_BYTES 4096
#define CG_SMALL_FILE_BYTES 4096
#define CG_LIST_FILE_BYTES (1u << 20) /* /proc/self/mountinfo can be long on busy hosts */

/* ---- parsing -------------------------------------------------------------------------- */

/* A positive decimal integer at *s (leading blanks skipped); advances *s. 0 when absent,
 * not positive or too large. */
static int64_t parse_positive(const char **s) {
  const char *c = *s;
  while (*c == ' ' || *c == '\t') ++c;
  if (*c < '0' || *c > '9') return 0;
  int64_t v = 0;
  for (; *c >= '0' && *c <= '9'; ++c) {
    if (v > (INT64_MAX - 9) / 10) return 0;
    v = v * 10 + (*c - '0');
  }
  *s = c;
  return v;
}

/* Only blanks and one optional newline left? */
static int at_end(const char *s) {
  while (*s == ' ' || *s == '\t' || *s == '\n') ++s;
  return *s == '\0';
}

/* ceil(quota / period) CPUs, within 1..SEMCL_MAX_THREADS. */
static int cpus_of(int64_t quota, int64_t period) {
  const int64_t whole = quota / period + (quota % period != 0);
  if (whole < 1) return 1;
  return whole > SEMCL_MAX_THREADS ? SEMCL_MAX_THREADS : (int)whole;
}

int semcl_parse_cpu_max(const char *text) {
  const char *s = text;
  while (*s == ' ' || *s == '\t') ++s;
  if (strncmp(s, "max", 3) == 0) return 0;
  const int64_t quota = parse_positive(&s);
  const int64_t period = parse_positive(&s);
  if (quota <= 0 || period <= 0 || !at_end(s)) return 0;
  return cpus_of(quota, period);
}

int semcl_parse_cfs_quota(const char *quota_text, const char *period_text) {
  const char *q = quota_text, *p = period_text;
  const int64_t quota = parse_positive(&q); /* "-1" (no limit) parses as absent */
  const int64_t period = parse_positive(&p);
  if (quota <= 0 || period <= 0 || !at_end(q) || !at_end(p)) return 0;
  return cpus_of(quota, period);
}

/* Does the comma-separated list [list, end) contain `word`? */
static int list_has(const char *list, const char *end, const char *word) {
  const size_t n = strlen(word);
  while (list < end) {
    const char *comma = memchr(list, ',', (size_t)(end - list));
    const char *item_end = comma ? comma : end;
    if ((size_t)(item_end - list) == n && memcmp(list, word, n) == 0) return 1;
    list = item_end + 1;
  }
  return 0;
}

int semcl_parse_proc_cgroup(const char *text, int v2, char *out, size_t size) {
  for (const char *line = text; *line;) {
    const char *eol = strchr(line, '\n');
    if (!eol) eol = line + strlen(line);
    const char *c1 = memchr(line, ':', (size_t)(eol - line));
    const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(eol - c1 - 1)) : NULL;
    if (c2) {
      const int is_v2 = c1 - line == 1 && line[0] == '0' && c2 == c1 + 1;
      const int match = v2 ? is_v2 : (!is_v2 && list_has(c1 + 1, c2, "cpu"));
      const size_t len = (size_t)(eol - c2 - 1);
      if (match) {
        if (len == 0 || len >= size) return 0;
        memcpy(out, c2 + 1, len);
        out[len] = '\0';
        return 1;
      }
    }
    line = *eol ? eol + 1 : eol;
  }
  return 0;
}

/* Copies mountinfo field [begin, end) into out, decoding the octal escapes (\040 = space)
 * that the kernel writes for blanks and backslashes. 0 when it does not fit. */
static int copy_field(const char *begin, const char *end, char *out, size_t size) {
  size_t n = 0;
  for (const char *c = begin; c < end; ++c) {
    char ch = *c;
    if (ch == '\\' && end - c >= 4 && c[1] >= '0' && c[1] <= '3' && c[2] >= '0' && c[2] <= '7' &&
        c[3] >= '0' && c[3] <= '7') {
      ch = (char)((c[1] - '0') * 64 + (c[2] - '0') * 8 + (c[3] - '0'));
      c += 3;
    }
    if (n + 1 >= size) return 0;
    out[n++] = ch;
  }
  out[n] = '\0';
  return n > 0;
}

#define MOUNTINFO_MAX_FIELDS 64

int semcl_parse_mountinfo(const char *text, int v2, char *mount_point, char *mount_root,
                          size_t size) {
  for (const char *line = text; *line;) {
    const char *eol = strchr(line, '\n');
    if (!eol) eol = line + strlen(line);
    /* Split on spaces: id parent dev root mount-point options [optional...] - fstype source
     * super-options. */
    const char *begin[MOUNTINFO_MAX_FIELDS], *end[MOUNTINFO_MAX_FIELDS];
    int n = 0;
    for (const char *c = line; c < eol && n < MOUNTINFO_MAX_FIELDS;) {
      while (c < eol && *c == ' ') ++c;
      if (c == eol) break;
      begin[n] = c;
      while (c < eol && *c != ' ') ++c;
      end[n++] = c;
    }
    int dash = -1;
    for (int i = 6; i < n; ++i)
      if (end[i] - begin[i] == 1 && *begin[i] == '-') {
        dash = i;
        break;
      }
    if (dash >= 0 && dash + 3 < n) {
      const char *fs = begin[dash + 1];
      const size_t fs_len = (size_t)(end[dash + 1] - fs);
      const int match = v2 ? (fs_len == 7 && memcmp(fs, "cgroup2", 7) == 0)
                           : (fs_len == 6 && memcmp(fs, "cgroup", 6) == 0 &&
                              list_has(begin[dash + 3], end[dash + 3], "cpu"));
      if (match)
        return copy_field(begin[4], end[4], mount_point, size) &&
               copy_field(begin[3], end[3], mount_root, size);
    }
    line = *eol ? eol + 1 : eol;
  }
  return 0;
}

/* ---- the limit over a hierarchy ---------------------------------------------------------- */

/* Smaller of two limits where 0 means none. */
static int min_limit(int a, int b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return a < b ? a : b;
}

/* The limit set in directory `dir` of a hierarchy (0 = none or unreadable). */
static int limit_in_dir(semcl_read_file_fn read_file, void *ctx, int v2, const char *dir,
                        char *path, char *text, char *text2) {
  const size_t dir_len = strlen(dir);
  static const char *const names[] = {"/cpu.max", "/cpu.cfs_quota_us", "/cpu.cfs_period_us"};
  const char *first = v2 ? names[0] : names[1];
  if (dir_len + strlen(names[2]) + 1 > CG_PATH_BYTES) return 0;
  memcpy(path, dir, dir_len);
  strcpy(path + dir_len, first);
  if (!read_file(path, text, CG_SMALL_FILE_BYTES, ctx)) return 0;
  if (v2) return semcl_parse_cpu_max(text);
  strcpy(path + dir_len, names[2]);
  if (!read_file(path, text2, CG_SMALL_FILE_BYTES, ctx)) return 0;
  return semcl_parse_cfs_quota(text, text2);
}

/* The smallest limit from the process's cgroup up to the root of the mounted hierarchy. */
static int hierarchy_limit(semcl_read_file_fn read_file, void *ctx, int v2, const char *cgroup,
                           const char *mountinfo, char *buf) {
  char *mount_point = buf, *mount_root = buf + CG_PATH_BYTES, *cg = buf + 2 * CG_PATH_BYTES;
  char *dir = buf + 3 * CG_PATH_BYTES, *path = buf + 4 * CG_PATH_BYTES;
  char *text = buf + 5 * CG_PATH_BYTES, *text2 = text + CG_SMALL_FILE_BYTES;
  if (!semcl_parse_proc_cgroup(cgroup, v2, cg, CG_PATH_BYTES)) return 0;
  if (!semcl_parse_mountinfo(mountinfo, v2, mount_point, mount_root, CG_PATH_BYTES)) return 0;
  /* The mount shows the hierarchy from mount_root down: strip that prefix from the path. A
   * path outside the mounted part (a container without a cgroup namespace may see its own
   * cgroup as the mount's root) maps to the mount point. */
  const size_t root_len = strcmp(mount_root, "/") == 0 ? 0 : strlen(mount_root);
  const char *rel = cg;
  if (root_len && strncmp(cg, mount_root, root_len) == 0 &&
      (cg[root_len] == '/' || cg[root_len] == '\0'))
    rel = cg + root_len;
  else if (root_len)
    rel = "";
  if (strcmp(rel, "/") == 0) rel = "";
  const size_t mp_len = strlen(mount_point), rel_len = strlen(rel);
  if (mp_len + rel_len + 1 > CG_PATH_BYTES) return 0;
  memcpy(dir, mount_point, mp_len);
  memcpy(dir + mp_len, rel, rel_len + 1);
  int limit = 0;
  for (;;) {
    limit = min_limit(limit, limit_in_dir(read_file, ctx, v2, dir, path, text, text2));
    size_t len = strlen(dir);
    if (len <= mp_len) break; /* the mount point itself has been read */
    while (len > mp_len && dir[len - 1] != '/') --len; /* up one level */
    if (len > mp_len) --len;                              /* drop the '/' */
    dir[len] = '\0';
  }
  return limit;
}

int semcl_cgroup_cpu_limit(semcl_read_file_fn read_file, void *ctx) {
  char *cgroup = (char *)malloc(CG_SMALL_FILE_BYTES);
  char *mountinfo = (char *)malloc(CG_LIST_FILE_BYTES);
  char *buf = (char *)malloc(5 * CG_PATH_BYTES + 2 * CG_SMALL_FILE_BYTES);
  int limit = 0;
  if (cgroup && mountinfo && buf && read_file("/proc/self/cgroup", cgroup, CG_SMALL_FILE_BYTES, ctx) &&
      read_file("/proc/self/mountinfo", mountinfo, CG_LIST_FILE_BYTES, ctx)) {
    limit = hierarchy_limit(read_file, ctx, 1, cgroup, mountinfo, buf);
    limit = min_limit(limit, hierarchy_limit(read_file, ctx, 0, cgroup, mountinfo, buf));
  }
  free(buf);
  free(mountinfo);
  free(cgroup);
  return limit;
}

/* ---- the real files and the affinity mask -------------------------------------------------- */

/* Whole file into buf (NUL-terminated); 0 when missing, unreadable or larger than size - 1. */
static int read_real_file(const char *path, char *buf, size_t size, void *ctx) {
  (void)ctx;
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t n = 0;
  for (;;) {
    const ssize_t got = read(fd, buf + n, size - 1 - n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      close(fd);
      return 0;
    }
    if (got == 0) break;
    n += (size_t)got;
    if (n == size - 1) { /* full: only fine if the file ends here */
      char extra;
      const ssize_t more = read(fd, &extra, 1);
      close(fd);
      if (more != 0) return 0;
      buf[n] = '\0';
      return 1;
    }
  }
  close(fd);
  buf[n] = '\0';
  return 1;
}

/* CPUs in the calling thread's affinity mask; 0 when it cannot be read. */
static int affinity_count(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  /* EINVAL: more possible CPUs than CPU_SETSIZE, the kernel wants a larger mask. */
  for (int cpus = 2 * CPU_SETSIZE, err = errno; err == EINVAL && cpus <= (1 << 18); cpus *= 2) {
    cpu_set_t *big = CPU_ALLOC(cpus);
    if (!big) return 0;
    const size_t bytes = CPU_ALLOC_SIZE(cpus);
    const int got = sched_getaffinity(0, bytes, big) == 0 ? CPU_COUNT_S(bytes, big) : 0;
    err = errno;
    CPU_FREE(big);
    if (got > 0) return got;
  }
  return 0;
}

/* -1: not read yet. Racing first calls compute the same value; any of them may store it. */
static _Atomic int cgroup_limit_cache = -1;

int semcl_cpu_count(void) {
  int cpus = affinity_count();
  if (cpus < 1) {
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    cpus = online < 1 ? 1 : online > SEMCL_MAX_THREADS ? SEMCL_MAX_THREADS : (int)online;
  }
  int limit = atomic_load_explicit(&cgroup_limit_cache, memory_order_relaxed);
  if (limit < 0) {
    limit = semcl_cgroup_cpu_limit(read_real_file, NULL);
    atomic_store_explicit(&cgroup_limit_cache, limit, memory_order_relaxed);
  }
  if (limit > 0 && limit < cpus) cpus = limit;
  return cpus > SEMCL_MAX_THREADS ? SEMCL_MAX_THREADS : cpus;
}
