#!/usr/bin/env bash
# Python binding tests (semcl.torch) against a built libsemcl, and optionally a pip install check.
#
#   scripts/test-python.sh LIBSEMCL_SO [--torch2] [--pip] [-- PYTEST_ARGS...]
#
#   LIBSEMCL_SO  path of a built libsemcl.so (e.g. build/libsemcl.so); nothing is built for it.
#   --torch2     also run the suite under PyTorch 2.x from PyPI, in the cached virtual environment
#                of scripts/torch2-venv (${SEMCL_VENV_CACHE:-~/.cache/semcl/torch2-venv}; made on
#                first use: ~5 GB, minutes). The PyTorch 2 tests (torch.compile, torch.export,
#                custom ops) are skipped under 1.13 and count in this run. If the environment
#                cannot be made or semcl.torch does not use its custom ops there, this script
#                fails loudly: it never passes without the PyTorch 2 run it was asked for.
#   --pip        also copy the working tree (no build dirs, no .git) to a temporary directory,
#                `pip install` it into a throw-away virtual environment (system site packages, so
#                the system torch is visible; needs network access for scikit-build-core) and
#                run the same tests against the installed package. SEMCL_CUDA (AUTO|ON|OFF) in
#                the environment is passed on to the build; default OFF here to keep it quick.
#
# PyTorch comes from $PYTHON (default /usr/bin/python3, Debian's python3-torch).
# Exit status: non-zero if any test fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[[ $# -ge 1 && $1 != -h && $1 != --help ]] || usage
lib=$1; shift
do_pip=0
do_torch2=0
pytest_args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --pip) do_pip=1 ;;
    --torch2) do_torch2=1 ;;
    --) shift; pytest_args=("$@"); break ;;
    -h|--help) usage ;;
    *) echo "test-python.sh: unknown argument '$1'" >&2; usage ;;
  esac
  shift
done
[[ -f $lib ]] || { echo "test-python.sh: no library at '$lib'" >&2; exit 2; }
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")

if ! "$PYTHON" -c 'import torch, pytest' 2>/dev/null; then
  echo "test-python.sh: $PYTHON lacks torch or pytest (Debian: apt-get install python3-torch python3-pytest)" >&2
  exit 2
fi

loud_failure() {
  {
    echo
    echo "################################################################################"
    echo "## test-python.sh: FAILED: $*"
    echo "################################################################################"
  } >&2
  exit 1
}

# run_suite PYTHON LABEL: the pytest suite against $lib, timed.
run_suite() {
  local py=$1 label=$2 t0 torch_version
  t0=$(date +%s)
  torch_version=$("$py" -c 'import torch; print(torch.__version__)')
  echo "== semcl Python tests, $label: torch $torch_version from $py, library $lib"
  PYTHONPATH=python SEMCL_LIBRARY=$lib "$py" -m pytest tests/python -q -p no:cacheprovider \
    -rs "${pytest_args[@]}"
  echo "== $label: suite took $(($(date +%s) - t0)) s"
}

cd "$here"
run_suite "$PYTHON" "system PyTorch"

if [[ $do_torch2 == 1 ]]; then
  py2=$(bash "$here/scripts/torch2-venv") ||
    loud_failure "no PyTorch 2 environment (scripts/torch2-venv, message above): the PyTorch 2 run did not happen"
  impl=$(PYTHONPATH=python SEMCL_LIBRARY=$lib "$py2" -c \
         'import semcl.torch as st; print(st.IMPLEMENTATION)') ||
    loud_failure "semcl.torch does not import under $py2"
  [[ $impl == "torch.library custom op" ]] ||
    loud_failure "semcl.torch uses '$impl' under $py2, not its custom ops: the PyTorch 2 tests would be skipped"
  run_suite "$py2" "PyTorch 2 (scripts/torch2-venv)"
fi

if [[ $do_pip == 1 ]]; then
  tmp=$(mktemp -d /tmp/semcl-pip.XXXXXX)
  trap 'rm -rf "$tmp"' EXIT
  echo "== pip install check in $tmp"
  mkdir "$tmp/src"
  # the working tree as a user would have it (uncommitted files included), without build dirs
  tar -C "$here" --exclude='./build*' --exclude='./.git' --exclude='__pycache__' \
      --exclude='./python/semcl/_lib' -cf - . | tar -C "$tmp/src" -xf -
  "$PYTHON" -m venv --system-site-packages "$tmp/venv"
  SEMCL_CUDA=${SEMCL_CUDA:-OFF} "$tmp/venv/bin/pip" install --quiet "$tmp/src"
  (
    cd "$tmp/src"  # the tests, run against the installed package (not python/ of the tree)
    env -u SEMCL_LIBRARY -u PYTHONPATH "$tmp/venv/bin/python" -c \
      'import semcl, os; p = semcl.library_path(); print("installed:", semcl.__file__, p); assert "site-packages" in p, p'
    # the wheel's semcl-bench command, on the environment's PATH
    PATH=$tmp/venv/bin:$PATH semcl-bench --loss positive_only --B 4096 --pass fwd --threads 1 \
      --reps 3 --min-time 0.01 --max-mem-mb 8 --no-demo --format csv > "$tmp/bench.csv"
    grep -q '^cpu,positive_only,' "$tmp/bench.csv" && echo "installed semcl-bench command: ok"
    env -u SEMCL_LIBRARY -u PYTHONPATH "$tmp/venv/bin/python" -m pytest tests/python -q \
      -p no:cacheprovider "${pytest_args[@]}"
  )
  echo "== pip install check passed"
fi
