#include "output/metrics.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <regex>
#include <sstream>

namespace clawfence::output {
namespace {

// Parses a Prometheus text exposition strictly enough to catch format mistakes: every sample's
// family has HELP and TYPE lines first, names and labels are well-formed, values are numbers.
// Returns "name{labels}" → value.
std::map<std::string, double> parse_exposition(const std::string& text, std::string* error) {
  static const std::regex help(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*$)");
  static const std::regex type(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|untyped)$)");
  static const std::regex sample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*)\})? ([-+0-9.eE]+|NaN|[+-]Inf)$)");
  std::map<std::string, double> out;
  std::map<std::string, int> seen;  // family → 1 HELP, 2 TYPE
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    std::smatch m;
    if (std::regex_match(line, m, help)) {
      seen[m[1]] = 1;
    } else if (std::regex_match(line, m, type)) {
      if (seen[m[1]] != 1) *error = "line " + std::to_string(n) + ": TYPE without HELP";
      seen[m[1]] = 2;
    } else if (std::regex_match(line, m, sample)) {
      if (seen[m[1]] != 2) *error = "line " + std::to_string(n) + ": sample before its TYPE";
      out[m[1].str() + m[2].str()] = std::stod(m[7]);
    } else {
      *error = "line " + std::to_string(n) + " is not exposition format: " + line;
    }
  }
  return out;
}

v1::Event alert(const std::string& rule, const std::string& severity, const std::string& outcome) {
  v1::Event ev;
  ev.set_kind(v1::Event::ALERT);
  ev.mutable_alert()->set_rule_id(rule);
  ev.mutable_alert()->set_severity(severity);
  ev.mutable_alert()->set_outcome(outcome);
  return ev;
}

TEST(Metrics, CountsEventsAlertsAndGapsFromTheStream) {
  Metrics m;
  v1::Event exec;
  exec.set_kind(v1::Event::EXEC);
  for (int i = 0; i < 3; ++i) m.write(exec);
  m.write(alert("ssh-keys", "critical", "killed"));
  m.write(alert("ssh-keys", "critical", "killed"));
  m.write(alert("unapproved-egress", "error", "blocked"));
  v1::Event gap;
  gap.set_kind(v1::Event::GAP);
  gap.mutable_gap()->set_where("tail_client");
  gap.mutable_gap()->set_lost(41);
  m.write(gap);
  gap.mutable_gap()->set_lost(1);
  m.write(gap);

  std::string err;
  auto s = parse_exposition(m.render(), &err);
  ASSERT_EQ(err, "") << m.render();
  EXPECT_EQ(s["clawfence_events_total{kind=\"exec\"}"], 3);
  EXPECT_EQ(s["clawfence_events_total{kind=\"alert\"}"], 3);
  EXPECT_EQ(s["clawfence_events_total{kind=\"net\"}"], 0);
  EXPECT_EQ(s["clawfence_alerts_total{rule=\"ssh-keys\",severity=\"critical\"}"], 2);
  EXPECT_EQ(s["clawfence_alerts_total{rule=\"unapproved-egress\",severity=\"error\"}"], 1);
  EXPECT_EQ(s["clawfence_alert_outcomes_total{outcome=\"killed\"}"], 2);
  EXPECT_EQ(s["clawfence_records_lost_total{where=\"tail_client\"}"], 42);
}

TEST(Metrics, FamiliesAreReadAtScrapeTimeAndLabelsEscaped) {
  Metrics m;
  double v = 1;
  m.add_family("clawfence_test_gauge", "gauge", "A test gauge.\nSecond line.", [&v] {
    return std::vector<Sample>{{{{"path", "C:\\dir \"q\"\nx"}}, v}, {{}, 0.25}};
  });
  std::string err;
  auto s = parse_exposition(m.render(), &err);
  ASSERT_EQ(err, "") << m.render();
  EXPECT_EQ(s["clawfence_test_gauge{path=\"C:\\\\dir \\\"q\\\"\\nx\"}"], 1) << m.render();
  EXPECT_EQ(s["clawfence_test_gauge"], 0.25);
  v = 7;
  s = parse_exposition(m.render(), &err);
  EXPECT_EQ(s["clawfence_test_gauge{path=\"C:\\\\dir \\\"q\\\"\\nx\"}"], 7);
  EXPECT_NE(m.render().find("# HELP clawfence_test_gauge A test gauge.\\nSecond line.\n"), std::string::npos);
}

TEST(Metrics, ListenAddresses) {
  std::string h;
  int p = -1;
  EXPECT_TRUE(parse_listen_address("127.0.0.1:9464", &h, &p));
  EXPECT_EQ(h, "127.0.0.1");
  EXPECT_EQ(p, 9464);
  EXPECT_TRUE(parse_listen_address("[::1]:0", &h, &p));
  EXPECT_EQ(h, "::1");
  EXPECT_EQ(p, 0);
  for (const char* bad : {"", "9464", "127.0.0.1", "127.0.0.1:", ":9464", "::1:9464", "[::1]9464", "h:99999", "h:9a"})
    EXPECT_FALSE(parse_listen_address(bad, &h, &p)) << bad;
}

TEST(Metrics, ServesMetricsAndHealthOverHttp) {
  Metrics m;
  std::string why;
  m.set_health([&why] { return why; });
  ASSERT_EQ(m.serve("127.0.0.1:0"), "");
  ASSERT_GT(m.port(), 0);
  httplib::Client c("127.0.0.1", m.port());
  c.set_connection_timeout(5);
  c.set_read_timeout(5);
  v1::Event exec;
  exec.set_kind(v1::Event::EXEC);
  m.write(exec);
  auto r = c.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  std::string err;
  auto s = parse_exposition(r->body, &err);
  EXPECT_EQ(err, "");
  EXPECT_EQ(s["clawfence_events_total{kind=\"exec\"}"], 1);
  r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  why = "the event pipeline has not turned for 9 s";
  r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, why + "\n");
  r = c.Get("/nothing");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  m.stop();
}

TEST(Metrics, ABusyAddressIsAnError) {
  Metrics a, b;
  ASSERT_EQ(a.serve("127.0.0.1:0"), "");
  std::string err = b.serve("127.0.0.1:" + std::to_string(a.port()));
  EXPECT_NE(err.find("cannot listen for metrics on 127.0.0.1:"), std::string::npos) << err;
  Metrics c;
  EXPECT_NE(c.serve("localhost"), "");
  EXPECT_EQ(a.serve("127.0.0.1:0"), "metrics are already served");
}

}  // namespace
}  // namespace clawfence::output
