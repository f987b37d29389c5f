// Rule files: parsing, error positions, directory loading, the shipped rules.
#include "policy/rules.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "clawfence/abi.h"
#include "temp_dir.h"

namespace clawfence::policy {
namespace {

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
  allow: [api.example.com]
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

TEST(ParseRules, BadMode) {
  expect_at(the_error("version: 1\nmode: sometimes\n"), 2, 7, "mode");
  expect_at(the_error("mode: [enforce]\n"), 1, 7, "mode");
}

TEST(ParseRules, UnknownVersion) {
  expect_at(the_error("version: 2\n"), 1, 10, "version");
}

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

// The rules shipped in the repository load cleanly. Found through CLAWFENCE_SRC, the working
// directory (tests run from the repository root), or this source file's location.
std::string shipped_rules() {
  std::vector<std::string> candidates;
  if (const char* src = std::getenv("CLAWFENCE_SRC")) candidates.push_back(std::string(src) + "/rules/openclaw.yaml");
  for (const char* rel : {"rules/openclaw.yaml", "../rules/openclaw.yaml", "../../rules/openclaw.yaml",
                          "../../../rules/openclaw.yaml"})
    candidates.push_back(rel);
  // __FILE__ is tests/unit/rules_test.cpp, relative to the repository root or absolute.
  std::filesystem::path here = std::filesystem::absolute(__FILE__);
  candidates.push_back((here.parent_path().parent_path().parent_path() / "rules/openclaw.yaml").string());
  for (const auto& c : candidates) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(c, ec)) return c;
  }
  return "";
}

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

}  // namespace
}  // namespace clawfence::policy
