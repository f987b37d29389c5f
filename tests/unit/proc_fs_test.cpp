// ProcFs over a fixture /proc tree.
#include "process/proc_fs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "temp_dir.h"

namespace clawfence::process {
namespace {

using namespace std::string_literals;
using clawfence::testing::TempDir;

// A /proc/PID/stat line: fields after the comm up to starttime (field 22) and a few more.
std::string stat_line(uint32_t pid, const std::string& comm, uint32_t ppid, uint64_t starttime) {
  return std::to_string(pid) + " (" + comm + ") S " + std::to_string(ppid) +
         " 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 " + std::to_string(starttime) +
         " 1000000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
}

void add_process(const TempDir& root, uint32_t pid, const std::string& comm, uint32_t ppid,
                 uint64_t starttime) {
  const std::string dir = std::to_string(pid);
  root.write(dir + "/stat", stat_line(pid, comm, ppid, starttime));
  root.write(dir + "/status",
             "Name:\t" + comm + "\nUmask:\t0022\nState:\tS (sleeping)\nPPid:\t" + std::to_string(ppid) +
                 "\nUid:\t1000\t1000\t1000\t1000\nGid:\t1001\t1001\t1001\t1001\n");
  root.write(dir + "/cmdline", "node\0/srv/app/server.js\0--port\0" "8080\0"s);
  root.write(dir + "/cgroup", "0::/system.slice/x.service\n");
  EXPECT_EQ(symlink("/usr/bin/node", (root / (dir + "/exe")).c_str()), 0);
}

uint64_t ticks_to_ns(uint64_t ticks) {
  return ticks * (1000000000ull / static_cast<uint64_t>(sysconf(_SC_CLK_TCK)));
}

TEST(ProcFsTest, ReadsAllFields) {
  TempDir root;
  add_process(root, 4242, "node", 1, 12345);
  ProcFs procfs(root.path());
  auto p = procfs.read(4242);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->pid, 4242u);
  EXPECT_EQ(p->ppid, 1u);
  EXPECT_EQ(p->uid, 1000u);
  EXPECT_EQ(p->gid, 1001u);
  EXPECT_EQ(p->comm, "node");
  EXPECT_EQ(p->exe, "/usr/bin/node");
  EXPECT_EQ(p->argv, (std::vector<std::string>{"node", "/srv/app/server.js", "--port", "8080"}));
  EXPECT_EQ(p->cgroup, "/system.slice/x.service");
  EXPECT_EQ(p->start_ns, ticks_to_ns(12345));
  EXPECT_NE(p->start_ns, 0u);
  EXPECT_TRUE(p->tracked_by.empty());
  EXPECT_FALSE(p->exited);
}

TEST(ProcFsTest, CommWithParenthesesAndSpaces) {
  TempDir root;
  add_process(root, 77, "a) b (c) S 9", 5, 600);
  ProcFs procfs(root.path());
  auto p = procfs.read(77);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->comm, "a) b (c) S 9");
  EXPECT_EQ(p->ppid, 5u);
  EXPECT_EQ(p->start_ns, ticks_to_ns(600));
}

TEST(ProcFsTest, CmdlineWithoutTrailingNul) {
  TempDir root;
  add_process(root, 10, "sh", 1, 1);
  root.write("10/cmdline", "sh\0-c\0echo hi"s);
  auto p = ProcFs(root.path()).read(10);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->argv, (std::vector<std::string>{"sh", "-c", "echo hi"}));
}

TEST(ProcFsTest, KernelThreadHasNoArgvOrExe) {
  TempDir root;
  root.write("2/stat", stat_line(2, "kthreadd", 0, 0));
  root.write("2/cmdline", "");
  auto p = ProcFs(root.path()).read(2);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->comm, "kthreadd");
  EXPECT_EQ(p->ppid, 0u);
  EXPECT_TRUE(p->argv.empty());
  EXPECT_EQ(p->exe, "");
  EXPECT_EQ(p->cgroup, "");
  EXPECT_EQ(p->uid, 0u);
}

TEST(ProcFsTest, MissingOrMalformedStat) {
  TempDir root;
  ProcFs procfs(root.path());
  EXPECT_FALSE(procfs.read(999).has_value());
  root.write("5/stat", "5 (short) S 1 2 3\n");  // fewer than 22 fields
  EXPECT_FALSE(procfs.read(5).has_value());
  root.write("6/stat", "6 no parentheses S 1\n");
  EXPECT_FALSE(procfs.read(6).has_value());
}

// A stat text that ends right at the closing ')' is malformed like the others: no throw.
TEST(ProcFsTest, StatEndingAtParenthesisIsRejectedNotThrown) {
  TempDir root;
  root.write("7/stat", "7 (x)");
  ProcFs procfs(root.path());
  std::optional<ProcInfo> p;
  EXPECT_NO_THROW(p = procfs.read(7));
  EXPECT_FALSE(p.has_value());
}

TEST(ProcFsTest, CgroupPathTakesTheV2Line) {
  TempDir root;
  root.write("8/cgroup",
             "12:memory:/user.slice\n1:name=systemd:/user.slice/session-1.scope\n"
             "0::/user.slice/user-1000.slice/session-1.scope\n");
  ProcFs procfs(root.path());
  EXPECT_EQ(procfs.cgroup_path(8), "/user.slice/user-1000.slice/session-1.scope");
  root.write("9/cgroup", "4:cpu:/\n");
  EXPECT_EQ(procfs.cgroup_path(9), "");
  EXPECT_EQ(procfs.cgroup_path(31337), "");
}

TEST(ProcFsTest, PidsListsOnlyNumericEntries) {
  TempDir root;
  add_process(root, 1, "init", 0, 1);
  add_process(root, 300, "node", 1, 2);
  root.mkdirs("self");
  root.mkdirs("sys");
  root.mkdirs("12abc");
  root.write("0/stat", "");  // pid 0 is not a process
  auto pids = ProcFs(root.path()).pids();
  std::sort(pids.begin(), pids.end());
  EXPECT_EQ(pids, (std::vector<uint32_t>{1, 300}));
  EXPECT_TRUE(ProcFs(root / "does-not-exist").pids().empty());
}

TEST(ProcFsTest, RealProcReadsSelf) {
  ProcFs procfs;
  auto self = procfs.read(static_cast<uint32_t>(getpid()));
  ASSERT_TRUE(self.has_value());
  EXPECT_EQ(self->ppid, static_cast<uint32_t>(getppid()));
  EXPECT_FALSE(self->argv.empty());
  EXPECT_NE(self->start_ns, 0u);
}

}  // namespace
}  // namespace clawfence::process
