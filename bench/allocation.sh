#!/usr/bin/env bash
# Bytes `tokenpipe serve` allocates per relayed event and per request, measured on the whole process under
# load (issue 15: <= 256 B per relayed event on the SSE chat path). JMH's RelayPathBenchmark measures the
# per-event path alone; this measures everything the event loops allocate (the HTTP codecs, the headers, the
# access-log line, timers), so per-request work is counted too.
#
# Two runs of the same load differ only in the stream's length: 64 tokens, then 1. The JFR event
# jdk.ThreadAllocationStatistics gives the bytes each event loop allocated over a window, and the gateway's
# own counters the requests and events in it, so the two runs are two equations
#   bytes = per_request * requests + per_event * events
# solved for per_request and per_event. Also printed: all bytes over events of the 64-token run (what an
# event costs with its request's share).
#
# Usage: bench/allocation.sh [seconds]     (default 30: the window; each run warms for 30 s first)
#   env TOKENPIPE_JAR pin one build; CONC concurrent streams (default 300); GW_CORE / REST_CORES as in
#       gateway-overhead.sh (default 1 / 0)
# Needs jq, taskset, curl and the JDK's jcmd and jfr. Bounded: about 2.5 minutes; loopback only.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib.sh"
. "$here/bin/find-jdk"
jdk=$(tokenpipe_find_jdk) || exit 1
secs=${1:-30}
c=${CONC:-300}
gw_core=${GW_CORE:-1}
rest=${REST_CORES:-0}
bench_needs allocation jq taskset curl
bench_setup
counter() { curl -fs http://127.0.0.1:18461/metrics | awk -v m="$1" '$1 ~ "^" m {s += $2} END {printf "%d\n", s}'; }

run() { # tokens; writes "requests events bytes" to $work/result-TOKENS (no subshell: its processes stay in pids)
  taskset -c "$rest" "$here/tokenpipe" sim -p 18460 --ttft 200ms --itl 20ms --tokens "$1" >"$work/sim-$1.log" 2>&1 &
  local sim=$!
  taskset -c "$gw_core" "$here/tokenpipe" serve -p 18461 --upstream http://127.0.0.1:18460 >"$work/serve-$1.log" 2>&1 &
  local serve=$!
  pids+=("$sim" "$serve")
  bench_started allocation "the sim" 18460 "$work/sim-$1.log" "$sim"
  bench_started allocation serve 18461 "$work/serve-$1.log" "$serve"
  taskset -c "$rest" "$here/tokenpipe" bench -c "$c" -z "$((secs + 35))s" --progress none \
    http://127.0.0.1:18461/v1/chat/completions >"$work/bench-$1.txt" 2>&1 &
  local load=$!
  pids+=("$load")
  sleep 30 # the gateway's JIT and heap settle under this load first
  local r0 e0 r1 e1
  r0=$(counter tokenpipe_gateway_requests_total)
  e0=$(counter tokenpipe_gateway_events_total)
  "$jdk/bin/jcmd" "$serve" JFR.start name=alloc settings=default duration="${secs}s" filename="$work/serve-$1.jfr" >/dev/null
  sleep "$((secs + 1))"
  r1=$(counter tokenpipe_gateway_requests_total)
  e1=$(counter tokenpipe_gateway_events_total)
  wait "$load" || true
  bench_stop "$serve" "$sim"
  # default.jfc emits jdk.ThreadAllocationStatistics at the recording's start and end: the difference per
  # event-loop thread is what it allocated in the window.
  local bytes
  bytes=$("$jdk/bin/jfr" print --json --events jdk.ThreadAllocationStatistics "$work/serve-$1.jfr" \
    | jq -r '.recording.events[] | [(.values.thread.javaName // ""), .values.allocated] | @tsv' \
    | awk -F'\t' '$1 ~ /^tokenpipe-/ { if (!($1 in first)) first[$1] = $2; last[$1] = $2 }
        END { for (t in first) s += last[t] - first[t]; printf "%d\n", s }')
  echo "$((r1 - r0)) $((e1 - e0)) $bytes" >"$work/result-$1"
}

echo "serve under $c streams, ${secs}s windows: 64 tokens per stream, then 1"
run 64
run 1
long=$(cat "$work/result-64")
short=$(cat "$work/result-1")
echo "64 tokens: requests events bytes = $long"
echo " 1 token:  requests events bytes = $short"
echo "$long $short" | awk '{
  r1 = $1; e1 = $2; b1 = $3; r2 = $4; e2 = $5; b2 = $6
  det = r1 * e2 - r2 * e1
  if (det == 0 || e1 == 0) { print "allocation: the two runs cannot be told apart (no load?)"; exit 1 }
  perReq = (b1 * e2 - b2 * e1) / det
  perEv = (r1 * b2 - r2 * b1) / det
  printf "per request %.0f B, per relayed event %.0f B; with its request'"'"'s share, at 64 tokens: %.0f B per event (target <= 256)\n", perReq, perEv, b1 / e1
}'
