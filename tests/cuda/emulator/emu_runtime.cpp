// emu_runtime.cpp — runs emulated CUDA kernels on the host: every thread of a block is a fiber
// (ucontext); fibers switch only at __syncthreads, __syncwarp and shuffles, in a seeded random
// order. See include/semcl_emu_cuda.h for what is emulated and why.
//
// A fiber starts with makecontext/setcontext; after that every switch is _setjmp/_longjmp,
// which, unlike swapcontext, does not save the signal mask (a system call per switch: the
// emulation switches millions of times).
#undef _FORTIFY_SOURCE /* its longjmp check refuses jumps between stacks */
#include <setjmp.h>
#include <ucontext.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "semcl_emu.h"
#include "semcl_emu_cuda.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define SEMCL_EMU_ASAN 1
#endif

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

namespace {

constexpr size_t kStackBytes = 256 * 1024;
constexpr int kWarp = 32;

enum class State { kRunnable, kAtBarrier, kAtWarpOp, kDone };

struct Fiber {
  ucontext_t start; /* the first entry */
  jmp_buf resume;   /* where it waits afterwards */
  bool started = false;
  std::vector<char> stack;
  State state = State::kRunnable;
  // The warp operation the fiber waits at.
  int kind = 0, delta = 0;
  unsigned mask = 0;
  size_t bytes = 0;
  unsigned char value[16], result[16];
  void *asan_fake_stack = nullptr; /* ASan's fake stack of the fiber while it is switched out */
};

struct Emulator {
  jmp_buf scheduler;
  std::vector<Fiber> fibers;
  int current = -1;
  unsigned threads = 0;
  const std::function<void()> *body = nullptr;
  std::mt19937_64 rng{1};
  unsigned grid_cap = 3;
  std::string error;
  long launches = 0, blocks = 0;
#if SEMCL_EMU_ASAN
  const void *scheduler_stack = nullptr; /* the thread's own stack, for ASan's fiber API */
  size_t scheduler_stack_size = 0;
  void *scheduler_fake_stack = nullptr;
#endif
} emu;

void Fail(const std::string &what) {
  if (emu.error.empty()) emu.error = what;
}

// Switches from the running fiber back to the scheduler. (Not inlined, here and in Resume:
// no caller's variable lives in a frame that calls _setjmp; what must survive the jump is in
// `emu` or the fiber.)
__attribute__((noinline)) void Yield() {
  Fiber &f = emu.fibers[emu.current];
#if SEMCL_EMU_ASAN
  if (_setjmp(f.resume) == 0) {
    __sanitizer_start_switch_fiber(&f.asan_fake_stack, emu.scheduler_stack,
                                   emu.scheduler_stack_size);
    _longjmp(emu.scheduler, 1);
  }
  __sanitizer_finish_switch_fiber(emu.fibers[emu.current].asan_fake_stack, nullptr, nullptr);
#else
  if (_setjmp(f.resume) == 0) _longjmp(emu.scheduler, 1);
#endif
}

void FiberMain() {
#if SEMCL_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &emu.scheduler_stack, &emu.scheduler_stack_size);
#endif
  (*emu.body)();
  emu.fibers[emu.current].state = State::kDone;
#if SEMCL_EMU_ASAN
  __sanitizer_start_switch_fiber(nullptr, emu.scheduler_stack, emu.scheduler_stack_size);
#endif
  _longjmp(emu.scheduler, 1);
}

__attribute__((noinline)) void Resume(int i) {
  emu.current = i;
  threadIdx = uint3{(unsigned)i, 0, 0};
  Fiber &f = emu.fibers[i];
#if SEMCL_EMU_ASAN
  if (_setjmp(emu.scheduler) == 0) {
    __sanitizer_start_switch_fiber(&emu.scheduler_fake_stack, f.stack.data(), f.stack.size());
    if (!f.started) {
      f.started = true;
      setcontext(&f.start);
    }
    _longjmp(f.resume, 1);
  }
  __sanitizer_finish_switch_fiber(emu.scheduler_fake_stack, nullptr, nullptr);
#else
  if (_setjmp(emu.scheduler) == 0) {
    if (!f.started) {
      f.started = true;
      setcontext(&f.start);
    }
    _longjmp(f.resume, 1);
  }
#endif
  emu.current = -1;
}

// Completes the warp operation of warp w if all its lanes wait at it. Returns whether it did;
// records divergence when the lanes wait at different operations or some have exited.
bool ResolveWarp(int w) {
  Fiber *lanes = &emu.fibers[(size_t)w * kWarp];
  int waiting = 0;
  for (int l = 0; l < kWarp; ++l) waiting += lanes[l].state == State::kAtWarpOp;
  if (waiting == 0) return false;
  if (waiting != kWarp) {
    for (int l = 0; l < kWarp; ++l)
      if (lanes[l].state != State::kAtWarpOp && lanes[l].state != State::kRunnable) {
        Fail("warp " + std::to_string(w) + ": a shuffle/__syncwarp that not every lane reaches");
        return false;
      }
    return false;
  }
  for (int l = 1; l < kWarp; ++l)
    if (lanes[l].kind != lanes[0].kind || lanes[l].delta != lanes[0].delta ||
        lanes[l].bytes != lanes[0].bytes || lanes[l].mask != lanes[0].mask) {
      Fail("warp " + std::to_string(w) + ": lanes at different warp operations");
      return false;
    }
  if (lanes[0].mask != 0xffffffffu) Fail("warp operation with a partial mask");
  if (lanes[0].kind == 4) {  // __ballot_sync: every lane gets the lanes' predicate bits
    unsigned bits = 0;
    for (int l = 0; l < kWarp; ++l) {
      unsigned p;
      std::memcpy(&p, lanes[l].value, sizeof p);
      bits |= (p & 1u) << l;
    }
    for (int l = 0; l < kWarp; ++l) std::memcpy(lanes[l].result, &bits, sizeof bits);
  } else {
    for (int l = 0; l < kWarp; ++l) {
      int src = l;
      if (lanes[l].kind == 1) src = l + lanes[l].delta < kWarp ? l + lanes[l].delta : l;
      if (lanes[l].kind == 2) src = lanes[l].delta & (kWarp - 1);
      if (lanes[l].kind == 3) src = (l ^ lanes[l].delta) & (kWarp - 1);  // __shfl_xor_sync
      std::memcpy(lanes[l].result, lanes[src].value, lanes[l].bytes);
    }
  }
  for (int l = 0; l < kWarp; ++l) lanes[l].state = State::kRunnable;
  return true;
}

// A fiber that starts at FiberMain on its own stack. (getcontext returns twice in principle:
// it gets a frame of its own.)
__attribute__((noinline)) void Prepare(Fiber &f) {
  f.state = State::kRunnable;
  f.started = false;
  getcontext(&f.start);
  f.start.uc_stack.ss_sp = f.stack.data();
  f.start.uc_stack.ss_size = f.stack.size();
  f.start.uc_link = nullptr;
  makecontext(&f.start, FiberMain, 0);
}

void RunBlock() {
  const unsigned n = emu.threads;
  for (unsigned i = 0; i < n; ++i) Prepare(emu.fibers[i]);
  std::vector<int> order;
  while (emu.error.empty()) {
    order.clear();
    for (unsigned i = 0; i < n; ++i)
      if (emu.fibers[i].state == State::kRunnable) order.push_back((int)i);
    if (!order.empty()) {
      std::shuffle(order.begin(), order.end(), emu.rng);
      for (int i : order) Resume(i);
      continue;
    }
    unsigned done = 0, at_barrier = 0;
    for (unsigned i = 0; i < n; ++i) {
      done += emu.fibers[i].state == State::kDone;
      at_barrier += emu.fibers[i].state == State::kAtBarrier;
    }
    if (done == n) return;
    bool progressed = false;
    for (unsigned w = 0; w < n / kWarp; ++w) progressed = ResolveWarp((int)w) || progressed;
    if (progressed || !emu.error.empty()) continue;
    if (at_barrier == n) {
      for (unsigned i = 0; i < n; ++i) emu.fibers[i].state = State::kRunnable;
      continue;
    }
    Fail("deadlock: " + std::to_string(at_barrier) + " threads at __syncthreads, " +
         std::to_string(done) + " exited, the rest at warp operations");
  }
}

}  // namespace

void semcl_emu_launch(unsigned grid, unsigned threads, const std::function<void()> &body) {
  if (!emu.error.empty()) return;
  if (threads == 0 || threads % kWarp != 0 || threads > 1024) {
    Fail("launch with " + std::to_string(threads) + " threads");
    return;
  }
  if (grid == 0) {
    Fail("launch with an empty grid");
    return;
  }
  ++emu.launches;
  const unsigned blocks = std::min(grid, emu.grid_cap);
  if (emu.fibers.size() < threads) emu.fibers.resize(threads);
  for (Fiber &f : emu.fibers)
    if (f.stack.size() != kStackBytes) f.stack.assign(kStackBytes, 0);
  emu.threads = threads;
  emu.body = &body;
  blockDim = dim3(threads);
  gridDim = dim3(blocks);
  // Blocks in a random order: nothing may depend on which block runs first.
  std::vector<unsigned> ids(blocks);
  for (unsigned b = 0; b < blocks; ++b) ids[b] = b;
  std::shuffle(ids.begin(), ids.end(), emu.rng);
  for (unsigned b : ids) {
    blockIdx = uint3{b, 0, 0};
    ++emu.blocks;
    RunBlock();
    if (!emu.error.empty()) return;
  }
}

void __syncthreads() {
  emu.fibers[emu.current].state = State::kAtBarrier;
  Yield();
}

void semcl_emu_exchange(unsigned mask, const void *value, void *out, size_t bytes, int kind,
                        int delta) {
  Fiber &f = emu.fibers[emu.current];
  f.state = State::kAtWarpOp;
  f.kind = kind;
  f.delta = delta;
  f.mask = mask;
  f.bytes = bytes;
  if (bytes) std::memcpy(f.value, value, bytes);
  Yield();
  if (bytes) std::memcpy(out, emu.fibers[emu.current].result, bytes);
}

void __syncwarp(unsigned mask) { semcl_emu_exchange(mask, nullptr, nullptr, 0, 0, 0); }

void semcl_emu_reset(uint64_t seed, unsigned grid_cap) {
  emu.rng.seed(seed);
  emu.grid_cap = grid_cap ? grid_cap : 1;
  emu.error.clear();
}

const char *semcl_emu_error() { return emu.error.c_str(); }

long semcl_emu_blocks_run() { return emu.blocks; }
