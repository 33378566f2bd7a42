# semclSanitize.cmake — the sanitizer build option (included once, from the top CMakeLists.txt,
# before any target).
#
#   -DSEMCL_SANITIZE=address,undefined   AddressSanitizer + UndefinedBehaviorSanitizer
#   -DSEMCL_SANITIZE=thread              ThreadSanitizer
#   (any list that -fsanitize= accepts; empty = off, the default)
#
# Instruments every C and C++ target defined after this point: the library, the tests, the
# benchmark. Undefined behaviour stops the program (-fno-sanitize-recover), so a finding fails
# its test instead of scrolling past. The test programs carry their own run-time defaults
# (tests/support/sanitizer_options.c; ASAN_OPTIONS etc. in the environment override them).
# Works with gcc and clang; clang needs its runtime libraries (Debian: libclang-rt-14-dev).
# CUDA objects are not instrumented: use it with -DSEMCL_CUDA=OFF.
set(SEMCL_SANITIZE "" CACHE STRING
    "Build everything with these sanitizers, e.g. address,undefined or thread (empty: off)")

if(NOT SEMCL_SANITIZE STREQUAL "")
  string(REPLACE " " "" _semcl_san "${SEMCL_SANITIZE}")
  if(_semcl_san MATCHES "thread" AND _semcl_san MATCHES "address|leak|memory")
    message(FATAL_ERROR "SEMCL_SANITIZE=${SEMCL_SANITIZE}: ThreadSanitizer cannot be combined with "
                        "AddressSanitizer, LeakSanitizer or MemorySanitizer (use two builds)")
  endif()
  if(NOT CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "SEMCL_SANITIZE needs gcc or clang (this is ${CMAKE_C_COMPILER_ID})")
  endif()

  set(_semcl_san_flags -fsanitize=${_semcl_san} -fno-omit-frame-pointer -g)
  if(_semcl_san MATCHES "undefined")
    list(APPEND _semcl_san_flags -fno-sanitize-recover=undefined)
  endif()

  # Fail at configure time, naming the fix, when the compiler cannot build and link it.
  include(CheckCSourceCompiles)
  set(CMAKE_REQUIRED_FLAGS "${_semcl_san_flags}")
  list(JOIN CMAKE_REQUIRED_FLAGS " " CMAKE_REQUIRED_FLAGS)
  set(CMAKE_REQUIRED_LINK_OPTIONS -fsanitize=${_semcl_san})
  check_c_source_compiles("int main(void) { return 0; }" SEMCL_SANITIZE_LINKS_${_semcl_san})
  unset(CMAKE_REQUIRED_FLAGS)
  unset(CMAKE_REQUIRED_LINK_OPTIONS)
  if(NOT SEMCL_SANITIZE_LINKS_${_semcl_san})
    message(FATAL_ERROR "SEMCL_SANITIZE=${SEMCL_SANITIZE}: ${CMAKE_C_COMPILER} cannot link a "
                        "program with -fsanitize=${_semcl_san} (clang on Debian: apt-get install "
                        "libclang-rt-14-dev; gcc: libasan8 libubsan1 libtsan2)")
  endif()

  foreach(_semcl_flag IN LISTS _semcl_san_flags)
    add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:${_semcl_flag}>)
  endforeach()
  add_link_options(-fsanitize=${_semcl_san})

  message(STATUS "semcl: sanitizers ${_semcl_san} (library, tests and benchmark instrumented)")
  if(SEMCL_HAVE_CUDA)
    message(WARNING "SEMCL_SANITIZE with the CUDA backend: the CUDA objects are not instrumented "
                    "and the CUDA runtime may not start under ASan; configure with -DSEMCL_CUDA=OFF")
  endif()
endif()
