// test_paths.h — where a test finds its data files and the source tree.
//
// The environment wins: SEMCL_TEST_DATA_DIR and SEMCL_SOURCE_DIR, when set and not empty.
// Otherwise the build's defaults (tests/CMakeLists.txt), which are empty in a relocatable build
// (SEMCL_RELOCATABLE_TESTS, used for the GPU pack): then the functions return "" and a test that
// needs the path fails with a message saying which variable to set. Use these functions, never
// the SEMCL_TEST_DATA_DIR / SEMCL_SOURCE_DIR macros directly.
#pragma once

#include <string>

namespace semcl_test {

// tests/data (no trailing slash), or "" when neither the environment nor the build says.
std::string TestDataDir();
// The repository root, or "".
std::string SourceDir();
// TestDataDir() + "/" + name; ADD_FAILURE (naming SEMCL_TEST_DATA_DIR) when the directory is
// unknown, and the bare name is returned.
std::string TestDataFile(const std::string &name);

}  // namespace semcl_test
