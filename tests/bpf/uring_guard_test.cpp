// Kernel tier: a connect submitted through io_uring (tests/workloads/uring_connect.c) runs in the
// kernel without the connect syscall, so the syscall hooks never see it; the cgroup connect4 and
// connect6 hooks still run, and in enforce mode they refuse it like any other connect. The real
// object is started through the Sensor with its cgroup hooks on a cgroup the test creates; the
// workload runs as a tracked child in that cgroup against listeners on 127.0.0.1 (allowed by a
// CIDR rule) and 127.0.0.2 (unapproved under default deny). Run on both syscall hook flavours:
// which one is loaded decides whether anything is in flight when the hook runs.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "clawfence/abi.h"
#include "enforce/guard_policy.h"
#include "harness.h"
#include "sensor/kernel.h"
#include "sensor/sensor.h"

namespace clawfence::sensor {
// How gtest names the parameter in failure messages (instead of its bytes).
[[maybe_unused]] static void PrintTo(SyscallHooks h, std::ostream* os) {
  *os << (h == SyscallHooks::kFentry ? "fentry" : "tracepoints");
}
}  // namespace clawfence::sensor

namespace clawfence::testing {
namespace {

constexpr uint16_t kUnapprovedRule = 0;
constexpr uint16_t kLoopbackRule = 1;
constexpr uint32_t kGeneration = 31;
constexpr int kUnavailable = 3;  // the workload's exit status when io_uring is not available

// A TCP listener on a loopback address and an ephemeral port; never accepts on its own.
class Listener {
 public:
  explicit Listener(const char* addr) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, addr, &a.sin_addr);
    socklen_t len = sizeof(a);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      error_ = std::string("listen on ") + addr + ": " + std::strerror(errno);
      return;
    }
    port_ = ntohs(a.sin_port);
  }
  ~Listener() {
    if (fd_ >= 0) close(fd_);
  }
  const std::string& error() const { return error_; }
  uint16_t port() const { return port_; }
  std::string port_text() const { return std::to_string(port_); }

  // Accepts every connection that has arrived and returns how many there were.
  int accept_pending() {
    int n = 0;
    for (pollfd p{fd_, POLLIN, 0}; poll(&p, 1, 0) == 1; ++n) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) break;
      close(c);
    }
    return n;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::string error_;
};

// How one run of the workload ended and what it printed.
struct WorkloadRun {
  pid_t pid = -1;
  int status = -1;
  std::string out;
  int setup = 0;
  int connect = 0;
  bool parsed = false;  // the line had both numbers (not so when io_uring is not available)
  bool exited(int code) const { return WIFEXITED(status) && WEXITSTATUS(status) == code; }
};

// The workload against `addr port`, in `cgroup` ("" = where the test runs), tracked from before
// its exec when `sensor` is given: the child waits on a pipe until it has been moved and tracked.
WorkloadRun run_workload(const std::string& addr, const std::string& port, const TestCgroup* cg, sensor::Sensor* sensor) {
  WorkloadRun r;
  const std::string bin = build_dir() + "/workloads/uring_connect";
  int go[2], out[2];
  if (pipe2(go, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return r;
  pid_t pid = fork();
  if (pid == 0) {
    close(go[1]);
    close(out[0]);
    dup2(out[1], 1);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(126);
    alarm(10);  // kept across exec: a connect that never completes ends the run
    execl(bin.c_str(), "uring_connect", addr.c_str(), port.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(go[0]);
  close(out[1]);
  if (cg) cg->add(pid);
  if (sensor) {
    EXPECT_TRUE(sensor->track(pid, pid, CF_TRACK_USER));
  }
  EXPECT_EQ(write(go[1], "g", 1), 1);
  close(go[1]);
  char buf[256];
  for (ssize_t n; (n = read(out[0], buf, sizeof(buf))) > 0;) r.out.append(buf, n);
  close(out[0]);
  waitpid(pid, &r.status, 0);
  r.pid = pid;
  r.parsed = std::sscanf(r.out.c_str(), "setup=%d connect=%d", &r.setup, &r.connect) == 2;
  return r;
}

class UringGuardTest : public ::testing::TestWithParam<sensor::SyscallHooks> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (loads eBPF programs): skipped";
    if (GetParam() == sensor::SyscallHooks::kFentry && !sensor::probe_kernel().tracing)
      GTEST_SKIP() << "this kernel has no BPF tracing programs (fentry/fexit): the fentry path cannot run here";
    ASSERT_EQ(access((build_dir() + "/workloads/uring_connect").c_str(), X_OK), 0)
        << "no workload at " << build_dir() << "/workloads/uring_connect: build it (make ... workloads)";
    allowed_ = std::make_unique<Listener>("127.0.0.1");
    denied_ = std::make_unique<Listener>("127.0.0.2");
    ASSERT_EQ(allowed_->error(), "");
    ASSERT_EQ(denied_->error(), "");
    // Is io_uring there at all (kernel built without it, io_uring_disabled, a seccomp filter)?
    WorkloadRun probe = run_workload("127.0.0.1", allowed_->port_text(), nullptr, nullptr);
    if (probe.exited(kUnavailable))
      GTEST_SKIP() << "io_uring is not available here (" << probe.out << "): skipped";
    ASSERT_TRUE(probe.exited(0) && probe.parsed && probe.connect == 0)
        << "the workload does not work without clawfence: status " << probe.status << ", " << probe.out;
    allowed_->accept_pending();

    cg_ = std::make_unique<TestCgroup>("uring");
    sensor::SensorOptions o;
    o.ringbuf_bytes = 1u << 20;
    o.attach_cgroup = cg_->path();
    o.agent_tgid = getpid();
    o.hooks = GetParam();
    o.fallback_to_tracepoints = false;
    sensor_ = sensor::Sensor::start(o, {});
    ASSERT_EQ(sensor_->hooks(), GetParam());
    sensor_->start_reader([this](const void* d, size_t n) {
      std::lock_guard<std::mutex> l(mu_);
      records_.emplace_back(static_cast<const char*>(d), n);
    });

    // Bit 0: 127.0.0.1/32, any port. Nothing else is approved.
    cf_guard_rule rule{};
    rule.kind = CF_GRULE_ALLOW;
    rule.nports = 0;
    rule.rule = kLoopbackRule;
    uint32_t index = 0;
    ASSERT_EQ(bpf_map_update_elem(sensor_->map_fd("guard_rules"), &index, &rule, BPF_ANY), 0);
    cf_cidr_key key{};
    ASSERT_TRUE(enforce::parse_cidr_key("127.0.0.1/32", &key));
    ASSERT_EQ(key.prefixlen, 128u);
    uint64_t bits = 1ull << 0;
    ASSERT_EQ(bpf_map_update_elem(sensor_->map_fd("guard_cidrs"), &key, &bits, BPF_ANY), 0);
    set_mode(CF_MODE_ENFORCE);
  }

  void TearDown() override {
    if (sensor_) sensor_->stop_reader();
    sensor_.reset();  // detaches before the cgroup goes away
    cg_.reset();
  }

  void set_mode(uint32_t mode) {
    cf_guard_config cfg{};
    cfg.mode = mode;
    cfg.flags = CF_GUARD_ACTIVE | CF_GUARD_DEFAULT_DENY;
    cfg.generation = kGeneration;
    cfg.unapproved_rule = kUnapprovedRule;
    cfg.unapproved_action = CF_ACTION_BLOCK;
    for (auto& e : cfg.evasion) e.rule = CF_RULE_NONE;  // io_uring_setup itself is not judged
    uint32_t zero = 0;
    ASSERT_EQ(bpf_map_update_elem(sensor_->map_fd("guard_config"), &zero, &cfg, BPF_ANY), 0);
  }

  WorkloadRun tracked(const std::string& addr, const std::string& port) {
    return run_workload(addr, port, cg_.get(), sensor_.get());
  }

  // The NET records of `pid` to `port`, waiting a little for the reader when `expect` is set.
  std::vector<cf_net> net_records(pid_t pid, uint16_t port, bool expect = true) {
    std::vector<cf_net> found;
    eventually(
        [&] {
          found.clear();
          std::lock_guard<std::mutex> l(mu_);
          for (const auto& r : records_) {
            if (r.size() < sizeof(cf_hdr)) continue;
            cf_hdr h;
            std::memcpy(&h, r.data(), sizeof(h));
            if (h.op != CF_OP_NET || h.tgid != static_cast<uint32_t>(pid)) continue;
            EXPECT_EQ(h.size, sizeof(cf_net));
            EXPECT_EQ(r.size(), sizeof(cf_net));
            if (r.size() < sizeof(cf_net)) continue;
            cf_net n;
            std::memcpy(&n, r.data(), sizeof(n));
            if (n.port == port) found.push_back(n);
          }
          return !found.empty();
        },
        std::chrono::milliseconds(expect ? 2000 : 300));
    return found;
  }

  std::unique_ptr<Listener> allowed_, denied_;
  std::unique_ptr<TestCgroup> cg_;
  std::unique_ptr<sensor::Sensor> sensor_;
  std::mutex mu_;
  std::vector<std::string> records_;
};

std::string addr_text(const cf_net& n) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(n.family, n.addr, buf, sizeof(buf));
  return buf;
}

TEST_P(UringGuardTest, UnapprovedConnectThroughIoUringIsRefusedAndReported) {
  WorkloadRun r = tracked("127.0.0.2", denied_->port_text());
  ASSERT_TRUE(r.exited(0) && r.parsed) << "status " << r.status << ", " << r.out;
  EXPECT_GE(r.setup, 0);
  EXPECT_EQ(r.connect, -EPERM) << r.out;
  EXPECT_EQ(denied_->accept_pending(), 0) << "the refused connect reached the listener";

  auto recs = net_records(r.pid, denied_->port());
  ASSERT_EQ(recs.size(), 1u);
  const cf_net& n = recs[0];
  EXPECT_EQ(n.net_op, static_cast<uint32_t>(CF_NET_CONNECT));
  EXPECT_EQ(n.family, AF_INET);
  EXPECT_EQ(addr_text(n), "127.0.0.2");
  EXPECT_EQ(n.protocol, IPPROTO_TCP);
  EXPECT_TRUE(n.flags & CF_NET_NO_SYSCALL) << "flags " << n.flags << ": the hook thought a syscall was in flight";
  EXPECT_EQ(n.result, 0);  // no syscall exit: the result is not known to the kernel side
  EXPECT_EQ(n.verdict.verdict, CF_VERDICT_BLOCKED);
  EXPECT_EQ(n.verdict.rule, kUnapprovedRule);
  EXPECT_EQ(n.verdict.generation, kGeneration);
  auto c = sensor_->counters();
  EXPECT_GE(c[CF_CNT_BLOCKED], 1u);
  EXPECT_GE(c[CF_CNT_HOOK_ORPHAN], 1u);
}

TEST_P(UringGuardTest, UnapprovedConnectThroughIoUringIsRefusedOnIpv6SocketsToo) {
  // An AF_INET6 socket to the v4-mapped form: the connect6 hook, judged as the IPv4 address.
  WorkloadRun r = tracked("::ffff:127.0.0.2", denied_->port_text());
  ASSERT_TRUE(r.exited(0) && r.parsed) << "status " << r.status << ", " << r.out;
  EXPECT_EQ(r.connect, -EPERM) << r.out;
  EXPECT_EQ(denied_->accept_pending(), 0);
  auto recs = net_records(r.pid, denied_->port());
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].family, AF_INET6);
  EXPECT_TRUE(recs[0].flags & CF_NET_NO_SYSCALL);
  EXPECT_EQ(recs[0].verdict.verdict, CF_VERDICT_BLOCKED);

  WorkloadRun ok = tracked("::ffff:127.0.0.1", allowed_->port_text());
  ASSERT_TRUE(ok.exited(0) && ok.parsed) << "status " << ok.status << ", " << ok.out;
  EXPECT_EQ(ok.connect, 0) << ok.out;
  EXPECT_EQ(allowed_->accept_pending(), 1);
}

TEST_P(UringGuardTest, ApprovedConnectThroughIoUringSucceeds) {
  WorkloadRun r = tracked("127.0.0.1", allowed_->port_text());
  ASSERT_TRUE(r.exited(0) && r.parsed) << "status " << r.status << ", " << r.out;
  EXPECT_EQ(r.connect, 0) << r.out;
  EXPECT_EQ(allowed_->accept_pending(), 1);
  auto recs = net_records(r.pid, allowed_->port());
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(addr_text(recs[0]), "127.0.0.1");
  EXPECT_TRUE(recs[0].flags & CF_NET_NO_SYSCALL);
  EXPECT_EQ(recs[0].verdict.verdict, CF_VERDICT_NONE);
  EXPECT_EQ(sensor_->counters()[CF_CNT_BLOCKED], 0u);
}

TEST_P(UringGuardTest, UntrackedProcessesAreNotJudged) {
  WorkloadRun r = run_workload("127.0.0.2", denied_->port_text(), cg_.get(), nullptr);
  ASSERT_TRUE(r.exited(0) && r.parsed) << "status " << r.status << ", " << r.out;
  EXPECT_EQ(r.connect, 0) << r.out;
  EXPECT_EQ(denied_->accept_pending(), 1);
  EXPECT_TRUE(net_records(r.pid, denied_->port(), false).empty());
  EXPECT_EQ(sensor_->counters()[CF_CNT_BLOCKED], 0u);
}

TEST_P(UringGuardTest, MonitorModeLetsItThroughAndStillReportsIt) {
  set_mode(CF_MODE_MONITOR);
  WorkloadRun r = tracked("127.0.0.2", denied_->port_text());
  ASSERT_TRUE(r.exited(0) && r.parsed) << "status " << r.status << ", " << r.out;
  EXPECT_EQ(r.connect, 0) << r.out;
  EXPECT_EQ(denied_->accept_pending(), 1);
  auto recs = net_records(r.pid, denied_->port());
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(addr_text(recs[0]), "127.0.0.2");
  EXPECT_TRUE(recs[0].flags & CF_NET_NO_SYSCALL);
  // monitor mode: the guards stand by, so the kernel attaches no verdict (user space judges)
  EXPECT_EQ(recs[0].verdict.verdict, CF_VERDICT_NONE);
  EXPECT_EQ(sensor_->counters()[CF_CNT_BLOCKED], 0u);
}

INSTANTIATE_TEST_SUITE_P(Hooks, UringGuardTest,
                         ::testing::Values(sensor::SyscallHooks::kTracepoints, sensor::SyscallHooks::kFentry),
                         [](const ::testing::TestParamInfo<sensor::SyscallHooks>& i) {
                           return i.param == sensor::SyscallHooks::kFentry ? std::string("Fentry")
                                                                          : std::string("Tracepoints");
                         });

}  // namespace
}  // namespace clawfence::testing
