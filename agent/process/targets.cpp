#include "process/targets.h"

#include <algorithm>
#include <cctype>

#include <fnmatch.h>
#include <sys/stat.h>

#include <filesystem>

#include "clawfence/abi.h"

namespace clawfence::process {
namespace fs = std::filesystem;

bool cgroup_glob_matches(const std::string& glob, const std::string& cgroup_path) {
  // '*' crosses '/': "*/openclaw-gateway*.service" matches at any depth.
  return fnmatch(glob.c_str(), cgroup_path.c_str(), 0) == 0;
}

std::optional<std::string> match_target(const std::vector<Target>& targets, const ProcInfo& p) {
  std::string joined;
  for (size_t i = 0; i < p.argv.size(); ++i) {
    if (i) joined.push_back('\0');
    joined += p.argv[i];
  }
  for (const auto& t : targets) {
    for (const auto& c : t.comms)
      if (p.comm == c.substr(0, CF_COMM_LEN - 1)) return t.name;
    for (const auto& a : t.argv_contains)
      if (!a.empty() && joined.find(a) != std::string::npos) return t.name;
    for (const auto& g : t.cgroups)
      if (!p.cgroup.empty() && cgroup_glob_matches(g, p.cgroup)) return t.name;
  }
  return std::nullopt;
}

std::vector<uint64_t> find_cgroups(const std::string& cgroup2_root, const std::vector<std::string>& globs) {
  std::vector<uint64_t> ids;
  if (globs.empty() || cgroup2_root.empty()) return ids;
  std::error_code ec;
  fs::recursive_directory_iterator it(cgroup2_root, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec)) continue;
    std::string rel = "/" + fs::relative(it->path(), cgroup2_root, ec).string();
    for (const auto& g : globs) {
      if (!cgroup_glob_matches(g, rel)) continue;
      struct stat st {};
      // On cgroup v2 the directory's inode number is the cgroup id.
      if (stat(it->path().c_str(), &st) == 0) ids.push_back(st.st_ino);
      break;
    }
  }
  return ids;
}

sensor::KernelTargets compile_kernel_targets(const std::vector<Target>& targets,
                                             const std::string& cgroup2_root,
                                             std::vector<std::string>* warnings) {
  sensor::KernelTargets k;
  std::vector<std::string> globs;
  for (const auto& t : targets) {
    for (const auto& c : t.comms) k.comms.push_back(c.substr(0, CF_COMM_LEN - 1));
    for (const auto& a : t.argv_contains) k.argv_needles.push_back(a);
    for (const auto& g : t.cgroups) {
      globs.push_back(g);
      // New cgroups are matched in the kernel by their leaf name, as prefix*suffix.
      std::string leaf = g.substr(g.rfind('/') == std::string::npos ? 0 : g.rfind('/') + 1);
      size_t star = leaf.find('*');
      bool simple = leaf.find_first_of("?[") == std::string::npos &&
                    (star == std::string::npos || leaf.find('*', star + 1) == std::string::npos);
      if (!simple || leaf.empty() || leaf == "*") {
        if (warnings)
          warnings->push_back("cgroup target '" + g +
                              "': only existing cgroups match (the kernel matches a new cgroup's "
                              "last path component as a name, or as prefix*suffix)");
        continue;
      }
      if (star == std::string::npos)
        k.cgroup_leaf_patterns.push_back({leaf, "", true});
      else
        k.cgroup_leaf_patterns.push_back({leaf.substr(0, star), leaf.substr(star + 1), false});
    }
  }
  k.cgroup_ids = find_cgroups(cgroup2_root, globs);
  return k;
}

std::vector<std::string> pod_uid_globs(const std::string& uid) {
  std::string lower = uid;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string underscored = lower;
  std::replace(underscored.begin(), underscored.end(), '-', '_');
  std::vector<std::string> globs = {"*pod" + lower + "*"};
  if (underscored != lower) globs.push_back("*pod" + underscored + ".slice*");
  return globs;
}

std::vector<Target> with_pod_cgroups(const std::vector<Target>& targets, const PodMetadata* metadata) {
  std::vector<Target> out = targets;
  if (!metadata) return out;
  for (Target& t : out)
    for (const PodSelector& sel : t.pods)
      for (const std::string& uid : metadata->match(sel))
        for (auto& g : pod_uid_globs(uid)) t.cgroups.push_back(std::move(g));
  return out;
}

}  // namespace clawfence::process
