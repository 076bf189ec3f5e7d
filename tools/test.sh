#!/usr/bin/env bash
# Fresh machine to all tests passed: installs what the tests need, builds with
# warnings as errors, runs the unit tests (ctest) and the end-to-end suites against
# the real server with the real SignalR clients.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh --test
tools/build.sh -DHERALD_WARNINGS_AS_ERRORS=ON
export HERALD_BIN="$PWD/build/src/server/herald"

echo "== unit tests"
(cd build && ctest --output-on-failure -j2)

echo "== fuzzing the protocol parsers (libFuzzer, a fixed ${HERALD_FUZZ_RUNS:-1000000} inputs each)"
tools/fuzz.sh "runs:${HERALD_FUZZ_RUNS:-1000000}"

echo "== end-to-end tests (Node, @microsoft/signalr)"
(cd tests/e2e/node && npm ci --no-audit --no-fund --loglevel=error && npm test)

echo "== fan-out benchmark smoke (load generator against Herald, a few seconds)"
bench/run --smoke
