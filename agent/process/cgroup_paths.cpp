#include "process/cgroup_paths.h"

#include <sys/stat.h>

#include <filesystem>

namespace clawfence::process {
namespace fs = std::filesystem;

namespace {
constexpr size_t kMaxCached = 16384;

uint64_t inode_of(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}
}  // namespace

CgroupPaths::CgroupPaths(std::string cgroup2_root, const ProcFs& procfs, std::chrono::milliseconds min_walk_interval)
    : root_(std::move(cgroup2_root)), procfs_(procfs), min_walk_interval_(min_walk_interval) {}

const std::string& CgroupPaths::path(uint64_t id, uint32_t pid_hint) {
  auto it = by_id_.find(id);
  if (it != by_id_.end()) return it->second;
  auto now = std::chrono::steady_clock::now();
  auto miss = missing_.find(id);
  if (miss != missing_.end() && now - miss->second < min_walk_interval_) return empty_;
  if (by_id_.size() >= kMaxCached) by_id_.clear();
  if (missing_.size() >= kMaxCached) missing_.clear();
  // The process's own view, if it is still there and names this very cgroup.
  if (pid_hint != 0) {
    std::string p = procfs_.cgroup_path(pid_hint);
    if (!p.empty() && (root_.empty() || inode_of(root_ + p) == id)) return by_id_[id] = p;
  }
  if (root_.empty() || now - last_walk_ < min_walk_interval_) {
    missing_[id] = now;
    return empty_;
  }
  last_walk_ = now;
  walk();
  it = by_id_.find(id);
  if (it != by_id_.end()) return it->second;
  missing_[id] = now;
  return empty_;
}

void CgroupPaths::walk() {
  std::error_code ec;
  by_id_[inode_of(root_)] = "/";
  fs::recursive_directory_iterator it(root_, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec) || ec) continue;
    if (by_id_.size() >= kMaxCached) break;
    struct stat st {};
    if (stat(it->path().c_str(), &st) != 0) continue;  // removed while walking
    by_id_[st.st_ino] = "/" + fs::relative(it->path(), root_, ec).string();
  }
}

}  // namespace clawfence::process
