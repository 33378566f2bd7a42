# tests/core/tests.cmake — the core GoogleTest suite (issue 2), included by tests/CMakeLists.txt
# (which defines semcl_add_test). Every group is one executable; the shared helpers are in
# core_util.h next to them and in tests/support/.
set(_semcl_core ${CMAKE_CURRENT_LIST_DIR})
foreach(_semcl_t IN ITEMS test_finite_difference test_random_shapes test_determinism
                          test_nonfinite test_bad_arguments test_math test_canonical_order
                          test_options
                          test_workspace)
  semcl_add_test(${_semcl_t} ${_semcl_core}/${_semcl_t}.cpp)
  target_include_directories(${_semcl_t} PRIVATE ${_semcl_core})
endforeach()
foreach(_semcl_t IN ITEMS test_finite_difference test_random_shapes test_determinism
                          test_nonfinite test_options test_workspace)
  semcl_add_isa_runs(${_semcl_t})
endforeach()

# ---- the CPU thread runtime, tested from the inside -----------------------------------------
# Its two sources compiled once more, into the tests that call them directly, with the hook
# that lets a test make pthread_create fail (SEMCL_POOL_TEST_HOOKS). The library's own copies
# are hidden symbols of libsemcl and do not clash.
add_library(semcl_cpu_runtime_for_tests STATIC
  ${PROJECT_SOURCE_DIR}/src/cpu/thread_pool.c
  ${PROJECT_SOURCE_DIR}/src/cpu/cpu_count.c)
set_target_properties(semcl_cpu_runtime_for_tests PROPERTIES
  C_STANDARD 11 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_compile_definitions(semcl_cpu_runtime_for_tests PRIVATE
  SEMCL_POOL_TEST_HOOKS _POSIX_C_SOURCE=200809L)
target_include_directories(semcl_cpu_runtime_for_tests
  PUBLIC ${PROJECT_SOURCE_DIR}/src/cpu PRIVATE ${PROJECT_SOURCE_DIR}/include)
target_link_libraries(semcl_cpu_runtime_for_tests PUBLIC Threads::Threads PRIVATE semcl_c_flags)

foreach(_semcl_t IN ITEMS test_thread_pool test_threads test_cpu_count)
  semcl_add_test(${_semcl_t} ${_semcl_core}/${_semcl_t}.cpp)
  target_include_directories(${_semcl_t} PRIVATE ${_semcl_core})
  target_link_libraries(${_semcl_t} PRIVATE semcl_cpu_runtime_for_tests Threads::Threads)
endforeach()

# Several application threads, each with its own context, through the public API only (the
# test that runs under ThreadSanitizer).
semcl_add_test(test_concurrency ${_semcl_core}/test_concurrency.cpp)
target_include_directories(test_concurrency PRIVATE ${_semcl_core})
target_link_libraries(test_concurrency PRIVATE Threads::Threads)

# ---- README example -----------------------------------------------------------------------
# README.md holds exactly one C example, fenced as
#
#   <!-- example:begin -->
#   ```c
#   ...a complete C11 program...
#   ```
#   <!-- example:end -->
#
# It is extracted at configure time (re-run whenever README.md changes), compiled as C11
# against semcl with warnings as errors, and run as the ctest test ReadmeExample (it must exit
# 0). A missing README, missing or repeated markers, or no ```c fence between them do not skip
# the test: ReadmeExample then fails with the reason.
set(_semcl_readme ${PROJECT_SOURCE_DIR}/README.md)
set(_semcl_readme_problem "")
if(EXISTS ${_semcl_readme})
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_semcl_readme})
  file(READ ${_semcl_readme} _semcl_md)
  string(REPLACE "\r\n" "\n" _semcl_md "${_semcl_md}")
  set(_semcl_begin_marker "<!-- example:begin -->")
  set(_semcl_end_marker "<!-- example:end -->")
  string(FIND "${_semcl_md}" "${_semcl_begin_marker}" _semcl_begin)
  string(FIND "${_semcl_md}" "${_semcl_begin_marker}" _semcl_begin_last REVERSE)
  string(FIND "${_semcl_md}" "${_semcl_end_marker}" _semcl_end)
  string(FIND "${_semcl_md}" "${_semcl_end_marker}" _semcl_end_last REVERSE)
  if(_semcl_begin EQUAL -1 OR _semcl_end EQUAL -1)
    set(_semcl_readme_problem "README.md lacks the line ${_semcl_begin_marker} or ${_semcl_end_marker}")
  elseif(NOT _semcl_begin EQUAL _semcl_begin_last OR NOT _semcl_end EQUAL _semcl_end_last)
    set(_semcl_readme_problem "README.md has more than one ${_semcl_begin_marker} ... ${_semcl_end_marker} block")
  elseif(NOT _semcl_begin LESS _semcl_end)
    set(_semcl_readme_problem "README.md: ${_semcl_end_marker} comes before ${_semcl_begin_marker}")
  else()
    string(LENGTH "${_semcl_begin_marker}" _semcl_len)
    math(EXPR _semcl_from "${_semcl_begin} + ${_semcl_len}")
    math(EXPR _semcl_len "${_semcl_end} - ${_semcl_from}")
    string(SUBSTRING "${_semcl_md}" ${_semcl_from} ${_semcl_len} _semcl_block)
    # The block must be exactly one ```c fence (blank lines around it allowed).
    string(FIND "${_semcl_block}" "```c\n" _semcl_open)
    if(_semcl_open EQUAL -1)
      set(_semcl_readme_problem "README.md: no ```c fence between the example markers")
    else()
      math(EXPR _semcl_from "${_semcl_open} + 5")
      string(SUBSTRING "${_semcl_block}" ${_semcl_from} -1 _semcl_code)
      string(FIND "${_semcl_code}" "\n```" _semcl_close)
      if(_semcl_close EQUAL -1)
        set(_semcl_readme_problem "README.md: the ```c fence of the example is not closed")
      else()
        math(EXPR _semcl_close "${_semcl_close} + 1")  # keep the code's last newline
        string(SUBSTRING "${_semcl_code}" 0 ${_semcl_close} _semcl_code)
        string(FIND "${_semcl_code}" "main(" _semcl_main)
        if(_semcl_main EQUAL -1)
          set(_semcl_readme_problem "README.md: the example has no main()")
        endif()
      endif()
    endif()
  endif()
else()
  # Re-configure when the README appears (the directory's time stamp changes).
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR})
  set(_semcl_readme_problem "README.md does not exist")
endif()

if(_semcl_readme_problem STREQUAL "")
  set(_semcl_example ${CMAKE_CURRENT_BINARY_DIR}/readme_example.c)
  # Written through a copy so that an unchanged example does not rebuild.
  file(WRITE ${_semcl_example}.tmp "/* Extracted from README.md at configure time: edit README.md, not this file. */\n${_semcl_code}")
  configure_file(${_semcl_example}.tmp ${_semcl_example} COPYONLY)
  add_executable(readme_example ${_semcl_example})
  set_target_properties(readme_example PROPERTIES
    C_STANDARD 11 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
  target_link_libraries(readme_example PRIVATE semcl::semcl)
  if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(readme_example PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Werror)
  endif()
  add_test(NAME ReadmeExample COMMAND readme_example)
else()
  message(WARNING "ReadmeExample will fail: ${_semcl_readme_problem}")
  set(_semcl_fail_script ${CMAKE_CURRENT_BINARY_DIR}/readme_example_missing.cmake)
  file(WRITE ${_semcl_fail_script}
       "message(FATAL_ERROR [==[${_semcl_readme_problem} (see tests/core/tests.cmake for the format)]==])\n")
  add_test(NAME ReadmeExample COMMAND ${CMAKE_COMMAND} -P ${_semcl_fail_script})
endif()
