/* cpu_isa.c — which instruction-set level a context's CPU kernels use.
 *
 * The level is chosen once per context: the best one this CPU (and its operating system)
 * supports, or a lower one named by the environment variable SEMCL_CPU_ISA. Every level
 * computes the same bits, so the choice only changes the speed. */
#include <stdlib.h>
#include <string.h>

#if defined(SEMCL_CPU_X86)
#include <cpuid.h>
#endif

#include "cpu_kernels.h"
#include "embed_kernels.h"

#if defined(SEMCL_CPU_X86)
/* F16C from CPUID leaf 1 (ECX bit 29): clang 14's __builtin_cpu_supports does not know "f16c".
 * Its register state is the AVX state, which __builtin_cpu_supports("avx2") has checked. */
static int cpu_has_f16c(void) {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
  return (ecx & bit_F16C) != 0;
}
#endif

int semcl_cpu_isa_supported(semcl_cpu_isa_t isa) {
  switch (isa) {
    case SEMCL_CPU_ISA_SCALAR: return 1;
#if defined(SEMCL_CPU_X86)
    /* __builtin_cpu_supports also checks that the OS saves the vector registers (XCR0). */
    case SEMCL_CPU_ISA_AVX2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    case SEMCL_CPU_ISA_AVX512:
      return semcl_cpu_isa_supported(SEMCL_CPU_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vl");
#else
    case SEMCL_CPU_ISA_AVX2:
    case SEMCL_CPU_ISA_AVX512: return 0;
#endif
  }
  return 0;
}

semcl_cpu_isa_t semcl_cpu_isa_best(void) {
  if (semcl_cpu_isa_supported(SEMCL_CPU_ISA_AVX512)) return SEMCL_CPU_ISA_AVX512;
  if (semcl_cpu_isa_supported(SEMCL_CPU_ISA_AVX2)) return SEMCL_CPU_ISA_AVX2;
  return SEMCL_CPU_ISA_SCALAR;
}

semcl_cpu_isa_t semcl_cpu_isa_default(void) {
  const semcl_cpu_isa_t best = semcl_cpu_isa_best();
  const char *name = getenv("SEMCL_CPU_ISA");
  if (!name) return best;
  for (int isa = SEMCL_CPU_ISA_SCALAR; isa <= SEMCL_CPU_ISA_AVX512; ++isa)
    if (strcmp(name, semcl_cpu_isa_name((semcl_cpu_isa_t)isa)) == 0 &&
        semcl_cpu_isa_supported((semcl_cpu_isa_t)isa))
      return (semcl_cpu_isa_t)isa;
  return best; /* unknown name or a level the CPU lacks: documented as ignored */
}

const semcl_cpu_kernels *semcl_cpu_kernels_for(semcl_cpu_isa_t isa) {
  switch (isa) {
#if defined(SEMCL_CPU_X86)
    case SEMCL_CPU_ISA_AVX512: return &semcl_cpu_kernels_avx512;
    case SEMCL_CPU_ISA_AVX2: return &semcl_cpu_kernels_avx2;
#else
    case SEMCL_CPU_ISA_AVX512:
    case SEMCL_CPU_ISA_AVX2:
#endif
    case SEMCL_CPU_ISA_SCALAR: break;
  }
  return &semcl_cpu_kernels_scalar;
}

const semcl_cpu_embed_kernels *semcl_cpu_embed_kernels_for(semcl_cpu_isa_t isa) {
  switch (isa) {
#if defined(SEMCL_CPU_X86)
    case SEMCL_CPU_ISA_AVX512: return &semcl_cpu_embed_kernels_avx512;
    case SEMCL_CPU_ISA_AVX2: return &semcl_cpu_embed_kernels_avx2;
#else
    case SEMCL_CPU_ISA_AVX512:
    case SEMCL_CPU_ISA_AVX2:
#endif
    case SEMCL_CPU_ISA_SCALAR: break;
  }
  return &semcl_cpu_embed_kernels_scalar;
}

const char *semcl_cpu_isa_name(semcl_cpu_isa_t isa) {
  switch (isa) {
    case SEMCL_CPU_ISA_SCALAR: return "scalar";
    case SEMCL_CPU_ISA_AVX2: return "avx2";
    case SEMCL_CPU_ISA_AVX512: return "avx512";
  }
  return "unknown";
}
