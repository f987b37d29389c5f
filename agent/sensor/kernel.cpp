#include "sensor/kernel.h"

#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace clawfence::sensor {
namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;

std::string read_file(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool prog_type_ok(bpf_prog_type t) { return libbpf_probe_bpf_prog_type(t, nullptr) == 1; }

}  // namespace

std::string find_cgroup2_mount(const std::string& mountinfo) {
  // Fields: id parent major:minor root mountpoint options [optional...] - fstype source super
  std::istringstream lines(mountinfo);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::vector<std::string> fields;
    for (std::string w; f >> w;) fields.push_back(w);
    for (size_t i = 0; i + 1 < fields.size(); ++i) {
      if (fields[i] == "-" && fields[i + 1] == "cgroup2" && fields.size() > 4) return fields[4];
    }
  }
  return "";
}

KernelFeatures probe_kernel() {
  KernelFeatures f;
  utsname u{};
  if (uname(&u) == 0) f.release = u.release;
  f.btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
  f.ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1;
  f.raw_tracepoint = prog_type_ok(BPF_PROG_TYPE_RAW_TRACEPOINT);
  f.cgroup_sock_addr = prog_type_ok(BPF_PROG_TYPE_CGROUP_SOCK_ADDR);
  f.bpf_loop = libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_FUNC_loop, nullptr) == 1;
  f.tracing = prog_type_ok(BPF_PROG_TYPE_TRACING);
  bool lsm_type = prog_type_ok(BPF_PROG_TYPE_LSM);
  std::string lsms = read_file("/sys/kernel/security/lsm");
  // which LSMs are active is only in securityfs, often not mounted: mount it to ask (root only)
  if (lsm_type && lsms.empty() && mount("securityfs", "/sys/kernel/security", "securityfs", 0, nullptr) == 0)
    lsms = read_file("/sys/kernel/security/lsm");
  f.lsm = lsm_type && lsms.find("bpf") != std::string::npos;
  // libbpf attaches kprobes through perf's kprobe PMU, or else tracefs's kprobe_events
  f.kprobes = access("/sys/bus/event_source/devices/kprobe/type", R_OK) == 0 ||
              access("/sys/kernel/tracing/kprobe_events", W_OK) == 0 ||
              access("/sys/kernel/debug/tracing/kprobe_events", W_OK) == 0;
  f.cgroup2_path = find_cgroup2_mount(read_file("/proc/self/mountinfo"));
  return f;
}

std::vector<std::string> missing_requirements(const KernelFeatures& f) {
  std::vector<std::string> out;
  if (!f.btf) out.push_back("kernel BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF=y)");
  if (!f.ringbuf) out.push_back("BPF ring buffer maps (Linux 5.8+)");
  if (!f.raw_tracepoint) out.push_back("raw tracepoint programs");
  if (!f.cgroup_sock_addr) out.push_back("cgroup sock_addr programs (CONFIG_CGROUP_BPF=y)");
  if (!f.bpf_loop) out.push_back("the bpf_loop helper (Linux 5.17+)");
  if (f.cgroup2_path.empty()) out.push_back("a mounted cgroup v2 hierarchy");
  return out;
}

std::string ensure_bpffs() {
  struct statfs st {};
  if (statfs("/sys/fs/bpf", &st) == 0 && static_cast<long>(st.f_type) == kBpfFsMagic) return "";
  mkdir("/sys/fs/bpf", 0700);
  if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0)
    return std::string("cannot mount bpffs at /sys/fs/bpf: ") + std::strerror(errno);
  return "";
}

}  // namespace clawfence::sensor
