#!/usr/bin/env bash
# A local Herald cluster to try by hand: a throwaway redis-server, a throwaway MariaDB
# (tools/mariadb.sh), three Herald nodes (build/src/server/herald) sharing both, and
# Debian's nginx round-robin in front with no affinity (no ip_hash, no sticky cookie), so
# consecutive requests of one client land on different nodes. Prints the URL; Ctrl-C stops
# everything and removes what it made. docs/deploy.md explains the set-up and its failures.
#
#   tools/cluster.sh [--nodes N] [--port PORT]
#       --nodes N    Herald nodes (default 3)
#       --port PORT  nginx's port on 127.0.0.1 (default 8080; 0: a free one)
#   HERALD_BIN=...         the server binary (default build/src/server/herald)
#   HERALD_CLUSTER_REDIS=0 no Redis: each node delivers only what is reported through it
#   HERALD_CLUSTER_LOG=debug  the nodes' --log-level (default info)
# Everything lives in a temporary folder (logs included), printed at start.
set -euo pipefail

die() { echo "cluster.sh: $*" >&2; exit 1; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${HERALD_BIN:-$root/build/src/server/herald}
nodes=3
port=8080
while [[ $# -gt 0 ]]; do
  case $1 in
    --nodes) nodes=${2:?}; shift 2 ;;
    --port) port=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (--help)" ;;
  esac
done
[[ $nodes =~ ^[1-9][0-9]?$ ]] || die "--nodes: 1-99"
[[ $port =~ ^[0-9]+$ ]] || die "--port: a number"
[[ -x $bin ]] || die "no server at $bin: build it first (tools/build.sh) or set HERALD_BIN"
PATH="$PATH:/usr/sbin"
command -v nginx >/dev/null || die "nginx is not installed (apt-get install nginx)"
use_redis=${HERALD_CLUSTER_REDIS:-1}
if [[ $use_redis != 0 ]]; then
  command -v redis-server >/dev/null || die "redis-server is not installed (apt-get install redis-server), or set HERALD_CLUSTER_REDIS=0"
fi

# A TCP port on 127.0.0.1 nothing listens on now (nothing else is started in between).
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  die "no free port found"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/herald-cluster.XXXXXX")
pids=()
MARIADB_DIR=
keep=0  # 1: a process died on its own; its logs stay
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "stopping the cluster..."
  # nginx first (no new requests), then the nodes (they drain), then their stores.
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n $MARIADB_DIR ]]; then "$root/tools/mariadb.sh" stop "$MARIADB_DIR" || true; fi
  if [[ $keep == 1 ]]; then
    echo "stopped; logs kept in $work"
  else
    rm -rf "$work"
    echo "stopped; removed $work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "cluster folder: $work"

# ---- MariaDB: one database for every node.
env_text=$("$root/tools/mariadb.sh" start) || die "MariaDB did not start"
eval "$env_text"
MARIADB_DIR=$HERALD_MARIADB_DIR
echo "MariaDB: $MARIADB_DIR"

# ---- Redis: the nodes' backplane, with a random password.
redis_env=()
if [[ $use_redis != 0 ]]; then
  redis_port=$(free_port)
  redis_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  mkdir -p "$work/redis"
  cat >"$work/redis/redis.conf" <<EOF
bind 127.0.0.1
port $redis_port
dir $work/redis
requirepass $redis_password
save ""
appendonly no
daemonize no
logfile $work/redis/redis.log
EOF
  redis-server "$work/redis/redis.conf" &
  pids+=($!)
  for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break
    sleep 0.1
  done
  redis_env=("ConnectionStrings__Redis=127.0.0.1:$redis_port,password=$redis_password")
  echo "Redis: 127.0.0.1:$redis_port (log $work/redis/redis.log)"
fi

# ---- Herald nodes: one secret for all, each on a port of its own.
secret=$(head -c 32 /dev/urandom | base64)
upstreams=()
for i in $(seq 1 "$nodes"); do
  dir="$work/node$i"
  mkdir -p "$dir"
  # From the repository root, so each node serves the dashboard from web/.
  (cd "$root" && exec env "${redis_env[@]}" \
      "ConnectionStrings__Default=$HERALD_TEST_MARIADB" \
      "Cluster__Secret=$secret" "Herald__NodeId=node$i" \
      "$bin" serve --urls http://127.0.0.1:0 --data-dir "$dir" \
      --log-level "${HERALD_CLUSTER_LOG:-info}" >"$dir/herald.log" 2>&1) &
  pids+=($!)
done
for i in $(seq 1 "$nodes"); do
  log="$work/node$i/herald.log"
  node_port=
  for _ in $(seq 1 150); do
    node_port=$(sed -n 's/.*Herald listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
    [[ -n $node_port ]] && break
    sleep 0.1
  done
  [[ -n $node_port ]] || { cat "$log" >&2; die "node $i did not start (log above)"; }
  upstreams+=("127.0.0.1:$node_port")
  echo "node$i: http://127.0.0.1:$node_port (log $log)"
done

# ---- nginx: round-robin, no affinity; the configuration docs/deploy.md shows.
[[ $port == 0 ]] && port=$(free_port)
mkdir -p "$work/nginx"/{body,proxy,fastcgi,uwsgi,scgi}
{
  echo "daemon off;"
  echo "worker_processes 1;"
  [[ $(id -u) == 0 ]] && echo "user root root;"
  echo "pid $work/nginx/nginx.pid;"
  echo "error_log $work/nginx/error.log warn;"
  echo "events { worker_connections 4096; }"
  echo "http {"
  echo "  log_format herald '\$remote_addr \"\$request\" \$status -> \$upstream_addr (\$upstream_http_x_herald_node)';"
  echo "  access_log $work/nginx/access.log herald;"
  for d in body proxy fastcgi uwsgi scgi; do echo "  ${d/body/client_body}_temp_path $work/nginx/$d;"; done
  echo "  map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }"
  echo "  upstream herald {"
  for u in "${upstreams[@]}"; do echo "    server $u max_fails=0;"; done
  echo "  }"
  cat <<'EOF'
  server {
    listen 127.0.0.1:NGINX_PORT;
    client_max_body_size 2m;
    location / {
      proxy_pass http://herald;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 300s;
      proxy_send_timeout 300s;
      proxy_connect_timeout 2s;
      proxy_next_upstream error timeout;
    }
  }
}
EOF
} | sed "s/NGINX_PORT/$port/" >"$work/nginx/nginx.conf"
nginx -t -q -p "$work/nginx" -c "$work/nginx/nginx.conf" 2>"$work/nginx/test.log" ||
  { cat "$work/nginx/test.log" >&2; die "nginx refused its configuration"; }
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids=($! "${pids[@]}")  # stopped first
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

cat <<EOF

Herald cluster: http://127.0.0.1:$port
  dashboard     http://127.0.0.1:$port/
  hub           http://127.0.0.1:$port/hubs/job-progress
  REST API      http://127.0.0.1:$port/api/v1/jobs
  nginx log     $work/nginx/access.log   (which node served each request)
Try:  curl -si http://127.0.0.1:$port/health | grep -i x-herald-node   (again: another node)
Ctrl-C stops everything.
EOF

# Until Ctrl-C, or until one of the processes ends on its own.
set +e
wait -n "${pids[@]}"
echo "cluster.sh: a process of the cluster exited; see the logs in $work" >&2
keep=1
exit 1
