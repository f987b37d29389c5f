// ProcessTable: record-driven updates, bounded eviction, lineage.
#include "process/process_table.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "temp_dir.h"

namespace clawfence::process {
namespace {

using clawfence::testing::TempDir;

ProcInfo info(uint32_t pid, uint32_t ppid, const std::string& comm = "", uint64_t start_ns = 0) {
  ProcInfo p;
  p.pid = pid;
  p.ppid = ppid;
  p.comm = comm;
  p.start_ns = start_ns;
  return p;
}

// A fixture /proc with the ancestors the table never saw: 1 (systemd) <- 50 (bash).
class ProcFixture {
 public:
  ProcFixture() {
    add(1, "systemd", 0);
    add(50, "bash", 1);
  }
  void add(uint32_t pid, const std::string& comm, uint32_t ppid) {
    dir_.write(std::to_string(pid) + "/stat",
               std::to_string(pid) + " (" + comm + ") S " + std::to_string(ppid) +
                   " 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0\n");
  }
  const ProcFs& procfs() const { return procfs_; }

 private:
  TempDir dir_;
  ProcFs procfs_{dir_.path()};
};

std::vector<uint32_t> pids_of(const std::vector<Ancestor>& chain) {
  std::vector<uint32_t> out;
  for (const Ancestor& a : chain) out.push_back(a.pid);
  return out;
}

TEST(ProcessTableTest, UpsertAndFind) {
  ProcessTable table(8, nullptr);
  EXPECT_EQ(table.find(10), nullptr);
  table.upsert(info(10, 1, "a"));
  ASSERT_NE(table.find(10), nullptr);
  EXPECT_EQ(table.find(10)->comm, "a");
  table.upsert(info(10, 1, "b"));  // replaces
  EXPECT_EQ(table.find(10)->comm, "b");
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.get_or_load(11), nullptr);  // no procfs
}

TEST(ProcessTableTest, GetOrLoadReadsProcFs) {
  ProcFixture fx;
  ProcessTable table(8, &fx.procfs());
  const ProcInfo* p = table.get_or_load(50);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->comm, "bash");
  EXPECT_EQ(p->ppid, 1u);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.find(50), p);
  EXPECT_EQ(table.get_or_load(0), nullptr);
  EXPECT_EQ(table.get_or_load(12345), nullptr);
}

TEST(ProcessTableTest, ForkCopiesParentImage) {
  ProcessTable table(8, nullptr);
  ProcInfo parent = info(100, 50, "node", 1000);
  parent.exe = "/usr/bin/node";
  parent.argv = {"node", "gateway.js"};
  parent.uid = 1000;
  parent.cgroup = "/system.slice/openclaw-gateway.service";
  parent.tracked_by = "comm";
  parent.root_pid = 100;
  parent.target = "openclaw";
  table.upsert(parent);

  table.on_fork(100, 101, 2000);
  const ProcInfo* child = table.find(101);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->pid, 101u);
  EXPECT_EQ(child->ppid, 100u);
  EXPECT_EQ(child->start_ns, 2000u);
  EXPECT_EQ(child->exe, "/usr/bin/node");
  EXPECT_EQ(child->argv, parent.argv);
  EXPECT_EQ(child->comm, "node");
  EXPECT_EQ(child->uid, 1000u);
  EXPECT_EQ(child->cgroup, parent.cgroup);
  EXPECT_EQ(child->tracked_by, "inherited");
  EXPECT_EQ(child->root_pid, 100u);
  EXPECT_EQ(child->target, "openclaw");
  // the parent is untouched
  EXPECT_EQ(table.find(100)->tracked_by, "comm");
  EXPECT_EQ(table.find(100)->pid, 100u);
}

TEST(ProcessTableTest, ForkFromExitedOrUnknownParent) {
  ProcessTable table(8, nullptr);
  table.upsert(info(100, 1, "node", 1));
  table.on_exit(100, 50);
  table.on_fork(100, 101, 2);  // a late fork record after the parent's exit
  ASSERT_NE(table.find(101), nullptr);
  EXPECT_FALSE(table.find(101)->exited);
  EXPECT_EQ(table.find(101)->exited_ns, 0u);

  table.on_fork(7, 8, 3);  // parent unknown, no procfs
  const ProcInfo* orphan = table.find(8);
  ASSERT_NE(orphan, nullptr);
  EXPECT_EQ(orphan->ppid, 7u);
  EXPECT_EQ(orphan->start_ns, 3u);
  EXPECT_EQ(orphan->exe, "");
  EXPECT_EQ(orphan->tracked_by, "inherited");
}

TEST(ProcessTableTest, ExecOfTheSameProcessKeepsTheEntry) {
  ProcessTable table(8, nullptr);
  ProcInfo p = info(200, 1, "node", 1000);
  p.exe = "/usr/bin/node";
  p.tracked_by = "comm";
  table.upsert(p);
  ProcInfo& e = table.on_exec(200, 60, 1000);
  EXPECT_EQ(&e, table.find(200));
  EXPECT_EQ(e.ppid, 60u);  // reparented meanwhile
  EXPECT_EQ(e.exe, "/usr/bin/node");
  EXPECT_EQ(e.tracked_by, "comm");
}

TEST(ProcessTableTest, ExecResetsOnPidReuse) {
  ProcessTable table(8, nullptr);
  ProcInfo p = info(200, 1, "old", 1000);
  p.exe = "/bin/old";
  p.argv = {"old", "--flag"};
  p.uid = 33;
  table.upsert(p);
  ProcInfo& e = table.on_exec(200, 7, 2000);  // another start time: another process
  EXPECT_EQ(e.pid, 200u);
  EXPECT_EQ(e.ppid, 7u);
  EXPECT_EQ(e.start_ns, 2000u);
  EXPECT_EQ(e.exe, "");
  EXPECT_TRUE(e.argv.empty());
  EXPECT_EQ(e.comm, "");
  EXPECT_EQ(e.uid, 0u);
  EXPECT_EQ(table.size(), 1u);
}

TEST(ProcessTableTest, ExecAfterExitStartsFresh) {
  ProcessTable table(8, nullptr);
  ProcInfo p = info(300, 1, "old", 1000);
  p.exe = "/bin/old";
  p.tracked_by = "comm";
  p.root_pid = 300;
  p.target = "t";
  table.upsert(p);
  table.on_exit(300, 5000);
  EXPECT_TRUE(table.find(300)->exited);
  EXPECT_EQ(table.find(300)->exited_ns, 5000u);
  ProcInfo& e = table.on_exec(300, 1, 1000);  // even with the same start time
  EXPECT_FALSE(e.exited);
  EXPECT_EQ(e.exe, "");
  EXPECT_EQ(e.tracked_by, "");
  EXPECT_EQ(e.root_pid, 0u);
  EXPECT_EQ(e.target, "");
}

TEST(ProcessTableTest, OnCommAndOnExitOfUnknownPidsAreIgnored) {
  ProcessTable table(8, nullptr);
  table.on_comm(1, "x");
  table.on_exit(1, 10);
  EXPECT_EQ(table.size(), 0u);
  table.upsert(info(1, 0, "init"));
  table.on_comm(1, "renamed");
  EXPECT_EQ(table.find(1)->comm, "renamed");
}

TEST(ProcessTableTest, EvictionPrefersExitedEntriesInExitOrder) {
  ProcessTable table(3, nullptr);
  table.upsert(info(1, 0));
  table.upsert(info(2, 1));
  table.upsert(info(3, 1));
  table.on_exit(3, 10);
  table.on_exit(2, 11);

  table.upsert(info(4, 1));
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.evicted(), 1u);
  EXPECT_EQ(table.find(3), nullptr);  // exited first
  EXPECT_NE(table.find(2), nullptr);

  table.upsert(info(5, 1));
  EXPECT_EQ(table.evicted(), 2u);
  EXPECT_EQ(table.find(2), nullptr);
  EXPECT_NE(table.find(1), nullptr);
  EXPECT_NE(table.find(4), nullptr);
  EXPECT_NE(table.find(5), nullptr);

  // Full of live processes: one of them goes, the table stays bounded.
  table.upsert(info(6, 1));
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.evicted(), 3u);
  EXPECT_NE(table.find(6), nullptr);
}

TEST(ProcessTableTest, EvictionSkipsAReusedPid) {
  ProcessTable table(3, nullptr);
  table.upsert(info(10, 1, "", 1));
  table.upsert(info(11, 1, "", 1));
  table.upsert(info(12, 1, "", 1));
  table.on_exit(11, 5);
  table.on_exec(11, 1, 2);  // pid 11 reused and alive again
  table.on_exit(12, 6);
  table.upsert(info(13, 1));
  EXPECT_NE(table.find(11), nullptr);
  EXPECT_EQ(table.find(12), nullptr);
  EXPECT_NE(table.find(10), nullptr);
}

TEST(ProcessTableTest, UpdatingAnExistingPidDoesNotEvict) {
  ProcessTable table(2, nullptr);
  table.upsert(info(1, 0));
  table.upsert(info(2, 1));
  table.upsert(info(2, 1, "again"));
  EXPECT_EQ(table.evicted(), 0u);
  EXPECT_EQ(table.size(), 2u);
}

// 1 (systemd) <- 50 (bash) <- 100 (root of the tracked tree) <- 101 <- 102
class LineageTest : public ::testing::Test {
 protected:
  void build(ProcessTable& table) {
    ProcInfo root = info(100, 50, "openclaw", 10);
    root.exe = "/usr/bin/node";
    root.tracked_by = "comm";
    root.root_pid = 100;
    table.upsert(root);
    table.on_fork(100, 101, 11);
    table.on_fork(101, 102, 12);
  }
  ProcFixture fx_;
};

TEST_F(LineageTest, DescendantStopsAtTheTrackingRoot) {
  ProcessTable table(64, &fx_.procfs());
  build(table);
  auto chain = table.lineage(102);
  EXPECT_EQ(pids_of(chain), (std::vector<uint32_t>{101, 100}));
  EXPECT_EQ(chain.back().exe, "/usr/bin/node");
  EXPECT_EQ(pids_of(table.lineage(101)), (std::vector<uint32_t>{100}));
  EXPECT_EQ(table.find(50), nullptr);  // not loaded for a descendant's lineage
}

TEST_F(LineageTest, RootGoesUpToPidOne) {
  ProcessTable table(64, &fx_.procfs());
  build(table);
  auto chain = table.lineage(100);
  ASSERT_EQ(pids_of(chain), (std::vector<uint32_t>{50, 1}));
  EXPECT_EQ(chain[0].comm, "bash");
  EXPECT_EQ(chain[1].comm, "systemd");
}

TEST_F(LineageTest, MaxDepth) {
  ProcessTable table(64, &fx_.procfs());
  build(table);
  EXPECT_EQ(pids_of(table.lineage(102, 1)), (std::vector<uint32_t>{101}));
  EXPECT_EQ(pids_of(table.lineage(100, 1)), (std::vector<uint32_t>{50}));
  EXPECT_TRUE(table.lineage(102, 0).empty());
}

TEST_F(LineageTest, WithoutProcFsStopsAtTheFirstUnknownAncestor) {
  ProcessTable table(64, nullptr);
  build(table);
  EXPECT_TRUE(table.lineage(100).empty());
  EXPECT_EQ(pids_of(table.lineage(102)), (std::vector<uint32_t>{101, 100}));
  EXPECT_TRUE(table.lineage(9999).empty());
}

TEST(ProcessTableTest, LineageSurvivesASelfParentLoop) {
  ProcessTable table(8, nullptr);
  table.upsert(info(5, 6));
  table.upsert(info(6, 6));  // corrupt: its own parent
  EXPECT_EQ(pids_of(table.lineage(5)), (std::vector<uint32_t>{6}));
  table.upsert(info(7, 8));
  table.upsert(info(8, 7));  // a two-process cycle is cut by max_depth
  EXPECT_EQ(table.lineage(7, 5).size(), 5u);
}

// lineage() may load an ancestor from /proc and so evict an entry it has already passed
// (exited entries go first, and an exited parent is common): what it returns must not depend
// on those entries staying in the table.
TEST(ProcessTableTest, LineageStaysValidWhenLoadingEvicts) {
  ProcFixture fx;
  fx.add(10, "sshd", 1);
  ProcessTable table(3, &fx.procfs());
  ProcInfo self = info(30, 20, "node");
  self.root_pid = 30;  // a tracking root: its lineage goes up to pid 1
  table.upsert(self);
  table.upsert(info(20, 10, "bash"));
  table.upsert(info(99, 1, "other"));
  table.on_exit(20, 1);  // the parent has exited, its record is still useful

  auto chain = table.lineage(30);
  ASSERT_GE(chain.size(), 2u);
  EXPECT_EQ(chain[0].pid, 20u);
  EXPECT_EQ(chain[0].comm, "bash");
  EXPECT_EQ(chain[1].pid, 10u);
  EXPECT_EQ(chain[1].comm, "sshd");
  EXPECT_EQ(table.find(20), nullptr);  // evicted on the way, yet reported correctly
}

}  // namespace
}  // namespace clawfence::process

namespace clawfence::process {
namespace {

// Exited processes are kept a while for late records, then forgotten; a reused pid is kept.
TEST(ProcessTableSweep, ForgetsExitedAfterRetention) {
  ProcessTable table(64, nullptr);
  ProcInfo a;
  a.pid = 1001;
  table.upsert(a);
  ProcInfo b;
  b.pid = 1002;
  table.upsert(b);
  table.on_exit(1001, 100);
  table.on_exit(1002, 5'000'000'000ull);
  table.sweep(10'000'000'000ull, 8'000'000'000ull);
  EXPECT_EQ(table.find(1001), nullptr);
  ASSERT_NE(table.find(1002), nullptr);
  ProcInfo reused;  // 1002 comes back as a new live process before its sweep
  reused.pid = 1002;
  table.upsert(reused);
  table.sweep(30'000'000'000ull, 8'000'000'000ull);
  ASSERT_NE(table.find(1002), nullptr);
  EXPECT_FALSE(table.find(1002)->exited);
}

}  // namespace
}  // namespace clawfence::process
