// The subcommands, as ordered start-up and shutdown steps. main.cpp parses flags into these
// options and calls one function.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "output/pagerduty.h"
#include "process/pod_metadata.h"

namespace clawfence::app {

struct CommonOptions {
  // Room for every tracked process and as many of their ancestors and recently exited ones.
  size_t table_size() const { return std::max<size_t>(process_table_size, size_t{2} * max_tracked); }

  std::string output;                 // "" or "-" = stdout; "none" = no JSON lines
  std::string detail = "activity";    // what the JSON lines and the tail carry: alerts, activity, all
  uint32_t ringbuf_mib = 16;
  uint32_t max_tracked = 65536;
  size_t queue_capacity = 262144;     // records between the reader and the worker
  size_t process_table_size = 65536;  // at least: grows to twice max_tracked (table_size())
  uint32_t wakeup_kib = 64;           // 0: wake the reader for every record (lowest latency)
  uint32_t poll_ms = 5;
  std::string syscall_hooks = "auto";  // auto, tracepoint, fentry
  std::string env_probes = "host";     // host, judged, watched: which processes' env reads are probed
};

// --env-probes (agent flag and config key, `run` flag): its values and what it says.
inline const std::vector<std::string> kEnvProbeScopes = {"host", "judged", "watched"};
inline constexpr const char* kEnvProbesHelp =
    "which processes get the environment-read probes: host (one probe per library: every process on the host "
    "traps), judged (per process, those whose role an env rule judges; every watched one without rules), watched "
    "(per process, every watched one); per process, a read before the agent has placed the probe is missed";

// Where the agent's events go besides the JSON lines. "" switches an output off.
struct OutputOptions {
  std::string metrics_addr = "127.0.0.1:9464";          // Prometheus /metrics and /healthz
  std::string audit_dir = "/var/log/clawfence";         // hash-chained audit log
  bool audit_all = false;                               // every event, not only the security-relevant
  std::string audit_fsync = "critical";                 // always, critical (blocks, kills, notes), interval
  uint32_t audit_rotate_mib = 64;
  uint32_t audit_rotate_hours = 24;
  std::string audit_hmac_key;                           // key file (0600): records carry an HMAC too
  std::string tail_socket = "/run/clawfence/clawfence.sock";
  std::string tail_group;                               // "": root only (0600); else 0660 and this group
  size_t tail_buffer = 10000;                           // recent events kept for `tail --since`
  // on when a routing key is found (key file, or the environment variable it names)
  output::PagerDutyOptions pagerduty;
  uint32_t pagerduty_resolve_s = 0;
};

struct AgentOptions {
  CommonOptions common;
  OutputOptions outputs;
  // Pod names, namespaces, labels and images from the kubelet or the API server: off while the
  // url is "".
  process::PodSourceOptions pod_metadata;
  uint32_t pod_metadata_refresh_s = 10;
  std::string rules;                  // file or directory
  std::string cgroup;                 // attach the network hooks here instead of the v2 root
  // over the rule files' own mode: rules (keep it), monitor, enforce, dry-run (enforce + dry_run)
  std::string mode = "rules";
  bool dry_run = false;               // enforce mode: report what would be blocked, block nothing
  std::string pin = "auto";           // auto (pin in enforce mode), always, never
  std::string pin_dir = "/sys/fs/bpf/clawfence";
  // RE2 patterns of secrets to redact beside the built-in ones (process/redactor.h)
  std::vector<std::string> redact_patterns;
};

struct RunOptions {
  CommonOptions common;
  std::string rules;                  // optional: also watch what these targets match
  std::vector<std::string> command;
  uint32_t grace_ms = 2000;           // wait this long for descendants after CMD exits
  std::vector<std::string> redact_patterns;  // as AgentOptions
};

// Each returns the process exit status.
int run_agent(const AgentOptions& opts);
int run_command(const RunOptions& opts);
int check_rules(const std::string& path);
// What is pinned under pin_dir: programs, where, mode, since when, rule-set hash.
int show_status(const std::string& pin_dir);
// Detaches and removes everything pinned under pin_dir.
int unload(const std::string& pin_dir);

}  // namespace clawfence::app
