#!/usr/bin/env bash
# Where a running gateway's event loop spends its CPU per relayed event, by code: perf samples the busiest
# event-loop thread of PID while `tokenpipe bench` loads URL, and prints microseconds per event by shared
# object (kernel, JIT-compiled Java, libc, libjvm) and the top symbols. For a JVM it asks the JVM for a perf
# map (jcmd Compiler.perfmap) so compiled Java methods have names. Run it on serve, on NGINX's worker and on
# bench/NettyFloorRelay.java under the same load to see which layer costs what (docs/benchmarks.md, issue 15).
#
# Usage: bench/loop-profile.sh PID URL [concurrency] [seconds]     (default 300 20; loopback URLs only)
#   env REST_CORES  cores for bench (default 0; pin the gateway elsewhere)
#       WARM        load before sampling starts (default 20s)
#       TOP         symbols to print (default 25)
# Needs perf (linux-perf), taskset, jq; jcmd from the JDK the launcher finds.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 2 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
  echo "usage: bench/loop-profile.sh PID URL [concurrency] [seconds]" >&2
  exit 64
fi
pid=$1
url=$2
c=${3:-300}
secs=${4:-20}
warm=${WARM:-20s}
if ! [[ $c =~ ^[0-9]+$ && $secs =~ ^[0-9]+$ && $warm =~ ^[0-9]+s?$ ]] || [ "$secs" -le 4 ] || [ "$c" -lt 1 ]; then
  echo "loop-profile: concurrency a whole number, seconds a whole number above 4, WARM whole seconds (e.g. 20s)" >&2
  exit 64
fi
case $url in http://127.0.0.1:* | http://localhost:*) ;; *) echo "loop-profile: loopback URLs only" >&2; exit 64 ;; esac
for tool in perf taskset jq; do
  command -v "$tool" >/dev/null || { echo "loop-profile: needs $tool" >&2; exit 1; }
done
[ -d "/proc/$pid" ] || { echo "loop-profile: no process $pid" >&2; exit 1; }
. "$here/bin/find-jdk"
jdk=$(tokenpipe_find_jdk)
work=$(mktemp -d)
bench=
map=/tmp/perf-$pid.map
[ -e "$map" ] && map= # a perf map that was there before is not ours to remove
cleanup() {
  [ -n "$bench" ] && kill "$bench" 2>/dev/null
  [ -n "$map" ] && rm -f "$map"
  rm -rf "$work"
}
trap cleanup EXIT
"$here/tokenpipe" --version >/dev/null

taskset -c "${REST_CORES:-0}" "$here/tokenpipe" bench -c "$c" -z "$secs" --warmup "$warm" --progress none \
  --json "$work/bench.json" "$url" >"$work/bench.txt" 2>&1 &
bench=$!
sleep "$(( ${warm%s} + 2 ))"

# The busiest event-loop thread under this load (a fresh process's loops have all but no CPU before it): tokenpipe's
# loops are named tokenpipe-*, NGINX's worker is the process itself.
tid=$(for t in /proc/"$pid"/task/*; do
  case $(cat "$t/comm") in tokenpipe-*|nginx) echo "$(awk '{print $14 + $15}' "$t/stat") ${t##*/}" ;; esac
done | sort -rn | head -1 | cut -d' ' -f2)
[ -n "$tid" ] || { echo "loop-profile: no event-loop thread (tokenpipe-* or nginx) in $pid" >&2; exit 1; }

perf record -q -F 2999 -t "$tid" -o "$work/perf.data" -- sleep "$(( secs - 4 ))" >"$work/perf.log" 2>&1 ||
  { echo "loop-profile: perf record failed:" >&2; head -3 "$work/perf.log" >&2; exit 1; }
if grep -q . <(tr '\0' ' ' <"/proc/$pid/cmdline" | grep java); then
  "$jdk/bin/jcmd" "$pid" Compiler.perfmap >/dev/null
fi
wait "$bench" || true
bench=
# Events in the sampled window: content events per second over the run, times the seconds sampled.
rate=$(jq -r '.totals.content_events / .totals.duration_s' "$work/bench.json" 2>/dev/null || echo 0)
events=$(awk -v r="$rate" -v s="$(( secs - 4 ))" 'BEGIN {printf "%d", r * s}')
[ "$events" -gt 0 ] || { echo "loop-profile: bench relayed no events; its output:" >&2; cat "$work/bench.txt" >&2; exit 1; }
echo "thread $tid of $pid, $((secs - 4)) s sampled at 2999 Hz, ~$events content events"
echo "microseconds per content event, by shared object:"
perf report -i "$work/perf.data" --stdio -g none -n --sort dso 2>/dev/null | grep -v '^#' | grep -v '^$' |
  awk -v ev="$events" '{us = $2 / 2999 * 1e6 / ev; $1 = ""; $2 = ""; printf "  %7.2f  %s\n", us, $0; t += us} END {printf "  %7.2f  total\n", t}'
echo "top symbols (microseconds per content event):"
# awk reads to the end (no head): under pipefail a closed pipe would fail the script after its output.
perf report -i "$work/perf.data" --stdio -g none -n --sort sym 2>/dev/null | grep '\[' |
  awk -v ev="$events" -v top="${TOP:-25}" 'NR <= top {us = $2 / 2999 * 1e6 / ev; $1 = ""; $2 = ""; $3 = ""; printf "  %7.3f %s\n", us, substr($0, 1, 140)}'
