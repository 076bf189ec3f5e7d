#!/usr/bin/env bash
# Configures and builds Herald into build/ (Release with debug info, Ninja, ccache).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
# Two jobs: the machine has two cores and Beast translation units are memory-heavy.
cmake --build build -j "${HERALD_BUILD_JOBS:-2}"
