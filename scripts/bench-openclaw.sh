#!/usr/bin/env bash
# `make bench`, the real assistant: what clawfence costs OpenClaw itself, measured on the real
# gateway (openclaw 2026.9.6 on Node 26, installed by scripts/install-openclaw.sh) answering a
# loopback mock model (tests/openclaw/mock_model.py), under three conditions interleaved over
# OC_ROUNDS rounds (the order rotates each round):
#   none      no agent
#   monitor   `clawfence agent` with the shipped rules (rules/openclaw.yaml) and a site file
#             approving the mock model and the gateway's port, network hooks on our cgroup
#   enforce   the same in enforce mode
# Workloads, each timed from outside the gateway (wall clock, ms):
#   start     `openclaw gateway` launched to its HTTP API answering /v1/models
#   chat      one chat whose model answer runs one exec-tool command (`echo bench`): the request
#             sent to the final answer received (a whole agent turn: two model calls, one tool run)
#   tool      the same with a file-heavy command: `tar -cf - openclaw | wc -c` over the installed
#             package (~12,600 files), which the tool role's opens all pass through the sensors
# The section is appended to BENCH_OUT (bench/results.md). Skipped, saying so, when the npm
# registry cannot be reached to install OpenClaw.
#
# Environment: BUILD (build), OC_ROUNDS (3), OC_CHATS (3 per workload and round), OC_CONDS
# ("none monitor enforce"), BENCH_OUT.
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

agent_start() { # mode
  : > "$work/agent.log"
  rm -rf "$work/audit"
  timeout -s INT -k 10 900 "$CF" agent --config /dev/null --rules "$work/rules-$1" --cgroup "$cg" --pin never \
    --audit-dir "$work/audit" --tail-socket "$work/tail.sock" --metrics-addr 127.0.0.1:0 > "$work/agent-$1.jsonl" 2> "$work/agent.log" &
  agent_pid=$!
  started+=("$agent_pid")
  wait_for_line "$work/agent.log" "watching:" "$agent_pid" "clawfence agent"
}
agent_stop() {
  stop_pid "$agent_pid" INT
  forget_pid "$agent_pid"
  agent_pid=""
}

now_ms() { date +%s%3N; }
api_up() { curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$PORT_GW/v1/models" 2>/dev/null | grep -q 200; }

gateway_pid=""
took=0 # ms, set by gateway_start and chat (run in this shell: they start processes and may die)
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
    sleep 0.05
  done
  api_up || die "the gateway did not serve within 60 s"
  t1=$(now_ms)
  took=$((t1 - t0))
}
gateway_stop() {
  remove_cgroup "$cg/gw"
  wait "$gateway_pid" 2>/dev/null || true # (reaped here: no "Killed" notice from bash)
  forget_pid "$gateway_pid"
  gateway_pid=""
}

chat() { # command; took: ms for one chat that runs it through the exec tool
  local body t0 t1 answer
  body=$(python3 -c 'import json,sys; print(json.dumps({"model": "openclaw", "messages": [{"role": "user", "content": "RUN: " + sys.argv[1]}]}))' "$1")
  t0=$(now_ms)
  answer=$(curl -s -m 120 "http://127.0.0.1:$PORT_GW/v1/chat/completions" -H 'content-type: application/json' -d "$body")
  t1=$(now_ms)
  case $answer in
    *"tool said"*) ;;
    *) die "the chat did not run its command: ${answer:0:300}$(printf '\n'; tail -20 "$work/gateway.log";
         cat "$work"/agent-*.jsonl 2>/dev/null | grep -E '"verdict":"(killed|blocked)"' | tail -3)" ;;
  esac
  took=$((t1 - t0))
}

declare -A samples # "cond workload" -> space-separated ms
add() { samples["$1 $2"]="${samples["$1 $2"]:-} $3"; }

# A first start, not measured: OpenClaw creates its state on the first one.
say "warming up (a first gateway start creates its state)"
gateway_start
chat "echo warm"
gateway_stop

read -r -a conds <<< "${OC_CONDS:-none monitor enforce}"
n=${#conds[@]}
for r in $(seq "$ROUNDS"); do
  for i in $(seq 0 $((n - 1))); do
    c=${conds[$(((i + r) % n))]}
    say "round $r: $c"
    [ "$c" = none ] || agent_start "$c"
    gateway_start
    add "$c" start "$took"
    for _ in $(seq "$CHATS"); do
      chat "echo bench"
      add "$c" chat "$took"
    done
    for _ in $(seq "$CHATS"); do
      chat "tar -cf - -C $app/node_modules openclaw | wc -c"
      add "$c" tool "$took"
    done
    gateway_stop
    [ "$c" = none ] || agent_stop
  done
done

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
  echo "| workload | none (ms, median) | clawfence monitor | clawfence enforce |"
  echo "|---|---:|---:|---:|"
  echo "| gateway start: launch to serving HTTP | $(median none start) | $(cell monitor start) | $(cell enforce start) |"
  echo "| a chat running one exec-tool command (\`echo\`) | $(median none chat) | $(cell monitor chat) | $(cell enforce chat) |"
  echo "| a chat running a file-heavy command (\`tar\` of the openclaw package, ~12,600 files) | $(median none tool) | $(cell monitor tool) | $(cell enforce tool) |"
} | tee -a "$out"
