#!/usr/bin/env bash
# Runs clang-tidy-14 (checks in .clang-tidy) over the sources in src/, using
# build/compile_commands.json (configured with the release preset if missing), two files
# at a time. Fails on any finding: .clang-tidy has WarningsAsErrors: '*'.
# Usage: tools/tidy.sh [PATH_REGEX...]   e.g. tools/tidy.sh src/protocol src/core
#   (default: all of src/; a regex is matched against the absolute source path)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${HERALD_TIDY_JOBS:-2}
if [[ ! -f build/compile_commands.json ]]; then
  cmake --preset release >/dev/null
fi
filters=()
if (($#)); then
  for f in "$@"; do filters+=("$root/${f#./}"); done
else
  filters=("$root/src/")
fi
# Only the findings: no colour codes (run-clang-tidy-14 always asks for colour), no
# per-file command lines, no counts of suppressed warnings from system headers.
clean() {
  sed -u -E 's/\x1b\[[0-9;]*m//g; /^clang-tidy-14 /d; /^[0-9]+ warnings? generated\.$/d;
          /^Suppressed [0-9]+ warnings/d; /^Use -header-filter/d; /^$/d'
}
start=$(date +%s)
status=0
if command -v run-clang-tidy-14 >/dev/null 2>&1; then
  run-clang-tidy-14 -clang-tidy-binary clang-tidy-14 -p build -j "$jobs" -quiet "${filters[@]}" \
    2>&1 | clean || status=$?
else
  # Fallback: the files of the compilation database under the filters, via xargs.
  pattern=$(IFS='|'; echo "${filters[*]}")
  python3 -c 'import json; [print(e["file"]) for e in json.load(open("build/compile_commands.json"))]' |
    grep -E "^($pattern)" | sort -u |
    xargs -P "$jobs" -n 1 clang-tidy-14 -p build --quiet 2>&1 | clean || status=$?
fi
if ((status)); then
  echo "tidy: findings above (or clang-tidy failed); $(($(date +%s) - start)) s" >&2
  exit 1
fi
echo "tidy: clean ($(($(date +%s) - start)) s)"
