// cgroup v2 id -> path (relative to the cgroup v2 mount). Records carry the id; the path is
// looked up here, also after the process is gone: from /proc/PID/cgroup when the process is
// still there and the inode matches, else from a walk of the cgroup tree (at most one walk per
// `min_walk_interval`, the whole tree cached at once).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "process/proc_fs.h"

namespace clawfence::process {

class CgroupPaths {
 public:
  CgroupPaths(std::string cgroup2_root, const ProcFs& procfs,
              std::chrono::milliseconds min_walk_interval = std::chrono::milliseconds(200));
  // "" when unknown.
  const std::string& path(uint64_t id, uint32_t pid_hint);

 private:
  void walk();

  std::string root_;
  const ProcFs& procfs_;
  std::chrono::milliseconds min_walk_interval_;
  std::chrono::steady_clock::time_point last_walk_{};
  std::unordered_map<uint64_t, std::string> by_id_;
  // ids a walk did not find, and when: not looked for again until the next walk is allowed
  std::unordered_map<uint64_t, std::chrono::steady_clock::time_point> missing_;
  std::string empty_;
};

}  // namespace clawfence::process
