// What every output behind the pipeline is: the audit log, the live-tail server, the PagerDuty
// forwarder and the metrics each receive the events the pipeline writes, on the pipeline's
// worker thread, in order. write() never waits on a client, a disk sync it can defer or the
// network: slow work happens behind the output's own bounded queue and thread.
#pragma once

#include <functional>
#include <string>

#include "proto/clawfence.pb.h"

namespace clawfence::output {

class EventOutput {
 public:
  virtual ~EventOutput() = default;
  virtual void write(const v1::Event& ev) = 0;
  // After a batch of events (at least every half second): a chance to sync or hand over.
  virtual void flush() {}
};

// How an output reports its own trouble (a gap, a refused alert) as an event: thread-safe; the
// event goes through the pipeline to every output like any other.
using Report = std::function<void(v1::Event)>;

// Alert severities in order (PagerDuty's names): info 1, warning 2, error 3, critical 4; 0 for
// anything else.
int severity_rank(const std::string& severity);

// This machine's name, as records and PagerDuty show it: $CLAWFENCE_NODE_NAME when set (a
// Kubernetes node's name), else the host name ("localhost" when it has none).
std::string host_name();

// An AGENT event stamped now: the agent's own note, with this host and process.
v1::Event agent_note(const std::string& what, const std::string& detail);

// A GAP event stamped now: `lost` records lost at `where` since the last such event, `total` in all.
v1::Event gap_event(const std::string& where, uint64_t lost, uint64_t total);

}  // namespace clawfence::output
