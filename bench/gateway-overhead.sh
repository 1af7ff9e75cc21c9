#!/usr/bin/env bash
# What each hop adds to a token stream, side by side in one run: the simulated model directly,
# through `tokenpipe serve`, and through NGINX (streaming-safe: proxy_buffering off), loaded by the
# same `tokenpipe bench`, in alternation, on loopback only (issue 15's benchmark).
#
# Usage: bench/gateway-overhead.sh [concurrency] [seconds] [rounds]     (default 300 30 2)
#   env TOKENPIPE_JAR  pin one build (default: the launcher's jar)
#       GW_CORE        core for the gateway under test (default 1); the sim and bench get REST_CORES
#       REST_CORES     (default 0). On a 2-core machine that is one core each, as the issue asks.
#       SINGLE=0       skip the 1-stream pass (the public streaming-gateway benchmark's shape)
#       BENCH_WARM     the measured bench's own warm-up (default 5s: each run is a fresh bench JVM)
#       WARM           unmeasured warm-up per path and round (default 10s; a JVM pinned to one core still
#                      compiles after a minute on a busy machine, so CPU is also reported without the JIT)
#       WARM1          the first round's warm-up instead (default WARM): e.g. WARM1=90s for a gateway's steady
#                      state, what a long-running process pays per event once its JIT is done (the gateways
#                      keep running from round to round, so later rounds need only WARM)
#       MAIN=0         skip the side-by-side runs (e.g. to run only CAPACITY)
#       BASE_JAR       also run `serve` from this jar as path "base" (same flags, core and upstream): two builds of
#                      serve side by side in one run, e.g. main's against a change (prints base / serve)
#       BASE_OPTS      TOKENPIPE_JAVA_OPTS for the base path only (e.g. another collector; the same jar as BASE_JAR
#                      then compares two flag sets of one build)
#       FLOOR=1        also run a fourth path, bench/NettyFloorRelay.java: a Netty TCP relay that parses nothing, on
#                      serve's JVM flags and core. Its CPU per event is the floor under any Netty gateway, so
#                      serve's CPU splits into that floor and serve's own HTTP and SSE work; its latency, minus
#                      NGINX's, is printed beside serve's, so a tail gap splits the same way
#       SUMMARIZE      "FILE ...": print only the summary of saved runs and start nothing (each run leaves its rows
#                      in target/gateway-overhead/results.tsv, or OUT; copy it away before the next run). The
#                      rounds of all the files pool, e.g. two runs of four rounds give medians of eight. File names
#                      without spaces; pass the runs' concurrency as the first argument (RSS per stream divides by it)
#       CAPACITY=1     also step the concurrency up per path (STEPS, default "500 1000 2000 4000"; CAP_SECS
#                      measured seconds per step, default 20) until a step loses, errors or stalls an event
#                      (a gap over STALL_MS, default 200) or delivers late (delivery p99 over LATE_MS, default
#                      50): the most concurrent streams each path sustains
#
# Rounds alternate the order of the paths (even rounds run them in reverse), so a path's place in a round cancels
# out of the medians. Per path and round: an unmeasured warm-up run (WARM, 10 s by default, at the same concurrency), then the measured run.
# For the gateways it reads the process's CPU time (/proc/PID/stat) around the measured run and its RSS
# (idle before the warm-up, sampled every 0.5 s during the run). Prints, per round, p50/p99/p99.9 of
# TTFT, ITL and delivery delay (emission stamp to client read), then the medians over rounds (TTFT also up to
# the sim's opening chunk, stamped as the request arrives: the request's way in, and up to the first token's
# emission stamp: the way in and the model's wait, apart from the token's way back): what each
# gateway adds to direct, serve minus NGINX (issue 15's target: <= 0.5 ms everywhere; the floor and base minus NGINX
# beside it when they run), each gateway minus NGINX round by round (their spread is what the medians can resolve
# here), CPU-seconds per
# million relayed events (target: serve <= 1.1x NGINX) and RSS per stream (target: <= 20 KB). serve's CPU
# (and base's) is split by thread (/proc/PID/task): event loops, garbage collector, JIT compiler, the rest; the JIT's
# share is warm-up that a long-running process stops paying. When bench flags itself (or the sim beside it)
# as the bottleneck on the direct path, the core they share is saturated and the script says so: the
# differences are then that core's queueing, not the gateways'.
# Needs nginx, jq, taskset, curl.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib.sh"
c=${1:-300}
secs=${2:-30}
rounds=${3:-2}
gw_core=${GW_CORE:-1}
rest=${REST_CORES:-0}
warm=${WARM:-10s}
warm_first=${WARM1:-$warm}
# Medians over rounds (over every round of every file given: saved runs pool), each gateway minus NGINX round
# by round, CPU and RSS per gateway. serve's own event counter gives events per content event, applied to every path.
# The one median both awk programs below use (the summary's and the 1-stream pass's).
awk_middle='
function middle(v, n,    i, j, t) { # the median of v[1..n], 0 when n is 0
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
  return n == 0 ? 0 : (n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2)
}'
summarize() {
  awk -F'\t' -v c="$c" "$awk_middle"'
function median(name, col,    n, i, v) {
  n = 0
  for (i = 1; i <= rows; i++) if (path[i] == name && val[i, col] != "") v[++n] = val[i, col] # empty: no request ok
  return middle(v, n)
}
function mid(a, m, n,    i, v) {
  for (i = 1; i <= n; i++) v[i] = a[m, i]
  return middle(v, n)
}
function extra(col, x,    out) {
  out = ""
  if (hasfloor) out = out sprintf(" %+13.2f", median("floor", col) - x)
  if (hasbase) out = out sprintf(" %+12.2f", median("base", col) - x)
  return out
}
FNR == 1 { run++ }
{ rows++; path[rows] = $1; rnd[rows] = run ":" $2; for (k = 3; k <= NF; k++) val[rows, k] = $k }
END {
  split("TTFT TTFT TTFT ITL ITL ITL delivery delivery delivery", metric, " ")
  split("p50 p99 p99.9 p50 p99 p99.9 p50 p99 p99.9", pct, " ")
  # The floor and base paths, when run, get columns of their own, minus NGINX as for serve: what a Netty relay
  # that parses nothing adds is the part of the gap of serve that no Netty gateway avoids on this machine.
  for (i = 1; i <= rows; i++) { if (path[i] == "floor") hasfloor = 1; if (path[i] == "base") hasbase = 1 }
  printf "\nmedians over rounds (ms)     direct   +serve   +nginx   serve-nginx%s%s\n", \
    (hasfloor ? "   floor-nginx" : ""), (hasbase ? "   base-nginx" : "")
  for (k = 6; k <= 14; k++) {
    d = median("direct", k); s = median("serve", k); x = median("nginx", k)
    printf "  %-8s %-6s %14.2f %+8.2f %+8.2f %+10.2f%s%s\n", metric[k - 5], pct[k - 5], d, s - d, x - d, s - x, \
      extra(k, x), (s - x > 0.5 ? "   (target <= 0.5: missed)" : "")
  }
  # TTFT in three parts: the way in to the model (up to the opening chunk, which the sim stamps as the request
  # arrives), the wait of the model (up to the emission stamp of the first token) and the way back out (that
  # token as delivered, above): on which of them a gateway adds its TTFT.
  d = median("direct", 28); s = median("serve", 28); x = median("nginx", 28)
  printf "  %-16s %13.2f %+8.2f %+8.2f %+10.2f%s   (request written -> the sim%ss opening chunk: the way in)\n", "way in p99", d, s - d, x - d, s - x, extra(28, x), "\047"
  d = median("direct", 26); s = median("serve", 26); x = median("nginx", 26)
  printf "  %-16s %13.2f %+8.2f %+8.2f %+10.2f%s   (TTFT up to the first token%ss emission stamp)\n", "TTFT emitted p99", d, s - d, x - d, s - x, extra(26, x), "\047"
  # Each gateway minus NGINX in the same round: how far these move from round to round is what the medians above
  # can resolve on this machine (docs/benchmarks.md, "The tail beside the floor").
  printf "\nper round, minus NGINX in the same round (ms)   TTFT p99   ITL p99   delivery p99   way in p99\n"
  split("7 10 13 28", dcol, " ")
  for (g = 1; g <= 3; g++) {
    name = g == 1 ? "serve" : (g == 2 ? "floor" : "base"); behind = 0; n = 0
    for (i = 1; i <= rows; i++) {
      if (path[i] != name) continue
      for (j = 1; j <= rows; j++) if (path[j] == "nginx" && rnd[j] == rnd[i]) {
        if (val[i, 7] == "" || val[j, 7] == "") { # a path with no successful request has no latency to compare
          printf "  round %-5s %-6s no latency (no request succeeded on one of the paths)\n", rnd[i], name
          continue
        }
        n++
        for (m = 1; m <= 4; m++) diff[m, n] = val[i, dcol[m]] - val[j, dcol[m]]
        printf "  round %-5s %-6s %+26.2f %+9.2f %+14.2f %+12.2f\n", rnd[i], name, diff[1, n], diff[2, n], diff[3, n], diff[4, n]
        if (diff[1, n] > 0) behind++
      }
    }
    if (n) printf "  %-6s median of the rounds %+20.2f %+9.2f %+14.2f %+12.2f   (behind NGINX at TTFT p99 in %d of %d)\n", \
      name, mid(diff, 1, n), mid(diff, 2, n), mid(diff, 3, n), mid(diff, 4, n), behind, n
  }
  per = median("serve", 18) / (median("serve", 5) > 0 ? median("serve", 5) : 1)
  for (p = 1; p <= 4; p++) {
    name = p == 1 ? "serve" : (p == 2 ? "nginx" : (p == 3 ? "floor" : "base"))
    ev[name] = median(name, 5) * per
    cpm[name] = ev[name] > 0 ? median(name, 15) / ev[name] * 1e6 : 0
    rss[name] = (median(name, 17) - median(name, 16)) / c
  }
  printf "\nper gateway (pinned to its core)   CPU-s per million events   RSS per stream (KB, peak - idle)\n"
  printf "  serve   %28.1f %22.1f\n", cpm["serve"], rss["serve"]
  printf "  nginx   %28.1f %22.1f\n", cpm["nginx"], rss["nginx"]
  printf "  serve / nginx CPU ratio %.2f (target <= 1.1); events per content event %.3f\n", \
    (cpm["nginx"] > 0 ? cpm["serve"] / cpm["nginx"] : 0), per
  if (cpm["floor"] > 0) {
    printf "  floor   %28.1f   (a Netty relay that parses nothing: floor / nginx %.2f, serve / floor %.2f;\n", \
      cpm["floor"], (cpm["nginx"] > 0 ? cpm["floor"] / cpm["nginx"] : 0), cpm["serve"] / cpm["floor"]
    printf "           serve minus floor, its HTTP and SSE work: %.1f CPU-s per million events)\n", cpm["serve"] - cpm["floor"]
  }
  if (cpm["base"] > 0) {
    printf "  base    %28.1f %22.1f   (serve from BASE_JAR: base / serve %.2f, base / nginx %.2f)\n", \
      cpm["base"], rss["base"], cpm["base"] / (cpm["serve"] > 0 ? cpm["serve"] : 1), (cpm["nginx"] > 0 ? cpm["base"] / cpm["nginx"] : 0)
  }
  printf "  (RSS peak - idle counts a heap growing under load; memory held per open stream: bench/stream-memory.sh)\n"
  if (ev["serve"] > 0) {
    printf "  serve by thread, CPU-s per million events: event loops %.1f, GC %.1f, JIT %.1f (warm-up), other %.1f\n", \
      median("serve", 20) / ev["serve"] * 1e6, median("serve", 21) / ev["serve"] * 1e6, \
      median("serve", 22) / ev["serve"] * 1e6, median("serve", 23) / ev["serve"] * 1e6
    printf "  serve / nginx CPU ratio without the JIT: %.2f\n", \
      (cpm["nginx"] > 0 ? (median("serve", 15) - median("serve", 22)) / ev["serve"] * 1e6 / cpm["nginx"] : 0)
  }
  if (ev["base"] > 0) {
    printf "  base by thread, CPU-s per million events: event loops %.1f, GC %.1f, JIT %.1f (warm-up), other %.1f\n", \
      median("base", 20) / ev["base"] * 1e6, median("base", 21) / ev["base"] * 1e6, \
      median("base", 22) / ev["base"] * 1e6, median("base", 23) / ev["base"] * 1e6
  }
  for (i = 1; i <= rows; i++) if (path[i] == "direct" && val[i, 24] == "true") bound++
  if (bound) printf "\n  WARNING: in %d of the direct runs bench flagged itself as the bottleneck (lag p99 %.1f ms at the median):\n  the core of the sim and bench is saturated, so the differences above are its queueing, not the gateways.\n", bound, median("direct", 19)
}' "$@"
}

if [ -n "${SUMMARIZE:-}" ]; then
  # shellcheck disable=SC2086 # a list of files
  for f in $SUMMARIZE; do [ -s "$f" ] || { echo "gateway-overhead: SUMMARIZE: no results in $f" >&2; exit 64; }; done
  summarize $SUMMARIZE
  exit 0
fi
bench_needs gateway-overhead nginx jq taskset curl
bench_setup
tp() { "$here/tokenpipe" "$@"; }

taskset -c "$rest" "$here/tokenpipe" sim -p 18410 --ttft 200ms --itl 20ms --tokens 64 >"$work/sim.log" 2>&1 & pids+=($!)
taskset -c "$gw_core" "$here/tokenpipe" serve -p 18411 --upstream http://127.0.0.1:18410 >"$work/serve.log" 2>&1 & pids+=($!)
serve_pid=$!
bench_nginx 18412 18410 "$gw_core"
paths="direct serve nginx"
base_pid=
if [ -n "${BASE_JAR:-}" ]; then
  [ -f "$BASE_JAR" ] || { echo "gateway-overhead: BASE_JAR: no such file: $BASE_JAR" >&2; exit 64; }
  TOKENPIPE_JAR=$BASE_JAR TOKENPIPE_JAVA_OPTS=${BASE_OPTS:-} taskset -c "$gw_core" "$here/tokenpipe" serve -p 18414 \
    --upstream http://127.0.0.1:18410 \
    >"$work/base.log" 2>&1 & pids+=($!)
  base_pid=$!
  paths="$paths base"
fi
floor_pid=
if [ "${FLOOR:-0}" = 1 ]; then
  TOKENPIPE_SOURCE="$here/bench/NettyFloorRelay.java" taskset -c "$gw_core" "$here/tokenpipe" 18413 18410 \
    >"$work/floor.log" 2>&1 & pids+=($!)
  floor_pid=$!
  paths="$paths floor"
fi
bench_started gateway-overhead "the sim" 18410 "$work/sim.log"
bench_started gateway-overhead serve 18411 "$work/serve.log" "$serve_pid"
bench_started gateway-overhead NGINX 18412 "$work/error.log"
[ -z "$base_pid" ] || bench_started gateway-overhead "BASE_JAR's serve" 18414 "$work/base.log" "$base_pid"
[ -z "$floor_pid" ] || bench_started gateway-overhead "the floor" 18413 "$work/floor.log" "$floor_pid"
nginx_worker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)
hz=$(getconf CLK_TCK)

cpu_s() { awk -v hz="$hz" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# CPU seconds of a JVM by thread kind: event loops, GC, JIT, other (comm is cut to 15 characters).
thread_cpu() {
  [ -n "$1" ] && [ -d "/proc/$1/task" ] || { echo "0 0 0 0"; return; }
  for t in /proc/"$1"/task/*; do
    printf '%s\t%s\n' "$(cat "$t/comm" 2>/dev/null)" "$(sed 's/.*) //' "$t/stat" 2>/dev/null | awk '{print $12 + $13}')"
  done | awk -F'\t' -v hz="$hz" '
    $1 ~ /^tokenpipe-/ {l += $2; next}
    $1 ~ /^(Z|G1 |GC |VM Periodic)/ {g += $2; next}
    $1 ~ /^C[12] Compiler/ {j += $2; next}
    {o += $2}
    END {printf "%.2f %.2f %.2f %.2f\n", l / hz, g / hz, j / hz, o / hz}'
}
gw_pid() { case $1 in serve) echo "$serve_pid" ;; nginx) echo "$nginx_worker" ;; floor) echo "$floor_pid" ;; base) echo "$base_pid" ;; *) echo "" ;; esac; }
port_of() { case $1 in direct) echo 18410 ;; serve) echo 18411 ;; nginx) echo 18412 ;; floor) echo 18413 ;; base) echo 18414 ;; esac; }
events_total() { curl -fs http://127.0.0.1:18411/metrics | awk '/^tokenpipe_gateway_events_total/ {print int($2)}'; }
load() { # name conc seconds json [bench's own warm-up]
  taskset -c "$rest" "$here/tokenpipe" bench -c "$2" -z "$3" --warmup "${5:-0}" --progress none --json "$4" \
    "http://127.0.0.1:$(port_of "$1")/v1/chat/completions" >"${4%.json}.txt" 2>&1 || true
}

echo "concurrency $c, ${secs}s measured per run, $rounds rounds; gateway on core $gw_core, sim+bench on $rest"
out=${OUT:-$here/target/gateway-overhead}
mkdir -p "$out"
results=$out/results.tsv
echo "per-run rows (path round ok errors content_events ttft p50 p99 p99.9 itl ... delivery ... cpu_s rss_idle_kb rss_peak_kb events lag): $results"
: >"$results"
: >"$out/one.tsv"
[ "${MAIN:-1}" = 1 ] && for round in $(seq "$rounds"); do
  # Even rounds run the paths in reverse: a path's place in the round moved its CPU by 2-8% (the later, the
  # more; docs/benchmarks.md), and alternating cancels that out of the medians.
  order=$paths
  [ $((round % 2)) = 0 ] && order=$(printf '%s\n' $paths | tac | tr '\n' ' ')
  for name in $order; do
    pid=$(gw_pid "$name")
    idle=0; [ -n "$pid" ] && idle=$(rss_kb "$pid")
    w=$warm; [ "$round" = 1 ] && w=$warm_first
    load "$name" "$c" "$w" "$work/warm-$name-$round.json"
    cpu0=0; [ -n "$pid" ] && cpu0=$(cpu_s "$pid")
    split0="0 0 0 0"; case $name in serve|base) split0=$(thread_cpu "$pid") ;; esac
    ev0=$(events_total)
    peak=0
    if [ -n "$pid" ]; then
      ( while sleep 0.5; do rss_kb "$pid"; done ) >"$work/rss-$name-$round.txt" 2>/dev/null &
      sampler=$!
    fi
    # The measured bench is a fresh JVM: its first seconds (JIT, 300 streams starting in step) put delivery p99
    # at 75-376 ms in 30 s runs against the sim alone, 4-5 ms with a warm-up of its own (docs/benchmarks.md,
    # "The load side's collector"); the gateway was warmed by the run above.
    load "$name" "$c" "${secs}s" "$work/$name-$round.json" "${BENCH_WARM:-5s}"
    if [ -n "$pid" ]; then
      kill "$sampler" 2>/dev/null || true
      peak=$(sort -n "$work/rss-$name-$round.txt" | tail -1)
    fi
    cpu1=0; [ -n "$pid" ] && cpu1=$(cpu_s "$pid")
    split="0 0 0 0"; case $name in serve|base) split=$(echo "$split0 $(thread_cpu "$pid")" | awk '{printf "%.2f %.2f %.2f %.2f", $5 - $1, $6 - $2, $7 - $3, $8 - $4}') ;; esac
    ev1=$(events_total)
    jq -r --arg n "$name" --arg r "$round" --arg cpu "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {print b - a}')" \
      --arg idle "$idle" --arg peak "${peak:-0}" --arg ev "$((ev1 - ev0))" --arg split "$split" '
      [$n, $r, .totals.ok, .totals.errors,
       # content events over the whole process (its warm-up too): the window of the CPU and event counters
       (.totals.content_events * (.totals.ok + .totals.warmup) / (if .totals.ok > 0 then .totals.ok else 1 end) | floor),
       .metrics.ttft.p50, .metrics.ttft.p99, .metrics.ttft.p99_9,
       .metrics.itl.p50, .metrics.itl.p99, .metrics.itl.p99_9,
       .metrics.one_way_delay.p50, .metrics.one_way_delay.p99, .metrics.one_way_delay.p99_9,
       $cpu, $idle, $peak, $ev, .self_check.loop_lag_p99_ms] + ($split | split(" ")) + [.self_check.generator_bound,
       .metrics.ttft_emitted.p50, .metrics.ttft_emitted.p99, .metrics.first_emitted.p50, .metrics.first_emitted.p99] | @tsv' \
      "$work/$name-$round.json" >>"$results"
    tail -1 "$results" | awk -F'\t' '{printf "round %s %-6s ok %s err %s | TTFT p50 %s p99 %s p99.9 %s | ITL p50 %s p99 %s p99.9 %s | delivery p50 %s p99 %s p99.9 %s ms | bench lag p99 %s ms | gateway CPU %s s, RSS idle %s peak %s KB\n", $2, $1, $3, $4, $6, $7, $8, $9, $10, $11, $12, $13, $14, $19, $15, $16, $17}'
  done
done

[ -s "$results" ] && summarize "$results"

if [ "${SINGLE:-1}" = 1 ]; then
  # The public streaming-gateway benchmark's shape: one stream, 64 deltas 20 ms apart, added TTFT and
  # added inter-event gap in microseconds.
  echo
  echo "1 stream, 64 deltas 20 ms apart (added vs direct, microseconds; median of $rounds runs of 20 requests)"
  # Without the side-by-side runs nothing has warmed the gateways: give each the same unmeasured load first,
  # or the pass measures serve's JIT warm-up against NGINX.
  [ "${MAIN:-1}" = 1 ] || for name in serve nginx; do
    load "$name" "$c" "$warm_first" "$work/warm-one-$name.json"
  done
  for round in $(seq "$rounds"); do
    for name in direct serve nginx; do
      taskset -c "$rest" "$here/tokenpipe" bench -c 1 -n 20 --warmup 3 --progress none --json "$work/one-$name-$round.json" \
        "http://127.0.0.1:$(port_of "$name")/v1/chat/completions" >"$out/one-$name-$round.txt" 2>&1 || true
      if [ "$(jq -r '.totals.ok' "$work/one-$name-$round.json")" = 0 ]; then
        echo "  $name round $round: no request succeeded (bench output: $out/one-$name-$round.txt):" >&2
        grep -m5 -iE "error|refused|reset|status" "$out/one-$name-$round.txt" | sed 's/^/    /' >&2
        continue
      fi
      jq -r --arg n "$name" '[$n, .metrics.ttft.p50, .metrics.ttft.p99, .metrics.itl.p50, .metrics.itl.p99] | @tsv' \
        "$work/one-$name-$round.json" >>"$out/one.tsv"
    done
  done
  awk -F'\t' "$awk_middle"'
  function median(name, col,    n, i, v) {
    n = 0
    for (i = 1; i <= rows; i++) if (path[i] == name && val[i, col] != "") v[++n] = val[i, col] # empty: no request ok
    return n == 0 ? "nan" : middle(v, n)
  }
  { rows++; path[rows] = $1; for (k = 2; k <= NF; k++) val[rows, k] = $k }
  END {
    printf "  %-6s %12s %12s %12s %12s\n", "", "TTFT p50", "TTFT p99", "gap p50", "gap p99"
    for (p = 1; p <= 2; p++) {
      name = p == 1 ? "serve" : "nginx"
      printf "  %-6s", name
      for (k = 2; k <= 5; k++) {
        if (median(name, k) == "nan") printf " %12s", "n/a"; else printf " %+12.0f", (median(name, k) - median("direct", k)) * 1000
      }
      printf "\n"
    }
  }' "$out/one.tsv"
fi

if [ "${CAPACITY:-0}" = 1 ]; then
  # The most concurrent streams each path sustains: step up until a step loses an event (a stream with fewer
  # than the sim's 64 tokens or an error), stalls one (an inter-event gap over STALL_MS) or delivers late
  # (delivery p99 over LATE_MS). Each step: 5 s unmeasured warm-up inside bench, then CAP_SECS measured.
  steps=${STEPS:-500 1000 2000 4000}
  stall=${STALL_MS:-200}
  late=${LATE_MS:-50}
  echo
  echo "most concurrent streams sustained (64 tokens at 20 ms each; fail: an error or lost event, a gap over $stall ms, delivery p99 over $late ms)"
  printf "  %-6s %7s %7s %6s %6s %10s %12s %14s  %s\n" path streams ok errors lost "gap max" "delivery p99" "bench lag p99" verdict
  : >"$out/capacity.tsv"
  for name in direct serve nginx; do
    best=0
    for n in $steps; do
      f="$work/cap-$name-$n.json"
      taskset -c "$rest" "$here/tokenpipe" bench -c "$n" -z "${CAP_SECS:-20}s" --warmup 5s --progress none --json "$f" \
        "http://127.0.0.1:$(port_of "$name")/v1/chat/completions" >"$out/cap-$name-$n.txt" 2>&1 || true
      [ -s "$f" ] || { printf "  %-6s %7s  bench wrote no result (%s)\n" "$name" "$n" "$out/cap-$name-$n.txt"; break; }
      row=$(jq -r --arg n "$name" --arg c "$n" --argjson stall "$stall" --argjson late "$late" '
        (.totals.ok * 64 - .totals.content_events) as $lost
        | (if .totals.errors > 0 or $lost > 0 or .totals.ok == 0 then "lost"
           elif .metrics.itl.max > $stall then "stalled"
           elif .metrics.one_way_delay.p99 > $late then "late" else "ok" end) as $v
        | [$n, $c, .totals.ok, .totals.errors, $lost, .metrics.itl.max, .metrics.one_way_delay.p99,
           .self_check.loop_lag_p99_ms, $v] | @tsv' "$f")
      echo "$row" >>"$out/capacity.tsv"
      echo "$row" | awk -F'\t' '{printf "  %-6s %7s %7s %6s %6s %10s %12s %14s  %s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9}'
      [ "$(echo "$row" | cut -f9)" = ok ] || break
      best=$n
    done
    echo "  $name sustained $best streams" >>"$out/capacity-summary.txt"
  done
  cat "$out/capacity-summary.txt"; rm -f "$out/capacity-summary.txt"
fi
