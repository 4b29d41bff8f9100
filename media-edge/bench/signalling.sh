#!/usr/bin/env bash
# Signalling: sipp places calls at a fixed rate, each answered, held 1 s and released (INVITE to
# BYE). Against the edge, calls are answered into an IVR (the welcome prompt plays); against
# Kamailio, a stateful record-routed relay to a sipp UAS. The system under test on core 0, sipp on
# core 1; CPU per call = the system's CPU seconds over the run / calls completed.
#
#   media-edge/bench/signalling.sh [cps...]      (default: 200 500)
set -euo pipefail
cd "$(dirname "$0")/../.."
BENCH=media-edge/bench
OUT=${BENCH_OUT:-/tmp/switchboard-edge-bench}
SECONDS_PER_RUN=${RUN_SECONDS:-20}
BIN=${CARGO_TARGET_DIR:-target}/release
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)"

cpu_of() { # pids... -> CPU seconds (user + system)
  local total=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    total=$(awk -v t="$total" '{ sub(/^.*\) /, ""); split($0, f, " "); print t + (f[12] + f[13]) / 100 }' "/proc/$p/stat")
  done
  echo "$total"
}

run_sipp() { # target, rate, calls, stats file
  taskset -c 1 sipp -sf "$BENCH/sipp/ivr_call.xml" -s 15550000000 -i 127.0.0.1 -p 5060 \
    -mi 127.0.0.1 -mp 16000 -r "$2" -m "$3" -l 100000 -t u1 -nostdin -trace_stat -stf "$4" \
    -timeout 120s "$1" >/dev/null 2>&1 || true
}

report() { # name, cps, cpu seconds, stats file, rss KiB
  local ok failed
  ok=$(tail -1 "$4" | awk -F';' '{print $16}')    # SuccessfulCall(C)
  failed=$(tail -1 "$4" | awk -F';' '{print $18}') # FailedCall(C)
  awk -v n="$1" -v r="$2" -v c="$3" -v ok="$ok" -v f="$failed" -v m="$5" 'BEGIN {
    printf "%-22s %5d cps: %6d calls ok, %4d failed; CPU %.2f s = %.1f us per call; rss %d KiB\n", n, r, ok, f, c, (ok > 0 ? c * 1e6 / ok : 0), m }'
}

for cps in "${@:-200 500}"; do
  calls=$((cps * SECONDS_PER_RUN))

  taskset -c 0 "$BIN/edge_under_test" ivr 127.0.0.1:5090 30000-39999 >"$OUT/edge-ivr.log" 2>&1 &
  edge=$!; sleep 1
  before=$(cpu_of "$edge")
  run_sipp 127.0.0.1:5090 "$cps" "$calls" "$OUT/sipp-edge-$cps.csv"
  after=$(cpu_of "$edge")
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$edge/status")
  kill "$edge"; wait "$edge" 2>/dev/null || true
  report "switchboard edge (IVR)" "$cps" "$(echo "$after - $before" | bc -l)" "$OUT/sipp-edge-$cps.csv" "$rss"

  taskset -c 1 sipp -sn uas -i 127.0.0.1 -p 5080 -mi 127.0.0.1 -mp 16100 -nostdin >/dev/null 2>&1 &
  uas=$!
  taskset -c 0 kamailio -f "$BENCH/kamailio/relay.cfg" -DD -E -P "$OUT/kamailio.pid" >"$OUT/kamailio.log" 2>&1 &
  kam=$!; sleep 2
  pids=$(pgrep -d ' ' -f "kamailio -f $BENCH/kamailio/relay.cfg" || true)
  before=$(cpu_of $pids)
  run_sipp 127.0.0.1:5070 "$cps" "$calls" "$OUT/sipp-kamailio-$cps.csv"
  after=$(cpu_of $pids)
  rss=0; for p in $pids; do rss=$((rss + $(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done
  kill "$kam" "$uas" 2>/dev/null || true; wait "$kam" "$uas" 2>/dev/null || true
  report "kamailio (stateful)" "$cps" "$(echo "$after - $before" | bc -l)" "$OUT/sipp-kamailio-$cps.csv" "$rss"
done
