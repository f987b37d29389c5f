// Applies decoded records to the process table and names the process on every event.
// Also seeds the tracked set from /proc at start, so an OpenClaw already running is watched
// with its whole tree.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "process/cgroup_paths.h"
#include "process/dns_names.h"
#include "process/pod_metadata.h"
#include "process/process_table.h"
#include "process/redactor.h"
#include "process/roles.h"
#include "process/targets.h"
#include "sensor/decoder.h"
#include "sensor/sensor.h"

namespace clawfence::process {

class Tracker {
 public:
  // cgroup2_root: where cgroup v2 is mounted, to name cgroups of processes already gone.
  Tracker(ProcessTable& table, const ProcFs& procfs, const sensor::BootClock& clock,
          const std::string& cgroup2_root = "");

  void set_targets(std::vector<Target> targets) { targets_ = std::move(targets); }
  // Only a process in this cgroup v2 subtree (its path below the mount, "/a/b"; "": anywhere)
  // starts a watched tree, as the kernel's cf_in_scope.
  void set_scope(std::string cgroup) { scope_ = std::move(cgroup); }
  bool in_scope(const std::string& cgroup) const;
  // The roles of the rules in force: how the kernel's role indices are named, and how processes
  // found running at start are judged.
  // A model that numbers the roles otherwise renumbers the table's (the guards do the kernel's).
  void set_roles(RoleModel roles);
  const RoleModel& roles() const { return roles_; }
  void set_dns_min_ttl(int64_t min_ttl_ns) { dns_names_.set_min_ttl(min_ttl_ns); }
  // Only these DNS servers' answers name addresses (DnsNames::set_resolvers).
  void set_dns_resolvers(const std::vector<std::string>& servers) { dns_names_.set_resolvers(servers); }
  // Secret values kept out of everything stored and written (nullptr: nothing redacted): what a
  // record says of them is learned, and what it carries from the process is redacted, before
  // anything else sees it; so is what is read from /proc (argv) and, at seed, learned from the
  // environment of the processes found running.
  void set_redactor(Redactor* redactor) {
    redactor_ = redactor;
    table_.set_redactor(redactor);
  }
  // Learns what `rec` says of secret values (an exec record's environment), before the record
  // it follows (the exec's own, which may hold them in argv) is applied.
  void learn_secrets(const sensor::DecodedRecord& rec) {
    if (redactor_) redactor_->learn(rec);
  }
  // Pod names, namespaces, labels and images from the kubelet or the API server (nullptr: off).
  void set_pod_metadata(const PodMetadata* metadata) { pod_metadata_ = metadata; }

  // Updates the table from the record and fills rec.event.process.
  void apply(sensor::DecodedRecord& rec);

  struct SeedResult {
    size_t roots = 0;    // processes that matched a target
    size_t tracked = 0;  // roots and their descendants now tracked
    size_t failed = 0;   // could not be tracked (map full)
    std::vector<uint32_t> pids;  // the processes tracked
  };
  // Scans /proc for processes matching the targets and tracks them and all their descendants,
  // each with the role the kernel would have given it had it seen it start (process/roles.h).
  SeedResult seed(sensor::Sensor& sensor);
  // Tracks one process started by clawfence itself (`clawfence run`).
  void adopt(uint32_t pid, const std::string& target);

  // The process as events name it (for facts that do not come with a record: byte counts).
  void describe(uint32_t pid, v1::Process* out);
  // The names `pid` resolved to `address` (text form).
  DnsNames::Names names_for(uint32_t pid, const std::string& address, int64_t now_ns) const {
    return dns_names_.names_for(pid, address, now_ns);
  }

 private:
  // What a record says of the process that the table may not know yet.
  struct RecordFacts {
    uint32_t tid = 0;
    std::string comm, thread_comm;
    uint64_t cgroup_id = 0;
    int role = -1;  // the kernel's role index (-1: the table's)
  };
  void fill_process(uint32_t pid, const RecordFacts& facts, sensor::DecodedRecord& rec);
  void fill_fields(uint32_t pid, const RecordFacts& facts, v1::Process* out);
  std::string target_for(const ProcInfo& p) const;

  ProcessTable& table_;
  const ProcFs& procfs_;
  const sensor::BootClock& clock_;
  std::vector<Target> targets_;
  RoleModel roles_;
  std::string scope_;
  CgroupPaths cgroup_paths_;
  // What each cgroup's path says of a Kubernetes pod, parsed once per cgroup (bounded; a miss
  // only parses again; nullopt: not in a pod), and resolved again when the pod list changes.
  struct PodEntry {
    std::optional<v1::Pod> pod;
    uint64_t generation = 0;  // of the pod list it was resolved against
  };
  std::unordered_map<uint64_t, PodEntry> pods_;
  const PodMetadata* pod_metadata_ = nullptr;
  const v1::Pod* pod_of(uint64_t cgroup_id, const std::string& cgroup_path);
  DnsNames dns_names_;
  Redactor* redactor_ = nullptr;
  // A running process read from /proc: the secret values of its environment learned, then its
  // argv redacted, before it is stored.
  void redact_from_proc(uint32_t pid, ProcInfo& p);
};

}  // namespace clawfence::process
