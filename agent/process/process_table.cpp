#include "process/process_table.h"

#include "process/redactor.h"

namespace clawfence::process {

ProcessTable::ProcessTable(size_t max_entries, const ProcFs* procfs)
    : max_entries_(max_entries ? max_entries : 1), procfs_(procfs) {}

const ProcInfo* ProcessTable::find(uint32_t pid) const {
  auto it = by_pid_.find(pid);
  return it == by_pid_.end() ? nullptr : &it->second;
}

const ProcInfo* ProcessTable::get_or_load(uint32_t pid) {
  if (const ProcInfo* p = find(pid)) return p;
  if (!procfs_ || pid == 0) return nullptr;
  auto info = procfs_->read(pid);
  if (!info) return nullptr;
  if (redactor_) info->redacted = redactor_->redact_argv(info->argv) > 0;
  return &upsert(std::move(*info));
}

ProcInfo& ProcessTable::upsert(ProcInfo info) {
  ++generation_;
  auto it = by_pid_.find(info.pid);
  if (it != by_pid_.end()) {
    it->second = std::move(info);
    return it->second;
  }
  evict_if_full();
  uint32_t pid = info.pid;
  return by_pid_.emplace(pid, std::move(info)).first->second;
}

void ProcessTable::evict_if_full() {
  while (by_pid_.size() >= max_entries_) {
    uint32_t victim = 0;
    // Exited entries go first (a pid in `exited_` may have been reused since: skip it).
    while (!exited_.empty()) {
      uint32_t pid = exited_.front().pid;
      exited_.pop_front();
      auto it = by_pid_.find(pid);
      if (it != by_pid_.end() && it->second.exited) {
        victim = pid;
        break;
      }
    }
    if (victim == 0) victim = by_pid_.begin()->first;  // full of live processes
    by_pid_.erase(victim);
    ++evicted_;
  }
}

ProcInfo& ProcessTable::on_exec(uint32_t pid, uint32_t ppid, uint64_t start_ns) {
  ++generation_;  // the caller fills in the new image's facts
  auto it = by_pid_.find(pid);
  if (it == by_pid_.end() || it->second.exited || it->second.start_ns != start_ns) {
    // New to us, or a reused pid: start from the parent's tracking facts.
    ProcInfo fresh;
    fresh.pid = pid;
    fresh.ppid = ppid;
    fresh.start_ns = start_ns;
    if (it != by_pid_.end() && !it->second.exited) {
      fresh.tracked_by = it->second.tracked_by;
      fresh.root_pid = it->second.root_pid;
      fresh.target = it->second.target;
      fresh.home = it->second.home;
      fresh.role = it->second.role;
    }
    return upsert(std::move(fresh));
  }
  it->second.ppid = ppid;
  return it->second;
}

void ProcessTable::on_fork(uint32_t parent, uint32_t child, uint64_t child_start_ns) {
  ProcInfo info;
  if (const ProcInfo* p = get_or_load(parent)) {
    info = *p;  // a forked child runs its parent's image until it execs
    info.exited = false;
    info.exited_ns = 0;
  }
  info.pid = child;
  info.ppid = parent;
  info.start_ns = child_start_ns;
  info.tracked_by = "inherited";
  upsert(std::move(info));
}

void ProcessTable::on_comm(uint32_t pid, const std::string& comm) {
  auto it = by_pid_.find(pid);
  if (it != by_pid_.end()) {
    it->second.comm = comm;
    ++generation_;
  }
}

void ProcessTable::on_role(uint32_t pid, uint8_t role) {
  auto it = by_pid_.find(pid);
  if (it != by_pid_.end() && it->second.role != role) {
    it->second.role = role;
    ++generation_;
  }
}

void ProcessTable::renumber_roles(const std::vector<uint8_t>& map) {
  for (auto& [pid, p] : by_pid_) p.role = p.role < map.size() ? map[p.role] : 0;
  ++generation_;
}

void ProcessTable::on_exit(uint32_t pid, uint64_t ts_ns) {
  auto it = by_pid_.find(pid);
  if (it == by_pid_.end() || it->second.exited) return;
  it->second.exited = true;
  it->second.exited_ns = ts_ns;
  ++generation_;
  exited_.push_back({pid, ts_ns});
}

void ProcessTable::sweep(uint64_t now_ns, uint64_t retention_ns) {
  while (!exited_.empty() && exited_.front().ns + retention_ns < now_ns) {
    const uint32_t pid = exited_.front().pid;
    exited_.pop_front();
    auto it = by_pid_.find(pid);
    // the pid may have been reused by a live process since: keep that one
    if (it != by_pid_.end() && it->second.exited) {
      by_pid_.erase(it);
      ++generation_;
    }
  }
}

std::vector<Ancestor> ProcessTable::lineage(uint32_t pid, size_t max_depth) {
  std::vector<Ancestor> out;
  const ProcInfo* self = get_or_load(pid);
  if (!self) return out;
  // A tracked descendant's chain ends at the root of its tree; the root's own chain goes on
  // to pid 1, so the first record of a tree says who started it. Each step may load an
  // ancestor from /proc and so evict another entry: copy what is needed before the next step.
  const uint32_t root = self->root_pid != pid ? self->root_pid : 0;
  uint32_t cur = self->ppid;
  while (cur != 0 && out.size() < max_depth) {
    const ProcInfo* p = get_or_load(cur);
    if (!p) break;
    out.push_back({p->pid, p->comm, p->exe, p->role});
    if (p->pid == 1 || p->pid == root || p->ppid == cur) break;
    cur = p->ppid;
  }
  return out;
}

}  // namespace clawfence::process
