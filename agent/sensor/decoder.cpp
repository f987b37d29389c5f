#include "sensor/decoder.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>

#include "clawfence/abi.h"
#include "proto/timestamp.h"
#include "sensor/dns.h"

namespace clawfence::sensor {
namespace {

// Syscall numbers as bpf/lib/syscalls.bpf.h knows them, for names in records.
struct SyscallName {
  int64_t nr;
  const char* name;
};
#if defined(__x86_64__)
constexpr SyscallName kSyscalls[] = {
    {2, "open"},       {85, "creat"},     {87, "unlink"},     {82, "rename"},
    {42, "connect"},   {44, "sendto"},    {46, "sendmsg"},    {307, "sendmmsg"},
    {257, "openat"},   {263, "unlinkat"}, {264, "renameat"},  {316, "renameat2"},
    {437, "openat2"},  {86, "link"},      {265, "linkat"},    {304, "open_by_handle_at"},
    {56, "clone"},     {435, "clone3"},   {272, "unshare"},   {308, "setns"},
    {165, "mount"},    {166, "umount2"},  {428, "open_tree"}, {429, "move_mount"},
    {432, "fsmount"},  {442, "mount_setattr"}, {310, "process_vm_readv"}, {311, "process_vm_writev"},
    {438, "pidfd_getfd"}, {101, "ptrace"},    {62, "kill"},       {200, "tkill"},
    {234, "tgkill"},   {302, "prlimit64"}, {424, "pidfd_send_signal"}, {129, "rt_sigqueueinfo"},
    {297, "rt_tgsigqueueinfo"},
};
#elif defined(__aarch64__)
constexpr SyscallName kSyscalls[] = {
    {203, "connect"},  {206, "sendto"},   {211, "sendmsg"},  {269, "sendmmsg"},
    {56, "openat"},    {35, "unlinkat"},  {38, "renameat"},  {276, "renameat2"},
    {437, "openat2"},  {37, "linkat"},    {265, "open_by_handle_at"},
    {220, "clone"},    {435, "clone3"},   {97, "unshare"},    {268, "setns"},
    {40, "mount"},     {39, "umount2"},   {428, "open_tree"}, {429, "move_mount"},
    {432, "fsmount"},  {442, "mount_setattr"}, {270, "process_vm_readv"}, {271, "process_vm_writev"},
    {438, "pidfd_getfd"}, {117, "ptrace"},    {129, "kill"},      {130, "tkill"},
    {131, "tgkill"},   {261, "prlimit64"}, {424, "pidfd_send_signal"}, {138, "rt_sigqueueinfo"},
    {240, "rt_tgsigqueueinfo"},
};
#else
#error "syscall names for this architecture are missing"
#endif

std::string fixed_str(const char* s, size_t max) { return sanitize_utf8(std::string(s, strnlen(s, max))); }

// Length of the valid UTF-8 sequence at p[0..n), or 0.
size_t utf8_len(const unsigned char* p, size_t n) {
  unsigned char c = p[0];
  size_t len;
  uint32_t min;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2, min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4, min = 0x10000;
  } else {
    return 0;
  }
  if (len > n) return 0;
  uint32_t cp = c & (0x7f >> len);
  for (size_t k = 1; k < len; ++k) {
    if ((p[k] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (p[k] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

// The strings of a record's variable data, bounds-checked.
bool read_strs(const cf_strs& strs, const char* data, size_t avail, std::string out[CF_STR_SLOTS]) {
  size_t off = 0;
  for (int i = 0; i < CF_STR_SLOTS; ++i) {
    size_t len = strs.len[i];
    if (len > CF_PATH_MAX || off + len > avail) return false;
    out[i] = sanitize_utf8(std::string(data + off, len));
    off += len;
  }
  return true;
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (!name.empty() && name[0] == '/') return normalize_path(name);
  if (dir.empty()) return name;  // directory unknown: keep the name as given
  return normalize_path(dir + "/" + name);
}

void open_flags(uint32_t flags, v1::FileOp* f) {
  switch (flags & O_ACCMODE) {
    case O_RDONLY: f->set_access("read"); break;
    case O_WRONLY: f->set_access("write"); break;
    default: f->set_access("read_write"); break;
  }
  struct Flag {
    uint32_t bit;
    const char* name;
  };
  static const Flag kFlags[] = {
      {O_CREAT, "O_CREAT"},         {O_EXCL, "O_EXCL"},         {O_NOCTTY, "O_NOCTTY"},
      {O_TRUNC, "O_TRUNC"},         {O_APPEND, "O_APPEND"},     {O_NONBLOCK, "O_NONBLOCK"},
      {O_DIRECTORY, "O_DIRECTORY"}, {O_NOFOLLOW, "O_NOFOLLOW"}, {O_CLOEXEC, "O_CLOEXEC"},
      {O_PATH, "O_PATH"},           {O_SYNC, "O_SYNC"},         {O_NOATIME, "O_NOATIME"},
  };
  for (const auto& fl : kFlags)
    if ((flags & fl.bit) == fl.bit) f->add_flags(fl.name);
  if ((flags & O_TMPFILE) == O_TMPFILE) f->add_flags("O_TMPFILE");
}

// -result for errno_name. The most negative result has no positive counterpart (negating it is
// undefined); it is passed on as it is, and errno_name shows it as a number.
int64_t negate_result(int64_t result) { return result == std::numeric_limits<int64_t>::min() ? result : -result; }

void set_result(int64_t result, v1::FileOp* f) {
  f->set_result(static_cast<int32_t>(result));
  if (result < 0) f->set_error(errno_name(negate_result(result)));
}

}  // namespace

const char* to_string(DecodeStatus s) {
  switch (s) {
    case DecodeStatus::kOk: return "ok";
    case DecodeStatus::kTruncated: return "truncated record";
    case DecodeStatus::kBadSize: return "size mismatch";
    case DecodeStatus::kUnknownOp: return "unknown op code";
  }
  return "?";
}

BootClock::BootClock() {
  timespec real{}, boot{};
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_BOOTTIME, &boot);
  offset_ns_ = (real.tv_sec - boot.tv_sec) * 1000000000ll + (real.tv_nsec - boot.tv_nsec);
}

std::string track_reason_name(uint32_t reason) {
  switch (reason) {
    case CF_TRACK_INHERITED: return "inherited";
    case CF_TRACK_COMM: return "comm";
    case CF_TRACK_ARGV: return "argv";
    case CF_TRACK_CGROUP: return "cgroup";
    case CF_TRACK_RENAME: return "rename";
    case CF_TRACK_USER: return "user";
    default: return "";
  }
}

std::string errno_name(int64_t err) {
  if (err > 0 && err < 4096) {
    if (const char* n = strerrorname_np(static_cast<int>(err))) return n;
  }
  return "E" + std::to_string(err);
}

// pidfd_getfd has the same number on every architecture (a syscall added after the tables met)
constexpr uint32_t kNrPidfdGetfd = 438;

std::string syscall_name(int64_t nr) {
  if (nr >= 0 && (nr & CF_SYSCALL_COMPAT)) {
    const std::string native = syscall_name(nr & ~int64_t{CF_SYSCALL_COMPAT});
    return native.empty() ? "" : native + " (32-bit)";
  }
  for (const auto& s : kSyscalls)
    if (s.nr == nr) return s.name;
  return "";
}

std::vector<std::string> split_argv(const char* data, size_t len) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < len; ++i) {
    if (data[i] == '\0') {
      out.emplace_back(data + start, i - start);
      start = i + 1;
    }
  }
  if (start < len) out.emplace_back(data + start, len - start);  // cut without terminator
  return out;
}

std::string sanitize_utf8(std::string s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size() && p[i] < 0x80) ++i;
  if (i == s.size()) return s;  // ASCII: the common case
  std::string out(s, 0, i);
  while (i < s.size()) {
    size_t len = utf8_len(p + i, s.size() - i);
    if (len) {
      out.append(s, i, len);
      i += len;
    } else {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\x%02x", p[i]);
      out += buf;
      ++i;
    }
  }
  return out;
}

std::string normalize_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string part = path.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(std::move(part));
    }
    i = j + 1;
  }
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

std::string format_address(uint16_t family, const uint8_t addr[16], bool* mapped) {
  char buf[INET6_ADDRSTRLEN] = {};
  *mapped = false;
  if (family == AF_INET) {
    inet_ntop(AF_INET, addr, buf, sizeof(buf));
    return buf;
  }
  static const uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(addr, kMappedPrefix, sizeof(kMappedPrefix)) == 0) {
    *mapped = true;
    inet_ntop(AF_INET, addr + 12, buf, sizeof(buf));
    return buf;
  }
  inet_ntop(AF_INET6, addr, buf, sizeof(buf));
  return buf;
}

const char* verdict_name(uint8_t verdict) {
  switch (verdict) {
    case CF_VERDICT_BLOCKED: return "blocked";
    case CF_VERDICT_KILLED: return "killed";
    case CF_VERDICT_WOULD_BLOCK: return "would-block";
    case CF_VERDICT_WOULD_KILL: return "would-kill";
    case CF_VERDICT_ALERT: return "matched";
    default: return "";
  }
}

namespace {

// Fills event.enforcement from a record's verdict; the rule is named later (see DecodedRecord).
void set_verdict(const cf_verdict& v, const char* mechanism, DecodedRecord& out) {
  out.verdict = v;
  if (v.verdict == CF_VERDICT_NONE) return;
  auto* e = out.event.mutable_enforcement();
  e->set_verdict(verdict_name(v.verdict));
  e->set_mechanism(mechanism);
  e->set_generation(v.generation);
  if (v.rule == CF_RULE_FAIL_CLOSED) e->set_rule_id("fail-closed");
}

// EnvRead.op of a cf_env kind; "" for an unknown one.
const char* env_op_name(uint32_t kind) {
  switch (kind) {
    case CF_ENV_UV_GETENV: return "uv_os_getenv";
    case CF_ENV_GETENV: return "getenv";
    case CF_ENV_SECURE_GETENV: return "secure_getenv";
    case CF_ENV_ENUMERATE: return "enumerate";
    case CF_ENV_EXEC: return "exec";
    case CF_ENV_PTRACE: return "ptrace";
    default: return "";
  }
}

// The operations of an io_uring ring that the kernel judges (bpf/guard/evasion.bpf.h). The
// opcodes are uapi: their values never change.
std::string io_uring_op_name(uint16_t op) {
  switch (op) {
    case IORING_OP_OPENAT: return "openat";
    case IORING_OP_OPENAT2: return "openat2";
    case IORING_OP_UNLINKAT: return "unlinkat";
    case IORING_OP_RENAMEAT: return "renameat";
    case IORING_OP_LINKAT: return "linkat";
    case IORING_OP_SYMLINKAT: return "symlinkat";
    case IORING_OP_MKDIRAT: return "mkdirat";
    case IORING_OP_SOCKET: return "socket";
    case IORING_OP_CONNECT: return "connect (unix socket)";  // an inet one meets the cgroup hooks
    default: return "op " + std::to_string(op);
  }
}

std::string socket_name(uint16_t family, uint16_t type, uint16_t protocol) {
  std::string s = family == AF_INET ? "inet" : family == AF_INET6 ? "inet6" : family == AF_PACKET ? "packet"
                  : family == AF_VSOCK ? "vsock" : family == AF_TIPC ? "tipc" : family == AF_RDS ? "rds"
                  : family == AF_XDP ? "xdp" : family == AF_BLUETOOTH ? "bluetooth" : family == AF_CAN ? "can"
                                     : "family " + std::to_string(family);
  s += type == SOCK_RAW ? " raw" : type == SOCK_DGRAM ? " dgram" : type == SOCK_STREAM ? " stream" : " type " + std::to_string(type);
  if (protocol == IPPROTO_ICMP) s += " icmp";
  else if (protocol == IPPROTO_ICMPV6) s += " icmpv6";
  else if ((family == AF_INET || family == AF_INET6) && protocol == IPPROTO_UDPLITE) s += " udplite";
  else if ((family == AF_INET || family == AF_INET6) && protocol == IPPROTO_SCTP) s += " sctp";
  else if ((family == AF_INET || family == AF_INET6) && protocol == IPPROTO_MPTCP) s += " mptcp";
  else if (protocol) s += " protocol " + std::to_string(protocol);
  return s;
}

// Flags as names, for the namespace and shared-files records: the ones that matter, then the rest in hex.
std::string clone_flag_names(uint64_t flags) {
  static const struct {
    uint64_t bit;
    const char* name;
  } kNames[] = {{0x00020000, "CLONE_NEWNS"},   {0x02000000, "CLONE_NEWCGROUP"}, {0x04000000, "CLONE_NEWUTS"},
                {0x08000000, "CLONE_NEWIPC"},  {0x10000000, "CLONE_NEWUSER"},   {0x20000000, "CLONE_NEWPID"},
                {0x40000000, "CLONE_NEWNET"},  {0x00000080, "CLONE_NEWTIME"},   {0x00000400, "CLONE_FILES"},
                {0x00000100, "CLONE_VM"},      {0x00010000, "CLONE_THREAD"},    {0x200000000ull, "CLONE_INTO_CGROUP"}};
  std::string s;
  for (const auto& n : kNames)
    if (flags & n.bit) s += (s.empty() ? "" : "|") + std::string(n.name);
  return s.empty() ? "0" : s;
}

const char* compat_syscall_name(uint32_t nr) {
  switch (nr) {
    case 5: return "open";
    case 8: return "creat";
    case 11: return "execve";
    case 21: return "mount";
    case 26: return "ptrace";
    case 102: return "socketcall";
    case 120: return "clone";
    case 295: return "openat";
    case 342: return "open_by_handle_at";
    case 359: return "socket";
    case 362: return "connect";
    case 369: return "sendto";
    case 370: return "sendmsg";
    default: return nullptr;
  }
}

}  // namespace

DecodeStatus decode_record(const void* data, size_t size, const BootClock& clock, DecodedRecord& out) {
  if (size < sizeof(cf_hdr)) return DecodeStatus::kTruncated;
  cf_hdr hdr;
  std::memcpy(&hdr, data, sizeof(hdr));
  if (hdr.size != size) return DecodeStatus::kBadSize;
  const char* bytes = static_cast<const char*>(data);

  out.proc = RecordProcess{};
  out.verdict = cf_verdict{};
  out.env_values.clear();
  if (out.event.has_process()) out.spare_process.reset(out.event.release_process());
  out.event.Clear();
  RecordProcess& p = out.proc;
  p.op = hdr.op;
  p.ts_ns = hdr.ts_ns;
  p.tgid = hdr.tgid;
  p.tid = hdr.tid;
  p.cgroup_id = hdr.cgroup_id;
  p.comm = fixed_str(hdr.comm, sizeof(hdr.comm));
  p.thread_comm = fixed_str(hdr.thread_comm, sizeof(hdr.thread_comm));
  p.role = hdr.role;
  v1::Event& ev = out.event;
  v1::set_timestamp(clock.to_unix_ns(hdr.ts_ns), ev.mutable_time());

  switch (hdr.op) {
    case CF_OP_EXEC: {
      if (size < sizeof(cf_exec)) return DecodeStatus::kTruncated;
      cf_exec r;
      std::memcpy(&r, data, sizeof(r));
      std::string s[CF_STR_SLOTS];
      if (!read_strs(r.strs, bytes + sizeof(r), size - sizeof(r), s)) return DecodeStatus::kTruncated;
      p.ppid = r.ppid;
      p.uid = r.uid;
      p.gid = r.gid;
      p.start_ns = r.start_ns;
      p.track_reason = r.track_reason;
      p.root_tgid = r.root_tgid;
      ev.set_kind(v1::Event::EXEC);
      auto* e = ev.mutable_exec();
      e->set_filename(s[1]);
      for (auto& a : split_argv(s[0].data(), s[0].size())) e->add_argv(std::move(a));
      e->set_argv_truncated(r.flags & CF_EXEC_ARGV_TRUNCATED);
      set_verdict(r.verdict, "SIGKILL at exec (sched_process_exec)", out);
      return DecodeStatus::kOk;
    }
    case CF_OP_FORK: {
      if (size != sizeof(cf_fork)) return DecodeStatus::kBadSize;
      cf_fork r;
      std::memcpy(&r, data, sizeof(r));
      p.child_tgid = r.child_tgid;
      p.child_start_ns = r.child_start_ns;
      ev.set_kind(v1::Event::FORK);
      ev.mutable_fork()->set_child_pid(r.child_tgid);
      if (r.flags & CF_FORK_UNTRACKED) ev.mutable_fork()->set_untracked(true);
      if (r.flags & CF_FORK_KILLED) ev.mutable_fork()->set_killed(true);
      return DecodeStatus::kOk;
    }
    case CF_OP_EXIT: {
      if (size != sizeof(cf_exit)) return DecodeStatus::kBadSize;
      cf_exit r;
      std::memcpy(&r, data, sizeof(r));
      p.start_ns = r.start_ns;
      ev.set_kind(v1::Event::EXIT);
      auto* x = ev.mutable_exit();
      int sig = r.exit_code & 0x7f;
      if (sig == 0) {
        x->set_code((r.exit_code >> 8) & 0xff);
      } else {
        const char* abbrev = sigabbrev_np(sig);
        x->set_signal(abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig));
        x->set_core_dumped(r.exit_code & 0x80);
      }
      return DecodeStatus::kOk;
    }
    case CF_OP_COMM: {
      if (size != sizeof(cf_comm)) return DecodeStatus::kBadSize;
      cf_comm r;
      std::memcpy(&r, data, sizeof(r));
      p.track_reason = r.track_reason;
      ev.set_kind(v1::Event::COMM);
      auto* c = ev.mutable_comm();
      c->set_old_comm(p.comm);
      c->set_new_comm(fixed_str(r.new_comm, sizeof(r.new_comm)));
      return DecodeStatus::kOk;
    }
    case CF_OP_FILE: {
      if (size < sizeof(cf_file)) return DecodeStatus::kTruncated;
      cf_file r;
      std::memcpy(&r, data, sizeof(r));
      std::string s[CF_STR_SLOTS];
      if (!read_strs(r.strs, bytes + sizeof(r), size - sizeof(r), s)) return DecodeStatus::kTruncated;
      if (r.file_op == CF_FILE_EXEC) {
        // An exec the BPF LSM hook judged before it happened (refused, or dry run): an exec event
        // of the file, with the verdict. Not CF_OP_EXEC: the process still runs its old program.
        ev.set_kind(v1::Event::EXEC);
        ev.mutable_exec()->set_filename(s[0]);
        set_verdict(r.verdict, "BPF LSM bprm_check_security (EPERM)", out);
        return DecodeStatus::kOk;
      }
      ev.set_kind(v1::Event::FILE);
      auto* f = ev.mutable_file();
      f->set_syscall(syscall_name(r.syscall));
      set_result(r.result, f);
      bool truncated = false;
      for (int i = 0; i < CF_STR_SLOTS; ++i) truncated |= r.strs.flags[i] & CF_STR_TRUNCATED;
      f->set_truncated(truncated);
      switch (r.file_op) {
        case CF_FILE_OPEN:
          f->set_op(v1::FileOp::OPEN);
          open_flags(r.flags, f);
          f->set_mode(r.mode);
          if (r.strs.flags[0] & CF_STR_RESOLVED && r.strs.len[1] == 0) {
            f->set_path(s[0]);
            f->set_resolved(true);
          } else {
            f->set_path(join_path(s[0], s[1]));
          }
          break;
        case CF_FILE_UNLINK:
          f->set_op(v1::FileOp::UNLINK);
          if (r.flags & AT_REMOVEDIR) f->add_flags("AT_REMOVEDIR");
          f->set_path(join_path(s[0], s[1]));
          break;
        case CF_FILE_RENAME:
          f->set_op(v1::FileOp::RENAME);
          if (r.flags & RENAME_NOREPLACE) f->add_flags("RENAME_NOREPLACE");
          if (r.flags & RENAME_EXCHANGE) f->add_flags("RENAME_EXCHANGE");
          if (r.flags & RENAME_WHITEOUT) f->add_flags("RENAME_WHITEOUT");
          f->set_path(join_path(s[0], s[1]));
          f->set_new_path(join_path(s[2], s[3]));
          break;
        case CF_FILE_LINK:
          f->set_op(v1::FileOp::LINK);
          if (r.flags & AT_SYMLINK_FOLLOW) f->add_flags("AT_SYMLINK_FOLLOW");
          if (r.flags & AT_EMPTY_PATH) f->add_flags("AT_EMPTY_PATH");
          if (r.syscall == 0) {
            // judged by the link guard before the link was made: the existing file, walked
            f->set_path(s[0]);
            f->set_resolved(true);
            f->clear_result();
            set_verdict(r.verdict, "SIGKILL at link (kprobe may_linkat)", out);
            return DecodeStatus::kOk;
          }
          f->set_path(join_path(s[0], s[1]));
          f->set_new_path(join_path(s[2], s[3]));
          break;
        case CF_FILE_MOUNT:
          // recorded at the mount's entry: no result; the kill (if any) is the mount guard's
          f->set_op(v1::FileOp::MOUNT);
          f->clear_result();
          f->set_path(join_path(s[0], s[1]));
          if (!s[3].empty()) f->set_new_path(join_path(s[2], s[3]));
          return DecodeStatus::kOk;
        case CF_FILE_CONNECT:
          // a unix socket connected: the path is the socket file the peer (a daemon) is bound to
          f->set_op(v1::FileOp::CONNECT);
          f->set_access("connect");
          f->set_path(s[0]);
          f->set_resolved(true);
          set_verdict(r.verdict, "SIGKILL at connect exit (sys_exit)", out);
          return DecodeStatus::kOk;
        default:
          return DecodeStatus::kUnknownOp;
      }
      // the LSM hook refuses (BLOCKED, WOULD_BLOCK); the open's exit only ever kills
      const bool lsm = r.verdict.verdict == CF_VERDICT_BLOCKED || r.verdict.verdict == CF_VERDICT_WOULD_BLOCK;
      set_verdict(r.verdict, lsm ? "BPF LSM file_open (EPERM)" : "SIGKILL at open exit (sys_exit)", out);
      return DecodeStatus::kOk;
    }
    case CF_OP_NET: {
      if (size != sizeof(cf_net)) return DecodeStatus::kBadSize;
      cf_net r;
      std::memcpy(&r, data, sizeof(r));
      ev.set_kind(v1::Event::NET);
      auto* n = ev.mutable_net();
      n->set_op(r.net_op == CF_NET_CONNECT ? v1::NetOp::CONNECT : v1::NetOp::SENDTO);
      bool mapped = false;
      n->set_address(format_address(r.family, r.addr, &mapped));
      n->set_family(r.family == AF_INET || mapped ? "ipv4" : "ipv6");
      n->set_ipv4_mapped(mapped);
      n->set_port(r.port);
      if (r.protocol == IPPROTO_TCP)
        n->set_protocol("tcp");
      else if (r.protocol == IPPROTO_UDP)
        n->set_protocol("udp");
      else
        n->set_protocol(std::to_string(r.protocol));
      if (!(r.flags & CF_NET_NO_SYSCALL)) {
        n->set_syscall(syscall_name(r.syscall));
        n->set_result(static_cast<int32_t>(r.result));
        if (r.result < 0) n->set_error(errno_name(negate_result(r.result)));
      }
      set_verdict(r.verdict, r.net_op == CF_NET_CONNECT ? "cgroup connect hook" : "cgroup sendmsg hook", out);
      return DecodeStatus::kOk;
    }
    case CF_OP_DNS: {
      if (size != sizeof(cf_dns)) return DecodeStatus::kBadSize;
      const auto* r = static_cast<const cf_dns*>(data);
      if (r->len > CF_DNS_MAX) return DecodeStatus::kTruncated;
      ev.set_kind(v1::Event::DNS);
      auto* d = ev.mutable_dns();
      bool mapped = false;
      uint8_t server[16];
      std::memcpy(server, r->server, sizeof(server));
      d->set_server(format_address(r->family, server, &mapped));
      d->set_server_port(r->port);
      d->set_truncated(r->flags & CF_STR_TRUNCATED);
      // a malformed answer is still reported (as far as it parsed): the process received it
      parse_dns_response(reinterpret_cast<const uint8_t*>(r->data), r->len, d);
      return DecodeStatus::kOk;
    }
    case CF_OP_GUARD: {
      if (size != sizeof(cf_guard_rec)) return DecodeStatus::kBadSize;
      cf_guard_rec r;
      std::memcpy(&r, data, sizeof(r));
      ev.set_kind(v1::Event::GUARD);
      auto* g = ev.mutable_guard();
      const char* mechanism = "";
      switch (r.what) {
        case CF_GUARD_IO_URING:
          g->set_what("io_uring_setup");
          g->set_result(r.result);
          break;
        case CF_GUARD_IO_URING_OP:
          g->set_what("io_uring_op");
          g->set_operation(io_uring_op_name(r.type));
          mechanism = "SIGKILL at io_uring submission (raw_tp io_uring_submit_req)";
          break;
        case CF_GUARD_RAW_SOCKET:
          g->set_what("raw_socket");
          g->set_socket(socket_name(r.family, r.type, r.protocol));
          mechanism = r.family != AF_INET && r.family != AF_INET6
                          ? "SIGKILL at socket exit (sys_exit): only inet sockets meet the sock_create hook"
                          : "cgroup sock_create hook";
          break;
        case CF_GUARD_COMPAT_SYSCALL: {
          g->set_what("compat_syscall");
          const bool x32 = r.syscall & 0x40000000u;
          const char* name = x32 ? nullptr : compat_syscall_name(r.syscall);
          g->set_syscall(name ? std::string(name) + " (32-bit)" : x32 ? "x32 syscall" : "32-bit syscall");
          g->set_detail((x32 ? "x32 number " : "32-bit number ") + std::to_string(r.syscall & ~0x40000000u));
          mechanism = "at the syscall's entry (raw_tp sys_enter)";
          break;
        }
        case CF_GUARD_MOUNT:
          g->set_what("mount");
          g->set_syscall(syscall_name(r.syscall));
          if (r.arg) {
            char hex[32];
            std::snprintf(hex, sizeof(hex), "flags 0x%llx", static_cast<unsigned long long>(r.arg));
            g->set_detail(hex);
          }
          mechanism = "at the syscall's entry (raw_tp sys_enter)";
          break;
        case CF_GUARD_NAMESPACE:
          g->set_what("namespace");
          g->set_syscall(syscall_name(r.syscall));
          g->set_detail(clone_flag_names(r.arg));
          mechanism = "at the syscall's entry (raw_tp sys_enter)";
          break;
        case CF_GUARD_SHARED_FILES:
          g->set_what("shared_files");
          g->set_syscall(syscall_name(r.syscall));
          g->set_detail(clone_flag_names(r.arg));
          mechanism = "SIGKILL at clone's entry (raw_tp sys_enter): the process sharing the descriptors is never made";
          break;
        case CF_GUARD_PROCESS_ACCESS:
          g->set_what("process_access");
          g->set_syscall(syscall_name(r.syscall));
          if (r.syscall == kNrPidfdGetfd)
            g->set_detail("pidfd " + std::to_string(static_cast<int64_t>(r.arg)));
          else
            g->set_target_pid(static_cast<uint32_t>(r.arg));
          mechanism = "at the syscall's entry (raw_tp sys_enter)";
          break;
        case CF_GUARD_LISTEN: {
          g->set_what("listen");
          g->set_syscall("listen");
          uint8_t addr[16];
          std::memcpy(addr, r.addr, sizeof(addr));
          bool mapped = false;
          g->set_address(format_address(r.family, addr, &mapped));
          g->set_port(r.port);
          mechanism = "at the syscall's entry (raw_tp sys_enter)";
          break;
        }
        case CF_GUARD_BUDGET: {
          g->set_what("egress_budget");
          g->set_bytes(r.bytes);
          g->set_window_ms(r.window_ns / 1000000);
          g->set_group(r.group);
          uint8_t addr[16];
          std::memcpy(addr, r.addr, sizeof(addr));
          bool mapped = false;
          g->set_address(format_address(r.family, addr, &mapped));
          g->set_port(r.port);
          mechanism = "cgroup_skb egress hook (packets dropped)";
          break;
        }
        default:
          return DecodeStatus::kUnknownOp;
      }
      set_verdict(r.verdict, mechanism, out);
      return DecodeStatus::kOk;
    }
    case CF_OP_ENV: {
      if (size < sizeof(cf_env)) return DecodeStatus::kTruncated;
      cf_env r;
      std::memcpy(&r, data, sizeof(r));
      std::string s[CF_STR_SLOTS];
      if (!read_strs(r.strs, bytes + sizeof(r), size - sizeof(r), s)) return DecodeStatus::kTruncated;
      const char* op = env_op_name(r.kind);
      if (!*op) return DecodeStatus::kUnknownOp;
      ev.set_kind(v1::Event::ENV);
      auto* e = ev.mutable_env();
      e->set_op(op);
      e->set_folded(r.folded);
      e->set_truncated((r.flags & CF_ENV_TRUNCATED) || (r.strs.flags[0] & CF_STR_TRUNCATED));
      switch (r.kind) {
        case CF_ENV_EXEC: {
          std::vector<std::string> names = split_argv(s[0].data(), s[0].size());
          if (r.flags & CF_ENV_VALUES) {
            // string 1: one cf_env_value per name, in order (fewer when cut), raw bytes
            const size_t vbytes = r.strs.len[1];
            if (vbytes % sizeof(cf_env_value) != 0) return DecodeStatus::kBadSize;
            const char* v = bytes + sizeof(r) + r.strs.len[0];
            for (size_t i = 0; i < vbytes / sizeof(cf_env_value) && i < names.size(); ++i) {
              cf_env_value val;
              std::memcpy(&val, v + i * sizeof(val), sizeof(val));
              if (!names[i].empty()) out.env_values.push_back({names[i], val.fingerprint, val.len});
            }
          }
          for (auto& n : names)
            if (!n.empty()) e->add_names(std::move(n));
          break;
        }
        case CF_ENV_PTRACE:
          e->set_target_pid(r.target);
          e->set_result(r.result);
          break;
        case CF_ENV_ENUMERATE:
          break;
        default:  // the getenv kinds
          e->set_name(s[0]);
          if (r.flags & CF_ENV_RESULT) e->set_set(r.flags & CF_ENV_SET);
          if (r.flags & CF_ENV_FINGERPRINT) {
            if (r.flags & CF_ENV_SET) out.env_values.push_back({s[0], r.fingerprint, 0});
            char hex[17];
            std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(r.fingerprint));
            e->set_fingerprint(hex);
          }
          break;
      }
      return DecodeStatus::kOk;
    }
    default:
      return DecodeStatus::kUnknownOp;
  }
}

}  // namespace clawfence::sensor
