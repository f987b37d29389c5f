// Kernel tier: path patterns (bpf/guard/paths.bpf.h) with the real object. Globs are compiled
// by agent/enforce/paths.cpp and written into the maps; tracked children open or execute planted
// files and the test checks how they ended (SIGKILL or not), what they managed to print, and the
// verdict their records carry. Run on both syscall hook flavours the kernel has.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include <cstring>
#include <filesystem>
#include <mutex>

#include "clawfence/abi.h"
#include "enforce/paths.h"
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

constexpr uint16_t kSecretRule = 5;
constexpr uint16_t kToolRule = 6;
constexpr uint16_t kRoleRule = 7;
constexpr uint32_t kGeneration = 77;
constexpr char kCanary[] = "CANARY-7f3a91";

// What a child did: how it ended and what it wrote to stdout.
struct Outcome {
  pid_t pid = -1;
  int status = 0;
  std::string out;
  bool killed() const { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }
  bool exited_ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

// A file record as the kernel wrote it: its verdict and its first string.
struct FileRecord {
  cf_verdict verdict{};
  std::string path;
};

class PathGuardTest : public ::testing::TestWithParam<sensor::SyscallHooks> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (loads eBPF programs): skipped";
    if (GetParam() == sensor::SyscallHooks::kFentry && !sensor::probe_kernel().tracing)
      GTEST_SKIP() << "this kernel has no BPF tracing programs (fentry/fexit): the fentry path cannot run here";
    cg_ = std::make_unique<TestCgroup>("pathguard");
    sensor::SensorOptions o;
    o.ringbuf_bytes = 4u << 20;
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
    enforce::PathMapFds fds{sensor_->map_fd("guard_paths"), sensor_->map_fd("guard_path_prefix"),
                            sensor_->map_fd("guard_path_suffix"), sensor_->map_fd("guard_path_dirs")};
    ASSERT_EQ(enforce::write_paths(fds, compiled_), "");
    set_mode(CF_MODE_ENFORCE);
  }

  void TearDown() override {
    if (sensor_) sensor_->stop_reader();
    sensor_.reset();  // detaches before the cgroup goes away
    cg_.reset();
    if (!dir_.empty()) remove_tree(dir_);
  }

  void set_mode(uint32_t mode) {
    cf_guard_config cfg{};
    cfg.mode = mode;
    cfg.flags = CF_GUARD_ACTIVE | CF_GUARD_PATHS;
    cfg.generation = kGeneration;
    for (auto& e : cfg.evasion) e.rule = CF_RULE_NONE;
    uint32_t zero = 0;
    ASSERT_EQ(bpf_map_update_elem(sensor_->map_fd("guard_config"), &zero, &cfg, BPF_ANY), 0);
  }

  // Forks a child in the test cgroup (tracked if asked) that waits for `go`, runs `body` with its
  // stdout on a pipe, and exits 0. Returns how it ended and what it printed.
  Outcome spawn(bool track, void (*body)(const std::string&), const std::string& arg) {
    Outcome o;
    int go[2], out[2];
    if (pipe(go) != 0 || pipe(out) != 0) return o;
    pid_t pid = fork();
    if (pid == 0) {
      close(go[1]);
      close(out[0]);
      dup2(out[1], 1);
      char c;
      if (read(go[0], &c, 1) != 1) _exit(2);
      body(arg);
      _exit(0);
    }
    close(go[0]);
    close(out[1]);
    cg_->add(pid);
    if (track) {
      EXPECT_TRUE(sensor_->track(pid, pid, CF_TRACK_USER));
    }
    EXPECT_EQ(write(go[1], "g", 1), 1);
    close(go[1]);
    char buf[256];
    for (ssize_t n; (n = read(out[0], buf, sizeof(buf))) > 0;) o.out.append(buf, n);
    close(out[0]);
    waitpid(pid, &o.status, 0);
    o.pid = pid;
    return o;
  }

  // The file records of `pid` whose path is `path`, waiting a little for the reader.
  std::vector<FileRecord> file_records(pid_t pid, const std::string& path) {
    std::vector<FileRecord> found;
    eventually(
        [&] {
          found.clear();
          std::lock_guard<std::mutex> l(mu_);
          for (const auto& r : records_) {
            if (r.size() < sizeof(cf_file)) continue;
            cf_file f;
            std::memcpy(&f, r.data(), sizeof(f));
            if (f.hdr.op != CF_OP_FILE || f.hdr.tgid != static_cast<uint32_t>(pid) || f.hdr.size != r.size() ||
                sizeof(cf_file) + f.strs.len[0] > r.size())
              continue;
            FileRecord fr{f.verdict, r.substr(sizeof(cf_file), f.strs.len[0])};
            if (fr.path == path) found.push_back(fr);
          }
          return !found.empty();
        },
        std::chrono::seconds(2));
    return found;
  }

  std::unique_ptr<TestCgroup> cg_;
  std::unique_ptr<sensor::Sensor> sensor_;
  std::mutex mu_;
  std::vector<std::string> records_;
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
                         [](const ::testing::TestParamInfo<sensor::SyscallHooks>& i) {
                           return i.param == sensor::SyscallHooks::kFentry ? std::string("Fentry")
                                                                          : std::string("Tracepoints");
                         });

}  // namespace
}  // namespace clawfence::testing
