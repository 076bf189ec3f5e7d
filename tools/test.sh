#!/usr/bin/env bash
# Fresh machine to all tests passed: installs what the tests need, then runs every check
# and prints each stage's wall time (README.md, "Tests"):
#   format     clang-format-14 check (tools/format.sh --check)
#   release    build/ (preset release, warnings as errors)
#   tidy       clang-tidy-14 over src/ (tools/tidy.sh)
#   unit       ctest in build/: unit tests and the media pipeline tests
#   asan       build-asan/ (preset debug-asan: ASan + UBSan, g++): ctest, unit + pipeline
#   tsan       build-tsan/ (preset tsan, g++): the unit tests
#   (the unit, asan, tsan, e2e and e2e-asan stages run against a throwaway MariaDB and Redis
#   too: tools/mariadb.sh and tools/redis.sh start them before and stop them after,
#   HERALD_TEST_MARIADB and HERALD_TEST_REDIS name them)
#   fuzz       libFuzzer targets (preset fuzz, clang-14), a fixed number of inputs each
#   e2e        the Node end-to-end suite against the release server
#   e2e-asan   the same suite against the ASan + UBSan server
#   bench      bench/run --smoke
# Builds go through ccache and build only the targets their stage needs.
# Usage: tools/test.sh [STAGE...]   only the named stages, in the order above (a stage
#   uses what earlier stages built: e2e-asan needs the asan stage's server, tidy needs
#   build/compile_commands.json)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
tools/install-deps.sh --test
# ccache: compiler output keyed on paths relative to the checkout, so other checkouts of
# the repository on the machine share hits (unless the caller chose otherwise).
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$ROOT}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
JOBS="${HERALD_BUILD_JOBS:-2}"

TIMES=()
TOTAL_START=$(date +%s)
summary() {
  echo "== stage times (s)"
  for t in "${TIMES[@]}"; do echo "   $t"; done
  echo "   total $(($(date +%s) - TOTAL_START))"
}
# The throwaway MariaDB and Redis of the stages that run unit or e2e tests
# (with_services): stopped on any exit, a failed stage included.
MARIADB_DIR=""
REDIS_DIR=""
stop_services() {
  if [[ -n "$MARIADB_DIR" ]]; then
    tools/mariadb.sh stop "$MARIADB_DIR" || true
    MARIADB_DIR=""
  fi
  if [[ -n "$REDIS_DIR" ]]; then
    tools/redis.sh stop "$REDIS_DIR" || true
    REDIS_DIR=""
  fi
}
trap 'stop_services; summary' EXIT
# with_services COMMAND...: runs COMMAND with HERALD_TEST_MARIADB and HERALD_TEST_REDIS
# naming a fresh server each (tests that kill Redis start their own: lib/redis.mjs).
with_services() {
  local env status=0
  env=$(tools/mariadb.sh start) || return
  eval "$env"
  MARIADB_DIR=$HERALD_MARIADB_DIR
  env=$(tools/redis.sh start) || { stop_services; return 1; }
  eval "$env"
  REDIS_DIR=$HERALD_REDIS_DIR
  "$@" || status=$?
  stop_services
  unset HERALD_TEST_MARIADB HERALD_MARIADB_DIR HERALD_TEST_REDIS HERALD_REDIS_DIR
  return $status
}
# stage NAME COMMAND...: runs one stage and records its wall time.
ONLY=" $* "
stage() {
  local name=$1 start
  shift
  if [[ $ONLY != "  " && $ONLY != *" $name "* ]]; then return 0; fi
  echo "== $name"
  start=$(date +%s)
  local status=0
  "$@" || status=$?
  local note=""
  ((status)) && note="  FAILED"
  TIMES+=("$(printf '%-9s %5d%s' "$name" $(($(date +%s) - start)) "$note")")
  if ((status)); then
    echo "== $name FAILED (exit $status)" >&2
    exit "$status"
  fi
}

# Each stage's steps are chained with &&: `set -e` does not apply inside a function that
# stage() calls from a `||` list.

# Sanitizer settings: any finding ends the process with an error (UBSan too:
# -fno-sanitize-recover=undefined in cmake/Sanitizers.cmake), with a stack.
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ASAN_BASE="detect_leaks=1:abort_on_error=1"
export ASAN_OPTIONS="$ASAN_BASE"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$ROOT/tests/tsan.supp"

build_release() { tools/build.sh -DHERALD_WARNINGS_AS_ERRORS=ON; }
unit_release() { (cd build && ctest --output-on-failure -j"$JOBS"); }

asan() {
  cmake --preset debug-asan >/dev/null &&
    cmake --build build-asan -j"$JOBS" --target herald_unit_tests herald_pipeline_tests herald &&
  # The pipeline tests (ffmpeg subprocesses, pocketsphinx in-process) are included: they
  # add ~1 min here and are the only tests of the WAV reader and the recogniser's buffers.
  (cd build-asan && ctest --output-on-failure -j"$JOBS")
}

tsan() {
  cmake --preset tsan >/dev/null &&
    cmake --build build-tsan -j"$JOBS" --target herald_unit_tests &&
  # One process, so the tests that share thread pools run as they do in the release run.
  # The pipeline tests are left out: the recogniser is single-threaded, and the process
  # runner's threads are covered by the unit tests of the job engine.
  (cd build-tsan/tests && ./herald_unit_tests --gtest_brief=1)
}

fuzz() { tools/fuzz.sh "runs:${HERALD_FUZZ_RUNS:-1000000}"; }

e2e_install() {
  (cd tests/e2e/node &&
     if [[ ! -d node_modules || package-lock.json -nt node_modules ]]; then
       npm ci --no-audit --no-fund --loglevel=error && touch node_modules
     fi)
}
e2e_release() {
  e2e_install &&
  (cd tests/e2e/node && HERALD_BIN="$ROOT/build/src/server/herald" npm test)
}

# The e2e suite against the ASan + UBSan server. Reports also go to files (log_path), and
# any file fails the stage: a server that the harness kills with SIGKILL at the end of a
# test, or one whose exit code a test does not check, would otherwise hide its report.
e2e_asan() {
  local reports="$ROOT/build-asan/e2e-reports"
  rm -rf "$reports" && mkdir -p "$reports" || return
  local status=0
  e2e_install || return
  # The sanitized server is several times slower: waits, latency bounds and the per-file
  # timeout are scaled.
  (cd tests/e2e/node && HERALD_BIN="$ROOT/build-asan/src/server/herald" HERALD_TEST_TIME_SCALE=4 \
     ASAN_OPTIONS="$ASAN_BASE:log_path=$reports/asan" \
     UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$reports/ubsan" \
     node --test --test-concurrency=1 --test-timeout=480000 test/) || status=$?
  if compgen -G "$reports/*" >/dev/null; then
    echo "e2e-asan: sanitizer reports:" >&2
    for f in "$reports"/*; do echo "--- $f" >&2; head -60 "$f" >&2; done
    return 1
  fi
  return $status
}

bench_smoke() { bench/run --smoke; }

stage format tools/format.sh --check
stage release build_release
stage tidy tools/tidy.sh
stage unit with_services unit_release
stage asan with_services asan
stage tsan with_services tsan
stage fuzz fuzz
stage e2e with_services e2e_release
stage e2e-asan with_services e2e_asan
stage bench bench_smoke
echo "== all tests passed"
