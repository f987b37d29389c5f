#include "app/pipeline.h"

#include <spdlog/spdlog.h>

#include "common/thread_name.h"
#include "enforce/guard.h"
#include "proto/timestamp.h"

#include <signal.h>

#include <climits>
#include <vector>

namespace clawfence::app {

Pipeline::Pipeline(sensor::Sensor& sensor, process::Tracker& tracker, output::JsonLinesSink& sink,
                   const sensor::BootClock& clock, size_t queue_capacity, std::unique_ptr<policy::Engine> engine,
                   Reloader reloader)
    : sensor_(sensor),
      tracker_(tracker),
      sink_(sink),
      clock_(clock),
      queue_(queue_capacity),
      engine_(std::move(engine)),
      reloader_(std::move(reloader)) {}

Pipeline::~Pipeline() { stop(); }

void Pipeline::start() {
  running_ = true;
  worker_ = std::thread([this] {
    common::name_this_thread("cf-pipeline");
    worker();
  });
  // A poll's records go to the worker together: a wakeup of the worker per record cost more
  // than the record's own work on this VM (a context switch each way).
  sensor_.start_reader(
      [this](const void* data, size_t size) {
        records_.fetch_add(1, std::memory_order_relaxed);
        polled_.emplace_back(static_cast<const char*>(data), size);
        if (polled_.size() >= kPolledMax) queue_.push_all(polled_);
      },
      [this] { queue_.push_all(polled_); });
}

void Pipeline::stop() {
  if (!running_) return;
  running_ = false;
  sensor_.stop_reader();
  queue_.close();
  if (worker_.joinable()) worker_.join();
}

PipelineStats Pipeline::stats() const {
  PipelineStats s;
  s.records = records_.load();
  s.queue_dropped = queue_.dropped();
  s.decode_errors = decode_errors_.load();
  s.written = written_.load();
  s.left_out = left_out_.load();
  s.env_quiet = env_quiet_.load();
  s.kernel_lost = sensor_.counters()[CF_CNT_RINGBUF_FULL];
  s.alerts = alerts_written_.load();
  s.reloads = reloads_.load();
  s.reload_failures = reload_failures_.load();
  return s;
}

void Pipeline::emit(const v1::Event& ev, uint64_t process_generation, bool to_stream) {
  if (to_stream) {
    sink_.write(ev, process_generation);
    for (auto* out : stream_outputs_) out->write(ev);
  } else {
    left_out_.fetch_add(1, std::memory_order_relaxed);
  }
  for (auto* out : outputs_) out->write(ev);
}

bool Pipeline::keep_in_stream(const v1::Event& ev, bool judged) {
  output::StreamSubject subject;
  subject.run = ev.process().pid();
  if (engine_ && !ev.process().role().empty()) {
    subject.own = !engine_->is_final(ev.process().role());
    subject.run = engine_->tool_run(ev.process());
  }
  return stream_.keep(ev, judged, subject);
}

void Pipeline::report(v1::Event ev) {
  if (!ev.has_time()) v1::set_timestamp(v1::unix_now_ns(), ev.mutable_time());
  std::lock_guard<std::mutex> l(reports_mu_);
  if (reports_.size() < 100000) reports_.push_back(std::move(ev));  // bounded: reports are rare
}

void Pipeline::drain_reports() {
  std::vector<v1::Event> evs;
  {
    std::lock_guard<std::mutex> l(reports_mu_);
    evs.swap(reports_);
  }
  for (const auto& ev : evs) {
    emit(ev);
    written_.fetch_add(1, std::memory_order_relaxed);
  }
}

void Pipeline::write_gap(const char* where, uint64_t lost, uint64_t total) {
  emit(output::gap_event(where, lost, total));
  spdlog::warn("{} records lost ({}; {} in total)", lost, where, total);
}

// A process of a watched tree the kernel could not track (its tracked map full): what it does is
// not seen. A GAP record, and an alert naming its parent; fail-closed in enforce mode the kernel
// killed both.
void Pipeline::untracked_child(const v1::Event& fork) {
  ++untracked_;
  write_gap("tracked_map_full", 1, untracked_);
  const bool killed = fork.fork().killed();
  v1::Event ev = builtin_alert("tracking-lost", "critical", killed ? "kill" : "alert", killed ? "killed" : "alerted",
                               killed ? "SIGKILL at fork (parent) and at the child's first syscall (fail-closed)"
                                      : "tracked map full (--max-tracked): the child runs unwatched",
                               "a process of a watched tree could not be tracked");
  *ev.mutable_time() = fork.time();
  *ev.mutable_process() = fork.process();
  ev.mutable_alert()->mutable_evidence()->set_target_pid(fork.fork().child_pid());
  ev.mutable_alert()->set_role(fork.process().role());
  alerts_.push_back(std::move(ev));
}

// An alert the agent raises itself, of no rule file (fail-closed, tracking-lost), stamped now.
v1::Event Pipeline::builtin_alert(const char* rule_id, const char* severity, const char* action, const char* outcome,
                                  const std::string& mechanism, const char* description) const {
  v1::Event ev;
  v1::set_timestamp(v1::unix_now_ns(), ev.mutable_time());
  ev.set_kind(v1::Event::ALERT);
  auto* a = ev.mutable_alert();
  a->set_rule_id(rule_id);
  a->set_severity(severity);
  a->set_action(action);
  a->set_outcome(outcome);
  a->set_mechanism(mechanism);
  a->set_description(description);
  a->set_mode(engine_ ? policy::to_string(engine_->mode()) : "monitor");
  return ev;
}

void Pipeline::report_gaps() {
  const sensor::Counters counters = sensor_.counters();  // one read of every CPU's counters
  const uint64_t kernel = counters[CF_CNT_RINGBUF_FULL];
  if (kernel > reported_kernel_lost_) {
    write_gap("kernel_ringbuf", kernel - reported_kernel_lost_, kernel);
    reported_kernel_lost_ = kernel;
  }
  // Connections refused by fail-closed happen while records are being lost, so their own NET
  // records may be gone too: the kernel's count of them is reported as one alert.
  const uint64_t refused = counters[CF_CNT_FAIL_CLOSED];
  if (refused > reported_fail_closed_) {
    v1::Event ev = builtin_alert("fail-closed", "error", "block", "blocked",
                                 "cgroup connect/sendmsg hooks (fail-closed while the ring buffer was full)",
                                 "egress of watched processes refused while records were being lost");
    ev.mutable_alert()->set_count(static_cast<uint32_t>(refused - reported_fail_closed_));
    if (!engine_) ev.mutable_alert()->set_mode("enforce");  // only enforce mode refuses
    alerts_.push_back(std::move(ev));
    write_alerts();
    reported_fail_closed_ = refused;
  }
  const uint64_t queue = queue_.dropped();
  if (queue > reported_queue_lost_) {
    write_gap("user_queue", queue - reported_queue_lost_, queue);
    reported_queue_lost_ = queue;
  }
  // Environment-read probes that could not be placed (out of file descriptors, say): the reads of
  // the processes they were for go unseen.
  if (env_probes_) {
    const uint64_t failed = env_probes_->counters().attach_failures;
    if (failed > reported_env_probe_failures_) {
      write_gap("env_probes", failed - reported_env_probe_failures_, failed);
      reported_env_probe_failures_ = failed;
    }
  }
  // The JSON lines could not be written (disk full, a closed pipe): the other outputs say so.
  const uint64_t sink = sink_.failed();
  if (sink > reported_sink_lost_) {
    write_gap("json_lines", sink - reported_sink_lost_, sink);
    reported_sink_lost_ = sink_.failed();  // the gap's own line, if it failed too, is not news
  }
}

void Pipeline::write_alerts() {
  for (auto& a : alerts_) {
    // A kill rule the kernel could not match (its pattern has no kernel form) is carried out
    // here, after the fact: the process is already past the open, but it does not go on.
    auto* m = a.mutable_alert();
    if (m->mode() == "enforce" && m->action() == "kill" && m->outcome() == "alerted" && !m->folded() &&
        engine_ && engine_->may_kill(m->role()) &&
        (!m->evidence().path().empty() || !m->evidence().exe().empty()) && sensor_.is_tracked(a.process().pid()) &&
        kill(static_cast<pid_t>(a.process().pid()), SIGKILL) == 0) {
      m->set_outcome("killed");
      m->set_mechanism("SIGKILL from user space after the event (no kernel form for the pattern)");
    }
    emit(a);
    const auto& al = a.alert();
    const auto& e = al.evidence();
    std::string what = !e.path().empty()      ? e.path()
                       : !e.address().empty() ? (e.hostname().empty() ? e.address() : e.hostname() + " " + e.address()) +
                                                    ":" + std::to_string(e.port())
                       : !e.exe().empty()     ? e.exe()
                       : !e.via().empty()     ? e.via() + (e.target_pid() ? " of pid " + std::to_string(e.target_pid()) : "")
                       : !e.protocol().empty() ? e.protocol()
                                              : std::string();
    spdlog::log(al.severity() == "critical" || al.severity() == "error" ? spdlog::level::warn : spdlog::level::info,
                "alert {} ({}, {}, {}): {} by pid {} {} [{}]{}", al.rule_id(), al.severity(), al.outcome(),
                al.role().empty() ? "no role" : al.role(), what, a.process().pid(), a.process().comm(),
                al.description().empty() ? al.action() : al.description(),
                al.count() > 1 ? " x" + std::to_string(al.count()) : "");
  }
  alerts_written_.fetch_add(alerts_.size(), std::memory_order_relaxed);
  alerts_.clear();
}

void Pipeline::scan_env(const std::vector<uint32_t>& pids) {
  std::lock_guard<std::mutex> l(env_mu_);
  env_seeded_.insert(env_seeded_.end(), pids.begin(), pids.end());
}

bool Pipeline::env_wanted(const v1::Process& p) const {
  return !env_judged_ || !engine_ || engine_->judges_env_reads_of(p.role());
}

// A watched process's exec: its executable is mapped now, its libraries (libc, libuv, libnode)
// only once the dynamic loader has run, so it is scanned again a little later. A process's
// rename may be what made it watched (OpenClaw's gateway, tracked when it names itself
// "openclaw", long after its exec): it is scanned then too, and so is a probed process's child
// (EnvProbes::process_forked). With `judged`, a process of a role no env rule judges gets none.
void Pipeline::env_events(const v1::Event& ev) {
  const uint32_t pid = ev.process().pid();
  if (ev.kind() == v1::Event::FORK) {
    if (!ev.fork().untracked() && env_wanted(ev.process())) env_probes_->process_forked(ev.fork().child_pid());
    return;
  }
  if (ev.kind() == v1::Event::EXEC || ev.kind() == v1::Event::COMM) {
    if (!env_wanted(ev.process())) {
      env_probes_->process_exited(pid);  // (an exec out of a judged role: its probes go)
      return;
    }
    env_probes_->process_started(pid, ev.kind() == v1::Event::EXEC);
    const auto now = std::chrono::steady_clock::now();
    env_rescans_.emplace_back(now + std::chrono::milliseconds(20), pid);
    env_rescans_.emplace_back(now + std::chrono::milliseconds(250), pid);
  } else if (ev.kind() == v1::Event::EXIT) {
    env_probes_->process_exited(pid);
  }
}

void Pipeline::env_due() {
  std::vector<uint32_t> seeded;
  {
    std::lock_guard<std::mutex> l(env_mu_);
    seeded.swap(env_seeded_);
  }
  for (uint32_t pid : seeded) {
    v1::Process p;
    tracker_.describe(pid, &p);
    if (env_wanted(p)) env_probes_->process_started(pid);
  }
  const auto now = std::chrono::steady_clock::now();
  // both delays are fixed, so the deque stays in time order
  while (!env_rescans_.empty() && env_rescans_.front().first <= now) {
    const uint32_t pid = env_rescans_.front().second;
    env_rescans_.pop_front();
    if (sensor_.is_tracked(pid)) env_probes_->process_started(pid);
  }
  if (env_rescans_.size() > 65536) env_rescans_.clear();  // bounded; a burst of execs may miss a rescan
}

void Pipeline::reload() {
  reload_requested_.store(false);
  if (!reloader_) return;
  std::string err = reloader_(tracker_, engine_);
  v1::Event ev = output::agent_note("", "");
  auto* note = ev.mutable_agent();
  if (engine_) note->set_mode(policy::to_string(engine_->mode()));
  if (err.empty()) {
    reloads_.fetch_add(1);
    note->set_what("rules_reloaded");
    note->set_count(reloads_.load());
    if (guard_) {
      note->set_rules_sha256(guard_->source().rules_sha256);
      note->set_rules_path(guard_->source().rules_path);
    }
    note->set_detail("new rules in force");
    emit(ev);
    return;
  }
  reload_failures_.fetch_add(1);
  note->set_what("rules_refused");
  note->set_detail("the previous rules stay in force:" + err);
  emit(ev);
  spdlog::error("rules not reloaded, the previous rules stay in force: {}", err);
}

void Pipeline::apply(sensor::DecodedRecord& rec) {
  if (guard_) guard_->name_rule(rec);
  tracker_.apply(rec);
  if (env_probes_) env_events(rec.event);
  if (engine_ && !engine_->annotate(rec.event)) {
    env_quiet_.fetch_add(1, std::memory_order_relaxed);  // a read of a variable that is no secret
    return;
  }
  // `~/` kill patterns follow the homes watched processes actually have
  if (guard_ && rec.event.kind() == v1::Event::EXEC) guard_->note_home(rec.event.process().home());
  // the event's alerts are written after it, and whether it raised any decides whether the
  // stream shows it
  if (engine_) engine_->evaluate(rec.event, alerts_);
  if (rec.event.kind() == v1::Event::FORK && rec.event.fork().untracked()) untracked_child(rec.event);
  emit(rec.event, rec.process_generation, keep_in_stream(rec.event, !alerts_.empty()));
  written_.fetch_add(1, std::memory_order_relaxed);
  if (!alerts_.empty()) write_alerts();
}

void Pipeline::release_held(uint32_t tgid) {
  for (auto it = held_.begin(); it != held_.end();) {
    if (it->rec.proc.tgid != tgid) {
      ++it;
      continue;
    }
    sensor::DecodedRecord rec = std::move(it->rec);
    it = held_.erase(it);
    apply(rec);
  }
}

void Pipeline::release_due(bool all) {
  const auto now = std::chrono::steady_clock::now();
  while (!held_.empty() && (all || held_.front().until <= now)) {
    // its environment record never came (lost, or the kernel could not write it)
    sensor::DecodedRecord rec = std::move(held_.front().rec);
    held_.pop_front();
    apply(rec);
  }
}

void Pipeline::worker() {
  std::vector<std::string> batch;
  batch.reserve(1024);
  sensor::DecodedRecord rec;
  // Losses that happened before this agent started (another agent's) are not ours to report.
  {
    const sensor::Counters at_start = sensor_.counters();
    reported_kernel_lost_ = at_start[CF_CNT_RINGBUF_FULL];
    reported_fail_closed_ = at_start[CF_CNT_FAIL_CLOSED];
  }
  for (;;) {
    batch.clear();
    // short waits while rescans for the environment probes are due
    bool open = queue_.pop_batch(batch, 1024,
                                 std::chrono::milliseconds(env_rescans_.empty() && held_.empty() ? 200 : 10));
    last_turn_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    if (env_probes_) env_due();
    if (open) drain_reports();  // at the end, after the last fold summaries: the stop note comes last
    for (const std::string& raw : batch) {
      auto status = sensor::decode_record(raw.data(), raw.size(), clock_, rec);
      if (status != sensor::DecodeStatus::kOk) {
        uint64_t n = decode_errors_.fetch_add(1) + 1;
        if (n <= 10 || n % 10000 == 0)
          spdlog::warn("dropping a malformed record ({}, {} bytes; {} so far)", sensor::to_string(status),
                       raw.size(), n);
        continue;
      }
      const uint32_t tgid = rec.proc.tgid;
      if (rec.proc.op == CF_OP_EXEC) {
        // held until the environment record that follows it: see held_
        if (held_.size() >= kMaxHeld) release_held(held_.front().rec.proc.tgid);
        held_.push_back({std::move(rec), std::chrono::steady_clock::now() + kHoldFor});
        rec = sensor::DecodedRecord();
        continue;
      }
      if (!held_.empty()) {
        // an exec's environment: its secrets are known before the exec itself is applied
        if (rec.proc.op == CF_OP_ENV && rec.event.env().op() == "exec") tracker_.learn_secrets(rec);
        release_held(tgid);
      }
      apply(rec);
    }
    release_due(!open);
    auto now = std::chrono::steady_clock::now();
    if (now >= next_gap_check_ || !open) {
      report_gaps();
      if (engine_) {
        // at shutdown every fold window ends now
        int64_t now_ns = open ? v1::unix_now_ns() : INT64_MAX / 2;
        engine_->tick(now_ns, alerts_);
        write_alerts();
      }
      next_gap_check_ = now + std::chrono::milliseconds(500);
    }
    if (reload_requested_.load()) reload();
    if (!open) drain_reports();
    sink_.flush();
    for (auto* out : outputs_) out->flush();
    if (!open) break;
  }
}

}  // namespace clawfence::app
