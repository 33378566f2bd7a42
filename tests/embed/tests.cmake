# tests/embed — the embedding calls (issue 8): accuracy against the fp64 reference with the
# documented bounds, finite differences of the reference, exact relations (bitwise), argument
# errors, bf16/fp16 embeddings, and CPU-vs-CUDA parity. Included by tests/CMakeLists.txt.
target_sources(semcl_test_support PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../support/reference_embed.c)
set(_semcl_embed ${CMAKE_CURRENT_LIST_DIR})
foreach(_semcl_t IN ITEMS test_embed_accuracy test_embed_fd test_embed_exact
                          test_embed_bad_arguments test_embed_dtypes)
  semcl_add_test(${_semcl_t} ${_semcl_embed}/${_semcl_t}.cpp)
  target_include_directories(${_semcl_t} PRIVATE ${_semcl_embed})
endforeach()
# Every CPU instruction-set level once more for the exact relations (test_embed_exact also
# compares the levels with each other in one process), and the accuracy suite once more with
# semcl's builtin GEMM instead of the BLAS (when one is built).
semcl_add_isa_runs(test_embed_exact)
semcl_add_isa_runs(test_embed_dtypes)
if(SEMCL_HAVE_BLAS)
  gtest_discover_tests(test_embed_accuracy DISCOVERY_TIMEOUT 60 TEST_PREFIX "gemm_builtin:"
                       TEST_FILTER "*CPU*:-*CUDA*"
                       PROPERTIES ENVIRONMENT "SEMCL_CPU_GEMM=builtin")
endif()

# CPU vs CUDA (every test skips without a usable device).
semcl_add_test(test_embed_cuda ${_semcl_embed}/test_embed_cuda.cpp)
target_include_directories(test_embed_cuda PRIVATE ${_semcl_embed})
if(SEMCL_HAVE_CUDA)
  target_compile_definitions(test_embed_cuda PRIVATE SEMCL_TEST_HAVE_CUDART=1)
  target_link_libraries(test_embed_cuda PRIVATE
                        $<IF:$<BOOL:${SEMCL_STATIC_TEST_DEPS}>,CUDA::cudart_static,CUDA::cudart>)
else()
  target_compile_definitions(test_embed_cuda PRIVATE SEMCL_TEST_HAVE_CUDART=0)
endif()

# The CUDA kernels emulated on the host (tests/cuda/emulator), against the CPU backend bit for
# bit (per-row, loss 1) and the fp64 reference (shared pool, with a host GEMM in place of
# cuBLAS). Runs on every machine, GPU or not.
set(_semcl_emu ${PROJECT_SOURCE_DIR}/tests/cuda/emulator)
semcl_add_test(test_embed_emulated
  ${_semcl_embed}/emulated/test_embed_emulated.cpp
  ${_semcl_embed}/emulated/emu_embed_kernels.cpp
  ${_semcl_emu}/emu_runtime.cpp)
target_include_directories(test_embed_emulated BEFORE PRIVATE
  ${_semcl_emu}/include ${_semcl_emu} ${PROJECT_SOURCE_DIR}/cuda ${PROJECT_SOURCE_DIR}/src
  ${_semcl_embed})
# The emulator's compile options, as tests/cuda/tests.cmake (included first) gives them to
# test_cuda_emulated: exact shared arithmetic (-ffp-contract=off) and, under AddressSanitizer,
# no fake stacks for the fibers.
get_target_property(_semcl_emu_options test_cuda_emulated COMPILE_OPTIONS)
target_compile_options(test_embed_emulated PRIVATE ${_semcl_emu_options})
