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
#include <thread>
#include <vector>

#include "clawfence/abi.h"

struct clawfence_bpf;
struct ring_buffer;
struct bpf_link;

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
};

struct SensorOptions {
  uint32_t ringbuf_bytes = 16u << 20;  // power of two
  uint32_t max_tracked = 65536;
  std::string attach_cgroup;           // cgroup v2 directory the network hooks attach to
  uint32_t agent_tgid = 0;             // never tracked
  bool match_argv = true;              // in-kernel argv needle matching at exec
  uint32_t wakeup_bytes = 64u << 10;   // wake the reader once this much is waiting (0: every record)
  uint32_t poll_ms = 5;                // otherwise the reader looks this often
  SyscallHooks hooks = SyscallHooks::kTracepoints;
  bool fallback_to_tracepoints = true; // if the fentry programs do not load
};

using Counters = std::array<uint64_t, CF_CNT_MAX>;

// Bytes a tracked process sent to one destination since the previous read.
struct EgressSample {
  uint32_t tgid = 0;
  uint16_t family = 0;
  uint16_t port = 0;
  uint8_t addr[16] = {};
  uint64_t bytes = 0;
};

// Called on the reader thread for each record; must only copy and queue.
using RecordCallback = std::function<void(const void* data, size_t size)>;

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
  bool track(uint32_t tgid, uint32_t root_tgid, uint32_t reason);
  bool is_tracked(uint32_t tgid) const;
  size_t tracked_count() const;
  Counters counters() const;

  // Reader thread: polls the ring buffer and hands records to `cb` until stop_reader().
  void start_reader(RecordCallback cb);
  // Stops polling after draining what the ring buffer holds.
  void stop_reader();
  // Reads what is in the ring buffer now, on the caller's thread (tests, drains).
  int drain();
  // Bytes sent by tracked processes since the previous call, per destination.
  std::vector<EgressSample> egress_deltas();

  // What is attached, one line each, for the start-up log.
  const std::vector<std::string>& attachments() const { return attachments_; }
  SyscallHooks hooks() const { return hooks_; }

 private:
  Sensor() = default;
  static std::unique_ptr<Sensor> try_start(const SensorOptions& opts, const KernelTargets& targets);
  void open_and_configure(const SensorOptions& opts);
  void load();
  void attach(const SensorOptions& opts);
  static int on_record(void* ctx, void* data, size_t size);

  clawfence_bpf* skel_ = nullptr;
  ring_buffer* rb_ = nullptr;
  std::vector<bpf_link*> links_;
  std::vector<std::string> attachments_;
  int cgroup_fd_ = -1;
  RecordCallback cb_;
  std::thread reader_;
  std::atomic<bool> stop_{false};
  int poll_ms_ = 100;
  SyscallHooks hooks_ = SyscallHooks::kTracepoints;
  std::map<std::vector<uint8_t>, uint64_t> egress_seen_;
};

// Routes libbpf's own log into spdlog, by level.
void route_libbpf_log();

}  // namespace clawfence::sensor
