#!/usr/bin/env bash
# `make soak`: the agent under a mixed load for SOAK_SECONDS, then checks that it held up:
#
#   rss       flat: the most VmRSS over the second half of the run is at most the most over the
#             first half (warm-up included) + 10% + 4 MiB
#   fds       flat: open descriptors at the end of the load <= at the first sample after warm-up
#   loss      none: no GAP event in the JSON lines or the audit log, and the metrics' loss
#             counters (kernel ring buffer, every gap's where, the queue) all 0
#   audit     `clawfence audit verify` passes on the audit directory
#   pagerduty every alert at PagerDuty severity reached the stand-in: the alerts the load caused
#             = the audit log's alerts at error or above = the agent's `sent` counter = the
#             triggers the stand-in accepted, each evidence path exactly once, no schema error
#
# The agent watches a cgroup this script creates (its network hooks too: never the root cgroup);
# its audit log, tail socket, PagerDuty spool and metrics (127.0.0.1, a port the kernel picks) are
# private to a temporary directory; PagerDuty is bench/soak_pagerduty on 127.0.0.50. The load
# (bench/soak_load.py, in the cgroup): file opens, loopback connects to 127.0.0.50-59, fork+exec,
# an alert at PagerDuty severity every SOAK_ALERT_SECONDS and a folded warning every second, about
# 3,000 events/s by default, far below the rated rate (bench: >= 500k records/s in user space).
#
# Every SOAK_SAMPLE_SECONDS the agent's VmRSS and open fds go to $BUILD/soak/samples.csv; the
# summary table goes to stdout and $BUILD/soak/summary.txt; beside them the agent's log, its audit
# log, its metrics at the end and what the stand-in received (agent.log, audit/, metrics-end.txt,
# pagerduty.txt).
# Exit 0 when every check holds, 1 otherwise.
#
# Environment: BUILD (build), SOAK_SECONDS (600), SOAK_SAMPLE_SECONDS (10), SOAK_ALERT_SECONDS (2),
# SOAK_OPENS / SOAK_CONNECTS per 10 ms tick (20 / 3), SOAK_EXEC_EVERY ticks (5).
set -euo pipefail

die() {
  echo "soak: $*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root: it loads eBPF programs and creates a cgroup (try: sudo make soak)"

cd "$(dirname "$0")/.."
. scripts/lib.sh
BUILD=${BUILD:-build}
SOAK_SECONDS=${SOAK_SECONDS:-600}
SAMPLE=${SOAK_SAMPLE_SECONDS:-10}
ALERT_SECONDS=${SOAK_ALERT_SECONDS:-2}
OPENS=${SOAK_OPENS:-20}
CONNECTS=${SOAK_CONNECTS:-3}
EXEC_EVERY=${SOAK_EXEC_EVERY:-5}
PD_HOST=127.0.0.50
LIMIT=$((SOAK_SECONDS + 300)) # seconds any one process we start may live

make --no-print-directory BUILD="$BUILD" all soak-bins >&2
BUILD=$(cd "$BUILD" && pwd)
CF=$BUILD/clawfence
OUT=$BUILD/soak
PYTHON=$(python3 -c 'import sys; print(sys.executable)') # not a shim: the load's own process
mkdir -p "$OUT"

# ---- state, and cleanup on every exit (as scripts/bench.sh) ----------------------------------
work=$(mktemp -d /tmp/clawfence-soak.XXXXXX)
cg=""
started=() # pids of background processes we started

cleanup() {
  local rc=$? pid
  for pid in "${started[@]}"; do stop_pid "$pid" INT; done
  [ -n "$cg" ] && remove_cgroup "$cg" # only our load ever runs in it
  [ -f "$work/agent.log" ] && cp "$work/agent.log" "$OUT/agent.log"
  if [ -d "$work/audit" ]; then rm -rf "$OUT/audit" && cp -r "$work/audit" "$OUT/audit"; fi
  [ -f "$work/pd.out" ] && cp "$work/pd.out" "$OUT/pagerduty.txt"
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


# ---- set-up ---------------------------------------------------------------------------------
cg2=$(cgroup2_mount)
cg=$cg2/clawfence-soak.$$
mkdir "$cg" || die "cannot create $cg"

mkdir -p "$work/files" "$work/secrets" "$work/notes" "$work/audit" "$work/spool"
# Every secret the load will read, made now: only the reads (by a fresh cat each) alert.
for ((i = 0; i < SOAK_SECONDS / ALERT_SECONDS + 10; i++)); do echo "not a secret" > "$work/secrets/key-$i"; done
rules=$work/soak.yaml
cat > "$rules" <<EOF
version: 1
mode: monitor
targets:
  - name: soak
    match:
      - cgroup: "*/clawfence-soak.$$"
egress:
  default: deny
  allow:
    - { id: soak-loopback, cidr: [127.0.0.50/31, 127.0.0.52/30, 127.0.0.56/30] }
files:
  deny:
    - { id: soak-secret, path: ["$work/secrets/**"], severity: error }
    - { id: soak-notes, path: ["$work/notes/**"], severity: warning }
EOF

# Nothing from the environment or an installed config file reaches the agent: only our flags.
while read -r v; do unset "$v"; done < <(env | sed -n 's/^\(CLAWFENCE_[A-Z_]*\)=.*/\1/p')
export CLAWFENCE_PAGERDUTY_KEY="soak-routing-key-$$"

# ---- PagerDuty stand-in ---------------------------------------------------------------------
timeout -s TERM -k 5 "$LIMIT" "$BUILD/bench/soak_pagerduty" "$PD_HOST" > "$work/pd.out" 2> "$work/pd.err" &
pd_pid=$!
started+=("$pd_pid")
wait_for_line "$work/pd.out" "^url " "$pd_pid" "soak_pagerduty"
pd_url=$(sed -n 's/^url //p' "$work/pd.out")

# ---- the agent ------------------------------------------------------------------------------
# Its JSON lines go through a FIFO to a counter (every event, the GAP ones kept aside), so the
# JSON output is exercised without filling the disk.
mkfifo "$work/events.fifo"
awk -v gaps="$work/gaps.jsonl" '{ n++ } /"kind":"GAP"/ { g++; print > gaps } END { print n + 0, g + 0 }' \
  < "$work/events.fifo" > "$work/events.count" &
counter_pid=$!
started+=("$counter_pid")
timeout -s INT -k 10 "$LIMIT" "$CF" --config /dev/null agent --rules "$rules" --cgroup "$cg" --pin never -o - \
    --audit-dir "$work/audit" --tail-socket "$work/tail.sock" --metrics-addr 127.0.0.1:0 \
    --pagerduty-url "$pd_url" --pagerduty-spool "$work/spool" \
  > "$work/events.fifo" 2> "$work/agent.log" &
agent_timeout=$!
started+=("$agent_timeout")
wait_for_line "$work/agent.log" "watching:" "$agent_timeout" "clawfence agent"
agent=$(tr -d ' ' < "/proc/$agent_timeout/task/$agent_timeout/children")
{ [ -n "$agent" ] && [ -d "/proc/$agent" ]; } || die "cannot find the agent's pid (child of $agent_timeout)"
metrics_url=$(sed -n 's|.*metrics: \(http://[^ ]*/metrics\).*|\1|p' "$work/agent.log")
[ -n "$metrics_url" ] || die "the agent did not say where its metrics are:$(printf '\n'; cat "$work/agent.log")"
grep -q "PagerDuty: alerts at or above error to $pd_url" "$work/agent.log" ||
  die "the agent does not send to the stand-in:$(printf '\n'; cat "$work/agent.log")"

scrape() { curl -sS --max-time 5 "$metrics_url" > "$work/metrics.txt"; }
metric() { # name [label-filter]: the sum of the samples of a metric in the last scrape
  awk -v name="$1" -v filter="${2:-}" '
    $1 == name || index($1, name "{") == 1 { if (filter == "" || index($1, filter)) s += $NF }
    END { printf "%d\n", s }' "$work/metrics.txt"
}
sample() { # t: one CSV row
  local rss fds
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$agent/status")
  fds=$(find "/proc/$agent/fd" -mindepth 1 -maxdepth 1 | wc -l)
  scrape
  echo "$1,$rss,$fds,$(metric clawfence_events_total),$(metric clawfence_alerts_total),$(metric clawfence_pagerduty_events_total 'result="sent"'),$(metric clawfence_kernel_records_lost_total),$(metric clawfence_records_lost_total)" \
    >> "$OUT/samples.csv"
}

# ---- the load -------------------------------------------------------------------------------
echo "soak: ${SOAK_SECONDS} s; agent pid $agent, cgroup $cg, PagerDuty $pd_url, metrics $metrics_url" >&2
echo "t_s,rss_kib,fds,events_total,alerts_total,pagerduty_sent,kernel_lost,records_lost" > "$OUT/samples.csv"
(echo "$BASHPID" > "$cg/cgroup.procs" &&
  exec timeout -k 5 "$LIMIT" "$PYTHON" bench/soak_load.py "$SOAK_SECONDS" "$work/files" "$work/secrets" \
    "$work/notes" "$OPENS" "$CONNECTS" "$EXEC_EVERY" "$ALERT_SECONDS") > "$work/load.json" 2> "$work/load.err" &
load_pid=$!
started+=("$load_pid")
t0=$SECONDS
sample 0
next=$SAMPLE
while kill -0 "$load_pid" 2>/dev/null; do
  if ((SECONDS - t0 >= next)); then
    kill -0 "$agent" 2>/dev/null || die "the agent died during the load:$(printf '\n'; tail -20 "$work/agent.log")"
    sample "$next"
    echo "soak: $next s: $(tail -1 "$OUT/samples.csv")" >&2
    next=$((next + SAMPLE))
  fi
  sleep 1
done
load_rc=0
wait "$load_pid" || load_rc=$?
forget_pid "$load_pid"
[ "$load_rc" -eq 0 ] || die "the load failed (exit $load_rc):$(printf '\n'; cat "$work/load.err")"
sample "$((SECONDS - t0))" # the end of the load, before the agent is stopped

# ---- wind down: the spool delivered, then the agent and the stand-in stopped -----------------
# Up to 60 s for the last alerts to be sent: the load's last ones seen, the spool empty and the
# agent's sent counter equal to its alerts at PagerDuty severity.
caused=$("$PYTHON" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["markers"]))' "$work/load.json")
for _ in $(seq 120); do
  scrape
  paged=$(($(metric clawfence_alerts_total 'severity="error"') + $(metric clawfence_alerts_total 'severity="critical"')))
  [ "$paged" -ge "$caused" ] && [ "$(metric clawfence_pagerduty_spooled)" -eq 0 ] &&
    [ "$(metric clawfence_pagerduty_events_total 'result="sent"')" -ge "$paged" ] && break
  sleep 0.5
done
cp "$work/metrics.txt" "$OUT/metrics-end.txt"
stop_pid "$agent_timeout" INT
forget_pid "$agent_timeout"
grep -q "stopped:" "$work/agent.log" || die "the agent did not stop cleanly:$(printf '\n'; tail -20 "$work/agent.log")"
# The counter ends at the FIFO's end of file, once the agent is gone.
for _ in $(seq 100); do kill -0 "$counter_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$counter_pid" 2>/dev/null && die "the JSON lines counter did not finish"
wait "$counter_pid" || true
forget_pid "$counter_pid"
stop_pid "$pd_pid" TERM
forget_pid "$pd_pid"
cp "$work/agent.log" "$OUT/agent.log"
verify_out=$("$CF" audit verify "$work"/audit/audit*.jsonl 2>&1) && verify_rc=0 || verify_rc=$?

# ---- checks ---------------------------------------------------------------------------------
"$PYTHON" - "$work" "$OUT" "$verify_rc" "$verify_out" <<'PY'
import csv, glob, json, os, re, sys

work, out, verify_rc, verify_out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
MiB = 1024
rows = list(csv.DictReader(open(os.path.join(out, "samples.csv"))))
rss = [int(r["rss_kib"]) for r in rows]
fds = [int(r["fds"]) for r in rows]
half = len(rows) // 2
first_max, last_max = max(rss[:half] or rss), max(rss[half:])
rss_limit = first_max * 1.10 + 4 * MiB
fd_start, fd_end = (fds[1] if len(fds) > 2 else fds[0]), fds[-1]

def metrics(path):
    m = {}
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        name, value = line.rsplit(" ", 1)
        m[name] = float(value)
    return m
met = metrics(os.path.join(out, "metrics-end.txt"))
def msum(prefix, label=""):
    return int(sum(v for k, v in met.items() if (k == prefix or k.startswith(prefix + "{")) and label in k))

load = json.load(open(os.path.join(work, "load.json")))
events_json, gaps_json = map(int, open(os.path.join(work, "events.count")).read().split())
audit = [json.loads(l) for f in sorted(glob.glob(os.path.join(work, "audit", "audit*.jsonl"))) for l in open(f)]
audit_gaps = sum(1 for r in audit if r["event"].get("kind") == "GAP")
pd_alerts = [r["event"] for r in audit if r["event"].get("kind") == "ALERT"
             and r["event"]["alert"].get("severity") in ("error", "critical")]
pd_paths = sorted(a["alert"].get("evidence", {}).get("path", "") for a in pd_alerts)

fake = {"received": 0, "accepted": 0, "triggers": 0, "schema_errors": 0}
markers, keys, schema_errors = {}, {}, []
for line in open(os.path.join(work, "pd.out")):
    parts = line.rstrip("\n").split(" ")
    if parts[0] in fake:
        fake[parts[0]] = int(parts[1])
    elif parts[0] == "marker":
        markers[" ".join(parts[1:-1])] = int(parts[-1])
    elif parts[0] == "key":
        keys[parts[1]] = int(parts[2])
    elif parts[0] == "schema_error":
        schema_errors.append(" ".join(parts[1:]))

log = open(os.path.join(out, "agent.log")).read()
stopped = re.search(r"stopped: (\d+) records read, (\d+) events written, lost: (\d+) in the kernel.*?, (\d+) in the queue, "
                    r"(\d+) malformed", log)
sent = msum("clawfence_pagerduty_events_total", 'result="sent"')
not_sent = sum(msum("clawfence_pagerduty_events_total", f'result="{r}"') for r in ("rejected", "dropped"))
lost = {
    "kernel ring buffer": msum("clawfence_kernel_records_lost_total"),
    "gaps (every where)": msum("clawfence_records_lost_total"),
    "queue drops": msum("clawfence_queue_dropped_total"),
}
expected = sorted(load["markers"])
dupes = {m: n for m, n in markers.items() if n != 1}

checks = [
    ("rss flat", last_max <= rss_limit,
     f"first half max {first_max / MiB:.1f} MiB, second half max {last_max / MiB:.1f} MiB "
     f"(limit {rss_limit / MiB:.1f}); start {rss[0] / MiB:.1f}, end {rss[-1] / MiB:.1f} MiB"),
    ("fds flat", fd_end <= fd_start, f"after warm-up {fd_start}, end {fd_end} (min {min(fds)}, max {max(fds)})"),
    ("no lost records", gaps_json == 0 and audit_gaps == 0 and not any(lost.values())
     and stopped is not None and stopped.group(3) == stopped.group(4) == stopped.group(5) == "0",
     f"GAP events: json {gaps_json}, audit {audit_gaps}; metrics " + ", ".join(f"{k} {v}" for k, v in lost.items())
     + (f"; agent's summary: {stopped.group(3)} kernel, {stopped.group(4)} queue, {stopped.group(5)} malformed"
        if stopped else "; no summary line from the agent")),
    ("audit verify", verify_rc == 0, verify_out.splitlines()[0] if verify_out else f"exit {verify_rc}"),
    ("pagerduty delivered", len(expected) == len(pd_alerts) == sent == fake["triggers"] and not not_sent
     and pd_paths == expected and sorted(markers) == expected and not dupes and not schema_errors,
     f"load {len(expected)}, audit {len(pd_alerts)}, agent sent {sent} (rejected+dropped {not_sent}), "
     f"stand-in triggers {fake['triggers']} ({len(markers)} paths, {len(dupes)} not exactly once, "
     f"{len(keys)} dedup keys, {len(schema_errors)} schema errors)"),
]

secs = load["seconds"]
lines = [
    f"soak: {secs} s of load; agent: {stopped.group(1) if stopped else '?'} records read, "
    f"{stopped.group(2) if stopped else '?'} events written (JSON lines counted: {events_json}, "
    f"{events_json / max(secs, 1):.0f}/s)",
    f"load: {load['opens']} opens, {load['connects']} TCP connects, {load['udp']} UDP sends, "
    f"{load['execs']} fork+execs, {load['alerts']} PagerDuty-severity alerts, {load['notes']} warnings; "
    f"{len(rows)} samples",
    "",
    f"{'check':<20} {'result':<6} figures",
]
for name, ok, detail in checks:
    lines.append(f"{name:<20} {'ok' if ok else 'FAIL':<6} {detail}")
if schema_errors:
    lines.append("schema errors: " + "; ".join(schema_errors[:5]))
if dupes:
    lines.append("not exactly once: " + ", ".join(f"{m} x{n}" for m, n in list(dupes.items())[:5]))
missing = sorted(set(expected) - set(markers))
if missing:
    lines.append(f"never reached the stand-in ({len(missing)}): " + ", ".join(missing[:5]))
text = "\n".join(lines)
print(text)
open(os.path.join(out, "summary.txt"), "w").write(text + "\n")
sys.exit(0 if all(ok for _, ok, _ in checks) else 1)
PY
