#!/usr/bin/env bash
# What hedged requests buy and cost: four `tokenpipe sim` replicas, one of them slow to its first token,
# behind `tokenpipe serve`, the same open-loop load without hedging and with `--hedge-after p95` (and,
# with FIXED set, a fixed `--hedge-after`), each on a fresh serve (so its first-token window starts
# empty). Loopback only, bounded: about 2 minutes with the defaults.
#
# Usage: bench/hedging.sh [rate] [seconds]       (default 20 requests/s, 25 s measured per run)
#   env FAST_TTFT  first-token latency of the three fast sims, p50/p99 (default 100ms/300ms)
#       SLOW_TTFT  the slow one's (default 500ms/2s: 5x at the median)
#       FIXED      a third run with this fixed delay, e.g. 400ms (default: none)
#       BUDGET     --hedge-budget (default 10%)
#
# Each run: 15 s of unmeasured warm-up at the same rate (it fills serve's 60 s first-token window, so p95
# is in force when the measurement starts), then the measured run. Prints, per run: TTFT p50/p99/p99.9 as
# the client saw it (from the intended start), requests, the extra upstream requests (the sims' streams
# minus serve's requests), hedges started/won/refused, streams the sims saw cancelled, and tokens wasted
# (tokens the sims generated minus tokens serve relayed). Needs jq and curl.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib.sh"
rate=${1:-20}
secs=${2:-25}
fast=${FAST_TTFT:-100ms/300ms}
slow=${SLOW_TTFT:-500ms/2s}
fixed=${FIXED:-}
budget=${BUDGET:-10%}
bench_needs hedging jq curl
bench_setup

ports=(18440 18441 18442 18443)
for i in 0 1 2 3; do
  ttft=$fast; [ "$i" = 3 ] && ttft=$slow
  "$here/tokenpipe" sim -p "${ports[$i]}" --threads 1 --ttft "$ttft" --itl 20ms --tokens 32 >"$work/sim$i.log" 2>&1 & pids+=($!)
done
# pids holds the four sims, in port order: each wait gives up at once should its sim have exited.
for i in 0 1 2 3; do bench_started hedging "sim $i" "${ports[$i]}" "$work/sim$i.log" "${pids[$i]}"; done
upstreams=$(printf 'http://127.0.0.1:%s,' "${ports[@]}"); upstreams=${upstreams%,}

metric() { # url name: the sum of a counter's samples
  curl -fs "$1/metrics" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 {s += $2} END {printf "%d\n", s}'
}
sims_total() { # counter name summed over the four sims
  local t=0
  for p in "${ports[@]}"; do t=$((t + $(metric "http://127.0.0.1:$p" "$1"))); done
  echo "$t"
}

out=${OUT:-$here/target/hedging}
mkdir -p "$out"
printf 'four sims: three at ttft %s, one at %s; itl 20ms, 32 tokens; open loop %s/s, %ss measured after 15s warm-up\n' \
  "$fast" "$slow" "$rate" "$secs"
printf '\n%-22s %8s %9s %9s %9s %8s %8s %8s %8s %8s %9s %8s\n' "serve" "requests" "TTFT p50" "p99" "p99.9" \
  "extra" "hedges" "won" "refused" "cancel" "wasted" "errors"
run() { # label, serve flags...
  local label=$1; shift
  local port=18450
  "$here/tokenpipe" serve -p "$port" --threads 1 -u "$upstreams" "$@" >"$work/serve-$label.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  # Listening is not yet ready: /readyz is 200 once an upstream is usable (docs/serve.md).
  bench_started hedging "serve ($label)" "$port" "$work/serve-$label.log" "$pid" /readyz
  local started0 tokens0 cancelled0
  started0=$(sims_total tokenpipe_sim_streams_started_total)
  tokens0=$(sims_total tokenpipe_sim_tokens_sent_total)
  cancelled0=$(sims_total tokenpipe_sim_streams_cancelled_total)
  "$here/tokenpipe" bench --model tokenpipe-sim --rate "$rate" -c 400 -z "${secs}s" --warmup 15s --progress none \
    --json "$out/$label.json" "http://127.0.0.1:$port/v1/chat/completions" >"$out/$label.txt" 2>&1 || true
  sleep 1 # the last cancels reach the sims
  local g="http://127.0.0.1:$port"
  local requests relayed hedges wins refusals
  requests=$(metric "$g" tokenpipe_gateway_requests_total)
  relayed=$(metric "$g" tokenpipe_gateway_tokens_total)
  hedges=$(metric "$g" tokenpipe_gateway_hedges_total)
  wins=$(metric "$g" tokenpipe_gateway_hedge_wins_total)
  refusals=$(metric "$g" tokenpipe_gateway_hedge_budget_refusals_total)
  local started=$(( $(sims_total tokenpipe_sim_streams_started_total) - started0 ))
  local tokens=$(( $(sims_total tokenpipe_sim_tokens_sent_total) - tokens0 ))
  local cancelled=$(( $(sims_total tokenpipe_sim_streams_cancelled_total) - cancelled0 ))
  bench_stop "$pid"
  if [ ! -s "$out/$label.json" ]; then
    echo "$label: bench wrote no result (see $out/$label.txt)" >&2
    return
  fi
  jq -r --arg l "$label" --arg req "$requests" --arg extra "$((started - requests))" --arg h "$hedges" --arg w "$wins" \
    --arg r "$refusals" --arg c "$cancelled" --arg waste "$((tokens - relayed))" '
    [$l, .totals.ok, .metrics.ttft.p50, .metrics.ttft.p99, .metrics.ttft.p99_9, $extra, $h, $w, $r, $c, $waste,
     .totals.errors] | @tsv' "$out/$label.json" | tee -a "$out/results.tsv" |
    awk -F'\t' '{printf "%-22s %8s %9.1f %9.1f %9.1f %8s %8s %8s %8s %8s %9s %8s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12}'
}
: >"$out/results.tsv"
run "off"
run "p95" --hedge-after p95 --hedge-budget "$budget"
if [ -n "$fixed" ]; then
  run "$fixed" --hedge-after "$fixed" --hedge-budget "$budget"
fi
echo
echo "TTFT in ms from the intended start (open loop). extra: upstream requests beyond one per client request"
echo "(hedges that reached a sim); cancel: streams the sims saw closed by serve; wasted: tokens generated by"
echo "the sims minus tokens relayed. Bench outputs: $out"
