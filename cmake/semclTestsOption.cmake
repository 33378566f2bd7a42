# Decides SEMCL_ENABLE_TESTS from SEMCL_BUILD_TESTS and says so in one configure line.
#   AUTO (default): on when semcl is the top-level project and GoogleTest and nlohmann-json
#                   are found; a parent project (add_subdirectory, FetchContent) never gets
#                   them, and never has those packages searched for.
#   ON:             on; a missing package is a configure error that names the package to install.
#   OFF:            off.
# The tests are C++: the C++ compiler is enabled only here, only when they are built.
set(_semcl_tests_install "apt-get install libgtest-dev nlohmann-json3-dev (Debian/Ubuntu)")
set(SEMCL_ENABLE_TESTS OFF)
string(TOUPPER "${SEMCL_BUILD_TESTS}" _semcl_tests_mode)

macro(_semcl_find_test_packages)
  find_package(GTest QUIET)
  find_package(nlohmann_json 3 QUIET)
  set(_semcl_tests_missing "")
  if(NOT GTest_FOUND)
    list(APPEND _semcl_tests_missing "GoogleTest")
  endif()
  if(NOT nlohmann_json_FOUND)
    list(APPEND _semcl_tests_missing "nlohmann-json")
  endif()
  list(JOIN _semcl_tests_missing " and " _semcl_tests_missing_text)
endmacro()

if(_semcl_tests_mode STREQUAL "AUTO")
  if(NOT PROJECT_IS_TOP_LEVEL)
    message(STATUS "semcl: tests off (semcl is a subproject here; -DSEMCL_BUILD_TESTS=ON builds them)")
  else()
    _semcl_find_test_packages()
    if(_semcl_tests_missing)
      message(STATUS "semcl: tests off (${_semcl_tests_missing_text} not found; to build them: "
                     "${_semcl_tests_install}, then configure with -DSEMCL_BUILD_TESTS=ON)")
    else()
      set(SEMCL_ENABLE_TESTS ON)
    endif()
  endif()
elseif(_semcl_tests_mode MATCHES "^(ON|YES|TRUE|Y|1)$")
  _semcl_find_test_packages()
  if(_semcl_tests_missing)
    message(FATAL_ERROR "SEMCL_BUILD_TESTS=ON but ${_semcl_tests_missing_text} not found. Install "
                        "the test dependencies (${_semcl_tests_install}), or configure with "
                        "-DSEMCL_BUILD_TESTS=OFF to build only the library.")
  endif()
  set(SEMCL_ENABLE_TESTS ON)
elseif(_semcl_tests_mode MATCHES "^(OFF|NO|FALSE|N|0)$")
  message(STATUS "semcl: tests off (SEMCL_BUILD_TESTS=${SEMCL_BUILD_TESTS})")
else()
  message(FATAL_ERROR "SEMCL_BUILD_TESTS must be AUTO, ON or OFF, not '${SEMCL_BUILD_TESTS}'")
endif()

if(SEMCL_ENABLE_TESTS)
  enable_language(CXX)
  message(STATUS "semcl: tests on (build, then run ctest in ${PROJECT_BINARY_DIR})")
endif()
