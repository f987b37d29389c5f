// Where the environment-read uprobes (bpf/env/env.bpf.c) are attached.
//
// Each probe goes on the object that defines its symbol: libc for getenv and secure_getenv; the
// node executable, or libuv.so.1 and libnode.so.* when Node links them dynamically, for
// uv_os_getenv and node::RealEnvStore::Enumerate. EnvProbes keeps, per object (by file identity,
// whatever path reached it), the processes it was asked to probe that map it. Two placements:
//
//  - every process (the agent's default, `env_probes: host`): each probe is attached once per
//    object (pid -1); the programs filter on the tracked-process map in the kernel, and every
//    process on the host that maps the object takes the trap. The probes stay while a probed
//    process maps the object.
//  - per process (`judged`, `watched`): each probe is placed for each such process alone (a
//    uprobe with a pid: the kernel writes its breakpoint into that process's memory only, at
//    once or when it maps the file). Every other process, the assistant's gateway and the rest
//    of the host included, runs getenv untouched: a trap costs ~6 µs on a VM, and the real
//    gateway reads its environment ~12,000 times in a chat. A process whose scan finds no getenv
//    mapped yet (its loader has not run) gets its probes ahead on the getenv objects other
//    probed processes map, so the breakpoint is in place when its loader maps that libc. A
//    probe placed after the fact can be outrun (README, Secrets).
//
// A file is only ever opened through a link the kernel resolves for the process
// (/proc/PID/exe, /proc/PID/map_files/START-END) or, failing that, through /proc/PID/root and
// then checked against the device and inode /proc/PID/maps gives. The attach call gets
// /proc/self/fd/N of that open descriptor, so the probe lands on the inode checked, even if the
// process renames another file into the path meanwhile.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "env/symbols.h"

namespace clawfence::env {

// A file-backed line of /proc/PID/maps.
struct Mapping {
  uint64_t start = 0;
  uint64_t end = 0;
  bool exec = false;
  uint32_t dev_major = 0;
  uint32_t dev_minor = 0;
  uint64_t ino = 0;
  std::string path;  // as the kernel prints it, " (deleted)" included
};

// The file mappings of a maps text; anonymous and special ones ([heap], [vdso]) are left out.
std::vector<Mapping> parse_maps(const std::string& text);

// How EnvProbes reaches a process's files. Descriptors returned are read-only, close-on-exec and
// the caller's to close; -1 when the file cannot be opened.
class ProcessFiles {
 public:
  virtual ~ProcessFiles() = default;
  // The text of /proc/PID/maps, or nullopt when the process is gone.
  virtual std::optional<std::string> maps(uint32_t pid) const = 0;
  // The process's executable.
  virtual int open_exe(uint32_t pid) const = 0;
  // The file of mapping `m` of the process. Not yet checked against m.
  virtual int open_mapped(uint32_t pid, const Mapping& m) const = 0;
};

// ProcessFiles over a /proc tree (the real one, or a fixture in tests): /proc/PID/map_files/ when
// it can be read (it needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE), else the mapped path
// resolved inside /proc/PID/root (openat2 RESOLVE_IN_ROOT, so the process's own symlinks are
// followed within its root and not ours).
class ProcFiles : public ProcessFiles {
 public:
  explicit ProcFiles(std::string root = "/proc");
  std::optional<std::string> maps(uint32_t pid) const override;
  int open_exe(uint32_t pid) const override;
  int open_mapped(uint32_t pid, const Mapping& m) const override;

 private:
  std::string root_;
};

// A file descriptor, closed on scope exit; movable.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      if (fd_ >= 0) close(fd_);
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
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

// A probed symbol and its programs (bpf/env/env.bpf.c); `ret` is "" for an entry-only probe.
// `unless_imports`: not probed for every process in a file that calls this function from a shared
// library, whose own probes see the same read ("" = always probed); probed for one process alone,
// with `alone_ret` as its return program, while that function is not probed in what it maps.
struct EnvProbeSpec {
  const char* symbol;
  const char* entry;
  const char* ret;
  const char* unless_imports;
  const char* alone_ret;
};
const std::vector<EnvProbeSpec>& env_probe_specs();

enum class Placement { kEveryProcess, kPerProcess };

class EnvProbes {
 public:
  // Attaches program `prog` at `offset` of the file at `path` for process `pid` alone, or for
  // every process (-1); returns a handle for DetachFn, or nullptr with *err set. `path` stays
  // valid only during the call.
  using AttachFn = std::function<void*(const std::string& prog, const std::string& path, uint64_t offset,
                                       bool retprobe, int pid, std::string* err)>;
  using DetachFn = std::function<void(void*)>;

  struct Counters {
    uint64_t attached = 0;             // program attachments made
    uint64_t detached = 0;
    uint64_t attach_failures = 0;      // program attachments that failed (retried on the next scan)
    uint64_t open_failures = 0;        // mapped files that could not be opened
    uint64_t identity_mismatches = 0;  // an opened file was not the one the process maps
    uint64_t not_elf = 0;              // executable mappings whose file is not a readable ELF object
  };

  EnvProbes(AttachFn attach, DetachFn detach, std::shared_ptr<const ProcessFiles> files = nullptr,
            Placement placement = Placement::kEveryProcess);
  ~EnvProbes();  // detaches everything still attached
  EnvProbes(const EnvProbes&) = delete;
  EnvProbes& operator=(const EnvProbes&) = delete;

  // Scans a watched process: the objects it now maps (its executable and the files of its
  // executable mappings) that define a probed symbol get the probes they lack, and it stops
  // counting as a user of objects it no longer maps (after an exec). Call it at exec and again
  // once the dynamic loader has run (at exec only ld.so and the executable are mapped) or after
  // a dlopen; a scan of a process that is gone is its exit.
  // `exec`: the scan follows an exec (a probe placed for the process before is placed anew).
  void process_started(uint32_t pid, bool exec = false);
  // Per process: `child` was forked by a probed process. The kernel does not copy a process's
  // probes to its child (they stay with the child through its exec): it is scanned as it
  // starts. Nothing to do when every process has the probes.
  void process_forked(uint32_t child);
  // The process is gone (or no longer watched): objects it was the last user of are detached.
  void process_exited(uint32_t pid);
  // Per process: remembers the getenv objects `pid` maps (the agent's own libc, at start) to
  // place probes ahead on, without probing `pid`.
  void learn(uint32_t pid);

  // One line per probed object: path, identity, symbols and offsets, programs attached or the
  // last failure, number of processes.
  std::vector<std::string> status() const;
  Counters counters() const;
  size_t objects() const;  // objects with probes wanted (attached or not)
  size_t process_links() const;  // probes placed for one process alone, entry and return each
  Placement placement() const { return placement_; }

 private:
  struct Probe {
    const EnvProbeSpec* spec = nullptr;
    uint64_t offset = 0;
    void* entry = nullptr;
    void* ret = nullptr;
    std::string error;  // of the last failed try
    uint64_t failures = 0;
  };
  struct Object {
    FileIdentity id;
    std::string path;  // as the first user's maps named it (for the log)
    std::vector<Probe> probes;
    // Entry-only probes left out because the file takes a function from a shared library whose
    // probes see the same read (EnvProbeSpec::unless_imports): attached for one process alone
    // when no scan of it has found that function probed in what it maps.
    std::vector<Probe> fallback;
    std::set<uint32_t> users;
  };
  // A getenv object a probed process mapped lately, its file kept open: per process, a process
  // whose loader has not mapped its libc yet gets probes ahead on these.
  struct Ahead {
    FileIdentity id;
    Fd file;
    std::vector<Probe> probes;
  };
  // A probe placed for one process: one of its objects' probes (per process), one placed ahead
  // of its loader (per process), or a fallback.
  struct PidLink {
    enum Kind { kMapped, kAhead, kFallback };
    FileIdentity id;
    const EnvProbeSpec* spec = nullptr;
    Kind kind = kMapped;
    void* entry = nullptr;
    void* ret = nullptr;
  };
  // At most this many getenv objects get probes ahead for a process that maps none yet.
  static constexpr size_t kAheadMax = 8;

  // The probes a file with `symbols` gets: its `probes`, and its `fallback` ones.
  static void add_probes(Object& obj, const ElfSymbols& symbols);
  static bool defines_getenv(const std::vector<Probe>& probes);
  // Whether the file defines a probed symbol; if so the process now uses it.
  bool use_object(uint32_t pid, int fd, const FileIdentity& id, const std::string& path);
  // Per process: `obj` (open as `fd`) is the most recently mapped getenv object.
  void remember_ahead(const Object& obj, int fd);
  bool is_getenv_object(const FileIdentity& id) const;  // one of ahead_
  // The objects of `pid`'s scan: (the executable first, then its executable mappings) each with
  // its open file, checked against what maps says. Empty when the process is gone.
  struct Scanned {
    bool gone = false;
    std::vector<std::tuple<FileIdentity, Fd, std::string, bool>> files;  // identity, file, path, executable
  };
  Scanned scan(uint32_t pid);
  void attach_missing(Object& obj, int fd);
  // Attaches `p`'s entry program and `ret` ("" for none; the return first) at its offset of the
  // file at `path` for `pid` (-1: every process) into the two links; on a failure `p` records it
  // and no lone return probe is left. Whether both are attached.
  bool attach_pair(Probe& p, const char* ret, const std::string& path, int pid, void** entry_link, void** ret_link);
  void detach_pair(void** entry_link, void** ret_link);
  void detach_all(Object& obj);
  // Stops `pid` using objects it no longer maps (all but `keep`); when it is `gone`, so are the
  // probes placed for it alone.
  void release(uint32_t pid, const std::set<FileIdentity>& keep, bool gone);
  // Whether `symbol` is probed for `pid` in one of `used` (for every process, or for it alone;
  // not counting probes placed ahead).
  bool probed(uint32_t pid, const std::set<FileIdentity>& used, const std::string& symbol) const;
  // After a scan of `pid` that found `used`: the probes placed for it alone attached or dropped
  // as they are wanted. `files` are the open files of the used objects with such probes.
  void settle_links(uint32_t pid, const std::set<FileIdentity>& used, const std::map<FileIdentity, Fd>& files,
                    bool exec);
  // Attaches probe `p` of object `id` (file at `path`) for `pid` alone, unless it has it.
  void place(std::vector<PidLink>& links, uint32_t pid, const FileIdentity& id, Probe& p, PidLink::Kind kind,
             const char* ret, const std::string& path);

  AttachFn attach_;
  DetachFn detach_;
  std::shared_ptr<const ProcessFiles> files_;
  mutable std::mutex mu_;
  SymbolCache cache_;
  std::map<FileIdentity, Object> objects_;
  std::unordered_map<uint32_t, std::set<FileIdentity>> by_pid_;
  std::unordered_map<uint32_t, std::vector<PidLink>> pid_links_;
  std::vector<Ahead> ahead_;  // most recently mapped first, at most kAheadMax
  Counters counters_;
  const Placement placement_;
};

}  // namespace clawfence::env
