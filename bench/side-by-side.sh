#!/usr/bin/env bash
# Two builds of `tokenpipe serve` side by side, at the same time: the CPU each spends per request under the same
# load. Each pair starts both gateways fresh on one core (GW_CORE) in front of one sim, and loads each with its own
# bench on the other core (REST_CORES), both benches started together; after WARM it reads each gateway's CPU time
# (/proc/PID/stat) and the requests it served (its /metrics) over the same window. The pairs alternate which build
# starts first. Prints per pair the CPU per request of each build, B/A, and each bench's TTFT and delivery p99,
# then the median of B/A.
#
# Why: run one after the other, as bench/gateway-overhead.sh runs its paths, the same build moves by several %
# with its position in a round (docs/benchmarks.md), more than a change to the per-event path does. Here both
# builds share every moment of the machine, so a difference of a few % is resolved (two or more pairs).
#
# Usage: bench/side-by-side.sh JAR_A JAR_B [concurrency] [seconds] [pairs]   (default 150 60 2; loopback only)
#   JAR_A, JAR_B   copies of target/tokenpipe.jar from two builds (e.g. main and a change)
#   concurrency    streams per gateway (each bench's -c)
#   env SIM_ARGS   the sim's flags (default none: 64 tokens at 20 ms after a 200 ms TTFT); for short requests,
#                  where each request's own work dominates: SIM_ARGS="--ttft 1ms --itl 1ms --tokens 2" with 16
#       WARM       load before the measured window (default 30s)
#       GW_CORE    the core both gateways share (default 1); REST_CORES the sim's and the benches' (default 0)
# Needs taskset, curl, jq. Bounded: about (WARM + seconds + 10 s) per pair.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib.sh"
if [ $# -lt 2 ] || [ ! -f "$1" ] || [ ! -f "$2" ]; then
  echo "usage: bench/side-by-side.sh JAR_A JAR_B [concurrency] [seconds] [pairs]   (two jar files)" >&2
  exit 64
fi
jar_a=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
jar_b=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
c=${3:-150}
secs=${4:-60}
pairs=${5:-2}
warm=${WARM:-30s}
gw_core=${GW_CORE:-1}
rest=${REST_CORES:-0}
# Decimal without leading zeros (bash arithmetic reads 010 as octal) and small enough for [ -lt ].
if ! [[ $c =~ ^[1-9][0-9]{0,5}$ && $secs =~ ^[1-9][0-9]{0,5}$ && $pairs =~ ^[1-9][0-9]{0,2}$ && $warm =~ ^[1-9][0-9]{0,4}s$ ]] \
    || [ "$secs" -lt 10 ]; then
  echo "side-by-side: concurrency and pairs whole numbers >= 1, seconds >= 10, WARM whole seconds (e.g. 30s)" >&2
  exit 64
fi
bench_needs side-by-side taskset curl jq
bench_setup

sim_port=18460
# shellcheck disable=SC2086 # SIM_ARGS is a list of flags
TOKENPIPE_JAR=$jar_a taskset -c "$rest" "$here/tokenpipe" sim -p "$sim_port" ${SIM_ARGS:-} >"$work/sim.log" 2>&1 & pids+=($!)
for _ in $(seq 150); do curl -fs -o /dev/null "http://127.0.0.1:$sim_port/v1/models" && break; sleep 0.2; done

hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
requests() {
  curl -fs "http://127.0.0.1:$1/metrics" | awk '$1 ~ /^tokenpipe_gateway_requests_total/ {s += $2} END {printf "%d\n", s}'
}
start_serve() { # jar port: starts it on the gateways' core and sets serve_pid
  TOKENPIPE_JAR=$1 taskset -c "$gw_core" "$here/tokenpipe" serve -p "$2" --upstream "http://127.0.0.1:$sim_port" \
    >"$work/serve-$2.log" 2>&1 &
  serve_pid=$!
  pids+=("$serve_pid")
}

printf 'serve A: %s\nserve B: %s\n' "$jar_a" "$jar_b"
printf '%s streams each, %ss measured after %s, sim %s; both on core %s, sim and benches on %s\n\n' "$c" "$secs" \
  "$warm" "${SIM_ARGS:-(64 tokens at 20 ms)}" "$gw_core" "$rest"
printf '%-5s %-7s %12s %10s %14s %12s %14s\n' pair build "CPU ms/req" requests "B/A CPU/req" "TTFT p99" "delivery p99"
ratios=()
for pair in $(seq "$pairs"); do
  if [ $((pair % 2)) = 1 ]; then
    start_serve "$jar_a" 18461; pid_a=$serve_pid; start_serve "$jar_b" 18462; pid_b=$serve_pid
  else
    start_serve "$jar_b" 18462; pid_b=$serve_pid; start_serve "$jar_a" 18461; pid_a=$serve_pid
  fi
  for port in 18461 18462; do
    for _ in $(seq 150); do curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" && break; sleep 0.2; done
  done
  benches=()
  for port in 18461 18462; do
    TOKENPIPE_JAR=$jar_a taskset -c "$rest" "$here/tokenpipe" bench -c "$c" -z "${secs}s" --warmup "$warm" \
      --progress none --json "$work/pair$pair-$port.json" "http://127.0.0.1:$port/v1/chat/completions" \
      >"$work/pair$pair-$port.txt" 2>&1 &
    benches+=($!)
    pids+=($!)
  done
  sleep $((${warm%s} + 2))
  ta1=$(ticks "$pid_a"); tb1=$(ticks "$pid_b"); ra1=$(requests 18461); rb1=$(requests 18462)
  sleep $((secs - 4))
  ta2=$(ticks "$pid_a"); tb2=$(ticks "$pid_b"); ra2=$(requests 18461); rb2=$(requests 18462)
  wait "${benches[@]}" || true
  kill "$pid_a" "$pid_b" 2>/dev/null || true
  wait "$pid_a" "$pid_b" 2>/dev/null || true
  ma=$(awk -v t=$((ta2 - ta1)) -v r=$((ra2 - ra1)) -v hz="$hz" 'BEGIN {printf "%.4f", (r > 0 ? t * 1000 / hz / r : 0)}')
  mb=$(awk -v t=$((tb2 - tb1)) -v r=$((rb2 - rb1)) -v hz="$hz" 'BEGIN {printf "%.4f", (r > 0 ? t * 1000 / hz / r : 0)}')
  ratio=$(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.3f", (a > 0 ? b / a : 0)}')
  ratios+=("$ratio")
  for x in a b; do
    port=18461; m=$ma; n=$((ra2 - ra1)); r=""
    [ "$x" = b ] && { port=18462; m=$mb; n=$((rb2 - rb1)); r=$ratio; }
    p99s=$(jq -r '"\(.metrics.ttft.p99) \(.metrics.one_way_delay.p99)"' "$work/pair$pair-$port.json" 2>/dev/null || echo "- -")
    printf '%-5s %-7s %12s %10s %14s %12s %14s\n' "$pair" "$x" "$m" "$n" "$r" ${p99s}
  done
done
median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
printf '\nB/A CPU per request, median of %s pairs: %s (below 1: B spends less)\n' "$pairs" "$median"
