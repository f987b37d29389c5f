// Kernel tier: a connect submitted through io_uring (tests/workloads/uring_connect.c) runs in the
// kernel without the connect syscall, so the syscall hooks never see it; the cgroup connect4 and
// connect6 hooks still run, and in enforce mode they refuse it like any other connect. The real
// object is started through the Sensor with its cgroup hooks on a cgroup the test creates; the
// workload runs as a tracked child in that cgroup against listeners on 127.0.0.1 (allowed by a
// CIDR rule) and 127.0.0.2 (unapproved under default deny). Run on both syscall hook flavours:
// which one is loaded decides whether anything is in flight when the hook runs.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "clawfence/abi.h"
#include "enforce/guard_policy.h"
#include "guard_fixture.h"
#include "harness.h"
#include "sensor/kernel.h"
#include "sensor/sensor.h"

namespace clawfence::testing {
namespace {

constexpr uint16_t kUnapprovedRule = 0;
constexpr uint16_t kLoopbackRule = 1;
constexpr uint32_t kGeneration = 31;
constexpr int kUnavailable = 3;  // the workload's exit status when io_uring is not available

// How one run of the workload ended, what it printed, and the numbers in what it printed.
struct WorkloadRun : Outcome {
  explicit WorkloadRun(Outcome o) : Outcome(std::move(o)) {
    parsed = std::sscanf(out.c_str(), "setup=%d connect=%d", &setup, &connect) == 2;
  }
  int setup = 0;
  int connect = 0;
  bool parsed = false;  // the line had both numbers (not so when io_uring is not available)
};

// The workload against `addr port`, in `cg` (null: where the test runs), tracked from before its
// exec when `sensor` is given.
WorkloadRun run_workload(const std::string& addr, const std::string& port, const TestCgroup* cg, sensor::Sensor* sensor) {
  const std::string bin = build_dir() + "/workloads/uring_connect";
  return WorkloadRun(run_child(cg, sensor, [&] {
    alarm(10);  // kept across exec: a connect that never completes ends the run
    execl(bin.c_str(), "uring_connect", addr.c_str(), port.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }));
}

class UringGuardTest : public ::testing::TestWithParam<sensor::SyscallHooks>, protected GuardFixture {
 protected:
  void SetUp() override {
    CF_REQUIRE_ROOT();
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

    start_sensor("uring", hook_options(GetParam(), 1u << 20));
    ASSERT_EQ(sensor_->hooks(), GetParam());
    collect_records();

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

  void TearDown() override { stop_sensor(); }

  void set_mode(uint32_t mode) {
    // no evasion rules: io_uring_setup itself is not judged
    cf_guard_config cfg = guard_config(mode, CF_GUARD_ACTIVE | CF_GUARD_DEFAULT_DENY, kGeneration);
    cfg.unapproved_rule = kUnapprovedRule;
    cfg.unapproved_action = CF_ACTION_BLOCK;
    write_guard_config(cfg);
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
          for (const auto& r : records_of(pid, CF_OP_NET)) {
            cf_hdr h;
            std::memcpy(&h, r.data(), sizeof(h));
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
                         hook_name);

}  // namespace
}  // namespace clawfence::testing
