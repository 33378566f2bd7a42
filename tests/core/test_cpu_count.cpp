// test_cpu_count.cpp — the CPU limit behind the default thread count (src/cpu/cpu_count.c):
// parsing of cgroup v2 cpu.max, cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us,
// /proc/self/cgroup and /proc/self/mountinfo, and the walk up a cgroup hierarchy, fed with
// file texts (a fake file system), never the machine's own files.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "cpu_count.h"

namespace {

TEST(CpuCount, CpuMaxIsQuotaOverPeriodRoundedUp) {
  EXPECT_EQ(semcl_parse_cpu_max("max 100000\n"), 0);  // no limit
  EXPECT_EQ(semcl_parse_cpu_max("max\n"), 0);
  EXPECT_EQ(semcl_parse_cpu_max("100000 100000\n"), 1);
  EXPECT_EQ(semcl_parse_cpu_max("150000 100000\n"), 2);  // 1.5 CPUs
  EXPECT_EQ(semcl_parse_cpu_max("200000 100000\n"), 2);
  EXPECT_EQ(semcl_parse_cpu_max("200001 100000\n"), 3);
  EXPECT_EQ(semcl_parse_cpu_max("50000 100000\n"), 1);  // half a CPU: still one thread
  EXPECT_EQ(semcl_parse_cpu_max("1 1000000"), 1);
  EXPECT_EQ(semcl_parse_cpu_max("700000 200000"), 4);
  EXPECT_EQ(semcl_parse_cpu_max("400000000 100000\n"), 1024);  // capped at SEMCL_MAX_THREADS
  EXPECT_EQ(semcl_parse_cpu_max("99999999999999999999999 100000\n"), 0);  // overflow: ignored
  // Malformed: ignored (0 = no limit).
  for (const char *bad : {"", "\n", "abc", "100000", "-1 100000", "100000 0", "100000 -5",
                          "100000 100000 7", "100000x 100000", "0 100000"})
    EXPECT_EQ(semcl_parse_cpu_max(bad), 0) << "'" << bad << "'";
}

TEST(CpuCount, CfsQuotaIsQuotaOverPeriodRoundedUp) {
  EXPECT_EQ(semcl_parse_cfs_quota("-1\n", "100000\n"), 0);  // no limit
  EXPECT_EQ(semcl_parse_cfs_quota("100000\n", "100000\n"), 1);
  EXPECT_EQ(semcl_parse_cfs_quota("250000\n", "100000\n"), 3);
  EXPECT_EQ(semcl_parse_cfs_quota("50000", "100000"), 1);
  EXPECT_EQ(semcl_parse_cfs_quota("300000\n", "50000\n"), 6);
  EXPECT_EQ(semcl_parse_cfs_quota("", "100000"), 0);
  EXPECT_EQ(semcl_parse_cfs_quota("100000", ""), 0);
  EXPECT_EQ(semcl_parse_cfs_quota("100000", "0"), 0);
  EXPECT_EQ(semcl_parse_cfs_quota("1e5", "100000"), 0);
}

std::string CgroupPath(const char *text, int v2) {
  char out[256];
  if (!semcl_parse_proc_cgroup(text, v2, out, sizeof out)) return "<none>";
  return out;
}

TEST(CpuCount, ProcSelfCgroupGivesThePathOfEachHierarchy) {
  // Unified (v2 only).
  EXPECT_EQ(CgroupPath("0::/user.slice/user-1000.slice/session-2.scope\n", 1),
            "/user.slice/user-1000.slice/session-2.scope");
  EXPECT_EQ(CgroupPath("0::/user.slice\n", 0), "<none>");
  // Hybrid: v1 controllers plus an empty v2 hierarchy; "cpuset" is not "cpu".
  const char *hybrid =
      "9:name=systemd:/\n8:pids:/\n4:memory:/x/y\n3:cpuset:/set\n2:cpuacct:/acct\n"
      "1:cpu:/job/7\n0::/\n";
  EXPECT_EQ(CgroupPath(hybrid, 0), "/job/7");
  EXPECT_EQ(CgroupPath(hybrid, 1), "/");
  // Docker on v1: cpu shares a hierarchy with cpuacct.
  const char *docker = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n";
  EXPECT_EQ(CgroupPath(docker, 0), "/docker/abc");
  EXPECT_EQ(CgroupPath(docker, 1), "<none>");
  EXPECT_EQ(CgroupPath("4:cpuacct,cpu:/z", 0), "/z");  // no final newline
  // A path with a colon in it stays whole.
  EXPECT_EQ(CgroupPath("0::/a:b/c\n", 1), "/a:b/c");
  // Nothing usable.
  EXPECT_EQ(CgroupPath("", 1), "<none>");
  EXPECT_EQ(CgroupPath("garbage\n", 0), "<none>");
  EXPECT_EQ(CgroupPath("3:cpuset:/only\n", 0), "<none>");
  // Too long for the output buffer: refused, not truncated.
  char small[4];
  EXPECT_EQ(semcl_parse_proc_cgroup("0::/abcdef\n", 1, small, sizeof small), 0);
}

struct Mount {
  std::string point, root;
};

Mount MountOf(const char *text, int v2) {
  char point[256], root[256];
  if (!semcl_parse_mountinfo(text, v2, point, root, sizeof point)) return {"<none>", ""};
  return {point, root};
}

TEST(CpuCount, MountinfoGivesTheMountOfEachHierarchy) {
  const char *hybrid =
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
      "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
      "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
  EXPECT_EQ(MountOf(hybrid, 0).point, "/sys/fs/cgroup/cpu");
  EXPECT_EQ(MountOf(hybrid, 0).root, "/");
  EXPECT_EQ(MountOf(hybrid, 1).point, "/sys/fs/cgroup/unified");
  // Optional fields before the separator; a v1 mount of a container's own cgroup.
  const char *docker =
      "1270 1262 0:27 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid shared:9 master:3 - "
      "cgroup cgroup rw,cpu,cpuacct\n";
  EXPECT_EQ(MountOf(docker, 0).point, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(MountOf(docker, 0).root, "/docker/abc");
  EXPECT_EQ(MountOf(docker, 1).point, "<none>");
  // Unified: cgroup2 at /sys/fs/cgroup; escaped blanks in paths are decoded.
  const char *unified =
      "25 30 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
      "90 25 0:22 /my\\040job /mnt/cg\\040x rw - cgroup2 cgroup2 rw\n";
  EXPECT_EQ(MountOf(unified, 1).point, "/sys/fs/cgroup");  // the first match
  EXPECT_EQ(MountOf(unified, 0).point, "<none>");
  const char *escaped = "90 25 0:22 /my\\040job /mnt/cg\\040x rw - cgroup2 cgroup2 rw\n";
  EXPECT_EQ(MountOf(escaped, 1).point, "/mnt/cg x");
  EXPECT_EQ(MountOf(escaped, 1).root, "/my job");
  // A filesystem merely named like a cgroup in another field does not match.
  EXPECT_EQ(MountOf("40 1 0:5 / /cgroup rw - tmpfs cgroup rw,cpu\n", 0).point, "<none>");
  EXPECT_EQ(MountOf("", 1).point, "<none>");
  EXPECT_EQ(MountOf("short line\n", 1).point, "<none>");
}

// A fake file system for semcl_cgroup_cpu_limit; it also records every path read.
struct FakeFiles {
  std::map<std::string, std::string> files;
  std::vector<std::string> reads;
  static int Read(const char *path, char *buf, size_t size, void *ctx) {
    auto *self = static_cast<FakeFiles *>(ctx);
    self->reads.push_back(path);
    auto it = self->files.find(path);
    if (it == self->files.end() || it->second.size() + 1 > size) return 0;
    std::memcpy(buf, it->second.c_str(), it->second.size() + 1);
    return 1;
  }
  int Limit() { return semcl_cgroup_cpu_limit(Read, this); }
};

const char kUnifiedMounts[] = "25 30 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";

TEST(CpuCount, CgroupV2LimitIsTheSmallestOnThePathToTheRoot) {
  FakeFiles fs;
  fs.files["/proc/self/cgroup"] = "0::/kube/pod1/app\n";
  fs.files["/proc/self/mountinfo"] = kUnifiedMounts;
  EXPECT_EQ(fs.Limit(), 0);  // no cpu.max anywhere
  fs.files["/sys/fs/cgroup/kube/pod1/app/cpu.max"] = "max 100000\n";
  fs.files["/sys/fs/cgroup/kube/pod1/cpu.max"] = "250000 100000\n";
  fs.files["/sys/fs/cgroup/kube/cpu.max"] = "max 100000\n";
  EXPECT_EQ(fs.Limit(), 3);  // set on the parent
  fs.files["/sys/fs/cgroup/kube/pod1/app/cpu.max"] = "150000 100000\n";
  EXPECT_EQ(fs.Limit(), 2);  // the child's is smaller
  fs.files["/sys/fs/cgroup/kube/cpu.max"] = "100000 100000\n";
  EXPECT_EQ(fs.Limit(), 1);  // the grandparent's is smaller still
  // The walk stays inside the hierarchy and reads the mount point last.
  fs.reads.clear();
  fs.Limit();
  const std::vector<std::string> expected = {
      "/proc/self/cgroup", "/proc/self/mountinfo", "/sys/fs/cgroup/kube/pod1/app/cpu.max",
      "/sys/fs/cgroup/kube/pod1/cpu.max", "/sys/fs/cgroup/kube/cpu.max",
      "/sys/fs/cgroup/cpu.max"};
  EXPECT_EQ(fs.reads, expected);
}

TEST(CpuCount, CgroupV1ContainerLimit) {
  FakeFiles fs;
  // Docker without a cgroup namespace: the container sees its own cgroup as the mount's root.
  fs.files["/proc/self/cgroup"] = "11:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n";
  fs.files["/proc/self/mountinfo"] =
      "1270 1262 0:27 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro shared:9 - cgroup cgroup "
      "rw,cpu,cpuacct\n";
  fs.files["/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us"] = "50000\n";
  fs.files["/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us"] = "100000\n";
  EXPECT_EQ(fs.Limit(), 1);
  fs.files["/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us"] = "-1\n";
  EXPECT_EQ(fs.Limit(), 0);
  // A quota without a readable period is no limit.
  fs.files["/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us"] = "300000\n";
  fs.files.erase("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us");
  EXPECT_EQ(fs.Limit(), 0);
  // Host view of a nested v1 group: mount root "/", process in /batch/job.
  FakeFiles host;
  host.files["/proc/self/cgroup"] = "1:cpu:/batch/job\n0::/\n";
  host.files["/proc/self/mountinfo"] =
      "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
      "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
  host.files["/sys/fs/cgroup/cpu/batch/cpu.cfs_quota_us"] = "700000\n";
  host.files["/sys/fs/cgroup/cpu/batch/cpu.cfs_period_us"] = "100000\n";
  host.files["/sys/fs/cgroup/cpu/batch/job/cpu.cfs_quota_us"] = "-1\n";
  host.files["/sys/fs/cgroup/cpu/batch/job/cpu.cfs_period_us"] = "100000\n";
  EXPECT_EQ(host.Limit(), 7);
  // With a v2 limit too (hypothetically), the smaller of the two wins.
  host.files["/sys/fs/cgroup/unified/cpu.max"] = "300000 100000\n";
  EXPECT_EQ(host.Limit(), 3);
}

TEST(CpuCount, MissingOrUnreadableFilesMeanNoLimit) {
  FakeFiles none;
  EXPECT_EQ(none.Limit(), 0);
  FakeFiles no_mount;
  no_mount.files["/proc/self/cgroup"] = "0::/a\n";
  no_mount.files["/proc/self/mountinfo"] = "1 0 0:1 / / rw - ext4 /dev/sda rw\n";
  no_mount.files["/sys/fs/cgroup/a/cpu.max"] = "100000 100000\n";
  EXPECT_EQ(no_mount.Limit(), 0);  // no cgroup2 mount: the file is not looked for
  FakeFiles root;
  root.files["/proc/self/cgroup"] = "0::/\n";
  root.files["/proc/self/mountinfo"] = kUnifiedMounts;
  EXPECT_EQ(root.Limit(), 0);  // the root cgroup has no cpu.max
  root.files["/sys/fs/cgroup/cpu.max"] = "200000 100000\n";  // a namespaced container's own
  EXPECT_EQ(root.Limit(), 2);
}

}  // namespace
