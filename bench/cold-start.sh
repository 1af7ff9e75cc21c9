#!/usr/bin/env bash
# The first request after `serve` says it is ready, against a warm one (issue 15's cold-start target: the
# first request's added latency within 10 ms of a warm one's). Per run: a fresh `serve` on the built-in
# simulated model (first token at a fixed 200 ms, no spread), /readyz polled until 200, then one request
# (the first), then 20 more one after the other (warm), then one more from a fresh bench process (control:
# bench's own first request, against the now warm gateway). Prints each run's first TTFT, the warm median,
# the control and first minus control; the model's 200 ms is the same in all, so first minus control is what
# a cold gateway adds (bench's own cold start is in both). Also each run's start-up time: from the launch to
# /readyz's first 200 (polled every 50 ms), the launcher's own work included.
#
# Usage: bench/cold-start.sh [runs]     (default 3)    env TOKENPIPE_JAR pins one build, TOKENPIPE_AOT=1 runs
# with the launcher's JDK AOT cache (recorded here before the first run when missing). Needs jq, curl.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
for tool in jq curl; do
  command -v "$tool" >/dev/null || { echo "cold-start: needs $tool" >&2; exit 1; }
done
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# Build (or check) the jar once, before the timed processes start; with TOKENPIPE_AOT=1 record the AOT cache
# when it is missing (a `serve --help` through the launcher does, JDK 25 and later), so no run pays for it.
"$here/tokenpipe" --version >/dev/null
"$here/tokenpipe" serve --help >/dev/null
port=18520
url=http://127.0.0.1:$port/v1/chat/completions
printf '%-5s %14s %18s %18s %15s %10s\n' run "first TTFT ms" "warm p50 ms" "control ms" "first-control" "ready ms"
for run in $(seq "$runs"); do
  t0=$(date +%s%N)
  "$here/tokenpipe" serve -p "$port" --sim "ttft=200ms itl=20ms tokens=8" >"$work/serve-$run.log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && break
    sleep 0.05
  done
  ready=$((($(date +%s%N) - t0) / 1000000))
  "$here/tokenpipe" bench -c 1 -n 1 --warmup 0 --progress none --json "$work/first.json" "$url" >/dev/null 2>&1 || true
  "$here/tokenpipe" bench -c 1 -n 20 --warmup 0 --progress none --json "$work/warm.json" "$url" >/dev/null 2>&1 || true
  "$here/tokenpipe" bench -c 1 -n 1 --warmup 0 --progress none --json "$work/control.json" "$url" >/dev/null 2>&1 || true
  first=$(jq -r '.metrics.ttft.p50' "$work/first.json")
  warm=$(jq -r '.metrics.ttft.p50' "$work/warm.json")
  control=$(jq -r '.metrics.ttft.p50' "$work/control.json")
  awk -v r="$run" -v f="$first" -v w="$warm" -v c="$control" -v ready="$ready" \
    'BEGIN {printf "%-5s %14.1f %18.1f %18.1f %+15.1f %10d\n", r, f, w, c, f - c, ready}'
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
done
