/* fuzz_api.c — the libFuzzer target for semcl's C API (scripts/fuzz builds and runs it).
 *
 * An input is a small program: a fresh CPU context, then up to 12 operations chosen by the
 * input's bytes (loss calls through all six entry points, context settings, the workspace
 * query and caller workspaces, buffers, status texts, context creation), each checked against
 * the header's contract (fuzz_loss.c, fuzz_results.c, fuzz_ops.c), and at the end one known
 * call that must still give the reference's answer: errors leave the context usable. */
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "fuzz_check.h"
#include "fuzz_state.h"

/* The ISA levels the CPU has, found here with CPUID (not by asking the library). */
static void find_isa_levels(int supported[3]) {
  supported[0] = 1;
  supported[1] = supported[2] = 0;
#if defined(__x86_64__)
  unsigned a, b, c, d;
  const int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
  __builtin_cpu_init();
  supported[1] = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
  supported[2] = supported[1] && __builtin_cpu_supports("avx512f") &&
                 __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                 __builtin_cpu_supports("avx512vl");
#endif
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static unsigned char *arena;
  if (!arena) arena = (unsigned char *)aligned_alloc(64, FUZZ_ARENA_BYTES);
  fuzz_reader r = {data, size};
  fuzz_state s = {0};
  s.arena = arena;
  find_isa_levels(s.supported);
  FUZZ_CHECK(semcl_create(&s.ctx, SEMCL_BACKEND_CPU) == SEMCL_STATUS_SUCCESS, "semcl_create");
  FUZZ_CHECK(semcl_get_cpu_isa(s.ctx, &s.isa) == SEMCL_STATUS_SUCCESS, "semcl_get_cpu_isa");
  FUZZ_CHECK(s.supported[s.isa], "a new context picked ISA level %d, which this CPU lacks",
             (int)s.isa);
  s.pointer_checks = 1;
  s.threads = fuzz_pick(&r, 4);
  FUZZ_CHECK(semcl_set_threads(s.ctx, s.threads) == SEMCL_STATUS_SUCCESS, "semcl_set_threads");

  for (int op = 0; op < 12 && fuzz_left(&r); ++op) {
    switch (fuzz_pick(&r, 10)) {
      case 5: fuzz_settings_op(&s, &r); break;
      case 6: fuzz_workspace_query_op(&s, &r); break;
      case 7: fuzz_workspace_set_op(&s, &r); break;
      case 8: fuzz_buffer_op(&s, &r); break;
      case 9:
        fuzz_status_op(&r);
        fuzz_create_op(&r);
        break;
      default: fuzz_loss_op(&s, &r); break;
    }
  }
  fuzz_context_still_works(&s);
  semcl_destroy(s.ctx);
  return 0;
}
