# tests/cuda — CUDA backend: CPU-vs-CUDA bitwise parity, memory-space checks, streams,
# caller workspace. Included by tests/CMakeLists.txt (paths relative to this file).
#
# In a build without CUDA the same tests are compiled without the CUDA runtime and every one
# of them is skipped with the reason, so the summary shows them honestly as not run.
semcl_add_test(test_cuda_backend ${CMAKE_CURRENT_LIST_DIR}/test_cuda_backend.cpp)
if(SEMCL_HAVE_CUDA)
  target_compile_definitions(test_cuda_backend PRIVATE SEMCL_TEST_HAVE_CUDART=1)
  target_link_libraries(test_cuda_backend PRIVATE CUDA::cudart)
else()
  target_compile_definitions(test_cuda_backend PRIVATE SEMCL_TEST_HAVE_CUDART=0)
endif()
