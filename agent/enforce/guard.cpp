#include "enforce/guard.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "common/digest.h"
#include "enforce/names.h"
#include "enforce/paths.h"
#include "policy/matchers.h"
#include "sensor/map_keys.h"
#include "process/tracker.h"
#include "proto/timestamp.h"

namespace clawfence::enforce {
namespace {

std::runtime_error map_error(const std::string& what) {
  return std::runtime_error("writing the guard policy: " + what + ": " + std::strerror(errno));
}

// What a kernel rule bit stands for, across generations: its kind and the rule it names.
std::string identity(const cf_guard_rule& r, const std::string& id) {
  return std::to_string(r.kind) + ":" + std::to_string(r.budget) + ":" + id;
}

void copy_str(char* dst, size_t cap, const std::string& s) {
  std::memset(dst, 0, cap);
  std::memcpy(dst, s.data(), std::min(s.size(), cap - 1));
}

}  // namespace

namespace {

// Home directories of root and of the login users (uid >= 1000), from the password database.
std::vector<std::string> passwd_homes() {
  std::vector<std::string> out{"/root"};
  std::ifstream in("/etc/passwd");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string part; std::getline(ss, part, ':');) f.push_back(part);
    if (f.size() < 6 || f[5].empty() || f[5][0] != '/' || f[5] == "/") continue;
    const long uid = std::strtol(f[2].c_str(), nullptr, 10);
    if ((uid == 0 || (uid >= 1000 && uid < 65534)) && std::find(out.begin(), out.end(), f[5]) == out.end())
      out.push_back(f[5]);
  }
  return out;
}

}  // namespace

Guard::Guard(sensor::Sensor& sensor, GuardOptions opts) : sensor_(sensor), opts_(opts), homes_(passwd_homes()) {
  remember_pinned_ids();
}

CompiledPaths Guard::compile_path_patterns(const std::vector<PathRule>& rules) const {
  CompiledPaths paths;
  if (auto err = compile_paths(rules, homes_, &paths); !err.empty()) throw std::invalid_argument(err);
  return paths;
}

std::vector<std::string> Guard::write_path_patterns(const CompiledGuard& g, const CompiledPaths& paths) {
  std::vector<std::string> notes = unexpressed_notes(paths, g.paths, g.rule_ids);
  PathMapFds fds{fd("guard_paths"), fd("guard_path_prefix"), fd("guard_path_suffix"), fd("guard_path_dirs")};
  if (paths_in_force_.patterns.empty()) {
    if (auto err = write_paths(fds, paths); !err.empty()) throw std::runtime_error(err);
    paths_in_force_ = paths;
    return notes;
  }
  // A rewrite (a reload, a new home) must never switch off a pattern that stays: a tool could
  // trigger one (a new watched home) and read in the gap.
  CompiledPaths next = keep_indices(paths_in_force_, paths);
  if (auto err = rewrite_paths(fds, paths_in_force_, next); !err.empty()) throw std::runtime_error(err);
  paths_in_force_ = std::move(next);
  return notes;
}

namespace {

// The kernel's entry for `path` (resolved) and its key, or nullopt when it is not protected by
// inode: "/" itself, a path too long, what is neither a directory nor a regular file (a socket),
// or a file on a filesystem without inode generations (a freed inode number reused by another
// file would take its name).
std::optional<cf_anchor> anchor_of(const std::string& path_in, cf_anchor_key* key) {
  char real[PATH_MAX];
  if (!realpath(path_in.c_str(), real)) return std::nullopt;
  const std::string path = real;
  struct stat st {};
  if (path == "/" || path.size() >= CF_GPATH_KEY || lstat(real, &st) != 0 || !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)))
    return std::nullopt;
  cf_anchor a{};
  // (FS_IOC_GETVERSION needs a descriptor opened for real, not O_PATH)
  const int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
  if (fd >= 0) {
    int gen = 0;
    if (ioctl(fd, FS_IOC_GETVERSION, &gen) == 0) {
      a.generation = static_cast<uint32_t>(gen);
      a.has_generation = 1;
    }
    close(fd);
  }
  if (!S_ISDIR(st.st_mode) && !a.has_generation) return std::nullopt;
  a.len = static_cast<uint16_t>(path.size());
  a.components = static_cast<uint16_t>(std::count(path.begin(), path.end(), '/'));
  a.leaf_len = static_cast<uint16_t>(path.size() - path.rfind('/') - 1);
  std::memcpy(a.path, path.data(), path.size());
  *key = cf_anchor_key{};
  key->ino = st.st_ino;
  key->dev = (major(st.st_dev) << 20) | minor(st.st_dev);  // the kernel's own encoding of s_dev
  return a;
}

struct AnchorKeyLess {
  bool operator()(const cf_anchor_key& a, const cf_anchor_key& b) const {
    return a.ino != b.ino ? a.ino < b.ino : a.dev < b.dev;
  }
};

}  // namespace

void Guard::write_anchors(const CompiledGuard& g, const std::vector<std::string>& homes, bool replace) {
  constexpr int kDepth = 3;         // below a protected directory
  constexpr size_t kPerGlob = 256;  // entries looked at per glob
  const int map = fd("guard_anchors");
  std::map<cf_anchor_key, cf_anchor, AnchorKeyLess> want;
  bool full = false;
  auto add = [&](const std::string& path) {
    cf_anchor_key key{};
    auto a = anchor_of(path, &key);
    if (!a) return;
    if (want.size() >= CF_ANCHORS_MAX && !want.count(key)) {
      full = true;
      return;
    }
    want.emplace(key, *a);
  };
  for (const auto& glob : g.anchors) {
    std::vector<std::string> globs;
    bool from_home = false;
    if (!expand(glob, homes, &globs, &from_home).empty() || (!replace && !from_home)) continue;
    for (const auto& gl : globs) {
      const std::string dir = anchor_dir(gl);
      if (dir.empty()) continue;
      add(dir);
      // what exists below it now that the glob protects: renamed or linked out, it keeps its name
      std::error_code ec;
      namespace fs = std::filesystem;
      size_t seen = 0;
      for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
           !ec && it != end && seen < kPerGlob; it.increment(ec), ++seen) {
        if (it.depth() >= kDepth) it.disable_recursion_pending();
        const std::string p = it->path().string();
        if (policy::glob_matches(gl, p)) add(p);
      }
    }
  }
  // entries gone first (no longer protected, or another inode now), then the rest
  if (replace) {
    std::vector<cf_anchor_key> stale;
    cf_anchor_key key{}, next{};
    for (int r = bpf_map_get_next_key(map, nullptr, &next); r == 0; r = bpf_map_get_next_key(map, &key, &next)) {
      key = next;
      if (!want.count(key)) stale.push_back(key);
    }
    for (const auto& k : stale) bpf_map_delete_elem(map, &k);
  }
  for (const auto& [k, a] : want) {
    if (bpf_map_update_elem(map, &k, &a, BPF_ANY) == 0) continue;
    if (errno != E2BIG) throw map_error("guard_anchors");
    full = true;  // a new home's entries beside the ones already there
    break;
  }
  if (full)
    spdlog::warn("protected files: more than {} to know by inode; the rest are protected by their path only", CF_ANCHORS_MAX);
}

void Guard::note_home(const std::string& home) {
  if (home.empty() || home[0] != '/' || home == "/" || home.size() > 200 ||
      std::find(homes_.begin(), homes_.end(), home) != homes_.end() || homes_.size() >= 32)
    return;
  homes_.push_back(home);
  if (current_.paths.empty()) return;
  try {
    write_path_patterns(current_, compile_path_patterns(current_.paths));
    write_anchors(current_, {home}, false);
  } catch (const std::exception& e) {
    homes_.pop_back();
    spdlog::warn("path patterns not extended to home {}: {}", home, e.what());
  }
}

int Guard::fd(const char* name) const {
  int f = sensor_.map_fd(name);
  if (f < 0) throw std::runtime_error(std::string("the eBPF object has no map ") + name);
  return f;
}

// Verdicts already in the ring buffer (or made by the pinned programs before this agent
// started) name rules of the generation in force then: keep its table.
void Guard::remember_pinned_ids() {
  uint32_t zero = 0;
  cf_guard_config cfg{};
  if (bpf_map_lookup_elem(fd("guard_config"), &zero, &cfg) != 0 || !(cfg.flags & CF_GUARD_ACTIVE)) return;
  std::vector<std::string> ids;
  for (uint32_t i = 0; i < CF_RULE_IDS; ++i) {
    cf_rule_id r{};
    if (bpf_map_lookup_elem(fd("guard_rule_ids"), &i, &r) != 0) break;
    ids.emplace_back(r.id, strnlen(r.id, sizeof(r.id)));
  }
  while (!ids.empty() && ids.back().empty()) ids.pop_back();
  ids_by_generation_[cfg.generation] = std::move(ids);
  current_.config.generation = cfg.generation;
}

void Guard::remap_learned(const CompiledGuard& next) {
  // old bit -> identity, from the maps as they are now
  std::map<std::string, uint32_t> new_bits;
  for (uint32_t i = 0; i < next.rules.size(); ++i)
    new_bits[identity(next.rules[i], next.rule_ids[next.rules[i].rule])] = i;
  uint64_t old_to_new[CF_GUARD_RULES] = {};
  bool any = false;
  for (uint32_t i = 0; i < CF_GUARD_RULES; ++i) {
    cf_guard_rule r{};
    if (bpf_map_lookup_elem(fd("guard_rules"), &i, &r) != 0 || r.kind == 0) continue;
    cf_rule_id rid{};
    uint32_t idx = r.rule;
    if (bpf_map_lookup_elem(fd("guard_rule_ids"), &idx, &rid) != 0) continue;
    auto it = new_bits.find(identity(r, std::string(rid.id, strnlen(rid.id, sizeof(rid.id)))));
    if (it != new_bits.end()) old_to_new[i] = 1ull << it->second;
    any = true;
  }
  if (!any) return;
  const int addrs = fd("guard_addrs");
  for (const auto& key : sensor::map_keys<cf_addr_key>(addrs)) {
    cf_addr_val v{};
    if (bpf_map_lookup_elem(addrs, &key, &v) != 0) continue;
    uint64_t rules = 0;
    for (uint32_t i = 0; i < CF_GUARD_RULES; ++i)
      if (v.rules >> i & 1) rules |= old_to_new[i];
    if (rules == v.rules) continue;
    v.rules = rules;
    if (rules == 0)
      bpf_map_delete_elem(addrs, &key);
    else
      bpf_map_update_elem(addrs, &key, &v, BPF_EXIST);
  }
}

std::vector<std::string> Guard::apply(const policy::RuleSet& rules, const GuardIdentity& id) {
  CompiledGuard next = compile_guard(rules, opts_);
  NameTable names;
  if (auto err = compile_names(next.hosts, &names); !err.empty()) throw std::invalid_argument(err);
  // path patterns for the homes known so far (note_home adds more); all compiled before any write
  const CompiledPaths paths = compile_path_patterns(next.paths);
  if (!paths.patterns.empty()) next.config.flags |= CF_GUARD_PATHS;
  uint32_t zero = 0;
  cf_guard_config old{};
  bpf_map_lookup_elem(fd("guard_config"), &zero, &old);
  next.config.generation = std::max(old.generation, current_.config.generation) + 1;

  // Addresses learned under the old rule numbering keep their approvals under the new one.
  remap_learned(next);
  for (uint32_t i = 0; i < CF_RULE_IDS; ++i) {
    cf_rule_id r{};
    if (i < next.rule_ids.size()) copy_str(r.id, sizeof(r.id), next.rule_ids[i]);
    if (bpf_map_update_elem(fd("guard_rule_ids"), &i, &r, BPF_ANY)) throw map_error("guard_rule_ids");
  }
  for (uint32_t i = 0; i < CF_GUARD_RULES; ++i) {
    cf_guard_rule r{};
    if (i < next.rules.size()) r = next.rules[i];
    if (bpf_map_update_elem(fd("guard_rules"), &i, &r, BPF_ANY)) throw map_error("guard_rules");
  }
  const int cidrs = fd("guard_cidrs");
  for (const auto& [key, bits] : next.cidrs)
    if (bpf_map_update_elem(cidrs, &key, &bits, BPF_ANY)) throw map_error("guard_cidrs");
  for (const auto& key : sensor::map_keys<cf_cidr_key>(cidrs)) {
    bool keep = std::any_of(next.cidrs.begin(), next.cidrs.end(), [&](const auto& e) {
      return e.first.prefixlen == key.prefixlen && std::memcmp(e.first.addr, key.addr, 16) == 0;
    });
    if (!keep) bpf_map_delete_elem(cidrs, &key);
  }
  if (auto err = write_names(fd("guard_names"), names); !err.empty()) throw std::runtime_error(err);
  const int resolvers = fd("guard_resolvers");
  for (const auto& key : next.resolvers) {
    uint8_t one = 1;
    if (bpf_map_update_elem(resolvers, &key, &one, BPF_ANY)) throw map_error("guard_resolvers");
  }
  for (const auto& key : sensor::map_keys<cf_addr_key>(resolvers)) {
    bool keep = std::any_of(next.resolvers.begin(), next.resolvers.end(),
                            [&](const cf_addr_key& k) { return std::memcmp(k.addr, key.addr, 16) == 0; });
    if (!keep) bpf_map_delete_elem(resolvers, &key);
  }
  for (uint32_t i = 0; i < CF_BUDGETS_MAX; ++i) {
    cf_budget b{};
    if (i < next.budgets.size()) b = next.budgets[i];
    if (bpf_map_update_elem(fd("guard_budgets"), &i, &b, BPF_ANY)) throw map_error("guard_budgets");
  }
  // every slot: a used rule, or an unused one that ends the table
  const int role_rules = fd("guard_role_rules");
  const auto& kernel_roles = next.roles.kernel_rules();
  for (uint32_t i = 0; i < CF_ROLE_RULES; ++i) {
    cf_role_rule r{};
    if (i < kernel_roles.size()) r = kernel_roles[i];
    if (bpf_map_update_elem(role_rules, &i, &r, BPF_ANY)) throw map_error("guard_role_rules");
  }
  for (auto& n : write_path_patterns(next, paths)) next.notes.push_back(std::move(n));
  write_anchors(next, homes_, true);
  const std::vector<uint8_t> renumbered = current_.roles.renumbering(next.roles);
  current_ = std::move(next);
  // The configuration last: it switches the guards to the new generation.
  if (bpf_map_update_elem(fd("guard_config"), &zero, &current_.config, BPF_ANY)) throw map_error("guard_config");
  // Tracked processes hold role indices: under roles added, removed or reordered, each keeps its
  // role by name (a process forked while this runs may keep an old index until it execs).
  if (!renumbered.empty()) sensor_.renumber_roles(renumbered);

  ids_by_generation_[current_.config.generation] = current_.rule_ids;
  while (ids_by_generation_.size() > 4) ids_by_generation_.erase(ids_by_generation_.begin());
  write_info(id);
  identity_ = id;
  return current_.notes;
}

void Guard::write_info(const GuardIdentity& id) {
  uint32_t zero = 0;
  const int f = fd("guard_info");
  cf_guard_info info{};
  bpf_map_lookup_elem(f, &zero, &info);
  const uint64_t now = static_cast<uint64_t>(v1::unix_now_ns());
  if (info.attached_unix_ns == 0 || !sensor_.adopted()) info.attached_unix_ns = now;
  info.policy_unix_ns = now;
  info.agent_pid = static_cast<uint32_t>(getpid());
  info.generation = current_.config.generation;
  copy_str(info.build, sizeof(info.build), id.build);
  copy_str(info.rules_sha256, sizeof(info.rules_sha256), id.rules_sha256);
  copy_str(info.rules_path, sizeof(info.rules_path), id.rules_path);
  copy_str(info.attach_cgroup, sizeof(info.attach_cgroup), id.attach_cgroup);
  if (bpf_map_update_elem(f, &zero, &info, BPF_ANY)) throw map_error("guard_info");
}

void Guard::name_rule(sensor::DecodedRecord& rec) const {
  const cf_verdict& v = rec.verdict;
  if (v.verdict == CF_VERDICT_NONE || v.rule >= CF_RULE_FAIL_CLOSED) return;
  auto it = ids_by_generation_.find(v.generation);
  if (it == ids_by_generation_.end() || v.rule >= it->second.size()) {
    rec.event.mutable_enforcement()->set_rule_id("rule #" + std::to_string(v.rule) + " of policy generation " +
                                                 std::to_string(v.generation));
    return;
  }
  rec.event.mutable_enforcement()->set_rule_id(it->second[v.rule]);
}

std::string rules_digest(const std::string& path) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (const auto& e : fs::directory_iterator(path, ec)) {
      const std::string ext = e.path().extension().string();
      if (ext == ".yaml" || ext == ".yml") files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);
  }
  // the files' contents one after the other, in name order
  std::string all;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    all.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return common::sha256_hex(all);
}

}  // namespace clawfence::enforce
