#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/CMakeLists.txt: one per fuzz/fuzz_*.cpp, clang-14,
# ASan + UBSan; CMake preset `fuzz`, into build-fuzz/) and runs each for SECONDS
# (default 20), starting from the checked-in corpus. Exit non-zero on any crash.
# Usage: tools/fuzz.sh [SECONDS | runs:N]
#   runs:N runs exactly N inputs per target from a fixed seed and an empty work corpus:
#   the same inputs on every machine, which is what the test run uses (a randomised run
#   in CI would make CI's verdict depend on luck; explore with long timed runs instead).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
out=build-fuzz
if [[ ! -f $out/CMakeCache.txt ]]; then
  mkdir -p "$out"
  cmake --preset fuzz >"$out/configure.log" 2>&1 || { cat "$out/configure.log"; exit 1; }
fi
echo "fuzz: building the fuzzers (cmake --build --preset fuzz)"
cmake --build --preset fuzz >"$out/build.log" 2>&1 || { tail -50 "$out/build.log"; exit 1; }
for source in fuzz/fuzz_*.cpp; do
  target=$(basename "$source" .cpp)
  bin="$out/fuzz/$target"
  corpus="fuzz/corpus/${target#fuzz_}"
  corpus="${corpus%_protocol}"
  work="$out/corpus-${target}"
  if [[ "$seconds" == runs:* ]]; then
    budget=(-runs="${seconds#runs:}" -seed=1)
    rm -rf "$work"
    echo "fuzz: running $target for ${seconds#runs:} inputs (seed 1)"
  else
    budget=(-max_total_time="$seconds")
    echo "fuzz: running $target for ${seconds}s"
  fi
  mkdir -p "$work"
  "$bin" "${budget[@]}" -max_len=4096 -print_final_stats=1 \
    -artifact_prefix="$out/$target-" "$work" "$corpus" \
    > "$out/$target.log" 2>&1 || { tail -50 "$out/$target.log"; exit 1; }
  grep -E "stat::number_of_executed_units|Done" "$out/$target.log" | tail -1
done
