#!/usr/bin/env bash
# Configures and builds Herald into build/ (Release with debug info, Ninja, ccache).
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser bundles the web root serves come from npm (no CDN at run time).
# Swagger UI (the /swagger page) is copied the same way, into web/lib/swagger-ui/. Each
# marker file is checked so a checkout built before a bundle was added gets it too.
if [[ ! -f web/lib/signalr.min.js ]] || [[ web/package-lock.json -nt web/lib/signalr.min.js ]] ||
   [[ ! -f web/lib/swagger-ui/swagger-ui-bundle.js ]] ||
   [[ web/package-lock.json -nt web/lib/swagger-ui/swagger-ui-bundle.js ]]; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  mkdir -p web/lib/swagger-ui
  cp web/node_modules/@microsoft/signalr/dist/browser/signalr.min.js web/lib/
  cp web/node_modules/@microsoft/signalr-protocol-msgpack/dist/browser/signalr-protocol-msgpack.min.js web/lib/
  for f in swagger-ui-bundle.js swagger-ui-standalone-preset.js swagger-ui.css LICENSE; do
    cp web/node_modules/swagger-ui-dist/$f web/lib/swagger-ui/
  done
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
# Two jobs: the machine has two cores and Beast translation units are memory-heavy.
cmake --build build -j "${HERALD_BUILD_JOBS:-2}"
