// Kernel tier: path patterns refused by the BPF LSM hooks (bpf/guard/lsm.bpf.c) with the real
// object, where the kernel has BPF LSM. Tracked children open or execute planted files; the test
// checks that the open or exec failed with EPERM and the child lived on, and the verdict the
// hooks' records carry. Block and kill patterns are both refused; nothing is killed, and the
// syscall exits (which kill where there is no LSM) stand by.
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include <filesystem>

#include "clawfence/abi.h"
#include "enforce/paths.h"
#include "guard_fixture.h"
#include "harness.h"
#include "sensor/kernel.h"
#include "sensor/sensor.h"

namespace clawfence::testing {
namespace {

constexpr uint16_t kBlockRule = 11;
constexpr uint16_t kKillRule = 12;
constexpr uint16_t kExecRule = 13;
constexpr uint16_t kRoleExecRule = 14;
constexpr uint32_t kGeneration = 91;
constexpr uint8_t kRole = 3;
constexpr char kCanary[] = "CANARY-lsm-52c1";

class LsmGuardTest : public ::testing::TestWithParam<sensor::SyscallHooks>, protected GuardFixture {
 protected:
  void SetUp() override {
    CF_REQUIRE_ROOT();
    const sensor::KernelFeatures kf = sensor::probe_kernel();
    if (!kf.lsm)
      GTEST_SKIP() << "BPF LSM is not usable here (an lsm program does not load, or bpf is not in the active LSM "
                      "list): the EPERM path cannot run, skipped";
    if (GetParam() == sensor::SyscallHooks::kFentry && !kf.tracing)
      GTEST_SKIP() << "this kernel has no BPF tracing programs (fentry/fexit): the fentry path cannot run here";
    sensor::SensorOptions o = hook_options(GetParam(), 4u << 20);
    o.lsm = true;
    start_sensor("lsmguard", o);
    ASSERT_EQ(sensor_->hooks(), GetParam());
    collect_records();

    dir_ = make_temp_dir("lsmguard");
    ASSERT_FALSE(dir_.empty());
    for (const char* sub : {"/blocked", "/killed", "/public", "/bin"})
      ASSERT_EQ(mkdir((dir_ + sub).c_str(), 0755), 0);
    write_file(dir_ + "/blocked/key", kCanary);
    write_file(dir_ + "/killed/key", kCanary);
    write_file(dir_ + "/public/readme", kCanary);
    ASSERT_EQ(symlink((dir_ + "/blocked/key").c_str(), (dir_ + "/public/link").c_str()), 0);

    std::vector<enforce::PathRule> rules = {
        {dir_ + "/blocked/**", 0, CF_ACTION_BLOCK, kBlockRule, true},
        {dir_ + "/killed/**", 0, CF_ACTION_KILL, kKillRule, true},
        {"**/forbidden-tool", 0, CF_ACTION_KILL, kExecRule, false},
        {"**/role-tool", 1u << kRole, CF_ACTION_BLOCK, kRoleExecRule, false},  // role 3 only
    };
    ASSERT_EQ(enforce::compile_paths(rules, {}, &compiled_), "");
    ASSERT_EQ(compiled_.patterns.size(), 4u);
    ASSERT_EQ(write_path_maps(compiled_), "");
    // A program named role-tool has role 3 from its comm: it has it only once its exec succeeds.
    char comm[CF_COMM_LEN] = "role-tool";
    ASSERT_EQ(bpf_map_update_elem(sensor_->map_fd("guard_role_comms"), comm, &kRole, BPF_ANY), 0);
    set_mode(CF_MODE_ENFORCE);
  }

  void TearDown() override {
    stop_sensor();
    if (!dir_.empty()) remove_tree(dir_);
  }

  void set_mode(uint32_t mode) {
    write_guard_config(guard_config(mode, CF_GUARD_ACTIVE | CF_GUARD_PATHS | CF_GUARD_LSM, kGeneration));
  }

  // The records of `pid` an LSM hook wrote: those with a verdict (the exits stand by).
  std::vector<FileRecord> lsm_records(pid_t pid, uint32_t file_op, const std::string& path) {
    std::vector<FileRecord> out;
    for (auto& r : file_records(pid, file_op, path))
      if (r.verdict.verdict != CF_VERDICT_NONE) out.push_back(r);
    return out;
  }

  std::string dir_;
  enforce::CompiledPaths compiled_;
};

// Opens `path` and copies it to stdout; prints "errno=N" when the open fails.
void cat_file(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    dprintf(1, "errno=%d", errno);
    return;
  }
  char buf[256];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;)
    if (write(1, buf, n) != n) _exit(5);
  close(fd);
}

// "TOOL\tMARKER": execs TOOL (a copy of touch) to create MARKER; prints "errno=N" when the exec
// fails (the process then goes on, in its old program).
void exec_touch(const std::string& arg) {
  size_t tab = arg.find('\t');
  std::string tool = arg.substr(0, tab), marker = arg.substr(tab + 1);
  execl(tool.c_str(), "touch", marker.c_str(), static_cast<char*>(nullptr));
  dprintf(1, "errno=%d", errno);
}

const std::string kEperm = "errno=" + std::to_string(EPERM);

TEST_P(LsmGuardTest, OpeningABlockedFileFailsWithEpermAndTheProcessLivesOn) {
  const std::string path = dir_ + "/blocked/key";
  Outcome o = spawn(true, cat_file, path);
  EXPECT_TRUE(o.exited_ok()) << "status " << o.status;
  EXPECT_EQ(o.out, kEperm);
  auto recs = lsm_records(o.pid, CF_FILE_OPEN, path);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].verdict.verdict, CF_VERDICT_BLOCKED);
  EXPECT_EQ(recs[0].verdict.rule, kBlockRule);
  EXPECT_EQ(recs[0].verdict.generation, kGeneration);
  EXPECT_EQ(recs[0].result, -EPERM);
  auto c = sensor_->counters();
  EXPECT_GE(c[CF_CNT_BLOCKED], 1u);
  EXPECT_EQ(c[CF_CNT_KILLED], 0u);
}

TEST_P(LsmGuardTest, KillPatternsAreRefusedNotKilled) {
  const std::string path = dir_ + "/killed/key";
  Outcome o = spawn(true, cat_file, path);
  EXPECT_FALSE(o.killed()) << "status " << o.status;
  EXPECT_TRUE(o.exited_ok()) << "status " << o.status;
  EXPECT_EQ(o.out, kEperm);
  auto recs = lsm_records(o.pid, CF_FILE_OPEN, path);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].verdict.verdict, CF_VERDICT_BLOCKED);
  EXPECT_EQ(recs[0].verdict.rule, kKillRule);
  EXPECT_EQ(sensor_->counters()[CF_CNT_KILLED], 0u);
}

TEST_P(LsmGuardTest, TheResolvedPathIsJudged) {
  // a symlink outside the blocked directory, to a file inside it
  Outcome o = spawn(true, cat_file, dir_ + "/public/link");
  EXPECT_TRUE(o.exited_ok()) << "status " << o.status;
  EXPECT_EQ(o.out, kEperm);
  EXPECT_EQ(lsm_records(o.pid, CF_FILE_OPEN, dir_ + "/blocked/key").size(), 1u);
}

TEST_P(LsmGuardTest, OtherFilesAndUntrackedProcessesAreUnaffected) {
  Outcome o = spawn(true, cat_file, dir_ + "/public/readme");
  EXPECT_TRUE(o.exited_ok()) << "status " << o.status;
  EXPECT_EQ(o.out, kCanary);
  for (const char* sub : {"/blocked/key", "/killed/key"}) {
    Outcome u = spawn(false, cat_file, dir_ + sub);
    EXPECT_TRUE(u.exited_ok()) << sub << ": status " << u.status;
    EXPECT_EQ(u.out, kCanary) << sub;
  }
  auto c = sensor_->counters();
  EXPECT_EQ(c[CF_CNT_BLOCKED], 0u);
  EXPECT_EQ(c[CF_CNT_KILLED], 0u);
}

TEST_P(LsmGuardTest, DryRunAllowsAndRecordsWouldBlock) {
  set_mode(CF_MODE_DRY_RUN);
  for (const char* sub : {"/blocked/key", "/killed/key"}) {
    const std::string path = dir_ + sub;
    Outcome o = spawn(true, cat_file, path);
    EXPECT_TRUE(o.exited_ok()) << sub << ": status " << o.status;
    EXPECT_EQ(o.out, kCanary) << sub;
    auto recs = lsm_records(o.pid, CF_FILE_OPEN, path);
    ASSERT_EQ(recs.size(), 1u) << sub;
    EXPECT_EQ(recs[0].verdict.verdict, CF_VERDICT_WOULD_BLOCK) << sub;
    EXPECT_EQ(recs[0].result, 0) << sub;
    // the open's exit reports the open, and stands by: no would-kill besides the hook's verdict
    auto all = file_records(o.pid, CF_FILE_OPEN, path);
    EXPECT_EQ(all.size(), 2u) << sub;
    for (const auto& r : all) EXPECT_NE(r.verdict.verdict, CF_VERDICT_WOULD_KILL) << sub;
  }
  auto c = sensor_->counters();
  EXPECT_EQ(c[CF_CNT_BLOCKED], 0u);
  EXPECT_EQ(c[CF_CNT_KILLED], 0u);
  EXPECT_EQ(c[CF_CNT_WOULD_BLOCK], 2u);
}

TEST_P(LsmGuardTest, MonitorModeRefusesNothing) {
  set_mode(CF_MODE_MONITOR);
  Outcome o = spawn(true, cat_file, dir_ + "/blocked/key");
  EXPECT_TRUE(o.exited_ok()) << "status " << o.status;
  EXPECT_EQ(o.out, kCanary);
  // the open's exit record comes after anything the hook wrote: once it is there, nothing else is
  auto recs = file_records(o.pid, CF_FILE_OPEN, dir_ + "/blocked/key");
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].verdict.verdict, CF_VERDICT_NONE);
}

class LsmExecTest : public LsmGuardTest {
 protected:
  void SetUp() override {
    LsmGuardTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    touch_ = access("/usr/bin/touch", X_OK) == 0 ? "/usr/bin/touch" : "/bin/touch";
    if (access(touch_.c_str(), X_OK) != 0) GTEST_SKIP() << "no touch binary to copy: skipped";
    for (const char* name : {"/bin/forbidden-tool", "/bin/allowed-tool", "/bin/role-tool"})
      std::filesystem::copy_file(touch_, dir_ + name);
  }
  std::string touch_;
};

TEST_P(LsmExecTest, ExecOfADeniedBinaryFailsWithEperm) {
  namespace fs = std::filesystem;
  Outcome ok = spawn(true, exec_touch, dir_ + "/bin/allowed-tool\t" + dir_ + "/public/touched-ok");
  EXPECT_TRUE(ok.exited_ok()) << "status " << ok.status;
  EXPECT_TRUE(fs::exists(dir_ + "/public/touched-ok"));

  Outcome o = spawn(true, exec_touch, dir_ + "/bin/forbidden-tool\t" + dir_ + "/public/touched");
  EXPECT_TRUE(o.exited_ok()) << "status " << o.status;
  EXPECT_EQ(o.out, kEperm);
  EXPECT_FALSE(fs::exists(dir_ + "/public/touched")) << "the forbidden tool ran";
  auto recs = lsm_records(o.pid, CF_FILE_EXEC, dir_ + "/bin/forbidden-tool");
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].verdict.verdict, CF_VERDICT_BLOCKED);
  EXPECT_EQ(recs[0].verdict.rule, kExecRule);
  EXPECT_EQ(recs[0].result, -EPERM);
  EXPECT_EQ(sensor_->counters()[CF_CNT_KILLED], 0u);

  // opening it (not executing) is not what the pattern is about
  Outcome r = spawn(true, cat_file, dir_ + "/bin/forbidden-tool");
  EXPECT_TRUE(r.exited_ok()) << "status " << r.status;
  EXPECT_EQ(r.out.find("errno="), std::string::npos) << r.out;
}

TEST_P(LsmExecTest, UntrackedExecIsUnaffected) {
  Outcome o = spawn(false, exec_touch, dir_ + "/bin/forbidden-tool\t" + dir_ + "/public/touched");
  EXPECT_TRUE(o.exited_ok()) << "status " << o.status;
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/public/touched"));
}

TEST_P(LsmExecTest, TheRoleIsTheOneTheNewProgramWillHave) {
  // the child has no role; role-tool gets role 3 from its comm, which it takes at this exec
  Outcome o = spawn(true, exec_touch, dir_ + "/bin/role-tool\t" + dir_ + "/public/touched");
  EXPECT_TRUE(o.exited_ok()) << "status " << o.status;
  EXPECT_EQ(o.out, kEperm);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/public/touched"));
  auto recs = lsm_records(o.pid, CF_FILE_EXEC, dir_ + "/bin/role-tool");
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].verdict.rule, kRoleExecRule);
  EXPECT_EQ(recs[0].verdict.role, kRole);
}

TEST_P(LsmExecTest, DryRunExecRunsAndRecordsWouldBlock) {
  set_mode(CF_MODE_DRY_RUN);
  Outcome o = spawn(true, exec_touch, dir_ + "/bin/forbidden-tool\t" + dir_ + "/public/touched");
  EXPECT_TRUE(o.exited_ok()) << "status " << o.status;
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/public/touched"));
  auto recs = lsm_records(o.pid, CF_FILE_EXEC, dir_ + "/bin/forbidden-tool");
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].verdict.verdict, CF_VERDICT_WOULD_BLOCK);
  EXPECT_EQ(sensor_->counters()[CF_CNT_KILLED], 0u);
}

INSTANTIATE_TEST_SUITE_P(Hooks, LsmGuardTest,
                         ::testing::Values(sensor::SyscallHooks::kTracepoints, sensor::SyscallHooks::kFentry),
                         hook_name);
INSTANTIATE_TEST_SUITE_P(Hooks, LsmExecTest,
                         ::testing::Values(sensor::SyscallHooks::kTracepoints, sensor::SyscallHooks::kFentry),
                         hook_name);

}  // namespace
}  // namespace clawfence::testing
