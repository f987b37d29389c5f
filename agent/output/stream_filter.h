// How much the event stream carries: the JSON lines (stdout, -o) and `clawfence tail`. The
// audit log (every event with --audit-all), PagerDuty (alerts) and the metrics are not
// filtered: the full record stays one flag away.
//
//   all       every event
//   activity  what an operator reads (the agent's default): alerts, gaps and the agent's notes;
//             every exec, rename, connect, send and DNS answer; exits by a signal or with an
//             error; every event a rule or a kernel guard judged; and the file operations of
//             tools (any process of the tree whose role is final, or that has no role) with
//             repeats folded per tool run (each path once per operation), leaving out failed
//             probes and the reads every program makes (libraries, locale data, /proc and /sys
//             facts). The assistant's own processes (the gateway, its helpers: a role that is
//             not final) show no file operation no rule judged: their module loading and state
//             files are tens of thousands a start. Environment reads are shown for tools.
//   alerts    alerts, gaps and the agent's notes
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>

#include "proto/clawfence.pb.h"

namespace clawfence::output {

enum class Detail { kAlerts, kActivity, kAll };

bool parse_detail(const std::string& text, Detail* out);
const char* to_string(Detail d);

// Where an event's process stands, as the rules see it.
struct StreamSubject {
  bool own = false;   // the assistant's own process (gateway, helper): a role that is not final
  uint32_t run = 0;   // its tool run (the first process below a role that is not final), else its pid
};

class StreamFilter {
 public:
  explicit StreamFilter(Detail detail) : detail_(detail) {}
  Detail detail() const { return detail_; }
  // Whether the stream writes `ev`; `judged`: a rule raised an alert on it.
  bool keep(const v1::Event& ev, bool judged, const StreamSubject& subject);
  uint64_t left_out() const { return left_out_; }  // events kept from the stream

 private:
  bool keep_activity(const v1::Event& ev, bool judged, const StreamSubject& subject);
  // True the first time a tool run shows `what` (then false: a repeat).
  bool first_time(const StreamSubject& subject, const std::string& what);

  Detail detail_;
  std::unordered_set<std::string> shown_;  // "run/what", bounded
  uint64_t left_out_ = 0;
};

// A read every program makes (the dynamic loader's and libc's files, locale data, /proc and /sys
// facts, device nodes): nothing to show at `activity`. `pid`: the reader's (its /proc/PID).
bool is_routine_read(const std::string& path, uint32_t pid);

}  // namespace clawfence::output
