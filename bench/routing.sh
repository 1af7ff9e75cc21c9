#!/usr/bin/env bash
# First-token-aware routing (issue 13's benchmark): a fleet of four `tokenpipe sim` replicas on loopback,
# one of them slow to its first token, and the same open-loop `tokenpipe bench` load through `tokenpipe
# serve` once per configuration: --balance round-robin, --balance p2c-ewma, and any configuration added
# with EXTRA (e.g. hedging). Each configuration gets a fresh serve, so each learns from nothing.
#
# Usage: bench/routing.sh [rate] [seconds]          (default 6 arrivals/s, 30 s measured)
#   env SLOW_TTFT   first token of the slow replica (default 1s); FAST_TTFT of the others (default 200ms)
#       ITL, TOKENS stream shape of every replica (default 20ms, 16)
#       EXTRA       more configurations, ';'-separated "name=serve flags", e.g.
#                   EXTRA='p2c-ewma+hedge p95=--balance p2c-ewma --hedge-after p95'
#       WARMUP      unmeasured warm-up per configuration (default 10s: JIT, connections, first scores)
#       OUT         where the bench JSON files go (default target/routing)
#
# Per configuration: serve starts, a 10 s unmeasured warm-up at the same rate (WARMUP), then the measured run
# (Poisson arrivals, latency from each intended start). Prints TTFT p50/p99/p99.9, errors, and the share
# of upstream attempts each replica got (serve's tokenpipe_gateway_upstream_picks_total, warm-up included).
# Loopback only; about 50 s per configuration plus the fleet's start (3.5 min in all on a busy 2-core VM).
# Needs jq and curl.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib.sh"
rate=${1:-6}
secs=${2:-30}
slow=${SLOW_TTFT:-1s}
fast=${FAST_TTFT:-200ms}
itl=${ITL:-20ms}
tokens=${TOKENS:-16}
out=${OUT:-$here/target/routing}
bench_needs routing jq curl
mkdir -p "$out"
bench_setup
tp() { "$here/tokenpipe" "$@"; }

# The fleet: replicas 1-3 fast, replica 4 slow to its first token (same pace after it).
ports=(18420 18421 18422 18423)
# A leftover process on one of the ports would answer for the configuration under test.
for p in "${ports[@]}" 18430; do
  if curl -s -o /dev/null "http://127.0.0.1:$p/"; then echo "routing: port $p is already in use" >&2; exit 1; fi
done
for i in 0 1 2 3; do
  ttft=$fast
  [ "$i" = 3 ] && ttft=$slow
  # Started directly (not through a shell function), so that $! is the JVM itself and can be stopped.
  "$here/tokenpipe" sim -p "${ports[$i]}" --threads 1 --ttft "$ttft" --itl "$itl" --tokens "$tokens" \
    >"$work/sim$i.log" 2>&1 & pids+=($!)
done
# pids holds the four sims, in port order: each wait gives up at once should its sim have exited.
for i in 0 1 2 3; do bench_started routing "sim $((i + 1))" "${ports[$i]}" "$work/sim$i.log" "${pids[$i]}"; done
upstreams=$(printf 'http://127.0.0.1:%s,' "${ports[@]}")
upstreams=${upstreams%,}

configs=("round-robin=--balance round-robin" "p2c-ewma=--balance p2c-ewma")
if [ -n "${EXTRA:-}" ]; then
  IFS=';' read -r -a extra <<<"$EXTRA"
  configs+=("${extra[@]}")
fi

echo "fleet: 4 sims, first token ${fast} x3 and ${slow} x1 (replica 4), itl ${itl}, ${tokens} tokens"
echo "load: open loop, ${rate}/s Poisson, ${secs}s measured after a ${WARMUP:-10s} warm-up, through serve"
echo
printf '%-22s %9s %9s %11s %7s   %s\n' config "ttft p50" "ttft p99" "ttft p99.9" errors "share r1/r2/r3/r4 (slow)"
for cfg in "${configs[@]}"; do
  name=${cfg%%=*}
  flags=${cfg#*=}
  # shellcheck disable=SC2086 # the flags are meant to split
  "$here/tokenpipe" serve -p 18430 --upstream "$upstreams" $flags >"$work/serve-$name.log" 2>&1 &
  serve_pid=$!
  pids+=("$serve_pid")
  # Listening is not yet ready: /readyz is 200 once an upstream is usable (docs/serve.md).
  bench_started routing "serve ($name)" 18430 "$work/serve-$name.log" "$serve_pid" /readyz
  json="$out/routing-${name// /_}.json"
  tp bench --rate "$rate" -c 500 -z "${secs}s" --warmup "${WARMUP:-10s}" --max-tokens "$tokens" --progress none --json "$json" \
    http://127.0.0.1:18430/v1/chat/completions >"${json%.json}.txt" 2>&1 || true
  metrics=$(curl -fs http://127.0.0.1:18430/metrics)
  bench_stop "$serve_pid"
  shares=""
  total=$(awk '/^tokenpipe_gateway_upstream_picks_total/ {s += $2} END {print s + 0}' <<<"$metrics")
  for p in "${ports[@]}"; do
    n=$(awk -v u="upstream=\"http://127.0.0.1:$p\"" 'index($0, "tokenpipe_gateway_upstream_picks_total{") == 1 && index($0, u) {print $2}' <<<"$metrics")
    shares+=$(awk -v n="${n:-0}" -v t="$total" 'BEGIN {printf "%.1f%%/", (t > 0 ? 100 * n / t : 0)}')
  done
  if [ ! -s "$json" ]; then
    printf '%-22s %s\n' "$name" "bench failed: $(tail -1 "${json%.json}.txt")"
    continue
  fi
  jq -r --arg n "$name" --arg s "${shares%/}" \
    '[$n, (.metrics.ttft.p50 | round | tostring) + " ms", (.metrics.ttft.p99 | round | tostring) + " ms",
      (.metrics.ttft.p99_9 | round | tostring) + " ms", (.totals.errors | tostring), $s] | @tsv' "$json" |
    awk -F'\t' '{printf "%-22s %9s %9s %11s %7s   %s\n", $1, $2, $3, $4, $5, $6}'
done
echo
echo "bench JSON per configuration: $out/routing-*.json"
