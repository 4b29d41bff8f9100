#!/usr/bin/env bash
# Installs (Debian, as root) and runs the servers that the distributed backends and their tests
# need, on loopback only. Idempotent: run it as often as you like.
#
#   infra/services.sh start              install if missing, start, provision roles and users
#   infra/services.sh tools              install the test peers swaks and aiosmtpd (also done by start)
#   infra/services.sh env                print the test environment (eval "$(infra/services.sh env)")
#   infra/services.sh stop               stop both
#   infra/services.sh restart-rabbitmq   restart the broker and wait for it (fault tests)
#   infra/services.sh restart-postgres   restart PostgreSQL and wait for it (fault tests)
set -euo pipefail

PG_USER=switchboard PG_PASSWORD=switchboard
PG_APP_USER=switchboard_app PG_APP_PASSWORD=switchboard_app
MQ_USER=switchboard MQ_PASSWORD=switchboard

log() { echo "services: $*" >&2; }
die() { log "error: $*"; exit 1; }

apt_updated=0
need() { # need <command> <debian package>
  command -v "$1" >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || die "$2 is missing and installing it needs root"
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"; DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null; apt_updated=1
  fi
  log "installing $2"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null || die "apt-get install $2 failed"
}

# Test peers that are programs rather than servers: swaks (SMTP client), aiosmtpd (SMTP sink).
install_tools() {
  need swaks swaks
  # Debian's interpreter, not whichever python3 is first on PATH: that is where apt installs.
  /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || need __none__ python3-aiosmtpd
}

pg_version() { ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1; }

as_postgres() { runuser -u postgres -- "$@"; }

start_postgres() {
  need pg_ctlcluster postgresql
  local v; v=$(pg_version); [ -n "$v" ] || die "no PostgreSQL version installed"
  if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$v main"; then
    log "creating cluster $v/main"; pg_createcluster "$v" main >/dev/null
  fi
  if ! pg_lsclusters -h | awk -v v="$v" '$1==v && $2=="main" {print $4}' | grep -q online; then
    log "starting PostgreSQL $v"; pg_ctlcluster "$v" main start
  fi
  for _ in $(seq 1 60); do as_postgres pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
  as_postgres pg_isready -q -h 127.0.0.1 -p 5432 || die "PostgreSQL does not accept connections on 127.0.0.1:5432"
  as_postgres psql -q -v ON_ERROR_STOP=1 -d postgres >/dev/null <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD' CREATEDB NOSUPERUSER;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_APP_USER') THEN
    CREATE ROLE $PG_APP_USER LOGIN PASSWORD '$PG_APP_PASSWORD' NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
END \$\$;
SQL
  if ! as_postgres psql -tAq -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'switchboard'" | grep -q 1; then
    as_postgres createdb -O "$PG_USER" switchboard
  fi
  log "PostgreSQL $v ready on 127.0.0.1:5432"
}

mq_running() { rabbitmqctl -q status >/dev/null 2>&1; }

start_rabbitmq() {
  need rabbitmq-server rabbitmq-server
  # Loopback only: the broker and its distribution port never listen on other interfaces.
  mkdir -p /etc/rabbitmq
  if [ ! -f /etc/rabbitmq/rabbitmq.conf ] || ! grep -q '^listeners.tcp.default = 127.0.0.1:5672' /etc/rabbitmq/rabbitmq.conf; then
    printf 'listeners.tcp.default = 127.0.0.1:5672\nloopback_users = none\n' > /etc/rabbitmq/rabbitmq.conf
  fi
  grep -q 'ERL_EPMD_ADDRESS' /etc/rabbitmq/rabbitmq-env.conf 2>/dev/null ||
    printf 'NODE_IP_ADDRESS=127.0.0.1\nERL_EPMD_ADDRESS=127.0.0.1\n' >> /etc/rabbitmq/rabbitmq-env.conf
  if ! mq_running; then
    log "starting RabbitMQ"
    rabbitmq-server -detached >/dev/null 2>&1 || true
  fi
  rabbitmqctl -q await_startup --timeout 120 >/dev/null 2>&1 || timeout 120 bash -c 'until rabbitmqctl -q status >/dev/null 2>&1; do sleep 1; done' ||
    die "RabbitMQ did not start (see /var/log/rabbitmq)"
  if ! rabbitmqctl -q list_users 2>/dev/null | awk '{print $1}' | grep -qx "$MQ_USER"; then
    rabbitmqctl -q add_user "$MQ_USER" "$MQ_PASSWORD" >/dev/null
  fi
  rabbitmqctl -q set_user_tags "$MQ_USER" administrator >/dev/null
  rabbitmqctl -q set_permissions -p / "$MQ_USER" '.*' '.*' '.*' >/dev/null
  log "RabbitMQ ready on 127.0.0.1:5672"
}

print_env() {
  cat <<ENV
export SWITCHBOARD_TEST_PG_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:5432/postgres
export SWITCHBOARD_TEST_PG_APP_USER=$PG_APP_USER
export SWITCHBOARD_TEST_PG_APP_PASSWORD=$PG_APP_PASSWORD
export SWITCHBOARD_TEST_AMQP_URL=amqp://$MQ_USER:$MQ_PASSWORD@127.0.0.1:5672/%2f
ENV
}

case "${1:-}" in
  start) install_tools; start_postgres; start_rabbitmq ;;
  tools) install_tools ;;
  start-postgres) start_postgres ;;
  start-rabbitmq) start_rabbitmq ;;
  env) print_env ;;
  stop)
    v=$(pg_version); [ -n "$v" ] && pg_ctlcluster "$v" main stop 2>/dev/null || true
    mq_running && rabbitmqctl -q stop >/dev/null 2>&1 || true
    log "stopped" ;;
  restart-rabbitmq)
    rabbitmqctl -q stop_app >/dev/null && rabbitmqctl -q start_app >/dev/null
    rabbitmqctl -q await_startup --timeout 60 >/dev/null 2>&1 || true
    log "RabbitMQ restarted" ;;
  restart-postgres)
    v=$(pg_version); pg_ctlcluster "$v" main restart
    for _ in $(seq 1 60); do as_postgres pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
    log "PostgreSQL restarted" ;;
  *) echo "usage: $0 start|env|stop|restart-rabbitmq|restart-postgres" >&2; exit 2 ;;
esac
