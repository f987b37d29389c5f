# Shared by scripts/bench.sh and scripts/soak.sh (sourced): the background processes a script
# started (in its `started` array, stopped by its cleanup), waiting for them, removing the
# cgroups it made, the cgroup v2 mount, the median of samples, and bench/floor. The caller
# defines die() and `work`.

stop_pid() { # pid signal: signal, wait up to 10 s, then SIGKILL
  local pid=$1 sig=$2 _
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

forget_pid() { # pid: no longer ours to stop
  local keep=() p
  for p in "${started[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  started=("${keep[@]}")
}

wait_for_line() { # file pattern pid what: up to 30 s
  local _
  for _ in $(seq 300); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || die "$4 exited before it was ready:$(printf '\n'; cat "$1")"
    sleep 0.1
  done
  die "$4 not ready after 30 s:$(printf '\n'; cat "$1")"
}

remove_cgroup() { # dir: its processes killed (only ours ever run there), then removed
  local d=$1 p _
  [ -d "$d" ] || return 0
  for _ in $(seq 50); do
    while read -r p; do kill -KILL "$p" 2>/dev/null || true; done < "$d/cgroup.procs"
    rmdir "$d" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "${0##*/}: warning: could not remove $d" >&2
}

# The cgroup v2 mount: the first line of mountinfo whose filesystem type (the field after the
# "-" separator) is cgroup2. Mount points are octal-escaped there.
cgroup2_mount() {
  local m
  m=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break } }' \
    /proc/self/mountinfo)
  [ -n "$m" ] || die "no cgroup v2 mount in /proc/self/mountinfo"
  printf '%b' "$m"
}

stats() { # space-separated samples on stdin -> "median min max"
  tr ' ' '\n' | grep . | sort -g |
    awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR] }'
}

floor_pid=""
floor_start() { # loader seconds: bench/floor attached; it stops when fd 9 closes too (if the caller dies)
  rm -f "$work/floor.in" && mkfifo "$work/floor.in"
  timeout -s INT -k 5 "$2" "$1" "$2" < "$work/floor.in" > "$work/floor.log" 2>&1 &
  floor_pid=$!
  started+=("$floor_pid")
  exec 9> "$work/floor.in"
  wait_for_line "$work/floor.log" "floor attached" "$floor_pid" "the floor loader"
}
floor_stop() {
  exec 9>&-
  stop_pid "$floor_pid" INT
  forget_pid "$floor_pid"
  floor_pid=""
}
