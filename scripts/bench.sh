#!/usr/bin/env bash
# `make bench`: what clawfence costs the processes it watches and the ones it does not, and how
# fast its user-space pipeline is. One run measures, interleaved over ROUNDS rounds (the order
# of the conditions rotates each round), the ns per iteration of an open+close loop and a
# connect+close loop (bench/loop.c) under four conditions:
#
#   none       no agent
#   floor      bench/floor: empty raw_tp sys_enter + sys_exit with one map lookup each; any
#              syscall tracepoint puts every task's syscalls on the slow path, so this is the
#              least a raw-tracepoint sensor can cost
#   untracked  `clawfence agent` running, the loop not tracked (a target that never matches);
#              its network hooks are on a cgroup of ours that the loops run in, as they would
#              be on the root cgroup in production
#   tracked    `clawfence run -- loop ...`: tracked from its first instruction, events to
#              /dev/null (the loop's own figure counts, not clawfence's start-up)
#
# then runs bench/pipeline_bench, bench/policy_bench (ns per event with 10 and with 10,000
# CIDRs / 1,000 hostnames / 1,000 globs) and bench/matchers_bench. Medians go to stdout and
# $BUILD/bench/results.md.
# Goals: untracked within 5% of the floor; tracked <= 1.35x of none; pipeline >= 500k records/s
# with zero loss.
#
# Environment: BUILD (default build), ROUNDS (5), N_OPEN (200000), N_CONNECT (50000),
# N_PIPELINE (200000).
set -euo pipefail

die() {
  echo "bench: $*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root: it loads eBPF programs and creates a cgroup (try: sudo make bench)"

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-5}
N_OPEN=${N_OPEN:-200000}
N_CONNECT=${N_CONNECT:-50000}
N_PIPELINE=${N_PIPELINE:-200000}
LIMIT=120 # seconds any one process we start may live

make --no-print-directory BUILD="$BUILD" all bench-bins >&2
BUILD=$(cd "$BUILD" && pwd)
CF=$BUILD/clawfence
LOOP=$BUILD/bench/loop
FLOOR=$BUILD/bench/floor
PIPELINE=$BUILD/bench/pipeline_bench
OUT=$BUILD/bench/results.md

# ---- state, and cleanup on every exit -------------------------------------------------------
work=$(mktemp -d /tmp/clawfence-bench.XXXXXX)
cg=""
started=()      # pids of background processes we started
run_cgroups=()  # cgroups `clawfence run` creates (clawfence-run.PID), removed if it could not

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

cleanup() {
  local rc=$? pid p _
  exec 9>&- 2>/dev/null || true
  for pid in "${started[@]}"; do stop_pid "$pid" INT; done
  if [ -n "$cg" ] && [ -d "$cg" ]; then
    # Only our loops ever run in it.
    for _ in $(seq 50); do
      while read -r p; do kill -KILL "$p" 2>/dev/null || true; done < "$cg/cgroup.procs"
      rmdir "$cg" 2>/dev/null && break
      sleep 0.1
    done
    [ -d "$cg" ] && echo "bench: warning: could not remove $cg" >&2
  fi
  for p in "${run_cgroups[@]}"; do
    [ -d "$p" ] && { rmdir "$p" 2>/dev/null || echo "bench: warning: could not remove $p" >&2; }
  done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- set-up ---------------------------------------------------------------------------------
# The cgroup v2 mount: the first line of mountinfo whose filesystem type (the field after the
# "-" separator) is cgroup2. Mount points are octal-escaped there.
cg2=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break } }' \
  /proc/self/mountinfo)
[ -n "$cg2" ] || die "no cgroup v2 mount in /proc/self/mountinfo"
cg2=$(printf '%b' "$cg2")
cg=$cg2/clawfence-bench.$$
mkdir "$cg" || die "cannot create $cg"

target_file=$work/openclaw-workspace-notes.md # a path of ~50 bytes, like an agent's files
echo "bench" > "$target_file"
rules=$work/never.yaml
cat > "$rules" <<'EOF'
version: 1
mode: monitor
targets:
  - name: never
    match:
      - comm: [no-such-comm-x]
EOF

# A loop in our cgroup; prints its ns/iter. $1 = open|connect.
loop_in_cgroup() {
  local out
  out=$( (echo "$BASHPID" > "$cg/cgroup.procs" && exec timeout -k 5 "$LIMIT" "$LOOP" "$@") ) ||
    die "loop $* failed: $out"
  ns_of "$out"
}

ns_of() { # the ns_per_iter= figure of a loop's output line
  local v
  v=$(sed -n 's/.*ns_per_iter=\([0-9.]*\).*/\1/p' <<< "$1")
  [ -n "$v" ] || die "no figure in loop output: $1"
  echo "$v"
}

loop_args() { # op -> the loop's arguments
  case $1 in
    open) echo "open $N_OPEN $target_file" ;;
    connect) echo "connect $N_CONNECT 0" ;; # refused: a reserved port nobody listens on
  esac
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

# Syscall tracepoint programs someone else attached while we measured "none" skew every figure.
foreign_links() { bpftool link show 2>/dev/null | grep -c "tp 'sys_e" || true; }
foreign_seen=0

declare -A samples # "cond op" -> space-separated ns/iter
measure() { # cond op: runs the loop in our cgroup and records its figure
  local v
  # shellcheck disable=SC2046
  v=$(loop_in_cgroup $(loop_args "$2"))
  samples["$1 $2"]+="$v "
}

# ---- conditions -----------------------------------------------------------------------------
cond_none() {
  local op n
  for op in open connect; do
    n=$(foreign_links)
    [ "$n" -eq 0 ] || foreign_seen=$n
    measure none "$op"
  done
}

cond_floor() {
  local pid op
  rm -f "$work/floor.in" && mkfifo "$work/floor.in"
  timeout -s INT -k 5 "$LIMIT" "$FLOOR" "$LIMIT" < "$work/floor.in" > "$work/floor.log" 2>&1 &
  pid=$!
  started+=("$pid")
  exec 9> "$work/floor.in" # the floor also stops when this closes (if this script dies)
  wait_for_line "$work/floor.log" "floor attached" "$pid" "the floor loader"
  for op in open connect; do
    measure floor "$op"
  done
  exec 9>&-
  stop_pid "$pid" INT
  forget_pid "$pid"
}

cond_untracked() {
  local pid op
  : > "$work/agent.log"
  timeout -s INT -k 10 "$LIMIT" "$CF" agent --rules "$rules" --cgroup "$cg" -o /dev/null \
      --audit-dir "$work/audit" --tail-socket "$work/tail.sock" --metrics-addr 127.0.0.1:0 2> "$work/agent.log" &
  pid=$!
  started+=("$pid")
  wait_for_line "$work/agent.log" "watching:" "$pid" "clawfence agent"
  for op in open connect; do
    measure untracked "$op"
  done
  stop_pid "$pid" INT
  forget_pid "$pid"
  grep -q "stopped:" "$work/agent.log" || die "clawfence agent did not stop cleanly:$(printf '\n'; cat "$work/agent.log")"
}

add_run_stats() { # op log: adds the figures of clawfence's "stopped:" line
  local now
  now=$(sed -nE 's/.*stopped: ([0-9]+) records read, ([0-9]+) events written, lost: ([0-9]+) in the kernel.*, ([0-9]+) in the queue.*/\1 \2 \3 \4/p' "$2")
  [ -n "$now" ] || die "no summary in clawfence run's log:$(printf '\n'; cat "$2")"
  run_stats[$1]=$(awk -v a="${run_stats[$1]:-0 0 0 0}" -v b="$now" \
    'BEGIN { split(a, x); split(b, y); print x[1] + y[1], x[2] + y[2], x[3] + y[3], x[4] + y[4] }')
}
declare -A run_stats # op -> "records read, written, lost in the kernel, lost in the queue", summed
# `clawfence run ARGS -- loop OP`, waited for; leaves the loop's output in $work/run.out and
# clawfence's log in $work/run.log. $1 = what (for messages), $2 = op, the rest: run's flags.
run_loop() {
  local what=$1 op=$2 pid child rc c
  shift 2
  # shellcheck disable=SC2046
  timeout -s INT -k 10 "$LIMIT" "$CF" run -o /dev/null "$@" -- "$LOOP" $(loop_args "$op") \
    > "$work/run.out" 2> "$work/run.log" &
  pid=$!
  started+=("$pid")
  # clawfence itself is timeout's child: its cgroup is ours to remove if it is killed.
  for _ in $(seq 50); do
    child=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null || true)
    [ -n "$child" ] && break
    sleep 0.02
  done
  for c in $child; do run_cgroups+=("$cg2/clawfence-run.$c"); done
  rc=0
  wait "$pid" || rc=$?
  forget_pid "$pid"
  [ "$rc" -eq 0 ] || die "clawfence run ($what) exited with $rc:$(printf '\n'; cat "$work/run.out" "$work/run.log")"
}

cond_tracked() {
  local op
  for op in open connect; do
    run_loop "tracked $op" "$op"
    samples["tracked $op"]+="$(ns_of "$(cat "$work/run.out")") "
    add_run_stats "$op" "$work/run.log"
  done
}

# ---- the guards: connect+close to an allowed destination, enforce mode -----------------------
# gnone    no agent
# guards   the cgroup hooks and process sensors only (--syscall-hooks none): the loop unwatched
#          (agent on our cgroup) and watched (`clawfence run`, every connect judged)
# agent    the whole agent in enforce mode, unwatched and watched
enforce_rules=$work/enforce.yaml
cat > "$enforce_rules" <<'EOF2'
version: 1
mode: enforce
targets:
  - name: never
    match:
      - comm: [no-such-comm-x]
egress:
  default: deny
  allow:
    - { id: loopback, cidr: [127.0.0.0/8] }
EOF2

guard_unwatched() { # cond extra-agent-flags...
  local pid cond=$1
  shift
  : > "$work/agent.log"
  timeout -s INT -k 10 "$LIMIT" "$CF" agent --rules "$enforce_rules" --cgroup "$cg" --pin never -o /dev/null "$@" \
      --audit-dir "$work/audit" --tail-socket "$work/tail.sock" --metrics-addr 127.0.0.1:0 \
    2> "$work/agent.log" &
  pid=$!
  started+=("$pid")
  wait_for_line "$work/agent.log" "watching:" "$pid" "clawfence agent"
  measure "$cond" connect
  stop_pid "$pid" INT
  forget_pid "$pid"
}

guard_watched() { # cond extra-run-flags...
  local cond=$1
  shift
  run_loop "$cond" connect -r "$enforce_rules" "$@"
  samples["$cond connect"]+="$(ns_of "$(cat "$work/run.out")") "
}

cond_gnone() { measure gnone connect; }
cond_guards() {
  guard_unwatched guards-unwatched --syscall-hooks none
  guard_watched guards-watched --syscall-hooks none
}
cond_agent() {
  guard_unwatched agent-unwatched
  guard_watched agent-watched
}

# ---- run ------------------------------------------------------------------------------------
conds=(none floor untracked tracked)
gconds=(gnone guards agent)
echo "bench: $ROUNDS rounds x ${#conds[@]} conditions; open N=$N_OPEN, connect N=$N_CONNECT; cgroup $cg" >&2
t_start=$SECONDS
for ((r = 0; r < ROUNDS; r++)); do
  for ((k = 0; k < ${#conds[@]}; k++)); do
    c=${conds[$(((r + k) % ${#conds[@]}))]}
    "cond_$c"
  done
  for ((k = 0; k < ${#gconds[@]}; k++)); do
    c=${gconds[$(((r + k) % ${#gconds[@]}))]}
    "cond_$c"
  done
  echo "bench: round $((r + 1))/$ROUNDS done ($((SECONDS - t_start)) s)" >&2
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A med
for c in "${conds[@]}"; do
  for op in open connect; do med["$c $op"]=$(median <<< "${samples["$c $op"]}"); done
done
gcols=(gnone guards-unwatched guards-watched agent-unwatched agent-watched)
for c in "${gcols[@]}"; do med["$c connect"]=$(median <<< "${samples["$c connect"]}"); done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
check() { awk -v v="$1" -v lim="$2" 'BEGIN { print (v <= lim) ? "met" : "NOT met" }'; }

# ---- environment reads: process.env.X in a loop, ns per read ---------------------------------
# envnone     no agent
# envwatched  under `clawfence run -r rules/openclaw.yaml`: the uprobes attached and the process
#             watched (reads folded in the kernel: one record per name per window)
# envother    an unwatched node while a watched one keeps the probes attached (the uprobe still
#             traps; the kernel program finds the process untracked and returns)
N_ENV=${N_ENV:-1000000}
env_loop='const n = Number(process.argv[1]); let x = 0; for (let i = 0; i < n / 10; i++) x += (process.env.OPENAI_API_KEY || "").length;
const t = process.hrtime.bigint(); for (let i = 0; i < n; i++) x += (process.env.OPENAI_API_KEY || "").length;
console.log("env n=" + n + " ns_per_iter=" + (Number(process.hrtime.bigint() - t) / n).toFixed(1) + " " + (x > 0))'
declare -A env_samples
if command -v node >/dev/null; then
  export OPENAI_API_KEY=bench-not-a-secret
  for ((r = 0; r < 3; r++)); do
    env_samples[none]+="$(ns_of "$(timeout "$LIMIT" node -e "$env_loop" "$N_ENV")") "
    out=$(timeout "$LIMIT" "$CF" --log-level error run -r rules/openclaw.yaml -o /dev/null -- node -e "$env_loop" "$N_ENV") ||
      die "clawfence run (env) failed: $out"
    env_samples[watched]+="$(ns_of "$out") "
    # a watched node that keeps the probes attached while an unwatched one reads
    timeout "$LIMIT" "$CF" --log-level error run -r rules/openclaw.yaml -o /dev/null -- node -e 'setTimeout(() => {}, 8000)' &
    keeper=$!
    started+=("$keeper")
    sleep 1.5
    env_samples[other]+="$(ns_of "$(timeout "$LIMIT" node -e "$env_loop" "$N_ENV")") "
    stop_pid "$keeper" INT
    forget_pid "$keeper"
  done
  unset OPENAI_API_KEY
fi

pipeline_out=$("$PIPELINE" "$N_PIPELINE") && pipeline_rc=0 || pipeline_rc=$?
policy_out=$("$BUILD/bench/policy_bench")
matchers_out=$("$BUILD/bench/matchers_bench")

mkdir -p "$(dirname "$OUT")"
{
  echo "## clawfence benchmarks"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), kernel $(uname -r), $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1))," \
    "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo '+changes')," \
    "load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "Median of $ROUNDS interleaved rounds; ns per iteration measured by the loop itself."
  echo "open: open(\"$target_file\", O_RDONLY)+close, N=$N_OPEN." \
    "connect: TCP connect to 127.0.0.1 on a port with no listener (refused at once, no state left), N=$N_CONNECT."
  echo
  echo "| condition | open ns/iter | vs none | vs floor | connect ns/iter | vs none | vs floor |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for c in "${conds[@]}"; do
    row="| $c"
    for op in open connect; do
      row+=" | ${med["$c $op"]} | $(ratio "${med["$c $op"]}" "${med["none $op"]}") | $(ratio "${med["$c $op"]}" "${med["floor $op"]}")"
    done
    echo "$row |"
  done
  echo
  echo "Goals:"
  for op in open connect; do
    u=$(ratio "${med["untracked $op"]}" "${med["floor $op"]}")
    t=$(ratio "${med["tracked $op"]}" "${med["none $op"]}")
    echo "- $op: untracked/floor = $u (goal <= 1.05: $(check "$u" 1.05)); tracked/none = $t (goal <= 1.35: $(check "$t" 1.35))"
  done
  echo
  echo "### The guards (enforce mode)"
  echo
  echo "connect+close to 127.0.0.1 (allowed by the rules; refused by the kernel, no listener), N=$N_CONNECT;" \
    "unwatched: the loop in the hooked cgroup, not tracked; watched: under \`clawfence run\`, every connect judged."
  echo
  echo "| condition | connect ns/iter | vs none |"
  echo "|---|---:|---:|"
  for c in "${gcols[@]}"; do
    echo "| $c | ${med["$c connect"]} | $(ratio "${med["$c connect"]}" "${med["gnone connect"]}") |"
  done
  echo
  gw=$(ratio "${med["guards-watched connect"]}" "${med["gnone connect"]}")
  gu=$(ratio "${med["guards-unwatched connect"]}" "${med["gnone connect"]}")
  au=$(ratio "${med["agent-unwatched connect"]}" "${med["floor connect"]}")
  echo "- guards, watched/none = $gw (goal <= 1.05: $(check "$gw" 1.05)); unwatched/none = $gu (goal: within noise)"
  echo "- whole agent in enforce mode, unwatched/floor = $au (goal <= 1.05: $(check "$au" 1.05))"
  if [ -n "${env_samples[none]:-}" ]; then
    en=$(median <<< "${env_samples[none]}")
    ew=$(median <<< "${env_samples[watched]}")
    eo=$(median <<< "${env_samples[other]}")
    echo
    echo "### Environment reads"
    echo
    echo "\`process.env.OPENAI_API_KEY\` read $N_ENV times in a loop by node ($(node --version)), ns per read, median of 3."
    echo
    echo "| condition | ns/read | vs none |"
    echo "|---|---:|---:|"
    echo "| no agent | $en | 1.000 |"
    echo "| watched (uprobes on uv_os_getenv and getenv, reads folded in the kernel) | $ew | $(ratio "$ew" "$en") |"
    echo "| unwatched, probes attached for a watched node | $eo | $(ratio "$eo" "$en") |"
    echo
    echo "Samples: none ${env_samples[none]}; watched ${env_samples[watched]}; unwatched ${env_samples[other]}"
  fi
  echo
  echo "Samples (ns/iter, in run order):"
  for c in "${conds[@]}"; do
    for op in open connect; do echo "- $c $op: ${samples["$c $op"]}"; done
  done
  for c in "${gcols[@]}"; do echo "- $c connect: ${samples["$c connect"]}"; done
  echo
  echo "clawfence run, all tracked runs together:"
  for op in open connect; do
    read -r rd wr lk lq <<< "${run_stats[$op]}"
    echo "- $op: $rd records read, $wr events written, lost $lk in the kernel and $lq in the queue"
  done
  if [ "$foreign_seen" -ne 0 ]; then
    echo
    echo "**Warning**: $foreign_seen program(s) of someone else were attached to sys_enter/sys_exit during a" \
      "\"none\" run; every figure includes their cost."
  fi
  echo
  echo "### pipeline (user space only)"
  echo
  echo "$pipeline_out"
  echo
  echo "### policy: cost per event does not grow with the rules"
  echo
  echo "$policy_out"
  echo
  echo "$matchers_out"
} | tee "$OUT"
echo >&2
echo "bench: written to $OUT ($((SECONDS - t_start)) s)" >&2
[ "$pipeline_rc" -eq 0 ] || die "pipeline_bench failed (exit $pipeline_rc): records were lost"
