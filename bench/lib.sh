# The preamble the bench scripts share; sourced, after the script has set `here` (the repository's root).
#
#   bench_needs NAME TOOL...   exits 1 with "NAME: needs TOOL" on stderr when a tool is not on PATH
#   bench_setup                sets `work` (a fresh temporary directory) and `pids` (append every background
#                              process to it), traps EXIT to kill those processes, stop an NGINX whose pid file
#                              is $work/nginx.pid, wait for the processes and remove $work; then builds (or checks) the jar
#                              once, before the script starts processes in parallel: two launchers building at
#                              once fail
#   bench_nginx PORT UPSTREAM_PORT CORE
#                              starts the NGINX the benchmarks compare with, as a streaming-safe reverse proxy is
#                              configured (proxy_buffering off, HTTP/1.1 keep-alive to the upstream, one worker pinned
#                              to CORE), on 127.0.0.1:PORT in front of 127.0.0.1:UPSTREAM_PORT; after bench_setup,
#                              which stops it (pid file $work/nginx.pid)
#   bench_up PORT [PID] [PATH] waits up to 30 s for http://127.0.0.1:PORT/PATH to answer 2xx (PATH defaults to
#                              /v1/models; serve's /readyz says an upstream is usable); gives up at once when PID (the
#                              server's process, if given and not empty) has exited; false when it did not answer
#   bench_stop PID...          stops those processes (kill, wait) and takes them out of `pids`, so that the EXIT trap
#                              does not signal their numbers again once another process may have them
#   bench_started NAME WHAT PORT LOG [PID] [PATH]
#                              bench_up PORT PID PATH, or exits 1 with "NAME: WHAT did not answer PATH on port PORT"
#                              and LOG's last lines on stderr: a run that went on without its server would print
#                              numbers about nothing

bench_needs() {
  local name=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$name: needs $tool" >&2; exit 1; }
  done
}

bench_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
  [ "${#pids[@]}" -eq 0 ] || wait "${pids[@]}" 2>/dev/null || true
  rm -rf "$work"
}

bench_setup() {
  work=$(mktemp -d)
  pids=()
  trap bench_cleanup EXIT
  "$here/tokenpipe" --version >/dev/null
}

bench_up() {
  local path=${3:-/v1/models} deadline=$((SECONDS + 30))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if [ -n "${2:-}" ] && { [ ! -e "/proc/$2/stat" ] || [ "$(sed 's/.*) //' "/proc/$2/stat" 2>/dev/null | cut -d' ' -f1)" = Z ]; }; then
      return 1 # exited (a zombie until the script waits for it)
    fi
    # A listener that accepts and never answers must not hold the wait past its 30 s.
    curl -fs --max-time 2 -o /dev/null "http://127.0.0.1:$1$path" && return 0
    sleep 0.2
  done
  return 1
}

bench_nginx() {
  cat >"$work/nginx.conf" <<NGINX
daemon on; pid $work/nginx.pid; error_log $work/error.log; worker_processes 1;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http {
  access_log off; client_body_temp_path $work; proxy_temp_path $work;
  upstream model { server 127.0.0.1:$2; keepalive 1024; }
  server { listen 127.0.0.1:$1 backlog=4096;
    location / { proxy_pass http://model; proxy_http_version 1.1; proxy_set_header Connection "";
                 proxy_buffering off; gzip off; proxy_read_timeout 1h; } }
}
NGINX
  taskset -c "$3" nginx -c "$work/nginx.conf"
}

bench_started() {
  local name=$1 what=$2 port=$3 log=$4 path=${6:-/v1/models}
  bench_up "$port" "${5:-}" "$path" && return 0
  echo "$name: $what did not answer $path on port $port (the last lines of its log follow)" >&2
  tail -5 "$log" >&2 2>/dev/null || true
  exit 1
}

bench_stop() {
  local p q keep=()
  kill "$@" 2>/dev/null || true
  wait "$@" 2>/dev/null || true
  for p in "${pids[@]}"; do
    for q in "$@"; do [ "$p" = "$q" ] && continue 2; done
    keep+=("$p")
  done
  pids=("${keep[@]}")
}
