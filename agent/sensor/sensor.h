// The kernel side, from user space: opens, configures, loads and attaches the eBPF programs,
// owns them, reads their ring buffer and counters, and writes the tracked set and targets.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

#include "clawfence/abi.h"

struct clawfence_bpf;
struct ring_buffer;
struct bpf_link;
struct bpf_program;

namespace clawfence::sensor {

// Target definitions in the form the kernel matches them (see bpf/process/process.bpf.c).
struct KernelTargets {
  std::vector<std::string> comms;         // exact comm, at most 15 characters
  std::vector<std::string> argv_needles;  // substrings of argv, at most CF_NEEDLE_LEN bytes
  struct LeafPattern {
    std::string prefix, suffix;           // cgroup leaf name prefix*suffix, for new cgroups
    bool exact = false;                   // the whole leaf name, in prefix
  };
  std::vector<LeafPattern> cgroup_leaf_patterns;
  std::vector<uint64_t> cgroup_ids;       // existing target cgroups
};

// How file and network syscalls are observed.
enum class SyscallHooks {
  kTracepoints,  // raw_tp sys_enter/sys_exit: any kernel; every task's syscalls take the slow path
  kFentry,       // fentry/fexit on the handled syscalls' wrappers: other syscalls pay nothing
  kNone,         // none: no file operations or syscall results; the guards alone (benchmarks)
};

struct SensorOptions {
  uint32_t ringbuf_bytes = 16u << 20;  // power of two
  uint32_t max_tracked = 65536;
  std::string attach_cgroup;           // cgroup v2 directory the network hooks attach to
  // Only a process in this cgroup v2 subtree starts a watched tree (its id and its level below
  // the root; 0: any process).
  uint64_t scope_cgroup_id = 0;
  uint32_t scope_level = 0;
  uint32_t agent_tgid = 0;             // never tracked
  bool match_argv = true;              // in-kernel argv needle matching at exec
  uint32_t wakeup_bytes = 64u << 10;   // wake the reader once this much is waiting (0: every record)
  uint32_t poll_ms = 5;                // otherwise the reader looks this often
  SyscallHooks hooks = SyscallHooks::kTracepoints;
  bool fallback_to_tracepoints = true; // if the fentry programs do not load
  // BPF LSM hooks (file_open, bprm_check_security) refuse what the path patterns deny before it
  // happens; only where the kernel has BPF LSM (KernelFeatures::lsm). Off: kills at the exits.
  bool lsm = false;
  // A kprobe on may_linkat kills at a hard link to a file a kill rule denies, before the link
  // exists; only where the kernel has kprobes (KernelFeatures::kprobes) and that function.
  bool link_guard = false;
  // Pin programs' links and maps here (bpffs) so enforcement outlives the agent; if pins are
  // already there, adopt them instead of attaching again. "" = no pins (tests, monitor mode).
  std::string pin_dir;
  std::string build_id;                // this build: pins of another build get their programs replaced
  // Environment reads (bpf/env/env.bpf.c): a variable a process reads again within this long is
  // counted into the next report of it, not reported again.
  uint64_t env_fold_window_ns = 60'000'000'000ull;
  // Load the environment-read programs for uprobe-multi links (Linux 6.6+, see
  // attach_uprobe_multi), for probes placed per process; they can then not be attached through
  // perf events. Only where the kernel has them (uprobe_multi_supported).
  bool env_uprobe_multi = false;
  // Wake the reader at each fork record (environment probes placed per process: a child's are
  // placed at its fork), not only once wakeup_bytes are waiting.
  bool wake_at_fork = false;
};

// Whether the kernel has BPF uprobe-multi links (Linux 6.6+, with a pid filter).
bool uprobe_multi_supported();

// What is pinned under a pin directory, for `clawfence status`.
struct PinnedLink {
  std::string name;      // the program's name (cf_connect4, ...)
  std::string kind;      // "cgroup connect4 on cgroup 1234", "raw_tracepoint sys_exit"
  uint32_t prog_id = 0;
};
std::vector<PinnedLink> list_pinned_links(const std::string& pin_dir);
// Detaches every pinned link and removes the pins; returns what it removed, one line each.
// Throws std::runtime_error when a pin cannot be removed.
std::vector<std::string> unload_pins(const std::string& pin_dir);
bool has_pins(const std::string& pin_dir);
// SHA-256 (hex, first 16 digits) of the embedded eBPF object: which programs pins came from.
std::string object_digest();

using Counters = std::array<uint64_t, CF_CNT_MAX>;
// The kernel counters in the (per-CPU) counters map behind `fd`, summed over CPUs.
Counters read_counters(int fd);


// Called on the reader thread for each record; must only copy and queue.
using RecordCallback = std::function<void(const void* data, size_t size)>;

// Where a process tracked from user space stands in the tree (the kernel judges the same at fork
// and exec for the processes it sees start): its role, the role of the process it was forked
// from (CF_ORIGIN_ROOT: it starts a tree), its tool run (0: its own).
struct TrackedRole {
  uint8_t role = 0;
  uint8_t origin = CF_ORIGIN_ROOT;
  uint32_t group = 0;
};

class Sensor {
 public:
  // Opens, configures, loads and attaches. Throws std::runtime_error with the reason.
  static std::unique_ptr<Sensor> start(const SensorOptions& opts, const KernelTargets& targets);
  ~Sensor();
  Sensor(const Sensor&) = delete;
  Sensor& operator=(const Sensor&) = delete;

  // Replaces the target maps. Returns "" or an error text.
  std::string set_targets(const KernelTargets& targets);
  // Tracks tgid from user space (seeding, `clawfence run`). False if the map is full.
  bool track(uint32_t tgid, uint32_t root_tgid, uint32_t reason, const TrackedRole& role = TrackedRole());
  bool is_tracked(uint32_t tgid) const;
  // Every tracked tgid (an adopted map may hold processes tracked while no agent ran).
  std::vector<uint32_t> tracked_pids() const;
  void untrack(uint32_t tgid);
  // Gives every tracked process (and the role it was forked from) role map[old] for role old;
  // indices past the map become 0 (no role).
  void renumber_roles(const std::vector<uint8_t>& map);
  size_t tracked_count() const;
  Counters counters() const;
  // How full the ring buffer is now (0..1): bytes the kernel produced that no reader consumed yet.
  double ringbuf_fill() const;

  // Reader thread: polls the ring buffer and hands records to `cb` until stop_reader();
  // `after_poll` (optional) runs after each poll that read records, so a consumer can hand a
  // poll's records on at once (one wakeup per poll, not one per record).
  void start_reader(RecordCallback cb, std::function<void()> after_poll = {});
  // Stops polling after draining what the ring buffer holds.
  void stop_reader();
  // Reads what is in the ring buffer now, on the caller's thread (tests, drains).
  int drain();

  // The descriptor of one of the object's maps by name (guard_config, guard_names, ...), or -1.
  int map_fd(const std::string& name) const;
  // One of the object's programs by name, or nullptr: the environment uprobes (cf_env_getenv,
  // ...) name no binary and are attached by the caller to the objects watched processes map.
  bpf_program* program(const std::string& name) const;
  // A uprobe (or, `ret`, a uretprobe) of program `prog` at file offset `offset` of `path`, for
  // process `pid` alone, as a BPF uprobe-multi link: its file descriptor, or -1 with *err set.
  // Unlike a perf-event uprobe, creating or closing one does not take the kernel's tracing
  // mutex, and closes overlap (bench/findings.md). Needs SensorOptions::env_uprobe_multi.
  int attach_uprobe_multi(const std::string& prog, const std::string& path, uint64_t offset, bool ret, int pid,
                          std::string* err) const;
  bool env_uprobe_multi() const { return env_uprobe_multi_; }

  // What is attached, one line each, for the start-up log.
  const std::vector<std::string>& attachments() const { return attachments_; }
  SyscallHooks hooks() const { return hooks_; }
  // The pins were there at start and were adopted (no second attach).
  bool adopted() const { return adopted_; }
  bool pinned() const { return !pin_dir_.empty(); }
  // Pins everything now (the rules switched to enforce mode after start). Throws on failure.
  void pin(const std::string& pin_dir) {
    pin_dir_ = pin_dir;
    pin_all();
  }
  // At destruction: keep the pins (enforcement stays in force) or remove them with the links.
  void keep_pins_on_exit(bool keep) { keep_pins_ = keep; }

 private:
  Sensor() = default;
  static std::unique_ptr<Sensor> try_start(const SensorOptions& opts, const KernelTargets& targets);
  void open_and_configure(const SensorOptions& opts);
  void load();
  void attach(const SensorOptions& opts);
  void reuse_pinned_maps(const std::string& pin_dir);
  void adopt_links(const SensorOptions& opts);
  void pin_all();
  static int on_record(void* ctx, void* data, size_t size);

  clawfence_bpf* skel_ = nullptr;
  ring_buffer* rb_ = nullptr;
  std::vector<bpf_link*> links_;
  std::vector<const ::bpf_program*> link_progs_;  // the program of links_[i]
  std::vector<std::string> attachments_;
  int cgroup_fd_ = -1;
  RecordCallback cb_;
  std::thread reader_;
  std::atomic<bool> stop_{false};
  int poll_ms_ = 100;
  bool env_uprobe_multi_ = false;
  SyscallHooks hooks_ = SyscallHooks::kTracepoints;
  std::string pin_dir_;
  bool adopted_ = false;
  bool keep_pins_ = true;
  std::vector<int> adopted_link_fds_;
  // the ring buffer's consumer and producer position pages, mapped read-only for ringbuf_fill()
  mutable std::mutex rb_pos_mu_;
  mutable const volatile unsigned long* rb_cons_ = nullptr;
  mutable const volatile unsigned long* rb_prod_ = nullptr;
};

// Routes libbpf's own log into spdlog, by level.
void route_libbpf_log();

}  // namespace clawfence::sensor
