#!/usr/bin/env bash
# Measures semcl and the seed's PyTorch code on the same shapes with 1 and 2 threads, then
# plots and writes RESULTS.md, all into OUTDIR.
#
#   bench/run_all.sh OUTDIR [--publish]
#
# --publish also copies RESULTS.md and results.png into bench/, and the files they were made
# from into bench/published/ (what the repository keeps: `bench/report.py bench/published` and
# plot.py can regenerate both; bench/readme_figures.py --update then refreshes README.md).
# Environment:
#   SEMCL_BENCH  path to a built semcl-bench (default: configure and build OUTDIR/build)
#   SEMCL_CUDA   CUDA option for that build (default OFF; AUTO/ON on a machine with a GPU)
#   BACKEND      semcl-bench --backend (default auto; "all" = CPU and CUDA)
#   THREADS      thread counts (default "1 2")
#   ROUNDS       rounds of the full sweep for PyTorch (default 2) and SEMCL_ROUNDS for semcl
#                (default 3: a round is ~20 s); per case the fastest round is kept
#                (best_of.py), every round stays in OUTDIR
#   GOAL_RUNS    separate runs of the goal case per thread count (default 5)
#   QUIET_WAIT   before each measurement, wait up to this many seconds for other tenants'
#                CPU use to drop under 0.1 CPU (default 30; 0 = do not wait)
#   PYTHON       interpreter with torch and matplotlib for the plot (default /usr/bin/python3)
#   BASELINE_PYTHON  interpreter for the PyTorch baseline (default: the cached PyTorch 2 venv of
#                scripts/torch2-venv when it exists, so torch.compile is measured too; else PYTHON)
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then usage; [[ $# -ge 1 ]]; exit $?; fi
OUT=$1
PUBLISH=0
if [[ $# -ge 2 ]]; then
  if [[ "$2" == "--publish" ]]; then PUBLISH=1; else echo "run_all.sh: unknown argument '$2'" >&2; exit 2; fi
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
TORCH2_VENV=${SEMCL_VENV_CACHE:-$HOME/.cache/semcl/torch2-venv}
if [[ -z "${BASELINE_PYTHON:-}" && -x "$TORCH2_VENV/bin/python" ]]; then
  BASELINE_PYTHON=$TORCH2_VENV/bin/python
fi
BASELINE_PYTHON=${BASELINE_PYTHON:-$PYTHON}
BACKEND=${BACKEND:-auto}
THREADS=${THREADS:-"1 2"}
GOAL_RUNS=${GOAL_RUNS:-5}
ROUNDS=${ROUNDS:-2}
SEMCL_ROUNDS=${SEMCL_ROUNDS:-3}
QUIET_WAIT=${QUIET_WAIT:-30}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

BUILD_TYPE="(prebuilt)"
BENCH_SOURCE="prebuilt ${SEMCL_BENCH:-} (its commit is not recorded: the checkout's is below)"
if [[ -z "${SEMCL_BENCH:-}" ]]; then
  BENCH_SOURCE=checkout
  echo "== building semcl-bench in $OUT/build" >&2
  cmake -S "$REPO" -B "$OUT/build" -DCMAKE_BUILD_TYPE=Release -DSEMCL_CUDA="${SEMCL_CUDA:-OFF}" \
        -DSEMCL_BUILD_TESTS=OFF -DSEMCL_BUILD_BENCH=ON > "$OUT/build.log"
  cmake --build "$OUT/build" -j"$(nproc)" >> "$OUT/build.log"
  SEMCL_BENCH=$OUT/build/bench/semcl-bench
  BUILD_TYPE=Release
fi

# ---- environment -----------------------------------------------------------------------
flag() { grep -qw "$1" /proc/cpuinfo && echo yes || echo no; }
{
  echo "date=$(date)"
  echo "uptime_start=$(uptime)"
  echo "cpu_model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "cpus=$(nproc)"
  echo "l3=$(lscpu | sed -n 's/^L3 cache: *//p' | head -1)"
  echo "avx2=$(flag avx2)"
  echo "fma=$(flag fma)"
  echo "avx512f=$(flag avx512f)"
  echo "cc=$(cc --version | head -1)"
  echo "build_type=$BUILD_TYPE"
  # The measured library: the checkout semcl-bench was built from (bench_source=checkout), and
  # how many of its library files differed from that commit (dirty=0: exactly the commit).
  echo "commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "commit_full=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "dirty=$(git -C "$REPO" status --porcelain -- src include cuda cmake CMakeLists.txt bench/semcl_bench.c 2>/dev/null | wc -l)"
  echo "bench_source=$BENCH_SOURCE"
  echo "semcl_bench=$SEMCL_BENCH"
  echo "--- lscpu"
  lscpu | sed 's/^/  /'
} > "$OUT/env.txt"

# ---- CPU time used by other tenants: all busy time minus this script's children -----------
HZ=$(getconf CLK_TCK)
cpu_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
children_cpu() { sed 's/.*) //' /proc/$$/stat | awk '{print $14+$15}'; }
phase_start() { P_BUSY=$(cpu_busy); P_KIDS=$(children_cpu); P_T0=$(date +%s.%N); }
others_since() {  # mean CPUs busy with other work since phase_start
  local busy kids t1
  busy=$(cpu_busy); kids=$(children_cpu); t1=$(date +%s.%N)
  awk -v b="$((busy - P_BUSY))" -v k="$((kids - P_KIDS))" -v hz="$HZ" -v t0="$P_T0" -v t1="$t1" \
      'BEGIN { o = (b - k) / hz / (t1 - t0); if (o < 0) o = 0; printf "%.2f\n", o }'
}
phase_end() { echo "others_cpu_$1=$(others_since)" >> "$OUT/env.txt"; }
QUIET_WAITED=0
wait_quiet() {  # while this script is idle, all busy time is other tenants'
  local i b0 b1
  for ((i = 0; i < QUIET_WAIT; ++i)); do
    b0=$(cpu_busy); sleep 1; b1=$(cpu_busy)
    QUIET_WAITED=$((QUIET_WAITED + 1))
    (( (b1 - b0) * 10 < HZ )) && return 0
  done
  echo "   (other tenants still busy after ${QUIET_WAIT}s: measuring anyway)" >&2
}

# ---- semcl: the sweep at each thread count, ROUNDS times -----------------------------------
runs=()
for ((r = 1; r <= SEMCL_ROUNDS; ++r)); do
  for t in $THREADS; do
    wait_quiet
    echo "== semcl-bench, round $r, $t thread(s)" >&2
    phase_start
    "$SEMCL_BENCH" --backend "$BACKEND" --threads "$t" --format csv \
        > "$OUT/semcl_r${r}_t$t.csv" 2> "$OUT/semcl_r${r}_t$t.log"
    phase_end "semcl_r${r}_t$t"
    runs+=("$OUT/semcl_r${r}_t$t.csv")
  done
done
"$PYTHON" "$HERE/best_of.py" "$OUT/semcl.csv" "${runs[@]}"

# ---- semcl: the goal case, separate runs, thread counts interleaved ----------------------
echo "== goal case, $GOAL_RUNS runs per thread count" >&2
goal_run() {  # FILE CMD...: run CMD (CSV on stdout), append its rows with others_cpu to FILE
  local file=$1; shift
  wait_quiet
  phase_start
  "$@" > "$OUT/goal_run.csv" 2>> "$OUT/goal.log"
  local others; others=$(others_since)
  [[ -s $file ]] || echo "$(head -1 "$OUT/goal_run.csv"),others_cpu" > "$file"
  tail -n +2 "$OUT/goal_run.csv" | sed "s/\$/,$others/" >> "$file"
}
rm -f "$OUT/goal.csv" "$OUT/goal_torch.csv"
for ((i = 0; i < GOAL_RUNS; ++i)); do
  for t in $THREADS; do
    goal_run "$OUT/goal.csv" "$SEMCL_BENCH" --backend "$BACKEND" --loss pos_neg --B 4096 \
        --K 1024 --pass fwd_bwd --threads "$t" --format csv --no-demo --reps 15
    goal_run "$OUT/goal_torch.csv" "$BASELINE_PYTHON" "$HERE/seed_baseline.py" --loss pos_neg --B 4096 \
        --K 1024 --pass fwd_bwd --threads "$t" --reps 15
  done
done
rm -f "$OUT/goal_run.csv"

echo "== shape goals (K=1, K=16 at B=65536; loss 1 at B=1M), 1 thread, $SEMCL_ROUNDS rounds" >&2
runs=()
for ((r = 1; r <= SEMCL_ROUNDS; ++r)); do
  wait_quiet
  : > "$OUT/shapes_r$r.csv"
  for shape in "pos_neg 65536 1" "pos_neg 65536 16" "positive_only 1048576 1"; do
    read -r loss b k <<< "$shape"
    "$SEMCL_BENCH" --backend "$BACKEND" --loss "$loss" --B "$b" --K "$k" --pass fwd_bwd \
        --threads 1 --format csv --no-demo --reps 15 > "$OUT/shape_run.csv" 2>> "$OUT/shapes.log"
    if [[ -s $OUT/shapes_r$r.csv ]]; then tail -n +2 "$OUT/shape_run.csv"; else cat "$OUT/shape_run.csv"; fi \
        >> "$OUT/shapes_r$r.csv"
  done
  runs+=("$OUT/shapes_r$r.csv")
done
rm -f "$OUT/shape_run.csv"
"$PYTHON" "$HERE/best_of.py" "$OUT/shapes.csv" "${runs[@]}"

# ---- the seed's PyTorch code on the same cases, ROUNDS times -------------------------------
runs=()
for ((r = 1; r <= ROUNDS; ++r)); do
  # one process per thread count, as for semcl-bench: PyTorch 1.13 stalls (~24 ms a call on
  # small shapes) after set_num_threads switches 1 -> 2 within one process
  for t in $THREADS; do
    wait_quiet
    echo "== seed baseline (PyTorch), round $r, $t thread(s)" >&2
    phase_start
    "$BASELINE_PYTHON" "$HERE/seed_baseline.py" --from-csv "$OUT/semcl.csv" --threads "$t" \
        --out "$OUT/baseline_r${r}_t$t.csv" --info-out "$OUT/baseline_info.json" \
        2> "$OUT/baseline_r${r}_t$t.log"
    phase_end "baseline_r${r}_t$t"
    runs+=("$OUT/baseline_r${r}_t$t.csv")
  done
done
"$PYTHON" "$HERE/best_of.py" "$OUT/baseline.csv" "${runs[@]}"

echo "date_end=$(date)" >> "$OUT/env.txt"
echo "quiet_waited_s=$QUIET_WAITED" >> "$OUT/env.txt"
echo "uptime_end=$(uptime)" >> "$OUT/env.txt"

# ---- plot and report ----------------------------------------------------------------------
"$PYTHON" "$HERE/plot.py" "$OUT/results.png" "$OUT/semcl.csv" "$OUT/baseline.csv" \
    --note "$("$PYTHON" "$HERE/report.py" "$OUT" --plot-note)"
"$PYTHON" "$HERE/report.py" "$OUT"
if [[ $PUBLISH == 1 ]]; then
  cp "$OUT/RESULTS.md" "$OUT/results.png" "$HERE/"
  mkdir -p "$HERE/published"
  find "$HERE/published" -maxdepth 1 -type f ! -name README.md -delete
  for f in env.txt semcl.csv baseline.csv goal.csv goal_torch.csv shapes.csv baseline_info.json; do
    [[ -f $OUT/$f ]] && cp "$OUT/$f" "$HERE/published/"
  done
  "$PYTHON" "$HERE/readme_figures.py" --update
  echo "== published bench/RESULTS.md, bench/results.png, bench/published/ and README.md's figures" >&2
fi
echo "== done: $OUT" >&2
