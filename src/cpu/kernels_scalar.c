/* kernels_scalar.c — the CPU loss kernels at the scalar level: the primitives of
 * simd/simd_scalar.h under the one kernel body (kernels_body.h). CMake compiles this file with
 * the level's instruction-set flags; the library calls it only on CPUs that have them. */
#include "simd/simd_scalar.h"

#include "kernels_body.h"
#include "embed_body.h"
