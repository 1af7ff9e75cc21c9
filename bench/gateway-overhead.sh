#!/usr/bin/env bash
# What each hop adds to a token stream, side by side in one run: the simulated model directly,
# through `tokenpipe serve`, and through NGINX (streaming-safe: proxy_buffering off) — the same
# bench load on each, twice in alternation, on loopback only.
# Usage: bench/gateway-overhead.sh [concurrency] [requests]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
c=${1:-200}
n=${2:-2000}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
tp() { "$here/tokenpipe" "$@"; }

tp sim -p 18410 --ttft 200ms --itl 20ms --tokens 64 >"$work/sim.log" 2>&1 & pids+=($!)
tp serve -p 18411 --upstream http://127.0.0.1:18410 >"$work/serve.log" 2>&1 & pids+=($!)
cat >"$work/nginx.conf" <<NGINX
daemon on; pid $work/nginx.pid; error_log $work/error.log; worker_processes 1;
events { worker_connections 4096; }
http {
  access_log off; client_body_temp_path $work; proxy_temp_path $work;
  upstream sim { server 127.0.0.1:18410; keepalive 256; }
  server { listen 127.0.0.1:18412;
    location / { proxy_pass http://sim; proxy_http_version 1.1; proxy_set_header Connection "";
                 proxy_buffering off; gzip off; proxy_read_timeout 1h; } }
}
NGINX
nginx -c "$work/nginx.conf"
for port in 18410 18411 18412; do
  for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/v1/models" && break; sleep 0.2; done
done
for round in 1 2; do
  for path in direct:18410 serve:18411 nginx:18412; do
    name=${path%%:*}; port=${path##*:}
    tp bench -n "$n" -c "$c" --warmup 200 --progress none --json "$work/$name-$round.json" \
      "http://127.0.0.1:$port/v1/chat/completions" >"$work/$name-$round.txt" 2>&1 || true
    echo "round $round $name: $(grep -E '^  (TTFT |ITL \(gaps\)|delivery delay)' "$work/$name-$round.txt" \
      | awk '{label = ($1 == "TTFT") ? "TTFT" : $1 " " $2; printf "%s p50 %s p99 %s | ", label, $(NF-7), $(NF-4)}')"
    grep -E "self-check" "$work/$name-$round.txt" | sed 's/^ */    /'
  done
done
