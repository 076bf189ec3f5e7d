#!/usr/bin/env bash
# Installs the Debian packages Herald builds and tests with. Idempotent: skips apt
# entirely when everything is present already. Usage: tools/install-deps.sh [--test]
set -euo pipefail

BUILD_PKGS=(
  g++ cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev   # Asio/Beast, JSON, URL
  libspdlog-dev libfmt-dev                                      # structured logging
  libcli11-dev                                                  # command line
  libsqlite3-dev                                                # default store
  libmariadb-dev                                                # MariaDB/MySQL store (Connector/C)
  libtcmalloc-minimal4                                          # the server's allocator
  libmsgpuck-dev                                                # MessagePack hub protocol
  libssl-dev                                                    # https downloads, JWT
  libhiredis-dev                                                # Redis backplane (async client)
  libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us      # offline speech recognition
  ffmpeg                                                        # audio extraction, probing
)
TEST_PKGS=(
  libgtest-dev                                                  # unit tests
  pocketsphinx-testdata                                         # real recorded speech
  chromium                                                      # browser tests
  clang-14 libclang-rt-14-dev                                   # libFuzzer, sanitizers
  clang-format-14 clang-tidy-14                                 # formatting and static analysis checks
  prometheus                                                    # promtool checks the /metrics text
  sqlite3                                                       # e2e: a second process locks the store (readiness 503)
  mariadb-server                                                # throwaway MariaDB for the store tests (tools/mariadb.sh; no service)
  redis-server                                                  # throwaway Redis for the backplane tests (tools/redis.sh, lib/redis.mjs; no service)
  nginx                                                         # round-robin balancer of the scale-out tests (lib/nginx.mjs; no service)
  yt-dlp                                                        # YouTube ingest (e2e: ytdlp.test.mjs, offline through a stand-in extractor)
)
pkgs=("${BUILD_PKGS[@]}")
if [[ "${1:-}" == "--test" ]]; then pkgs+=("${TEST_PKGS[@]}"); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node and npm bring the SignalR browser bundle for the web root (and run the e2e tests).
if ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi

if ((${#missing[@]})); then
  SUDO=""
  [[ "$(id -u)" != 0 ]] && SUDO=sudo
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
