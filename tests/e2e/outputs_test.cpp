// The outputs as an operator uses them, with the real binary: `clawfence tail` clients with
// different filters, alerts forwarded to a PagerDuty stand-in on loopback, the audit log's chain
// and the metrics endpoint, across a kill -9 of the agent and its restart.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "fake_pagerduty.h"
#include "harness.h"

namespace clawfence::testing {
namespace {

using std::chrono::seconds;

constexpr const char* kKey = "e2e-R0uting-9d1c7a3b5e";

class Outputs : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (loads eBPF programs): skipped";
    bin_ = build_dir() + "/clawfence";
    dir_ = make_temp_dir("outputs");
    ASSERT_FALSE(dir_.empty());
    out_ = dir_ + "/events.jsonl";
  }
  void TearDown() override {
    if (!dir_.empty()) remove_tree(dir_);
  }

  std::vector<std::string> agent_argv(const std::string& rules, const std::string& cgroup,
                                      const std::vector<std::string>& extra) const {
    std::vector<std::string> a = {bin_, "agent", "--rules", rules, "--cgroup", cgroup, "--pin", "never", "-o", out_};
    for (auto& f : private_outputs(dir_)) a.push_back(f);
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  std::vector<std::string> tail_argv(const std::vector<std::string>& filter) const {
    std::vector<std::string> a = {bin_, "tail", "--socket", dir_ + "/tail.sock", "--color", "never"};
    a.insert(a.end(), filter.begin(), filter.end());
    return a;
  }

  std::string bin_, dir_, out_;
};

bool wait_log(const std::string& log, const std::string& what) {
  return eventually([&] { return read_file(log).find(what) != std::string::npos; }, seconds(20));
}

// The port the agent serves metrics on, from its log line "metrics: http://127.0.0.1:PORT/metrics".
int metrics_port(const std::string& log) {
  std::smatch m;
  const std::string text = read_file(log);
  static const std::regex re(R"(metrics: http://127\.0\.0\.1:([0-9]+)/metrics)");
  return std::regex_search(text, m, re) ? std::stoi(m[1]) : -1;
}

// Scrapes /metrics: "name{labels}" → value.
std::map<std::string, double> scrape(int port) {
  std::map<std::string, double> out;
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(5);
  c.set_read_timeout(5);
  auto r = c.Get("/metrics");
  if (!r || r->status != 200) return out;
  std::istringstream in(r->body);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.rfind(' ');
    if (sp != std::string::npos) out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
  }
  return out;
}

std::vector<v1::Event> alerts_of(const std::vector<v1::Event>& evs, const std::string& rule) {
  std::vector<v1::Event> out;
  for (const auto& e : of_kind(evs, v1::Event::ALERT))
    if (e.alert().rule_id() == rule) out.push_back(e);
  return out;
}

// The issue's "done when": run the agent, tail it, see PagerDuty-shaped alerts arrive with stable
// dedup keys, kill -9 and restart the agent without losing an alert or breaking the audit chain,
// scrape the metrics.
TEST_F(Outputs, TailPagerDutyAuditAndMetricsAcrossAKillAndRestart) {
  TestCgroup cg("outputs");
  FakePagerDuty pagerduty(kKey);
  ASSERT_TRUE(pagerduty.ok());
  pagerduty.answer_by_default(Answer::kServerError);  // PagerDuty is down while the first agent runs
  const std::string key_file = dir_ + "/pagerduty.key";
  write_file(key_file, std::string(kKey) + "\n");
  ASSERT_EQ(chmod(key_file.c_str(), 0600), 0);
  const std::string a = dir_ + "/a.secret", b = dir_ + "/b.secret";
  write_file(a, "a\n");
  write_file(b, "b\n");
  const std::string target = dir_ + "/cf-e2e-out";
  ASSERT_EQ(symlink("/bin/sh", target.c_str()), 0);
  const std::string rules = dir_ + "/rules.yaml";
  write_file(rules, "version: 1\nmode: monitor\n"
                    "targets:\n  - name: out-target\n    match:\n      - comm: [cf-e2e-out]\n"
                    "files:\n  deny:\n"
                    "    - { id: out-secret-a, path: [\"" + a + "\"], severity: critical }\n"
                    "    - { id: out-secret-b, path: [\"" + b + "\"], severity: warning }\n");
  const std::vector<std::string> extra = {"--audit-all", "--pagerduty-url", pagerduty.url(), "--pagerduty-key-file",
                                          key_file, "--pagerduty-spool", dir_ + "/spool", "--pagerduty-severity",
                                          "warning"};
  const std::string log1 = dir_ + "/agent1.log", log2 = dir_ + "/agent2.log";
  auto agent1 = std::make_unique<Child>(agent_argv(rules, cg.path(), extra), "", log1);
  ASSERT_TRUE(wait_log(log1, "watching:")) << read_file(log1);
  const int port1 = metrics_port(log1);
  ASSERT_GT(port1, 0) << read_file(log1);

  // Three tail clients: alerts as JSON (until 3 + 1 alerts, across the restart), the file
  // operations of `cat` as JSON, alerts as text lines.
  const std::string tail_alerts = dir_ + "/tail-alerts.jsonl", tail_files = dir_ + "/tail-files.jsonl",
                    tail_text = dir_ + "/tail-text.txt", tail_err = dir_ + "/tail-alerts.err";
  Child t1(tail_argv({"-o", "json", "--kind", "alert", "--count", "4"}), tail_alerts, tail_err);
  Child t2(tail_argv({"-o", "json", "--kind", "file", "--process", "cat"}), tail_files, dir_ + "/tail-files.err");
  Child t3(tail_argv({"--kind", "alert", "--count", "4"}), tail_text, dir_ + "/tail-text.err");
  ASSERT_TRUE(eventually([&] { return scrape(port1)["clawfence_tail_clients"] == 3; }, seconds(10)))
      << read_file(log1);

  // Secret-file reads: a twice (two processes, one incident), b once.
  ASSERT_EQ(run({target, "-c", "cat " + a + " >/dev/null; cat " + b + " >/dev/null; cat " + a + " >/dev/null"},
                seconds(10), cg.path()),
            0);
  ASSERT_TRUE(eventually([&] { return alerts_of(read_events(out_), "out-secret-a").size() == 2 &&
                                      alerts_of(read_events(out_), "out-secret-b").size() == 1; },
                         seconds(10)))
      << read_file(log1);
  // In the spool, offered to PagerDuty, refused with 500, waiting.
  ASSERT_TRUE(eventually([&] { return scrape(port1)["clawfence_pagerduty_spooled"] == 3 && !pagerduty.received().empty(); },
                         seconds(10)));
  auto m = scrape(port1);
  EXPECT_EQ(m["clawfence_alerts_total{rule=\"out-secret-a\",severity=\"critical\"}"], 2);
  EXPECT_EQ(m["clawfence_alerts_total{rule=\"out-secret-b\",severity=\"warning\"}"], 1);
  EXPECT_GE(m["clawfence_events_total{kind=\"file\"}"], 3);
  EXPECT_GE(m["clawfence_events_total{kind=\"exec\"}"], 4);
  EXPECT_EQ(m["clawfence_events_total{kind=\"agent\"}"], 1);  // its start
  EXPECT_GT(m["clawfence_audit_records_total"], 5);
  EXPECT_GE(m["clawfence_pagerduty_failed_attempts_total"], 1);
  EXPECT_EQ(m["clawfence_pagerduty_events_total{result=\"sent\"}"], 0);
  EXPECT_GT(m["clawfence_kernel_records_total"], 0);
  EXPECT_EQ(m["clawfence_kernel_records_lost_total"], 0);

  // kill -9: no stop note, no flush; PagerDuty comes back while no agent runs.
  agent1->signal(SIGKILL);
  EXPECT_EQ(agent1->wait(seconds(10)), 128 + SIGKILL);
  agent1.reset();
  pagerduty.answer_by_default(Answer::kAccept);
  auto agent2 = std::make_unique<Child>(agent_argv(rules, cg.path(), extra), "", log2);
  ASSERT_TRUE(wait_log(log2, "watching:")) << read_file(log2);
  EXPECT_NE(read_file(log2).find("3 alerts from before waiting"), std::string::npos) << read_file(log2);
  const int port2 = metrics_port(log2);
  // the tail clients find the new agent by themselves
  ASSERT_TRUE(eventually([&] { return scrape(port2)["clawfence_tail_clients"] == 3; }, seconds(10)))
      << read_file(tail_err);
  ASSERT_EQ(run({target, "-c", "cat " + b + " >/dev/null"}, seconds(10), cg.path()), 0);

  // Every alert reaches PagerDuty once, and repeats share their incident.
  ASSERT_TRUE(eventually(
      [&] {
        int n = 0;
        for (const auto& [k, c] : pagerduty.accepted_by_key()) n += c;
        return n == 4;
      },
      seconds(20)))
      << read_file(log2);
  EXPECT_TRUE(pagerduty.schema_errors().empty());
  std::map<std::string, std::set<std::string>> keys_by_rule;
  std::map<std::string, int> accepted_by_rule;
  for (const auto& r : pagerduty.received()) {
    keys_by_rule[r.rule_id].insert(r.dedup_key);
    if (r.answer == Answer::kAccept) ++accepted_by_rule[r.rule_id];
  }
  EXPECT_EQ(accepted_by_rule["out-secret-a"], 2);
  EXPECT_EQ(accepted_by_rule["out-secret-b"], 2);
  ASSERT_EQ(keys_by_rule["out-secret-a"].size(), 1u);  // one incident per rule, host and subject
  ASSERT_EQ(keys_by_rule["out-secret-b"].size(), 1u);
  const std::string key_a = *keys_by_rule["out-secret-a"].begin();
  EXPECT_EQ(key_a.rfind("clawfence/out-secret-a/", 0), 0u) << key_a;
  EXPECT_NE(key_a, *keys_by_rule["out-secret-b"].begin());
  for (const auto& r : pagerduty.received()) {
    if (r.rule_id == "out-secret-a") {
      EXPECT_EQ(r.severity, "critical");
    }
  }
  m = scrape(port2);
  EXPECT_EQ(m["clawfence_pagerduty_events_total{result=\"sent\"}"], 4);
  EXPECT_EQ(m["clawfence_pagerduty_spooled"], 0);

  // The alert tails saw all four alerts, across the restart, each once; the file tail saw only
  // `cat`'s file operations, the secret reads among them.
  EXPECT_EQ(t1.wait(seconds(20)), 0) << read_file(tail_err);
  EXPECT_EQ(t3.wait(seconds(20)), 0);
  auto seen = read_events(tail_alerts);
  ASSERT_EQ(seen.size(), 4u) << read_file(tail_alerts);
  EXPECT_EQ(alerts_of(seen, "out-secret-a").size(), 2u);
  EXPECT_EQ(alerts_of(seen, "out-secret-b").size(), 2u);
  EXPECT_NE(read_file(tail_err).find("retrying"), std::string::npos) << read_file(tail_err);
  const std::string text = read_file(tail_text);
  EXPECT_NE(text.find("critical"), std::string::npos) << text;
  EXPECT_NE(text.find("out-secret-a"), std::string::npos) << text;
  EXPECT_NE(text.find(a), std::string::npos) << text;
  t2.signal(SIGINT);
  t2.wait(seconds(10));
  auto files = read_events(tail_files);
  ASSERT_FALSE(files.empty());
  std::set<std::string> paths;
  for (const auto& e : files) {
    EXPECT_EQ(e.kind(), v1::Event::FILE) << e.DebugString();
    EXPECT_EQ(e.process().comm(), "cat") << e.DebugString();
    paths.insert(e.file().path());
  }
  EXPECT_TRUE(paths.count(a) && paths.count(b)) << read_file(tail_files);

  agent2->signal(SIGINT);
  EXPECT_EQ(agent2->wait(seconds(20)), 0) << read_file(log2);

  // One chain over both agents: start, the first agent's events (no stop: it was killed), start,
  // the rest, stop.
  std::vector<std::string> audit_files;
  if (DIR* d = opendir((dir_ + "/audit").c_str())) {
    while (dirent* e = readdir(d))
      if (std::string(e->d_name).find(".jsonl") != std::string::npos) audit_files.push_back(dir_ + "/audit/" + e->d_name);
    closedir(d);
  }
  ASSERT_FALSE(audit_files.empty());
  std::vector<std::string> verify = {bin_, "audit", "verify"};
  verify.insert(verify.end(), audit_files.begin(), audit_files.end());
  EXPECT_EQ(run(verify, seconds(30)), 0);
  std::vector<std::string> notes;
  int audited_alerts = 0;
  std::istringstream audit(read_file(dir_ + "/audit/audit.jsonl"));
  for (std::string line; std::getline(audit, line);) {
    if (line.find("\"kind\":\"AGENT\"") != std::string::npos) {
      std::smatch what;
      static const std::regex re(R"re("what":"([a-z_]+)")re");
      if (std::regex_search(line, what, re)) notes.push_back(what[1]);
    }
    if (line.find("\"kind\":\"ALERT\"") != std::string::npos) ++audited_alerts;
  }
  EXPECT_EQ(notes, (std::vector<std::string>{"start", "start", "stop"}));
  EXPECT_EQ(audited_alerts, 4);
  // the routing key is nowhere but in its file
  for (const auto& f : {log1, log2, out_, tail_alerts, tail_text, dir_ + "/audit/audit.jsonl"})
    EXPECT_EQ(read_file(f).find(kKey), std::string::npos) << f;
}

// A tampered audit log is named by `clawfence audit verify`: the file, the line, the record and why.
TEST_F(Outputs, AuditVerifyNamesTheEditedRecord) {
  TestCgroup cg("audit");
  const std::string rules = dir_ + "/rules.yaml";
  write_file(rules, "version: 1\nmode: monitor\ntargets:\n  - name: t\n    match:\n      - comm: [cf-e2e-audit]\n");
  for (int i = 0; i < 2; ++i) {  // two agents: one chain
    const std::string log = dir_ + "/agent" + std::to_string(i) + ".log";
    Child agent(agent_argv(rules, cg.path(), {}), "", log);
    ASSERT_TRUE(wait_log(log, "watching:")) << read_file(log);
    agent.signal(SIGINT);
    ASSERT_EQ(agent.wait(seconds(20)), 0) << read_file(log);
  }
  const std::string file = dir_ + "/audit/audit.jsonl";
  const std::string err = dir_ + "/verify.err";
  EXPECT_EQ(run({"sh", "-c", bin_ + " audit verify " + file + " > " + dir_ + "/verify.out 2>" + err}, seconds(20)), 0);
  EXPECT_NE(read_file(dir_ + "/verify.out").find("4 records"), std::string::npos) << read_file(dir_ + "/verify.out");
  // the second agent's start note now says it started in enforce mode
  std::string text = read_file(file);
  size_t third = 0;
  for (int n = 0; n < 2; ++n) third = text.find('\n', third) + 1;
  size_t mode = text.find("\"mode\":\"monitor\"", third);
  ASSERT_NE(mode, std::string::npos);
  text.replace(mode, 16, "\"mode\":\"enforce\"");
  write_file(file, text);
  EXPECT_EQ(run({"sh", "-c", bin_ + " audit verify " + file + " > /dev/null 2>" + err}, seconds(20)), 1);
  EXPECT_NE(read_file(err).find(file + ":3: record seq 3"), std::string::npos) << read_file(err);
  EXPECT_NE(read_file(err).find("edited"), std::string::npos) << read_file(err);
}

}  // namespace
}  // namespace clawfence::testing
