/* raw_enums.c — see raw_enums.h. In C an int converts to an enum type like to its compatible
 * integer type: defined for every value the tests use. */
#include "raw_enums.h"

semcl_status_t semcl_test_raw_status(int value) { return (semcl_status_t)value; }
semcl_backend_t semcl_test_raw_backend(int value) { return (semcl_backend_t)value; }
semcl_reduction_t semcl_test_raw_reduction(int value) { return (semcl_reduction_t)value; }
semcl_loss_kind_t semcl_test_raw_loss_kind(int value) { return (semcl_loss_kind_t)value; }
semcl_cpu_isa_t semcl_test_raw_cpu_isa(int value) { return (semcl_cpu_isa_t)value; }
semcl_dtype_t semcl_test_raw_dtype(int value) { return (semcl_dtype_t)value; }
void semcl_test_set_raw_dtype(semcl_options *options, int value) {
  options->dtype = (semcl_dtype_t)value;
}
void semcl_test_set_raw_gemm_math(semcl_embed_options *embed_options, int value) {
  embed_options->gemm_math = (semcl_gemm_math_t)value;
}
