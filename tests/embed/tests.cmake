# tests/embed — the embedding calls (issue 8): accuracy against the fp64 reference with the
# documented bounds, finite differences of the reference, exact relations (bitwise), argument
# errors, and CPU-vs-CUDA parity. Included by tests/CMakeLists.txt.
target_sources(semcl_test_support PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../support/reference_embed.c)
set(_semcl_embed ${CMAKE_CURRENT_LIST_DIR})
foreach(_semcl_t IN ITEMS test_embed_accuracy)
  semcl_add_test(${_semcl_t} ${_semcl_embed}/${_semcl_t}.cpp)
  target_include_directories(${_semcl_t} PRIVATE ${_semcl_embed})
endforeach()
