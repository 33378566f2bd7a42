// test_paths.cpp — see test_paths.h.
#include "test_paths.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace semcl_test {

static std::string FromEnvOr(const char *variable, const char *fallback) {
  const char *value = std::getenv(variable);
  return value && *value ? std::string(value) : std::string(fallback);
}

std::string TestDataDir() { return FromEnvOr("SEMCL_TEST_DATA_DIR", SEMCL_TEST_DATA_DIR); }

std::string SourceDir() { return FromEnvOr("SEMCL_SOURCE_DIR", SEMCL_SOURCE_DIR); }

std::string TestDataFile(const std::string &name) {
  const std::string dir = TestDataDir();
  if (dir.empty()) {
    ADD_FAILURE() << "the test data directory is unknown: set SEMCL_TEST_DATA_DIR (this build "
                     "bakes in no source path)";
    return name;
  }
  return dir + "/" + name;
}

}  // namespace semcl_test
