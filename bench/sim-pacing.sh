#!/usr/bin/env bash
# Pacing accuracy of `tokenpipe sim` under N concurrent streams (default 10,000 at 20 tokens/s).
# Usage: bench/sim-pacing.sh [streams] [seconds] [inter-token interval]
# The sim measures how late each event fires against its schedule; wrk (Debian package) holds the
# connections open and reads every stream to the end. Loopback only; stops by itself.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
streams=${1:-10000}
seconds=${2:-40}
itl=${3:-50ms}
port=${PORT:-18900}
"$here/tokenpipe" sim -p "$port" --ttft 200ms --itl "$itl" --tokens 100000 >/tmp/tokenpipe-sim-pacing.log 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
wrk -t 2 -c "$streams" -d "${seconds}s" --timeout 30s -s "$here/bench/stream.lua" "http://127.0.0.1:$port/v1/stream" >/tmp/tokenpipe-wrk.log 2>&1 &
wrk=$!
sleep $((seconds / 4))
curl -fs "http://127.0.0.1:$port/tokenpipe/pacing" >/dev/null   # discard the ramp-up interval
sleep $((seconds / 2))
echo "active streams and pacing error over the steady-state window:"
curl -fs "http://127.0.0.1:$port/tokenpipe/pacing"; echo
echo "CPU (sim process, user/system seconds): $(awk '{printf "%.1f/%.1f", $14/100, $15/100}' /proc/$(pgrep -f "sim -p $port" | head -1)/stat)"
wait $wrk || true
grep -E "requests in|Socket errors" /tmp/tokenpipe-wrk.log || true
