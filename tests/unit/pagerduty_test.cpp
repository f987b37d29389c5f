// PagerDuty forwarder against a real HTTP server on 127.0.0.1 (a port the kernel picks) that
// checks every request against the Events API v2 schema and answers as a test scripts it: 202,
// 400, 429, 500, or not at all (longer than the client's timeout). Dedup keys, the spool on disk,
// retries with backoff, the rate limit, restarts (also after kill -9), the bound, resolve, the
// routing key's handling and `clawfence alert test`.
#include "output/pagerduty.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "app/alert_cmd.h"
#include "output/json_lines.h"
#include "fake_pagerduty.h"
#include "temp_dir.h"

namespace clawfence::output {
namespace {

using clawfence::testing::Answer;
using clawfence::testing::FakePagerDuty;
using clawfence::testing::Received;
using clawfence::testing::TempDir;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kKey = "R0utingKey-7f3a9c01d2e4b5a6";
constexpr const char* kKeyEnv = "CLAWFENCE_PD_TEST_KEY";

int64_t ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

// Polls `done` every few milliseconds for at most `limit`.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
  const auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

// A TCP port on 127.0.0.1 that refuses connections: bound, never listening, held until the end.
class RefusedPort {
 public:
  RefusedPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port_ = ntohs(a.sin_port);
    }
  }
  ~RefusedPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v2/enqueue"; }
  bool ok() const { return port_ > 0; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// ---- helpers ----------------------------------------------------------------------------------

v1::Event alert_event(const std::string& rule, const std::string& path, uint32_t pid = 4242,
                      const std::string& severity = "error", const std::string& target = "openclaw") {
  v1::Event ev;
  ev.mutable_time()->set_seconds(1700000000);
  ev.mutable_time()->set_nanos(5);
  ev.set_kind(v1::Event::ALERT);
  v1::Process* p = ev.mutable_process();
  p->set_pid(pid);
  p->set_comm("bash");
  p->set_exe("/usr/bin/bash");
  p->set_target(target);
  auto* parent = p->add_lineage();
  parent->set_pid(100);
  parent->set_comm("openclaw-gatewa");
  v1::Alert* a = ev.mutable_alert();
  a->set_rule_id(rule);
  a->set_severity(severity);
  a->set_action("alert");
  a->set_outcome("alerted");
  a->set_description("secret file read");
  a->set_role("tool");
  a->mutable_evidence()->set_path(path);
  return ev;
}

std::string marker(int i) { return "/home/u/.ssh/key-" + std::to_string(i); }

std::vector<std::string> dir_names(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

size_t count_suffix(const std::string& dir, const std::string& suffix) {
  size_t n = 0;
  for (const auto& name : dir_names(dir)) {
    n += name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  }
  return n;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Events an output reported about itself.
class Reports {
 public:
  Report sink() {
    return [this](v1::Event ev) {
      std::lock_guard<std::mutex> lock(mutex_);
      events_.push_back(std::move(ev));
    };
  }
  std::vector<v1::Event> of_kind(v1::Event::Kind kind) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<v1::Event> out;
    for (const auto& e : events_) {
      if (e.kind() == kind) out.push_back(e);
    }
    return out;
  }
  std::string all_json() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string out;
    for (const auto& e : events_) out += to_json(e) + "\n";
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<v1::Event> events_;
};

class PagerDutyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.ok());
    setenv(kKeyEnv, kKey, 1);
  }
  void TearDown() override { unsetenv(kKeyEnv); }

  PagerDutyOptions options() const {
    PagerDutyOptions o;
    o.url = server_.url();
    o.key_env = kKeyEnv;
    o.spool_dir = tmp_ / "spool";
    o.host = "test-host";
    o.backoff_initial = 20ms;
    o.backoff_max = 200ms;
    o.timeout = 1000ms;
    return o;
  }
  std::unique_ptr<PagerDutyForwarder> open(const PagerDutyOptions& o) {
    std::string err;
    auto fw = PagerDutyForwarder::open(o, reports_.sink(), &err);
    EXPECT_TRUE(fw) << err;
    return fw;
  }

  TempDir tmp_;
  FakePagerDuty server_{kKey};
  Reports reports_;
};

// ---- building events ----------------------------------------------------------------------------

TEST(PagerDutyDedup, StableForRepeatsDifferentForOtherSubjectsRulesHostsTargets) {
  const v1::Event a = alert_event("ssh-keys", "/home/u/.ssh/id_ed25519", 10);
  v1::Event repeat = alert_event("ssh-keys", "/home/u/.ssh/id_ed25519", 99);
  repeat.mutable_time()->set_seconds(1800000000);
  repeat.mutable_process()->set_comm("python3");
  const std::string key = dedup_key(a, "host-a");
  EXPECT_EQ(key, dedup_key(repeat, "host-a"));
  EXPECT_EQ(key.rfind("clawfence/ssh-keys/host-a/", 0), 0u) << key;
  EXPECT_EQ(key.size(), std::string("clawfence/ssh-keys/host-a/").size() + 16) << key;
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef", key.size() - 16), std::string::npos) << key;

  EXPECT_NE(key, dedup_key(alert_event("ssh-keys", "/home/u/.ssh/id_rsa"), "host-a"));
  EXPECT_NE(key, dedup_key(alert_event("other-rule", "/home/u/.ssh/id_ed25519"), "host-a"));
  EXPECT_NE(key, dedup_key(a, "host-b"));
  EXPECT_NE(key, dedup_key(alert_event("ssh-keys", "/home/u/.ssh/id_ed25519", 10, "error", "other-target"), "host-a"));

  // Network: the hostname is the subject when known; the address is not then.
  v1::Event n1 = alert_event("egress", "");
  n1.mutable_alert()->mutable_evidence()->set_hostname("evil.example");
  n1.mutable_alert()->mutable_evidence()->set_address("203.0.113.5");
  v1::Event n2 = n1;
  n2.mutable_alert()->mutable_evidence()->set_address("203.0.113.6");
  v1::Event n3 = n1;
  n3.mutable_alert()->mutable_evidence()->set_hostname("other.example");
  EXPECT_EQ(dedup_key(n1, "h"), dedup_key(n2, "h"));
  EXPECT_NE(dedup_key(n1, "h"), dedup_key(n3, "h"));
  // A file path and an exe with the same text are different subjects.
  v1::Event x = alert_event("r", "");
  x.mutable_alert()->mutable_evidence()->set_exe("/usr/bin/curl");
  EXPECT_NE(dedup_key(x, "h"), dedup_key(alert_event("r", "/usr/bin/curl"), "h"));

  // Long rule ids and host names still give a key PagerDuty takes.
  EXPECT_LE(dedup_key(alert_event(std::string(400, 'r'), "/x"), std::string(300, 'h')).size(), 255u);
}

TEST(PagerDutyTrigger, FieldsFromTheAlertAndSummaryCutOnACharacterBoundary) {
  v1::Event ev = alert_event("ssh-keys", "/home/u/.ssh/id_rsa", 4242, "critical");
  ev.mutable_enforcement()->set_verdict("killed");
  const v1::PagerDutyEvent t = build_trigger(ev, "web-1");
  EXPECT_EQ(t.event_action(), "trigger");
  EXPECT_EQ(t.routing_key(), "");
  EXPECT_EQ(t.client(), "clawfence");
  EXPECT_EQ(t.dedup_key(), dedup_key(ev, "web-1"));
  const v1::PagerDutyPayload& p = t.payload();
  EXPECT_EQ(p.summary(), "[web-1] ssh-keys: secret file read \xE2\x80\x94 /home/u/.ssh/id_rsa by bash (pid 4242)");
  EXPECT_EQ(p.source(), "web-1");
  EXPECT_EQ(p.severity(), "critical");
  EXPECT_EQ(p.timestamp().seconds(), 1700000000);
  EXPECT_EQ(p.component(), "bash");
  EXPECT_EQ(p.group(), "tool");
  EXPECT_EQ(p.class_(), "file");
  EXPECT_EQ(p.custom_details().alert().rule_id(), "ssh-keys");
  EXPECT_EQ(p.custom_details().process().lineage_size(), 1);
  EXPECT_EQ(p.custom_details().host(), "web-1");
  EXPECT_EQ(p.custom_details().enforcement().verdict(), "killed");

  // 3-byte characters across the 1024-byte limit: cut before the character, never inside it.
  std::string long_text;
  while (long_text.size() < 3000) long_text += "\xE2\x82\xAC";  // euro sign
  ev.mutable_alert()->set_description(long_text);
  const std::string s = build_trigger(ev, "web-1").payload().summary();
  EXPECT_LE(s.size(), 1024u);
  EXPECT_GE(s.size(), 1021u);
  EXPECT_EQ(s.rfind("[web-1] ssh-keys: \xE2\x82\xAC", 0), 0u);
  EXPECT_NE(static_cast<unsigned char>(s.back()) & 0xC0, 0xC0u);  // no lead byte left dangling
  EXPECT_EQ((s.size() - std::string("[web-1] ssh-keys: ").size()) % 3, 0u);

  // An unknown severity pages as an error rather than being refused by PagerDuty.
  ev.mutable_alert()->set_severity("urgent");
  EXPECT_EQ(build_trigger(ev, "h").payload().severity(), "error");
}

// ---- configuration -------------------------------------------------------------------------------

TEST(PagerDutyKey, FileMustBePrivateAndWinsOverTheEnvironment) {
  TempDir tmp;
  PagerDutyOptions o;
  o.key_env = kKeyEnv;
  o.key_file = tmp.write("key", std::string("  ") + kKey + "\n");
  std::string key;

  ::chmod(o.key_file.c_str(), 0644);
  std::string err = load_routing_key(o, &key);
  EXPECT_NE(err.find(o.key_file), std::string::npos) << err;
  EXPECT_NE(err.find("0644"), std::string::npos) << err;
  EXPECT_EQ(err.find(kKey), std::string::npos) << err;
  EXPECT_EQ(key, "");

  ::chmod(o.key_file.c_str(), 0600);
  setenv(kKeyEnv, "from-the-environment", 1);
  EXPECT_EQ(load_routing_key(o, &key), "");
  EXPECT_EQ(key, kKey);  // trimmed, and the file won

  o.key_file.clear();
  EXPECT_EQ(load_routing_key(o, &key), "");
  EXPECT_EQ(key, "from-the-environment");

  setenv(kKeyEnv, "  \n", 1);
  EXPECT_NE(load_routing_key(o, &key), "");
  unsetenv(kKeyEnv);
  err = load_routing_key(o, &key);
  EXPECT_NE(err.find(kKeyEnv), std::string::npos) << err;

  o.key_file = tmp.mkdirs("a-directory");
  ::chmod(o.key_file.c_str(), 0700);
  EXPECT_NE(load_routing_key(o, &key).find("not a regular file"), std::string::npos);
  o.key_file = tmp.write("empty", "\n");
  ::chmod(o.key_file.c_str(), 0600);
  EXPECT_NE(load_routing_key(o, &key), "");
  o.key_file = tmp / "missing";
  EXPECT_NE(load_routing_key(o, &key).find(o.key_file), std::string::npos);
}

TEST(PagerDutyEndpoint, PlainHttpOnlyToLoopback) {
  EXPECT_EQ(check_endpoint("https://events.pagerduty.com/v2/enqueue"), "");
  EXPECT_EQ(check_endpoint("https://events.eu.pagerduty.com/v2/enqueue"), "");
  bool loopback = false;
  EXPECT_EQ(check_endpoint("http://127.0.0.1:8080/v2/enqueue", &loopback), "");
  EXPECT_TRUE(loopback);
  EXPECT_EQ(check_endpoint("http://127.9.8.7/v2/enqueue"), "");
  EXPECT_EQ(check_endpoint("http://[::1]:9/v2/enqueue"), "");
  EXPECT_EQ(check_endpoint("http://LocalHost:9/v2/enqueue"), "");
  EXPECT_NE(check_endpoint("http://events.pagerduty.com/v2/enqueue"), "");
  EXPECT_NE(check_endpoint("http://10.0.0.1/v2/enqueue"), "");
  EXPECT_NE(check_endpoint("http://128.0.0.1/v2/enqueue"), "");
  EXPECT_NE(check_endpoint("http://[::2]/v2/enqueue"), "");
  EXPECT_NE(check_endpoint("ftp://127.0.0.1/x"), "");
  EXPECT_NE(check_endpoint("events.pagerduty.com/v2/enqueue"), "");

  TempDir tmp;
  setenv(kKeyEnv, kKey, 1);
  PagerDutyOptions o;
  o.key_env = kKeyEnv;
  o.spool_dir = tmp / "spool";
  o.url = "http://events.pagerduty.com/v2/enqueue";
  std::string err;
  EXPECT_EQ(PagerDutyForwarder::open(o, nullptr, &err), nullptr);
  EXPECT_NE(err.find("https"), std::string::npos) << err;
  o.url = "https://events.eu.pagerduty.com/v2/enqueue";
  o.min_severity = "severe";
  EXPECT_EQ(PagerDutyForwarder::open(o, nullptr, &err), nullptr);
  EXPECT_NE(err.find("severe"), std::string::npos) << err;
  unsetenv(kKeyEnv);
}

// ---- delivery ------------------------------------------------------------------------------------

TEST_F(PagerDutyTest, SpoolsFirstThenDeliversAndDeletesTheFile) {
  server_.answer_by_default(Answer::kServerError);
  PagerDutyOptions o = options();
  o.backoff_initial = 100ms;
  auto fw = open(o);
  ASSERT_TRUE(fw);
  fw->write(alert_event("ssh-keys", marker(1)));
  // Below min_severity (error), or not an alert: not for PagerDuty.
  fw->write(alert_event("ssh-keys", marker(2), 1, "warning"));
  v1::Event not_alert = alert_event("ssh-keys", marker(3));
  not_alert.set_kind(v1::Event::FILE);
  fw->write(not_alert);

  // Written before write() returned: one entry, private, without the routing key.
  const std::vector<std::string> names = dir_names(o.spool_dir);
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0], "00000000000000000001.pb");
  struct stat st {};
  ASSERT_EQ(::stat((o.spool_dir + "/" + names[0]).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(o.spool_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  const std::string bytes = read_file(o.spool_dir + "/" + names[0]);
  EXPECT_EQ(bytes.find(kKey), std::string::npos);
  v1::SpoolEntry entry;
  ASSERT_TRUE(entry.ParseFromString(bytes));
  EXPECT_EQ(entry.id(), 1u);
  EXPECT_EQ(entry.event().dedup_key(), dedup_key(alert_event("ssh-keys", marker(1)), "test-host"));
  EXPECT_EQ(entry.event().routing_key(), "");

  ASSERT_TRUE(eventually([&] { return !server_.received().empty(); }));
  server_.answer_by_default(Answer::kAccept);
  ASSERT_TRUE(eventually([&] { return fw->stats().sent == 1; }));
  EXPECT_TRUE(dir_names(o.spool_dir).empty());
  EXPECT_EQ(fw->stats().spooled, 0u);

  const auto received = server_.received();
  EXPECT_TRUE(server_.schema_errors().empty()) << server_.schema_errors().front();
  ASSERT_GE(received.size(), 2u);
  for (const auto& r : received) EXPECT_EQ(r.marker, marker(1));  // the warning never went
  EXPECT_EQ(received.back().summary, "[test-host] ssh-keys: secret file read \xE2\x80\x94 " + marker(1) +
                                         " by bash (pid 4242)");
  EXPECT_EQ(fw->stats().failed_attempts, received.size() - 1);
}

TEST_F(PagerDutyTest, RefusedEventIsNotRetriedAndIsReported) {
  server_.answer_next({Answer::kReject});
  auto fw = open(options());
  ASSERT_TRUE(fw);
  fw->write(alert_event("rule-a", marker(1)));
  fw->write(alert_event("rule-b", marker(2)));
  ASSERT_TRUE(eventually([&] { return fw->stats().sent == 1; }));
  std::this_thread::sleep_for(100ms);  // several backoff periods: a retry would show by now

  const auto received = server_.received();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].marker, marker(1));
  EXPECT_EQ(received[1].marker, marker(2));
  const auto stats = fw->stats();
  EXPECT_EQ(stats.rejected, 1u);
  EXPECT_EQ(stats.retries, 0u);
  EXPECT_EQ(stats.spooled, 0u);
  const auto notes = reports_.of_kind(v1::Event::AGENT);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0].agent().what(), "pagerduty_rejected");
  EXPECT_NE(notes[0].agent().detail().find("rule-a"), std::string::npos) << notes[0].agent().detail();
  EXPECT_NE(notes[0].agent().detail().find("Event object is invalid"), std::string::npos) << notes[0].agent().detail();
  EXPECT_EQ(notes[0].agent().detail().find(kKey), std::string::npos);
  EXPECT_EQ(notes[0].agent().count(), 1u);
}

// A 404 (a wrong URL, a proxy in the way) says nothing of the event: kept and retried, so
// fixing the endpoint delivers it.
TEST_F(PagerDutyTest, NotFoundIsAnEndpointProblemAndIsRetried) {
  server_.answer_next({Answer::kNotFound, Answer::kNotFound});
  PagerDutyOptions o = options();
  o.backoff_initial = 20ms;
  auto fw = open(o);
  ASSERT_TRUE(fw);
  fw->write(alert_event("rule-a", marker(1)));
  ASSERT_TRUE(eventually([&] { return fw->stats().sent == 1; }));
  EXPECT_EQ(server_.received().size(), 3u);
  EXPECT_EQ(fw->stats().rejected, 0u);
  EXPECT_EQ(fw->stats().failed_attempts, 2u);
  EXPECT_TRUE(reports_.of_kind(v1::Event::AGENT).empty());
}

TEST_F(PagerDutyTest, ThrottledFailedAndHangingRequestsAreRetriedWithGrowingBackoff) {
  server_.answer_next({Answer::kServerError, Answer::kTooMany, Answer::kHang, Answer::kServerError});
  PagerDutyOptions o = options();
  o.backoff_initial = 40ms;
  o.backoff_max = 2000ms;
  o.timeout = 300ms;
  auto fw = open(o);
  ASSERT_TRUE(fw);
  fw->write(alert_event("ssh-keys", marker(1)));
  ASSERT_TRUE(eventually([&] { return fw->stats().sent == 1; }));

  const auto r = server_.received();
  ASSERT_EQ(r.size(), 5u);
  for (const auto& x : r) EXPECT_EQ(x.dedup_key, r[0].dedup_key);
  // After the k-th failure the wait is 40 ms * 2^(k-1), jittered within its upper half.
  EXPECT_GE(ms_between(r[0].at, r[1].at), 20);
  EXPECT_GE(ms_between(r[1].at, r[2].at), 40);
  EXPECT_GE(ms_between(r[2].at, r[3].at), 300 + 80);  // the timeout, then the backoff
  EXPECT_GE(ms_between(r[3].at, r[4].at), 160);
  EXPECT_LT(ms_between(r[0].at, r[4].at), 2500);
  const auto stats = fw->stats();
  EXPECT_EQ(stats.failed_attempts, 4u);
  EXPECT_EQ(stats.retries, 4u);
  EXPECT_EQ(stats.rejected, 0u);
  EXPECT_TRUE(server_.schema_errors().empty());
}

TEST_F(PagerDutyTest, BackoffStopsGrowingAtItsMaximum) {
  server_.answer_next(std::vector<Answer>(6, Answer::kServerError));
  PagerDutyOptions o = options();
  o.backoff_initial = 10ms;
  o.backoff_max = 40ms;
  auto fw = open(o);
  ASSERT_TRUE(fw);
  fw->write(alert_event("ssh-keys", marker(1)));
  ASSERT_TRUE(eventually([&] { return fw->stats().sent == 1; }));
  const auto r = server_.received();
  ASSERT_EQ(r.size(), 7u);
  for (size_t i = 3; i < r.size(); ++i) {
    EXPECT_GE(ms_between(r[i - 1].at, r[i].at), 20) << i;   // at the cap: within [20, 40] ms
    EXPECT_LT(ms_between(r[i - 1].at, r[i].at), 200) << i;  // never the doubled 80, 160, 320 ms
  }
}

TEST_F(PagerDutyTest, HeadOfTheQueueBlocksTheRestSoOrderIsKept) {
  server_.answer_next({Answer::kServerError, Answer::kTooMany, Answer::kServerError});
  auto fw = open(options());
  ASSERT_TRUE(fw);
  for (int i = 0; i < 5; ++i) fw->write(alert_event("ssh-keys", marker(i)));
  ASSERT_TRUE(eventually([&] { return fw->stats().sent == 5; }));
  std::vector<std::string> order;
  for (const auto& r : server_.received()) {
    if (r.answer == Answer::kAccept) order.push_back(r.marker);
  }
  EXPECT_EQ(order, (std::vector<std::string>{marker(0), marker(1), marker(2), marker(3), marker(4)}));
  for (const auto& r : server_.received()) {
    if (r.answer != Answer::kAccept) {
      EXPECT_EQ(r.marker, marker(0));
    }
  }
}

TEST_F(PagerDutyTest, RateLimitHoldsWithinAnyWindow) {
  PagerDutyOptions o = options();
  o.rate_per_minute = 3;
  o.rate_window = 400ms;
  auto fw = open(o);
  ASSERT_TRUE(fw);
  for (int i = 0; i < 8; ++i) fw->write(alert_event("ssh-keys", marker(i)));
  ASSERT_TRUE(eventually([&] { return fw->stats().sent == 8; }));
  const auto r = server_.received();
  ASSERT_EQ(r.size(), 8u);
  // No 4 requests inside one window (a little slack: the server stamps arrival, not sending).
  for (size_t i = 0; i + 3 < r.size(); ++i) EXPECT_GE(ms_between(r[i].at, r[i + 3].at), 380) << i;
  EXPECT_GE(ms_between(r[0].at, r[7].at), 780);
  // ... and not slower than the limit asks: three requests go at once.
  EXPECT_LT(ms_between(r[0].at, r[2].at), 200);
}

// ---- the spool across restarts -------------------------------------------------------------------

TEST_F(PagerDutyTest, SpoolSurvivesARestartAndEveryAlertIsDeliveredOnce) {
  server_.answer_by_default(Answer::kServerError);
  PagerDutyOptions o = options();
  {
    auto fw = open(o);
    ASSERT_TRUE(fw);
    for (int i = 0; i < 20; ++i) fw->write(alert_event("ssh-keys", marker(i), 1000 + i));
    ASSERT_TRUE(eventually([&] { return server_.received().size() >= 3; }));
    EXPECT_EQ(fw->stats().sent, 0u);
    EXPECT_EQ(fw->stats().spooled, 20u);
  }  // gone without delivering anything
  EXPECT_EQ(count_suffix(o.spool_dir, ".pb"), 20u);

  server_.answer_by_default(Answer::kAccept);
  auto fw = open(o);
  ASSERT_TRUE(fw);
  ASSERT_TRUE(eventually([&] { return fw->stats().sent == 20; }));
  const auto by_marker = server_.accepted_by_marker();
  ASSERT_EQ(by_marker.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(by_marker.at(marker(i)), 1) << marker(i);
  const auto by_key = server_.accepted_by_key();
  EXPECT_EQ(by_key.size(), 20u);
  for (const auto& [key, n] : by_key) EXPECT_EQ(n, 1) << key;
  EXPECT_TRUE(dir_names(o.spool_dir).empty());
  EXPECT_TRUE(server_.schema_errors().empty());

  // New entries continue after the ids of the earlier run: nothing is overwritten.
  server_.answer_by_default(Answer::kServerError);
  fw->write(alert_event("ssh-keys", marker(99)));
  EXPECT_EQ(dir_names(o.spool_dir), std::vector<std::string>{"00000000000000000021.pb"});
}

// A process killed with SIGKILL while it spools: every alert whose write() had returned is
// delivered by the next process on the same spool, each exactly once.
TEST(PagerDutyKilled, AlertsSpooledBeforeKillDashNineAreDeliveredExactlyOnce) {
  TempDir tmp;
  RefusedPort refused;
  ASSERT_TRUE(refused.ok());
  setenv(kKeyEnv, kKey, 1);
  PagerDutyOptions o;
  o.url = refused.url();
  o.key_env = kKeyEnv;
  o.spool_dir = tmp / "spool";
  o.host = "test-host";
  o.backoff_initial = 20ms;
  o.backoff_max = 100ms;
  o.timeout = 1000ms;
  o.rate_per_minute = 1000000;  // the limit is not what this test is about
  constexpr int kAlerts = 500;

  int acks[2];
  ASSERT_EQ(::pipe(acks), 0);
  std::fflush(nullptr);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(acks[0]);
    ::alarm(30);  // never outlives a parent that failed to kill it
    std::string err;
    auto fw = PagerDutyForwarder::open(o, nullptr, &err);
    if (!fw) ::_exit(3);
    for (int i = 0; i < kAlerts; ++i) {
      fw->write(alert_event("ssh-keys", marker(i), 1000 + i));
      if (::write(acks[1], &i, sizeof(i)) != sizeof(i)) ::_exit(4);
    }
    for (;;) ::pause();
  }
  ::close(acks[1]);
  int acked = 0;
  int i = 0;
  while (acked < 25 && ::read(acks[0], &i, sizeof(i)) == sizeof(i)) acked = i + 1;
  ::kill(child, SIGKILL);  // in the middle of writing the next entries
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
  while (::read(acks[0], &i, sizeof(i)) == sizeof(i)) acked = i + 1;  // acks sent before the kill
  ::close(acks[0]);
  ASSERT_GE(acked, 25);

  FakePagerDuty server{kKey};
  ASSERT_TRUE(server.ok());
  o.url = server.url();
  std::string err;
  auto fw = PagerDutyForwarder::open(o, nullptr, &err);
  ASSERT_TRUE(fw) << err;
  EXPECT_EQ(count_suffix(o.spool_dir, ".tmp"), 0u);
  ASSERT_TRUE(eventually([&] { return fw->stats().spooled == 0; }, 20s));
  const auto by_marker = server.accepted_by_marker();
  for (int k = 0; k < acked; ++k) {
    ASSERT_EQ(by_marker.count(marker(k)), 1u) << marker(k) << " of " << acked << " lost";
    EXPECT_EQ(by_marker.at(marker(k)), 1) << marker(k);
  }
  // At most the one entry being written at the kill went beyond what was acknowledged.
  EXPECT_LE(by_marker.size(), static_cast<size_t>(acked) + 1);
  for (const auto& [key, n] : server.accepted_by_key()) EXPECT_EQ(n, 1) << key;
  EXPECT_TRUE(server.schema_errors().empty());
  fw.reset();
  unsetenv(kKeyEnv);
}

TEST_F(PagerDutyTest, FullSpoolDropsTheOldestAndReportsOneGap) {
  server_.answer_by_default(Answer::kServerError);
  PagerDutyOptions o = options();
  o.spool_max = 5;
  o.backoff_initial = 10000ms;  // after the first failure nothing is in flight for a while
  o.backoff_max = 10000ms;
  {
    auto fw = open(o);
    ASSERT_TRUE(fw);
    fw->write(alert_event("ssh-keys", marker(0)));
    ASSERT_TRUE(eventually([&] { return fw->stats().failed_attempts == 1; }));
    for (int i = 1; i < 8; ++i) fw->write(alert_event("ssh-keys", marker(i)));
    const auto stats = fw->stats();
    EXPECT_EQ(stats.dropped, 3u);
    EXPECT_EQ(stats.spooled, 5u);
    EXPECT_TRUE(reports_.of_kind(v1::Event::GAP).empty());  // reported after the burst
    fw->flush();
    fw->flush();
    const auto gaps = reports_.of_kind(v1::Event::GAP);
    ASSERT_EQ(gaps.size(), 1u);
    EXPECT_EQ(gaps[0].gap().where(), "pagerduty_spool");
    EXPECT_EQ(gaps[0].gap().lost(), 3u);
    EXPECT_EQ(gaps[0].gap().lost_total(), 3u);
  }
  server_.answer_by_default(Answer::kAccept);
  auto fw = open(o);
  ASSERT_TRUE(fw);
  ASSERT_TRUE(eventually([&] { return fw->stats().sent == 5; }));
  const auto by_marker = server_.accepted_by_marker();
  std::set<std::string> delivered;
  for (const auto& [m, n] : by_marker) delivered.insert(m);
  EXPECT_EQ(delivered, (std::set<std::string>{marker(3), marker(4), marker(5), marker(6), marker(7)}));
}

TEST_F(PagerDutyTest, UnreadableEntriesAreSetAsideAndStaleTmpFilesRemoved) {
  PagerDutyOptions o = options();
  TempDir& t = tmp_;
  v1::SpoolEntry good;
  good.set_id(5);
  *good.mutable_event() = build_trigger(alert_event("ssh-keys", marker(5)), "test-host");
  std::string bytes;
  ASSERT_TRUE(good.SerializeToString(&bytes));
  t.write("spool/00000000000000000005.pb", bytes);
  t.write("spool/00000000000000000007.pb", "\xff\xff\xff not a spool entry");
  t.write("spool/00000000000000000008.pb.tmp", bytes.substr(0, 10));
  server_.answer_by_default(Answer::kServerError);
  o.backoff_initial = 10000ms;
  o.backoff_max = 10000ms;
  auto fw = open(o);
  ASSERT_TRUE(fw);
  ASSERT_TRUE(eventually([&] { return fw->stats().failed_attempts == 1; }));  // its rewrite is done
  EXPECT_EQ(dir_names(o.spool_dir),
            (std::vector<std::string>{"00000000000000000005.pb", "00000000000000000007.pb.bad"}));
  EXPECT_EQ(fw->stats().unreadable, 1u);
  const auto notes = reports_.of_kind(v1::Event::AGENT);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0].agent().what(), "pagerduty_spool_unreadable");
  EXPECT_NE(notes[0].agent().detail().find("00000000000000000007.pb.bad"), std::string::npos);
  fw->write(alert_event("ssh-keys", marker(9)));
  EXPECT_EQ(count_suffix(o.spool_dir, "00000000000000000008.pb"), 1u);  // after the highest id seen
  fw.reset();

  server_.answer_by_default(Answer::kAccept);
  fw = open(o);
  ASSERT_TRUE(fw);
  ASSERT_TRUE(eventually([&] { return fw->stats().sent == 2; }));
  std::vector<std::string> order;
  for (const auto& r : server_.received()) {
    if (r.answer == Answer::kAccept) order.push_back(r.marker);
  }
  EXPECT_EQ(order, (std::vector<std::string>{marker(5), marker(9)}));
}

TEST_F(PagerDutyTest, StoppingAbandonsARequestInFlightAndKeepsItSpooled) {
  server_.answer_by_default(Answer::kHang);
  PagerDutyOptions o = options();
  o.timeout = 10000ms;
  auto fw = open(o);
  ASSERT_TRUE(fw);
  fw->write(alert_event("ssh-keys", marker(1)));
  ASSERT_TRUE(eventually([&] { return server_.received().size() == 1; }));
  const auto t0 = Clock::now();
  fw.reset();
  EXPECT_LT(ms_between(t0, Clock::now()), 3000);
  EXPECT_EQ(count_suffix(o.spool_dir, ".pb"), 1u);
}

// ---- resolve -------------------------------------------------------------------------------------

TEST_F(PagerDutyTest, QuietIncidentIsResolvedWithTheSameDedupKey) {
  PagerDutyOptions o = options();
  o.resolve_after = 300ms;
  auto fw = open(o);
  ASSERT_TRUE(fw);
  fw->write(alert_event("ssh-keys", marker(1)));
  std::this_thread::sleep_for(150ms);
  fw->write(alert_event("ssh-keys", marker(1)));  // a repeat postpones the resolve
  const auto last = Clock::now();
  fw->write(alert_event("other-rule", marker(2)));
  ASSERT_TRUE(eventually([&] { return fw->stats().resolves == 2 && fw->stats().spooled == 0; }));
  std::this_thread::sleep_for(400ms);  // no second resolve for the same incident

  const auto r = server_.received();
  EXPECT_TRUE(server_.schema_errors().empty());
  std::vector<Received> resolves;
  for (const auto& x : r) {
    if (x.action == "resolve") resolves.push_back(x);
  }
  ASSERT_EQ(resolves.size(), 2u);
  const std::string key1 = dedup_key(alert_event("ssh-keys", marker(1)), "test-host");
  const std::string key2 = dedup_key(alert_event("other-rule", marker(2)), "test-host");
  std::set<std::string> keys{resolves[0].dedup_key, resolves[1].dedup_key};
  EXPECT_EQ(keys, (std::set<std::string>{key1, key2}));
  for (const auto& x : resolves) EXPECT_GE(ms_between(last, x.at), 290) << x.dedup_key;
  EXPECT_EQ(r.back().action, "resolve");
  EXPECT_EQ(fw->stats().sent, 5u);
}

// ---- the routing key stays secret ----------------------------------------------------------------

TEST_F(PagerDutyTest, RoutingKeyNeverAppearsInLogsReportsOrTheSpool) {
  std::ostringstream log;
  auto previous = spdlog::default_logger();
  auto capture = std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log));
  capture->set_level(spdlog::level::trace);
  spdlog::set_default_logger(capture);
  const auto level = spdlog::get_level();

  server_.answer_next({Answer::kServerError, Answer::kReject, Answer::kTooMany, Answer::kHang});
  PagerDutyOptions o = options();
  o.timeout = 200ms;
  {
    auto fw = open(o);
    if (fw) {
      for (int i = 0; i < 4; ++i) fw->write(alert_event("ssh-keys", marker(i)));
      EXPECT_TRUE(eventually([&] { return fw->stats().spooled == 0; }));
      EXPECT_EQ(fw->stats().rejected, 1u);
      EXPECT_EQ(fw->stats().sent, 3u);
    }
  }
  // An unreachable endpoint, a full spool and a failing key load log too.
  RefusedPort refused;
  PagerDutyOptions down = o;
  down.url = refused.url();
  down.spool_max = 1;
  down.spool_dir = tmp_ / "spool-down";
  {
    auto fw = open(down);
    if (fw) {
      for (int i = 0; i < 3; ++i) fw->write(alert_event("ssh-keys", marker(i)));
      fw->flush();
      EXPECT_TRUE(eventually([&] { return fw->stats().failed_attempts >= 2; }));
    }
  }
  PagerDutyOptions bad = o;
  bad.key_env = "CLAWFENCE_PD_NO_SUCH_VARIABLE";
  std::string err;
  EXPECT_EQ(PagerDutyForwarder::open(bad, nullptr, &err), nullptr);
  const EnqueueAnswer answer = send_event(o, kKey, build_trigger(alert_event("r", "/x"), "h"));
  EXPECT_EQ(answer.http_status, 202);

  spdlog::set_default_logger(previous);
  spdlog::set_level(level);
  const std::string text = log.str();
  EXPECT_NE(text.find("PagerDuty refused"), std::string::npos) << text;
  EXPECT_NE(text.find("<routing key>"), std::string::npos) << text;  // the server's echo, masked
  EXPECT_NE(text.find("not delivered"), std::string::npos) << text;
  EXPECT_NE(text.find("dropped from the spool"), std::string::npos) << text;
  EXPECT_EQ(text.find(kKey), std::string::npos) << text;
  EXPECT_EQ(err.find(kKey), std::string::npos);
  const std::string reported = reports_.all_json();
  EXPECT_NE(reported.find("pagerduty_rejected"), std::string::npos);
  EXPECT_EQ(reported.find(kKey), std::string::npos) << reported;
  EXPECT_EQ(answer.body.find(kKey), std::string::npos);
}

// ---- clawfence alert test ------------------------------------------------------------------------

TEST_F(PagerDutyTest, AlertTestSendsOneEventAndPrintsTheAnswer) {
  PagerDutyOptions o = options();
  ::testing::internal::CaptureStdout();
  const int ok = app::alert_test(o);
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(ok, 0) << out;
  EXPECT_NE(out.find("HTTP 202"), std::string::npos) << out;
  EXPECT_NE(out.find("Event processed"), std::string::npos) << out;
  EXPECT_NE(out.find("dedup_key: clawfence/clawfence-test/test-host/"), std::string::npos) << out;
  EXPECT_EQ(out.find(kKey), std::string::npos) << out;
  auto r = server_.received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].schema_error, "");
  EXPECT_EQ(r[0].action, "trigger");
  EXPECT_EQ(r[0].summary, "clawfence test alert from test-host");
  EXPECT_EQ(r[0].severity, "info");
  EXPECT_TRUE(dir_names(o.spool_dir).empty());  // straight out, no spool

  server_.answer_next({Answer::kReject});
  ::testing::internal::CaptureStdout();
  const int refused = app::alert_test(o);
  const std::string out2 = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(refused, 1) << out2;
  EXPECT_NE(out2.find("HTTP 400"), std::string::npos) << out2;
  EXPECT_NE(out2.find("invalid event"), std::string::npos) << out2;
  EXPECT_EQ(out2.find(kKey), std::string::npos) << out2;

  PagerDutyOptions no_key = o;
  no_key.key_env = "CLAWFENCE_PD_NO_SUCH_VARIABLE";
  EXPECT_EQ(app::alert_test(no_key), 2);
  PagerDutyOptions open_file = o;
  open_file.key_file = tmp_.write("key", kKey);
  ::chmod(open_file.key_file.c_str(), 0644);
  EXPECT_EQ(app::alert_test(open_file), 2);
  PagerDutyOptions plain = o;
  plain.url = "http://events.pagerduty.com/v2/enqueue";
  EXPECT_EQ(app::alert_test(plain), 2);
  EXPECT_EQ(server_.received().size(), 2u);
}

}  // namespace
}  // namespace clawfence::output

namespace clawfence::output {
namespace {

// TLS verification is on: a server whose certificate nobody vouches for gets no event (the
// handshake fails before any HTTP), and the error says why.
TEST(PagerDutyTls, AnUntrustedCertificateIsRefused) {
  TempDir tmp;
  const std::string cert = tmp / "cert.pem", key = tmp / "key.pem";
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -addext "
                          "subjectAltName=IP:127.0.0.1 -days 1 -keyout " + key + " -out " + cert + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "the openssl command is not installed: skipped";
  httplib::SSLServer server(cert.c_str(), key.c_str());
  ASSERT_TRUE(server.is_valid());
  std::atomic<int> hits{0};
  server.Post("/v2/enqueue", [&hits](const httplib::Request&, httplib::Response& res) {
    ++hits;
    res.status = 202;
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread t([&server] { server.listen_after_bind(); });
  for (int i = 0; i < 500 && !server.is_running(); ++i) std::this_thread::sleep_for(2ms);
  PagerDutyOptions o;
  o.url = "https://127.0.0.1:" + std::to_string(port) + "/v2/enqueue";
  o.timeout = 5000ms;
  const EnqueueAnswer answer = send_event(o, kKey, build_trigger(alert_event("rule-a", marker(1)), "test-host"));
  server.stop();
  t.join();
  EXPECT_EQ(answer.http_status, 0);
  EXPECT_NE(answer.error.find("certificate"), std::string::npos) << answer.error;
  EXPECT_EQ(hits.load(), 0);
}

}  // namespace
}  // namespace clawfence::output
