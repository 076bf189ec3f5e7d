#!/usr/bin/env bash
# A throwaway Redis for the tests: Debian's redis-server as the current user in a temporary
# directory, on 127.0.0.1 and a free port, with a random password and no persistence; no
# system service, no configuration file of the system's read, nothing left behind by `stop`.
#
#   eval "$(tools/redis.sh start)"   starts one; prints the variables to export:
#       HERALD_REDIS_DIR    its directory (configuration, log)
#       HERALD_TEST_REDIS   a connection string for it, `127.0.0.1:PORT,password=…`
#                           (the StackExchange.Redis form of ConnectionStrings:Redis)
#   tools/redis.sh env [DIR]         prints those variables again
#   tools/redis.sh stop [DIR]        shuts it down and removes DIR
# DIR defaults to $HERALD_REDIS_DIR.
set -euo pipefail

die() { echo "redis.sh: $*" >&2; exit 1; }

cmd=${1:-}
dir=${2:-${HERALD_REDIS_DIR:-}}

print_env() {
  [[ -f "$1/env" ]] || die "no server in '$1'"
  cat "$1/env"
}

start() {
  command -v redis-server >/dev/null || die "redis-server is not installed (tools/install-deps.sh --test installs it)"
  dir=$(mktemp -d "${TMPDIR:-/tmp}/herald-redis.XXXXXX")
  local password port pid tries
  password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
  for tries in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then continue; fi
    # No RDB snapshots nor AOF: the tests' Redis holds nothing that must survive it.
    cat >"$dir/redis.conf" <<CONF
bind 127.0.0.1
port $port
dir $dir
requirepass $password
save ""
appendonly no
daemonize no
logfile $dir/redis.log
CONF
    redis-server "$dir/redis.conf" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do
      if REDISCLI_AUTH=$password redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then break 2; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
  done
  if [[ -z "${pid:-}" ]]; then
    tail -20 "$dir/redis.log" >&2 || true
    rm -rf "$dir"
    die "redis-server did not start"
  fi
  echo "$pid" >"$dir/pid"
  cat >"$dir/env" <<ENV
export HERALD_REDIS_DIR='$dir'
export HERALD_TEST_REDIS='127.0.0.1:$port,password=$password'
ENV
  print_env "$dir"
}

stop() {
  [[ -n "$dir" && -d "$dir" ]] || die "stop: no server directory (HERALD_REDIS_DIR)"
  if [[ -f "$dir/pid" ]]; then
    local pid
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  env) print_env "$dir" ;;
  *) die "usage: tools/redis.sh start|stop|env [DIR]" ;;
esac
