#!/usr/bin/env bash
# The edge benchmarks, side by side with rtpengine (userspace) and Kamailio on this machine: the
# system under test pinned to core 0, the load generator to core 1. See README.md.
#
#   media-edge/bench/run.sh relay [calls...]       bridged G.711 calls: the edge vs rtpengine
#   media-edge/bench/run.sh record [calls...]      the same with recording: the edge vs rtpengine (pcap)
#   media-edge/bench/run.sh signalling [cps...]    calls answered into an IVR and released: the edge vs Kamailio (stateful relay)
set -euo pipefail
cd "$(dirname "$0")/../.."
BENCH=media-edge/bench
OUT=${BENCH_OUT:-/tmp/switchboard-edge-bench}
HOLD=${HOLD:-20}
mkdir -p "$OUT"

need() { command -v "$1" >/dev/null || { echo "installing $2"; DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$2" >/dev/null; }; }
need rtpengine rtpengine-daemon
need kamailio kamailio
need sipp sip-tester
ulimit -n "$(ulimit -Hn)"
cargo build --release -q -p switchboard-edge-bench
BIN=${CARGO_TARGET_DIR:-target}/release

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

edge_relay() { # calls, extra flags
  taskset -c 0 "$BIN/edge_under_test" relay 127.0.0.1:5090 30000-39999 $2 >"$OUT/edge.log" 2>&1 &
  local pid=$!; sleep 1
  taskset -c 1 "$BIN/load" edge 127.0.0.1:5090 "$pid" --calls "$1" --rate 100 --hold "$HOLD" | tee "$OUT/edge-$1$2.txt" | grep -v '^call '
  stop "$pid"; cat "$OUT/edge.log" | grep recordings || true
}

rtpengine_relay() { # calls, extra flags
  rm -rf "$OUT/rtpengine-rec"; mkdir -p "$OUT/rtpengine-rec"
  taskset -c 0 rtpengine --foreground --table=-1 --interface=127.0.0.1 --listen-ng=127.0.0.1:2223 \
    --port-min=40000 --port-max=49999 --num-threads=1 --log-stderr --log-level=3 $2 >"$OUT/rtpengine.log" 2>&1 &
  local pid=$!; sleep 1
  local record=""; [ -n "$2" ] && record="--record"
  taskset -c 1 "$BIN/load" rtpengine 127.0.0.1:2223 "$pid" --calls "$1" --rate 100 --hold "$HOLD" $record | tee "$OUT/rtpengine-$1.txt" | grep -v '^call '
  stop "$pid"
}

case "${1:-relay}" in
  relay)
    shift || true
    for calls in "${@:-100 300 500 1000}"; do
      echo "== $calls bridged calls: switchboard edge"; edge_relay "$calls" ""
      echo "== $calls bridged calls: rtpengine (userspace)"; rtpengine_relay "$calls" ""
    done ;;
  record)
    shift || true
    for calls in "${@:-100 300}"; do
      echo "== $calls bridged calls, recorded: switchboard edge"; edge_relay "$calls" "--record"
      echo "== $calls bridged calls, recorded: rtpengine (pcap)"
      rtpengine_relay "$calls" "--recording-dir=$OUT/rtpengine-rec --recording-method=pcap"
    done ;;
  signalling)
    shift || true
    exec "$BENCH/signalling.sh" "$@" ;;
  *) echo "usage: $0 relay|record|signalling [loads...]" >&2; exit 2 ;;
esac
