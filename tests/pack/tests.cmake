# tests/pack — the GPU pack's runner (scripts/pack/run.sh) and its result parsing
# (scripts/pack/pack_summary.py) on canned GoogleTest, pytest, compute-sanitizer and
# semcl-bench outputs, and run.sh --local on a fake pack. Included by tests/CMakeLists.txt.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME PackRunnerAndSummary
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/test_pack_summary.py
                   ${PROJECT_SOURCE_DIR}/scripts/pack/pack_summary.py)
  set_tests_properties(PackRunnerAndSummary PROPERTIES TIMEOUT 300)
else()
  message(WARNING "python3 not found: the PackRunnerAndSummary test is not registered")
endif()
