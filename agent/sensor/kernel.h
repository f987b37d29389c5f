// What the running kernel offers, and the filesystems the agent needs mounted.
#pragma once

#include <string>
#include <vector>

namespace clawfence::sensor {

struct KernelFeatures {
  std::string release;
  bool btf = false;               // /sys/kernel/btf/vmlinux: CO-RE needs it
  bool ringbuf = false;           // BPF_MAP_TYPE_RINGBUF (5.8)
  bool raw_tracepoint = false;    // raw_tp programs: the sensors
  bool cgroup_sock_addr = false;  // cgroup connect/sendmsg hooks
  bool bpf_loop = false;          // bpf_loop helper (5.17): path walks, argv matching
  bool tracing = false;           // fentry/fexit/tp_btf program type
  bool lsm = false;               // BPF LSM program type, and "bpf" in the active LSM list
  bool kprobes = false;           // kprobes (perf's kprobe PMU or tracefs): the hard-link guard
  std::string cgroup2_path;       // where cgroup v2 is mounted
};

// Probes the running kernel. Never throws; missing facilities are reported as false.
KernelFeatures probe_kernel();

// Facilities the sensors cannot run without, as human-readable reasons; empty when all present.
std::vector<std::string> missing_requirements(const KernelFeatures& f);

// Mount point of the cgroup v2 hierarchy from /proc/self/mountinfo content, or "".
std::string find_cgroup2_mount(const std::string& mountinfo);

// Mounts bpffs at /sys/fs/bpf when nothing is mounted there. Returns an error text or "".
std::string ensure_bpffs();

}  // namespace clawfence::sensor
