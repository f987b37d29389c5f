// Target matching in user space, and the kernel form of the targets.
#include "process/targets.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <vector>

#include "temp_dir.h"

namespace clawfence::process {
namespace {

using clawfence::testing::TempDir;

constexpr const char* kGatewayGlob = "*/openclaw-gateway*.service";

ProcInfo proc(const std::string& comm, std::vector<std::string> argv = {}, const std::string& cgroup = "") {
  ProcInfo p;
  p.pid = 1234;
  p.comm = comm;
  p.argv = std::move(argv);
  p.cgroup = cgroup;
  return p;
}

Target target(const std::string& name, std::vector<std::string> comms, std::vector<std::string> argv = {},
              std::vector<std::string> cgroups = {}) {
  Target t;
  t.name = name;
  t.comms = std::move(comms);
  t.argv_contains = std::move(argv);
  t.cgroups = std::move(cgroups);
  return t;
}

uint64_t inode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

TEST(MatchTarget, ByComm) {
  std::vector<Target> targets = {target("oc", {"openclaw"})};
  EXPECT_EQ(match_target(targets, proc("openclaw")), "oc");
  EXPECT_FALSE(match_target(targets, proc("openclaw2")).has_value());
  EXPECT_FALSE(match_target(targets, proc("opencla")).has_value());
  EXPECT_FALSE(match_target(targets, proc("")).has_value());
}

TEST(MatchTarget, LongCommMatchesTheKernelsFifteenCharacters) {
  std::vector<Target> targets = {target("gw", {"openclaw-gateway"})};
  EXPECT_EQ(match_target(targets, proc("openclaw-gatewa")), "gw");
  EXPECT_FALSE(match_target(targets, proc("openclaw-gatew")).has_value());
}

TEST(MatchTarget, ArgvContainsSearchesTheNulJoinedArgv) {
  std::vector<Target> targets = {target("oc", {}, {"node_modules/openclaw/"})};
  EXPECT_EQ(match_target(targets, proc("node", {"node", "/usr/lib/node_modules/openclaw/dist/index.js"})), "oc");
  EXPECT_FALSE(match_target(targets, proc("node", {"node", "/usr/lib/node_modules/other/x.js"})).has_value());
  EXPECT_FALSE(match_target(targets, proc("node", {})).has_value());

  // The needle can span arguments through their NUL separator, as in the kernel's copy.
  std::vector<Target> spanning = {target("s", {}, {std::string("--gateway\0run", 13)})};
  EXPECT_EQ(match_target(spanning, proc("x", {"openclaw", "--gateway", "run"})), "s");
  std::vector<Target> space = {target("s", {}, {"--gateway run"})};
  EXPECT_FALSE(match_target(space, proc("x", {"openclaw", "--gateway", "run"})).has_value());
}

TEST(MatchTarget, EmptyNeedleMatchesNothing) {
  std::vector<Target> targets = {target("e", {}, {""})};
  EXPECT_FALSE(match_target(targets, proc("x", {"a"})).has_value());
}

TEST(MatchTarget, CgroupGlob) {
  std::vector<Target> targets = {target("gw", {}, {}, {kGatewayGlob})};
  EXPECT_EQ(match_target(targets, proc("node", {}, "/system.slice/openclaw-gateway.service")), "gw");
  EXPECT_EQ(match_target(targets, proc("node", {},
                                       "/user.slice/user-1000.slice/user@1000.service/app.slice/"
                                       "openclaw-gateway-work.service")),
            "gw");
  EXPECT_FALSE(match_target(targets, proc("node", {}, "/system.slice/other.service")).has_value());
  EXPECT_FALSE(match_target(targets, proc("node", {}, "")).has_value());
}

TEST(MatchTarget, CgroupWithoutPathNeverMatches) {
  std::vector<Target> targets = {target("all", {}, {}, {"*"})};
  EXPECT_FALSE(match_target(targets, proc("node", {}, "")).has_value());
  EXPECT_EQ(match_target(targets, proc("node", {}, "/")), "all");
}

TEST(MatchTarget, FirstMatchingTargetWins) {
  std::vector<Target> targets = {target("first", {}, {"gateway"}), target("second", {"node"})};
  EXPECT_EQ(match_target(targets, proc("node", {"node", "gateway"})), "first");
  EXPECT_EQ(match_target(targets, proc("node", {"node"})), "second");
  EXPECT_FALSE(match_target({}, proc("node")).has_value());
}

TEST(CgroupGlob, StarCrossesSlashes) {
  EXPECT_TRUE(cgroup_glob_matches(kGatewayGlob, "/system.slice/openclaw-gateway.service"));
  EXPECT_TRUE(cgroup_glob_matches("/system.slice/*", "/system.slice/a/b"));
  EXPECT_TRUE(cgroup_glob_matches("/system.slice/x?.service", "/system.slice/x1.service"));
  EXPECT_FALSE(cgroup_glob_matches("/system.slice/x.service", "/system.slice/x.service/child"));
  EXPECT_FALSE(cgroup_glob_matches(kGatewayGlob, "/system.slice/openclaw-gateway.socket"));
}

TEST(CompileKernelTargets, CommsNeedlesAndLeafPatterns) {
  std::vector<Target> targets = {
      target("oc", {"openclaw", "openclaw-gateway"}, {"node_modules/openclaw/"}, {kGatewayGlob}),
      target("two", {}, {"--serve"}, {"/system.slice/agent-*"}),
  };
  std::vector<std::string> warnings;
  sensor::KernelTargets k = compile_kernel_targets(targets, "", &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(k.comms, (std::vector<std::string>{"openclaw", "openclaw-gatewa"}));
  EXPECT_EQ(k.argv_needles, (std::vector<std::string>{"node_modules/openclaw/", "--serve"}));
  ASSERT_EQ(k.cgroup_leaf_patterns.size(), 2u);
  EXPECT_EQ(k.cgroup_leaf_patterns[0].prefix, "openclaw-gateway");
  EXPECT_EQ(k.cgroup_leaf_patterns[0].suffix, ".service");
  EXPECT_EQ(k.cgroup_leaf_patterns[1].prefix, "agent-");
  EXPECT_EQ(k.cgroup_leaf_patterns[1].suffix, "");
  EXPECT_FALSE(k.cgroup_leaf_patterns[0].exact);
  EXPECT_TRUE(k.cgroup_ids.empty());  // no cgroup root given
}

TEST(CompileKernelTargets, LeafWithoutStarIsAnExactName) {
  std::vector<Target> targets = {target("t", {}, {}, {"/system.slice/openclaw.service"})};
  sensor::KernelTargets k = compile_kernel_targets(targets, "", nullptr);
  ASSERT_EQ(k.cgroup_leaf_patterns.size(), 1u);
  EXPECT_EQ(k.cgroup_leaf_patterns[0].prefix, "openclaw.service");
  EXPECT_TRUE(k.cgroup_leaf_patterns[0].exact);
}

TEST(CompileKernelTargets, BareStarLeafWouldMatchEveryCgroupAndWarns) {
  std::vector<Target> targets = {target("t", {}, {}, {"/system.slice/*"})};
  std::vector<std::string> warnings;
  sensor::KernelTargets k = compile_kernel_targets(targets, "", &warnings);
  EXPECT_TRUE(k.cgroup_leaf_patterns.empty());
  EXPECT_EQ(warnings.size(), 1u);
}

TEST(CompileKernelTargets, GlobsTheKernelCannotMatchWarn) {
  std::vector<Target> targets = {target("t", {}, {},
                                        {"*/a*b*.service", "/system.slice/x?.service", "/system.slice/[ab].scope",
                                         "/system.slice/"})};
  std::vector<std::string> warnings;
  sensor::KernelTargets k = compile_kernel_targets(targets, "", &warnings);
  EXPECT_TRUE(k.cgroup_leaf_patterns.empty());
  ASSERT_EQ(warnings.size(), 4u);
  EXPECT_NE(warnings[0].find("*/a*b*.service"), std::string::npos);
  EXPECT_NE(warnings[1].find("x?.service"), std::string::npos);
  // A null warnings pointer is allowed.
  EXPECT_TRUE(compile_kernel_targets(targets, "", nullptr).cgroup_leaf_patterns.empty());
}

class CgroupTree : public ::testing::Test {
 protected:
  void SetUp() override {
    gateway_ = root_.mkdirs("system.slice/openclaw-gateway.service");
    work_ = root_.mkdirs("user.slice/user-1000.slice/user@1000.service/app.slice/openclaw-gateway-work.service");
    root_.mkdirs("system.slice/other.service");
    root_.mkdirs("system.slice/openclaw-gateway.socket");
    root_.write("system.slice/openclaw-gateway-file.service", "");  // a file, not a cgroup
  }
  TempDir root_;
  std::string gateway_, work_;
};

TEST_F(CgroupTree, FindCgroupsReturnsInodesOfMatchingDirectories) {
  auto ids = find_cgroups(root_.path(), {kGatewayGlob});
  std::sort(ids.begin(), ids.end());
  std::vector<uint64_t> want = {inode_of(gateway_), inode_of(work_)};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(ids, want);
}

TEST_F(CgroupTree, FindCgroupsWithSeveralGlobsCountsEachDirectoryOnce) {
  auto ids = find_cgroups(root_.path(), {kGatewayGlob, "/system.slice/*"});
  std::sort(ids.begin(), ids.end());
  std::vector<uint64_t> want = {inode_of(gateway_), inode_of(work_), inode_of(root_ / "system.slice/other.service"),
                                inode_of(root_ / "system.slice/openclaw-gateway.socket")};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(ids, want);
}

TEST_F(CgroupTree, FindCgroupsEdgeCases) {
  EXPECT_TRUE(find_cgroups(root_.path(), {}).empty());
  EXPECT_TRUE(find_cgroups("", {kGatewayGlob}).empty());
  EXPECT_TRUE(find_cgroups(root_ / "missing", {kGatewayGlob}).empty());
  EXPECT_TRUE(find_cgroups(root_.path(), {"/nothing/*"}).empty());
}

TEST_F(CgroupTree, CompileKernelTargetsFindsExistingCgroups) {
  std::vector<Target> targets = {target("gw", {}, {}, {kGatewayGlob})};
  sensor::KernelTargets k = compile_kernel_targets(targets, root_.path(), nullptr);
  std::vector<uint64_t> ids = k.cgroup_ids;
  std::sort(ids.begin(), ids.end());
  std::vector<uint64_t> want = {inode_of(gateway_), inode_of(work_)};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(ids, want);
}

TEST_F(CgroupTree, UnmatchableLeafStillFindsExistingCgroups) {
  std::vector<Target> targets = {target("gw", {}, {}, {"*/openclaw-gateway*w*.service"})};
  std::vector<std::string> warnings;
  sensor::KernelTargets k = compile_kernel_targets(targets, root_.path(), &warnings);
  EXPECT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(k.cgroup_leaf_patterns.empty());
  EXPECT_EQ(k.cgroup_ids, (std::vector<uint64_t>{inode_of(work_)}));
}

}  // namespace
}  // namespace clawfence::process
