// The agent's configuration: every key of the file, errors with their positions, precedence
// (defaults < file < environment < flags) through the same parsing main does, `config check`,
// and the shipped deploy/clawfence.yaml.
#include "app/config.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "output/json_lines.h"
#include "policy/rules.h"
#include "shipped_rules.h"
#include "temp_dir.h"

extern char** environ;

namespace clawfence::app {
namespace {

using clawfence::testing::repo_file;
using clawfence::testing::TempDir;
using Source = AgentSettings::Source;

// Every CLAWFENCE_ variable of the test's environment is put aside for each test and restored
// after it, so what the host has set cannot leak in and what a test sets cannot leak out.
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      if (kv.rfind("CLAWFENCE_", 0) != 0) continue;
      size_t eq = kv.find('=');
      saved_[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const auto& [k, v] : saved_) unsetenv(k.c_str());
  }
  void TearDown() override {
    for (char** e = environ; *e;) {  // unsetenv reshuffles environ: start over after each
      std::string kv = *e;
      if (kv.rfind("CLAWFENCE_", 0) == 0) {
        unsetenv(kv.substr(0, kv.find('=')).c_str());
        e = environ;
        continue;
      }
      ++e;
    }
    for (const auto& [k, v] : saved_) setenv(k.c_str(), v.c_str(), 1);
  }

  // main's parsing, without the other subcommands: prepare (config file, then the options with
  // their variables), then CLI11. Returns the file's errors; CLI11's errors throw.
  std::vector<ConfigError> parse(AgentSettings& s, std::vector<std::string> args) {
    args.insert(args.begin(), "clawfence");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    CLI::App app;
    auto* agent_cmd = app.add_subcommand("agent");
    auto errors = s.prepare(app, *agent_cmd, static_cast<int>(argv.size()), argv.data());
    app.parse(static_cast<int>(argv.size()), argv.data());
    return errors;
  }

  TempDir dir_;

 private:
  std::map<std::string, std::string> saved_;
};

// Parses text that must give exactly one error, and returns it.
ConfigError the_error(const std::string& text) {
  AgentSettings s;
  auto errors = s.load_text(text, "c.yaml");
  if (errors.size() != 1) {
    ADD_FAILURE() << errors.size() << " errors for:\n" << text;
    for (const auto& e : errors) ADD_FAILURE() << e.to_string();
  }
  return errors.empty() ? ConfigError{} : errors[0];
}

constexpr const char* kEveryKey = R"(rules: /srv/rules.d
mode: enforce
cgroup: /sys/fs/cgroup/openclaw.slice
pin: never
pin_dir: /sys/fs/bpf/cf-test
events: /var/log/clawfence/events.jsonl
detail: all
log_level: debug
sensor:
  ringbuf_mib: 64
  max_tracked: 1000
  queue: 4096
  wakeup_kib: 0
  poll_ms: 20
  syscall_hooks: tracepoint
  env_probes: judged
audit:
  dir: /srv/audit
  all_events: true
  fsync: always
  rotate_mib: 8
  rotate_hours: 0
  hmac_key_file: /etc/clawfence/audit.key
tail:
  socket: /run/cf/tail.sock
  group: clawfence
  buffer: 500
metrics:
  address: "[::1]:9100"
pagerduty:
  url: https://events.eu.pagerduty.com/v2/enqueue
  key_file: /etc/clawfence/pd.key
  key_env: PD_ROUTING
  severity: critical
  spool: /srv/spool
  spool_max: 77
  resolve_after_s: 600
  proxy: http://proxy.internal:3128
redact:
  patterns: ['ACME-[0-9]{6}']
kubernetes:
  pod_metadata_url: https://127.0.0.1:10250/pods
  token_file: /run/token
  ca_file: /run/ca.crt
  insecure_kubelet_tls: true
  refresh_s: 30
)";

TEST_F(ConfigTest, FileSetsEveryKey) {
  AgentSettings s;
  auto errors = s.load_text(kEveryKey, "every.yaml");
  for (const auto& e : errors) ADD_FAILURE() << e.to_string();
  const AgentOptions& a = s.agent();
  EXPECT_EQ(a.rules, "/srv/rules.d");
  EXPECT_EQ(a.mode, "enforce");
  EXPECT_EQ(a.cgroup, "/sys/fs/cgroup/openclaw.slice");
  EXPECT_EQ(a.pin, "never");
  EXPECT_EQ(a.pin_dir, "/sys/fs/bpf/cf-test");
  EXPECT_EQ(a.common.output, "/var/log/clawfence/events.jsonl");
  EXPECT_EQ(a.common.detail, "all");
  EXPECT_EQ(s.log_level(), "debug");
  EXPECT_EQ(a.common.ringbuf_mib, 64u);
  EXPECT_EQ(a.common.max_tracked, 1000u);
  EXPECT_EQ(a.common.queue_capacity, 4096u);
  EXPECT_EQ(a.common.wakeup_kib, 0u);
  EXPECT_EQ(a.common.poll_ms, 20u);
  EXPECT_EQ(a.common.syscall_hooks, "tracepoint");
  EXPECT_EQ(a.common.env_probes, "judged");
  EXPECT_EQ(a.outputs.audit_dir, "/srv/audit");
  EXPECT_TRUE(a.outputs.audit_all);
  EXPECT_EQ(a.outputs.audit_fsync, "always");
  EXPECT_EQ(a.outputs.audit_rotate_mib, 8u);
  EXPECT_EQ(a.outputs.audit_rotate_hours, 0u);
  EXPECT_EQ(a.outputs.audit_hmac_key, "/etc/clawfence/audit.key");
  EXPECT_EQ(a.outputs.tail_socket, "/run/cf/tail.sock");
  EXPECT_EQ(a.outputs.tail_group, "clawfence");
  EXPECT_EQ(a.outputs.tail_buffer, 500u);
  EXPECT_EQ(a.outputs.metrics_addr, "[::1]:9100");
  EXPECT_EQ(a.outputs.pagerduty.url, "https://events.eu.pagerduty.com/v2/enqueue");
  EXPECT_EQ(a.outputs.pagerduty.key_file, "/etc/clawfence/pd.key");
  EXPECT_EQ(a.outputs.pagerduty.key_env, "PD_ROUTING");
  EXPECT_EQ(a.outputs.pagerduty.min_severity, "critical");
  EXPECT_EQ(a.outputs.pagerduty.spool_dir, "/srv/spool");
  EXPECT_EQ(a.outputs.pagerduty.spool_max, 77u);
  EXPECT_EQ(a.outputs.pagerduty_resolve_s, 600u);
  EXPECT_EQ(a.pod_metadata.url, "https://127.0.0.1:10250/pods");
  EXPECT_EQ(a.pod_metadata.token_file, "/run/token");
  EXPECT_EQ(a.pod_metadata.ca_file, "/run/ca.crt");
  EXPECT_TRUE(a.pod_metadata.insecure_kubelet_tls);
  EXPECT_EQ(a.pod_metadata_refresh_s, 30u);
  EXPECT_EQ(a.outputs.pagerduty.proxy, "http://proxy.internal:3128");
  EXPECT_EQ(a.redact_patterns, (std::vector<std::string>{"ACME-[0-9]{6}"}));
  // every setting is a key of the file, and each says it came from there
  std::istringstream lines(s.describe());
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) EXPECT_NE(line.find("(file)"), std::string::npos) << line;
  EXPECT_EQ(n, 39);
}

TEST_F(ConfigTest, EmptyFileAndEmptyGroupsKeepTheDefaults) {
  AgentSettings s;
  EXPECT_TRUE(s.load_text("", "empty.yaml").empty());
  EXPECT_TRUE(s.load_text("# only a comment\n", "c.yaml").empty());
  EXPECT_TRUE(s.load_text("sensor:\naudit:\n", "c.yaml").empty());
  EXPECT_EQ(s.agent().common.ringbuf_mib, 16u);
  EXPECT_EQ(s.agent().outputs.audit_dir, "/var/log/clawfence");
  EXPECT_EQ(s.source("sensor.ringbuf_mib"), Source::kDefault);
  // an empty string value is "" (the cgroup v2 root), not an error
  EXPECT_TRUE(s.load_text("cgroup:\nmetrics: {address: \"\"}\n", "c.yaml").empty());
  EXPECT_EQ(s.agent().cgroup, "");
  EXPECT_EQ(s.agent().outputs.metrics_addr, "");
}

TEST_F(ConfigTest, UnknownKeysArePlacedAndNamed) {
  ConfigError e = the_error("rules: r.yaml\nrulez: x\n");
  EXPECT_EQ(e.to_string().substr(0, 23), "c.yaml:2:1: rulez: unkn");
  EXPECT_EQ(e.message, "unknown key (known: rules, mode, cgroup, pin, pin_dir, events, detail, log_level, sensor, "
                      "audit, tail, metrics, pagerduty, redact, kubernetes)");

  e = the_error("sensor:\n  ringbuf_mib: 16\n  ringbuf: 32\n");
  EXPECT_EQ(e.line, 3);
  EXPECT_EQ(e.column, 3);
  EXPECT_EQ(e.key, "sensor.ringbuf");
  EXPECT_NE(e.message.find("known under sensor: ringbuf_mib, max_tracked"), std::string::npos) << e.message;

  // a key at the wrong level: where it belongs
  e = the_error("mode: monitor\npoll_ms: 10\n");
  EXPECT_EQ(e.to_string(), "c.yaml:2:1: poll_ms: unknown key (did you mean sensor.poll_ms?)");
  e = the_error("audit:\n  address: x\n");
  EXPECT_EQ(e.to_string(), "c.yaml:2:3: audit.address: unknown key (did you mean metrics.address?)");

  e = the_error("mode: monitor\nmode: enforce\n");
  EXPECT_EQ(e.to_string(), "c.yaml:2:1: mode: given twice");
}

TEST_F(ConfigTest, WrongTypesArePlacedAtTheValue) {
  ConfigError e = the_error("sensor:\n  poll_ms: fast\n");
  EXPECT_EQ(e.to_string(), "c.yaml:2:12: sensor.poll_ms: expected a whole number from 1 to 1000, not 'fast'");
  e = the_error("rules: [a.yaml, b.yaml]\n");
  EXPECT_EQ(e.to_string(), "c.yaml:1:8: rules: expected a string, not a list");
  e = the_error("audit: /var/log\n");
  EXPECT_EQ(e.to_string(), "c.yaml:1:8: audit: expected a map of settings, not a scalar");
  e = the_error("audit:\n  all_events: sometimes\n");
  EXPECT_EQ(e.to_string(), "c.yaml:2:15: audit.all_events: expected true or false, not 'sometimes'");
  e = the_error("tail:\n  buffer: {size: 3}\n");
  EXPECT_EQ(e.to_string(), "c.yaml:2:11: tail.buffer: expected a number, not a map");
  e = the_error("sensor:\n  queue:\n");  // a number cannot be empty: the key is pointed at
  EXPECT_EQ(e.to_string(), "c.yaml:2:3: sensor.queue: expected a number, not nothing");
  e = the_error("- rules: x\n");
  EXPECT_EQ(e.to_string(), "c.yaml:1:1: expected settings (key: value), not a list");
  e = the_error("rules: a\n  bad: x\n");
  EXPECT_EQ(e.to_string(), "c.yaml:2:6: not valid YAML: illegal map value");
}

// redact.patterns: a list of RE2 patterns, each checked where it stands; a flag repeats, the
// variable holds one a line.
TEST_F(ConfigTest, RedactPatternsAreCheckedWhereTheyStand) {
  ConfigError e = the_error("redact:\n  patterns:\n    - 'ACME-[0-9]+'\n    - 'x(['\n");
  EXPECT_EQ(e.file, "c.yaml");
  EXPECT_EQ(e.line, 4);
  EXPECT_EQ(e.column, 7);
  EXPECT_EQ(e.key, "redact.patterns");
  EXPECT_NE(e.message.find("item 2: 'x([' is not a usable RE2 pattern: missing ]"), std::string::npos) << e.message;
  e = the_error("redact:\n  patterns: 'ACME'\n");
  EXPECT_EQ(e.to_string(), "c.yaml:2:13: redact.patterns: expected a list, not a scalar");
  e = the_error("redact:\n  patterns: ['a|']\n");
  EXPECT_NE(e.message.find("matches the empty text"), std::string::npos) << e.message;
  {
    AgentSettings s;
    const std::string file = dir_.write("r.yaml", "redact:\n  patterns: ['ACME-[0-9]+', '(?i)k=(\\w+)']\n");
    ASSERT_TRUE(parse(s, {"--config", file, "agent"}).empty());
    EXPECT_EQ(s.agent().redact_patterns, (std::vector<std::string>{"ACME-[0-9]+", "(?i)k=(\\w+)"}));
    EXPECT_EQ(s.source("redact.patterns"), Source::kFile);
  }
  {
    AgentSettings s;
    ASSERT_TRUE(parse(s, {"agent", "--redact-pattern", "A+B", "--redact-pattern", "x y"}).empty());
    EXPECT_EQ(s.agent().redact_patterns, (std::vector<std::string>{"A+B", "x y"}));
  }
  setenv("CLAWFENCE_REDACT_PATTERNS", "one two\nthree", 1);
  {
    AgentSettings s;
    ASSERT_TRUE(parse(s, {"agent"}).empty());
    EXPECT_EQ(s.agent().redact_patterns, (std::vector<std::string>{"one two", "three"}));
  }
  setenv("CLAWFENCE_REDACT_PATTERNS", "ok\nbad(", 1);
  {
    AgentSettings s;
    EXPECT_THROW(parse(s, {"agent"}), CLI::ValidationError);
    auto errors = s.check_environment();
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].key, "redact.patterns");
  }
}

TEST_F(ConfigTest, BadValuesAndOutOfRangeNumbers) {
  ConfigError e = the_error("log_level: info\nmode: block\n");
  EXPECT_EQ(e.to_string(), "c.yaml:2:7: mode: 'block' is not one of rules, monitor, enforce, dry-run");
  e = the_error("sensor:\n  syscall_hooks: kprobe\n");
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.column, 18);
  e = the_error("sensor:\n  env_probes: all\n");
  EXPECT_EQ(e.to_string(), "c.yaml:2:15: sensor.env_probes: 'all' is not one of host, judged, watched");
  e = the_error("sensor:\n  poll_ms: 5000\n");
  EXPECT_EQ(e.to_string(), "c.yaml:2:12: sensor.poll_ms: 5000 is out of range (1 to 1000)");
  e = the_error("sensor:\n  ringbuf_mib: 24\n");
  EXPECT_EQ(e.to_string(), "c.yaml:2:16: sensor.ringbuf_mib: 24 is out of range (a power of two from 1 to 1024)");
  e = the_error("sensor:\n  max_tracked: -1\n");
  EXPECT_NE(e.message.find("expected a whole number"), std::string::npos) << e.message;
  e = the_error("pagerduty:\n  spool_max: 0\n");
  EXPECT_EQ(e.to_string(), "c.yaml:2:14: pagerduty.spool_max: 0 is out of range (1 to 10000000)");
  e = the_error("sensor:\n  queue: 99999999999999999999999\n");  // beyond 64 bits
  EXPECT_EQ(e.key, "sensor.queue");
  e = the_error("metrics:\n  address: localhost\n");
  EXPECT_EQ(e.to_string(), "c.yaml:2:12: metrics.address: 'localhost' is not host:port (e.g. 127.0.0.1:9464 or [::1]:9464)");
  e = the_error("pagerduty:\n  url: http://pagerduty.example.com/\n");  // plain http only to loopback
  EXPECT_EQ(e.key, "pagerduty.url");
  EXPECT_EQ(e.column, 8);
  e = the_error("pagerduty:\n  key_env: 0123-routing\n");
  EXPECT_EQ(e.to_string(), "c.yaml:2:12: pagerduty.key_env: '0123-routing' is not an environment variable name");
  e = the_error("pin_dir: \"\"\n");
  EXPECT_EQ(e.to_string(), "c.yaml:1:10: pin_dir: must not be empty");
}

TEST_F(ConfigTest, EveryErrorIsReportedAndGoodValuesStillTaken) {
  AgentSettings s;
  auto errors = s.load_text("mode: block\nsensor:\n  poll_ms: 0\n  queue: 100\n  hooks: x\nrules: r.d\n", "c.yaml");
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].line, 1);
  EXPECT_EQ(errors[1].line, 3);
  EXPECT_EQ(errors[2].line, 5);
  EXPECT_EQ(s.agent().common.queue_capacity, 100u);
  EXPECT_EQ(s.agent().rules, "r.d");
  EXPECT_EQ(s.agent().mode, "rules");  // the bad value is not taken
  EXPECT_EQ(s.agent().common.poll_ms, 5u);
}

TEST_F(ConfigTest, TheDefaultPathIsOptionalANamedFileIsNot) {
  AgentSettings s;
  const std::string missing = dir_ / "absent.yaml";
  EXPECT_TRUE(s.load({missing, false}).empty());
  EXPECT_EQ(s.config_path(), "");
  auto errors = s.load({missing, true});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].to_string(), missing + ": no such file");
  errors = s.load({dir_.path(), true});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("is a directory"), std::string::npos);
  EXPECT_TRUE(s.load({"/dev/null", true}).empty());  // --config /dev/null: the defaults, whatever /etc has
  const std::string file = dir_.write("c.yaml", "sensor:\n  poll_ms: 7\n");
  EXPECT_TRUE(s.load({file, false}).empty());
  EXPECT_EQ(s.config_path(), file);
  EXPECT_EQ(s.agent().common.poll_ms, 7u);
}

TEST_F(ConfigTest, TheConfigFileIsFoundFromFlagThenEnvironmentThenDefault) {
  const char* a1[] = {"clawfence", "--config", "/a.yaml", "agent"};
  const char* a2[] = {"clawfence", "agent", "--config=/b.yaml"};
  const char* a3[] = {"clawfence", "agent", "--", "--config", "/c.yaml"};
  const char* none[] = {"clawfence", "agent"};
  EXPECT_EQ(find_config_file(4, a1).path, "/a.yaml");
  EXPECT_TRUE(find_config_file(4, a1).named);
  EXPECT_EQ(find_config_file(3, a2).path, "/b.yaml");
  EXPECT_EQ(find_config_file(5, a3).path, kDefaultConfigPath);
  EXPECT_FALSE(find_config_file(2, none).named);
  setenv("CLAWFENCE_CONFIG", "/env.yaml", 1);
  EXPECT_EQ(find_config_file(2, none).path, "/env.yaml");
  EXPECT_TRUE(find_config_file(2, none).named);
  EXPECT_EQ(find_config_file(4, a1).path, "/a.yaml");  // the flag wins
}

TEST_F(ConfigTest, PrecedenceDefaultFileEnvironmentFlag) {
  const std::string file = dir_.write("c.yaml",
                                      "rules: /file/rules.d\nlog_level: warn\nsensor:\n  poll_ms: 7\n"
                                      "audit:\n  all_events: true\n  fsync: interval\n"
                                      "metrics:\n  address: 127.0.0.1:1001\n");
  {  // the file over the defaults
    AgentSettings s;
    ASSERT_TRUE(parse(s, {"--config", file, "agent"}).empty());
    EXPECT_EQ(s.agent().rules, "/file/rules.d");
    EXPECT_EQ(s.agent().common.poll_ms, 7u);
    EXPECT_TRUE(s.agent().outputs.audit_all);
    EXPECT_EQ(s.agent().outputs.metrics_addr, "127.0.0.1:1001");
    EXPECT_EQ(s.log_level(), "warn");
    EXPECT_EQ(s.source("sensor.poll_ms"), Source::kFile);
    EXPECT_EQ(s.agent().common.ringbuf_mib, 16u);  // not in the file
    EXPECT_EQ(s.source("sensor.ringbuf_mib"), Source::kDefault);
    EXPECT_EQ(s.config_path(), file);
  }
  setenv("CLAWFENCE_CONFIG", file.c_str(), 1);  // found through the environment from here on
  setenv("CLAWFENCE_POLL_MS", "9", 1);
  setenv("CLAWFENCE_AUDIT_ALL", "false", 1);
  setenv("CLAWFENCE_METRICS_ADDR", "127.0.0.1:2002", 1);
  setenv("CLAWFENCE_LOG_LEVEL", "error", 1);
  setenv("CLAWFENCE_RINGBUF_MIB", "32", 1);
  {  // the environment over the file (and over a default)
    AgentSettings s;
    ASSERT_TRUE(parse(s, {"agent"}).empty());
    EXPECT_EQ(s.agent().common.poll_ms, 9u);
    EXPECT_FALSE(s.agent().outputs.audit_all);
    EXPECT_EQ(s.agent().outputs.metrics_addr, "127.0.0.1:2002");
    EXPECT_EQ(s.log_level(), "error");
    EXPECT_EQ(s.agent().common.ringbuf_mib, 32u);
    EXPECT_EQ(s.agent().rules, "/file/rules.d");  // no variable: the file's
    EXPECT_EQ(s.agent().outputs.audit_fsync, "interval");
    EXPECT_EQ(s.source("sensor.poll_ms"), Source::kEnv);
    EXPECT_EQ(s.source("rules"), Source::kFile);
  }
  {  // flags over the environment; --log-level after `agent` too
    AgentSettings s;
    ASSERT_TRUE(parse(s, {"agent", "--poll-ms", "11", "--audit-all", "--metrics-addr=127.0.0.1:3003", "-r",
                          "/flag/rules.yaml", "--log-level", "trace"})
                    .empty());
    EXPECT_EQ(s.agent().common.poll_ms, 11u);
    EXPECT_TRUE(s.agent().outputs.audit_all);
    EXPECT_EQ(s.agent().outputs.metrics_addr, "127.0.0.1:3003");
    EXPECT_EQ(s.agent().rules, "/flag/rules.yaml");
    EXPECT_EQ(s.log_level(), "trace");
    EXPECT_EQ(s.agent().common.ringbuf_mib, 32u);  // no flag: the environment's
    EXPECT_EQ(s.source("sensor.poll_ms"), Source::kFlag);
    EXPECT_EQ(s.source("metrics.address"), Source::kFlag);
    EXPECT_EQ(s.source("rules"), Source::kFlag);
    EXPECT_EQ(s.source("sensor.ringbuf_mib"), Source::kEnv);
    EXPECT_EQ(s.source("audit.fsync"), Source::kFile);
  }
}

TEST_F(ConfigTest, AFlagWinsOverABadVariableAndABadVariableAloneIsRefused) {
  setenv("CLAWFENCE_POLL_MS", "0", 1);
  AgentSettings s;
  EXPECT_NO_THROW(parse(s, {"agent", "--poll-ms", "10"}));
  EXPECT_EQ(s.agent().common.poll_ms, 10u);
  AgentSettings t;
  try {
    parse(t, {"agent"});
    ADD_FAILURE() << "CLAWFENCE_POLL_MS=0 taken";
  } catch (const CLI::ValidationError& e) {
    EXPECT_NE(std::string(e.what()).find("from CLAWFENCE_POLL_MS: 0 is out of range (1 to 1000)"), std::string::npos)
        << e.what();
  }
  // the same check as the file's, for flags too
  setenv("CLAWFENCE_POLL_MS", "5", 1);
  AgentSettings u;
  EXPECT_THROW(parse(u, {"agent", "--mode", "block"}), CLI::ValidationError);
}

TEST_F(ConfigTest, HelpWorksWithABadConfigFileAndShowsTheFileValues) {
  const std::string file = dir_.write("bad.yaml", "mode: block\nsensor:\n  poll_ms: 42\n  [\n");
  AgentSettings s;
  std::vector<ConfigError> errors;
  EXPECT_THROW(errors = parse(s, {"--config", file, "agent", "--help"}), CLI::CallForHelp);
  const std::string good = dir_.write("good.yaml", "sensor:\n  poll_ms: 42\n");
  AgentSettings t;
  CLI::App app;
  auto* cmd = app.add_subcommand("agent");
  const char* argv[] = {"clawfence", "--config", good.c_str(), "agent"};
  ASSERT_TRUE(t.prepare(app, *cmd, 4, argv).empty());
  EXPECT_NE(cmd->help().find("=42"), std::string::npos) << cmd->help();
  EXPECT_NE(cmd->help().find("CLAWFENCE_POLL_MS"), std::string::npos);
}

// Runs check_config in a child (it prints to stdout and stderr) with `env` set there only.
struct CheckRun {
  int status = -1;
  std::string output;  // stdout and stderr
};
CheckRun run_check(const ConfigFile& file, const std::map<std::string, std::string>& env, const TempDir& dir) {
  const std::string out_path = dir / "check.out";
  // what earlier tests printed and stdio still buffers would be flushed by the child, into its file
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) _exit(99);
    dup2(fd, 1);
    dup2(fd, 2);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    int rc = check_config(file);
    fflush(stdout);
    fflush(stderr);
    _exit(rc);
  }
  CheckRun r;
  int st = 0;
  if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st)) r.status = WEXITSTATUS(st);
  std::ifstream in(out_path);
  std::stringstream ss;
  ss << in.rdbuf();
  r.output = ss.str();
  return r;
}

// The line of `config check` output for `key`.
std::string line_of(const std::string& output, const std::string& key) {
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind(key + " ", 0) == 0) return line;
  return "";
}

TEST_F(ConfigTest, ShippedConfigPassesCheckWithItsValuesFromTheFile) {
  const std::string shipped = repo_file("deploy/clawfence.yaml");
  ASSERT_FALSE(shipped.empty()) << "deploy/clawfence.yaml not found (set CLAWFENCE_SRC)";
  AgentSettings s;
  auto errors = s.load({shipped, true});
  for (const auto& e : errors) ADD_FAILURE() << e.to_string();
  EXPECT_EQ(s.agent().rules, "/etc/clawfence/rules.d");
  EXPECT_EQ(s.agent().common.output, "none");
  EXPECT_EQ(s.agent().outputs.audit_dir, "/var/log/clawfence");
  EXPECT_EQ(s.agent().outputs.tail_socket, "/run/clawfence/clawfence.sock");
  EXPECT_EQ(s.agent().outputs.metrics_addr, "127.0.0.1:9464");
  EXPECT_EQ(s.agent().outputs.pagerduty.spool_dir, "/var/lib/clawfence/pagerduty");

  CheckRun r = run_check({shipped, true}, {{"CLAWFENCE_METRICS_ADDR", "127.0.0.1:9999"}}, dir_);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.rfind(shipped + ": ok\n", 0), 0u) << r.output;
  EXPECT_NE(line_of(r.output, "rules").find("= /etc/clawfence/rules.d (file)"), std::string::npos) << r.output;
  EXPECT_NE(line_of(r.output, "events").find("= none (file)"), std::string::npos) << r.output;
  EXPECT_NE(line_of(r.output, "metrics.address").find("= 127.0.0.1:9999 (env CLAWFENCE_METRICS_ADDR)"),
            std::string::npos)
      << r.output;
}

TEST_F(ConfigTest, CheckNamesDefaultsAndNeverPrintsTheRoutingKey) {
  const std::string file = dir_.write("c.yaml", "mode: monitor\n");
  CheckRun r = run_check({file, true}, {{"CLAWFENCE_PAGERDUTY_KEY", "R0UTINGKEYSECRET0123456789abcdef"}}, dir_);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(line_of(r.output, "mode").find("= monitor (file)"), std::string::npos) << r.output;
  EXPECT_NE(line_of(r.output, "sensor.poll_ms").find("= 5 (default)"), std::string::npos) << r.output;
  EXPECT_NE(line_of(r.output, "pagerduty.key_env").find("= CLAWFENCE_PAGERDUTY_KEY (default)"), std::string::npos);
  EXPECT_EQ(r.output.find("R0UTINGKEYSECRET"), std::string::npos) << r.output;

  // no file at the default path: the environment and defaults, and says so
  r = run_check({dir_ / "absent.yaml", false}, {}, dir_);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("no such file"), std::string::npos) << r.output;
}

TEST_F(ConfigTest, CheckFailsWithEveryErrorOfTheFileAndTheEnvironment) {
  const std::string file = dir_.write("bad.yaml", "mode: block\nsensor:\n  poll_ms: 0\n");
  CheckRun r = run_check({file, true}, {{"CLAWFENCE_RINGBUF_MIB", "3"}, {"CLAWFENCE_TAIL_BUFFER", "lots"}}, dir_);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(file + ":1:7: mode: 'block' is not one of"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(file + ":3:12: sensor.poll_ms: 0 is out of range (1 to 1000)"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("environment CLAWFENCE_RINGBUF_MIB: sensor.ringbuf_mib: 3 is out of range"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("environment CLAWFENCE_TAIL_BUFFER: tail.buffer: expected a whole number"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find(": ok"), std::string::npos) << r.output;

  r = run_check({dir_ / "absent.yaml", true}, {}, dir_);  // named, so it must exist
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("absent.yaml: no such file"), std::string::npos) << r.output;
}

TEST_F(ConfigTest, ModeOverridesTheRuleFiles) {
  policy::RuleSet rules;
  rules.mode = policy::Mode::kEnforce;
  apply_mode("rules", rules);
  EXPECT_EQ(rules.mode, policy::Mode::kEnforce);
  apply_mode("monitor", rules);
  EXPECT_EQ(rules.mode, policy::Mode::kMonitor);
  apply_mode("dry-run", rules);
  EXPECT_EQ(rules.mode, policy::Mode::kEnforce);
  rules.mode = policy::Mode::kMonitor;
  apply_mode("enforce", rules);
  EXPECT_EQ(rules.mode, policy::Mode::kEnforce);
}

TEST_F(ConfigTest, EventsNoneWritesNoJsonLines) {
  // "none" is no file of that name and nothing on stdout: the sink takes nothing
  const std::string cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_.path());
  {
    output::JsonLinesSink sink("none");
    v1::Event ev;
    ev.mutable_process()->set_pid(1);
    sink.write(ev);
    sink.flush();
    EXPECT_EQ(sink.written(), 0u);
    EXPECT_EQ(sink.failed(), 0u);
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "none"));
  std::filesystem::current_path(cwd);
  // a file path still gets the lines
  output::JsonLinesSink file(dir_ / "events.jsonl");
  file.write(v1::Event{});
  file.flush();
  EXPECT_EQ(file.written(), 1u);
}

}  // namespace
}  // namespace clawfence::app
