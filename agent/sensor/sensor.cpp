#include "sensor/sensor.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <functional>
#include <algorithm>
#include <map>
#include <stdexcept>

#include "clawfence.skel.h"
#include "common/digest.h"
#include "common/thread_name.h"
#include "sensor/map_keys.h"

namespace clawfence::sensor {
namespace {

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args) {
  // verifier logs arrive as one message and can be long: keep their end, where the error is
  thread_local std::vector<char> buf(1 << 20);
  int n = vsnprintf(buf.data(), buf.size(), fmt, args);
  if (n <= 0) return 0;
  std::string msg(buf.data(), std::min<size_t>(static_cast<size_t>(n), buf.size() - 1));
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  // a uprobe placed for one process that has exited meanwhile: its exit, not a fault
  if (level == LIBBPF_WARN && msg.find("probe '") != std::string::npos &&
      msg.find("perf event: No such process") != std::string::npos)
    level = LIBBPF_INFO;
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

// Not fatal: links are still recorded, and a kill rule on a linked file is carried out from
// user space after the event.
void warn_link_guard_not_attached(int err) {
  spdlog::warn("hard-link guard not attached ({}): kill rules on a linked file act from user space",
               std::strerror(err));
}

// Whether the running kernel's BTF has `name` of `kind` (a function a program attached to would
// load; a tracepoint's btf_trace_ typedef).
bool kernel_has(const char* name, int kind) {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return false;
  const bool found = btf__find_by_name_kind(vmlinux, name, kind) > 0;
  btf__free(vmlinux);
  return found;
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

bool is_lsm_prog(const bpf_program* p) { return bpf_program__type(p) == BPF_PROG_TYPE_LSM; }

// File operations submitted through io_uring (raw_tp/io_uring_submit_req).
bool is_uring_prog(const bpf_program* p) { return std::string(bpf_program__name(p)) == "cf_uring_submit_req"; }

// The hard-link guard (kprobe/may_linkat), with either set of syscall hooks.
bool is_link_guard(const bpf_program* p) { return std::string(bpf_program__name(p)) == "cf_link_guard"; }

// SEC("uprobe")/SEC("uretprobe") with no binary: attached per watched binary, never here.
bool is_uprobe_prog(const bpf_program* p) {
  std::string sec = bpf_program__section_name(p);
  return sec.rfind("uprobe", 0) == 0 || sec.rfind("uretprobe", 0) == 0;
}

std::unique_ptr<Sensor> Sensor::start(const SensorOptions& opts, const KernelTargets& targets) {
  if (opts.hooks == SyscallHooks::kFentry)
    spdlog::warn("syscall hooks by fentry: 32-bit (compat) syscalls enter through other wrappers and are not "
                 "judged (the raw tracepoints, --syscall-hooks tracepoints, judge them)");
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
  const bool adopt = !opts.pin_dir.empty() && has_pins(opts.pin_dir);
  // Adopting: the new programs share the pinned maps (tracked set, policy, ring buffer), so
  // nothing the running guards know is lost, and the pinned links keep running meanwhile.
  if (adopt) s->reuse_pinned_maps(opts.pin_dir);
  s->load();
  // Targets go in before anything is attached, so the first exec seen is already matched.
  if (auto err = s->set_targets(targets); !err.empty()) throw std::runtime_error(err);
  if (adopt) {
    s->adopt_links(opts);
  } else {
    s->attach(opts);
    if (!opts.pin_dir.empty()) {
      s->pin_dir_ = opts.pin_dir;
      s->pin_all();
    }
  }
  s->rb_ = ring_buffer__new(bpf_map__fd(s->skel_->maps.events), &Sensor::on_record, s.get(), nullptr);
  if (!s->rb_) throw errno_error("opening the ring buffer", errno);
  return s;
}

namespace {

std::string map_pin(const std::string& dir, const bpf_map* m) { return dir + "/maps/" + bpf_map__name(m); }
std::string link_pin(const std::string& dir, const bpf_program* p) { return dir + "/links/" + bpf_program__name(p); }

bool pinnable(const bpf_map* m) { return !bpf_map__is_internal(m); }

// The programs attached where: tracing programs system-wide, cgroup programs on the attach cgroup.
bool is_cgroup_prog(const bpf_program* p) {
  switch (bpf_program__type(p)) {
    case BPF_PROG_TYPE_CGROUP_SOCK_ADDR:
    case BPF_PROG_TYPE_CGROUP_SKB:
    case BPF_PROG_TYPE_CGROUP_SOCK:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string object_digest() {
  size_t size = 0;
  const void* data = clawfence_bpf__elf_bytes(&size);
  return common::sha256_hex(std::string_view(static_cast<const char*>(data), size)).substr(0, 16);
}

bool has_pins(const std::string& pin_dir) { return access((pin_dir + "/links").c_str(), F_OK) == 0; }

void Sensor::reuse_pinned_maps(const std::string& pin_dir) {
  bpf_map* m;
  bpf_object__for_each_map(m, skel_->obj) {
    if (!pinnable(m)) continue;
    int fd = bpf_obj_get(map_pin(pin_dir, m).c_str());
    if (fd < 0) continue;  // a map this build added: created fresh, pinned below
    int err = bpf_map__reuse_fd(m, fd);
    ::close(fd);
    if (err)
      throw errno_error(std::string("reusing pinned map ") + bpf_map__name(m) +
                            " (pins of an incompatible build? `clawfence unload` removes them)",
                        err);
  }
}

void Sensor::adopt_links(const SensorOptions& opts) {
  pin_dir_ = opts.pin_dir;
  adopted_ = true;
  cgroup_fd_ = ::open(opts.attach_cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  bpf_program* p;
  bpf_object__for_each_program(p, skel_->obj) {
    if (!bpf_program__autoload(p) || is_uprobe_prog(p)) continue;
    const std::string pin = link_pin(pin_dir_, p);
    int fd = bpf_obj_get(pin.c_str());
    if (fd >= 0) {
      // The same programs keep running: nothing is attached a second time. A different build's
      // cgroup programs are swapped in place (the link never detaches); its tracing programs
      // are attached anew before the old link goes, so there is no moment without one.
      bool same_build = true;
      cf_guard_info info{};
      uint32_t zero = 0;
      if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.guard_info), &zero, &info) == 0)
        same_build = opts.build_id == std::string(info.build, strnlen(info.build, sizeof(info.build)));
      if (same_build) {
        adopted_link_fds_.push_back(fd);
        attachments_.push_back(std::string(bpf_program__section_name(p)) + " (adopted)");
        continue;
      }
      if (is_cgroup_prog(p)) {
        if (bpf_link_update(fd, bpf_program__fd(p), nullptr))
          throw errno_error(std::string("replacing the program of pinned link ") + pin, errno);
        adopted_link_fds_.push_back(fd);
        attachments_.push_back(std::string(bpf_program__section_name(p)) + " (adopted, program replaced)");
        continue;
      }
      bpf_link* l = bpf_program__attach(p);
      if (!l) throw errno_error(std::string("attaching ") + bpf_program__section_name(p), errno);
      ::unlink(pin.c_str());
      if (int err = bpf_link__pin(l, pin.c_str())) throw errno_error("pinning " + pin, err);
      ::close(fd);  // the old link goes with its last reference
      links_.push_back(l);
      attachments_.push_back(std::string(bpf_program__section_name(p)) + " (replaced)");
      continue;
    }
    // A program the pins do not have (a newer build, or other syscall hooks): attach and pin it.
    bpf_link* l = is_cgroup_prog(p) ? bpf_program__attach_cgroup(p, cgroup_fd_) : bpf_program__attach(p);
    if (!l && is_link_guard(p)) {
      warn_link_guard_not_attached(errno);
      continue;
    }
    if (!l) throw errno_error(std::string("attaching ") + bpf_program__section_name(p), errno);
    if (int err = bpf_link__pin(l, pin.c_str())) throw errno_error("pinning " + pin, err);
    links_.push_back(l);
    attachments_.push_back(bpf_program__section_name(p));
  }
  // maps this build added
  bpf_map* m;
  bpf_object__for_each_map(m, skel_->obj) {
    if (pinnable(m) && access(map_pin(pin_dir_, m).c_str(), F_OK) != 0) bpf_map__pin(m, map_pin(pin_dir_, m).c_str());
  }
}

void Sensor::pin_all() {
  for (const char* sub : {"", "/maps", "/links"}) {
    const std::string d = pin_dir_ + sub;
    if (mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) throw errno_error("creating " + d, errno);
  }
  bpf_map* m;
  bpf_object__for_each_map(m, skel_->obj) {
    if (!pinnable(m)) continue;
    if (int err = bpf_map__pin(m, map_pin(pin_dir_, m).c_str())) throw errno_error("pinning map " + map_pin(pin_dir_, m), err);
  }
  for (size_t i = 0; i < links_.size(); ++i) {
    const bpf_program* p = link_progs_[i];
    if (int err = bpf_link__pin(links_[i], link_pin(pin_dir_, p).c_str()))
      throw errno_error("pinning link " + link_pin(pin_dir_, p), err);
  }
}

std::vector<PinnedLink> list_pinned_links(const std::string& pin_dir) {
  std::vector<PinnedLink> out;
  DIR* d = opendir((pin_dir + "/links").c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    PinnedLink pl;
    pl.name = e->d_name;
    int fd = bpf_obj_get((pin_dir + "/links/" + pl.name).c_str());
    if (fd < 0) {
      pl.kind = std::string("unreadable: ") + std::strerror(errno);
      out.push_back(pl);
      continue;
    }
    bpf_link_info info{};
    char tp[128] = {};
    info.raw_tracepoint.tp_name = reinterpret_cast<uint64_t>(tp);
    info.raw_tracepoint.tp_name_len = sizeof(tp);
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
      pl.prog_id = info.prog_id;
      switch (info.type) {
        case BPF_LINK_TYPE_RAW_TRACEPOINT:
          pl.kind = std::string("raw_tracepoint ") + tp;
          break;
        case BPF_LINK_TYPE_CGROUP:
          pl.kind = std::string("cgroup ") + libbpf_bpf_attach_type_str(static_cast<bpf_attach_type>(info.cgroup.attach_type)) +
                    " on cgroup id " + std::to_string(info.cgroup.cgroup_id) +
                    (info.cgroup.cgroup_id == 0 ? " (cgroup removed: inactive)" : "");
          break;
        case BPF_LINK_TYPE_TRACING:
          pl.kind = info.tracing.attach_type == BPF_LSM_MAC ? "lsm" : "tracing (fentry/fexit)";
          break;
        default:
          pl.kind = std::string("link type ") + libbpf_bpf_link_type_str(static_cast<bpf_link_type>(info.type));
      }
    }
    ::close(fd);
    out.push_back(pl);
  }
  closedir(d);
  std::sort(out.begin(), out.end(), [](const PinnedLink& a, const PinnedLink& b) { return a.name < b.name; });
  return out;
}

std::vector<std::string> unload_pins(const std::string& pin_dir) {
  std::vector<std::string> done;
  auto each = [&](const std::string& sub, const std::function<void(const std::string&)>& f) {
    DIR* d = opendir((pin_dir + sub).c_str());
    if (!d) return;
    std::vector<std::string> names;
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') names.push_back(e->d_name);
    closedir(d);
    for (const auto& n : names) f(pin_dir + sub + "/" + n);
  };
  each("/links", [&](const std::string& path) {
    int fd = bpf_obj_get(path.c_str());
    // detach now, even if some other process still holds the link open
    if (fd >= 0) {
      bpf_link_detach(fd);
      ::close(fd);
    }
    if (::unlink(path.c_str()) != 0) throw errno_error("removing " + path, errno);
    done.push_back("detached " + path.substr(path.rfind('/') + 1));
  });
  each("/maps", [&](const std::string& path) {
    if (::unlink(path.c_str()) != 0) throw errno_error("removing " + path, errno);
  });
  for (const char* sub : {"/links", "/maps", ""}) ::rmdir((pin_dir + sub).c_str());
  if (access(pin_dir.c_str(), F_OK) == 0) throw std::runtime_error(pin_dir + " is not empty: something else is pinned there");
  return done;
}

bool uprobe_multi_supported() { return kernel_has("bpf_uprobe_multi_link_attach", BTF_KIND_FUNC); }

namespace {
// BPF_TRACE_UPROBE_MULTI and BPF_F_UPROBE_MULTI_RETURN (Linux 6.6), and link_create's
// uprobe_multi member: newer than the headers of Debian 12's libbpf 1.1 and kernel 6.1.
constexpr int kTraceUprobeMulti = 48;
constexpr uint32_t kUprobeMultiReturn = 1;
struct LinkCreateUprobeMulti {
  uint32_t prog_fd, target_fd, attach_type, flags;
  uint64_t path, offsets, ref_ctr_offsets, cookies;
  uint32_t cnt, multi_flags, pid, pad;
};
static_assert(sizeof(LinkCreateUprobeMulti) == 64, "link_create with uprobe_multi is 64 bytes");

bool is_env_uprobe(const bpf_program* p) {
  const std::string sec = bpf_program__section_name(p);
  return std::string(bpf_program__name(p)).rfind("cf_env_", 0) == 0 && (sec == "uprobe" || sec == "uretprobe");
}
}  // namespace

int Sensor::attach_uprobe_multi(const std::string& prog, const std::string& path, uint64_t offset, bool ret, int pid,
                                std::string* err) const {
  const bpf_program* p = program(prog);
  if (!p) {
    *err = "the eBPF object has no program " + prog;
    return -1;
  }
  union {
    LinkCreateUprobeMulti lc;
    char bytes[128];
  } attr{};
  const unsigned long offsets[1] = {static_cast<unsigned long>(offset)};
  attr.lc.prog_fd = static_cast<uint32_t>(bpf_program__fd(p));
  attr.lc.attach_type = kTraceUprobeMulti;
  attr.lc.path = reinterpret_cast<uintptr_t>(path.c_str());
  attr.lc.offsets = reinterpret_cast<uintptr_t>(offsets);
  attr.lc.cnt = 1;
  attr.lc.multi_flags = ret ? kUprobeMultiReturn : 0;
  attr.lc.pid = static_cast<uint32_t>(pid);
  const long fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
  if (fd < 0) {
    *err = std::string("attaching ") + prog + " (uprobe-multi): " + std::strerror(errno);
    return -1;
  }
  return static_cast<int>(fd);
}

void Sensor::open_and_configure(const SensorOptions& opts) {
  skel_ = clawfence_bpf__open();
  if (!skel_) throw errno_error("opening the eBPF object", errno);
  env_uprobe_multi_ = opts.env_uprobe_multi;
  // One set of syscall hooks or the other: switched off before load, never loaded twice.
  hooks_ = opts.hooks;
  bpf_program* p;
  bpf_object__for_each_program(p, skel_->obj) {
    if (is_fentry_prog(p)) bpf_program__set_autoload(p, hooks_ == SyscallHooks::kFentry);
    if (opts.env_uprobe_multi && is_env_uprobe(p))
      bpf_program__set_expected_attach_type(p, static_cast<bpf_attach_type>(kTraceUprobeMulti));
    if (is_syscall_tracepoint(p)) bpf_program__set_autoload(p, hooks_ == SyscallHooks::kTracepoints);
    // Kernels without BPF LSM have no program type (or no hook) to load these for.
    if (is_lsm_prog(p)) bpf_program__set_autoload(p, opts.lsm);
    // Where the function is not in BTF (inlined, renamed): links are still recorded (the
    // syscall exits), and a kill rule on a linked file is carried out from user space.
    // Kernels before 5.19 name the tracepoint io_uring_submit_sqe, and kernels without io_uring
    // have none: ring operations are then not judged (the agent says so).
    if (is_uring_prog(p)) {
      const bool can = kernel_has("btf_trace_io_uring_submit_req", BTF_KIND_TYPEDEF);
      bpf_program__set_autoload(p, can);
      if (!can)
        spdlog::info("io_uring submissions are not observed (no io_uring_submit_req tracepoint in this kernel): "
                     "file operations through a ring are not judged");
    }
    if (is_link_guard(p)) {
      const bool can = opts.link_guard && kernel_has("may_linkat", BTF_KIND_FUNC);
      bpf_program__set_autoload(p, can);
      if (!can)
        spdlog::info("hard-link guard off (no kprobes, or no may_linkat, in this kernel): links are recorded "
                     "and alerted; a kill rule on a linked file is carried out from user space");
    }
  }
  skel_->rodata->cf_agent_tgid = opts.agent_tgid;
  skel_->rodata->cf_match_argv = opts.match_argv;
  skel_->rodata->cf_scope_cgroup = opts.scope_cgroup_id;
  skel_->rodata->cf_scope_level = opts.scope_level;
  skel_->rodata->cf_wakeup_bytes = opts.wakeup_bytes;
  skel_->rodata->cf_fork_wakeup = opts.wake_at_fork;
  skel_->rodata->cf_env_window_ns = opts.env_fold_window_ns;
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

int Sensor::map_fd(const std::string& name) const {
  const bpf_map* m = bpf_object__find_map_by_name(skel_->obj, name.c_str());
  return m ? bpf_map__fd(m) : -1;
}

bpf_program* Sensor::program(const std::string& name) const {
  return bpf_object__find_program_by_name(skel_->obj, name.c_str());
}

void Sensor::attach(const SensorOptions& opts) {
  std::vector<bpf_program*> tracing = {
      skel_->progs.cf_fork, skel_->progs.cf_exec, skel_->progs.cf_exit, skel_->progs.cf_rename,
      skel_->progs.cf_cgroup_mkdir,
  };
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel_->obj) {
    if ((is_fentry_prog(prog) || is_syscall_tracepoint(prog) || is_lsm_prog(prog) || is_link_guard(prog) ||
         is_uring_prog(prog)) &&
        bpf_program__autoload(prog))
      tracing.push_back(prog);
  }
  for (bpf_program* p : tracing) {
    bpf_link* l = bpf_program__attach(p);
    if (!l && is_link_guard(p)) {
      warn_link_guard_not_attached(errno);
      continue;
    }
    if (!l) throw errno_error(std::string("attaching ") + bpf_program__section_name(p), errno);
    links_.push_back(l);
    link_progs_.push_back(p);
    attachments_.push_back(bpf_program__section_name(p));
  }

  cgroup_fd_ = ::open(opts.attach_cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cgroup_fd_ < 0) throw errno_error("opening cgroup " + opts.attach_cgroup, errno);
  bpf_program* hooks[] = {skel_->progs.cf_connect4, skel_->progs.cf_connect6,   skel_->progs.cf_sendmsg4,
                          skel_->progs.cf_sendmsg6, skel_->progs.cf_sock_create, skel_->progs.cf_dns_ingress,
                          skel_->progs.cf_egress};
  for (bpf_program* p : hooks) {
    bpf_link* l = bpf_program__attach_cgroup(p, cgroup_fd_);
    if (!l)
      throw errno_error(std::string("attaching ") + bpf_program__section_name(p) + " to " +
                            opts.attach_cgroup,
                        errno);
    links_.push_back(l);
    link_progs_.push_back(p);
    attachments_.push_back(std::string(bpf_program__section_name(p)) + " on " + opts.attach_cgroup);
  }
}

Sensor::~Sensor() {
  stop_reader();
  if (pinned() && keep_pins_) {
    // Enforcement stays: only this process's descriptors go, the pins hold the links.
    for (bpf_link* l : links_) bpf_link__disconnect(l);
  } else if (pinned()) {
    try {
      unload_pins(pin_dir_);
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
    }
  }
  for (int fd : adopted_link_fds_) ::close(fd);
  for (auto it = links_.rbegin(); it != links_.rend(); ++it) bpf_link__destroy(*it);
  if (rb_) ring_buffer__free(rb_);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (rb_cons_) munmap(const_cast<unsigned long*>(rb_cons_), page);
  if (rb_prod_) munmap(const_cast<unsigned long*>(rb_prod_), page);
  if (cgroup_fd_ >= 0) ::close(cgroup_fd_);
  if (skel_) clawfence_bpf__destroy(skel_);
}

std::string Sensor::set_targets(const KernelTargets& t) {
  int comms = bpf_map__fd(skel_->maps.target_comms);
  int cgroups = bpf_map__fd(skel_->maps.target_cgroups);
  int needles = bpf_map__fd(skel_->maps.target_needles);
  int cgpats = bpf_map__fd(skel_->maps.target_cgpats);

  // Clear hash maps first: a reload may have dropped a target.
  for (const auto& k : map_keys<std::array<char, CF_COMM_LEN>>(comms)) bpf_map_delete_elem(comms, k.data());
  for (const auto& k : map_keys<uint64_t>(cgroups)) bpf_map_delete_elem(cgroups, &k);

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

bool Sensor::track(uint32_t tgid, uint32_t root_tgid, uint32_t reason, const TrackedRole& role) {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  cf_tracked v{};
  v.since_ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
  v.root_tgid = root_tgid;
  v.reason = reason;
  v.group = role.group ? role.group : tgid;
  v.role = role.role;
  v.origin = role.origin;
  int fd = bpf_map__fd(skel_->maps.tracked);
  if (bpf_map_update_elem(fd, &tgid, &v, BPF_NOEXIST) == 0) return true;
  return errno == EEXIST;
}

bool Sensor::is_tracked(uint32_t tgid) const {
  cf_tracked v{};
  return bpf_map_lookup_elem(bpf_map__fd(skel_->maps.tracked), &tgid, &v) == 0;
}

std::vector<uint32_t> Sensor::tracked_pids() const { return map_keys<uint32_t>(bpf_map__fd(skel_->maps.tracked)); }

void Sensor::untrack(uint32_t tgid) { bpf_map_delete_elem(bpf_map__fd(skel_->maps.tracked), &tgid); }

void Sensor::renumber_roles(const std::vector<uint8_t>& map) {
  const int fd = bpf_map__fd(skel_->maps.tracked);
  auto renumber = [&](uint8_t r) -> uint8_t { return r < map.size() ? map[r] : 0; };
  for (uint32_t tgid : map_keys<uint32_t>(fd)) {
    cf_tracked t{};
    if (bpf_map_lookup_elem(fd, &tgid, &t) != 0) continue;  // gone meanwhile
    cf_tracked n = t;
    n.role = renumber(t.role);
    if (t.origin != CF_ORIGIN_ROOT) n.origin = renumber(t.origin);
    if (n.role != t.role || n.origin != t.origin) bpf_map_update_elem(fd, &tgid, &n, BPF_EXIST);
  }
}

size_t Sensor::tracked_count() const { return tracked_pids().size(); }

Counters Sensor::counters() const { return read_counters(bpf_map__fd(skel_->maps.counters)); }

// A BPF ring buffer's first page holds the consumer position, the second the producer position
// (the data pages follow); both can be mapped read-only besides libbpf's own mapping.
double Sensor::ringbuf_fill() const {
  std::lock_guard<std::mutex> l(rb_pos_mu_);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const int fd = bpf_map__fd(skel_->maps.events);
  if (!rb_cons_) {
    void* c = mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, 0);
    if (c == MAP_FAILED) return 0;
    void* p = mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(page));
    if (p == MAP_FAILED) {
      munmap(c, page);
      return 0;
    }
    rb_cons_ = static_cast<const volatile unsigned long*>(c);
    rb_prod_ = static_cast<const volatile unsigned long*>(p);
  }
  const uint32_t size = bpf_map__max_entries(skel_->maps.events);
  if (size == 0) return 0;
  const unsigned long cons = __atomic_load_n(rb_cons_, __ATOMIC_ACQUIRE);
  const unsigned long prod = __atomic_load_n(rb_prod_, __ATOMIC_ACQUIRE);
  return prod > cons ? static_cast<double>(prod - cons) / size : 0.0;
}

Counters read_counters(int fd) {
  Counters out{};
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return out;
  std::vector<uint64_t> vals(static_cast<size_t>(ncpu));
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

void Sensor::start_reader(RecordCallback cb, std::function<void()> after_poll) {
  cb_ = std::move(cb);
  stop_ = false;
  reader_ = std::thread([this, after_poll = std::move(after_poll)] {
    common::name_this_thread("cf-ringbuf");
    while (!stop_.load(std::memory_order_relaxed)) {
      int n = ring_buffer__poll(rb_, poll_ms_);
      // With batched wakeups, records below the threshold raise no epoll event: poll times
      // out without reading them, so read whatever is there now.
      if (n == 0) n = ring_buffer__consume(rb_);
      if (n < 0 && n != -EINTR) {
        spdlog::error("ring buffer read failed: {}", std::strerror(-n));
        break;
      }
      if (n > 0 && after_poll) after_poll();
    }
    ring_buffer__consume(rb_);
    if (after_poll) after_poll();
  });
}

void Sensor::stop_reader() {
  stop_ = true;
  if (reader_.joinable()) reader_.join();
}

int Sensor::drain() { return ring_buffer__consume(rb_); }

}  // namespace clawfence::sensor
