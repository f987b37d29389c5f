#include "output/output.h"

#include <unistd.h>

#include <cstdlib>

#include "proto/timestamp.h"

namespace clawfence::output {

int severity_rank(const std::string& severity) {
  if (severity == "info") return 1;
  if (severity == "warning") return 2;
  if (severity == "error") return 3;
  if (severity == "critical") return 4;
  return 0;
}

std::string host_name() {
  // In a DaemonSet the pod's own hostname is the pod name: the node's name comes from the
  // downward API instead.
  if (const char* node = getenv("CLAWFENCE_NODE_NAME"); node && *node) return node;
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

v1::Event agent_note(const std::string& what, const std::string& detail) {
  v1::Event ev;
  v1::set_timestamp(v1::unix_now_ns(), ev.mutable_time());
  ev.set_kind(v1::Event::AGENT);
  v1::AgentNote* n = ev.mutable_agent();
  n->set_what(what);
  n->set_detail(detail);
  n->set_host(host_name());
  n->set_agent_pid(static_cast<uint32_t>(getpid()));
  return ev;
}

v1::Event gap_event(const std::string& where, uint64_t lost, uint64_t total) {
  v1::Event ev;
  v1::set_timestamp(v1::unix_now_ns(), ev.mutable_time());
  ev.set_kind(v1::Event::GAP);
  v1::Gap* g = ev.mutable_gap();
  g->set_where(where);
  g->set_lost(lost);
  g->set_lost_total(total);
  return ev;
}

}  // namespace clawfence::output
