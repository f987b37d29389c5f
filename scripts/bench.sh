#!/usr/bin/env bash
# `make bench`: what clawfence costs the processes it watches and the ones it does not, side by
# side with auditd and bpftrace doing the same job, and how much it can take.
#
# 1. Syscall workloads (bench/loop.c: open+close, stat, connect+close, UDP send, fork+exec of
#    /bin/true, an OpenClaw-like mix), ns per iteration, in two cgroups of ours: t (the watched
#    process) and u (any other process on the host). Conditions, interleaved over ROUNDS rounds
#    (the order rotates each round):
#      none       no monitor
#      floor      bench/floor: empty raw_tp sys_enter + sys_exit with one map lookup each, the
#                 least any syscall-tracepoint sensor costs every process on this kernel
#      monitor    `clawfence agent`, monitor mode, the rules watching t (u untracked)
#      enforce    the same in enforce mode: egress judged at the cgroup hooks, a kill rule
#      bpftrace   a bpftrace script printing the same events of t to a file
#    then, last, auditd (Debian's, its own config and log under our temp dir) with rules for
#    the same syscalls of the same processes (matched by audit uid), and `none` again after it
#    is gone, so a residual cost shows (the issue saw one).
# 2. process.env reads in node: none, watched by clawfence, unwatched while probes are attached.
# 3. Throughput: opens offered at paced rates to a watched process; records read and lost,
#    agent CPU and RSS; idle CPU and RSS; kernel map memory with room for 128k tracked processes.
# 4. Latency: kernel timestamp of a secret read to its alert line read from the agent's stdout,
#    and to the PagerDuty spool file (PagerDuty unreachable, so the entries stay).
# 5. The user-space pipeline alone (bench/pipeline_bench, incl. 100k tracked processes), the
#    policy matchers (bench/policy_bench, bench/matchers_bench).
# Everything goes to stdout and bench/results.md (BENCH_OUT to write elsewhere).
#
# Environment: BUILD (build), ROUNDS (5), AUDIT_ROUNDS (3), RATE_SECONDS (3), BENCH_OUT.
set -euo pipefail

die() {
  echo "bench: $*" >&2
  exit 1
}
say() { echo "bench: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "must run as root: it loads eBPF programs and creates cgroups (try: sudo make bench)"

cd "$(dirname "$0")/.."
. scripts/lib.sh
REPO=$PWD
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-5}
AUDIT_ROUNDS=${AUDIT_ROUNDS:-3}
RATE_SECONDS=${RATE_SECONDS:-3}
OUT=${BENCH_OUT:-$REPO/bench/results.md}
LIMIT=120 # seconds any one process we start may live
WORKLOADS=(open stat connect udp exec mixed)
declare -A N=([open]=200000 [stat]=200000 [connect]=20000 [udp]=100000 [exec]=500 [mixed]=10000)

make --no-print-directory BUILD="$BUILD" all bench-bins >&2
BUILD=$(cd "$BUILD" && pwd)
CF=$BUILD/clawfence
LOOP=$BUILD/bench/loop
FLOOR=$BUILD/bench/floor
have_bpftrace=0
command -v bpftrace >/dev/null && have_bpftrace=1
have_auditd=0
command -v auditd >/dev/null && command -v auditctl >/dev/null && have_auditd=1

# ---- state, and cleanup on every exit -------------------------------------------------------
work=$(mktemp -d /tmp/clawfence-bench.XXXXXX)
cg=""
started=()          # pids of background processes we started
run_cgroups=()      # cgroups `clawfence run` creates (clawfence-run.PID), removed if it could not
tracefs_mounted=""  # where we mounted tracefs for bpftrace, unmounted at the end
audit_backlog=""    # the kernel's audit backlog limit before we changed it
audit_touched=0



audit_restore() { # no rules, auditing off, the backlog limit as it was
  [ "$audit_touched" = 1 ] || return 0
  auditctl -D >/dev/null 2>&1 || true
  auditctl -e 0 >/dev/null 2>&1 || true
  [ -n "$audit_backlog" ] && { auditctl -b "$audit_backlog" >/dev/null 2>&1 || true; }
}

cleanup() {
  local rc=$? pid p
  exec 9>&- 2>/dev/null || true
  for pid in "${started[@]}"; do stop_pid "$pid" INT; done
  audit_restore
  if [ -n "$cg" ]; then
    remove_cgroup "$cg/t"
    remove_cgroup "$cg/u"
    remove_cgroup "$cg"
  fi
  for p in "${run_cgroups[@]}"; do
    [ -d "$p" ] && { rmdir "$p" 2>/dev/null || echo "bench: warning: could not remove $p" >&2; }
  done
  [ -n "$tracefs_mounted" ] && { umount "$tracefs_mounted" 2>/dev/null || true; }
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- set-up ---------------------------------------------------------------------------------
cg2=$(cgroup2_mount)
cg=$cg2/clawfence-bench.$$
mkdir "$cg" "$cg/t" "$cg/u" || die "cannot create $cg and its children"

target_file=$work/openclaw-workspace-notes.md # a path of ~50 bytes, like an agent's files
echo "bench" > "$target_file"
mkdir "$work/mixed-t" "$work/mixed-u"
secret=$work/secret/id_rsa
mkdir "$work/secret" && echo "not a key" > "$secret"

# The watched set is the cgroup t; the agent's network hooks are on our cgroup, as they would be
# on the root cgroup in production. The enforce rules allow loopback (every connect of the
# workloads is judged and allowed) and kill the opener of a file nobody opens.
write_rules() { # mode file
  cat > "$2" <<EOF
version: 1
mode: $1
targets:
  - name: bench
    match:
      - cgroup: "*/clawfence-bench.$$/t"
egress:
  default: deny
  allow:
    - { id: loopback, cidr: [127.0.0.0/8] }
files:
  deny:
    - { id: bench-secret, path: ["$secret"], severity: critical, action: kill }
alerts:
  fold_window: 60s
EOF
}
write_rules monitor "$work/monitor.yaml"
write_rules enforce "$work/enforce.yaml"
# Latency: the secret read alerts (no kill), one first-hit alert per process.
sed 's/action: kill/action: alert/' "$work/monitor.yaml" > "$work/latency.yaml"

# bpftrace: the same events of the same cgroup, one printed line each (path, address, argv[0]).
tracefs=$(awk '$3 == "tracefs" { print $2; exit }' /proc/self/mounts)
if [ "$have_bpftrace" = 1 ] && [ -z "$tracefs" ]; then
  mount -t tracefs nodev /sys/kernel/tracing && tracefs=/sys/kernel/tracing && tracefs_mounted=$tracefs ||
    { say "tracefs cannot be mounted: the bpftrace leg is skipped"; have_bpftrace=0; }
fi
cat > "$work/trace.bt" <<EOF
tracepoint:syscalls:sys_enter_open, tracepoint:syscalls:sys_enter_openat
/cgroup == cgroupid("$cg/t")/ { printf("%d %s open %s\n", pid, comm, str(args->filename)); }
tracepoint:syscalls:sys_enter_newfstatat
/cgroup == cgroupid("$cg/t")/ { printf("%d %s stat %s\n", pid, comm, str(args->filename)); }
tracepoint:syscalls:sys_enter_connect
/cgroup == cgroupid("$cg/t")/ { printf("%d %s connect %d\n", pid, comm, ((struct sockaddr_in *)args->uservaddr)->sin_port); }
tracepoint:syscalls:sys_enter_sendto
/cgroup == cgroupid("$cg/t")/ { printf("%d %s sendto %d\n", pid, comm, ((struct sockaddr_in *)args->addr)->sin_port); }
tracepoint:syscalls:sys_enter_execve
/cgroup == cgroupid("$cg/t")/ { printf("%d %s exec %s\n", pid, comm, str(args->filename)); }
EOF

wl_args() { # workload sub -> the loop's arguments
  case $1 in
    open | stat) echo "$1 ${N[$1]} $target_file" ;;
    connect | udp) echo "$1 ${N[$1]} 0" ;; # a port reserved by the loop itself
    exec) echo "exec ${N[exec]}" ;;
    mixed) echo "mixed ${N[mixed]} $work/mixed-$2" ;;
  esac
}

ns_of() { # the ns_per_iter= figure of a loop's output line
  local v
  v=$(sed -n 's/.*ns_per_iter=\([0-9.]*\).*/\1/p' <<< "$1")
  [ -n "$v" ] || die "no figure in loop output: $1"
  echo "$v"
}

# Runs the loop in cgroup $cg/SUB (with audit uid AUID when given) and prints its output line.
in_cgroup() { # sub auid args...
  local sub=$1 auid=$2
  shift 2
  # shellcheck disable=SC2016
  sh -c 'echo $$ > "$1/cgroup.procs" || exit 1
         [ -z "$2" ] || echo "$2" > /proc/self/loginuid || exit 1
         shift 2; exec timeout -k 5 '"$LIMIT"' "$@"' sh "$cg/$sub" "$auid" "$@"
}

declare -A samples # "cond workload" -> space-separated ns/iter
measure() { # cond sub workload [auid]
  local out args
  read -ra args <<< "$(wl_args "$3" "$2")"
  # auditd makes every matched syscall wait for its log: a tenth of the iterations (the figure
  # is per iteration; the warm-up is a tenth of them either way)
  [ "$1" = auditd ] && args[1]=$((args[1] / 10))
  out=$(in_cgroup "$2" "${4:-}" "$LOOP" "${args[@]}") || die "loop $3 ($1) failed: $out"
  samples["$1 $3"]+="$(ns_of "$out") "
}


child_of() { # pid -> its first child's pid (the program under `timeout`)
  local c _
  for _ in $(seq 100); do
    c=$(cut -d' ' -f1 "/proc/$1/task/$1/children" 2>/dev/null || true)
    [ -n "$c" ] && { echo "$c"; return 0; }
    sleep 0.02
  done
  die "pid $1 has no child"
}

agent_pid=""
agent_start() { # rules [extra flags...]: `clawfence agent` on our cgroup, outputs private to $work
  local rules=$1 pid
  shift
  : > "$work/agent.log"
  rm -rf "$work/audit" "$work/spool"
  timeout -s INT -k 10 "$LIMIT" "$CF" agent --config /dev/null --rules "$rules" --cgroup "$cg" --pin never \
    --audit-dir "$work/audit" --tail-socket "$work/tail.sock" --metrics-addr 127.0.0.1:0 "$@" 2> "$work/agent.log" &
  pid=$!
  started+=("$pid")
  wait_for_line "$work/agent.log" "watching:" "$pid" "clawfence agent"
  agent_pid=$pid
}

agent_stop() { # stops it; its "stopped:" figures are in $work/agent.log
  stop_pid "$agent_pid" INT
  forget_pid "$agent_pid"
  grep -q "stopped:" "$work/agent.log" || die "clawfence agent did not stop cleanly:$(printf '\n'; cat "$work/agent.log")"
  agent_pid=""
}

# Syscall tracepoint programs someone else attached while we measured "none" skew every figure.
foreign_links() { bpftool link show 2>/dev/null | grep -c "tp 'sys_e" || true; }
foreign_seen=0

# ---- conditions -----------------------------------------------------------------------------
cond_none() {
  local w n
  for w in "${WORKLOADS[@]}"; do
    n=$(foreign_links)
    [ "$n" -eq 0 ] || foreign_seen=$n
    measure none u "$w"
  done
}

cond_floor() {
  local w
  floor_start "$FLOOR" "$LIMIT"
  for w in "${WORKLOADS[@]}"; do measure floor u "$w"; done
  floor_stop
}

declare -A agent_totals # mode -> "records read, lost" over all its runs
add_agent_totals() { # mode
  local now
  now=$(sed -nE 's/.*stopped: ([0-9]+) records read, ([0-9]+) events written, lost: ([0-9]+) in the kernel.*, ([0-9]+) in the queue.*/\1 \3 \4/p' \
    "$work/agent.log")
  [ -n "$now" ] || die "no summary in the agent's log:$(printf '\n'; cat "$work/agent.log")"
  agent_totals[$1]=$(awk -v a="${agent_totals[$1]:-0 0}" -v b="$now" \
    'BEGIN { split(a, x); split(b, y); print x[1] + y[1], x[2] + y[2] + y[3] }')
}

cond_clawfence() { # mode
  local w
  agent_start "$work/$1.yaml" -o /dev/null
  for w in "${WORKLOADS[@]}"; do
    measure "$1" t "$w"
    measure "$1-u" u "$w"
  done
  agent_stop
  add_agent_totals "$1"
}
cond_monitor() { cond_clawfence monitor; }
cond_enforce() { cond_clawfence enforce; }

bt_lines=0
cond_bpftrace() {
  local pid w
  : > "$work/bt.out"
  timeout -s INT -k 10 "$LIMIT" bpftrace -o "$work/bt.out" "$work/trace.bt" > "$work/bt.log" 2>&1 &
  pid=$!
  started+=("$pid")
  wait_for_line "$work/bt.out" "Attaching" "$pid" "bpftrace"
  for w in "${WORKLOADS[@]}"; do
    measure bpftrace t "$w"
    measure bpftrace-u u "$w"
  done
  stop_pid "$pid" INT
  forget_pid "$pid"
  bt_lines=$((bt_lines + $(wc -l < "$work/bt.out")))
  rm -f "$work/bt.out"
}

# auditd with its own configuration and log (under $work), rules for the same syscalls of the
# processes with audit uid 4242 (the loops in t are given it; those in u keep none).
AUID=4242
cat > "$work/auditd.conf" <<EOF
log_file = $work/audit.log
log_format = ENRICHED
flush = INCREMENTAL_ASYNC
freq = 50
max_log_file = 256
max_log_file_action = ROTATE
num_logs = 2
space_left = 75
space_left_action = IGNORE
admin_space_left = 50
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
EOF
audit_lost=0
audit_records=0
cond_auditd() {
  local pid w lost0 lost1
  audit_touched=1
  timeout -s TERM -k 10 "$LIMIT" auditd -n -c "$work" > "$work/auditd.log" 2>&1 &
  pid=$!
  started+=("$pid")
  for _ in $(seq 100); do
    [ "$(auditctl -s | awk '$1 == "pid" { print $2 }')" != 0 ] && break
    kill -0 "$pid" 2>/dev/null || die "auditd exited:$(printf '\n'; cat "$work/auditd.log")"
    sleep 0.1
  done
  auditctl -b 8192 >/dev/null # Debian's shipped audit.rules sets this
  auditctl -a always,exit -F arch=b64 -S open,openat,newfstatat,connect,sendto,execve -F auid=$AUID \
    -k clawfence-bench >/dev/null
  auditctl -e 1 >/dev/null
  lost0=$(auditctl -s | awk '$1 == "lost" { print $2 }')
  for w in "${WORKLOADS[@]}"; do
    measure auditd t "$w" "$AUID"
    measure auditd-u u "$w"
  done
  lost1=$(auditctl -s | awk '$1 == "lost" { print $2 }')
  audit_lost=$((audit_lost + lost1 - lost0))
  audit_restore
  stop_pid "$pid" TERM
  forget_pid "$pid"
  audit_records=$((audit_records + $(grep -c 'key="clawfence-bench"' "$work/audit.log" 2>/dev/null || echo 0)))
  rm -f "$work"/audit.log*
}

# ---- 1. the syscall workloads ---------------------------------------------------------------
conds=(none floor monitor enforce)
[ "$have_bpftrace" = 1 ] && conds+=(bpftrace)
audit_note=""
if [ "$have_auditd" = 1 ]; then
  read -r a_enabled a_pid < <(auditctl -s | awk '$1 == "enabled" { e = $2 } $1 == "pid" { p = $2 } END { print e, p }')
  audit_backlog=$(auditctl -s | awk '$1 == "backlog_limit" { print $2 }')
  if [ "$a_enabled" != 0 ] || [ "$a_pid" != 0 ]; then
    audit_note="kernel auditing was already on (enabled $a_enabled, auditd pid $a_pid): the auditd leg was skipped, and every figure includes the cost of the audit rules in force"
    have_auditd=0
  fi
else
  audit_note="auditd is not installed (scripts/install-deps.sh --bench installs it): its leg was skipped"
fi
[ "$have_bpftrace" = 1 ] || bpftrace_note="bpftrace is not installed or cannot run here: its leg was skipped"

t_start=$SECONDS
say "$ROUNDS rounds x ${#conds[@]} conditions x ${#WORKLOADS[@]} workloads; cgroup $cg"
for ((r = 0; r < ROUNDS; r++)); do
  for ((k = 0; k < ${#conds[@]}; k++)); do
    "cond_${conds[$(((r + k) % ${#conds[@]}))]}"
  done
  say "round $((r + 1))/$ROUNDS done ($((SECONDS - t_start)) s)"
done

# ---- 2. environment reads -------------------------------------------------------------------
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
run_tracked() { # `clawfence run` of a command, its cgroup ours to remove if it is killed
  local pid c rc=0
  timeout -s INT -k 10 "$LIMIT" "$CF" --log-level error run -r rules/openclaw.yaml -o /dev/null -- "$@" \
    > "$work/run.out" 2> "$work/run.log" &
  pid=$!
  started+=("$pid")
  c=$(child_of "$pid")
  run_cgroups+=("$cg2/clawfence-run.$c")
  wait "$pid" || rc=$?
  forget_pid "$pid"
  return "$rc"
}
if command -v node >/dev/null; then
  export OPENAI_API_KEY=bench-not-a-secret
  for ((r = 0; r < 3; r++)); do
    env_samples[none]+="$(ns_of "$(timeout "$LIMIT" node -e "$env_loop" "$N_ENV")") "
    run_tracked node -e "$env_loop" "$N_ENV" || die "clawfence run (env) failed: $(cat "$work/run.out" "$work/run.log")"
    env_samples[watched]+="$(ns_of "$(cat "$work/run.out")") "
    # a watched node that keeps the probes attached while an unwatched one reads
    timeout "$LIMIT" "$CF" --log-level error run -r rules/openclaw.yaml -o /dev/null -- \
      node -e 'setTimeout(() => {}, 8000)' &
    keeper=$!
    started+=("$keeper")
    run_cgroups+=("$cg2/clawfence-run.$(child_of "$keeper")")
    sleep 1.5
    env_samples[other]+="$(ns_of "$(timeout "$LIMIT" node -e "$env_loop" "$N_ENV")") "
    stop_pid "$keeper" INT
    forget_pid "$keeper"
  done
  unset OPENAI_API_KEY
fi
say "environment reads done ($((SECONDS - t_start)) s)"

# ---- 3. throughput, CPU and memory ----------------------------------------------------------
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kib() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }
anon_kib() { awk '$1 == "RssAnon:" { print $2 }' "/proc/$1/status"; }
# The ring buffer is mapped into the agent twice (data pages back to back, so a record never
# wraps): VmRSS counts those kernel pages twice. This is the part of VmRSS that is bpf maps.
maps_rss_kib() { awk '/^[0-9a-f]+-/ { m = ($6 == "anon_inode:bpf-map") } m && $1 == "Rss:" { k += $2 } END { print k + 0 }' "/proc/$1/smaps"; }
HZ=$(getconf CLK_TCK)

# Kernel memory of the agent's maps (bpftool's memlock figure), with room for 128k processes.
agent_start "$work/monitor.yaml" -o /dev/null --max-tracked 131072
agent=$(child_of "$agent_pid")
sleep 1
c0=$(cpu_ticks "$agent")
sleep 5
c1=$(cpu_ticks "$agent")
idle_cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN { printf "%.1f", 100 * (b - a) / hz / 5 }')
idle_rss=$(rss_kib "$agent")
idle_anon=$(anon_kib "$agent")
idle_maps=$(maps_rss_kib "$agent")
# the agent's maps, from the fdinfo of its map descriptors (memlock: what the kernel charges)
read -r map_total map_tracked map_ring < <(cat /proc/"$agent"/fdinfo/* 2>/dev/null | awk '
  $1 == "map_type:" { type = $2 } $1 == "max_entries:" { max = $2 } $1 == "memlock:" { mem = $2 }
  $1 == "map_id:" && !seen[$2]++ { total += mem; if (max == 131072) tracked = mem; if (type == 27) ring = mem }
  END { print total + 0, tracked + 0, ring + 0 }')
agent_stop

declare -a rate_rows
for rate in 10000 50000 100000 200000 300000 0; do
  agent_start "$work/monitor.yaml" -o /dev/null
  agent=$(child_of "$agent_pid")
  c0=$(cpu_ticks "$agent")
  t0=$(date +%s.%N)
  # two generators (one per CPU), each half the rate
  in_cgroup t "" "$LOOP" rate $((rate / 2)) "$RATE_SECONDS" "$target_file" > "$work/rate1.out" &
  g1=$!
  out2=$(in_cgroup t "" "$LOOP" rate $((rate / 2)) "$RATE_SECONDS" "$target_file") || die "loop rate $rate failed: $out2"
  wait "$g1" || die "loop rate $rate failed: $(cat "$work/rate1.out")"
  out1=$(cat "$work/rate1.out")
  t1=$(date +%s.%N)
  c1=$(cpu_ticks "$agent")
  rss=$(rss_kib "$agent")
  anon=$(anon_kib "$agent")
  sleep 0.5 # the reader drains what is left
  agent_stop
  read -r rd lk lq < <(sed -nE 's/.*stopped: ([0-9]+) records read, [0-9]+ events written, lost: ([0-9]+) in the kernel.*, ([0-9]+) in the queue.*/\1 \2 \3/p' "$work/agent.log")
  n=$(( $(sed -n 's/.* n=\([0-9]*\) .*/\1/p' <<< "$out1") + $(sed -n 's/.* n=\([0-9]*\) .*/\1/p' <<< "$out2") ))
  got=$(( $(sed -n 's/.* rate=\([0-9]*\) .*/\1/p' <<< "$out1") + $(sed -n 's/.* rate=\([0-9]*\) .*/\1/p' <<< "$out2") ))
  cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / (t1 - t0) }')
  rate_rows+=("$rate $n $got $rd $((lk + lq)) $cpu $rss $anon")
done
say "throughput done ($((SECONDS - t_start)) s)"

# ---- 4. latency -----------------------------------------------------------------------------
# The agent's JSON lines go to a reader that stamps each line on arrival (CLOCK_REALTIME, as the
# events' times); PagerDuty is a closed loopback port, so every alert stays in the spool, and a
# spool file's mtime is when it was written. N_ALERTS processes, each one first-hit alert.
N_ALERTS=${N_ALERTS:-400}
cat > "$work/latency.py" <<'PY'
import json, os, sys, time
def ns(ts):  # RFC 3339 with up to 9 fractional digits, UTC
    base, _, frac = ts.rstrip("Z").partition(".")
    return int(time.mktime(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) - time.timezone) * 10**9 + int((frac + "000000000")[:9])
out, spool = sys.argv[1], sys.argv[2]
alerts = []
for line in sys.stdin:
    got = time.time_ns()
    ev = json.loads(line)
    if ev.get("kind") == "ALERT" and ev["alert"]["rule_id"] == "bench-secret":
        alerts.append((ns(ev["alert"]["first_seen"]), got))
with open(out, "w") as f:
    for seen, got in alerts:
        f.write(f"line {(got - seen) / 1e6:.3f}\n")
    files = sorted((int(n.split(".")[0]) if n.split(".")[0].isdigit() else n, n) for n in os.listdir(spool)
                   if not n.endswith(".tmp")) if os.path.isdir(spool) else []
    for (seen, _), (_, name) in zip(alerts, files):
        f.write(f"spool {(os.stat(os.path.join(spool, name)).st_mtime_ns - seen) / 1e6:.3f}\n")
PY
# Twice: the JSON line without PagerDuty, then the spool with it (each spooled alert is written
# and synced by the pipeline's thread before it goes on: see the notes in the results).
latency_run() { # with-pagerduty(0|1) result-file
  local pd=() lat_pid out
  rm -rf "$work/spool" "$work/audit-l" "$work/lines"
  mkfifo "$work/lines"
  [ "$1" = 1 ] && pd=(--pagerduty-url http://127.0.0.1:9/v2/enqueue --pagerduty-spool "$work/spool" --pagerduty-severity critical)
  timeout -k 10 "$LIMIT" python3 "$work/latency.py" "$2" "$work/spool" < "$work/lines" &
  lat_pid=$!
  started+=("$lat_pid")
  CLAWFENCE_PAGERDUTY_KEY=$([ "$1" = 1 ] && echo bench-routing-key-0000000000000000) \
    timeout -s INT -k 10 "$LIMIT" "$CF" agent --config /dev/null --rules "$work/latency.yaml" --cgroup "$cg" --pin never \
    --audit-dir "$work/audit-l" --tail-socket "$work/tail.sock" --metrics-addr 127.0.0.1:0 "${pd[@]}" \
    -o - > "$work/lines" 2> "$work/agent.log" &
  agent_pid=$!
  started+=("$agent_pid")
  wait_for_line "$work/agent.log" "watching:" "$agent_pid" "clawfence agent (latency)"
  out=$(in_cgroup t "" "$LOOP" spawn "$N_ALERTS" "$secret" 2500) || die "loop spawn failed: $out"
  sleep 2
  agent_stop
  wait "$lat_pid" 2>/dev/null || die "the latency reader failed"
  forget_pid "$lat_pid"
}
latency_run 0 "$work/latency-line.txt"
latency_run 1 "$work/latency-spool.txt"
{ grep '^line' "$work/latency-line.txt"; grep '^spool' "$work/latency-spool.txt"; } > "$work/latency.txt" || true
pct() { # kind p -> the p-th percentile (ms) of that kind
  awk -v k="$1" '$1 == k { print $2 }' "$work/latency.txt" | sort -g |
    awk -v p="$2" '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit } i = int((NR - 1) * p / 100) + 1; printf "%.2f", v[i] }'
}
count_of() { awk -v k="$1" '$1 == k' "$work/latency.txt" | wc -l; }
say "latency done ($((SECONDS - t_start)) s)"

# ---- 5. user space alone --------------------------------------------------------------------
pipeline_out=$("$BUILD/bench/pipeline_bench" 200000) && pipeline_rc=0 || pipeline_rc=$?
processes_out=$("$BUILD/bench/pipeline_bench" --processes 100000)
policy_out=$("$BUILD/bench/policy_bench")
matchers_out=$("$BUILD/bench/matchers_bench")

# ---- 6. auditd, last ------------------------------------------------------------------------
if [ "$have_auditd" = 1 ]; then
  for ((r = 0; r < AUDIT_ROUNDS; r++)); do
    cond_auditd
    for w in "${WORKLOADS[@]}"; do measure none-after u "$w"; done
    say "auditd round $((r + 1))/$AUDIT_ROUNDS done ($((SECONDS - t_start)) s)"
  done
  audit_after=$(auditctl -s | awk '$1 == "enabled" || $1 == "pid" || $1 == "backlog_limit" { printf "%s %s, ", $1, $2 }')
fi

# ---- report ---------------------------------------------------------------------------------
declare -A med lo hi
for key in "${!samples[@]}"; do
  read -r "med[$key]" "lo[$key]" "hi[$key]" <<< "$(stats <<< "${samples[$key]}")"
done
cell() { # cond workload [base]: "1.23x (1.20-1.27)" against the median of base (none)
  local k="$1 $2" b="${3:-none} $2"
  [ -n "${med[$k]:-}" ] || { echo "-"; return; }
  awk -v m="${med[$k]}" -v l="${lo[$k]}" -v h="${hi[$k]}" -v b="${med[$b]}" \
    'BEGIN { printf "%.2fx (%.2f-%.2f)", m / b, l / b, h / b }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v v="$1" -v lim="$2" 'BEGIN { print (v <= lim) ? "met" : "**not met**" }'; }
r_of() { awk -v a="${med["$1 $3"]:-0}" -v b="${med["$2 $3"]:-1}" 'BEGIN { printf "%.3f", a / b }'; }

mkdir -p "$(dirname "$OUT")"
{
  echo "# clawfence benchmarks"
  echo
  echo "Written by \`make bench\` (scripts/bench.sh) on $(date -u +%Y-%m-%dT%H:%M:%SZ):" \
    "kernel $(uname -r), $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1))," \
    "$(awk '$1 == "MemTotal:" { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
    "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo '+changes')," \
    "$( [ "$have_bpftrace" = 1 ] && bpftrace --version), auditd $(dpkg-query -W -f='${Version}' auditd 2>/dev/null || echo '-')." \
    "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg). The machine is shared: compare the ratios within this run."
  echo
  echo "## Syscall workloads"
  echo
  echo "ns per iteration measured by the loop itself (bench/loop.c), median of $ROUNDS interleaved rounds" \
    "($AUDIT_ROUNDS for auditd, run last); each cell is the median's ratio to **none** and, in brackets, the" \
    "fastest and slowest round's. *Watched*: the process the monitor is asked to watch (its cgroup" \
    "is the rules' target; bpftrace filters on it; auditd matches its audit uid). *Other*: a process" \
    "beside it that nobody asked to watch, which pays what the monitor costs everyone."
  echo
  echo "Workloads: open = open()+close() of a 50-byte path; stat = stat() of it; connect = TCP" \
    "connect()+close() to a loopback port with no listener (refused at once; every connect judged);" \
    "udp = sendto() of one byte to loopback; exec = fork+execve(/bin/true)+wait; mixed =" \
    "open+read+close and stat of 16 module files, a connect every 8th, a fork+exec every 64th (an" \
    "agent's tool loop). N: $(for w in "${WORKLOADS[@]}"; do printf '%s %s; ' "$w" "${N[$w]}"; done)"
  echo
  echo "### The watched process"
  echo
  echo "| workload | none ns/iter | clawfence monitor | clawfence enforce | bpftrace | auditd |"
  echo "|---|---:|---:|---:|---:|---:|"
  for w in "${WORKLOADS[@]}"; do
    echo "| $w | ${med["none $w"]} | $(cell monitor "$w") | $(cell enforce "$w") | $(cell bpftrace "$w") | $(cell auditd "$w") |"
  done
  echo
  echo "### Every other process"
  echo
  echo "| workload | floor | clawfence monitor | clawfence enforce | clawfence / floor | bpftrace | auditd | none after auditd |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for w in "${WORKLOADS[@]}"; do
    echo "| $w | $(cell floor "$w") | $(cell monitor-u "$w") | $(cell enforce-u "$w") | $(r_of monitor-u floor "$w") | $(cell bpftrace-u "$w") | $(cell auditd-u "$w") | $(cell none-after "$w") |"
  done
  echo
  echo "The floor is two empty raw_tp programs on sys_enter and sys_exit (bench/floor): on a kernel" \
    "without BPF LSM and fentry, attaching any program there puts every task's syscalls on the" \
    "slow path; that part of clawfence's cost is the kernel's, the rest (clawfence / floor) its own."
  echo
  echo "### Goals"
  echo
  for w in "${WORKLOADS[@]}"; do
    u=$(r_of monitor-u floor "$w")
    echo "- $w: other processes, clawfence/floor = $u (goal <= 1.05: $(verdict "$u" 1.05))"
  done
  t=$(r_of monitor none open)
  echo "- open: watched, monitor/none = $t (goal <= 1.35: $(verdict "$t" 1.35))"
  for w in "${WORKLOADS[@]}"; do
    line="- $w: better than"
    for other in bpftrace auditd; do
      [ -n "${med["$other $w"]:-}" ] || { line+=" $other (not measured)"; continue; }
      m=$(r_of monitor "$other" "$w")
      e=$(r_of enforce "$other" "$w")
      line+=" $other: monitor/$other = $m, enforce/$other = $e ($(awk -v a="$m" -v b="$e" 'BEGIN { print (a < 1 && b < 1) ? "met" : "**not met**" }'));"
    done
    echo "$line"
  done
  echo
  echo "What each recorded: clawfence, over all its rounds: monitor ${agent_totals[monitor]:-? ?} (records read, lost)," \
    "enforce ${agent_totals[enforce]:-? ?}; bpftrace printed $bt_lines lines;" \
    "auditd logged $audit_records records with our key and the kernel counted $audit_lost audit records lost."
  [ -n "$audit_note" ] && { echo; echo "Note: $audit_note."; }
  [ -n "${bpftrace_note:-}" ] && { echo; echo "Note: $bpftrace_note."; }
  [ "$have_auditd" = 1 ] && { echo; echo "Audit state after the leg: ${audit_after%, } (restored: no rules, auditing off, auditd stopped)."; }
  if [ "$foreign_seen" -ne 0 ]; then
    echo
    echo "**Warning**: $foreign_seen program(s) of someone else were attached to sys_enter/sys_exit during a" \
      "\"none\" run; every figure includes their cost."
  fi
  if [ -n "${env_samples[none]:-}" ]; then
    read -r en _ _ <<< "$(stats <<< "${env_samples[none]}")"
    read -r ew _ _ <<< "$(stats <<< "${env_samples[watched]}")"
    read -r eo _ _ <<< "$(stats <<< "${env_samples[other]}")"
    echo
    echo "## process.env reads"
    echo
    echo "\`process.env.OPENAI_API_KEY\` read $N_ENV times in a loop by node ($(node --version)), ns per read, median of 3." \
      "There is no syscall in a read of the environment: auditd cannot see it, and bpftrace would need" \
      "the uprobes clawfence attaches (so it is not compared here)."
    echo
    echo "| condition | ns/read | vs none |"
    echo "|---|---:|---:|"
    echo "| none | $en | 1.00 |"
    echo "| watched (uprobes on uv_os_getenv and getenv, reads folded in the kernel) | $ew | $(ratio "$ew" "$en") |"
    echo "| another node, not watched, while the probes are attached | $eo | $(ratio "$eo" "$en") |"
  fi
  echo
  echo "## Throughput and loss"
  echo
  echo "open+close of one path by a watched process, paced at the asked rate for $RATE_SECONDS s (0: as fast as" \
    "it can), with \`clawfence agent\` in monitor mode writing JSON lines to /dev/null and its default" \
    "outputs (audit log of alerts, tail socket, metrics). Records: what the agent read (the opens, and" \
    "the loop's own exec and exit); lost: in the kernel's ring buffer and the agent's queue. Both" \
    "share this machine's $(nproc) CPUs with the load."
  echo
  echo "| asked/s | opens | reached/s | records read | lost | agent CPU | agent VmRSS | of it anonymous |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
  zero_loss=0
  for row in "${rate_rows[@]}"; do
    read -r rate n got rd lost cpu rss anon <<< "$row"
    [ "$lost" -eq 0 ] && [ "$got" -gt "$zero_loss" ] && zero_loss=$got
    echo "| $([ "$rate" = 0 ] && echo "max" || echo "$rate") | $n | $got | $rd | $lost | ${cpu}% | $((rss / 1024)) MiB | $((anon / 1024)) MiB |"
  done
  echo
  echo "- highest rate with zero loss: $zero_loss records/s"
  echo "- idle (agent watching, nothing happening, 5 s): ${idle_cpu}% CPU; VmRSS $((idle_rss / 1024)) MiB, of which" \
    "$((idle_maps / 1024)) MiB are bpf map pages (the ring buffer's data pages are mapped twice and counted" \
    "twice), $((idle_anon / 1024)) MiB the agent's own anonymous memory, the rest shared libraries"
  echo "- kernel memory of the agent's maps (memlock) with room for 131072 tracked processes: $((map_total / 1048576)) MiB" \
    "(the tracked map $((map_tracked / 1024)) KiB, the ring buffer $((map_ring / 1048576)) MiB); it is allocated" \
    "at load and does not grow"
  echo
  echo "## Latency"
  echo
  echo "$N_ALERTS processes, 2.5 ms apart, each reading a secret once (one critical alert each). From the" \
    "kernel's timestamp of the open to the alert's JSON line arriving at a reader of the agent's stdout" \
    "(PagerDuty off), and, in a second run with PagerDuty on (unreachable, so every alert stays), to the" \
    "spool file's mtime (written; then synced with its directory). A file's mtime comes from the" \
    "kernel's coarse clock, which moves once per tick (1-4 ms): spool figures are that much early," \
    "and can be below zero."
  echo
  echo "| to | alerts | p50 ms | p99 ms | max ms |"
  echo "|---|---:|---:|---:|---:|"
  echo "| JSON line | $(count_of line) | $(pct line 50) | $(pct line 99) | $(pct line 100) |"
  echo "| PagerDuty spool | $(count_of spool) | $(pct spool 50) | $(pct spool 99) | $(pct spool 100) |"
  echo
  echo "## User space alone"
  echo
  echo "$pipeline_out"
  echo
  echo "$processes_out"
  echo
  echo "## Policy: cost per event does not grow with the rules"
  echo
  echo "$policy_out"
  echo
  echo "$matchers_out"
  if [ -r bench/findings.md ]; then
    echo
    sed 's/^# /## /' bench/findings.md
  fi
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cat "$OUT"
echo >&2
say "written to $OUT ($((SECONDS - t_start)) s)"
[ "$pipeline_rc" -eq 0 ] || die "pipeline_bench failed (exit $pipeline_rc): records were lost"
