// Rule files: parsing, error positions, directory loading, the shipped rules.
#include "policy/rules.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "clawfence/abi.h"
#include "shipped_rules.h"
#include "temp_dir.h"

namespace clawfence::policy {
namespace {

using clawfence::testing::shipped_rules;
using clawfence::testing::TempDir;

constexpr const char* kValid = R"(version: 1
mode: enforce
targets:
  - name: openclaw
    match:
      - comm: [openclaw, openclaw-gatewa]
      - argv_contains: node_modules/openclaw/
      - cgroup: "*/openclaw-gateway*.service"
  - name: helper
    match:
      - comm: helper
      - argv_contains: [--one, --two]
egress:
  allow:
    - id: example
      host: api.example.com
)";

// Parses text that must give exactly one error, and returns it.
RuleError the_error(const std::string& text) {
  LoadResult r = parse_rules(text, "test.yaml");
  EXPECT_EQ(r.errors.size(), 1u) << text;
  if (r.errors.size() != 1)
    for (const auto& e : r.errors) ADD_FAILURE() << "  " << e.to_string();
  return r.errors.empty() ? RuleError{} : r.errors.front();
}

void expect_at(const RuleError& e, int line, int column, const std::string& fragment) {
  EXPECT_EQ(e.file, "test.yaml");
  EXPECT_EQ(e.line, line) << e.to_string();
  EXPECT_EQ(e.column, column) << e.to_string();
  EXPECT_NE(e.message.find(fragment), std::string::npos) << e.to_string();
}

TEST(ParseRules, ValidFile) {
  LoadResult r = parse_rules(kValid, "valid.yaml");
  for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.rules.version, 1);
  EXPECT_EQ(r.rules.mode, Mode::kEnforce);
  ASSERT_EQ(r.rules.targets.size(), 2u);
  const process::Target& t = r.rules.targets[0];
  EXPECT_EQ(t.name, "openclaw");
  EXPECT_EQ(t.comms, (std::vector<std::string>{"openclaw", "openclaw-gatewa"}));
  EXPECT_EQ(t.argv_contains, (std::vector<std::string>{"node_modules/openclaw/"}));
  EXPECT_EQ(t.cgroups, (std::vector<std::string>{"*/openclaw-gateway*.service"}));
  const process::Target& h = r.rules.targets[1];
  EXPECT_EQ(h.name, "helper");
  EXPECT_EQ(h.comms, (std::vector<std::string>{"helper"}));
  EXPECT_EQ(h.argv_contains, (std::vector<std::string>{"--one", "--two"}));
  EXPECT_TRUE(h.cgroups.empty());
  EXPECT_EQ(r.rules.files, (std::vector<std::string>{"valid.yaml"}));
}

TEST(ParseRules, ModeDefaultsToMonitor) {
  LoadResult r = parse_rules("version: 1\ntargets:\n  - name: a\n    match:\n      - comm: a\n", "m.yaml");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.rules.mode, Mode::kMonitor);
  EXPECT_EQ(parse_rules("mode: monitor\n", "m.yaml").rules.mode, Mode::kMonitor);
}

TEST(ParseRules, UnknownTopLevelKey) {
  expect_at(the_error("version: 1\nmode: monitor\nbogus: 3\n"), 3, 1, "unknown top-level key 'bogus'");
}

TEST(ParseRules, UnknownKeyInTarget) {
  expect_at(the_error("targets:\n  - name: a\n    colour: red\n    match:\n      - comm: a\n"), 3, 5,
            "unknown key 'colour'");
}

TEST(ParseRules, UnknownMatchCondition) {
  expect_at(the_error("targets:\n  - name: a\n    match:\n      - comm: a\n      - pid: 5\n"), 5, 9,
            "unknown condition 'pid'");
}

// Pods are targeted through the cgroup paths the kubelet gives them: both drivers' forms of
// the UID, and the container's cgroup name for a container ID.
TEST(ParseRules, PodAndContainerTargetsBecomeCgroupGlobs) {
  LoadResult r = parse_rules("targets:\n  - name: p\n    match:\n"
                             "      - pod_uid: [3F1D0C2A-8b7e-4c11-9a5d-0e2f6b7c8d9e]\n"
                             "      - container_id: [5B3C1E9A7D2F]\n",
                             "test.yaml");
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].to_string());
  ASSERT_EQ(r.rules.targets.size(), 1u);
  const auto& g = r.rules.targets[0].cgroups;
  ASSERT_EQ(g.size(), 4u);
  EXPECT_EQ(g[0], "*pod3f1d0c2a-8b7e-4c11-9a5d-0e2f6b7c8d9e*");
  EXPECT_EQ(g[1], "*pod3f1d0c2a_8b7e_4c11_9a5d_0e2f6b7c8d9e.slice*");
  EXPECT_EQ(g[2], "*/5b3c1e9a7d2f*");
  EXPECT_EQ(g[3], "*-5b3c1e9a7d2f*");
  EXPECT_TRUE(process::cgroup_glob_matches(
      g[1], "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3f1d0c2a_8b7e_4c11_9a5d_0e2f6b7c8d9e.slice/"
            "cri-containerd-5b3c1e9a7d2f4b6c8e0a1c3e5f7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b.scope"));
  EXPECT_TRUE(process::cgroup_glob_matches(g[0], "/kubepods/besteffort/pod3f1d0c2a-8b7e-4c11-9a5d-0e2f6b7c8d9e/abc"));
}

TEST(ParseRules, PodSelectors) {
  LoadResult r = parse_rules("targets:\n  - name: p\n    match:\n"
                             "      - pod: {namespace: [agents], name: [\"openclaw-*\"], labels: {app: openclaw}, image: [\"*openclaw*\"]}\n",
                             "test.yaml");
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].to_string());
  ASSERT_EQ(r.rules.targets[0].pods.size(), 1u);
  const auto& sel = r.rules.targets[0].pods[0];
  EXPECT_EQ(sel.namespaces, std::vector<std::string>{"agents"});
  EXPECT_EQ(sel.names, std::vector<std::string>{"openclaw-*"});
  EXPECT_EQ(sel.labels.at("app"), "openclaw");
  EXPECT_EQ(sel.images, std::vector<std::string>{"*openclaw*"});
  expect_at(the_error("targets:\n  - name: p\n    match:\n      - pod: {node: x, namespace: [a]}\n"), 4, 15,
            "unknown key 'node'");
  expect_at(the_error("targets:\n  - name: p\n    match:\n      - pod: {}\n      - comm: x\n"), 4, 14,
            "give at least one of");
}

TEST(ParseRules, BadPodUidAndContainerId) {
  expect_at(the_error("targets:\n  - name: p\n    match:\n      - pod_uid: [not-a-uid]\n      - comm: x\n"), 4, 18,
            "pod_uid 'not-a-uid' is not a pod UID");
  expect_at(the_error("targets:\n  - name: p\n    match:\n      - container_id: [abc]\n      - comm: x\n"), 4, 23,
            "container_id 'abc' is not a container ID");
}

TEST(ParseRules, BadMode) {
  expect_at(the_error("version: 1\nmode: sometimes\n"), 2, 7, "mode");
  expect_at(the_error("mode: [enforce]\n"), 1, 7, "mode");
}

TEST(ParseRules, UnknownVersion) {
  expect_at(the_error("version: 2\n"), 1, 10, "version");
}

// Disabled: agent bug. rules.cpp:262 reads `scalar(n["name"])`; for a target without `name`
// yaml-cpp's const operator[] returns an invalid node whose IsScalar() throws InvalidNode. The
// exception ends the whole file's parsing and is reported without a position:
// "test.yaml: invalid node; first invalid key: \"name\"" (line 0) instead of
// "test.yaml:2:5: targets: a target needs a name".
TEST(ParseRules, TargetWithoutName) {
  expect_at(the_error("targets:\n  - match:\n      - comm: a\n"), 2, 5, "needs a name");
}

TEST(ParseRules, DuplicateTargetName) {
  expect_at(the_error("targets:\n"
                      "  - name: a\n    match:\n      - comm: a\n"
                      "  - name: a\n    match:\n      - comm: b\n"),
            5, 5, "duplicate target name 'a'");
}

TEST(ParseRules, TargetWithEmptyMatch) {
  expect_at(the_error("targets:\n  - name: a\n    match: []\n"), 2, 5, "matches nothing");
  expect_at(the_error("targets:\n  - name: b\n"), 2, 5, "matches nothing");
}

TEST(ParseRules, CommLongerThanFifteenCharacters) {
  RuleError e = the_error("targets:\n  - name: a\n    match:\n      - comm: openclaw-gateway\n");
  expect_at(e, 4, 15, "longer than 15 characters");
  EXPECT_NE(e.message.find("'openclaw-gatewa'"), std::string::npos) << e.message;
}

TEST(ParseRules, ArgvNeedleLongerThanTheKernelLimit) {
  const std::string needle(CF_NEEDLE_LEN + 1, 'n');
  expect_at(the_error("targets:\n  - name: a\n    match:\n      - argv_contains: " + needle + "\n"), 4, 24,
            "longer than");
}

TEST(ParseRules, TargetsMustBeAList) {
  expect_at(the_error("targets:\n  name: a\n"), 2, 3, "expected a list");
}

TEST(ParseRules, YamlSyntaxError) {
  LoadResult r = parse_rules("version: 1\nmode: monitor\ntargets: [a, b\n", "syntax.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.errors[0].file, "syntax.yaml");
  EXPECT_GE(r.errors[0].line, 3);
  EXPECT_GE(r.errors[0].column, 1);
  EXPECT_FALSE(r.errors[0].message.empty());
}

TEST(ParseRules, EmptyTextIsAnError) {
  LoadResult r = parse_rules("", "empty.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 0);
  EXPECT_EQ(r.errors[0].to_string(), "empty.yaml: empty rule file");
}

TEST(ParseRules, NotAMap) {
  EXPECT_FALSE(parse_rules("- a\n- b\n", "list.yaml").ok());
}

TEST(ParseRules, SeveralErrorsAreAllReported) {
  LoadResult r = parse_rules("version: 2\nmode: x\nfoo: 1\n", "many.yaml");
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_EQ(r.errors[0].line, 1);
  EXPECT_EQ(r.errors[1].line, 2);
  EXPECT_EQ(r.errors[2].line, 3);
}

TEST(RuleErrorTest, ToString) {
  EXPECT_EQ((RuleError{"a.yaml", 3, 7, "bad"}).to_string(), "a.yaml:3:7: bad");
  EXPECT_EQ((RuleError{"dir", 0, 0, "no files"}).to_string(), "dir: no files");
}

TEST(LoadRules, DirectoryMergesYamlFilesInNameOrder) {
  TempDir dir;
  dir.write("20-second.yml", "targets:\n  - name: second\n    match:\n      - comm: b\n");
  dir.write("10-first.yaml", "version: 1\nmode: enforce\ntargets:\n  - name: first\n    match:\n      - comm: a\n");
  dir.write("README.md", "not rules: [");
  dir.write("30-third.yaml.bak", "also: ignored");
  LoadResult r = load_rules(dir.path());
  for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
  ASSERT_EQ(r.rules.targets.size(), 2u);
  EXPECT_EQ(r.rules.targets[0].name, "first");
  EXPECT_EQ(r.rules.targets[1].name, "second");
  EXPECT_EQ(r.rules.files, (std::vector<std::string>{dir / "10-first.yaml", dir / "20-second.yml"}));
}

TEST(LoadRules, ErrorsNameTheirFile) {
  TempDir dir;
  dir.write("a.yaml", "mode: monitor\n");
  dir.write("b.yaml", "mode: monitor\nnope: 1\n");
  LoadResult r = load_rules(dir.path());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, dir / "b.yaml");
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_EQ(r.errors[0].to_string().rfind(dir / "b.yaml:2:1: ", 0), 0u) << r.errors[0].to_string();
}

TEST(LoadRules, EmptyDirectoryIsAnError) {
  TempDir dir;
  LoadResult r = load_rules(dir.path());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, dir.path());
  EXPECT_TRUE(r.rules.targets.empty());
}

TEST(LoadRules, MissingFileIsAnError) {
  TempDir dir;
  LoadResult r = load_rules(dir / "missing.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, dir / "missing.yaml");
}

TEST(LoadRules, SingleFile) {
  TempDir dir;
  const std::string path = dir.write("one.yaml", kValid);
  LoadResult r = load_rules(path);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.rules.targets.size(), 2u);
  EXPECT_EQ(r.rules.mode, Mode::kEnforce);
  EXPECT_EQ(r.rules.files, (std::vector<std::string>{path}));
}

// The last file that says `mode:` wins; a later file that only adds targets keeps it.
TEST(LoadRules, LaterFileWithoutModeKeepsEnforce) {
  TempDir dir;
  dir.write("00-base.yaml", "version: 1\nmode: enforce\n");
  dir.write("10-extra.yaml", "targets:\n  - name: a\n    match:\n      - comm: a\n");
  LoadResult r = load_rules(dir.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.rules.mode, Mode::kEnforce);
}

// Target names are unique across the files of a directory, as within one file.
TEST(LoadRules, DuplicateTargetAcrossFilesIsAnError) {
  TempDir dir;
  dir.write("a.yaml", "targets:\n  - name: a\n    match:\n      - comm: a\n");
  dir.write("b.yaml", "targets:\n  - name: a\n    match:\n      - comm: b\n");
  LoadResult r = load_rules(dir.path());
  EXPECT_FALSE(r.ok());
}

// The rules shipped in the repository load cleanly (see shipped_rules.h for how they are found).
TEST(ShippedRules, OpenClawLoadsWithoutErrors) {
  const std::string path = shipped_rules();
  ASSERT_FALSE(path.empty()) << "rules/openclaw.yaml not found; set CLAWFENCE_SRC to the repository root";
  LoadResult r = load_rules(path);
  for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.rules.mode, Mode::kMonitor);
  ASSERT_EQ(r.rules.targets.size(), 1u);
  const process::Target& t = r.rules.targets[0];
  EXPECT_EQ(t.name, "openclaw");
  EXPECT_EQ(t.comms, (std::vector<std::string>{"openclaw", "openclaw-gatewa"}));
  EXPECT_EQ(t.argv_contains, (std::vector<std::string>{"node_modules/openclaw/"}));
  EXPECT_EQ(t.cgroups, (std::vector<std::string>{"*/openclaw-gateway*.service"}));
}

// Every rule id of a model, in file order within each section.
std::vector<std::string> all_rule_ids(const RuleSet& r) {
  std::vector<std::string> ids;
  if (r.egress.default_deny) ids.push_back(r.egress.unapproved.id);
  for (const auto& x : r.egress.allow) ids.push_back(x.meta.id);
  for (const auto& x : r.egress.deny) ids.push_back(x.meta.id);
  for (const auto& x : r.file_deny) ids.push_back(x.meta.id);
  for (const auto& x : r.file_scope) ids.push_back(x.meta.id);
  for (const auto& x : r.exec) ids.push_back(x.meta.id);
  for (const auto& x : r.volume) ids.push_back(x.meta.id);
  return ids;
}

TEST(ShippedRules, OpenClawModel) {
  const std::string path = shipped_rules();
  ASSERT_FALSE(path.empty()) << "rules/openclaw.yaml not found; set CLAWFENCE_SRC to the repository root";
  LoadResult r = load_rules(path);
  for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
  ASSERT_TRUE(r.ok());
  const RuleSet& m = r.rules;
  EXPECT_EQ(m.version, 1);
  EXPECT_EQ(m.mode, Mode::kMonitor);
  EXPECT_TRUE(m.mode_set);
  EXPECT_EQ(all_rule_ids(m), (std::vector<std::string>{
                                 "egress-unapproved", "llm-providers", "chat-platforms", "openclaw-updates",
                                 "openclaw-services", "gateway-port", "dns", "cloud-metadata", "ssh-keys",
                                 "cloud-credentials", "token-files", "npm-token", "private-keys", "dotenv",
                                 "openclaw-credentials", "persistence", "host-daemons", "openclaw-code", "cgroup-escape",
                                 "shadow",
                                 "proc-environ",
                                 "tool-out-of-scope", "tool-write-out-of-scope", "exfil-tools",
                                 "dropper-patterns", "exfil-volume"}));
  EXPECT_EQ(m.rule_count(), 39u);
  ASSERT_EQ(m.env.size(), 4u);
  EXPECT_EQ(m.env[0].what, "read");
  EXPECT_EQ(m.env[0].roles, (std::vector<std::string>{"tool", "shell"}));
  ASSERT_EQ(m.evasion.size(), 8u);
  EXPECT_EQ(m.evasion[0].what, "io_uring");
  EXPECT_EQ(m.evasion[1].what, "raw_socket");
  EXPECT_EQ(m.evasion[2].what, "compat_syscall");
  EXPECT_EQ(m.evasion[6].what, "process_access");

  // the gateway is the root; OpenClaw's helpers, housekeeping and shells are given by what they
  // run and who started them; shells and tools are final
  ASSERT_EQ(m.roles.size(), 5u);
  EXPECT_EQ(m.roles[0].name, "gateway");
  EXPECT_TRUE(m.roles[0].root);
  EXPECT_EQ(m.roles[0].started_by, (std::vector<std::string>{"gateway"}));  // agent --local's second CLI
  EXPECT_EQ(m.roles[0].exec.size(), 2u);
  EXPECT_EQ(m.roles[1].name, "helper");
  EXPECT_EQ(m.roles[1].started_by, (std::vector<std::string>{"gateway"}));
  EXPECT_FALSE(m.roles[1].exec.empty());
  EXPECT_FALSE(m.roles[1].final);
  EXPECT_EQ(m.roles[2].name, "housekeeping");
  EXPECT_EQ(m.roles[2].started_by, (std::vector<std::string>{"gateway", "helper"}));
  EXPECT_FALSE(m.roles[2].final);
  EXPECT_EQ(m.roles[3].name, "shell");
  EXPECT_EQ(m.roles[3].started_by, (std::vector<std::string>{"gateway", "helper"}));
  EXPECT_EQ(m.roles[3].exec.size(), 2u);
  EXPECT_TRUE(m.roles[3].final);
  EXPECT_EQ(m.roles[4].name, "tool");
  EXPECT_EQ(m.roles[4].started_by, (std::vector<std::string>{"gateway", "helper", "housekeeping"}));
  EXPECT_TRUE(m.roles[4].exec.empty());
  EXPECT_TRUE(m.roles[4].final);

  EXPECT_TRUE(m.egress.default_deny);
  EXPECT_EQ(m.egress.unapproved.severity, Severity::kError);
  EXPECT_EQ(m.egress.unapproved.action, Action::kBlock);
  ASSERT_EQ(m.egress.allow.size(), 6u);
  EXPECT_EQ(m.egress.allow[1].roles, (std::vector<std::string>{"gateway"}));  // chat-platforms
  EXPECT_EQ(m.egress.allow[3].roles, (std::vector<std::string>{"gateway"}));  // openclaw-services
  EXPECT_EQ(m.egress.allow[4].cidrs, (std::vector<std::string>{"127.0.0.0/8", "::1"}));
  EXPECT_EQ(m.egress.allow[5].ports, (std::vector<std::string>{"53"}));
  ASSERT_EQ(m.egress.deny.size(), 1u);
  EXPECT_EQ(m.egress.deny[0].meta.severity, Severity::kCritical);
  EXPECT_EQ(m.egress.deny[0].cidrs, (std::vector<std::string>{"169.254.169.254", "fd00:ec2::254"}));

  ASSERT_FALSE(m.file_deny.empty());
  EXPECT_EQ(m.file_deny[0].paths, (std::vector<std::string>{"~/.ssh/**"}));
  EXPECT_EQ(m.file_deny[0].meta.severity, Severity::kCritical);
  EXPECT_EQ(m.file_deny[0].meta.action, Action::kKill);
  EXPECT_TRUE(m.file_deny[0].secret);
  ASSERT_EQ(m.file_scope.size(), 2u);
  EXPECT_EQ(m.file_scope[0].roles, (std::vector<std::string>{"tool", "shell"}));
  EXPECT_EQ(m.file_scope[0].access, kAccessRead);
  EXPECT_EQ(m.file_scope[1].access, kAccessWrite | kAccessCreate);
  EXPECT_EQ(m.file_scope[0].meta.severity, Severity::kWarning);
  EXPECT_EQ(m.file_scope[0].meta.action, Action::kAlert);

  ASSERT_EQ(m.volume.size(), 1u);
  EXPECT_EQ(m.volume[0].window_ns, 60'000'000'000ull);
  EXPECT_EQ(m.volume[0].max_bytes, 10ull << 20);
  EXPECT_EQ(m.secret_names.size(), 12u);
  EXPECT_EQ(m.alerts.fold_window_ns, 60'000'000'000ull);
  EXPECT_EQ(m.alerts.correlation_window_ns, 120'000'000'000ull);
}

// ---- every section, parsed into the model ------------------------------------------------------

constexpr const char* kAllSections = R"(version: 1
mode: enforce
targets:
  - name: oc
    match:
      - comm: openclaw
roles:
  gateway: { root: true }
  helper:
    started_by: [gateway, helper]
    exec:
      - { exe: node, argv: ["*", "*/worker.js", "**"] }
      - { argv: [git, --version] }
  tool: { started_by: [gateway, helper], final: true }
egress:
  default: deny
  unapproved:
    id: egress-x
    severity: critical
    action: kill
    description: unapproved egress
  allow:
    - id: llm
      host: [api.openai.com, "*.anthropic.com"]
      ports: [443, "8000-8080"]
      roles: [gateway]
      description: providers
    - id: lo
      cidr: 127.0.0.0/8
  deny:
    - id: meta
      cidr: [169.254.169.254, "fd00:ec2::254"]
      action: block
files:
  deny:
    - id: keys
      path: ["~/.ssh/**", "**/*.pem"]
      severity: critical
      action: kill
      description: keys
    - id: env
      path: "**/.env"
      roles: [tool]
      secret: false
  scope:
    - id: scope
      roles: [tool, helper]
      allow: [/tmp/**, "~/work/**"]
exec:
  - id: net-tools
    binary: [curl, /opt/*/bin/nc]
    roles: tool
  - id: dropper
    argv_contains: ["| sh", base64 -d]
    severity: info
env:
  secret_names: ["*_TOKEN", AWS_SECRET_ACCESS_KEY]
volume:
  - id: vol
    roles: [tool]
    window: 5m
    max_bytes: 10MiB
    except_hosts: [api.openai.com]
alerts:
  fold_window: 30s
  correlation_window: 2m
)";

using Strings = std::vector<std::string>;

TEST(ParseSections, EverySectionParsesToTheModel) {
  LoadResult r = parse_rules(kAllSections, "all.yaml");
  for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
  ASSERT_TRUE(r.ok());
  const RuleSet& m = r.rules;
  EXPECT_EQ(m.version, 1);
  EXPECT_EQ(m.mode, Mode::kEnforce);
  EXPECT_TRUE(m.mode_set);
  ASSERT_EQ(m.targets.size(), 1u);
  EXPECT_EQ(m.targets[0].comms, Strings{"openclaw"});

  // roles, in file order
  ASSERT_EQ(m.roles.size(), 3u);
  EXPECT_EQ(m.roles[0].name, "gateway");
  EXPECT_TRUE(m.roles[0].root);
  EXPECT_TRUE(m.roles[0].started_by.empty());
  EXPECT_EQ(m.roles[1].name, "helper");
  EXPECT_FALSE(m.roles[1].root);
  EXPECT_EQ(m.roles[1].started_by, (Strings{"gateway", "helper"}));
  ASSERT_EQ(m.roles[1].exec.size(), 2u);
  EXPECT_EQ(m.roles[1].exec[0].exe, "node");
  EXPECT_EQ(m.roles[1].exec[0].argv, (Strings{"*", "*/worker.js", "**"}));
  EXPECT_EQ(m.roles[1].exec[1].exe, "");
  EXPECT_EQ(m.roles[1].exec[1].argv, (Strings{"git", "--version"}));
  EXPECT_FALSE(m.roles[1].final);
  EXPECT_EQ(m.roles[2].name, "tool");
  EXPECT_TRUE(m.roles[2].final);
  EXPECT_TRUE(m.roles[2].exec.empty());

  // egress
  const EgressPolicy& e = m.egress;
  EXPECT_TRUE(e.default_deny);
  EXPECT_EQ(e.unapproved.id, "egress-x");
  EXPECT_EQ(e.unapproved.severity, Severity::kCritical);
  EXPECT_EQ(e.unapproved.action, Action::kKill);
  EXPECT_EQ(e.unapproved.description, "unapproved egress");
  EXPECT_EQ(e.unapproved.line, 18);
  ASSERT_EQ(e.allow.size(), 2u);
  EXPECT_EQ(e.allow[0].meta.id, "llm");
  EXPECT_EQ(e.allow[0].meta.severity, Severity::kInfo);  // allow rules default to info
  EXPECT_EQ(e.allow[0].meta.action, Action::kAlert);
  EXPECT_EQ(e.allow[0].meta.description, "providers");
  EXPECT_EQ(e.allow[0].meta.file, "all.yaml");
  EXPECT_EQ(e.allow[0].meta.line, 23);
  EXPECT_EQ(e.allow[0].hosts, (Strings{"api.openai.com", "*.anthropic.com"}));
  EXPECT_EQ(e.allow[0].ports, (Strings{"443", "8000-8080"}));
  EXPECT_EQ(e.allow[0].roles, Strings{"gateway"});
  EXPECT_TRUE(e.allow[0].cidrs.empty());
  EXPECT_EQ(e.allow[1].meta.id, "lo");
  EXPECT_EQ(e.allow[1].cidrs, Strings{"127.0.0.0/8"});
  EXPECT_TRUE(e.allow[1].ports.empty());
  EXPECT_TRUE(e.allow[1].roles.empty());
  ASSERT_EQ(e.deny.size(), 1u);
  EXPECT_EQ(e.deny[0].meta.id, "meta");
  EXPECT_EQ(e.deny[0].meta.severity, Severity::kError);  // deny rules default to error
  EXPECT_EQ(e.deny[0].meta.action, Action::kBlock);
  EXPECT_EQ(e.deny[0].cidrs, (Strings{"169.254.169.254", "fd00:ec2::254"}));

  // files
  ASSERT_EQ(m.file_deny.size(), 2u);
  EXPECT_EQ(m.file_deny[0].meta.id, "keys");
  EXPECT_EQ(m.file_deny[0].paths, (Strings{"~/.ssh/**", "**/*.pem"}));
  EXPECT_EQ(m.file_deny[0].meta.severity, Severity::kCritical);
  EXPECT_EQ(m.file_deny[0].meta.action, Action::kKill);
  EXPECT_EQ(m.file_deny[0].meta.description, "keys");
  EXPECT_TRUE(m.file_deny[0].roles.empty());
  EXPECT_TRUE(m.file_deny[0].secret);  // secret by default
  EXPECT_EQ(m.file_deny[1].meta.id, "env");
  EXPECT_EQ(m.file_deny[1].paths, Strings{"**/.env"});
  EXPECT_EQ(m.file_deny[1].meta.severity, Severity::kError);  // files.deny defaults to error
  EXPECT_EQ(m.file_deny[1].meta.action, Action::kAlert);
  EXPECT_EQ(m.file_deny[1].roles, Strings{"tool"});
  EXPECT_FALSE(m.file_deny[1].secret);
  ASSERT_EQ(m.file_scope.size(), 1u);
  EXPECT_EQ(m.file_scope[0].meta.id, "scope");
  EXPECT_EQ(m.file_scope[0].meta.severity, Severity::kWarning);  // scope defaults to warning
  EXPECT_EQ(m.file_scope[0].roles, (Strings{"tool", "helper"}));
  EXPECT_EQ(m.file_scope[0].allow, (Strings{"/tmp/**", "~/work/**"}));

  // exec
  ASSERT_EQ(m.exec.size(), 2u);
  EXPECT_EQ(m.exec[0].meta.id, "net-tools");
  EXPECT_EQ(m.exec[0].meta.severity, Severity::kWarning);  // exec defaults to warning
  EXPECT_EQ(m.exec[0].binaries, (Strings{"curl", "/opt/*/bin/nc"}));
  EXPECT_EQ(m.exec[0].roles, Strings{"tool"});  // a single string is a list of one
  EXPECT_TRUE(m.exec[0].argv_contains.empty());
  EXPECT_EQ(m.exec[1].meta.id, "dropper");
  EXPECT_EQ(m.exec[1].meta.severity, Severity::kInfo);
  EXPECT_EQ(m.exec[1].argv_contains, (Strings{"| sh", "base64 -d"}));
  EXPECT_TRUE(m.exec[1].binaries.empty());
  EXPECT_TRUE(m.exec[1].roles.empty());

  // env
  EXPECT_EQ(m.secret_names, (Strings{"*_TOKEN", "AWS_SECRET_ACCESS_KEY"}));

  // volume
  ASSERT_EQ(m.volume.size(), 1u);
  EXPECT_EQ(m.volume[0].meta.id, "vol");
  EXPECT_EQ(m.volume[0].meta.severity, Severity::kCritical);  // volume defaults to critical
  EXPECT_EQ(m.volume[0].roles, Strings{"tool"});
  EXPECT_EQ(m.volume[0].window_ns, 300'000'000'000ull);
  EXPECT_EQ(m.volume[0].max_bytes, 10ull * 1024 * 1024);
  EXPECT_EQ(m.volume[0].except_hosts, Strings{"api.openai.com"});

  // alerts
  EXPECT_EQ(m.alerts.fold_window_ns, 30'000'000'000ull);
  EXPECT_EQ(m.alerts.correlation_window_ns, 120'000'000'000ull);

  EXPECT_EQ(m.rule_count(), 10u);  // 2 allow + 1 deny + unapproved + 2 deny + 1 scope + 2 exec + 1 volume
}

TEST(ParseSections, Defaults) {
  LoadResult r = parse_rules("version: 1\n", "d.yaml");
  ASSERT_TRUE(r.ok());
  const RuleSet& m = r.rules;
  EXPECT_EQ(m.mode, Mode::kMonitor);
  EXPECT_FALSE(m.mode_set);
  EXPECT_FALSE(m.egress.default_deny);
  EXPECT_EQ(m.rule_count(), 0u);
  EXPECT_EQ(m.alerts.fold_window_ns, 60'000'000'000ull);
  EXPECT_EQ(m.alerts.correlation_window_ns, 120'000'000'000ull);
}

TEST(ParseSections, DefaultDenyWithoutUnapprovedRuleGetsTheDefaultOne) {
  LoadResult r = parse_rules("egress:\n  default: deny\n", "d.yaml");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.rules.egress.default_deny);
  EXPECT_EQ(r.rules.egress.unapproved.id, "egress-unapproved");
  EXPECT_EQ(r.rules.egress.unapproved.severity, Severity::kError);
  EXPECT_EQ(r.rules.egress.unapproved.action, Action::kAlert);
  EXPECT_EQ(r.rules.rule_count(), 1u);
  EXPECT_FALSE(parse_rules("egress:\n  default: allow\n", "d.yaml").rules.egress.default_deny);
}

TEST(ParseSections, VolumeWindowDefaultsToAMinute) {
  LoadResult r = parse_rules("volume:\n  - id: v\n    max_bytes: 4096\n", "v.yaml");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.rules.volume.size(), 1u);
  EXPECT_EQ(r.rules.volume[0].window_ns, 60'000'000'000ull);
  EXPECT_EQ(r.rules.volume[0].max_bytes, 4096u);
  EXPECT_TRUE(r.rules.volume[0].roles.empty());
}

// ---- every error, with its position ------------------------------------------------------------

struct Expected {
  int line;
  int column;
  std::string message;
};

// `text` gives exactly the errors `want` (file test.yaml), in position order.
void expect_errors(const std::string& text, const std::vector<Expected>& want) {
  LoadResult r = parse_rules(text, "test.yaml");
  std::vector<std::string> got, expected;
  for (const auto& e : r.errors) got.push_back(e.to_string());
  for (const auto& w : want)
    expected.push_back("test.yaml:" + std::to_string(w.line) + ":" + std::to_string(w.column) + ": " + w.message);
  EXPECT_EQ(got, expected) << text;
}

void expect_error(const std::string& text, int line, int column, const std::string& message) {
  expect_errors(text, {{line, column, message}});
}

TEST(RuleErrors, UnknownKeyInsideARule) {
  expect_error("files:\n"
               "  deny:\n"
               "    - id: a\n"
               "      path: /x\n"
               "      colour: red\n",
               5, 7,
               "files.deny: unknown key 'colour' (expected access, action, description, id, path, roles, secret, severity)");
  expect_errors("egress:\n"
                "  allow:\n"
                "    - id: a\n"
                "      hosts: api.example.com\n",
                {{3, 7, "egress.allow: give host or cidr"},
                 {4, 7,
                  "egress.allow: unknown key 'hosts' (expected action, cidr, description, host, id, ports, roles, "
                  "severity)"}});
  expect_error("egress:\n"
               "  default: deny\n"
               "  unapproved:\n"
               "    id: u\n"
               "    ports: [1]\n",
               5, 5, "egress.unapproved: unknown key 'ports' (expected action, description, id, severity)");
  expect_error("files:\n"
               "  scope:\n"
               "    - id: s\n"
               "      roles: [tool]\n"
               "      allow: /tmp/**\n"
               "      deny: /etc/**\n"
               "roles:\n"
               "  tool: { root: true }\n",
               6, 7, "files.scope: unknown key 'deny' (expected access, action, allow, description, id, roles, severity)");
  expect_error("exec:\n"
               "  - id: e\n"
               "    binary: curl\n"
               "    args: x\n",
               4, 5,
               "exec: unknown key 'args' (expected action, argv_contains, binary, description, id, roles, severity)");
  expect_error("volume:\n"
               "  - id: v\n"
               "    max_bytes: 1MiB\n"
               "    limit: 5\n",
               4, 5,
               "volume: unknown key 'limit' (expected action, description, except_hosts, id, max_bytes, roles, "
               "severity, window)");
  expect_error("roles:\n"
               "  gateway: { root: true, exec: [{ exe: node }] }\n",
               2, 3,
               "role 'gateway': with root: true, exec says what else may have the role, and started_by who starts it; "
               "the root has it whatever it runs");
  expect_error("roles:\n"
               "  tool: { root: true, pid: 1 }\n",
               2, 23,
               "role 'tool': unknown key 'pid' (expected argv_contains, comm, descendant_of, exe, exec, final, root, "
               "started_by)");
  expect_error("egress:\n"
               "  allowed: []\n",
               2, 3, "egress: unknown key 'allowed' (expected allow, default, deny, dns_min_ttl, dns_resolvers, unapproved)");
}

TEST(RuleErrors, MissingId) {
  expect_error("exec:\n"
               "  - binary: curl\n",
               2, 5, "exec: a rule needs an id");
  expect_error("files:\n"
               "  deny:\n"
               "    - path: /x\n",
               3, 7, "files.deny: a rule needs an id");
  expect_error("egress:\n"
               "  deny:\n"
               "    - cidr: 10.0.0.0/8\n",
               3, 7, "egress.deny: a rule needs an id");
}

TEST(RuleErrors, BadId) {
  expect_error("exec:\n"
               "  - id: a b\n"
               "    binary: curl\n",
               2, 9, "exec: id must be letters, digits, '-', '_' or '.'");
}

TEST(RuleErrors, DuplicateIdInOneFile) {
  expect_error("exec:\n"
               "  - id: a\n"
               "    binary: curl\n"
               "  - id: a\n"
               "    binary: wget\n",
               4, 9, "exec: duplicate rule id 'a'");
  // Ids are unique across sections, not just within one.
  expect_error("files:\n"
               "  deny:\n"
               "    - id: x\n"
               "      path: /x\n"
               "exec:\n"
               "  - id: x\n"
               "    binary: curl\n",
               6, 9, "exec: duplicate rule id 'x'");
  // The default unapproved rule takes its id too.
  expect_error("exec:\n"
               "  - id: egress-unapproved\n"
               "    binary: curl\n"
               "egress:\n"
               "  default: deny\n",
               5, 3, "egress: duplicate rule id 'egress-unapproved'");
}

TEST(RuleErrors, DuplicateIdAcrossFilesOfADirectory) {
  TempDir dir;
  dir.write("a.yaml", "exec:\n  - id: net\n    binary: curl\n");
  dir.write("b.yaml", "version: 1\nfiles:\n  deny:\n    - id: net\n      path: /x\n");
  LoadResult r = load_rules(dir.path());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, dir / "b.yaml");
  EXPECT_EQ(r.errors[0].to_string(), dir / "b.yaml:4:11: files.deny: duplicate rule id 'net'");
}

TEST(RuleErrors, BadSeverityAndAction) {
  expect_error("exec:\n"
               "  - id: a\n"
               "    binary: curl\n"
               "    severity: urgent\n",
               4, 15, "exec: severity must be info, warning, error or critical");
  expect_error("exec:\n"
               "  - id: a\n"
               "    binary: curl\n"
               "    action: stop\n",
               4, 13, "exec: action must be alert, block or kill");
  expect_error("files:\n"
               "  deny:\n"
               "    - id: a\n"
               "      path: /x\n"
               "      severity: CRITICAL\n",
               5, 17, "files.deny: severity must be info, warning, error or critical");
  expect_error("egress:\n"
               "  default: deny\n"
               "  unapproved:\n"
               "    id: u\n"
               "    action: [block]\n",
               5, 13, "egress.unapproved: action must be alert, block or kill");
}

TEST(RuleErrors, BadCidr) {
  expect_error("egress:\n"
               "  deny:\n"
               "    - id: d\n"
               "      cidr: 10.0.0.1/8\n",
               4, 13, "egress.deny: bad CIDR '10.0.0.1/8': host bits set");
  expect_error("egress:\n"
               "  allow:\n"
               "    - id: a\n"
               "      cidr: [10.0.0.0/8, 300.1.2.3]\n",
               4, 26, "egress.allow: bad CIDR '300.1.2.3': bad address '300.1.2.3'");
  expect_error("egress:\n"
               "  allow:\n"
               "    - id: a\n"
               "      cidr: [\"fd00::/129\"]\n",
               4, 14, "egress.allow: bad CIDR 'fd00::/129': prefix length 129 out of range (0-128)");
}

TEST(RuleErrors, BadHostWildcard) {
  expect_error("egress:\n"
               "  allow:\n"
               "    - id: a\n"
               "      host: [api.example.com, \"api.*.com\"]\n",
               4, 31, "egress.allow: bad host 'api.*.com': '*' is only allowed as a leading '*.' label");
  expect_error("egress:\n"
               "  allow:\n"
               "    - id: a\n"
               "      host: \"*example.com\"\n",
               4, 13, "egress.allow: bad host '*example.com': '*' is only allowed as a leading '*.' label");
  expect_error("volume:\n"
               "  - id: v\n"
               "    max_bytes: 1MiB\n"
               "    except_hosts: [a..b]\n",
               4, 20, "volume: bad host 'a..b': empty label in hostname");
}

TEST(RuleErrors, BadPort) {
  expect_error("egress:\n"
               "  allow:\n"
               "    - id: a\n"
               "      host: api.example.com\n"
               "      ports: [443, 70000]\n",
               5, 20, "egress.allow: bad port '70000': port 70000 out of range (1-65535)");
  expect_error("egress:\n"
               "  allow:\n"
               "    - id: a\n"
               "      host: api.example.com\n"
               "      ports: https\n",
               5, 14, "egress.allow: bad port 'https': bad port 'https'");
  expect_error("egress:\n"
               "  allow:\n"
               "    - id: a\n"
               "      host: api.example.com\n"
               "      ports: [\"9000-8000\"]\n",
               5, 15, "egress.allow: bad port '9000-8000': bad port range '9000-8000': start above end");
}

TEST(RuleErrors, BadGlob) {
  expect_error("files:\n"
               "  deny:\n"
               "    - id: a\n"
               "      path: [/etc/shadow, etc/passwd]\n",
               4, 27, "files.deny: bad glob 'etc/passwd': relative pattern: it must start with '/' or '**/'");
  expect_error("files:\n"
               "  deny:\n"
               "    - id: a\n"
               "      path: /a**b\n",
               4, 13, "files.deny: bad glob '/a**b': '**' must be a whole path component");
  expect_error("files:\n"
               "  scope:\n"
               "    - id: s\n"
               "      roles: [tool]\n"
               "      allow: [/tmp/**, \"~/../x\"]\n"
               "roles:\n"
               "  tool: { root: true }\n",
               5, 24, "files.scope: bad glob '~/../x': '.' and '..' components never match a normalised path");
  expect_error("roles:\n"
               "  helper: { root: true, exec: [{ exe: bin/node }] }\n",
               2, 32,
               "role 'helper': exec: exe 'bin/node': the executed file's name, without a directory (the name the kernel "
               "opened: a symlink's target's)");
  // A binary with a '/' is a glob over the path.
  expect_error("exec:\n"
               "  - id: a\n"
               "    binary: [curl, bin/nc]\n",
               3, 20, "exec: bad glob 'bin/nc': relative pattern: it must start with '/' or '**/'");
}

// Disabled: agent bug. rules.cpp:436 checks an exec rule's binary globs after `roles` (and
// `argv_contains`) were read; both go through strings(), which clears the item positions kept in
// marks_, so mark_of() falls back to the position of the whole `binary` list. Expected
// test.yaml:3:20 (the item 'bin/nc'), actual test.yaml:3:13 (the '[').
TEST(RuleErrors, BadExecGlobIsReportedAtTheItemWhenTheRuleAlsoHasRoles) {
  expect_error("exec:\n"
               "  - id: a\n"
               "    binary: [curl, bin/nc]\n"
               "    roles: [tool]\n"
               "roles:\n"
               "  tool: { root: true }\n",
               3, 20, "exec: bad glob 'bin/nc': relative pattern: it must start with '/' or '**/'");
}

TEST(RuleErrors, UnknownRole) {
  expect_error("exec:\n"
               "  - id: a\n"
               "    binary: curl\n"
               "    roles: [tool, admin]\n"
               "roles:\n"
               "  tool: { root: true }\n",
               4, 19, "exec: unknown role 'admin'");
  expect_error("files:\n"
               "  deny:\n"
               "    - id: a\n"
               "      path: /x\n"
               "      roles: admin\n",
               5, 14, "files.deny: unknown role 'admin'");
  expect_error("roles:\n"
               "  tool: { started_by: [gateway] }\n",
               2, 24, "role 'tool': started_by: unknown role 'gateway'");
}

TEST(RuleErrors, RolesAreKnownFromEarlierFilesOnly) {
  TempDir dir;
  dir.write("a.yaml", "roles:\n  tool: { root: true }\n");
  dir.write("b.yaml", "exec:\n  - id: a\n    binary: curl\n    roles: [tool, late]\n");
  dir.write("c.yaml", "roles:\n  late: { started_by: [tool] }\n");
  LoadResult r = load_rules(dir.path());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string(), dir / "b.yaml:4:19: exec: unknown role 'late'");
}

TEST(RuleErrors, RoleGivenToNobody) {
  expect_error("roles:\n"
               "  idle: {}\n",
               2, 3, "role 'idle' is given to nobody: say root: true (the process a target matched) or started_by");
  expect_errors("roles:\n"
                "  a: { root: true }\n"
                "  a: { root: true }\n",
                {{3, 3, "roles: duplicate role 'a'"}});
}

// A role is given at exec, never by a name: the keys that matched names are refused with a
// pointer to what replaced them.
TEST(RuleErrors, RolesByNameAreGone) {
  expect_errors("roles:\n"
                "  gateway: { comm: [openclaw] }\n"
                "  tool: { descendant_of: gateway }\n",
                {{2, 3, "role 'gateway' is given to nobody: say root: true (the process a target matched) or started_by"},
                 {2, 14,
                  "role 'gateway': 'comm' is gone: a role is given at exec, by who started the process (root, "
                  "started_by) and what it runs (exec: [{exe, argv}]), never by a name anyone can take (see the "
                  "README, Rules)"},
                 {3, 3, "role 'tool' is given to nobody: say root: true (the process a target matched) or started_by"},
                 {3, 11,
                  "role 'tool': 'descendant_of' is gone: a role is given at exec, by who started the process (root, "
                  "started_by) and what it runs (exec: [{exe, argv}]), never by a name anyone can take (see the "
                  "README, Rules)"}});
}

TEST(RuleErrors, ExecPatterns) {
  expect_error("roles:\n"
               "  h: { root: true, exec: [{ exe: node, argv: [\"a*b*c\"] }] }\n",
               2, 27, "role 'h': exec: argv: 'a*b*c': at most one '*' in an argument (it matches any characters, '/' included)");
  expect_error("roles:\n"
               "  h: { root: true, exec: [{ exe: node, argv: [\"**\", x] }] }\n",
               2, 27, "role 'h': exec: argv: '**' (any further arguments) can only be the last argument");
  expect_error("roles:\n"
               "  h: { root: true, exec: [{ argv: [] }] }\n",
               2, 27, "role 'h': exec: an exec pattern needs an exe or argv");
  expect_error("roles:\n"
               "  h: { root: true, exec: [{ exe: node, argv: [a, b, c, d, e, f, g, h, i, j, k, l, m] }] }\n",
               2, 27, "role 'h': exec: argv: more than 12 arguments (end with \"**\" to allow more)");
  expect_error("roles:\n"
               "  h: { root: true, final: yes }\n",
               2, 27, "role 'h': final: expected true or false");
}

// The first role that holds wins: one with no exec pattern, before another that could be given
// to the same processes, leaves that one to nobody.
TEST(RuleErrors, ARoleShadowedByAnEarlierOneWithoutPattern) {
  expect_error("roles:\n"
               "  gateway: { root: true }\n"
               "  tool: { started_by: [gateway] }\n"
               "  helper: { started_by: [gateway], exec: [{ exe: node }] }\n",
               4, 3,
               "role 'helper' is never given: role 'tool' (line 3), before it and with no exec pattern, takes every "
               "process it could take; list 'helper' first");
}

TEST(RuleErrors, VolumeBadWindowAndSize) {
  expect_errors("volume:\n"
                "  - id: v\n"
                "    window: 5x\n"
                "    max_bytes: 10XB\n",
                {{3, 13, "volume: window must be like 60s, 5m, 1h"},
                 {4, 16, "volume: max_bytes must be like 10MiB, 500KB, 1048576"}});
  expect_error("volume:\n"
               "  - id: v\n"
               "    window: 0s\n"
               "    max_bytes: 1MiB\n",
               3, 13, "volume: window must be like 60s, 5m, 1h");
  expect_error("volume:\n"
               "  - id: v\n"
               "    window: 60s\n",
               2, 5, "volume: a rule needs max_bytes");
}

TEST(RuleErrors, AlertsBadWindows) {
  expect_errors("alerts:\n"
                "  fold_window: soon\n"
                "  correlation_window: 2 m\n",
                {{2, 16, "alerts: fold_window must be like 60s, 5m"},
                 {3, 23, "alerts: correlation_window must be like 120s, 5m"}});
}

TEST(RuleErrors, ScopeWithoutAllowOrRoles) {
  expect_error("files:\n"
               "  scope:\n"
               "    - id: s\n"
               "      roles: [tool]\n"
               "roles:\n"
               "  tool: { root: true }\n",
               3, 7, "files.scope: a scope needs allow globs");
  expect_error("files:\n"
               "  scope:\n"
               "    - id: s\n"
               "      allow: /tmp/**\n",
               3, 7, "files.scope: a scope names the roles it applies to");
  expect_error("files:\n"
               "  deny:\n"
               "    - id: d\n",
               3, 7, "files.deny: a rule needs a path");
}

TEST(RuleErrors, EgressRuleWithoutHostOrCidr) {
  expect_error("egress:\n"
               "  allow:\n"
               "    - id: a\n"
               "      ports: [443]\n",
               3, 7, "egress.allow: give host or cidr");
  expect_error("egress:\n"
               "  default: never\n",
               2, 12, "egress: default must be allow or deny");
}

TEST(RuleErrors, ExecWithoutBinaryOrArgv) {
  expect_error("exec:\n"
               "  - id: a\n"
               "    severity: info\n",
               2, 5, "exec: give binary or argv_contains");
}

TEST(RuleErrors, YamlSyntaxError) {
  // An unclosed flow sequence: yaml-cpp finds out at the end of the text (line 4, column 1).
  expect_error("version: 1\n"
               "mode: monitor\n"
               "targets: [a, b\n",
               4, 1, "end of sequence flow not found");
  // A key indented under a scalar value.
  expect_error("version: 1\n"
               "exec:\n"
               "  - id: a\n"
               "     binary: curl\n",
               4, 12, "illegal map value");
}

// ---- durations and sizes -----------------------------------------------------------------------

TEST(ParseDuration, Units) {
  uint64_t ns = 0;
  EXPECT_TRUE(parse_duration("250ms", &ns));
  EXPECT_EQ(ns, 250'000'000ull);
  EXPECT_TRUE(parse_duration("60s", &ns));
  EXPECT_EQ(ns, 60'000'000'000ull);
  EXPECT_TRUE(parse_duration("5m", &ns));
  EXPECT_EQ(ns, 300'000'000'000ull);
  EXPECT_TRUE(parse_duration("1h", &ns));
  EXPECT_EQ(ns, 3'600'000'000'000ull);
  EXPECT_TRUE(parse_duration("999999999999ms", &ns));  // 12 digits is the longest number
  EXPECT_EQ(ns, 999'999'999'999'000'000ull);
}

TEST(ParseDuration, BadInput) {
  for (const char* bad : {"", "s", "60", "60 s", " 60s", "60s ", "1.5s", "-1s", "+1s", "0s", "0ms", "1d", "60S",
                          "5M", "1sec", "1000000000000s", "1h30m"}) {
    uint64_t ns = 7;
    EXPECT_FALSE(parse_duration(bad, &ns)) << "'" << bad << "'";
  }
}

// Disabled: agent bug. rules.cpp:72 multiplies without an overflow check: "10000000h" is
// 3.6e19 ns, above UINT64_MAX (1.8e19), and parse_duration returns true with the product wrapped
// modulo 2^64 (17553255926290448384 ns, about 556 years, but any amount can come out).
// Expected: false (bad input).
TEST(ParseDuration, OverflowIsBadInput) {
  uint64_t ns = 0;
  EXPECT_FALSE(parse_duration("10000000h", &ns)) << ns;
  EXPECT_FALSE(parse_duration("999999999999h", &ns)) << ns;
}

TEST(ParseSize, Units) {
  const std::pair<const char*, uint64_t> cases[] = {
      {"4096", 4096},           {"7B", 7},
      {"1KiB", 1024},           {"10MiB", 10ull << 20},
      {"2GiB", 2ull << 30},     {"500KB", 500'000},
      {"3MB", 3'000'000},       {"1GB", 1'000'000'000},
      {"999999999999999", 999'999'999'999'999ull},
  };
  for (const auto& [text, want] : cases) {
    uint64_t bytes = 0;
    EXPECT_TRUE(parse_size(text, &bytes)) << text;
    EXPECT_EQ(bytes, want) << text;
  }
}

TEST(ParseSize, BadInput) {
  for (const char* bad : {"", "MiB", "0", "0MiB", "10mib", "10 MiB", "1.5MiB", "-1", "10TiB", "10K", "10kb",
                          "1000000000000000", "10MiB "}) {
    uint64_t bytes = 7;
    EXPECT_FALSE(parse_size(bad, &bytes)) << "'" << bad << "'";
  }
}

// Disabled: agent bug. rules.cpp:88 multiplies without an overflow check: "100000000000GiB"
// (12 digits, within the 15-digit limit) is 1.07e20 bytes and parse_size returns true with the
// product wrapped modulo 2^64. Expected: false (bad input).
TEST(ParseSize, OverflowIsBadInput) {
  uint64_t bytes = 0;
  EXPECT_FALSE(parse_size("100000000000GiB", &bytes)) << bytes;
  EXPECT_FALSE(parse_size("999999999999999GB", &bytes)) << bytes;
}

// ---- directories: what later files change ------------------------------------------------------

// Disabled: agent bug. rules.h documents that `egress.default` is "taken from the last file that
// says" it, but load_rules (rules.cpp:592) only copies it when the later file says `deny`: a later
// `default: allow` is ignored (expected default_deny false, actual true). And a later file that
// says `default: deny` again, without its own `unapproved`, fails with
// "b.yaml:2:3: egress: duplicate rule id 'egress-unapproved'" (rules.cpp:376), because the implicit
// unapproved id is registered once per file against ids shared across the directory.
TEST(LoadRules, LaterFileSetsEgressDefault) {
  {
    TempDir dir;
    dir.write("a.yaml", "egress:\n  default: deny\n");
    dir.write("b.yaml", "egress:\n  default: allow\n");
    LoadResult r = load_rules(dir.path());
    for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
    EXPECT_FALSE(r.rules.egress.default_deny);
  }
  {
    TempDir dir;
    dir.write("a.yaml", "egress:\n  default: deny\n");
    dir.write("b.yaml", "egress:\n  default: deny\n");
    LoadResult r = load_rules(dir.path());
    for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
    EXPECT_TRUE(r.rules.egress.default_deny);
  }
}

// Disabled: agent bug. rules.h documents that `alerts` settings are "taken from the last file that
// says" them, but load_rules (rules.cpp:596) replaces the whole AlertSettings when a later file
// sets any value different from the built-in default, and ignores one that restates the default:
// - a.yaml {fold_window: 10s, correlation_window: 30s}, b.yaml {fold_window: 20s}: expected
//   fold 20s / correlation 30s, actual 20s / 120s (b's unsaid correlation_window resets it);
// - a.yaml {fold_window: 10s}, b.yaml {fold_window: 60s}: expected 60s, actual 10s.
TEST(LoadRules, LaterFileSetsOnlyTheAlertSettingsItSays) {
  {
    TempDir dir;
    dir.write("a.yaml", "alerts:\n  fold_window: 10s\n  correlation_window: 30s\n");
    dir.write("b.yaml", "alerts:\n  fold_window: 20s\n");
    LoadResult r = load_rules(dir.path());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.rules.alerts.fold_window_ns, 20'000'000'000ull);
    EXPECT_EQ(r.rules.alerts.correlation_window_ns, 30'000'000'000ull);
  }
  {
    TempDir dir;
    dir.write("a.yaml", "alerts:\n  fold_window: 10s\n");
    dir.write("b.yaml", "alerts:\n  fold_window: 60s\n");
    LoadResult r = load_rules(dir.path());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.rules.alerts.fold_window_ns, 60'000'000'000ull);
  }
}

TEST(LoadRules, DirectoryMergesEverySection) {
  TempDir dir;
  dir.write("10-base.yaml", kAllSections);
  dir.write("20-more.yaml",
            "exec:\n  - id: more\n    binary: nc\n    roles: [helper]\n"
            "files:\n  deny:\n    - id: shadow\n      path: /etc/shadow\n"
            "egress:\n  allow:\n    - id: dns\n      cidr: 0.0.0.0/0\n      ports: 53\n"
            "env:\n  secret_names: GH_TOKEN\n");
  LoadResult r = load_rules(dir.path());
  for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.rules.mode, Mode::kEnforce);       // the later file does not say mode
  EXPECT_TRUE(r.rules.egress.default_deny);      // nor egress.default
  EXPECT_EQ(r.rules.egress.unapproved.id, "egress-x");
  EXPECT_EQ(r.rules.alerts.fold_window_ns, 30'000'000'000ull);  // nor alerts
  EXPECT_EQ(all_rule_ids(r.rules), (Strings{"egress-x", "llm", "lo", "dns", "meta", "keys", "env", "shadow",
                                            "scope", "net-tools", "dropper", "more", "vol"}));
  EXPECT_EQ(r.rules.secret_names, (Strings{"*_TOKEN", "AWS_SECRET_ACCESS_KEY", "GH_TOKEN"}));
  EXPECT_EQ(r.rules.exec.back().meta.file, dir / "20-more.yaml");
  EXPECT_EQ(r.rules.exec.back().meta.line, 2);
}

}  // namespace
}  // namespace clawfence::policy
