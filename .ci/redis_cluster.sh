#!/usr/bin/env bash
# A local 3-master / 3-replica Redis Cluster on loopback for strata_redis's tests and report.
#
#   .ci/redis_cluster.sh start <dir>              stop old nodes of <dir>, wipe it, create a fresh
#                                                 cluster, wait for cluster_state:ok and synced
#                                                 replicas; prints the store URL on stdout
#   .ci/redis_cluster.sh stop <dir>               stop every node of <dir> (SIGTERM, then SIGKILL)
#   .ci/redis_cluster.sh kill-node <dir> <port>   SIGKILL one node (pid file <dir>/<port>/redis.pid)
#   .ci/redis_cluster.sh pause-node <dir> <port>  SIGSTOP one node (it accepts TCP but never answers)
#   .ci/redis_cluster.sh resume-node <dir> <port> SIGCONT it
#   .ci/redis_cluster.sh start-node <dir> <port>  restart one node on its own config, nodes.conf
#                                                 and AOF (it rejoins with the data it had)
#   .ci/redis_cluster.sh start-all <dir>          restart every node of <dir>, wait for state ok
#                                                 and synced replicas
#   .ci/redis_cluster.sh wait-ok <dir>            wait (≤ 60 s) for cluster_state:ok everywhere
#   .ci/redis_cluster.sh url [<dir>]              print the URL
#
# Ports: STRATA_REDIS_PORT_BASE (default 7100) .. +5, bound to 127.0.0.1. Nodes run with
# appendonly yes + appendfsync always (a restarted node keeps acknowledged data) and
# cluster-node-timeout 2000 ms (a replica takes over ~2–5 s after its master dies).
# Installs redis-server from the Debian packages if it is missing.
set -euo pipefail

BASE=${STRATA_REDIS_PORT_BASE:-7100}
PORTS=()
for i in 0 1 2 3 4 5; do PORTS+=($((BASE + i))); done

die() { echo "redis_cluster.sh: $*" >&2; exit 1; }

ensure_installed() {
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "redis_cluster.sh: installing redis-server (Debian)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq redis-server redis-tools >/dev/null
  fi
}

url() {
  local nodes
  nodes=$(printf '127.0.0.1:%s,' "${PORTS[@]:0:3}")
  echo "redis+cluster://${nodes%,}/"
}

write_conf() {
  local dir=$1 port=$2
  mkdir -p "$dir/$port"
  cat >"$dir/$port/redis.conf" <<EOF
port $port
bind 127.0.0.1
daemonize yes
dir $dir/$port
pidfile $dir/$port/redis.pid
logfile $dir/$port/redis.log
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 2000
cluster-replica-validity-factor 0
appendonly yes
appendfsync always
save ""
EOF
}

start_node() {
  local dir=$1 port=$2
  [[ -f "$dir/$port/redis.conf" ]] || die "no config for node $port in $dir (run start first)"
  if node_alive "$dir" "$port"; then return 0; fi
  redis-server "$dir/$port/redis.conf" >/dev/null
  for _ in $(seq 1 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  die "node $port did not start (see $dir/$port/redis.log)"
}

node_pid() { cat "$1/$2/redis.pid" 2>/dev/null || true; }

node_alive() {
  local pid
  pid=$(node_pid "$1" "$2")
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && grep -q redis "/proc/$pid/comm" 2>/dev/null \
    && [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]] # a zombie is dead
}

kill_node() {
  local dir=$1 port=$2 pid
  pid=$(node_pid "$dir" "$port")
  if node_alive "$dir" "$port"; then kill -9 "$pid"; fi
  for _ in $(seq 1 100); do node_alive "$dir" "$port" || break; sleep 0.05; done
  rm -f "$dir/$port/redis.pid"
}

stop_all() {
  local dir=$1 port pid
  for port in "${PORTS[@]}"; do
    if node_alive "$dir" "$port"; then kill "$(node_pid "$dir" "$port")" 2>/dev/null || true; fi
  done
  for port in "${PORTS[@]}"; do
    for _ in $(seq 1 60); do node_alive "$dir" "$port" || break; sleep 0.05; done
    kill_node "$dir" "$port"
  done
}

wait_ok() {
  local dir=$1 port deadline=$((SECONDS + 60))
  while ((SECONDS < deadline)); do
    local ok=1
    for port in "${PORTS[@]}"; do
      redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || { ok=0; break; }
    done
    ((ok)) && return 0
    sleep 0.2
  done
  die "cluster in $dir did not reach cluster_state:ok within 60 s"
}

# Every master has a replica whose link is up (WAIT 1 can succeed).
wait_replicas() {
  local deadline=$((SECONDS + 60)) port
  while ((SECONDS < deadline)); do
    local ok=1
    for port in "${PORTS[@]}"; do
      local info
      info=$(redis-cli -p "$port" info replication 2>/dev/null | tr -d '\r')
      if grep -q '^role:master' <<<"$info"; then
        grep -q '^connected_slaves:[1-9]' <<<"$info" || { ok=0; break; }
      else
        grep -q '^master_link_status:up' <<<"$info" || { ok=0; break; }
      fi
    done
    ((ok)) && return 0
    sleep 0.2
  done
  die "replicas did not sync within 60 s"
}

cmd=${1:-}
case "$cmd" in
  start)
    dir=${2:?usage: start <dir>}
    ensure_installed
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    stop_all "$dir"
    for port in "${PORTS[@]}"; do rm -rf "${dir:?}/$port"; write_conf "$dir" "$port"; done
    for port in "${PORTS[@]}"; do start_node "$dir" "$port"; done
    hosts=()
    for port in "${PORTS[@]}"; do hosts+=("127.0.0.1:$port"); done
    redis-cli --cluster create "${hosts[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 \
      || { cat "$dir/create.log" >&2; die "cluster create failed"; }
    wait_ok "$dir"
    wait_replicas
    url
    ;;
  stop) stop_all "${2:?usage: stop <dir>}" ;;
  kill-node) kill_node "${2:?usage: kill-node <dir> <port>}" "${3:?port}" ;;
  pause-node) kill -STOP "$(node_pid "${2:?usage: pause-node <dir> <port>}" "${3:?port}")" ;;
  resume-node) kill -CONT "$(node_pid "${2:?usage: resume-node <dir> <port>}" "${3:?port}")" ;;
  start-node) start_node "${2:?usage: start-node <dir> <port>}" "${3:?port}" ;;
  start-all)
    dir=${2:?usage: start-all <dir>}
    for port in "${PORTS[@]}"; do start_node "$dir" "$port"; done
    wait_ok "$dir"
    wait_replicas
    ;;
  wait-ok) wait_ok "${2:?usage: wait-ok <dir>}" ;;
  url) url ;;
  *) die "usage: $0 start|stop|kill-node|pause-node|resume-node|start-node|start-all|wait-ok|url <dir> [port]" ;;
esac
