// `clawfence tail`: follows the running agent's events on its Unix socket (output/tail.h),
// printing one compact line per event (or its JSON), and reconnects when the agent restarts
// without printing an event twice.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "proto/clawfence.pb.h"

namespace clawfence::app {

struct TailCommandOptions {
  std::string socket = "/run/clawfence/clawfence.sock";
  std::string output = "text";       // text, json
  std::string color = "auto";        // auto (when stdout is a terminal), always, never
  std::vector<std::string> kinds;    // exec, net, alert, ... (any case; items may be comma-separated)
  std::string min_severity;          // only alerts at or above: info, warning, error, critical
  std::vector<std::string> rule_ids;
  std::vector<uint32_t> pids;        // these processes and their descendants
  std::vector<std::string> comms;    // process names
  std::vector<std::string> roles;
  std::string since;                 // a duration back from now (30s, 5m, 2h, 1d) or an RFC 3339 time
  bool reconnect = true;
  uint64_t count = 0;                // stop after this many events; 0 = follow until stopped
  uint32_t timeout_ms = 0;           // give up after this long; 0 = never (for scripts and tests)
  uint32_t retry_ms = 1000;          // between connection attempts while the agent is away
};

// Each returns the exit status: 0 (done: count reached, or stdout closed), 1 (cannot connect,
// lost the agent without --reconnect, timed out), 2 (bad options).
int run_tail(const TailCommandOptions& opts, FILE* out = stdout, FILE* err = stderr);

// The pieces, for tests.

// `since` as nanoseconds since the epoch; false with *err for text that is neither form.
bool parse_since(const std::string& text, int64_t now_ns, int64_t* since_ns, std::string* err);

// The request the options ask for (kinds resolved, severity checked, since resolved at now_ns).
bool build_tail_request(const TailCommandOptions& opts, int64_t now_ns, v1::TailRequest* req, std::string* err);

struct LineStyle {
  bool color = false;
  bool utc = false;  // times in UTC rather than the local zone
};

// `HH:MM:SS.mmm SEVERITY ROLE COMM[PID] WHAT VERDICT`, without a newline. For events that are
// not alerts the severity column shows the kind. Control characters from the watched processes
// (names, paths, argv) are escaped so they cannot drive the terminal.
std::string format_event_line(const v1::Event& ev, const LineStyle& style);

}  // namespace clawfence::app
