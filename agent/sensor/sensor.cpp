#include "sensor/sensor.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <map>
#include <stdexcept>

#include "clawfence.skel.h"

namespace clawfence::sensor {
namespace {

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args) {
  // verifier logs arrive as one message and can be long: keep their end, where the error is
  thread_local std::vector<char> buf(1 << 20);
  int n = vsnprintf(buf.data(), buf.size(), fmt, args);
  if (n <= 0) return 0;
  std::string msg(buf.data(), std::min<size_t>(static_cast<size_t>(n), buf.size() - 1));
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  switch (level) {
    case LIBBPF_WARN: spdlog::warn("libbpf: {}", msg); break;
    case LIBBPF_INFO: spdlog::debug("libbpf: {}", msg); break;
    case LIBBPF_DEBUG: spdlog::trace("libbpf: {}", msg); break;
  }
  return n;
}

std::runtime_error errno_error(const std::string& what, int err) {
  return std::runtime_error(what + ": " + std::strerror(err < 0 ? -err : err));
}

}  // namespace

void route_libbpf_log() { libbpf_set_print(libbpf_print); }

bool is_fentry_prog(const bpf_program* p) {
  std::string name = bpf_program__name(p);
  return name.rfind("cf_fentry_", 0) == 0 || name.rfind("cf_fexit_", 0) == 0;
}

bool is_syscall_tracepoint(const bpf_program* p) {
  std::string name = bpf_program__name(p);
  return name == "cf_sys_enter" || name == "cf_sys_exit";
}

std::unique_ptr<Sensor> Sensor::start(const SensorOptions& opts, const KernelTargets& targets) {
  if (opts.hooks == SyscallHooks::kFentry && opts.fallback_to_tracepoints) {
    try {
      return try_start(opts, targets);
    } catch (const std::exception& e) {
      spdlog::warn("fentry syscall hooks did not load ({}); using raw syscall tracepoints", e.what());
      SensorOptions fallback = opts;
      fallback.hooks = SyscallHooks::kTracepoints;
      return try_start(fallback, targets);
    }
  }
  return try_start(opts, targets);
}

std::unique_ptr<Sensor> Sensor::try_start(const SensorOptions& opts, const KernelTargets& targets) {
  std::unique_ptr<Sensor> s(new Sensor());
  s->open_and_configure(opts);
  s->load();
  // Targets go in before anything is attached, so the first exec seen is already matched.
  if (auto err = s->set_targets(targets); !err.empty()) throw std::runtime_error(err);
  s->attach(opts);
  return s;
}

void Sensor::open_and_configure(const SensorOptions& opts) {
  skel_ = clawfence_bpf__open();
  if (!skel_) throw errno_error("opening the eBPF object", errno);
  // One set of syscall hooks or the other: switched off before load, never loaded twice.
  hooks_ = opts.hooks;
  bpf_program* p;
  bpf_object__for_each_program(p, skel_->obj) {
    if (is_fentry_prog(p)) bpf_program__set_autoload(p, hooks_ == SyscallHooks::kFentry);
    if (is_syscall_tracepoint(p)) bpf_program__set_autoload(p, hooks_ == SyscallHooks::kTracepoints);
  }
  skel_->rodata->cf_agent_tgid = opts.agent_tgid;
  skel_->rodata->cf_match_argv = opts.match_argv;
  skel_->rodata->cf_wakeup_bytes = opts.wakeup_bytes;
  // With batched wakeups the reader's poll timeout is what bounds an event's delay.
  poll_ms_ = opts.wakeup_bytes ? static_cast<int>(opts.poll_ms) : 100;
  if (int err = bpf_map__set_max_entries(skel_->maps.events, opts.ringbuf_bytes))
    throw errno_error("sizing the ring buffer", err);
  if (int err = bpf_map__set_max_entries(skel_->maps.tracked, opts.max_tracked))
    throw errno_error("sizing the tracked map", err);
}

void Sensor::load() {
  if (int err = clawfence_bpf__load(skel_)) {
    if (err == -EPERM || errno == EPERM)
      throw std::runtime_error(
          "loading eBPF programs: permission denied (run as root, or with CAP_BPF, CAP_PERFMON "
          "and CAP_NET_ADMIN)");
    throw errno_error("loading eBPF programs (the verifier log is above)", err);
  }
}

void Sensor::attach(const SensorOptions& opts) {
  std::vector<bpf_program*> tracing = {
      skel_->progs.cf_fork, skel_->progs.cf_exec, skel_->progs.cf_exit, skel_->progs.cf_rename,
      skel_->progs.cf_cgroup_mkdir,
  };
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel_->obj) {
    if ((is_fentry_prog(prog) || is_syscall_tracepoint(prog)) && bpf_program__autoload(prog))
      tracing.push_back(prog);
  }
  for (bpf_program* p : tracing) {
    bpf_link* l = bpf_program__attach(p);
    if (!l) throw errno_error(std::string("attaching ") + bpf_program__section_name(p), errno);
    links_.push_back(l);
    attachments_.push_back(bpf_program__section_name(p));
  }

  cgroup_fd_ = ::open(opts.attach_cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cgroup_fd_ < 0) throw errno_error("opening cgroup " + opts.attach_cgroup, errno);
  bpf_program* hooks[] = {skel_->progs.cf_connect4, skel_->progs.cf_connect6, skel_->progs.cf_sendmsg4,
                          skel_->progs.cf_sendmsg6, skel_->progs.cf_dns_ingress, skel_->progs.cf_egress};
  for (bpf_program* p : hooks) {
    bpf_link* l = bpf_program__attach_cgroup(p, cgroup_fd_);
    if (!l)
      throw errno_error(std::string("attaching ") + bpf_program__section_name(p) + " to " +
                            opts.attach_cgroup,
                        errno);
    links_.push_back(l);
    attachments_.push_back(std::string(bpf_program__section_name(p)) + " on " + opts.attach_cgroup);
  }

  rb_ = ring_buffer__new(bpf_map__fd(skel_->maps.events), &Sensor::on_record, this, nullptr);
  if (!rb_) throw errno_error("opening the ring buffer", errno);
}

Sensor::~Sensor() {
  stop_reader();
  for (auto it = links_.rbegin(); it != links_.rend(); ++it) bpf_link__destroy(*it);
  if (rb_) ring_buffer__free(rb_);
  if (cgroup_fd_ >= 0) ::close(cgroup_fd_);
  if (skel_) clawfence_bpf__destroy(skel_);
}

std::string Sensor::set_targets(const KernelTargets& t) {
  int comms = bpf_map__fd(skel_->maps.target_comms);
  int cgroups = bpf_map__fd(skel_->maps.target_cgroups);
  int needles = bpf_map__fd(skel_->maps.target_needles);
  int cgpats = bpf_map__fd(skel_->maps.target_cgpats);

  // Clear hash maps first: a reload may have dropped a target.
  auto clear = [](int fd, size_t key_size) {
    std::vector<uint8_t> key(key_size), next(key_size);
    while (bpf_map_get_next_key(fd, nullptr, next.data()) == 0) bpf_map_delete_elem(fd, next.data());
  };
  clear(comms, CF_COMM_LEN);
  clear(cgroups, sizeof(uint64_t));

  uint8_t one = 1;
  for (const auto& c : t.comms) {
    char key[CF_COMM_LEN] = {};
    if (c.size() >= CF_COMM_LEN) return "target comm longer than 15 characters: " + c;
    std::memcpy(key, c.data(), c.size());
    if (bpf_map_update_elem(comms, key, &one, BPF_ANY)) return "target_comms full";
  }
  for (uint64_t id : t.cgroup_ids)
    if (bpf_map_update_elem(cgroups, &id, &one, BPF_ANY)) return "target_cgroups full";
  if (t.argv_needles.size() > CF_NEEDLES_MAX)
    return "at most " + std::to_string(CF_NEEDLES_MAX) + " argv_contains targets";
  for (uint32_t i = 0; i < CF_NEEDLES_MAX; ++i) {
    cf_needle n{};
    if (i < t.argv_needles.size()) {
      const auto& s = t.argv_needles[i];
      if (s.size() > CF_NEEDLE_LEN) return "argv_contains longer than 32 bytes: " + s;
      n.len = s.size();
      std::memcpy(n.bytes, s.data(), s.size());
    }
    bpf_map_update_elem(needles, &i, &n, BPF_ANY);
  }
  if (t.cgroup_leaf_patterns.size() > CF_CGPAT_MAX)
    return "at most " + std::to_string(CF_CGPAT_MAX) + " cgroup targets";
  for (uint32_t i = 0; i < CF_CGPAT_MAX; ++i) {
    cf_cgpat p{};
    if (i < t.cgroup_leaf_patterns.size()) {
      const auto& lp = t.cgroup_leaf_patterns[i];
      if (lp.prefix.size() > CF_CGPAT_LEN || lp.suffix.size() > CF_CGPAT_LEN)
        return "cgroup pattern too long: " + lp.prefix + "*" + lp.suffix;
      p.exact = lp.exact;
      p.prefix_len = lp.prefix.size();
      p.suffix_len = lp.suffix.size();
      std::memcpy(p.prefix, lp.prefix.data(), lp.prefix.size());
      std::memcpy(p.suffix, lp.suffix.data(), lp.suffix.size());
    }
    bpf_map_update_elem(cgpats, &i, &p, BPF_ANY);
  }
  return "";
}

bool Sensor::track(uint32_t tgid, uint32_t root_tgid, uint32_t reason) {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  cf_tracked v{};
  v.since_ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
  v.root_tgid = root_tgid;
  v.reason = reason;
  int fd = bpf_map__fd(skel_->maps.tracked);
  if (bpf_map_update_elem(fd, &tgid, &v, BPF_NOEXIST) == 0) return true;
  return errno == EEXIST;
}

bool Sensor::is_tracked(uint32_t tgid) const {
  cf_tracked v{};
  return bpf_map_lookup_elem(bpf_map__fd(skel_->maps.tracked), &tgid, &v) == 0;
}

size_t Sensor::tracked_count() const {
  int fd = bpf_map__fd(skel_->maps.tracked);
  uint32_t key = 0, next = 0;
  size_t n = 0;
  for (uint32_t* prev = nullptr; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &key) {
    key = next;
    ++n;
  }
  return n;
}

Counters Sensor::counters() const {
  Counters out{};
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return out;
  std::vector<uint64_t> vals(static_cast<size_t>(ncpu));
  int fd = bpf_map__fd(skel_->maps.counters);
  for (uint32_t i = 0; i < CF_CNT_MAX; ++i) {
    if (bpf_map_lookup_elem(fd, &i, vals.data()) != 0) continue;
    for (uint64_t v : vals) out[i] += v;
  }
  return out;
}

int Sensor::on_record(void* ctx, void* data, size_t size) {
  auto* self = static_cast<Sensor*>(ctx);
  if (self->cb_) self->cb_(data, size);
  return 0;
}

void Sensor::start_reader(RecordCallback cb) {
  cb_ = std::move(cb);
  stop_ = false;
  reader_ = std::thread([this] {
    while (!stop_.load(std::memory_order_relaxed)) {
      int n = ring_buffer__poll(rb_, poll_ms_);
      // With batched wakeups, records below the threshold raise no epoll event: poll times
      // out without reading them, so read whatever is there now.
      if (n == 0) n = ring_buffer__consume(rb_);
      if (n < 0 && n != -EINTR) {
        spdlog::error("ring buffer read failed: {}", std::strerror(-n));
        break;
      }
    }
    ring_buffer__consume(rb_);
  });
}

void Sensor::stop_reader() {
  stop_ = true;
  if (reader_.joinable()) reader_.join();
}

int Sensor::drain() { return ring_buffer__consume(rb_); }

std::vector<EgressSample> Sensor::egress_deltas() {
  std::vector<EgressSample> out;
  int fd = bpf_map__fd(skel_->maps.egress_bytes);
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return out;
  std::vector<cf_egress_val> vals(static_cast<size_t>(ncpu));
  std::map<std::vector<uint8_t>, uint64_t> seen;
  cf_egress_key key{}, next{};
  for (cf_egress_key* prev = nullptr; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &key) {
    key = next;
    if (bpf_map_lookup_elem(fd, &key, vals.data()) != 0) continue;
    uint64_t total = 0;
    for (const auto& v : vals) total += v.bytes;
    std::vector<uint8_t> k(reinterpret_cast<uint8_t*>(&key), reinterpret_cast<uint8_t*>(&key) + sizeof(key));
    seen[k] = total;
    auto it = egress_seen_.find(k);
    uint64_t before = it == egress_seen_.end() ? 0 : it->second;
    if (total > before) {
      EgressSample s;
      s.tgid = key.tgid;
      s.family = key.family;
      s.port = key.port;
      std::memcpy(s.addr, key.addr, sizeof(s.addr));
      s.bytes = total - before;
      out.push_back(s);
    }
  }
  egress_seen_ = std::move(seen);  // entries gone from the map (LRU, exited) are forgotten too
  return out;
}

}  // namespace clawfence::sensor
