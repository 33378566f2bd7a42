/* raw_enums.h — out-of-range enum arguments for the tests, made in C.
 *
 * The library must refuse any int that a C caller passes as an enum. C++ cannot produce such a
 * value itself: converting an int outside an enumeration's range to the enum type is undefined
 * behaviour in C++ (UBSan reports the load). C can (an enum object holds any value of its
 * compatible integer type), so these helpers build the value in C. Pass their result straight
 * to the library call; never keep it in a C++ variable of the enum type. */
#ifndef SEMCL_TEST_RAW_ENUMS_H
#define SEMCL_TEST_RAW_ENUMS_H

#include "semcl/semcl.h"

#ifdef __cplusplus
extern "C" {
#endif

semcl_status_t semcl_test_raw_status(int value);
semcl_backend_t semcl_test_raw_backend(int value);
semcl_reduction_t semcl_test_raw_reduction(int value);
semcl_loss_kind_t semcl_test_raw_loss_kind(int value);
semcl_cpu_isa_t semcl_test_raw_cpu_isa(int value);
semcl_dtype_t semcl_test_raw_dtype(int value);
/* options->dtype = value, written in C (the C++ test never reads the field back). */
void semcl_test_set_raw_dtype(semcl_options *options, int value);
/* embed_options->gemm_math = value, likewise. */
void semcl_test_set_raw_gemm_math(semcl_embed_options *embed_options, int value);

#ifdef __cplusplus
}
#endif

#endif
