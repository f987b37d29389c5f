#!/usr/bin/env bash
# `make bench`, the real assistant: what clawfence costs OpenClaw itself, measured on the real
# gateway (openclaw 2026.9.6 on Node 26, installed by scripts/install-openclaw.sh) answering a
# loopback mock model (tests/openclaw/mock_model.py), under three conditions interleaved over
# OC_ROUNDS rounds (the order rotates each round):
#   none      no agent
#   monitor   `clawfence agent` with the shipped rules (rules/openclaw.yaml) and a site file
#             approving the mock model and the gateway's port, network hooks on our cgroup
#   enforce   the same in enforce mode
#   MODE@P    monitor or enforce with --env-probes P (host, the agent's default; judged; watched)
#   floor     no agent, but bench/floor's two empty raw_tp programs on sys_enter and sys_exit:
#             what any syscall tracer costs on a kernel without fentry or BPF LSM (when built)
# Workloads, each timed from outside the gateway (wall clock, ms):
#   start     `openclaw gateway` launched to its HTTP API answering /v1/models
#   chat      one chat whose model answer runs one exec-tool command (`echo bench`): the request
#             sent to the final answer received (a whole agent turn: two model calls, one tool run);
#             after a first chat that is not measured (it sets the agent up: seconds in any condition)
#   tool      the same with a file-heavy command: `tar -cf - openclaw | wc -c` over the installed
#             package (~12,600 files), which the tool role's opens all pass through the sensors
# The section is appended to BENCH_OUT (bench/results.md). Skipped, saying so, when the npm
# registry cannot be reached to install OpenClaw.
#
# Then a profile of one monitor round (OC_PROFILE=0 skips it): with kernel.bpf_stats_enabled,
# each program's runs and time over the gateway's start and over the file-heavy chats, the
# agent's CPU and the watched tree's, and the records the kernel wrote.
#
# OC_PERF=FILE also samples the agent's own threads with `perf record` over that round and writes
# `perf report` (by thread, then by symbol) to FILE: where the agent's user-space time goes.
#
# Environment: BUILD (build), OC_ROUNDS (3), OC_CHATS (3 per workload and round), OC_CONDS
# ("none floor monitor enforce", floor only when built), OC_PROFILE (1), OC_PERF, BENCH_OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

BUILD=${BUILD:-build}
ROUNDS=${OC_ROUNDS:-3}
CHATS=${OC_CHATS:-3}
out=${BENCH_OUT:-bench/results.md}
CF=$BUILD/clawfence
PORT_GW=18951

die() {
  echo "bench-openclaw: $*" >&2
  exit 1
}
say() { echo "bench-openclaw: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (cgroups, eBPF)"
[ -x "$CF" ] || die "$CF is not built (make all)"
rc=0
scripts/install-openclaw.sh "$BUILD/openclaw" || rc=$?
if [ "$rc" -ne 0 ]; then
  [ "$rc" -eq 3 ] || die "installing OpenClaw failed (exit $rc)"
  say "skipped: OpenClaw could not be installed (the npm registry cannot be reached)"
  printf '\n## The real OpenClaw\n\nSkipped in this run: the npm registry could not be reached to install OpenClaw.\n' >> "$out"
  exit 0
fi
node_bin=$(dirname "$(find "$BUILD/openclaw/node" -name node -type f -path '*bin*' | head -1)")
app=$(cd "$BUILD/openclaw/app" && pwd)
[ -x "$node_bin/node" ] && [ -x "$app/node_modules/.bin/openclaw" ] || die "OpenClaw is not installed under $BUILD/openclaw"

# ---- state, and cleanup on every exit -------------------------------------------------------
work=$(mktemp -d /tmp/clawfence-bench-oc.XXXXXX)
cg=""
started=()
agent_pid=""
cleanup() {
  local rc=$? pid
  for pid in "${started[@]}"; do stop_pid "$pid" INT; done
  if [ -n "$cg" ]; then
    remove_cgroup "$cg/gw"
    remove_cgroup "$cg"
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cg=$(cgroup2_mount)/clawfence-bench-oc.$$
mkdir "$cg" || die "cannot create $cg"

# The model: a loopback stand-in, outside the measured cgroup.
python3 tests/openclaw/mock_model.py --port-file "$work/model.port" > "$work/model.out" 2>&1 &
started+=($!)
for _ in $(seq 100); do [ -s "$work/model.port" ] && break; sleep 0.05; done
[ -s "$work/model.port" ] || die "the mock model did not start: $(cat "$work/model.out")"
port_model=$(cat "$work/model.port")

# The gateway's state: a home of our own, configured as the openclaw tier does.
home=$work/home
mkdir -p "$home/.openclaw/workspace"
cat > "$home/.openclaw/openclaw.json" <<EOF
{ "gateway": { "http": { "endpoints": { "chatCompletions": { "enabled": true } } } },
  "agents": { "defaults": { "model": { "primary": "mock/mock-model" } } },
  "models": { "mode": "merge", "providers": { "mock": { "baseUrl": "http://127.0.0.1:$port_model/v1",
    "apiKey": "sk-bench-local", "api": "openai-completions",
    "models": [ { "id": "mock-model", "name": "Mock", "reasoning": false, "input": ["text"],
                  "cost": { "input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0 },
                  "contextWindow": 120000, "maxTokens": 8192 } ] } } } }
EOF

# The shipped rules in each mode, and what a site adds for a local model server.
for mode in monitor enforce; do
  mkdir "$work/rules-$mode"
  sed "s/^mode: monitor$/mode: $mode/" rules/openclaw.yaml > "$work/rules-$mode/openclaw.yaml"
  cat > "$work/rules-$mode/site.yaml" <<EOF
version: 1
egress:
  allow:
    - { id: local-model, cidr: [127.0.0.1], ports: [$port_model], roles: [gateway] }
    - { id: bench-gateway-port, cidr: [127.0.0.0/8], ports: [$PORT_GW], roles: [gateway, helper, housekeeping] }
EOF
done

agent_main="" # the agent itself (agent_pid is its `timeout`)
agent_start() { # condition (mode, or mode@env_probes) [metrics port]
  local mode=${1%@*} probes=()
  [[ $1 == *@* ]] && probes=(--env-probes "${1#*@}")
  : > "$work/agent.log"
  rm -rf "$work/audit"
  timeout -s INT -k 10 900 "$CF" agent --config /dev/null --rules "$work/rules-$mode" --cgroup "$cg" --pin never \
    "${probes[@]}" --audit-dir "$work/audit" --tail-socket "$work/tail.sock" \
    --metrics-addr "127.0.0.1:${2:-0}" > "$work/agent-$1.jsonl" 2> "$work/agent.log" &
  agent_pid=$!
  started+=("$agent_pid")
  wait_for_line "$work/agent.log" "watching:" "$agent_pid" "clawfence agent"
  agent_main=$(pgrep -P "$agent_pid" -x clawfence || echo "$agent_pid")
}
agent_stop() {
  stop_pid "$agent_pid" INT
  forget_pid "$agent_pid"
  agent_pid=""
}

FLOOR=$BUILD/bench/floor

now_ms() { date +%s%3N; }
# Whether the API answers /v1/models with 200: with bash's own /dev/tcp, no process started (a
# curl every 50 ms took a tenth of this machine's CPU away from the gateway it was waiting for).
api_up() {
  local status=""
  { exec 7<> "/dev/tcp/127.0.0.1/$PORT_GW"; } 2> /dev/null || return 1
  printf 'GET /v1/models HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&7
  IFS= read -r -t 2 status <&7 || true
  exec 7>&-
  [[ $status == "HTTP/1."?" 200"* ]]
}

# CPU of the watched tree so far (its cgroup's usage: the gateway, its helpers and tools, and what
# the kernel's programs and probes cost them), ms
tree_cpu_ms() { awk '$1 == "usage_usec" { printf "%.0f", $2 / 1000 }' "$cg/gw/cpu.stat" 2>/dev/null || echo 0; }

mkfifo "$work/nap"
exec 8<> "$work/nap"
gateway_pid=""
took=0     # ms, set by gateway_start and chat (run in this shell: they start processes and may die)
took_cpu=0 # ms of the watched tree's CPU over the same
gateway_start() { # took: ms from launch to the API answering
  mkdir -p "$cg/gw"
  local t0 t1
  t0=$(now_ms)
  (
    echo "$BASHPID" > "$cg/gw/cgroup.procs"
    exec env HOME="$home" PATH="$node_bin:/usr/bin:/bin" SHELL=/bin/bash OPENAI_API_KEY=sk-bench-not-a-key \
      "$app/node_modules/.bin/openclaw" gateway --allow-unconfigured --auth none --bind loopback --port "$PORT_GW"
  ) > "$work/gateway.log" 2>&1 &
  gateway_pid=$!
  started+=("$gateway_pid")
  for _ in $(seq 1200); do
    api_up && break
    kill -0 "$gateway_pid" 2>/dev/null || die "the gateway exited: $(tail -5 "$work/gateway.log")"
    read -r -t 0.05 -u 8 || true # a sleep that starts no process: fd 8 is a FIFO nobody writes
  done
  api_up || die "the gateway did not serve within 60 s"
  t1=$(now_ms)
  took=$((t1 - t0))
  took_cpu=$(tree_cpu_ms)
}
gateway_stop() {
  remove_cgroup "$cg/gw"
  wait "$gateway_pid" 2>/dev/null || true # (reaped here: no "Killed" notice from bash)
  forget_pid "$gateway_pid"
  gateway_pid=""
}

chat() { # command; took: ms for one chat that runs it through the exec tool
  local body t0 t1 c0 answer
  body=$(python3 -c 'import json,sys; print(json.dumps({"model": "openclaw", "messages": [{"role": "user", "content": "RUN: " + sys.argv[1]}]}))' "$1")
  c0=$(tree_cpu_ms)
  t0=$(now_ms)
  answer=$(curl -s -m 120 "http://127.0.0.1:$PORT_GW/v1/chat/completions" -H 'content-type: application/json' -d "$body")
  t1=$(now_ms)
  case $answer in
    *"tool said"*) ;;
    *) die "the chat did not run its command: ${answer:0:300}$(printf '\n'; tail -20 "$work/gateway.log";
         cat "$work"/agent-*.jsonl 2>/dev/null | grep -E '"verdict":"(killed|blocked)"' | tail -3)" ;;
  esac
  took=$((t1 - t0))
  took_cpu=$(($(tree_cpu_ms) - c0))
}

declare -A samples # "cond workload" -> space-separated ms
add() { samples["$1 $2"]="${samples["$1 $2"]:-} $3"; }

# A first start, not measured: OpenClaw creates its state on the first one.
say "warming up (a first gateway start creates its state)"
gateway_start
chat "echo warm"
gateway_stop

default_conds="none monitor enforce"
[ -x "$FLOOR" ] && default_conds="none floor monitor enforce"
read -r -a conds <<< "${OC_CONDS:-$default_conds}"
n=${#conds[@]}
for r in $(seq "$ROUNDS"); do
  for i in $(seq 0 $((n - 1))); do
    c=${conds[$(((i + r) % n))]}
    say "round $r: $c"
    case $c in
      none) ;;
      floor) floor_start "$FLOOR" 900 ;;
      *) agent_start "$c" ;;
    esac
    gateway_start
    add "$c" start "$took"
    add "$c" start-cpu "$took_cpu"
    chat "echo first" # not measured: a gateway's first chat sets up its agent (seconds in every condition)
    for _ in $(seq "$CHATS"); do
      chat "echo bench"
      add "$c" chat "$took"
      add "$c" chat-cpu "$took_cpu"
    done
    for _ in $(seq "$CHATS"); do
      chat "tar -cf - -C $app/node_modules openclaw | wc -c"
      add "$c" tool "$took"
      add "$c" tool-cpu "$took_cpu"
    done
    gateway_stop
    case $c in
      none) ;;
      floor) floor_stop ;;
      *) agent_stop ;;
    esac
  done
done

# ---- profile: one monitor round with the kernel's per-program statistics --------------------
# "id name runs ns" of every loaded BPF program
prog_stats() {
  bpftool prog show -j | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    print(p["id"], p.get("name", "?"), p.get("run_cnt", 0), p.get("run_time_ns", 0))'
}
cpu_ms() { # pid: user + system CPU of the process so far, ms
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f", ($14 + $15) * 1000 / hz }' "/proc/$1/stat"
}
records() { # the kernel records the agent read, from its metrics
  curl -s -m 5 "http://127.0.0.1:$PORT_METRICS/metrics" | awk '/^clawfence_kernel_records_total/ { print $2 }'
}
# phase name: prints "| phase | program | runs | ms | ns/run |" rows for the programs that ran
# between the snapshots $work/stats.0 and $work/stats.1
phase_rows() {
  python3 - "$1" "$work/stats.0" "$work/stats.1" <<'PY'
import sys
phase, a, b = sys.argv[1:]
def load(f):
    out = {}
    for line in open(f):
        i, name, runs, ns = line.split()
        out[i] = (name, int(runs), int(ns))
    return out
before, after = load(a), load(b)
rows = []
for i, (name, runs, ns) in after.items():
    r0, n0 = before.get(i, (name, 0, 0))[1:]
    if runs - r0 > 0 and name.startswith("cf_"):
        rows.append((ns - n0, runs - r0, name))
for ns, runs, name in sorted(rows, reverse=True):
    print(f"| {phase} | {name} | {runs} | {ns / 1e6:.1f} | {ns / runs:.0f} |")
PY
}
PORT_METRICS=18952
profile_rows=""
profile_sum=""
if [ "${OC_PROFILE:-1}" = 1 ]; then
  say "profile: a monitor round with kernel.bpf_stats_enabled"
  stats_was=$(sysctl -n kernel.bpf_stats_enabled)
  agent_start monitor "$PORT_METRICS"
  perf_pid=""
  if [ -n "${OC_PERF:-}" ]; then
    command -v perf > /dev/null || die "OC_PERF: perf is not installed (apt-get install linux-perf)"
    perf record -q -F 999 -g -p "$agent_main" -o "$work/agent.perf" 2> "$work/perf.log" &
    perf_pid=$!
    started+=("$perf_pid")
  fi
  sysctl -qw kernel.bpf_stats_enabled=1
  for phase in start chat tool; do
    case $phase in
      chat) cmd="echo bench" ;;
      tool) cmd="tar -cf - -C $app/node_modules openclaw | wc -c" ;;
    esac
    [ "$phase" = chat ] && chat "echo first"
    prog_stats > "$work/stats.0"
    a0=$(cpu_ms "$agent_main")
    r0=$(records)
    t0=$(tree_cpu_ms) # 0 before the start: the gateway's cgroup is made by gateway_start
    if [ "$phase" = start ]; then
      gateway_start
      wall=$took
    else
      wall=0
      for _ in $(seq "$CHATS"); do
        chat "$cmd"
        wall=$((wall + took))
      done
    fi
    prog_stats > "$work/stats.1"
    a1=$(cpu_ms "$agent_main")
    r1=$(records)
    t1=$(tree_cpu_ms)
    profile_rows+=$(phase_rows "$phase")$'\n'
    profile_sum+="| $phase | $wall | $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }') |"
    profile_sum+=" $(awk -v a="$a0" -v b="$a1" 'BEGIN { printf "%.0f", b - a }') | $((r1 - r0)) |"$'\n'
  done
  sysctl -qw kernel.bpf_stats_enabled="$stats_was"
  if [ -n "$perf_pid" ]; then
    stop_pid "$perf_pid" INT
    forget_pid "$perf_pid"
    { perf report -i "$work/agent.perf" --stdio --no-children -g none --sort comm --percent-limit 0.4 &&
      perf report -i "$work/agent.perf" --stdio --no-children -g none --sort dso,symbol --percent-limit 0.4; } \
      > "$OC_PERF" 2> /dev/null || say "perf report failed: $(cat "$work/perf.log")"
    say "the agent's profile: $OC_PERF"
  fi
  gateway_stop
  agent_stop
fi

# ---- report ---------------------------------------------------------------------------------
cell() { # cond workload: "1.23x (1.10-1.40)" against none's median; "—" when one was not run
  local m lo hi base
  [ -n "${samples["$1 $2"]:-}" ] && [ -n "${samples["none $2"]:-}" ] || { echo "—"; return 0; }
  read -r m lo hi <<< "$(stats <<< "${samples["$1 $2"]}")"
  read -r base _ _ <<< "$(stats <<< "${samples["none $2"]}")"
  awk -v m="$m" -v lo="$lo" -v hi="$hi" -v b="$base" 'BEGIN { printf "%.2fx (%.2f-%.2f)", m / b, lo / b, hi / b }'
}
median() { [ -n "${samples["$1 $2"]:-}" ] && stats <<< "${samples["$1 $2"]}" | cut -d' ' -f1 || echo "—"; }
{
  echo
  echo "## The real OpenClaw"
  echo
  echo "Written by \`make bench\` (scripts/bench-openclaw.sh) on $(date -u +%FT%TZ): openclaw 2026.9.6 on Node 26, the" \
    "shipped rules, $ROUNDS interleaved rounds of each condition, $CHATS chats per workload and round;" \
    "wall-clock ms measured from outside the gateway. Each cell is the median's ratio to **none** and, in brackets," \
    "the fastest and slowest sample's. Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  agents=()
  for c in "${conds[@]}"; do [ "$c" = none ] || [ "$c" = floor ] || agents+=("$c"); done
  row() { # title median-key: "| title | none's median | each agent condition's cell |"
    local line="| $1 | $(median none "$2") |" c
    for c in "${agents[@]}"; do line+=" $(cell "$c" "$2") |"; done
    echo "$line"
  }
  header() { # what none's column holds
    local line="| workload | none ($1, median) |" rule="|---|---:|" c
    for c in "${agents[@]}"; do
      line+=" clawfence $c |"
      rule+="---:|"
    done
    echo "$line"
    echo "$rule"
  }
  header ms
  row "gateway start: launch to serving HTTP" start
  row "a chat running one exec-tool command (\`echo\`)" chat
  row "a chat running a file-heavy command (\`tar\` of the openclaw package, ~12,600 files)" tool
  echo
  echo "CPU time of the watched tree over the same (its cgroup's usage: the gateway, its helpers and tools, and what the" \
    "kernel's programs and probes cost them; less moved by the machine's other load than the wall clock):"
  echo
  header "CPU ms"
  row "gateway start" start-cpu
  row "a chat running \`echo\`" chat-cpu
  row "a chat running \`tar\`" tool-cpu
  if [ -n "${samples["floor start"]:-}" ]; then
    echo
    echo "The same workloads with only bench/floor loaded (two empty raw_tp programs on sys_enter and sys_exit: what" \
      "any syscall tracer costs on this kernel, which has no fentry and no BPF LSM): start $(cell floor start)," \
      "chat $(cell floor chat), file-heavy chat $(cell floor tool); the watched tree's CPU: start $(cell floor start-cpu)," \
      "chat $(cell floor chat-cpu), file-heavy chat $(cell floor tool-cpu)."
  fi
  if [ -n "$profile_sum" ]; then
    echo
    echo "### Where the time goes (one monitor round, kernel.bpf_stats_enabled)"
    echo
    echo "Wall clock of the phase; CPU of the watched tree (its cgroup's usage) and of the agent over it; records the" \
      "kernel wrote. The chat phase is $CHATS chats running \`echo\`, the tool phase $CHATS running \`tar\`."
    echo
    echo "| phase | wall ms | watched tree CPU ms | agent CPU ms | kernel records |"
    echo "|---|---:|---:|---:|---:|"
    printf '%s' "$profile_sum"
    echo
    echo "Programs that ran in each phase (the time inside the program; a uprobe's trap and a cgroup hook's" \
      "dispatch come on top):"
    echo
    echo "| phase | program | runs | ms | ns/run |"
    echo "|---|---|---:|---:|---:|"
    printf '%s' "$profile_rows"
  fi
} | tee -a "$out"
