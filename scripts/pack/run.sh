#!/usr/bin/env bash
# run.sh — the semcl GPU pack's runner (the pack is built by scripts/gpu-pack). Needs no CMake,
# CTest or GoogleTest: bash, coreutils (timeout), tar, python3; on the GPU machine also
# nvidia-smi, compute-sanitizer, python3 with torch (CUDA) and pytest.
#
#   bash run.sh            on the GPU machine: SEMCL_REQUIRE_CUDA=1, so a CUDA test that skips
#                          for lack of a device fails; missing GPU tools count as failures
#   bash run.sh --local    anywhere else: SEMCL_REQUIRE_CUDA unset (CUDA tests skip), GPU steps
#                          report "not available" when their tool or device is missing
#
# Steps, each with its own time limit (clipped to what is left of RUN_BUDGET_S, default 330 s):
#   1. every GoogleTest binary in bin/ (GoogleTest XML), at most 4 at a time, alongside the
#      pytest suite (tests/python, with this machine's python3; junit XML); test_cuda_backend's
#      *Huge* tests (>2^31 elements) run as a step of their own
#   2. compute-sanitizer memcheck, racecheck and synccheck on subsets of the CUDA tests
#   3. the device copy-bandwidth probe
#   4. semcl-bench --backend cuda: K in {1,16,128,1024,16384} with B*K = 2^24 and 2^26, fwd and
#      fwd_bwd; and a tiny shape (B=1, K=1) with pointer checks on and off (host cost per call)
# After every phase $OUT/summary.md is rewritten (pack_summary.py), so a run cut short still
# leaves one. $OUT (default ./out) receives at most 4 files: summary.md, summary.json,
# bench.csv, logs.tar.gz (every log and XML). Exit status 0 when nothing failed.
#
# Environment: OUT, RUN_BUDGET_S, RUN_JOBS (parallel test binaries, default 4), PYTHON (the
# interpreter for pytest; default: the first of python3, /usr/bin/python3 with torch+pytest).
set -uo pipefail

pack=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mode=gpu
case ${1:-} in
  --local) mode=local ;;
  "") ;;
  *) echo "usage: bash run.sh [--local]" >&2; exit 2 ;;
esac
out=${OUT:-./out}
if ! mkdir -p "$out" || ! out=$(cd "$out" && pwd); then
  echo "run.sh: cannot create $out" >&2
  exit 2
fi
budget=${RUN_BUDGET_S:-330}
jobs=${RUN_JOBS:-4}
start=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/semcl-pack-run.XXXXXX")
logs=$work/logs
mkdir -p "$logs"
steps=$logs/steps.tsv
: > "$steps"

if [[ $mode == gpu ]]; then
  export SEMCL_REQUIRE_CUDA=1
else
  unset SEMCL_REQUIRE_CUDA
fi
export SEMCL_TEST_DATA_DIR=$pack/tests/data SEMCL_SOURCE_DIR=$pack
export SEMCL_LIBRARY=$pack/lib/libsemcl.so.0
export PATH=$PATH:/usr/local/cuda/bin
export PYTHONUNBUFFERED=1

# ---- helpers -----------------------------------------------------------------------------------

left() { echo $((budget - (SECONDS - start))); }

# record NAME KIND STATUS RC SECONDS LOG DETAIL: one line of steps.tsv (read by pack_summary.py).
record() {
  local IFS=$'\t'
  echo "$*" >> "$steps"
}

# step NAME KIND MAX_S LOG COMMAND...: runs COMMAND with stdout+stderr in LOG, bounded by MAX_S
# and by the budget left; records PASS, FAIL (exit code) or TIMEOUT.
step() {
  local name=$1 kind=$2 max=$3 log=$4
  shift 4
  local l
  l=$(left)
  local limit=$((max < l ? max : l))
  if ((limit < 3)); then
    record "$name" "$kind" TIMEOUT -1 0 "$log" "not started: the run's ${budget} s budget is spent"
    return 1
  fi
  echo "== $name (limit ${limit}s)"
  local t0=$SECONDS rc
  timeout --kill-after=5 "$limit" "$@" > "$log" 2>&1
  rc=$?
  local status=PASS detail=""
  if ((rc == 124 || rc == 137)); then
    status=TIMEOUT
    detail="killed after ${limit} s"
  elif ((rc != 0)); then
    status=FAIL
    detail="exit code $rc"
  fi
  record "$name" "$kind" "$status" "$rc" "$((SECONDS - t0))" "$log" "$detail"
  echo "   $name: $status ($((SECONDS - t0)) s)"
  return "$rc"
}

# not_available NAME KIND WHY: a step that cannot run here (a failure on the GPU machine).
not_available() {
  local status=NA
  [[ $mode == gpu ]] && status=MISSING
  record "$1" "$2" "$status" -1 0 "" "$3"
  echo "== $1: not available: $3"
}

summarize() {
  "${summary_python:-python3}" "$pack/pack_summary.py" --logs "$logs" --pack "$pack" \
    --mode "$mode" --out "$out" > "$logs/summary.stdout" 2>&1 ||
    echo "run.sh: pack_summary.py failed (see logs.tar.gz: summary.stdout)" >&2
  tar -C "$work" -czf "$out/logs.tar.gz" logs 2> /dev/null
}

# ---- 0. this machine ---------------------------------------------------------------------------
{
  echo "mode: $mode"
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "host: $(uname -n) $(uname -r) $(uname -m)"
  echo "glibc: $(ldd --version 2>&1 | head -1 | awk '{print $NF}')"
  echo "cpus: $(nproc 2>/dev/null)"
  echo "SEMCL_REQUIRE_CUDA: ${SEMCL_REQUIRE_CUDA:-unset}"
} > "$logs/machine.txt"
gpu_present=0
if command -v nvidia-smi > /dev/null 2>&1; then
  timeout 20 nvidia-smi -L > "$logs/nvidia-smi.txt" 2>&1
  grep -q '^GPU ' "$logs/nvidia-smi.txt" && gpu_present=1
  echo "gpu: $(timeout 20 nvidia-smi --query-gpu=name,memory.total,driver_version,compute_mode \
    --format=csv,noheader 2>&1 | head -1)" >> "$logs/machine.txt"
  timeout 20 nvidia-smi >> "$logs/nvidia-smi.txt" 2>&1
else
  echo "nvidia-smi: not available" >> "$logs/machine.txt"
fi
echo "gpu_present: $gpu_present" >> "$logs/machine.txt"

# Python for pytest and for the summary.
py=""
for candidate in "${PYTHON:-}" python3 /usr/bin/python3; do
  [[ -n $candidate ]] || continue
  if "$candidate" -c 'import sys, torch, pytest; print("python:", sys.version.split()[0], sys.executable)
print("torch:", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
print("pytest:", pytest.__version__)' > "$logs/python.txt" 2>&1; then
    py=$candidate
    cat "$logs/python.txt" >> "$logs/machine.txt"
    break
  fi
done
summary_python=$(command -v python3 || echo "${py:-python3}")

# Libraries: the binaries need only the C/C++ runtime and libgomp; if this machine lacks one
# (or has too old a libstdc++), the pack's copies in fallback-lib/ go on the library path.
: > "$logs/ldd.txt"
for f in "$pack"/bin/* "$pack"/lib/*; do
  echo "## $f" >> "$logs/ldd.txt"
  ldd "$f" >> "$logs/ldd.txt" 2>&1
done
if grep -q 'not found' "$logs/ldd.txt"; then
  export LD_LIBRARY_PATH=$pack/fallback-lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  echo "libraries: missing here, using fallback-lib/: $(grep 'not found' "$logs/ldd.txt" | sort -u | tr '\n' ' ')" >> "$logs/machine.txt"
else
  echo "libraries: all found on this machine" >> "$logs/machine.txt"
fi
cat "$logs/machine.txt"

# ---- 1. the tests ----------------------------------------------------------------------------------
huge_filter='*Huge*'
run_gtest() {  # run_gtest BINARY [STEP_NAME FILTER]
  local bin=$1 name=${2:-$(basename "$1")} filter=${3:-}
  local args=("--gtest_output=xml:$logs/$name.xml" --gtest_color=no)
  if [[ -n $filter ]]; then
    args+=("--gtest_filter=$filter")
  elif [[ $(basename "$bin") == test_cuda_backend ]]; then
    args+=("--gtest_filter=-$huge_filter")
  fi
  step "$name" gtest 170 "$logs/$name.log" "$bin" "${args[@]}"
}

run_pytest() {
  if [[ -z $py ]]; then
    not_available pytest pytest "no python3 with torch and pytest here"
    return
  fi
  step pytest pytest 170 "$logs/pytest.log" env -C "$pack" PYTHONPATH="$pack/python" \
    "$py" -m pytest tests/python -q -p no:cacheprovider -rs --junitxml="$logs/pytest.xml"
}

throttle() {  # keep at most $jobs background steps
  while (($(jobs -rp | wc -l) >= jobs)); do wait -n 2> /dev/null || true; done
}
run_pytest &
for bin in "$pack"/bin/*; do
  case $(basename "$bin") in semcl-bench | semcl_copy_bandwidth) continue ;; esac
  throttle
  run_gtest "$bin" &
done
if [[ -x $pack/bin/test_cuda_backend ]]; then
  throttle
  run_gtest "$pack/bin/test_cuda_backend" test_cuda_backend.huge "$huge_filter" &
fi
wait
summarize

# ---- 2. compute-sanitizer ------------------------------------------------------------------------
sanitizer=$(command -v compute-sanitizer || true)
cuda_bin=$pack/bin/test_cuda_backend
host_bin=$pack/bin/test_cuda_host
# Subsets that finish in time under the tools (kernels run 10-100x slower): every kernel
# variant (small K, chunks, rows, positive-only, final reduction), both gradient sets, caller
# workspace, streams; the host-side tests run under memcheck, except the two that make CUDA
# calls fail on purpose (the sanitizer reports every failed API call as an error).
memcheck_filter='*GradientSubsets*:*ExtremeNonFinite*:*CallerProvidedWorkspace*:*TooSmall*:*HostPointers*:*SetStream*:*RepeatedCalls*'
racecheck_filter='*GradientSubsets*:*ExtremeNonFinite*:*CallerProvidedWorkspace*'
synccheck_filter='*GradientSubsets*:*ExtremeNonFinite*'
memcheck_host_filter='CudaHost.*-*PendingError*:*SemclFailures*'
sanitize() {  # sanitize TOOL BINARY FILTER MAX_S [EXTRA...]
  local tool=$1 bin=$2 filter=$3 max=$4
  shift 4
  local name
  name=$tool.$(basename "$bin")
  step "$name" sanitizer "$max" "$logs/$name.log" "$sanitizer" --tool "$tool" \
    --error-exitcode 99 --print-limit 100 "$@" "$bin" "--gtest_filter=$filter" --gtest_color=no
}
if [[ -z $sanitizer ]]; then
  not_available compute-sanitizer sanitizer "compute-sanitizer not found"
elif [[ $gpu_present == 0 ]]; then
  not_available compute-sanitizer sanitizer "no GPU here"
elif [[ ! -x $cuda_bin ]]; then
  not_available compute-sanitizer sanitizer "bin/test_cuda_backend is not in the pack"
else
  sanitize memcheck "$cuda_bin" "$memcheck_filter" 110 --leak-check full &
  sanitize racecheck "$cuda_bin" "$racecheck_filter" 110 --racecheck-report all &
  sanitize synccheck "$cuda_bin" "$synccheck_filter" 110 &
  [[ -x $host_bin ]] && sanitize memcheck "$host_bin" "$memcheck_host_filter" 110 --leak-check full &
  wait
fi
summarize

# ---- 3. copy bandwidth ---------------------------------------------------------------------------
if [[ $gpu_present == 0 ]]; then
  not_available copy-bandwidth bandwidth "no GPU here"
else
  step copy-bandwidth bandwidth 30 "$logs/copy-bandwidth.log" "$pack/bin/semcl_copy_bandwidth" 1024 20
fi

# ---- 4. the CUDA benchmark -------------------------------------------------------------------------
bench_sweep() {
  local bench=$pack/bin/semcl-bench header=1 total k b
  for total in 24 26; do
    for k in 1 16 128 1024 16384; do
      b=$(((1 << total) / k))
      "$bench" --backend cuda --loss pos_neg --format csv --no-demo --K "$k" --B "$b" \
        --max-mem-mb 8192 --min-time 0.2 > "$logs/bench-one.csv" || return 1
      if ((header)); then cat "$logs/bench-one.csv"; header=0; else tail -n +2 "$logs/bench-one.csv"; fi
    done
  done
  rm -f "$logs/bench-one.csv"
}
bench_host_cost() {  # B=1, K=1: time per call is host cost (launch + checks)
  local bench=$pack/bin/semcl-bench checks
  echo "pointer_checks,backend,loss,dtype,B,K,threads,pass,median_ms,p20_ms,p80_ms,gelem_per_s,gb_per_s,peak_rss_mb,input_sets,working_set_mb"
  for checks in on off on off; do
    "$bench" --backend cuda --loss pos_neg --format csv --no-demo --K 1 --B 1 --pass fwd_bwd \
      --min-time 0.3 --pointer-checks "$checks" | tail -n +2 | sed "s/^/$checks,/" || return 1
  done
}
if [[ $gpu_present == 0 ]]; then
  not_available bench bench "no GPU here"
  not_available bench-host-cost bench "no GPU here"
else
  export -f bench_sweep bench_host_cost
  export pack logs
  step bench bench 100 "$logs/bench.csv" bash -c bench_sweep
  step bench-host-cost bench 30 "$logs/bench-host-cost.csv" bash -c bench_host_cost
  cp "$logs/bench.csv" "$out/bench.csv" 2> /dev/null
fi

# ---- summary -----------------------------------------------------------------------------------------
echo "total: $((SECONDS - start)) s" >> "$logs/machine.txt"
summarize
cat "$logs/summary.stdout"
verdict=$(sed -n 's/^verdict: //p' "$logs/summary.stdout" | head -1)
rm -rf "$work"
echo "run.sh: ${verdict:-UNKNOWN} (summary: $out/summary.md)"
[[ ${verdict:-} == PASS* ]]
