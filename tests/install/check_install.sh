#!/usr/bin/env bash
# Installs the built semcl into a temporary prefix and checks what a user of the install gets:
#   - CMake consumers: find_package(semcl) with semcl::semcl (shared) and semcl::semcl_static;
#   - pkg-config consumers built with exactly the commands README.md documents (the lines
#     starting with "cc " between <!-- consumer:begin --> and <!-- consumer:end -->), compiling
#     README's C example; each program must run with no LD_LIBRARY_PATH;
#   - the problem those commands solve: without a run-time path the shared build fails to start;
#   - the installed semcl-bench runs.
#   check_install.sh BUILD_DIR SOURCE_DIR --bench|--no-bench
# (--no-bench: the build has no semcl-bench, SEMCL_BUILD_BENCH=OFF, so none is expected.)
set -euo pipefail
build=$1
src=$2
bench_mode=${3:---bench}
tmp=$(mktemp -d /tmp/semcl-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
unset LD_LIBRARY_PATH
fail() { echo "check_install: FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pcdir=$(dirname "$(find "$tmp/prefix" -name semcl.pc | head -n 1)")
[[ -f $pcdir/semcl-static.pc ]] || fail "semcl-static.pc not installed next to semcl.pc"
find "$tmp/prefix" -name 'libsemcl.a' | grep -q . || fail "libsemcl.a not installed"

# ---- the README's C example and consumer commands ----------------------------------------
readme=$src/README.md
mkdir "$tmp/consumer"
awk '/<!-- example:begin -->/ { inb = 1; next } /<!-- example:end -->/ { inb = 0 }
     inb && /^```c$/ { inc = 1; next } inb && inc && /^```$/ { inc = 0 } inb && inc' \
    "$readme" > "$tmp/consumer/example.c"
grep -q 'main(' "$tmp/consumer/example.c" || fail "no C example between the example markers of README.md"
mapfile -t commands < <(awk '/<!-- consumer:begin -->/ { inb = 1; next } /<!-- consumer:end -->/ { inb = 0 }
                             inb && /^cc /' "$readme")
[[ ${#commands[@]} -ge 2 ]] || fail "README.md: expected the shared and the static 'cc ...' lines between the consumer markers"

run_consumer() {  # LABEL: run ./example (no LD_LIBRARY_PATH), which must print the losses
  local out
  out=$(cd "$tmp/consumer" && ./example 2>&1) || fail "$1: the program did not run: $out"
  grep -q '^L = ' <<<"$out" || fail "$1: unexpected output: $out"
  echo "$1: ok ($(head -n 1 <<<"$out"))"
}
export PKG_CONFIG_PATH=$pcdir
saw_static=0
for cmd in "${commands[@]}"; do
  rm -f "$tmp/consumer/example"
  (cd "$tmp/consumer" && eval "$cmd") || fail "README command failed: $cmd"
  run_consumer "README: $cmd"
  if [[ $cmd == *semcl-static* ]]; then
    saw_static=1
    ! ldd "$tmp/consumer/example" | grep -q libsemcl || fail "static consumer still needs libsemcl.so"
  fi
done
[[ $saw_static == 1 ]] || fail "README.md documents no static (semcl-static) consumer command"

# Without a run-time path the shared build cannot start: the problem the README explains.
(cd "$tmp/consumer" && cc example.c -o example_no_rpath $(pkg-config --cflags --libs semcl))
if msg=$(cd "$tmp/consumer" && ./example_no_rpath 2>&1); then
  fail "a program linked with -lsemcl and no run-time path ran: the README's explanation is wrong"
fi
grep -q 'libsemcl.so' <<<"$msg" || fail "unexpected failure without a run-time path: $msg"

# ---- CMake consumers -----------------------------------------------------------------------
cat > "$tmp/consumer/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.24)
project(semcl_consumer C)
find_package(semcl REQUIRED)
add_executable(consumer_shared example.c)
target_link_libraries(consumer_shared PRIVATE semcl::semcl)
add_executable(consumer_static example.c)
target_link_libraries(consumer_static PRIVATE semcl::semcl_static)
CM
cmake -S "$tmp/consumer" -B "$tmp/consumer/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer/build" >/dev/null
for kind in shared static; do
  out=$("$tmp/consumer/build/consumer_$kind") || fail "CMake consumer ($kind) did not run: $out"
  grep -q '^L = ' <<<"$out" || fail "CMake consumer ($kind): unexpected output: $out"
  echo "CMake semcl::semcl$([[ $kind == static ]] && echo _static): ok"
done
! ldd "$tmp/consumer/build/consumer_static" | grep -q libsemcl || fail "semcl::semcl_static consumer needs libsemcl.so"

# ---- the installed benchmark ---------------------------------------------------------------
bench=$tmp/prefix/bin/semcl-bench
if [[ $bench_mode == --no-bench ]]; then
  [[ ! -e $bench ]] || fail "semcl-bench installed by a build with SEMCL_BUILD_BENCH=OFF"
  exit 0
fi
[[ -x $bench ]] || fail "semcl-bench not installed in bin/"
rows=$("$bench" --loss positive_only --B 4096 --pass fwd --threads 1 --reps 3 --min-time 0.01 \
         --max-mem-mb 8 --no-demo --format csv 2>/dev/null | grep -c '^cpu,positive_only,')
[[ $rows == 1 ]] || fail "installed semcl-bench printed $rows result rows instead of 1"
echo "installed semcl-bench: ok"
