#!/usr/bin/env bash
# A local distributed deployment on loopback: PostgreSQL and RabbitMQ (infra/services.sh), two
# platform replicas and two stand-alone edges in two regions, each a real process.
#
#   infra/cluster.sh start          build, then start whatever is not running (idempotent)
#   infra/cluster.sh status         each process, its health, the shards each replica drives
#   infra/cluster.sh kill <name>    kill -9 one process (replica-1, replica-2, edge-eu, edge-us)
#   infra/cluster.sh restart <name> start a killed process again
#   infra/cluster.sh stop           stop every process (the servers keep running)
#
# Replicas: http://127.0.0.1:8081 and :8082 (put any HTTP load balancer in front; consoles may use
# either). Edges: SIP on 127.0.0.1:5081 (region eu, linked to replica 1) and :5082 (region us,
# linked to replica 2), each failing over to the other replica, RTP 30000-30199 and 30200-30399.
# Callers +3x/+4x belong to eu, +1 to us: a call at the other region's edge is redirected (302). State and logs: $CLUSTER_DIR
# (default /tmp/switchboard-cluster). The database `switchboard_cluster` and the RabbitMQ vhost
# `switchboard_cluster` are this cluster's own.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER_DIR=${CLUSTER_DIR:-/tmp/switchboard-cluster}
BIN=${SWITCHBOARD_BIN:-${CARGO_TARGET_DIR:-target}/debug/switchboard}
DB=switchboard_cluster VHOST=switchboard_cluster
PG_OWNER=postgres://switchboard:switchboard@127.0.0.1:5432/$DB
PG_APP=postgres://switchboard_app:switchboard_app@127.0.0.1:5432/$DB
AMQP=amqp://switchboard:switchboard@127.0.0.1:5672/$VHOST
EDGE_TOKEN=local-cluster-edge-token-of-32-bytes-or-more
NAMES="replica-1 replica-2 edge-eu edge-us"

log() { echo "cluster: $*" >&2; }
die() { log "error: $*"; exit 1; }

pid_of() { cat "$CLUSTER_DIR/$1.pid" 2>/dev/null || true; }
running() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

provision() {
  infra/services.sh start
  runuser -u postgres -- psql -tAq -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 ||
    runuser -u postgres -- createdb -O switchboard "$DB"
  rabbitmqctl -q list_vhosts 2>/dev/null | grep -qx "$VHOST" || {
    rabbitmqctl -q add_vhost "$VHOST" >/dev/null
    rabbitmqctl -q set_permissions -p "$VHOST" switchboard '.*' '.*' '.*' >/dev/null
  }
  mkdir -p "$CLUSTER_DIR"
  [ -f "$CLUSTER_DIR/jwt.secret" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$CLUSTER_DIR/jwt.secret"
}

# launch <name>: starts one process in the background, its output in <name>.log.
launch() {
  local name=$1 dir="$CLUSTER_DIR/$1"
  running "$name" && { log "$name already running (pid $(pid_of "$name"))"; return 0; }
  mkdir -p "$dir"
  # One objects folder for every replica (what S3 or a shared volume is in a real deployment): a
  # recording uploaded through one replica is downloaded through another.
  local -a env=(SWITCHBOARD_DATA_DIR="$dir" SWITCHBOARD_OBJECTS_DIR="$CLUSTER_DIR/objects"
    SWITCHBOARD_EDGE_TOKEN="$EDGE_TOKEN" SWITCHBOARD_LOG="${SWITCHBOARD_LOG:-info}")
  local -a args
  case "$name" in
    replica-1|replica-2)
      local n=${name#replica-}
      env+=(SWITCHBOARD_HTTP_ADDR="127.0.0.1:808$n" SWITCHBOARD_SIP_ADDR=off SWITCHBOARD_SMTP_ADDR="127.0.0.1:252$n"
        SWITCHBOARD_DATABASE_URL="$PG_APP" SWITCHBOARD_DATABASE_OWNER_URL="$PG_OWNER"
        SWITCHBOARD_DATABASE_APP_ROLE=switchboard_app SWITCHBOARD_AMQP_URL="$AMQP"
        SWITCHBOARD_CALLER_REGIONS="eu=+3,+4;us=+1"
        SWITCHBOARD_JWT_SECRET="$(cat "$CLUSTER_DIR/jwt.secret")" SWITCHBOARD_PUBLIC_URL="http://127.0.0.1:808$n")
      args=(platform) ;;
    edge-eu|edge-us)
      local region=${name#edge-} n=1 other=2 rtp=30000
      [ "$region" = us ] && n=2 other=1 rtp=30200
      # Each edge prefers its region's replica and fails over to the other one.
      env+=(SWITCHBOARD_PLATFORM_URL="http://127.0.0.1:808$n,http://127.0.0.1:808$other"
        SWITCHBOARD_EDGE_ID="$name" SWITCHBOARD_EDGE_REGION="$region"
        SWITCHBOARD_SIP_ADDR="127.0.0.1:508$n" SWITCHBOARD_RTP_PORTS="$rtp-$((rtp + 199))"
        SWITCHBOARD_EDGE_HTTP_ADDR="127.0.0.1:809$n")
      args=(edge) ;;
    *) die "unknown process $name (one of: $NAMES)" ;;
  esac
  env "${env[@]}" setsid "$BIN" "${args[@]}" > "$CLUSTER_DIR/$name.log" 2>&1 &
  echo $! > "$CLUSTER_DIR/$name.pid"
  log "$name started (pid $!, log $CLUSTER_DIR/$name.log)"
}

health_url() {
  case "$1" in
    replica-1) echo http://127.0.0.1:8081/readyz ;; replica-2) echo http://127.0.0.1:8082/readyz ;;
    edge-eu) echo http://127.0.0.1:8091/healthz ;; edge-us) echo http://127.0.0.1:8092/healthz ;;
  esac
}

wait_healthy() {
  local name=$1 url; url=$(health_url "$1")
  for _ in $(seq 1 120); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && { log "$name healthy"; return 0; }
    running "$name" || die "$name exited; see $CLUSTER_DIR/$name.log"
    sleep 0.5
  done
  die "$name not healthy after 60 s; see $CLUSTER_DIR/$name.log"
}

status() {
  for name in $NAMES; do
    local state=stopped code=""
    if running "$name"; then
      code=$(curl -s -o /dev/null -w '%{http_code}' "$(health_url "$name")" || true)
      state="pid $(pid_of "$name"), health $code"
    fi
    printf '%-10s %s\n' "$name" "$state"
  done
  for n in 1 2; do
    running "replica-$n" || continue
    local shards
    shards=$(curl -s "http://127.0.0.1:808$n/metrics" | awk -F'"' '/^switchboard_routing_shard_driven\{/ && $NF ~ / 1$/ {print $2}' | sort -n | tr '\n' ' ')
    printf 'replica-%s drives shards: %s\n' "$n" "${shards:-none}"
  done
}

case "${1:-}" in
  start)
    provision
    [ -n "${SWITCHBOARD_BIN:-}" ] || cargo build --locked --bin switchboard
    for name in replica-1 replica-2; do launch "$name"; done
    for name in replica-1 replica-2; do wait_healthy "$name"; done
    for name in edge-eu edge-us; do launch "$name"; done
    for name in edge-eu edge-us; do wait_healthy "$name"; done
    status ;;
  status) status ;;
  kill)
    name=${2:?"kill which process? ($NAMES)"}
    running "$name" || die "$name is not running"
    kill -9 "$(pid_of "$name")"
    # Gone before we say so: a restart right after must not find it still dying.
    for _ in $(seq 1 40); do running "$name" || break; sleep 0.25; done
    log "$name killed (-9)" ;;
  restart)
    name=${2:?"restart which process? ($NAMES)"}
    launch "$name"; wait_healthy "$name" ;;
  stop)
    for name in $NAMES; do
      running "$name" && kill -TERM "$(pid_of "$name")" && log "$name stopping"
    done
    for name in $NAMES; do
      for _ in $(seq 1 40); do running "$name" || break; sleep 0.25; done
      rm -f "$CLUSTER_DIR/$name.pid"
    done ;;
  *) sed -n '2,15p' "$0" >&2; exit 2 ;;
esac
