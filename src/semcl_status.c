/* semcl_status.c — version and status texts. */
#include "semcl/semcl.h"

#define SEMCL_STR2(x) #x
#define SEMCL_STR(x) SEMCL_STR2(x)

unsigned semcl_version_number(void) { return SEMCL_VERSION_NUMBER; }

const char *semcl_version_string(void) {
  return SEMCL_STR(SEMCL_VERSION_MAJOR) "." SEMCL_STR(SEMCL_VERSION_MINOR) "." SEMCL_STR(
      SEMCL_VERSION_PATCH);
}

int semcl_has_cuda_build(void) {
#if defined(SEMCL_HAVE_CUDA)
  return 1;
#else
  return 0;
#endif
}

const char *semcl_status_name(semcl_status_t status) {
  switch (status) {
    case SEMCL_STATUS_SUCCESS: return "SEMCL_STATUS_SUCCESS";
    case SEMCL_STATUS_NULL_CONTEXT: return "SEMCL_STATUS_NULL_CONTEXT";
    case SEMCL_STATUS_NULL_POINTER: return "SEMCL_STATUS_NULL_POINTER";
    case SEMCL_STATUS_INVALID_SIZE: return "SEMCL_STATUS_INVALID_SIZE";
    case SEMCL_STATUS_SIZE_OVERFLOW: return "SEMCL_STATUS_SIZE_OVERFLOW";
    case SEMCL_STATUS_NON_FINITE_SCALAR: return "SEMCL_STATUS_NON_FINITE_SCALAR";
    case SEMCL_STATUS_INVALID_ENUM: return "SEMCL_STATUS_INVALID_ENUM";
    case SEMCL_STATUS_ALIASING: return "SEMCL_STATUS_ALIASING";
    case SEMCL_STATUS_BACKEND_UNAVAILABLE: return "SEMCL_STATUS_BACKEND_UNAVAILABLE";
    case SEMCL_STATUS_WRONG_MEMORY_SPACE: return "SEMCL_STATUS_WRONG_MEMORY_SPACE";
    case SEMCL_STATUS_OUT_OF_MEMORY: return "SEMCL_STATUS_OUT_OF_MEMORY";
    case SEMCL_STATUS_CUDA_ERROR: return "SEMCL_STATUS_CUDA_ERROR";
    case SEMCL_STATUS_INVALID_VALUE: return "SEMCL_STATUS_INVALID_VALUE";
    case SEMCL_STATUS_INTERNAL_ERROR: return "SEMCL_STATUS_INTERNAL_ERROR";
  }
  return "SEMCL_STATUS_UNKNOWN";
}

const char *semcl_status_string(semcl_status_t status) {
  switch (status) {
    case SEMCL_STATUS_SUCCESS: return "success";
    case SEMCL_STATUS_NULL_CONTEXT: return "the context is NULL";
    case SEMCL_STATUS_NULL_POINTER: return "a required pointer argument is NULL";
    case SEMCL_STATUS_INVALID_SIZE: return "a size argument is zero or negative";
    case SEMCL_STATUS_SIZE_OVERFLOW: return "the sizes overflow a 64-bit element or byte count";
    case SEMCL_STATUS_NON_FINITE_SCALAR: return "lambda or grad_scale is NaN or infinite";
    case SEMCL_STATUS_INVALID_ENUM: return "an enum argument has an unknown value";
    case SEMCL_STATUS_ALIASING: return "an output overlaps an input or another output";
    case SEMCL_STATUS_BACKEND_UNAVAILABLE:
      return "the requested backend is not built in or has no usable device";
    case SEMCL_STATUS_WRONG_MEMORY_SPACE:
      return "a pointer is in the wrong memory space for this context (host vs device)";
    case SEMCL_STATUS_OUT_OF_MEMORY: return "out of memory";
    case SEMCL_STATUS_CUDA_ERROR: return "a CUDA runtime call failed";
    case SEMCL_STATUS_INVALID_VALUE: return "an argument has an invalid value";
    case SEMCL_STATUS_INTERNAL_ERROR: return "internal error in semcl";
  }
  return "unknown status code";
}
