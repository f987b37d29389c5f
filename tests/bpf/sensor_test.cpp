// Kernel tier: load the real eBPF object through the Sensor, drive real syscalls from child
// processes the test owns, and assert the raw records (include/clawfence/abi.h) and counters.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include "clawfence/abi.h"
#include "guard_fixture.h"
#include "harness.h"
#include "sensor/decoder.h"
#include "sensor/kernel.h"
#include "sensor/sensor.h"

namespace clawfence::testing {
namespace {

class SensorTest : public ::testing::Test, protected GuardFixture {
 protected:
  void SetUp() override {
    CF_REQUIRE_ROOT();
    sensor::SensorOptions o;
    o.ringbuf_bytes = 4u << 20;
    start_sensor("sensor", o);
    collect_records();
  }
  void TearDown() override { stop_sensor(); }

  // A child in the test cgroup (tracked if asked) that runs `body` and exits 0; its pid.
  pid_t spawn(bool track, void (*body)(const char*), const char* arg) {
    Outcome o = run_child(cg_.get(), track ? sensor_.get() : nullptr, [&] { body(arg); });
    EXPECT_TRUE(o.exited_ok());
    return o.pid;
  }

  std::vector<sensor::DecodedRecord> records_of(pid_t pid) {
    sensor_->stop_reader();  // drains what the ring buffer holds
    std::vector<sensor::DecodedRecord> out;
    sensor::BootClock clock(0);
    for (const auto& r : records()) {
      sensor::DecodedRecord d;
      EXPECT_EQ(sensor::decode_record(r.data(), r.size(), clock, d), sensor::DecodeStatus::kOk);
      if (d.proc.tgid == static_cast<uint32_t>(pid)) out.push_back(std::move(d));
    }
    return out;
  }
};

void open_relative(const char* dir) {
  if (chdir(dir) != 0) _exit(3);
  int fd = open("./sub/../sub/f", O_RDONLY);
  if (fd < 0) _exit(4);
  close(fd);
}

TEST_F(SensorTest, TrackedOpenIsReportedWithTheResolvedPath) {
  std::string dir = make_temp_dir("sensor");
  ASSERT_EQ(mkdir((dir + "/sub").c_str(), 0755), 0);
  write_file(dir + "/sub/f", "x");
  pid_t pid = spawn(true, open_relative, dir.c_str());
  auto recs = records_of(pid);
  bool found = false;
  for (const auto& r : recs) {
    if (r.proc.op != CF_OP_FILE || r.event.file().path() != dir + "/sub/f") continue;
    found = true;
    EXPECT_TRUE(r.event.file().resolved());
    EXPECT_EQ(r.event.file().syscall(), "openat");
    EXPECT_GE(r.event.file().result(), 0);
    EXPECT_EQ(r.proc.tid, static_cast<uint32_t>(pid));
    EXPECT_EQ(r.proc.cgroup_id, cg_->id());
  }
  EXPECT_TRUE(found) << recs.size() << " records for the child";
  // The tracked process left the map when it exited.
  EXPECT_FALSE(sensor_->is_tracked(pid));
  auto c = sensor_->counters();
  EXPECT_GT(c[CF_CNT_RECORDS], 0u);
  EXPECT_EQ(c[CF_CNT_RINGBUF_FULL], 0u);
  EXPECT_GE(c[CF_CNT_UNTRACKED_EXIT], 1u);
  remove_tree(dir);
}

TEST_F(SensorTest, UntrackedProcessProducesNothing) {
  std::string dir = make_temp_dir("sensor");
  ASSERT_EQ(mkdir((dir + "/sub").c_str(), 0755), 0);
  write_file(dir + "/sub/f", "x");
  pid_t pid = spawn(false, open_relative, dir.c_str());
  EXPECT_TRUE(records_of(pid).empty());
  remove_tree(dir);
}

void connect_refused(const char* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(atoi(port)));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) _exit(5);
  close(fd);
}

TEST_F(SensorTest, ConnectCarriesTheHookAddressAndTheSyscallResult) {
  // A port nothing listens on: take one, read its number, close it.
  std::string port;
  {
    Listener taken("127.0.0.1");
    ASSERT_EQ(taken.error(), "");
    port = taken.port_text();
  }
  pid_t pid = spawn(true, connect_refused, port.c_str());
  auto recs = records_of(pid);
  const sensor::DecodedRecord* net = nullptr;
  for (const auto& r : recs)
    if (r.proc.op == CF_OP_NET) net = &r;
  ASSERT_NE(net, nullptr);
  EXPECT_EQ(net->event.net().address(), "127.0.0.1");
  EXPECT_EQ(net->event.net().port(), static_cast<uint32_t>(std::stoi(port)));
  EXPECT_EQ(net->event.net().protocol(), "tcp");
  EXPECT_EQ(net->event.net().error(), "ECONNREFUSED");
}

void fork_grandchild(const char*) {
  pid_t c = fork();
  if (c == 0) {
    int fd = open("/etc/hostname", O_RDONLY);
    if (fd >= 0) close(fd);
    _exit(0);
  }
  waitpid(c, nullptr, 0);
}

TEST_F(SensorTest, ChildrenInheritTrackingAtFork) {
  pid_t pid = spawn(true, fork_grandchild, nullptr);
  auto recs = records_of(pid);
  uint32_t child = 0;
  for (const auto& r : recs)
    if (r.proc.op == CF_OP_FORK) child = r.proc.child_tgid;
  ASSERT_NE(child, 0u);
  bool opened = false;
  for (const auto& r : records_of(child))
    if (r.proc.op == CF_OP_FILE && r.event.file().path() == "/etc/hostname") opened = true;
  EXPECT_TRUE(opened);
  EXPECT_GE(sensor_->counters()[CF_CNT_TRACKED_FORK], 1u);
}

}  // namespace
}  // namespace clawfence::testing

namespace clawfence::testing {
namespace {

// Opens a file from a tracked child and returns whether the sensor reported it.
bool reports_open(sensor::Sensor& s, TestCgroup& cg) {
  std::vector<std::string> got;
  std::mutex mu;
  s.start_reader([&](const void* d, size_t n) {
    std::lock_guard<std::mutex> l(mu);
    got.emplace_back(static_cast<const char*>(d), n);
  });
  pid_t pid = run_child(&cg, &s, [] {
    int fd = open("/etc/hostname", O_RDONLY);
    if (fd >= 0) close(fd);
  }).pid;
  s.stop_reader();
  sensor::BootClock clock(0);
  for (const auto& r : got) {
    sensor::DecodedRecord d;
    if (sensor::decode_record(r.data(), r.size(), clock, d) != sensor::DecodeStatus::kOk) continue;
    if (d.proc.tgid == static_cast<uint32_t>(pid) && d.proc.op == CF_OP_FILE &&
        d.event.file().path() == "/etc/hostname")
      return true;
  }
  return false;
}

sensor::SensorOptions options_for(const TestCgroup& cg, sensor::SyscallHooks hooks, bool fallback) {
  sensor::SensorOptions o;
  o.ringbuf_bytes = 1u << 20;
  o.attach_cgroup = cg.path();
  o.agent_tgid = getpid();
  o.hooks = hooks;
  o.fallback_to_tracepoints = fallback;
  return o;
}

TEST(SyscallHooks, FentryWhereTheKernelHasIt) {
  CF_REQUIRE_ROOT();
  if (!sensor::probe_kernel().tracing)
    GTEST_SKIP() << "this kernel has no BPF tracing programs (fentry/fexit): the fentry path cannot run here";
  TestCgroup cg("fentry");
  auto s = sensor::Sensor::start(options_for(cg, sensor::SyscallHooks::kFentry, false), {});
  EXPECT_EQ(s->hooks(), sensor::SyscallHooks::kFentry);
  EXPECT_TRUE(reports_open(*s, cg));
}

TEST(SyscallHooks, FentryFallsBackToTracepointsWhenItCannotLoad) {
  CF_REQUIRE_ROOT();
  if (sensor::probe_kernel().tracing)
    GTEST_SKIP() << "this kernel has fentry: the fallback is not exercised here";
  TestCgroup cg("fallback");
  auto s = sensor::Sensor::start(options_for(cg, sensor::SyscallHooks::kFentry, true), {});
  EXPECT_EQ(s->hooks(), sensor::SyscallHooks::kTracepoints);
  EXPECT_TRUE(reports_open(*s, cg));
  // Without the fallback the failure is an error, not a silent switch.
  EXPECT_THROW(sensor::Sensor::start(options_for(cg, sensor::SyscallHooks::kFentry, false), {}), std::runtime_error);
}

}  // namespace
}  // namespace clawfence::testing
