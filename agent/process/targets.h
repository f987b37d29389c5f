// Targets: which processes are watched (rules `targets:`). A target matches a process by its
// comm, by a substring of its argv, or by a glob over its cgroup v2 path; descendants of a
// matched process are always watched.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "process/proc_fs.h"
#include "sensor/sensor.h"

namespace clawfence::process {

struct Target {
  std::string name;
  std::vector<std::string> comms;          // exact comm (the kernel keeps 15 characters)
  std::vector<std::string> argv_contains;  // substring of the NUL-joined argv
  std::vector<std::string> cgroups;        // fnmatch glob over the cgroup path, '*' crosses '/'
};

// Name of the first target `p` matches, if any.
std::optional<std::string> match_target(const std::vector<Target>& targets, const ProcInfo& p);
bool cgroup_glob_matches(const std::string& glob, const std::string& cgroup_path);

// The kernel form of the targets; cgroup ids are found under `cgroup2_root`. Warnings (a glob
// the kernel cannot match on its own) are appended to `warnings`.
sensor::KernelTargets compile_kernel_targets(const std::vector<Target>& targets,
                                             const std::string& cgroup2_root,
                                             std::vector<std::string>* warnings);

// Ids of existing cgroups under `cgroup2_root` whose path matches one of the globs.
std::vector<uint64_t> find_cgroups(const std::string& cgroup2_root, const std::vector<std::string>& globs);

}  // namespace clawfence::process
