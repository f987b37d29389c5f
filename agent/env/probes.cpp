#include "env/probes.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <tuple>

namespace clawfence::env {
namespace {

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
      // Placed for one process alone, where that getenv is not probed, its own return reports.
      {"uv_os_getenv", "cf_env_uv_getenv", "", "getenv", "cf_env_uv_getenv_ret"},
      {"getenv", "cf_env_getenv", "cf_env_getenv_ret", "", ""},
      {"secure_getenv", "cf_env_secure_getenv", "cf_env_secure_getenv_ret", "", ""},
      // node::RealEnvStore::Enumerate(v8::Isolate*) const: Object.keys(process.env) and friends.
      {"_ZNK4node12RealEnvStore9EnumerateEPN2v87IsolateE", "cf_env_enumerate", "", "", ""},
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

EnvProbes::EnvProbes(AttachFn attach, DetachFn detach, std::shared_ptr<const ProcessFiles> files,
                     Placement placement)
    : attach_(std::move(attach)),
      detach_(std::move(detach)),
      files_(files ? std::move(files) : std::make_shared<ProcFiles>()),
      cache_(spec_symbols()),
      placement_(placement) {}

EnvProbes::~EnvProbes() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [pid, links] : pid_links_)
    for (PidLink& l : links) detach_pair(&l.entry, &l.ret);
  for (auto& [id, obj] : objects_) detach_all(obj);
}

EnvProbes::Scanned EnvProbes::scan(uint32_t pid) {
  Scanned out;
  const std::optional<std::string> text = files_->maps(pid);
  if (!text) {
    out.gone = true;
    return out;
  }
  const std::vector<Mapping> maps = parse_maps(*text);
  std::set<std::tuple<uint32_t, uint32_t, uint64_t>> seen;  // maps device and inode
  std::set<FileIdentity> scanned;
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
      out.files.emplace_back(id, std::move(fd), path, true);
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
    out.files.emplace_back(id, std::move(fd), m.path, false);
  }
  return out;
}

void EnvProbes::process_started(uint32_t pid, bool exec) {
  std::lock_guard<std::mutex> lock(mu_);
  Scanned found = scan(pid);
  if (found.gone) {
    release(pid, {}, true);
    return;
  }
  std::set<FileIdentity> used;
  std::map<FileIdentity, Fd> alone;  // the open files of used objects with probes for this process alone
  for (auto& [id, fd, path, is_exe] : found.files) {
    if (!use_object(pid, fd.get(), id, path)) continue;
    used.insert(id);
    const Object& obj = objects_.at(id);
    // (a program with its own getenv, bash's, is no libc another program's loader maps)
    if (placement_ == Placement::kPerProcess && !is_exe) remember_ahead(obj, fd.get());
    if (!obj.fallback.empty() || (placement_ == Placement::kPerProcess && !obj.probes.empty()))
      alone.emplace(id, std::move(fd));
  }
  release(pid, used, false);
  settle_links(pid, used, alone, exec);
}

void EnvProbes::learn(uint32_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  if (placement_ != Placement::kPerProcess) return;
  Scanned found = scan(pid);
  for (auto& [id, fd, path, is_exe] : found.files) {
    if (is_exe) continue;
    const std::shared_ptr<const ElfSymbols> symbols = cache_.lookup(fd.get(), id);
    if (!symbols->elf) continue;
    Object obj;
    obj.id = id;
    add_probes(obj, *symbols);
    remember_ahead(obj, fd.get());
  }
}

void EnvProbes::process_forked(uint32_t child) {
  if (placement_ == Placement::kPerProcess) process_started(child);
}

bool EnvProbes::defines_getenv(const std::vector<Probe>& probes) {
  for (const Probe& p : probes)
    if (std::string(p.spec->symbol) == "getenv") return true;
  return false;
}

bool EnvProbes::is_getenv_object(const FileIdentity& id) const {
  for (const Ahead& a : ahead_)
    if (a.id == id) return true;
  return false;
}

// (per process only: the object's probes are placed per process, none has a link of its own)
void EnvProbes::remember_ahead(const Object& obj, int fd) {
  if (!defines_getenv(obj.probes)) return;
  auto it = std::find_if(ahead_.begin(), ahead_.end(), [&](const Ahead& a) { return a.id == obj.id; });
  if (it == ahead_.end()) {
    Fd copy(fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!copy.valid()) return;
    ahead_.insert(ahead_.begin(), Ahead{obj.id, std::move(copy), obj.probes});
    if (ahead_.size() > kAheadMax) ahead_.pop_back();
  } else if (it != ahead_.begin()) {
    std::rotate(ahead_.begin(), it, it + 1);
  }
}

bool EnvProbes::probed(uint32_t pid, const std::set<FileIdentity>& used, const std::string& symbol) const {
  for (const FileIdentity& id : used) {
    auto obj = objects_.find(id);
    if (obj == objects_.end()) continue;
    for (const Probe& p : obj->second.probes)
      if (p.spec->symbol == symbol && p.entry && (p.ret || !*p.spec->ret)) return true;
  }
  auto links = pid_links_.find(pid);
  if (links != pid_links_.end())
    for (const PidLink& l : links->second)
      if (l.kind == PidLink::kMapped && l.spec->symbol == symbol && l.entry && used.count(l.id)) return true;
  return false;
}

void EnvProbes::place(std::vector<PidLink>& links, uint32_t pid, const FileIdentity& id, Probe& p,
                      PidLink::Kind kind, const char* ret, const std::string& path) {
  for (PidLink& l : links) {
    if (l.id != id || l.spec != p.spec) continue;
    if (l.kind == PidLink::kAhead) l.kind = kind;  // placed ahead: now its own
    return;
  }
  PidLink l{id, p.spec, kind};
  if (attach_pair(p, ret, path, static_cast<int>(pid), &l.entry, &l.ret)) links.push_back(l);
}

// The probes placed for `pid` alone, after a scan that found it mapping `used`:
//  - per process, one for each probe of each object it maps;
//  - a fallback while the function it stands in for (its unless_imports) is not probed in what
//    the process maps: before its loader has mapped libc, or where what it maps cannot be probed
//    (a copy of libc without readable symbols, say). It sees the process's reads with a probe
//    placed in this process alone, so others keep the cheaper path;
//  - per process, while it maps no getenv object, the probes of the getenv objects other probed
//    processes mapped lately, placed ahead: the kernel puts the breakpoint in when its loader
//    maps one of them.
void EnvProbes::settle_links(uint32_t pid, const std::set<FileIdentity>& used,
                             const std::map<FileIdentity, Fd>& files, bool exec) {
  std::vector<PidLink>& links = pid_links_[pid];
  // After an exec the probes are placed anew, the old ones dropped only then: a probe belongs to
  // the task it was placed for, and a thread other than the first that execs becomes the process
  // in a task of its own (the old one, and its probes, are gone with the other threads).
  std::vector<PidLink> before;
  if (exec) before.swap(links);
  bool maps_getenv = false;
  for (const FileIdentity& id : used) maps_getenv |= defines_getenv(objects_.at(id).probes);
  auto drop = [&](auto&& unwanted) {
    for (auto it = links.begin(); it != links.end();) {
      if (!unwanted(*it)) {
        ++it;
        continue;
      }
      detach_pair(&it->entry, &it->ret);
      it = links.erase(it);
    }
  };
  // Those on an object it no longer maps (an exec since), ahead of a loader that has run. A
  // probe stays with the process through an exec (the kernel keeps it for the task and places it
  // when the new program maps the file): one on the libc it mapped waits for its loader, ahead.
  for (PidLink& l : links)
    if (l.kind == PidLink::kMapped && !used.count(l.id) && !maps_getenv && is_getenv_object(l.id))
      l.kind = PidLink::kAhead;
  drop([&](const PidLink& l) {
    if (l.kind == PidLink::kMapped) return !used.count(l.id);
    if (l.kind == PidLink::kAhead) return maps_getenv && !used.count(l.id);
    return false;
  });
  if (placement_ == Placement::kPerProcess)
    for (const auto& [id, file] : files) {
      const std::string path = "/proc/self/fd/" + std::to_string(file.get());
      for (Probe& p : objects_.at(id).probes) place(links, pid, id, p, PidLink::kMapped, p.spec->ret, path);
    }
  // fallbacks no longer wanted, then those wanted
  drop([&](const PidLink& l) {
    return l.kind == PidLink::kFallback && (!used.count(l.id) || probed(pid, used, l.spec->unless_imports));
  });
  for (const auto& [id, file] : files) {
    const std::string path = "/proc/self/fd/" + std::to_string(file.get());
    for (Probe& p : objects_.at(id).fallback)
      if (!probed(pid, used, p.spec->unless_imports))
        place(links, pid, id, p, PidLink::kFallback, p.spec->alone_ret, path);
  }
  if (placement_ == Placement::kPerProcess && !maps_getenv)
    for (Ahead& a : ahead_) {
      const std::string path = "/proc/self/fd/" + std::to_string(a.file.get());
      for (Probe& p : a.probes) place(links, pid, a.id, p, PidLink::kAhead, p.spec->ret, path);
    }
  for (PidLink& l : before) detach_pair(&l.entry, &l.ret);
  if (spdlog::should_log(spdlog::level::trace)) {
    std::string what;
    for (const PidLink& l : links)
      what += std::string(" ") + l.spec->symbol +
              (l.kind == PidLink::kAhead ? "(ahead)" : l.kind == PidLink::kFallback ? "(fallback)" : "");
    spdlog::trace("env probes for pid {}{}: {} objects mapped, getenv {}mapped;{}", pid, exec ? " at exec" : "",
                  used.size(), maps_getenv ? "" : "not ", what.empty() ? " none" : what);
  }
  if (links.empty()) pid_links_.erase(pid);
}

void EnvProbes::process_exited(uint32_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  release(pid, {}, true);
}

void EnvProbes::add_probes(Object& obj, const ElfSymbols& symbols) {
  for (const EnvProbeSpec& spec : env_probe_specs()) {
    if (auto offset = symbols.offset(spec.symbol)) {
      Probe p;
      p.spec = &spec;
      p.offset = *offset;
      if (*spec.unless_imports && symbols.imports.count(spec.unless_imports))
        obj.fallback.push_back(p);
      else
        obj.probes.push_back(p);
    }
  }
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
    add_probes(obj, *symbols);
  }
  obj.users.insert(pid);
  if (placement_ == Placement::kEveryProcess) attach_missing(obj, fd);
  return true;
}

void EnvProbes::attach_missing(Object& obj, int fd) {
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  for (Probe& p : obj.probes)
    if (!p.entry) attach_pair(p, p.spec->ret, path, -1, &p.entry, &p.ret);
}

bool EnvProbes::attach_pair(Probe& p, const char* ret, const std::string& path, int pid, void** entry_link,
                            void** ret_link) {
  auto failed = [&](const char* prog, const std::string& err) {
    if (pid >= 0 && !files_->maps(static_cast<uint32_t>(pid))) return false;  // gone meanwhile: no failure
    ++counters_.attach_failures;
    ++p.failures;
    p.error = std::string(prog) + ": " + (err.empty() ? "attach failed" : err);
    return false;
  };
  std::string err;
  // The return probe goes first: an entry that fired without it would leave its in-flight
  // record behind for the LRU map to evict instead of completing it.
  if (*ret && !*ret_link) {
    *ret_link = attach_(ret, path, p.offset, true, pid, &err);
    if (!*ret_link) return failed(ret, err);
    ++counters_.attached;
  }
  *entry_link = attach_(p.spec->entry, path, p.offset, false, pid, &err);
  if (!*entry_link) {
    // No lone return probe: a uretprobe costs every caller, for nothing (tried again later).
    detach_pair(entry_link, ret_link);
    return failed(p.spec->entry, err);
  }
  ++counters_.attached;
  p.error.clear();
  return true;
}

void EnvProbes::detach_pair(void** entry_link, void** ret_link) {
  for (void** link : {entry_link, ret_link}) {
    if (!*link) continue;
    detach_(*link);
    *link = nullptr;
    ++counters_.detached;
  }
}

void EnvProbes::detach_all(Object& obj) {
  for (Probe& p : obj.probes) detach_pair(&p.entry, &p.ret);
}

void EnvProbes::release(uint32_t pid, const std::set<FileIdentity>& keep, bool gone) {
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
  if (!gone) {
    if (keep.empty())
      by_pid_.erase(pid);
    else
      by_pid_[pid] = keep;
    return;
  }
  by_pid_.erase(pid);
  auto links = pid_links_.find(pid);
  if (links == pid_links_.end()) return;
  for (PidLink& l : links->second) detach_pair(&l.entry, &l.ret);
  pid_links_.erase(links);
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
      if (placement_ == Placement::kPerProcess) {
        line += std::string("[") + p.spec->entry + (*p.spec->ret ? std::string(" ") + p.spec->ret : "") +
                ", per process" + (p.failures ? "; last failure: " + p.error : "") + "]";
      } else if (p.entry) {
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

size_t EnvProbes::process_links() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [pid, links] : pid_links_)
    for (const PidLink& l : links) n += (l.entry != nullptr) + (l.ret != nullptr);
  return n;
}

}  // namespace clawfence::env
