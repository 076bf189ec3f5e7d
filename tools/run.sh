#!/usr/bin/env bash
# Fresh machine to running server: installs build dependencies, builds, and runs
# `herald serve` with its embedded defaults (SQLite in ./data, in-process backplane,
# http://localhost:5000). Extra arguments go to `herald serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
exec build/src/server/herald serve "$@"
