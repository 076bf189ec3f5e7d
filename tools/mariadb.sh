#!/usr/bin/env bash
# A throwaway MariaDB server for the tests: Debian's mariadb-server binaries run as the
# current user in a temporary directory, on 127.0.0.1 and a free port; no system service,
# no configuration file read (--no-defaults), nothing left behind by `stop`.
#
#   eval "$(tools/mariadb.sh start)"   starts one; prints the variables to export:
#       HERALD_MARIADB_DIR    its directory (data, socket, log)
#       HERALD_TEST_MARIADB   a connection string for user herald (random password) to
#                             database herald_test; the user may create databases (the
#                             store's tests make one per test) and users with lesser
#                             privileges (the read-only store tests), and is exempt from
#                             the server's read_only (READ ONLY ADMIN)
#   tools/mariadb.sh env [DIR]         prints those variables again
#   tools/mariadb.sh stop [DIR]        shuts it down and removes DIR
# DIR defaults to $HERALD_MARIADB_DIR.
set -euo pipefail

die() { echo "mariadb.sh: $*" >&2; exit 1; }

cmd=${1:-}
dir=${2:-${HERALD_MARIADB_DIR:-}}

client() { mariadb --no-defaults --protocol=socket --socket="$1/sock" -uroot "${@:2}"; }

print_env() {
  [[ -f "$1/env" ]] || die "no server in '$1'"
  cat "$1/env"
}

start() {
  command -v mariadbd >/dev/null || PATH="$PATH:/usr/sbin"
  command -v mariadbd >/dev/null && command -v mariadb-install-db >/dev/null ||
    die "mariadb-server is not installed (tools/install-deps.sh --test installs it)"
  dir=$(mktemp -d "${TMPDIR:-/tmp}/herald-mariadb.XXXXXX")
  local user
  user=$(id -un)
  # --auth-root-authentication-method=normal: root logs in over the socket without a
  # password (only this user can reach the socket: the directory is 0700).
  if ! mariadb-install-db --no-defaults --user="$user" --datadir="$dir/data" \
      --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1; then
    cat "$dir/install.log" >&2
    rm -rf "$dir"
    die "mariadb-install-db failed"
  fi
  local port pid tries
  for tries in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then continue; fi
    # Durability of the throwaway server is not under test (the store's own contract is):
    # no binary log, and the InnoDB log written but not fsynced at every commit.
    mariadbd --no-defaults --user="$user" --datadir="$dir/data" --socket="$dir/sock" \
      --pid-file="$dir/mariadbd.pid" --port="$port" --bind-address=127.0.0.1 \
      --log-error="$dir/error.log" --skip-log-bin --innodb-buffer-pool-size=64M \
      --innodb-flush-log-at-trx-commit=2 --max-connections=200 \
      --character-set-server=utf8mb4 --collation-server=utf8mb4_bin >/dev/null 2>&1 &
    pid=$!
    # Up to 30 s for it to answer (or to die, e.g. when the port was taken meanwhile).
    for _ in $(seq 300); do
      if client "$dir" -e "SELECT 1" >/dev/null 2>&1; then break 2; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
  done
  if [[ -z "${pid:-}" ]]; then
    tail -20 "$dir/error.log" >&2 || true
    rm -rf "$dir"
    die "mariadbd did not start"
  fi
  echo "$pid" >"$dir/pid"
  local password
  password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  client "$dir" <<SQL
CREATE USER 'herald'@'127.0.0.1' IDENTIFIED BY '$password';
CREATE USER 'herald'@'localhost' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO 'herald'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'herald'@'localhost' WITH GRANT OPTION;
CREATE DATABASE herald_test CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
SQL
  cat >"$dir/env" <<ENV
export HERALD_MARIADB_DIR='$dir'
export HERALD_TEST_MARIADB='Server=127.0.0.1;Port=$port;Database=herald_test;User=herald;Password=$password'
ENV
  print_env "$dir"
}

stop() {
  [[ -n "$dir" && -d "$dir" ]] || die "stop: no server directory (HERALD_MARIADB_DIR)"
  if [[ -f "$dir/pid" ]]; then
    local pid
    pid=$(cat "$dir/pid")
    # A clean shutdown first; the process is ours (its pid file), so a kill is the fallback.
    client "$dir" -e "SHUTDOWN" >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    for _ in $(seq 300); do
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
  *) die "usage: tools/mariadb.sh start|stop|env [DIR]" ;;
esac
