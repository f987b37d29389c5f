#include "env/probes.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <tuple>

namespace clawfence::env {
namespace {

// Closes on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool same_device(const Mapping& m, dev_t dev) { return major(dev) == m.dev_major && minor(dev) == m.dev_minor; }

// Whether the descriptor is what mapping `m` maps. On overlayfs the mapping is of the underlying
// file (maps shows its device) while the descriptor is of the overlay file: its own device, the
// same inode number on a one-filesystem overlay.
bool is_mapped_file(const Mapping& m, int fd, const struct stat& st) {
  if (!S_ISREG(st.st_mode) || st.st_ino != m.ino) return false;
  if (same_device(m, st.st_dev)) return true;
  struct statfs fs;
  return fstatfs(fd, &fs) == 0 && fs.f_type == OVERLAYFS_SUPER_MAGIC;
}

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
  return buf;
}

}  // namespace

std::vector<Mapping> parse_maps(const std::string& text) {
  std::vector<Mapping> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    Mapping m;
    char perms[5] = {};
    uint64_t offset = 0;
    int path_at = 0;
    if (std::sscanf(line.c_str(), "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %" SCNu64 "%n", &m.start, &m.end,
                    perms, &offset, &m.dev_major, &m.dev_minor, &m.ino, &path_at) < 7)
      continue;
    if (m.ino == 0) continue;  // anonymous, [heap], [stack], [vdso]
    size_t p = static_cast<size_t>(path_at);
    while (p < line.size() && line[p] == ' ') ++p;
    m.path = line.substr(p);
    m.exec = perms[2] == 'x';
    out.push_back(std::move(m));
  }
  return out;
}

ProcFiles::ProcFiles(std::string root) : root_(std::move(root)) {}

std::optional<std::string> ProcFiles::maps(uint32_t pid) const {
  std::ifstream in(root_ + "/" + std::to_string(pid) + "/maps", std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int ProcFiles::open_exe(uint32_t pid) const {
  return open((root_ + "/" + std::to_string(pid) + "/exe").c_str(), O_RDONLY | O_CLOEXEC);
}

int ProcFiles::open_mapped(uint32_t pid, const Mapping& m) const {
  const std::string dir = root_ + "/" + std::to_string(pid);
  // map_files names are the range unpadded, unlike maps ("00400000-00b6e000" is "400000-b6e000").
  char range[48];
  std::snprintf(range, sizeof(range), "%" PRIx64 "-%" PRIx64, m.start, m.end);
  int fd = open((dir + "/map_files/" + range).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) return fd;

  // A deleted file has no path left to resolve (the name may even be another file's by now).
  if (m.path.empty() || m.path[0] != '/' || ends_with(m.path, " (deleted)")) return -1;
  Fd root(open((dir + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return -1;
  struct open_how how = {};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  fd = static_cast<int>(syscall(SYS_openat2, root.get(), m.path.c_str(), &how, sizeof(how)));
  // Before 5.6: resolved from our root for absolute links; the inode check still guards it.
  if (fd < 0 && errno == ENOSYS) fd = openat(root.get(), m.path.c_str() + 1, O_RDONLY | O_CLOEXEC);
  return fd;
}

const std::vector<EnvProbeSpec>& env_probe_specs() {
  static const std::vector<EnvProbeSpec> specs = {
      // Entry only: the getenv it calls reports whether the variable is set. Only where that
      // getenv is the file's own (a node linked statically with its libc): where it comes from a
      // shared libc, that libc's getenv probes see each process.env read alone. This probe was
      // the dearest of all: uv_os_getenv starts with an instruction the kernel single-steps out
      // of line (two exceptions per read) where getenv's `push` is emulated (one); without it
      // the real gateway's start went from 1.34x to 1.12x (bench/findings.md).
      {"uv_os_getenv", "cf_env_uv_getenv", "", "getenv"},
      {"getenv", "cf_env_getenv", "cf_env_getenv_ret", ""},
      {"secure_getenv", "cf_env_secure_getenv", "cf_env_secure_getenv_ret", ""},
      // node::RealEnvStore::Enumerate(v8::Isolate*) const: Object.keys(process.env) and friends.
      {"_ZNK4node12RealEnvStore9EnumerateEPN2v87IsolateE", "cf_env_enumerate", "", ""},
  };
  return specs;
}

namespace {
std::vector<std::string> spec_symbols() {
  std::vector<std::string> out;
  for (const EnvProbeSpec& s : env_probe_specs()) out.push_back(s.symbol);
  return out;
}
}  // namespace

EnvProbes::EnvProbes(AttachFn attach, DetachFn detach, std::shared_ptr<const ProcessFiles> files)
    : attach_(std::move(attach)),
      detach_(std::move(detach)),
      files_(files ? std::move(files) : std::make_shared<ProcFiles>()),
      cache_(spec_symbols()) {}

EnvProbes::~EnvProbes() {
  std::lock_guard<std::mutex> lock(mu_);
  while (!fallback_links_.empty()) drop_fallback(fallback_links_.begin()->first);
  for (auto& [id, obj] : objects_) detach_all(obj);
}

void EnvProbes::process_started(uint32_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::optional<std::string> text = files_->maps(pid);
  if (!text) {
    release(pid, {});
    drop_fallback(pid);
    return;
  }
  const std::vector<Mapping> maps = parse_maps(*text);
  std::set<std::tuple<uint32_t, uint32_t, uint64_t>> seen;  // maps device and inode
  std::set<FileIdentity> scanned;
  std::set<FileIdentity> used;
  // the open files of used objects with fallback probes, until settle_fallback is done with them
  std::vector<std::unique_ptr<Fd>> kept;
  std::map<FileIdentity, int> fds;
  auto keep_fd = [&](const FileIdentity& id, int fd) {
    auto obj = objects_.find(id);
    if (obj == objects_.end() || obj->second.fallback.empty()) return;
    kept.push_back(std::make_unique<Fd>(dup(fd)));
    if (kept.back()->valid()) fds[id] = kept.back()->get();
  };

  {
    Fd fd(files_->open_exe(pid));
    struct stat st;
    if (fd.valid() && fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode)) {
      std::string path = "/proc/" + std::to_string(pid) + "/exe";
      for (const Mapping& m : maps) {
        if (m.ino == st.st_ino && same_device(m, st.st_dev)) {
          seen.insert({m.dev_major, m.dev_minor, m.ino});
          path = m.path;
          break;
        }
      }
      const FileIdentity id = FileIdentity::of(st);
      scanned.insert(id);
      if (use_object(pid, fd.get(), id, path)) {
        used.insert(id);
        keep_fd(id, fd.get());
      }
    }
  }
  for (const Mapping& m : maps) {
    if (!m.exec || !seen.insert({m.dev_major, m.dev_minor, m.ino}).second) continue;
    Fd fd(files_->open_mapped(pid, m));
    if (!fd.valid()) {
      ++counters_.open_failures;
      continue;
    }
    struct stat st;
    if (fstat(fd.get(), &st) != 0 || !is_mapped_file(m, fd.get(), st)) {
      ++counters_.identity_mismatches;
      continue;
    }
    const FileIdentity id = FileIdentity::of(st);
    if (!scanned.insert(id).second) continue;
    if (use_object(pid, fd.get(), id, m.path)) {
      used.insert(id);
      keep_fd(id, fd.get());
    }
  }
  release(pid, used);
  settle_fallback(pid, used, fds);
}

void EnvProbes::settle_fallback(uint32_t pid, const std::set<FileIdentity>& used,
                                const std::map<FileIdentity, int>& fds) {
  bool getenv_probed = false;
  for (const FileIdentity& id : used) {
    auto obj = objects_.find(id);
    if (obj == objects_.end()) continue;
    for (const Probe& p : obj->second.probes)
      getenv_probed |= p.entry && p.ret && std::string(p.spec->symbol) == "getenv";
  }
  // Probed where the process takes getenv from: the read is seen there, in fewer traps.
  if (getenv_probed) {
    drop_fallback(pid);
    return;
  }
  // Not (yet): the loader has not mapped its libc, or what it maps cannot be probed (a copy of
  // libc without readable symbols, say). The process's own uv_os_getenv sees its reads, with a
  // probe placed in this process alone, so others keep the cheaper path.
  std::vector<PidLink>& links = fallback_links_[pid];
  // those on an object it no longer maps (an exec since) go
  for (auto it = links.begin(); it != links.end();) {
    if (used.count(it->id)) {
      ++it;
      continue;
    }
    detach_(it->link);
    ++counters_.detached;
    it = links.erase(it);
  }
  for (const auto& [id, fd] : fds) {
    bool have = false;
    for (const PidLink& l : links) have |= l.id == id;
    if (have) continue;
    Object& obj = objects_.at(id);
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    for (Probe& p : obj.fallback) {
      // The getenv inside is not probed here, so uv_os_getenv's own return reports the read (a
      // return probe, the first attached as for the shared probes; it does nothing when a probed
      // getenv inside reported it). The fallback probes are uv_os_getenv's alone.
      const char* ret = "cf_env_uv_getenv_ret";
      for (const char* prog : {ret, p.spec->entry}) {
        std::string err;
        void* link = attach_(prog, path, p.offset, prog == ret, static_cast<int>(pid), &err);
        if (!link) {
          ++counters_.attach_failures;
          ++p.failures;
          p.error = std::string(prog) + ": " + (err.empty() ? "attach failed" : err);
          // no lone return probe: the next scan tries the pair again
          if (prog == p.spec->entry && !links.empty() && links.back().id == id) {
            detach_(links.back().link);
            ++counters_.detached;
            links.pop_back();
          }
          break;
        }
        ++counters_.attached;
        links.push_back({id, link});
      }
    }
  }
  if (links.empty()) fallback_links_.erase(pid);
}

void EnvProbes::drop_fallback(uint32_t pid) {
  auto it = fallback_links_.find(pid);
  if (it == fallback_links_.end()) return;
  for (PidLink& l : it->second) {
    detach_(l.link);
    ++counters_.detached;
  }
  fallback_links_.erase(it);
}

void EnvProbes::process_exited(uint32_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  release(pid, {});
  drop_fallback(pid);
}

bool EnvProbes::use_object(uint32_t pid, int fd, const FileIdentity& id, const std::string& path) {
  const std::shared_ptr<const ElfSymbols> symbols = cache_.lookup(fd, id);
  if (!symbols->elf) {
    ++counters_.not_elf;
    return false;
  }
  if (symbols->offsets.empty()) return false;
  auto [it, inserted] = objects_.try_emplace(id);
  Object& obj = it->second;
  if (inserted) {
    obj.id = id;
    obj.path = path;
    for (const EnvProbeSpec& spec : env_probe_specs()) {
      if (auto offset = symbols->offset(spec.symbol)) {
        Probe p;
        p.spec = &spec;
        p.offset = *offset;
        if (*spec.unless_imports && symbols->imports.count(spec.unless_imports))
          obj.fallback.push_back(p);
        else
          obj.probes.push_back(p);
      }
    }
  }
  obj.users.insert(pid);
  attach_missing(obj, fd);
  return true;
}

void EnvProbes::attach_missing(Object& obj, int fd) {
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  auto failed = [&](Probe& p, const std::string& err) {
    ++counters_.attach_failures;
    ++p.failures;
    p.error = err.empty() ? "attach failed" : err;
  };
  for (Probe& p : obj.probes) {
    if (p.entry) continue;
    std::string err;
    // The return probe goes first: an entry that fired without it would leave its in-flight
    // record behind for the LRU map to evict instead of completing it.
    if (*p.spec->ret && !p.ret) {
      p.ret = attach_(p.spec->ret, path, p.offset, true, -1, &err);
      if (!p.ret) {
        failed(p, std::string(p.spec->ret) + ": " + err);
        continue;
      }
      ++counters_.attached;
    }
    p.entry = attach_(p.spec->entry, path, p.offset, false, -1, &err);
    if (!p.entry) {
      failed(p, std::string(p.spec->entry) + ": " + err);
      // No lone return probe: a uretprobe costs every caller in every process, for nothing.
      if (p.ret) {
        detach_(p.ret);
        p.ret = nullptr;
        ++counters_.detached;
      }
      continue;
    }
    ++counters_.attached;
    p.error.clear();
  }
}

void EnvProbes::detach_all(Object& obj) {
  for (Probe& p : obj.probes) {
    for (void** link : {&p.entry, &p.ret}) {
      if (!*link) continue;
      detach_(*link);
      *link = nullptr;
      ++counters_.detached;
    }
  }
}

void EnvProbes::release(uint32_t pid, const std::set<FileIdentity>& keep) {
  auto it = by_pid_.find(pid);
  if (it != by_pid_.end()) {
    for (const FileIdentity& id : it->second) {
      if (keep.count(id)) continue;
      auto obj = objects_.find(id);
      if (obj == objects_.end()) continue;
      obj->second.users.erase(pid);
      if (obj->second.users.empty()) {
        detach_all(obj->second);
        objects_.erase(obj);
      }
    }
  }
  if (keep.empty())
    by_pid_.erase(pid);
  else
    by_pid_[pid] = keep;
}

std::vector<std::string> EnvProbes::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [id, obj] : objects_) {
    std::string line = obj.path + " (" + id.str() + "):";
    const char* sep = " ";
    for (const Probe& p : obj.probes) {
      line += sep;
      sep = ", ";
      line += std::string(p.spec->symbol) + "+" + hex(p.offset) + " ";
      if (p.entry) {
        line += std::string("[") + p.spec->entry + (p.ret ? std::string(" ") + p.spec->ret : "") + "]";
      } else {
        line += "[not attached: " + p.error + "; " + std::to_string(p.failures) + " failures]";
      }
    }
    line += "; " + std::to_string(obj.users.size()) + (obj.users.size() == 1 ? " process" : " processes");
    out.push_back(std::move(line));
  }
  return out;
}

EnvProbes::Counters EnvProbes::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

size_t EnvProbes::objects() const {
  std::lock_guard<std::mutex> lock(mu_);
  return objects_.size();
}

}  // namespace clawfence::env
