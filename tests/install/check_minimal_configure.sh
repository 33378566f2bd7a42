#!/usr/bin/env bash
# What a user without the test dependencies gets (CPU only, to stay quick):
#   1. top level, GoogleTest and nlohmann-json hidden (CMAKE_DISABLE_FIND_PACKAGE_*): configure
#      succeeds without looking for a C++ compiler, says in one line that the tests are off and
#      how to turn them on, and the library and semcl-bench build;
#   2. the same with -DSEMCL_BUILD_TESTS=ON: configure fails, naming the Debian packages;
#   3. semcl inside another project (add_subdirectory), packages not hidden: no tests, and a
#      program linked with semcl::semcl and one with semcl::semcl_static run.
#   check_minimal_configure.sh SOURCE_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
tmp=$(mktemp -d /tmp/semcl-minimal.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "check_minimal_configure: FAIL: $*" >&2; exit 1; }
jobs=$(nproc 2>/dev/null || echo 2)
hide=(-DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON)

# ---- 1 ---------------------------------------------------------------------------------------
log=$tmp/top.log
cmake -S "$src" -B "$tmp/top" -DSEMCL_CUDA=OFF "${hide[@]}" > "$log" 2>&1 \
  || { cat "$log" >&2; fail "configure without GoogleTest/nlohmann-json failed"; }
off_lines=$(grep -c 'semcl: tests off' "$log" || true)
[[ $off_lines == 1 ]] || { cat "$log" >&2; fail "expected one 'semcl: tests off' line, got $off_lines"; }
grep 'semcl: tests off' "$log" | grep -q -- '-DSEMCL_BUILD_TESTS=ON' \
  || fail "the tests-off line does not say how to turn them on: $(grep 'tests off' "$log")"
grep 'semcl: tests off' "$log" | grep -q 'libgtest-dev nlohmann-json3-dev' \
  || fail "the tests-off line does not name the packages: $(grep 'tests off' "$log")"
! grep -q '^CMAKE_CXX_COMPILER:' "$tmp/top/CMakeCache.txt" \
  || fail "configure looked for a C++ compiler although no test is built"
cmake --build "$tmp/top" -j"$jobs" > "$tmp/top_build.log" 2>&1 \
  || { tail -n 30 "$tmp/top_build.log" >&2; fail "the library did not build"; }
for f in libsemcl.so libsemcl.a bench/semcl-bench; do
  [[ -e $tmp/top/$f ]] || fail "$f was not built"
done
echo "top level without test packages: configures, says '$(grep -o 'semcl: tests off.*' "$log" | cut -c1-60)...', builds"

# ---- 2 ---------------------------------------------------------------------------------------
if cmake -S "$src" -B "$tmp/forced" -DSEMCL_CUDA=OFF -DSEMCL_BUILD_TESTS=ON "${hide[@]}" \
     > "$tmp/forced.log" 2>&1; then
  fail "-DSEMCL_BUILD_TESTS=ON without GoogleTest/nlohmann-json configured"
fi
# CMake wraps the message: join its lines before looking for the names.
msg=$(tr -s ' \n' ' ' < "$tmp/forced.log")
for pkg in libgtest-dev nlohmann-json3-dev; do
  [[ $msg == *"$pkg"* ]] || { cat "$tmp/forced.log" >&2; fail "the error does not name $pkg"; }
done
echo "-DSEMCL_BUILD_TESTS=ON without them: fails naming libgtest-dev nlohmann-json3-dev"

# ---- 3 ---------------------------------------------------------------------------------------
mkdir "$tmp/parent"
cat > "$tmp/parent/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.24)
project(parent C)
add_subdirectory("$src" semcl)
add_executable(use_shared main.c)
target_link_libraries(use_shared PRIVATE semcl::semcl)
add_executable(use_static main.c)
target_link_libraries(use_static PRIVATE semcl::semcl_static)
CM
cat > "$tmp/parent/main.c" <<'C'
#include <semcl/semcl.h>
#include <stdio.h>
int main(void) {
  semcl_context *ctx = NULL;
  if (semcl_create(&ctx, SEMCL_BACKEND_CPU) != SEMCL_STATUS_SUCCESS) return 1;
  const float raw[1] = {0.5f}, pos[1] = {1.0f}, y[1] = {1.0f};
  float loss = -1.0f, ctr = -1.0f, aux = -1.0f;
  const semcl_status_t st = semcl_positive_only_forward(ctx, 1, raw, pos, y, 1.0f,
                                                        SEMCL_REDUCTION_MEAN, &loss, &ctr, &aux);
  semcl_destroy(ctx);
  if (st != SEMCL_STATUS_SUCCESS || !(loss > 0.0f)) return 1;
  printf("ok %g\n", loss);
  return 0;
}
C
cmake -S "$tmp/parent" -B "$tmp/parent/build" -DSEMCL_CUDA=OFF > "$tmp/parent.log" 2>&1 \
  || { cat "$tmp/parent.log" >&2; fail "a parent project with add_subdirectory(semcl) did not configure"; }
grep -q 'semcl: tests off (semcl is a subproject' "$tmp/parent.log" \
  || { cat "$tmp/parent.log" >&2; fail "as a subproject the tests are not reported off"; }
cmake --build "$tmp/parent/build" -j"$jobs" > "$tmp/parent_build.log" 2>&1 \
  || { tail -n 30 "$tmp/parent_build.log" >&2; fail "the parent project did not build"; }
[[ ! -e $tmp/parent/build/semcl/bench/semcl-bench ]] || fail "semcl-bench was built inside a parent project"
for exe in use_shared use_static; do
  "$tmp/parent/build/$exe" > /dev/null || fail "$exe (add_subdirectory) did not run"
done
echo "add_subdirectory(semcl): no tests, semcl::semcl and semcl::semcl_static link and run"
