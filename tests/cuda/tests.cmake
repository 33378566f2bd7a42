# tests/cuda — CUDA backend: CPU-vs-CUDA bitwise parity, memory-space checks, streams,
# caller workspace (test_cuda_backend); the backend's host side: order across streams, the
# AUTO fallback, pointer-check switch, devices, the caller's CUDA error state (test_cuda_host).
# Included by tests/CMakeLists.txt (paths relative to this file).
#
# In a build without CUDA the same tests are compiled without the CUDA runtime and every one
# of them that needs a device is skipped with the reason, so the summary shows them honestly
# as not run. With SEMCL_STATIC_TEST_DEPS (the GPU pack) the CUDA runtime is linked statically.
if(SEMCL_HAVE_CUDA)
  if(SEMCL_STATIC_TEST_DEPS)
    set(_semcl_test_cudart CUDA::cudart_static)
  else()
    set(_semcl_test_cudart CUDA::cudart)
  endif()
endif()

semcl_add_test(test_cuda_backend ${CMAKE_CURRENT_LIST_DIR}/test_cuda_backend.cpp
  ${CMAKE_CURRENT_LIST_DIR}/parity_cases.cpp)
semcl_add_test(test_cuda_host ${CMAKE_CURRENT_LIST_DIR}/test_cuda_host.cpp
               ${CMAKE_CURRENT_LIST_DIR}/cuda_test_runtime.cpp)
target_compile_definitions(test_cuda_host PRIVATE
  SEMCL_TEST_HOOKS_BUILT=$<IF:$<BOOL:${SEMCL_TEST_HOOKS}>,1,0>)
foreach(_semcl_t IN ITEMS test_cuda_backend test_cuda_host)
  if(SEMCL_HAVE_CUDA)
    target_compile_definitions(${_semcl_t} PRIVATE SEMCL_TEST_HAVE_CUDART=1)
    target_link_libraries(${_semcl_t} PRIVATE ${_semcl_test_cudart})
  else()
    target_compile_definitions(${_semcl_t} PRIVATE SEMCL_TEST_HAVE_CUDART=0)
  endif()
endforeach()
# The same kernels emulated on the host (tests/cuda/emulator): the CUDA launch sequence and
# kernels, compiled as C++ against a fiber-per-thread emulation of the CUDA runtime, against
# the CPU backend bit for bit. Runs on every machine, GPU or not.
set(SEMCL_EMU_DIR ${CMAKE_CURRENT_LIST_DIR}/emulator)
semcl_add_test(test_cuda_emulated
  ${SEMCL_EMU_DIR}/test_cuda_emulated.cpp
  ${SEMCL_EMU_DIR}/emu_runtime.cpp
  ${SEMCL_EMU_DIR}/emu_kernels.cpp
  ${CMAKE_CURRENT_LIST_DIR}/parity_cases.cpp)
target_include_directories(test_cuda_emulated BEFORE PRIVATE
  ${SEMCL_EMU_DIR}/include ${SEMCL_EMU_DIR} ${PROJECT_SOURCE_DIR}/cuda ${PROJECT_SOURCE_DIR}/src
  ${CMAKE_CURRENT_LIST_DIR})
# The kernels' arithmetic must be the shared definitions, exactly (as in the library).
target_compile_options(test_cuda_emulated PRIVATE -ffp-contract=off)
# Under AddressSanitizer the emulated kernels run on fiber stacks that the scheduler leaves with
# _longjmp; ASan's fake stacks (stack-use-after-return detection) do not follow such switches
# and report the scheduler's frames as returned (clang 14). Heap, global and stack-overflow
# checks stay on; only this target's frames live on the real stack.
if(SEMCL_SANITIZE MATCHES "address")
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    target_compile_options(test_cuda_emulated PRIVATE -fsanitize-address-use-after-return=never)
  else()
    target_compile_options(test_cuda_emulated PRIVATE --param=asan-use-after-return=0)
  endif()
endif()
