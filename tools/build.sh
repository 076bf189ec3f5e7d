#!/usr/bin/env bash
# Configures and builds Herald into build/ (Release with debug info, Ninja, ccache).
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser bundles the web root serves come from npm (no CDN at run time).
if [[ ! -f web/lib/signalr.min.js ]] || [[ web/package-lock.json -nt web/lib/signalr.min.js ]]; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  mkdir -p web/lib
  cp web/node_modules/@microsoft/signalr/dist/browser/signalr.min.js web/lib/
  cp web/node_modules/@microsoft/signalr-protocol-msgpack/dist/browser/signalr-protocol-msgpack.min.js web/lib/
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
# Two jobs: the machine has two cores and Beast translation units are memory-heavy.
cmake --build build -j "${HERALD_BUILD_JOBS:-2}"
