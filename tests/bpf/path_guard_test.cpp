// Kernel tier: path patterns (bpf/guard/paths.bpf.h) with the real object. Globs are compiled
// by agent/enforce/paths.cpp and written into the maps; tracked children open or execute planted
// files and the test checks how they ended (SIGKILL or not), what they managed to print, and the
// verdict their records carry. Run on both syscall hook flavours the kernel has.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "clawfence/abi.h"
#include "enforce/paths.h"
#include "guard_fixture.h"
#include "harness.h"
#include "sensor/kernel.h"
#include "sensor/sensor.h"

namespace clawfence::testing {
namespace {

constexpr uint16_t kSecretRule = 5;
constexpr uint16_t kToolRule = 6;
constexpr uint16_t kRoleRule = 7;
constexpr uint32_t kGeneration = 77;
constexpr char kCanary[] = "CANARY-7f3a91";

class PathGuardTest : public ::testing::TestWithParam<sensor::SyscallHooks>, protected GuardFixture {
 protected:
  void SetUp() override {
    CF_REQUIRE_ROOT();
    if (GetParam() == sensor::SyscallHooks::kFentry && !sensor::probe_kernel().tracing)
      GTEST_SKIP() << "this kernel has no BPF tracing programs (fentry/fexit): the fentry path cannot run here";
    start_sensor("pathguard", hook_options(GetParam(), 4u << 20));
    ASSERT_EQ(sensor_->hooks(), GetParam());
    collect_records();

    dir_ = make_temp_dir("pathguard");
    ASSERT_FALSE(dir_.empty());
    ASSERT_EQ(mkdir((dir_ + "/secrets").c_str(), 0755), 0);
    ASSERT_EQ(mkdir((dir_ + "/public").c_str(), 0755), 0);
    ASSERT_EQ(mkdir((dir_ + "/bin").c_str(), 0755), 0);
    ASSERT_EQ(mkdir((dir_ + "/tools-only").c_str(), 0755), 0);
    secret_ = dir_ + "/secrets/key";
    write_file(secret_, kCanary);
    write_file(dir_ + "/public/readme", kCanary);
    write_file(dir_ + "/tools-only/notes", kCanary);
    ASSERT_EQ(symlink(secret_.c_str(), (dir_ + "/public/link").c_str()), 0);

    std::vector<enforce::PathRule> rules = {
        {dir_ + "/secrets/**", 0, CF_ACTION_KILL, kSecretRule, true},
        {"**/forbidden-tool", 0, CF_ACTION_KILL, kToolRule, false},
        {dir_ + "/tools-only/**", 1u << 3, CF_ACTION_KILL, kRoleRule, true},  // role 3 only
    };
    ASSERT_EQ(enforce::compile_paths(rules, {}, &compiled_), "");
    ASSERT_EQ(compiled_.patterns.size(), 3u);
    ASSERT_TRUE(compiled_.not_expressible.empty());
    ASSERT_EQ(write_path_maps(compiled_), "");
    set_mode(CF_MODE_ENFORCE);
  }

  void TearDown() override {
    stop_sensor();
    if (!dir_.empty()) remove_tree(dir_);
  }

  void set_mode(uint32_t mode) {
    write_guard_config(guard_config(mode, CF_GUARD_ACTIVE | CF_GUARD_PATHS, kGeneration));
  }

  std::string dir_, secret_;
  enforce::CompiledPaths compiled_;
};

// Opens `path` (relative to the cwd if it is) and copies the file to stdout.
void cat_file(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) _exit(4);
  char buf[256];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;)
    if (write(1, buf, n) != n) _exit(5);
  close(fd);
}

// "DIR\tNAME": chdir to DIR, then cat NAME.
void cat_relative(const std::string& arg) {
  size_t tab = arg.find('\t');
  if (chdir(arg.substr(0, tab).c_str()) != 0) _exit(3);
  cat_file(arg.substr(tab + 1));
}

TEST_P(PathGuardTest, OpeningADeniedFileIsKilledBeforeItReadsIt) {
  Outcome o = spawn(true, cat_file, secret_);
  EXPECT_TRUE(o.killed()) << "status " << o.status;
  EXPECT_EQ(o.out.find(kCanary), std::string::npos) << "the secret reached user space: " << o.out;
  auto recs = file_records(o.pid, secret_);
  ASSERT_FALSE(recs.empty());
  EXPECT_EQ(recs[0].verdict.verdict, CF_VERDICT_KILLED);
  EXPECT_EQ(recs[0].verdict.rule, kSecretRule);
  EXPECT_EQ(recs[0].verdict.generation, kGeneration);
  EXPECT_GE(sensor_->counters()[CF_CNT_KILLED], 1u);
}

TEST_P(PathGuardTest, OtherFilesAreNotKilled) {
  Outcome o = spawn(true, cat_file, dir_ + "/public/readme");
  EXPECT_TRUE(o.exited_ok()) << "status " << o.status;
  EXPECT_EQ(o.out, kCanary);
  auto recs = file_records(o.pid, dir_ + "/public/readme");
  ASSERT_FALSE(recs.empty());
  EXPECT_EQ(recs[0].verdict.verdict, CF_VERDICT_NONE);
  // a pattern for another role: this process has none
  Outcome r = spawn(true, cat_file, dir_ + "/tools-only/notes");
  EXPECT_TRUE(r.exited_ok()) << "status " << r.status;
  EXPECT_EQ(r.out, kCanary);
  EXPECT_EQ(sensor_->counters()[CF_CNT_KILLED], 0u);
}

// The assistant's own processes (a role that is not final: the gateway, its helpers) are never
// killed, so that steering the gateway into a forbidden file does not take the assistant down:
// the pattern leaves an alert. A tool (a final role) is killed.
TEST_P(PathGuardTest, TheAssistantsOwnProcessesAreAlertedNotKilled) {
  cf_guard_config cfg = guard_config(CF_MODE_ENFORCE, CF_GUARD_ACTIVE | CF_GUARD_PATHS, kGeneration);
  cfg.role_final = 1u << 3;  // role 3 is the tool; role 1 the gateway
  write_guard_config(cfg);
  sensor::TrackedRole gateway;
  gateway.role = 1;
  Outcome g = spawn(gateway, cat_file, secret_);
  EXPECT_TRUE(g.exited_ok()) << "status " << g.status;
  EXPECT_EQ(g.out, kCanary);
  auto recs = file_records(g.pid, secret_);
  ASSERT_FALSE(recs.empty());
  EXPECT_EQ(recs[0].verdict.verdict, CF_VERDICT_ALERT);
  EXPECT_EQ(recs[0].verdict.rule, kSecretRule);
  EXPECT_EQ(recs[0].verdict.role, 1);
  EXPECT_EQ(sensor_->counters()[CF_CNT_KILLED], 0u);

  sensor::TrackedRole tool;
  tool.role = 3;
  tool.origin = 1;
  Outcome t = spawn(tool, cat_file, secret_);
  EXPECT_TRUE(t.killed()) << "status " << t.status;
  EXPECT_EQ(t.out.find(kCanary), std::string::npos);
  Outcome r = spawn(tool, cat_file, dir_ + "/tools-only/notes");  // the tool-only pattern
  EXPECT_TRUE(r.killed()) << "status " << r.status;
}

TEST_P(PathGuardTest, SymlinksRelativeNamesAndDotDotResolveToTheDeniedFile) {
  for (const std::string& how : {dir_ + "/public/link", dir_ + "/public/../secrets/key", dir_ + "//secrets/./key"}) {
    Outcome o = spawn(true, cat_file, how);
    EXPECT_TRUE(o.killed()) << how << ": status " << o.status;
    EXPECT_EQ(o.out.find(kCanary), std::string::npos) << how;
  }
  for (const std::string& how : {dir_ + "/secrets\tkey", dir_ + "/public\t../secrets/key", dir_ + "/public\tlink"}) {
    Outcome o = spawn(true, cat_relative, how);
    EXPECT_TRUE(o.killed()) << how << ": status " << o.status;
    EXPECT_EQ(o.out.find(kCanary), std::string::npos) << how;
  }
}

TEST_P(PathGuardTest, UntrackedProcessesAreNotJudged) {
  Outcome o = spawn(false, cat_file, secret_);
  EXPECT_TRUE(o.exited_ok()) << "status " << o.status;
  EXPECT_EQ(o.out, kCanary);
}

TEST_P(PathGuardTest, DryRunReportsWouldKillAndKillsNothing) {
  set_mode(CF_MODE_DRY_RUN);
  Outcome o = spawn(true, cat_file, secret_);
  EXPECT_TRUE(o.exited_ok()) << "status " << o.status;
  EXPECT_EQ(o.out, kCanary);
  auto recs = file_records(o.pid, secret_);
  ASSERT_FALSE(recs.empty());
  EXPECT_EQ(recs[0].verdict.verdict, CF_VERDICT_WOULD_KILL);
  EXPECT_EQ(recs[0].verdict.rule, kSecretRule);
  auto c = sensor_->counters();
  EXPECT_EQ(c[CF_CNT_KILLED], 0u);
  EXPECT_GE(c[CF_CNT_WOULD_BLOCK], 1u);
}

TEST_P(PathGuardTest, MonitorModeJudgesNothing) {
  set_mode(CF_MODE_MONITOR);
  Outcome o = spawn(true, cat_file, secret_);
  EXPECT_TRUE(o.exited_ok()) << "status " << o.status;
  auto recs = file_records(o.pid, secret_);
  ASSERT_FALSE(recs.empty());
  EXPECT_EQ(recs[0].verdict.verdict, CF_VERDICT_NONE);
}

// "TOOL\tMARKER": execs TOOL (a copy of touch) to create MARKER.
void exec_touch(const std::string& arg) {
  size_t tab = arg.find('\t');
  std::string tool = arg.substr(0, tab), marker = arg.substr(tab + 1);
  // argv[0] "touch": a multi-call coreutils picks the program by it
  execl(tool.c_str(), "touch", marker.c_str(), static_cast<char*>(nullptr));
  _exit(6);
}

TEST_P(PathGuardTest, ExecOfADeniedBinaryIsKilledBeforeItRuns) {
  const std::string touch = access("/usr/bin/touch", X_OK) == 0 ? "/usr/bin/touch" : "/bin/touch";
  if (access(touch.c_str(), X_OK) != 0) GTEST_SKIP() << "no touch binary to copy: skipped";
  namespace fs = std::filesystem;
  fs::copy_file(touch, dir_ + "/bin/forbidden-tool");
  fs::copy_file(touch, dir_ + "/bin/allowed-tool");
  // the same program under an allowed name does what it should: the side effect is observable
  Outcome ok = spawn(true, exec_touch, dir_ + "/bin/allowed-tool\t" + dir_ + "/public/touched-ok");
  EXPECT_TRUE(ok.exited_ok()) << "status " << ok.status;
  EXPECT_TRUE(fs::exists(dir_ + "/public/touched-ok"));
  Outcome o = spawn(true, exec_touch, dir_ + "/bin/forbidden-tool\t" + dir_ + "/public/touched");
  EXPECT_TRUE(o.killed()) << "status " << o.status;
  EXPECT_FALSE(fs::exists(dir_ + "/public/touched")) << "the forbidden tool ran";
  // opening it (not executing) is not what the pattern is about
  Outcome r = spawn(true, cat_file, dir_ + "/bin/forbidden-tool");
  EXPECT_TRUE(r.exited_ok()) << "status " << r.status;
}

INSTANTIATE_TEST_SUITE_P(Hooks, PathGuardTest,
                         ::testing::Values(sensor::SyscallHooks::kTracepoints, sensor::SyscallHooks::kFentry),
                         hook_name);

}  // namespace
}  // namespace clawfence::testing
