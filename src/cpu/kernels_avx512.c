/* kernels_avx512.c — the CPU loss kernels at the avx512 level: the primitives of
 * simd/simd_avx512.h under the one kernel body (kernels_body.h). CMake compiles this file with
 * the level's instruction-set flags; the library calls it only on CPUs that have them. */
#include "simd/simd_avx512.h"

#include "kernels_body.h"
#include "embed_body.h"
