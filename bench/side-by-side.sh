#!/usr/bin/env bash
# Two gateways side by side, at the same time: the CPU each spends per relayed event under the same load. Each
# pair starts both fresh on one core (GW_CORE) in front of one sim, and loads each with its own bench on the other
# core (REST_CORES), both benches started together; after WARM it reads each gateway's CPU time (/proc/PID/stat)
# over the same window and divides by the content events its bench received in that window. The pairs alternate
# which gateway starts first. Prints per pair each gateway's CPU per event, B/A, and each bench's TTFT and
# delivery p99, then the median of B/A.
#
# Why: run one after the other, as bench/gateway-overhead.sh runs its paths, the same build moves by several %
# with its position in a round (docs/benchmarks.md), more than a change to the per-event path does, and a
# gateway's CPU per event moves by up to 40% between rounds. Here both gateways share every moment of the
# machine, so a difference of a few % is resolved (two or more pairs).
#
# Usage: bench/side-by-side.sh A B [concurrency] [seconds] [pairs]   (default 150 60 2; loopback only)
#   A, B           each a gateway: a jar file (`tokenpipe serve` from that build, e.g. main's against a change),
#                  `nginx` (streaming-safe: proxy_buffering off, one worker; started once, it needs no warm-up) or
#                  `floor` (bench/NettyFloorRelay.java: a Netty relay that parses nothing, on serve's JVM flags).
#                  E.g. `JAR nginx` is issue 15's CPU ratio measured at the same moment, `floor nginx` its floor
#   concurrency    streams per gateway (each bench's -c)
#   env SIM_ARGS   the sim's flags (default none: 64 tokens at 20 ms after a 200 ms TTFT); for short requests,
#                  where each request's own work dominates: SIM_ARGS="--ttft 1ms --itl 1ms --tokens 2" with 16
#       WARM       load before the measured window (default 30s)
#       GW_CORE    the core both gateways share (default 1); REST_CORES the sim's and the benches' (default 0)
#       OPTS_A, OPTS_B TOKENPIPE_JAVA_OPTS for A's or B's JVM only: with one jar given twice, two flag sets of one
#                  build side by side (e.g. OPTS_B=--sun-misc-unsafe-memory-access=allow). A collector or heap flag
#                  (-Xmx, -XX:+UseParallelGC, ...) replaces the launcher's collector choice for that side, not only itself
#       TOKENPIPE_JAR  the sim's, the benches' and the floor's build when neither A nor B is a jar
# A pair in which a bench received no content event, or a gateway died, is reported and left out of the median, and
# the script then exits 1. Needs taskset, curl, jq (and nginx for `nginx`). Bounded: about (WARM + seconds + 10 s)
# per pair.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib.sh"
gateway_ok() { [ -f "$1" ] || [ "$1" = nginx ] || [ "$1" = floor ]; }
if [ $# -lt 2 ] || [ $# -gt 5 ] || ! gateway_ok "$1" || ! gateway_ok "$2" || [ "$1$2" = nginxnginx ]; then
  echo "usage: bench/side-by-side.sh A B [concurrency] [seconds] [pairs]   (A, B: a jar file, nginx or floor; one nginx at most)" >&2
  exit 64
fi
absolute() { case $1 in nginx | floor) echo "$1" ;; *) echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")" ;; esac; }
gw_a=$(absolute "$1")
gw_b=$(absolute "$2")
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
with_nginx=0
[ "$gw_a" = nginx ] || [ "$gw_b" = nginx ] && with_nginx=1
[ "$with_nginx" = 0 ] || bench_needs side-by-side nginx
# Something already answering on the script's ports would be measured instead of the gateways.
for port in 18460 18461 18462; do
  if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; then
    echo "side-by-side: port $port is in use (a run still going, or another server): stop it first" >&2
    exit 1
  fi
done
# The load side's build: the first jar given, else the launcher's (TOKENPIPE_JAR or its own).
tools_jar=${TOKENPIPE_JAR:-}
for g in "$gw_b" "$gw_a"; do case $g in nginx | floor) ;; *) tools_jar=$g ;; esac; done
export TOKENPIPE_JAR=$tools_jar
bench_setup

sim_port=18460
# shellcheck disable=SC2086 # SIM_ARGS is a list of flags
taskset -c "$rest" "$here/tokenpipe" sim -p "$sim_port" ${SIM_ARGS:-} >"$work/sim.log" 2>&1 & pids+=($!)
bench_started side-by-side "the sim" "$sim_port" "$work/sim.log"
nginx_worker=
if [ "$with_nginx" = 1 ]; then
  nginx_port=18461
  [ "$gw_b" = nginx ] && nginx_port=18462
  bench_nginx "$nginx_port" "$sim_port" "$gw_core"
  bench_started side-by-side NGINX "$nginx_port" "$work/error.log"
  nginx_worker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)
fi

hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null; }
# Events in the CPU window: the bench's content events over its measured run, at its steady rate, times the window
# (secs - 4 s, inside the run); counted the same way for every kind of gateway. Prints "us-per-event events".
per_event() { # ticks bench-json
  jq -r --argjson t "$1" --argjson hz "$hz" --argjson w $((secs - 4)) '.totals
    | (.content_events * $w / .duration_s) as $e | if $e > 0 then "\($t / $hz * 1e6 / $e) \($e | floor)" else "0 0" end' \
    "$2" 2>/dev/null || echo "0 0"
}
start_gateway() { # gateway port opts: starts it on the gateways' core (NGINX runs already); sets gw_pid and gw_log
  case $1 in
    nginx) gw_pid=$nginx_worker; gw_log=$work/error.log; return ;;
    floor) gw_log=$work/floor-$2.log
           TOKENPIPE_JAVA_OPTS=$3 TOKENPIPE_SOURCE="$here/bench/NettyFloorRelay.java" taskset -c "$gw_core" \
             "$here/tokenpipe" "$2" "$sim_port" >"$gw_log" 2>&1 & ;;
    *) gw_log=$work/serve-$2.log
       TOKENPIPE_JAR=$1 TOKENPIPE_JAVA_OPTS=$3 taskset -c "$gw_core" "$here/tokenpipe" serve -p "$2" \
         --upstream "http://127.0.0.1:$sim_port" >"$gw_log" 2>&1 & ;;
  esac
  gw_pid=$!
  pids+=("$gw_pid")
}
stop_gateway() { [ "$1" = nginx ] || bench_stop "$2"; }

printf 'A: %s %s\nB: %s %s\n' "$gw_a" "${OPTS_A:-}" "$gw_b" "${OPTS_B:-}"
printf '%s streams each, %ss measured after %s, sim %s; both on core %s, sim and benches on %s\n\n' "$c" "$secs" \
  "$warm" "${SIM_ARGS:-(64 tokens at 20 ms)}" "$gw_core" "$rest"
printf '%-5s %-4s %14s %10s %13s %10s %14s\n' pair gw "CPU us/event" events "B/A CPU/event" "TTFT p99" "delivery p99"
ratios=()
failed=0
for pair in $(seq "$pairs"); do
  if [ $((pair % 2)) = 1 ]; then
    start_gateway "$gw_a" 18461 "${OPTS_A:-}"; pid_a=$gw_pid; log_a=$gw_log
    start_gateway "$gw_b" 18462 "${OPTS_B:-}"; pid_b=$gw_pid; log_b=$gw_log
  else
    start_gateway "$gw_b" 18462 "${OPTS_B:-}"; pid_b=$gw_pid; log_b=$gw_log
    start_gateway "$gw_a" 18461 "${OPTS_A:-}"; pid_a=$gw_pid; log_a=$gw_log
  fi
  bench_started side-by-side "A ($gw_a)" 18461 "$log_a" "$pid_a"
  bench_started side-by-side "B ($gw_b)" 18462 "$log_b" "$pid_b"
  benches=()
  for port in 18461 18462; do
    taskset -c "$rest" "$here/tokenpipe" bench -c "$c" -z "${secs}s" --warmup "$warm" \
      --progress none --json "$work/pair$pair-$port.json" "http://127.0.0.1:$port/v1/chat/completions" \
      >"$work/pair$pair-$port.txt" 2>&1 &
    benches+=($!)
    pids+=($!)
  done
  sleep $((${warm%s} + 2))
  ta1=$(ticks "$pid_a" || echo 0); tb1=$(ticks "$pid_b" || echo 0)
  sleep $((secs - 4))
  ta2=$(ticks "$pid_a" || echo -1); tb2=$(ticks "$pid_b" || echo -1)
  wait "${benches[@]}" || true
  stop_gateway "$gw_a" "$pid_a"
  stop_gateway "$gw_b" "$pid_b"
  read -r ma na < <(per_event $((ta2 - ta1)) "$work/pair$pair-18461.json")
  read -r mb nb < <(per_event $((tb2 - tb1)) "$work/pair$pair-18462.json")
  # A gateway that died in the window (ticks -1) or a bench that received nothing: no ratio for this pair.
  if [ "$ta2" -lt 0 ] || [ "$tb2" -lt 0 ] || [ "$na" = 0 ] || [ "$nb" = 0 ]; then
    ratio=failed
    failed=$((failed + 1))
    for port in 18461 18462; do # the benches' own last lines say why (their files go with the run)
      echo "side-by-side: pair $pair, bench on $port:" >&2
      tail -3 "$work/pair$pair-$port.txt" >&2 2>/dev/null || true
    done
  else
    ratio=$(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.3f", (a > 0 ? b / a : 0)}')
    ratios+=("$ratio")
  fi
  for x in a b; do
    port=18461; m=$ma; n=$na; r=""
    [ "$x" = b ] && { port=18462; m=$mb; n=$nb; r=$ratio; }
    p99s=$(jq -r '"\(.metrics.ttft.p99) \(.metrics.one_way_delay.p99)"' "$work/pair$pair-$port.json" 2>/dev/null || echo "- -")
    printf '%-5s %-4s %14.2f %10s %13s %10s %14s\n' "$pair" "$x" "$m" "$n" "$r" ${p99s}
  done
done
if [ "${#ratios[@]}" -gt 0 ]; then
  median=$(printf '%s\n' "${ratios[@]}" | sort -g |
    awk '{v[NR] = $1} END {printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
  printf '\nB/A CPU per event, median of %s pairs: %s (below 1: B spends less)\n' "${#ratios[@]}" "$median"
fi
if [ "$failed" -gt 0 ]; then
  echo "side-by-side: $failed of $pairs pairs failed (a bench received no content event, or a gateway died)" >&2
  exit 1
fi
