# The preamble the bench scripts share; sourced, after the script has set `here` (the repository's root).
#
#   bench_needs NAME TOOL...   exits 1 with "NAME: needs TOOL" on stderr when a tool is not on PATH
#   bench_setup                sets `work` (a fresh temporary directory) and `pids` (append every background
#                              process to it), traps EXIT to kill those processes, stop an NGINX whose pid file
#                              is $work/nginx.pid, wait for the processes and remove $work; then builds (or checks) the jar
#                              once, before the script starts processes in parallel: two launchers building at
#                              once fail

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
