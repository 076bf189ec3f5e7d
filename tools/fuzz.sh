#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang (ASan + UBSan) and runs each for
# SECONDS (default 20), starting from the checked-in corpus. Exit non-zero on any crash.
# Usage: tools/fuzz.sh [SECONDS | runs:N]
#   runs:N runs exactly N inputs per target from a fixed seed and an empty work corpus:
#   the same inputs on every machine, which is what the test run uses (a randomised run
#   in CI would make CI's verdict depend on luck; explore with long timed runs instead).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
out=build-fuzz
mkdir -p "$out"
common=(src/core/ids.cpp src/core/clock.cpp src/core/strings.cpp src/core/json_text.cpp
        src/protocol/signalr/messages.cpp src/protocol/signalr/handshake.cpp
        src/protocol/signalr/json_protocol.cpp src/protocol/signalr/varint.cpp
        src/protocol/signalr/msgpack_protocol.cpp
        src/protocol/websocket/frames.cpp src/protocol/websocket/accept_key.cpp)
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc)
for target in fuzz_handshake fuzz_json_protocol fuzz_msgpack_protocol fuzz_websocket_frames; do
  bin="$out/$target"
  if [[ ! -x "$bin" || -n "$(find src/protocol src/core "fuzz/$target.cpp" -newer "$bin" -print -quit)" ]]; then
    echo "fuzz: building $target"
    clang++-14 "${flags[@]}" "fuzz/$target.cpp" "${common[@]}" -lboost_json -lmsgpuck -lcrypto -o "$bin"
  fi
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
