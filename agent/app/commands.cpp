#include "app/commands.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <linux/magic.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <openssl/crypto.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <thread>

#include "app/config.h"
#include "app/pipeline.h"
#include "app/service_notify.h"
#include "output/audit.h"
#include "output/metrics.h"
#include "output/pagerduty.h"
#include "output/tail.h"
#include "proto/timestamp.h"
#include "enforce/guard.h"
#include "env/fingerprint_key.h"
#include "env/link_reaper.h"
#include "env/probes.h"
#include "policy/engine.h"
#include "policy/rules.h"
#include "process/targets.h"
#include "process/tracker.h"
#include "sensor/kernel.h"
#include "sensor/map_keys.h"
#include "sensor/sensor.h"

#ifndef CLAWFENCE_VERSION_STR
#define CLAWFENCE_VERSION_STR "0.1.0"
#endif

namespace clawfence::app {
namespace {

// Start-up failures that stop the command with a message and an exit status.
struct StartError : std::runtime_error {
  StartError(int code, const std::string& msg) : std::runtime_error(msg), code(code) {}
  int code;
};

void require_root() {
  if (geteuid() != 0)
    throw StartError(4, "clawfence must run as root: it loads eBPF programs and attaches cgroup hooks "
                        "(CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_SYS_ADMIN)");
}

std::string rules_summary(const policy::RuleSet& r) {
  size_t globs = 0;
  for (const auto& f : r.file_deny) globs += f.paths.size();
  for (const auto& f : r.file_scope) globs += f.allow.size();
  size_t hosts = 0, cidrs = 0;
  for (const auto* list : {&r.egress.allow, &r.egress.deny})
    for (const auto& e : *list) hosts += e.hosts.size(), cidrs += e.cidrs.size();
  return std::to_string(r.files.size()) + " file(s), mode " + policy::to_string(r.mode) + ", " +
         std::to_string(r.targets.size()) + " target(s), " + std::to_string(r.roles.size()) + " role(s), " +
         std::to_string(r.rule_count()) + " rules: egress " + std::to_string(r.egress.allow.size()) + " allow / " +
         std::to_string(r.egress.deny.size()) + " deny (" + std::to_string(hosts) + " hosts, " + std::to_string(cidrs) +
         " CIDRs, default " + (r.egress.default_deny ? "deny" : "allow") + "), files " +
         std::to_string(r.file_deny.size()) + " deny / " + std::to_string(r.file_scope.size()) + " scope (" +
         std::to_string(globs) + " globs), exec " + std::to_string(r.exec.size()) + ", volume " +
         std::to_string(r.volume.size()) + ", evasion " + std::to_string(r.evasion.size()) + ", env " +
         std::to_string(r.env.size()) + " (" + std::to_string(r.secret_names.size()) + " secret name patterns)";
}

policy::RuleSet load_rules_or_throw(const std::string& path) {
  auto res = policy::load_rules(path);
  if (!res.ok()) {
    std::string msg = "invalid rules, not starting:";
    for (const auto& e : res.errors) msg += "\n  " + e.to_string();
    throw StartError(2, msg);
  }
  return res.rules;
}

sensor::KernelFeatures probe_or_throw() {
  sensor::KernelFeatures f = sensor::probe_kernel();
  spdlog::info("kernel {}: BTF {}, ring buffer {}, raw tracepoints {}, cgroup sock_addr {}, bpf_loop {}, "
               "fentry/tp_btf {}, BPF LSM {}, kprobes {}",
               f.release, f.btf ? "yes" : "no", f.ringbuf ? "yes" : "no", f.raw_tracepoint ? "yes" : "no",
               f.cgroup_sock_addr ? "yes" : "no", f.bpf_loop ? "yes" : "no", f.tracing ? "yes" : "no",
               f.lsm ? "yes" : "no", f.kprobes ? "yes" : "no");
  auto missing = sensor::missing_requirements(f);
  if (!missing.empty()) {
    std::string msg = "this kernel lacks what clawfence needs:";
    for (const auto& m : missing) msg += "\n  - " + m;
    throw StartError(3, msg);
  }
  spdlog::info("cgroup v2 at {}", f.cgroup2_path);
  if (auto err = sensor::ensure_bpffs(); !err.empty()) spdlog::warn("{}", err);
  return f;
}

sensor::SensorOptions sensor_options(const CommonOptions& c, const std::string& attach_cgroup,
                                     const sensor::KernelFeatures& kf) {
  sensor::SensorOptions o;
  if (c.syscall_hooks == "fentry" && !kf.tracing)
    throw StartError(3, "--syscall-hooks fentry: this kernel has no fentry/fexit (BPF tracing programs)");
  o.hooks = c.syscall_hooks == "none"                                                    ? sensor::SyscallHooks::kNone
            : c.syscall_hooks == "tracepoint" || (c.syscall_hooks == "auto" && !kf.tracing) ? sensor::SyscallHooks::kTracepoints
                                                                                             : sensor::SyscallHooks::kFentry;
  o.fallback_to_tracepoints = c.syscall_hooks == "auto";
  o.link_guard = kf.kprobes;
  o.wake_at_fork = c.env_probes != "host";
  o.env_uprobe_multi = o.wake_at_fork && sensor::uprobe_multi_supported();
  uint32_t mib = c.ringbuf_mib;
  if (mib == 0 || (mib & (mib - 1)) != 0) throw StartError(1, "--ringbuf-mib must be a power of two");
  o.ringbuf_bytes = mib << 20;
  o.max_tracked = c.max_tracked;
  o.attach_cgroup = attach_cgroup;
  o.agent_tgid = static_cast<uint32_t>(getpid());
  o.wakeup_bytes = c.wakeup_kib << 10;
  o.poll_ms = c.poll_ms;
  if (c.wakeup_kib && (c.poll_ms == 0 || c.poll_ms > 1000))
    throw StartError(1, "--poll-ms must be between 1 and 1000");
  return o;
}

void log_mechanism(const sensor::Sensor& s) {
  if (s.hooks() == sensor::SyscallHooks::kNone) {
    spdlog::warn("--syscall-hooks none: file operations and syscall results are not observed (the guards and "
                 "the process sensors only)");
    return;
  }
  spdlog::info("file and network syscalls observed with {}; processes with raw tracepoints sched_process_*, "
               "task_rename, cgroup_mkdir",
               s.hooks() == sensor::SyscallHooks::kFentry
                   ? "fentry/fexit on the handled syscalls only (other syscalls pay nothing)"
                   : "raw tracepoints sys_enter/sys_exit (no fentry here: every syscall pays the tracepoint slow path)");
}

// The network hooks attach to a cgroup v2 directory; anything else fails before any load.
// `dir` as a path below the cgroup v2 mount `root` ("/a/b"; "/" for the root itself), or "" when
// it is not below it.
std::string cgroup_below(const std::string& root, const std::string& dir) {
  std::error_code ec;
  const std::string r = std::filesystem::weakly_canonical(root, ec).string();
  const std::string d = std::filesystem::weakly_canonical(dir, ec).string();
  if (d == r) return "/";
  if (d.compare(0, r.size(), r) != 0 || d.size() <= r.size() || d[r.size()] != '/') return "";
  return d.substr(r.size());
}

void check_attach_cgroup(const std::string& path) {
  struct statfs st {};
  if (statfs(path.c_str(), &st) != 0)
    throw StartError(1, "--cgroup " + path + ": " + std::strerror(errno));
  if (static_cast<unsigned long>(st.f_type) != CGROUP2_SUPER_MAGIC)
    throw StartError(1, "--cgroup " + path + ": not a cgroup v2 directory");
}

// Which programs pins came from: a restarted agent of the same build adopts them as they are.
std::string build_id() { return "clawfence " + std::string(CLAWFENCE_VERSION_STR) + " bpf " + sensor::object_digest(); }

// Compiles the rules into the guards' maps and says what is enforced how.
std::vector<std::string> apply_guard(enforce::Guard& guard, const policy::RuleSet& rules, const std::string& rules_path,
                                     const std::string& attach) {
  enforce::GuardIdentity id{rules_path, enforce::rules_digest(rules_path), build_id(), attach};
  auto notes = guard.apply(rules, id);
  // in monitor mode nothing is refused or killed: what enforce mode could not do is detail
  for (const auto& n : notes)
    spdlog::log(rules.mode == policy::Mode::kEnforce ? spdlog::level::warn : spdlog::level::debug, "enforcement: {}", n);
  const auto& c = guard.current().config;
  const char* mode = c.mode == CF_MODE_ENFORCE ? "enforce" : c.mode == CF_MODE_DRY_RUN ? "dry run (enforce, nothing refused)"
                                                                                        : "monitor (nothing refused)";
  spdlog::info("guards: mode {}, policy generation {}: {} egress rules and exceptions, {} CIDR entries, {} host "
               "patterns, {} budgets, {} path patterns for {}; fail-closed {}",
               mode, c.generation, guard.current().rules.size(), guard.current().cidrs.size(),
               guard.current().hosts.size(), guard.current().budgets.size(), guard.current().paths.size(),
               guard.options().lsm ? "refusal" : "kill", (c.flags & CF_GUARD_FAIL_CLOSED) ? "on" : "off");
  if (c.mode == CF_MODE_MONITOR) return notes;  // the mechanisms below do nothing in monitor mode
  spdlog::info("guards: connect/sendmsg refused with EPERM in the cgroup hooks; raw, packet and ICMP sockets refused "
               "at sock_create; budgets drop packets in cgroup_skb egress; {}",
               guard.options().lsm
                   ? "file and exec block and kill rules refused with EPERM in the BPF LSM hooks file_open and "
                     "bprm_check_security (before the open or exec happens; nothing is killed)"
                   : "file and exec kill rules send SIGKILL with bpf_send_signal at the syscall exit (no BPF LSM "
                     "here: opens cannot be refused, only killed)");
  return notes;
}

// The environment probes: uprobes on getenv, secure_getenv, uv_os_getenv and Node's environment
// enumeration, on the binaries a probed process maps: per process (`judged`, `watched`), or once
// per binary for every process on the host (`host`; the programs filter on the tracked map in
// the kernel); detached when no probed process maps it any more.
// The redactor gets the same fingerprint key as the kernel, before any record or /proc read.
std::unique_ptr<env::EnvProbes> make_env_probes(sensor::Sensor& sensor, process::Redactor& redactor,
                                                const std::string& scope) {
  // fingerprints of secret values: one key per host, kept across restarts
  unsigned char key[16];
  const std::string key_path = "/var/lib/clawfence/fingerprint.key";
  if (auto err = env::load_or_create_key(key_path, key); !err.empty()) spdlog::warn("fingerprints: {}", err);
  if (auto err = env::install_key(sensor.map_fd("env_fp_key"), key); !err.empty()) spdlog::warn("{}", err);
  try {
    redactor.set_key(key);
  } catch (const std::exception& e) {
    spdlog::warn("redaction by fingerprint is off ({}): only the patterns redact", e.what());
  }
  OPENSSL_cleanse(key, sizeof(key));
  // A probe's handle: a libbpf link (perf-event uprobe), or the descriptor of a uprobe-multi link.
  struct EnvLink {
    bpf_link* link = nullptr;
    int fd = -1;
  };
  const bool multi = sensor.env_uprobe_multi();
  auto attach = [&sensor, multi](const std::string& prog, const std::string& path, uint64_t offset, bool retprobe,
                                 int pid, std::string* err) -> void* {
    if (multi && pid >= 0) {
      const int fd = sensor.attach_uprobe_multi(prog, path, offset, retprobe, pid, err);
      return fd < 0 ? nullptr : new EnvLink{nullptr, fd};
    }
    bpf_program* p = sensor.program(prog);
    if (!p) {
      *err = "the eBPF object has no program " + prog;
      return nullptr;
    }
    LIBBPF_OPTS(bpf_uprobe_opts, o, .retprobe = retprobe);
    bpf_link* l = bpf_program__attach_uprobe_opts(p, pid, path.c_str(), offset, &o);
    if (!l) {
      *err = std::string("attaching ") + prog + ": " + std::strerror(errno);
      return nullptr;
    }
    return new EnvLink{l, -1};
  };
  // destroyed off the pipeline's thread: each waits for RCU grace periods (env/link_reaper.h);
  // the reaper lives as long as the probes' detach function (its destructor finishes the work)
  auto reaper = std::make_shared<env::LinkReaper>([](void* h) {
    auto* l = static_cast<EnvLink*>(h);
    if (l->link) bpf_link__destroy(l->link);
    if (l->fd >= 0) close(l->fd);
    delete l;
  });
  auto detach = [reaper](void* h) { reaper->add(h); };
  const env::Placement placement = scope == "host" ? env::Placement::kEveryProcess : env::Placement::kPerProcess;
  // Placed per process, each probe holds two descriptors (its perf event and its link), about
  // eight a probed process: the soft limit (1024 by default) would run out at ~120 tool processes
  // at once. Up to the hard limit; what still cannot be placed is counted and reported as a gap.
  if (rlimit lim{}; placement == env::Placement::kPerProcess && getrlimit(RLIMIT_NOFILE, &lim) == 0 &&
                    lim.rlim_cur < lim.rlim_max) {
    const rlim_t was = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) == 0)
      spdlog::info("open files: limit raised from {} to {} (environment probes are placed per process)", was,
                   lim.rlim_max);
  }
  auto probes = std::make_unique<env::EnvProbes>(attach, detach, nullptr, placement);
  // the agent's own libc is where a program started on this host most likely takes getenv from
  probes->learn(static_cast<uint32_t>(getpid()));
  spdlog::info("environment probes: {}{}", scope == "host"    ? "one per library, every process on the host"
                                           : scope == "watched" ? "per process, every watched process"
                                                                : "per process, the roles env rules judge",
               scope == "host" ? ""
               : multi         ? " (uprobe-multi links)"
                               : " (perf-event uprobes: this kernel has no uprobe-multi links, and removing each "
                                 "holds its tracing mutex for tens of milliseconds)");
  return probes;
}

// The agent's own start and stop, as events every output records.
v1::Event lifecycle_note(const std::string& what, const std::string& detail, const enforce::Guard& guard) {
  v1::Event ev = output::agent_note(what, detail);
  auto* n = ev.mutable_agent();
  n->set_version(CLAWFENCE_VERSION_STR);
  n->set_rules_path(guard.source().rules_path);
  n->set_rules_sha256(guard.source().rules_sha256);
  const auto mode = guard.current().config.mode;
  n->set_mode(mode == CF_MODE_ENFORCE ? "enforce" : mode == CF_MODE_DRY_RUN ? "dry-run" : "monitor");
  return ev;
}

// The outputs besides the JSON lines that open before anything is attached, so that a busy
// socket or a locked audit directory stops the agent before it loads a program.
struct Outputs {
  std::unique_ptr<output::AuditLog> audit;
  std::unique_ptr<output::TailServer> tail;
  std::unique_ptr<output::PagerDutyForwarder> pagerduty;
  std::unique_ptr<output::Metrics> metrics = std::make_unique<output::Metrics>();
  // Outputs report their trouble as events through the pipeline, once there is one.
  std::atomic<Pipeline*> pipeline{nullptr};
  output::Report report() {
    return [this](v1::Event ev) {
      if (Pipeline* p = pipeline.load()) p->report(std::move(ev));
    };
  }
};

void open_outputs(const OutputOptions& o, Outputs& outs) {
  if (!o.audit_dir.empty()) {
    output::AuditOptions a;
    a.dir = o.audit_dir;
    a.all_events = o.audit_all;
    a.fsync = o.audit_fsync == "always"  ? output::AuditOptions::Fsync::kAlways
              : o.audit_fsync == "interval" ? output::AuditOptions::Fsync::kInterval
                                            : output::AuditOptions::Fsync::kCritical;
    a.rotate_bytes = uint64_t(o.audit_rotate_mib) << 20;
    a.rotate_age = std::chrono::hours(o.audit_rotate_hours);
    a.hmac_key_file = o.audit_hmac_key;
    std::string err;
    outs.audit = output::AuditLog::open(a, &err);
    if (!outs.audit) throw StartError(1, "audit log: " + err);
    spdlog::info("audit log: {} ({}, fsync {}{}), continuing at record {}", outs.audit->current_path(),
                 o.audit_all ? "every event" : "alerts, blocks, kills, gaps, agent notes", o.audit_fsync,
                 o.audit_hmac_key.empty() ? "" : ", with HMAC", outs.audit->last_seq() + 1);
  } else {
    spdlog::warn("audit log off (--audit-dir \"\"): nothing keeps a tamper-evident record of what happened");
  }
  if (!o.tail_socket.empty()) {
    output::TailOptions t;
    t.socket_path = o.tail_socket;
    t.group = o.tail_group;
    t.recent = o.tail_buffer;
    t.version = CLAWFENCE_VERSION_STR;
    t.host = output::host_name();
    std::string err;
    outs.tail = output::TailServer::open(t, outs.report(), &err);
    if (!outs.tail) throw StartError(1, "tail socket: " + err);
    spdlog::info("live tail: {} (mode {}): `clawfence tail`", o.tail_socket,
                 o.tail_group.empty() ? "0600, root" : "0660, group " + o.tail_group);
  }
  // PagerDuty is on when there is a routing key; a key file that is given must be usable
  output::PagerDutyOptions pd = o.pagerduty;
  pd.resolve_after = std::chrono::seconds(o.pagerduty_resolve_s);
  const char* env_key = pd.key_env.empty() ? nullptr : getenv(pd.key_env.c_str());
  struct stat key_st {};
  if (!pd.key_file.empty() && stat(pd.key_file.c_str(), &key_st) != 0 && errno == ENOENT) {
    // An optional Kubernetes Secret that was never created: no key, no paging (said loudly).
    spdlog::warn("PagerDuty off: the routing key file {} does not exist", pd.key_file);
    return;
  }
  if (pd.key_file.empty() && (!env_key || !*env_key)) {
    spdlog::info("PagerDuty off: no routing key (set {} or --pagerduty-key-file)",
                 pd.key_env.empty() ? "--pagerduty-key-env" : pd.key_env);
    return;
  }
  std::string err;
  outs.pagerduty = output::PagerDutyForwarder::open(pd, outs.report(), &err);
  if (!outs.pagerduty) throw StartError(1, "PagerDuty: " + err);
  const auto st = outs.pagerduty->stats();
  spdlog::info("PagerDuty: alerts at or above {} to {} (routing key from {}), spool {}{}", pd.min_severity, pd.url,
               pd.key_file.empty() ? "$" + pd.key_env : pd.key_file, pd.spool_dir,
               st.spooled ? ", " + std::to_string(st.spooled) + " alerts from before waiting" : "");
}

// What /metrics shows beyond the event counts: read at scrape time from the parts that keep
// their own counts.
void register_metrics(output::Metrics& m, const sensor::Sensor& s, const Pipeline& p, const Outputs& outs,
                      const process::Redactor& r, const env::EnvProbes& probes) {
  using output::Sample;
  m.add_family("clawfence_env_probes_placed", "gauge",
               "Environment-read uprobes in place now: for one process each (entry and return count apart), "
               "or libraries probed for every process.",
               [&probes] {
                 const bool per_process = probes.placement() == env::Placement::kPerProcess;
                 return std::vector<Sample>{{{{"placement", per_process ? "process" : "host"}},
                                             double(per_process ? probes.process_links() : probes.objects())}};
               });
  m.add_family("clawfence_env_probe_attach_failures_total", "counter",
               "Environment-read uprobes that could not be placed (tried again at the next scan).",
               [&probes] { return std::vector<Sample>{{{}, double(probes.counters().attach_failures)}}; });
  m.add_family("clawfence_redactions_total", "counter",
               "Secrets replaced by [REDACTED:...] in what the agent stores and writes.",
               [&r] { return std::vector<Sample>{{{}, double(r.stats().replaced)}}; });
  m.add_family("clawfence_redaction_secrets_known", "gauge", "Secret values the agent knows by fingerprint now.",
               [&r] { return std::vector<Sample>{{{}, double(r.stats().known)}}; });
  auto counter = [&s](uint32_t idx) {
    return [&s, idx] { return std::vector<Sample>{{{}, double(s.counters()[idx])}}; };
  };
  m.add_family("clawfence_kernel_records_total", "counter", "Records the kernel programs submitted.",
               counter(CF_CNT_RECORDS));
  m.add_family("clawfence_kernel_records_lost_total", "counter",
               "Records lost in the kernel because the ring buffer was full.", counter(CF_CNT_RINGBUF_FULL));
  m.add_family("clawfence_kernel_verdicts_total", "counter", "What the kernel's guards did, by verdict.", [&s] {
    const auto c = s.counters();
    return std::vector<Sample>{{{{"verdict", "blocked"}}, double(c[CF_CNT_BLOCKED])},
                               {{{"verdict", "killed"}}, double(c[CF_CNT_KILLED])},
                               {{{"verdict", "would-block"}}, double(c[CF_CNT_WOULD_BLOCK])},
                               {{{"verdict", "budget-drop"}}, double(c[CF_CNT_BUDGET_DROPS])},
                               {{{"verdict", "fail-closed"}}, double(c[CF_CNT_FAIL_CLOSED])}};
  });
  m.add_family("clawfence_tracked_processes", "gauge", "Processes tracked in the kernel now.",
               [&s] { return std::vector<Sample>{{{}, double(s.tracked_count())}}; });
  m.add_family("clawfence_ringbuf_fill_ratio", "gauge", "How full the kernel ring buffer is (0 to 1).",
               [&s] { return std::vector<Sample>{{{}, s.ringbuf_fill()}}; });
  m.add_family("clawfence_queue_dropped_total", "counter",
               "Records dropped between the ring-buffer reader and the writer (queue full).",
               [&p] { return std::vector<Sample>{{{}, double(p.stats().queue_dropped)}}; });
  m.add_family("clawfence_rule_reloads_total", "counter", "Rule reloads, by result.", [&p] {
    const auto st = p.stats();
    return std::vector<Sample>{{{{"result", "applied"}}, double(st.reloads)},
                               {{{"result", "refused"}}, double(st.reload_failures)}};
  });
  if (auto* a = outs.audit.get()) {
    m.add_family("clawfence_audit_records_total", "counter", "Records written to the audit log by this agent.",
                 [a] { return std::vector<Sample>{{{}, double(a->records())}}; });
    m.add_family("clawfence_audit_write_failures_total", "counter",
                 "Events the audit log could not write (each followed by a gap record).",
                 [a] { return std::vector<Sample>{{{}, double(a->failures())}}; });
  }
  if (auto* pd = outs.pagerduty.get()) {
    m.add_family("clawfence_pagerduty_events_total", "counter", "PagerDuty events, by what became of them.", [pd] {
      const auto st = pd->stats();
      return std::vector<Sample>{{{{"result", "sent"}}, double(st.sent)},
                                 {{{"result", "rejected"}}, double(st.rejected)},
                                 {{{"result", "dropped"}}, double(st.dropped)},
                                 {{{"result", "resolved"}}, double(st.resolves)}};
    });
    m.add_family("clawfence_pagerduty_failed_attempts_total", "counter",
                 "Deliveries that failed and are retried (429, 5xx, network, timeout).",
                 [pd] { return std::vector<Sample>{{{}, double(pd->stats().failed_attempts)}}; });
    m.add_family("clawfence_pagerduty_spooled", "gauge", "Alerts waiting in the spool for PagerDuty.",
                 [pd] { return std::vector<Sample>{{{}, double(pd->stats().spooled)}}; });
  }
  if (auto* t = outs.tail.get()) {
    m.add_family("clawfence_tail_clients", "gauge", "Live-tail clients connected now.",
                 [t] { return std::vector<Sample>{{{}, double(t->clients())}}; });
    m.add_family("clawfence_tail_dropped_total", "counter", "Events tail clients missed because they read too slowly.",
                 [t] { return std::vector<Sample>{{{}, double(t->dropped_total())}}; });
  }
}

output::Detail stream_detail(const std::string& text) {
  output::Detail d = output::Detail::kActivity;
  if (!output::parse_detail(text, &d)) throw StartError(1, "--detail: expected alerts, activity or all, not '" + text + "'");
  return d;
}

// The redactor: the operator's patterns (checked when the configuration was read) and the
// secret names of the rules.
void configure_redactor(process::Redactor& r, const std::vector<std::string>& patterns, const policy::RuleSet& rules) {
  if (auto err = r.set_patterns(patterns); !err.empty()) throw StartError(2, "redact.patterns: " + err);
  r.set_secret_names(rules.secret_names);
  spdlog::info("redaction: secret values of {} variables ({}), {} built-in and {} operator patterns",
               rules.secret_names.empty() ? "the default secret" : "env.secret_names",
               rules.secret_names.empty() ? std::to_string(process::Redactor::default_secret_names().size()) + " names"
                                          : std::to_string(rules.secret_names.size()) + " patterns",
               r.builtin_patterns(), patterns.size());
}

void log_summary(const sensor::Sensor& s, const Pipeline& p, const process::Redactor& r) {
  auto c = s.counters();
  auto st = p.stats();
  const auto rs = r.stats();
  spdlog::info("stopped: {} records read, {} events written, lost: {} in the kernel (ring buffer full), {} in "
               "the queue, {} malformed; truncated: {} paths, {} argv",
               st.records, st.written, c[CF_CNT_RINGBUF_FULL], st.queue_dropped, st.decode_errors,
               c[CF_CNT_PATH_TOO_DEEP] + c[CF_CNT_PATH_TOO_LONG] + c[CF_CNT_STR_TRUNCATED],
               c[CF_CNT_ARGV_TRUNCATED]);
  if (st.left_out)
    spdlog::info("stream: {} of those events left out at --detail {} (--detail all, or --audit-all, keeps them)",
                 st.left_out, output::to_string(p.detail()));
  if (st.alerts || st.reloads || st.reload_failures)
    spdlog::info("alerts: {}; rule reloads: {} applied, {} refused", st.alerts, st.reloads, st.reload_failures);
  if (c[CF_CNT_TRACKED_FULL]) spdlog::warn("{} processes could not be tracked: tracked map full", c[CF_CNT_TRACKED_FULL]);
  if (c[CF_CNT_ENV_READS])
    spdlog::info("environment reads: {} seen, {} folded into earlier records of their window, {} of variables that "
                 "are no secret counted and not written",
                 c[CF_CNT_ENV_READS], c[CF_CNT_ENV_FOLDED], st.env_quiet);
  spdlog::info("redacted: {} secrets in {} texts; {} secret values known by fingerprint{}", rs.replaced, rs.texts,
               rs.known, rs.evicted ? " (" + std::to_string(rs.evicted) + " forgotten past the bound)" : "");
}

// Blocks the signals the main thread waits for, before any thread starts, so that all
// threads inherit the mask and the signals reach sigtimedwait.
sigset_t block_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// A cgroup created for `clawfence run`, removed (with its processes moved out) on scope exit.
class RunCgroup {
 public:
  RunCgroup(const std::string& cg2_root) {
    path_ = cg2_root + "/clawfence-run." + std::to_string(getpid());
    if (mkdir(path_.c_str(), 0755) != 0 && errno != EEXIST)
      throw StartError(1, "cannot create cgroup " + path_ + ": " + std::strerror(errno));
    // Where leftovers go: the cgroup clawfence itself runs in.
    std::ifstream self("/proc/self/cgroup");
    for (std::string line; std::getline(self, line);)
      if (line.rfind("0::", 0) == 0) parent_ = cg2_root + line.substr(3);
    struct stat st {};
    if (stat(path_.c_str(), &st) == 0) id_ = st.st_ino;
  }
  ~RunCgroup() {
    for (int attempt = 0; attempt < 50; ++attempt) {
      if (rmdir(path_.c_str()) == 0 || errno == ENOENT) return;
      // Still populated: move what is left to our own cgroup, then retry.
      std::ifstream procs(path_ + "/cgroup.procs");
      std::ofstream dest(parent_ + "/cgroup.procs");
      for (std::string pid; std::getline(procs, pid);) dest << pid << std::endl;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    spdlog::warn("could not remove cgroup {}: {}", path_, std::strerror(errno));
  }
  const std::string& path() const { return path_; }
  uint64_t id() const { return id_; }
  bool populated() const {
    std::ifstream ev(path_ + "/cgroup.events");
    for (std::string line; std::getline(ev, line);)
      if (line == "populated 0") return false;
    return true;
  }

 private:
  std::string path_, parent_;
  uint64_t id_ = 0;
};

// Watches a rule file or directory with inotify (the directory, so that editors that replace
// the file by renaming are seen too).
class RulesWatcher {
 public:
  explicit RulesWatcher(const std::string& path) {
    struct stat st {};
    bool dir = stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    std::string watch = dir ? path : std::filesystem::path(path).parent_path().string();
    if (watch.empty()) watch = ".";
    name_ = dir ? "" : std::filesystem::path(path).filename().string();
    fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd_ >= 0 && inotify_add_watch(fd_, watch.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE) < 0) {
      spdlog::warn("cannot watch {} for changes ({}); reload with SIGHUP", watch, std::strerror(errno));
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RulesWatcher() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }
  // Drains pending notifications; true if one concerns the rules.
  bool changed() {
    alignas(inotify_event) char buf[4096];
    bool hit = false;
    for (;;) {
      ssize_t n = read(fd_, buf, sizeof(buf));
      if (n <= 0) break;
      for (char* p = buf; p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        std::string file = ev->len ? ev->name : "";
        bool yaml = file.size() > 5 && (file.rfind(".yaml") == file.size() - 5 || file.rfind(".yml") == file.size() - 4);
        // A Kubernetes ConfigMap volume changes by swapping its ..data symlink to a new
        // directory: the rule files' own names see no event.
        if (file == "..data" || (name_.empty() ? yaml : file == name_)) hit = true;
        p += sizeof(inotify_event) + ev->len;
      }
    }
    return hit;
  }

 private:
  int fd_ = -1;
  std::string name_;
};

// Waits for one of `sigs` (returns it) or a rule change (returns 0, after letting a burst of
// writes settle), at most `timeout_ms` (returns -1; a negative timeout waits for ever).
int wait_signal_or_change(const sigset_t& sigs, RulesWatcher& watcher, int timeout_ms) {
  static int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
  for (;;) {
    pollfd fds[2] = {{sfd, POLLIN, 0}, {watcher.fd(), POLLIN, 0}};
    int n = poll(fds, watcher.fd() >= 0 ? 2 : 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return -1;
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo si{};
      if (read(sfd, &si, sizeof(si)) == sizeof(si)) return static_cast<int>(si.ssi_signo);
    }
    if (watcher.fd() >= 0 && (fds[1].revents & POLLIN) && watcher.changed()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      watcher.changed();
      return 0;
    }
  }
}

// The pod list, when --pod-metadata-url names one; a source that cannot be used stops the agent.
std::unique_ptr<process::PodMetadata> start_pod_metadata(const AgentOptions& opts) {
  if (opts.pod_metadata.url.empty()) return nullptr;
  process::PodSourceOptions po = opts.pod_metadata;
  po.refresh = std::chrono::seconds(opts.pod_metadata_refresh_s);
  std::string err;
  auto m = process::PodMetadata::start(po, &err);
  if (!m) throw StartError(1, "pod metadata: " + err);
  spdlog::info("pod metadata: {} pods listed from {} (every {} s)", m->stats().pods, po.url,
               opts.pod_metadata_refresh_s);
  return m;
}

void warn_unresolvable_pod_targets(const policy::RuleSet& rules, const process::PodMetadata* metadata) {
  if (metadata) return;
  for (const auto& t : rules.targets)
    if (!t.pods.empty())
      spdlog::warn("target '{}' selects pods by namespace, name, labels or image, which only the pod list knows: "
                   "without --pod-metadata-url that part matches nothing",
                   t.name);
}

int run_agent_impl(const AgentOptions& opts) {
  // 1. inputs
  policy::RuleSet rules = load_rules_or_throw(opts.rules);
  apply_mode(opts.mode, rules);
  auto engine = std::make_unique<policy::Engine>(rules);
  engine->set_dry_run(opts.dry_run);
  spdlog::info("rules: {}: {}", opts.rules, rules_summary(rules));
  if (opts.dry_run && rules.mode != policy::Mode::kEnforce)
    spdlog::warn("--dry-run: the rules are in monitor mode, which never blocks anyway");
  require_root();
  // 2. kernel
  sensor::KernelFeatures kf = probe_or_throw();
  std::string attach = opts.cgroup.empty() ? kf.cgroup2_path : opts.cgroup;
  check_attach_cgroup(attach);
  sensor::SensorOptions sensor_opts = sensor_options(opts.common, attach, kf);
  // --cgroup: the subtree clawfence watches and guards (the network hooks are attached there)
  const std::string scope = opts.cgroup.empty() ? std::string() : cgroup_below(kf.cgroup2_path, attach);
  if (!scope.empty() && scope != "/") {
    struct stat st {};
    if (stat(attach.c_str(), &st) != 0) throw StartError(1, "--cgroup " + attach + ": " + std::strerror(errno));
    sensor_opts.scope_cgroup_id = st.st_ino;  // a cgroup's id is its directory's inode
    sensor_opts.scope_level = static_cast<uint32_t>(std::count(scope.begin(), scope.end(), '/'));
  }
  // dry run enforces nothing: nothing to keep in force after the agent
  const bool pin = opts.pin == "always" || (opts.pin == "auto" && rules.mode == policy::Mode::kEnforce && !opts.dry_run);
  if (pin)
    sensor_opts.pin_dir = opts.pin_dir;
  else if (sensor::has_pins(opts.pin_dir))
    spdlog::warn("{} holds the pins of an enforcing clawfence; this agent ({}) leaves them alone and attaches its "
                 "own programs", opts.pin_dir, opts.dry_run ? "dry run" : "monitor mode or --pin never");
  sensor_opts.build_id = build_id();
  sensor_opts.lsm = kf.lsm;  // file and exec rules refused before they happen, not killed after
  // Before any thread starts (the pod list's, the outputs'): they inherit the mask, and the
  // signals reach the main thread's wait.
  sigset_t sigs = block_signals();
  // Pods named by namespace, name, labels or image become their cgroups: the pod list first.
  std::unique_ptr<process::PodMetadata> pod_metadata = start_pod_metadata(opts);
  warn_unresolvable_pod_targets(rules, pod_metadata.get());
  rules.targets = process::with_pod_cgroups(rules.targets, pod_metadata.get());
  std::vector<std::string> warnings;
  sensor::KernelTargets kt = process::compile_kernel_targets(rules.targets, kf.cgroup2_path, &warnings);
  for (const auto& w : warnings) spdlog::warn("{}", w);
  // 3. sinks, then sensors: nothing is read before there is somewhere to write it
  output::JsonLinesSink sink(opts.common.output);
  Outputs outs;
  open_outputs(opts.outputs, outs);
  auto sensor = sensor::Sensor::start(sensor_opts, kt);
  for (const auto& a : sensor->attachments()) spdlog::debug("attached {}", a);
  log_mechanism(*sensor);
  if (sensor->adopted())
    spdlog::info("adopted the programs pinned under {} (they never stopped; nothing attached twice)", opts.pin_dir);
  else
    spdlog::info("attached {} programs; network hooks on {}{}{}", sensor->attachments().size(), attach,
                 sensor_opts.scope_cgroup_id ? ", and only processes in it start a watched tree" : "",
                 sensor->pinned() ? "; pinned under " + opts.pin_dir : "");
  enforce::GuardOptions gopts;
  gopts.dry_run = opts.dry_run;
  gopts.system_resolvers = enforce::resolv_conf_nameservers();
  gopts.lsm = sensor_opts.lsm;  // the sensor attached the LSM hooks (it throws if it cannot)
  enforce::Guard guard(*sensor, gopts);
  try {
    apply_guard(guard, rules, opts.rules, attach);
  } catch (const std::invalid_argument& e) {
    throw StartError(2, "rules do not fit the kernel's guard maps: " + std::string(e.what()));
  }
  // 4. process state
  sensor::BootClock clock;
  process::ProcFs procfs;
  process::ProcessTable table(opts.common.table_size(), &procfs);
  process::Tracker tracker(table, procfs, clock, kf.cgroup2_path);
  process::Redactor redactor;
  configure_redactor(redactor, opts.redact_patterns, rules);
  tracker.set_redactor(&redactor);
  tracker.set_scope(scope);
  tracker.set_targets(rules.targets);
  tracker.set_roles(process::RoleModel(rules.roles));
  tracker.set_dns_min_ttl(static_cast<int64_t>(rules.egress.dns_min_ttl_ns));
  tracker.set_dns_resolvers(policy::dns_resolvers(rules, gopts.system_resolvers));
  tracker.set_pod_metadata(pod_metadata.get());
  uint64_t pod_generation = pod_metadata ? pod_metadata->generation() : 0;
  // whether the rules in force select pods by what only the pod list knows (set again by reloads)
  auto selects_pods = [](const policy::RuleSet& r) {
    return std::any_of(r.targets.begin(), r.targets.end(), [](const auto& t) { return !t.pods.empty(); });
  };
  std::atomic<bool> pod_selectors{selects_pods(rules)};
  // A reload runs on the pipeline's worker, between two records: the new rules are loaded and
  // compiled completely before anything of the old ones is replaced.
  Reloader reloader = [&, path = opts.rules, root = kf.cgroup2_path](process::Tracker& t,
                                                                      std::unique_ptr<policy::Engine>& e) {
    auto res = policy::load_rules(path);
    if (!res.ok()) {
      std::string msg;
      for (const auto& err : res.errors) msg += "\n  " + err.to_string();
      return msg;
    }
    apply_mode(opts.mode, res.rules);
    std::unique_ptr<policy::Engine> fresh;
    try {
      fresh = std::make_unique<policy::Engine>(res.rules);
    } catch (const std::exception& ex) {
      return std::string(ex.what());
    }
    res.rules.targets = process::with_pod_cgroups(res.rules.targets, pod_metadata.get());
    std::vector<std::string> warns;
    sensor::KernelTargets next = process::compile_kernel_targets(res.rules.targets, root, &warns);
    try {
      // the guards first: a policy that does not fit leaves everything as it was
      apply_guard(guard, res.rules, path, attach);
    } catch (const std::exception& ex) {
      return std::string(ex.what());
    }
    if (auto err = sensor->set_targets(next); !err.empty()) return err;
    for (const auto& w : warns) spdlog::warn("{}", w);
    t.set_targets(res.rules.targets);
    t.set_roles(process::RoleModel(res.rules.roles));
    t.set_dns_min_ttl(static_cast<int64_t>(res.rules.egress.dns_min_ttl_ns));
    t.set_dns_resolvers(policy::dns_resolvers(res.rules, gopts.system_resolvers));
    redactor.set_secret_names(res.rules.secret_names);
    fresh->set_dry_run(opts.dry_run);
    e = std::move(fresh);
    pod_selectors.store(selects_pods(res.rules));
    const bool enforcing = res.rules.mode == policy::Mode::kEnforce && !opts.dry_run;
    if (enforcing && !sensor->pinned() && opts.pin != "never" && !sensor::has_pins(opts.pin_dir)) {
      try {
        sensor->pin(opts.pin_dir);
        spdlog::info("now in enforce mode: programs pinned under {}", opts.pin_dir);
      } catch (const std::exception& ex) {
        spdlog::error("could not pin the programs ({}): enforcement ends with this agent", ex.what());
      }
    }
    sensor->keep_pins_on_exit(enforcing);
    spdlog::info("rules reloaded: {}", rules_summary(res.rules));
    // processes already running that the new targets match (a pod just listed, a new target)
    auto picked = t.seed(*sensor);
    if (picked.roots)
      spdlog::info("now watching {} more running processes that matched a target, {} with their descendants",
                   picked.roots, picked.tracked);
    return std::string();
  };
  sensor->keep_pins_on_exit(rules.mode == policy::Mode::kEnforce && !opts.dry_run);
  Pipeline pipeline(*sensor, tracker, sink, clock, opts.common.queue_capacity, std::move(engine), reloader);
  pipeline.set_detail(stream_detail(opts.common.detail));
  pipeline.set_guard(&guard);
  auto env_probes = make_env_probes(*sensor, redactor, opts.common.env_probes);
  pipeline.set_env_probes(env_probes.get(), opts.common.env_probes == "judged");
  // outputs beside the JSON lines: the audit log first, so a record is kept before it is shown
  if (outs.audit) pipeline.add_output(outs.audit.get());
  if (outs.tail) pipeline.add_stream_output(outs.tail.get());
  if (outs.pagerduty) pipeline.add_output(outs.pagerduty.get());
  auto& metrics = outs.metrics;
  pipeline.add_output(metrics.get());
  outs.pipeline.store(&pipeline);
  register_metrics(*metrics, *sensor, pipeline, outs, redactor, *env_probes);
  // "" or why the agent is unhealthy: /healthz and systemd's watchdog ask the same question
  auto trouble = [&pipeline] {
    auto idle = std::chrono::steady_clock::now() - pipeline.last_turn();
    return idle > std::chrono::seconds(5) ? std::string("the event pipeline has not turned for ") +
                                                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(idle).count()) + " s"
                                          : std::string();
  };
  metrics->set_health(trouble);
  if (!opts.outputs.metrics_addr.empty()) {
    if (auto err = metrics->serve(opts.outputs.metrics_addr); !err.empty()) throw StartError(1, err);
    std::string host;
    int port = 0;
    output::parse_listen_address(opts.outputs.metrics_addr, &host, &port);
    spdlog::info("metrics: http://{}:{}/metrics (and /healthz)",
                 host.find(':') != std::string::npos ? "[" + host + "]" : host, metrics->port());
  }
  pipeline.start();
  // processes found in /proc, each tracked with the role the kernel would have given it
  auto seeded = tracker.seed(*sensor);
  pipeline.scan_env(seeded.pids);
  if (sensor->adopted()) {
    // Reconcile the adopted tracked set with /proc: the pinned programs kept it while no agent
    // ran (forks tracked, exits removed); drop what is gone all the same.
    size_t kept = 0, stale = 0;
    for (uint32_t pid : sensor->tracked_pids()) {
      if (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) {
        ++kept;
      } else {
        sensor->untrack(pid);
        ++stale;
      }
    }
    spdlog::info("adopted tracked set: {} processes still running, {} gone and removed", kept, stale);
  }
  spdlog::info("watching: {} running processes matched a target, {} tracked with their descendants{}",
               seeded.roots, seeded.tracked,
               seeded.failed ? " (" + std::to_string(seeded.failed) + " could not be tracked)" : "");
  const std::string watching = "watching " + std::to_string(seeded.tracked) + " processes; " +
                               std::to_string(sensor->attachments().size()) + " programs " +
                               (sensor->adopted() ? "adopted" : "attached");
  pipeline.report(lifecycle_note("start", watching, guard));
  // 5. ready (for systemd: Type=notify); run until told to stop; reload on SIGHUP and when the
  // rule files change; keep systemd's watchdog fed while the pipeline turns
  RulesWatcher watcher(opts.rules);
  ServiceNotifier notifier;
  notifier.ready(watching);
  for (;;) {
    int timeout_ms = notifier.pet_watchdog(trouble());
    if (pod_metadata && (timeout_ms < 0 || timeout_ms > 1000)) timeout_ms = 1000;  // to see the pod list change
    int sig = wait_signal_or_change(sigs, watcher, timeout_ms);
    if (pod_metadata && pod_metadata->generation() != pod_generation) {
      // pods came or went: targets that select pods by name, namespace, labels or image follow
      pod_generation = pod_metadata->generation();
      if (pod_selectors.load()) {
        spdlog::info("pod list changed: re-reading the targets");
        pipeline.request_reload();
      }
    }
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("{} received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    if (sig == SIGHUP) {
      spdlog::info("SIGHUP: reloading rules from {}", opts.rules);
      pipeline.request_reload();
    } else if (sig == 0) {
      spdlog::info("{} changed: reloading rules", opts.rules);
      pipeline.request_reload();
    }
  }
  // 6. shutdown, in reverse
  const std::string stopping = sensor->pinned() && guard.current().config.mode == CF_MODE_ENFORCE
                                   ? "stopping; enforcement stays in force (pinned)"
                                   : "stopping";
  notifier.stopping(stopping);
  pipeline.report(lifecycle_note("stop", stopping, guard));
  pipeline.stop();
  outs.pipeline.store(nullptr);
  metrics->stop();
  log_summary(*sensor, pipeline, redactor);
  if (sensor->pinned())
    spdlog::info("{}", guard.current().config.mode != CF_MODE_ENFORCE
                           ? std::string("nothing to enforce: the pinned programs are removed")
                           : "enforcement stays in force (pinned under " + opts.pin_dir +
                                 "); `clawfence unload` removes it");
  return 0;
}

int run_command_impl(const RunOptions& opts) {
  policy::RuleSet rules;
  if (!opts.rules.empty()) rules = load_rules_or_throw(opts.rules);
  require_root();
  sensor::KernelFeatures kf = probe_or_throw();
  output::JsonLinesSink sink(opts.common.output);
  RunCgroup cg(kf.cgroup2_path);

  std::vector<std::string> warnings;
  sensor::KernelTargets kt = process::compile_kernel_targets(rules.targets, kf.cgroup2_path, &warnings);
  for (const auto& w : warnings) spdlog::warn("{}", w);
  kt.cgroup_ids.push_back(cg.id());  // anything that execs in the run cgroup is watched
  auto sensor = sensor::Sensor::start(sensor_options(opts.common, cg.path(), kf), kt);
  log_mechanism(*sensor);
  std::unique_ptr<enforce::Guard> guard;
  if (!opts.rules.empty()) {
    enforce::GuardOptions gopts;
    gopts.system_resolvers = enforce::resolv_conf_nameservers();
    guard = std::make_unique<enforce::Guard>(*sensor, gopts);
    try {
      apply_guard(*guard, rules, opts.rules, cg.path());
    } catch (const std::invalid_argument& e) {
      throw StartError(2, "rules do not fit the kernel's guard maps: " + std::string(e.what()));
    }
  }

  // The child waits until it is in the cgroup and tracked before it execs CMD.
  int go[2], failed[2];
  if (pipe2(go, O_CLOEXEC) != 0 || pipe2(failed, O_CLOEXEC) != 0)
    throw StartError(1, std::string("pipe: ") + std::strerror(errno));
  std::vector<char*> argv;
  for (const auto& a : opts.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  sigset_t sigs = block_signals();
  pid_t child = fork();
  if (child < 0) throw StartError(1, std::string("fork: ") + std::strerror(errno));
  if (child == 0) {
    // Only async-signal-safe calls from here to exec.
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    int err = 0;
    char c;
    if (read(go[0], &c, 1) == 1) {
      execvp(argv[0], argv.data());
      err = errno;
    }
    if (!err) err = ECANCELED;
    ssize_t w = write(failed[1], &err, sizeof(err));
    (void)w;
    _exit(127);
  }
  close(go[0]);
  close(failed[1]);

  sensor::BootClock clock;
  process::ProcFs procfs;
  process::ProcessTable table(opts.common.table_size(), &procfs);
  process::Tracker tracker(table, procfs, clock, kf.cgroup2_path);
  tracker.set_targets(rules.targets);
  tracker.set_roles(process::RoleModel(rules.roles));
  tracker.set_dns_min_ttl(static_cast<int64_t>(rules.egress.dns_min_ttl_ns));
  tracker.set_dns_resolvers(policy::dns_resolvers(rules, enforce::resolv_conf_nameservers()));
  process::Redactor redactor;
  configure_redactor(redactor, opts.redact_patterns, rules);
  tracker.set_redactor(&redactor);
  // the key before anything is read: the command's environment and argv are. A command run to
  // see what it does has every process of it probed, whatever its role.
  auto env_probes =
      make_env_probes(*sensor, redactor, opts.common.env_probes == "judged" ? "watched" : opts.common.env_probes);
  {
    std::ofstream procs(cg.path() + "/cgroup.procs");
    procs << child << std::endl;
    if (!procs) {
      kill(child, SIGKILL);
      waitpid(child, nullptr, 0);
      throw StartError(1, "cannot move the command into " + cg.path());
    }
  }
  if (!sensor->track(static_cast<uint32_t>(child), static_cast<uint32_t>(child), CF_TRACK_USER)) {
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    throw StartError(1, "cannot track the command: tracked map full");
  }
  tracker.adopt(static_cast<uint32_t>(child), "run");
  Pipeline pipeline(*sensor, tracker, sink, clock, opts.common.queue_capacity,
                    opts.rules.empty() ? nullptr : std::make_unique<policy::Engine>(rules));
  pipeline.set_detail(stream_detail(opts.common.detail));
  pipeline.set_guard(guard.get());
  pipeline.set_env_probes(env_probes.get());
  pipeline.start();
  if (write(go[1], "g", 1) != 1) spdlog::warn("could not release the command: {}", std::strerror(errno));
  close(go[1]);

  int exec_err = 0;
  if (read(failed[0], &exec_err, sizeof(exec_err)) == sizeof(exec_err))
    spdlog::error("cannot run {}: {}", opts.command[0], std::strerror(exec_err));
  close(failed[0]);

  int status = 0;
  for (bool done = false; !done;) {
    int sig = sigwaitinfo(&sigs, nullptr);
    if (sig == SIGCHLD) {
      while (true) {
        int st = 0;
        pid_t r = waitpid(-1, &st, WNOHANG);
        if (r <= 0) break;
        if (r == child) {
          status = st;
          done = true;
        }
      }
    } else if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
      kill(child, sig);  // pass it on; we stop when the command does
    }
  }
  // Descendants that outlive CMD (daemonised, double-forked) are still watched for a while.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opts.grace_ms);
  while (cg.populated() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  pipeline.stop();
  log_summary(*sensor, pipeline, redactor);
  if (exec_err) return 127;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

template <typename F>
int guarded(F&& f) {
  try {
    return f();
  } catch (const StartError& e) {
    spdlog::error("{}", e.what());
    return e.code;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
}

}  // namespace

int run_agent(const AgentOptions& given) {
  sensor::route_libbpf_log();
  AgentOptions opts = given;
  if (opts.mode == "dry-run") opts.dry_run = true;
  return guarded([&] { return run_agent_impl(opts); });
}

int run_command(const RunOptions& opts) {
  sensor::route_libbpf_log();
  return guarded([&] { return run_command_impl(opts); });
}

int check_rules(const std::string& path) {
  auto res = policy::load_rules(path);
  for (const auto& e : res.errors) fprintf(stderr, "%s\n", e.to_string().c_str());
  if (!res.ok()) return 1;
  enforce::CompiledGuard guard;
  try {
    policy::Engine compiled(res.rules);  // everything a running agent would compile
    enforce::GuardOptions gopts;
    gopts.system_resolvers = enforce::resolv_conf_nameservers();  // as the agent would find them
    guard = enforce::compile_guard(res.rules, gopts);
    enforce::CompiledPaths paths;
    if (auto err = enforce::compile_paths(guard.paths, {"/root"}, &paths); !err.empty()) throw std::invalid_argument(err);
    for (auto& n : enforce::unexpressed_notes(paths, guard.paths, guard.rule_ids)) guard.notes.push_back(std::move(n));
  } catch (const std::exception& e) {
    fprintf(stderr, "%s: %s\n", path.c_str(), e.what());
    return 1;
  }
  printf("%s: ok: %s\n", path.c_str(), rules_summary(res.rules).c_str());
  for (const auto& n : guard.notes) printf("  enforcement: %s\n", n.c_str());
  return 0;
}

namespace {

std::string format_unix(uint64_t ns) {
  if (ns == 0) return "-";
  time_t t = static_cast<time_t>(ns / 1000000000ull);
  char buf[64];
  struct tm tm {};
  gmtime_r(&t, &tm);
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

template <typename T>
bool read_pinned(const std::string& path, T* out) {
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return false;
  uint32_t zero = 0;
  bool ok = bpf_map_lookup_elem(fd, &zero, out) == 0;
  close(fd);
  return ok;
}

}  // namespace

int show_status(const std::string& pin_dir) {
  if (geteuid() != 0) {
    fprintf(stderr, "clawfence status: must run as root (reads pinned eBPF objects)\n");
    return 4;
  }
  if (!sensor::has_pins(pin_dir)) {
    printf("clawfence: nothing pinned under %s (no agent in enforce mode has run, or `unload` removed it)\n",
           pin_dir.c_str());
    return 3;
  }
  cf_guard_info info{};
  cf_guard_config cfg{};
  bool have_info = read_pinned(pin_dir + "/maps/guard_info", &info);
  read_pinned(pin_dir + "/maps/guard_config", &cfg);
  const bool agent_alive = have_info && info.agent_pid && kill(static_cast<pid_t>(info.agent_pid), 0) == 0;
  const char* mode = cfg.mode == CF_MODE_ENFORCE ? "enforce" : cfg.mode == CF_MODE_DRY_RUN ? "dry-run" : "monitor";
  printf("clawfence: attached since %s, pinned under %s\n", format_unix(info.attached_unix_ns).c_str(), pin_dir.c_str());
  printf("  agent      pid %u (%s)\n", info.agent_pid, agent_alive ? "running" : "not running: the last policy stays in force");
  printf("  build      %s\n", info.build);
  printf("  mode       %s, fail-closed %s\n", mode, (cfg.flags & CF_GUARD_FAIL_CLOSED) ? "on" : "off");
  printf("  policy     generation %u, written %s\n", cfg.generation, format_unix(info.policy_unix_ns).c_str());
  printf("  rules      %s (sha256 %s)\n", info.rules_path, info.rules_sha256);
  printf("  cgroup     %s\n", info.attach_cgroup);
  int tracked_fd = bpf_obj_get((pin_dir + "/maps/tracked").c_str());
  if (tracked_fd >= 0) {
    printf("  tracked    %zu processes\n", sensor::map_keys<uint32_t>(tracked_fd).size());
    close(tracked_fd);
  }
  int counters_fd = bpf_obj_get((pin_dir + "/maps/counters").c_str());
  if (counters_fd >= 0) {
    const sensor::Counters c = sensor::read_counters(counters_fd);
    close(counters_fd);
    printf("  verdicts   %lu blocked, %lu killed, %lu would-block (dry run), %lu budget drops, %lu fail-closed\n",
           (unsigned long)c[CF_CNT_BLOCKED], (unsigned long)c[CF_CNT_KILLED], (unsigned long)c[CF_CNT_WOULD_BLOCK],
           (unsigned long)c[CF_CNT_BUDGET_DROPS], (unsigned long)c[CF_CNT_FAIL_CLOSED]);
    printf("  records    %lu written, %lu lost (ring buffer full)\n", (unsigned long)c[CF_CNT_RECORDS],
           (unsigned long)c[CF_CNT_RINGBUF_FULL]);
  }
  printf("  programs\n");
  for (const auto& l : sensor::list_pinned_links(pin_dir))
    printf("    %-18s %s (prog id %u)\n", l.name.c_str(), l.kind.c_str(), l.prog_id);
  return 0;
}

int unload(const std::string& pin_dir) {
  if (geteuid() != 0) {
    fprintf(stderr, "clawfence unload: must run as root\n");
    return 4;
  }
  if (!sensor::has_pins(pin_dir)) {
    printf("clawfence: nothing pinned under %s\n", pin_dir.c_str());
    return 0;
  }
  cf_guard_info info{};
  if (read_pinned(pin_dir + "/maps/guard_info", &info) && info.agent_pid &&
      kill(static_cast<pid_t>(info.agent_pid), 0) == 0) {
    char exe[256] = {};
    ssize_t n = readlink(("/proc/" + std::to_string(info.agent_pid) + "/exe").c_str(), exe, sizeof(exe) - 1);
    if (n > 0 && std::string(exe).find("clawfence") != std::string::npos) {
      fprintf(stderr, "clawfence agent pid %u is running with these programs: stop it first (it keeps enforcing "
                      "otherwise, and would re-pin on its next start)\n", info.agent_pid);
      return 1;
    }
  }
  try {
    for (const auto& line : sensor::unload_pins(pin_dir)) printf("%s\n", line.c_str());
  } catch (const std::exception& e) {
    fprintf(stderr, "clawfence unload: %s\n", e.what());
    return 1;
  }
  printf("clawfence: unloaded; nothing of clawfence is attached any more\n");
  return 0;
}

}  // namespace clawfence::app
