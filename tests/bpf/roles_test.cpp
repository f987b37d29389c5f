// Kernel tier: roles decided at exec by the real programs (bpf/guard/roles.bpf.h) from the role
// rules user space compiles (process/roles.h), on a tree of real processes, the user-space
// model judging the same execs the same way; and records naming the process, not the thread.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "clawfence/abi.h"
#include "guard_fixture.h"
#include "harness.h"
#include "policy/rules.h"
#include "process/roles.h"
#include "sensor/decoder.h"

namespace clawfence::testing {
namespace {

namespace fs = std::filesystem;

// The shape of the shipped roles: the root is the gateway, a few exact command lines started by
// it or a helper are helpers, everything else it starts is a tool, for good.
constexpr const char* kRoles = R"(version: 1
roles:
  gateway: { root: true }
  helper:
    started_by: [gateway, helper]
    exec:
      - { exe: node, argv: ["*", "*/openclaw/dist/process/spawn-broker/worker.js"] }
      - { exe: node, argv: ["*", "*/openclaw/dist/infra/sqlite.worker.js", "--child", "**"] }
      - { exe: getent, argv: [getent, passwd, "*"] }
  tool: { started_by: [gateway, helper], final: true }
)";

class RolesTest : public ::testing::Test, protected GuardFixture {
 protected:
  void SetUp() override {
    CF_REQUIRE_ROOT();
    sensor::SensorOptions o;
    o.ringbuf_bytes = 4u << 20;
    start_sensor("roles", o);
    auto res = policy::parse_rules(kRoles, "roles.yaml");
    ASSERT_TRUE(res.ok()) << res.errors[0].to_string();
    model_ = process::RoleModel(res.rules.roles);
    const int fd = sensor_->map_fd("guard_role_rules");
    ASSERT_GE(fd, 0);
    for (uint32_t i = 0; i < CF_ROLE_RULES; ++i) {
      cf_role_rule r{};
      if (i < model_.kernel_rules().size()) r = model_.kernel_rules()[i];
      ASSERT_EQ(bpf_map_update_elem(fd, &i, &r, BPF_ANY), 0);
    }
    cf_guard_config cfg = guard_config(CF_MODE_MONITOR, CF_GUARD_ACTIVE, 1);
    cfg.role_final = model_.final_mask();
    write_guard_config(cfg);
    collect_records();
    dir_ = make_temp_dir("roles");
  }
  void TearDown() override {
    stop_sensor();
    if (!dir_.empty()) remove_tree(dir_);
  }

  // The decoded records of every process, in order, once the reader drained the ring.
  std::vector<sensor::DecodedRecord> all_records() {
    sensor_->stop_reader();
    std::vector<sensor::DecodedRecord> out;
    sensor::BootClock clock(0);
    for (const auto& r : records()) {
      sensor::DecodedRecord d;
      EXPECT_EQ(sensor::decode_record(r.data(), r.size(), clock, d), sensor::DecodeStatus::kOk);
      out.push_back(std::move(d));
    }
    return out;
  }

  // An executable file named `name` under the test's bin/: a copy of dash, so that the kernel
  // sees that name for the executed file and it runs the script its first argument names.
  std::string shell_named(const std::string& name) {
    fs::create_directories(dir_ + "/bin");
    const std::string p = dir_ + "/bin/" + name;
    fs::copy_file("/bin/dash", p, fs::copy_options::overwrite_existing);
    chmod(p.c_str(), 0755);
    return p;
  }
  void script(const std::string& rel, const std::string& text) {
    fs::create_directories(fs::path(dir_ + "/" + rel).parent_path());
    write_file(dir_ + "/" + rel, text);
  }

  process::RoleModel model_;
  std::string dir_;
};

std::string g_node, g_gateway_script;

void exec_gateway(const std::string&) {
  execl(g_node.c_str(), g_node.c_str(), g_gateway_script.c_str(), static_cast<char*>(nullptr));
  _exit(127);
}

TEST_F(RolesTest, TheKernelJudgesRolesAtExecAsTheModelDoes) {
  g_node = shell_named("node");
  shell_named("getent");
  const std::string pkg = dir_ + "/pkg/openclaw/dist";
  const std::string broker = pkg + "/process/spawn-broker/worker.js";
  const std::string env = "export B=" + dir_ + "/bin P=" + pkg + " T=" + dir_ + "\n";
  // The gateway starts the broker (a helper), a node script of its own that no pattern names
  // (a tool), the broker's command line with one argument too many (a tool), and a worker whose
  // pattern allows more arguments (a helper).
  g_gateway_script = dir_ + "/gw.js";
  script("gw.js", env +
                      "\"$B/node\" \"$P/process/spawn-broker/worker.js\"\n"
                      "\"$B/node\" \"$P/other.js\"\n"
                      "NESTED=1 \"$B/node\" \"$P/process/spawn-broker/worker.js\" extra\n"
                      "\"$B/node\" \"$P/infra/sqlite.worker.js\" --child a b c\n"
                      "exit 0\n");  // (dash would exec a script's last command in place)
  // The broker: housekeeping (getent passwd, a helper; what it runs is a tool), then a tool
  // (sh) that execs the broker's own command line in place and forks another: tools for good.
  script("pkg/openclaw/dist/process/spawn-broker/worker.js",
         env + "[ -n \"$NESTED\" ] && exit 0\n"
               "cd \"$T\" && PATH=\"$B:$PATH\" getent passwd root\n"
               "NESTED=1 /bin/sh -c '\"$B/node\" \"$P/process/spawn-broker/worker.js\"; "
               "exec \"$B/node\" \"$P/process/spawn-broker/worker.js\"'\n"
               "exit 0\n");
  script("passwd", "/bin/true\nexit 0\n");  // what `getent passwd root` runs (dash reads ./passwd)
  script("pkg/openclaw/dist/other.js", "exit 0\n");
  script("pkg/openclaw/dist/infra/sqlite.worker.js", "exit 0\n");

  Outcome o = run_child(cg_.get(), sensor_.get(), [] { exec_gateway(""); });
  ASSERT_TRUE(o.exited_ok());

  // Every exec, with the kernel's role, checked against the model from the process's origin.
  std::map<uint32_t, uint8_t> origin, current;  // as the model follows the tree
  origin[static_cast<uint32_t>(o.pid)] = CF_ORIGIN_ROOT;
  std::vector<std::pair<std::string, std::string>> seen;  // argv (joined), role name
  for (const auto& r : all_records()) {
    const uint32_t pid = r.proc.tgid;
    if (r.proc.op == CF_OP_FORK && origin.count(pid)) {
      origin[r.proc.child_tgid] = current[pid];
      current[r.proc.child_tgid] = current[pid];
      EXPECT_EQ(r.proc.role, current[pid]) << "fork by " << pid;
    }
    if (r.proc.op != CF_OP_EXEC || !origin.count(pid)) continue;
    const auto& x = r.event.exec();
    std::vector<std::string> argv(x.argv().begin(), x.argv().end());
    const std::string exe = x.filename().substr(x.filename().rfind('/') + 1);
    const uint8_t want = model_.at_exec(current[pid], origin[pid], exe, argv);
    std::string joined;
    for (const auto& a : argv) joined += (joined.empty() ? "" : " ") + a;
    EXPECT_EQ(r.proc.role, want) << joined << " (pid " << pid << ", exe " << exe << ")";
    current[pid] = r.proc.role;
    seen.emplace_back(joined, model_.name(r.proc.role));
  }
  auto role_of = [&](const std::string& argv) {
    std::vector<std::string> roles;
    for (const auto& [a, role] : seen)
      if (a == argv) roles.push_back(role);
    return roles;
  };
  using S = std::vector<std::string>;
  EXPECT_EQ(role_of(g_node + " " + g_gateway_script), S{"gateway"});
  // the broker started by the gateway, then by the tool twice (a fork, an exec in place)
  EXPECT_EQ(role_of(g_node + " " + broker), (S{"helper", "tool", "tool"}));
  EXPECT_EQ(role_of(g_node + " " + pkg + "/other.js"), S{"tool"});
  EXPECT_EQ(role_of(g_node + " " + broker + " extra"), S{"tool"});
  EXPECT_EQ(role_of(g_node + " " + pkg + "/infra/sqlite.worker.js --child a b c"), S{"helper"});
  EXPECT_EQ(role_of("getent passwd root"), S{"helper"});
  EXPECT_EQ(role_of("/bin/true"), S{"tool"});
  EXPECT_EQ(seen.size(), 10u);
}

// What a root that names itself a target is given without an exec: only a role with no exec
// pattern (the kernel has no argv to judge at a rename).
TEST_F(RolesTest, WithoutAnExecOnlyUnconditionalRolesHold) {
  EXPECT_EQ(model_.name(model_.without_exec(0, CF_ORIGIN_ROOT)), "gateway");
  EXPECT_EQ(model_.without_exec(0, model_.index("gateway")), model_.index("tool"));
  EXPECT_EQ(model_.without_exec(model_.index("tool"), model_.index("tool")), model_.index("tool"));
}

struct ThreadArgs {
  std::string path;
};

void* rename_and_open(void* arg) {
  prctl(PR_SET_NAME, "libuv-worker", 0, 0, 0);
  int fd = open(static_cast<ThreadArgs*>(arg)->path.c_str(), O_RDONLY);
  if (fd >= 0) close(fd);
  return nullptr;
}

void thread_opens(const std::string& path) {
  prctl(PR_SET_NAME, "gateway-main", 0, 0, 0);
  ThreadArgs args{path};
  pthread_t t;
  if (pthread_create(&t, nullptr, rename_and_open, &args) != 0) _exit(3);
  pthread_join(t, nullptr);
}

// Node names every thread it starts: a thread's name is not its process's. Records name the
// process by its main thread's name and the acting thread by its own; a thread renaming itself
// renames nothing (no COMM record); the main thread renaming itself does.
TEST_F(RolesTest, RecordsNameTheProcessAndTheThreadApart) {
  const std::string path = dir_ + "/f";
  write_file(path, "x");
  Outcome o = run_child(cg_.get(), sensor_.get(), [&] { thread_opens(path); });
  ASSERT_TRUE(o.exited_ok());
  std::vector<std::string> renames;
  bool opened = false;
  for (const auto& r : all_records()) {
    if (r.proc.tgid != static_cast<uint32_t>(o.pid)) continue;
    if (r.proc.op == CF_OP_COMM) renames.push_back(r.event.comm().new_comm());
    if (r.proc.op == CF_OP_FILE && r.event.file().path() == path) {
      opened = true;
      EXPECT_EQ(r.proc.comm, "gateway-main");
      EXPECT_EQ(r.proc.thread_comm, "libuv-worker");
      EXPECT_NE(r.proc.tid, r.proc.tgid);
    }
  }
  EXPECT_TRUE(opened);
  EXPECT_EQ(renames, std::vector<std::string>{"gateway-main"});
}

}  // namespace
}  // namespace clawfence::testing
