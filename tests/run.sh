#!/usr/bin/env bash
# qwem's test command (README, Quick start, command 2; CI runs it through .ci/run):
#
#   python3 -m venv .venv && .venv/bin/pip install -e ".[dev]" && PATH="$PWD/.venv/bin:$PATH" bash tests/run.sh
#
# Stages, each timed:
#   sync     nbdev_clean and nbdev_export leave nbs/ and qwem/ unchanged (the notebooks are the source)
#   readme   README.md is what nbs/index.ipynb gives (python tools/build_docs.py --check-readme)
#   nbdev    nbdev_test: every notebook executed, `#| slow` cells skipped (settings.ini tst_flags)
#   pytest   tests/, without the slow and browser tests
#   docs     the offline docs site: python tools/build_docs.py -> _docs/
#   browser  the browser tests (tests marked `browser`) in headless Chromium: that _docs/, and 03a_explorer run in
#            JupyterLab (tests/test_jupyterlab.py)
#            (installs the Debian package `chromium` when /usr/bin/chromium is missing)
# Every stage runs; the summary lists the failures and the script exits 1 if any.
# Environment: QWEM_SKIP_BROWSER=1 skips the checks that need Chromium (the static checks of the site still run); NBDEV_TEST_WORKERS (default 2) sets nbdev_test's workers;
# QWEM_CHROMIUM points at another Chromium binary; QWEM_STAGES="docs browser" runs only the stages named (default: all).
# Uses the Python environment on PATH; if nbdev is not on PATH and ./.venv exists, uses ./.venv.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v nbdev_test >/dev/null 2>&1 && [ -x .venv/bin/python ]; then
  export PATH="$PWD/.venv/bin:$PATH"
  echo "tests/run.sh: using ./.venv"
fi
for tool in python nbdev_clean nbdev_export nbdev_test; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "tests/run.sh: '$tool' not found. Set up first: python3 -m venv .venv && .venv/bin/pip install -e \".[dev]\""
    exit 1
  fi
done
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

now_ms() { if [ -n "${EPOCHREALTIME:-}" ]; then local t=${EPOCHREALTIME/[.,]/}; echo $(( t / 1000 )); else echo $(( $(date +%s) * 1000 )); fi; }
fmt_s() { printf '%d.%01d' $(( $1 / 1000 )) $(( ($1 % 1000) / 100 )); }
T_START=$(now_ms)
SUMMARY=()
FAILED=()

stage() {  # stage NAME COMMAND...: run, time, record
  local name=$1; shift
  echo
  echo "=============== [$name] $(printf "%q " "$@")"
  local t0; t0=$(now_ms)
  "$@"
  local rc=$?
  local dt=$(( $(now_ms) - t0 ))
  if [ $rc -eq 0 ]; then SUMMARY+=("$(printf '%-8s %8ss  ok' "$name" "$(fmt_s $dt)")")
  else SUMMARY+=("$(printf '%-8s %8ss  FAILED (exit %d)' "$name" "$(fmt_s $dt)" $rc)"); FAILED+=("$name"); fi
  echo "=============== [$name] $( [ $rc -eq 0 ] && echo ok || echo "FAILED (exit $rc)" ) in $(fmt_s $dt) s"
  return $rc
}

snapshot() {  # checksum of every file under nbs/ and qwem/ (caches excluded)
  python - <<'EOF'
import hashlib, os
for top in ('nbs', 'qwem'):
    for d, dirs, files in os.walk(top):
        dirs[:] = sorted(x for x in dirs if x not in ('__pycache__', '.ipynb_checkpoints'))
        for f in sorted(files):
            p = os.path.join(d, f)
            if os.path.islink(p): h = 'link:' + os.readlink(p)
            else:
                with open(p, 'rb') as fh: h = hashlib.sha256(fh.read()).hexdigest()
            print(h, p)
EOF
}

check_sync() {
  local before after changed
  before=$(snapshot) || return 1
  nbdev_clean || { echo "nbdev_clean failed"; return 1; }
  nbdev_export || { echo "nbdev_export failed"; return 1; }
  after=$(snapshot) || return 1
  if [ "$before" != "$after" ]; then
    changed=$(diff <(echo "$before") <(echo "$after") | awk '/^[<>] /{ $1 = ""; $2 = ""; sub(/^ +/, ""); print }' | sort -u)
    echo
    echo "nbdev_clean / nbdev_export changed these files:"
    echo "$changed" | sed 's/^/    /'
    if git rev-parse --git-dir >/dev/null 2>&1; then git --no-pager diff --stat -- nbs qwem; fi
    echo "The notebooks and the library are out of sync: run \`nbdev_clean && nbdev_export\` and commit the result."
    return 1
  fi
  echo "nbdev_clean and nbdev_export left nbs/ and qwem/ unchanged."
}

ensure_chromium() {
  local chromium=${QWEM_CHROMIUM:-/usr/bin/chromium}
  [ -x "$chromium" ] && return 0
  local cmd="apt-get update && apt-get install -y chromium"
  echo "Chromium not found at $chromium: installing the Debian package ($cmd)"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"
    else echo "Cannot install Chromium (not root, no passwordless sudo). Run: sudo apt-get update && sudo apt-get install -y chromium  (or set QWEM_SKIP_BROWSER=1)"; return 1; fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "Cannot install Chromium: no apt-get here. Install Chromium and set QWEM_CHROMIUM=/path/to/chromium (or QWEM_SKIP_BROWSER=1)."
    return 1
  fi
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
    || { echo "Installing Chromium failed. Run: ${sudo:+sudo }apt-get update && ${sudo:+sudo }apt-get install -y chromium  (or set QWEM_SKIP_BROWSER=1)"; return 1; }
  [ -x "$chromium" ] || { echo "Chromium still missing at $chromium after: $cmd"; return 1; }
}

browser_tests() {
  if [ "${QWEM_SKIP_BROWSER:-0}" = 1 ]; then echo "QWEM_SKIP_BROWSER=1: only the static checks of the site run"
  else ensure_chromium || return 1; fi
  QWEM_DOCS_DIR="$PWD/_docs" python -m pytest -q -m "browser and not slow" tests
}

run() {  # run NAME COMMAND...: a stage, unless QWEM_STAGES names others
  if [ -z "${QWEM_STAGES:-}" ] || [[ " $QWEM_STAGES " == *" $1 "* ]]; then stage "$@"
  else SUMMARY+=("$(printf '%-8s %8s   not selected (QWEM_STAGES)' "$1" -)"); fi
}

run sync check_sync
run readme python tools/build_docs.py --check-readme
run nbdev nbdev_test --n_workers "${NBDEV_TEST_WORKERS:-2}" --timing
run pytest python -m pytest -q -m "not slow and not browser" tests
if run docs python tools/build_docs.py; then
  run browser browser_tests
else
  SUMMARY+=("$(printf '%-8s %8s   not run (the docs build failed)' browser -)"); FAILED+=(browser)
fi

echo
echo "=============== summary"
printf '%s\n' "${SUMMARY[@]}"
printf -- '-------- %8ss  total\n' "$(fmt_s $(( $(now_ms) - T_START )))"
if [ ${#FAILED[@]} -gt 0 ]; then echo "FAILED: ${FAILED[*]}"; exit 1; fi
echo "all stages passed"
