#!/usr/bin/env bash
# Installs the built semcl into a temporary prefix and builds two consumers of it: one with
# CMake's find_package(semcl) (target semcl::semcl), one with pkg-config. Both must run.
#   check_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d /tmp/semcl-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null

mkdir "$tmp/consumer"
cat > "$tmp/consumer/main.c" <<'C'
#include <semcl/semcl.h>
#include <stdio.h>
int main(void) {
  semcl_context *ctx = NULL;
  if (semcl_create(&ctx, SEMCL_BACKEND_CPU) != SEMCL_STATUS_SUCCESS) return 1;
  const float raw[1] = {0.5f}, pos[1] = {1.0f}, y[1] = {1.0f};
  float loss, ctr, aux;
  const semcl_status_t st = semcl_positive_only_forward(ctx, 1, raw, pos, y, 1.0f,
                                                        SEMCL_REDUCTION_MEAN, &loss, &ctr, &aux);
  semcl_destroy(ctx);
  if (st != SEMCL_STATUS_SUCCESS || !(loss > 0.0f)) return 1;
  if (semcl_version_number() != SEMCL_VERSION_NUMBER) return 1;
  printf("consumer ok: semcl %s, L = %g\n", semcl_version_string(), loss);
  return 0;
}
C
cat > "$tmp/consumer/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.24)
project(semcl_consumer C)
find_package(semcl REQUIRED)
add_executable(consumer main.c)
target_link_libraries(consumer PRIVATE semcl::semcl)
CM
cmake -S "$tmp/consumer" -B "$tmp/consumer/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer/build" >/dev/null
libdir=$(dirname "$(find "$tmp/prefix" -name 'libsemcl.so' | head -n 1)")
LD_LIBRARY_PATH=$libdir "$tmp/consumer/build/consumer"

pcdir=$(dirname "$(find "$tmp/prefix" -name semcl.pc | head -n 1)")
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror "$tmp/consumer/main.c" -o "$tmp/consumer/pc_consumer" \
  $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs semcl)
LD_LIBRARY_PATH=$libdir "$tmp/consumer/pc_consumer"
