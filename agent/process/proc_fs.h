// Reads process facts from a /proc tree (the real one, or a fixture in tests).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace clawfence::process {

struct ProcInfo {
  uint32_t pid = 0;
  uint32_t ppid = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string comm;
  std::string exe;
  std::vector<std::string> argv;
  uint64_t cgroup_id = 0;
  std::string cgroup;      // cgroup v2 path relative to its mount ("/system.slice/x.service")
  uint64_t start_ns = 0;   // CLOCK_BOOTTIME
  // tracking, as clawfence knows it
  std::string tracked_by;
  uint32_t root_pid = 0;
  std::string target;
  std::string home;  // HOME of the tracking root (`~` in rules, besides the uid's home)
  uint8_t role = 0;  // the kernel's role index (process/roles.h), as its last record said
  bool redacted = false;  // a secret in argv was replaced (process/redactor.h)
  bool exited = false;
  uint64_t exited_ns = 0;
};

class ProcFs {
 public:
  explicit ProcFs(std::string root = "/proc");
  std::optional<ProcInfo> read(uint32_t pid) const;
  std::vector<uint32_t> pids() const;
  // The cgroup v2 path of a process ("0::" line of /proc/PID/cgroup), or "".
  std::string cgroup_path(uint32_t pid) const;
  // The value of HOME in the process's environment, or "" (the rest of the copy read is cleared).
  std::string home(uint32_t pid) const;
  // Calls fn(name, value) for each variable of the process's environment, then clears the copy
  // it read (values may be secrets: the caller keeps none). False when it cannot be read.
  bool for_each_env(uint32_t pid, const std::function<void(std::string_view, std::string_view)>& fn) const;

 private:
  std::string root_;
  long clk_tck_;
};

}  // namespace clawfence::process
