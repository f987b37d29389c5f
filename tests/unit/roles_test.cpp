// The role model (process/roles.h): how a process's role is decided at exec, the argument
// patterns, and the kernel's form of the rules. The kernel's own judgment of real execs is
// tests/bpf/roles_test.cpp.
#include "process/roles.h"

#include <gtest/gtest.h>

#include "policy/rules.h"
#include "shipped_rules.h"

namespace clawfence::process {
namespace {

using Strings = std::vector<std::string>;

RoleModel model(const std::string& text) {
  auto res = policy::parse_rules(text, "roles.yaml");
  EXPECT_TRUE(res.ok()) << (res.errors.empty() ? "" : res.errors[0].to_string());
  return RoleModel(res.rules.roles);
}

ArgPattern pattern(const std::string& text) {
  ArgPattern p;
  EXPECT_EQ(parse_arg_pattern(text, &p), "") << text;
  return p;
}

TEST(RoleArgs, ExactPrefixSuffixAndAny) {
  EXPECT_TRUE(pattern("*").matches(""));
  EXPECT_TRUE(pattern("*").matches("anything/at all"));
  EXPECT_TRUE(pattern("-c").matches("-c"));
  EXPECT_FALSE(pattern("-c").matches("-cx"));
  EXPECT_FALSE(pattern("-c").matches(""));
  // '*' crosses '/': "*/npm" is any path ending in /npm
  EXPECT_TRUE(pattern("*/npm").matches("/usr/lib/node_modules/npm/bin/../../npm"));
  EXPECT_FALSE(pattern("*/npm").matches("npm"));
  EXPECT_TRUE(pattern("const safe = new Set([*").matches("const safe = new Set([\"PATH\"]);"));
  // a prefix and a suffix may not overlap in the argument
  EXPECT_TRUE(pattern("ab*ba").matches("abba"));
  EXPECT_FALSE(pattern("ab*ba").matches("aba"));
  ArgPattern bad;
  EXPECT_NE(parse_arg_pattern("a*b*", &bad), "");
  EXPECT_NE(parse_arg_pattern("**", &bad), "");
  EXPECT_NE(parse_arg_pattern(std::string(CF_ROLE_TEXT + 1, 'x'), &bad), "");
}

constexpr const char* kRoles = R"(version: 1
roles:
  gateway: { root: true }
  helper:
    started_by: [gateway, helper]
    exec:
      - { exe: node, argv: ["*", "*/spawn-broker/worker.js"] }
      - { exe: git, argv: [git, --version] }
      - { exe: node, argv: ["*", "-e", "const safe*", "**"] }
  tool: { started_by: [gateway, helper], final: true }
)";

TEST(RoleModel, DecidedByOriginExeAndArgv) {
  RoleModel m = model(kRoles);
  const uint8_t gw = m.index("gateway"), helper = m.index("helper"), tool = m.index("tool");
  EXPECT_EQ(gw, 1);
  EXPECT_EQ(helper, 2);
  EXPECT_EQ(tool, 3);
  EXPECT_EQ(m.final_mask(), 1u << 3);
  // a tree's root is the gateway, whatever it runs
  EXPECT_EQ(m.at_exec(0, CF_ORIGIN_ROOT, "env", {"/usr/bin/env", "node", "openclaw"}), gw);
  // started by the gateway: a helper when a pattern holds, else a tool
  EXPECT_EQ(m.at_exec(gw, gw, "node", {"/usr/bin/node", "/p/spawn-broker/worker.js"}), helper);
  EXPECT_EQ(m.at_exec(gw, gw, "node", {"/usr/bin/node", "/p/spawn-broker/worker.js", "more"}), tool);
  EXPECT_EQ(m.at_exec(gw, gw, "nodejs", {"/usr/bin/node", "/p/spawn-broker/worker.js"}), tool);
  EXPECT_EQ(m.at_exec(gw, gw, "git", {"git", "--version"}), helper);
  EXPECT_EQ(m.at_exec(gw, gw, "git", {"/usr/bin/git", "--version"}), tool);
  EXPECT_EQ(m.at_exec(gw, gw, "node", {"node", "-e", "const safe = 1", "x", "y"}), helper);
  EXPECT_EQ(m.at_exec(gw, gw, "sh", {"sh", "-c", "git --version"}), tool);
  // a helper's own children are judged the same way
  EXPECT_EQ(m.at_exec(helper, helper, "git", {"git", "--version"}), helper);
  EXPECT_EQ(m.at_exec(helper, helper, "id", {"id", "-u"}), tool);
  // a helper that execs something else becomes a tool (judged again from its origin)
  EXPECT_EQ(m.at_exec(helper, gw, "bash", {"bash"}), tool);
  // a tool stays a tool whatever it runs, and so does what it starts
  EXPECT_EQ(m.at_exec(tool, gw, "node", {"/usr/bin/node", "/p/spawn-broker/worker.js"}), tool);
  EXPECT_EQ(m.at_exec(tool, tool, "node", {"/usr/bin/node", "/p/spawn-broker/worker.js"}), tool);
  // nothing below a tool or a role-less process becomes the gateway
  EXPECT_EQ(m.at_exec(tool, tool, "openclaw", {"openclaw", "gateway"}), tool);
  EXPECT_EQ(m.at_exec(0, 0, "openclaw", {"openclaw", "gateway"}), 0);
  // without an exec (a rename), only a role with no pattern
  EXPECT_EQ(m.without_exec(0, CF_ORIGIN_ROOT), gw);
  EXPECT_EQ(m.without_exec(0, gw), tool);
  EXPECT_EQ(m.name(0), "");
  EXPECT_EQ(m.name(99), "");
  EXPECT_EQ(m.index("nobody"), 0);
}

// The kernel reads at most CF_ROLE_ARGS + 1 arguments: a pattern naming fewer sees "more".
TEST(RoleModel, AsManyArgumentsAsTheKernelSplits) {
  RoleModel m = model(R"(version: 1
roles:
  gateway: { root: true }
  helper: { started_by: [gateway], exec: [{ exe: x, argv: [a, "**"] }] }
  tool: { started_by: [gateway], final: true }
)");
  Strings many{"a"};
  for (int i = 0; i < 40; ++i) many.push_back("z");
  EXPECT_EQ(m.at_exec(1, 1, "x", many), m.index("helper"));
  EXPECT_EQ(m.at_exec(1, 1, "x", {"a"}), m.index("helper"));
  EXPECT_EQ(m.at_exec(1, 1, "x", {}), m.index("tool"));
}

TEST(RoleModel, KernelForm) {
  RoleModel m = model(kRoles);
  const auto& k = m.kernel_rules();
  ASSERT_EQ(k.size(), 5u);  // gateway, three patterns of helper, tool
  EXPECT_EQ(k[0].flags, CF_RR_USED);
  EXPECT_EQ(k[0].from_mask, 1u);
  EXPECT_EQ(k[2].flags, CF_RR_USED | CF_RR_EXE | CF_RR_ARGV);
  EXPECT_STREQ(k[2].exe, "git");
  ASSERT_EQ(k[2].nargs, 2);
  EXPECT_EQ(k[2].args[0].kind, CF_RARG_EXACT);
  EXPECT_EQ(std::string(k[2].args[1].text, k[2].args[1].prefix_len), "--version");
  EXPECT_EQ(k[3].flags, CF_RR_USED | CF_RR_EXE | CF_RR_ARGV | CF_RR_MORE_ARGS);
  EXPECT_EQ(k[3].nargs, 3);
  EXPECT_EQ(k[3].args[2].kind, CF_RARG_GLOB);
  EXPECT_EQ(k[3].args[2].suffix_len, 0);
  EXPECT_EQ(k[4].role, 3);
  EXPECT_EQ(k[4].from_mask, (1u << 1) | (1u << 2));
}

// A root role with exec patterns: the root has it whatever it runs; another process only when it
// was started by one of `started_by` and runs one of the patterns.
TEST(RoleModel, ARootRoleWithPatternsIsAlsoGivenByThem) {
  RoleModel m = model(R"(version: 1
roles:
  gateway:
    root: true
    started_by: [gateway]
    exec: [{ exe: node, argv: ["*", "--flag", "*/cli", "**"] }]
  tool: { started_by: [gateway], final: true }
)");
  const uint8_t gw = m.index("gateway"), tool = m.index("tool");
  EXPECT_EQ(m.at_exec(0, CF_ORIGIN_ROOT, "env", {"/usr/bin/env", "node", "/bin/cli"}), gw);
  EXPECT_EQ(m.at_exec(0, gw, "node", {"/usr/bin/node", "--flag", "/bin/cli", "agent", "--local"}), gw);
  EXPECT_EQ(m.at_exec(0, gw, "node", {"/usr/bin/node", "/bin/cli", "agent"}), tool);
  EXPECT_EQ(m.at_exec(tool, tool, "node", {"/usr/bin/node", "--flag", "/bin/cli"}), tool);
  EXPECT_EQ(m.without_exec(0, CF_ORIGIN_ROOT), gw);
  const auto& k = m.kernel_rules();
  ASSERT_EQ(k.size(), 3u);  // the root alone, the pattern for the gateway's children, tool
  EXPECT_EQ(k[0].from_mask, 1u);
  EXPECT_EQ(k[0].flags, CF_RR_USED);
  EXPECT_EQ(k[1].from_mask, 1u << gw);
  EXPECT_TRUE(k[1].flags & CF_RR_ARGV);
  // and a later role for roots only is shadowed by it
  Role g{"gateway", true, {"gateway"}, {{"node", {"*"}}}, false, "", 1, 1};
  Role late{"late", true, {}, {}, false, "", 2, 1};
  EXPECT_FALSE(check_roles({g, late}).empty());
}

TEST(RoleModel, TooManyForTheKernel) {
  std::vector<Role> roles;
  Role many{"r", true, {}, {}, false, "", 0, 0};
  for (int i = 0; i < CF_ROLE_RULES + 1; ++i) many.exec.push_back({"x" + std::to_string(i), {}});
  roles.push_back(many);
  EXPECT_THROW(RoleModel{roles}, std::invalid_argument);
  EXPECT_FALSE(check_roles(roles).empty());
}

// The shipped roles on the command lines OpenClaw 2026.9.6 was seen running (rules/openclaw.yaml
// says where each comes from).
TEST(RoleModel, ShippedRolesOnOpenClawsRealCommandLines) {
  auto res = policy::load_rules(testing::shipped_rules());
  ASSERT_TRUE(res.ok());
  RoleModel m(res.rules.roles);
  const uint8_t gw = m.index("gateway"), helper = m.index("helper"), hk = m.index("housekeeping"),
                shell = m.index("shell"), tool = m.index("tool");
  ASSERT_TRUE(gw && helper && hk && shell && tool);
  const std::string node = "/opt/node/bin/node", pkg = "/usr/lib/node_modules/openclaw";
  EXPECT_EQ(m.at_exec(0, CF_ORIGIN_ROOT, "node", {"node", "/usr/bin/openclaw", "gateway", "--port", "18789"}), gw);
  EXPECT_EQ(m.at_exec(gw, gw, "node", {node, pkg + "/dist/process/spawn-broker/worker.js"}), helper);
  EXPECT_EQ(m.at_exec(gw, gw, "node",
                      {node, pkg + "/dist/infra/sqlite-readonly-location.worker.js", "--openclaw-sqlite-readonly-child",
                       "sync", "/home/u/.openclaw/state/openclaw.sqlite", "/home/u/.cache/x"}),
            helper);
  EXPECT_EQ(m.at_exec(gw, gw, "node", {node, pkg + "/dist/state/openclaw-database-verify.worker.js",
                                       "--openclaw-database-verify-child"}),
            helper);
  // the install scripts the gateway runs at its first start after an install with --ignore-scripts
  EXPECT_EQ(m.at_exec(gw, gw, "node", {node, pkg + "/scripts/postinstall-bundled-plugins.mjs"}), helper);
  EXPECT_EQ(m.at_exec(helper, helper, "node", {node, pkg + "/scripts/lib/fs-safe-prebuild.mjs", "--probe", pkg}), hk);
  // the broker's housekeeping
  EXPECT_EQ(m.at_exec(helper, helper, "git",
                      {"git", "-c", "maintenance.autoDetach=false", "-c", "gc.autoDetach=false", "-C", pkg, "rev-parse",
                       "--show-toplevel"}),
            hk);
  const uint8_t npm = m.at_exec(helper, helper, "env", {"/usr/bin/env", "node", "/usr/bin/npm", "root", "-g"});
  EXPECT_EQ(npm, hk);
  EXPECT_EQ(m.at_exec(npm, helper, "node", {"node", "/usr/bin/npm", "root", "-g"}), hk);  // env execs node
  // OpenClaw's shells: the login environment (bash execs env in place) and the shell snapshot
  const uint8_t login = m.at_exec(gw, gw, "bash", {"/bin/bash", "-l", "-c", "printf '\\0'; env -0"});
  EXPECT_EQ(login, shell);
  EXPECT_EQ(m.at_exec(login, gw, "env", {"env", "-0"}), shell);
  const uint8_t snap = m.at_exec(helper, helper, "bash",
                                 {"/bin/bash", "-i", "-c", "{\n:\nprintf '\\n%s\\n' '__OPENCLAW_SHELL_SNAPSHOT_CAPTURE__'\nalias"});
  EXPECT_EQ(snap, shell);
  EXPECT_EQ(m.at_exec(snap, snap, "node", {"node", "-e", "const safe = new Set(['HOME'])"}), shell);
  // the exec tool's commands: the OOM wrapper, the shell it execs, what they run
  const uint8_t sh = m.at_exec(helper, helper, "dash",
                               {"/bin/sh", "-c", "echo 1000 > /proc/self/oom_score_adj 2>/dev/null; exec \"$0\" \"$@\"",
                                "/bin/bash", "--noprofile", "--norc", "-c", "eval 'git --version'"});
  EXPECT_EQ(sh, tool);
  EXPECT_EQ(m.at_exec(sh, helper, "bash", {"/bin/bash", "--noprofile", "--norc", "-c", "git --version"}), tool);
  EXPECT_EQ(m.at_exec(tool, tool, "git", {"git", "--version"}), tool);
  // `openclaw agent --local`: the CLI started again with a Node flag is the gateway; the exec
  // tool goes through a relay (a helper) and its process-group anchor (housekeeping)
  const uint8_t local = m.at_exec(gw, gw, "node", {node, "--disable-warning=ExperimentalWarning",
                                                   "/usr/bin/openclaw", "agent", "--local", "-m", "hi"});
  EXPECT_EQ(local, gw);
  EXPECT_EQ(m.at_exec(local, local, "git", {"git", "--version"}), hk);
  const uint8_t relay = m.at_exec(gw, gw, "node", {node, pkg + "/dist/process/supervisor/service-child-relay.js"});
  EXPECT_EQ(relay, helper);
  const uint8_t anchor =
      m.at_exec(relay, relay, "node", {node, pkg + "/dist/process/supervisor/service-child-group-anchor.js"});
  EXPECT_EQ(anchor, hk);
  EXPECT_EQ(m.at_exec(anchor, anchor, "dash", {"/bin/sh", "-c", "echo 1000 > /proc/self/oom_score_adj"}), tool);
  EXPECT_EQ(m.at_exec(helper, helper, "node", {node, "--disable-warning=ExperimentalWarning", "/usr/bin/openclaw"}),
            tool);  // the gateway's command line is the gateway's only when the gateway starts it
  // the snapshot check sources a file a tool could have written: judged a tool
  EXPECT_EQ(m.at_exec(helper, helper, "bash",
                      {"/bin/bash", "--noprofile", "--norc", "-c", ". '/home/u/.openclaw/cache/shell-snapshots/a.sh' >/dev/null 2>&1"}),
            tool);
  // npm other than `npm root -g` (a skill's install) is a tool
  EXPECT_EQ(m.at_exec(helper, helper, "env", {"/usr/bin/env", "node", "/usr/bin/npm", "install", "-g", "x"}), tool);
}

// What an attacker who can write the user's files gets: a ~/.bashrc planted by a tool runs in
// OpenClaw's snapshot shell, a planted ~/bin/env in its login shell, a git hook or fsmonitor in a
// housekeeping git. None of them reaches a role that is not final, and none the gateway's.
TEST(RoleModel, ShippedRolesGiveNothingToWhatTheUsersFilesRun) {
  auto res = policy::load_rules(testing::shipped_rules());
  ASSERT_TRUE(res.ok());
  RoleModel m(res.rules.roles);
  const uint8_t gw = m.index("gateway"), helper = m.index("helper"), hk = m.index("housekeeping"),
                shell = m.index("shell"), tool = m.index("tool");
  const std::string fake_broker = "/tmp/x/openclaw/dist/process/spawn-broker/worker.js";
  // the broker's command line started by anyone but the gateway is no helper
  EXPECT_EQ(m.at_exec(shell, shell, "node", {"node", fake_broker}), shell);
  EXPECT_EQ(m.at_exec(0, helper, "node", {"node", fake_broker}), tool);
  EXPECT_EQ(m.at_exec(0, hk, "node", {"node", fake_broker}), tool);
  EXPECT_EQ(m.at_exec(tool, tool, "node", {"node", fake_broker}), tool);
  // housekeeping's command lines started by anyone but the gateway or a helper are none
  EXPECT_EQ(m.at_exec(0, hk, "git", {"git", "--version"}), tool);
  EXPECT_EQ(m.at_exec(tool, tool, "git", {"git", "--version"}), tool);
  EXPECT_EQ(m.at_exec(shell, shell, "git", {"git", "--version"}), shell);
  // what a housekeeping command starts (a hook) is a tool; a planted env in the login shell a shell
  EXPECT_EQ(m.at_exec(0, hk, "sh", {"/bin/sh", ".git/hooks/post-checkout"}), tool);
  EXPECT_EQ(m.at_exec(shell, gw, "env", {"env", "-0"}), shell);
  // a shell pattern started by a tool stays a tool; the gateway's command line is no root
  EXPECT_EQ(m.at_exec(tool, tool, "bash", {"/bin/bash", "-l", "-c", "printf '\\0'; env -0"}), tool);
  EXPECT_EQ(m.at_exec(0, helper, "node", {"node", "/usr/bin/openclaw", "gateway"}), tool);
  for (uint8_t r : {tool, shell}) EXPECT_TRUE(m.is_final(r));
  for (uint8_t r : {gw, helper, hk}) EXPECT_FALSE(m.is_final(r));
}

// A reload that adds or reorders roles renumbers them: tracked processes keep theirs by name.
TEST(RoleModel, RenumberingKeepsEachRoleByName) {
  auto model = [](std::vector<std::string> names) {
    std::vector<Role> roles;
    for (auto& n : names) {
      Role r;
      r.name = n;
      r.root = n == "gateway";
      if (!r.root) r.started_by = {"gateway"};
      roles.push_back(r);
    }
    return RoleModel(roles);
  };
  const RoleModel a = model({"gateway", "helper", "tool"});
  EXPECT_TRUE(a.renumbering(model({"gateway", "helper", "tool"})).empty());
  const RoleModel b = model({"gateway", "mcp", "helper", "tool"});
  const std::vector<uint8_t> map = a.renumbering(b);
  ASSERT_EQ(map.size(), 4u);
  for (uint8_t i = 1; i < 4; ++i) EXPECT_EQ(b.name(map[i]), a.name(i));
  EXPECT_EQ(a.renumbering(model({"gateway", "tool"}))[2], 0);  // helper is gone
}

}  // namespace
}  // namespace clawfence::process
