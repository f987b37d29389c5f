// What clawfence knows of each process it has seen: identity, lineage, tracking. Bounded:
// exited processes are kept a while for the lineage of late records, then evicted first.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "process/proc_fs.h"

namespace clawfence::process {

// One ancestor in a lineage: a copy, so it stays valid whatever the table evicts next.
struct Ancestor {
  uint32_t pid = 0;
  std::string comm;
  std::string exe;
  uint8_t role = 0;
};

class Redactor;

class ProcessTable {
 public:
  ProcessTable(size_t max_entries, const ProcFs* procfs);

  // What is read from /proc (get_or_load) has its argv redacted before it is kept (nullptr: not).
  void set_redactor(const Redactor* redactor) { redactor_ = redactor; }

  const ProcInfo* find(uint32_t pid) const;
  // find(), else read /proc (ancestors of a tracked process that were never tracked).
  const ProcInfo* get_or_load(uint32_t pid);
  ProcInfo& upsert(ProcInfo info);

  // Record-driven updates.
  ProcInfo& on_exec(uint32_t pid, uint32_t ppid, uint64_t start_ns);
  void on_fork(uint32_t parent, uint32_t child, uint64_t child_start_ns);
  void on_comm(uint32_t pid, const std::string& comm);
  // The process's role as the kernel's latest record about it said.
  void on_role(uint32_t pid, uint8_t role);
  // Every process's role r becomes map[r] (past the map: 0), the rules' roles numbered anew.
  void renumber_roles(const std::vector<uint8_t>& map);
  void on_exit(uint32_t pid, uint64_t ts_ns);
  // Forgets processes that exited more than `retention_ns` before `now_ns` (CLOCK_BOOTTIME):
  // records of a process arrive within milliseconds of its exit, its lineage is copied into them.
  void sweep(uint64_t now_ns, uint64_t retention_ns = 10'000'000'000ull);

  // Parent first, at most max_depth entries: up to the tracking root for a descendant, up to
  // pid 1 for the root itself.
  std::vector<Ancestor> lineage(uint32_t pid, size_t max_depth = 16);

  size_t size() const { return by_pid_.size(); }
  // Changes whenever anything in the table changes: what was derived from it (an event's
  // process and lineage) is still valid while it stays the same.
  uint64_t generation() const { return generation_; }
  uint64_t evicted() const { return evicted_; }

 private:
  void evict_if_full();

  size_t max_entries_;
  const ProcFs* procfs_;
  const Redactor* redactor_ = nullptr;
  std::unordered_map<uint32_t, ProcInfo> by_pid_;
  struct Exited {
    uint32_t pid;
    uint64_t ns;
  };
  std::deque<Exited> exited_;  // exit order, for eviction
  uint64_t evicted_ = 0;
  uint64_t generation_ = 1;
};

}  // namespace clawfence::process
