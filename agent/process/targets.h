// Targets: which processes are watched (rules `targets:`). A target matches a process by its
// comm, by a substring of its argv, or by a glob over its cgroup v2 path; descendants of a
// matched process are always watched.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "process/pod_metadata.h"
#include "process/proc_fs.h"
#include "sensor/sensor.h"

namespace clawfence::process {

struct Target {
  std::string name;
  std::vector<std::string> comms;          // exact comm (the kernel keeps 15 characters)
  std::vector<std::string> argv_contains;  // substring of the NUL-joined argv
  std::vector<std::string> cgroups;        // fnmatch glob over the cgroup path, '*' crosses '/'
  // Pods by namespace, name, labels, image: known only from the pod list (--pod-metadata-url),
  // and then turned into globs over the matching pods' cgroups (with_pod_cgroups).
  std::vector<PodSelector> pods;
};

// The cgroup globs that cover every cgroup of the pod with this UID, under either driver: the
// UID with dashes (cgroupfs: pod<uid>) and with underscores (systemd: …-pod<uid_>.slice).
std::vector<std::string> pod_uid_globs(const std::string& uid);

// The targets with the cgroups of the pods their selectors match in `metadata`'s current list
// added (unchanged when metadata is nullptr).
std::vector<Target> with_pod_cgroups(const std::vector<Target>& targets, const PodMetadata* metadata);

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
