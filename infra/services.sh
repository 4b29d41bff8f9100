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
#   infra/services.sh reset-test-data    drop what earlier test runs left (databases, broker vhost)
set -euo pipefail

PG_USER=switchboard PG_PASSWORD=switchboard
PG_APP_USER=switchboard_app PG_APP_PASSWORD=switchboard_app
MQ_USER=switchboard MQ_PASSWORD=switchboard
# Tests get their own vhost, so one command can drop every queue earlier runs left behind.
MQ_TEST_VHOST=switchboard_test

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
  # Headless browser for the console and widget end-to-end tests.
  need chromium chromium
  # SIP peers for the edge's tests: sipp (carrier, UAS) and baresip (an agent's phone).
  need sipp sip-tester
  need baresip baresip-core
  # infra/cluster.sh checks its processes' health with it.
  need curl curl
  # Debian's interpreter, not whichever python3 is first on PATH: that is where apt installs.
  /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || need __none__ python3-aiosmtpd
  install_localstripe
}

# localstripe (PyPI), the Stripe emulator the billing tests run against, in its own virtualenv.
LOCALSTRIPE_VENV=/opt/switchboard-tools/localstripe
install_localstripe() {
  [ -x "$LOCALSTRIPE_VENV/bin/localstripe" ] && return 0
  local py; py=$(command -v python3) || die "python3 is needed for localstripe"
  if ! "$py" -m venv "$LOCALSTRIPE_VENV" >/dev/null 2>&1; then
    need __none__ python3-venv; py=/usr/bin/python3; "$py" -m venv "$LOCALSTRIPE_VENV" || die "cannot make a virtualenv"
  fi
  log "installing localstripe"
  "$LOCALSTRIPE_VENV/bin/pip" install -q localstripe==1.15.10 >/dev/null || die "pip install localstripe failed"
}

pg_version() { ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1; }

as_postgres() { runuser -u postgres -- "$@"; }

start_postgres() {
  need pg_ctlcluster postgresql
  local v; v=$(pg_version); [ -n "$v" ] || die "no PostgreSQL version installed"
  if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$v main"; then
    log "creating cluster $v/main"; pg_createcluster "$v" main >/dev/null
  fi
  # After an unclean stop PostgreSQL syncs its whole data directory before it accepts anyone;
  # file by file that took over a minute on a machine with many test databases, syncfs takes seconds.
  local conf="/etc/postgresql/$v/main/conf.d/switchboard.conf"
  if [ ! -f "$conf" ]; then
    mkdir -p "$(dirname "$conf")"
    printf 'recovery_init_sync_method = syncfs\n' > "$conf"
  fi
  if ! pg_lsclusters -h | awk -v v="$v" '$1==v && $2=="main" {print $4}' | grep -q online; then
    # pg_ctl's own deadline is 60 s; crash recovery may need longer and is worth waiting for.
    log "starting PostgreSQL $v"; pg_ctlcluster "$v" main start -- -t 600
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

# `rabbitmqctl status` can stall for minutes on a busy node; a ping with a deadline cannot.
mq_running() { timeout 15 rabbitmq-diagnostics -q ping >/dev/null 2>&1; }

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
  # A node just launched may not answer yet (await_startup then fails at once): ask again until the
  # broker app itself is up, since the user provisioning below needs it.
  timeout 150 bash -c 'until timeout 30 rabbitmqctl -q await_startup --timeout 20 >/dev/null 2>&1; do sleep 1; done' ||
    die "RabbitMQ did not start (see /var/log/rabbitmq)"
  if ! rabbitmqctl -q list_users 2>/dev/null | awk '{print $1}' | grep -qx "$MQ_USER"; then
    rabbitmqctl -q add_user "$MQ_USER" "$MQ_PASSWORD" >/dev/null
  fi
  rabbitmqctl -q set_user_tags "$MQ_USER" administrator >/dev/null
  rabbitmqctl -q set_permissions -p / "$MQ_USER" '.*' '.*' '.*' >/dev/null
  log "RabbitMQ ready on 127.0.0.1:5672"
}

# Drops the databases and the broker vhost that test runs create. A test that fails or is killed
# never gets to clean up after itself; without this they pile up run after run.
reset_test_data() {
  local dbs
  dbs=$(as_postgres psql -tAq -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE 'sb\_test\_%'")
  if [ -n "$dbs" ]; then
    log "dropping $(echo "$dbs" | wc -l) leftover test databases"
    for db in $dbs; do as_postgres psql -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null; done
  fi
  timeout 120 rabbitmqctl -q delete_vhost "$MQ_TEST_VHOST" >/dev/null 2>&1 || true
  timeout 60 rabbitmqctl -q add_vhost "$MQ_TEST_VHOST" >/dev/null || die "could not create vhost $MQ_TEST_VHOST"
  timeout 60 rabbitmqctl -q set_permissions -p "$MQ_TEST_VHOST" "$MQ_USER" '.*' '.*' '.*' >/dev/null
  log "test data reset"
}

print_env() {
  cat <<ENV
export SWITCHBOARD_TEST_PG_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:5432/postgres
export SWITCHBOARD_TEST_PG_APP_USER=$PG_APP_USER
export SWITCHBOARD_TEST_PG_APP_PASSWORD=$PG_APP_PASSWORD
export SWITCHBOARD_TEST_LOCALSTRIPE=$LOCALSTRIPE_VENV/bin/localstripe
export SWITCHBOARD_TEST_AMQP_URL=amqp://$MQ_USER:$MQ_PASSWORD@127.0.0.1:5672/$MQ_TEST_VHOST
ENV
}

case "${1:-}" in
  start) install_tools; start_postgres; start_rabbitmq ;;
  tools) install_tools ;;
  start-postgres) start_postgres ;;
  start-rabbitmq) start_rabbitmq ;;
  env) print_env ;;
  reset-test-data) reset_test_data ;;
  stop)
    v=$(pg_version); [ -n "$v" ] && pg_ctlcluster "$v" main stop 2>/dev/null || true
    mq_running && rabbitmqctl -q stop >/dev/null 2>&1 || true
    log "stopped" ;;
  restart-rabbitmq)
    # Every control call has a deadline: a start_app that never answers is retried, not waited on.
    timeout 60 rabbitmqctl -q stop_app >/dev/null || die "rabbitmqctl stop_app did not finish"
    for attempt in 1 2 3; do
      timeout 60 rabbitmqctl -q start_app >/dev/null && break
      log "rabbitmqctl start_app did not finish (attempt $attempt)"
    done
    timeout 90 rabbitmqctl -q await_startup --timeout 60 >/dev/null 2>&1 || true
    mq_running || die "RabbitMQ did not come back"
    log "RabbitMQ restarted" ;;
  restart-postgres)
    v=$(pg_version); pg_ctlcluster "$v" main restart -- -t 600
    for _ in $(seq 1 60); do as_postgres pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
    log "PostgreSQL restarted" ;;
  *) echo "usage: $0 start|env|stop|restart-rabbitmq|restart-postgres" >&2; exit 2 ;;
esac
