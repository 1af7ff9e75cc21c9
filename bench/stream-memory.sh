#!/usr/bin/env bash
# Memory per open stream, `tokenpipe serve` beside NGINX (issue 15: RSS per stream <= 20 KB): each gateway
# holds N long streams (the sim sends 10 tokens/s for minutes, so the event rate stays low and every stream
# stays open) and its RSS is read before and while they are open. For `serve` the live heap is read the same
# way (jcmd GC.class_histogram, which collects first), with the classes that grew, so the per-stream state
# can be told from garbage: RSS "peak minus idle" under a busy load (bench/gateway-overhead.sh) counts the
# heap growing towards its soft target between collections, which is not state per stream.
#
# Usage: bench/stream-memory.sh [streams]     (default 500)
#   env TOKENPIPE_JAR pin one build; GW_CORE / REST_CORES as in gateway-overhead.sh (default 1 / 0)
# Needs nginx, jq, taskset, curl and the JDK's jcmd. Bounded: about a minute per gateway.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib.sh"
. "$here/bin/find-jdk"
jdk=$(tokenpipe_find_jdk) || exit 1
n=${1:-500}
gw_core=${GW_CORE:-1}
rest=${REST_CORES:-0}
bench_needs stream-memory nginx jq taskset curl
bench_setup
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

taskset -c "$rest" "$here/tokenpipe" sim -p 18440 --ttft 200ms --itl 100ms --tokens 100000 >"$work/sim.log" 2>&1 & pids+=($!)
taskset -c "$gw_core" "$here/tokenpipe" serve -p 18441 --upstream http://127.0.0.1:18440 >"$work/serve.log" 2>&1 & pids+=($!)
serve_pid=$!
bench_nginx 18442 18440 "$gw_core"
bench_started stream-memory "the sim" 18440 "$work/sim.log"
bench_started stream-memory serve 18441 "$work/serve.log" "$serve_pid"
bench_started stream-memory NGINX 18442 "$work/error.log"
nginx_worker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)

live_heap() { "$jdk/bin/jcmd" "$serve_pid" GC.class_histogram >"$work/histo-$1.txt"; awk '/^Total/ {print $3}' "$work/histo-$1.txt"; }
measure() { # name pid port
  local name=$1 pid=$2 port=$3 idle open heap0=0 heap1=0 rss1 b
  # a short load first, so both gateways have their connections, code and buffers warmed
  taskset -c "$rest" "$here/tokenpipe" bench -c 50 -z 5s --progress none "http://127.0.0.1:$port/v1/chat/completions" >/dev/null 2>&1 || true
  sleep 2
  [ "$name" = serve ] && heap0=$(live_heap idle)
  idle=$(rss_kb "$pid")
  taskset -c "$rest" "$here/tokenpipe" bench -c "$n" -z 90s --progress none "http://127.0.0.1:$port/v1/chat/completions" \
    >"$work/bench-$name.txt" 2>&1 & b=$!
  # wait until all N streams are open (the ramp), then a few seconds more
  open=0
  for _ in $(seq 60); do
    sleep 1
    open=$(ss -Htn state established "( sport = :$port )" | wc -l)
    [ "$open" -ge "$n" ] && break
  done
  sleep 3
  open=$(ss -Htn state established "( sport = :$port )" | wc -l)
  [ "$name" = serve ] && heap1=$(live_heap open)
  rss1=$(rss_kb "$pid")
  kill "$b" 2>/dev/null || true; wait "$b" 2>/dev/null || true
  printf "  %-6s %8s %12s %12s %14s" "$name" "$open" "$idle" "$rss1" "$(( (rss1 - idle) * 1024 / (open > 0 ? open : 1) ))"
  if [ "$name" = serve ]; then
    printf " %14s\n" "$(( (heap1 - heap0) / (open > 0 ? open : 1) ))"
  else
    printf " %14s\n" "n/a"
  fi
}

echo "$n open streams per gateway (10 events/s each); gateway on core $gw_core, sim+bench on $rest"
printf "  %-6s %8s %12s %12s %14s %14s\n" path streams "RSS idle KB" "RSS open KB" "RSS B/stream" "heap B/stream"
measure serve "$serve_pid" 18441
measure nginx "$nginx_worker" 18442
echo
echo "serve: classes whose live bytes grew most with the streams open (bytes per stream, instances per stream)"
awk -v n="$n" 'NR == FNR && $1 ~ /^[0-9]+:$/ {a[$4] = $3; c[$4] = $2; next}
  $1 ~ /^[0-9]+:$/ {d = $3 - a[$4]; if (d > 0) printf "%10.0f %8.1f  %s\n", d / n, ($2 - c[$4]) / n, $4}' \
  "$work/histo-idle.txt" "$work/histo-open.txt" | sort -rn | awk 'NR <= 15' # not head: sort would die of SIGPIPE under pipefail
