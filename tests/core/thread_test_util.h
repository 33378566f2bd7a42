// thread_test_util.h — helpers for the thread-runtime tests: counting the pool's worker threads,
// running a check in a forked child (with a deadlock timeout), and one library call on
// buffers allocated up front (so that a child can lower its resource limits first) compared
// bit for bit without GoogleTest (a child's failures must reach the parent as an exit code).
#pragma once

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "core_util.h"

// Sanitizer builds: which runtime is in (gcc defines __SANITIZE_*, clang has __has_feature).
// SEMCL_TEST_SHADOW_MEMORY: the runtime maps shadow memory on demand, so an address-space
// limit kills it before the code under test is reached.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SEMCL_TEST_TSAN 1
#endif
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define SEMCL_TEST_SHADOW_MEMORY 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SEMCL_TEST_TSAN 1
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SEMCL_TEST_SHADOW_MEMORY 1
#endif
#if defined(SEMCL_TEST_TSAN) && !defined(SEMCL_TEST_SHADOW_MEMORY)
#define SEMCL_TEST_SHADOW_MEMORY 1
#endif

namespace semcl_thread_test {

using semcl_core_test::Problem;

// Worker threads of semcl pools in this process now: threads named "semcl-worker" (the
// name the pool gives its workers). Other threads — a sanitizer's background thread, a
// runtime's helpers — are not counted. -1 when /proc cannot be read.
inline int PoolWorkerCount() {
  DIR *dir = opendir("/proc/self/task");
  if (!dir) return -1;
  int n = 0;
  while (const dirent *e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string name;
    if (std::getline(comm, name) && name == "semcl-worker") ++n;
  }
  closedir(dir);
  return n;
}

// Address space in use now, bytes (VmSize).
inline long long ProcessVmBytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmSize:", 0) == 0) return std::stoll(line.substr(7)) * 1024;
  return -1;
}

struct ChildOutcome {
  bool finished = false;  // false: killed after the timeout (a deadlock)
  int exit_code = -1;     // -1: ended by a signal
  int signal = 0;
  std::string output;     // what the child wrote to stdout and stderr
};

// Runs body() in a forked child (its return value is the exit code) and waits at most
// timeout_s for it. The child ends with _exit: no destructors, no GoogleTest reporting.
inline ChildOutcome RunInChild(const std::function<int()> &body, int timeout_s = 60) {
  ChildOutcome out;
  int fds[2];
  if (pipe(fds) != 0) {
    out.output = "pipe failed";
    return out;
  }
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    out.output = "fork failed";
    close(fds[0]);
    close(fds[1]);
    return out;
  }
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    const int code = body();
    std::fflush(nullptr);
    _exit(code);
  }
  close(fds[1]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p = {fds[0], POLLIN, 0};
    if (poll(&p, 1, (int)left.count()) <= 0) continue;
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;  // EOF: the child has exited (or closed its output)
    out.output.append(buf, (size_t)n);
  }
  close(fds[0]);
  int status = 0;
  for (;;) {
    const pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) {
      out.finished = true;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return out;
    }
    usleep(10000);
  }
  if (WIFEXITED(status)) out.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) out.signal = WTERMSIG(status);
  return out;
}

inline std::string Describe(const ChildOutcome &c) {
  std::string s = c.finished ? "" : "child timed out (deadlock?) and was killed; ";
  if (c.finished)
    s += c.signal ? "child killed by signal " + std::to_string(c.signal) + "; "
                  : "child exit code " + std::to_string(c.exit_code) + "; ";
  return s + "output:\n" + c.output;
}

// One forward_backward call (all gradients) with every buffer allocated up front.
struct PreparedCall {
  Problem p;
  std::vector<float> loss, ctr, aux, graw, gpos, gneg;

  explicit PreparedCall(const Problem &problem) : p(problem) {
    const size_t nl = semcl_core_test::LossCount(p);
    const float poison = semcl_test::PoisonValue();
    loss.assign(nl, poison);
    ctr.assign(nl, poison);
    aux.assign(nl, poison);
    graw.assign((size_t)p.B, poison);
    gpos.assign((size_t)p.B, poison);
    if (p.pairwise) gneg.assign((size_t)(p.B * p.K), poison);
  }

  semcl_status_t Run(semcl_context *ctx) {
    const float *up = p.upstream.empty() ? nullptr : p.upstream.data();
    if (p.pairwise)
      return semcl_pos_neg_forward_backward(ctx, p.B, p.K, p.raw.data(), p.pos.data(),
                                            p.neg.data(), p.y.data(), p.lambda, p.reduction,
                                            p.grad_scale, up, loss.data(), ctr.data(),
                                            aux.data(), graw.data(), gpos.data(), gneg.data());
    return semcl_positive_only_forward_backward(ctx, p.B, p.raw.data(), p.pos.data(),
                                                p.y.data(), p.lambda, p.reduction, p.grad_scale,
                                                up, loss.data(), ctr.data(), aux.data(),
                                                graw.data(), gpos.data());
  }

  // Index of the first output element whose bits differ from `other`'s, or "" when all match.
  std::string FirstDifference(const PreparedCall &o) const {
    const std::vector<float> *mine[] = {&loss, &ctr, &aux, &graw, &gpos, &gneg};
    const std::vector<float> *theirs[] = {&o.loss, &o.ctr, &o.aux, &o.graw, &o.gpos, &o.gneg};
    const char *names[] = {"loss", "loss_ctr", "loss_aux", "grad_raw", "grad_pos", "grad_neg"};
    for (int v = 0; v < 6; ++v) {
      if (mine[v]->size() != theirs[v]->size()) return std::string(names[v]) + " size";
      for (size_t i = 0; i < mine[v]->size(); ++i)
        if (semcl_core_test::Bits((*mine[v])[i]) != semcl_core_test::Bits((*theirs[v])[i]))
          return std::string(names[v]) + "[" + std::to_string(i) + "]";
    }
    return "";
  }
};

}  // namespace semcl_thread_test
