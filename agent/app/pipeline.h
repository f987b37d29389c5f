// The path of a record through user space: the ring-buffer reader copies it into a bounded
// queue (a full queue is a counted drop, never a stalled reader); one worker decodes it,
// applies it to the process table, and writes it to the sinks. Losses anywhere on the way
// become Gap events in the output.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "enforce/guard.h"
#include "env/probes.h"
#include "output/json_lines.h"
#include "output/output.h"
#include "output/stream_filter.h"
#include "policy/engine.h"
#include "process/tracker.h"
#include "sensor/bounded_queue.h"
#include "sensor/decoder.h"
#include "sensor/sensor.h"

namespace clawfence::app {

struct PipelineStats {
  uint64_t records = 0;        // taken from the ring buffer
  uint64_t queue_dropped = 0;  // lost because the queue was full
  uint64_t decode_errors = 0;  // malformed or unknown records
  uint64_t written = 0;        // events written
  uint64_t left_out = 0;       // of those, kept from the stream by its detail (the audit log has them with --audit-all)
  uint64_t env_quiet = 0;      // environment reads of variables that are no secret: counted, not written
  uint64_t kernel_lost = 0;    // ring buffer full in the kernel
  uint64_t alerts = 0;         // alerts written
  uint64_t reloads = 0;        // rule reloads that took effect
  uint64_t reload_failures = 0;
};

// Replaces the rules in force, on the worker thread, between two records. Returns "" or why
// the new rules were refused (the old ones then stay).
using Reloader = std::function<std::string(process::Tracker&, std::unique_ptr<policy::Engine>&)>;

class Pipeline {
 public:
  Pipeline(sensor::Sensor& sensor, process::Tracker& tracker, output::JsonLinesSink& sink,
           const sensor::BootClock& clock, size_t queue_capacity, std::unique_ptr<policy::Engine> engine = nullptr,
           Reloader reloader = nullptr);
  ~Pipeline();

  // Names the rules behind kernel verdicts (before start; nullptr: none).
  void set_guard(enforce::Guard* guard) { guard_ = guard; }
  // Attaches the environment probes to what watched processes map (before start; nullptr: none).
  // `judged`: only processes of a role an env rule judges get them (every one without rules).
  void set_env_probes(env::EnvProbes* probes, bool judged = false) {
    env_probes_ = probes;
    env_judged_ = judged;
  }
  // Another output behind the JSON lines (before start): audit log, PagerDuty, metrics see every
  // event; a stream output (the tail) sees what the JSON lines see (set_detail).
  void add_output(output::EventOutput* out) { outputs_.push_back(out); }
  void add_stream_output(output::EventOutput* out) { stream_outputs_.push_back(out); }
  // How much the JSON lines and the stream outputs carry (before start; default: all).
  void set_detail(output::Detail d) { stream_ = output::StreamFilter(d); }
  output::Detail detail() const { return stream_.detail(); }
  // An event from outside the worker (an output's trouble, the agent's start and stop): written
  // by the worker, in order with the rest, to every output. Thread-safe.
  void report(v1::Event ev);
  // When the worker last went round its loop (it does at least every 200 ms while it runs).
  std::chrono::steady_clock::time_point last_turn() const {
    return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(last_turn_.load()));
  }
  // Scans these (seeded) processes for the environment probes, on the worker.
  void scan_env(const std::vector<uint32_t>& pids);
  void start();
  // Asks the worker to reload the rules (SIGHUP, a changed rule file).
  void request_reload() { reload_requested_.store(true); }
  // Drains the ring buffer and the queue, then stops both threads.
  void stop();
  PipelineStats stats() const;

 private:
  void worker();
  // Applies one decoded record: process table, environment probes, rules, outputs.
  void apply(sensor::DecodedRecord& rec);
  void release_held(uint32_t tgid);
  void release_due(bool all);
  void report_gaps();
  void write_gap(const char* where, uint64_t lost, uint64_t total);
  void untracked_child(const v1::Event& fork);
  v1::Event builtin_alert(const char* rule_id, const char* severity, const char* action, const char* outcome,
                          const std::string& mechanism, const char* description) const;
  // Writes one event to every output, and to the JSON lines and the stream outputs when
  // `to_stream` (the detail keeps it).
  void emit(const v1::Event& ev, uint64_t process_generation = 0, bool to_stream = true);
  void drain_reports();
  bool keep_in_stream(const v1::Event& ev, bool judged);
  void write_alerts();
  void reload();

  sensor::Sensor& sensor_;
  process::Tracker& tracker_;
  output::JsonLinesSink& sink_;
  const sensor::BootClock& clock_;
  sensor::BoundedQueue<std::string> queue_;
  // The records of the reader's current poll, handed to queue_ together (the reader's own).
  static constexpr size_t kPolledMax = 256;
  std::vector<std::string> polled_;
  std::thread worker_;
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> decode_errors_{0};
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> env_quiet_{0};  // environment reads of non-secret variables, not written
  std::unique_ptr<policy::Engine> engine_;
  enforce::Guard* guard_ = nullptr;
  env::EnvProbes* env_probes_ = nullptr;
  bool env_judged_ = false;
  bool env_wanted(const v1::Process& p) const;
  // Processes to scan again for probes once their dynamic loader has mapped the libraries:
  // (when, pid), on the worker only; seeded pids arrive from the main thread under the mutex.
  std::deque<std::pair<std::chrono::steady_clock::time_point, uint32_t>> env_rescans_;
  std::mutex env_mu_;
  std::vector<uint32_t> env_seeded_;
  void env_events(const v1::Event& ev);
  void env_due();
  // EXEC records wait (on the worker) for the ENV record the kernel writes right after one: the
  // environment the new program was handed, with the fingerprints of its values. The secrets in
  // it must be known before the exec's argv is stored or written (its argv may hold them). One
  // that does not come (lost) releases the exec after kHoldFor; anything else of the same process
  // releases it at once.
  struct HeldExec {
    sensor::DecodedRecord rec;
    std::chrono::steady_clock::time_point until;
  };
  std::deque<HeldExec> held_;
  static constexpr size_t kMaxHeld = 4096;
  static constexpr std::chrono::milliseconds kHoldFor{100};
  std::vector<output::EventOutput*> outputs_, stream_outputs_;
  output::StreamFilter stream_{output::Detail::kAll};
  std::atomic<uint64_t> left_out_{0};
  std::mutex reports_mu_;
  std::vector<v1::Event> reports_;
  std::atomic<std::chrono::steady_clock::rep> last_turn_{std::chrono::steady_clock::now().time_since_epoch().count()};
  Reloader reloader_;
  std::atomic<bool> reload_requested_{false};
  std::vector<v1::Event> alerts_;
  std::atomic<uint64_t> alerts_written_{0};
  std::atomic<uint64_t> reloads_{0};
  std::atomic<uint64_t> reload_failures_{0};
  uint64_t reported_kernel_lost_ = 0;
  uint64_t reported_queue_lost_ = 0;
  uint64_t reported_env_probe_failures_ = 0;
  uint64_t reported_sink_lost_ = 0;
  uint64_t reported_fail_closed_ = 0;
  uint64_t untracked_ = 0;  // children of watched processes the kernel could not track
  std::chrono::steady_clock::time_point next_gap_check_{};
  bool running_ = false;
};

}  // namespace clawfence::app
