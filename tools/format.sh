#!/usr/bin/env bash
# clang-format-14 (style in .clang-format) over the git-tracked C and C++ files in src/,
# tests/, fuzz/ and bench/.
# Usage: tools/format.sh           reformat them in place
#        tools/format.sh --check   change nothing; fail, listing the differences, if any
#                                  file is not formatted (what tools/test.sh runs)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=(-i)
if [[ "${1:-}" == "--check" ]]; then
  mode=(--dry-run -Werror)
elif (($#)); then
  echo "usage: tools/format.sh [--check]" >&2; exit 2
fi
git ls-files -z -- src tests fuzz bench |
  grep -z -E '\.(c|cc|cpp|cxx|h|hh|hpp)$' |
  xargs -0 -r -n 50 clang-format-14 "${mode[@]}"
